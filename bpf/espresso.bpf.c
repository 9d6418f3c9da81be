// SPDX-License-Identifier: GPL-2.0
/*
 * espresso XDP classifier, on the uplink.
 *
 *   ESP (IP proto 50) with an SPI in espresso_sa_in          -> XSK of this queue
 *   UDP to 4500 whose first 4 bytes are not zero (NAT-T ESP)  -> XSK of this queue
 *   UDP to 4500 with the zero non-ESP marker (IKE)            -> kernel
 *   (4500: or a tunnel's local_port, listed in espresso_natt_ports)
 *   ESP with an unknown SPI                                   -> drop, counted
 *   NAT-T keepalive (one 0xFF byte)                            -> kernel
 *   IPv4/IPv6 fragment of ESP (IP proto 50)                     -> XSK, reassembled there
 *   fragment of NAT-T ESP (first one: known SPI; later ones:
 *     their train is in espresso_frag_ids)                      -> XSK, reassembled there
 *   IPv6: hop-by-hop, routing and destination options headers are
 *     skipped (at most IP6_EXT_MAX); more                       -> kernel
 *   everything else                                           -> kernel
 *
 * On a LAN interface (router mode, listed in espresso_ifaces), plaintext:
 *   IPv4 unicast to this interface's MAC whose destination a tunnel route
 *   covers (espresso_routes4, the FIB's copy), and that is not one of the
 *   gateway's own addresses (espresso_local4)          -> XSK of this queue
 *   IPv6 unicast to this interface's MAC whose destination a tunnel route
 *   covers (espresso_routes6), not link-local (fe80::/10), not multicast
 *   (ff00::/8: NDP), not the gateway's (espresso_local6), from neither a
 *   link-local nor a multicast source                  -> XSK of this queue
 *   ARP, NDP, multicast, traffic for the gateway (SSH, IKE, DHCP),
 *   destinations no tunnel covers                     -> kernel
 * The SPD (espresso_spd_*) holds IPv4 selectors only: IPv6 goes by the
 * routes alone.
 * A covered destination with no XSK on the queue is dropped (counted): it
 * must never leave in clear through the kernel.
 *
 * Each redirected frame carries a struct espresso_meta in front of it so
 * userspace does not parse the outer headers again.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

#include "espresso/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESPRESSO_MAX_SA);
	__type(key, __u32);
	__type(value, struct espresso_sa_in);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_sa_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESPRESSO_MAX_NATT_PORTS);
	__type(key, __u16);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_natt_ports SEC(".maps");

/* UDP to one of our NAT-T ports (network order): 4500 or a configured one */
static __always_inline int natt_port(__u16 dest)
{
	return dest == bpf_htons(ESPRESSO_NATT_PORT) ||
	       bpf_map_lookup_elem(&espresso_natt_ports, &dest) != NULL;
}

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, ESPRESSO_XSK_KEY(ESPRESSO_MAX_LAN + 1, 0));
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ESPRESSO_FRAG_IDS_MAX);
	__type(key, struct espresso_frag_key);
	__type(value, __u64); /* bpf_ktime_get_ns() of the first fragment */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_frag_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct espresso_xdp_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct espresso_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ESPRESSO_MAX_ROUTES);
	__type(key, struct espresso_lpm4_key);
	__type(value, struct espresso_route);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_routes4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESPRESSO_MAX_LOCAL);
	__type(key, __u32); /* IPv4 address, network order */
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_local4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ESPRESSO_MAX_ROUTES);
	__type(key, struct espresso_lpm6_key);
	__type(value, struct espresso_route);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_routes6 SEC(".maps");

struct espresso_addr6 {
	__u8 a[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESPRESSO_MAX_LOCAL);
	__type(key, struct espresso_addr6); /* IPv6 address */
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_local6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * ESPRESSO_SPD_MAX);
	__type(key, __u32);
	__type(value, struct espresso_spd_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_spd_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * ESPRESSO_SPD_MAX);
	__type(key, struct espresso_spd_lpm_key);
	__type(value, struct espresso_spd_cands);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_spd_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct espresso_spd_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_spd_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ESPRESSO_FLOW_CACHE);
	__type(key, struct espresso_flow_key);
	__type(value, struct espresso_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} espresso_flow_cache SEC(".maps");

/* Runs alone or behind libxdp's dispatcher; XDP_PASS lets later programs run. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(espresso_xdp);

#define VLAN_MAX_DEPTH 2
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* The parse cursor. */
struct cursor {
	void *pos;
	void *end;
};

enum { CONTINUE = -1 };

#define COUNT(st, field)                                                       \
	do {                                                                   \
		if (st)                                                        \
			(st)->field++;                                         \
	} while (0)

static __always_inline int parse_eth(struct cursor *c, __u16 *proto)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr *vh;
	__u16 p;
	int i;

	if ((void *)(eth + 1) > c->end)
		return -1;
	c->pos = eth + 1;
	p = eth->h_proto;
#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (p != bpf_htons(ETH_P_8021Q) && p != bpf_htons(ETH_P_8021AD))
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return -1;
		p = vh->proto;
		c->pos = vh + 1;
	}
	*proto = p;
	return 0;
}

/* Fragment verdicts of the IP parsers (besides -1, malformed). */
enum {
	FRAG_OTHER = -2,     /* a fragment of something else: kernel */
	FRAG_ESP = -3,       /* a fragment of ESP */
	FRAG_UDP_FIRST = -4, /* the first fragment of UDP: cursor on it */
	FRAG_UDP_LATER = -5, /* a later fragment of UDP */
	IP6_EXT_LIMIT = -6,  /* more IPv6 extension headers than parsed */
};

#define IP6_EXT_MAX 4

/* Returns the L4 protocol, -1 for malformed, or a FRAG_* verdict with fk
 * filled (fragments). */
static __always_inline int parse_ip4(struct cursor *c, __u32 *l3_len,
				     struct espresso_frag_key *fk)
{
	struct iphdr *ip = c->pos;
	__u32 hlen;

	if ((void *)(ip + 1) > c->end)
		return -1;
	if (ip->version != 4 || ip->ihl < 5)
		return -1;
	hlen = ip->ihl * 4;
	if (c->pos + hlen > c->end)
		return -1;
	if (bpf_ntohs(ip->tot_len) < hlen ||
	    c->pos + bpf_ntohs(ip->tot_len) > c->end)
		return -1;
	*l3_len = bpf_ntohs(ip->tot_len);
	c->pos += hlen;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
		if (ip->protocol == IPPROTO_ESP)
			return FRAG_ESP;
		if (ip->protocol != IPPROTO_UDP)
			return FRAG_OTHER;
		fk->l3_proto = 4;
		fk->id = ip->id;
		__builtin_memcpy(fk->src, &ip->saddr, 4);
		__builtin_memcpy(fk->dst, &ip->daddr, 4);
		return ip->frag_off & bpf_htons(IP_OFFSET) ? FRAG_UDP_LATER
							   : FRAG_UDP_FIRST;
	}
	return ip->protocol;
}

struct ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8 bytes, not counting the first 8 */
};

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 off; /* offset in 8 bytes << 3, M in bit 0 */
	__be32 id;
};

/*
 * IPv6 and its extension headers: hop-by-hop (0), routing (43) and
 * destination options (60) are skipped, at most IP6_EXT_MAX of them; a
 * fragment header (44) ends the parse with a FRAG_* verdict.
 */
static __always_inline int parse_ip6(struct cursor *c, __u32 *l3_len,
				     struct espresso_frag_key *fk)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ip6_frag *f;
	struct ip6_ext *e;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > c->end)
		return -1;
	if (ip6->version != 6)
		return -1;
	if ((void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > c->end)
		return -1;
	*l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	c->pos = ip6 + 1;
	nh = ip6->nexthdr;
#pragma unroll
	for (i = 0; i < IP6_EXT_MAX; i++) {
		if (nh != 0 && nh != 43 && nh != 60)
			break;
		e = c->pos;
		if ((void *)(e + 1) > c->end)
			return -1;
		nh = e->nexthdr;
		c->pos += (e->hdrlen + 1) * 8;
	}
	if (nh == 0 || nh == 43 || nh == 60)
		return IP6_EXT_LIMIT;
	if (nh != 44)
		return nh;
	f = c->pos;
	if ((void *)(f + 1) > c->end)
		return -1;
	c->pos = f + 1;
	if (f->nexthdr == IPPROTO_ESP)
		return FRAG_ESP;
	if (f->nexthdr != IPPROTO_UDP)
		return FRAG_OTHER;
	fk->l3_proto = 6;
	fk->id = f->id;
	__builtin_memcpy(fk->src, &ip6->saddr, 16);
	__builtin_memcpy(fk->dst, &ip6->daddr, 16);
	return f->off & bpf_htons(0xfff8) ? FRAG_UDP_LATER : FRAG_UDP_FIRST;
}

/*
 * Write the metadata in front of the frame and redirect it to the XSK of
 * this queue (checked to exist by the caller). Returns the XDP action.
 */
static __always_inline int meta_redirect_key(struct xdp_md *ctx,
					     struct espresso_xdp_stats *st,
					     const struct espresso_meta *m,
					     __u32 key)
{
	struct espresso_meta *meta;
	void *data;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta))) {
		COUNT(st, drop_meta);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > data) {
		COUNT(st, drop_meta);
		return XDP_DROP;
	}
	*meta = *m;
	return bpf_redirect_map(&espresso_xsks, key, XDP_DROP);
}

static __always_inline int meta_redirect(struct xdp_md *ctx,
					 struct espresso_xdp_stats *st,
					 const struct espresso_meta *m)
{
	return meta_redirect_key(ctx, st, m, ctx->rx_queue_index);
}

/*
 * The SPD's verdict for an IPv4 packet (its header checked by the caller):
 * the flow cache's if it is of this generation, else the first matching
 * rule among the destination's candidates, cached.
 */
static __always_inline int spd_verdict(struct iphdr *ip, void *data_end,
				       __u64 gen_set,
				       struct espresso_xdp_stats *st,
				       __u32 *tunnel)
{
	struct espresso_flow_key k = {
		.src = ip->saddr, .dst = ip->daddr, .proto = ip->protocol,
	};
	struct espresso_spd_lpm_key lk = {
		.prefixlen = 8 + 32, .set = gen_set & 1,
	};
	struct espresso_flow f = { .gen = (__u32)(gen_set >> 1) };
	struct espresso_spd_cands *cand;
	struct espresso_flow *c;
	__u16 sport, dport;
	__u32 i;

	if (!(ip->frag_off & bpf_htons(IP_OFFSET)) &&
	    (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP)) {
		__be16 *ports = (void *)ip + ip->ihl * 4;

		if ((void *)(ports + 2) <= data_end) {
			k.sport = ports[0];
			k.dport = ports[1];
		}
	}
	c = bpf_map_lookup_elem(&espresso_flow_cache, &k);
	if (c && c->gen == f.gen) {
		COUNT(st, spd_cache_hit);
		*tunnel = c->tunnel;
		return c->action;
	}
	COUNT(st, spd_cache_miss);
	sport = bpf_ntohs(k.sport);
	dport = bpf_ntohs(k.dport);
	__builtin_memcpy(lk.addr, &ip->daddr, 4);
	cand = bpf_map_lookup_elem(&espresso_spd_lpm, &lk);
	for (i = 0; cand && i < ESPRESSO_SPD_CANDS; i++) {
		struct espresso_spd_rule *r;
		__u32 idx;

		if (i >= cand->n)
			break;
		idx = (gen_set & 1) * ESPRESSO_SPD_MAX +
		      (cand->rule[i] & (ESPRESSO_SPD_MAX - 1));
		r = bpf_map_lookup_elem(&espresso_spd_rules, &idx);
		if (!r)
			break;
		if ((k.src & r->src_mask) != r->src ||
		    (k.dst & r->dst_mask) != r->dst ||
		    (r->proto && r->proto != k.proto) ||
		    sport < r->sport_lo || sport > r->sport_hi ||
		    dport < r->dport_lo || dport > r->dport_hi)
			continue;
		f.action = r->action;
		f.tunnel = r->tunnel;
		f.rule_id = r->id;
		break;
	}
	bpf_map_update_elem(&espresso_flow_cache, &k, &f, BPF_ANY);
	*tunnel = f.tunnel;
	return f.action;
}

/*
 * IPv6 plaintext on a LAN (its Ethernet header checked, unicast to us):
 * a global unicast destination a tunnel's IPv6 route covers goes to the
 * XSK; link-local, multicast (NDP, MLD) and the gateway's own addresses
 * are the kernel's. No SPD: its selectors are IPv4.
 */
static __always_inline int lan_classify6(struct xdp_md *ctx,
					 struct espresso_xdp_stats *st,
					 const struct espresso_iface *ifc)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct espresso_lpm6_key k = { .prefixlen = 128 };
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct espresso_route *rt;
	struct espresso_meta m;
	__u32 key;

	if ((void *)(ip6 + 1) > data_end || ip6->version != 6 ||
	    (void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > data_end) {
		COUNT(st, drop_malformed);
		return XDP_DROP;
	}
	__builtin_memcpy(k.addr, &ip6->daddr, 16);
	/* IPv6 on the LANs is the default VRF's (espresso_routes6 has no VRF
	 * in its key): another VRF's LAN leaves it to the kernel */
	if (ifc->vrf) {
		COUNT(st, pass_lan_no_route);
		return XDP_PASS;
	}
	/* a link-local source is never forwarded (RFC 4291 2.5.6): the
	 * kernel's, which drops it as a host does */
	if (k.addr[0] == 0xff || (k.addr[0] == 0xfe && (k.addr[1] & 0xc0) == 0x80) ||
	    ip6->saddr.in6_u.u6_addr8[0] == 0xff ||
	    (ip6->saddr.in6_u.u6_addr8[0] == 0xfe &&
	     (ip6->saddr.in6_u.u6_addr8[1] & 0xc0) == 0x80) ||
	    bpf_map_lookup_elem(&espresso_local6, k.addr)) {
		COUNT(st, pass_lan_local);
		return XDP_PASS;
	}
	rt = bpf_map_lookup_elem(&espresso_routes6, &k);
	if (!rt) {
		COUNT(st, pass_lan_no_route);
		return XDP_PASS;
	}
	key = ESPRESSO_XSK_KEY(ifc->lan, ctx->rx_queue_index);
	if (ctx->rx_queue_index >= ESPRESSO_MAX_QUEUES ||
	    !bpf_map_lookup_elem(&espresso_xsks, &key)) {
		COUNT(st, drop_lan_no_xsk);
		return XDP_DROP;
	}
	m = (struct espresso_meta){
		.magic = ESPRESSO_META_MAGIC, .verdict = ESPRESSO_V_PROTECT,
		.l3_proto = 6, .l3_off = sizeof(struct ethhdr),
		.tunnel = rt->tunnel, .lan = ifc->lan,
	};
	COUNT(st, redirect_protect);
	return meta_redirect_key(ctx, st, &m, key);
}

/*
 * A frame on a LAN interface (router mode): plaintext a tunnel route
 * covers goes to this queue's XSK of that LAN, with the tunnel in the
 * metadata; the rest is the kernel's. The worker decrements the TTL and
 * answers with ICMP errors as a router: nothing here changes the packet.
 */
static __always_inline int lan_classify(struct xdp_md *ctx,
					struct espresso_xdp_stats *st,
					const struct espresso_iface *ifc)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct espresso_meta m;
	__u32 tunnel = 0, verdict = ESPRESSO_V_PROTECT;
	struct espresso_lpm4_key k = { .prefixlen = 16 + 32 };
	struct ethhdr *eth = data;
	struct espresso_route *rt;
	struct espresso_spd_ctl *ctl;
	struct iphdr *ip;
	__u32 key, zero = 0;

	COUNT(st, lan_rx_packets);
	if ((void *)(eth + 1) > data_end)
		goto malformed;
	if (eth->h_proto != bpf_htons(ETH_P_IP) &&
	    eth->h_proto != bpf_htons(ETH_P_IPV6)) {
		COUNT(st, pass_lan_other);
		return XDP_PASS;
	}
	/* broadcast, multicast, or another host's unicast: not ours to route */
	if (eth->h_dest[0] != ifc->mac[0] || eth->h_dest[1] != ifc->mac[1] ||
	    eth->h_dest[2] != ifc->mac[2] || eth->h_dest[3] != ifc->mac[3] ||
	    eth->h_dest[4] != ifc->mac[4] || eth->h_dest[5] != ifc->mac[5]) {
		COUNT(st, pass_lan_local);
		return XDP_PASS;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return lan_classify6(ctx, st, ifc);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		goto malformed;
	if (ip->version != 4 || ip->ihl < 5 ||
	    bpf_ntohs(ip->tot_len) < ip->ihl * 4 ||
	    (void *)ip + bpf_ntohs(ip->tot_len) > data_end)
		goto malformed;
	if (bpf_map_lookup_elem(&espresso_local4, &ip->daddr)) {
		COUNT(st, pass_lan_local);
		return XDP_PASS;
	}
	ctl = bpf_map_lookup_elem(&espresso_spd_ctl, &zero);
	if (ctl && ctl->gen_set && !ifc->vrf) { /* the default VRF's SPD */
		switch (spd_verdict(ip, data_end, ctl->gen_set, st, &tunnel)) {
		case ESPRESSO_SPD_PROTECT:
			verdict = ESPRESSO_V_POLICY;
			goto redirect;
		case ESPRESSO_SPD_BYPASS:
			COUNT(st, pass_spd_bypass);
			return XDP_PASS;
		case ESPRESSO_SPD_DISCARD:
			COUNT(st, drop_spd_discard);
			return XDP_DROP;
		default: /* no rule: the routes decide */
			break;
		}
	}
	__builtin_memcpy(k.addr, &ip->daddr, 4);
	k.vrf[0] = ifc->vrf >> 8; /* the LAN's VRF: no route of another */
	k.vrf[1] = ifc->vrf & 0xff;
	rt = bpf_map_lookup_elem(&espresso_routes4, &k);
	if (!rt) {
		COUNT(st, pass_lan_no_route);
		return XDP_PASS;
	}
	tunnel = rt->tunnel;
redirect:
	key = ESPRESSO_XSK_KEY(ifc->lan, ctx->rx_queue_index);
	if (ctx->rx_queue_index >= ESPRESSO_MAX_QUEUES ||
	    !bpf_map_lookup_elem(&espresso_xsks, &key)) {
		COUNT(st, drop_lan_no_xsk);
		return XDP_DROP;
	}
	/* built here, whole, once the paths joined: initialised at its
	 * declaration with a union member written through a pointer on one
	 * path, m reached the frame without its first two bytes (clang 14
	 * dropped their store) */
	m = (struct espresso_meta){
		.magic = ESPRESSO_META_MAGIC, .verdict = verdict,
		.l3_proto = 4, .l3_off = sizeof(struct ethhdr),
		.tunnel = tunnel, .lan = ifc->lan,
	};
	if (verdict == ESPRESSO_V_POLICY)
		COUNT(st, redirect_policy);
	else
		COUNT(st, redirect_protect);
	return meta_redirect_key(ctx, st, &m, key);
malformed:
	COUNT(st, drop_malformed);
	return XDP_DROP;
}

/* ESP whose header starts at esp_off: to the XSK if its SPI is ours. */
static __always_inline int esp_redirect(struct xdp_md *ctx,
					struct espresso_xdp_stats *st,
					__u32 spi_be, int encap, int l3_proto,
					__u16 l3_off, __u16 esp_off)
{
	struct espresso_meta m = {
		.magic = ESPRESSO_META_MAGIC, .verdict = ESPRESSO_V_ESP_IN,
		.encap = encap, .l3_proto = l3_proto, .l3_off = l3_off,
		.esp_off = esp_off, .spi = bpf_ntohl(spi_be),
	};
	__u32 qid = ctx->rx_queue_index;
	struct espresso_sa_in *sa;

	sa = bpf_map_lookup_elem(&espresso_sa_in, &m.spi);
	if (!sa) {
		COUNT(st, drop_unknown_spi);
		return XDP_DROP;
	}
	if (!bpf_map_lookup_elem(&espresso_xsks, &qid)) {
		COUNT(st, drop_no_xsk);
		return XDP_DROP;
	}
	m.sa_index = sa->sa_index;
	if (encap)
		COUNT(st, redirect_natt);
	else
		COUNT(st, redirect_esp);
	return meta_redirect(ctx, st, &m);
}

/* An IP fragment of ESP: to the XSK, which reassembles it. */
static __always_inline int frag_redirect(struct xdp_md *ctx,
					 struct espresso_xdp_stats *st,
					 int l3_proto, __u16 l3_off, int natt)
{
	struct espresso_meta m = {
		.magic = ESPRESSO_META_MAGIC, .verdict = ESPRESSO_V_FRAG,
		.l3_proto = l3_proto, .l3_off = l3_off,
	};
	__u32 qid = ctx->rx_queue_index;

	if (!bpf_map_lookup_elem(&espresso_xsks, &qid)) {
		COUNT(st, pass_fragment);
		return XDP_PASS;
	}
	if (natt)
		COUNT(st, redirect_frag_natt);
	else
		COUNT(st, redirect_frag);
	return meta_redirect(ctx, st, &m);
}

/*
 * A fragment of UDP. The first one is NAT-T ESP when it is to the NAT-T
 * port, without the zero marker, with a known SPI: its train is recorded
 * and it goes to the XSK. A later one goes there when its train was
 * recorded. Everything else is the kernel's (IKE too: its fragments have
 * the zero marker).
 */
static __always_inline int frag_natt(struct xdp_md *ctx,
				     struct espresso_xdp_stats *st,
				     struct cursor *c,
				     struct espresso_frag_key *fk, int verdict,
				     int l3, __u16 l3_off)
{
	struct udphdr *udp = c->pos;
	__u64 now = bpf_ktime_get_ns(), *born;
	__u32 *marker;

	if (verdict == FRAG_UDP_LATER) {
		/* a train older than reassembly keeps one is not this one:
		 * the id was used again (by IKE, say) */
		born = bpf_map_lookup_elem(&espresso_frag_ids, fk);
		if (!born || now - *born > ESPRESSO_FRAG_TRAIN_NS)
			goto pass;
		return frag_redirect(ctx, st, l3, l3_off, 1);
	}
	marker = (void *)(udp + 1);
	if ((void *)(marker + 1) > c->end ||
	    !natt_port(udp->dest) || *marker == 0 ||
	    !bpf_map_lookup_elem(&espresso_sa_in, &(__u32){ bpf_ntohl(*marker) }))
		goto pass;
	if (bpf_map_update_elem(&espresso_frag_ids, fk, &now, BPF_ANY))
		goto pass;
	return frag_redirect(ctx, st, l3, l3_off, 1);
pass:
	COUNT(st, pass_fragment);
	return XDP_PASS;
}

SEC("xdp")
int espresso_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end };
	struct espresso_xdp_stats *st;
	__u32 zero = 0;
	__u16 proto, l3_off, esp_off;
	struct udphdr *udp;
	__u32 *marker;
	struct espresso_frag_key fk = {};
	__u32 l3_len = 0;
	__u16 ulen;
	int l4, l3;

	struct espresso_iface *ifc;
	__u32 ifindex = ctx->ingress_ifindex;

	st = bpf_map_lookup_elem(&espresso_stats, &zero);
	COUNT(st, rx_packets);
	ifc = bpf_map_lookup_elem(&espresso_ifaces, &ifindex);
	if (ifc && ifc->lan)
		return lan_classify(ctx, st, ifc);

	if (parse_eth(&c, &proto) < 0)
		goto malformed;
	l3_off = c.pos - data;
	if (proto == bpf_htons(ETH_P_IP)) {
		l3 = 4;
		l4 = parse_ip4(&c, &l3_len, &fk);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		l3 = 6;
		l4 = parse_ip6(&c, &l3_len, &fk);
	} else {
		COUNT(st, pass_not_ip);
		return XDP_PASS;
	}
	if (l4 == -1)
		goto malformed;
	/* Fragments of ESP are reassembled by the worker; the kernel, which
	 * has no use for ESP, keeps the others. NAT-T: see frag_natt. */
	if (l4 == FRAG_ESP)
		return frag_redirect(ctx, st, l3, l3_off, 0);
	if (l4 == FRAG_UDP_FIRST || l4 == FRAG_UDP_LATER)
		return frag_natt(ctx, st, &c, &fk, l4, l3, l3_off);
	if (l4 == FRAG_OTHER) {
		COUNT(st, pass_fragment);
		return XDP_PASS;
	}
	if (l4 == IP6_EXT_LIMIT) {
		COUNT(st, pass_ip6_ext);
		return XDP_PASS;
	}

	if (l4 == IPPROTO_ESP) {
		__u32 *spi = c.pos;

		/* SPI + sequence number, within the frame and the IP packet
		 * (a NIC pads short frames) */
		if ((void *)(spi + 2) > data_end)
			goto malformed;
		esp_off = c.pos - data;
		if (esp_off + 8 > l3_off + l3_len)
			goto malformed;
		return esp_redirect(ctx, st, *spi, 0, l3, l3_off, esp_off);
	}
	if (l4 != IPPROTO_UDP)
		goto pass;
	udp = c.pos;
	if ((void *)(udp + 1) > data_end)
		goto malformed;
	if (!natt_port(udp->dest))
		goto pass;
	/* The UDP length bounds the payload: a NIC may pad short frames. */
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || (void *)udp + ulen > data_end ||
	    ((void *)udp - data) + ulen > l3_off + l3_len)
		goto malformed;
	marker = (void *)(udp + 1);
	if (ulen < sizeof(*udp) + 4) {
		/* shorter than an SPI: a one-byte 0xFF NAT keepalive, or
		 * something for whoever listens on 4500 */
		if (ulen == sizeof(*udp) + 1 &&
		    (void *)((__u8 *)marker + 1) <= data_end &&
		    *(__u8 *)marker == 0xff) {
			COUNT(st, pass_natt_keepalive);
			return XDP_PASS;
		}
		goto pass;
	}
	if ((void *)(marker + 1) > data_end)
		goto malformed;
	if (*marker == 0) {
		COUNT(st, pass_ike);
		return XDP_PASS;
	}
	if (ulen < sizeof(*udp) + 8 || (void *)(marker + 2) > data_end)
		goto malformed; /* SPI + sequence number */
	esp_off = (void *)marker - data;
	return esp_redirect(ctx, st, *marker, 1, l3, l3_off, esp_off);

pass:
	COUNT(st, pass_other);
	return XDP_PASS;
malformed:
	COUNT(st, drop_malformed);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
