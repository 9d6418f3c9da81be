// SPDX-License-Identifier: GPL-2.0
/*
 * parse_outer, the userspace twin of the XDP parser, on well-formed and
 * malformed frames. Frames are built field by field below; each test says
 * what it changes.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "proto/parse.h"

/* Ethernet / IPv4 (ihl 5) / ESP SPI 0x1000 seq 1 / 32 bytes: 66 bytes */
static size_t build(uint8_t *f, int vlans, int ihl, uint8_t proto, int natt)
{
	size_t off = 12, l3, hl = ihl * 4, l4 = natt ? 8 : 0, pay = 40;
	uint16_t tot;
	int i;

	memset(f, 0, 256);
	for (i = 0; i < vlans; i++) {
		f[off] = 0x81;
		f[off + 1] = 0x00;
		f[off + 3] = 7; /* VID 7 */
		off += 4;
	}
	f[off] = 0x08;
	f[off + 1] = 0x00;
	l3 = off + 2;
	f[l3] = 0x40 | ihl;
	tot = htons(hl + l4 + pay);
	memcpy(f + l3 + 2, &tot, 2);
	f[l3 + 8] = 64;
	f[l3 + 9] = natt ? 17 : proto;
	if (natt) {
		f[l3 + hl] = 0x11; /* sport 4500 */
		f[l3 + hl + 1] = 0x94;
		f[l3 + hl + 2] = 0x11; /* dport 4500 */
		f[l3 + hl + 3] = 0x94;
	}
	f[l3 + hl + l4 + 2] = 0x10; /* SPI 0x00001000 */
	f[l3 + hl + l4 + 7] = 1;    /* seq 1 */
	return l3 + hl + l4 + pay;
}

Test(parse, raw_esp)
{
	uint8_t f[256];
	struct espresso_meta m;
	size_t len = build(f, 0, 5, 50, 0), l3;

	cr_assert_eq(parse_outer(f, len, &m, &l3), 0);
	cr_assert_eq(m.spi, 0x1000);
	cr_assert_eq(m.l3_off, 14);
	cr_assert_eq(m.esp_off, 34);
	cr_assert_eq(m.encap, 0);
	cr_assert_eq(m.l3_proto, 4);
	cr_assert_eq(l3, 60);
}

Test(parse, natt_esp)
{
	uint8_t f[256];
	struct espresso_meta m;
	size_t len = build(f, 0, 5, 0, 1), l3;

	cr_assert_eq(parse_outer(f, len, &m, &l3), 0);
	cr_assert_eq(m.encap, 1);
	cr_assert_eq(m.esp_off, 42);
	cr_assert_eq(m.spi, 0x1000);
}

Test(parse, ike_marker_is_not_esp)
{
	uint8_t f[256];
	struct espresso_meta m;
	size_t len = build(f, 0, 5, 0, 1), l3;

	memset(f + 42, 0, 4); /* the zero non-ESP marker */
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
}

Test(parse, vlan_tags_and_options)
{
	uint8_t f[256];
	struct espresso_meta m;
	size_t len, l3;

	len = build(f, 1, 5, 50, 0);
	cr_assert_eq(parse_outer(f, len, &m, &l3), 0);
	cr_assert_eq(m.l3_off, 18);
	len = build(f, 2, 6, 50, 0); /* QinQ and one word of IPv4 options */
	cr_assert_eq(parse_outer(f, len, &m, &l3), 0);
	cr_assert_eq(m.l3_off, 22);
	cr_assert_eq(m.esp_off, 22 + 24);
	cr_assert_eq(m.spi, 0x1000);
}

Test(parse, malformed)
{
	uint8_t f[256];
	struct espresso_meta m;
	size_t len = build(f, 0, 5, 50, 0), l3, cut;

	/* every truncation of a good frame up to the SPI+seq is refused */
	for (cut = 0; cut < 14 + 20 + 8; cut++)
		cr_assert_eq(parse_outer(f, cut, &m, &l3), -1, "cut %zu", cut);
	/* tot_len beyond the frame */
	cr_assert_eq(parse_outer(f, len - 1, &m, &l3), -1);
	f[14] = 0x44; /* ihl 4 */
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
	f[14] = 0x65; /* version 6 in an IPv4 ethertype */
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
	len = build(f, 0, 5, 50, 0);
	f[14 + 6] = 0x20; /* more fragments */
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
	len = build(f, 0, 5, 6, 0); /* TCP */
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
	len = build(f, 0, 5, 50, 0);
	f[12] = 0x08; /* ARP */
	f[13] = 0x06;
	cr_assert_eq(parse_outer(f, len, &m, &l3), -1);
}
