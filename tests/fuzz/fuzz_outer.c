// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: esp_outer_parse (user/proto/esp6.c), which reads the
 * outer IPv4 or IPv6 header (extension headers, NAT-T UDP) of a packet
 * reassembly completed, before decryption (core/rx.c), on any bytes. An
 * accepted packet's ESP header lies within its IP length and the buffer,
 * past an outer header of the right family, and the SPI is the one there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "espresso/common.h"
#include "proto/esp.h"
#include "fuzz_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *ip = malloc(size ? size : 1); /* exact size: ASan sees past it */
	struct espresso_meta m;
	size_t tot;

	memcpy(ip, data, size);
	if (!esp_outer_parse(ip, size, &m)) {
		if (m.l3_proto != 4 && m.l3_proto != 6)
			abort();
		tot = m.l3_proto == 4 ? fz_get16(ip + 2) : 40u + fz_get16(ip + 4);
		if ((ip[0] >> 4) != m.l3_proto || tot > size ||
		    m.esp_off < (m.l3_proto == 4 ? 20u : 40u) ||
		    m.esp_off + 8u > tot || m.spi != fz_get32(ip + m.esp_off))
			abort();
		/* any UDP port: the worker checks the tunnel's own NAT-T
		 * port (local_port) */
		if (m.encap && (m.esp_off < 8u + 20u || !m.spi))
			abort();
	}
	free(ip);
	return 0;
}
