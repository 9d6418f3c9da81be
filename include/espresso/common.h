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

/* Map names: the pinned file names under ESPRESSO_PIN_ROOT/<instance>/. */
#define ESPRESSO_MAP_SA_IN "espresso_sa_in"
#define ESPRESSO_MAP_XSKS "espresso_xsks"
#define ESPRESSO_MAP_STATS "espresso_stats"
#define ESPRESSO_MAP_FRAG_IDS "espresso_frag_ids"
#define ESPRESSO_PROG_NAME "espresso_xdp"

/* espresso_sa_in: key = SPI in host byte order. */
struct espresso_sa_in {
	__u32 sa_index; /* index into the daemon's inbound SA table */
	__u32 flags;    /* ESPRESSO_SA_F_* */
};
#define ESPRESSO_SA_F_UDP 0x1 /* SA expects UDP encapsulation (RFC 3948) */
#define ESPRESSO_SA_F_RAW 0x2 /* SA expects raw ESP (IP protocol 50) */

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
	__u32 sa_index;
	__u32 spi; /* host byte order */
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
	X(redirect_frag_natt, "fragment of UDP-encapsulated ESP redirected")  \
	X(pass_ip6_ext, "IPv6 with more extension headers than parsed: to the kernel")

#define ESPRESSO_X_FIELD(name, help) __u64 name;
struct espresso_xdp_stats {
	ESPRESSO_XDP_COUNTERS(ESPRESSO_X_FIELD)
};
#undef ESPRESSO_X_FIELD

#endif
