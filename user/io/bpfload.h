/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpfload: the XDP program and its maps. Either espressod loads and attaches
 * bpf/espresso.bpf.o itself (through libxdp, so it can sit beside other XDP
 * programs), or it uses a program already attached with
 *   xdp-loader load -p /sys/fs/bpf/espresso/<instance> IFACE espresso.bpf.o
 * and the maps pinned there.
 */
#ifndef ESPRESSO_BPFLOAD_H
#define ESPRESSO_BPFLOAD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "espresso/common.h"

struct xdp_program;
struct xdp_multiprog;
struct bpf_object;

struct bpf_state {
	struct xdp_program *prog; /* NULL when the program is someone else's */
	struct xdp_multiprog *mp; /* what prog was attached in (detach) */
	struct bpf_object *own_obj; /* ours, put in place of a stale one */
	int own_prog_fd;
	int ifindex;
	int mode; /* enum xdp_attach_mode */
	int sa_fd, xsks_fd, stats_fd;
	int ifaces_fd, routes4_fd, local4_fd; /* router mode */
	int routes6_fd, local6_fd;            /* router mode, IPv6 */
	int spd_rules_fd, spd_lpm_fd, spd_ctl_fd, flow_fd; /* its SPD */
	int natt_ports_fd; /* NAT-T: local ports besides 4500 */
	uint16_t natt_ports[ESPRESSO_MAX_NATT_PORTS]; /* what it holds */
	int nnatt_ports;
	char pin_dir[128]; /* ESPRESSO_PIN_ROOT/<instance> */
	/* router mode: the same object loaded again per LAN, on the maps
	 * pinned by the uplink's (LIBBPF_PIN_BY_NAME) */
	struct {
		struct xdp_program *prog;
		struct xdp_multiprog *mp; /* detach with CAP_NET_ADMIN alone */
		struct bpf_object *own_obj; /* in place of a stale one */
		int own_prog_fd;
		int ifindex;
	} lan[ESPRESSO_MAX_LAN];
	int nlan;
	/* set before bpfload_attach: the last run stopped for a restart
	 * (bpfload_release), so a program of ours is expected on the
	 * interfaces: adopting it is logged as info, not as a warning */
	bool handover;
};

/* Mount a bpffs on /sys/fs/bpf unless one is there. 0 or -errno. */
int bpfload_ensure_bpffs(void);
/* The object file: $ESPRESSO_BPF_OBJ, next to the binary, or installed. */
const char *bpfload_find_object(const char *argv0);
/* Load obj, pin its maps under the instance's folder, attach. */
int bpfload_attach(struct bpf_state *b, const struct cfg *c, const char *obj);
/* Use the program attached by xdp-loader and its pinned maps. */
int bpfload_use_pinned(struct bpf_state *b, const struct cfg *c);
/* Inbound SPI -> SA index. */
int bpfload_sa_add(struct bpf_state *b, uint32_t spi, uint32_t sa_index,
		   uint32_t flags);
int bpfload_sa_del(struct bpf_state *b, uint32_t spi);
/* NAT-T: exactly these local ports (host order, n <= ESPRESSO_MAX_NATT_PORTS)
 * in espresso_natt_ports (4500 is recognised without). 0 or -errno. */
int bpfload_natt_ports_set(struct bpf_state *b, const uint16_t *ports, int n);
/*
 * Router mode: attach the object to LAN interface ifindex (LAN index lan,
 * 0-based), sharing the uplink program's maps, and list it in
 * espresso_ifaces with its MAC. Call after bpfload_attach. 0 or -errno.
 */
int bpfload_attach_lan(struct bpf_state *b, const char *obj, int lan,
		       const char *ifname, int ifindex, const uint8_t mac[6],
		       uint16_t vrf);
/* The XDP copy of a tunnel route of VRF vrf (value: tunnel slot + 1),
 * IPv4 only: a LAN of that VRF classifies by it. */
int bpfload_route4_set(struct bpf_state *b, uint16_t vrf,
		       const uint8_t addr[4], int len, uint32_t value);
int bpfload_route4_del(struct bpf_state *b, uint16_t vrf,
		       const uint8_t addr[4], int len);
/* One of the gateway's own IPv4 addresses: LAN traffic to it is the
 * kernel's even where a tunnel route covers it. */
int bpfload_local4_add(struct bpf_state *b, uint32_t addr_be);
/* The same for IPv6: espresso_routes6, espresso_local6. */
int bpfload_route6_set(struct bpf_state *b, const uint8_t addr[16], int len,
		       uint32_t value);
int bpfload_route6_del(struct bpf_state *b, const uint8_t addr[16], int len);
int bpfload_local6_add(struct bpf_state *b, const uint8_t addr[16]);
/* The per-CPU counters, summed over CPUs. */
int bpfload_read_stats(const struct bpf_state *b,
		       struct espresso_xdp_stats *sum);
/*
 * Whether detaching our program at exit will take CAP_SYS_ADMIN: it shares
 * libxdp's dispatcher with other programs, and only a new dispatcher
 * without ours takes it out. Alone in it (or attached without one), ours
 * is detached with CAP_NET_ADMIN alone (control/privs.c).
 */
bool bpfload_detach_needs_admin(const struct bpf_state *b);
/* Detach what we attached and unpin; close everything. */
void bpfload_close(struct bpf_state *b);
/*
 * A stop for a restart: close everything but leave the programs attached
 * (uplink and LANs), the maps pinned and their entries in place, as a
 * SIGKILL does: ESP of our SPIs is dropped (drop_no_xsk, the XSKs are
 * gone), LAN plaintext to tunnel routes too (drop_lan_no_xsk), until the
 * next start adopts them (bpfload_attach replaces the program).
 */
void bpfload_release(struct bpf_state *b);

#endif
