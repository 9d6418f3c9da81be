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
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
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

static struct bpf_object *obj;
static struct bpf_map *stats_map;
static int prog_fd = -1, ncpus;
static struct espresso_xdp_stats *percpu, *zero;
static uint8_t out[MAX_FRAME + 64];

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t extra[N_COUNTERS * 64];

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
	return 0;
}
