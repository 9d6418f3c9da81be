#!/bin/bash
# The lookup structures at scale: the packet rate through one tunnel with
# 1 and with 10,000 tunnels configured (20,000 SAs, 10,000 routes on each
# gateway), alternated in one run (1, 10k, 1, 10k, ...) so the VM's drift
# hits both alike. Traffic: iperf3 UDP, 64-byte payloads, as fast as the
# sender goes, A -> B; the rate is what B's host received.
# Then, gateways stopped, what the lookups cost per packet in the table
# version with 1 and 10,001 tunnels (build/bench_tables), into tables.txt.
#   tools/bench_tables.sh OUTDIR   (ROUNDS, TABLES_SECS, TUNNELS)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: bench_tables.sh OUTDIR}
ROUNDS=${ROUNDS:-3}
SECS=${TABLES_SECS:-5}
N=${TUNNELS:-10000}
P=btab
TUN_MTU=0
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
mkdir -p "$OUT"
"$ROOT/tools/gen_tunnels.py" "$N" add 0x100000 >"$WORK/add-a"
"$ROOT/tools/gen_tunnels.py" "$N" add 0x400000 >"$WORK/add-b"
"$ROOT/tools/gen_tunnels.py" "$N" del >"$WORK/del"
topo_up
gw_start a
gw_start b
ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null
rate() { # packets/s B's iperf3 received
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -u -b 0 -l 64 -t "$SECS" -J |
		/usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print("%.0f" % ((e["packets"] - e["lost_packets"]) / e["seconds"]))'
	sleep 0.5
}
echo "tunnels,round,pps,rss_kb_a" >"$OUT/tables.csv"
for r in $(seq "$ROUNDS"); do
	echo "1,$r,$(rate),$(awk '/VmRSS/ {print $2}' "/proc/$PID_A/status")" >>"$OUT/tables.csv"
	t0=$(date +%s.%N)
	ctl a -b "$WORK/add-a" >/dev/null
	ctl b -b "$WORK/add-b" >/dev/null
	t1=$(date +%s.%N)
	echo "   round $r: $N tunnels added to both gateways in $(echo "$t1 - $t0" | bc) s"
	echo "$((N + 1)),$r,$(rate),$(awk '/VmRSS/ {print $2}' "/proc/$PID_A/status")" >>"$OUT/tables.csv"
	ctl a -b "$WORK/del" >/dev/null
	ctl b -b "$WORK/del" >/dev/null
done
column -t -s, "$OUT/tables.csv"
/usr/bin/python3 - "$OUT/tables.csv" <<'PY' | tee "$OUT/tables.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
one = [float(r["pps"]) for r in rows if r["tunnels"] == "1"]
many = [float(r["pps"]) for r in rows if r["tunnels"] != "1"]
n = [r["tunnels"] for r in rows if r["tunnels"] != "1"][0]
m1, mn = statistics.median(one), statistics.median(many)
print("UDP 64 B through one tunnel: %.0f pps with 1 tunnel, %.0f pps with %s "
      "(medians of %d); ratio %.3f" % (m1, mn, n, len(one), mn / m1))
PY
topo_down # the gateways are done: nothing else runs during the lookups
"$ROOT/build/bench_tables" | tee -a "$OUT/tables.txt"
