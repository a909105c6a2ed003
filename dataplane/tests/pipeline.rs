//! Worker pipeline fixtures (DESIGN §5.5): a frame in, the frame out (or
//! the drop and its counter), through the tables as lnsd writes them.

use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::node::icmp;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{CORE_V4, NextHop, Session, Sizes, SlotId, Writer};
use lns_dataplane::wire::checksum;
use lns_dataplane::worker::pipeline::{Env, Out, Pipeline};
use std::net::{IpAddr, Ipv4Addr};

const LNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const LNS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0xc0, 1];
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0xc0, 2];

fn sub(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, n)
}

/// Our session n: tunnel 10, session 100 + n; the LAC's ids 20 / 200 + n.
fn session(n: u8, mru: u16) -> Session {
    Session {
        tunnel: 10,
        session: 100 + u16::from(n),
        ipv4: Some(sub(n)),
        ipv6_prefix: None,
        mru,
        peer: IpAddr::V4(LAC),
        peer_port: 1701,
        lac_nexthop: 2,
        template: Template::new(&Outer {
            dst_mac: LAC_MAC,
            src_mac: LNS_MAC,
            vlan: None,
            src: LNS,
            src_port: 1701,
            dst: LAC,
            dst_port: 1701,
            tunnel: 20,
            session: 200 + u16::from(n),
            sequencing: false,
        }),
    }
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, len: usize) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 7, 0x40, 0, ttl, 1, 0, 0];
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p.extend(src.octets());
    p.extend(dst.octets());
    p.resize(len, 0xab);
    p[20] = 8;
    let c = !checksum::sum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// What the LAC sends for session `n`: our ids, from the LAC.
fn from_lac(n: u8, inner: &[u8], src: Ipv4Addr) -> (Vec<u8>, usize, usize) {
    let t = Template::new(&Outer {
        dst_mac: LNS_MAC,
        src_mac: LAC_MAC,
        vlan: None,
        src,
        src_port: 1701,
        dst: LNS,
        dst_port: 1701,
        tunnel: 10,
        session: 100 + u16::from(n),
        sequencing: false,
    });
    let mut buf = vec![0u8; 2048];
    buf[256..256 + inner.len()].copy_from_slice(inner);
    let (s, l) = encap(&t, &mut buf, 256, inner.len(), 0).unwrap();
    (buf, s, l)
}

fn from_core(inner: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut buf = vec![0u8; 2048];
    let s = 256;
    buf[s..s + 6].copy_from_slice(&CORE_MAC);
    buf[s + 6..s + 12].copy_from_slice(&GW_MAC);
    buf[s + 12..s + 14].copy_from_slice(&[0x08, 0x00]);
    buf[s + 14..s + 14 + inner.len()].copy_from_slice(inner);
    (buf, s, 14 + inner.len())
}

struct Lab {
    w: Writer,
    ids: Vec<SlotId>,
}

fn lab() -> Lab {
    let mut w = Writer::heap(Sizes {
        capacity: 16,
        workers: 1,
    })
    .unwrap();
    let ids = vec![
        w.insert(&session(1, 1500)).unwrap(),
        w.insert(&session(2, 576)).unwrap(),
    ];
    w.set_nexthop(
        CORE_V4,
        &NextHop {
            dst_mac: GW_MAC,
            src_mac: CORE_MAC,
            addr: None,
        },
    )
    .unwrap();
    Lab { w, ids }
}

fn lac_hop(w: &mut Writer) {
    w.set_nexthop(
        2,
        &NextHop {
            dst_mac: LAC_MAC,
            src_mac: LNS_MAC,
            addr: Some(IpAddr::V4(LAC)),
        },
    )
    .unwrap();
}

fn env() -> Env {
    Env {
        lns_port: 1701,
        icmp: icmp::Source {
            v4: Some(Ipv4Addr::new(192, 0, 2, 254)),
            v6: None,
        },
        bare: false,
    }
}

#[test]
fn upstream_is_decapsulated_byte_exact() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(sub(1), HOST, 64, 84);
    let (mut buf, s, l) = from_lac(1, &inner, LAC);
    let Out::Core(os, ol) = p.upstream(&mut buf, s, l) else {
        panic!("not forwarded");
    };
    let mut want = GW_MAC.to_vec();
    want.extend(CORE_MAC);
    want.extend([0x08, 0x00]);
    let mut ip = inner.clone();
    ip[8] = 63;
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    want.extend(ip);
    assert_eq!(&buf[os..os + ol], &want[..]);
    p.flush();
    let c = lab.w.counters(lab.ids[0]);
    assert_eq!((c.up_packets, c.up_bytes), (1, 84));
    let b = lab.w.worker(0).unwrap();
    assert_eq!(b.get(Counter::Upstream), 1);
    assert_eq!(b.get(Counter::UpstreamBytes), 84);
}

#[test]
fn downstream_is_encapsulated_with_the_lac_neighbour() {
    let mut lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(HOST, sub(1), 60, 100);
    let (mut buf, s, l) = from_core(&inner);
    // Until lnsd resolves the LAC's neighbour (next hop 2), nothing goes.
    assert_eq!(p.downstream(&mut buf, s, l), Out::Drop(Drop::NoNextHop));
    lac_hop(&mut lab.w);
    let (mut buf, s, l) = from_core(&inner);
    let Out::Access(os, ol) = p.downstream(&mut buf, s, l) else {
        panic!("not encapsulated");
    };
    // Exactly what the template makes.
    let t = session(1, 1500).template;
    let mut expect = vec![0u8; 512];
    expect[256..356].copy_from_slice(&inner);
    let (es, el) = encap(&t, &mut expect, 256, 100, 0).unwrap();
    assert_eq!(&buf[os..os + ol], &expect[es..es + el]);

    // The LAC moves: one next-hop write, and every session follows.
    let moved = [2, 0, 0, 0, 0, 0x99];
    lab.w
        .set_nexthop(
            2,
            &NextHop {
                dst_mac: moved,
                src_mac: LNS_MAC,
                addr: Some(IpAddr::V4(LAC)),
            },
        )
        .unwrap();
    let (mut buf, s, l) = from_core(&inner);
    let Out::Access(os, _) = p.downstream(&mut buf, s, l) else {
        panic!()
    };
    assert_eq!(&buf[os..os + 6], &moved, "the LAC's new MAC is used");
    p.flush();
    let c = lab.w.counters(lab.ids[0]);
    assert_eq!((c.down_packets, c.down_bytes, c.drops), (2, 200, 1));
}

#[test]
fn drops_are_named_and_counted() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Spoofed source.
    let (mut b, s, l) = from_lac(1, &ipv4(sub(9), HOST, 64, 40), LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::Spoofed));
    // Unknown session.
    let (mut b, s, l) = from_lac(7, &ipv4(sub(7), HOST, 64, 40), LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::UnknownSession));
    // From the wrong LAC.
    let (mut b, s, l) = from_lac(
        1,
        &ipv4(sub(1), HOST, 64, 40),
        Ipv4Addr::new(198, 51, 100, 8),
    );
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::WrongPeer));
    // TTL expiring.
    let (mut b, s, l) = from_lac(1, &ipv4(sub(1), HOST, 1, 40), LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::TtlExpired));
    // Core traffic for nobody.
    let (mut b, s, l) = from_core(&ipv4(HOST, sub(50), 64, 40));
    assert_eq!(p.downstream(&mut b, s, l), Out::Drop(Drop::UnknownSession));
    p.flush();
    let b = lab.w.worker(0).unwrap();
    for (d, n) in [
        (Drop::Spoofed, 1),
        (Drop::UnknownSession, 2),
        (Drop::WrongPeer, 1),
        (Drop::TtlExpired, 1),
    ] {
        assert_eq!(b.drops(d), n, "{}", d.name());
    }
    assert_eq!(lab.w.counters(lab.ids[0]).drops, 3);
    assert_eq!(b.get(Counter::RxAccess), 4);
    assert_eq!(b.get(Counter::RxCore), 1);
}

#[test]
fn oversize_downstream_gets_icmp_fragmentation_needed() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = from_core(&ipv4(HOST, sub(2), 64, 1000));
    let Out::Core(os, ol) = p.downstream(&mut b, s, l) else {
        panic!("no ICMP error");
    };
    let f = &b[os..os + ol];
    assert_eq!(&f[..12], &[GW_MAC, CORE_MAC].concat()[..]);
    assert_eq!(&f[14 + 12..14 + 20], &[192, 0, 2, 254, 203, 0, 113, 9]);
    assert_eq!(&f[34..36], &[3, 4]);
    assert_eq!(&f[40..42], &576u16.to_be_bytes());
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.drops(Drop::TooBig), 1);
    assert_eq!(w.get(Counter::IcmpTooBig), 1);
    assert_eq!(lab.w.counters(lab.ids[1]).drops, 1);
}

#[test]
fn subscriber_to_subscriber_hairpins_into_the_other_tunnel() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(sub(1), sub(2), 64, 60);
    let (mut b, s, l) = from_lac(1, &inner, LAC);
    let Out::Access(os, ol) = p.upstream(&mut b, s, l) else {
        panic!("not hairpinned");
    };
    let f = &b[os..os + ol];
    // Into session 2's tunnel: the LAC's session id 202, TTL spent once.
    assert_eq!(&f[14 + 20 + 8 + 4..14 + 20 + 8 + 6], &202u16.to_be_bytes());
    assert_eq!(f[14 + 20 + 8 + 6 + 4 + 8], 63);
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.get(Counter::Hairpin), 1);
    assert_eq!(lab.w.counters(lab.ids[0]).up_packets, 1);
    assert_eq!(lab.w.counters(lab.ids[1]).down_packets, 1);
}

#[test]
fn ipv6_without_service_has_its_own_drop_name() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Session 1 has no IPv6 prefix (IPv6CP may be open, but no prefix
    // was handed out): its IPv6 is unrouted, not a missing MAC.
    let mut v6 = vec![0u8; 48];
    v6[0] = 0x60;
    v6[4..6].copy_from_slice(&8u16.to_be_bytes());
    v6[6] = 59;
    v6[7] = 64;
    v6[8] = 0xfe;
    v6[9] = 0x80;
    v6[24] = 0x20;
    v6[25] = 0x01;
    let (mut b, s, l) = from_lac(1, &v6, LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::Ipv6Unrouted));
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.drops(Drop::Ipv6Unrouted), 1);
    assert_eq!(w.drops(Drop::NoNextHop), 0);
    assert_eq!(lab.w.counters(lab.ids[0]).drops, 1);
}
