#!/bin/bash
# The kernel's garbage collection of a next hop that only espresso uses
# (lib.sh neigh_gc: "Deleted ... STALE", made to happen in seconds; an
# `ip neigh del` would fail the entry first, another event): gw-a keeps
# the MAC while the kernel resolves it again, so no packet waits. IPv4
# next hop, then IPv6 (OUTER6: 4in6).
# Checks: while a ping runs every 50 ms, the kernel deletes the entry; gw-a
# holds no packet for a MAC (neigh_held), the ping loses none, and the
# kernel has the entry again, with the same MAC, afterwards.
# (test_router does the same to a LAN host of router mode.)
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

run_case() { # run_case 4|6
	local nh=192.0.2.2 mac h0 h1 n ping
	[ "$1" = 6 ] && nh=2001:db8::2
	say "IPv$1 next hop $nh: topology and gateways"
	topo_up
	gw_start a
	gw_start b
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || true
	ip netns exec "$NS_A" ping -q -c3 -i0.2 -W2 10.2.0.1 >/dev/null || fail "ping A->B"
	mac=$(ip -n "$NS_A" neigh show "$nh" dev eA | grep -o 'lladdr [0-9a-f:]*')
	[ -n "$mac" ] || fail "gw-a's kernel has no entry for $nh: $(ip -n "$NS_A" neigh show)"
	h0=$(counter "$(ctl a show stats | grep '^queue 0 ')" neigh_held)

	say "the kernel's GC deletes it under a ping every 50 ms"
	ip netns exec "$NS_A" ping -q -i 0.05 -W 1 -w 30 10.2.0.1 >"$WORK/ping" &
	ping=$!
	neigh_gc "$NS_A" eA "$nh" || fail "the kernel did not delete $nh in 20 s: $(cat "$WORK/neigh_gc.mon")"
	echo "   $(grep "^Deleted $nh" "$WORK/neigh_gc.mon" | head -1)"
	sleep 1
	kill -INT "$ping" # its summary
	wait "$ping"
	grep "packet loss" "$WORK/ping" | sed 's/^/   /'
	grep -q " 0% packet loss" "$WORK/ping" || fail "the ping lost packets: $(cat "$WORK/ping")"
	h1=$(counter "$(ctl a show stats | grep '^queue 0 ')" neigh_held)
	[ "$h1" = "$h0" ] || fail "gw-a held $((h1 - h0)) packet(s) for the MAC it had"
	for _ in $(seq 30); do
		n=$(ip -n "$NS_A" neigh show "$nh" dev eA | grep -o 'lladdr [0-9a-f:]*')
		[ -n "$n" ] && break
		sleep 0.1
	done
	[ "$n" = "$mac" ] || fail "gw-a's kernel did not resolve $nh again: $(ip -n "$NS_A" neigh show)"
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
}

run_case 4
OUTER6=1 OUTER_A=2001:db8::1 OUTER_B=2001:db8::2
run_case 6
say "PASS"
