/* SPDX-License-Identifier: GPL-2.0 */
/* apply: the config file into the live state (start-up, reload diff). */
#ifndef ESPRESSO_APPLY_H
#define ESPRESSO_APPLY_H

#include "config/config.h"
#include "control/live.h"

/* Every tunnel, SA and route of c, then a commit. 0 or -errno (err). */
int apply_config(struct live *l, const struct cfg *c, char *err,
		 size_t errlen);
/* A setting of n that only a restart can change differs from o: -EINVAL
 * with a message naming it. */
int apply_restart_only(const struct cfg *o, const struct cfg *n, char *err,
		       size_t errlen);
/* The difference from o (running) to n, then a commit. A refused reload
 * (restart-only settings, clashes with what espressoctl added) changes
 * nothing. 0 or -errno (err). */
int apply_reload(struct live *l, const struct cfg *o, const struct cfg *n,
		 char *err, size_t errlen);

#endif
