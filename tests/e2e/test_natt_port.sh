#!/bin/bash
# NAT-T on a port of our own: both gateways use local_port = 4600 (and
# remote_port = 4600), not 4500.
#
# 1. espressod on both ends: pings through the tunnel; B's XDP program has
#    4600 in espresso_natt_ports and redirected the packets (redirect_natt);
#    the outbound SAs send 4600 -> 4600 (show sa; the wire is checked in 2:
#    AF_XDP frames pass no packet socket while both ends run XDP).
# 2. scapy as gateway A (AESGCM, ESN AAD): an echo request sealed for B's
#    inbound SA, to B:4600 -- B answers from 4600 to 4600, and the reply
#    decrypts to the echo reply; the same SA's packet to 4500 (which the XDP
#    program always takes) is not the tunnel's port: rx_encap +1; IKE's
#    zero marker to 4600 is the kernel's (pass_ike +1).
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
export ENCAP=udp TUNNEL_EXTRA="local_port = 4600; remote_port = 4600;"
topo_up

mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
b_err() { ctl b show sa | awk -v n="$1" '/errors:/{ for (i = 1; i < NF; i++) if ($i == n) v += $(i+1) } END { print v + 0 }'; }

say "1. two gateways on port 4600"
gw_start a
gw_start b
tunnel_ready
ctl b -j show tunnels | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
assert (t["local_port"], t["peer_port"]) == (4600, 4600), t' || fail "gw-b show tunnels: $(ctl b show tunnels)"
ctl a show sa | grep -q ' out spi .* sport 4600 dport 4600' || fail "gw-a's outbound SA: $(ctl a show sa)"
# the key is the port in network order: 4600 = 0x11f8, read as 0xf811
bpf_dump b espresso_natt_ports | grep -q '"key": 63505' ||
	fail "4600 is not in gw-b's espresso_natt_ports: $(bpf_dump b espresso_natt_ports)"
r0=$(xdp_counter "$NS_B" eB redirect_natt)
ip netns exec "$NS_A" ping -q -c 5 -i 0.1 -W 1 10.2.0.1 >/dev/null || fail "pings through the tunnel on port 4600"
r1=$(xdp_counter "$NS_B" eB redirect_natt)
[ $((r1 - r0)) -ge 5 ] || fail "gw-b's XDP program redirected $((r1 - r0)) NAT-T packets, want >= 5"
say "   gw-b redirect_natt +$((r1 - r0))"

say "2. scapy as gateway A, to gw-b:4600"
gw_stop a
enc0=$(b_err rx_encap)
ike0=$(xdp_counter "$NS_B" eB pass_ike)
ip netns exec "$NS_A" /usr/bin/python3 - "$KEY_AB" "$KEY_BA" "$(mac "$NS_A" eA)" "$(mac "$NS_B" eB)" "$(ctl b show sa | awk '/ in spi /{ for (i = 1; i < NF; i++) if ($i == "replay_top") print $(i+1) }')" <<'PY' || fail "scapy as gateway A (see above)"
import os, struct, sys, time, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.all import Ether, IP, UDP, Raw, ICMP, sendp, AsyncSniffer, conf
conf.verb = 0
kab, kba = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
eth = Ether(src=sys.argv[3], dst=sys.argv[4])
seq = int(sys.argv[5]) + 1
spi = 0x1000

def esp(seq, ident):
    inner = bytes(IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=ident, seq=1) / Raw(b"natt-port-4600"))
    pad = bytes(range(1, (-(len(inner) + 2)) % 4 + 1))
    pt = inner + pad + bytes([len(pad), 4])
    iv = struct.pack("!Q", seq)
    ct = AESGCM(kab[:-4]).encrypt(kab[-4:] + iv, pt, struct.pack("!III", spi, seq >> 32, seq & 0xffffffff))
    return struct.pack("!II", spi, seq & 0xffffffff) + iv + ct

def send(dport, payload):
    sendp(eth / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=4600, dport=dport) / Raw(payload), iface="eA")

sn = AsyncSniffer(iface="eA", count=1, timeout=5, filter="udp and src host 192.0.2.2")
sn.start()
time.sleep(0.3)
send(4600, esp(seq, 0x4600))
sn.join()
if not sn.results:
    sys.exit("no reply from gw-b")
r = sn.results[0]
if (r[UDP].sport, r[UDP].dport) != (4600, 4600):
    sys.exit("gw-b answered %d -> %d, want 4600 -> 4600" % (r[UDP].sport, r[UDP].dport))
e = bytes(r[UDP].payload)
rspi, rseq = struct.unpack("!II", e[:8])
iv = e[8:16]
pt = AESGCM(kba[:-4]).decrypt(kba[-4:] + iv, e[16:], struct.pack("!III", rspi, 0, rseq))
inner = IP(pt[:-2 - pt[-2]])
if not (ICMP in inner and inner[ICMP].type == 0 and inner[ICMP].id == 0x4600):
    sys.exit("the reply is not the echo reply: %s" % inner.summary())
print("   reply 4600 -> 4600, spi 0x%x, decrypts to %s" % (rspi, inner.summary()))
# the same SA to 4500: not this tunnel's port
send(4500, esp(seq + 1, 0x4601))
# IKE (the zero non-ESP marker) to 4600: the kernel's
send(4600, b"\0\0\0\0" + os.urandom(28))
PY
sleep 0.3
[ $(( $(b_err rx_encap) - enc0 )) = 1 ] || fail "rx_encap went $enc0 -> $(b_err rx_encap), want +1"
[ $(( $(xdp_counter "$NS_B" eB pass_ike) - ike0 )) = 1 ] || fail "pass_ike +$(( $(xdp_counter "$NS_B" eB pass_ike) - ike0 )), want +1"
ctl b show sa
say "PASS"
