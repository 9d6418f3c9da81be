/* SPDX-License-Identifier: GPL-2.0 */
/* The release number, shown by espressoctl --version. */
#ifndef ESPRESSO_VERSION_H
#define ESPRESSO_VERSION_H

#define ESPRESSO_VERSION "0.8.0"

#endif
