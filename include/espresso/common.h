/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between bpf/espresso.bpf.c and userspace: map names, map key/value
 * structs, the XDP metadata layout and the XDP verdict/drop counters.
 * Plain C types only (__u32 etc.), no libc: the BPF side includes it too.
 */
#ifndef ESPRESSO_COMMON_H
#define ESPRESSO_COMMON_H

#include <linux/types.h>

#define ESPRESSO_NATT_PORT 4500       /* RFC 3948 UDP encapsulation */
#define ESPRESSO_MAX_QUEUES 64        /* xsks_map size */
#define ESPRESSO_MAX_SA 16384         /* sa_in map size */
#define ESPRESSO_PIN_ROOT "/sys/fs/bpf/espresso" /* + "/<instance>" */
/* Router mode: LAN interfaces, each with its own XSKs on the same queues. */
#define ESPRESSO_MAX_LAN 4
#define ESPRESSO_MAX_ROUTES 65536     /* routes4 LPM map size */
#define ESPRESSO_MAX_LOCAL 256        /* local4 map size */
/* Key in espresso_xsks of the XSK of queue q: uplink (lan = 0) or LAN
 * lan - 1 (lan = 1..ESPRESSO_MAX_LAN). */
#define ESPRESSO_XSK_KEY(lan, q) ((lan) * ESPRESSO_MAX_QUEUES + (q))

/* Map names: the pinned file names under ESPRESSO_PIN_ROOT/<instance>/. */
#define ESPRESSO_MAP_SA_IN "espresso_sa_in"
#define ESPRESSO_MAP_XSKS "espresso_xsks"
#define ESPRESSO_MAP_STATS "espresso_stats"
#define ESPRESSO_MAP_FRAG_IDS "espresso_frag_ids"
#define ESPRESSO_PROG_NAME "espresso_xdp"
#define ESPRESSO_MAP_IFACES "espresso_ifaces"
#define ESPRESSO_MAP_ROUTES4 "espresso_routes4"
#define ESPRESSO_MAP_LOCAL4 "espresso_local4"
#define ESPRESSO_MAP_ROUTES6 "espresso_routes6"
#define ESPRESSO_MAP_LOCAL6 "espresso_local6"
#define ESPRESSO_MAP_SPD_RULES "espresso_spd_rules"
#define ESPRESSO_MAP_SPD_LPM "espresso_spd_lpm"
#define ESPRESSO_MAP_SPD_CTL "espresso_spd_ctl"
#define ESPRESSO_MAP_FLOW_CACHE "espresso_flow_cache"
/* NAT-T: the local UDP ports of the tunnels (key: __u16, network order;
 * value: __u32, unused) on which ESP-in-UDP is recognised, besides
 * ESPRESSO_NATT_PORT, which always is */
#define ESPRESSO_MAP_NATT_PORTS "espresso_natt_ports"
#define ESPRESSO_MAX_NATT_PORTS 64

/* espresso_ifaces: key = ifindex. An interface absent from it is the
 * uplink (the program's behaviour before router mode). */
struct espresso_iface {
	__u32 lan;    /* LAN index + 1 */
	__u8 mac[6];  /* the interface's own: other unicast goes to the kernel */
	__u16 vrf;    /* its VRF (0: the default): routes4 looked up in it */
};

/* espresso_routes4 (LPM trie): the tunnels' IPv4 routes, as the FIB. */
struct espresso_lpm4_key {
	__u32 prefixlen; /* 16 (the VRF) + the route's length */
	__u8 vrf[2];     /* the VRF id, big-endian: a VRF's routes only */
	__u8 addr[4];    /* network order */
	__u8 pad[2];     /* zero, beyond every prefix */
};
struct espresso_route {
	__u32 tunnel; /* tunnel slot + 1: the FIB's value */
};
/* espresso_routes6 (LPM trie): the tunnels' IPv6 routes; espresso_local6
 * (hash, key: 16 bytes) the gateway's own IPv6 addresses. */
struct espresso_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16]; /* network order */
};

/* espresso_sa_in: key = SPI in host byte order. */
struct espresso_sa_in {
	__u32 sa_index; /* index into the daemon's inbound SA table */
	__u32 flags;    /* ESPRESSO_SA_F_* */
};
#define ESPRESSO_SA_F_UDP 0x1 /* SA expects UDP encapsulation (RFC 3948) */
#define ESPRESSO_SA_F_RAW 0x2 /* SA expects raw ESP (IP protocol 50) */

/*
 * The SPD of LAN plaintext (router mode), RFC 4301 style: ordered rules
 * with selectors, in two sets so the control thread rebuilds the one not
 * in use and switches with one store into espresso_spd_ctl. A lookup:
 *   espresso_flow_cache (LRU, by 5-tuple): a verdict of this generation;
 *   else espresso_spd_lpm (by set and destination) gives the candidate
 *   rules, in priority order; the first whose selectors match decides,
 *   and the verdict goes into the cache with the generation.
 * A policy change bumps the generation: no cached verdict survives it.
 * No rule matching: the tunnel routes decide, as without an SPD.
 */
#define ESPRESSO_SPD_MAX 16384   /* rules per set */
#define ESPRESSO_SPD_CANDS 16    /* rules whose destination holds one address */
#define ESPRESSO_FLOW_CACHE 65536

enum espresso_spd_action {
	ESPRESSO_SPD_NONE = 0,    /* no rule: the tunnel routes decide */
	ESPRESSO_SPD_PROTECT = 1, /* into the rule's tunnel */
	ESPRESSO_SPD_BYPASS = 2,  /* to the kernel, in clear */
	ESPRESSO_SPD_DISCARD = 3, /* dropped, counted */
};

/* espresso_spd_rules (array): index set * ESPRESSO_SPD_MAX + position in
 * priority order. Addresses and masks in network order, ports host order. */
struct espresso_spd_rule {
	__u32 src, src_mask;
	__u32 dst, dst_mask;
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u8 proto;  /* 0: any */
	__u8 action; /* enum espresso_spd_action */
	__u16 pad;
	__u32 tunnel; /* PROTECT: tunnel slot + 1 */
	__u32 id;     /* the policy's id (espressoctl policy) */
};

/* espresso_spd_lpm (LPM trie): prefixlen = 8 + the destination's length. */
struct espresso_spd_lpm_key {
	__u32 prefixlen;
	__u8 set;
	__u8 addr[4];
	__u8 pad[3];
};
struct espresso_spd_cands {
	__u32 n;
	__u32 rule[ESPRESSO_SPD_CANDS]; /* positions in the set, ascending */
};

/* espresso_spd_ctl (array of one): generation * 2 + the set in use, in one
 * word so a reader sees both from one store; 0: no policy at all. */
struct espresso_spd_ctl {
	__u64 gen_set;
};

/* espresso_flow_cache (LRU hash). Ports 0 when the packet has none (not
 * TCP/UDP, or a fragment but the first). */
struct espresso_flow_key {
	__u32 src, dst;
	__u16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};
struct espresso_flow {
	__u32 gen;     /* valid while espresso_spd_ctl says this generation */
	__u32 tunnel;  /* PROTECT: tunnel slot + 1 */
	__u32 rule_id; /* 0: no rule matched */
	__u8 action;   /* enum espresso_spd_action */
	__u8 pad[3];
};

/*
 * espresso_frag_ids (LRU hash): the IP fragment trains whose first fragment
 * was UDP-encapsulated ESP of a known SPI (NAT-T). The later fragments of a
 * train carry no UDP header; the program finds them here and sends them to
 * the XSK too. A later fragment that comes before the first goes to the
 * kernel (its train then times out in both). Addresses as on the wire,
 * IPv4 in the first 4 bytes; id: the IPv4 identification or IPv6
 * fragment header's, as on the wire.
 */
#define ESPRESSO_FRAG_IDS_MAX 4096
/* value: bpf_ktime_get_ns() of the first fragment; a later fragment is
 * taken within this time of it (the reassembly timeout), so an id used
 * again later (IKE's own fragments) is the kernel's */
#define ESPRESSO_FRAG_TRAIN_NS 2000000000ull
struct espresso_frag_key {
	__u8 l3_proto; /* 4 or 6 */
	__u8 pad[3];
	__u32 id;
	__u8 src[16];
	__u8 dst[16];
};

/* Verdicts written to the metadata in front of each redirected frame. */
enum espresso_verdict {
	ESPRESSO_V_NONE = 0,
	ESPRESSO_V_ESP_IN = 1, /* inbound ESP for sa_index, to decrypt */
	ESPRESSO_V_FRAG = 2,   /* an IPv4/IPv6 fragment of ESP, to reassemble */
	ESPRESSO_V_PROTECT = 3, /* LAN plaintext a tunnel's routes cover */
	ESPRESSO_V_POLICY = 4,  /* LAN plaintext an SPD rule protects: the
				 * tunnel in the metadata decides */
};

/*
 * Metadata (bpf_xdp_adjust_meta) that ends right before the Ethernet header
 * of a redirected frame. All offsets are from the Ethernet header.
 * Size is a multiple of 4, as the kernel requires.
 */
#define ESPRESSO_META_MAGIC 0xE5 /* marks meta written by espresso.bpf.o */
struct espresso_meta {
	__u8 magic;    /* ESPRESSO_META_MAGIC */
	__u8 verdict;  /* enum espresso_verdict */
	__u8 encap;    /* 0 raw ESP, 1 UDP-encapsulated */
	__u8 l3_proto; /* 4 or 6: outer IP version */
	__u16 l3_off;  /* outer IP header */
	__u16 esp_off; /* ESP header (after UDP for NAT-T) */
	union {
		__u32 sa_index; /* ESP_IN, FRAG */
		__u32 tunnel;   /* PROTECT: tunnel slot + 1 (the FIB's value) */
	};
	union {
		__u32 spi; /* ESP_IN: host byte order */
		__u32 lan; /* PROTECT: the LAN index + 1 it came in on */
	};
};

/*
 * XDP counters, one struct per CPU in the single-entry per-CPU array
 * espresso_stats, so `bpftool map dump` prints them by name.
 * X(name, help)
 */
#define ESPRESSO_XDP_COUNTERS(X)                                              \
	X(rx_packets, "frames seen by the program")                          \
	X(pass_not_ip, "not IPv4/IPv6: to the kernel")                       \
	X(pass_other, "IP but not ESP nor NAT-T: to the kernel")             \
	X(pass_ike, "UDP 4500 with the non-ESP marker (IKE): to the kernel") \
	X(pass_fragment, "IP fragment, not of ESP: to the kernel")           \
	X(redirect_frag, "IPv4/IPv6 fragment of ESP redirected for reassembly") \
	X(redirect_esp, "ESP with known SPI redirected to the XSK")          \
	X(redirect_natt, "UDP-encapsulated ESP redirected to the XSK")       \
	X(drop_unknown_spi, "ESP with an SPI not in espresso_sa_in")         \
	X(drop_malformed, "truncated or invalid header")                     \
	X(drop_no_xsk, "known SPI but no XSK bound on this queue")           \
	X(drop_meta, "bpf_xdp_adjust_meta failed")                           \
	X(pass_natt_keepalive, "NAT-T keepalive (RFC 3948 0xFF): to the kernel") \
	X(lan_rx_packets, "frames seen on LAN interfaces (router mode)")     \
	X(redirect_protect, "LAN plaintext a tunnel route covers: to the XSK") \
	X(pass_lan_local, "LAN: for the gateway, not unicast to it, fe80::/10, ff00::/8") \
	X(pass_lan_no_route, "LAN: no tunnel route covers it: to the kernel") \
	X(pass_lan_other, "LAN: not IPv4/IPv6, or VLAN-tagged: to the kernel")      \
	X(drop_lan_no_xsk, "LAN: a tunnel covers it but no XSK on this queue") \
	X(spd_cache_hit, "LAN: SPD verdict from the flow cache")              \
	X(spd_cache_miss, "LAN: SPD looked up (and the verdict cached)")      \
	X(redirect_policy, "LAN: an SPD rule protects it: to the XSK")        \
	X(pass_spd_bypass, "LAN: an SPD rule bypasses it: to the kernel")     \
	X(drop_spd_discard, "LAN: an SPD rule discards it")             \
	X(redirect_frag_natt, "fragment of UDP-encapsulated ESP redirected")  \
	X(pass_ip6_ext, "IPv6 with more extension headers than parsed: to the kernel")

#define ESPRESSO_X_FIELD(name, help) __u64 name;
struct espresso_xdp_stats {
	ESPRESSO_XDP_COUNTERS(ESPRESSO_X_FIELD)
};
#undef ESPRESSO_X_FIELD

#endif
