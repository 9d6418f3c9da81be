#!/bin/bash
# A restart never leaks and never reuses:
#
#   ${P}A: pings 10.2.0.1, fd00:2::1          ${P}B: pings 10.1.0.1
#   esp0 10.1.0.1 fd00:1::1 (persistent tun)  esp0 10.2.0.1 fd00:2::1
#   default via 192.0.2.2 (as on a real gateway: a missing route leaks)
#   eA 192.0.2.1 (XDP) -- wA =[br0]= wB -- eB 192.0.2.2 (XDP)
#                              |
#                   ${P}W: tshark -i br0 (the wire as it is)
#
# gw-a is killed with SIGKILL while both sides ping, stays down a second,
# and starts again. Checks:
#  - while it is down its tun and the routes into it stay (v4 and v6), and
#    nothing of the protected prefixes crosses the wire in clear;
#  - ESP that reaches gw-a while it is down is dropped by its XDP program
#    and counted (drop_no_xsk);
#  - the restarted espressod adopts the tun (dropping the routes its config
#    no longer has) and replaces the XDP program in one step, and traffic
#    resumes within 2 s of the start;
#  - every ESP sequence number gw-a sends after the restart is above every
#    one it sent before (AES-GCM: a reused number is a reused IV);
#  - the ESP packet of gw-b that gw-a accepted last before the kill (its
#    replay top read a few ms before the SIGKILL; no time given for anything
#    to reach the disk), replayed to gw-a after the restart, is dropped and
#    counted as a replay (rx_replay + 1, rx_window + 0): gw-a keeps each
#    inbound SA's exact top in its tops file (a shared mapping the page
#    cache keeps after the process dies); no packet of gw-b was refused for
#    want of a persisted limit (rx_seq_unpersisted 0);
#  - after a reboot (simulated: the tops file's boot id changed, as the page
#    cache it lives in would be gone), gw-a warns, and its window restarts
#    at the limit persisted ahead of use: at or above the limit it had
#    published before the SIGKILL, so nothing it accepted is taken again;
#    traffic resumes once gw-b's numbers pass it (a ping flood from B's
#    side drives them there), the
#    numbers refused meanwhile counted as rx_replay, at most the gap;
#  - a second espressod for the same instance is refused, and the first
#    one's control socket still answers;
#  - a clean stop takes under 0.5 s, empties the tops file (the exact tops
#    are in the seqstore then), removes the tun and its routes, and
#    puts back threaded NAPI as it was before the first (killed) run.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
TS_PID= PING_PIDS=

trap capture_cleanup EXIT

in_sa_field() { # in_sa_field a|b SPI FIELD: of the inbound SA's show -j
	ctl "$1" -j show sa | $PY -c '
import json, sys
print(next(s[sys.argv[2]] for s in json.load(sys.stdin)
           if s["dir"] == "in" and int(s["spi"], 0) == int(sys.argv[1], 0)))' "$2" "$3"
}

ping_up() { # ping_up TRIES: ping through gw-a until one answers; its time
	for _ in $(seq "$1"); do
		if ip netns exec "$NS_A" ping -c 1 -W 0.1 10.2.0.1 >/dev/null 2>&1; then
			now
			return 0
		fi
	done
	return 1
}

in_sa_errors() { # in_sa_errors a|b REASON: the inbound SA's count
	ctl "$1" -j show sa | $PY -c '
import json, sys
n = sum(s["errors"].get(sys.argv[1], 0) for s in json.load(sys.stdin) if s["dir"] == "in")
print(n)' "$2"
}

topo_bridged
ip -n "$NS_A" route add default via 192.0.2.2
ip -n "$NS_B" route add default via 192.0.2.1
[ "$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)" = 0 ] || fail "threaded NAPI already on"
gw_start a
gw_start b
tunnel_ready

say "capture on the bridge; pings both ways every 20 ms"
ip netns exec "$NS_W" tshark -i br0 -w "$WORK/wire.pcap" -q 2>/dev/null &
TS_PID=$!
sleep 1.5
ip netns exec "$NS_A" ping -q -i 0.02 -W 1 10.2.0.1 >/dev/null 2>&1 &
PING_PIDS="$PING_PIDS $!"
ip netns exec "$NS_A" ping -6 -q -i 0.02 -W 1 fd00:2::1 >/dev/null 2>&1 &
PING_PIDS="$PING_PIDS $!"
ip netns exec "$NS_B" ping -q -i 0.02 -W 1 10.1.0.1 >/dev/null 2>&1 &
PING_PIDS="$PING_PIDS $!"
sleep 1 # traffic both ways; nothing waits for gw-a's state to be written

say "SIGKILL gw-a"
top_kill=$(in_sa_field a 0x2000 replay_top)
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=
t_kill=$(now)
sleep 0.3
ip -n "$NS_A" link show esp0 >/dev/null || fail "the tun went with the daemon"
ip -n "$NS_A" route show 10.2.0.0/16 | grep -q "dev esp0" ||
	fail "the IPv4 route into the tun went: $(ip -n "$NS_A" route)"
ip -n "$NS_A" -6 route show fd00:2::/64 | grep -q "dev esp0" ||
	fail "the IPv6 route into the tun went: $(ip -n "$NS_A" -6 route)"
! ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null 2>&1 ||
	fail "a ping got through while gw-a was down"
# gw-b's pings keep coming: its ESP reaches gw-a's XDP program, which has
# no socket to give it to
nox=$(xdp_counter "$NS_A" eA drop_no_xsk)
echo "   ESP dropped by gw-a's XDP program while it was down: drop_no_xsk $nox"
[ "$nox" -gt 0 ] || fail "no drop_no_xsk counted while gw-a was down"
# a route of a config that has changed since: the next start drops it
ip -n "$NS_A" route add 10.77.0.0/16 dev esp0 proto 229
sleep 0.5

say "start gw-a again"
t_start=$(now)
gw_start a
t_up=$(ping_up 100)
[ -n "$t_up" ] || fail "no traffic after the restart: $(cat "$WORK/gw-a.log")"
resume=$(elapsed "$t_start" "$t_up")
echo "   down $(elapsed "$t_kill" "$t_start") s; traffic $resume s after the start"
[ "$(echo "$resume < 2" | bc)" = 1 ] || fail "traffic resumed after $resume s"
grep -q "replaced the XDP program" "$WORK/gw-a.log" || fail "the old XDP program was not adopted"
! ip -n "$NS_A" route show | grep -q 10.77.0.0 || fail "a stale route stayed in the tun"
say "nothing of the protected prefixes in clear on the wire"
capture_end
wire_no_clear "$WORK/wire.pcap"

say "gw-a's sequence numbers after the restart are above those before it"
seq_above "$WORK/wire.pcap" 0x1000 "$t_kill" "$t_kill" || fail "sequence numbers reused"

say "an ESP packet from before the restart, replayed to gw-a: dropped as a replay"
r0=$(in_sa_errors a rx_replay)
w0=$(in_sa_errors a rx_window)
u0=$(in_sa_errors a rx_seq_unpersisted)
echo "   after the restart: gw-a refused $r0 of gw-b's packets as replays," \
	"$w0 as too old, $u0 for want of a persisted limit"
[ "$u0" = 0 ] || fail "$u0 packets of gw-b refused for want of a persisted limit"
$PY - "$WORK/wire.pcap" "$top_kill" <<'PY' >"$WORK/replay.hex" || fail "gw-b's ESP with seq $top_kill not captured"
import struct, sys
from scapy.all import rdpcap, IP
top = int(sys.argv[2])
for p in rdpcap(sys.argv[1]):
    if IP in p and p[IP].proto == 50 and p[IP].src == "192.0.2.2":
        spi, seq = struct.unpack("!II", bytes(p[IP].payload)[:8])
        if spi == 0x2000 and seq == top:
            break
else:
    sys.exit(1)
print("   replaying the last ESP gw-a accepted before the kill: spi 0x%08x "
      "seq %d" % (spi, seq), file=sys.stderr)
print(bytes(p).hex())
PY
ip netns exec "$NS_W" $PY - "$(cat "$WORK/replay.hex")" <<'PY'
import sys
from scapy.all import Ether, sendp
sendp(Ether(bytes.fromhex(sys.argv[1])), iface="wA", verbose=0)
PY
sleep 0.5
r1=$(in_sa_errors a rx_replay)
w1=$(in_sa_errors a rx_window)
echo "   rx_replay $r0 -> $r1, rx_window $w0 -> $w1"
[ $(( r1 - r0 )) = 1 ] && [ "$w1" = "$w0" ] ||
	fail "the replayed packet was not dropped as exactly one replay"

say "a reboot (simulated): gw-a restarts its window at the persisted limit"
top_k=$(in_sa_field a 0x2000 replay_top)
lim_k=$(in_sa_field a 0x2000 rx_limit)
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=
$PY - "$WORK/state-a/tops" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(8)
    f.write(b"simulated-reboot".ljust(40, b"\0"))
PY
gw_start a
grep -q "from before a reboot" "$WORK/gw-a.log" || fail "no warning about the reboot: $(cat "$WORK/gw-a.log")"
top_r=$(in_sa_field a 0x2000 replay_top)
echo "   before: top $top_k, limit $lim_k; restarted at $top_r"
[ "$top_r" -ge "$lim_k" ] && [ "$top_r" -gt "$top_k" ] ||
	fail "after the reboot the window starts at $top_r, below the limit $lim_k"
t_start=$(now)
# gw-b's numbers up to the limit: its echo requests, quicker than the pings
ip netns exec "$NS_B" ping -q -i 0.002 -c $(( top_r - top_k + 20 )) -W 0.05 10.1.0.1 >/dev/null 2>&1 || true
t_up=$(ping_up 150)
[ -n "$t_up" ] || fail "no traffic 15 s after the reboot: $(ctl a -j show sa) $(ctl b -j show sa)"
refused=$(in_sa_errors a rx_replay)
echo "   traffic $(elapsed "$t_start" "$t_up") s after the start, $refused of gw-b's numbers refused meanwhile (the gap: $(( top_r - top_k )))"
[ "$refused" -le $(( top_r - top_k )) ] || fail "$refused refused, more than the gap"

say "one espressod per instance"
if ip netns exec "$NS_A" "$ROOT/espressod" -c "$WORK/gw-a.conf" \
	--state-dir "$WORK/state-a" 2>"$WORK/second.log"; then
	fail "a second espressod for the instance started"
fi
grep -q "already running" "$WORK/second.log" || fail "no clear message: $(cat "$WORK/second.log")"
ctl a show stats >/dev/null || fail "the first espressod's control socket stopped answering"
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null ||
	fail "the first espressod stopped carrying traffic"

say "a clean stop: quick, and it removes the tun and its routes"
t0=$(now)
gw_stop a
took=$(elapsed "$t0" "$(now)")
echo "   stopped in $took s"
[ "$(echo "$took < 0.5" | bc)" = 1 ] || fail "the clean stop took $took s"
! ip -n "$NS_A" link show esp0 >/dev/null 2>&1 || fail "the tun stayed after a clean stop"
# the exact tops went to the seqstore: the tops file holds no record
hwm=$($PY -c 'import struct, sys; print(struct.unpack_from("<I", open(sys.argv[1], "rb").read(64), 52)[0])' "$WORK/state-a/tops")
[ "$hwm" = 0 ] || fail "the tops file kept $hwm slots after a clean stop"
napi=$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)
[ "$napi" = 0 ] || fail "threaded NAPI on eA is $napi after the clean stop, was 0"
say "PASS"
