// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "esp.h"
#include "log.h"
#include "parse.h"
#include "worker.h"

/* One packet of a burst, between the passes. */
struct pkt {
	uint64_t addr;  /* frame address (RX: as the descriptor gave it) */
	uint8_t *data;  /* RX: Ethernet header; TX: inner packet */
	uint32_t len;
	uint8_t *esp;
	uint32_t esp_len;
	uint64_t seq;
	struct tunnel *t;
	uint8_t mac[6]; /* TX: the next hop's */
	bool hold;      /* TX: waits for the next hop's MAC */
	int drop; /* enum espresso_drop, 0 while the packet lives */
};

static inline void drop_rx(struct worker *w, struct pkt *p, int reason)
{
	p->drop = reason;
	w->st.drops[reason]++;
	if (p->t)
		w->sa_in[p->t->index].errors[reason]++;
}

static inline void drop_tx(struct worker *w, struct pkt *p, int reason)
{
	p->drop = reason;
	w->st.drops[reason]++;
	if (p->t)
		w->sa_out[p->t->index].errors[reason]++;
}

/* Inbound, pass 1: metadata, SA, outer addresses, replay pre-check. */
static void rx_prepare(struct worker *w, struct pkt *p)
{
	const struct sadb *db = w->env->db;
	struct espresso_meta m, *mp = (void *)(p->data - sizeof(m));
	size_t l3_len;
	struct iphdr ip;
	struct tunnel *t;
	uint32_t seq_lo;
	int r;

	if (mp->magic == ESPRESSO_META_MAGIC && mp->verdict == ESPRESSO_V_ESP_IN &&
	    mp->l3_proto == 4 && mp->l3_off + sizeof(ip) <= p->len) {
		m = *mp;
		mp->magic = 0; /* a reused frame must not carry stale meta */
		memcpy(&ip, p->data + m.l3_off, sizeof(ip));
		l3_len = ntohs(ip.tot_len);
	} else {
		/* no metadata from the driver: parse the headers here */
		if (parse_outer(p->data, p->len, &m, &l3_len) ||
		    m.l3_proto != 4) {
			drop_rx(w, p, DROP_rx_bad_meta);
			return;
		}
		m.sa_index = UINT32_MAX;
		for (r = 0; r < db->ntunnels; r++)
			if (db->tunnels[r].in.spi == m.spi)
				m.sa_index = r;
		memcpy(&ip, p->data + m.l3_off, sizeof(ip));
	}
	if (m.l3_off + l3_len > p->len || m.esp_off > m.l3_off + l3_len) {
		drop_rx(w, p, DROP_rx_bad_meta);
		return;
	}
	if (m.sa_index >= (uint32_t)db->ntunnels ||
	    db->tunnels[m.sa_index].in.spi != m.spi) {
		drop_rx(w, p, DROP_rx_no_sa);
		return;
	}
	t = p->t = &db->tunnels[m.sa_index];
	if (m.encap != (t->in.encap == ENCAP_UDP)) {
		drop_rx(w, p, DROP_rx_encap);
		return;
	}
	/* Behind NAT the source may differ: only raw ESP checks it. */
	if (ip.daddr != t->cfg->local.s_addr ||
	    (!m.encap && ip.saddr != t->cfg->remote.s_addr)) {
		drop_rx(w, p, DROP_rx_outer_addr);
		return;
	}
	p->esp = p->data + m.esp_off;
	p->esp_len = m.l3_off + l3_len - m.esp_off;
	if (p->esp_len < ESP_MIN_LEN) {
		drop_rx(w, p, DROP_rx_short);
		return;
	}
	memcpy(&seq_lo, p->esp + 4, 4);
	p->seq = replay_infer(&t->in.replay, ntohl(seq_lo));
	r = replay_check(&t->in.replay, p->seq);
	if (r == REPLAY_OLD)
		drop_rx(w, p, DROP_rx_window);
	else if (r == REPLAY_DUP)
		drop_rx(w, p, DROP_rx_replay);
}

/* Inbound, pass 3: replay update now that the ICV passed, trailer, inner. */
static void rx_post(struct worker *w, struct pkt *p)
{
	struct tunnel *t = p->t;
	size_t inner_len;
	int r;

	r = replay_update(&t->in.replay, p->seq);
	if (r) {
		drop_rx(w, p, r == REPLAY_DUP ? DROP_rx_replay : DROP_rx_window);
		return;
	}
	r = esp_decap_post(t, p->esp + ESP_HDR_LEN + ESP_GCM_IV_LEN,
			   p->esp_len - ESP_HDR_LEN - ESP_GCM_IV_LEN -
				   ESP_GCM_ICV_LEN,
			   &inner_len);
	if (r) {
		drop_rx(w, p, r);
		return;
	}
	if (write(w->tun_fd, p->esp + ESP_HDR_LEN + ESP_GCM_IV_LEN,
		  inner_len) != (ssize_t)inner_len) {
		drop_rx(w, p, DROP_rx_tun_write);
		return;
	}
	w->st.rx_decrypted++;
	w->sa_in[t->index].packets++;
	w->sa_in[t->index].bytes += inner_len;
}

static unsigned int rx_burst(struct worker *w)
{
	struct xsk_port *port = &w->port;
	struct pkt pkts[WORKER_BATCH_MAX];
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&port->rx, w->env->batch, &idx);
	if (!n) {
		if (xsk_ring_prod__needs_wakeup(&port->fill))
			recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&port->rx,
								  idx + i);
		struct pkt *p = &pkts[i];

		p->addr = d->addr;
		p->data = xsk_port_frame(port, xsk_umem__add_offset_to_addr(d->addr));
		p->len = d->len;
		p->t = NULL;
		p->drop = 0;
		frame_move(port, d->addr - d->addr % XSK_FRAME_SIZE,
			   FRAME_WORKER);
		w->st.rx_frames++;
		w->st.rx_bytes += d->len;
	}
	xsk_ring_cons__release(&port->rx, n);

	for (i = 0; i < n; i++)
		rx_prepare(w, &pkts[i]);
	for (i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];

		if (p->drop)
			continue;
		if (esp_open(&w->aead_in[p->t->index], p->seq, p->t->in.esn,
			     p->esp, p->esp_len))
			drop_rx(w, p, DROP_rx_auth);
	}
	for (i = 0; i < n; i++) {
		if (!pkts[i].drop)
			rx_post(w, &pkts[i]);
		xsk_port_free(port, pkts[i].addr);
	}
	xsk_port_refill(port);
	return n;
}

/* Outbound, pass 1: route, size, next hop. */
static void tx_prepare(struct worker *w, struct pkt *p)
{
	const struct worker_env *env = w->env;
	struct tunnel *t;
	const void *dst;
	int family;

	if ((p->data[0] >> 4) == 4 && p->len >= sizeof(struct iphdr)) {
		family = AF_INET;
		dst = &((struct iphdr *)p->data)->daddr;
	} else if ((p->data[0] >> 4) == 6 && p->len >= sizeof(struct ip6_hdr)) {
		family = AF_INET6;
		dst = &((struct ip6_hdr *)p->data)->ip6_dst;
	} else {
		drop_tx(w, p, DROP_tx_malformed);
		return;
	}
	t = p->t = sadb_route(env->db, family, dst);
	if (!t) {
		drop_tx(w, p, DROP_tx_no_route);
		return;
	}
	if (p->len + t->overhead > (unsigned int)env->uplink_mtu) {
		drop_tx(w, p, DROP_tx_too_big);
		return;
	}
	if (!tunnel_nh_mac(t, p->mac)) {
		atomic_store_explicit(&t->nh_wanted, 1, memory_order_relaxed);
		p->hold = true;
	}
}

/* Outbound, pass 2: sequence numbers in order, then encryption. */
static void tx_crypto(struct worker *w, struct pkt *p)
{
	struct tunnel *t = p->t;
	uint8_t *outer;
	size_t outer_len;
	int r;

	p->seq = sa_seq_reserve(&t->out, 1);
	if (!p->seq) {
		drop_tx(w, p, DROP_tx_seq_exhausted);
		return;
	}
	r = esp_encap4(&t->out, &w->aead_out[t->index], p->seq, w->ip_id++,
		       p->data, p->len, &outer, &outer_len);
	if (r) {
		drop_tx(w, p, r);
		return;
	}
	p->esp = outer; /* from here: the outer IPv4 header */
	p->esp_len = outer_len;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* Keep a packet until its next hop resolves (as the kernel's arp_queue). */
static void hold_add(struct worker *w, struct pkt *p)
{
	struct held_pkt *h;

	if (w->nhold == WORKER_HOLD_MAX) {
		drop_tx(w, p, DROP_tx_no_neigh);
		xsk_port_free(&w->port, p->addr);
		return;
	}
	h = &w->hold[w->nhold++];
	h->addr = p->addr;
	h->len = p->len;
	h->t = p->t;
	h->since_ms = now_ms();
	frame_move(&w->port, p->addr, FRAME_HELD);
	w->st.neigh_held++;
}

static unsigned int tx_post(struct worker *w, struct pkt *pkts,
			    unsigned int n);

/* Send the held packets whose next hop is known; drop the expired ones. */
static unsigned int hold_flush(struct worker *w)
{
	struct pkt pkts[WORKER_HOLD_MAX];
	uint64_t now = now_ms();
	unsigned int i, keep = 0, n = 0;

	for (i = 0; i < w->nhold; i++) {
		struct held_pkt *h = &w->hold[i];
		struct pkt *p = &pkts[n];

		memset(p, 0, sizeof(*p));
		p->t = h->t;
		p->addr = h->addr;
		if (tunnel_nh_mac(h->t, p->mac)) {
			frame_move(&w->port, h->addr, FRAME_WORKER);
			p->data = xsk_port_frame(&w->port, h->addr) +
				  WORKER_TX_INNER_OFF;
			p->len = h->len;
			w->st.neigh_released++;
			n++;
		} else if (now - h->since_ms > WORKER_HOLD_MS) {
			frame_move(&w->port, h->addr, FRAME_WORKER);
			drop_tx(w, p, DROP_tx_no_neigh);
			xsk_port_free(&w->port, h->addr);
		} else {
			w->hold[keep++] = *h;
		}
	}
	w->nhold = keep;
	for (i = 0; i < n; i++)
		tx_crypto(w, &pkts[i]);
	if (n)
		tx_post(w, pkts, n);
	return n;
}

/* Outbound, pass 3: Ethernet header and the TX ring. */
static unsigned int tx_post(struct worker *w, struct pkt *pkts, unsigned int n)
{
	struct xsk_port *port = &w->port;
	unsigned int i, good = 0, sent = 0;
	uint32_t idx = 0;

	for (i = 0; i < n; i++)
		good += !pkts[i].drop && !pkts[i].hold;
	if (good)
		good = xsk_ring_prod__reserve(&port->tx, good, &idx);
	for (i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];
		struct xdp_desc *d;
		struct ethhdr *eth;

		if (p->hold) {
			hold_add(w, p);
			continue;
		}
		if (!p->drop && sent == good)
			drop_tx(w, p, DROP_tx_ring_full);
		if (p->drop) {
			xsk_port_free(port, p->addr);
			continue;
		}
		eth = (struct ethhdr *)(p->esp - ETH_HLEN);
		memcpy(eth->h_dest, p->mac, ETH_ALEN);
		memcpy(eth->h_source, w->env->uplink_mac, ETH_ALEN);
		eth->h_proto = htons(ETH_P_IP);
		d = xsk_ring_prod__tx_desc(&port->tx, idx + sent++);
		d->addr = p->addr + ((uint8_t *)eth - xsk_port_frame(port, p->addr));
		d->len = p->esp_len + ETH_HLEN;
		frame_move(port, p->addr, FRAME_TX);
		w->st.tx_frames++;
		w->st.tx_bytes += d->len;
		w->sa_out[p->t->index].packets++;
		w->sa_out[p->t->index].bytes += p->len;
	}
	if (sent) {
		xsk_ring_prod__submit(&port->tx, sent);
		if (xsk_port_kick(port))
			w->st.wakeups++;
	}
	return sent;
}

static unsigned int tun_burst(struct worker *w)
{
	struct xsk_port *port = &w->port;
	struct pkt pkts[WORKER_BATCH_MAX];
	unsigned int n = 0, i;
	ssize_t r;

	while (n < (unsigned int)w->env->batch) {
		struct pkt *p = &pkts[n];

		if (!xsk_port_alloc(port, &p->addr))
			break; /* the packets wait in the tun for frames */
		p->data = xsk_port_frame(port, p->addr) + WORKER_TX_INNER_OFF;
		r = read(w->tun_fd, p->data,
			 XSK_FRAME_SIZE - WORKER_TX_INNER_OFF - ESP_TAILROOM);
		if (r <= 0) {
			xsk_port_free(port, p->addr);
			break;
		}
		p->len = r;
		p->t = NULL;
		p->drop = 0;
		p->hold = false;
		w->st.tun_rx++;
		n++;
	}
	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		tx_prepare(w, &pkts[i]);
	for (i = 0; i < n; i++)
		if (!pkts[i].drop && !pkts[i].hold)
			tx_crypto(w, &pkts[i]);
	tx_post(w, pkts, n);
	return n;
}

static void audit_if_asked(struct worker *w)
{
	if (!atomic_load_explicit(&w->audit_req, memory_order_acquire))
		return;
	xsk_port_audit(&w->port, &w->audit);
	atomic_store_explicit(&w->audit_req, 0, memory_order_relaxed);
	atomic_store_explicit(&w->audit_done, 1, memory_order_release);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd pfd[2] = {
		{ .fd = w->port.fd, .events = POLLIN },
		{ .fd = w->tun_fd, .events = POLLIN },
	};

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			log_warn("worker %d: cannot pin to CPU %d", w->id, w->cpu);
	}
	while (!atomic_load_explicit(w->env->stop, memory_order_relaxed)) {
		unsigned int work = 0;

		audit_if_asked(w);
		work += xsk_port_complete(&w->port);
		w->st.tx_completed += work;
		work += rx_burst(w);
		work += tun_burst(w);
		if (w->nhold)
			work += hold_flush(w);
		if (w->port.n_state[FRAME_TX] && xsk_port_kick(&w->port))
			w->st.wakeups++;
		if (work)
			continue;
		/* Idle: sleep until the uplink or the tun has something.
		 * Completions do not wake poll(): come back soon if frames
		 * are still out for transmission. */
		w->st.polls++;
		poll(pfd, 2, w->port.n_state[FRAME_TX] ? 1 : w->nhold ? 10 : 100);
	}
	return NULL;
}

int worker_init(struct worker *w, int id, int cpu, const struct worker_env *env,
		int tun_fd)
{
	int n = env->db->ntunnels, i, err;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = cpu;
	w->env = env;
	w->tun_fd = tun_fd;
	w->ip_id = (uint16_t)(id << 12);
	w->aead_in = calloc(n, sizeof(*w->aead_in));
	w->aead_out = calloc(n, sizeof(*w->aead_out));
	w->sa_in = calloc(n, sizeof(*w->sa_in));
	w->sa_out = calloc(n, sizeof(*w->sa_out));
	if (!w->aead_in || !w->aead_out || !w->sa_in || !w->sa_out) {
		worker_free(w);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct tunnel *t = &env->db->tunnels[i];

		err = crypto_aead_init(&w->aead_in[i], t->in.cipher, t->in.key,
				       t->in.key_len, 0);
		if (!err)
			err = crypto_aead_init(&w->aead_out[i], t->out.cipher,
					       t->out.key, t->out.key_len, 1);
		if (err) {
			log_err("worker %d: cannot key tunnel %s: %s", id,
				t->cfg->name, strerror(-err));
			worker_free(w);
			return err;
		}
	}
	return 0;
}

int worker_start(struct worker *w)
{
	int err = pthread_create(&w->thread, NULL, worker_main, w);

	if (err)
		return -err;
	w->started = true;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_free(struct worker *w)
{
	int i;

	for (i = 0; w->env && i < w->env->db->ntunnels; i++) {
		if (w->aead_in)
			crypto_aead_free(&w->aead_in[i]);
		if (w->aead_out)
			crypto_aead_free(&w->aead_out[i]);
	}
	free(w->aead_in);
	free(w->aead_out);
	free(w->sa_in);
	free(w->sa_out);
	w->aead_in = w->aead_out = NULL;
	w->sa_in = w->sa_out = NULL;
	xsk_port_close(&w->port);
}

int worker_audit(struct worker *w, struct xsk_audit *out, int timeout_ms)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	atomic_store_explicit(&w->audit_done, 0, memory_order_relaxed);
	atomic_store_explicit(&w->audit_req, 1, memory_order_release);
	for (i = 0; i < timeout_ms; i++) {
		if (atomic_load_explicit(&w->audit_done, memory_order_acquire)) {
			*out = w->audit;
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}
