/* SPDX-License-Identifier: GPL-2.0 */
/* daemon: the state of one espressod instance, shared by main and ctl. */
#ifndef ESPRESSO_DAEMON_H
#define ESPRESSO_DAEMON_H

#include <stdatomic.h>

#include "io/bpfload.h"
#include "config/config.h"
#include "control/napi.h"
#include "tables/sa.h"
#include "control/steer.h"
#include "core/worker.h"

struct espd {
	struct cfg cfg;
	struct sadb db;
	struct bpf_state bpf;
	struct worker_env env;
	struct worker *workers;
	int nworkers;
	int tun_ifindex;
	int tun_fds[CFG_MAX_QUEUES];
	struct steer_state steer;
	struct napi_state napi;
	_Atomic int stop;
};

#endif
