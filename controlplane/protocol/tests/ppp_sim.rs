//! End to end in the simulator: emulated LACs full of PPP subscribers
//! against the LNS engine, through L2TP, LCP, CHAP, IPCP and IPv6CP, up
//! and down again, with the pools and the data-plane handle checked.

use lns_protocol::aaa::local::{User, Users};
use lns_protocol::aaa::pool::Pools;
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::l2tp::avp::{PppDisconnectCause, ResultCode};
use lns_protocol::l2tp::result::{CdnResult, StopCcnResult};
use lns_protocol::l2tp::stats::Counter;
use lns_protocol::l2tp::{
    Avp, CallParams, ClearCause, Endpoint, EndpointConfig, Event, MessageType, PeerPolicy,
    PeerRule, TunnelCause, decode_packet,
};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{Lns, LnsConfig, LnsEvent, NullDataPlane};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::{DownCause, LinkConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 1701))
}

fn endpoint(seed: u64) -> Endpoint {
    let cfg = EndpointConfig {
        session_setup_timeout: Duration::from_secs(3600),
        transport: lns_protocol::l2tp::transport::TransportConfig {
            max_retries: 12,
            ..Default::default()
        },
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    Endpoint::with_rng(cfg, StdRng::seed_from_u64(seed))
}

fn lns(users: usize, auth: AuthProtocol) -> Lns<NullDataPlane> {
    lns_with_pool(users, auth, "100.64.0.0/20")
}

fn lns_with_pool(users: usize, auth: AuthProtocol, range: &str) -> Lns<NullDataPlane> {
    let mut u = Users::default();
    for i in 0..users {
        u.insert(User {
            name: format!("user{i:04}"),
            password: format!("pw-{i}"),
            address: None,
            pool: None,
            rate_profile: None,
        });
    }
    // A user with a static address, to check claims mix with leases.
    u.insert(User {
        name: "static".into(),
        password: "pw-static".into(),
        address: Some(Ipv4Addr::new(100, 64, 0, 1 + 10)),
        pool: None,
        rate_profile: None,
    });
    let mut pools = Pools::default();
    pools.add("default", vec![range.parse().unwrap()]);
    let cfg = LnsConfig {
        ipv6: Default::default(),
        link: LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                auth: vec![auth],
                ..Default::default()
            },
            ..Default::default()
        },
        gateway: Ipv4Addr::new(100, 127, 255, 254),
        dns: [Some(Ipv4Addr::new(9, 9, 9, 9)), None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
    };
    Lns::new(endpoint(1), cfg, u, pools, NullDataPlane::default(), 7)
}

fn lac(seed: u64, auth: AuthProtocol) -> Lac {
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![auth],
            ..Default::default()
        },
        ..Default::default()
    };
    Lac::new(
        endpoint(seed),
        link,
        (b"nobody".to_vec(), String::new()),
        seed,
    )
}

fn lns_ups(events: &[MixedEvent]) -> Vec<Option<Ipv4Addr>> {
    events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lns(LnsEvent::SubscriberUp { ipv4, .. }) => Some(*ipv4),
            _ => None,
        })
        .collect()
}

fn lac_ups(events: &[MixedEvent]) -> Vec<Option<Ipv4Addr>> {
    events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lac(LacEvent::SubscriberUp { ipv4, .. }) => Some(*ipv4),
            _ => None,
        })
        .collect()
}

fn count_downs(events: &[MixedEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, MixedEvent::Lns(LnsEvent::SubscriberDown { .. })))
        .count()
}

/// `lacs` LACs × `tunnels` tunnels × `per_tunnel` subscribers up, then
/// every subscriber hangs up, then the tunnels close; checks addresses,
/// data-plane entries and that nothing is left.
fn run(
    seed: u64,
    imp: Impairments,
    lacs: u8,
    tunnels: usize,
    per_tunnel: usize,
    auth: AuthProtocol,
) {
    let total = usize::from(lacs) * tunnels * per_tunnel;
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), imp, seed);
    let l = sim.add(addr(1), Mixed::Lns(lns(total, auth.clone())));
    let mut lac_nodes = Vec::new();
    let mut n = 0usize;
    for i in 0..lacs {
        let node = sim.add(
            addr(10 + i),
            Mixed::Lac(lac(100 + u64::from(i), auth.clone())),
        );
        lac_nodes.push(node);
        for _ in 0..tunnels {
            let local = addr(10 + i);
            let t = sim
                .with(node, |e, now| {
                    e.lac().unwrap().open_tunnel(now, local, addr(1))
                })
                .unwrap();
            for _ in 0..per_tunnel {
                let creds = (format!("user{n:04}").into_bytes(), format!("pw-{n}"));
                n += 1;
                sim.with(node, |e, now| {
                    e.lac()
                        .unwrap()
                        .place_call(now, t, CallParams::default(), creds)
                })
                .unwrap();
            }
        }
    }
    let nodes = lac_nodes.clone();
    let up = sim.run_until(Duration::from_secs(3600), |sim| {
        lns_ups(&sim.nodes[l].events).len() == total
            // A duplicated Configure-Request may be renegotiating an NCP
            // right now, with forwarding paused; wait until all forward.
            && sim.nodes[l].endpoint.as_lns().is_some_and(|n| n.dataplane.entries.len() == total)
            && nodes
                .iter()
                .map(|&i| lac_ups(&sim.nodes[i].events).len())
                .sum::<usize>()
                == total
    });
    assert!(
        up,
        "seed {seed}: {} of {total} subscribers up at the LNS; downs: {:?}",
        lns_ups(&sim.nodes[l].events).len(),
        sim.nodes
            .iter()
            .flat_map(|n| n.events.iter())
            .filter(|e| matches!(
                e,
                MixedEvent::Lns(LnsEvent::SubscriberDown { .. })
                    | MixedEvent::Lac(LacEvent::SubscriberDown { .. })
                    | MixedEvent::Lns(LnsEvent::L2tp(
                        lns_protocol::l2tp::Event::SessionDown { .. }
                    ))
            ))
            .collect::<Vec<_>>()
    );
    // Every subscriber got a unique address, and the LACs saw the same ones.
    let at_lns: HashSet<Ipv4Addr> = lns_ups(&sim.nodes[l].events)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(at_lns.len(), total);
    let at_lacs: HashSet<Ipv4Addr> = lac_nodes
        .iter()
        .flat_map(|&i| lac_ups(&sim.nodes[i].events))
        .flatten()
        .collect();
    assert_eq!(at_lns, at_lacs);
    {
        let lns = sim.nodes[l].endpoint.lns().unwrap();
        assert_eq!(lns.addressing.pools.leased(), total);
        assert_eq!(lns.dataplane.entries.len(), total);
        assert!(
            lns.dataplane
                .entries
                .values()
                .all(|e| e.ipv4.is_some() && e.ipv6_id.is_some())
        );
        let ids: HashSet<[u8; 8]> = lns
            .dataplane
            .entries
            .values()
            .filter_map(|e| e.ipv6_id)
            .collect();
        assert_eq!(ids.len(), total, "IPv6 interface identifiers are unique");
        assert!(!ids.contains(&[0; 8]));
    }
    assert_eq!(count_downs(&sim.nodes[l].events), 0);

    // Every subscriber hangs up.
    for &i in &lac_nodes {
        let keys: Vec<_> = sim.nodes[i]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lac(LacEvent::SubscriberUp { key, .. }) => Some(*key),
                _ => None,
            })
            .collect();
        for k in keys {
            sim.with(i, |e, now| e.lac().unwrap().hang_up(now, k));
        }
    }
    let down = sim.run_until(Duration::from_secs(3600), |sim| {
        count_downs(&sim.nodes[l].events) == total
    });
    assert!(
        down,
        "seed {seed}: {} of {total} down",
        count_downs(&sim.nodes[l].events)
    );
    {
        let lns = sim.nodes[l].endpoint.lns().unwrap();
        assert_eq!(
            lns.addressing.pools.leased(),
            0,
            "every address back in the pool"
        );
        assert!(lns.dataplane.entries.is_empty());
        assert_eq!(lns.subscriber_count(), 0);
    }
    // Close the tunnels; nothing may be left anywhere.
    for &i in &lac_nodes {
        let ids: Vec<u16> = sim.nodes[i]
            .endpoint
            .lac()
            .unwrap()
            .endpoint
            .tunnels()
            .map(|t| t.local_id)
            .collect();
        for t in ids {
            let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "done");
            sim.with(i, |e, now| {
                e.lac().unwrap().endpoint.close_tunnel(now, t, rc)
            });
        }
    }
    sim.run_idle(Duration::from_secs(3600));
    let lns = sim.nodes[l].endpoint.lns().unwrap();
    assert!(lns.endpoint.is_empty());
    for &i in &lac_nodes {
        let lac = sim.nodes[i].endpoint.lac().unwrap();
        assert!(lac.endpoint.is_empty());
        assert_eq!(lac.subscriber_count(), 0);
    }
}

/// A LAC drops a tunnel with thousands of subscribers on it (StopCCN):
/// they all go down at once at the LNS. This used to recurse once per
/// session and overflow the stack (found by lns-bench with 10,000).
/// An LNS with `n` users, and a LAC that places `n` calls on one tunnel at
/// the same instant; returns the sim, the LNS's and LAC's nodes and the
/// LAC's tunnel.
fn calls_at_once(
    n: usize,
    auth: AuthProtocol,
    seed: u64,
) -> (Sim<Mixed<NullDataPlane>>, usize, usize, u16) {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), seed);
    let l = sim.add(addr(1), Mixed::Lns(lns(n, auth.clone())));
    let c = sim.add(addr(10), Mixed::Lac(lac(seed + 1, auth)));
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(10), addr(1))
        })
        .unwrap();
    for i in 0..n {
        let creds = (format!("user{i:04}").into_bytes(), format!("pw-{i}"));
        sim.with(c, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, t, CallParams::default(), creds)
        })
        .unwrap();
    }
    (sim, l, c, t)
}

#[test]
fn a_stopccn_clears_thousands_of_subscribers_at_once() {
    const N: usize = 3000;
    let (mut sim, l, c, t) = calls_at_once(N, AuthProtocol::Pap, 9);
    assert!(sim.run_until(Duration::from_secs(3600), |sim| {
        lns_ups(&sim.nodes[l].events).len() == N
    }));
    let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "LAC reboot");
    sim.with(c, |e, now| {
        e.lac().unwrap().endpoint.close_tunnel(now, t, rc)
    });
    sim.run_idle(Duration::from_secs(3600));
    assert_eq!(count_downs(&sim.nodes[l].events), N);
    let lns = sim.nodes[l].endpoint.lns().unwrap();
    assert_eq!(lns.subscriber_count(), 0);
    assert_eq!(lns.addressing.pools.leased(), 0);
    assert!(lns.dataplane.entries.is_empty());
    assert!(lns.endpoint.is_empty());
}

#[test]
fn ppp_never_overtakes_an_iccn_held_by_the_send_window() {
    // 300 calls at once: the LAC's send window holds most ICCNs back while
    // earlier calls' PPP runs. A PPP frame that overtook its ICCN would be
    // an orphan at the LNS and cost that subscriber a 3 s restart.
    const N: usize = 300;
    let (mut sim, l, _, _) = calls_at_once(N, AuthProtocol::ChapMd5, 11);
    assert!(
        sim.run_until(Duration::from_millis(2500), |sim| {
            lns_ups(&sim.nodes[l].events).len() == N
        }),
        "only {} of {N} up before a PPP restart timer could fire",
        lns_ups(&sim.nodes[l].events).len()
    );
    assert_eq!(sim.nodes[l].endpoint.lns().unwrap().ppp_orphans, 0);
}

#[test]
fn ppp_that_overtakes_its_iccn_on_the_wire_is_held_not_dropped() {
    // UDP may deliver a LAC's first LCP Configure-Request before the ICCN
    // sent just ahead of it. Driven by hand, with every datagram batch
    // from the LAC delivered data first, and the clock never moved: a
    // dropped frame would need a 3 s restart timer to recover, so the
    // subscriber only comes up if the LNS held the frame.
    let mut lns = lns(1, AuthProtocol::ChapMd5);
    let mut lac = lac(21, AuthProtocol::ChapMd5);
    let now = Instant::now();
    let (lns_addr, lac_addr) = (addr(1), addr(10));
    let t = lac.open_tunnel(now, lac_addr, lns_addr).unwrap();
    lac.place_call(
        now,
        t,
        CallParams::default(),
        (b"user0000".to_vec(), "pw-0".into()),
    )
    .unwrap();
    let is_control = |p: &[u8]| p.first().is_some_and(|b| b & 0x80 != 0);
    let mut reordered = 0;
    for _ in 0..100 {
        let mut batch: Vec<_> = std::iter::from_fn(|| lac.poll_transmit()).collect();
        if batch.iter().any(|t| is_control(&t.payload))
            && batch.iter().any(|t| !is_control(&t.payload))
        {
            // Data first: the PPP overtakes the control messages.
            batch.sort_by_key(|t| is_control(&t.payload));
            reordered += 1;
        }
        let lac_sent = batch.len();
        for tx in batch {
            lns.handle(now, lns_addr, lac_addr, &tx.payload);
        }
        let back: Vec<_> = std::iter::from_fn(|| lns.poll_transmit()).collect();
        let lns_sent = back.len();
        for tx in back {
            lac.handle(now, lac_addr, lns_addr, &tx.payload);
        }
        if lac_sent + lns_sent == 0 {
            break;
        }
    }
    assert!(
        reordered > 0,
        "the ICCN and a PPP frame never left together"
    );
    assert!(lns.ppp_early >= 1, "no frame was held");
    assert_eq!(lns.ppp_orphans, 0);
    let up = std::iter::from_fn(|| lns.poll_event())
        .any(|e| matches!(e, lns_protocol::lns::LnsEvent::SubscriberUp { .. }));
    assert!(up, "the subscriber did not come up without a restart timer");
}

#[test]
fn thousand_chap_subscribers_up_and_down_clean_wire() {
    run(1, Impairments::default(), 2, 5, 100, AuthProtocol::ChapMd5);
}

#[test]
fn subscribers_with_each_auth_method_under_loss() {
    // PPP rides on unreliable data messages: its own timers must recover.
    let imp = Impairments {
        loss: 0.10,
        duplicate: 0.05,
        reorder: 0.05,
        ..Default::default()
    };
    for (seed, m) in [
        (2, AuthProtocol::Pap),
        (3, AuthProtocol::ChapMd5),
        (4, AuthProtocol::MsChapV2),
    ] {
        run(seed, imp, 1, 2, 25, m);
    }
}

#[test]
fn pool_exhaustion_refuses_the_extra_subscriber_clearly() {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 9);
    // Two addresses for three subscribers.
    let l = sim.add(
        addr(1),
        Mixed::Lns(lns_with_pool(3, AuthProtocol::Pap, "100.64.0.1-100.64.0.2")),
    );
    let c = sim.add(addr(10), Mixed::Lac(lac(50, AuthProtocol::Pap)));
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(10), addr(1))
        })
        .unwrap();
    for n in 0..3 {
        let creds = (format!("user{n:04}").into_bytes(), format!("pw-{n}"));
        sim.with(c, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, t, CallParams::default(), creds)
        })
        .unwrap();
    }
    sim.run_idle(Duration::from_secs(60));
    assert_eq!(lns_ups(&sim.nodes[l].events).len(), 2);
    let refused: Vec<&DownCause> = sim.nodes[l]
        .events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lns(LnsEvent::SubscriberDown { cause, .. }) => Some(cause),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        matches!(refused[0], DownCause::NoAddress(m) if m.contains("exhausted")),
        "{refused:?}"
    );
    let lns = sim.nodes[l].endpoint.lns().unwrap();
    assert_eq!(lns.address_failures, 1);
    assert_eq!(lns.addressing.pools.leased(), 2);
}

/// The CDNs (Result Code, RFC 3145 cause) and StopCCNs (Result Code)
/// the LNS at `lns` put on the wire.
type Sent = (
    Vec<(ResultCode, Option<PppDisconnectCause>)>,
    Vec<ResultCode>,
);
fn sent_by(sim: &Sim<Mixed<NullDataPlane>>, lns: SocketAddr) -> Sent {
    let mut cdns = Vec::new();
    let mut stops = Vec::new();
    // Control messages have the T bit set; data messages carry PPP.
    for tx in sim
        .recorded
        .iter()
        .filter(|tx| tx.local == lns && tx.payload[0] & 0x80 != 0)
    {
        let Some(m) = decode_packet(&tx.payload, None).unwrap().message else {
            continue;
        };
        match m.msg_type {
            MessageType::Cdn => cdns.push((
                m.result_code().unwrap().clone(),
                m.avps.iter().find_map(|a| match a {
                    Avp::PppDisconnectCause(c) => Some(c.clone()),
                    _ => None,
                }),
            )),
            MessageType::StopCcn => stops.push(m.result_code().unwrap().clone()),
            _ => {}
        }
    }
    (cdns, stops)
}

/// Protocol text for people: no Rust Debug output.
fn assert_protocol_text(text: &str) {
    for rust in [
        "(",
        "\"",
        "LcpNegotiation",
        "LoopedBack",
        "AuthRefused",
        "AuthFailed",
        "NcpFailed",
        "PeerTerminated",
        "EchoTimeout",
        "Admin",
    ] {
        assert!(!text.contains(rust), "{text:?} contains {rust:?}");
    }
}

#[test]
fn cdns_and_stopccns_carry_protocol_text() {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 11);
    sim.record = true;
    let l = sim.add(addr(1), Mixed::Lns(lns(2, AuthProtocol::Pap)));
    let c = sim.add(addr(10), Mixed::Lac(lac(70, AuthProtocol::Pap)));
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(10), addr(1))
        })
        .unwrap();
    // user0000 with a wrong password, user0001 with the right one.
    for (user, password) in [("user0000", "nope"), ("user0001", "pw-1")] {
        let creds = (user.as_bytes().to_vec(), password.to_string());
        sim.with(c, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, t, CallParams::default(), creds)
        })
        .unwrap();
    }
    sim.run_idle(Duration::from_secs(60));
    let up: Vec<_> = sim.nodes[l]
        .events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lns(LnsEvent::SubscriberUp { key, .. }) => Some(*key),
            _ => None,
        })
        .collect();
    assert_eq!(up.len(), 1);

    // The authentication failure: result 2, error 0, the text, and the
    // RFC 3145 cause (13: authentication failed) with the same text.
    let (cdns, _) = sent_by(&sim, addr(1));
    assert_eq!(cdns.len(), 1, "{cdns:?}");
    let (rc, ppp) = &cdns[0];
    assert_eq!(
        (rc.result, rc.error),
        (CdnResult::GeneralError as u16, Some(0))
    );
    assert_eq!(rc.message_text(), "authentication failed");
    let ppp = ppp.as_ref().expect("RFC 3145 cause");
    assert_eq!((ppp.code, ppp.direction), (13, 2));
    assert_eq!(ppp.message, b"authentication failed");
    // Our own close is not a peer's unexpected message.
    let lns_counters = sim.nodes[l]
        .endpoint
        .lns()
        .unwrap()
        .endpoint
        .counters()
        .clone();
    assert_eq!(lns_counters.get(Counter::RxUnexpected), 0);

    // An operator's disconnect: result 3 (administrative), the reason.
    assert!(sim.with(l, |e, now| e.lns().unwrap().disconnect(
        now,
        up[0],
        DownCause::Operator("interop-test".into())
    )));
    sim.run_idle(Duration::from_secs(60));
    let (cdns, _) = sent_by(&sim, addr(1));
    assert_eq!(cdns.len(), 2, "{cdns:?}");
    let (rc, ppp) = &cdns[1];
    assert_eq!(
        (rc.result, rc.error),
        (CdnResult::Administrative as u16, Some(0))
    );
    assert_eq!(rc.message_text(), "administrative: interop-test");
    assert_eq!(ppp.as_ref().unwrap().code, 2);
    // The LAC heard it.
    assert!(sim.nodes[c].events.iter().any(|e| matches!(
        e,
        MixedEvent::Lac(LacEvent::L2tp(Event::SessionDown {
            cause: ClearCause::PeerCdn { result, .. },
            ..
        })) if result.message_text() == "administrative: interop-test"
    )));

    // Shutdown: StopCCN result 6 with its text, as the LAC heard it.
    sim.with(l, |e, now| e.lns().unwrap().shutdown(now));
    sim.run_idle(Duration::from_secs(60));
    let (cdns, stops) = sent_by(&sim, addr(1));
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].result, StopCcnResult::ShuttingDown as u16);
    assert_eq!(stops[0].message_text(), "LNS shutting down");
    assert!(sim.nodes[c].events.iter().any(|e| matches!(
        e,
        MixedEvent::Lac(LacEvent::L2tp(Event::TunnelDown {
            cause: TunnelCause::PeerStopCcn(rc),
            ..
        })) if rc.message_text() == "LNS shutting down"
    )));

    for text in cdns
        .iter()
        .flat_map(|(rc, ppp)| {
            [
                rc.message_text(),
                ppp.as_ref()
                    .map(|p| String::from_utf8_lossy(&p.message).into_owned())
                    .unwrap_or_default(),
            ]
        })
        .chain(stops.iter().map(|s| s.message_text()))
    {
        assert_protocol_text(&text);
    }
}
