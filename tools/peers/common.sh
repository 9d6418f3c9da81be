# shellcheck shell=bash
# Shared helpers for tools/bench_peers.sh (sourced, not run).
#
# Topology (one per run, names unique to this run's PID):
#   netns $NS_A: wA 10.200.0.1/24 ==== veth, MTU 1500 ==== wB 10.200.0.2/24 :netns $NS_B
# TSO/GSO/GRO are off on both ends for the whole run: the "veth-no-offloads"
# baseline and every tunnel use the very same wire. iperf3 client in A,
# server in B; all traffic stays between these two namespaces.

NS_A=pr$$A
NS_B=pr$$B
WIRE_A=10.200.0.1
WIRE_B=10.200.0.2
IPERF_PORT=5201
HZ=$(getconf CLK_TCK)
PY=/usr/bin/python3

PEER_PKGS="wireguard-go wireguard-tools openvpn strongswan-charon strongswan-swanctl \
strongswan-libcharon libcharon-extra-plugins libstrongswan-standard-plugins iperf3 ethtool"

DAEMONS=()       # PIDs of the current peer's daemons (CPU accounting, teardown)
STARTED=()       # every PID this script started in the background, for the trap
WHY=""           # why the last peer failed to come up
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_STATE=""   # "" untouched, "created", or "replaced" (original saved in $WORK)

log() { echo "peers: $*" >&2; }

fail() { # fail REASON [LOGFILE...]: record why a peer did not come up, show its logs
	local f
	WHY=$1
	shift
	log "FAILED: $WHY"
	for f in "$@"; do
		[ -s "$f" ] || continue
		log "--- last lines of $(basename "$f"):"
		tail -n 15 "$f" | sed 's/^/    /' >&2
	done
	return 1
}

# ---------------------------------------------------------------- packages

policy_rc_block() { # make sure invoke-rc.d starts nothing while we install
	if [ -e "$POLICY_RC" ]; then
		"$POLICY_RC" dummy start >/dev/null 2>&1
		[ $? = 101 ] && return 0
		cp -p "$POLICY_RC" "$WORK/policy-rc.d.orig" && POLICY_RC_STATE=replaced
	else
		POLICY_RC_STATE=created
	fi
	printf '#!/bin/sh\n# temporary, tools/bench_peers.sh: start no daemons\nexit 101\n' >"$POLICY_RC"
	chmod 755 "$POLICY_RC"
}

policy_rc_restore() {
	case $POLICY_RC_STATE in
	created) rm -f "$POLICY_RC" ;;
	replaced) cp -p "$WORK/policy-rc.d.orig" "$POLICY_RC" ;;
	esac
	POLICY_RC_STATE=""
}

peers_deps() { # install the missing peer packages; quick when all are there
	local p missing=()
	for p in $PEER_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	log "installing ${missing[*]}"
	policy_rc_block
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300
		install --no-install-recommends "${missing[@]}")
	if ! "${apt[@]}" >"$WORK/apt.log" 2>&1; then
		log "apt-get install failed, running apt-get update and retrying"
		apt-get -q -o DPkg::Lock::Timeout=300 update >>"$WORK/apt.log" 2>&1
		"${apt[@]}" >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; log "package install failed"; }
	fi
	policy_rc_restore
	return 0   # a peer whose binaries are still missing reports it as its error
}

# ---------------------------------------------------------------- topology

topo_up() {
	ip netns add "$NS_A" || return 1
	ip netns add "$NS_B" || return 1
	ip link add wA netns "$NS_A" mtu 1500 type veth peer name wB netns "$NS_B" mtu 1500 || return 1
	ip -n "$NS_A" addr add "$WIRE_A/24" dev wA
	ip -n "$NS_B" addr add "$WIRE_B/24" dev wB
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	ip -n "$NS_A" link set wA up
	ip -n "$NS_B" link set wB up
	ip netns exec "$NS_A" ethtool -K wA tso off gso off gro off >/dev/null 2>&1 || return 1
	ip netns exec "$NS_B" ethtool -K wB tso off gso off gro off >/dev/null 2>&1 || return 1
	if [ "${PEER_RPS:-0}" = 1 ]; then
		# The peers' counterpart of espresso's threaded NAPI: without it a
		# veth's receive work runs on the sender's CPU; RPS hands it to
		# any CPU (a fairness check, off by default)
		local mask
		mask=$(printf '%x' $(((1 << $(nproc)) - 1)))
		ip netns exec "$NS_A" sh -c "echo $mask > /sys/class/net/wA/queues/rx-0/rps_cpus" || return 1
		ip netns exec "$NS_B" sh -c "echo $mask > /sys/class/net/wB/queues/rx-0/rps_cpus" || return 1
		log "RPS on wA/wB: CPUs $mask"
	fi
	wait_ping "$NS_A" "$WIRE_B"
}

topo_down() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	return 0
}

wait_ping() { # wait_ping NS DST [SRC]: up to ~8 s for one echo reply
	local i srcopt=()
	[ -n "${3:-}" ] && srcopt=(-I "$3")
	for i in 1 2 3 4; do
		ip netns exec "$1" ping -c1 -W2 "${srcopt[@]}" "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}

# ---------------------------------------------------------------- processes

start_daemon() { # start_daemon NS LOG CMD...: run CMD in NS in the background, track its PID
	local ns=$1 logf=$2
	shift 2
	# ip netns exec execs CMD, so $! is the daemon itself
	ip netns exec "$ns" "$@" >"$logf" 2>&1 &
	DAEMONS+=("$!")
	STARTED+=("$!")
}

stop_pids() { # stop_pids PID...: TERM, up to 5 s grace, then KILL; only our own children
	local p i alive
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 1 50); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && { log "pid $p ignored SIGTERM, killing"; kill -KILL "$p" 2>/dev/null; }
		wait "$p" 2>/dev/null
	done
	return 0
}

stop_daemons() {
	[ ${#DAEMONS[@]} = 0 ] || stop_pids "${DAEMONS[@]}"
	DAEMONS=()
}

daemons_alive() {
	local p
	for p in "${DAEMONS[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
	return 0
}

cpu_ticks() { # cpu_ticks PID: utime + stime of all its threads, in clock ticks
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }          # drop "pid (comm) ", comm may hold spaces
	# shellcheck disable=SC2086
	set -- $s            # now $1 = state (field 3), so utime (14) = $12, stime (15) = $13
	echo $(( ${12} + ${13} ))
}

# ---------------------------------------------------------------- measurement

cpu_busy_pct() { # cpu_busy_pct: how busy all CPUs were over the next second, in %
	local a b
	read -r -a a </proc/stat
	sleep 1
	read -r -a b </proc/stat
	# fields: cpu user nice system idle iowait irq softirq steal
	awk -v u="$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[6] - a[7] - a[8]))" \
		-v i="$((b[4] + b[5] - a[4] - a[5]))" 'BEGIN {printf "%d", (u + i) ? 100 * u / (u + i) : 0}'
}

# csv_row TEST MODE GBPS CPU
csv_row() { echo "$1,$2,$3,$4" >>"$CSV"; }

# run_test TEST MODE DST [CLIENT_SRC]
#   MODE 1 | 4 (TCP streams) | udp1400 (iperf3 -u -b 0 -l 1400)
# gbps = receiver side (end.sum_received) bits/s / 1e9; daemon_cpu_pct = sum over
# the peer's daemons of their CPU time during the test / wall time (100 = one core)
run_test() {
	local test=$1 mode=$2 dst=$3 src=${4:-} args srv t0 t1 p gbps cpu info i
	local -A c0=()
	local json="$RAW/${test}_${mode}.json"
	args=(-c "$dst" -p "$IPERF_PORT" -t "$SECS" -J --connect-timeout 5000)
	case $mode in
	1) ;;
	4) args+=(-P 4) ;;
	udp1400) args+=(-u -b 0 -l 1400) ;;
	esac
	[ -n "$src" ] && args+=(-B "$src")

	# the peers are CPU bound on 2 cores: say so when something else is running
	p=$(cpu_busy_pct)
	[ "$p" -gt 15 ] && log "warning: CPUs ${p}% busy just before $test $mode (other work on this machine), result may be low"

	ip netns exec "$NS_B" timeout $((SECS + 60)) iperf3 -s -1 -p "$IPERF_PORT" \
		>"$RAW/${test}_${mode}.server.log" 2>&1 &
	srv=$!
	STARTED+=("$srv")
	for i in $(seq 1 50); do
		ip netns exec "$NS_B" ss -Hltn "sport = :$IPERF_PORT" 2>/dev/null | grep -q . && break
		sleep 0.1
	done

	for p in "${DAEMONS[@]}"; do c0[$p]=$(cpu_ticks "$p"); done
	t0=$(date +%s.%N)
	ip netns exec "$NS_A" timeout $((SECS + 40)) iperf3 "${args[@]}" >"$json" 2>"$RAW/${test}_${mode}.client.err"
	t1=$(date +%s.%N)
	cpu=""
	if [ ${#DAEMONS[@]} -gt 0 ]; then
		local ticks=0
		for p in "${DAEMONS[@]}"; do ticks=$((ticks + $(cpu_ticks "$p") - ${c0[$p]})); done
		cpu=$(awk -v t="$ticks" -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", 100 * t / hz / (b - a)}')
	fi
	stop_pids "$srv"

	# prints "GBPS<TAB>human readable detail", or "error<TAB>reason"
	info=$("$PY" - "$json" <<'PYEOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception as ex:
    print("error\tno iperf3 JSON (%s)" % str(ex)[:80]); sys.exit()
if "error" in j:
    print("error\tiperf3: %s" % j["error"]); sys.exit()
try:
    e = j["end"]; r = e["sum_received"]; s = e["sum_sent"]
    g = r["bits_per_second"] / 1e9
    if "lost_percent" in r:
        d = "sent %.3f Gbit/s, loss %.1f%%" % (s["bits_per_second"] / 1e9, r["lost_percent"])
    else:
        d = "sent %.3f Gbit/s, retransmits %s" % (s["bits_per_second"] / 1e9, s.get("retransmits"))
    print("%.3f\t%s" % (g, d))
except Exception as ex:
    print("error\tunexpected iperf3 JSON (%s)" % str(ex)[:80])
PYEOF
)
	gbps=${info%%$'\t'*}
	if [ "$gbps" = error ]; then
		log "$test $mode: ${info#*$'\t'}"
		[ -s "$RAW/${test}_${mode}.client.err" ] && tail -n 5 "$RAW/${test}_${mode}.client.err" >&2
	else
		log "$test $mode: $gbps Gbit/s received (${info#*$'\t'})${cpu:+, daemons ${cpu}% CPU}"
	fi
	csv_row "$test" "$mode" "$gbps" "$cpu"
}
