// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the XDP classifier bpf/espresso.bpf.o, run on fixture frames
 * with BPF_PROG_TEST_RUN (libbpf bpf_prog_test_run_opts). Needs root.
 *
 * The object is loaded with every map's pin path cleared, so nothing is
 * pinned or reused from /sys/fs/bpf. espresso_sa_in holds SPI 0x1000 ->
 * sa_index 3. No AF_XDP socket is bound, so a frame classified as inbound
 * ESP with a known SPI ends as XDP_DROP counted in drop_no_xsk (and
 * redirect_* stay 0): that counter proves the frame was classified as known.
 *
 * The object is bpf/espresso.bpf.o relative to the current directory (the
 * tests run from the repository root), or $ESPRESSO_BPF_OBJ.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <criterion/criterion.h>

#include "espresso/common.h"

#define KNOWN_SPI 0x1000u
#define UNKNOWN_SPI 0x2000u
#define KNOWN_SA_INDEX 3u

static struct bpf_object *obj;
static struct bpf_map *sa_map, *stats_map;
static int prog_fd = -1, ncpus;

static int quiet_print(enum libbpf_print_level level, const char *fmt,
		       va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void bpf_setup(void)
{
	const char *path = getenv("ESPRESSO_BPF_OBJ");
	struct espresso_sa_in val = { .sa_index = KNOWN_SA_INDEX };
	struct bpf_program *prog;
	struct bpf_map *map;
	__u32 key = KNOWN_SPI;
	int err;

	if (geteuid() != 0)
		cr_skip_test("BPF_PROG_TEST_RUN needs root");
	if (!path)
		path = "bpf/espresso.bpf.o";
	if (access(path, R_OK))
		cr_assert_fail("%s: %s (build it: make bpf/espresso.bpf.o)",
			       path, strerror(errno));
	libbpf_set_print(quiet_print);
	obj = bpf_object__open_file(path, NULL);
	cr_assert_not_null(obj, "open %s: %s", path, strerror(errno));
	bpf_object__for_each_map(map, obj)
		cr_assert_eq(bpf_map__set_pin_path(map, NULL), 0);
	err = bpf_object__load(obj);
	cr_assert_eq(err, 0, "load %s: %s", path, strerror(-err));
	prog = bpf_object__find_program_by_name(obj, ESPRESSO_PROG_NAME);
	cr_assert_not_null(prog, "no program %s", ESPRESSO_PROG_NAME);
	prog_fd = bpf_program__fd(prog);
	cr_assert_geq(prog_fd, 0);
	sa_map = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_SA_IN);
	stats_map = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_STATS);
	cr_assert_not_null(sa_map);
	cr_assert_not_null(stats_map);
	cr_assert_not_null(bpf_object__find_map_by_name(obj, ESPRESSO_MAP_XSKS));
	cr_assert_null(bpf_map__pin_path(sa_map), "map would be pinned");
	ncpus = libbpf_num_possible_cpus();
	cr_assert_gt(ncpus, 0);
	/* the key is the SPI in host byte order */
	cr_assert_eq(bpf_map__update_elem(sa_map, &key, sizeof(key), &val,
					  sizeof(val), BPF_ANY),
		     0, "insert SPI: %s", strerror(errno));
}

static void bpf_teardown(void)
{
	if (obj)
		bpf_object__close(obj);
	obj = NULL;
}

TestSuite(bpf, .init = bpf_setup, .fini = bpf_teardown);

/* ---- stats ---------------------------------------------------------------- */

#define N_COUNTERS (sizeof(struct espresso_xdp_stats) / sizeof(__u64))

static const char *const counter_names[] = {
#define X_NAME(name, help) #name,
	ESPRESSO_XDP_COUNTERS(X_NAME)
#undef X_NAME
};

static void stats_reset(void)
{
	struct espresso_xdp_stats *zero = calloc(ncpus, sizeof(*zero));
	__u32 key = 0;

	cr_assert_not_null(zero);
	cr_assert_eq(bpf_map__update_elem(stats_map, &key, sizeof(key), zero,
					  sizeof(*zero) * ncpus, BPF_ANY),
		     0, "reset stats: %s", strerror(errno));
	free(zero);
}

/* The per-CPU counters summed over all CPUs. */
static void stats_read(struct espresso_xdp_stats *sum)
{
	struct espresso_xdp_stats *v = calloc(ncpus, sizeof(*v));
	__u64 *s = (__u64 *)sum;
	__u32 key = 0;
	size_t c, i;

	cr_assert_not_null(v);
	cr_assert_eq(bpf_map__lookup_elem(stats_map, &key, sizeof(key), v,
					  sizeof(*v) * ncpus, 0),
		     0, "read stats: %s", strerror(errno));
	memset(sum, 0, sizeof(*sum));
	for (c = 0; c < (size_t)ncpus; c++)
		for (i = 0; i < N_COUNTERS; i++)
			s[i] += ((__u64 *)&v[c])[i];
	free(v);
}

/* Every counter equals want's (the zero ones included). */
static void stats_expect(const struct espresso_xdp_stats *want,
			 const char *what)
{
	struct espresso_xdp_stats got;
	const __u64 *g = (const __u64 *)&got, *w = (const __u64 *)want;
	size_t i;

	stats_read(&got);
	for (i = 0; i < N_COUNTERS; i++)
		cr_expect_eq(g[i], w[i], "%s: counter %s = %llu, want %llu",
			     what, counter_names[i], (unsigned long long)g[i],
			     (unsigned long long)w[i]);
}

/* Run the program once on the frame; return its verdict. */
static __u32 run(const void *frame, size_t len)
{
	unsigned char out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = (__u32)len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);
	int err;

	stats_reset();
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	cr_assert_eq(err, 0, "test run: %s", strerror(-err));
	return opts.retval;
}

/* Run, check the verdict and that exactly one counter besides rx_packets
 * moved (by one). */
#define EXPECT(frame, len, verdict, counter)                                  \
	do {                                                                  \
		struct espresso_xdp_stats want_ = { .rx_packets = 1 };        \
		__u32 v_ = run((frame), (len));                              \
		want_.counter = 1;                                            \
		cr_assert_eq(v_, (verdict), "verdict %u, want %s", v_,        \
			     #verdict);                                       \
		stats_expect(&want_, #counter);                               \
	} while (0)

/* ---- frames built field by field ---------------------------------------- */

struct frame {
	unsigned char b[512];
	size_t len;
};

static void put(struct frame *f, const void *d, size_t n)
{
	cr_assert_leq(f->len + n, sizeof(f->b));
	memcpy(f->b + f->len, d, n);
	f->len += n;
}

static void put8(struct frame *f, unsigned int v)
{
	unsigned char c = (unsigned char)v;

	put(f, &c, 1);
}

static void put16(struct frame *f, unsigned int v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static void put32(struct frame *f, __u32 v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void set16(struct frame *f, size_t off, unsigned int v)
{
	f->b[off] = (unsigned char)(v >> 8);
	f->b[off + 1] = (unsigned char)v;
}

/* dst 02:00:00:00:00:01, src 02:00:00:00:00:02 */
static void eth(struct frame *f, unsigned int type)
{
	static const unsigned char macs[12] = { 2, 0, 0, 0, 0, 1,
						2, 0, 0, 0, 0, 2 };

	f->len = 0;
	put(f, macs, sizeof(macs));
	put16(f, type);
}

/* A VLAN tag: TCI, then the type of what follows. */
static void vlan(struct frame *f, unsigned int vid, unsigned int type)
{
	put16(f, vid & 0xfff);
	put16(f, type);
}

/* IPv4 198.51.100.2 -> 192.0.2.1, ttl 64, id 1; ihl > 5 adds NOP options.
 * tot_len and the checksum are written by ip4_done. */
static size_t ip4(struct frame *f, unsigned int proto, unsigned int ihl,
		  unsigned int frag)
{
	size_t off = f->len;
	unsigned int i;

	put8(f, 0x40 | ihl);
	put8(f, 0);
	put16(f, 0);
	put16(f, 1);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0xc6336402);
	put32(f, 0xc0000201);
	for (i = 5; i < ihl; i++)
		put32(f, 0x01010101);
	return off;
}

static void ip4_done(struct frame *f, size_t off)
{
	unsigned int ihl = (f->b[off] & 15) * 4u, i;
	__u32 sum = 0;

	set16(f, off + 2, (unsigned int)(f->len - off));
	for (i = 0; i < ihl; i += 2)
		sum += (unsigned int)f->b[off + i] << 8 | f->b[off + i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	set16(f, off + 10, ~sum & 0xffff);
}

/* IPv6 2001:db8::2 -> 2001:db8::1, hop limit 64. */
static size_t ip6(struct frame *f, unsigned int next)
{
	static const unsigned char src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	static const unsigned char dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	size_t off = f->len;

	put32(f, 0x60000000);
	put16(f, 0);
	put8(f, next);
	put8(f, 64);
	put(f, src, 16);
	put(f, dst, 16);
	return off;
}

static void ip6_done(struct frame *f, size_t off)
{
	set16(f, off + 4, (unsigned int)(f->len - off - 40));
}

/* UDP with checksum 0; length written by udp_done. */
static size_t udp(struct frame *f, unsigned int sport, unsigned int dport)
{
	size_t off = f->len;

	put16(f, sport);
	put16(f, dport);
	put16(f, 0);
	put16(f, 0);
	return off;
}

static void udp_done(struct frame *f, size_t off)
{
	set16(f, off + 4, (unsigned int)(f->len - off));
}

/* ESP header (SPI, seq 1) and n bytes 0, 1, 2, ... as IV/ciphertext. */
static void esp(struct frame *f, __u32 spi, size_t n)
{
	size_t i;

	put32(f, spi);
	put32(f, 1);
	for (i = 0; i < n; i++)
		put8(f, (unsigned int)i);
}

/* Ethernet / IPv4 / ESP(spi) with 32 payload bytes. */
static void esp4_frame(struct frame *f, __u32 spi)
{
	size_t ip;

	eth(f, 0x0800);
	ip = ip4(f, IPPROTO_ESP, 5, 0);
	esp(f, spi, 32);
	ip4_done(f, ip);
}

/* Ethernet / IPv4 / UDP 4500->4500 / payload */
static void natt4_frame(struct frame *f, const void *payload, size_t n)
{
	size_t ip, u;

	eth(f, 0x0800);
	ip = ip4(f, IPPROTO_UDP, 5, 0);
	u = udp(f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);
	put(f, payload, n);
	udp_done(f, u);
	ip4_done(f, ip);
}

/* ---- frames from scapy ----------------------------------------------------- */

/*
 * bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
 *       / IP(src="198.51.100.2", dst="192.0.2.1", id=1, flags=0, ttl=64)
 *       / ESP(spi=0x1000, seq=1) / Raw(bytes(range(32))))
 */
static const unsigned char scapy_esp4[74] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x32,
	0x8e, 0x58, 0xc6, 0x33, 0x64, 0x02, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x00,
	0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
	0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
	0x1e, 0x1f,
};

/*
 * bytes(Ether(...same MACs...)
 *       / IP(src="198.51.100.2", dst="192.0.2.1", id=1, ttl=64)
 *       / UDP(sport=4500, dport=4500) / ESP(spi=0x1000, seq=1)
 *       / Raw(bytes(range(32))))
 */
static const unsigned char scapy_natt4[82] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x8e, 0x71, 0xc6, 0x33, 0x64, 0x02, 0xc0, 0x00, 0x02, 0x01, 0x11, 0x94,
	0x11, 0x94, 0x00, 0x30, 0xef, 0x2c, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/*
 * IKE on the NAT-T port: the 4-byte zero non-ESP marker (RFC 3948 2.2).
 * bytes(Ether(...) / IP(src="198.51.100.2", dst="192.0.2.1", id=1, ttl=64)
 *       / UDP(sport=4500, dport=4500)
 *       / Raw(b"\0\0\0\0" + bytes(range(28))))
 */
static const unsigned char scapy_ike[74] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x8e, 0x79, 0xc6, 0x33, 0x64, 0x02, 0xc0, 0x00, 0x02, 0x01, 0x11, 0x94,
	0x11, 0x94, 0x00, 0x28, 0x39, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
	0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
	0x1a, 0x1b,
};

/*
 * NAT-T keepalive, one 0xff byte (RFC 3948 2.3), frame not padded:
 * bytes(Ether(...) / IP(src="198.51.100.2", dst="192.0.2.1", id=1, ttl=64)
 *       / UDP(sport=4500, dport=4500) / Raw(b"\xff"))
 */
static const unsigned char scapy_keepalive[43] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x1d, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x8e, 0x98, 0xc6, 0x33, 0x64, 0x02, 0xc0, 0x00, 0x02, 0x01, 0x11, 0x94,
	0x11, 0x94, 0x00, 0x09, 0xf1, 0x7b, 0xff,
};

/*
 * bytes(Ether(...) / IPv6(src="2001:db8::2", dst="2001:db8::1", hlim=64)
 *       / ESP(spi=0x1000, seq=1) / Raw(bytes(range(32))))
 */
static const unsigned char scapy_esp6[94] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x32, 0x40, 0x20, 0x01,
	0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* The C builders make the same bytes as scapy. */
Test(bpf, builders_match_scapy)
{
	struct frame f;
	size_t ip;

	esp4_frame(&f, KNOWN_SPI);
	cr_assert_eq(f.len, sizeof(scapy_esp4));
	cr_assert_arr_eq(f.b, scapy_esp4, f.len);
	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_ESP);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	cr_assert_eq(f.len, sizeof(scapy_esp6));
	cr_assert_arr_eq(f.b, scapy_esp6, f.len);
}

/* ---- inbound ESP ------------------------------------------------------------- */

Test(bpf, esp_known_spi)
{
	EXPECT(scapy_esp4, sizeof(scapy_esp4), XDP_DROP, drop_no_xsk);
}

Test(bpf, esp_unknown_spi)
{
	struct frame f;

	esp4_frame(&f, UNKNOWN_SPI);
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
	/* the SPI is read in network byte order: 0x00100000 is not 0x1000 */
	esp4_frame(&f, 0x00100000u);
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
}

Test(bpf, map_key_is_host_order_spi)
{
	struct espresso_sa_in val = { .sa_index = 9 };
	struct frame f;
	__u32 key = UNKNOWN_SPI;

	cr_assert_eq(bpf_map__update_elem(sa_map, &key, sizeof(key), &val,
					  sizeof(val), BPF_ANY),
		     0);
	esp4_frame(&f, UNKNOWN_SPI);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	cr_assert_eq(bpf_map__delete_elem(sa_map, &key, sizeof(key), 0), 0);
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
}

Test(bpf, esp_truncated)
{
	struct frame f;
	size_t ip;

	/* only the SPI after the IPv4 header (frame 38 bytes, no padding) */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	put32(&f, KNOWN_SPI);
	ip4_done(&f, ip);
	cr_assert_eq(f.len, 38);
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	/* SPI and sequence number only: enough to classify */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	esp(&f, KNOWN_SPI, 0);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
}

Test(bpf, ipv4_header_truncated)
{
	struct frame f;

	esp4_frame(&f, KNOWN_SPI);
	EXPECT(f.b, 14 + 19, XDP_DROP, drop_malformed);
	EXPECT(f.b, 14 + 10, XDP_DROP, drop_malformed);
	EXPECT(f.b, 14, XDP_DROP, drop_malformed);
}

Test(bpf, ipv4_options)
{
	struct frame f;
	size_t ip;

	/* ihl 6: one word of NOP options (0x01010101, not a known SPI) */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 6, 0);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	cr_assert_eq(f.b[14], 0x46);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	/* ihl 15, the largest header */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 15, 0);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	/* ihl 15, but the frame ends inside the options */
	EXPECT(f.b, 14 + 40, XDP_DROP, drop_malformed);
}

Test(bpf, ipv4_bad_ihl)
{
	struct frame f;

	esp4_frame(&f, KNOWN_SPI);
	f.b[14] = 0x44;
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	f.b[14] = 0x40;
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
}

Test(bpf, ipv4_bad_version)
{
	struct frame f;

	esp4_frame(&f, KNOWN_SPI);
	f.b[14] = 0x65; /* version 6 in an IPv4 ethertype */
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
}

Test(bpf, ipv4_tot_len)
{
	struct frame f;

	esp4_frame(&f, KNOWN_SPI);
	set16(&f, 16, (unsigned int)(f.len - 14 + 1)); /* one past the frame */
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	set16(&f, 16, 0xffff);
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	set16(&f, 16, 19); /* shorter than the header */
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	/* shorter than the frame (Ethernet padding): fine */
	esp4_frame(&f, KNOWN_SPI);
	memset(f.b + f.len, 0, 20);
	EXPECT(f.b, f.len + 20, XDP_DROP, drop_no_xsk);
}

Test(bpf, ipv4_fragment)
{
	struct frame f;
	size_t ip;

	/* first fragment: MF set, offset 0 */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0x2000);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	/* last fragment: offset 185 (1480 bytes) */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 185);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	/* DF alone is not a fragment */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0x4000);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
}

/* ---- VLAN ------------------------------------------------------------------- */

Test(bpf, vlan_one_tag)
{
	struct frame f;
	size_t ip;

	eth(&f, 0x8100);
	vlan(&f, 100, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	eth(&f, 0x8100);
	vlan(&f, 100, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	esp(&f, UNKNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
}

Test(bpf, vlan_two_tags)
{
	struct frame f;
	size_t ip;

	/* 802.1ad outer tag, 802.1Q inner tag */
	eth(&f, 0x88a8);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	/* two 802.1Q tags, IPv6 inside */
	eth(&f, 0x8100);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x86dd);
	ip = ip6(&f, IPPROTO_ESP);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
}

Test(bpf, vlan_three_tags_not_parsed)
{
	struct frame f;
	size_t ip;

	/* VLAN_MAX_DEPTH is 2: the third tag is taken as the ethertype */
	eth(&f, 0x8100);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x8100);
	vlan(&f, 30, 0x0800);
	ip = ip4(&f, IPPROTO_ESP, 5, 0);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_not_ip);
}

Test(bpf, vlan_truncated)
{
	struct frame f;

	eth(&f, 0x8100);
	put16(&f, 100); /* TCI, then the frame ends */
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
}

/* ---- NAT-T (RFC 3948) ------------------------------------------------------- */

Test(bpf, natt_esp_known_spi)
{
	EXPECT(scapy_natt4, sizeof(scapy_natt4), XDP_DROP, drop_no_xsk);
}

Test(bpf, natt_esp_unknown_spi)
{
	unsigned char p[40] = { 0, 0, 0x20, 0, 0, 0, 0, 1 };
	struct frame f;

	natt4_frame(&f, p, sizeof(p));
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
}

Test(bpf, natt_esp_truncated)
{
	unsigned char p[4] = { 0, 0, 0x10, 0 };
	struct frame f;

	/* an SPI but no sequence number */
	natt4_frame(&f, p, sizeof(p));
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	/* UDP header cut short */
	natt4_frame(&f, p, sizeof(p));
	EXPECT(f.b, 14 + 20 + 6, XDP_DROP, drop_malformed);
}

Test(bpf, ike_non_esp_marker)
{
	EXPECT(scapy_ike, sizeof(scapy_ike), XDP_PASS, pass_ike);
}

Test(bpf, natt_keepalive)
{
	EXPECT(scapy_keepalive, sizeof(scapy_keepalive), XDP_PASS,
	       pass_natt_keepalive);
}

/*
 * The same keepalive as it arrives from a NIC: Ethernet pads the 43-byte
 * frame to the 60-byte minimum with zeros (the IPv4 tot_len and UDP
 * length still say one byte of payload). It must still be a keepalive.
 */
Test(bpf, natt_keepalive_padded_to_60)
{
	unsigned char f[60] = { 0 };

	memcpy(f, scapy_keepalive, sizeof(scapy_keepalive));
	EXPECT(f, sizeof(f), XDP_PASS, pass_natt_keepalive);
}

Test(bpf, natt_short_payloads)
{
	unsigned char p[1];
	struct frame f;

	/* one byte, not 0xff */
	p[0] = 0x00;
	natt4_frame(&f, p, 1);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	/* no payload */
	natt4_frame(&f, p, 0);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
}

Test(bpf, udp_other_port)
{
	unsigned char p[16] = { 0, 0, 0x10, 0, 0, 0, 0, 1 };
	struct frame f;
	size_t ip, u;

	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_UDP, 5, 0);
	u = udp(&f, 4500, 53);
	put(&f, p, sizeof(p));
	udp_done(&f, u);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	/* from 4500 to 500 (IKE without NAT-T) */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_UDP, 5, 0);
	u = udp(&f, 4500, 500);
	put(&f, p, sizeof(p));
	udp_done(&f, u);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
}

/*
 * A tunnel's own NAT-T port (local_port): ESP-in-UDP to it is NAT-T once
 * the control thread lists it in espresso_natt_ports (key: the port in
 * network order), IKE's zero marker and keepalives on it go to the kernel
 * as on 4500, and it is plain UDP again once it leaves the map.
 */
static void natt_port_frame(struct frame *f, unsigned int dport,
			    const void *payload, size_t n)
{
	size_t ip, u;

	eth(f, 0x0800);
	ip = ip4(f, IPPROTO_UDP, 5, 0);
	u = udp(f, 4600, dport);
	put(f, payload, n);
	udp_done(f, u);
	ip4_done(f, ip);
}

Test(bpf, natt_configured_port)
{
	struct bpf_map *ports = bpf_object__find_map_by_name(
		obj, ESPRESSO_MAP_NATT_PORTS);
	unsigned char esp[16] = { 0, 0, 0x10, 0, 0, 0, 0, 1 };
	unsigned char ike[16] = { 0 }, ka = 0xff;
	__u16 key = htons(4600);
	__u32 one = 1;
	struct frame f;

	cr_assert_not_null(ports);
	/* not listed: plain UDP */
	natt_port_frame(&f, 4600, esp, sizeof(esp));
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	cr_assert_eq(bpf_map__update_elem(ports, &key, sizeof(key), &one,
					  sizeof(one), BPF_ANY), 0);
	/* listed: the known SPI's ESP goes to the XSK (none in a test run) */
	natt_port_frame(&f, 4600, esp, sizeof(esp));
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	natt_port_frame(&f, 4600, ike, sizeof(ike));
	EXPECT(f.b, f.len, XDP_PASS, pass_ike);
	natt_port_frame(&f, 4600, &ka, 1);
	EXPECT(f.b, f.len, XDP_PASS, pass_natt_keepalive);
	/* another port still is not; 4500 always is */
	natt_port_frame(&f, 4601, esp, sizeof(esp));
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	natt_port_frame(&f, 4500, esp, sizeof(esp));
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	cr_assert_eq(bpf_map__delete_elem(ports, &key, sizeof(key), 0), 0);
	natt_port_frame(&f, 4600, esp, sizeof(esp));
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
}

/* ---- not ESP ----------------------------------------------------------------- */

Test(bpf, arp)
{
	/* an ARP request 198.51.100.2 asks for 192.0.2.1, built field by field */
	static const unsigned char arp[] = { 0x00, 0x01, 0x08, 0x00, 6, 4,
					     0x00, 0x01, 2, 0, 0, 0, 0, 2,
					     198, 51, 100, 2, 0, 0, 0, 0, 0,
					     0, 192, 0, 2, 1 };
	struct frame f;

	eth(&f, 0x0806);
	memset(f.b, 0xff, 6);
	put(&f, arp, sizeof(arp));
	EXPECT(f.b, f.len, XDP_PASS, pass_not_ip);
}

/* A TCP SYN 40000 -> 22, built field by field. */
static void tcp_syn(struct frame *f)
{
	put16(f, 40000);
	put16(f, 22);
	put32(f, 1);
	put32(f, 0);
	put16(f, 0x5002);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
}

Test(bpf, tcp)
{
	struct frame f;
	size_t ip;

	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_TCP, 5, 0x4000);
	tcp_syn(&f);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_TCP);
	tcp_syn(&f);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
	/* ICMP */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_ICMP, 5, 0);
	put32(&f, 0x08000000);
	put32(&f, 0x00010001);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_other);
}

/* ---- IPv6 outer ---------------------------------------------------------------- */

Test(bpf, ipv6_esp_known_spi)
{
	EXPECT(scapy_esp6, sizeof(scapy_esp6), XDP_DROP, drop_no_xsk);
}

Test(bpf, ipv6_esp_unknown_spi)
{
	struct frame f;
	size_t ip;

	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_ESP);
	esp(&f, UNKNOWN_SPI, 32);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_unknown_spi);
}

Test(bpf, ipv6_natt_known_spi)
{
	struct frame f;
	size_t ip, u;

	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_UDP);
	u = udp(&f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);
	esp(&f, KNOWN_SPI, 32);
	udp_done(&f, u);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
}

Test(bpf, ipv6_fragment)
{
	struct frame f;
	size_t ip;

	/* fragment header (44): next ESP, offset 0, M set, id 7 */
	eth(&f, 0x86dd);
	ip = ip6(&f, 44);
	put8(&f, IPPROTO_ESP);
	put8(&f, 0);
	put16(&f, 0x0001);
	put32(&f, 7);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
}

Test(bpf, ipv6_malformed)
{
	struct frame f;
	size_t ip;

	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_ESP);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	/* payload_len past the frame */
	set16(&f, 18, (unsigned int)(f.len - 54 + 1));
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	set16(&f, 18, (unsigned int)(f.len - 54));
	/* header cut short */
	EXPECT(f.b, 14 + 39, XDP_DROP, drop_malformed);
	/* version 4 in an IPv6 ethertype */
	f.b[14] = 0x40;
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	/* ESP with only the SPI */
	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_ESP);
	put32(&f, KNOWN_SPI);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
}

/* Run without resetting the counters; return the verdict. */
static __u32 run_raw(const void *frame, size_t len, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = (__u32)len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	cr_assert_eq(err, 0, "test run: %s", strerror(-err));
	return opts.retval;
}

/* Counters add up over several runs and only reset when written. */
Test(bpf, counters_accumulate)
{
	struct espresso_xdp_stats want = { 0 };
	struct frame f;
	int i;

	stats_reset();
	for (i = 0; i < 3; i++)
		cr_assert_eq(run_raw(scapy_esp4, sizeof(scapy_esp4), 1),
			     XDP_DROP);
	esp4_frame(&f, UNKNOWN_SPI);
	cr_assert_eq(run_raw(f.b, f.len, 1), XDP_DROP);
	cr_assert_eq(run_raw(scapy_ike, sizeof(scapy_ike), 1), XDP_PASS);
	want.rx_packets = 5;
	want.drop_no_xsk = 3;
	want.drop_unknown_spi = 1;
	want.pass_ike = 1;
	stats_expect(&want, "after 5 runs");
	/* repeat = 4 runs the program four times */
	stats_reset();
	cr_assert_eq(run_raw(scapy_esp6, sizeof(scapy_esp6), 4), XDP_DROP);
	memset(&want, 0, sizeof(want));
	want.rx_packets = 4;
	want.drop_no_xsk = 4;
	stats_expect(&want, "repeat 4");
}

/* ---- router mode: a LAN interface ------------------------------------------ */

/*
 * BPF_PROG_TEST_RUN runs the program as if on the loopback device (ifindex
 * 1) of the test's namespace: listed in espresso_ifaces, it is a LAN with
 * the MAC the frames are sent to (02:00:00:00:00:01). espresso_routes4 has
 * 192.0.2.0/24 -> tunnel slot 4 + 1; 192.0.2.1 is one of our own. Each
 * test runs in its own process: the other tests see an uplink.
 */
#define LAN_ROUTE_VALUE 5u

static void lan_setup(void)
{
	struct espresso_iface ifc = { .lan = 1, .mac = { 2, 0, 0, 0, 0, 1 } };
	struct espresso_lpm4_key k = { .prefixlen = 16 + 24, /* VRF 0 */
				       .addr = { 192, 0, 2, 0 } };
	struct espresso_route v = { .tunnel = LAN_ROUTE_VALUE };
	__u32 lo = 1;

	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
					  ESPRESSO_MAP_IFACES), &lo, sizeof(lo),
					  &ifc, sizeof(ifc), BPF_ANY), 0);
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
					  ESPRESSO_MAP_ROUTES4), &k, sizeof(k),
					  &v, sizeof(v), BPF_ANY), 0);
}

static void lan_local(__u32 addr_be)
{
	__u32 one = 1;

	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
					  ESPRESSO_MAP_LOCAL4), &addr_be,
					  sizeof(addr_be), &one, sizeof(one),
					  BPF_ANY), 0);
}

#define EXPECT_LAN(frame, len, verdict, counter)                              \
	do {                                                                  \
		struct espresso_xdp_stats want_ = { .rx_packets = 1,         \
						    .lan_rx_packets = 1 };    \
		__u32 v_ = run((frame), (len));                              \
		want_.counter = 1;                                            \
		cr_assert_eq(v_, (verdict), "verdict %u, want %s", v_,        \
			     #verdict);                                       \
		stats_expect(&want_, #counter);                               \
	} while (0)

/* A TCP SYN 198.51.100.2 -> 192.0.2.1 (a destination the route covers). */
static void lan_tcp(struct frame *f, unsigned int frag)
{
	size_t ip;

	eth(f, 0x0800);
	ip = ip4(f, IPPROTO_TCP, 5, frag);
	tcp_syn(f);
	ip4_done(f, ip);
}

Test(bpf, lan_covered_no_xsk_fails_closed)
{
	struct frame f;

	lan_setup();
	lan_tcp(&f, 0x4000);
	/* no socket bound: dropped, never passed to the kernel in clear */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_lan_no_xsk);
	/* a fragment is covered as a whole packet is */
	lan_tcp(&f, 0x2000);
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_lan_no_xsk);
	/* ESP on a LAN is plaintext to classify, not inbound ESP */
	esp4_frame(&f, KNOWN_SPI);
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_lan_no_xsk);
}

Test(bpf, lan_not_covered)
{
	struct frame f;

	lan_setup();
	lan_tcp(&f, 0);
	f.b[14 + 16 + 2] = 3; /* 192.0.3.1: no route (checksum not checked) */
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_no_route);
}

/* A LAN of VRF 2: the default VRF's route does not cover it; a route of
 * VRF 2 does, one of VRF 3 does not. */
Test(bpf, lan_vrf_routes_only_its_own)
{
	struct espresso_iface ifc = { .lan = 1, .mac = { 2, 0, 0, 0, 0, 1 },
				      .vrf = 2 };
	struct espresso_lpm4_key k = { .prefixlen = 16 + 24, .vrf = { 0, 3 },
				       .addr = { 192, 0, 2, 0 } };
	struct espresso_route v = { .tunnel = LAN_ROUTE_VALUE };
	struct bpf_map *routes = bpf_object__find_map_by_name(obj,
						ESPRESSO_MAP_ROUTES4);
	struct frame f;
	__u32 lo = 1;

	lan_setup(); /* 192.0.2.0/24 in the default VRF */
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
					  ESPRESSO_MAP_IFACES), &lo, sizeof(lo),
					  &ifc, sizeof(ifc), BPF_ANY), 0);
	cr_assert_eq(bpf_map__update_elem(routes, &k, sizeof(k), &v, sizeof(v),
					  BPF_ANY), 0);
	lan_tcp(&f, 0);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_no_route);
	k.vrf[1] = 2;
	cr_assert_eq(bpf_map__update_elem(routes, &k, sizeof(k), &v, sizeof(v),
					  BPF_ANY), 0);
	stats_reset();
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_lan_no_xsk); /* covered */
}

Test(bpf, lan_gateway_itself)
{
	struct frame f;

	lan_setup();
	lan_local(htonl(0xc0000201));
	lan_tcp(&f, 0);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	/* broadcast and another host's unicast are not routed */
	lan_local(htonl(0x01020304));
	lan_tcp(&f, 0);
	memset(f.b, 0xff, 6);
	cr_assert_eq(bpf_map__delete_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_LOCAL4), &(__u32){ htonl(0xc0000201) },
		     sizeof(__u32), 0), 0);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	f.b[0] = 2;
	f.b[5] = 9;
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
}

Test(bpf, lan_not_ipv4)
{
	static const unsigned char arp[28] = { 0x00, 0x01, 0x08, 0x00, 6, 4 };
	struct frame f;
	size_t ip;

	lan_setup();
	eth(&f, 0x0806);
	put(&f, arp, sizeof(arp));
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_other);
	/* IPv6 is classified (lan6_* below); with no IPv6 route, the kernel's */
	eth(&f, 0x86dd);
	ip = ip6(&f, IPPROTO_TCP);
	tcp_syn(&f);
	ip6_done(&f, ip);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_no_route);
	eth(&f, 0x8100);
	vlan(&f, 5, 0x0800);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_other);
}

Test(bpf, lan_malformed)
{
	struct frame f;

	lan_setup();
	lan_tcp(&f, 0);
	set16(&f, 14 + 2, (unsigned int)f.len); /* tot_len past the frame */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_malformed);
	lan_tcp(&f, 0);
	f.b[14] = 0x44; /* ihl 4 */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_malformed);
	lan_tcp(&f, 0);
	EXPECT_LAN(f.b, 14 + 10, XDP_DROP, drop_malformed);
}

/* ---- router mode: IPv6 on a LAN -------------------------------------------- */

/* espresso_routes6: 2001:db8::/32 -> tunnel slot 4 + 1 (with lan_setup). */
static void lan6_setup(void)
{
	struct espresso_lpm6_key k = { .prefixlen = 32,
				       .addr = { 0x20, 0x01, 0x0d, 0xb8 } };
	struct espresso_route v = { .tunnel = LAN_ROUTE_VALUE };

	lan_setup();
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
					  ESPRESSO_MAP_ROUTES6), &k, sizeof(k),
					  &v, sizeof(v), BPF_ANY), 0);
}

/* A TCP SYN 2001:db8::2 -> 2001:db8::1 (covered by the route). */
static void lan6_tcp(struct frame *f)
{
	size_t ip;

	eth(f, 0x86dd);
	ip = ip6(f, IPPROTO_TCP);
	tcp_syn(f);
	ip6_done(f, ip);
}

Test(bpf, lan6_covered_no_xsk_fails_closed)
{
	struct frame f;

	lan6_setup();
	lan6_tcp(&f);
	/* no socket bound: dropped, never passed to the kernel in clear */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_lan_no_xsk);
	/* the IPv4 route is not an IPv6 one: 3ffe::1 is not covered */
	lan6_tcp(&f);
	f.b[14 + 24] = 0x3f;
	f.b[14 + 25] = 0xfe;
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_no_route);
}

Test(bpf, lan6_kernel_keeps)
{
	static const unsigned char ll[16] = { 0xfe, 0x80, [15] = 1 };
	static const unsigned char nsm[16] = { 0xff, 0x02, [11] = 1, [12] = 0xff,
					       [15] = 1 };
	static const unsigned char own[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const unsigned char ll2[16] = { 0xfe, 0xbf, [15] = 1 };
	__u32 one = 1;
	struct frame f;

	lan6_setup();
	/* link-local (fe80::/10, up to febf::) and multicast (NDP) */
	lan6_tcp(&f);
	memcpy(f.b + 14 + 24, ll, 16);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	lan6_tcp(&f);
	memcpy(f.b + 14 + 24, ll2, 16);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	lan6_tcp(&f);
	memcpy(f.b + 14 + 24, nsm, 16);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	/* fec0:: is past fe80::/10: the route decides (none) */
	lan6_tcp(&f);
	f.b[14 + 24] = 0xfe;
	f.b[14 + 25] = 0xc0;
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_no_route);
	/* one of the gateway's own, inside the route */
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_LOCAL6), own, 16, &one, sizeof(one),
		     BPF_ANY), 0);
	lan6_tcp(&f);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	/* a link-local source is not forwarded, whatever its destination */
	lan6_tcp(&f);
	f.b[14 + 39] = 7;
	memcpy(f.b + 14 + 8, ll, 16);
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
	/* another host's unicast MAC */
	lan6_tcp(&f);
	f.b[14 + 39] = 7;
	f.b[5] = 9;
	EXPECT_LAN(f.b, f.len, XDP_PASS, pass_lan_local);
}

Test(bpf, lan6_malformed)
{
	struct frame f;

	lan6_setup();
	lan6_tcp(&f);
	set16(&f, 14 + 4, (unsigned int)f.len); /* payload past the frame */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_malformed);
	lan6_tcp(&f);
	f.b[14] = 0x40; /* version 4 in an IPv6 ethertype */
	EXPECT_LAN(f.b, f.len, XDP_DROP, drop_malformed);
	lan6_tcp(&f);
	EXPECT_LAN(f.b, 14 + 39, XDP_DROP, drop_malformed);
}

/* ---- router mode: the SPD and its flow cache ------------------------------ */

static void spd_rule_set(__u32 pos, __u32 id, __u8 proto, __u16 dport,
			 __u8 action, __u32 tunnel)
{
	struct espresso_spd_rule r = {
		.dst = htonl(0xc0000200), .dst_mask = htonl(0xffffff00),
		.sport_lo = 0, .sport_hi = 65535,
		.dport_lo = dport ? dport : 0, .dport_hi = dport ? dport : 65535,
		.proto = proto, .action = action, .tunnel = tunnel, .id = id,
	};

	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_SPD_RULES), &pos, sizeof(pos), &r, sizeof(r),
		     BPF_ANY), 0);
}

static void spd_gen(__u64 gen_set)
{
	struct espresso_spd_ctl ctl = { .gen_set = gen_set };
	__u32 zero = 0;

	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_SPD_CTL), &zero, sizeof(zero), &ctl,
		     sizeof(ctl), BPF_ANY), 0);
}

/*
 * Set 0, generation 1: 192.0.2.0/24 has two candidates in priority order,
 * rule 1 (TCP to port 22: discard) then rule 2 (anything: bypass).
 */
static void spd_setup(void)
{
	struct espresso_spd_lpm_key k = {
		.prefixlen = 8 + 24, .set = 0, .addr = { 192, 0, 2, 0 },
	};
	struct espresso_spd_cands c = { .n = 2, .rule = { 0, 1 } };

	lan_setup();
	spd_rule_set(0, 1, IPPROTO_TCP, 22, ESPRESSO_SPD_DISCARD, 0);
	spd_rule_set(1, 2, 0, 0, ESPRESSO_SPD_BYPASS, 0);
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_SPD_LPM), &k, sizeof(k), &c, sizeof(c),
		     BPF_ANY), 0);
	spd_gen(1 * 2 + 0);
}

/* Run; the verdict and the counters besides rx_packets and lan_rx_packets. */
static void expect_spd(const struct frame *f, __u32 verdict,
		       struct espresso_xdp_stats want, const char *what)
{
	__u32 v = run(f->b, f->len);

	want.rx_packets = 1;
	want.lan_rx_packets = 1;
	cr_assert_eq(v, verdict, "%s: verdict %u, want %u", what, v, verdict);
	stats_expect(&want, what);
}

Test(bpf, spd_priority_and_cache)
{
	struct espresso_flow_key key = {
		.src = htonl(0xc6336402), .dst = htonl(0xc0000201),
		.sport = htons(40000), .dport = htons(22), .proto = IPPROTO_TCP,
	};
	struct espresso_flow fl;
	struct frame f;

	spd_setup();
	lan_tcp(&f, 0); /* TCP 40000 -> 22: rule 1 before rule 2 */
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_spd_discard = 1 }, "first packet");
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_hit = 1, .drop_spd_discard = 1 }, "cached");
	cr_assert_eq(bpf_map__lookup_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_FLOW_CACHE), &key, sizeof(key), &fl,
		     sizeof(fl), 0), 0, "no flow cache entry");
	cr_assert_eq(fl.gen, 1);
	cr_assert_eq(fl.rule_id, 1);
	cr_assert_eq(fl.action, ESPRESSO_SPD_DISCARD);
	/* another port: rule 2 */
	lan_tcp(&f, 0);
	set16(&f, 14 + 20 + 2, 80);
	expect_spd(&f, XDP_PASS, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .pass_spd_bypass = 1 }, "port 80");
}

Test(bpf, spd_generation_invalidates_cache)
{
	struct frame f;

	spd_setup();
	lan_tcp(&f, 0);
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_spd_discard = 1 }, "generation 1");
	/* set 1, generation 2: rule 1 now protects into tunnel 9 + 1 */
	{
		struct espresso_spd_lpm_key k = {
			.prefixlen = 8 + 24, .set = 1, .addr = { 192, 0, 2, 0 },
		};
		struct espresso_spd_cands c = { .n = 1, .rule = { 0 } };

		spd_rule_set(ESPRESSO_SPD_MAX, 1, IPPROTO_TCP, 22,
			     ESPRESSO_SPD_PROTECT, 10);
		cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(
			     obj, ESPRESSO_MAP_SPD_LPM), &k, sizeof(k), &c,
			     sizeof(c), BPF_ANY), 0);
	}
	spd_gen(2 * 2 + 1);
	/* the cached discard is of generation 1: looked up again, protected
	 * (no XSK here: dropped as such, never passed) */
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_lan_no_xsk = 1 }, "generation 2");
	/* no policy at all: the SPD is skipped, the routes decide */
	spd_gen(0);
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.drop_lan_no_xsk = 1 }, "no SPD");
}

Test(bpf, spd_no_rule_falls_to_routes)
{
	struct frame f;

	spd_setup();
	lan_tcp(&f, 0);
	f.b[14 + 16 + 2] = 3; /* 192.0.3.1: no candidates, no route */
	expect_spd(&f, XDP_PASS, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .pass_lan_no_route = 1 }, "192.0.3.1");
	/* a fragment but the first has no ports: rule 1 (port 22) cannot
	 * match, rule 2 does */
	lan_tcp(&f, 0x0010);
	expect_spd(&f, XDP_PASS, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .pass_spd_bypass = 1 }, "later fragment");
}

Test(bpf, spd_source_and_port_selectors)
{
	struct espresso_spd_lpm_key k = {
		.prefixlen = 8 + 0, .set = 0,
	};
	struct espresso_spd_cands c = { .n = 1, .rule = { 0 } };
	struct espresso_spd_rule r = {
		/* from 198.51.100.0/24, TCP source ports 40000-40010 */
		.src = htonl(0xc6336400), .src_mask = htonl(0xffffff00),
		.sport_lo = 40000, .sport_hi = 40010, .dport_hi = 65535,
		.proto = IPPROTO_TCP, .action = ESPRESSO_SPD_DISCARD, .id = 7,
	};
	__u32 pos = 0;
	struct frame f;

	lan_setup();
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_SPD_RULES), &pos, sizeof(pos), &r, sizeof(r),
		     BPF_ANY), 0);
	cr_assert_eq(bpf_map__update_elem(bpf_object__find_map_by_name(obj,
		     ESPRESSO_MAP_SPD_LPM), &k, sizeof(k), &c, sizeof(c),
		     BPF_ANY), 0);
	spd_gen(1 * 2 + 0);
	lan_tcp(&f, 0); /* 198.51.100.2:40000 -> 192.0.2.1:22 */
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_spd_discard = 1 }, "in the selectors");
	lan_tcp(&f, 0);
	f.b[14 + 12 + 2] = 101; /* from 198.51.101.2 */
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_lan_no_xsk = 1 }, "other source");
	lan_tcp(&f, 0);
	set16(&f, 14 + 20, 40011); /* source port past the range */
	expect_spd(&f, XDP_DROP, (struct espresso_xdp_stats){
		.spd_cache_miss = 1, .drop_lan_no_xsk = 1 }, "other port");
}

/* ---- IPv6 extension headers, NAT-T fragments -------------------------------- */

/* An extension header (hop-by-hop, routing, destination options) of
 * 8 * (hdrlen + 1) bytes: next, hdrlen, then PadN. */
static void ext6(struct frame *f, unsigned int next, unsigned int hdrlen)
{
	size_t i;

	put8(f, next);
	put8(f, hdrlen);
	put8(f, 1);
	put8(f, (unsigned int)(8 * (hdrlen + 1) - 4));
	for (i = 4; i < 8 * (hdrlen + 1); i++)
		put8(f, 0);
}

Test(bpf, ipv6_extension_headers)
{
	struct frame f;
	size_t ip;
	int i;

	/* hop-by-hop, then destination options (16 bytes), then ESP */
	eth(&f, 0x86dd);
	ip = ip6(&f, 0);
	ext6(&f, 60, 0);
	ext6(&f, IPPROTO_ESP, 1);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
	/* four of them: still parsed; five: the kernel's */
	for (i = 4; i <= 5; i++) {
		int k;

		eth(&f, 0x86dd);
		ip = ip6(&f, 60);
		for (k = 0; k < i; k++)
			ext6(&f, k == i - 1 ? IPPROTO_ESP : 60, 0);
		esp(&f, KNOWN_SPI, 32);
		ip6_done(&f, ip);
		if (i == 4)
			EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
		else
			EXPECT(f.b, f.len, XDP_PASS, pass_ip6_ext);
	}
	/* a header whose length runs past the packet: ESP not in it */
	eth(&f, 0x86dd);
	ip = ip6(&f, 60);
	ext6(&f, IPPROTO_ESP, 0);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	f.b[ip + 41] = 200;
	EXPECT(f.b, f.len, XDP_DROP, drop_malformed);
	/* cut inside the extension header itself */
	EXPECT(f.b, ip + 41, XDP_DROP, drop_malformed);
	/* UDP 4500 after an extension header */
	eth(&f, 0x86dd);
	ip = ip6(&f, 0);
	ext6(&f, IPPROTO_UDP, 0);
	{
		size_t u = udp(&f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);

		esp(&f, KNOWN_SPI, 32);
		udp_done(&f, u);
	}
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_DROP, drop_no_xsk);
}

static int frag_ids_count(void)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, ESPRESSO_MAP_FRAG_IDS);
	struct espresso_frag_key k, next;
	int n = 0;

	cr_assert_not_null(m);
	if (bpf_map__get_next_key(m, NULL, &next, sizeof(next)))
		return 0;
	do {
		k = next;
		n++;
	} while (!bpf_map__get_next_key(m, &k, &next, sizeof(next)));
	return n;
}

/* NAT-T fragments: without an XSK they are the kernel's (pass_fragment),
 * but the first fragment of NAT-T ESP with a known SPI records its train. */
Test(bpf, natt_fragments)
{
	struct frame f;
	size_t ip, u;
	int n0 = frag_ids_count();

	/* IPv4, first fragment, known SPI */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_UDP, 5, 0x2000);
	u = udp(&f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);
	esp(&f, KNOWN_SPI, 32);
	set16(&f, u + 4, 1000); /* the whole datagram's length */
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	cr_assert_eq(frag_ids_count(), n0 + 1);
	/* unknown SPI, or IKE (zero marker): not recorded */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_UDP, 5, 0x2000);
	f.b[ip + 5] = 2; /* another id */
	u = udp(&f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);
	esp(&f, UNKNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	set16(&f, u + 8, 0);
	set16(&f, u + 10, 0);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	cr_assert_eq(frag_ids_count(), n0 + 1);
	/* a later fragment: looked up, passed (no XSK) */
	eth(&f, 0x0800);
	ip = ip4(&f, IPPROTO_UDP, 5, 100);
	esp(&f, KNOWN_SPI, 32);
	ip4_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	/* IPv6, first fragment, known SPI */
	eth(&f, 0x86dd);
	ip = ip6(&f, 44);
	put8(&f, IPPROTO_UDP);
	put8(&f, 0);
	put16(&f, 0x0001);
	put32(&f, 9);
	u = udp(&f, ESPRESSO_NATT_PORT, ESPRESSO_NATT_PORT);
	esp(&f, KNOWN_SPI, 32);
	ip6_done(&f, ip);
	EXPECT(f.b, f.len, XDP_PASS, pass_fragment);
	cr_assert_eq(frag_ids_count(), n0 + 2);
}
