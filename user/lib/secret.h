/* SPDX-License-Identifier: GPL-2.0 */
/*
 * secret: memory for key material. Pages of their own (mmap), locked in RAM
 * (mlock: never written to swap), left out of core dumps (MADV_DONTDUMP)
 * and zeroed in a child after fork (MADV_WIPEONFORK); a slot is wiped when
 * it is freed, and handed out zeroed.
 *
 * Sizes up to SECRET_SLOT_MAX come from slots of 64, 128, ... 4096 bytes
 * (the next power of two), each aligned to its size, carved from 64 KiB
 * chunks and kept on a free list per size; larger ones get a mapping of
 * their own, unmapped when freed. The caller passes the size back to
 * secret_free (as OPENSSL_clear_free). Thread-safe (one mutex): for the
 * control plane, never the packet path.
 *
 * When the kernel refuses to lock (RLIMIT_MEMLOCK without CAP_IPC_LOCK:
 * the systemd unit sets LimitMEMLOCK=infinity), the memory is still
 * handed out, out of core dumps, and a warning says so once.
 */
#ifndef ESPRESSO_SECRET_H
#define ESPRESSO_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_SLOT_MIN 64
#define SECRET_SLOT_MAX 4096

/* size bytes, zeroed, aligned to the slot size (64 at least); NULL with
 * errno ENOMEM, or EINVAL for size 0. */
void *secret_alloc(size_t size);
/* Wipe p's size bytes (the whole slot) and give it back; NULL is fine. */
void secret_free(void *p, size_t size);

struct secret_stats {
	size_t bytes_mapped;  /* chunks and large mappings */
	size_t slots_used;    /* allocations outstanding */
	size_t bytes_used;    /* what they take: their slots, or pages */
	bool lock_failed;     /* mlock refused some of it (warned once) */
};
void secret_get_stats(struct secret_stats *st);

#endif
