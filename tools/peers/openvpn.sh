# shellcheck shell=bash
# OpenVPN 2.6 peer-to-peer, UDP, tun, data channel AES-256-GCM, DCO off.
#   inner 10.202.0.1 (A) <-> 10.202.0.2 (B), tun-mtu 1436
# Static-key mode cannot do AES-GCM, so the control channel is TLS with
# self-signed EC certificates pinned by peer-fingerprint (no CA needed).
OPENVPN_DST=10.202.0.2
OPENVPN_SRC=""

openvpn_conf() { # openvpn_conf SIDE: the config of side a or b on stdout
	local d=$WORK/ovpn s=$1 o dev lcl rmt ifc role
	if [ "$s" = a ]; then
		o=b dev=ovA lcl=$WIRE_A rmt=$WIRE_B ifc="10.202.0.1 10.202.0.2" role=tls-client
	else
		o=a dev=ovB lcl=$WIRE_B rmt=$WIRE_A ifc="10.202.0.2 10.202.0.1" role="tls-server
dh none"
	fi
	cat <<CONF
dev $dev
dev-type tun
disable-dco
proto udp
local $lcl
lport 1194
remote $rmt 1194
ifconfig $ifc
tun-mtu 1436
$role
cert $d/$s.crt
key $d/$s.key
peer-fingerprint $(openssl x509 -in "$d/$o.crt" -noout -fingerprint -sha256 | cut -d= -f2)
data-ciphers AES-256-GCM
verb 3
CONF
}

openvpn_up() {
	local d=$WORK/ovpn s i
	command -v openvpn >/dev/null || { fail "openvpn not installed"; return 1; }
	mkdir -p "$d"
	for s in a b; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=bench-peers-ovpn-$s" -keyout "$d/$s.key" -out "$d/$s.crt" >/dev/null 2>&1 ||
			{ fail "openssl req failed"; return 1; }
	done
	openvpn_conf a >"$d/a.conf" && openvpn_conf b >"$d/b.conf" || { fail "writing configs failed"; return 1; }

	start_daemon "$NS_B" "$d/b.log" openvpn --config "$d/b.conf"
	start_daemon "$NS_A" "$d/a.log" openvpn --config "$d/a.conf"
	for i in $(seq 1 100); do
		grep -q "Initialization Sequence Completed" "$d/a.log" &&
			grep -q "Initialization Sequence Completed" "$d/b.log" && break
		daemons_alive || break
		sleep 0.2
	done
	grep -q "Initialization Sequence Completed" "$d/a.log" &&
		grep -q "Initialization Sequence Completed" "$d/b.log" ||
		{ fail "OpenVPN did not complete initialisation" "$d/a.log" "$d/b.log"; return 1; }
	grep -q "cipher=AES-256-GCM" "$d/a.log" || log "warning: AES-256-GCM not confirmed in the OpenVPN log"
	wait_ping "$NS_A" "$OPENVPN_DST" || { fail "no ping through OpenVPN" "$d/a.log" "$d/b.log"; return 1; }
	log "openvpn up ($(grep -o 'cipher=[A-Z0-9-]*' "$d/a.log" | head -n1)), pids ${DAEMONS[*]}"
}

openvpn_down() {
	stop_daemons     # the tun devices go with the processes
	return 0
}
