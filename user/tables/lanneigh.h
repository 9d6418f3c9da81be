/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lanneigh: the MACs of the hosts on a LAN (router mode), for the workers
 * that send decrypted packets to them. The kernel's neighbour table is the
 * truth: the control thread copies entries into this one as the kernel
 * reports them (RTNLGRP_NEIGH) or as workers ask (a miss: the worker holds
 * the packet and pushes the address on its want ring; the control thread
 * looks it up or has the kernel resolve it).
 *
 * One writer (the control thread), many readers (workers), no lock: open
 * addressing, an entry's address is stored once (release) and never
 * removed, its MAC is one 64-bit word (NH_MAC_VALID when known). Bounded:
 * past LAN_NEIGH_MAX hosts new ones are refused (their packets are dropped
 * as lan_no_neigh).
 */
#ifndef ESPRESSO_LANNEIGH_H
#define ESPRESSO_LANNEIGH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tables/tunnel.h" /* NH_MAC_VALID, tunnel_mac_pack */

#define LAN_NEIGH_SIZE 4096 /* slots, a power of 2 */
#define LAN_NEIGH_MAX (LAN_NEIGH_SIZE * 3 / 4)

struct lan_neigh_ent {
	_Atomic uint32_t ip;  /* network order; 0: empty */
	uint32_t seen;        /* control thread: the last sync that set it */
	_Atomic uint64_t mac; /* 6 bytes + NH_MAC_VALID; 0: unknown */
	uint64_t asked_ms;    /* control thread: last resolution asked */
};

struct lan_neigh {
	struct lan_neigh_ent e[LAN_NEIGH_SIZE];
	uint32_t count; /* control thread */
	uint32_t gen;   /* control thread: the sync under way (lan_neigh_sweep) */
};

static inline uint32_t lan_neigh_hash(uint32_t ip)
{
	return (ip * 2654435761u) >> 20; /* 12 bits: LAN_NEIGH_SIZE */
}

/* Worker side: the entry of ip, or NULL. */
static inline struct lan_neigh_ent *lan_neigh_find(struct lan_neigh *n,
						   uint32_t ip)
{
	uint32_t i = lan_neigh_hash(ip), k;

	if (!ip) /* what an empty slot holds */
		return NULL;
	for (k = 0; k < LAN_NEIGH_SIZE; k++, i = (i + 1) & (LAN_NEIGH_SIZE - 1)) {
		uint32_t v = atomic_load_explicit(&n->e[i].ip,
						  memory_order_acquire);

		if (v == ip)
			return &n->e[i];
		if (!v)
			return NULL;
	}
	return NULL;
}

/* Worker side: the MAC of ip, if known. */
static inline bool lan_neigh_mac(struct lan_neigh *n, uint32_t ip,
				 uint8_t mac[6])
{
	struct lan_neigh_ent *e = lan_neigh_find(n, ip);
	uint64_t v;
	int i;

	if (!e)
		return false;
	v = atomic_load_explicit(&e->mac, memory_order_acquire);
	if (!(v & NH_MAC_VALID))
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = v >> (8 * (5 - i));
	return true;
}

/* Control side: the entry of ip, added (MAC unknown) if new; NULL when
 * the table is full or ip is 0. */
struct lan_neigh_ent *lan_neigh_get(struct lan_neigh *n, uint32_t ip);
/* Control side: set (mac) or forget (NULL) the MAC of ip. */
void lan_neigh_set(struct lan_neigh *n, uint32_t ip, const uint8_t *mac);

/*
 * Control side, after lost neighbour events: a sync. lan_neigh_sync_begin,
 * then lan_neigh_set for every entry of the kernel's table (a dump), then
 * lan_neigh_sweep: each entry that still has a MAC but was not set since
 * the begin (the kernel no longer lists it: deleted while its event was
 * lost, or aged out) is passed to cb, which asks the kernel again; the MAC
 * is kept until the kernel answers (an event). Returns how many.
 */
typedef void (*lan_neigh_ask_fn)(void *arg, int family, const void *addr);
static inline void lan_neigh_sync_begin(struct lan_neigh *n)
{
	n->gen++;
}
/* cb gets AF_INET and the address (4 bytes, network order). */
int lan_neigh_sweep(struct lan_neigh *n, lan_neigh_ask_fn cb, void *arg);

/*
 * The same for IPv6 neighbours (RTNLGRP_NEIGH, AF_INET6): an entry's
 * address is written before its `used` flag is stored (release) and never
 * changes after, so a reader that sees the flag reads the whole address.
 */
struct lan_neigh6_ent {
	_Atomic uint32_t used; /* 0: empty */
	uint8_t ip[16];
	uint32_t seen;
	_Atomic uint64_t mac;
	uint64_t asked_ms;
};

struct lan_neigh6 {
	struct lan_neigh6_ent e[LAN_NEIGH_SIZE];
	uint32_t count;
	uint32_t gen;
};

static inline uint32_t lan_neigh6_hash(const uint8_t ip[16])
{
	uint32_t a, b;

	/* the interface identifier varies most */
	memcpy(&a, ip + 8, 4);
	memcpy(&b, ip + 12, 4);
	return ((a ^ b * 2654435761u) * 2654435761u) >> 20;
}

static inline struct lan_neigh6_ent *lan_neigh6_find(struct lan_neigh6 *n,
						     const uint8_t ip[16])
{
	uint32_t i = lan_neigh6_hash(ip), k;

	for (k = 0; k < LAN_NEIGH_SIZE; k++, i = (i + 1) & (LAN_NEIGH_SIZE - 1)) {
		if (!atomic_load_explicit(&n->e[i].used, memory_order_acquire))
			return NULL;
		if (!memcmp(n->e[i].ip, ip, 16))
			return &n->e[i];
	}
	return NULL;
}

static inline bool lan_neigh6_mac(struct lan_neigh6 *n, const uint8_t ip[16],
				  uint8_t mac[6])
{
	struct lan_neigh6_ent *e = lan_neigh6_find(n, ip);
	uint64_t v;
	int i;

	if (!e)
		return false;
	v = atomic_load_explicit(&e->mac, memory_order_acquire);
	if (!(v & NH_MAC_VALID))
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = v >> (8 * (5 - i));
	return true;
}

struct lan_neigh6_ent *lan_neigh6_get(struct lan_neigh6 *n,
				      const uint8_t ip[16]);
void lan_neigh6_set(struct lan_neigh6 *n, const uint8_t ip[16],
		    const uint8_t *mac);
static inline void lan_neigh6_sync_begin(struct lan_neigh6 *n)
{
	n->gen++;
}
/* cb gets AF_INET6 and the 16-byte address. */
int lan_neigh6_sweep(struct lan_neigh6 *n, lan_neigh_ask_fn cb, void *arg);

#endif
