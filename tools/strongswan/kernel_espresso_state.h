/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kernel_espresso_state: what the plugin's files share -- its model of
 * what charon installed in espressod (tunnels by reqid, SAs with their keys,
 * policies) and the functions that keep espressod in step with it.
 */
#ifndef KERNEL_ESPRESSO_STATE_H_
#define KERNEL_ESPRESSO_STATE_H_

#include "espresso_ctl.h"
#include "kernel_espresso_ipsec.h"

#include <daemon.h>
#include <collections/hashtable.h>
#include <collections/linked_list.h>
#include <processing/jobs/callback_job.h>
#include <threading/mutex.h>

#define TUN_PREFIX "ike-"
#define NATT_PORT 4500
#define RECONNECT_US 100000 /* between tries while espressod is away */
#define MAX_IN 4            /* inbound SAs a tunnel takes (TUNNEL_MAX_IN) */

/* espresso's ciphers (tunnel add ... cipher NAME) */
typedef enum {
	KE_AES_GCM_128,
	KE_AES_GCM_256,
	KE_CHACHA20_POLY1305,
} ke_cipher_t;

/* one espresso tunnel per reqid */
typedef struct {
	uint32_t reqid;
	char name[32];
	host_t *local, *remote; /* outer addresses (IPv4 or IPv6), no ports */
	bool encap;
	ke_cipher_t cipher;
	bool esn;
	uint32_t window;        /* espresso's: 32..4096, a multiple of 32 */
	int refs;               /* its SAs and routed outbound policies */
} tun_t;

typedef struct {
	uint32_t spi;           /* host order */
	bool out;
	uint32_t reqid;
	host_t *src, *dst;      /* with the UDP ports when encapsulated */
	chunk_t key;            /* the cipher's key and 4-byte salt */
	uint64_t soft_s, hard_s, soft_b, hard_b; /* 0: none */
	uint64_t soft_p, hard_p; /* packets; 0: none */
	time_t added;           /* monotonic */
	bool evicted;           /* inbound: left espressod for a newer one */
	char child[32];         /* the CHILD_SA's name, as espressod takes names */
} esa_t;

typedef struct {
	traffic_selector_t *src_ts, *dst_ts;
	policy_dir_t dir;
	uint32_t reqid;
	int refs;               /* charon adds one per CHILD_SA (rekeys) */
	char prefix[64];        /* outbound: the route; "" none */
	bool routed;            /* holds a reference on its tunnel */
} pol_t;

/* an answer of espressod to "-j show sa|tunnels", indexed */
typedef struct {
	struct json_object *json;
	hashtable_t *idx;       /* SPI and direction, or name -> its row */
	uint64_t ms;            /* monotonic, when it came */
	uint64_t gen;           /* the plugin's changes then */
} query_cache_t;

typedef struct {
	kernel_espresso_ipsec_t public;
	mutex_t *lock;
	linked_list_t *tuns, *sas, *pols;
	char path[108];
	bool flushed;           /* a dead charon's tunnels removed */
	int mon_fd;
	struct ectl_lines lines;
	uint64_t gen;           /* changes sent to espressod */
	query_cache_t sa_cache, tun_cache;
} private_t;

/* espressod's control socket, and the plugin's model of what it installed
 * there (kernel_espresso_model.c); every call with the lock held. */
int ke_req(private_t *this, int quiet, char **body, bool secret,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
const char *ke_prefix_of(traffic_selector_t *ts, char *buf, size_t len);
const char *ke_addr_of(host_t *h, char *buf, size_t len);
bool ke_cipher_of(uint16_t enc_alg, size_t key_len, ke_cipher_t *c);
const char *ke_cipher_name(ke_cipher_t c);
void ke_peer_moved(private_t *this, tun_t *t, host_t *remote);
tun_t *ke_tun_find(private_t *this, uint32_t reqid);
tun_t *ke_tun_new(private_t *this, uint32_t reqid, host_t *local,
				  host_t *remote, bool encap, ke_cipher_t cipher, bool esn,
				  uint32_t window, int *ret);
tun_t *ke_tun_get(private_t *this, uint32_t reqid, host_t *local,
				  host_t *remote, kernel_ipsec_add_sa_t *d, int *ret);
void ke_tun_release(private_t *this, tun_t *t);
int ke_route_install(private_t *this, pol_t *p, tun_t *t);
esa_t *ke_sa_find(private_t *this, uint32_t spi, host_t *dst);
esa_t *ke_sa_find_dir(private_t *this, uint32_t spi, int dir);
void ke_sa_free(esa_t *s);
int ke_sa_install_in(private_t *this, tun_t *t, esa_t *s);
void ke_ensure_flushed(private_t *this);
void ke_replay(private_t *this);

/* espressod's counters, a show answering the queries of 100 ms
 * (kernel_espresso_query.c) */
status_t ke_query_sa(private_t *this, uint32_t spi, bool out,
					 uint64_t *bytes, uint64_t *packets, time_t *time);
status_t ke_query_tunnel(private_t *this, const char *name, bool out,
						 time_t *use);
void ke_query_destroy(private_t *this);

/* the CHILD_SA's name for reqid, "" if charon's thread has none
 * (kernel_espresso_child.c) */
void ke_child_name(uint32_t reqid, char *buf, size_t len);

/* the monitor connection (kernel_espresso_events.c): a callback job */
job_requeue_t ke_monitor_job(private_t *this);

#endif
