// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlns steering program (DESIGN §2). Attached to the access and the core
 * interface; decides per frame, never rewrites one:
 *
 *   access side: UDP to the LNS address and port, L2TPv2 with T=0, PPP
 *                protocol IPv4 or IPv6      -> the AF_XDP socket of this queue
 *   either side: UDP to the LNS address and port, L2TPv2 with T=0, its
 *                (tunnel, session) in xlns_switched, any PPP protocol
 *                                          -> the AF_XDP socket of this queue
 *   core side:   IPv4/IPv6 destination in a subscriber pool (LPM)
 *                                          -> the AF_XDP socket of this queue
 *   everything else (L2TP control, LCP/auth/NCP frames, ARP, ND, ...)
 *                                          -> XDP_PASS, to the kernel and lnsd
 *
 * Switched sessions (multi-hop, DESIGN §2.1) have no PPP here: every data
 * frame of theirs, LCP and authentication included, is the workers' to
 * rewrite onto the other leg, so the switched map is consulted before the
 * PPP protocol test. lns-dataplane keeps the map in step with lnsd's
 * table and sets XLNS_CFG_SWITCHED while it is not empty; until a new
 * session's key is in, its non-IP frames reach lnsd as before. The
 * target LNS may be reached through the core, so on the core interface
 * too L2TP data to us is looked up there (and only there: anything else
 * to the LNS address on the core side is the kernel's, as before).
 *
 * A frame that should be steered but finds no socket on its queue (the
 * data plane is restarting) is passed too and counted: lnsd sees it, and
 * nothing is dropped silently. Every frame bumps exactly one per-CPU
 * counter (enum xlns_verdict).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlns.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlns_config);
} xlns_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XLNS_XSK_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} xlns_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLNS_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlns_lpm_v4);
	__type(value, __u8);
} xlns_pools_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLNS_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlns_lpm_v6);
	__type(value, __u8);
} xlns_pools_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLNS_MAX_SWITCHED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u8);
} xlns_switched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLNS_VERDICTS);
	__type(key, __u32);
	__type(value, __u64);
} xlns_counters SEC(".maps");

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IPV6_ADDR_LEN 16

static __always_inline void count(__u32 v)
{
	__u64 *c = bpf_map_lookup_elem(&xlns_counters, &v);

	if (c)
		*c += 1;
}

/* Steers to this queue's socket on one side, or passes and says why. */
static __always_inline int to_xsk(struct xdp_md *ctx, __u32 base, __u32 v, __u32 missing)
{
	__u32 key = base + ctx->rx_queue_index;

	if (ctx->rx_queue_index >= XLNS_MAX_QUEUES || !bpf_map_lookup_elem(&xlns_xsks, &key)) {
		count(missing);
		return XDP_PASS;
	}
	count(v);
	return bpf_redirect_map(&xlns_xsks, key, XDP_PASS);
}

/* BPF has no memcmp: four word compares, unrolled. */
static __always_inline int same_v6(const void *a, const __u8 *b)
{
	const __u32 *x = a;
	__u32 y[4];

	__builtin_memcpy(y, b, IPV6_ADDR_LEN);
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* Ethernet, up to two VLAN tags: the L3 protocol (host order) and where
 * its header starts, or 0 when the frame is too short. */
static __always_inline __u16 parse_l2(void *data, void *end, void **l3)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__u16 proto;

	if (cur > end)
		return 0;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q_ && proto != ETH_P_8021AD_)
			break;
		if (cur + 4 > end)
			return 0;
		proto = bpf_ntohs(*(__be16 *)(cur + 2));
		cur += 4;
	}
	*l3 = cur;
	return proto;
}

/* Access side: is this an L2TP data frame for us carrying an IP packet,
 * or any data frame of a switched session? IPv4 with options is fine;
 * IPv6 with extension headers is not steered (lnsd counts what reaches
 * it). The core side asks it about switched sessions only. */
static __always_inline __u32 classify_access(struct xdp_md *ctx, struct xlns_config *cfg)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *l3 = data;
	struct udphdr *udp;
	__u16 proto = parse_l2(data, end, &l3);

	if (!proto)
		return XLNS_PASS_MALFORMED;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return XLNS_PASS_MALFORMED;
		if (!cfg->lns_ipv4 || ip->daddr != cfg->lns_ipv4 || ip->protocol != IPPROTO_UDP)
			return XLNS_PASS_NOT_L2TP;
		if (bpf_ntohs(ip->frag_off) & 0x3fff)
			return XLNS_PASS_FRAGMENT;
		if (ip->ihl < 5)
			return XLNS_PASS_MALFORMED;
		udp = l3 + ip->ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return XLNS_PASS_MALFORMED;
		if (!same_v6(&ip6->daddr, cfg->lns_ipv6))
			return XLNS_PASS_NOT_L2TP;
		if (ip6->nexthdr == 44)
			return XLNS_PASS_FRAGMENT;
		if (ip6->nexthdr != IPPROTO_UDP)
			return XLNS_PASS_NOT_L2TP;
		udp = (struct udphdr *)(ip6 + 1);
	} else {
		return XLNS_PASS_NOT_L2TP;
	}
	if ((void *)(udp + 1) > end)
		return XLNS_PASS_MALFORMED;
	if (udp->dest != cfg->lns_port)
		return XLNS_PASS_NOT_L2TP;

	/* RFC 2661 §3.1: T L x x S x O P x x x x Ver, then optional Length,
	 * Tunnel ID, Session ID, optional Ns/Nr, optional Offset Size/pad. */
	__u8 *l2tp = (__u8 *)(udp + 1);

	if ((void *)(l2tp + 2) > end)
		return XLNS_PASS_MALFORMED;
	if (l2tp[0] & 0x80)
		return XLNS_PASS_CONTROL;
	if ((l2tp[1] & 0x0f) != 2)
		return XLNS_PASS_NOT_L2TP;
	if (cfg->flags & XLNS_CFG_SWITCHED) {
		/* Tunnel and Session ID follow the optional Length. */
		__u8 *ids = l2tp + ((l2tp[0] & 0x40) ? 4 : 2);

		if ((void *)(ids + 4) > end)
			return XLNS_PASS_MALFORMED;
		__u32 key = ((__u32)ids[0] << 24) | ((__u32)ids[1] << 16) | ((__u32)ids[2] << 8) | ids[3];

		if (bpf_map_lookup_elem(&xlns_switched, &key))
			return XLNS_SWITCHED_TO_XSK;
	}
	__u32 hl = 6;

	if (l2tp[0] & 0x40)
		hl += 2;
	if (l2tp[0] & 0x08)
		hl += 4;
	__u8 *ppp = l2tp + hl;

	if (l2tp[0] & 0x02) {
		if ((void *)(ppp + 2) > end)
			return XLNS_PASS_MALFORMED;
		__u32 off = ((__u32)ppp[0] << 8) | ppp[1];

		/* Offset padding beyond a sane bound is not steered. */
		if (off > 256)
			return XLNS_PASS_MALFORMED;
		/* Keeps clang from adding before the bound check, which would
		 * leave the verifier an unbounded packet offset. */
		barrier_var(off);
		ppp += 2 + off;
	}
	/* PPP (RFC 1662 §3.2): FF 03 may be omitted (ACFC); the protocol may
	 * be one byte (RFC 1661 §6.5 PFC: an odd first byte). */
	if ((void *)(ppp + 2) > end)
		return XLNS_PASS_MALFORMED;
	if (ppp[0] == 0xff && ppp[1] == 0x03) {
		ppp += 2;
		if ((void *)(ppp + 1) > end)
			return XLNS_PASS_MALFORMED;
	}
	__u16 pp;

	if (ppp[0] & 1) {
		pp = ppp[0];
	} else {
		if ((void *)(ppp + 2) > end)
			return XLNS_PASS_MALFORMED;
		pp = ((__u16)ppp[0] << 8) | ppp[1];
	}
	if (pp != 0x0021 && pp != 0x0057)
		return XLNS_PASS_PPP_CONTROL;
	if (pp == 0x0057) {
		/* Link-scope IPv6 (RFC 4291 §2.5.6, §2.7: fe80::/10 and
		 * multicast ff02::/16) never leaves the link: Router
		 * Solicitations (RFC 4861 §6.1.1), DHCPv6 (RFC 8415 §7.1) and
		 * Neighbor Discovery are for lnsd, which answers them on the
		 * session. */
		struct ipv6hdr *in6 = (struct ipv6hdr *)(ppp + ((ppp[0] & 1) ? 1 : 2));

		if ((void *)(in6 + 1) > end)
			return XLNS_PASS_MALFORMED;
		__u8 d0 = in6->daddr.in6_u.u6_addr8[0];
		__u8 d1 = in6->daddr.in6_u.u6_addr8[1];

		if ((d0 == 0xff && (d1 & 0x0f) <= 2) || (d0 == 0xfe && (d1 & 0xc0) == 0x80))
			return XLNS_PASS_LINK_LOCAL;
	}
	return XLNS_ACCESS_TO_XSK;
}

/* Core side: is the destination a subscriber's? */
static __always_inline __u32 classify_core(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *l3 = data;
	__u16 proto = parse_l2(data, end, &l3);

	if (!proto)
		return XLNS_PASS_MALFORMED;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = l3;
		struct xlns_lpm_v4 k = {.prefixlen = 32};

		if ((void *)(ip + 1) > end)
			return XLNS_PASS_MALFORMED;
		k.addr = ip->daddr;
		return bpf_map_lookup_elem(&xlns_pools_v4, &k) ? XLNS_CORE_TO_XSK : XLNS_PASS_NOT_POOL;
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = l3;
		struct xlns_lpm_v6 k = {.prefixlen = 128};

		if ((void *)(ip6 + 1) > end)
			return XLNS_PASS_MALFORMED;
		__builtin_memcpy(k.addr, &ip6->daddr, IPV6_ADDR_LEN);
		return bpf_map_lookup_elem(&xlns_pools_v6, &k) ? XLNS_CORE_TO_XSK : XLNS_PASS_NOT_POOL;
	}
	return XLNS_PASS_NOT_POOL;
}

SEC("xdp")
int xlns_steer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct xlns_config *cfg = bpf_map_lookup_elem(&xlns_config, &zero);
	__u32 v = XLNS_PASS_OTHER_IFACE;

	if (!cfg) {
		count(v);
		return XDP_PASS;
	}
	int access = ctx->ingress_ifindex == cfg->access_ifindex;

	if (access) {
		v = classify_access(ctx, cfg);
	} else if (ctx->ingress_ifindex == cfg->core_ifindex && (cfg->flags & XLNS_CFG_SWITCHED)) {
		/* A switched leg's peer reached through the core: only its data
		 * is taken here; the rest goes on to the pool test. */
		v = classify_access(ctx, cfg);
		if (v != XLNS_SWITCHED_TO_XSK)
			v = XLNS_PASS_OTHER_IFACE;
	}
	/* With one interface for both sides, what is not L2TP for us may
	 * still be a subscriber's. */
	if ((v == XLNS_PASS_OTHER_IFACE || v == XLNS_PASS_NOT_L2TP) &&
	    ctx->ingress_ifindex == cfg->core_ifindex)
		v = classify_core(ctx);
	if (v == XLNS_ACCESS_TO_XSK)
		return to_xsk(ctx, 0, v, XLNS_ACCESS_NO_XSK);
	if (v == XLNS_CORE_TO_XSK)
		return to_xsk(ctx, XLNS_XSK_CORE_BASE, v, XLNS_CORE_NO_XSK);
	/* To the socket of the interface it came in on: the worker reads
	 * both and sends it out of whichever the slot names. */
	if (v == XLNS_SWITCHED_TO_XSK)
		return access ? to_xsk(ctx, 0, v, XLNS_ACCESS_NO_XSK)
			      : to_xsk(ctx, XLNS_XSK_CORE_BASE, v, XLNS_CORE_NO_XSK);
	count(v);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
