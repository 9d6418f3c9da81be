// SPDX-License-Identifier: GPL-2.0
/*
 * reload: SIGHUP and `espressoctl reload`. The config is read and checked
 * again, then only its difference from the running one is applied
 * (apply.c); a refused reload keeps everything as it was. systemd hears
 * RELOADING=1 before and READY=1 after; monitors get a reload event.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "control/apply.h"
#include "control/ctl.h"
#include "control/daemon.h"
#include "lib/log.h"

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
}

int espd_reload(struct espd *d, char *err, size_t errlen)
{
	struct live_event ev = { .type = LIVE_EV_RELOAD_DONE, .dir = -1 };
	struct cfg n;
	int ret;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)mono_us());
	ret = config_load(d->cfg.path, &n, true, err, errlen);
	if (!ret) {
		/* router mode's policies: everything that could refuse them
		 * (an id of espressoctl's, too many covering a destination,
		 * too many in all) refuses the reload before anything changes */
		ret = spd_check_reload(&d->spd, &n, err, errlen);
		ret = ret ?: apply_reload(&d->live, &d->cfg, &n, err, errlen);
		if (ret)
			config_free(&n);
	}
	if (!ret && spd_load_config(&d->spd, &d->live, &n, err, errlen)) {
		/* only out of memory once spd_check_reload passed: the
		 * tunnels are changed already, the policies in force stay;
		 * said so, not reported as a reload refused whole */
		size_t len = strlen(err);

		snprintf(err + len, errlen - len, " (tunnels reloaded, "
			 "policies not: the old ones stay in force)");
		log_err("reload: policies not changed: %s", err);
		ret = -EINVAL;
		config_free(&d->cfg);
		d->cfg = n;
		ev.type = LIVE_EV_RELOAD_REFUSED;
		ev.what = err;
		ctl_event(d, &ev);
		sd_notify(0, "READY=1");
		return ret;
	}
	if (!ret)
		spd_sync(&d->spd, &d->live, &d->bpf);
	if (ret) {
		log_err("reload refused: %s", err);
		ev.type = LIVE_EV_RELOAD_REFUSED;
		ev.what = err;
	} else {
		config_free(&d->cfg);
		d->cfg = n;
		log_info("reloaded %s: %u tunnel(s), %zu route(s)", d->cfg.path,
			 d->live.tun_count, d->live.nroutes);
	}
	ctl_event(d, &ev);
	sd_notify(0, "READY=1");
	return ret;
}

