//! Downstream classification: a core-side frame addressed to a subscriber
//! pool, reduced to the IP packet and the destination the session lookup
//! needs; and the size limit of a session, above which the worker
//! fragments a packet (IPv4, DF clear) or answers it with ICMP
//! "fragmentation needed" / "packet too big".

use super::drop::Drop;
use super::encap::TemplateRef;
use crate::wire::{EtherType, EthernetFrame, Ipv4Packet, Ipv6Packet};
use std::net::IpAddr;

/// A packet for a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToSubscriber {
    /// Where the IP packet starts in the frame.
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// Its destination (the session lookup key: the IPv4 address, or the
    /// IPv6 /64).
    pub dst: IpAddr,
    /// IPv4 with Don't Fragment set (an oversize one gets ICMP, not
    /// fragmentation; IPv6 always).
    pub dont_fragment: bool,
}

/// Reads a core-side frame.
pub fn from_core(frame: &[u8]) -> Result<ToSubscriber, Drop> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Drop::Truncated)?;
    let start = eth.header_len();
    match eth.ethertype() {
        EtherType::IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| Drop::BadIpHeader)?;
            Ok(ToSubscriber {
                start,
                len: usize::from(ip.total_len()),
                dst: IpAddr::V4(ip.dst_addr()),
                dont_fragment: ip.dont_frag(),
            })
        }
        EtherType::IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).map_err(|_| Drop::BadIpHeader)?;
            Ok(ToSubscriber {
                start,
                len: 40 + usize::from(ip.payload_len()),
                dst: IpAddr::V6(ip.dst_addr()),
                dont_fragment: true,
            })
        }
        _ => Err(Drop::NotIp),
    }
}

/// The largest IP packet a session can be sent. Its subscriber's PPP MRU
/// bounds it (RFC 1661 §6.1), and so does the access link: the frame the
/// template makes must fit the interface's MTU, which counts everything
/// after the Ethernet header (the session's IP, UDP, L2TP and PPP headers,
/// and its 802.1Q tag). `access_mtu` unknown: the MRU alone.
#[inline]
pub fn limit<'t>(mru: u16, access_mtu: Option<u16>, template: impl Into<TemplateRef<'t>>) -> usize {
    limit_over(mru, access_mtu, template.into().overhead())
}

/// [`limit`] for a template that adds `overhead` octets after the
/// Ethernet header.
#[inline(always)]
pub fn limit_over(mru: u16, access_mtu: Option<u16>, overhead: usize) -> usize {
    let mru = usize::from(mru);
    match access_mtu {
        Some(mtu) => mru.min(usize::from(mtu).saturating_sub(overhead)),
        None => mru,
    }
}

/// Whether the subscriber can take the packet, whose limit is `limit`.
#[inline]
pub fn fits(p: &ToSubscriber, limit: usize) -> Result<(), Drop> {
    if p.len > limit {
        Err(Drop::TooBig)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn frame(len: u16, df: bool) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let mut ip = vec![
            0x45,
            0,
            0,
            0,
            0,
            0,
            if df { 0x40 } else { 0 },
            0,
            64,
            17,
            0,
            0,
            203,
            0,
            113,
            9,
            100,
            64,
            0,
            10,
        ];
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        f.extend(ip);
        f.resize(14 + usize::from(len), 0);
        f
    }

    #[test]
    fn classifies_and_checks_the_mru() {
        let f = frame(1500, true);
        let p = from_core(&f).unwrap();
        assert_eq!((p.start, p.len), (14, 1500));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(100, 64, 0, 10)));
        assert!(p.dont_fragment);
        assert_eq!(fits(&p, 1460), Err(Drop::TooBig));
        assert_eq!(fits(&p, 1500), Ok(()));
        assert!(!from_core(&frame(100, false)).unwrap().dont_fragment);
        let mut arp = frame(100, false);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(from_core(&arp), Err(Drop::NotIp));
    }

    #[test]
    fn the_access_link_bounds_the_limit_too() {
        use super::super::encap::{Outer, Template};
        let t = |vlan, sequencing| {
            Template::new(&Outer {
                dst_mac: [0; 6],
                src_mac: [0; 6],
                vlan,
                src: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
                src_port: 1701,
                dst: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 7)),
                dst_port: 1701,
                tunnel: 1,
                session: 2,
                sequencing,
            })
        };
        // 1500 - (IP 20 + UDP 8 + L2TP 6 + PPP 4).
        assert_eq!(limit(1500, Some(1500), &t(None, false)), 1462);
        // Ns and Nr take 4 more, an 802.1Q tag 4 more.
        assert_eq!(limit(1500, Some(1500), &t(None, true)), 1458);
        assert_eq!(limit(1500, Some(1500), &t(Some(7), true)), 1454);
        // A smaller MRU, or no known MTU: the MRU.
        assert_eq!(limit(1400, Some(1500), &t(None, false)), 1400);
        assert_eq!(limit(1500, None, &t(None, false)), 1500);
        assert_eq!(limit(1500, Some(20), &t(None, false)), 0);
    }
}
