/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmd: one control-socket request line -> a validated struct cmd. The line
 * is what espressoctl sends, its arguments joined by single spaces:
 *
 *   [-j] show sa|tunnels|routes|stats|frames|xdp|policies|lans
 *   tunnel add NAME local ADDR remote ADDR [encap esp|udp]
 *        [cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305] [replay-window N] [esn on|off]
 *        [fragment inner|outer] [remote-port N]
 *        [keepalive SECONDS]
 *   tunnel add NAME local ADDR p2mp on [encap ...]  (a hub: no remote)
 *   tunnel del NAME
 *   peer add HUB NEXTHOP remote ADDR [remote-port N]
 *   peer del HUB NEXTHOP
 *   sa add TUNNEL in|out spi SPI key HEX [soft-lifetime SECONDS]
 *        [hard-lifetime SECONDS] [soft-bytes N] [hard-bytes N]
 *        [soft-packets N] [hard-packets N] [reqid N] [child NAME]
 *        [peer NEXTHOP]
 *   sa del SPI [in|out]
 *   sa update SPI remote ADDR [sport N dport N]
 *   sa alloc       (an unused inbound SPI, reserved for a while: IKE's)
 *   route add PREFIX tunnel NAME [via NEXTHOP] [ecmp on|off]
 *   route del PREFIX
 *   reload
 *   monitor [ike]  (ike: charon's plugin; its IKE SAs go when it hangs up)
 *   batch begin | batch end
 *   trace N [in|out] [spi SPI] [tunnel NAME] [drops] [timeout SECONDS]
 *   pcap start FILE [in|out|both] [snaplen N]
 *   pcap stop [FILE]
 *   policy add ID [priority N] [src PREFIX] [dst PREFIX]
 *        [proto tcp|udp|icmp|any|N] [sport N[-M]] [dport N[-M]]
 *        action protect|bypass|discard [tunnel NAME]
 *   policy del ID
 *   stop [keep]    (keep: a stop for a restart, see control/daemon.h)
 *
 * A leading -j (before any command) asks for JSON output. Keyword arguments
 * come in any order, each at most once. Values obey the config file's rules
 * (config/check.h), and tunnel add defaults to the config file's defaults.
 * Nothing is looked up here: whether the tunnel or SPI exists, or whether a
 * key's length fits the tunnel's cipher, is the caller's to check.
 */
#ifndef ESPRESSO_CMD_H
#define ESPRESSO_CMD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CMD_MAX_ARGS 32  /* tokens in a line, -j included */
#define CMD_ERR_MAX 1024 /* room for any message of cmd_parse */

enum cmd_op {
	CMD_SHOW, CMD_TUNNEL_ADD, CMD_TUNNEL_DEL, CMD_SA_ADD, CMD_SA_DEL,
	CMD_SA_UPDATE, CMD_ROUTE_ADD, CMD_ROUTE_DEL, CMD_RELOAD, CMD_MONITOR,
	CMD_BATCH_BEGIN, CMD_BATCH_END, CMD_TRACE, CMD_PCAP_START,
	CMD_PCAP_STOP,
	CMD_POLICY_ADD, CMD_POLICY_DEL,
	CMD_SA_ALLOC,
	CMD_PEER_ADD, CMD_PEER_DEL,
	CMD_STOP,
};

enum cmd_show {
	SHOW_SA, SHOW_TUNNELS, SHOW_ROUTES, SHOW_STATS, SHOW_FRAMES, SHOW_XDP,
	SHOW_POLICIES,
	SHOW_LANS,
	SHOW_PEERS,
};

/* The values of struct cmd_sa's dir (those of enum sa_dir). */
enum { CMD_DIR_IN = 0, CMD_DIR_OUT = 1 };

struct cmd_sa {
	char tunnel[CFG_NAME_MAX]; /* sa add */
	int dir;                   /* CMD_DIR_IN or CMD_DIR_OUT */
	bool dir_given;            /* sa del: in|out given (sa add: always) */
	uint32_t spi;              /* host order, 256.. */
	uint8_t key[CFG_KEY_MAX];  /* sa add: AES key then 4-byte salt */
	size_t key_len;            /* 20 or 36 */
	struct sa_life life;       /* sa add; 0s: none */
	struct in_addr remote;     /* sa update: AF_INET */
	int remote_family;         /* sa update: AF_INET or AF_INET6 */
	struct in6_addr remote6;   /* sa update: AF_INET6 */
	uint16_t sport, dport;     /* sa update: host order; 0: not given */
	uint64_t reqid;            /* sa add: IKE's reqid, 1..2^32-1; 0: none */
	char child[CFG_NAME_MAX];  /* sa add: IKE's CHILD_SA name; "": none */
};

/* trace and pcap (core/tap.h: dir as enum tap_dir, 0 = either/both) */
#define CMD_TRACE_MAX 100000     /* packets a trace may ask for */
#define CMD_TRACE_TIMEOUT 10     /* seconds, when not given */
#define CMD_TRACE_TIMEOUT_MAX 3600
#define CMD_PATH_MAX 1024
#define CMD_SNAPLEN_MIN 64
#define CMD_SNAPLEN_MAX 2048

struct cmd_tap {
	uint32_t count;            /* trace: packets */
	uint32_t timeout_s;        /* trace */
	uint32_t spi;              /* trace: with has_spi */
	bool has_spi;
	bool drops;                /* trace: drops only */
	int dir;                   /* 0 either/both, 1 in, 2 out */
	char tunnel[CFG_NAME_MAX]; /* trace: "" any */
	char path[CMD_PATH_MAX];   /* pcap start, stop: absolute ("": none) */
	uint32_t snaplen;          /* pcap start */
};

#define CMD_NH_MAX 46 /* INET6_ADDRSTRLEN */

struct cmd {
	enum cmd_op op;
	bool json;                /* -j: also kept when cmd_parse fails */
	enum cmd_show show;
	/*
	 * tunnel add: name, local, remote, encap, cipher, replay_window, esn,
	 * fragment, sa_pairs = 1; no SAs, no routes (routes NULL), line 0.
	 */
	struct cfg_tunnel tunnel;
	char name[CFG_NAME_MAX];  /* tunnel del; route add: the tunnel */
	struct cmd_sa sa;         /* sa add|del|update */
	struct cfg_prefix prefix; /* route add|del: no host bits set */
	struct cmd_tap tap;       /* trace, pcap start */
	bool ecmp;                /* route add ... ecmp on */
	struct cfg_policy policy; /* policy add|del */
	bool monitor_ike;         /* monitor ike */
	int remote_family;        /* tunnel add: of remote (local's: tunnel) */
	/* P2MP (control/p2mp.h): tunnel add ... p2mp on; the overlay next hop
	 * of peer add|del (hub in name), sa add ... peer NH, route add ... via
	 * NH, as text ("": none) */
	bool p2mp;
	char nexthop[CMD_NH_MAX];
	char vrf[CFG_NAME_MAX];   /* tunnel add, route del: a VRF's name */
	bool stop_keep;           /* stop keep */
};

/*
 * Parse one request line, which is modified in place (tokenized, and every
 * key in it cleansed, whatever the outcome). Tokens are separated by spaces
 * or tabs; one trailing "\n" or "\r\n" is ignored. 0, or -EINVAL with a
 * message in err that names the command, the argument and why, e.g.
 *   "sa add: missing spi SPI (usage: sa add TUNNEL in|out ...)"
 *   "sa add: unknown argument 'foo' (valid: spi, key, ...)"
 *   "sa add: key: 19 bytes; want 20 (aes-gcm-128) or 36 (aes-gcm-256 or chacha20-poly1305): ..."
 *   "tunnel add: replay-window: 33 is not a multiple of 32 (try 64)"
 *   "show: unknown table 'foo'; one of sa, tunnels, routes, stats, frames, xdp"
 *   "unknown command 'foo'; try: show, tunnel, sa, route, reload, monitor, batch"
 * The message never contains key material. On failure *c holds no key and
 * nothing but json is meaningful.
 */
int cmd_parse(char *line, struct cmd *c, char *err, size_t errlen);
/* Wipe key bytes in c (OPENSSL_cleanse). */
void cmd_wipe(struct cmd *c);
/* usage text of every command, one per line (for errors and --help) */
extern const char cmd_usage[];

#endif
