// SPDX-License-Identifier: GPL-2.0
/*
 * bench_vrf: memory per VRF (issue 11, against VPP's 8 MB for 1,000 IPv4
 * VRFs with its 8-8-8-8 mtrie). 1,000 VRFs, each with one tunnel and k
 * IPv4 prefixes (k = 1, 4, 8, 16: 16 is past the compact tables, in the
 * stride-8 trie), built by the control model (live.c) into one table
 * version exactly as the daemon publishes it. Reports the bytes of the
 * VRFs' tables (fib_mem of each VRF's FIBs plus its slot in the version's
 * VRF array) per VRF, and lookups per second spread over all VRFs.
 * Output: "vrfs,prefixes,bytes_per_vrf,total_bytes,lookup_ns".
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/live.h"

#define NVRF 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(int k)
{
	static const struct live_ops ops = { 0 };
	struct live l;
	char err[256], name[32];
	const struct tables *tb;
	size_t mem = 0;
	uint64_t found = 0;
	double t0, t1;
	int v, i;

	if (live_init(&l, 1, 1500, &ops, NULL))
		return 1;
	for (v = 1; v <= NVRF; v++) {
		struct cfg_tunnel ct = { 0 };

		snprintf(ct.name, sizeof(ct.name), "t%d", v);
		inet_pton(AF_INET, "192.0.2.1", &ct.local);
		inet_pton(AF_INET, "198.51.100.1", &ct.remote);
		ct.encap = ENCAP_ESP;
		ct.cipher = CIPHER_AES_GCM_256;
		ct.replay_window = 1024;
		ct.sa_pairs = 1;
		ct.vrf = (uint16_t)v;
		if (live_tunnel_add(&l, &ct, err, sizeof(err)))
			goto fail;
		/* the same prefixes in every VRF: customers' overlapping
		 * plans (10.i.0.0/16 and a /24 in 172.16/12 for each i) */
		for (i = 0; i < k; i++) {
			struct cfg_prefix p = { .family = AF_INET };

			if (i % 2 == 0) {
				p.addr[0] = 10, p.addr[1] = i / 2, p.len = 16;
			} else {
				p.addr[0] = 172, p.addr[1] = 16 + i / 2 % 16;
				p.addr[2] = i, p.len = 24;
			}
			if (live_route_add(&l, &p, ct.name, err, sizeof(err)))
				goto fail;
		}
	}
	if (live_commit(&l))
		goto fail;
	tb = live_tables(&l);
	for (v = 1; v <= NVRF; v++)
		mem += fib_mem(tables_fib(tb, v, AF_INET)) +
		       fib_mem(tables_fib(tb, v, AF_INET6)) +
		       sizeof(tb->vrf[0]);
	t0 = now_s();
	for (i = 0; i < 4000000; i++) {
		uint8_t a[4] = { 10, (uint8_t)(i % (k / 2 + 1)), (uint8_t)i, 1 };

		found += tables_route_vrf(tb, 1 + i % NVRF, AF_INET, a) != NULL;
	}
	t1 = now_s();
	snprintf(name, sizeof(name), "%d", k);
	printf("%d,%s,%zu,%zu,%.1f\n", NVRF, name, mem / NVRF, mem,
	       (t1 - t0) * 1e9 / 4000000);
	fprintf(stderr, "%d VRFs x %d IPv4 prefixes: %zu bytes per VRF "
		"(%.2f MB for 1,000; VPP: 8 MB), lookup %.1f ns (%llu found)\n",
		NVRF, k, mem / NVRF, mem / 1e6, (t1 - t0) * 1e9 / 4000000,
		(unsigned long long)found);
	live_destroy(&l);
	return 0;
fail:
	fprintf(stderr, "bench_vrf: %s\n", err);
	live_destroy(&l);
	return 1;
}

int main(void)
{
	static const int ks[] = { 1, 4, 8, 16 };
	unsigned int i;

	printf("vrfs,prefixes,bytes_per_vrf,total_bytes,lookup_ns\n");
	for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		if (run(ks[i]))
			return 1;
	return 0;
}
