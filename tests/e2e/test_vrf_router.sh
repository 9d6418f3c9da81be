#!/bin/bash
# VRFs in router mode: each gateway has a LAN in VRF red and one in VRF
# blue, and both VRFs route the same remote prefix (10.2.0.0/16 on A,
# 10.1.0.0/16 on B) through their own tunnel; IP forwarding is off.
#
#   ${P}Hr host 10.1.1.2 -- l1 10.1.1.1 (red)     l1 10.2.1.1 (red) -- ${P}Jr host 10.2.1.2
#   ${P}Hb host 10.1.2.2 -- l2 10.1.2.1 (blue)    l2 10.2.2.1 (blue) -- ${P}Jb host 10.2.2.2
#                           ${P}A gw-a  eA ===== eB  ${P}B gw-b
#
# 1. ping red host to red host, blue to blue: each through its VRF's
#    tunnel only (exact SA counts), the other VRF's LAN hosts receive
#    nothing; iperf3 1 s in blue.
# 2. red's host pings blue's host on B (10.2.2.2, inside red's 10.2.0.0/16):
#    red's tunnel carries it, B's red VRF has no LAN for it, so it goes to
#    B's esp-red (its tun), never out of blue's LAN.
source "$(dirname "$0")/lib.sh"
cleanup() {
	topo_down
	for h in Hr Hb Jr Jb; do ip netns del "${P}$h" 2>/dev/null || true; done
}
trap cleanup EXIT

host_up() { # host_up GWNS HOSTNS DEV NET
	ip netns add "$2"
	# IPv4 only: no IPv6 autoconfiguration in the hosts' counters
	ip netns exec "$2" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip link add h0 netns "$2" numrxqueues "$QUEUES" numtxqueues "$QUEUES" \
		type veth peer name "$3" netns "$1" numrxqueues "$QUEUES" numtxqueues "$QUEUES"
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$3.disable_ipv6=1"
	ip -n "$1" link set "$3" up
	ip -n "$2" link set h0 up
	ip -n "$2" link set lo up
	ip -n "$1" addr add "$4.1/24" dev "$3"
	ip -n "$2" addr add "$4.2/24" dev h0
	ip -n "$2" route add default via "$4.1"
	ip netns exec "$2" ethtool -K h0 tx off >/dev/null
	ip netns exec "$2" ethtool -K h0 gro on >/dev/null
}
vrfs() { # vrfs NET
	echo "vrfs = ( { name = \"red\"; table = 10; tun = \"esp-red\"; address = \"10.$1.255.11/32\"; },
	               { name = \"blue\"; table = 20; tun = \"esp-blue\"; address = \"10.$1.255.12/32\"; } );
	      lan = ( { name = \"l1\"; vrf = \"red\"; }, { name = \"l2\"; vrf = \"blue\"; } );"
}
# shellcheck disable=SC2034 # gw_conf (lib.sh) reads it
TUN_MTU=0
topo_up
host_up "$NS_A" "${P}Hr" l1 10.1.1
host_up "$NS_A" "${P}Hb" l2 10.1.2
host_up "$NS_B" "${P}Jr" l1 10.2.1
host_up "$NS_B" "${P}Jb" l2 10.2.2
EXTRA_CONF=$(vrfs 2) gw_start b
EXTRA_CONF=$(vrfs 1) gw_start a
grep -q "LAN l2: router mode" "$WORK/gw-a.log" || fail "gw-a: no LAN l2: $(cat "$WORK/gw-a.log")"
for ns in "$NS_A" "$NS_B"; do
	for d in esp-red esp-blue; do ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"; done
done
ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null || fail "no outer connectivity"

K1=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3
K2=e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203
# a key per SA (espressod refuses a key another SA holds)
K3=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3
K4=101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233
vtun() { # vtun GW NAME LOCAL REMOTE OUTSPI OUTKEY INSPI INKEY ROUTE
	ctl "$1" tunnel add "$2" local "$3" remote "$4" vrf "$2" >/dev/null &&
	ctl "$1" sa add "$2" out spi "$5" key "$6" >/dev/null &&
	ctl "$1" sa add "$2" in spi "$7" key "$8" >/dev/null &&
	ctl "$1" route add "$9" tunnel "$2" >/dev/null || fail "gw-$1: tunnel $2"
}
vtun b red 192.0.2.2 192.0.2.1 0x2200 "$K2" 0x1200 "$K1" 10.1.0.0/16
vtun b blue 192.0.2.2 192.0.2.1 0x2300 "$K4" 0x1300 "$K3" 10.1.0.0/16
vtun a red 192.0.2.1 192.0.2.2 0x1200 "$K1" 0x2200 "$K2" 10.2.0.0/16
vtun a blue 192.0.2.1 192.0.2.2 0x1300 "$K3" 0x2300 "$K4" 10.2.0.0/16

out_pkts() { # out_pkts GW SPI
	ctl "$1" -j show sa | /usr/bin/python3 -c '
import json, sys
print(sum(s["packets"] for s in json.load(sys.stdin) if s["dir"] == "out" and int(s["spi"], 16) == int(sys.argv[1], 16)))' "$2"
}
host_rx() { # host_rx HOSTNS: packets its h0 received
	ip -n "$1" -s -j link show h0 | /usr/bin/python3 -c '
import json, sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}
tun_rx() { # tun_rx NS DEV
	ip -n "$1" -s -j link show "$2" | /usr/bin/python3 -c '
import json, sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}
hping() { # hping HOSTNS DST COUNT
	ip netns exec "$1" ping -c "$3" -i 0.1 -W 1 "$2" >/dev/null
}
# first packets may wait for neighbours (the LAN hosts' MACs, the peer's)
for x in r:1 b:2; do
	for _ in 1 2 3 4 5; do hping "${P}H${x%%:*}" "10.2.${x##*:}.2" 1 && break; done
done
sleep 0.3

say "1. the same prefix in red and blue, LAN to LAN, each through its own tunnel"
check() { # check NAME HOST DST OWNSPI OTHERSPI OTHERHOST
	local own other orx
	own=$(out_pkts a "$4") other=$(out_pkts a "$5") orx=$(host_rx "$6")
	hping "$2" "$3" 5 || fail "$1: no ping to $3"
	sleep 0.2
	[ "$(out_pkts a "$4")" = $((own + 5)) ] || fail "$1: $(( $(out_pkts a "$4") - own )) on its SA, want 5"
	[ "$(out_pkts a "$5")" = "$other" ] || fail "$1: the other VRF's SA moved"
	[ "$(host_rx "$6")" = "$orx" ] || fail "$1: the other VRF's host on B received something"
	say "   $1: 5 on SA $4, none on $5"
}
check red "${P}Hr" 10.2.1.2 0x1200 0x1300 "${P}Jb"
check blue "${P}Hb" 10.2.2.2 0x1300 0x1200 "${P}Jr"
ip netns exec "${P}Jb" iperf3 -s -1 -B 10.2.2.2 >/dev/null 2>&1 &
sleep 0.3
ip netns exec "${P}Hb" iperf3 -c 10.2.2.2 -t 1 -J >"$WORK/iperf.json" 2>&1 ||
	fail "iperf3 in blue: $(tail -3 "$WORK/iperf.json")"
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("   iperf3 in blue, LAN to LAN: %.2f Gbit/s" % (r["bits_per_second"] / 1e9))
sys.exit(0 if r["bytes"] > 0 else 1)' "$WORK/iperf.json" || fail "iperf3 in blue received nothing"

say "2. red's host to blue's host on B: red's tunnel, then B's esp-red, never blue's LAN"
red=$(out_pkts a 0x1200) jb=$(host_rx "${P}Jb") er=$(tun_rx "$NS_B" esp-red)
hping "${P}Hr" 10.2.2.2 3 2>/dev/null && fail "red reached blue's host"
sleep 0.2
[ "$(out_pkts a 0x1200)" = $((red + 3)) ] || fail "red's SA carried $(( $(out_pkts a 0x1200) - red )), want 3"
[ "$(host_rx "${P}Jb")" = "$jb" ] || fail "blue's host on B received red's packets"
[ "$(tun_rx "$NS_B" esp-red)" = $((er + 3)) ] || fail "B's esp-red got $(( $(tun_rx "$NS_B" esp-red) - er )), want 3"
say "PASS"
