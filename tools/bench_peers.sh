#!/bin/bash
# bench_peers.sh OUTDIR: iperf3 through the peer VPNs espresso is compared with,
# one run, one topology (two namespaces of our own joined by a veth, see
# tools/peers/common.sh), one peer at a time:
#   veth-no-offloads     the wire itself, TSO/GSO/GRO off
#   wireguard-go         userspace WireGuard             (tools/peers/wireguard.sh)
#   openvpn              OpenVPN 2.6, AES-256-GCM, no DCO (tools/peers/openvpn.sh)
#   strongswan-libipsec  charon + kernel-libipsec, userspace ESP AES-GCM-256
#                                                        (tools/peers/strongswan.sh)
#   espresso-ike         espressod keyed by charon + kernel-espresso, both sides
#                                                        (tools/peers/espresso_ike.sh)
# Tests per peer, SECS seconds each (default 10): TCP 1 stream, TCP 4 streams,
# UDP 1400-byte payload at full speed (iperf3 -u -b 0 -l 1400).
# Appends "test,streams_or_udp,gbps,daemon_cpu_pct" rows to OUTDIR/peers.csv:
#   gbps            receiver side bits/s / 1e9, or "error"
#   daemon_cpu_pct  CPU of the peer's daemons (both sides summed, 100 = one core)
#                   over the test, from /proc/PID/stat; empty for the veth
# Raw iperf3 JSON goes to OUTDIR/peers-raw/.
# Env: SECS (test length, whole seconds), PEERS (subset, space separated names),
# PEER_RPS=1 (RPS on the wire, the counterpart of espresso's threaded NAPI).
# Installs the peers' Debian packages when missing (no daemon gets started).
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
[ $# = 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench_peers: needs root (namespaces, packages)" >&2; exit 1; }
OUTDIR=$1
SECS=${SECS:-10}
SECS=${SECS%.*}
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] || SECS=1
PEERS=${PEERS:-veth-no-offloads wireguard-go openvpn strongswan-libipsec espresso-ike}

mkdir -p "$OUTDIR" || exit 1
OUTDIR=$(cd "$OUTDIR" && pwd)
CSV=$OUTDIR/peers.csv
RAW=$OUTDIR/peers-raw
mkdir -p "$RAW" || exit 1
WORK=$(mktemp -d /tmp/bench-peers.XXXXXX) || exit 1

# shellcheck source-path=SCRIPTDIR
source "$HERE/peers/common.sh"
source "$HERE/peers/veth.sh"
source "$HERE/peers/wireguard.sh"
source "$HERE/peers/openvpn.sh"
source "$HERE/peers/strongswan.sh"
source "$HERE/peers/espresso_ike.sh"

cleanup() {
	trap - EXIT INT TERM
	local p live=()
	for p in "${STARTED[@]}"; do kill -0 "$p" 2>/dev/null && live+=("$p"); done
	[ ${#live[@]} = 0 ] || stop_pids "${live[@]}"
	rm -f "/run/wireguard/$WG_IF_A.sock" "/run/wireguard/$WG_IF_B.sock"
	topo_down
	policy_rc_restore
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# peer name -> function prefix in tools/peers/*.sh
prefix_of() {
	case $1 in
	veth-no-offloads) echo veth ;;
	wireguard-go) echo wireguard ;;
	openvpn) echo openvpn ;;
	strongswan-libipsec) echo strongswan ;;
	espresso-ike) echo espresso_ike ;;
	*) return 1 ;;
	esac
}

bench_peer() { # bench_peer NAME
	local name=$1 pre dst src mode
	pre=$(prefix_of "$name") || { log "unknown peer $name"; return; }
	dst=${pre^^}_DST src=${pre^^}_SRC
	log "== $name"
	WHY=""
	DAEMONS=()
	if "${pre}_up"; then
		for mode in 1 4 udp1400; do
			daemons_alive || { log "$name: a daemon died"; csv_row "$name" "$mode" error ""; continue; }
			run_test "$name" "$mode" "${!dst}" "${!src}"
		done
	else
		log "$name: not measured: $WHY"
		for mode in 1 4 udp1400; do csv_row "$name" "$mode" error ""; done
	fi
	"${pre}_down"
}

[ -s "$CSV" ] || echo "test,streams_or_udp,gbps,daemon_cpu_pct" >"$CSV"
peers_deps
log "namespaces $NS_A / $NS_B, $SECS s per test, results -> $CSV"
topo_up || { log "topology setup failed"; exit 1; }
first=$(($(wc -l <"$CSV") + 1))
for peer in $PEERS; do bench_peer "$peer"; done

echo
{ head -n1 "$CSV"; tail -n +"$first" "$CSV"; } | column -t -s,
