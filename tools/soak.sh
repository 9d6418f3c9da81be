#!/bin/bash
# make soak: two gateways (tests/e2e/lib.sh) under iperf3 for SOAK_SECS
# (600) while both directions are rekeyed every REKEY_SECS (10) and both
# gateways reload every RELOAD_SECS (30); then an audit:
#
#   ${P}A: iperf3 TCP client  -> esp0 -> gw-a ==veth== gw-b -> esp0 -> TCP server ${P}B
#          UDP server (UDP_RATE) <- esp0 <- gw-a ==veth== gw-b <- esp0 <- UDP client
#
#   rekey:  make before break as tests/e2e/test_rekey.sh (sa add in, sa add
#           out, sa del old in), fresh key files, new SPIs each round
#   reload: the config alternately with and without a second tunnel to-c
#           (its SAs and route 10.3.0.0/16 come and go)
#
# Checks at the end (traffic stopped, 2 s for the last completions):
#  1. every espressoctl rekey and reload succeeded, both daemons alive;
#  2. every UMEM frame accounted for (`show frames`: audit OK, free + fill =
#     frames, none held by a worker, the TX path or a hold list);
#  3. every lost packet explained: for each direction and each hop the
#     packets in = packets out + named drop counters, exactly:
#       sender tun -> encrypt:  tun_rx - gso_super + gso_segments
#                               = tx_frames + tx_* drops
#       sender XSK TX -> wire:  tx_frames = tx_completed
#       wire -> receiver XDP:   tx_frames(sender) = ESP seen by the receiver's
#                               XDP program (redirect_esp + drop_*) + the
#                               sender veth's tx_dropped
#       XDP -> receiver XSK:    redirect_esp = rx_frames + XSK rx_dropped
#                               + rx_ring_full (kernel XDP_STATISTICS)
#       decrypt:                rx_frames = rx_decrypted + rx_* drops
#     and iperf3's UDP loss is at most the drops counted on its direction
#     (named engine drops, the tun's own tx_dropped, the receiving kernel's
#     UDP RcvbufErrors/InErrors);
#  4. VmRSS of each daemon (sampled every second) grew by at most
#     RSS_BOUND_KB (1024) from the first sample after WARM_SECS (60) to the
#     end: a leak per rekey (60 a direction in 10 min) or per reload would
#     show.
# Prints the figures. Not part of make check (10 minutes).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=${P:-soak$$}
QUEUES=${QUEUES:-2}
source "$ROOT/tests/e2e/lib.sh"

SOAK_SECS=${SOAK_SECS:-600}
REKEY_SECS=${REKEY_SECS:-10}
RELOAD_SECS=${RELOAD_SECS:-30}
WARM_SECS=${WARM_SECS:-60}
RSS_BOUND_KB=${RSS_BOUND_KB:-1024}
UDP_RATE=${UDP_RATE:-200M}
PY=/usr/bin/python3
[ "$WARM_SECS" -lt "$SOAK_SECS" ] || WARM_SECS=$((SOAK_SECS / 2))

tcp_srv='' tcp_cli='' udp_srv='' udp_cli=''
cleanup() {
	for p in $tcp_cli $udp_cli $tcp_srv $udp_srv; do kill "$p" 2>/dev/null || true; done
	topo_down
}
trap cleanup EXIT

say "topology and gateways ($QUEUES queues each)"
topo_up
gw_start a
gw_start b
ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || true
ip netns exec "$NS_B" ping -c1 -W2 10.1.0.1 >/dev/null || true
tunnel_ready
cp "$WORK/gw-a.conf" "$WORK/orig-a.conf"
cp "$WORK/gw-b.conf" "$WORK/orig-b.conf"
mkdir -m 700 "$WORK/keys"
errs=$WORK/errors
: >"$errs"

newkey() { # newkey FILE: a fresh aes-gcm-256 key + salt, mode 600
	(umask 077; openssl rand -hex 36 >"$1")
}

# rekey_dir RX TX NEW OLD KEYFILE: make-before-break for the SAs TX -> RX
rekey_dir() {
	local rx=$1 tx=$2 new=$3 old=$4 kf=$5 out
	out=$(ctl "$rx" sa add to-peer in spi "$new" key-file "$kf" 2>&1) ||
		{ echo "gw-$rx sa add in $new: $out" >>"$errs"; return 1; }
	out=$(ctl "$tx" sa add to-peer out spi "$new" key-file "$kf" 2>&1) ||
		{ echo "gw-$tx sa add out $new: $out" >>"$errs"; return 1; }
	out=$(ctl "$rx" sa del "$old" in 2>&1) ||
		{ echo "gw-$rx sa del $old in: $out" >>"$errs"; return 1; }
}

# with_c GW ON: gw-GW's config with (ON=1) or without tunnel to-c, reloaded
with_c() {
	local gw=$1 on=$2 conf=$WORK/gw-$1.conf o i out
	if [ "$on" = 1 ]; then
		[ "$gw" = a ] && { o=0x3000 i=0x3001; } || { o=0x4000 i=0x4001; }
		"$PY" - "$WORK/orig-$gw.conf" "$o" "$i" "$(openssl rand -hex 36)" \
			"$(openssl rand -hex 36)" >"$conf.new" <<'EOF'
import sys
src, o, i, ko, ki = sys.argv[1:]
t = open(src).read()
head, sep, tail = t.rpartition("  );\n")
assert sep, "no end of the tunnels list"
sys.stdout.write(head + f'''    ,{{ name = "to-c"; local = "192.0.2.1"; remote = "192.0.2.3"; encap = "esp";
      cipher = "aes-gcm-256"; replay_window = 1024; esn = true;
      outbound = {{ spi = {o}; key = "{ko}"; }};
      inbound  = {{ spi = {i}; key = "{ki}"; }};
      routes = [ "10.3.0.0/16" ]; }}
''' + sep + tail)
EOF
	else
		cp "$WORK/orig-$gw.conf" "$conf.new"
	fi
	chmod 600 "$conf.new"
	mv "$conf.new" "$conf"
	out=$(ctl "$gw" reload 2>&1) || { echo "gw-$gw reload (to-c $on): $out" >>"$errs"; return 1; }
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

say "iperf3: TCP A->B and UDP B->A at $UDP_RATE for $SOAK_SECS s"
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -p 5201 -J >"$WORK/tcp-server.json" 2>&1 &
tcp_srv=$!
ip netns exec "$NS_A" iperf3 -s -1 -B 10.1.0.1 -p 5202 -J >"$WORK/udp-server.json" 2>&1 &
udp_srv=$!
for _ in $(seq 50); do
	ip netns exec "$NS_B" ss -ltn | grep -q '10.2.0.1:5201' &&
		ip netns exec "$NS_A" ss -ltn | grep -q '10.1.0.1:5202' && break
	sleep 0.1
done
ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -p 5201 -t "$SOAK_SECS" -J \
	>"$WORK/tcp-client.json" 2>&1 &
tcp_cli=$!
ip netns exec "$NS_B" iperf3 -u -b "$UDP_RATE" -c 10.1.0.1 -p 5202 -t "$SOAK_SECS" -J \
	>"$WORK/udp-client.json" 2>&1 &
udp_cli=$!

say "rekeying every $REKEY_SECS s, reloading every $RELOAD_SECS s"
old_ab=$SPI_AB old_ba=$SPI_BA
rekeys=0 reloads=0 failures=0 c_on=0
: >"$WORK/rss"
t0=$SECONDS
for t in $(seq 1 "$SOAK_SECS"); do
	# one tick a second, on the second
	while [ $((SECONDS - t0)) -lt "$t" ]; do sleep 0.05; done
	echo "$t $(rss "$PID_A") $(rss "$PID_B")" >>"$WORK/rss"
	for gw in a b; do
		eval "pid=\$PID_${gw^^}"
		kill -0 "$pid" 2>/dev/null || { echo "gw-$gw died at t=$t" >>"$errs"; break 2; }
	done
	if [ $((t % REKEY_SECS)) = 0 ] && [ "$t" -lt "$SOAK_SECS" ]; then
		rekeys=$((rekeys + 1))
		new_ab=$(printf '0x%x' $((0x10000 + rekeys)))
		new_ba=$(printf '0x%x' $((0x20000 + rekeys)))
		newkey "$WORK/keys/ab-$rekeys.key"
		newkey "$WORK/keys/ba-$rekeys.key"
		rekey_dir b a "$new_ab" "$old_ab" "$WORK/keys/ab-$rekeys.key" &
		p1=$!
		rekey_dir a b "$new_ba" "$old_ba" "$WORK/keys/ba-$rekeys.key" &
		p2=$!
		wait $p1 || failures=$((failures + 1))
		wait $p2 || failures=$((failures + 1))
		rm -f "$WORK/keys/ab-$rekeys.key" "$WORK/keys/ba-$rekeys.key"
		old_ab=$new_ab old_ba=$new_ba
	fi
	# reloads half-way between two rekeys
	if [ $(( (t + REKEY_SECS / 2) % RELOAD_SECS)) = 0 ] && [ "$t" -lt "$SOAK_SECS" ]; then
		reloads=$((reloads + 1))
		c_on=$((1 - c_on))
		with_c a $c_on || failures=$((failures + 1))
		with_c b $c_on || failures=$((failures + 1))
	fi
done
echo "   $rekeys rekey rounds (both directions), $reloads reload rounds (both gateways), $failures failed"
wait $tcp_cli || echo "iperf3 TCP client failed: $(tail -3 "$WORK/tcp-client.json")" >>"$errs"
wait $udp_cli || echo "iperf3 UDP client failed: $(tail -3 "$WORK/udp-client.json")" >>"$errs"
wait $tcp_srv || true
wait $udp_srv || true
tcp_cli='' udp_cli='' tcp_srv='' udp_srv=''
sleep 2 # the last completions; deleted inbound SAs leave (LIVE_IN_GRACE_MS)

say "audit"
for gw in a b; do
	ns=$NS_A dev=eA
	[ $gw = b ] && { ns=$NS_B dev=eB; }
	ctl $gw -j show stats >"$WORK/stats-$gw.json" || echo "show stats gw-$gw failed" >>"$errs"
	ctl $gw -j show frames >"$WORK/frames-$gw.json" || echo "show frames gw-$gw failed" >>"$errs"
	ctl $gw -j show sa >"$WORK/sa-$gw.json" || echo "show sa gw-$gw failed" >>"$errs"
	ip -n "$ns" -s -j link show esp0 >"$WORK/tun-$gw.json"
	ip -n "$ns" -s -j link show "$dev" >"$WORK/wire-$gw.json"
	ip netns exec "$ns" cat /proc/net/snmp >"$WORK/snmp-$gw.txt"
done

"$PY" - "$WORK" "$RSS_BOUND_KB" "$WARM_SECS" "$rekeys" "$errs" <<'EOF'
import json, sys

work, bound, warm, rekeys, errs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
bad = [l.rstrip() for l in open(errs) if l.strip()]

def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)

def qsum(st, key):
    return sum(q[key] for q in st["queues"])

def drops(st, prefix):
    d = {}
    for q in st["queues"]:
        for k, v in q["drops"].items():
            if k.startswith(prefix) and v:
                d[k] = d.get(k, 0) + v
    return d

def ksum(st, key):
    return sum(q.get("kernel", {}).get(key, 0) for q in st["queues"])

def snmp(gw, proto, field):
    lines = [l.split() for l in open(f"{work}/snmp-{gw}.txt") if l.startswith(proto + ":")]
    return int(lines[1][lines[0].index(field)])

st = {g: load(f"stats-{g}.json") for g in "ab"}
tun = {g: load(f"tun-{g}.json")[0]["stats64"] for g in "ab"}
wire = {g: load(f"wire-{g}.json")[0]["stats64"] for g in "ab"}

# ---- 2. frames ----
for g in "ab":
    for q in load(f"frames-{g}.json"):
        print(f"   gw-{g} queue {q['queue']} frames: " +
              " ".join(f"{k} {v}" for k, v in q.items() if k != "queue"))
        if q.get("audit") != "OK":
            bad.append(f"gw-{g} queue {q['queue']}: frame audit {q.get('audit')}")
            continue
        for k in ("worker", "tx", "held", "handoff", "duplicates", "misplaced", "count_errors"):
            if q[k]:
                bad.append(f"gw-{g} queue {q['queue']}: {k} = {q[k]} after the traffic stopped")
        if q["free"] + q["fill"] != q["frames"]:
            bad.append(f"gw-{g} queue {q['queue']}: free {q['free']} + fill {q['fill']} != frames {q['frames']}")

# ---- 3. every packet: per direction, per hop ----
xdp_esp_drops = ("drop_unknown_spi", "drop_malformed", "drop_no_xsk", "drop_meta")
for tx, rx, name in (("a", "b", "A->B (TCP data)"), ("b", "a", "B->A (UDP, TCP acks)")):
    s, r = st[tx], st[rx]
    print(f"   {name}:")
    enc_in = qsum(s, "tun_rx") - qsum(s, "gso_super") + qsum(s, "gso_segments")
    txd = drops(s, "tx_")
    hops = [
        ("encrypt gw-" + tx, enc_in, qsum(s, "tx_frames") + sum(txd.values()), txd),
        ("XSK TX gw-" + tx, qsum(s, "tx_frames"), qsum(s, "tx_completed"), {}),
    ]
    xdp = r["xdp"]
    xd = {k: xdp[k] for k in xdp_esp_drops if xdp[k]}
    # the receiving veth counts as rx_dropped what XDP redirected but the
    # XSK refused (the XSK's rx_dropped below): the sender's side only here
    veth = {"veth tx_dropped": wire[tx]["tx"]["dropped"]}
    veth = {k: v for k, v in veth.items() if v}
    hops.append(("wire -> XDP gw-" + rx, qsum(s, "tx_frames"),
                 xdp["redirect_esp"] + xdp["redirect_natt"] + sum(xd.values()) + sum(veth.values()),
                 {**xd, **veth}))
    kd = {k: ksum(r, k) for k in ("rx_dropped", "rx_ring_full") if ksum(r, k)}
    hops.append(("XDP -> XSK gw-" + rx, xdp["redirect_esp"] + xdp["redirect_natt"],
                 qsum(r, "rx_frames") + sum(kd.values()), kd))
    rxd = drops(r, "rx_")
    hops.append(("decrypt gw-" + rx, qsum(r, "rx_frames"),
                 qsum(r, "rx_decrypted") + sum(rxd.values()), rxd))
    for hop, pin, pout, named in hops:
        print(f"      {hop:22s} in {pin:>11} out+dropped {pout:>11}  named drops {named or '{}'}")
        if pin != pout:
            bad.append(f"{name} {hop}: {pin - pout:+d} packets not explained by a counter")
    tund = {"tun tx_dropped gw-" + tx: tun[tx]["tx"]["dropped"]}
    print(f"      veth rx_dropped gw-{rx} {wire[rx]['rx']['dropped']} (the XSK's refusals, above)")
    print(f"      before gw-{tx}: {tund}; after gw-{rx}: tun_tx {qsum(r, 'tun_tx')} "
          f"gro_merged {qsum(r, 'gro_merged')}, Udp RcvbufErrors {snmp(rx, 'Udp', 'RcvbufErrors')} "
          f"InErrors {snmp(rx, 'Udp', 'InErrors')}")
    st[tx]["_dir_drops"] = sum(txd.values()) + sum(xd.values()) + sum(veth.values()) + \
        sum(kd.values()) + sum(rxd.values()) + sum(tund.values()) + \
        snmp(rx, "Udp", "InErrors")

# ---- iperf3 ----
for side in ("tcp-client", "tcp-server", "udp-client", "udp-server"):
    try:
        j = load(f"{side}.json")
    except Exception as e:
        bad.append(f"iperf3 {side}: {e}")
        continue
    if "error" in j:
        bad.append(f"iperf3 {side}: {j['error']}")
        continue
    e = j["end"]
    if side == "tcp-client":
        print(f"   TCP: {e['sum_sent']['bytes'] / 1e9:.1f} GB, "
              f"{e['sum_sent']['bits_per_second'] / 1e6:.0f} Mbit/s, {e['sum_sent'].get('retransmits', 0)} retransmits")
    if side == "udp-server":
        s = e["sum"]
        lost, total = s["lost_packets"], s["packets"]
        print(f"   UDP: {total} datagrams, {lost} lost ({s['lost_percent']:.4f} %)")
        counted = st["b"]["_dir_drops"]
        print(f"   UDP: drops counted on B->A (engine, XDP, XSK, tun, UDP): {counted}")
        if lost > counted:
            bad.append(f"UDP: {lost} datagrams lost, only {counted} drops counted on their path")

# ---- 4. RSS ----
rows = [list(map(int, l.split())) for l in open(f"{work}/rss") if l.strip()]
for i, g in ((1, "a"), (2, "b")):
    start = next((r for r in rows if r[0] >= warm), rows[0])
    first, peak, last = rows[0][i], max(r[i] for r in rows), rows[-1][i]
    grow = last - start[i]
    print(f"   gw-{g} VmRSS: {first} KiB at t=1 s, {start[i]} KiB at t={start[0]} s, "
          f"{last} KiB at t={rows[-1][0]} s (peak {peak}): +{grow} KiB after warm-up (bound {bound})")
    if grow > bound:
        bad.append(f"gw-{g}: VmRSS grew {grow} KiB after warm-up (bound {bound} KiB)")
print(f"   {rekeys} rekeys a direction")

for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
rc=$?
for gw in a b; do
	grep -iE 'error|leak' "$WORK/gw-$gw.log" | grep -v 'errors 0' | head -5 | sed "s/^/   gw-$gw log: /"
done
[ $rc = 0 ] || fail "soak: see above"
say "PASS: soak of $SOAK_SECS s"
