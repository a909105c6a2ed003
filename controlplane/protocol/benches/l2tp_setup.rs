//! L2TP-only session setup rate through the sans-IO engine on one core.
//!
//! A LAC endpoint and an LNS endpoint exchange datagrams in memory (no
//! sockets, no loss) on one thread; the clock is virtual, so the ack delay
//! costs nothing. Prints sessions/s end to end (both engines, the cost a
//! single core pays to emulate the LAC and serve it) and for the LNS engine
//! alone (time spent inside its calls), which is what lnsd's control task
//! pays per session.
//!
//! Run: `cargo bench -p lns-protocol --bench l2tp_setup [-- TUNNELS SESSIONS]`

use lns_protocol::l2tp::stats::Counter;
use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn cfg() -> EndpointConfig {
    EndpointConfig {
        session_setup_timeout: Duration::from_secs(3600),
        hello_interval: Duration::ZERO,
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tunnels = args.first().copied().unwrap_or(10);
    let per_tunnel = args.get(1).copied().unwrap_or(10_000).min(65_535);
    let total = (tunnels * per_tunnel) as u64;
    let lns_addr = SocketAddr::from(([10, 0, 0, 1], 1701));
    let lac_addr = SocketAddr::from(([10, 0, 0, 2], 1701));
    let mut lns = Endpoint::with_rng(cfg(), StdRng::seed_from_u64(1));
    let mut lac = Endpoint::with_rng(cfg(), StdRng::seed_from_u64(2));

    let wall = Instant::now();
    let mut now = Instant::now();
    let mut lns_time = Duration::ZERO;
    let mut datagrams = 0u64;
    for _ in 0..tunnels {
        let t = lac.open_tunnel(now, lac_addr, lns_addr).expect("open");
        for _ in 0..per_tunnel {
            lac.place_call(now, t, CallParams::default()).expect("call");
        }
    }
    while lns.counters().get(Counter::SessionsUp) < total {
        let mut moved = false;
        while let Some(tx) = lac.poll_transmit() {
            let t0 = Instant::now();
            lns.handle(now, lns_addr, lac_addr, &tx.payload);
            lns_time += t0.elapsed();
            datagrams += 1;
            moved = true;
        }
        let t0 = Instant::now();
        let mut out = Vec::new();
        while let Some(tx) = lns.poll_transmit() {
            out.push(tx);
        }
        while lns.poll_event().is_some() {}
        lns_time += t0.elapsed();
        for tx in out {
            lac.handle(now, lac_addr, lns_addr, &tx.payload);
            datagrams += 1;
            moved = true;
        }
        while lac.poll_event().is_some() {}
        if !moved {
            // Only timers (delayed acks) can move things on: jump to them.
            let next = [lns.poll_timeout(), lac.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                panic!(
                    "stalled with {} sessions up",
                    lns.counters().get(Counter::SessionsUp)
                );
            };
            now = now.max(next);
            let t0 = Instant::now();
            lns.on_timeout(now);
            lns_time += t0.elapsed();
            lac.on_timeout(now);
        }
    }
    let elapsed = wall.elapsed();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "l2tp_setup: {tunnels} tunnels x {per_tunnel} sessions = {total} sessions (ICRQ/ICRP/ICCN + acks), {datagrams} datagrams"
    );
    println!(
        "  both engines, one core : {:>10.0} sessions/s  ({:.2} s)",
        rate(elapsed),
        elapsed.as_secs_f64()
    );
    println!(
        "  LNS engine alone       : {:>10.0} sessions/s  ({:.2} us/session)",
        rate(lns_time),
        lns_time.as_secs_f64() * 1e6 / total as f64
    );
    assert_eq!(lac.counters().get(Counter::SessionsUp), total);
}
