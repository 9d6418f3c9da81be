// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: esp_decap_post on any decrypted payload (what a peer
 * holding the key could send): trailer, inner length and address checks.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/esp.h"
#include "tables/sa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg_prefix routes[2];
	static struct cfg_tunnel ct;
	static struct tunnel t;
	uint8_t *pt = malloc(size ? size : 1);
	size_t inner;

	if (!ct.nroutes) {
		config_parse_prefix("10.1.0.0/16", &routes[0]);
		config_parse_prefix("fd00:1::/64", &routes[1]);
		ct.routes = routes;
		ct.nroutes = 2;
		t.cfg = &ct;
	}
	memcpy(pt, data, size);
	if (!esp_decap_post(&t, pt, size, &inner) && inner > size)
		abort();
	free(pt);
	return 0;
}
