// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "lib/hmap.h"

void *hmap_next(const struct hmap *m, uint64_t h, size_t *i)
{
	size_t pos;

	if (!m->ent)
		return NULL;
	/* *i counts probes from the home slot */
	for (pos = (h + *i) & m->mask; m->ent[pos].ptr;
	     pos = (pos + 1) & m->mask) {
		(*i)++;
		if (m->ent[pos].hash == h)
			return m->ent[pos].ptr;
	}
	return NULL;
}

static void put(struct hmap_ent *ent, size_t mask, uint64_t h, void *ptr)
{
	size_t pos = h & mask;

	while (ent[pos].ptr)
		pos = (pos + 1) & mask;
	ent[pos].hash = h;
	ent[pos].ptr = ptr;
}

int hmap_add(struct hmap *m, uint64_t h, void *ptr)
{
	if (!m->ent || (m->n + 1) * 2 > m->mask + 1) {
		size_t cap = m->ent ? (m->mask + 1) * 2 : 64, i;
		struct hmap_ent *ent = calloc(cap, sizeof(*ent));

		if (!ent)
			return -ENOMEM;
		for (i = 0; m->ent && i <= m->mask; i++)
			if (m->ent[i].ptr)
				put(ent, cap - 1, m->ent[i].hash,
				    m->ent[i].ptr);
		free(m->ent);
		m->ent = ent;
		m->mask = cap - 1;
	}
	put(m->ent, m->mask, h, ptr);
	m->n++;
	return 0;
}

bool hmap_del(struct hmap *m, uint64_t h, const void *ptr)
{
	size_t pos, next, home;

	if (!m->ent)
		return false;
	for (pos = h & m->mask; m->ent[pos].ptr; pos = (pos + 1) & m->mask)
		if (m->ent[pos].ptr == ptr)
			break;
	if (!m->ent[pos].ptr)
		return false;
	/* backward shift: pull later entries of the run into the hole */
	for (next = (pos + 1) & m->mask; m->ent[next].ptr;
	     next = (next + 1) & m->mask) {
		home = m->ent[next].hash & m->mask;
		/* can the entry at next move to pos? (home not in (pos, next]) */
		if ((next > pos && (home <= pos || home > next)) ||
		    (next < pos && (home <= pos && home > next))) {
			m->ent[pos] = m->ent[next];
			pos = next;
		}
	}
	m->ent[pos].ptr = NULL;
	m->ent[pos].hash = 0;
	m->n--;
	return true;
}

void hmap_free(struct hmap *m)
{
	free(m->ent);
	m->ent = NULL;
	m->mask = 0;
	m->n = 0;
}
