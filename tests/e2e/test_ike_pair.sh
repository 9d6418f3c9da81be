#!/bin/bash
# espresso <-> espresso, each keyed by its own charon through kernel-espresso:
# no NAT, so plain ESP (IP protocol 50) on the wire, and both ends' SAs come
# from IKE.
#
#   netns ${P}A                                   netns ${P}B
#   esp0 10.1.0.1 (tun)                           esp0 10.2.0.1 (tun)
#     | espressod gw-a + charon (kernel-espresso)    | espressod gw-b + charon (kernel-espresso)
#   eA 192.0.2.1 (XDP) -- wA =[br0 in ${P}W]= wB -- eB 192.0.2.2 (XDP)
#
# Checks: both tunnels encap esp, aes-gcm-256, SAs of origin ike, kept by a
# reload of espressod's (empty) config; ping both ways, IPv4 and IPv6 inside
# (one CHILD_SA with both families' selectors: a route each); iperf3 TCP A->B for
# 4 s across CHILD_SA rekeys (2-6 s) with rx_auth, rx_replay, rx_no_sa,
# tx_no_sa and the XDP drop_unknown_spi 0 on both gateways, and every ESP
# frame raw (XDP: redirect_esp, no redirect_natt); on a fresh CHILD_SA, A's
# packets out = B's packets in and back, and each swanctl --list-sas says
# what its espresso counted; a capture on the bridge with nothing but IKE
# (UDP 500/4500), ESP and ARP. ChaCha20-Poly1305: child netcha (the
# gateways' inner addresses) in place of net, rekeyed once: chacha20-poly1305
# tunnels, pings both ways. An IPv6 underlay (2001:db8::1 -- ::2, IKE over
# IPv6 too): IKE_SA gw6 (raw ESP, aes-gcm-128) then gw6u (encap = yes,
# chacha20-poly1305), IPv4 and IPv6 selectors, pings both ways, a rekey,
# the ESP counted by B's XDP program (redirect_esp, redirect_natt); charon A
# stopped cleanly (SIGTERM): no IKE tunnel left in either espressod.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ike_lib.sh"
srv= cap=
cleanup() {
	for p in $srv $CH_A $CH_B $cap; do
		kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	topo_down
}
ike_skip_unless_ready
trap cleanup EXIT

say "topology, espressod and charon (kernel-espresso) on both gateways"
topo_bridged
ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.eA.disable_ipv6=1
ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.eB.disable_ipv6=1
espresso_ike_start a eA 10.1.0.1/32 fd00:1::1/128
espresso_ike_start b eB 10.2.0.1/32 fd00:2::1/128
strongswan_conf a "$(ike_backend_espresso a)"
strongswan_conf b "$(ike_backend_espresso b)"
ike_pki
# IPv4 and IPv6 inside (outer IPv4): one CHILD_SA, a route for each family
# gw6: the same over an IPv6 underlay (2001:db8::1 -- 2001:db8::2)
gw6() { # gw6 LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS
	cat <<CONF
  gw6 {
    version = 2
    local_addrs = $1
    remote_addrs = $2
    proposals = aes256gcm16-prfsha256-ecp256
    local {
      auth = psk
      id = $3
    }
    remote {
      auth = psk
      id = $4
    }
    children {
      net6 {
        mode = tunnel
        local_ts = $5
        remote_ts = $6
        # a responder picks gw6 for gw6u's IKE_SA too (first match)
        esp_proposals = aes128gcm16,chacha20poly1305
        start_action = none
      }
    }
  }
  gw6u {
    version = 2
    local_addrs = $1
    remote_addrs = $2
    proposals = aes256gcm16-prfsha256-ecp256
    encap = yes
    local {
      auth = psk
      id = $3
    }
    remote {
      auth = psk
      id = $4
    }
    children {
      net6u {
        mode = tunnel
        local_ts = $5
        remote_ts = $6
        esp_proposals = chacha20poly1305
        start_action = none
      }
    }
  }
CONF
}
IKE_CONNS_EXTRA=$(gw6 2001:db8::1 2001:db8::2 gw-a.example gw-b.example 10.1.0.0/16,fd00:1::/64 10.2.0.0/16,fd00:2::/64) \
	swanctl_conf a 192.0.2.1 192.0.2.2 gw-a.example gw-b.example 10.1.0.0/16,fd00:1::/64 10.2.0.0/16,fd00:2::/64 a 4h
IKE_CONNS_EXTRA=$(gw6 2001:db8::2 2001:db8::1 gw-b.example gw-a.example 10.2.0.0/16,fd00:2::/64 10.1.0.0/16,fd00:1::/64) \
	swanctl_conf b 192.0.2.2 192.0.2.1 gw-b.example gw-a.example 10.2.0.0/16,fd00:2::/64 10.1.0.0/16,fd00:1::/64 b 4h
charon_start a
charon_start b
load a
load b
# IKE floats to 4500 after IKE_SA_INIT (strongSwan does, NAT or not); the
# ESP must be raw (the XDP counters below say it was)
ip netns exec "$NS_W" dumpcap -q -i br0 -f 'not (udp port 500 or udp port 4500 or ip proto 50 or arp)' \
	-w "$WORK/other.pcap" 2>/dev/null &
cap=$!
for _ in $(seq 30); do [ -s "$WORK/other.pcap" ] && break; sleep 0.1; done

say "swanctl --initiate on A"
sw a --initiate --child net --ike gw --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate"; }
for x in a b; do
	ctl $x show tunnels | grep -q "encap esp cipher aes-gcm-256" ||
		fail "gw-$x: not an esp aes-gcm-256 tunnel: $(ctl $x show tunnels)"
	n=$(ike_sas $x | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 2 ] || fail "gw-$x has $n SAs of origin ike, want 2"
done

# a reload of the (empty) config leaves charon's tunnels alone
ctl a reload || fail "reload"
n=$(ike_sas a | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 2 ] || fail "after a reload gw-a has $n SAs of origin ike, want 2"

say "ping both ways (IPv4 and IPv6 inside), iperf3 A->B 4 s across CHILD_SA rekeys"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 10.1.0.1 >/dev/null || fail "ping B->A"
ctl a show routes | grep -q "fd00:2::/64.*ike-" || fail "no IPv6 route: $(ctl a show routes)"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 fd00:2::1 >/dev/null || fail "ping6 A->B"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 fd00:1::1 >/dev/null || fail "ping6 B->A"
installs0=$(grep -c 'net{[0-9]*} established with SPIs' "$WORK/a/charon.log")
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 >/dev/null 2>&1 &
srv=$!
for _ in $(seq 30); do
	ip netns exec "$NS_B" ss -ltn | grep -q '10.2.0.1:5201' && break
	sleep 0.1
done
# DURATION (s), CHILD_REKEY and CHILD_LIFE (swanctl times) for longer runs
timeout $(( ${DURATION:-4} + 11 )) ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t "${DURATION:-4}" \
	-i 0.1 -J >"$WORK/ab.json" || fail "iperf3 A->B"
srv=
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = d["end"]["sum_received"]
iv = [i["sum"]["bytes"] for i in d["intervals"]]
gap = run = 0
for b in iv:
    run = run + 1 if b == 0 else 0
    gap = max(gap, run)
print("   %.0f Mbit/s, %d retransmits, longest stall %d ms (0.1 s intervals without data)" % (
      e["bits_per_second"] / 1e6, d["end"]["sum_sent"].get("retransmits", 0), gap * 100))
assert e["bytes"] > 0' "$WORK/ab.json" || fail "iperf3 moved nothing"
installs1=$(grep -c 'net{[0-9]*} established with SPIs' "$WORK/a/charon.log")
echo "   CHILD_SA installs on A during the stream: $((installs1 - installs0))"
[ "$installs1" -gt "$installs0" ] || fail "no CHILD_SA rekey during the stream"
for x in a b; do ctl $x show stats >"$WORK/stats-$x.after-iperf"; done
for x in a b; do
	for c in rx_auth rx_replay rx_no_sa tx_no_sa; do
		v=$(stat_sum "$c" $x)
		[ "$v" = 0 ] || fail "gw-$x counted $v $c"
	done
	v=$(xdp_counter "${P}${x^^}" "e${x^^}" drop_unknown_spi)
	[ "$v" = 0 ] || fail "gw-$x: XDP drop_unknown_spi $v"
	v=$(xdp_counter "${P}${x^^}" "e${x^^}" redirect_natt)
	[ "$v" = 0 ] || fail "gw-$x: $v ESP-in-UDP frames (no NAT here: raw ESP wanted)"
	v=$(xdp_counter "${P}${x^^}" "e${x^^}" redirect_esp)
	[ "$v" -gt 1000 ] || fail "gw-$x: only $v raw ESP frames"
	! grep "espresso: sa add\|espresso: tunnel add\|espresso: route add" "$WORK/$x/charon.log" ||
		fail "gw-$x's espressod refused a change charon asked for"
done

say "counters on a fresh CHILD_SA: A out = B in, B out = A in, as swanctl says"
# exit 2: a rekey came between the listings
counters() {
	local x
	for x in a b; do
		sw $x --list-sas --raw >"$WORK/$x.sas"
		ctl $x -j show sa >"$WORK/$x.show"
	done
	$PY - "$WORK" <<'PY'
import json, re, sys
w = sys.argv[1]
def child(x):
    for c in open("%s/%s.sas" % (w, x)).read().split("{name=")[1:]:
        if "state=INSTALLED" in c:
            return {k: re.search(k + r"=([0-9a-f]+)", c).group(1) for k in
                    ("spi-in", "spi-out", "bytes-in", "bytes-out", "packets-in", "packets-out")}
    sys.exit(2)
def esp(x):
    return {(s["spi"][2:], s["dir"]): s for s in json.load(open("%s/%s.show" % (w, x)))}
a, b = child("a"), child("b")
ea, eb = esp("a"), esp("b")
if a["spi-out"] != b["spi-in"] or a["spi-in"] != b["spi-out"]:
    sys.exit(2)
for x, c, e in (("A", a, ea), ("B", b, eb)):
    for d in ("in", "out"):
        s = e.get((c["spi-" + d], d))
        if s is None:
            sys.exit(2)
        assert int(c["packets-" + d]) == s["packets"] and int(c["bytes-" + d]) == s["bytes"], \
            "%s %s: swanctl %s, espresso %s" % (x, d, c, s)
ao, bi = ea[(a["spi-out"], "out")], eb[(b["spi-in"], "in")]
bo, ai = eb[(b["spi-out"], "out")], ea[(a["spi-in"], "in")]
print("   A out %d pkts %d B -> B in %d pkts %d B; B out %d pkts -> A in %d pkts" % (
      ao["packets"], ao["bytes"], bi["packets"], bi["bytes"], bo["packets"], ai["packets"]))
assert ao["packets"] >= 10 and ao["packets"] == bi["packets"] and ao["bytes"] == bi["bytes"]
assert bo["packets"] >= 10 and bo["packets"] == ai["packets"] and bo["bytes"] == ai["bytes"]
PY
}
for try in 1 2 3; do
	sw a --rekey --child net >/dev/null || fail "swanctl --rekey"
	sleep 0.3
	ip netns exec "$NS_A" ping -q -c 10 -i 0.01 -W 1 10.2.0.1 >/dev/null || true
	sleep 0.2
	counters && break
	rc=$?
	[ "$rc" = 2 ] || fail "counters differ"
	[ "$try" = 3 ] && fail "a rekey between the listings, three times"
done

# pings both ways, IPv4 and IPv6 inside; no drop counted on either side
pings() { # pings WHAT
	ip netns exec "$NS_A" ping -q -c 3 -i 0.1 -W 2 10.2.0.1 >/dev/null || fail "$1: ping A->B"
	ip netns exec "$NS_B" ping -q -c 3 -i 0.1 -W 2 10.1.0.1 >/dev/null || fail "$1: ping B->A"
	ip netns exec "$NS_A" ping -q -c 3 -i 0.1 -W 2 fd00:2::1 >/dev/null || fail "$1: ping6 A->B"
	ip netns exec "$NS_B" ping -q -c 3 -i 0.1 -W 2 fd00:1::1 >/dev/null || fail "$1: ping6 B->A"
	local x c v
	for x in a b; do
		for c in rx_auth rx_replay rx_no_sa tx_no_sa; do
			v=$(stat_sum "$c" $x)
			[ "$v" = 0 ] || fail "$1: gw-$x counted $v $c"
		done
		! grep "espresso: sa add\|espresso: tunnel add\|espresso: route add\|espresso: .* is not AES-GCM" \
			"$WORK/$x/charon.log" || fail "$1: gw-$x's espressod or plugin refused a change"
	done
}
tunnels_gone() { # tunnels_gone WHAT: no ike-* tunnel left in either espressod
	local x
	for x in a b; do
		for _ in $(seq 50); do
			ctl $x show tunnels | grep -q "ike-" || break
			sleep 0.1
		done
		! ctl $x show tunnels | grep -q "ike-" || fail "$1: gw-$x keeps IKE tunnels: $(ctl $x show tunnels)"
	done
}

say "ChaCha20-Poly1305: CHILD_SA netcha in place of net, rekeyed once"
sw a --terminate --child net --timeout 10 >/dev/null || fail "swanctl --terminate --child net"
tunnels_gone "net terminated"
sw a --initiate --child netcha --ike gw --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate --child netcha"; }
for x in a b; do
	ctl $x show tunnels | grep -q "encap esp cipher chacha20-poly1305" ||
		fail "gw-$x: not a chacha20-poly1305 tunnel: $(ctl $x show tunnels)"
	sw $x --list-sas --raw | grep -q "encr-alg=CHACHA20_POLY1305" ||
		fail "gw-$x: charon negotiated no ChaCha20-Poly1305: $(sw $x --list-sas --raw)"
done
pings "chacha20-poly1305"
sw a --rekey --child netcha >/dev/null || fail "swanctl --rekey --child netcha"
sleep 0.3
pings "chacha20-poly1305 rekeyed"
echo "   $(ctl a show tunnels | grep -o 'ike-[0-9]* .*chacha20-poly1305')"

say "the wire"
kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null || true
cap=
other=$(tshark -r "$WORK/other.pcap" 2>/dev/null | wc -l)
[ "$other" = 0 ] || fail "the wire carried $other frames that are neither IKE, ESP nor ARP"

say "IPv6 underlay: IKE and ESP between 2001:db8::1 and 2001:db8::2, IPv4 and IPv6 inside"
sw a --terminate --ike gw --timeout 10 >/dev/null || fail "swanctl --terminate --ike gw"
tunnels_gone "gw terminated"
ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.eA.disable_ipv6=0
ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.eB.disable_ipv6=0
ip -n "$NS_A" addr add 2001:db8::1/64 dev eA nodad
ip -n "$NS_B" addr add 2001:db8::2/64 dev eB nodad
for _ in $(seq 30); do
	ip netns exec "$NS_A" ping -q -c 1 -W 1 2001:db8::2 >/dev/null 2>&1 && break
done
sw a --initiate --child net6 --ike gw6 --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate --child net6"; }
for x in a b; do
	ctl $x -j show tunnels | $PY -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["name"].startswith("ike-")]
want = sys.argv[1]
assert len(t) == 1 and t[0]["remote"] == want and t[0]["encap"] == "esp" and \
    t[0]["cipher"] == "aes-gcm-128", t
print("   gw-%s: %s %s -> %s %s %s" % (sys.argv[2], t[0]["name"], t[0]["local"],
      t[0]["remote"], t[0]["encap"], t[0]["cipher"]))' \
		"$([ $x = a ] && echo 2001:db8::2 || echo 2001:db8::1)" $x || fail "gw-$x: no IPv6 tunnel"
done
esp0=$(xdp_counter "$NS_B" eB redirect_esp)
pings "outer IPv6"
sw a --rekey --child net6 >/dev/null || fail "swanctl --rekey --child net6"
sleep 0.3
pings "outer IPv6 rekeyed"
esp1=$(xdp_counter "$NS_B" eB redirect_esp)
[ "$((esp1 - esp0))" -ge 24 ] || fail "gw-b's XDP redirected $((esp1 - esp0)) ESP frames, want >= 24"
n6=$(sw a --list-sas --raw | grep -c "remote-host=2001:db8::2")
[ "$n6" -ge 1 ] || fail "charon A's IKE_SA is not over IPv6: $(sw a --list-sas --raw)"

say "IPv6 underlay, UDP encapsulation forced (encap = yes), ChaCha20-Poly1305"
sw a --terminate --ike gw6 --timeout 10 >/dev/null || fail "swanctl --terminate --ike gw6"
tunnels_gone "gw6 terminated"
sw a --initiate --child net6u --ike gw6u --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate --child net6u"; }
for x in a b; do
	ctl $x show tunnels | grep -q "remote 2001:db8::[12] encap udp cipher chacha20-poly1305" ||
		fail "gw-$x: not an IPv6 udp chacha20-poly1305 tunnel: $(ctl $x show tunnels)"
done
natt0=$(xdp_counter "$NS_B" eB redirect_natt)
pings "outer IPv6, UDP"
natt1=$(xdp_counter "$NS_B" eB redirect_natt)
[ "$((natt1 - natt0))" -ge 12 ] || fail "gw-b's XDP redirected $((natt1 - natt0)) ESP-in-UDP frames, want >= 12"

say "charon A stops (SIGTERM): its tunnels leave espresso A, and B's go by B's charon"
kill -TERM "$CH_A"
wait "$CH_A" 2>/dev/null || true
CH_A=
for x in a b; do
	for _ in $(seq 50); do
		ctl $x show tunnels | grep -q "ike-" || break
		sleep 0.1
	done
	! ctl $x show tunnels | grep -q "ike-" || fail "gw-$x keeps IKE tunnels after charon A stopped"
done
say "PASS"
