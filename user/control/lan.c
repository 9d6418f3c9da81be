// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/daemon.h"
#include "control/lan.h"
#include "control/netlink.h"
#include "core/handoff.h"
#include "lib/log.h"
#include "tables/lanneigh.h"

#define LAN_WANT_RING 64 /* addresses a worker may ask about per turn */
#define LAN_ASK_MS 500   /* at most one resolution per host this often */

static int rx_queues(const char *ifname)
{
	char path[128];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	dir = opendir(path);
	if (!dir)
		return 1;
	while ((e = readdir(dir)))
		n += !strncmp(e->d_name, "rx-", 3);
	closedir(dir);
	return n ? n : 1;
}

static int prefix_len6(const struct sockaddr *mask)
{
	const uint8_t *m;
	int n = 0, b;

	if (!mask)
		return 128;
	m = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
	for (b = 0; b < 128 && (m[b / 8] & (0x80 >> (b % 8))); b++)
		n++;
	return n;
}

/* One IPv6 address of the gateway: into espresso_local6 (all of them, the
 * link-local ones too), and a LAN's global ones are its on-link prefixes. */
static void addresses6(struct espd *d, const struct ifaddrs *i, int *nlocal6)
{
	const uint8_t *a = ((const struct sockaddr_in6 *)i->ifa_addr)
				   ->sin6_addr.s6_addr;
	int l, len, b;

	if ((*nlocal6)++ < ESPRESSO_MAX_LOCAL && bpfload_local6_add(&d->bpf, a))
		log_warn("cannot add a local address to %s",
			 ESPRESSO_MAP_LOCAL6);
	/* link-local and multicast are the kernel's (XDP passes them) */
	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return;
	len = prefix_len6(i->ifa_netmask);
	for (l = 0; l < d->cfg.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];
		uint8_t *net;

		if (strcmp(i->ifa_name, d->cfg.lans[l].name) ||
		    le->nprefix6 == LAN_PREFIX_MAX)
			continue;
		if (!le->nprefix6)
			memcpy(le->addr6, a, 16);
		memcpy(le->own6[le->nprefix6], a, 16);
		net = le->net6[le->nprefix6];
		memset(net, 0, 16);
		for (b = 0; b < len; b++)
			net[b / 8] |= a[b / 8] & (0x80 >> (b % 8));
		le->plen6[le->nprefix6++] = (uint8_t)len;
	}
}

/* The LAN's IPv4 prefixes, and every IPv4 address of the gateway into
 * the XDP map (traffic for them stays the kernel's). */
static int addresses(struct espd *d)
{
	struct ifaddrs *ifa, *i;
	int l, nlocal = 0, nlocal6 = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		uint32_t a, m;

		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6) {
			addresses6(d, i, &nlocal6);
			continue;
		}
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		m = i->ifa_netmask ?
			((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr :
			0xffffffff;
		if (nlocal++ < ESPRESSO_MAX_LOCAL &&
		    bpfload_local4_add(&d->bpf, a))
			log_warn("cannot add a local address to %s",
				 ESPRESSO_MAP_LOCAL4);
		for (l = 0; l < d->cfg.nlans; l++) {
			struct lan_env *le = &d->env.lans[l];

			if (strcmp(i->ifa_name, d->cfg.lans[l].name) ||
			    le->nprefix == LAN_PREFIX_MAX)
				continue;
			if (!le->nprefix)
				le->addr = a;
			le->own[le->nprefix] = a;
			le->mask[le->nprefix] = m;
			le->net[le->nprefix++] = a & m;
		}
	}
	freeifaddrs(ifa);
	if (nlocal > ESPRESSO_MAX_LOCAL)
		log_warn("%d local IPv4 addresses, %d in %s: LAN traffic to the "
			 "others is routed as any", nlocal, ESPRESSO_MAX_LOCAL,
			 ESPRESSO_MAP_LOCAL4);
	if (nlocal6 > ESPRESSO_MAX_LOCAL)
		log_warn("%d local IPv6 addresses, %d in %s: LAN traffic to the "
			 "others is routed as any", nlocal6, ESPRESSO_MAX_LOCAL,
			 ESPRESSO_MAP_LOCAL6);
	return 0;
}

int lan_setup(struct espd *d, const char *obj)
{
	int l, q, err;

	if (!d->cfg.nlans)
		return 0;
	d->env.nlans = d->cfg.nlans;
	for (l = 0; l < d->cfg.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];
		const char *name = d->cfg.lans[l].name;

		le->ifindex = d->cfg.lans[l].ifindex;
		le->vrf = d->cfg.lans[l].vrf;
		err = nl_link_info(le->ifindex, le->mac, &le->mtu);
		if (err) {
			log_err("LAN %s: cannot read its MAC and MTU", name);
			return err;
		}
		le->neigh = calloc(1, sizeof(*le->neigh));
		le->want = calloc(d->cfg.workers.queues, sizeof(*le->want));
		le->neigh6 = calloc(1, sizeof(*le->neigh6));
		le->want6 = calloc(d->cfg.workers.queues, sizeof(*le->want6));
		if (!le->neigh || !le->want || !le->neigh6 || !le->want6)
			return -ENOMEM;
		for (q = 0; q < d->cfg.workers.queues; q++) {
			err = spsc_init(&le->want[q], LAN_WANT_RING,
					sizeof(uint32_t));
			if (!err)
				err = spsc_init(&le->want6[q], LAN_WANT_RING,
						16);
			if (err)
				return err;
		}
	}
	err = addresses(d);
	if (err) {
		log_err("cannot list the local addresses: %s", strerror(-err));
		return err;
	}
	for (l = 0; l < d->cfg.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];
		char a[INET_ADDRSTRLEN];

		if (!le->nprefix) {
			log_err("LAN %s has no IPv4 address: router mode needs "
				"one (its on-link prefix, the source of its "
				"ICMP errors): ip addr add ... dev %s",
				d->cfg.lans[l].name, d->cfg.lans[l].name);
			return -EADDRNOTAVAIL;
		}
		err = bpfload_attach_lan(&d->bpf, obj, l, d->cfg.lans[l].name,
					 le->ifindex, le->mac, le->vrf);
		if (err)
			return err;
		inet_ntop(AF_INET, &le->addr, a, sizeof(a));
		log_info("LAN %s: router mode, %s and %d prefix(es), %d IPv6 "
			 "prefix(es), MTU %d", d->cfg.lans[l].name, a,
			 le->nprefix, le->nprefix6, le->mtu);
	}
	return 0;
}

int lan_open_ports(struct espd *d, struct worker *w)
{
	int l, err;

	for (l = 0; l < d->env.nlans; l++) {
		const char *name = d->cfg.lans[l].name;

		if (w->id >= rx_queues(name)) {
			/* each worker sends its decrypted packets on its own
			 * queue of every LAN, as it receives on its own */
			log_err("LAN %s has %d RX queue(s), workers.queues = %d: "
				"a LAN needs as many as the uplink (ethtool -L)",
				name, rx_queues(name), d->cfg.workers.queues);
			return -EINVAL;
		}
		err = xsk_port_open_key(&w->lan[l].port, name, w->id, CFG_AUTO,
					d->bpf.xsks_fd,
					ESPRESSO_XSK_KEY(l + 1, w->id),
					d->cfg.workers.fill_ring);
		if (err)
			return err;
		w->lan[l].open = true;
		if (d->cfg.workers.busy_poll)
			xsk_port_busy_poll(&w->lan[l].port,
					   d->cfg.workers.busy_poll_budget);
	}
	return 0;
}

static void ask(struct lan_env *le, uint32_t ip, uint64_t now_ms)
{
	struct lan_neigh_ent *e = lan_neigh_get(le->neigh, ip);
	struct in_addr a = { .s_addr = ip };
	uint8_t mac[6];

	if (!e || (atomic_load(&e->mac) & NH_MAC_VALID) ||
	    now_ms - e->asked_ms < LAN_ASK_MS)
		return;
	e->asked_ms = now_ms;
	if (!nl_neigh_get4(le->ifindex, a, mac))
		lan_neigh_set(le->neigh, ip, mac);
	else
		nl_neigh_resolve4(le->ifindex, a);
}

static void ask6(struct lan_env *le, const uint8_t ip[16], uint64_t now_ms)
{
	struct lan_neigh6_ent *e = lan_neigh6_get(le->neigh6, ip);
	struct in6_addr a;
	uint8_t mac[6];

	if (!e || (atomic_load(&e->mac) & NH_MAC_VALID) ||
	    now_ms - e->asked_ms < LAN_ASK_MS)
		return;
	e->asked_ms = now_ms;
	memcpy(&a, ip, 16);
	if (!nl_neigh_get6(le->ifindex, &a, mac))
		lan_neigh6_set(le->neigh6, ip, mac);
	else
		nl_neigh_resolve6(le->ifindex, &a);
}

void lan_service(struct espd *d, uint64_t now_ms)
{
	int l, q;
	uint32_t ip;
	uint8_t ip6[16];

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		for (q = 0; q < d->cfg.workers.queues; q++) {
			while (spsc_pop(&le->want[q], &ip))
				ask(le, ip, now_ms);
			while (spsc_pop(&le->want6[q], ip6))
				ask6(le, ip6, now_ms);
		}
	}
}

/* Whether a is in the prefix net/len. */
static bool in_prefix6(const uint8_t *a, const uint8_t *net, int len)
{
	int b;

	for (b = 0; b < len; b++)
		if ((a[b / 8] ^ net[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

void lan_on_neigh6(struct espd *d, int ifindex, const struct in6_addr *ip,
		   const uint8_t *mac)
{
	int l, i;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		if (le->ifindex != ifindex)
			continue;
		for (i = 0; i < le->nprefix6; i++)
			if (in_prefix6(ip->s6_addr, le->net6[i], le->plen6[i]))
				break;
		if (i < le->nprefix6)
			lan_neigh6_set(le->neigh6, ip->s6_addr, mac);
	}
}

void lan_on_neigh(struct espd *d, int ifindex, struct in_addr ip,
		  const uint8_t *mac)
{
	int l, i;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		if (le->ifindex != ifindex)
			continue;
		for (i = 0; i < le->nprefix; i++)
			if ((ip.s_addr & le->mask[i]) == le->net[i])
				break;
		if (i < le->nprefix)
			lan_neigh_set(le->neigh, ip.s_addr, mac);
	}
}

bool lan_has_mac(const struct espd *d, int family, int ifindex,
		 const void *addr)
{
	uint8_t mac[6];
	uint32_t ip4;
	int l;

	memcpy(&ip4, addr, 4);
	for (l = 0; l < d->env.nlans; l++) {
		const struct lan_env *le = &d->env.lans[l];

		if (le->ifindex != ifindex)
			continue;
		if (family == AF_INET6 ? le->neigh6 &&
					      lan_neigh6_mac(le->neigh6, addr, mac)
				       : le->neigh && lan_neigh_mac(le->neigh, ip4, mac))
			return true;
	}
	return false;
}

void lan_sync_begin(struct espd *d)
{
	int l;

	for (l = 0; l < d->env.nlans; l++) {
		lan_neigh_sync_begin(d->env.lans[l].neigh);
		lan_neigh6_sync_begin(d->env.lans[l].neigh6);
	}
}

static void sweep_ask(void *arg, int family, const void *addr)
{
	const struct lan_env *le = arg;

	nl_neigh_resolve(family, le->ifindex, addr);
}

int lan_sweep(struct espd *d)
{
	int l, n = 0;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		n += lan_neigh_sweep(le->neigh, sweep_ask, le);
		n += lan_neigh6_sweep(le->neigh6, sweep_ask, le);
	}
	return n;
}

void lan_free(struct espd *d)
{
	int l, q;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		for (q = 0; le->want && q < d->cfg.workers.queues; q++)
			spsc_free(&le->want[q]);
		for (q = 0; le->want6 && q < d->cfg.workers.queues; q++)
			spsc_free(&le->want6[q]);
		free(le->want);
		free(le->neigh);
		free(le->want6);
		free(le->neigh6);
		le->want = NULL;
		le->neigh = NULL;
		le->want6 = NULL;
		le->neigh6 = NULL;
	}
	d->env.nlans = 0;
}
