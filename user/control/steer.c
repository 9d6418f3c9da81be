// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "tables/tables.h"
#include "control/steer.h"

static int ethtool(int fd, const char *ifname, void *cmd)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
}

int steer_setup(struct steer_state *s, const struct tables *tb,
		const char *ifname)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), i, err;

	s->n = 0;
	if (fd < 0)
		return 0;
	for (i = 0; i < (int)tb->nsa && s->n < STEER_MAX; i++) {
		const struct sa *sa = tb->sa_in[i];
		struct ethtool_rxnfc nfc = {
			.cmd = ETHTOOL_SRXCLSRLINS,
			.fs = {
				.flow_type = ESP_V4_FLOW,
				.ring_cookie = sa->owner,
				.location = RX_CLS_LOC_ANY,
			},
		};

		/* UDP-encapsulated ESP has no SPI field to match on */
		if (!sa || sa->owner < 0 || sa->tunnel->encap != ENCAP_ESP)
			continue;
		if (sa->tunnel->family == AF_INET6) {
			/* outer IPv6: the same rule on the IPv6 flow type */
			nfc.fs.flow_type = ESP_V6_FLOW;
			nfc.fs.h_u.esp_ip6_spec.spi = htonl(sa->spi);
			nfc.fs.m_u.esp_ip6_spec.spi = 0xffffffff;
		} else {
			nfc.fs.h_u.esp_ip4_spec.spi = htonl(sa->spi);
			nfc.fs.m_u.esp_ip4_spec.spi = 0xffffffff;
		}
		err = ethtool(fd, ifname, &nfc);
		if (err) {
			log_info("%s cannot steer ESP by SPI (%s): packets that "
				 "land on another queue than their SA's owner "
				 "are handed over in software", ifname,
				 strerror(-err));
			break;
		}
		s->locs[s->n++] = nfc.fs.location;
	}
	if (s->n)
		log_info("%s: %d SPI steering rules installed", ifname, s->n);
	close(fd);
	return s->n;
}

void steer_teardown(struct steer_state *s, const char *ifname)
{
	int fd, i;

	if (!s->n)
		return;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	for (i = 0; i < s->n; i++) {
		struct ethtool_rxnfc nfc = {
			.cmd = ETHTOOL_SRXCLSRLDEL,
			.fs = { .location = s->locs[i] },
		};

		ethtool(fd, ifname, &nfc);
	}
	s->n = 0;
	close(fd);
}
