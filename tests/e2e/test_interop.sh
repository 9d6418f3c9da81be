#!/bin/bash
# espressod against another ESP implementation: scapy plays gateway A.
#
#   ${P}A: no espressod, no XDP                  ${P}B: espressod gw-b
#   eA 192.0.2.1 (the kernel answers ARP)  ====  eB 192.0.2.2 (XDP) / esp0 10.2.0.1
#   esptest.py peer: scapy SecurityAssociation
#     --> ESP SPI 0x1000 (KEY_AB, ESN): echo request 10.1.0.1 -> 10.2.0.1,
#         and fd00:1::1 -> fd00:2::1
#     <-- ESP SPI 0x2000 (KEY_BA) from 192.0.2.2: B's kernel's echo reply,
#         sniffed on eA, decrypted by scapy and by cryptography's AESGCM:
#         same id, seq and payload; IV = sequence number; seq 1, 2
#   then the same packet with the 8-byte non-ESN AAD: rx_auth; a replay: rx_replay
#
# Four rounds, gw-b restarted for each: aes-gcm-256 raw ESP; aes-gcm-256 in
# UDP 4500 (RFC 3948: scapy's nat_t_header; the replies must be UDP 4500 ->
# 4500 with checksum 0); aes-gcm-128 (20-byte keys) raw ESP;
# chacha20-poly1305 (RFC 7634, scapy's CHACHA20-POLY1305) in UDP 4500.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
topo_up

mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }

round() { # round TITLE: gw-b with the current CIPHER/ENCAP/KEY_*, scapy as A
	say "$1: CIPHER=$CIPHER ENCAP=$ENCAP"
	gw_stop b
	# each round is a new deployment whose scapy peer starts at seq 1 with
	# the same keys: forget what gw-b persisted (replay tops) last round
	rm -rf "$WORK/state-b"
	gw_start b
	# the kernels resolve each other: B's espressod finds 192.0.2.1's MAC
	ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null || fail "no outer connectivity"
	sleep 0.2
	ip netns exec "$NS_A" /usr/bin/python3 "$(dirname "$0")/esptest.py" peer \
		--iface eA --src-mac "$(mac "$NS_A" eA)" --dst-mac "$(mac "$NS_B" eB)" \
		--key-ab "$KEY_AB" --key-ba "$KEY_BA" --spi-ab "$SPI_AB" --spi-ba "$SPI_BA" \
		--encap "$ENCAP" --cipher "$CIPHER" --ctl "$ROOT/espressoctl" --inst-b "$P-b" ||
		fail "$1: scapy as gateway A (see above)"
	ctl b show sa
}

round "aes-gcm-256, raw ESP"

export ENCAP=udp
round "aes-gcm-256, ESP in UDP 4500"

export ENCAP=esp CIPHER=aes-gcm-128
export KEY_AB=000102030405060708090a0b0c0d0e0f10111213
export KEY_BA=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3
round "aes-gcm-128, raw ESP"
ctl b show sa | grep -q "in spi 0x00001000 aes-gcm-128" || fail "gw-b does not run aes-gcm-128"

# RFC 7634: scapy's CHACHA20-POLY1305 and cryptography's ChaCha20Poly1305
export ENCAP=udp CIPHER=chacha20-poly1305
export KEY_AB=808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3
export KEY_BA=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3
round "chacha20-poly1305, ESP in UDP 4500"
ctl b show sa | grep -q "in spi 0x00001000 chacha20-poly1305" || fail "gw-b does not run chacha20-poly1305"
say "PASS"
