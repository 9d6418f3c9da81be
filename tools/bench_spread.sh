#!/bin/bash
# End to end: the packet rate through two espresso gateways when the same
# traffic (build/spray: UDP, 64-byte payloads, to 10,000 destinations,
# each from a source of its own) is carried by 1, 1,000 or 10,000 tunnels.
#   1:      the configured tunnel, with routes 100.64.0.0/10 on gw-a (the
#           destinations) and 100.128.0.0/10 on gw-b (the sources)
#   N > 1:  N more tunnels, each with its own SA pair and key, destination
#           d's /24 in tunnel d % N (on gw-b its source's /24)
# Alternated ROUNDS times (1, 1,000, 10,000, 1, ...) so the VM's drift hits
# all alike; the rate is what gw-b decrypted per second (show stats). The
# sender, both gateways and the kernel's veth share this machine's CPUs:
# on a small machine the numbers say more about them than about the
# tunnels' state (build/bench_spread measures that alone).
#   tools/bench_spread.sh OUTDIR   (ROUNDS, SPREAD_E2E_SECS)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: bench_spread.sh OUTDIR}
ROUNDS=${ROUNDS:-3}
SECS=${SPREAD_E2E_SECS:-5}
CRYPTO=${CRYPTO:-auto} # as espressod's default
P=bspr
TUN_MTU=0
PY=/usr/bin/python3
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
mkdir -p "$OUT"
[ -x "$ROOT/build/spray" ] || { echo "build/spray missing (make bench builds it)" >&2; exit 1; }
"$PY" - "$WORK" <<'PY'
import sys
work = sys.argv[1]
for n in (1000, 10000):
    for gw in "ab":
        out = []
        for k in range(n):
            # a test key per SA: espressod refuses a key another SA holds
            ka2b, kb2a = ("%08x" % (2 * k + d) + "%02x" % (k % 251) * 28 +
                          "%08x" % k for d in (0, 1))
            a2b, b2a = 0x100000 + k, 0x200000 + k
            loc, rem = ("192.0.2.1", "192.0.2.2") if gw == "a" else ("192.0.2.2", "192.0.2.1")
            out.append("tunnel add s%d local %s remote %s" % (k, loc, rem))
            out.append("sa add s%d out spi 0x%x key %s" % (k, a2b if gw == "a" else b2a,
                                                 ka2b if gw == "a" else kb2a))
            out.append("sa add s%d in spi 0x%x key %s" % (k, b2a if gw == "a" else a2b,
                                                kb2a if gw == "a" else ka2b))
        for d in range(10000):
            out.append("route add 100.%d.%d.0/24 tunnel s%d" %
                       ((64 if gw == "a" else 128) + d // 256, d % 256, d % n))
        open("%s/add-%s-%d" % (work, gw, n), "w").write("\n".join(out) + "\n")
    open("%s/del-%d" % (work, n), "w").write("".join("tunnel del s%d\n" % k for k in range(n)))
PY
topo_up
gw_start a
gw_start b
tunnel_ready
ctl a route add 100.64.0.0/10 tunnel to-peer >/dev/null
ctl b route add 100.128.0.0/10 tunnel to-peer >/dev/null
# gw-b's host has no route back to the sources' side: drop quietly there
ip -n "$NS_B" route add blackhole 100.64.0.0/10
decrypted() {
	ctl b -j show stats | "$PY" -c 'import json,sys; print(sum(q["rx_decrypted"] for q in json.load(sys.stdin)["queues"]))'
}
nexthops() { # wait until every tunnel of gw-a knows its next hop's MAC
	local m
	for _ in $(seq 100); do
		m=$(ctl a -j show tunnels | "$PY" -c 'import json,sys; t=json.load(sys.stdin); print(sum("nexthop_mac" in x for x in t) == len(t))')
		[ "$m" = True ] && return 0
		sleep 0.2
	done
	echo "next hops not all known" >&2
	return 1
}
rate() {
	local d0 d1
	# a second of the same traffic first: what only the first packets
	# pay (each SA's first limit on disk, a re-added SA's jump past its
	# stored one) is not the rate of 10,000 tunnels carrying traffic
	ip netns exec "$NS_A" "$ROOT/build/spray" 1 >/dev/null
	sleep 0.2
	d0=$(decrypted)
	ip netns exec "$NS_A" "$ROOT/build/spray" "$SECS" >/dev/null
	sleep 0.5
	d1=$(decrypted)
	echo $(( (d1 - d0) / SECS ))
}
echo "tunnels,round,pps" >"$OUT/spread_e2e.csv"
for r in $(seq "$ROUNDS"); do
	for n in 1 1000 10000; do
		if [ "$n" != 1 ]; then
			ctl a -b "$WORK/add-a-$n" >/dev/null
			ctl b -b "$WORK/add-b-$n" >/dev/null
			nexthops
		fi
		echo "$n,$r,$(rate)" >>"$OUT/spread_e2e.csv"
		if [ "$n" != 1 ]; then
			ctl a -b "$WORK/del-$n" >/dev/null
			ctl b -b "$WORK/del-$n" >/dev/null
		fi
	done
done
column -t -s, "$OUT/spread_e2e.csv"
"$PY" - "$OUT/spread_e2e.csv" <<'PY' | tee "$OUT/spread_e2e.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = {n: statistics.median(float(r["pps"]) for r in rows if r["tunnels"] == n)
       for n in ("1", "1000", "10000")}
print("end to end, UDP 64 B to 10,000 destinations: %.0f pps over 1 tunnel, "
      "%.0f over 1,000 (%.3f), %.0f over 10,000 (%.3f) (medians of %d)" %
      (med["1"], med["1000"], med["1000"] / med["1"], med["10000"],
       med["10000"] / med["1"], len(rows) // 3))
PY
