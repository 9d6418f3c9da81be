// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <xdp/libxdp.h>

#include "io/bpfload.h"
#include "lib/log.h"

#define BPFFS "/sys/fs/bpf"

static const char *const map_names[] = { ESPRESSO_MAP_SA_IN, ESPRESSO_MAP_XSKS,
					 ESPRESSO_MAP_STATS, ESPRESSO_MAP_IFACES,
					 ESPRESSO_MAP_ROUTES4, ESPRESSO_MAP_LOCAL4,
					 ESPRESSO_MAP_SPD_RULES, ESPRESSO_MAP_SPD_LPM,
					 ESPRESSO_MAP_SPD_CTL, ESPRESSO_MAP_FLOW_CACHE,
					 ESPRESSO_MAP_ROUTES6, ESPRESSO_MAP_LOCAL6,
					 ESPRESSO_MAP_NATT_PORTS };
#define NMAPS (sizeof(map_names) / sizeof(map_names[0]))

int bpfload_ensure_bpffs(void)
{
	struct statfs st;

	if (!statfs(BPFFS, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
		int err = -errno;

		log_err("no bpffs on %s and cannot mount one: %s", BPFFS,
			strerror(errno));
		return err;
	}
	log_info("mounted a bpffs on %s", BPFFS);
	return 0;
}

const char *bpfload_find_object(const char *argv0)
{
	static char path[PATH_MAX];
	static const char *const installed[] = {
		"/usr/local/lib/espresso/espresso.bpf.o",
		"/usr/lib/espresso/espresso.bpf.o",
	};
	char exe[PATH_MAX];
	ssize_t n;
	size_t i;

	if (getenv("ESPRESSO_BPF_OBJ"))
		return getenv("ESPRESSO_BPF_OBJ");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		snprintf(path, sizeof(path), "%s/bpf/espresso.bpf.o",
			 dirname(exe));
		if (!access(path, R_OK))
			return path;
	}
	for (i = 0; i < sizeof(installed) / sizeof(installed[0]); i++)
		if (!access(installed[i], R_OK))
			return installed[i];
	(void)argv0;
	return installed[1];
}

static int mkdirs(const char *dir)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_maps_pinned(struct bpf_state *b)
{
	int *fds[] = { &b->sa_fd, &b->xsks_fd, &b->stats_fd, &b->ifaces_fd,
		       &b->routes4_fd, &b->local4_fd, &b->spd_rules_fd,
		       &b->spd_lpm_fd, &b->spd_ctl_fd, &b->flow_fd,
		       &b->routes6_fd, &b->local6_fd, &b->natt_ports_fd };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < NMAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", b->pin_dir, map_names[i]);
		*fds[i] = bpf_obj_get(path);
		if (*fds[i] < 0) {
			int err = -errno;

			log_err("cannot open pinned map %s: %s (was the program "
				"loaded with xdp-loader load -p %s ?)", path,
				strerror(errno), b->pin_dir);
			return err;
		}
	}
	return 0;
}

static void clear_map(int fd)
{
	uint8_t key[64];

	if (fd < 0)
		return;
	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			break;
}

static void clear_sa_map(struct bpf_state *b)
{
	/* Entries left by an earlier run must not steer traffic to us. */
	clear_map(b->sa_fd);
	clear_map(b->ifaces_fd);
	clear_map(b->routes4_fd);
	clear_map(b->local4_fd);
	clear_map(b->routes6_fd);
	clear_map(b->local6_fd);
	clear_map(b->spd_lpm_fd);
	clear_map(b->flow_fd);
	clear_map(b->natt_ports_fd);
	if (b->spd_ctl_fd >= 0) { /* no policy: the SPD is skipped */
		struct espresso_spd_ctl zero = { 0 };
		uint32_t k = 0;

		bpf_map_update_elem(b->spd_ctl_fd, &k, &zero, BPF_ANY);
	}
}

/* A program left by a stop for a restart is expected there: adopting it
 * is news (info), not a warning as after a crash. */
static int adopt_level(const struct bpf_state *b)
{
	return b->handover ? LOG_LVL_INFO : LOG_LVL_WARN;
}

static void init_state(struct bpf_state *b, const struct cfg *c)
{
	bool handover = b->handover; /* the caller's */

	memset(b, 0, sizeof(*b));
	b->handover = handover;
	b->sa_fd = b->xsks_fd = b->stats_fd = -1;
	b->ifaces_fd = b->routes4_fd = b->local4_fd = -1;
	b->routes6_fd = b->local6_fd = -1;
	b->spd_rules_fd = b->spd_lpm_fd = b->spd_ctl_fd = b->flow_fd = -1;
	b->natt_ports_fd = -1;
	b->ifindex = c->uplink.ifindex;
	b->mode = c->uplink.xdp_mode == XDPMODE_SKB ? XDP_MODE_SKB
						    : XDP_MODE_NATIVE;
	snprintf(b->pin_dir, sizeof(b->pin_dir), "%s/%s", ESPRESSO_PIN_ROOT,
		 c->instance);
}

/*
 * An espressod killed without its clean stop leaves its program attached
 * (it keeps dropping ESP to the closed sockets, counted in drop_no_xsk).
 * The next start replaces it in one step (XDP_FLAGS_REPLACE): at no moment
 * is the uplink without a program, so no ESP reaches the kernel's stack.
 * Returns the old program's fd, or -1 when there is none of ours to
 * replace this way (someone else's program is left alone; one of ours in
 * libxdp's dispatcher is detached).
 */
static int find_stale_on(int ifindex, const char *ifname, int lvl)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	int fd = -1;

	if (libxdp_get_error(mp) || !mp)
		return -1;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && !strcmp(xdp_program__name(p), ESPRESSO_PROG_NAME))
			fd = dup(xdp_program__fd(p));
	} else {
		while ((p = xdp_multiprog__next_prog(p, mp))) {
			if (strcmp(xdp_program__name(p), ESPRESSO_PROG_NAME))
				continue;
			if (!xdp_program__detach(p, ifindex,
						 xdp_multiprog__attach_mode(mp), 0))
				log_msg(lvl, "%s: detached the XDP program an "
					 "earlier espressod left in the "
					 "dispatcher", ifname);
			break;
		}
	}
	xdp_multiprog__close(mp);
	return fd;
}

/* Load obj with libbpf and put it in place of old_fd in one step. */
static int find_stale(struct bpf_state *b, const char *ifname)
{
	return find_stale_on(b->ifindex, ifname, adopt_level(b));
}

/* Load obj with libbpf and put it in place of old_fd on ifindex in one
 * step; its object and program fd into *bo_out and *fd_out. */
static int replace_stale_on(struct bpf_state *b, int ifindex, const char *obj,
			    int old_fd, struct bpf_object **bo_out, int *fd_out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = b->pin_dir);
	LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = old_fd);
	struct bpf_program *prog;
	struct bpf_object *bo;
	int err;

	bo = bpf_object__open_file(obj, &oo);
	if (!bo)
		return -errno;
	err = bpf_object__load(bo);
	prog = bpf_object__find_program_by_name(bo, ESPRESSO_PROG_NAME);
	if (err || !prog) {
		bpf_object__close(bo);
		return err ? err : -ENOENT;
	}
	err = bpf_xdp_attach(ifindex, bpf_program__fd(prog),
			     XDP_FLAGS_REPLACE | (b->mode == XDP_MODE_SKB ?
						  XDP_FLAGS_SKB_MODE :
						  XDP_FLAGS_DRV_MODE),
			     &ao);
	if (err) {
		bpf_object__close(bo);
		return err;
	}
	*bo_out = bo;
	*fd_out = bpf_program__fd(prog);
	return 0;
}

static int replace_stale(struct bpf_state *b, const char *obj, int old_fd)
{
	return replace_stale_on(b, b->ifindex, obj, old_fd, &b->own_obj,
				&b->own_prog_fd);
}

/*
 * libxdp falls back to attaching the program alone when its dispatcher
 * cannot be loaded (EPERM under lockdown or missing capabilities, a kernel
 * without freplace, LIBXDP_SKIP_DISPATCHER) and says so only at debug
 * level. The operator must know: no other XDP program can then share the
 * uplink (xdp-loader or another libxdp user would replace ours).
 */
static libxdp_print_fn_t print_next;
static char dispatcher_why[160]; /* libxdp's first word on its dispatcher */

static int catch_dispatcher(enum libxdp_print_level level, const char *fmt,
			    va_list ap)
{
	size_t n;
	va_list aq;

	if (level != LIBXDP_DEBUG && !dispatcher_why[0] &&
	    strstr(fmt, "ispatcher") && !strstr(fmt, "Falling back")) {
		va_copy(aq, ap);
		vsnprintf(dispatcher_why, sizeof(dispatcher_why), fmt, aq);
		va_end(aq);
		n = strlen(dispatcher_why);
		if (n && dispatcher_why[n - 1] == '\n')
			dispatcher_why[n - 1] = 0;
	}
	return print_next ? print_next(level, fmt, ap) : 0;
}

static void warn_if_alone(struct bpf_state *b, const char *ifname)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(b->ifindex);

	if (libxdp_get_error(mp) || !mp)
		return;
	if (xdp_multiprog__is_legacy(mp))
		log_warn("%s: libxdp could not use its dispatcher (%s), so %s "
			 "is attached alone: no other XDP program can share %s "
			 "while espressod runs", ifname, dispatcher_why[0] ?
			 dispatcher_why : "espressod -v says why",
			 ESPRESSO_PROG_NAME, ifname);
	xdp_multiprog__close(mp);
}

/*
 * Our program is all there is in the dispatcher it was attached in (or
 * attached without one): detaching that dispatcher takes ours out, with
 * CAP_NET_ADMIN alone. libxdp's xdp_program__detach would look the
 * dispatcher up again by id, which takes CAP_SYS_ADMIN.
 */
static bool alone(const struct bpf_state *b)
{
	struct xdp_program *p;

	if (!b->mp || !b->prog)
		return false;
	if (xdp_multiprog__is_legacy(b->mp)) {
		p = xdp_multiprog__main_prog(b->mp);
		return p && xdp_program__id(p) == xdp_program__id(b->prog);
	}
	p = xdp_multiprog__next_prog(NULL, b->mp);
	return p && xdp_program__id(p) == xdp_program__id(b->prog) &&
	       !xdp_multiprog__next_prog(p, b->mp);
}

bool bpfload_detach_needs_admin(const struct bpf_state *b)
{
	return b->prog && !alone(b);
}

int bpfload_attach(struct bpf_state *b, const struct cfg *c, const char *obj)
{
	struct bpf_object *bo;
	char msg[256];
	int err, stale;

	init_state(b, c);
	err = mkdirs(b->pin_dir);
	if (err) {
		log_err("cannot create %s: %s", b->pin_dir, strerror(-err));
		return err;
	}
	stale = find_stale(b, c->uplink.name);
	if (stale >= 0) {
		err = replace_stale(b, obj, stale);
		close(stale);
		if (err) {
			log_err("%s: cannot replace the XDP program an earlier "
				"espressod left attached: %s", c->uplink.name,
				strerror(-err));
			return err;
		}
		log_msg(adopt_level(b), "%s: replaced the XDP program an "
			"earlier espressod "
			 "left attached", c->uplink.name);
		bo = b->own_obj;
		goto maps;
	}
	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts,
			    .pin_root_path = b->pin_dir);
	b->prog = xdp_program__open_file(obj, "xdp", &opts);
	err = libxdp_get_error(b->prog);
	if (err) {
		b->prog = NULL;
		libxdp_strerror(err, msg, sizeof(msg));
		log_err("cannot open the XDP object %s: %s (build it with make, "
			"or set ESPRESSO_BPF_OBJ)", obj, msg);
		bpfload_close(b);
		return err;
	}
	dispatcher_why[0] = 0;
	print_next = libxdp_set_print(catch_dispatcher);
	err = xdp_program__attach(b->prog, b->ifindex, b->mode, 0);
	libxdp_set_print(print_next);
	if (err) {
		libxdp_strerror(err, msg, sizeof(msg));
		log_err("cannot attach XDP to %s in %s mode: %s (%s)",
			c->uplink.name,
			b->mode == XDP_MODE_SKB ? "skb" : "native", msg,
			err == -EACCES || err == -EPERM || err == -EINVAL
				? "the verifier may have refused the program: "
				  "run espressod -v for its log"
				: "another non-libxdp program attached? see "
				  "xdp-loader status");
		xdp_program__close(b->prog);
		b->prog = NULL;
		bpfload_close(b);
		return err;
	}
	warn_if_alone(b, c->uplink.name);
	/* kept for the stop, when the capability to look it up is gone */
	b->mp = xdp_multiprog__get_from_ifindex(b->ifindex);
	if (libxdp_get_error(b->mp))
		b->mp = NULL;
	bo = xdp_program__bpf_obj(b->prog);
maps:
	b->sa_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_SA_IN));
	b->xsks_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_XSKS));
	b->stats_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_STATS));
	b->ifaces_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_IFACES));
	b->routes4_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_ROUTES4));
	b->local4_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_LOCAL4));
	b->routes6_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_ROUTES6));
	b->local6_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_LOCAL6));
	b->spd_rules_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_SPD_RULES));
	b->spd_lpm_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_SPD_LPM));
	b->spd_ctl_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_SPD_CTL));
	b->flow_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_FLOW_CACHE));
	b->natt_ports_fd = bpf_map__fd(bpf_object__find_map_by_name(bo, ESPRESSO_MAP_NATT_PORTS));
	if (b->sa_fd < 0 || b->xsks_fd < 0 || b->stats_fd < 0 ||
	    b->ifaces_fd < 0 || b->routes4_fd < 0 || b->local4_fd < 0 ||
	    b->spd_rules_fd < 0 || b->spd_lpm_fd < 0 || b->spd_ctl_fd < 0 ||
	    b->flow_fd < 0 || b->routes6_fd < 0 || b->local6_fd < 0 ||
	    b->natt_ports_fd < 0) {
		log_err("%s lacks espresso's maps", obj);
		bpfload_close(b);
		return -ENOENT;
	}
	/* the object's fds belong to libxdp: keep our own */
	b->sa_fd = dup(b->sa_fd);
	b->xsks_fd = dup(b->xsks_fd);
	b->stats_fd = dup(b->stats_fd);
	b->ifaces_fd = dup(b->ifaces_fd);
	b->routes4_fd = dup(b->routes4_fd);
	b->local4_fd = dup(b->local4_fd);
	b->routes6_fd = dup(b->routes6_fd);
	b->local6_fd = dup(b->local6_fd);
	b->spd_rules_fd = dup(b->spd_rules_fd);
	b->spd_lpm_fd = dup(b->spd_lpm_fd);
	b->spd_ctl_fd = dup(b->spd_ctl_fd);
	b->flow_fd = dup(b->flow_fd);
	b->natt_ports_fd = dup(b->natt_ports_fd);
	clear_sa_map(b);
	log_info("XDP program attached to %s (%s mode), maps pinned in %s",
		 c->uplink.name, b->mode == XDP_MODE_SKB ? "skb" : "native",
		 b->pin_dir);
	return 0;
}

int bpfload_use_pinned(struct bpf_state *b, const struct cfg *c)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = NULL;
	bool found = false;
	int err;

	init_state(b, c);
	mp = xdp_multiprog__get_from_ifindex(b->ifindex);
	if (!libxdp_get_error(mp) && mp) {
		if (xdp_multiprog__is_legacy(mp)) {
			p = xdp_multiprog__main_prog(mp);
			found = p && !strcmp(xdp_program__name(p),
					     ESPRESSO_PROG_NAME);
		}
		while (!found && (p = xdp_multiprog__next_prog(p, mp)))
			found = !strcmp(xdp_program__name(p), ESPRESSO_PROG_NAME);
		xdp_multiprog__close(mp);
	}
	if (!found) {
		log_err("no %s program attached to %s: attach it first with "
			"`xdp-loader load -p %s %s espresso.bpf.o`, or run "
			"without --xdp-attached", ESPRESSO_PROG_NAME,
			c->uplink.name, b->pin_dir, c->uplink.name);
		return -ENOENT;
	}
	err = open_maps_pinned(b);
	if (err) {
		bpfload_close(b);
		return err;
	}
	clear_sa_map(b);
	log_info("using the XDP program attached to %s, maps in %s",
		 c->uplink.name, b->pin_dir);
	return 0;
}

int bpfload_sa_add(struct bpf_state *b, uint32_t spi, uint32_t sa_index,
		   uint32_t flags)
{
	struct espresso_sa_in v = { .sa_index = sa_index, .flags = flags };

	return bpf_map_update_elem(b->sa_fd, &spi, &v, BPF_ANY) ? -errno : 0;
}

int bpfload_sa_del(struct bpf_state *b, uint32_t spi)
{
	return bpf_map_delete_elem(b->sa_fd, &spi) ? -errno : 0;
}

int bpfload_natt_ports_set(struct bpf_state *b, const uint16_t *ports, int n)
{
	uint16_t key, next, gone[ESPRESSO_MAX_NATT_PORTS];
	uint32_t one = 1;
	int i, j, ngone = 0, err = 0;

	if (b->natt_ports_fd < 0)
		return -EBADF;
	if (n == b->nnatt_ports &&
	    !memcmp(ports, b->natt_ports, n * sizeof(*ports)))
		return 0; /* every commit asks: the map only when it changes */
	/* the new ones first: an SA's SPI may follow at once */
	for (i = 0; i < n; i++) {
		key = htons(ports[i]);
		if (bpf_map_update_elem(b->natt_ports_fd, &key, &one, BPF_ANY))
			err = -errno;
	}
	/* then the ones no tunnel has any more (not deleted while walking) */
	if (!bpf_map_get_next_key(b->natt_ports_fd, NULL, &next)) {
		do {
			key = next;
			for (j = 0; j < n && htons(ports[j]) != key; j++)
				;
			if (j == n && ngone < ESPRESSO_MAX_NATT_PORTS)
				gone[ngone++] = key;
		} while (!bpf_map_get_next_key(b->natt_ports_fd, &key, &next));
	}
	for (i = 0; i < ngone; i++)
		bpf_map_delete_elem(b->natt_ports_fd, &gone[i]);
	if (!err) {
		memcpy(b->natt_ports, ports, n * sizeof(*ports));
		b->nnatt_ports = n;
	}
	return err;
}

int bpfload_attach_lan(struct bpf_state *b, const char *obj, int lan,
		       const char *ifname, int ifindex, const uint8_t mac[6],
		       uint16_t vrf)
{
	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts,
			    .pin_root_path = b->pin_dir);
	struct espresso_iface v = { .lan = lan + 1, .vrf = vrf };
	struct xdp_program *p;
	uint32_t key = ifindex;
	char msg[256];
	int err;

	if (b->nlan >= ESPRESSO_MAX_LAN)
		return -E2BIG;
	/* listed first: the program sees it as a LAN from its first frame */
	memcpy(v.mac, mac, 6);
	if (bpf_map_update_elem(b->ifaces_fd, &key, &v, BPF_ANY)) {
		err = -errno;
		log_err("%s: cannot list it in %s: %s", ifname,
			ESPRESSO_MAP_IFACES, strerror(errno));
		return err;
	}
	/* one an espressod killed without its clean stop left there: put
	 * ours in its place in one step, as on the uplink */
	err = find_stale_on(ifindex, ifname, adopt_level(b));
	if (err >= 0) {
		int old = err;

		err = replace_stale_on(b, ifindex, obj, old,
				       &b->lan[b->nlan].own_obj,
				       &b->lan[b->nlan].own_prog_fd);
		close(old);
		if (!err) {
			log_msg(adopt_level(b), "LAN %s: replaced the XDP "
				"program an earlier "
				 "espressod left attached", ifname);
			b->lan[b->nlan++].ifindex = ifindex;
			return 0;
		}
	}
	p = xdp_program__open_file(obj, "xdp", &opts);
	err = libxdp_get_error(p);
	if (!err)
		err = xdp_program__attach(p, ifindex, b->mode, 0);
	if (err) {
		libxdp_strerror(err, msg, sizeof(msg));
		log_err("cannot attach XDP to LAN %s: %s (another XDP program "
			"there? see xdp-loader status)", ifname, msg);
		if (!libxdp_get_error(p))
			xdp_program__close(p);
		bpf_map_delete_elem(b->ifaces_fd, &key);
		return err;
	}
	b->lan[b->nlan].prog = p;
	b->lan[b->nlan].mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (libxdp_get_error(b->lan[b->nlan].mp))
		b->lan[b->nlan].mp = NULL;
	b->lan[b->nlan++].ifindex = ifindex;
	log_info("XDP program attached to LAN %s", ifname);
	return 0;
}

int bpfload_route4_set(struct bpf_state *b, uint16_t vrf,
		       const uint8_t addr[4], int len, uint32_t value)
{
	struct espresso_lpm4_key k = { .prefixlen = 16 + len,
				       .vrf = { vrf >> 8, vrf & 0xff } };
	struct espresso_route v = { .tunnel = value };

	memcpy(k.addr, addr, 4);
	return bpf_map_update_elem(b->routes4_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

int bpfload_route4_del(struct bpf_state *b, uint16_t vrf,
		       const uint8_t addr[4], int len)
{
	struct espresso_lpm4_key k = { .prefixlen = 16 + len,
				       .vrf = { vrf >> 8, vrf & 0xff } };

	memcpy(k.addr, addr, 4);
	return bpf_map_delete_elem(b->routes4_fd, &k) ? -errno : 0;
}

int bpfload_local4_add(struct bpf_state *b, uint32_t addr_be)
{
	uint32_t one = 1;

	return bpf_map_update_elem(b->local4_fd, &addr_be, &one, BPF_ANY) ?
		       -errno : 0;
}

int bpfload_route6_set(struct bpf_state *b, const uint8_t addr[16], int len,
		       uint32_t value)
{
	struct espresso_lpm6_key k = { .prefixlen = len };
	struct espresso_route v = { .tunnel = value };

	memcpy(k.addr, addr, 16);
	return bpf_map_update_elem(b->routes6_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

int bpfload_route6_del(struct bpf_state *b, const uint8_t addr[16], int len)
{
	struct espresso_lpm6_key k = { .prefixlen = len };

	memcpy(k.addr, addr, 16);
	return bpf_map_delete_elem(b->routes6_fd, &k) ? -errno : 0;
}

int bpfload_local6_add(struct bpf_state *b, const uint8_t addr[16])
{
	uint32_t one = 1;

	return bpf_map_update_elem(b->local6_fd, addr, &one, BPF_ANY) ?
		       -errno : 0;
}

int bpfload_read_stats(const struct bpf_state *b,
		       struct espresso_xdp_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct espresso_xdp_stats *v;
	uint32_t key = 0;
	size_t j, n = sizeof(*sum) / sizeof(__u64);

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(b->stats_fd, &key, v)) {
		free(v);
		return -errno;
	}
	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < n; j++)
			((__u64 *)sum)[j] += ((__u64 *)&v[i])[j];
	free(v);
	return 0;
}

void bpfload_close(struct bpf_state *b)
{
	int *fds[] = { &b->sa_fd, &b->xsks_fd, &b->stats_fd, &b->ifaces_fd,
		       &b->routes4_fd, &b->local4_fd, &b->spd_rules_fd,
		       &b->spd_lpm_fd, &b->spd_ctl_fd, &b->flow_fd,
		       &b->routes6_fd, &b->local6_fd, &b->natt_ports_fd };
	const char *done = "XDP program detached, pins removed";
	char path[PATH_MAX];
	size_t i;
	int l;

	/* the LANs first: their plaintext goes back to the kernel */
	for (l = 0; l < b->nlan; l++) {
		if (b->lan[l].own_obj) {
			LIBBPF_OPTS(bpf_xdp_attach_opts, lo,
				    .old_prog_fd = b->lan[l].own_prog_fd);

			bpf_xdp_detach(b->lan[l].ifindex, XDP_FLAGS_REPLACE |
				       (b->mode == XDP_MODE_SKB ?
					XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE),
				       &lo);
			bpf_object__close(b->lan[l].own_obj);
			b->lan[l].own_obj = NULL;
			continue;
		}
		/* alone in its dispatcher (as the uplink's, see alone()):
		 * the dispatcher goes with CAP_NET_ADMIN alone */
		if ((!b->lan[l].mp || xdp_multiprog__detach(b->lan[l].mp)) &&
		    xdp_program__detach(b->lan[l].prog, b->lan[l].ifindex,
					b->mode, 0))
			log_warn("XDP program not detached from LAN ifindex "
				 "%d (xdp-loader unload)", b->lan[l].ifindex);
		xdp_multiprog__close(b->lan[l].mp);
		xdp_program__close(b->lan[l].prog);
	}
	b->nlan = 0;
	if (b->sa_fd >= 0 && !b->prog && !b->own_obj)
		clear_sa_map(b); /* the program stays: leave it no SPI */
	for (i = 0; i < NMAPS; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (b->own_obj) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = b->own_prog_fd);

		/* only if it is still ours */
		bpf_xdp_detach(b->ifindex, XDP_FLAGS_REPLACE |
			       (b->mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE :
							  XDP_FLAGS_DRV_MODE),
			       &ao);
		bpf_object__close(b->own_obj);
		b->own_obj = NULL;
	} else if (b->prog) {
		int err = alone(b) ? xdp_multiprog__detach(b->mp) : -EPERM;

		/* another program joined the dispatcher since, or none */
		if (err)
			err = xdp_program__detach(b->prog, b->ifindex, b->mode, 0);
		if (err) {
			log_warn("XDP program not detached from ifindex %d: %s "
				 "(a program that joined libxdp's dispatcher "
				 "after start-up? leaving a shared one takes "
				 "CAP_SYS_ADMIN, dropped then: xdp-loader "
				 "unload)", b->ifindex, strerror(-err));
			done = "pins removed";
		}
		xdp_multiprog__close(b->mp);
		b->mp = NULL;
		xdp_program__close(b->prog);
		b->prog = NULL;
	} else {
		return;
	}
	for (i = 0; i < NMAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", b->pin_dir, map_names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", b->pin_dir,
		 ESPRESSO_MAP_FRAG_IDS); /* the program's own, not opened */
	unlink(path);
	rmdir(b->pin_dir);
	rmdir(ESPRESSO_PIN_ROOT); /* fails, rightly, while others use it */
	log_info("%s", done);
}

void bpfload_release(struct bpf_state *b)
{
	int *fds[] = { &b->sa_fd, &b->xsks_fd, &b->stats_fd, &b->ifaces_fd,
		       &b->routes4_fd, &b->local4_fd, &b->spd_rules_fd,
		       &b->spd_lpm_fd, &b->spd_ctl_fd, &b->flow_fd,
		       &b->routes6_fd, &b->local6_fd, &b->natt_ports_fd };
	size_t i;
	int l;

	/* closing an object or a program detaches nothing: the kernel's
	 * attachment (and libxdp's pinned dispatcher link) holds it */
	for (l = 0; l < b->nlan; l++) {
		if (b->lan[l].own_obj)
			bpf_object__close(b->lan[l].own_obj);
		b->lan[l].own_obj = NULL;
		xdp_multiprog__close(b->lan[l].mp);
		xdp_program__close(b->lan[l].prog);
		b->lan[l].mp = NULL;
		b->lan[l].prog = NULL;
	}
	b->nlan = 0;
	for (i = 0; i < NMAPS; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (b->own_obj)
		bpf_object__close(b->own_obj);
	b->own_obj = NULL;
	xdp_multiprog__close(b->mp);
	b->mp = NULL;
	xdp_program__close(b->prog);
	b->prog = NULL;
	log_info("XDP program left attached, maps pinned in %s, for the next "
		 "start", b->pin_dir);
}
