/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rig: one worker over tables the control code builds (control/live.c),
 * its tun a datagram socket pair (the test's end is sp[0]), its XSK rings
 * plain memory (fakexsk.h): for unit tests that drive the worker's own
 * tx_burst and rx_burst (test_txroute, test_rxcheck).
 */
#ifndef ESPRESSO_TESTS_RIG_H
#define ESPRESSO_TESTS_RIG_H

#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/live.h"
#include "core/worker.h"
#include "fakexsk.h"

struct rig {
	struct live l;
	struct worker w;
	struct worker_env env;
	struct fport f;
	_Atomic int stop;
	int sp[2];
};

/* r->l built and committed: the worker up over its tables */
static inline void rig_worker_up(struct rig *r, int mtu, int batch,
				 bool offload)
{
	r->env.tables = &r->l.cur;
	r->env.epoch = &r->l.epoch;
	r->env.workers = &r->w;
	r->env.nworkers = 1;
	r->env.uplink_mtu = mtu;
	r->env.batch = batch;
	r->env.offload = offload;
	r->env.stop = &r->stop;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0,
				r->sp), 0);
	/* more packets queued than a batch reads (root: past wmem_max;
	 * else as far as wmem_max goes) */
	if (setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUFFORCE,
		       &(int){ 8 << 20 }, sizeof(int)))
		cr_assert_eq(setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUF,
					&(int){ 8 << 20 }, sizeof(int)), 0,
			     "SO_SNDBUF: %s", strerror(errno));
	cr_assert_eq(worker_init(&r->w, 0, -1, &r->env, r->sp[1]), 0);
	fport_init(&r->w.port, &r->f, 1024);
	r->w.tb = live_tables(&r->l);
	r->w.now_ms = worker_now_ms();
}

/* every frame back; then all freed */
static inline void rig_worker_down(struct rig *r)
{
	cr_assert_eq(r->w.port.n_state[FRAME_FREE] +
			     r->w.port.n_state[FRAME_FILL],
		     XSK_NUM_FRAMES, "every frame back");
	close(r->sp[0]);
	close(r->w.tun_fd);
	fport_free(&r->w.port, &r->f);
	worker_free(&r->w);
	live_destroy(&r->l);
}

/*
 * AES-256-GCM over an ESP packet with OpenSSL's EVP, not espresso's code:
 * esp is its header and IV (16 bytes: SPI and sequence number, the AAD,
 * then the IV), key the 32-byte key and the 4-byte salt. Seal: len bytes
 * of pt into esp + 16, the ICV after them. Open: the len bytes at
 * esp + 16 into pt; false when the ICV does not match.
 */
static inline bool evp_esp(bool seal, const uint8_t key[36], uint8_t *esp,
			   uint8_t *pt, int len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	int out = 0, fin = 0;
	bool ok;

	memcpy(nonce, key + 32, 4);
	memcpy(nonce + 4, esp + 8, 8);
	cr_assert_not_null(c);
	cr_assert(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
				    seal));
	cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL));
	cr_assert(EVP_CipherInit_ex(c, NULL, NULL, key, nonce, seal));
	cr_assert(EVP_CipherUpdate(c, NULL, &out, esp, 8)); /* SPI, seq */
	cr_assert(EVP_CipherUpdate(c, seal ? esp + 16 : pt, &out,
				   seal ? pt : esp + 16, len));
	if (!seal)
		cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
					      esp + 16 + len));
	ok = EVP_CipherFinal_ex(c, (seal ? esp + 16 : pt) + out, &fin) == 1;
	if (seal) {
		cr_assert(ok);
		cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
					      esp + 16 + len));
	}
	EVP_CIPHER_CTX_free(c);
	return ok;
}

#endif
