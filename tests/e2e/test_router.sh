#!/bin/bash
# Router mode: LAN interfaces on AF_XDP end to end, IP forwarding off.
#
#   ${P}HA host A 10.1.0.2 (default via 10.1.0.1)
#      h0 ===== veth ===== l0 10.1.0.1/24 (XDP, LAN)
#                          ${P}A gw-a: espressod, tun esp0 10.1.255.1
#                          eA 192.0.2.1 (XDP, uplink)
#                               ====== veth wire ======
#                          eB 192.0.2.2 (XDP, uplink)
#                          ${P}B gw-b: espressod, tun esp0 10.2.255.1
#      h0 ===== veth ===== l0 10.2.0.1/24 (XDP, LAN, MTU LAN_B_MTU)
#   ${P}HB host B 10.2.0.2 (default via 10.2.0.1)
#
# A routes 10.2.0.0/16 into the tunnel, B 10.1.0.0/16.
#  1. ping and iperf3 (TCP) host A <-> host B; the LAN counters of both
#     gateways move, their kernels forward nothing (/proc/net/snmp
#     ForwDatagrams unchanged, net.ipv4.ip_forward = 0); the frame audit
#     of the uplink and LAN ports of both is clean
#  2. scapy on host A: an echo reply crossed two routers (TTL 64 - 2);
#     TTL 1: time exceeded from gw-a's LAN address; TTL 2: from gw-b's,
#     through the tunnel; DF too big for the tunnel: fragmentation needed
#     from gw-a with the tunnel MTU; DF too big for B's LAN: from gw-b with
#     B's LAN MTU
#  2b. IPv6 (LANs fd00:X:1::/64, inside the fd00:X::/32 the tunnels route,
#     net.ipv6.conf.all.forwarding = 0): ping6 and iperf3 -6 host A <->
#     host B, Ip6OutForwDatagrams unchanged, gw-b's IPv6 neighbour table
#     (show lans hosts6); scapy: hop limit 64 - 2, time exceeded from each
#     gateway's LAN address, packet too big with the tunnel MTU and with
#     B's LAN MTU, the kernel's neighbour advertisement for gw-a's address
#  3. the gateway itself: a TCP service on gw-a's LAN address answers
#     host A; host mode (the tun) works beside router mode
#  4. the SPD on gw-a (scapy's UDP from host A, a receiver on host B):
#     discard and bypass by destination port, counted exactly; a protect
#     rule of higher priority over the discard; a discard added while a
#     ping flows stops it at once (the flow cache's verdict is of an older
#     generation), deleting it lets it through again; policy errors; the
#     flow cache and the candidates dumped by bpftool with their fields;
#     inbound on gw-b: a decrypted datagram whose (reversed) rule is a
#     discard is dropped as rx_policy, one no rule covers is delivered;
#     a protect rule whose tunnel is deleted discards; gw-b's policy comes
#     from its config and a reload without it removes it; a reload that
#     changes the LAN list is refused (a restart is needed)
#     (1. also: show lans, text and JSON, its counters those of show stats)
#  4b. neighbour events lost (gw-b stopped while thousands overflow its
#     socket): the kernel's table read again, host B's changed MAC taken
#     from it; host B's entry deleted meanwhile: resolved again
#  5. gw-a killed (SIGKILL) and started again: traffic flows, the
#     policies added through espressoctl are back (state directory), one
#     deleted stays deleted, a damaged policies file stops the start with
#     its line; a clean stop leaves no XDP program on its LAN
source "$(dirname "$0")/lib.sh"
NS_HA=${P}HA
NS_HB=${P}HB
LAN_B_MTU=1400
cleanup() {
	[ -z "${LISTEN_PID:-}" ] || kill "$LISTEN_PID" 2>/dev/null
	[ -z "${rpid:-}" ] || kill "$rpid" 2>/dev/null
	topo_down
	ip netns del "$NS_HA" 2>/dev/null || true
	ip netns del "$NS_HB" 2>/dev/null || true
}
trap cleanup EXIT

stat_sum() { # stat_sum a|b NAME: a per-queue counter summed over queues
	ctl "$1" show stats | grep '^queue' |
		awk -v n="$2" '{for (i = 1; i < NF; i++) if ($i == n) s += $(i + 1)} END {print s + 0}'
}
forwarded6() { # forwarded6 NS: the kernel's Ip6OutForwDatagrams
	ip netns exec "$1" awk '$1 == "Ip6OutForwDatagrams" { print $2 }' /proc/net/snmp6
}
forwarded() { # forwarded NS: the kernel's Ip ForwDatagrams
	ip netns exec "$1" awk '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "ForwDatagrams") c = i; h = 1 } else print $c }' /proc/net/snmp
}

lan_up() { # lan_up A|B NET MTU NET6: host namespace and LAN veth of gateway x
	local gw=${P}$1 host=${P}H$1
	ip netns add "$host"
	ip link add h0 netns "$host" numrxqueues "$QUEUES" numtxqueues "$QUEUES" \
		type veth peer name l0 netns "$gw" \
		numrxqueues "$QUEUES" numtxqueues "$QUEUES"
	ip -n "$gw" link set l0 mtu "$3" up
	ip -n "$host" link set h0 mtu "$3" up
	ip -n "$host" link set lo up
	ip -n "$gw" addr add "$2.1/24" dev l0
	ip -n "$host" addr add "$2.2/24" dev h0
	ip -n "$host" route add default via "$2.1"
	# IPv6: the LAN fd00:X:1::/64 inside the fd00:X::/32 the peer routes
	# into its tunnel (the tun's fd00:X::1 stays outside the LAN)
	ip -n "$gw" addr add "$4::1/64" dev l0 nodad
	ip -n "$host" addr add "$4::2/64" dev h0 nodad
	ip -n "$host" -6 route add default via "$4::1"
	# a veth leaves checksums to the receiver (CHECKSUM_PARTIAL), and an
	# XSK gets the bytes as they are: complete them here, as a wire would
	ip netns exec "$host" ethtool -K h0 tx off >/dev/null
	# and it receives as a NIC does, through NAPI and GRO
	ip netns exec "$host" ethtool -K h0 gro on >/dev/null
}

rgw_start() { # rgw_start a|b: gw_start's gateway in router mode
	local ns conf log
	if [ "$1" = a ]; then
		ns=$NS_A
		conf=$(EXTRA_CONF='lan = ( { name = "l0"; } );' gw_conf a eA \
			10.1.255.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
			10.2.0.0/16 fd00:2::/32 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
	else
		ns=$NS_B
		conf=$(EXTRA_CONF="lan = ( { name = \"l0\"; } ); ${B_POLICIES:-}" gw_conf b eB \
			10.2.255.1/32 fd00:2::1/128 192.0.2.2 192.0.2.1 \
			10.1.0.0/16 fd00:1::/32 "$SPI_BA" "$KEY_BA" "$SPI_AB" "$KEY_AB")
	fi
	log=$WORK/gw-$1.log
	# a killed instance's log and socket may still be there: emptied
	# here, where the wait below cannot see the old "running" first
	: >"$log"
	ip netns exec "$ns" "$ROOT/espressod" ${VERBOSE:+-v} -c "$conf" --state-dir "$WORK/state-$1" \
		>"$log" 2>&1 &
	eval "PID_${1^^}=$!"
	gw_wait_running "gw-$1" "$log" 0 $!
}

# shellcheck disable=SC2034 # gw_conf (lib.sh) reads it
TUN_MTU=0
B_POLICIES='policies = ( { id = 50; src = "10.2.0.0/24"; dst = "10.1.0.0/24"; proto = "udp"; dport = "6000"; action = "discard"; } );'
topo_up
lan_up A 10.1.0 1500 fd00:1:1
lan_up B 10.2.0 "$LAN_B_MTU" fd00:2:1
for ns in "$NS_A" "$NS_B"; do
	[ "$(ip netns exec "$ns" sysctl -n net.ipv4.ip_forward)" = 0 ] ||
		fail "IP forwarding is on in $ns"
	[ "$(ip netns exec "$ns" sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] ||
		fail "IPv6 forwarding is on in $ns"
done
rgw_start a
rgw_start b
fwd_a=$(forwarded "$NS_A")
fwd_b=$(forwarded "$NS_B")
fwd6_a=$(forwarded6 "$NS_A")
fwd6_b=$(forwarded6 "$NS_B")
grep -q "LAN l0: router mode" "$WORK/gw-a.log" || fail "gw-a: no LAN: $(cat "$WORK/gw-a.log")"

say "1. ping and iperf3 between the LAN hosts"
ok=
for _ in 1 2 3 4 5; do
	ip netns exec "$NS_HA" ping -c 1 -W 1 10.2.0.2 >/dev/null && { ok=1; break; }
done
[ -n "$ok" ] || fail "no ping host A -> host B: $(ctl a show stats; ctl b show stats)"
ip netns exec "$NS_HA" ping -c 5 -i 0.2 -W 2 10.2.0.2 >/dev/null || fail "pings lost"
ip netns exec "$NS_HB" ping -c 3 -i 0.2 -W 2 10.1.0.2 >/dev/null || fail "no ping host B -> host A"
ip netns exec "$NS_HB" iperf3 -s -1 -B 10.2.0.2 >/dev/null 2>&1 &
srv=$!
sleep 0.5
ip netns exec "$NS_HA" iperf3 -c 10.2.0.2 -t 2 >"$WORK/iperf.txt" 2>&1 ||
	fail "iperf3: $(cat "$WORK/iperf.txt")"
wait $srv
grep receiver "$WORK/iperf.txt"
for gw in a b; do
	for c in lan_rx lan_tx; do
		n=$(stat_sum $gw $c)
		[ "$n" -ge 8 ] || fail "gw-$gw $c = $n: $(ctl $gw show stats)"
	done
done
n=$(xdp_counter "$NS_A" l0 redirect_protect)
[ "$n" -ge 8 ] || fail "gw-a XDP redirect_protect = $n"
[ "$(forwarded "$NS_A")" = "$fwd_a" ] || fail "gw-a's kernel forwarded packets"
[ "$(forwarded "$NS_B")" = "$fwd_b" ] || fail "gw-b's kernel forwarded packets"
# every UMEM frame, the LAN ports' too, where its owner says
sleep 0.5
for gw in a b; do
	fr=$(ctl $gw show frames)
	[ "$(printf '%s\n' "$fr" | grep -c 'port l0 .* OK$')" = "$QUEUES" ] &&
		[ "$(printf '%s\n' "$fr" | grep -c ' OK$')" = $((2 * QUEUES)) ] ||
		fail "gw-$gw frame audit: $fr"
done

# show lans: the LAN from the config, its kernel facts, and its share of
# the queues' LAN counters (all of them: one LAN)
for gw in a b; do
	net=10.1.0.1/24,fd00:1:1::1/64
	[ $gw = b ] && net=10.2.0.1/24,fd00:2:1::1/64
	ctl $gw show lans | grep -q "^lan l0 ifindex [0-9]* mac [0-9a-f:]* mtu [0-9]* queues $QUEUES .* addresses $net\$" ||
		fail "gw-$gw show lans: $(ctl $gw show lans)"
	ok=
	for _ in 1 2 3; do
		l=$(ctl $gw -j show lans | /usr/bin/python3 -c '
import json, sys
l = json.load(sys.stdin)
assert len(l) == 1 and l[0]["name"] == "l0" and l[0]["hosts"] >= 1, l
print(l[0]["rx"], l[0]["tx"], ",".join(l[0]["addresses"]))') || fail "gw-$gw show lans -j: $(ctl $gw -j show lans)"
		[ "$l" = "$(stat_sum $gw lan_rx) $(stat_sum $gw lan_tx) $net" ] && { ok=1; break; }
		sleep 0.2
	done
	[ -n "$ok" ] || fail "gw-$gw show lans: rx tx $l, show stats lan_rx $(stat_sum $gw lan_rx) lan_tx $(stat_sum $gw lan_tx)"
done

say "2. TTL and ICMP errors (scapy)"
tmtu=$(sed -n 's/.*tunnel MTU \([0-9]*\).*/\1/p' "$WORK/gw-a.log" | head -1)
[ -n "$tmtu" ] || fail "no tunnel MTU in the log"
ip netns exec "$NS_HA" /usr/bin/python3 - "$tmtu" "$LAN_B_MTU" <<'PY' || fail "scapy checks"
import sys
from scapy.all import IP, ICMP, Raw, sr1, conf
conf.verb = 0
tmtu, lanb = int(sys.argv[1]), int(sys.argv[2])
def ask(p):
    for _ in range(3):
        r = sr1(p, timeout=2, iface="h0")
        if r is not None:
            return r
    sys.exit("no answer to %r" % p)
r = ask(IP(dst="10.2.0.2", ttl=64) / ICMP(id=7, seq=1))
assert r[ICMP].type == 0 and r.src == "10.2.0.2", r.summary()
assert r.ttl == 62, "echo reply TTL %d, not 64 - 2 routers" % r.ttl
r = ask(IP(dst="10.2.0.2", ttl=1) / ICMP(id=7, seq=2))
assert r[ICMP].type == 11 and r[ICMP].code == 0 and r.src == "10.1.0.1", r.summary()
r = ask(IP(dst="10.2.0.2", ttl=2) / ICMP(id=7, seq=3))
assert r[ICMP].type == 11 and r.src == "10.2.0.1", r.summary()
assert r.ttl == 63, "time exceeded from gw-b crossed gw-a: TTL %d" % r.ttl
r = ask(IP(dst="10.2.0.2", flags="DF") / ICMP(id=7, seq=4) / Raw(b"x" * (1500 - 28)))
assert r[ICMP].type == 3 and r[ICMP].code == 4 and r.src == "10.1.0.1", r.summary()
assert r[ICMP].nexthopmtu == tmtu, "next-hop MTU %d, tunnel %d" % (r[ICMP].nexthopmtu, tmtu)
r = ask(IP(dst="10.2.0.2", flags="DF") / ICMP(id=7, seq=5) / Raw(b"x" * (lanb + 8 - 28)))
assert r[ICMP].type == 3 and r[ICMP].code == 4 and r.src == "10.2.0.1", r.summary()
assert r[ICMP].nexthopmtu == lanb, "next-hop MTU %d, LAN %d" % (r[ICMP].nexthopmtu, lanb)
print("scapy: TTL 62, time exceeded from 10.1.0.1 and 10.2.0.1, frag needed %d and %d" % (tmtu, lanb))
PY
n=$(ctl a show stats | tr ' ' '\n' | grep -A1 -x lan_ttl | sed -n 2p)
[ "${n:-0}" -ge 1 ] || fail "gw-a counted no lan_ttl drop: $(ctl a show stats)"

say "2b. IPv6 on the LANs"
ok=
for _ in 1 2 3 4 5; do
	ip netns exec "$NS_HA" ping -6 -c 1 -W 1 fd00:2:1::2 >/dev/null && { ok=1; break; }
done
[ -n "$ok" ] || fail "no ping6 host A -> host B: $(ctl a show stats; ctl b show stats)"
ip netns exec "$NS_HB" ping -6 -c 3 -i 0.2 -W 2 fd00:1:1::2 >/dev/null || fail "no ping6 host B -> host A"
rx6_a=$(xdp_counter "$NS_A" l0 redirect_protect)
ip netns exec "$NS_HB" iperf3 -s -1 -B fd00:2:1::2 >/dev/null 2>&1 &
srv=$!
sleep 0.5
ip netns exec "$NS_HA" iperf3 -6 -c fd00:2:1::2 -t 1 >"$WORK/iperf6.txt" 2>&1 ||
	fail "iperf3 -6: $(cat "$WORK/iperf6.txt")"
wait $srv
grep receiver "$WORK/iperf6.txt"
n=$(xdp_counter "$NS_A" l0 redirect_protect)
[ "$((n - rx6_a))" -ge 100 ] || fail "gw-a XDP redirect_protect moved by $((n - rx6_a)) in iperf3 -6"
# host B's MAC came from gw-b's kernel (NDP), in its IPv6 neighbour table
ctl b -j show lans | /usr/bin/python3 -c '
import json, sys
l = json.load(sys.stdin)[0]
assert l["hosts6"] == 1 and l["hosts"] == 1, l' || fail "gw-b show lans: $(ctl b -j show lans)"
[ "$(forwarded6 "$NS_A")" = "$fwd6_a" ] || fail "gw-a's kernel forwarded IPv6 packets"
[ "$(forwarded6 "$NS_B")" = "$fwd6_b" ] || fail "gw-b's kernel forwarded IPv6 packets"
ip netns exec "$NS_HA" /usr/bin/python3 - "$tmtu" "$LAN_B_MTU" <<'PY' || fail "scapy IPv6 checks"
import sys
from scapy.all import (IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6TimeExceeded,
                       ICMPv6PacketTooBig, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6NDOptSrcLLAddr,
                       Ether, Raw, sr1, srp1, conf, get_if_hwaddr, in6_getnsma, in6_getnsmac,
                       inet_pton, inet_ntop, socket)
conf.verb = 0
tmtu, lanb = int(sys.argv[1]), int(sys.argv[2])
def ask(p, l2=False):
    for _ in range(3):
        r = (srp1 if l2 else sr1)(p, timeout=2, iface="h0")
        if r is not None:
            return r
    sys.exit("no answer to %r" % p)
B = "fd00:2:1::2"
r = ask(IPv6(dst=B, hlim=64) / ICMPv6EchoRequest(id=7, seq=1))
assert ICMPv6EchoReply in r and r[IPv6].src == B, r.summary()
assert r[IPv6].hlim == 62, "echo reply hop limit %d, not 64 - 2 routers" % r[IPv6].hlim
r = ask(IPv6(dst=B, hlim=1) / ICMPv6EchoRequest(id=7, seq=2))
assert ICMPv6TimeExceeded in r and r[ICMPv6TimeExceeded].code == 0 and r[IPv6].src == "fd00:1:1::1", r.summary()
r = ask(IPv6(dst=B, hlim=2) / ICMPv6EchoRequest(id=7, seq=3))
assert ICMPv6TimeExceeded in r and r[IPv6].src == "fd00:2:1::1", r.summary()
assert r[IPv6].hlim == 63, "time exceeded from gw-b crossed gw-a: hop limit %d" % r[IPv6].hlim
r = ask(IPv6(dst=B) / ICMPv6EchoRequest(id=7, seq=4, data=b"x" * (1500 - 48)))
assert ICMPv6PacketTooBig in r and r[IPv6].src == "fd00:1:1::1", r.summary()
assert r[ICMPv6PacketTooBig].mtu == tmtu, "PTB MTU %d, tunnel %d" % (r[ICMPv6PacketTooBig].mtu, tmtu)
r = ask(IPv6(dst=B) / ICMPv6EchoRequest(id=7, seq=5, data=b"x" * (lanb + 8 - 48)))
assert ICMPv6PacketTooBig in r and r[IPv6].src == "fd00:2:1::1", r.summary()
assert r[ICMPv6PacketTooBig].mtu == lanb, "PTB MTU %d, LAN %d" % (r[ICMPv6PacketTooBig].mtu, lanb)
# NDP for the gateway's LAN address: the kernel answers
gw = "fd00:1:1::1"
ns = inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, gw)))
mac = get_if_hwaddr("h0")
r = ask(Ether(src=mac, dst=in6_getnsmac(inet_pton(socket.AF_INET6, ns))) /
        IPv6(src="fd00:1:1::2", dst=ns, hlim=255) / ICMPv6ND_NS(tgt=gw) /
        ICMPv6NDOptSrcLLAddr(lladdr=mac), l2=True)
assert ICMPv6ND_NA in r and r[ICMPv6ND_NA].tgt == gw, r.summary()
print("scapy: hop limit 62, time exceeded from fd00:1:1::1 and fd00:2:1::1, too big %d and %d, NA for %s" % (tmtu, lanb, gw))
PY

say "3. the gateways themselves"
ip netns exec "$NS_A" /usr/bin/python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.1.0.1", 2222)); s.listen(1)
c, _ = s.accept(); c.sendall(b"gw-a service\n"); c.close()' &
LISTEN_PID=$!
sleep 0.5
got=$(ip netns exec "$NS_HA" /usr/bin/python3 -c '
import socket
s = socket.create_connection(("10.1.0.1", 2222), timeout=3)
print(s.recv(100).decode().strip())')
[ "$got" = "gw-a service" ] || fail "gw-a's own TCP service on its LAN address: '$got'"
wait "$LISTEN_PID"; LISTEN_PID=
ip netns exec "$NS_HA" ping -c 1 -W 2 10.1.0.1 >/dev/null || fail "no ping to gw-a's LAN address"
# host mode beside router mode: gw-a's own stack through its tun to host B
ip netns exec "$NS_A" ping -c 2 -W 2 10.2.0.2 >/dev/null || fail "host mode: gw-a -> host B"
ip netns exec "$NS_HB" ping -c 2 -W 2 10.1.255.1 >/dev/null || fail "host B -> gw-a's tun address"
[ "$(forwarded "$NS_A")" = "$fwd_a" ] || fail "gw-a's kernel forwarded packets"
[ "$(forwarded "$NS_B")" = "$fwd_b" ] || fail "gw-b's kernel forwarded packets"

say "4. the SPD"
xdp() { xdp_counter "$NS_A" l0 "$1"; }
udp_to_b() { # udp_to_b DPORT N [SPORT]: N datagrams host A -> host B, scapy
	ip netns exec "$NS_HA" /usr/bin/python3 -c '
import sys
from scapy.all import IP, UDP, Raw, send, conf
conf.verb = 0
send(IP(dst="10.2.0.2") / UDP(sport=int(sys.argv[3]), dport=int(sys.argv[1])) / Raw(b"spd"),
     count=int(sys.argv[2]), inter=0.01)' "$1" "$2" "${3:-40000}"
}
drop_b() { ctl b show stats | grep -A3 '^queue' | tr ' ' '\n' | grep -A1 -x "$1" | sed -n 2p; }
receiver() { # receiver PORT: count datagrams into $WORK/rx.PORT until rx_wait
	rm -f "$WORK/rx.$1" "$WORK/rx.$1.ready" "$WORK/rx.$1.done"
	# it stops 1.5 s after the senders are done (rx_wait), not after a
	# silence: scapy's start on a loaded machine can take seconds
	ip netns exec "$NS_HB" /usr/bin/python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.2.0.2", int(sys.argv[1]))); s.settimeout(0.1); n = 0
open(sys.argv[2] + ".ready", "w").close()
end = time.monotonic() + 120
while time.monotonic() < end:
    if os.path.exists(sys.argv[2] + ".done") and end - time.monotonic() > 1.5:
        end = time.monotonic() + 1.5
    try:
        s.recv(100); n += 1
    except socket.timeout:
        pass
open(sys.argv[2], "w").write(str(n))' "$1" "$WORK/rx.$1" &
	rpid=$!
	for _ in $(seq 100); do [ -e "$WORK/rx.$1.ready" ] && return; sleep 0.05; done
	fail "the receiver on host B did not start"
}
rx_wait() { # rx_wait PORT: the senders are done; the receiver's count
	touch "$WORK/rx.$1.done"
	wait "$rpid"
}
ctl a policy add 10 priority 10 dst 10.2.0.2/32 proto udp dport 5000 action discard >/dev/null ||
	fail "policy add discard"
ctl a policy add 11 priority 10 dst 10.2.0.0/24 proto udp dport 5001 action bypass >/dev/null ||
	fail "policy add bypass"
d0=$(xdp drop_spd_discard); b0=$(xdp pass_spd_bypass)
receiver 5000
udp_to_b 5000 5
udp_to_b 5001 4
rx_wait 5000
[ "$(cat "$WORK/rx.5000")" = 0 ] || fail "host B got $(cat "$WORK/rx.5000") discarded datagrams"
[ $(( $(xdp drop_spd_discard) - d0 )) = 5 ] || fail "drop_spd_discard moved by $(( $(xdp drop_spd_discard) - d0 )), not 5"
[ $(( $(xdp pass_spd_bypass) - b0 )) = 4 ] || fail "pass_spd_bypass moved by $(( $(xdp pass_spd_bypass) - b0 )), not 4"
# priority: protect (5) before discard (10) for the same datagrams
ctl a policy add 12 priority 5 dst 10.2.0.0/16 proto udp dport 4000-5000 action protect tunnel to-peer >/dev/null ||
	fail "policy add protect"
p0=$(xdp redirect_policy)
receiver 5000
udp_to_b 5000 5
rx_wait 5000
[ "$(cat "$WORK/rx.5000")" = 5 ] || fail "host B got $(cat "$WORK/rx.5000") of 5 protected datagrams"
[ $(( $(xdp redirect_policy) - p0 )) = 5 ] || fail "redirect_policy moved by $(( $(xdp redirect_policy) - p0 ))"
ctl a show policies
[ "$(ctl a -j show policies | /usr/bin/python3 -c 'import json,sys; print([p["id"] for p in json.load(sys.stdin)])')" = "[12, 10, 11]" ] ||
	fail "show policies: not in priority order"
# the flow cache under a policy change, mid-flow
ip netns exec "$NS_HA" ping -c 2 -i 0.2 -W 1 10.2.0.2 >/dev/null || fail "ping before the change"
h0=$(xdp spd_cache_hit)
ip netns exec "$NS_HA" ping -c 2 -i 0.2 -W 1 10.2.0.2 >/dev/null || fail "ping before the change"
[ "$(xdp spd_cache_hit)" -gt "$h0" ] || fail "the ping's flow never hit the cache"
d0=$(xdp drop_spd_discard)
ctl a policy add 20 priority 1 dst 10.2.0.2/32 proto icmp action discard >/dev/null || fail "policy add icmp"
ip netns exec "$NS_HA" ping -c 3 -i 0.2 -W 1 10.2.0.2 >/dev/null && fail "a stale cached verdict let the ping through"
[ $(( $(xdp drop_spd_discard) - d0 )) = 3 ] || fail "3 pings, drop_spd_discard moved by $(( $(xdp drop_spd_discard) - d0 ))"
ctl a policy del 20 >/dev/null || fail "policy del"
ip netns exec "$NS_HA" ping -c 2 -i 0.2 -W 1 10.2.0.2 >/dev/null || fail "ping after the policy went"
# a protect rule whose tunnel goes discards (fail closed)
in_force() { ctl a -j show policies | /usr/bin/python3 -c 'import json,sys; print([p.get("in_force") for p in json.load(sys.stdin) if p["id"] == 60])'; }
ctl a tunnel add t2 local 192.0.2.1 remote 192.0.2.9 >/dev/null || fail "tunnel add t2"
ctl a policy add 60 priority 1 dst 10.2.0.2/32 proto udp dport 7000 action protect tunnel t2 >/dev/null ||
	fail "policy add 60"
[ "$(in_force)" = "['protect']" ] || fail "policy 60: $(in_force)"
ctl a tunnel del t2 >/dev/null || fail "tunnel del t2"
[ "$(in_force)" = "['discard']" ] || fail "policy 60 after its tunnel went: $(in_force)"
d0=$(xdp drop_spd_discard)
udp_to_b 7000 3
[ $(( $(xdp drop_spd_discard) - d0 )) = 3 ] || fail "policy 60 without its tunnel: drop_spd_discard moved by $(( $(xdp drop_spd_discard) - d0 ))"
ctl a policy del 60 >/dev/null || fail "policy del 60"
# errors: nothing changes
for bad in "policy add 10 action discard" "policy add 30 action protect tunnel nosuch" \
	"policy add 31 action protect" "policy add 32 dport 80 action discard" \
	"policy add 33 dst fd00::/8 action discard" "policy add 34 action bypass tunnel to-peer" \
	"policy del 99"; do
	# shellcheck disable=SC2086
	ctl a $bad >/dev/null 2>&1 && fail "accepted: $bad"
done
n=$(ctl a -j show policies | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 3 ] || fail "$n policies after refused commands"
# inbound: gw-b's rule (from its config) for B -> A UDP to port 6000
# discards, so a datagram from A's port 6000 that gw-b decrypts is dropped
[ "$(ctl b -j show policies | /usr/bin/python3 -c 'import json,sys; print([p["id"] for p in json.load(sys.stdin)])')" = "[50]" ] ||
	fail "gw-b: the config's policy is not in force: $(ctl b show policies)"
r0=$(drop_b rx_policy)
receiver 5002
udp_to_b 5002 4 6000
udp_to_b 5002 3 6001
rx_wait 5002
[ "$(cat "$WORK/rx.5002")" = 3 ] || fail "host B got $(cat "$WORK/rx.5002") datagrams, want the 3 from port 6001"
[ $(( ${r0:-0} + 4 )) = "$(drop_b rx_policy)" ] || fail "gw-b rx_policy: ${r0:-0} -> $(drop_b rx_policy), want +4"
# a reload without it: gone, and the datagrams from port 6000 arrive
sed -i 's/policies = (.*);$/policies = ( );/' "$WORK/gw-b.conf"
ctl b reload >/dev/null || fail "gw-b reload"
[ -z "$(ctl b show policies)" ] || fail "gw-b: policies after the reload: $(ctl b show policies)"
receiver 5002
udp_to_b 5002 2 6000
rx_wait 5002
[ "$(cat "$WORK/rx.5002")" = 2 ] || fail "after the reload host B got $(cat "$WORK/rx.5002") of 2"
# the LAN list is fixed while running (each worker's XSKs are opened at
# start): a reload that changes it is refused and changes nothing
cp "$WORK/gw-b.conf" "$WORK/gw-b.conf.lan"
sed -i 's/lan = ( { name = "l0"; } );//' "$WORK/gw-b.conf"
out=$(ctl b reload 2>&1) && fail "gw-b: a reload without its LAN was accepted: $out"
[[ $out == *"lan changed: that takes a restart"* ]] || fail "gw-b: reload without its LAN: $out"
mv "$WORK/gw-b.conf.lan" "$WORK/gw-b.conf"
ctl b show lans | grep -q "^lan l0 " || fail "gw-b: LAN gone after a refused reload: $(ctl b show lans)"
bpf_dump a espresso_flow_cache | grep -q rule_id || fail "bpftool: no rule_id field in the flow cache"
bpf_dump a espresso_spd_lpm | grep -q '"rule"' || fail "bpftool: no candidates in espresso_spd_lpm"

say "4b. neighbour events lost: gw-b reads the kernel's table again"
# gw-b stopped while thousands of neighbour events (entries outside its
# LANs, added and deleted) overflow its listener's socket; meanwhile host
# B's MAC changes. Round 1: gw-b's kernel is told the new MAC (an event
# lost with the others): after SIGCONT gw-b logs the loss, reads the table
# and sends to the new MAC. Round 2: host B's entry is deleted from gw-b's
# kernel instead: the table no longer lists it, so gw-b has the kernel
# resolve it again (ARP) and takes the MAC from the answer. (6,000 events
# of about 700 bytes each against the listener's 1 MiB at most.)
for i in $(seq 1 3000); do
	echo "neigh add 10.99.$((i / 250)).$((i % 250 + 1)) lladdr 02:00:00:00:$(printf %02x:%02x $((i / 256)) $((i % 256))) dev l0 nud permanent"
done >"$WORK/neigh.add"
sed 's/^neigh add \([^ ]*\) .*/neigh del \1 dev l0/' "$WORK/neigh.add" |
	cat "$WORK/neigh.add" - >"$WORK/neigh.batch"
lost_round() { # lost_round replace|delete NEW_MAC
	local n0 r0 ok=
	n0=$(grep -c "neighbour events were lost" "$WORK/gw-b.log")
	r0=$(grep -c "neighbour table read again" "$WORK/gw-b.log")
	kill -STOP "$PID_B"
	# (gw-b runs again whatever fails here)
	ok=1
	{ ip -n "$NS_B" -batch "$WORK/neigh.batch" &&
		ip -n "$NS_HB" link set h0 address "$2" &&
		if [ "$1" = replace ]; then
			ip -n "$NS_B" neigh replace 10.2.0.2 lladdr "$2" dev l0 nud reachable
		else
			ip -n "$NS_B" neigh del 10.2.0.2 dev l0
		fi; } || ok=
	kill -CONT "$PID_B"
	[ -n "$ok" ] || fail "$1: the neighbour changes failed"
	ok=
	for _ in $(seq 50); do
		[ "$(grep -c "neighbour table read again" "$WORK/gw-b.log")" -gt "$r0" ] && break
		sleep 0.1
	done
	[ "$(grep -c "neighbour events were lost" "$WORK/gw-b.log")" -gt "$n0" ] ||
		fail "$1: gw-b saw no loss of neighbour events: $(tail -5 "$WORK/gw-b.log")"
	[ "$(grep -c "neighbour table read again" "$WORK/gw-b.log")" -gt "$r0" ] ||
		fail "$1: gw-b did not read the neighbour table again: $(tail -5 "$WORK/gw-b.log")"
	for _ in 1 2 3 4 5; do
		ip netns exec "$NS_HA" ping -c 1 -W 1 10.2.0.2 >/dev/null && { ok=1; break; }
	done
	[ -n "$ok" ] || fail "$1: no ping host A -> host B after its MAC changed to $2"
}
lost_round replace 02:00:5e:00:b0:01
lost_round delete 02:00:5e:00:b0:02
grep "neighbour table read again" "$WORK/gw-b.log" | tail -1 | grep -Eq "; [1-9][0-9]* neighbour" ||
	fail "gw-b asked for no neighbour again after its entry was deleted: $(grep "neighbour table read again" "$WORK/gw-b.log")"

say "4c. the kernel's GC deletes host B's entry on gw-b: gw-b keeps its MAC"
# espresso's frames to LAN hosts never pass the kernel's neighbour code:
# their entries go stale and are garbage-collected (lib.sh neigh_gc makes
# it happen in seconds); gw-b keeps the MAC while the kernel resolves the
# host again, so no frame waits
ip netns exec "$NS_HA" ping -q -c 2 -i 0.2 -W 1 10.2.0.2 >/dev/null || fail "ping host A -> host B before 4c"
h0=$(drop_b lan_held)
neigh_gc "$NS_B" l0 10.2.0.2 || fail "the kernel did not delete host B's entry: $(cat "$WORK/neigh_gc.mon")"
ip netns exec "$NS_HA" ping -q -c 20 -i 0.02 -W 1 10.2.0.2 >/dev/null ||
	fail "ping host A -> host B after the kernel deleted its entry"
[ "$(drop_b lan_held)" = "$h0" ] || fail "gw-b held $(( $(drop_b lan_held) - h0 )) frame(s) for the MAC it had"
for _ in $(seq 30); do
	ip -n "$NS_B" neigh show 10.2.0.2 dev l0 | grep -q lladdr && break
	sleep 0.1
done
ip -n "$NS_B" neigh show 10.2.0.2 dev l0 | grep -q lladdr || fail "gw-b's kernel did not resolve host B again"

say "5. restart after SIGKILL, and a clean stop"
# the policies added through espressoctl are kept in the state directory
pol_a=$(ctl a show policies)
[ "$(printf '%s\n' "$pol_a" | grep -c '^policy ')" -ge 1 ] || fail "gw-a: no policy before the restart"
[ "$(stat -c %a "$WORK/state-a/policies")" = 600 ] || fail "gw-a: policies file mode $(stat -c %a "$WORK/state-a/policies")"
kill -KILL "$PID_A"; wait "$PID_A" 2>/dev/null; PID_A=
rgw_start a
ok=
for _ in 1 2 3 4 5; do
	ip netns exec "$NS_HA" ping -c 1 -W 1 10.2.0.2 >/dev/null && { ok=1; break; }
done
[ -n "$ok" ] || fail "no ping host A -> host B after gw-a's restart: $(cat "$WORK/gw-a.log")"
[ "$(ctl a show policies)" = "$pol_a" ] ||
	fail "gw-a's policies after the restart: $(ctl a show policies), before: $pol_a"
grep -q "policies added through espressoctl restored" "$WORK/gw-a.log" || fail "gw-a: no restore logged"
# one deleted is gone after a restart too; a damaged file stops the start
id=$(printf '%s\n' "$pol_a" | awk '/^policy / {print $2; exit}')
ctl a policy del "$id" >/dev/null || fail "gw-a: policy del $id"
gw_stop a
rgw_start a
[ "$(ctl a show policies | grep -c '^policy ')" = $(( $(printf '%s\n' "$pol_a" | grep -c '^policy ') - 1 )) ] &&
	! ctl a show policies | grep -q "^policy $id " || fail "gw-a: policy $id back after a restart: $(ctl a show policies)"
gw_stop a
echo "policy add 77 action bogus" >>"$WORK/state-a/policies"
ip netns exec "$NS_A" "$ROOT/espressod" -c "$WORK/gw-a.conf" --state-dir "$WORK/state-a" >"$WORK/gw-a.bad" 2>&1 &&
	fail "gw-a started with a damaged policies file"
grep -q "policies:[0-9]*: " "$WORK/gw-a.bad" || fail "gw-a: damaged policies file: $(cat "$WORK/gw-a.bad")"
sed -i '/^policy add 77 /d' "$WORK/state-a/policies"
rgw_start a
gw_stop a
ip -n "$NS_A" link show l0 | grep -q xdp && fail "XDP left on l0 after a clean stop: $(ip -n "$NS_A" link show l0)"
[ "$(forwarded "$NS_A")" = "$fwd_a" ] || fail "gw-a's kernel forwarded packets"
rgw_start a

# ROUTER_BENCH=SECONDS: iperf3 TCP single stream, LAN host to LAN host
# through router mode, then gateway to gateway through the tuns (host
# mode), in the same run (numbers only: nothing is asserted)
if [ -n "${ROUTER_BENCH:-}" ]; then
	bench() { # bench NAME CLIENT_NS SERVER_NS SERVER_ADDR
		local srv
		ip netns exec "$3" iperf3 -s -1 -B "$4" >/dev/null 2>&1 &
		srv=$!
		sleep 0.5
		ip netns exec "$2" iperf3 -c "$4" -t "$ROUTER_BENCH" -O 1 >"$WORK/b.txt" 2>&1 ||
			fail "iperf3 $1: $(cat "$WORK/b.txt")"
		wait "$srv"
		echo "   $1: $(grep receiver "$WORK/b.txt" | awk '{print $(NF-2), $(NF-1)}')"
	}
	say "bench: iperf3 -t $ROUTER_BENCH, TCP, one stream"
	bench "router mode, host A -> host B      " "$NS_HA" "$NS_HB" 10.2.0.2
	bench "host mode, gw-a tun -> gw-b tun    " "$NS_A" "$NS_B" 10.2.255.1
	bench "router mode again                  " "$NS_HA" "$NS_HB" 10.2.0.2
fi
say "PASS"
