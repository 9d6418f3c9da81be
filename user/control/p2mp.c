// SPDX-License-Identifier: GPL-2.0
/* p2mp: hubs as templates, peers as tunnels "HUB/NEXTHOP" (see p2mp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/check.h"
#include "control/live.h"
#include "control/p2mp.h"
#include "lib/log.h"

struct live_hub *p2mp_find(struct live *l, const char *hub)
{
	size_t i;

	for (i = 0; i < l->nhubs; i++)
		if (!strcmp(l->hubs[i].tmpl.name, hub))
			return &l->hubs[i];
	return NULL;
}

bool p2mp_is_peer(const char *name, size_t *hub_len)
{
	const char *s = strchr(name, '/');

	if (!s)
		return false;
	if (hub_len)
		*hub_len = (size_t)(s - name);
	return true;
}

int p2mp_add(struct live *l, const struct cfg_tunnel *tmpl, char *err,
	     size_t errlen)
{
	struct live_hub *h;

	if (p2mp_find(l, tmpl->name) || live_tunnel_find(l, tmpl->name))
		return errf(err, errlen, -EEXIST, "tunnel add: %s: exists",
			    tmpl->name);
	if (tmpl->encap != ENCAP_UDP && (tmpl->remote_port ||
					 tmpl->keepalive_s))
		return errf(err, errlen, -EINVAL, "tunnel add: %s: remote-port "
			    "and keepalive need encap udp (NAT-T)", tmpl->name);
	h = realloc(l->hubs, (l->nhubs + 1) * sizeof(*h));
	if (!h)
		return errf(err, errlen, -ENOMEM, "tunnel add: %s: out of "
			    "memory", tmpl->name);
	l->hubs = h;
	h = &l->hubs[l->nhubs++];
	memset(h, 0, sizeof(*h));
	/* no keys, no routes: only the wire parameters */
	memcpy(h->tmpl.name, tmpl->name, sizeof(h->tmpl.name));
	h->tmpl.local = tmpl->local;
	h->tmpl.local6 = tmpl->local6;
	h->tmpl.family = tmpl->family;
	h->tmpl.encap = tmpl->encap;
	h->tmpl.cipher = tmpl->cipher;
	h->tmpl.replay_window = tmpl->replay_window;
	h->tmpl.esn = tmpl->esn;
	h->tmpl.fragment = tmpl->fragment;
	h->tmpl.sa_pairs = tmpl->sa_pairs;
	h->tmpl.remote_port = tmpl->remote_port;
	h->tmpl.keepalive_s = tmpl->keepalive_s;
	return 0;
}

/* The next peer (tunnel) of hub at or after slot *i, or NULL; *i moves past it. */
static struct tunnel *next_peer(struct live *l, const char *hub,
				uint32_t *i)
{
	size_t n = strlen(hub), hl;

	for (; *i < l->ntun; (*i)++) {
		struct tunnel *t = l->tun[*i];

		if (t && p2mp_is_peer(t->name, &hl) && hl == n &&
		    !strncmp(t->name, hub, n)) {
			(*i)++;
			return t;
		}
	}
	return NULL;
}

int p2mp_peer_count(struct live *l, const char *hub)
{
	uint32_t i = 0;
	int n = 0;

	while (next_peer(l, hub, &i))
		n++;
	return n;
}

int p2mp_del(struct live *l, const char *hub, char *err, size_t errlen)
{
	struct live_hub *h = p2mp_find(l, hub);
	struct tunnel *t;
	uint32_t i = 0;
	int ret;

	if (!h)
		return errf(err, errlen, -ENOENT, "tunnel del: %s: no such "
			    "tunnel", hub);
	while ((t = next_peer(l, hub, &i))) {
		ret = live_tunnel_del(l, t->name, err, errlen);
		if (ret)
			return ret;
	}
	*h = l->hubs[--l->nhubs];
	return 0;
}

/* nh as text, canonical (so "10.0.0.02"-like spellings cannot make two
 * names for one peer). */
static int canon_nh(const char *nh, char *out, size_t len)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, nh, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, len) ? 0 : -EINVAL;
	if (inet_pton(AF_INET6, nh, &a6) == 1)
		return inet_ntop(AF_INET6, &a6, out, len) ? 0 : -EINVAL;
	return -EINVAL;
}

int p2mp_peer_name(struct live *l, const char *hub, const char *nh,
		   char out[CFG_NAME_MAX], char *err, size_t errlen)
{
	char c[INET6_ADDRSTRLEN];
	int n;

	if (!p2mp_find(l, hub))
		return errf(err, errlen, -ENOENT, "%s: no such p2mp tunnel "
			    "(peer and via need one: tunnel add %s local ADDR "
			    "p2mp on)", hub, hub);
	if (canon_nh(nh, c, sizeof(c)))
		return errf(err, errlen, -EINVAL, "%s: next hop %s is not an "
			    "IPv4 or IPv6 address", hub, nh);
	n = snprintf(out, CFG_NAME_MAX, "%s/%s", hub, c);
	if (n < 0 || n >= CFG_NAME_MAX)
		return errf(err, errlen, -ENAMETOOLONG, "%s: peer name %s/%s "
			    "is longer than %d characters (use a shorter hub "
			    "name)", hub, hub, c, CFG_NAME_MAX - 1);
	return 0;
}

int p2mp_peer_add(struct live *l, const char *hub, const char *nh,
		  int family, struct in_addr remote4,
		  const struct in6_addr *remote6, uint16_t remote_port,
		  char *err, size_t errlen)
{
	struct live_hub *h = p2mp_find(l, hub);
	char name[CFG_NAME_MAX], why[160];
	struct cfg_tunnel ct;
	int ret;

	ret = p2mp_peer_name(l, hub, nh, name, err, errlen);
	if (ret)
		return ret;
	if ((family == AF_INET6) != (h->tmpl.family == AF_INET6))
		return errf(err, errlen, -EINVAL, "peer add: %s: remote is "
			    "%s but the hub's local is %s", name,
			    family == AF_INET6 ? "IPv6" : "IPv4",
			    h->tmpl.family == AF_INET6 ? "IPv6" : "IPv4");
	if (family != AF_INET6 &&
	    cfg_check_endpoints(h->tmpl.local, remote4, why, sizeof(why)))
		return errf(err, errlen, -EINVAL, "peer add: %s: remote: %s",
			    name, why);
	if (family == AF_INET6 && remote6 &&
	    !memcmp(&h->tmpl.local6, remote6, sizeof(*remote6)))
		return errf(err, errlen, -EINVAL, "peer add: %s: remote: same "
			    "address as local", name);
	if (remote_port && h->tmpl.encap != ENCAP_UDP)
		return errf(err, errlen, -EINVAL, "peer add: %s: remote-port "
			    "needs encap udp (NAT-T)", name);
	if (live_tunnel_find(l, name))
		return errf(err, errlen, -EEXIST, "peer add: %s %s: exists",
			    hub, nh);
	ct = h->tmpl;
	memcpy(ct.name, name, sizeof(ct.name));
	ct.remote = remote4;
	if (family == AF_INET6 && remote6)
		ct.remote6 = *remote6;
	if (remote_port)
		ct.remote_port = remote_port;
	return live_tunnel_add(l, &ct, err, errlen);
}

int p2mp_peer_del(struct live *l, const char *hub, const char *nh,
		  char *err, size_t errlen)
{
	char name[CFG_NAME_MAX];
	int ret = p2mp_peer_name(l, hub, nh, name, err, errlen);

	if (ret)
		return ret;
	if (!live_tunnel_find(l, name))
		return errf(err, errlen, -ENOENT, "peer del: %s: no peer %s",
			    hub, nh);
	return live_tunnel_del(l, name, err, errlen);
}
