// SPDX-License-Identifier: GPL-2.0
/*
 * spray: the traffic generator of tools/bench_spread.sh. UDP datagrams
 * with 64-byte payloads to 10,000 destinations in a random order (fixed
 * seed), each from a source of its own, through a raw socket (so the
 * sources need not be local): destination d is 100.64.0.0 + d * 256 + 1,
 * its source 100.128.0.0 + d * 256 + 1, as bench_spread and test_scale.
 * Sends as fast as the socket takes them (sendmmsg, 64 at a time) for
 * SECS seconds, then prints the datagrams handed to the kernel.
 *   spray SECS
 */
#ifndef _GNU_SOURCE /* the Makefile's CFLAGS define it */
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define NDST 10000
#define LEN (20 + 8 + 64)
#define BATCH 64

static uint8_t pkt[NDST][LEN];
static struct sockaddr_in to[NDST];

static uint16_t csum(const void *p, int len)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; len > 1; len -= 2)
		s += *w++;
	s = (s >> 16) + (s & 0xffff);
	return ~(s + (s >> 16));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static uint16_t order[NDST];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	uint64_t rng = 0x9e3779b97f4a7c15ull, sent = 0;
	double secs = argc > 1 ? atof(argv[1]) : 0, t0;
	unsigned int d, i, pos = 0;
	int fd;

	if (secs <= 0) {
		fprintf(stderr, "usage: spray SECS\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("spray: raw socket");
		return 1;
	}
	for (d = 0; d < NDST; d++) {
		struct iphdr *ip = (void *)pkt[d];
		struct udphdr *u = (void *)(pkt[d] + 20);

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(LEN);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->saddr = htonl((100u << 24 | 128u << 16) + d * 256 + 1);
		ip->daddr = htonl((100u << 24 | 64u << 16) + d * 256 + 1);
		ip->check = csum(ip, 20);
		u->source = htons(5000);
		u->dest = htons(6000);
		u->len = htons(LEN - 20);
		memset(pkt[d] + 28, 0x5a, LEN - 28);
		to[d].sin_family = AF_INET;
		to[d].sin_addr.s_addr = ip->daddr;
		order[d] = d;
	}
	for (d = NDST - 1; d > 0; d--) { /* Fisher-Yates, xorshift64 */
		uint16_t t;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = rng % (d + 1);
		t = order[d];
		order[d] = order[i];
		order[i] = t;
	}
	t0 = now();
	while (now() - t0 < secs) {
		int r;

		for (i = 0; i < BATCH; i++, pos = (pos + 1) % NDST) {
			d = order[pos];
			iov[i] = (struct iovec){ pkt[d], LEN };
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &to[d];
			mm[i].msg_hdr.msg_namelen = sizeof(to[d]);
		}
		r = sendmmsg(fd, mm, BATCH, 0);
		if (r > 0)
			sent += r;
		else if (errno != ENOBUFS && errno != EAGAIN) {
			perror("spray: sendmmsg");
			return 1;
		}
	}
	printf("%llu\n", (unsigned long long)sent);
	return 0;
}
