// SPDX-License-Identifier: GPL-2.0
/*
 * lanneigh: the LAN hosts' MACs of router mode. One writer adds, sets and
 * forgets entries; readers find them; the table refuses hosts past
 * LAN_NEIGH_MAX; reader threads racing the writer see a host's entry
 * with no MAC yet or with its own, never another's.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tables/lanneigh.h"

static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 2, 0, 0, 0, 0, 0xb };

Test(lanneigh, set_find_forget)
{
	struct lan_neigh *n = calloc(1, sizeof(*n));
	uint32_t ip = htonl(0x0a010002);
	uint8_t mac[6];

	cr_assert_not_null(n);
	cr_assert_not(lan_neigh_mac(n, ip, mac));
	cr_assert_null(lan_neigh_find(n, ip));
	/* asked: an entry without a MAC */
	cr_assert_not_null(lan_neigh_get(n, ip));
	cr_assert_not(lan_neigh_mac(n, ip, mac));
	lan_neigh_set(n, ip, MAC_A);
	cr_assert(lan_neigh_mac(n, ip, mac));
	cr_assert_arr_eq(mac, MAC_A, 6);
	lan_neigh_set(n, ip, MAC_B); /* the host moved */
	cr_assert(lan_neigh_mac(n, ip, mac));
	cr_assert_arr_eq(mac, MAC_B, 6);
	lan_neigh_set(n, ip, NULL); /* the kernel forgot it */
	cr_assert_not(lan_neigh_mac(n, ip, mac));
	cr_assert_eq(n->count, 1);
	/* forgetting an unknown host adds nothing; 0.0.0.0 is never one */
	lan_neigh_set(n, htonl(0x0a010003), NULL);
	cr_assert_null(lan_neigh_get(n, 0));
	cr_assert_eq(n->count, 1);
	free(n);
}

Test(lanneigh, full_table_refuses)
{
	struct lan_neigh *n = calloc(1, sizeof(*n));
	uint8_t mac[6];
	uint32_t i;

	cr_assert_not_null(n);
	for (i = 1; i <= LAN_NEIGH_MAX; i++)
		lan_neigh_set(n, htonl(0x0a000000 | i), MAC_A);
	cr_assert_eq(n->count, LAN_NEIGH_MAX);
	cr_assert_null(lan_neigh_get(n, htonl(0x0b000001)));
	lan_neigh_set(n, htonl(0x0b000001), MAC_B);
	cr_assert_not(lan_neigh_mac(n, htonl(0x0b000001), mac));
	/* every one still found, collisions and all */
	for (i = 1; i <= LAN_NEIGH_MAX; i++)
		cr_assert(lan_neigh_mac(n, htonl(0x0a000000 | i), mac), "%u", i);
	free(n);
}

struct race {
	struct lan_neigh *n;
	atomic_int stop;
	atomic_ulong seen, wrong;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	uint8_t mac[6];
	uint32_t i;

	do { /* at least one pass after the writer is done */
		for (i = 1; i <= 2000; i++) {
			if (!lan_neigh_mac(r->n, htonl(i), mac))
				continue; /* not yet, or no MAC yet */
			if (mac[4] != (uint8_t)(i >> 8) || mac[5] != (uint8_t)i)
				atomic_fetch_add(&r->wrong, 1);
			atomic_fetch_add(&r->seen, 1);
		}
	} while (!atomic_load(&r->stop));
	return NULL;
}

Test(lanneigh, readers_see_mac_with_address)
{
	struct race r = { .n = calloc(1, sizeof(*r.n)) };
	pthread_t t[2];
	uint32_t i;
	int k;

	cr_assert_not_null(r.n);
	for (k = 0; k < 2; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, reader, &r), 0);
	for (i = 1; i <= 2000; i++) {
		/* as lan.c does for a neighbour event: get + set at once */
		uint8_t mac[6] = { 2, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };

		lan_neigh_set(r.n, htonl(i), mac);
	}
	atomic_store(&r.stop, 1);
	for (k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	cr_assert_eq(atomic_load(&r.wrong), 0, "a host seen with another's MAC");
	cr_assert_gt(atomic_load(&r.seen), 0);
	free(r.n);
}

/* IPv6 neighbours: 16-byte addresses, the same rules. */
static void addr6(uint8_t a[16], uint32_t host)
{
	memset(a, 0, 16);
	a[0] = 0xfd;
	a[3] = 2;
	a[5] = 1; /* fd00:2:1::/64 */
	a[12] = host >> 24;
	a[13] = host >> 16;
	a[14] = host >> 8;
	a[15] = host;
}

Test(lanneigh, ipv6_set_find_forget_full)
{
	struct lan_neigh6 *n = calloc(1, sizeof(*n));
	uint8_t a[16], mac[6];
	uint32_t i;

	cr_assert_not_null(n);
	addr6(a, 2);
	cr_assert_not(lan_neigh6_mac(n, a, mac));
	cr_assert_not_null(lan_neigh6_get(n, a)); /* asked: no MAC yet */
	cr_assert_not(lan_neigh6_mac(n, a, mac));
	lan_neigh6_set(n, a, MAC_A);
	cr_assert(lan_neigh6_mac(n, a, mac));
	cr_assert_arr_eq(mac, MAC_A, 6);
	lan_neigh6_set(n, a, NULL);
	cr_assert_not(lan_neigh6_mac(n, a, mac));
	/* another prefix, same interface identifier: another host */
	a[5] = 9;
	cr_assert_null(lan_neigh6_find(n, a));
	cr_assert_eq(n->count, 1);
	for (i = 3; n->count < LAN_NEIGH_MAX; i++) {
		addr6(a, i);
		lan_neigh6_set(n, a, i & 1 ? MAC_A : MAC_B);
	}
	addr6(a, i);
	cr_assert_null(lan_neigh6_get(n, a));
	while (--i >= 3) {
		addr6(a, i);
		cr_assert(lan_neigh6_mac(n, a, mac), "%u", i);
		cr_assert_arr_eq(mac, i & 1 ? MAC_A : MAC_B, 6);
	}
	free(n);
}

/* lan_neigh_sweep's callback: the addresses it was given, in order. */
struct swept {
	uint32_t ip[8];
	uint8_t ip6[8][16];
	int n;
};

static void note(void *arg, int family, const void *addr)
{
	struct swept *s = arg;

	cr_assert_eq(family, AF_INET);
	cr_assert_lt(s->n, 8);
	memcpy(&s->ip[s->n++], addr, 4);
}

static void note6(void *arg, int family, const void *addr)
{
	struct swept *s = arg;

	cr_assert_eq(family, AF_INET6);
	cr_assert_lt(s->n, 8);
	memcpy(s->ip6[s->n++], addr, 16);
}

/*
 * After lost neighbour events, a sync: what the kernel's dump lists is set
 * (a changed MAC, a failed host forgotten); a host with a MAC that the dump
 * does not list is handed to the callback, once, its MAC kept; a host
 * without a MAC (asked, not answered) is not; a second sync starts afresh.
 */
Test(lanneigh, sync_sweeps_what_the_dump_missed)
{
	struct lan_neigh *n = calloc(1, sizeof(*n));
	uint32_t moved = htonl(0x0a010002), gone = htonl(0x0a010003),
		 failed = htonl(0x0a010004), asked = htonl(0x0a010005);
	struct swept s = { .n = 0 };
	uint8_t mac[6];

	cr_assert_not_null(n);
	lan_neigh_set(n, moved, MAC_A);
	lan_neigh_set(n, gone, MAC_A);
	lan_neigh_set(n, failed, MAC_A);
	cr_assert_not_null(lan_neigh_get(n, asked));

	lan_neigh_sync_begin(n);
	lan_neigh_set(n, moved, MAC_B); /* the dump: moved and failed only */
	lan_neigh_set(n, failed, NULL);
	cr_assert_eq(lan_neigh_sweep(n, note, &s), 1);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ip[0], gone);
	cr_assert(lan_neigh_mac(n, moved, mac));
	cr_assert_arr_eq(mac, MAC_B, 6);
	cr_assert(lan_neigh_mac(n, gone, mac), "a swept host keeps its MAC");
	cr_assert_arr_eq(mac, MAC_A, 6);
	cr_assert_not(lan_neigh_mac(n, failed, mac));

	/* the next sync: only what it sets counts */
	s.n = 0;
	lan_neigh_sync_begin(n);
	lan_neigh_set(n, gone, MAC_B);
	cr_assert_eq(lan_neigh_sweep(n, note, &s), 1);
	cr_assert_eq(s.ip[0], moved);
	free(n);
}

Test(lanneigh, ipv6_sync_sweeps_what_the_dump_missed)
{
	struct lan_neigh6 *n = calloc(1, sizeof(*n));
	struct swept s = { .n = 0 };
	uint8_t a[16], b[16], mac[6];

	cr_assert_not_null(n);
	addr6(a, 2);
	addr6(b, 3);
	lan_neigh6_set(n, a, MAC_A);
	lan_neigh6_set(n, b, MAC_A);
	lan_neigh6_sync_begin(n);
	lan_neigh6_set(n, a, MAC_B);
	cr_assert_eq(lan_neigh6_sweep(n, note6, &s), 1);
	cr_assert_arr_eq(s.ip6[0], b, 16);
	cr_assert(lan_neigh6_mac(n, b, mac));
	cr_assert_arr_eq(mac, MAC_A, 6);
	cr_assert(lan_neigh6_mac(n, a, mac));
	cr_assert_arr_eq(mac, MAC_B, 6);
	free(n);
}
