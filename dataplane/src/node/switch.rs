//! Multi-hop switching (DESIGN §2.1): a data message received on one leg
//! of a switched session leaves on the other leg, its PPP frame untouched.
//! Each leg is an ordinary L2TP session (RFC 2661 §5.3: the sender puts
//! the Tunnel ID and Session ID its peer assigned in every message), so
//! the gateway is the LNS of leg A and the LAC of leg B at once.
//!
//! What is guaranteed: the outgoing frame is the other leg's headers from
//! its template ([`TemplateRef`]) up to the end of the L2TP data header
//! ([`TemplateRef::header_len`]: Ethernet, optional 802.1Q tag, IPv4, UDP, the
//! L2TP header with the other leg's tunnel and session ids, and Ns when
//! that leg sequences) followed by the received PPP frame byte for byte
//! from its first byte after the received L2TP header: FF 03 present or
//! not, the protocol field compressed or not (RFC 1662 §3.2, RFC 1661
//! §6.5), whatever protocol (LCP, authentication, NCPs, IP alike: the PPP
//! peers at each end negotiate with each other, not with us). The
//! received headers go whole: Ethernet and VLAN tags, outer IP options,
//! the L and O bits with Length and offset padding, and Ns/Nr (RFC 2661
//! §5.4: each leg has its own sequence; the outgoing leg's Ns comes from
//! the slot's Ns word, taken by the worker once the frame is sure to
//! leave). Only the P bit (RFC 2661 §3.1: "preferential treatment", e.g.
//! LCP echoes) is carried over to the outgoing header. The IPv4 total
//! length, header checksum and UDP length are patched; UDP carries no
//! checksum (RFC 768, as on every frame we send). No allocation, no copy
//! of the payload: the new headers are written into the buffer's headroom
//! right in front of the PPP frame.
//!
//! What is refused, each by name: no room in front of the PPP frame for
//! the new headers (`switch_no_room`), a frame that would exceed the
//! egress interface's MTU (`switch_too_big`, when the MTU is known; see
//! [`fits`]), an empty PPP frame (`truncated`). The worker checks the
//! source (`switch_wrong_peer`) and resolves the next hop before calling.
//!
//! Who calls it: the worker pipeline (`worker::pipeline`), for a data
//! message whose (tunnel, session) finds a switched slot, received on
//! either interface.

use super::drop::Drop;
use super::encap::TemplateRef;

/// Whether a PPP frame of `ppp_len` bytes, behind `t`'s headers, fits an
/// interface whose MTU is `mtu` (`None`: not known, anything goes). Like
/// the encapsulation limit (`classify::limit`), the MTU holds everything
/// after the Ethernet header, 802.1Q tag included.
#[inline]
pub fn fits<'t>(t: impl Into<TemplateRef<'t>>, ppp_len: usize, mtu: Option<u16>) -> bool {
    let t = t.into();
    mtu.is_none_or(|m| t.header_len() - 14 + ppp_len <= usize::from(m))
}

/// Rewrites in place: the PPP frame at `buf[ppp..ppp + ppp_len]` gets
/// `t`'s headers (without its PPP bytes) written in front of it, Ns 0
/// (patch it with [`TemplateRef::patch_ns`] once the frame leaves), and the
/// P bit when `priority`. Returns where the frame now starts and its
/// length.
#[inline]
pub fn rewrite<'t>(
    t: impl Into<TemplateRef<'t>>,
    buf: &mut [u8],
    ppp: usize,
    ppp_len: usize,
    priority: bool,
) -> Result<(usize, usize), Drop> {
    let t = t.into();
    if ppp_len == 0 {
        return Err(Drop::Truncated);
    }
    let end = ppp.checked_add(ppp_len).ok_or(Drop::Truncated)?;
    if end > buf.len() {
        return Err(Drop::Truncated);
    }
    let hl = t.header_len();
    let front = ppp.checked_sub(hl).ok_or(Drop::SwitchNoRoom)?;
    let frame = &mut buf[front..end];
    t.write_outer(frame, hl, 0).map_err(|e| match e {
        Drop::TooBig => Drop::SwitchTooBig,
        e => e,
    })?;
    if priority {
        frame[t.l2tp_at()] |= 0x01;
    }
    t.seal(frame);
    Ok((front, end - front))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::encap::{Outer, Template};
    use crate::wire::checksum;
    use std::net::Ipv4Addr;

    fn template(vlan: Option<u16>, sequencing: bool) -> Template {
        Template::new(&Outer {
            dst_mac: [2, 0, 0, 0, 0, 0xb],
            src_mac: [2, 0, 0, 0, 0, 0xa],
            vlan,
            src: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
            src_port: 1701,
            dst: std::net::IpAddr::from(Ipv4Addr::new(203, 0, 113, 50)),
            dst_port: 1702,
            tunnel: 0x0b0b,
            session: 0x0c0c,
            sequencing,
        })
    }

    /// The PPP frame: LCP Echo-Request, address/control compressed.
    const LCP: [u8; 10] = [0xc0, 0x21, 9, 1, 0, 8, 0xde, 0xad, 0xbe, 0xef];

    #[test]
    fn the_other_legs_headers_then_the_ppp_frame_untouched() {
        let t = template(None, false);
        let mut buf = vec![0xeeu8; 256];
        buf[200..210].copy_from_slice(&LCP);
        let (s, n) = rewrite(&t, &mut buf, 200, 10, false).unwrap();
        let mut want = vec![2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00];
        let mut ip = vec![
            0x45,
            0,
            0,
            20 + 8 + 6 + 10,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
            192,
            0,
            2,
            1,
            203,
            0,
            113,
            50,
        ];
        let c = !checksum::sum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        want.extend(ip);
        want.extend([0x06, 0xa5, 0x06, 0xa6, 0, 24, 0, 0]);
        want.extend([0x00, 0x02, 0x0b, 0x0b, 0x0c, 0x0c]);
        want.extend(LCP);
        assert_eq!(&buf[s..s + n], &want[..]);
        assert_eq!(s + n, 210);
    }

    #[test]
    fn sequencing_vlan_and_priority() {
        let t = template(Some(5), true);
        let mut buf = vec![0u8; 256];
        buf[100..110].copy_from_slice(&LCP);
        let (s, n) = rewrite(&t, &mut buf, 100, 10, true).unwrap();
        t.patch_ns(&mut buf[s..s + n], 0x1234);
        let f = &buf[s..s + n];
        assert_eq!(&f[12..16], &[0x81, 0x00, 0, 5]);
        let l2tp = &f[18 + 28..];
        // S and P set, version 2; ids; Ns, Nr 0; then the PPP frame.
        assert_eq!(
            &l2tp[..10],
            &[0x09, 0x02, 0x0b, 0x0b, 0x0c, 0x0c, 0x12, 0x34, 0, 0]
        );
        assert_eq!(&l2tp[10..], &LCP);
        assert_eq!(checksum::sum(&f[18..38]), 0xffff);
    }

    #[test]
    fn refusals_are_named() {
        let t = template(None, true);
        let mut buf = vec![0u8; 128];
        // 52 bytes of headers do not fit in front of byte 40.
        assert_eq!(
            rewrite(&t, &mut buf, 40, 10, false),
            Err(Drop::SwitchNoRoom)
        );
        assert_eq!(rewrite(&t, &mut buf, 100, 40, false), Err(Drop::Truncated));
        assert_eq!(rewrite(&t, &mut buf, 100, 0, false), Err(Drop::Truncated));
        assert!(rewrite(&t, &mut buf, 52, 10, false).is_ok());
    }

    #[test]
    fn the_mtu_counts_everything_after_ethernet() {
        let t = template(None, false);
        // IPv4 20 + UDP 8 + L2TP 6 + 1,466 = 1,500.
        assert!(fits(&t, 1466, Some(1500)));
        assert!(!fits(&t, 1467, Some(1500)));
        assert!(fits(&t, 60000, None));
        let t = template(Some(1), true);
        assert!(fits(&t, 1458, Some(1500)));
        assert!(!fits(&t, 1459, Some(1500)));
    }
}
