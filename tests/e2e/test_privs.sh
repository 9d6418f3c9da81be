#!/bin/bash
# Least privilege and secrets, on a running gateway:
#  - once set up, espressod's control thread holds exactly CAP_NET_ADMIN
#    (effective, permitted, bounding; nothing inheritable or ambient) and
#    its worker threads hold no capability at all (/proc/PID/task/*/status);
#  - what it still does works without the rest: traffic through the
#    tunnel, XDP counters read from the BPF map, `tunnel add`, `sa add`
#    (its inbound SPI into the XDP map), `route add` (a kernel route into
#    the tun), `reload` adding a tunnel and its route, a reload refused
#    for a key file others may read; and the clean stop: exit status 0,
#    XDP detached, pins gone, threaded NAPI put back, tun and routes gone;
#  - no key, whole or any 8-byte piece (16 hex digits, either case), nor
#    raw in binary files, reaches the log, `show` (text and -j), or the
#    state directory;
#  - in the running daemon's memory, each key's bytes lie only in locked
#    pages left out of core dumps (the SA keys and OpenSSL's contexts).
#
#   ${P}A: espressod gw-a (checked) -- eA ===== veth ===== eB -- espressod gw-b
#          + tunnel to-c / to-d (espressoctl, reload; nobody at their far end)
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

PY=/usr/bin/python3
CONF=$WORK/gw-a.conf
KEY_C_OUT=3c0d1f2e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4
KEY_C_IN=5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a
KEY_D_OUT=71c2d3e4f5a6b7c8d9eafb0c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9eafb0c1d2e
KEY_D_IN=8e9fa0b1c2d3e4f5a6b7c8d9eafb0c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9ea01
CAP_NET_ADMIN_MASK=0000000000001000 # bit 12
ZERO=0000000000000000

decode() { # capsh's names where it is installed (libcap2-bin)
	if command -v capsh >/dev/null; then capsh --decode="$1" | sed 's/^[^=]*=//'; else echo "0x$1"; fi
}
cap_field() { # cap_field TID FIELD
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$PID_A/task/$1/status"
}

say "topology and gateways"
topo_up
napi_before=$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)
gw_start b
gw_start a
tunnel_ready

say "capabilities of each thread of gw-a"
grep -q "privileges: kept net_admin (" "$WORK/gw-a.log" ||
	fail "no privileges line: $(grep -i privileges "$WORK/gw-a.log")"
grep "privileges:" "$WORK/gw-a.log"
nthreads=0
for task in /proc/"$PID_A"/task/*; do
	tid=${task##*/}
	nthreads=$((nthreads + 1))
	if [ "$tid" = "$PID_A" ]; then want=$CAP_NET_ADMIN_MASK who=control; else want=$ZERO who=worker; fi
	for f in CapEff CapPrm CapBnd; do
		got=$(cap_field "$tid" $f)
		[ "$got" = "$want" ] || fail "$who thread $tid: $f $got ($(decode "$got")), want $want ($(decode "$want"))"
	done
	for f in CapInh CapAmb; do
		got=$(cap_field "$tid" $f)
		[ "$got" = "$ZERO" ] || fail "$who thread $tid: $f $got ($(decode "$got"))"
	done
	echo "  $who $tid: CapEff $(cap_field "$tid" CapEff) = $(decode "$(cap_field "$tid" CapEff)")"
done
[ "$nthreads" -ge 2 ] || fail "expected the control thread and a worker, found $nthreads thread(s)"

say "the dataplane works without the dropped capabilities"
ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 2 10.2.0.1 >"$WORK/ping.txt" ||
	fail "ping through the tunnel: $(cat "$WORK/ping.txt")"
stats=$(ctl a show stats) || fail "show stats: $stats"
[ "$(counter "$stats" redirect_esp)" -gt 0 ] ||
	fail "XDP counters not read from the map (no CAP_BPF needed): $stats"

say "espressoctl: tunnel add, sa add, route add (into the kernel)"
xdp_before=$(bpf_dump a espresso_sa_in | grep -c '"sa_index"')
ctl a tunnel add to-c local 192.0.2.1 remote 192.0.2.3 || fail "tunnel add"
ctl a sa add to-c out spi 0x3000 key "$KEY_C_OUT" || fail "sa add out"
ctl a sa add to-c in spi 0x4000 key "$KEY_C_IN" || fail "sa add in"
ctl a route add 10.3.0.0/16 tunnel to-c || fail "route add"
ip -n "$NS_A" route show proto 229 | grep -q '^10.3.0.0/16 dev esp0' ||
	fail "route add: no kernel route: $(ip -n "$NS_A" route show proto 229)"
xdp_after=$(bpf_dump a espresso_sa_in | grep -c '"sa_index"')
[ "$xdp_after" = $((xdp_before + 1)) ] ||
	fail "sa add in: XDP map has $xdp_after entries, want $((xdp_before + 1))"
ctl a show sa | grep -q 0x00004000 || ctl a show sa | grep -qi 0x4000 ||
	fail "sa add: $(ctl a show sa)"

say "reload: a tunnel with a key file comes up, its route into the kernel"
install -m 600 /dev/null "$WORK/d-in.key"
echo "$KEY_D_IN" >"$WORK/d-in.key"
"$PY" - "$CONF" "$KEY_D_OUT" >"$CONF.new" <<'EOF'
import sys
src, ko = sys.argv[1:]
t = open(src).read()
head, sep, tail = t.rpartition("  );\n")
assert sep, "no end of the tunnels list"
sys.stdout.write(head + f'''    ,{{ name = "to-d"; local = "192.0.2.1"; remote = "192.0.2.4"; encap = "esp";
      cipher = "aes-gcm-256";
      outbound = {{ spi = 0x5000; key = "{ko}"; }};
      inbound  = {{ spi = 0x6000; key_file = "d-in.key"; }};
      routes = [ "10.4.0.0/16" ]; }}
''' + sep + tail)
EOF
chmod 600 "$CONF.new"
cp "$CONF.new" "$CONF.with-d"
chmod 644 "$WORK/d-in.key"
mv "$CONF.new" "$CONF"
if out=$(ctl a reload 2>&1); then
	fail "reload accepted a key file others may read"
fi
echo "$out" | grep -q "allow_insecure_key_files" || fail "refused reload: $out"
echo "$out" | grep -q "mode 0644" || fail "refused reload: $out"
chmod 600 "$WORK/d-in.key"
out=$(ctl a reload 2>&1) || fail "reload: $out"
ip -n "$NS_A" route show proto 229 | grep -q '^10.4.0.0/16 dev esp0' ||
	fail "reload: no kernel route 10.4.0.0/16: $(ip -n "$NS_A" route show proto 229)"
ctl a show tunnels | grep -q to-d || fail "reload: no tunnel to-d: $(ctl a show tunnels)"
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping after reload"

say "no key material in the log, show output or state directory"
for j in "" -j; do
	for what in sa tunnels stats routes frames; do
		# shellcheck disable=SC2086
		ctl a $j show $what >"$WORK/show-$what$j.txt" 2>&1 || fail "show $what $j"
	done
done
ctl a show stats >/dev/null # a last line in the log, if any
"$PY" - "$WORK" "$KEY_AB" "$KEY_BA" "$KEY_C_OUT" "$KEY_C_IN" "$KEY_D_OUT" "$KEY_D_IN" <<'EOF' ||
import glob, os, sys
work, keys = sys.argv[1], sys.argv[2:]
files = [f"{work}/gw-a.log"] + glob.glob(f"{work}/show-*.txt")
files += [p for p in glob.glob(f"{work}/state-a/**", recursive=True) if os.path.isfile(p)]
state = [p for p in files if "/state-a/" in p]
assert state, "no state files to check"
bad = []
for path in files:
    data = open(path, "rb").read()
    low = data.lower()
    for k in keys:
        raw = bytes.fromhex(k)
        for i in range(0, len(k) - 15, 2):  # every 8-byte piece, as hex
            if k[i:i + 16].encode() in low:
                bad.append(f"{path}: hex {k[i:i + 16]}")
                break
        for i in range(0, len(raw) - 7):     # and as raw bytes
            if raw[i:i + 8] in data:
                bad.append(f"{path}: raw bytes of key {k[:8]}... at key offset {i}")
                break
print(f"checked {len(files)} files ({len(state)} in the state directory) for {len(keys)} keys")
if bad:
    print("\n".join(bad))
    sys.exit(1)
EOF
	fail "key material found"

say "key memory: each key's bytes only in locked pages out of core dumps"
# /proc/PID/mem of the running gateway: the raw key (an AES key schedule
# starts with it, ChaCha20 keeps it as is) may lie only in mappings marked
# dd (MADV_DONTDUMP) and locked: the secret pool, where the SA keys and,
# through CRYPTO_set_mem_functions, OpenSSL's cipher contexts live. The
# main thread's stack is not looked at (a key passes through it).
# Not with ASan (make check SANITIZE=1): its mlock() locks nothing and its
# shadow is terabytes of writable mappings.
if ldd "$ROOT/espressod" | grep -q libasan; then
	echo "SKIP: espressod is built with ASan"
else
"$PY" - "$PID_A" "$KEY_AB" "$KEY_BA" "$KEY_C_OUT" "$KEY_C_IN" "$KEY_D_OUT" "$KEY_D_IN" <<'EOF' ||
import re, sys
pid, keys = sys.argv[1], sys.argv[2:]
maps, cur = [], None
for line in open(f"/proc/{pid}/smaps"):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
    if m:
        cur = [int(m[1], 16), int(m[2], 16), m[3], m[4].strip(), ""]
        maps.append(cur)
    elif line.startswith("VmFlags:"):
        cur[4] = line.split()[1:]
found, bad = {k: 0 for k in keys}, []
with open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for lo, hi, perms, name, flags in maps:
        if not perms.startswith("rw") or name in ("[stack]", "[vvar]", "[vsyscall]"):
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        for k in keys:
            raw = bytes.fromhex(k)[:16]
            n = data.count(raw)
            if not n:
                continue
            if "dd" in flags and "lo" in flags:
                found[k] += n
            elif name.startswith("/") and raw in open(name, "rb").read():
                pass  # a library's own data (libgcrypt has 00 01 02 ... 0f)
            else:
                bad.append(f"key {k[:8]}... {n}x at {lo:x}-{hi:x} {name or '(anon)'} {' '.join(flags)}")
missing = [k[:8] for k, n in found.items() if not n]
print(f"keys in the secret pool: {sorted(found.values())}; elsewhere: {len(bad)}")
if bad:
    print("\n".join(bad))
    sys.exit(1)
if missing:  # every key is in use: its context must be somewhere
    print(f"keys not found at all (the scan is blind?): {missing}")
    sys.exit(1)
EOF
	fail "key bytes outside locked, non-dumpable memory"
fi

say "clean stop with the capabilities left: everything undone"
[ "$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)" = 1 ] || fail "threaded NAPI not on while running"
kill -TERM "$PID_A"
wait "$PID_A"
rc=$?
PID_A=
[ "$rc" = 0 ] || fail "exit status $rc: $(tail -5 "$WORK/gw-a.log")"
grep -q "XDP program detached, pins removed" "$WORK/gw-a.log" ||
	fail "XDP not detached: $(tail -8 "$WORK/gw-a.log")"
stop_msgs=$(sed -n '/stopping/,$p' "$WORK/gw-a.log" | grep -E 'warning|error' || true)
[ -z "$stop_msgs" ] || fail "warnings at stop (a capability missing?): $stop_msgs"
! ip -n "$NS_A" link show eA | grep -q 'prog/xdp' || fail "XDP left attached"
! ip -n "$NS_A" link show esp0 >/dev/null 2>&1 || fail "tun left after the stop"
[ -z "$(ip -n "$NS_A" route show proto 229)" ] || fail "routes left: $(ip -n "$NS_A" route show proto 229)"
[ "$(ip netns exec "$NS_A" cat /sys/class/net/eA/threaded)" = "$napi_before" ] ||
	fail "threaded NAPI not put back to $napi_before"
[ ! -e "/run/espresso/$P-a.sock" ] || fail "control socket left"
[ ! -e "/run/espresso/$P-a.napi" ] || fail "threaded NAPI note left"
say "PASS"
