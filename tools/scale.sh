#!/bin/bash
# Scaling with cores (make bench runs it; meant for a many-core machine).
#  engine: build/bench_scale, 1/2/4/8 threads, one SA pair per thread
#          ("pairs") and one SA pair shared by all ("fat"), AES-GCM-256,
#          1400-byte packets, encrypt + decrypt, no kernel I/O
#  e2e:    two gateways in namespaces with 1/2/4/8 queues and as many SA
#          pairs, workers pinned when there are cores enough (A on CPUs
#          0..q-1, B on q..2q-1), FLOWS parallel
#          iperf3 TCP flows (one process each) for SECS
# Each point is the median of REPS runs (default 3): a VM's speed wanders.
# Writes OUT/engine_scale.csv and OUT/e2e_scale.csv.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/results/scale}
SECS=${SECS:-8}
FLOWS=${FLOWS:-16}
LIST=${LIST:-1 2 4 8}
REPS=${REPS:-3}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
BENCH_SCALE=${BENCH_SCALE:-$ROOT/build/bench_scale}
mkdir -p "$OUT"
echo "CPUs: $(nproc)"

echo "backend,mode,threads,size,pps,pps_per_thread,gbps,behind_window" >"$OUT/engine_scale.csv"
[ "${E2E_ONLY:-}" ] && BACKENDS=none
for b in ${BACKENDS:-openssl}; do
	[ "$b" = none ] && continue
	for m in pairs fat; do
		for t in $LIST; do
			for r in $(seq "$REPS"); do
				"$BENCH_SCALE" -b "$b" -t "$t" -m "$m" -s 2 \
					-c "${STRIDE:-1}" --csv
			done >"$OUT/runs.tmp"
			# the run with the median packets/s (column 5)
			med=$(cut -d, -f5 "$OUT/runs.tmp" | median)
			awk -F, -v m="$med" '$5 == m {print; exit}' "$OUT/runs.tmp" \
				>>"$OUT/engine_scale.csv"
		done
	done
done
rm -f "$OUT/runs.tmp"
column -t -s, "$OUT/engine_scale.csv"
[ "${ENGINE_ONLY:-}" ] && exit 0
command -v column >/dev/null || column() { cat; }

P=scale
TUN_MTU=0 # the default: from the uplink MTU
KEY_AB=$(openssl rand -hex 36 2>/dev/null || od -An -tx1 -N36 /dev/urandom | tr -d ' \n')
KEY_BA=$(openssl rand -hex 36 2>/dev/null || od -An -tx1 -N36 /dev/urandom | tr -d ' \n')
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
# busy share of all CPUs between two /proc/stat readings (all but idle+iowait)
cpu_ticks() { awk '/^cpu / {b = 0; for (i = 2; i <= NF; i++) b += $i; print b, $5 + $6}' /proc/stat; }
echo "queues,flows,gbps,cpu_busy_pct" >"$OUT/e2e_scale.csv"
for q in $LIST; do
	QUEUES=$q SA_PAIRS=$q
	CPUS_A=$(seq -s ', ' 0 $((q - 1)))
	CPUS_B=$(seq -s ', ' "$q" $((2 * q - 1)))
	[ $((2 * q)) -le "$(nproc)" ] || CPUS_A= CPUS_B=
	topo_up
	gw_start a
	gw_start b
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null
	runs=() ticks=0 idle=0
	for r in $(seq "$REPS"); do
		for i in $(seq 1 "$FLOWS"); do
			ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -p $((5200 + i)) >/dev/null 2>&1 &
		done
		sleep 1
		read -r t0 i0 < <(cpu_ticks)
		pids=()
		for i in $(seq 1 "$FLOWS"); do
			ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -p $((5200 + i)) -t "$SECS" -f m \
				>"$WORK/c$i.txt" 2>&1 &
			pids+=($!)
		done
		wait "${pids[@]}"
		read -r t1 i1 < <(cpu_ticks)
		ticks=$((ticks + t1 - t0)) idle=$((idle + i1 - i0))
		runs+=("$(cat "$WORK"/c*.txt | awk '/receiver/ {s += $(NF - 2)} END {printf "%.3f", s / 1000}')")
	done
	g=$(printf '%s\n' "${runs[@]}" | median)
	busy=$(awk -v t=$ticks -v i=$idle 'BEGIN {printf "%.0f", t ? 100 * (t - i) / t : 0}')
	echo "$q,$FLOWS,$g,$busy" >>"$OUT/e2e_scale.csv"
	echo "queues $q: $g Gbit/s (median of ${runs[*]}), CPUs $busy % busy"
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
done
column -t -s, "$OUT/e2e_scale.csv"
