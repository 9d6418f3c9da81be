// SPDX-License-Identifier: GPL-2.0
/*
 * What the neighbour listener (control/netlink.c) tells its callbacks of
 * each kind of kernel message (nl_neigh_event): a usable MAC; NULL for a
 * failed entry or one being resolved, which `ip neigh del` makes first;
 * nl_neigh_deleted for an entry deleted without failing (the kernel's
 * garbage collection of a stale entry: its MAC may still be right, and
 * main.c has the kernel resolve it again instead of forgetting it);
 * nothing for an entry without a MAC yet.
 */
#include <criterion/criterion.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "control/netlink.h"

static const uint8_t MAC[6] = { 2, 0, 0, 0, 0, 7 };

static const uint8_t *ev(uint16_t type, uint16_t state, const uint8_t *mac,
			 bool *said)
{
	const uint8_t *out = MAC + 1; /* neither of the answers */

	*said = nl_neigh_event(type, state, mac, &out);
	return out;
}

Test(netlink, neigh_usable_macs)
{
	const uint16_t ok[] = { NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE,
				NUD_PERMANENT, NUD_NOARP };
	unsigned int i;
	bool said;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(ev(RTM_NEWNEIGH, ok[i], MAC, &said), MAC);
		cr_assert(said);
	}
}

Test(netlink, neigh_failed_or_resolving_is_null)
{
	bool said;

	cr_assert_null(ev(RTM_NEWNEIGH, NUD_FAILED, NULL, &said));
	cr_assert(said);
	cr_assert_null(ev(RTM_NEWNEIGH, NUD_INCOMPLETE, NULL, &said));
	cr_assert(said);
	/* ip neigh del: FAILED first, then deleted as failed */
	cr_assert_null(ev(RTM_DELNEIGH, NUD_FAILED, MAC, &said));
	cr_assert(said);
}

Test(netlink, neigh_deleted_unfailed)
{
	bool said;

	/* the GC's deletion of a stale entry ("Deleted ... STALE") */
	cr_assert_eq(ev(RTM_DELNEIGH, NUD_STALE, MAC, &said), nl_neigh_deleted);
	cr_assert(said);
	cr_assert_eq(ev(RTM_DELNEIGH, NUD_REACHABLE, MAC, &said),
		     nl_neigh_deleted);
	cr_assert_eq(ev(RTM_DELNEIGH, NUD_NONE, NULL, &said), nl_neigh_deleted);
	cr_assert(said);
}

Test(netlink, neigh_nothing_to_say)
{
	bool said;

	ev(RTM_NEWNEIGH, NUD_NONE, NULL, &said);
	cr_assert_not(said);
	ev(RTM_NEWNEIGH, NUD_STALE, NULL, &said); /* no MAC attribute */
	cr_assert_not(said);
	ev(RTM_GETNEIGH, NUD_REACHABLE, MAC, &said);
	cr_assert_not(said);
}
