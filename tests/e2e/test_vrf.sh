#!/bin/bash
# VRFs: two VRFs besides the default on each gateway, all three with the
# SAME inner prefixes (10.2.0.0/16 on A, 10.1.0.0/16 on B), each with its own
# tun, kernel table and tunnel; traffic of one VRF never reaches another.
#
#   ${P}A: espressod gw-a                         ${P}B: espressod gw-b
#   esp0     10.1.0.1 (default VRF, to-peer)       esp0     10.2.0.1
#   esp-red  10.1.1.1 (red, kernel table 10)       esp-red  10.2.1.1
#   esp-blue 10.1.2.1 (blue, kernel table 20)      esp-blue 10.2.2.1
#   eA 192.0.2.1 (XDP) ======== veth ========= eB 192.0.2.2 (XDP)
#   red:  tunnel red  (espressoctl tunnel add ... vrf red)  SPI 0x1200 / 0x2200
#   blue: tunnel blue (... vrf blue)                         SPI 0x1300 / 0x2300
#   A: 10.2.0.0/16 in default, red and blue; B: 10.1.0.0/16 in all three,
#   and 10.9.0.0/16 in blue only. Kernel: "from <VRF address> lookup
#   <table>" rules pick the VRF's table, where espressod puts its routes.
#
# 1. ping from each VRF's address to the peer's address of the same VRF:
#    each goes through its own tunnel only (exact SA packet counts: the
#    other tunnels' SAs do not move) and arrives on its own tun on B (the
#    other tuns' kernel RX counters do not move); iperf3 1 s in red.
# 2. An inner packet from 10.9.0.5 (routed by blue only) sent into red's tun
#    on A goes out on red's SA and is dropped by B as rx_inner_src (exactly
#    one); the same packet into blue's tun is accepted and comes out of B's
#    esp-blue.
# 3. route del ... vrf blue removes blue's route only: red still pings,
#    blue's packets to 10.2.0.0/16 are tx_no_route.
# 4. The VRFs' tuns are persistent as esp0: espressod killed, red's kernel
#    route stays (fail closed); restarted, the route the config lacks goes;
#    stopped cleanly, the tuns go.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
topo_up

vrfs() { # vrfs NET: the config's VRFs (10.NET.1.1 red, 10.NET.2.1 blue)
	echo "vrfs = ( { name = \"red\"; table = 10; tun = \"esp-red\"; address = \"10.$1.1.1/32\"; },
	               { name = \"blue\"; table = 20; tun = \"esp-blue\"; address = \"10.$1.2.1/32\"; } );"
}
for x in A:1 B:2; do
	ns=${P}${x%%:*} n=${x##*:}
	ip -n "$ns" rule add from "10.$n.1.1" lookup 10 pref 100
	ip -n "$ns" rule add from "10.$n.2.1" lookup 20 pref 100
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
EXTRA_CONF=$(vrfs 2) gw_start b
EXTRA_CONF=$(vrfs 1) gw_start a
# the VRFs' tuns carry IPv4 only here: no router solicitations in the counts
for ns in "$NS_A" "$NS_B"; do
	for d in esp-red esp-blue; do ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"; done
done
tunnel_ready

K1=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3
K2=e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203
# a key per SA (espressod refuses a key another SA holds)
K3=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3
K4=101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233
vtun() { # vtun GW NAME LOCAL REMOTE OUTSPI OUTKEY INSPI INKEY ROUTE...
	local gw=$1 name=$2 r
	ctl "$gw" tunnel add "$name" local "$3" remote "$4" vrf "$name" >/dev/null &&
	ctl "$gw" sa add "$name" out spi "$5" key "$6" >/dev/null &&
	ctl "$gw" sa add "$name" in spi "$7" key "$8" >/dev/null || fail "gw-$gw: tunnel $name"
	shift 8
	for r in "$@"; do
		ctl "$gw" route add "$r" tunnel "$name" >/dev/null || fail "gw-$gw: route $r in $name"
	done
}
vtun b red 192.0.2.2 192.0.2.1 0x2200 "$K2" 0x1200 "$K1" 10.1.0.0/16
vtun b blue 192.0.2.2 192.0.2.1 0x2300 "$K4" 0x1300 "$K3" 10.1.0.0/16 10.9.0.0/16
vtun a red 192.0.2.1 192.0.2.2 0x1200 "$K1" 0x2200 "$K2" 10.2.0.0/16
vtun a blue 192.0.2.1 192.0.2.2 0x1300 "$K3" 0x2300 "$K4" 10.2.0.0/16
# the same prefix in a VRF twice is still refused
ctl a route add 10.2.0.0/16 tunnel red >/dev/null 2>&1 && fail "a second 10.2.0.0/16 in red"
ip -n "$NS_A" route show table 10 | grep -q "10.2.0.0/16 dev esp-red" ||
	fail "no kernel route in table 10: $(ip -n "$NS_A" route show table 10)"
ip -n "$NS_A" route show table 20 | grep -q "10.2.0.0/16 dev esp-blue" ||
	fail "no kernel route in table 20"

out_pkts() { # out_pkts GW SPI: packets sent with that outbound SA
	ctl "$1" -j show sa | /usr/bin/python3 -c '
import json, sys
print(sum(s["packets"] for s in json.load(sys.stdin) if s["dir"] == "out" and int(s["spi"], 16) == int(sys.argv[1], 16)))' "$2"
}
tun_rx() { # tun_rx NS DEV: packets the tun gave the kernel (written by espressod)
	ip -n "$1" -s -j link show "$2" | /usr/bin/python3 -c '
import json, sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}
stat_sum() { # stat_sum GW COUNTER: summed over the queues
	ctl "$1" -j show stats | /usr/bin/python3 -c '
import json, sys
n = sys.argv[1]
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == n and isinstance(v, int): yield v
            else: yield from walk(v)
    elif isinstance(o, list):
        for v in o: yield from walk(v)
print(sum(walk(json.load(sys.stdin))))' "$2"
}
snap() { # snap: every counter the isolation checks compare
	echo "$(out_pkts a 0x1000) $(out_pkts a 0x1200) $(out_pkts a 0x1300)" \
	     "$(tun_rx "$NS_B" esp0) $(tun_rx "$NS_B" esp-red) $(tun_rx "$NS_B" esp-blue)"
}
vping() { # vping SRC DST: 5 pings from A's address SRC to B's DST
	ip netns exec "$NS_A" ping -c 5 -i 0.1 -W 1 -I "$1" "$2" >/dev/null
}
# first packets may wait for the next hop: one ping each, untimed
for v in 1 2; do
	for _ in 1 2 3; do ip netns exec "$NS_A" ping -c 1 -W 1 -I "10.1.$v.1" "10.2.$v.1" >/dev/null && break; done
done
sleep 0.3

say "1. the same prefix in three VRFs, each ping through its own tunnel"
check() { # check NAME SRC DST COLUMN: 5 pings move that column of snap only
	local before after i b a
	before=($(snap))
	vping "$2" "$3" || fail "$1: no ping $2 -> $3"
	sleep 0.2
	after=($(snap))
	for i in 0 1 2 3 4 5; do
		b=${before[$i]} a=${after[$i]}
		if [ $((i % 3)) = "$4" ]; then
			[ $((a - b)) -ge 5 ] || fail "$1: counter $i moved $((a - b)), want >= 5"
		else
			[ "$a" = "$b" ] || fail "$1: counter $i of another VRF moved: $b -> $a (${before[*]} / ${after[*]})"
		fi
	done
	[ $((after[$4] - before[$4])) = 5 ] || fail "$1: $((after[$4] - before[$4])) packets on its SA, want 5"
	say "   $1: ${before[*]} -> ${after[*]}"
}
check default 10.1.0.1 10.2.0.1 0
check red 10.1.1.1 10.2.1.1 1
check blue 10.1.2.1 10.2.2.1 2
# red cannot reach blue's address on B: B's esp-red gets it, its kernel
# table 10 has no route back into blue (and espresso routes nothing across)
b_blue=$(tun_rx "$NS_B" esp-blue)
ip netns exec "$NS_A" ping -c 2 -i 0.1 -W 1 -I 10.1.1.1 10.2.2.1 >/dev/null 2>&1
[ "$(tun_rx "$NS_B" esp-blue)" = "$b_blue" ] || fail "red's packets reached B's esp-blue"

ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.1.1 >/dev/null 2>&1 &
sleep 0.3
red0=$(out_pkts a 0x1200) blue0=$(out_pkts a 0x1300)
ip netns exec "$NS_A" iperf3 -c 10.2.1.1 -B 10.1.1.1 -t 1 -J >"$WORK/iperf.json" 2>&1 ||
	fail "iperf3 in red: $(tail -3 "$WORK/iperf.json")"
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("   iperf3 in red: %.2f Gbit/s, %d bytes" % (r["bits_per_second"] / 1e9, r["bytes"]))
sys.exit(0 if r["bytes"] > 0 else 1)' "$WORK/iperf.json" || fail "iperf3 in red received nothing"
[ "$(out_pkts a 0x1300)" = "$blue0" ] || fail "red's iperf3 moved blue's SA"
[ "$(out_pkts a 0x1200)" -gt $((red0 + 100)) ] || fail "red's iperf3 did not use red's SA"

say "2. a source only blue routes, sent on red's SA: dropped by B (rx_inner_src)"
inject() { # inject DEV DST: one ICMP echo 10.9.0.5 -> DST into A's tun DEV
	ip netns exec "$NS_A" /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys
from scapy.all import IP, ICMP
pkt = bytes(IP(src="10.9.0.5", dst=sys.argv[2]) / ICMP(id=77, seq=1) / (b"v" * 32))
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((sys.argv[1], 0x0800))
s.sendto(pkt, (sys.argv[1], 0x0800))
PY
}
src0=$(stat_sum b rx_inner_src) red0=$(out_pkts a 0x1200) red_rx=$(tun_rx "$NS_B" esp-red)
blue_rx=$(tun_rx "$NS_B" esp-blue)
inject esp-red 10.2.1.1 2>"$WORK/inject.err" || fail "inject: $(cat "$WORK/inject.err")"
sleep 0.3
[ "$(out_pkts a 0x1200)" = $((red0 + 1)) ] || fail "the packet did not leave on red's SA"
[ "$(stat_sum b rx_inner_src)" = $((src0 + 1)) ] ||
	fail "B: rx_inner_src $(stat_sum b rx_inner_src), want $((src0 + 1))"
[ "$(tun_rx "$NS_B" esp-red)" = "$red_rx" ] || fail "B delivered it into esp-red"
[ "$(tun_rx "$NS_B" esp-blue)" = "$blue_rx" ] || fail "B delivered it into esp-blue"
say "   red: dropped as rx_inner_src ($src0 -> $((src0 + 1)))"
inject esp-blue 10.2.2.1 || fail "inject into esp-blue"
sleep 0.3
[ "$(stat_sum b rx_inner_src)" = $((src0 + 1)) ] || fail "blue's packet was dropped too"
[ "$(tun_rx "$NS_B" esp-blue)" -gt "$blue_rx" ] || fail "blue's packet did not reach B's esp-blue"
say "   blue: accepted, out of B's esp-blue"

say "3. route del in one VRF leaves the others"
ctl a route del 10.2.0.0/16 vrf blue >/dev/null || fail "route del ... vrf blue"
ctl a route del 10.2.0.0/16 vrf nosuch >/dev/null 2>&1 && fail "route del in an unknown VRF"
ip -n "$NS_A" route show table 20 | grep -q "10.2.0.0/16" && fail "the kernel route in table 20 stayed"
ip -n "$NS_A" route show table 10 | grep -q "10.2.0.0/16 dev esp-red" || fail "red's kernel route went"
vping 10.1.1.1 10.2.1.1 || fail "red lost its route"
vping 10.1.0.1 10.2.0.1 || fail "the default VRF lost its route"
nr0=$(stat_sum a tx_no_route) before=$(snap)
# blue's table has no route now: the kernel itself refuses, so write into
# the tun directly: espresso finds no route in blue, and takes none of red's
# or the default's (their SAs do not move; tx_no_route also counts the
# kernel's own IPv6 multicast on esp0, hence at least one more)
inject esp-blue 10.2.2.1 || fail "inject into esp-blue"
sleep 0.2
[ "$(stat_sum a tx_no_route)" -gt "$nr0" ] || fail "A: tx_no_route $(stat_sum a tx_no_route), want > $nr0"
[ "$(snap)" = "$before" ] || fail "blue's packet without a route went somewhere: $before -> $(snap)"
ctl a show routes
ctl a show routes | grep -q "10.2.0.0/16 tunnel red vrf red" || fail "show routes: no VRF"

say "4. VRF tuns fail closed: killed, gw-a leaves esp-red and its route; restarted, the stale route goes"
kill -KILL "$PID_A"; wait "$PID_A" 2>/dev/null; PID_A=
ip -n "$NS_A" route show table 10 | grep -q "10.2.0.0/16 dev esp-red" ||
	fail "killed: red's route in table 10 went with espressod"
EXTRA_CONF=$(vrfs 1) gw_start a
# red's tunnel was added through espressoctl: not in the config
ip -n "$NS_A" route show table 10 | grep -q "10.2.0.0/16" && fail "restarted: the stale route stayed"
grep -q "removed 1 route(s) of an earlier run" "$WORK/gw-a.log" || fail "restarted: no stale route removed"
gw_stop a
ip -n "$NS_A" link show esp-red >/dev/null 2>&1 && fail "clean stop: esp-red stayed"
say "PASS"
