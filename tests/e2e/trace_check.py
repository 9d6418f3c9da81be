#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
The Python half of test_trace.sh. Run with /usr/bin/python3.

  trace_check.py stream SOCK LINE OUT [-- CMD...]
      send one request LINE (a trace) on the control socket SOCK, wait for
      its reply (the trace is armed then: no race with what CMD sends), run
      CMD, copy the streamed lines to OUT until espressod closes. With
      TRACE_ARMED=FILE in the environment, FILE is created once armed.
  trace_check.py inject --iface I --src-mac M --dst-mac M --key HEX --spi S
      ESP to gateway B on the wire: a valid packet with sequence number 1
      (received already: a replay), then one with a forged ICV.
  trace_check.py send OUT
      from gateway A's host, through the tunnel: ICMP echo requests (IPv4,
      IPv6) and a UDP datagram whose bytes are known; their bytes to OUT
      (one hex line each).
  trace_check.py sendto DST
      one ICMP echo request from 10.1.0.1 to DST, out of A's tun.
  trace_check.py pcap FILE SENT
      FILE, read with our own parser: every packet in SENT appears byte for
      byte as an inbound ("to us") packet, and each echo request's reply as
      an outbound one.
  trace_check.py nokey KEYHEX FILE...
      no 8-byte piece of the key, raw or in hex, in any FILE.
"""
import os
import socket
import struct
import subprocess
import sys

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def stream(argv):
    sock, line, out = argv[0], argv[1], argv[2]
    cmd = argv[4:] if len(argv) > 3 and argv[3] == "--" else []
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(line.encode() + b"\n")
    f = s.makefile("rb")
    hdr = f.readline().decode()
    if hdr != "ESPRESSO 0 0\n":
        body = f.read(int(hdr.split()[2])) if hdr.startswith("ESPRESSO") else b""
        fail("trace refused: %r %r" % (hdr, body))
    if os.environ.get("TRACE_ARMED"):
        open(os.environ["TRACE_ARMED"], "w").close()
    if cmd:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        if r.returncode:
            fail("%s exited %d" % (cmd, r.returncode))
    data = f.read()  # until espressod closes: N packets or the timeout
    with open(out, "wb") as o:
        o.write(data)


def inject(argv):
    import argparse
    from scapy.all import IP, ICMP, Ether, Raw, sendp, conf
    sys.path.insert(0, sys.path[0])
    from esptest import Sa
    conf.verb = 0
    p = argparse.ArgumentParser()
    p.add_argument("--iface")
    p.add_argument("--src-mac")
    p.add_argument("--dst-mac")
    p.add_argument("--key")
    p.add_argument("--spi", type=lambda s: int(s, 0))
    a = p.parse_args(argv)
    sa = Sa(a.spi, a.key)
    inner = bytes(IP(src="10.1.0.1", dst="10.2.0.1", id=7) /
                  ICMP(id=0x7e57, seq=9) / Raw(b"replayed"))
    replay = sa.seal(1, inner)
    forged = bytearray(sa.seal(1 << 20, inner))
    forged[-1] ^= 1  # the ICV
    for esp in (replay, bytes(forged)):
        sendp(Ether(src=a.src_mac, dst=a.dst_mac) /
              IP(src="192.0.2.1", dst="192.0.2.2", proto=50, id=1) /
              Raw(esp), iface=a.iface)


def send(argv):
    from scapy.all import IP, IPv6, ICMP, ICMPv6EchoRequest, UDP, Raw, conf
    conf.verb = 0
    pkts = [
        IP(src="10.1.0.1", dst="10.2.0.1", id=0x1001, ttl=61) /
        ICMP(id=0x4242, seq=1) / Raw(b"espresso trace 1" * 4),
        IP(src="10.1.0.1", dst="10.2.0.1", id=0x1002, ttl=61) /
        ICMP(id=0x4242, seq=2) / Raw(bytes(i * 7 % 256 for i in range(200))),
        IP(src="10.1.0.1", dst="10.2.0.1", id=0x1003, ttl=61) /
        UDP(sport=40000, dport=9) / Raw(b"discard me"),
        IPv6(src="fd00:1::1", dst="fd00:2::1", hlim=61) /
        ICMPv6EchoRequest(id=0x4343, seq=3, data=b"six" * 10),
    ]
    raw = [bytes(p) for p in pkts]
    # straight out of the tun, the bytes as built (no routing, no
    # checksum or ID filled in by the kernel)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
    for b in raw:
        s.sendto(b, ("esp0", 0x86DD if b[0] >> 4 == 6 else 0x0800))
    with open(argv[0], "w") as o:
        for b in raw:
            o.write(b.hex() + "\n")


def sendto(argv):
    from scapy.all import IP, ICMP, Raw
    b = bytes(IP(src="10.1.0.1", dst=argv[0], id=5) / ICMP(id=0x5151, seq=4) /
              Raw(b"nowhere"))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
    s.sendto(b, ("esp0", 0x0800))


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, vmaj, vmin, _, _, snap, link = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xa1b2c3d4 or link != 113:  # LINKTYPE_LINUX_SLL
        fail("%s: magic %#x link type %d" % (path, magic, link))
    off, out = 24, []
    while off < len(data):
        _, _, cap, length = struct.unpack("<IIII", data[off:off + 16])
        rec = data[off + 16:off + 16 + cap]
        off += 16 + cap
        ptype, hatype, _, _, proto = struct.unpack("!HHH8sH", rec[:16])
        out.append((ptype, proto, rec[16:], length - 16))
    return out


def pcap(argv):
    from scapy.all import IP, IPv6, ICMP
    got = read_pcap(argv[0])
    sent = [bytes.fromhex(l) for l in open(argv[1]).read().split()]
    ins = [p for t, _, p, _ in got if t == 0]
    outs = [p for t, _, p, _ in got if t == 4]
    for b in sent:
        if b not in ins:
            fail("sent packet not in the capture as inbound: %s" % b.hex())
    for t, proto, p, length in got:
        if length != len(p):
            fail("truncated packet in the capture (snaplen)")
        if proto != (0x86DD if p[0] >> 4 == 6 else 0x0800):
            fail("cooked header protocol %#x for IPv%d" % (proto, p[0] >> 4))
    # the replies B's host sent, as they went into the tunnel
    for b in sent:
        q = IP(b) if b[0] >> 4 == 4 else IPv6(b)
        if q.haslayer(ICMP) and q[ICMP].type == 8:
            ok = any(IP(o).haslayer(ICMP) and IP(o)[ICMP].type == 0 and
                     IP(o)[ICMP].id == q[ICMP].id and
                     IP(o)[ICMP].seq == q[ICMP].seq and
                     IP(o).src == q.dst and IP(o).dst == q.src and
                     bytes(IP(o)[ICMP].payload) == bytes(q[ICMP].payload)
                     for o in outs if o[0] >> 4 == 4)
            if not ok:
                fail("no echo reply to seq %d among the outbound packets"
                     % q[ICMP].seq)
        if b[0] >> 4 == 6:
            ok = any(o[0] >> 4 == 6 and IPv6(o).src == q.dst and
                     IPv6(o).nh == 58 and bytes(IPv6(o).payload)[0] == 129
                     for o in outs)
            if not ok:
                fail("no ICMPv6 echo reply among the outbound packets")
    print("   capture: %d packets, %d in, %d out; every sent packet found "
          "byte for byte" % (len(got), len(ins), len(outs)))


def nokey(argv):
    key = bytes.fromhex(argv[0])
    for path in argv[1:]:
        data = open(path, "rb").read()
        low = data.lower()
        for i in range(len(key) - 7):
            piece = key[i:i + 8]
            if piece in data or piece.hex().encode() in low:
                fail("%s holds bytes %d..%d of a key" % (path, i, i + 7))


def main():
    cmds = {"stream": stream, "inject": inject, "send": send, "pcap": pcap,
            "nokey": nokey, "sendto": sendto}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail("usage: see the top of this file")
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
