//! Upstream, after [`super::decap`]: the subscriber's packet leaves for the
//! core. In place: the source must be the subscriber's own address (no
//! spoofing from behind a tunnel), TTL or hop limit goes down by one with
//! the IPv4 checksum patched incrementally (RFC 1624), and the next hop's
//! Ethernet header is written right in front of the packet, over the
//! tunnel headers that are no longer needed.

use super::decap::{Decapped, Family};
use super::drop::Drop;
use crate::wire::{Ipv4Packet, Ipv6Packet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a session allows its subscriber to send from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowed {
    /// The IPv4 address (IPCP).
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 /64 (IPv6CP + prefix delegation or SLAAC), first 8 octets.
    pub ipv6_prefix: Option<[u8; 8]>,
    /// The prefix delegated by DHCPv6 (first 8 octets, length): a router
    /// behind the subscriber sends from its LAN.
    pub ipv6_delegated: Option<(u64, u8)>,
}

/// Where the packet goes next on the core side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The core gateway's MAC.
    pub dst_mac: [u8; 6],
    /// Our core interface's MAC.
    pub src_mac: [u8; 6],
}

impl NextHop {
    /// The first 12 octets of an Ethernet header to it: destination, then
    /// source.
    #[inline(always)]
    pub fn header(&self) -> [u8; 12] {
        let mut m = [0; 12];
        m[..6].copy_from_slice(&self.dst_mac);
        m[6..].copy_from_slice(&self.src_mac);
        m
    }

    /// The next hop the first 12 octets of an Ethernet header name
    /// ([`NextHop::header`]'s inverse).
    #[inline(always)]
    pub fn from_header(m: &[u8; 12]) -> NextHop {
        let mut h = NextHop {
            dst_mac: [0; 6],
            src_mac: [0; 6],
        };
        h.dst_mac.copy_from_slice(&m[..6]);
        h.src_mac.copy_from_slice(&m[6..]);
        h
    }
}

/// Rewrites the decapsulated frame in `buf` for the core; returns where
/// the new frame starts and its length.
pub fn to_core(
    buf: &mut [u8],
    d: &Decapped,
    allowed: &Allowed,
    hop: &NextHop,
) -> Result<(usize, usize), Drop> {
    let end = d.inner.checked_add(d.inner_len).ok_or(Drop::Truncated)?;
    let pkt = buf.get_mut(d.inner..end).ok_or(Drop::Truncated)?;
    let ethertype: [u8; 2] = match d.family {
        Family::V4 => {
            let mut ip = Ipv4Packet::new_checked(&mut *pkt).map_err(|_| Drop::Truncated)?;
            if Some(ip.src_addr()) != allowed.ipv4 {
                return Err(Drop::Spoofed);
            }
            if ip.ttl() <= 1 {
                return Err(Drop::TtlExpired);
            }
            ip.decrement_ttl();
            [0x08, 0x00]
        }
        Family::V6 => {
            let mut ip = Ipv6Packet::new_checked(&mut *pkt).map_err(|_| Drop::Truncated)?;
            let src: Ipv6Addr = ip.src_addr();
            // Link-local sources (router solicitations and the like) are
            // the control plane's business, not the core's.
            let mut head = [0u8; 8];
            head.copy_from_slice(&src.octets()[..8]);
            let in_link = allowed.ipv6_prefix == Some(head);
            let in_delegated = allowed.ipv6_delegated.is_some_and(|(p, len)| {
                u64::from_be_bytes(head) & crate::table::prefix_mask(len) == p
            });
            if !in_link && !in_delegated {
                return Err(Drop::Spoofed);
            }
            if ip.hop_limit() <= 1 {
                return Err(Drop::TtlExpired);
            }
            ip.decrement_hop_limit();
            [0x86, 0xdd]
        }
    };
    let front = d.inner.checked_sub(14).ok_or(Drop::NoHeadroom)?;
    let eth = &mut buf[front..d.inner];
    eth[..6].copy_from_slice(&hop.dst_mac);
    eth[6..12].copy_from_slice(&hop.src_mac);
    eth[12..14].copy_from_slice(&ethertype);
    Ok((front, end - front))
}

/// Downstream, once the packet `pkt` (from its IP header on) is known to
/// be a subscriber's: the TTL or hop limit is spent once, as by any
/// router on the way (RFC 1812 §5.3.1, RFC 8200 §3), the IPv4 checksum
/// patched incrementally. One that would reach zero goes no further.
#[inline]
pub fn spend_hop(pkt: &mut [u8]) -> Result<(), Drop> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let mut ip = Ipv4Packet::new_checked(pkt).map_err(|_| Drop::Truncated)?;
            if ip.ttl() <= 1 {
                return Err(Drop::TtlExpired);
            }
            ip.decrement_ttl();
        }
        Some(6) => {
            let mut ip = Ipv6Packet::new_checked(pkt).map_err(|_| Drop::Truncated)?;
            if ip.hop_limit() <= 1 {
                return Err(Drop::TtlExpired);
            }
            ip.decrement_hop_limit();
        }
        _ => return Err(Drop::NotIp),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decap::decap;
    use super::super::encap::{Outer, Template, encap};
    use super::*;
    use crate::wire::checksum;

    const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);

    /// The frame a LAC sends for a subscriber's ICMP echo (built with the
    /// encapsulation stage, which is exactly such a frame).
    fn lac_frame(src: Ipv4Addr, ttl: u8) -> Vec<u8> {
        let t = Template::new(&Outer {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlan: None,
            src: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 7)),
            src_port: 1701,
            dst: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
            dst_port: 1701,
            tunnel: 7,
            session: 9,
            sequencing: false,
        });
        let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, ttl, 1, 0, 0];
        p.extend(src.octets());
        p.extend([203, 0, 113, 9]);
        p.extend([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
        let c = !checksum::fold(checksum::accumulate(0, &p[..20]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let mut buf = vec![0u8; 128];
        buf[64..92].copy_from_slice(&p);
        let (f, n) = encap(&t, &mut buf, 64, 28, 0).unwrap();
        buf[f..f + n].to_vec()
    }

    fn hop() -> NextHop {
        NextHop {
            dst_mac: [2, 0, 0, 0, 0xc0, 0x12],
            src_mac: [2, 0, 0, 0, 0xc0, 0x01],
        }
    }

    #[test]
    fn byte_exact_core_frame() {
        let mut f = lac_frame(SUB, 64);
        let d = decap(&f, 1701).unwrap();
        let allowed = Allowed {
            ipv4: Some(SUB),
            ipv6_prefix: None,
            ipv6_delegated: None,
        };
        let (start, len) = to_core(&mut f, &d, &allowed, &hop()).unwrap();
        let mut expect = vec![2, 0, 0, 0, 0xc0, 0x12, 2, 0, 0, 0, 0xc0, 0x01, 0x08, 0x00];
        let mut ip = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 63, 1, 0, 0];
        ip.extend(SUB.octets());
        ip.extend([203, 0, 113, 9]);
        let c = !checksum::fold(checksum::accumulate(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        expect.extend(ip);
        expect.extend([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
        assert_eq!(&f[start..start + len], &expect[..]);
    }

    #[test]
    fn spoofed_and_expiring_packets_are_dropped() {
        let allowed = Allowed {
            ipv4: Some(SUB),
            ipv6_prefix: None,
            ipv6_delegated: None,
        };
        let mut f = lac_frame(Ipv4Addr::new(100, 64, 0, 11), 64);
        let d = decap(&f, 1701).unwrap();
        assert_eq!(to_core(&mut f, &d, &allowed, &hop()), Err(Drop::Spoofed));
        let mut f = lac_frame(SUB, 1);
        let d = decap(&f, 1701).unwrap();
        assert_eq!(to_core(&mut f, &d, &allowed, &hop()), Err(Drop::TtlExpired));
        // No address granted yet (IPCP not open): nothing passes.
        let mut f = lac_frame(SUB, 64);
        let d = decap(&f, 1701).unwrap();
        assert_eq!(
            to_core(&mut f, &d, &Allowed::default(), &hop()),
            Err(Drop::Spoofed)
        );
    }
}
