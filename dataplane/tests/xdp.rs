//! Pipeline fixtures for the XDP program (DESIGN §5.5): each frame runs
//! through the real program in the kernel with `BPF_PROG_TEST_RUN`; the
//! action and the one verdict counter it bumped are checked. Needs root
//! (CAP_BPF); skips with a reason otherwise, and fails under CI
//! (`XLNS_REQUIRE_TOOLS=1`) rather than skipping.

use lns_dataplane::loader::abi::{Config, Verdict};
use lns_dataplane::loader::switched::SwitchedMap;
use lns_dataplane::loader::{Steering, action};
use lns_dataplane::wire::checksum;
use std::net::{Ipv4Addr, Ipv6Addr};

const LO: u32 = 1;
const LNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LNS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn steering() -> Option<Steering> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "CI runs the XDP fixtures as root"
        );
        eprintln!("skipping: loading an XDP program needs root");
        return None;
    }
    Some(Steering::load().expect("loading the XDP program"))
}

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend(ethertype.to_be_bytes());
    f
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(len.to_be_bytes());
    h.extend([0, 1]);
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    let c = !checksum::fold(checksum::accumulate(0, &h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

fn ipv6(dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 7).octets());
    h.extend(dst.octets());
    h.extend(payload);
    h
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0x06, 0xa5];
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

/// An L2TP data message: flags word, then the optional fields as given.
fn l2tp(flags: u16, extra: &[u8], ppp: &[u8]) -> Vec<u8> {
    let mut l = flags.to_be_bytes().to_vec();
    l.extend(extra);
    l.extend(ppp);
    l
}

/// A subscriber's IPv4 packet (inner).
fn inner4() -> Vec<u8> {
    ipv4(
        Ipv4Addr::new(100, 64, 0, 9),
        Ipv4Addr::new(203, 0, 113, 1),
        1,
        0,
        &[8, 0, 0, 0, 0, 1, 0, 1],
    )
}

fn ppp(proto: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0xff, 0x03];
    p.extend(proto);
    p.extend(payload);
    p
}

/// The common case: Ethernet/IPv4/UDP 1701/L2TP (tunnel 1, session 2)/PPP.
fn access_frame(l2: &[u8]) -> Vec<u8> {
    let mut f = eth(0x0800);
    f.extend(ipv4(LAC, LNS, 17, 0, &udp(1701, l2)));
    f
}

fn ids() -> Vec<u8> {
    vec![0, 1, 0, 2]
}

fn data(ppp_frame: &[u8]) -> Vec<u8> {
    l2tp(0x0002, &ids(), ppp_frame)
}

fn fixtures_access() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    let ip = inner4();
    let mut out = vec![
        (
            "IPv4 in PPP, FF 03 present",
            access_frame(&data(&ppp(&[0, 0x21], &ip))),
            Verdict::AccessNoXsk,
        ),
        (
            "IPv4, address/control and protocol compressed",
            access_frame(&data(&[&[0x21u8][..], &ip].concat())),
            Verdict::AccessNoXsk,
        ),
        (
            "IPv6 in PPP",
            access_frame(&data(&ppp(&[0, 0x57], &[0x60; 40]))),
            Verdict::AccessNoXsk,
        ),
        (
            "IPv6 Router Solicitation to ff02::2: lnsd's",
            access_frame(&data(&ppp(
                &[0, 0x57],
                &ipv6("ff02::2".parse().unwrap(), 58, &[133, 0, 0, 0, 0, 0, 0, 0]),
            ))),
            Verdict::PassLinkLocal,
        ),
        (
            "IPv6 to a link-local address, protocol compressed: lnsd's",
            access_frame(&data(
                &[
                    &[0x57u8][..],
                    &ipv6("fe80::1".parse().unwrap(), 17, &[0; 8]),
                ]
                .concat(),
            )),
            Verdict::PassLinkLocal,
        ),
        (
            "IPv6 to a site-scope multicast group: routed, the workers'",
            access_frame(&data(&ppp(
                &[0, 0x57],
                &ipv6("ff05::1:3".parse().unwrap(), 17, &[0; 8]),
            ))),
            Verdict::AccessNoXsk,
        ),
        (
            "IPv6 in PPP shorter than its header",
            access_frame(&data(&ppp(&[0, 0x57], &[0x60; 20]))),
            Verdict::PassMalformed,
        ),
        (
            "L, S and O bits with two bytes of offset padding",
            access_frame(&l2tp(
                0x4a02,
                &[&[0u8, 30][..], &ids(), &[0, 5, 0, 0], &[0, 2, 0xaa, 0xbb]].concat(),
                &ppp(&[0, 0x21], &ip),
            )),
            Verdict::AccessNoXsk,
        ),
        (
            "LCP Echo-Request in a data message",
            access_frame(&data(&ppp(&[0xc0, 0x21], &[9, 1, 0, 8, 0, 0, 0, 0]))),
            Verdict::PassPppControl,
        ),
        (
            "IPCP",
            access_frame(&data(&ppp(&[0x80, 0x21], &[1, 1, 0, 4]))),
            Verdict::PassPppControl,
        ),
        (
            "control message (T=1): SCCRQ header",
            access_frame(&l2tp(0xc802, &[0, 12, 0, 0, 0, 0, 0, 0, 0, 0], &[])),
            Verdict::PassControl,
        ),
        (
            "L2TPv3 version field",
            access_frame(&l2tp(0x0003, &ids(), &ppp(&[0, 0x21], &ip))),
            Verdict::PassNotL2tp,
        ),
        (
            "UDP to another port",
            {
                let mut f = eth(0x0800);
                f.extend(ipv4(LAC, LNS, 17, 0, &udp(53, &[0; 12])));
                f
            },
            Verdict::PassNotL2tp,
        ),
        (
            "L2TP to another address",
            {
                let mut f = eth(0x0800);
                let other = Ipv4Addr::new(192, 0, 2, 99);
                f.extend(ipv4(
                    LAC,
                    other,
                    17,
                    0,
                    &udp(1701, &data(&ppp(&[0, 0x21], &ip))),
                ));
                f
            },
            Verdict::PassNotL2tp,
        ),
        (
            "ARP",
            [eth(0x0806), vec![0; 28]].concat(),
            Verdict::PassNotL2tp,
        ),
        (
            "first IPv4 fragment",
            {
                let mut f = eth(0x0800);
                f.extend(ipv4(
                    LAC,
                    LNS,
                    17,
                    0x2000,
                    &udp(1701, &data(&ppp(&[0, 0x21], &ip))),
                ));
                f
            },
            Verdict::PassFragment,
        ),
        (
            "truncated in the UDP header",
            access_frame(&data(&ppp(&[0, 0x21], &ip)))[..14 + 20 + 4].to_vec(),
            Verdict::PassMalformed,
        ),
        (
            "truncated in the L2TP header",
            access_frame(&data(&[]))[..14 + 20 + 8 + 1].to_vec(),
            Verdict::PassMalformed,
        ),
        // (The kernel's test runner refuses frames shorter than 14 bytes.)
        ("Ethernet header only", eth(0x0800), Verdict::PassMalformed),
        (
            "IPv6 outer to the LNS",
            {
                let mut f = eth(0x86dd);
                f.extend(ipv6(LNS6, 17, &udp(1701, &data(&ppp(&[0, 0x21], &ip)))));
                f
            },
            Verdict::AccessNoXsk,
        ),
    ];
    // One and two VLAN tags.
    let mut tagged = eth(0x8100);
    tagged.extend([0, 42, 0x08, 0x00]);
    tagged.extend(ipv4(
        LAC,
        LNS,
        17,
        0,
        &udp(1701, &data(&ppp(&[0, 0x21], &ip))),
    ));
    out.push(("802.1Q tagged", tagged, Verdict::AccessNoXsk));
    let mut qinq = eth(0x88a8);
    qinq.extend([0, 7, 0x81, 0x00, 0, 42, 0x08, 0x00]);
    qinq.extend(ipv4(
        LAC,
        LNS,
        17,
        0,
        &udp(1701, &data(&ppp(&[0, 0x21], &ip))),
    ));
    out.push(("QinQ", qinq, Verdict::AccessNoXsk));
    out
}

fn fixtures_core() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    let to = |dst: Ipv4Addr| {
        let mut f = eth(0x0800);
        f.extend(ipv4(Ipv4Addr::new(203, 0, 113, 1), dst, 1, 0, &[0; 8]));
        f
    };
    let to6 = |dst: Ipv6Addr| {
        let mut f = eth(0x86dd);
        f.extend(ipv6(dst, 58, &[0; 8]));
        f
    };
    vec![
        (
            "IPv4 to a pool address",
            to(Ipv4Addr::new(100, 64, 3, 4)),
            Verdict::CoreNoXsk,
        ),
        (
            "IPv4 to the second pool",
            to(Ipv4Addr::new(10, 9, 0, 1)),
            Verdict::CoreNoXsk,
        ),
        (
            "IPv4 elsewhere",
            to(Ipv4Addr::new(100, 65, 0, 1)),
            Verdict::PassNotPool,
        ),
        (
            "IPv6 to a delegated prefix",
            to6(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 7, 0, 0, 0, 1)),
            Verdict::CoreNoXsk,
        ),
        (
            "IPv6 elsewhere",
            to6(Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 1)),
            Verdict::PassNotPool,
        ),
        (
            "ARP",
            [eth(0x0806), vec![0; 28]].concat(),
            Verdict::PassNotPool,
        ),
        (
            "runt IPv4",
            [eth(0x0800), vec![0x45; 10]].concat(),
            Verdict::PassMalformed,
        ),
    ]
}

fn run(s: &mut Steering, name: &str, frame: &[u8], want: Verdict) {
    let before = s.counters().unwrap();
    let act = s
        .test_run(frame, LO)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let after = s.counters().unwrap();
    assert_eq!(
        act,
        action::PASS,
        "{name}: no socket is bound, so every frame passes"
    );
    let moved: Vec<(Verdict, u64)> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| a.1 != b.1)
        .map(|(b, a)| (a.0, a.1 - b.1))
        .collect();
    assert_eq!(moved, [(want, 1)], "{name}");
}

#[test]
fn access_side_fixtures() {
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: LO,
        core_ifindex: 999_999,
        lns_ipv4: Some(LNS),
        lns_ipv6: Some(LNS6),
        lns_port: 1701,
        switched: false,
    })
    .unwrap();
    for (name, frame, want) in fixtures_access() {
        run(&mut s, name, &frame, want);
    }
}

#[test]
fn core_side_fixtures() {
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: 999_999,
        core_ifindex: LO,
        lns_ipv4: Some(LNS),
        lns_ipv6: None,
        lns_port: 1701,
        switched: false,
    })
    .unwrap();
    s.set_pools(
        &[
            (Ipv4Addr::new(100, 64, 0, 0), 16),
            (Ipv4Addr::new(10, 9, 0, 0), 24),
        ],
        &[(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 56)],
    )
    .unwrap();
    for (name, frame, want) in fixtures_core() {
        run(&mut s, name, &frame, want);
    }
    // Pools are replaced, not added to.
    s.set_pools(&[(Ipv4Addr::new(10, 9, 0, 0), 24)], &[])
        .unwrap();
    let mut f = eth(0x0800);
    f.extend(ipv4(
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(100, 64, 3, 4),
        1,
        0,
        &[0; 8],
    ));
    run(&mut s, "old pool removed", &f, Verdict::PassNotPool);
}

#[test]
fn one_interface_for_both_sides_and_strangers() {
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: LO,
        core_ifindex: LO,
        lns_ipv4: Some(LNS),
        lns_ipv6: None,
        lns_port: 1701,
        switched: false,
    })
    .unwrap();
    s.set_pools(&[(Ipv4Addr::new(100, 64, 0, 0), 16)], &[])
        .unwrap();
    let ip = inner4();
    run(
        &mut s,
        "L2TP data",
        &access_frame(&data(&ppp(&[0, 0x21], &ip))),
        Verdict::AccessNoXsk,
    );
    let mut f = eth(0x0800);
    f.extend(ipv4(
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(100, 64, 0, 9),
        1,
        0,
        &[0; 8],
    ));
    run(&mut s, "to a subscriber", &f, Verdict::CoreNoXsk);
    s.configure(&Config {
        access_ifindex: 999_998,
        core_ifindex: 999_999,
        lns_ipv4: Some(LNS),
        ..Config::default()
    })
    .unwrap();
    run(
        &mut s,
        "unconfigured interface",
        &f,
        Verdict::PassOtherIface,
    );
}

/// Tunnel 1, session 2 (the fixtures' ids) as the switched map keys it.
const SWITCHED: u32 = 1 << 16 | 2;

fn lcp_echo() -> Vec<u8> {
    ppp(&[0xc0, 0x21], &[9, 1, 0, 8, 0, 0, 0, 0])
}

#[test]
fn every_data_frame_of_a_switched_session_goes_to_the_workers() {
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: LO,
        core_ifindex: 999_999,
        lns_ipv4: Some(LNS),
        lns_ipv6: None,
        lns_port: 1701,
        switched: false,
    })
    .unwrap();
    let lcp = access_frame(&data(&lcp_echo()));
    run(
        &mut s,
        "LCP, terminated session",
        &lcp,
        Verdict::PassPppControl,
    );
    // The key alone does nothing until the flag says to look.
    s.insert(SWITCHED).unwrap();
    run(&mut s, "LCP, flag clear", &lcp, Verdict::PassPppControl);
    s.set_any(true).unwrap();
    // "No socket" is the verdict of a frame the program would steer (no
    // AF_XDP socket is bound here).
    let ip = inner4();
    let switched: Vec<(&str, Vec<u8>, Verdict)> = vec![
        (
            "LCP of a switched session",
            lcp.clone(),
            Verdict::AccessNoXsk,
        ),
        (
            "CHAP, FF 03 and protocol compressed",
            access_frame(&data(&[0xc2, 0x23, 1, 1, 0, 4])),
            Verdict::AccessNoXsk,
        ),
        (
            "IPCP",
            access_frame(&data(&ppp(&[0x80, 0x21], &[1, 1, 0, 4]))),
            Verdict::AccessNoXsk,
        ),
        (
            "IPv4",
            access_frame(&data(&ppp(&[0, 0x21], &ip))),
            Verdict::AccessNoXsk,
        ),
        (
            "LCP with L, S and O bits",
            access_frame(&l2tp(
                0x4a02,
                &[&[0u8, 30][..], &ids(), &[0, 5, 0, 0], &[0, 0]].concat(),
                &lcp_echo(),
            )),
            Verdict::AccessNoXsk,
        ),
        (
            "LCP of another session",
            access_frame(&l2tp(0x0002, &[0, 1, 0, 3], &lcp_echo())),
            Verdict::PassPppControl,
        ),
        (
            "control message with the same ids",
            access_frame(&l2tp(0xc802, &[0, 12, 0, 1, 0, 2, 0, 0, 0, 0], &[])),
            Verdict::PassControl,
        ),
        (
            "truncated in the session id",
            access_frame(&l2tp(0x0002, &[0, 1, 0], &[])),
            Verdict::PassMalformed,
        ),
    ];
    for (name, frame, want) in switched {
        run(&mut s, name, &frame, want);
    }
    // Removed: back to lnsd; the flag cleared, the same.
    s.remove(SWITCHED).unwrap();
    s.remove(SWITCHED).unwrap();
    run(&mut s, "LCP, key removed", &lcp, Verdict::PassPppControl);
    s.insert(SWITCHED).unwrap();
    s.set_any(false).unwrap();
    run(&mut s, "LCP, flag cleared", &lcp, Verdict::PassPppControl);
}

#[test]
fn a_switched_leg_reached_through_the_core() {
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: 999_998,
        core_ifindex: LO,
        lns_ipv4: Some(LNS),
        lns_ipv6: None,
        lns_port: 1701,
        switched: true,
    })
    .unwrap();
    s.set_pools(&[(Ipv4Addr::new(100, 64, 0, 0), 16)], &[])
        .unwrap();
    s.insert(SWITCHED).unwrap();
    let lcp = access_frame(&data(&lcp_echo()));
    run(&mut s, "the target LNS's LCP", &lcp, Verdict::CoreNoXsk);
    let other = access_frame(&l2tp(0x0002, &[0, 1, 0, 3], &lcp_echo()));
    run(
        &mut s,
        "L2TP of no switched session",
        &other,
        Verdict::PassNotPool,
    );
    let mut f = eth(0x0800);
    f.extend(ipv4(
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(100, 64, 0, 9),
        1,
        0,
        &[0; 8],
    ));
    run(&mut s, "to a subscriber, as before", &f, Verdict::CoreNoXsk);
    s.set_any(false).unwrap();
    run(
        &mut s,
        "flag clear: not looked at",
        &lcp,
        Verdict::PassNotPool,
    );
}

/// What the daemon does: the map follows lnsd's table.
#[test]
fn the_switched_map_follows_the_table() {
    use lns_dataplane::loader::switched::SwitchedSync;
    use lns_dataplane::table::{Egress, Leg, Sizes, Writer};
    let Some(mut s) = steering() else { return };
    s.configure(&Config {
        access_ifindex: LO,
        core_ifindex: 999_999,
        lns_ipv4: Some(LNS),
        lns_ipv6: None,
        lns_port: 1701,
        switched: false,
    })
    .unwrap();
    let mut w = Writer::heap(Sizes {
        capacity: 8,
        workers: 1,
    })
    .unwrap();
    let leg = |tunnel, session, peer| Leg {
        tunnel,
        session,
        local: LNS,
        local_port: 1701,
        peer,
        peer_port: 1701,
        peer_tunnel: 7,
        peer_session: 8,
        sequencing: false,
        vlan: None,
        nexthop: 2,
        egress: Egress::Access,
        next_ns: 0,
    };
    let r = w.reader();
    let mut sync = SwitchedSync::start(&r, &mut s);
    let lcp = access_frame(&data(&lcp_echo()));
    run(&mut s, "before", &lcp, Verdict::PassPppControl);
    // Leg A is our tunnel 1, session 2.
    let ids = w
        .insert_switched(&leg(1, 2, LAC), &leg(5, 6, Ipv4Addr::new(203, 0, 113, 50)))
        .unwrap();
    sync.poll(&r, &mut s);
    assert_eq!(sync.len(), 2);
    run(&mut s, "switched", &lcp, Verdict::AccessNoXsk);
    w.remove_switched(ids).unwrap();
    sync.poll(&r, &mut s);
    run(&mut s, "removed", &lcp, Verdict::PassPppControl);
    assert_eq!(sync.failures, 0);
}
