// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/check.h"
#include "control/cmd.h"
#include "control/spd.h"
#include "control/spdstore.h"
#include "lib/log.h"

/* One rule as the espressoctl line that adds it (cmd.c parses it back). */
static void rule_line(FILE *f, const struct spd_rule *r)
{
	char a[64], b[64];

	fprintf(f, "policy add %u priority %u src %s dst %s proto %u", r->id,
		r->priority, cfg_prefix_str(&r->src, a, sizeof(a)),
		cfg_prefix_str(&r->dst, b, sizeof(b)), r->proto);
	/* ports are selectors of TCP and UDP only */
	if (r->proto == 6 || r->proto == 17)
		fprintf(f, " sport %u-%u dport %u-%u", r->sport[0],
			r->sport[1], r->dport[0], r->dport[1]);
	fprintf(f, " action %s", cfg_spd_action_names[r->action]);
	if (r->action == ESPRESSO_SPD_PROTECT)
		fprintf(f, " tunnel %s", r->tunnel);
	fputc('\n', f);
}

int spdstore_save(const struct spd *s)
{
	char tmp[sizeof(s->store) + 8];
	size_t i;
	FILE *f;
	int fd, ret = 0;

	if (!s->store[0])
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->store);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		log_err("cannot keep the policies in %s: %s", tmp,
			strerror(-ret));
		return ret;
	}
	fprintf(f, "# espressod: the policies added through espressoctl, "
		   "restored at start-up\n");
	for (i = 0; i < s->n; i++)
		if (!s->rules[i].config)
			rule_line(f, &s->rules[i]);
	if (fflush(f) || fsync(fileno(f)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, s->store))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		log_err("cannot keep the policies in %s: %s", s->store,
			strerror(-ret));
	}
	return ret;
}

int spdstore_load(struct spd *s, struct live *l, char *err, size_t errlen)
{
	char line[1024], why[512];
	int n = 0, lineno = 0, ret = 0;
	struct cmd c;
	FILE *f;

	if (!s->store[0])
		return 0;
	f = fopen(s->store, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "%s: %s", s->store, strerror(-ret));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		ret = cmd_parse(line, &c, why, sizeof(why));
		if (!ret && c.op != CMD_POLICY_ADD) {
			snprintf(why, sizeof(why), "not a policy add");
			ret = -EINVAL;
		}
		if (!ret)
			ret = spd_restore(s, l, &c.policy, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s:%d: %s (delete the line, or "
				 "the file, to start without it)", s->store,
				 lineno, why);
			break;
		}
		n++;
	}
	fclose(f);
	if (!ret && n)
		log_info("%d policies added through espressoctl restored from "
			 "%s", n, s->store);
	return ret;
}
