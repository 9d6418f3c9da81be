# shellcheck shell=bash
# strongSwan charon + kernel-libipsec: userspace ESP through a TUN (ipsec0),
# IKEv2 PSK, ESP AES_GCM_16-256 in UDP (port 4500, encap = yes), tunnel mode.
#   inner 10.203.0.1 (A, on lo) <-> 10.203.0.2 (B, on lo), routed via ipsec0 by charon
# Two charons on one host: charon 5.9 hard-codes /var/run/charon.pid, so each runs
# in the private mount namespace that `ip netns exec` makes, with /run bind-mounted
# to a directory of its own; STRONGSWAN_CONF selects its strongswan.conf (vici
# socket in our temp dir). ipsec0's MTU stays at libipsec's fixed 1400: its TUN
# read buffer is sized to it, so raising the MTU makes larger packets vanish.
STRONGSWAN_DST=10.203.0.2
STRONGSWAN_SRC=10.203.0.1
CHARON=/usr/lib/ipsec/charon

strongswan_conf() { # strongswan_conf SIDE PSK: writes $WORK/ss/SIDE/{strongswan,swanctl}.conf
	local s=$1 psk=$2 d=$WORK/ss/$1 l r li ri lid rid start
	if [ "$s" = A ]; then
		l=$WIRE_A r=$WIRE_B li=10.203.0.1 ri=10.203.0.2 lid=gwA rid=gwB start=start
	else
		l=$WIRE_B r=$WIRE_A li=10.203.0.2 ri=10.203.0.1 lid=gwB rid=gwA start=none
	fi
	mkdir -p "$d/run"
	cat >"$d/strongswan.conf" <<CONF
charon {
  load_modular = no
  load = random nonce openssl aesni aes gcm sha1 sha2 hmac kdf pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-libipsec kernel-netlink socket-default vici
  install_routes = yes
  plugins {
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
swanctl {
  socket = unix://$d/charon.vici
}
CONF
	cat >"$d/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $l
    remote_addrs = $r
    encap = yes
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
        start_action = $start
      }
    }
  }
}
secrets {
  ike-gw {
    id-a = gwA
    id-b = gwB
    secret = "$psk"
  }
}
CONF
}

swanctl_in() { # swanctl_in SIDE ARGS...: swanctl talking to that side's charon
	STRONGSWAN_CONF=$WORK/ss/$1/strongswan.conf swanctl "${@:2}" --uri "unix://$WORK/ss/$1/charon.vici"
}

strongswan_up() {
	local d=$WORK/ss psk s ns i
	[ -x "$CHARON" ] && command -v swanctl >/dev/null || { fail "strongSwan charon/swanctl not installed"; return 1; }
	[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
		{ fail "kernel-libipsec plugin missing (libcharon-extra-plugins)"; return 1; }
	psk=$(openssl rand -hex 24) || { fail "openssl rand failed"; return 1; }
	strongswan_conf A "$psk" && strongswan_conf B "$psk" || { fail "writing configs failed"; return 1; }
	ip -n "$NS_A" addr add 10.203.0.1/32 dev lo
	ip -n "$NS_B" addr add 10.203.0.2/32 dev lo

	for s in B A; do
		ns=NS_$s
		# sh execs charon, so the PID we record is charon's
		start_daemon "${!ns}" "$d/$s/charon.stdout" sh -c \
			"mount --bind '$d/$s/run' /run && exec env STRONGSWAN_CONF='$d/$s/strongswan.conf' '$CHARON'"
	done
	for i in $(seq 1 50); do
		[ -S "$d/A/charon.vici" ] && [ -S "$d/B/charon.vici" ] && break
		daemons_alive || break
		sleep 0.2
	done
	[ -S "$d/A/charon.vici" ] && [ -S "$d/B/charon.vici" ] ||
		{ fail "charon did not start" "$d/A/charon.stdout" "$d/A/charon.log" "$d/B/charon.stdout" "$d/B/charon.log"; return 1; }
	for s in B A; do
		swanctl_in "$s" --load-all --file "$d/$s/swanctl.conf" >"$d/$s/swanctl.log" 2>&1 ||
			{ fail "swanctl --load-all failed on $s" "$d/$s/swanctl.log"; return 1; }
	done
	# A initiates (start_action = start); wait for the CHILD_SA
	for i in $(seq 1 75); do
		swanctl_in A --list-sas 2>/dev/null | grep -q INSTALLED && break
		sleep 0.2
	done
	swanctl_in A --list-sas 2>/dev/null | grep -q INSTALLED ||
		{ fail "no CHILD_SA installed" "$d/A/charon.log" "$d/B/charon.log"; return 1; }
	wait_ping "$NS_A" "$STRONGSWAN_DST" "$STRONGSWAN_SRC" ||
		{ fail "no ping through strongSwan" "$d/A/charon.log" "$d/B/charon.log"; return 1; }
	log "strongswan up ($(swanctl_in A --list-sas 2>/dev/null | grep -o 'AES_GCM_16-256' | head -n1 | sed 's/^/ESP /')), pids ${DAEMONS[*]}"
}

strongswan_down() {
	stop_daemons     # charon removes ipsec0 and its routes; its mount namespace goes with it
	ip -n "$NS_A" addr del 10.203.0.1/32 dev lo 2>/dev/null
	ip -n "$NS_B" addr del 10.203.0.2/32 dev lo 2>/dev/null
	return 0
}
