#!/bin/bash
# NAT-T that follows the peer (RFC 3948): gateway A sits behind a NAT whose
# mapping changes mid-flow; gateway B follows it from authenticated packets
# only, and says so on its monitor.
#
#   ${P}A: espressod gw-a         ${P}N: NAT (nftables)            ${P}B: espressod gw-b
#   esp0 10.1.0.1                 masquerade UDP out of nB          esp0 10.2.0.1
#   eA 10.99.1.2/24 (XDP) ==== nA 10.99.1.1 | nB 192.0.2.254 ==== eB 192.0.2.2/24 (XDP)
#   default via 10.99.1.1         to ports 11000-11999, then
#   local 10.99.1.2               12000-12999 (+ conntrack -F)      local 192.0.2.2
#   remote 192.0.2.2, udp,                                          remote 192.0.2.254:4500
#   keepalive 1 s                                                   (where the NAT is)
#
# 1. A's first packets come from 192.0.2.254:11xxx, not :4500: B moves its
#    SAs there (sa dport), monitor: "mapping ... old 192.0.2.254:4500 new
#    192.0.2.254:11xxx"; pings pass both ways.
# 2. An iperf3 TCP flow runs while the NAT's mapping changes (new port range,
#    conntrack flushed): B follows to 12xxx (second mapping event, old =
#    the first new), the flow completes and pings pass.
# 3. Forged ESP for B's inbound SPI from 192.0.2.77:4500 with a bad ICV:
#    rx_auth +1 on the SA, no event, the SA stays where it is; B's last
#    sequence number again, sealed with the right key, from 192.0.2.78:
#    rx_replay +1, nothing moves either.
# 4. Idle: A's keepalives (1-byte 0xFF, RFC 3948 2.3) cross the NAT and
#    reach B's XDP program (pass_natt_keepalive).
source "$(dirname "$0")/lib.sh"

NS_N=${P}N
MON=$WORK/monitor.json
MONT=$WORK/monitor.txt
MONPID= MONTPID=

cleanup() {
	[ -z "$MONPID" ] || kill "$MONPID" 2>/dev/null || true
	[ -z "$MONTPID" ] || kill "$MONTPID" 2>/dev/null || true
	ip netns del "$NS_N" 2>/dev/null || true
	topo_down
}
trap cleanup EXIT

for t in nft conntrack iperf3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (tools/deps.sh check)"; exit 0; }
done

# ---- topology: A -- NAT -- B ----------------------------------------------
ip netns add "$NS_A"
ip netns add "$NS_B"
ip netns add "$NS_N"
ip link add eA netns "$NS_A" type veth peer name nA netns "$NS_N"
ip link add eB netns "$NS_B" type veth peer name nB netns "$NS_N"
for n in "$NS_A" "$NS_B" "$NS_N"; do ip -n "$n" link set lo up; done
ip -n "$NS_A" addr add 10.99.1.2/24 dev eA
ip -n "$NS_N" addr add 10.99.1.1/24 dev nA
ip -n "$NS_N" addr add 192.0.2.254/24 dev nB
ip -n "$NS_B" addr add 192.0.2.2/24 dev eB
for l in "$NS_A eA" "$NS_B eB" "$NS_N nA" "$NS_N nB"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n "$NS_A" route add default via 10.99.1.1
ip netns exec "$NS_N" sysctl -qw net.ipv4.ip_forward=1
nat_ports() { # nat_ports LO-HI: masquerade UDP leaving nB to those ports
	# one transaction: a packet between a flush and the new rules would
	# leave without NAT, and B would rightly follow A to its own address
	ip netns exec "$NS_N" nft -f - <<NFT
flush ruleset
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "nB" meta l4proto udp masquerade to :$1
		oifname "nB" masquerade
	}
}
NFT
	ip netns exec "$NS_N" conntrack -F >/dev/null 2>&1 || true
}
nat_ports 11000-11999

start() { # start a|b LOCAL REMOTE
	local ns conf log
	if [ "$1" = a ]; then
		ns=$NS_A
		conf=$(TUNNEL_EXTRA="keepalive = 1;" gw_conf a eA 10.1.0.1/32 fd00:1::1/128 "$2" "$3" \
			10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
	else
		ns=$NS_B
		conf=$(gw_conf b eB 10.2.0.1/32 fd00:2::1/128 "$2" "$3" \
			10.1.0.0/16 fd00:1::/64 "$SPI_BA" "$KEY_BA" "$SPI_AB" "$KEY_AB")
	fi
	log=$WORK/gw-$1.log
	# a killed instance's log and socket may still be there: emptied
	# here, where the wait below cannot see the old "running" first
	: >"$log"
	ip netns exec "$ns" "$ROOT/espressod" -c "$conf" --state-dir "$WORK/state-$1" \
		>"$log" 2>&1 &
	eval "PID_${1^^}=$!"
	gw_wait_running "gw-$1" "$log" 0 $!
}
export ENCAP=udp
start b 192.0.2.2 192.0.2.254
start a 10.99.1.2 192.0.2.2
ctl b -j monitor >"$MON" 2>"$WORK/monitor.err" &
MONPID=$!
ctl b monitor >"$MONT" 2>"$WORK/monitort.err" &
MONTPID=$!

# the SA of B that sends to A: "... remote ADDR sport N dport N"
b_peer() { ctl b show sa | awk '/ out spi /{ for (i = 1; i < NF; i++) { if ($i == "remote") r = $(i+1); if ($i == "dport") p = $(i+1) } } END { print r ":" p }'; }
# in-SA error counter NAME of gw-b (0 when absent)
b_err() { ctl b show sa | awk -v n="$1" '/errors:/{ for (i = 1; i < NF; i++) if ($i == n) v += $(i+1) } END { print v + 0 }'; }
events() { grep -c '"event":"mapping"' "$MON" || true; }
ping_ok() { # ping_ok TRIES: one echo through the tunnel, a few tries
	for _ in $(seq "$1"); do
		ip netns exec "$NS_A" ping -c 1 -W 1 10.2.0.1 >/dev/null && return 0
	done
	return 1
}
mapping() { # mapping N: the Nth mapping event as "old_addr:old_port new_addr:new_port spi"
	local i
	# the event leaves espressod as the SAs move; espressoctl may write it
	# a moment after the packets that showed the move were answered
	for i in $(seq 20); do
		[ "$(events)" -ge "$1" ] && break
		sleep 0.1
	done
	/usr/bin/python3 - "$MON" "$1" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"mapping"' in l]
n = int(sys.argv[2])
if len(ev) < n:
    sys.exit(1)
e = ev[n - 1]
assert e["tunnel"] == "to-peer" and e["dir"] == "in", e
print("%s:%d %s:%d %s" % (e["old_addr"], e["old_port"], e["new_addr"], e["new_port"], e["spi"]))
PY
}

# ---- 1. first contact through the NAT --------------------------------------
say "1. A behind a NAT (ports 11000-11999): B follows A's mapping"
[ "$(b_peer)" = "192.0.2.254:4500" ] || fail "B starts toward $(b_peer), not the configured 192.0.2.254:4500"
ping_ok 5 || fail "no ping through the tunnel and the NAT"
m1=$(mapping 1) || fail "no mapping event on B's monitor: $(cat "$MON")"
set -- $m1
old1=$1 new1=$2
[ "$old1" = "192.0.2.254:4500" ] || fail "mapping 1: old $old1, want 192.0.2.254:4500"
[ "$3" = "0x00001000" ] || fail "mapping 1: spi $3, want B's inbound 0x00001000"
p1=${new1#192.0.2.254:}
[ "${new1%:*}" = 192.0.2.254 ] && [ "$p1" -ge 11000 ] && [ "$p1" -le 11999 ] ||
	fail "mapping 1: new $new1, want 192.0.2.254:11000-11999"
[ "$(b_peer)" = "$new1" ] || fail "B's outbound SA sends to $(b_peer), not $new1"
ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "pings lost after the first mapping"
[ "$(events)" = 1 ] || fail "$(events) mapping events, want 1: $(cat "$MON")"
say "   $m1"

# ---- 2. the NAT's mapping changes under a TCP flow -------------------------
say "2. iperf3 while the NAT moves A to 12000-12999 (conntrack flushed)"
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -B 10.1.0.1 -t 4 -b 20M -J >"$WORK/iperf.json" 2>&1 &
IPERF=$!
sleep 1.5
nat_ports 12000-12999
wait "$IPERF" || fail "iperf3 failed across the NAT change: $(tail -5 "$WORK/iperf.json")"
/usr/bin/python3 - "$WORK/iperf.json" <<'PY' || fail "iperf3: the flow stopped after the NAT change"
import json, sys
r = json.load(open(sys.argv[1]))
iv = r["intervals"]
last = iv[-1]["sum"]["bytes"]
print("   iperf3: %d intervals, %.1f Mbit/s received, last interval %d bytes"
      % (len(iv), r["end"]["sum_received"]["bits_per_second"] / 1e6, last))
sys.exit(0 if last > 0 and r["end"]["sum_received"]["bytes"] > 0 else 1)
PY
ping_ok 5 || fail "no ping after the NAT change"
m2=$(mapping 2) || fail "no second mapping event: $(cat "$MON")"
set -- $m2
new2=$2
[ "$1" = "$new1" ] || fail "mapping 2: old $1, want the first mapping's $new1"
p2=${new2#192.0.2.254:}
[ "${new2%:*}" = 192.0.2.254 ] && [ "$p2" -ge 12000 ] && [ "$p2" -le 12999 ] ||
	fail "mapping 2: new $new2, want 192.0.2.254:12000-12999"
[ "$(b_peer)" = "$new2" ] || fail "B's outbound SA sends to $(b_peer), not $new2"
ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "pings lost after the second mapping"
[ "$(events)" = 2 ] || fail "$(events) mapping events, want 2: $(cat "$MON")"
say "   $m2"
# the same two events in text
for _ in $(seq 20); do [ "$(grep -c '^mapping' "$MONT")" -ge 2 ] && break; sleep 0.1; done
printf 'mapping tunnel to-peer spi 0x00001000 in old %s new %s\n' "$old1" "$new1" "$new1" "$new2" >"$WORK/want.txt"
grep '^mapping' "$MONT" | diff - "$WORK/want.txt" || fail "text monitor: $(cat "$MONT")"

# ---- 3. unauthenticated and replayed packets from elsewhere ----------------
say "3. forged (bad ICV) and replayed ESP from other addresses move nothing"
auth0=$(b_err rx_auth) replay0=$(b_err rx_replay)
top=$(ctl b show sa | awk '/ in spi /{ for (i = 1; i < NF; i++) if ($i == "replay_top") print $(i+1) }')
ip netns exec "$NS_N" /usr/bin/python3 - "$KEY_AB" "$(ip -n "$NS_B" -br link show eB | awk '{ print $3 }')" "$top" <<'PY' || fail "scapy injection failed"
import os, struct, sys, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.all import Ether, IP, UDP, Raw, ICMP, sendp, conf
conf.verb = 0
key = bytes.fromhex(sys.argv[1])
eth = Ether(dst=sys.argv[2])
spi = 0x1000
# a forged packet: right SPI, a fresh sequence number, garbage for an ICV
forged = struct.pack("!II", spi, 0x7fff0000) + os.urandom(8 + 64 + 16)
sendp(eth / IP(src="192.0.2.77", dst="192.0.2.2") / UDP(sport=4500, dport=4500, chksum=0) / Raw(forged), iface="nB")
# a genuine packet, sealed with the right key (ESN AAD), but with the
# sequence number B received last: the replay window refuses it before
# it could count
seq = int(sys.argv[3])
inner = bytes(IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=9, seq=9) / Raw(b"replayed"))
pad = bytes(range(1, (-(len(inner) + 2)) % 4 + 1))
pt = inner + pad + bytes([len(pad), 4])
iv = struct.pack("!Q", seq)
ct = AESGCM(key[:-4]).encrypt(key[-4:] + iv, pt, struct.pack("!III", spi, seq >> 32, seq & 0xffffffff))
sendp(eth / IP(src="192.0.2.78", dst="192.0.2.2") / UDP(sport=5555, dport=4500, chksum=0) /
      Raw(struct.pack("!II", spi, seq & 0xffffffff) + iv + ct), iface="nB")
PY
sleep 0.5 # two control turns: a move would have happened
auth1=$(b_err rx_auth) replay1=$(b_err rx_replay)
[ $((auth1 - auth0)) = 1 ] || fail "rx_auth went $auth0 -> $auth1, want +1"
[ $((replay1 - replay0)) = 1 ] || fail "rx_replay went $replay0 -> $replay1, want +1"
[ "$(b_peer)" = "$new2" ] || fail "an unauthenticated packet moved B to $(b_peer)"
[ "$(events)" = 2 ] || fail "a mapping event for a forged packet: $(cat "$MON")"
ping_ok 3 || fail "no ping after the forged packets"

# ---- 4. keepalives when idle ----------------------------------------------
say "4. A idle: keepalives (1 s) through the NAT to B's XDP program"
ka0=$(xdp_counter "$NS_B" eB pass_natt_keepalive)
sleep 2.5
ka1=$(xdp_counter "$NS_B" eB pass_natt_keepalive)
[ "$ka1" -gt "$ka0" ] || fail "no NAT-T keepalive reached B in 2.5 s idle ($ka0 -> $ka1)"
say "   keepalives at B: $ka0 -> $ka1"
# show tunnels: where each side's peer is, and what NAT-T did
ctl b -j show tunnels | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
want = {"peer": "192.0.2.254", "peer_port": int(sys.argv[1]), "mappings": 2, "keepalive_s": 0, "keepalives": 0}
got = {k: t.get(k) for k in want}
assert got == want, got' "$p2" || fail "gw-b show tunnels"
ctl a -j show tunnels | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
assert (t["peer"], t["peer_port"], t["mappings"], t["keepalive_s"]) == ("192.0.2.2", 4500, 0, 1), t
assert t["keepalives"] >= int(sys.argv[1]) - int(sys.argv[2]), t' "$ka1" "$ka0" || fail "gw-a show tunnels"
ctl a show tunnels
ctl b show sa
say "PASS"
