/* SPDX-License-Identifier: GPL-2.0 */
/*
 * espresso_ctl: the client side of espressod's control socket, for the
 * charon plugin (plain C, no strongSwan types). The protocol is README's
 * "control API": one request line; the reply is "ESPRESSO CODE LEN\n" and
 * LEN bytes (CODE 0: done; else an errno and a message). "monitor" keeps
 * the connection and streams one event line at a time.
 */
#ifndef ESPRESSO_CTL_CLIENT_H
#define ESPRESSO_CTL_CLIENT_H

#include <stddef.h>

#define ECTL_TIMEOUT_S 5 /* a request never holds charon longer */

/*
 * line (no "\n") on a connection of its own. 0: a reply came, *code is
 * its code and *body (if body) its text, malloc'd and NUL-terminated;
 * -errno: espressod is not reachable or broke the protocol.
 */
int ectl_request(const char *path, const char *line, int *code, char **body);

/* A monitor connection ("monitor ike": when it hangs up, charon is gone
 * and espressod deletes its SAs): its fd once espressod said yes, or
 * -errno. */
int ectl_monitor_open(const char *path);

struct ectl_lines {
	char buf[4096];
	size_t len;
};
/* The next event line of a monitor fd into line (NUL-terminated, no
 * "\n"). 0, or -errno / -EPIPE at the end. Blocks. */
int ectl_read_line(int fd, struct ectl_lines *st, char *line, size_t cap);

#endif
