/* SPDX-License-Identifier: GPL-2.0 */
/* kernel-espresso: charon's IPsec backend is espressod (see README). */
#ifndef KERNEL_ESPRESSO_PLUGIN_H_
#define KERNEL_ESPRESSO_PLUGIN_H_

#include <plugins/plugin.h>

typedef struct kernel_espresso_plugin_t kernel_espresso_plugin_t;

struct kernel_espresso_plugin_t {
	plugin_t plugin;
};

#endif
