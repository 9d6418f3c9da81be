#!/bin/bash
# P2MP: one hub tunnel with three peers, each chosen by the route's next hop
# (VPP's point-to-multipoint model); each spoke has a plain P2P tunnel.
#
#   ${P}H: espressod hub, esp0 10.1.0.1           bridge br0 in ${P}W
#   eH 192.0.2.1 (XDP) ---- wH =[br0]= wS1 ---- eS1 192.0.2.2  ${P}S1 esp0 10.11.0.1
#                                  = wS2 ---- eS2 192.0.2.3  ${P}S2 esp0 10.12.0.1
#                                  = wS3 ---- eS3 192.0.2.4  ${P}S3 esp0 10.13.0.1
#
#   hub: P2MP tunnel "hub", local 192.0.2.1; peer i: next hop 10.255.0.(1+i),
#     remote 192.0.2.(1+i), hub -> spoke SPI 0x1i00, spoke -> hub SPI 0x2i00,
#     routes 10.1i.0.0/16 and fd00:1i::/64. Peers 1 and 2 from the config
#     file, peer 3 by espressoctl (peer add, sa add ... peer, route add ...
#     via).
#   spoke i (config file): tunnel to-hub, routes 10.1.0.0/16 (+ fd00:1::/64)
#
# 1. ping hub -> each spoke, 5 packets: that peer's SA pair counts exactly 5
#    each way, the other peers' SAs exactly 0; ping each spoke -> hub.
# 2. iperf3 (1 s) hub -> each spoke and back (-R): data both ways, and only
#    that peer's SAs grew.
# 3. peer del hub 10.255.0.3: spoke 2 is unreachable both ways (no route at
#    the hub; its SPI unknown there: drop_unknown_spi), spokes 1 and 3 still
#    carry exactly 5 pings each. show peers lists the two left.
# 4. reload with the file's peer 2 removed, then put back: peer 2 comes
#    back and carries pings; peer 1's SAs are kept (counters not reset);
#    peer 3 (espressoctl's) stays. tunnel del hub takes every peer.
source "$(dirname "$0")/lib.sh"
NS_H=${P}H
SPOKES="1 2 3"
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	for n in "$NS_H" ${P}S1 ${P}S2 ${P}S3 "$NS_W"; do ip netns del "$n" 2>/dev/null || true; done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

key() { # key SEED: a test key (36 bytes) made of one byte pattern
	printf '%02x' $(seq "$1" $(( $1 + 35 ))) | cut -c1-72
}

# ---- the wire: four namespaces on a bridge ----
ip netns add "$NS_W"
ip netns exec "$NS_W" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS_W" link add br0 type bridge mcast_snooping 0
ip -n "$NS_W" link set br0 up
wire() { # wire NS DEV WDEV ADDR
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip link add "$2" netns "$1" type veth peer name "$3" netns "$NS_W"
	ip -n "$NS_W" link set "$3" master br0 up
	ip -n "$1" addr add "$4/24" dev "$2"
	ip -n "$1" link set "$2" up
}
wire "$NS_H" eH wH 192.0.2.1
for i in $SPOKES; do wire "${P}S$i" "eS$i" "wS$i" "192.0.2.$((1 + i))"; done

# HUB_WRAP: a command the hub's espressod runs under, e.g.
#   HUB_WRAP="valgrind --leak-check=full --error-exitcode=42 --log-file=/tmp/vg.log"
start() { # start NAME NS CONF
	local wrap=()
	[ "$1" = hub ] && [ -n "${HUB_WRAP:-}" ] && read -ra wrap <<<"$HUB_WRAP"
	ip netns exec "$2" "${wrap[@]}" "$ROOT/espressod" -c "$3" --state-dir "$WORK/state-$1" \
		>"$WORK/$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq $(( ${#wrap[@]} ? 600 : 50 ))); do
		[ -S "/run/espresso/$P-$1.sock" ] && grep -q running "$WORK/$1.log" && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	cat "$WORK/$1.log" >&2
	fail "espressod $1 did not start"
}

# ---- the hub: P2MP tunnel "hub" with peers 1 and 2 in its file, peer 3
# added by espressoctl ----
peer_conf() { # peer_conf I: peer i's group
	cat <<PEER
      { nexthop = "10.255.0.$((1 + $1))"; remote = "192.0.2.$((1 + $1))";
        outbound = { spi = 0x1${1}00; key = "$(key $((16 * $1)))"; };
        inbound = { spi = 0x2${1}00; key = "$(key $((16 * $1 + 100)))"; };
        routes = [ "10.1$1.0.0/16", "fd00:1$1::/64" ]; }
PEER
}
cat >"$WORK/hub.conf" <<CONF
espresso: {
  instance = "$P-hub";
  uplink = { name = "eH"; threaded_napi = "$THREADED_NAPI"; };
  tun = { name = "esp0"; mtu = 1400; address = [ "10.1.0.1/32", "fd00:1::1/128" ]; };
  tunnels = (
    { name = "hub"; local = "192.0.2.1"; cipher = "$CIPHER";
      peers = (
$(peer_conf 1),
$(peer_conf 2)
      ); }
  );
};
CONF
chmod 600 "$WORK/hub.conf"
start hub "$NS_H" "$WORK/hub.conf"
i=3 nh=10.255.0.4
ctl hub peer add hub "$nh" remote "192.0.2.$((1 + i))" >/dev/null &&
ctl hub sa add hub out spi "0x1${i}00" key "$(key $((16 * i)))" peer "$nh" >/dev/null &&
ctl hub sa add hub in spi "0x2${i}00" key "$(key $((16 * i + 100)))" peer "$nh" >/dev/null &&
ctl hub route add "10.1$i.0.0/16" tunnel hub via "$nh" >/dev/null &&
ctl hub route add "fd00:1$i::/64" tunnel hub via "$nh" >/dev/null ||
	fail "hub: peer $i"
# what must be refused, with a message
out=$(ctl hub peer add hub 10.255.0.2 remote 192.0.2.9 2>&1) && fail "a second peer 10.255.0.2 was accepted"
say "   refused: $out"
out=$(ctl hub route add 10.99.0.0/16 tunnel hub via 10.255.0.99 2>&1) && fail "a route via an unknown peer was accepted"
say "   refused: $out"
out=$(ctl hub tunnel add hub local 192.0.2.1 remote 192.0.2.9 2>&1) && fail "a tunnel named like the hub was accepted"
say "   refused: $out"

# ---- the spokes: a P2P tunnel to the hub from the config file ----
for i in $SPOKES; do
	f=$(gw_conf "s$i" "eS$i" "10.1$i.0.1/32" "fd00:1$i::1/128" "192.0.2.$((1 + i))" 192.0.2.1 \
		10.1.0.0/16 fd00:1::/64 "0x2${i}00" "$(key $((16 * i + 100)))" \
		"0x1${i}00" "$(key $((16 * i)))")
	start "s$i" "${P}S$i" "$f"
done
ctl hub show peers

# the outer neighbours both ways, then one ping through each peer (the first
# packets may wait for a MAC and count as tx_no_neigh)
for i in $SPOKES; do
	ip netns exec "$NS_H" ping -c 1 -W 2 "192.0.2.$((1 + i))" >/dev/null || fail "no outer connectivity to spoke $i"
	ok=
	for _ in 1 2 3; do
		ip netns exec "$NS_H" ping -c 1 -W 1 -I 10.1.0.1 "10.1$i.0.1" >/dev/null && { ok=1; break; }
	done
	[ -n "$ok" ] || fail "no ping through peer $i: $(ctl hub show stats)"
done

# sa_pkts NAME: "SPI packets" of every SA of espressod NAME, one a line
sa_pkts() {
	ctl "$1" -j show sa | /usr/bin/python3 -c '
import json, sys
for s in json.load(sys.stdin):
    print(int(s["spi"], 16), s["packets"])'
}
# the hub's SA counters once they stop moving: the last segments of the
# connection before (a FIN, a late ACK) may still cross after its iperf3
# exited (a SANITIZE run once counted one on the previous spoke's SA)
sa_pkts_settled() {
	local x y
	x=$(sa_pkts hub)
	for _ in $(seq 20); do
		sleep 0.2
		y=$(sa_pkts hub)
		[ "$x" = "$y" ] && break
		x=$y
	done
	printf '%s\n' "$x"
}
# delta BEFORE AFTER SPI: packets of SPI (decimal) between two sa_pkts
delta() {
	local a b
	a=$(printf '%s\n' "$1" | awk -v s="$3" '$1 == s { print $2 }')
	b=$(printf '%s\n' "$2" | awk -v s="$3" '$1 == s { print $2 }')
	echo $(( ${b:-0} - ${a:-0} ))
}
# expect BEFORE AFTER I N: peer I's SAs at the hub grew by N each way,
# the other peers' by 0
expect() {
	local j want d
	for j in $SPOKES; do
		want=0
		[ "$j" = "$3" ] && want=$4
		for spi in $((0x1${j}00)) $((0x2${j}00)); do
			d=$(delta "$1" "$2" "$spi")
			[ "$d" = "$want" ] || fail "hub SA $(printf 0x%x "$spi") (peer $j): $d packets, want $want"
		done
	done
}

say "1. ping hub -> each spoke: exactly that peer's SAs"
for i in $SPOKES; do
	b=$(sa_pkts hub) bs=$(sa_pkts "s$i")
	ip netns exec "$NS_H" ping -c 5 -i 0.1 -W 1 -I 10.1.0.1 "10.1$i.0.1" >/dev/null || fail "ping hub -> spoke $i"
	a=$(sa_pkts hub) as=$(sa_pkts "s$i")
	expect "$b" "$a" "$i" 5
	[ "$(delta "$bs" "$as" $((0x1${i}00)))" = 5 ] && [ "$(delta "$bs" "$as" $((0x2${i}00)))" = 5 ] ||
		fail "spoke $i's SAs did not count 5 each way"
	b=$(sa_pkts hub)
	ip netns exec "${P}S$i" ping -c 5 -i 0.1 -W 1 -I "10.1$i.0.1" 10.1.0.1 >/dev/null || fail "ping spoke $i -> hub"
	ip netns exec "${P}S$i" ping -6 -c 5 -i 0.1 -W 1 -I "fd00:1$i::1" fd00:1::1 >/dev/null || fail "ping6 spoke $i -> hub"
	expect "$b" "$(sa_pkts hub)" "$i" 10
	say "   peer $i: 5 pings out, 5 + 5 (IPv4 + IPv6) in, others untouched"
done

say "2. iperf3 hub -> each spoke and back"
for i in $SPOKES; do
	for rev in "" -R; do
		b=$(sa_pkts_settled)
		ip netns exec "${P}S$i" iperf3 -s -1 -B "10.1$i.0.1" >/dev/null 2>&1 &
		srv=$!
		for _ in $(seq 30); do
			ip netns exec "${P}S$i" ss -ltn | grep -q ":5201 " && break
			sleep 0.1
		done
		ip netns exec "$NS_H" iperf3 -c "10.1$i.0.1" -B 10.1.0.1 -t 1 $rev -J >"$WORK/iperf$i$rev.json" 2>&1 ||
			fail "iperf3 $rev to spoke $i: $(tail -3 "$WORK/iperf$i$rev.json")"
		wait "$srv" || true
		a=$(sa_pkts hub)
		gbps=$(/usr/bin/python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$WORK/iperf$i$rev.json")
		for j in $SPOKES; do
			for spi in $((0x1${j}00)) $((0x2${j}00)); do
				d=$(delta "$b" "$a" "$spi")
				if [ "$j" = "$i" ]; then
					[ "$d" -gt 0 ] || fail "iperf3 to spoke $i: hub SA $(printf 0x%x "$spi") carried nothing"
				else
					[ "$d" = 0 ] || fail "iperf3 to spoke $i: peer $j's SA $(printf 0x%x "$spi") counted $d"
				fi
			done
		done
		say "   spoke $i ${rev:-(hub sends)}: $gbps Gbit/s, other peers' SAs untouched"
	done
done

say "3. peer del hub 10.255.0.3: only spoke 2's traffic stops"
ctl hub peer del hub 10.255.0.3 >/dev/null || fail "peer del"
ctl hub show peers
[ "$(ctl hub -j show peers | /usr/bin/python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if "via" in p))')" = 2 ] ||
	fail "show peers does not list 2 peers"
ctl hub show routes | grep -q "10.12.0.0/16" && fail "the route of the deleted peer stayed"
ip netns exec "$NS_H" ping -c 2 -i 0.2 -W 1 -I 10.1.0.1 10.12.0.1 >/dev/null 2>&1 && fail "spoke 2 still reachable from the hub"
sleep 1.1 # the deleted inbound SA's grace period (live.h LIVE_IN_GRACE_MS)
ip netns exec "${P}S2" ping -c 2 -i 0.2 -W 1 -I 10.12.0.1 10.1.0.1 >/dev/null 2>&1 && fail "the hub still answers spoke 2"
for i in 1 3; do
	b=$(sa_pkts hub)
	ip netns exec "$NS_H" ping -c 5 -i 0.1 -W 1 -I 10.1.0.1 "10.1$i.0.1" >/dev/null || fail "ping spoke $i after peer 2 went"
	a=$(sa_pkts hub)
	for spi in $((0x1${i}00)) $((0x2${i}00)); do
		[ "$(delta "$b" "$a" "$spi")" = 5 ] || fail "peer $i after peer 2 went: SA $(printf 0x%x "$spi") counted $(delta "$b" "$a" "$spi")"
	done
done
ctl hub show sa | grep -q '0x1200\|0x2200' && fail "peer 2's SAs stayed"
say "4. reload: peer 2 out of the file, then back in"
hub_conf() { # hub_conf PEER...: the hub's file with those peers
	local i sep=
	cat <<CONF
espresso: {
  instance = "$P-hub";
  uplink = { name = "eH"; threaded_napi = "$THREADED_NAPI"; };
  tun = { name = "esp0"; mtu = 1400; address = [ "10.1.0.1/32", "fd00:1::1/128" ]; };
  tunnels = (
    { name = "hub"; local = "192.0.2.1"; cipher = "$CIPHER";
      peers = (
CONF
	for i in "$@"; do printf '%s' "$sep"; peer_conf "$i"; sep=,; done
	printf '      ); }\n  );\n};\n'
}
npeers() {
	ctl hub -j show peers | /usr/bin/python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if "via" in p))'
}
b=$(sa_pkts hub)
hub_conf 1 >"$WORK/hub.conf"
ctl hub reload >/dev/null || fail "reload (peer 1 only)"
[ "$(npeers)" = 2 ] || fail "after a reload with peer 1 only: $(ctl hub show peers)"
hub_conf 1 2 >"$WORK/hub.conf"
ctl hub reload >/dev/null || fail "reload (peers 1 and 2)"
[ "$(npeers)" = 3 ] || fail "reload did not bring peer 2 back: $(ctl hub show peers)"
ok=
for _ in 1 2 3; do
	ip netns exec "$NS_H" ping -c 1 -W 1 -I 10.1.0.1 10.12.0.1 >/dev/null && { ok=1; break; }
done
[ -n "$ok" ] || fail "no ping to spoke 2 after the reload"
a=$(sa_pkts hub)
[ "$(delta "$b" "$a" $((0x1100)))" = 0 ] || fail "reload touched peer 1's SA"
[ "$(printf '%s\n' "$a" | awk -v s=$((0x1100)) '$1 == s { print $2 }')" -gt 0 ] || fail "reload reset peer 1's counters"
ctl hub tunnel del hub >/dev/null || fail "tunnel del hub"
[ "$(ctl hub show tunnels)" = "" ] || fail "tunnel del hub left peers: $(ctl hub show tunnels)"
say "PASS"
