// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "control/neigh.h"
#include "control/netlink.h"
#include "lib/log.h"

/* Point t at the next hop (oif, gw): shared with other tunnels. */
static struct nexthop *set_nh(struct live *l, struct tunnel *t, int oif,
			      struct in_addr gw)
{
	struct nexthop *cur = atomic_load(&t->nh), *nh;

	if (cur && cur->family == AF_INET && cur->ifindex == oif &&
	    cur->ip.s_addr == gw.s_addr)
		return cur;
	nh = nexthop_get(&l->nhs, oif, gw);
	if (!nh)
		return cur;
	atomic_store_explicit(&t->nh, nh, memory_order_release);
	/* workers may still read the old one this turn */
	live_retire_nexthop(l, cur);
	return nh;
}

/* The same for an IPv6 next hop. */
static struct nexthop *set_nh6(struct live *l, struct tunnel *t, int oif,
			       const struct in6_addr *gw)
{
	struct nexthop *cur = atomic_load(&t->nh), *nh;

	if (cur && cur->family == AF_INET6 && cur->ifindex == oif &&
	    !memcmp(&cur->ip6, gw, sizeof(*gw)))
		return cur;
	nh = nexthop_get6(&l->nhs, oif, gw);
	if (!nh)
		return cur;
	atomic_store_explicit(&t->nh, nh, memory_order_release);
	live_retire_nexthop(l, cur);
	return nh;
}

/* refresh for a tunnel with an outer IPv6 header. */
static void refresh6(struct live *l, struct tunnel *t, int uplink_ifindex,
		     const char *uplink, bool resolve)
{
	char a[INET6_ADDRSTRLEN];
	struct in6_addr gw;
	struct nexthop *nh;
	uint8_t mac[6];
	int oif;

	if (nl_route_get6(&t->peer6, &oif, &gw)) /* NAT-T may have moved it */
		return;
	if (oif != uplink_ifindex)
		log_rl(LOG_LVL_WARN, 60, "tunnel %s: the kernel routes %s via "
		       "ifindex %d, not the uplink %s", t->name,
		       inet_ntop(AF_INET6, &t->peer6, a, sizeof(a)), oif,
		       uplink);
	nh = set_nh6(l, t, oif, &gw);
	if (!nh)
		return;
	if (!nl_neigh_get6(oif, &gw, mac)) {
		atomic_store(&nh->mac, tunnel_mac_pack(mac));
	} else if (resolve) {
		atomic_store(&nh->mac, 0);
		nl_neigh_resolve6(oif, &gw);
	}
}

static void refresh(struct live *l, struct tunnel *t, int uplink_ifindex,
		    const char *uplink, bool resolve)
{
	struct in_addr gw;
	struct nexthop *nh;
	uint8_t mac[6];
	int oif;

	if (t->family == AF_INET6) {
		refresh6(l, t, uplink_ifindex, uplink, resolve);
		return;
	}
	/* the peer: the configured remote, unless NAT-T followed it */
	if (nl_route_get4(t->peer, &oif, &gw))
		return;
	if (oif != uplink_ifindex)
		log_rl(LOG_LVL_WARN, 60, "tunnel %s: the kernel routes %s via "
		       "ifindex %d, not the uplink %s", t->name,
		       inet_ntoa(t->peer), oif, uplink);
	nh = set_nh(l, t, oif, gw);
	if (!nh)
		return;
	if (!nl_neigh_get4(oif, gw, mac)) {
		atomic_store(&nh->mac, tunnel_mac_pack(mac));
	} else if (resolve) {
		atomic_store(&nh->mac, 0);
		nl_neigh_resolve4(oif, gw);
	}
}

void neigh_refresh(struct live *l, int uplink_ifindex, const char *uplink,
		   uint64_t now_ms)
{
	int budget = NEIGH_RECHECK_BUDGET;
	uint32_t i;

	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];
		struct nexthop *nh;
		bool wanted, unresolved, due;

		if (!t)
			continue;
		wanted = atomic_load(&t->nh_wanted) &&
			 atomic_exchange(&t->nh_wanted, 0);
		nh = atomic_load(&t->nh);
		unresolved = !nh || !(atomic_load(&nh->mac) & NH_MAC_VALID);
		due = now_ms - t->nh_checked_ms >= NEIGH_RECHECK_MS;
		if (!wanted && !(due && budget > 0))
			continue;
		if (!wanted)
			budget--;
		t->nh_checked_ms = now_ms;
		refresh(l, t, uplink_ifindex, uplink, wanted || unresolved);
	}
}

uint64_t neigh_resync_wait_ms(const struct neigh_resync *r)
{
	return r->fails < 6 ? (uint64_t)NEIGH_RESYNC_MS << r->fails
			    : NEIGH_RESYNC_MAX_MS; /* 1 s << 6 */
}

bool neigh_resync_ready(const struct neigh_resync *r, uint64_t now_ms)
{
	return r->due && (!r->last_ms ||
			  now_ms - r->last_ms >= neigh_resync_wait_ms(r));
}

void neigh_resync_ran(struct neigh_resync *r, uint64_t now_ms, bool ok)
{
	r->last_ms = now_ms ? now_ms : 1;
	if (ok) {
		r->due = false;
		r->fails = 0;
	} else {
		r->fails++;
	}
}

void neigh_recheck_all(struct live *l)
{
	uint32_t i;

	for (i = 0; i < l->ntun; i++)
		if (l->tun[i])
			l->tun[i]->nh_checked_ms = 0;
}

void neigh_update(struct live *l, int ifindex, struct in_addr ip,
		  const uint8_t *mac)
{
	struct nexthop *nh;

	for (nh = l->nhs; nh; nh = nh->next) {
		if (nh->family != AF_INET || nh->ifindex != ifindex ||
		    nh->ip.s_addr != ip.s_addr)
			continue;
		atomic_store(&nh->mac, mac ? tunnel_mac_pack(mac) : 0);
		nh->seen = l->neigh_gen;
	}
}

void neigh_update6(struct live *l, int ifindex, const struct in6_addr *ip,
		   const uint8_t *mac)
{
	struct nexthop *nh;

	for (nh = l->nhs; nh; nh = nh->next) {
		if (nh->family != AF_INET6 || nh->ifindex != ifindex ||
		    memcmp(&nh->ip6, ip, sizeof(*ip)))
			continue;
		atomic_store(&nh->mac, mac ? tunnel_mac_pack(mac) : 0);
		nh->seen = l->neigh_gen;
	}
}

void neigh_sync_begin(struct live *l)
{
	l->neigh_gen++;
}

bool neigh_has_mac(const struct live *l, int family, int ifindex,
		   const void *addr)
{
	const struct nexthop *nh;

	for (nh = l->nhs; nh; nh = nh->next)
		if (nh->family == family && nh->ifindex == ifindex &&
		    !memcmp(family == AF_INET6 ? (const void *)&nh->ip6
					       : (const void *)&nh->ip,
			    addr, family == AF_INET6 ? 16 : 4) &&
		    (atomic_load(&nh->mac) & NH_MAC_VALID))
			return true;
	return false;
}

int neigh_sweep(struct live *l, neigh_ask_fn ask, void *arg)
{
	struct nexthop *nh;
	int asked = 0;

	for (nh = l->nhs; nh; nh = nh->next) {
		if (nh->seen == l->neigh_gen ||
		    !(atomic_load(&nh->mac) & NH_MAC_VALID))
			continue;
		ask(arg, nh->family, nh->ifindex,
		    nh->family == AF_INET6 ? (const void *)&nh->ip6
					   : (const void *)&nh->ip);
		asked++;
	}
	return asked;
}
