#!/bin/bash
# bench_router.sh OUTDIR: router mode against DPDK's ipsec-secgw on AF_XDP,
# one run, the same four-namespace shape for both:
#   LAN host A -- gateway A == wire == gateway B -- LAN host B
# espresso: two espressod in router mode (LAN and uplink on AF_XDP, the
# topology of tests/e2e/test_router.sh, IP forwarding off); secgw: the
# recipe of tools/peers/secgw.sh. AES-256-GCM tunnel mode on both.
# Tests, SECS seconds each (default 10), host A -> host B:
#   tcp1     iperf3 TCP, one stream (Gbit/s at the receiver)
#   udp1400  iperf3 -u -b 0 -l 1400 (packets/s received)
#   udp64    iperf3 -u -b 0 -l 64   (packets/s received)
# Writes OUTDIR/router.csv (contender,test,gbps,rx_pps) and prints the
# ratios espresso / secgw. The machine's other load is not controlled:
# compare only numbers of the same run.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
[ $# = 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench_router: needs root" >&2; exit 1; }
OUTDIR=$1
mkdir -p "$OUTDIR" || exit 1
CSV=$OUTDIR/router.csv
SECS=${SECS:-10}
SECS=${SECS%.*}
TESTS=${TESTS:-tcp1 udp1400 udp64}
P=rb$$
KEY_AB=$(openssl rand -hex 36)
KEY_BA=$(openssl rand -hex 36)
# shellcheck source-path=SCRIPTDIR
source "$ROOT/tests/e2e/lib.sh"
source "$HERE/peers/secgw.sh"
NS_HA=${P}HA
NS_HB=${P}HB
TUN_MTU=0
cleanup() {
	topo_down
	ip netns del "$NS_HA" 2>/dev/null
	ip netns del "$NS_HB" 2>/dev/null
	secgw_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lan_up() { # lan_up A|B NET: as test_router.sh
	local gw=${P}$1 host=${P}H$1
	ip netns add "$host"
	ip link add h0 netns "$host" type veth peer name l0 netns "$gw"
	ip -n "$gw" link set l0 up
	ip -n "$host" link set h0 up
	ip -n "$host" link set lo up
	ip -n "$gw" addr add "$2.1/24" dev l0
	ip -n "$host" addr add "$2.2/24" dev h0
	ip -n "$host" route add default via "$2.1"
	ip netns exec "$host" ethtool -K h0 tx off >/dev/null
	ip netns exec "$host" ethtool -K h0 gro on >/dev/null
}

rgw_start() { # rgw_start a|b
	local ns conf log
	if [ "$1" = a ]; then
		ns=$NS_A
		conf=$(EXTRA_CONF='lan = ( { name = "l0"; } );' gw_conf a eA \
			10.1.255.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
			10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
	else
		ns=$NS_B
		conf=$(EXTRA_CONF='lan = ( { name = "l0"; } );' gw_conf b eB \
			10.2.255.1/32 fd00:2::1/128 192.0.2.2 192.0.2.1 \
			10.1.0.0/16 fd00:1::/64 "$SPI_BA" "$KEY_BA" "$SPI_AB" "$KEY_AB")
	fi
	log=$WORK/gw-$1.log
	ip netns exec "$ns" "$ROOT/espressod" -c "$conf" --state-dir "$WORK/state-$1" \
		>"$log" 2>&1 &
	eval "PID_${1^^}=$!"
	for _ in $(seq 50); do
		[ -S "/run/espresso/$P-$1.sock" ] && grep -q running "$log" && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" >&2
	return 1
}

measure() { # measure CONTENDER TEST CLIENT_NS SERVER_NS SERVER_ADDR
	local args srv out
	case $2 in
	tcp1) args=(-P 1) ;;
	udp1400) args=(-u -b 0 -l 1400) ;;
	udp64) args=(-u -b 0 -l 64) ;;
	esac
	ip netns exec "$4" timeout $((SECS + 30)) iperf3 -s -1 -B "$5" >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	out=$(timeout $((SECS + 20)) ip netns exec "$3" iperf3 -c "$5" -t "$SECS" -J "${args[@]}" 2>/dev/null |
		/usr/bin/python3 -c '
import json, sys
try:
    e = json.load(sys.stdin)["end"]
    if "sum" in e:  # UDP: what the receiver got
        s = e["sum"]
        print("%.3f,%.0f" % (e["sum_received"]["bits_per_second"] / 1e9 if "sum_received" in e else s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e9,
                             (s["packets"] - s["lost_packets"]) / s["seconds"]))
    else:
        print("%.3f," % (e["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("error,")')
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	echo "$1,$2,$out" >>"$CSV"
	echo "   $1 $2: $out"
	sleep 1
}

[ -s "$CSV" ] || echo "contender,test,gbps,rx_pps" >"$CSV"
echo "== espresso router mode ($SECS s per test)"
topo_up
lan_up A 10.1.0
lan_up B 10.2.0
if rgw_start a && rgw_start b &&
	ip netns exec "$NS_HA" ping -c 3 -i 0.3 -W 2 10.2.0.2 >/dev/null; then
	for t in $TESTS; do measure espresso-router "$t" "$NS_HA" "$NS_HB" 10.2.0.2; done
else
	echo "espresso router mode: no ping between the LAN hosts" >&2
	for t in $TESTS; do echo "espresso-router,$t,error," >>"$CSV"; done
fi
topo_down
ip netns del "$NS_HA" 2>/dev/null
ip netns del "$NS_HB" 2>/dev/null

echo "== DPDK ipsec-secgw, AF_XDP ($SECS s per test)"
if secgw_up; then
	for t in $TESTS; do measure secgw-afxdp "$t" "$SG_CLI" "$SG_SRV" "$SG_DST"; done
else
	for t in $TESTS; do echo "secgw-afxdp,$t,error," >>"$CSV"; done
fi
secgw_down

echo "== router mode / secgw, same run"
for t in $TESTS; do
	awk -F, -v t="$t" '
		$2 == t && $1 == "espresso-router" {eg = $3; ep = $4}
		$2 == t && $1 == "secgw-afxdp" {sg = $3; sp = $4}
		END {
			if (t == "tcp1") { a = eg; b = sg; u = "Gbit/s" } else { a = ep; b = sp; u = "pps" }
			r = (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "n/a"
			printf "%s: espresso %s / secgw %s %s = %s\n", t, a, b, u, r
		}' "$CSV"
done | tee "$OUTDIR/router_ratio.txt"
