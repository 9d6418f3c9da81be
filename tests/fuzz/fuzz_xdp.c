// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the XDP classifier bpf/espresso.bpf.o itself, run by
 * the kernel (BPF_PROG_TEST_RUN) on every input as a frame. Needs root, as
 * tests/unit/test_bpf.c: the object is loaded once, with no map pinned,
 * and espresso_sa_in holds SPIs 0x1000 and 0xc0000001. No AF_XDP socket is
 * bound, so a frame for a known SPI ends as drop_no_xsk, an ESP or NAT-T
 * fragment as pass_fragment, and nothing is ever redirected.
 *
 * Per frame: the verdict is XDP_PASS or XDP_DROP, the frame comes back
 * unchanged, rx_packets and exactly one other counter moved, by one, and
 * that counter agrees with the verdict and with a reference classifier
 * written here from the rules at the top of espresso.bpf.c. A frame the
 * program takes for ESP (known or unknown SPI) must be one parse_outer,
 * the userspace twin, accepts with the same offsets, encapsulation and SPI.
 *
 * libFuzzer sees no coverage inside BPF: the counter moved, the reference
 * path and the VLAN depth are fed back as extra counters instead.
 * Frames shorter than an Ethernet header or over one page less XDP
 * headroom are refused by the kernel (-EINVAL), and only that.
 *
 * Router mode: every frame runs a second time as received on a LAN
 * interface: lo (where a test run without context arrives, the uplink
 * above), entered in espresso_ifaces with the seeds' destination MAC for
 * that run only, where the program classifies plaintext: the local addresses, the
 * tunnel routes and an SPD (rules, candidates by destination, the flow
 * cache) are filled from the tables below, and lan_reference() says from
 * them what the program must count: rx_packets, lan_rx_packets, one of
 * spd_cache_hit/miss when the SPD was consulted, and one verdict.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "espresso/common.h"
#include "proto/parse.h"
#include "fuzz_ref.h"

#define N_COUNTERS (sizeof(struct espresso_xdp_stats) / sizeof(__u64))
#define MAX_FRAME 3520 /* 4096 - XDP_PACKET_HEADROOM - skb_shared_info */

enum { /* counter indices, in ESPRESSO_XDP_COUNTERS order */
#define X_IDX(name, help) C_##name,
	ESPRESSO_XDP_COUNTERS(X_IDX)
#undef X_IDX
};

static const struct { uint32_t spi, sa_index; } known[] = {
	{ 0x1000, 3 }, { 0xc0000001, 9 },
};

/* router mode: the LAN's MAC (the seeds' destination), local addresses,
 * tunnel routes and the SPD, set 0 in use (gen_set 2: generation 1) */
static const uint8_t lan_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint32_t lan_local[] = { 0x0a090001 }; /* 10.9.0.1 */
static const struct { uint32_t addr; uint8_t plen; uint32_t tunnel; } lan_routes[] = {
	{ 0x0a020000, 16, 1 }, { 0x0a030000, 24, 2 }, { 0x0a040000, 16, 2 },
};
static const struct espresso_spd_rule lan_rules[] = {
	/* 10.2.5.0/24 TCP to port 22: discard */
	{ .dst = 0x0a020500, .dst_mask = 0xffffff00, .proto = 6,
	  .sport_hi = 65535, .dport_lo = 22, .dport_hi = 22,
	  .action = ESPRESSO_SPD_DISCARD, .id = 1 },
	/* 10.2.0.0/16 UDP to port 53: bypass */
	{ .dst = 0x0a020000, .dst_mask = 0xffff0000, .proto = 17,
	  .sport_hi = 65535, .dport_lo = 53, .dport_hi = 53,
	  .action = ESPRESSO_SPD_BYPASS, .id = 2 },
	/* 10.1.0.0/16 -> 10.6.0.0/16, source ports 1000-2000: protect, tunnel 2 */
	{ .src = 0x0a010000, .src_mask = 0xffff0000, .dst = 0x0a060000,
	  .dst_mask = 0xffff0000, .sport_lo = 1000, .sport_hi = 2000,
	  .dport_hi = 65535, .action = ESPRESSO_SPD_PROTECT, .tunnel = 2,
	  .id = 3 },
	/* anything to 10.5.0.0/16: bypass */
	{ .dst = 0x0a050000, .dst_mask = 0xffff0000, .sport_hi = 65535,
	  .dport_hi = 65535, .action = ESPRESSO_SPD_BYPASS, .id = 4 },
};
/* the candidates by destination, as the SPD compiler makes them: each
 * prefix lists every rule whose destination covers it, in order */
static const struct { uint32_t addr; uint8_t plen; uint32_t n, rule[2]; } lan_cands[] = {
	{ 0x0a020000, 16, 1, { 1 } }, { 0x0a020500, 24, 2, { 0, 1 } },
	{ 0x0a060000, 16, 1, { 2 } }, { 0x0a050000, 16, 1, { 3 } },
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct bpf_object *obj;
static struct bpf_map *stats_map;
static int prog_fd = -1, ncpus, lan_ifindex;
static struct bpf_map *ifaces;
static struct espresso_iface lan_ifc = { .lan = 1 };
static struct espresso_xdp_stats *percpu, *zero;
static uint8_t out[MAX_FRAME + 64];

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t extra[N_COUNTERS * 64];
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lan_extra[N_COUNTERS * 16];

static int quiet_print(enum libbpf_print_level level, const char *fmt,
		       va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "fuzz_xdp: %s: %s (needs root and bpf/espresso.bpf.o: make bpf/espresso.bpf.o)\n",
		what, strerror(err));
	exit(1);
}

static void put(const char *name, const void *k, size_t kl, const void *v,
		size_t vl)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	if (!map || bpf_map__update_elem(map, k, kl, v, vl, BPF_ANY))
		die(name, map ? errno : ENOENT);
}

static void lan_setup(void)
{
	struct espresso_spd_ctl ctl = { .gen_set = 2 };
	uint32_t i, one = 1, zero = 0;

	lan_ifindex = (int)if_nametoindex("lo");
	if (lan_ifindex <= 0)
		die("lo", errno);
	memcpy(lan_ifc.mac, lan_mac, 6);
	ifaces = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_IFACES);
	if (!ifaces)
		die(ESPRESSO_MAP_IFACES, ENOENT);
	for (i = 0; i < NELEM(lan_local); i++) {
		uint32_t a = htonl(lan_local[i]);

		put(ESPRESSO_MAP_LOCAL4, &a, 4, &one, 4);
	}
	for (i = 0; i < NELEM(lan_routes); i++) {
		struct espresso_lpm4_key k = { .prefixlen = 16 + lan_routes[i].plen }; /* VRF 0 */
		struct espresso_route r = { .tunnel = lan_routes[i].tunnel };
		uint32_t a = htonl(lan_routes[i].addr);

		memcpy(k.addr, &a, 4);
		put(ESPRESSO_MAP_ROUTES4, &k, sizeof(k), &r, sizeof(r));
	}
	for (i = 0; i < NELEM(lan_rules); i++) {
		struct espresso_spd_rule r = lan_rules[i];

		r.src = htonl(r.src);
		r.src_mask = htonl(r.src_mask);
		r.dst = htonl(r.dst);
		r.dst_mask = htonl(r.dst_mask);
		put(ESPRESSO_MAP_SPD_RULES, &i, 4, &r, sizeof(r));
	}
	for (i = 0; i < NELEM(lan_cands); i++) {
		struct espresso_spd_lpm_key k = {
			.prefixlen = 8 + lan_cands[i].plen, .set = 0,
		};
		struct espresso_spd_cands c = { .n = lan_cands[i].n };
		uint32_t a = htonl(lan_cands[i].addr);

		memcpy(k.addr, &a, 4);
		memcpy(c.rule, lan_cands[i].rule, sizeof(lan_cands[i].rule));
		put(ESPRESSO_MAP_SPD_LPM, &k, sizeof(k), &c, sizeof(c));
	}
	put(ESPRESSO_MAP_SPD_CTL, &zero, 4, &ctl, sizeof(ctl));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("ESPRESSO_BPF_OBJ");
	struct bpf_program *prog;
	struct bpf_map *map, *sa;
	size_t i;
	int err;

	(void)argc;
	(void)argv;
	if (!path)
		path = "bpf/espresso.bpf.o";
	libbpf_set_print(quiet_print);
	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die(path, errno);
	bpf_object__for_each_map(map, obj)
		bpf_map__set_pin_path(map, NULL);
	err = bpf_object__load(obj);
	if (err)
		die("load", -err);
	prog = bpf_object__find_program_by_name(obj, ESPRESSO_PROG_NAME);
	sa = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_SA_IN);
	stats_map = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_STATS);
	if (!prog || !sa || !stats_map)
		die("program or maps missing", ENOENT);
	prog_fd = bpf_program__fd(prog);
	ncpus = libbpf_num_possible_cpus();
	if (prog_fd < 0 || ncpus <= 0)
		die("program fd / CPUs", EINVAL);
	percpu = calloc(ncpus, sizeof(*percpu));
	zero = calloc(ncpus, sizeof(*zero));
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct espresso_sa_in v = { .sa_index = known[i].sa_index };

		if (bpf_map__update_elem(sa, &known[i].spi, 4, &v, sizeof(v),
					 BPF_ANY))
			die("insert SPI", errno);
	}
	lan_setup();
	return 0;
}

static bool spi_known(uint32_t spi)
{
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].spi == spi)
			return true;
	return false;
}

/*
 * The classification the program should make, from the rules in
 * espresso.bpf.c, with no XSK bound. Returns the counter; *vlans and
 * *path say how far it got (fed back to libFuzzer).
 */
static int reference(const uint8_t *f, size_t len, int *vlans, int *path)
{
	size_t off = 14, hl, l3_end, l4_off;
	uint16_t proto, ulen;
	uint8_t l4;
	int i;

	*vlans = 0;
	*path = 0;
	if (len < 14)
		return C_drop_malformed;
	proto = fz_get16(f + 12);
	for (i = 0; i < 2 && (proto == 0x8100 || proto == 0x88a8); i++) {
		if (off + 4 > len)
			return C_drop_malformed;
		proto = fz_get16(f + off + 2);
		off += 4;
		(*vlans)++;
	}
	if (proto == 0x0800) {
		*path = 1;
		if (off + 20 > len || (f[off] >> 4) != 4 || (f[off] & 15) < 5)
			return C_drop_malformed;
		hl = (f[off] & 15) * 4u;
		if (off + hl > len || fz_get16(f + off + 2) < hl ||
		    off + fz_get16(f + off + 2) > len)
			return C_drop_malformed;
		l3_end = off + fz_get16(f + off + 2);
		l4 = f[off + 9];
		/* a fragment: of ESP it would go to the XSK, but none is
		 * bound, so the kernel gets it as any other */
		if (fz_get16(f + off + 6) & 0x3fff)
			return C_pass_fragment;
		l4_off = off + hl;
	} else if (proto == 0x86dd) {
		*path = 2;
		if (off + 40 > len || (f[off] >> 4) != 6 ||
		    off + 40 + fz_get16(f + off + 4) > len)
			return C_drop_malformed;
		l3_end = off + 40 + fz_get16(f + off + 4);
		l4 = f[off + 6];
		l4_off = off + 40;
		/* up to 4 hop-by-hop / routing / destination options */
		for (i = 0; i < 4 && (l4 == 0 || l4 == 43 || l4 == 60); i++) {
			if (l4_off + 2 > len)
				return C_drop_malformed;
			l4 = f[l4_off];
			l4_off += (f[l4_off + 1] + 1u) * 8;
		}
		if (l4 == 0 || l4 == 43 || l4 == 60)
			return C_pass_ip6_ext;
		/* a fragment: of ESP or NAT-T it would go to the XSK, but
		 * none is bound */
		if (l4 == 44)
			return l4_off + 8 > len ? C_drop_malformed
						: C_pass_fragment;
	} else {
		return C_pass_not_ip;
	}
	if (l4 == IPPROTO_ESP) {
		*path += 2;
		if (l4_off + 8 > len || l4_off + 8 > l3_end)
			return C_drop_malformed;
		return spi_known(fz_get32(f + l4_off)) ? C_drop_no_xsk :
							 C_drop_unknown_spi;
	}
	if (l4 != IPPROTO_UDP)
		return C_pass_other;
	*path += 4;
	if (l4_off + 8 > len)
		return C_drop_malformed;
	if (fz_get16(f + l4_off + 2) != 4500)
		return C_pass_other;
	*path += 2;
	ulen = fz_get16(f + l4_off + 4);
	if (ulen < 8 || l4_off + ulen > len || l4_off + ulen > l3_end)
		return C_drop_malformed;
	if (ulen < 12) {
		if (ulen == 9 && f[l4_off + 8] == 0xff)
			return C_pass_natt_keepalive;
		return C_pass_other;
	}
	if (!memcmp(f + l4_off + 8, "\0\0\0\0", 4))
		return C_pass_ike;
	if (ulen < 16)
		return C_drop_malformed;
	return spi_known(fz_get32(f + l4_off + 8)) ? C_drop_no_xsk :
						     C_drop_unknown_spi;
}

/* longest-prefix match of dst among n entries of (addr, plen): index or -1 */
#define LPM(tab, dst)                                                         \
	({                                                                    \
		int best_ = -1;                                               \
		for (size_t j_ = 0; j_ < NELEM(tab); j_++) {                 \
			uint32_t m_ = tab[j_].plen ? ~0u << (32 - tab[j_].plen) : 0; \
			if (((dst) & m_) == tab[j_].addr &&                   \
			    (best_ < 0 || tab[j_].plen > tab[best_].plen))   \
				best_ = (int)j_;                              \
		}                                                             \
		best_;                                                        \
	})

/*
 * The classification of a frame on the LAN, from the rules of
 * lan_classify() in espresso.bpf.c, with no XSK bound. *spd: the SPD was
 * consulted (a cache hit or miss counted as well); *path: how far it got.
 */
static int lan_reference(const uint8_t *f, size_t len, bool *spd, int *path)
{
	uint32_t src, dst, i;
	uint16_t sport = 0, dport = 0;
	size_t hl, tot;
	uint8_t proto;
	int c;

	*spd = false;
	*path = 0;
	if (len < 14)
		return C_drop_malformed;
	if (fz_get16(f + 12) != 0x0800 && fz_get16(f + 12) != 0x86dd)
		return C_pass_lan_other;
	if (memcmp(f, lan_mac, 6))
		return C_pass_lan_local;
	if (fz_get16(f + 12) == 0x86dd) {
		/* IPv6: no SPD; link-local and multicast either way are the
		 * kernel's; the harness routes no IPv6 prefix */
		if (len < 14 + 40 || (f[14] >> 4) != 6 ||
		    14 + 40 + (size_t)fz_get16(f + 18) > len)
			return C_drop_malformed;
		if (f[38] == 0xff || (f[38] == 0xfe && (f[39] & 0xc0) == 0x80) ||
		    f[22] == 0xff || (f[22] == 0xfe && (f[23] & 0xc0) == 0x80))
			return C_pass_lan_local;
		return C_pass_lan_no_route;
	}
	*path = 1;
	if (len < 14 + 20 || (f[14] >> 4) != 4 || (f[14] & 15) < 5)
		return C_drop_malformed;
	hl = (f[14] & 15) * 4u;
	tot = fz_get16(f + 16);
	if (tot < hl || 14 + tot > len)
		return C_drop_malformed;
	src = fz_get32(f + 26);
	dst = fz_get32(f + 30);
	proto = f[23];
	for (i = 0; i < NELEM(lan_local); i++)
		if (dst == lan_local[i])
			return C_pass_lan_local;
	*path = 2;
	*spd = true;
	/* ports: of the first fragment of TCP or UDP, read within the frame
	 * (not the IP length: the program bounds them by the frame) */
	if (!(fz_get16(f + 20) & 0x1fff) && (proto == 6 || proto == 17) &&
	    14 + hl + 4 <= len) {
		sport = fz_get16(f + 14 + hl);
		dport = fz_get16(f + 14 + hl + 2);
	}
	c = LPM(lan_cands, dst);
	for (i = 0; c >= 0 && i < lan_cands[c].n; i++) {
		const struct espresso_spd_rule *r = &lan_rules[lan_cands[c].rule[i]];

		if ((src & r->src_mask) != r->src ||
		    (dst & r->dst_mask) != r->dst ||
		    (r->proto && r->proto != proto) ||
		    sport < r->sport_lo || sport > r->sport_hi ||
		    dport < r->dport_lo || dport > r->dport_hi)
			continue;
		*path = 3 + r->action;
		switch (r->action) {
		case ESPRESSO_SPD_PROTECT:
			return C_drop_lan_no_xsk;
		case ESPRESSO_SPD_BYPASS:
			return C_pass_spd_bypass;
		case ESPRESSO_SPD_DISCARD:
			return C_drop_spd_discard;
		}
	}
	*path = 3;
	return LPM(lan_routes, dst) >= 0 ? C_drop_lan_no_xsk : C_pass_lan_no_route;
}

/* The frame as received on the LAN (lo, queue 0): the counters must be
 * rx_packets, lan_rx_packets, a cache hit or miss when the SPD was
 * consulted, and the verdict lan_reference() says. */
static void run_lan(const uint8_t *data, size_t size)
{
	struct xdp_md ctx = {
		.data_end = (__u32)size, .ingress_ifindex = (__u32)lan_ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data,
		    .data_size_in = (__u32)size, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	__u64 sum[N_COUNTERS];
	const __u64 *s;
	size_t i;
	int c, moved = -1, want, path, cache = 0;
	bool spd;
	__u32 key = 0;

	if (bpf_map__update_elem(stats_map, &key, 4, zero,
				 sizeof(*zero) * ncpus, BPF_ANY))
		abort();
	if (bpf_map__update_elem(ifaces, &lan_ifindex, 4, &lan_ifc,
				 sizeof(lan_ifc), BPF_ANY))
		abort();
	c = bpf_prog_test_run_opts(prog_fd, &opts);
	if (bpf_map__delete_elem(ifaces, &lan_ifindex, 4, 0))
		abort();
	if (c || opts.data_size_out != size || memcmp(out, data, size))
		abort();
	if (bpf_map__lookup_elem(stats_map, &key, 4, percpu,
				 sizeof(*percpu) * ncpus, 0))
		abort();
	memset(sum, 0, sizeof(sum));
	for (c = 0; c < ncpus; c++) {
		s = (const __u64 *)&percpu[c];
		for (i = 0; i < N_COUNTERS; i++)
			sum[i] += s[i];
	}
	if (sum[C_rx_packets] != 1 || sum[C_lan_rx_packets] != 1)
		abort();
	for (i = 1; i < N_COUNTERS; i++) {
		if (!sum[i] || i == C_lan_rx_packets)
			continue;
		if (sum[i] != 1)
			abort();
		if (i == C_spd_cache_hit || i == C_spd_cache_miss) {
			cache++;
			continue;
		}
		if (moved >= 0)
			abort();
		moved = (int)i;
	}
	if (moved < 0 || cache > 1) {
		fprintf(stderr, "fuzz_xdp: LAN: %d verdicts, %d cache counters\n",
			moved < 0 ? 0 : 1, cache);
		abort();
	}
	switch (moved) {
	case C_pass_lan_other:
	case C_pass_lan_local:
	case C_pass_lan_no_route:
	case C_pass_spd_bypass:
		if (opts.retval != XDP_PASS)
			abort();
		break;
	case C_drop_malformed:
	case C_drop_lan_no_xsk:
	case C_drop_spd_discard:
		if (opts.retval != XDP_DROP)
			abort();
		break;
	default: /* redirect_*: no XSK is bound */
		abort();
	}
	want = lan_reference(data, size, &spd, &path);
	lan_extra[moved * 16 + path] = 1;
	if (moved != want || cache != spd) {
		fprintf(stderr, "fuzz_xdp: LAN: counter %d moved, want %d (SPD %d/%d)\n",
			moved, want, cache, spd);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data,
		    .data_size_in = (__u32)size, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);
	struct espresso_meta m;
	const __u64 *s;
	__u64 sum[N_COUNTERS];
	size_t l3_len, i;
	int err, c, moved = -1, want, vlans, path;
	__u32 key = 0;

	if (size > MAX_FRAME + 64)
		return 0;
	if (bpf_map__update_elem(stats_map, &key, 4, zero,
				 sizeof(*zero) * ncpus, BPF_ANY))
		abort();
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (size < 14 || size > MAX_FRAME) {
		if (err != -EINVAL)
			abort();
		return 0;
	}
	if (err || opts.data_size_out != size || memcmp(out, data, size))
		abort();
	if (bpf_map__lookup_elem(stats_map, &key, 4, percpu,
				 sizeof(*percpu) * ncpus, 0))
		abort();
	memset(sum, 0, sizeof(sum));
	for (c = 0; c < ncpus; c++) {
		s = (const __u64 *)&percpu[c];
		for (i = 0; i < N_COUNTERS; i++)
			sum[i] += s[i];
	}
	if (sum[C_rx_packets] != 1)
		abort();
	for (i = 1; i < N_COUNTERS; i++) {
		if (!sum[i])
			continue;
		if (sum[i] != 1 || moved >= 0)
			abort();
		moved = (int)i;
	}
	if (moved < 0)
		abort();
	switch (moved) {
	case C_pass_not_ip:
	case C_pass_other:
	case C_pass_ike:
	case C_pass_fragment:
	case C_pass_natt_keepalive:
	case C_pass_ip6_ext:
		if (opts.retval != XDP_PASS)
			abort();
		break;
	case C_drop_unknown_spi:
	case C_drop_malformed:
	case C_drop_no_xsk:
		if (opts.retval != XDP_DROP)
			abort();
		break;
	default: /* redirect_*, drop_meta: no XSK is bound */
		abort();
	}
	want = reference(data, size, &vlans, &path);
	extra[moved * 64 + vlans * 16 + path] = 1;
	if (moved != want)
		abort();
	if (moved == C_drop_unknown_spi || moved == C_drop_no_xsk) {
		uint32_t spi;

		if (parse_outer(data, size, &m, &l3_len) ||
		    m.verdict != ESPRESSO_V_ESP_IN)
			abort();
		spi = fz_get32(data + m.esp_off);
		if (m.spi != spi || spi_known(spi) != (moved == C_drop_no_xsk) ||
		    m.l3_off != 14 + 4 * vlans ||
		    m.l3_off + l3_len > size || m.esp_off + 8 > m.l3_off + l3_len)
			abort();
	}
	run_lan(data, size);
	return 0;
}
