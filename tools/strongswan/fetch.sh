#!/bin/bash
# strongSwan's source, configured as Debian 12 configured the installed charon,
# so the plugin is built against the very headers and config.h (ME, IKEv1/2,
# printf hooks) whose struct layouts charon uses. Nothing but Debian's archive
# is contacted. Quick when build/strongswan/src/config.h is there already.
#
#   tools/strongswan/fetch.sh      (tools/deps.sh strongswan calls it)
# Prints nothing on success but what apt and configure say on stderr.
set -e
set -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/strongswan
want_pkg=5.9.8-5+deb12u5          # the main archive's: its .dsc and debian.tar come too
have=$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || true)
[ -n "$have" ] || { echo "strongswan: strongswan-charon is not installed (tools/deps.sh strongswan)" >&2; exit 1; }
have_up=${have%%-*}
[ -f "$dir/src/config.h" ] && [ "$(cat "$dir/upstream" 2>/dev/null)" = "$have_up" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "strongswan: run as root (apt-get source)" >&2; exit 1; }
rm -rf "$dir"; mkdir -p "$dir/dl"
# a deb-src entry for Debian's main archive, only while apt fetches
list=/etc/apt/sources.list.d/espresso-strongswan-src.sources
cleanup() { rm -f "$list"; }
trap cleanup EXIT
cat >"$list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update -qq >&2
cd "$dir/dl"
if ! apt-get source -qq --download-only "strongswan=$want_pkg" >&2; then
  # the version apt offers; the security archive may 404 on its .dsc, the
  # orig tarball (the same upstream source) still comes
  apt-get source -qq --download-only strongswan >&2 || true
fi
rm -f "$list"; apt-get update -qq >&2 || true
orig=$(ls strongswan_*.orig.tar.* 2>/dev/null | head -1)
[ -n "$orig" ] || { echo "strongswan: apt-get source brought no orig tarball" >&2; exit 1; }
src_up=${orig#strongswan_}; src_up=${src_up%.orig.tar.*}
if [ "$src_up" != "$have_up" ]; then
  echo "strongswan: WARNING: source is upstream $src_up but the installed charon is $have ($have_up):" \
       "the plugin ABI may differ; not building against it" >&2
  exit 1
fi
echo "strongswan: source $orig (upstream $src_up) for installed charon $have" >&2
mkdir -p "$dir/x"
tar -C "$dir/x" -xf "$orig"
mv "$dir/x/strongswan-$src_up" "$dir/src"; rmdir "$dir/x"
cd "$dir/src"
# Debian's configure flags (debian/rules + dh_auto_configure). The -dev
# packages of ldap, curl, NetworkManager, PAM, libcap, iptc and tss2 are not
# needed for headers: their autoconf results are seeded, which changes no
# struct of libstrongswan/libcharon (the default plugin list then equals the
# one in Debian's /usr/lib/ipsec/charon, checked below). Capabilities:
# "native" (Debian: libcap, whose -dev package would upgrade libcap2) only
# changes how charon drops them, not the capabilities_t interface.
env ac_cv_lib_ldap_ldap_init=yes ac_cv_lib_lber_ber_free=yes ac_cv_header_ldap_h=yes \
  ac_cv_lib_curl_curl_global_init=yes ac_cv_header_curl_curl_h=yes \
  ac_cv_lib_pam_pam_start=yes ac_cv_header_security_pam_appl_h=yes \
  nm_CFLAGS=" " nm_LIBS=" " libiptc_CFLAGS=" " libiptc_LIBS=" " \
  tss2_sys_CFLAGS=" " tss2_sys_LIBS=" " tss2_esys_CFLAGS=" " tss2_esys_LIBS=" " \
./configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run \
  --libdir=/usr/lib --libexecdir=/usr/lib --disable-dependency-tracking \
  --with-dbuspolicydir=/usr/share/dbus-1/system.d \
  --enable-addrblock --enable-agent --enable-bypass-lan --enable-ccm --enable-certexpire \
  --enable-chapoly --enable-cmd --enable-ctr --enable-curl --enable-eap-aka --enable-eap-gtc \
  --enable-eap-identity --enable-eap-md5 --enable-eap-mschapv2 --enable-eap-radius \
  --enable-eap-tls --enable-eap-tnc --enable-eap-ttls --enable-error-notify --enable-forecast \
  --enable-gcm --enable-gcrypt --enable-ha --enable-kernel-libipsec --enable-ldap --enable-led \
  --enable-lookip --enable-mediation --enable-openssl --enable-pkcs11 --enable-test-vectors \
  --enable-tpm --enable-tss-tss2 --enable-unity --enable-xauth-eap --enable-xauth-pam \
  --enable-rdrand --enable-aesni --enable-nm --enable-farp --enable-dhcp --enable-af-alg \
  --enable-connmark --enable-systemd --enable-swanctl \
  --disable-blowfish --disable-fast --disable-des \
  --with-nm-ca-dir=/etc/ssl/certs --with-capabilities=native >&2
grep -q '^#define VERSION "'"$have_up"'"' config.h || { echo "strongswan: config.h is not version $have_up" >&2; exit 1; }
grep -q '^#define ME ' config.h || { echo "strongswan: config.h lacks ME (mediation): charon's peer_cfg_t would differ" >&2; exit 1; }
# the compiled default plugin list must be Debian's
plugins=$(sed -n 's/^charon_plugins = *//p' src/charon/Makefile | head -1)
if [ -n "$plugins" ] && ! grep -aqF "$plugins" /usr/lib/ipsec/charon; then
  echo "strongswan: WARNING: the default plugin list differs from Debian's charon's" >&2
fi
echo "$have_up" >"$dir/upstream"
