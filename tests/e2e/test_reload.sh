#!/bin/bash
# Hitless reload: `espressoctl reload` and SIGHUP apply the difference of the
# rewritten config file, refuse a bad one whole, and leave alone what did
# not change.
#
#   ${P}A: ping 10.1.0.1 -> esp0 -> espressod gw-a -> eA
#          gw-a.conf rewritten:  tunnel to-peer (remote 192.0.2.2, 10.2/16)
#                              + tunnel to-c    (remote 192.0.2.3, 10.3/16,
#                                                nobody there: config only)
#                                        ====== veth ======
#   ${P}B: eB -> espressod gw-b -> esp0 -> 10.2.0.1
#
# a. Under a ping flood A->B (3000 at 2 ms), reload gw-a adding tunnel to-c:
#    it shows in `show tunnels`, with its SAs, its inbound SPI in the XDP map
#    and the kernel route 10.3.0.0/16 dev esp0; reload the original: all of
#    that gone. The flood loses nothing; to-peer's SAs are the same objects
#    (SPI kept, out seq and in replay_top only grow, age_s not reset);
#    table_version grows with each reload.
# b. Refused, with nothing changed (tunnels, SAs, routes, XDP map,
#    table_version) and the daemon still forwarding: a syntax error and a
#    duplicate SPI (file:line in the message), workers.queues 1 -> 2
#    (message names workers.queues), an SPI that an espressoctl-added SA
#    holds.
# c. New keys, same SPIs, then new SPIs and keys, both gateways reloaded:
#    traffic flows both ways right after (within LIVE_IN_GRACE_MS of the old
#    inbound SA), gw-a's out SA is new (seq restarted, age reset), and after
#    the grace only the new inbound SA is left.
# d. SIGHUP does what `ctl a reload` does ("reloaded" in gw-a.log), and
#    logs a refused one ("reload refused").
# e. A reload whose new tunnel's route is held by an espressoctl-added route
#    is refused and changes nothing (no half-added tunnel), and the same
#    file is accepted once that route is gone.
# f. A reload whose policies cannot load (17 on one destination, the XDP
#    program reads 16) and that would remove to-c is refused whole: to-c,
#    its SAs, routes and XDP entry stay, no policy is in force.
source "$(dirname "$0")/lib.sh"
flood=
cleanup() {
	[ -z "$flood" ] || kill "$flood" 2>/dev/null || true
	topo_down
}
trap cleanup EXIT

PY=/usr/bin/python3
CONF=$WORK/gw-a.conf
KEY_C_OUT=3c0d1f2e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4
KEY_C_IN=5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a

say "topology and gateways"
topo_up
gw_start a
gw_start b
ip netns exec "$NS_A" ping -c1 -W2 10.2.0.1 >/dev/null || true
ip netns exec "$NS_B" ping -c1 -W2 10.1.0.1 >/dev/null || true
cp "$CONF" "$WORK/orig-a.conf"

# conf_a SPI_AB KEY_AB SPI_BA KEY_BA [queues]: gw-a's config as gw_start wrote it
conf_a() {
	QUEUES=${5:-1} gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
		10.2.0.0/16 fd00:2::/64 "$1" "$2" "$3" "$4" >/dev/null
}
conf_b() {
	gw_conf b eB 10.2.0.1/32 fd00:2::1/128 192.0.2.2 192.0.2.1 \
		10.1.0.0/16 fd00:1::/64 "$3" "$4" "$1" "$2" >/dev/null
}
# with_c FILE OUT_SPI IN_SPI: FILE's config plus tunnel to-c, written to CONF
with_c() {
	"$PY" - "$1" "$2" "$3" "$KEY_C_OUT" "$KEY_C_IN" >"$CONF.new" <<'EOF'
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
	chmod 600 "$CONF.new"
	mv "$CONF.new" "$CONF"
}

# snap NAME: the state of gw-a as JSON files $WORK/NAME-{sa,stats,tunnels,routes}
snap() {
	ctl a -j show sa >"$WORK/$1-sa.json" || fail "show sa"
	ctl a -j show stats >"$WORK/$1-stats.json" || fail "show stats"
	ctl a -j show tunnels >"$WORK/$1-tunnels.json" || fail "show tunnels"
	ctl a -j show routes >"$WORK/$1-routes.json" || fail "show routes"
	bpf_dump a espresso_sa_in >"$WORK/$1-xdpmap.json" || fail "bpftool dump espresso_sa_in"
	ip -n "$NS_A" route show dev esp0 >"$WORK/$1-kroutes.txt"
}

# check WHAT...: assertions on the snapshots, in Python (see below)
check() {
	"$PY" "$WORK/check.py" "$WORK" "$@" || fail "$1"
}
cat >"$WORK/check.py" <<'EOF'
import json, sys

work, what, args = sys.argv[1], sys.argv[2], sys.argv[3:]

def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)

def sas(snap):
    return {(s["tunnel"], s["dir"], int(s["spi"], 16)): s for s in load(f"{snap}-sa.json")}

def tunnels(snap):
    return sorted(t["name"] for t in load(f"{snap}-tunnels.json"))

def routes(snap):
    return sorted((r["prefix"], r["tunnel"]) for r in load(f"{snap}-routes.json"))

def xdp_spis(snap):
    return sorted(e["key"] for e in load(f"{snap}-xdpmap.json"))

def version(snap):
    return load(f"{snap}-stats.json")["table_version"]

def die(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def peer_sas_kept(before, after):
    """to-peer's SAs are the same objects: SPI kept, counters only grow,
    age not reset"""
    b, a = sas(before), sas(after)
    for k, x in sorted(b.items()):
        if k[0] != "to-peer":
            continue
        d, spi = k[1], k[2]
        if k not in a:
            die(f"{after}: to-peer {d} SA 0x{spi:x} gone: {sorted(a)}")
        y = a[k]
        ctr = "seq" if d == "out" else "replay_top"
        if y[ctr] < x[ctr]:
            die(f"{after}: to-peer {d} {ctr} went back {x[ctr]} -> {y[ctr]} (SA replaced)")
        if y["age_s"] < x["age_s"]:
            die(f"{after}: to-peer {d} age_s went back {x['age_s']} -> {y['age_s']} (SA replaced)")
        if y["packets"] < x["packets"]:
            die(f"{after}: to-peer {d} packets went back {x['packets']} -> {y['packets']}")
        print(f"   to-peer {d} 0x{spi:x}: {ctr} {x[ctr]} -> {y[ctr]}, age_s {x['age_s']} -> {y['age_s']}")

if what == "to-c added":
    before, after = args
    if tunnels(after) != ["to-c", "to-peer"]:
        die(f"tunnels after adding to-c: {tunnels(after)}")
    s = sas(after)
    for k in (("to-c", "out", 0x3000), ("to-c", "in", 0x3001)):
        if k not in s:
            die(f"to-c SA {k[1]} 0x{k[2]:x} missing: {sorted(s)}")
    if ("10.3.0.0/16", "to-c") not in routes(after):
        die(f"routes: {routes(after)}")
    if 0x3001 not in xdp_spis(after):
        die(f"to-c's inbound SPI 0x3001 not in the XDP map: {[hex(x) for x in xdp_spis(after)]}")
    if version(after) <= version(before):
        die(f"table_version {version(before)} -> {version(after)}: did not grow")
    print(f"   table_version {version(before)} -> {version(after)}")
    peer_sas_kept(before, after)
elif what == "to-c removed":
    before, after = args
    if tunnels(after) != ["to-peer"]:
        die(f"tunnels after removing to-c: {tunnels(after)}")
    left = [k for k in sas(after) if k[0] != "to-peer"]
    if left:
        die(f"SAs left of to-c: {left}")
    if routes(after) != routes("start"):
        die(f"routes {routes(after)}, want {routes('start')}")
    if xdp_spis(after) != [0x2000]:
        die(f"XDP map SPIs {[hex(x) for x in xdp_spis(after)]}, want [0x2000]")
    if version(after) <= version(before):
        die(f"table_version {version(before)} -> {version(after)}: did not grow")
    print(f"   table_version {version(before)} -> {version(after)}")
    peer_sas_kept(before, after)
elif what == "unchanged":
    before, after = args
    for f in (tunnels, routes, xdp_spis, version):
        if f(before) != f(after):
            die(f"{after}: {f.__name__} changed by a refused reload: {f(before)} -> {f(after)}")
    if sorted(sas(before)) != sorted(sas(after)):
        die(f"{after}: SAs changed by a refused reload: {sorted(sas(before))} -> {sorted(sas(after))}")
    peer_sas_kept(before, after)
elif what == "new out SA":
    # new out SA on gw-a: SPI, seq restarted (below the old one), age reset
    before, after, spi_out, spi_in = args[0], args[1], int(args[2], 16), int(args[3], 16)
    b, a = sas(before), sas(after)
    old_out = [s for k, s in b.items() if k[:2] == ("to-peer", "out")][0]
    outs = [s for k, s in a.items() if k[:2] == ("to-peer", "out")]
    ins = [int(s["spi"], 16) for k, s in a.items() if k[:2] == ("to-peer", "in")]
    if [int(s["spi"], 16) for s in outs] != [spi_out]:
        die(f"out SAs {[s['spi'] for s in outs]}, want 0x{spi_out:x}")
    if ins != [spi_in]:
        die(f"in SAs {[hex(x) for x in ins]}, want 0x{spi_in:x}")
    n = outs[0]
    print(f"   out SA {old_out['spi']} seq {old_out['seq']} age_s {old_out['age_s']}"
          f" -> {n['spi']} seq {n['seq']} age_s {n['age_s']}")
    if n["seq"] >= old_out["seq"] or n["seq"] > 100:
        die(f"new out SA's seq {n['seq']}: not restarted (old {old_out['seq']})")
    if n["age_s"] >= old_out["age_s"] or n["age_s"] > 1:
        die(f"new out SA's age_s {n['age_s']}: not reset (old {old_out['age_s']})")
    # the old inbound SPI may still be there: dying, for LIVE_IN_GRACE_MS
    if spi_in not in xdp_spis(after):
        die(f"XDP map SPIs {[hex(x) for x in xdp_spis(after)]}, want 0x{spi_in:x} in it")
elif what == "inbound":
    snap, want = args[0], int(args[1])
    n = load(f"{snap}-stats.json")["inbound_sas"]
    if n != want:
        die(f"{snap}: {n} inbound SAs, want {want}")
    if len(args) > 2 and xdp_spis(snap) != [int(args[2], 16)]:
        die(f"{snap}: XDP map SPIs {[hex(x) for x in xdp_spis(snap)]}, want [{args[2]}]")
else:
    die("check.py: what? " + what)
EOF

reloaded_count() { grep -c 'reloaded ' "$WORK/gw-a.log" || true; }
alive() { kill -0 "$PID_A" 2>/dev/null || fail "espressod gw-a died: $(tail -5 "$WORK/gw-a.log")"; }
pings() { # pings NS DST N: N pings at 10 ms, none lost
	ip netns exec "$1" ping -q -c "$3" -i 0.01 -W 1 "$2" >"$WORK/ping.txt" ||
		fail "ping $2 from $1: $(cat "$WORK/ping.txt")"
	grep -q " 0% packet loss" "$WORK/ping.txt" || fail "ping $2 lost some: $(cat "$WORK/ping.txt")"
}

# ---------------------------------------------------------------- a
say "a. reload adds and removes tunnel to-c under a ping flood"
sleep 1 # SA ages >= 1 s, so that a reset shows
snap start
ip netns exec "$NS_A" ping -q -i 0.002 -c 3000 -W 1 10.2.0.1 >"$WORK/flood.txt" 2>&1 &
flood=$!
sleep 1
with_c "$WORK/orig-a.conf" 0x3000 0x3001
out=$(ctl a reload 2>&1) || fail "reload adding to-c refused: $out"
snap add
check "to-c added" start add
grep -q '^tunnel to-c ' <(ctl a show tunnels) || fail "show tunnels: no to-c"
ip -n "$NS_A" route show 10.3.0.0/16 | grep -q 'dev esp0' || fail "no kernel route 10.3.0.0/16 dev esp0"
sleep 1
cp "$WORK/orig-a.conf" "$CONF"
out=$(ctl a reload 2>&1) || fail "reload removing to-c refused: $out"
snap del
check "to-c removed" add del
[ -z "$(ip -n "$NS_A" route show 10.3.0.0/16)" ] || fail "kernel route 10.3.0.0/16 left: $(ip -n "$NS_A" route show 10.3.0.0/16)"
ctl a show tunnels | grep -q '^tunnel to-c ' && fail "show tunnels: to-c still there"
wait $flood || fail "ping flood: $(cat "$WORK/flood.txt")"
flood=
grep -E 'transmitted|rtt' "$WORK/flood.txt"
grep -q '3000 packets transmitted, 3000 received, 0% packet loss' "$WORK/flood.txt" ||
	fail "the flood lost packets across the reloads: $(cat "$WORK/flood.txt")"

# ---------------------------------------------------------------- b
say "b. refused reloads change nothing"
snap b0
# refused NAME REGEX: with $CONF as written, `ctl a reload` fails with a
# message matching REGEX, the daemon lives, and nothing changed since snap b0
refused() {
	local name=$1 re=$2 out
	if out=$(ctl a reload 2>&1); then
		fail "$name: reload accepted"
	fi
	echo "   $name: $out"
	printf '%s\n' "$out" | grep -Eq -- "$re" || fail "$name: message does not match '$re': $out"
	alive
	pings "$NS_A" 10.2.0.1 10
	snap "b-$name"
	check unchanged b0 "b-$name"
}
# a syntax error on line 3
sed '3i\  oops = = 1;' "$WORK/orig-a.conf" >"$CONF"
refused syntax "^espressoctl: $CONF:3: .*syntax error"
# to-c's inbound SPI = to-peer's (0x2000): line of to-c's inbound spi
with_c "$WORK/orig-a.conf" 0x3000 0x2000
line=$(grep -n 'inbound  = { spi = 0x2000' "$CONF" | tail -1 | cut -d: -f1)
refused dup-spi "^espressoctl: $CONF:$line: .*(SPI|spi).*0x2000"
# workers.queues 1 -> 2 takes a restart
conf_a "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA" 2
grep -q 'queues = 2;' "$CONF" || fail "could not write queues = 2"
refused queues "$CONF.*workers\.queues"
# an SPI held by an SA added through espressoctl (check_clashes)
printf '%s\n' "$KEY_C_IN" | sed 's/^5e/77/' >"$WORK/ctl.key"
chmod 600 "$WORK/ctl.key"
ctl a sa add to-peer in spi 0x3001 key-file "$WORK/ctl.key" || fail "sa add 0x3001 in"
snap b0
with_c "$WORK/orig-a.conf" 0x3000 0x3001
refused ctl-spi "^espressoctl: $CONF:[0-9]+: .*0x3001"
ctl a sa del 0x3001 in || fail "sa del 0x3001"
pings "$NS_A" 10.2.0.1 20

# ---------------------------------------------------------------- c
say "c. new keys, same SPIs, on both gateways"
sleep 1
pings "$NS_A" 10.2.0.1 10
snap c0
K1=$(openssl rand -hex 36) K2=$(openssl rand -hex 36)
conf_a "$SPI_AB" "$K1" "$SPI_BA" "$K2"
out=$(ctl a reload 2>&1) || fail "gw-a reload, new keys: $out"
conf_b "$SPI_AB" "$K1" "$SPI_BA" "$K2"
out=$(ctl b reload 2>&1) || fail "gw-b reload, new keys: $out"
pings "$NS_A" 10.2.0.1 20
pings "$NS_B" 10.1.0.1 20
snap c1
check "new out SA" c0 c1 "$SPI_AB" "$SPI_BA"

say "c. new SPIs and keys on both gateways"
sleep 1.5
pings "$NS_A" 10.2.0.1 10
snap c2
K3=$(openssl rand -hex 36) K4=$(openssl rand -hex 36)
conf_a 0x1100 "$K3" 0x2100 "$K4"
out=$(ctl a reload 2>&1) || fail "gw-a reload, new SPIs: $out"
conf_b 0x1100 "$K3" 0x2100 "$K4"
out=$(ctl b reload 2>&1) || fail "gw-b reload, new SPIs: $out"
pings "$NS_A" 10.2.0.1 20
pings "$NS_B" 10.1.0.1 20
snap c3
check "new out SA" c2 c3 0x1100 0x2100
sleep 1.2 # the old inbound SA leaves the version and the XDP map (LIVE_IN_GRACE_MS)
snap c4
check inbound c4 1 0x2100
cp "$CONF" "$WORK/cur-a.conf"

# ---------------------------------------------------------------- d
say "d. SIGHUP reloads like espressoctl reload"
# wait_log PATTERN N: until PATTERN is in gw-a.log N times (5 s)
wait_log() {
	for _ in $(seq 50); do
		[ "$(grep -c "$1" "$WORK/gw-a.log")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "no '$1' in gw-a.log after SIGHUP: $(tail -3 "$WORK/gw-a.log")"
}
n=$(reloaded_count)
with_c "$WORK/cur-a.conf" 0x3000 0x3001
kill -HUP "$PID_A"
wait_log 'reloaded ' $((n + 1))
grep 'reloaded ' "$WORK/gw-a.log" | tail -1
ctl a show tunnels | grep -q '^tunnel to-c ' || fail "SIGHUP: to-c not added"
ip -n "$NS_A" route show 10.3.0.0/16 | grep -q 'dev esp0' || fail "SIGHUP: no kernel route 10.3.0.0/16"
cp "$WORK/cur-a.conf" "$CONF"
kill -HUP "$PID_A"
wait_log 'reloaded ' $((n + 2))
ctl a show tunnels | grep -q '^tunnel to-c ' && fail "SIGHUP: to-c still there"
[ -z "$(ip -n "$NS_A" route show 10.3.0.0/16)" ] || fail "SIGHUP: kernel route 10.3.0.0/16 left"
r=$(grep -c 'reload refused' "$WORK/gw-a.log" || true)
sed '3i\  oops = = 1;' "$WORK/cur-a.conf" >"$CONF"
kill -HUP "$PID_A"
wait_log 'reload refused' $((r + 1))
grep 'reload refused' "$WORK/gw-a.log" | tail -1
grep 'reload refused' "$WORK/gw-a.log" | tail -1 | grep -q "$CONF:3:" || fail "SIGHUP: refusal without file:line"
alive
pings "$NS_A" 10.2.0.1 20
pings "$NS_B" 10.1.0.1 20

# ---------------------------------------------------------------- e
say "e. a route held by an espressoctl route: refused whole"
# to-c must not be left half added (its SAs and XDP entry live, and the
# same file refused later as "a tunnel of that name was added through
# espressoctl")
ctl a route add 10.3.0.0/16 tunnel to-peer || fail "route add 10.3.0.0/16"
snap b0
with_c "$WORK/cur-a.conf" 0x3000 0x3001
refused ctl-route "^espressoctl: $CONF:[0-9]+: .*10\.3\.0\.0/16"
ctl a route del 10.3.0.0/16 || fail "route del 10.3.0.0/16"
out=$(ctl a reload 2>&1) || fail "reload with to-c refused once the route clash was gone: $out"
ctl a show tunnels | grep -q '^tunnel to-c ' || fail "to-c not added"
pings "$NS_A" 10.2.0.1 20

# ---------------------------------------------------------------- f
say "f. policies that cannot load: refused whole, to-c not removed"
# 17 policies on one destination (the XDP program reads at most 16): the
# parser takes them, loading them fails; that is checked before any tunnel
# changes (before, to-c was removed and the reload still said "refused")
snap b0
"$PY" - "$WORK/cur-a.conf" >"$CONF.new" <<'EOF2'
import sys
t = open(sys.argv[1]).read()
pol = "  policies = (\n" + ",\n".join(
    f'    {{ id = {i}; dst = "10.9.0.0/24"; action = "discard"; }}' for i in range(1, 18)) + "\n  );\n"
head, sep, tail = t.partition("  tunnels = (")
assert sep, "no tunnels list"
sys.stdout.write(head + pol + sep + tail)
EOF2
chmod 600 "$CONF.new"
mv "$CONF.new" "$CONF"
refused policies "^espressoctl: $CONF: policies\.\[16\] \(id 17\): more than 16 policies would cover 10\.9\.0\.0/24"
ctl a show tunnels | grep -q '^tunnel to-c ' || fail "policies: to-c removed by a refused reload"
[ -z "$(ctl a show policies)" ] || fail "policies: in force after a refused reload: $(ctl a show policies)"
say "PASS"
