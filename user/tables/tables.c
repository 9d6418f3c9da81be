// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>

#include "tables/tables.h"

void tables_free(struct tables *tb)
{
	uint32_t i;

	if (!tb)
		return;
	for (i = 0; i < tb->nsa; i++)
		sa_put(tb->sa_in[i]);
	for (i = 0; i < tb->ntun; i++)
		tunnel_put(tb->tun[i]);
	fib_free(tb->fib4);
	fib_free(tb->fib6);
	for (i = 0; tb->vrf && i < tb->nvrf; i++) {
		fib_free(tb->vrf[i].fib4);
		fib_free(tb->vrf[i].fib6);
	}
	free(tb->vrf);
	free(tb->sa_in);
	free(tb->spi_hash);
	free(tb->tun);
	free(tb->groups);
	free(tb);
}
