#!/bin/bash
# NAT-T: gateway B behind a NAT whose mapping changes mid-flow.
#
#   netns ${P}A                     netns ${P}W (router, NAT)              netns ${P}B
#   esp0 10.1.0.1                                                          ipsec0, 10.2.0.1 on lo
#   espressod + charon (kernel-espresso)                                   charon (kernel-libipsec)
#   eA 192.0.2.1/24 (XDP) ---- wA 192.0.2.254 | wB 198.51.100.254 ---- eB 198.51.100.2/24
#                              snat 198.51.100.0/24 -> 192.0.2.254:40000-40999 (then 41000-41999)
#
# B initiates (it is behind the NAT). No DPD, no rekey during the test: no
# IKE message can be what tells A's charon that B moved. Checks:
#  1. A's outbound SA sends to the NAT's port (40000-40999), not 4500: the
#     plugin turned add_sa's UDP ports into "sa update ... dport N"; ping
#     both ways.
#  2. The NAT's mapping changes (the SNAT range moves to 41000-41999 and
#     conntrack is flushed); B pings A: B's first ESP from the new port
#     authenticates, espressod follows it (its replies go to the new port,
#     the tunnel's mappings +1), its "mapping" event reaches the plugin,
#     which tells charon (kernel->mapping): charon A moves the IKE_SA
#     ("remote endpoint changed", swanctl --list-sas says the new port)
#     before any IKE message came from there, and its update_sa of the
#     CHILD_SA finds espressod there already (the plugin sends nothing:
#     "is at ... already", the mappings stay +1). Pings both ways.
# FAMILY=6 (test_ike_nat6.sh): the same over an IPv6 underlay (4in6), the
# NAT an nftables ip6 SNAT of B's /64 to the router's address:
#   eA 2001:db8:1::1 -- wA 2001:db8:1::fe | wB 2001:db8:2::fe -- eB 2001:db8:2::2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ike_lib.sh"
cleanup() {
	for p in $CH_A $CH_B; do
		kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	topo_down
}
ike_skip_unless_ready libipsec
command -v nft >/dev/null && command -v conntrack >/dev/null ||
	{ echo "SKIP: nft and conntrack are needed (tools/deps.sh check)"; exit 77; }
trap cleanup EXIT

FAMILY=${FAMILY:-4}
if [ "$FAMILY" = 6 ]; then
	A_IP=2001:db8:1::1 WA_IP=2001:db8:1::fe WB_IP=2001:db8:2::fe
	B_IP=2001:db8:2::2 PLEN=64 NFT=ip6 B_NET=2001:db8:2::/64
	NAT_TO="[$WA_IP]"
else
	A_IP=192.0.2.1 WA_IP=192.0.2.254 WB_IP=198.51.100.254
	B_IP=198.51.100.2 PLEN=24 NFT=ip B_NET=198.51.100.0/24
	NAT_TO=$WA_IP
fi

say "topology: B behind a NAT in ${P}W (IPv$FAMILY)"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip netns add "$NS_W"
ip link add eA netns "$NS_A" type veth peer name wA netns "$NS_W"
ip link add eB netns "$NS_B" type veth peer name wB netns "$NS_W"
for n in "$NS_A" "$NS_B" "$NS_W"; do
	ip -n "$n" link set lo up
	[ "$FAMILY" = 6 ] ||
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
nodad= # IPv6: no duplicate address detection, the addresses work at once
[ "$FAMILY" = 6 ] && nodad=nodad
ip -n "$NS_A" addr add "$A_IP/$PLEN" dev eA $nodad
ip -n "$NS_W" addr add "$WA_IP/$PLEN" dev wA $nodad
ip -n "$NS_W" addr add "$WB_IP/$PLEN" dev wB $nodad
ip -n "$NS_B" addr add "$B_IP/$PLEN" dev eB $nodad
ip -n "$NS_B" addr add 10.2.0.1/32 dev lo
for l in "$NS_A eA" "$NS_B eB" "$NS_W wA" "$NS_W wB"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n "$NS_B" route add default via "$WB_IP"
ip netns exec "$NS_W" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NS_W" sysctl -qw net.ipv6.conf.all.forwarding=1
nat() { # nat LOW-HIGH: the SNAT rule's port range
	ip netns exec "$NS_W" nft -f - <<NFT
table $NFT nat
delete table $NFT nat
table $NFT nat {
	chain post {
		type nat hook postrouting priority 100;
		$NFT saddr $B_NET oifname "wA" meta l4proto udp snat to $NAT_TO:$1
		$NFT saddr $B_NET oifname "wA" snat to $WA_IP
	}
}
NFT
}
nat 40000-40999 || fail "nft"

# no CHILD_SA rekey (an IKE exchange) during the test
export CHILD_REKEY=1h CHILD_LIFE=2h
espresso_ike_start a eA 10.1.0.1/32
strongswan_conf a "$(ike_backend_espresso a)"
strongswan_conf b "$(ike_backend_libipsec)"
ike_pki
swanctl_conf a "$A_IP" "$WA_IP" gw-a.example gw-b.example 10.1.0.0/16 10.2.0.0/16 a 4h
swanctl_conf b "$B_IP" "$A_IP" gw-b.example gw-a.example 10.2.0.0/16 10.1.0.0/16 b 4h
# the NAT's port changes are for NAT-T to follow, not MOBIKE; no DPD
for x in a b; do
	sed -i 's/^    dpd_delay = 1s$/    dpd_delay = 0s\n    mobike = no/' "$WORK/$x/swanctl.conf"
done
charon_start a
charon_start b
load a
load b

say "B initiates through the NAT"
sw b --initiate --child net --ike gw --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/b/charon.log" >&2; fail "swanctl --initiate on B"; }
n=$(ike_sas a | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 2 ] || fail "espresso has $n IKE SAs, want 2"
dport() { # the port A's outbound SA sends to
	ctl a -j show sa | $PY -c '
import json, sys
print([s for s in json.load(sys.stdin) if s["dir"] == "out" and s.get("origin") == "ike"][0].get("dport", 0))'
}
p0=$(dport)
echo "   A's outbound SA: to $NAT_TO:$p0"
[ "$p0" -ge 40000 ] && [ "$p0" -le 40999 ] || fail "A sends to port $p0, not the NAT's (40000-40999)"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B through the NAT"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A through the NAT"

mappings() { # the NAT-T moves espressod A's tunnel made
	ctl a -j show tunnels | $PY -c '
import json, sys
print([t for t in json.load(sys.stdin) if t["name"].startswith("ike-")][0]["mappings"])'
}
m0=$(mappings)
lines0=$(wc -l <"$WORK/a/charon.log")

say "the NAT's mapping changes (41000-41999, conntrack flushed); B pings A"
nat 41000-41999 || fail "nft"
ip netns exec "$NS_W" conntrack -F >/dev/null 2>&1
# the first reply may leave before espressod followed (then the NAT drops it)
ip netns exec "$NS_B" ping -q -c 5 -i 0.2 -W 1 -I 10.2.0.1 10.1.0.1 >/dev/null ||
	fail "no ping B->A came back after the NAT's change"
p1=$(dport)
echo "   A's outbound SA now: to $NAT_TO:$p1"
[ "$p1" -ge 41000 ] && [ "$p1" -le 41999 ] || fail "A sends to port $p1 after the change"
for _ in $(seq 30); do
	tail -n +"$((lines0 + 1))" "$WORK/a/charon.log" | grep -q "remote endpoint changed" && break
	sleep 0.1
done
tail -n +"$((lines0 + 1))" "$WORK/a/charon.log" >"$WORK/a.after"
grep -q "espresso: tunnel ike-[0-9]* follows its peer to $WA_IP\[$p1\]" "$WORK/a.after" ||
	{ cat "$WORK/a.after" >&2; fail "the plugin did not pass espressod's mapping event on"; }
grep -q "NAT mappings of CHILD_SA ESP/0x[0-9a-f]*/$A_IP changed to $WA_IP\[$p1\]" "$WORK/a.after" ||
	{ cat "$WORK/a.after" >&2; fail "charon got no mapping"; }
grep -q "remote endpoint changed from $WA_IP\[$p0\] to $WA_IP\[$p1\]" "$WORK/a.after" ||
	{ cat "$WORK/a.after" >&2; fail "charon A did not move the IKE_SA to the new port"; }
# what moved charon was the event: no IKE message from the new port before
first=$(grep -n -m1 "remote endpoint changed" "$WORK/a.after" | cut -d: -f1)
! head -n "$first" "$WORK/a.after" | grep -q "received packet: from $WA_IP\[$p1\]" ||
	fail "an IKE message from the new port came before the mapping event"
sw a --list-sas --raw | grep -q "remote-port=$p1" ||
	fail "swanctl --list-sas on A: $(sw a --list-sas --raw)"
echo "   charon A: remote port $p0 -> $p1 (espressod's mapping event)"
# update_sa to where espressod is already: nothing sent, no move back
n=$(grep -c "espresso: SA 0x[0-9a-f]* is at $WA_IP\[$p1\] already" "$WORK/a.after")
[ "$n" = 2 ] || { cat "$WORK/a.after" >&2; fail "update_sa of the in and out SA: $n no-ops, want 2"; }
m1=$(mappings)
[ "$m1" = $((m0 + 1)) ] || fail "espressod A's tunnel moved $((m1 - m0)) times, want 1"

say "traffic both ways after the change"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B after the change"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A after the change"
[ "$(dport)" = "$p1" ] && [ "$(mappings)" = "$m1" ] || fail "espressod A moved again"
grep -q "espresso: sa update" "$WORK/a/charon.log" && fail "espressod refused an sa update"
for c in rx_auth rx_replay rx_no_sa; do
	v=$(stat_sum "$c")
	[ "$v" = 0 ] || fail "espresso counted $v $c"
done
say "PASS"
