// SPDX-License-Identifier: GPL-2.0
/* espressoctl: the operator's CLI, over espressod's control socket. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: espressoctl [-i INSTANCE | -s SOCKET] COMMAND\n"
		"commands:\n"
		"  show sa       per SA: SPI, direction, packets, bytes, errors\n"
		"  show stats    per queue: rx, tx, drops by reason; XDP counters\n"
		"  show xdp      the XDP program's counters\n"
		"  show frames   audit of every UMEM frame's owner\n"
		"INSTANCE defaults to the only socket in " CTL_DIR ".\n");
}

static int only_socket(char *path, size_t len)
{
	glob_t g;
	int r = -1;

	if (glob(CTL_DIR "/*.sock", 0, NULL, &g))
		return -1;
	if (g.gl_pathc == 1 && strlen(g.gl_pathv[0]) < len) {
		strcpy(path, g.gl_pathv[0]);
		r = 0;
	}
	globfree(&g);
	return r;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[sizeof(sun.sun_path)] = "", req[256] = "", buf[4096];
	ssize_t n;
	int c, fd, i;

	while ((c = getopt(argc, argv, "i:s:h")) != -1) {
		switch (c) {
		case 'i':
			snprintf(path, sizeof(path), CTL_DIR "/%s.sock", optarg);
			break;
		case 's':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		if (strlen(req) + strlen(argv[i]) + 2 >= sizeof(req)) {
			fprintf(stderr, "espressoctl: command too long\n");
			return 2;
		}
		if (i > optind)
			strcat(req, " ");
		strcat(req, argv[i]);
	}
	if (!*path && only_socket(path, sizeof(path))) {
		fprintf(stderr, "espressoctl: no single espressod socket in "
			CTL_DIR "; name one with -i INSTANCE\n");
		return 1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "espressoctl: cannot reach %s: %s (is espressod "
			"running? root only)\n", path, strerror(errno));
		return 1;
	}
	strcat(req, "\n");
	if (send(fd, req, strlen(req), 0) < 0) {
		fprintf(stderr, "espressoctl: send: %s\n", strerror(errno));
		return 1;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, n, stdout);
	close(fd);
	return 0;
}
