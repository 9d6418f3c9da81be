// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "control/pcapw.h"

struct pcapw {
	pcap_t *p;
	pcap_dumper_t *d;
};

struct pcapw *pcapw_open(const char *path, uint32_t snaplen, char *err,
			 size_t errlen)
{
	struct pcapw *w = calloc(1, sizeof(*w));
	struct stat st;
	FILE *f = NULL;
	int fd = -1;

	if (!w) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	/* plaintext inside: the owner's only, and never through a link; a
	 * regular file only (a device named by mistake is left alone) */
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		  0600);
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (fd < 0 || fchmod(fd, 0600) || ftruncate(fd, 0) ||
	    !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	w->p = pcap_open_dead(DLT_LINUX_SLL, (int)(snaplen + PCAPW_LINK_LEN));
	if (!w->p) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	w->d = pcap_dump_fopen(w->p, f);
	if (!w->d) {
		snprintf(err, errlen, "%s: %s", path, pcap_geterr(w->p));
		goto fail;
	}
	return w;
fail:
	if (w->p)
		pcap_close(w->p);
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(w);
	return NULL;
}

void pcapw_write(struct pcapw *w, uint64_t ns, bool in, uint8_t *pkt,
		 uint32_t caplen, uint32_t len)
{
	struct pcap_pkthdr h = {
		.ts.tv_sec = ns / 1000000000u,
		.ts.tv_usec = ns % 1000000000u / 1000,
		.caplen = caplen + PCAPW_LINK_LEN,
		.len = len + PCAPW_LINK_LEN,
	};
	uint8_t *l = pkt - PCAPW_LINK_LEN;
	uint16_t v[3] = {
		htons(in ? PACKET_HOST : PACKET_OUTGOING), htons(ARPHRD_NONE), 0,
	};
	uint16_t proto = htons(caplen && (pkt[0] >> 4) == 6 ? ETHERTYPE_IPV6 :
							     ETHERTYPE_IP);

	/* packet type, ARPHRD, address length, 8 address bytes, protocol */
	memset(l, 0, PCAPW_LINK_LEN);
	memcpy(l, v, sizeof(v));
	memcpy(l + 14, &proto, 2);
	pcap_dump((u_char *)w->d, &h, l);
}

void pcapw_flush(struct pcapw *w)
{
	pcap_dump_flush(w->d);
}

void pcapw_close(struct pcapw *w)
{
	if (!w)
		return;
	pcap_dump_close(w->d);
	pcap_close(w->p);
	free(w);
}
