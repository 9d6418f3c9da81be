// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: tap_format (user/control/tap_fmt.c), the line or JSON
 * object `espressoctl trace` prints for a trace record, on any record:
 * the packet's first bytes (hdr, an inner IPv4/IPv6 header and its ports
 * or ICMP fields, from outside), lengths, SPI, sequence, addresses, and
 * the fields the worker fills (kept as it keeps them: a direction, a drop
 * reason that exists, hdr_len within hdr, a terminated tunnel name).
 * Input: the record's bytes (zero-padded). The output must be terminated,
 * as long as the return says (or cut at the buffer), and in JSON mode
 * parse back (json-c) as an object with "dir".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "control/tap_ctl.h"
#include "core/stats.h"
#include "core/tap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "UTC", 1); /* localtime_r: no zone file per run */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tap_trace r;
	char buf[4096], small[24];
	struct json_object *o, *dir;
	int n, json;

	memset(&r, 0, sizeof(r));
	memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
	r.dir = r.dir & 1 ? TAP_DIR_IN : TAP_DIR_OUT;
	if (r.hdr_len > TAP_HDR_MAX)
		r.hdr_len = TAP_HDR_MAX;
	r.drop = (int16_t)((uint16_t)r.drop % DROP_MAX);
	r.tunnel[TAP_NAME_MAX - 1] = '\0';
	for (json = 0; json < 2; json++) {
		memset(buf, 0x55, sizeof(buf));
		n = tap_format(&r, json, buf, sizeof(buf));
		if (n <= 0 || (size_t)n >= sizeof(buf) || buf[n] != '\0' ||
		    strlen(buf) != (size_t)n || buf[n - 1] != '\n')
			abort();
		if (json) {
			o = json_tokener_parse(buf);
			if (!o || !json_object_is_type(o, json_type_object) ||
			    !json_object_object_get_ex(o, "dir", &dir))
				abort();
			json_object_put(o);
		}
		memset(small, 0x55, sizeof(small));
		if (tap_format(&r, json, small, sizeof(small)) != n ||
		    !memchr(small, '\0', sizeof(small)))
			abort();
	}
	return 0;
}
