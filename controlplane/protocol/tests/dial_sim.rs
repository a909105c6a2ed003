//! Outgoing calls placed by the engine ([`Lns::dial`], RFC 2661 §7.5) in
//! the simulator: each ends in exactly one `LnsEvent::Dialed`, connected,
//! failed with the LAC's reason, or timed out and cleared.

mod common;

use lns_protocol::aaa::local::Users;
use lns_protocol::aaa::pool::Pools;
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::l2tp::{CallParams, Endpoint, PeerPolicy};
use lns_protocol::lac::Lac;
use lns_protocol::lns::{DialOutcome, Lns, LnsConfig, LnsEvent, NullDataPlane};
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::sim_addr as addr;

fn endpoint(seed: u64, answer: bool) -> Endpoint {
    let policy = PeerPolicy {
        answer_outgoing_calls: answer,
        ..Default::default()
    };
    common::sim_endpoint(seed, policy)
}

fn lab(lac_answers: bool) -> (Sim<Mixed<NullDataPlane>>, usize) {
    let mut pools = Pools::default();
    pools.add("default", vec!["100.64.0.0/24".parse().unwrap()]);
    let cfg = LnsConfig {
        ipv6: Default::default(),
        link: LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                ..Default::default()
            },
            ..Default::default()
        },
        gateway: Ipv4Addr::new(100, 64, 0, 1),
        dns: [None, None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
    };
    let lns = Lns::new(
        endpoint(1, false),
        cfg,
        Users::default(),
        pools,
        NullDataPlane::default(),
        7,
    );
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            ..Default::default()
        },
        ..Default::default()
    };
    let lac = Lac::new(
        endpoint(2, lac_answers),
        link,
        (b"x".to_vec(), String::new()),
        3,
    );
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 5);
    let l = sim.add(addr(1), Mixed::Lns(lns));
    sim.add(addr(2), Mixed::Lac(lac));
    (sim, l)
}

fn dialed(sim: &Sim<Mixed<NullDataPlane>>, l: usize) -> Vec<DialOutcome> {
    sim.nodes[l]
        .events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lns(LnsEvent::Dialed { outcome, .. }) => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

fn dial(sim: &mut Sim<Mixed<NullDataPlane>>, l: usize, to: SocketAddr, secs: u64) {
    let params = CallParams {
        called_number: Some(b"5551234".to_vec()),
        ..CallParams::default()
    };
    sim.with(l, |e, now| {
        e.lns()
            .unwrap()
            .dial(now, addr(1), to, params, now + Duration::from_secs(secs))
    })
    .unwrap();
}

#[test]
fn a_lac_that_answers_connects_the_call() {
    let (mut sim, l) = lab(true);
    dial(&mut sim, l, addr(2), 30);
    sim.run_idle(Duration::from_secs(40));
    assert_eq!(dialed(&sim, l), [DialOutcome::Connected]);
}

#[test]
fn a_lac_that_refuses_fails_the_call_with_its_reason() {
    let (mut sim, l) = lab(false);
    dial(&mut sim, l, addr(2), 30);
    sim.run_idle(Duration::from_secs(40));
    let d = dialed(&sim, l);
    assert!(
        matches!(
            &d[..],
            [DialOutcome::Failed(
                lns_protocol::l2tp::ClearCause::PeerCdn { .. }
            )]
        ),
        "{d:?}"
    );
}

#[test]
fn nobody_answering_times_out_once_and_clears_the_call() {
    let (mut sim, l) = lab(true);
    // No LAC at that address: the tunnel never comes up.
    dial(&mut sim, l, addr(9), 5);
    sim.run_idle(Duration::from_secs(60));
    assert_eq!(dialed(&sim, l), [DialOutcome::TimedOut]);
    assert_eq!(
        sim.nodes[l]
            .endpoint
            .as_lns()
            .unwrap()
            .endpoint
            .session_count(),
        0
    );
}
