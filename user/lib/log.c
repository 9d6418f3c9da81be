// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

int log_level = LOG_LVL_INFO;

/*
 * Is stderr the journal? systemd sets JOURNAL_STREAM to its device and
 * inode (systemd.exec(5)); inherited by something started from a unit's
 * shell, it names another file than our stderr. Asked once.
 */
static int to_journal(void)
{
	static int cached = -1;
	const char *js;
	unsigned long dev, ino;
	struct stat st;

	if (cached >= 0)
		return cached;
	js = getenv("JOURNAL_STREAM");
	cached = js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 &&
		 !fstat(STDERR_FILENO, &st) && st.st_dev == (dev_t)dev &&
		 st.st_ino == (ino_t)ino;
	return cached;
}

void log_msg(int lvl, const char *fmt, ...)
{
	static const char *const names[] = {
		[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning",
		[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
	};
	char buf[1024];
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Under systemd, "<N>" lets journald keep the level (sd-daemon(3)). */
	if (to_journal())
		fprintf(stderr, "<%d>%s: %s\n", lvl, names[lvl], buf);
	else
		fprintf(stderr, "espressod: %s: %s\n", names[lvl], buf);
}

int errf(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}
