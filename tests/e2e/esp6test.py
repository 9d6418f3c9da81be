#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
Outer IPv6 against scapy (test_v6.sh): scapy plays gateway A over an IPv6
wire, gw-b is espressod with local 2001:db8::2, remote 2001:db8::1.

  esp6test.py peer --encap esp|udp ...
  esp6test.py natt-frag4 ...   NAT-T over IPv4, in fragments (no IPv6)

For 4in6 and 6in6 echo requests scapy's SecurityAssociation (tunnel header
IPv6) encrypts; for UDP encapsulation the ESP bytes go in IPv6 / UDP 4500
with a real checksum (RFC 8200 8.1). The reply B's kernel sends back is
sniffed on eA, its outer IPv6 (+UDP, checksum verified) header checked, and
decrypted by scapy and by esptest.Sa (cryptography's AESGCM). Then:
  - ESP behind a destination options header (the XDP program skips it);
  - a 4in6 request cut into IPv6 fragments by scapy's fragment6, sent in
    order, and (raw ESP) in reverse order: B reassembles, decrypts, answers;
  - an overlapping fragment train: dropped whole, counted;
  - a replay: rx_replay.
Counters of gw-b are checked exactly (esptest.Counters).
"""
import argparse
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esptest  # noqa: E402
from esptest import Sa, Counters, fail, say, trailer, inner_pkt, NATT_PORT  # noqa: E402
from scapy.all import (ICMP, IP, UDP, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,  # noqa: E402
                       IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, Raw,
                       fragment, fragment6, sendp)
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

IPPROTO_ESP, IPPROTO_UDP = 50, 17

# reassembly counters are asserted exactly too
_checked = esptest.checked
esptest.checked = lambda k: (_checked(k) or k == "q.rx_reassembled" or
                            (k.startswith("q.reasm.") and k != "q.reasm.memory"))
_ctl_counters = esptest.ctl_counters


def ctl_counters(ctl, inst):
    out = _ctl_counters(ctl, inst)
    r = subprocess.run([ctl, "-i", inst, "show", "stats"], capture_output=True, text=True, timeout=10)
    for line in r.stdout.splitlines():
        t = line.split()
        if t and t[0] == "reasm:":
            for i in range(1, len(t) - 1):
                if t[i + 1].isdigit() and not t[i].isdigit():
                    k = "q.reasm." + t[i]
                    out[k] = out.get(k, 0) + int(t[i + 1])
    return out


esptest.ctl_counters = ctl_counters


def scapy_sa(sa, src, dst):
    return SecurityAssociation(
        ESP, spi=sa.spi, crypt_algo="AES-GCM", crypt_key=sa.key + sa.salt,
        auth_algo="NULL", tunnel_header=IPv6(src=src, dst=dst), esn_en=sa.esn, esn=0)


def outer6(frame):
    """Ether frame -> (IPv6 packet, encap, esp bytes) or None."""
    e = Ether(frame)
    if IPv6 not in e:
        return None
    ip = e[IPv6]
    raw = bytes(ip)[:40 + ip.plen]
    if ip.nh == IPPROTO_ESP:
        return IPv6(raw), "esp", raw[40:]
    if ip.nh == IPPROTO_UDP:
        u = raw[40:48]
        sport, dport, ulen, csum = struct.unpack("!HHHH", u)
        if NATT_PORT not in (sport, dport):
            return None
        return IPv6(raw), ("udp", sport, dport, ulen, csum), raw[48:]
    return None


def cmd_peer(a):
    natt = a.encap == "udp"
    sa_out, sa_in = Sa(a.spi_ab, a.key_ab), Sa(a.spi_ba, a.key_ba)
    tx = scapy_sa(sa_out, a.a, a.b)
    rx = scapy_sa(sa_in, a.b, a.a)
    ctr = Counters(a.ctl, {"b": a.inst_b})
    eth = Ether(src=a.src_mac, dst=a.dst_mac)
    redirect = "b:xdp.redirect_natt" if natt else "b:xdp.redirect_esp"
    answered = {"b:in.packets": 1, "b:q.rx_decrypted": 1, "b:in.replay_top": 1,
                "b:out.packets": 1, "b:out.seq": 1, "b:q.tx_frames": 1}
    state = {"seq": 0, "b_seq": 0}

    nh = IPPROTO_UDP if natt else IPPROTO_ESP

    def wire(esp, ext=None):
        """The outer packet for ESP bytes: IPv6 [/ ext] / [UDP 4500 /] ESP
        (scapy computes the UDP checksum over the IPv6 pseudo-header)."""
        pl = UDP(sport=NATT_PORT, dport=NATT_PORT) / Raw(esp) if natt else Raw(esp)
        if ext is None:
            return IPv6(bytes(IPv6(src=a.a, dst=a.b, nh=nh) / pl))
        ext = ext.copy()
        ext.nh = nh
        return IPv6(bytes(IPv6(src=a.a, dst=a.b) / ext / pl))

    def fragments(big, ident):
        f = fragment6(IPv6(bytes(IPv6(src=big.src, dst=big.dst) /
                                 IPv6ExtHdrFragment(id=ident, nh=nh) / big.payload)), 560)
        if len(f) != 3:
            fail("fragment6 made %d fragments" % len(f))
        return f

    def esp_of(inner):
        state["seq"] += 1
        p = tx.encrypt(inner, seq_num=state["seq"], iv=os.urandom(8))
        if p.nh != IPPROTO_ESP or p.src != a.a or p.dst != a.b:
            fail("scapy built %s" % p.summary())
        return bytes(p[ESP])

    def exchange(what, frames, inner, want):
        sn = esptest.sniffer(iface=a.iface, count=1, timeout=5,
                             filter="ip6 src %s and (ip6 proto 50 or udp port 4500)" % a.b)
        before = ctr.snap()
        for f in frames:
            sendp(eth / f, iface=a.iface)
        sn.join()
        got = sn.results or []
        if not got:
            fail("%s: no ESP from %s within 5 s (B: %s)" % (what, a.b, Counters.delta(before, ctr.snap())))
        ctr.expect(what, before, want)
        check_reply(what, bytes(got[0]), inner)

    def check_reply(what, frame, inner):
        o = outer6(frame)
        if o is None:
            fail("%s: reply not ESP over IPv6: %s" % (what, Ether(frame).summary()))
        ip, encap, esp = o
        if (ip.src, ip.dst, ip.hlim) != (a.b, a.a, 64):
            fail("%s: reply %s -> %s hop limit %d" % (what, ip.src, ip.dst, ip.hlim))
        if natt:
            if encap[:4] != ("udp", NATT_PORT, NATT_PORT, 8 + len(esp)):
                fail("%s: reply UDP %s" % (what, encap))
            u = ip[UDP]
            want_csum = u.chksum
            del u.chksum
            if IPv6(bytes(ip))[UDP].chksum != want_csum or want_csum == 0:
                fail("%s: reply UDP checksum 0x%04x is wrong" % (what, want_csum))
        elif encap != "esp":
            fail("%s: reply encapsulation %s" % (what, encap))
        spi, seq = struct.unpack("!II", esp[:8])
        if spi != sa_in.spi or seq != state["b_seq"] + 1:
            fail("%s: reply SPI 0x%x seq %d, want 0x%x seq %d" % (what, spi, seq, sa_in.spi, state["b_seq"] + 1))
        state["b_seq"] = seq
        try:
            rep = rx.decrypt(IPv6(bytes(IPv6(src=ip.src, dst=ip.dst, nh=IPPROTO_ESP) / Raw(esp))))
        except Exception as err:
            fail("%s: scapy cannot decrypt the reply: %r" % (what, err))
        _, iv, pt = sa_in.open(esp)
        mine = inner_pkt(*trailer(pt))
        if bytes(mine) != bytes(rep):
            fail("%s: scapy and AESGCM disagree on the reply" % what)
        if IP in inner:
            ok = (ICMP in rep and rep[IP].src == inner.dst and rep[IP].dst == inner.src
                  and rep[ICMP].type == 0 and rep[ICMP].id == inner[ICMP].id
                  and bytes(rep[ICMP].payload) == bytes(inner[ICMP].payload))
        else:
            ok = (ICMPv6EchoReply in rep and rep.src == inner.dst and rep.dst == inner.src
                  and rep[ICMPv6EchoReply].id == inner[ICMPv6EchoRequest].id
                  and rep[ICMPv6EchoReply].data == inner[ICMPv6EchoRequest].data)
        if not ok:
            fail("%s: the reply is not the echo reply: %s" % (what, rep.summary()))
        say("%-46s reply seq %d, %d bytes, decrypts to %s" % ("", seq, len(esp), rep.summary()))

    def v4(ident, n=20):
        p = IP(src="10.1.0.1", dst="10.2.0.1", id=ident) / ICMP(type=8, id=ident, seq=1) / \
            Raw(b"v6-outer-" + os.urandom(n).hex().encode())
        return IP(bytes(p))

    def v6(ident, n=24):
        p = IPv6(src="fd00:1::1", dst="fd00:2::1") / ICMPv6EchoRequest(
            id=ident, seq=1, data=b"v6-outer-" + os.urandom(n).hex().encode())
        return IPv6(bytes(p))

    ok = {redirect: 1, "b:q.rx_frames": 1}
    # 4in6 and 6in6
    for fam, inner in (("4in6", v4(0x4646)), ("6in6", v6(0x6666))):
        exchange("%s echo request" % fam, [wire(esp_of(inner))], inner, dict(ok, **answered))

    # ESP after a destination options header
    inner = v6(0x6d6d)
    exchange("6in6 behind destination options", [wire(esp_of(inner), ext=IPv6ExtHdrDestOpt())],
             inner, dict(ok, **answered))

    # outer fragments: a 4in6 request of about 1300 bytes in 3 fragments
    frag_ctr = "b:xdp.redirect_frag_natt" if natt else "b:xdp.redirect_frag"
    reasm = {"b:q.reasm.fragments": 3, "b:q.reasm.reassembled": 1, "b:q.rx_reassembled": 1}
    orders = [("in order", False)] + ([] if natt else [("in reverse order", True)])
    for n, (how, rev) in enumerate(orders):
        inner = v4(0x4600 + n, 600)
        frags = fragments(wire(esp_of(inner)), 0x1000 + n)
        if rev:
            frags = frags[::-1]
        exchange("4in6, 3 outer fragments %s" % how, frags, inner,
                 dict({frag_ctr: 3, "b:q.rx_frames": 3}, **answered, **reasm))

    # overlapping fragments: the train is dropped, nothing decrypted
    inner = v4(0x4700, 600)
    frags = fragments(wire(esp_of(inner)), 0x2000)
    dup = frags[0].copy()
    before = ctr.snap()
    for f in (frags[0], dup):
        sendp(eth / f, iface=a.iface)
    ctr.expect("first fragment twice: train dropped", before,
               {frag_ctr: 2, "b:q.rx_frames": 2, "b:q.reasm.fragments": 2,
                "b:q.reasm.drop_overlap": 1, "b:q.drop.rx_fragment": 1})
    # the rest of that train starts a new one, which times out: not asserted
    # here (2 s); the sequence number was never accepted

    # a replay of the first request
    state["seq"] = 0
    inner = v4(0x4646)
    before = ctr.snap()
    sendp(eth / wire(esp_of(inner)), iface=a.iface)
    ctr.expect("4in6 seq 1 again: rx_replay", before,
               dict(ok, **{"b:q.drop.rx_replay": 1, "b:in.err.rx_replay": 1}))


def cmd_natt_frag4(a):
    """IPv4 NAT-T ESP in 3 fragments: in order, reassembled and answered;
    the first fragment last: the later ones are the kernel's (the XDP
    program learns a NAT-T train from its first fragment)."""
    sa_out, sa_in = Sa(a.spi_ab, a.key_ab), Sa(a.spi_ba, a.key_ba)
    tx = sa_out.scapy(a.a, a.b)
    ctr = Counters(a.ctl, {"b": a.inst_b})
    eth = Ether(src=a.src_mac, dst=a.dst_mac)

    def frags(seq, ident):
        inner = IP(bytes(IP(src="10.1.0.1", dst="10.2.0.1", id=ident) /
                         ICMP(type=8, id=ident, seq=1) / Raw(b"natt-frag-" + os.urandom(600).hex().encode())))
        esp = bytes(tx.encrypt(inner, seq_num=seq, iv=os.urandom(8))[ESP])
        pkt = IP(bytes(IP(src=a.a, dst=a.b, id=ident) / UDP(sport=NATT_PORT, dport=NATT_PORT, chksum=0) /
                       Raw(esp)))
        f = fragment(pkt, fragsize=560)
        if len(f) != 3:
            fail("fragment made %d fragments" % len(f))
        return inner, f

    inner, f = frags(1, 0x5501)
    sn = esptest.sniffer(iface=a.iface, count=1, timeout=5,
                         filter="ip src %s and udp port 4500" % a.b)
    before = ctr.snap()
    for x in f:
        sendp(eth / x, iface=a.iface)
    sn.join()
    if not sn.results:
        fail("NAT-T fragments: no reply (B: %s)" % Counters.delta(before, ctr.snap()))
    ctr.expect("4in4 NAT-T, 3 fragments in order", before,
               {"b:xdp.redirect_frag_natt": 3, "b:q.rx_frames": 3, "b:q.reasm.fragments": 3,
                "b:q.reasm.reassembled": 1, "b:q.rx_reassembled": 1, "b:in.packets": 1,
                "b:q.rx_decrypted": 1, "b:in.replay_top": 1, "b:out.packets": 1,
                "b:out.seq": 1, "b:q.tx_frames": 1})
    e = esptest.outer_esp(bytes(sn.results[0]))
    if e is None or e[2][0] != "udp":
        fail("NAT-T fragments: the reply is not NAT-T ESP")
    _, _, pt = sa_in.open(e[3])
    rep = inner_pkt(*trailer(pt))
    if not (ICMP in rep and rep[ICMP].type == 0 and rep[ICMP].id == 0x5501 and
            bytes(rep[ICMP].payload) == bytes(inner[ICMP].payload)):
        fail("NAT-T fragments: the reply is not the echo reply: %s" % rep.summary())
    say("%-46s reply decrypts to %s" % ("", rep.summary()))
    inner, f = frags(2, 0x5502)
    before = ctr.snap()
    for x in f[::-1]:
        sendp(eth / x, iface=a.iface)
    ctr.expect("4in4 NAT-T, first fragment last", before,
               {"b:xdp.pass_fragment": 2, "b:xdp.redirect_frag_natt": 1, "b:q.rx_frames": 1,
                "b:q.reasm.fragments": 1})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("peer")
    s.add_argument("--key-ab", required=True)
    s.add_argument("--key-ba", required=True)
    s.add_argument("--spi-ab", type=lambda x: int(x, 0), default=0x1000)
    s.add_argument("--spi-ba", type=lambda x: int(x, 0), default=0x2000)
    s.add_argument("--a", default="2001:db8::1", help="gateway A's outer address")
    s.add_argument("--b", default="2001:db8::2", help="gateway B's outer address")
    s.add_argument("--iface", required=True)
    s.add_argument("--src-mac", required=True)
    s.add_argument("--dst-mac", required=True)
    s.add_argument("--ctl", required=True, help="path to espressoctl")
    s.add_argument("--inst-b", required=True)
    s.add_argument("--encap", choices=("esp", "udp"), default="esp")
    f = sub.add_parser("natt-frag4")
    for x in s._actions:
        if x.dest not in ("help", "encap", "a", "b"):
            f._add_action(x)
    f.add_argument("--a", default="192.0.2.1")
    f.add_argument("--b", default="192.0.2.2")
    a = p.parse_args()
    {"peer": cmd_peer, "natt-frag4": cmd_natt_frag4}[a.cmd](a)


if __name__ == "__main__":
    main()
