#!/bin/bash
# make demo: two espresso gateways in network namespaces, joined by a veth
# wire, each with its host stack behind a tun. Runs ping and a 10-second
# iperf3 through the tunnel, prints the throughput next to the plain wire,
# the SAs and the XDP counters, and tears everything down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=demo
TUN_MTU=0 # the default: from the uplink MTU
KEY_AB=$(openssl rand -hex 36)
KEY_BA=$(openssl rand -hex 36)
QUEUES=${QUEUES:-1}
source "$ROOT/tests/e2e/lib.sh"
trap topo_down EXIT
ip netns del "$NS_A" 2>/dev/null || true
ip netns del "$NS_B" 2>/dev/null || true

cat <<'TXT'

  demoA (gateway A + host)                    demoB (gateway B + host)
  10.1.0.1 on esp0 (tun)                      10.2.0.1 on esp0 (tun)
      | espressod gw-a                            | espressod gw-b
  eA 192.0.2.1 (XDP + AF_XDP) ==== veth ==== eB 192.0.2.2 (XDP + AF_XDP)
             ESP, AES-GCM-256, SPI 0x1000 (A->B) and 0x2000 (B->A)

TXT
topo_up
gw_start a
gw_start b
say "ping 10.2.0.1 from demoA, through the tunnel"
ip netns exec "$NS_A" ping -c 4 -i 0.3 10.2.0.1

iperf() { # iperf NS_SERVER ADDR
	ip netns exec "$1" iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
	sleep 0.5
	ip netns exec "$NS_A" iperf3 -c "$2" -t 10 -J |
		/usr/bin/python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
say "iperf3 TCP, one stream, 10 s, through the tunnel"
tunnel=$(iperf "$NS_B" 10.2.0.1)
say "iperf3 TCP, one stream, 10 s, on the plain wire (no tunnel)"
plain=$(iperf "$NS_B" 192.0.2.2)
echo
printf '  %-34s %6s Gbit/s\n' "through espresso (ESP AES-GCM-256)" "$tunnel" \
	"plain veth, same run" "$plain"
echo
say "espressoctl show sa (gw-a)"
ctl a show sa
say "espressoctl show stats (gw-b)"
ctl b show stats
say "XDP counters of gw-b (bpftool map dump pinned .../espresso_stats, summed over CPUs)"
bpf_dump b espresso_stats | /usr/bin/python3 -c '
import json, sys
tot = {}
for e in json.load(sys.stdin):
    for v in e["values"]:
        for k, n in v["value"].items():
            tot[k] = tot.get(k, 0) + n
for k, n in tot.items():
    print("  %-22s %d" % (k, n))'
say "tearing down"
