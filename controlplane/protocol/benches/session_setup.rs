//! Full subscriber session setups per second through the sans-IO engines
//! on one core: L2TP (ICRQ/ICRP/ICCN) + LCP + CHAP-MD5 + IPCP + IPv6CP,
//! local users, addresses from a pool.
//!
//! An emulated LAC and the LNS engine exchange datagrams in memory on one
//! thread with a virtual clock. Prints sessions/s end to end (both sides'
//! work) and for the LNS engine alone (time inside its calls), then the
//! heap the LNS engine holds per session: what dropping it frees, less
//! its users table (issue 18: lnsd's memory per session), and the
//! allocations it makes per session. Its data plane keeps nothing, as in
//! lnsd with none; a table-backed one keeps its own record per session.
//!
//! Run: `cargo bench -p lns-protocol --bench session_setup [-- TUNNELS SESSIONS]`

use lns_protocol::aaa::local::{User, Users};
use lns_protocol::aaa::pool::Pools;
use lns_protocol::buffers;
use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{Lns, LnsConfig, LnsEvent, NoDataPlane};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The system allocator, counting what is allocated and freed.
#[global_allocator]
static ALLOC: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made so far.
fn allocations() -> usize {
    let s = ALLOC.stats();
    s.allocations + s.reallocations
}

/// Heap bytes live now.
fn live() -> usize {
    let s = ALLOC.stats();
    (s.bytes_allocated + s.bytes_reallocated.max(0) as usize)
        .saturating_sub(s.bytes_deallocated + (-s.bytes_reallocated).max(0) as usize)
}

fn endpoint(seed: u64) -> Endpoint {
    let cfg = EndpointConfig {
        session_setup_timeout: Duration::from_secs(3600),
        hello_interval: Duration::ZERO,
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    Endpoint::with_rng(cfg, StdRng::seed_from_u64(seed))
}

fn link(side: Side) -> LinkConfig {
    LinkConfig {
        lcp: LcpConfig {
            side,
            auth: vec![AuthProtocol::ChapMd5],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tunnels = args.first().copied().unwrap_or(10);
    let per_tunnel = args.get(1).copied().unwrap_or(2_000).min(65_535);
    let total = tunnels * per_tunnel;
    let before_users = live();
    let mut users = Users::default();
    for i in 0..total {
        users.insert(User {
            name: format!("u{i}"),
            password: format!("p{i}"),
            address: None,
            pool: None,
            rate_profile: None,
        });
    }
    let users_bytes = live() - before_users;
    let mut pools = Pools::default();
    pools.add("default", vec!["100.64.0.0/10".parse().expect("range")]);
    let cfg = LnsConfig {
        ipv6: Default::default(),
        link: link(Side::Server),
        gateway: Ipv4Addr::new(100, 127, 255, 254),
        dns: [Some(Ipv4Addr::new(9, 9, 9, 9)), None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
    };
    let mut lns = Lns::new(endpoint(1), cfg, users, pools, NoDataPlane, 3);
    let mut lac = Lac::new(
        endpoint(2),
        link(Side::Client),
        (Vec::new(), String::new()),
        4,
    );
    let (lns_addr, lac_addr) = (
        SocketAddr::from(([10, 0, 0, 1], 1701)),
        SocketAddr::from(([10, 0, 0, 2], 1701)),
    );

    let wall = Instant::now();
    let mut now = Instant::now();
    let mut n = 0;
    for _ in 0..tunnels {
        let t = lac.open_tunnel(now, lac_addr, lns_addr).expect("open");
        for _ in 0..per_tunnel {
            let creds = (format!("u{n}").into_bytes(), format!("p{n}"));
            n += 1;
            lac.place_call(now, t, CallParams::default(), creds)
                .expect("call");
        }
    }
    let mut lns_time = Duration::ZERO;
    let mut lns_allocs = 0;
    let mut up = 0;
    let mut datagrams = 0u64;
    // The LNS's datagrams of a turn, in a list kept from turn to turn
    // (grown inside the measured window, it was counted as the LNS's).
    let mut out = Vec::new();
    while up < total {
        let mut moved = false;
        while let Some(tx) = lac.poll_transmit() {
            let (t0, a0) = (Instant::now(), allocations());
            lns.handle(now, lns_addr, lac_addr, &tx.payload);
            lns_time += t0.elapsed();
            lns_allocs += allocations() - a0;
            // Sent: the buffer goes back to be reused, as lnsd's and
            // lns-bench's do (`lns_protocol::buffers`).
            buffers::give(tx.payload);
            datagrams += 1;
            moved = true;
        }
        let (t0, a0) = (Instant::now(), allocations());
        while let Some(tx) = lns.poll_transmit() {
            out.push(tx);
        }
        while let Some(ev) = lns.poll_event() {
            if let LnsEvent::SubscriberDown { cause, .. } = ev {
                panic!("subscriber down during setup: {cause:?}");
            }
        }
        lns_time += t0.elapsed();
        lns_allocs += allocations() - a0;
        for tx in out.drain(..) {
            lac.handle(now, lac_addr, lns_addr, &tx.payload);
            buffers::give(tx.payload);
            datagrams += 1;
            moved = true;
        }
        while let Some(ev) = lac.poll_event() {
            if let LacEvent::SubscriberUp { .. } = ev {
                up += 1;
            }
        }
        if !moved {
            let next = [lns.poll_timeout(), lac.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                panic!("stalled with {up} subscribers up");
            };
            now = now.max(next);
            let (t0, a0) = (Instant::now(), allocations());
            lns.on_timeout(now);
            lns_time += t0.elapsed();
            lns_allocs += allocations() - a0;
            lac.on_timeout(now);
        }
    }
    let elapsed = wall.elapsed();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "session_setup: {tunnels} tunnels x {per_tunnel} subscribers = {total} (L2TP + LCP + CHAP-MD5 + IPCP + IPv6CP, local users), {datagrams} datagrams"
    );
    println!(
        "  both sides, one core : {:>9.0} sessions/s  ({:.2} s)",
        rate(elapsed),
        elapsed.as_secs_f64()
    );
    println!(
        "  LNS engine alone     : {:>9.0} sessions/s  ({:.2} us/session)",
        rate(lns_time),
        lns_time.as_secs_f64() * 1e6 / total as f64
    );
    println!(
        "  LNS engine allocations: {:>7.1} per session  ({:.2} per datagram it took or sent)",
        lns_allocs as f64 / total as f64,
        lns_allocs as f64 / datagrams as f64
    );
    assert_eq!(lns.addressing.pools.leased(), total);
    let held = live();
    drop(lns);
    let freed = held - live();
    println!(
        "  LNS engine heap      : {:>9.0} bytes/session  (all it holds, less its {:.1} MB users table)",
        freed.saturating_sub(users_bytes) as f64 / total as f64,
        users_bytes as f64 / 1e6
    );
}
