/* SPDX-License-Identifier: GPL-2.0 */
/* daemon: the state of one espressod instance, shared by main and ctl. */
#ifndef ESPRESSO_DAEMON_H
#define ESPRESSO_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config/config.h"
#include "control/live.h"
#include "control/napi.h"
#include "control/spd.h"
#include "control/spialloc.h"
#include "control/steer.h"
#include "control/tap_ctl.h"
#include "core/worker.h"
#include "io/bpfload.h"

#define ESPD_MONITORS 16

/*
 * How the control loop was asked to end. QUIT_STOP (SIGTERM, SIGINT,
 * espressoctl stop) removes everything: routes, tun, XDP program, pins.
 * QUIT_KEEP (SIGUSR2, espressoctl stop keep), a stop for a restart, saves
 * the state as a clean stop does but leaves what a SIGKILL leaves: the
 * persistent tun and its routes (nothing protected leaves in clear), the
 * XDP program, its pinned maps and their entries (ESP dropped, counted in
 * drop_no_xsk), threaded NAPI; the next start adopts them.
 */
enum espd_quit { ESPD_QUIT_NONE, ESPD_QUIT_STOP, ESPD_QUIT_KEEP };

struct seqstore;
struct topmap;

struct espd {
	struct cfg cfg;
	struct live live;
	struct seqstore *store;
	struct topmap *tops; /* exact inbound tops (topmap.h); NULL none */
	struct bpf_state bpf;
	struct worker_env env;
	struct worker *workers;
	int nworkers;
	int tun_ifindex;
	int tun_fds[CFG_MAX_QUEUES];
	int vrf_fds[CFG_MAX_VRF][CFG_MAX_QUEUES]; /* each VRF's tun, by queue */
	int vrf_ifindex[CFG_MAX_VRF]; /* (the VRFs take a restart to change) */
	struct steer_state steer;
	struct napi_state napi;
	struct spd spd; /* router mode: policies of LAN plaintext */
	int mon_fd[ESPD_MONITORS];
	bool mon_json[ESPD_MONITORS];
	bool mon_ike[ESPD_MONITORS]; /* charon's plugin: owns the IKE SAs */
	int lock_fd;
	int natt_fd; /* NAT-T keepalives (natt.h); -errno when none */
	_Atomic int stop;
	struct tap_state tap; /* espressoctl trace and pcap */
	struct spialloc larval; /* SPIs handed to IKE by sa alloc */
	enum espd_quit quit; /* set by a signal or espressoctl stop */
	int quit_fd; /* espressoctl stop's connection, closed at exit; -1 */
};

/* Read the config again and apply the difference (SIGHUP, ctl reload).
 * 0, or -errno with err saying why (the running state is kept). */
int espd_reload(struct espd *d, char *err, size_t errlen);

#endif
