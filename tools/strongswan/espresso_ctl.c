// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "espresso_ctl.h"

static int connect_to(const char *path, int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (timeout_s) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

static int recv_all(int fd, char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

/* "ESPRESSO CODE LEN\n", a byte at a time: it is short. */
static int read_header(int fd, int *code, size_t *len)
{
	char h[64];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(h) - 1; i++) {
		ret = recv_all(fd, &h[i], 1);
		if (ret)
			return ret;
		if (h[i] == '\n')
			break;
	}
	h[i] = '\0';
	if (sscanf(h, "ESPRESSO %d %zu", code, len) != 2 || *len > (64u << 20))
		return -EPROTO;
	return 0;
}

/* the request with its "\n", then wiped: it may carry a key */
static int send_line(int fd, const char *line)
{
	size_t n = strlen(line);
	char *buf = malloc(n + 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, line, n);
	buf[n] = '\n';
	ret = send_all(fd, buf, n + 1);
	explicit_bzero(buf, n + 1);
	free(buf);
	return ret;
}

int ectl_request(const char *path, const char *line, int *code, char **body)
{
	size_t len;
	char *b;
	int fd, ret;

	if (body)
		*body = NULL;
	fd = connect_to(path, ECTL_TIMEOUT_S);
	if (fd < 0)
		return fd;
	ret = send_line(fd, line);
	ret = ret ?: read_header(fd, code, &len);
	if (ret) {
		close(fd);
		return ret;
	}
	b = malloc(len + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	ret = recv_all(fd, b, len);
	close(fd);
	if (ret) {
		free(b);
		return ret;
	}
	b[len] = '\0';
	if (len && b[len - 1] == '\n')
		b[len - 1] = '\0';
	if (body)
		*body = b;
	else
		free(b);
	return 0;
}

int ectl_monitor_open(const char *path)
{
	struct timeval tv = { 0 };
	size_t len;
	int fd, code, ret;

	fd = connect_to(path, ECTL_TIMEOUT_S);
	if (fd < 0)
		return fd;
	ret = send_line(fd, "monitor ike"); /* our hang-up flushes our SAs */
	ret = ret ?: read_header(fd, &code, &len);
	if (!ret && (code || len))
		ret = code ? -code : -EPROTO;
	if (ret) {
		close(fd);
		return ret;
	}
	/* events come when they come */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int ectl_read_line(int fd, struct ectl_lines *st, char *line, size_t cap)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(st->buf, '\n', st->len);
		if (nl) {
			size_t l = nl - st->buf;

			if (l >= cap)
				l = cap - 1; /* cut short: no event is this long */
			memcpy(line, st->buf, l);
			line[l] = '\0';
			st->len -= nl + 1 - st->buf;
			memmove(st->buf, nl + 1, st->len);
			return 0;
		}
		if (st->len == sizeof(st->buf))
			st->len = 0; /* a line longer than the buffer: dropped */
		n = recv(fd, st->buf + st->len, sizeof(st->buf) - st->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		st->len += n;
	}
}
