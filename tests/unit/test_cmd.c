// SPDX-License-Identifier: GPL-2.0
/*
 * cmd_parse (user/control/cmd.c): every good form of every command, then one
 * test per error, each checking -EINVAL, the start of the message (the
 * command) and the words that explain it. Keys: never in a message, and
 * cleansed from the line buffer and from struct cmd.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/check.h"
#include "control/cmd.h"

/* 36 bytes (aes-gcm-256) and 20 bytes (aes-gcm-128). */
#define KEY36 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3"
#define KEY20 "303132333435363738393a3b3c3d3e3f40414243"
_Static_assert(sizeof(KEY36) == 73 && sizeof(KEY20) == 41, "key lengths");

#define LINE_MAX_ 4096
static char line[LINE_MAX_];
static size_t line_len;
static char err[CMD_ERR_MAX];
static struct cmd c;

static int parse(const char *s)
{
	memset(line, 'Z', sizeof(line));
	cr_assert_lt(strlen(s), sizeof(line));
	strcpy(line, s);
	line_len = strlen(s);
	memset(err, 'E', sizeof(err));
	memset(&c, 0xa5, sizeof(c));
	return cmd_parse(line, &c, err, sizeof(err));
}

static void expect_ok(const char *s)
{
	int ret = parse(s);

	cr_assert_eq(ret, 0, "'%s': %d: %s", s, ret, err);
	cr_assert_str_eq(err, "");
}

/* -EINVAL, err starts with words[0], has every other word, c is wiped. */
static void expect_err(const char *s, const char *const *words)
{
	static const struct cmd zero;
	struct cmd z = zero;
	int ret = parse(s);

	cr_assert_eq(ret, -EINVAL, "'%s': ret %d", s, ret);
	cr_assert(!strncmp(err, words[0], strlen(words[0])),
		  "expected '%s' first in: %s", words[0], err);
	for (words++; *words; words++)
		cr_assert(strstr(err, *words), "expected '%s' in: %s", *words,
			  err);
	z.json = c.json;
	cr_assert(!memcmp(&c, &z, sizeof(c)), "'%s': struct cmd not wiped", s);
}

#define EXPECT_ERR(s, ...) \
	expect_err(s, (const char *const[]){ __VA_ARGS__, NULL })

/* No 8 hex digits in a row of hex in err, nor in the line buffer. */
static void expect_no_key(const char *hex)
{
	size_t i, n = strlen(hex);
	char part[9];

	for (i = 0; i + 8 <= n; i++) {
		memcpy(part, hex + i, 8);
		part[8] = '\0';
		cr_assert_null(strstr(err, part), "key material in: %s", err);
		cr_assert_null(memmem(line, line_len, part, 8),
			       "key material left in the line buffer");
	}
}

static void expect_ipv4(struct in_addr a, const char *s)
{
	struct in_addr b;

	cr_assert_eq(inet_pton(AF_INET, s, &b), 1);
	cr_assert_eq(a.s_addr, b.s_addr, "expected %s", s);
}

static void expect_prefix(const struct cfg_prefix *p, const char *addr,
			  int len)
{
	uint8_t a[16] = { 0 };
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	cr_assert_eq(inet_pton(family, addr, a), 1);
	cr_assert_eq(p->family, family);
	cr_assert(!memcmp(p->addr, a, sizeof(a)), "address %s", addr);
	cr_assert_eq(p->len, len);
}

static void expect_key(const char *hex)
{
	uint8_t want[CFG_KEY_MAX];
	size_t i, n = strlen(hex) / 2;

	for (i = 0; i < n; i++)
		cr_assert_eq(sscanf(hex + 2 * i, "%2hhx", &want[i]), 1);
	cr_assert_eq(c.sa.key_len, n);
	cr_assert(!memcmp(c.sa.key, want, n));
}

/* ---- good forms ---- */

Test(cmd, show)
{
	static const char *const tables[] = {
		"sa", "tunnels", "routes", "stats", "frames", "xdp",
	};
	static const enum cmd_show want[] = {
		SHOW_SA, SHOW_TUNNELS, SHOW_ROUTES, SHOW_STATS, SHOW_FRAMES,
		SHOW_XDP,
	};
	char s[64];
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(s, sizeof(s), "show %s", tables[i]);
		expect_ok(s);
		cr_assert_eq(c.op, CMD_SHOW);
		cr_assert_eq(c.show, want[i]);
		cr_assert_not(c.json);
		snprintf(s, sizeof(s), "-j show %s", tables[i]);
		expect_ok(s);
		cr_assert_eq(c.op, CMD_SHOW);
		cr_assert_eq(c.show, want[i]);
		cr_assert(c.json);
	}
}

Test(cmd, spaces_tabs_and_line_ends)
{
	expect_ok("show stats\n");
	cr_assert_eq(c.show, SHOW_STATS);
	expect_ok("show stats\r\n");
	cr_assert_eq(c.show, SHOW_STATS);
	expect_ok("  \t-j \t show\t\ttunnels  \t");
	cr_assert(c.json);
	cr_assert_eq(c.show, SHOW_TUNNELS);
	/* Only a "\r" before the "\n" is a line end. */
	EXPECT_ERR("show stats\r", "show: unknown table 'stats?'");
}

Test(cmd, tunnel_add_defaults)
{
	expect_ok("tunnel add to-b local 192.0.2.1 remote 192.0.2.2");
	cr_assert_eq(c.op, CMD_TUNNEL_ADD);
	cr_assert_not(c.json);
	cr_assert_str_eq(c.tunnel.name, "to-b");
	expect_ipv4(c.tunnel.local, "192.0.2.1");
	expect_ipv4(c.tunnel.remote, "192.0.2.2");
	cr_assert_eq(c.tunnel.encap, ENCAP_ESP);
	cr_assert_eq(c.tunnel.cipher, CIPHER_AES_GCM_256);
	cr_assert_eq(c.tunnel.replay_window, CFG_REPLAY_DEFAULT);
	cr_assert(c.tunnel.esn);
	cr_assert_eq(c.tunnel.fragment, FRAG_INNER);
	cr_assert_eq(c.tunnel.sa_pairs, 1);
	cr_assert_null(c.tunnel.routes);
	cr_assert_eq(c.tunnel.nroutes, 0);
	cr_assert_eq(c.tunnel.out.key_len, 0);
	cr_assert_eq(c.tunnel.in.key_len, 0);
}

Test(cmd, tunnel_add_ipv6)
{
	struct in6_addr a;

	expect_ok("tunnel add to-b6 remote 2001:db8::2 local 2001:db8::1 encap udp");
	cr_assert_eq(c.tunnel.family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::1", &a);
	cr_assert(!memcmp(&c.tunnel.local6, &a, 16));
	inet_pton(AF_INET6, "2001:db8::2", &a);
	cr_assert(!memcmp(&c.tunnel.remote6, &a, 16));
	cr_assert_eq(c.tunnel.encap, ENCAP_UDP);
}

Test(cmd, tunnel_add_all_options)
{
	expect_ok("tunnel add T_9-x fragment outer esn off remote 10.0.0.2 cipher aes-gcm-128 replay-window 4096 encap udp local 10.0.0.1");
	cr_assert_str_eq(c.tunnel.name, "T_9-x");
	expect_ipv4(c.tunnel.local, "10.0.0.1");
	expect_ipv4(c.tunnel.remote, "10.0.0.2");
	cr_assert_eq(c.tunnel.encap, ENCAP_UDP);
	cr_assert_eq(c.tunnel.cipher, CIPHER_AES_GCM_128);
	cr_assert_eq(c.tunnel.replay_window, 4096);
	cr_assert_not(c.tunnel.esn);
	cr_assert_eq(c.tunnel.fragment, FRAG_OUTER);
	cr_assert_eq(c.tunnel.sa_pairs, 1);

	expect_ok("tunnel add t local 10.0.0.1 remote 10.0.0.2 esn on encap esp cipher aes-gcm-256 fragment inner replay-window 32");
	cr_assert(c.tunnel.esn);
	cr_assert_eq(c.tunnel.encap, ENCAP_ESP);
	cr_assert_eq(c.tunnel.cipher, CIPHER_AES_GCM_256);
	cr_assert_eq(c.tunnel.fragment, FRAG_INNER);
	cr_assert_eq(c.tunnel.replay_window, 32);
	/* NAT-T: our own port */
	expect_ok("tunnel add t local 10.0.0.1 remote 10.0.0.2 encap udp local-port 4600");
	cr_assert_eq(c.tunnel.local_port, 4600);
	expect_ok("tunnel add t local 10.0.0.1 remote 10.0.0.2");
	cr_assert_eq(c.tunnel.local_port, 0);
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 local-port 0",
		   "tunnel add: local-port:");
	/* Numbers may be hex, like SPIs. */
	expect_ok("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 0x40");
	cr_assert_eq(c.tunnel.replay_window, 64);
	/* The longest name. */
	expect_ok("tunnel add abcdefghijabcdefghijabcdefghij1 local 10.0.0.1 remote 10.0.0.2");
	cr_assert_str_eq(c.tunnel.name, "abcdefghijabcdefghijabcdefghij1");
}

Test(cmd, tunnel_del)
{
	expect_ok("tunnel del to-b");
	cr_assert_eq(c.op, CMD_TUNNEL_DEL);
	cr_assert_str_eq(c.name, "to-b");
}

Test(cmd, sa_add)
{
	expect_ok("sa add to-b in spi 4096 key " KEY36);
	cr_assert_eq(c.op, CMD_SA_ADD);
	cr_assert_str_eq(c.sa.tunnel, "to-b");
	cr_assert_eq(c.sa.dir, CMD_DIR_IN);
	cr_assert(c.sa.dir_given);
	cr_assert_eq(c.sa.spi, 4096);
	expect_key(KEY36);
	cr_assert_eq(c.sa.life.soft_s, 0);
	cr_assert_eq(c.sa.life.hard_s, 0);
	cr_assert_eq(c.sa.life.soft_bytes, 0);
	cr_assert_eq(c.sa.life.hard_bytes, 0);
	cr_assert_eq(c.sa.life.soft_packets, 0);
	cr_assert_eq(c.sa.life.hard_packets, 0);
	expect_no_key(KEY36);

	expect_ok("sa add to-b out key 0x" KEY20 " spi 0xC0000001");
	cr_assert_eq(c.sa.dir, CMD_DIR_OUT);
	cr_assert_eq(c.sa.spi, 0xc0000001u);
	expect_key(KEY20);
	expect_no_key(KEY20);

	expect_ok("sa add t out spi 0Xffffffff key 0X" KEY36);
	cr_assert_eq(c.sa.spi, 0xffffffffu);
	expect_key(KEY36);
	expect_ok("sa add t out spi 256 key " KEY20);
	cr_assert_eq(c.sa.spi, 256);
	expect_ok("sa add t out spi 4294967295 key " KEY20);
	cr_assert_eq(c.sa.spi, 0xffffffffu);
}

Test(cmd, sa_add_lifetimes)
{
	expect_ok("sa add t in hard-bytes 18446744073709551615 spi 0x1000 soft-lifetime 3000 key " KEY36 " soft-bytes 1000000 hard-lifetime 3600");
	cr_assert_eq(c.sa.life.soft_s, 3000);
	cr_assert_eq(c.sa.life.hard_s, 3600);
	cr_assert_eq(c.sa.life.soft_bytes, 1000000);
	cr_assert_eq(c.sa.life.hard_bytes, UINT64_MAX);
	expect_key(KEY36);
	/* 0 is none: any soft limit goes with it. */
	expect_ok("sa add t in spi 0x1000 key " KEY36 " soft-lifetime 50 hard-lifetime 0 soft-bytes 0 hard-bytes 0x10");
	cr_assert_eq(c.sa.life.soft_s, 50);
	cr_assert_eq(c.sa.life.hard_s, 0);
	cr_assert_eq(c.sa.life.hard_bytes, 16);
	expect_ok("sa add t in spi 0x1000 key " KEY36 " soft-lifetime 0 hard-lifetime 1");
	/* packets (strongSwan's rekey_packets, life_packets) */
	expect_ok("sa add t out spi 0x1000 key " KEY36 " hard-packets 0x100000000 soft-packets 4000000000 reqid 7");
	cr_assert_eq(c.sa.life.soft_packets, 4000000000u);
	cr_assert_eq(c.sa.life.hard_packets, 0x100000000u);
	cr_assert_eq(c.sa.reqid, 7, "reqid after the packet limits");
	cr_assert_eq(c.sa.life.soft_bytes, 0);
}

Test(cmd, sa_del)
{
	expect_ok("sa del 0x1000");
	cr_assert_eq(c.op, CMD_SA_DEL);
	cr_assert_eq(c.sa.spi, 0x1000);
	cr_assert_not(c.sa.dir_given);
	expect_ok("sa del 4096 in");
	cr_assert_eq(c.sa.spi, 4096);
	cr_assert(c.sa.dir_given);
	cr_assert_eq(c.sa.dir, CMD_DIR_IN);
	expect_ok("sa del 4096 out");
	cr_assert(c.sa.dir_given);
	cr_assert_eq(c.sa.dir, CMD_DIR_OUT);
}

Test(cmd, sa_update)
{
	expect_ok("sa update 0x1000 remote 198.51.100.7");
	cr_assert_eq(c.op, CMD_SA_UPDATE);
	cr_assert_eq(c.sa.spi, 0x1000);
	expect_ipv4(c.sa.remote, "198.51.100.7");
	cr_assert_eq(c.sa.sport, 0);
	cr_assert_eq(c.sa.dport, 0);
	expect_ok("sa update 4096 dport 4500 remote 198.51.100.7 sport 65535");
	cr_assert_eq(c.sa.sport, 65535);
	cr_assert_eq(c.sa.dport, 4500);
	expect_ok("sa update 4096 remote 198.51.100.7 sport 1 dport 0x1194");
	cr_assert_eq(c.sa.sport, 1);
	cr_assert_eq(c.sa.dport, 4500);
	cr_assert_eq(c.sa.remote_family, AF_INET);
	/* IPv6 (the tunnel's family is checked by the model: live.c) */
	expect_ok("sa update 4096 remote 2001:db8::9 sport 1 dport 4600");
	cr_assert_eq(c.sa.remote_family, AF_INET6);
	{
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &c.sa.remote6, a, sizeof(a));
		cr_assert_str_eq(a, "2001:db8::9");
	}
	cr_assert_eq(c.sa.dport, 4600);
	EXPECT_ERR("sa update 4096 remote ff02::1",
		   "sa update: remote: 'ff02::1' is not a unicast address");
}

Test(cmd, route_add_del)
{
	expect_ok("route add 10.1.0.0/16 tunnel to-b");
	cr_assert_eq(c.op, CMD_ROUTE_ADD);
	expect_prefix(&c.prefix, "10.1.0.0", 16);
	cr_assert_str_eq(c.name, "to-b");
	expect_ok("route add fd01::/48 tunnel to-b");
	expect_prefix(&c.prefix, "fd01::", 48);
	expect_ok("route add 192.0.2.7 tunnel t");
	expect_prefix(&c.prefix, "192.0.2.7", 32);
	expect_ok("route add 0.0.0.0/0 tunnel t");
	expect_prefix(&c.prefix, "0.0.0.0", 0);
	expect_ok("route del 10.1.0.0/16");
	cr_assert_eq(c.op, CMD_ROUTE_DEL);
	expect_prefix(&c.prefix, "10.1.0.0", 16);
	expect_ok("route del fd01::/48");
	expect_prefix(&c.prefix, "fd01::", 48);
	cr_assert_str_eq(c.vrf, "");
	expect_ok("route del 10.1.0.0/16 vrf red");
	cr_assert_str_eq(c.vrf, "red");
	expect_ok("tunnel add t local 10.0.0.1 remote 10.0.0.2 vrf blue");
	cr_assert_str_eq(c.vrf, "blue");
}

Test(cmd, no_argument_commands)
{
	expect_ok("reload");
	cr_assert_eq(c.op, CMD_RELOAD);
	expect_ok("monitor");
	cr_assert_eq(c.op, CMD_MONITOR);
	expect_ok("-j monitor");
	cr_assert_eq(c.op, CMD_MONITOR);
	cr_assert(c.json);
	expect_ok("batch begin");
	cr_assert_eq(c.op, CMD_BATCH_BEGIN);
	expect_ok("batch end");
	cr_assert_eq(c.op, CMD_BATCH_END);
}

Test(cmd, usage)
{
	static const char *const lines[] = {
		"[-j] show sa|tunnels|routes|stats|frames|xdp|policies|lans|peers\n",
		"\ntunnel add NAME local ADDR remote ADDR|p2mp on [encap esp|udp]",
		"\ntunnel del NAME\n",
		"\nsa add TUNNEL in|out spi SPI key HEX [soft-lifetime SECONDS]",
		"\nsa del SPI [in|out]\n",
		"\nsa update SPI remote ADDR [sport N dport N]\n",
		"\nroute add PREFIX tunnel NAME [via NEXTHOP] [ecmp on|off]\n",
		"\npeer add HUB NEXTHOP remote ADDR [remote-port N]\n",
		"\npeer del HUB NEXTHOP\n",
		"\nroute del PREFIX [vrf NAME]\n",
		"\nreload\n", "\nmonitor [ike]\n", "\nbatch begin\n",
		"\nbatch end\n",
	};
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert(strstr(cmd_usage, lines[i]), "%s", lines[i]);
}

/* ---- keys ---- */

Test(cmd, key_cleansed_from_line)
{
	expect_ok("sa add t in spi 4096 key " KEY36 " hard-bytes 5");
	expect_no_key(KEY36);
	/* The rest of the line is left as tokens. */
	cr_assert_str_eq(line, "sa");
	cr_assert_str_eq(line + strlen("sa add t in spi 4096 "), "key");
	cr_assert_str_eq(line + strlen("sa add t in spi 4096 key " KEY36 " "),
			 "hard-bytes");
	/* Also when the parse fails before or after the key. */
	cr_assert_eq(parse("sa add t in foo 1 key " KEY36), -EINVAL);
	expect_no_key(KEY36);
	cr_assert_eq(parse("sa add t in spi 4096 key 0x" KEY36 " bar"), -EINVAL);
	expect_no_key(KEY36);
	cr_assert_eq(parse("tunnel add x key " KEY36), -EINVAL);
	expect_no_key(KEY36);
	/* A key without its keyword: not quoted, and cleansed too. */
	EXPECT_ERR("sa add t in spi 4096 " KEY36, "sa add: unknown argument",
		   "72-digit hex string (not shown)");
	expect_no_key(KEY36);
	/* Given twice: both cleansed. */
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " key " KEY20,
		   "sa add: key given twice");
	expect_no_key(KEY36);
	expect_no_key(KEY20);
}

Test(cmd, too_many_arguments_cleansed)
{
	char s[2048] = "sa add t in spi 4096";
	int i;

	for (i = 0; i < CMD_MAX_ARGS; i++)
		strcat(s, " soft-bytes 1");
	strcat(s, " key " KEY36);
	EXPECT_ERR(s, "too many arguments", "32");
	expect_no_key(KEY36);
	/* At the limit it parses (and then refuses the duplicates). */
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24",
		   "sa add: unknown argument '1'");
}

Test(cmd, wipe)
{
	expect_ok("sa add t in spi 4096 key " KEY36);
	expect_key(KEY36);
	cmd_wipe(&c);
	for (size_t i = 0; i < sizeof(c.sa.key); i++)
		cr_assert_eq(c.sa.key[i], 0);
	cr_assert_eq(c.sa.key_len, 0);
	cr_assert_eq(c.sa.spi, 4096, "only the key is wiped");
	cmd_wipe(NULL);
}

Test(cmd, failure_wipes_struct)
{
	/* The key parsed before the error is not left in c. */
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-bytes 9 hard-bytes 9",
		   "sa add: soft-bytes: 9 is not below hard-bytes 9");
	expect_no_key(KEY36);
	/* json survives for the answer's format. */
	EXPECT_ERR("-j show foo", "show: unknown table 'foo'");
	cr_assert(c.json);
}

/* ---- errors ---- */

Test(cmd, empty)
{
	EXPECT_ERR("", "empty command");
	EXPECT_ERR(" \t \n", "empty command");
	EXPECT_ERR("\r\n", "empty command");
	EXPECT_ERR("-j", "missing command after -j", "show, tunnel");
}

Test(cmd, unknown_command)
{
	EXPECT_ERR("foo",
		   "unknown command 'foo'; try: show, tunnel, sa, route, reload, monitor, batch, trace, pcap, policy");
	EXPECT_ERR("-j foo bar", "unknown command 'foo'");
	EXPECT_ERR("Show sa", "unknown command 'Show'");
	/* -j only before the command. */
	EXPECT_ERR("show -j sa", "show: unknown table '-j'");
	EXPECT_ERR("-j -j show sa", "unknown command '-j'");
}

Test(cmd, unknown_subcommand)
{
	EXPECT_ERR("tunnel", "tunnel: missing subcommand; one of add, del");
	EXPECT_ERR("tunnel show", "tunnel: unknown subcommand 'show'; one of add, del");
	EXPECT_ERR("sa", "sa: missing subcommand; one of add, del, update");
	EXPECT_ERR("sa flush", "sa: unknown subcommand 'flush'");
	EXPECT_ERR("route", "route: missing subcommand; one of add, del");
	EXPECT_ERR("route change", "route: unknown subcommand 'change'");
	EXPECT_ERR("batch", "batch: missing subcommand; one of begin, end");
	EXPECT_ERR("batch commit", "batch: unknown subcommand 'commit'");
}

Test(cmd, unknown_show_table)
{
	EXPECT_ERR("show foo",
		   "show: unknown table 'foo'; one of sa, tunnels, routes, stats, frames, xdp, policies, lans");
	EXPECT_ERR("show", "show: missing table; one of sa, tunnels");
	EXPECT_ERR("show SA", "show: unknown table 'SA'");
}

Test(cmd, missing_tunnel_add)
{
	EXPECT_ERR("tunnel add", "tunnel add: missing NAME",
		   "usage: tunnel add NAME local ADDR");
	EXPECT_ERR("tunnel add local 1.1.1.1 remote 2.2.2.2",
		   "tunnel add: missing NAME");
	EXPECT_ERR("tunnel add t", "tunnel add: missing local ADDR");
	EXPECT_ERR("tunnel add t remote 10.0.0.2",
		   "tunnel add: missing local ADDR");
	EXPECT_ERR("tunnel add t local 10.0.0.1",
		   "tunnel add: missing remote ADDR");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote",
		   "tunnel add: remote: missing value ADDR");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 encap",
		   "tunnel add: encap: missing value esp|udp");
}

Test(cmd, missing_tunnel_del)
{
	EXPECT_ERR("tunnel del", "tunnel del: missing NAME",
		   "usage: tunnel del NAME");
}

Test(cmd, missing_sa_add)
{
	EXPECT_ERR("sa add", "sa add: missing TUNNEL");
	EXPECT_ERR("sa add t", "sa add: missing in|out");
	EXPECT_ERR("sa add t in", "sa add: missing spi SPI",
		   "usage: sa add TUNNEL in|out spi SPI key HEX");
	EXPECT_ERR("sa add t in key " KEY36, "sa add: missing spi SPI");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096", "sa add: missing key HEX");
	EXPECT_ERR("sa add t in spi 4096 key", "sa add: key: missing value HEX");
	EXPECT_ERR("sa add t in spi", "sa add: spi: missing value SPI");
}

Test(cmd, missing_sa_del)
{
	EXPECT_ERR("sa del", "sa del: missing SPI", "usage: sa del SPI [in|out]");
}

Test(cmd, missing_sa_update)
{
	EXPECT_ERR("sa update", "sa update: missing SPI");
	EXPECT_ERR("sa update remote 10.0.0.1", "sa update: missing SPI");
	EXPECT_ERR("sa update 4096", "sa update: missing remote ADDR");
	EXPECT_ERR("sa update 4096 sport 1 dport 2",
		   "sa update: missing remote ADDR");
}

Test(cmd, missing_route)
{
	EXPECT_ERR("route add", "route add: missing PREFIX");
	EXPECT_ERR("route add tunnel t", "route add: missing PREFIX");
	EXPECT_ERR("route add 10.0.0.0/8", "route add: missing tunnel NAME");
	EXPECT_ERR("route add 10.0.0.0/8 tunnel",
		   "route add: tunnel: missing value NAME");
	EXPECT_ERR("route del", "route del: missing PREFIX");
}

Test(cmd, unknown_argument)
{
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " foo 1",
		   "sa add: unknown argument 'foo'",
		   "valid: spi, key, soft-lifetime, hard-lifetime, soft-bytes, hard-bytes");
	expect_no_key(KEY36);
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 sa-pairs 2",
		   "tunnel add: unknown argument 'sa-pairs'",
		   "valid: local, remote, encap, cipher, replay-window, esn, fragment");
	/* The config file's spelling is not a command's. */
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay_window 64",
		   "tunnel add: unknown argument 'replay_window'");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 port 1",
		   "sa update: unknown argument 'port'", "sport, dport");
	EXPECT_ERR("route add 10.0.0.0/8 gateway t",
		   "route add: unknown argument 'gateway'", "valid: tunnel");
	/* A value where a keyword belongs. */
	EXPECT_ERR("sa add t in spi 4096 4097", "sa add: unknown argument '4097'");
	/* Unprintable bytes are not echoed. */
	EXPECT_ERR("sa add t in fo\x1bo", "sa add: unknown argument 'fo?o'");
}

Test(cmd, duplicated_argument)
{
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 local 10.0.0.3",
		   "tunnel add: local given twice");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 esn on esn on",
		   "tunnel add: esn given twice");
	EXPECT_ERR("sa add t in spi 4096 spi 4097 key " KEY36,
		   "sa add: spi given twice");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-lifetime 9 hard-lifetime 9",
		   "sa add: hard-lifetime given twice");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport 1 dport 2 sport 3",
		   "sa update: sport given twice");
	EXPECT_ERR("route add 10.0.0.0/8 tunnel a tunnel b",
		   "route add: tunnel given twice");
}

Test(cmd, bad_name)
{
	EXPECT_ERR("tunnel add a.b local 10.0.0.1 remote 10.0.0.2",
		   "tunnel add: name: 'a.b' is not a valid name",
		   "1..31 characters of A-Z a-z 0-9 _ -");
	EXPECT_ERR("tunnel add abcdefghijabcdefghijabcdefghij12 local 10.0.0.1 remote 10.0.0.2",
		   "tunnel add: name:", "1..31");
	EXPECT_ERR("tunnel del t/1", "tunnel del: name: 't/1' is not a valid name");
	EXPECT_ERR("tunnel del t\xc3\xa9", "tunnel del: name: 't?" "?' is not a valid name");
	EXPECT_ERR("sa add t:1 in spi 4096 key " KEY36,
		   "sa add: tunnel: 't:1' is not a valid name");
	EXPECT_ERR("route add 10.0.0.0/8 tunnel t*", "route add: tunnel: 't*'",
		   "not a valid name");
}

Test(cmd, bad_address)
{
	EXPECT_ERR("tunnel add t local 10.0.0 remote 10.0.0.2",
		   "tunnel add: local: '10.0.0' is not an IPv4 or IPv6 address");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 2001:db8::2",
		   "tunnel add: remote: an IPv6 address but local is IPv4");
	EXPECT_ERR("tunnel add t remote 10.0.0.1 local 2001:db8::2",
		   "tunnel add: remote: an IPv4 address but local is IPv6");
	EXPECT_ERR("tunnel add t local 2001:db8::2 remote 2001:db8::2",
		   "tunnel add: remote: same address as local");
	EXPECT_ERR("tunnel add t local 2001:db8::2 remote ff02::1",
		   "tunnel add: remote: 'ff02::1' is not a unicast address");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.256",
		   "tunnel add: remote:", "IPv4");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.1",
		   "tunnel add: remote: same address as local");
	EXPECT_ERR("sa update 4096 remote host.example",
		   "sa update: remote: 'host.example' is not an IPv4 or IPv6 "
		   "address");
}

Test(cmd, bad_prefix)
{
	EXPECT_ERR("route add 10.1.0.0/33 tunnel t",
		   "route add: prefix: '10.1.0.0/33' is not a prefix");
	EXPECT_ERR("route add fd01::/129 tunnel t",
		   "route add: prefix: 'fd01::/129' is not a prefix");
	EXPECT_ERR("route add banana tunnel t",
		   "route add: prefix: 'banana' is not a prefix");
	EXPECT_ERR("route add 10.1/16 tunnel t", "route add: prefix:",
		   "not a prefix");
	EXPECT_ERR("route add 10.1.0.1/16 tunnel t",
		   "route add: prefix: '10.1.0.1/16' has host bits set",
		   "did you mean 10.1.0.0/16?");
	EXPECT_ERR("route add fd01::1/48 tunnel t", "route add: prefix:",
		   "did you mean fd01::/48?");
	EXPECT_ERR("route del 10.1.0.0/-1", "route del: prefix:", "not a prefix");
}

Test(cmd, bad_spi)
{
	EXPECT_ERR("sa del 0", "sa del: spi: SPI 0 is reserved", "RFC 4303");
	EXPECT_ERR("sa del 255", "sa del: spi: SPI 255 is reserved");
	EXPECT_ERR("sa del 0xff", "sa del: spi: SPI 255 is reserved");
	EXPECT_ERR("sa del 4294967296", "sa del: spi: SPI '4294967296' does not fit in 32 bits");
	EXPECT_ERR("sa del 0x100000000", "sa del: spi:", "32 bits");
	EXPECT_ERR("sa del 99999999999999999999999", "sa del: spi:", "32 bits");
	EXPECT_ERR("sa del -1", "sa del: spi: '-1' is not an SPI");
	EXPECT_ERR("sa del 12ab", "sa del: spi: '12ab' is not an SPI",
		   "decimal or hex after 0x");
	EXPECT_ERR("sa del 0x", "sa del: spi: '0x' is not an SPI");
	EXPECT_ERR("sa del 0x1g", "sa del: spi:", "not an SPI");
	EXPECT_ERR("sa add t in spi 100 key " KEY36, "sa add: spi: SPI 100 is reserved");
	expect_no_key(KEY36);
	EXPECT_ERR("sa update +4096 remote 10.0.0.1", "sa update: spi:",
		   "not an SPI");
}

Test(cmd, bad_key_odd)
{
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 "0",
		   "sa add: key: odd number of hex digits");
	expect_no_key(KEY36);
}

Test(cmd, bad_key_not_hex)
{
	EXPECT_ERR("sa add t in spi 4096 key " KEY20 "zz" KEY20,
		   "sa add: key: not a hex string: character 41 is not a hex digit");
	expect_no_key(KEY20);
	EXPECT_ERR("sa add t in spi 4096 key 0x0x" KEY20, "sa add: key:",
		   "not a hex string");
	expect_no_key(KEY20);
}

Test(cmd, bad_key_length)
{
	EXPECT_ERR("sa add t in spi 4096 key 0x" "303132333435363738393a3b3c3d3e3f404142",
		   "sa add: key: 19 bytes; want 20 (aes-gcm-128) or 36 (aes-gcm-256 or chacha20-poly1305)");
	expect_no_key("303132333435363738393a3b3c3d3e3f404142");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 "c4",
		   "sa add: key: 37 bytes; want 20");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096 key 0x", "sa add: key: 0 bytes");
	EXPECT_ERR("sa add t in spi 4096 key " KEY20 KEY20,
		   "sa add: key: 40 bytes");
	expect_no_key(KEY20);
}

Test(cmd, bad_enum_values)
{
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 cipher chacha20",
		   "tunnel add: cipher: unknown cipher 'chacha20' (valid: aes-gcm-128, aes-gcm-256, chacha20-poly1305)");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 encap gre",
		   "tunnel add: encap: unknown encapsulation 'gre' (valid: esp, udp)");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 esn yes",
		   "tunnel add: esn: 'yes' is neither on nor off");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 esn true",
		   "tunnel add: esn:", "on nor off");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 fragment both",
		   "tunnel add: fragment: unknown fragmentation 'both' (valid: inner, outer)");
	EXPECT_ERR("sa add t both spi 4096 key " KEY36,
		   "sa add: direction: unknown direction 'both' (valid: in, out)");
	expect_no_key(KEY36);
	EXPECT_ERR("sa del 4096 up", "sa del: direction: unknown direction 'up'");
}

Test(cmd, bad_replay_window)
{
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 33",
		   "tunnel add: replay-window: 33 is not a multiple of 32 (try 64)");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 16",
		   "tunnel add: replay-window: 16 is out of range (32..4096, a multiple of 32)");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 4128",
		   "tunnel add: replay-window:", "32..4096");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 0",
		   "tunnel add: replay-window:", "32..4096");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 99999999999999999999",
		   "tunnel add: replay-window: '99999999999999999999' is out of range");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window -64",
		   "tunnel add: replay-window: '-64' is negative");
	EXPECT_ERR("tunnel add t local 10.0.0.1 remote 10.0.0.2 replay-window 1k",
		   "tunnel add: replay-window: '1k' is not a number");
}

Test(cmd, sport_without_dport)
{
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport 4500",
		   "sa update: sport without dport (give both or neither)");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 dport 4500",
		   "sa update: dport without sport");
}

Test(cmd, bad_port)
{
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport 0 dport 4500",
		   "sa update: sport: '0' is out of range (1..65535)");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport 4500 dport 65536",
		   "sa update: dport: '65536' is out of range (1..65535)");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport -1 dport 4500",
		   "sa update: sport: '-1' is negative");
	EXPECT_ERR("sa update 4096 remote 10.0.0.1 sport http dport 4500",
		   "sa update: sport: 'http' is not a number");
}

Test(cmd, soft_not_below_hard)
{
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-lifetime 3600 hard-lifetime 3600",
		   "sa add: soft-lifetime: 3600 is not below hard-lifetime 3600");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-lifetime 10 soft-lifetime 11",
		   "sa add: soft-lifetime: 11 is not below hard-lifetime 10");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-bytes 0x100 hard-bytes 255",
		   "sa add: soft-bytes: 256 is not below hard-bytes 255");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-packets 20 hard-packets 20",
		   "sa add: soft-packets: 20 is not below hard-packets 20");
	expect_no_key(KEY36);
}

Test(cmd, bad_numbers)
{
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-lifetime -5",
		   "sa add: soft-lifetime: '-5' is negative");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-lifetime 18446744073709551616",
		   "sa add: hard-lifetime: '18446744073709551616' is out of range (0..18446744073709551615)");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " soft-bytes 0x10000000000000000",
		   "sa add: soft-bytes: '0x10000000000000000' is out of range");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-bytes 10M",
		   "sa add: hard-bytes: '10M' is not a number");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-bytes 1.5",
		   "sa add: hard-bytes: '1.5' is not a number");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-bytes +1",
		   "sa add: hard-bytes: '+1' is not a number");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " hard-bytes 0x",
		   "sa add: hard-bytes: '0x' is not a number");
}

Test(cmd, extra_argument)
{
	EXPECT_ERR("tunnel del t u", "tunnel del: unexpected argument 'u'",
		   "usage: tunnel del NAME");
	EXPECT_ERR("sa del 4096 in out", "sa del: unexpected argument 'out'");
	EXPECT_ERR("route del 10.0.0.0/8 tunnel t",
		   "route del: unknown argument 'tunnel'", "valid: vrf");
	EXPECT_ERR("show sa now", "show: unexpected argument 'now'");
	EXPECT_ERR("reload all", "reload: unexpected argument 'all'");
	EXPECT_ERR("monitor sa", "monitor: unexpected argument 'sa'");
	EXPECT_ERR("batch begin 1", "batch begin: unexpected argument '1'");
	EXPECT_ERR("batch end now", "batch end: unexpected argument 'now'");
}

Test(cmd, long_value_shortened)
{
	char s[1024] = "tunnel del ";
	int i;

	for (i = 0; i < 600; i++)
		strcat(s, "x");
	EXPECT_ERR(s, "tunnel del: name: 'xxxx", "...' is not a valid name");
	cr_assert_lt(strlen(err), 300);
}

/* ---- policy add|del (router mode's SPD) ---- */

Test(cmd, policy_add)
{
	expect_ok("policy add 7 action discard");
	cr_assert_eq(c.op, CMD_POLICY_ADD);
	cr_assert_eq(c.policy.id, 7);
	cr_assert_eq(c.policy.priority, 1000);
	expect_prefix(&c.policy.src, "0.0.0.0", 0);
	expect_prefix(&c.policy.dst, "0.0.0.0", 0);
	cr_assert_eq(c.policy.proto, 0);
	cr_assert_eq(c.policy.sport[0], 0);
	cr_assert_eq(c.policy.sport[1], 65535);
	cr_assert_eq(c.policy.dport[1], 65535);
	cr_assert_eq(c.policy.action, 3);
	expect_ok("policy add 4294967295 priority 0 src 10.1.0.0/16 dst 10.2.0.7 "
		  "proto tcp sport 1024-65535 dport 443 action protect tunnel to-b");
	cr_assert_eq(c.policy.id, 4294967295u);
	cr_assert_eq(c.policy.priority, 0);
	expect_prefix(&c.policy.src, "10.1.0.0", 16);
	expect_prefix(&c.policy.dst, "10.2.0.7", 32);
	cr_assert_eq(c.policy.proto, 6);
	cr_assert_eq(c.policy.sport[0], 1024);
	cr_assert_eq(c.policy.sport[1], 65535);
	cr_assert_eq(c.policy.dport[0], 443);
	cr_assert_eq(c.policy.dport[1], 443);
	cr_assert_eq(c.policy.action, 1);
	cr_assert_str_eq(c.policy.tunnel, "to-b");
	expect_ok("policy add 8 proto 50 action bypass");
	cr_assert_eq(c.policy.proto, 50);
	cr_assert_eq(c.policy.action, 2);
	expect_ok("policy add 9 proto icmp priority 65535 action discard");
	cr_assert_eq(c.policy.proto, 1);
	expect_ok("policy del 9");
	cr_assert_eq(c.op, CMD_POLICY_DEL);
	cr_assert_eq(c.policy.id, 9);
	expect_ok("-j show policies");
	cr_assert_eq(c.show, SHOW_POLICIES);
	cr_assert(strstr(cmd_usage, "\npolicy add ID [priority N]"));
	cr_assert(strstr(cmd_usage, "\npolicy del ID\n"));
}

Test(cmd, policy_errors)
{
	EXPECT_ERR("policy add", "policy add: missing ID");
	EXPECT_ERR("policy add action discard", "policy add: missing ID");
	EXPECT_ERR("policy add 0 action discard", "policy add: id:");
	EXPECT_ERR("policy add 5", "policy add: missing action");
	EXPECT_ERR("policy add 5 action allow", "policy add: action: unknown action 'allow'");
	EXPECT_ERR("policy add 5 action protect", "policy add: missing tunnel NAME");
	EXPECT_ERR("policy add 5 action discard tunnel t",
		   "policy add: tunnel: only with action protect");
	EXPECT_ERR("policy add 5 dport 80 action discard",
		   "policy add: sport/dport: only with proto tcp or udp");
	EXPECT_ERR("policy add 5 proto icmp sport 1 action discard",
		   "policy add: sport/dport");
	EXPECT_ERR("policy add 5 proto tcp dport 90-80 action discard",
		   "policy add: dport:", "ends before it starts");
	EXPECT_ERR("policy add 5 proto tcp dport 70000 action discard",
		   "policy add: dport:", "not a port or range");
	EXPECT_ERR("policy add 5 proto tcp dport 1- action discard", "policy add: dport:");
	EXPECT_ERR("policy add 5 proto gre action discard", "policy add: proto:");
	EXPECT_ERR("policy add 5 proto 256 action discard", "policy add: proto:");
	EXPECT_ERR("policy add 5 dst fd00::/8 action discard",
		   "policy add: dst:", "IPv4 only");
	EXPECT_ERR("policy add 5 src 10.1.0.1/16 action discard",
		   "policy add: src:", "host bits");
	EXPECT_ERR("policy add 5 priority 65536 action discard", "policy add: priority:");
	EXPECT_ERR("policy add 5 action discard action bypass",
		   "policy add: action given twice");
	EXPECT_ERR("policy del", "policy del: missing ID");
	EXPECT_ERR("policy del 5 6", "policy del: unexpected argument '6'");
	EXPECT_ERR("policy show", "policy: unknown subcommand 'show'; one of add, del");
}

/* ---- IKE (charon's kernel-espresso plugin) ---- */

Test(cmd, monitor_ike)
{
	expect_ok("monitor");
	cr_assert_not(c.monitor_ike);
	expect_ok("monitor ike");
	cr_assert_eq(c.op, CMD_MONITOR);
	cr_assert(c.monitor_ike);
	EXPECT_ERR("monitor ike x", "monitor: unexpected argument 'x'");
	EXPECT_ERR("monitor x", "monitor: unexpected argument 'x'");
}

Test(cmd, sa_alloc)
{
	expect_ok("sa alloc");
	cr_assert_eq(c.op, CMD_SA_ALLOC);
	EXPECT_ERR("sa alloc 4096", "sa alloc: unexpected argument '4096'");
	cr_assert(strstr(cmd_usage, "\nsa alloc\n"));
}

Test(cmd, sa_add_reqid)
{
	expect_ok("sa add ike-7 in spi 0xc1234567 key " KEY36 " reqid 7");
	cr_assert_eq(c.sa.reqid, 7);
	expect_no_key(KEY36);
	expect_ok("sa add t out spi 4096 key " KEY20 " reqid 4294967295 "
		  "soft-lifetime 5 hard-lifetime 10");
	cr_assert_eq(c.sa.reqid, 4294967295u);
	cr_assert_eq(c.sa.life.soft_s, 5);
	expect_ok("sa add t out spi 4096 key " KEY20);
	cr_assert_eq(c.sa.reqid, 0);
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " reqid 4294967296",
		   "sa add: reqid: 4294967296 is out of range (1..4294967295)");
	expect_no_key(KEY36);
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " reqid 0",
		   "sa add: reqid: 0 is out of range");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " reqid x",
		   "sa add: reqid: 'x' is not a number");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " reqid 1 reqid 2",
		   "sa add: reqid given twice");
	expect_ok("sa add ike-7 out spi 4096 key " KEY36 " reqid 7 child net-1");
	cr_assert_str_eq(c.sa.child, "net-1");
	expect_ok("sa add t out spi 4096 key " KEY36);
	cr_assert_str_eq(c.sa.child, "");
	EXPECT_ERR("sa add t in spi 4096 key " KEY36 " child a.b",
		   "sa add: child: ");
	expect_no_key(KEY36);
}

/* P2MP (control/p2mp.h): a hub without remote, its peers by next hop */
Test(cmd, p2mp)
{
	expect_ok("tunnel add hub local 192.0.2.1 p2mp on encap udp");
	cr_assert(c.p2mp);
	cr_assert_eq(c.tunnel.encap, ENCAP_UDP);
	EXPECT_ERR("tunnel add hub local 192.0.2.1 remote 192.0.2.2 p2mp on",
		   "tunnel add: remote: a p2mp tunnel has none");
	EXPECT_ERR("tunnel add t local 192.0.2.1",
		   "tunnel add: missing remote ADDR");
	EXPECT_ERR("tunnel add t local 192.0.2.1 p2mp off",
		   "tunnel add: missing remote ADDR");
	expect_ok("peer add hub 10.255.0.2 remote 192.0.2.2 remote-port 4501");
	cr_assert_eq(c.op, CMD_PEER_ADD);
	cr_assert_str_eq(c.name, "hub");
	cr_assert_str_eq(c.nexthop, "10.255.0.2");
	cr_assert_eq(c.tunnel.remote_port, 4501);
	cr_assert_eq(c.remote_family, AF_INET);
	expect_ok("peer add hub fd00:0:0::2 remote 2001:db8::2");
	cr_assert_str_eq(c.nexthop, "fd00::2"); /* canonical */
	cr_assert_eq(c.remote_family, AF_INET6);
	EXPECT_ERR("peer add hub 10.255.0.2", "peer add: missing remote ADDR");
	EXPECT_ERR("peer add hub", "peer add: missing NEXTHOP");
	EXPECT_ERR("peer add hub x remote 192.0.2.2", "peer add: nexthop: ");
	expect_ok("peer del hub 10.255.0.2");
	cr_assert_eq(c.op, CMD_PEER_DEL);
	EXPECT_ERR("peer del hub 10.255.0.2 x", "peer del: unexpected argument 'x'");
	expect_ok("sa add hub out spi 4096 key " KEY36 " peer 10.255.0.2");
	cr_assert_str_eq(c.sa.tunnel, "hub");
	cr_assert_str_eq(c.nexthop, "10.255.0.2");
	expect_no_key(KEY36);
	expect_ok("route add 10.2.0.0/16 tunnel hub via 10.255.0.2");
	cr_assert_str_eq(c.name, "hub");
	cr_assert_str_eq(c.nexthop, "10.255.0.2");
	EXPECT_ERR("route add 10.2.0.0/16 tunnel hub via hub2",
		   "route add: via: ");
	expect_ok("show peers");
	cr_assert_eq(c.show, SHOW_PEERS);
}

/* ---- stop, and stop for a restart ---- */

Test(cmd, stop)
{
	expect_ok("stop");
	cr_assert_eq(c.op, CMD_STOP);
	cr_assert_not(c.stop_keep);
	expect_ok("stop keep");
	cr_assert_eq(c.op, CMD_STOP);
	cr_assert(c.stop_keep);
	EXPECT_ERR("stop keep now", "stop: unexpected argument 'now'",
		   "usage: stop [keep]");
	EXPECT_ERR("stop now", "stop: unexpected argument 'now'");
	cr_assert(strstr(cmd_usage, "\nstop [keep]\n"));
}

/* pcap start/stop FILE: the path's errors, one test each, exact messages */
Test(cmd, pcap_path_control_character)
{
	cr_assert_eq(parse("pcap start /tmp/a\001b.pcap"), -EINVAL);
	cr_assert_str_eq(err, "pcap start: FILE: control character in the path");
	cr_assert_eq(parse("pcap stop /tmp/a\177b.pcap"), -EINVAL);
	cr_assert_str_eq(err, "pcap stop: FILE: control character in the path");
}

Test(cmd, pcap_path_too_long)
{
	char s[CMD_PATH_MAX + 64];
	size_t n;

	/* "/" and CMD_PATH_MAX - 1 more: one byte over */
	n = (size_t)snprintf(s, sizeof(s), "pcap start /");
	memset(s + n, 'p', CMD_PATH_MAX - 1);
	s[n + CMD_PATH_MAX - 1] = '\0';
	cr_assert_eq(parse(s), -EINVAL);
	cr_assert_str_eq(err, "pcap start: FILE: longer than 1023 bytes");
	/* the longest there may be is taken */
	s[n + CMD_PATH_MAX - 2] = '\0';
	expect_ok(s);
	cr_assert_eq(strlen(c.tap.path), CMD_PATH_MAX - 1);
}

Test(cmd, peer_add_missing_hub)
{
	cr_assert_eq(parse("peer add"), -EINVAL);
	cr_assert_str_eq(err, "peer add: missing HUB (usage: peer add HUB NEXTHOP "
			      "remote ADDR [remote-port N])");
}
