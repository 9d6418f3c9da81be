// SPDX-License-Identifier: GPL-2.0
#include <sys/socket.h>

#include "tables/lanneigh.h"

struct lan_neigh_ent *lan_neigh_get(struct lan_neigh *n, uint32_t ip)
{
	struct lan_neigh_ent *e = lan_neigh_find(n, ip);
	uint32_t i;

	if (e || !ip || n->count >= LAN_NEIGH_MAX)
		return e;
	for (i = lan_neigh_hash(ip); atomic_load(&n->e[i].ip);
	     i = (i + 1) & (LAN_NEIGH_SIZE - 1))
		;
	e = &n->e[i];
	atomic_store_explicit(&e->mac, 0, memory_order_relaxed);
	e->asked_ms = 0;
	/* published last: a reader that finds the address finds its MAC */
	atomic_store_explicit(&e->ip, ip, memory_order_release);
	n->count++;
	return e;
}

void lan_neigh_set(struct lan_neigh *n, uint32_t ip, const uint8_t *mac)
{
	struct lan_neigh_ent *e = mac ? lan_neigh_get(n, ip)
				      : lan_neigh_find(n, ip);

	if (!e)
		return;
	atomic_store_explicit(&e->mac, mac ? tunnel_mac_pack(mac) : 0,
			      memory_order_release);
	e->seen = n->gen;
}

int lan_neigh_sweep(struct lan_neigh *n, lan_neigh_ask_fn cb, void *arg)
{
	int i, asked = 0;

	for (i = 0; i < LAN_NEIGH_SIZE; i++) {
		struct lan_neigh_ent *e = &n->e[i];
		uint32_t ip = atomic_load_explicit(&e->ip,
						   memory_order_relaxed);

		if (!ip || e->seen == n->gen ||
		    !(atomic_load(&e->mac) & NH_MAC_VALID))
			continue;
		cb(arg, AF_INET, &ip);
		asked++;
	}
	return asked;
}

struct lan_neigh6_ent *lan_neigh6_get(struct lan_neigh6 *n,
				      const uint8_t ip[16])
{
	struct lan_neigh6_ent *e = lan_neigh6_find(n, ip);
	uint32_t i;

	if (e || n->count >= LAN_NEIGH_MAX)
		return e;
	for (i = lan_neigh6_hash(ip); atomic_load(&n->e[i].used);
	     i = (i + 1) & (LAN_NEIGH_SIZE - 1))
		;
	e = &n->e[i];
	memcpy(e->ip, ip, 16);
	atomic_store_explicit(&e->mac, 0, memory_order_relaxed);
	e->asked_ms = 0;
	atomic_store_explicit(&e->used, 1, memory_order_release);
	n->count++;
	return e;
}

void lan_neigh6_set(struct lan_neigh6 *n, const uint8_t ip[16],
		    const uint8_t *mac)
{
	struct lan_neigh6_ent *e = mac ? lan_neigh6_get(n, ip)
				       : lan_neigh6_find(n, ip);

	if (!e)
		return;
	atomic_store_explicit(&e->mac, mac ? tunnel_mac_pack(mac) : 0,
			      memory_order_release);
	e->seen = n->gen;
}

int lan_neigh6_sweep(struct lan_neigh6 *n, lan_neigh_ask_fn cb, void *arg)
{
	int i, asked = 0;

	for (i = 0; i < LAN_NEIGH_SIZE; i++) {
		struct lan_neigh6_ent *e = &n->e[i];

		if (!atomic_load_explicit(&e->used, memory_order_relaxed) ||
		    e->seen == n->gen || !(atomic_load(&e->mac) & NH_MAC_VALID))
			continue;
		cb(arg, AF_INET6, e->ip);
		asked++;
	}
	return asked;
}
