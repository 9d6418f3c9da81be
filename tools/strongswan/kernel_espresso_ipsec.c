// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_espresso_ipsec: charon's kernel_ipsec_t against espressod (see the
 * header). Every method takes the one lock, changes the model and sends
 * the matching control command, so the model and espressod agree in the
 * order charon asked. When espressod cannot be reached the model still
 * changes and charon is told it worked: the monitor job installs the model
 * again once espressod is back (restart under charon), which is what a
 * kernel that lost its state and got it back would look like to charon.
 *
 * Never in a log: keys (their length only), the lines that carry them.
 */
#include "espresso_ctl.h"
#include "kernel_espresso_ipsec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <daemon.h>
#include <collections/linked_list.h>
#include <processing/jobs/callback_job.h>
#include <threading/mutex.h>
#include <threading/thread.h>

#define TUN_PREFIX "ike-"
#define NATT_PORT 4500
#define RECONNECT_US 100000 /* between tries while espressod is away */
#define MAX_IN 4            /* inbound SAs a tunnel takes (TUNNEL_MAX_IN) */

/* one espresso tunnel per reqid */
typedef struct {
	uint32_t reqid;
	char name[32];
	host_t *local, *remote; /* outer addresses, no ports */
	bool encap;
	int bits;               /* AES-GCM key: 128 or 256 */
	bool esn;
	uint32_t window;        /* espresso's: 32..4096, a multiple of 32 */
	int refs;               /* its SAs and routed outbound policies */
} tun_t;

typedef struct {
	uint32_t spi;           /* host order */
	bool out;
	uint32_t reqid;
	host_t *src, *dst;      /* with the UDP ports when encapsulated */
	chunk_t key;            /* AES key and 4-byte salt */
	uint64_t soft_s, hard_s, soft_b, hard_b; /* 0: none */
	time_t added;           /* monotonic */
	bool evicted;           /* inbound: left espressod for a newer one */
} esa_t;

typedef struct {
	traffic_selector_t *src_ts, *dst_ts;
	policy_dir_t dir;
	uint32_t reqid;
	int refs;               /* charon adds one per CHILD_SA (rekeys) */
	char prefix[64];        /* outbound: the route; "" none */
	bool routed;            /* holds a reference on its tunnel */
} pol_t;

typedef struct {
	kernel_espresso_ipsec_t public;
	mutex_t *lock;
	linked_list_t *tuns, *sas, *pols;
	char path[108];
	bool flushed;           /* a dead charon's tunnels removed */
	int mon_fd;
	struct ectl_lines lines;
} private_t;

/* ---- requests ---- */

/*
 * One request: 0 done, > 0 espressod's errno (its message logged, unless
 * quiet says that errno is expected), < 0 espressod not reachable.
 * secret: the line carries a key; only its first words are logged.
 */
static int req(private_t *this, int quiet, char **body, bool secret,
			   const char *fmt, ...)
{
	char line[512], *msg = NULL;
	int code = 0, ret;
	va_list ap;

	va_start(ap, fmt);
	ret = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ret < 0 || (size_t)ret >= sizeof(line))
	{
		memwipe(line, sizeof(line));
		return EINVAL;
	}
	ret = ectl_request(this->path, line, &code, body ? body : &msg);
	if (secret)
	{	/* "sa add NAME in spi 0x..." */
		char *k = strstr(line, " key ");

		if (k)
		{
			*k = '\0';
		}
	}
	if (ret < 0)
	{
		DBG1(DBG_KNL, "espresso: %s: %s is not reachable (%s)", line,
			 this->path, strerror(-ret));
	}
	else if (code && code != quiet)
	{
		DBG1(DBG_KNL, "espresso: %s: %s", line,
			 body && *body ? *body : msg ? msg : "");
	}
	memwipe(line, sizeof(line));
	free(msg);
	return ret < 0 ? ret : code;
}

static const char *prefix_of(traffic_selector_t *ts, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	host_t *net;
	uint8_t mask;
	chunk_t c;

	buf[0] = '\0';
	if (!ts->to_subnet(ts, &net, &mask))
	{	/* a range that is no prefix: the smallest prefix around it */
		DBG1(DBG_KNL, "espresso: %R is not a prefix: routed as %H/%u", ts,
			 net, mask);
	}
	c = net->get_address(net);
	if (inet_ntop(net->get_family(net), c.ptr, a, sizeof(a)))
	{
		snprintf(buf, len, "%s/%u", a, mask);
	}
	net->destroy(net);
	return buf;
}

static const char *addr_of(host_t *h, char *buf, size_t len)
{
	chunk_t c = h->get_address(h);

	if (!inet_ntop(h->get_family(h), c.ptr, buf, len))
	{
		snprintf(buf, len, "?");
	}
	return buf;
}

/* ---- the model ---- */

static tun_t *tun_find(private_t *this, uint32_t reqid)
{
	enumerator_t *e = this->tuns->create_enumerator(this->tuns);
	tun_t *t, *found = NULL;

	while (e->enumerate(e, &t))
	{
		if (t->reqid == reqid)
		{
			found = t;
			break;
		}
	}
	e->destroy(e);
	return found;
}

static int tun_install(private_t *this, tun_t *t)
{
	char l[64], r[64];

	return req(this, EEXIST, NULL, FALSE, "tunnel add %s local %s remote %s "
			   "encap %s cipher aes-gcm-%d replay-window %u esn %s", t->name,
			   addr_of(t->local, l, sizeof(l)),
			   addr_of(t->remote, r, sizeof(r)), t->encap ? "udp" : "esp",
			   t->bits, t->window, t->esn ? "on" : "off");
}

static int route_install(private_t *this, pol_t *p, tun_t *t)
{
	return req(this, EEXIST, NULL, FALSE, "route add %s tunnel %s",
			   p->prefix, t->name);
}

static void tun_release(private_t *this, tun_t *t)
{
	if (--t->refs > 0)
	{
		return;
	}
	req(this, ENOENT, NULL, FALSE, "tunnel del %s", t->name);
	this->tuns->remove(this->tuns, t, NULL);
	t->local->destroy(t->local);
	t->remote->destroy(t->remote);
	free(t);
}

/* outbound policies of reqid that wait for their tunnel: routed now */
static void routes_for(private_t *this, tun_t *t)
{
	enumerator_t *e = this->pols->create_enumerator(this->pols);
	pol_t *p;

	while (e->enumerate(e, &p))
	{
		if (p->reqid == t->reqid && p->prefix[0] && !p->routed)
		{
			p->routed = TRUE;
			t->refs++;
			route_install(this, p, t);
		}
	}
	e->destroy(e);
}

static uint32_t window_of(uint32_t w)
{
	w = (w + 31) / 32 * 32;
	return w < 32 ? 32 : w > 4096 ? 4096 : w;
}

static int sa_count(private_t *this, uint32_t reqid)
{
	enumerator_t *e = this->sas->create_enumerator(this->sas);
	esa_t *s;
	int n = 0;

	while (e->enumerate(e, &s))
	{
		n += s->reqid == reqid;
	}
	e->destroy(e);
	return n;
}

static void tun_set(tun_t *t, host_t *local, host_t *remote, bool encap,
					int bits, bool esn, uint32_t window)
{
	DESTROY_IF(t->local);
	DESTROY_IF(t->remote);
	t->local = local->clone(local);
	t->remote = remote->clone(remote);
	t->local->set_port(t->local, 0);
	t->remote->set_port(t->remote, 0);
	t->encap = encap;
	t->bits = bits;
	t->esn = esn;
	t->window = window;
}

/* A new tunnel for reqid (model and espressod), its waiting routes added. */
static tun_t *tun_new(private_t *this, uint32_t reqid, host_t *local,
					  host_t *remote, bool encap, int bits, bool esn,
					  uint32_t window, int *ret)
{
	tun_t *t;

	INIT(t,
		.reqid = reqid,
	);
	tun_set(t, local, remote, encap, bits, esn, window);
	snprintf(t->name, sizeof(t->name), TUN_PREFIX "%u", reqid);
	*ret = tun_install(this, t);
	if (*ret > 0 && *ret != EEXIST)
	{
		t->local->destroy(t->local);
		t->remote->destroy(t->remote);
		free(t);
		return NULL;
	}
	*ret = 0;
	this->tuns->insert_last(this->tuns, t);
	routes_for(this, t);
	return t;
}

/* The tunnel of reqid for an SA like d, created (model and espressod) if
 * new. A tunnel without SAs (a trap policy's, made before IKE said the
 * cipher and the encapsulation) is made again with the SA's settings. */
static tun_t *tun_get(private_t *this, uint32_t reqid, host_t *local,
					  host_t *remote, kernel_ipsec_add_sa_t *d, int *ret)
{
	tun_t *t = tun_find(this, reqid);
	int bits = (d->enc_key.len - 4) * 8;
	uint32_t window = window_of(d->replay_window);
	enumerator_t *e;
	pol_t *p;

	*ret = 0;
	if (!t)
	{
		return tun_new(this, reqid, local, remote, d->encap, bits, d->esn,
					   window, ret);
	}
	if (t->bits == bits && t->encap == d->encap && t->esn == d->esn &&
		t->window == window && local->ip_equals(local, t->local) &&
		remote->ip_equals(remote, t->remote))
	{
		return t;
	}
	if (sa_count(this, reqid))
	{
		if (t->bits == bits && t->encap == d->encap)
		{
			return t; /* ESN or window of a rekey: the tunnel's stay */
		}
		DBG1(DBG_KNL, "espresso: tunnel %s is aes-gcm-%d encap %s: an SA "
			 "with other settings does not fit", t->name, t->bits,
			 t->encap ? "udp" : "esp");
		*ret = EINVAL;
		return NULL;
	}
	req(this, ENOENT, NULL, FALSE, "tunnel del %s", t->name);
	tun_set(t, local, remote, d->encap, bits, d->esn, window);
	*ret = tun_install(this, t);
	if (*ret > 0 && *ret != EEXIST)
	{
		return NULL;
	}
	*ret = 0;
	e = this->pols->create_enumerator(this->pols);
	while (e->enumerate(e, &p))
	{
		if (p->reqid == reqid && p->routed)
		{
			route_install(this, p, t);
		}
	}
	e->destroy(e);
	return t;
}

static esa_t *sa_find(private_t *this, uint32_t spi, host_t *dst)
{
	enumerator_t *e = this->sas->create_enumerator(this->sas);
	esa_t *s, *found = NULL;

	while (e->enumerate(e, &s))
	{
		if (s->spi == spi && (!dst || dst->ip_equals(dst, s->dst)))
		{
			found = s;
			break;
		}
	}
	e->destroy(e);
	return found;
}

/* by SPI and direction (either when dir < 0) */
static esa_t *sa_find_dir(private_t *this, uint32_t spi, int dir)
{
	enumerator_t *e = this->sas->create_enumerator(this->sas);
	esa_t *s, *found = NULL;

	while (e->enumerate(e, &s))
	{
		if (s->spi == spi && (dir < 0 || s->out == dir))
		{
			found = s;
			break;
		}
	}
	e->destroy(e);
	return found;
}

static void sa_free(esa_t *s)
{
	chunk_clear(&s->key);
	s->src->destroy(s->src);
	s->dst->destroy(s->dst);
	free(s);
}

/* espressod's lifetimes: what is left of charon's since the SA came
 * (a replay after a restart), soft strictly below hard as it wants */
static void lifetimes(esa_t *s, char *buf, size_t len)
{
	uint64_t el = time_monotonic(NULL) - s->added, soft = 0, hard = 0;
	int n = 0;

	if (s->hard_s)
	{
		hard = s->hard_s > el + 1 ? s->hard_s - el : 1;
	}
	if (s->soft_s)
	{
		soft = s->soft_s > el + 1 ? s->soft_s - el : 1;
	}
	if (hard && soft >= hard)
	{	/* charon meant a rekey before the end (whole seconds here) */
		soft = hard > 1 ? hard - 1 : 0;
	}
	buf[0] = '\0';
	if (soft)
	{
		n += snprintf(buf + n, len - n, " soft-lifetime %llu",
					  (unsigned long long)soft);
	}
	if (hard)
	{
		n += snprintf(buf + n, len - n, " hard-lifetime %llu",
					  (unsigned long long)hard);
	}
	if (s->soft_b && (!s->hard_b || s->soft_b < s->hard_b))
	{
		n += snprintf(buf + n, len - n, " soft-bytes %llu",
					  (unsigned long long)s->soft_b);
	}
	if (s->hard_b)
	{
		snprintf(buf + n, len - n, " hard-bytes %llu",
				 (unsigned long long)s->hard_b);
	}
}

/* quiet: an errno espressod may answer that the caller handles */
static int sa_install(private_t *this, tun_t *t, esa_t *s, int quiet)
{
	char hex[2 * 36 + 1], life[160], a[64];
	host_t *local = s->out ? s->src : s->dst;
	host_t *remote = s->out ? s->dst : s->src;
	int ret;

	lifetimes(s, life, sizeof(life));
	chunk_to_hex(s->key, hex, FALSE);
	ret = req(this, quiet, NULL, TRUE, "sa add %s %s spi 0x%08x key %s reqid %u%s",
			  t->name, s->out ? "out" : "in", s->spi, hex, s->reqid, life);
	memwipe(hex, sizeof(hex));
	if (ret || !t->encap)
	{
		return ret;
	}
	/* ports other than 4500 (a NAT on the way): the packets carry them */
	if (local->get_port(local) != NATT_PORT ||
		remote->get_port(remote) != NATT_PORT)
	{
		ret = req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s sport %u "
				  "dport %u", s->spi, addr_of(remote, a, sizeof(a)),
				  local->get_port(local), remote->get_port(remote));
	}
	return ret;
}

/*
 * An inbound SA when the tunnel has MAX_IN already: charon keeps the
 * inbound SA of a rekeyed CHILD_SA a while (delete_rekeyed_delay) for late
 * packets, and short rekey times pile them up. The oldest makes room: the
 * peer has not used it since at least the rekey after it.
 */
static int sa_install_in(private_t *this, tun_t *t, esa_t *s)
{
	enumerator_t *e;
	esa_t *o, *old = NULL;
	int ret = sa_install(this, t, s, s->out ? 0 : ENOSPC);

	if (ret != ENOSPC || s->out)
	{
		return ret;
	}
	e = this->sas->create_enumerator(this->sas);
	while (e->enumerate(e, &o))
	{
		if (!o->out && !o->evicted && o->reqid == s->reqid && o != s)
		{
			old = o;
			break;
		}
	}
	e->destroy(e);
	if (!old)
	{
		DBG1(DBG_KNL, "espresso: sa add %s in spi 0x%08x: tunnel full",
			 t->name, s->spi);
		return ret;
	}
	DBG1(DBG_KNL, "espresso: tunnel %s has %d inbound SAs: SA 0x%08x (the "
		 "oldest, rekeyed) leaves for 0x%08x", t->name, MAX_IN, old->spi,
		 s->spi);
	old->evicted = TRUE;
	req(this, ENOENT, NULL, FALSE, "sa del 0x%08x in", old->spi);
	return sa_install(this, t, s, 0);
}

/* ---- espressod restarted, charon restarted ---- */

/* Tunnels named ike-* that this charon did not make: a dead charon's, with
 * keys nobody manages any more. Only when charon starts. */
static void flush_stale(private_t *this)
{
	struct json_object *a, *o, *n;
	char *body = NULL;
	size_t i;

	if (req(this, 0, &body, FALSE, "-j show tunnels"))
	{
		free(body);
		return;
	}
	this->flushed = TRUE;
	a = json_tokener_parse(body);
	free(body);
	for (i = 0; a && i < json_object_array_length(a); i++)
	{
		o = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(o, "name", &n) ||
			strncmp(json_object_get_string(n), TUN_PREFIX,
					strlen(TUN_PREFIX)))
		{
			continue;
		}
		DBG1(DBG_KNL, "espresso: removing tunnel %s of an earlier charon",
			 json_object_get_string(n));
		req(this, ENOENT, NULL, FALSE, "tunnel del %s",
			json_object_get_string(n));
	}
	json_object_put(a);
}

/* s is the last outbound SA of its reqid that charon added */
static bool newest_out(private_t *this, esa_t *s)
{
	enumerator_t *e = this->sas->create_enumerator(this->sas);
	esa_t *o;
	bool after = FALSE, newest = TRUE;

	while (e->enumerate(e, &o))
	{
		if (o == s)
		{
			after = TRUE;
		}
		else if (after && o->out && o->reqid == s->reqid)
		{
			newest = FALSE;
		}
	}
	e->destroy(e);
	return newest;
}

/* Before charon's first change: the dead charon's tunnels go first, so
 * they never take this one's (the monitor job does it too, at once). */
static void ensure_flushed(private_t *this)
{
	if (!this->flushed)
	{
		flush_stale(this);
	}
}

/* espressod is back: everything charon installed, in the order it did */
static void replay(private_t *this)
{
	enumerator_t *e;
	tun_t *t;
	esa_t *s;
	pol_t *p;
	int n = 0;

	e = this->tuns->create_enumerator(this->tuns);
	while (e->enumerate(e, &t))
	{
		tun_install(this, t);
	}
	e->destroy(e);
	e = this->sas->create_enumerator(this->sas);
	while (e->enumerate(e, &s))
	{
		t = tun_find(this, s->reqid);
		/* an outbound SA that a newer one replaced stays out: espressod
		 * retired its sequence numbers, it would start them again */
		if (t && (s->out ? newest_out(this, s) : !s->evicted) &&
			!sa_install_in(this, t, s))
		{
			n++;
		}
	}
	e->destroy(e);
	e = this->pols->create_enumerator(this->pols);
	while (e->enumerate(e, &p))
	{
		t = tun_find(this, p->reqid);
		if (p->routed && t)
		{
			route_install(this, p, t);
		}
	}
	e->destroy(e);
	if (this->sas->get_count(this->sas))
	{
		DBG1(DBG_KNL, "espresso: espressod is back: %d of %d SAs installed "
			 "again", n, this->sas->get_count(this->sas));
	}
}

/* ---- events (espressoctl monitor's lines) ---- */

/* "acquire tunnel ike-R": a packet for a trap policy's prefix; charon
 * starts IKE for reqid R */
static void on_acquire(private_t *this, uint32_t reqid)
{
	kernel_acquire_data_t data = {};
	enumerator_t *e;
	pol_t *p;

	this->lock->lock(this->lock);
	e = this->pols->create_enumerator(this->pols);
	while (e->enumerate(e, &p))
	{
		if (p->reqid == reqid && p->dir == POLICY_OUT)
		{
			data.src = p->src_ts->clone(p->src_ts);
			data.dst = p->dst_ts->clone(p->dst_ts);
			break;
		}
	}
	e->destroy(e);
	this->lock->unlock(this->lock);
	if (!data.src)
	{
		return;
	}
	charon->kernel->acquire(charon->kernel, reqid, &data);
	data.src->destroy(data.src);
	data.dst->destroy(data.dst);
}

/*
 * "expire soft|hard tunnel NAME spi 0xSPI in|out reason time|bytes"
 * "mapping tunnel NAME spi 0xSPI in old ADDR:PORT new ADDR:PORT" (NAT-T
 * peer following, espressod of the scale branch: the inbound SA's peer
 * moved; espressod sends there already, charon moves the IKE_SA too)
 */
static void on_event(private_t *this, char *line)
{
	char kind[16] = "", *tok, *save = NULL, *remote = NULL;
	uint32_t spi = 0;
	int port = 0, hard = -1, dir = -1; /* 1: out */
	bool ours = FALSE;
	host_t *dst = NULL, *to = NULL;
	bool mapping;
	esa_t *s;

	if (sscanf(line, "acquire tunnel " TUN_PREFIX "%u", &spi) == 1)
	{
		on_acquire(this, spi); /* the reqid */
		return;
	}
	mapping = !strncmp(line, "mapping ", 8);
	if (!mapping && sscanf(line, "expire %15s", kind) != 1)
	{
		return;
	}
	hard = !strcmp(kind, "hard");
	for (tok = strtok_r(line, " ", &save); tok;
		 tok = strtok_r(NULL, " ", &save))
	{
		char *v = NULL;

		if (!strcmp(tok, "in") || !strcmp(tok, "out"))
		{
			dir = !strcmp(tok, "out");
			continue;
		}
		if (!strcmp(tok, "spi") || !strcmp(tok, "new") ||
			!strcmp(tok, "tunnel"))
		{
			v = strtok_r(NULL, " ", &save);
		}
		if (!v)
		{
			continue;
		}
		if (!strcmp(tok, "tunnel"))
		{	/* a tunnel of the config or espressoctl: not charon's */
			ours = !strncmp(v, TUN_PREFIX, strlen(TUN_PREFIX));
		}
		else if (!strcmp(tok, "spi"))
		{
			spi = strtoul(v, NULL, 16);
		}
		else if (!strcmp(tok, "new"))
		{	/* ADDR:PORT */
			char *c = strrchr(v, ':');

			if (c)
			{
				*c = '\0';
				port = atoi(c + 1);
				remote = v;
			}
		}
	}
	if (!ours)
	{
		return;
	}
	this->lock->lock(this->lock);
	s = sa_find_dir(this, spi, dir);
	if (s)
	{
		dst = s->dst->clone(s->dst);
		if (!mapping && hard)
		{	/* espressod removed it already */
			tun_t *t = tun_find(this, s->reqid);

			this->sas->remove(this->sas, s, NULL);
			sa_free(s);
			if (t)
			{
				tun_release(this, t);
			}
		}
	}
	this->lock->unlock(this->lock);
	if (!dst)
	{
		return;
	}
	/* not under our lock: charon may call back into del_sa */
	if (!mapping)
	{
		charon->kernel->expire(charon->kernel, IPPROTO_ESP, htonl(spi), dst,
							   hard);
	}
	else if (remote && (to = host_create_from_string(remote, port)))
	{
		charon->kernel->mapping(charon->kernel, IPPROTO_ESP, htonl(spi), dst,
								to);
		to->destroy(to);
	}
	dst->destroy(dst);
}

static job_requeue_t monitor_job(private_t *this)
{
	char line[1024];
	bool old;
	int ret;

	if (this->mon_fd < 0)
	{
		ret = ectl_monitor_open(this->path);
		if (ret < 0)
		{
			old = thread_cancelability(TRUE);
			usleep(RECONNECT_US);
			thread_cancelability(old);
			return JOB_REQUEUE_FAIR;
		}
		this->lock->lock(this->lock);
		this->mon_fd = ret;
		this->lines.len = 0;
		if (!this->flushed)
		{
			flush_stale(this);
		}
		replay(this);
		this->lock->unlock(this->lock);
	}
	old = thread_cancelability(TRUE);
	ret = ectl_read_line(this->mon_fd, &this->lines, line, sizeof(line));
	thread_cancelability(old);
	if (ret)
	{
		DBG1(DBG_KNL, "espresso: espressod (%s) went away: what charon "
			 "installed goes back when it returns", this->path);
		close(this->mon_fd);
		this->mon_fd = -1;
		return JOB_REQUEUE_FAIR;
	}
	on_event(this, line);
	return JOB_REQUEUE_DIRECT;
}

/* ---- kernel_ipsec_t ---- */

METHOD(kernel_ipsec_t, get_features, kernel_feature_t,
	private_t *this)
{
	return 0; /* ESP or ESP-in-UDP, as negotiated; no TFC padding */
}

METHOD(kernel_ipsec_t, get_spi, status_t,
	private_t *this, host_t *src, host_t *dst, uint8_t protocol, uint32_t *spi)
{
	char *body = NULL;
	unsigned long v;
	int ret;

	if (protocol != IPPROTO_ESP)
	{
		return NOT_SUPPORTED;
	}
	this->lock->lock(this->lock);
	ensure_flushed(this);
	ret = req(this, 0, &body, FALSE, "sa alloc");
	this->lock->unlock(this->lock);
	if (ret || !body || (v = strtoul(body, NULL, 16)) < 0x100 ||
		v > 0xffffffffUL)
	{
		free(body);
		return FAILED;
	}
	free(body);
	*spi = htonl((uint32_t)v);
	DBG2(DBG_KNL, "espresso: SPI 0x%08lx for %H === %H", v, src, dst);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, get_cpi, status_t,
	private_t *this, host_t *src, host_t *dst, uint16_t *cpi)
{
	return NOT_SUPPORTED;
}

METHOD(kernel_ipsec_t, add_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_add_sa_t *d)
{
	host_t *local = d->inbound ? id->dst : id->src;
	host_t *remote = d->inbound ? id->src : id->dst;
	lifetime_cfg_t *lt = d->lifetime;
	esa_t *s;
	tun_t *t;
	int ret;

	if (id->proto != IPPROTO_ESP || d->mode != MODE_TUNNEL ||
		d->ipcomp != IPCOMP_NONE || local->get_family(local) != AF_INET)
	{
		DBG1(DBG_KNL, "espresso: only ESP in tunnel mode over IPv4, no "
			 "IPComp (SA 0x%08x: %N)", ntohl(id->spi), ipsec_mode_names,
			 d->mode);
		return NOT_SUPPORTED;
	}
	if (d->enc_alg != ENCR_AES_GCM_ICV16 || d->int_alg != AUTH_UNDEFINED ||
		(d->enc_key.len != 20 && d->enc_key.len != 36))
	{
		DBG1(DBG_KNL, "espresso: %N (key %u bytes) is not AES-GCM-128/256 "
			 "with a 16-byte ICV: use esp_proposals = aes256gcm16 or "
			 "aes128gcm16", encryption_algorithm_names, d->enc_alg,
			 d->enc_key.len);
		return NOT_SUPPORTED;
	}
	if (lt->packets.rekey || lt->packets.life)
	{
		DBG1(DBG_KNL, "espresso: packet limits are not enforced (time and "
			 "bytes are)");
	}
	INIT(s,
		.spi = ntohl(id->spi),
		.out = !d->inbound,
		.reqid = d->reqid,
		.src = id->src->clone(id->src),
		.dst = id->dst->clone(id->dst),
		.key = chunk_clone(d->enc_key),
		.soft_s = lt->time.rekey,
		.hard_s = lt->time.life,
		.soft_b = lt->bytes.rekey,
		.hard_b = lt->bytes.life,
		.added = time_monotonic(NULL),
	);
	this->lock->lock(this->lock);
	ensure_flushed(this);
	t = tun_get(this, d->reqid, local, remote, d, &ret);
	if (!t)
	{
		this->lock->unlock(this->lock);
		sa_free(s);
		return FAILED;
	}
	t->refs++;
	ret = sa_install_in(this, t, s);
	if (ret > 0)
	{
		tun_release(this, t);
		this->lock->unlock(this->lock);
		sa_free(s);
		return FAILED;
	}
	this->sas->insert_last(this->sas, s);
	this->lock->unlock(this->lock);
	DBG2(DBG_KNL, "espresso: SA 0x%08x %s of tunnel " TUN_PREFIX "%u "
		 "(key %u bytes)", s->spi, s->out ? "out" : "in", d->reqid,
		 d->enc_key.len);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, update_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_update_sa_t *d)
{
	host_t *local, *remote;
	char a[64];
	esa_t *s;
	tun_t *t;
	int ret = 0;

	this->lock->lock(this->lock);
	s = sa_find(this, ntohl(id->spi), id->dst);
	if (!s)
	{
		this->lock->unlock(this->lock);
		return NOT_FOUND;
	}
	s->src->destroy(s->src);
	s->dst->destroy(s->dst);
	s->src = d->new_src->clone(d->new_src);
	s->dst = d->new_dst->clone(d->new_dst);
	local = s->out ? s->src : s->dst;
	remote = s->out ? s->dst : s->src;
	t = tun_find(this, s->reqid);
	if (t && t->encap)
	{
		ret = req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s sport %u "
				  "dport %u", s->spi, addr_of(remote, a, sizeof(a)),
				  local->get_port(local), remote->get_port(remote));
	}
	else if (t)
	{
		ret = req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s", s->spi,
				  addr_of(remote, a, sizeof(a)));
	}
	this->lock->unlock(this->lock);
	return ret > 0 ? FAILED : SUCCESS;
}

/* "packets N, bytes N, idle_ms N" of one SA from show sa's JSON */
static status_t query(private_t *this, esa_t *s, uint64_t *bytes,
					  uint64_t *packets, time_t *time)
{
	struct json_object *a, *o, *v;
	char *body = NULL, spi[16];
	status_t st = NOT_FOUND;
	size_t i;

	if (req(this, 0, &body, FALSE, "-j show sa"))
	{
		free(body);
		return FAILED;
	}
	a = json_tokener_parse(body);
	free(body);
	snprintf(spi, sizeof(spi), "0x%08x", s->spi);
	for (i = 0; a && i < json_object_array_length(a); i++)
	{
		o = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(o, "spi", &v) ||
			strcmp(json_object_get_string(v), spi) ||
			!json_object_object_get_ex(o, "dir", &v) ||
			strcmp(json_object_get_string(v), s->out ? "out" : "in"))
		{
			continue;
		}
		if (bytes)
		{
			*bytes = json_object_object_get_ex(o, "bytes", &v) ?
					 json_object_get_uint64(v) : 0;
		}
		if (packets)
		{
			*packets = json_object_object_get_ex(o, "packets", &v) ?
					   json_object_get_uint64(v) : 0;
		}
		if (time)
		{	/* charon's clock is the monotonic one, in seconds */
			*time = json_object_object_get_ex(o, "idle_ms", &v) ?
					time_monotonic(NULL) - json_object_get_uint64(v) / 1000 :
					0;
		}
		st = SUCCESS;
		break;
	}
	json_object_put(a);
	return st;
}

METHOD(kernel_ipsec_t, query_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_query_sa_t *d,
	uint64_t *bytes, uint64_t *packets, time_t *time)
{
	status_t st = NOT_FOUND;
	esa_t *s;

	this->lock->lock(this->lock);
	s = sa_find(this, ntohl(id->spi), id->dst);
	if (s)
	{
		st = query(this, s, bytes, packets, time);
	}
	this->lock->unlock(this->lock);
	return st;
}

static void sa_remove(private_t *this, esa_t *s)
{
	tun_t *t = tun_find(this, s->reqid);

	/* ENOENT: an outbound SA that a newer one replaced already */
	req(this, ENOENT, NULL, FALSE, "sa del 0x%08x %s", s->spi,
		s->out ? "out" : "in");
	this->sas->remove(this->sas, s, NULL);
	sa_free(s);
	if (t)
	{
		tun_release(this, t);
	}
}

METHOD(kernel_ipsec_t, del_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_del_sa_t *d)
{
	esa_t *s;

	this->lock->lock(this->lock);
	s = sa_find(this, ntohl(id->spi), id->dst);
	if (!s)
	{
		this->lock->unlock(this->lock);
		return NOT_FOUND;
	}
	sa_remove(this, s);
	this->lock->unlock(this->lock);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, flush_sas, status_t,
	private_t *this)
{
	esa_t *s;

	this->lock->lock(this->lock);
	while (this->sas->get_first(this->sas, (void**)&s) == SUCCESS)
	{
		sa_remove(this, s);
	}
	this->lock->unlock(this->lock);
	return SUCCESS;
}

static pol_t *pol_find(private_t *this, kernel_ipsec_policy_id_t *id)
{
	enumerator_t *e = this->pols->create_enumerator(this->pols);
	pol_t *p, *found = NULL;

	while (e->enumerate(e, &p))
	{
		if (p->dir == id->dir && p->src_ts->equals(p->src_ts, id->src_ts) &&
			p->dst_ts->equals(p->dst_ts, id->dst_ts))
		{
			found = p;
			break;
		}
	}
	e->destroy(e);
	return found;
}

METHOD(kernel_ipsec_t, add_policy, status_t,
	private_t *this, kernel_ipsec_policy_id_t *id,
	kernel_ipsec_manage_policy_t *d)
{
	pol_t *p;
	tun_t *t;

	if (d->type != POLICY_IPSEC)
	{	/* pass/drop (shunts): the kernel's routes and firewall decide */
		DBG1(DBG_KNL, "espresso: %s policy %R === %R not enforced",
			 d->type == POLICY_PASS ? "pass" : "drop", id->src_ts,
			 id->dst_ts);
		return SUCCESS;
	}
	this->lock->lock(this->lock);
	ensure_flushed(this);
	p = pol_find(this, id);
	if (p)
	{
		p->refs++;
		this->lock->unlock(this->lock);
		return SUCCESS;
	}
	INIT(p,
		.src_ts = id->src_ts->clone(id->src_ts),
		.dst_ts = id->dst_ts->clone(id->dst_ts),
		.dir = id->dir,
		.reqid = d->sa->reqid,
		.refs = 1,
	);
	if (id->dir == POLICY_OUT)
	{
		if (id->dst_ts->get_protocol(id->dst_ts) ||
			id->src_ts->get_protocol(id->src_ts))
		{
			DBG1(DBG_KNL, "espresso: %R === %R: protocol and ports are not "
				 "enforced, the whole prefix goes through the tunnel",
				 id->src_ts, id->dst_ts);
		}
		prefix_of(id->dst_ts, p->prefix, sizeof(p->prefix));
	}
	this->pols->insert_last(this->pols, p);
	if (id->dir == POLICY_OUT)
	{
		int ret;

		t = tun_find(this, p->reqid);
		if (t)
		{
			p->routed = TRUE;
			t->refs++;
			route_install(this, p, t);
		}
		else if (!d->src->is_anyaddr(d->src) && !d->dst->is_anyaddr(d->dst))
		{	/* a trap policy: a tunnel without SAs takes the prefix, and its
			 * first packet raises espressod's "acquire" (AES-GCM-256 and
			 * raw ESP until the SA says otherwise) */
			tun_new(this, p->reqid, d->src, d->dst, FALSE, 256, TRUE, 64,
					&ret);
		}
		else
		{
			DBG1(DBG_KNL, "espresso: %R === %R has no SA and no peer address "
				 "yet: routed once it has", id->src_ts, id->dst_ts);
		}
	}
	this->lock->unlock(this->lock);
	return SUCCESS;
}

/* seconds since tunnel NAME's last packet in (or out), as charon's clock */
static status_t tunnel_use(private_t *this, const char *name, bool out,
						   time_t *use)
{
	struct json_object *a, *o, *v;
	char *body = NULL;
	status_t st = NOT_FOUND;
	size_t i;

	if (req(this, 0, &body, FALSE, "-j show tunnels"))
	{
		free(body);
		return FAILED;
	}
	a = json_tokener_parse(body);
	free(body);
	for (i = 0; a && i < json_object_array_length(a); i++)
	{
		o = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(o, "name", &v) ||
			strcmp(json_object_get_string(v), name))
		{
			continue;
		}
		*use = json_object_object_get_ex(o, out ? "last_out_ms" :
										 "last_in_ms", &v) ?
			   time_monotonic(NULL) - json_object_get_uint64(v) / 1000 : 0;
		st = SUCCESS;
		break;
	}
	json_object_put(a);
	return st;
}

METHOD(kernel_ipsec_t, query_policy, status_t,
	private_t *this, kernel_ipsec_policy_id_t *id,
	kernel_ipsec_query_policy_t *d, time_t *use_time)
{
	status_t st = NOT_FOUND;
	char name[32];
	pol_t *p;

	this->lock->lock(this->lock);
	p = pol_find(this, id);
	if (p)
	{
		snprintf(name, sizeof(name), TUN_PREFIX "%u", p->reqid);
		st = tunnel_use(this, name, id->dir == POLICY_OUT, use_time);
	}
	this->lock->unlock(this->lock);
	return st;
}

static void pol_free(pol_t *p)
{
	p->src_ts->destroy(p->src_ts);
	p->dst_ts->destroy(p->dst_ts);
	free(p);
}

METHOD(kernel_ipsec_t, del_policy, status_t,
	private_t *this, kernel_ipsec_policy_id_t *id,
	kernel_ipsec_manage_policy_t *d)
{
	pol_t *p;
	tun_t *t;

	if (d->type != POLICY_IPSEC)
	{
		return SUCCESS;
	}
	this->lock->lock(this->lock);
	p = pol_find(this, id);
	if (!p)
	{
		this->lock->unlock(this->lock);
		return NOT_FOUND;
	}
	if (--p->refs == 0)
	{
		this->pols->remove(this->pols, p, NULL);
		t = tun_find(this, p->reqid);
		if (p->routed)
		{
			req(this, ENOENT, NULL, FALSE, "route del %s", p->prefix);
			if (t)
			{
				tun_release(this, t);
			}
		}
		pol_free(p);
	}
	this->lock->unlock(this->lock);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, flush_policies, status_t,
	private_t *this)
{
	pol_t *p;
	tun_t *t;

	this->lock->lock(this->lock);
	while (this->pols->remove_first(this->pols, (void**)&p) == SUCCESS)
	{
		t = tun_find(this, p->reqid);
		if (p->routed)
		{
			req(this, ENOENT, NULL, FALSE, "route del %s", p->prefix);
			if (t)
			{
				tun_release(this, t);
			}
		}
		pol_free(p);
	}
	this->lock->unlock(this->lock);
	return SUCCESS;
}

/* IKE stays in the kernel: the XDP program passes UDP 500 and 4500 with
 * the non-ESP marker, and espresso has no policies a socket could hit */
METHOD(kernel_ipsec_t, bypass_socket, bool,
	private_t *this, int fd, int family)
{
	return TRUE;
}

METHOD(kernel_ipsec_t, enable_udp_decap, bool,
	private_t *this, int fd, int family, uint16_t port)
{
	return TRUE; /* ESP-in-UDP with a known SPI never reaches the socket */
}

METHOD(kernel_ipsec_t, destroy, void,
	private_t *this)
{
	esa_t *s;
	tun_t *t;
	pol_t *p;

	/* charon stops: what it keyed goes with it (never left to carry
	 * traffic with keys nobody manages) */
	flush_policies(this);
	flush_sas(this);
	while (this->sas->remove_first(this->sas, (void**)&s) == SUCCESS)
	{
		sa_free(s);
	}
	while (this->pols->remove_first(this->pols, (void**)&p) == SUCCESS)
	{
		pol_free(p);
	}
	while (this->tuns->remove_first(this->tuns, (void**)&t) == SUCCESS)
	{
		t->local->destroy(t->local);
		t->remote->destroy(t->remote);
		free(t);
	}
	this->sas->destroy(this->sas);
	this->pols->destroy(this->pols);
	this->tuns->destroy(this->tuns);
	if (this->mon_fd >= 0)
	{
		close(this->mon_fd);
	}
	this->lock->destroy(this->lock);
	free(this);
}

kernel_espresso_ipsec_t *kernel_espresso_ipsec_create(void)
{
	private_t *this;
	char *sock, *inst;

	INIT(this,
		.public = {
			.interface = {
				.get_features = _get_features,
				.get_spi = _get_spi,
				.get_cpi = _get_cpi,
				.add_sa = _add_sa,
				.update_sa = _update_sa,
				.query_sa = _query_sa,
				.del_sa = _del_sa,
				.flush_sas = _flush_sas,
				.add_policy = _add_policy,
				.query_policy = _query_policy,
				.del_policy = _del_policy,
				.flush_policies = _flush_policies,
				.bypass_socket = _bypass_socket,
				.enable_udp_decap = _enable_udp_decap,
				.destroy = _destroy,
			},
		},
		.lock = mutex_create(MUTEX_TYPE_DEFAULT),
		.tuns = linked_list_create(),
		.sas = linked_list_create(),
		.pols = linked_list_create(),
		.mon_fd = -1,
	);
	inst = lib->settings->get_str(lib->settings,
				"%s.plugins.kernel-espresso.instance", "espresso", lib->ns);
	sock = lib->settings->get_str(lib->settings,
				"%s.plugins.kernel-espresso.socket", NULL, lib->ns);
	if (sock)
	{
		snprintf(this->path, sizeof(this->path), "%s", sock);
	}
	else
	{
		snprintf(this->path, sizeof(this->path), "/run/espresso/%s.sock",
				 inst);
	}
	DBG1(DBG_KNL, "espresso: IPsec backend is espressod at %s (built "
		 "against strongSwan " VERSION ")", this->path);
	lib->processor->queue_job(lib->processor,
		(job_t*)callback_job_create_with_prio((callback_job_cb_t)monitor_job,
			this, NULL, (callback_job_cancel_t)return_false,
			JOB_PRIO_CRITICAL));
	return &this->public;
}
