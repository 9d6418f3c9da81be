// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_espresso_model: the control requests, and the model of what
 * charon installed in espressod (tunnel ike-<reqid>, its SAs, the routes of
 * its outbound policies), kept in step with espressod: changed together,
 * the dead charon's tunnels flushed, everything installed again after an
 * espressod restart. Never in a log: keys, or the lines that carry them.
 */
#include "kernel_espresso_state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <threading/thread.h>

/* ---- requests ---- */

/*
 * One request: 0 done, > 0 espressod's errno (its message logged, unless
 * quiet says that errno is expected), < 0 espressod not reachable.
 * secret: the line carries a key; only its first words are logged.
 */
int ke_req(private_t *this, int quiet, char **body, bool secret,
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
	if (strncmp(line, "-j show ", 8))
	{
		this->gen++; /* a change: cached shows are old now */
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

const char *ke_prefix_of(traffic_selector_t *ts, char *buf, size_t len)
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

const char *ke_addr_of(host_t *h, char *buf, size_t len)
{
	chunk_t c = h->get_address(h);

	if (!inet_ntop(h->get_family(h), c.ptr, buf, len))
	{
		snprintf(buf, len, "?");
	}
	return buf;
}

/* espresso's cipher for charon's ESP algorithm and key (with its 4-byte
 * salt): AES-GCM with a 16-byte ICV, ChaCha20-Poly1305 (RFC 7634) */
bool ke_cipher_of(uint16_t enc_alg, size_t key_len, ke_cipher_t *c)
{
	if (enc_alg == ENCR_AES_GCM_ICV16 && key_len == 16 + 4)
	{
		*c = KE_AES_GCM_128;
	}
	else if (enc_alg == ENCR_AES_GCM_ICV16 && key_len == 32 + 4)
	{
		*c = KE_AES_GCM_256;
	}
	else if (enc_alg == ENCR_CHACHA20_POLY1305 && key_len == 32 + 4)
	{
		*c = KE_CHACHA20_POLY1305;
	}
	else
	{
		return FALSE;
	}
	return TRUE;
}

const char *ke_cipher_name(ke_cipher_t c)
{
	return c == KE_AES_GCM_128 ? "aes-gcm-128" :
		   c == KE_AES_GCM_256 ? "aes-gcm-256" : "chacha20-poly1305";
}

/* ---- the model ---- */

tun_t *ke_tun_find(private_t *this, uint32_t reqid)
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

	return ke_req(this, EEXIST, NULL, FALSE, "tunnel add %s local %s remote %s "
			   "encap %s cipher %s replay-window %u esn %s", t->name,
			   ke_addr_of(t->local, l, sizeof(l)),
			   ke_addr_of(t->remote, r, sizeof(r)), t->encap ? "udp" : "esp",
			   ke_cipher_name(t->cipher), t->window, t->esn ? "on" : "off");
}

int ke_route_install(private_t *this, pol_t *p, tun_t *t)
{
	return ke_req(this, EEXIST, NULL, FALSE, "route add %s tunnel %s",
			   p->prefix, t->name);
}

void ke_tun_release(private_t *this, tun_t *t)
{
	if (--t->refs > 0)
	{
		return;
	}
	ke_req(this, ENOENT, NULL, FALSE, "tunnel del %s", t->name);
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
			ke_route_install(this, p, t);
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
					ke_cipher_t cipher, bool esn, uint32_t window)
{
	DESTROY_IF(t->local);
	DESTROY_IF(t->remote);
	t->local = local->clone(local);
	t->remote = remote->clone(remote);
	t->local->set_port(t->local, 0);
	t->remote->set_port(t->remote, 0);
	t->encap = encap;
	t->cipher = cipher;
	t->esn = esn;
	t->window = window;
}

/* A new tunnel for reqid (model and espressod), its waiting routes added. */
tun_t *ke_tun_new(private_t *this, uint32_t reqid, host_t *local,
					  host_t *remote, bool encap, ke_cipher_t cipher,
					  bool esn, uint32_t window, int *ret)
{
	tun_t *t;

	INIT(t,
		.reqid = reqid,
	);
	tun_set(t, local, remote, encap, cipher, esn, window);
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
tun_t *ke_tun_get(private_t *this, uint32_t reqid, host_t *local,
					  host_t *remote, kernel_ipsec_add_sa_t *d, int *ret)
{
	tun_t *t = ke_tun_find(this, reqid);
	uint32_t window = window_of(d->replay_window);
	enumerator_t *e;
	pol_t *p;

	ke_cipher_t cipher;

	*ret = 0;
	if (!ke_cipher_of(d->enc_alg, d->enc_key.len, &cipher))
	{	/* add_sa checked it */
		*ret = EINVAL;
		return NULL;
	}
	if (!t)
	{
		return ke_tun_new(this, reqid, local, remote, d->encap, cipher,
						  d->esn, window, ret);
	}
	if (t->cipher == cipher && t->encap == d->encap && t->esn == d->esn &&
		t->window == window && local->ip_equals(local, t->local) &&
		remote->ip_equals(remote, t->remote))
	{
		return t;
	}
	if (sa_count(this, reqid))
	{
		if (t->cipher == cipher && t->encap == d->encap)
		{
			return t; /* ESN or window of a rekey: the tunnel's stay */
		}
		DBG1(DBG_KNL, "espresso: tunnel %s is %s encap %s: an SA "
			 "with other settings (%s) does not fit", t->name,
			 ke_cipher_name(t->cipher), t->encap ? "udp" : "esp",
			 ke_cipher_name(cipher));
		*ret = EINVAL;
		return NULL;
	}
	ke_req(this, ENOENT, NULL, FALSE, "tunnel del %s", t->name);
	tun_set(t, local, remote, d->encap, cipher, d->esn, window);
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
			ke_route_install(this, p, t);
		}
	}
	e->destroy(e);
	return t;
}

esa_t *ke_sa_find(private_t *this, uint32_t spi, host_t *dst)
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
esa_t *ke_sa_find_dir(private_t *this, uint32_t spi, int dir)
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

void ke_sa_free(esa_t *s)
{
	chunk_clear(&s->key);
	s->src->destroy(s->src);
	s->dst->destroy(s->dst);
	free(s);
}

/*
 * espressod followed the peer of tunnel t to remote (address and port:
 * NAT-T, its "mapping" event): so does the model, for every SA of the
 * tunnel as espressod did, so that charon's update_sa to the same place is
 * a no-op and a replay after an espressod restart sends there.
 */
void ke_peer_moved(private_t *this, tun_t *t, host_t *remote)
{
	enumerator_t *e = this->sas->create_enumerator(this->sas);
	esa_t *s;

	while (e->enumerate(e, &s))
	{
		if (s->reqid != t->reqid)
		{
			continue;
		}
		if (s->out)
		{
			s->dst->destroy(s->dst);
			s->dst = remote->clone(remote);
		}
		else
		{
			s->src->destroy(s->src);
			s->src = remote->clone(remote);
		}
	}
	e->destroy(e);
	t->remote->destroy(t->remote);
	t->remote = remote->clone(remote);
	t->remote->set_port(t->remote, 0);
}

/* " soft-WHAT S hard-WHAT H" after n bytes of buf: a count limit (bytes,
 * packets; 0 none), the soft one only below the hard one as espressod
 * wants. Returns the new length (at most len - 1). */
static int count_limits(char *buf, size_t len, int n, const char *what,
						uint64_t soft, uint64_t hard)
{
	if (soft && (!hard || soft < hard) && (size_t)n < len)
	{
		n += snprintf(buf + n, len - n, " soft-%s %llu", what,
					  (unsigned long long)soft);
	}
	if (hard && (size_t)n < len)
	{
		n += snprintf(buf + n, len - n, " hard-%s %llu", what,
					  (unsigned long long)hard);
	}
	return (size_t)n < len ? n : (int)len - 1;
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
	n = count_limits(buf, len, n, "bytes", s->soft_b, s->hard_b);
	count_limits(buf, len, n, "packets", s->soft_p, s->hard_p);
}

/* quiet: an errno espressod may answer that the caller handles */
static int sa_install(private_t *this, tun_t *t, esa_t *s, int quiet)
{
	char hex[2 * 36 + 1], life[256], a[64];
	host_t *local = s->out ? s->src : s->dst;
	host_t *remote = s->out ? s->dst : s->src;
	int ret;

	lifetimes(s, life, sizeof(life));
	chunk_to_hex(s->key, hex, FALSE);
	ret = ke_req(this, quiet, NULL, TRUE, "sa add %s %s spi 0x%08x key %s "
				 "reqid %u%s%s%s", t->name, s->out ? "out" : "in", s->spi, hex,
				 s->reqid, life, s->child[0] ? " child " : "", s->child);
	memwipe(hex, sizeof(hex));
	if (ret || !t->encap)
	{
		return ret;
	}
	/* ports other than 4500 (a NAT on the way): the packets carry them */
	if (local->get_port(local) != NATT_PORT ||
		remote->get_port(remote) != NATT_PORT)
	{
		ret = ke_req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s sport %u "
				  "dport %u", s->spi, ke_addr_of(remote, a, sizeof(a)),
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
int ke_sa_install_in(private_t *this, tun_t *t, esa_t *s)
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
	ke_req(this, ENOENT, NULL, FALSE, "sa del 0x%08x in", old->spi);
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

	if (ke_req(this, 0, &body, FALSE, "-j show tunnels"))
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
		ke_req(this, ENOENT, NULL, FALSE, "tunnel del %s",
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
void ke_ensure_flushed(private_t *this)
{
	if (!this->flushed)
	{
		flush_stale(this);
	}
}

/* espressod is back: everything charon installed, in the order it did */
void ke_replay(private_t *this)
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
		t = ke_tun_find(this, s->reqid);
		/* an outbound SA that a newer one replaced stays out: espressod
		 * retired its sequence numbers, it would start them again */
		if (t && (s->out ? newest_out(this, s) : !s->evicted) &&
			!ke_sa_install_in(this, t, s))
		{
			n++;
		}
	}
	e->destroy(e);
	e = this->pols->create_enumerator(this->pols);
	while (e->enumerate(e, &p))
	{
		t = ke_tun_find(this, p->reqid);
		if (p->routed && t)
		{
			ke_route_install(this, p, t);
		}
	}
	e->destroy(e);
	if (this->sas->get_count(this->sas))
	{
		DBG1(DBG_KNL, "espresso: espressod is back: %d of %d SAs installed "
			 "again", n, this->sas->get_count(this->sas));
	}
}
