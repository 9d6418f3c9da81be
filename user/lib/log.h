/* SPDX-License-Identifier: GPL-2.0 */
/* log: to stderr, with sd-daemon priority prefixes so journald keeps levels. */
#ifndef ESPRESSO_LOG_H
#define ESPRESSO_LOG_H

#include <stddef.h>

#include <time.h>

enum { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

extern int log_level;
void log_msg(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* At most one message per interval_s per call site (OVS VLOG_*_RL). */
#define log_rl(lvl, interval_s, ...)                                          \
	do {                                                                  \
		static time_t last_;                                          \
		time_t now_ = time(NULL);                                     \
		if (now_ - last_ >= (interval_s)) {                           \
			last_ = now_;                                         \
			log_msg(lvl, __VA_ARGS__);                            \
		}                                                             \
	} while (0)

/*
 * The error of a control operation, for its caller: printf into err (len
 * bytes) and return ret (a -errno), as in `return errf(err, len, -EEXIST,
 * "tunnel add: %s: exists", name);`.
 */
int errf(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
