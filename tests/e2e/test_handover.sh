#!/bin/bash
# A stop for a restart (an upgrade) leaves no clear-text window:
#
#   ${P}A: pings 10.2.0.1, fd00:2::1           ${P}B
#   esp0 10.1.0.1 fd00:1::1 (persistent tun)   esp0 10.2.0.1 fd00:2::1
#   default via 192.0.2.2 (as on a real gateway: a missing route leaks)
#   eA 192.0.2.1 (XDP) -- wA =[br0]= wB -- eB 192.0.2.2 (XDP)
#                              |
#                   ${P}W: tshark -i br0 (the wire as it is)
#
# `espressoctl stop keep` stops gw-a while A pings, as the package's
# postinst does on an upgrade (with SIGUSR2). Checks:
#  - espressoctl returns once espressod is done (its instance lock free),
#    and espressod exits 0;
#  - while it is down the tun and its routes (v4, v6), the XDP program and
#    threaded NAPI stay, and no ping gets through;
#  - ESP of gw-a's inbound SPI sent to it meanwhile (20 packets, injected
#    on the bridge) is dropped and counted by the XDP program: drop_no_xsk
#    +20 exactly, drop_unknown_spi +0 (the SPIs stay in its map);
#  - the next start adopts it all (and says so as info, not as a warning);
#    traffic resumes within 2 s of the start;
#  - nothing of the protected prefixes crossed the wire in clear, and every
#    ESP sequence number gw-a sends after the restart is above those before;
#  - SIGUSR2 does the same (the tun survives it, traffic resumes);
#  - a plain SIGTERM still removes everything: routes, tun, XDP program,
#    and puts threaded NAPI back; `espressoctl stop` (gw-b) as well.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
TS_PID= PING_PIDS=

trap capture_cleanup EXIT

# kept_in_place: the tun, its routes and the XDP program are still there
kept_in_place() {
	ip -n "$NS_A" link show esp0 >/dev/null 2>&1 || fail "$1: the tun went"
	ip -n "$NS_A" route show 10.2.0.0/16 | grep -q "dev esp0" ||
		fail "$1: the IPv4 route into the tun went: $(ip -n "$NS_A" route)"
	ip -n "$NS_A" -6 route show fd00:2::/64 | grep -q "dev esp0" ||
		fail "$1: the IPv6 route into the tun went: $(ip -n "$NS_A" -6 route)"
	has_xdp "$NS_A" eA || fail "$1: the XDP program was detached"
}

# unlocked GW: the instance's lock is free (espressod released it, at the
# end of its stop)
unlocked() { flock -n "/run/espresso/$P-$1.lock" true; }

# resume_time: seconds from now until a ping to 10.2.0.1 gets through
resume_time() {
	local t0 t
	t0=$(now)
	for _ in $(seq 100); do
		if ip netns exec "$NS_A" ping -c 1 -W 0.1 10.2.0.1 >/dev/null 2>&1; then
			t=$(elapsed "$t0" "$(now)")
			[ "$(echo "$t < 2" | bc)" = 1 ] || fail "traffic resumed after $t s"
			echo "$t"
			return
		fi
	done
	fail "no traffic after the restart: $(cat "$WORK/gw-a.log")"
}

topo_bridged
ip -n "$NS_A" route add default via 192.0.2.2
ip -n "$NS_B" route add default via 192.0.2.1
[ "$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)" = 0 ] || fail "threaded NAPI already on"
gw_start a
gw_start b
tunnel_ready
MAC_A=$(ip -n "$NS_A" -br link show eA | awk '{print $3}')

say "capture on the bridge; A pings B every 20 ms (IPv4, IPv6)"
ip netns exec "$NS_W" tshark -i br0 -w "$WORK/wire.pcap" -q 2>/dev/null &
TS_PID=$!
sleep 1.5
ip netns exec "$NS_A" ping -q -i 0.02 -W 1 10.2.0.1 >/dev/null 2>&1 &
PING_PIDS="$PING_PIDS $!"
ip netns exec "$NS_A" ping -6 -q -i 0.02 -W 1 fd00:2::1 >/dev/null 2>&1 &
PING_PIDS="$PING_PIDS $!"
sleep 2

say "espressoctl stop keep (gw-a)"
out=$(ctl a stop keep) || fail "espressoctl stop keep: $out"
t_stop=$(now)
echo "   espressoctl: $out"
unlocked a || fail "espressoctl stop keep returned before espressod was done"
wait "$PID_A"
rc=$?
PID_A=
[ "$rc" = 0 ] || fail "espressod exited $rc after stop keep"
grep -q "stopping for a restart" "$WORK/gw-a.log" || fail "no 'stopping for a restart' in the log"
kept_in_place "after stop keep"
[ "$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)" = 1 ] ||
	fail "threaded NAPI was put back by a stop for a restart"
! ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null 2>&1 ||
	fail "a ping got through while gw-a was down"

say "20 ESP packets of gw-a's inbound SPI while it is down: dropped, counted"
nox0=$(xdp_counter "$NS_A" eA drop_no_xsk)
unk0=$(xdp_counter "$NS_A" eA drop_unknown_spi)
ip netns exec "$NS_W" $PY - "$MAC_A" "$SPI_BA" 2>"$WORK/scapy.log" <<'PY'
import sys
from scapy.all import Ether, IP, Raw, sendp
spi = int(sys.argv[2], 0)
pkts = [Ether(dst=sys.argv[1]) / IP(src="192.0.2.2", dst="192.0.2.1", proto=50) /
        Raw(spi.to_bytes(4, "big") + (1000000 + i).to_bytes(4, "big") + bytes(64))
        for i in range(20)]
sendp(pkts, iface="wA", verbose=0)
PY
sleep 0.3
nox1=$(xdp_counter "$NS_A" eA drop_no_xsk)
unk1=$(xdp_counter "$NS_A" eA drop_unknown_spi)
echo "   drop_no_xsk $nox0 -> $nox1, drop_unknown_spi $unk0 -> $unk1"
[ $((nox1 - nox0)) = 20 ] || fail "drop_no_xsk counted $((nox1 - nox0)) of 20"
[ $((unk1 - unk0)) = 0 ] || fail "the SPI was no longer in the XDP map"

say "start gw-a again: it adopts what the stop left"
t_start=$(now)
gw_start a
resume=$(resume_time)
echo "   down $(elapsed "$t_stop" "$t_start") s; traffic $resume s after the start"
# expected after a stop for a restart: news, not a warning as after a crash
grep -q "stopped for a restart: adopting" "$WORK/gw-a.log" &&
	grep -qE "info: .*(replaced|detached) the XDP program an earlier espressod left" "$WORK/gw-a.log" ||
	fail "the XDP program left in place was not adopted (at level info): $(cat "$WORK/gw-a.log")"
say "nothing of the protected prefixes in clear on the wire"
capture_end
wire_no_clear "$WORK/wire.pcap"

say "gw-a's sequence numbers after the restart are above those before it"
seq_above "$WORK/wire.pcap" "$SPI_AB" "$t_stop" "$t_start" || fail "sequence numbers reused, or none"

say "SIGUSR2: the same stop for a restart"
kill -USR2 "$PID_A"
wait "$PID_A"
rc=$?
PID_A=
[ "$rc" = 0 ] || fail "espressod exited $rc on SIGUSR2"
[ "$(grep -c "stopping for a restart" "$WORK/gw-a.log")" = 1 ] || fail "SIGUSR2 not logged as a stop for a restart"
kept_in_place "after SIGUSR2"
gw_start a
echo "   tun and routes kept; traffic $(resume_time) s after the start"

say "SIGTERM: a clean stop still removes everything"
gw_stop a
! ip -n "$NS_A" link show esp0 >/dev/null 2>&1 || fail "the tun stayed after a clean stop"
ip -n "$NS_A" route show | grep -q "10.2.0.0/16" && fail "the route stayed after a clean stop"
has_xdp "$NS_A" eA && fail "the XDP program stayed after a clean stop"
napi=$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)
[ "$napi" = 0 ] || fail "threaded NAPI on eA is $napi after the clean stop, was 0"
echo "   tun, routes and XDP program gone; threaded NAPI back to 0"

say "espressoctl stop (gw-b): a clean stop too"
out=$(ctl b stop) || fail "espressoctl stop: $out"
unlocked b || fail "espressoctl stop returned before espressod was done"
wait "$PID_B"
rc=$?
PID_B=
[ "$rc" = 0 ] || fail "espressod exited $rc after espressoctl stop"
! ip -n "$NS_B" link show esp0 >/dev/null 2>&1 || fail "gw-b's tun stayed after espressoctl stop"
has_xdp "$NS_B" eB && fail "gw-b's XDP program stayed after espressoctl stop"
echo "   espressoctl: $out; tun and XDP program gone"
say "PASS"
