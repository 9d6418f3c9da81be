#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""An espressoctl batch (-b) of N tunnels, each with an outbound and an
inbound SA and a /24 route, or the batch that deletes them again.
  gen_tunnels.py N [add|del] [SPI_BASE]
Tunnel i: remote 198.18.(i/256).(i%256), SPIs SPI_BASE+i (out) and
SPI_BASE+0x100000+i (in), route 100.(64+i/256).(i%256).0/24. The keys are
test keys, one per SA (espressod refuses a key another SA holds): never use
these tunnels to carry anything real."""
import sys

n = int(sys.argv[1])
op = sys.argv[2] if len(sys.argv) > 2 else "add"
base = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0x100000


def key(spi, out):
    return "%08x%02x" % (spi, out) + "5e" * 31


out = []
for i in range(n):
    if op == "del":
        out.append("tunnel del t%d" % i)
        continue
    out.append("tunnel add t%d local 192.0.2.1 remote 198.18.%d.%d" % (i, i // 256 % 256, i % 256))
    out.append("sa add t%d out spi 0x%x key %s" % (i, base + i, key(base + i, 1)))
    out.append("sa add t%d in spi 0x%x key %s" %
               (i, base + 0x100000 + i, key(base + 0x100000 + i, 0)))
    out.append("route add 100.%d.%d.0/24 tunnel t%d" % (64 + i // 256, i % 256, i))
sys.stdout.write("\n".join(out) + "\n")
