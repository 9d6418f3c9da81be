// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_espresso_child: the name of the CHILD_SA charon installs an SA
 * for, which kernel_ipsec_t does not pass (espressoctl show sa shows it).
 * add_sa runs on the thread that has the IKE_SA checked out: a CHILD_SA
 * being rekeyed has the reqid already; a new one is in a CHILD_CREATE task.
 */
#include "kernel_espresso_state.h"

#include <ctype.h>

#include <sa/ikev2/tasks/child_create.h>
#include <sa/task_manager.h>

static bool name_of_reqid(child_sa_t *c, uint32_t reqid, char *buf,
						  size_t len)
{
	size_t i;

	if (!c || c->get_reqid(c) != reqid)
	{
		return FALSE;
	}
	/* espressod's names: [A-Za-z0-9_-], at most 31 */
	snprintf(buf, len, "%s", c->get_name(c));
	for (i = 0; buf[i]; i++)
	{
		if (!isalnum((unsigned char)buf[i]) && buf[i] != '-')
		{
			buf[i] = '_';
		}
	}
	return TRUE;
}

void ke_child_name(uint32_t reqid, char *buf, size_t len)
{
	ike_sa_t *ike_sa = charon->bus->get_sa(charon->bus);
	task_queue_t queues[] = { TASK_QUEUE_ACTIVE, TASK_QUEUE_PASSIVE };
	enumerator_t *e;
	child_sa_t *c;
	task_t *task;
	bool found = FALSE;
	int q;

	buf[0] = '\0';
	if (!ike_sa)
	{
		return;
	}
	e = ike_sa->create_child_sa_enumerator(ike_sa);
	while (!found && e->enumerate(e, &c))
	{
		found = name_of_reqid(c, reqid, buf, len);
	}
	e->destroy(e);
	for (q = 0; !found && q < (int)countof(queues); q++)
	{
		e = ike_sa->create_task_enumerator(ike_sa, queues[q]);
		while (!found && e->enumerate(e, &task))
		{
			if (task->get_type(task) == TASK_CHILD_CREATE)
			{
				found = name_of_reqid(
							((child_create_t*)task)->get_child(
								(child_create_t*)task), reqid, buf, len);
			}
		}
		e->destroy(e);
	}
}
