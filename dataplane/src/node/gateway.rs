//! Upstream, for the subscriber's PPP peer address (IPCP's, lnsd's
//! `ppp.gateway`): the LNS *is* that host, so it answers ICMP Echo (RFC
//! 792, "Echo or Echo Reply Message"; RFC 1122 §3.2.2.6: every host
//! implements an echo server). Many CPEs judge their line by pinging it.
//! Nothing else addressed to it is the core's: the caller drops it under
//! `to_gateway`.
//!
//! The reply is built in place over the request, so it goes back into the
//! subscriber's tunnel from the same frame, like a hairpinned packet.

use super::drop::Drop;
use crate::wire::checksum;
use std::net::Ipv4Addr;

/// RFC 792 type 8 (echo), code 0, as the first ICMP word.
const ECHO: u16 = 0x0800;
/// Type 0 (echo reply), code 0.
const ECHO_REPLY: u16 = 0x0000;

/// Turns the echo request at `pkt` (an IPv4 packet addressed to `gateway`,
/// link padding allowed after it) into the reply from `gateway`. Returns
/// the reply's length. Anything but a well-formed, unfragmented echo
/// request without IP options is refused as [`Drop::ToGateway`].
///
/// Options are refused rather than reflected: RFC 1122 §3.2.2.6 wants
/// Record Route and Timestamp updated and a source route reversed, which
/// is a per-option job no CPE's line check needs.
pub fn echo_reply(pkt: &mut [u8], gateway: Ipv4Addr) -> Result<usize, Drop> {
    let h = pkt.get(..20).ok_or(Drop::ToGateway)?;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    if h[0] != 0x45 || h[9] != 1 || fragment || h[16..20] != gateway.octets() {
        return Err(Drop::ToGateway);
    }
    // The ICMP message: its header at least, and its checksum right (RFC
    // 792: computed over the whole message), or there is nothing to echo.
    let icmp = pkt.get(20..total).ok_or(Drop::ToGateway)?;
    if icmp.len() < 8
        || u16::from_be_bytes([icmp[0], icmp[1]]) != ECHO
        || checksum::sum(icmp) != 0xffff
    {
        return Err(Drop::ToGateway);
    }
    let sender = [pkt[12], pkt[13], pkt[14], pkt[15]];
    // RFC 792: "the source and destination addresses are simply reversed,
    // the type code changed to 0, and the checksum recomputed". A fresh
    // TTL: this is a new datagram. DF clear, as Linux's replies, so a
    // reply larger than the subscriber's MRU is fragmented, not lost.
    let h = &mut pkt[..20];
    h[6..8].copy_from_slice(&[0, 0]);
    h[8] = 64;
    h[12..16].copy_from_slice(&gateway.octets());
    h[16..20].copy_from_slice(&sender);
    h[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut pkt[20..total];
    let c = u16::from_be_bytes([icmp[2], icmp[3]]);
    icmp[..2].copy_from_slice(&ECHO_REPLY.to_be_bytes());
    // Only the type word changed: RFC 1624's update, not a pass over the
    // data.
    let c = checksum::update(c, ECHO, ECHO_REPLY);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv4Packet;

    const GW: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
    const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);

    /// An echo request from the subscriber with `data` bytes of payload.
    fn request(data: usize) -> Vec<u8> {
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 7];
        icmp.extend((0..data).map(|i| i as u8));
        let c = !checksum::sum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = vec![0x45, 0, 0, 0, 0xab, 0xcd, 0x40, 0, 61, 1, 0, 0];
        p[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
        p.extend(SUB.octets());
        p.extend(GW.octets());
        let c = !checksum::sum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend(icmp);
        p
    }

    #[test]
    fn byte_exact_reply() {
        for data in [0usize, 1, 56, 1000] {
            let req = request(data);
            let mut pkt = req.clone();
            // Link padding after the datagram is not part of it.
            pkt.extend([0xee; 3]);
            let n = echo_reply(&mut pkt, GW).unwrap();
            assert_eq!(n, req.len());
            let mut want = vec![0x45, 0, 0, 0, 0xab, 0xcd, 0, 0, 64, 1, 0, 0];
            want[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            want.extend(GW.octets());
            want.extend(SUB.octets());
            let c = !checksum::sum(&want);
            want[10..12].copy_from_slice(&c.to_be_bytes());
            let mut icmp = req[20..].to_vec();
            icmp[0] = 0;
            icmp[2..4].copy_from_slice(&[0, 0]);
            let c = !checksum::sum(&icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            want.extend(icmp);
            assert_eq!(&pkt[..n], &want[..], "{data} bytes of data");
            assert!(
                Ipv4Packet::new_checked(&pkt[..n])
                    .unwrap()
                    .verify_checksum()
            );
        }
    }

    #[test]
    fn anything_but_a_clean_echo_request_is_refused() {
        let refused = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = request(8);
            f(&mut p);
            echo_reply(&mut p, GW)
        };
        // UDP to the gateway.
        assert_eq!(refused(&|p| p[9] = 17), Err(Drop::ToGateway));
        // An echo reply, a timestamp request.
        assert_eq!(refused(&|p| p[20] = 0), Err(Drop::ToGateway));
        assert_eq!(refused(&|p| p[20] = 13), Err(Drop::ToGateway));
        // Code other than 0.
        assert_eq!(refused(&|p| p[21] = 1), Err(Drop::ToGateway));
        // A corrupted message.
        assert_eq!(refused(&|p| p[30] ^= 1), Err(Drop::ToGateway));
        // A fragment (MF, or an offset).
        assert_eq!(refused(&|p| p[6] = 0x20), Err(Drop::ToGateway));
        assert_eq!(refused(&|p| p[7] = 1), Err(Drop::ToGateway));
        // IP options.
        assert_eq!(refused(&|p| p[0] = 0x46), Err(Drop::ToGateway));
        // Not for the gateway.
        assert_eq!(refused(&|p| p[19] = 2), Err(Drop::ToGateway));
        // Shorter than it says, or than an ICMP header.
        assert_eq!(refused(&|p| p.truncate(30)), Err(Drop::ToGateway));
        assert_eq!(
            refused(&|p| {
                p.truncate(24);
                p[2..4].copy_from_slice(&24u16.to_be_bytes());
            }),
            Err(Drop::ToGateway)
        );
        let mut p = request(8);
        for n in 0..p.len() {
            assert!(echo_reply(&mut p[..n], GW).is_err());
        }
    }
}
