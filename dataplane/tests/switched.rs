//! Switched sessions through the worker pipeline (DESIGN §2.1, §5.5): a
//! multi-hop gateway carries a LAC's session (leg A) on to a target LNS
//! (leg B). Every frame in and every frame expected out is written out
//! byte by byte here, not made with the templates under test.
//!
//! The gateway is 192.0.2.1 (port 1701) on both legs. Leg A: the LAC
//! 198.51.100.7:1701, reached on the access side; our ids 10/150, the
//! LAC's 20/250; no sequencing. Leg B: the LNS 203.0.113.50:1702, reached
//! through the core; our ids 30/350, the LNS's 40/450; sequenced.

use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template};
use lns_dataplane::node::icmp;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{Egress, Leg, NextHop, Session, Sizes, SlotId, SwitchedIds, Writer};
use lns_dataplane::wire::checksum;
use lns_dataplane::worker::pipeline::{Env, Out, Pipeline, SLOTS_AHEAD};
use std::net::{IpAddr, Ipv4Addr};

const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const LNS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
const GW_ACCESS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const GW_CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0xc0, 1];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0xc0, 2];
/// Next-hop indexes lnsd would use: toward the LAC, toward the LNS.
const HOP_LAC: u32 = 2;
const HOP_LNS: u32 = 3;

fn leg_a() -> Leg {
    Leg {
        tunnel: 10,
        session: 150,
        local: GW,
        local_port: 1701,
        peer: LAC,
        peer_port: 1701,
        peer_tunnel: 20,
        peer_session: 250,
        sequencing: false,
        vlan: None,
        nexthop: HOP_LAC,
        egress: Egress::Access,
        next_ns: 0,
    }
}

fn leg_b() -> Leg {
    Leg {
        tunnel: 30,
        session: 350,
        local: GW,
        local_port: 1701,
        peer: LNS,
        peer_port: 1702,
        peer_tunnel: 40,
        peer_session: 450,
        sequencing: true,
        vlan: None,
        nexthop: HOP_LNS,
        egress: Egress::Core,
        // lnsd sent 3 numbered frames on leg B while setting it up.
        next_ns: 3,
    }
}

struct Lab {
    w: Writer,
    ids: SwitchedIds,
    /// A terminated session beside it: tunnel 10, session 160.
    terminated: SlotId,
}

fn lab_with(a: Leg, b: Leg) -> Lab {
    let mut w = Writer::heap(Sizes {
        capacity: 16,
        workers: 1,
    })
    .unwrap();
    let ids = w.insert_switched(&a, &b).unwrap();
    let terminated = w
        .insert(&Session {
            tunnel: 10,
            session: 160,
            ipv4: Some(Ipv4Addr::new(100, 64, 0, 1)),
            ipv6_prefix: None,
            mru: 1500,
            peer: IpAddr::V4(LAC),
            peer_port: 1701,
            lac_nexthop: HOP_LAC,
            template: Template::new(&Outer {
                dst_mac: LAC_MAC,
                src_mac: GW_ACCESS_MAC,
                vlan: None,
                src: std::net::IpAddr::from(GW),
                src_port: 1701,
                dst: std::net::IpAddr::from(LAC),
                dst_port: 1701,
                tunnel: 20,
                session: 260,
                sequencing: false,
            }),
            switched: None,
            rates: Default::default(),
        })
        .unwrap();
    for (i, dst_mac, src_mac, addr) in [
        (HOP_LAC, LAC_MAC, GW_ACCESS_MAC, LAC),
        (
            HOP_LNS,
            ROUTER_MAC,
            GW_CORE_MAC,
            Ipv4Addr::new(192, 0, 2, 254),
        ),
    ] {
        w.set_nexthop(
            i,
            &NextHop {
                dst_mac,
                src_mac,
                addr: Some(IpAddr::V4(addr)),
            },
        )
        .unwrap();
    }
    Lab { w, ids, terminated }
}

fn lab() -> Lab {
    lab_with(leg_a(), leg_b())
}

fn env() -> Env {
    Env {
        lns_port: 1701,
        icmp: icmp::Source::default(),
        gateway: None,
        access_mtu: None,
        core_mtu: None,
        bare: false,
    }
}

/// Ethernet + IPv4 (no options, TTL 64, UDP, checksum computed here) +
/// UDP (no checksum) + `l2tp` (the L2TP header as given) + `ppp`.
fn frame(
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    l2tp: &[u8],
    ppp: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + l2tp.len() + ppp.len();
    let mut f = macs.0.to_vec();
    f.extend(macs.1);
    f.extend([0x08, 0x00]);
    let mut ip = vec![0x45, 0];
    ip.extend(((20 + udp_len) as u16).to_be_bytes());
    ip.extend([0, 0, 0, 0, 64, 17, 0, 0]);
    ip.extend(src.0.octets());
    ip.extend(dst.0.octets());
    let c = !checksum::sum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend(src.1.to_be_bytes());
    f.extend(dst.1.to_be_bytes());
    f.extend((udp_len as u16).to_be_bytes());
    f.extend([0, 0]);
    f.extend(l2tp);
    f.extend(ppp);
    f
}

/// An L2TP data header without optional fields.
fn plain(tunnel: u16, session: u16) -> Vec<u8> {
    [
        &[0x00u8, 0x02][..],
        &tunnel.to_be_bytes(),
        &session.to_be_bytes(),
    ]
    .concat()
}

/// With the S bit: Ns, and Nr 0 (reserved in data messages, RFC 2661 §3.1).
fn sequenced(tunnel: u16, session: u16, ns: u16) -> Vec<u8> {
    [
        &[0x08u8, 0x02][..],
        &tunnel.to_be_bytes(),
        &session.to_be_bytes(),
        &ns.to_be_bytes(),
        &[0, 0],
    ]
    .concat()
}

/// The LAC's frame to us on leg A.
fn from_lac(src: Ipv4Addr, l2tp: &[u8], ppp: &[u8]) -> Vec<u8> {
    frame((GW_ACCESS_MAC, LAC_MAC), (src, 1701), (GW, 1701), l2tp, ppp)
}

/// The LNS's frame to us on leg B, through the core router.
fn from_lns(l2tp: &[u8], ppp: &[u8]) -> Vec<u8> {
    frame(
        (GW_CORE_MAC, ROUTER_MAC),
        (LNS, 1702),
        (GW, 1701),
        l2tp,
        ppp,
    )
}

/// What must leave toward the LNS on leg B.
fn to_lns(ns: u16, ppp: &[u8]) -> Vec<u8> {
    frame(
        (ROUTER_MAC, GW_CORE_MAC),
        (GW, 1701),
        (LNS, 1702),
        &sequenced(40, 450, ns),
        ppp,
    )
}

/// What must leave toward the LAC on leg A.
fn to_lac(ppp: &[u8]) -> Vec<u8> {
    frame(
        (LAC_MAC, GW_ACCESS_MAC),
        (GW, 1701),
        (LAC, 1701),
        &plain(20, 250),
        ppp,
    )
}

/// `f` at offset 256 of a 2 KiB buffer, as in a UMEM frame.
fn buffer(f: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut b = vec![0u8; 2048];
    b[256..256 + f.len()].copy_from_slice(f);
    (b, 256, f.len())
}

/// LCP Configure-Request (MRU 1492, magic), FF 03 present.
fn lcp() -> Vec<u8> {
    vec![
        0xff, 0x03, 0xc0, 0x21, 1, 7, 0, 14, 1, 4, 0x05, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78,
    ]
}

/// A subscriber's IPv4 packet, address/control and protocol compressed
/// (ACFC and PFC, RFC 1661 §6.5-6.6): one protocol byte 0x21.
fn ip_compressed() -> Vec<u8> {
    let mut p = vec![0x21u8];
    let mut ip = vec![0x45, 0, 0, 28, 0, 9, 0, 0, 63, 1, 0, 0];
    ip.extend([100, 64, 0, 9]);
    ip.extend([203, 0, 113, 9]);
    let c = !checksum::sum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
    p.extend(ip);
    p
}

fn out_bytes(out: Out, buf: &[u8]) -> (&'static str, Vec<u8>) {
    match out {
        Out::Core(s, n) => ("core", buf[s..s + n].to_vec()),
        Out::Access(s, n) => ("access", buf[s..s + n].to_vec()),
        other => panic!("not sent: {other:?}"),
    }
}

#[test]
fn lcp_and_ip_from_the_lac_leave_for_the_lns_byte_exact_with_consecutive_ns() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // LCP, from a LAC that sets L and O (two bytes of offset padding)
    // and sequences its own leg: all of that header goes.
    let l2tp_a = [
        &[0x4a, 0x02][..],
        &(16 + lcp().len() as u16).to_be_bytes(),
        &plain(10, 150)[2..],
        &[0, 77, 0, 0],
        &[0, 2, 0xaa, 0xbb],
    ]
    .concat();
    let (mut b, s, l) = buffer(&from_lac(LAC, &l2tp_a, &lcp()));
    let out = p.upstream(&mut b, s, l);
    assert_eq!(out_bytes(out, &b), ("core", to_lns(3, &lcp())));
    // An IPv4 packet, compressed as the LAC's PPP peer chose.
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &ip_compressed()));
    let out = p.upstream(&mut b, s, l);
    assert_eq!(out_bytes(out, &b), ("core", to_lns(4, &ip_compressed())));
    // And whatever else PPP carries (here CHAP), numbered on.
    let chap = [0xc2, 0x23, 1, 1, 0, 4];
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &chap));
    let out = p.upstream(&mut b, s, l);
    assert_eq!(out_bytes(out, &b), ("core", to_lns(5, &chap)));
    // lnsd's own next frame on leg B goes on from there.
    assert_eq!(lab.w.next_ns(lab.ids.a), Some(6));
    p.flush();
    let blk = lab.w.worker(0).unwrap();
    let ppp_bytes = (lcp().len() + ip_compressed().len() + chap.len()) as u64;
    assert_eq!(blk.get(Counter::Switched), 3);
    assert_eq!(blk.get(Counter::SwitchedBytes), ppp_bytes);
    assert_eq!(blk.get(Counter::RxAccess), 3);
    assert_eq!(blk.get(Counter::Upstream), 0, "nothing decapsulated");
    let (ca, cb) = (lab.w.counters(lab.ids.a), lab.w.counters(lab.ids.b));
    assert_eq!((ca.up_packets, ca.up_bytes, ca.drops), (3, ppp_bytes, 0));
    assert_eq!((ca.down_packets, ca.down_bytes), (0, 0));
    assert_eq!(cb, Default::default(), "leg B received nothing");
}

#[test]
fn the_lns_frames_through_the_core_leave_for_the_lac_byte_exact() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // The LNS sequences leg B: its Ns/Nr go, leg A carries none; the P
    // bit it set on its LCP echo is kept.
    let echo = [0xff, 0x03, 0xc0, 0x21, 9, 3, 0, 8, 0xca, 0xfe, 0xba, 0xbe];
    let mut l2tp_b = sequenced(30, 350, 900);
    l2tp_b[0] |= 0x01;
    let (mut b, s, l) = buffer(&from_lns(&l2tp_b, &echo));
    let out = p.downstream(&mut b, s, l);
    let mut want = to_lac(&echo);
    want[14 + 28] |= 0x01;
    assert_eq!(out_bytes(out, &b), ("access", want));
    // A frame for the subscriber, FF 03 kept, an Ethernet trailer (a
    // short frame padded to 60 bytes) not.
    let ppp = [0xff, 0x03, 0x80, 0x21, 1, 1, 0, 4];
    let mut f = from_lns(&sequenced(30, 350, 901), &ppp);
    f.resize(60, 0);
    let (mut b, s, l) = buffer(&f);
    let out = p.downstream(&mut b, s, l);
    assert_eq!(out_bytes(out, &b), ("access", to_lac(&ppp)));
    p.flush();
    let blk = lab.w.worker(0).unwrap();
    assert_eq!(blk.get(Counter::RxCore), 2);
    assert_eq!(blk.get(Counter::Switched), 2);
    assert_eq!(blk.get(Counter::Downstream), 0, "nothing encapsulated");
    let cb = lab.w.counters(lab.ids.b);
    assert_eq!(
        (cb.up_packets, cb.up_bytes),
        (2, (echo.len() + ppp.len()) as u64)
    );
    assert_eq!(lab.w.counters(lab.ids.a), Default::default());
    // Leg A does not sequence: its Ns word was not touched.
    assert_eq!(lab.w.peek_ns(lab.ids.b), Some(0));
}

#[test]
fn one_interface_for_both_legs() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = buffer(&from_lns(&sequenced(30, 350, 1), &lcp()));
    assert_eq!(
        out_bytes(p.either(&mut b, s, l), &b),
        ("access", to_lac(&lcp()))
    );
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &lcp()));
    assert_eq!(
        out_bytes(p.either(&mut b, s, l), &b),
        ("core", to_lns(3, &lcp()))
    );
    // The LNS reached on the access side: the same frame comes in there.
    let (mut b, s, l) = buffer(&from_lns(&sequenced(30, 350, 2), &lcp()));
    assert_eq!(
        out_bytes(p.upstream(&mut b, s, l), &b),
        ("access", to_lac(&lcp()))
    );
}

#[test]
fn frames_from_anyone_but_the_legs_peer_are_dropped_by_name() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // Leg A's ids from another address, and from the LNS.
    let other = Ipv4Addr::new(198, 51, 100, 8);
    let (mut b, s, l) = buffer(&from_lac(other, &plain(10, 150), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::SwitchWrongPeer));
    let (mut b, s, l) = buffer(&from_lac(LNS, &plain(10, 150), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::SwitchWrongPeer));
    // Leg B's ids from the LAC.
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(30, 350), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::SwitchWrongPeer));
    p.flush();
    let blk = lab.w.worker(0).unwrap();
    assert_eq!(blk.drops(Drop::SwitchWrongPeer), 3);
    assert_eq!(blk.get(Counter::Switched), 0);
    assert_eq!(lab.w.counters(lab.ids.a).drops, 2);
    assert_eq!(lab.w.counters(lab.ids.b).drops, 1);
    // No Ns was spent on them.
    assert_eq!(lab.w.peek_ns(lab.ids.a), Some(3));
}

#[test]
fn refusals_are_named_and_counted_on_the_receiving_leg() {
    // The egress MTU: 20 + 8 + 10 (leg B's L2TP) + the PPP frame.
    let lab = lab();
    let r = lab.w.reader();
    let tight = Env {
        core_mtu: Some((38 + lcp().len()) as u16),
        ..env()
    };
    let mut p = Pipeline::new(&r, 0, tight).unwrap();
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &lcp()));
    assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
    let mut longer = lcp();
    longer.push(0);
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &longer));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::SwitchTooBig));
    p.flush();
    assert_eq!(lab.w.worker(0).unwrap().drops(Drop::SwitchTooBig), 1);
    // The access MTU does not bound what leaves on the core.
    let mut p = Pipeline::new(
        &r,
        0,
        Env {
            access_mtu: Some(40),
            ..env()
        },
    )
    .unwrap();
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &longer));
    assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
    // No headroom in front of the PPP frame for leg B's 52 bytes: the
    // LAC's frame sits at the very start of its buffer.
    let f = from_lac(LAC, &plain(10, 150), &lcp());
    let mut b = f.clone();
    assert_eq!(
        p.upstream(&mut b, 0, f.len()),
        Out::Drop(Drop::SwitchNoRoom)
    );
    // An empty PPP frame.
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &[]));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::Truncated));
    p.flush();
    let blk = lab.w.worker(0).unwrap();
    assert_eq!(blk.drops(Drop::SwitchNoRoom), 1);
    assert_eq!(blk.drops(Drop::Truncated), 1);
    assert_eq!(lab.w.counters(lab.ids.a).drops, 3);
    assert_eq!(lab.w.counters(lab.ids.a).up_packets, 2);
    // Only the two frames that left took a number.
    assert_eq!(lab.w.peek_ns(lab.ids.a), Some(5));

    // Until lnsd resolves the LNS's next hop, nothing goes.
    let mut lab = lab_with(
        leg_a(),
        Leg {
            nexthop: 9,
            ..leg_b()
        },
    );
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::NoNextHop));
    assert_eq!(lab.w.peek_ns(lab.ids.a), Some(3));
    lab.w
        .set_nexthop(
            9,
            &NextHop {
                dst_mac: ROUTER_MAC,
                src_mac: GW_CORE_MAC,
                addr: None,
            },
        )
        .unwrap();
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &lcp()));
    assert_eq!(
        out_bytes(p.upstream(&mut b, s, l), &b),
        ("core", to_lns(3, &lcp()))
    );
}

#[test]
fn terminated_sessions_and_strangers_are_as_before() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    // A terminated session's LCP is lnsd's, not the workers'.
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 160), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::NotIpPayload));
    // Unknown ids: an LCP frame is still `not_ip_payload`, IP unknown.
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 999), &lcp()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::NotIpPayload));
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 999), &ip_compressed()));
    assert_eq!(p.upstream(&mut b, s, l), Out::Drop(Drop::UnknownSession));
    // On the core side, L2TP for no switched leg is nobody's.
    let (mut b, s, l) = buffer(&from_lns(&plain(10, 160), &lcp()));
    assert_eq!(p.downstream(&mut b, s, l), Out::Drop(Drop::UnknownSession));
    p.flush();
    assert_eq!(lab.w.counters(lab.terminated), Default::default());
    assert_eq!(lab.w.worker(0).unwrap().get(Counter::Switched), 0);
}

/// A pcap file of `frames` (Ethernet link type).
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(f);
    }
    out
}

/// Wireshark's dissectors as the independent reader (DESIGN §5.1): what
/// the pipeline switched decodes cleanly as L2TP data with the other
/// leg's ids and Ns, carrying the PPP frame it got. Skips without tshark
/// unless `XLNS_REQUIRE_TOOLS` is set (CI).
#[test]
fn tshark_reads_switched_frames_with_the_other_legs_ids() {
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "CI has tshark"
        );
        eprintln!("skipping: no tshark");
        return;
    }
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let mut frames = Vec::new();
    for ppp in [lcp(), ip_compressed()] {
        let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &ppp));
        frames.push(out_bytes(p.upstream(&mut b, s, l), &b).1);
    }
    let (mut b, s, l) = buffer(&from_lns(&sequenced(30, 350, 9), &lcp()));
    frames.push(out_bytes(p.downstream(&mut b, s, l), &b).1);
    let path = std::env::temp_dir().join(format!("xlns-switched-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    let fields = [
        "ip.dst",
        "udp.dstport",
        "l2tp.tunnel",
        "l2tp.session",
        "l2tp.Ns",
        "ppp.protocol",
        "ppp.code",
        "ip.checksum.status",
        "_ws.malformed",
        "_ws.expert.severity",
    ];
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-o", "ip.check_checksum:TRUE", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    // The outer IP header is the first ip.dst; the inner one (the
    // subscriber's packet) follows it after a comma.
    let first = |s: &str| s.split(',').next().unwrap_or("").to_string();
    let want = [
        ("203.0.113.50", "1702", "40", "450", "3", "0xc021", "1"),
        ("203.0.113.50", "1702", "40", "450", "4", "0x0021", ""),
        ("198.51.100.7", "1701", "20", "250", "", "0xc021", "1"),
    ];
    for (row, w) in rows.iter().zip(want) {
        let got = (
            first(row[0]),
            row[1].to_string(),
            row[2].to_string(),
            row[3].to_string(),
            row[4].to_string(),
            row[5].to_string(),
            row[6].to_string(),
        );
        let w = (
            w.0.to_string(),
            w.1.to_string(),
            w.2.to_string(),
            w.3.to_string(),
            w.4.to_string(),
            w.5.to_string(),
            w.6.to_string(),
        );
        assert_eq!(got, w, "{text}");
        // The outer header checksum verified good (1), nothing malformed,
        // no error-level expert info.
        assert_eq!(first(row[7]), "1", "{text}");
        assert!(row[8].is_empty(), "malformed: {text}");
        assert!(!row[9].contains("8388608"), "expert error: {text}");
    }
}

/// An upstream IPv4 packet of a terminated session reads its slot's
/// first cache line alone, and its key says so to the prefetch; a leg's
/// frames read the template too. A batch after one that switched a frame
/// prefetches every upstream key's whole slot.
#[test]
fn upstream_keys_prefetch_the_whole_slot_after_a_switched_frame() {
    let lab = lab();
    let r = lab.w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let ip = from_lac(LAC, &plain(10, 150), &ip_compressed());
    let key = |p: &Pipeline<'_>| p.peek_upstream(&ip).unwrap();
    assert!(!key(&p).reads_whole(), "an IPv4 data message's key");
    let mut keys = [Some(key(&p))];
    p.prefetch_first(&mut keys);
    assert!(!keys[0].unwrap().reads_whole(), "no switched frame yet");
    let (mut b, s, l) = buffer(&from_lac(LAC, &plain(10, 150), &lcp()));
    assert!(matches!(p.upstream(&mut b, s, l), Out::Core(..)));
    // The batch's first keys and those prefetched ahead of the work alike.
    let mut keys = [Some(key(&p)); SLOTS_AHEAD + 1];
    p.prefetch_first(&mut keys);
    assert!(keys[0].unwrap().reads_whole(), "after a switched frame");
    assert!(
        !keys[SLOTS_AHEAD].unwrap().reads_whole(),
        "not prefetched yet"
    );
    p.prefetch_ahead(&mut keys, 0);
    assert!(keys[SLOTS_AHEAD].unwrap().reads_whole(), "prefetched ahead");
    let mut keys = [Some(key(&p)); SLOTS_AHEAD + 1];
    p.prefetch_first(&mut keys);
    p.prefetch_ahead(&mut keys, 0);
    assert!(!keys[0].unwrap().reads_whole(), "one batch later");
    assert!(!keys[SLOTS_AHEAD].unwrap().reads_whole(), "one batch later");
}
