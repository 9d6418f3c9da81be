#!/bin/bash
# espressod as systemd sees it, through a NOTIFY_SOCKET of our own
# (notify_listener.py plays systemd's side of sd_notify):
#  - READY=1 once it runs; WATCHDOG=1 at least every 0.5 s with
#    WATCHDOG_USEC=1000000 (sent every quarter of it), under traffic too
#  - RELOADING=1 then READY=1 around `espressoctl reload`; STOPPING=1 at SIGTERM
#  - logs with sd-daemon priority prefixes ("<4>warning: ...") when stderr is
#    what JOURNAL_STREAM names, plain ones otherwise; libxdp's fallback to an
#    attach without its dispatcher is a warning at the default level
#  - a worker that stops making progress (ESPRESSO_TEST_STALL_WORKER=1, a
#    test-only hook: worker 1 stalls a second after it starts): WATCHDOG=1
#    stops within 2 s, the log and STATUS= name worker 1, SIGTERM still stops it
#
#   notify_listener.py <- $WORK/notify.sock (NOTIFY_SOCKET, a path: it
#   |                     reaches across network namespaces)
#   ${P}A espressod gw-a, 2 queues              ${P}B espressod gw-b
#   eA 192.0.2.1 (XDP) ======= veth ======= eB 192.0.2.2 (XDP)
QUEUES=2
source "$(dirname "$0")/lib.sh"
NL="/usr/bin/python3 $ROOT/tests/e2e/notify_listener.py"
LPID=
cleanup() {
	[ -z "$LPID" ] || kill "$LPID" 2>/dev/null
	topo_down
}
trap cleanup EXIT
topo_up

SOCK=$WORK/notify.sock
NLOG=$WORK/notify.jsonl
LOG=$WORK/gw-a.log
$NL listen "$SOCK" "$NLOG" &
LPID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "the listener did not bind $SOCK"

# max_gap FROM TO TIMES...: the longest stretch without one of TIMES in [FROM, TO]
max_gap() {
	printf '%s\n' "${@:3}" | awk -v from="$1" -v to="$2" '
		{ if ($1 - prev > gap) gap = $1 - prev; prev = $1 }
		BEGIN { prev = from } END { if (to - prev > gap) gap = to - prev; printf "%.3f\n", gap }'
}

say "READY=1 once it runs (stderr is the journal: JOURNAL_STREAM matches it)"
: >"$LOG"
t0=$($NL now)
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 JOURNAL_STREAM=$(stat -c %d:%i "$LOG") \
	gw_start a
gw_start b
t_ready=$($NL wait "$NLOG" READY=1 --after "$t0") || fail "no READY=1"
grep -q '^<6>info: systemd watchdog: 1.0 s' "$LOG" || fail "watchdog not seen: $(cat "$LOG")"
grep -v '^<[34567]>' "$LOG" && fail "log lines without a priority prefix"
if ip -n "$NS_A" link show eA | grep -q 'name espresso_xdp'; then
	say "attached without libxdp's dispatcher: one warning at the default level"
	grep -q '^<4>warning: eA: libxdp could not use its dispatcher (.*), so espresso_xdp is attached alone: no other XDP program can share eA' \
		"$LOG" || fail "no dispatcher warning: $(cat "$LOG")"
fi

say "WATCHDOG=1 at least every 0.5 s, idle and under a ping flood"
tunnel_ready
ip netns exec "$NS_A" ping -f -w 3 10.2.0.1 >"$WORK/flood.txt"
grep -q ' 0% packet loss\|[1-9][0-9]* received' "$WORK/flood.txt" || fail "flood: $(cat "$WORK/flood.txt")"
t1=$($NL now)
mapfile -t wds < <($NL list "$NLOG" WATCHDOG=1 --after "$t_ready")
gap=$(max_gap "$t_ready" "$t1" "${wds[@]}")
echo "${#wds[@]} WATCHDOG=1 in $(awk "BEGIN{print $t1 - $t_ready}") s, longest gap $gap s"
awk "BEGIN{exit !($gap <= 0.5)}" ||
	fail "WATCHDOG=1 gap of $gap s: READY=1 at $t_ready, WATCHDOG=1 at ${wds[*]}, end $t1"
grep -q 'no progress' "$LOG" && fail "a worker taken for stuck: $(grep 'no progress' "$LOG")"

say "espressoctl reload: RELOADING=1, then READY=1"
t2=$($NL now)
ctl a reload || fail "reload"
t_rl=$($NL wait "$NLOG" RELOADING=1 --after "$t2") || fail "no RELOADING=1"
t_rd=$($NL wait "$NLOG" READY=1 --after "$t_rl") || fail "no READY=1 after RELOADING=1"
grep -q 'MONOTONIC_USEC=' "$NLOG" || fail "RELOADING=1 without MONOTONIC_USEC"
[ -z "$($NL list "$NLOG" READY=1 --after "$t2" --before "$t_rl")" ] ||
	fail "READY=1 before RELOADING=1"
echo "RELOADING=1 -> READY=1 in $(awk "BEGIN{print $t_rd - $t_rl}") s"

say "SIGTERM: STOPPING=1"
t3=$($NL now)
gw_stop a
$NL wait "$NLOG" STOPPING=1 --after "$t3" >/dev/null || fail "no STOPPING=1"
grep -q '^<6>info: stopped' "$LOG" || fail "no clean stop: $(tail -5 "$LOG")"

say "a stuck worker: WATCHDOG=1 stops, the log names it (stderr not the journal: plain lines)"
t4=$($NL now)
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 JOURNAL_STREAM=1:1 \
	ESPRESSO_TEST_STALL_WORKER=1 gw_start a
t_ready=$($NL wait "$NLOG" READY=1 --after "$t4") || fail "no READY=1"
# worker 1 stalls at most 1 s after READY=1; watch 4.5 s
sleep 4.5
t5=$($NL now)
mapfile -t wds < <($NL list "$NLOG" WATCHDOG=1 --after "$t_ready")
[ "${#wds[@]}" -ge 1 ] || fail "no WATCHDOG=1 before the stall"
last=${wds[-1]}
echo "${#wds[@]} WATCHDOG=1, the last $(awk "BEGIN{print $last - $t_ready}") s after READY=1," \
	"none in the $(awk "BEGIN{print $t5 - $last}") s since"
# the stall begins by t_ready + 1: the last WATCHDOG=1 within 2 s of it,
# then none for at least 2 s
awk "BEGIN{exit !($last - $t_ready < 3.0 && $t5 - $last > 2.0)}" ||
	fail "WATCHDOG=1 did not stop: ${wds[*]} (READY=1 at $t_ready, now $t5)"
grep -q '^espressod: error: worker 1 (uplink queue 1) made no progress for .* s: stuck; the systemd watchdog is no longer fed' \
	"$LOG" || fail "the log does not name worker 1: $(cat "$LOG")"
grep -q 'worker 0' "$LOG" && fail "worker 0 taken for stuck: $(cat "$LOG")"
grep -q '"STATUS=worker 1 stuck"' "$NLOG" || fail "no STATUS= naming worker 1"
grep -c 'no progress' "$LOG" | grep -qx 1 || fail "stall not rate-limited: $(grep 'no progress' "$LOG")"
grep 'no progress' "$LOG"
t6=$($NL now)
gw_stop a
$NL wait "$NLOG" STOPPING=1 --after "$t6" >/dev/null || fail "no STOPPING=1 with a stuck worker"
grep -q 'info: stopped' "$LOG" || fail "a stuck worker kept SIGTERM from stopping it: $(tail -5 "$LOG")"
say "PASS"
