#!/bin/bash
# make bench: benchmarks, never part of make check. Results go to
# results/<date>/ as CSV next to the printed tables.
#   engine: ESP encrypt/decrypt pipelines on synthetic bursts, one core,
#           next to `openssl speed -evp` of the same cipher, same run
#   e2e:    iperf3 TCP through two espresso gateways next to the plain veth
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/results/$(date +%Y%m%d-%H%M%S)}
SECS=${SECS:-1}
OSECS=${SECS%.*}            # openssl speed takes whole seconds
[ "${OSECS:-0}" -ge 1 ] 2>/dev/null || OSECS=1
mkdir -p "$OUT"
cd "$ROOT"

echo "== engine, one core (build/bench_esp), $SECS s per case"
for c in aes-gcm-128 aes-gcm-256; do
	./build/bench_esp -c "$c" -s "$SECS" --csv
done | awk 'NR == 1 || !/^cipher/' >"$OUT/engine.csv"
column -t -s, "$OUT/engine.csv"

echo
echo "== openssl speed -evp, same run, and engine/openssl ratio (bytes/s)"
echo "cipher,size,openssl_Bps,engine_encrypt_Bps,ratio" >"$OUT/engine_vs_openssl.csv"
for c in aes-128-gcm aes-256-gcm; do
	ours=aes-gcm-${c:4:3}
	for size in 64 512 1400; do
		o=$(openssl speed -elapsed -seconds "$OSECS" -bytes "$size" -evp "$c" 2>/dev/null |
			awk '/^AES/ {v = $NF; sub(/k$/, "", v); print v * 1000}')
		e=$(awk -F, -v c="$ours" -v s="$size" \
			'$1 == c && $2 == s && $3 == "encrypt" {print $5 * 1e9 / 8}' "$OUT/engine.csv")
		r=$(awk -v e="$e" -v o="$o" 'BEGIN {printf "%.2f", e / o}')
		echo "$ours,$size,$o,$e,$r" >>"$OUT/engine_vs_openssl.csv"
	done
done
column -t -s, "$OUT/engine_vs_openssl.csv"

echo
echo "== end to end: iperf3 TCP, 10 s, two gateways in namespaces on this machine"
P=bench
KEY_AB=$(openssl rand -hex 36)
KEY_BA=$(openssl rand -hex 36)
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
echo "test,streams,gbps,gw_a_cpu_ns_per_pkt,gw_b_cpu_ns_per_pkt" >"$OUT/e2e.csv"
cpu_ns() { # CPU time (user + system, all threads) of a pid, in ns
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14 + $15) * 1e9 / hz}' "/proc/$1/stat"
}
sa_packets() { # sa_packets a|b out|in
	counter "$(ctl "$1" show sa | grep " $2 spi")" packets
}
iperf() { # iperf LABEL ADDR STREAMS
	local bps ca cb pa pb tunnel=0
	# plain veth: its own addresses, the gateways' XDP passes them
	[[ $1 == espresso* ]] && tunnel=1
	ip netns exec "$NS_B" iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
	sleep 0.5
	if [ $tunnel = 1 ]; then
		ca=$(cpu_ns "$PID_A") cb=$(cpu_ns "$PID_B")
		pa=$(sa_packets a out) pb=$(sa_packets b in)
	fi
	bps=$(ip netns exec "$NS_A" iperf3 -c "$2" -t 10 -P "$3" -J |
		/usr/bin/python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
	if [ $tunnel = 1 ]; then
		# gw-a's CPU per packet it encrypted (tun read, seal, XSK TX and
		# the kernel's copy-mode transmit in its sendto), gw-b's per packet
		# it decrypted; the few ACKs going the other way are included.
		ca=$(( ($(cpu_ns "$PID_A") - ca) / ($(sa_packets a out) - pa) ))
		cb=$(( ($(cpu_ns "$PID_B") - cb) / ($(sa_packets b in) - pb) ))
	else
		ca= cb=
	fi
	echo "$1,$3,$bps,$ca,$cb" >>"$OUT/e2e.csv"
	sleep 0.5
}
run_gw() { # run_gw LABEL QUEUES OFFLOAD STREAMS...
	local label=$1 s
	QUEUES=$2 OFFLOAD=$3
	shift 3
	topo_up
	gw_start a
	gw_start b
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null
	for s in "$@"; do iperf "$label" 10.2.0.1 "$s"; done
	if [ "$label" = espresso-1q ]; then
		iperf plain-veth 192.0.2.2 1
		ethtool_off
		iperf plain-veth-no-offloads 192.0.2.2 1
	fi
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
}
ethtool_off() {
	ip netns exec "$NS_A" ethtool -K eA tso off gso off gro off >/dev/null 2>&1 || true
	ip netns exec "$NS_B" ethtool -K eB tso off gso off gro off >/dev/null 2>&1 || true
}
run_gw espresso-1q 1 true 1 4
run_gw espresso-1q-offload-off 1 false 1
run_gw espresso-2q 2 true 1 4
column -t -s, "$OUT/e2e.csv"
on=$(awk -F, '$1 == "espresso-1q" && $2 == 1 {print $3}' "$OUT/e2e.csv")
off=$(awk -F, '$1 == "espresso-1q-offload-off" {print $3}' "$OUT/e2e.csv")
echo
echo "TCP single stream, tun offloads on / off (same run): $on / $off Gbit/s = $(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.2fx", a / b}')"
echo
echo "results in $OUT"
