/* SPDX-License-Identifier: GPL-2.0 */
/*
 * seqstore: sequence numbers that survive a restart, for statically keyed
 * ESP SAs. With AES-GCM the IV is the sequence number, so sending one twice
 * under one key breaks the cipher; and an inbound window that restarts at 0
 * accepts replays of everything sent before the restart.
 *
 * Records are keyed by (spi, dir, key fingerprint), so a new key under an old
 * SPI starts fresh and an old key that comes back finds its numbers again
 * (outbound, under any SPI: seqstore_get_key).
 * The caller persists AHEAD of use: set the high-water mark of a block it
 * has not used yet, seqstore_sync, and only after sync returns 0 use the
 * numbers below that mark. The store lives in "seq" in its directory,
 * replaced atomically (temp file, fsync, rename, fsync dir), and a journal
 * beside it, "seq.log", to which each sync appends only the records that
 * changed since the last (one write, one fdatasync); "seq" is rewritten
 * when the journal grows past twice its size (seqstore.c has the formats).
 *
 * One thread (control) uses a store. The directory is locked (flock) while
 * open, so two daemons cannot share it.
 */
#ifndef ESPRESSO_SEQSTORE_H
#define ESPRESSO_SEQSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEQSTORE_FP_LEN 16
/* retired records kept beyond this many (the newest win) are dropped at sync */
#define SEQSTORE_KEEP_RETIRED 65536

enum seqstore_dir { SEQSTORE_IN = 0, SEQSTORE_OUT = 1 };

struct seqstore;

/*
 * Open the store in dir (e.g. /var/lib/espresso/gw-a), creating missing
 * directories with mode 0700, and load its records. A missing store file is
 * an empty store (see seqstore_fresh); a corrupt or truncated one is refused
 * with -EINVAL, never read as empty. -EBUSY when another process (or another
 * open in this one) holds the directory. 0 or -errno, message in err.
 */
int seqstore_open(struct seqstore **out, const char *dir, char *err,
		  size_t errlen);
/* Free the store and release its lock; does not write. NULL is a no-op. */
void seqstore_close(struct seqstore *s);
/* True when there was no store file at open (a first start, or a lost one:
 * with static keys, a lost store means numbers already used may be reused). */
bool seqstore_fresh(const struct seqstore *s);

/*
 * The key's fingerprint: HMAC-SHA256 keyed with the label
 * "espresso seqstore v1" over the key bytes, truncated to SEQSTORE_FP_LEN.
 * Identifies "the same key" without storing it. 0, or -EIO when libcrypto
 * fails (fp is zeroed then).
 */
int seqstore_fingerprint(const uint8_t *key, size_t key_len,
			 uint8_t fp[SEQSTORE_FP_LEN]);

/* The stored value for (spi, dir, fp), retired or not: 0, or -ENOENT. */
int seqstore_get(const struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t *value);
/*
 * The highest value stored for the key fp in direction dir under any SPI,
 * retired or not: 0, or -ENOENT (value 0). An outbound SA starts above
 * it, so a key that comes back under another SPI never sends a number it
 * sent before.
 */
int seqstore_get_key(const struct seqstore *s, enum seqstore_dir dir,
		     const uint8_t fp[SEQSTORE_FP_LEN], uint64_t *value);
/*
 * Set in memory; the larger of the stored and the given value is kept, so
 * read it back with seqstore_get when the caller's may be lower. Makes the
 * record live again if it was retired. Marks the store dirty when anything
 * changed. 0, -EINVAL (bad dir) or -ENOMEM.
 */
int seqstore_set(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t value);
/*
 * Set in memory to exactly value, lower or not (a clean stop: the inbound
 * replay top, known exact once the workers stopped, replaces the limit
 * persisted ahead of it). Otherwise as seqstore_set.
 */
int seqstore_put(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t value);
/*
 * The SA went away: keep its record (the same key may come back) but mark
 * it retired with the time. Retired records beyond the newest
 * SEQSTORE_KEEP_RETIRED are dropped at the next sync. A record that is
 * missing or already retired is left alone.
 */
void seqstore_retire(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		     const uint8_t fp[SEQSTORE_FP_LEN]);
/* Changes in memory that seqstore_sync has not yet made durable. */
bool seqstore_dirty(const struct seqstore *s);
/*
 * Make every change durable: the records changed since the last sync
 * appended to the journal and fdatasync'd; or, when the journal would grow
 * past twice "seq" (256 KiB at least), when retired records are pruned, or
 * when there is no journal for the "seq" on disk (a new store, a journal
 * left by a crash in a compaction, a compaction that failed), every record
 * written to a temp file in the
 * same directory, fsync, rename over "seq", fsync the directory, then a new
 * empty journal. Only after this returns 0 may the caller use the values it
 * set. 0 or -errno (message in err); on failure the store stays dirty and
 * what a later open reads is what the last successful sync left.
 */
int seqstore_sync(struct seqstore *s, char *err, size_t errlen);
/* Records held, live and retired. */
size_t seqstore_count(const struct seqstore *s);

/* For tests: keep n retired records instead of SEQSTORE_KEEP_RETIRED. */
void seqstore_set_keep_retired(struct seqstore *s, size_t n);

#endif
