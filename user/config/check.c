// SPDX-License-Identifier: GPL-2.0
/*
 * check: one value at a time, the rules a setting of the config file and an
 * argument of a control command both obey (check.h). Also the prefix and
 * cipher helpers config.h declares, which the rules are made of.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/check.h"

/* A value with more hex digits than a 64-bit number is quoted as its size. */
#define HEX_SHOWN_MAX 16

const char *const cfg_cipher_names[] = {
	[CIPHER_AES_GCM_128] = "aes-gcm-128",
	[CIPHER_AES_GCM_256] = "aes-gcm-256",
	[CIPHER_CHACHA20_POLY1305] = "chacha20-poly1305",
	NULL,
};
const char *const cfg_encap_names[] = {
	[ENCAP_ESP] = "esp", [ENCAP_UDP] = "udp", NULL,
};
const char *const cfg_fragment_names[] = {
	[FRAG_INNER] = "inner", [FRAG_OUTER] = "outer", NULL,
};
static const char *const on_off_names[] = { "off", "on", NULL };

/* Writes the reason; -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static const char *skip_0x(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? s + 2 : s;
}

bool cfg_check_secret(const char *s)
{
	const char *h = skip_0x(s);
	size_t n = strlen(h);

	if (n <= HEX_SHOWN_MAX || strspn(h, "0123456789abcdefABCDEF") != n)
		return false;
	/* all decimal: a number too large, unless as long as a key */
	return strspn(h, "0123456789") != n || n >= 40;
}

const char *cfg_quote(const char *s, char *buf, size_t len)
{
	size_t i, n = strlen(s), max;

	if (len < 8) {
		snprintf(buf, len, "'...'");
		return buf;
	}
	if (cfg_check_secret(s)) {
		snprintf(buf, len, "a %zu-digit hex string (not shown)",
			 strlen(skip_0x(s)));
		return buf;
	}
	max = len - 6;
	buf[0] = '\'';
	for (i = 0; i < n && i < max; i++)
		buf[i + 1] = s[i] >= ' ' && s[i] < 0x7f ? s[i] : '?';
	strcpy(buf + i + 1, n > max ? "...'" : "'");
	return buf;
}

const char *cfg_list_str(char *buf, size_t len, const char *const *names)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *names && n < len; names++)
		n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *names);
	return buf;
}

/* ---- numbers ---- */

int cfg_check_range(long long v, long long lo, long long hi, char *why,
		    size_t whylen)
{
	if (v < lo || v > hi)
		return say(why, whylen, "%lld is out of range (%lld..%lld)", v,
			   lo, hi);
	return 0;
}

/* 0, -EINVAL (not a number) or -ERANGE (over 64 bits). */
static int read_uint(const char *s, uint64_t *v)
{
	unsigned int base = 10;
	bool over = false;
	uint64_t n = 0;
	int d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		d = hexval(*s);
		if (d < 0 || (unsigned int)d >= base)
			return -EINVAL;
		if (n > (UINT64_MAX - (unsigned int)d) / base)
			over = true;
		n = n * base + (unsigned int)d;
	}
	*v = n;
	return over ? -ERANGE : 0;
}

/* Why s, which read_uint refused with ret, is no number in lo..hi. */
static int not_in(const char *s, int ret, uint64_t lo, uint64_t hi,
		  char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX];

	if (ret == -EINVAL && s[0] == '-')
		return say(why, whylen, "%s is negative (%llu..%llu)",
			   cfg_quote(s, q, sizeof(q)), (unsigned long long)lo,
			   (unsigned long long)hi);
	if (ret == -EINVAL)
		return say(why, whylen, "%s is not a number (%llu..%llu, decimal or hex after 0x)",
			   cfg_quote(s, q, sizeof(q)), (unsigned long long)lo,
			   (unsigned long long)hi);
	return say(why, whylen, "%s is out of range (%llu..%llu)",
		   cfg_quote(s, q, sizeof(q)), (unsigned long long)lo,
		   (unsigned long long)hi);
}

int cfg_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *v,
		   char *why, size_t whylen)
{
	uint64_t n = 0;
	int ret = read_uint(s, &n);

	if (ret || n < lo || n > hi)
		return not_in(s, ret ? ret : -ERANGE, lo, hi, why, whylen);
	*v = n;
	return 0;
}

int cfg_parse_u64(const char *s, uint64_t *v, char *why, size_t whylen)
{
	return cfg_parse_uint(s, 0, UINT64_MAX, v, why, whylen);
}

int cfg_parse_port(const char *s, uint16_t *port, char *why, size_t whylen)
{
	uint64_t v = 0;
	int ret = cfg_parse_uint(s, 1, UINT16_MAX, &v, why, whylen);

	if (!ret)
		*port = (uint16_t)v;
	return ret;
}

/* ---- words ---- */

int cfg_parse_enum(const char *s, const char *const *names, const char *what,
		   int *v, char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX], valid[128];
	int i;

	for (i = 0; names[i]; i++) {
		if (!strcmp(names[i], s)) {
			*v = i;
			return 0;
		}
	}
	return say(why, whylen, "unknown %s %s (valid: %s)", what,
		   cfg_quote(s, q, sizeof(q)),
		   cfg_list_str(valid, sizeof(valid), names));
}

int cfg_parse_bool(const char *s, bool *v, char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	int i;

	if (cfg_parse_enum(s, on_off_names, "", &i, NULL, 0))
		return say(why, whylen, "%s is neither on nor off",
			   cfg_quote(s, q, sizeof(q)));
	*v = i;
	return 0;
}

int cfg_parse_cipher(const char *s, enum cfg_cipher *c, char *why,
		     size_t whylen)
{
	int i, ret = cfg_parse_enum(s, cfg_cipher_names, "cipher", &i, why, whylen);

	if (!ret)
		*c = i;
	return ret;
}

int cfg_parse_encap(const char *s, enum cfg_encap *e, char *why,
		    size_t whylen)
{
	int i, ret = cfg_parse_enum(s, cfg_encap_names, "encapsulation", &i, why,
				    whylen);

	if (!ret)
		*e = i;
	return ret;
}

int cfg_parse_fragment(const char *s, enum cfg_fragment *f, char *why,
		       size_t whylen)
{
	int i, ret = cfg_parse_enum(s, cfg_fragment_names, "fragmentation", &i,
				    why, whylen);

	if (!ret)
		*f = i;
	return ret;
}

int cfg_check_name(const char *s, char dst[CFG_NAME_MAX], char *why,
		   size_t whylen)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	char q[CFG_QUOTE_MAX];

	if (!n || n != strlen(s) || n >= CFG_NAME_MAX)
		return say(why, whylen, "%s is not a valid name (1..%d characters of A-Z a-z 0-9 _ -)",
			   cfg_quote(s, q, sizeof(q)), CFG_NAME_MAX - 1);
	memcpy(dst, s, n + 1);
	return 0;
}

/* ---- addresses and prefixes ---- */

int cfg_parse_ipv4(const char *s, struct in_addr *a, char *why,
		   size_t whylen)
{
	char q[CFG_QUOTE_MAX];

	if (inet_pton(AF_INET, s, a) != 1)
		return say(why, whylen, "%s is not an IPv4 address (outer addresses are IPv4, like 192.0.2.1)",
			   cfg_quote(s, q, sizeof(q)));
	return 0;
}

int cfg_parse_endpoint(const char *s, int want, int *family,
		       struct in_addr *a4, struct in6_addr *a6, char *why,
		       size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	int f;

	if (inet_pton(AF_INET, s, a4) == 1)
		f = AF_INET;
	else if (inet_pton(AF_INET6, s, a6) == 1)
		f = AF_INET6;
	else
		return say(why, whylen, "%s is not an IPv4 or IPv6 address (like 192.0.2.1 or 2001:db8::1)",
			   cfg_quote(s, q, sizeof(q)));
	if (want && f != want)
		return say(why, whylen, "%s is an %s address but local is %s: both ends of a tunnel are of one family",
			   cfg_quote(s, q, sizeof(q)),
			   f == AF_INET ? "IPv4" : "IPv6",
			   want == AF_INET ? "IPv4" : "IPv6");
	if (f == AF_INET6 && (IN6_IS_ADDR_MULTICAST(a6) ||
			      IN6_IS_ADDR_UNSPECIFIED(a6)))
		return say(why, whylen, "%s is not a unicast address",
			   cfg_quote(s, q, sizeof(q)));
	*family = f;
	return 0;
}

int cfg_check_endpoints(struct in_addr local, struct in_addr remote,
			char *why, size_t whylen)
{
	if (local.s_addr == remote.s_addr)
		return say(why, whylen, "same address as local");
	return 0;
}

int cfg_check_lan(const struct cfg *c, int idx, const char *name, char *why,
		  size_t whylen)
{
	int i;

	if (!strcmp(name, c->uplink.name))
		return say(why, whylen, "'%s' is also the uplink (a LAN needs "
			   "its own interface)", name);
	if (!strcmp(name, c->tun.name))
		return say(why, whylen, "'%s' is also the tun", name);
	for (i = 0; i < idx; i++)
		if (!strcmp(name, c->lans[i].name))
			return say(why, whylen, "'%s' is listed twice", name);
	return 0;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* "24" -> 24, digits only, at most max. */
static int parse_len(const char *s, unsigned int max, uint8_t *len)
{
	unsigned int v = 0;
	size_t n = strlen(s);

	if (!n || n > 3 || strspn(s, "0123456789") != n)
		return -EINVAL;
	while (*s)
		v = v * 10 + (unsigned int)(*s++ - '0');
	if (v > max)
		return -EINVAL;
	*len = (uint8_t)v;
	return 0;
}

int config_parse_prefix(const char *s, struct cfg_prefix *p)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash;
	size_t alen;

	if (!s || !p)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (!alen || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	p->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(p->family, buf, p->addr) != 1)
		goto bad;
	p->len = (uint8_t)(addr_len(p->family) * 8);
	if (!slash || !parse_len(slash + 1, p->len, &p->len))
		return 0;
bad:
	memset(p, 0, sizeof(*p));
	return -EINVAL;
}

bool config_prefix_contains(const struct cfg_prefix *p, int family,
			    const void *addr)
{
	const uint8_t *a = addr;
	unsigned int full, bits;
	uint8_t mask;

	if (!p || !a || p->family != family || !addr_len(family) ||
	    p->len > addr_len(family) * 8)
		return false;
	full = p->len / 8;
	bits = p->len % 8;
	if (memcmp(p->addr, a, full))
		return false;
	if (!bits)
		return true;
	mask = (uint8_t)(0xff << (8 - bits));
	return !((p->addr[full] ^ a[full]) & mask);
}

/* p with the host bits cleared. */
static struct cfg_prefix prefix_masked(const struct cfg_prefix *p)
{
	struct cfg_prefix m = *p;
	unsigned int i;

	for (i = 0; i < sizeof(m.addr); i++) {
		unsigned int bit = i * 8;

		if (bit >= m.len)
			m.addr[i] = 0;
		else if (bit + 8 > m.len)
			m.addr[i] &= (uint8_t)(0xff << (bit + 8 - m.len));
	}
	return m;
}

const char *cfg_prefix_str(const struct cfg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

int cfg_parse_addr_prefix(const char *s, struct cfg_prefix *p, char *why,
			  size_t whylen)
{
	char q[CFG_QUOTE_MAX];

	if (config_parse_prefix(s, p))
		return say(why, whylen, "%s is not an address prefix (like 10.10.0.1/24 or fd00::1/64)",
			   cfg_quote(s, q, sizeof(q)));
	return 0;
}

int cfg_parse_route(const char *s, struct cfg_prefix *p, char *why,
		    size_t whylen)
{
	char q[CFG_QUOTE_MAX], buf[64];
	struct cfg_prefix m;

	if (config_parse_prefix(s, p))
		return say(why, whylen, "%s is not a prefix (like 10.1.0.0/16 or fd01::/48)",
			   cfg_quote(s, q, sizeof(q)));
	m = prefix_masked(p);
	if (memcmp(m.addr, p->addr, sizeof(m.addr)))
		return say(why, whylen, "%s has host bits set (did you mean %s?)",
			   cfg_quote(s, q, sizeof(q)),
			   cfg_prefix_str(&m, buf, sizeof(buf)));
	return 0;
}

/* ---- SPD ---- */

int cfg_parse_selector4(const char *s, struct cfg_prefix *p, char *why,
			size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	int ret = cfg_parse_route(s, p, why, whylen);

	if (!ret && p->family != AF_INET)
		return say(why, whylen, "%s is IPv6: selectors are IPv4 only "
			   "for now", cfg_quote(s, q, sizeof(q)));
	return ret;
}

int cfg_parse_proto(const char *s, uint8_t *proto, char *why, size_t whylen)
{
	static const struct { const char *name; uint8_t v; } names[] = {
		{ "any", 0 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 },
	};
	char q[CFG_QUOTE_MAX];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*proto = names[i].v;
			return 0;
		}
	}
	if (read_uint(s, &v) || v > 255)
		return say(why, whylen, "%s is not a protocol (tcp, udp, icmp, "
			   "any, or a number 0..255)", cfg_quote(s, q, sizeof(q)));
	*proto = (uint8_t)v;
	return 0;
}

int cfg_parse_port_range(const char *s, uint16_t range[2], char *why,
			 size_t whylen)
{
	char q[CFG_QUOTE_MAX], lo[16];
	const char *dash = strchr(s, '-');
	uint64_t a, b;
	size_t n = dash ? (size_t)(dash - s) : strlen(s);

	if (!n || n >= sizeof(lo))
		goto bad;
	memcpy(lo, s, n);
	lo[n] = 0;
	if (read_uint(lo, &a) || a > 65535)
		goto bad;
	b = a;
	if (dash && (read_uint(dash + 1, &b) || b > 65535))
		goto bad;
	if (a > b)
		return say(why, whylen, "%s: the range ends before it starts",
			   cfg_quote(s, q, sizeof(q)));
	range[0] = (uint16_t)a;
	range[1] = (uint16_t)b;
	return 0;
bad:
	return say(why, whylen, "%s is not a port or range (N or N-M, "
		   "0..65535)", cfg_quote(s, q, sizeof(q)));
}

const char *const cfg_spd_action_names[] = {
	"none", "protect", "bypass", "discard", NULL,
};

int cfg_parse_spd_action(const char *s, int *action, char *why,
			 size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	int i;

	for (i = 1; cfg_spd_action_names[i]; i++) {
		if (!strcmp(s, cfg_spd_action_names[i])) {
			*action = i;
			return 0;
		}
	}
	return say(why, whylen, "unknown action %s (valid: protect, bypass, "
		   "discard)", cfg_quote(s, q, sizeof(q)));
}

/* ---- SAs ---- */

int cfg_check_soft_hard(uint64_t soft, uint64_t hard, const char *what,
			char *why, size_t whylen)
{
	if (soft && hard && soft >= hard)
		return say(why, whylen, "%llu is not below %s %llu (the soft limit warns before the hard one ends the SA)",
			   (unsigned long long)soft, what,
			   (unsigned long long)hard);
	return 0;
}

int cfg_check_spi(long long v, uint32_t *spi, char *why, size_t whylen)
{
	if (v < 0 || v > 0xffffffffLL)
		return say(why, whylen, "SPI %lld does not fit in 32 bits (SPIs are 256..0xffffffff)",
			   v);
	if (v < 256)
		return say(why, whylen, "SPI %lld is reserved (RFC 4303: 0..255 are never used; pick 256 or more, e.g. 0x1000)",
			   v);
	*spi = (uint32_t)v;
	return 0;
}

int cfg_parse_spi(const char *s, uint32_t *spi, char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	uint64_t v = 0;
	int ret = read_uint(s, &v);

	if (ret == -EINVAL)
		return say(why, whylen, "%s is not an SPI (256..0xffffffff, decimal or hex after 0x)",
			   cfg_quote(s, q, sizeof(q)));
	if (ret || v > 0xffffffffULL)
		return say(why, whylen, "SPI %s does not fit in 32 bits (SPIs are 256..0xffffffff)",
			   cfg_quote(s, q, sizeof(q)));
	return cfg_check_spi((long long)v, spi, why, whylen);
}

int cfg_parse_key(const char *hex, int cipher, uint8_t key[CFG_KEY_MAX],
		  size_t *len, char *why, size_t whylen)
{
	size_t n, i, want = 0;

	hex = skip_0x(hex);
	n = strlen(hex);
	for (i = 0; i < n; i++)
		if (hexval(hex[i]) < 0)
			return say(why, whylen, "not a hex string: character %zu is not a hex digit (use 0-9 a-f only, optionally after 0x)",
				   i + 1);
	if (n % 2)
		return say(why, whylen, "odd number of hex digits (each byte is two digits)");
	if (cipher != CFG_CIPHER_ANY) {
		want = config_cipher_key_len(cipher);
		if (n / 2 != want)
			return say(why, whylen, "key is %zu bytes, %s needs %zu (%zu-byte key + %d-byte salt = %zu hex digits; e.g. openssl rand -hex %zu)",
				   n / 2, config_cipher_name(cipher), want,
				   want - CFG_SALT_LEN, CFG_SALT_LEN, want * 2, want);
	} else if (n / 2 == config_cipher_key_len(CIPHER_AES_GCM_128) ||
		   n / 2 == config_cipher_key_len(CIPHER_AES_GCM_256)) {
		want = n / 2;
	} else {
		return say(why, whylen, "%zu bytes; want 20 (aes-gcm-128) or 36 (aes-gcm-256 or chacha20-poly1305): the key + %d-byte salt, e.g. openssl rand -hex 36",
			   n / 2, CFG_SALT_LEN);
	}
	for (i = 0; i < want; i++)
		key[i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
				   hexval(hex[2 * i + 1]));
	*len = want;
	return 0;
}

int cfg_check_replay_window(long long v, uint32_t *w, char *why,
			    size_t whylen)
{
	if (v < CFG_REPLAY_MIN || v > CFG_REPLAY_MAX)
		return say(why, whylen, "%lld is out of range (%d..%d, a multiple of 32)",
			   v, CFG_REPLAY_MIN, CFG_REPLAY_MAX);
	if (v % 32)
		return say(why, whylen, "%lld is not a multiple of 32 (try %lld)",
			   v, (v + 31) / 32 * 32);
	*w = (uint32_t)v;
	return 0;
}

int cfg_parse_replay_window(const char *s, uint32_t *w, char *why,
			    size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	uint64_t v = 0;
	int ret = read_uint(s, &v);

	if (ret == -EINVAL)
		return not_in(s, ret, CFG_REPLAY_MIN, CFG_REPLAY_MAX, why, whylen);
	if (ret || v > CFG_REPLAY_MAX)
		return say(why, whylen, "%s is out of range (%d..%d, a multiple of 32)",
			   cfg_quote(s, q, sizeof(q)), CFG_REPLAY_MIN,
			   CFG_REPLAY_MAX);
	return cfg_check_replay_window((long long)v, w, why, whylen);
}

/* ---- ciphers ---- */

const char *config_cipher_name(enum cfg_cipher c)
{
	if ((unsigned int)c > CIPHER_MAX)
		return "unknown";
	return cfg_cipher_names[c];
}

size_t config_cipher_key_len(enum cfg_cipher c)
{
	switch (c) {
	case CIPHER_AES_GCM_128:
		return 16 + CFG_SALT_LEN;
	case CIPHER_AES_GCM_256:
	case CIPHER_CHACHA20_POLY1305:
		return 32 + CFG_SALT_LEN;
	}
	return 0;
}
