/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spdsnap: the SPD as the workers read it, for the inbound policy check of
 * router mode (RFC 4301 5.2: a decrypted packet must be one the SA's
 * policy protects). An immutable array of the rules in priority order,
 * published by the control thread (control/spd.c) with one pointer swap
 * and freed after a grace period, as a table version.
 *
 * Rules are written for the outbound direction (source on the LAN,
 * destination behind the tunnel); a decrypted packet is matched reversed:
 * its source against the rules' destinations. As in XDP, a longest-prefix
 * match of the source (a FIB of the rules' distinct destinations) gives
 * the candidates, every rule whose destination covers that prefix, in
 * priority order; no other rule can match.
 */
#ifndef ESPRESSO_SPDSNAP_H
#define ESPRESSO_SPDSNAP_H

#include <netinet/ip.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "espresso/common.h"
#include "tables/fib.h"

struct spd_in_rule {
	uint32_t src, src_mask, dst, dst_mask; /* network order */
	uint16_t sport[2], dport[2];           /* ranges, host order */
	uint8_t proto;                         /* 0: any */
	uint8_t action;                        /* enum espresso_spd_action */
	uint64_t tunnel_id;                    /* protect: 0 if gone */
};

struct spd_cands {
	uint32_t n;
	uint32_t rule[ESPRESSO_SPD_CANDS]; /* indices into r, ascending */
};

struct spd_snap {
	uint32_t n;
	struct fib *by_dst;      /* rule destination -> index in cands + 1 */
	struct spd_cands *cands; /* one per distinct destination prefix */
	struct spd_in_rule r[];
};

/*
 * The first rule, in priority order, that the IPv4 packet ip (len bytes,
 * its header already checked) matches in the inbound direction, or NULL.
 */
static inline const struct spd_in_rule *
spd_snap_match_in(const struct spd_snap *s, const uint8_t *ip, size_t len)
{
	const struct spd_cands *c;
	uint32_t src, dst, i, v;
	uint16_t sport = 0, dport = 0;
	size_t hl = (ip[0] & 15) * 4u;
	uint8_t proto = ip[9];

	memcpy(&src, ip + 12, 4);
	memcpy(&dst, ip + 16, 4);
	/* ports as XDP reads them: TCP/UDP, not a later fragment */
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
	    !((ip[6] << 8 | ip[7]) & 0x1fff) && len >= hl + 4) {
		sport = (uint16_t)(ip[hl] << 8 | ip[hl + 1]);
		dport = (uint16_t)(ip[hl + 2] << 8 | ip[hl + 3]);
	}
	v = fib_lookup(s->by_dst, &src);
	if (!v)
		return NULL;
	c = &s->cands[v - 1];
	for (i = 0; i < c->n; i++) {
		const struct spd_in_rule *r = &s->r[c->rule[i]];

		/* reversed: the rule's source is the packet's destination */
		if ((dst & r->src_mask) != r->src ||
		    (src & r->dst_mask) != r->dst ||
		    (r->proto && r->proto != proto) ||
		    dport < r->sport[0] || dport > r->sport[1] ||
		    sport < r->dport[0] || sport > r->dport[1])
			continue;
		return r;
	}
	return NULL;
}

#endif
