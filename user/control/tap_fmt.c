// SPDX-License-Identifier: GPL-2.0
/*
 * tap_fmt: a trace record (core/tap.h) as the line espressoctl trace
 * prints, or its JSON object. The record holds raw fields; the stages a
 * packet passed follow from where it ended (its drop reason and flags), so
 * the worker writes no more than it knows at the end of its burst.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "control/tap_ctl.h"
#include "core/stats.h"

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
