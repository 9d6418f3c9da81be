#!/bin/bash
# tun offloads, MTU, fragmentation and reassembly, end to end.
#
#   ${P}A host -> esp0 (virtio_net_hdr: TSO super-packets) -> gw-a: GSO before ESP
#        ====== veth (MTU WIRE_MTU) ======
#   ${P}B gw-b: reassembly, ESP, GRO -> esp0 (super-packets) -> host
#
#  1. offloads on: TCP works, A segments super-packets (gso_super > 0), B
#     merges (gro_merged > 0) and its tun shows packets bigger than the MTU;
#     UDP datagrams are merged too (UDP GRO); no checksum errors in either
#     kernel (nstat)
#  2. offloads off: TCP works, no checksum errors, nothing merged
#  3. tun MTU 1500 over a 1446-byte tunnel: a DF ping of 1500 bytes gets
#     "fragmentation needed" and the host learns MTU 1446 (ip route get); a
#     non-DF one is fragmented before encryption and answered; MSS clamped
#  4. fragment = "outer": the ESP packet is fragmented, B reassembles it
#  5. scapy's ESP in outer fragments, out of order, reassembled and answered
#  6. wire MTU 1300 under a 1400-byte tun, no MSS clamping: TCP still works
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

csum_errors() { # csum_errors NS: checksum errors the kernel counted
	ip netns exec "$1" nstat -az TcpInCsumErrors UdpInCsumErrors \
		IpExtInCsumErrors 2>/dev/null | awk 'NR > 1 {s += $2} END {print s + 0}'
}
stat_sum() { # stat_sum a|b NAME: a per-queue counter summed over queues
	ctl "$1" show stats | grep '^queue' |
		awk -v n="$2" '{for (i = 1; i < NF; i++) if ($i == n) s += $(i + 1)} END {print s + 0}'
}
tcp_run() { # tcp_run SECONDS: iperf3 A -> B through the tunnel
	local srv
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t "$1" >"$WORK/iperf.txt" 2>&1 ||
		fail "iperf3: $(cat "$WORK/iperf.txt")"
	grep receiver "$WORK/iperf.txt"
	wait $srv
}
restart() {
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
	topo_up
	gw_start a
	gw_start b
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || fail "no path"
}

say "1. offloads on"
OFFLOAD=true restart
# headers only (-s 64): 3 s at 3 Gbit/s is a gigabyte in full, and reading
# that back took minutes whenever dumpcap kept up with all of it
ip netns exec "$NS_B" tshark -i esp0 -s 64 -w "$WORK/tun.pcap" -q 2>/dev/null &
tspid=$!
sleep 1.5
tcp_run 3
sleep 0.5
kill $tspid; wait $tspid 2>/dev/null || true
tshark -r "$WORK/tun.pcap" -T fields -e ip.len 2>/dev/null >"$WORK/lens.txt"
big=$(awk '$1 > 1400' "$WORK/lens.txt" | wc -l)
max=$(sort -n "$WORK/lens.txt" | tail -1)
echo "   tun capture: $big packets bigger than the 1400-byte MTU, the largest $max bytes"
[ "$big" -gt 0 ] || fail "no super-packets on B's tun"
[ "$(stat_sum a gso_super)" -gt 0 ] || fail "gw-a segmented nothing: $(ctl a show stats)"
[ "$(stat_sum b gro_merged)" -gt 0 ] || fail "gw-b merged nothing: $(ctl b show stats)"
for ns in "$NS_A" "$NS_B"; do
	[ "$(csum_errors "$ns")" = 0 ] || fail "checksum errors in $ns"
done

say "   UDP through the tunnel: datagrams merged toward B's host (UDP GRO)"
merged=$(stat_sum b gro_merged)
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
srv=$!
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -u -b 800M -l 1200 -t 2 >/dev/null 2>&1 ||
	fail "iperf3 UDP"
wait $srv
echo "   gw-b merged $(( $(stat_sum b gro_merged) - merged )) more segments"
[ $(( $(stat_sum b gro_merged) - merged )) -gt 0 ] || fail "no UDP datagram merged"
for ns in "$NS_A" "$NS_B"; do
	[ "$(csum_errors "$ns")" = 0 ] || fail "checksum errors in $ns"
done

say "2. offloads off"
OFFLOAD=false restart
tcp_run 3
[ "$(stat_sum b gro_merged)" = 0 ] || fail "merged with offloads off"
[ "$(stat_sum a gso_super)" = 0 ] || fail "super-packets with offloads off"
for ns in "$NS_A" "$NS_B"; do
	[ "$(csum_errors "$ns")" = 0 ] || fail "checksum errors in $ns"
done

say "3. DF ping over the tunnel MTU: ICMP, path MTU learned; non-DF fragmented"
OFFLOAD=true TUN_MTU=1500 restart
ip netns exec "$NS_A" ping -M do -s 1472 -c 2 -W 1 10.2.0.1 >"$WORK/df.txt" 2>&1 || true
cat "$WORK/df.txt" | head -3
[ "$(stat_sum a icmp_sent)" -ge 1 ] || fail "no ICMP sent: $(ctl a show stats)"
ip netns exec "$NS_A" ip route get 10.2.0.1 | tee "$WORK/route.txt"
grep -q "mtu 1446" "$WORK/route.txt" || fail "path MTU not learned"
ip netns exec "$NS_A" ping -M do -s 1418 -c 2 -W 2 10.2.0.1 >/dev/null ||
	fail "a 1446-byte DF ping did not pass"
ip netns exec "$NS_A" ip route flush cache
segs=$(stat_sum a gso_segments)
ip netns exec "$NS_A" ping -M dont -s 1472 -c 2 -W 2 10.2.0.1 >/dev/null ||
	fail "a 1500-byte non-DF ping did not pass"
[ $(( $(stat_sum a gso_segments) - segs )) -ge 4 ] || fail "not fragmented before encryption"
say "   MSS clamping: the SYN B's host sees"
ip netns exec "$NS_B" tshark -i esp0 -f 'tcp[tcpflags] & tcp-syn != 0' -w "$WORK/syn.pcap" -q 2>/dev/null &
tspid=$!
sleep 1.5
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 1 >/dev/null || fail "iperf3"
sleep 0.5
kill $tspid; wait $tspid 2>/dev/null || true
mss=$(tshark -r "$WORK/syn.pcap" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields -e tcp.options.mss_val 2>/dev/null | sort -u)
echo "   MSS seen by B: $mss (tun MTU 1500 would allow 1460; the tunnel 1406)"
[ "$mss" = 1406 ] || fail "MSS not clamped to 1406: '$mss'"
[ "$(stat_sum a mss_clamped)" -ge 1 ] || fail "mss_clamped not counted"

say "4. fragment = \"outer\": ESP fragmented by A, reassembled by B"
OFFLOAD=true TUN_MTU=1500 FRAGMENT=outer restart
ip netns exec "$NS_A" ping -M dont -s 1472 -c 3 -i 0.3 -W 2 10.2.0.1 >/dev/null ||
	fail "non-DF ping with outer fragmentation"
[ "$(stat_sum a frag_out)" -ge 6 ] || fail "A sent no outer fragments: $(ctl a show stats)"
[ "$(stat_sum b rx_reassembled)" -ge 3 ] || fail "B reassembled nothing: $(ctl b show stats)"
[ "$(counter "$(ctl b show xdp)" redirect_frag)" -ge 6 ] || fail "XDP did not redirect fragments"

say "5. scapy's ESP in outer fragments, out of order"
OFFLOAD=true restart
gw_stop a # scapy plays gateway A (XDP would hide the reply from its sniffer)
mac_b=$(ip -n "$NS_B" -o link show eB | sed 's/.*link\/ether \([0-9a-f:]*\).*/\1/')
before=$(stat_sum b rx_reassembled)
ip netns exec "$NS_A" /usr/bin/python3 "$(dirname "$0")/frag_inject.py" eA "$mac_b" \
	"$SPI_AB" "$KEY_AB" 5000 "$SPI_BA" "$KEY_BA" 1200 400 2,0,3,1 ||
	fail "fragmented ESP from scapy; B: $(ctl b show stats)"
[ $(( $(stat_sum b rx_reassembled) - before )) = 1 ] || fail "reassembled count"
ctl b show stats | grep reasm:

say "6. a path MTU smaller than the segment size"
OFFLOAD=true WIRE_MTU=1300 MSS_CLAMP=false restart
tcp_run 3
for ns in "$NS_A" "$NS_B"; do
	[ "$(csum_errors "$ns")" = 0 ] || fail "checksum errors in $ns"
done
say "PASS"
