// SPDX-License-Identifier: GPL-2.0
/*
 * config: reads the libconfig file described in config/example.conf into a
 * struct cfg and validates all of it, so that nothing after it has to.
 *
 * Every error reads "FILE:LINE: FIELD: problem (hint)", FIELD being the path
 * of the setting (tunnels.[0].outbound.key). What is wrong with one value
 * comes from config/check.c, whose rules the control commands obey too. Key
 * material is never printed and is wiped from every buffer this file owns
 * once it is no longer needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "espresso/common.h"
#include "config/check.h"
#include "config/config.h"
#include "proto/crypto.h"
#include "lib/log.h"
#include "lib/secret.h"

#define CONFIG_FILE_MAX (16u << 20)
#define KEY_FILE_MAX 4096u
#define FIELD_MAX 128

struct ctx {
	const char *path; /* the config file, as given */
	char dir[4096];   /* its directory: base of relative key_file paths */
	bool check_system;
	bool allow_insecure;  /* espresso.allow_insecure_key_files */
	char *err;
	size_t errlen;
	char why[CFG_WHY_MAX]; /* the reason a check.h validator gave */
};

/* The arguments a check.h validator writes its reason into. */
#define WHY(x) (x)->why, sizeof((x)->why)

/* Value kinds a setting may be asked to have. */
enum kind { K_INT, K_BOOL, K_STR, K_GROUP, K_LIST, K_STR_OR_LIST };

static const char *const kind_names[] = {
	[K_INT] = "an integer",
	[K_BOOL] = "true or false",
	[K_STR] = "a string in double quotes",
	[K_GROUP] = "a group { ... }",
	[K_LIST] = "a list [ ... ]",
	[K_STR_OR_LIST] = "a string or a list of strings",
};

static const char *const xdp_mode_names[] = {
	[XDPMODE_NATIVE] = "native", [XDPMODE_SKB] = "skb", NULL,
};
static const char *const auto_on_off_names[] = {
	[CFG_AUTO] = "auto", [CFG_ON] = "on", [CFG_OFF] = "off", NULL,
};

/* The settings each group may hold. */
static const char *const root_keys[] = { "espresso", NULL };
static const char *const espresso_keys[] = {
	"allow_insecure_key_files",
	"instance", "workers", "uplink", "tun", "tunnels", "metrics",
	"lan", "policies", "vrfs",
	NULL,
};
static const char *const vrf_keys[] = {
	"name", "table", "tun", "address", NULL,
};
static const char *const policy_keys[] = {
	"id", "priority", "src", "dst", "proto", "sport", "dport", "action",
	"tunnel", NULL,
};
static const char *const lan_keys[] = { "name", "vrf", NULL };
static const char *const workers_keys[] = {
	"queues", "cpus", "batch", "busy_poll", "busy_poll_budget", "crypto",
	"fill_ring",
	NULL,
};
static const char *const crypto_names[] = {
	[CRYPTO_OPENSSL] = "openssl", [CRYPTO_IPSECMB] = "ipsec-mb",
	[CFG_CRYPTO_AUTO] = "auto", NULL,
};
static const char *const uplink_keys[] = {
	"name", "xdp_mode", "zerocopy", "threaded_napi", NULL,
};
static const char *const tun_keys[] = {
	"name", "mtu", "address", "offload", "mss_clamp", NULL,
};
static const char *const tunnel_keys[] = {
	"name", "local", "remote", "encap", "cipher", "replay_window", "esn",
	"fragment", "sa_pairs", "outbound", "inbound", "routes",
	"remote_port", "keepalive", "peers", "vrf", "local_port", NULL,
};
/* a peer of a P2MP tunnel: the rest comes from its hub */
static const char *const peer_keys[] = {
	"nexthop", "remote", "remote_port", "outbound", "inbound", "routes",
	NULL,
};
static const char *const sa_keys[] = { "spi", "key", "key_file", NULL };
static const char *const metrics_keys[] = { "listen", "port", NULL };

/* ---- messages ---- */

static unsigned int line_of(const config_setting_t *s)
{
	while (s && !config_setting_source_line(s))
		s = config_setting_parent(s);
	return s ? config_setting_source_line(s) : 1;
}

static const char *file_of(const struct ctx *x, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : x->path;
}

/* Writes "FILE:LINE: FIELD: ..." for setting s into x->err; -EINVAL. */
__attribute__((format(printf, 4, 5)))
static int fail(struct ctx *x, const config_setting_t *s, const char *field,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!x->err || !x->errlen)
		return -EINVAL;
	n = snprintf(x->err, x->errlen, "%s:%u: %s: ", file_of(x, s),
		     line_of(s), field);
	if (n < 0 || (size_t)n >= x->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A message without a setting (I/O on the config file itself). */
__attribute__((format(printf, 3, 4)))
static int fail_file(struct ctx *x, int ret, const char *fmt, ...)
{
	va_list ap;

	if (x->err && x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err, x->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* ret of a check.h validator: 0, or its reason as the error of setting s. */
static int checked(struct ctx *x, const config_setting_t *s, const char *f,
		   int ret)
{
	return ret ? fail(x, s, f, "%s", x->why) : 0;
}

/* Marks a field path cut short (it cannot be: names are short). */
static const char *field_done(char *buf, int n)
{
	if (n < 0 || n >= FIELD_MAX)
		strcpy(buf + FIELD_MAX - 4, "...");
	return buf;
}

/* "workers" + "queues" -> "workers.queues"; "" + "instance" -> "instance". */
static const char *join(char *buf, const char *gpath, const char *name)
{
	return field_done(buf, snprintf(buf, FIELD_MAX, "%s%s%s", gpath,
					*gpath ? "." : "", name));
}

/* "tunnels" + 0 -> "tunnels.[0]" */
static const char *join_idx(char *buf, const char *gpath, int i)
{
	return field_done(buf, snprintf(buf, FIELD_MAX, "%s.[%d]", gpath, i));
}


/* ---- files ---- */

static void warn_mode(const char *what, const char *path, mode_t mode)
{
	if (mode & 077)
		log_warn("%s %s is accessible by group/other (mode %04o), keys must stay private: chmod 600 %s",
			 what, path, (unsigned int)(mode & 07777), path);
}

/* Frees a buffer that may hold key material. */
static void free_wiped(char *buf, size_t len)
{
	if (!buf)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/* Grows *buf (holding len bytes, cap large) to twice cap, wiping the old. */
static int grow(char **buf, size_t len, size_t *cap)
{
	char *nb = malloc(*cap * 2);

	if (!nb)
		return -ENOMEM;
	memcpy(nb, *buf, len);
	free_wiped(*buf, *cap);
	*buf = nb;
	*cap *= 2;
	return 0;
}

/*
 * Reads all of path (at most max bytes) into a NUL-terminated buffer; its
 * mode in *mode, for the caller to judge. -errno.
 */
static int slurp(const char *path, size_t max, char **out, size_t *cap_out,
		 mode_t *mode)
{
	size_t len = 0, cap = 1024;
	struct stat st;
	char *buf;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	*mode = st.st_mode;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len + 1 == cap) {
			ret = cap >= max ? -EFBIG : grow(&buf, len, &cap);
			if (ret)
				break;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		len += n;
	}
	if (!ret && memchr(buf, '\0', len))
		ret = -EILSEQ;
	if (ret) {
		free_wiped(buf, cap);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*cap_out = cap;
out:
	close(fd);
	return ret;
}

static void set_dir(struct ctx *x, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(x->dir, sizeof(x->dir), ".");
	else if (slash == path)
		snprintf(x->dir, sizeof(x->dir), "/");
	else
		snprintf(x->dir, sizeof(x->dir), "%.*s", (int)(slash - path),
			 path);
}

/* ---- settings ---- */

static bool kind_ok(const config_setting_t *s, enum kind k)
{
	int t = config_setting_type(s);

	switch (k) {
	case K_INT:
		return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	case K_BOOL:
		return t == CONFIG_TYPE_BOOL;
	case K_STR:
		return t == CONFIG_TYPE_STRING;
	case K_GROUP:
		return t == CONFIG_TYPE_GROUP;
	case K_LIST:
		return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
	case K_STR_OR_LIST:
		return t == CONFIG_TYPE_STRING || t == CONFIG_TYPE_LIST ||
		       t == CONFIG_TYPE_ARRAY;
	}
	return false;
}

/* Checks that s (path f) is of kind k. */
static int check_kind(struct ctx *x, const config_setting_t *s, const char *f,
		      enum kind k)
{
	if (!kind_ok(s, k))
		return fail(x, s, f, "expected %s", kind_names[k]);
	return 0;
}

/*
 * Member name of group g (path gpath), of kind k, its path in f. 0 with
 * *out NULL when it is absent and optional.
 */
static int member(struct ctx *x, const config_setting_t *g, const char *gpath,
		  const char *name, enum kind k, bool required,
		  config_setting_t **out, char *f)
{
	config_setting_t *s = config_setting_get_member(g, name);

	*out = s;
	join(f, gpath, name);
	if (!s)
		return required ? fail(x, g, f, "missing (this setting is required)") : 0;
	return check_kind(x, s, f, k);
}

/* Refuses members of g not in names: a typo must not silently default. */
static int known_only(struct ctx *x, const config_setting_t *g,
		      const char *gpath, const char *const *names)
{
	char f[FIELD_MAX], valid[256];
	const char *const *n;
	const char *name;
	int i;

	for (i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);

		name = config_setting_name(m);
		for (n = names; *n && strcmp(*n, name); n++)
			;
		if (!*n)
			return fail(x, m, join(f, gpath, name),
				    "unknown setting (valid here: %s)",
				    cfg_list_str(valid, sizeof(valid), names));
	}
	return 0;
}

static int get_int(struct ctx *x, const config_setting_t *g, const char *gpath,
		   const char *name, bool required, long long lo, long long hi,
		   long long *v)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	long long n;
	int ret;

	ret = member(x, g, gpath, name, K_INT, required, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_get_int64(s);
	ret = checked(x, s, f, cfg_check_range(n, lo, hi, WHY(x)));
	if (!ret)
		*v = n;
	return ret;
}

static int get_bool(struct ctx *x, const config_setting_t *g,
		    const char *gpath, const char *name, bool *v)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret;

	ret = member(x, g, gpath, name, K_BOOL, false, &s, f);
	if (!ret && s)
		*v = config_setting_get_bool(s);
	return ret;
}

/* One of the NULL-terminated names; *v is its index, untouched if absent. */
static int get_enum(struct ctx *x, const config_setting_t *g,
		    const char *gpath, const char *name, bool required,
		    const char *const *names, const char *what, int *v)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret;

	ret = member(x, g, gpath, name, K_STR, required, &s, f);
	if (ret || !s)
		return ret;
	return checked(x, s, f, cfg_parse_enum(config_setting_get_string(s),
					       names, what, v, WHY(x)));
}

/* instance and tunnel names: [A-Za-z0-9_-], 1..31 characters. */
static int get_ident(struct ctx *x, const config_setting_t *g,
		     const char *gpath, const char *name, char *dst)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret;

	ret = member(x, g, gpath, name, K_STR, true, &s, f);
	if (ret)
		return ret;
	return checked(x, s, f, cfg_check_name(config_setting_get_string(s),
					       dst, WHY(x)));
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < IF_NAMESIZE && !strpbrk(s, "/: \t\n") &&
	       strcmp(s, ".") && strcmp(s, "..");
}

/* Interface names (dst is IF_NAMESIZE); dst keeps its default if absent. */
static int get_ifname(struct ctx *x, const config_setting_t *g,
		      const char *gpath, const char *name, bool required,
		      char *dst, config_setting_t **out)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	const char *str;
	int ret;

	ret = member(x, g, gpath, name, K_STR, required, &s, f);
	*out = s;
	if (ret || !s)
		return ret;
	str = config_setting_get_string(s);
	if (!ifname_ok(str))
		return fail(x, s, f, "'%s' is not a valid interface name (1..%d characters, no '/', ':' or spaces)",
			    str, IF_NAMESIZE - 1);
	strcpy(dst, str);
	return 0;
}

/* ---- prefixes ---- */

static bool prefixes_overlap(const struct cfg_prefix *a,
			     const struct cfg_prefix *b)
{
	return config_prefix_contains(a, b->family, b->addr) ||
	       config_prefix_contains(b, a->family, a->addr);
}

/* ---- sections ---- */

static int parse_cpus(struct ctx *x, const config_setting_t *g, struct cfg *c)
{
	char f[FIELD_MAX], fe[FIELD_MAX];
	config_setting_t *s, *e;
	int i, n, ret;

	ret = member(x, g, "workers", "cpus", K_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_length(s);
	if (n != c->workers.queues)
		return fail(x, s, f, "%d entries but queues = %d (one CPU per queue, or leave cpus out)",
			    n, c->workers.queues);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		join_idx(fe, f, i);
		ret = check_kind(x, e, fe, K_INT);
		if (ret)
			return ret;
		if (config_setting_get_int64(e) < 0 ||
		    config_setting_get_int64(e) >= CPU_SETSIZE)
			return fail(x, e, fe, "CPU %lld is out of range (0..%d)",
				    config_setting_get_int64(e),
				    CPU_SETSIZE - 1);
		c->workers.cpus[i] = (int)config_setting_get_int64(e);
	}
	return 0;
}

static int parse_workers(struct ctx *x, const config_setting_t *esp,
			 struct cfg *c)
{
	long long queues = 1, batch = 64, budget = 64, fill = 1024;
	int crypto = CFG_CRYPTO_AUTO;
	char f[FIELD_MAX];
	config_setting_t *g;
	int i, ret;

	for (i = 0; i < CFG_MAX_QUEUES; i++)
		c->workers.cpus[i] = -1;
	c->workers.queues = 1;
	c->workers.batch = 64;
	c->workers.busy_poll_budget = 64;
	c->workers.fill_ring = 1024;
	c->workers.crypto = CFG_CRYPTO_AUTO;
	ret = member(x, esp, "", "workers", K_GROUP, false, &g, f);
	if (ret || !g)
		return ret;
	ret = known_only(x, g, "workers", workers_keys);
	ret = ret ?: get_int(x, g, "workers", "queues", false, 1,
			     CFG_MAX_QUEUES, &queues);
	ret = ret ?: get_int(x, g, "workers", "batch", false, 1, 256, &batch);
	ret = ret ?: get_bool(x, g, "workers", "busy_poll", &c->workers.busy_poll);
	ret = ret ?: get_int(x, g, "workers", "busy_poll_budget", false, 1, 1024,
			     &budget);
	ret = ret ?: get_enum(x, g, "workers", "crypto", false, crypto_names,
			      "crypto backend", &crypto);
	ret = ret ?: get_int(x, g, "workers", "fill_ring", false, 64, 4096,
			     &fill);
	if (ret)
		return ret;
	if (fill & (fill - 1))
		return fail(x, config_setting_get_member(g, "fill_ring"),
			    "workers.fill_ring",
			    "%lld is not a power of 2 (an AF_XDP ring)", fill);
	c->workers.fill_ring = (int)fill;
	c->workers.crypto = crypto;
	c->workers.queues = (int)queues;
	c->workers.batch = (int)batch;
	c->workers.busy_poll_budget = (int)budget;
	return parse_cpus(x, g, c);
}

static int parse_uplink(struct ctx *x, const config_setting_t *esp,
			struct cfg *c)
{
	int mode = XDPMODE_NATIVE, zc = CFG_AUTO, napi = CFG_AUTO, ret;
	char f[FIELD_MAX];
	config_setting_t *g, *name;

	ret = member(x, esp, "", "uplink", K_GROUP, true, &g, f);
	ret = ret ?: known_only(x, g, "uplink", uplink_keys);
	ret = ret ?: get_ifname(x, g, "uplink", "name", true, c->uplink.name,
				&name);
	ret = ret ?: get_enum(x, g, "uplink", "xdp_mode", false,
			      xdp_mode_names, "XDP mode", &mode);
	ret = ret ?: get_enum(x, g, "uplink", "zerocopy", false,
			      auto_on_off_names, "zerocopy setting", &zc);
	ret = ret ?: get_enum(x, g, "uplink", "threaded_napi", false,
			      auto_on_off_names, "threaded_napi setting", &napi);
	if (ret)
		return ret;
	c->uplink.xdp_mode = mode;
	c->uplink.zerocopy = zc;
	c->uplink.threaded_napi = napi;
	if (!x->check_system)
		return 0;
	c->uplink.ifindex = (int)if_nametoindex(c->uplink.name);
	if (!c->uplink.ifindex)
		return fail(x, name, "uplink.name",
			    "interface '%s' not found (see `ip link`)",
			    c->uplink.name);
	return 0;
}

static int parse_tun_addr(struct ctx *x, const config_setting_t *s,
			  const char *f, struct cfg *c)
{
	struct cfg_prefix *p = &c->tun.addrs[c->tun.naddrs];
	int ret = check_kind(x, s, f, K_STR);

	if (ret)
		return ret;
	if (c->tun.naddrs == CFG_MAX_ADDRS)
		return fail(x, s, f, "too many addresses (at most %d)",
			    CFG_MAX_ADDRS);
	ret = checked(x, s, f, cfg_parse_addr_prefix(config_setting_get_string(s),
						     p, WHY(x)));
	if (ret)
		return ret;
	c->tun.naddrs++;
	return 0;
}

static int parse_tun_addrs(struct ctx *x, const config_setting_t *g,
			   struct cfg *c)
{
	char f[FIELD_MAX], fe[FIELD_MAX];
	config_setting_t *s;
	int i, ret;

	ret = member(x, g, "tun", "address", K_STR_OR_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return parse_tun_addr(x, s, f, c);
	for (i = 0; !ret && i < config_setting_length(s); i++)
		ret = parse_tun_addr(x, config_setting_get_elem(s, i),
				     join_idx(fe, f, i), c);
	return ret;
}

static bool tun_has_ipv6(const struct cfg *c)
{
	int i;

	for (i = 0; i < c->tun.naddrs; i++)
		if (c->tun.addrs[i].family == AF_INET6)
			return true;
	return false;
}

static int parse_tun(struct ctx *x, const config_setting_t *esp,
		     struct cfg *c)
{
	config_setting_t *g, *name, *mtu_s;
	long long mtu = 0;
	char f[FIELD_MAX];
	int ret;

	strcpy(c->tun.name, "esp0");
	c->tun.mtu = 0;
	c->tun.offload = true;
	c->tun.mss_clamp = true;
	ret = member(x, esp, "", "tun", K_GROUP, false, &g, f);
	if (ret)
		return ret;
	if (!g) /* the default name must not be the uplink's either */
		return strcmp(c->tun.name, c->uplink.name) ? 0 :
		       fail(x, esp, "tun.name", "'%s' (the default) is also the "
			    "uplink (the TUN device needs its own name: set "
			    "tun.name)", c->tun.name);
	ret = known_only(x, g, "tun", tun_keys);
	ret = ret ?: get_ifname(x, g, "tun", "name", false, c->tun.name, &name);
	ret = ret ?: get_int(x, g, "tun", "mtu", false, 576, 3500, &mtu);
	ret = ret ?: get_bool(x, g, "tun", "offload", &c->tun.offload);
	ret = ret ?: get_bool(x, g, "tun", "mss_clamp", &c->tun.mss_clamp);
	ret = ret ?: parse_tun_addrs(x, g, c);
	if (ret)
		return ret;
	c->tun.mtu = (int)mtu;
	if (!strcmp(c->tun.name, c->uplink.name))
		return fail(x, name ? name : g, "tun.name",
			    "'%s' is also the uplink (the TUN device needs its own name)",
			    c->tun.name);
	mtu_s = config_setting_get_member(g, "mtu");
	if (mtu && mtu < 1280 && tun_has_ipv6(c))
		return fail(x, mtu_s ? mtu_s : g, "tun.mtu",
			    "%lld is below 1280, the IPv6 minimum (RFC 8200), and tun.address has an IPv6 prefix",
			    mtu);
	return 0;
}

int config_vrf_id(const struct cfg *c, const char *name)
{
	int i;

	if (!*name || !strcmp(name, "default"))
		return 0;
	for (i = 0; i < c->nvrfs; i++)
		if (!strcmp(c->vrfs[i].name, name))
			return i + 1;
	return -1;
}

/*
 * vrfs = ( { name = "red"; table = 10; tun = "esp-red";
 *            address = "10.1.1.1/32"; }, ... ): VRFs besides the default,
 * each with its tun (same MTU and offload as tun) and kernel table.
 */
static int parse_vrfs(struct ctx *x, const config_setting_t *esp,
		      struct cfg *c)
{
	char f[FIELD_MAX], fe[FIELD_MAX], fa[FIELD_MAX], fi[FIELD_MAX];
	config_setting_t *s, *g, *name, *a;
	long long table;
	int i, j, n, ret;

	ret = member(x, esp, "", "vrfs", K_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_length(s);
	if (n > CFG_MAX_VRF)
		return fail(x, s, f, "%d VRFs, at most %d", n, CFG_MAX_VRF);
	for (i = 0; i < n; i++) {
		struct cfg_vrf *v = &c->vrfs[i];

		g = config_setting_get_elem(s, i);
		join_idx(fe, f, i);
		table = 0;
		ret = check_kind(x, g, fe, K_GROUP);
		ret = ret ?: known_only(x, g, fe, vrf_keys);
		ret = ret ?: get_ident(x, g, fe, "name", v->name);
		ret = ret ?: get_int(x, g, fe, "table", true, 1, 252, &table);
		ret = ret ?: get_ifname(x, g, fe, "tun", true, v->tun, &name);
		ret = ret ?: member(x, g, fe, "address", K_STR_OR_LIST, false,
				    &a, fa);
		if (ret)
			return ret;
		v->table = (uint32_t)table;
		if (!strcmp(v->name, "default"))
			return fail(x, g, fe, "'default' is the VRF of tunnels "
				    "without one: choose another name");
		if (!strcmp(v->tun, c->tun.name) ||
		    !strcmp(v->tun, c->uplink.name))
			return fail(x, name, join(fi, fe, "tun"), "'%s' is also "
				    "the uplink or the default tun", v->tun);
		for (j = 0; j < i; j++)
			if (!strcmp(c->vrfs[j].name, v->name) ||
			    !strcmp(c->vrfs[j].tun, v->tun) ||
			    c->vrfs[j].table == v->table)
				return fail(x, g, fe, "name, tun or table "
					    "already that of vrfs.[%d]", j);
		for (j = 0; a && j < (config_setting_type(a) ==
				      CONFIG_TYPE_STRING ? 1 :
				      config_setting_length(a)); j++) {
			config_setting_t *e = config_setting_type(a) ==
				CONFIG_TYPE_STRING ? a :
				config_setting_get_elem(a, j);

			join_idx(fi, fa, j);
			ret = check_kind(x, e, fi, K_STR);
			if (!ret && v->naddrs == CFG_MAX_ADDRS)
				ret = fail(x, e, fi, "too many addresses (at "
					   "most %d)", CFG_MAX_ADDRS);
			ret = ret ?: checked(x, e, fi, cfg_parse_addr_prefix(
				config_setting_get_string(e),
				&v->addrs[v->naddrs], WHY(x)));
			if (ret)
				return ret;
			v->naddrs++;
		}
		c->nvrfs = i + 1;
	}
	return 0;
}

/* tunnels.[i].vrf, lan.[i].vrf: the name of one of vrfs into *vrf
 * (absent: the default, left as it is). */
static int parse_vrf_ref(struct ctx *x, const config_setting_t *g,
			 const char *gpath, const struct cfg *c, uint16_t *vrf)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret, id;

	ret = member(x, g, gpath, "vrf", K_STR, false, &s, f);
	if (ret || !s)
		return ret;
	id = config_vrf_id(c, config_setting_get_string(s));
	if (id < 0)
		return fail(x, s, f, "no VRF '%s' in vrfs",
			    config_setting_get_string(s));
	*vrf = (uint16_t)id;
	return 0;
}

/* lan = ( { name = "eth1"; }, ... ): router mode, absent = host mode. */
static int parse_lans(struct ctx *x, const config_setting_t *esp,
		      struct cfg *c)
{
	char f[FIELD_MAX], fe[FIELD_MAX], fn[FIELD_MAX];
	config_setting_t *s, *g, *name;
	int i, n, ret;

	ret = member(x, esp, "", "lan", K_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_length(s);
	if (n > CFG_MAX_LAN)
		return fail(x, s, f, "%d LAN interfaces, at most %d", n,
			    CFG_MAX_LAN);
	for (i = 0; i < n; i++) {
		struct cfg_lan *l = &c->lans[i];

		g = config_setting_get_elem(s, i);
		join_idx(fe, f, i);
		ret = check_kind(x, g, fe, K_GROUP);
		ret = ret ?: known_only(x, g, fe, lan_keys);
		ret = ret ?: get_ifname(x, g, fe, "name", true, l->name, &name);
		ret = ret ?: parse_vrf_ref(x, g, fe, c, &l->vrf);
		if (ret)
			return ret;
		join(fn, fe, "name");
		ret = checked(x, name, fn, cfg_check_lan(c, i, l->name, WHY(x)));
		if (ret)
			return ret;
		c->nlans = i + 1;
		if (!x->check_system)
			continue;
		l->ifindex = (int)if_nametoindex(l->name);
		if (!l->ifindex)
			return fail(x, name, fn,
				    "interface '%s' not found (see `ip link`)",
				    l->name);
	}
	return 0;
}

/*
 * The Prometheus endpoint: absent = off; present, it listens on
 * CFG_METRICS_LISTEN port CFG_METRICS_PORT unless it says otherwise. listen
 * is an address literal (no names: nothing resolves at start-up).
 */
static int parse_metrics(struct ctx *x, const config_setting_t *esp,
			 struct cfg *c)
{
	const char *listen = CFG_METRICS_LISTEN;
	long long port = CFG_METRICS_PORT;
	config_setting_t *g, *s;
	char f[FIELD_MAX], q[CFG_QUOTE_MAX];
	int ret;

	ret = member(x, esp, "", "metrics", K_GROUP, false, &g, f);
	if (ret || !g)
		return ret;
	ret = known_only(x, g, "metrics", metrics_keys);
	ret = ret ?: get_int(x, g, "metrics", "port", false, 1, 65535, &port);
	ret = ret ?: member(x, g, "metrics", "listen", K_STR, false, &s, f);
	if (ret)
		return ret;
	if (s)
		listen = config_setting_get_string(s);
	if (inet_pton(AF_INET, listen, c->metrics.addr) == 1)
		c->metrics.family = AF_INET;
	else if (inet_pton(AF_INET6, listen, c->metrics.addr) == 1)
		c->metrics.family = AF_INET6;
	else
		return fail(x, s, f, "%s is not an IPv4 or IPv6 address (a literal such as 127.0.0.1 or ::1; no host names)",
			    cfg_quote(listen, q, sizeof(q)));
	inet_ntop(c->metrics.family, c->metrics.addr, c->metrics.listen,
		  sizeof(c->metrics.listen));
	c->metrics.port = (uint16_t)port;
	c->metrics.enabled = true;
	return 0;
}

/*
 * Hex text (optional 0x) -> sa->key for cipher ci. src names a key file the
 * text came from, or is NULL. Messages never quote the text.
 */
static int parse_key(struct ctx *x, const config_setting_t *s, const char *f,
		     const char *text, enum cfg_cipher ci, const char *src,
		     struct cfg_sa *sa)
{
	if (!cfg_parse_key(text, ci, sa->key, &sa->key_len, WHY(x)))
		return 0;
	if (src)
		return fail(x, s, f, "in key file %s: %s", src, x->why);
	return fail(x, s, f, "%s", x->why);
}

/* Resolves a key_file name against the config file's directory. */
static int key_path(struct ctx *x, const config_setting_t *s, const char *f,
		    const char *name, char *buf, size_t len)
{
	int n;

	if (!*name)
		return fail(x, s, f, "empty file name");
	if (name[0] == '/')
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%s/%s", x->dir, name);
	if (n < 0 || (size_t)n >= len)
		return fail(x, s, f, "path too long");
	return 0;
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r\n");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n", end[-1]))
		*--end = '\0';
	return s;
}

static int parse_key_file(struct ctx *x, const config_setting_t *s,
			  const char *f, enum cfg_cipher ci, struct cfg_sa *sa)
{
	char path[4096], *buf = NULL;
	size_t cap = 0;
	mode_t mode = 0;
	int ret;

	ret = key_path(x, s, f, config_setting_get_string(s), path,
		       sizeof(path));
	if (ret)
		return ret;
	ret = slurp(path, KEY_FILE_MAX, &buf, &cap, &mode);
	if (ret)
		return fail(x, s, f, "cannot read key file %s: %s", path,
			    ret == -EFBIG ? "too large for a key" :
			    ret == -EILSEQ ? "contains a NUL byte" :
			    strerror(-ret));
	if ((mode & 077) && !x->allow_insecure) {
		free_wiped(buf, cap);
		return fail(x, s, f, "key file %s is accessible by group/other (mode %04o): chmod 600 %s, or set allow_insecure_key_files = true; to accept it",
			    path, (unsigned int)(mode & 07777), path);
	}
	warn_mode("key file", path, mode);
	ret = parse_key(x, s, f, trim(buf), ci, path, sa);
	free_wiped(buf, cap);
	return ret;
}

/* SPIs above 0x7fffffff only fit libconfig's int when written in hex. */
static int parse_spi(struct ctx *x, const config_setting_t *g,
		     const char *gpath, struct cfg_sa *sa)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	long long v;
	int ret;

	ret = member(x, g, gpath, "spi", K_INT, true, &s, f);
	if (ret)
		return ret;
	v = config_setting_get_int64(s);
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    config_setting_get_format(s) == CONFIG_FORMAT_HEX)
		v = (uint32_t)config_setting_get_int(s);
	ret = cfg_check_spi(v, &sa->spi, WHY(x));
	if (ret && (v < 0 || v > 0xffffffffLL))
		/* libconfig reads decimals over INT_MAX as negative ints */
		return fail(x, s, f, "%s; write large SPIs in hex, e.g. 0xc0000001",
			    x->why);
	return checked(x, s, f, ret);
}

static int parse_sa(struct ctx *x, const config_setting_t *tg,
		    const char *tpath, const char *name, enum cfg_cipher ci,
		    struct cfg_sa *sa)
{
	char gpath[FIELD_MAX], f[FIELD_MAX];
	config_setting_t *g, *key, *key_file;
	int ret;

	ret = member(x, tg, tpath, name, K_GROUP, true, &g, gpath);
	ret = ret ?: known_only(x, g, gpath, sa_keys);
	ret = ret ?: parse_spi(x, g, gpath, sa);
	ret = ret ?: member(x, g, gpath, "key_file", K_STR, false, &key_file, f);
	ret = ret ?: member(x, g, gpath, "key", K_STR, false, &key, f);
	if (ret)
		return ret;
	if (key && key_file)
		return fail(x, key_file, join(f, gpath, "key_file"),
			    "set either key or key_file, not both");
	if (key_file)
		return parse_key_file(x, key_file, join(f, gpath, "key_file"),
				      ci, sa);
	if (!key)
		return fail(x, g, join(f, gpath, "key"), "missing (set key = \"<hex>\" or key_file = \"path\")");
	return parse_key(x, key, f, config_setting_get_string(key), ci, NULL,
			 sa);
}

/* local and remote, IPv4 or IPv6, of one family. */
static int parse_endpoints(struct ctx *x, const config_setting_t *tg,
			   const char *tpath, struct cfg_tunnel *t)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret, rf = 0;

	ret = member(x, tg, tpath, "local", K_STR, true, &s, f);
	ret = ret ?: checked(x, s, f, cfg_parse_endpoint(
					config_setting_get_string(s), 0,
					&t->family, &t->local, &t->local6,
					WHY(x)));
	if (!ret && config_setting_get_member(tg, "peers")) {
		/* a P2MP hub: its peers have the remotes */
		s = config_setting_get_member(tg, "remote");
		return s ? fail(x, s, join(f, tpath, "remote"), "a tunnel with "
				"peers has no remote of its own (each peer has "
				"one)") : 0;
	}
	ret = ret ?: member(x, tg, tpath, "remote", K_STR, true, &s, f);
	ret = ret ?: checked(x, s, f, cfg_parse_endpoint(
					config_setting_get_string(s),
					t->family, &rf, &t->remote,
					&t->remote6, WHY(x)));
	if (!ret && t->family == AF_INET6 &&
	    !memcmp(&t->local6, &t->remote6, sizeof(t->local6)))
		ret = fail(x, s, f, "same address as local");
	return ret;
}

static int parse_route(struct ctx *x, const config_setting_t *s,
		       const char *f, struct cfg_prefix *p)
{
	int ret = check_kind(x, s, f, K_STR);

	return ret ?: checked(x, s, f,
			      cfg_parse_route(config_setting_get_string(s), p,
					      WHY(x)));
}

static int parse_routes(struct ctx *x, const config_setting_t *tg,
			const char *tpath, struct cfg_tunnel *t)
{
	char f[FIELD_MAX], fe[FIELD_MAX];
	config_setting_t *s;
	int i, n, ret;

	ret = member(x, tg, tpath, "routes", K_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_length(s);
	if (!n)
		return 0;
	t->routes = calloc(n, sizeof(*t->routes));
	if (!t->routes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ret = parse_route(x, config_setting_get_elem(s, i),
				  join_idx(fe, f, i), &t->routes[i]);
		if (ret)
			return ret;
		t->nroutes++;
	}
	return 0;
}

/* A P2MP hub: no SAs nor routes of its own (its peers have them). */
static int parse_hub(struct ctx *x, const config_setting_t *tg,
		     const char *tpath, struct cfg_tunnel *t)
{
	static const char *const own[] = { "outbound", "inbound", "routes" };
	config_setting_t *s;
	char f[FIELD_MAX];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		s = config_setting_get_member(tg, own[i]);
		if (s)
			return fail(x, s, join(f, tpath, own[i]), "a tunnel "
				    "with peers has none of its own (set it in "
				    "each peer)");
	}
	ret = member(x, tg, tpath, "peers", K_LIST, true, &s, f);
	if (!ret && !config_setting_length(s))
		return fail(x, s, f, "empty (a P2MP tunnel needs a peer: "
			    "{ nexthop = \"10.255.0.2\"; remote = ...; })");
	t->p2mp = true;
	return ret;
}

/*
 * Peer pg of hub h into t: the hub's settings, named "HUB/NEXTHOP", with
 * its own remote (and NAT-T port), SAs and routes.
 */
static int parse_peer(struct ctx *x, const config_setting_t *pg,
		      const char *ppath, const struct cfg_tunnel *h,
		      struct cfg_tunnel *t)
{
	char f[FIELD_MAX], nh[INET6_ADDRSTRLEN], hub[CFG_NAME_MAX];
	long long rport = 0;
	config_setting_t *s;
	struct in6_addr a6;
	struct in_addr a4;
	int ret, rf = 0, n;

	*t = *h;
	t->p2mp = false;
	t->line = (int)line_of(pg);
	ret = check_kind(x, pg, ppath, K_GROUP);
	ret = ret ?: known_only(x, pg, ppath, peer_keys);
	ret = ret ?: member(x, pg, ppath, "nexthop", K_STR, true, &s, f);
	if (ret)
		return ret;
	if (inet_pton(AF_INET, config_setting_get_string(s), &a4) == 1)
		inet_ntop(AF_INET, &a4, nh, sizeof(nh));
	else if (inet_pton(AF_INET6, config_setting_get_string(s), &a6) == 1)
		inet_ntop(AF_INET6, &a6, nh, sizeof(nh));
	else
		return fail(x, s, f, "not an IPv4 or IPv6 address (the peer's "
			    "address inside the tunnel, like 10.255.0.2)");
	memcpy(hub, h->name, sizeof(hub));
	n = snprintf(t->name, sizeof(t->name), "%s/%s", hub, nh);
	if (n < 0 || n >= (int)sizeof(t->name))
		return fail(x, s, f, "the peer's name %s/%s is longer than %d "
			    "characters (use a shorter tunnel name)", hub, nh,
			    CFG_NAME_MAX - 1);
	ret = member(x, pg, ppath, "remote", K_STR, true, &s, f);
	ret = ret ?: checked(x, s, f, cfg_parse_endpoint(
					config_setting_get_string(s),
					t->family, &rf, &t->remote,
					&t->remote6, WHY(x)));
	if (!ret && t->family == AF_INET6 &&
	    !memcmp(&t->local6, &t->remote6, sizeof(t->local6)))
		ret = fail(x, s, f, "same address as local");
	if (!ret && t->family != AF_INET6)
		ret = checked(x, s, f, cfg_check_endpoints(t->local, t->remote,
							   WHY(x)));
	ret = ret ?: get_int(x, pg, ppath, "remote_port", false, 1, 65535,
			     &rport);
	if (ret)
		return ret;
	s = config_setting_get_member(pg, "remote_port");
	if (s && t->encap != ENCAP_UDP)
		return fail(x, s, join(f, ppath, "remote_port"),
			    "needs encap = \"udp\" (NAT-T)");
	if (s)
		t->remote_port = (uint16_t)rport;
	ret = parse_sa(x, pg, ppath, "outbound", t->cipher, &t->out);
	ret = ret ?: parse_sa(x, pg, ppath, "inbound", t->cipher, &t->in);
	return ret ?: parse_routes(x, pg, ppath, t);
}

static int parse_tunnel(struct ctx *x, const config_setting_t *tg,
			const char *tpath, struct cfg_tunnel *t)
{
	int encap = ENCAP_ESP, cipher = 0, frag = FRAG_INNER, ret;
	long long replay = CFG_REPLAY_DEFAULT, pairs = 1, rport = 0, ka = 0;
	long long lport = 0;
	config_setting_t *s;
	char f[FIELD_MAX];

	t->line = (int)line_of(tg);
	t->esn = true;
	ret = check_kind(x, tg, tpath, K_GROUP);
	ret = ret ?: known_only(x, tg, tpath, tunnel_keys);
	ret = ret ?: get_ident(x, tg, tpath, "name", t->name);
	ret = ret ?: parse_endpoints(x, tg, tpath, t);
	ret = ret ?: get_enum(x, tg, tpath, "encap", false, cfg_encap_names,
			      "encapsulation", &encap);
	ret = ret ?: get_enum(x, tg, tpath, "cipher", true, cfg_cipher_names,
			      "cipher", &cipher);
	ret = ret ?: get_int(x, tg, tpath, "replay_window", false, LLONG_MIN,
			     LLONG_MAX, &replay);
	ret = ret ?: checked(x, config_setting_get_member(tg, "replay_window"),
			     join(f, tpath, "replay_window"),
			     cfg_check_replay_window(replay, &t->replay_window,
						     WHY(x)));
	ret = ret ?: get_bool(x, tg, tpath, "esn", &t->esn);
	ret = ret ?: get_enum(x, tg, tpath, "fragment", false,
			      cfg_fragment_names, "fragmentation", &frag);
	ret = ret ?: get_int(x, tg, tpath, "sa_pairs", false, 1, CFG_MAX_QUEUES,
			     &pairs);
	ret = ret ?: get_int(x, tg, tpath, "remote_port", false, 1, 65535,
			     &rport);
	ret = ret ?: get_int(x, tg, tpath, "keepalive", false, 0, 3600, &ka);
	ret = ret ?: get_int(x, tg, tpath, "local_port", false, 1, 65535,
			     &lport);
	if (ret)
		return ret;
	/* NAT-T settings mean nothing on raw ESP: say so, not ignore them */
	s = config_setting_get_member(tg, "remote_port");
	if (!s)
		s = config_setting_get_member(tg, "keepalive");
	if (!s)
		s = config_setting_get_member(tg, "local_port");
	if (s && encap != ENCAP_UDP)
		return fail(x, s, join(f, tpath, config_setting_name(s)),
			    "needs encap = \"udp\" (NAT-T)");
	t->remote_port = (uint16_t)rport;
	t->local_port = (uint16_t)lport;
	t->keepalive_s = (uint32_t)ka;
	t->sa_pairs = (int)pairs;
	t->fragment = frag;
	t->encap = encap;
	t->cipher = cipher;
	if (config_setting_get_member(tg, "peers"))
		return parse_hub(x, tg, tpath, t);
	s = config_setting_get_member(tg, "remote");
	if (t->family == AF_INET)
		ret = checked(x, s, join(f, tpath, "remote"),
			      cfg_check_endpoints(t->local, t->remote,
						  WHY(x)));
	ret = ret ?: parse_sa(x, tg, tpath, "outbound", t->cipher, &t->out);
	ret = ret ?: parse_sa(x, tg, tpath, "inbound", t->cipher, &t->in);
	return ret ?: parse_routes(x, tg, tpath, t);
}

/* ---- checks across tunnels ---- */

/* One SA (sub 0 outbound, 1 inbound), route (sub = index) or tunnel; t
 * its tunnel's index in struct cfg (file order), g and path its group in
 * the file ("tunnels.[2]", or a P2MP peer's "tunnels.[2].peers.[0]"). */
struct ref {
	const struct cfg_tunnel *tun;
	int t;
	int sub;
	const config_setting_t *g;
	const char *path;
};

static const struct cfg_sa *ref_sa(const struct ref *r)
{
	return r->sub ? &r->tun->in : &r->tun->out;
}

static const struct cfg_prefix *ref_route(const struct ref *r)
{
	return &r->tun->routes[r->sub];
}

/* Position in the file: ties in the sorts below break on it. */
static int ref_order(const struct ref *a, const struct ref *b)
{
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->sub - b->sub;
}

static int spi_cmp(const struct ref *a, const struct ref *b)
{
	uint32_t x = ref_sa(a)->spi, y = ref_sa(b)->spi;

	return x < y ? -1 : x > y;
}

/* The SPIs of an SA's pairs: spi .. spi + sa_pairs - 1 (64-bit: no wrap). */
static uint64_t spi_last(const struct ref *r)
{
	return (uint64_t)ref_sa(r)->spi + r->tun->sa_pairs - 1;
}

/* Sorted by first SPI, ranges that overlap anywhere overlap a neighbour. */
static bool spi_clash(const struct ref *a, const struct ref *b)
{
	return ref_sa(a)->spi <= spi_last(b) && ref_sa(b)->spi <= spi_last(a);
}

/* The AES key without the salt: the same key with another salt is reuse. */
static int key_cmp(const struct ref *a, const struct ref *b)
{
	const struct cfg_sa *x = ref_sa(a), *y = ref_sa(b);

	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len - CFG_SALT_LEN);
}

static int route_cmp(const struct ref *a, const struct ref *b)
{
	const struct cfg_prefix *x = ref_route(a), *y = ref_route(b);
	int r;

	if (a->tun->vrf != b->tun->vrf) /* each VRF its own routes */
		return a->tun->vrf - b->tun->vrf;
	if (x->family != y->family)
		return x->family - y->family;
	r = memcmp(x->addr, y->addr, sizeof(x->addr));
	return r ? r : x->len - y->len;
}

static int name_cmp(const struct ref *a, const struct ref *b)
{
	return strcmp(a->tun->name, b->tun->name);
}

static bool route_clash(const struct ref *a, const struct ref *b)
{
	return a->tun->vrf == b->tun->vrf &&
	       prefixes_overlap(ref_route(a), ref_route(b));
}

struct check {
	int (*cmp)(const struct ref *, const struct ref *);
	/* NULL: a clash is cmp() == 0 */
	bool (*clash)(const struct ref *, const struct ref *);
};

static int sort_cmp(const void *pa, const void *pb, void *arg)
{
	const struct check *ck = arg;
	int r = ck->cmp(pa, pb);

	return r ? r : ref_order(pa, pb);
}

/*
 * Sorts r and finds two that clash; *first is the one earlier in the file.
 * Comparing neighbours is enough: for routes, which have no host bits, a
 * prefix sorts right before the first of the prefixes inside it.
 */
static struct ref *find_clash(struct ref *r, int n, const struct check *ck,
			      struct ref **first)
{
	struct ref *a, *b;
	int i;

	qsort_r(r, n, sizeof(*r), sort_cmp, (void *)ck);
	for (i = 1; i < n; i++) {
		a = &r[i - 1];
		b = &r[i];
		if (ck->clash ? !ck->clash(a, b) : ck->cmp(a, b))
			continue;
		if (ref_order(a, b) > 0) {
			*first = b;
			return a;
		}
		*first = a;
		return b;
	}
	return NULL;
}

static const char *dir_name(const struct ref *r)
{
	return r->sub ? "inbound" : "outbound";
}

/* The key or key_file setting of an SA, for its line. */
static config_setting_t *sa_setting(const config_setting_t *tunnels,
				    const struct ref *r, const char *name)
{
	config_setting_t *g;
	config_setting_t *s;

	(void)tunnels;
	g = config_setting_get_member(r->g, dir_name(r));
	s = config_setting_get_member(g, name);
	if (!s && !strcmp(name, "key"))
		s = config_setting_get_member(g, "key_file");
	return s ? s : g;
}

static int check_spis(struct ctx *x, const config_setting_t *tunnels,
		      struct ref *r, int n)
{
	static const struct check ck = { spi_cmp, spi_clash };
	struct ref *a, *b = find_clash(r, n, &ck, &a);
	char f[FIELD_MAX];
	int i;

	for (i = 0; !b && i < n; i++) {
		if (spi_last(&r[i]) <= UINT32_MAX)
			continue;
		snprintf(f, sizeof(f), "%s.%s.spi", r[i].path,
			 dir_name(&r[i]));
		return fail(x, sa_setting(tunnels, &r[i], "spi"), f,
			    "SPI 0x%x + sa_pairs %d passes 0xffffffff",
			    ref_sa(&r[i])->spi, r[i].tun->sa_pairs);
	}
	if (!b)
		return 0;
	snprintf(f, sizeof(f), "%s.%s.spi", b->path, dir_name(b));
	if (a->tun->sa_pairs > 1 || b->tun->sa_pairs > 1)
		return fail(x, sa_setting(tunnels, b, "spi"), f,
			    "SPIs 0x%x..0x%llx overlap 0x%x..0x%llx of %s.%s.spi (line %u) (with sa_pairs = N an SA uses N SPIs from spi up)",
			    ref_sa(b)->spi, (unsigned long long)spi_last(b),
			    ref_sa(a)->spi, (unsigned long long)spi_last(a),
			    a->path, dir_name(a),
			    line_of(sa_setting(tunnels, a, "spi")));
	return fail(x, sa_setting(tunnels, b, "spi"), f,
		    "SPI 0x%x is also used by %s.%s.spi (line %u) (every SA needs its own SPI, inbound and outbound alike)",
		    ref_sa(b)->spi, a->path, dir_name(a),
		    line_of(sa_setting(tunnels, a, "spi")));
}

static int check_keys(struct ctx *x, const config_setting_t *tunnels,
		      struct ref *r, int n)
{
	static const struct check ck = { key_cmp, NULL };
	struct ref *a, *b = find_clash(r, n, &ck, &a);
	config_setting_t *s;
	char f[FIELD_MAX];

	if (!b)
		return 0;
	s = sa_setting(tunnels, b, "key");
	snprintf(f, sizeof(f), "%s.%s.%s", b->path, dir_name(b),
		 config_setting_name(s));
	return fail(x, s, f,
		    "same AEAD key as %s.%s (line %u) (an AEAD key is never shared by two SAs; generate one per SA, e.g. openssl rand -hex %zu)",
		    a->path, dir_name(a), line_of(sa_setting(tunnels, a, "key")),
		    ref_sa(b)->key_len);
}

static config_setting_t *route_setting(const config_setting_t *tunnels,
				       const struct ref *r)
{
	(void)tunnels;
	return config_setting_get_elem(config_setting_get_member(r->g,
								 "routes"),
				       r->sub);
}

static int check_routes(struct ctx *x, const config_setting_t *tunnels,
			struct ref *r, int n)
{
	static const struct check ck = { route_cmp, route_clash };
	struct ref *a, *b = find_clash(r, n, &ck, &a);
	char f[FIELD_MAX], pa[64], pb[64];

	if (!b)
		return 0;
	snprintf(f, sizeof(f), "%s.routes.[%d]", b->path, b->sub);
	return fail(x, route_setting(tunnels, b), f,
		    "%s overlaps %s of %s.routes.[%d] (line %u) (routes must be disjoint so each packet has one tunnel)",
		    cfg_prefix_str(ref_route(b), pb, sizeof(pb)),
		    cfg_prefix_str(ref_route(a), pa, sizeof(pa)), a->path, a->sub,
		    line_of(route_setting(tunnels, a)));
}

static int check_names(struct ctx *x, const config_setting_t *tunnels,
		       struct ref *r, int n)
{
	static const struct check ck = { name_cmp, NULL };
	struct ref *a, *b = find_clash(r, n, &ck, &a);
	config_setting_t *s;
	char f[FIELD_MAX];

	(void)tunnels;
	if (!b)
		return 0;
	/* a peer's name is its hub's and its next hop */
	s = config_setting_get_member(b->g, "name");
	if (!s)
		s = config_setting_get_member(b->g, "nexthop");
	snprintf(f, sizeof(f), "%s.%s", b->path, config_setting_name(s));
	return fail(x, s, f,
		    "'%s' is already the name of %s (line %d) (names must be unique)",
		    b->tun->name, a->path, a->tun->line);
}

/* grp[i], path[i]: the group of c->tunnels[i] in the file and its name */
static int check_tunnels(struct ctx *x, const config_setting_t *tunnels,
			 const struct cfg *c, const config_setting_t **grp,
			 char (*path)[FIELD_MAX])
{
	int i, j, n = 0, nroutes = 0, ret;
	struct ref *r;

#define REF(i, sub) ((struct ref){ &c->tunnels[i], i, sub, grp[i], path[i] })
	for (i = 0; i < c->ntunnels; i++)
		nroutes += c->tunnels[i].nroutes;
	r = calloc((size_t)2 * c->ntunnels + nroutes + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < c->ntunnels; i++)
		r[n++] = REF(i, 0);
	ret = check_names(x, tunnels, r, n);
	for (i = 0, n = 0; i < c->ntunnels; i++) {
		if (c->tunnels[i].p2mp)
			continue; /* a hub has no SAs */
		r[n++] = REF(i, 0);
		r[n++] = REF(i, 1);
	}
	ret = ret ?: check_spis(x, tunnels, r, n);
	ret = ret ?: check_keys(x, tunnels, r, n);
	for (i = 0, n = 0; i < c->ntunnels; i++)
		for (j = 0; j < c->tunnels[i].nroutes; j++)
			r[n++] = REF(i, j);
#undef REF
	ret = ret ?: check_routes(x, tunnels, r, n);
	free(r);
	return ret;
}

static int parse_tunnels(struct ctx *x, const config_setting_t *esp,
			 struct cfg *c)
{
	char f[FIELD_MAX], ft[FIELD_MAX];
	const config_setting_t **grp = NULL;
	char (*path)[FIELD_MAX] = NULL;
	config_setting_t *s, *p;
	int i, j, k, n, total, ret;

	ret = member(x, esp, "", "tunnels", K_LIST, true, &s, f);
	if (ret)
		return ret;
	n = config_setting_length(s);
	/* "tunnels = ( );" on purpose: an IKE gateway, whose tunnels charon
	 * adds through the control socket (the kernel-espresso plugin) */
	if (!n)
		return 0;
	/* P2MP: each peer is one more tunnel, after its hub */
	for (i = 0, total = n; i < n; i++) {
		p = config_setting_get_member(config_setting_get_elem(s, i),
					      "peers");
		if (p && config_setting_is_list(p))
			total += config_setting_length(p);
	}
	if (total > ESPRESSO_MAX_SA)
		return fail(x, s, f, "%d tunnels, at most %d", total,
			    ESPRESSO_MAX_SA);
	/* they hold the keys: locked memory, out of core dumps */
	c->tunnels = secret_alloc((size_t)total * sizeof(*c->tunnels));
	grp = calloc(total, sizeof(*grp));
	path = calloc(total, sizeof(*path));
	if (!c->tunnels || !grp || !path) {
		ret = -ENOMEM;
		goto out;
	}
	c->ntunnels = total; /* what config_free gives back (zeroed) */
	for (i = 0, k = 0; i < n; i++) {
		int h = k;

		grp[k] = config_setting_get_elem(s, i);
		join_idx(path[k++], "tunnels", i);
		ret = parse_tunnel(x, grp[h], path[h], &c->tunnels[h]);
		/* before the peers: a hub's peers are in its VRF */
		ret = ret ?: parse_vrf_ref(x, grp[h], path[h], c,
					   &c->tunnels[h].vrf);
		if (ret)
			goto out;
		p = config_setting_get_member(grp[h], "peers");
		for (j = 0; c->tunnels[h].p2mp && j < config_setting_length(p);
		     j++) {
			join(ft, path[h], "peers");
			join_idx(path[k], ft, j);
			grp[k++] = config_setting_get_elem(p, j);
			ret = parse_peer(x, grp[k - 1], path[k - 1],
					 &c->tunnels[h], &c->tunnels[k - 1]);
			if (ret)
				goto out;
		}
	}
	ret = check_tunnels(x, s, c, grp, path);
out:
	free(grp);
	free(path);
	return ret;
}

/* A string member through a check.h validator; absent and optional: 0. */
static int get_checked(struct ctx *x, const config_setting_t *g,
		       const char *gpath, const char *name, bool required,
		       int (*check)(const char *, void *, char *, size_t),
		       void *dst)
{
	char f[FIELD_MAX];
	config_setting_t *s;
	int ret;

	ret = member(x, g, gpath, name, K_STR, required, &s, f);
	if (ret || !s)
		return ret;
	return checked(x, s, f, check(config_setting_get_string(s), dst,
				      WHY(x)));
}

/* check.h's SPD validators for get_checked */
static int chk_sel4(const char *s, void *d, char *why, size_t n)
{
	return cfg_parse_selector4(s, d, why, n);
}

static int chk_proto(const char *s, void *d, char *why, size_t n)
{
	return cfg_parse_proto(s, d, why, n);
}

static int chk_ports(const char *s, void *d, char *why, size_t n)
{
	return cfg_parse_port_range(s, d, why, n);
}

static int chk_action(const char *s, void *d, char *why, size_t n)
{
	return cfg_parse_spd_action(s, d, why, n);
}

static int parse_policy(struct ctx *x, const config_setting_t *g,
			const char *gpath, const struct cfg *c,
			struct cfg_policy *p)
{
	long long id = 0, prio = 1000;
	char f[FIELD_MAX];
	int i, ret;

	p->src.family = p->dst.family = AF_INET;
	p->sport[1] = p->dport[1] = 65535;
	ret = check_kind(x, g, gpath, K_GROUP);
	ret = ret ?: known_only(x, g, gpath, policy_keys);
	ret = ret ?: get_int(x, g, gpath, "id", true, 1, UINT32_MAX, &id);
	ret = ret ?: get_int(x, g, gpath, "priority", false, 0, 65535, &prio);
	ret = ret ?: get_checked(x, g, gpath, "src", false,
				 chk_sel4, &p->src);
	ret = ret ?: get_checked(x, g, gpath, "dst", false,
				 chk_sel4, &p->dst);
	ret = ret ?: get_checked(x, g, gpath, "proto", false,
				 chk_proto, &p->proto);
	ret = ret ?: get_checked(x, g, gpath, "sport", false,
				 chk_ports, p->sport);
	ret = ret ?: get_checked(x, g, gpath, "dport", false,
				 chk_ports, p->dport);
	ret = ret ?: get_checked(x, g, gpath, "action", true,
				 chk_action, &p->action);
	if (ret)
		return ret;
	p->id = (uint32_t)id;
	p->priority = (uint32_t)prio;
	if (config_setting_get_member(g, "tunnel")) {
		ret = get_ident(x, g, gpath, "tunnel", p->tunnel);
		if (ret)
			return ret;
		for (i = 0; i < c->ntunnels; i++)
			if (!strcmp(c->tunnels[i].name, p->tunnel))
				break;
		if (i == c->ntunnels)
			return fail(x, config_setting_get_member(g, "tunnel"),
				    join(f, gpath, "tunnel"),
				    "no tunnel named '%s' in this file",
				    p->tunnel);
		if (c->tunnels[i].p2mp)
			return fail(x, config_setting_get_member(g, "tunnel"),
				    join(f, gpath, "tunnel"),
				    "'%s' is a P2MP tunnel: a policy protects "
				    "into a point-to-point tunnel", p->tunnel);
	}
	if ((p->action == 1) != !!p->tunnel[0])
		return fail(x, g, join(f, gpath, "tunnel"), p->tunnel[0] ?
			    "only with action = \"protect\"" :
			    "missing (action = \"protect\" needs it)");
	if ((p->sport[0] || p->sport[1] != 65535 || p->dport[0] ||
	     p->dport[1] != 65535) && p->proto != 6 && p->proto != 17)
		return fail(x, g, join(f, gpath, "proto"),
			    "sport and dport need proto \"tcp\" or \"udp\"");
	return 0;
}

/* policies = ( { id = 1; ... action = "discard"; }, ... ): optional. */
static int parse_policies(struct ctx *x, const config_setting_t *esp,
			  struct cfg *c)
{
	char f[FIELD_MAX], fe[FIELD_MAX], fi[FIELD_MAX];
	config_setting_t *s;
	int i, j, n, ret;

	ret = member(x, esp, "", "policies", K_LIST, false, &s, f);
	if (ret || !s)
		return ret;
	n = config_setting_length(s);
	if (n > ESPRESSO_SPD_MAX)
		return fail(x, s, f, "%d policies, at most %d", n,
			    ESPRESSO_SPD_MAX);
	c->policies = calloc(n ? n : 1, sizeof(*c->policies));
	if (!c->policies)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, i);

		ret = parse_policy(x, g, join_idx(fe, f, i), c,
				   &c->policies[i]);
		if (ret)
			return ret;
		c->npolicies = i + 1;
		for (j = 0; j < i; j++)
			if (c->policies[j].id == c->policies[i].id)
				return fail(x, g, join(fi, fe, "id"),
					    "%u is also the id of %s.[%d]",
					    c->policies[i].id, f, j);
	}
	return 0;
}

static int parse_root(struct ctx *x, const config_setting_t *root,
		      struct cfg *c)
{
	char f[FIELD_MAX];
	config_setting_t *esp;
	int ret;

	ret = known_only(x, root, "", root_keys);
	ret = ret ?: member(x, root, "", "espresso", K_GROUP, true, &esp, f);
	ret = ret ?: known_only(x, esp, "", espresso_keys);
	ret = ret ?: get_bool(x, esp, "", "allow_insecure_key_files",
			      &c->allow_insecure_key_files);
	x->allow_insecure = c->allow_insecure_key_files;
	ret = ret ?: get_ident(x, esp, "", "instance", c->instance);
	ret = ret ?: parse_workers(x, esp, c);
	ret = ret ?: parse_uplink(x, esp, c);
	ret = ret ?: parse_tun(x, esp, c);
	ret = ret ?: parse_vrfs(x, esp, c); /* before what names them */
	ret = ret ?: parse_lans(x, esp, c);
	ret = ret ?: parse_metrics(x, esp, c);
	ret = ret ?: parse_tunnels(x, esp, c);
	return ret ?: parse_policies(x, esp, c);
}

/* Wipes every key string in the parsed tree before libconfig frees it. */
static void wipe_tree(config_setting_t *s)
{
	const char *name = config_setting_name(s);
	int i;

	if (config_setting_type(s) == CONFIG_TYPE_STRING && name &&
	    !strcmp(name, "key")) {
		char *str = (char *)config_setting_get_string(s);

		explicit_bzero(str, strlen(str));
	}
	if (config_setting_is_aggregate(s))
		for (i = 0; i < config_setting_length(s); i++)
			wipe_tree(config_setting_get_elem(s, i));
}

static int syntax_error(struct ctx *x, const config_t *cf)
{
	const char *file = config_error_file(cf);
	const char *text = config_error_text(cf);

	return fail_file(x, -EINVAL, "%s:%d: %s (%s)", file ? file : x->path,
			 config_error_line(cf), text ? text : "parse error",
			 text && !strcmp(text, "syntax error") ?
				 "a missing ';', '=', quote or brace on this line or the one before?" :
				 "see libconfig(3) for the syntax");
}

static int read_config(struct ctx *x, char **text, size_t *cap)
{
	mode_t mode = 0;
	int ret = slurp(x->path, CONFIG_FILE_MAX, text, cap, &mode);

	/* a warning only, inline keys or not (key files are refused) */
	if (!ret)
		warn_mode("config file", x->path, mode);
	if (ret == -EFBIG)
		return fail_file(x, -EINVAL, "%s: too large (over %u bytes)",
				 x->path, CONFIG_FILE_MAX);
	if (ret == -EILSEQ)
		return fail_file(x, -EINVAL, "%s: contains a NUL byte (not a text file?)",
				 x->path);
	if (ret)
		return fail_file(x, ret, "%s: cannot read: %s", x->path,
				 strerror(-ret));
	return 0;
}

int config_load(const char *path, struct cfg *c, bool check_system,
		char *err, size_t errlen)
{
	struct ctx x = {
		.path = path, .check_system = check_system,
		.err = err, .errlen = errlen,
	};
	char *text = NULL;
	size_t cap = 0;
	config_t cf;
	int ret;

	memset(c, 0, sizeof(*c));
	if (err && errlen)
		err[0] = '\0';
	if (!path || strlen(path) >= sizeof(c->path))
		return fail_file(&x, -EINVAL, "config file path too long");
	strcpy(c->path, path);
	set_dir(&x, path);
	ret = read_config(&x, &text, &cap);
	if (ret)
		return ret;
	config_init(&cf);
	config_set_include_dir(&cf, x.dir);
	if (!config_read_string(&cf, text))
		ret = syntax_error(&x, &cf);
	else
		ret = parse_root(&x, config_root_setting(&cf), c);
	if (ret == -ENOMEM)
		fail_file(&x, ret, "%s: out of memory", path);
	wipe_tree(config_root_setting(&cf));
	config_destroy(&cf);
	free_wiped(text, cap);
	if (ret)
		config_free(c);
	return ret;
}

void config_free(struct cfg *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; c->tunnels && i < c->ntunnels; i++)
		free(c->tunnels[i].routes);
	free(c->policies);
	secret_free(c->tunnels, c->ntunnels * sizeof(*c->tunnels)); /* wipes */
	explicit_bzero(c, sizeof(*c));
}
