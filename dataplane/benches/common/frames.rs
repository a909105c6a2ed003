//! Sessions and frames shared by the data-plane benchmarks: a session
//! table entry for subscriber `n`, the L2TP frame a LAC sends for it, and
//! the plain IP frame the core sends to it (at `HEADROOM` in a 2 KiB
//! buffer, as in a UMEM chunk); and switched session `n`'s two legs and
//! the frames arriving on each.

#![allow(dead_code, reason = "each benchmark uses a subset")]

use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::table::{Egress, Leg, Session};
use lns_dataplane::wire::checksum;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const LNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
pub const HEADROOM: usize = 256;
/// The target LNS of switched sessions, reached through the core.
pub const TARGET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
/// Next hops: toward the LAC (2), toward the target LNS (3).
pub const HOP_LAC: u32 = 2;
pub const HOP_TARGET: u32 = 3;
/// Leg B's tunnel ids are leg A's with this bit.
const LEG_B: u16 = 0x4000;

pub fn sub(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000 + n)
}

/// Our tunnels the subscribers come in, one after the other as calls
/// from many LACs arrive (a million sessions: 15,625 a tunnel, a quarter
/// of a tunnel's session ids).
pub const TUNNELS: u32 = 64;

thread_local! {
    /// The ids handed out so far ([`place`]), subscriber `n`'s at `n`
    /// (per thread: a benchmark places and reads on its own thread; a
    /// lock here cost the look-ups it is read beside).
    static IDS: std::cell::RefCell<Vec<(u16, u16)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The session ids in use, a bit each, 65,536 bits a tunnel.
    static USED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Subscriber `n`'s ids: our tunnel (`n % TUNNELS + 1`) and the
/// session id [`place`] picked for it.
pub fn ids(n: u32) -> (u16, u16) {
    IDS.with_borrow(|v| v.get(n as usize).copied())
        .unwrap_or_else(|| panic!("subscriber {n} has no ids: frames::place them first"))
}

/// Forgets the ids handed out, for a new table.
pub fn unplace() {
    IDS.with_borrow_mut(Vec::clear);
    USED.with_borrow_mut(Vec::clear);
}

/// Picks subscriber `n`'s session id as lnsd does (the next after those
/// before it): random ids not in use in its tunnel, the first of up to
/// 64 whose home slot `free` says is free (for a switched session, the
/// home of both legs' ids), else the first not in use.
pub fn place(n: u32, legs: bool, free: impl Fn(u16, u16) -> bool) -> (u16, u16) {
    assert_eq!(
        IDS.with_borrow(Vec::len),
        n as usize,
        "subscribers are placed in order"
    );
    let tunnel = (n % TUNNELS + 1) as u16;
    let s = USED.with_borrow_mut(|used| {
        let base = usize::from(tunnel - 1) * 1024;
        if used.len() < base + 1024 {
            used.resize(base + 1024, 0);
        }
        let bits = &mut used[base..base + 1024];
        let mut x = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 16) as u16
        };
        let home = |s: u16| free(tunnel, s) && (!legs || free(tunnel | LEG_B, s));
        let unused = |s: u16| s != 0 && bits[usize::from(s) / 64] & 1 << (s % 64) == 0;
        let mut fallback = None;
        let mut pick = None;
        for _ in 0..64 {
            let s = next();
            if unused(s) {
                fallback.get_or_insert(s);
                if home(s) {
                    pick = Some(s);
                    break;
                }
            }
        }
        let s = pick
            .or(fallback)
            .or_else(|| (1..=u16::MAX).find(|&s| unused(s)))
            .expect("a free session id");
        bits[usize::from(s) / 64] |= 1 << (s % 64);
        s
    });
    IDS.with_borrow_mut(|v| v.push((tunnel, s)));
    (tunnel, s)
}

pub fn session(n: u32) -> Session {
    let (tunnel, session) = ids(n);
    Session {
        tunnel,
        session,
        ipv4: Some(sub(n)),
        ipv6_prefix: None,
        mru: 1500,
        peer: IpAddr::V4(LAC),
        peer_port: 1701,
        lac_nexthop: 2,
        template: Template::new(&Outer {
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 1],
            vlan: None,
            src: std::net::IpAddr::from(LNS),
            src_port: 1701,
            dst: std::net::IpAddr::from(LAC),
            dst_port: 1701,
            tunnel: tunnel ^ 0x5555,
            session: session ^ 0x5555,
            sequencing: false,
        }),
        switched: None,
        rates: Default::default(),
    }
}

/// The core host of IPv6 traffic.
pub const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 9);

/// Subscriber `n`'s /64: 2001:db8 and `n` (first 8 octets).
pub fn sub6_prefix(n: u32) -> [u8; 8] {
    let mut p = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0];
    p[4..].copy_from_slice(&n.to_be_bytes());
    p
}

/// Subscriber `n`'s IPv6 address: its /64 and ::1.
pub fn sub6(n: u32) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&sub6_prefix(n));
    a[15] = 1;
    Ipv6Addr::from(a)
}

/// Subscriber `n` with its IPv4 address and its /64 (dual stack).
pub fn dual_session(n: u32) -> Session {
    Session {
        ipv6_prefix: Some(sub6_prefix(n)),
        ..session(n)
    }
}

/// An IPv6 packet of `len` bytes (UDP, hop limit 64).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend(((len - 40) as u16).to_be_bytes());
    p.extend([17, 64]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.resize(len, 0x5a);
    p
}

pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p.extend(src.octets());
    p.extend(dst.octets());
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.resize(len, 0x5a);
    p
}

/// A 2 KiB buffer with the frame at HEADROOM; returns it and the length.
pub fn upstream_frame(n: u32, len: usize) -> (Vec<u8>, usize) {
    upstream_frame_of(n, &ipv4(sub(n), HOST, len))
}

/// The same for subscriber `n`'s IPv6 packet of `len` bytes to the core.
pub fn upstream_frame6(n: u32, len: usize) -> (Vec<u8>, usize) {
    upstream_frame_of(n, &ipv6(sub6(n), HOST6, len))
}

/// The core's IPv6 packet of `len` bytes to subscriber `n`.
pub fn downstream_frame6(n: u32, len: usize) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; 2048];
    buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0xc0, 1, 2, 0, 0, 0, 0xc0, 2]);
    buf[HEADROOM + 12..HEADROOM + 14].copy_from_slice(&[0x86, 0xdd]);
    buf[HEADROOM + 14..HEADROOM + 14 + len].copy_from_slice(&ipv6(HOST6, sub6(n), len));
    (buf, 14 + len)
}

/// Subscriber `n`'s packet `inner` as its LAC sends it.
fn upstream_frame_of(n: u32, inner: &[u8]) -> (Vec<u8>, usize) {
    let len = inner.len();
    let (tunnel, session) = ids(n);
    let t = Template::new(&Outer {
        dst_mac: [2, 0, 0, 0, 0, 1],
        src_mac: [2, 0, 0, 0, 0, 2],
        vlan: None,
        src: std::net::IpAddr::from(LAC),
        src_port: 1701,
        dst: std::net::IpAddr::from(LNS),
        dst_port: 1701,
        tunnel,
        session,
        sequencing: false,
    });
    let mut buf = vec![0u8; 2048];
    let at = 512;
    buf[at..at + len].copy_from_slice(inner);
    let (s, l) = encap(&t, &mut buf, at, len, 0).unwrap();
    let mut out = vec![0u8; 2048];
    out[HEADROOM..HEADROOM + l].copy_from_slice(&buf[s..s + l]);
    (out, l)
}

pub fn downstream_frame(n: u32, len: usize) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; 2048];
    buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0xc0, 1, 2, 0, 0, 0, 0xc0, 2]);
    buf[HEADROOM + 12..HEADROOM + 14].copy_from_slice(&[0x08, 0x00]);
    buf[HEADROOM + 14..HEADROOM + 14 + len].copy_from_slice(&ipv4(HOST, sub(n), len));
    (buf, 14 + len)
}

/// Switched session `n`: leg A from the LAC with subscriber `n`'s ids
/// (unsequenced, on the access side), leg B to the target LNS (our tunnel
/// id with bit 14 set, sequenced, through the core).
pub fn switched_legs(n: u32) -> (Leg, Leg) {
    let (tunnel, session) = ids(n);
    let a = Leg {
        tunnel,
        session,
        local: LNS,
        local_port: 1701,
        peer: LAC,
        peer_port: 1701,
        peer_tunnel: tunnel ^ 0x5555,
        peer_session: session ^ 0x5555,
        sequencing: false,
        vlan: None,
        nexthop: HOP_LAC,
        egress: Egress::Access,
        next_ns: 0,
    };
    let b = Leg {
        tunnel: tunnel | LEG_B,
        peer: TARGET,
        peer_tunnel: tunnel ^ 0x3333,
        peer_session: session ^ 0x3333,
        sequencing: true,
        nexthop: HOP_TARGET,
        egress: Egress::Core,
        ..a
    };
    (a, b)
}

/// What the target LNS sends on leg B of switched session `n`: an IP
/// packet for the subscriber, sequenced.
pub fn switched_frame_from_target(n: u32, len: usize) -> (Vec<u8>, usize) {
    let (tunnel, session) = ids(n);
    let t = Template::new(&Outer {
        dst_mac: [2, 0, 0, 0, 0xc0, 1],
        src_mac: [2, 0, 0, 0, 0xc0, 2],
        vlan: None,
        src: std::net::IpAddr::from(TARGET),
        src_port: 1701,
        dst: std::net::IpAddr::from(LNS),
        dst_port: 1701,
        tunnel: tunnel | LEG_B,
        session,
        sequencing: true,
    });
    let inner = ipv4(HOST, sub(n), len);
    let mut buf = vec![0u8; 2048];
    let at = 512;
    buf[at..at + len].copy_from_slice(&inner);
    let (s, l) = encap(&t, &mut buf, at, len, 7).unwrap();
    let mut out = vec![0u8; 2048];
    out[HEADROOM..HEADROOM + l].copy_from_slice(&buf[s..s + l]);
    (out, l)
}
