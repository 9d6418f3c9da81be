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

/* The LAN's IPv4 prefixes, and every IPv4 address of the gateway into
 * the XDP map (traffic for them stays the kernel's). */
static int addresses(struct espd *d)
{
	struct ifaddrs *ifa, *i;
	int l, nlocal = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		uint32_t a, m;

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
		if (!le->neigh || !le->want)
			return -ENOMEM;
		for (q = 0; q < d->cfg.workers.queues; q++) {
			err = spsc_init(&le->want[q], LAN_WANT_RING,
					sizeof(uint32_t));
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
		log_info("LAN %s: router mode, %s and %d prefix(es), MTU %d",
			 d->cfg.lans[l].name, a, le->nprefix, le->mtu);
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

void lan_service(struct espd *d, uint64_t now_ms)
{
	int l, q;
	uint32_t ip;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		for (q = 0; q < d->cfg.workers.queues; q++)
			while (spsc_pop(&le->want[q], &ip))
				ask(le, ip, now_ms);
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

void lan_free(struct espd *d)
{
	int l, q;

	for (l = 0; l < d->env.nlans; l++) {
		struct lan_env *le = &d->env.lans[l];

		for (q = 0; le->want && q < d->cfg.workers.queues; q++)
			spsc_free(&le->want[q]);
		free(le->want);
		free(le->neigh);
		le->want = NULL;
		le->neigh = NULL;
	}
	d->env.nlans = 0;
}
