# shellcheck shell=bash
# wireguard-go (userspace WireGuard, ChaCha20-Poly1305) between the two namespaces.
#   inner 10.201.0.1 (A) <-> 10.201.0.2 (B), tunnel MTU 1436 (1500 - 20 IP - 8 UDP - 32 WG - 4 spare)
# The interface names are unique to this run because wireguard-go's UAPI socket,
# /run/wireguard/NAME.sock, is in the shared file system, not in the netns.
WG_IF_A=pw$$a
WG_IF_B=pw$$b
WIREGUARD_DST=10.201.0.2
WIREGUARD_SRC=""

wireguard_up() {
	local d=$WORK/wg i
	command -v wireguard-go >/dev/null && command -v wg >/dev/null ||
		{ fail "wireguard-go or wg not installed"; return 1; }
	mkdir -p "$d"
	(umask 077 && wg genkey >"$d/a.key" && wg genkey >"$d/b.key") || { fail "wg genkey failed"; return 1; }
	wg pubkey <"$d/a.key" >"$d/a.pub" && wg pubkey <"$d/b.key" >"$d/b.pub" || { fail "wg pubkey failed"; return 1; }

	# -f: stay in the foreground, so the PID we record is the daemon's
	start_daemon "$NS_A" "$d/a.log" env LOG_LEVEL=error wireguard-go -f "$WG_IF_A"
	start_daemon "$NS_B" "$d/b.log" env LOG_LEVEL=error wireguard-go -f "$WG_IF_B"
	for i in $(seq 1 50); do
		[ -S "/run/wireguard/$WG_IF_A.sock" ] && [ -S "/run/wireguard/$WG_IF_B.sock" ] && break
		sleep 0.1
	done
	daemons_alive || { fail "wireguard-go exited" "$d/a.log" "$d/b.log"; return 1; }

	ip netns exec "$NS_A" wg set "$WG_IF_A" private-key "$d/a.key" listen-port 51820 \
		peer "$(cat "$d/b.pub")" endpoint "$WIRE_B:51821" allowed-ips 10.201.0.2/32 &&
	ip netns exec "$NS_B" wg set "$WG_IF_B" private-key "$d/b.key" listen-port 51821 \
		peer "$(cat "$d/a.pub")" endpoint "$WIRE_A:51820" allowed-ips 10.201.0.1/32 ||
		{ fail "wg set failed" "$d/a.log" "$d/b.log"; return 1; }
	ip -n "$NS_A" addr add 10.201.0.1/24 dev "$WG_IF_A" && ip -n "$NS_A" link set "$WG_IF_A" mtu 1436 up &&
	ip -n "$NS_B" addr add 10.201.0.2/24 dev "$WG_IF_B" && ip -n "$NS_B" link set "$WG_IF_B" mtu 1436 up ||
		{ fail "configuring the wireguard-go interfaces failed"; return 1; }
	wait_ping "$NS_A" "$WIREGUARD_DST" || { fail "no ping through wireguard-go" "$d/a.log" "$d/b.log"; return 1; }
	log "wireguard-go up, pids ${DAEMONS[*]}"
}

wireguard_down() {
	stop_daemons     # wireguard-go removes its TUN and UAPI socket on SIGTERM
	ip -n "$NS_A" link del "$WG_IF_A" 2>/dev/null
	ip -n "$NS_B" link del "$WG_IF_B" 2>/dev/null
	rm -f "/run/wireguard/$WG_IF_A.sock" "/run/wireguard/$WG_IF_B.sock"
	return 0
}
