// SPDX-License-Identifier: GPL-2.0
/*
 * netlink: rtnetlink over libmnl.
 *
 * Every request opens its own short-lived NETLINK_ROUTE socket, asks for an
 * ACK and reads until it (or the error) arrives, so the functions are
 * thread-safe and never see each other's replies. Extended ACKs are turned
 * on, so a kernel message ("Nexthop device is not up", ...) ends up in ours.
 *
 * Routes are installed with protocol ESPRESSO_RTPROT and deleted with it
 * too: a route somebody else put there (same prefix, other protocol) makes
 * our add report -EEXIST (taken as success, with a notice) and our delete
 * leave it alone. `ip route show proto 229` lists ours; adding
 * "229 espresso" to /etc/iproute2/rt_protos.d/espresso.conf names them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/log.h"
#include "control/netlink.h"

#define ESPRESSO_RTPROT 229
/* Large enough for any single rtnetlink reply we ask for (and for dumps). */
#define NL_BUF_SIZE 32768
#define WHY_LEN 256

#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		    NUD_PERMANENT | NUD_NOARP)

/* ---- helpers ---------------------------------------------------------- */

static const char *ifname(int ifindex, char *buf)
{
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

static const char *fmt_prefix(const struct cfg_prefix *p, char *buf,
			      size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "(family %d)", p->family);
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

static const char *fmt_ip4(struct in_addr ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

/* What an operator can do about the common errors; "" when nothing useful. */
static const char *hint(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return "; run as root or with CAP_NET_ADMIN";
	case ENODEV:
		return "; the interface is gone, was it deleted?";
	case ENETUNREACH:
	case EHOSTUNREACH:
		return "; check `ip route` for a route to it";
	case ENETDOWN:
		return "; bring the interface up";
	default:
		return "";
	}
}

/* Address size of a cfg_prefix family, 0 when not IPv4/IPv6. */
static int prefix_alen(const struct cfg_prefix *p)
{
	if (p->family == AF_INET)
		return p->len <= 32 ? 4 : 0;
	if (p->family == AF_INET6)
		return p->len <= 128 ? 16 : 0;
	return 0;
}

/* p's address with the host bits cleared (what the kernel wants in routes). */
static void prefix_net(const struct cfg_prefix *p, uint8_t *out, int alen)
{
	int i;

	for (i = 0; i < alen; i++) {
		int bits = p->len - i * 8;

		if (bits >= 8)
			out[i] = p->addr[i];
		else if (bits <= 0)
			out[i] = 0;
		else
			out[i] = p->addr[i] & (uint8_t)(0xff << (8 - bits));
	}
}

/* ---- one request, its replies and its ACK ----------------------------- */

struct talk {
	mnl_cb_t cb;
	void *data;
	char ext[160]; /* the kernel's extended ACK message, if any */
};

static int data_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct talk *t = arg;

	return t->cb ? t->cb(nlh, t->data) : MNL_CB_OK;
}

static int ack_attr_cb(const struct nlattr *a, void *arg)
{
	struct talk *t = arg;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		snprintf(t->ext, sizeof(t->ext), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t plen = mnl_nlmsg_get_payload_len(nlh);
	int err;

	if (plen < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t off = sizeof(*e);

		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
		if (off < plen)
			mnl_attr_parse(nlh, off, ack_attr_cb, arg);
	}
	if (e->error == 0)
		return MNL_CB_STOP;
	/* -errno from the kernel; anything out of errno's range (INT_MIN
	 * cannot even be negated) is a malformed reply */
	if (e->error < 0 && e->error >= -4095)
		err = -e->error;
	else if (e->error > 0 && e->error <= 4095)
		err = e->error;
	else
		err = EPROTO;
	errno = err;
	return MNL_CB_ERROR;
}

static int done_cb(const struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	(void)arg;
	return MNL_CB_STOP;
}

static int overrun_cb(const struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	(void)arg;
	errno = ENOSPC;
	return MNL_CB_ERROR;
}

/* Not const only because mnl_cb_run2() takes a plain pointer. */
static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = error_cb,
	[NLMSG_DONE] = done_cb,
	[NLMSG_OVERRUN] = overrun_cb,
};

static struct mnl_socket *open_socket(unsigned int groups, int flags)
{
	struct mnl_socket *nl;
	int one = 1;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | flags);
	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;

		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	/* Best effort: older kernels just give plain ACKs. */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return nl;
}

/*
 * Send nlh (NLM_F_REQUEST | NLM_F_ACK added), feed every reply to cb (may be
 * NULL) and wait for the ACK. Returns 0 or -errno; on error why holds
 * "strerror (kernel: extack message)" for the log.
 */
static int talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, char *why)
{
	/*
	 * A request answered by its ACK alone (no callback) reuses one socket:
	 * 10,000 routes through espressoctl -b are 10,000 of them. The control
	 * thread is the only caller. A socket whose exchange broke off is
	 * closed, never reused.
	 */
	static struct mnl_socket *cached;
	struct talk t = { .cb = cb, .data = data };
	static unsigned int seq_base;
	bool reuse = !cb, clean = false;
	unsigned int seq, portid;
	struct mnl_socket *nl;
	char *buf;
	int ret;

	why[0] = '\0';
	buf = malloc(NL_BUF_SIZE);
	if (!buf) {
		snprintf(why, WHY_LEN, "out of memory");
		return -ENOMEM;
	}
	nl = reuse && cached ? cached : open_socket(0, 0);
	if (reuse)
		cached = NULL;
	if (!nl) {
		ret = -errno;
		snprintf(why, WHY_LEN, "cannot open a netlink socket: %s",
			 strerror(-ret));
		free(buf);
		return ret;
	}
	portid = mnl_socket_get_portid(nl);
	seq = __atomic_add_fetch(&seq_base, 1, __ATOMIC_RELAXED) +
	      (unsigned int)time(NULL);
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, NL_BUF_SIZE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		ret = mnl_cb_run2(buf, n, seq, portid, data_cb, &t,
				  ctl_cbs, NLMSG_MIN_TYPE);
		if (ret < 0) {
			ret = errno ? -errno : -EIO;
			/* the kernel's error reply ends the exchange */
			clean = ret != -EPROTO && ret != -ESRCH && ret != -EIO;
			break;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			clean = true;
			break;
		}
	}
out:
	if (ret < 0) {
		if (t.ext[0])
			snprintf(why, WHY_LEN, "%s (kernel: %s)",
				 strerror(-ret), t.ext);
		else
			snprintf(why, WHY_LEN, "%s", strerror(-ret));
	}
	if (reuse && clean)
		cached = nl;
	else
		mnl_socket_close(nl);
	free(buf);
	return ret;
}

/* ---- links ------------------------------------------------------------ */

int nl_link_up(int ifindex, int mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);

	ret = talk(nlh, NULL, NULL, why);
	if (ret < 0) {
		if (mtu > 0)
			log_err("netlink: cannot set %s up with MTU %d: %s%s",
				ifname(ifindex, name), mtu, why,
				ret == -EINVAL ? "; is the MTU within what the device allows?"
					       : hint(-ret));
		else
			log_err("netlink: cannot set %s up: %s%s",
				ifname(ifindex, name), why, hint(-ret));
	}
	return ret;
}

struct link_info {
	uint8_t mac[6];
	bool have_mac;
	int mtu;
	char kind[16]; /* IFLA_INFO_KIND: "veth", "bridge"...; "" for a NIC */
};

static int linkinfo_attr_cb(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		snprintf(li->kind, sizeof(li->kind), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	switch (mnl_attr_get_type(a)) {
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(a) == 6) {
			memcpy(li->mac, mnl_attr_get_payload(a), 6);
			li->have_mac = true;
		}
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			li->mtu = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		mnl_attr_parse_nested(a, linkinfo_attr_cb, li);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, arg);
}

static int get_link(int ifindex, struct link_info *li)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);

	ret = talk(nlh, link_cb, li, why);
	if (ret < 0)
		log_err("netlink: cannot read link %s: %s%s",
			ifname(ifindex, name), why, hint(-ret));
	return ret < 0 ? ret : 0;
}

int nl_link_info(int ifindex, uint8_t mac[6], int *mtu)
{
	struct link_info li = { .mtu = -1 };
	char name[IF_NAMESIZE];
	int ret = get_link(ifindex, &li);

	if (ret)
		return ret;
	if (!li.have_mac || li.mtu < 0) {
		log_err("netlink: link %s has no %s; an Ethernet-like interface is needed",
			ifname(ifindex, name),
			li.have_mac ? "MTU" : "6-byte hardware address");
		return -EOPNOTSUPP;
	}
	memcpy(mac, li.mac, 6);
	*mtu = li.mtu;
	return 0;
}

int nl_link_kind(int ifindex, char *kind, size_t len)
{
	struct link_info li = { .mtu = -1 };
	int ret = get_link(ifindex, &li);

	if (!ret)
		snprintf(kind, len, "%s", li.kind);
	return ret;
}

/* ---- addresses -------------------------------------------------------- */

int nl_addr_add(int ifindex, const struct cfg_prefix *p)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	char pfx[INET6_ADDRSTRLEN + 8];
	struct ifaddrmsg *ifa;
	struct nlmsghdr *nlh;
	int alen = prefix_alen(p);
	int ret;

	fmt_prefix(p, pfx, sizeof(pfx));
	if (!alen) {
		log_err("netlink: cannot add address %s to %s: not an IPv4/IPv6 prefix",
			pfx, ifname(ifindex, name));
		return -EINVAL;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = p->family;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	if (p->family == AF_INET) {
		mnl_attr_put(nlh, IFA_LOCAL, 4, p->addr);
		mnl_attr_put(nlh, IFA_ADDRESS, 4, p->addr);
	} else {
		/* No DAD: the address is usable at once, not "tentative". */
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put(nlh, IFA_ADDRESS, 16, p->addr);
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	}

	ret = talk(nlh, NULL, NULL, why);
	if (ret == -EEXIST)
		return 0;
	if (ret < 0)
		log_err("netlink: cannot add address %s to %s: %s%s", pfx,
			ifname(ifindex, name), why, hint(-ret));
	return ret;
}

/* ---- routes ----------------------------------------------------------- */

static int route_change(int type, int ifindex, uint32_t table,
			const struct cfg_prefix *p)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	char pfx[INET6_ADDRSTRLEN + 8];
	bool add = type == RTM_NEWROUTE;
	int alen = prefix_alen(p);
	struct nlmsghdr *nlh;
	uint8_t net[16];
	struct rtmsg *rtm;
	int ret;

	fmt_prefix(p, pfx, sizeof(pfx));
	if (!alen) {
		log_err("netlink: cannot %s route %s dev %s: not an IPv4/IPv6 prefix",
			add ? "add" : "delete", pfx, ifname(ifindex, name));
		return -EINVAL;
	}
	prefix_net(p, net, alen);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	if (add)
		nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = p->family;
	rtm->rtm_dst_len = p->len;
	rtm->rtm_table = table < 256 ? table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = ESPRESSO_RTPROT;
	/* On delete, NOWHERE matches any scope (as iproute2 does). */
	rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, alen, net);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	mnl_attr_put_u32(nlh, RTA_TABLE, table);

	ret = talk(nlh, NULL, NULL, why);
	if (add && ret == -EEXIST) {
		log_debug("netlink: route %s already exists, kept as is; check that `ip route get` for it goes via dev %s",
			  pfx, ifname(ifindex, name));
		return 0;
	}
	if (ret < 0 && !(!add && (ret == -ESRCH || ret == -ENOENT)))
		log_err("netlink: cannot %s route %s dev %s: %s%s",
			add ? "add" : "delete", pfx, ifname(ifindex, name), why,
			hint(-ret));
	return ret;
}

int nl_route_add(int ifindex, const struct cfg_prefix *p)
{
	return route_change(RTM_NEWROUTE, ifindex, RT_TABLE_MAIN, p);
}

int nl_route_del(int ifindex, const struct cfg_prefix *p)
{
	return route_change(RTM_DELROUTE, ifindex, RT_TABLE_MAIN, p);
}

int nl_route_add_table(int ifindex, uint32_t table, const struct cfg_prefix *p)
{
	return route_change(RTM_NEWROUTE, ifindex, table, p);
}

int nl_route_del_table(int ifindex, uint32_t table, const struct cfg_prefix *p)
{
	return route_change(RTM_DELROUTE, ifindex, table, p);
}

/*
 * A dump of every object of a type (RTM_GETROUTE, RTM_GETNEIGH), both
 * families: hdr_len is the size of the type's header, whose first byte
 * is the family (AF_UNSPEC); each reply goes to cb.
 */
static int talk_dump(uint16_t type, size_t hdr_len, mnl_cb_t cb, void *data,
		     char *why)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint8_t *family;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_DUMP;
	family = mnl_nlmsg_put_extra_header(nlh, hdr_len); /* zeroed */
	family[0] = AF_UNSPEC;
	return talk(nlh, cb, data, why);
}

struct route_dump {
	int ifindex;
	uint32_t table;
	void (*cb)(void *arg, const struct cfg_prefix *p);
	void *arg;
};

static int dump_attr_cb(const struct nlattr *a, void *arg)
{
	const struct nlattr **tb = arg;
	int type = mnl_attr_get_type(a);

	if (type == RTA_DST ||
	    ((type == RTA_OIF || type == RTA_TABLE) &&
	     mnl_attr_validate(a, MNL_TYPE_U32) >= 0))
		tb[type] = a;
	return MNL_CB_OK;
}

static int dump_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	struct route_dump *d = arg;
	struct cfg_prefix p = { 0 };
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm) ||
	    rtm->rtm_protocol != ESPRESSO_RTPROT ||
	    (rtm->rtm_table != d->table && rtm->rtm_table != RT_TABLE_UNSPEC) ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), dump_attr_cb, tb);
	if (tb[RTA_TABLE] && mnl_attr_get_u32(tb[RTA_TABLE]) != d->table)
		return MNL_CB_OK;
	if (!tb[RTA_OIF] || (int)mnl_attr_get_u32(tb[RTA_OIF]) != d->ifindex)
		return MNL_CB_OK;
	alen = rtm->rtm_family == AF_INET ? 4 : 16;
	p.family = rtm->rtm_family;
	p.len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) == alen)
		memcpy(p.addr, mnl_attr_get_payload(tb[RTA_DST]), alen);
	d->cb(d->arg, &p);
	return MNL_CB_OK;
}

int nl_route_dump(int ifindex, void (*cb)(void *arg,
					  const struct cfg_prefix *p),
		  void *arg)
{
	return nl_route_dump_table(ifindex, RT_TABLE_MAIN, cb, arg);
}

int nl_route_dump_table(int ifindex, uint32_t table,
			void (*cb)(void *arg, const struct cfg_prefix *p),
			void *arg)
{
	struct route_dump d = { .ifindex = ifindex, .table = table, .cb = cb,
				.arg = arg };
	char why[WHY_LEN];
	int ret;

	ret = talk_dump(RTM_GETROUTE, sizeof(struct rtmsg), dump_cb, &d, why);
	if (ret < 0)
		log_warn("netlink: cannot list the routes: %s", why);
	return ret;
}

struct route_info {
	int oif;
	bool have_gw;
	bool gw_v6;
	struct in_addr gw;
	bool have_gw6;
	struct in6_addr gw6; /* an IPv6 route's gateway */
};

static int route_attr_cb(const struct nlattr *a, void *arg)
{
	struct route_info *ri = arg;

	switch (mnl_attr_get_type(a)) {
	case RTA_OIF:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			ri->oif = (int)mnl_attr_get_u32(a);
		break;
	case RTA_GATEWAY:
		if (mnl_attr_get_payload_len(a) == 4) {
			memcpy(&ri->gw, mnl_attr_get_payload(a), 4);
			ri->have_gw = true;
		} else if (mnl_attr_get_payload_len(a) == 16) {
			memcpy(&ri->gw6, mnl_attr_get_payload(a), 16);
			ri->have_gw6 = true;
		}
		break;
	case RTA_VIA:
		/* An IPv4 route through an IPv6 next hop (RFC 5549). */
		ri->gw_v6 = true;
		break;
	}
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *arg)
{
	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct rtmsg), route_attr_cb, arg);
}

int nl_route_get4(struct in_addr dst, int *oif, struct in_addr *nexthop)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], ip[INET_ADDRSTRLEN];
	struct route_info ri = { .oif = 0 };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	mnl_attr_put(nlh, RTA_DST, 4, &dst);

	ret = talk(nlh, route_cb, &ri, why);
	if (ret < 0) {
		log_err("netlink: no route to %s: %s%s", fmt_ip4(dst, ip), why,
			hint(-ret));
		return ret;
	}
	if (ri.gw_v6) {
		log_err("netlink: the route to %s goes through an IPv6 next hop; add an IPv4 route for it",
			fmt_ip4(dst, ip));
		return -EAFNOSUPPORT;
	}
	if (ri.oif <= 0) {
		log_err("netlink: the route to %s has no output interface; check `ip route get %s`",
			fmt_ip4(dst, ip), ip);
		return -ENETUNREACH;
	}
	*oif = ri.oif;
	*nexthop = ri.have_gw ? ri.gw : dst;
	return 0;
}

/* ---- neighbours ------------------------------------------------------- */

struct neigh_info {
	int family;
	int ifindex;
	uint16_t state;
	uint8_t flags;
	bool have_dst, have_mac;
	struct in_addr dst;
	uint8_t mac[6];
	bool have_dst6;
	struct in6_addr dst6;
};

static int neigh_attr_cb(const struct nlattr *a, void *arg)
{
	struct neigh_info *ni = arg;

	switch (mnl_attr_get_type(a)) {
	case NDA_DST:
		if (mnl_attr_get_payload_len(a) == 4) {
			memcpy(&ni->dst, mnl_attr_get_payload(a), 4);
			ni->have_dst = true;
		} else if (mnl_attr_get_payload_len(a) == 16) {
			memcpy(&ni->dst6, mnl_attr_get_payload(a), 16);
			ni->have_dst6 = true;
		}
		break;
	case NDA_LLADDR:
		if (mnl_attr_get_payload_len(a) == 6) {
			memcpy(ni->mac, mnl_attr_get_payload(a), 6);
			ni->have_mac = true;
		}
		break;
	}
	return MNL_CB_OK;
}

static int parse_neigh(const struct nlmsghdr *nlh, struct neigh_info *ni)
{
	const struct ndmsg *ndm;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ndm))
		return -EBADMSG;
	ndm = mnl_nlmsg_get_payload(nlh);
	memset(ni, 0, sizeof(*ni));
	ni->family = ndm->ndm_family;
	ni->ifindex = ndm->ndm_ifindex;
	ni->state = ndm->ndm_state;
	ni->flags = ndm->ndm_flags;
	if (mnl_attr_parse(nlh, sizeof(*ndm), neigh_attr_cb, ni) < 0)
		return -EBADMSG;
	return 0;
}

static int neigh_get_cb(const struct nlmsghdr *nlh, void *arg)
{
	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return MNL_CB_OK;
	if (parse_neigh(nlh, arg) < 0) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int nl_neigh_get4(int ifindex, struct in_addr nexthop, uint8_t mac[6])
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	char ip[INET_ADDRSTRLEN];
	struct neigh_info ni = { .family = AF_UNSPEC };
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, 4, &nexthop);

	ret = talk(nlh, neigh_get_cb, &ni, why);
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret < 0) {
		log_err("netlink: cannot look up neighbour %s on %s: %s%s",
			fmt_ip4(nexthop, ip), ifname(ifindex, name), why,
			hint(-ret));
		return ret;
	}
	if (ni.family != AF_INET || !(ni.state & NUD_USABLE) || !ni.have_mac)
		return -ENOENT;
	memcpy(mac, ni.mac, 6);
	return 0;
}

/*
 * The kernel's neigh_add() creates the entry when needed and, because of
 * NTF_USE, calls neigh_event_send() on it instead of updating it: exactly
 * what a packet to nexthop would do, so an ARP request goes out (or, for an
 * entry that is STALE, the usual DELAY/PROBE confirmation starts). The
 * result comes back on the RTNLGRP_NEIGH listener (ARP for IPv4, neighbour
 * discovery for IPv6). shown and what name the address and the protocol in
 * the error.
 */
static int neigh_resolve(int family, int ifindex, const void *addr,
			 size_t alen, const char *shown, const char *what)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_NONE;
	ndm->ndm_flags = NTF_USE;
	mnl_attr_put(nlh, NDA_DST, alen, addr);

	ret = talk(nlh, NULL, NULL, why);
	if (ret < 0)
		log_err("netlink: cannot start %s of %s on %s: %s%s", what,
			shown, ifname(ifindex, name), why, hint(-ret));
	return ret;
}

int nl_neigh_resolve4(int ifindex, struct in_addr nexthop)
{
	char ip[INET_ADDRSTRLEN];

	return neigh_resolve(AF_INET, ifindex, &nexthop, 4,
			     fmt_ip4(nexthop, ip), "ARP resolution");
}

/* ---- neighbour listener ----------------------------------------------- */

struct nl_listener {
	struct mnl_socket *nl;
	nl_neigh6_cb cb6; /* IPv6 neighbours, when set */
	void *arg6;
};

struct nl_listener *nl_neigh_listen(void)
{
	struct nl_listener *l;
	int rcvbuf = 1 << 20;

	l = calloc(1, sizeof(*l));
	if (!l) {
		log_err("netlink: out of memory for the neighbour listener");
		return NULL;
	}
	l->nl = open_socket(RTMGRP_NEIGH, SOCK_NONBLOCK);
	if (!l->nl) {
		int err = errno;

		log_err("netlink: cannot subscribe to neighbour events: %s%s",
			strerror(err), hint(err));
		free(l);
		errno = err;
		return NULL;
	}
	/* Room for bursts (a link flap changes many entries at once). */
	if (setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUF,
		       &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("netlink: cannot enlarge the neighbour socket buffer: %s",
			 strerror(errno));
	return l;
}

int nl_listener_fd(const struct nl_listener *l)
{
	return l ? mnl_socket_get_fd(l->nl) : -1;
}

struct neigh_ev {
	nl_neigh_cb cb;
	void *arg;
	const struct nl_listener *l;
};

const uint8_t nl_neigh_deleted[6];

bool nl_neigh_event(uint16_t type, uint16_t state, const uint8_t *mac,
		    const uint8_t **out)
{
	if (state & (NUD_FAILED | NUD_INCOMPLETE))
		*out = NULL;
	else if (type == RTM_DELNEIGH)
		*out = nl_neigh_deleted;
	else if (type == RTM_NEWNEIGH && (state & NUD_USABLE) && mac)
		*out = mac;
	else
		return false;
	return true;
}

static void neigh_ev6(const struct neigh_ev *ev, uint16_t type,
		      const struct neigh_info *ni)
{
	const struct nl_listener *l = ev->l;

	const uint8_t *mac;

	if (!l || !l->cb6 || !ni->have_dst6 || (ni->flags & NTF_PROXY) ||
	    !nl_neigh_event(type, ni->state, ni->have_mac ? ni->mac : NULL,
			    &mac))
		return;
	l->cb6(l->arg6, ni->ifindex, &ni->dst6, mac);
}

static int neigh_ev_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct neigh_ev *ev = arg;
	struct neigh_info ni;
	const uint8_t *mac;

	if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
		return MNL_CB_OK;
	if (parse_neigh(nlh, &ni) < 0)
		return MNL_CB_OK;
	if (ni.family == AF_INET6) {
		neigh_ev6(ev, nlh->nlmsg_type, &ni);
		return MNL_CB_OK;
	}
	if (ni.family != AF_INET || !ni.have_dst || (ni.flags & NTF_PROXY))
		return MNL_CB_OK;

	if (nl_neigh_event(nlh->nlmsg_type, ni.state,
			   ni.have_mac ? ni.mac : NULL, &mac))
		ev->cb(ev->arg, ni.ifindex, ni.dst, mac);
	return MNL_CB_OK;
}

/*
 * Reads until the socket is empty. Returns 0, or -ENOBUFS when the kernel
 * dropped events because the socket overflowed: everything pending was
 * still delivered, but some changes were lost, and the caller should read
 * the whole table again (nl_neigh_dump).
 */
int nl_neigh_read(struct nl_listener *l, nl_neigh_cb cb, void *arg)
{
	struct neigh_ev ev = { .cb = cb, .arg = arg, .l = l };
	int ret = 0;
	char *buf;

	buf = malloc(NL_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(l->nl, buf, NL_BUF_SIZE);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				log_warn("netlink: neighbour events were lost (socket overflow); reading the neighbour table again");
				ret = -ENOBUFS;
				continue;
			}
			log_err("netlink: reading neighbour events failed: %s",
				strerror(errno));
			if (ret != -ENOBUFS) /* what was lost, first */
				ret = -errno;
			break;
		}
		/* Notifications: no sequence number or port to check. */
		if (mnl_cb_run(buf, n, 0, 0, neigh_ev_cb, &ev) < 0 &&
		    errno != ESRCH)
			log_warn("netlink: bad neighbour event: %s",
				 strerror(errno));
	}
	free(buf);
	return ret;
}

int nl_neigh_dump(struct nl_listener *l, nl_neigh_cb cb, void *arg)
{
	struct neigh_ev ev = { .cb = cb, .arg = arg, .l = l };
	char why[WHY_LEN];
	int ret;

	ret = talk_dump(RTM_GETNEIGH, sizeof(struct ndmsg), neigh_ev_cb, &ev,
			why);
	if (ret < 0)
		log_err("netlink: cannot dump the neighbour table: %s%s", why,
			hint(-ret));
	return ret;
}

void nl_listener_close(struct nl_listener *l)
{
	if (!l)
		return;
	mnl_socket_close(l->nl);
	free(l);
}

/* ---- IPv6 next hops (outer IPv6 tunnels) ------------------------------- */

static const char *fmt_ip6(const struct in6_addr *ip, char *buf)
{
	return inet_ntop(AF_INET6, ip, buf, INET6_ADDRSTRLEN);
}

int nl_route_get6(const struct in6_addr *dst, int *oif,
		  struct in6_addr *nexthop)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], ip[INET6_ADDRSTRLEN];
	struct route_info ri = { .oif = 0 };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = 128;
	mnl_attr_put(nlh, RTA_DST, 16, dst);

	ret = talk(nlh, route_cb, &ri, why);
	if (ret < 0) {
		log_err("netlink: no route to %s: %s%s", fmt_ip6(dst, ip), why,
			hint(-ret));
		return ret;
	}
	if (ri.oif <= 0) {
		log_err("netlink: the route to %s has no output interface; check `ip -6 route get %s`",
			fmt_ip6(dst, ip), ip);
		return -ENETUNREACH;
	}
	*oif = ri.oif;
	*nexthop = ri.have_gw6 ? ri.gw6 : *dst;
	return 0;
}

int nl_neigh_get6(int ifindex, const struct in6_addr *nexthop, uint8_t mac[6])
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[WHY_LEN], name[IF_NAMESIZE];
	char ip[INET6_ADDRSTRLEN];
	struct neigh_info ni = { .family = AF_UNSPEC };
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET6;
	ndm->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, 16, nexthop);

	ret = talk(nlh, neigh_get_cb, &ni, why);
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret < 0) {
		log_err("netlink: cannot look up neighbour %s on %s: %s%s",
			fmt_ip6(nexthop, ip), ifname(ifindex, name), why,
			hint(-ret));
		return ret;
	}
	if (ni.family != AF_INET6 || !(ni.state & NUD_USABLE) || !ni.have_mac)
		return -ENOENT;
	memcpy(mac, ni.mac, 6);
	return 0;
}

/* As nl_neigh_resolve4: the kernel sends the neighbour solicitation. */
int nl_neigh_resolve6(int ifindex, const struct in6_addr *nexthop)
{
	char ip[INET6_ADDRSTRLEN];

	return neigh_resolve(AF_INET6, ifindex, nexthop, 16,
			     fmt_ip6(nexthop, ip), "neighbour discovery");
}

int nl_neigh_resolve(int family, int ifindex, const void *addr)
{
	struct in_addr a;

	if (family == AF_INET6)
		return nl_neigh_resolve6(ifindex, addr);
	memcpy(&a, addr, sizeof(a));
	return nl_neigh_resolve4(ifindex, a);
}

void nl_neigh_listen6(struct nl_listener *l, nl_neigh6_cb cb, void *arg)
{
	if (!l)
		return;
	l->cb6 = cb;
	l->arg6 = arg;
}
