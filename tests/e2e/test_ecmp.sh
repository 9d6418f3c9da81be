#!/bin/bash
# ECMP: two tunnels between the same gateways carry one prefix each way;
# flows spread over both by their inner 5-tuple, and one tunnel removed
# under traffic takes its flows to the other.
#
#   ${P}A: espressod gw-a                         ${P}B: espressod gw-b
#   esp0 10.1.0.1                                 esp0 10.2.0.1
#   eA 192.0.2.1 (XDP) ======== veth ========= eB 192.0.2.2 (XDP)
#     to-peer  (config): SPI 0x1000 A->B, 0x2000 B->A
#     to-peer2 (espressoctl): SPI 0x1100 A->B, 0x2100 B->A
#   10.2.0.0/16 on A and 10.1.0.0/16 on B: both tunnels (route add ... ecmp on)
#
# 1. iperf3, 16 TCP streams, 2 s: both outbound SAs of each side carry
#    packets (all 16 flows on one tunnel: 2 in 65536), every stream delivers.
# 2. iperf3, 16 streams, 4 s; after 1.5 s to-peer2 is deleted on both sides:
#    iperf3 completes, every stream delivered, the last second too; to-peer
#    carries on alone (its SAs' counters keep growing, to-peer2 is gone from
#    show routes); ping passes.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
topo_up
gw_start b
gw_start a
tunnel_ready

K1=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3
K2=e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203
second() { # second GW LOCAL REMOTE OUTSPI OUTKEY INSPI INKEY ROUTE
	ctl "$1" tunnel add to-peer2 local "$2" remote "$3" >/dev/null &&
	ctl "$1" sa add to-peer2 out spi "$4" key "$5" >/dev/null &&
	ctl "$1" sa add to-peer2 in spi "$6" key "$7" >/dev/null &&
	ctl "$1" route add "$8" tunnel to-peer2 ecmp on >/dev/null ||
		fail "gw-$1: the second tunnel"
}
second b 192.0.2.2 192.0.2.1 0x2100 "$K2" 0x1100 "$K1" 10.1.0.0/16
second a 192.0.2.1 192.0.2.2 0x1100 "$K1" 0x2100 "$K2" 10.2.0.0/16
ctl a show routes | grep -q "10.2.0.0/16.*to-peer2" || fail "A: no ECMP route: $(ctl a show routes)"

out_pkts() { # out_pkts GW SPI: packets sent with that outbound SA
	ctl "$1" -j show sa | /usr/bin/python3 -c '
import json, sys
print(sum(s["packets"] for s in json.load(sys.stdin) if s["dir"] == "out" and int(s["spi"], 16) == int(sys.argv[1], 16)))' "$2"
}
iperf() { # iperf SECONDS OUT: 16 TCP streams A -> B, JSON into OUT
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	sleep 0.3
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -B 10.1.0.1 -P 16 -t "$1" -J >"$2" 2>&1
}
check_iperf() { # check_iperf FILE: every stream received, and the last interval
	/usr/bin/python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
streams = r["end"]["streams"]
rx = [s["receiver"]["bytes"] for s in streams]
last = r["intervals"][-1]["sum"]["bytes"]
print("   %d streams, %.2f Gbit/s received, per stream %s MB, last interval %d bytes"
      % (len(rx), r["end"]["sum_received"]["bits_per_second"] / 1e9,
         [round(b / 1e6, 1) for b in rx], last))
sys.exit(0 if len(rx) == 16 and min(rx) > 0 and last > 0 else 1)
PY
}

say "1. 16 TCP streams over two tunnels"
a1=$(out_pkts a 0x1000) a2=$(out_pkts a 0x1100) b1=$(out_pkts b 0x2000) b2=$(out_pkts b 0x2100)
iperf 2 "$WORK/iperf1.json" || fail "iperf3: $(tail -3 "$WORK/iperf1.json")"
check_iperf "$WORK/iperf1.json" || fail "iperf3 through ECMP"
da1=$(( $(out_pkts a 0x1000) - a1 )) da2=$(( $(out_pkts a 0x1100) - a2 ))
db1=$(( $(out_pkts b 0x2000) - b1 )) db2=$(( $(out_pkts b 0x2100) - b2 ))
say "   A sent $da1 on to-peer, $da2 on to-peer2; B sent $db1 and $db2"
[ "$da1" -gt 0 ] && [ "$da2" -gt 0 ] || fail "A did not spread the flows: $da1 / $da2"
[ "$db1" -gt 0 ] && [ "$db2" -gt 0 ] || fail "B did not spread the flows: $db1 / $db2"

say "2. to-peer2 deleted on both sides under 16 streams"
iperf 4 "$WORK/iperf2.json" &
IPERF=$!
sleep 1.5
ctl b tunnel del to-peer2 >/dev/null &
DEL_B=$!
ctl a tunnel del to-peer2 >/dev/null || fail "gw-a: tunnel del to-peer2"
wait "$DEL_B" || fail "gw-b: tunnel del to-peer2"
a1=$(out_pkts a 0x1000)
wait "$IPERF" || fail "iperf3 failed when a tunnel went: $(tail -3 "$WORK/iperf2.json")"
check_iperf "$WORK/iperf2.json" || fail "a stream stopped when its tunnel went"
[ "$(out_pkts a 0x1000)" -gt "$a1" ] || fail "to-peer sent nothing after to-peer2 went"
ctl a show routes | grep -q to-peer2 && fail "A still routes to to-peer2"
ctl a show routes | grep -q "10.2.0.0/16.*to-peer" || fail "A lost 10.2.0.0/16"
ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "no ping after the tunnel went"
ctl a show sa
say "PASS"
