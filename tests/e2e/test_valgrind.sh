#!/bin/bash
# espressod gw-a's whole life under valgrind memcheck (make check, and
# make valgrind alone), gw-b as built (its peer):
#   start; ping and iperf3 TCP and UDP through the tunnel; a reload by
#   espressoctl adding tunnel to-c and one by SIGHUP removing it; two
#   make-before-break rekeys of both directions (sa add in, sa add out,
#   sa del old in, as tests/e2e/test_rekey.sh); traffic again; SIGTERM.
# Passes when valgrind reports no error (invalid access, uninitialised
# value used, bad free, fd or syscall misuse) and no definitely or
# indirectly lost block, and the daemon exits 0.
# tests/e2e/valgrind.supp holds the suppressions, with their reason.
# About 20 s. Skipped for make check SANITIZE=1 (ASan and valgrind
# exclude each other; ASan's LeakSanitizer checks the same exits there).
source "$(dirname "$0")/lib.sh"
if ldd "$ROOT/espressod" | grep -q libasan; then
	echo "SKIP: espressod is built with ASan (make check SANITIZE=1)"
	exit 0
fi
cli='' srv=''
cleanup() {
	for p in $cli $srv; do kill "$p" 2>/dev/null || true; done
	topo_down
}
trap cleanup EXIT
PY=/usr/bin/python3
t0=$SECONDS

VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --error-exitcode=42 --num-callers=30
	--suppressions="$ROOT/tests/e2e/valgrind.supp" --gen-suppressions=all
	--log-file="$WORK/valgrind.log")
GW_WRAP_A="${VG[*]}"
GW_START_TRIES=${GW_START_TRIES:-600} # valgrind: up to 60 s to start

say "gw-a under valgrind, gw-b as built"
topo_up
gw_start a
echo "   gw-a up after $((SECONDS - t0)) s"
gw_start b
for _ in 1 2 3; do
	ip netns exec "$NS_A" ping -c1 -W3 10.2.0.1 >/dev/null && break
done

say "traffic: ping, iperf3 TCP A->B 3 s, UDP B->A 2 s"
traffic() {
	ip netns exec "$NS_A" ping -q -c 20 -i 0.05 -W 3 10.2.0.1 >"$WORK/ping.txt" 2>&1 ||
		fail "ping through the tunnel: $(cat "$WORK/ping.txt")"
	ip netns exec "$NS_A" ping -6 -q -c 5 -i 0.05 -W 3 fd00:2::1 >"$WORK/ping6.txt" 2>&1 ||
		fail "ping6 through the tunnel: $(cat "$WORK/ping6.txt")"
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 3 >"$WORK/tcp.txt" 2>&1 ||
		fail "iperf3 TCP: $(tail -3 "$WORK/tcp.txt")"
	wait $srv || true
	ip netns exec "$NS_A" iperf3 -s -1 -B 10.1.0.1 >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	ip netns exec "$NS_B" iperf3 -u -b 50M -c 10.1.0.1 -t 2 >"$WORK/udp.txt" 2>&1 ||
		fail "iperf3 UDP: $(tail -3 "$WORK/udp.txt")"
	wait $srv || true
	srv=''
	grep -E 'sender|receiver' "$WORK/tcp.txt" "$WORK/udp.txt" | sed 's/^/   /'
}
traffic

say "reload: tunnel to-c added (espressoctl reload), removed (SIGHUP)"
conf=$WORK/gw-a.conf
cp "$conf" "$WORK/orig-a.conf"
"$PY" - "$conf" "$(openssl rand -hex 36)" "$(openssl rand -hex 36)" >"$conf.new" <<'EOF'
import sys
src, ko, ki = sys.argv[1:]
t = open(src).read()
head, sep, tail = t.rpartition("  );\n")
assert sep, "no end of the tunnels list"
sys.stdout.write(head + f'''    ,{{ name = "to-c"; local = "192.0.2.1"; remote = "192.0.2.3"; encap = "esp";
      cipher = "aes-gcm-256"; replay_window = 1024; esn = true;
      outbound = {{ spi = 0x3000; key = "{ko}"; }};
      inbound  = {{ spi = 0x3001; key = "{ki}"; }};
      routes = [ "10.3.0.0/16" ]; }}
''' + sep + tail)
EOF
chmod 600 "$conf.new"
mv "$conf.new" "$conf"
out=$(ctl a reload 2>&1) || fail "reload adding to-c: $out"
ctl a show tunnels | grep -q '^tunnel to-c ' || fail "to-c not added"
cp "$WORK/orig-a.conf" "$conf"
n=$(grep -c 'reloaded ' "$WORK/gw-a.log")
kill -HUP "$PID_A"
for _ in $(seq 300); do
	[ "$(grep -c 'reloaded ' "$WORK/gw-a.log")" -gt "$n" ] && break
	sleep 0.1
done
[ "$(grep -c 'reloaded ' "$WORK/gw-a.log")" -gt "$n" ] || fail "SIGHUP: no reload"
ctl a show tunnels | grep -q '^tunnel to-c ' && fail "to-c not removed by SIGHUP"

say "rekey: two make-before-break rounds, both directions"
mkdir -m 700 "$WORK/keys"
rekey_dir() { # RX TX NEW OLD KEYFILE
	ctl "$1" sa add to-peer in spi "$3" key-file "$5" >/dev/null || fail "gw-$1 sa add in $3"
	ctl "$2" sa add to-peer out spi "$3" key-file "$5" >/dev/null || fail "gw-$2 sa add out $3"
	ctl "$1" sa del "$4" in >/dev/null || fail "gw-$1 sa del $4 in"
}
old_ab=$SPI_AB old_ba=$SPI_BA
for r in 1 2; do
	(umask 077; openssl rand -hex 36 >"$WORK/keys/ab-$r"; openssl rand -hex 36 >"$WORK/keys/ba-$r")
	new_ab=$(printf '0x%x' $((0x10000 + r)))
	new_ba=$(printf '0x%x' $((0x20000 + r)))
	rekey_dir b a "$new_ab" "$old_ab" "$WORK/keys/ab-$r"
	rekey_dir a b "$new_ba" "$old_ba" "$WORK/keys/ba-$r"
	old_ab=$new_ab old_ba=$new_ba
	ip netns exec "$NS_A" ping -q -c 3 -i 0.1 -W 3 10.2.0.1 >/dev/null || fail "ping after rekey $r"
done
ctl a show sa | sed 's/^/   /'
traffic

say "stop: SIGTERM, then valgrind's verdict"
kill -TERM "$PID_A"
for _ in $(seq 600); do kill -0 "$PID_A" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_A" 2>/dev/null && fail "gw-a still running 60 s after SIGTERM"
wait "$PID_A"
rc=$?
PID_A=
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|All heap blocks' \
	"$WORK/valgrind.log" | sed 's/^==[0-9]*== */   /'
echo "   exit status $rc; $((SECONDS - t0)) s in all"
if [ "$rc" != 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$WORK/valgrind.log"; then
	cat "$WORK/valgrind.log" >&2
	fail "valgrind: exit $rc (42: errors or leaks)"
fi
say "PASS"
