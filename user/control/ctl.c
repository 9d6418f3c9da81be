// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/ctl.h"
#include "lib/log.h"

int ctl_open(const char *instance, char *path, size_t pathlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (mkdir(CTL_DIR, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, pathlen, "%s/%s.sock", CTL_DIR, instance);
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    chmod(path, 0600) || listen(fd, 8)) {
		err = -errno;
		close(fd);
		log_err("control socket %s: %s", path, strerror(-err));
		return err;
	}
	return fd;
}

void ctl_close(int fd, const char *path)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

static void print_errors(FILE *f, const char *label, const uint64_t *e)
{
	bool any = false;
	int i;

	for (i = 1; i < DROP_MAX; i++) {
		if (!e[i])
			continue;
		fprintf(f, "%s %s %llu", any ? "" : label, stats_drop_names[i],
			(unsigned long long)e[i]);
		any = true;
	}
	if (any)
		fputc('\n', f);
}

static void sum_sa(const struct espd *d, const struct sa *sa,
		   struct sa_stats *s)
{
	int q, i;

	memset(s, 0, sizeof(*s));
	for (q = 0; q < d->nworkers; q++) {
		const struct sa_stats *x = sa->dir == SA_IN
						   ? &d->workers[q].sa_in[sa->index]
						   : &d->workers[q].sa_out[sa->index];

		s->packets += x->packets;
		s->bytes += x->bytes;
		for (i = 0; i < DROP_MAX; i++)
			s->errors[i] += x->errors[i];
	}
}

static void show_one_sa(FILE *f, struct espd *d, const struct sa *sa)
{
	struct sa_stats s;
	char owner[16] = "any";

	sum_sa(d, sa, &s);
	if (sa->owner >= 0)
		snprintf(owner, sizeof(owner), "%d", sa->owner);
	fprintf(f, "sa %s %s spi 0x%08x %s pair %d worker %s packets %llu "
		   "bytes %llu ",
		sa->tunnel->cfg->name, sa->dir == SA_IN ? "in" : "out", sa->spi,
		config_cipher_name(sa->cipher), sa->pair, owner,
		(unsigned long long)s.packets, (unsigned long long)s.bytes);
	if (sa->dir == SA_OUT)
		fprintf(f, "seq %llu%s\n",
			(unsigned long long)atomic_load(&((struct sa *)sa)->seq),
			atomic_load(&((struct sa *)sa)->exhausted) ? " EXHAUSTED"
								   : "");
	else
		fprintf(f, "replay_top %llu window %u\n",
			(unsigned long long)atomic_load(&((struct sa *)sa)->replay.top),
			sa->replay.size);
	print_errors(f, "  errors:", s.errors);
}

static void show_sa(FILE *f, struct espd *d)
{
	int t, p;

	for (t = 0; t < d->db.ntunnels; t++) {
		struct tunnel *tn = &d->db.tunnels[t];

		for (p = 0; p < tn->npairs; p++) {
			show_one_sa(f, d, &tn->out[p]);
			show_one_sa(f, d, &tn->in[p]);
		}
	}
}

static void show_xdp(FILE *f, struct espd *d)
{
	struct espresso_xdp_stats x;

	if (bpfload_read_stats(&d->bpf, &x)) {
		fprintf(f, "xdp counters unavailable\n");
		return;
	}
#define X_PRINT(name, help) fprintf(f, " %s %llu", #name, (unsigned long long)x.name);
	fprintf(f, "xdp");
	ESPRESSO_XDP_COUNTERS(X_PRINT)
	fputc('\n', f);
#undef X_PRINT
}

static void show_reasm(FILE *f, const struct reasm_table *r)
{
	const struct reasm_stats *s = reasm_stats(r);

#define X_PRINT(name, help) fprintf(f, " %s %llu", #name, (unsigned long long)s->name);
	fprintf(f, "  reasm:");
	REASM_COUNTERS(X_PRINT)
	fprintf(f, " memory %zu\n", reasm_mem(r));
#undef X_PRINT
}

/* What the kernel dropped on this socket, where we cannot count it. */
static void show_xsk_kernel(FILE *f, const struct xsk_port *p)
{
	struct xdp_statistics x;
	socklen_t len = sizeof(x);

	if (getsockopt(p->fd, SOL_XDP, XDP_STATISTICS, &x, &len))
		return;
	fprintf(f, "  kernel: rx_dropped %llu rx_ring_full %llu "
		   "rx_fill_ring_empty %llu rx_invalid_descs %llu "
		   "tx_invalid_descs %llu tx_ring_empty %llu\n",
		(unsigned long long)x.rx_dropped,
		(unsigned long long)x.rx_ring_full,
		(unsigned long long)x.rx_fill_ring_empty_descs,
		(unsigned long long)x.rx_invalid_descs,
		(unsigned long long)x.tx_invalid_descs,
		(unsigned long long)x.tx_ring_empty_descs);
}

static void show_stats(FILE *f, struct espd *d)
{
	int q;

	for (q = 0; q < d->nworkers; q++) {
		const struct queue_stats *s = &d->workers[q].st;

		fprintf(f, "queue %d %s rx_frames %llu rx_bytes %llu "
			   "rx_decrypted %llu tun_rx %llu tx_frames %llu "
			   "tx_bytes %llu tx_completed %llu wakeups %llu "
			   "neigh_held %llu neigh_released %llu tun_tx %llu "
			   "gso_super %llu gso_segments %llu frag_out %llu "
			   "icmp_sent %llu mss_clamped %llu rx_reassembled %llu "
			   "gro_merged %llu gro_written %llu handoff_out %llu "
			   "handoff_in %llu polls %llu\n",
			q, d->workers[q].port.zerocopy ? "zerocopy" : "copy",
			(unsigned long long)s->rx_frames,
			(unsigned long long)s->rx_bytes,
			(unsigned long long)s->rx_decrypted,
			(unsigned long long)s->tun_rx,
			(unsigned long long)s->tx_frames,
			(unsigned long long)s->tx_bytes,
			(unsigned long long)s->tx_completed,
			(unsigned long long)s->wakeups,
			(unsigned long long)s->neigh_held,
			(unsigned long long)s->neigh_released,
			(unsigned long long)s->tun_tx,
			(unsigned long long)s->gso_super,
			(unsigned long long)s->gso_segments,
			(unsigned long long)s->frag_out,
			(unsigned long long)s->icmp_sent,
			(unsigned long long)s->mss_clamped,
			(unsigned long long)s->rx_reassembled,
			(unsigned long long)d->workers[q].gro.st.merged,
			(unsigned long long)d->workers[q].gro.st.written,
			(unsigned long long)s->handoff_out,
			(unsigned long long)s->handoff_in,
			(unsigned long long)s->polls);
		show_reasm(f, d->workers[q].reasm);
		print_errors(f, "  drops:", s->drops);
		show_xsk_kernel(f, &d->workers[q].port);
	}
	show_xdp(f, d);
}

static void show_frames(FILE *f, struct espd *d)
{
	struct xsk_audit a;
	int q;

	for (q = 0; q < d->nworkers; q++) {
		if (worker_audit(&d->workers[q], &a, 2000)) {
			fprintf(f, "queue %d audit timed out\n", q);
			continue;
		}
		fprintf(f, "queue %d frames %llu free %llu fill %llu worker %llu "
			   "tx %llu held %llu handoff %llu in_fill_ring %llu in_rx_ring %llu "
			   "in_tx_ring %llu in_comp_ring %llu kernel_held %llu "
			   "duplicates %llu misplaced %llu count_errors %llu %s\n",
			q, (unsigned long long)a.frames,
			(unsigned long long)a.n_state[FRAME_FREE],
			(unsigned long long)a.n_state[FRAME_FILL],
			(unsigned long long)a.n_state[FRAME_WORKER],
			(unsigned long long)a.n_state[FRAME_TX],
			(unsigned long long)a.n_state[FRAME_HELD],
			(unsigned long long)a.n_state[FRAME_HANDOFF],
			(unsigned long long)a.in_fill_ring,
			(unsigned long long)a.in_rx_ring,
			(unsigned long long)a.in_tx_ring,
			(unsigned long long)a.in_comp_ring,
			(unsigned long long)a.kernel_held,
			(unsigned long long)a.duplicates,
			(unsigned long long)a.misplaced,
			(unsigned long long)a.count_errors,
			a.duplicates || a.misplaced || a.count_errors ||
					a.n_state[FRAME_WORKER] ? "BAD" : "OK");
	}
}

static const struct {
	const char *cmd;
	void (*fn)(FILE *f, struct espd *d);
	const char *help;
} commands[] = {
	{ "show sa", show_sa, "SAs: SPI, packets, bytes, errors by reason" },
	{ "show stats", show_stats, "per queue counters and drops, XDP counters" },
	{ "show xdp", show_xdp, "the XDP program's counters" },
	{ "show frames", show_frames, "audit of every UMEM frame's owner" },
};

static void dispatch(FILE *f, char *req, struct espd *d)
{
	size_t i;

	req[strcspn(req, "\r\n")] = 0;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(req, commands[i].cmd)) {
			commands[i].fn(f, d);
			return;
		}
	}
	fprintf(f, "error: unknown command '%.64s'; commands:\n", req);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].cmd, commands[i].help);
}

void ctl_serve(int listen_fd, struct espd *d)
{
	struct timeval tv = { .tv_sec = 1 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char req[256], *out = NULL;
	size_t outlen = 0, off;
	ssize_t n;
	FILE *f;
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* a silent client must not stall the control thread */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid) {
		close(fd);
		return;
	}
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0) {
		close(fd);
		return;
	}
	req[n] = 0;
	f = open_memstream(&out, &outlen);
	if (!f) {
		close(fd);
		return;
	}
	dispatch(f, req, d);
	fclose(f);
	for (off = 0; off < outlen; off += n) {
		n = send(fd, out + off, outlen - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
	}
	free(out);
	close(fd);
}
