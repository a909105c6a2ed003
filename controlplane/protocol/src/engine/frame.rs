//! PPP frames inside L2TP data messages (RFC 2661 §5.3): how the control
//! plane sends LCP/auth/NCP packets to a session and reads the ones the
//! data plane passes up.
//!
//! We send the full FF 03 address/control header and a two-octet protocol
//! (RFC 1661 §6.5/§6.6: LCP packets are never compressed); we accept frames
//! with or without FF 03 and with a compressed protocol field.

use lns_dataplane::wire::l2tp::{L2tpPacket, L2tpRepr, Sequence};
use lns_dataplane::wire::ppp::{PppFrame, PppRepr};

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
    let mut l2tp = L2tpRepr::data(peer_tunnel, peer_session, 4 + info.len());
    l2tp.sequence = ns.map(|ns| Sequence { ns, nr: 0 });
    let hl = l2tp.buffer_len();
    let mut out = vec![0u8; hl + 4 + info.len()];
    // The repr was built for this buffer; emit cannot fail on its length.
    let _ = l2tp.emit(&mut out);
    out[hl] = 0xff;
    out[hl + 1] = 0x03;
    out[hl + 2..hl + 4].copy_from_slice(&protocol.to_be_bytes());
    out[hl + 4..].copy_from_slice(info);
    out
}

/// An L2TP data message carrying a PPP frame exactly as another call
/// received it (address/control field and protocol compression kept):
/// the multi-hop gateway's slow path, which switches a frame from one leg
/// to the other before (or without) the data plane doing it.
pub fn rewrap(peer_tunnel: u16, peer_session: u16, ns: Option<u16>, ppp: &[u8]) -> Vec<u8> {
    let mut l2tp = L2tpRepr::data(peer_tunnel, peer_session, ppp.len());
    l2tp.sequence = ns.map(|ns| Sequence { ns, nr: 0 });
    let hl = l2tp.buffer_len();
    let mut out = vec![0u8; hl + ppp.len()];
    // The repr was built for this buffer; emit cannot fail on its length.
    let _ = l2tp.emit(&mut out);
    out[hl..].copy_from_slice(ppp);
    out
}

/// The datagram carrying one PPP packet to a call: both engines (LNS and
/// emulated LAC) send their PPP this way.
pub fn transmit(
    local: std::net::SocketAddr,
    peer: std::net::SocketAddr,
    peer_tunnel: u16,
    peer_session: u16,
    ns: Option<u16>,
    protocol: u16,
    info: &[u8],
) -> crate::l2tp::Transmit {
    crate::l2tp::Transmit {
        local,
        peer,
        payload: encapsulate(peer_tunnel, peer_session, ns, protocol, info),
    }
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
}
