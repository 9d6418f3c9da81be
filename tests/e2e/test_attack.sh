#!/bin/bash
# Forged, replayed, tampered and malformed ESP injected on the wire is dropped
# and counted under its own reason, with exact counter deltas:
#
#   ${P}A                                            ${P}B
#   esptest.py attack: scapy sendp on eA  ------->  eB (XDP) -> espressod gw-b
#   (frames built with KEY_AB, SPI 0x1000,           XDP counters, queue drops,
#    sequence numbers chosen by the test)            SA errors, replay_top
#   espressod gw-a (decrypts gw-b's echo replies)
#
# One ping primes the tunnel; then nothing but the injected frames crosses it
# (no ping runs meanwhile), so after each frame every asserted counter of both
# gateways must move by exactly the expected amount and no other:
#   valid new packet       accepted, B's kernel answers, A decrypts the reply
#   the same again         rx_replay         forged ICV/ciphertext/AAD  rx_auth
#   forged far-ahead seq   rx_auth, replay_top unchanged, the seq stays usable
#   8-byte (non-ESN) AAD   rx_auth           wrong key                  rx_auth
#   left of the window     rx_window (and the left edge itself accepted)
#   unknown SPI            XDP drop_unknown_spi
#   truncated ESP          < 8 bytes: XDP drop_malformed; 8..33 bytes: rx_short
#   inner source outside 10.1.0.0/16   rx_inner_src (IPv4 and IPv6)
#   and rx_inner_dst, rx_padding, rx_next_hdr, rx_dummy, rx_inner_len,
#   rx_outer_addr, rx_encap.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
topo_up
gw_start a
gw_start b

say "prime: outer neighbours and one exchange through the tunnel"
ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null || fail "no outer connectivity"
ok=
for _ in 1 2 3; do
	ip netns exec "$NS_A" ping -c 1 -W 1 10.2.0.1 >/dev/null && { ok=1; break; }
done
[ -n "$ok" ] || fail "no ping through the tunnel"
sleep 0.3

mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
say "inject from ${NS_A}/eA $(mac "$NS_A" eA) to eB $(mac "$NS_B" eB)"
ip netns exec "$NS_A" /usr/bin/python3 "$(dirname "$0")/esptest.py" attack \
	--iface eA --src-mac "$(mac "$NS_A" eA)" --dst-mac "$(mac "$NS_B" eB)" \
	--key-ab "$KEY_AB" --key-ba "$KEY_BA" --spi-ab "$SPI_AB" --spi-ba "$SPI_BA" \
	--ctl "$ROOT/espressoctl" --inst-a "$P-a" --inst-b "$P-b" ||
	fail "attack cases (see above)"
ctl b show sa
ctl b show stats
say "PASS"
