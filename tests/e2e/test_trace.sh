#!/bin/bash
# espressoctl trace and pcap on gateway B, checked against what was sent:
#
#   ${P}A (host + gw-a)                ${P}W                ${P}B (host + gw-b)
#   esp0 10.1.0.1                                          esp0 10.2.0.1
#   eA 192.0.2.1 ---- wA =[ br0 ]= wB ---- eB 192.0.2.2 (XDP, AF_XDP)
#   trace_check.py send: packets       tshark on br0:      trace / pcap here
#   of known bytes into A's tun;       the ESP crossing    tshark on eB: none
#   inject: a replay, a forged ICV
#
#  1. trace of a decrypted packet (text): the line names every stage, the
#     ESP sequence number is B's replay top, the inner ICMP is ours
#  2. trace of an outbound packet (JSON): SA, next hop = A's MAC, uplink
#  3. trace of dropped packets (drops only): a replay -> DROP rx_replay at
#     the SA stage, a forged ICV -> DROP rx_auth after it; counters +1 each;
#     on A, a packet from its host to nowhere -> DROP tx_no_route
#  4. espressoctl trace streams, ends after N packets, and at its timeout
#  5. pcap both ways, read back by tshark and by our own parser: every
#     packet sent is there byte for byte (in), and B's replies (out);
#     mode 0600; a second stop is refused
#  6. a trace ends when its client goes; one trace at a time;
#     no key bytes in any trace or capture; off again: trace_lost and
#     pcap_lost 0; tcpdump/tshark on eB itself sees no ESP while the bridge
#     does (AF_XDP frames bypass the gateway's own packet taps)
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
PY=/usr/bin/python3
TC="$(dirname "$0")/trace_check.py"
SOCK_B=/run/espresso/$P-b.sock

topo_bridged
gw_start a
gw_start b
tunnel_ready
sleep 0.2
mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
MAC_A=$(mac "$NS_A" eA)
jfield() { # jfield JSON-TEXT PYEXPR (d: the object)
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}
drops() { # drops REASON: gw-b's count of it, queue 0
	ctl b -j show stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queues"][0]["drops"].get(sys.argv[1], 0))' "$1"
}
replay_top() {
	ctl b -j show sa | "$PY" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["spi"] == "0x00001000":
        print(s["replay_top"])'
}

say "1. trace of a decrypted packet"
"$PY" "$TC" stream "$SOCK_B" "trace 1 in spi $SPI_AB" "$WORK/t1" -- \
	ip netns exec "$NS_A" ping -c 1 -W 2 -s 56 10.2.0.1 || fail "stream"
cat "$WORK/t1"
[ "$(wc -l < "$WORK/t1")" = 1 ] || fail "expected one line"
re='^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} in q0: xdp redirect 192\.0\.2\.1 > 192\.0\.2\.2, [0-9]+ bytes \| sa 0x00001000 tunnel to-peer seq ([0-9]+) \| crypto ok \| inner 10\.1\.0\.1 > 10\.2\.0\.1 icmp echo-request id [0-9]+ seq 1, 84 bytes \| route ok \| out tun$'
[[ $(cat "$WORK/t1") =~ $re ]] || fail "decrypted packet's trace line: unexpected format"
seq=${BASH_REMATCH[1]}
top=$(replay_top)
[ "$seq" = "$top" ] || fail "traced ESP seq $seq, B's replay top $top"

say "2. trace of an outbound packet (JSON)"
"$PY" "$TC" stream "$SOCK_B" "-j trace 1 out tunnel to-peer" "$WORK/t2" -- \
	ip netns exec "$NS_A" ping -c 1 -W 2 10.2.0.1 || fail "stream"
cat "$WORK/t2"
j=$(cat "$WORK/t2")
[ "$(jfield "$j" 'd["dir"], d["spi"], d["crypto"], d["nexthop"], d["out"], d["tunnel"]')" = \
  "('out', '0x00002000', 'ok', '$MAC_A', 'uplink', 'to-peer')" ] || fail "outbound JSON fields"
[ "$(jfield "$j" 'd["inner"]["src"], d["inner"]["dst"], d["inner"]["icmp_type"], "drop" in d')" = \
  "('10.2.0.1', '10.1.0.1', 0, False)" ] || fail "outbound inner fields"

say "3. trace of dropped packets: a replay and a forged ICV"
rp0=$(drops rx_replay) au0=$(drops rx_auth)
"$PY" "$TC" stream "$SOCK_B" "trace 2 drops" "$WORK/t3" -- \
	ip netns exec "$NS_A" "$PY" "$TC" inject --iface eA --src-mac "$MAC_A" \
	--dst-mac "$(mac "$NS_B" eB)" --key "$KEY_AB" --spi "$SPI_AB" || fail "stream"
cat "$WORK/t3"
[ "$(wc -l < "$WORK/t3")" = 2 ] || fail "expected two lines"
l1=$(sed -n 1p "$WORK/t3") l2=$(sed -n 2p "$WORK/t3")
[[ $l1 == *"in q0: xdp redirect 192.0.2.1 > 192.0.2.2, "*" bytes | sa 0x00001000 tunnel to-peer seq 1 | DROP rx_replay: sequence number already received" ]] ||
	fail "replayed packet's trace line"
[[ $l2 == *"| sa 0x00001000 tunnel to-peer seq 1048576 | DROP rx_auth: ICV did not verify" ]] ||
	fail "forged packet's trace line"
[ "$(drops rx_replay)" = $((rp0 + 1)) ] && [ "$(drops rx_auth)" = $((au0 + 1)) ] ||
	fail "rx_replay/rx_auth did not move by exactly 1"
SOCK_A=/run/espresso/$P-a.sock
nr0=$(ctl a -j show stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queues"][0]["drops"].get("tx_no_route", 0))')
"$PY" "$TC" stream "$SOCK_A" "trace 1 out drops" "$WORK/t3b" -- \
	ip netns exec "$NS_A" "$PY" "$TC" sendto 10.9.9.9 || fail "stream"
cat "$WORK/t3b"
[[ $(cat "$WORK/t3b") == *" out q0: tun 35 bytes | inner 10.1.0.1 > 10.9.9.9 icmp echo-request id 20817 seq 4, 35 bytes | DROP tx_no_route: no tunnel for the destination" ]] ||
	fail "unroutable packet's trace line"
nr1=$(ctl a -j show stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queues"][0]["drops"].get("tx_no_route", 0))')
[ "$nr1" = $((nr0 + 1)) ] || fail "tx_no_route $nr0 -> $nr1"

say "4. espressoctl trace: streams N lines and ends; ends at its timeout"
ctl b trace 2 in >"$WORK/t4" 2>"$WORK/t4.err" &
tpid=$!
for _ in $(seq 40); do
	[ "$(wc -l < "$WORK/t4")" -ge 2 ] && break
	ip netns exec "$NS_A" ping -c 1 -W 1 10.2.0.1 >/dev/null
done
wait $tpid || fail "espressoctl trace exited $?: $(cat "$WORK/t4.err")"
cat "$WORK/t4"
[ "$(wc -l < "$WORK/t4")" = 2 ] && [ ! -s "$WORK/t4.err" ] || fail "espressoctl trace output"
grep -q '| crypto ok | inner 10.1.0.1 > 10.2.0.1 icmp echo-request' "$WORK/t4" || fail "espressoctl trace lines"
ctl b trace 1 drops spi 0x1234 timeout 1 >"$WORK/t5" || fail "trace with a timeout exited $?"
[ ! -s "$WORK/t5" ] || fail "trace of nothing printed something"
ctl b trace 0 2>"$WORK/err" && fail "trace 0 accepted"
grep -q "trace: N: 0 is out of range (1..100000)" "$WORK/err" || fail "trace 0: $(cat "$WORK/err")"

say "5. pcap both ways, read back by tshark"
ctl b pcap start /dev/null 2>"$WORK/err" && fail "pcap start on a device accepted"
grep -qx "espressoctl: pcap start: /dev/null: not a regular file" "$WORK/err" || fail "pcap start /dev/null: $(cat "$WORK/err")"
ln -s "$WORK/b.pcap" "$WORK/link.pcap"
ctl b pcap start "$WORK/link.pcap" 2>"$WORK/err" && fail "pcap start through a symlink accepted"
grep -q "Too many levels of symbolic links" "$WORK/err" || fail "pcap start through a symlink: $(cat "$WORK/err")"
ctl b pcap start "$WORK/b.pcap" both || fail "pcap start"
ctl b pcap start "$WORK/c.pcap" 2>"$WORK/err" && fail "a second pcap start accepted"
grep -q "already writing $WORK/b.pcap" "$WORK/err" || fail "second pcap start: $(cat "$WORK/err")"
ip netns exec "$NS_A" "$PY" "$TC" send "$WORK/sent" || fail "send"
# B answers two echoes (v4), one echo (v6) and the UDP with a port
# unreachable (the UDP header inside: 10.1.0.1 > 10.2.0.1 port 9): 4 in,
# 4 out; wait for the replies to be read back at A
for _ in $(seq 50); do
	n=$(ctl a -j show stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queues"][0]["rx_decrypted"])')
	[ "${prev:-}" = "$n" ] && break
	prev=$n
	sleep 0.1
done
ctl b pcap stop "$WORK/other.pcap" 2>"$WORK/err" && fail "pcap stop of another file accepted"
grep -q "pcap stop: $WORK/other.pcap is not being written ($WORK/b.pcap is)" "$WORK/err" ||
	fail "pcap stop of another file: $(cat "$WORK/err")"
(cd "$WORK" && ctl b pcap stop b.pcap) >"$WORK/stop" || fail "pcap stop"
cat "$WORK/stop"
grep -qx "$WORK/b.pcap: 8 packets written, 0 lost (pcap ring full)" "$WORK/stop" || fail "pcap stop message"
ctl b pcap stop 2>"$WORK/err" && fail "a second pcap stop accepted"
grep -q "no capture is running" "$WORK/err" || fail "second pcap stop: $(cat "$WORK/err")"
[ "$(stat -c %a "$WORK/b.pcap")" = 600 ] || fail "capture file mode $(stat -c %a "$WORK/b.pcap")"
tshark -r "$WORK/b.pcap" -T fields -E separator=' ' -e sll.pkttype -e ip.src -e ip.dst \
	-e ipv6.src -e ipv6.dst -e icmp.type -e icmp.seq -e icmpv6.type -e udp.dstport \
	>"$WORK/tshark" 2>"$WORK/tshark.err" || fail "tshark: $(cat "$WORK/tshark.err")"
cat "$WORK/tshark"
tr -s ' ' <"$WORK/tshark" | sed 's/ $//' | sort >"$WORK/tshark.s"
sort >"$WORK/tshark.want" <<'EOF'
0 10.1.0.1 10.2.0.1 8 1
0 10.1.0.1 10.2.0.1 8 2
0 10.1.0.1 10.2.0.1 9
0 fd00:1::1 fd00:2::1 128
4 10.2.0.1 10.1.0.1 0 1
4 10.2.0.1 10.1.0.1 0 2
4 10.2.0.1,10.1.0.1 10.1.0.1,10.2.0.1 3 9
4 fd00:2::1 fd00:1::1 129
EOF
diff "$WORK/tshark.want" "$WORK/tshark.s" || fail "tshark's reading of the capture"
"$PY" "$TC" pcap "$WORK/b.pcap" "$WORK/sent" || fail "capture bytes"

say "6. no key bytes; off again; no ESP on the gateway's own taps"
TRACE_ARMED=$WORK/armed "$PY" "$TC" stream "$SOCK_B" "trace 4" "$WORK/t6" &
tpid=$!
for _ in $(seq 100); do [ -e "$WORK/armed" ] && break; sleep 0.05; done
ctl b trace 1 2>"$WORK/err" && fail "a second trace accepted"
grep -q "another trace is running" "$WORK/err" || fail "second trace: $(cat "$WORK/err")"
for _ in $(seq 20); do
	kill -0 $tpid 2>/dev/null || break
	ip netns exec "$NS_A" ping -c 1 -W 1 10.2.0.1 >/dev/null
done
wait $tpid || fail "trace 4"
[ "$(wc -l < "$WORK/t6")" = 4 ] || fail "trace 4: $(wc -l < "$WORK/t6") lines"
# a client that goes away ends its trace: the next one is accepted
rm -f "$WORK/armed"
TRACE_ARMED=$WORK/armed "$PY" "$TC" stream "$SOCK_B" "trace 5 timeout 60" "$WORK/t9" &
tpid=$!
for _ in $(seq 100); do [ -e "$WORK/armed" ] && break; sleep 0.05; done
kill $tpid; wait $tpid 2>/dev/null
ok=
for _ in $(seq 40); do
	ctl b trace 1 drops timeout 1 2>/dev/null && { ok=1; break; }
	sleep 0.05
done
[ -n "$ok" ] || fail "the trace of a client that went away did not end"
ctl b -j trace 2 timeout 2 >"$WORK/t8" &
tpid=$!
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null
wait $tpid
for k in "$KEY_AB" "$KEY_BA"; do
	"$PY" "$TC" nokey "$k" "$WORK"/t[0-9]* "$WORK/b.pcap" || fail "key bytes in a trace or capture"
done
st=$(ctl b -j show stats)
[ "$(jfield "$st" 'd["queues"][0]["trace_lost"], d["queues"][0]["pcap_lost"]')" = "(0, 0)" ] ||
	fail "trace_lost/pcap_lost not 0"
ip netns exec "$NS_B" tshark -i eB -f 'ip proto 50' -w "$WORK/eB.pcap" 2>"$WORK/eB.err" &
cap1=$!
ip netns exec "$NS_W" tshark -i br0 -f 'ip proto 50' -w "$WORK/br.pcap" 2>"$WORK/br.err" &
cap2=$!
for _ in $(seq 100); do
	grep -q Capturing "$WORK/eB.err" && grep -q Capturing "$WORK/br.err" && break
	sleep 0.1
done
ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "ping"
sleep 1 # tshark writes what it has before it stops
kill -INT $cap1 $cap2
wait $cap1 $cap2
n_eb=$(tshark -r "$WORK/eB.pcap" 2>/dev/null | wc -l)
n_br=$(tshark -r "$WORK/br.pcap" 2>/dev/null | wc -l)
say "ESP seen by a capture on eB: $n_eb; on the bridge: $n_br"
# on a loaded machine tshark may start or stop late: the bridge must see
# ESP both ways at least, the uplink none
[ "$n_eb" = 0 ] && [ "$n_br" -ge 2 ] || fail "capture on the uplink: $n_eb ESP, bridge $n_br"
say "PASS"
