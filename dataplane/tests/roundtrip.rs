//! Property tests: for every wire repr, emit → parse gives the same repr.

use lns_dataplane::wire::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn vlan(tpid: u16) -> impl Strategy<Value = VlanTag> {
    (0u8..8, any::<bool>(), 0u16..4096).prop_map(move |(pcp, dei, vid)| VlanTag {
        tpid: EtherType(tpid),
        pcp,
        dei,
        vid,
    })
}

fn ethernet() -> impl Strategy<Value = EthernetRepr> {
    let tags = prop_oneof![
        Just((None, None)).boxed(),
        vlan(0x8100).prop_map(|t| (Some(t), None)).boxed(),
        (vlan(0x88a8), vlan(0x8100))
            .prop_map(|(o, i)| (Some(o), Some(i)))
            .boxed(),
    ];
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        tags,
        any::<u16>().prop_filter("not a TPID", |t| !EtherType(*t).is_vlan_tpid()),
    )
        .prop_map(|(d, s, (outer_vlan, inner_vlan), et)| EthernetRepr {
            dst: EthernetAddress(d),
            src: EthernetAddress(s),
            outer_vlan,
            inner_vlan,
            ethertype: EtherType(et),
        })
}

fn l2tp() -> impl Strategy<Value = L2tpRepr> {
    let data = (
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        proptest::option::of(any::<(u16, u16)>()),
        proptest::option::of(0u16..64),
        any::<bool>(),
        0usize..200,
    )
        .prop_map(|(l, t, s, seq, off, p, n)| L2tpRepr {
            kind: L2tpKind::Data,
            with_length: l,
            tunnel_id: t,
            session_id: s,
            sequence: seq.map(|(ns, nr)| Sequence { ns, nr }),
            offset: off,
            priority: p,
            payload_len: n,
        });
    let control = (any::<u16>(), any::<u16>(), any::<(u16, u16)>(), 0usize..200)
        .prop_map(|(t, s, (ns, nr), n)| L2tpRepr::control(t, s, Sequence { ns, nr }, n));
    prop_oneof![data, control]
}

proptest! {
    #[test]
    fn ethernet_round_trip(r in ethernet(), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut b = vec![0; r.buffer_len()];
        r.emit(&mut b).unwrap();
        b.extend_from_slice(&payload);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&f).unwrap(), r);
        prop_assert_eq!(f.payload(), &payload[..]);
    }

    #[test]
    fn ipv4_round_trip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol: u8, ttl: u8, tos: u8, ident: u16, df: bool, n in 0usize..100) {
        let r = Ipv4Repr { src: Ipv4Addr::from(src), dst: Ipv4Addr::from(dst), protocol, payload_len: n, ttl, tos, ident, dont_frag: df };
        let mut b = vec![0; 20 + n];
        r.emit(&mut b).unwrap();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn ipv4_ttl_decrement_keeps_checksum(src in any::<[u8; 4]>(), ttl in 1u8.., ident: u16) {
        let r = Ipv4Repr { src: Ipv4Addr::from(src), dst: Ipv4Addr::LOCALHOST, protocol: 17, payload_len: 0, ttl, tos: 0, ident, dont_frag: false };
        let mut b = vec![0; 20];
        r.emit(&mut b).unwrap();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.decrement_ttl();
        prop_assert!(p.verify_checksum());
    }

    #[test]
    fn ipv6_round_trip(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), nh: u8, hl: u8, tc: u8, fl in 0u32..0x10_0000, n in 0usize..100) {
        let r = Ipv6Repr { src: Ipv6Addr::from(src), dst: Ipv6Addr::from(dst), next_header: nh, payload_len: n, hop_limit: hl, traffic_class: tc, flow_label: fl };
        let mut b = vec![0; 40 + n];
        r.emit(&mut b).unwrap();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn udp_round_trip_v4_and_v6(sp: u16, dp: u16, payload in proptest::collection::vec(any::<u8>(), 0..100), v6: bool) {
        let (s, d): (std::net::IpAddr, std::net::IpAddr) = if v6 {
            (Ipv6Addr::LOCALHOST.into(), Ipv6Addr::UNSPECIFIED.into())
        } else {
            (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into())
        };
        let r = UdpRepr { src_port: sp, dst_port: dp, payload_len: payload.len() };
        let mut b = vec![0; 8];
        r.emit(&mut b).unwrap();
        b.extend_from_slice(&payload);
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(s, d).unwrap();
        prop_assert_eq!(UdpRepr::parse(&p, s, d).unwrap(), r);
    }

    #[test]
    fn l2tp_round_trip(r in l2tp()) {
        let mut b = vec![0x5a; r.buffer_len() + r.payload_len];
        r.emit(&mut b).unwrap();
        let p = L2tpPacket::new_checked(&b[..]).unwrap();
        prop_assert_eq!(L2tpRepr::parse(&p).unwrap(), r);
        prop_assert_eq!(p.payload().len(), r.payload_len);
    }

    #[test]
    fn ppp_round_trip(ac: bool, proto in any::<u16>().prop_map(|p| (p | 1) & !0x0100), compress: bool) {
        let r = PppRepr { address_control: ac, protocol: PppProtocol(proto), compressed_protocol: compress && proto < 0x100 };
        let mut b = vec![0; r.buffer_len()];
        r.emit(&mut b).unwrap();
        b.push(0x45);
        let f = PppFrame::new_checked(&b[..]).unwrap();
        prop_assert_eq!(PppRepr::parse(&f).unwrap(), r);
        prop_assert_eq!(f.payload(), &[0x45][..]);
    }

    #[test]
    fn views_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        lns_dataplane::fuzzing::wire_frame(&data);
    }
}
