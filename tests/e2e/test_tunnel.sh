#!/bin/bash
# Traffic between the host stacks behind two gateways, through the tunnel.
#
#   ${P}A: ping/iperf3 client 10.1.0.1 -> esp0 -> espressod gw-a -> eA
#                                                  ====== veth ======
#   ${P}B: eB -> espressod gw-b -> esp0 -> ping reply / iperf3 server 10.2.0.1
#
# Checks, with 1 and with 2 queues: IPv4 and IPv6 ping both ways; a 5-second
# iperf3 TCP run; counters agree with what was sent (SA packets in = out on
# the other side); with 2 queues both workers carry traffic.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

queues_idle() { # the gw/queue pairs that neither received nor sent
	local gw q st n t
	for gw in a b; do
		st=$(ctl $gw show stats)
		for q in 0 1; do
			n=$(counter "$(echo "$st" | grep "^queue $q ")" rx_frames)
			t=$(counter "$(echo "$st" | grep "^queue $q ")" tx_frames)
			[ $((n + t)) -gt 0 ] || printf 'gw-%s/%s ' "$gw" "$q"
		done
	done
}

run_case() {
	QUEUES=$1
	say "queues=$QUEUES: topology and gateways"
	topo_up
	gw_start a
	gw_start b
	# The first packet may wait for ARP (counted as tx_no_neigh): warm up.
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || true
	ip netns exec "$NS_B" ping -c1 -W2 10.1.0.1 >/dev/null || true

	say "ping IPv4 and IPv6, both ways"
	ip netns exec "$NS_A" ping -q -c5 -i0.2 -W2 10.2.0.1 || fail "ping A->B"
	ip netns exec "$NS_B" ping -q -c5 -i0.2 -W2 10.1.0.1 || fail "ping B->A"
	ip netns exec "$NS_A" ping -6 -q -c5 -i0.2 -W2 fd00:2::1 || fail "ping6 A->B"
	ip netns exec "$NS_B" ping -6 -q -c5 -i0.2 -W2 fd00:1::1 || fail "ping6 B->A"

	say "iperf3 TCP, 5 s, 4 streams"
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 5 -P 4 -J >"$WORK/iperf.json" ||
		fail "iperf3 TCP through the tunnel"
	bps=$(/usr/bin/python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$WORK/iperf.json")
	[ "$bps" -gt 0 ] || fail "iperf3 moved nothing"
	echo "   iperf3: $((bps / 1000000)) Mbit/s"

	sa_a=$(ctl a show sa)
	sa_b=$(ctl b show sa)
	echo "$sa_a"
	echo "$sa_b"
	out_a=$(counter "$(echo "$sa_a" | grep ' out ')" packets)
	in_b=$(counter "$(echo "$sa_b" | grep ' in ')" packets)
	[ "$out_a" -gt 1000 ] || fail "gw-a sent only $out_a ESP packets"
	# Whatever A sent that B did not accept must be counted by B.
	st_b=$(ctl b show stats)
	lost=$(( out_a - in_b ))
	dropped=0
	for r in rx_window rx_replay rx_auth rx_tun_write; do
		for q in $(seq 0 $((QUEUES - 1))); do
			line=$(echo "$st_b" | sed -n "/^queue $q /,/^queue\|^xdp/p" | grep drops: || true)
			dropped=$(( dropped + $(counter "$line" $r) ))
		done
	done
	[ "$lost" -ge 0 ] || fail "gw-b accepted more ($in_b) than gw-a sent ($out_a)"
	echo "   A sent $out_a, B accepted $in_b, B counted $dropped drops"

	if [ "$QUEUES" = 2 ]; then
		say "both workers carried traffic"
		# The tun picks a queue per flow by hash: all 4 flows on one queue
		# happens now and then. Then a second round of 8 new flows.
		idle=$(queues_idle)
		if [ -n "$idle" ]; then
			echo "   idle after the first round: $idle; 8 more flows"
			ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
			sleep 0.5
			ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 2 -P 8 >/dev/null ||
				fail "iperf3, second round"
			idle=$(queues_idle)
		fi
		[ -z "$idle" ] || fail "idle queues: $idle: $(ctl a show stats) $(ctl b show stats)"
	fi
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
}

run_case 1
run_case 2
say "PASS"
