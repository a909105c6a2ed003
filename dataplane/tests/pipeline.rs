//! Worker pipeline fixtures (DESIGN §5.5): a frame in, the frame out (or
//! the drop and its counter), through the tables as lnsd writes them.

use lns_dataplane::node::decap::data_message;
use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::node::icmp;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{CORE_V4, Key, NextHop, Session, Sizes, SlotId, Writer, up_key};
use lns_dataplane::wire::checksum;
use lns_dataplane::worker::pipeline::{BUCKETS_AHEAD, Env, Out, Pipeline};
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
        template: Template::new(&to_lac(n, false)),
        switched: None,
        rates: Default::default(),
    }
}

/// The outer headers toward the LAC for session `n`.
fn to_lac(n: u8, sequencing: bool) -> Outer {
    Outer {
        dst_mac: LAC_MAC,
        src_mac: LNS_MAC,
        vlan: None,
        src: std::net::IpAddr::from(LNS),
        src_port: 1701,
        dst: std::net::IpAddr::from(LAC),
        dst_port: 1701,
        tunnel: 20,
        session: 200 + u16::from(n),
        sequencing,
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

/// IPv4 packet `pkt` as a router passes it on: its TTL spent once, the
/// header checksum computed again.
fn hop_spent(pkt: &[u8]) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[8] -= 1;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// What the LAC sends for session `n`: our ids, from the LAC.
fn from_lac(n: u8, inner: &[u8], src: Ipv4Addr) -> (Vec<u8>, usize, usize) {
    from_lac_on(n, inner, src, None)
}

/// [`from_lac`] from a LAC on `vlan` of the access interface.
fn from_lac_on(n: u8, inner: &[u8], src: Ipv4Addr, vlan: Option<u16>) -> (Vec<u8>, usize, usize) {
    let t = Template::new(&Outer {
        dst_mac: LNS_MAC,
        src_mac: LAC_MAC,
        vlan,
        src: std::net::IpAddr::from(src),
        src_port: 1701,
        dst: std::net::IpAddr::from(LNS),
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
    core_hop(&mut w);
    Lab { w, ids }
}

fn core_hop(w: &mut Writer) {
    w.set_nexthop(
        CORE_V4,
        &NextHop {
            dst_mac: GW_MAC,
            src_mac: CORE_MAC,
            addr: None,
        },
    )
    .unwrap();
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
        gateway: None,
        access_mtu: None,
        core_mtu: None,
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

/// A LAC on a VLAN of the access interface (one 802.1Q tag): the vector
/// pass finds its frame's key as an untagged one's (its look-up is
/// prefetched and the hand-off spreads its sessions), and the frame
/// takes the fast reader and leaves for the core as an untagged one.
#[test]
fn a_tagged_frame_is_peeked_and_decapsulated_as_an_untagged_one() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(sub(1), HOST, 64, 84);
    let (mut plain, ps, pl) = from_lac(1, &inner, LAC);
    let (mut tagged, ts, tl) = from_lac_on(1, &inner, LAC, Some(100));
    assert_eq!(tl, pl + 4);
    let key = p.peek_upstream(&plain[ps..ps + pl]);
    assert!(key.is_some());
    assert_eq!(p.peek_upstream(&tagged[ts..ts + tl]), key);
    let Out::Core(a, an) = p.upstream(&mut plain, ps, pl) else {
        panic!("untagged not forwarded");
    };
    let Out::Core(b, bn) = p.upstream(&mut tagged, ts, tl) else {
        panic!("tagged not forwarded");
    };
    assert_eq!(&plain[a..a + an], &tagged[b..b + bn]);
}

/// The worker's schedule (the batch's first keys, then a packet's worth
/// of prefetching before each packet's work) leaves every key as the two
/// passes a key at a time do (the slot its look-up then reads first), and
/// a packet's key has its slot before the packet is worked: over a batch
/// longer than the prefetch distances, of keys of both directions, of
/// sessions there and not, and none.
#[test]
fn the_rolling_prefetch_gives_each_key_its_slot_before_its_packet() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(sub(1), HOST, 64, 84);
    let up = |n| {
        let (f, s, l) = from_lac(n, &inner, LAC);
        p.peek_upstream(&f[s..s + l])
    };
    let down = |n| {
        let (f, s, l) = from_core(&ipv4(HOST, sub(n), 64, 84));
        p.peek_downstream(&f[s..s + l])
    };
    let seven = [up(1), down(2), None, up(9), down(1), up(2), down(9)];
    for (i, k) in seven.iter().enumerate() {
        assert_eq!(k.is_some(), i != 2, "key {i}");
    }
    let n = 3 * BUCKETS_AHEAD + 5;
    let keys: Vec<_> = seven.iter().cycle().take(n).copied().collect();
    let mut one = keys.clone();
    for k in &one {
        p.prefetch_bucket(*k);
    }
    for k in &mut one {
        p.prefetch_slot(k);
    }
    let mut batch = keys.clone();
    p.prefetch_first(&mut batch);
    for i in 0..n {
        assert_eq!(batch[i], one[i], "key {i} before its packet's work");
        p.prefetch_ahead(&mut batch, i);
    }
    assert_eq!(batch, one);
    // The keys came back with a slot: they differ from the keys peeked.
    // A data message's ids have theirs from the ids alone (their home
    // slot, a hint), whether or not the session is in the table; an
    // address not in the table has none to keep.
    for i in (0..n).filter(|i| i % 7 != 2) {
        assert_eq!(batch[i] != keys[i], i % 7 != 6, "key {i}");
    }
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
    expect[256..356].copy_from_slice(&hop_spent(&inner));
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

/// The benchmarks' reference forwarder: each side's frames to the other
/// untouched, whatever they hold, counted as received and nothing else.
#[test]
fn the_bare_forwarder_forwards_both_ways_untouched() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(
        &r,
        0,
        Env {
            bare: true,
            ..env()
        },
    )
    .unwrap();
    let (mut up, s, l) = from_lac(1, &ipv4(sub(1), HOST, 64, 84), LAC);
    let before = up.clone();
    assert_eq!(p.upstream(&mut up, s, l), Out::Core(s, l));
    let (mut down, ds, dl) = from_core(&ipv4(HOST, sub(1), 60, 100));
    let down_before = down.clone();
    assert_eq!(p.downstream(&mut down, ds, dl), Out::Access(ds, dl));
    assert_eq!((up, down), (before, down_before));
    p.flush();
    let b = lab.w.worker(0).unwrap();
    assert_eq!((b.get(Counter::RxAccess), b.get(Counter::RxCore)), (1, 1));
    assert_eq!(
        (b.get(Counter::Upstream), b.get(Counter::Downstream)),
        (0, 0)
    );
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

#[test]
fn downstream_spends_a_hop_and_drops_what_has_none_left() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = from_core(&ipv4(HOST, sub(1), 1, 100));
    assert_eq!(p.downstream(&mut b, s, l), Out::Drop(Drop::TtlExpired));
    let (mut b, s, l) = from_core(&ipv4(HOST, sub(1), 2, 100));
    let Out::Access(os, ol) = p.downstream(&mut b, s, l) else {
        panic!("TTL 2 passes");
    };
    let ip = &b[os + ol - 100..os + ol];
    assert_eq!(ip[8], 1);
    assert_eq!(checksum::sum(&ip[..20]), 0xffff, "header checksum patched");
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.drops(Drop::TtlExpired), 1);
    assert_eq!(lab.w.counters(lab.ids[0]).drops, 1);
}

/// An IPv6 packet (UDP, hop limit 64) of `len` bytes.
fn ipv6(src: &str, dst: &str, len: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend(((len - 40) as u16).to_be_bytes());
    p.extend([17, 64]);
    p.extend(src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.extend(dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.resize(len, 0x5a);
    p
}

/// The core's IPv6 frame carrying `inner`.
fn from_core6(inner: &[u8]) -> (Vec<u8>, usize, usize) {
    let (mut buf, s, l) = from_core(inner);
    buf[s + 12..s + 14].copy_from_slice(&[0x86, 0xdd]);
    (buf, s, l)
}

/// A prefix delegated to a subscriber (DHCPv6 IA_PD) is routed to it,
/// and it may send from it; not once the delegation is taken back.
#[test]
fn a_delegated_prefix_is_routed_both_ways() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    lab.w
        .set_nexthop(
            lns_dataplane::table::CORE_V6,
            &NextHop {
                dst_mac: GW_MAC,
                src_mac: CORE_MAC,
                addr: None,
            },
        )
        .unwrap();
    let link = [0x20, 1, 0x0d, 0xb8, 0, 1, 0, 7];
    let s1 = Session {
        ipv6_prefix: Some(link),
        ..session(1, 1500)
    };
    lab.w.update(lab.ids[0], &s1).unwrap();
    let pd = ([0x20, 1, 0x0d, 0xb8, 0x02, 0x00, 0x01, 0x00], 56);
    lab.w.set_delegated(lab.ids[0], Some(pd)).unwrap();
    // Another session may not take it.
    assert!(lab.w.set_delegated(lab.ids[1], Some(pd)).is_err());
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Down: to a host on the router's LAN, inside the /56.
    let pkt = ipv6("2001:db8:c::9", "2001:db8:200:1ff::42", 100);
    let (mut b, s, l) = from_core6(&pkt);
    let Out::Access(os, ol) = p.downstream(&mut b, s, l) else {
        panic!("not routed to the delegating session");
    };
    let mut want = pkt.clone();
    want[7] -= 1;
    let mut expect = vec![0u8; 512];
    expect[256..356].copy_from_slice(&want);
    let (es, el) = encap(&s1.template, &mut expect, 256, 100, 0).unwrap();
    assert_eq!(&b[os..os + ol], &expect[es..es + el]);
    // Up: from the LAN behind it, and from its link; not from elsewhere.
    for (src, ok) in [
        ("2001:db8:200:1ff::42", true),
        ("2001:db8:1:7::1", true),
        ("2001:db8:200:200::42", false),
    ] {
        let (mut b, s, l) = from_lac(1, &ipv6(src, "2001:db8:c::9", 80), LAC);
        let o = p.upstream(&mut b, s, l);
        assert_eq!(matches!(o, Out::Core(..)), ok, "{src}: {o:?}");
    }
    p.flush();
    assert_eq!(lab.w.worker(0).unwrap().drops(Drop::Spoofed), 1);
    // Taken back: no longer routed.
    lab.w.set_delegated(lab.ids[0], None).unwrap();
    let (mut b, s, l) = from_core6(&pkt);
    assert_eq!(p.downstream(&mut b, s, l), Out::Drop(Drop::UnknownSession));
    // And it may go to another session now.
    lab.w.set_delegated(lab.ids[1], Some(pd)).unwrap();
}

#[test]
fn link_scope_ipv6_is_never_forwarded() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // A Router Solicitation (to ff02::2) and anything to a link-local
    // address are lnsd's: the XDP program passes them to it, and one that
    // reaches a worker all the same is named, not taken for spoofing.
    for dst in ["ff02::2", "fe80::1", "ff01::1"] {
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[4..6].copy_from_slice(&8u16.to_be_bytes());
        v6[6] = 58;
        v6[7] = 255;
        v6[8] = 0xfe;
        v6[9] = 0x80;
        let d: std::net::Ipv6Addr = dst.parse().unwrap();
        v6[24..40].copy_from_slice(&d.octets());
        v6[40] = 133;
        let (mut b, s, l) = from_lac(1, &v6, LAC);
        assert_eq!(
            p.upstream(&mut b, s, l),
            Out::Drop(Drop::Ipv6LinkLocal),
            "{dst}"
        );
    }
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.drops(Drop::Ipv6LinkLocal), 3);
    assert_eq!(w.drops(Drop::Spoofed), 0);
}

const GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 254);

/// An ICMP echo request (`kind` 8) from `src` to `dst`, 56 bytes of data.
fn icmp(kind: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0, 0x42, 0x42, 0, 1];
    m.extend((0..56u8).map(|i| i.wrapping_mul(7)));
    let c = !checksum::sum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0];
    p.extend(src.octets());
    p.extend(dst.octets());
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(m);
    p
}

fn with_gateway() -> Env {
    Env {
        gateway: Some(GATEWAY),
        ..env()
    }
}

#[test]
fn echo_to_the_gateway_is_answered_into_the_subscribers_tunnel() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, with_gateway()).unwrap();
    let (mut b, s, l) = from_lac(1, &icmp(8, sub(1), GATEWAY), LAC);
    let Out::Access(os, ol) = p.upstream(&mut b, s, l) else {
        panic!("no echo reply");
    };
    // The reply, byte for byte: addresses swapped, TTL 64, DF clear,
    // type 0 with the checksum patched, same identifier, sequence, data.
    let mut reply = icmp(0, GATEWAY, sub(1));
    reply[6] = 0;
    reply[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&reply[..20]);
    reply[10..12].copy_from_slice(&c.to_be_bytes());
    let mut want = vec![0u8; 512];
    want[256..256 + 84].copy_from_slice(&reply);
    let (ws, wl) = encap(&session(1, 1500).template, &mut want, 256, 84, 0).unwrap();
    assert_eq!(&b[os..os + ol], &want[ws..ws + wl]);

    // Anything else to the gateway goes nowhere; a forged source gets no
    // answer either.
    let mut udp = icmp(8, sub(1), GATEWAY);
    udp[9] = 17;
    let (mut b, s, l) = from_lac(1, &udp, LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::ToGateway));
    let (mut b, s, l) = from_lac(1, &icmp(0, sub(1), GATEWAY), LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::ToGateway));
    let (mut b, s, l) = from_lac(1, &icmp(8, sub(2), GATEWAY), LAC);
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::Spoofed));
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.get(Counter::GatewayEcho), 1);
    assert_eq!(w.drops(Drop::ToGateway), 2);
    assert_eq!(w.get(Counter::Upstream), 0, "nothing went to the core");
    let c = lab.w.counters(lab.ids[0]);
    assert_eq!((c.up_packets, c.down_packets, c.drops), (1, 1, 3));

    // Without a gateway address it is just another destination.
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = from_lac(1, &icmp(8, sub(1), GATEWAY), LAC);
    assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
}

/// A packet from the core to `dst`, `len` bytes, DF as given.
fn core_packet(dst: Ipv4Addr, len: usize, df: bool) -> Vec<u8> {
    let mut p = ipv4(HOST, dst, 64, len);
    for (i, b) in p[21..].iter_mut().enumerate() {
        *b = (i * 13 + i / 256) as u8;
    }
    if !df {
        p[6] = 0;
        p[10..12].copy_from_slice(&[0, 0]);
        let c = !checksum::sum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Runs the pipeline's fragmentation as the worker loop does: the first
/// fragment over the packet's frame, the others each in a frame of its
/// own. Returns the frames.
fn fragment(p: &mut Pipeline<'_>, out: Out, buf: &mut [u8]) -> Vec<Vec<u8>> {
    let Out::Fragments(n) = out else {
        panic!("not fragmented: {out:?}");
    };
    let mut frames = Vec::new();
    let original = buf.to_vec();
    let Out::Access(s, l) = p.first_fragment(buf) else {
        panic!("no first fragment");
    };
    frames.push(buf[s..s + l].to_vec());
    for i in 1..n {
        let mut dst = vec![0u8; 2048];
        let Out::Access(s, l) = p.next_fragment(i, &original, &mut dst) else {
            panic!("no fragment {i}");
        };
        frames.push(dst[s..s + l].to_vec());
    }
    frames
}

/// Takes encapsulated fragments apart: each must be exactly `template`
/// in front of an IPv4 fragment of at most `limit` bytes; returns the
/// reassembled packet (its header from the first fragment, length and
/// flags as the original's with DF clear).
fn reassemble(frames: &[Vec<u8>], template: &Template, limit: usize) -> Vec<u8> {
    let hl = template.len();
    let mut data = Vec::new();
    let mut header = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let ip = &f[hl..];
        assert!(ip.len() <= limit, "fragment {i}: {} > {limit}", ip.len());
        let mut want = vec![0u8; 256 + ip.len()];
        want[256..].copy_from_slice(ip);
        let (ws, wl) = encap(template, &mut want, 256, ip.len(), 0).unwrap();
        assert_eq!(
            &f[..],
            &want[ws..ws + wl],
            "fragment {i}: the session's template"
        );
        assert_eq!(checksum::sum(&ip[..20]), 0xffff, "fragment {i}: checksum");
        let off = usize::from(u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff) * 8;
        assert_eq!(off, data.len(), "fragment {i}: offset");
        let more = ip[6] & 0x20 != 0;
        assert_eq!(more, i + 1 < frames.len(), "fragment {i}: MF");
        if i == 0 {
            header = ip[..20].to_vec();
        }
        data.extend_from_slice(&ip[20..]);
    }
    header[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    header[6..8].copy_from_slice(&[0, 0]);
    header[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&header);
    header[10..12].copy_from_slice(&c.to_be_bytes());
    header.extend(data);
    header
}

#[test]
fn oversize_downstream_without_df_is_fragmented() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Session 2's MRU is 576: 1,000 bytes leave as two fragments.
    let pkt = core_packet(sub(2), 1000, false);
    let (mut b, s, l) = from_core(&pkt);
    let out = p.downstream(&mut b, s, l);
    assert_eq!(out, Out::Fragments(2));
    let frames = fragment(&mut p, out, &mut b);
    let t = session(2, 576).template;
    assert_eq!(reassemble(&frames, &t, 576), hop_spent(&pkt));
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.get(Counter::Fragmented), 1);
    assert_eq!(w.get(Counter::Fragments), 2);
    assert_eq!(w.get(Counter::Downstream), 1);
    assert_eq!(w.get(Counter::DownstreamBytes), 1000);
    assert_eq!(w.get(Counter::IcmpTooBig), 0);
    assert!(w.named_drops().all(|(_, n)| n == 0));
    let c = lab.w.counters(lab.ids[1]);
    assert_eq!((c.down_packets, c.down_bytes, c.drops), (1, 1000, 0));

    // No frames for the rest: the whole packet goes, by name.
    let (mut b, s, l) = from_core(&pkt);
    assert_eq!(p.downstream(&mut b, s, l), Out::Fragments(2));
    assert_eq!(p.no_frames(), Out::Drop(Drop::NoFrame));
    p.flush();
    assert_eq!(lab.w.worker(0).unwrap().drops(Drop::NoFrame), 1);
    assert_eq!(lab.w.counters(lab.ids[1]).drops, 1);
}

#[test]
fn the_access_mtu_limits_a_full_size_mru() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let on_1500 = Env {
        access_mtu: Some(1500),
        ..env()
    };
    let t = session(1, 1500).template;
    // MRU 1500, but 1,500 + 52 bytes of encapsulation would leave a
    // 1,552-byte frame on a 1,500-byte link: 1,462 is what fits.
    let mut p = Pipeline::new(&r, 0, on_1500).unwrap();
    let (mut b, s, l) = from_core(&core_packet(sub(1), 1462, true));
    let Out::Access(_, ol) = p.downstream(&mut b, s, l) else {
        panic!("1,462 bytes fit");
    };
    assert_eq!(ol, 14 + 1500);
    // DF clear: fragments, each frame within the MTU.
    let pkt = core_packet(sub(1), 1500, false);
    let (mut b, s, l) = from_core(&pkt);
    let out = p.downstream(&mut b, s, l);
    let frames = fragment(&mut p, out, &mut b);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.len() <= 14 + 1500));
    assert_eq!(reassemble(&frames, &t, 1462), hop_spent(&pkt));
    // DF set: "fragmentation needed" with the limit as next-hop MTU.
    let (mut b, s, l) = from_core(&core_packet(sub(1), 1500, true));
    let Out::Core(os, ol) = p.downstream(&mut b, s, l) else {
        panic!("no ICMP error");
    };
    let f = &b[os..os + ol];
    assert_eq!(&f[34..36], &[3, 4]);
    assert_eq!(&f[40..42], &1462u16.to_be_bytes());
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.get(Counter::IcmpTooBig), 1);
    assert_eq!(w.drops(Drop::TooBig), 1);

    // With no MTU known, the MRU alone: 1,500 bytes go whole.
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = from_core(&core_packet(sub(1), 1500, true));
    let Out::Access(_, ol) = p.downstream(&mut b, s, l) else {
        panic!("not encapsulated");
    };
    assert_eq!(ol, 1552);
}

#[test]
fn hairpin_respects_the_receivers_limit() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Subscriber 1 (MRU 1500) to subscriber 2 (MRU 576), DF clear.
    let mut pkt = ipv4(sub(1), sub(2), 64, 1000);
    pkt[6] = 0;
    pkt[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&pkt[..20]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
    let (mut b, s, l) = from_lac(1, &pkt, LAC);
    let out = p.upstream(&mut b, s, l);
    let frames = fragment(&mut p, out, &mut b);
    let mut sent = pkt.clone();
    sent[8] = 63;
    sent[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&sent[..20]);
    sent[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(reassemble(&frames, &session(2, 576).template, 576), sent);
    // DF set: the error goes back into subscriber 1's tunnel.
    let (mut b, s, l) = from_lac(1, &ipv4(sub(1), sub(2), 64, 1000), LAC);
    let Out::Access(os, ol) = p.upstream(&mut b, s, l) else {
        panic!("no ICMP error");
    };
    let f = &b[os..os + ol];
    let inner = &f[session(1, 1500).template.len()..];
    assert_eq!(&f[14 + 20 + 8 + 4..14 + 20 + 8 + 6], &201u16.to_be_bytes());
    assert_eq!(&inner[12..20], &[192, 0, 2, 254, 100, 64, 0, 1]);
    assert_eq!((inner[20], inner[21]), (3, 4));
    assert_eq!(&inner[26..28], &576u16.to_be_bytes());
    p.flush();
    let w = lab.w.worker(0).unwrap();
    assert_eq!(w.get(Counter::Hairpin), 2);
    assert_eq!(w.get(Counter::Fragments), 2);
    assert_eq!(w.get(Counter::IcmpTooBig), 1);
}

#[test]
fn a_sequenced_session_gets_consecutive_ns_and_a_drop_takes_none() {
    let mut lab = lab();
    let mut s = session(3, 1500);
    s.template = Template::new(&to_lac(3, true));
    // lnsd numbered the session's PPP negotiation: 0..=4.
    let id = lab.w.insert_at_ns(&s, 5).unwrap();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let inner = ipv4(HOST, sub(3), 60, 100);
    // The LAC's MAC is not resolved yet: dropped, and no Ns spent on it
    // (a gap would make a Linux LAC discard what follows).
    let (mut b, st, l) = from_core(&inner);
    assert_eq!(p.downstream(&mut b, st, l), Out::Drop(Drop::NoNextHop));
    assert_eq!(lab.w.peek_ns(id), Some(5));
    lac_hop(&mut lab.w);
    for want in [5u16, 6] {
        let (mut b, st, l) = from_core(&inner);
        let Out::Access(os, ol) = p.downstream(&mut b, st, l) else {
            panic!("not encapsulated");
        };
        let f = &b[os..os + ol];
        let l2tp = &f[14 + 20 + 8..];
        assert_eq!(l2tp[0] & 0x08, 0x08, "S bit");
        assert_eq!(u16::from_be_bytes([l2tp[6], l2tp[7]]), want);
    }
    // lnsd's next frame (an LCP echo) takes the next number.
    assert_eq!(lab.w.next_ns(id), Some(7));
}

#[test]
fn a_sessions_rate_is_policed_each_way_and_changes_live() {
    use lns_dataplane::table::{Rate, Rates};
    let mut lab = lab();
    lac_hop(&mut lab.w);
    // 1 Mbit/s up with a 2,000-byte bucket; 400 kbit/s down, 1,000 bytes.
    let rates = Rates {
        up: Some(Rate {
            kbps: 1_000,
            burst: 2_000,
        }),
        down: Some(Rate {
            kbps: 400,
            burst: 1_000,
        }),
    };
    let rated = Session {
        rates,
        ..session(1, 1500)
    };
    lab.w.update(lab.ids[0], &rated).unwrap();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Times on whole, even policing ticks (16.384 µs; the worker's clock
    // steps by two) keep the arithmetic exact.
    let tick = 1u64 << 14;
    let t0 = 1u64 << 30;
    p.set_time(t0);
    let up = |p: &mut Pipeline<'_>, n: u8| {
        let (mut b, s, l) = from_lac(n, &ipv4(sub(n), HOST, 64, 100), LAC);
        p.upstream(&mut b, s, l)
    };
    let down = |p: &mut Pipeline<'_>, n: u8| {
        let (mut b, s, l) = from_core(&ipv4(HOST, sub(n), 64, 100));
        p.downstream(&mut b, s, l)
    };
    let passed = |p: &mut Pipeline<'_>, f: &dyn Fn(&mut Pipeline<'_>) -> Out, n: usize| {
        (0..n)
            .filter(|_| f(p) != Out::Drop(Drop::RateLimited))
            .count()
    };
    // The full bucket passes its burst, then nothing within the tick.
    assert_eq!(passed(&mut p, &|p| up(p, 1), 25), 20);
    assert_eq!(passed(&mut p, &|p| down(p, 1), 15), 10);
    // A session without a rate is not touched.
    assert_eq!(passed(&mut p, &|p| up(p, 2), 25), 25);
    // 490 ticks (8.03 ms) later: 1,003 bytes up (125 B/ms), 401 down
    // (50 B/ms).
    p.set_time(t0 + 490 * tick);
    assert_eq!(passed(&mut p, &|p| up(p, 1), 25), 10);
    assert_eq!(passed(&mut p, &|p| down(p, 1), 15), 4);
    p.flush();
    let c = lab.w.counters(lab.ids[0]);
    assert_eq!((c.up_packets, c.down_packets), (30, 14));
    assert_eq!((c.up_rate_limited, c.down_rate_limited), (20, 16));
    assert_eq!(c.drops, 36, "rate drops are the session's drops too");
    let b = lab.w.worker(0).unwrap();
    assert_eq!(b.drops(Drop::RateLimited), 36);
    assert_eq!(lab.w.counters(lab.ids[1]).drops, 0);

    // The rate changes live (one slot write, the same session): the
    // bucket keeps its state, the new rate fills it from now on.
    let faster = Session {
        rates: Rates {
            up: Some(Rate {
                kbps: 10_000,
                burst: 2_000,
            }),
            down: None,
        },
        ..rated
    };
    lab.w.update(lab.ids[0], &faster).unwrap();
    p.set_time(t0 + (490 + 62) * tick);
    // 1.016 ms at 10 Mbit/s: 1,269 bytes, on a bucket holding 3.
    assert_eq!(passed(&mut p, &|p| up(p, 1), 25), 12);
    assert_eq!(passed(&mut p, &|p| down(p, 1), 50), 50, "no rate down");
    p.flush();
    let c = lab.w.counters(lab.ids[0]);
    assert_eq!((c.up_packets, c.down_packets), (42, 64));
}

const LNS6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xacc, 0, 0, 0, 0, 1);
const LAC6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xacc, 0, 0, 0, 0, 7);
/// The next-hop record lnsd keeps our IPv6 address in.
const SOURCE6: u32 = 3;

/// The outer headers between us and a LAC reached over IPv6 (`to_lac`:
/// from us; else from the LAC).
fn outer6(n: u8, to_lac: bool) -> Outer {
    let (src, dst) = if to_lac { (LNS6, LAC6) } else { (LAC6, LNS6) };
    Outer {
        src: src.into(),
        dst: dst.into(),
        ..if to_lac {
            self::to_lac(n, false)
        } else {
            Outer {
                dst_mac: LNS_MAC,
                src_mac: LAC_MAC,
                tunnel: 10,
                session: 100 + u16::from(n),
                ..self::to_lac(n, false)
            }
        }
    }
}

/// A LAC reached over IPv6 (RFC 2661 over UDP/IPv6): its frames are
/// decapsulated when their UDP checksum is right (and only then: RFC 8200
/// §8.1), and downstream goes out with an IPv6 outer header from our
/// address, which lnsd keeps in a next-hop record, with a checksum the
/// LAC's stack accepts.
#[test]
fn a_lac_over_ipv6_both_ways() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let id = lab
        .w
        .insert(&Session {
            peer: IpAddr::V6(LAC6),
            template: Template::new(&outer6(3, true)).with_source_hop(SOURCE6 as u16),
            ..session(3, 1500)
        })
        .unwrap();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let cat = |a: std::net::Ipv6Addr, b: std::net::Ipv6Addr| {
        let mut x = [0u8; 32];
        x[..16].copy_from_slice(&a.octets());
        x[16..].copy_from_slice(&b.octets());
        x
    };
    let (to_lns, to_lac) = (cat(LAC6, LNS6), cat(LNS6, LAC6));

    // Upstream.
    let inner = ipv4(sub(3), HOST, 64, 84);
    let t = Template::new(&outer6(3, false));
    let frame = || {
        let mut buf = vec![0u8; 2048];
        buf[256..256 + inner.len()].copy_from_slice(&inner);
        let (s, l) = encap(t.as_ref().with_addresses(&to_lns), &mut buf, 256, 84, 0).unwrap();
        (buf, s, l)
    };
    let (mut buf, s, l) = frame();
    let Out::Core(os, ol) = p.upstream(&mut buf, s, l) else {
        panic!("not forwarded");
    };
    assert_eq!(&buf[os + 14..os + ol], &hop_spent(&inner)[..]);
    // A wrong checksum, and none at all, are refused by name.
    for bad in [[0x12, 0x34], [0, 0]] {
        let (mut buf, s, l) = frame();
        buf[s + 14 + 40 + 6..s + 14 + 40 + 8].copy_from_slice(&bad);
        assert_eq!(p.upstream(&mut buf, s, l), Out::Drop(Drop::BadUdpChecksum));
    }

    // Downstream: nothing until our address is written, then the frame
    // the template makes with both addresses.
    let inner = ipv4(HOST, sub(3), 60, 100);
    let (mut buf, s, l) = from_core(&inner);
    assert_eq!(p.downstream(&mut buf, s, l), Out::Drop(Drop::NoNextHop));
    lab.w
        .set_nexthop(
            SOURCE6,
            &NextHop {
                dst_mac: [0; 6],
                src_mac: [0; 6],
                addr: Some(IpAddr::V6(LNS6)),
            },
        )
        .unwrap();
    let (mut buf, s, l) = from_core(&inner);
    let Out::Access(os, ol) = p.downstream(&mut buf, s, l) else {
        panic!("not encapsulated");
    };
    let mut expect = vec![0u8; 512];
    expect[256..356].copy_from_slice(&hop_spent(&inner));
    let t = Template::new(&outer6(3, true));
    let (es, el) = encap(t.as_ref().with_addresses(&to_lac), &mut expect, 256, 100, 0).unwrap();
    assert_eq!(&buf[os..os + ol], &expect[es..es + el]);
    let f = &buf[os..os + ol];
    let seg = &f[14 + 40..];
    let pseudo = checksum::pseudo_header_v6(LNS6, LAC6, 17, seg.len() as u32);
    assert_eq!(checksum::combine(&[pseudo, checksum::sum(seg)]), 0xffff);
    p.flush();
    let c = lab.w.counters(id);
    assert_eq!((c.up_packets, c.down_packets, c.drops), (1, 1, 1));
    let b = lab.w.worker(0).unwrap();
    assert_eq!(b.drops(Drop::BadUdpChecksum), 2);
}

/// Whether twin tables `a` (the express lanes and the general path) and
/// `b` (the general path alone) counted the same: every named counter
/// but what the lanes answered (`a`'s alone), every drop, and each
/// session's counters and next Ns.
fn same_counts(a: &Lab, b: &Lab) -> Result<(), proptest::test_runner::TestCaseError> {
    let (wa, wb) = (a.w.worker(0).unwrap(), b.w.worker(0).unwrap());
    let named = |w: &lns_dataplane::table::counters::WorkerBlock<'_>| {
        w.named()
            .filter(|(n, _)| *n != Counter::Express.name())
            .collect::<Vec<_>>()
    };
    proptest::prop_assert_eq!(named(&wa), named(&wb));
    proptest::prop_assert_eq!(wb.get(Counter::Express), 0);
    proptest::prop_assert_eq!(
        wa.named_drops().collect::<Vec<_>>(),
        wb.named_drops().collect::<Vec<_>>()
    );
    for (ia, ib) in a.ids.iter().zip(&b.ids) {
        proptest::prop_assert_eq!(a.w.counters(*ia), b.w.counters(*ib));
        proptest::prop_assert_eq!(a.w.peek_ns(*ia), b.w.peek_ns(*ib));
    }
    Ok(())
}

/// An express entry point under test ([`Pipeline::upstream_counted_with`],
/// [`Pipeline::downstream_with`]) and the general path it is held to.
type Lane<'p> = fn(&mut Pipeline<'p>, &mut [u8], usize, usize, Option<Key>) -> Out;
type General<'p> = fn(&mut Pipeline<'p>, &mut [u8], usize, usize) -> Out;

/// The twin tables' run: `frame[s..s + l]` three times (a small rate
/// passes the first and drops the rest; a sequenced session's Ns moves
/// on) through `lane` on `pa`, with `key` after the vector passes, and
/// through `general` on `pb`: the same answer and frame out each time,
/// then the same counts in `a` and `b`.
fn twin_runs<'x, 'y>(
    (a, pa, lane): (&Lab, &mut Pipeline<'x>, Lane<'x>),
    (b, pb, general): (&Lab, &mut Pipeline<'y>, General<'y>),
    frame: &[u8],
    s: usize,
    l: usize,
    key: Option<Key>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    for _ in 0..3 {
        let (mut fa, mut fb) = (frame.to_vec(), frame.to_vec());
        let mut key = key;
        pa.prefetch_bucket(key);
        pa.prefetch_slot(&mut key);
        let oa = lane(pa, &mut fa, s, l, key);
        let ob = general(pb, &mut fb, s, l);
        proptest::prop_assert_eq!(oa, ob);
        proptest::prop_assert!(fa == fb, "the frames differ");
    }
    pa.flush();
    pb.flush();
    same_counts(a, b)
}

/// The worker's split entry points, as its batch loop uses them: the
/// upstream express lane alone, then, for a frame it declines, the
/// declined path (neither counts the frame received, as
/// [`Pipeline::upstream_counted_with`] does not).
fn split_up<'p>(p: &mut Pipeline<'p>, b: &mut [u8], s: usize, l: usize, k: Option<Key>) -> Out {
    match p.upstream_express_with(b, s, l, k) {
        Some(out) => out,
        None => p.upstream_declined(b, s, l),
    }
}

/// [`split_up`] downstream: the lane, then the general path.
fn split_down<'p>(p: &mut Pipeline<'p>, b: &mut [u8], s: usize, l: usize, k: Option<Key>) -> Out {
    match p.downstream_express_with(b, s, l, k) {
        Some(out) => out,
        None => p.downstream_general(b, s, l),
    }
}

/// The twin tables' run of [`twin_runs`] for the split entry points
/// (`split`) against the per-frame one (`per_frame`), each on a table
/// `lab` makes: the same answer and frame out each time, then every
/// counter the same, `express_packets` too.
fn split_runs<F, G>(
    lab: impl Fn() -> Lab,
    env: Env,
    (per_frame, split): (F, G),
    frame: &[u8],
    s: usize,
    l: usize,
    key: Option<Key>,
) -> Result<(), proptest::test_runner::TestCaseError>
where
    F: for<'p> Fn(&mut Pipeline<'p>, &mut [u8], usize, usize, Option<Key>) -> Out,
    G: for<'p> Fn(&mut Pipeline<'p>, &mut [u8], usize, usize, Option<Key>) -> Out,
{
    let (a, c) = (lab(), lab());
    let (ra, rc) = (a.w.reader(), c.w.reader());
    let mut pa = Pipeline::new(&ra, 0, env).unwrap();
    let mut pc = Pipeline::new(&rc, 0, env).unwrap();
    pa.set_time(1 << 30);
    pc.set_time(1 << 30);
    for _ in 0..3 {
        let (mut fa, mut fc) = (frame.to_vec(), frame.to_vec());
        let (mut ka, mut kc) = (key, key);
        pa.prefetch_bucket(ka);
        pa.prefetch_slot(&mut ka);
        pc.prefetch_bucket(kc);
        pc.prefetch_slot(&mut kc);
        let oa = per_frame(&mut pa, &mut fa, s, l, ka);
        let oc = split(&mut pc, &mut fc, s, l, kc);
        proptest::prop_assert_eq!(oa, oc);
        proptest::prop_assert!(fa == fc, "the frames differ");
    }
    pa.flush();
    pc.flush();
    let (wa, wc) = (a.w.worker(0).unwrap(), c.w.worker(0).unwrap());
    proptest::prop_assert_eq!(
        wa.named().collect::<Vec<_>>(),
        wc.named().collect::<Vec<_>>()
    );
    proptest::prop_assert_eq!(
        wa.named_drops().collect::<Vec<_>>(),
        wc.named_drops().collect::<Vec<_>>()
    );
    for (ia, ic) in a.ids.iter().zip(&c.ids) {
        proptest::prop_assert_eq!(a.w.counters(*ia), c.w.counters(*ic));
        proptest::prop_assert_eq!(a.w.peek_ns(*ia), c.w.peek_ns(*ic));
    }
    Ok(())
}

/// A rate for the twin tables' first session: 0 none, 1 one that passes
/// a packet then drops the next, else one nothing here exceeds.
fn twin_rate(kind: u8) -> Option<lns_dataplane::table::Rate> {
    use lns_dataplane::table::Rate;
    match kind {
        0 => None,
        1 => Some(Rate {
            kbps: 8,
            burst: 150,
        }),
        _ => Some(Rate {
            kbps: 100_000,
            burst: 1_000_000,
        }),
    }
}

/// The table of [`the_express_lane_does_what_the_general_path_does`]:
/// sessions 1 and 2, the first with or without its address and a rate,
/// the core's next hop resolved or not.
fn express_lab(addressed: bool, rate: u8, core_hop: bool) -> Lab {
    use lns_dataplane::table::Rates;
    let mut w = Writer::heap(Sizes {
        capacity: 16,
        workers: 1,
    })
    .unwrap();
    let up = twin_rate(rate);
    let first = Session {
        ipv4: addressed.then_some(sub(1)),
        rates: Rates { up, down: None },
        ..session(1, 1500)
    };
    let ids = vec![
        w.insert(&first).unwrap(),
        w.insert(&session(2, 1500)).unwrap(),
    ];
    if core_hop {
        self::core_hop(&mut w);
    }
    Lab { w, ids }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    /// The upstream express lane (`Pipeline::upstream_counted` takes it
    /// first) against the general path alone, on twin tables: for frames
    /// of the common shape and frames with bytes changed, sessions with
    /// and without an address or a rate, the LAC or another sender, a
    /// spoofed source, a TTL running out, the gateway, another
    /// subscriber, no next hop: the same answer, the same frame out, the
    /// same counters, named and the sessions'. And the worker's split
    /// entry points (the lane alone, then the declined path) against the
    /// per-frame one: the same again, `express_packets` too.
    #[test]
    fn the_express_lane_does_what_the_general_path_does(
        addressed in proptest::bool::weighted(0.85),
        rate in 0u8..3,
        core_hop in proptest::bool::weighted(0.85),
        gateway: bool,
        n in proptest::prop_oneof![4 => proptest::strategy::Just(1u8), 1 => 2u8..4],
        from_lac in proptest::bool::weighted(0.85),
        src in proptest::prop_oneof![4 => proptest::strategy::Just(1u8), 1 => 2u8..10],
        dst in proptest::prop_oneof![4 => proptest::strategy::Just(0u8), 1 => 1u8..4],
        ttl in proptest::prop_oneof![4 => proptest::strategy::Just(64u8), 1 => 0u8..3],
        vlan: bool,
        len in proptest::prop_oneof![proptest::strategy::Just(84usize), 21usize..120],
        edits in proptest::collection::vec((0usize..110, proptest::num::u8::ANY), 0..3),
        cut in proptest::prop_oneof![3 => proptest::strategy::Just(0usize), 1 => 0usize..60],
        keyed in 0u8..3,
    ) {
        let gw = Ipv4Addr::new(100, 64, 0, 254);
        let dst = match dst {
            0 => HOST,
            1 => sub(2),
            2 => gw,
            _ => sub(7),
        };
        let inner = ipv4(sub(src), dst, ttl, len);
        let lac = if from_lac { LAC } else { Ipv4Addr::new(198, 51, 100, 8) };
        let (mut frame, s, mut l) = from_lac_on(n, &inner, lac, vlan.then_some(5));
        for (at, b) in edits {
            if let Some(x) = frame.get_mut(s + at) {
                *x = b;
            }
        }
        l = l.saturating_sub(cut);
        let env = Env {
            gateway: gateway.then_some(gw),
            ..env()
        };
        let (a, b) = (
            express_lab(addressed, rate, core_hop),
            express_lab(addressed, rate, core_hop),
        );
        let (ra, rb) = (a.w.reader(), b.w.reader());
        let mut pa = Pipeline::new(&ra, 0, env).unwrap();
        let mut pb = Pipeline::new(&rb, 0, env).unwrap();
        pa.set_time(1 << 30);
        pb.set_time(1 << 30);
        // What the vector passes peek is the frame's own key, whichever
        // reader (the fixed window or the general one) took it.
        let f = &frame[s..s + l];
        if let (Ok(m), Some(k)) = (data_message(f, 1701), pa.peek_upstream(f)) {
            proptest::prop_assert_eq!(k, Key::up(up_key(m.tunnel, m.session)));
        }
        // The key the vector passes take for it, another session's, or
        // none: the look-up uses one only once it is the frame's.
        let key = match keyed {
            0 => None,
            1 => pa.peek_upstream(&frame[s..s + l]),
            _ => {
                let (other, s, l) = from_lac_on(2, &inner, LAC, None);
                pa.peek_upstream(&other[s..s + l])
            }
        };
        twin_runs(
            (&a, &mut pa, Pipeline::upstream_counted_with),
            (&b, &mut pb, Pipeline::upstream_general),
            &frame,
            s,
            l,
            key,
        )?;
        // The worker's split entry points do what the per-frame one does.
        split_runs(
            || express_lab(addressed, rate, core_hop),
            env,
            (
                |p: &mut Pipeline<'_>, b: &mut [u8], s, l, k| p.upstream_counted_with(b, s, l, k),
                split_up,
            ),
            &frame,
            s,
            l,
            key,
        )?;
    }
}

/// The table of [`the_downstream_express_lane_does_what_the_general_path_does`]:
/// sessions 1 and 2, the first with the template and rate asked for, the
/// LACs' next hop resolved or not.
fn express_down_lab(vlan: bool, sequencing: bool, rate: u8, mru: u16, lac: bool) -> Lab {
    use lns_dataplane::table::Rates;
    let mut w = Writer::heap(Sizes {
        capacity: 16,
        workers: 1,
    })
    .unwrap();
    let down = twin_rate(rate);
    let first = Session {
        template: Template::new(&Outer {
            vlan: vlan.then_some(12),
            ..to_lac(1, sequencing)
        }),
        rates: Rates { up: None, down },
        ..session(1, mru)
    };
    let ids = vec![
        w.insert_at_ns(&first, 7).unwrap(),
        w.insert(&session(2, 1500)).unwrap(),
    ];
    if lac {
        lac_hop(&mut w);
    }
    Lab { w, ids }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    /// The downstream express lane (`Pipeline::downstream` takes it
    /// first) against the general path alone, on twin tables: templates
    /// with and without a tag and sequence numbers, rates, MRUs and access
    /// MTUs that fit the packet or not, DF either way, a TTL running out,
    /// an unknown destination, the LAC's next hop unresolved, too little
    /// headroom, bytes changed: the same answer, the same frame out, the
    /// same counters, named and the sessions'; and the split entry points
    /// against the per-frame one, as upstream.
    #[test]
    fn the_downstream_express_lane_does_what_the_general_path_does(
        vlan: bool,
        sequencing: bool,
        rate in 0u8..3,
        mru in proptest::prop_oneof![3 => proptest::strategy::Just(1500u16), 1 => 60u16..1500],
        mtu in proptest::option::of(500u16..1600),
        lac in proptest::bool::weighted(0.85),
        dst in proptest::prop_oneof![4 => proptest::strategy::Just(1u8), 1 => 2u8..10],
        ttl in proptest::prop_oneof![4 => proptest::strategy::Just(64u8), 1 => 0u8..3],
        len in proptest::prop_oneof![proptest::strategy::Just(84usize), 21usize..1600],
        df: bool,
        headroom in proptest::prop_oneof![4 => proptest::strategy::Just(256usize), 1 => 0usize..80],
        edits in proptest::collection::vec((0usize..40, proptest::num::u8::ANY), 0..3),
        cut in proptest::prop_oneof![3 => proptest::strategy::Just(0usize), 1 => 0usize..60],
        keyed in 0u8..3,
    ) {
        let mut inner = ipv4(HOST, sub(dst), ttl, len);
        if !df {
            inner[6] = 0;
            inner[10..12].copy_from_slice(&[0, 0]);
            let c = !checksum::sum(&inner[..20]);
            inner[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let mut frame = vec![0u8; headroom + 14 + len + 64];
        let s = headroom;
        frame[s..s + 6].copy_from_slice(&CORE_MAC);
        frame[s + 6..s + 12].copy_from_slice(&GW_MAC);
        frame[s + 12..s + 14].copy_from_slice(&[0x08, 0x00]);
        frame[s + 14..s + 14 + len].copy_from_slice(&inner);
        let mut l = 14 + len;
        for (at, b) in edits {
            frame[s + at] = b;
        }
        l = l.saturating_sub(cut);
        let env = Env {
            access_mtu: mtu,
            ..env()
        };
        let (a, b) = (
            express_down_lab(vlan, sequencing, rate, mru, lac),
            express_down_lab(vlan, sequencing, rate, mru, lac),
        );
        let (ra, rb) = (a.w.reader(), b.w.reader());
        let mut pa = Pipeline::new(&ra, 0, env).unwrap();
        let mut pb = Pipeline::new(&rb, 0, env).unwrap();
        pa.set_time(1 << 30);
        pb.set_time(1 << 30);
        let key = match keyed {
            0 => None,
            1 => pa.peek_downstream(&frame[s..s + l]),
            _ => pa.peek_downstream(&from_core(&ipv4(HOST, sub(2), 64, 84)).0[256..]),
        };
        twin_runs(
            (&a, &mut pa, Pipeline::downstream_with),
            (&b, &mut pb, Pipeline::downstream_general),
            &frame,
            s,
            l,
            key,
        )?;
        split_runs(
            || express_down_lab(vlan, sequencing, rate, mru, lac),
            env,
            (
                |p: &mut Pipeline<'_>, b: &mut [u8], s, l, k| p.downstream_with(b, s, l, k),
                split_down,
            ),
            &frame,
            s,
            l,
            key,
        )?;
    }
}

/// The packets nearly all traffic is take the express lanes, each way,
/// tagged LAC or not, sequenced session or not (`express_packets`); the
/// others (hairpin, the gateway, a LAC over IPv6...) take the general
/// path and are not counted there. What the lanes do is held to the
/// general path by the proptests above; this holds that they are used.
#[test]
fn the_common_packets_take_the_express_lanes() {
    let mut lab = lab();
    lac_hop(&mut lab.w);
    let sequenced = Session {
        template: Template::new(&Outer {
            vlan: Some(12),
            ..to_lac(2, true)
        }),
        ..session(2, 1500)
    };
    lab.w.update(lab.ids[1], &sequenced).unwrap();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // The first packet through each next hop takes the general path,
    // which reads the hop into the worker's cache; the lanes read the
    // cache alone.
    let w = lab.w.worker(0).unwrap();
    let (mut b, s, l) = from_lac(1, &ipv4(sub(1), HOST, 64, 84), LAC);
    assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
    let (mut b, s, l) = from_core(&ipv4(HOST, sub(1), 64, 84));
    assert!(matches!(p.downstream(&mut b, s, l), Out::Access(..)));
    p.flush();
    assert_eq!(w.get(Counter::Express), 0);
    let mut express = 0;
    for n in [1, 2] {
        for vlan in [None, Some(7)] {
            let (mut b, s, l) = from_lac_on(n, &ipv4(sub(n), HOST, 64, 84), LAC, vlan);
            assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
            express += 1;
        }
        let (mut b, s, l) = from_core(&ipv4(HOST, sub(n), 64, 84));
        // Its session's template is in the slot's first line, which is
        // all the key prefetches and all the lane reads.
        let key = p.peek_downstream(&b[s..s + l]).unwrap();
        assert!(!key.reads_whole());
        assert!(matches!(p.downstream(&mut b, s, l), Out::Access(..)));
        express += 1;
    }
    p.flush();
    assert_eq!(w.get(Counter::Express), express);
    // Subscriber to subscriber: the general path (a hairpin).
    let (mut b, s, l) = from_lac(1, &ipv4(sub(1), sub(2), 64, 84), LAC);
    assert!(matches!(p.upstream(&mut b, s, l), Out::Access(..)));
    p.flush();
    assert_eq!(w.get(Counter::Express), express);
    assert_eq!(w.get(Counter::Hairpin), 1);
}
