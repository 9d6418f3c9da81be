#!/bin/bash
# Make-before-break rekeying under load: 30 rekeys per direction in 30 s
# while a TCP stream runs A -> B (1 Gbit/s, RATE), and not one packet lost
# to them.
#
#   ${P}A: iperf3 client 10.1.0.1 -> esp0 -> espressod gw-a -> eA
#             (out SPI 0x1000, 0x10001, 0x10002, ...  in 0x2000, 0x20001, ...)
#                                               ====== veth ======
#   ${P}B: eB -> espressod gw-b -> esp0 -> iperf3 server 10.2.0.1
#             (in SPI 0x1000, 0x10001, ...  out 0x2000, 0x20001, ...)
#
#   espressoctl, once a second, for A->B and B->A at the same time, keys
#   from fresh mode-600 key files (openssl rand -hex 36):
#     1. receiver: sa add to-peer in  spi NEW key-file K   (new SPI in XDP map)
#     2. sender:   sa add to-peer out spi NEW key-file K   (workers switch)
#     3. at once (DRAIN_MS, default 0), receiver: sa del OLD in
#   A deleted inbound SA stays in the XDP map and the tables for
#   LIVE_IN_GRACE_MS (1000 ms): what the sender's workers still encrypted
#   with the old SA after "sa add ... out" returned, and the veth backlog,
#   still decrypt. (When it left the XDP map at once, gw-b counted some
#   2,000-3,700 drop_unknown_spi in 30 rounds at 3-4 Gbit/s.)
#
# Checks: every espressoctl call succeeds; on both gateways rx_no_sa, rx_auth,
# tx_no_sa and tx_seq_unreserved (summed over the queues) and the XDP
# counter drop_unknown_spi are 0; TCP never stalls more than 200 ms,
# measured two ways:
#   - the largest gap between consecutive data segments of the iperf3
#     stream where the plaintext leaves gw-b, a capture on B's tun (dumpcap,
#     headers only, the BPF filter keeps segments with payload to port
#     5201; the stream is the flow with the most of them) is under 0.2 s;
#   - the sender's kernel (${P}A, /proc/net/netstat) counted no TCP
#     retransmission timeout (TcpExt TCPTimeouts: an RTO is itself a stall
#     of 200 ms or more); loss probes and retransmitted segments printed;
# iperf3 moves data in every second (its 0.1 s intervals, both sides);
# the final SPIs show 30 rekeys per direction; 1.5 s after the last delete
# (LIVE_IN_GRACE_MS) each gateway holds exactly one inbound SA.
# tx_seq_unreserved: a new outbound SA may only take over once its sequence
# numbers are on disk (live.h, commit order 1 then 2); before 6f0b518 it took
# over first and dropped ~0.5-1 ms of traffic a rekey.
source "$(dirname "$0")/lib.sh"
srv='' cli='' cap=''
cleanup() {
	for p in $cli $srv $cap; do kill "$p" 2>/dev/null || true; done
	topo_down
}
trap cleanup EXIT

PY=/usr/bin/python3
ROUNDS=${ROUNDS:-30}
DURATION=${DURATION:-30}
DRAIN_MS=${DRAIN_MS:-0}   # 0..999: from the sender's switch to "sa del OLD in"
# The stream's rate (iperf3 -b; 0: as fast as it goes). Unlimited, gw-a's
# AF_XDP bursts overflow eB's veth ring (256 frames) whenever eB's NAPI
# thread waits for a CPU: 11,000-37,000 frames a run lost before XDP, each
# one TCP retransmission (measured: eB's drops = the sender's RetransSegs),
# and now and then a lost retransmission is a 200 ms timeout that no rekey
# caused. At 1 Gbit/s (still ~90,000 packets a second through the rekeys)
# the veth dropped nothing in 4 runs of 5 (40 frames in the fifth, with
# ASan), so a stall is espresso's. SANITIZE=1 needs no other bound.
RATE=${RATE:-1G}

say "topology and gateways"
topo_up
gw_start a
gw_start b
# The first packet may wait for ARP (counted as tx_no_neigh): warm up.
ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || true
ip netns exec "$NS_B" ping -c1 -W2 10.1.0.1 >/dev/null || true
ip netns exec "$NS_A" ping -q -c3 -i0.1 -W2 10.2.0.1 >/dev/null || fail "ping A->B before rekeying"

mkdir -m 700 "$WORK/keys"
errs=$WORK/rekey-errors

# rekey_dir RX TX NEW OLD KEYFILE: make-before-break for the SAs TX -> RX
rekey_dir() {
	local rx=$1 tx=$2 new=$3 old=$4 kf=$5 out
	out=$(ctl "$rx" sa add to-peer in spi "$new" key-file "$kf" 2>&1) ||
		{ echo "gw-$rx sa add in $new: $out" >>"$errs"; return 1; }
	out=$(ctl "$tx" sa add to-peer out spi "$new" key-file "$kf" 2>&1) ||
		{ echo "gw-$tx sa add out $new: $out" >>"$errs"; return 1; }
	# frames the sender put on the wire under the old SPI must reach the
	# receiver's XDP program before the SPI leaves its map (see the top)
	[ "$DRAIN_MS" = 0 ] || sleep "$(printf '0.%03d' "$DRAIN_MS")"
	out=$(ctl "$rx" sa del "$old" in 2>&1) ||
		{ echo "gw-$rx sa del $old in: $out" >>"$errs"; return 1; }
}

newkey() { # newkey FILE: a fresh aes-gcm-256 key + salt, mode 600
	(umask 077; openssl rand -hex 36 >"$1")
	chmod 600 "$1"
}

# tcp_stats NS FILE: the namespace's TCP counters (TcpExt and Tcp of
# /proc/net/netstat and /proc/net/snmp) as "Name value" lines
tcp_stats() {
	ip netns exec "$1" cat /proc/net/netstat /proc/net/snmp | awk '
		/^(TcpExt|Tcp):/ { if (!hdr[$1]) { hdr[$1] = 1; for (i = 2; i <= NF; i++) n[$1, i] = $i; next }
		                   for (i = 2; i <= NF; i++) print substr($1, 1, length($1) - 1) n[$1, i], $i }' >"$2"
}

# veth_drops NS DEV: the veth's own drop counters (ethtool -S), summed:
# frames lost before any XDP program or espresso saw them (its ring full)
veth_drops() {
	ip netns exec "$1" ethtool -S "$2" | awk '/drop/ { n += $2 } END { print n + 0 }'
}

say "capture of the TCP data segments on B's tun"
# headers only (-s 64); the filter keeps what carries payload to port 5201
ip netns exec "$NS_B" dumpcap -P -i esp0 -s 64 -B 64 \
	-f 'tcp dst port 5201 and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0' \
	-w "$WORK/tun-b.pcap" 2>"$WORK/dumpcap.err" &
cap=$!
for _ in $(seq 50); do
	[ -s "$WORK/tun-b.pcap" ] && break
	sleep 0.1
done
[ -s "$WORK/tun-b.pcap" ] || fail "dumpcap on B's tun did not start: $(cat "$WORK/dumpcap.err")"
tcp_stats "$NS_A" "$WORK/tcp-a-0.txt"
tcp_stats "$NS_B" "$WORK/tcp-b-0.txt"
ip -n "$NS_A" -j -s link show esp0 >"$WORK/tun-a-0.json"
echo "$(veth_drops "$NS_A" eA) $(veth_drops "$NS_B" eB)" >"$WORK/veth-0.txt"

say "iperf3 TCP A->B at $RATE bit/s for $((DURATION + 2)) s, 0.1 s intervals"
ip netns exec "$NS_B" iperf3 -s -1 -B 10.2.0.1 -i 0.1 -J >"$WORK/server.json" 2>&1 &
srv=$!
for _ in $(seq 50); do
	ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q '10.2.0.1:5201' && break
	sleep 0.1
done
# 2 s more than the rekeying: the stream's own end (its last segments, a
# tail loss recovered by a timeout) is not part of what is checked
ip netns exec "$NS_A" iperf3 -c 10.2.0.1 -t $((DURATION + 2)) -b "$RATE" -i 0.1 -J \
	>"$WORK/client.json" 2>&1 &
cli=$!

say "rekeying both directions once a second, $ROUNDS rounds"
sleep 0.5
t0=${EPOCHREALTIME/./}
old_ab=$SPI_AB old_ba=$SPI_BA
slowest=0
for r in $(seq "$ROUNDS"); do
	new_ab=$(printf '0x%x' $((0x10000 + r)))
	new_ba=$(printf '0x%x' $((0x20000 + r)))
	echo "$EPOCHREALTIME" >>"$WORK/rounds.txt" # the round begins: keys, then espressoctl
	newkey "$WORK/keys/ab-$r.key"
	newkey "$WORK/keys/ba-$r.key"
	ts=${EPOCHREALTIME/./}
	rekey_dir b a "$new_ab" "$old_ab" "$WORK/keys/ab-$r.key" &
	p1=$!
	rekey_dir a b "$new_ba" "$old_ba" "$WORK/keys/ba-$r.key" &
	p2=$!
	wait $p1 || { cat "$errs" >&2; fail "round $r: rekey A->B failed"; }
	wait $p2 || { cat "$errs" >&2; fail "round $r: rekey B->A failed"; }
	took=$(( (${EPOCHREALTIME/./} - ts) / 1000 ))
	[ "$took" -le "$slowest" ] || slowest=$took
	old_ab=$new_ab old_ba=$new_ba
	# the next round one second after this one started
	[ "$r" -lt "$ROUNDS" ] || break
	next=$(( t0 + r * 1000000 ))
	now=${EPOCHREALTIME/./}
	[ "$now" -ge "$next" ] || sleep "$(printf '%d.%06d' $(( (next - now) / 1000000 )) $(( (next - now) % 1000000 )))"
done
t_last=$EPOCHREALTIME
echo "   $ROUNDS rounds done; the slowest took $slowest ms"
kill -0 $cli 2>/dev/null || fail "iperf3 ended before the rekeying did (rounds too slow?)"
# what checks TCP ends 1 s after the last round (whatever it caused shows by
# then), while the stream still runs
sleep 1
tcp_stats "$NS_A" "$WORK/tcp-a-1.txt"
tcp_stats "$NS_B" "$WORK/tcp-b-1.txt"
ip -n "$NS_A" -j -s link show esp0 >"$WORK/tun-a-1.json"
echo "$(veth_drops "$NS_A" eA) $(veth_drops "$NS_B" eB)" >"$WORK/veth-1.txt"
kill -0 $cli 2>/dev/null || fail "iperf3 ended less than 1 s after the rekeying"

wait $cli || { cat "$WORK/client.json" >&2; fail "iperf3 client failed"; }
wait $srv || true
cli='' srv=''
sleep 0.2 # the last segments into the capture
kill -INT $cap
wait $cap || true
cap=''
# Let the last deleted inbound SAs leave the version (LIVE_IN_GRACE_MS).
sleep 1.5

say "counters"
for gw in a b; do
	ctl $gw -j show stats >"$WORK/stats-$gw.json" || fail "show stats gw-$gw"
	ctl $gw -j show sa >"$WORK/sa-$gw.json" || fail "show sa gw-$gw"
	ctl $gw -j show xdp >"$WORK/xdp-$gw.json" || fail "show xdp gw-$gw"
done

"$PY" - "$WORK" "$ROUNDS" "$DURATION" "$t_last" <<'EOF' || fail "see above"
import json, os, struct, sys

work, rounds, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# the window checked for stalls: up to 1 s after the last round
t_end = float(sys.argv[4]) + 1.0
stall_max = 0.2
bad = []

def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)

# ---- counters ----
for gw, out_base, in_base in (("a", 0x10000, 0x20000), ("b", 0x20000, 0x10000)):
    st, sas, xdp = load(f"stats-{gw}.json"), load(f"sa-{gw}.json"), load(f"xdp-{gw}.json")
    drops = {}
    for q in st["queues"]:
        for k, v in q["drops"].items():
            drops[k] = drops.get(k, 0) + v
    print(f"   gw-{gw}: drops {drops or '{}'}")
    print(f"   gw-{gw}: xdp redirect_esp {xdp['redirect_esp']} "
          f"drop_unknown_spi {xdp['drop_unknown_spi']}; table_version "
          f"{st['table_version']} inbound_sas {st['inbound_sas']} "
          f"epoch_pending {st['epoch_pending']}")
    for name in ("rx_no_sa", "rx_auth", "tx_no_sa"):
        if drops.get(name, 0):
            bad.append(f"gw-{gw}: {name} = {drops[name]} (want 0)")
    if drops.get("tx_seq_unreserved", 0):
        bad.append(f"gw-{gw}: tx_seq_unreserved = {drops['tx_seq_unreserved']} (want 0): "
                   "a new outbound SA took over before its sequence numbers were on disk")
    if xdp["drop_unknown_spi"]:
        bad.append(f"gw-{gw}: xdp drop_unknown_spi = {xdp['drop_unknown_spi']} (want 0)")
    for s in sas:
        print(f"   gw-{gw}: sa {s['dir']} {s['spi']} packets {s['packets']} "
              f"{'seq ' + str(s['seq']) if s['dir'] == 'out' else 'replay_top ' + str(s['replay_top'])} "
              f"age_s {s['age_s']} errors {s['errors']}")
    outs = [int(s["spi"], 16) for s in sas if s["dir"] == "out"]
    ins = [int(s["spi"], 16) for s in sas if s["dir"] == "in"]
    if outs != [out_base + rounds]:
        bad.append(f"gw-{gw}: outbound SPIs {[hex(x) for x in outs]}, want [{hex(out_base + rounds)}] ({rounds} rekeys)")
    if ins != [in_base + rounds]:
        bad.append(f"gw-{gw}: inbound SPIs {[hex(x) for x in ins]}, want [{hex(in_base + rounds)}] ({rounds} rekeys)")
    if st["inbound_sas"] != 1:
        bad.append(f"gw-{gw}: {st['inbound_sas']} inbound SAs held 1.5 s after the last delete (LIVE_IN_GRACE_MS = 1000): want 1")
    if st["table_version"] < 2 * rounds:
        bad.append(f"gw-{gw}: table_version {st['table_version']} after {rounds} rounds")

# ---- TCP: stalls seen where the plaintext leaves gw-b (B's tun) ----
# Per flow (source port) the segments' arrival times, sequence numbers and
# payload lengths; the stream is the flow with the most. Two gaps:
#   arrival: between consecutive data segments;
#   in order: between advances of the in-order point (what the receiving
#     application can read): a lost segment stalls it even while later ones
#     still arrive, until the retransmission fills the hole.
with open(f"{work}/tun-b.pcap", "rb") as f:
    pc = f.read()
magic, = struct.unpack_from("<I", pc, 0)
if magic != 0xa1b2c3d4:
    sys.exit(f"tun-b.pcap: magic {magic:#x}, want a microsecond pcap")
link, = struct.unpack_from("<I", pc, 20)
flows = {}
off = 24
while off + 16 <= len(pc):
    sec, usec, incl, _ = struct.unpack_from("<IIII", pc, off)
    pkt = pc[off + 16:off + 16 + incl]
    off += 16 + incl
    if link == 1:          # Ethernet (not on a tun, but cheap to allow)
        pkt = pkt[14:]
    if len(pkt) < 40 or pkt[0] >> 4 != 4:
        continue
    ihl = (pkt[0] & 15) * 4
    tot, = struct.unpack_from(">H", pkt, 2)
    sport, _, seq = struct.unpack_from(">HHI", pkt, ihl)
    plen = tot - ihl - (pkt[ihl + 12] >> 4) * 4
    flows.setdefault(sport, []).append((sec + usec / 1e6, seq, plen))

def worst_gaps(times):
    return sorted(((b - a, a) for a, b in zip(times, times[1:])), reverse=True)

if not flows:
    bad.append("no TCP data segment captured on B's tun")
else:
    sport, segs = max(flows.items(), key=lambda kv: len(kv[1]))
    t_0 = segs[0][0]
    arr = worst_gaps([t for t, _, _ in segs])
    # in-order point, sequence numbers unwrapped around it (GBs: they wrap)
    nxt = segs[0][1]
    ooo = {}            # start -> end of segments beyond a hole
    adv = [t_0]
    for t, seq, plen in segs:
        u = nxt + ((seq - nxt + (1 << 31)) % (1 << 32)) - (1 << 31)
        end = u + plen
        if end <= nxt:
            continue    # a duplicate
        if u > nxt:
            ooo[u] = max(ooo.get(u, u), end)
            continue
        nxt = end
        while ooo:      # holes filled: what was waiting is in order now
            k = min(ooo)
            if k > nxt:
                break
            nxt = max(nxt, ooo.pop(k))
        adv.append(t)
    ino = worst_gaps(adv)
    # gaps that began in the window (the stream's own end is after it)
    arr = [(g, t) for g, t in arr if t < t_end]
    ino = [(g, t) for g, t in ino if t < t_end]
    drops = [l.strip() for l in open(f"{work}/dumpcap.err") if "dropped" in l]
    fmt = lambda gs: ", ".join(f"{g * 1000:.1f} ms at {t - t_0:.2f} s" for g, t in gs[:4])
    print(f"   B's tun: stream port {sport}: {len(segs)} data segments over "
          f"{segs[-1][0] - t_0:.2f} s, {len(ooo)} holes left; dumpcap: {'; '.join(drops) or '-'}")
    print(f"   B's tun: largest arrival gaps: {fmt(arr)}")
    print(f"   B's tun: largest in-order gaps: {fmt(ino)}")
    print(f"   B's tun: checked from the first segment to 1 s after the last round: {t_end - t_0:.2f} s")
    if segs[-1][0] < t_end:
        bad.append(f"B's tun: the stream's data ends {t_end - segs[-1][0]:.2f} s before "
                   "1 s after the last round")
    rounds_at = [float(l) for l in open(f"{work}/rounds.txt")]
    for what, gs in (("between data segments", arr), ("of the in-order point", ino)):
        if gs and gs[0][0] >= stall_max:
            g, t = gs[0]
            near = min(rounds_at, key=lambda r: abs(t - r))
            bad.append(f"TCP stalled {g * 1000:.0f} ms ({what}) at t={t - t_0:.2f} s on "
                       f"B's tun (limit {stall_max * 1000:.0f} ms); the nearest round "
                       f"began {(t - near) * 1000:+.0f} ms from the stall's start")

# ---- TCP: retransmission timeouts in the sender ----
def tcp_stats(name):
    with open(f"{work}/{name}") as f:
        return {k: int(v) for k, v in (l.split() for l in f)}
t0, t1 = tcp_stats("tcp-a-0.txt"), tcp_stats("tcp-a-1.txt")
delta = {k: t1[k] - t0.get(k, 0) for k in ("TcpExtTCPTimeouts", "TcpExtTCPLossProbes",
                                            "TcpExtTCPSpuriousRTOs", "TcpRetransSegs",
                                            "TcpExtTCPFastRetrans")}
print("   sender (" + os.environ.get("NS_A", "A") + "): " +
      ", ".join(f"{k} +{v}" for k, v in delta.items()))
b0, b1 = tcp_stats("tcp-b-0.txt"), tcp_stats("tcp-b-1.txt")
print("   receiver: " + ", ".join(f"{k} +{b1[k] - b0.get(k, 0)}" for k in sorted(b1)
                                  if k in ("TcpExtTCPOFOQueue", "TcpExtTCPOFODrop",
                                           "TcpExtTCPRcvQDrop", "TcpExtTCPBacklogDrop",
                                           "TcpExtTCPZeroWindowDrop", "TcpInErrs",
                                           "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKOfoRecv")))
ta0, ta1 = load("tun-a-0.json")[0]["stats64"], load("tun-a-1.json")[0]["stats64"]
print(f"   A's tun (where the sender's kernel queues for gw-a): tx_dropped "
      f"+{ta1['tx']['dropped'] - ta0['tx']['dropped']}, tx_packets +{ta1['tx']['packets'] - ta0['tx']['packets']}")
v0 = [int(x) for x in open(f"{work}/veth-0.txt").read().split()]
v1 = [int(x) for x in open(f"{work}/veth-1.txt").read().split()]
print(f"   veth drops (ring full, before XDP): eA +{v1[0] - v0[0]}, eB +{v1[1] - v0[1]} "
      "(TCP recovers these; no counter of espresso's can see them)")
if delta["TcpExtTCPTimeouts"]:
    bad.append(f"sender: {delta['TcpExtTCPTimeouts']} TCP retransmission timeout(s) "
               "(each a stall of 200 ms or more)")

# ---- iperf3: data in every second ----
for side in ("server", "client"):
    j = load(f"{side}.json")
    if "error" in j:
        bad.append(f"iperf3 {side}: {j['error']}")
        continue
    iv = [(i["sum"]["start"], i["sum"]["end"], i["sum"]["bytes"]) for i in j["intervals"]]
    per_s = {}
    for s, e, b in iv:
        per_s[int(s + 1e-6)] = per_s.get(int(s + 1e-6), 0) + b
    secs = [per_s.get(k, 0) for k in range(duration)]
    mbit = [round(b * 8 / 1e6) for b in secs]
    what = "received" if side == "server" else "sent"
    total = sum(b for _, _, b in iv)
    print(f"   iperf3 {side}: {len(iv)} intervals, {total * 8 / 1e6 / duration:.0f} Mbit/s {what}")
    print(f"   iperf3 {side}: Mbit per second {mbit}")
    covered = sum(e - s for s, e, _ in iv)
    if covered < duration - 0.3:
        bad.append(f"iperf3 {side}: intervals cover only {covered:.2f} s of {duration}")
    for k, b in enumerate(secs):
        if b <= 0:
            bad.append(f"iperf3 {side}: nothing {what} in second {k}")

for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
say "PASS"
