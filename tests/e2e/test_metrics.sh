#!/bin/bash
# The Prometheus endpoint end to end: GET /metrics on both gateways of the
# lib.sh topology, parsed with prometheus_client (python3-prometheus-client).
#
#   ${P}A: GET http://127.0.0.1:9477/metrics     ${P}B: GET http://[::1]:9478/metrics
#          | espressod gw-a                             | espressod gw-b
#   eA 192.0.2.1/24 (XDP) ========= veth wire ========= eB 192.0.2.2/24 (XDP)
#
# Checks, with exact assertions:
# 1. Both answer 200 with the text format's content type; the body parses;
#    every family has HELP and TYPE, samples follow their own family's TYPE,
#    no family is split, no series repeats; counters end in _total; the SA
#    labels are tunnel="to-peer",spi="0x00001000",dir="out"; build_info is 1.
# 2. N pings A->B: gw-a's out SA 0x1000 and gw-b's in SA 0x1000 count
#    exactly N more packets and N * 84 more bytes (the inner packets), the
#    replies the same on 0x2000; gw-b's XDP redirect_esp exactly N more, and
#    gw-a's too (the replies); seq and replay_top moved by N.
# 3. espresso_queue_drops_total has every reason of core/stats.h for queue 0,
#    zeros included (rx_auth, rx_replay at 0); the XSK kernel kinds are there
#    (and tx_ring_empty, which is no drop, is not among them).
# 4. With no traffic, what a scrape says equals espressoctl -j show sa and
#    show stats (packets, bytes, seq, replay top; queue counters; tables).
# 5. /other is 404, POST /metrics is 405; the endpoint is bound only to its
#    address: gw-a not on 192.0.2.1 (from A or B), gw-b (::1) not on 127.0.0.1.
# 6. Reload: a changed metrics port is refused (restart-only) and changes
#    nothing; the same config reloads.
# 7. Scale: 10,000 more tunnels with an SA pair each (espressoctl -b): one
#    scrape has all 20,002 SA series and takes under 2 s. Neither gateway
#    logged anything about metrics but where they are.
# 8. An address that cannot be bound: espressod starts anyway, says why.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

PY=/usr/bin/python3
export LC_ALL=C
N=25
PORT_A=9477
PORT_B=9478
URL_A="http://127.0.0.1:$PORT_A/metrics"
URL_B="http://[::1]:$PORT_B/metrics"

"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	fail "python3-prometheus-client is missing (tools/deps.sh check)"

# The helpers: fetch (urllib, in the namespace the command runs in) and
# load (the strict checks of 1., then prometheus_client's parser).
cat >"$WORK/prom.py" <<'PY'
import re, sys, urllib.request, urllib.error

def fetch(url, method="GET"):
    """(status, content type, body) of one request."""
    req = urllib.request.Request(url, method=method,
                                 data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(\{.*\})? (\S+)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')

def check_format(text):
    assert text.endswith("\n"), "no newline at the end"
    helps, types, order, cur = set(), {}, [], None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helps, "line %d: second HELP for %s" % (n, name)
            helps.add(name)
            cur = None
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name in helps, "line %d: TYPE of %s before its HELP" % (n, name)
            assert name not in types, "line %d: %s typed twice (family split)" % (n, name)
            assert typ in ("counter", "gauge"), line
            assert re.fullmatch(NAME, name), name
            if typ == "counter":
                assert name.endswith("_total"), "counter %s without _total" % name
            else:
                assert not name.endswith("_total"), "gauge %s ends in _total" % name
            types[name] = typ
            order.append(name)
            cur = name
        else:
            m = SAMPLE.match(line)
            assert m, "line %d: not a sample: %r" % (n, line)
            assert cur and m.group(1) == cur, \
                "line %d: %s outside its family (in %s)" % (n, m.group(1), cur)
            float(m.group(3))
            if m.group(2):
                body, pos = m.group(2)[1:-1], 0
                while pos < len(body):
                    lm = LABEL.match(body, pos)
                    assert lm, "line %d: bad labels %r" % (n, m.group(2))
                    pos = lm.end()
    return types

def load(path):
    """{(sample name, ((label, value), ...)): value}, and the TYPE of each family."""
    from prometheus_client.parser import text_string_to_metric_families
    text = open(path).read()
    types = check_format(text)
    series = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in series, "series twice: %r" % (key,)
            series[key] = s.value
    return series, types

def get(series, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in series, "no %s %r" % (name, labels)
    return series[key]

def sa(series, name, spi, d, tunnel="to-peer"):
    return get(series, name, tunnel=tunnel, spi=spi, dir=d)

if __name__ == "__main__":
    # prom.py fetch URL FILE [METHOD]: print "STATUS CONTENT-TYPE", body to FILE
    st, ct, body = fetch(sys.argv[2], *(sys.argv[4:5] or ["GET"]))
    open(sys.argv[3], "w").write(body)
    print(st, ct)
PY

# scrape a|b FILE: GET /metrics in the gateway's namespace into FILE; must be 200
scrape() {
	local ns=$NS_A url=$URL_A st
	[ "$1" = b ] && { ns=$NS_B; url=$URL_B; }
	st=$(ip netns exec "$ns" "$PY" "$WORK/prom.py" fetch "$url" "$2") ||
		fail "scrape gw-$1: $st"
	[ "$st" = "200 text/plain; version=0.0.4; charset=utf-8" ] ||
		fail "scrape gw-$1: $st: $(head -c 300 "$2")"
}

# check WHAT CODE: run CODE (python, asserting) with prom.py's names imported
check() {
	(cd "$WORK" && "$PY" - "$2" <<'PY') || fail "$1"
import sys
from prom import *
try:
    exec(sys.argv[1])
except AssertionError as e:
    sys.exit("assertion: %s" % e)
PY
}

say "topology; gw-a metrics on 127.0.0.1:$PORT_A, gw-b on [::1]:$PORT_B"
topo_up
EXTRA_CONF="metrics = { listen = \"127.0.0.1\"; port = $PORT_A; };" gw_start a
EXTRA_CONF="metrics = { listen = \"::1\"; port = $PORT_B; };" gw_start b
grep -q "metrics: http://127.0.0.1:$PORT_A/metrics" "$WORK/gw-a.log" ||
	fail "gw-a does not say where its metrics are: $(cat "$WORK/gw-a.log")"
grep -q "metrics: http://\[::1\]:$PORT_B/metrics" "$WORK/gw-b.log" ||
	fail "gw-b does not say where its metrics are: $(cat "$WORK/gw-b.log")"
tunnel_ready
sleep 0.3 # the warm-up's replies are counted

# ---- 1. format ---------------------------------------------------------------
say "1. both scrape; the text format is right, the SA labels as show sa"
scrape a "$WORK/a0.txt"
scrape b "$WORK/b0.txt"
check "format of gw-a's scrape" '
s, t = load("a0.txt")
for f in ("espresso_sa_packets_total", "espresso_sa_bytes_total",
          "espresso_sa_errors_total", "espresso_queue_drops_total",
          "espresso_queue_xsk_kernel_drops_total", "espresso_xdp_redirect_esp_total",
          "espresso_queue_rx_frames_total", "espresso_queue_polls_total"):
    assert t.get(f) == "counter", (f, t.get(f))
for f in ("espresso_sa_seq", "espresso_sa_replay_top", "espresso_sa_age_seconds",
          "espresso_tunnel_sas", "espresso_tunnel_last_packet_seconds",
          "espresso_tables_version", "espresso_tunnels", "espresso_inbound_sas",
          "espresso_routes", "espresso_build_info"):
    assert t.get(f) == "gauge", (f, t.get(f))
sas = sorted(k[1] for k in s if k[0] == "espresso_sa_packets_total")
assert sas == [(("dir", "in"), ("spi", "0x00002000"), ("tunnel", "to-peer")),
               (("dir", "out"), ("spi", "0x00001000"), ("tunnel", "to-peer"))], sas
assert [k for k in s if k[0] == "espresso_sa_seq"] == \
    [("espresso_sa_seq", (("dir", "out"), ("spi", "0x00001000"), ("tunnel", "to-peer")))]
assert [k for k in s if k[0] == "espresso_sa_replay_top"] == \
    [("espresso_sa_replay_top", (("dir", "in"), ("spi", "0x00002000"), ("tunnel", "to-peer")))]
assert sa(s, "espresso_sa_seq_exhausted", "0x00001000", "out") == 0
b = [k for k in s if k[0] == "espresso_build_info"]
assert len(b) == 1 and dict(b[0][1])["version"] and s[b[0]] == 1, b
assert get(s, "espresso_tunnel_sas", tunnel="to-peer") == 2
for d in ("in", "out"):
    assert 0 <= get(s, "espresso_tunnel_last_packet_seconds", tunnel="to-peer", dir=d) < 5
assert (get(s, "espresso_tunnels"), get(s, "espresso_inbound_sas"), get(s, "espresso_routes")) == (1, 1, 2)
assert get(s, "espresso_queue_info", queue="0", mode="copy") == 1 or \
       get(s, "espresso_queue_info", queue="0", mode="zerocopy") == 1
assert 0 <= sa(s, "espresso_sa_age_seconds", "0x00001000", "out") < 60
'
check "format of gw-b's scrape" '
s, t = load("b0.txt")
_, ta = load("a0.txt")
assert t == ta, set(t.items()) ^ set(ta.items())
assert sa(s, "espresso_sa_seq", "0x00002000", "out") > 0
'

# ---- 2. exact counts -----------------------------------------------------------
say "2. $N pings A->B: exactly $N more on each SA and on the XDP redirects"
ip netns exec "$NS_A" ping -q -c "$N" -i 0.02 -W 2 10.2.0.1 >"$WORK/ping.txt" 2>&1 ||
	fail "ping: $(cat "$WORK/ping.txt")"
grep -q "^$N packets transmitted, $N received" "$WORK/ping.txt" ||
	fail "ping lost packets: $(tail -2 "$WORK/ping.txt")"
sleep 0.3
scrape a "$WORK/a1.txt"
scrape b "$WORK/b1.txt"
check "counts after $N pings" '
n = '"$N"'
a0, _ = load("a0.txt"); a1, _ = load("a1.txt")
b0, _ = load("b0.txt"); b1, _ = load("b1.txt")
def delta(x0, x1, name, spi, d):
    return sa(x1, name, spi, d) - sa(x0, name, spi, d)
want = {
    ("a", "espresso_sa_packets_total", "0x00001000", "out"): n,
    ("b", "espresso_sa_packets_total", "0x00001000", "in"): n,
    ("b", "espresso_sa_packets_total", "0x00002000", "out"): n,
    ("a", "espresso_sa_packets_total", "0x00002000", "in"): n,
    ("a", "espresso_sa_bytes_total", "0x00001000", "out"): 84 * n,
    ("b", "espresso_sa_bytes_total", "0x00001000", "in"): 84 * n,
    ("b", "espresso_sa_bytes_total", "0x00002000", "out"): 84 * n,
    ("a", "espresso_sa_bytes_total", "0x00002000", "in"): 84 * n,
    ("a", "espresso_sa_seq", "0x00001000", "out"): n,
    ("b", "espresso_sa_replay_top", "0x00001000", "in"): n,
    ("b", "espresso_sa_seq", "0x00002000", "out"): n,
    ("a", "espresso_sa_replay_top", "0x00002000", "in"): n,
}
got = {k: delta(*((a0, a1) if k[0] == "a" else (b0, b1)), *k[1:]) for k in want}
assert got == want, {k: got[k] for k in got if got[k] != want[k]}
# the peers agree: what A sent on 0x1000 is what B received on it
assert sa(a1, "espresso_sa_seq", "0x00001000", "out") == sa(b1, "espresso_sa_replay_top", "0x00001000", "in")
for x0, x1, who in ((b0, b1, "gw-b"), (a0, a1, "gw-a")):
    d = get(x1, "espresso_xdp_redirect_esp_total") - get(x0, "espresso_xdp_redirect_esp_total")
    assert d == n, "%s: XDP redirect_esp +%d, expected +%d" % (who, d, n)
    for e in ("drop_unknown_spi", "drop_malformed", "drop_no_xsk", "drop_meta"):
        assert get(x1, "espresso_xdp_%s_total" % e) == 0, (who, e)
    assert not [k for k in x1 if k[0] == "espresso_sa_errors_total"], \
        (who, [k for k in x1 if k[0] == "espresso_sa_errors_total"])
'

# ---- 3. drops ------------------------------------------------------------------
say "3. every drop reason of core/stats.h, zeros included; XSK kernel kinds"
grep -o '^	X([a-z_0-9]*,' "$ROOT/user/core/stats.h" | sed 's/^	X(//; s/,$//' >"$WORK/reasons"
[ "$(wc -l <"$WORK/reasons")" -ge 20 ] || fail "reading the drop reasons of core/stats.h"
check "drop counters" '
reasons = open("reasons").read().split()
for f in ("a1.txt", "b1.txt"):
    s, _ = load(f)
    got = sorted(dict(k[1])["reason"] for k in s if k[0] == "espresso_queue_drops_total")
    assert got == sorted(reasons), (f, set(got) ^ set(reasons))
    assert all(dict(k[1])["queue"] == "0" for k in s if k[0] == "espresso_queue_drops_total")
    for r in ("rx_auth", "rx_replay", "rx_window", "rx_no_sa", "rx_inner_src", "tx_no_sa", "tx_crypto"):
        assert get(s, "espresso_queue_drops_total", queue="0", reason=r) == 0, (f, r)
    kinds = sorted(dict(k[1])["kind"] for k in s if k[0] == "espresso_queue_xsk_kernel_drops_total")
    assert {"rx_dropped", "rx_invalid_descs", "tx_invalid_descs"} <= set(kinds), kinds
    assert "tx_ring_empty" not in kinds, "tx_ring_empty is no drop"
    assert get(s, "espresso_queue_xsk_kernel_drops_total", queue="0", kind="rx_dropped") == 0
'

# ---- 4. the same numbers as espressoctl --------------------------------------
say "4. a quiet scrape says what espressoctl -j show sa / show stats say"
sleep 0.3
ctl a -j show sa >"$WORK/sa.json" || fail "show sa"
ctl a -j show stats >"$WORK/stats.json" || fail "show stats"
scrape a "$WORK/a2.txt"
ctl a -j show stats >"$WORK/stats2.json" || fail "show stats"
check "scrape = show" '
import json
s, _ = load("a2.txt")
for x in json.load(open("sa.json")):
    lab = dict(tunnel=x["tunnel"], spi=x["spi"], dir=x["dir"])
    assert get(s, "espresso_sa_packets_total", **lab) == x["packets"], x
    assert get(s, "espresso_sa_bytes_total", **lab) == x["bytes"], x
    if x["dir"] == "out":
        assert get(s, "espresso_sa_seq", **lab) == x["seq"], x
    else:
        assert get(s, "espresso_sa_replay_top", **lab) == x["replay_top"], x
# the ESP counters are quiet: equal; what any packet on the wire or from
# the host moves (an IPv6 MLD report, ARP) lies between the two shows
st, st2 = json.load(open("stats.json")), json.load(open("stats2.json"))
def between(name, lo, hi, **lab):
    v = get(s, name, **lab)
    assert lo <= v <= hi, (name, lab, lo, v, hi)
for q, q2 in zip(st["queues"], st2["queues"]):
    qn = str(q["queue"])
    for k in ("rx_frames", "rx_bytes", "rx_decrypted", "tx_frames", "tx_bytes",
              "tx_completed", "handoff_out"):
        assert get(s, "espresso_queue_%s_total" % k, queue=qn) == q[k] == q2[k], (k, q[k], q2[k])
    for k in ("tun_rx", "gso_super", "polls"):
        between("espresso_queue_%s_total" % k, q[k], q2[k], queue=qn)
    for r in set(q["drops"]) | set(q2["drops"]):
        between("espresso_queue_drops_total", q["drops"].get(r, 0),
                q2["drops"].get(r, 0), queue=qn, reason=r)
assert get(s, "espresso_xdp_redirect_esp_total") == st["xdp"]["redirect_esp"] == st2["xdp"]["redirect_esp"]
for k in ("rx_packets", "pass_other", "pass_not_ip"):
    between("espresso_xdp_%s_total" % k, st["xdp"][k], st2["xdp"][k])
assert get(s, "espresso_tables_version") == st["table_version"]
assert get(s, "espresso_tunnels") == st["tunnels"]
'

# ---- 5. other paths, methods, addresses --------------------------------------
say "5. 404 elsewhere, 405 for POST; bound to its address only"
st=$(ip netns exec "$NS_A" "$PY" "$WORK/prom.py" fetch "http://127.0.0.1:$PORT_A/other" "$WORK/o.txt")
[ "${st%% *}" = 404 ] || fail "GET /other: $st, expected 404"
st=$(ip netns exec "$NS_A" "$PY" "$WORK/prom.py" fetch "http://127.0.0.1:$PORT_A/" "$WORK/o.txt")
[ "${st%% *}" = 404 ] || fail "GET /: $st, expected 404"
st=$(ip netns exec "$NS_A" "$PY" "$WORK/prom.py" fetch "$URL_A" "$WORK/o.txt" POST)
[ "${st%% *}" = 405 ] || fail "POST /metrics: $st, expected 405"
st=$(ip netns exec "$NS_A" "$PY" "$WORK/prom.py" fetch "$URL_A?x=1" "$WORK/o.txt")
[ "${st%% *}" = 200 ] || fail "GET /metrics?x=1: $st, expected 200"
# refused: nothing listens there (urllib raises, the helper exits non-zero)
while read -r ns url; do
	if ip netns exec "$ns" "$PY" "$WORK/prom.py" fetch "$url" "$WORK/o.txt" >/dev/null 2>&1; then
		fail "$url answered in $ns: the endpoint must be bound to its address only"
	fi
done <<EOF
$NS_A http://192.0.2.1:$PORT_A/metrics
$NS_B http://192.0.2.1:$PORT_A/metrics
$NS_B http://127.0.0.1:$PORT_B/metrics
$NS_B http://192.0.2.2:$PORT_B/metrics
EOF
ip -n "$NS_A" -o -4 addr show | grep -q ' 192.0.2.1/' || fail "192.0.2.1 gone?"
ss_out=$(ip netns exec "$NS_A" ss -Htln "sport = :$PORT_A")
[ "$(echo "$ss_out" | awk '{print $4}')" = "127.0.0.1:$PORT_A" ] ||
	fail "gw-a listens on: $ss_out"
ss_out=$(ip netns exec "$NS_B" ss -Htln "sport = :$PORT_B")
[ "$(echo "$ss_out" | awk '{print $4}')" = "[::1]:$PORT_B" ] ||
	fail "gw-b listens on: $ss_out"

# ---- 6. reload -----------------------------------------------------------------
say "6. reload: the metrics settings take a restart"
conf=$WORK/gw-a.conf
cp "$conf" "$WORK/gw-a.conf.orig"
sed -i "s/port = $PORT_A;/port = $((PORT_A + 100));/" "$conf"
grep -q "port = $((PORT_A + 100));" "$conf" || fail "editing the config"
if ctl a reload >"$WORK/reload.out" 2>&1; then
	fail "reload with a new metrics port was accepted"
fi
grep -q "metrics changed: that takes a restart" "$WORK/reload.out" ||
	fail "reload refusal: $(cat "$WORK/reload.out")"
cp "$WORK/gw-a.conf.orig" "$conf"
ctl a reload >"$WORK/reload.out" 2>&1 || fail "reload of the same config: $(cat "$WORK/reload.out")"
scrape a "$WORK/a3.txt"

# ---- 7. scale ------------------------------------------------------------------
T=10000
say "7. scale: $T more tunnels with an SA pair each; one scrape"
"$ROOT/tools/gen_tunnels.py" "$T" add 0x100000 >"$WORK/scale-add"
ctl a -b "$WORK/scale-add" >/dev/null 2>"$WORK/ctl.err" || fail "scale batch: $(head -c 600 "$WORK/ctl.err")"
t0=$(date +%s.%N)
scrape a "$WORK/a4.txt"
t1=$(date +%s.%N)
scrape_s=$("$PY" -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
echo "   scrape of $((T + 1)) tunnels: $scrape_s s, $(wc -c <"$WORK/a4.txt") bytes"
check "scrape at scale" '
t = '"$T"'
s, _ = load("a4.txt")
sas = [dict(k[1]) for k in s if k[0] == "espresso_sa_packets_total"]
assert len(sas) == 2 * t + 2, len(sas)
names = {(x["tunnel"], x["spi"], x["dir"]) for x in sas}
for i in (0, 1, t // 2, t - 1):
    assert ("t%d" % i, "0x%08x" % (0x100000 + i), "out") in names, i
    assert ("t%d" % i, "0x%08x" % (0x200000 + i), "in") in names, i
assert get(s, "espresso_tunnels") == t + 1
assert len([k for k in s if k[0] == "espresso_tunnel_sas"]) == t + 1
'
"$PY" -c 'import sys; sys.exit(not float(sys.argv[1]) < 2.0)' "$scrape_s" ||
	fail "a scrape of $((T + 1)) tunnels took $scrape_s s (limit 2 s)"
! grep -h "metrics: " "$WORK/gw-a.log" "$WORK/gw-b.log" | grep -v "info: metrics: http://" ||
	fail "the gateways logged the lines above about metrics"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping after the scale scrape"

# ---- 8. an address that cannot be bound --------------------------------------
say "8. metrics.listen not on this host: espressod runs on and says why"
gw_stop a
EXTRA_CONF='metrics = { listen = "192.0.2.77"; port = 9477; };' gw_start a
grep -q "metrics: cannot serve http://192.0.2.77:9477/metrics: " "$WORK/gw-a.log" ||
	fail "no message about the metrics address: $(cat "$WORK/gw-a.log")"
tunnel_ready

say "PASS"
