#!/bin/bash
# espressod as an operator meets it:
#  - a bad config is refused before anything is attached (no XDP, no tun)
#  - SIGTERM and SIGINT stop it cleanly: XDP detached, pins removed, tun gone,
#    the uplink's threaded NAPI setting (auto: on for veth) put back
#  - with --xdp-attached it uses the program xdp-loader attached and its
#    pinned maps (bpftool prints them by field name), and leaves it attached
#  - keys never reach the log; a world-readable config gets a warning
#  - libxdp attaching without its dispatcher is a warning without -v
#
#   ${P}A eA (XDP) ===== veth ===== eB (XDP) ${P}B
source "$(dirname "$0")/lib.sh"
# the daemons below keep their state in the default /var/lib/espresso/$P-a
trap 'topo_down; rm -rf "/var/lib/espresso/$P-a"' EXIT
topo_up
BPF_OBJ=$ROOT/bpf/espresso.bpf.o

no_xdp() { ! ip -n "$1" link show "$2" | grep -q 'prog/xdp'; }
no_tun() { ! ip -n "$1" link show esp0 >/dev/null 2>&1; }

say "a bad config is refused before anything is attached"
conf=$(gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
	10.2.0.0/16 fd00:2::/64 0x1000 "$KEY_AB" 0x1000 "$KEY_BA")
if ip netns exec "$NS_A" "$ROOT/espressod" -c "$conf" 2>"$WORK/bad.log"; then
	fail "duplicate SPI accepted"
fi
cat "$WORK/bad.log"
grep -q "$conf:[0-9]*:.*inbound.spi" "$WORK/bad.log" || fail "no file:line: field in: $(cat "$WORK/bad.log")"
no_xdp "$NS_A" eA || fail "XDP attached by a refused config"
no_tun "$NS_A" || fail "tun left by a refused config"

say "espressod -t checks a config and exits"
conf=$(gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
	10.2.0.0/16 fd00:2::/64 0x1000 "$KEY_AB" 0x2000 "$KEY_BA")
ip netns exec "$NS_A" "$ROOT/espressod" -t -c "$conf" | grep -q OK || fail "-t"
no_xdp "$NS_A" eA || fail "-t attached XDP"

say "--xdp-attached without a program says how to attach one"
if ip netns exec "$NS_A" "$ROOT/espressod" --xdp-attached -c "$conf" 2>"$WORK/noprog.log"; then
	fail "--xdp-attached ran without a program"
fi
grep -q "xdp-loader load" "$WORK/noprog.log" || fail "no hint: $(cat "$WORK/noprog.log")"

for sig in TERM INT; do
	say "SIG$sig stops it cleanly"
	ip netns exec "$NS_A" bash -c "
		mount -t bpf bpf /sys/fs/bpf
		'$ROOT/espressod' -c '$conf' 2>'$WORK/run.log' &
		pid=\$!
		for i in \$(seq 50); do grep -q running '$WORK/run.log' && break; sleep 0.1; done
		ls /sys/fs/bpf/espresso/$P-a/ > '$WORK/pins.txt'
		ip link show eA > '$WORK/link.txt'
		cat /sys/class/net/eA/threaded > '$WORK/napi-during.txt'
		kill -$sig \$pid; wait \$pid; echo \$? > '$WORK/rc.txt'
		ls /sys/fs/bpf/espresso/$P-a 2>/dev/null | wc -l > '$WORK/pins-after.txt'
		cat /sys/class/net/eA/threaded > '$WORK/napi-after.txt'
	"
	[ "$(cat "$WORK/napi-during.txt")" = 1 ] || fail "threaded NAPI not on for veth: $(cat "$WORK/napi-during.txt")"
	[ "$(cat "$WORK/napi-after.txt")" = 0 ] || fail "threaded NAPI not put back: $(cat "$WORK/napi-after.txt")"
	grep -q "eA: threaded NAPI on (was 0" "$WORK/run.log" || fail "threaded NAPI not logged"
	grep -q espresso_sa_in "$WORK/pins.txt" || fail "maps not pinned: $(cat "$WORK/pins.txt")"
	grep -q prog/xdp "$WORK/link.txt" || fail "XDP was not attached"
	# libxdp attaching without its dispatcher: the operator hears it
	# without -v (the program shows under its own name, not the dispatcher's)
	if grep -q 'name espresso_xdp' "$WORK/link.txt"; then
		grep -q 'warning: eA: libxdp could not use its dispatcher' "$WORK/run.log" ||
			fail "attached without the dispatcher, no warning: $(cat "$WORK/run.log")"
	else
		grep -q 'could not use its dispatcher' "$WORK/run.log" &&
			fail "dispatcher warning with the dispatcher in use"
	fi
	[ "$(cat "$WORK/rc.txt")" = 0 ] || fail "exit status $(cat "$WORK/rc.txt")"
	[ "$(cat "$WORK/pins-after.txt")" = 0 ] || fail "pins left behind"
	no_xdp "$NS_A" eA || fail "XDP left attached after SIG$sig"
	no_tun "$NS_A" || fail "tun left after SIG$sig"
	[ ! -e "/run/espresso/$P-a.sock" ] || fail "control socket left"
	grep -q "XDP program detached" "$WORK/run.log" || fail "no detach in log"
	! grep -qi "$KEY_AB\|$KEY_BA" "$WORK/run.log" || fail "a key reached the log"
done

say "world-readable config: a warning"
chmod 644 "$conf"
ip netns exec "$NS_A" "$ROOT/espressod" -t -c "$conf" 2>"$WORK/perm.log" >/dev/null
grep -q "chmod 600" "$WORK/perm.log" || fail "no permission warning: $(cat "$WORK/perm.log")"
chmod 600 "$conf"

say "xdp-loader attaches, espressod --xdp-attached uses its maps"
# xdp-tools' lock: one left by an xdp-loader that died holding it makes
# every later xdp-loader refuse ("Unable to read PID from lockfile")
lck=/run/xdp-loader.lck
if [ -f "$lck" ] && ! kill -0 "$(cat "$lck" 2>/dev/null)" 2>/dev/null; then
	fail "$lck is stale (pid $(cat "$lck") is gone): xdp-loader refuses to run until it is removed"
fi
# and with threaded_napi = off turns threaded NAPI (set by the operator) off
# while it runs, and back on when it stops
conf_off=$(THREADED_NAPI=off gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 \
	192.0.2.2 10.2.0.0/16 fd00:2::/64 0x1000 "$KEY_AB" 0x2000 "$KEY_BA")
gw_start b
ip netns exec "$NS_A" bash -c "
	set -e
	mount -t bpf bpf /sys/fs/bpf
	mkdir -p /sys/fs/bpf/espresso/$P-a
	xdp-loader load -p /sys/fs/bpf/espresso/$P-a eA '$BPF_OBJ'
	echo 1 > /sys/class/net/eA/threaded
	'$ROOT/espressod' --xdp-attached -c '$conf_off' 2>'$WORK/att.log' &
	pid=\$!
	for i in \$(seq 50); do grep -q running '$WORK/att.log' && break; sleep 0.1; done
	# the first packets may wait for a next hop's MAC (tunnel_ready):
	# a few single pings first, then three that must all come back
	for i in 1 2 3; do ping -c1 -W1 10.2.0.1 >/dev/null && break; done
	'$ROOT/espressoctl' -i $P-a show stats > '$WORK/stats-warm-a.txt' || true
	ping -c3 -i0.3 -W2 10.2.0.1 > '$WORK/ping.txt' || true
	'$ROOT/espressoctl' -i $P-a show stats > '$WORK/stats-a.txt' || true
	bpftool map dump pinned /sys/fs/bpf/espresso/$P-a/espresso_sa_in > '$WORK/sa_map.txt'
	bpftool map dump pinned /sys/fs/bpf/espresso/$P-a/espresso_stats > '$WORK/stats_map.txt'
	cat /sys/class/net/eA/threaded > '$WORK/napi-during.txt'
	kill -TERM \$pid; wait \$pid
	cat /sys/class/net/eA/threaded > '$WORK/napi-after.txt'
	xdp-loader status eA > '$WORK/status.txt'
	bpftool map dump pinned /sys/fs/bpf/espresso/$P-a/espresso_sa_in > '$WORK/sa_map_after.txt'
	xdp-loader unload -a eA
"
grep -q '3 received' "$WORK/ping.txt" ||
	fail "no traffic with xdp-loader's program: $(cat "$WORK/ping.txt")
A's counters after the first pings: $(cat "$WORK/stats-warm-a.txt")
and after the three: $(cat "$WORK/stats-a.txt")
B: $(ctl b show stats)"
grep -q '"sa_index": 0' "$WORK/sa_map.txt" || fail "SA map: $(cat "$WORK/sa_map.txt")"
grep -q '"redirect_esp": [1-9]' "$WORK/stats_map.txt" || fail "stats map: $(cat "$WORK/stats_map.txt")"
grep -q espresso_xdp "$WORK/status.txt" || fail "espressod detached xdp-loader's program"
grep -q '"sa_index"' "$WORK/sa_map_after.txt" && fail "SPIs left in the map after stop"
[ "$(cat "$WORK/napi-during.txt")" = 0 ] || fail "threaded_napi = off left it on"
[ "$(cat "$WORK/napi-after.txt")" = 1 ] || fail "threaded NAPI not put back to 1"
no_xdp "$NS_A" eA || fail "xdp-loader unload"
say "PASS"
