// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "control/napi.h"
#include "control/netlink.h"

static void sysfs_path(char *buf, size_t len, const char *ifname)
{
	snprintf(buf, len, "/sys/class/net/%s/threaded", ifname);
}

static int read_threaded(const char *path)
{
	char buf[16] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	if (n == 0 || buf[0] < '0' || buf[0] > '9')
		return -EIO;
	return atoi(buf);
}

static int write_threaded(const char *path, int v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;
	char buf[4];
	int len = snprintf(buf, sizeof(buf), "%d", v);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, (size_t)len);
	if (n < 0)
		err = -errno;
	else if (n != len)
		err = -EIO;
	close(fd);
	return err;
}

/*
 * What the setting was before espressod first changed it, kept in
 * /run/espresso/<instance>.napi until a clean stop writes it back: a
 * daemon killed without one leaves the setting changed, and the next
 * start must still put back the administrator's value, not its own.
 */
static void note_path(char *buf, size_t len, const struct cfg *c)
{
	snprintf(buf, len, "/run/espresso/%s.napi", c->instance);
}

static int note_read(const struct cfg *c)
{
	char path[128];

	note_path(path, sizeof(path), c);
	return read_threaded(path);
}

static void note_write(const struct cfg *c, int v)
{
	char path[128];
	int fd;

	note_path(path, sizeof(path), c);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (dprintf(fd, "%d\n", v) < 0)
		log_debug("%s: %s", path, strerror(errno));
	close(fd);
}

int napi_setup(struct napi_state *s, const struct cfg *c)
{
	const char *dev = c->uplink.name;
	int mode = c->uplink.threaded_napi, want = mode == CFG_OFF ? 0 : 1;
	char path[128], kind[16] = "";
	int cur, err;

	s->changed = false;
	if (mode == CFG_AUTO) {
		if (nl_link_kind(c->uplink.ifindex, kind, sizeof(kind)) ||
		    strcmp(kind, "veth"))
			return 0;
	}
	sysfs_path(path, sizeof(path), dev);
	cur = read_threaded(path);
	err = cur < 0 ? cur : cur == want ? 0 : write_threaded(path, want);
	if (err) {
		if (mode == CFG_AUTO) {
			log_info("%s: cannot turn threaded NAPI on (%s: %s): the "
				 "sender's CPU keeps running our receive path",
				 dev, path, strerror(-err));
			return 0;
		}
		log_err("%s: cannot set uplink.threaded_napi = \"%s\" (%s: %s)",
			dev, want ? "on" : "off", path, strerror(-err));
		return err;
	}
	if (note_read(c) >= 0) {
		/* an earlier run changed it and did not stop cleanly */
		s->changed = true;
		s->saved = note_read(c);
		log_info("%s: threaded NAPI %s (was %d before an earlier "
			 "espressod; restored at exit)", dev,
			 want ? "on" : "off", s->saved);
	} else if (cur != want) {
		s->changed = true;
		s->saved = cur;
		note_write(c, cur);
		log_info("%s: threaded NAPI %s (was %d; restored at exit)", dev,
			 want ? "on" : "off", cur);
	}
	return 0;
}

void napi_restore(struct napi_state *s, const struct cfg *c)
{
	char path[128];
	int err;

	if (!s->changed)
		return;
	sysfs_path(path, sizeof(path), c->uplink.name);
	err = write_threaded(path, s->saved);
	if (err)
		log_warn("%s: cannot restore threaded NAPI to %d: %s",
			 c->uplink.name, s->saved, strerror(-err));
	note_path(path, sizeof(path), c);
	unlink(path);
	s->changed = false;
}
