#!/bin/bash
# Install the Debian packages espresso needs that are missing. Quick when none is.
# usage: tools/deps.sh [build|check|demo|bench|deb|strongswan]
#   strongswan: also strongSwan's source, configured as Debian's (tools/strongswan/)
set -e
set -o pipefail
want="make gcc clang llvm pkg-config libxdp-dev libbpf-dev libssl-dev libconfig-dev \
libmnl-dev libsystemd-dev libjson-c-dev libmicrohttpd-dev libelf-dev zlib1g-dev linux-libc-dev xdp-tools bpftool \
libcap-ng-dev libpcap-dev"
# intel-ipsec-mb: the optional ipsec-mb crypto backend (x86-64 only)
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  want="$want libipsec-mb-dev"
fi
case "${1:-check}" in
check|demo)
  want="$want libcriterion-dev iproute2 iperf3 tshark python3-scapy python3-cryptography \
ethtool iputils-ping procps util-linux libclang-rt-14-dev openssl \
python3-prometheus-client \
systemd strace groff-base man-db bsdextrautils \
strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins strongswan-pki nftables conntrack valgrind";;
deb)
  # make deb (debhelper) and make deb-check (a fresh Debian root, booted
  # with systemd-nspawn)
  want="$want debhelper dpkg-dev fakeroot debootstrap systemd-container lintian groff-base";;
strongswan)
  # the charon plugin: the daemon it loads into, and bzip2 for the source
  want="$want strongswan-charon strongswan-swanctl bzip2";;
bench)
  # the plot; the peers' packages come with tools/bench_peers.sh
  want="$want gnuplot-nox bsdextrautils"
  # DPDK's ipsec-secgw, the router topology's peer (tools/bench_secgw.sh):
  # the example's source ships in dpdk-doc, built against libdpdk-dev
  if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
    want="$want dpdk dpdk-dev libdpdk-dev dpdk-doc"
  fi;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  [ "${1:-check}" = strongswan ] && exec "$(dirname "$0")/strongswan/fetch.sh"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq >&2
# strongSwan's packages start a system charon (strongswan-starter) when
# installed; the tests run their own charons in namespaces: start none now
rc_block=""
case "$missing" in
*strongswan*|*libcharon*)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# tools/deps.sh, while installing: start no daemon\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    rc_block=1
  fi;;
esac
apt-get install -y -qq --no-install-recommends $missing >&2 || { [ -z "$rc_block" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
[ -z "$rc_block" ] || rm -f /usr/sbin/policy-rc.d
[ "${1:-check}" = strongswan ] && exec "$(dirname "$0")/strongswan/fetch.sh"
exit 0
