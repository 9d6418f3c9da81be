// SPDX-License-Identifier: GPL-2.0
/*
 * trace and pcap: the command parser's trace/pcap forms and their errors
 * (control/cmd.c), the text and JSON of trace records (control/tap_ctl.c
 * tap_format: one record per stage where a packet can end), and the
 * in-place SPSC ring the workers write (core/tap.h), full and wrapping.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "control/cmd.h"
#include "control/tap_ctl.h"
#include "core/stats.h"

static char line[4096], err[CMD_ERR_MAX];
static struct cmd c;

static int parse(const char *s)
{
	snprintf(line, sizeof(line), "%s", s);
	return cmd_parse(line, &c, err, sizeof(err));
}

Test(tap, trace_forms)
{
	cr_assert_eq(parse("trace 5"), 0, "%s", err);
	cr_assert_eq(c.op, CMD_TRACE);
	cr_assert_eq(c.tap.count, 5);
	cr_assert_eq(c.tap.timeout_s, CMD_TRACE_TIMEOUT);
	cr_assert(!c.tap.has_spi && !c.tap.drops && !c.tap.dir &&
		  !c.tap.tunnel[0]);
	cr_assert_eq(parse("-j trace 100000 out spi 0x1000 tunnel to-b drops "
			   "timeout 3600"), 0, "%s", err);
	cr_assert(c.json);
	cr_assert_eq(c.tap.count, 100000);
	cr_assert_eq(c.tap.dir, 2);
	cr_assert(c.tap.has_spi);
	cr_assert_eq(c.tap.spi, 0x1000);
	cr_assert_str_eq(c.tap.tunnel, "to-b");
	cr_assert(c.tap.drops);
	cr_assert_eq(c.tap.timeout_s, 3600);
	cr_assert_eq(parse("trace 1 in"), 0, "%s", err);
	cr_assert_eq(c.tap.dir, 1);
}

static void refused(const char *s, const char *msg)
{
	cr_assert_eq(parse(s), -EINVAL, "'%s' accepted", s);
	cr_assert_str_eq(err, msg, "'%s'", s);
}

Test(tap, trace_errors)
{
	refused("trace", "trace: missing N (usage: trace N [in|out] [spi SPI] "
		"[tunnel NAME] [drops] [timeout SECONDS])");
	refused("trace 0", "trace: N: 0 is out of range (1..100000)");
	refused("trace 100001", "trace: N: 100001 is out of range (1..100000)");
	refused("trace 5 sideways", "trace: unknown argument 'sideways' (valid: "
		"in, out, spi, tunnel, drops, timeout)");
	refused("trace 5 in out", "trace: in|out given twice (each argument at "
		"most once)");
	refused("trace 5 spi", "trace: spi: missing value SPI");
	refused("trace 5 timeout 0", "trace: timeout: 0 is out of range "
		"(1..3600)");
	cr_assert_eq(parse("trace 5 spi 12"), -EINVAL);
	cr_assert(!strncmp(err, "trace: spi: ", 12), "%s", err);
	cr_assert_eq(parse("trace 5 tunnel a/b"), -EINVAL);
	cr_assert(!strncmp(err, "trace: tunnel: ", 15), "%s", err);
}

Test(tap, pcap_forms_and_errors)
{
	cr_assert_eq(parse("pcap start /tmp/x.pcap"), 0, "%s", err);
	cr_assert_eq(c.op, CMD_PCAP_START);
	cr_assert_str_eq(c.tap.path, "/tmp/x.pcap");
	cr_assert_eq(c.tap.dir, 0);
	cr_assert_eq(c.tap.snaplen, CMD_SNAPLEN_MAX);
	cr_assert_eq(parse("pcap start /tmp/x.pcap snaplen 64 out"), 0, "%s",
		     err);
	cr_assert_eq(c.tap.dir, 2);
	cr_assert_eq(c.tap.snaplen, 64);
	cr_assert_eq(parse("pcap stop"), 0, "%s", err);
	cr_assert_eq(c.op, CMD_PCAP_STOP);
	refused("pcap start", "pcap start: missing FILE (usage: pcap start FILE "
		"[in|out|both] [snaplen N])");
	refused("pcap start x.pcap", "pcap start: FILE: 'x.pcap' is not an "
		"absolute path (espressod does not share your working "
		"directory)");
	refused("pcap start /x in out", "pcap start: direction given twice "
		"(each argument at most once)");
	refused("pcap start /x snaplen 63", "pcap start: snaplen: 63 is out of "
		"range (64..2048)");
	cr_assert_eq(parse("pcap stop /tmp/x.pcap"), 0, "%s", err);
	cr_assert_str_eq(c.tap.path, "/tmp/x.pcap");
	refused("pcap stop /x now", "pcap stop: unexpected argument 'now' "
		"(usage: pcap stop [FILE])");
	refused("pcap stop now", "pcap stop: FILE: 'now' is not an absolute "
		"path (espressod does not share your working directory)");
	refused("pcap go", "pcap: unknown subcommand 'go'; one of start, stop");
}

/* ---- records ---- */

static const uint8_t icmp4[28] = {
	0x45, 0, 0, 84, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1,
	8, 0, 0, 0, 0x12, 0x34, 0, 7,
};

static struct tap_trace rx_rec(int drop)
{
	struct tap_trace r = {
		.ns = 1700000000123456789ull, .seq = 42, .spi = 0x1000,
		.drop = (int16_t)drop, .dir = TAP_DIR_IN, .len = 154,
		.inner_len = 84, .flags = TAP_F_OUTER | TAP_F_INNER,
		.hdr_len = sizeof(icmp4),
	};

	inet_pton(AF_INET, "192.0.2.1", &r.outer_src);
	inet_pton(AF_INET, "192.0.2.2", &r.outer_dst);
	strcpy(r.tunnel, "to-b");
	memcpy(r.hdr, icmp4, sizeof(icmp4));
	return r;
}

static const char *fmt(const struct tap_trace *r, bool json)
{
	static char buf[2048];
	int n = tap_format(r, json, buf, sizeof(buf));

	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(buf[n - 1], '\n');
	buf[n - 1] = '\0';
	return buf;
}

/* The text after "HH:MM:SS.uuuuuu ". */
static const char *text(const struct tap_trace *r)
{
	const char *s = fmt(r, false);

	cr_assert_eq(s[15], ' ', "%s", s);
	cr_assert_eq(strtoul(s + 9, NULL, 10), 123456, "%s", s);
	return s + 16;
}

Test(tap, format_rx)
{
	struct tap_trace r = rx_rec(0);

	cr_assert_str_eq(text(&r), "in q0: xdp redirect 192.0.2.1 > 192.0.2.2, "
			 "154 bytes | sa 0x00001000 tunnel to-b seq 42 | crypto "
			 "ok | inner 10.1.0.1 > 10.2.0.1 icmp echo-request id "
			 "4660 seq 7, 84 bytes | route ok | out tun");
	r = rx_rec(DROP_rx_replay);
	cr_assert_str_eq(text(&r), "in q0: xdp redirect 192.0.2.1 > 192.0.2.2, "
			 "154 bytes | sa 0x00001000 tunnel to-b seq 42 | DROP "
			 "rx_replay: sequence number already received");
	r = rx_rec(DROP_rx_auth);
	r.flags &= ~TAP_F_INNER;
	cr_assert(strstr(text(&r), "seq 42 | DROP rx_auth: ICV did not verify"));
	r = rx_rec(DROP_rx_inner_src);
	cr_assert(strstr(text(&r), "84 bytes | DROP rx_inner_src: inner source "
			 "outside the tunnel's routes"));
	r = rx_rec(DROP_rx_no_sa);
	cr_assert(strstr(text(&r), "| sa 0x00001000 unknown | DROP rx_no_sa"));
	r = rx_rec(0);
	r.flags |= TAP_F_HANDED;
	r.owner = 1;
	r.seq = 0;
	cr_assert(strstr(text(&r), "| sa 0x00001000 tunnel to-b | out handoff "
			 "to q1"), "%s", text(&r));
	r = rx_rec(0);
	r.flags = TAP_F_FRAG | TAP_F_OUTER;
	cr_assert(strstr(text(&r), "xdp fragment 192.0.2.1 > 192.0.2.2, 154 "
			 "bytes | out reassembly"));
	r = rx_rec(0);
	r.worker = 1;
	r.from = 0;
	cr_assert(!strncmp(text(&r), "in q1 (from q0): ", 17));
}

Test(tap, format_tx)
{
	struct tap_trace r = rx_rec(0);

	r.dir = TAP_DIR_OUT;
	r.flags = TAP_F_INNER;
	r.len = 84;
	memcpy(r.mac, "\x02\x00\x00\x00\x00\x0b", 6);
	cr_assert_str_eq(text(&r), "out q0: tun 84 bytes | inner 10.1.0.1 > "
			 "10.2.0.1 icmp echo-request id 4660 seq 7, 84 bytes | "
			 "route to-b | sa 0x00001000 seq 42 | crypto ok | "
			 "nexthop 02:00:00:00:00:0b | out uplink");
	r.flags |= TAP_F_HELD;
	cr_assert(strstr(text(&r), "route to-b | nexthop unresolved | out held"));
	r.flags = TAP_F_INNER;
	r.drop = DROP_tx_no_route;
	cr_assert(strstr(text(&r), "84 bytes | DROP tx_no_route: no tunnel for "
			 "the destination"));
	r.drop = DROP_tx_no_sa;
	cr_assert(strstr(text(&r), "route to-b | DROP tx_no_sa"));
}

Test(tap, format_json)
{
	struct tap_trace r = rx_rec(DROP_rx_inner_dst);
	struct json_object *o = json_tokener_parse(fmt(&r, true)), *v, *in;

	cr_assert(o);
	cr_assert(json_object_object_get_ex(o, "drop", &v));
	cr_assert_str_eq(json_object_get_string(v), "rx_inner_dst");
	cr_assert(json_object_object_get_ex(o, "spi", &v));
	cr_assert_str_eq(json_object_get_string(v), "0x00001000");
	cr_assert(json_object_object_get_ex(o, "inner", &in));
	cr_assert(json_object_object_get_ex(in, "icmp_seq", &v));
	cr_assert_eq(json_object_get_int(v), 7);
	cr_assert(!json_object_object_get_ex(o, "out", &v));
	json_object_put(o);
}

/* A short, unparsable or odd inner header never reads past hdr_len. */
Test(tap, format_short_headers)
{
	struct tap_trace r = rx_rec(0);
	unsigned int n;

	for (n = 0; n <= sizeof(icmp4); n++) {
		r.hdr_len = n;
		cr_assert(strstr(text(&r), "| route ok | out tun"));
	}
	r.hdr_len = 1;
	cr_assert(strstr(text(&r), "| inner 84 bytes |"));
	memset(r.hdr, 0, sizeof(r.hdr));
	r.hdr[0] = 0x60;
	r.hdr_len = 40;
	cr_assert(strstr(text(&r), "| inner :: > :: proto 0, 84 bytes |"),
		  "%s", text(&r));
}

Test(tap, ring_full_and_wrapping)
{
	struct spsc_ring r;
	unsigned int i, k = 0;
	uint32_t *s;

	cr_assert_eq(spsc_init(&r, 4, sizeof(uint32_t)), 0);
	for (i = 0; i < 4; i++) {
		s = tap_ring_slot(&r);
		cr_assert(s);
		*s = i;
		tap_ring_push(&r);
	}
	cr_assert_null(tap_ring_slot(&r));
	for (i = 0; i < 1000; i++) {
		s = tap_ring_peek(&r);
		cr_assert(s);
		cr_assert_eq(*s, k++);
		tap_ring_pop(&r);
		s = tap_ring_slot(&r);
		cr_assert(s);
		*s = i + 4;
		tap_ring_push(&r);
	}
	cr_assert_eq(spsc_count(&r), 4);
	spsc_free(&r);
}
