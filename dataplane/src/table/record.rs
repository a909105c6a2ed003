//! What a slot holds, and how it is laid out in its words.
//!
//! Records are encoded field by field into little-endian words, not cast
//! from a `repr(C)` struct: the layout is written down here once, the
//! decoder checks what it reads (a template with impossible offsets is a
//! miss, not an out-of-bounds write), and no `unsafe` is needed.

use crate::node::encap::{TEMPLATE_BYTES, Template};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Words of session data in a slot (the slot adds its sequence word).
pub const SESSION_WORDS: usize = 15;
/// Words of a next-hop record (the slot adds its sequence word).
pub const NEXTHOP_WORDS: usize = 4;

/// The session bit: an IPv4 address is assigned.
const F_V4: u16 = 1;
/// The session bit: an IPv6 /64 is assigned.
const F_V6: u16 = 2;

/// One subscriber session as the workers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Our tunnel id (what the LAC puts in data frames it sends us).
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The subscriber's IPv4 address (IPCP).
    pub ipv4: Option<Ipv4Addr>,
    /// The subscriber's IPv6 /64, first 8 octets (IPv6CP).
    pub ipv6_prefix: Option<[u8; 8]>,
    /// The subscriber's MRU: larger downstream packets get an ICMP error.
    pub mru: u16,
    /// The LAC's address: data from elsewhere is refused.
    pub peer: IpAddr,
    /// The LAC's port.
    pub peer_port: u16,
    /// Next-hop table index toward the LAC; its MACs override the
    /// template's, so a changed neighbour needs one write, not one per
    /// session.
    pub lac_nexthop: u32,
    /// The outer headers toward the LAC.
    pub template: Template,
}

impl Session {
    /// The upstream index key.
    pub fn key(&self) -> u64 {
        up_key(self.tunnel, self.session)
    }

    pub(crate) fn encode(&self, generation: u64) -> [u64; SESSION_WORDS] {
        let mut b = [0u8; SESSION_WORDS * 8];
        b[0..8].copy_from_slice(&generation.to_le_bytes());
        b[8..10].copy_from_slice(&self.tunnel.to_le_bytes());
        b[10..12].copy_from_slice(&self.session.to_le_bytes());
        let flags = if self.ipv4.is_some() { F_V4 } else { 0 }
            | if self.ipv6_prefix.is_some() { F_V6 } else { 0 };
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..16].copy_from_slice(&self.mru.to_le_bytes());
        b[16..20].copy_from_slice(&self.ipv4.map_or([0; 4], |a| a.octets()));
        b[20..24].copy_from_slice(&self.lac_nexthop.to_le_bytes());
        b[24..32].copy_from_slice(&self.ipv6_prefix.unwrap_or([0; 8]));
        let peer = match self.peer {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        b[32..48].copy_from_slice(&peer.octets());
        b[48..50].copy_from_slice(&self.peer_port.to_le_bytes());
        b[50..50 + TEMPLATE_BYTES].copy_from_slice(&self.template.to_bytes());
        to_words(&b)
    }

    /// The session and its generation, or `None` for a free slot or one
    /// whose contents do not make a session.
    pub(crate) fn decode(w: &[u64; SESSION_WORDS]) -> Option<(u64, Session)> {
        let mut b = [0u8; SESSION_WORDS * 8];
        for (c, x) in b.chunks_exact_mut(8).zip(w) {
            c.copy_from_slice(&x.to_le_bytes());
        }
        let generation = w[0];
        if generation == 0 {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let flags = u16_at(12);
        let mut t = [0u8; TEMPLATE_BYTES];
        t.copy_from_slice(&b[50..50 + TEMPLATE_BYTES]);
        let mut peer = [0u8; 16];
        peer.copy_from_slice(&b[32..48]);
        let peer = Ipv6Addr::from(peer);
        let mut v6 = [0u8; 8];
        v6.copy_from_slice(&b[24..32]);
        Some((
            generation,
            Session {
                tunnel: u16_at(8),
                session: u16_at(10),
                ipv4: (flags & F_V4 != 0).then(|| Ipv4Addr::new(b[16], b[17], b[18], b[19])),
                ipv6_prefix: (flags & F_V6 != 0).then_some(v6),
                mru: u16_at(14),
                peer: peer.to_ipv4_mapped().map_or(IpAddr::V6(peer), IpAddr::V4),
                peer_port: u16_at(48),
                lac_nexthop: u32::from_le_bytes([b[20], b[21], b[22], b[23]]),
                template: Template::from_bytes(&t)?,
            },
        ))
    }
}

/// Where a worker sends a frame: the neighbour's MAC and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextHop {
    /// The neighbour's MAC (resolved by lnsd from the kernel).
    pub dst_mac: [u8; 6],
    /// Our interface's MAC.
    pub src_mac: [u8; 6],
    /// The neighbour's address, for operators and for refreshing.
    pub addr: Option<IpAddr>,
}

impl NextHop {
    pub(crate) fn encode(&self) -> [u64; NEXTHOP_WORDS] {
        let mut b = [0u8; NEXTHOP_WORDS * 8];
        b[0] = 1;
        b[1] = match self.addr {
            None => 0,
            Some(IpAddr::V4(_)) => 4,
            Some(IpAddr::V6(_)) => 6,
        };
        b[2..8].copy_from_slice(&self.dst_mac);
        b[8..14].copy_from_slice(&self.src_mac);
        let a = match self.addr {
            Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
            Some(IpAddr::V6(a)) => a,
            None => Ipv6Addr::UNSPECIFIED,
        };
        b[16..32].copy_from_slice(&a.octets());
        to_words(&b)
    }

    pub(crate) fn decode(w: &[u64; NEXTHOP_WORDS]) -> Option<NextHop> {
        let mut b = [0u8; NEXTHOP_WORDS * 8];
        for (c, x) in b.chunks_exact_mut(8).zip(w) {
            c.copy_from_slice(&x.to_le_bytes());
        }
        if b[0] != 1 {
            return None;
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[16..32]);
        let a = Ipv6Addr::from(a);
        let mut nh = NextHop::default();
        nh.dst_mac.copy_from_slice(&b[2..8]);
        nh.src_mac.copy_from_slice(&b[8..14]);
        nh.addr = match b[1] {
            4 => a.to_ipv4_mapped().map(IpAddr::V4),
            6 => Some(IpAddr::V6(a)),
            _ => None,
        };
        Some(nh)
    }
}

/// The upstream key: what the LAC's data frames carry.
pub fn up_key(tunnel: u16, session: u16) -> u64 {
    (u64::from(tunnel) << 16) | u64::from(session)
}

fn to_words<const N: usize, const B: usize>(b: &[u8; B]) -> [u64; N] {
    let mut w = [0u64; N];
    for (x, c) in w.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *x = u64::from_le_bytes(a);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::encap::Outer;

    pub(crate) fn sample(tunnel: u16, session: u16) -> Session {
        Session {
            tunnel,
            session,
            ipv4: Some(Ipv4Addr::new(100, 64, 1, 2)),
            ipv6_prefix: Some([0x20, 1, 0xd, 0xb8, 0, 0, 0, 7]),
            mru: 1492,
            peer: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            peer_port: 1701,
            lac_nexthop: 3,
            template: Template::new(&Outer {
                dst_mac: [2, 0, 0, 0, 0, 2],
                src_mac: [2, 0, 0, 0, 0, 1],
                vlan: None,
                src: Ipv4Addr::new(192, 0, 2, 1),
                src_port: 1701,
                dst: Ipv4Addr::new(198, 51, 100, 7),
                dst_port: 1701,
                tunnel: 9,
                session: 10,
                sequencing: true,
            }),
        }
    }

    #[test]
    fn session_round_trips() {
        let s = sample(1, 2);
        assert_eq!(Session::decode(&s.encode(77)), Some((77, s)));
        let v6 = Session {
            ipv4: None,
            peer: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..s
        };
        assert_eq!(Session::decode(&v6.encode(1)), Some((1, v6)));
        // Generation 0 is a free slot.
        assert_eq!(Session::decode(&s.encode(0)), None);
        assert_eq!(Session::decode(&[0; SESSION_WORDS]), None);
    }

    #[test]
    fn nexthop_round_trips() {
        let n = NextHop {
            dst_mac: [1, 2, 3, 4, 5, 6],
            src_mac: [7, 8, 9, 10, 11, 12],
            addr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        };
        assert_eq!(NextHop::decode(&n.encode()), Some(n));
        assert_eq!(NextHop::decode(&[0; NEXTHOP_WORDS]), None);
    }
}
