# shellcheck shell=bash
# Shared by the IKE tests: charon in a test namespace, its configs, and
# espressod as an IKE gateway (no tunnels in its config). Source lib.sh first.
PLUGIN=$ROOT/tools/strongswan/libstrongswan-kernel-espresso.so
CHARON=/usr/lib/ipsec/charon
PY=/usr/bin/python3
CH_A= CH_B=

# ike_skip_unless_ready [libipsec]: exit 77 without charon, swanctl, the
# plugin (built here when missing) or, if asked, kernel-libipsec
ike_skip_unless_ready() {
	[ -x "$CHARON" ] && command -v swanctl >/dev/null ||
		{ echo "SKIP: strongSwan's charon/swanctl are not installed (tools/deps.sh check)"; exit 77; }
	if [ "${1:-}" = libipsec ] && [ ! -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]; then
		echo "SKIP: libcharon-extra-plugins (kernel-libipsec) is not installed"; exit 77
	fi
	if [ ! -f "$PLUGIN" ]; then
		make -s -C "$ROOT" strongswan >/dev/null 2>&1 ||
			{ echo "SKIP: the plugin does not build (make strongswan)"; exit 77; }
	fi
}

# espresso_ike_start a|b UPLINK TUN-ADDRESS...: espressod with tunnels = ( )
espresso_ike_start() {
	local x=$1 ns log=$WORK/gw-$1.log up=$2 addrs a n0
	if [ "$x" = a ]; then ns=$NS_A; else ns=$NS_B; fi
	shift 2
	addrs=
	for a in "$@"; do addrs="$addrs${addrs:+, }\"$a\""; done
	cat >"$WORK/gw-$x.conf" <<CONF
espresso: {
  instance = "$P-$x";
  uplink = { name = "$up"; };
  tun = { name = "esp0"; mtu = 1400; address = [ $addrs ]; };
  tunnels = ( );   # charon adds them
};
CONF
	chmod 600 "$WORK/gw-$x.conf"
	n0=$(running_lines "$log")
	ip netns exec "$ns" "$ROOT/espressod" -c "$WORK/gw-$x.conf" \
		--state-dir "$WORK/state-$x" >>"$log" 2>&1 &
	eval "PID_${x^^}=$!"
	gw_wait_running "$x" "$log" "$n0" $!
}

# ike_pki: a CA and a certificate for gw-a.example and gw-b.example
# (ECDSA P-256, 1 day), put where swanctl --file finds them: the folder of
# its swanctl.conf is its swanctl dir (x509ca/, x509/, private/)
ike_pki() {
	local x
	mkdir -m 700 "$WORK/pki"
	(
		cd "$WORK/pki"
		pki --gen --type ecdsa --size 256 --outform pem >ca.key
		pki --self --ca --lifetime 1 --in ca.key --type ecdsa \
			--dn "CN=espresso test CA" --outform pem >ca.pem
		for x in a b; do
			pki --gen --type ecdsa --size 256 --outform pem >$x.key
			pki --pub --in $x.key --type ecdsa | pki --issue --lifetime 1 \
				--cacert ca.pem --cakey ca.key --dn "CN=gw-$x.example" \
				--san gw-$x.example --outform pem >$x.pem
		done
	) 2>"$WORK/pki.err" || { cat "$WORK/pki.err" >&2; fail "strongswan-pki"; }
	for x in a b; do
		mkdir -p "$WORK/$x/x509ca" "$WORK/$x/x509" "$WORK/$x/private"
		cp "$WORK/pki/ca.pem" "$WORK/$x/x509ca/"
		cp "$WORK/pki/$x.pem" "$WORK/$x/x509/"
		cp "$WORK/pki/$x.key" "$WORK/$x/private/"
		chmod 600 "$WORK/$x/private/$x.key"
	done
}

# backend lines for strongswan_conf
ike_backend_espresso() { # ike_backend_espresso a|b
	printf '    kernel-espresso {\n      load = 10\n      socket = /run/espresso/%s.sock\n    }' "$P-$1"
}
ike_backend_libipsec() {
	printf '    kernel-libipsec {\n      load = 10\n    }'
}

# strongswan_conf X BACKEND-PLUGIN-LINES
strongswan_conf() {
	mkdir -p "$WORK/$1/run"
	cat >"$WORK/$1/strongswan.conf" <<CONF
charon {
  load_modular = yes
  retransmit_timeout = 0.5
  retransmit_tries = 2
  retransmit_base = 1.4
  plugins {
$2
    kernel-netlink {
      load = yes
    }
    random {
      load = yes
    }
    nonce {
      load = yes
    }
    openssl {
      load = yes
    }
    kdf {
      load = yes
    }
    hmac {
      load = yes
    }
    sha2 {
      load = yes
    }
    sha1 {
      load = yes
    }
    aes {
      load = yes
    }
    gcm {
      load = yes
    }
    pem {
      load = yes
    }
    pkcs1 {
      load = yes
    }
    x509 {
      load = yes
    }
    pubkey {
      load = yes
    }
    constraints {
      load = yes
    }
    socket-default {
      load = yes
    }
    vici {
      load = yes
      socket = unix://$WORK/$1/charon.vici
    }
  }
  filelog {
    log {
      path = $WORK/$1/charon.log
      time_format = %T
      append = yes
      flush_line = yes
      default = 1
      knl = 2
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
CONF
}

# ts_hosts TS-LIST: the gateways' own inner addresses in those prefixes
# (10.1.0.0/16 -> 10.1.0.1/32, fd00:1::/64 -> fd00:1::1/128)
ts_hosts() { echo "$1" | sed -e 's#\.0\.0/16#.0.1/32#g' -e 's#::/64#::1/128#g'; }

# swanctl_conf X LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS CERT-NAME IKE-REKEY
# gw: PSK, AES-GCM-256 (child net) or ChaCha20-Poly1305 (child netcha: the
# gateways' inner addresses only, so that a responder picks it over net for
# its exactly equal selectors); gwc: certificates (strongswan-pki), AES-GCM-128;
# IKE_CONNS_EXTRA: more connections, as swanctl.conf text
swanctl_conf() {
	cat >"$WORK/$1/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes256gcm16-prfsha256-ecp256
    rekey_time = $9
    over_time = 30s
    rand_time = 0s
    dpd_delay = 1s
    local {
      auth = psk
      id = $4
    }
    remote {
      auth = psk
      id = $5
    }
    children {
      net {
        mode = tunnel
        local_ts = $6
        remote_ts = $7
        esp_proposals = aes256gcm16
        rekey_time = ${CHILD_REKEY:-6s}
        life_time = ${CHILD_LIFE:-10s}
        start_action = none
        dpd_action = clear
      }
      netcha {
        mode = tunnel
        local_ts = $(ts_hosts "$6")
        remote_ts = $(ts_hosts "$7")
        esp_proposals = chacha20poly1305
        rekey_time = ${CHILD_REKEY:-6s}
        life_time = ${CHILD_LIFE:-10s}
        start_action = none
        dpd_action = clear
      }
    }
  }
  gwc {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes128gcm16-prfsha256-ecp256
    local {
      auth = pubkey
      certs = $8.pem
      id = $4
    }
    remote {
      auth = pubkey
      id = $5
      cacerts = ca.pem
    }
    children {
      netc {
        mode = tunnel
        local_ts = $6
        remote_ts = $7
        esp_proposals = aes128gcm16
        start_action = none
      }
    }
  }
${IKE_CONNS_EXTRA:-}
}
secrets {
  ike-gw {
    id-a = gw-a.example
    id-b = gw-b.example
    secret = "espresso test psk, never use it elsewhere"
  }
}
CONF
}

# charon_start a|b: in its netns, with its own /run (/run/espresso kept);
# the plugin preloaded when its strongswan.conf names it (the loader finds
# kernel_espresso_plugin_create without a file in /usr/lib/ipsec/plugins)
charon_start() {
	local x=$1 ns pre=
	if [ "$x" = a ]; then ns=$NS_A; else ns=$NS_B; fi
	grep -q kernel-espresso "$WORK/$x/strongswan.conf" && pre="LD_PRELOAD=$PLUGIN"
	rm -f "$WORK/$x/charon.vici"
	mkdir -p "$WORK/$x/run/espresso"
	ip netns exec "$ns" sh -c "
		mount --bind /run/espresso '$WORK/$x/run/espresso' &&
		mount --rbind '$WORK/$x/run' /run &&
		exec env STRONGSWAN_CONF='$WORK/$x/strongswan.conf' $pre $CHARON" \
		>>"$WORK/$x/charon.out" 2>&1 &
	eval "CH_${x^^}=$!"
	for _ in $(seq 50); do
		[ -S "$WORK/$x/charon.vici" ] && return 0
		sleep 0.1
	done
	cat "$WORK/$x/charon.out" "$WORK/$x/charon.log" >&2
	fail "charon $x did not start"
}

sw() { # sw a|b SWANCTL-ARGS...
	local x=$1
	shift
	swanctl "$@" --uri "unix://$WORK/$x/charon.vici" 2>/dev/null
}

load() { sw "$1" --load-all --file "$WORK/$1/swanctl.conf" >/dev/null || fail "swanctl --load-all on $1"; }

# ike_sas [a|b]: espresso's SAs of origin ike, JSON
ike_sas() {
	ctl "${1:-a}" -j show sa | $PY -c '
import json, sys
print(json.dumps([s for s in json.load(sys.stdin) if s.get("origin") == "ike"]))'
}

stat_sum() { # stat_sum COUNTER [a|b]: summed over espresso's queues
	ctl "${2:-a}" -j show stats | $PY -c '
import json, sys
d = json.load(sys.stdin); n = sys.argv[1]
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == n and isinstance(v, int): yield v
            else: yield from walk(v)
    elif isinstance(o, list):
        for v in o: yield from walk(v)
print(sum(walk(d)))' "$1"
}
