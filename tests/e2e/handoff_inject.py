#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Play gateway A for SA pair PAIR of a tunnel with sa_pairs > 1: derive the
pair's keys with HKDF-SHA256 (RFC 5869; info "espresso sa" || SPI, the
derivation espresso documents, written here with python-cryptography),
send COUNT ESP packets (ICMP echo requests 10.1.0.1 -> 10.2.0.1, icmp seq
1..COUNT, id 0x5150) on IFACE to DSTMAC, and check that every echo reply
comes back encrypted with one of the peer's derived SAs and decrypts.
  handoff_inject.py IFACE DSTMAC SPI_AB KEY_AB SPI_BA KEY_BA PAIRS PAIR COUNT FIRST_SEQ
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esptest import Sa, fail, hexkey, say, sniffer  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402
from scapy.all import ICMP, IP, Ether, Raw, sendp  # noqa: E402


def derive(key_hex, spi):
    key = hexkey(key_hex)
    out = HKDF(algorithm=hashes.SHA256(), length=len(key), salt=None,
               info=b"espresso sa" + spi.to_bytes(4, "big")).derive(key)
    return out.hex()


iface, dstmac = sys.argv[1], sys.argv[2]
spi_ab, key_ab = int(sys.argv[3], 0), sys.argv[4]
spi_ba, key_ba = int(sys.argv[5], 0), sys.argv[6]
pairs, pair, count = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
first = int(sys.argv[10])

sa = Sa(spi_ab + pair, derive(key_ab, spi_ab + pair))
back = {spi_ba + i: Sa(spi_ba + i, derive(key_ba, spi_ba + i)) for i in range(pairs)}
seen = []
sniff = sniffer(iface=iface, filter="ip proto 50 and src 192.0.2.2",
                prn=seen.append, store=False)
frames = []
for i in range(1, count + 1):
    inner = IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=0x5150, seq=i) / Raw(b"handoff %04d" % i)
    esp = sa.seal(first + i - 1, bytes(inner))
    frames.append(Ether(dst=dstmac) / IP(src="192.0.2.1", dst="192.0.2.2", proto=50) / Raw(esp))
sendp(frames, iface=iface, verbose=0)
say("sent %d ESP packets with SPI 0x%x (pair %d)" % (count, sa.spi, pair))
deadline, replies = time.time() + 5, set()
while time.time() < deadline and len(replies) < count:
    time.sleep(0.2)
    for p in list(seen):
        esp = bytes(p[IP].payload)
        spi = int.from_bytes(esp[:4], "big")
        if spi not in back:
            continue
        try:
            _, _, pt = back[spi].open(esp)
        except Exception:
            fail("a reply with SPI 0x%x does not decrypt with its derived key" % spi)
        r = IP(pt[:len(pt) - 2 - pt[-2]])
        if ICMP in r and r[ICMP].type == 0 and r[ICMP].id == 0x5150:
            replies.add(r[ICMP].seq)
sniff.stop()
if len(replies) != count:
    fail("%d of %d echo replies came back" % (len(replies), count))
say("all %d echo replies came back encrypted with derived keys" % count)
