/* SPDX-License-Identifier: GPL-2.0 */
/*
 * neigh: the next hops of the tunnels. Where does each tunnel's remote end
 * go (the kernel's route), and what is that gateway's MAC (the kernel's
 * neighbour table, resolved through the kernel). Tunnels whose remotes go
 * through one gateway share its next hop object.
 */
#ifndef ESPRESSO_NEIGH_H
#define ESPRESSO_NEIGH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/live.h"

/* A tunnel's next hop is checked again this often, at most this many
 * tunnels a turn (10,000 tunnels: one netlink lookup each, spread out). */
#define NEIGH_RECHECK_MS 5000
#define NEIGH_RECHECK_BUDGET 256
/* Lost events make the whole table read again at most this often; after a
 * read that failed, twice as long each time, up to NEIGH_RESYNC_MAX_MS. */
#define NEIGH_RESYNC_MS 1000
#define NEIGH_RESYNC_MAX_MS 64000

/*
 * When the kernel's neighbour table is read again (lost events). A read
 * that fails is tried again later, never given up on and never replaced
 * by asking for every neighbour at once: that was thousands of ARP
 * requests in one turn, whose answers overflowed the socket again.
 */
struct neigh_resync {
	bool due;          /* events were lost since the last good read */
	int fails;         /* reads failed in a row */
	uint64_t last_ms;  /* the last read (monotonic; 0: none yet) */
};

/* Events were lost (the socket overflowed). */
static inline void neigh_resync_lost(struct neigh_resync *r)
{
	r->due = true;
}
/* How long after the last read the next may run. */
uint64_t neigh_resync_wait_ms(const struct neigh_resync *r);
/* Is a read due now? */
bool neigh_resync_ready(const struct neigh_resync *r, uint64_t now_ms);
/* A read ran at now_ms: ok, none is due until events are lost again;
 * failed, it stays due, a longer wait later. */
void neigh_resync_ran(struct neigh_resync *r, uint64_t now_ms, bool ok);

/* Each control loop turn: the tunnels a worker asked about (no next hop or
 * MAC: resolved through the kernel), and those whose recheck is due. */
void neigh_refresh(struct live *l, int uplink_ifindex, const char *uplink,
		   uint64_t now_ms);
/* Every tunnel's next hop due for a recheck (neighbour events were lost). */
void neigh_recheck_all(struct live *l);
/*
 * After lost neighbour events, a sync: neigh_sync_begin, then
 * neigh_update/neigh_update6 for every entry of the kernel's table (a
 * dump), then neigh_sweep: each next hop that has a MAC the dump did not
 * list (deleted while its event was lost, or aged out) is passed to ask,
 * which has the kernel resolve it again; the MAC is kept until the
 * kernel's answer (an event). Returns how many were asked.
 */
typedef void (*neigh_ask_fn)(void *arg, int family, int ifindex,
			     const void *addr);
void neigh_sync_begin(struct live *l);
/* Does a next hop (family, ifindex, addr: a struct in_addr or in6_addr)
 * have a MAC? (A deleted kernel entry: then it keeps it while the kernel
 * resolves it again.) */
bool neigh_has_mac(const struct live *l, int family, int ifindex,
		   const void *addr);
int neigh_sweep(struct live *l, neigh_ask_fn ask, void *arg);
/* A neighbour table change from the kernel (mac NULL: gone). */
void neigh_update(struct live *l, int ifindex, struct in_addr ip,
		  const uint8_t *mac);
void neigh_update6(struct live *l, int ifindex, const struct in6_addr *ip,
		   const uint8_t *mac);

#endif
