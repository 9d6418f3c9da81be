// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "espresso/common.h"
#include "tables/tunnel.h"

int tunnel_create(struct tunnel **out, const struct tunnel_spec *s)
{
	static uint64_t next_id = 1;
	struct tunnel *t;
	int p;

	if (s->npairs < 1 || strlen(s->name) >= TUNNEL_NAME_MAX)
		return -EINVAL;
	t = calloc_lines(1, sizeof(*t) + s->npairs * sizeof(t->out[0]));
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", s->name);
	t->id = next_id++;
	t->local = s->local;
	t->remote = s->remote;
	t->family = s->family == AF_INET6 ? AF_INET6 : AF_INET;
	t->local6 = s->local6;
	t->remote6 = s->remote6;
	t->encap = s->encap;
	t->cipher = s->cipher;
	t->replay_window = s->replay_window;
	t->esn = s->esn;
	t->fragment = s->fragment;
	t->npairs = s->npairs;
	if (t->family == AF_INET6) {
		t->overhead = esp_overhead6(s->encap);
		t->mtu = esp_max_inner6(s->uplink_mtu, s->encap);
	} else {
		t->overhead = esp_overhead(s->encap);
		t->mtu = esp_max_inner(s->uplink_mtu, s->encap);
	}
	t->refs = 1;
	t->peer = s->remote;
	t->peer6 = s->remote6;
	t->peer_port = s->remote_port ? s->remote_port : ESPRESSO_NATT_PORT;
	t->local_port = s->local_port ? s->local_port : ESPRESSO_NATT_PORT;
	t->keepalive_ms = s->keepalive_s * 1000u;
	t->vrf = s->vrf;
	atomic_init(&t->nh, NULL);
	atomic_init(&t->nh_wanted, 1); /* resolved at the next turn */
	atomic_init(&t->sa_wanted, 0);
	t->acquired_ms = 0;
	for (p = 0; p < s->npairs; p++)
		atomic_init(&t->out[p], NULL);
	*out = t;
	return 0;
}

void tunnel_get(struct tunnel *t)
{
	t->refs++;
}

/* Only the tunnel's owner (the control thread's model) holds its
 * outbound SAs and next hop; SAs point back with a reference, so the last
 * reference goes once the SAs are gone. */
void tunnel_put(struct tunnel *t)
{
	if (!t || --t->refs)
		return;
	free(t->in);
	free(t);
}

struct sa *tunnel_set_out(struct tunnel *t, int p, struct sa *sa)
{
	return atomic_exchange_explicit(&t->out[p], sa, memory_order_acq_rel);
}

struct nexthop *nexthop_get(struct nexthop **list, int ifindex,
			    struct in_addr ip)
{
	struct nexthop *nh;

	for (nh = *list; nh; nh = nh->next) {
		if (nh->family == AF_INET && nh->ifindex == ifindex &&
		    nh->ip.s_addr == ip.s_addr) {
			nh->refs++;
			return nh;
		}
	}
	nh = calloc(1, sizeof(*nh));
	if (!nh)
		return NULL;
	nh->ifindex = ifindex;
	nh->ip = ip;
	nh->family = AF_INET;
	nh->refs = 1;
	atomic_init(&nh->mac, 0);
	nh->next = *list;
	*list = nh;
	return nh;
}

struct nexthop *nexthop_get6(struct nexthop **list, int ifindex,
			     const struct in6_addr *ip6)
{
	struct nexthop *nh;

	for (nh = *list; nh; nh = nh->next) {
		if (nh->family == AF_INET6 && nh->ifindex == ifindex &&
		    !memcmp(&nh->ip6, ip6, sizeof(*ip6))) {
			nh->refs++;
			return nh;
		}
	}
	nh = calloc(1, sizeof(*nh));
	if (!nh)
		return NULL;
	nh->ifindex = ifindex;
	nh->family = AF_INET6;
	nh->ip6 = *ip6;
	nh->refs = 1;
	atomic_init(&nh->mac, 0);
	nh->next = *list;
	*list = nh;
	return nh;
}

void nexthop_put(struct nexthop **list, struct nexthop *nh)
{
	struct nexthop **pp;

	if (!nh || --nh->refs)
		return;
	for (pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == nh) {
			*pp = nh->next;
			break;
		}
	}
	free(nh);
}
