/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sa: the SA database built from the config. Each tunnel has sa_pairs SA
 * pairs (outbound + inbound). Every SA has an index among the SAs of its
 * direction; the inbound SPI map in BPF gives the inbound one. Keys live
 * here (wiped on free); each worker keys its own cipher contexts from them.
 *
 * With one pair, any worker uses it (a "fat tunnel": sequence numbers and
 * the replay window are lock-free). With several, pair i is owned by worker
 * i % queues: it sends with it, and decrypts for it; a packet of an SA that
 * lands on another worker is handed over to the owner.
 */
#ifndef ESPRESSO_SA_H
#define ESPRESSO_SA_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/cacheline.h"
#include "config/config.h"
#include "proto/replay.h"

enum sa_dir { SA_IN = 0, SA_OUT = 1 };

struct tunnel;

struct sa {
	uint32_t spi;
	int index;  /* among the SAs of this direction */
	int pair;   /* in its tunnel */
	int owner;  /* the worker that uses it, -1 for any */
	enum sa_dir dir;
	enum cfg_cipher cipher;
	enum cfg_encap encap;
	bool esn;
	uint8_t key[CFG_KEY_MAX];
	size_t key_len;
	struct tunnel *tunnel;
	/* outbound: the last sequence number handed out; never wraps.
	 * Written per packet: a line of its own (cacheline.h). */
	_Alignas(CACHELINE) _Atomic uint64_t seq;
	uint64_t seq_max;
	_Atomic int exhausted; /* set once by a worker, logged by control */
	/* inbound, written per packet: its own line */
	_Alignas(CACHELINE) struct replay_window replay;
};

#define NH_MAC_VALID (1ull << 48)

struct tunnel {
	const struct cfg_tunnel *cfg;
	int index;
	int npairs;
	struct sa *out, *in; /* npairs each */
	uint16_t overhead; /* outer IPv4 (+UDP) + ESP + IV + max trailer + ICV */
	uint16_t mtu;      /* largest inner packet that fits the uplink MTU */
	/* next hop toward cfg->remote, kept by the control thread */
	int nh_ifindex;
	struct in_addr nh_ip;
	_Atomic uint64_t nh_mac; /* 6 bytes + NH_MAC_VALID, 0 when unknown */
	_Atomic int nh_wanted;   /* a worker asked for resolution */
};

struct sadb {
	struct tunnel *tunnels;
	int ntunnels;
	struct sa **in, **out; /* by SA index */
	int nin, nout;
};

/* nqueues: the workers, to give each SA of a multi-pair tunnel its owner. */
int sadb_init(struct sadb *db, const struct cfg *c, int nqueues);
void sadb_free(struct sadb *db);
/*
 * The key of SA pair i from the configured key (key_len bytes, salt
 * included): HKDF-SHA256 (RFC 5869) with no salt, the configured key as
 * input and "espresso sa" || SPI (big-endian) as info, key_len bytes out.
 * Both gateways derive the same key for the same SPI; no two SPIs share one.
 */
int sa_derive_key(const uint8_t *key, size_t key_len, uint32_t spi,
		  uint8_t *out);
/* The inbound SA with this SPI, or NULL (a linear search: not per packet). */
struct sa *sadb_in_by_spi(const struct sadb *db, uint32_t spi);
/* The outbound SA worker q sends with on tunnel t. */
static inline struct sa *tunnel_out_sa(struct tunnel *t, int q)
{
	return &t->out[q % t->npairs];
}
/* Outbound route: the tunnel whose routes hold the destination, or NULL. */
struct tunnel *sadb_route(const struct sadb *db, int family, const void *dst);

/*
 * Reserve n consecutive outbound sequence numbers; returns the first. When
 * the SA's space would be exceeded, returns 0 and reserves nothing; the SA
 * is marked exhausted once not a single number is left (n == 0 returns 0
 * and marks nothing). A batch that does not fit can go on one by one.
 */
uint64_t sa_seq_reserve(struct sa *sa, uint32_t n);

static inline bool tunnel_nh_mac(struct tunnel *t, uint8_t mac[6])
{
	uint64_t v = atomic_load_explicit(&t->nh_mac, memory_order_acquire);
	int i;

	if (!(v & NH_MAC_VALID))
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = v >> (8 * (5 - i));
	return true;
}

static inline uint64_t tunnel_mac_pack(const uint8_t mac[6])
{
	uint64_t v = NH_MAC_VALID;
	int i;

	for (i = 0; i < 6; i++)
		v |= (uint64_t)mac[i] << (8 * (5 - i));
	return v;
}

#endif
