// SPDX-License-Identifier: GPL-2.0
/*
 * bench_spd: what the SPD of router mode costs in the XDP program, per LAN
 * frame, with 1, 1,000 and 10,000 policies, cached and uncached, measured
 * by the kernel itself (BPF_PROG_TEST_RUN's duration: the program alone,
 * no syscall, no driver). Needs root; run from the repository root (or
 * $ESPRESSO_BPF_OBJ).
 *
 * The state, written into the maps directly (as user/control/spd.c would
 * push it; the object is loaded with no map pinned): the loopback device
 * is a LAN (BPF_PROG_TEST_RUN runs the program as on it); policy i has the
 * destination 10.(i/65536).(i/256%256).(i%256)/32, TCP, any port, action
 * discard (a verdict that needs no AF_XDP socket), one candidate per
 * destination. The frame is a TCP SYN from 192.168.0.2 to the last
 * policy's destination.
 *   cached:   the same frame REPEAT times: every lookup a flow-cache hit
 *   uncached: FLOWS frames of distinct source ports, once each: every one a
 *             miss (LPM, the rule, the insert into the LRU cache)
 *   none:     no policy (espresso_spd_ctl 0): the SPD skipped, the route
 *             map decides (a miss there: XDP_PASS)
 *   bench_spd [REPEAT [FLOWS]]   (defaults 1000000, 20000)
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
#include <netinet/in.h>

#include "espresso/common.h"

static struct bpf_object *obj;
static int prog_fd;

static int map_fd(const char *name)
{
	return bpf_map__fd(bpf_object__find_map_by_name(obj, name));
}

static int quiet(enum libbpf_print_level l, const char *f, va_list ap)
{
	return l == LIBBPF_WARN ? vfprintf(stderr, f, ap) : 0;
}

/* Ethernet to 02:00:00:00:00:01 / IPv4 192.168.0.2 -> dst / TCP SYN. */
static size_t frame(unsigned char *b, uint32_t dst_be, uint16_t sport)
{
	static const unsigned char head[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0,
						0, 2, 0x08, 0x00 };
	unsigned char *ip = b + 14, *tcp = ip + 20;
	uint32_t sum = 0, src = htonl(0xc0a80002);
	int i;

	memset(b, 0, 14 + 40);
	memcpy(b, head, 14);
	ip[0] = 0x45;
	ip[3] = 40;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst_be, 4);
	for (i = 0; i < 20; i += 2)
		sum += ip[i] << 8 | ip[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = ~sum >> 8;
	ip[11] = ~sum & 0xff;
	tcp[0] = sport >> 8;
	tcp[1] = sport & 0xff;
	tcp[3] = 80;
	tcp[12] = 0x50;
	tcp[13] = 0x02;
	return 14 + 40;
}

/* ns per run of the program over the frame, repeated rep times. */
static double run(const unsigned char *f, size_t len, unsigned int rep,
		  unsigned int want)
{
	unsigned char out[128];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = len,
		    .data_out = out, .data_size_out = sizeof(out),
		    .repeat = rep);

	if (bpf_prog_test_run_opts(prog_fd, &o) || o.retval != want) {
		fprintf(stderr, "test run: %s, verdict %u (want %u)\n",
			strerror(errno), o.retval, want);
		exit(1);
	}
	return o.duration; /* average ns per repetition */
}

static uint32_t dst_of(uint32_t i)
{
	return htonl(0x0a000000u | i);
}

static void load_policies(uint32_t n)
{
	struct espresso_spd_ctl ctl = { .gen_set = 0 };
	uint32_t i, zero = 0;

	for (i = 0; i < n; i++) {
		struct espresso_spd_rule r = {
			.dst = dst_of(i), .dst_mask = 0xffffffff,
			.sport_hi = 65535, .dport_hi = 65535,
			.proto = IPPROTO_TCP, .action = ESPRESSO_SPD_DISCARD,
			.id = i + 1,
		};
		struct espresso_spd_lpm_key k = { .prefixlen = 8 + 32 };
		struct espresso_spd_cands c = { .n = 1, .rule = { i } };

		memcpy(k.addr, &r.dst, 4);
		if (bpf_map_update_elem(map_fd(ESPRESSO_MAP_SPD_RULES), &i, &r,
					BPF_ANY) ||
		    bpf_map_update_elem(map_fd(ESPRESSO_MAP_SPD_LPM), &k, &c,
					BPF_ANY)) {
			perror("policy into the maps");
			exit(1);
		}
	}
	static uint64_t gen;
	if (n)
		ctl.gen_set = ++gen * 2; /* a new generation: the cache is cold */
	bpf_map_update_elem(map_fd(ESPRESSO_MAP_SPD_CTL), &zero, &ctl, BPF_ANY);
}

int main(int argc, char **argv)
{
	const char *path = getenv("ESPRESSO_BPF_OBJ");
	static const uint32_t sizes[] = { 1, 1000, 10000 };
	unsigned int rep = argc > 1 ? atoi(argv[1]) : 1000000;
	unsigned int flows = argc > 2 ? atoi(argv[2]) : 20000;
	struct espresso_iface ifc = { .lan = 1, .mac = { 2, 0, 0, 0, 0, 1 } };
	unsigned char f[128];
	struct bpf_map *m;
	uint32_t lo = 1, loaded = 0;
	size_t len, s;

	libbpf_set_print(quiet);
	obj = bpf_object__open_file(path ? path : "bpf/espresso.bpf.o", NULL);
	if (!obj) {
		perror("open bpf/espresso.bpf.o");
		return 1;
	}
	bpf_object__for_each_map(m, obj)
		bpf_map__set_pin_path(m, NULL);
	if (bpf_object__load(obj)) {
		perror("load (root?)");
		return 1;
	}
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj,
							ESPRESSO_PROG_NAME));
	bpf_map_update_elem(map_fd(ESPRESSO_MAP_IFACES), &lo, &ifc, BPF_ANY);
	printf("SPD in XDP (BPF_PROG_TEST_RUN, ns per frame; cached: %u runs, "
	       "uncached: %u flows)\n", rep, flows);
	load_policies(0);
	len = frame(f, dst_of(0), 40000);
	printf("  no policy (routes only):  %6.1f ns\n",
	       run(f, len, rep, XDP_PASS));
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double miss = 0, hit;
		unsigned int i;

		load_policies(sizes[s] > loaded ? sizes[s] : 0);
		loaded = sizes[s];
		for (i = 0; i < flows; i++) {
			len = frame(f, dst_of(sizes[s] - 1), 1024 + i % 64000);
			miss += run(f, len, 1, XDP_DROP);
		}
		hit = run(f, len, rep, XDP_DROP);
		printf("  %5u policies: cached %6.1f ns (%5.2f Mpps), uncached "
		       "%6.1f ns (%5.2f Mpps)\n", sizes[s], hit, 1e3 / hit,
		       miss / flows, 1e3 / (miss / flows));
	}
	bpf_object__close(obj);
	return 0;
}
