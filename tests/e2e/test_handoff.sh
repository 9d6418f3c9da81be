#!/bin/bash
# Per-queue SA pairs (RFC 9611 style) and software handoff, 2 queues.
#
#   ${P}A                                   ${P}B
#   gw-a queue 0 -- SA pair 0 --> eA ==== eB --> queue 0 --> gw-b worker 0 (owns pair 0)
#   gw-a queue 1 -- SA pair 1 --> eA ==== eB --> queue 1 --> gw-b worker 1 (owns pair 1)
#
#  1. two real gateways, sa_pairs = 2: traffic flows, both pairs carry it,
#     each SA is used by its own worker, with keys derived by HKDF
#  2. scapy, pinned to CPU 0 with XPS sending on queue 0 only, sends ESP of
#     pair 1 (its key derived independently in Python): it lands on gw-b's
#     queue 0, worker 0 hands every packet to worker 1 (counted), which
#     decrypts it; B's host sees the echo requests in order and answers
#     through the tunnel
#  3. espressoctl trace shows one such packet at both workers
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
QUEUES=2
SA_PAIRS=2
stat_q() { # stat_q a|b QUEUE NAME
	counter "$(ctl "$1" show stats | grep "^queue $2 ")" "$3"
}

say "1. two gateways, 2 queues, 2 SA pairs"
topo_up
gw_start a
gw_start b
ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || fail "no path"
# The host's tun picks a queue by flow hash, and the flow stays on the
# queue its first packet took (tun's flow table follows the replies), so
# which pairs carry 8 flows is chance: all on one queue is 1 run in 128.
# Another round of 8 new flows makes that 1 in 16384 (and says so).
both_used() {
	local spi line
	for spi in 0x00001000 0x00001001; do
		line=$(grep " out spi $spi " "$WORK/sa_a.txt") || fail "no SA $spi"
		[ "$(counter "$line" packets)" -gt 0 ] || return 1
	done
}
for round in 1 2; do
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 3 -P 8 >"$WORK/iperf.txt" || fail "iperf3"
	wait $srv
	grep SUM "$WORK/iperf.txt" | tail -1
	ctl a show sa | tee "$WORK/sa_a.txt"
	both_used && break
	echo "   round $round: all flows hashed onto one queue, another 8 flows"
done
both_used || fail "an SA pair stayed idle over 16 flows: $(cat "$WORK/sa_a.txt")"
grep -q ' out spi 0x00001000 .* worker 0 ' "$WORK/sa_a.txt" || fail "pair 0 owner"
grep -q ' out spi 0x00001001 .* worker 1 ' "$WORK/sa_a.txt" || fail "pair 1 owner"
! ctl b show sa | grep -q 'errors:.*rx_auth' || fail "authentication failures"

say "2. ESP of pair 1 landing on queue 0: handed to worker 1"
gw_stop a
ip netns exec "$NS_A" sh -c 'echo 1 > /sys/class/net/eA/queues/tx-0/xps_cpus; echo 2 > /sys/class/net/eA/queues/tx-1/xps_cpus'
mac_b=$(ip -n "$NS_B" -o link show eB | sed 's/.*link\/ether \([0-9a-f:]*\).*/\1/')
out0=$(stat_q b 0 handoff_out) in1=$(stat_q b 1 handoff_in)
ip netns exec "$NS_B" tshark -i esp0 -f 'icmp[icmptype] == 8' -w "$WORK/tun.pcap" -q 2>/dev/null &
tspid=$!
sleep 1.5
count=50
top=$(counter "$(ctl b show sa | grep ' in spi 0x00001001 ')" replay_top)
ip netns exec "$NS_A" taskset -c 0 /usr/bin/python3 "$(dirname "$0")/handoff_inject.py" \
	eA "$mac_b" "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA" 2 1 $count $((top + 1)) ||
	fail "ESP of pair 1 through worker 0"
sleep 0.5
kill $tspid
wait $tspid 2>/dev/null || true
ho=$(( $(stat_q b 0 handoff_out) - out0 ))
hi=$(( $(stat_q b 1 handoff_in) - in1 ))
echo "   gw-b: worker 0 handed $ho packets over, worker 1 took $hi"
[ "$ho" = $count ] || fail "handoff_out $ho, want $count: $(ctl b show stats)"
[ "$hi" = $count ] || fail "handoff_in $hi, want $count"
seqs=$(tshark -r "$WORK/tun.pcap" -Y 'icmp.ident == 0x5150' -T fields -e icmp.seq 2>/dev/null | tr '\n' ' ')
want=$(seq 1 $count | tr '\n' ' ')
[ "$seqs" = "$want" ] || fail "B's host saw the requests out of order: $seqs"
audit=$(ctl b show frames)
echo "$audit"
[ "$(echo "$audit" | grep -c ' OK$')" = 2 ] || fail "frame audit"
for q in 0 1; do
	line=$(echo "$audit" | grep "^queue $q ")
	[ "$(counter "$line" handoff)" = 0 ] || fail "frames still lent: $line"
done

say "3. espressoctl trace of a handed packet: at worker 0, then at worker 1"
top=$(counter "$(ctl b show sa | grep ' in spi 0x00001001 ')" replay_top)
/usr/bin/python3 "$(dirname "$0")/trace_check.py" stream "/run/espresso/$P-b.sock" \
	"trace 2 in spi 0x1001" "$WORK/trace" -- ip netns exec "$NS_A" taskset -c 0 \
	/usr/bin/python3 "$(dirname "$0")/handoff_inject.py" eA "$mac_b" "$SPI_AB" \
	"$KEY_AB" "$SPI_BA" "$KEY_BA" 2 1 1 $((top + 1)) || fail "trace"
cat "$WORK/trace"
grep -q '^.* in q0: xdp redirect 192.0.2.1 > 192.0.2.2, [0-9]* bytes | sa 0x00001001 tunnel to-peer | out handoff to q1$' \
	"$WORK/trace" || fail "the receiving worker's trace line"
grep -q "^.* in q1 (from q0): .* | sa 0x00001001 tunnel to-peer seq $((top + 1)) | crypto ok | inner 10.1.0.1 > 10.2.0.1 icmp echo-request id 20816 seq 1, 40 bytes | route ok | out tun$" \
	"$WORK/trace" || fail "the owner's trace line"
say "PASS"
