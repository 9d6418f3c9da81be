/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check: the value validators shared by the config file parser (config.c)
 * and the control-socket command parser (control/cmd.c), so that a tunnel,
 * an SA or a route is held to the same rules whichever way it arrives.
 *
 * Each takes one value (a string, or a number the caller already read),
 * and either fills *out and returns 0, or returns -EINVAL and writes into
 * why a reason that reads as one clause quoting the value, e.g.
 *   "'gw a' is not a valid name (1..31 characters of A-Z a-z 0-9 _ -)"
 * The caller puts its context in front: "FILE:LINE: FIELD: " + why in the
 * config file, "COMMAND: ARGUMENT: " + why on the control socket. A reason
 * never quotes key material. why may be NULL (then whylen is ignored).
 */
#ifndef ESPRESSO_CHECK_H
#define ESPRESSO_CHECK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CFG_WHY_MAX 512 /* enough for any reason below */
#define CFG_QUOTE_MAX 80
#define CFG_REPLAY_MIN 32
#define CFG_SALT_LEN 4 /* after the AES key, as rfc4106(gcm(aes)) */
#define CFG_CIPHER_ANY (-1) /* cfg_parse_key: cipher not known yet */

/*
 * s in single quotes for a message: shortened to fit, unprintable bytes as
 * '?', and a hex string that may be a key described, not shown
 * (cfg_check_secret). buf should have CFG_QUOTE_MAX bytes.
 */
const char *cfg_quote(const char *s, char *buf, size_t len);
/*
 * s looks like key material: a hex string (optional 0x) of more than 16
 * digits with a letter among them, or of 40 digits or more.
 */
bool cfg_check_secret(const char *s);

/* lo <= v <= hi: "%lld is out of range (lo..hi)". */
int cfg_check_range(long long v, long long lo, long long hi, char *why,
		    size_t whylen);
/* Unsigned number, decimal or hex after 0x/0X, no sign, no spaces, in lo..hi. */
int cfg_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *v,
		   char *why, size_t whylen);
/* 0..UINT64_MAX: byte and packet counts, seconds. */
int cfg_parse_u64(const char *s, uint64_t *v, char *why, size_t whylen);
/* UDP/TCP port 1..65535 (host order). */
int cfg_parse_port(const char *s, uint16_t *port, char *why, size_t whylen);
/* "on" or "off". */
int cfg_parse_bool(const char *s, bool *v, char *why, size_t whylen);
/*
 * One of the NULL-terminated names; *v its index. what names the kind of
 * value: "unknown cipher 'x' (valid: aes-gcm-128, aes-gcm-256)".
 */
int cfg_parse_enum(const char *s, const char *const *names, const char *what,
		   int *v, char *why, size_t whylen);

/* Instance and tunnel names: [A-Za-z0-9_-], 1..CFG_NAME_MAX-1 characters. */
int cfg_check_name(const char *s, char dst[CFG_NAME_MAX], char *why,
		   size_t whylen);
/* Dotted quad (outer addresses are IPv4). */
int cfg_parse_ipv4(const char *s, struct in_addr *a, char *why,
		   size_t whylen);
/*
 * A tunnel end, IPv4 or IPv6: *family AF_INET (a4 filled) or AF_INET6 (a6).
 * want: 0 for either, else the family the other end has.
 */
int cfg_parse_endpoint(const char *s, int want, int *family,
		       struct in_addr *a4, struct in6_addr *a6, char *why,
		       size_t whylen);
/* A tunnel's two ends must differ: "same address as local". */
int cfg_check_endpoints(struct in_addr local, struct in_addr remote,
			char *why, size_t whylen);
/* An interface address with its prefix ("10.10.0.1/24"): host bits allowed. */
int cfg_parse_addr_prefix(const char *s, struct cfg_prefix *p, char *why,
			  size_t whylen);
/* A route ("10.1.0.0/16", "fd01::/48"): IPv4 or IPv6, no host bits set. */
int cfg_parse_route(const char *s, struct cfg_prefix *p, char *why,
		    size_t whylen);
/* "a.b.c.d/len" or "x::y/len" in buf, as config_parse_prefix reads it. */
/* "a, b, c" from a NULL-terminated list. */
const char *cfg_list_str(char *buf, size_t len, const char *const *names);
const char *cfg_prefix_str(const struct cfg_prefix *p, char *buf, size_t len);

/*
 * A soft limit (seconds, bytes) must come before the hard one; 0 is none.
 * what names the hard one: "%llu is not below hard-lifetime %llu".
 */
int cfg_check_soft_hard(uint64_t soft, uint64_t hard, const char *what,
			char *why, size_t whylen);

/* An SPI read as a number: 256..0xffffffff (RFC 4303 reserves 0..255). */
int cfg_check_spi(long long v, uint32_t *spi, char *why, size_t whylen);
/* An SPI as text: decimal or 0x hex, then as cfg_check_spi. */
int cfg_parse_spi(const char *s, uint32_t *spi, char *why, size_t whylen);
/*
 * Hex (optional 0x/0X) -> key[] and *len: the AES key then the 4-byte salt,
 * as rfc4106(gcm(aes)). cipher: an enum cfg_cipher whose length is required,
 * or CFG_CIPHER_ANY for either 20 (aes-gcm-128) or 36 (aes-gcm-256) bytes.
 * key is written only on success; messages never quote the text.
 */
int cfg_parse_key(const char *hex, int cipher, uint8_t key[CFG_KEY_MAX],
		  size_t *len, char *why, size_t whylen);

/*
 * A LAN interface (router mode) must be none of the uplink, the tun and the
 * LANs before it in c->lans[0..idx): "'eth0' is also the uplink".
 */
int cfg_check_lan(const struct cfg *c, int idx, const char *name, char *why,
		  size_t whylen);

/* ---- SPD selectors and actions (router mode: espressoctl policy) ---- */
/* An IPv4 selector prefix, as cfg_parse_route ("0.0.0.0/0": any). */
int cfg_parse_selector4(const char *s, struct cfg_prefix *p, char *why,
			size_t whylen);
/* "tcp", "udp", "icmp", "any" (0) or a protocol number 0..255. */
int cfg_parse_proto(const char *s, uint8_t *proto, char *why, size_t whylen);
/* "N" or "N-M", 0..65535, N <= M: range[0] = N, range[1] = M. */
int cfg_parse_port_range(const char *s, uint16_t range[2], char *why,
			 size_t whylen);
/* "protect" 1, "bypass" 2, "discard" 3 (enum espresso_spd_action). */
int cfg_parse_spd_action(const char *s, int *action, char *why,
			 size_t whylen);
extern const char *const cfg_spd_action_names[]; /* [1..3], [0] = "none" */

/* The names, indexed by the enum, NULL-terminated (for cfg_parse_enum). */
extern const char *const cfg_cipher_names[];
extern const char *const cfg_encap_names[];
extern const char *const cfg_fragment_names[];

/* "aes-gcm-128", "aes-gcm-256" */
int cfg_parse_cipher(const char *s, enum cfg_cipher *c, char *why,
		     size_t whylen);
/* "esp", "udp" */
int cfg_parse_encap(const char *s, enum cfg_encap *e, char *why,
		    size_t whylen);
/* "inner", "outer" */
int cfg_parse_fragment(const char *s, enum cfg_fragment *f, char *why,
		       size_t whylen);
/* Replay window: CFG_REPLAY_MIN..CFG_REPLAY_MAX, a multiple of 32. */
int cfg_check_replay_window(long long v, uint32_t *w, char *why,
			    size_t whylen);
int cfg_parse_replay_window(const char *s, uint32_t *w, char *why,
			    size_t whylen);

#endif
