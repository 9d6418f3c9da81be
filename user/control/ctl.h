/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctl: the control socket, /run/espresso/<instance>.sock, root only.
 * One request line per connection ("show sa", "show stats", ...), answered
 * with text and closed. espressoctl is the client.
 */
#ifndef ESPRESSO_CTL_H
#define ESPRESSO_CTL_H

#include "control/daemon.h"

#define CTL_DIR "/run/espresso"

/* Create the listening socket. Returns the fd or -errno. */
int ctl_open(const char *instance, char *path, size_t pathlen);
/* Serve one pending connection on listen_fd. */
void ctl_serve(int listen_fd, struct espd *d);
void ctl_close(int fd, const char *path);

#endif
