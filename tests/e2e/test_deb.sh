#!/bin/bash
# The Debian package, end to end: `make deb` (dpkg-buildpackage from a copy
# of the tree), then tests/deb/deb_check.sh: `apt install` into a fresh
# Debian 12 root, booted with systemd-nspawn, `systemctl start
# espressod@gw-a` and a tunnel through it (see there). About 35 s with the
# root cached in /var/cache/espresso; the first run makes it (debootstrap,
# about a minute more).
set -e
cd "$(dirname "$0")/../.."
for t in systemd-nspawn debootstrap dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || tools/deps.sh deb
done
t0=$(date +%s)
make -s --no-print-directory deb >/tmp/espresso-deb-build.$$.log 2>&1 || {
	tail -30 /tmp/espresso-deb-build.$$.log
	rm -f /tmp/espresso-deb-build.$$.log
	exit 1
}
rm -f /tmp/espresso-deb-build.$$.log
echo "make deb: $(($(date +%s) - t0)) s: $(ls build/deb/*.deb | xargs -n1 basename | paste -sd' ')"
exec bash tests/deb/deb_check.sh build/deb/espresso_*_"$(dpkg --print-architecture)".deb
