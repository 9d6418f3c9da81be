/* SPDX-License-Identifier: GPL-2.0 */
/*
 * caps: giving up capabilities (libcap-ng). Linux keeps capabilities per
 * thread: each thread drops its own (espressod's workers drop all of them
 * when they start, the control thread what it no longer needs once set up,
 * see control/privs.c); a thread created later inherits its creator's.
 */
#ifndef ESPRESSO_CAPS_H
#define ESPRESSO_CAPS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * This thread keeps only those of caps[0..n) it has (effective, permitted
 * and bounding set); inheritable and ambient are emptied. 0 when the
 * thread ends up with at most those, -EPERM when something could not be
 * dropped (the kernel refused: see caps_text for what remains), -EIO when
 * libcap-ng cannot read the thread's state.
 */
int caps_keep(const int *caps, size_t n);
/*
 * Take caps[0..n) out of this thread's effective set (on false) or put
 * them back (on true): permitted keeps them, so a probe can try what works
 * without them. 0 or -EPERM.
 */
int caps_effective(const int *caps, size_t n, bool on);
/* Whether this thread has cap in its permitted set. */
int caps_have(int cap);
/* This thread's effective set as "net_admin, sys_admin", "none" when
 * empty; in buf. */
const char *caps_text(char *buf, size_t len);

#endif
