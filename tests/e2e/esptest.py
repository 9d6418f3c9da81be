#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
The Python half of the wire-level end-to-end tests. Run it with
/usr/bin/python3 (it needs scapy and cryptography).

ESP is built and opened twice, independently:
  - Sa below: RFC 4303 tunnel mode + RFC 4106 AES-GCM written out with
    cryptography's AESGCM (nonce = 4-byte salt || 8-byte IV; AAD = SPI ||
    seq_lo, or with ESN SPI || seq_hi || seq_lo, RFC 4106 section 5);
  - scapy's SecurityAssociation (AES-GCM, esn_en/esn, nat_t_header), which
    builds the same 12-byte ESN AAD (scapy/layers/ipsec.py CryptAlgo.encrypt).
Both must agree byte for byte (self_test), so the gateway is checked
against two implementations, neither of them its own.

  esptest.py wire ...              check a capture of the wire   (test_wire.sh)
  esptest.py tcp-server|tcp-client a TCP transfer of known bytes  (test_wire.sh)
  esptest.py attack ...            forged ESP vs exact counters  (test_attack.sh)
  esptest.py peer ...              play gateway A with scapy     (test_interop.sh)

Every check that fails prints "FAIL: ..." and the command exits 1.
"""
import argparse
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (ARP, ESP, ICMP, IP, TCP, UDP, Ether, ICMPv6EchoReply,  # noqa: E402
                       ICMPv6EchoRequest, IPv6, Raw, AsyncSniffer, conf, rdpcap,
                       sendp)
from scapy.layers.ipsec import SecurityAssociation  # noqa: E402

conf.verb = 0

IPPROTO_ESP, IPPROTO_UDP, NATT_PORT = 50, 17, 4500


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def say(msg):
    print("   " + msg, flush=True)


def sniffer(**kw):
    """An AsyncSniffer (scapy's keyword arguments), returned once its socket
    is open: a fixed sleep after start() loses the first packets on a busy
    machine, when the capture thread starts late."""
    ready = threading.Event()
    sn = AsyncSniffer(started_callback=ready.set, **kw)
    sn.start()
    if not ready.wait(10):
        fail("the sniffer on %s did not start within 10 s" % kw.get("iface"))
    return sn


def hexkey(s):
    s = s[2:] if s.lower().startswith("0x") else s
    return bytes.fromhex(s)


class Sa:
    """One direction of ESP tunnel mode with AES-GCM-16 (RFC 4106) or
    ChaCha20-Poly1305 (RFC 7634: the same IV, nonce, AAD and ICV layout)."""

    def __init__(self, spi, key_hex, esn=True, cipher="aes-gcm"):
        k = hexkey(key_hex)
        if len(k) not in ((36,) if cipher == "chacha20-poly1305" else (20, 36)):
            raise ValueError("key must be 16 or 32 bytes + 4 bytes salt")
        self.spi, self.key, self.salt, self.esn = spi, k[:-4], k[-4:], esn
        self.cipher = cipher
        if cipher == "chacha20-poly1305":
            self.aead = ChaCha20Poly1305(self.key)
            self.scapy_algo = "CHACHA20-POLY1305"
        else:
            self.aead = AESGCM(self.key)
            self.scapy_algo = "AES-GCM"
        self.key_hex = key_hex

    def aad(self, seq, esn=None):
        esn = self.esn if esn is None else esn
        if esn:
            return struct.pack("!III", self.spi, seq >> 32, seq & 0xffffffff)
        return struct.pack("!II", self.spi, seq & 0xffffffff)

    def seal(self, seq, inner, nh=None, iv=None, pad=None, esn=None, spi=None):
        """ESP header..ICV for the inner packet (bytes). pad: the padding
        bytes (default RFC 4303 1, 2, 3.. to a 4-byte boundary)."""
        if nh is None:
            nh = 4 if inner[0] >> 4 == 4 else 41
        if iv is None:
            iv = struct.pack("!Q", seq)
        if pad is None:
            pad = bytes(range(1, (-(len(inner) + 2)) % 4 + 1))
        pt = inner + pad + bytes([len(pad), nh])
        spi = self.spi if spi is None else spi
        aad = self.aad(seq, esn)
        if spi != self.spi:
            aad = struct.pack("!I", spi) + aad[4:]
        ct = self.aead.encrypt(self.salt + iv, pt, aad)
        return struct.pack("!II", spi, seq & 0xffffffff) + iv + ct

    def open(self, esp, seq_hi=0, esn=None):
        """-> (seq, iv, plaintext with trailer); raises InvalidTag."""
        spi, lo = struct.unpack("!II", esp[:8])
        if spi != self.spi:
            raise ValueError("SPI 0x%x, expected 0x%x" % (spi, self.spi))
        seq = seq_hi << 32 | lo
        iv = esp[8:16]
        pt = self.aead.decrypt(self.salt + iv, esp[16:], self.aad(seq, esn))
        return seq, iv, pt

    def scapy(self, src, dst, natt=False):
        return SecurityAssociation(
            ESP, spi=self.spi, crypt_algo=self.scapy_algo,
            crypt_key=self.key + self.salt, auth_algo="NULL",
            tunnel_header=IP(src=src, dst=dst), esn_en=self.esn, esn=0,
            nat_t_header=UDP(sport=NATT_PORT, dport=NATT_PORT) if natt else None)


def trailer(pt):
    """Plaintext with trailer -> (inner, nh) after checking RFC 4303 2.4."""
    if len(pt) < 2:
        raise ValueError("plaintext shorter than its trailer")
    padlen, nh = pt[-2], pt[-1]
    if padlen + 2 > len(pt):
        raise ValueError("pad length %d > plaintext" % padlen)
    inner = pt[:len(pt) - 2 - padlen]
    if pt[len(inner):-2] != bytes(range(1, padlen + 1)):
        raise ValueError("padding is not 1, 2, 3..: %s" % pt[len(inner):-2].hex())
    if len(pt) % 4:
        raise ValueError("plaintext + trailer not a multiple of 4 (%d)" % len(pt))
    if padlen > 3:
        raise ValueError("more padding than needed: %d" % padlen)
    return inner, nh


def inner_pkt(inner, nh):
    if nh == 4:
        p = IP(inner)
        if p.version != 4 or p.len != len(inner):
            raise ValueError("inner IPv4 length %d != %d" % (p.len, len(inner)))
        return p
    if nh == 41:
        p = IPv6(inner)
        if p.version != 6 or p.plen + 40 != len(inner):
            raise ValueError("inner IPv6 length %d != %d" % (p.plen + 40, len(inner)))
        return p
    raise ValueError("next header %d" % nh)


def outer_esp(frame):
    """Ether frame bytes -> (ip src, ip dst, encap, esp bytes) or None."""
    e = Ether(frame)
    if IP not in e:
        return None
    ip = e[IP]
    raw_ip = bytes(ip)[:ip.len]
    payload = raw_ip[ip.ihl * 4:]
    if ip.proto == IPPROTO_ESP:
        return ip.src, ip.dst, "esp", payload
    if ip.proto == IPPROTO_UDP and len(payload) >= 8:
        sport, dport, ulen, csum = struct.unpack("!HHHH", payload[:8])
        if NATT_PORT in (sport, dport):
            return ip.src, ip.dst, ("udp", sport, dport, ulen, csum), payload[8:]
    return None


def tcp_data(n, seed=b"espresso-e2e-tcp"):
    return hashlib.shake_256(seed).digest(n)


def self_test(sa, src, dst):
    """Our Sa and scapy's SecurityAssociation must produce the same bytes."""
    for inner in (IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=7, seq=1) / Raw(b"x" * 13),
                  IPv6(src="fd00:1::1", dst="fd00:2::1") / ICMPv6EchoRequest(id=7, seq=1, data=b"y" * 10)):
        inner = inner.__class__(bytes(inner))
        for seq in (1, 77):
            ours = sa.seal(seq, bytes(inner))
            theirs = bytes(sa.scapy(src, dst).encrypt(inner, seq_num=seq,
                                                     iv=struct.pack("!Q", seq))[ESP])
            if ours != theirs:
                fail("self test: our ESP and scapy's differ:\n %s\n %s" % (ours.hex(), theirs.hex()))
            back = sa.scapy(src, dst).decrypt(IP(bytes(IP(src=src, dst=dst, proto=50) / Raw(ours))))
            if bytes(back) != bytes(inner):
                fail("self test: scapy does not decrypt our ESP")


# ---- wire ---------------------------------------------------------------

def cmd_wire(a):
    sa_ab = Sa(a.spi_ab, a.key_ab)
    sa_ba = Sa(a.spi_ba, a.key_ba)
    self_test(sa_ab, a.a, a.b)
    by_dir = {(a.a, a.b): sa_ab, (a.b, a.a): sa_ba}
    pattern = bytes.fromhex(a.pattern)
    data = tcp_data(a.tcp_bytes)
    secrets = [pattern * 2] + [data[i:i + 24] for i in range(0, len(data) - 24, max(1, len(data) // 64))]
    frames = rdpcap(a.pcap)
    last_seq = {sa_ab.spi: 0, sa_ba.spi: 0}
    nesp = {sa_ab.spi: 0, sa_ba.spi: 0}
    echo4, echo6 = {}, {}  # (type, id, seq) -> payload
    tcp = {}  # A->B: tcp seq -> payload
    tcp_flows, tcp_pkts = set(), [0, 0]
    bad = []
    for n, f in enumerate(frames, 1):
        raw = bytes(f)
        for s in secrets:
            if s in raw:
                bad.append("frame %d carries clear text of the test traffic" % n)
        e = Ether(raw)
        if ARP in e:
            continue
        if IPv6 in e and IP not in e:
            src, dst = e[IPv6].src, e[IPv6].dst
            if not (src.startswith("fe80:") or src == "::") or not (dst.startswith("fe80:") or dst.startswith("ff02:")):
                bad.append("frame %d: IPv6 %s -> %s on the wire (only link-local is expected)" % (n, src, dst))
            continue
        if IP not in e:
            bad.append("frame %d: neither ARP nor IP: %s" % (n, e.summary()))
            continue
        ip = e[IP]
        if {ip.src, ip.dst} != {a.a, a.b}:
            bad.append("frame %d: IPv4 %s -> %s is not between the gateways" % (n, ip.src, ip.dst))
            continue
        if ip.proto != IPPROTO_ESP:
            bad.append("frame %d: IPv4 %s -> %s protocol %d, not ESP" % (n, ip.src, ip.dst, ip.proto))
            continue
        if ip.flags.MF or ip.frag:
            bad.append("frame %d: fragmented ESP" % n)
            continue
        sa = by_dir[(ip.src, ip.dst)]
        esp = bytes(ip)[ip.ihl * 4:ip.len]
        spi, seq = struct.unpack("!II", esp[:8])
        if spi != sa.spi:
            bad.append("frame %d: %s -> %s SPI 0x%x, expected 0x%x" % (n, ip.src, ip.dst, spi, sa.spi))
            continue
        nesp[spi] += 1
        if seq <= last_seq[spi]:
            bad.append("frame %d: SPI 0x%x seq %d after %d (not increasing)" % (n, spi, seq, last_seq[spi]))
        last_seq[spi] = max(last_seq[spi], seq)
        try:
            full, iv, pt = sa.open(esp)
        except InvalidTag:
            bad.append("frame %d: SPI 0x%x seq %d does not decrypt (ICV)" % (n, spi, seq))
            continue
        if iv != struct.pack("!Q", full):
            bad.append("frame %d: IV %s is not the 64-bit sequence number %d" % (n, iv.hex(), full))
        try:
            sa.open(esp, esn=False)
            bad.append("frame %d: also verifies with the 8-byte (non-ESN) AAD" % n)
        except InvalidTag:
            pass
        try:
            inner_b, nh = trailer(pt)
            inner = inner_pkt(inner_b, nh)
        except ValueError as err:
            bad.append("frame %d: %s" % (n, err))
            continue
        # scapy must get the same inner packet out of it
        got = sa.scapy(ip.src, ip.dst).decrypt(IP(bytes(ip)[:ip.len]))
        if bytes(got) != inner_b:
            bad.append("frame %d: scapy decrypts to something else" % n)
        fwd = sa is sa_ab
        isrc, idst = (a.in_a4, a.in_b4) if fwd else (a.in_b4, a.in_a4)
        isrc6, idst6 = (a.in_a6, a.in_b6) if fwd else (a.in_b6, a.in_a6)
        if nh == 4 and ICMP in inner and inner[ICMP].type in (0, 8):
            ic = inner[ICMP]
            if (inner.src, inner.dst) != (isrc, idst) or (ic.type == 8) != fwd:
                bad.append("frame %d: ICMP type %d %s -> %s in SPI 0x%x" % (n, ic.type, inner.src, inner.dst, spi))
            echo4[(ic.type, ic.id, ic.seq)] = bytes(ic.payload)
        elif nh == 41 and (ICMPv6EchoRequest in inner or ICMPv6EchoReply in inner):
            ic = inner[ICMPv6EchoRequest] if ICMPv6EchoRequest in inner else inner[ICMPv6EchoReply]
            req = ICMPv6EchoRequest in inner
            if (inner.src, inner.dst) != (isrc6, idst6) or req != fwd:
                bad.append("frame %d: ICMPv6 echo %s -> %s in SPI 0x%x" % (n, inner.src, inner.dst, spi))
            echo6[(128 if req else 129, ic.id, ic.seq)] = bytes(ic.data)
        elif nh == 4 and TCP in inner:
            t = inner[TCP]
            port = t.dport if fwd else t.sport
            if (inner.src, inner.dst) != (isrc, idst) or port != a.tcp_port:
                bad.append("frame %d: TCP %s:%d -> %s:%d" % (n, inner.src, t.sport, inner.dst, t.dport))
                continue
            tcp_pkts[0 if fwd else 1] += 1
            if fwd:
                tcp_flows.add(t.sport)
                if len(t.payload):
                    tcp[(t.sport, t.seq)] = bytes(t.payload)
        else:
            bad.append("frame %d: unexpected inner packet %s" % (n, inner.summary()))
    for b in bad[:20]:
        print("FAIL: " + b, file=sys.stderr)
    if bad:
        fail("%d problems in %d frames" % (len(bad), len(frames)))
    say("%d frames: ESP SPI 0x%x x%d (last seq %d), SPI 0x%x x%d (last seq %d), all decrypt"
        % (len(frames), sa_ab.spi, nesp[sa_ab.spi], last_seq[sa_ab.spi],
           sa_ba.spi, nesp[sa_ba.spi], last_seq[sa_ba.spi]))
    if a.count_ab is not None and nesp[sa_ab.spi] != a.count_ab:
        fail("%d ESP frames with SPI 0x%x on the wire, gw-a counted %d sent" % (nesp[sa_ab.spi], sa_ab.spi, a.count_ab))
    if a.count_ba is not None and nesp[sa_ba.spi] != a.count_ba:
        fail("%d ESP frames with SPI 0x%x on the wire, gw-b counted %d sent" % (nesp[sa_ba.spi], sa_ba.spi, a.count_ba))
    for fam, echo, n, rq, rp in (("IPv4", echo4, a.pings, 8, 0), ("IPv6", echo6, a.pings6, 128, 129)):
        reqs = {k[1:]: v for k, v in echo.items() if k[0] == rq}
        reps = {k[1:]: v for k, v in echo.items() if k[0] == rp}
        if len(reqs) != n or len(reps) != n:
            fail("%s: %d echo requests and %d replies in the tunnel, expected %d each" % (fam, len(reqs), len(reps), n))
        for k, v in reqs.items():
            if reps.get(k) != v:
                fail("%s: echo id %d seq %d: no reply with the same payload" % (fam, k[0], k[1]))
            if pattern * 2 not in v:
                fail("%s: echo id %d seq %d: payload without the ping pattern" % (fam, k[0], k[1]))
        say("%s: %d echo requests and their replies, payload %d bytes with pattern %s"
            % (fam, n, len(next(iter(reqs.values()))), a.pattern))
    # the TCP stream A -> B, reassembled from the decrypted segments
    if len(tcp_flows) != 1:
        fail("TCP: %d connections, expected 1" % len(tcp_flows))
    isn = min(s for _, s in tcp)
    stream = bytearray()
    for (_, s), p in sorted(tcp.items(), key=lambda kv: (kv[0][1] - isn) & 0xffffffff):
        off = (s - isn) & 0xffffffff
        if off > len(stream):
            fail("TCP: hole in the stream at %d" % len(stream))
        stream[off:off + len(p)] = p
    if bytes(stream) != data:
        fail("TCP: reassembled %d bytes differ from the %d sent" % (len(stream), len(data)))
    say("TCP: %d segments A->B, %d B->A, the %d bytes sent reassemble exactly"
        % (tcp_pkts[0], tcp_pkts[1], len(data)))


def cmd_tcp_server(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(1)
    s.settimeout(20)
    print("listening", flush=True)
    c, _ = s.accept()
    c.settimeout(20)
    got = bytearray()
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    ok = bytes(got) == tcp_data(a.bytes)
    c.sendall(b"OK" if ok else b"BAD")
    c.close()
    if not ok:
        fail("tcp-server: received %d bytes that differ from the %d expected" % (len(got), a.bytes))
    print("received %d bytes OK" % len(got))


def cmd_tcp_client(a):
    c = socket.create_connection((a.addr, a.port), timeout=20)
    c.sendall(tcp_data(a.bytes))
    c.shutdown(socket.SHUT_WR)
    r = c.recv(16)
    if r != b"OK":
        fail("tcp-client: server says %r" % r)
    print("sent %d bytes OK" % a.bytes)


# ---- counters -------------------------------------------------------------

def ctl_counters(ctl, inst):
    """`show sa` and `show stats` as one flat dict: in.packets, out.seq,
    in.err.rx_auth, q.rx_frames, q.drop.rx_short, xdp.drop_unknown_spi..."""
    out = {}

    def put(prefix, toks):
        for i in range(len(toks) - 1):
            if toks[i + 1].isdigit() and not toks[i].isdigit():
                k = prefix + toks[i]
                out[k] = out.get(k, 0) + int(toks[i + 1])

    for cmd in ("show sa", "show stats"):
        r = subprocess.run([ctl, "-i", inst] + cmd.split(), capture_output=True, text=True, timeout=10)
        if r.returncode:
            fail("espressoctl -i %s %s: %s" % (inst, cmd, r.stderr.strip()))
        sa_dir = None
        for line in r.stdout.splitlines():
            t = line.split()
            if not t:
                continue
            if t[0] == "sa":
                sa_dir = t[2]
                put(sa_dir + ".", t)
            elif t[0] == "errors:":
                put(sa_dir + ".err.", t[1:])
            elif t[0] == "queue":
                put("q.", t[2:])
            elif t[0] == "drops:":
                put("q.drop.", t[1:])
            elif t[0] == "kernel:":
                put("q.kernel.", t[1:])
            elif t[0] == "xdp":
                put("xdp.", t[1:])
    return out


def checked(k):
    """Counters a test asserts exactly; the rest move with background noise
    (IPv6 link-local traffic, MLD into the tun, poll counts, bytes)."""
    if k.startswith(("in.err.", "out.err.", "xdp.redirect_", "xdp.drop_")):
        return True
    if k.startswith("q.drop."):
        return k != "q.drop.tx_no_route"
    return k in ("in.packets", "out.packets", "in.replay_top", "out.seq",
                 "q.rx_frames", "q.rx_decrypted", "q.tx_frames",
                 "xdp.pass_ike", "xdp.pass_fragment", "xdp.pass_natt_keepalive")


class Counters:
    def __init__(self, ctl, gws):
        self.ctl, self.gws = ctl, gws  # {"b": instance}

    def snap(self):
        return {gw + ":" + k: v for gw, inst in self.gws.items()
                for k, v in ctl_counters(self.ctl, inst).items()}

    @staticmethod
    def delta(before, after):
        return {k: after.get(k, 0) - before.get(k, 0)
                for k in set(before) | set(after)
                if checked(k.split(":", 1)[1]) and after.get(k, 0) != before.get(k, 0)}

    def expect(self, what, before, want, settle=0.3, timeout=3.0):
        """Wait for the deltas in want, then check nothing else moved."""
        want = {k: v for k, v in want.items() if v}
        t0 = time.time()
        while True:
            d = self.delta(before, self.snap())
            if all(d.get(k, 0) == v for k, v in want.items()) or time.time() - t0 > timeout:
                break
            time.sleep(0.05)
        time.sleep(settle)
        after = self.snap()
        d = self.delta(before, after)
        if d != want:
            diff = ["%s %+d (want %+d)" % (k, d.get(k, 0), want.get(k, 0))
                    for k in sorted(set(d) | set(want)) if d.get(k, 0) != want.get(k, 0)]
            fail("%s: counters: %s; all deltas: %s" % (what, ", ".join(diff), d))
        say("%-46s %s" % (what, " ".join("%s %+d" % kv for kv in sorted(want.items()))))
        return after


# ---- attack ---------------------------------------------------------------

def cmd_attack(a):
    sa = Sa(a.spi_ab, a.key_ab)
    self_test(sa, a.a, a.b)
    ctr = Counters(a.ctl, {"a": a.inst_a, "b": a.inst_b})
    eth = Ether(src=a.src_mac, dst=a.dst_mac)

    def frame(esp, src=None, proto=IPPROTO_ESP, udp=False):
        ip = IP(src=src or a.a, dst=a.b, proto=proto if not udp else IPPROTO_UDP, id=0x4545)
        if udp:
            return eth / ip / UDP(sport=NATT_PORT, dport=NATT_PORT, chksum=0) / Raw(esp)
        return eth / ip / Raw(esp)

    def echo(src="10.1.0.1", dst="10.2.0.1", ident=0x4242, seq=1):
        return bytes(IP(src=src, dst=dst, id=ident + seq) /
                     ICMP(type=8, id=ident, seq=seq) / Raw(b"espresso-attack-%08d" % seq))

    def send(pkt):
        sendp(pkt, iface=a.iface)

    s = ctr.snap()
    top = s["b:in.replay_top"]
    if s["a:out.seq"] != top:
        fail("gw-a sent up to seq %d but gw-b's window top is %d" % (s["a:out.seq"], top))
    say("gw-b's replay window top after priming: %d" % top)
    ok_b = {"b:xdp.redirect_esp": 1, "b:q.rx_frames": 1}
    # what a valid echo request costs: B decrypts, its kernel answers,
    # B encrypts the reply, A decrypts it (and its kernel ignores it)
    answered = dict(ok_b, **{"b:in.packets": 1, "b:q.rx_decrypted": 1,
                             "b:out.packets": 1, "b:out.seq": 1, "b:q.tx_frames": 1,
                             "a:xdp.redirect_esp": 1, "a:q.rx_frames": 1,
                             "a:q.rx_decrypted": 1, "a:in.packets": 1,
                             "a:in.replay_top": 1})

    def case(what, pkt, want):
        before = ctr.snap()
        send(pkt)
        return ctr.expect(what, before, want)

    def dropped(reason, n=1, top_moves=0):
        d = dict(ok_b, **{"b:q.drop." + reason: n, "b:in.err." + reason: n})
        d["b:in.replay_top"] = top_moves
        return d

    s1 = top + 1
    valid = frame(sa.seal(s1, echo(seq=1)))
    case("valid, seq %d: accepted and answered" % s1, valid, dict(answered, **{"b:in.replay_top": 1}))
    case("the same packet again", valid, dropped("rx_replay"))

    s2 = top + 2
    esp = bytearray(sa.seal(s2, echo(seq=2)))
    esp[16 + 10] ^= 0x01
    case("seq %d with one ciphertext bit flipped" % s2, frame(bytes(esp)), dropped("rx_auth"))
    esp = bytearray(sa.seal(s2, echo(seq=2)))
    esp[-1] ^= 0x80
    case("seq %d with one ICV bit flipped" % s2, frame(bytes(esp)), dropped("rx_auth"))
    esp = bytearray(sa.seal(s2, echo(seq=2)))
    esp[4:8] = struct.pack("!I", s2 + 7)  # the sequence number is in the AAD
    case("seq %d rewritten to %d (AAD)" % (s2, s2 + 7), frame(bytes(esp)), dropped("rx_auth"))
    far = top + 100000
    case("forged seq %d (bad ICV) must not move the window" % far,
         frame(sa.seal(far, echo(seq=3))[:-16] + bytes(16)), dropped("rx_auth"))
    case("non-ESN AAD (8 bytes), seq %d" % s2, frame(sa.seal(s2, echo(seq=2), esn=False)), dropped("rx_auth"))
    case("wrong key, seq %d" % s2,
         frame(Sa(a.spi_ab, a.key_ba).seal(s2, echo(seq=2))), dropped("rx_auth"))
    case("valid seq %d after the forgeries" % s2, frame(sa.seal(s2, echo(seq=2))),
         dict(answered, **{"b:in.replay_top": 1}))

    hi = top + 3000
    case("valid seq %d: the window moves right" % hi, frame(sa.seal(hi, echo(seq=4))),
         dict(answered, **{"b:in.replay_top": hi - s2}))
    case("valid seq %d, far left of the window" % (top + 3), frame(sa.seal(top + 3, echo(seq=5))),
         dropped("rx_window"))
    case("valid seq %d, just left of the window" % (hi - 1024), frame(sa.seal(hi - 1024, echo(seq=6))),
         dropped("rx_window"))
    case("valid seq %d, the window's left edge" % (hi - 1023), frame(sa.seal(hi - 1023, echo(seq=7))),
         dict(answered))
    case("valid seq %d again" % (hi - 1023), frame(sa.seal(hi - 1023, echo(seq=7))), dropped("rx_replay"))
    case("seq 0", frame(sa.seal(0, echo(seq=8))), dropped("rx_window"))

    case("unknown SPI 0x%x" % a.unknown_spi,
         frame(Sa(a.unknown_spi, a.key_ab).seal(hi + 1, echo(seq=9))),
         {"b:xdp.drop_unknown_spi": 1})

    # truncated: the XDP program wants SPI + sequence number (8 bytes) in the
    # frame, espressod ESP_MIN_LEN = 8 + 8 (IV) + 2 + 16 (ICV) = 34 bytes
    case("ESP of 4 bytes (SPI only)", frame(struct.pack("!I", a.spi_ab)), {"b:xdp.drop_malformed": 1})
    case("ESP of 7 bytes", frame(struct.pack("!I", a.spi_ab) + b"\0\0\1"), {"b:xdp.drop_malformed": 1})
    short = sa.seal(hi + 1, echo(seq=10))
    for n in (8, 33):
        case("ESP of %d bytes (< 34)" % n, frame(short[:n]), dropped("rx_short"))
    # Ethernet padding behind a 4-byte ESP packet (what a NIC does with a
    # 38-byte frame): the XDP program bounds the ESP header by the frame, not
    # by the IPv4 total length, so it may redirect it; espressod then
    # measures by the total length. Counted exactly once, either way.
    before = ctr.snap()
    send(frame(struct.pack("!I", a.spi_ab)) / Raw(bytes(22)))
    time.sleep(0.5)
    d = Counters.delta(before, ctr.snap())
    if d == {"b:xdp.drop_malformed": 1}:
        say("%-46s xdp.drop_malformed +1" % "ESP of 4 bytes + 22 bytes Ethernet padding")
    else:
        ctr.expect("ESP of 4 bytes + 22 bytes Ethernet padding", before, dropped("rx_short"), settle=0)
    case("IPv4 total length beyond the frame",
         Ether(src=a.src_mac, dst=a.dst_mac, type=0x0800) /
         Raw(bytes(IP(src=a.a, dst=a.b, proto=IPPROTO_ESP, len=200) / Raw(short))[:len(short) + 20]),
         {"b:xdp.drop_malformed": 1})

    n = hi
    n += 1
    case("inner source 10.9.0.1 (outside 10.1.0.0/16), seq %d" % n,
         frame(sa.seal(n, echo(src="10.9.0.1"))), dropped("rx_inner_src", top_moves=1))
    n += 1
    case("inner IPv6 source fd00:9::1, seq %d" % n,
         frame(sa.seal(n, bytes(IPv6(src="fd00:9::1", dst="fd00:2::1") / ICMPv6EchoRequest()))),
         dropped("rx_inner_src", top_moves=1))
    n += 1
    case("inner destination 10.1.0.9 (back into A's routes)",
         frame(sa.seal(n, echo(dst="10.1.0.9"))), dropped("rx_inner_dst", top_moves=1))
    n += 1
    case("padding 0 0 instead of 1 2", frame(sa.seal(n, echo()[:-2], pad=b"\0\0")),
         dropped("rx_padding", top_moves=1))
    n += 1
    case("next header 17 (UDP)", frame(sa.seal(n, echo(), nh=17)), dropped("rx_next_hdr", top_moves=1))
    n += 1
    case("next header 59 (dummy packet)", frame(sa.seal(n, echo(), nh=59)), dropped("rx_dummy", top_moves=1))
    n += 1
    case("inner IPv4 with next header 41", frame(sa.seal(n, echo(), nh=41)), dropped("rx_inner_len", top_moves=1))
    n += 1
    bad_len = bytearray(echo())
    bad_len[3] += 4  # total length 4 more than the packet
    bad_len[10:12] = b"\0\0"
    case("inner IPv4 total length too long", frame(sa.seal(n, bytes(bad_len))),
         dropped("rx_inner_len", top_moves=1))
    n += 1
    case("outer source 192.0.2.9", frame(sa.seal(n, echo()), src="192.0.2.9"), dropped("rx_outer_addr"))
    case("ESP in UDP 4500 for a raw-ESP SA", frame(sa.seal(n, echo()), udp=True),
         {"b:xdp.redirect_natt": 1, "b:q.rx_frames": 1, "b:q.drop.rx_encap": 1, "b:in.err.rx_encap": 1})
    case("valid seq %d after all that" % n, frame(sa.seal(n, echo(seq=11))),
         dict(answered, **{"b:in.replay_top": 1}))


# ---- peer -----------------------------------------------------------------

def cmd_peer(a):
    natt = a.encap == "udp"
    cipher = "chacha20-poly1305" if a.cipher == "chacha20-poly1305" else "aes-gcm"
    sa_out = Sa(a.spi_ab, a.key_ab, cipher=cipher)
    sa_in = Sa(a.spi_ba, a.key_ba, cipher=cipher)
    self_test(sa_out, a.a, a.b)
    tx = sa_out.scapy(a.a, a.b, natt=natt)
    rx = sa_in.scapy(a.b, a.a, natt=natt)
    ctr = Counters(a.ctl, {"b": a.inst_b})
    eth = Ether(src=a.src_mac, dst=a.dst_mac)
    ok_b = {"b:xdp.redirect_natt" if natt else "b:xdp.redirect_esp": 1, "b:q.rx_frames": 1}
    cases = [
        ("IPv4", IP(src="10.1.0.1", dst="10.2.0.1", id=1) / ICMP(type=8, id=0x5151, seq=1) / Raw(b"interop-v4-" + os.urandom(20).hex().encode())),
        ("IPv6", IPv6(src="fd00:1::1", dst="fd00:2::1") / ICMPv6EchoRequest(id=0x6161, seq=2, data=b"interop-v6-" + os.urandom(24).hex().encode())),
    ]
    b_seq = 0
    for n, (fam, inner) in enumerate(cases, 1):
        inner = inner.__class__(bytes(inner))
        pkt = natt_fix(tx.encrypt(inner, seq_num=n, iv=os.urandom(8)))
        sn = sniffer(iface=a.iface, filter="ip src %s and (ip proto 50 or udp port 4500)" % a.b,
                     count=1, timeout=5)
        before = ctr.snap()
        sendp(eth / pkt, iface=a.iface)
        sn.join()
        got = sn.results or []
        if not got:
            fail("%s: no ESP from %s within 5 s (B: %s)" % (fam, a.b, Counters.delta(before, ctr.snap())))
        ctr.expect("%s echo request, scapy seq %d, accepted by B" % (fam, n), before,
                   dict(ok_b, **{"b:in.packets": 1, "b:q.rx_decrypted": 1, "b:in.replay_top": 1,
                                 "b:out.packets": 1, "b:out.seq": 1, "b:q.tx_frames": 1}))
        o = outer_esp(bytes(got[0]))
        if o is None:
            fail("%s: not ESP: %s" % (fam, got[0].summary()))
        src, dst, encap, esp = o
        if (src, dst) != (a.b, a.a):
            fail("%s: reply %s -> %s" % (fam, src, dst))
        if natt:
            if encap != ("udp", NATT_PORT, NATT_PORT, 8 + len(esp), 0):
                fail("%s: reply UDP (sport, dport, len, csum) = %s, want (4500, 4500, %d, 0)"
                     % (fam, encap[1:], 8 + len(esp)))
        elif encap != "esp":
            fail("%s: reply encapsulation %s, want raw ESP" % (fam, encap))
        spi, seq = struct.unpack("!II", esp[:8])
        if spi != sa_in.spi or seq != b_seq + 1:
            fail("%s: reply SPI 0x%x seq %d, want 0x%x seq %d" % (fam, spi, seq, sa_in.spi, b_seq + 1))
        b_seq = seq
        # scapy decrypts (ESN AAD), and so does our own AESGCM code
        ip = got[0][IP]
        try:
            rep = rx.decrypt(IP(bytes(ip)[:ip.len]))
        except Exception as err:
            fail("%s: scapy cannot decrypt the reply: %r" % (fam, err))
        _, iv, pt = sa_in.open(esp)
        mine = inner_pkt(*trailer(pt))
        if bytes(mine) != bytes(rep):
            fail("%s: scapy and %s disagree on the reply" % (fam, sa_in.aead.__class__.__name__))
        if iv != struct.pack("!Q", seq):
            fail("%s: reply IV %s is not the sequence number" % (fam, iv.hex()))
        if fam == "IPv4":
            ok = (ICMP in rep and rep.src == "10.2.0.1" and rep.dst == "10.1.0.1" and rep[ICMP].type == 0
                  and rep[ICMP].id == inner[ICMP].id and rep[ICMP].seq == inner[ICMP].seq
                  and bytes(rep[ICMP].payload) == bytes(inner[ICMP].payload))
        else:
            ok = (ICMPv6EchoReply in rep and rep.src == "fd00:2::1" and rep.dst == "fd00:1::1"
                  and rep[ICMPv6EchoReply].id == inner[ICMPv6EchoRequest].id
                  and rep[ICMPv6EchoReply].seq == inner[ICMPv6EchoRequest].seq
                  and rep[ICMPv6EchoReply].data == inner[ICMPv6EchoRequest].data)
        if not ok:
            fail("%s: the reply is not the echo reply: %s" % (fam, rep.summary()))
        say("%s echo reply: SPI 0x%x seq %d, %s, decrypts to %s" % (fam, spi, seq, encap if not natt else "UDP 4500",
                                                                   rep.summary()))
    # the same packet without ESN (8-byte AAD) must not verify, and a replay of
    # scapy's first packet is refused
    inner = cases[0][1].__class__(bytes(cases[0][1]))
    before = ctr.snap()
    sendp(eth / natt_fix(tx_noesn(sa_out, a, natt).encrypt(inner, seq_num=3)), iface=a.iface)
    ctr.expect("scapy without ESN (8-byte AAD): rx_auth", before,
               dict(ok_b, **{"b:q.drop.rx_auth": 1, "b:in.err.rx_auth": 1}))
    before = ctr.snap()
    sendp(eth / natt_fix(tx.encrypt(inner, seq_num=1)), iface=a.iface)
    ctr.expect("scapy seq 1 again: rx_replay", before,
               dict(ok_b, **{"b:q.drop.rx_replay": 1, "b:in.err.rx_replay": 1}))


def natt_fix(pkt):
    """scapy 2.5.0's SecurityAssociation(nat_t_header=...) serializes the UDP
    header before it appends the ESP payload: the UDP length stays 8. Set it
    (the checksum stays 0, RFC 3948 2.1)."""
    if UDP in pkt:
        u = pkt[UDP]
        if (u.sport, u.dport, u.chksum) != (NATT_PORT, NATT_PORT, 0):
            fail("scapy built UDP %d -> %d checksum %d" % (u.sport, u.dport, u.chksum))
        u.len = 8 + len(bytes(u.payload))
        pkt = IP(bytes(pkt))
        if pkt[UDP].len != 8 + len(bytes(pkt[ESP])) or pkt.len != len(bytes(pkt)):
            fail("cannot fix scapy's NAT-T lengths")
    return pkt


def tx_noesn(sa, a, natt):
    # scapy's encrypt(esn_en=False) falls back to the SA's esn_en: a new SA
    return SecurityAssociation(
        ESP, spi=sa.spi, crypt_algo=sa.scapy_algo, crypt_key=sa.key + sa.salt,
        auth_algo="NULL", tunnel_header=IP(src=a.a, dst=a.b), esn_en=False,
        nat_t_header=UDP(sport=NATT_PORT, dport=NATT_PORT) if natt else None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s):
        s.add_argument("--key-ab", required=True)
        s.add_argument("--key-ba", required=True)
        s.add_argument("--spi-ab", type=lambda x: int(x, 0), default=0x1000)
        s.add_argument("--spi-ba", type=lambda x: int(x, 0), default=0x2000)
        s.add_argument("--a", default="192.0.2.1", help="gateway A's outer address")
        s.add_argument("--b", default="192.0.2.2", help="gateway B's outer address")

    w = sub.add_parser("wire")
    common(w)
    w.add_argument("pcap")
    w.add_argument("--pings", type=int, required=True)
    w.add_argument("--pings6", type=int, required=True)
    w.add_argument("--pattern", required=True)
    w.add_argument("--tcp-bytes", type=int, required=True)
    w.add_argument("--tcp-port", type=int, required=True)
    w.add_argument("--count-ab", type=int)
    w.add_argument("--count-ba", type=int)
    w.add_argument("--in-a4", default="10.1.0.1")
    w.add_argument("--in-b4", default="10.2.0.1")
    w.add_argument("--in-a6", default="fd00:1::1")
    w.add_argument("--in-b6", default="fd00:2::1")

    for name in ("tcp-server", "tcp-client"):
        t = sub.add_parser(name)
        t.add_argument("--addr", required=True)
        t.add_argument("--port", type=int, required=True)
        t.add_argument("--bytes", type=int, required=True)

    for name in ("attack", "peer"):
        s = sub.add_parser(name)
        common(s)
        s.add_argument("--iface", required=True)
        s.add_argument("--src-mac", required=True)
        s.add_argument("--dst-mac", required=True)
        s.add_argument("--ctl", required=True, help="path to espressoctl")
        s.add_argument("--inst-b", required=True)
        if name == "attack":
            s.add_argument("--inst-a", required=True)
            s.add_argument("--unknown-spi", type=lambda x: int(x, 0), default=0x1234)
        else:
            s.add_argument("--encap", choices=("esp", "udp"), default="esp")
            s.add_argument("--cipher", default="aes-gcm-256",
                           choices=("aes-gcm-128", "aes-gcm-256", "chacha20-poly1305"))

    a = p.parse_args()
    {"wire": cmd_wire, "tcp-server": cmd_tcp_server, "tcp-client": cmd_tcp_client,
     "attack": cmd_attack, "peer": cmd_peer}[a.cmd](a)


if __name__ == "__main__":
    main()
