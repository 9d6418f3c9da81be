// SPDX-License-Identifier: GPL-2.0
/*
 * espressod: the daemon. Reads and checks the config, then sets up in order
 * tun, XDP program, AF_XDP sockets and workers, SPIs, control socket; runs
 * the control loop (signals, neighbours, control requests, watchdog) and
 * tears everything down in reverse on SIGTERM/SIGINT; on SIGUSR2 (or
 * espressoctl stop keep), a stop for a restart, it leaves the fail-closed
 * state in place for the next start (control/daemon.h, enum espd_quit).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <stdarg.h>
#include <time.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include "control/apply.h"
#include "control/ctl.h"
#include "control/daemon.h"
#include "control/lan.h"
#include "control/metrics.h"
#include "control/neigh.h"
#include "control/seqstore.h"
#include "control/spdstore.h"
#include "control/topmap.h"
#include "proto/esp.h"
#include "core/handoff.h"
#include "control/napi.h"
#include "control/natt.h"
#include "control/privs.h"
#include "control/steer.h"
#include "control/watchdog.h"
#include "control/tap_ctl.h"
#include "lib/log.h"
#include "lib/secret_ossl.h"
#include "control/netlink.h"
#include "io/tun.h"
#include "espresso/version.h"

/* libbpf and libxdp talk through our log; their warnings are debug detail
 * (espressod logs its own error when something fails). */
static int lib_print(enum libbpf_print_level level, const char *fmt,
		     va_list ap)
{
	char buf[512];
	size_t n;

	if (level == LIBBPF_DEBUG || log_level < LOG_LVL_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	log_debug("%s", buf);
	return 0;
}

static int xdp_print(enum libxdp_print_level level, const char *fmt,
		     va_list ap)
{
	return lib_print((enum libbpf_print_level)level, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: espressod -c FILE [options]\n"
		"  -c, --config FILE   the configuration (libconfig)\n"
		"  -t, --test          check the configuration and exit\n"
		"      --xdp-attached  use the program attached by xdp-loader and\n"
		"                      the maps pinned in /sys/fs/bpf/espresso/<instance>\n"
		"      --bpf-obj PATH  the XDP object (default: next to the binary)\n"
		"      --state-dir DIR sequence numbers kept across restarts\n"
		"                      (default /var/lib/espresso/<instance>)\n"
		"  -v, --verbose       debug logging\n"
		"  -h, --help\n"
		"  -V, --version       print the version and exit\n");
}

static int uplink_queues(const char *ifname)
{
	char path[128];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += !strncmp(e->d_name, "rx-", 3);
	closedir(dir);
	return n;
}

/*
 * A deleted kernel entry (nl_neigh_deleted). The kernel's GC removes stale
 * entries that nothing uses, once its table holds gc_thresh1 (128) of them
 * all namespaces together, and espresso's packets never pass the kernel's
 * neighbour code: a next hop or LAN host that carries traffic all day goes
 * stale and is deleted about a minute later. What has its MAC keeps it,
 * and the kernel resolves it again (ARP, neighbour solicitation): its
 * answer, or its failure, comes back as an event. Nothing waits.
 */
static void on_neigh_deleted(struct espd *d, int family, int ifindex,
			     const void *addr)
{
	if (neigh_has_mac(&d->live, family, ifindex, addr) ||
	    lan_has_mac(d, family, ifindex, addr))
		nl_neigh_resolve(family, ifindex, addr);
}

static void on_neigh(void *arg, int ifindex, struct in_addr ip,
		     const uint8_t *mac)
{
	struct espd *d = arg;

	if (mac == nl_neigh_deleted) {
		on_neigh_deleted(d, AF_INET, ifindex, &ip);
		return;
	}
	neigh_update(&d->live, ifindex, ip, mac);
	lan_on_neigh(d, ifindex, ip, mac);
}

static void on_neigh6(void *arg, int ifindex, const struct in6_addr *ip,
		      const uint8_t *mac)
{
	struct espd *d = arg;

	if (mac == nl_neigh_deleted) {
		on_neigh_deleted(d, AF_INET6, ifindex, ip);
		return;
	}
	neigh_update6(&d->live, ifindex, ip, mac);
	lan_on_neigh6(d, ifindex, ip, mac);
}

static void resync_ask(void *arg, int family, int ifindex, const void *addr)
{
	(void)arg;
	nl_neigh_resolve(family, ifindex, addr);
}

/*
 * Neighbour events were lost to an overflow: the kernel's whole table
 * read again, each next hop and LAN host set from it; those it no longer
 * lists, resolved again (their MACs kept until the kernel answers).
 * 0, or the dump's error: then every next hop is looked up again, as the
 * recheck budget allows; LAN hosts keep their MACs until a later read
 * (neigh_resync_ran) says which the kernel no longer lists.
 */
static int neigh_resync(struct espd *d, struct nl_listener *nl)
{
	int n, ret;

	neigh_sync_begin(&d->live);
	lan_sync_begin(d);
	ret = nl_neigh_dump(nl, on_neigh, d);
	if (ret) {
		neigh_recheck_all(&d->live);
		return ret;
	}
	n = neigh_sweep(&d->live, resync_ask, NULL) + lan_sweep(d);
	log_info("netlink: neighbour table read again; %d neighbour(s) no "
		 "longer listed asked for again", n);
	return 0;
}

/* workers.crypto = "auto": intel-ipsec-mb where it can be used, which
 * crypto_set_backend checks (and self-tests against OpenSSL), else
 * OpenSSL, which always can. */
static void crypto_auto(void)
{
	enum crypto_backend b = crypto_auto_backend();

	/* built in and the CPU has what it needs, yet refused: its
	 * self-test failed */
	if (b != CRYPTO_IPSECMB && !crypto_backend_available(CRYPTO_IPSECMB))
		log_warn("crypto: ipsec-mb fails its self-test against "
			 "OpenSSL here: openssl instead (workers.crypto = "
			 "\"auto\")");
	crypto_set_backend(b);
	log_info("crypto: %s (workers.crypto = \"auto\")",
		 crypto_backend_name(crypto_get_backend()));
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* ---- the live state's hooks into the system ---- */

static int ops_spi_add(void *arg, const struct sa *sa)
{
	struct espd *d = arg;

	return bpfload_sa_add(&d->bpf, sa->spi, sa->slot,
			      sa->tunnel->encap == ENCAP_UDP ? ESPRESSO_SA_F_UDP
							     : ESPRESSO_SA_F_RAW);
}

static int ops_natt_ports(void *arg, const uint16_t *ports, int n)
{
	struct espd *d = arg;

	return bpfload_natt_ports_set(&d->bpf, ports, n);
}

static void ops_spi_del(void *arg, const struct sa *sa)
{
	struct espd *d = arg;

	bpfload_sa_del(&d->bpf, sa->spi);
}

static int ops_route_add(void *arg, const struct cfg_prefix *p)
{
	struct espd *d = arg;

	return nl_route_add(d->tun_ifindex, p);
}

static void ops_route_del(void *arg, const struct cfg_prefix *p)
{
	struct espd *d = arg;

	nl_route_del(d->tun_ifindex, p);
}

/* A VRF's routes: into its tun, in its kernel table. */
static int ops_vrf_route_add(void *arg, const struct cfg_prefix *p,
			     uint32_t vrf)
{
	struct espd *d = arg;
	if (vrf > (uint32_t)d->cfg.nvrfs || !d->vrf_ifindex[vrf - 1])
		return -ENODEV;
	return nl_route_add_table(d->vrf_ifindex[vrf - 1],
				  d->cfg.vrfs[vrf - 1].table, p);
}

static void ops_vrf_route_del(void *arg, const struct cfg_prefix *p,
			      uint32_t vrf)
{
	struct espd *d = arg;
	if (vrf <= (uint32_t)d->cfg.nvrfs && d->vrf_ifindex[vrf - 1])
		nl_route_del_table(d->vrf_ifindex[vrf - 1],
				   d->cfg.vrfs[vrf - 1].table, p);
}

/* Each VRF's tun, one queue per worker as the default tun's. */
static int setup_vrf_tuns(struct espd *d)
{
	int i, err;

	for (i = 0; i < d->cfg.nvrfs; i++) {
		struct cfg_vrf *v = &d->cfg.vrfs[i];

		err = tun_open(v->tun, d->cfg.workers.queues, d->vrf_fds[i],
			       d->cfg.tun.offload);
		if (err)
			return err;
		d->vrf_ifindex[i] = (int)if_nametoindex(v->tun);
		/* persistent as the default tun: fail closed while down */
		if (tun_persist(d->vrf_fds[i][0], true))
			log_warn("tun %s: cannot make it persistent", v->tun);
		err = tun_setup_vrf(&d->cfg, v, d->vrf_ifindex[i]);
		if (err)
			return err;
		log_info("vrf %s: tun %s, kernel table %u", v->name, v->tun,
			 v->table);
	}
	return 0;
}

static void ops_xdp_route_set(void *arg, const struct cfg_prefix *p,
			      uint32_t value, uint32_t vrf)
{
	struct espd *d = arg;

	if (p->family == AF_INET &&
	    bpfload_route4_set(&d->bpf, (uint16_t)vrf, p->addr, p->len,
			       value))
		log_rl(LOG_LVL_WARN, 10, "cannot add a route to %s: LAN "
		       "traffic for it goes to the kernel",
		       ESPRESSO_MAP_ROUTES4);
	if (p->family == AF_INET6 && !vrf && /* the default VRF's only */
	    bpfload_route6_set(&d->bpf, p->addr, p->len, value))
		log_rl(LOG_LVL_WARN, 10, "cannot add a route to %s: LAN "
		       "traffic for it goes to the kernel",
		       ESPRESSO_MAP_ROUTES6);
}

static void ops_xdp_route_del(void *arg, const struct cfg_prefix *p,
			      uint32_t vrf)
{
	struct espd *d = arg;

	if (p->family == AF_INET)
		bpfload_route4_del(&d->bpf, (uint16_t)vrf, p->addr, p->len);
	/* IPv6 on the LANs is the default VRF's (espresso_routes6 has no
	 * VRF in its key) */
	if (p->family == AF_INET6 && !vrf)
		bpfload_route6_del(&d->bpf, p->addr, p->len);
}

static void ops_committed(void *arg)
{
	struct espd *d = arg;

	spd_sync(&d->spd, &d->live, &d->bpf);
}

static void ops_event(void *arg, const struct live_event *ev)
{
	ctl_event(arg, ev);
}

static void ops_keepalive(void *arg, const struct tunnel *t)
{
	struct espd *d = arg;
	int err = natt_keepalive(d->natt_fd, t->local, t->local_port, t->peer,
				 t->peer_port);

	if (err)
		log_rl(LOG_LVL_WARN, 60, "tunnel %s: NAT-T keepalive to %s:%u: "
		       "%s", t->name, inet_ntoa(t->peer), t->peer_port,
		       strerror(-err));
}

static int setup_rings(struct espd *d)
{
	int n = d->cfg.workers.queues, i, err;

	d->env.hand = calloc(n * n, sizeof(*d->env.hand));
	d->env.back = calloc(n * n, sizeof(*d->env.back));
	if (!d->env.hand || !d->env.back)
		return -ENOMEM;
	for (i = 0; i < n * n; i++) {
		if (i / n == i % n)
			continue; /* no ring to itself */
		err = spsc_init(&d->env.hand[i], HANDOFF_RING,
				sizeof(struct handoff_desc));
		if (!err)
			err = spsc_init(&d->env.back[i], HANDOFF_RING,
					sizeof(uint64_t));
		if (err)
			return err;
	}
	return 0;
}

static void free_rings(struct espd *d)
{
	int n = d->cfg.workers.queues, i;

	for (i = 0; d->env.hand && i < n * n; i++) {
		spsc_free(&d->env.hand[i]);
		spsc_free(&d->env.back[i]);
	}
	free(d->env.hand);
	free(d->env.back);
	d->env.hand = d->env.back = NULL;
}

/* All workers exist before any starts: they reach into each other. */
static int setup_workers(struct espd *d)
{
	int q, i, err;

	d->env.tables = &d->live.cur;
	d->env.epoch = &d->live.epoch;
	d->env.batch = d->cfg.workers.batch;
	d->env.offload = d->cfg.tun.offload;
	d->env.mss_clamp = d->cfg.tun.mss_clamp;
	d->env.spd = d->cfg.nlans ? &d->spd.snap : NULL;

	d->env.busy_poll = d->cfg.workers.busy_poll;
	d->env.stop = &d->stop;
	d->workers = calloc_lines(d->cfg.workers.queues, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	d->env.workers = d->workers;
	d->env.nworkers = d->cfg.workers.queues;
	err = setup_rings(d);
	if (err)
		return err;
	for (q = 0; q < d->cfg.workers.queues; q++) {
		struct worker *w = &d->workers[q];

		err = worker_init(w, q, d->cfg.workers.cpus[q], &d->env,
				  d->tun_fds[q]);
		for (i = 0; i < d->cfg.nvrfs; i++)
			w->vrf_fd[i + 1] = d->vrf_fds[i][q];
		w->nvrf_fd = 1 + d->cfg.nvrfs;
		if (!err)
			err = xsk_port_open(&w->port, d->cfg.uplink.name, q,
					    d->cfg.uplink.zerocopy,
					    d->bpf.xsks_fd,
					    d->cfg.workers.fill_ring);
		if (!err)
			err = lan_open_ports(d, w);
		if (err)
			return err;
		if (d->cfg.workers.busy_poll)
			xsk_port_busy_poll(&w->port, d->cfg.workers.busy_poll_budget);
		d->nworkers++;
	}
	for (q = 0; q < d->nworkers; q++) {
		err = worker_start(&d->workers[q]);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Each tunnel carries inner packets up to the uplink MTU less its exact ESP
 * overhead; the tun gets the smallest of these unless tun.mtu says more
 * (then bigger packets get fragmented or an ICMP error).
 */
static int set_mtu(struct espd *d)
{
	unsigned int auto_mtu = esp_max_inner(d->env.uplink_mtu, ENCAP_UDP);
	int i;

	if (d->env.uplink_mtu < 576) {
		log_err("%s: MTU %d is too small to carry ESP",
			d->cfg.uplink.name, d->env.uplink_mtu);
		return -EINVAL;
	}
	/* no tunnel yet: room for the larger (UDP) encapsulation */
	for (i = 0; i < d->cfg.ntunnels; i++) {
		unsigned int m = d->cfg.tunnels[i].family == AF_INET6 ?
			esp_max_inner6(d->env.uplink_mtu,
				       d->cfg.tunnels[i].encap) :
			esp_max_inner(d->env.uplink_mtu,
				      d->cfg.tunnels[i].encap);

		if (i == 0 || m < auto_mtu)
			auto_mtu = m;
	}
	if (!d->cfg.tun.mtu) {
		d->cfg.tun.mtu = auto_mtu;
	} else if ((unsigned int)d->cfg.tun.mtu > auto_mtu) {
		log_warn("tun.mtu %d is above what the tunnels carry on %s "
			 "(MTU %d): packets over %u bytes get an ICMP error "
			 "(DF, IPv6) or are fragmented", d->cfg.tun.mtu,
			 d->cfg.uplink.name, d->env.uplink_mtu, auto_mtu);
	}
	log_info("tunnel MTU %u (uplink %d), tun %s MTU %d", auto_mtu,
		 d->env.uplink_mtu, d->cfg.tun.name, d->cfg.tun.mtu);
	return 0;
}

/*
 * One espressod per instance: a second one would take over the control
 * socket and the XDP program of the first.
 */
static int take_lock(struct espd *d)
{
	char path[128];

	if (mkdir(CTL_DIR, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s.lock", CTL_DIR, d->cfg.instance);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return -errno;
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		log_err("instance %s is already running (%s is locked): one "
			"espressod per instance", d->cfg.instance, path);
		close(d->lock_fd);
		d->lock_fd = -1;
		return -EBUSY;
	}
	if (ftruncate(d->lock_fd, 0) == 0)
		dprintf(d->lock_fd, "%d\n", getpid());
	return 0;
}

/*
 * /run/espresso/<instance>.handover: left by a stop for a restart, taken
 * by the next start (under the instance's lock), which then expects the
 * XDP program it finds and says so as news rather than as a warning.
 */
static void handover_path(const struct espd *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.handover", CTL_DIR, d->cfg.instance);
}

static void handover_leave(const struct espd *d)
{
	char path[128];
	int fd;

	handover_path(d, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static bool handover_take(const struct espd *d)
{
	char path[128];

	handover_path(d, path, sizeof(path));
	return !unlink(path);
}

static int open_state(struct espd *d, const char *dir)
{
	char path[512], err[512];
	int ret;

	if (!dir) {
		snprintf(path, sizeof(path), "/var/lib/espresso/%s",
			 d->cfg.instance);
		dir = path;
	}
	ret = seqstore_open(&d->store, dir, err, sizeof(err));
	if (ret) {
		log_err("state directory: %s", err);
		return ret;
	}
	/* the exact inbound tops of this boot (topmap.h) */
	ret = topmap_open(&d->tops, dir, err, sizeof(err));
	if (ret) {
		log_err("state directory: %s", err);
		return ret;
	}
	if (topmap_dropped(d->tops))
		log_warn("state directory %s: %zu inbound replay tops are from "
			 "before a reboot: those SAs restart from their limits "
			 "persisted ahead of use (the peer's next numbers up to "
			 "them are refused as replays)",
			 dir, topmap_dropped(d->tops));
	/* the policies added through espressoctl (spdstore.h) */
	if ((size_t)snprintf(d->spd.store, sizeof(d->spd.store), "%s/policies",
			     dir) >= sizeof(d->spd.store)) {
		log_err("state directory %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (seqstore_fresh(d->store) && d->cfg.ntunnels)
		log_info("state directory %s is new: outbound sequence numbers "
			 "start at 1 (a restart from here on resumes above the "
			 "last one reserved)", dir);
	return 0;
}

struct stale {
	struct espd *d;
	struct cfg_prefix p[256];
	int n;
	uint32_t vrf;
};

static void stale_route(void *arg, const struct cfg_prefix *p)
{
	struct stale *s = arg;

	if (!live_route_has_vrf(&s->d->live, p, s->vrf) && s->n < 256)
		s->p[s->n++] = *p;
}

/* The same for each VRF's persistent tun and kernel table. */
static int drop_stale_vrf_routes(struct espd *d, struct stale *s)
{
	int i, v, total = 0;

	for (v = 0; v < d->cfg.nvrfs; v++) {
		int ifi = d->vrf_ifindex[v];
		uint32_t table = d->cfg.vrfs[v].table;

		s->vrf = (uint32_t)v + 1;
		do {
			s->n = 0;
			if (nl_route_dump_table(ifi, table, stale_route, s))
				break;
			for (i = 0; i < s->n; i++)
				nl_route_del_table(ifi, table, &s->p[i]);
			total += s->n;
		} while (s->n == 256);
	}
	return total;
}

/*
 * The persistent tun kept the routes of the run before (fail closed while
 * espressod was down); those the config no longer has go now.
 */
static void drop_stale_routes(struct espd *d)
{
	struct stale *s = calloc(1, sizeof(*s));
	int i, total = 0;

	if (!s)
		return;
	s->d = d;
	do { /* 256 at a time */
		s->n = 0;
		if (nl_route_dump(d->tun_ifindex, stale_route, s))
			break;
		for (i = 0; i < s->n; i++)
			nl_route_del(d->tun_ifindex, &s->p[i]);
		total += s->n;
	} while (s->n == 256);
	total += drop_stale_vrf_routes(d, s);
	if (total)
		log_info("tun %s: removed %d route(s) of an earlier run that "
			 "the config no longer has", d->cfg.tun.name, total);
	free(s);
}

static int setup(struct espd *d, const char *obj, bool xdp_attached,
		 const char *state_dir)
{
	struct live_ops ops = {
		.arg = d, .spi_add = ops_spi_add, .spi_del = ops_spi_del,
		.natt_ports = ops_natt_ports,
		.route_add = ops_route_add, .route_del = ops_route_del,
		.event = ops_event, .keepalive = ops_keepalive,
		.xdp_route_set = ops_xdp_route_set,
		.xdp_route_del = ops_xdp_route_del,
		.committed = ops_committed,
		.vrf_route_add = ops_vrf_route_add,
		.vrf_route_del = ops_vrf_route_del,
	};
	char err[512];
	int err_n, nq;

	err_n = take_lock(d);
	if (err_n)
		return err_n;
	d->bpf.handover = handover_take(d);
	if (d->bpf.handover)
		log_info("the last run of %s stopped for a restart: adopting "
			 "the tun, routes and XDP program it left",
			 d->cfg.instance);
	nq = uplink_queues(d->cfg.uplink.name);
	if (nq >= 0 && nq < d->cfg.workers.queues) {
		log_err("%s: workers.queues = %d but %s has %d RX queues (see "
			"ethtool -L)", d->cfg.path, d->cfg.workers.queues,
			d->cfg.uplink.name, nq);
		return -EINVAL;
	}
	err_n = nl_link_info(d->cfg.uplink.ifindex, d->env.uplink_mac,
			     &d->env.uplink_mtu);
	if (err_n) {
		log_err("cannot read the MAC and MTU of %s", d->cfg.uplink.name);
		return err_n;
	}
	err_n = open_state(d, state_dir);
	if (err_n)
		return err_n;
	err_n = set_mtu(d);
	if (err_n)
		return err_n;
	err_n = tun_open(d->cfg.tun.name, d->cfg.workers.queues, d->tun_fds,
			 d->cfg.tun.offload);
	if (err_n)
		return err_n;
	d->tun_ifindex = if_nametoindex(d->cfg.tun.name);
	if (tun_persist(d->tun_fds[0], true))
		log_warn("tun %s: cannot make it persistent: while espressod "
			 "is down its routes go", d->cfg.tun.name);
	err_n = tun_setup(&d->cfg, d->tun_ifindex);
	err_n = err_n ?: setup_vrf_tuns(d);
	if (err_n)
		return err_n;
	err_n = bpfload_ensure_bpffs();
	if (err_n)
		return err_n;
	err_n = xdp_attached ? bpfload_use_pinned(&d->bpf, &d->cfg)
			     : bpfload_attach(&d->bpf, &d->cfg, obj);
	if (err_n)
		return err_n;
	/* before the capabilities go: a raw socket takes CAP_NET_RAW */
	d->natt_fd = natt_open();
	if (d->natt_fd < 0)
		log_warn("no raw socket for NAT-T keepalives (%s): none will "
			 "be sent", strerror(-d->natt_fd));
	err_n = lan_setup(d, obj);
	if (err_n)
		return err_n;
	err_n = live_init(&d->live, d->cfg.workers.queues, d->env.uplink_mtu,
			  &ops, d->store);
	if (err_n)
		return err_n;
	live_set_tops(&d->live, d->tops);
	err_n = apply_config(&d->live, &d->cfg, err, sizeof(err));
	if (err_n) {
		log_err("%s", err);
		return err_n;
	}
	err_n = spd_load_config(&d->spd, &d->live, &d->cfg, err, sizeof(err));
	if (err_n) {
		log_err("%s", err);
		return err_n;
	}
	err_n = spdstore_load(&d->spd, &d->live, err, sizeof(err));
	if (err_n) {
		log_err("policies kept from the last run: %s", err);
		return err_n;
	}
	if (d->cfg.npolicies && !d->cfg.nlans)
		log_warn("%s: policies apply to the plaintext of LAN "
			 "interfaces, and there is no lan", d->cfg.path);
	spd_sync(&d->spd, &d->live, &d->bpf);
	drop_stale_routes(d);
	err_n = setup_workers(d);
	if (err_n)
		return err_n;
	steer_setup(&d->steer, live_tables(&d->live), d->cfg.uplink.name);
	err_n = napi_setup(&d->napi, &d->cfg);
	if (err_n)
		return err_n;
	neigh_refresh(&d->live, d->cfg.uplink.ifindex, d->cfg.uplink.name,
		      mono_ms());
	return 0;
}

/* keep: a stop for a restart (enum espd_quit): the state is saved as in a
 * clean stop, and what keeps the protected prefixes from leaking while no
 * espressod runs stays as a SIGKILL leaves it, for the next start to adopt */
static void teardown(struct espd *d, bool keep)
{
	size_t i;
	int q;

	atomic_store(&d->stop, 1);
	for (q = 0; q < d->nworkers; q++)
		worker_join(&d->workers[q]);
	for (q = 0; q < d->nworkers; q++)
		worker_free(&d->workers[q]);
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
	free_rings(d);
	lan_free(d);
	/* the SPI steering rules go either way: the next start puts its
	 * own, and until then the XDP program drops ESP on any queue */
	steer_teardown(&d->steer, d->cfg.uplink.name);
	/* kept, the note in /run/espresso tells the next start what to put
	 * back at its clean stop (napi.c) */
	if (!keep)
		napi_restore(&d->napi, &d->cfg);
	if (d->live.nworkers) {
		live_persist_final(&d->live);
		/* a clean stop removes everything: routes, SPIs, the tun */
		for (i = 0; !keep && d->tun_ifindex && i < d->live.nroutes; i++)
			if (!d->live.routes[i].t->vrf)
				nl_route_del(d->tun_ifindex,
					     &d->live.routes[i].prefix);
		/* a VRF's routes go with its tun, not persistent below */
		live_destroy(&d->live);
	}
	spd_free(&d->spd);
	if (keep)
		bpfload_release(&d->bpf);
	else
		bpfload_close(&d->bpf);
	if (d->natt_fd > 0)
		close(d->natt_fd);
	d->natt_fd = -EBADF;
	if (d->tun_fds[0] >= 0 && !keep)
		tun_persist(d->tun_fds[0], false);
	tun_close(d->tun_fds, d->cfg.workers.queues);
	if (keep && d->tun_ifindex)
		log_info("tun %s and its routes left in place: packets to the "
			 "protected prefixes are dropped there until the next "
			 "start", d->cfg.tun.name);
	for (i = 0; i < (size_t)d->cfg.nvrfs; i++) {
		if (d->vrf_fds[i][0] >= 0 && !keep)
			tun_persist(d->vrf_fds[i][0], false);
		tun_close(d->vrf_fds[i], d->cfg.workers.queues);
	}
	topmap_close(d->tops);
	d->tops = NULL;
	seqstore_close(d->store);
	d->store = NULL;
	if (keep)
		handover_leave(d);
	config_free(&d->cfg);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
}

static int run(struct espd *d, int sfd, struct nl_listener *nl)
{
	char ctl_path[128];
	int ctl_fd = ctl_open(d->cfg.instance, ctl_path, sizeof(ctl_path));
	struct watchdog wd;
	struct metrics *metrics;
	struct pollfd pfd[5];
	/* lost neighbour events: when the table is read again */
	struct neigh_resync resync = { .due = false };
	uint64_t last_tick_ms = 0;

	nl_neigh_listen6(nl, on_neigh6, d);

	if (ctl_fd < 0)
		log_warn("no control socket: espressoctl will not reach this "
			 "instance");
	metrics_open(&metrics, d); /* logs why it cannot: the gateway runs on */
	watchdog_init(&wd, d->workers, d->nworkers, mono_ms());
	sd_notifyf(0, "READY=1\nSTATUS=%d queue(s), %u tunnel(s) on %s",
		   d->nworkers, d->live.tun_count, d->cfg.uplink.name);
	log_info("running: %d queue(s), %u tunnel(s), uplink %s, tun %s",
		 d->nworkers, d->live.tun_count, d->cfg.uplink.name,
		 d->cfg.tun.name);
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = ctl_fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = nl ? nl_listener_fd(nl) : -1,
				  .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = metrics_fd(metrics), .events = POLLIN };
	/* a worker asks for the next inbound limit (live_tick raises it) */
	pfd[4] = (struct pollfd){ .fd = live_wake_fd(&d->live),
				  .events = POLLIN };
	for (;;) {
		/* router mode: workers wait on LAN hosts' MACs (lan.c) */
		int wait = watchdog_timeout_ms(&wd, mono_ms(),
					       d->env.nlans ? 20 : 200);

		bool asks_only, cheap;
		uint64_t now;
		int n;

		/* trace and pcap drain the workers' rings every few ms */
		if (tap_timeout_ms(d) >= 0 && tap_timeout_ms(d) < wait)
			wait = tap_timeout_ms(d);
		/* inbound limits reserved, their sync due */
		n = live_timeout_ms(&d->live, mono_ms());
		if (n >= 0 && n < wait)
			wait = n;
		n = poll(pfd, 5, wait);
		/* woken by workers' asks alone: live_asks serves them */
		asks_only = n == 1 && (pfd[4].revents & POLLIN);
		if (pfd[4].revents & POLLIN)
			live_wake_clear(&d->live);
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					char err[512];

					espd_reload(d, err, sizeof(err));
				} else if (si.ssi_signo == SIGUSR2) {
					d->quit = ESPD_QUIT_KEEP;
				} else {
					d->quit = ESPD_QUIT_STOP;
				}
				if (d->quit)
					log_info("signal %d: stopping%s",
						 si.ssi_signo,
						 d->quit == ESPD_QUIT_KEEP ?
						 " for a restart" : "");
			}
		}
		if (d->quit)
			break;
		if (pfd[1].revents & POLLIN)
			ctl_serve(ctl_fd, d);
		if (d->quit) { /* espressoctl stop [keep] */
			log_info("espressoctl stop%s: stopping%s",
				 d->quit == ESPD_QUIT_KEEP ? " keep" : "",
				 d->quit == ESPD_QUIT_KEEP ? " for a restart" :
				 "");
			break;
		}
		ctl_monitors_check(d);
		if ((pfd[2].revents & POLLIN) &&
		    nl_neigh_read(nl, on_neigh, d) == -ENOBUFS)
			neigh_resync_lost(&resync);
		/* at most once a second: what a resync asks for comes back
		 * as events, which must not overflow into the next one */
		if (neigh_resync_ready(&resync, mono_ms())) {
			int ret = neigh_resync(d, nl);

			neigh_resync_ran(&resync, mono_ms(), !ret);
			if (ret)
				log_warn("netlink: the neighbour table could "
					 "not be read again (%d time(s) in a "
					 "row): next hops looked up again, LAN "
					 "hosts keep their MACs; trying again "
					 "in %llu s", resync.fails,
					 (unsigned long long)
					 neigh_resync_wait_ms(&resync) / 1000);
		}
		metrics_serve(metrics); /* each turn: its timeouts too */
		/* a turn for the workers' asks alone (with 10,000 tunnels
		 * about 2,000 a second): their limits, not a scan of every
		 * tunnel and SA, which waits for a turn LIVE_TICK_FULL_MS
		 * after the last */
		now = mono_ms();
		cheap = (asks_only ||
			 (n == 0 && live_timeout_ms(&d->live, now) == 0)) &&
			now - last_tick_ms < LIVE_TICK_FULL_MS;
		if (!cheap)
			neigh_refresh(&d->live, d->cfg.uplink.ifindex,
				      d->cfg.uplink.name, mono_ms());
		lan_service(d, mono_ms());
		if (cheap) {
			live_asks(&d->live, mono_ms());
		} else {
			live_tick(&d->live, mono_ms());
			last_tick_ms = mono_ms();
		}
		watchdog_tick(&wd, mono_ms());
		tap_poll(d, mono_ms());
	}
	sd_notify(0, d->quit == ESPD_QUIT_KEEP ?
		  "STOPPING=1\nSTATUS=stopping for a restart: tun, routes and "
		  "XDP program kept" : "STOPPING=1");
	tap_close(d);
	ctl_monitors_close(d);
	ctl_close(ctl_fd, ctl_path);
	metrics_close(metrics);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "xdp-attached", no_argument, NULL, 'X' },
		{ "bpf-obj", required_argument, NULL, 'B' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	static struct espd d;
	const char *config = NULL, *obj = NULL, *state_dir = NULL;
	bool test = false, xdp_attached = false;
	char err[512];
	sigset_t mask;
	struct nl_listener *nl;
	int c, sfd, r;

	/* first, before anything calls OpenSSL: its allocations (the SAs'
	 * cipher contexts, with the expanded keys) in locked, non-dumpable
	 * memory that is wiped when freed (lib/secret_ossl.h) */
	if (secret_ossl_install())
		log_warn("OpenSSL allocated before start-up: the cipher "
			 "contexts are in the ordinary heap");
	while ((c = getopt_long(argc, argv, "c:tvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 't': test = true; break;
		case 'X': xdp_attached = true; break;
		case 'B': obj = optarg; break;
		case 'S': state_dir = optarg; break;
		case 'v': log_level = LOG_LVL_DEBUG; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("espressod " ESPRESSO_VERSION "\n"); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	for (c = 0; c < CFG_MAX_QUEUES; c++)
		d.tun_fds[c] = -1;
	memset(d.vrf_fds, 0xff, sizeof(d.vrf_fds)); /* -1: none open */
	d.natt_fd = -EBADF;
	libbpf_set_print(lib_print);
	libxdp_set_print(xdp_print);
	r = config_load(config, &d.cfg, true, err, sizeof(err));
	if (r) {
		log_err("%s", err);
		return 1;
	}
	if (d.cfg.workers.crypto == CFG_CRYPTO_AUTO) {
		crypto_auto();
	} else if (crypto_set_backend((enum crypto_backend)d.cfg.workers.crypto)) {
		log_err("%s: workers.crypto = \"%s\" cannot be used here",
			config, crypto_backend_name(
				(enum crypto_backend)d.cfg.workers.crypto));
		config_free(&d.cfg);
		return 1;
	}
	if (test) {
		printf("%s: OK\n", config);
		config_free(&d.cfg);
		return 0;
	}
	if (!obj)
		obj = bpfload_find_object(argv[0]);

	/* Signals go to the control loop only, through a signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* SIGUSR2: a stop for a restart. A signal, so that systemctl kill
	 * reaches the unit's main PID without knowing the instance's name
	 * (the control socket's); an espressod too old to know it dies of
	 * it without a clean stop, which leaves the same fail-closed state */
	sigaddset(&mask, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	d.lock_fd = -1;
	d.quit_fd = -1;
	tap_init(&d.tap);
	/* the neighbour listener first: the next hops setup asks the
	 * kernel to resolve must not answer before anyone listens */
	nl = nl_neigh_listen();
	r = setup(&d, obj, xdp_attached, state_dir);
	if (!r) {
		privs_drop(&d); /* what run() and teardown() need, no more */
		run(&d, sfd, nl);
	} else
		log_err("start-up failed; undoing what was set up");
	teardown(&d, !r && d.quit == ESPD_QUIT_KEEP);
	if (nl)
		nl_listener_close(nl);
	close(sfd);
	log_info("stopped");
	/* espressoctl stop: its last line; the connection closes with the
	 * process (after the exit handlers), which is what it waits for */
	if (d.quit_fd >= 0)
		dprintf(d.quit_fd, "%s\n", d.quit == ESPD_QUIT_KEEP ?
			"stopped; tun, routes and XDP program left for the "
			"next start" : "stopped");
	return r ? 1 : 0;
}
