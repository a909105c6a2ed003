/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every struct and constant the XDP program shares with Rust
 * (dataplane/src/loader.rs). A Rust test (`loader::abi`) asserts the sizes
 * and offsets below, so a change on one side without the other fails the
 * build's tests instead of misreading a map.
 */
#ifndef XLNS_H
#define XLNS_H

#include <linux/types.h>

/* Sockets are keyed by receive queue, access side first. */
#define XLNS_MAX_QUEUES 64
#define XLNS_XSK_CORE_BASE XLNS_MAX_QUEUES
#define XLNS_XSK_ENTRIES (2 * XLNS_MAX_QUEUES)

/* Pool prefixes the core side steers (LPM entries). */
#define XLNS_MAX_PREFIXES 4096

/* Entries of the switched-session map (`xlns_switched`) as compiled; the
 * loader sizes it to the table's capacity when it knows it. Key: our
 * (tunnel id << 16 | session id) on the leg a frame arrives on, in host
 * order; value: 1. */
#define XLNS_MAX_SWITCHED 65536

/* xlns_config.flags: the switched map holds at least one key, so L2TP
 * data frames are looked up in it (without it, no lookup is paid). */
#define XLNS_CFG_SWITCHED 0x0001

/* What the program did with a frame; one per-CPU counter each. Every
 * frame is counted exactly once. */
enum xlns_verdict {
	XLNS_ACCESS_TO_XSK = 0,     /* L2TP data, IPv4/IPv6 PPP: the workers' */
	XLNS_CORE_TO_XSK = 1,       /* destination in a subscriber pool */
	XLNS_PASS_CONTROL = 2,      /* L2TP control (T=1): lnsd */
	XLNS_PASS_PPP_CONTROL = 3,  /* L2TP data, not IP (LCP, auth, NCP): lnsd */
	XLNS_PASS_NOT_L2TP = 4,     /* access side, not UDP to the LNS */
	XLNS_PASS_NOT_POOL = 5,     /* core side, not to a subscriber */
	XLNS_PASS_FRAGMENT = 6,     /* IPv4 fragment: the kernel reassembles */
	XLNS_PASS_MALFORMED = 7,    /* too short for what it claims */
	XLNS_ACCESS_NO_XSK = 8,     /* would steer, no socket on the queue */
	XLNS_CORE_NO_XSK = 9,       /* the same, core side */
	XLNS_PASS_OTHER_IFACE = 10, /* attached where the config does not say */
	XLNS_SWITCHED_TO_XSK = 11,  /* L2TP data of a switched session, any PPP */
	XLNS_PASS_LINK_LOCAL = 12,  /* subscriber IPv6 to a link-scope address
	                             * (RS, DHCPv6, ND): lnsd */
	XLNS_VERDICTS = 13,
};

/* The one entry of the `xlns_config` array map. Addresses and the port
 * are in network byte order, as they appear in the packet. */
struct xlns_config {
	__u32 access_ifindex;
	__u32 core_ifindex;
	__u32 lns_ipv4;        /* 0: no IPv4 LNS address */
	__u8 lns_ipv6[16];     /* all zero: no IPv6 LNS address */
	__u16 lns_port;
	__u16 flags;           /* XLNS_CFG_* */
};

/* LPM trie keys (the kernel's struct bpf_lpm_trie_key layout). */
struct xlns_lpm_v4 {
	__u32 prefixlen;
	__u32 addr;
};

struct xlns_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

#endif
