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
#include "kernel_espresso_state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <threading/thread.h>

/* ---- kernel_ipsec_t ---- */

METHOD(kernel_ipsec_t, get_features, kernel_feature_t,
	private_t *this)
{
	/* ESP or ESP-in-UDP, as negotiated; no TFC padding. Policies are
	 * routes into the tunnel of their reqid, whatever its addresses: an
	 * update_sa needs them neither removed nor added again (that would
	 * take the route away for a moment) */
	return KERNEL_NO_POLICY_UPDATES;
}

/* a random SPI >= 0x100, network order */
static status_t spi_here(uint32_t *spi)
{
	rng_t *rng = lib->crypto->create_rng(lib->crypto, RNG_WEAK);
	uint32_t v = 0;
	int i;

	if (!rng)
	{
		return FAILED;
	}
	for (i = 0; i < 16 && v < 0x100; i++)
	{
		if (!rng->get_bytes(rng, sizeof(v), (uint8_t*)&v))
		{
			v = 0;
			break;
		}
	}
	rng->destroy(rng);
	if (v < 0x100)
	{
		return FAILED;
	}
	*spi = htonl(v);
	DBG1(DBG_KNL, "espresso: espressod not reachable: SPI 0x%08x chosen here",
		 v);
	return SUCCESS;
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
	ke_ensure_flushed(this);
	ret = ke_req(this, 0, &body, FALSE, "sa alloc");
	this->lock->unlock(this->lock);
	if (ret < 0)
	{	/* espressod is away (restarting): a random SPI of our own, so
		 * charon's exchange goes on; the SA goes in with the rest when
		 * espressod is back (and is refused if that SPI got taken) */
		free(body);
		return spi_here(spi);
	}
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

	ke_cipher_t cipher;

	if (id->proto != IPPROTO_ESP || d->mode != MODE_TUNNEL ||
		d->ipcomp != IPCOMP_NONE ||
		local->get_family(local) != remote->get_family(remote))
	{
		DBG1(DBG_KNL, "espresso: only ESP in tunnel mode, no IPComp, both "
			 "ends IPv4 or both IPv6 (SA 0x%08x: %N)", ntohl(id->spi),
			 ipsec_mode_names, d->mode);
		return NOT_SUPPORTED;
	}
	if (d->int_alg != AUTH_UNDEFINED ||
		!ke_cipher_of(d->enc_alg, d->enc_key.len, &cipher))
	{
		DBG1(DBG_KNL, "espresso: %N (key %u bytes) is not AES-GCM-128/256 "
			 "with a 16-byte ICV nor ChaCha20-Poly1305: use esp_proposals = "
			 "aes256gcm16, aes128gcm16 or chacha20poly1305",
			 encryption_algorithm_names, d->enc_alg, d->enc_key.len);
		return NOT_SUPPORTED;
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
		.soft_p = lt->packets.rekey,
		.hard_p = lt->packets.life,
		.added = time_monotonic(NULL),
	);
	ke_child_name(d->reqid, s->child, sizeof(s->child));
	this->lock->lock(this->lock);
	ke_ensure_flushed(this);
	t = ke_tun_get(this, d->reqid, local, remote, d, &ret);
	if (!t)
	{
		this->lock->unlock(this->lock);
		ke_sa_free(s);
		return FAILED;
	}
	t->refs++;
	ret = ke_sa_install_in(this, t, s);
	if (ret > 0)
	{
		ke_tun_release(this, t);
		this->lock->unlock(this->lock);
		ke_sa_free(s);
		return FAILED;
	}
	this->sas->insert_last(this->sas, s);
	this->lock->unlock(this->lock);
	DBG2(DBG_KNL, "espresso: SA 0x%08x %s of tunnel " TUN_PREFIX "%u "
		 "(key %u bytes)", s->spi, s->out ? "out" : "in", d->reqid,
		 d->enc_key.len);
	return SUCCESS;
}

/*
 * A new peer address or new ports (NAT mapping change, MOBIKE). When
 * espressod followed the peer itself (NAT-T, its "mapping" event, which
 * made charon call this), the model moved with it and there is nothing to
 * send: the same place again is a no-op, so espressod's own following and
 * charon's update never undo each other. espressod's "sa update" moves the
 * remote end of a tunnel, IPv4 or IPv6, within its family: a new local
 * address, or a move to the other family, is NOT_SUPPORTED (charon then
 * rekeys the CHILD_SA; its tunnel, with the SAs that it still holds, stays
 * where it was).
 */
METHOD(kernel_ipsec_t, update_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_update_sa_t *d)
{
	host_t *local, *remote, *new_local, *new_remote;
	char a[64];
	esa_t *s;
	tun_t *t;
	int ret = 0;

	this->lock->lock(this->lock);
	s = ke_sa_find(this, ntohl(id->spi), id->dst);
	if (!s)
	{	/* an outbound SA the model moved already (espressod followed) */
		s = ke_sa_find(this, ntohl(id->spi), d->new_dst);
	}
	if (!s)
	{
		this->lock->unlock(this->lock);
		return NOT_FOUND;
	}
	local = s->out ? s->src : s->dst;
	remote = s->out ? s->dst : s->src;
	new_local = s->out ? d->new_src : d->new_dst;
	new_remote = s->out ? d->new_dst : d->new_src;
	t = ke_tun_find(this, s->reqid);
	if (local->equals(local, new_local) && remote->equals(remote, new_remote))
	{
		this->lock->unlock(this->lock);
		DBG2(DBG_KNL, "espresso: SA 0x%08x is at %#H already", s->spi,
			 new_remote);
		return SUCCESS;
	}
	if (!local->ip_equals(local, new_local) ||
		new_remote->get_family(new_remote) != local->get_family(local))
	{	/* "sa update" moves the remote end, IPv4 or IPv6 */
		this->lock->unlock(this->lock);
		DBG1(DBG_KNL, "espresso: SA 0x%08x: %#H === %#H to %#H === %#H: "
			 "espressod moves the remote end of a tunnel only, within "
			 "its address family", s->spi, local, remote, new_local,
			 new_remote);
		return NOT_SUPPORTED;
	}
	if (t && t->encap)
	{
		ret = ke_req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s sport %u "
				  "dport %u", s->spi, ke_addr_of(new_remote, a, sizeof(a)),
				  new_local->get_port(new_local),
				  new_remote->get_port(new_remote));
	}
	else if (t)
	{
		ret = ke_req(this, 0, NULL, FALSE, "sa update 0x%08x remote %s", s->spi,
				  ke_addr_of(new_remote, a, sizeof(a)));
	}
	if (ret <= 0)
	{	/* done, or espressod away: the replay sends it there */
		s->src->destroy(s->src);
		s->dst->destroy(s->dst);
		s->src = d->new_src->clone(d->new_src);
		s->dst = d->new_dst->clone(d->new_dst);
		if (t && s->out)
		{
			t->remote->destroy(t->remote);
			t->remote = new_remote->clone(new_remote);
			t->remote->set_port(t->remote, 0);
		}
	}
	this->lock->unlock(this->lock);
	return ret > 0 ? FAILED : SUCCESS;
}

METHOD(kernel_ipsec_t, query_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_query_sa_t *d,
	uint64_t *bytes, uint64_t *packets, time_t *time)
{
	status_t st = NOT_FOUND;
	esa_t *s;

	this->lock->lock(this->lock);
	s = ke_sa_find(this, ntohl(id->spi), id->dst);
	if (s)
	{
		st = ke_query_sa(this, s->spi, s->out, bytes, packets, time);
	}
	this->lock->unlock(this->lock);
	return st;
}

static void sa_remove(private_t *this, esa_t *s)
{
	tun_t *t = ke_tun_find(this, s->reqid);

	/* ENOENT: an outbound SA that a newer one replaced already */
	ke_req(this, ENOENT, NULL, FALSE, "sa del 0x%08x %s", s->spi,
		s->out ? "out" : "in");
	this->sas->remove(this->sas, s, NULL);
	ke_sa_free(s);
	if (t)
	{
		ke_tun_release(this, t);
	}
}

METHOD(kernel_ipsec_t, del_sa, status_t,
	private_t *this, kernel_ipsec_sa_id_t *id, kernel_ipsec_del_sa_t *d)
{
	esa_t *s;

	this->lock->lock(this->lock);
	s = ke_sa_find(this, ntohl(id->spi), id->dst);
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
	ke_ensure_flushed(this);
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
		ke_prefix_of(id->dst_ts, p->prefix, sizeof(p->prefix));
	}
	this->pols->insert_last(this->pols, p);
	if (id->dir == POLICY_OUT)
	{
		int ret;

		t = ke_tun_find(this, p->reqid);
		if (t)
		{
			p->routed = TRUE;
			t->refs++;
			ke_route_install(this, p, t);
		}
		else if (!d->src->is_anyaddr(d->src) && !d->dst->is_anyaddr(d->dst))
		{	/* a trap policy: a tunnel without SAs takes the prefix, and its
			 * first packet raises espressod's "acquire" (AES-GCM-256 and
			 * raw ESP until the SA says otherwise) */
			ke_tun_new(this, p->reqid, d->src, d->dst, FALSE, KE_AES_GCM_256,
					   TRUE, 64, &ret);
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
		st = ke_query_tunnel(this, name, id->dir == POLICY_OUT, use_time);
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
		t = ke_tun_find(this, p->reqid);
		if (p->routed)
		{
			ke_req(this, ENOENT, NULL, FALSE, "route del %s", p->prefix);
			if (t)
			{
				ke_tun_release(this, t);
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
		t = ke_tun_find(this, p->reqid);
		if (p->routed)
		{
			ke_req(this, ENOENT, NULL, FALSE, "route del %s", p->prefix);
			if (t)
			{
				ke_tun_release(this, t);
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
		ke_sa_free(s);
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
	ke_query_destroy(this);
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
		(job_t*)callback_job_create_with_prio((callback_job_cb_t)ke_monitor_job,
			this, NULL, (callback_job_cancel_t)return_false,
			JOB_PRIO_CRITICAL));
	return &this->public;
}
