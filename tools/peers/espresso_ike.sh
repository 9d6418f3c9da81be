# shellcheck shell=bash
# espresso keyed by IKE: espressod on each side (XDP on the wire), and a charon
# with our kernel-espresso plugin (tools/strongswan/, `make strongswan`) that
# negotiates IKEv2 PSK, ESP AES_GCM_16-256 (raw ESP: no NAT) and installs the
# SAs and routes in espressod. The same strongSwan configuration as the
# strongswan-libipsec row, with espresso where libipsec was.
#   inner 10.204.0.1 (A, esp0) <-> 10.204.0.2 (B, esp0)
# charon runs as in tools/peers/strongswan.sh (its own /run in the netns's
# mount namespace), keeping /run/espresso; the plugin is LD_PRELOADed.
ESPRESSO_IKE_DST=10.204.0.2
ESPRESSO_IKE_SRC=10.204.0.1
ESPRESSO_ROOT=$(cd "$HERE/.." && pwd)
ESPRESSO_IKE_PLUGIN=$ESPRESSO_ROOT/tools/strongswan/libstrongswan-kernel-espresso.so

espresso_ike_conf() { # espresso_ike_conf SIDE PSK
	local s=$1 d=$WORK/ei/$1 l r li ri lid rid wire
	if [ "$s" = A ]; then
		l=$WIRE_A r=$WIRE_B li=10.204.0.1 ri=10.204.0.2 lid=gwA rid=gwB wire=wA
	else
		l=$WIRE_B r=$WIRE_A li=10.204.0.2 ri=10.204.0.1 lid=gwB rid=gwA wire=wB
	fi
	mkdir -p "$d/run/espresso"
	cat >"$d/espresso.conf" <<CONF
espresso: {
  instance = "$NS_A-ike-$s";
  uplink = { name = "$wire"; };
  tun = { name = "esp0"; address = "$li/32"; };
  tunnels = ( );
};
CONF
	chmod 600 "$d/espresso.conf"
	cat >"$d/strongswan.conf" <<CONF
charon {
  load_modular = no
  load = random nonce openssl aesni aes gcm sha1 sha2 hmac kdf pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-espresso kernel-netlink socket-default vici
  plugins {
    kernel-espresso {
      socket = /run/espresso/$NS_A-ike-$s.sock
    }
    vici {
      socket = unix://$d/charon.vici
    }
  }
  filelog {
    charon$s {
      path = $d/charon.log
      time_format = %T
      flush_line = yes
      default = 1
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
CONF
	cat >"$d/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $l
    remote_addrs = $r
    proposals = aes256gcm16-prfsha256-ecp256
    local {
      auth = psk
      id = $lid
    }
    remote {
      auth = psk
      id = $rid
    }
    children {
      net {
        mode = tunnel
        local_ts = $li/32
        remote_ts = $ri/32
        esp_proposals = aes256gcm16
        start_action = none
      }
    }
  }
}
secrets {
  ike-gw {
    id-a = gwA
    id-b = gwB
    secret = "$2"
  }
}
CONF
}

espresso_ike_up() {
	local d=$WORK/ei psk s ns i
	[ -x "$ESPRESSO_ROOT/espressod" ] || { fail "espressod not built (make)"; return 1; }
	[ -f "$ESPRESSO_IKE_PLUGIN" ] || { fail "the plugin is not built (make strongswan)"; return 1; }
	[ -x "$CHARON" ] || { fail "strongSwan charon not installed"; return 1; }
	psk=$(openssl rand -hex 24) || { fail "openssl rand failed"; return 1; }
	espresso_ike_conf A "$psk" && espresso_ike_conf B "$psk" || { fail "writing configs failed"; return 1; }
	for s in A B; do
		ns=NS_$s
		start_daemon "${!ns}" "$d/$s/espressod.log" "$ESPRESSO_ROOT/espressod" \
			-c "$d/$s/espresso.conf" --state-dir "$d/$s/state"
	done
	for i in $(seq 1 50); do
		grep -q running "$d/A/espressod.log" && grep -q running "$d/B/espressod.log" && break
		daemons_alive || break
		sleep 0.1
	done
	grep -q running "$d/A/espressod.log" && grep -q running "$d/B/espressod.log" ||
		{ fail "espressod did not start" "$d/A/espressod.log" "$d/B/espressod.log"; return 1; }
	for s in B A; do
		ns=NS_$s
		start_daemon "${!ns}" "$d/$s/charon.stdout" sh -c \
			"mount --bind /run/espresso '$d/$s/run/espresso' && mount --rbind '$d/$s/run' /run &&
			 exec env STRONGSWAN_CONF='$d/$s/strongswan.conf' LD_PRELOAD='$ESPRESSO_IKE_PLUGIN' '$CHARON'"
	done
	for i in $(seq 1 50); do
		[ -S "$d/A/charon.vici" ] && [ -S "$d/B/charon.vici" ] && break
		daemons_alive || break
		sleep 0.2
	done
	[ -S "$d/A/charon.vici" ] && [ -S "$d/B/charon.vici" ] ||
		{ fail "charon did not start" "$d/A/charon.stdout" "$d/A/charon.log"; return 1; }
	for s in B A; do
		swanctl --load-all --file "$d/$s/swanctl.conf" --uri "unix://$d/$s/charon.vici" \
			>"$d/$s/swanctl.log" 2>&1 || { fail "swanctl --load-all failed on $s" "$d/$s/swanctl.log"; return 1; }
	done
	swanctl --initiate --child net --ike gw --timeout 10 --uri "unix://$d/A/charon.vici" \
		>"$d/A/initiate.log" 2>&1 || { fail "swanctl --initiate failed" "$d/A/charon.log" "$d/B/charon.log"; return 1; }
	wait_ping "$NS_A" "$ESPRESSO_IKE_DST" "$ESPRESSO_IKE_SRC" ||
		{ fail "no ping through espresso" "$d/A/charon.log" "$d/A/espressod.log"; return 1; }
	log "espresso-ike up, pids ${DAEMONS[*]}"
}

espresso_ike_down() {
	stop_daemons # charon first would be nicer; espressod's clean stop removes tun and routes
	return 0
}
