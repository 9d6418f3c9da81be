// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: cmd_parse, the control socket's command parser, on any
 * request line (what a root client may send). It must never crash, and a
 * refused line must leave a terminated message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), err[CMD_ERR_MAX];
	struct cmd c;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (!cmd_parse(line, &c, err, sizeof(err)))
		cmd_wipe(&c);
	else if (!memchr(err, '\0', sizeof(err)))
		abort();
	free(line);
	return 0;
}
