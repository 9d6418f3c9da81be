/* SPDX-License-Identifier: GPL-2.0 */
/*
 * topmap: the exact replay top of each persisted inbound SA, for this boot.
 *
 * The state directory's "tops" file is mapped shared; a worker that accepts
 * a packet stores its sequence number there (sa_rx_note, tables/sa.h): a
 * store to memory, no syscall. The page cache outlives the process, so
 * after a crash, a SIGKILL or an upgrade the restarted daemon reads every
 * SA's exact top: a packet accepted before is refused as a replay, and no
 * number the peer has not sent yet is refused (traffic resumes at once).
 *
 * The page cache does not outlive the kernel: the file carries the boot id
 * (/proc/sys/kernel/random/boot_id) and after a reboot its records are
 * dropped. Then the inbound limits in the seqstore (persisted and fsync'd
 * ahead of use, control/live.c) are what the windows restart from.
 *
 * Records are keyed by (spi, key fingerprint) as in the seqstore. The
 * control thread claims and releases slots; workers only write tops. The
 * directory's lock (seqstore_open) keeps a second daemon out.
 */
#ifndef ESPRESSO_TOPMAP_H
#define ESPRESSO_TOPMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPMAP_FP_LEN 16
/* slots in the file (sparse: a page is written only once used) */
#define TOPMAP_SLOTS (1u << 20)

struct topmap;

/*
 * Map dir/tops, creating it (mode 0600) when missing. Records of another
 * boot (or a file that is not a tops file) are dropped: see
 * topmap_dropped. 0 or -errno, message in err.
 */
int topmap_open(struct topmap **out, const char *dir, char *err,
		size_t errlen);
/* The same with the given boot id instead of the kernel's (tests). */
int topmap_open_boot(struct topmap **out, const char *dir, const char *boot,
		     char *err, size_t errlen);
/* Unmap (the file stays, for the next start). NULL is a no-op. */
void topmap_close(struct topmap *m);
/* Records found at open that were dropped (another boot): 0 when none. */
size_t topmap_dropped(const struct topmap *m);
/* Records held. */
size_t topmap_count(const struct topmap *m);

/*
 * The slot for (spi, fp), for an SA about to be published. An existing
 * record (a restart in this boot, or the SA added again) is taken over:
 * *found = true and *top = its top. Else a new record starts at init.
 * NULL when the file is full (the SA then has only its limit).
 */
_Atomic uint64_t *topmap_claim(struct topmap *m, uint32_t spi,
			       const uint8_t fp[TOPMAP_FP_LEN], uint64_t init,
			       uint64_t *top, bool *found);
/* The SA is gone and no worker can write its slot any more; the record
 * goes (its top is in the seqstore by then). */
void topmap_release(struct topmap *m, _Atomic uint64_t *slot);

/* Each record (a clean stop: its top goes to the seqstore). */
void topmap_each(const struct topmap *m,
		 void (*cb)(void *arg, uint32_t spi,
			    const uint8_t fp[TOPMAP_FP_LEN], uint64_t top),
		 void *arg);
/* Every record goes (a clean stop, once the seqstore holds their tops and
 * is synced; no worker may write a slot any more): a crash loop leaves
 * records behind, a clean stop none. */
void topmap_reset(struct topmap *m);

#endif
