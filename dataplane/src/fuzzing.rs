//! Entry points shared by the fuzz targets (`dataplane/fuzz`) and the corpus
//! replay test, so `cargo test` exercises every committed seed on stable.
//! Each function must never panic, whatever `data` holds.

use crate::wire::*;
use core::net::IpAddr;

/// Parses `data` as an Ethernet frame and walks every header the LNS
/// understands below it (VLAN, IPv4/IPv6, UDP, L2TP, PPP), then feeds the
/// same bytes to each view directly so every parser sees arbitrary input.
pub fn wire_frame(data: &[u8]) {
    frame_stack(data);
    for_each_view(data);
    // The worker's decapsulation stage sees the same frames; what it
    // accepts must point inside the frame.
    if let Ok(d) = crate::node::decap::decap(data, 1701) {
        assert!(d.inner + d.inner_len <= data.len());
    }
    // So does switching, which stops at the L2TP header.
    if let Ok(m) = crate::node::decap::data_message(data, 1701) {
        assert!(m.ppp + m.ppp_len <= data.len());
    }
}

fn frame_stack(data: &[u8]) {
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        return;
    };
    let eth_payload = &data[eth.header_len()..];
    let Ok(er) = EthernetRepr::parse(&eth) else {
        return;
    };
    let (src, dst, proto, payload): (IpAddr, IpAddr, u8, &[u8]) = match er.ethertype {
        EtherType::IPV4 => {
            let Ok(ip) = Ipv4Packet::new_checked(eth_payload) else {
                return;
            };
            let _ = Ipv4Repr::parse(&ip);
            (
                ip.src_addr().into(),
                ip.dst_addr().into(),
                ip.protocol(),
                ip.into_payload(),
            )
        }
        EtherType::IPV6 => {
            let Ok(ip) = Ipv6Packet::new_checked(eth_payload) else {
                return;
            };
            let _ = Ipv6Repr::parse(&ip);
            (
                ip.src_addr().into(),
                ip.dst_addr().into(),
                ip.next_header(),
                ip.into_payload(),
            )
        }
        _ => return,
    };
    if proto != ipv4::protocol::UDP {
        return;
    }
    let Ok(udp) = UdpPacket::new_checked(payload) else {
        return;
    };
    let _ = UdpRepr::parse(&udp, src, dst);
    l2tp_and_ppp(udp.payload());
}

fn l2tp_and_ppp(data: &[u8]) {
    let Ok(l2tp) = L2tpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = L2tpRepr::parse(&l2tp) else {
        return;
    };
    if repr.kind == L2tpKind::Data
        && let Ok(ppp) = PppFrame::new_checked(l2tp.payload())
    {
        let r = PppRepr::parse(&ppp);
        assert!(r.is_ok(), "a checked PPP frame always parses");
    }
    // What parses must emit back to a header that parses to the same repr.
    let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
    if repr.emit(&mut out).is_ok() {
        let again = L2tpPacket::new_checked(&out[..]).and_then(|p| L2tpRepr::parse(&p));
        assert_eq!(again, Ok(repr));
    }
}

fn for_each_view(data: &[u8]) {
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = Ipv4Repr::parse(&p);
        let _ = p.payload();
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = Ipv6Repr::parse(&p);
    }
    if let Ok(p) = UdpPacket::new_checked(data) {
        let any: IpAddr = core::net::Ipv4Addr::UNSPECIFIED.into();
        let _ = UdpRepr::parse(&p, any, any);
    }
    l2tp_and_ppp(data);
    if let Ok(f) = PppFrame::new_checked(data) {
        let _ = PppRepr::parse(&f);
    }
}
