/* SPDX-License-Identifier: GPL-2.0 */
/* csum: the Internet checksum (RFC 1071), pseudo-headers, RFC 1624 updates. */
#ifndef ESPRESSO_CSUM_H
#define ESPRESSO_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add len bytes at buf to the 32-bit one's-complement accumulator sum
 * (every chunk but the last must have an even length).
 * Bytes are summed as big-endian 16-bit words in memory order, so a folded
 * result can be stored as is (it is in network byte order). */
uint32_t csum_add(uint32_t sum, const void *buf, size_t len);
/* Fold to 16 bits (not inverted). */
static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}
/* The final checksum value: folded and inverted, network byte order. */
static inline uint16_t csum_finish(uint32_t sum)
{
	return (uint16_t)~csum_fold(sum);
}
/* Pseudo-header sums (RFC 793 / RFC 8200 8.1), addresses as in the packet. */
uint32_t csum_pseudo4(const void *saddr, const void *daddr, uint8_t proto,
		      uint32_t l4_len);
uint32_t csum_pseudo6(const void *saddr, const void *daddr, uint8_t proto,
		      uint32_t l4_len);
/* RFC 1624: *check (network order) after a 16-bit field changes from old
 * to new (both network order). */
void csum_replace16(uint16_t *check, uint16_t old, uint16_t new_);

#endif
