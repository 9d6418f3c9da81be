// SPDX-License-Identifier: GPL-2.0
#include "core/stats.h"

#define X_NAME(name, help) [DROP_##name] = #name,
#define X_HELP(name, help) [DROP_##name] = help,
const char *const stats_drop_names[DROP_MAX] = {
	[DROP_NONE] = "none", ESPRESSO_DROPS(X_NAME)
};
const char *const stats_drop_help[DROP_MAX] = {
	[DROP_NONE] = "", ESPRESSO_DROPS(X_HELP)
};
