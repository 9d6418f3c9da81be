# shellcheck shell=bash
# DPDK's ipsec-secgw on AF_XDP, four namespaces, as measured in the recipe
# (/work/shared/peers/secgw/RECIPE.md): cli -- gwA == gwB -- srv.
# Sourced by tools/bench_router.sh. Needs the Debian packages dpdk,
# libdpdk-dev and dpdk-doc (tools/deps.sh bench); builds the example
# once in $SECGW_DIR. The gateways have no kernel IPs (secgw does no ARP):
# cli and srv reach them by permanent neighbour entries. Each gateway is
# one polling lcore, gwA on CPU 0 and gwB on the last CPU.
# Addresses: 198.18.0.0/15 (RFC 2544's benchmarking range), only inside
# the namespaces made here.
SECGW_DIR=${SECGW_DIR:-/var/tmp/espresso-secgw}
SG=${SG:-sg$$}
SG_CLI=${SG}cli SG_A=${SG}gwA SG_B=${SG}gwB SG_SRV=${SG}srv
SG_DST=198.18.2.2
SG_PIDS=()
SG_HUGE_OLD=

secgw_build() { # the example from dpdk-doc, with the recipe's one patch
	local bin=$SECGW_DIR/src/build/ipsec-secgw
	[ -x "$bin" ] && return 0
	[ -d /usr/share/dpdk/examples/ipsec-secgw ] || {
		echo "secgw: no /usr/share/dpdk/examples (tools/deps.sh bench installs dpdk-doc)" >&2
		return 1
	}
	mkdir -p "$SECGW_DIR"
	rm -rf "$SECGW_DIR/src" "$SECGW_DIR/common"
	cp -r /usr/share/dpdk/examples/ipsec-secgw "$SECGW_DIR/src"
	cp -r /usr/share/dpdk/examples/common "$SECGW_DIR/common"
	# the example asks for RX checksum offload, which the af_xdp vdev
	# does not offer (port_init exits); the app never reads those flags
	sed -i 's/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/.offloads = 0,/' \
		"$SECGW_DIR/src/ipsec-secgw.c"
	make -C "$SECGW_DIR/src" >"$SECGW_DIR/build.log" 2>&1 || {
		tail -20 "$SECGW_DIR/build.log" >&2
		return 1
	}
}

secgw_conf() { # secgw_conf A|B KEY_OUT KEY_IN: the SA/SP/RT file
	local spo spi lo ld ro peer pmac lmac
	if [ "$1" = A ]; then
		spo=10 spi=20 lo=198.18.1.0/24 ro=198.18.2.0/24
		ld=198.19.0.1 peer=198.19.0.2 lmac=02:00:00:00:01:01 pmac=02:00:00:00:02:02
	else
		spo=20 spi=10 lo=198.18.2.0/24 ro=198.18.1.0/24
		ld=198.19.0.2 peer=198.19.0.1 lmac=02:00:00:00:03:01 pmac=02:00:00:00:02:01
	fi
	cat <<EOF
sp ipv4 out esp protect $spo pri 1 src $lo dst $ro sport 0:65535 dport 0:65535
sp ipv4 in esp protect $spi pri 1 src $ro dst $lo sport 0:65535 dport 0:65535
sa out $spo aead_algo aes-256-gcm aead_key $2 mode ipv4-tunnel src $ld dst $peer
sa in $spi aead_algo aes-256-gcm aead_key $3 mode ipv4-tunnel src $peer dst $ld
rt ipv4 dst $peer/32 port 1
rt ipv4 dst $lo port 0
neigh port 0 $lmac
neigh port 1 $pmac
EOF
}

secgw_topo() {
	local ns d
	for ns in "$SG_CLI" "$SG_A" "$SG_B" "$SG_SRV"; do ip netns add "$ns" || return 1; done
	ip link add c0 netns "$SG_CLI" address 02:00:00:00:01:01 type veth \
		peer name a0 netns "$SG_A" address 02:00:00:00:01:02 || return 1
	ip link add a1 netns "$SG_A" address 02:00:00:00:02:01 type veth \
		peer name b1 netns "$SG_B" address 02:00:00:00:02:02 || return 1
	ip link add b0 netns "$SG_B" address 02:00:00:00:03:02 type veth \
		peer name s0 netns "$SG_SRV" address 02:00:00:00:03:01 || return 1
	for ns in "$SG_CLI" "$SG_A" "$SG_B" "$SG_SRV"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	# a 1500-byte inner packet is 1556 bytes of ESP: secgw drops what is
	# over its --mtu unless it reassembles
	ip -n "$SG_A" link set a1 mtu 1600
	ip -n "$SG_B" link set b1 mtu 1600
	for d in a0 a1; do ip -n "$SG_A" link set "$d" up; done
	for d in b0 b1; do ip -n "$SG_B" link set "$d" up; done
	ip -n "$SG_CLI" link set c0 up
	ip -n "$SG_CLI" addr add 198.18.1.2/24 dev c0
	ip -n "$SG_CLI" route add 198.18.2.0/24 via 198.18.1.1
	ip -n "$SG_CLI" neigh replace 198.18.1.1 lladdr 02:00:00:00:01:02 dev c0 nud permanent
	ip -n "$SG_SRV" link set s0 up
	ip -n "$SG_SRV" addr add 198.18.2.2/24 dev s0
	ip -n "$SG_SRV" route add 198.18.1.0/24 via 198.18.2.1
	ip -n "$SG_SRV" neigh replace 198.18.2.1 lladdr 02:00:00:00:03:02 dev s0 nud permanent
	# AF_XDP hands frames over with no checksum metadata: the endpoints
	# compute full checksums (the recipe's settings)
	ip netns exec "$SG_CLI" ethtool -K c0 tx off rx off tso off gso off gro off >/dev/null 2>&1
	ip netns exec "$SG_SRV" ethtool -K s0 tx off rx off tso off gso off gro off >/dev/null 2>&1
	for d in a0 a1; do ip netns exec "$SG_A" ethtool -K "$d" tx off rx off tso off gso off gro off >/dev/null 2>&1; done
	for d in b0 b1; do ip netns exec "$SG_B" ethtool -K "$d" tx off rx off tso off gso off gro off >/dev/null 2>&1; done
	return 0
}

secgw_start() { # secgw_start A|B CPU
	local g=$1 cpu=$2 p0 p1 ns
	if [ "$g" = A ]; then p0=a0 p1=a1 ns=$SG_A; else p0=b0 p1=b1 ns=$SG_B; fi
	setsid ip netns exec "$ns" sh -c 'mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@"' sh \
		timeout -s INT 900 taskset -c "$cpu" "$SECGW_DIR/src/build/ipsec-secgw" \
		-l "$cpu" -n 1 --file-prefix "$SG$g" --huge-dir "$SECGW_DIR/huge" \
		--socket-mem 512 --no-pci \
		--vdev "net_af_xdp0,iface=$p0" --vdev "net_af_xdp1,iface=$p1" \
		--vdev crypto_aesni_gcm0 -- \
		-p 0x3 -P -u 0x2 --config "(0,0,$cpu),(1,0,$cpu)" \
		-f "$SECGW_DIR/$SG-gw$g.cfg" --mtu 1600 -t 1 \
		>"$SECGW_DIR/$SG-gw$g.log" 2>&1 </dev/null &
	SG_PIDS+=($!)
}

secgw_up() { # build, hugepages, namespaces, both gateways; 0 when a ping crosses
	local ka kb last
	secgw_build || return 1
	mkdir -p "$SECGW_DIR/huge"
	mountpoint -q "$SECGW_DIR/huge" ||
		mount -t hugetlbfs -o pagesize=2M nodev "$SECGW_DIR/huge" || return 1
	SG_HUGE_OLD=$(cat /proc/sys/vm/nr_hugepages)
	[ "$SG_HUGE_OLD" -ge 1024 ] || echo 1024 >/proc/sys/vm/nr_hugepages
	ka=$(openssl rand -hex 36 | sed 's/../&:/g; s/:$//')
	kb=$(openssl rand -hex 36 | sed 's/../&:/g; s/:$//')
	secgw_conf A "$ka" "$kb" >"$SECGW_DIR/$SG-gwA.cfg"
	secgw_conf B "$kb" "$ka" >"$SECGW_DIR/$SG-gwB.cfg"
	chmod 600 "$SECGW_DIR/$SG-gwA.cfg" "$SECGW_DIR/$SG-gwB.cfg"
	secgw_topo || return 1
	last=$(($(nproc) - 1))
	secgw_start A 0
	secgw_start B "$last"
	for _ in $(seq 60); do
		grep -q 'entering main loop' "$SECGW_DIR/$SG-gwA.log" 2>/dev/null &&
			grep -q 'entering main loop' "$SECGW_DIR/$SG-gwB.log" 2>/dev/null && break
		sleep 0.5
	done
	for _ in 1 2 3 4 5; do
		ip netns exec "$SG_CLI" ping -c 1 -W 1 "$SG_DST" >/dev/null 2>&1 && return 0
	done
	echo "secgw: no ping through the tunnel; logs:" >&2
	tail -5 "$SECGW_DIR/$SG-gwA.log" "$SECGW_DIR/$SG-gwB.log" >&2
	return 1
}

secgw_down() {
	local p
	for p in "${SG_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${SG_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	SG_PIDS=()
	for ns in "$SG_CLI" "$SG_A" "$SG_B" "$SG_SRV"; do ip netns del "$ns" 2>/dev/null; done
	rm -f "$SECGW_DIR/$SG-gwA.cfg" "$SECGW_DIR/$SG-gwB.cfg"
	rm -rf "/var/run/dpdk/${SG}A" "/var/run/dpdk/${SG}B"
	if [ -n "$SG_HUGE_OLD" ]; then
		umount "$SECGW_DIR/huge" 2>/dev/null
		echo "$SG_HUGE_OLD" >/proc/sys/vm/nr_hugepages
		SG_HUGE_OLD=
	fi
	return 0
}
