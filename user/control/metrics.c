// SPDX-License-Identifier: GPL-2.0
/*
 * metrics: the Prometheus endpoint (see metrics.h for why it runs on the
 * control thread). What a scrape says, family by family:
 *
 *   espresso_build_info{version} 1
 *   espresso_tables_version, espresso_tunnels, espresso_inbound_sas,
 *   espresso_routes, espresso_epoch_pending             gauges, as show stats
 *   espresso_xdp_<counter>_total                        one per XDP counter
 *   espresso_queue_info{queue,mode} 1
 *   espresso_queue_<counter>_total{queue}               one per queue_stats field
 *   espresso_queue_gro_{merged,written}_total{queue}
 *   espresso_queue_reasm_<counter>_total{queue}, espresso_queue_reasm_memory_bytes
 *   espresso_queue_drops_total{queue,reason}            every reason, zeros too
 *   espresso_queue_xsk_kernel_drops_total{queue,kind}   XDP_STATISTICS
 *   espresso_queue_xsk_tx_ring_empty_total{queue}       its one that is no drop
 *   espresso_tunnel_sas{tunnel}
 *   espresso_tunnel_last_packet_seconds{tunnel,dir}     only once there was one
 *   espresso_sa_packets_total, espresso_sa_bytes_total{tunnel,spi,dir}
 *   espresso_sa_errors_total{tunnel,spi,dir,reason}     non-zero reasons only
 *   espresso_sa_seq, espresso_sa_seq_exhausted{...,dir="out"}
 *   espresso_sa_replay_top{...,dir="in"}
 *   espresso_sa_age_seconds{tunnel,spi,dir}
 *
 * The XDP counters are one metric each rather than one metric with a
 * verdict label: they are not a partition of anything (rx_packets counts
 * every frame, a frame counted redirect_esp is counted drop_meta too when
 * its metadata cannot be written), so sum() over a label would mean
 * nothing; and the names stay those of show xdp and bpftool.
 *
 * The body is built whole in memory (open_memstream) and handed to
 * libmicrohttpd, which frees it: about 660 bytes per tunnel with an SA
 * pair, 6.6 MB for 10,000 tunnels.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_xdp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "control/daemon.h"
#include "control/metrics.h"
#include "lib/log.h"

#ifndef ESPRESSO_VERSION
#define ESPRESSO_VERSION "unknown"
#endif

#define METRICS_CONN_MAX 16  /* scrapers at once */
#define METRICS_TIMEOUT_S 10 /* an idle connection is closed after it */
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A counter one worker writes and this thread reads: one aligned load. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct metrics {
	struct MHD_Daemon *mhd;
	int fd; /* MHD's epoll fd */
	struct espd *d;
};

/* struct queue_stats as metrics (the comments of core/stats.h). */
#define QUEUE_COUNTERS(X)                                                     \
	X(rx_frames, "frames taken from the XSK RX ring")                    \
	X(rx_bytes, "bytes of the frames taken from the XSK RX ring")        \
	X(rx_decrypted, "inner packets written to the tun")                  \
	X(tun_rx, "packets read from the tun")                               \
	X(tun_tx, "packets written to the tun (a GRO-merged one once)")      \
	X(tx_frames, "ESP frames put on the XSK TX ring")                    \
	X(tx_bytes, "bytes of the ESP frames put on the XSK TX ring")        \
	X(tx_completed, "frames back from the completion ring")              \
	X(wakeups, "sendto() kicks for need_wakeup")                         \
	X(neigh_held, "packets held while their next hop resolved")          \
	X(neigh_released, "held packets sent once their next hop resolved")  \
	X(gso_super, "super-packets read from the tun")                      \
	X(gso_segments, "packets made from super-packets (and inner fragments)") \
	X(frag_out, "outer fragments sent")                                  \
	X(icmp_sent, "fragmentation needed / packet too big sent to the host") \
	X(mss_clamped, "TCP SYNs whose MSS was lowered")                     \
	X(rx_reassembled, "ESP packets completed from outer fragments")      \
	X(handoff_out, "frames handed to the worker owning their SA")        \
	X(handoff_in, "frames taken from other workers")                     \
	X(polls, "poll() sleeps when idle")                                  \
	X(trace_lost, "trace records lost to a full trace ring")             \
	X(pcap_lost, "packet copies lost to a full pcap ring")             \
	X(lan_rx, "plaintext frames taken from LAN XSKs (router mode)")     \
	X(lan_rx_bytes, "bytes of the frames taken from LAN XSKs")          \
	X(lan_tx, "decrypted packets sent on LAN XSKs")                     \
	X(lan_tx_bytes, "bytes of the packets sent on LAN XSKs")            \
	X(lan_held, "packets held while a LAN host's MAC resolved")         \
	X(lan_released, "held packets sent once the LAN host's MAC resolved") \
	X(lan_icmp, "ICMP errors sent as a router (time exceeded, frag needed)")

#define ONE(name, help) +1
enum { QUEUE_NCOUNTERS = 0 QUEUE_COUNTERS(ONE) };
#undef ONE
/* A counter added to struct queue_stats must be added above too. */
_Static_assert(offsetof(struct queue_stats, drops) ==
		       QUEUE_NCOUNTERS * sizeof(uint64_t),
	       "QUEUE_COUNTERS does not list every queue_stats counter");

/* The drops of XDP_STATISTICS (an older kernel fills only the first 3).
 * Its tx_ring_empty_descs is no drop (the kernel, woken, found nothing to
 * send): a metric of its own. */
#define XSK_OFF(f) offsetof(struct xdp_statistics, f)
static const struct {
	const char *kind;
	size_t off;
} xsk_kinds[] = {
	{ "rx_dropped", XSK_OFF(rx_dropped) },
	{ "rx_invalid_descs", XSK_OFF(rx_invalid_descs) },
	{ "tx_invalid_descs", XSK_OFF(tx_invalid_descs) },
	{ "rx_ring_full", XSK_OFF(rx_ring_full) },
	{ "rx_fill_ring_empty", XSK_OFF(rx_fill_ring_empty_descs) },
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* as sa.c's created_ms */
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* ---- the text format ---- */

/* A label value: backslash, double quote and newline escaped. */
static const char *esc(char *dst, size_t n, const char *s)
{
	size_t i = 0;

	for (; *s && i + 3 < n; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			dst[i++] = '\\';
			dst[i++] = *s == '\n' ? 'n' : *s;
		} else {
			dst[i++] = *s;
		}
	}
	dst[i] = '\0';
	return dst;
}

/* # HELP (backslash and newline escaped) and # TYPE of a family. */
static void head(FILE *f, const char *name, const char *type,
		 const char *help)
{
	fprintf(f, "# HELP %s ", name);
	for (; *help; help++) {
		if (*help == '\\')
			fputs("\\\\", f);
		else if (*help == '\n')
			fputs("\\n", f);
		else
			fputc(*help, f);
	}
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* seconds from then to now, to the millisecond; 0 if the clocks disagree */
static double secs(uint64_t now_ms, uint64_t then_ms)
{
	return now_ms > then_ms ? (now_ms - then_ms) / 1000.0 : 0;
}

/* ---- families ---- */

static void put_daemon(FILE *f, struct espd *d)
{
	char v[128];

	head(f, "espresso_build_info", "gauge",
	     "the espressod build: 1, its version in the label");
	fprintf(f, "espresso_build_info{version=\"%s\"} 1\n",
		esc(v, sizeof(v), ESPRESSO_VERSION));
	gauge(f, "espresso_tables_version",
	      "table versions published since the start", d->live.gen);
	gauge(f, "espresso_tunnels", "tunnels", d->live.tun_count);
	gauge(f, "espresso_inbound_sas", "inbound SAs (not counting dying ones)",
	      d->live.sa_count);
	gauge(f, "espresso_routes", "protected prefixes", d->live.nroutes);
	gauge(f, "espresso_epoch_pending",
	      "retired table versions, SAs and tunnels waiting for every "
	      "worker to pass a quiescent point",
	      epoch_pending(&d->live.epoch));
}

static void put_xdp(FILE *f, struct espd *d)
{
	struct espresso_xdp_stats x;

	if (bpfload_read_stats(&d->bpf, &x)) {
		log_rl(LOG_LVL_WARN, 60, "metrics: cannot read the XDP "
		       "counters: left out of the scrape");
		return;
	}
#define X(name, help)                                                         \
	head(f, "espresso_xdp_" #name "_total", "counter", "XDP: " help);    \
	fprintf(f, "espresso_xdp_" #name "_total %llu\n",                    \
		(unsigned long long)x.name);
	ESPRESSO_XDP_COUNTERS(X)
#undef X
}

static void put_xsk(FILE *f, struct espd *d)
{
	struct xdp_statistics x[CFG_MAX_QUEUES];
	socklen_t len[CFG_MAX_QUEUES];
	size_t k;
	int q;

	for (q = 0; q < d->nworkers && q < CFG_MAX_QUEUES; q++) {
		len[q] = sizeof(x[q]);
		if (getsockopt(d->workers[q].port.fd, SOL_XDP, XDP_STATISTICS,
			       &x[q], &len[q]))
			len[q] = 0;
	}
	head(f, "espresso_queue_xsk_kernel_drops_total", "counter",
	     "AF_XDP socket: what the kernel dropped or refused "
	     "(XDP_STATISTICS), by kind");
	for (q = 0; q < d->nworkers && q < CFG_MAX_QUEUES; q++) {
		for (k = 0; k < sizeof(xsk_kinds) / sizeof(xsk_kinds[0]); k++) {
			uint64_t v;

			if (xsk_kinds[k].off + sizeof(v) > len[q])
				continue;
			memcpy(&v, (char *)&x[q] + xsk_kinds[k].off, sizeof(v));
			fprintf(f, "espresso_queue_xsk_kernel_drops_total"
				"{queue=\"%d\",kind=\"%s\"} %" PRIu64 "\n", q,
				xsk_kinds[k].kind, v);
		}
	}
	head(f, "espresso_queue_xsk_tx_ring_empty_total", "counter",
	     "AF_XDP socket: times the kernel, woken to send, found the TX "
	     "ring empty (XDP_STATISTICS; not a drop)");
	for (q = 0; q < d->nworkers && q < CFG_MAX_QUEUES; q++)
		if (XSK_OFF(tx_ring_empty_descs) + sizeof(uint64_t) <= len[q])
			fprintf(f, "espresso_queue_xsk_tx_ring_empty_total"
				"{queue=\"%d\"} %llu\n", q,
				(unsigned long long)x[q].tx_ring_empty_descs);
}

static void put_queues(FILE *f, struct espd *d)
{
	int q, i;

	head(f, "espresso_queue_info", "gauge",
	     "1 per queue, its AF_XDP mode in the label");
	for (q = 0; q < d->nworkers; q++)
		fprintf(f, "espresso_queue_info{queue=\"%d\",mode=\"%s\"} 1\n",
			q, d->workers[q].port.zerocopy ? "zerocopy" : "copy");
#define X(name, help)                                                         \
	head(f, "espresso_queue_" #name "_total", "counter", help);          \
	for (q = 0; q < d->nworkers; q++)                                     \
		fprintf(f, "espresso_queue_" #name "_total{queue=\"%d\"} %"  \
			PRIu64 "\n", q, LOAD(d->workers[q].st.name));
	QUEUE_COUNTERS(X)
#undef X
#define X(name, help)                                                         \
	head(f, "espresso_queue_gro_" #name "_total", "counter", help);      \
	for (q = 0; q < d->nworkers; q++)                                     \
		fprintf(f, "espresso_queue_gro_" #name "_total{queue=\"%d\"} %" \
			PRIu64 "\n", q, LOAD(d->workers[q].gro.st.name));
	X(merged, "segments merged into another on the way to the tun")
	X(written, "packets written to the tun by GRO (merged or not)")
#undef X
#define X(name, help)                                                         \
	head(f, "espresso_queue_reasm_" #name "_total", "counter",           \
	     "outer reassembly: " help);                                      \
	for (q = 0; q < d->nworkers; q++)                                     \
		if (d->workers[q].reasm)                                      \
			fprintf(f, "espresso_queue_reasm_" #name              \
				"_total{queue=\"%d\"} %" PRIu64 "\n", q,      \
				LOAD(reasm_stats(d->workers[q].reasm)->name));
	REASM_COUNTERS(X)
#undef X
	head(f, "espresso_queue_reasm_memory_bytes", "gauge",
	     "outer reassembly: bytes held for incomplete packets");
	for (q = 0; q < d->nworkers; q++)
		if (d->workers[q].reasm)
			fprintf(f, "espresso_queue_reasm_memory_bytes"
				"{queue=\"%d\"} %zu\n", q,
				reasm_mem(d->workers[q].reasm));
	head(f, "espresso_queue_drops_total", "counter",
	     "packets a worker dropped, by reason (core/stats.h)");
	for (q = 0; q < d->nworkers; q++)
		for (i = 1; i < DROP_MAX; i++)
			fprintf(f, "espresso_queue_drops_total{queue=\"%d\","
				"reason=\"%s\"} %" PRIu64 "\n", q,
				stats_drop_names[i],
				LOAD(d->workers[q].st.drops[i]));
	put_xsk(f, d);
}

/* An SA's counters, added up over the workers. */
struct sa_count {
	uint64_t packets, bytes, last_ms;
	uint64_t errors[DROP_MAX];
};

static void sa_count(const struct sa *sa, struct sa_count *c)
{
	int q, i;

	memset(c, 0, sizeof(*c));
	for (q = 0; q < sa->nworkers; q++) {
		const struct sa_worker *w = &sa->pw[q];
		uint64_t last = LOAD(w->last_ms);

		c->packets += LOAD(w->packets);
		c->bytes += LOAD(w->bytes);
		if (last > c->last_ms)
			c->last_ms = last;
		for (i = 0; i < DROP_MAX; i++)
			c->errors[i] += LOAD(w->errors[i]);
	}
}

static uint64_t sa_last_ms(const struct sa *sa)
{
	uint64_t m = 0, v;
	int q;

	for (q = 0; q < sa->nworkers; q++) {
		v = LOAD(sa->pw[q].last_ms);
		if (v > m)
			m = v;
	}
	return m;
}

static void put_tunnels(FILE *f, struct espd *d, uint64_t now)
{
	struct live *l = &d->live;
	char name[96];
	uint32_t i;
	int p;

	head(f, "espresso_tunnel_sas", "gauge",
	     "SAs of the tunnel: outbound (one per pair) and inbound");
	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];
		int n;

		if (!t)
			continue;
		n = t->nin;
		for (p = 0; p < t->npairs; p++)
			n += atomic_load(&t->out[p]) != NULL;
		fprintf(f, "espresso_tunnel_sas{tunnel=\"%s\"} %d\n",
			esc(name, sizeof(name), t->name), n);
	}
	head(f, "espresso_tunnel_last_packet_seconds", "gauge",
	     "seconds since the tunnel's SAs last carried a packet, by "
	     "direction (absent: none yet)");
	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];
		uint64_t in = 0, out = 0, v;

		if (!t)
			continue;
		for (p = 0; p < t->npairs; p++) {
			struct sa *sa = atomic_load(&t->out[p]);

			if (sa && (v = sa_last_ms(sa)) > out)
				out = v;
		}
		for (p = 0; p < t->nin; p++)
			if ((v = sa_last_ms(t->in[p])) > in)
				in = v;
		esc(name, sizeof(name), t->name);
		if (in)
			fprintf(f, "espresso_tunnel_last_packet_seconds"
				"{tunnel=\"%s\",dir=\"in\"} %.3f\n", name,
				secs(now, in));
		if (out)
			fprintf(f, "espresso_tunnel_last_packet_seconds"
				"{tunnel=\"%s\",dir=\"out\"} %.3f\n", name,
				secs(now, out));
	}
}

/* The SA families, each in a buffer of its own: one pass over the SAs. */
enum { F_PACKETS, F_BYTES, F_ERRORS, F_SEQ, F_EXHAUSTED, F_REPLAY, F_AGE,
       F_N };

static const struct {
	const char *name, *type, *help;
} sa_fam[F_N] = {
	[F_PACKETS] = { "espresso_sa_packets_total", "counter",
			"packets the SA carried (out: encrypted, in: decrypted "
			"and accepted)" },
	[F_BYTES] = { "espresso_sa_bytes_total", "counter",
		      "bytes the SA carried" },
	[F_ERRORS] = { "espresso_sa_errors_total", "counter",
		       "packets of the SA dropped, by reason (only reasons "
		       "that happened)" },
	[F_SEQ] = { "espresso_sa_seq", "gauge",
		    "outbound SA: the last sequence number sent" },
	[F_EXHAUSTED] = { "espresso_sa_seq_exhausted", "gauge",
			  "outbound SA: 1 when its sequence numbers are used "
			  "up (it sends no more: it needs a new SA)" },
	[F_REPLAY] = { "espresso_sa_replay_top", "gauge",
		       "inbound SA: the highest sequence number received" },
	[F_AGE] = { "espresso_sa_age_seconds", "gauge",
		    "seconds since the SA was added" },
};

struct sa_pass {
	FILE *f[F_N];
	char *buf[F_N];
	size_t len[F_N];
	uint64_t now;
};

static void put_sa(void *arg, struct sa *sa)
{
	struct sa_pass *p = arg;
	char name[96], lab[160];
	struct sa_count c;
	int i;

	sa_count(sa, &c);
	snprintf(lab, sizeof(lab), "tunnel=\"%s\",spi=\"0x%08x\",dir=\"%s\"",
		 esc(name, sizeof(name), sa->tunnel->name), sa->spi,
		 sa->dir == SA_IN ? "in" : "out");
	fprintf(p->f[F_PACKETS], "espresso_sa_packets_total{%s} %" PRIu64 "\n",
		lab, c.packets);
	fprintf(p->f[F_BYTES], "espresso_sa_bytes_total{%s} %" PRIu64 "\n",
		lab, c.bytes);
	for (i = 1; i < DROP_MAX; i++)
		if (c.errors[i])
			fprintf(p->f[F_ERRORS], "espresso_sa_errors_total{%s,"
				"reason=\"%s\"} %" PRIu64 "\n", lab,
				stats_drop_names[i], c.errors[i]);
	if (sa->dir == SA_OUT) {
		fprintf(p->f[F_SEQ], "espresso_sa_seq{%s} %" PRIu64 "\n", lab,
			(uint64_t)atomic_load(&sa->seq));
		fprintf(p->f[F_EXHAUSTED], "espresso_sa_seq_exhausted{%s} %d\n",
			lab, atomic_load(&sa->exhausted) ? 1 : 0);
	} else {
		fprintf(p->f[F_REPLAY], "espresso_sa_replay_top{%s} %" PRIu64
			"\n", lab, (uint64_t)atomic_load(&sa->replay.top));
	}
	fprintf(p->f[F_AGE], "espresso_sa_age_seconds{%s} %.3f\n", lab,
		secs(p->now, sa->created_ms));
}

static int put_sas(FILE *f, struct espd *d, uint64_t now)
{
	struct sa_pass p = { .now = now };
	int i, ret = 0;

	for (i = 0; i < F_N; i++) {
		p.f[i] = open_memstream(&p.buf[i], &p.len[i]);
		if (!p.f[i])
			ret = -ENOMEM;
	}
	if (!ret)
		live_for_each_sa(&d->live, put_sa, &p);
	for (i = 0; i < F_N; i++) {
		if (p.f[i] && (ferror(p.f[i]) | fclose(p.f[i])))
			ret = -ENOMEM;
		if (!ret) {
			head(f, sa_fam[i].name, sa_fam[i].type, sa_fam[i].help);
			fwrite(p.buf[i], 1, p.len[i], f);
		}
		free(p.buf[i]);
	}
	return ret;
}

int metrics_write(FILE *f, struct espd *d)
{
	uint64_t now = mono_ms();
	int ret;

	put_daemon(f, d);
	put_xdp(f, d);
	put_queues(f, d);
	put_tunnels(f, d, now);
	ret = put_sas(f, d, now);
	return ret ?: ferror(f) ? -ENOMEM : 0;
}

/* ---- HTTP ---- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned int status,
			      const char *type, void *body, size_t len,
			      enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned int status,
			    const char *msg)
{
	return answer(c, status, "text/plain; charset=utf-8", (void *)msg,
		      strlen(msg), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	static int seen; /* *state after the first call of a request */
	struct metrics *m = cls;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	(void)version;
	(void)upload;
	if (!*state) { /* the headers only: answer once the body is read */
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_len) { /* a body: nothing here takes one */
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method not allowed: only GET\n");
	if (strcmp(url, "/metrics"))
		return text(c, MHD_HTTP_NOT_FOUND,
			    "not found: the metrics are at /metrics\n");
	f = open_memstream(&body, &len);
	if (!f)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	ret = metrics_write(f, m->d);
	if (fclose(f) || ret) {
		free(body);
		log_rl(LOG_LVL_WARN, 60, "metrics: out of memory for a scrape");
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return answer(c, MHD_HTTP_OK, CONTENT_TYPE, body, len,
		      MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd's messages (a bind that failed, a client that misbehaved):
 * at most one every 10 s. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_rl(LOG_LVL_WARN, 10, "metrics: %s", buf);
}

int metrics_open(struct metrics **out, struct espd *d)
{
	const struct cfg *c = &d->cfg;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct metrics *m;
	int err;

	*out = NULL;
	if (!c->metrics.enabled)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (c->metrics.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->metrics.port);
		memcpy(&s6->sin6_addr, c->metrics.addr, 16);
		flags |= MHD_USE_IPv6; /* IPv6 only: bound to that address */
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->metrics.port);
		memcpy(&s4->sin_addr, c->metrics.addr, 4);
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->d = d;
	errno = 0;
	m->mhd = MHD_start_daemon(flags, c->metrics.port, NULL, NULL,
				  on_request, m,
				  /* first: it logs what the other options say */
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)METRICS_CONN_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_END);
	info = m->mhd ? MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD)
		      : NULL;
	if (!info || info->epoll_fd < 0) {
		err = errno ? -errno : -EINVAL;
		log_err("metrics: cannot serve http://%s%s%s:%u/metrics: %s "
			"(metrics.listen and metrics.port in %s)",
			c->metrics.family == AF_INET6 ? "[" : "",
			c->metrics.listen,
			c->metrics.family == AF_INET6 ? "]" : "",
			c->metrics.port, strerror(-err), c->path);
		if (m->mhd)
			MHD_stop_daemon(m->mhd);
		free(m);
		return err;
	}
	m->fd = info->epoll_fd;
	log_info("metrics: http://%s%s%s:%u/metrics",
		 c->metrics.family == AF_INET6 ? "[" : "", c->metrics.listen,
		 c->metrics.family == AF_INET6 ? "]" : "", c->metrics.port);
	*out = m;
	return 0;
}

int metrics_fd(const struct metrics *m)
{
	return m ? m->fd : -1;
}

void metrics_serve(struct metrics *m)
{
	if (m)
		MHD_run(m->mhd);
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
