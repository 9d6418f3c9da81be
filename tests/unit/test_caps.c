// SPDX-License-Identifier: GPL-2.0
/*
 * Giving up capabilities (user/lib/caps.c), read back from the kernel's
 * /proc/thread-self/status. Criterion runs each test in a process of its
 * own, so what one drops does not reach the others. Needs root.
 */
#include <criterion/criterion.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/caps.h"

/* CapEff, CapPrm, CapBnd... of the calling thread. */
static uint64_t cap_field(const char *name)
{
	FILE *f = fopen("/proc/thread-self/status", "r");
	unsigned long long v = ~0ull;
	char line[256];

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) &&
		    line[strlen(name)] == ':')
			sscanf(line + strlen(name) + 1, "%llx", &v);
	fclose(f);
	return v;
}

static void need_root(void)
{
	if (geteuid() || !(cap_field("CapEff") & (1ull << CAP_SETPCAP)))
		cr_skip_test("needs root with CAP_SETPCAP");
}

Test(caps, keep_exactly_the_asked_ones)
{
	static const int keep[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE };
	const uint64_t want = 1ull << CAP_NET_ADMIN |
			      1ull << CAP_NET_BIND_SERVICE;
	char text[128];

	need_root();
	cr_assert_eq(caps_keep(keep, 2), 0);
	cr_assert_eq(cap_field("CapEff"), want, "CapEff %llx",
		     (unsigned long long)cap_field("CapEff"));
	cr_assert_eq(cap_field("CapPrm"), want);
	cr_assert_eq(cap_field("CapBnd"), want);
	cr_assert_eq(cap_field("CapInh"), 0u);
	cr_assert_eq(cap_field("CapAmb"), 0u);
	cr_assert(caps_have(CAP_NET_ADMIN));
	cr_assert_not(caps_have(CAP_SYS_ADMIN));
	caps_text(text, sizeof(text));
	cr_assert(strstr(text, "net_admin"), "%s", text);
	cr_assert_null(strstr(text, "sys_admin"), "%s", text);
	/* once gone, gone: asking for more keeps what is left */
	{
		static const int more[] = { CAP_NET_ADMIN, CAP_SYS_ADMIN };

		cr_assert_eq(caps_keep(more, 2), 0);
		cr_assert_eq(cap_field("CapEff"), 1ull << CAP_NET_ADMIN);
	}
}

Test(caps, effective_only_and_back)
{
	static const int bpf[] = { CAP_BPF, CAP_SYS_ADMIN };
	uint64_t prm;

	need_root();
	prm = cap_field("CapPrm");
	cr_assert_eq(caps_effective(bpf, 2, false), 0);
	cr_assert_eq(cap_field("CapEff") & (1ull << CAP_SYS_ADMIN), 0u);
	cr_assert_eq(cap_field("CapEff") & (1ull << CAP_BPF), 0u);
	cr_assert_eq(cap_field("CapPrm"), prm, "permitted kept");
	cr_assert_eq(caps_effective(bpf, 2, true), 0);
	cr_assert_neq(cap_field("CapEff") & (1ull << CAP_SYS_ADMIN), 0u);
	cr_assert_neq(cap_field("CapEff") & (1ull << CAP_BPF), 0u);
}

static void *drop_all(void *arg)
{
	uint64_t *out = arg;

	out[0] = caps_keep(NULL, 0);
	out[1] = cap_field("CapEff");
	out[2] = cap_field("CapBnd");
	return NULL;
}

/* Capabilities are per thread: a worker that drops all leaves the
 * thread that made it as it was. */
Test(caps, per_thread)
{
	uint64_t r[3], before;
	pthread_t t;

	need_root();
	before = cap_field("CapEff");
	cr_assert_eq(pthread_create(&t, NULL, drop_all, r), 0);
	pthread_join(t, NULL);
	cr_assert_eq(r[0], 0u);
	cr_assert_eq(r[1], 0u, "the thread's CapEff %llx", (unsigned long long)r[1]);
	cr_assert_eq(r[2], 0u, "the thread's CapBnd %llx", (unsigned long long)r[2]);
	cr_assert_eq(cap_field("CapEff"), before, "this thread unchanged");
}
