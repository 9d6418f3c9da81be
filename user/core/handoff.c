// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/handoff.h"

int spsc_init(struct spsc_ring *r, uint32_t size, uint32_t elem)
{
	memset(r, 0, sizeof(*r));
	if (!size || (size & (size - 1)))
		return -EINVAL;
	r->slots = calloc(size, elem);
	if (!r->slots)
		return -ENOMEM;
	r->size = size;
	r->elem = elem;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void spsc_free(struct spsc_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}
