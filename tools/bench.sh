#!/bin/bash
# make bench: benchmarks, never part of make check. One results folder,
# results/<date>/, with CSV files, a plot (bench.png) and the printed tables.
#   engine:  ESP encrypt/decrypt pipelines on synthetic bursts, one core,
#            OpenSSL and intel-ipsec-mb backends, next to `openssl speed
#            -evp` of the same cipher measured in the same run
#   e2e:     iperf3 TCP 1 and 4 streams and UDP 1400 through two espresso
#            gateways in namespaces (tun offloads on and off, threaded NAPI
#            on and off, both crypto backends), each gateway's CPU per packet
#   peers:   the same tests through plain veth (offloads off), wireguard-go,
#            OpenVPN and strongSwan kernel-libipsec (tools/bench_peers.sh)
#   tables:  one tunnel's packet rate with 1 and 10,000 tunnels configured
#            (tools/bench_tables.sh)
#   spread:  traffic to 10,000 destinations spread over 1, 1,000 and 10,000
#            tunnels through the real worker paths (build/bench_spread):
#            packets/s each way and the ratio to 1 tunnel; memory per
#            tunnel, per SA pair, per route (espressod's default backend,
#            "auto"); 10,000 against 1 tunnel by backend and cipher, and by
#            payload size (64, 512, 1400 bytes); then
#            end to end through two gateways (tools/bench_spread.sh,
#            build/spray as the sender)
#   scaling: tools/scale.sh, up to the cores this machine has
#   router:  LAN host to LAN host through router mode against DPDK's
#            ipsec-secgw on AF_XDP in the same four-namespace shape, same
#            run: TCP one stream, UDP packet rate (tools/bench_router.sh)
#   spd:     router mode's SPD in the XDP program with 1, 1,000 and 10,000
#            policies, cached and uncached (build/bench_spd)
# SECS: seconds per engine case (default 1); E2E_SECS per iperf3 test (10).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/results/$(date +%Y%m%d-%H%M%S)}
SECS=${SECS:-1}
E2E_SECS=${E2E_SECS:-10}
OSECS=${SECS%.*}            # openssl speed takes whole seconds
[ "${OSECS:-0}" -ge 1 ] 2>/dev/null || OSECS=1
mkdir -p "$OUT"
cd "$ROOT"
backends=openssl
./build/bench_esp -b ipsec-mb -s 0.01 >/dev/null 2>&1 && backends="openssl ipsec-mb"

echo "== engine, one core (build/bench_esp), $SECS s per case: $backends"
for b in $backends; do
	for c in aes-gcm-128 aes-gcm-256 chacha20-poly1305; do
		./build/bench_esp -b "$b" -c "$c" -s "$SECS" --csv
	done
done | awk 'NR == 1 || !/^cipher/' >"$OUT/engine.csv"
column -t -s, "$OUT/engine.csv"

echo
echo "== openssl speed -evp, same run, and engine/openssl ratio (bytes/s)"
echo "cipher,size,backend,openssl_speed_Bps,engine_encrypt_Bps,ratio" >"$OUT/engine_vs_openssl.csv"
for c in aes-128-gcm aes-256-gcm; do
	ours=aes-gcm-${c:4:3}
	for size in 64 512 1400; do
		o=$(openssl speed -elapsed -seconds "$OSECS" -bytes "$size" -evp "$c" 2>/dev/null |
			awk '/^AES/ {v = $NF; sub(/k$/, "", v); print v * 1000}')
		for b in $backends; do
			e=$(awk -F, -v c="$ours" -v s="$size" -v b="$b" \
				'$1 == c && $2 == s && $3 == "encrypt" && $7 == b {print $5 * 1e9 / 8}' "$OUT/engine.csv")
			r=$(awk -v e="$e" -v o="$o" 'BEGIN {printf "%.2f", e / o}')
			echo "$ours,$size,$b,$o,$e,$r" >>"$OUT/engine_vs_openssl.csv"
		done
	done
done
column -t -s, "$OUT/engine_vs_openssl.csv"

echo
echo "== end to end: iperf3, $E2E_SECS s per test, two gateways in namespaces"
P=bench
# espresso as it runs by default: the tun MTU from the uplink's (1446 on
# a 1500-byte wire with AES-GCM), not the tests' fixed 1400
TUN_MTU=0
KEY_AB=$(openssl rand -hex 36)
KEY_BA=$(openssl rand -hex 36)
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
echo "test,streams_or_udp,gbps,gw_a_cpu_ns_per_pkt,gw_b_cpu_ns_per_pkt" >"$OUT/e2e.csv"
cpu_ns() { # CPU time (user + system, all threads) of a pid, in ns
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14 + $15) * 1e9 / hz}' "/proc/$1/stat"
}
sa_packets() { # sa_packets a|b out|in: summed over SA pairs
	ctl "$1" show sa | grep " $2 spi" |
		awk '{for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1)} END {print s + 0}'
}
iperf() { # iperf LABEL ADDR 1|4|udp1400
	local bps ca cb pa pb args
	case $3 in
	udp1400) args=(-u -b 0 -l 1400) ;;
	*) args=(-P "$3") ;;
	esac
	ip netns exec "$NS_B" iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
	sleep 0.5
	ca=$(cpu_ns "$PID_A") cb=$(cpu_ns "$PID_B")
	pa=$(sa_packets a out) pb=$(sa_packets b in)
	bps=$(ip netns exec "$NS_A" iperf3 -c "$2" -t "$E2E_SECS" "${args[@]}" -J |
		/usr/bin/python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
	# gw-a's CPU per ESP packet it sent (tun read, GSO, seal, XSK TX and
	# the kernel's copy-mode transmit in its sendto); gw-b's per ESP packet
	# it received (decrypt, GRO, tun write); ACKs the other way included.
	# Threaded NAPI's kernel threads (the uplinks' receive paths) are not
	# the gateways' threads and not counted here.
	ca=$(( ($(cpu_ns "$PID_A") - ca) / ($(sa_packets a out) - pa + 1) ))
	cb=$(( ($(cpu_ns "$PID_B") - cb) / ($(sa_packets b in) - pb + 1) ))
	echo "$1,$3,$bps,$ca,$cb" >>"$OUT/e2e.csv"
	sleep 0.5
}
run_gw() { # run_gw LABEL QUEUES OFFLOAD CRYPTO TESTS...
	local label=$1 s
	QUEUES=$2 SA_PAIRS=$2 OFFLOAD=$3 CRYPTO=$4
	shift 4
	topo_up
	gw_start a
	gw_start b
	ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null
	for s in "$@"; do iperf "$label" 10.2.0.1 "$s"; done
	topo_down
	WORK=$(mktemp -d /tmp/espresso-e2e.XXXXXX)
}
run_gw espresso 1 true openssl 1 4 udp1400
run_gw espresso-offload-off 1 false openssl 1
# uplink.threaded_napi = off: the veth's receive path in the sender's softirq
THREADED_NAPI=off
run_gw espresso-napi-off 1 true openssl 1 udp1400
THREADED_NAPI=auto
[[ $backends == *ipsec-mb* ]] && run_gw espresso-ipsec-mb 1 true ipsec-mb 1 4 udp1400
run_gw espresso-2q-2pairs 2 true openssl 1 4
column -t -s, "$OUT/e2e.csv"

echo
echo "== peers, same topology, same run (tools/bench_peers.sh)"
SECS=$E2E_SECS bash "$ROOT/tools/bench_peers.sh" "$OUT" || echo "peers: failed (see above)"

echo
echo "== tables at scale: one tunnel's packet rate with 1 and 10,000 tunnels (tools/bench_tables.sh)"
bash "$ROOT/tools/bench_tables.sh" "$OUT" || echo "tables: failed"

echo
echo "== router mode against DPDK ipsec-secgw on AF_XDP, four namespaces, same run (tools/bench_router.sh)"
SECS=$E2E_SECS bash "$ROOT/tools/bench_router.sh" "$OUT" 2>&1 | tee "$OUT/router.txt" || echo "router: failed"

echo
echo "== router mode's SPD in XDP (build/bench_spd)"
./build/bench_spd | tee "$OUT/spd.txt" || echo "spd: failed"

echo
echo "== traffic spread over 1, 1,000 and 10,000 tunnels (build/bench_spread, the worker's rx/tx paths, one core)"
# as the systemd unit runs espressod: malloc on huge pages
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
if ./build/bench_spread -s "${SPREAD_SECS:-15}" -r 5 -p --csv >"$OUT/spread.all.csv"; then
	awk -F, '/^tunnels,dir/ {p = 1} /^tunnels,tunnel_bytes/ {p = 0} p' "$OUT/spread.all.csv" >"$OUT/spread.csv"
	awk -F, '/^tunnels,tunnel_bytes/ {p = 1} /^tunnels,pass/ {p = 0} p' "$OUT/spread.all.csv" >"$OUT/memory.csv"
	# where the time goes, pass by pass (ns per packet, and the
	# difference to one tunnel)
	awk -F, '/^tunnels,pass/ {p = 1} p' "$OUT/spread.all.csv" >"$OUT/passes.csv"
	column -t -s, "$OUT/spread.csv"
	column -t -s, "$OUT/memory.csv"
	column -t -s, "$OUT/passes.csv"
	awk -F, 'FNR == 1 {next}
		FILENAME ~ /spread/ && $1 == 10000 {r[$2] = $4}
		FILENAME ~ /memory/ && $1 == 10000 {m = sprintf("memory at 10,000 tunnels: %s B per tunnel, %s B per SA pair (1 worker), %s B per route; %s B per tunnel in all", $2, $3, $4, $7)}
		END {printf "traffic over 10,000 tunnels / over 1 (same destinations): TX %s, RX %s\n%s\n", r["tx"], r["rx"], m}' \
		"$OUT/spread.csv" "$OUT/memory.csv" >"$OUT/spread.txt"
	cat "$OUT/spread.txt"
else
	echo "spread: failed"
fi
# one line: bench_spread ARGS over 1 and 10,000 tunnels (files $OUT/spread.NAME.*)
spread_row() {
	local name=$1 label=$2
	shift 2
	if ./build/bench_spread "$@" -s "${SPREAD_CIPHER_SECS:-6}" -r 3 \
		-n 1,10000 --csv 2>"$OUT/spread.$name.err" >"$OUT/spread.$name.csv"; then
		awk -F, -v l="$label" '$1 == 1 {p[$2] = $3}
			$1 == 10000 && $2 ~ /^(tx|rx)$/ {r[$2] = $4}
			END {printf "%-40s one tunnel TX %.0f RX %.0f pkt/s; 10,000 tunnels over one: TX %s RX %s\n", l, p["tx"], p["rx"], r["tx"], r["rx"]}' \
			"$OUT/spread.$name.csv"
	else
		echo "$label: failed: $(tail -1 "$OUT/spread.$name.err")"
	fi
}
echo "-- 10,000 tunnels against 1, by backend and cipher (build/bench_spread -n 1,10000 -r 3)"
for b in ipsec-mb openssl; do
	for c in aes-gcm-256 aes-gcm-128 chacha20-poly1305; do
		spread_row "$b.$c" "$b $c" -b $b -c $c
	done
done | tee "$OUT/spread_ciphers.txt"
# AES-GCM's key lines grow with the packet (intel-ipsec-mb's VAES code
# reads up to 48 GHASH key powers), ChaCha20-Poly1305's do not
echo "-- 10,000 tunnels against 1, by payload size (-l LEN, the default backend)"
for c in aes-gcm-256 chacha20-poly1305; do
	for l in 64 512 1400; do
		spread_row "auto.$c.l$l" "$c $l-byte payloads" -c $c -l $l
	done
done | tee "$OUT/spread_sizes.txt"
unset GLIBC_TUNABLES
echo "-- the same end to end, through two gateways (tools/bench_spread.sh)"
bash "$ROOT/tools/bench_spread.sh" "$OUT" || echo "spread end to end: failed"

echo
echo "== memory per VRF, 1,000 IPv4 VRFs (build/bench_vrf; VPP: 8 MB for 1,000)"
./build/bench_vrf | tee "$OUT/vrf.csv" || echo "vrf: failed"

echo
echo "== scaling (tools/scale.sh) on $(nproc) CPUs"
list=1
for n in 2 4 8; do [ $((2 * n)) -le "$(nproc)" ] && list="$list $n"; done
[ "$(nproc)" -ge 2 ] && [[ $list != *2* ]] && list="1 2"
OUT=$OUT LIST=$list SECS=$E2E_SECS bash "$ROOT/tools/scale.sh" || echo "scaling: failed"

echo
echo "== summary"
val() { awk -F, -v t="$1" -v s="$2" '$1 == t && $2 == s {print $3}' "$OUT/e2e.csv" "$OUT/peers.csv" 2>/dev/null | head -1; }
on=$(val espresso 1) off=$(val espresso-offload-off 1) imb=$(val espresso-ipsec-mb 1)
napioff=$(val espresso-napi-off 1)
best=0 bestname=none
for p in wireguard-go openvpn strongswan-libipsec; do
	v=$(val $p 1)
	[ -n "$v" ] && [ "$v" != error ] && awk -v a="$v" -v b="$best" 'BEGIN {exit !(a > b)}' && best=$v bestname=$p
done
{
	echo "TCP single stream through espresso: $on Gbit/s"
	echo "tun offloads on / off: $on / $off = $(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.2fx", a / b}')"
	echo "threaded NAPI auto (on for veth) / off: $on / $napioff = $(awk -v a="$on" -v b="$napioff" 'BEGIN {printf "%.2fx", a / b}')"
	echo "best peer ($bestname): $best Gbit/s; espresso / best peer = $(awk -v a="$on" -v b="$best" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "n/a"}') (OpenSSL)"
	[ -f "$OUT/tables.txt" ] && cat "$OUT/tables.txt"
	[ -f "$OUT/spread.txt" ] && cat "$OUT/spread.txt"
	[ -f "$OUT/spread_sizes.txt" ] && cat "$OUT/spread_sizes.txt"
	[ -f "$OUT/spread_e2e.txt" ] && cat "$OUT/spread_e2e.txt"
	[ -f "$OUT/spd.txt" ] && cat "$OUT/spd.txt"
	[ -f "$OUT/router_ratio.txt" ] && sed 's/^/router mode vs ipsec-secgw, /' "$OUT/router_ratio.txt"
	[ -z "$imb" ] || echo "TCP single stream, ipsec-mb backend: $imb Gbit/s; / best peer = $(awk -v a="$imb" -v b="$best" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "n/a"}')"
} | tee "$OUT/summary.txt"

# the plot: TCP 1 stream, TCP 4 streams and UDP 1400 per contender
awk -F, 'FNR > 1 && $3 != "error" {v[$1 "," $2] = $3; n[$1] = 1}
	END {for (t in n) printf "%s %s %s %s\n", t, (t ",1" in v) ? v[t ",1"] : 0,
		(t ",4" in v) ? v[t ",4"] : 0, (t ",udp1400" in v) ? v[t ",udp1400"] : 0}' \
	"$OUT/e2e.csv" "$OUT/peers.csv" 2>/dev/null | sort -k2 -n -r >"$OUT/plot.dat"
if command -v gnuplot >/dev/null; then
	gnuplot <<GP
set terminal pngcairo size 1100,600 noenhanced
set output "$OUT/bench.png"
set title "iperf3 through each tunnel, two namespaces on this machine ($(nproc) CPUs)"
set ylabel "Gbit/s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -25
set key top right
set grid ytics
plot "$OUT/plot.dat" using 2:xtic(1) title "TCP 1 stream", "" using 3 title "TCP 4 streams", "" using 4 title "UDP 1400 B"
GP
	echo "plot: $OUT/bench.png"
fi
echo "results in $OUT"
