#!/bin/bash
# espressoctl, the client side of the control protocol, against a fake daemon:
#
#   ./espressoctl -s $T/ctl.sock ...   ---- request lines ---->   ctl_fake_server.py
#                                      <-- "ESPRESSO code len\n"   (logs each request
#                                           + body                   line to $T/requests)
#
# No espressod, no namespaces: only ./espressoctl (built by make), bash,
# coreutils and /usr/bin/python3. Checks exit codes 0/1/2, stdout and stderr,
# -j as a leading token, --help and --version, key-file replaced by key HEX
# with the key never printed (and a warning for a 0644 key file), replies of
# 70,000 bytes, truncated and malformed replies, monitor streaming line by
# line, batches (-b FILE and -b -: "batch begin"/"batch end" around, comments
# and blanks skipped, stop at the first failure naming FILE:LINE, 40,000 lines)
# and a dead socket.
set -u
cd "$(dirname "$0")/../.." || exit 1
export LC_ALL=C
PY=/usr/bin/python3
CTL=./espressoctl
T=$(mktemp -d /tmp/espresso-ctl.XXXXXX)
SOCK=$T/ctl.sock
LOG=$T/requests
GATE=$T/monitor-go
SRV=

cleanup() {
	if [ -n "$SRV" ]; then
		kill "$SRV" 2>/dev/null
		wait "$SRV" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$CTL" ] || fail "no ./espressoctl in $(pwd): build it first (make espressoctl)"
[ -x "$PY" ] || fail "no $PY"

# ctl ARGS...: run espressoctl; stdout in $T/out, stderr in $T/err, status in $rc
ctl() {
	timeout 60 "$CTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# ctl_in FILE ARGS...: the same with standard input from FILE
ctl_in() {
	local in=$1
	shift
	timeout 60 "$CTL" "$@" <"$in" >"$T/out" 2>"$T/err"
	rc=$?
}
show() { printf '%s' "$(head -c 400 "$1")"; }
expect_rc() { # expect_rc N WHAT
	[ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1; stdout: $(show "$T/out"); stderr: $(show "$T/err")"
}
same() { # same FILE TEXT WHAT: FILE holds exactly TEXT (trailing newlines count)
	[ "$(cat "$1"; printf .)" = "$2." ] ||
		fail "$3: got [$(show "$1")], expected [$2]"
}
has() { # has FILE STRING WHAT
	grep -qF -- "$2" "$1" || fail "$3: no '$2' in [$(show "$1")]"
}
hasnt() { # hasnt FILE STRING WHAT
	! grep -qF -- "$2" "$1" || fail "$3: '$2' in [$(show "$1")]"
}
reset_log() { : >"$LOG"; }

say "start the fake control socket $SOCK"
"$PY" tests/e2e/ctl_fake_server.py "$SOCK" "$LOG" "$GATE" &
SRV=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.05
done
[ -S "$SOCK" ] || fail "fake server did not start"

say "--help and -h: every command, key-file advice, the socket directory"
ctl --help
expect_rc 0 "--help"
same "$T/err" "" "--help stderr"
for s in "usage: espressoctl [-i INSTANCE | -s SOCKET] [-j] COMMAND [ARGS...]" \
	"espressoctl [-i INSTANCE | -s SOCKET] [-j] -b FILE" \
	"show sa" "show tunnels" "show routes" "show stats" "show frames" "show xdp" \
	"tunnel add NAME local ADDR remote ADDR [encap esp|udp] [cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305] [replay-window N] [esn on|off] [fragment inner|outer] [remote-port N] [keepalive SECONDS]" \
	"tunnel del NAME" \
	"sa add TUNNEL in|out spi SPI key HEX|key-file FILE [soft-lifetime SECONDS] [hard-lifetime SECONDS] [soft-bytes N] [hard-bytes N] [soft-packets N] [hard-packets N]" \
	"sa del SPI [in|out]" "sa update SPI remote ADDR [sport N dport N]" \
	"route add PREFIX tunnel NAME [via NEXTHOP] [ecmp on|off]" "route del PREFIX [vrf NAME]" "reload" "monitor" "monitor ike" \
	"[keepalive SECONDS] [local-port N] [vrf NAME]" \
	"show peers" "tunnel add NAME local ADDR p2mp on" "peer add HUB NEXTHOP remote ADDR [remote-port N]" \
	"peer del HUB NEXTHOP" "[child NAME] [peer NEXTHOP]" \
	'"key-file FILE" is the safe way' "shows in ps" "/run/espresso/INSTANCE.sock"; do
	has "$T/out" "$s" "--help"
done
cp "$T/out" "$T/help"
ctl -h
expect_rc 0 "-h"
cmp -s "$T/out" "$T/help" || fail "-h differs from --help"

say "--version and -V print the version from include/espresso/version.h"
ver=$(sed -n 's/^#define ESPRESSO_VERSION "\(.*\)"$/\1/p' include/espresso/version.h)
[ -n "$ver" ] || fail "no ESPRESSO_VERSION in include/espresso/version.h"
for v in --version -V; do
	ctl $v
	expect_rc 0 "$v"
	same "$T/out" "espressoctl $ver"$'\n' "$v"
done

say "usage errors exit 2 and send nothing"
reset_log
ctl -s "$SOCK"
expect_rc 2 "no command"
has "$T/err" "no command" "no command"
ctl -s "$SOCK" -j
expect_rc 2 "-j alone"
ctl -s "$SOCK" -x show sa
expect_rc 2 "unknown option"
has "$T/err" "unknown option -x" "unknown option"
ctl -s "$SOCK" --bogus show sa
expect_rc 2 "unknown long option"
has "$T/err" "unknown option --bogus" "unknown long option"
ctl -s "$SOCK" -b
expect_rc 2 "-b without FILE"
ctl -s "$SOCK" -i gw show sa
expect_rc 2 "-i with -s"
ctl -s "$SOCK" -b "$T/none" show sa
expect_rc 2 "-b with a command"
ctl -s "$SOCK" -b "$T/none"
expect_rc 2 "-b missing file"
same "$T/err" "espressoctl: -b $T/none: No such file or directory"$'\n' "-b missing file"
ctl -s "$SOCK" -b "$T"
expect_rc 2 "-b directory"
ctl -s "$SOCK" echo "a b"
expect_rc 2 "token with a space"
has "$T/err" "contains whitespace or a newline" "token with a space"
ctl -s "$SOCK" echo "a"$'\n'"show sa"
expect_rc 2 "token with a newline"
ctl -s "$SOCK" echo "a"$'\t'
expect_rc 2 "token with a tab"
ctl -s "$SOCK" echo ""
expect_rc 2 "empty token"
# "echo " + 4090 bytes + "\n" is exactly 4096 bytes: the longest line
long=$(head -c 4090 /dev/zero | tr '\0' a)
ctl -s "$SOCK" echo "${long}b"
expect_rc 2 "a 4097-byte line"
has "$T/err" "longer than 4096 bytes" "a 4097-byte line"
same "$LOG" "" "requests sent by rejected commands"
ctl -s "$SOCK" echo "$long"
expect_rc 0 "a 4096-byte line"
same "$T/out" "$long"$'\n' "a 4096-byte line"

say "a command: tokens joined by single spaces, the body printed as is"
reset_log
ctl -s "$SOCK" show sa
expect_rc 0 "show sa"
same "$T/out" "ok"$'\n' "show sa stdout"
same "$T/err" "" "show sa stderr"
ctl -s "$SOCK" echo hello "" world 2>/dev/null
expect_rc 2 "empty token in the middle"
ctl -s "$SOCK" echo hello   world
same "$T/out" "hello world"$'\n' "echo"
same "$LOG" "show sa"$'\n'"echo hello world"$'\n' "request lines"

say "-j is sent as the leading token"
reset_log
ctl -s "$SOCK" -j show sa
expect_rc 0 "-j show sa"
same "$LOG" "-j show sa"$'\n' "-j request"
same "$T/out" '{"ok": true}'$'\n' "-j reply"

say "a failure: exit 1, 'espressoctl: MESSAGE' on stderr, no doubled newline"
ctl -s "$SOCK" fail now
expect_rc 1 "fail"
same "$T/err" "espressoctl: fail: because"$'\n' "fail stderr"
same "$T/out" "" "fail stdout"
ctl -s "$SOCK" nomsg
expect_rc 1 "failure without a message"
has "$T/err" "code 5" "failure without a message"

say "a 70,000-byte reply and an empty one"
ctl -s "$SOCK" show x
expect_rc 0 "show x"
[ "$(wc -c <"$T/out")" = 70000 ] || fail "show x: $(wc -c <"$T/out") bytes, expected 70000"
[ "$(wc -l <"$T/out")" = 1000 ] || fail "show x: $(wc -l <"$T/out") lines, expected 1000"
x63=$(head -c 63 /dev/zero | tr '\0' x)
[ "$(head -n 1 "$T/out")" = "00000 $x63" ] || fail "show x: first line"
[ "$(tail -n 1 "$T/out")" = "00999 $x63" ] || fail "show x: last line"
ctl -s "$SOCK" show empty
expect_rc 0 "show empty"
same "$T/out" "" "show empty"

say "truncated and malformed replies: exit 1"
for c in trunc trunchdr; do
	ctl -s "$SOCK" "$c"
	expect_rc 1 "$c"
	same "$T/err" "espressoctl: $SOCK: connection closed before the reply was complete"$'\n' "$c"
done
ctl -s "$SOCK" badhdr
expect_rc 1 "badhdr"
has "$T/err" "malformed reply header" "badhdr"

say "monitor: each event printed as it arrives, exit 0 when the server closes"
rm -f "$GATE"
timeout 60 "$CTL" -s "$SOCK" monitor >"$T/mon" 2>"$T/mon.err" &
mon=$!
for _ in $(seq 200); do
	grep -q "event 1" "$T/mon" && break
	sleep 0.05
done
# the server holds "event 2" back until $GATE exists: the first line must
# already be in the file (flushed, although stdout is not a terminal)
same "$T/mon" "event 1"$'\n' "monitor: first event before the server closes"
kill -0 "$mon" 2>/dev/null || fail "monitor exited before the server closed"
touch "$GATE"
wait "$mon"
rc=$?
expect_rc 0 "monitor"
same "$T/mon" "event 1"$'\n'"event 2"$'\n'"event 3"$'\n' "monitor output"
same "$T/mon.err" "" "monitor stderr"
n=$(timeout 60 "$CTL" -s "$SOCK" -j monitor | grep -c '^event')
[ "$n" = 3 ] || fail "monitor | grep: $n events, expected 3"

say "key-file: sent as key HEX, the key never printed; a 0644 key file warns"
KEY=c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff01
printf '  0x%s\n\n' "$KEY" >"$T/key"
chmod 600 "$T/key"
reset_log
ctl -s "$SOCK" sa add t1 out spi 0x1000 key-file "$T/key" hard-bytes 1000
expect_rc 0 "sa add key-file"
same "$LOG" "sa add t1 out spi 0x1000 key $KEY hard-bytes 1000"$'\n' "key-file request"
same "$T/err" "" "key-file (mode 600) stderr"
hasnt "$T/out" "$KEY" "key-file stdout"
chmod 644 "$T/key"
reset_log
ctl -s "$SOCK" -j sa add t1 in spi 0x2000 key-file "$T/key"
expect_rc 0 "sa add key-file (mode 644)"
has "$T/err" "key-file $T/key is readable by group or others" "mode 644 warning"
hasnt "$T/err" "$KEY" "key-file (mode 644) stderr"
hasnt "$T/out" "$KEY" "key-file (mode 644) stdout"
same "$LOG" "-j sa add t1 in spi 0x2000 key $KEY"$'\n' "-j key-file request"
printf '%sg\n' "$KEY" >"$T/badkey"
chmod 600 "$T/badkey"
reset_log
ctl -s "$SOCK" sa add t1 in spi 0x2000 key-file "$T/badkey"
expect_rc 2 "not hex key-file"
same "$T/err" "espressoctl: key-file $T/badkey: not hex"$'\n' "not hex key-file"
: >"$T/emptykey"
ctl -s "$SOCK" sa add t1 in spi 0x2000 key-file "$T/emptykey"
expect_rc 2 "empty key-file"
head -c 5000 /dev/zero | tr '\0' a >"$T/bigkey"
ctl -s "$SOCK" sa add t1 in spi 0x2000 key-file "$T/bigkey"
expect_rc 2 "key-file over 4 KiB"
ctl -s "$SOCK" sa add t1 in spi 0x2000 key-file "$T/nokey"
expect_rc 2 "missing key-file"
ctl -s "$SOCK" sa add t1 in spi 0x2000 key-file
expect_rc 2 "key-file without FILE"
same "$LOG" "" "requests sent with a bad key-file"
ctl -s "$SOCK" sa add t1 in spi 0x2000 key "$KEY"
expect_rc 0 "sa add key HEX"
ctl -s "$SOCK" show key-file "$T/key"
expect_rc 0 "key-file outside sa add"
same "$LOG" "sa add t1 in spi 0x2000 key $KEY"$'\n'"show key-file $T/key"$'\n' \
	"key HEX and key-file outside sa add passed through"

say "-b FILE: batch begin/end around, comments and blanks skipped, CR and blanks"
cat >"$T/b1" <<EOF
# a comment

show sa
	  # an indented comment
route add 10.0.0.0/24	tunnel   t1$(printf '\r')
   echo hello
sa add t1 out spi 0x1000 key-file $T/key
EOF
chmod 600 "$T/key"
reset_log
ctl -s "$SOCK" -b "$T/b1"
expect_rc 0 "batch"
same "$LOG" "batch begin"$'\n'"show sa"$'\n'"route add 10.0.0.0/24 tunnel t1"$'\n'"echo hello"$'\n'"sa add t1 out spi 0x1000 key $KEY"$'\n'"batch end"$'\n' "batch requests"
same "$T/out" "ok"$'\n'"ok"$'\n'"hello"$'\n'"ok"$'\n' "batch stdout"
same "$T/err" "" "batch stderr"

say "-b: stop at the first failing line, name FILE:LINE, still send batch end"
printf '# first\nshow sa\nfail here\nshow tunnels\n' >"$T/b2"
reset_log
ctl -s "$SOCK" -b "$T/b2"
expect_rc 1 "failing batch"
same "$T/err" "espressoctl: $T/b2:3: fail: because"$'\n' "failing batch stderr"
same "$T/out" "ok"$'\n' "failing batch stdout"
# the client keeps a few requests in flight: "show tunnels" went out before
# the failure came back, and the server skipped it (its reply is not shown)
same "$LOG" "batch begin"$'\n'"show sa"$'\n'"fail here"$'\n'"show tunnels"$'\n'"batch end"$'\n' "failing batch requests"

say "-b -: standard input, with -j on every line (not on batch begin/end)"
printf 'show sa\n\nshow routes\n' >"$T/b3"
reset_log
ctl_in "$T/b3" -s "$SOCK" -j -b -
expect_rc 0 "batch from stdin"
same "$LOG" "batch begin"$'\n'"-j show sa"$'\n'"-j show routes"$'\n'"batch end"$'\n' "-j batch requests"
same "$T/out" '{"ok": true}'$'\n''{"ok": true}'$'\n' "-j batch stdout"
printf 'show sa\nfailing\n' >"$T/b4"
ctl_in "$T/b4" -s "$SOCK" -b -
expect_rc 1 "failing batch from stdin"
same "$T/err" "espressoctl: <stdin>:2: fail: because"$'\n' "failing batch from stdin"

say "-b: a line that fails client-side checks stops the batch (exit 2)"
printf 'show sa\nsa add t1 in spi 1 key-file %s\nshow routes\n' "$T/badkey" >"$T/b5"
reset_log
ctl -s "$SOCK" -b "$T/b5"
expect_rc 2 "batch with a bad key-file"
same "$T/err" "espressoctl: $T/b5:2: key-file $T/badkey: not hex"$'\n' "batch with a bad key-file"
hasnt "$T/err" "$KEY" "batch with a bad key-file"
same "$LOG" "batch begin"$'\n'"show sa"$'\n'"batch end"$'\n' "batch with a bad key-file: requests"
printf 'show sa\n%s\n' "echo a$(printf '\f')b" >"$T/b6"
ctl -s "$SOCK" -b "$T/b6"
expect_rc 2 "batch with a form feed in a token"
has "$T/err" "$T/b6:2: token 2" "batch with a form feed in a token"
printf 'monitor\n' >"$T/b7"
ctl -s "$SOCK" -b "$T/b7"
expect_rc 2 "monitor in a batch"
has "$T/err" "$T/b7:1: monitor cannot run in a batch" "monitor in a batch"
printf 'echo %s\n' "${long}b" >"$T/b8"
ctl -s "$SOCK" -b "$T/b8"
expect_rc 2 "batch line over 4096 bytes"
has "$T/err" "$T/b8:1: request longer than 4096 bytes" "batch line over 4096 bytes"

say "-b: a reply cut short mid-batch is exit 1"
printf 'show sa\ntrunc\nshow sa\n' >"$T/b9"
reset_log
ctl -s "$SOCK" -b "$T/b9"
expect_rc 1 "truncated reply in a batch"
has "$T/err" "$T/b9:2: $SOCK: connection closed before the reply was complete" "truncated reply in a batch"
same "$LOG" "batch begin"$'\n'"show sa"$'\n'"trunc"$'\n' "truncated reply in a batch: requests"

say "-b: 40,000 lines on one connection"
"$PY" -c '
for i in range(40000):
    print("route add 10.%d.%d.0/24 tunnel t%d" % (i // 256, i % 256, i % 7))
' >"$T/big"
reset_log
t0=$(date +%s%N)
ctl -s "$SOCK" -b "$T/big"
t1=$(date +%s%N)
expect_rc 0 "40,000-line batch"
[ "$(grep -c '^ok$' "$T/out")" = 40000 ] || fail "40,000-line batch: $(grep -c '^ok$' "$T/out") ok replies"
[ "$(wc -l <"$LOG")" = 40002 ] || fail "40,000-line batch: $(wc -l <"$LOG") requests, expected 40002"
if [ "$(head -n 1 "$LOG")" != "batch begin" ] || [ "$(tail -n 1 "$LOG")" != "batch end" ]; then
	fail "40,000-line batch: not between batch begin and batch end"
fi
cmp -s <(sed '1d;$d' "$LOG") "$T/big" || fail "40,000-line batch: requests differ from the file"
ms=$(( (t1 - t0) / 1000000 ))
printf '   40,000 lines in %d.%03d s\n' $((ms / 1000)) $((ms % 1000))

say "a dead socket: exit 1, 'cannot reach'"
ctl -s "$T/nothing.sock" show sa
expect_rc 1 "no socket"
same "$T/err" "espressoctl: cannot reach $T/nothing.sock: No such file or directory (is espressod running? root only)"$'\n' "no socket"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
ctl -s "$T/stale.sock" show sa
expect_rc 1 "stale socket"
same "$T/err" "espressoctl: cannot reach $T/stale.sock: Connection refused (is espressod running? root only)"$'\n' "stale socket"
ctl -i "nosuch$$" show sa
expect_rc 1 "-i with no such instance"
has "$T/err" "cannot reach /run/espresso/nosuch$$.sock" "-i with no such instance"

kill -0 "$SRV" 2>/dev/null || fail "the fake server died"
echo ok
