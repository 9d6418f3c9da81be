#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Send one ESP packet (SPI, key, seq given) carrying an ICMP echo request
10.1.0.1 -> 10.2.0.1 of PAYLOAD bytes, cut into outer IPv4 fragments of
FRAGSIZE bytes of payload, in the order given (e.g. "2,0,1"), on IFACE to
DSTMAC; then wait for the encrypted echo reply (SPI_BACK, KEY_BACK) and
check it decrypts to the matching echo reply.
  frag_inject.py IFACE DSTMAC SPI KEY SEQ SPI_BACK KEY_BACK PAYLOAD FRAGSIZE ORDER
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esptest import Sa, fail, say, sniffer  # noqa: E402
from scapy.all import ICMP, IP, Ether, Raw, fragment, sendp  # noqa: E402

iface, dstmac = sys.argv[1], sys.argv[2]
sa = Sa(int(sys.argv[3], 0), sys.argv[4])
seq = int(sys.argv[5])
back = Sa(int(sys.argv[6], 0), sys.argv[7])
size, fragsize = int(sys.argv[8]), int(sys.argv[9])
order = [int(x) for x in sys.argv[10].split(",")]

inner = IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=0x4242, seq=7) / Raw(bytes(range(256)) * (size // 256) + bytes(size % 256))
esp = sa.seal(seq, bytes(inner))
outer = IP(src="192.0.2.1", dst="192.0.2.2", proto=50, id=0x1234, flags=0) / Raw(esp)
frags = fragment(outer, fragsize=fragsize)
if len(frags) != len(order) or sorted(order) != list(range(len(frags))):
    fail("order %s does not fit %d fragments" % (order, len(frags)))
seen = []
sniff = sniffer(iface=iface, filter="ip proto 50 and src 192.0.2.2",
                prn=seen.append, store=False)
sendp([Ether(dst=dstmac) / frags[i] for i in order], iface=iface, verbose=0)
say("sent %d-byte ESP in %d fragments, order %s" % (len(esp), len(frags), order))
deadline = time.time() + 5
got = None
while time.time() < deadline and got is None:
    time.sleep(0.2)
    for p in list(seen):
        if IP not in p or p[IP].proto != 50 or p[IP].flags.MF or p[IP].frag:
            continue
        try:
            _, _, pt = back.open(bytes(p[IP].payload))
        except Exception:
            continue
        reply = IP(pt[:len(pt) - 2 - pt[-2]])
        if ICMP in reply and reply[ICMP].type == 0 and reply[ICMP].id == 0x4242:
            got = reply
            break
sniff.stop()
if got is None:
    fail("no encrypted echo reply from 10.2.0.1")
if bytes(got[ICMP].payload) != bytes(inner[ICMP].payload):
    fail("echo reply payload differs")
say("echo reply of %d bytes came back through the tunnel" % len(got))
