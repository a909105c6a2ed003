//! Downstream packets a subscriber's MRU cannot take are answered, not
//! dropped silently: ICMP "fragmentation needed" (RFC 792, type 3 code 4,
//! with the next-hop MTU of RFC 1191 §4) or ICMPv6 "packet too big"
//! (RFC 4443 §3.2), sent back toward the sender from the LNS's core
//! address. Built in place over the refused packet, whose head becomes the
//! quoted part.

use super::classify::ToSubscriber;
use super::drop::Drop;
use super::forward::NextHop;
use crate::wire::checksum;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes.
const V4_QUOTE: usize = 576 - 28;
/// RFC 4443 §2.4(c): the error must fit the IPv6 minimum MTU.
const V6_QUOTE: usize = 1280 - 48;

/// Our addresses on the core side, the source of the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Source {
    /// IPv4; without it no IPv4 error is sent.
    pub v4: Option<Ipv4Addr>,
    /// IPv6; without it no ICMPv6 error is sent.
    pub v6: Option<Ipv6Addr>,
}

/// Rewrites the refused packet at `buf[p.start..]` (an Ethernet frame
/// starting at `p.start - 14`) into the error for its sender. Returns the
/// new frame's start and length.
pub fn too_big(
    buf: &mut [u8],
    p: &ToSubscriber,
    mtu: u16,
    src: &Source,
    hop: &NextHop,
) -> Result<(usize, usize), Drop> {
    let front = p.start.checked_sub(14).ok_or(Drop::NoHeadroom)?;
    let end = p.start.checked_add(p.len).ok_or(Drop::Truncated)?;
    if end > buf.len() {
        return Err(Drop::Truncated);
    }
    let (ethertype, ip_len) = match p.dst {
        IpAddr::V4(_) => {
            let ours = src.v4.ok_or(Drop::TooBig)?;
            let pkt = &buf[p.start..end];
            let sender = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            let quote = p.len.min(V4_QUOTE);
            let total = 28 + quote;
            if p.start + total > buf.len() {
                return Err(Drop::NoHeadroom);
            }
            buf.copy_within(p.start..p.start + quote, p.start + 28);
            let h = &mut buf[p.start..p.start + total];
            h[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0]);
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[12..16].copy_from_slice(&ours.octets());
            h[16..20].copy_from_slice(&sender.octets());
            let c = !checksum::sum(&h[..20]);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            // Type 3 code 4, checksum, unused, next-hop MTU (RFC 1191 §4).
            h[20..28].copy_from_slice(&[3, 4, 0, 0, 0, 0, 0, 0]);
            h[26..28].copy_from_slice(&mtu.to_be_bytes());
            let c = !checksum::sum(&h[20..]);
            h[22..24].copy_from_slice(&c.to_be_bytes());
            ([0x08, 0x00], total)
        }
        IpAddr::V6(_) => {
            let ours = src.v6.ok_or(Drop::TooBig)?;
            let pkt = &buf[p.start..end];
            let mut s = [0u8; 16];
            s.copy_from_slice(&pkt[8..24]);
            let sender = Ipv6Addr::from(s);
            let quote = p.len.min(V6_QUOTE);
            let total = 48 + quote;
            if p.start + total > buf.len() {
                return Err(Drop::NoHeadroom);
            }
            buf.copy_within(p.start..p.start + quote, p.start + 48);
            let h = &mut buf[p.start..p.start + total];
            let plen = (8 + quote) as u16;
            h[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 58, 64]);
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[8..24].copy_from_slice(&ours.octets());
            h[24..40].copy_from_slice(&sender.octets());
            // Type 2 code 0, checksum, MTU (RFC 4443 §3.2).
            h[40..48].copy_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
            h[44..48].copy_from_slice(&u32::from(mtu).to_be_bytes());
            let ph = checksum::pseudo_header_v6(ours, sender, 58, u32::from(plen));
            let c = !checksum::combine(&[ph, checksum::sum(&h[40..])]);
            h[42..44].copy_from_slice(&c.to_be_bytes());
            ([0x86, 0xdd], total)
        }
    };
    let eth = &mut buf[front..p.start];
    eth[..6].copy_from_slice(&hop.dst_mac);
    eth[6..12].copy_from_slice(&hop.src_mac);
    eth[12..14].copy_from_slice(&ethertype);
    Ok((front, 14 + ip_len))
}

#[cfg(test)]
mod tests {
    use super::super::classify::from_core;
    use super::*;
    use crate::wire::{Ipv4Packet, Ipv6Packet};

    fn hop() -> NextHop {
        NextHop {
            dst_mac: [2, 0, 0, 0, 0xc0, 0x12],
            src_mac: [2, 0, 0, 0, 0xc0, 0x01],
        }
    }

    const OURS: Source = Source {
        v4: Some(Ipv4Addr::new(192, 0, 2, 254)),
        v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe)),
    };

    #[test]
    fn ipv4_fragmentation_needed() {
        let mut f = vec![0u8; 2048];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = [
            0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 17, 0, 0, 203, 0, 113, 9, 100, 64, 0, 10,
        ];
        f[14..34].copy_from_slice(&ip);
        let c = !checksum::sum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.truncate(2048);
        let p = from_core(&f[..14 + 1500]).unwrap();
        let original: Vec<u8> = f[14..14 + 548].to_vec();
        let (s, n) = too_big(&mut f, &p, 1492, &OURS, &hop()).unwrap();
        assert_eq!((s, n), (0, 14 + 576));
        assert_eq!(&f[..12], &[2, 0, 0, 0, 0xc0, 0x12, 2, 0, 0, 0, 0xc0, 0x01]);
        let r = Ipv4Packet::new_checked(&f[14..14 + 576]).unwrap();
        assert!(r.verify_checksum());
        assert_eq!(r.src_addr(), OURS.v4.unwrap());
        assert_eq!(r.dst_addr(), Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(&r.payload()[..2], &[3, 4]);
        assert_eq!(checksum::sum(r.payload()), 0xffff);
        assert_eq!(&r.payload()[6..8], &1492u16.to_be_bytes());
        assert_eq!(&r.payload()[8..], &original[..]);
    }

    #[test]
    fn ipv6_packet_too_big_fits_the_minimum_mtu() {
        let mut f = vec![0u8; 2048];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[18..20].copy_from_slice(&1460u16.to_be_bytes());
        f[20] = 17;
        f[21] = 64;
        f[22..38].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1).octets());
        f[38..54].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2).octets());
        let p = from_core(&f[..14 + 1500]).unwrap();
        let (s, n) = too_big(&mut f, &p, 1400, &OURS, &hop()).unwrap();
        assert_eq!((s, n), (0, 14 + 1280));
        let r = Ipv6Packet::new_checked(&f[14..14 + 1280]).unwrap();
        assert_eq!(r.dst_addr(), Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1));
        let icmp = &f[54..14 + 1280];
        assert_eq!((icmp[0], icmp[1]), (2, 0));
        assert_eq!(&icmp[4..8], &1400u32.to_be_bytes());
        let ph = checksum::pseudo_header_v6(OURS.v6.unwrap(), r.dst_addr(), 58, 1240);
        assert_eq!(checksum::combine(&[ph, checksum::sum(icmp)]), 0xffff);
    }

    #[test]
    fn no_source_address_means_no_error() {
        let mut f = vec![0u8; 256];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&100u16.to_be_bytes());
        let p = from_core(&f[..114]).unwrap();
        assert_eq!(
            too_big(&mut f, &p, 64, &Source::default(), &hop()),
            Err(Drop::TooBig)
        );
    }
}
