# espresso: AF_XDP IPsec gateway dataplane.
#   make          build bpf/espresso.bpf.o, espressod, espressoctl
#   make demo     install missing packages, build, run the two-gateway demo
#   make check    install missing packages, build, run every test
#   make fuzz     the fuzz targets alone (FUZZ_SECS each)
#   make bench    benchmarks (never part of check)
#   make deb      the Debian package, build/deb/espresso_*.deb (debhelper)
#   make deb-check  that package installed and started in a fresh Debian root
#   make check SANITIZE=1  the same suite, daemon and tests built with ASan
#                 and UBSan (every object rebuilt when SANITIZE changes)
#   make valgrind the daemon's whole life under valgrind memcheck
#   make soak     two gateways under iperf3 with rekeys and reloads (SOAK_SECS)
#   make strongswan  the charon plugin kernel-espresso (tools/strongswan/)

CC      ?= gcc
CLANG   ?= clang
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -pthread
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -Iinclude \
	-I/usr/include/$(shell gcc -dumpmachine)
LIBS    := -lxdp -lbpf -lelf -lz -lcrypto -lconfig -lmnl -lsystemd -ljson-c -lmicrohttpd -lcap-ng -lpcap -pthread
# intel-ipsec-mb: the optional second crypto backend (user/crypto_ipsecmb.c),
# built in where its header is (tools/deps.sh build installs it on amd64).
HAVE_IPSECMB := $(shell test -f /usr/include/intel-ipsec-mb.h && echo 1)
ifeq ($(HAVE_IPSECMB),1)
CFLAGS  += -DHAVE_IPSECMB
LIBS    += -lIPSec_MB
endif
# SANITIZE=1: ASan (leaks at exit included) and UBSan (alignment included),
# every report fatal. The same build/ and binaries: build/sanitize.flag
# holds the setting and every object depends on it, so switching rebuilds
# all and never links a mix.
SANITIZE ?=
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
CFLAGS  += $(SAN_FLAGS)
LIBS    += $(SAN_FLAGS)
endif
SAN_FLAG := $(shell mkdir -p build; echo '$(SANITIZE)' | \
	cmp -s - build/sanitize.flag || echo '$(SANITIZE)' >build/sanitize.flag; \
	echo build/sanitize.flag)

BPF_OBJ := bpf/espresso.bpf.o
# Every user/*/*.c but the daemon's main is a module linked into all
# programs and tests. Folders by plane: core (worker, rx, tx), proto (ESP,
# crypto, GSO/GRO, fragments), tables, io (XSK, tun, BPF maps), control,
# config, lib.
MAIN_SRCS := user/control/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRCS),$(wildcard user/*/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=build/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
HDRS      := $(wildcard include/espresso/*.h user/*/*.h)

# Each entry point installs what is missing first, then builds in a second
# make, so the feature probes above see what deps.sh just installed.
SUBMAKE := $(MAKE) --no-print-directory

all: deps-build
	@$(SUBMAKE) build

build: $(BPF_OBJ) espressod espressoctl

deps-build:
	@tools/deps.sh build
deps-check:
	@tools/deps.sh check

$(BPF_OBJ): bpf/espresso.bpf.c $(HDRS)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/%.o: %.c $(HDRS) $(SAN_FLAG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
# rebuilt when the probe's answer changes (build/ipsecmb.flag holds it)
build/user/proto/crypto.o build/user/proto/crypto_ipsecmb.o: $(shell mkdir -p build; \
	echo '$(HAVE_IPSECMB)' | cmp -s - build/ipsecmb.flag || \
	echo '$(HAVE_IPSECMB)' >build/ipsecmb.flag; echo build/ipsecmb.flag)

# the version a scrape reports (espresso_build_info); metrics.o is rebuilt
# when it changes (build/version.flag holds it)
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
build/user/control/metrics.o: CFLAGS += -DESPRESSO_VERSION='"$(VERSION)"'
build/user/control/metrics.o: $(shell mkdir -p build; \
	echo '$(VERSION)' | cmp -s - build/version.flag || \
	echo '$(VERSION)' >build/version.flag; echo build/version.flag)

espressod: build/user/control/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

espressoctl: build/tools/espressoctl.o
	$(CC) $(CFLAGS) -o $@ $^

build/tests/%: tests/unit/%.c tests/fakexsk.h $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB_OBJS) $(LIBS) -lcriterion
# test_reasm counts the allocations of our code (none on the packet path)
build/tests/test_reasm: LIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

# QSBR alone, with ASan and UBSan: its stress test frees what readers
# may still hold if the grace periods are wrong.
build/tests/test_epoch: tests/unit/test_epoch.c user/tables/epoch.c \
		user/tables/epoch.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Wall -Wextra -std=gnu11 \
		-D_GNU_SOURCE -Iinclude -Iuser -pthread \
		-o $@ tests/unit/test_epoch.c user/tables/epoch.c -lcriterion

unit: deps-check
	@$(SUBMAKE) build $(UNIT_BINS)
	bash tests/run.sh unit

check: deps-check
	@$(SUBMAKE) build $(UNIT_BINS) $(FUZZ_BINS) build/bench_spread build/spray
	@$(SUBMAKE) strongswan || echo "check: no kernel-espresso plugin: the IKE tests will skip" >&2
	SANITIZE='$(SANITIZE)' bash tests/run.sh

demo: deps-check
	@$(SUBMAKE) build
	bash tools/demo.sh

build/bench_esp: tests/bench/bench_esp.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LIBS)

build/bench_scale: tests/bench/bench_scale.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LIBS)

build/bench_tables: tests/bench/bench_tables.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LIBS)

build/bench_vrf: tests/bench/bench_vrf.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LIBS)

# the SPD of router mode in the XDP program, timed by the kernel
build/bench_spd: tests/bench/bench_spd.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lbpf

build/bench_spread: tests/bench/bench_spread.c tests/fakexsk.h $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB_OBJS) $(LIBS)

# the traffic generator of tools/bench_spread.sh (no espresso code in it)
build/spray: tests/bench/spray.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

bench: deps-check
	@tools/deps.sh bench
	@$(SUBMAKE) build build/bench_esp build/bench_scale build/bench_tables \
		build/bench_spd build/bench_spread build/spray build/bench_vrf
	@$(SUBMAKE) strongswan || echo "bench: no kernel-espresso plugin: the espresso-ike row will say so" >&2
	bash tools/bench.sh

# libFuzzer targets, one per parser, with ASan and UBSan (tests/fuzz/); their
# seeds are tests/fuzz/corpus/<target> (tests/fuzz/make_seeds.py writes them).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 \
	-D_GNU_SOURCE -Iinclude -Iuser
# undefined behaviour is a crash too (libFuzzer keeps the input)
FUZZ_CFLAGS += -fno-sanitize-recover=undefined
FUZZ_BINS := build/fuzz/fuzz_parse build/fuzz/fuzz_gso build/fuzz/fuzz_reasm \
	build/fuzz/fuzz_decap build/fuzz/fuzz_cmd build/fuzz/fuzz_gro \
	build/fuzz/fuzz_frag build/fuzz/fuzz_config build/fuzz/fuzz_esp_sa \
	build/fuzz/fuzz_netlink build/fuzz/fuzz_xdp build/fuzz/fuzz_spd \
	build/fuzz/fuzz_tapfmt build/fuzz/fuzz_outer
# the second backend, as the daemon is built (fuzz_esp_sa crosses them)
FUZZ_IPSECMB := $(if $(filter 1,$(HAVE_IPSECMB)),user/proto/crypto_ipsecmb.c \
	user/lib/secret.c)
FUZZ_IPSECMB_DEF := $(if $(filter 1,$(HAVE_IPSECMB)),-DHAVE_IPSECMB)
FUZZ_IPSECMB_LIB := $(if $(filter 1,$(HAVE_IPSECMB)),-lIPSec_MB)
build/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c user/proto/parse.c $(HDRS)
build/fuzz/fuzz_gso: tests/fuzz/fuzz_gso.c user/proto/gso.c user/proto/csum.c $(HDRS)
build/fuzz/fuzz_reasm: tests/fuzz/fuzz_reasm.c user/proto/reasm.c user/proto/csum.c $(HDRS)
build/fuzz/fuzz_decap: tests/fuzz/fuzz_decap.c user/proto/esp.c user/proto/csum.c \
	user/config/config.c user/config/check.c user/proto/crypto.c user/lib/secret_ossl.c user/lib/log.c \
	user/lib/secret.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lcrypto -lconfig
build/fuzz/fuzz_cmd: tests/fuzz/fuzz_cmd.c user/control/cmd.c user/config/check.c \
	user/config/config.c user/lib/log.c user/lib/secret.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lcrypto -lconfig
build/fuzz/fuzz_gro: tests/fuzz/fuzz_gro.c user/proto/gro.c user/proto/csum.c \
	tests/fuzz/fuzz_ref.h $(HDRS)
build/fuzz/fuzz_frag: tests/fuzz/fuzz_frag.c user/proto/frag.c user/proto/csum.c \
	tests/fuzz/fuzz_ref.h $(HDRS)
# key files are opened through the target's __wrap_open (no devices)
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c user/config/config.c \
	user/config/check.c user/lib/log.c user/lib/secret.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Wl,--wrap=open -o $@ $(filter %.c,$^) \
		-lcrypto -lconfig
build/fuzz/fuzz_esp_sa: tests/fuzz/fuzz_esp_sa.c user/proto/esp.c user/proto/csum.c \
	user/proto/crypto.c user/lib/secret_ossl.c $(FUZZ_IPSECMB) user/lib/log.c tests/fuzz/fuzz_ref.h \
	build/ipsecmb.flag $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_IPSECMB_DEF) -o $@ $(filter %.c,$^) -lcrypto \
		$(FUZZ_IPSECMB_LIB)
# netlink.c is #included by the target (its callbacks are static)
build/fuzz/fuzz_netlink: tests/fuzz/fuzz_netlink.c user/control/netlink.c \
	user/lib/log.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_netlink.c user/lib/log.c -lmnl
# runs bpf/espresso.bpf.o through BPF_PROG_TEST_RUN (root)
build/fuzz/fuzz_xdp: tests/fuzz/fuzz_xdp.c user/proto/parse.c tests/fuzz/fuzz_ref.h \
	$(HDRS) | $(BPF_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lbpf -lelf -lz
# the SPD compiler; the target stands in for the BPF maps and the live state
build/fuzz/fuzz_spd: tests/fuzz/fuzz_spd.c tests/fuzz/fuzz_ref.h user/control/spd.c user/config/check.c \
	user/tables/fib.c user/lib/hmap.c user/lib/log.c $(HDRS)
# the trace line and JSON of a record (the packet's first bytes from outside)
build/fuzz/fuzz_tapfmt: tests/fuzz/fuzz_tapfmt.c user/control/tap_fmt.c \
	user/core/stats.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -ljson-c
# the outer header of a reassembled packet, before decryption (rx.c)
build/fuzz/fuzz_outer: tests/fuzz/fuzz_outer.c user/proto/esp6.c user/proto/esp.c \
	user/proto/csum.c user/proto/crypto.c user/lib/log.c user/lib/secret.c \
	user/lib/secret_ossl.c tests/fuzz/fuzz_ref.h $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lcrypto
build/fuzz/%:
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)
fuzz: deps-check
	@$(SUBMAKE) $(FUZZ_BINS)
	bash tests/run.sh fuzz

# The strongSwan charon plugin (tools/strongswan/): built against Debian's
# source of the installed charon, configured as Debian did (deps.sh).
SS_SRC   := build/strongswan/src
SS_PLUGIN := tools/strongswan/libstrongswan-kernel-espresso.so
SS_FILES := $(wildcard tools/strongswan/*.c tools/strongswan/*.h)
strongswan:
	@tools/deps.sh strongswan
	@$(SUBMAKE) $(SS_PLUGIN)
$(SS_PLUGIN): $(SS_FILES) $(SS_SRC)/config.h
	$(CC) -shared -fPIC -fvisibility=hidden -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-missing-field-initializers -Wno-sign-compare \
		-include $(SS_SRC)/config.h -I$(SS_SRC)/src/libstrongswan \
		-I$(SS_SRC)/src/libcharon -o $@ $(filter %.c,$^) -ljson-c

PREFIX ?= /usr/local
install: all
	install -D -m 755 espressod $(DESTDIR)$(PREFIX)/sbin/espressod
	install -D -m 755 espressoctl $(DESTDIR)$(PREFIX)/sbin/espressoctl
	install -D -m 644 $(BPF_OBJ) $(DESTDIR)$(PREFIX)/lib/espresso/espresso.bpf.o
	install -D -m 644 tools/espressod@.service $(DESTDIR)/etc/systemd/system/espressod@.service
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/espresso/README.md
	install -D -m 644 doc/espressod.8 $(DESTDIR)$(PREFIX)/share/man/man8/espressod.8
	install -D -m 644 doc/espressoctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/espressoctl.8
	install -D -m 644 doc/espresso.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/espresso.conf.5
	install -d -m 700 $(DESTDIR)/etc/espresso
	if [ -f $(SS_PLUGIN) ]; then \
	  install -D -m 644 $(SS_PLUGIN) $(DESTDIR)/usr/lib/ipsec/plugins/libstrongswan-kernel-espresso.so; \
	  install -D -m 644 tools/strongswan/kernel-espresso.conf $(DESTDIR)/etc/strongswan.d/charon/kernel-espresso.conf; \
	fi

# the daemon's life (start, traffic, reload, rekey, stop) under valgrind
# memcheck, alone (about 20 s; make check runs it too)
valgrind: deps-check
	@$(SUBMAKE) build
	bash tests/run.sh e2e test_valgrind

# SOAK_SECS (600) of iperf3 TCP and UDP through two gateways, rekeying
# every 10 s and reloading every 30 s; then frames, drops and RSS audited
soak: deps-check
	@$(SUBMAKE) build
	bash tools/soak.sh

clean:
	rm -rf build espressod espressoctl $(BPF_OBJ) $(SS_PLUGIN)

# The Debian package (debian/), built by dpkg-buildpackage from a copy of
# the tree (tracked and untracked files git does not ignore, and a strongSwan
# plugin already built here) in build/deb/src, so this tree stays clean;
# the .deb, .buildinfo, .changes and the -dbgsym land in build/deb/.
DEB_DIR := build/deb
# the strongSwan plugin: auto (packaged if `make strongswan` builds it),
# yes (it must), no (debian/rules)
STRONGSWAN ?= auto
DEB_SWAN = $(shell find tools build \( -name libstrongswan-kernel-espresso.so \
	-o -name kernel-espresso.conf \) -not -path '$(DEB_DIR)/*' 2>/dev/null)
deb:
	@tools/deps.sh build
	@tools/deps.sh deb
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	{ git ls-files -z -co --exclude-standard 2>/dev/null || \
		find . -path ./build -prune -o -path ./.git -prune -o -type f -print0; } | \
		tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(DEB_DIR)/src
	$(if $(DEB_SWAN),tar -cf - $(DEB_SWAN) | tar -xf - -C $(DEB_DIR)/src)
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE \
		ESPRESSO_GIT_VERSION=$(VERSION) STRONGSWAN=$(STRONGSWAN) \
		dpkg-buildpackage -b -us -uc -nc -j$$(nproc)
	@ls $(DEB_DIR)/*.deb

deb-check: deb
	bash tests/deb/deb_check.sh $(DEB_DIR)/espresso_*.deb

.PHONY: deb deb-check
.PHONY: all build deps-build deps-check unit check fuzz demo bench install clean valgrind soak strongswan
.SECONDARY:
