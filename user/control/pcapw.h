/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcapw: the capture file of espressoctl pcap, written with libpcap's
 * writer (pcap_open_dead + pcap_dump_fopen): Linux cooked headers
 * (DLT_LINUX_SLL) in front of inner IP packets, so tshark shows the
 * direction (packet type 0 "to us": decrypted; 4 "outgoing": about to be
 * encrypted). Kept apart from the rest of the control plane because
 * libpcap's <pcap/bpf.h> and the kernel's <linux/bpf.h> cannot share a
 * file.
 */
#ifndef ESPRESSO_PCAPW_H
#define ESPRESSO_PCAPW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pcapw;

#define PCAPW_LINK_LEN 16 /* the cooked header before each packet */

/* Create PATH (mode 0600, truncated, never through a symlink, a regular
 * file only). NULL with err saying why. */
struct pcapw *pcapw_open(const char *path, uint32_t snaplen, char *err,
			 size_t errlen);
/* One packet: its first caplen bytes at pkt, PCAPW_LINK_LEN bytes before
 * pkt free for the header (written here). */
void pcapw_write(struct pcapw *w, uint64_t ns, bool in, uint8_t *pkt,
		 uint32_t caplen, uint32_t len);
void pcapw_flush(struct pcapw *w);
void pcapw_close(struct pcapw *w);

#endif
