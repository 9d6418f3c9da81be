// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/proto/frag.c: IPv4 fragmentation, ICMP "fragmentation
 * needed" / ICMPv6 "packet too big" and TCP MSS clamping.
 *
 * Checksums are verified with a reference implementation written here
 * (plain big-endian 16-bit words), not with user/proto/csum.c. The ICMP answers
 * are also parsed and rebuilt by scapy (/usr/bin/python3) when it is there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "proto/frag.h"
#include "refcsum.h"

#define MAXF 1024
#define FSZ 4096

/* ---- reference checksum (refcsum.h) ---- */

/* The checksum to store (host order value of the big-endian field). */
static uint16_t ref_csum(uint32_t s, const uint8_t *p, size_t n)
{
	return (uint16_t)~ref_fold(ref_add(s, p, n));
}

static bool ref_ok(uint32_t s, const uint8_t *p, size_t n)
{
	return ref_fold(ref_add(s, p, n)) == 0xffff;
}

static uint32_t ref_pseudo4(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	return ref_add(0, ip + 12, 8) + proto + (uint32_t)l4len;
}

static uint32_t ref_pseudo6(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	return ref_add(0, ip + 8, 32) + proto + (uint32_t)(l4len >> 16) +
	       (uint32_t)(l4len & 0xffff);
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void set_ip4_csum(uint8_t *ip)
{
	size_t hlen = (ip[0] & 0xf) * 4u;

	p16(ip + 10, 0);
	p16(ip + 10, ref_csum(0, ip, hlen));
}

/* ---- packet builders ---- */

/* LSRR (copied, 7 bytes), record route (not copied, 7), NOP, EOL. */
static const uint8_t opts16[16] = {
	0x83, 7, 4, 10, 0, 0, 1,
	0x07, 7, 4, 0, 0, 0, 0,
	0x01, 0x00,
};
/* What the later fragments carry: LSRR padded with EOL. */
static const uint8_t opts16_later[8] = { 0x83, 7, 4, 10, 0, 0, 1, 0 };

static size_t build_ip4(uint8_t *b, size_t tot, const uint8_t *opts,
			size_t olen, uint8_t proto, uint16_t fo)
{
	size_t hlen = 20 + olen, i;

	memset(b, 0, hlen);
	b[0] = 0x40 | (uint8_t)(hlen / 4);
	b[1] = 0x28;
	p16(b + 2, (uint16_t)tot);
	p16(b + 4, 0xbeef);
	p16(b + 6, fo);
	b[8] = 61;
	b[9] = proto;
	b[12] = 10; b[13] = 0; b[14] = 0; b[15] = 2;
	b[16] = 192; b[17] = 0; b[18] = 2; b[19] = 9;
	if (olen)
		memcpy(b + 20, opts, olen);
	for (i = hlen; i < tot; i++)
		b[i] = (uint8_t)(i * 7 + 3 + i / 251);
	set_ip4_csum(b);
	return tot;
}

/* ---- fragment collector ---- */

struct coll {
	size_t n;
	int fail_at; /* return -EIO for this fragment index, -1 never */
	size_t len[MAXF];
	size_t hlen[MAXF];
	uint8_t data[MAXF][FSZ];
};

static struct coll C;

static int collect(void *arg, const uint8_t *hdr, size_t hlen,
		   const uint8_t *pl, size_t plen)
{
	struct coll *c = arg;

	if ((int)c->n == c->fail_at)
		return -EIO;
	cr_assert_lt(c->n, MAXF);
	cr_assert_leq(hlen + plen, FSZ);
	memcpy(c->data[c->n], hdr, hlen);
	memcpy(c->data[c->n] + hlen, pl, plen);
	c->hlen[c->n] = hlen;
	c->len[c->n] = hlen + plen;
	c->n++;
	return 0;
}

static void coll_reset(void)
{
	C.n = 0;
	C.fail_at = -1;
}

/*
 * Check the fragments in C of orig (a packet or a fragment) cut at mtu:
 * headers, checksums, offsets from the original base, MF, sizes, options;
 * and that the payloads put back by offset give orig's payload.
 */
static void check_frags(const uint8_t *orig, unsigned int mtu,
			const uint8_t *later_opts, size_t later_olen)
{
	size_t ohlen = (orig[0] & 0xf) * 4u, otot = g16(orig + 2);
	size_t opl = otot - ohlen, base = (g16(orig + 6) & 0x1fff) * 8u;
	bool omf = g16(orig + 6) & 0x2000;
	static uint8_t back[65536];
	size_t i, next = base, got = 0;

	cr_assert_gt(C.n, 1);
	memset(back, 0xaa, sizeof(back));
	for (i = 0; i < C.n; i++) {
		const uint8_t *f = C.data[i];
		size_t hl = (f[0] & 0xf) * 4u, tot = g16(f + 2), pl, off;
		uint16_t fo = g16(f + 6);

		cr_assert_eq(f[0] >> 4, 4);
		cr_assert_eq(hl, C.hlen[i]);
		cr_assert_eq(tot, C.len[i], "frag %zu tot_len", i);
		cr_assert_leq(tot, mtu, "frag %zu: %zu > mtu %u", i, tot, mtu);
		cr_assert(ref_ok(0, f, hl), "frag %zu header checksum", i);
		cr_assert_eq(f[1], orig[1]);
		cr_assert_eq(memcmp(f + 4, orig + 4, 2), 0, "id");
		cr_assert_eq(f[8], orig[8], "ttl");
		cr_assert_eq(f[9], orig[9], "proto");
		cr_assert_eq(memcmp(f + 12, orig + 12, 8), 0, "addresses");
		cr_assert_eq(fo & 0xc000, 0, "DF/reserved must be clear");
		off = (fo & 0x1fff) * 8u;
		cr_assert_eq(off, next, "frag %zu offset %zu want %zu", i, off,
			     next);
		if (i + 1 < C.n)
			cr_assert(fo & 0x2000, "frag %zu MF", i);
		else
			cr_assert_eq(!!(fo & 0x2000), omf, "last MF");
		if (i == 0) {
			cr_assert_eq(hl, ohlen);
			cr_assert_eq(memcmp(f + 20, orig + 20, hl - 20), 0,
				     "first fragment: all options");
		} else {
			cr_assert_eq(hl, 20 + later_olen, "frag %zu hlen", i);
			if (later_olen)
				cr_assert_eq(memcmp(f + 20, later_opts,
						    later_olen), 0,
					     "frag %zu: copied options", i);
		}
		pl = tot - hl;
		if (i + 1 < C.n)
			cr_assert_eq(pl, (mtu - hl) / 8 * 8, "frag %zu size",
				     i);
		else
			cr_assert_gt(pl, 0);
		memcpy(back + off - base, f + hl, pl);
		next = off + pl;
		got += pl;
	}
	cr_assert_eq(got, opl);
	cr_assert_eq(memcmp(back, orig + ohlen, opl), 0, "payload");
}

static uint8_t P[65536];

static void frag_case(size_t tot, const uint8_t *opts, size_t olen,
		      const uint8_t *lopts, size_t lolen, unsigned int mtu)
{
	int n;

	build_ip4(P, tot, opts, olen, 6, 0x4000);
	coll_reset();
	n = frag_ip4(P, tot, mtu, collect, &C);
	cr_assert_eq(n, (int)C.n, "returned %d, emitted %zu", n, C.n);
	check_frags(P, mtu, lopts, lolen);
}

Test(frag_ip4, plain_1400)
{
	frag_case(4000, NULL, 0, NULL, 0, 1400);
	cr_assert_eq(C.n, 3);
	cr_assert_eq(C.len[0], 1396);
	cr_assert_eq(C.len[2], 4000 - 2 * 1376);
}

Test(frag_ip4, plain_576)
{
	frag_case(4000, NULL, 0, NULL, 0, 576);
	cr_assert_eq(C.n, 8); /* 552 per fragment */
}

Test(frag_ip4, options_1400)
{
	frag_case(4000, opts16, 16, opts16_later, 8, 1400);
	cr_assert_eq(C.hlen[0], 36);
	cr_assert_eq(C.hlen[1], 28);
}

Test(frag_ip4, options_576)
{
	frag_case(4000, opts16, 16, opts16_later, 8, 576);
}

Test(frag_ip4, options_none_copied)
{
	static const uint8_t rr[8] = { 0x07, 7, 4, 0, 0, 0, 0, 0x01 };

	frag_case(4000, rr, 8, NULL, 0, 576);
	cr_assert_eq(C.hlen[1], 20);
}

Test(frag_ip4, odd_sizes)
{
	unsigned int mtu;
	size_t tot;

	for (mtu = 68; mtu < 1600; mtu += 37)
		for (tot = mtu + 1; tot < 3000; tot += 211)
			frag_case(tot, opts16, 16, opts16_later, 8, mtu);
}

/* Fragment a fragment: keeps its offset base, MF on all but the true last. */
static void refrag(size_t idx, unsigned int mtu, bool opts)
{
	static uint8_t f[FSZ];
	size_t flen;
	int n;

	frag_case(4000, opts ? opts16 : NULL, opts ? 16 : 0,
		  opts ? opts16_later : NULL, opts ? 8 : 0, 1400);
	cr_assert_lt(idx, C.n);
	flen = C.len[idx];
	memcpy(f, C.data[idx], flen);
	coll_reset();
	n = frag_ip4(f, flen, mtu, collect, &C);
	cr_assert_gt(n, 1);
	/* the fragment's options are already just the copied ones */
	if (opts)
		check_frags(f, mtu, idx ? f + 20 : opts16_later,
			    idx ? (f[0] & 0xf) * 4u - 20 : 8);
	else
		check_frags(f, mtu, NULL, 0);
	/* its pieces carry the original payload at the original offsets */
	{
		size_t i;

		for (i = 0; i < C.n; i++) {
			const uint8_t *g = C.data[i];
			size_t hl = C.hlen[i], off = (g16(g + 6) & 0x1fff) * 8u;

			cr_assert_eq(memcmp(g + hl, P + (opts ? 36 : 20) + off,
					    C.len[i] - hl), 0);
		}
	}
}

Test(frag_ip4, refragment_middle)
{
	refrag(1, 576, false);
	cr_assert(g16(C.data[C.n - 1] + 6) & 0x2000, "middle: MF on last");
	cr_assert_eq((g16(C.data[0] + 6) & 0x1fff) * 8, 1376);
}

Test(frag_ip4, refragment_last)
{
	refrag(2, 576, false);
	cr_assert_eq(g16(C.data[C.n - 1] + 6) & 0x2000, 0);
}

Test(frag_ip4, refragment_first_with_options)
{
	refrag(0, 576, true);
}

Test(frag_ip4, refragment_later_with_options)
{
	refrag(2, 300, true);
}

Test(frag_ip4, fits)
{
	int n;

	build_ip4(P, 1400, opts16, 16, 17, 0x4000);
	coll_reset();
	n = frag_ip4(P, 1400, 1400, collect, &C);
	cr_assert_eq(n, 1);
	cr_assert_eq(C.len[0], 1400);
	cr_assert_eq(memcmp(C.data[0], P, 1400), 0, "unchanged");
}

Test(frag_ip4, emsgsize)
{
	build_ip4(P, 4000, NULL, 0, 6, 0);
	coll_reset();
	cr_assert_eq(frag_ip4(P, 4000, 27, collect, &C), -EMSGSIZE);
	cr_assert_eq(frag_ip4(P, 4000, 0, collect, &C), -EMSGSIZE);
	cr_assert_eq(C.n, 0);
	cr_assert_eq(frag_ip4(P, 4000, 28, collect, &C), 498);
	check_frags(P, 28, NULL, 0);

	build_ip4(P, 4000, opts16, 16, 6, 0);
	coll_reset();
	cr_assert_eq(frag_ip4(P, 4000, 43, collect, &C), -EMSGSIZE);
	cr_assert_eq(C.n, 0);
	cr_assert_gt(frag_ip4(P, 4000, 44, collect, &C), 0);
	check_frags(P, 44, opts16_later, 8);
}

Test(frag_ip4, malformed)
{
	build_ip4(P, 4000, opts16, 16, 6, 0);
	coll_reset();
	cr_assert_eq(frag_ip4(P, 3999, 1400, collect, &C), -EINVAL);
	cr_assert_eq(frag_ip4(P, 19, 1400, collect, &C), -EINVAL);
	P[0] = 0x64;
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	P[0] = 0x44;
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	P[0] = 0x49;
	P[21] = 0; /* LSRR length 0 */
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	P[21] = 40; /* runs past the header */
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	P[21] = 7;
	P[35] = 0x83; /* option type in the last byte, no length */
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	p16(P + 2, 10); /* tot_len below the header */
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	/* a fragment whose end would not fit the offset field */
	build_ip4(P, 4000, NULL, 0, 6, 0x1fff - 10);
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EINVAL);
	cr_assert_eq(C.n, 0);
}

Test(frag_ip4, callback_error)
{
	build_ip4(P, 4000, NULL, 0, 6, 0);
	coll_reset();
	C.fail_at = 2;
	cr_assert_eq(frag_ip4(P, 4000, 1400, collect, &C), -EIO);
	cr_assert_eq(C.n, 2);
	coll_reset();
	C.fail_at = 0;
	cr_assert_eq(frag_ip4(P, 1000, 1400, collect, &C), -EINVAL);
	build_ip4(P, 1000, NULL, 0, 6, 0);
	cr_assert_eq(frag_ip4(P, 1000, 1400, collect, &C), -EIO);
}

/* ---- ICMP ---- */

static const uint8_t SRC4[4] = { 198, 51, 100, 1 };
static const uint8_t SRC6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

/*
 * Parse out (an ICMP answer of family fam) with scapy: type/code/MTU, the
 * quote equal to orig's first bytes, and every checksum the same after
 * scapy rebuilds the packet with the checksums deleted.
 */
static const char scapy_check[] =
	"import sys\n"
	"try:\n"
	"    from scapy.all import IP, ICMP, IPv6, ICMPv6PacketTooBig, raw\n"
	"except Exception:\n"
	"    sys.exit(77)\n"
	"fam, pkt, orig, mtu = sys.argv[1], bytes.fromhex(sys.argv[2]), "
	"bytes.fromhex(sys.argv[3]), int(sys.argv[4])\n"
	"if fam == '4':\n"
	"    p = IP(pkt)\n"
	"    assert p.version == 4 and p.ihl == 5 and p.ttl == 64, p.show()\n"
	"    assert p.proto == 1 and p.flags == 0 and p.frag == 0\n"
	"    assert p.len == len(pkt)\n"
	"    assert p.dst == '10.0.0.2' and p.src == '198.51.100.1', p.dst\n"
	"    i = p[ICMP]\n"
	"    assert i.type == 3 and i.code == 4, (i.type, i.code)\n"
	"    assert i.nexthopmtu == mtu, i.nexthopmtu\n"
	"    q = raw(i)[8:]\n"
	"    assert q == orig[:len(q)] and len(q) == (orig[0] & 15) * 4 + 8\n"
	"    r = IP(pkt)\n"
	"    del r.chksum\n"
	"    del r[ICMP].chksum\n"
	"    assert raw(r) == pkt, 'checksums differ after rebuild'\n"
	"else:\n"
	"    p = IPv6(pkt)\n"
	"    assert p.version == 6 and p.nh == 58 and p.hlim == 64\n"
	"    assert p.plen == len(pkt) - 40 and len(pkt) <= 1280\n"
	"    assert p.src == '2001:db8::1' and p.dst == '2001:db8:1::2'\n"
	"    i = p[ICMPv6PacketTooBig]\n"
	"    assert i.type == 2 and i.code == 0 and i.mtu == mtu\n"
	"    q = pkt[48:]\n"
	"    assert q == orig[:len(q)] and len(q) == min(len(orig), 1232)\n"
	"    r = IPv6(pkt)\n"
	"    del r[ICMPv6PacketTooBig].cksum\n"
	"    assert raw(r) == pkt, 'checksum differs after rebuild'\n"
	"print('SCAPY-OK')\n";

static char *hex(const uint8_t *p, size_t n)
{
	char *s = malloc(n * 2 + 1);
	size_t i;

	cr_assert_not_null(s);
	for (i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", p[i]);
	s[2 * n] = 0;
	return s;
}

static void scapy_verify(int fam, const uint8_t *pkt, size_t len,
			 const uint8_t *orig, size_t olen, unsigned long mtu)
{
	char path[] = "/tmp/test_frag_scapy_XXXXXX";
	char *hp, *ho, *cmd, line[256] = "";
	bool ok = false;
	FILE *f;
	int fd, rc;

	if (access("/usr/bin/python3", X_OK))
		cr_skip_test("no /usr/bin/python3");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, scapy_check, sizeof(scapy_check) - 1),
		     (ssize_t)sizeof(scapy_check) - 1);
	close(fd);
	hp = hex(pkt, len);
	ho = hex(orig, olen);
	cr_assert_gt(asprintf(&cmd, "/usr/bin/python3 %s %d %s %s %lu 2>&1",
			      path, fam, hp, ho, mtu), 0);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SCAPY-OK", 8))
			ok = true;
		else
			cr_log_warn("scapy: %s", line);
	}
	rc = pclose(f);
	unlink(path);
	free(cmd);
	free(hp);
	free(ho);
	if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
		cr_skip_test("scapy not importable");
	cr_assert(ok && rc == 0, "scapy check failed (rc %d)", rc);
}

static uint8_t O[2048];

static void check_icmp4(const uint8_t *o, size_t n, const uint8_t *pkt,
			uint16_t mtu)
{
	size_t ph = (pkt[0] & 0xf) * 4u, pt = g16(pkt + 2);
	size_t quote = ph + (pt - ph < 8 ? pt - ph : 8);

	cr_assert_eq(n, 28 + quote);
	cr_assert_eq(o[0], 0x45);
	cr_assert_eq(g16(o + 2), n);
	cr_assert_eq(g16(o + 6) & 0xbfff, 0, "not a fragment");
	cr_assert_eq(g16(o + 6) & 0x4000, 0, "DF clear");
	cr_assert_eq(o[8], 64);
	cr_assert_eq(o[9], 1);
	cr_assert(ref_ok(0, o, 20), "IP checksum");
	cr_assert_eq(memcmp(o + 12, SRC4, 4), 0);
	cr_assert_eq(memcmp(o + 16, pkt + 12, 4), 0);
	cr_assert_eq(o[20], 3);
	cr_assert_eq(o[21], 4);
	cr_assert(ref_ok(0, o + 20, n - 20), "ICMP checksum");
	cr_assert_eq(g16(o + 24), 0, "unused");
	cr_assert_eq(g16(o + 26), mtu);
	cr_assert_eq(memcmp(o + 28, pkt, quote), 0, "quote");
}

Test(icmp4, needed)
{
	size_t n;

	build_ip4(P, 4000, NULL, 0, 6, 0x4000);
	n = frag_icmp4_needed(O, sizeof(O), P, 4000, 1400, SRC4);
	check_icmp4(O, n, P, 1400);
	cr_assert_eq(n, 56);
	scapy_verify(4, O, n, P, 4000, 1400);
}

Test(icmp4, needed_options_and_short)
{
	size_t n;

	build_ip4(P, 4000, opts16, 16, 17, 0x4000);
	n = frag_icmp4_needed(O, sizeof(O), P, 4000, 1280, SRC4);
	check_icmp4(O, n, P, 1280);
	cr_assert_eq(n, 28 + 36 + 8);
	/* fewer than 8 bytes after the header: all of them */
	build_ip4(P, 23, NULL, 0, 17, 0);
	n = frag_icmp4_needed(O, sizeof(O), P, 23, 576, SRC4);
	check_icmp4(O, n, P, 576);
	cr_assert_eq(n, 28 + 23);
	/* an ICMP echo request is answered; padding after tot_len ignored */
	build_ip4(P, 100, NULL, 0, 1, 0);
	P[20] = 8;
	n = frag_icmp4_needed(O, sizeof(O), P, 200, 576, SRC4);
	check_icmp4(O, n, P, 576);
	/* the first fragment of a train is answered */
	build_ip4(P, 100, NULL, 0, 6, 0x2000);
	cr_assert_gt(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	/* exactly enough room */
	build_ip4(P, 100, NULL, 0, 6, 0);
	cr_assert_eq(frag_icmp4_needed(O, 56, P, 100, 576, SRC4), 56);
}

Test(icmp4, no_answer)
{
	static const uint8_t err_types[] = { 3, 4, 5, 11, 12 };
	static const uint8_t bad_src[][4] = {
		{ 0, 0, 0, 0 }, { 127, 0, 0, 1 }, { 224, 0, 0, 5 },
		{ 239, 1, 2, 3 }, { 255, 255, 255, 255 },
	};
	size_t i;

	for (i = 0; i < sizeof(err_types); i++) {
		build_ip4(P, 100, NULL, 0, 1, 0);
		P[20] = err_types[i];
		cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4),
			     0, "ICMP type %u", err_types[i]);
	}
	for (i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		build_ip4(P, 100, NULL, 0, 6, 0);
		memcpy(P + 12, bad_src[i], 4);
		cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4),
			     0, "source %zu", i);
	}
	build_ip4(P, 100, NULL, 0, 6, 0);
	P[16] = 224; /* to a multicast group */
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	/* a fragment other than the first */
	build_ip4(P, 100, NULL, 0, 6, 0x2001);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	build_ip4(P, 100, NULL, 0, 6, 0x0010);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	/* malformed */
	build_ip4(P, 100, NULL, 0, 6, 0);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 99, 576, SRC4), 0);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 10, 576, SRC4), 0);
	P[0] = 0x65;
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	P[0] = 0x44;
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	P[0] = 0x4f;
	p16(P + 2, 40);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 100, 576, SRC4), 0);
	/* an ICMP packet with no ICMP header */
	build_ip4(P, 20, NULL, 0, 1, 0);
	cr_assert_eq(frag_icmp4_needed(O, sizeof(O), P, 20, 576, SRC4), 0);
	/* no room */
	build_ip4(P, 100, NULL, 0, 6, 0);
	cr_assert_eq(frag_icmp4_needed(O, 55, P, 100, 576, SRC4), 0);
}

static size_t build_ip6(uint8_t *b, size_t tot, uint8_t nh)
{
	size_t i;

	memset(b, 0, 40);
	b[0] = 0x60;
	b[1] = 0x0a;
	p16(b + 4, (uint16_t)(tot - 40));
	b[6] = nh;
	b[7] = 63;
	b[8] = 0x20; b[9] = 0x01; b[10] = 0x0d; b[11] = 0xb8;
	b[12] = 0; b[13] = 1; b[23] = 2;
	b[24] = 0x20; b[25] = 0x01; b[26] = 0x0d; b[27] = 0xb8; b[39] = 9;
	for (i = 40; i < tot; i++)
		b[i] = (uint8_t)(i * 13 + 5);
	return tot;
}

static void check_icmp6(const uint8_t *o, size_t n, const uint8_t *pkt,
			size_t tot, uint32_t mtu)
{
	size_t quote = tot < 1232 ? tot : 1232;

	cr_assert_eq(n, 48 + quote);
	cr_assert_leq(n, 1280);
	cr_assert_eq(o[0], 0x60);
	cr_assert_eq(g16(o + 4), n - 40);
	cr_assert_eq(o[6], 58);
	cr_assert_eq(o[7], 64);
	cr_assert_eq(memcmp(o + 8, SRC6, 16), 0);
	cr_assert_eq(memcmp(o + 24, pkt + 8, 16), 0);
	cr_assert_eq(o[40], 2);
	cr_assert_eq(o[41], 0);
	cr_assert_eq((uint32_t)g16(o + 44) << 16 | g16(o + 46), mtu);
	cr_assert(ref_ok(ref_pseudo6(o, 58, n - 40), o + 40, n - 40),
		  "ICMPv6 checksum");
	cr_assert_eq(memcmp(o + 48, pkt, quote), 0, "quote");
}

Test(icmp6, too_big)
{
	size_t n;

	build_ip6(P, 1500, 50);
	n = frag_icmp6_too_big(O, sizeof(O), P, 1500, 1400, SRC6);
	check_icmp6(O, n, P, 1500, 1400);
	cr_assert_eq(n, 1280);
	scapy_verify(6, O, n, P, 1500, 1400);
}

Test(icmp6, too_big_small_and_odd)
{
	size_t n;

	build_ip6(P, 101, 17);
	n = frag_icmp6_too_big(O, sizeof(O), P, 101, 1280, SRC6);
	check_icmp6(O, n, P, 101, 1280);
	scapy_verify(6, O, n, P, 101, 1280);
	/* the quote stops at 1280 - 48 = 1232 bytes */
	build_ip6(P, 1233, 6);
	n = frag_icmp6_too_big(O, sizeof(O), P, 1300, 0x10000, SRC6);
	check_icmp6(O, n, P, 1233, 0x10000);
	/* an echo request behind hop-by-hop options is answered */
	build_ip6(P, 200, 0);
	P[40] = 58;
	P[41] = 0;
	P[48] = 128;
	cr_assert_gt(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* the first fragment of a train is answered */
	build_ip6(P, 200, 44);
	P[40] = 6;
	p16(P + 42, 0x0001);
	cr_assert_gt(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* to a multicast group: allowed (RFC 4443 2.4 e) */
	build_ip6(P, 200, 17);
	P[24] = 0xff;
	cr_assert_gt(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* a small out buffer: less quoted */
	build_ip6(P, 200, 17);
	cr_assert_eq(frag_icmp6_too_big(O, 100, P, 200, 1280, SRC6), 100);
	cr_assert(ref_ok(ref_pseudo6(O, 58, 60), O + 40, 60));
}

Test(icmp6, no_answer)
{
	uint8_t i;

	for (i = 0; i < 128; i++) {
		build_ip6(P, 200, 58);
		P[40] = i;
		cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280,
						SRC6), 0, "type %u", i);
	}
	/* an error behind a destination options header */
	build_ip6(P, 200, 60);
	P[40] = 58;
	P[41] = 1;
	P[56] = 1;
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* non-first fragment */
	build_ip6(P, 200, 44);
	P[40] = 6;
	p16(P + 42, 0x0009);
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* sources: multicast, unspecified, loopback */
	build_ip6(P, 200, 17);
	P[8] = 0xff;
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	build_ip6(P, 200, 17);
	memset(P + 8, 0, 16);
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	P[23] = 1;
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	/* malformed: short, version, length, truncated extension header */
	build_ip6(P, 200, 17);
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 39, 1280, SRC6), 0);
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 199, 1280, SRC6), 0);
	P[0] = 0x40;
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 200, 1280, SRC6), 0);
	build_ip6(P, 48, 0);
	P[41] = 1; /* 16 bytes of hop-by-hop in 8 */
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 48, 1280, SRC6), 0);
	build_ip6(P, 44, 44);
	cr_assert_eq(frag_icmp6_too_big(O, sizeof(O), P, 44, 1280, SRC6), 0);
	/* no room for even the quoted header */
	build_ip6(P, 200, 17);
	cr_assert_eq(frag_icmp6_too_big(O, 87, P, 200, 1280, SRC6), 0);
}

/* ---- MSS clamping ---- */

/* Options: MSS at an even offset, window scale, SACK permitted. */
static const uint8_t tcpo_even[12] = {
	2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1,
};
/* NOP first: the MSS value lies at an odd offset. */
static const uint8_t tcpo_odd[8] = { 1, 2, 4, 0x05, 0xb4, 1, 1, 0 };

static size_t build_tcp(uint8_t *b, int fam, uint8_t flags,
			const uint8_t *opts, size_t olen, size_t paylen)
{
	size_t ipl = fam == 4 ? 20 : 40, doff = 20 + olen, tot, i;
	uint8_t *t = b + ipl;

	tot = ipl + doff + paylen;
	if (fam == 4) {
		build_ip4(b, tot, NULL, 0, 6, 0x4000);
	} else {
		build_ip6(b, tot, 6);
	}
	memset(t, 0, 20);
	p16(t, 40000);
	p16(t + 2, 443);
	t[4] = 0x12; t[5] = 0x34; t[6] = 0x56; t[7] = 0x78;
	t[12] = (uint8_t)((doff / 4) << 4);
	t[13] = flags;
	p16(t + 14, 64240);
	if (olen)
		memcpy(t + 20, opts, olen);
	for (i = 0; i < paylen; i++)
		t[doff + i] = (uint8_t)(0xa5 ^ i);
	p16(t + 16, ref_csum(fam == 4 ? ref_pseudo4(b, 6, tot - ipl) :
				 ref_pseudo6(b, 6, tot - ipl), t, tot - ipl));
	return tot;
}

static bool tcp_ok(const uint8_t *b, size_t tot, int fam)
{
	size_t ipl = fam == 4 ? 20 : 40;

	return ref_ok(fam == 4 ? ref_pseudo4(b, 6, tot - ipl) :
			   ref_pseudo6(b, 6, tot - ipl), b + ipl, tot - ipl);
}

static void clamp_case(int fam, uint8_t flags, const uint8_t *opts,
		       size_t olen, size_t mss_at, size_t paylen)
{
	static uint8_t b[256], before[256];
	size_t tot = build_tcp(b, fam, flags, opts, olen, paylen);
	size_t ipl = fam == 4 ? 20 : 40, i;

	memcpy(before, b, tot);
	cr_assert(tcp_ok(b, tot, fam));
	cr_assert(frag_mss_clamp(b, tot, fam == 4 ? 1360 : 999,
				 fam == 4 ? 999 : 1340));
	cr_assert_eq(g16(b + ipl + mss_at), fam == 4 ? 1360 : 1340);
	cr_assert(tcp_ok(b, tot, fam), "TCP checksum after clamp");
	for (i = 0; i < tot; i++)
		if (i != ipl + 16 && i != ipl + 17 && i != ipl + mss_at &&
		    i != ipl + mss_at + 1)
			cr_assert_eq(b[i], before[i], "byte %zu changed", i);
	/* a second pass finds nothing to do */
	cr_assert_not(frag_mss_clamp(b, tot, 1360, 1340));
}

Test(mss, syn_v4)
{
	clamp_case(4, 0x02, tcpo_even, 12, 22, 0);
	clamp_case(4, 0x02, tcpo_odd, 8, 23, 0);
	clamp_case(4, 0x02, tcpo_odd, 8, 23, 3);
}

Test(mss, synack_v4)
{
	clamp_case(4, 0x12, tcpo_even, 12, 22, 0);
	clamp_case(4, 0x12, tcpo_odd, 8, 23, 5);
}

Test(mss, syn_v6)
{
	clamp_case(6, 0x02, tcpo_even, 12, 22, 0);
	clamp_case(6, 0x12, tcpo_odd, 8, 23, 1);
}

Test(mss, odd_offset_many_values)
{
	static uint8_t b[256];
	uint8_t o[8];
	unsigned int v;
	size_t tot;

	/* the byte-swapped update must hold for every carry pattern */
	for (v = 1; v < 65536; v += 97) {
		memcpy(o, tcpo_odd, 8);
		p16(o + 3, (uint16_t)v);
		tot = build_tcp(b, 4, 0x02, o, 8, 1);
		if (frag_mss_clamp(b, tot, 536, 536)) {
			cr_assert_gt(v, 536);
			cr_assert_eq(g16(b + 43), 536);
		} else {
			cr_assert_leq(v, 536);
		}
		cr_assert(tcp_ok(b, tot, 4), "v %u", v);
	}
}

static void no_clamp(uint8_t *b, size_t tot, size_t len)
{
	static uint8_t before[256];

	memcpy(before, b, tot);
	cr_assert_not(frag_mss_clamp(b, len, 1360, 1340));
	cr_assert_eq(memcmp(b, before, tot), 0);
}

Test(mss, no_change)
{
	static uint8_t b[256];
	uint8_t o[12];
	size_t tot;

	tot = build_tcp(b, 4, 0x10, tcpo_even, 12, 0); /* ACK only */
	no_clamp(b, tot, tot);
	tot = build_tcp(b, 6, 0x18, tcpo_even, 12, 10);
	no_clamp(b, tot, tot);
	memcpy(o, tcpo_even, 12);
	p16(o + 2, 1200); /* lower already */
	tot = build_tcp(b, 4, 0x02, o, 12, 0);
	no_clamp(b, tot, tot);
	p16(o + 2, 1360); /* equal */
	tot = build_tcp(b, 4, 0x02, o, 12, 0);
	no_clamp(b, tot, tot);
	tot = build_tcp(b, 4, 0x02, NULL, 0, 0); /* no options */
	no_clamp(b, tot, tot);
	/* limit 0: this family is not clamped */
	tot = build_tcp(b, 4, 0x02, tcpo_even, 12, 0);
	cr_assert_not(frag_mss_clamp(b, tot, 0, 1340));
	/* not TCP, IPv4 fragments, IPv6 with an extension header first */
	tot = build_tcp(b, 4, 0x02, tcpo_even, 12, 0);
	b[9] = 17;
	no_clamp(b, tot, tot);
	tot = build_tcp(b, 4, 0x02, tcpo_even, 12, 0);
	b[6] |= 0x20;
	no_clamp(b, tot, tot);
	tot = build_tcp(b, 6, 0x02, tcpo_even, 12, 0);
	b[6] = 0;
	no_clamp(b, tot, tot);
	/* truncated: buffer shorter than the IP length */
	tot = build_tcp(b, 4, 0x02, tcpo_even, 12, 0);
	no_clamp(b, tot, tot - 1);
	tot = build_tcp(b, 6, 0x02, tcpo_even, 12, 0);
	no_clamp(b, tot, tot - 1);
	no_clamp(b, tot, 0);
	b[0] = 0x50;
	no_clamp(b, tot, tot);
}

Test(mss, malformed_options)
{
	static const uint8_t bad[][12] = {
		/* length 0, length 1, then a good-looking MSS */
		{ 3, 0, 2, 4, 0x05, 0xb4, 0, 0, 0, 0, 0, 0 },
		{ 3, 1, 2, 4, 0x05, 0xb4, 0, 0, 0, 0, 0, 0 },
		/* overrunning the header */
		{ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8, 40 },
		{ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2 },
		{ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4 },
		/* an MSS option of the wrong length */
		{ 2, 3, 0xff, 2, 5, 0xff, 0xff, 0, 0, 0, 0, 0 },
		/* EOL ends the list */
		{ 0, 2, 4, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0 },
	};
	static uint8_t b[256];
	size_t i, tot;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tot = build_tcp(b, 4, 0x02, bad[i], 12, 0);
		no_clamp(b, tot, tot);
		tot = build_tcp(b, 6, 0x02, bad[i], 12, 0);
		no_clamp(b, tot, tot);
	}
	/* data offset past the segment, and below 5 */
	tot = build_tcp(b, 4, 0x02, tcpo_even, 12, 0);
	b[32] = 0xf0;
	no_clamp(b, tot, tot);
	b[32] = 0x40;
	no_clamp(b, tot, tot);
	/* a segment shorter than a TCP header */
	build_tcp(b, 4, 0x02, NULL, 0, 0);
	p16(b + 2, 30);
	set_ip4_csum(b);
	no_clamp(b, 40, 40);
}

Test(mss, random_bytes)
{
	static uint8_t b[128];
	unsigned int seed = 7, i, j;

	for (i = 0; i < 200000; i++) {
		size_t len = rand_r(&seed) % sizeof(b);

		for (j = 0; j < len; j++)
			b[j] = (uint8_t)rand_r(&seed);
		b[0] = (uint8_t)((rand_r(&seed) & 1 ? 0x45 : 0x60) |
				 (b[0] & 0x0f));
		if (len > 10)
			b[9] = 6;
		if (len > 7)
			b[6] = rand_r(&seed) & 1 ? 6 : b[6];
		frag_mss_clamp(b, len, 1000, 1000);
	}
}

/* A router's TTL ran out (router mode): type 11 code 0, the same quote as
 * "needed", zero where the MTU goes; the same packets get no answer. */
Test(icmp4, time_exceeded)
{
	size_t n;

	build_ip4(P, 4000, opts16, 16, 6, 0x4000);
	n = frag_icmp4_time_exceeded(O, sizeof(O), P, 4000, SRC4);
	cr_assert_eq(n, 28 + 36 + 8);
	cr_assert_eq(O[9], 1);
	cr_assert_eq(memcmp(O + 12, SRC4, 4), 0);
	cr_assert_eq(memcmp(O + 16, P + 12, 4), 0);
	cr_assert_eq(O[20], 11);
	cr_assert_eq(O[21], 0);
	cr_assert_eq(g16(O + 24), 0, "unused");
	cr_assert_eq(g16(O + 26), 0, "unused (no MTU)");
	cr_assert_eq(memcmp(O + 28, P, 36 + 8), 0, "quote");
	cr_assert(ref_ok(0, O, 20), "IP checksum");
	cr_assert(ref_ok(0, O + 20, n - 20), "ICMP checksum");
	/* an ICMP error is never answered with one, nor a later fragment */
	build_ip4(P, 100, NULL, 0, 1, 0);
	P[20] = 11;
	cr_assert_eq(frag_icmp4_time_exceeded(O, sizeof(O), P, 100, SRC4), 0);
	build_ip4(P, 100, NULL, 0, 6, 0x2001);
	cr_assert_eq(frag_icmp4_time_exceeded(O, sizeof(O), P, 100, SRC4), 0);
}

/* An IPv6 router's hop limit ran out (router mode): type 3 code 0, zero
 * where too big's MTU goes, the same quote and the same silences. */
Test(icmp6, time_exceeded)
{
	size_t n;

	build_ip6(P, 1500, 6);
	n = frag_icmp6_time_exceeded(O, sizeof(O), P, 1500, SRC6);
	cr_assert_eq(n, 1280);
	cr_assert_eq(O[6], 58);
	cr_assert_eq(memcmp(O + 8, SRC6, 16), 0);
	cr_assert_eq(memcmp(O + 24, P + 8, 16), 0);
	cr_assert_eq(O[40], 3);
	cr_assert_eq(O[41], 0);
	cr_assert_eq(g16(O + 44) | g16(O + 46), 0, "unused");
	cr_assert(ref_ok(ref_pseudo6(O, 58, n - 40), O + 40, n - 40),
		  "ICMPv6 checksum");
	cr_assert_eq(memcmp(O + 48, P, 1232), 0, "quote");
	/* an ICMPv6 error is not answered */
	build_ip6(P, 200, 58);
	P[40] = 3;
	cr_assert_eq(frag_icmp6_time_exceeded(O, sizeof(O), P, 200, SRC6), 0);
}
