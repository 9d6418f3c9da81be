// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "control/cmd.h"
#include "control/ctl.h"
#include "control/daemon.h"
#include "control/p2mp.h"
#include "control/tap_ctl.h"
#include "lib/log.h"

#define CTL_LINE_MAX 8192

int ctl_open(const char *instance, char *path, size_t pathlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (mkdir(CTL_DIR, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, pathlen, "%s/%s.sock", CTL_DIR, instance);
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    chmod(path, 0600) || listen(fd, 8)) {
		err = -errno;
		close(fd);
		log_err("control socket %s: %s", path, strerror(-err));
		return err;
	}
	return fd;
}

void ctl_close(int fd, const char *path)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static int reply(int fd, int code, const char *body, size_t len)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "ESPRESSO %d %zu\n", code, len);

	if (send_all(fd, hdr, n))
		return -1;
	return len ? send_all(fd, body, len) : 0;
}

static int reply_err(int fd, int ret, const char *msg)
{
	char buf[1100];
	int n = snprintf(buf, sizeof(buf), "%s\n", msg);

	return reply(fd, ret < 0 ? -ret : EINVAL, buf,
		     (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- monitor ---- */

static const char *const ev_names[] = {
	[LIVE_EV_SOFT_EXPIRE] = "expire",
	[LIVE_EV_HARD_EXPIRE] = "expire",
	[LIVE_EV_EXHAUSTED] = "exhausted",
	[LIVE_EV_RELOAD_DONE] = "reload",
	[LIVE_EV_RELOAD_REFUSED] = "reload",
	[LIVE_EV_MAPPING] = "mapping",
	[LIVE_EV_ACQUIRE] = "acquire",
};

/*
 * NAT-T: the tunnel follows its peer (live.c follow_peer). For an IKE
 * daemon's kernel interface (strongSwan's mapping(): the inbound SPI and
 * the peer's new address and port), one line:
 *   mapping tunnel NAME spi 0xSPI in old ADDR:PORT new ADDR:PORT
 * (an IPv6 ADDR in brackets: [2001:db8::1]:4500; in JSON, bare)
 *   {"event":"mapping","tunnel":..,"spi":"0x..","dir":"in",
 *    "old_addr":..,"old_port":N,"new_addr":..,"new_port":N}
 */
static int ev_mapping(char *buf, size_t len, const struct live_event *ev,
		      bool json)
{
	char o[INET6_ADDRSTRLEN], n[INET6_ADDRSTRLEN], spi[16];
	bool v6 = ev->family == AF_INET6;
	const char *l = v6 ? "[" : "", *r6 = v6 ? "]" : "";
	struct json_object *j;
	int r;

	if (v6) {
		inet_ntop(AF_INET6, &ev->old6, o, sizeof(o));
		inet_ntop(AF_INET6, &ev->new6, n, sizeof(n));
	} else {
		inet_ntop(AF_INET, &ev->old_addr, o, sizeof(o));
		inet_ntop(AF_INET, &ev->new_addr, n, sizeof(n));
	}
	if (!json)
		return snprintf(buf, len, "mapping tunnel %s spi 0x%08x in "
				"old %s%s%s:%u new %s%s%s:%u\n", ev->tunnel,
				ev->spi, l, o, r6, ev->old_port, l, n, r6,
				ev->new_port);
	snprintf(spi, sizeof(spi), "0x%08x", ev->spi);
	j = json_object_new_object();
	json_object_object_add(j, "event", json_object_new_string("mapping"));
	json_object_object_add(j, "tunnel", json_object_new_string(ev->tunnel));
	json_object_object_add(j, "spi", json_object_new_string(spi));
	json_object_object_add(j, "dir", json_object_new_string("in"));
	json_object_object_add(j, "old_addr", json_object_new_string(o));
	json_object_object_add(j, "old_port", json_object_new_int(ev->old_port));
	json_object_object_add(j, "new_addr", json_object_new_string(n));
	json_object_object_add(j, "new_port", json_object_new_int(ev->new_port));
	r = snprintf(buf, len, "%s\n",
		     json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	return r;
}

static int ev_format(char *buf, size_t len, const struct live_event *ev,
		     bool json)
{
	const char *kind = ev->type == LIVE_EV_SOFT_EXPIRE   ? "soft" :
			   ev->type == LIVE_EV_HARD_EXPIRE   ? "hard" :
			   ev->type == LIVE_EV_RELOAD_DONE   ? "done" :
			   ev->type == LIVE_EV_RELOAD_REFUSED ? "refused" :
								"";
	struct json_object *o;
	int n;

	if (ev->type == LIVE_EV_MAPPING)
		return ev_mapping(buf, len, ev, json);
	if (!json && ev->type == LIVE_EV_ACQUIRE)
		return snprintf(buf, len, "acquire tunnel %s\n", ev->tunnel);
	if (!json) {
		if (ev->tunnel)
			return snprintf(buf, len, "%s%s%s tunnel %s spi 0x%08x "
					"%s%s%s\n", ev_names[ev->type],
					*kind ? " " : "", kind, ev->tunnel,
					ev->spi, ev->dir ? "out" : "in",
					ev->what ? " reason " : "",
					ev->what ? ev->what : "");
		return snprintf(buf, len, "%s %s%s%s\n", ev_names[ev->type],
				kind, ev->what ? ": " : "",
				ev->what ? ev->what : "");
	}
	o = json_object_new_object();
	json_object_object_add(o, "event",
			       json_object_new_string(ev_names[ev->type]));
	if (*kind)
		json_object_object_add(o, "type", json_object_new_string(kind));
	if (ev->tunnel && ev->type == LIVE_EV_ACQUIRE) {
		json_object_object_add(o, "tunnel",
				       json_object_new_string(ev->tunnel));
	} else if (ev->tunnel) {
		char spi[16];

		snprintf(spi, sizeof(spi), "0x%08x", ev->spi);
		json_object_object_add(o, "tunnel",
				       json_object_new_string(ev->tunnel));
		json_object_object_add(o, "spi", json_object_new_string(spi));
		json_object_object_add(o, "dir", json_object_new_string(
						  ev->dir ? "out" : "in"));
	}
	if (ev->what)
		json_object_object_add(o, ev->tunnel ? "reason" : "message",
				       json_object_new_string(ev->what));
	n = snprintf(buf, len, "%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return n;
}

void ctl_event(struct espd *d, const struct live_event *ev)
{
	char buf[1200];
	int i, n;

	for (i = 0; i < ESPD_MONITORS; i++) {
		if (d->mon_fd[i] <= 0)
			continue;
		n = ev_format(buf, sizeof(buf), ev, d->mon_json[i]);
		if (n <= 0 || (size_t)n >= sizeof(buf) ||
		    send(d->mon_fd[i], buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			/* gone, or not reading: a monitor may not stall us
			 * (an IKE daemon's too: it reconnects and installs
			 * its state again; only a hang-up flushes it) */
			close(d->mon_fd[i]);
			d->mon_fd[i] = 0;
			d->mon_ike[i] = false;
		}
	}
}

void ctl_monitors_close(struct espd *d)
{
	int i;

	for (i = 0; i < ESPD_MONITORS; i++) {
		if (d->mon_fd[i] > 0)
			close(d->mon_fd[i]);
		d->mon_fd[i] = 0;
	}
}

static int monitor_add(struct espd *d, int fd, bool json, bool ike)
{
	int i;

	for (i = 0; i < ESPD_MONITORS; i++) {
		if (d->mon_fd[i] <= 0) {
			d->mon_fd[i] = fd;
			d->mon_json[i] = json;
			d->mon_ike[i] = ike;
			return 0;
		}
	}
	return -EBUSY;
}

static bool tunnel_has_ike_sa(struct tunnel *t)
{
	int p;

	for (p = 0; p < t->npairs; p++) {
		struct sa *sa = atomic_load(&t->out[p]);

		if (sa && !strcmp(sa->origin, "ike"))
			return true;
	}
	for (p = 0; p < t->nin; p++)
		if (!strcmp(t->in[p]->origin, "ike"))
			return true;
	return false;
}

/* charon is gone: the tunnels that hold its SAs go (routes with them) */
static void ike_flush(struct espd *d)
{
	struct live *l = &d->live;
	char err[256];
	uint32_t i;
	int n = 0;

	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];

		if (!t || !tunnel_has_ike_sa(t))
			continue;
		if (!live_tunnel_del(l, t->name, err, sizeof(err)))
			n++;
	}
	live_commit(l);
	log_warn("the IKE daemon's monitor hung up: %d tunnel(s) with its SAs "
		 "deleted (no key stays in use that nobody manages)", n);
}

void ctl_monitors_check(struct espd *d)
{
	char c;
	int i;

	for (i = 0; i < ESPD_MONITORS; i++) {
		ssize_t n;

		if (d->mon_fd[i] <= 0 || !d->mon_ike[i])
			continue;
		n = recv(d->mon_fd[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			continue; /* alive */
		close(d->mon_fd[i]);
		d->mon_fd[i] = 0;
		d->mon_ike[i] = false;
		ike_flush(d);
	}
}

/* ---- changes ---- */

/* P2MP: "HUB" and NEXTHOP -> the peer's tunnel "HUB/NEXTHOP", in place
 * (name holds CFG_NAME_MAX). 0, or -errno with a message in err. */
static int peer_resolve(struct live *l, char *name, const char *nh,
			char *err, size_t len)
{
	char peer[CFG_NAME_MAX];
	int ret = p2mp_peer_name(l, name, nh, peer, err, len);

	if (ret)
		return ret;
	if (!live_tunnel_find(l, peer))
		return errf(err, len, -ENOENT, "%s has no peer %s (peer add "
			    "%s %s remote ADDR)", name, nh, name, nh);
	memcpy(name, peer, CFG_NAME_MAX);
	return 0;
}

static int do_change(struct espd *d, struct cmd *c, char *err, size_t len)
{
	struct live *l = &d->live;
	int vrf;

	switch (c->op) {
	case CMD_TUNNEL_ADD:
		vrf = config_vrf_id(&d->cfg, c->vrf);
		if (vrf < 0)
			goto no_vrf;
		c->tunnel.vrf = (uint16_t)vrf; /* a hub's peers take it too */
		if (c->p2mp)
			return p2mp_add(l, &c->tunnel, err, len);
		if (p2mp_find(l, c->tunnel.name))
			return errf(err, len, -EEXIST, "tunnel add: %s: exists "
				    "(a p2mp tunnel)", c->tunnel.name);
		return live_tunnel_add(l, &c->tunnel, err, len);
	case CMD_TUNNEL_DEL:
		if (p2mp_find(l, c->name))
			return p2mp_del(l, c->name, err, len);
		return live_tunnel_del(l, c->name, err, len);
	case CMD_PEER_ADD:
		return p2mp_peer_add(l, c->name, c->nexthop,
				     c->remote_family, c->tunnel.remote,
				     &c->tunnel.remote6,
				     c->tunnel.remote_port, err, len);
	case CMD_PEER_DEL:
		return p2mp_peer_del(l, c->name, c->nexthop, err, len);
	case CMD_SA_ADD: {
		struct live_sa_args a = {
			.tunnel = c->sa.tunnel, .dir = c->sa.dir,
			.spi = c->sa.spi, .key = c->sa.key,
			.key_len = c->sa.key_len, .life = c->sa.life,
			.origin = c->sa.reqid ? "ike" : "ctl",
			.reqid = (uint32_t)c->sa.reqid,
			.child = c->sa.child[0] ? c->sa.child : NULL,
		};
		/* P2MP: sa add HUB ... peer NH is the peer's tunnel */
		int ret = c->nexthop[0] ? peer_resolve(l, c->sa.tunnel,
						       c->nexthop, err, len) : 0;

		ret = ret ?: live_sa_add(l, &a, err, len);
		if (!ret && a.dir == SA_IN)
			spialloc_put(&d->larval, a.spi); /* no longer larval */
		return ret;
	}
	case CMD_SA_DEL:
		return live_sa_del(l, c->sa.spi,
				   c->sa.dir_given ? c->sa.dir : -1, err, len);
	case CMD_SA_UPDATE:
		return live_sa_move(l, c->sa.spi, c->sa.remote_family,
				    &c->sa.remote, &c->sa.remote6, c->sa.sport,
				    c->sa.dport, err, len);
	case CMD_ROUTE_ADD:
		if (c->nexthop[0]) {
			int ret = peer_resolve(l, c->name, c->nexthop, err,
					       len);

			if (ret)
				return ret;
		}
		if (c->ecmp)
			return live_route_add_ecmp(l, &c->prefix, c->name, err,
						   len);
		return live_route_add(l, &c->prefix, c->name, err, len);
	case CMD_ROUTE_DEL:
		vrf = config_vrf_id(&d->cfg, c->vrf);
		if (vrf < 0)
			goto no_vrf;
		return live_route_del_vrf(l, &c->prefix, (uint32_t)vrf, err,
					  len);
	case CMD_POLICY_ADD:
	case CMD_POLICY_DEL: {
		int ret = c->op == CMD_POLICY_ADD ?
				  spd_add(&d->spd, l, &c->policy, err, len) :
				  spd_del(&d->spd, c->policy.id, err, len);

		/* kept in the state directory at the commit's spd_sync */
		d->spd.store_dirty |= !ret;
		return ret;
	}
	default:
		snprintf(err, len, "not a change");
		return -EINVAL;
	}
no_vrf:
	snprintf(err, len, "vrf %s: no such VRF (the config's vrfs)", c->vrf);
	return -ENOENT;
}

/* One request line; false: the connection is done (or a monitor now).
 * In a batch, a failed line makes the rest of it skipped (*failed) until
 * "batch end": the client pipelines requests and must stop at the first
 * error as if it had waited for each reply. */
static bool serve_line(int fd, struct espd *d, char *line, bool *batch,
		       bool *kept, bool *failed)
{
	char err[CMD_ERR_MAX];
	struct cmd c;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	int ret;

	ret = cmd_parse(line, &c, err, sizeof(err));
	if (*batch && *failed && (ret || c.op != CMD_BATCH_END)) {
		cmd_wipe(&c);
		return !reply_err(fd, -ECANCELED, "skipped: an earlier line of "
				  "the batch failed");
	}
	if (ret) {
		cmd_wipe(&c);
		if (*batch)
			*failed = true;
		return !reply_err(fd, ret, err);
	}
	switch (c.op) {
	case CMD_SHOW:
		f = open_memstream(&out, &outlen);
		if (!f)
			return !reply_err(fd, -ENOMEM, "show: out of memory");
		ret = ctl_show(f, d, &c);
		fclose(f);
		ret = ret ? reply_err(fd, ret, out) : reply(fd, 0, out, outlen);
		free(out);
		return !ret;
	case CMD_BATCH_BEGIN:
		*batch = true;
		*failed = false;
		return !reply(fd, 0, NULL, 0);
	case CMD_BATCH_END:
		*batch = false;
		*failed = false;
		live_commit(&d->live);
		return !reply(fd, 0, NULL, 0);
	case CMD_RELOAD:
		live_commit(&d->live);
		ret = espd_reload(d, err, sizeof(err));
		if (ret && *batch)
			*failed = true;
		return !(ret ? reply_err(fd, ret, err) : reply(fd, 0, NULL, 0));
	case CMD_TRACE:
		/* like monitor: the connection becomes the trace's stream */
		if (*batch)
			return !reply_err(fd, -EINVAL, "trace: not in a batch");
		ret = tap_trace_start(d, fd, &c, err, sizeof(err));
		if (ret)
			return !reply_err(fd, ret, err);
		if (reply(fd, 0, NULL, 0)) {
			tap_trace_stop(d);
			return false;
		}
		*kept = true;
		return false;
	case CMD_PCAP_START:
		ret = tap_pcap_start(d, &c, err, sizeof(err));
		if (ret && *batch)
			*failed = true;
		return !(ret ? reply_err(fd, ret, err) : reply(fd, 0, NULL, 0));
	case CMD_PCAP_STOP:
		ret = tap_pcap_stop(d, c.tap.path, err, sizeof(err));
		if (ret && *batch)
			*failed = true;
		return !(ret ? reply_err(fd, ret, err) :
			 reply(fd, 0, err, strlen(err)));
	case CMD_SA_ALLOC: {
		uint32_t spi;
		char buf[16];

		ret = spialloc_get(&d->larval, &d->live, &spi);
		if (ret) {
			if (*batch)
				*failed = true;
			return !reply_err(fd, ret, "sa alloc: no free SPI "
					  "(too many reserved)");
		}
		snprintf(buf, sizeof(buf), "0x%08x\n", spi);
		return !reply(fd, 0, buf, strlen(buf));
	}
	case CMD_STOP:
		/* like monitor: the connection stays open until espressod
		 * exits, so espressoctl stop returns once it is gone */
		if (*batch)
			return !reply_err(fd, -EINVAL, "stop: not in a batch");
		if (d->quit_fd >= 0)
			return !reply_err(fd, -EALREADY, "stop: already stopping");
		if (reply(fd, 0, NULL, 0))
			return false;
		d->quit = c.stop_keep ? ESPD_QUIT_KEEP : ESPD_QUIT_STOP;
		d->quit_fd = fd;
		*kept = true;
		return false;
	case CMD_MONITOR:
		if (*batch)
			return !reply_err(fd, -EINVAL, "monitor: not in a batch");
		if (monitor_add(d, fd, c.json, c.monitor_ike))
			return !reply_err(fd, -EBUSY, "monitor: too many "
					  "monitors already");
		if (reply(fd, 0, NULL, 0))
			return false;
		*kept = true;
		return false;
	default:
		break;
	}
	ret = do_change(d, &c, err, sizeof(err));
	cmd_wipe(&c);
	if (ret && *batch)
		*failed = true;
	if (!*batch)
		live_commit(&d->live);
	return !(ret ? reply_err(fd, ret, err) : reply(fd, 0, NULL, 0));
}

void ctl_serve(int listen_fd, struct espd *d)
{
	struct timeval tv = { .tv_sec = 1 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	bool batch = false, kept = false, failed = false;
	char *line;
	FILE *in;
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* a silent client must not stall the control thread for long */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid) {
		close(fd);
		return;
	}
	in = fdopen(dup(fd), "r");
	line = malloc(CTL_LINE_MAX);
	if (!in || !line) {
		if (in)
			fclose(in);
		free(line);
		close(fd);
		return;
	}
	while (fgets(line, CTL_LINE_MAX, in)) {
		size_t len = strlen(line); /* before cmd_parse cuts it up */
		bool go_on;

		if (!strchr(line, '\n') && !feof(in)) {
			reply_err(fd, -E2BIG, "request line too long");
			break;
		}
		go_on = serve_line(fd, d, line, &batch, &kept, &failed);
		OPENSSL_cleanse(line, len); /* it may hold a key */
		if (!go_on)
			break;
	}
	if (batch)
		live_commit(&d->live); /* what the batch did before it ended */
	fclose(in);
	OPENSSL_cleanse(line, CTL_LINE_MAX);
	free(line);
	if (!kept)
		close(fd);
}
