/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spdstore: the policies added through espressoctl, kept across restarts
 * in the state directory (STATE_DIR/policies), as the espressoctl lines
 * that add them. Written whole (temporary file, fsync, rename) after each
 * commit that changed them (spd_sync), read back at start-up after the
 * config's policies. A protect rule whose tunnel is not there (yet: IKE
 * adds it later) is restored and discards until it is (fail closed).
 */
#ifndef ESPRESSO_SPDSTORE_H
#define ESPRESSO_SPDSTORE_H

struct spd;
struct live;

/* 0, or -errno with err (the file and line). No file: 0, nothing added. */
int spdstore_load(struct spd *s, struct live *l, char *err, size_t errlen);
/* The non-config rules into s->store. 0 or -errno (logged). */
int spdstore_save(const struct spd *s);

#endif
