//! PPP frames inside L2TP data messages (RFC 2661 §5.3): how the control
//! plane sends LCP/auth/NCP packets to a session and reads the ones the
//! data plane passes up.
//!
//! We send the full FF 03 address/control header and a two-octet protocol
//! (RFC 1661 §6.5/§6.6: LCP packets are never compressed); we accept frames
//! with or without FF 03 and with a compressed protocol field.

use lns_dataplane::wire::l2tp::{L2tpPacket, L2tpRepr, Sequence};
use lns_dataplane::wire::ppp::{PppFrame, PppRepr};

/// What precedes a PPP packet in the data message carrying it to (peer
/// tunnel, peer session): the L2TP data header (with Ns when `ns` is
/// given, and Nr 0: reserved in data messages, ignored on receipt, RFC
/// 2661 §3.1), then FF 03 and the protocol. At most 14 octets, within
/// [`crate::ppp::HEADROOM`].
fn header(
    peer_tunnel: u16,
    peer_session: u16,
    ns: Option<u16>,
    protocol: u16,
    info_len: usize,
) -> ([u8; crate::ppp::HEADROOM], usize) {
    let mut l2tp = L2tpRepr::data(peer_tunnel, peer_session, 4 + info_len);
    l2tp.sequence = ns.map(|ns| Sequence { ns, nr: 0 });
    let hl = l2tp.buffer_len();
    let mut h = [0u8; crate::ppp::HEADROOM];
    // The repr fits the buffer (at most 10 octets); emit cannot fail on
    // its length.
    let _ = l2tp.emit(&mut h);
    let [p0, p1] = protocol.to_be_bytes();
    if let Some(ppp) = h.get_mut(hl..hl + 4) {
        ppp.copy_from_slice(&[0xff, 0x03, p0, p1]);
    }
    (h, hl + 4)
}

/// An L2TP data message carrying one PPP packet to (peer tunnel, peer
/// session). With `ns`, the S bit is set and the message carries Ns (and
/// Nr 0: reserved in data messages, ignored on receipt, RFC 2661 §3.1).
pub fn encapsulate(
    peer_tunnel: u16,
    peer_session: u16,
    ns: Option<u16>,
    protocol: u16,
    info: &[u8],
) -> Vec<u8> {
    let (h, n) = header(peer_tunnel, peer_session, ns, protocol, info.len());
    let mut out = Vec::with_capacity(n + info.len());
    out.extend_from_slice(h.get(..n).unwrap_or_default());
    out.extend_from_slice(info);
    out
}

/// [`encapsulate`], with the headers written in front of `packet` in its
/// own buffer: a packet from this crate's PPP encoders has the spare
/// capacity for them ([`crate::ppp::HEADROOM`]), so a control packet
/// goes out in the one buffer it was built in.
pub fn encapsulate_owned(
    peer_tunnel: u16,
    peer_session: u16,
    ns: Option<u16>,
    protocol: u16,
    mut packet: Vec<u8>,
) -> Vec<u8> {
    let len = packet.len();
    let (h, n) = header(peer_tunnel, peer_session, ns, protocol, len);
    packet.resize(len + n, 0);
    packet.copy_within(..len, n);
    if let (Some(to), Some(from)) = (packet.get_mut(..n), h.get(..n)) {
        to.copy_from_slice(from);
    }
    packet
}

/// An L2TP data message carrying a PPP frame exactly as another call
/// received it (address/control field and protocol compression kept):
/// the multi-hop gateway's slow path, which switches a frame from one leg
/// to the other before (or without) the data plane doing it.
pub fn rewrap(peer_tunnel: u16, peer_session: u16, ns: Option<u16>, ppp: &[u8]) -> Vec<u8> {
    let mut l2tp = L2tpRepr::data(peer_tunnel, peer_session, ppp.len());
    l2tp.sequence = ns.map(|ns| Sequence { ns, nr: 0 });
    let hl = l2tp.buffer_len();
    let mut out = crate::buffers::take(hl + ppp.len());
    out.resize(hl + ppp.len(), 0);
    // The repr was built for this buffer; emit cannot fail on its length.
    let _ = l2tp.emit(&mut out);
    out[hl..].copy_from_slice(ppp);
    out
}

/// Whether an L2TP data message carries Ns/Nr (its S bit, RFC 2661
/// §3.1): a peer that sequences its own data expects ours sequenced too.
pub fn sequenced(datagram: &[u8]) -> Option<Sequence> {
    L2tpPacket::new_checked(datagram).ok()?.sequence()
}

/// The protocol and information field of the PPP frame at `payload` (the
/// L2TP data message's payload); `None` when it is not a PPP frame.
pub fn decapsulate(payload: &[u8]) -> Option<(u16, &[u8])> {
    let f = PppFrame::new_checked(payload).ok()?;
    // Rejects a protocol field that breaks RFC 1661 §2's odd/even rule.
    PppRepr::parse(&f).ok()?;
    let proto = f.protocol().0;
    Some((proto, f.into_payload()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_compressed_forms() {
        let d = encapsulate(7, 9, None, 0xc021, &[1, 2, 0, 4]);
        let p = L2tpPacket::new_checked(&d[..]).unwrap();
        assert_eq!((p.tunnel_id(), p.session_id()), (7, 9));
        assert_eq!(sequenced(&d), None);
        let s = encapsulate(7, 9, Some(513), 0xc021, &[1, 2, 0, 4]);
        assert_eq!(sequenced(&s), Some(Sequence { ns: 513, nr: 0 }));
        let ps = L2tpPacket::new_checked(&s[..]).unwrap();
        assert_eq!(ps.payload(), p.payload());
        assert_eq!(
            decapsulate(p.payload()),
            Some((0xc021, &[1u8, 2, 0, 4][..]))
        );
        // No FF03, full protocol.
        assert_eq!(decapsulate(&[0xc0, 0x21, 9]), Some((0xc021, &[9u8][..])));
        // PFC: one-octet protocol.
        assert_eq!(
            decapsulate(&[0xff, 0x03, 0x21, 0x45]),
            Some((0x0021, &[0x45u8][..]))
        );
        assert_eq!(decapsulate(&[]), None);
    }

    /// In place or copied, the same datagram; a packet from the PPP
    /// encoders gets its headers in the buffer it was built in.
    #[test]
    fn encapsulated_in_place_as_when_copied() {
        let packet = || {
            crate::ppp::chap::ChapPacket::Success {
                identifier: 3,
                message: b"welcome".to_vec(),
            }
            .encode()
            .unwrap()
        };
        for ns in [None, Some(7)] {
            let p = packet();
            let copied = encapsulate(7, 9, ns, 0xc223, &p);
            let at = p.as_ptr();
            let framed = encapsulate_owned(7, 9, ns, 0xc223, p);
            assert_eq!(framed, copied);
            assert_eq!(framed.as_ptr(), at, "no new buffer");
        }
        // A packet without the headroom is framed all the same.
        let p = packet();
        assert_eq!(
            encapsulate_owned(7, 9, None, 0xc223, p.clone()),
            encapsulate(7, 9, None, 0xc223, &p)
        );
    }
}
