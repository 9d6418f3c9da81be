/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stats: named drop reasons and the counters of each worker and SA.
 * Every counter is written by exactly one worker thread and read by the
 * control thread: no locks, no atomics on the packet path.
 */
#ifndef ESPRESSO_STATS_H
#define ESPRESSO_STATS_H

#include <stdint.h>

/* X(name, help): generates the enum, the names and the help strings. */
#define ESPRESSO_DROPS(X)                                                     \
	X(rx_bad_meta, "frame without valid XDP metadata or outer header")   \
	X(rx_no_sa, "no inbound SA for the SPI")                             \
	X(rx_encap, "encapsulation does not match the SA")                   \
	X(rx_outer_addr, "outer addresses do not match the SA")              \
	X(rx_short, "ESP packet too short")                                  \
	X(rx_window, "sequence number left of the replay window")            \
	X(rx_replay, "sequence number already received")                     \
	X(rx_auth, "ICV did not verify")                                     \
	X(rx_padding, "bad ESP padding")                                     \
	X(rx_next_hdr, "next header neither IPv4 nor IPv6")                  \
	X(rx_dummy, "dummy packet (next header 59)")                         \
	X(rx_inner_len, "inner packet length does not match")                \
	X(rx_inner_src, "inner source outside the tunnel's routes")          \
	X(rx_inner_dst, "inner destination inside the tunnel's routes")      \
	X(rx_tun_write, "write to the tun failed")                           \
	X(rx_fragment, "outer fragment dropped by reassembly (see reasm)")  \
	X(rx_handoff, "handoff ring to the SA's owning worker full")        \
	X(tx_malformed, "packet from the tun is not valid IPv4/IPv6")        \
	X(tx_no_route, "no tunnel for the destination")                      \
	X(tx_too_big, "too big for the uplink MTU after encapsulation")      \
	X(tx_seq_exhausted, "sequence numbers (or the hard packet limit) used up: the SA needs a rekey") \
	X(tx_no_sa, "no outbound SA: none added yet, deleted or expired")   \
	X(tx_seq_unreserved, "sequence numbers not yet reserved on disk")  \
	X(tx_no_neigh, "next-hop MAC unresolved: hold list full or timed out") \
	X(tx_no_frame, "no free UMEM frame")                                 \
	X(tx_ring_full, "XSK TX ring full")                                  \
	X(tx_crypto, "encryption failed")                                   \
	X(lan_bad_ip, "LAN: frame without valid metadata or IPv4 header")    \
	X(lan_ttl, "TTL expired forwarding to or from a LAN (ICMP sent)")    \
	X(lan_no_route, "LAN: no tunnel for the destination (routes changed)") \
	X(lan_no_neigh, "LAN host MAC unresolved: hold list full or timed out") \
	X(lan_too_big, "decrypted packet over the LAN MTU (ICMP if DF)")     \
	X(lan_no_frame, "no free UMEM frame on the LAN port")               \
	X(lan_ring_full, "LAN XSK TX ring full")                            \
	X(lan_no_xsk, "destination on a LAN with no XSK on this queue")      \
	X(rx_policy, "decrypted, but its SPD rule does not protect it with this tunnel") \
	X(rx_vrf_no_tun, "decrypted for a VRF that has no tun")             \
	X(rx_seq_unpersisted, "sequence number above the inbound limit on disk (raised ahead of use)")

#define ESPRESSO_X_ENUM(name, help) DROP_##name,
enum espresso_drop { DROP_NONE = 0, ESPRESSO_DROPS(ESPRESSO_X_ENUM) DROP_MAX };
#undef ESPRESSO_X_ENUM

extern const char *const stats_drop_names[DROP_MAX];
extern const char *const stats_drop_help[DROP_MAX];

/* One per worker. */
struct queue_stats {
	uint64_t rx_frames;  /* frames taken from the XSK RX ring */
	uint64_t rx_bytes;
	uint64_t rx_decrypted; /* inner packets written to the tun */
	uint64_t tun_rx;     /* packets read from the tun */
	uint64_t tun_tx;     /* packets written to the tun (merged count once) */
	uint64_t tx_frames;  /* ESP frames put on the XSK TX ring */
	uint64_t tx_bytes;
	uint64_t tx_completed; /* frames back from the completion ring */
	uint64_t wakeups;    /* sendto() kicks for need_wakeup */
	uint64_t neigh_held; /* packets held while their next hop resolved */
	uint64_t neigh_released; /* held packets sent once it was */
	uint64_t gso_super;  /* super-packets read from the tun */
	uint64_t gso_segments; /* packets made from them (and inner fragments) */
	uint64_t frag_out;   /* outer fragments sent */
	uint64_t icmp_sent;  /* "fragmentation needed"/"too big" to the host */
	uint64_t mss_clamped; /* SYNs whose MSS was lowered */
	uint64_t rx_reassembled; /* ESP packets completed from fragments */
	uint64_t handoff_out; /* frames handed to the worker owning their SA */
	uint64_t handoff_in;  /* frames taken from other workers */
	uint64_t polls;      /* poll() sleeps when idle */
	uint64_t trace_lost; /* trace records lost: the trace ring was full */
	uint64_t pcap_lost;  /* packet copies lost: the pcap ring was full */
	/* router mode */
	uint64_t lan_rx;     /* plaintext frames taken from LAN XSKs */
	uint64_t lan_rx_bytes;
	uint64_t lan_tx;     /* decrypted packets sent on LAN XSKs */
	uint64_t lan_tx_bytes;
	uint64_t lan_held;   /* packets held while a LAN host's MAC resolved */
	uint64_t lan_released; /* held packets sent once it was */
	uint64_t lan_icmp;   /* ICMP errors sent as a router (LAN or tunnel) */
	uint64_t drops[DROP_MAX];
} __attribute__((aligned(64)));

/* One per SA per worker; the control socket adds them up. */
struct sa_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t errors[DROP_MAX];
};

#endif
