//! The LNS engine against a LAC that behaves like a Linux LAC on the data
//! path (xl2tpd with the kernel's L2TP and pppd's pppol2tp plugin), in
//! the simulator: it asks for sequencing and discards unsequenced or
//! out-of-sequence data messages (RFC 2661 §5.4), and attaches PPP to a
//! call some time after the call connected. Each behaviour broke setup
//! against real LACs; each test fails without the fix it names.

mod common;

use lns_dataplane::wire::l2tp::{L2tpKind, L2tpPacket};
use lns_protocol::aaa::local::{User, Users};
use lns_protocol::aaa::pool::Pools;
use lns_protocol::engine::frame;
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::l2tp::{CallParams, DataSequencing, Endpoint, PeerPolicy, SessionKey};
use lns_protocol::lac::{Lac, LacBehaviour, LacDataStats, LacEvent};
use lns_protocol::lns::{DataPlane, Lns, LnsConfig, LnsEvent, SessionEntry};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::sim_addr as addr;

fn endpoint(seed: u64, sequencing: DataSequencing) -> Endpoint {
    let policy = PeerPolicy {
        data_sequencing: sequencing,
        ..Default::default()
    };
    common::sim_endpoint(seed, policy)
}

/// A data plane that numbers installed sessions like the real one: the
/// Ns sequence continues from the entry's `next_ns`, and lnsd takes its
/// Ns from here while the session is installed.
#[derive(Debug, Default)]
struct NumberingPlane {
    entries: HashMap<SessionKey, SessionEntry>,
    ns: HashMap<SessionKey, u16>,
    taken: u64,
}

impl DataPlane for NumberingPlane {
    fn install(&mut self, e: &SessionEntry) {
        if !self.entries.contains_key(&e.key) {
            self.ns.insert(e.key, e.next_ns);
        }
        self.entries.insert(e.key, e.clone());
    }
    fn remove(&mut self, key: SessionKey) -> lns_protocol::lns::Removed {
        let Some(e) = self.entries.remove(&key) else {
            return Default::default();
        };
        lns_protocol::lns::Removed {
            next_ns: self.ns.remove(&key).filter(|_| e.sequencing),
            usage: Default::default(),
        }
    }
    fn take_ns(&mut self, key: SessionKey) -> Option<u16> {
        let seq = self.entries.get(&key)?.sequencing;
        let n = self.ns.get_mut(&key).filter(|_| seq)?;
        let v = *n;
        *n = v.wrapping_add(1);
        self.taken += 1;
        Some(v)
    }
}

fn lns(sequencing: DataSequencing, fast_start: bool) -> Lns<NumberingPlane> {
    let mut u = Users::default();
    for i in 0..20 {
        u.insert(User {
            name: format!("user{i}"),
            password: format!("pw{i}"),
            address: None,
            pool: None,
            rate_profile: None,
        });
    }
    let mut pools = Pools::default();
    pools.add("default", vec!["100.64.0.0/24".parse().unwrap()]);
    let cfg = LnsConfig {
        ipv6: Default::default(),
        link: LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                auth: vec![AuthProtocol::ChapMd5],
                ..Default::default()
            },
            echo_interval: Duration::from_secs(1),
            ipv6: false,
            lcp_fast_start: fast_start,
            ..Default::default()
        },
        gateway: Ipv4Addr::new(100, 64, 0, 1),
        dns: [None, None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
    };
    Lns::new(
        endpoint(1, sequencing),
        cfg,
        u,
        pools,
        NumberingPlane::default(),
        7,
    )
}

fn lac(behaviour: LacBehaviour) -> Lac {
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![AuthProtocol::ChapMd5],
            ..Default::default()
        },
        ipv6: false,
        ..Default::default()
    };
    Lac::new(
        endpoint(2, DataSequencing::Auto),
        link,
        (b"nobody".to_vec(), String::new()),
        3,
    )
    .with_behaviour(behaviour)
}

struct Lab {
    sim: Sim<Mixed<NumberingPlane>>,
    lns: usize,
    lac: usize,
    calls: usize,
}

/// `calls` subscribers placed at once on one tunnel.
fn lab(lns_engine: Lns<NumberingPlane>, behaviour: LacBehaviour, calls: usize) -> Lab {
    let mut sim: Sim<Mixed<NumberingPlane>> = Sim::new(Instant::now(), Impairments::default(), 11);
    let l = sim.add(addr(1), Mixed::Lns(lns_engine));
    let c = sim.add(addr(2), Mixed::Lac(lac(behaviour)));
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
        })
        .unwrap();
    for i in 0..calls {
        let creds = (format!("user{i}").into_bytes(), format!("pw{i}"));
        sim.with(c, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, t, CallParams::default(), creds)
        })
        .unwrap();
    }
    Lab {
        sim,
        lns: l,
        lac: c,
        calls,
    }
}

impl Lab {
    fn lac_ups(&self) -> usize {
        self.sim.nodes[self.lac]
            .events
            .iter()
            .filter(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
            .count()
    }

    /// Runs until every subscriber is up at the LAC; the time it took.
    fn until_up(&mut self, limit: Duration) -> Option<Duration> {
        let start = self.sim.now;
        let (c, n) = (self.lac, self.calls);
        let ok = self.sim.run_until(limit, |sim| {
            sim.nodes[c]
                .events
                .iter()
                .filter(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
                .count()
                == n
        });
        ok.then(|| self.sim.now - start)
    }

    fn stats(&self) -> LacDataStats {
        self.sim.nodes[self.lac]
            .endpoint
            .as_lac()
            .unwrap()
            .data_stats
    }

    fn plane(&self) -> &NumberingPlane {
        &self.sim.nodes[self.lns]
            .endpoint
            .as_lns()
            .unwrap()
            .dataplane
    }

    fn lns_downs(&self) -> usize {
        self.sim.nodes[self.lns]
            .events
            .iter()
            .filter(|e| matches!(e, MixedEvent::Lns(LnsEvent::SubscriberDown { .. })))
            .count()
    }
}

/// A LAC with `pppol2tp_recv_seq` sends Sequencing Required in its ICCN
/// and drops every unsequenced data message: without sequencing, it never
/// sees our LCP Configure-Request and the call dies in LCP.
#[test]
fn a_lac_that_requires_sequencing_gets_only_sequenced_frames() {
    let b = LacBehaviour {
        ask_seq: true,
        recv_seq: true,
        send_seq: false,
        ppp_attach_delay: Duration::ZERO,
    };
    let mut lab = lab(lns(DataSequencing::Auto, true), b, 5);
    let took = lab.until_up(Duration::from_secs(20));
    let st = lab.stats();
    assert!(
        took.is_some(),
        "{} of 5 up; LAC discarded {st:?}",
        lab.lac_ups()
    );
    // Every session went into the data plane sequenced, the plane going
    // on from what lnsd numbered during LCP, CHAP and IPCP.
    let p = lab.plane();
    assert_eq!(p.entries.len(), 5);
    for e in p.entries.values() {
        assert!(e.sequencing, "{e:?}");
        assert!(e.next_ns >= 4, "LCP, CHAP and IPCP were numbered: {e:?}");
    }
    // LCP echoes after that take their Ns from the data plane's sequence,
    // and the LAC finds every frame in sequence.
    lab.sim.run_idle(Duration::from_secs(5));
    let st = lab.stats();
    assert_eq!(st.unsequenced, 0, "{st:?}");
    assert_eq!(st.out_of_sequence, 0, "{st:?}");
    assert!(lab.plane().taken >= 5 * 3, "echoes numbered by the plane");
    assert_eq!(lab.lns_downs(), 0);
}

/// A LAC that sequences its own data (S bit) but sent no AVP 39: we
/// sequence too, from its first frame on.
#[test]
fn a_lac_that_sends_sequenced_data_gets_sequenced_data_back() {
    let b = LacBehaviour {
        ask_seq: false,
        recv_seq: true,
        send_seq: true,
        ppp_attach_delay: Duration::ZERO,
    };
    let mut lab = lab(lns(DataSequencing::Auto, true), b, 3);
    let took = lab.until_up(Duration::from_secs(20));
    assert!(took.is_some(), "LAC discarded {:?}", lab.stats());
    // Our very first Configure-Request left before we knew; the one sent
    // again on their first request is sequenced, so no restart timer.
    assert!(took.unwrap() < Duration::from_secs(1), "{took:?}");
    assert!(lab.plane().entries.values().all(|e| e.sequencing));
    assert_eq!(
        lab.sim.nodes[lab.lns]
            .endpoint
            .as_lns()
            .unwrap()
            .sequencing_started,
        3
    );
    lab.sim.run_idle(Duration::from_secs(3));
    assert_eq!(lab.stats().out_of_sequence, 0, "{:?}", lab.stats());
}

/// `data_sequencing = "never"`: not even a LAC that asks gets sequence
/// numbers (an operator's override); `"always"`: one that does not ask
/// gets them anyway.
#[test]
fn the_peer_policy_forces_sequencing_either_way() {
    let asks = LacBehaviour {
        ask_seq: true,
        ..Default::default()
    };
    let mut lab1 = lab(lns(DataSequencing::Never, true), asks, 2);
    assert!(lab1.until_up(Duration::from_secs(20)).is_some());
    assert!(lab1.plane().entries.values().all(|e| !e.sequencing));
    assert_eq!(lab1.stats().sequenced, 0);
    let lns1 = lab1.sim.nodes[lab1.lns].endpoint.as_lns().unwrap();
    assert_eq!(lns1.sequencing_refused, 2, "counted, and logged");

    let checks = LacBehaviour {
        recv_seq: true,
        ..Default::default()
    };
    let mut lab2 = lab(lns(DataSequencing::Always, true), checks, 2);
    assert!(lab2.until_up(Duration::from_secs(20)).is_some());
    assert!(lab2.plane().entries.values().all(|e| e.sequencing));
    assert_eq!(lab2.stats().unsequenced, 0);
    let lns2 = lab2.sim.nodes[lab2.lns].endpoint.as_lns().unwrap();
    assert_eq!(lns2.sequencing_requested, 2);
}

/// xl2tpd starts pppd after the ICCN: our first LCP Configure-Request
/// (sent at ICCN) is lost. Resending ours when the subscriber's first
/// request arrives brings the link up at once instead of after the 3 s
/// restart timer.
#[test]
fn late_ppp_attach_comes_up_without_waiting_a_restart_timer() {
    let delay = Duration::from_millis(200);
    let mut lab = lab(
        lns(DataSequencing::Auto, true),
        LacBehaviour::linux(delay),
        10,
    );
    let took = lab.until_up(Duration::from_secs(20)).expect("all up");
    assert!(lab.stats().before_attach > 0, "our early frames were lost");
    // Tunnel setup, ICRQ/ICRP/ICCN, the 200 ms attach delay, then LCP,
    // CHAP and IPCP: a few 5 ms hops each, far from 3 s.
    assert!(took < Duration::from_millis(600), "{took:?}");
    assert_eq!(lab.stats().out_of_sequence, 0);

    // The same LAC against an LNS that waits for its restart timer.
    let mut slow = lab_with(lns(DataSequencing::Auto, false), delay);
    let took_slow = slow.until_up(Duration::from_secs(20)).expect("all up");
    assert!(took_slow >= Duration::from_secs(3), "{took_slow:?}");
}

fn lab_with(l: Lns<NumberingPlane>, delay: Duration) -> Lab {
    lab(l, LacBehaviour::linux(delay), 10)
}

/// lnsd's own frames (LCP echoes) take their Ns when the shell takes
/// them to send, not when PPP produced them: a worker frame numbered in
/// between goes out before, in order.
#[test]
fn lnsd_numbers_its_frames_as_they_leave() {
    let b = LacBehaviour {
        ask_seq: true,
        recv_seq: true,
        ..Default::default()
    };
    let mut lab = lab(lns(DataSequencing::Auto, true), b, 1);
    lab.until_up(Duration::from_secs(20)).expect("up");
    let (worker, sent) = lab.sim.with(lab.lns, |e, now| {
        let l = e.lns().unwrap();
        let key = *l.dataplane.entries.keys().next().unwrap();
        // The keepalive timer queues an LCP Echo-Request (two intervals:
        // adaptive echo may skip the first, the negotiation having just
        // heard from the subscriber)...
        l.on_timeout(now + Duration::from_secs(2));
        l.on_timeout(now + Duration::from_secs(4));
        // ...a worker numbers a data frame meanwhile...
        let worker = l.dataplane.take_ns(key).unwrap();
        // ...and the echo leaves after it, numbered after it.
        let tx = l.poll_transmit().expect("the echo");
        let ns = lns_protocol::engine::frame::sequenced(&tx.payload)
            .expect("sequenced")
            .ns;
        (worker, ns)
    });
    assert_eq!(sent, worker.wrapping_add(1));
}

/// RFC 2661 §5.4: a LAC that did not ask for sequencing follows the LNS,
/// numbering its data messages while the LNS's carry Ns (an LNS whose
/// peer policy says "always"), and not otherwise.
#[test]
fn a_lac_that_did_not_ask_follows_the_lns_sequencing() {
    for (policy, sequenced) in [
        (DataSequencing::Always, true),
        (DataSequencing::Auto, false),
    ] {
        let mut lab = lab(lns(policy, false), LacBehaviour::default(), 1);
        assert!(lab.until_up(Duration::from_secs(30)).is_some());
        let c = lab.lac;
        let key = *lac_keys(&lab.sim.nodes[c].events).first().unwrap();
        let lac = lab.sim.nodes[c].endpoint.lac().unwrap();
        let ip = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 100, 64, 0, 2, 203, 0, 113, 2,
        ];
        let ns = |t: lns_protocol::l2tp::Transmit| {
            lns_protocol::engine::frame::sequenced(&t.payload).map(|q| q.ns)
        };
        let first = lac.send_ip(key, &ip).map(ns).unwrap();
        let second = lac.send_ip(key, &ip).map(ns).unwrap();
        assert_eq!(first.is_some(), sequenced, "{policy:?}");
        if sequenced {
            assert_eq!(second, first.map(|n| n.wrapping_add(1)));
        }
    }
}

fn lac_keys(events: &[MixedEvent]) -> Vec<SessionKey> {
    events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lac(LacEvent::SubscriberUp { key, .. }) => Some(*key),
            _ => None,
        })
        .collect()
}

/// A LAC whose PPP runs before the call connects sends its first LCP
/// request with the ICCN: it crossed ours, ours was not lost, and we send
/// ours once. (Resending it cost every session two datagrams, ours and
/// the LAC's second Configure-Ack: a tenth of a setup's.)
#[test]
fn a_lac_with_ppp_attached_gets_one_configure_request_a_call() {
    let b = LacBehaviour {
        ask_seq: false,
        recv_seq: false,
        send_seq: false,
        ppp_attach_delay: Duration::ZERO,
    };
    let calls = 10;
    let mut lab = lab(lns(DataSequencing::Auto, true), b, calls);
    lab.sim.record = true;
    let took = lab.until_up(Duration::from_secs(20)).expect("all up");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let lns_requests = lab
        .sim
        .recorded
        .iter()
        .filter(|t| t.local == addr(1))
        .filter_map(|t| {
            let p = L2tpPacket::new_checked(&t.payload[..]).ok()?;
            (p.kind() == L2tpKind::Data).then(|| p.payload().to_vec())
        })
        .filter(|ppp| {
            frame::decapsulate(ppp).is_some_and(|(proto, info)| proto == 0xc021 && info[0] == 1)
        })
        .count();
    assert_eq!(lns_requests, calls, "one LCP Configure-Request a call");
}
