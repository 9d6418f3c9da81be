// SPDX-License-Identifier: GPL-2.0
/*
 * ctl_show: what `espressoctl show` prints. Each table is built once as a
 * json-c object; -j prints it as JSON, otherwise a text printer walks the
 * same object (one line per row, "key value" pairs), so both say the same.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>

#include "config/check.h"
#include "control/cmd.h"
#include "control/ctl.h"
#include "control/daemon.h"
#include "control/p2mp.h"
#include "core/worker.h"
#include "tables/lanneigh.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* as sa.c's created_ms */
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))
#define U64(v) json_object_new_uint64(v)
#define STR(v) json_object_new_string(v)

static struct json_object *errors_obj(const uint64_t *e)
{
	struct json_object *o = json_object_new_object();
	int i;

	for (i = 1; i < DROP_MAX; i++)
		if (e[i])
			ADD(o, stats_drop_names[i], U64(e[i]));
	return o;
}

/* seconds since then; 0 if the clocks disagree by a hair */
static uint64_t age_s(uint64_t now, uint64_t then)
{
	return now > then ? (now - then) / 1000 : 0;
}

static const char *spi_str(uint32_t spi, char *buf)
{
	snprintf(buf, 12, "0x%08x", spi);
	return buf;
}

static struct json_object *sa_obj(const struct sa *sa, uint64_t now)
{
	struct json_object *o = json_object_new_object();
	const struct esp_sa_params *w = sa_wire(sa);
	struct sa_worker s;
	char buf[16];

	sa_sum(sa, &s);
	ADD(o, "tunnel", STR(sa->tunnel->name));
	ADD(o, "dir", STR(sa->dir == SA_IN ? "in" : "out"));
	ADD(o, "spi", STR(spi_str(sa->spi, buf)));
	ADD(o, "cipher", STR(config_cipher_name(sa->cipher)));
	ADD(o, "pair", json_object_new_int(sa->pair));
	if (sa->owner >= 0)
		ADD(o, "worker", json_object_new_int(sa->owner));
	else
		ADD(o, "worker", STR("any"));
	ADD(o, "packets", U64(s.packets));
	ADD(o, "bytes", U64(s.bytes));
	if (sa->dir == SA_OUT) {
		ADD(o, "seq", U64(atomic_load(&((struct sa *)sa)->seq)));
		if (atomic_load(&((struct sa *)sa)->exhausted))
			ADD(o, "exhausted", json_object_new_boolean(1));
		if (sa->persist)
			ADD(o, "seq_reserved",
			    U64(atomic_load(&((struct sa *)sa)->seq_limit)));
	} else {
		ADD(o, "replay_top",
		    U64(atomic_load(&((struct sa *)sa)->replay.top)));
		ADD(o, "window", U64(sa->replay.size));
		if (sa->persist)
			ADD(o, "rx_limit",
			    U64(atomic_load(&((struct sa *)sa)->rx_limit)));
	}
	ADD(o, "state", STR(sa->state == SA_MATURE ? "mature" :
			    sa->state == SA_DYING  ? "dying" :
			    sa->state == SA_DEAD   ? "dead" : "larval"));
	ADD(o, "origin", STR(sa->origin));
	if (sa->reqid)
		ADD(o, "reqid", U64(sa->reqid));
	if (sa->child[0])
		ADD(o, "child", STR(sa->child));
	ADD(o, "age_s", U64(age_s(now, sa->created_ms)));
	if (s.last_ms)
		ADD(o, "idle_ms", U64(now > s.last_ms ? now - s.last_ms : 0));
	if (sa->tunnel->encap == ENCAP_UDP && sa->dir == SA_OUT) {
		if (w->family == AF_INET6) {
			char a6[INET6_ADDRSTRLEN];

			ADD(o, "remote", STR(inet_ntop(AF_INET6, &w->remote6,
						       a6, sizeof(a6))));
		} else {
			ADD(o, "remote", STR(inet_ntoa(w->remote)));
		}
		ADD(o, "sport", U64(w->sport ? w->sport : ESPRESSO_NATT_PORT));
		ADD(o, "dport", U64(w->dport ? w->dport : ESPRESSO_NATT_PORT));
	}
	if (sa->life.soft_s)
		ADD(o, "soft_lifetime", U64(sa->life.soft_s));
	if (sa->life.hard_s)
		ADD(o, "hard_lifetime", U64(sa->life.hard_s));
	if (sa->life.soft_bytes)
		ADD(o, "soft_bytes", U64(sa->life.soft_bytes));
	if (sa->life.hard_bytes)
		ADD(o, "hard_bytes", U64(sa->life.hard_bytes));
	if (sa->life.soft_packets)
		ADD(o, "soft_packets", U64(sa->life.soft_packets));
	if (sa->life.hard_packets)
		ADD(o, "hard_packets", U64(sa->life.hard_packets));
	ADD(o, "errors", errors_obj(s.errors));
	return o;
}

/*
 * The long tables (sa, tunnels, routes: one row per SA, tunnel or route,
 * tens of thousands at scale) are streamed: each row is built, printed
 * (JSON or text) and freed before the next, so a listing of 20,000 SAs
 * costs one row's objects, not 20,000 rows' (about 80 MB of json-c
 * objects, kept by malloc afterwards). The JSON is the same array,
 * written piece by piece.
 */
struct rows {
	FILE *f;
	bool json;
	enum cmd_show show;
	size_t n;
	uint64_t now;
	int err;
};

static void text_sa_one(FILE *f, struct json_object *o);
static void text_row_one(FILE *f, const char *label, const char *key,
			 struct json_object *o);

static void row_out(struct rows *r, struct json_object *o)
{
	if (!o) {
		r->err = -ENOMEM;
		return;
	}
	if (r->json)
		fprintf(r->f, "%s%s", r->n ? "," : "[",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	else if (r->show == SHOW_SA)
		text_sa_one(r->f, o);
	else if (r->show == SHOW_TUNNELS)
		text_row_one(r->f, "tunnel", "name", o);
	else
		text_row_one(r->f, "route", "prefix", o);
	r->n++;
	json_object_put(o);
}

static void rows_end(struct rows *r)
{
	if (r->json)
		fprintf(r->f, "%s\n", r->n ? "]" : "[]");
}

static void add_sa(void *arg, struct sa *sa)
{
	struct rows *r = arg;

	row_out(r, sa_obj(sa, r->now));
}

static void show_sa(struct espd *d, struct rows *r)
{
	live_for_each_sa(&d->live, add_sa, r);
}

static const char *vrf_name(const struct espd *d, uint32_t vrf)
{
	return vrf <= (uint32_t)d->cfg.nvrfs ? d->cfg.vrfs[vrf - 1].name : "?";
}

static struct json_object *tunnel_obj(const struct espd *d, struct tunnel *t,
				      uint64_t now);

static void show_tunnels(struct espd *d, struct rows *r)
{
	struct live *l = &d->live;
	uint32_t i;

	for (i = 0; i < l->ntun; i++)
		if (l->tun[i])
			row_out(r, tunnel_obj(d, l->tun[i], r->now));
}

static struct json_object *tunnel_obj(const struct espd *d, struct tunnel *t,
				      uint64_t now)
{
	char buf[16];
	int p;

	{ /* once a loop's body: the block keeps its lines as they were */
		struct json_object *o, *sas;
		uint64_t last_in = 0, last_out = 0;
		struct sa_worker s;
		struct nexthop *nh;
		uint8_t mac[6];

		o = json_object_new_object();
		sas = json_object_new_array();
		ADD(o, "name", STR(t->name));
		if (t->family == AF_INET6) {
			char a6[INET6_ADDRSTRLEN];

			ADD(o, "local", STR(inet_ntop(AF_INET6, &t->local6, a6,
						      sizeof(a6))));
			ADD(o, "remote", STR(inet_ntop(AF_INET6, &t->remote6,
						       a6, sizeof(a6))));
		} else {
			ADD(o, "local", STR(inet_ntoa(t->local)));
			ADD(o, "remote", STR(inet_ntoa(t->remote)));
		}
		ADD(o, "encap", STR(t->encap == ENCAP_UDP ? "udp" : "esp"));
		ADD(o, "cipher", STR(config_cipher_name(t->cipher)));
		ADD(o, "replay_window", U64(t->replay_window));
		ADD(o, "esn", STR(t->esn ? "on" : "off"));
		ADD(o, "pairs", json_object_new_int(t->npairs));
		ADD(o, "mtu", U64(t->mtu));
		if (t->vrf) /* the default VRF's say nothing */
			ADD(o, "vrf", STR(vrf_name(d, t->vrf)));
		if (t->encap == ENCAP_UDP) {
			/* NAT-T: where the peer is now (live.c follows it) */
			char p6[INET6_ADDRSTRLEN];

			ADD(o, "peer", STR(t->family == AF_INET6 ?
					   inet_ntop(AF_INET6, &t->peer6, p6,
						     sizeof(p6)) :
					   inet_ntoa(t->peer)));
			ADD(o, "peer_port", U64(t->peer_port));
			ADD(o, "local_port", U64(t->local_port));
			ADD(o, "mappings", U64(t->mappings));
			ADD(o, "keepalive_s", U64(t->keepalive_ms / 1000));
			ADD(o, "keepalives", U64(t->ka_sent));
		}
		nh = atomic_load(&t->nh);
		if (nh && nexthop_mac(nh, mac)) {
			char m[24];

			snprintf(m, sizeof(m),
				 "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
				 mac[1], mac[2], mac[3], mac[4], mac[5]);
			if (nh->family == AF_INET6) {
				char a6[INET6_ADDRSTRLEN];

				ADD(o, "nexthop", STR(inet_ntop(AF_INET6,
					&nh->ip6, a6, sizeof(a6))));
			} else {
				ADD(o, "nexthop", STR(inet_ntoa(nh->ip)));
			}
			ADD(o, "nexthop_mac", STR(m));
		}
		for (p = 0; p < t->npairs; p++) {
			struct sa *sa = atomic_load(&t->out[p]);
			struct json_object *so;

			if (!sa)
				continue;
			sa_sum(sa, &s);
			if (s.last_ms > last_out)
				last_out = s.last_ms;
			so = json_object_new_object();
			ADD(so, "spi", STR(spi_str(sa->spi, buf)));
			ADD(so, "dir", STR("out"));
			ADD(so, "age_s", U64(age_s(now, sa->created_ms)));
			json_object_array_add(sas, so);
		}
		for (p = 0; p < t->nin; p++) {
			struct sa *sa = t->in[p];
			struct json_object *so = json_object_new_object();

			sa_sum(sa, &s);
			if (s.last_ms > last_in)
				last_in = s.last_ms;
			ADD(so, "spi", STR(spi_str(sa->spi, buf)));
			ADD(so, "dir", STR("in"));
			ADD(so, "age_s", U64(age_s(now, sa->created_ms)));
			json_object_array_add(sas, so);
		}
		ADD(o, "sas", sas);
		if (last_in)
			ADD(o, "last_in_ms", U64(now > last_in ? now - last_in : 0));
		if (last_out)
			ADD(o, "last_out_ms",
			    U64(now > last_out ? now - last_out : 0));
		return o;
	}
}

static void show_routes(struct espd *d, struct rows *rows)
{
	struct live *l = &d->live;
	size_t i;

	for (i = 0; i < l->nroutes; i++) {
		const struct live_route *r = &l->routes[i];
		struct json_object *o = json_object_new_object();
		char addr[INET6_ADDRSTRLEN], pfx[64];

		inet_ntop(r->prefix.family, r->prefix.addr, addr, sizeof(addr));
		snprintf(pfx, sizeof(pfx), "%s/%u", addr, r->prefix.len);
		ADD(o, "prefix", STR(pfx));
		ADD(o, "tunnel", STR(r->t->name));
		if (r->t->vrf)
			ADD(o, "vrf", STR(vrf_name(d, r->t->vrf)));
		row_out(rows, o);
	}
}

static struct json_object *show_policies(struct espd *d)
{
	struct json_object *a = json_object_new_array();
	const struct spd *s = &d->spd;
	size_t *order = calloc(s->n ? s->n : 1, sizeof(*order)), i;
	char buf[64];

	if (!order)
		return a;
	spd_order(s, order);
	for (i = 0; i < s->n; i++) {
		const struct spd_rule *r = &s->rules[order[i]];
		struct json_object *o = json_object_new_object();

		ADD(o, "id", U64(r->id));
		ADD(o, "priority", U64(r->priority));
		ADD(o, "src", STR(cfg_prefix_str(&r->src, buf, sizeof(buf))));
		ADD(o, "dst", STR(cfg_prefix_str(&r->dst, buf, sizeof(buf))));
		ADD(o, "proto", U64(r->proto));
		snprintf(buf, sizeof(buf), "%u-%u", r->sport[0], r->sport[1]);
		ADD(o, "sport", STR(buf));
		snprintf(buf, sizeof(buf), "%u-%u", r->dport[0], r->dport[1]);
		ADD(o, "dport", STR(buf));
		ADD(o, "action", STR(cfg_spd_action_names[r->action]));
		if (r->action == ESPRESSO_SPD_PROTECT) {
			ADD(o, "tunnel", STR(r->tunnel));
			/* its tunnel gone: it discards (fail closed) */
			ADD(o, "in_force", STR(r->pushed_tid ? "protect"
							     : "discard"));
		}
		json_object_array_add(a, o);
	}
	free(order);
	return a;
}

/* Router mode's LAN ports: from the config, the kernel (MAC, MTU,
 * addresses, as read at start) and the workers' XSKs on them. */
static struct json_object *show_lans(struct espd *d)
{
	struct json_object *a = json_object_new_array();
	char buf[INET6_ADDRSTRLEN + 5], mac[18];
	int l, q, i;

	for (l = 0; l < d->env.nlans; l++) {
		const struct lan_env *le = &d->env.lans[l];
		struct json_object *o = json_object_new_object();
		struct json_object *ad = json_object_new_array();
		uint64_t rx = 0, rxb = 0, tx = 0, txb = 0, held = 0;
		uint64_t kdrop = 0, kfull = 0;
		int open = 0;

		for (q = 0; q < d->nworkers; q++) {
			const struct lan_port *p = &d->workers[q].lan[l];
			struct xdp_statistics x;
			socklen_t len = sizeof(x);

			if (!p->open)
				continue;
			open++;
			rx += p->rx;
			rxb += p->rx_bytes;
			tx += p->tx;
			txb += p->tx_bytes;
			held += p->nhold;
			if (!getsockopt(p->port.fd, SOL_XDP, XDP_STATISTICS,
					&x, &len)) {
				kdrop += x.rx_dropped;
				kfull += x.rx_ring_full;
			}
		}
		ADD(o, "name", STR(d->cfg.lans[l].name));
		ADD(o, "ifindex", json_object_new_int(le->ifindex));
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 le->mac[0], le->mac[1], le->mac[2], le->mac[3],
			 le->mac[4], le->mac[5]);
		ADD(o, "mac", STR(mac));
		ADD(o, "mtu", json_object_new_int(le->mtu));
		ADD(o, "queues", json_object_new_int(open));
		for (i = 0; i < le->nprefix; i++) {
			size_t n;

			inet_ntop(AF_INET, &le->own[i], buf, INET_ADDRSTRLEN);
			n = strlen(buf);
			snprintf(buf + n, sizeof(buf) - n, "/%d",
				 __builtin_popcount(le->mask[i]));
			json_object_array_add(ad, STR(buf));
		}
		for (i = 0; i < le->nprefix6; i++) { /* IPv6 after IPv4 */
			size_t n;

			inet_ntop(AF_INET6, le->own6[i], buf, INET6_ADDRSTRLEN);
			n = strlen(buf);
			snprintf(buf + n, sizeof(buf) - n, "/%d", le->plen6[i]);
			json_object_array_add(ad, STR(buf));
		}
		ADD(o, "addresses", ad);
		ADD(o, "hosts", U64(le->neigh ? le->neigh->count : 0));
		ADD(o, "hosts6", U64(le->neigh6 ? le->neigh6->count : 0));
		ADD(o, "rx", U64(rx));
		ADD(o, "rx_bytes", U64(rxb));
		ADD(o, "tx", U64(tx));
		ADD(o, "tx_bytes", U64(txb));
		ADD(o, "held", U64(held));
		ADD(o, "xsk_rx_dropped", U64(kdrop));
		ADD(o, "xsk_rx_ring_full", U64(kfull));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *xdp_obj(struct espd *d)
{
	struct json_object *o = json_object_new_object();
	struct espresso_xdp_stats x;

	if (bpfload_read_stats(&d->bpf, &x))
		return o;
#define X_ADD(name, help) ADD(o, #name, U64(x.name));
	ESPRESSO_XDP_COUNTERS(X_ADD)
#undef X_ADD
	return o;
}

static struct json_object *show_stats(struct espd *d)
{
	struct json_object *top = json_object_new_object();
	struct json_object *qs = json_object_new_array();
	int q;

	for (q = 0; q < d->nworkers; q++) {
		const struct worker *w = &d->workers[q];
		const struct queue_stats *s = &w->st;
		const struct reasm_stats *rs = reasm_stats(w->reasm);
		struct json_object *o = json_object_new_object();
		struct json_object *r = json_object_new_object();
		struct xdp_statistics x;
		socklen_t len = sizeof(x);

		ADD(o, "queue", json_object_new_int(q));
		ADD(o, "mode", STR(w->port.zerocopy ? "zerocopy" : "copy"));
#define Q(f) ADD(o, #f, U64(s->f))
		Q(rx_frames); Q(rx_bytes); Q(rx_decrypted); Q(tun_rx);
		Q(tx_frames); Q(tx_bytes); Q(tx_completed); Q(wakeups);
		Q(neigh_held); Q(neigh_released); Q(tun_tx); Q(gso_super);
		Q(gso_segments); Q(frag_out); Q(icmp_sent); Q(mss_clamped);
		Q(rx_reassembled);
		Q(lan_rx); Q(lan_rx_bytes); Q(lan_tx); Q(lan_tx_bytes);
		Q(lan_held); Q(lan_released); Q(lan_icmp);
#undef Q
		ADD(o, "gro_merged", U64(w->gro.st.merged));
		ADD(o, "gro_written", U64(w->gro.st.written));
		ADD(o, "handoff_out", U64(s->handoff_out));
		ADD(o, "handoff_in", U64(s->handoff_in));
		ADD(o, "polls", U64(s->polls));
		ADD(o, "trace_lost", U64(s->trace_lost));
		ADD(o, "pcap_lost", U64(s->pcap_lost));
#define X_ADD(name, help) ADD(r, #name, U64(rs->name));
		REASM_COUNTERS(X_ADD)
#undef X_ADD
		ADD(r, "memory", U64(reasm_mem(w->reasm)));
		ADD(o, "reasm", r);
		ADD(o, "drops", errors_obj(s->drops));
		if (!getsockopt(w->port.fd, SOL_XDP, XDP_STATISTICS, &x, &len)) {
			struct json_object *k = json_object_new_object();

			ADD(k, "rx_dropped", U64(x.rx_dropped));
			ADD(k, "rx_ring_full", U64(x.rx_ring_full));
			ADD(k, "rx_fill_ring_empty",
			    U64(x.rx_fill_ring_empty_descs));
			ADD(k, "rx_invalid_descs", U64(x.rx_invalid_descs));
			ADD(k, "tx_invalid_descs", U64(x.tx_invalid_descs));
			ADD(k, "tx_ring_empty", U64(x.tx_ring_empty_descs));
			ADD(o, "kernel", k);
		}
		json_object_array_add(qs, o);
	}
	ADD(top, "queues", qs);
	ADD(top, "xdp", xdp_obj(d));
	ADD(top, "table_version", U64(d->live.gen));
	ADD(top, "tunnels", U64(d->live.tun_count));
	ADD(top, "inbound_sas", U64(d->live.sa_count));
	ADD(top, "routes", U64(d->live.nroutes));
	ADD(top, "epoch_pending", U64(epoch_pending(&d->live.epoch)));
	return top;
}

static void audit_fields(struct json_object *o, const struct xsk_audit *p)
{
	struct xsk_audit x = *p;

	ADD(o, "frames", U64(x.frames));
	ADD(o, "free", U64(x.n_state[FRAME_FREE]));
	ADD(o, "fill", U64(x.n_state[FRAME_FILL]));
	ADD(o, "worker", U64(x.n_state[FRAME_WORKER]));
	ADD(o, "tx", U64(x.n_state[FRAME_TX]));
	ADD(o, "held", U64(x.n_state[FRAME_HELD]));
	ADD(o, "handoff", U64(x.n_state[FRAME_HANDOFF]));
	ADD(o, "in_fill_ring", U64(x.in_fill_ring));
	ADD(o, "in_rx_ring", U64(x.in_rx_ring));
	ADD(o, "in_tx_ring", U64(x.in_tx_ring));
	ADD(o, "in_comp_ring", U64(x.in_comp_ring));
	ADD(o, "kernel_held", U64(x.kernel_held));
	ADD(o, "duplicates", U64(x.duplicates));
	ADD(o, "misplaced", U64(x.misplaced));
	ADD(o, "count_errors", U64(x.count_errors));
	ADD(o, "audit", STR(x.duplicates || x.misplaced ||
				    x.count_errors ||
				    x.n_state[FRAME_WORKER] ?
			    "BAD" : "OK"));
}

static struct json_object *show_frames(struct espd *d)
{
	struct json_object *a = json_object_new_array();
	struct xsk_audit x;
	int q, l;

	for (q = 0; q < d->nworkers; q++) {
		struct json_object *o = json_object_new_object();

		ADD(o, "queue", json_object_new_int(q));
		if (worker_audit(&d->workers[q], &x, 2000)) {
			ADD(o, "audit", STR("timed out"));
			json_object_array_add(a, o);
			continue;
		}
		audit_fields(o, &x);
		json_object_array_add(a, o);
		/* router mode: the worker's LAN ports, one row each */
		for (l = 0; l < d->env.nlans; l++) {
			if (!d->workers[q].lan[l].open)
				continue;
			o = json_object_new_object();
			ADD(o, "queue", json_object_new_int(q));
			ADD(o, "port", STR(d->cfg.lans[l].name));
			audit_fields(o, &d->workers[q].lan_audit[l]);
			json_object_array_add(a, o);
		}
	}
	return a;
}

/* ---- text: "key value" pairs on one line per row ---- */

static void text_pairs(FILE *f, struct json_object *o, const char *skip)
{
	json_object_object_foreach(o, k, v)
	{
		if (skip && !strcmp(k, skip))
			continue;
		if (json_object_is_type(v, json_type_object) ||
		    json_object_is_type(v, json_type_array))
			continue;
		fprintf(f, " %s %s", k, json_object_get_string(v));
	}
}

/* A nested object as an indented line, when it has anything. */
static void text_sub(FILE *f, const char *label, struct json_object *o)
{
	if (!o || !json_object_object_length(o))
		return;
	fprintf(f, "  %s", label);
	text_pairs(f, o, NULL);
	fputc('\n', f);
}

static void text_sa_one(FILE *f, struct json_object *o)
{
	{
		struct json_object *v;

		/* the first fields as they always were: scripts read them */
		fprintf(f, "sa %s %s spi %s %s",
			json_object_get_string(json_object_object_get(o, "tunnel")),
			json_object_get_string(json_object_object_get(o, "dir")),
			json_object_get_string(json_object_object_get(o, "spi")),
			json_object_get_string(json_object_object_get(o, "cipher")));
		json_object_object_foreach(o, k, val)
		{
			if (!strcmp(k, "tunnel") || !strcmp(k, "dir") ||
			    !strcmp(k, "spi") || !strcmp(k, "cipher") ||
			    json_object_is_type(val, json_type_object))
				continue;
			if (!strcmp(k, "exhausted"))
				fprintf(f, " EXHAUSTED");
			else
				fprintf(f, " %s %s", k,
					json_object_get_string(val));
		}
		fputc('\n', f);
		v = json_object_object_get(o, "errors");
		text_sub(f, "errors:", v);
	}
}

/* "lan NAME key value ... addresses A/L,B/L" */
static void text_lans(FILE *f, struct json_object *a)
{
	size_t i, j;

	for (i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		struct json_object *ad = json_object_object_get(o, "addresses");

		fprintf(f, "lan %s", json_object_get_string(
					     json_object_object_get(o, "name")));
		text_pairs(f, o, "name");
		fprintf(f, " addresses ");
		for (j = 0; j < json_object_array_length(ad); j++)
			fprintf(f, "%s%s", j ? "," : "",
				json_object_get_string(
					json_object_array_get_idx(ad, j)));
		fputc('\n', f);
	}
}

static void text_row_one(FILE *f, const char *label, const char *key,
			 struct json_object *o)
{
	struct json_object *sas = json_object_object_get(o, "sas");
	size_t j;

	{

		fprintf(f, "%s %s", label,
			json_object_get_string(json_object_object_get(o, key)));
		text_pairs(f, o, key);
		fputc('\n', f);
		for (j = 0; sas && j < json_object_array_length(sas); j++) {
			fprintf(f, "  sa");
			text_pairs(f, json_object_array_get_idx(sas, j), NULL);
			fputc('\n', f);
		}
	}
}

static void text_rows(FILE *f, const char *label, const char *key,
		      struct json_object *a)
{
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++)
		text_row_one(f, label, key, json_object_array_get_idx(a, i));
}

static void text_stats(FILE *f, struct json_object *top)
{
	struct json_object *qs = json_object_object_get(top, "queues");
	size_t i;

	for (i = 0; i < json_object_array_length(qs); i++) {
		struct json_object *o = json_object_array_get_idx(qs, i);

		fprintf(f, "queue %s %s",
			json_object_get_string(json_object_object_get(o, "queue")),
			json_object_get_string(json_object_object_get(o, "mode")));
		json_object_object_foreach(o, k, v)
		{
			if (!strcmp(k, "queue") || !strcmp(k, "mode") ||
			    json_object_is_type(v, json_type_object))
				continue;
			fprintf(f, " %s %s", k, json_object_get_string(v));
		}
		fputc('\n', f);
		text_sub(f, "reasm:", json_object_object_get(o, "reasm"));
		text_sub(f, "drops:", json_object_object_get(o, "drops"));
		text_sub(f, "kernel:", json_object_object_get(o, "kernel"));
	}
	fprintf(f, "xdp");
	text_pairs(f, json_object_object_get(top, "xdp"), NULL);
	fprintf(f, "\ntables");
	text_pairs(f, top, NULL);
	fputc('\n', f);
}

/*
 * P2MP: each hub (its template, how many peers), then each peer: the
 * tunnel "HUB/NEXTHOP" as show tunnels has it, with its hub and next hop.
 */
static struct json_object *show_peers(struct espd *d)
{
	struct json_object *a = json_object_new_array();
	struct live *l = &d->live;
	uint64_t now = mono_ms();
	size_t i, hl;

	for (i = 0; i < l->nhubs; i++) {
		const struct cfg_tunnel *h = &l->hubs[i].tmpl;
		struct json_object *o = json_object_new_object();
		char a6[INET6_ADDRSTRLEN];

		ADD(o, "name", STR(h->name));
		ADD(o, "p2mp", STR("hub"));
		ADD(o, "local", STR(h->family == AF_INET6 ?
				    inet_ntop(AF_INET6, &h->local6, a6,
					      sizeof(a6)) :
				    inet_ntoa(h->local)));
		ADD(o, "encap", STR(h->encap == ENCAP_UDP ? "udp" : "esp"));
		ADD(o, "cipher", STR(config_cipher_name(h->cipher)));
		ADD(o, "peers", json_object_new_int(p2mp_peer_count(l,
								    h->name)));
		json_object_array_add(a, o);
	}
	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];
		struct json_object *o;
		char hub[CFG_NAME_MAX];

		if (!t || !p2mp_is_peer(t->name, &hl) || hl >= sizeof(hub))
			continue;
		o = tunnel_obj(d, t, now);
		if (!o)
			continue;
		memcpy(hub, t->name, hl);
		hub[hl] = '\0';
		ADD(o, "hub", STR(hub));
		ADD(o, "via", STR(t->name + hl + 1)); /* the overlay next hop */
		json_object_array_add(a, o);
	}
	return a;
}

int ctl_show(FILE *f, struct espd *d, const struct cmd *c)
{
	struct json_object *o = NULL;
	struct rows r = { .f = f, .json = c->json, .show = c->show,
			  .now = mono_ms() };

	switch (c->show) {
	case SHOW_SA:
	case SHOW_TUNNELS:
	case SHOW_ROUTES:
		if (c->show == SHOW_SA)
			show_sa(d, &r);
		else if (c->show == SHOW_TUNNELS)
			show_tunnels(d, &r);
		else
			show_routes(d, &r);
		rows_end(&r);
		if (r.err)
			fprintf(f, "show: out of memory");
		return r.err;
	case SHOW_STATS: o = show_stats(d); break;
	case SHOW_FRAMES: o = show_frames(d); break;
	case SHOW_XDP: o = xdp_obj(d); break;
	case SHOW_POLICIES: o = show_policies(d); break;
	case SHOW_LANS: o = show_lans(d); break;
	case SHOW_PEERS: o = show_peers(d); break;
	}
	if (!o) {
		fprintf(f, "show: out of memory");
		return -ENOMEM;
	}
	if (c->json) {
		fprintf(f, "%s\n", json_object_to_json_string_ext(
					   o, JSON_C_TO_STRING_PLAIN));
	} else {
		switch (c->show) {
		case SHOW_SA:
		case SHOW_TUNNELS:
		case SHOW_ROUTES: break; /* streamed above */
		case SHOW_STATS: text_stats(f, o); break;
		case SHOW_FRAMES: text_rows(f, "queue", "queue", o); break;
		case SHOW_POLICIES: text_rows(f, "policy", "id", o); break;
		case SHOW_LANS: text_lans(f, o); break;
		case SHOW_PEERS: text_rows(f, "peer", "name", o); break;
		case SHOW_XDP:
			fprintf(f, "xdp");
			text_pairs(f, o, NULL);
			fputc('\n', f);
			break;
		}
	}
	json_object_put(o);
	return 0;
}
