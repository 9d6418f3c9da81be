// SPDX-License-Identifier: GPL-2.0
/*
 * What the running daemon still does that takes a capability -- all of it
 * CAP_NET_ADMIN:
 *   - routes into the tun: tunnels and routes added by espressoctl or a
 *     reload, and removed (rtnetlink); neighbour resolution (RTM_NEWNEIGH);
 *   - at a clean stop: the ethtool steering rules removed (SIOCETHTOOL),
 *     threaded NAPI put back (/sys/class/net/DEV/threaded: the kernel asks
 *     for CAP_NET_ADMIN; the file is root's, so uid 0 writes it without
 *     CAP_DAC_OVERRIDE), the XDP program detached (RTM_SETLINK), the tun
 *     made non-persistent and closed.
 * What takes none: BPF map updates, deletes and lookups on the fds it
 * holds (since Linux 5.19, kernel.unprivileged_bpf_disabled only guards
 * creating maps and loading programs; before, CAP_BPF is kept, found out
 * by trying), keying new SAs, the control socket,
 * the state directory and /run/espresso (files and folders that uid 0
 * owns: no CAP_DAC_OVERRIDE needed), the AF_XDP sockets and tun queues the
 * workers already hold.
 * Kept only where the setup calls for it:
 *   - CAP_SYS_ADMIN while our XDP program shares libxdp's dispatcher with
 *     other programs: taking ours out then builds a new dispatcher
 *     (BPF_PROG_GET_FD_BY_ID, a program load). Alone in it, ours goes
 *     with CAP_NET_ADMIN (io/bpfload.c).
 *   - CAP_NET_BIND_SERVICE when the metrics endpoint listens on a port
 *     below 1024 (it is opened after this).
 * Dropped on purpose: CAP_IPC_LOCK (locking key memory, lib/secret.c, is
 * then bound by RLIMIT_MEMLOCK: the systemd unit sets LimitMEMLOCK=
 * infinity), CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (a reload reads the
 * config and key files as their owner root would: keep them root's).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "control/daemon.h"
#include "control/privs.h"
#include "lib/caps.h"
#include "lib/log.h"

/*
 * Before Linux 5.19, kernel.unprivileged_bpf_disabled made every bpf()
 * call ask for CAP_BPF (or CAP_SYS_ADMIN), map updates on fds already
 * held too. Try one without them: a lookup of the XDP counters.
 */
static bool maps_need_privilege(const struct espd *d)
{
	static const int bpf_caps[] = { CAP_BPF, CAP_SYS_ADMIN };
	struct espresso_xdp_stats st;
	int err;

	if (d->bpf.stats_fd < 0 || caps_effective(bpf_caps, 2, false))
		return false;
	err = bpfload_read_stats(&d->bpf, &st);
	caps_effective(bpf_caps, 2, true);
	return err == -EPERM;
}

void privs_drop(const struct espd *d)
{
	int keep[4] = { CAP_NET_ADMIN }, n = 1, err;
	char why[512], now[256];

	snprintf(why, sizeof(why), "net_admin for routes into the tun, neighbour "
		 "resolution, and at stop ethtool rules, threaded NAPI, XDP "
		 "detach");
	if (bpfload_detach_needs_admin(&d->bpf)) {
		keep[n++] = CAP_SYS_ADMIN;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "; sys_admin to leave libxdp's dispatcher, which "
			 "our XDP program shares with others");
	}
	if (maps_need_privilege(d)) {
		keep[n++] = caps_have(CAP_BPF) ? CAP_BPF : CAP_SYS_ADMIN;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "; %s for BPF map updates (this kernel asks for it "
			 "even on maps already open)",
			 keep[n - 1] == CAP_BPF ? "bpf" : "sys_admin");
	}
	if (d->cfg.metrics.enabled && d->cfg.metrics.port < 1024) {
		keep[n++] = CAP_NET_BIND_SERVICE;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "; net_bind_service for metrics port %u",
			 d->cfg.metrics.port);
	}
	err = caps_keep(keep, (size_t)n);
	caps_text(now, sizeof(now));
	if (err) {
		log_warn("privileges: could not drop every capability not "
			 "needed after start-up (%s); running with: %s",
			 strerror(-err), now);
		return;
	}
	log_info("privileges: kept %s (%s); every other capability dropped, "
		 "workers hold none", now, why);
}
