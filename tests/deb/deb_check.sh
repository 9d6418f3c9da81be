#!/bin/bash
# make deb-check: the Debian package on a fresh Debian 12, run by systemd.
#   tests/deb/deb_check.sh [build/deb/espresso_VERSION_ARCH.deb]
#
#  1. A fresh root: debootstrap --variant=minbase with systemd-sysv and
#     iproute2 from the Debian mirror apt uses here, brought up to date
#     (bookworm-updates, -security), kept in /var/cache/espresso/ (made once,
#     about 2 minutes; DEB_ROOT_REFRESH=1 makes it again). Each run sees it
#     through an overlay, so every run starts from the same fresh root.
#  2. `apt install ./espresso_*.deb` in it (systemd-nspawn, this host's
#     network): apt resolves the dependencies from Debian alone.
#  3. Every file lands where the package says; `espressod --version` is the
#     package's version (and include/espresso/version.h's); `systemd-analyze
#     verify` of the installed unit says nothing; its offline `security`
#     exposure at most MAX_EXPOSURE. lintian finds nothing (errors, warnings).
#  4. The root booted (systemd-nspawn -b, systemd as PID 1) in namespace A of
#     tests/e2e/lib.sh; gateway B is the packaged espressod run on this host
#     in namespace B. /etc/espresso/gw-a.conf, then `systemctl start
#     espressod@gw-a`: active, READY=1 (Type=notify), a ping each way
#     through the tunnel (IPv4, IPv6), `espressoctl show sa` in the root,
#     `systemctl reload`, `systemd-analyze security` of the running unit
#     at most MAX_EXPOSURE (0.1 more than offline where the memlock drop-in
#     below adds CAP_IPC_LOCK),
#     the package reinstalled as an upgrade (postinst stops the instance
#     for a restart and starts it: a new PID, the same tun, no route into
#     it deleted meanwhile, the XDP program adopted, the tunnel back),
#     `systemctl stop` (tun removed, XDP
#     detached), `apt purge` (files and /var/lib/espresso gone).
#
#   netns ${P}A: the booted root, espressod@gw-a ==== veth ==== ${P}B: espressod gw-b

source "$(dirname "$0")/../e2e/lib.sh"
SRC=$ROOT
DEB=${1:-$(ls -t "$SRC"/build/deb/espresso_*.deb 2>/dev/null | head -1)}
[ -f "$DEB" ] || fail "no package: make deb"
DEB=$(realpath "$DEB")
MAX_EXPOSURE=${MAX_EXPOSURE:-3.5}
CACHE=${DEB_CACHE:-/var/cache/espresso}
SUITE=bookworm
BASE=$CACHE/root-$SUITE
MIRROR=${DEB_MIRROR:-$(sed -n 's#^URIs: *\(.*/debian\)/*$#\1#p' \
	/etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
R=$WORK/root
NSPAWN_PID= LEADER= MON_PID=
t_start=$(date +%s)

for t in debootstrap systemd-nspawn dpkg-deb nsenter lintian; do
	command -v "$t" >/dev/null || fail "no $t: tools/deps.sh deb"
done

# in ROOT CMD...: CMD in the root, not booted (its own mount, PID, IPC and
# UTS namespaces; this host's network, resolv.conf; apt's downloads kept)
in_root() {
	systemd-nspawn -q --pipe --register=no --keep-unit --resolv-conf=copy-host \
		--setenv=SYSTEMD_COLORS=0 \
		--bind="$CACHE/apt-archives:/var/cache/apt/archives" -D "$R" "$@" \
		2> >(grep -v '^Attempted to remove disk file system' >&2)
}
# in_boot CMD...: CMD in the booted root, beside its systemd
in_boot() { nsenter -t "$LEADER" -a env SYSTEMD_COLORS=0 "$@"; }

cleanup() {
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		[ -n "$LEADER" ] && kill -RTMIN+4 "$LEADER" 2>/dev/null # poweroff
		for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
	fi
	mountpoint -q "$R" && umount "$R"
	# nspawn leaves this behind when /run is not a tmpfs
	rm -rf "/run/systemd/nspawn/propagate/$(basename "$R")"
	topo_down
}
trap cleanup EXIT

# --- 1. the fresh root, cached -------------------------------------------
make_base() {
	local tmp=$BASE.new t0
	t0=$(date +%s)
	rm -rf "$tmp"
	say "debootstrap $SUITE from $MIRROR into $BASE (once)"
	debootstrap --variant=minbase --include=systemd-sysv,iproute2 \
		"$SUITE" "$tmp" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		fail "debootstrap: $(tail -5 "$WORK/debootstrap.log")"
	rm -f "$tmp/etc/apt/sources.list"
	cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	systemd-nspawn -q --register=no --keep-unit --resolv-conf=copy-host -D "$tmp" \
		sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq dist-upgrade && apt-get clean' \
		>"$WORK/upgrade.log" 2>&1 || fail "root upgrade: $(tail -5 "$WORK/upgrade.log")"
	rm -rf "/run/systemd/nspawn/propagate/$(basename "$tmp")"
	rm -rf "$BASE" && mv "$tmp" "$BASE"
	echo "fresh root made in $(($(date +%s) - t0)) s"
}
mkdir -p "$CACHE/apt-archives/partial"
(
	flock 9
	[ -n "${DEB_ROOT_REFRESH:-}" ] && rm -rf "$BASE"
	[ -x "$BASE/lib/systemd/systemd" ] || make_base
) 9>"$CACHE/.lock" || exit 1
mkdir -p "$R" "$WORK/upper" "$WORK/ovl"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$R" ||
	{ echo "(no overlay: a copy)"; cp -a "$BASE/." "$R/"; }

say "lintian $(basename "$DEB")"
lintian --fail-on error,warning "$DEB" 2>&1 | grep -v 'not recommended' && fail "lintian"
echo "clean"

# --- 2. apt install ./espresso_*.deb ------------------------------------
say "apt install ./$(basename "$DEB") in a fresh $SUITE root"
cp "$DEB" "$R/root/" # nspawn mounts a tmpfs on /tmp
t0=$(date +%s)
in_root sh -c "cd /root && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt install -y -q ./$(basename "$DEB")" \
	>"$WORK/install.log" 2>&1 || fail "apt install: $(tail -20 "$WORK/install.log")"
echo "$(grep -c '^Setting up' "$WORK/install.log") packages set up: $(sed -n \
	's/^Setting up \([^: ]*\).*/\1/p' "$WORK/install.log" | sort | paste -sd' ')"
echo "apt update + install: $(($(date +%s) - t0)) s"

# --- 3. the files, the version, the unit --------------------------------
say "the files where the package puts them"
files="/usr/sbin/espressod /usr/sbin/espressoctl /usr/lib/espresso/espresso.bpf.o
/lib/systemd/system/espressod@.service /usr/share/man/man8/espressod.8.gz
/usr/share/man/man8/espressoctl.8.gz /usr/share/man/man5/espresso.conf.5.gz
/usr/share/doc/espresso/README.md /usr/share/doc/espresso/copyright
/usr/share/doc/espresso/examples/example.conf /usr/share/doc/espresso/examples/example-peer.conf"
for f in $files; do
	[ -f "$R$f" ] || fail "not installed: $f"
done
[ "$(stat -c %a "$R/etc/espresso")" = 700 ] || fail "/etc/espresso is not 0700"
cmp -s "$R/usr/lib/espresso/espresso.bpf.o" <(dpkg-deb --fsys-tarfile "$DEB" |
	tar -xOf - ./usr/lib/espresso/espresso.bpf.o) || fail "the BPF object changed on its way"
grep -q '^ExecStart=/usr/sbin/espressod -c /etc/espresso/%i.conf$' \
	"$R/lib/systemd/system/espressod@.service" || fail "the unit does not run /usr/sbin/espressod"
if dpkg-deb -c "$DEB" | grep -q libstrongswan-kernel-espresso.so; then
	[ -f "$R/usr/lib/ipsec/plugins/libstrongswan-kernel-espresso.so" ] ||
		fail "strongSwan plugin in the package, not installed"
	echo "strongSwan plugin: /usr/lib/ipsec/plugins/libstrongswan-kernel-espresso.so"
else
	echo "strongSwan plugin: not in this package"
fi
for m in "$R"/usr/share/man/man*/espresso*.gz; do
	w=$(zcat "$m" | groff -man -Tutf8 -ww -z 2>&1) && [ -z "$w" ] || fail "$m: $w"
done
echo "$(echo "$files" | wc -w) files, the unit and /etc/espresso (0700); the man pages render (groff -ww)"

say "espressod --version is the package's version"
pkgver=$(dpkg-deb -f "$DEB" Version)
srcver=$(sed -n 's/^#define ESPRESSO_VERSION "\(.*\)"$/\1/p' "$SRC/include/espresso/version.h")
v=$(in_root espressod --version) || fail "espressod --version: $v"
echo "$v; espressoctl: $(in_root espressoctl --version)"
[ "$v" = "espressod $pkgver" ] || fail "espressod --version says \"$v\", the package is $pkgver"
[ "$srcver" = "$pkgver" ] || fail "debian/changelog $pkgver, include/espresso/version.h $srcver"

say "systemd-analyze verify and security of the installed unit"
out=$(in_root systemd-analyze verify --man=no /lib/systemd/system/espressod@.service 2>&1) ||
	fail "verify: $out"
[ -z "$out" ] || fail "verify complains: $out"
in_root systemd-analyze security --offline=yes --no-pager \
	/lib/systemd/system/espressod@.service >"$WORK/security.txt" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security.txt")
[ -n "$score" ] || fail "no score: $(cat "$WORK/security.txt")"
echo "offline exposure $score (at most $MAX_EXPOSURE)"
awk "BEGIN{exit !($score <= $MAX_EXPOSURE)}" || fail "exposure $score above $MAX_EXPOSURE"

# --- 4. booted: systemctl start espressod@gw-a --------------------------
# gateway B: the packaged espressod, as a tree lib.sh runs ($ROOT/espressod,
# $ROOT/bpf/espresso.bpf.o next to it)
ROOT=$WORK/pkg
mkdir -p "$ROOT/bpf"
cp "$R/usr/sbin/espressod" "$R/usr/sbin/espressoctl" "$ROOT/"
cp "$R/usr/lib/espresso/espresso.bpf.o" "$ROOT/bpf/"
topo_up
gw_start b
cp "$(gw_conf a eA 10.1.0.1/32 fd00:1::1/128 192.0.2.1 192.0.2.2 10.2.0.0/16 fd00:2::/64 \
	"$SPI_AB" "$KEY_AB" "$SPI_BA" "$KEY_BA")" "$R/etc/espresso/gw-a.conf"
chmod 600 "$R/etc/espresso/gw-a.conf"
# Where this host cannot raise RLIMIT_MEMLOCK (no CAP_SYS_RESOURCE, as in
# some containers), LimitMEMLOCK=infinity would fail the start: a drop-in
# keeps the hard limit and lets CAP_IPC_LOCK lift it (said so)
if ! prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
	mkdir -p "$R/etc/systemd/system/espressod@.service.d"
	cat >"$R/etc/systemd/system/espressod@.service.d/memlock.conf" <<EOF
# deb_check.sh: this host cannot raise RLIMIT_MEMLOCK
[Service]
LimitMEMLOCK=$(($(ulimit -Hl) * 1024))
CapabilityBoundingSet=CAP_IPC_LOCK
EOF
	echo "(this host cannot raise RLIMIT_MEMLOCK: a drop-in keeps $(ulimit -Hl) KiB and adds CAP_IPC_LOCK)"
fi

say "boot the root (systemd-nspawn -b) in $NS_A"
# /sys writable as on a machine: espressod sets threaded NAPI on the veth
SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 systemd-nspawn -q -b --register=no --keep-unit \
	--network-namespace-path="/run/netns/$NS_A" -M "$P" \
	--capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON,CAP_IPC_LOCK --system-call-filter=bpf \
	--console=read-only -D "$R" >"$WORK/boot.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 100); do
	LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd | head -1)
	[ -n "$LEADER" ] && break
	sleep 0.1
done
[ -n "$LEADER" ] || fail "no systemd in the root: $(tail "$WORK/boot.log")"
state=
for _ in $(seq 300); do # until its manager answers, then until it is up
	state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>/dev/null)
	[ -n "$state" ] && break
	sleep 0.2
done
echo "systemd in the root: $state"
[ "$state" = running ] || [ "$state" = degraded ] || fail "boot: $state"
[ "$(stat -L -c %i "/proc/$LEADER/ns/net")" = "$(stat -L -c %i "/run/netns/$NS_A")" ] ||
	fail "the root is not in $NS_A"

say "systemctl start espressod@gw-a"
in_boot systemctl start espressod@gw-a ||
	fail "start: $(in_boot journalctl -u espressod@gw-a --no-pager | tail -20)"
[ "$(in_boot systemctl is-active espressod@gw-a)" = active ] || fail "not active"
pid1=$(in_boot systemctl show -P MainPID espressod@gw-a)
echo "active, MainPID $pid1 (in the root), Type=$(in_boot systemctl show -P Type espressod@gw-a)"
tunnel_ready
in_boot espressoctl -i "$P-a" show sa >"$WORK/sa.txt" || fail "espressoctl show sa"
grep -q "out spi 0x00001000" "$WORK/sa.txt" && grep -q "in spi 0x00002000" "$WORK/sa.txt" || fail "show sa: $(cat "$WORK/sa.txt")"
echo "ping through the tunnel each way; espressoctl show sa: SPIs 0x1000 and 0x2000"
# set up, the daemon keeps CAP_NET_ADMIN alone (effective and permitted)
caps=$(in_boot sed -n 's/^Cap\(Eff\|Prm\):\t//p' "/proc/$pid1/status" | sort -u)
[ "$caps" = 0000000000001000 ] || fail "capabilities after set-up: $caps"
echo "capabilities after set-up: cap_net_admin alone"

say "systemctl reload espressod@gw-a"
in_boot systemctl reload espressod@gw-a || fail "reload"
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null || fail "ping after reload"
[ "$(in_boot systemctl show -P MainPID espressod@gw-a)" = "$pid1" ] || fail "reload restarted it"
in_boot systemd-analyze security --no-pager espressod@gw-a.service >"$WORK/security-live.txt" 2>&1 || true
live=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security-live.txt")
[ -n "$live" ] || fail "no score: $(cat "$WORK/security-live.txt")"
echo "reloaded, same PID; systemd-analyze security espressod@gw-a.service: $live (running)"
awk "BEGIN{exit !($live <= $MAX_EXPOSURE)}" || fail "exposure $live above $MAX_EXPOSURE"
# the journal's warnings: only the one this kernel may give (libxdp's
# dispatcher refused, README "systemd"), said so
in_boot journalctl -u espressod@gw-a --no-pager -p warning -o cat | grep -v '^-- ' >"$WORK/warn.txt"
sed 's/^/  journal: /' "$WORK/warn.txt"
grep -v 'libxdp could not use its dispatcher' "$WORK/warn.txt" && fail "warnings in the journal"

say "apt reinstall, as an upgrade: postinst restarts the instance, fail closed"
# a stop for a restart (SIGUSR2) and a start: the tun (same ifindex) and
# the routes into it stay across it, never deleted, so nothing protected
# follows the default route in clear meanwhile
tun1=$(ip -n "$NS_A" -o link show esp0 | cut -d: -f1)
ip -n "$NS_A" monitor route >"$WORK/route-monitor.txt" 2>&1 &
MON_PID=$!
in_boot sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall /root/$(basename "$DEB")" \
	>"$WORK/reinstall.log" 2>&1 || fail "reinstall: $(tail "$WORK/reinstall.log")"
kill "$MON_PID"
wait "$MON_PID" 2>/dev/null
pid2=$(in_boot systemctl show -P MainPID espressod@gw-a)
[ "$(in_boot systemctl is-active espressod@gw-a)" = active ] && [ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] ||
	fail "not restarted by the upgrade (PID $pid1, now $pid2)"
tunnel_ready
tun2=$(ip -n "$NS_A" -o link show esp0 | cut -d: -f1)
[ "$tun1" = "$tun2" ] || fail "the tun was removed and made again by the upgrade (ifindex $tun1 -> $tun2)"
grep -E '^Deleted .*(10\.2\.0\.0/16|fd00:2::/64)' "$WORK/route-monitor.txt" &&
	fail "the upgrade removed a route into the tun"
in_boot journalctl -u espressod@gw-a --no-pager -o cat >"$WORK/journal.txt"
grep -q 'stopping for a restart' "$WORK/journal.txt" || fail "the upgrade did not stop it for a restart"
grep -qE '(replaced|detached) the XDP program an earlier espressod left' "$WORK/journal.txt" ||
	fail "the new espressod did not adopt the XDP program"
# an upgrade is no crash: no warning about what it adopted
in_boot journalctl -u espressod@gw-a --no-pager -p warning -o cat | grep 'espressod left' &&
	fail "the upgrade's adoption was logged as a warning"
echo "restarted (PID $pid1 -> $pid2), tunnel back; tun $tun1 kept, no route into it deleted, XDP program adopted"

say "systemctl stop espressod@gw-a: tun removed, XDP detached"
in_boot systemctl stop espressod@gw-a || fail "stop"
ip -n "$NS_A" link show esp0 >/dev/null 2>&1 && fail "the tun is still there"
ip -n "$NS_A" link show eA | grep -q xdp && fail "XDP still attached to eA"
in_boot journalctl -u espressod@gw-a --no-pager -o cat | grep -q 'stopped' ||
	fail "no clean stop in the journal"

say "apt purge espresso"
in_boot systemctl start espressod@gw-a || fail "start again"
in_boot sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q espresso' >"$WORK/purge.log" 2>&1 ||
	fail "purge: $(tail "$WORK/purge.log")"
[ "$(in_boot systemctl is-active espressod@gw-a)" != active ] || fail "still running after removal"
for f in $files; do [ -e "$R$f" ] && fail "left after purge: $f"; done
[ -e "$R/var/lib/espresso" ] && fail "/var/lib/espresso left after purge"
[ -f "$R/etc/espresso/gw-a.conf" ] || fail "purge removed the administrator's config"
echo "removal stopped the instance; files and /var/lib/espresso gone, /etc/espresso/gw-a.conf kept"
say "PASS ($(($(date +%s) - t_start)) s)"
