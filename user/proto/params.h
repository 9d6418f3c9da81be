/* SPDX-License-Identifier: GPL-2.0 */
/*
 * params: the values that describe an SA on the wire (cipher, encapsulation,
 * fragmentation rule, key size). Shared by the config, the tables and the
 * protocol code, so the packet path needs no config header.
 */
#ifndef ESPRESSO_PARAMS_H
#define ESPRESSO_PARAMS_H

#define CFG_KEY_MAX 36 /* AES-256 key + 4-byte salt */
#define CFG_MAX_VRF 15 /* VRFs with a tun each, besides the default */

#include <stdint.h>

/*
 * An SA's lifetimes (RFC 4301 4.4.2.1), as the control API and IKE give
 * them: the soft limit raises an event (IKE rekeys), the hard one removes
 * the SA. In seconds since it was added, and in bytes and packets it
 * carried (its inner packets, all workers together). 0: none.
 */
struct sa_life {
	uint64_t soft_s, hard_s;
	uint64_t soft_bytes, hard_bytes;
	uint64_t soft_packets, hard_packets;
};

enum cfg_cipher {
	CIPHER_AES_GCM_128 = 0, /* "aes-gcm-128": 16-byte key + 4-byte salt */
	CIPHER_AES_GCM_256 = 1, /* "aes-gcm-256": 32-byte key + 4-byte salt */
	/* "chacha20-poly1305" (RFC 7634): 32-byte key + 4-byte salt; the same
	 * wire format as AES-GCM (8-byte IV, nonce salt || IV, 16-byte ICV) */
	CIPHER_CHACHA20_POLY1305 = 2,
};
#define CIPHER_MAX CIPHER_CHACHA20_POLY1305

enum cfg_encap {
	ENCAP_ESP = 0, /* "esp": IP protocol 50 */
	ENCAP_UDP = 1, /* "udp": RFC 3948, UDP port 4500 */
};

enum cfg_fragment {
	FRAG_INNER = 0, /* "inner": fragment the clear packet, then encrypt */
	FRAG_OUTER = 1, /* "outer": encrypt, then fragment the ESP packet */
};

/* Key length of a cipher, the 4-byte salt included. */
static inline unsigned int params_key_len(enum cfg_cipher c)
{
	return c == CIPHER_AES_GCM_128 ? 16 + 4 : 32 + 4;
}

#endif
