#!/bin/bash
# 10,000 tunnels on both gateways, traffic on all of them at once.
#
# Each gateway gets N = 10,000 tunnels more (one batch through espressoctl
# -b), all between the two uplinks, each with its own SA pair and key:
#   gw-a  tunnel s<k>: out SPI 0x100000+k, in 0x200000+k,
#         route 100.(64+k/256).(k%256).0/24 (the destinations)
#   gw-b  tunnel s<k>: out SPI 0x200000+k, in 0x100000+k,
#         route 100.(128+k/256).(k%256).0/24 (the sources, which gw-b's
#         inner-source check must find in tunnel s<k>)
# A sender in A's namespace (a raw socket: a source per tunnel) sends one
# UDP datagram from 100.(128+..).1 to 100.(64+..).1 for every tunnel, in a
# shuffled order, and a few more to a sample (the first, the last and 50
# random ones: k % 3 + 1 more each). Checks, exact:
#   - every one of the 20,000 new SAs on each side counted exactly what was
#     sent to its tunnel (gw-a's outbound, gw-b's inbound), read from the
#     streamed `show sa -j` (all 20,002 entries, each SPI once);
#   - no packet dropped on either gateway (show stats: no drop counter);
#   - `show sa` (text) has 20,002 lines, `show tunnels -j` 10,001 entries,
#     `show routes -j` 10,002 on gw-a.
# Before that, the engine alone (build/bench_spread: the workers' tx_burst
# and rx_burst with the spread traffic over 1 and N tunnels, every packet
# accounted for on its own SA). Printed, not asserted: load time, VmRSS per tunnel, time and VmRSS of a
# `show sa -j` at this size.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT
PY=/usr/bin/python3
N=${N:-10000}
export LC_ALL=C
now() { date +%s.%N; }
secs() { "$PY" -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
rss() { eval "awk '/^VmRSS:/ {print \$2}' /proc/\$PID_${1^^}/status"; }

say "engine: the worker's rx/tx paths over 1 and $N tunnels (build/bench_spread)"
# no timing asserted: it checks that every packet of the spread traffic was
# sealed by its tunnel's SA and opened by the peer's, nothing dropped
[ -x "$ROOT/build/bench_spread" ] || fail "build/bench_spread missing (make check builds it)"
"$ROOT/build/bench_spread" -s 0.3 -r 1 -n "1,$N" -p >"$WORK/engine.txt" 2>&1 ||
	fail "bench_spread: $(tail -3 "$WORK/engine.txt")"
sed 's/^/   /' "$WORK/engine.txt" | head -4
# -p: each of the 8 passes of both paths, for each N, a time per packet
for n in 1 "$N"; do
	c=$(grep -cE "^pass N=$n +(rx|tx) [a-z+ ]+ +[0-9]+\.[0-9] ns/packet" "$WORK/engine.txt")
	[ "$c" = 8 ] || fail "bench_spread -p: $c pass lines for N=$n, want 8"
done

say "topology, gateways, a first ping"
topo_up
gw_start a
gw_start b
tunnel_ready

say "$N tunnels on each gateway"
"$PY" - "$N" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
for gw in "ab":
    out = []
    for k in range(n):
        # a test key per SA: espressod refuses a key another SA holds
        ka2b, kb2a = ("%08x" % (2 * k + d) + "%02x" % (k % 251) * 28 +
                  "%08x" % k for d in (0, 1))
        a2b, b2a = 0x100000 + k, 0x200000 + k
        loc, rem = ("192.0.2.1", "192.0.2.2") if gw == "a" else ("192.0.2.2", "192.0.2.1")
        out.append("tunnel add s%d local %s remote %s" % (k, loc, rem))
        out.append("sa add s%d out spi 0x%x key %s" % (k, a2b if gw == "a" else b2a,
                                                 ka2b if gw == "a" else kb2a))
        out.append("sa add s%d in spi 0x%x key %s" % (k, b2a if gw == "a" else a2b,
                                                kb2a if gw == "a" else ka2b))
        out.append("route add 100.%d.%d.0/24 tunnel s%d" %
                   ((64 if gw == "a" else 128) + k // 256, k % 256, k))
    open("%s/add-%s" % (work, gw), "w").write("\n".join(out) + "\n")
PY
rss_a0=$(rss a)
for gw in a b; do
	t0=$(now)
	ctl "$gw" -b "$WORK/add-$gw" >"$WORK/add-$gw.out" 2>&1 || fail "batch on gw-$gw: $(head -c 600 "$WORK/add-$gw.out")"
	echo "   gw-$gw: $((4 * N)) commands in $(secs "$t0" "$(now)") s"
done
rss_a1=$(rss a)
echo "   gw-a VmRSS $rss_a0 -> $rss_a1 kB: $(( (rss_a1 - rss_a0) * 1024 / N )) bytes per tunnel (tunnel, SA pair, route)"

# the next hop of every new tunnel known before traffic (neigh.c resolves
# them a few hundred per control turn): packets would otherwise wait
for _ in $(seq 100); do
	m=$(ctl a -j show tunnels | "$PY" -c 'import json,sys; print(sum("nexthop_mac" in t for t in json.load(sys.stdin)))')
	[ "$m" = $((N + 1)) ] && break
	sleep 0.2
done
[ "$m" = $((N + 1)) ] || fail "next hops known for $m of $((N + 1)) tunnels"

# drops so far (the first pings may have waited for a next hop): the
# traffic below must add none. tx_no_route is left out: the host's own
# chatter into the tun (IPv6 router solicitations, MLD) has no route.
drops() { ctl "$1" show stats | grep "drops:" | tr ' ' '\n' |
	grep -v -e '^$' -e '^drops:$' | paste - - | grep -v "^tx_no_route" || true; }
for gw in a b; do
	drops "$gw" >"$WORK/drops0-$gw"
done

say "one datagram to each of the $N tunnels, more to a sample"
ip netns exec "$NS_A" "$PY" - "$N" "$WORK/sent.json" <<'PY'
import json, random, socket, struct, sys, time
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(4242)
sample = sorted({0, n - 1} | set(rng.sample(range(n), 50)))
sent = {k: 1 for k in range(n)}
for k in sample:
    sent[k] += k % 3 + 1
order = [k for k in range(n) for _ in range(sent[k])]
rng.shuffle(order)

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i, k in enumerate(order):
    src = bytes([100, 128 + k // 256, k % 256, 1])
    dst = bytes([100, 64 + k // 256, k % 256, 1])
    payload = b"scale %05d" % k
    udp = struct.pack("!HHHH", 5000, 6000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0,
                     64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.sendto(ip + udp, (socket.inet_ntoa(dst), 0))
    if i % 50 == 49:
        # the tun's queue is 500 packets, and on a loaded machine the
        # receiving worker must keep up with its XSK ring: an exact count
        # per SA wants no loss on the way, so no hurry
        time.sleep(0.01)
json.dump({"sample": sample, "sent": sent}, open(out, "w"))
print("   %d datagrams, sample of %d" % (len(order), len(sample)))
PY
[ $? = 0 ] || fail "sender"
sleep 1

say "exact counters of all $((2 * N)) SAs on each side, from the streamed show sa -j"
for gw in a b; do
	t0=$(now)
	ctl "$gw" -j show sa >"$WORK/sa-$gw.json" || fail "show sa -j on gw-$gw"
	t1=$(now)
	echo "   gw-$gw: show sa -j, $((2 * N + 2)) SAs: $(secs "$t0" "$t1") s, $(wc -c <"$WORK/sa-$gw.json") bytes, VmRSS now $(rss "$gw") kB"
done
"$PY" - "$N" "$WORK" <<'PY' || fail "per-SA counters"
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
sent = {int(k): v for k, v in json.load(open(work + "/sent.json"))["sent"].items()}
for gw, d in (("a", "out"), ("b", "in")):
    sas = json.load(open("%s/sa-%s.json" % (work, gw)))
    assert len(sas) == 2 * n + 2, (gw, len(sas))
    keys = [(x["spi"], x["dir"]) for x in sas]
    assert len(set(keys)) == len(keys), (gw, "an SA listed twice")
    by = {(int(x["spi"], 16), x["dir"]): x for x in sas}
    bad = []
    for k in range(n):
        x = by[(0x100000 + k, d)]
        if x["tunnel"] != "s%d" % k or x["packets"] != sent[k] or x["errors"]:
            bad.append((k, x["tunnel"], x["packets"], sent[k], x["errors"]))
        back = by[(0x200000 + k, "in" if d == "out" else "out")]
        if back["packets"] != 0:
            bad.append((k, "reverse", back["packets"]))
    assert not bad, (gw, len(bad), bad[:5])
    print("   gw-%s: %d %s SAs, each exactly its packets (%d in all)" %
          (gw, n, "outbound" if d == "out" else "inbound", sum(sent.values())))
PY
for gw in a b; do
	drops "$gw" >"$WORK/drops1-$gw"
	cmp -s "$WORK/drops0-$gw" "$WORK/drops1-$gw" ||
		fail "gw-$gw dropped: before [$(cat "$WORK/drops0-$gw")] after [$(cat "$WORK/drops1-$gw")]"
done
echo "   no drop on either gateway"

say "the other listings at this size"
n=$(ctl a show sa | grep -c "^sa ")
[ "$n" = $((2 * N + 2)) ] || fail "show sa (text): $n lines, expected $((2 * N + 2))"
n=$(ctl a -j show tunnels | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = $((N + 1)) ] || fail "show tunnels -j: $n, expected $((N + 1))"
n=$(ctl a -j show routes | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = $((N + 2)) ] || fail "show routes -j: $n, expected $((N + 2))"
say "PASS"
