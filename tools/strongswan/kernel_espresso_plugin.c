// SPDX-License-Identifier: GPL-2.0
/*
 * The plugin: registers kernel_espresso_ipsec as charon's kernel-ipsec
 * backend (charon's plugin loader finds kernel_espresso_plugin_create).
 * kernel-netlink still provides kernel-net (addresses, routes, IKE
 * sockets); give this plugin a higher "load" priority so it registers
 * kernel-ipsec first (kernel-espresso.conf does).
 */
#include "kernel_espresso_ipsec.h"
#include "kernel_espresso_plugin.h"

#include <daemon.h>

typedef struct {
	kernel_espresso_plugin_t public;
} private_kernel_espresso_plugin_t;

METHOD(plugin_t, plugin_get_name, char*,
	private_kernel_espresso_plugin_t *this)
{
	return "kernel-espresso";
}

static kernel_ipsec_t *ipsec_create(void)
{
	kernel_espresso_ipsec_t *k = kernel_espresso_ipsec_create();

	return k ? &k->interface : NULL;
}

METHOD(plugin_t, plugin_get_features, int,
	private_kernel_espresso_plugin_t *this, plugin_feature_t *features[])
{
	static plugin_feature_t f[] = {
		PLUGIN_CALLBACK(kernel_ipsec_register, ipsec_create),
			PLUGIN_PROVIDE(CUSTOM, "kernel-ipsec"),
	};
	*features = f;
	return countof(f);
}

METHOD(plugin_t, plugin_destroy, void,
	private_kernel_espresso_plugin_t *this)
{
	free(this);
}

/* the one symbol the .so exports (-fvisibility=hidden): charon's loader
 * finds it by the plugin's name */
__attribute__((visibility("default")))
plugin_t *kernel_espresso_plugin_create(void);
plugin_t *kernel_espresso_plugin_create(void)
{
	private_kernel_espresso_plugin_t *this;

	INIT(this,
		.public = {
			.plugin = {
				.get_name = _plugin_get_name,
				.get_features = _plugin_get_features,
				.destroy = _plugin_destroy,
			},
		},
	);
	return &this->public.plugin;
}
