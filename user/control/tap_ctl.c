// SPDX-License-Identifier: GPL-2.0
/*
 * tap_ctl: espressoctl trace and pcap, the control thread's side
 * (tap_ctl.h). The workers' side is core/tap.c.
 *
 * Turning something on or off publishes a new struct tap_cfg. Rings are
 * allocated before the cfg that names them is published, and freed only
 * after a cfg without them is published and every worker has passed a
 * quiescent point (epoch_retire): no worker can then still write into
 * them. pcap stop waits for that grace period (a few ms; at most 1 s, so
 * a stuck worker cannot hang the control thread), so that a capture's
 * last packets are drained into the file before it is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control/cmd.h"
#include "control/daemon.h"
#include "control/pcapw.h"
#include "control/tap_ctl.h"
#include "core/stats.h"
#include "lib/cacheline.h"
#include "lib/log.h"

#define TAP_POLL_MS 10 /* drain period while anything is on */

void tap_init(struct tap_state *t)
{
	memset(t, 0, sizeof(*t));
	t->trace_fd = -1;
}

/* ---- rings and the published cfg ---- */

static struct spsc_ring *rings_new(int n, uint32_t size, uint32_t elem)
{
	struct spsc_ring *r = calloc_lines(n, sizeof(*r));
	int i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		if (spsc_init(&r[i], size, elem)) {
			while (i--)
				spsc_free(&r[i]);
			free(r);
			return NULL;
		}
	}
	return r;
}

static void rings_free(struct spsc_ring *r, int n)
{
	int i;

	for (i = 0; r && i < n; i++)
		spsc_free(&r[i]);
	free(r);
}

struct rings_gone {
	struct spsc_ring *r;
	int n;
};

static void rings_retired(void *arg)
{
	struct rings_gone *g = arg;

	rings_free(g->r, g->n);
	free(g);
}

/* Free the rings once no worker can write into them any more. */
static void rings_retire(struct espd *d, struct spsc_ring *r)
{
	struct rings_gone *g = malloc(sizeof(*g));

	if (!g) {
		/* rare: wait for the grace period here instead */
		epoch_synchronize(&d->live.epoch);
		rings_free(r, d->nworkers);
		return;
	}
	g->r = r;
	g->n = d->nworkers;
	epoch_retire(&d->live.epoch, rings_retired, g);
}

/* A grace period, waited for at most ms: true when every worker has
 * passed a quiescent point since the call. */
struct grace_flag {
	bool done, abandoned;
};

static void grace_passed(void *arg)
{
	struct grace_flag *f = arg;

	if (f->abandoned)
		free(f);
	else
		f->done = true;
}

static bool grace_wait(struct espd *d, int ms)
{
	struct timespec ts = { 0, 1000000 };
	struct grace_flag *f = calloc(1, sizeof(*f));
	bool done;
	int i;

	if (!f) {
		epoch_synchronize(&d->live.epoch);
		return true;
	}
	epoch_retire(&d->live.epoch, grace_passed, f);
	for (i = 0; i < ms && !f->done; i++) {
		epoch_reclaim(&d->live.epoch);
		if (!f->done)
			nanosleep(&ts, NULL);
	}
	done = f->done;
	if (done)
		free(f);
	else
		f->abandoned = true; /* grace_passed frees it */
	return done;
}

/* Publish what t says; the previous cfg is freed after a grace period. */
static int publish(struct espd *d)
{
	struct tap_state *t = &d->tap;
	struct tap_cfg *c = NULL, *old = t->cur;
	uint32_t flags = (t->trace_fd >= 0 ? TAP_TRACE : 0) | t->pcap_flags;

	if (flags) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->flags = flags;
		c->snaplen = t->snaplen;
		c->filter = t->filter;
		c->trace = t->trace_fd >= 0 ? t->trace_rings : NULL;
		c->pcap = t->pcap_flags ? t->pcap_rings : NULL;
	}
	atomic_store_explicit(&d->env.tap, c, memory_order_release);
	t->cur = c;
	if (old)
		epoch_retire(&d->live.epoch, free, old);
	return 0;
}

/* ---- formatting a trace record ---- */

struct inner {
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int proto; /* -1: not parsed */
	int sport, dport;        /* -1: none */
	int icmp_type, icmp_id, icmp_seq; /* -1: none */
};

static void inner_parse(const uint8_t *h, unsigned int hl, struct inner *in)
{
	unsigned int l4 = 0;

	memset(in, 0, sizeof(*in));
	in->proto = in->sport = in->dport = -1;
	in->icmp_type = in->icmp_id = in->icmp_seq = -1;
	if (hl >= 20 && (h[0] >> 4) == 4 && (h[0] & 15) >= 5) {
		inet_ntop(AF_INET, h + 12, in->src, sizeof(in->src));
		inet_ntop(AF_INET, h + 16, in->dst, sizeof(in->dst));
		in->proto = h[9];
		l4 = (h[0] & 15) * 4;
		/* a later fragment has no L4 header */
		if ((h[6] & 0x1f) || h[7])
			return;
	} else if (hl >= 40 && (h[0] >> 4) == 6) {
		inet_ntop(AF_INET6, h + 8, in->src, sizeof(in->src));
		inet_ntop(AF_INET6, h + 24, in->dst, sizeof(in->dst));
		in->proto = h[6];
		l4 = 40;
	} else {
		return;
	}
	if ((in->proto == IPPROTO_TCP || in->proto == IPPROTO_UDP) &&
	    l4 + 4 <= hl) {
		in->sport = h[l4] << 8 | h[l4 + 1];
		in->dport = h[l4 + 2] << 8 | h[l4 + 3];
	} else if ((in->proto == IPPROTO_ICMP || in->proto == IPPROTO_ICMPV6) &&
		   l4 + 1 <= hl) {
		in->icmp_type = h[l4];
		if (l4 + 8 <= hl) {
			in->icmp_id = h[l4 + 4] << 8 | h[l4 + 5];
			in->icmp_seq = h[l4 + 6] << 8 | h[l4 + 7];
		}
	}
}

static const char *proto_name(int p)
{
	switch (p) {
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMPV6: return "icmp6";
	case IPPROTO_ESP: return "esp";
	case IPPROTO_GRE: return "gre";
	default: return NULL;
	}
}

static const char *icmp_name(int proto, int type)
{
	if (proto == IPPROTO_ICMP)
		return type == 0 ? "echo-reply" : type == 8 ? "echo-request" :
		       type == 3 ? "unreachable" : type == 11 ? "time-exceeded" :
		       NULL;
	return type == 128 ? "echo-request" : type == 129 ? "echo-reply" :
	       type == 1 ? "unreachable" : type == 2 ? "too-big" :
	       type == 3 ? "time-exceeded" : NULL;
}

/* The text of a record, built segment by segment, and its JSON. */
struct out {
	char *buf;
	size_t len, n;
	struct json_object *o;
};

__attribute__((format(printf, 2, 3)))
static void seg(struct out *x, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (x->n >= x->len)
		return;
	if (x->n) {
		k = snprintf(x->buf + x->n, x->len - x->n, " | ");
		x->n += k > 0 ? (size_t)k : 0;
		if (x->n >= x->len)
			return;
	}
	va_start(ap, fmt);
	k = vsnprintf(x->buf + x->n, x->len - x->n, fmt, ap);
	va_end(ap);
	x->n += k > 0 ? (size_t)k : 0;
}

static void jstr(struct out *x, const char *k, const char *v)
{
	json_object_object_add(x->o, k, json_object_new_string(v));
}

static void jint(struct out *x, const char *k, int64_t v)
{
	json_object_object_add(x->o, k, json_object_new_int64(v));
}

static void drop_seg(struct out *x, int drop)
{
	if (drop <= 0 || drop >= DROP_MAX)
		return;
	seg(x, "DROP %s: %s", stats_drop_names[drop], stats_drop_help[drop]);
	jstr(x, "drop", stats_drop_names[drop]);
}

static void inner_seg(struct out *x, const struct tap_trace *r, uint32_t len)
{
	struct json_object *o = json_object_new_object();
	struct inner in;
	const char *pn, *tn;
	char p[24], more[64] = "";

	inner_parse(r->hdr, r->hdr_len, &in);
	json_object_object_add(o, "len", json_object_new_int64(len));
	if (in.proto < 0) {
		seg(x, "inner %u bytes", len);
		json_object_object_add(x->o, "inner", o);
		return;
	}
	pn = proto_name(in.proto);
	if (!pn) {
		snprintf(p, sizeof(p), "proto %d", in.proto);
		pn = p;
	}
	json_object_object_add(o, "src", json_object_new_string(in.src));
	json_object_object_add(o, "dst", json_object_new_string(in.dst));
	json_object_object_add(o, "proto", json_object_new_int(in.proto));
	if (in.sport >= 0) {
		snprintf(more, sizeof(more), " %d > %d", in.sport, in.dport);
		json_object_object_add(o, "sport", json_object_new_int(in.sport));
		json_object_object_add(o, "dport", json_object_new_int(in.dport));
	} else if (in.icmp_type >= 0) {
		tn = icmp_name(in.proto, in.icmp_type);
		if (tn)
			snprintf(more, sizeof(more), " %s", tn);
		else
			snprintf(more, sizeof(more), " type %d", in.icmp_type);
		json_object_object_add(o, "icmp_type",
				       json_object_new_int(in.icmp_type));
		if (in.icmp_id >= 0 && tn && strstr(tn, "echo")) {
			size_t m = strlen(more);

			snprintf(more + m, sizeof(more) - m, " id %d seq %d",
				 in.icmp_id, in.icmp_seq);
			json_object_object_add(o, "icmp_id",
					       json_object_new_int(in.icmp_id));
			json_object_object_add(o, "icmp_seq",
					       json_object_new_int(in.icmp_seq));
		}
	}
	seg(x, "inner %s > %s %s%s, %u bytes", in.src, in.dst, pn, more, len);
	json_object_object_add(x->o, "inner", o);
}

static bool in_set(int v, const int *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}
#define IN(v, ...) in_set(v, (const int[]){ __VA_ARGS__ }, \
			  sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

static void format_rx(struct out *x, const struct tap_trace *r)
{
	char spi[16], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	int drop = r->drop;

	snprintf(spi, sizeof(spi), "0x%08x", r->spi);
	if (r->flags & TAP_F_OUTER) {
		inet_ntop(AF_INET, &r->outer_src, a, sizeof(a));
		inet_ntop(AF_INET, &r->outer_dst, b, sizeof(b));
		jstr(x, "outer_src", a);
		jstr(x, "outer_dst", b);
	}
	if (r->flags & TAP_F_REASM) {
		seg(x, "reassembled");
		jstr(x, "xdp", "reassembled");
	} else {
		const char *v = r->flags & TAP_F_FRAG ? "fragment" : "redirect";

		if (r->flags & TAP_F_OUTER)
			seg(x, "xdp %s %s > %s, %u bytes", v, a, b, r->len);
		else
			seg(x, "xdp %s, %u bytes", v, r->len);
		jstr(x, "xdp", v);
	}
	if (r->flags & TAP_F_FRAG) {
		seg(x, "out reassembly");
		jstr(x, "out", "reassembly");
		return;
	}
	if (drop == DROP_rx_bad_meta)
		return drop_seg(x, drop);
	if (r->spi)
		jstr(x, "spi", spi);
	if (drop == DROP_rx_no_sa) {
		seg(x, "sa %s unknown", spi);
		return drop_seg(x, drop);
	}
	/* no sequence number yet: handed over before it was read */
	if (r->seq) {
		seg(x, "sa %s tunnel %s seq %" PRIu64, spi, r->tunnel, r->seq);
		jint(x, "seq", (int64_t)r->seq);
	} else {
		seg(x, "sa %s tunnel %s", spi, r->tunnel);
	}
	jstr(x, "tunnel", r->tunnel);
	if (IN(drop, DROP_rx_encap, DROP_rx_outer_addr, DROP_rx_short,
	       DROP_rx_window, DROP_rx_replay, DROP_rx_handoff))
		return drop_seg(x, drop);
	if (r->flags & TAP_F_HANDED) {
		seg(x, "out handoff to q%u", r->owner);
		jstr(x, "out", "handoff");
		jint(x, "owner", r->owner);
		return;
	}
	if (drop == DROP_rx_auth) {
		jstr(x, "crypto", "failed");
		return drop_seg(x, drop);
	}
	seg(x, "crypto ok");
	jstr(x, "crypto", "ok");
	if (!(r->flags & TAP_F_INNER) || drop == DROP_rx_padding ||
	    drop == DROP_rx_next_hdr || drop == DROP_rx_dummy ||
	    drop == DROP_rx_inner_len)
		return drop_seg(x, drop);
	inner_seg(x, r, r->inner_len);
	if (drop == DROP_rx_inner_src || drop == DROP_rx_inner_dst)
		return drop_seg(x, drop);
	seg(x, "route ok");
	jstr(x, "route", "ok");
	if (drop)
		return drop_seg(x, drop);
	seg(x, "out tun");
	jstr(x, "out", "tun");
}

static void format_tx(struct out *x, const struct tap_trace *r)
{
	char spi[16], mac[24];
	int drop = r->drop;

	snprintf(spi, sizeof(spi), "0x%08x", r->spi);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", r->mac[0],
		 r->mac[1], r->mac[2], r->mac[3], r->mac[4], r->mac[5]);
	if (r->flags & TAP_F_RAW) {
		seg(x, "outer fragment, %u bytes", r->len);
		jstr(x, "tunnel", r->tunnel);
		seg(x, "nexthop %s", mac);
		jstr(x, "nexthop", mac);
		if (drop)
			return drop_seg(x, drop);
		seg(x, "out uplink");
		jstr(x, "out", "uplink");
		return;
	}
	seg(x, "tun %u bytes", r->len);
	if (drop == DROP_tx_malformed)
		return drop_seg(x, drop);
	inner_seg(x, r, r->len);
	if (drop == DROP_tx_no_route)
		return drop_seg(x, drop);
	seg(x, "route %s", r->tunnel);
	jstr(x, "tunnel", r->tunnel);
	if (drop == DROP_tx_too_big)
		return drop_seg(x, drop);
	if (r->flags & TAP_F_SPLIT) {
		seg(x, "out fragmented (its fragments follow)");
		jstr(x, "out", "fragmented");
		return;
	}
	if ((r->flags & TAP_F_HELD) || drop == DROP_tx_no_neigh) {
		seg(x, "nexthop unresolved");
		if (drop)
			return drop_seg(x, drop);
		seg(x, "out held");
		jstr(x, "out", "held");
		return;
	}
	if (IN(drop, DROP_tx_no_sa, DROP_tx_seq_exhausted,
	       DROP_tx_seq_unreserved))
		return drop_seg(x, drop);
	seg(x, "sa %s seq %" PRIu64, spi, r->seq);
	jstr(x, "spi", spi);
	jint(x, "seq", (int64_t)r->seq);
	if (drop == DROP_tx_crypto) {
		jstr(x, "crypto", "failed");
		return drop_seg(x, drop);
	}
	seg(x, "crypto ok");
	jstr(x, "crypto", "ok");
	seg(x, "nexthop %s", mac);
	jstr(x, "nexthop", mac);
	if (drop)
		return drop_seg(x, drop);
	seg(x, "out uplink");
	jstr(x, "out", "uplink");
}

int tap_format(const struct tap_trace *r, bool json, char *buf, size_t len)
{
	char text[1024], when[32];
	struct out x = { .buf = text, .len = sizeof(text) };
	time_t s = (time_t)(r->ns / 1000000000u);
	struct tm tm;
	int n;

	text[0] = '\0';
	x.o = json_object_new_object();
	if (!x.o)
		return -1;
	localtime_r(&s, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	json_object_object_add(x.o, "time", json_object_new_double(
		(double)r->ns / 1e9));
	jstr(&x, "dir", r->dir == TAP_DIR_IN ? "in" : "out");
	jint(&x, "queue", r->worker);
	if (r->from != r->worker)
		jint(&x, "from", r->from);
	if (r->dir == TAP_DIR_IN)
		format_rx(&x, r);
	else
		format_tx(&x, r);
	if (json)
		n = snprintf(buf, len, "%s\n", json_object_to_json_string_ext(
			x.o, JSON_C_TO_STRING_PLAIN));
	else if (r->from != r->worker)
		n = snprintf(buf, len, "%s.%06u %s q%u (from q%u): %s\n", when,
			     (unsigned int)(r->ns % 1000000000u / 1000),
			     r->dir == TAP_DIR_IN ? "in" : "out", r->worker,
			     r->from, text);
	else
		n = snprintf(buf, len, "%s.%06u %s q%u: %s\n", when,
			     (unsigned int)(r->ns % 1000000000u / 1000),
			     r->dir == TAP_DIR_IN ? "in" : "out", r->worker,
			     text);
	json_object_put(x.o);
	return n;
}

/* ---- trace ---- */

void tap_trace_stop(struct espd *d)
{
	struct tap_state *t = &d->tap;

	if (t->trace_fd < 0)
		return;
	close(t->trace_fd);
	t->trace_fd = -1;
	publish(d);
	/* what is still in them is beyond N, or nobody reads it */
	rings_retire(d, t->trace_rings);
	t->trace_rings = NULL;
}

int tap_trace_start(struct espd *d, int fd, const struct cmd *c, char *err,
		    size_t errlen)
{
	struct tap_state *t = &d->tap;
	const struct cmd_tap *a = &c->tap;
	struct timespec ts;
	int ret;

	if (t->trace_fd >= 0) {
		snprintf(err, errlen, "trace: another trace is running (one at "
			 "a time)");
		return -EBUSY;
	}
	t->trace_rings = rings_new(d->nworkers, TAP_TRACE_RING,
				   sizeof(struct tap_trace));
	if (!t->trace_rings) {
		snprintf(err, errlen, "trace: out of memory");
		return -ENOMEM;
	}
	memset(&t->filter, 0, sizeof(t->filter));
	t->filter.spi = a->spi;
	t->filter.has_spi = a->has_spi;
	t->filter.drops_only = a->drops;
	t->filter.dir = (uint8_t)a->dir;
	snprintf(t->filter.tunnel, sizeof(t->filter.tunnel), "%s", a->tunnel);
	t->trace_fd = fd;
	t->trace_json = c->json;
	t->trace_left = a->count;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->trace_end_ms = ts.tv_sec * 1000ull + ts.tv_nsec / 1000000 +
			  a->timeout_s * 1000ull;
	ret = publish(d);
	if (ret) {
		t->trace_fd = -1;
		rings_free(t->trace_rings, d->nworkers);
		t->trace_rings = NULL;
		snprintf(err, errlen, "trace: out of memory");
	}
	return ret;
}

/* Send what is formatted; false: the client is gone or stuck. */
static bool trace_send(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		/* the socket has a 1 s send timeout (ctl_serve) */
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		buf += n;
		len -= n;
	}
	return true;
}

static void trace_drain(struct espd *d, uint64_t now_ms)
{
	struct tap_state *t = &d->tap;
	char line[2048], *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	bool ok = true;
	char c;
	int q, n;

	for (q = 0; f && q < d->nworkers; q++) {
		struct spsc_ring *r = &t->trace_rings[q];
		const struct tap_trace *rec;

		while ((rec = tap_ring_peek(r))) {
			if (t->trace_left) {
				n = tap_format(rec, t->trace_json, line,
					       sizeof(line));
				if (n > 0 && (size_t)n < sizeof(line)) {
					fwrite(line, 1, n, f);
					t->trace_left--;
				}
			}
			tap_ring_pop(r);
		}
	}
	if (f) {
		fclose(f);
		ok = trace_send(t->trace_fd, out, outlen);
		free(out);
	}
	/* a client that went away (it sends nothing after its request) */
	n = recv(t->trace_fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		ok = false;
	if (!ok || !t->trace_left || now_ms >= t->trace_end_ms)
		tap_trace_stop(d);
}

/* ---- pcap ---- */

static uint64_t pcap_lost_sum(struct espd *d)
{
	uint64_t s = 0;
	int q;

	for (q = 0; q < d->nworkers; q++)
		s += __atomic_load_n(&d->workers[q].st.pcap_lost,
				     __ATOMIC_RELAXED);
	return s;
}

static void pcap_drain(struct espd *d)
{
	struct tap_state *t = &d->tap;
	uint64_t before = t->written;
	int q;

	for (q = 0; q < d->nworkers; q++) {
		struct spsc_ring *r = &t->pcap_rings[q];
		struct tap_pkt *s;

		while ((s = tap_ring_peek(r))) {
			pcapw_write(t->pcap, s->ns, s->dir == TAP_DIR_IN,
				    s->data, s->caplen, s->len);
			t->written++;
			tap_ring_pop(r);
		}
	}
	if (t->written != before)
		pcapw_flush(t->pcap);
}

int tap_pcap_start(struct espd *d, const struct cmd *c, char *err,
		   size_t errlen)
{
	struct tap_state *t = &d->tap;
	const struct cmd_tap *a = &c->tap;
	char why[CMD_ERR_MAX - 64];
	int ret;

	if (t->pcap) {
		snprintf(err, errlen, "pcap start: already writing %s (pcap "
			 "stop first)", t->path);
		return -EBUSY;
	}
	t->snaplen = a->snaplen;
	t->pcap = pcapw_open(a->path, t->snaplen, why, sizeof(why));
	if (!t->pcap) {
		snprintf(err, errlen, "pcap start: %s", why);
		return -EINVAL;
	}
	t->pcap_rings = rings_new(d->nworkers, TAP_PCAP_RING,
				  (TAP_PKT_SLOT(t->snaplen) + 7) & ~7u);
	if (!t->pcap_rings) {
		pcapw_close(t->pcap);
		t->pcap = NULL;
		snprintf(err, errlen, "pcap start: out of memory");
		return -ENOMEM;
	}
	snprintf(t->path, sizeof(t->path), "%s", a->path);
	t->written = 0;
	t->lost_base = pcap_lost_sum(d);
	t->pcap_flags = a->dir == TAP_DIR_IN ? TAP_PCAP_IN :
			a->dir == TAP_DIR_OUT ? TAP_PCAP_OUT :
			TAP_PCAP_IN | TAP_PCAP_OUT;
	ret = publish(d);
	if (ret) {
		t->pcap_flags = 0;
		tap_pcap_stop(d, NULL, NULL, 0);
		snprintf(err, errlen, "pcap start: out of memory");
		return ret;
	}
	log_info("pcap: writing %s (%s, snaplen %u)", t->path,
		 a->dir == TAP_DIR_IN ? "in" : a->dir == TAP_DIR_OUT ? "out" :
		 "both", t->snaplen);
	return 0;
}

int tap_pcap_stop(struct espd *d, const char *path, char *msg, size_t len)
{
	struct tap_state *t = &d->tap;
	uint64_t lost;
	bool all;

	if (!t->pcap) {
		if (msg)
			snprintf(msg, len, "pcap stop: no capture is running");
		return -ENOENT;
	}
	if (path && *path && strcmp(path, t->path)) {
		if (msg)
			snprintf(msg, len, "pcap stop: %s is not being written "
				 "(%s is)", path, t->path);
		return -ENOENT;
	}
	t->pcap_flags = 0;
	publish(d);
	all = grace_wait(d, 1000);
	pcap_drain(d); /* what the workers wrote before they let go */
	lost = pcap_lost_sum(d) - t->lost_base;
	pcapw_close(t->pcap);
	rings_retire(d, t->pcap_rings);
	t->pcap_rings = NULL;
	t->pcap = NULL;
	log_info("pcap: %s closed, %" PRIu64 " packets, %" PRIu64 " lost%s",
		 t->path, t->written, lost, all ? "" : "; a worker made no "
		 "progress for 1 s: its last packets are not in the file");
	if (msg)
		snprintf(msg, len, "%s: %" PRIu64 " packets written, %" PRIu64
			 " lost (pcap ring full)%s\n", t->path, t->written, lost,
			 all ? "" : "; a worker made no progress for 1 s: its "
			 "last packets are not in the file");
	return 0;
}

/* ---- the control loop ---- */

void tap_poll(struct espd *d, uint64_t now_ms)
{
	struct tap_state *t = &d->tap;

	if (t->pcap_flags)
		pcap_drain(d);
	if (t->trace_fd >= 0)
		trace_drain(d, now_ms);
}

int tap_timeout_ms(const struct espd *d)
{
	return d->tap.cur ? TAP_POLL_MS : -1;
}

void tap_close(struct espd *d)
{
	tap_trace_stop(d);
	tap_pcap_stop(d, NULL, NULL, 0);
}
