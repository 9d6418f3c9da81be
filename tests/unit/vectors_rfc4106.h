/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RFC 4106 (AES-GCM in ESP) known-answer vectors, all from
 *
 *   D. McGrew, "Test Cases for the use of Galois/Counter Mode (GCM) and
 *   Galois Message Authentication Code (GMAC) in IPsec ESP",
 *   draft-mcgrew-gcm-test-01, March 2009, section 4 "Test Cases"
 *   https://datatracker.ietf.org/doc/html/draft-mcgrew-gcm-test-01
 *
 * Each case of the draft is a full ESP packet: SPI, sequence number (32-bit,
 * or 64-bit ESN whose high half is only in the AAD), IV, key and salt, the
 * plaintext packet with its ESP trailer (padding, pad length, next header),
 * and the encrypted payload followed by the 16-byte ICV.
 *
 * The bytes were transcribed from two independent copies of the draft's
 * test cases and checked to agree:
 *   - snabbco/snabb src/lib/ipsec/aes_gcm.lua, selftest() (key, salt, SPI,
 *     64-bit seq, IV, plaintext, ciphertext||ICV of each ESP case);
 *   - openbsd/src regress/sys/crypto/gmac/gmac_test.c, "Test vectors from
 *     draft-mcgrew-gcm-test-01.txt" (key+salt, IV, AAD, ciphertext, tag,
 *     labelled with the draft page each case is printed on; the "pN" names
 *     below are those pages);
 * and recomputed with Python's cryptography AESGCM before being written here.
 * Plaintexts of p6, p8, p9 are also in ell unit/test-cipher.c (gcm_test1,
 * gcm_test3, gcm_test4, "https://tools.ietf.org/html/draft-mcgrew-gcm-test-01").
 *
 * esp is the draft's "Encrypted and Authenticated ESP Packet" from the SPI to
 * the ICV: SPI (4) | low 32 bits of seq (4) | IV (8) | ciphertext | ICV (16).
 * The draft's AES-192 cases are left out: espresso has no AES-192.
 */
#ifndef ESPRESSO_TESTS_VECTORS_RFC4106_H
#define ESPRESSO_TESTS_VECTORS_RFC4106_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct rfc4106_vector {
	const char *name;
	enum cfg_cipher cipher;
	const char *key;  /* hex: AES key then the 4-byte salt */
	uint32_t spi;
	uint64_t seq;     /* full sequence number */
	bool esn;         /* AAD is SPI | 64-bit ESN (12 bytes), else 8 bytes */
	const char *iv;   /* hex, 8 bytes */
	const char *pt;   /* hex: inner packet + ESP trailer */
	const char *esp;  /* hex: SPI | seq | IV | ciphertext | ICV */
};

static const struct rfc4106_vector rfc4106_vectors[] = {
	{
		/* draft page 6: AES-128, SPI 0x4321, 64-bit ESN
		 * 0x8765432100000000, UDP/DNS inner packet */
		.name = "p6-aes128-esn",
		.cipher = CIPHER_AES_GCM_128,
		.key = "4c80cdefbb5d10da906ac73c3613a634" "2e443b68",
		.spi = 0x00004321,
		.seq = 0x8765432100000000ull,
		.esn = true,
		.iv = "4956ed7e3b244cfe",
		.pt = "45000048699a000080114db7c0a80102"
		      "c0a801010a9bf15638d3010000010000"
		      "00000000045f736970045f7564700373"
		      "69700963796265726369747902646b00"
		      "0021000101020201",
		.esp = "00004321" "00000000" "4956ed7e3b244cfe"
		       "fecf537e729d5b07dc30df528dd22b76"
		       "8d1b98736696a6fd348509fa13ceac34"
		       "cfa2436f14a3f3cf65925bf1f4a13c5d"
		       "15b21e1884f5ff6247aeabb786b93bce"
		       "61bc17d768fd9732"
		       "459018148f6cbe722fd04796562dfdb4",
	},
	{
		/* draft page 8: AES-256, SPI 0x4a2cbfe3, 32-bit seq 2,
		 * TCP SYN inner packet */
		.name = "p8-aes256",
		.cipher = CIPHER_AES_GCM_256,
		.key = "abbccddef00112233445566778899aab"
		       "abbccddef00112233445566778899aab" "11223344",
		.spi = 0x4a2cbfe3,
		.seq = 2,
		.esn = false,
		.iv = "0102030405060708",
		.pt = "4500003069a6400080062690c0a80102"
		      "9389155e0a9e008b2dc57ee000000000"
		      "7002400020bf0000020405b401010402"
		      "01020201",
		.esp = "4a2cbfe3" "00000002" "0102030405060708"
		       "ff425c9b724599df7a3bcd510194e00d"
		       "6a78107f1b0b1cbf06efae9d65a5d763"
		       "748a637985771d347f0545659f14e99d"
		       "ef842d8e"
		       "b335f4eecfdbf831824b4c4915956c96",
	},
	{
		/* draft page 9: AES-128 all-zero key and salt, SPI 0, 32-bit
		 * seq 1, ICMP echo inner packet */
		.name = "p9-aes128-zero",
		.cipher = CIPHER_AES_GCM_128,
		.key = "00000000000000000000000000000000" "00000000",
		.spi = 0x00000000,
		.seq = 1,
		.esn = false,
		.iv = "0000000000000000",
		.pt = "4500003c99c500008001cb7a40679318"
		      "010101010800075c0200440061626364"
		      "65666768696a6b6c6d6e6f7071727374"
		      "75767761626364656667686901020201",
		.esp = "00000000" "00000001" "0000000000000000"
		       "4688daf2f973a392732909c331d56d60"
		       "f694abaa414b5e7ff5fdcdfff5e9a284"
		       "456476492719ffb64de7d9dca1e1d894"
		       "bc3bd57873ed4d181d19d4d5c8c18af3"
		       "f821d496eeb096e98ad2b69e4799c71d",
	},
	{
		/* draft page 10: AES-128, SPI 0x42f67e3f, 64-bit ESN
		 * 0x1010101010101010, ICMP echo inner packet */
		.name = "p10-aes128-esn",
		.cipher = CIPHER_AES_GCM_128,
		.key = "3de09874b388e6491988d0c3607eae1f" "57690e43",
		.spi = 0x42f67e3f,
		.seq = 0x1010101010101010ull,
		.esn = true,
		.iv = "4e280000a2fca1a3",
		.pt = "4500003c99c300008001cb7c40679318"
		      "010101010800085c0200430061626364"
		      "65666768696a6b6c6d6e6f7071727374"
		      "75767761626364656667686901020201",
		.esp = "42f67e3f" "10101010" "4e280000a2fca1a3"
		       "fba2caa4853cf9f0f22cb10d86dd83b0"
		       "fec75691cf1a04b00d1138ec9c357917"
		       "65acbd8701ad79845bf9fe3fba487bc9"
		       "1755e6662b4c8d0d1f5e22739530320a"
		       "e0d731cc978ecafaeae88f00e80d6e48",
	},
	{
		/* draft page 12: AES-128, SPI 0x100, 64-bit ESN 1, UDP inner
		 * packet, 3 bytes of padding */
		.name = "p12-aes128-esn",
		.cipher = CIPHER_AES_GCM_128,
		.key = "abbccddef00112233445566778899aab" "decaf888",
		.spi = 0x00000100,
		.seq = 0x0000000000000001ull,
		.esn = true,
		.iv = "cafedebaceface74",
		.pt = "4500004933ba00007f119106c3fb1d10"
		      "c2b1d326c02831ce0035dd7b800302d5"
		      "00004e20001e8c18d75b81dc91baa047"
		      "6b91b924b280389d92c963bac046ec95"
		      "9b6266c04722b14923010101",
		.esp = "00000100" "00000001" "cafedebaceface74"
		       "18a6fd42f72cbf4ab2a2ea901f73d814"
		       "e3e7f243d95412e1c349c1d2fbec168f"
		       "9190feebaf2cb01984e65863965d7472"
		       "b79da345e0e780191f0d2f0e0f496c22"
		       "6f2127b27db35724e7845d68"
		       "651f57e65f354f75ff17015769623436",
	},
	{
		/* draft page 13: AES-256, SPI 0x17405e67, 64-bit ESN
		 * 0x156f3126dd0db99b, TCP inner packet */
		.name = "p13-aes256-esn",
		.cipher = CIPHER_AES_GCM_256,
		.key = "abbccddef00112233445566778899aab"
		       "abbccddef00112233445566778899aab" "73616c74",
		.spi = 0x17405e67,
		.seq = 0x156f3126dd0db99bull,
		.esn = true,
		.iv = "616e640169766563",
		.pt = "45080028732c00004006e9f90a010612"
		      "0a01038f06b88023dd6bafbecb712602"
		      "50101f646d540001",
		.esp = "17405e67" "dd0db99b" "616e640169766563"
		       "f2d69ecdbd5a0d5b8d5ef38bad4da58d"
		       "1f278fde98ef67549d524a3018d9a57f"
		       "f4d3a31ce673119e"
		       "451626c2415771e3b7eebca614c89b35",
	},
	{
		/* draft page 16: AES-128, SPI 0x335467ae, 32-bit seq
		 * 0xffffffff, trailer only (pad 1 2, pad length 2, nh 1) */
		.name = "p16-aes128-trailer-only",
		.cipher = CIPHER_AES_GCM_128,
		.key = "7d773d00c144c525ac619d18c84a3f47" "d9664267",
		.spi = 0x335467ae,
		.seq = 0xffffffffull,
		.esn = false,
		.iv = "43457e9182443bc6",
		.pt = "01020201",
		.esp = "335467ae" "ffffffff" "43457e9182443bc6"
		       "437f866b"
		       "cb3f699fe9b0822bac961c4504bef270",
	},
	{
		/* draft page 17: AES-256, SPI 0x796b6963, 64-bit ESN
		 * 0xffffffffffffffff, ICMP echo inner packet */
		.name = "p17-aes256-esn-max",
		.cipher = CIPHER_AES_GCM_256,
		.key = "6c6567616c697a656d6172696a75616e"
		       "61616e64646f69746265666f72656961" "7475726e",
		.spi = 0x796b6963,
		.seq = 0xffffffffffffffffull,
		.esn = true,
		.iv = "333021696765746d",
		.pt = "45000030da3a00008001df3bc0a80005"
		      "c0a800010800c6cd0200070061626364"
		      "65666768696a6b6c6d6e6f7071727374"
		      "01020201",
		.esp = "796b6963" "ffffffff" "333021696765746d"
		       "f97ab2aa356d8edce17644ac8c78e25d"
		       "d24dedbb29ebf1b64a274b39b49c3a86"
		       "4cd3d78ca4ae68a32b42458fb57dbe82"
		       "1dcc63b9"
		       "d0937ba2945f669368661a329fb4c053",
	},
};

#define RFC4106_NVECTORS (sizeof(rfc4106_vectors) / sizeof(rfc4106_vectors[0]))

#endif
