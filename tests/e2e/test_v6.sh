#!/bin/bash
# Outer IPv6: tunnels between 2001:db8::1 and 2001:db8::2 carrying IPv4
# (4in6) and IPv6 (6in6), raw ESP and UDP 4500.
#
#   ${P}A                                         ${P}B
#   eA 2001:db8::1 (+192.0.2.1) ===== veth ===== eB 2001:db8::2 (+192.0.2.2)
#   esp0 10.1.0.1, fd00:1::1                     esp0 10.2.0.1, fd00:2::1
#
# 1. espressod on both ends (lib.sh with OUTER6=1): ping and a short iperf3
#    through the tunnel, 4in6 and 6in6, raw ESP then UDP; exact ESP counts.
# 2. scapy as gateway A (esp6test.py), gw-b alone, raw ESP then UDP:
#    4in6/6in6 requests and their replies decrypted by scapy, ESP behind a
#    destination options header, outer IPv6 fragments (in order and reversed)
#    reassembled by gw-b, an overlapping train, a replay; counters exact.
# 3. NAT-T over IPv4 (192.0.2.1/.2) in fragments, scapy as A: reassembled by
#    gw-b (not left to the kernel); a train whose first fragment comes last
#    is the kernel's (counted pass_fragment).
# 4. NAT-T following over IPv6, scapy as A (AESGCM sealing, ESN AAD): an
#    authenticated ESP-in-UDP packet from [2001:db8::3]:5555 moves gw-b's
#    SAs there (monitor: "mapping ... old [2001:db8::1]:4500 new
#    [2001:db8::3]:5555", show sa), and the next reply goes there; a forged
#    one (bad ICV) from [2001:db8::4]:6666 counts rx_auth and moves nothing;
#    sa update SPI remote IPv6 moves it back, an IPv4 remote is refused.
source "$(dirname "$0")/lib.sh"
export OUTER6=1
OUTER_A=2001:db8::1 OUTER_B=2001:db8::2
trap topo_down EXIT
topo_up

mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
sa_field() { # sa_field a|b in|out FIELD: from `show sa -j`
	ctl "$1" -j show sa | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sas = d if isinstance(d, list) else d.get("sas", d.get("sa", []))
print(sum(s.get(sys.argv[2], 0) for s in sas if s["dir"] == sys.argv[1]))' "$2" "$3"
}

pair() { # pair ENCAP: both gateways, traffic, counters
	export ENCAP=$1 TUN_MTU=1500
	say "espressod <-> espressod, outer IPv6, encap $ENCAP"
	gw_stop a; gw_stop b
	rm -rf "$WORK/state-a" "$WORK/state-b"
	gw_start a
	gw_start b
	tunnel_ready
	ctl a show tunnels | grep -q "2001:db8::2" || fail "tunnel remote is not 2001:db8::2: $(ctl a show tunnels)"
	local out0 in0
	sleep 1 # tunnel_ready's pings that were answered late are all through
	out0=$(sa_field a out packets)
	in0=$(sa_field b in packets)
	ip netns exec "$NS_A" ping -q -c 5 -i 0.05 -W 1 10.2.0.1 >/dev/null || fail "4in6 ping"
	ip netns exec "$NS_A" ping -q -c 5 -i 0.05 -W 1 fd00:2::1 >/dev/null || fail "6in6 ping"
	# 1300-byte pings: within the tunnel MTU, a single ESP packet each
	ip netns exec "$NS_A" ping -q -c 3 -i 0.05 -W 1 -s 1300 -M do 10.2.0.1 >/dev/null ||
		fail "4in6 ping of 1300 bytes"
	# the tun's MTU (1500) is above the tunnel's (1426 raw, 1418 UDP):
	# 1448 bytes without DF: fragmented before encryption, two ESP packets
	# each way (fragment = "$FRAGMENT": an outer IPv6 packet is never cut,
	# frag_out stays); then with DF: ICMP fragmentation needed from gw-a
	local icmp0 frag0
	icmp0=$(counter "$(ctl a show stats)" icmp_sent)
	frag0=$(counter "$(ctl a show stats)" frag_out)
	ip netns exec "$NS_A" ping -q -c 1 -W 1 -s 1420 -M dont 10.2.0.1 >/dev/null ||
		fail "a 1448-byte packet without DF did not cross (fragment = $FRAGMENT)"
	[ "$(counter "$(ctl a show stats)" frag_out)" = "$frag0" ] ||
		fail "gw-a fragmented an outer IPv6 packet"
	ip netns exec "$NS_A" ping -q -c 1 -W 1 -s 1420 -M do 10.2.0.1 >/dev/null 2>&1 &&
		fail "a 1448-byte DF packet crossed the tunnel"
	[ "$(counter "$(ctl a show stats)" icmp_sent)" = $((icmp0 + 1)) ] ||
		fail "gw-a sent $(( $(counter "$(ctl a show stats)" icmp_sent) - icmp0 )) ICMP errors, want 1"
	[ "$(( $(sa_field a out packets) - out0 ))" -eq 15 ] ||
		fail "gw-a sent $(( $(sa_field a out packets) - out0 )) ESP packets, want 15"
	[ "$(( $(sa_field b in packets) - in0 ))" -eq 15 ] ||
		fail "gw-b decrypted $(( $(sa_field b in packets) - in0 )) ESP packets, want 15"
	ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -D >/dev/null
	sleep 0.3
	ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t 1 -f m | tail -3 | head -1 || fail "iperf3 4in6"
	ip netns exec "$NS_B" iperf3 -s -1 -B fd00:2::1 -D >/dev/null
	sleep 0.3
	ip netns exec "$NS_A" iperf3 -c fd00:2::1 -t 1 -f m | tail -3 | head -1 || fail "iperf3 6in6"
	local s
	s=$(ctl b show stats)
	for c in rx_auth rx_outer_addr rx_bad_meta rx_encap; do
		[ "$(counter "$s" "$c")" = 0 ] || fail "gw-b dropped $c: $s"
	done
	ctl a show sa
}

peer() { # peer ENCAP: scapy is A
	export ENCAP=$1
	say "scapy <-> espressod, outer IPv6, encap $ENCAP"
	gw_stop a; gw_stop b
	rm -rf "$WORK/state-b"
	gw_start b
	ip netns exec "$NS_A" ping -c 1 -W 2 "$OUTER_B" >/dev/null || fail "no outer connectivity"
	sleep 0.2
	ip netns exec "$NS_A" /usr/bin/python3 "$(dirname "$0")/esp6test.py" peer \
		--iface eA --src-mac "$(mac "$NS_A" eA)" --dst-mac "$(mac "$NS_B" eB)" \
		--key-ab "$KEY_AB" --key-ba "$KEY_BA" --spi-ab "$SPI_AB" --spi-ba "$SPI_BA" \
		--encap "$ENCAP" --ctl "$ROOT/espressoctl" --inst-b "$P-b" ||
		fail "scapy as gateway A, encap $ENCAP (see above)"
}

natt_frag4() { # IPv4 NAT-T in fragments, scapy is A
	say "scapy <-> espressod, NAT-T over IPv4 in fragments"
	export ENCAP=udp OUTER6=
	OUTER_A=192.0.2.1 OUTER_B=192.0.2.2
	gw_stop a; gw_stop b
	rm -rf "$WORK/state-b"
	gw_start b
	ip netns exec "$NS_A" ping -c 1 -W 2 "$OUTER_B" >/dev/null || fail "no outer connectivity"
	sleep 0.2
	ip netns exec "$NS_A" /usr/bin/python3 "$(dirname "$0")/esp6test.py" natt-frag4 \
		--iface eA --src-mac "$(mac "$NS_A" eA)" --dst-mac "$(mac "$NS_B" eB)" \
		--key-ab "$KEY_AB" --key-ba "$KEY_BA" --spi-ab "$SPI_AB" --spi-ba "$SPI_BA" \
		--ctl "$ROOT/espressoctl" --inst-b "$P-b" ||
		fail "NAT-T fragments over IPv4 (see above)"
}

natt_follow6() { # NAT-T following over IPv6, scapy is A
	say "scapy <-> espressod, NAT-T over IPv6: gw-b follows an authenticated move"
	export ENCAP=udp OUTER6=1
	OUTER_A=2001:db8::1 OUTER_B=2001:db8::2
	gw_stop a; gw_stop b
	rm -rf "$WORK/state-b"
	gw_start b
	# A's new address answers neighbour solicitations: gw-b's replies go there
	ip -n "$NS_A" addr add 2001:db8::3/64 dev eA nodad
	ip netns exec "$NS_A" ping -c 1 -W 2 "$OUTER_B" >/dev/null || fail "no outer connectivity"
	local mon=$WORK/monitor6.txt monpid
	ctl b monitor >"$mon" 2>"$WORK/monitor6.err" &
	monpid=$!
	sleep 0.3
	b_peer6() { ctl b -j show sa | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sas = d if isinstance(d, list) else d.get("sas", d.get("sa", []))
print(" ".join("%s:%s" % (s["remote"], s["dport"]) for s in sas if s["dir"] == sys.argv[1]))' "$1"; }
	b_err6() { ctl b show sa | awk -v n="$1" '/errors:/{ for (i = 1; i < NF; i++) if ($i == n) v += $(i+1) } END { print v + 0 }'; }
	[ "$(b_peer6 out)" = "2001:db8::1:4500" ] || { kill $monpid; fail "gw-b starts toward $(b_peer6 out)"; }
	local auth0
	auth0=$(b_err6 rx_auth)
	# seq 1 from the new place; once moved, seq 2 is answered there
	ip netns exec "$NS_A" /usr/bin/python3 - "$KEY_AB" "$(mac "$NS_A" eA)" "$(mac "$NS_B" eB)" "$ROOT/espressoctl" "$P-b" <<'PY' || { kill $monpid; fail "NAT-T following over IPv6 (see above)"; }
import os, struct, subprocess, sys, time, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.all import Ether, IP, IPv6, UDP, Raw, ICMP, sendp, AsyncSniffer, conf
conf.verb = 0
key, smac, dmac, ctl, inst = bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
eth = Ether(src=smac, dst=dmac)
spi = 0x1000

def esp(seq, ident):
    inner = bytes(IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=ident, seq=seq) / Raw(b"natt6-follow"))
    pad = bytes(range(1, (-(len(inner) + 2)) % 4 + 1))
    pt = inner + pad + bytes([len(pad), 4])
    iv = struct.pack("!Q", seq)
    ct = AESGCM(key[:-4]).encrypt(key[-4:] + iv, pt, struct.pack("!III", spi, seq >> 32, seq & 0xffffffff))
    return struct.pack("!II", spi, seq) + iv + ct

def send(src, sport, payload):
    sendp(eth / IPv6(src=src, dst="2001:db8::2") / UDP(sport=sport, dport=4500) / Raw(payload), iface="eA")

def out_remote():
    r = subprocess.run([ctl, "-i", inst, "show", "sa"], capture_output=True, text=True, timeout=10)
    for line in r.stdout.splitlines():
        if " out spi " in line:
            t = line.split()
            return "%s:%s" % (t[t.index("remote") + 1], t[t.index("dport") + 1])
    return None

send("2001:db8::3", 5555, esp(1, 61))
for _ in range(30):
    if out_remote() == "2001:db8::3:5555":
        break
    time.sleep(0.1)
else:
    sys.exit("gw-b did not follow to [2001:db8::3]:5555: %s" % out_remote())
sn = AsyncSniffer(iface="eA", count=1, timeout=5, filter="ip6 src 2001:db8::2 and udp src port 4500")
sn.start()
time.sleep(0.3)
send("2001:db8::3", 5555, esp(2, 62))
sn.join()
if not sn.results:
    sys.exit("no reply from gw-b after the move")
r = sn.results[0]
if r[IPv6].dst != "2001:db8::3" or r[UDP].dport != 5555:
    sys.exit("the reply went to [%s]:%d, not [2001:db8::3]:5555" % (r[IPv6].dst, r[UDP].dport))
print("   reply to [%s]:%d after the move" % (r[IPv6].dst, r[UDP].dport))
# forged: the right SPI, a fresh sequence number, garbage for an ICV
send("2001:db8::4", 6666, struct.pack("!II", spi, 3) + os.urandom(8 + 64 + 16))
PY
	sleep 0.5 # two control turns: a move would have happened
	[ $(( $(b_err6 rx_auth) - auth0 )) = 1 ] || { kill $monpid; fail "rx_auth went $auth0 -> $(b_err6 rx_auth), want +1"; }
	[ "$(b_peer6 out)" = "2001:db8::3:5555" ] || { kill $monpid; fail "a forged packet moved gw-b to $(b_peer6 out)"; }
	ctl b -j show tunnels | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
got = {k: t.get(k) for k in ("remote", "peer", "peer_port", "mappings")}
assert got == {"remote": "2001:db8::1", "peer": "2001:db8::3", "peer_port": 5555, "mappings": 1}, got' ||
		{ kill $monpid; fail "gw-b show tunnels after the move"; }
	# sa update: back by hand; IPv4 is refused
	ctl b sa update "$SPI_BA" remote 2001:db8::1 sport 4500 dport 4500 || { kill $monpid; fail "sa update remote IPv6"; }
	[ "$(b_peer6 out)" = "2001:db8::1:4500" ] || { kill $monpid; fail "sa update: gw-b sends to $(b_peer6 out)"; }
	local e
	e=$(ctl b sa update "$SPI_BA" remote 192.0.2.1 2>&1) && { kill $monpid; fail "sa update with an IPv4 remote passed"; }
	echo "$e" | grep -q "tunnel to-peer is IPv6 and the remote given is IPv4" || { kill $monpid; fail "sa update IPv4: $e"; }
	kill $monpid; wait $monpid 2>/dev/null
	printf 'mapping tunnel to-peer spi 0x00001000 in old [2001:db8::1]:4500 new [2001:db8::3]:5555\n' >"$WORK/want6.txt"
	grep '^mapping' "$mon" | diff - "$WORK/want6.txt" || fail "monitor: $(cat "$mon")"
	ip -n "$NS_A" addr del 2001:db8::3/64 dev eA
}

pair esp
FRAGMENT=outer pair udp
peer esp
peer udp
natt_frag4
natt_follow6
say "PASS"
