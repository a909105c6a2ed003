//! Deterministic simulation of LACs and an LNS over an impaired wire
//! (DESIGN §5, layer 4): sessions come up and clear under loss,
//! duplication and reordering, and nothing is left behind.

use lns_protocol::engine::sim::{Impairments, Sim};
use lns_protocol::l2tp::avp::ResultCode;
use lns_protocol::l2tp::result::{CdnResult, StopCcnResult};
use lns_protocol::l2tp::stats::Counter;
use lns_protocol::l2tp::transport::TransportConfig;
use lns_protocol::l2tp::{
    CallParams, ClearCause, Endpoint, EndpointConfig, Event, PeerPolicy, PeerRule, RequestError,
    SessionKey, TunnelCause,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 1701))
}

fn cfg(retries: u32, secret: Option<&[u8]>, hide: bool) -> EndpointConfig {
    EndpointConfig {
        transport: TransportConfig {
            max_retries: retries,
            ..Default::default()
        },
        session_setup_timeout: Duration::from_secs(3600),
        max_tunnels: 20_000,
        max_tunnels_per_peer: 20_000,
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy {
                secret: secret.map(<[u8]>::to_vec),
                auth: if secret.is_some() {
                    lns_protocol::l2tp::TunnelAuth::Required
                } else {
                    lns_protocol::l2tp::TunnelAuth::Optional
                },
                hide_avps: hide,
                // Our own peer unhides setup messages: cover them too.
                hide_avps_in_tunnel_setup: hide,
                answer_outgoing_calls: true,
                ..Default::default()
            },
        }],
        ..Default::default()
    }
}

fn ups(events: &[Event]) -> HashSet<SessionKey> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionUp { key, .. } => Some(*key),
            _ => None,
        })
        .collect()
}

fn downs(events: &[Event]) -> Vec<(SessionKey, ClearCause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionDown { key, cause } => Some((*key, cause.clone())),
            _ => None,
        })
        .collect()
}

struct Scenario {
    seed: u64,
    impairments: Impairments,
    lacs: u8,
    tunnels_per_lac: usize,
    sessions_per_tunnel: usize,
    retries: u32,
    secret: Option<&'static [u8]>,
    hide: bool,
}

/// Brings every session up, clears half from each side, closes half the
/// tunnels from each side, and checks that every session was reported up
/// and down exactly once on both sides and that no state is left.
fn run(s: Scenario) {
    let start = Instant::now();
    let mut sim = Sim::new(start, s.impairments, s.seed);
    let lns = sim.add(
        addr(1),
        Endpoint::with_rng(
            cfg(s.retries, s.secret, s.hide),
            StdRng::seed_from_u64(s.seed ^ 1),
        ),
    );
    let mut lacs = Vec::new();
    for l in 0..s.lacs {
        lacs.push(sim.add(
            addr(10 + l),
            Endpoint::with_rng(
                cfg(s.retries, s.secret, s.hide),
                StdRng::seed_from_u64(s.seed ^ (100 + u64::from(l))),
            ),
        ));
    }
    let mut lac_tunnels = Vec::new();
    for &lac in &lacs {
        for _ in 0..s.tunnels_per_lac {
            let local = sim.nodes[lac].addr;
            let t = sim
                .with(lac, |e, now| e.open_tunnel(now, local, addr(1)))
                .unwrap();
            lac_tunnels.push((lac, t));
            for n in 0..s.sessions_per_tunnel {
                let params = CallParams {
                    calling_number: Some(format!("lac{lac}-t{t}-{n}").into_bytes()),
                    ..Default::default()
                };
                sim.with(lac, |e, now| e.place_call(now, t, params))
                    .unwrap();
            }
        }
    }
    let total = usize::from(s.lacs) * s.tunnels_per_lac * s.sessions_per_tunnel;
    let lac_ids = lacs.clone();
    let up = sim.run_until(Duration::from_secs(3600), |sim| {
        ups(&sim.nodes[lns].events).len() == total
            && lac_ids
                .iter()
                .map(|&l| ups(&sim.nodes[l].events).len())
                .sum::<usize>()
                == total
    });
    let lns_c = sim.nodes[lns].endpoint.counters().clone();
    assert!(
        up,
        "seed {}: only {} of {total} sessions up at the LNS; counters {:?}",
        s.seed,
        ups(&sim.nodes[lns].events).len(),
        lns_c.iter().filter(|(_, v)| *v > 0).collect::<Vec<_>>()
    );
    for n in &sim.nodes {
        assert!(
            downs(&n.events).is_empty(),
            "seed {}: {:?}",
            s.seed,
            downs(&n.events)
        );
        assert_eq!(n.endpoint.counters().get(Counter::TunnelsTimedOut), 0);
    }
    assert_eq!(sim.nodes[lns].endpoint.session_count(), total);

    // The LNS knows each LAC session by its own key; pair them through the
    // calling number the LAC sent.
    let mut lns_keys: Vec<SessionKey> = ups(&sim.nodes[lns].events).into_iter().collect();
    lns_keys.sort();
    // Clear half from the LNS side.
    for key in lns_keys.iter().step_by(2) {
        let rc = ResultCode::cdn(CdnResult::Administrative, None, "admin");
        assert!(sim.with(lns, |e, now| e.disconnect(now, *key, rc, None)));
    }
    // And the other half from the LACs.
    for &lac in &lacs {
        let mut keys: Vec<SessionKey> = ups(&sim.nodes[lac].events).into_iter().collect();
        keys.sort();
        for key in keys {
            let rc = ResultCode::cdn(CdnResult::LossOfCarrier, None, "hangup");
            // Some are already gone (cleared by the LNS); that is fine.
            sim.with(lac, |e, now| e.disconnect(now, key, rc, None));
        }
    }
    let all_down = sim.run_until(Duration::from_secs(3600), |sim| {
        sim.nodes.iter().all(|n| n.endpoint.session_count() == 0)
            && downs(&sim.nodes[lns].events).len() == total
    });
    assert!(all_down, "seed {}: sessions did not all clear", s.seed);

    // Close half the tunnels from the LACs, the rest from the LNS.
    let lns_tunnels: Vec<u16> = {
        let mut v: Vec<u16> = sim.nodes[lns]
            .endpoint
            .tunnels()
            .map(|t| t.local_id)
            .collect();
        v.sort_unstable();
        v
    };
    for (i, (lac, t)) in lac_tunnels.iter().enumerate() {
        if i % 2 == 0 {
            let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "done");
            sim.with(*lac, |e, now| e.close_tunnel(now, *t, rc));
        }
    }
    for t in lns_tunnels {
        let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "done");
        sim.with(lns, |e, now| e.close_tunnel(now, t, rc));
    }
    sim.run_idle(Duration::from_secs(3600));

    for (i, n) in sim.nodes.iter().enumerate() {
        assert!(
            n.endpoint.is_empty(),
            "seed {}: node {i} still holds {} tunnels",
            s.seed,
            n.endpoint.tunnel_count()
        );
        // Every session up exactly once and down exactly once.
        let up = ups(&n.events);
        let down = downs(&n.events);
        let down_keys: HashSet<SessionKey> = down.iter().map(|(k, _)| *k).collect();
        assert_eq!(down.len(), down_keys.len(), "double SessionDown");
        assert_eq!(up, down_keys);
        let tunnels_down = n
            .events
            .iter()
            .filter(|e| matches!(e, Event::TunnelDown { .. }))
            .count();
        let tunnels_up = n
            .events
            .iter()
            .filter(|e| matches!(e, Event::TunnelUp { .. }))
            .count();
        assert_eq!(tunnels_up, tunnels_down);
        assert!(n.events.iter().all(|e| !matches!(
            e,
            Event::TunnelDown {
                cause: TunnelCause::Timeout,
                ..
            }
        )));
    }
    // The impairments really happened and the transport really coped.
    let sum = |c: Counter| -> u64 { sim.nodes.iter().map(|n| n.endpoint.counters().get(c)).sum() };
    if s.impairments.loss > 0.0 {
        assert!(sim.lost > 0 && sum(Counter::TxRetransmits) > 0);
    }
    if s.impairments.duplicate > 0.0 {
        assert!(sum(Counter::RxDuplicate) > 0);
    }
    if s.impairments.reorder > 0.0 {
        assert!(sum(Counter::RxHeldOutOfOrder) > 0);
    }
    eprintln!(
        "seed {}: {} datagrams, {} lost, {} retransmits, {} duplicates, {} held, {} virtual s",
        s.seed,
        sim.sent,
        sim.lost,
        sum(Counter::TxRetransmits),
        sum(Counter::RxDuplicate),
        sum(Counter::RxHeldOutOfOrder),
        (sim.now - start).as_secs()
    );
}

fn imp(loss: f64, duplicate: f64, reorder: f64) -> Impairments {
    Impairments {
        loss,
        duplicate,
        reorder,
        ..Default::default()
    }
}

#[test]
fn thousand_sessions_over_ten_tunnels_clean_wire() {
    run(Scenario {
        seed: 1,
        impairments: imp(0.0, 0.0, 0.0),
        lacs: 2,
        tunnels_per_lac: 5,
        sessions_per_tunnel: 100,
        retries: 5,
        secret: None,
        hide: false,
    });
}

#[test]
fn thousand_sessions_with_20pct_loss() {
    // At 20 % loss each way an exchange fails ~36 % of the time; the
    // retry budget is raised so the tunnels themselves survive.
    for seed in [2, 3] {
        run(Scenario {
            seed,
            impairments: imp(0.2, 0.0, 0.0),
            lacs: 2,
            tunnels_per_lac: 5,
            sessions_per_tunnel: 100,
            retries: 14,
            secret: None,
            hide: false,
        });
    }
}

#[test]
fn thousand_sessions_with_20pct_duplication_and_reordering() {
    for seed in [4, 5] {
        run(Scenario {
            seed,
            impairments: imp(0.05, 0.2, 0.2),
            lacs: 2,
            tunnels_per_lac: 5,
            sessions_per_tunnel: 100,
            retries: 8,
            secret: None,
            hide: false,
        });
    }
}

#[test]
fn authenticated_hidden_tunnels_under_impairment() {
    run(Scenario {
        seed: 6,
        impairments: imp(0.1, 0.1, 0.1),
        lacs: 2,
        tunnels_per_lac: 5,
        sessions_per_tunnel: 20,
        retries: 10,
        secret: Some(b"s3cret"),
        hide: true,
    });
}

#[test]
fn one_tunnel_carries_65535_sessions() {
    let mut sim = Sim::new(Instant::now(), Impairments::default(), 7);
    let lns = sim.add(
        addr(1),
        Endpoint::with_rng(cfg(5, None, false), StdRng::seed_from_u64(70)),
    );
    let lac = sim.add(
        addr(2),
        Endpoint::with_rng(cfg(5, None, false), StdRng::seed_from_u64(71)),
    );
    let t = sim
        .with(lac, |e, now| e.open_tunnel(now, addr(2), addr(1)))
        .unwrap();
    for _ in 0..65_535 {
        sim.with(lac, |e, now| e.place_call(now, t, CallParams::default()))
            .unwrap();
    }
    // The 65,536th cannot get a session id.
    assert_eq!(
        sim.with(lac, |e, now| e.place_call(now, t, CallParams::default())),
        Err(RequestError::SessionLimit)
    );
    let ok = sim.run_until(Duration::from_secs(3600), |sim| {
        sim.nodes[lns].endpoint.counters().get(Counter::SessionsUp) == 65_535
            && sim.nodes[lac].endpoint.counters().get(Counter::SessionsUp) == 65_535
    });
    assert!(ok);
    assert_eq!(sim.nodes[lns].endpoint.session_count(), 65_535);
    // Ids are unique and never 0 on both sides.
    let ids: HashSet<u16> = sim.nodes[lns]
        .endpoint
        .tunnels()
        .flat_map(|t| t.sessions().map(|s| s.local_id))
        .collect();
    assert_eq!(ids.len(), 65_535);
    assert!(!ids.contains(&0));
    // StopCCN clears them all at both ends.
    let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "");
    sim.with(lac, |e, now| e.close_tunnel(now, t, rc));
    sim.run_idle(Duration::from_secs(120));
    assert!(sim.nodes.iter().all(|n| n.endpoint.is_empty()));
    assert_eq!(
        sim.nodes[lns]
            .endpoint
            .counters()
            .get(Counter::SessionsDown),
        65_535
    );
}

#[test]
fn ten_thousand_tunnels_on_one_endpoint() {
    let mut sim = Sim::new(Instant::now(), Impairments::default(), 8);
    let lns = sim.add(
        addr(1),
        Endpoint::with_rng(cfg(5, None, false), StdRng::seed_from_u64(80)),
    );
    let lacs: Vec<usize> = (0..4)
        .map(|i| {
            sim.add(
                addr(10 + i),
                Endpoint::with_rng(
                    cfg(5, None, false),
                    StdRng::seed_from_u64(81 + u64::from(i)),
                ),
            )
        })
        .collect();
    let mut per_lac: HashMap<usize, Vec<u16>> = HashMap::new();
    for n in 0..10_000usize {
        let lac = lacs[n % lacs.len()];
        let local = sim.nodes[lac].addr;
        let t = sim
            .with(lac, |e, now| e.open_tunnel(now, local, addr(1)))
            .unwrap();
        sim.with(lac, |e, now| e.place_call(now, t, CallParams::default()))
            .unwrap();
        per_lac.entry(lac).or_default().push(t);
    }
    let ok = sim.run_until(Duration::from_secs(600), |sim| {
        sim.nodes[lns].endpoint.counters().get(Counter::SessionsUp) == 10_000
    });
    assert!(ok);
    assert_eq!(sim.nodes[lns].endpoint.tunnel_count(), 10_000);
    assert_eq!(
        sim.nodes[lns].endpoint.counters().get(Counter::TunnelsUp),
        10_000
    );
    // Shutdown: StopCCN to every peer, all acknowledged.
    sim.with(lns, |e, now| e.shutdown(now));
    let drained = sim.run_until(Duration::from_secs(60), |sim| {
        sim.nodes[lns].endpoint.is_drained()
    });
    assert!(drained);
    sim.run_idle(Duration::from_secs(120));
    assert!(sim.nodes.iter().all(|n| n.endpoint.is_empty()));
    for lac in lacs {
        let stops = sim.nodes[lac]
            .events
            .iter()
            .filter(|e| {
                matches!(e, Event::TunnelDown { cause: TunnelCause::PeerStopCcn(rc), .. } if rc.result == 6)
            })
            .count();
        assert_eq!(stops, per_lac[&lac].len());
    }
}

#[test]
fn outgoing_calls_lns_dials_lac_answers() {
    // LNS role: open a tunnel to a LAC and ask it to place calls (OCRQ);
    // the LAC role answers (OCRP, OCCN) with the emulator's policy.
    let mut sim = Sim::new(Instant::now(), imp(0.1, 0.1, 0.1), 9);
    let lns = sim.add(
        addr(1),
        Endpoint::with_rng(cfg(10, None, false), StdRng::seed_from_u64(90)),
    );
    let lac = sim.add(
        addr(2),
        Endpoint::with_rng(cfg(10, None, false), StdRng::seed_from_u64(91)),
    );
    let t = sim
        .with(lns, |e, now| e.open_tunnel(now, addr(1), addr(2)))
        .unwrap();
    let mut keys = Vec::new();
    for n in 0..20 {
        let params = CallParams {
            called_number: Some(format!("555{n:04}").into_bytes()),
            ..Default::default()
        };
        keys.push(sim.with(lns, |e, now| e.dial(now, t, params)).unwrap());
    }
    let ok = sim.run_until(Duration::from_secs(600), |sim| {
        ups(&sim.nodes[lns].events).len() == 20 && ups(&sim.nodes[lac].events).len() == 20
    });
    assert!(ok);
    let kinds = |events: &[Event]| -> Vec<lns_protocol::l2tp::CallKind> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::SessionUp { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect()
    };
    assert!(
        kinds(&sim.nodes[lns].events)
            .iter()
            .all(|k| *k == lns_protocol::l2tp::CallKind::LnsOutgoing)
    );
    assert!(
        kinds(&sim.nodes[lac].events)
            .iter()
            .all(|k| *k == lns_protocol::l2tp::CallKind::LacOutgoing)
    );
    // The LAC saw the called numbers the LNS asked for.
    let lac_saw: HashSet<Vec<u8>> = sim.nodes[lac]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SessionUp { peer_avps, .. } => peer_avps.iter().find_map(|a| match a {
                lns_protocol::l2tp::Avp::CalledNumber(v) => Some(v.clone()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(lac_saw.len(), 20);
    // A LAC that does not answer OCRQs refuses them with a CDN.
    let mut sim = Sim::new(Instant::now(), Impairments::default(), 10);
    let lns = sim.add(
        addr(1),
        Endpoint::with_rng(cfg(5, None, false), StdRng::seed_from_u64(92)),
    );
    let mut no = cfg(5, None, false);
    no.peers[0].policy.answer_outgoing_calls = false;
    let lac = sim.add(addr(2), Endpoint::with_rng(no, StdRng::seed_from_u64(93)));
    let t = sim
        .with(lns, |e, now| e.open_tunnel(now, addr(1), addr(2)))
        .unwrap();
    let k = sim
        .with(lns, |e, now| e.dial(now, t, CallParams::default()))
        .unwrap();
    sim.run_idle(Duration::from_secs(5));
    let d = downs(&sim.nodes[lns].events);
    assert!(
        matches!(&d[..], [(key, ClearCause::PeerCdn { result, .. })] if *key == k && result.result == 5),
        "{d:?}"
    );
    assert_eq!(sim.nodes[lac].endpoint.session_count(), 0);
}

/// Secrets that differ: the requester refuses the tunnel with StopCCN
/// result 4 (RFC 2661 §5.1.1), whether the responder's SCCRP proves
/// another secret (its Challenge Response) or its AVPs, hidden in setup,
/// do not decode at all; so a user can tell a wrong secret from a broken
/// message. The refusal itself goes in the clear, as setup messages do,
/// so a responder that knows whom to tell reads it.
#[test]
fn a_secret_that_differs_is_refused_as_not_authorized() {
    for hidden_sccrp in [false, true] {
        let mut sim = Sim::new(Instant::now(), Impairments::default(), 11);
        let mut responder = cfg(5, Some(b"the-lns-secret"), true);
        responder.peers[0].policy.hide_avps_in_tunnel_setup = hidden_sccrp;
        let lns = sim.add(
            addr(1),
            Endpoint::with_rng(responder, StdRng::seed_from_u64(110)),
        );
        // The requester's SCCRQ in the clear (its Assigned Tunnel ID
        // hidden under the wrong secret would leave nobody to answer).
        let mut requester = cfg(5, Some(b"another-secret"), true);
        requester.peers[0].policy.hide_avps_in_tunnel_setup = false;
        let lac = sim.add(
            addr(2),
            Endpoint::with_rng(requester, StdRng::seed_from_u64(111)),
        );
        sim.with(lac, |e, now| e.open_tunnel(now, addr(2), addr(1)))
            .unwrap();
        sim.run_idle(Duration::from_secs(60));
        let result = |events: &[Event]| {
            events.iter().find_map(|e| match e {
                Event::TunnelDown {
                    cause: TunnelCause::LocalStopCcn(r) | TunnelCause::PeerStopCcn(r),
                    ..
                } => Some(r.result),
                _ => None,
            })
        };
        let not_authorized = Some(StopCcnResult::NotAuthorized as u16);
        let (l, r) = (&sim.nodes[lac].events, &sim.nodes[lns].events);
        assert_eq!(result(l), not_authorized, "{hidden_sccrp}: {l:?}");
        assert!(!l.iter().any(|e| matches!(e, Event::TunnelUp { .. })));
        if !hidden_sccrp {
            // With the SCCRP's Assigned Tunnel ID hidden, the requester
            // has nobody to address its StopCCN to; otherwise the
            // responder reads why.
            let read = r.iter().any(|e| {
                matches!(e, Event::TunnelDown { cause: TunnelCause::PeerStopCcn(c), .. }
                    if c.result == StopCcnResult::NotAuthorized as u16)
            });
            assert!(read, "{r:?}");
        }
    }
}
