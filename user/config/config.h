/* SPDX-License-Identifier: GPL-2.0 */
/* config: a libconfig file -> validated structs. Nothing is attached here. */
#ifndef ESPRESSO_CONFIG_H
#define ESPRESSO_CONFIG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/params.h"

/* workers.crypto = "auto": intel-ipsec-mb where it can be used (built in,
 * the CPU has AES-NI and PCLMULQDQ, its self-test passes), else OpenSSL
 * (beside enum crypto_backend's values) */
#define CFG_CRYPTO_AUTO 2

#define CFG_NAME_MAX 32
#define CFG_MAX_QUEUES 64
#define CFG_MAX_ADDRS 8
#define CFG_REPLAY_DEFAULT 1024
#define CFG_REPLAY_MAX 4096
#define CFG_METRICS_LISTEN "127.0.0.1"
#define CFG_METRICS_PORT 9477
#define CFG_MAX_LAN 4 /* = ESPRESSO_MAX_LAN */

enum cfg_xdp_mode { XDPMODE_NATIVE = 0, XDPMODE_SKB = 1 };
enum cfg_auto { CFG_AUTO = 0, CFG_ON = 1, CFG_OFF = 2 };

struct cfg_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t len;
};

struct cfg_sa {
	uint32_t spi;           /* host byte order, never 0..255 (RFC 4303) */
	uint8_t key[CFG_KEY_MAX]; /* key then 4-byte salt, as rfc4106(gcm(aes)) */
	size_t key_len;         /* 20 or 36 */
};

struct cfg_tunnel {
	char name[CFG_NAME_MAX];
	struct in_addr local, remote; /* outer IPv4 */
	/* AF_INET6: the outer header is IPv6 (local6/remote6); 0 or AF_INET:
	 * IPv4 (local/remote). Both ends are of one family. */
	int family;
	struct in6_addr local6, remote6;
	enum cfg_encap encap;
	enum cfg_cipher cipher;
	uint32_t replay_window; /* 32..4096, multiple of 32; default 1024 */
	bool esn;               /* default true */
	enum cfg_fragment fragment; /* DF-clear packets too big: default inner */
	/*
	 * SA pairs (1..CFG_MAX_QUEUES, default 1). With n > 1, pair i uses SPI
	 * spi + i each way and the key derived from the configured one by
	 * sa_derive_key (HKDF, RFC 5869, with the SPI): one SA pair per queue,
	 * RFC 9611 style. With 1, every queue shares the pair ("fat tunnel").
	 */
	int sa_pairs;
	/* NAT-T (encap udp): the peer's UDP port (0: 4500), and keepalives
	 * (RFC 3948 2.3) every keepalive_s seconds of idle (0: none) */
	uint16_t remote_port;
	uint32_t keepalive_s;
	/* NAT-T: our own UDP port, where ESP-in-UDP comes in and goes out
	 * from (0: 4500) */
	uint16_t local_port;
	struct cfg_sa out, in;
	struct cfg_prefix *routes; /* remote prefixes reached through the tunnel */
	int nroutes;
	uint16_t vrf; /* its VRF: 0 the default, else index in cfg.vrfs + 1 */
	int line; /* line of the tunnel's group in the file, for messages */
	/* P2MP (control/p2mp.h): a hub, the template of the tunnels after it
	 * named "HUB/NEXTHOP" (its peers = ( ... ) in the file); a hub has no
	 * remote, SAs nor routes */
	bool p2mp;
};

/* An SPD rule of LAN plaintext (router mode): the config's policies and
 * espressoctl policy add. */
struct cfg_policy {
	uint32_t id;             /* 1.. */
	uint32_t priority;       /* 0..65535, lower first; default 1000 */
	struct cfg_prefix src, dst; /* IPv4; default 0.0.0.0/0 */
	uint8_t proto;           /* 0: any */
	uint16_t sport[2], dport[2]; /* ranges; default 0-65535 */
	int action;              /* 1 protect, 2 bypass, 3 discard */
	char tunnel[CFG_NAME_MAX]; /* protect */
};

struct cfg {
	char path[4096];
	char instance[CFG_NAME_MAX]; /* [A-Za-z0-9_-]+ */
	/* key files that group or others may access: refused unless true
	 * (the config file itself only gets a warning) */
	bool allow_insecure_key_files;
	struct {
		int queues;              /* 1..CFG_MAX_QUEUES */
		int cpus[CFG_MAX_QUEUES]; /* -1: not pinned */
		int batch;               /* 1..256, default 64 */
		bool busy_poll;          /* spin instead of sleeping; default false */
		int busy_poll_budget;    /* SO_BUSY_POLL_BUDGET, 1..1024, 64 */
		int fill_ring;  /* frames given to the kernel to receive into:
				 * 64..4096, a power of 2, default 1024 */
		int crypto;  /* enum crypto_backend: "openssl", "ipsec-mb"; or
			      * CFG_CRYPTO_AUTO ("auto", the default) */
	} workers;
	struct {
		char name[IF_NAMESIZE];
		int ifindex;
		enum cfg_xdp_mode xdp_mode;
		enum cfg_auto zerocopy;
		/* receive path in kernel threads of its own (sysfs "threaded"):
		 * auto (default: on for veth, NICs left as they are), on, off */
		enum cfg_auto threaded_napi;
	} uplink;
	struct {
		char name[IF_NAMESIZE];
		int mtu;      /* 576..3500; 0 (default): uplink MTU - ESP overhead */
		bool offload; /* virtio_net_hdr: GSO/GRO/checksum; default true */
		bool mss_clamp; /* clamp TCP MSS on SYNs; default true */
		struct cfg_prefix addrs[CFG_MAX_ADDRS];
		int naddrs;
	} tun;
	/* the Prometheus endpoint (control/metrics.c); the group absent: off */
	struct {
		bool enabled;
		int family;      /* of listen: AF_INET or AF_INET6 */
		uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
		char listen[INET6_ADDRSTRLEN]; /* as inet_ntop writes it */
		uint16_t port;   /* 1..65535 */
	} metrics;
	struct cfg_tunnel *tunnels;
	int ntunnels;
	/* router mode: LAN interfaces whose plaintext is classified in XDP
	 * and whose decrypted traffic leaves on their own XSKs */
	struct cfg_lan {
		char name[IF_NAMESIZE];
		int ifindex;
		uint16_t vrf; /* 0: the default; else index in vrfs + 1 */
	} lans[CFG_MAX_LAN];
	int nlans;
	struct cfg_policy *policies; /* router mode's SPD */
	int npolicies;
	/* VRFs besides the default (id = index + 1): each a routing table of
	 * its tunnels' routes and a tun of its own, whose kernel routes go to
	 * kernel table `table` (the same prefixes in two VRFs: two tables) */
	struct cfg_vrf {
		char name[CFG_NAME_MAX];
		uint32_t table;
		char tun[IF_NAMESIZE];
		struct cfg_prefix addrs[CFG_MAX_ADDRS];
		int naddrs;
	} vrfs[CFG_MAX_VRF];
	int nvrfs;
};

/* The id of VRF name (0: "default" or ""), -1 if there is none. */
int config_vrf_id(const struct cfg *c, const char *name);

/*
 * Parse and validate path into *c. On failure returns -EINVAL (or -errno for
 * I/O) and writes "FILE:LINE: FIELD: what is wrong" into err. A key file
 * that group or others may access is refused unless
 * allow_insecure_key_files = true (then a warning); a config file like
 * that gets a warning. Warnings go to the log.
 * check_system: also check that the uplink interface exists.
 */
int config_load(const char *path, struct cfg *c, bool check_system,
		char *err, size_t errlen);
/* Frees what config_load allocated and wipes the keys. */
void config_free(struct cfg *c);

const char *config_cipher_name(enum cfg_cipher c);
/* Key length including the 4-byte salt. */
size_t config_cipher_key_len(enum cfg_cipher c);
/* Parse "a.b.c.d/len" or "x::y/len" (no /len: host prefix). 0 or -EINVAL. */
int config_parse_prefix(const char *s, struct cfg_prefix *p);
/* true when addr (family's size, network order) is inside p. */
bool config_prefix_contains(const struct cfg_prefix *p, int family,
			    const void *addr);

#endif
