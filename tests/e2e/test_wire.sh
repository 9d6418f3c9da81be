#!/bin/bash
# What is on the wire between the gateways is ESP and nothing else, and it is
# the ESP that RFC 4303/4106 says it is:
#
#   ${P}A: ping, ping -6, TCP client          ${P}B: echo replies, TCP server
#   esp0 10.1.0.1 fd00:1::1                   esp0 10.2.0.1 fd00:2::1
#   eA 192.0.2.1 (XDP) -- wA =[br0]= wB -- eB 192.0.2.2 (XDP)
#                              |
#                   ${P}W: tshark -i br0 -w wire.pcap
#
# The tap sits in a third namespace: AF_XDP frames bypass the taps of the
# gateways' own interfaces (an AF_PACKET capture on eA or eB sees neither the
# ESP espressod sends from its XSK nor the ESP the XDP program redirects).
#
# During the capture: 10 pings 10.1.0.1 -> 10.2.0.1, 5 pings fd00:1::1 ->
# fd00:2::1 (both with a payload pattern), a 256 KiB TCP transfer of known
# bytes. Checks (esptest.py wire, tshark for the first):
#  (a) every IPv4 frame between 192.0.2.1 and 192.0.2.2 is ESP (protocol 50),
#      SPI 0x1000 from A, 0x2000 from B; no other IP on the wire but IPv6
#      link-local; no clear text of the test traffic anywhere in a frame;
#  (b) every ESP packet decrypts (AES-GCM-256, ESN: 12-byte AAD, and not with
#      the 8-byte one), with our AESGCM code and with scapy, IV = 64-bit
#      sequence number, RFC 4303 padding; inside: every echo request and its
#      reply (addresses, types, id/seq, payload), the ICMPv6 ones, and TCP
#      segments that reassemble to exactly the bytes sent;
#  (c) sequence numbers per SPI unique and increasing (one queue: QUEUES=1, as
#      in lib.sh; several queues may reorder on the wire), and as many ESP frames
#      per SPI as the sending gateway counted;
#  and tshark's own ESP dissector decrypts them with an esp_sa table (its
#  ICV check is not asserted: Wireshark 4.0's esp_sa has no ESN setting and
#  computes the ICV over the 8-byte AAD, so it calls every ICV "incorrect").
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HELPER=$(dirname "$0")/esptest.py
PINGS=10 PINGS6=5 PATTERN=e59e550c0ffee0d1 TCP_BYTES=262144 TCP_PORT=5201
TS_PID=

cleanup() {
	[ -n "$TS_PID" ] && kill "$TS_PID" 2>/dev/null
	topo_down
}
trap cleanup EXIT

topo_bridged

gw_start a
gw_start b

say "prime: outer neighbours and one exchange each way (not captured)"
tunnel_ready

sa_out() { # sa_out a|b: packets of the outbound SA
	ctl "$1" show sa | awk '$1 == "sa" && $3 == "out" { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}
a0=$(sa_out a) b0=$(sa_out b)

say "capture on the wire"
ip netns exec "$NS_W" tshark -i br0 -B 32 -w "$WORK/wire.pcap" >"$WORK/tshark.log" 2>&1 &
TS_PID=$!
for _ in $(seq 100); do
	grep -q "Capturing on" "$WORK/tshark.log" && break
	kill -0 "$TS_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "Capturing on" "$WORK/tshark.log" || { cat "$WORK/tshark.log"; fail "tshark did not start"; }
sleep 0.2

ip netns exec "$NS_B" $PY "$HELPER" tcp-server --addr 10.2.0.1 --port $TCP_PORT \
	--bytes $TCP_BYTES >"$WORK/server.log" 2>&1 &
srv=$!
for _ in $(seq 50); do
	grep -q listening "$WORK/server.log" && break
	sleep 0.1
done
ip netns exec "$NS_A" ping -q -c $PINGS -i 0.05 -W 2 -p $PATTERN 10.2.0.1 ||
	fail "IPv4 ping through the tunnel lost packets"
ip netns exec "$NS_A" ping -q -6 -c $PINGS6 -i 0.05 -W 2 -p $PATTERN fd00:2::1 ||
	fail "IPv6 ping through the tunnel lost packets"
ip netns exec "$NS_A" $PY "$HELPER" tcp-client --addr 10.2.0.1 --port $TCP_PORT \
	--bytes $TCP_BYTES || fail "TCP transfer failed"
wait $srv || { cat "$WORK/server.log"; fail "TCP server failed"; }
cat "$WORK/server.log"
sleep 0.5
kill -INT "$TS_PID"
wait "$TS_PID"
TS_PID=
cat "$WORK/tshark.log"
a1=$(sa_out a) b1=$(sa_out b)
say "gw-a sent $((a1 - a0)) ESP packets, gw-b $((b1 - b0)) during the capture"

say "(a) tshark: nothing but ESP between the gateways, SPIs 0x1000 and 0x2000"
plain=$(tshark -r "$WORK/wire.pcap" -Y 'ip.addr == 192.0.2.1 && ip.addr == 192.0.2.2 && !esp' 2>/dev/null)
[ -z "$plain" ] || fail "non-ESP IPv4 between the gateways: $plain"
spis=$(tshark -r "$WORK/wire.pcap" -Y esp -T fields -e ip.src -e esp.spi 2>/dev/null | sort | uniq -c)
echo "$spis"
others=$(echo "$spis" | awk '!(($2 == "192.0.2.1" && $3 == "0x00001000") || ($2 == "192.0.2.2" && $3 == "0x00002000"))')
[ -z "$others" ] || fail "unexpected source/SPI: $others"
ip4=$(tshark -r "$WORK/wire.pcap" -Y 'ip && !esp' 2>/dev/null)
[ -z "$ip4" ] || fail "IPv4 that is not ESP on the wire: $ip4"

say "(a)-(c) esptest.py: decrypt and check every frame"
$PY "$HELPER" wire "$WORK/wire.pcap" --key-ab "$KEY_AB" --key-ba "$KEY_BA" \
	--spi-ab "$SPI_AB" --spi-ba "$SPI_BA" --pings $PINGS --pings6 $PINGS6 \
	--pattern $PATTERN --tcp-bytes $TCP_BYTES --tcp-port $TCP_PORT \
	--count-ab $((a1 - a0)) --count-ba $((b1 - b0)) || fail "wire check"

say "tshark's ESP dissector decrypts it too (esp_sa table, AES-GCM-16)"
uat() { # uat SRC DST SPI KEY
	printf '"IPv4","%s","%s","%s","AES-GCM with 16 octet ICV [RFC4106]","0x%s","NULL",""\n' "$@"
}
mkdir -p "$WORK/wsconf/wireshark"
{
	uat 192.0.2.1 192.0.2.2 "$(printf '0x%08x' "$SPI_AB")" "${KEY_AB#0x}"
	uat 192.0.2.2 192.0.2.1 "$(printf '0x%08x' "$SPI_BA")" "${KEY_BA#0x}"
} >"$WORK/wsconf/wireshark/esp_sa"
ts_esp() {
	XDG_CONFIG_HOME=$WORK/wsconf tshark -r "$WORK/wire.pcap" \
		-o esp.enable_encryption_decode:TRUE "$@" 2>/dev/null
}
nesp=$(tshark -r "$WORK/wire.pcap" -Y esp 2>/dev/null | wc -l)
n4=$(ts_esp -Y 'esp && icmp.type == 8 && ip.src == 10.1.0.1 && ip.dst == 10.2.0.1' | wc -l)
n4r=$(ts_esp -Y 'esp && icmp.type == 0 && ip.src == 10.2.0.1 && ip.dst == 10.1.0.1' | wc -l)
n6=$(ts_esp -Y 'esp && icmpv6.type == 128 && ipv6.src == fd00:1::1' | wc -l)
ntcp=$(ts_esp -Y "esp && tcp.port == $TCP_PORT" | wc -l)
echo "tshark decrypted: $n4 echo requests, $n4r replies, $n6 ICMPv6 requests, $ntcp TCP of $nesp ESP"
[ "$n4" = $PINGS ] && [ "$n4r" = $PINGS ] && [ "$n6" = $PINGS6 ] ||
	fail "tshark's ESP decryption found $n4/$n4r/$n6 echoes, expected $PINGS/$PINGS/$PINGS6"
[ $((n4 + n4r + 2 * n6 + ntcp)) = "$nesp" ] ||
	fail "tshark decrypted $((n4 + n4r + 2 * n6 + ntcp)) of $nesp ESP packets"
say "PASS"
