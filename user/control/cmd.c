// SPDX-License-Identifier: GPL-2.0
/*
 * cmd: the control-socket command parser (cmd.h). A table of verbs, each
 * with its positional arguments parsed by hand and its keyword arguments
 * from a table of struct opt; every value goes through the validator the
 * config file uses (config/check.h), so a message reads
 * "COMMAND: ARGUMENT: what is wrong" where the config says
 * "FILE:LINE: FIELD: what is wrong", with the same words.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/check.h"
#include "control/cmd.h"

#define U_SHOW "[-j] show sa|tunnels|routes|stats|frames|xdp|policies|lans|peers"
#define U_TUNNEL_ADD "tunnel add NAME local ADDR remote ADDR|p2mp on [encap esp|udp] [cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305] [replay-window N] [esn on|off] [fragment inner|outer] [remote-port N] [keepalive SECONDS] [local-port N] [vrf NAME]"
#define U_TUNNEL_DEL "tunnel del NAME"
#define U_SA_ADD "sa add TUNNEL in|out spi SPI key HEX [soft-lifetime SECONDS] [hard-lifetime SECONDS] [soft-bytes N] [hard-bytes N] [soft-packets N] [hard-packets N] [reqid N] [child NAME] [peer NEXTHOP]"
#define U_SA_DEL "sa del SPI [in|out]"
#define U_SA_UPDATE "sa update SPI remote ADDR [sport N dport N]"
#define U_ROUTE_ADD "route add PREFIX tunnel NAME [via NEXTHOP] [ecmp on|off]"
#define U_ROUTE_DEL "route del PREFIX [vrf NAME]"
#define U_RELOAD "reload"
#define U_MONITOR "monitor [ike]"
#define U_BATCH_BEGIN "batch begin"
#define U_BATCH_END "batch end"
#define U_TRACE "trace N [in|out] [spi SPI] [tunnel NAME] [drops] [timeout SECONDS]"
#define U_PCAP_START "pcap start FILE [in|out|both] [snaplen N]"
#define U_PCAP_STOP "pcap stop [FILE]"
#define U_POLICY_ADD "policy add ID [priority N] [src PREFIX] [dst PREFIX] [proto tcp|udp|icmp|any|N] [sport N[-M]] [dport N[-M]] action protect|bypass|discard [tunnel NAME]"
#define U_POLICY_DEL "policy del ID"
#define U_SA_ALLOC "sa alloc"
#define U_PEER_ADD "peer add HUB NEXTHOP remote ADDR [remote-port N]"
#define U_PEER_DEL "peer del HUB NEXTHOP"
#define U_STOP "stop [keep]"

const char cmd_usage[] =
	U_SHOW "\n" U_TUNNEL_ADD "\n" U_TUNNEL_DEL "\n" U_SA_ADD "\n"
	U_SA_DEL "\n" U_SA_UPDATE "\n" U_ROUTE_ADD "\n" U_ROUTE_DEL "\n"
	U_RELOAD "\n" U_MONITOR "\n" U_BATCH_BEGIN "\n" U_BATCH_END "\n"
	U_TRACE "\n" U_PCAP_START "\n" U_PCAP_STOP "\n"
	U_POLICY_ADD "\n" U_POLICY_DEL "\n"
	U_SA_ALLOC "\n" U_PEER_ADD "\n" U_PEER_DEL "\n"
	U_STOP "\n";

static const char *const show_names[] = {
	[SHOW_SA] = "sa", [SHOW_TUNNELS] = "tunnels", [SHOW_ROUTES] = "routes",
	[SHOW_STATS] = "stats", [SHOW_FRAMES] = "frames", [SHOW_XDP] = "xdp",
	[SHOW_POLICIES] = "policies",
	[SHOW_LANS] = "lans",
	[SHOW_PEERS] = "peers",
	NULL,
};
static const char *const dir_names[] = {
	[CMD_DIR_IN] = "in", [CMD_DIR_OUT] = "out", NULL,
};

struct ctx {
	const char *cmd;   /* "sa add": the start of every message */
	const char *usage; /* its line of cmd_usage */
	char *err;
	size_t errlen;
	char why[CFG_WHY_MAX]; /* the reason a check.h validator gave */
	char q[CFG_QUOTE_MAX]; /* a quoted argument */
};

#define WHY(x) (x)->why, sizeof((x)->why)
#define QUOTE(x, s) cfg_quote(s, (x)->q, sizeof((x)->q))

/* "CMD: ..." into x->err; -EINVAL. */
__attribute__((format(printf, 2, 3)))
static int fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!x->err || !x->errlen)
		return -EINVAL;
	if (x->cmd)
		n = snprintf(x->err, x->errlen, "%s: ", x->cmd);
	if (n < 0 || (size_t)n >= x->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ret of a check.h validator: 0, or "CMD: ARG: reason". */
static int checked(struct ctx *x, const char *arg, int ret)
{
	return ret ? fail(x, "%s: %s", arg, x->why) : 0;
}

static int missing(struct ctx *x, const char *what)
{
	return fail(x, "missing %s (usage: %s)", what, x->usage);
}

static int unexpected(struct ctx *x, const char *arg)
{
	return fail(x, "unexpected argument %s (usage: %s)", QUOTE(x, arg),
		    x->usage);
}


/* ---- keyword arguments ---- */

enum kind {
	A_NAME, A_IPV4, A_ENCAP, A_CIPHER, A_REPLAY, A_ONOFF, A_FRAGMENT,
	A_SPI, A_KEY, A_U64, A_PORT, A_KEEPALIVE,
	A_PRIO, A_SEL4, A_PROTO, A_PRANGE, A_ACTION,
	A_LOCAL, A_REMOTE, /* tunnel add: IPv4 or IPv6, into struct cmd */
	A_NH, /* an overlay next hop, IPv4 or IPv6: canonical text */
	A_SA_REMOTE, /* sa update: IPv4 or IPv6, into struct cmd_sa */
};

struct opt {
	const char *name;
	const char *meta; /* its value in messages */
	enum kind kind;
	size_t off;       /* of the value in struct cmd */
	bool required;
};

#define OPT(n, m, k, field, req) { n, m, k, offsetof(struct cmd, field), req }

static const struct opt tunnel_add_opts[] = {
	OPT("local", "ADDR", A_LOCAL, tunnel, true),
	OPT("remote", "ADDR", A_REMOTE, tunnel, false), /* or p2mp on */
	OPT("encap", "esp|udp", A_ENCAP, tunnel.encap, false),
	OPT("cipher", "aes-gcm-128|aes-gcm-256|chacha20-poly1305", A_CIPHER, tunnel.cipher, false),
	OPT("replay-window", "N", A_REPLAY, tunnel.replay_window, false),
	OPT("esn", "on|off", A_ONOFF, tunnel.esn, false),
	OPT("fragment", "inner|outer", A_FRAGMENT, tunnel.fragment, false),
	OPT("remote-port", "N", A_PORT, tunnel.remote_port, false),
	OPT("keepalive", "SECONDS", A_KEEPALIVE, tunnel.keepalive_s, false),
	OPT("local-port", "N", A_PORT, tunnel.local_port, false),
	OPT("p2mp", "on|off", A_ONOFF, p2mp, false),
	OPT("vrf", "NAME", A_NAME, vrf, false),
	{ 0 },
};
static const struct opt route_del_opts[] = {
	OPT("vrf", "NAME", A_NAME, vrf, false),
	{ 0 },
};
static const struct opt sa_add_opts[] = {
	OPT("spi", "SPI", A_SPI, sa.spi, true),
	OPT("key", "HEX", A_KEY, sa, true),
	OPT("soft-lifetime", "SECONDS", A_U64, sa.life.soft_s, false),
	OPT("hard-lifetime", "SECONDS", A_U64, sa.life.hard_s, false),
	OPT("soft-bytes", "N", A_U64, sa.life.soft_bytes, false),
	OPT("hard-bytes", "N", A_U64, sa.life.hard_bytes, false),
	OPT("soft-packets", "N", A_U64, sa.life.soft_packets, false),
	OPT("hard-packets", "N", A_U64, sa.life.hard_packets, false),
	OPT("reqid", "N", A_U64, sa.reqid, false),
	OPT("child", "NAME", A_NAME, sa.child, false),
	OPT("peer", "NEXTHOP", A_NH, nexthop, false),
	{ 0 },
};
static const struct opt sa_update_opts[] = {
	OPT("remote", "ADDR", A_SA_REMOTE, sa, true),
	OPT("sport", "N", A_PORT, sa.sport, false),
	OPT("dport", "N", A_PORT, sa.dport, false),
	{ 0 },
};
static const struct opt route_add_opts[] = {
	OPT("tunnel", "NAME", A_NAME, name, true),
	OPT("ecmp", "on|off", A_ONOFF, ecmp, false),
	OPT("via", "NEXTHOP", A_NH, nexthop, false),
	{ 0 },
};
static const struct opt peer_add_opts[] = {
	OPT("remote", "ADDR", A_REMOTE, tunnel, true),
	OPT("remote-port", "N", A_PORT, tunnel.remote_port, false),
	{ 0 },
};

static const struct opt policy_add_opts[] = {
	OPT("priority", "N", A_PRIO, policy.priority, false),
	OPT("src", "PREFIX", A_SEL4, policy.src, false),
	OPT("dst", "PREFIX", A_SEL4, policy.dst, false),
	OPT("proto", "tcp|udp|icmp|any|N", A_PROTO, policy.proto, false),
	OPT("sport", "N[-M]", A_PRANGE, policy.sport, false),
	OPT("dport", "N[-M]", A_PRANGE, policy.dport, false),
	OPT("action", "protect|bypass|discard", A_ACTION, policy.action, true),
	OPT("tunnel", "NAME", A_NAME, policy.tunnel, false),
	{ 0 },
};

/* An overlay next hop (P2MP), IPv4 or IPv6, as canonical text. */
static int parse_nexthop(const char *s, char dst[CMD_NH_MAX], char *why,
			 size_t whylen)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1 &&
	    inet_ntop(AF_INET, &a4, dst, CMD_NH_MAX))
		return 0;
	if (inet_pton(AF_INET6, s, &a6) == 1 &&
	    inet_ntop(AF_INET6, &a6, dst, CMD_NH_MAX))
		return 0;
	snprintf(why, whylen, "not an IPv4 or IPv6 address (the peer's "
		 "address inside the tunnel, like 10.255.0.2)");
	return -EINVAL;
}

/* The value s of keyword o into its place in c. */
static int parse_value(struct ctx *x, const struct opt *o, const char *s,
		       struct cmd *c)
{
	void *dst = (char *)c + o->off;
	struct cmd_sa *sa = dst;
	int ret = -EINVAL;

	switch (o->kind) {
	case A_NAME:
		ret = cfg_check_name(s, dst, WHY(x));
		break;
	case A_IPV4:
		ret = cfg_parse_ipv4(s, dst, WHY(x));
		break;
	case A_LOCAL:
		ret = cfg_parse_endpoint(s, 0, &c->tunnel.family,
					 &c->tunnel.local, &c->tunnel.local6,
					 WHY(x));
		break;
	case A_REMOTE:
		ret = cfg_parse_endpoint(s, 0, &c->remote_family,
					 &c->tunnel.remote, &c->tunnel.remote6,
					 WHY(x));
		break;
	case A_SA_REMOTE:
		ret = cfg_parse_endpoint(s, 0, &sa->remote_family, &sa->remote,
					 &sa->remote6, WHY(x));
		break;
	case A_ENCAP:
		ret = cfg_parse_encap(s, dst, WHY(x));
		break;
	case A_CIPHER:
		ret = cfg_parse_cipher(s, dst, WHY(x));
		break;
	case A_REPLAY:
		ret = cfg_parse_replay_window(s, dst, WHY(x));
		break;
	case A_ONOFF:
		ret = cfg_parse_bool(s, dst, WHY(x));
		break;
	case A_FRAGMENT:
		ret = cfg_parse_fragment(s, dst, WHY(x));
		break;
	case A_SPI:
		ret = cfg_parse_spi(s, dst, WHY(x));
		break;
	case A_KEY:
		ret = cfg_parse_key(s, CFG_CIPHER_ANY, sa->key, &sa->key_len,
				    WHY(x));
		break;
	case A_U64:
		ret = cfg_parse_u64(s, dst, WHY(x));
		break;
	case A_PORT:
		ret = cfg_parse_port(s, dst, WHY(x));
		break;
	case A_KEEPALIVE: {
		uint64_t v;

		ret = cfg_parse_u64(s, &v, WHY(x));
		if (!ret && v > 3600)
			ret = cfg_check_range((long long)v, 0, 3600, WHY(x));
		if (!ret)
			*(uint32_t *)dst = (uint32_t)v;
		break;
	}
	case A_PRIO: {
		uint64_t v = 0;

		ret = cfg_parse_uint(s, 0, 65535, &v, WHY(x));
		*(uint32_t *)dst = (uint32_t)v;
		break;
	}
	case A_SEL4:
		ret = cfg_parse_selector4(s, dst, WHY(x));
		break;
	case A_PROTO:
		ret = cfg_parse_proto(s, dst, WHY(x));
		break;
	case A_PRANGE:
		ret = cfg_parse_port_range(s, dst, WHY(x));
		break;
	case A_ACTION:
		ret = cfg_parse_spd_action(s, dst, WHY(x));
		break;
	case A_NH:
		ret = parse_nexthop(s, dst, WHY(x));
		break;
	}
	return checked(x, o->name, ret);
}

/*
 * "KEYWORD VALUE" pairs from opts, each at most once, every required one.
 * *seen: bit i set when opts[i] was given.
 */
static int parse_opts(struct ctx *x, char **argv, int argc,
		      const struct opt *opts, struct cmd *c, unsigned int *seen)
{
	char valid[256], need[64];
	const char *names[32];
	const struct opt *o;
	int i, n, ret;

	for (n = 0; opts[n].name; n++)
		names[n] = opts[n].name;
	names[n] = NULL;
	*seen = 0;
	for (i = 0; i < argc; i += 2) {
		for (o = opts; o->name && strcmp(o->name, argv[i]); o++)
			;
		if (!o->name)
			return fail(x, "unknown argument %s (valid: %s)",
				    QUOTE(x, argv[i]),
				    cfg_list_str(valid, sizeof(valid), names));
		if (*seen & 1u << (o - opts))
			return fail(x, "%s given twice (each argument at most once)",
				    o->name);
		if (i + 1 == argc)
			return fail(x, "%s: missing value %s", o->name,
				    o->meta);
		ret = parse_value(x, o, argv[i + 1], c);
		if (ret)
			return ret;
		*seen |= 1u << (o - opts);
	}
	for (o = opts; o->name; o++) {
		if (o->required && !(*seen & 1u << (o - opts))) {
			snprintf(need, sizeof(need), "%s %s", o->name, o->meta);
			return missing(x, need);
		}
	}
	return 0;
}

/* Was the option called name (one of opts) given, by parse_opts's seen? */
static bool given(const struct opt *opts, unsigned int seen, const char *name)
{
	int i;

	for (i = 0; opts[i].name; i++)
		if (!strcmp(opts[i].name, name))
			return seen & 1u << i;
	return false;
}

/* ---- verbs: argv holds what follows the command words ---- */

static int parse_show(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	char valid[128];
	int t;

	cfg_list_str(valid, sizeof(valid), show_names);
	if (!argc)
		return fail(x, "missing table; one of %s", valid);
	if (cfg_parse_enum(argv[0], show_names, "table", &t, NULL, 0))
		return fail(x, "unknown table %s; one of %s",
			    QUOTE(x, argv[0]), valid);
	if (argc > 1)
		return unexpected(x, argv[1]);
	c->show = t;
	return 0;
}

static int parse_name(struct ctx *x, const char *arg, const char *s,
		      char dst[CFG_NAME_MAX])
{
	return checked(x, arg, cfg_check_name(s, dst, WHY(x)));
}

static int parse_dir(struct ctx *x, const char *s, struct cmd_sa *sa)
{
	int ret = cfg_parse_enum(s, dir_names, "direction", &sa->dir, WHY(x));

	sa->dir_given = !ret;
	return checked(x, "direction", ret);
}

static int parse_spi(struct ctx *x, const char *s, struct cmd_sa *sa)
{
	return checked(x, "spi", cfg_parse_spi(s, &sa->spi, WHY(x)));
}

static bool is_opt(const struct opt *opts, const char *s)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, s))
			return true;
	return false;
}

static int parse_tunnel_add(struct ctx *x, char **argv, int argc,
			    struct cmd *c)
{
	struct cfg_tunnel *t = &c->tunnel;
	unsigned int seen;
	int ret;

	t->encap = ENCAP_ESP;
	t->cipher = CIPHER_AES_GCM_256;
	t->replay_window = CFG_REPLAY_DEFAULT;
	t->esn = true;
	t->fragment = FRAG_INNER;
	t->sa_pairs = 1;
	/* "tunnel add local ...": the name was forgotten */
	if (!argc || is_opt(tunnel_add_opts, argv[0]))
		return missing(x, "NAME");
	ret = parse_name(x, "name", argv[0], t->name);
	ret = ret ?: parse_opts(x, argv + 1, argc - 1, tunnel_add_opts, c,
				&seen);
	/* P2MP: a hub has no remote; its peers do (peer add) */
	if (!ret && c->p2mp)
		return given(tunnel_add_opts, seen, "remote") ?
			fail(x, "remote: a p2mp tunnel has none (its peers "
			     "have: peer add %s NEXTHOP remote ADDR)", t->name) : 0;
	if (!ret && !given(tunnel_add_opts, seen, "remote"))
		return missing(x, "remote ADDR");
	if (!ret && c->remote_family != t->family)
		ret = fail(x, "remote: an %s address but local is %s: both "
			   "ends of a tunnel are of one family",
			   c->remote_family == AF_INET6 ? "IPv6" : "IPv4",
			   t->family == AF_INET6 ? "IPv6" : "IPv4");
	if (!ret && t->family == AF_INET6 &&
	    !memcmp(&t->local6, &t->remote6, sizeof(t->local6)))
		ret = fail(x, "remote: same address as local");
	if (ret || t->family == AF_INET6)
		return ret;
	return checked(x, "remote",
		       cfg_check_endpoints(t->local, t->remote, WHY(x)));
}

static int parse_tunnel_del(struct ctx *x, char **argv, int argc,
			    struct cmd *c)
{
	if (!argc)
		return missing(x, "NAME");
	if (argc > 1)
		return unexpected(x, argv[1]);
	return parse_name(x, "name", argv[0], c->name);
}

static int parse_peer(struct ctx *x, char **argv, int argc, struct cmd *c,
		      const struct opt *opts)
{
	unsigned int seen;
	int ret;

	if (!argc)
		return missing(x, "HUB");
	if (argc < 2)
		return missing(x, "NEXTHOP");
	ret = parse_name(x, "hub", argv[0], c->name);
	ret = ret ?: checked(x, "nexthop", parse_nexthop(argv[1], c->nexthop,
							 WHY(x)));
	if (ret)
		return ret;
	if (!opts)
		return argc > 2 ? unexpected(x, argv[2]) : 0;
	return parse_opts(x, argv + 2, argc - 2, opts, c, &seen);
}

static int parse_peer_add(struct ctx *x, char **argv, int argc,
			  struct cmd *c)
{
	return parse_peer(x, argv, argc, c, peer_add_opts);
}

static int parse_peer_del(struct ctx *x, char **argv, int argc,
			  struct cmd *c)
{
	return parse_peer(x, argv, argc, c, NULL);
}

static int parse_sa_add(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	struct cmd_sa *sa = &c->sa;
	unsigned int seen;
	int ret;

	if (!argc)
		return missing(x, "TUNNEL");
	if (argc < 2)
		return missing(x, "in|out");
	ret = parse_name(x, "tunnel", argv[0], sa->tunnel);
	ret = ret ?: parse_dir(x, argv[1], sa);
	ret = ret ?: parse_opts(x, argv + 2, argc - 2, sa_add_opts, c, &seen);
	/* "reqid 0" is no reqid */
	if (!ret && (sa->reqid > UINT32_MAX ||
		     (given(sa_add_opts, seen, "reqid") && !sa->reqid)))
		return fail(x, "reqid: %llu is out of range (1..4294967295)",
			    (unsigned long long)sa->reqid);
	ret = ret ?: checked(x, "soft-lifetime",
			     cfg_check_soft_hard(sa->life.soft_s,
						 sa->life.hard_s,
						 "hard-lifetime", WHY(x)));
	ret = ret ?: checked(x, "soft-bytes",
			     cfg_check_soft_hard(sa->life.soft_bytes,
						 sa->life.hard_bytes,
						 "hard-bytes", WHY(x)));
	return ret ?: checked(x, "soft-packets",
			      cfg_check_soft_hard(sa->life.soft_packets,
						  sa->life.hard_packets,
						  "hard-packets", WHY(x)));
}

static int parse_sa_del(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	int ret;

	if (!argc)
		return missing(x, "SPI");
	ret = parse_spi(x, argv[0], &c->sa);
	if (!ret && argc > 1)
		ret = parse_dir(x, argv[1], &c->sa);
	if (!ret && argc > 2)
		ret = unexpected(x, argv[2]);
	return ret;
}

static int parse_sa_update(struct ctx *x, char **argv, int argc,
			   struct cmd *c)
{
	struct cmd_sa *sa = &c->sa;
	unsigned int seen;
	int ret;

	if (!argc || is_opt(sa_update_opts, argv[0]))
		return missing(x, "SPI");
	ret = parse_spi(x, argv[0], sa);
	ret = ret ?: parse_opts(x, argv + 1, argc - 1, sa_update_opts, c,
				&seen);
	if (ret)
		return ret;
	if (!sa->sport != !sa->dport)
		return fail(x, "%s without %s (give both or neither)",
			    sa->sport ? "sport" : "dport",
			    sa->sport ? "dport" : "sport");
	return 0;
}

static int parse_prefix(struct ctx *x, const char *s, struct cfg_prefix *p)
{
	return checked(x, "prefix", cfg_parse_route(s, p, WHY(x)));
}

static int parse_route_add(struct ctx *x, char **argv, int argc,
			   struct cmd *c)
{
	unsigned int seen;
	int ret;

	if (!argc || is_opt(route_add_opts, argv[0]))
		return missing(x, "PREFIX");
	ret = parse_prefix(x, argv[0], &c->prefix);
	return ret ?: parse_opts(x, argv + 1, argc - 1, route_add_opts, c,
				 &seen);
}

static int parse_route_del(struct ctx *x, char **argv, int argc,
			   struct cmd *c)
{
	unsigned int seen;
	int ret;

	if (!argc || is_opt(route_del_opts, argv[0]))
		return missing(x, "PREFIX");
	ret = parse_prefix(x, argv[0], &c->prefix);
	return ret ?: parse_opts(x, argv + 1, argc - 1, route_del_opts, c,
				 &seen);
}

static int parse_policy_id(struct ctx *x, const char *s, struct cmd *c)
{
	uint64_t v = 0;
	int ret = cfg_parse_uint(s, 1, UINT32_MAX, &v, WHY(x));

	c->policy.id = (uint32_t)v;
	return checked(x, "id", ret);
}

static int parse_policy_add(struct ctx *x, char **argv, int argc,
			    struct cmd *c)
{
	struct cfg_policy *p = &c->policy;
	unsigned int seen;
	int ret;

	p->priority = 1000;
	p->src.family = p->dst.family = AF_INET;
	p->sport[1] = p->dport[1] = 65535;
	if (!argc || is_opt(policy_add_opts, argv[0]))
		return missing(x, "ID");
	ret = parse_policy_id(x, argv[0], c);
	ret = ret ?: parse_opts(x, argv + 1, argc - 1, policy_add_opts, c,
				&seen);
	if (ret)
		return ret;
	if (p->action == 1 && !p->tunnel[0])
		return missing(x, "tunnel NAME (action protect)");
	if (p->action != 1 && p->tunnel[0])
		return fail(x, "tunnel: only with action protect");
	if ((p->sport[0] || p->sport[1] != 65535 || p->dport[0] ||
	     p->dport[1] != 65535) && p->proto != 6 && p->proto != 17)
		return fail(x, "sport/dport: only with proto tcp or udp");
	return 0;
}

static int parse_policy_del(struct ctx *x, char **argv, int argc,
			    struct cmd *c)
{
	if (!argc)
		return missing(x, "ID");
	if (argc > 1)
		return unexpected(x, argv[1]);
	return parse_policy_id(x, argv[0], c);
}

/* monitor [ike]: ike is charon's plugin, which owns the IKE SAs */
/* CMD [WORD]: *flag set when WORD is there; nothing else may follow */
static int optional_word(struct ctx *x, char **argv, int argc,
			 const char *word, bool *flag)
{
	if (argc && !strcmp(argv[0], word)) {
		*flag = true;
		argv++;
		argc--;
	}
	return argc ? unexpected(x, argv[0]) : 0;
}

static int parse_monitor(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	return optional_word(x, argv, argc, "ike", &c->monitor_ike);
}

/* stop [keep]: keep leaves the fail-closed state for the next start */
static int parse_stop(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	return optional_word(x, argv, argc, "keep", &c->stop_keep);
}

/* reload, monitor, batch begin|end, sa alloc */
static int parse_none(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	(void)c;
	return argc ? unexpected(x, argv[0]) : 0;
}

/* ---- trace and pcap ---- */

/* A decimal count in lo..hi. */
static int parse_count(struct ctx *x, const char *arg, const char *s,
		       uint64_t lo, uint64_t hi, uint32_t *v)
{
	uint64_t n;
	int ret = cfg_parse_u64(s, &n, WHY(x));

	if (ret)
		return checked(x, arg, ret);
	if (n < lo || n > hi)
		return fail(x, "%s: %llu is out of range (%llu..%llu)", arg,
			    (unsigned long long)n, (unsigned long long)lo,
			    (unsigned long long)hi);
	*v = (uint32_t)n;
	return 0;
}

static int parse_trace(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	struct cmd_tap *t = &c->tap;
	unsigned int seen = 0;
	int i, ret, bit;

	t->timeout_s = CMD_TRACE_TIMEOUT;
	if (!argc)
		return missing(x, "N");
	ret = parse_count(x, "N", argv[0], 1, CMD_TRACE_MAX, &t->count);
	for (i = 1; !ret && i < argc; i++) {
		const char *a = argv[i];
		bool pair = !strcmp(a, "spi") || !strcmp(a, "tunnel") ||
			    !strcmp(a, "timeout");

		bit = !strcmp(a, "in") || !strcmp(a, "out") ? 1 :
		      !strcmp(a, "spi") ? 2 : !strcmp(a, "tunnel") ? 4 :
		      !strcmp(a, "drops") ? 8 : !strcmp(a, "timeout") ? 16 : 0;
		if (!bit)
			return fail(x, "unknown argument %s (valid: in, out, "
				    "spi, tunnel, drops, timeout)",
				    QUOTE(x, a));
		if (seen & bit)
			return fail(x, "%s given twice (each argument at most "
				    "once)", bit == 1 ? "in|out" : a);
		seen |= bit;
		if (pair && i + 1 == argc)
			return fail(x, "%s: missing value %s", a,
				    bit == 2 ? "SPI" : bit == 4 ? "NAME" :
				    "SECONDS");
		if (bit == 1)
			t->dir = !strcmp(a, "in") ? 1 : 2;
		else if (bit == 8)
			t->drops = true;
		else if (bit == 2)
			ret = parse_spi(x, argv[++i], &c->sa) ?:
			      ((t->spi = c->sa.spi), (t->has_spi = true), 0);
		else if (bit == 4)
			ret = parse_name(x, "tunnel", argv[++i], t->tunnel);
		else
			ret = parse_count(x, "timeout", argv[++i], 1,
					  CMD_TRACE_TIMEOUT_MAX, &t->timeout_s);
	}
	c->sa.spi = 0;
	return ret;
}

/* An absolute path without control characters. */
static int parse_path(struct ctx *x, const char *s, char dst[CMD_PATH_MAX])
{
	const char *p;

	if (s[0] != '/')
		return fail(x, "FILE: %s is not an absolute path (espressod "
			    "does not share your working directory)",
			    QUOTE(x, s));
	if (strlen(s) >= CMD_PATH_MAX)
		return fail(x, "FILE: longer than %d bytes", CMD_PATH_MAX - 1);
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(x, "FILE: control character in the path");
	strcpy(dst, s);
	return 0;
}

/* pcap stop [FILE] */
static int parse_pcap_stop(struct ctx *x, char **argv, int argc,
			   struct cmd *c)
{
	if (argc > 1)
		return unexpected(x, argv[1]);
	return argc ? parse_path(x, argv[0], c->tap.path) : 0;
}

static int parse_pcap_start(struct ctx *x, char **argv, int argc,
			    struct cmd *c)
{
	static const char *const dirs[] = { "both", "in", "out", NULL };
	struct cmd_tap *t = &c->tap;
	int i, ret = 0;
	bool dir = false, snap = false;

	t->snaplen = CMD_SNAPLEN_MAX;
	if (!argc)
		return missing(x, "FILE");
	ret = parse_path(x, argv[0], t->path);
	for (i = 1; !ret && i < argc; i++) {
		if (!strcmp(argv[i], "snaplen")) {
			if (snap)
				return fail(x, "snaplen given twice (each "
					    "argument at most once)");
			if (i + 1 == argc)
				return fail(x, "snaplen: missing value N");
			snap = true;
			ret = parse_count(x, "snaplen", argv[++i],
					  CMD_SNAPLEN_MIN, CMD_SNAPLEN_MAX,
					  &t->snaplen);
			continue;
		}
		if (dir || cfg_parse_enum(argv[i], dirs, "direction", &t->dir,
					  NULL, 0))
			return dir ? fail(x, "direction given twice (each "
					  "argument at most once)") :
				     unexpected(x, argv[i]);
		dir = true;
	}
	return ret;
}

struct verb {
	const char *word, *sub; /* sub NULL: a command of one word */
	const char *name;       /* both, for messages */
	const char *usage;
	enum cmd_op op;
	int (*parse)(struct ctx *x, char **argv, int argc, struct cmd *c);
};

static const struct verb verbs[] = {
	{ "show", NULL, "show", U_SHOW, CMD_SHOW, parse_show },
	{ "tunnel", "add", "tunnel add", U_TUNNEL_ADD, CMD_TUNNEL_ADD,
	  parse_tunnel_add },
	{ "tunnel", "del", "tunnel del", U_TUNNEL_DEL, CMD_TUNNEL_DEL,
	  parse_tunnel_del },
	{ "sa", "add", "sa add", U_SA_ADD, CMD_SA_ADD, parse_sa_add },
	{ "sa", "del", "sa del", U_SA_DEL, CMD_SA_DEL, parse_sa_del },
	{ "sa", "update", "sa update", U_SA_UPDATE, CMD_SA_UPDATE,
	  parse_sa_update },
	{ "route", "add", "route add", U_ROUTE_ADD, CMD_ROUTE_ADD,
	  parse_route_add },
	{ "route", "del", "route del", U_ROUTE_DEL, CMD_ROUTE_DEL,
	  parse_route_del },
	{ "reload", NULL, "reload", U_RELOAD, CMD_RELOAD, parse_none },
	{ "monitor", NULL, "monitor", U_MONITOR, CMD_MONITOR, parse_monitor },
	{ "batch", "begin", "batch begin", U_BATCH_BEGIN, CMD_BATCH_BEGIN,
	  parse_none },
	{ "batch", "end", "batch end", U_BATCH_END, CMD_BATCH_END, parse_none },
	{ "trace", NULL, "trace", U_TRACE, CMD_TRACE, parse_trace },
	{ "pcap", "start", "pcap start", U_PCAP_START, CMD_PCAP_START,
	  parse_pcap_start },
	{ "pcap", "stop", "pcap stop", U_PCAP_STOP, CMD_PCAP_STOP,
	  parse_pcap_stop },
	{ "policy", "add", "policy add", U_POLICY_ADD, CMD_POLICY_ADD,
	  parse_policy_add },
	{ "policy", "del", "policy del", U_POLICY_DEL, CMD_POLICY_DEL,
	  parse_policy_del },
	{ "sa", "alloc", "sa alloc", U_SA_ALLOC, CMD_SA_ALLOC, parse_none },
	{ "peer", "add", "peer add", U_PEER_ADD, CMD_PEER_ADD, parse_peer_add },
	{ "peer", "del", "peer del", U_PEER_DEL, CMD_PEER_DEL, parse_peer_del },
	{ "stop", NULL, "stop", U_STOP, CMD_STOP, parse_stop },
	{ 0 },
};

#define COMMANDS "show, tunnel, sa, route, reload, monitor, batch, trace, pcap, policy, peer, stop"

/* The subcommands of word, "add, del, update". */
static const char *subs_of(const char *word, char *buf, size_t len)
{
	const struct verb *v;
	size_t n = 0;

	buf[0] = '\0';
	for (v = verbs; v->word && n < len; v++)
		if (!strcmp(v->word, word))
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
				      v->sub);
	return buf;
}

static int dispatch(struct ctx *x, char **argv, int argc, struct cmd *c)
{
	const struct verb *v;
	char subs[64];
	bool word = false;

	for (v = verbs; v->word; v++) {
		if (strcmp(v->word, argv[0]))
			continue;
		word = true;
		if (!v->sub || (argc > 1 && !strcmp(v->sub, argv[1])))
			break;
	}
	if (!word)
		return fail(x, "unknown command %s; try: " COMMANDS,
			    QUOTE(x, argv[0]));
	if (!v->word) {
		x->cmd = argv[0];
		subs_of(argv[0], subs, sizeof(subs));
		if (argc < 2)
			return fail(x, "missing subcommand; one of %s", subs);
		return fail(x, "unknown subcommand %s; one of %s",
			    QUOTE(x, argv[1]), subs);
	}
	x->cmd = v->name;
	x->usage = v->usage;
	c->op = v->op;
	argc -= v->sub ? 2 : 1;
	argv += v->sub ? 2 : 1;
	return v->parse(x, argv, argc, c);
}

/* ---- the line ---- */

/* Splits line at spaces and tabs into at most max tokens; -E2BIG beyond. */
static int tokenize(char *line, char **argv, int max, int *argc)
{
	char *p = line;
	int n = 0;

	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			break;
		if (n == max)
			return -E2BIG;
		argv[n++] = p;
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
	*argc = n;
	return 0;
}

/* Cleanses every key in the tokens: what follows "key", or looks like one. */
static void cleanse_keys(char **argv, int argc)
{
	int i;

	for (i = 0; i < argc; i++)
		if ((i && !strcmp(argv[i - 1], "key")) ||
		    cfg_check_secret(argv[i]))
			OPENSSL_cleanse(argv[i], strlen(argv[i]));
}

int cmd_parse(char *line, struct cmd *c, char *err, size_t errlen)
{
	struct ctx x = { .err = err, .errlen = errlen };
	char *argv[CMD_MAX_ARGS];
	size_t len = strlen(line);
	int argc = 0, ret;
	bool json = false;

	memset(c, 0, sizeof(*c));
	if (err && errlen)
		err[0] = '\0';
	if (len && line[len - 1] == '\n') {
		line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
	}
	ret = tokenize(line, argv, CMD_MAX_ARGS, &argc);
	if (ret) {
		/* the whole line: a key may be in the part not split */
		OPENSSL_cleanse(line, len);
		return fail(&x, "too many arguments (at most %d)",
			    CMD_MAX_ARGS);
	}
	if (argc && !strcmp(argv[0], "-j"))
		json = true;
	if (argc == json)
		ret = fail(&x, json ? "missing command after -j; try: " COMMANDS :
				      "empty command; try: " COMMANDS);
	else
		ret = dispatch(&x, argv + json, argc - json, c);
	cleanse_keys(argv, argc);
	if (ret) {
		cmd_wipe(c);
		memset(c, 0, sizeof(*c));
	}
	c->json = json;
	return ret;
}

void cmd_wipe(struct cmd *c)
{
	if (!c)
		return;
	OPENSSL_cleanse(c->sa.key, sizeof(c->sa.key));
	OPENSSL_cleanse(c->tunnel.out.key, sizeof(c->tunnel.out.key));
	OPENSSL_cleanse(c->tunnel.in.key, sizeof(c->tunnel.in.key));
	c->sa.key_len = 0;
	c->tunnel.out.key_len = 0;
	c->tunnel.in.key_len = 0;
}
