/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctl: the control socket, /run/espresso/<instance>.sock, root only (mode
 * 0600 and the peer's credentials checked). espressoctl is a thin client.
 *
 * Protocol: the client sends request lines (its arguments joined by single
 * spaces, a leading "-j" for JSON); each is answered with a header line
 * "ESPRESSO <code> <len>\n" and exactly len bytes of body: the output
 * (code 0) or one line of error (code: a positive errno). "batch begin"
 * defers the commit of changes until "batch end" or the end of the
 * connection (espressoctl -b). "monitor" is answered with an empty
 * success, then one event per line until the client goes.
 */
#ifndef ESPRESSO_CTL_H
#define ESPRESSO_CTL_H

#include <stddef.h>

#define CTL_DIR "/run/espresso"

struct espd;
struct live_event;
struct cmd;
struct _IO_FILE;

/* Create the listening socket. Returns the fd or -errno. */
int ctl_open(const char *instance, char *path, size_t pathlen);
/* Serve one pending connection on listen_fd (until it ends, or becomes a
 * monitor). */
void ctl_serve(int listen_fd, struct espd *d);
void ctl_close(int fd, const char *path);
/* An event to every monitor. */
void ctl_event(struct espd *d, const struct live_event *ev);
/* Close every monitor connection. */
void ctl_monitors_close(struct espd *d);
/* Once a loop turn: a "monitor ike" client (charon's kernel-espresso) that
 * hung up takes its IKE SAs with it -- their tunnels are deleted, no key
 * stays in use that no IKE daemon manages. */
void ctl_monitors_check(struct espd *d);

/* ctl_show.c: the output of a show command into f (text or JSON). */
int ctl_show(struct _IO_FILE *f, struct espd *d, const struct cmd *c);

#endif
