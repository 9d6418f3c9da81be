#!/bin/bash
# IKEv2 keys espresso: charon with our kernel-espresso plugin on gateway A,
# charon with strongSwan's own userspace ESP (kernel-libipsec) on gateway B,
# the independent implementation on the other end of the wire.
#
#   netns ${P}A                                     netns ${P}B
#   esp0 10.1.0.1 (tun)                             ipsec0 (libipsec's tun), 10.2.0.1 on lo
#     | espressod (tunnels = (); charon adds them)    | charon + kernel-libipsec
#     | charon + kernel-espresso (LD_PRELOAD)          |  (needs UDP encapsulation: 4500)
#   eA 192.0.2.1 (XDP) -- wA =[br0 in ${P}W]= wB -- eB 192.0.2.2
#                            capture here
#
# Each charon has its own strongswan.conf (STRONGSWAN_CONF), its own vici
# socket, and its own /run (a bind mount in the netns's mount namespace:
# charon 5.9.8 hard-codes /run/charon.pid); A's keeps /run/espresso.
# swanctl.conf: PSK, aes256gcm16, local 10.1.0.0/16 <-> remote 10.2.0.0/16,
# IKE_SA rekeyed by A every 7 s (by one side only: two charons that rekey
# at once collide, and 5.9.8 then lost both IKE_SAs and their CHILD_SAs),
# CHILD_SA rekey_time 6 s (minus up to 4 s of jitter), life_time 10 s.
#
# Checks:
#  1. swanctl --initiate: espresso has tunnel ike-R with two SAs of origin
#     "ike" and reqid R, and route 10.2.0.0/16 into it.
#  2. ping both ways, iperf3 TCP A->B and B->A (4 s each) across at least one
#     CHILD_SA rekey: the SPIs changed, and espresso counted no rx_auth,
#     rx_replay, rx_no_sa, tx_no_sa and the XDP program no drop_unknown_spi.
#  3. the capture on the bridge holds IKE (UDP 500, 4500 with the non-ESP
#     marker), ESP in UDP 4500 and ARP, nothing else.
#  4. swanctl --list-sas on A (espresso's counters through query_sa) equals
#     espressoctl show sa, and A's outbound packets equal B's inbound (libipsec).
#  5. espressod kill -9; a CHILD_SA rekey while it is away (the plugin picks
#     the SPI itself); restart (same config and state directory): the plugin
#     installs the SAs again, the new ones too, ping works, nobody touched
#     charon.
#  6. charon A kill -9: its "monitor ike" connection hangs up and espressod
#     deletes the tunnels with its SAs at once; charon restarted keys again.
#  7. charon B killed: A's DPD declares the peer dead, the SAs leave espresso.
#  8. certificates (strongswan-pki), AES-GCM-128; --terminate removes all;
#     then ChaCha20-Poly1305 (child netcha, libipsec through openssl): ping
#     both ways, A's packets equal libipsec's and swanctl's.
#  9. start_action = trap: the prefix routed into a tunnel without SAs; the
#     first ping's packet raises espressod's "acquire", charon negotiates,
#     the tunnel is made again with the SA's settings and the ping goes.
# 10. packet limits: a CHILD_SA with rekey_packets 20, life_packets 60 and
#     no time limit; espresso's SAs carry them (show sa), 25 pings make
#     espressod's soft expire, charon rekeys on it (the old SPI named),
#     the new SAs carry the limits too, and traffic goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ike_lib.sh"
srv= cap= cap_other=
cleanup() {
	for p in $srv $CH_A $CH_B $cap $cap_other; do
		kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	topo_down
}
ike_skip_unless_ready libipsec
trap cleanup EXIT

terminate() { # terminate IKE: swanctl --terminate on A; espresso keeps no tunnel of it
	sw a --terminate --ike "$1" --timeout 5 >/dev/null || fail "swanctl --terminate --ike $1"
	for _ in $(seq 50); do
		ctl a show tunnels | grep -q "ike-" || break
		sleep 0.1
	done
	! ctl a show tunnels | grep -q "ike-" || fail "tunnel left after --terminate $1: $(ctl a show tunnels)"
}

# ---- 1. up ----

say "topology, espressod on A, charon on A (kernel-espresso) and B (kernel-libipsec)"
topo_bridged
# an IPv4 test: no IPv6 housekeeping (DAD, MLD, RS) on the captured wire
ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.eA.disable_ipv6=1
ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.eB.disable_ipv6=1
ip -n "$NS_B" addr add 10.2.0.1/32 dev lo
espresso_ike_start a eA 10.1.0.1/32
strongswan_conf a "$(ike_backend_espresso a)"
strongswan_conf b "$(ike_backend_libipsec)"
ike_pki
swanctl_conf a 192.0.2.1 192.0.2.2 gw-a.example gw-b.example 10.1.0.0/16 10.2.0.0/16 a 7s
swanctl_conf b 192.0.2.2 192.0.2.1 gw-b.example gw-a.example 10.2.0.0/16 10.1.0.0/16 b 4h
charon_start a
charon_start b
load a
load b
grep -q "kernel-espresso" "$WORK/a/charon.log" || fail "charon A did not load kernel-espresso"

# the whole run: whatever is neither IKE, ESP in UDP nor ARP (must stay
# empty); the set-up and the pings: everything (a few hundred frames)
ip netns exec "$NS_W" dumpcap -q -i br0 -f 'not (udp port 500 or udp port 4500 or arp)' \
	-w "$WORK/other.pcap" 2>/dev/null &
cap_other=$!
ip netns exec "$NS_W" dumpcap -q -i br0 -w "$WORK/wire.pcap" 2>/dev/null &
cap=$!
for _ in $(seq 30); do
	[ -s "$WORK/other.pcap" ] && [ -s "$WORK/wire.pcap" ] && break
	sleep 0.1
done

say "swanctl --initiate on A"
sw a --initiate --child net --ike gw --timeout 10 >"$WORK/initiate.out" ||
	{ tail -40 "$WORK/a/charon.log" >&2; fail "swanctl --initiate"; }
sas=$(ike_sas)
n=$(echo "$sas" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 2 ] || fail "espresso has $n SAs of origin ike, want 2: $sas"
reqid=$(echo "$sas" | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["reqid"])')
echo "$sas" | $PY -c '
import json, sys
s = json.load(sys.stdin); r = int(sys.argv[1])
assert all(x["tunnel"] == "ike-%d" % r and x["reqid"] == r and x["child"] == "net" for x in s), s
assert sorted(x["dir"] for x in s) == ["in", "out"], s' "$reqid" || fail "SAs: $sas"
ctl a show routes | grep -q "10.2.0.0/16.*ike-$reqid" || fail "no route 10.2.0.0/16 into ike-$reqid: $(ctl a show routes)"
ctl a show tunnels | grep -q "encap udp" || fail "tunnel not UDP-encapsulated (libipsec forces NAT-T)"
installs0=$(grep -c 'net{[0-9]*} established with SPIs' "$WORK/a/charon.log")

# ---- 2. traffic across a rekey ----

say "ping both ways"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A"

sleep 0.3
kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null || true

say "iperf3 A->B then B->A, 4 s each, CHILD_SA rekeyed every 6 s"
# a one-shot server per direction: a server still closing the first test
# would turn the second away ("busy")
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -p 5201 >/dev/null 2>&1 &
srv=$!
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -p 5202 >/dev/null 2>&1 &
srv="$srv $!"
for _ in $(seq 30); do
	[ "$(ip netns exec "$NS_B" ss -ltn | grep -c '10.2.0.1:520[12]')" = 2 ] && break
	sleep 0.1
done
timeout 15 ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -p 5201 -t 4 -J >"$WORK/ab.json" || fail "iperf3 A->B"
timeout 15 ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -p 5202 -t 4 -R -J >"$WORK/ba.json" || fail "iperf3 B->A"
srv=
for f in ab ba; do
	$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = d["end"]["sum_received"]
print("   %s: %.0f Mbit/s, %d retransmits" % (sys.argv[2], e["bits_per_second"] / 1e6,
      d["end"]["sum_sent"].get("retransmits", 0)))
assert e["bytes"] > 0' "$WORK/$f.json" "$f" || fail "iperf3 $f moved nothing"
done
installs1=$(grep -c 'net{[0-9]*} established with SPIs' "$WORK/a/charon.log")
echo "   CHILD_SA installs on A during the streams: $((installs1 - installs0))"
[ "$installs1" -gt "$installs0" ] || fail "no CHILD_SA rekey in 8 s"
for c in rx_auth rx_replay rx_no_sa tx_no_sa; do
	v=$(stat_sum "$c")
	[ "$v" = 0 ] || fail "espresso counted $v $c"
done
grep -q "IKE_SA gw\[[0-9]*\] rekeyed" "$WORK/a/charon.log" || fail "no IKE_SA rekey in 8 s"
! grep "espresso: sa add\|espresso: tunnel add\|espresso: route add" "$WORK/a/charon.log" ||
	fail "espressod refused a change charon asked for"
ctl a show stats >"$WORK/stats.after-iperf"
# rekeyed SAs carry the CHILD_SA's name too (found through the IKE_SA)
ike_sas | $PY -c '
import json, sys
s = json.load(sys.stdin)
assert s and all(x.get("child") == "net" for x in s), s' || fail "SAs without their CHILD_SA name: $(ctl a show sa)"
v=$(xdp_counter "$NS_A" eA drop_unknown_spi)
[ "$v" = 0 ] || fail "XDP drop_unknown_spi $v (an SA left before its packets)"

# ---- 3. the wire ----

sleep 0.3
kill "$cap_other" 2>/dev/null; wait "$cap_other" 2>/dev/null || true
other=$(tshark -r "$WORK/other.pcap" 2>/dev/null | wc -l)
bad=$(tshark -r "$WORK/wire.pcap" -Y 'not (isakmp or esp or arp)' 2>/dev/null | wc -l)
esp=$(tshark -r "$WORK/wire.pcap" -Y 'esp' 2>/dev/null | wc -l)
ike=$(tshark -r "$WORK/wire.pcap" -Y 'isakmp' 2>/dev/null | wc -l)
echo "   wire (set-up and pings): $ike IKE, $esp ESP in UDP, $bad other; whole run: $other not UDP 500/4500/ARP"
[ "$other" = 0 ] || fail "the wire carried $other frames that are neither UDP 500/4500 nor ARP"
[ "$bad" = 0 ] || fail "the wire carried $bad frames that tshark calls neither IKE, ESP nor ARP"
[ "$esp" -ge 12 ] && [ "$ike" -ge 4 ] || fail "wire: $ike IKE, $esp ESP"

# ---- 4. counters ----

say "swanctl --list-sas counters against espresso's and libipsec's"
# the installed CHILD_SA of each side (rekeyed ones linger as DELETED);
# exit 2: a rekey came between the three listings, so list again
counters() {
	sw a --list-sas --raw >"$WORK/a.sas"
	sw b --list-sas --raw >"$WORK/b.sas"
	ctl a -j show sa >"$WORK/a.show"
	$PY - "$WORK/a.sas" "$WORK/b.sas" "$WORK/a.show" <<'PY'
import json, re, sys
def child(path):
    t = open(path).read()
    for c in t.split("{name=")[1:]:
        if "state=INSTALLED" in c:
            g = lambda k: re.search(k + r"=([0-9a-f]+)", c).group(1)
            return {k: g(k) for k in ("spi-in", "spi-out", "bytes-in", "bytes-out",
                                      "packets-in", "packets-out")}
    sys.exit(2)
a, b = child(sys.argv[1]), child(sys.argv[2])
esp = {(s["spi"][2:], s["dir"]): s for s in json.load(open(sys.argv[3]))}
if (a["spi-in"], "in") not in esp or (a["spi-out"], "out") not in esp or \
   a["spi-out"] != b["spi-in"] or a["spi-in"] != b["spi-out"]:
    sys.exit(2)
i, o = esp[(a["spi-in"], "in")], esp[(a["spi-out"], "out")]
print("   A in  0x%s: swanctl %s pkts %s B, espresso %d pkts %d B; B (libipsec) out %s pkts" % (
      a["spi-in"], a["packets-in"], a["bytes-in"], i["packets"], i["bytes"], b["packets-out"]))
print("   A out 0x%s: swanctl %s pkts %s B, espresso %d pkts %d B; B (libipsec) in %s pkts" % (
      a["spi-out"], a["packets-out"], a["bytes-out"], o["packets"], o["bytes"], b["packets-in"]))
assert i["packets"] >= 1 and o["packets"] >= 1, "no packets on the installed CHILD_SA"
assert int(a["packets-in"]) == i["packets"] and int(a["bytes-in"]) == i["bytes"]
assert int(a["packets-out"]) == o["packets"] and int(a["bytes-out"]) == o["bytes"]
assert int(b["packets-in"]) == o["packets"], "A sent %d, libipsec got %s" % (o["packets"], b["packets-in"])
assert int(b["packets-out"]) == i["packets"], "libipsec sent %s, A got %d" % (b["packets-out"], i["packets"])
PY
}
# on a fresh CHILD_SA: what iperf3's congestion lost on the way (libipsec's
# queues, the veth) would make the packet counts differ
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

# ---- 5. espressod restart under charon ----

say "espressod kill -9, a CHILD_SA rekey while it is away, restart: the plugin installs the SAs again"
installed_in() { # the inbound SPI of A's installed CHILD_SA
	sw a --list-sas --raw | $PY -c '
import re, sys
for c in sys.stdin.read().split("{name=")[1:]:
    if "state=INSTALLED" in c:
        print(re.search(r"spi-in=([0-9a-f]+)", c).group(1)); break'
}
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null || true
before=$(installed_in)
sw a --rekey --child net >/dev/null || fail "swanctl --rekey while espressod is away"
for _ in $(seq 50); do
	after=$(installed_in)
	[ -n "$after" ] && [ "$after" != "$before" ] && break
	sleep 0.1
done
[ -n "$after" ] && [ "$after" != "$before" ] || fail "no rekey while espressod was away ($before -> $after)"
grep -q "espressod not reachable: SPI 0x$after chosen here" "$WORK/a/charon.log" ||
	fail "the SPI of the rekey was not chosen by the plugin"
ip netns exec "$NS_A" "$ROOT/espressod" -c "$WORK/gw-a.conf" --state-dir "$WORK/state-a" \
	>>"$WORK/gw-a.log" 2>&1 &
PID_A=$!
ok=
for _ in $(seq 30); do
	ip netns exec "$NS_A" ping -q -c 1 -W 1 10.2.0.1 >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.2
done
[ -n "$ok" ] || { tail -20 "$WORK/a/charon.log" >&2; fail "no traffic after espressod's restart"; }
grep -q "espressod is back" "$WORK/a/charon.log" || fail "the plugin did not replay"
ctl a show sa | grep -q "spi 0x$after " || fail "the SA of the rekey while away is not in espresso: $(ctl a show sa)"
# charon's rekeyed CHILD_SAs keep their inbound SA a while: >= 1 in, 1 out
ike_sas | $PY -c '
import json, sys
s = json.load(sys.stdin)
d = [x["dir"] for x in s]
assert d.count("out") == 1 and d.count("in") >= 1, s' || fail "SAs after the restart: $(ctl a show sa)"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A after the restart"

# ---- 6. charon A restarts ----

say "charon A kill -9: espressod deletes its SAs at once; restarted, it keys again"
kill -KILL "$CH_A"
wait "$CH_A" 2>/dev/null || true
# the plugin's "monitor ike" connection hung up: nobody manages those keys
for _ in $(seq 30); do
	ctl a show tunnels | grep -q "ike-" || break
	sleep 0.1
done
! ctl a show tunnels | grep -q "ike-" || fail "the dead charon's tunnels stay in espresso"
! ctl a show routes | grep -q "10.2.0.0/16" || fail "the dead charon's route stays"
grep -q "the IKE daemon's monitor hung up: 1 tunnel" "$WORK/gw-a.log" || fail "espressod did not say why"
charon_start a
load a
sw a --initiate --child net --ike gw --timeout 10 >/dev/null || fail "initiate after charon's restart"
ip netns exec "$NS_A" ping -q -c 2 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping after charon's restart"

# ---- 7. DPD ----

say "charon B killed: DPD on A, espresso's SAs deleted"
kill -KILL "$CH_B"
wait "$CH_B" 2>/dev/null || true
CH_B=
gone=
for _ in $(seq 100); do
	n=$(ike_sas | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 0 ] && { gone=1; break; }
	sleep 0.2
done
[ -n "$gone" ] || fail "espresso still has $n IKE SAs 20 s after the peer died"
! ctl a show tunnels | grep -q "ike-" || fail "tunnel left after DPD"

# ---- 8. certificates ----

say "certificates (strongswan-pki), AES-GCM-128: charon B again, initiate gwc"
charon_start b
load b
sw a --initiate --child netc --ike gwc --timeout 10 >"$WORK/initiate-c.out" ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate gwc"; }
grep -q "authentication of 'gw-b.example' with ECDSA" "$WORK/a/charon.log" ||
	fail "gwc did not authenticate B by its certificate"
ctl a show tunnels | grep -q "cipher aes-gcm-128" || fail "no aes-gcm-128 tunnel: $(ctl a show tunnels)"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B (certificates)"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A (certificates)"
sw a --terminate --ike gwc --timeout 5 >/dev/null || fail "swanctl --terminate"
# swanctl returns when the IKE_SA is deleted; its CHILD_SAs go right after
for _ in $(seq 50); do
	n=$(ike_sas | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 0 ] && break
	sleep 0.1
done
[ "$n" = 0 ] || fail "$n IKE SAs left after --terminate"
! ctl a show routes | grep -q "10.2.0.0/16" || fail "route left after --terminate"

# ---- 8b. ChaCha20-Poly1305 against libipsec (openssl's) ----

say "ChaCha20-Poly1305 (child netcha) against libipsec"
sw a --initiate --child netcha --ike gw --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate --child netcha"; }
ctl a show tunnels | grep -q "encap udp cipher chacha20-poly1305" ||
	fail "no chacha20-poly1305 tunnel: $(ctl a show tunnels)"
sw b --list-sas --raw | grep -q "encr-alg=CHACHA20_POLY1305" ||
	fail "libipsec's charon did not negotiate ChaCha20-Poly1305: $(sw b --list-sas --raw)"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping A->B (chacha20-poly1305)"
ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B->A (chacha20-poly1305)"
for try in 1 2 3; do
	sw a --rekey --child netcha >/dev/null || fail "swanctl --rekey --child netcha"
	sleep 0.3
	ip netns exec "$NS_A" ping -q -c 10 -i 0.01 -W 1 10.2.0.1 >/dev/null || true
	sleep 0.2
	counters && break
	rc=$?
	[ "$rc" = 2 ] || fail "counters differ (chacha20-poly1305)"
	[ "$try" = 3 ] && fail "a rekey between the listings, three times"
done
for c in rx_auth rx_replay rx_no_sa; do
	v=$(stat_sum "$c")
	[ "$v" = 0 ] || fail "espresso counted $v $c (chacha20-poly1305)"
done
terminate gw

# ---- 9. a trap policy: the first packet starts IKE ----

say "start_action = trap: the route waits in a tunnel without SAs, a ping starts IKE"
cat >"$WORK/a/swanctl-trap.conf" <<CONF
connections {
  gwt {
    version = 2
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
    proposals = aes256gcm16-prfsha256-ecp256
    local {
      auth = psk
      id = gw-a.example
    }
    remote {
      auth = psk
      id = gw-b.example
    }
    children {
      nett {
        mode = tunnel
        local_ts = 10.1.0.0/16
        remote_ts = 10.2.0.0/16
        esp_proposals = aes256gcm16
        start_action = trap
      }
    }
  }
}
secrets {
  ike-gw {
    id-a = gw-a.example
    id-b = gw-b.example
    secret = "espresso test psk, never use it elsewhere"
  }
}
CONF
sw a --load-all --file "$WORK/a/swanctl-trap.conf" >/dev/null || fail "swanctl --load-all (trap)"
ctl a show routes | grep -q "10.2.0.0/16.*ike-" || fail "the trap policy's prefix is not routed: $(ctl a show routes)"
n=$(ike_sas | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 0 ] || fail "$n SAs before the first packet"
ok=
for _ in $(seq 10); do
	ip netns exec "$NS_A" ping -q -c 1 -W 1 10.2.0.1 >/dev/null 2>&1 && { ok=1; break; }
done
[ -n "$ok" ] || { tail -20 "$WORK/a/charon.log" >&2; fail "no ping through the trap policy"; }
grep -q "creating acquire job for policy 10.1.0.0/16 === 10.2.0.0/16" "$WORK/a/charon.log" ||
	fail "no acquire reached charon"
# the trap's tunnel (raw ESP) made again as the SA wants it (UDP: libipsec)
ctl a show tunnels | grep -q "encap udp cipher aes-gcm-256" || fail "trap tunnel not remade: $(ctl a show tunnels)"
n=$(ike_sas | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 2 ] || fail "$n SAs after the acquire, want 2"
echo "   acquire: $(grep -c 'creating acquire job' "$WORK/a/charon.log") job(s), tx_no_sa $(stat_sum tx_no_sa) while IKE ran"

# ---- 10. packet-count lifetimes ----

say "rekey_packets 20, life_packets 60: espresso's soft expire by packets makes charon rekey"
sw a --uninstall --child nett >/dev/null || fail "swanctl --uninstall (trap)"
terminate gwt
# B's children rekey every 2-6 s: none of its own here (it has no SAs
# now), so that the only rekey is the one the packets make
CHILD_REKEY=1h CHILD_LIFE=2h swanctl_conf b 192.0.2.2 192.0.2.1 gw-b.example gw-a.example 10.2.0.0/16 10.1.0.0/16 b 4h
load b
sed -e 's/gwt {/gwp {/; s/nett {/netp {/' \
	-e 's/start_action = trap/rekey_time = 0\n        rekey_packets = 20\n        rand_packets = 0\n        life_packets = 60/' \
	"$WORK/a/swanctl-trap.conf" >"$WORK/a/swanctl-pkts.conf"
sw a --load-all --file "$WORK/a/swanctl-pkts.conf" >/dev/null || fail "swanctl --load-all (packets)"
sw a --initiate --child netp --ike gwp --timeout 10 >/dev/null ||
	{ tail -30 "$WORK/a/charon.log" >&2; fail "swanctl --initiate --child netp"; }
limits() { # the ike SAs' [spi, dir, soft_packets, hard_packets], sorted
	ike_sas | $PY -c '
import json, sys
print(json.dumps(sorted([s["spi"], s["dir"], s.get("soft_packets"), s.get("hard_packets")] for s in json.load(sys.stdin))))'
}
# charon (5.9.8) gives both SAs the packet limits (rand_packets 0: no
# jitter; it zeroes only the outbound SA's soft time)
check_limits() {
	$PY -c '
import json, sys
s = json.load(sys.stdin)
assert sorted(x[1] for x in s) == ["in", "out"], s
assert all(x[2:] == [20, 60] for x in s), s'
}
lim0=$(limits)
echo "$lim0" | check_limits || fail "packet limits not on the SAs: $lim0"
out0=$(echo "$lim0" | $PY -c 'import json,sys; print([x[0] for x in json.load(sys.stdin) if x[1] == "out"][0])')
in0=$(echo "$lim0" | $PY -c 'import json,sys; print([x[0] for x in json.load(sys.stdin) if x[1] == "in"][0])')
ip netns exec "$NS_A" ping -q -c 25 -i 0.02 -W 1 10.2.0.1 >/dev/null || true
rekeyed=
for _ in $(seq 50); do
	if ! ike_sas | grep -q "\"spi\": \"$out0\"" &&
	   [ "$(ike_sas | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 2 ]; then
		rekeyed=1
		break
	fi
	sleep 0.1
done
[ -n "$rekeyed" ] || { tail -20 "$WORK/a/charon.log" >&2; fail "no rekey after 25 packets: $(limits)"; }
# 25 pings and replies: both SAs passed 20; the first expire rekeys
grep -qiE "creating rekey job for CHILD_SA ESP/($out0|$in0)/" "$WORK/a/charon.log" ||
	fail "charon's rekey was not for espresso's expire of $out0 or $in0: $(grep -i 'rekey job' "$WORK/a/charon.log" | tail -3)"
lim1=$(limits)
ike_sas | $PY -c '
import json, sys
s = json.load(sys.stdin); old = sys.argv[1]
new = [[x["spi"], x["dir"], x.get("soft_packets"), x.get("hard_packets")] for x in s if x["spi"] != old]
print(json.dumps(new))' "$in0" | check_limits || fail "the new SAs: $lim1"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping after the rekey by packets"
for c in rx_auth rx_replay; do
	v=$(stat_sum "$c")
	[ "$v" = 0 ] || fail "espresso counted $v $c (packet limits)"
done
echo "   rekeyed by packets: out SA $out0 -> $(echo "$lim1" | $PY -c 'import json,sys; print([x[0] for x in json.load(sys.stdin) if x[1] == "out"][0])')"
say "PASS"
