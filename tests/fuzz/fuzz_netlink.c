// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the rtnetlink reply and event parsing of
 * user/control/netlink.c on any buffer of netlink messages (what a
 * recvfrom on the socket could hold). The file is included here, so its
 * static callbacks run exactly as the daemon builds them, with no entry
 * point added to the production code; nothing opens a socket.
 *
 * The buffer, a heap copy of exactly its size rounded up to 4 (libmnl
 * reads to a message's aligned end), goes through the same mnl calls as
 * the daemon's: mnl_cb_run2 with the control callbacks (error with
 * extended ACK, done, overrun) and each reply callback (link: MAC, MTU,
 * kind; route dump; route get; neighbour get), then mnl_cb_run with the
 * neighbour event callback. Checked: no read outside the buffer (ASan),
 * the results are what the callers may use: a terminated link kind and ACK
 * message, dumped prefixes of IPv4/IPv6 with the OIF asked for, neighbour
 * events for IPv4 only.
 */
#include "control/netlink.c"

#define FUZZ_IFINDEX 7

static int nevents;
static volatile uint8_t sink;

static void dump_seen(void *arg, const struct cfg_prefix *p)
{
	(void)arg;
	if ((p->family != AF_INET && p->family != AF_INET6) ||
	    (p->family == AF_INET && p->addr[4]))
		abort();
	nevents++;
}

static void neigh_seen(void *arg, int ifindex, struct in_addr ip,
		       const uint8_t *mac)
{
	int i;

	(void)arg;
	(void)ifindex;
	(void)ip;
	for (i = 0; mac && i < 6; i++)
		sink ^= mac[i];
	nevents++;
}

/* IPv6 neighbours: the listener's second callback (nl_neigh_listen6) */
static void neigh6_seen(void *arg, int ifindex, const struct in6_addr *ip,
			const uint8_t *mac)
{
	int i;

	(void)arg;
	(void)ifindex;
	for (i = 0; i < 16; i++)
		sink ^= ip->s6_addr[i];
	for (i = 0; mac && i < 6; i++)
		sink ^= mac[i];
	nevents++;
}

/* As talk() runs one reply buffer through its callback. */
static void run_talk(const uint8_t *buf, size_t len, mnl_cb_t cb, void *data)
{
	struct talk t = { .cb = cb, .data = data };

	errno = 0;
	mnl_cb_run2(buf, len, 0, 0, data_cb, &t, ctl_cbs, NLMSG_MIN_TYPE);
	if (!memchr(t.ext, '\0', sizeof(t.ext)))
		abort();
}

/*
 * libmnl 1.0.4's mnl_nlmsg_ok compares (int)nlmsg_len <= len: a message
 * claiming 2 GiB or more passes, and mnl_nlmsg_next then jumps that far.
 * No kernel sends one (a reply fits the receive buffer): the buffer is cut
 * before such a message, as mnl would walk it.
 */
static size_t kernel_like(const uint8_t *data, size_t size)
{
	size_t off = 0;
	uint32_t len;

	while (size - off >= sizeof(struct nlmsghdr)) {
		memcpy(&len, data + off, 4);
		if (len >= 0x80000000u)
			return off;
		if (len < sizeof(struct nlmsghdr) || len > size - off ||
		    NLMSG_ALIGN(len) >= size - off)
			break;
		off += NLMSG_ALIGN(len);
	}
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct link_info li = { .mtu = -1 };
	struct route_dump d = { .ifindex = FUZZ_IFINDEX, .cb = dump_seen };
	struct route_info ri = { .oif = 0 };
	struct neigh_info ni = { .family = AF_UNSPEC };
	/* as nl_neigh_read() runs it, IPv6 neighbours listened to */
	static struct nl_listener l = { .cb6 = neigh6_seen };
	struct neigh_ev ev = { .cb = neigh_seen, .l = &l };
	uint8_t *buf;

	size = kernel_like(data, size);
	/* libmnl reads a message's attributes up to its aligned end: the
	 * daemon's receive buffer (NL_BUF_SIZE) always has those bytes */
	buf = calloc(1, NLMSG_ALIGN(size) ? NLMSG_ALIGN(size) : 1);
	memcpy(buf, data, size);
	nevents = 0;
	run_talk(buf, size, link_cb, &li);
	if (!memchr(li.kind, '\0', sizeof(li.kind)))
		abort();
	run_talk(buf, size, dump_cb, &d);
	run_talk(buf, size, route_cb, &ri);
	run_talk(buf, size, neigh_get_cb, &ni);
	errno = 0;
	mnl_cb_run(buf, size, 0, 0, neigh_ev_cb, &ev);
	free(buf);
	return 0;
}
