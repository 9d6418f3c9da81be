// SPDX-License-Identifier: GPL-2.0
/*
 * tun: the multi-queue tun toward the host stack. Each queue is one fd
 * (IFF_MULTI_QUEUE); the device is not persistent, so it goes away with
 * the last fd, and its addresses and routes with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_net.h>

/* UDP segmentation offload: kernel 6.2, newer than Debian 12's headers. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#include "lib/log.h"
#include "control/netlink.h"
#include "io/tun.h"

static const char *open_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return "; load the tun module (modprobe tun) and check /dev/net/tun exists";
	case EPERM:
	case EACCES:
		return "; run as root or with CAP_NET_ADMIN";
	case EMFILE:
	case ENFILE:
		return "; raise the open file limit (ulimit -n / LimitNOFILE=)";
	default:
		return "";
	}
}

static const char *setiff_hint(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return "; run as root or with CAP_NET_ADMIN (or own the persistent tun)";
	case EINVAL:
		return "; an interface of that name exists but is not a multi-queue tun: delete it (ip link del NAME) or pick another tun name";
	case EBUSY:
		return "; the tun is in use by another process (another espressod instance?)";
	case E2BIG:
		return "; too many queues for a tun, lower workers.queues";
	default:
		return "";
	}
}

/* Checksum and TCP segmentation offload; UDP segmentation if the kernel
 * has it (6.2+). Returns the flags set, or -errno. */
static int set_offload(int fd)
{
	unsigned int base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

	if (!ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6))
		return base | TUN_F_USO4 | TUN_F_USO6;
	if (!ioctl(fd, TUNSETOFFLOAD, base))
		return base;
	return -errno;
}

int tun_open(const char *name, int nqueues, int *fds, bool offload)
{
	int hdrsz = sizeof(struct virtio_net_hdr);
	struct ifreq ifr;
	int i, ret;

	if (!name || !name[0] || strlen(name) >= IFNAMSIZ) {
		log_err("tun: bad interface name '%s': 1 to %d characters",
			name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (nqueues < 1) {
		log_err("tun %s: bad queue count %d", name, nqueues);
		return -EINVAL;
	}
	for (i = 0; i < nqueues; i++)
		fds[i] = -1;

	for (i = 0; i < nqueues; i++) {
		fds[i] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fds[i] < 0) {
			ret = -errno;
			log_err("tun %s: cannot open /dev/net/tun for queue %d: %s%s",
				name, i, strerror(-ret), open_hint(-ret));
			goto fail;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
		if (offload)
			ifr.ifr_flags |= IFF_VNET_HDR;
		if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
			ret = -errno;
			log_err("tun %s: cannot attach queue %d of %d (TUNSETIFF): %s%s",
				name, i, nqueues, strerror(-ret),
				setiff_hint(-ret));
			goto fail;
		}
		if (!offload)
			continue;
		if (ioctl(fds[i], TUNSETVNETHDRSZ, &hdrsz) < 0) {
			ret = -errno;
			log_err("tun %s: TUNSETVNETHDRSZ: %s (set tun.offload = "
				"false to run without offloads)", name,
				strerror(-ret));
			goto fail;
		}
		ret = set_offload(fds[i]);
		if (ret < 0) {
			log_err("tun %s: TUNSETOFFLOAD: %s (set tun.offload = "
				"false to run without offloads)", name,
				strerror(-ret));
			goto fail;
		}
		if (i == 0)
			log_info("tun %s: offloads on: checksum, TSO%s", name,
				 ret & TUN_F_USO4 ? ", USO" : "");
	}
	return 0;
fail:
	tun_close(fds, nqueues);
	return ret;
}

int tun_setup(const struct cfg *c, int ifindex)
{
	int i, ret;

	ret = nl_link_up(ifindex, c->tun.mtu);
	if (ret < 0)
		return ret;
	for (i = 0; i < c->tun.naddrs; i++) {
		ret = nl_addr_add(ifindex, &c->tun.addrs[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int tun_setup_vrf(const struct cfg *c, const struct cfg_vrf *v, int ifindex)
{
	int i, ret;

	ret = nl_link_up(ifindex, c->tun.mtu);
	if (ret < 0)
		return ret;
	for (i = 0; i < v->naddrs; i++) {
		ret = nl_addr_add(ifindex, &v->addrs[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void tun_close(int *fds, int nqueues)
{
	int i;

	for (i = 0; i < nqueues; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int tun_persist(int fd, bool on)
{
	return ioctl(fd, TUNSETPERSIST, on ? 1 : 0) ? -errno : 0;
}
