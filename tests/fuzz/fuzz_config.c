// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: config_load on any config file (check_system false),
 * then config_free. The input is the config file, written to a private
 * temp dir (in /dev/shm, else /tmp); that dir also holds key files the config may name with
 * key_file, relative to it: k36.hex and keys/k20.hex (valid keys),
 * short.hex (too short), nul.bin (a NUL byte), open.hex (mode 0644: warns).
 *
 * On failure the message is a terminated "FILE:LINE: FIELD: ..." (at least
 * non-empty); on success every value is within the ranges the rest of the
 * daemon relies on (config.h), SPIs and tunnel names are unique, and every
 * key has its cipher's length. ASan's leak check covers config_free.
 *
 * A config may name any path (key_file, libconfig's @include): key files
 * are opened through __wrap_open (-Wl,--wrap=open) which refuses devices
 * but /dev/null, /dev/zero and the like and fifos, so a fuzzed name like
 * "/dev/tty" cannot block the run; stdin is /dev/null. @include, read by
 * libconfig itself, is not covered by that: a fuzzer is unlikely to spell
 * a fifo's name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/log.h"

static char dir[64], path[128]; /* the temp dir, the config file */

/*
 * libconfig 1.5's scanner leaks the text of a string when the parse fails
 * on it (a file holding just "" or "(" does it): inside the library, not
 * ours (config_load destroys the config_t on every path). Every other leak
 * still fails the run.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

int __real_open(const char *p, int flags, ...);

int __wrap_open(const char *p, int flags, ...)
{
	struct stat st;
	mode_t mode = 0;
	va_list ap;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (!stat(p, &st) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
	    !(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1)) {
		errno = EACCES;
		return -1;
	}
	return __real_open(p, flags, mode);
}

static void put_file(const char *name, const char *text, mode_t mode,
		     size_t len)
{
	char p[192];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || fchmod(fd, mode) ||
	    write(fd, text, len) != (ssize_t)len) {
		perror(p);
		exit(1);
	}
	close(fd);
}

static void cleanup(void)
{
	static const char *const names[] = {
		"espresso.conf", "k36.hex", "keys/k20.hex", "short.hex",
		"nul.bin", "open.hex", "keys",
	};
	char p[192];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p))
			rmdir(p);
	}
	rmdir(dir);
}

/*
 * Those leaks make libFuzzer run LeakSanitizer after most inputs (300
 * times slower): -detect_leaks=0 goes first in the arguments (one given
 * on the command line wins). A leak of ours is still reported, by the
 * check LeakSanitizer makes when the run ends.
 */
static void no_leak_check_per_input(int *argc, char ***argv)
{
	static char flag[] = "-detect_leaks=0";
	static char *args[1024];
	int i;

	if (*argc < 1 || *argc > 1000)
		return;
	args[0] = (*argv)[0];
	args[1] = flag;
	for (i = 1; i < *argc; i++)
		args[i + 1] = (*argv)[i];
	args[*argc + 1] = NULL;
	*argv = args;
	(*argc)++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[192];
	int fd;

	no_leak_check_per_input(argc, argv);
	log_level = 0; /* warnings about modes: not on every run */
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0) {
		perror("/dev/null");
		exit(1);
	}
	close(fd);
	/* tmpfs: a file rewritten on every run costs a disk write on ext4 */
	strcpy(dir, "/dev/shm/espresso-fuzz-config-XXXXXX");
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/espresso-fuzz-config-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	atexit(cleanup);
	snprintf(p, sizeof(p), "%s/keys", dir);
	if (mkdir(p, 0700)) {
		perror(p);
		exit(1);
	}
	put_file("k36.hex",
		 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf01020304\n",
		 0600, 73);
	put_file("keys/k20.hex", "  0x303132333435363738393a3b3c3d3e3f40414243\n\n",
		 0600, 47);
	put_file("short.hex", "abcd\n", 0600, 5);
	put_file("nul.bin", "ab\0cd", 0600, 5);
	put_file("open.hex", "404142434445464748494a4b4c4d4e4f50515253", 0644,
		 40);
	snprintf(path, sizeof(path), "%s/espresso.conf", dir);
	return 0;
}

static int name_ok(const char *s)
{
	size_t n = strnlen(s, CFG_NAME_MAX);

	return n && n < CFG_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int prefix_ok(const struct cfg_prefix *p)
{
	return (p->family == AF_INET && p->len <= 32) ||
	       (p->family == AF_INET6 && p->len <= 128);
}

static void check_cfg(const struct cfg *c)
{
	int i, j;

	if (!name_ok(c->instance) || c->workers.queues < 1 ||
	    c->workers.queues > CFG_MAX_QUEUES || c->workers.batch < 1 ||
	    c->workers.batch > 256 || c->workers.busy_poll_budget < 1 ||
	    c->workers.busy_poll_budget > 1024 || c->workers.fill_ring < 64 ||
	    c->workers.fill_ring > 4096 ||
	    (c->workers.fill_ring & (c->workers.fill_ring - 1)) ||
	    !c->uplink.name[0] || !c->tun.name[0] ||
	    !strcmp(c->uplink.name, c->tun.name) ||
	    (c->tun.mtu && (c->tun.mtu < 576 || c->tun.mtu > 3500)) ||
	    c->tun.naddrs < 0 || c->tun.naddrs > CFG_MAX_ADDRS ||
	    /* "tunnels = ( );": an IKE gateway, charon adds them */
	    c->ntunnels < 0 || (c->ntunnels && !c->tunnels))
		abort();
	for (i = 0; i < c->workers.queues; i++)
		if (c->workers.cpus[i] < -1)
			abort();
	for (i = 0; i < c->tun.naddrs; i++)
		if (!prefix_ok(&c->tun.addrs[i]))
			abort();
	for (i = 0; i < c->ntunnels; i++) {
		const struct cfg_tunnel *t = &c->tunnels[i];
		size_t klen = params_key_len(t->cipher);
		char hub[CFG_NAME_MAX];
		const char *sl = strchr(t->name, '/');

		/* P2MP: a hub has no SAs nor routes; its peers, after it, are
		 * named "HUB/NEXTHOP" */
		if (t->p2mp && (!name_ok(t->name) || t->nroutes ||
				t->out.key_len || t->in.key_len))
			abort();
		if (t->p2mp)
			continue;
		if (sl) {
			memcpy(hub, t->name, (size_t)(sl - t->name));
			hub[sl - t->name] = '\0';
			for (j = i - 1; j >= 0 && strcmp(c->tunnels[j].name, hub); j--)
				;
			if (j < 0 || !c->tunnels[j].p2mp)
				abort();
		}
		if ((!sl && !name_ok(t->name)) || t->replay_window < 32 ||
		    t->replay_window > CFG_REPLAY_MAX ||
		    t->replay_window % 32 || t->sa_pairs < 1 ||
		    t->sa_pairs > CFG_MAX_QUEUES || t->out.key_len != klen ||
		    t->in.key_len != klen || t->out.spi < 256 ||
		    t->in.spi < 256 || t->nroutes < 0 ||
		    (t->nroutes && !t->routes))
			abort();
		for (j = 0; j < t->nroutes; j++)
			if (!prefix_ok(&t->routes[j]))
				abort();
		for (j = 0; j < i; j++) {
			const struct cfg_tunnel *u = &c->tunnels[j];

			if (!strcmp(t->name, u->name) ||
			    t->out.spi == u->out.spi || t->out.spi == u->in.spi ||
			    t->in.spi == u->out.spi || t->in.spi == u->in.spi)
				abort();
		}
		if (t->out.spi == t->in.spi)
			abort();
	}
	/* router mode: LANs named, distinct, not the uplink; policies with
	 * unique ids, ordered ranges, an action, IPv4 selectors, and a
	 * tunnel that exists when they protect */
	if (c->nlans < 0 || c->nlans > CFG_MAX_LAN || c->npolicies < 0 ||
	    (c->npolicies && !c->policies))
		abort();
	for (i = 0; i < c->nlans; i++) {
		if (!c->lans[i].name[0] ||
		    !memchr(c->lans[i].name, '\0', sizeof(c->lans[i].name)) ||
		    !strcmp(c->lans[i].name, c->uplink.name) ||
		    !strcmp(c->lans[i].name, c->tun.name))
			abort();
		for (j = 0; j < i; j++)
			if (!strcmp(c->lans[i].name, c->lans[j].name))
				abort();
	}
	for (i = 0; i < c->npolicies; i++) {
		const struct cfg_policy *p = &c->policies[i];

		if (!p->id || p->priority > 65535 || p->action < 1 ||
		    p->action > 3 || p->sport[0] > p->sport[1] ||
		    p->dport[0] > p->dport[1] || !prefix_ok(&p->src) ||
		    !prefix_ok(&p->dst) || p->src.family != AF_INET ||
		    p->dst.family != AF_INET ||
		    (p->action == 1) != !!p->tunnel[0] ||
		    ((p->sport[0] || p->sport[1] != 65535 || p->dport[0] ||
		      p->dport[1] != 65535) && p->proto != 6 && p->proto != 17))
			abort();
		if (p->action == 1) {
			for (j = 0; j < c->ntunnels; j++)
				if (!strcmp(p->tunnel, c->tunnels[j].name))
					break;
			if (j == c->ntunnels)
				abort();
		}
		for (j = 0; j < i; j++)
			if (p->id == c->policies[j].id)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct cfg c;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	memset(err, 0x55, sizeof(err));
	ret = config_load(path, &c, false, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		abort();
	if (ret) {
		if (ret > 0 || !err[0])
			abort();
		return 0;
	}
	if (err[0])
		abort();
	check_cfg(&c);
	config_free(&c);
	return 0;
}
