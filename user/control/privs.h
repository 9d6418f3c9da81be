/* SPDX-License-Identifier: GPL-2.0 */
/*
 * privs: what espressod may still do once it is set up. After setup() the
 * control thread keeps only the capabilities that the running daemon and
 * its clean stop use (privs.c says which and why) and drops every other
 * one from its effective, permitted and bounding sets; the workers keep
 * none (each drops all of its own when it starts: capabilities belong to
 * threads). A failure is logged and the daemon runs on: it never refuses
 * to start over this.
 */
#ifndef ESPRESSO_PRIVS_H
#define ESPRESSO_PRIVS_H

struct espd;

void privs_drop(const struct espd *d);

#endif
