//! Upstream: take a LAC's L2TP data frame apart down to the subscriber's IP
//! packet (RFC 2661 §3.1 and §5.3, RFC 1661 §2 and RFC 1662 §3 for PPP).
//!
//! [`decap`] reads Ethernet (with up to two VLAN tags), outer IPv4 or IPv6,
//! UDP to the LNS port, the L2TPv2 data header (every L/S/O combination,
//! offset padding skipped, Ns/Nr read), and PPP (FF 03 optional, the
//! protocol field compressed or not). It returns where the inner packet is
//! and what the session lookup needs; it writes nothing and never panics.
//! Anything else is a named [`Drop`]: control messages and PPP control
//! frames are not the data plane's (the XDP program passes them to lnsd).
//!
//! It is two steps, which the worker calls apart: [`data_message`] stops
//! at the L2TP header (what a switched session needs: its PPP frame,
//! whatever it carries, goes on untouched, `node::switch`), and
//! [`ip_payload`] reads the PPP header of a terminated session's frame.

use super::drop::Drop;
use crate::wire::checksum;
use crate::wire::{
    EtherType, EthernetFrame, Ipv4Packet, Ipv6Packet, L2tpKind, L2tpPacket, PppFrame, UdpPacket,
};
use std::net::IpAddr;

/// The inner packet's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (PPP protocol 0x0021).
    V4,
    /// IPv6 (PPP protocol 0x0057).
    V6,
}

/// What a data frame carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapped {
    /// Our tunnel id (the header's).
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The LAC's address and port (to check against the session).
    pub peer: IpAddr,
    /// See `peer`.
    pub peer_port: u16,
    /// Ns and Nr, when the S bit was set.
    pub seq: Option<(u16, u16)>,
    /// Offset of the inner IP packet in the frame.
    pub inner: usize,
    /// Its length.
    pub inner_len: usize,
    /// Its family.
    pub family: Family,
}

/// An L2TP data message to the LNS port, its PPP frame not yet read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataMessage {
    /// Our tunnel id (the header's).
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The sender's address and port.
    pub peer: IpAddr,
    /// See `peer`.
    pub peer_port: u16,
    /// Ns and Nr, when the S bit was set.
    pub seq: Option<(u16, u16)>,
    /// The P bit (RFC 2661 §3.1: treat preferentially, e.g. LCP echoes).
    pub priority: bool,
    /// Offset of the PPP frame in the frame: the first byte after the
    /// L2TP header, Ns/Nr and offset padding included.
    pub ppp: usize,
    /// Its length: to the L2TP Length when the L bit is set, else to the
    /// end of the UDP payload (never into Ethernet padding).
    pub ppp_len: usize,
}

/// Decapsulates a frame that arrived for `lns_port`: [`data_message`]
/// then [`ip_payload`].
pub fn decap(frame: &[u8], lns_port: u16) -> Result<Decapped, Drop> {
    let m = data_message(frame, lns_port)?;
    ip_payload(frame, &m)
}

/// Reads a frame down to its L2TP data header.
#[inline]
pub fn data_message(frame: &[u8], lns_port: u16) -> Result<DataMessage, Drop> {
    match fast_v4(frame, lns_port) {
        Some(m) => Ok(m),
        None => data_message_any(frame, lns_port),
    }
}

/// The shape nearly every LAC sends, read at fixed offsets: Ethernet
/// untagged or with one 802.1Q tag (a LAC on a VLAN of the access
/// interface), IPv4 without options or fragmentation, UDP to `lns_port`,
/// an L2TP data header without offset padding (L and S either way).
/// `None` for anything else, or anything the general reader might
/// refuse: it then reads the frame and names the drop. What this accepts,
/// the general reader reads the same
/// (`fast_path_reads_what_the_general_one_reads`); it costs a tenth of
/// the instructions (issue 18, item 1).
#[inline(always)]
fn fast_v4(frame: &[u8], lns_port: u16) -> Option<DataMessage> {
    // Untagged first, at the offsets it always had; then one tag.
    if let Some(m) = fast_v4_at::<0>(frame, lns_port) {
        return Some(m);
    }
    if frame.get(12..14)? != [0x81, 0x00] {
        return None;
    }
    fast_v4_at::<4>(frame, lns_port)
}

/// [`fast_v4`] for a frame whose Ethernet header is `TAG` octets longer
/// than an untagged one's (the tag checked by the caller): the headers
/// are read through a window of the untagged offsets starting `TAG` in,
/// so an untagged frame is read at constant offsets as before, and a
/// tagged one's IPv4 ethertype sits where an untagged one's does.
#[inline(always)]
fn fast_v4_at<const TAG: usize>(frame: &[u8], lns_port: u16) -> Option<DataMessage> {
    const ETH: usize = 14;
    const UDP: usize = ETH + 20;
    const L2TP: usize = UDP + 8;
    let u16_at = |at: usize| -> Option<u16> {
        frame
            .get(TAG + at..TAG + at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let h: &[u8; L2TP + 6] = frame.get(TAG..TAG + L2TP + 6)?.try_into().ok()?;
    // IPv4, IHL 5, not a fragment (no MF, offset 0), UDP.
    if h[12..14] != [0x08, 0x00]
        || h[14] != 0x45
        || u16::from_be_bytes([h[20], h[21]]) & 0x3fff != 0
        || h[23] != 17
    {
        return None;
    }
    // Total Length covers the IP and UDP headers and fits the frame;
    // the UDP Length covers its header and fits the IP payload.
    let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let udp_len = usize::from(u16::from_be_bytes([h[38], h[39]]));
    if total < 28 || TAG + ETH + total > frame.len() || udp_len < 8 || udp_len > total - 20 {
        return None;
    }
    if u16::from_be_bytes([h[36], h[37]]) != lns_port {
        return None;
    }
    let flags = u16::from_be_bytes([h[L2TP], h[L2TP + 1]]);
    // Data (T clear), version 2, no offset padding.
    if flags & 0x8000 != 0 || flags & 0x000f != 2 || flags & 0x0200 != 0 {
        return None;
    }
    let with_length = flags & 0x4000 != 0;
    let with_seq = flags & 0x0800 != 0;
    let header = 6 + if with_length { 2 } else { 0 } + if with_seq { 4 } else { 0 };
    let avail = udp_len - 8;
    if avail < header {
        return None;
    }
    let (end, ids) = if with_length {
        let len = usize::from(u16_at(L2TP + 2)?);
        if len < header || len > avail {
            return None;
        }
        (len, L2TP + 4)
    } else {
        (avail, L2TP + 2)
    };
    let seq = if with_seq {
        Some((u16_at(ids + 4)?, u16_at(ids + 6)?))
    } else {
        None
    };
    Some(DataMessage {
        tunnel: u16_at(ids)?,
        session: u16_at(ids + 2)?,
        peer: IpAddr::V4(std::net::Ipv4Addr::new(h[26], h[27], h[28], h[29])),
        peer_port: u16::from_be_bytes([h[34], h[35]]),
        seq,
        priority: flags & 0x0100 != 0,
        ppp: TAG + L2TP + header,
        ppp_len: end - header,
    })
}

/// What the upstream express lane (`worker::pipeline`) needs of a LAC's
/// frame carrying an IPv4 packet: [`decap`]'s answer for the common
/// shape, lean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Express {
    /// Our tunnel id.
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The LAC's IPv4 address.
    pub peer: [u8; 4],
    /// Offset of the inner IPv4 packet in the frame.
    pub inner: usize,
    /// Its length (the PPP payload's, as [`Decapped::inner_len`]).
    pub inner_len: usize,
}

/// The frame's bytes [`express_v4`] reads, from the Ethernet header on:
/// the longest headers it takes (L2TP with Length and Ns/Nr, PPP with FF
/// 03 and a two-octet protocol) and the inner IPv4 header. A frame
/// shorter than that (an inner packet under 26 octets) takes the general
/// reader.
const EXPRESS_SPAN: usize = 14 + 20 + 8 + 12 + 4 + 20;

/// The upstream express lane's reader: the frames [`fast_v4`] takes whose
/// PPP frame carries IPv4 (protocol 0x0021, FF 03 and the protocol field
/// compressed or not) with a header of 20 octets (version 4, IHL 5)
/// whose Total Length fits the PPP payload. `None` for anything else,
/// which the general readers take. Where it answers, [`decap`] answers the
/// same (`the_express_reader_reads_what_decap_reads`); what it costs is a
/// few bounds checks and constant offsets, no intermediate answers.
#[inline(always)]
pub fn express_v4(frame: &[u8], lns_port: u16) -> Option<Express> {
    match frame.get(12..14)? {
        [0x08, 0x00] => express_at::<0>(frame, lns_port),
        [0x81, 0x00] => express_at::<4>(frame, lns_port),
        _ => None,
    }
}

/// [`express_v4`] through the window of [`fast_v4_at`].
#[inline(always)]
fn express_at<const TAG: usize>(frame: &[u8], lns_port: u16) -> Option<Express> {
    const L2TP: usize = 14 + 20 + 8;
    let h: &[u8; EXPRESS_SPAN] = frame.get(TAG..TAG + EXPRESS_SPAN)?.try_into().ok()?;
    let u16_at = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    // As `fast_v4_at`: IPv4 without options or fragmentation, UDP to us,
    // lengths that agree with each other and the frame.
    if u16_at(12) != 0x0800 || h[14] != 0x45 || u16_at(20) & 0x3fff != 0 || h[23] != 17 {
        return None;
    }
    let total = usize::from(u16_at(16));
    let udp_len = usize::from(u16_at(38));
    if total < 28 || TAG + 14 + total > frame.len() || udp_len < 8 || udp_len > total - 20 {
        return None;
    }
    if u16_at(36) != lns_port {
        return None;
    }
    // Either reader's answer: the ids at `ids`, an IPv4 header of 20
    // octets at `inner` (`inner_len` octets to the PPP frame's end, at
    // least 20), whose Total Length fits them.
    let express = |ids: usize, inner: usize, inner_len: usize| {
        let ip_total = usize::from(u16_at(inner + 2));
        if h[inner] != 0x45 || ip_total < 20 || ip_total > inner_len {
            return None;
        }
        Some(Express {
            tunnel: u16_at(ids),
            session: u16_at(ids + 2),
            peer: [h[26], h[27], h[28], h[29]],
            inner: TAG + inner,
            inner_len,
        })
    };
    let flags = u16_at(L2TP);
    // The shape Linux's L2TP sends (no Length; no Ns/Nr, sequencing
    // being off by default; FF 03, which the kernel puts before every
    // PPP frame it tunnels) around a protocol field left uncompressed:
    // one compare for the L2TP flags and one for the PPP header, and the
    // inner packet at a constant offset, which the lane's reads and writes
    // of it then use too (some 40 instructions fewer a packet than the
    // reader below, which takes every shape; `stages`). What it takes,
    // the reader below takes the same way.
    if flags == 0x0002
        && u32::from_be_bytes([h[L2TP + 6], h[L2TP + 7], h[L2TP + 8], h[L2TP + 9]]) == 0xff03_0021
    {
        const INNER: usize = L2TP + 6 + 4;
        // The UDP payload holds the L2TP and PPP headers and an IPv4
        // header of 20 octets.
        if udp_len < 8 + 10 + 20 {
            return None;
        }
        return express(L2TP + 2, INNER, udp_len - 8 - 10);
    }
    if flags & 0x8000 != 0 || flags & 0x000f != 2 || flags & 0x0200 != 0 {
        return None;
    }
    let with_length = flags & 0x4000 != 0;
    let header = 6 + if with_length { 2 } else { 0 } + if flags & 0x0800 != 0 { 4 } else { 0 };
    let avail = udp_len - 8;
    let (end, ids) = if with_length {
        (usize::from(u16_at(L2TP + 2)), L2TP + 4)
    } else {
        (avail, L2TP + 2)
    };
    if end < header || end > avail {
        return None;
    }
    let ppp = L2TP + header;
    let ppp_len = end - header;
    let hdr = ipv4_ppp_header([h[ppp], h[ppp + 1], h[ppp + 2], h[ppp + 3]])?;
    // The PPP header within the PPP frame, and room for an IPv4 header
    // of 20 octets after it.
    if hdr + 20 > ppp_len {
        return None;
    }
    express(ids, ppp + hdr, ppp_len - hdr)
}

/// The length (1 to 4 octets) of the PPP header at the start of `p` if
/// it announces IPv4 (RFC 1661 §2, RFC 1662 §3): FF 03 optional, then
/// protocol 0x0021 in two octets or, compressed, one. `None` for any
/// other protocol. Read by the express reader and by the worker's peek.
#[inline(always)]
pub fn ipv4_ppp_header(p: [u8; 4]) -> Option<usize> {
    // As one word, past FF 03 if present: a branch or two, not four.
    let w = u32::from_be_bytes(p);
    let (w, ac) = if w >> 16 == 0xff03 {
        (w << 16, 2)
    } else {
        (w, 0)
    };
    if w >> 24 == 0x21 {
        Some(ac + 1)
    } else if w >> 16 == 0x0021 {
        Some(ac + 2)
    } else {
        None
    }
}

/// [`data_message`] for any frame: every shape the module docs list.
fn data_message_any(frame: &[u8], lns_port: u16) -> Result<DataMessage, Drop> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Drop::Truncated)?;
    let l3 = eth.header_len();
    let (peer, l4, l4_len) = match eth.ethertype() {
        EtherType::IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| Drop::BadIpHeader)?;
            if ip.more_frags() || ip.frag_offset() != 0 {
                return Err(Drop::Fragment);
            }
            if ip.protocol() != 17 {
                return Err(Drop::NotL2tpUdp);
            }
            let hl = ip.header_len();
            let len = usize::from(ip.total_len())
                .checked_sub(hl)
                .ok_or(Drop::BadIpHeader)?;
            (IpAddr::V4(ip.src_addr()), l3 + hl, len)
        }
        EtherType::IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).map_err(|_| Drop::BadIpHeader)?;
            // Extension headers are not expected between a LAC and us.
            if ip.next_header() != 17 {
                return Err(Drop::NotL2tpUdp);
            }
            let len = usize::from(ip.payload_len());
            // RFC 8200 §8.1: the checksum is required over IPv6, and a
            // datagram with a wrong or zero one is discarded.
            let seg = frame.get(l3 + 40..l3 + 40 + len).ok_or(Drop::Truncated)?;
            if seg.len() < 8 || seg[6..8] == [0, 0] {
                return Err(Drop::BadUdpChecksum);
            }
            let addrs = frame.get(l3 + 8..l3 + 40).ok_or(Drop::Truncated)?;
            let acc = checksum::accumulate(0, addrs) + len as u32 + 17;
            if checksum::fold(checksum::accumulate(acc, seg)) != 0xffff {
                return Err(Drop::BadUdpChecksum);
            }
            (IpAddr::V6(ip.src_addr()), l3 + 40, len)
        }
        _ => return Err(Drop::NotIp),
    };
    let seg = frame.get(l4..l4 + l4_len).ok_or(Drop::Truncated)?;
    let udp = UdpPacket::new_checked(seg).map_err(|_| Drop::Truncated)?;
    if udp.dst_port() != lns_port {
        return Err(Drop::NotL2tpUdp);
    }
    let l2tp_at = l4 + 8;
    let l2tp = L2tpPacket::new_checked(udp.payload()).map_err(|_| Drop::NotL2tpData)?;
    if l2tp.kind() != L2tpKind::Data || l2tp.version() != 2 {
        return Err(Drop::NotL2tpData);
    }
    Ok(DataMessage {
        tunnel: l2tp.tunnel_id(),
        session: l2tp.session_id(),
        peer,
        peer_port: udp.src_port(),
        seq: l2tp.sequence().map(|s| (s.ns, s.nr)),
        priority: l2tp.priority(),
        ppp: l2tp_at + l2tp.header_len(),
        ppp_len: l2tp.payload().len(),
    })
}

/// Reads the PPP header of `m` (a data message of `frame`): the IPv4 or
/// IPv6 packet a terminated session carries, or `NotIpPayload` for
/// anything else (LCP, authentication, NCPs: lnsd's).
#[inline]
pub fn ip_payload(frame: &[u8], m: &DataMessage) -> Result<Decapped, Drop> {
    let bytes = frame.get(m.ppp..m.ppp + m.ppp_len).ok_or(Drop::Truncated)?;
    let ppp = PppFrame::new_checked(bytes).map_err(|_| Drop::Truncated)?;
    let family = match ppp.protocol().0 {
        0x0021 => Family::V4,
        0x0057 => Family::V6,
        _ => return Err(Drop::NotIpPayload),
    };
    let inner = m.ppp + ppp.header_len();
    let inner_len = ppp.payload().len();
    if inner_len == 0 {
        return Err(Drop::Truncated);
    }
    Ok(Decapped {
        tunnel: m.tunnel,
        session: m.session,
        peer: m.peer,
        peer_port: m.peer_port,
        seq: m.seq,
        inner,
        inner_len,
        family,
    })
}

#[cfg(test)]
mod tests {
    use super::super::encap::{Outer, Template, encap};
    use super::*;
    use std::net::Ipv4Addr;

    fn frame_via_encap(sequencing: bool, vlan: Option<u16>) -> (Vec<u8>, usize) {
        let t = Template::new(&Outer {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlan,
            src: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 7)),
            src_port: 40000,
            dst: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
            dst_port: 1701,
            tunnel: 7,
            session: 9,
            sequencing,
        });
        let mut buf = vec![0u8; 256];
        let pkt: Vec<u8> = (0..40u8).map(|i| if i == 0 { 0x45 } else { i }).collect();
        buf[128..168].copy_from_slice(&pkt);
        let (front, len) = encap(&t, &mut buf, 128, 40, 5).unwrap();
        (buf[front..front + len].to_vec(), 40)
    }

    /// The common shape takes the fixed-offset reader, with and without
    /// sequencing and the L bit, and reads as the general one does.
    #[test]
    fn the_common_shape_takes_the_fast_path() {
        for sequencing in [false, true] {
            let (f, _) = frame_via_encap(sequencing, None);
            let m = fast_v4(&f, 1701).expect("the fast path takes it");
            assert_eq!(Ok(m), data_message_any(&f, 1701));
            assert_eq!(m.seq.is_some(), sequencing);
            // The same with the L bit and a Length (as some LACs send).
            let mut l = f[..42].to_vec();
            let l2tp = &f[42..];
            let flags = u16::from_be_bytes([l2tp[0], l2tp[1]]) | 0x4000;
            l.extend_from_slice(&flags.to_be_bytes());
            l.extend_from_slice(&((l2tp.len() + 2) as u16).to_be_bytes());
            l.extend_from_slice(&l2tp[2..]);
            let grow = |at: usize, l: &mut Vec<u8>| {
                let v = u16::from_be_bytes([l[at], l[at + 1]]) + 2;
                l[at..at + 2].copy_from_slice(&v.to_be_bytes());
            };
            grow(16, &mut l); // IPv4 Total Length
            grow(38, &mut l); // UDP Length
            let ml = fast_v4(&l, 1701).expect("with the L bit too");
            assert_eq!(Ok(ml), data_message_any(&l, 1701));
            assert_eq!(
                (ml.tunnel, ml.session, ml.ppp_len),
                (m.tunnel, m.session, m.ppp_len)
            );
            // A LAC on a VLAN of the access interface: one 802.1Q tag.
            let (t, _) = frame_via_encap(sequencing, Some(100));
            let mt = fast_v4(&t, 1701).expect("a tagged frame takes it too");
            assert_eq!(Ok(mt), data_message_any(&t, 1701));
            assert_eq!(mt.ppp, m.ppp + 4);
            assert_eq!(
                (mt.tunnel, mt.session, mt.ppp_len),
                (m.tunnel, m.session, m.ppp_len)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// What the fixed-offset reader accepts, the general one reads the
        /// same; and it accepts the common shape. Frames are encap's, with
        /// and without sequencing and a VLAN tag, then bytes overwritten
        /// (headers included) and the frame cut short.
        #[test]
        fn fast_path_reads_what_the_general_one_reads(
            sequencing: bool,
            vlan: bool,
            edits in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..4),
            cut in proptest::prop_oneof![proptest::strategy::Just(0usize), 0usize..90],
            port in proptest::prop_oneof![proptest::strategy::Just(1701u16), 1u16..3000],
        ) {
            let (mut f, _) = frame_via_encap(sequencing, vlan.then_some(5));
            // Untagged or one 802.1Q tag: both the common shape.
            let pristine = edits.is_empty() && cut == 0 && port == 1701;
            for (at, b) in edits {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            f.truncate(f.len().saturating_sub(cut));
            let general = data_message_any(&f, port);
            match fast_v4(&f, port) {
                Some(m) => proptest::prop_assert_eq!(Ok(m), general),
                None => proptest::prop_assert!(!pristine, "the common shape fell back"),
            }
            proptest::prop_assert_eq!(data_message(&f, port), general);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// What the express reader takes, `decap` reads the same; and it
        /// takes the common shape: every L/S combination, with and
        /// without a tag, FF 03 and the protocol field compressed or not.
        #[test]
        fn the_express_reader_reads_what_decap_reads(
            sequencing: bool,
            vlan: bool,
            length_bit: bool,
            ppp_form in 0usize..4,
            edits in proptest::collection::vec((0usize..100, proptest::num::u8::ANY), 0..4),
            cut in proptest::prop_oneof![proptest::strategy::Just(0usize), 0usize..90],
            port in proptest::prop_oneof![proptest::strategy::Just(1701u16), 1u16..3000],
        ) {
            let mut f = express_frame(sequencing, vlan, length_bit, ppp_form);
            let pristine = edits.is_empty() && cut == 0 && port == 1701;
            for (at, b) in edits {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            f.truncate(f.len().saturating_sub(cut));
            match express_v4(&f, port) {
                Some(x) => {
                    let d = decap(&f, port);
                    proptest::prop_assert!(d.is_ok(), "{:?}", d);
                    let d = d.unwrap();
                    proptest::prop_assert_eq!(d.family, Family::V4);
                    proptest::prop_assert_eq!((x.tunnel, x.session), (d.tunnel, d.session));
                    proptest::prop_assert_eq!(IpAddr::from(x.peer), d.peer);
                    proptest::prop_assert_eq!((x.inner, x.inner_len), (d.inner, d.inner_len));
                }
                None => proptest::prop_assert!(!pristine, "the common shape fell back"),
            }
        }
    }

    /// An encapsulated 40-octet IPv4 packet as `frame_via_encap` makes it,
    /// then with the L bit and the PPP header in form `ppp_form` (0: FF 03
    /// 00 21; 1: 00 21; 2: FF 03 21; 3: 21), the lengths made to agree.
    fn express_frame(sequencing: bool, vlan: bool, length_bit: bool, ppp_form: usize) -> Vec<u8> {
        let (f, n) = frame_via_encap(sequencing, vlan.then_some(7));
        let l2tp = if vlan { 46 } else { 42 };
        let header = if sequencing { 10 } else { 6 };
        let mut flags = u16::from_be_bytes([f[l2tp], f[l2tp + 1]]);
        let mut out = f[..l2tp].to_vec();
        let mut rest = Vec::new();
        if length_bit {
            flags |= 0x4000;
        }
        rest.extend_from_slice(&flags.to_be_bytes());
        if length_bit {
            rest.extend_from_slice(&[0, 0]);
        }
        rest.extend_from_slice(&f[l2tp + 2..l2tp + header]);
        let ppp: &[u8] = match ppp_form {
            0 => &[0xff, 0x03, 0x00, 0x21],
            1 => &[0x00, 0x21],
            2 => &[0xff, 0x03, 0x21],
            _ => &[0x21],
        };
        rest.extend_from_slice(ppp);
        let mut inner = f[f.len() - n..].to_vec();
        inner[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        rest.extend_from_slice(&inner);
        if length_bit {
            let l = rest.len() as u16;
            rest[2..4].copy_from_slice(&l.to_be_bytes());
        }
        out.extend_from_slice(&rest);
        let ip = l2tp - 28;
        let total = (out.len() - ip) as u16;
        out[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        out[ip + 24..ip + 26].copy_from_slice(&(total - 20).to_be_bytes());
        out
    }

    #[test]
    fn decap_undoes_encap() {
        for (seq, vlan) in [
            (false, None),
            (true, None),
            (false, Some(3)),
            (true, Some(4094)),
        ] {
            let (f, n) = frame_via_encap(seq, vlan);
            let d = decap(&f, 1701).unwrap();
            assert_eq!((d.tunnel, d.session), (7, 9));
            assert_eq!(d.peer, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
            assert_eq!(d.peer_port, 40000);
            assert_eq!(d.family, Family::V4);
            assert_eq!(d.inner_len, n);
            assert_eq!(f[d.inner], 0x45);
            assert_eq!(&f[d.inner + 1..d.inner + 4], &[1, 2, 3]);
            assert_eq!(d.seq, seq.then_some((5, 0)));
        }
    }

    /// A LAC's frame written out by hand: Length bit set, offset padding,
    /// no FF03, compressed protocol field.
    #[test]
    fn hand_made_frame_with_length_offset_and_compression() {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let inner = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        // L2TP: T=0 L=1 O=1, ver 2; length; tunnel 7 session 9; offset 2 + pad.
        let mut l2tp = vec![0x42, 0x02, 0, 0, 0, 7, 0, 9, 0, 2, 0xee, 0xee];
        l2tp.push(0x21); // PFC: protocol 0x21 in one octet
        l2tp.extend_from_slice(&inner);
        let l = l2tp.len() as u16;
        l2tp[2..4].copy_from_slice(&l.to_be_bytes());
        let udp_len = 8 + l2tp.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 7, 192, 0, 2, 1,
        ];
        ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        let c = !crate::wire::checksum::fold(crate::wire::checksum::accumulate(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend(ip);
        f.extend([0x9c, 0x40, 0x06, 0xa5]);
        f.extend((udp_len as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(l2tp);
        let d = decap(&f, 1701).unwrap();
        assert_eq!(&f[d.inner..d.inner + d.inner_len], &inner);
        assert_eq!(d.family, Family::V4);
        assert_eq!(d.seq, None);
    }

    #[test]
    fn refusals_are_named() {
        let (f, _) = frame_via_encap(false, None);
        assert_eq!(decap(&f, 1702), Err(Drop::NotL2tpUdp));
        assert_eq!(decap(&f[..30], 1701), Err(Drop::BadIpHeader));
        let mut g = f.clone();
        g[12..14].copy_from_slice(&[0x08, 0x06]); // ARP
        assert_eq!(decap(&g, 1701), Err(Drop::NotIp));
        // A control message (T=1) is lnsd's.
        let mut g = f.clone();
        g[14 + 28] |= 0x80;
        assert_eq!(decap(&g, 1701), Err(Drop::NotL2tpData));
        // An LCP frame is lnsd's too.
        let mut g = f.clone();
        let p = 14 + 28 + 6 + 2;
        g[p..p + 2].copy_from_slice(&[0xc0, 0x21]);
        assert_eq!(decap(&g, 1701), Err(Drop::NotIpPayload));
        // A fragment.
        let mut g = f.clone();
        g[14 + 6] = 0x20; // MF
        assert_eq!(decap(&g, 1701), Err(Drop::Fragment));
    }

    #[test]
    fn a_data_message_stops_at_the_l2tp_header_whatever_ppp_carries() {
        let (mut f, _) = frame_via_encap(true, None);
        // LCP instead of IPv4: still a data message, PPP from FF 03 on.
        let p = 14 + 28 + 10;
        f[p + 2..p + 4].copy_from_slice(&[0xc0, 0x21]);
        let m = data_message(&f, 1701).unwrap();
        assert_eq!((m.tunnel, m.session, m.seq), (7, 9, Some((5, 0))));
        assert_eq!((m.ppp, m.ppp_len), (p, f.len() - p));
        assert!(!m.priority);
        assert_eq!(&f[m.ppp..m.ppp + 4], &[0xff, 0x03, 0xc0, 0x21]);
        assert_eq!(ip_payload(&f, &m), Err(Drop::NotIpPayload));
        // The P bit is read (RFC 2661 §3.1: bit 7 of the flags word).
        f[14 + 28] |= 0x01;
        assert!(data_message(&f, 1701).unwrap().priority);
    }

    #[test]
    fn never_panics_on_any_truncation() {
        let (f, _) = frame_via_encap(true, Some(9));
        for n in 0..f.len() {
            let _ = decap(&f[..n], 1701);
            if let Ok(m) = data_message(&f[..n], 1701) {
                assert!(m.ppp + m.ppp_len <= n);
            }
        }
    }
}
