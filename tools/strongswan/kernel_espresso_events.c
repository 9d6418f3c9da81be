// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_espresso_events: espressod's monitor stream, read by a charon job:
 * expire, acquire and mapping lines become charon's kernel events; the end
 * of the stream (espressod restarted) makes the model go back in.
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
 * "expire soft|hard tunnel NAME spi 0xSPI in|out reason time|bytes|packets"
 * "mapping tunnel NAME spi 0xSPI in old ADDR:PORT new ADDR:PORT" (an IPv6
 * ADDR in brackets, [ADDR]:PORT; NAT-T
 * peer following: an authenticated ESP-in-UDP packet of the inbound SA
 * came from there; espressod sends there already, the model follows, and
 * charon moves the IKE_SA too -- its update_sa then finds nothing to do)
 */
static void on_event(private_t *this, char *line)
{
	char kind[16] = "", tunnel[32] = "", *tok, *save = NULL, *remote = NULL;
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
			snprintf(tunnel, sizeof(tunnel), "%s", v);
		}
		else if (!strcmp(tok, "spi"))
		{
			spi = strtoul(v, NULL, 16);
		}
		else if (!strcmp(tok, "new"))
		{	/* ADDR:PORT, an IPv6 ADDR in brackets: [ADDR]:PORT */
			char *c = strrchr(v, ':');

			if (c)
			{
				*c = '\0';
				port = atoi(c + 1);
				remote = v;
				if (*v == '[' && c > v + 1 && c[-1] == ']')
				{
					c[-1] = '\0';
					remote = v + 1;
				}
			}
		}
	}
	if (!ours)
	{
		return;
	}
	if (mapping && (!remote || !(to = host_create_from_string(remote, port))))
	{
		return;
	}
	this->lock->lock(this->lock);
	s = ke_sa_find_dir(this, spi, dir);
	if (s)
	{
		dst = s->dst->clone(s->dst);
		if (mapping)
		{	/* espressod moved every SA of the tunnel there already */
			tun_t *t = ke_tun_find(this, s->reqid);

			if (t)
			{
				ke_peer_moved(this, t, to);
			}
		}
		else if (hard)
		{	/* espressod removed it already */
			tun_t *t = ke_tun_find(this, s->reqid);

			this->sas->remove(this->sas, s, NULL);
			ke_sa_free(s);
			if (t)
			{
				ke_tun_release(this, t);
			}
		}
	}
	this->lock->unlock(this->lock);
	/* not under our lock: charon may call back into del_sa, update_sa */
	if (dst && !mapping)
	{
		charon->kernel->expire(charon->kernel, IPPROTO_ESP, htonl(spi), dst,
							   hard);
	}
	else if (dst)
	{	/* charon moves the IKE_SA there, and calls update_sa: a no-op */
		DBG1(DBG_KNL, "espresso: tunnel %s follows its peer to %#H (NAT "
			 "mapping changed)", tunnel, to);
		charon->kernel->mapping(charon->kernel, IPPROTO_ESP, htonl(spi), dst,
								to);
	}
	DESTROY_IF(to);
	DESTROY_IF(dst);
}

job_requeue_t ke_monitor_job(private_t *this)
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
		ke_ensure_flushed(this);
		ke_replay(this);
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
