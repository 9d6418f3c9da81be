# shellcheck shell=bash
# Shared by the end-to-end tests and the demo: two gateways in network
# namespaces joined by a veth wire, each with espressod and its tun.
#
#   netns ${P}A (gateway A + its host)         netns ${P}B (gateway B + its host)
#   esp0 10.1.0.1, fd00:1::1  (tun)            esp0 10.2.0.1, fd00:2::1  (tun)
#        | espressod gw-a                           | espressod gw-b
#   eA 192.0.2.1/24 (XDP) ======= veth wire ======= eB 192.0.2.2/24 (XDP)
#
# A routes 10.2.0.0/16 and fd00:2::/64 into its tun, B the 10.1/16 and fd00:1::/64.
# A -> B: SPI 0x1000 key KEY_AB;  B -> A: SPI 0x2000 key KEY_BA.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
P=${P:-esp$$}
NS_A=${P}A
NS_B=${P}B
WORK=${WORK:-$(mktemp -d /tmp/espresso-e2e.XXXXXX)}
# Test keys (aes-gcm-256: 32-byte key + 4-byte salt). Never use outside tests.
KEY_AB=${KEY_AB:-000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223}
KEY_BA=${KEY_BA:-a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3}
SPI_AB=${SPI_AB:-0x1000}
SPI_BA=${SPI_BA:-0x2000}
CIPHER=${CIPHER:-aes-gcm-256}
ENCAP=${ENCAP:-esp}
QUEUES=${QUEUES:-1}
TUN_MTU=${TUN_MTU:-1400}       # 0: automatic (uplink MTU - ESP overhead)
OFFLOAD=${OFFLOAD:-true}       # tun virtio_net_hdr: GSO/GRO/checksum
THREADED_NAPI=${THREADED_NAPI:-auto} # uplink.threaded_napi: auto (on for veth), on, off
MSS_CLAMP=${MSS_CLAMP:-true}
FRAGMENT=${FRAGMENT:-inner}
WIRE_MTU=${WIRE_MTU:-1500}
SA_PAIRS=${SA_PAIRS:-1}         # SA pairs per tunnel (keys derived by HKDF)
CRYPTO=${CRYPTO:-openssl}       # AES-GCM backend: openssl | ipsec-mb
CPUS_A=${CPUS_A:-}              # worker CPUs, e.g. "0, 1" (default: not pinned)
CPUS_B=${CPUS_B:-}
# OUTER6=1: IPv6 on the wire too (2001:db8::1 on eA, 2001:db8::2 on eB) and
# the tunnel between those (4in6, 6in6) instead of 192.0.2.1/.2
OUTER6=${OUTER6:-}
OUTER_A=192.0.2.1 OUTER_B=192.0.2.2
[ -z "$OUTER6" ] || { OUTER_A=2001:db8::1; OUTER_B=2001:db8::2; }
PID_A= PID_B=

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

topo_up() {
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add eA netns "$NS_A" numrxqueues "$QUEUES" numtxqueues "$QUEUES" \
		type veth peer name eB netns "$NS_B" \
		numrxqueues "$QUEUES" numtxqueues "$QUEUES"
	ip -n "$NS_A" link set eA mtu "$WIRE_MTU"
	ip -n "$NS_B" link set eB mtu "$WIRE_MTU"
	ip -n "$NS_A" addr add 192.0.2.1/24 dev eA
	ip -n "$NS_B" addr add 192.0.2.2/24 dev eB
	if [ -n "$OUTER6" ]; then
		ip -n "$NS_A" addr add 2001:db8::1/64 dev eA nodad
		ip -n "$NS_B" addr add 2001:db8::2/64 dev eB nodad
	fi
	for n in "$NS_A" "$NS_B"; do ip -n "$n" link set lo up; done
	ip -n "$NS_A" link set eA up
	ip -n "$NS_B" link set eB up
}

# topo_bridged: topo_up's namespaces, but the wire is two veths and a
# bridge in a third namespace ${P}W, where a capture sees what really
# crosses (AF_XDP frames bypass the taps of the gateways' own interfaces):
#   eA 192.0.2.1 -- wA =[br0 in ${P}W]= wB -- eB 192.0.2.2
NS_W=${P}W
topo_bridged() {
	local x ns l
	topo_up
	ip -n "$NS_A" link del eA
	ip netns add "$NS_W"
	ip netns exec "$NS_W" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	for x in A B; do
		ns=${P}$x
		ip link add "e$x" netns "$ns" numrxqueues "$QUEUES" numtxqueues "$QUEUES" \
			type veth peer name "w$x" netns "$NS_W" \
			numrxqueues "$QUEUES" numtxqueues "$QUEUES"
		ip -n "$ns" link set "e$x" mtu "$WIRE_MTU"
		ip -n "$NS_W" link set "w$x" mtu "$WIRE_MTU"
	done
	ip -n "$NS_W" link add br0 type bridge mcast_snooping 0 # no IGMP of its own
	for l in wA wB; do ip -n "$NS_W" link set "$l" master br0 up; done
	ip -n "$NS_W" link set br0 up
	ip -n "$NS_A" addr add 192.0.2.1/24 dev eA
	ip -n "$NS_B" addr add 192.0.2.2/24 dev eB
	ip -n "$NS_A" link set eA up
	ip -n "$NS_B" link set eB up
}

# gw_conf NAME UPLINK TUNADDR4 TUNADDR6 LOCAL REMOTE ROUTE4 ROUTE6 OSPI OKEY ISPI IKEY [CPUS]
# EXTRA_CONF: settings added to the espresso group (EXTRA_CONF='...' gw_start a)
# TUNNEL_EXTRA: settings added to the tunnel's group
gw_conf() {
	local f=$WORK/gw-$1.conf
	cat > "$f" <<CONF
espresso: {
  instance = "$P-$1";
  workers = { queues = $QUEUES; crypto = "$CRYPTO"; busy_poll = ${BUSY_POLL:-false}; $( [ -z "${13:-}" ] || echo "cpus = [ ${13} ];" ) };
  uplink = { name = "$2"; threaded_napi = "$THREADED_NAPI"; };
  tun = { name = "esp0"; $( [ "$TUN_MTU" = 0 ] || echo "mtu = $TUN_MTU;" ) address = [ "$3", "$4" ];
          offload = $OFFLOAD; mss_clamp = $MSS_CLAMP; };
  ${EXTRA_CONF:-}
  tunnels = (
    { name = "to-peer"; local = "$5"; remote = "$6"; encap = "$ENCAP";
      cipher = "$CIPHER"; replay_window = 1024; esn = true; fragment = "$FRAGMENT";
      sa_pairs = $SA_PAIRS; ${TUNNEL_EXTRA:-}
      outbound = { spi = $9; key = "${10}"; };
      inbound  = { spi = ${11}; key = "${12}"; };
      routes = [ "$7", "$8" ]; }
  );
};
CONF
	chmod 600 "$f"
	echo "$f"
}

gw_start() { # gw_start a|b
	local ns conf log wrap
	if [ "$1" = a ]; then
		ns=$NS_A
		conf=$(gw_conf a eA 10.1.0.1/32 fd00:1::1/128 "$OUTER_A" "$OUTER_B" \
			10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA" "$CPUS_A")
	else
		ns=$NS_B
		conf=$(gw_conf b eB 10.2.0.1/32 fd00:2::1/128 "$OUTER_B" "$OUTER_A" \
			10.1.0.0/16 fd00:1::/64 "$SPI_BA" "$KEY_BA" "$SPI_AB" "$KEY_AB" "$CPUS_B")
	fi
	log=$WORK/gw-$1.log
	# GW_WRAP_A/B: a command the daemon runs under (valgrind), which
	# also takes longer to start (GW_START_TRIES tenths of a second)
	eval "wrap=(\${GW_WRAP_${1^^}:-})"
	# a killed instance's log and socket may still be there: emptied
	# here, where the wait below cannot see the old "running" first
	: >"$log"
	ip netns exec "$ns" "${wrap[@]}" "$ROOT/espressod" -c "$conf" --state-dir "$WORK/state-$1" \
		>"$log" 2>&1 &
	eval "PID_${1^^}=$!"
	gw_wait_running "gw-$1" "$log" 0 $! "${GW_START_TRIES:-50}"
}

running_lines() { # running_lines LOG: its "running" lines so far (0: none, no file)
	local n
	n=$(grep -c running "$1" 2>/dev/null)
	echo "${n:-0}"
}

# gw_wait_running NAME LOG N0 PID [TRIES]: until espressod PID has its
# control socket and says "running" in LOG, appended to, once more than
# the N0 times before its start (a killed instance's line and socket are
# still there); fails after TRIES tenths of a second or if PID exits
gw_wait_running() {
	local x=${1#gw-} _
	for _ in $(seq "${5:-50}"); do
		[ -S "/run/espresso/$P-$x.sock" ] &&
			[ "$(running_lines "$2")" -gt "${3:-0}" ] && return 0
		kill -0 "$4" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2" >&2
	fail "espressod $1 did not start"
}

gw_stop() { # gw_stop a|b: SIGTERM and wait
	local pid
	eval "pid=\$PID_${1^^}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	eval "PID_${1^^}="
}

# tunnel_ready: the outer neighbours, then one ping each way through the
# tunnel, IPv4 and IPv6, a few tries each (the first packets may wait for
# the next hop's MAC and be counted as tx_no_neigh)
tunnel_ready() {
	local t ok
	ip netns exec "$NS_A" ping -c 1 -W 2 "$OUTER_B" >/dev/null || fail "no outer connectivity"
	for t in 10.2.0.1 fd00:2::1; do
		ok=
		for _ in 1 2 3; do
			ip netns exec "$NS_A" ping -c 1 -W 1 "$t" >/dev/null && { ok=1; break; }
		done
		[ -n "$ok" ] || fail "no ping through the tunnel to $t"
	done
}

ctl() { # ctl a|b COMMAND...
	local gw=$1
	shift
	"$ROOT/espressoctl" -i "$P-$gw" "$@"
}

# counter TEXT NAME: the number after the word NAME in TEXT (0 if absent)
counter() {
	local v
	v=$(printf '%s\n' "$1" | tr ' ' '\n' | grep -A1 -x "$2" | sed -n 2p)
	echo "${v:-0}"
}

# bpf_dump a|b MAP: bpftool in the daemon's mount namespace (its bpffs)
bpf_dump() {
	local pid
	eval "pid=\$PID_${1^^}"
	nsenter -t "$pid" -m -n bpftool map dump pinned \
		"/sys/fs/bpf/espresso/$P-$1/$2"
}

# xdp_counter NS DEV NAME: counter NAME of the espresso program attached to
# DEV, summed over CPUs, read with bpftool from the program's own map (it
# works while no espressod runs: after a SIGKILL the program stays).
xdp_counter() {
	local id
	id=$(ip netns exec "$1" bpftool -j net show dev "$2" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"][0]["id"])')
	bpftool -j prog show id "$id" | /usr/bin/python3 -c '
import json, subprocess, sys
for m in json.load(sys.stdin)["map_ids"]:
    info = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "id", str(m)]))
    if info["name"] != "espresso_stats":
        continue
    dump = json.loads(subprocess.check_output(["bpftool", "-j", "map", "dump", "id", str(m)]))
    print(sum(v["value"][sys.argv[1]] for e in dump for v in e["formatted"]["values"]))
    break' "$3"
}

topo_down() {
	local f
	neigh_gc_restore
	gw_stop a
	gw_stop b
	# make check SANITIZE=1: UBSan reports go to the daemons' stderr (their
	# logs here); tests/run.sh fails the test that leaves one in its dir
	if [ -n "${ESPRESSO_SAN_DIR:-}" ] && [ -d "$WORK" ]; then
		grep -rlE '\.(c|h):[0-9]+:[0-9]+: runtime error: ' "$WORK" 2>/dev/null |
			while read -r f; do cp "$f" "$ESPRESSO_SAN_DIR/ubsan.$(basename "$f")"; done
	fi
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	ip netns del "$NS_W" 2>/dev/null || true
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}

# neigh_gc NS DEV ADDR: the kernel's garbage collection deletes ADDR's
# neighbour entry on DEV in NS ("Deleted ADDR dev DEV ... STALE"), as it
# does, minutes after it went stale, to an entry nothing in the kernel
# uses (espresso's packets never pass the kernel's neighbour code) once
# the kernel's table holds gc_thresh1 (128) entries, all namespaces
# together. To see it in seconds: the entry made stale (its MAC kept),
# DEV's gc_stale_time 1 s, and for as long as it takes (20 s at most) the
# global gc_thresh1 0 and base_reachable_time 1 s (the GC runs every half
# of it), restored after (and by topo_down). 0 once deleted, else 1.
NEIGH_GC_SAVED=
neigh_gc() {
	local ns=$1 dev=$2 addr=$3 v=ipv4 mac k rc=1
	[[ $addr == *:* ]] && v=ipv6
	mac=$(ip -n "$ns" neigh show "$addr" dev "$dev" | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2)
	[ -n "$mac" ] || return 1
	NEIGH_GC_SAVED=
	for k in net.$v.neigh.default.gc_thresh1 net.$v.neigh.default.base_reachable_time_ms; do
		NEIGH_GC_SAVED="$NEIGH_GC_SAVED $k=$(sysctl -n "$k")"
	done
	ip netns exec "$ns" sysctl -qw "net.$v.neigh.$dev.gc_stale_time=1" \
		"net.$v.neigh.$dev.base_reachable_time_ms=1000"
	ip -n "$ns" monitor neigh >"$WORK/neigh_gc.mon" 2>&1 &
	local mon=$!
	sleep 0.2
	sysctl -qw "net.$v.neigh.default.gc_thresh1=0" "net.$v.neigh.default.base_reachable_time_ms=1000"
	ip -n "$ns" neigh change "$addr" dev "$dev" lladdr "$mac" nud stale
	for _ in $(seq 200); do
		grep -q "^Deleted $addr dev $dev " "$WORK/neigh_gc.mon" && { rc=0; break; }
		sleep 0.1
	done
	neigh_gc_restore
	kill "$mon" 2>/dev/null
	wait "$mon" 2>/dev/null
	return $rc
}
neigh_gc_restore() {
	# shellcheck disable=SC2086
	[ -z "$NEIGH_GC_SAVED" ] || sysctl -qw $NEIGH_GC_SAVED
	NEIGH_GC_SAVED=
}

# now: the time in seconds (fractional); elapsed T0 T1: T1 - T0
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

# has_xdp NS DEV: whether an XDP program is attached to DEV
has_xdp() { ip -n "$1" link show "$2" | grep -q 'prog/xdp'; }

# A restart test's exit: its capture ($TS_PID), its pings, the topology.
capture_cleanup() {
	local p
	[ -n "$TS_PID" ] && kill "$TS_PID" 2>/dev/null
	for p in $PING_PIDS; do kill "$p" 2>/dev/null; done
	topo_down
}

# The end of a restart test's traffic: its pings ($PING_PIDS), a second
# later, then its capture ($TS_PID), half a second after.
capture_end() {
	local p
	sleep 1
	for p in $PING_PIDS; do kill "$p" 2>/dev/null; done
	PING_PIDS=
	sleep 0.5
	kill "$TS_PID"
	wait "$TS_PID" 2>/dev/null
	TS_PID=
}

# The wire capture of a restart test (FILE): nothing of the protected
# prefixes in clear, and ESP enough to say the capture saw the traffic.
wire_no_clear() {
	local clear='ip.addr == 10.0.0.0/8 || ipv6.addr == fd00::/16 || icmp || icmpv6.type == 128 || icmpv6.type == 129'
	local n esp
	n=$(tshark -r "$1" -Y "$clear" 2>/dev/null | wc -l)
	[ "$n" = 0 ] || fail "$n frames in clear: $(tshark -r "$1" -Y "$clear" 2>/dev/null | head -5)"
	esp=$(tshark -r "$1" -Y esp 2>/dev/null | wc -l)
	[ "$esp" -gt 100 ] || fail "only $esp ESP frames captured"
	echo "   $esp ESP frames, 0 in clear"
}

# seq_above FILE SPI DOWN UP: the ESP sequence numbers of SPI in the
# capture FILE sent after UP (epoch seconds) are all above those sent
# before DOWN, none between (the daemon was down), some on both sides.
seq_above() {
	tshark -r "$1" -Y "esp.spi == $2" -T fields -e frame.time_epoch \
		-e esp.sequence 2>/dev/null >"$1.seq"
	${PY:-/usr/bin/python3} - "$1.seq" "$3" "$4" <<'PY'
import sys
down, up = float(sys.argv[2]), float(sys.argv[3])
rows = [(float(t), int(s)) for t, s in (l.split() for l in open(sys.argv[1]))]
before = [s for t, s in rows if t < down]
gap = [s for t, s in rows if down <= t < up]
after = [s for t, s in rows if t >= up]
if not before or not after:
    sys.exit(1)
print("   before: %d packets, %d..%d; while down: %d; after: %d packets, %d..%d" %
      (len(before), min(before), max(before), len(gap), len(after), min(after), max(after)))
if gap or min(after) <= max(before):
    sys.exit(1)
PY
}
