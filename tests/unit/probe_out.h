/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A probe inside sa_create, for the tests of live.c and apply.c: every
 * cipher context is made with EVP_CIPHER_CTX_new, which a test binary that
 * includes this defines over libcrypto's (and forwards to it). While
 * probe_t is set, each call records what a worker would send with on that
 * tunnel at that moment: an outbound SA must never be missing (NULL) while
 * its replacement is being made.
 */
#ifndef ESPRESSO_TEST_PROBE_OUT_H
#define ESPRESSO_TEST_PROBE_OUT_H

#include <dlfcn.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tables/tunnel.h"

static struct tunnel *probe_t;
static struct sa *probe_seen;
static uint64_t probe_calls, probe_nulls;

EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void)
{
	static EVP_CIPHER_CTX *(*real)(void);

	if (!real)
		real = (EVP_CIPHER_CTX * (*)(void))dlsym(RTLD_NEXT,
							 "EVP_CIPHER_CTX_new");
	if (probe_t) {
		probe_calls++;
		probe_seen = tunnel_out_sa(probe_t, 0);
		probe_nulls += !probe_seen;
	}
	return real();
}

#endif
