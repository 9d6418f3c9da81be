// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <cap-ng.h>

#include "lib/caps.h"

int caps_have(int cap)
{
	if (capng_get_caps_process())
		return 0;
	return capng_have_capability(CAPNG_PERMITTED, (unsigned int)cap);
}

int caps_effective(const int *caps, size_t n, bool on)
{
	size_t i;

	if (capng_get_caps_process())
		return -EIO;
	for (i = 0; i < n; i++)
		if (capng_have_capability(CAPNG_PERMITTED,
					  (unsigned int)caps[i]) &&
		    capng_update(on ? CAPNG_ADD : CAPNG_DROP, CAPNG_EFFECTIVE,
				 (unsigned int)caps[i]))
			return -EIO;
	return capng_apply(CAPNG_SELECT_CAPS) ? -EPERM : 0;
}

int caps_keep(const int *caps, size_t n)
{
	const capng_type_t all = CAPNG_EFFECTIVE | CAPNG_PERMITTED |
				 CAPNG_BOUNDING_SET;
	capng_select_t sets = CAPNG_SELECT_ALL;
	int keep[64];
	size_t i, k = 0;

	/* capset refuses to keep what the thread does not have */
	if (capng_get_caps_process())
		return -EIO;
	/* without privileges (not root) the bounding set cannot shrink,
	 * and there is nothing else to give up */
	if (capng_have_permitted_capabilities() == CAPNG_NONE)
		sets = CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT;
	/* nor without CAP_SETPCAP (systemd's CapabilityBoundingSet= leaves it
	 * out): the bounding set stays the unit's, and libcap-ng would log a
	 * failure to the journal at every start */
	else if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))
		sets = CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT;
	for (i = 0; i < n && k < 64; i++)
		if (capng_have_capability(CAPNG_PERMITTED,
					  (unsigned int)caps[i]))
			keep[k++] = caps[i];
	capng_clear(CAPNG_SELECT_ALL);
	for (i = 0; i < k; i++)
		if (capng_update(CAPNG_ADD, all, (unsigned int)keep[i]))
			return -EIO;
	/* bounding set first (it needs CAP_SETPCAP), then the thread's sets;
	 * a failed step does not stop the others */
	if (capng_apply(sets))
		return -EPERM;
	return 0;
}

const char *caps_text(char *buf, size_t len)
{
	char *s;

	snprintf(buf, len, "?");
	if (capng_get_caps_process())
		return buf;
	if (capng_have_permitted_capabilities() == CAPNG_NONE) {
		snprintf(buf, len, "none");
		return buf;
	}
	s = capng_print_caps_text(CAPNG_PRINT_BUFFER, CAPNG_EFFECTIVE);
	if (s)
		snprintf(buf, len, "%s", s);
	free(s);
	return buf;
}
