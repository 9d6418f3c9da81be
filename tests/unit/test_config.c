// SPDX-License-Identifier: GPL-2.0
/*
 * config_load and friends. Most tests take the valid config in base[],
 * replace a line or two, and check the error: -EINVAL, FILE:LINE, the field
 * path and the words that explain it. Run from the repository root (the
 * example configs are found through __FILE__).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/log.h"

/* Test keys: 36 bytes (aes-gcm-256) and 20 bytes (aes-gcm-128). */
#define KEY_A "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3"
#define KEY_B "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3"
#define KEY_C "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3"
/* KEY_A's AES key with another salt. */
#define KEY_A_SALT2 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfffffffff"
#define KEY128_C "303132333435363738393a3b3c3d3e3f40414243"
#define KEY128_D "404142434445464748494a4b4c4d4e4f50515253"
_Static_assert(sizeof(KEY_A) == 73 && sizeof(KEY_B) == 73 &&
		       sizeof(KEY_C) == 73 && sizeof(KEY_A_SALT2) == 73,
	       "36-byte keys");
_Static_assert(sizeof(KEY128_C) == 41 && sizeof(KEY128_D) == 41,
	       "20-byte keys");

/* A valid config; the comments are the line numbers. */
static const char *const base[] = {
	/* 1 */ "espresso: {",
	/* 2 */ "  instance = \"gw-a\";",
	/* 3 */ "  workers = { queues = 2; cpus = [3, 1]; batch = 32; };",
	/* 4 */ "  uplink = { name = \"lo\"; xdp_mode = \"skb\"; zerocopy = \"off\"; threaded_napi = \"on\"; };",
	/* 5 */ "  tun = {",
	/* 6 */ "    name = \"esp9\";",
	/* 7 */ "    mtu = 1300;",
	/* 8 */ "    address = [ \"10.10.0.1/24\", \"fd10::1/64\" ];",
	/* 9 */ "  };",
	/* 10 */ "  tunnels = (",
	/* 11 */ "    {",
	/* 12 */ "      name = \"to-b\";",
	/* 13 */ "      local = \"192.0.2.1\";",
	/* 14 */ "      remote = \"192.0.2.2\";",
	/* 15 */ "      encap = \"esp\";",
	/* 16 */ "      cipher = \"aes-gcm-256\";",
	/* 17 */ "      replay_window = 2048;",
	/* 18 */ "      esn = true;",
	/* 19 */ "      outbound = { spi = 0x1000; key = \"" KEY_A "\"; };",
	/* 20 */ "      inbound = { spi = 0x2000; key = \"" KEY_B "\"; };",
	/* 21 */ "      routes = [ \"10.1.0.0/16\" ];",
	/* 22 */ "    },",
	/* 23 */ "    {",
	/* 24 */ "      name = \"to-c\";",
	/* 25 */ "      local = \"192.0.2.1\";",
	/* 26 */ "      remote = \"192.0.2.3\";",
	/* 27 */ "      encap = \"udp\";",
	/* 28 */ "      cipher = \"aes-gcm-128\";",
	/* 29 */ "      replay_window = 64;",
	/* 30 */ "      esn = false;",
	/* 31 */ "      outbound = { spi = 0xc0000001; key = \"0x" KEY128_C "\"; };",
	/* 32 */ "      inbound = { spi = 0x2001; key = \"" KEY128_D "\"; };",
	/* 33 */ "      routes = [ \"10.2.0.0/16\", \"fd02::/48\" ];",
	/* 34 */ "    }",
	/* 35 */ "  );",
	/* 36 */ "};",
};
#define NBASE ((int)(sizeof(base) / sizeof(base[0])))

static char conf_path[256];
static char tmp_dir[64];
static char err[1024];

static void cleanup(void)
{
	char cmd[128];

	if (conf_path[0])
		unlink(conf_path);
	if (tmp_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
		cr_expect(system(cmd) == 0);
	}
}

TestSuite(config, .fini = cleanup);

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert(fchmod(fd, mode) == 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* Writes text into a new mode 0600 file under /tmp, named in conf_path. */
static const char *write_conf(const char *text)
{
	int fd;

	if (conf_path[0])
		unlink(conf_path);
	strcpy(conf_path, "/tmp/espresso-test-XXXXXX");
	fd = mkstemp(conf_path);
	cr_assert(fd >= 0);
	close(fd);
	write_file(conf_path, text, 0600);
	return conf_path;
}

static int load_text(const char *text, struct cfg *c, bool check_system)
{
	memset(err, 0, sizeof(err));
	return config_load(write_conf(text), c, check_system, err,
			   sizeof(err));
}

/* base[] with lines replaced by (line, text) pairs, 0-terminated. */
static char *edited(va_list ap)
{
	const char *lines[NBASE];
	size_t len = 0;
	char *text;
	int i, n;

	for (i = 0; i < NBASE; i++)
		lines[i] = base[i];
	while ((n = va_arg(ap, int))) {
		cr_assert(n >= 1 && n <= NBASE);
		lines[n - 1] = va_arg(ap, const char *);
	}
	for (i = 0; i < NBASE; i++)
		len += strlen(lines[i]) + 1;
	text = calloc(1, len + 1);
	cr_assert(text);
	for (i = 0; i < NBASE; i++) {
		strcat(text, lines[i]);
		strcat(text, "\n");
	}
	return text;
}

/* Loads base[] with the edits (line, text, ..., 0). */
static int load_edit(struct cfg *c, bool check_system, ...)
{
	va_list ap;
	char *text;
	int ret;

	va_start(ap, check_system);
	text = edited(ap);
	va_end(ap);
	ret = load_text(text, c, check_system);
	free(text);
	return ret;
}

/* -EINVAL, "FILE:LINE: " first, and every word in err. */
static void expect_err(int ret, const struct cfg *c, int line,
		       const char *const *words)
{
	char where[300];

	cr_assert_eq(ret, -EINVAL, "ret %d, err: %s", ret, err);
	snprintf(where, sizeof(where), "%s:%d: ", conf_path, line);
	cr_assert(!strncmp(err, where, strlen(where)),
		  "expected '%s' first in: %s", where, err);
	for (; *words; words++)
		cr_assert(strstr(err, *words), "expected '%s' in: %s", *words,
			  err);
	/* Nothing half-loaded is left behind. */
	cr_assert_null(c->tunnels);
	cr_assert_eq(c->ntunnels, 0);
}

#define EXPECT_ERR(ret, c, line, ...) \
	expect_err(ret, c, line, (const char *const[]){ __VA_ARGS__, NULL })

static void expect_no_key(const char *hex)
{
	char part[17];

	cr_assert_null(strstr(err, hex), "key in: %s", err);
	/* Nor a recognisable piece of it. */
	snprintf(part, sizeof(part), "%s", hex);
	cr_assert_null(strstr(err, part), "key material in: %s", err);
	snprintf(part, sizeof(part), "%s", hex + strlen(hex) - 16);
	cr_assert_null(strstr(err, part), "key material in: %s", err);
}

static void hex_bytes(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cr_assert(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
}

static void expect_key(const struct cfg_sa *sa, const char *hex)
{
	uint8_t want[CFG_KEY_MAX];
	size_t n = strlen(hex) / 2;

	hex_bytes(hex, want, n);
	cr_assert_eq(sa->key_len, n);
	cr_assert(!memcmp(sa->key, want, n));
}

static void expect_prefix(const struct cfg_prefix *p, const char *addr,
			  int len)
{
	uint8_t a[16] = { 0 };
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	cr_assert_eq(inet_pton(family, addr, a), 1);
	cr_assert_eq(p->family, family, "family of %s", addr);
	cr_assert(!memcmp(p->addr, a, sizeof(a)), "address %s", addr);
	cr_assert_eq(p->len, len, "length of %s", addr);
}

static void expect_ipv4(struct in_addr a, const char *s)
{
	struct in_addr b;

	cr_assert_eq(inet_pton(AF_INET, s, &b), 1);
	cr_assert_eq(a.s_addr, b.s_addr, "expected %s", s);
}

/* ---- valid configs ---- */

Test(config, full_valid)
{
	struct cfg c;
	struct cfg_tunnel *t;
	int ret = load_edit(&c, true, 0);

	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_str_eq(err, "");
	cr_assert_str_eq(c.path, conf_path);
	cr_assert_str_eq(c.instance, "gw-a");
	cr_assert_eq(c.workers.queues, 2);
	cr_assert_eq(c.workers.cpus[0], 3);
	cr_assert_eq(c.workers.cpus[1], 1);
	cr_assert_eq(c.workers.cpus[2], -1);
	cr_assert_eq(c.workers.batch, 32);
	cr_assert_str_eq(c.uplink.name, "lo");
	cr_assert_eq(c.uplink.ifindex, (int)if_nametoindex("lo"));
	cr_assert_gt(c.uplink.ifindex, 0);
	cr_assert_eq(c.uplink.xdp_mode, XDPMODE_SKB);
	cr_assert_eq(c.uplink.zerocopy, CFG_OFF);
	cr_assert_eq(c.uplink.threaded_napi, CFG_ON);
	cr_assert_str_eq(c.tun.name, "esp9");
	cr_assert_eq(c.tun.mtu, 1300);
	cr_assert_eq(c.tun.naddrs, 2);
	expect_prefix(&c.tun.addrs[0], "10.10.0.1", 24);
	expect_prefix(&c.tun.addrs[1], "fd10::1", 64);
	cr_assert_eq(c.ntunnels, 2);

	t = &c.tunnels[0];
	cr_assert_str_eq(t->name, "to-b");
	expect_ipv4(t->local, "192.0.2.1");
	expect_ipv4(t->remote, "192.0.2.2");
	cr_assert_eq(t->encap, ENCAP_ESP);
	cr_assert_eq(t->cipher, CIPHER_AES_GCM_256);
	cr_assert_eq(t->replay_window, 2048);
	cr_assert(t->esn);
	cr_assert_eq(t->out.spi, 0x1000);
	expect_key(&t->out, KEY_A);
	cr_assert_eq(t->in.spi, 0x2000);
	expect_key(&t->in, KEY_B);
	cr_assert_eq(t->nroutes, 1);
	expect_prefix(&t->routes[0], "10.1.0.0", 16);
	cr_assert_eq(t->line, 11);

	t = &c.tunnels[1];
	cr_assert_str_eq(t->name, "to-c");
	expect_ipv4(t->local, "192.0.2.1");
	expect_ipv4(t->remote, "192.0.2.3");
	cr_assert_eq(t->encap, ENCAP_UDP);
	cr_assert_eq(t->cipher, CIPHER_AES_GCM_128);
	cr_assert_eq(t->replay_window, 64);
	cr_assert_not(t->esn);
	cr_assert_eq(t->out.spi, 0xc0000001u);
	expect_key(&t->out, KEY128_C);
	cr_assert_eq(t->in.spi, 0x2001);
	expect_key(&t->in, KEY128_D);
	cr_assert_eq(t->nroutes, 2);
	expect_prefix(&t->routes[0], "10.2.0.0", 16);
	expect_prefix(&t->routes[1], "fd02::", 48);
	cr_assert_eq(t->line, 23);
	config_free(&c);
}

/* The schema as the design document shows it, keys filled in. */
Test(config, design_example)
{
	static const char text[] =
		"espresso: {\n"
		"  instance = \"gw-a\";\n"
		"  workers = { queues = 2; cpus = [0, 1]; batch = 64; };\n"
		"  uplink  = { name = \"eth0\"; xdp_mode = \"native\"; zerocopy = \"auto\"; };   # xdp_mode native|skb ; zerocopy auto|on|off\n"
		"  tun     = { name = \"esp0\"; mtu = 1400; address = \"10.10.0.1/24\"; };      # address: a string OR a list of strings (IPv4/IPv6 prefixes)\n"
		"  tunnels = (\n"
		"    { name = \"to-b\"; local = \"192.0.2.1\"; remote = \"192.0.2.2\"; encap = \"esp\";  # or \"udp\"\n"
		"      cipher = \"aes-gcm-256\"; replay_window = 1024; esn = true;\n"
		"      outbound = { spi = 0x1000; key = \"" KEY_A "\"; };   # or key_file = \"path\" instead of key\n"
		"      inbound  = { spi = 0x2000; key = \"" KEY_B "\"; };\n"
		"      routes = [ \"10.1.0.0/16\" ]; }\n"
		"  );\n"
		"};\n";
	struct cfg c;

	cr_assert_eq(load_text(text, &c, false), 0, "%s", err);
	cr_assert_str_eq(c.instance, "gw-a");
	cr_assert_eq(c.workers.queues, 2);
	cr_assert_eq(c.workers.cpus[1], 1);
	cr_assert_str_eq(c.uplink.name, "eth0");
	cr_assert_eq(c.uplink.ifindex, 0);
	cr_assert_eq(c.tun.naddrs, 1);
	expect_prefix(&c.tun.addrs[0], "10.10.0.1", 24);
	cr_assert_eq(c.ntunnels, 1);
	cr_assert_eq(c.tunnels[0].out.spi, 0x1000);
	expect_key(&c.tunnels[0].in, KEY_B);
	expect_prefix(&c.tunnels[0].routes[0], "10.1.0.0", 16);
	config_free(&c);
}

Test(config, defaults)
{
	static const char text[] =
		"espresso: {\n"
		"  instance = \"x\";\n"
		"  uplink = { name = \"eth0\"; };\n"
		"  tunnels = ( { name = \"t\"; local = \"192.0.2.1\"; remote = \"192.0.2.2\";\n"
		"    cipher = \"aes-gcm-128\";\n"
		"    outbound = { spi = 256; key = \"" KEY128_C "\"; };\n"
		"    inbound = { spi = 257; key = \"" KEY128_D "\"; }; } );\n"
		"};\n";
	struct cfg c;
	int i;

	cr_assert_eq(load_text(text, &c, false), 0, "%s", err);
	cr_assert_eq(c.workers.queues, 1);
	for (i = 0; i < CFG_MAX_QUEUES; i++)
		cr_assert_eq(c.workers.cpus[i], -1);
	cr_assert_eq(c.workers.batch, 64);
	cr_assert_eq(c.workers.fill_ring, 1024);
	cr_assert_eq(c.workers.crypto, CFG_CRYPTO_AUTO);
	cr_assert_eq(c.uplink.xdp_mode, XDPMODE_NATIVE);
	cr_assert_eq(c.uplink.zerocopy, CFG_AUTO);
	cr_assert_eq(c.uplink.threaded_napi, CFG_AUTO);
	cr_assert_str_eq(c.tun.name, "esp0");
	cr_assert_eq(c.tun.mtu, 0); /* auto: from the uplink */
	cr_assert(c.tun.offload);
	cr_assert(c.tun.mss_clamp);
	cr_assert_eq(c.tun.naddrs, 0);
	cr_assert_eq(c.tunnels[0].encap, ENCAP_ESP);
	cr_assert_eq(c.tunnels[0].fragment, FRAG_INNER);
	cr_assert_eq(c.tunnels[0].replay_window, CFG_REPLAY_DEFAULT);
	cr_assert(c.tunnels[0].esn);
	cr_assert_eq(c.tunnels[0].nroutes, 0);
	cr_assert_eq(c.tunnels[0].out.spi, 256);
	cr_assert_not(c.metrics.enabled); /* no metrics group: no endpoint */
	config_free(&c);
}

/* The repository's examples: tests/unit/test_config.c -> config/NAME. */
static void example_path(char *buf, size_t len, const char *name)
{
	const char *me = __FILE__, *tail = "tests/unit/test_config.c";
	size_t n = strlen(me) - strlen(tail);

	cr_assert(!strcmp(me + n, tail));
	snprintf(buf, len, "%.*sconfig/%s", (int)n, me, name);
}

static void load_example(const char *name, struct cfg *c)
{
	char path[4096];
	int ret;

	example_path(path, sizeof(path), name);
	ret = config_load(path, c, false, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s: %s", path, err);
}

Test(config, example_confs)
{
	struct cfg a, b;
	struct cfg_tunnel *ab, *ba;

	log_level = LOG_LVL_ERR; /* the files in git are mode 0644 */
	load_example("example.conf", &a);
	load_example("example-peer.conf", &b);
	cr_assert_str_eq(a.instance, "gw-a");
	cr_assert_str_eq(b.instance, "gw-b");
	cr_assert_eq(a.ntunnels, 2);
	cr_assert_eq(a.tunnels[1].encap, ENCAP_UDP);
	cr_assert_eq(a.tunnels[1].cipher, CIPHER_AES_GCM_128);
	/* gw-a's tunnel to-b and gw-b's tunnel to-a are the two ends. */
	ab = &a.tunnels[0];
	ba = &b.tunnels[0];
	cr_assert_eq(ab->local.s_addr, ba->remote.s_addr);
	cr_assert_eq(ab->remote.s_addr, ba->local.s_addr);
	cr_assert_eq(ab->cipher, ba->cipher);
	cr_assert_eq(ab->out.spi, ba->in.spi);
	cr_assert_eq(ab->in.spi, ba->out.spi);
	cr_assert(!memcmp(ab->out.key, ba->in.key, CFG_KEY_MAX));
	cr_assert(!memcmp(ab->in.key, ba->out.key, CFG_KEY_MAX));
	cr_assert(a.metrics.enabled);
	cr_assert_str_eq(a.metrics.listen, "127.0.0.1");
	cr_assert_eq(a.metrics.port, 9477);
	cr_assert(config_prefix_contains(&ab->routes[0], AF_INET,
					 b.tun.addrs[0].addr));
	cr_assert(config_prefix_contains(&ba->routes[0], AF_INET,
					 a.tun.addrs[0].addr));
	config_free(&a);
	config_free(&b);
}

/* ---- metrics (line 9 closes tun: the group goes after it) ---- */

Test(config, metrics_defaults)
{
	uint8_t lo[4] = { 127, 0, 0, 1 };
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 0), 0, "%s", err);
	cr_assert_not(c.metrics.enabled);
	config_free(&c);
	cr_assert_eq(load_edit(&c, false, 9, "  }; metrics = { };", 0), 0,
		     "%s", err);
	cr_assert(c.metrics.enabled);
	cr_assert_eq(c.metrics.family, AF_INET);
	cr_assert(!memcmp(c.metrics.addr, lo, 4));
	cr_assert_str_eq(c.metrics.listen, CFG_METRICS_LISTEN);
	cr_assert_str_eq(c.metrics.listen, "127.0.0.1");
	cr_assert_eq(c.metrics.port, CFG_METRICS_PORT);
	cr_assert_eq(c.metrics.port, 9477);
	config_free(&c);
}

Test(config, metrics_valid)
{
	uint8_t a6[16] = { 0 };
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 9,
			       "  }; metrics = { listen = \"::1\"; port = 1; };",
			       0), 0, "%s", err);
	a6[15] = 1;
	cr_assert_eq(c.metrics.family, AF_INET6);
	cr_assert(!memcmp(c.metrics.addr, a6, 16));
	cr_assert_str_eq(c.metrics.listen, "::1");
	cr_assert_eq(c.metrics.port, 1);
	config_free(&c);
	/* written as inet_ntop writes it */
	cr_assert_eq(load_edit(&c, false, 9,
			       "  }; metrics = { listen = \"FD00:0::0:1\"; port = 65535; };",
			       0), 0, "%s", err);
	cr_assert_str_eq(c.metrics.listen, "fd00::1");
	cr_assert_eq(c.metrics.port, 65535);
	config_free(&c);
	cr_assert_eq(load_edit(&c, false, 9,
			       "  }; metrics = { listen = \"0.0.0.0\"; };", 0),
		     0, "%s", err);
	cr_assert_eq(c.metrics.family, AF_INET);
	cr_assert_str_eq(c.metrics.listen, "0.0.0.0");
	cr_assert_eq(c.metrics.port, 9477);
	config_free(&c);
}

Test(config, metrics_errors)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { port = 0; };", 0),
		   &c, 9, "metrics.port", "0 is out of range (1..65535)");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { port = 65536; };", 0),
		   &c, 9, "metrics.port", "65536 is out of range (1..65535)");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { port = -1; };", 0),
		   &c, 9, "metrics.port", "out of range");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { port = \"9477\"; };", 0),
		   &c, 9, "metrics.port", "expected an integer");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { listen = \"localhost\"; };", 0),
		   &c, 9, "metrics.listen",
		   "'localhost' is not an IPv4 or IPv6 address", "no host names");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { listen = \"127.0.0.1:9477\"; };", 0),
		   &c, 9, "metrics.listen", "'127.0.0.1:9477' is not an IPv4 or IPv6 address");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { listen = \"10.0.0.1/8\"; };", 0),
		   &c, 9, "metrics.listen", "'10.0.0.1/8' is not");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { listen = \"\"; };", 0),
		   &c, 9, "metrics.listen", "'' is not");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { listen = 127; };", 0),
		   &c, 9, "metrics.listen", "expected a string");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = { address = \"::1\"; };", 0),
		   &c, 9, "metrics.address", "unknown setting", "listen, port");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrics = 9477;", 0),
		   &c, 9, "metrics", "expected a group");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; metrix = { };", 0),
		   &c, 9, "metrix", "unknown setting", "metrics");
}

Test(config, tun_address_string_and_large_spi)
{
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 8, "    address = \"fd10::1/64\";",
			       19, "      outbound = { spi = 0xffffffff; key = \"" KEY_A "\"; };",
			       20, "      inbound = { spi = 4294967294L; key = \"" KEY_B "\"; };",
			       0),
		     0, "%s", err);
	cr_assert_eq(c.tun.naddrs, 1);
	expect_prefix(&c.tun.addrs[0], "fd10::1", 64);
	cr_assert_eq(c.tunnels[0].out.spi, 0xffffffffu);
	cr_assert_eq(c.tunnels[0].in.spi, 0xfffffffeu);
	config_free(&c);
}

Test(config, adjacent_routes_do_not_overlap)
{
	struct cfg c;

	cr_assert_eq(load_edit(&c, false,
			       21, "      routes = [ \"10.0.0.0/16\", \"10.1.0.0/24\", \"0.0.0.0/32\" ];",
			       33, "      routes = [ \"10.1.1.0/24\", \"fd02::/48\", \"fd03::/48\", \"10.1.2.0/23\" ];",
			       0),
		     0, "%s", err);
	config_free(&c);
}

/* ---- errors, one per kind ---- */

Test(config, syntax_error)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = = 1300;", 0), &c, 7,
		   "syntax error");
}

Test(config, wrong_key_length)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 19, "      outbound = { spi = 0x1000; key = \"" KEY128_C "\"; };", 0),
		   &c, 19, "tunnels.[0].outbound.key", "20 bytes",
		   "aes-gcm-256 needs 36");
	expect_no_key(KEY128_C);
	EXPECT_ERR(load_edit(&c, false, 32, "      inbound = { spi = 0x2001; key = \"" KEY_C "\"; };", 0),
		   &c, 32, "tunnels.[1].inbound.key", "aes-gcm-128 needs 20");
	expect_no_key(KEY_C);
}

Test(config, bad_hex)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; key = \"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2zz\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.key", "hex");
	expect_no_key("b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2zz");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; key = \"" KEY_B "0\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.key", "odd number of hex digits");
	expect_no_key(KEY_B);
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; key = \"\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.key", "0 bytes");
}

Test(config, unknown_cipher)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 16, "      cipher = \"chacha20\";", 0),
		   &c, 16, "tunnels.[0].cipher", "unknown cipher 'chacha20'",
		   "aes-gcm-128, aes-gcm-256");
}

Test(config, unknown_encap)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 27, "      encap = \"gre\";", 0), &c,
		   27, "tunnels.[1].encap", "'gre'", "esp, udp");
}

/* NAT-T: our own UDP port, 1..65535, udp only; 0 (4500) when absent */
Test(config, local_port)
{
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 27,
			       "      encap = \"udp\"; local_port = 4600;", 0), 0,
		     "%s", err);
	cr_assert_eq(c.tunnels[1].local_port, 4600);
	cr_assert_eq(c.tunnels[0].local_port, 0);
	config_free(&c);
	EXPECT_ERR(load_edit(&c, false, 27,
			     "      encap = \"udp\"; local_port = 0;", 0),
		   &c, 27, "tunnels.[1].local_port");
	EXPECT_ERR(load_edit(&c, false, 27,
			     "      encap = \"udp\"; local_port = 65536;", 0),
		   &c, 27, "tunnels.[1].local_port");
	EXPECT_ERR(load_edit(&c, false, 15,
			     "      encap = \"esp\"; local_port = 4600;", 0),
		   &c, 15, "tunnels.[0].local_port", "needs encap");
}

Test(config, unknown_xdp_mode)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"lo\"; xdp_mode = \"hw\"; };", 0),
		   &c, 4, "uplink.xdp_mode", "'hw'", "native, skb");
}

Test(config, unknown_zerocopy)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"lo\"; zerocopy = \"yes\"; };", 0),
		   &c, 4, "uplink.zerocopy", "'yes'", "auto, on, off");
}

Test(config, unknown_threaded_napi)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"lo\"; threaded_napi = \"1\"; };", 0),
		   &c, 4, "uplink.threaded_napi", "'1'", "auto, on, off");
	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"lo\"; threaded_napi = true; };", 0),
		   &c, 4, "uplink.threaded_napi", "string");
}

Test(config, duplicate_spi_same_direction)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 31, "      outbound = { spi = 0x1000; key = \"" KEY128_C "\"; };", 0),
		   &c, 31, "tunnels.[1].outbound.spi", "0x1000",
		   "tunnels.[0].outbound.spi (line 19)");
}

Test(config, duplicate_spi_across_directions)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 32, "      inbound = { spi = 4096; key = \"" KEY128_D "\"; };", 0),
		   &c, 32, "tunnels.[1].inbound.spi", "0x1000",
		   "tunnels.[0].outbound.spi (line 19)");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x1000; key = \"" KEY_B "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.spi",
		   "tunnels.[0].outbound.spi");
}

Test(config, reserved_spi)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 19, "      outbound = { spi = 255; key = \"" KEY_A "\"; };", 0),
		   &c, 19, "tunnels.[0].outbound.spi", "reserved",
		   "RFC 4303");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0; key = \"" KEY_B "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.spi", "reserved");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 4294967296L; key = \"" KEY_B "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.spi", "32 bits");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = -5; key = \"" KEY_B "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.spi");
}

Test(config, missing_uplink_interface)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, true, 4, "  uplink = { name = \"nosuchif0\"; };", 0),
		   &c, 4, "uplink.name", "interface 'nosuchif0' not found");
	/* Not checked without check_system. */
	cr_assert_eq(load_edit(&c, false, 4, "  uplink = { name = \"nosuchif0\"; };", 0),
		     0, "%s", err);
	cr_assert_eq(c.uplink.ifindex, 0);
	config_free(&c);
}

Test(config, overlapping_routes)
{
	struct cfg c;

	/* One inside the other, across tunnels: the later one is blamed. */
	EXPECT_ERR(load_edit(&c, false, 33, "      routes = [ \"10.1.2.0/24\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[0]", "10.1.2.0/24 overlaps 10.1.0.0/16",
		   "tunnels.[0].routes.[0] (line 21)");
	EXPECT_ERR(load_edit(&c, false, 33, "      routes = [ \"10.0.0.0/8\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[0]", "10.0.0.0/8 overlaps 10.1.0.0/16");
	EXPECT_ERR(load_edit(&c, false, 33, "      routes = [ \"0.0.0.0/0\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[0]", "overlaps");
	/* Identical. */
	EXPECT_ERR(load_edit(&c, false, 33, "      routes = [ \"fd02::/48\", \"10.1.0.0/16\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[1]", "10.1.0.0/16 overlaps 10.1.0.0/16");
	/* Within one tunnel. */
	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ \"10.1.0.0/16\", \"10.1.128.0/17\" ];", 0),
		   &c, 21, "tunnels.[0].routes.[1]", "overlaps",
		   "tunnels.[0].routes.[0] (line 21)");
	/* IPv6, with a prefix sorting in between. */
	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ \"fd02:0:0:1::/64\", \"fd02::/64\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[1]", "fd02::/48 overlaps");
}

Test(config, route_host_bits)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ \"10.1.0.1/16\" ];", 0),
		   &c, 21, "tunnels.[0].routes.[0]", "host bits",
		   "did you mean 10.1.0.0/16?");
	EXPECT_ERR(load_edit(&c, false, 33, "      routes = [ \"10.2.0.0/16\", \"fd02::1/48\" ];", 0),
		   &c, 33, "tunnels.[1].routes.[1]", "did you mean fd02::/48?");
}

Test(config, bad_prefix)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ \"10.1.0.0/33\" ];", 0),
		   &c, 21, "tunnels.[0].routes.[0]", "'10.1.0.0/33' is not a prefix");
	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ \"10.1/16\" ];", 0),
		   &c, 21, "tunnels.[0].routes.[0]", "not a prefix");
	EXPECT_ERR(load_edit(&c, false, 21, "      routes = [ 10 ];", 0), &c,
		   21, "tunnels.[0].routes.[0]", "string");
	EXPECT_ERR(load_edit(&c, false, 8, "    address = \"10.10.0.300/24\";", 0),
		   &c, 8, "tun.address", "'10.10.0.300/24'");
	EXPECT_ERR(load_edit(&c, false, 8, "    address = [ \"10.10.0.1/24\", \"fd10::1/\" ];", 0),
		   &c, 8, "tun.address.[1]", "not an address prefix");
}

Test(config, out_of_range)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { queues = 0; };", 0),
		   &c, 3, "workers.queues", "0 is out of range (1..64)");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { queues = 65; };", 0),
		   &c, 3, "workers.queues", "1..64");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { batch = 257; };", 0),
		   &c, 3, "workers.batch", "1..256");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { batch = 0; };", 0),
		   &c, 3, "workers.batch", "1..256");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { crypto = \"aesni\"; };", 0),
		   &c, 3, "workers.crypto", "auto)");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { fill_ring = 32; };", 0),
		   &c, 3, "workers.fill_ring", "64..4096");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { fill_ring = 8192; };", 0),
		   &c, 3, "workers.fill_ring", "64..4096");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { fill_ring = 1000; };", 0),
		   &c, 3, "workers.fill_ring", "1000 is not a power of 2");
	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = 575;", 0), &c, 7,
		   "tun.mtu", "576..3500");
	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = 3501;", 0), &c, 7,
		   "tun.mtu", "576..3500");
	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = 1400; offload = 1;", 0),
		   &c, 7, "tun.offload", "true or false");
	EXPECT_ERR(load_edit(&c, false, 17, "      replay_window = 16;", 0),
		   &c, 17, "tunnels.[0].replay_window", "32..4096");
	EXPECT_ERR(load_edit(&c, false, 29, "      replay_window = 4128;", 0),
		   &c, 29, "tunnels.[1].replay_window", "32..4096");
	EXPECT_ERR(load_edit(&c, false, 29, "      replay_window = 1000;", 0),
		   &c, 29, "tunnels.[1].replay_window", "multiple of 32");
}

Test(config, cpus)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { queues = 2; cpus = [0, -1]; };", 0),
		   &c, 3, "workers.cpus.[1]", "out of range");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { queues = 2; cpus = [0]; };", 0),
		   &c, 3, "workers.cpus", "1 entries but queues = 2");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { cpus = [0, 1]; };", 0),
		   &c, 3, "workers.cpus", "2 entries but queues = 1");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = { queues = 1; cpus = \"0\"; };", 0),
		   &c, 3, "workers.cpus", "list");
}

Test(config, ipv6_needs_1280)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = 1000;", 0), &c, 7,
		   "tun.mtu", "1280");
	cr_assert_eq(load_edit(&c, false, 7, "    mtu = 1000;", 8,
			       "    address = \"10.10.0.1/24\";", 0),
		     0, "%s", err);
	config_free(&c);
}

Test(config, missing_required)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 2, "", 0), &c, 1, "instance",
		   "missing");
	EXPECT_ERR(load_edit(&c, false, 4, "", 0), &c, 1, "uplink",
		   "missing");
	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { xdp_mode = \"skb\"; };", 0),
		   &c, 4, "uplink.name", "missing");
	EXPECT_ERR(load_edit(&c, false, 12, "", 0), &c, 11,
		   "tunnels.[0].name", "missing");
	EXPECT_ERR(load_edit(&c, false, 13, "", 0), &c, 11,
		   "tunnels.[0].local", "missing");
	EXPECT_ERR(load_edit(&c, false, 28, "", 0), &c, 23,
		   "tunnels.[1].cipher", "missing");
	EXPECT_ERR(load_edit(&c, false, 19, "", 0), &c, 11,
		   "tunnels.[0].outbound", "missing");
	EXPECT_ERR(load_edit(&c, false, 19, "      outbound = { key = \"" KEY_A "\"; };", 0),
		   &c, 19, "tunnels.[0].outbound.spi", "missing");
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; };", 0),
		   &c, 20, "tunnels.[0].inbound.key", "missing", "key_file");
	EXPECT_ERR(load_text("", &c, false), &c, 1, "espresso", "missing");
	EXPECT_ERR(load_text("espresso: {\n"
			     "  instance = \"a\";\n"
			     "  uplink = { name = \"eth0\"; };\n"
			     "};\n", &c, false),
		   &c, 1, "tunnels", "missing");
	/* an empty list is an IKE gateway's: charon adds the tunnels */
	cr_assert_eq(load_text("espresso: {\n"
			       "  instance = \"a\";\n"
			       "  uplink = { name = \"eth0\"; };\n"
			       "  tunnels = ( );\n"
			       "};\n", &c, false), 0);
	cr_assert_eq(c.ntunnels, 0);
	config_free(&c);
}

Test(config, outer_addresses_ipv4)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 14, "      remote = \"2001:db8::2\";", 0),
		   &c, 14, "tunnels.[0].remote", "'2001:db8::2' is an IPv6 address but local is IPv4");
	EXPECT_ERR(load_edit(&c, false, 25, "      local = \"192.0.2\";", 0),
		   &c, 25, "tunnels.[1].local", "IPv4");
	EXPECT_ERR(load_edit(&c, false, 14, "      remote = \"192.0.2.1\";", 0),
		   &c, 14, "tunnels.[0].remote", "same address as local");
}

/* Outer IPv6: both ends IPv6, never mixed, unicast, distinct. */
Test(config, outer_addresses_ipv6)
{
	struct in6_addr a;
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 13, "      local = \"2001:db8::1\";",
			       14, "      remote = \"2001:db8::2\";", 0), 0,
		     "%s", err);
	cr_assert_eq(c.tunnels[0].family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::1", &a);
	cr_assert(!memcmp(&c.tunnels[0].local6, &a, 16));
	inet_pton(AF_INET6, "2001:db8::2", &a);
	cr_assert(!memcmp(&c.tunnels[0].remote6, &a, 16));
	cr_assert_eq(c.tunnels[1].family, AF_INET);
	config_free(&c);
	EXPECT_ERR(load_edit(&c, false, 13, "      local = \"2001:db8::1\";", 0),
		   &c, 14, "tunnels.[0].remote", "'192.0.2.2' is an IPv4 address but local is IPv6");
	EXPECT_ERR(load_edit(&c, false, 13, "      local = \"2001:db8::1\";",
			     14, "      remote = \"2001:db8::1\";", 0),
		   &c, 14, "tunnels.[0].remote", "same address as local");
	EXPECT_ERR(load_edit(&c, false, 13, "      local = \"2001:db8::1\";",
			     14, "      remote = \"ff02::1\";", 0),
		   &c, 14, "tunnels.[0].remote", "not a unicast address");
}

Test(config, shared_key)
{
	struct cfg c;

	/* Inbound and outbound of one tunnel. */
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; key = \"" KEY_A "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.key",
		   "tunnels.[0].outbound (line 19)",
		   "an AEAD key is never shared by two SAs");
	expect_no_key(KEY_A);
	/* Two tunnels. */
	EXPECT_ERR(load_edit(&c, false, 28, "      cipher = \"aes-gcm-256\";",
			     31, "      outbound = { spi = 0x1001; key = \"" KEY_C "\"; };",
			     32, "      inbound = { spi = 0x2001; key = \"0X" KEY_A "\"; };", 0),
		   &c, 32, "tunnels.[1].inbound.key",
		   "tunnels.[0].outbound (line 19)", "never shared");
	/* The same AES key with another salt is still the same key. */
	EXPECT_ERR(load_edit(&c, false, 20, "      inbound = { spi = 0x2000; key = \"" KEY_A_SALT2 "\"; };", 0),
		   &c, 20, "tunnels.[0].inbound.key", "never shared");
	expect_no_key(KEY_A_SALT2);
}

Test(config, key_and_key_file)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 19, "      outbound = { spi = 0x1000; key = \"" KEY_A "\"; key_file = \"k\"; };", 0),
		   &c, 19, "tunnels.[0].outbound.key_file", "not both");
}

Test(config, names)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 2, "  instance = \"gw a\";", 0), &c, 2,
		   "instance", "not a valid name");
	EXPECT_ERR(load_edit(&c, false, 2, "  instance = \"abcdefghijabcdefghijabcdefghij12\";", 0),
		   &c, 2, "instance", "1..31");
	EXPECT_ERR(load_edit(&c, false, 24, "      name = \"to-b\";", 0), &c, 24,
		   "tunnels.[1].name", "tunnels.[0] (line 11)", "unique");
	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"a-very-long-ifname\"; };", 0),
		   &c, 4, "uplink.name", "interface name");
	EXPECT_ERR(load_edit(&c, false, 6, "    name = \"lo\";", 0), &c, 6,
		   "tun.name", "uplink");
}

Test(config, unknown_setting_and_type)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 18, "      esm = true;", 0), &c, 18,
		   "tunnels.[0].esm", "unknown setting", "esn");
	EXPECT_ERR(load_edit(&c, false, 7, "    mtu = \"1300\";", 0), &c, 7,
		   "tun.mtu", "expected an integer");
	EXPECT_ERR(load_edit(&c, false, 18, "      esn = 1;", 0), &c, 18,
		   "tunnels.[0].esn", "true or false");
	EXPECT_ERR(load_edit(&c, false, 3, "  workers = 2;", 0), &c, 3,
		   "workers", "group");
}

Test(config, missing_file)
{
	struct cfg c;
	int ret;

	ret = config_load("/nonexistent/espresso.conf", &c, false, err,
			  sizeof(err));
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "/nonexistent/espresso.conf"), "%s", err);
	cr_assert_null(c.tunnels);
}

/* ---- key files and permissions ---- */

/* A private temp dir holding config.conf with base[] edited. */
static void write_in_dir(const char *conf, mode_t mode)
{
	char path[128];

	strcpy(tmp_dir, "/tmp/espresso-test-XXXXXX");
	cr_assert(mkdtemp(tmp_dir));
	snprintf(path, sizeof(path), "%s/keys", tmp_dir);
	cr_assert(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/gw.conf", tmp_dir);
	write_file(path, conf, mode);
	snprintf(conf_path, sizeof(conf_path), "%s", path);
}

static char *edit(int dummy, ...)
{
	va_list ap;
	char *s;

	va_start(ap, dummy);
	s = edited(ap);
	va_end(ap);
	return s;
}

static int load_dir(struct cfg *c)
{
	return config_load(conf_path, c, false, err, sizeof(err));
}

/* stderr into a temp file while the log is written. */
static int saved_stderr = -1, capture_fd = -1;

static void capture_start(void)
{
	char path[] = "/tmp/espresso-test-XXXXXX";

	fflush(stderr);
	capture_fd = mkstemp(path);
	cr_assert(capture_fd >= 0);
	unlink(path);
	saved_stderr = dup(2);
	cr_assert(dup2(capture_fd, 2) == 2);
}

static void capture_end(char *buf, size_t len)
{
	ssize_t n;

	fflush(stderr);
	cr_assert(dup2(saved_stderr, 2) == 2);
	close(saved_stderr);
	cr_assert(lseek(capture_fd, 0, SEEK_SET) == 0);
	n = read(capture_fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(capture_fd);
}

Test(config, key_file_relative)
{
	char *conf = edit(0, 20, "      inbound = { spi = 0x2000; key_file = \"keys/in.hex\"; };", 0);
	char path[128], log[2048];
	struct cfg c;

	write_in_dir(conf, 0600);
	free(conf);
	snprintf(path, sizeof(path), "%s/keys/in.hex", tmp_dir);
	write_file(path, "  0x" KEY_B "\n\n", 0600);
	capture_start();
	cr_assert_eq(load_dir(&c), 0, "%s", err);
	capture_end(log, sizeof(log));
	cr_assert_str_eq(log, "", "no warning expected: %s", log);
	expect_key(&c.tunnels[0].in, KEY_B);
	expect_key(&c.tunnels[0].out, KEY_A);
	config_free(&c);
}

Test(config, key_file_absolute_and_shared)
{
	char path[128], line[256], *conf;
	struct cfg c;

	strcpy(tmp_dir, "/tmp/espresso-test-XXXXXX");
	cr_assert(mkdtemp(tmp_dir));
	snprintf(path, sizeof(path), "%s/a.hex", tmp_dir);
	write_file(path, KEY_A, 0600);
	snprintf(line, sizeof(line),
		 "      inbound = { spi = 0x2000; key_file = \"%s\"; };", path);
	conf = edit(0, 20, line, 0);
	write_conf(conf);
	free(conf);
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "never shared");
	expect_no_key(KEY_A);
}

Test(config, key_file_errors)
{
	char *conf = edit(0, 20, "      inbound = { spi = 0x2000; key_file = \"keys/in.hex\"; };", 0);
	char path[128];
	struct cfg c;

	write_in_dir(conf, 0600);
	free(conf);
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "cannot read key file", "keys/in.hex",
		   "No such file or directory");
	snprintf(path, sizeof(path), "%s/keys/in.hex", tmp_dir);
	write_file(path, KEY128_D "\n", 0600);
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "in key file", "keys/in.hex", "aes-gcm-256 needs 36");
	expect_no_key(KEY128_D);
	write_file(path, "", 0600);
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "0 bytes");
}

/* A key file others may read: refused, the message naming the file, its
 * mode and the two ways out; the config file's own mode only warns. */
Test(config, key_file_open_refused)
{
	char *conf = edit(0, 20, "      inbound = { spi = 0x2000; key_file = \"keys/in.hex\"; };", 0);
	char path[128], log[4096];
	struct cfg c;

	write_in_dir(conf, 0644);
	free(conf);
	snprintf(path, sizeof(path), "%s/keys/in.hex", tmp_dir);
	write_file(path, KEY_B, 0640);
	capture_start();
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "key file", "keys/in.hex", "mode 0640", "chmod 600",
		   "allow_insecure_key_files = true");
	capture_end(log, sizeof(log));
	expect_no_key(KEY_B);
	cr_assert(strstr(log, "config file"), "%s", log);
	cr_assert(strstr(log, conf_path), "%s", log);
	cr_assert(strstr(log, "0644"), "%s", log);
	cr_assert_null(strstr(log, "b0b1b2b3"), "%s", log);
	log_level = LOG_LVL_ERR; /* the config's warning again: heard */
	write_file(path, KEY_B, 0604); /* others, not the group: the same */
	EXPECT_ERR(load_dir(&c), &c, 20, "tunnels.[0].inbound.key_file",
		   "mode 0604");
	write_file(path, KEY_B, 0400); /* owner only: fine */
	cr_assert_eq(load_dir(&c), 0, "%s", err);
	cr_assert_not(c.allow_insecure_key_files);
	config_free(&c);
}

/* allow_insecure_key_files = true: accepted, with the warning of old. */
Test(config, key_file_open_allowed)
{
	char *conf = edit(0, 2, "  instance = \"gw-a\"; allow_insecure_key_files = true;",
			  20, "      inbound = { spi = 0x2000; key_file = \"keys/in.hex\"; };", 0);
	char path[128], log[4096];
	struct cfg c;

	write_in_dir(conf, 0600);
	free(conf);
	snprintf(path, sizeof(path), "%s/keys/in.hex", tmp_dir);
	write_file(path, KEY_B, 0644);
	capture_start();
	cr_assert_eq(load_dir(&c), 0, "%s", err);
	capture_end(log, sizeof(log));
	cr_assert(c.allow_insecure_key_files);
	expect_key(&c.tunnels[0].in, KEY_B);
	cr_assert(strstr(log, "key file"), "%s", log);
	cr_assert(strstr(log, "keys/in.hex"), "%s", log);
	cr_assert(strstr(log, "0644"), "%s", log);
	cr_assert(strstr(log, "chmod 600"), "%s", log);
	cr_assert_null(strstr(log, "b0b1b2b3"), "%s", log);
	config_free(&c);
	EXPECT_ERR(load_edit(&c, false, 2, "  instance = \"gw-a\"; allow_insecure_key_files = 1;", 0),
		   &c, 2, "allow_insecure_key_files", "true or false");
}

/* ---- no leaks ---- */

/*
 * Live heap blocks of this thread, counted by replacing malloc (glibc
 * supports this and routes its own calls through it). mallinfo2() cannot
 * tell: it counts the chunks cached in the thread's tcache as in use.
 */
#ifndef __SANITIZE_ADDRESS__
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

/* Per thread: Criterion's own threads allocate too. */
static __thread long live_blocks;

static void count(long d)
{
	live_blocks += d;
}

void *malloc(size_t n)
{
	void *p = __libc_malloc(n);

	if (p)
		count(1);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = __libc_calloc(n, size);

	if (p)
		count(1);
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p = __libc_realloc(old, n);

	if (!old && p)
		count(1);
	else if (old && !n && !p)
		count(-1);
	return p;
}

void free(void *p)
{
	if (p)
		count(-1);
	__libc_free(p);
}

static long blocks(void)
{
	return live_blocks;
}
#endif

Test(config, errors_leak_nothing)
{
#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("ASan checks leaks itself");
#else
	static const struct {
		int line;
		const char *text;
	} edits[] = {
		{ 7, "    mtu = = 1;" },
		{ 19, "      outbound = { spi = 0x1000; key = \"00\"; };" },
		{ 20, "      inbound = { spi = 0x1000; key = \"" KEY_B "\"; };" },
		{ 20, "      inbound = { spi = 0x2000; key = \"" KEY_A "\"; };" },
		{ 33, "      routes = [ \"10.1.2.0/24\" ];" },
		{ 33, "      routes = [ \"10.2.0.0/16\", \"x\" ];" },
		{ 32, "      inbound = { spi = 0x2001; key_file = \"/nonexistent\"; };" },
		{ 32, "      inbound = { spi = 0x2001; key_file = \"/dev/null\"; };" },
		{ 29, "      replay_window = 1000;" },
		{ 4, "  uplink = { name = \"nosuchif0\"; };" },
		{ 2, "" },
	};
	const char *preload = getenv("LD_PRELOAD");
	struct cfg c;
	long before;
	size_t i;
	int ret;

	/* valgrind replaces only some of the functions counting above. */
	if (preload && strstr(preload, "vgpreload"))
		cr_skip_test("valgrind checks leaks itself");
	log_level = LOG_LVL_ERR;
	/* Whatever libc sets up once is not a leak. */
	cr_assert_eq(load_edit(&c, true, 0), 0, "%s", err);
	config_free(&c);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *text = edit(0, edits[i].line, edits[i].text, 0);

		write_conf(text);
		free(text);
		before = blocks();
		ret = config_load(conf_path, &c, true, err, sizeof(err));
		cr_assert_eq(ret, -EINVAL, "edit %zu: %s", i, err);
		cr_assert_eq(blocks(), before, "edit %zu leaked %ld blocks: %s",
			     i, blocks() - before, err);
	}
	/* A good load: config_free frees everything. */
	before = blocks();
	cr_assert_eq(load_edit(&c, true, 0), 0, "%s", err);
	cr_assert_gt(blocks(), before);
	config_free(&c);
	cr_assert_eq(blocks(), before);
#endif
}

Test(config, free_twice_and_zeroed)
{
	struct cfg c, z;

	memset(&z, 0, sizeof(z));
	config_free(&z);
	config_free(&z);
	config_free(NULL);
	cr_assert_eq(load_edit(&c, false, 0), 0, "%s", err);
	config_free(&c);
	cr_assert_null(c.tunnels);
	cr_assert_eq(c.ntunnels, 0);
	config_free(&c);
}

/* ---- helpers ---- */

Test(config, parse_prefix)
{
	struct cfg_prefix p;

	cr_assert_eq(config_parse_prefix("10.1.2.3/24", &p), 0);
	expect_prefix(&p, "10.1.2.3", 24);
	cr_assert_eq(config_parse_prefix("10.1.2.3", &p), 0);
	expect_prefix(&p, "10.1.2.3", 32);
	cr_assert_eq(config_parse_prefix("0.0.0.0/0", &p), 0);
	expect_prefix(&p, "0.0.0.0", 0);
	cr_assert_eq(config_parse_prefix("fd00::1/64", &p), 0);
	expect_prefix(&p, "fd00::1", 64);
	cr_assert_eq(config_parse_prefix("::1", &p), 0);
	expect_prefix(&p, "::1", 128);
	cr_assert_eq(config_parse_prefix("::ffff:10.0.0.1/128", &p), 0);
	cr_assert_eq(p.family, AF_INET6);

	static const char *const bad[] = {
		"", "/24", "10.1.2.3/", "10.1.2.3/33", "10.1.2.3/-1",
		"10.1.2.3/+8", "10.1.2.3/ 8", "10.1.2.3/8x", "10.1.2/24",
		"10.1.2.256", "fd00::/129", "fd00::/1000", "fd00:::1/64",
		"banana", "10.1.2.3/24/1", " 10.1.2.3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(config_parse_prefix(bad[i], &p), -EINVAL, "%s",
			     bad[i]);
		cr_assert_eq(p.family, 0);
	}
	cr_assert_eq(config_parse_prefix(NULL, &p), -EINVAL);
}

static bool contains(const char *prefix, const char *addr)
{
	struct cfg_prefix p;
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	cr_assert_eq(config_parse_prefix(prefix, &p), 0);
	cr_assert_eq(inet_pton(family, addr, a), 1);
	return config_prefix_contains(&p, family, a);
}

Test(config, prefix_contains)
{
	struct cfg_prefix p;
	uint8_t a[16] = { 10, 1, 0, 0 };

	cr_assert(contains("10.1.0.0/16", "10.1.255.1"));
	cr_assert(contains("10.1.0.0/16", "10.1.0.0"));
	cr_assert_not(contains("10.1.0.0/16", "10.2.0.0"));
	cr_assert(contains("10.1.2.3/24", "10.1.2.200"));
	cr_assert(contains("192.0.2.0/31", "192.0.2.1"));
	cr_assert_not(contains("192.0.2.0/31", "192.0.2.2"));
	cr_assert(contains("10.0.0.0/9", "10.127.0.1"));
	cr_assert_not(contains("10.0.0.0/9", "10.128.0.1"));
	cr_assert(contains("0.0.0.0/0", "255.255.255.255"));
	cr_assert(contains("10.1.2.3", "10.1.2.3"));
	cr_assert_not(contains("10.1.2.3", "10.1.2.2"));
	cr_assert(contains("fd02::/48", "fd02:0:0:ffff::1"));
	cr_assert_not(contains("fd02::/48", "fd02:0:1::1"));
	cr_assert(contains("::/0", "2001:db8::1"));
	cr_assert(contains("2001:db8::/127", "2001:db8::1"));
	cr_assert_not(contains("2001:db8::/127", "2001:db8::2"));
	/* Family mismatch. */
	cr_assert_eq(config_parse_prefix("10.0.0.0/8", &p), 0);
	cr_assert_not(config_prefix_contains(&p, AF_INET6, a));
	cr_assert(config_prefix_contains(&p, AF_INET, a));
	cr_assert_eq(config_parse_prefix("::/0", &p), 0);
	cr_assert_not(config_prefix_contains(&p, AF_INET, a));
	cr_assert_not(config_prefix_contains(NULL, AF_INET, a));
	cr_assert_not(config_prefix_contains(&p, AF_INET6, NULL));
}

Test(config, ciphers)
{
	cr_assert_str_eq(config_cipher_name(CIPHER_AES_GCM_128), "aes-gcm-128");
	cr_assert_str_eq(config_cipher_name(CIPHER_AES_GCM_256), "aes-gcm-256");
	cr_assert_str_eq(config_cipher_name((enum cfg_cipher)7), "unknown");
	cr_assert_eq(config_cipher_key_len(CIPHER_AES_GCM_128), 20);
	cr_assert_eq(config_cipher_key_len(CIPHER_AES_GCM_256), 36);
	cr_assert_eq(config_cipher_key_len((enum cfg_cipher)7), 0);
}

/* ---- router mode: lan = ( { name = ...; }, ... ) ---- */

Test(config, lan_valid)
{
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 9, "  }; lan = ( { name = \"eth7\"; }, "
			       "{ name = \"eth8\"; } );", 0), 0, "%s", err);
	cr_assert_eq(c.nlans, 2);
	cr_assert_str_eq(c.lans[0].name, "eth7");
	cr_assert_str_eq(c.lans[1].name, "eth8");
	config_free(&c);
	/* absent: host mode */
	cr_assert_eq(load_edit(&c, false, 0), 0, "%s", err);
	cr_assert_eq(c.nlans, 0);
	config_free(&c);
}

Test(config, lan_errors)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"lo\"; } );", 0),
		   &c, 9, "lan.[0].name", "'lo' is also the uplink");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"esp9\"; } );", 0),
		   &c, 9, "lan.[0].name", "'esp9' is also the tun");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"e1\"; }, "
			     "{ name = \"e1\"; } );", 0),
		   &c, 9, "lan.[1].name", "'e1' is listed twice");
	EXPECT_ERR(load_edit(&c, true, 9, "  }; lan = ( { name = \"nosuchif0\"; } );", 0),
		   &c, 9, "lan.[0].name", "interface 'nosuchif0' not found");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"a\"; }, "
			     "{ name = \"b\"; }, { name = \"c\"; }, { name = \"d\"; }, "
			     "{ name = \"e\"; } );", 0),
		   &c, 9, "lan", "5 LAN interfaces, at most 4");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"e1\"; mtu = 9; } );", 0),
		   &c, 9, "mtu");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { } );", 0),
		   &c, 9, "lan.[0].name");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; lan = ( { name = \"a/b\"; } );", 0),
		   &c, 9, "lan.[0].name", "not a valid interface name");
}

/* ---- router mode: policies = ( ... ) ---- */

Test(config, policies_valid)
{
	struct cfg c;

	cr_assert_eq(load_edit(&c, false, 35, "  ); policies = ( "
			       "{ id = 1; action = \"discard\"; }, "
			       "{ id = 4294967295L; priority = 7; src = \"10.1.0.0/16\"; "
			       "dst = \"10.2.0.9\"; proto = \"tcp\"; sport = \"1024-65535\"; "
			       "dport = \"443\"; action = \"protect\"; tunnel = \"to-c\"; } );",
			       0), 0, "%s", err);
	cr_assert_eq(c.npolicies, 2);
	cr_assert_eq(c.policies[0].id, 1);
	cr_assert_eq(c.policies[0].priority, 1000);
	cr_assert_eq(c.policies[0].action, 3);
	expect_prefix(&c.policies[0].dst, "0.0.0.0", 0);
	cr_assert_eq(c.policies[0].dport[1], 65535);
	cr_assert_eq(c.policies[1].id, 4294967295u);
	cr_assert_eq(c.policies[1].priority, 7);
	expect_prefix(&c.policies[1].src, "10.1.0.0", 16);
	expect_prefix(&c.policies[1].dst, "10.2.0.9", 32);
	cr_assert_eq(c.policies[1].proto, 6);
	cr_assert_eq(c.policies[1].sport[0], 1024);
	cr_assert_eq(c.policies[1].dport[0], 443);
	cr_assert_eq(c.policies[1].dport[1], 443);
	cr_assert_eq(c.policies[1].action, 1);
	cr_assert_str_eq(c.policies[1].tunnel, "to-c");
	config_free(&c);
}

Test(config, policies_errors)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { action = \"discard\"; } );", 0),
		   &c, 35, "policies.[0].id", "missing");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 0; action = \"discard\"; } );", 0),
		   &c, 35, "policies.[0].id", "out of range");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"allow\"; } );", 0),
		   &c, 35, "policies.[0].action", "unknown action 'allow'");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"protect\"; } );", 0),
		   &c, 35, "policies.[0].tunnel", "missing");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"protect\"; "
			     "tunnel = \"nope\"; } );", 0),
		   &c, 35, "policies.[0].tunnel", "no tunnel named 'nope'");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"bypass\"; "
			     "tunnel = \"to-b\"; } );", 0),
		   &c, 35, "policies.[0].tunnel", "only with action");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; dport = \"80\"; "
			     "action = \"discard\"; } );", 0),
		   &c, 35, "policies.[0].proto", "need proto");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; dst = \"fd00::/8\"; "
			     "action = \"discard\"; } );", 0),
		   &c, 35, "policies.[0].dst", "IPv4 only");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; proto = \"tcp\"; "
			     "sport = \"9-1\"; action = \"discard\"; } );", 0),
		   &c, 35, "policies.[0].sport", "ends before it starts");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"discard\"; }, "
			     "{ id = 1; action = \"bypass\"; } );", 0),
		   &c, 35, "policies.[1].id", "also the id of policies.[0]");
	EXPECT_ERR(load_edit(&c, false, 35, "  ); policies = ( { id = 1; action = \"discard\"; "
			     "port = 3; } );", 0),
		   &c, 35, "policies.[0].port", "unknown setting");
}

/* ---- P2MP: a tunnel with peers (control/p2mp.h) ---- */

#define P2MP_HEAD \
	"espresso: {\n" /* 1 */ \
	"  instance = \"hub\";\n" /* 2 */ \
	"  uplink = { name = \"lo\"; };\n" /* 3 */ \
	"  tunnels = (\n" /* 4 */ \
	"    { name = \"hub\"; local = \"192.0.2.1\"; cipher = \"aes-gcm-256\";\n" /* 5 */

Test(config, p2mp_peers)
{
	struct cfg c;
	int ret = load_text(P2MP_HEAD
		"      encap = \"udp\"; remote_port = 4600; peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; };\n"
		"          routes = [ \"10.11.0.0/16\" ]; },\n"
		"        { nexthop = \"10.255.0.3\"; remote = \"192.0.2.3\"; remote_port = 4700;\n"
		"          outbound = { spi = 0x1200; key = \"" KEY_C "\"; };\n"
		"          inbound = { spi = 0x2200; key = \"" KEY_A_SALT2 "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false);

	/* KEY_A_SALT2 is KEY_A's AES key: refused, with the peer's path */
	EXPECT_ERR(ret, &c, 13, "tunnels.[0].peers.[1].inbound.key",
		   "same AEAD key as tunnels.[0].peers.[0].outbound");
	ret = load_text(P2MP_HEAD
		"      encap = \"udp\"; remote_port = 4600; peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; };\n"
		"          routes = [ \"10.11.0.0/16\" ]; },\n"
		"        { nexthop = \"10.255.0.3\"; remote = \"192.0.2.3\"; remote_port = 4700;\n"
		"          outbound = { spi = 0x1200; key = \"" KEY_C "\"; };\n"
		"          inbound = { spi = 0x2200; key = \"" KEY128_C KEY128_D "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false);
	cr_assert_eq(ret, -EINVAL); /* 40 bytes: not a 36-byte key */
	config_free(&c);
	ret = load_text(P2MP_HEAD
		"      encap = \"udp\"; remote_port = 4600; peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; };\n"
		"          routes = [ \"10.11.0.0/16\" ]; },\n"
		"        { nexthop = \"10.255.0.3\"; remote = \"192.0.2.3\"; remote_port = 4700;\n"
		"          outbound = { spi = 0x1200; key = \"" KEY_C "\"; };\n"
		"          inbound = { spi = 0x2200; key = \"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false);
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(c.ntunnels, 3);
	cr_assert_str_eq(c.tunnels[0].name, "hub");
	cr_assert(c.tunnels[0].p2mp);
	cr_assert_str_eq(c.tunnels[1].name, "hub/10.255.0.2");
	cr_assert(!c.tunnels[1].p2mp);
	cr_assert_eq(c.tunnels[1].remote.s_addr, htonl(0xc0000202));
	cr_assert_eq(c.tunnels[1].local.s_addr, htonl(0xc0000201));
	cr_assert_eq(c.tunnels[1].encap, ENCAP_UDP);
	cr_assert_eq(c.tunnels[1].remote_port, 4600); /* the hub's */
	cr_assert_eq(c.tunnels[1].out.spi, 0x1100);
	cr_assert_eq(c.tunnels[1].nroutes, 1);
	cr_assert_str_eq(c.tunnels[2].name, "hub/10.255.0.3");
	cr_assert_eq(c.tunnels[2].remote_port, 4700); /* its own */
	cr_assert_eq(c.tunnels[2].in.spi, 0x2200);
	cr_assert_eq(c.tunnels[2].nroutes, 0);
	config_free(&c);
}

Test(config, p2mp_errors)
{
	struct cfg c;

	EXPECT_ERR(load_text(P2MP_HEAD
		"      remote = \"192.0.2.2\"; peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false), &c, 6,
		"tunnels.[0].remote", "has no remote of its own");
	EXPECT_ERR(load_text(P2MP_HEAD
		"      routes = [ \"10.0.0.0/8\" ]; peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false), &c, 6,
		"tunnels.[0].routes", "set it in each peer");
	EXPECT_ERR(load_text(P2MP_HEAD
		"      peers = ( ); }\n  );\n};\n", &c, false), &c, 6,
		"tunnels.[0].peers", "empty");
	EXPECT_ERR(load_text(P2MP_HEAD
		"      peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; },\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.3\";\n"
		"          outbound = { spi = 0x1200; key = \"" KEY_C "\"; };\n"
		"          inbound = { spi = 0x2200; key = \"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false), &c, 10,
		"tunnels.[0].peers.[1].nexthop", "'hub/10.255.0.2' is already the name");
	EXPECT_ERR(load_text(P2MP_HEAD
		"      peers = (\n"
		"        { nexthop = \"10.255.0.x\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false), &c, 7,
		"tunnels.[0].peers.[0].nexthop", "not an IPv4 or IPv6 address");
	EXPECT_ERR(load_text(P2MP_HEAD
		"      peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\"; remote_port = 4501;\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; }\n"
		"      ); }\n  );\n};\n", &c, false), &c, 7,
		"tunnels.[0].peers.[0].remote_port", "needs encap");
}

Test(config, p2mp_policy_needs_p2p)
{
	struct cfg c;

	EXPECT_ERR(load_text(P2MP_HEAD
		"      peers = (\n"
		"        { nexthop = \"10.255.0.2\"; remote = \"192.0.2.2\";\n"
		"          outbound = { spi = 0x1100; key = \"" KEY_A "\"; };\n"
		"          inbound = { spi = 0x2100; key = \"" KEY_B "\"; }; }\n"
		"      ); }\n  );\n"
		"  policies = ( { id = 1; dst = \"10.2.0.0/16\"; action = \"protect\";\n"
		"                 tunnel = \"hub\"; } );\n};\n", &c, false), &c, 13,
		"policies.[0].tunnel", "is a P2MP tunnel");
}

/* ---- VRFs ---- */

#define VRFS "  vrfs = ( { name = \"red\"; table = 10; tun = \"esp-red\"; " \
	     "address = \"10.9.0.1/32\"; }, { name = \"blue\"; table = 20; " \
	     "tun = \"esp-blue\"; address = [ \"10.9.1.1/32\" ]; } );"

Test(config, vrfs_same_routes_in_two)
{
	struct cfg c;

	/* to-c in red with to-b's 10.1.0.0/16: no overlap across VRFs */
	cr_assert_eq(load_edit(&c, false, 9, "  };" VRFS,
			       30, "      esn = false; vrf = \"red\";",
			       33, "      routes = [ \"10.1.0.0/16\" ];", 0),
		     0, "%s", err);
	cr_assert_eq(c.nvrfs, 2);
	cr_assert_str_eq(c.vrfs[0].name, "red");
	cr_assert_eq(c.vrfs[0].table, 10);
	cr_assert_str_eq(c.vrfs[1].tun, "esp-blue");
	cr_assert_eq(c.vrfs[1].naddrs, 1);
	expect_prefix(&c.vrfs[0].addrs[0], "10.9.0.1", 32);
	cr_assert_eq(c.tunnels[0].vrf, 0);
	cr_assert_eq(c.tunnels[1].vrf, 1);
	cr_assert_eq(config_vrf_id(&c, "blue"), 2);
	cr_assert_eq(config_vrf_id(&c, "default"), 0);
	cr_assert_eq(config_vrf_id(&c, "green"), -1);
	config_free(&c);
	/* router mode: a LAN in a VRF */
	cr_assert_eq(load_edit(&c, false, 9, "  };" VRFS " lan = ( { name = "
			       "\"eth9\"; vrf = \"blue\"; }, { name = "
			       "\"eth8\"; } );", 0), 0, "%s", err);
	cr_assert_eq(c.nlans, 2);
	cr_assert_eq(c.lans[0].vrf, 2);
	cr_assert_eq(c.lans[1].vrf, 0);
	config_free(&c);
}

Test(config, vrf_errors)
{
	struct cfg c;

	/* in one VRF, overlaps are still refused */
	EXPECT_ERR(load_edit(&c, false, 9, "  };" VRFS,
			     18, "      esn = true; vrf = \"blue\";",
			     30, "      esn = false; vrf = \"blue\";",
			     33, "      routes = [ \"10.1.0.0/16\" ];", 0),
		   &c, 33, "overlaps");
	EXPECT_ERR(load_edit(&c, false, 9, "  };" VRFS,
			     30, "      esn = false; vrf = \"green\";", 0),
		   &c, 30, "tunnels.[1].vrf", "no VRF 'green'");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; vrfs = ( { name = \"x\"; "
			     "table = 10; tun = \"esp9\"; } );", 0),
		   &c, 9, "vrfs.[0].tun", "default tun");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; vrfs = ( { name = \"x\"; "
			     "table = 10; tun = \"t1\"; }, { name = \"y\"; "
			     "table = 10; tun = \"t2\"; } );", 0),
		   &c, 9, "vrfs.[1]", "already");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; vrfs = ( { name = \"x\"; "
			     "table = 254; tun = \"t1\"; } );", 0),
		   &c, 9, "vrfs.[0].table");
	EXPECT_ERR(load_edit(&c, false, 9, "  }; vrfs = ( { name = \"x\"; "
			     "tun = \"t1\"; } );", 0),
		   &c, 9, "vrfs.[0].table", "missing");
	EXPECT_ERR(load_edit(&c, false, 9, "  };" VRFS " lan = ( { name = "
			     "\"eth9\"; vrf = \"green\"; } );", 0),
		   &c, 9, "lan.[0].vrf", "no VRF 'green'");
}

/* found by fuzz_config: with no tun group, the default tun name (esp0) was
 * not checked against the uplink's */
Test(config, default_tun_name_is_not_the_uplink)
{
	struct cfg c;

	EXPECT_ERR(load_edit(&c, false, 4, "  uplink = { name = \"esp0\"; };",
			     5, "", 6, "", 7, "", 8, "", 9, "", 0),
		   &c, 1, "tun.name", "'esp0' (the default) is also the uplink");
	cr_assert_eq(load_edit(&c, false, 4, "  uplink = { name = \"esp1\"; };",
			       5, "", 6, "", 7, "", 8, "", 9, "", 0), 0, "%s",
		     err);
	cr_assert_str_eq(c.tun.name, "esp0");
	config_free(&c);
}
