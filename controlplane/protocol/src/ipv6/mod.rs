//! IPv6 on a subscriber's PPP link, as its router (DESIGN §2.2, dual
//! stack): Neighbor Discovery's router side ([`nd`]) and when to advertise
//! ([`ra`]). What the link carries once IPv6CP is open (RFC 5072 §3) is
//! the data plane's, except the packets addressed to us as the link's
//! router, which lnsd receives and this module reads.
//!
//! Sans-IO, like the rest of the library: packets in as bytes, packets
//! out as bytes, `now` passed in.

pub mod dhcp;
pub mod nd;
pub mod ra;

use lns_dataplane::wire::checksum;
use lns_dataplane::wire::ipv6::Ipv6Repr;
use std::net::Ipv6Addr;

/// The ICMPv6 Next Header value (RFC 4443 §1).
pub const ICMPV6: u8 = 58;
/// The all-nodes link-local multicast address (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers link-local multicast address (RFC 4291 §2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// The link-local address made of an IPv6CP interface identifier
/// (RFC 5072 §5: fe80::/64 and the identifier).
pub fn link_local(id: [u8; 8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&[0xfe, 0x80]);
    a[8..].copy_from_slice(&id);
    Ipv6Addr::from(a)
}

/// An IPv6 packet carrying ICMPv6 message `msg` (its checksum field, at
/// octets 2 and 3, is filled in: RFC 4443 §2.3 over the RFC 8200 §8.1
/// pseudo-header).
pub fn icmpv6_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, mut msg: Vec<u8>) -> Vec<u8> {
    msg[2..4].fill(0);
    let sum = !checksum::fold(checksum::accumulate(
        u32::from(checksum::pseudo_header_v6(
            src,
            dst,
            ICMPV6,
            msg.len() as u32,
        )),
        &msg,
    ));
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let repr = Ipv6Repr {
        src,
        dst,
        next_header: ICMPV6,
        payload_len: msg.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut p = vec![0u8; Ipv6Repr::HEADER_LEN];
    // A message that fits a PPP frame fits the header's 16-bit length.
    let _ = repr.emit(&mut p);
    p.extend_from_slice(&msg);
    p
}

/// Whether ICMPv6 message `msg` between `src` and `dst` sums right.
pub(crate) fn checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> bool {
    let ph = checksum::pseudo_header_v6(src, dst, ICMPV6, msg.len() as u32);
    checksum::fold(checksum::accumulate(u32::from(ph), msg)) == 0xffff
}

/// Mends the checksum of an ICMPv6 packet whose message was changed.
#[cfg(test)]
pub(crate) fn fix_checksum(packet: &mut Vec<u8>) {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    let hop = packet[7];
    *packet = icmpv6_packet(src, dst, hop, packet[40..].to_vec());
}
