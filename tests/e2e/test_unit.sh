#!/bin/bash
# What `make install` ships, checked without systemd as PID 1:
#  - tools/espressod@.service: `systemd-analyze verify` says nothing (a copy
#    whose ExecStart points at the built espressod), and `systemd-analyze
#    security --offline=yes` scores its exposure at most MAX_EXPOSURE (3.1
#    "OK" measured with systemd 252; 9.6 "UNSAFE" before the hardening)
#  - the unit's sandbox, as far as it can be reproduced here: espressod
#    runs under the unit's CapabilityBoundingSet= and NoNewPrivileges=
#    (setpriv) and LimitMEMLOCK= (prlimit; where this machine cannot raise
#    it, cap_ipc_lock stands in, said so) through a start, traffic, a
#    reload, a SIGKILL, a restart that adopts the program, a clean stop;
#    strace shows that what it did stays inside the rest: each system call
#    in SystemCallFilter=, each socket family in RestrictAddressFamilies=,
#    no writable+executable memory (MemoryDenyWriteExecute=, systemd's
#    seccomp rules: mmap W+X, mprotect +X, shmat SHM_EXEC; with
#    intel-ipsec-mb's dlmopen copies where it is built in), files written
#    only where ProtectSystem=strict leaves room (/dev, /proc, /sys,
#    RuntimeDirectory=, StateDirectory=, PrivateTmp=), devices in DeviceAllow=
#  - workers.crypto = "auto" takes intel-ipsec-mb where it can be used
#  - the man pages: groff -ww finds nothing to warn about, man -l renders
#    them; `make install` puts them under share/man
#
#   ${P}A espressod gw-a (strace, setpriv) ===== veth ===== eB espressod gw-b
QUEUES=2
source "$(dirname "$0")/lib.sh"
MAX_EXPOSURE=${MAX_EXPOSURE:-3.5}
UNIT=$ROOT/tools/espressod@.service
STATE=/var/lib/espresso/$P-a
cleanup() {
	topo_down
	rm -rf "$STATE"
	rmdir /var/lib/espresso 2>/dev/null # if this test made it
}
trap cleanup EXIT
for t in systemd-analyze strace setpriv groff man; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 0; }
done

# prop NAME: the values of NAME= in the unit, one a line
prop() { sed -n "s/^$1=//p" "$UNIT"; }

# the unit as installed, but for ExecStart: the espressod built here
mkdir -p "$WORK/unit"
sed "s#/usr/local/sbin/espressod#$ROOT/espressod#g" "$UNIT" >"$WORK/unit/espressod@.service"

say "systemd-analyze security: exposure at most $MAX_EXPOSURE"
systemd-analyze security --offline=yes --no-pager "$WORK/unit/espressod@.service" \
	>"$WORK/security.txt" 2>&1 || true
grep '✗' "$WORK/security.txt"
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security.txt")
[ -n "$score" ] || fail "no score: $(cat "$WORK/security.txt")"
echo "exposure $score (at most $MAX_EXPOSURE)"
awk "BEGIN{exit !($score <= $MAX_EXPOSURE)}" || fail "exposure $score above $MAX_EXPOSURE"

say "the man pages: no groff warnings, rendered by man"
for m in doc/espressod.8 doc/espressoctl.8 doc/espresso.conf.5; do
	w=$(groff -man -Tutf8 -ww -z "$ROOT/$m" 2>&1)
	[ -z "$w" ] || fail "$m: $w"
	name=$(basename "$m" | sed 's/\.[0-9]$//')
	MANWIDTH=80 man -l "$ROOT/$m" 2>"$WORK/man.err" | col -b >"$WORK/man.txt"
	[ -s "$WORK/man.err" ] && fail "$m: $(cat "$WORK/man.err")"
	grep -q "^NAME" "$WORK/man.txt" && grep -q "^ *$name - " "$WORK/man.txt" ||
		fail "$m renders wrong: $(head "$WORK/man.txt")"
done
# every command of espressoctl --help is in espressoctl.8
MANWIDTH=200 man -l "$ROOT/doc/espressoctl.8" 2>/dev/null | col -b >"$WORK/ctl.txt"
mapfile -t cmds < <("$ROOT/espressoctl" --help 2>&1 | sed -n '/^commands/,/^$/p' |
	sed -n 's/^  \([a-z]\+\( [a-z]\+\)\?\)\( \|$\).*/\1/p')
[ "${#cmds[@]}" -ge 10 ] || fail "espressoctl --help: ${#cmds[@]} commands?"
for c in "${cmds[@]}"; do
	grep -q "^ *$c\b" "$WORK/ctl.txt" || fail "espressoctl.8 lacks \"$c\""
done
echo "espressoctl.8 has all ${#cmds[@]} commands of --help"
say "make install puts the man pages under share/man"
make -s -C "$ROOT" install DESTDIR="$WORK/root" PREFIX=/usr/local >"$WORK/install.log" 2>&1 ||
	fail "make install: $(tail "$WORK/install.log")"
for f in man8/espressod.8 man8/espressoctl.8 man5/espresso.conf.5; do
	[ -f "$WORK/root/usr/local/share/man/$f" ] || fail "not installed: share/man/$f"
done

say "systemd-analyze verify (Documentation=man: pages from make install)"
out=$(MANPATH=$WORK/root/usr/local/share/man systemd-analyze verify "$WORK/unit/espressod@.service" 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "verify complains: $out"

say "espressod under the unit's capabilities and rules, traced"
caps=$(prop CapabilityBoundingSet | tr ' ' '\n' | grep . | tr 'A-Z' 'a-z' |
	sed 's/^cap_/+/' | paste -sd,)
limit=()
if [ "$(prop LimitMEMLOCK)" = infinity ]; then
	if prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
		limit=(prlimit --memlock=unlimited:unlimited)
	else
		echo "(this machine cannot raise RLIMIT_MEMLOCK: +ipc_lock stands in for LimitMEMLOCK=infinity)"
		caps=$caps,+ipc_lock
	fi
fi
echo "bounding set: $caps"
envs=$(prop Environment | tr -d '"')
topo_up
gw_start b
crypto=ipsec-mb
conf=$(CRYPTO=ipsec-mb gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
	10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
ip netns exec "$NS_A" "$ROOT/espressod" -t -c "$conf" >/dev/null 2>&1 || {
	crypto=openssl
	conf=$(gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
		10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
}
echo "crypto: $crypto"
# workers.crypto = "auto" (the default) takes the same backend, and says so
auto=$(CRYPTO=auto gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
	10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
out=$(ip netns exec "$NS_A" "$ROOT/espressod" -t -c "$auto" 2>&1) ||
	fail "crypto = \"auto\": $out"
[[ $out == *"crypto: $crypto (workers.crypto = \"auto\")"* ]] ||
	fail "crypto = \"auto\" did not take $crypto: $out"
conf=$(CRYPTO=$crypto gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 \
	10.2.0.0/16 fd00:2::/64 "$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")
rm -rf "$STATE"

# a_run N KILL: espressod gw-a under strace, setpriv and prlimit; wait
# until it runs; traffic (IPv4, IPv6), a reload, shows; then signal KILL
a_run() {
	local log=$WORK/a$1.log pid=
	# make check SANITIZE=1: LeakSanitizer stops the threads with ptrace,
	# which strace holds (other tests check the same life for leaks)
	# shellcheck disable=SC2086
	ip netns exec "$NS_A" env $envs ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -y -qq -o "$WORK/strace.$1" \
		"${limit[@]}" setpriv --bounding-set "-all,$caps" --inh-caps=-all \
		--no-new-privs "$ROOT/espressod" -c "$conf" >"$log" 2>&1 &
	local spid=$!
	for _ in $(seq 100); do
		grep -q running "$log" && pid=$(cat "/run/espresso/$P-a.lock") && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$pid" ] || { cat "$log"; fail "run $1: espressod did not start"; }
	tunnel_ready
	ctl a reload >/dev/null || fail "run $1: reload"
	for s in sa stats frames tunnels; do ctl a show $s >/dev/null || fail "run $1: show $s"; done
	ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "run $1: ping"
	kill "-$2" "$pid"
	{ wait "$spid"; } 2>/dev/null
	grep -v ': info:' "$log"
}
a_run 1 KILL
a_run 2 TERM
grep -q "replaced the XDP program an earlier espressod left" "$WORK/a2.log" ||
	fail "run 2 did not adopt the program: $(cat "$WORK/a2.log")"
grep -q "info: stopped" "$WORK/a2.log" || fail "no clean stop: $(cat "$WORK/a2.log")"

systemd-analyze syscall-filter --no-pager >"$WORK/groups.txt" 2>/dev/null
/usr/bin/python3 - "$UNIT" "$WORK/groups.txt" "$STATE" "$ROOT/espressod" \
	"$WORK/strace.1" "$WORK/strace.2" <<'EOF' || fail "outside the unit's sandbox"
import re, sys

unit, groups_txt, state, exe = sys.argv[1:5]
props = {}
for line in open(unit):
    m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
    if m:
        props.setdefault(m.group(1), []).append(m.group(2))

groups, cur = {}, None
for line in open(groups_txt):
    if line.startswith("@"):
        cur = groups.setdefault(line.split()[0], [])
    elif cur is not None and line.strip() and not line.strip().startswith("#"):
        cur.append(line.split()[0])

def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return out

allow, deny = set(), set()
for v in props.get("SystemCallFilter", []):
    if v.startswith("~"):
        deny |= expand(v[1:].split())
    else:
        allow |= expand(v.split())
families = set(" ".join(props.get("RestrictAddressFamilies", [])).split())
devices = {v.split()[0] for v in props.get("DeviceAllow", [])}
devices |= {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}
writable = ["/dev/", "/proc/", "/sys/", "/tmp/", "/var/tmp/", state + "/"]
writable += ["/run/%s/" % d for d in " ".join(props.get("RuntimeDirectory", [])).split()]
writable += ["/var/lib/%s/" % d for d in " ".join(props.get("StateDirectory", [])).split()]

bad, used, fams = [], set(), set()
for path in sys.argv[5:]:
    started = False
    for line in open(path):
        m = re.match(r"^\d+\s+([a-z_0-9]+)\((.*)$", line)
        if not m:
            continue
        name, args = m.groups()
        if not started:  # setpriv's own calls, up to the execve of espressod
            started = name == "execve" and exe in args
            continue
        used.add(name)
        failed = re.search(r"\) += -1 ", line) is not None
        if name in ("mmap", "mmap2") and "PROT_WRITE" in args.split(",")[2] \
                and "PROT_EXEC" in args.split(",")[2]:
            bad.append("W+X mapping: " + line.strip())
        if name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in args:
            bad.append("mprotect +X: " + line.strip())
        if name == "shmat" and "SHM_EXEC" in args:
            bad.append("shmat SHM_EXEC: " + line.strip())
        if name in ("socket", "socketpair"):
            fams.add(args.split(",")[0])
        # where it writes: absolute paths, or relative to a dirfd (strace -y)
        paths = []
        at = r'(?:(?:AT_FDCWD|\d+)(?:<([^>]*)>)?, )?"([^"]*)"'
        if name in ("openat", "open") and re.search(r"O_(WRONLY|RDWR|CREAT)", args):
            paths = re.findall(at, args)[:1]
        elif name in ("mkdir", "mkdirat", "unlink", "unlinkat", "rmdir",
                      "renameat", "renameat2", "rename", "chmod", "mount"):
            paths = re.findall(at, args)
        elif name == "bind" and "AF_UNIX" in args:
            paths = re.findall(r'()sun_path="([^"]*)"', args)
        for d, p in paths:
            full = p if p.startswith("/") or not d else d + "/" + p
            if name == "mount":
                full = re.findall(r'"([^"]*)"', args)[1]
            if failed or full in ("bpf", "none"):
                continue
            if not any((full + "/").startswith(w) for w in writable):
                bad.append("writes %s (%s): ProtectSystem=strict" % (full, name))
            if full.startswith("/dev/") and full not in devices:
                bad.append("opens device %s: not in DeviceAllow=" % full)
outside = sorted(n for n in used if (allow and n not in allow) or n in deny)
if outside:
    bad.append("system calls outside SystemCallFilter=: " + " ".join(outside))
if not fams <= families:
    bad.append("socket families outside RestrictAddressFamilies=: %s" % (fams - families))
print("traced: %d distinct system calls, socket families %s"
      % (len(used), " ".join(sorted(fams))))
for b in dict.fromkeys(bad):
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
say "PASS"
