//! The multi-hop gateway in the simulator: an emulated LAC full of PPP
//! subscribers → an xlns gateway (the LNS engine switching by realm) →
//! two xlns LNSs. The gateway runs LCP and the first authentication
//! phase, then hands each call to the LNS of the user's realm with proxy
//! LCP and proxy authentication (RFC 2661 §4.4.5); the LNS finishes PPP
//! with the subscriber through the gateway, whose control plane switches
//! the frames here (no data plane in the simulator).

mod common;

use lns_protocol::aaa::local::{User, Users};
use lns_protocol::aaa::pool::Pools;
use lns_protocol::aaa::tunnel::{RealmRules, TunnelTarget};
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::engine::switch::LegUsage;
use lns_protocol::engine::switch::SwitchConfig;
use lns_protocol::l2tp::{CallParams, PeerPolicy, SessionKey};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{DataPlane, Lns, LnsConfig, LnsEvent, NullDataPlane};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::{DownCause, LinkConfig};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::sim_addr as addr;

const GW: u8 = 1;
const LNS_A: u8 = 2;
const LNS_B: u8 = 3;
const LAC: u8 = 10;

fn target(i: u8, preference: u32) -> TunnelTarget {
    TunnelTarget {
        secret: Some(b"hop-secret".to_vec()),
        preference,
        ..TunnelTarget::new(addr(i))
    }
}

fn server_link(auth: AuthProtocol) -> LinkConfig {
    LinkConfig {
        lcp: LcpConfig {
            side: Side::Server,
            auth: vec![auth],
            ..Default::default()
        },
        // Keepalives through the gateway: a subscriber whose LNS's echoes
        // went unanswered would go down within the test.
        echo_interval: Duration::from_secs(5),
        echo_failures: 3,
        echo_adaptive: true,
        ..Default::default()
    }
}

fn lns_cfg(auth: AuthProtocol, gateway: Ipv4Addr) -> LnsConfig {
    LnsConfig {
        ipv6: Default::default(),
        link: server_link(auth),
        gateway,
        dns: [None, None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
    }
}

fn users(n: usize) -> Users {
    let mut u = Users::default();
    for i in 0..n {
        for realm in ["a.example", "b.example"] {
            u.insert(User {
                name: format!("user{i}@{realm}"),
                password: format!("pw-{i}"),
                address: None,
                pool: None,
                rate_profile: None,
            });
        }
    }
    u
}

/// An LNS whose pool says which one it is: 100.64.<i>.0/24.
fn lns<D: DataPlane + Default>(i: u8, auth: AuthProtocol, n: usize) -> Lns<D> {
    let mut pools = Pools::default();
    pools.add("default", vec![format!("100.64.{i}.0/24").parse().unwrap()]);
    // The gateway must know the tunnel secret (from the realm rule or
    // the RADIUS Tunnel-Password) to get a tunnel.
    let policy = PeerPolicy {
        secret: Some(b"hop-secret".to_vec()),
        auth: lns_protocol::l2tp::TunnelAuth::Required,
        ..Default::default()
    };
    Lns::new(
        common::sim_endpoint(u64::from(i), policy),
        lns_cfg(auth, Ipv4Addr::new(100, 64, i, 254)),
        users(n),
        pools,
        D::default(),
        u64::from(i) * 7,
    )
}

/// The gateway: no local users (a call no realm rule names would fail
/// authentication here), realms a → [A, then B], b → [B].
fn gateway(auth: AuthProtocol, hold_down: Duration) -> Lns<NullDataPlane> {
    let cfg = SwitchConfig {
        realms: RealmRules::new(vec![
            ("a.example".into(), vec![target(LNS_A, 1), target(LNS_B, 2)]),
            ("b.example".into(), vec![target(LNS_B, 1)]),
        ])
        .unwrap(),
        hold_down,
        tunnel_idle: Duration::from_secs(10),
        ..Default::default()
    };
    let mut pools = Pools::default();
    pools.add("default", vec!["100.100.0.0/24".parse().unwrap()]);
    Lns::new(
        common::sim_endpoint(1, PeerPolicy::default()),
        lns_cfg(auth, Ipv4Addr::new(100, 100, 0, 254)),
        Users::default(),
        pools,
        NullDataPlane::default(),
        11,
    )
    .with_switch(cfg)
}

fn lac(auth: AuthProtocol) -> Lac {
    common::emulated_lac(auth, 100, 1500)
}

struct Lab {
    sim: Sim<Mixed<NullDataPlane>>,
    gw: usize,
    a: Option<usize>,
    b: usize,
    lac: usize,
}

fn lab(auth: AuthProtocol, with_a: bool) -> Lab {
    lab_on(auth, with_a, Impairments::default(), 5)
}

fn lab_on(auth: AuthProtocol, with_a: bool, wire: Impairments, seed: u64) -> Lab {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), wire, seed);
    let gw = sim.add(
        addr(GW),
        Mixed::Lns(gateway(auth.clone(), Duration::from_secs(300))),
    );
    let a = with_a.then(|| sim.add(addr(LNS_A), Mixed::Lns(lns(LNS_A, auth.clone(), 50))));
    let b = sim.add(addr(LNS_B), Mixed::Lns(lns(LNS_B, auth.clone(), 50)));
    let lac = sim.add(addr(LAC), Mixed::Lac(lac(auth)));
    Lab { sim, gw, a, b, lac }
}

impl Lab {
    /// Places `users` on one tunnel from the LAC to the gateway.
    fn call(&mut self, users: &[String]) -> Vec<SessionKey> {
        let t = self
            .sim
            .with(self.lac, |e, now| {
                e.lac().unwrap().open_tunnel(now, addr(LAC), addr(GW))
            })
            .unwrap();
        users
            .iter()
            .map(|u| {
                let i: usize = u[4..u.find('@').unwrap()].parse().unwrap();
                let creds = (u.clone().into_bytes(), format!("pw-{i}"));
                self.sim
                    .with(self.lac, |e, now| {
                        e.lac()
                            .unwrap()
                            .place_call(now, t, CallParams::default(), creds)
                    })
                    .unwrap()
            })
            .collect()
    }

    fn lac_ups(&self) -> Vec<(SessionKey, Option<Ipv4Addr>)> {
        self.sim.nodes[self.lac]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lac(LacEvent::SubscriberUp { key, ipv4, .. }) => Some((*key, *ipv4)),
                _ => None,
            })
            .collect()
    }

    fn lac_downs(&self) -> Vec<(SessionKey, DownCause)> {
        self.sim.nodes[self.lac]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lac(LacEvent::SubscriberDown { key, cause }) => {
                    Some((*key, cause.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn lns_events(&self, node: usize) -> Vec<&LnsEvent> {
        self.sim.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lns(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn lns_ups(&self, node: usize) -> Vec<(SessionKey, Vec<u8>)> {
        self.lns_events(node)
            .into_iter()
            .filter_map(|e| match e {
                LnsEvent::SubscriberUp { key, user, .. } => Some((*key, user.clone())),
                _ => None,
            })
            .collect()
    }

    fn switched_up(&self) -> Vec<(SessionKey, SocketAddr)> {
        self.lns_events(self.gw)
            .into_iter()
            .filter_map(|e| match e {
                LnsEvent::SwitchedUp { a, target, .. } => Some((*a, *target)),
                _ => None,
            })
            .collect()
    }

    fn gateway(&mut self) -> &mut Lns<NullDataPlane> {
        self.sim.nodes[self.gw].endpoint.lns().unwrap()
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| [format!("user{i}@a.example"), format!("user{i}@b.example")])
        .collect()
}

fn two_realms(auth: AuthProtocol) {
    const N: usize = 10;
    let mut lab = lab(auth, true);
    let keys = lab.call(&names(N));
    let li = lab.lac;
    let up = lab.sim.run_until(Duration::from_secs(120), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .filter(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
            .count()
            == 2 * N
    });
    let a = lab.a.unwrap();
    assert!(
        up,
        "{} of {} up at the LAC; gateway events: {:?}",
        lab.lac_ups().len(),
        2 * N,
        lab.lns_events(lab.gw)
    );
    // Each realm's subscribers got their addresses from their own LNS.
    let ups = lab.lac_ups();
    for (k, ip) in &ups {
        let i = keys.iter().position(|x| x == k).unwrap();
        let want = if i % 2 == 0 { LNS_A } else { LNS_B };
        assert_eq!(ip.unwrap().octets()[2], want, "call {i} got {ip:?}");
    }
    let at_a: HashSet<Vec<u8>> = lab.lns_ups(a).into_iter().map(|(_, u)| u).collect();
    let at_b: HashSet<Vec<u8>> = lab.lns_ups(lab.b).into_iter().map(|(_, u)| u).collect();
    assert_eq!(at_a.len(), N);
    assert_eq!(at_b.len(), N);
    assert!(at_a.iter().all(|u| u.ends_with(b"@a.example")));
    assert!(at_b.iter().all(|u| u.ends_with(b"@b.example")));
    // The gateway terminated nobody, switched everybody, and holds a
    // switched data-plane entry per call with both legs' ids.
    let gw = lab.gateway();
    assert_eq!(gw.subscriber_count(), 0);
    assert_eq!(gw.switch.len(), 2 * N);
    assert_eq!(gw.switch.stats.up, 2 * N as u64);
    assert_eq!(gw.dataplane.switched.len(), 2 * N);
    for e in gw.dataplane.switched.values() {
        assert_eq!(e.a.peer, addr(LAC));
        assert!(e.b.peer == addr(LNS_A) || e.b.peer == addr(LNS_B));
        assert_ne!(e.a.peer_ids.1, 0);
        assert_ne!(e.b.peer_ids.1, 0);
    }
    // Two tunnels from the gateway: one per LNS, shared by its calls.
    assert_eq!(gw.endpoint.tunnel_count(), 3);

    // A minute of keepalives both ways through the gateway: the LNSs'
    // Echo-Requests (every 5 s, 3 missed is fatal) are answered by the
    // subscribers, and nobody goes down.
    let relayed = lab.gateway().switch.stats.relayed;
    lab.sim.run_idle(Duration::from_secs(60));
    assert!(lab.lac_downs().is_empty(), "{:?}", lab.lac_downs());
    assert!(
        lab.lns_events(a)
            .iter()
            .all(|e| !matches!(e, LnsEvent::SubscriberDown { .. }))
    );
    // Twelve intervals, each an Echo-Request and its Echo-Reply relayed,
    // less the first (adaptive echo: the negotiation that just ended was
    // hearing from the subscriber).
    let now_relayed = lab.gateway().switch.stats.relayed;
    assert!(
        now_relayed >= relayed + 2 * N as u64 * 11 * 2,
        "{relayed} -> {now_relayed}"
    );

    // An IP packet from a subscriber reaches its LNS unchanged (it has no
    // data plane here, so it counts it as punted).
    let (k0, ip0) = ups[0];
    let mut ping = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0];
    ping.extend_from_slice(&ip0.unwrap().octets());
    ping.extend_from_slice(&[100, 64, 2, 254]);
    ping.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
    let lns_of_k0 = if ip0.unwrap().octets()[2] == LNS_A {
        a
    } else {
        lab.b
    };
    let before = lab.sim.nodes[lns_of_k0]
        .endpoint
        .as_lns()
        .unwrap()
        .data_punted;
    let tx = lab
        .sim
        .with(lab.lac, |e, _| e.lac().unwrap().send_ip(k0, &ping))
        .unwrap();
    let inject = tx.payload.clone();
    lab.sim.with(lab.gw, |e, now| {
        e.lns().unwrap().handle(now, addr(GW), addr(LAC), &inject)
    });
    lab.sim.run_idle(Duration::from_millis(100));
    assert_eq!(
        lab.sim.nodes[lns_of_k0]
            .endpoint
            .as_lns()
            .unwrap()
            .data_punted,
        before + 1
    );

    // A CDN at an LNS clears the LAC's call through the gateway.
    let (lns_key, _) = lab.lns_ups(a)[0].clone();
    lab.sim.with(a, |e, now| {
        e.lns()
            .unwrap()
            .disconnect(now, lns_key, DownCause::Operator("test".into()))
    });
    lab.sim.run_idle(Duration::from_secs(5));
    assert_eq!(lab.lac_downs().len(), 1, "{:?}", lab.lac_downs());
    assert_eq!(lab.gateway().switch.len(), 2 * N - 1);
    assert_eq!(lab.gateway().dataplane.switched.len(), 2 * N - 1);

    // The LAC hangs a subscriber up: its LNS sees it go.
    let (k1, _) = ups
        .iter()
        .find(|(k, _)| !lab.lac_downs().iter().any(|(d, _)| d == k))
        .copied()
        .unwrap();
    let downs_before: usize = [a, lab.b]
        .iter()
        .map(|&n| {
            lab.lns_events(n)
                .iter()
                .filter(|e| matches!(e, LnsEvent::SubscriberDown { .. }))
                .count()
        })
        .sum();
    lab.sim
        .with(lab.lac, |e, now| e.lac().unwrap().hang_up(now, k1));
    lab.sim.run_idle(Duration::from_secs(5));
    let downs_after: usize = [a, lab.b]
        .iter()
        .map(|&n| {
            lab.lns_events(n)
                .iter()
                .filter(|e| matches!(e, LnsEvent::SubscriberDown { .. }))
                .count()
        })
        .sum();
    assert_eq!(downs_after, downs_before + 1);
    assert_eq!(lab.gateway().switch.len(), 2 * N - 2);
}

/// Every frame on the two hops may be lost (5 %), repeated or overtaken,
/// and every subscriber still comes up at both ends. Two ways it did not:
/// the gateway's proxy authentication leaves the LNS to send the verdict
/// on a request the gateway took, and a lost one stranded the subscriber
/// (it repeats its request; the LNS now answers it again, RFC 1994 §4.2);
/// and a subscriber renegotiating LCP the LNS had adopted from proxy LCP
/// (after a repeated Configure-Request) was given up on at the LNS's
/// first lost Configure-Request.
fn over_a_lossy_wire(auth: AuthProtocol) {
    const N: usize = 20;
    let wire = Impairments {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        ..Impairments::default()
    };
    for seed in 1..=10 {
        let mut lab = lab_on(auth.clone(), true, wire, seed);
        lab.call(&names(N));
        let (li, a, b) = (lab.lac, lab.a.unwrap(), lab.b);
        let ups = |sim: &Sim<Mixed<NullDataPlane>>, node: usize| {
            sim.nodes[node]
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        MixedEvent::Lac(LacEvent::SubscriberUp { .. })
                            | MixedEvent::Lns(LnsEvent::SubscriberUp { .. })
                    )
                })
                .count()
        };
        // Up at both ends: the subscriber's IPCP and its LNS's.
        let up = lab.sim.run_until(Duration::from_secs(300), |sim| {
            ups(sim, li) == 2 * N && ups(sim, a) + ups(sim, b) == 2 * N
        });
        assert!(
            up,
            "seed {seed}: {} of {} up at the LAC, {} at the LNSs, downs {:?}",
            lab.lac_ups().len(),
            2 * N,
            lab.lns_ups(a).len() + lab.lns_ups(b).len(),
            lab.lac_downs()
        );
        // Once up, a subscriber may still miss three keepalives in a row
        // on this wire (a fifth of the round trips over four hops fail)
        // and be ended for it; nothing else may end one.
        for node in [a, b] {
            for e in lab.lns_events(node) {
                if let LnsEvent::SubscriberDown { cause, .. } = e {
                    assert_eq!(*cause, DownCause::EchoTimeout, "seed {seed}");
                }
            }
        }
    }
}

#[test]
fn chap_subscribers_come_up_through_the_gateway_over_a_lossy_wire() {
    over_a_lossy_wire(AuthProtocol::ChapMd5);
}

#[test]
fn pap_subscribers_come_up_through_the_gateway_over_a_lossy_wire() {
    over_a_lossy_wire(AuthProtocol::Pap);
}

#[test]
fn chap_subscribers_of_two_realms_reach_their_lns_through_the_gateway() {
    two_realms(AuthProtocol::ChapMd5);
}

#[test]
fn pap_subscribers_of_two_realms_reach_their_lns_through_the_gateway() {
    two_realms(AuthProtocol::Pap);
}

#[test]
fn with_the_preferred_lns_down_calls_go_to_the_next_and_it_is_held_down() {
    let mut lab = lab(AuthProtocol::ChapMd5, false);
    lab.call(&["user0@a.example".to_string()]);
    let li = lab.lac;
    let up = lab.sim.run_until(Duration::from_secs(600), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    assert!(up, "gateway events: {:?}", lab.lns_events(lab.gw));
    assert_eq!(lab.switched_up()[0].1, addr(LNS_B));
    let now = lab.sim.now;
    let gw = lab.gateway();
    assert_eq!(gw.switch.failures(addr(LNS_A)), 1);
    let held: Vec<SocketAddr> = gw.switch.held(now).into_iter().map(|(e, _)| e).collect();
    assert_eq!(held, vec![addr(LNS_A)]);
    // The next call of the realm skips the held-down LNS at once.
    lab.call(&["user1@a.example".to_string()]);
    let up = lab.sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .filter(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
            .count()
            == 2
    });
    assert!(up);
    assert_eq!(lab.gateway().switch.failures(addr(LNS_A)), 1);
    assert_eq!(lab.switched_up()[1].1, addr(LNS_B));

    // Both hang up: the tunnel toward the LNS closes once idle; the
    // LAC's stays.
    for (k, _) in lab.lac_ups() {
        lab.sim.with(li, |e, now| e.lac().unwrap().hang_up(now, k));
    }
    lab.sim.run_idle(Duration::from_secs(60));
    let gw = lab.gateway();
    assert!(gw.switch.is_empty());
    assert!(gw.dataplane.switched.is_empty());
    let peers: Vec<SocketAddr> = gw.endpoint.tunnels().map(|t| t.peer).collect();
    assert!(
        !peers.is_empty() && peers.iter().all(|p| *p == addr(LAC)),
        "{peers:?}"
    );
}

#[test]
fn a_lac_that_sequences_gets_sequenced_frames_through_the_gateway() {
    use lns_protocol::lac::LacBehaviour;
    let mut lab = lab(AuthProtocol::ChapMd5, true);
    let li = lab.lac;
    let t = lab
        .sim
        .with(li, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(LAC), addr(GW))
        })
        .unwrap();
    let creds = (b"user3@b.example".to_vec(), "pw-3".to_string());
    lab.sim
        .with(li, |e, now| {
            e.lac().unwrap().place_call_as(
                now,
                t,
                CallParams::default(),
                creds,
                LacBehaviour::linux(Duration::from_millis(200)),
            )
        })
        .unwrap();
    let up = lab.sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    let stats = lab.sim.nodes[li].endpoint.as_lac().unwrap().data_stats;
    assert!(up, "{stats:?}; gateway: {:?}", lab.lns_events(lab.gw));
    // The LAC discards unsequenced frames; none came, and every frame
    // after PPP attached was in sequence.
    assert_eq!(
        (stats.unsequenced, stats.out_of_sequence),
        (0, 0),
        "{stats:?}"
    );
    assert!(stats.sequenced > 0);
    let gw = lab.gateway();
    let e = gw.dataplane.switched.values().next().unwrap();
    assert!(e.a.sequencing && e.b.sequencing, "{e:?}");
}

/// RADIUS decides the target: an Access-Accept with two tagged RFC 2868
/// tunnel sets (tag 1: LNS A, preference 2; tag 2: LNS B, preference 1),
/// each with its Tunnel-Password encrypted (§3.5). The call goes to LNS
/// B, and its tunnel authenticates with the decrypted password (a wrong
/// one would fail tunnel authentication at the LNS).
#[test]
fn radius_tunnel_attributes_choose_the_lns_and_its_secret() {
    radius_switched_call::<NullDataPlane>([LegUsage::default(); 2]);
}

/// What [`SwitchingPlane`] says it switched of every call it had: (from
/// the LAC, from the LNS).
const SWITCHED: [LegUsage; 2] = [
    LegUsage {
        packets: 1000,
        octets: 64_000,
    },
    LegUsage {
        packets: 2000,
        octets: 512_000,
    },
];

/// A data plane that had every switched call and reports [`SWITCHED`]
/// when one leaves it.
#[derive(Debug, Default)]
struct SwitchingPlane(NullDataPlane);

impl DataPlane for SwitchingPlane {
    fn install(&mut self, entry: &lns_protocol::lns::SessionEntry) {
        self.0.install(entry)
    }
    fn remove(&mut self, key: SessionKey) -> lns_protocol::lns::Removed {
        self.0.remove(key)
    }
    fn install_switched(&mut self, entry: &lns_protocol::engine::switch::SwitchedEntry) {
        self.0.install_switched(entry)
    }
    fn remove_switched(&mut self, a: SessionKey, b: SessionKey) -> Option<[LegUsage; 2]> {
        self.0.remove_switched(a, b).map(|_| SWITCHED)
    }
}

/// The data plane's counters reach the engine only after the call left
/// it (an input, `Closed::Switched`): the Accounting-Stop waits for them
/// and adds them to what the control plane switched itself.
#[test]
fn a_switched_calls_stop_carries_what_the_data_plane_switched() {
    radius_switched_call::<SwitchingPlane>(SWITCHED);
}

/// A call switched by RADIUS tunnel attributes, then hung up: its
/// accounting, with `dp` what the data plane reports it switched.
fn radius_switched_call<D: DataPlane + Default>(dp: [LegUsage; 2]) {
    use lns_protocol::aaa::radius::client::{ClientConfig, Server};
    use lns_protocol::aaa::radius::nas::Nas;
    use lns_protocol::aaa::radius::packet::{Attr, Code, Packet, attr};
    use lns_protocol::aaa::tunnel::encrypt_tunnel_password;
    use lns_protocol::lns::RadiusSettings;
    use lns_protocol::ppp::chap;
    const SECRET: &[u8] = b"radius-secret";
    let rad = SocketAddr::from(([127, 0, 0, 1], 1812));
    let mut cfg = lns_cfg(AuthProtocol::ChapMd5, Ipv4Addr::new(100, 100, 0, 254));
    cfg.radius = Some(RadiusSettings {
        client: ClientConfig {
            auth: vec![Server {
                addr: rad,
                secret: SECRET.to_vec(),
            }],
            acct: vec![Server {
                addr: SocketAddr::from(([127, 0, 0, 1], 1813)),
                secret: SECRET.to_vec(),
            }],
            ..Default::default()
        },
        nas: Nas {
            ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            identifier: "xlns-gw".into(),
        },
        interim: None,
        dae_clients: vec![],
    });
    let mut pools = Pools::default();
    pools.add("default", vec!["100.100.0.0/24".parse().unwrap()]);
    let gw = Lns::new(
        common::sim_endpoint(1, PeerPolicy::default()),
        cfg,
        Users::default(),
        pools,
        D::default(),
        11,
    );
    let mut sim: Sim<Mixed<D>> = Sim::new(Instant::now(), Impairments::default(), 9);
    let g = sim.add(addr(GW), Mixed::Lns(gw));
    let a = sim.add(
        addr(LNS_A),
        Mixed::Lns(lns(LNS_A, AuthProtocol::ChapMd5, 50)),
    );
    let b = sim.add(
        addr(LNS_B),
        Mixed::Lns(lns(LNS_B, AuthProtocol::ChapMd5, 50)),
    );
    let l = sim.add(addr(LAC), Mixed::Lac(lac(AuthProtocol::ChapMd5)));
    let t = sim
        .with(l, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(LAC), addr(GW))
        })
        .unwrap();
    let creds = (b"user7@b.example".to_vec(), "pw-7".to_string());
    sim.with(l, |e, now| {
        e.lac()
            .unwrap()
            .place_call(now, t, CallParams::default(), creds)
    })
    .unwrap();
    let mut accounting: Vec<Packet> = Vec::new();
    let mut answer = |bytes: &[u8]| -> Option<Vec<u8>> {
        let req = Packet::decode(bytes).ok()?;
        if req.code()? == Code::AccountingRequest {
            assert!(req.verify_request(SECRET));
            accounting.push(req.clone());
            return Packet::new(Code::AccountingResponse, req.identifier, [0; 16])
                .seal_response(SECRET, req.authenticator)
                .ok();
        }
        assert_eq!(req.code()?, Code::AccessRequest);
        let c = req.get(attr::CHAP_PASSWORD)?;
        let ch = &req.get(attr::CHAP_CHALLENGE)?.value;
        assert_eq!(
            chap::md5_response(c.value[0], b"pw-7", ch)[..],
            c.value[1..]
        );
        let mut reply = Packet::new(Code::AccessAccept, req.identifier, [0; 16]);
        for (tag, lns, pref, salt) in [(1u8, LNS_A, 2u32, 0x8001u16), (2, LNS_B, 1, 0x8002)] {
            let int = |v: u32| {
                let mut b = v.to_be_bytes();
                b[0] = tag;
                b.to_vec()
            };
            reply.attrs.push(Attr::new(attr::TUNNEL_TYPE, int(3)));
            reply
                .attrs
                .push(Attr::new(attr::TUNNEL_MEDIUM_TYPE, int(1)));
            let mut ep = vec![tag];
            ep.extend_from_slice(format!("10.0.0.{lns}").as_bytes());
            reply
                .attrs
                .push(Attr::new(attr::TUNNEL_SERVER_ENDPOINT, ep));
            reply
                .attrs
                .push(Attr::new(attr::TUNNEL_PREFERENCE, int(pref)));
            let pw = encrypt_tunnel_password(tag, salt, b"hop-secret", SECRET, &req.authenticator)?;
            reply.attrs.push(Attr::new(attr::TUNNEL_PASSWORD, pw));
        }
        reply.seal_response(SECRET, req.authenticator).ok()
    };
    let mut answered = 0;
    let mut run =
        |sim: &mut Sim<Mixed<D>>, answer: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>, secs: u64| {
            let end = sim.now + Duration::from_secs(secs);
            while sim.now < end {
                while let Some((to, bytes)) = sim.nodes[g].endpoint.lns().unwrap().poll_radius() {
                    if let Some(reply) = answer(&bytes) {
                        answered += 1;
                        sim.with(g, |e, now| e.lns().unwrap().handle_radius(now, to, &reply));
                    }
                }
                if !sim.step() {
                    break;
                }
            }
        };
    run(&mut sim, &mut answer, 30);
    let ups: Vec<Option<Ipv4Addr>> = sim.nodes[l]
        .events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lac(LacEvent::SubscriberUp { ipv4, .. }) => Some(*ipv4),
            _ => None,
        })
        .collect();
    assert_eq!(ups.len(), 1, "gateway: {:?}", sim.nodes[g].events);
    assert_eq!(ups[0].unwrap().octets()[2], LNS_B);
    let gw = sim.nodes[g].endpoint.as_lns().unwrap();
    assert_eq!(gw.switch.stats.by_radius, 1);
    assert_eq!(gw.switch.stats.up, 1);
    assert_eq!(
        sim.nodes[a]
            .endpoint
            .as_lns()
            .unwrap()
            .endpoint
            .tunnel_count(),
        0
    );
    assert_eq!(
        sim.nodes[b].endpoint.as_lns().unwrap().subscriber_count(),
        1
    );

    // The subscriber hangs up: the gateway accounts for the switched call
    // (RFC 2867): Start when both legs came up, Stop when it ended, with
    // the tunnel to the target LNS, on which the gateway is the client.
    let k = sim.nodes[l]
        .events
        .iter()
        .find_map(|e| match e {
            MixedEvent::Lac(LacEvent::SubscriberUp { key, .. }) => Some(*key),
            _ => None,
        })
        .unwrap();
    sim.with(l, |e, now| e.lac().unwrap().hang_up(now, k));
    run(&mut sim, &mut answer, 10);
    assert_eq!(answered, 3, "one Access-Accept, Start, Stop");
    let text = |p: &Packet, t: u8| String::from_utf8_lossy(&p.get(t).unwrap().value).into_owned();
    let status = |p: &Packet| p.get(attr::ACCT_STATUS_TYPE).unwrap().as_u32();
    assert_eq!(
        accounting.iter().map(status).collect::<Vec<_>>(),
        vec![Some(1), Some(2)]
    );
    for p in &accounting {
        assert_eq!(text(p, attr::USER_NAME), "user7@b.example");
        assert_eq!(text(p, attr::TUNNEL_SERVER_ENDPOINT), "10.0.0.3");
        assert_eq!(text(p, attr::TUNNEL_CLIENT_ENDPOINT), "10.0.0.1");
        assert_eq!(text(p, attr::TUNNEL_SERVER_AUTH_ID), "xlns");
    }
    assert_eq!(
        text(&accounting[0], attr::ACCT_SESSION_ID),
        text(&accounting[1], attr::ACCT_SESSION_ID)
    );
    assert_eq!(
        text(&accounting[0], attr::ACCT_TUNNEL_CONNECTION),
        text(&accounting[1], attr::ACCT_TUNNEL_CONNECTION)
    );
    // The gateway's control plane switched every frame the simulated
    // data plane did not: the Stop counts both, each way.
    let count = |t: u8| u64::from(accounting[1].get(t).unwrap().as_u32().unwrap());
    let relayed = sim.nodes[g].endpoint.as_lns().unwrap().switch.stats.relayed;
    let (inp, outp) = (
        count(attr::ACCT_INPUT_PACKETS),
        count(attr::ACCT_OUTPUT_PACKETS),
    );
    assert!(inp > dp[0].packets && outp > dp[1].packets, "{inp} {outp}");
    assert_eq!(inp + outp, relayed + dp[0].packets + dp[1].packets);
    assert!(count(attr::ACCT_INPUT_OCTETS) >= dp[0].octets + 4 * (inp - dp[0].packets));
    assert!(count(attr::ACCT_OUTPUT_OCTETS) >= dp[1].octets + 4 * (outp - dp[1].packets));
    // The LAC hung up: Acct-Terminate-Cause Lost-Carrier (RFC 2866 §5.10).
    assert_eq!(
        accounting[1]
            .get(attr::ACCT_TERMINATE_CAUSE)
            .unwrap()
            .as_u32(),
        Some(2)
    );
}

/// Calls without a Tunnel-Assignment-ID spread over several tunnels to
/// one LNS (a new one per 32 calls, up to `tunnels_per_lns`); calls with
/// one share a single tunnel (RFC 2868 §3.7).
#[test]
fn busy_targets_get_more_tunnels_unless_an_assignment_id_binds_them() {
    for (assignment, want) in [(None, 3), (Some(b"grp1".to_vec()), 1)] {
        let mut gw = gateway(AuthProtocol::ChapMd5, Duration::from_secs(60));
        let mut b = target(LNS_B, 1);
        b.assignment_id = assignment.clone();
        gw.switch.reconfigure(SwitchConfig {
            realms: RealmRules::new(vec![("b.example".into(), vec![b])]).unwrap(),
            ..Default::default()
        });
        let mut sim: Sim<Mixed<NullDataPlane>> =
            Sim::new(Instant::now(), Impairments::default(), 3);
        let g = sim.add(addr(GW), Mixed::Lns(gw));
        sim.add(
            addr(LNS_B),
            Mixed::Lns(lns(LNS_B, AuthProtocol::ChapMd5, 100)),
        );
        let l = sim.add(addr(LAC), Mixed::Lac(lac(AuthProtocol::ChapMd5)));
        let t = sim
            .with(l, |e, now| {
                e.lac().unwrap().open_tunnel(now, addr(LAC), addr(GW))
            })
            .unwrap();
        for i in 0..80 {
            let creds = (format!("user{i}@b.example").into_bytes(), format!("pw-{i}"));
            sim.with(l, |e, now| {
                e.lac()
                    .unwrap()
                    .place_call(now, t, CallParams::default(), creds)
            })
            .unwrap();
        }
        let up = sim.run_until(Duration::from_secs(60), |sim| {
            sim.nodes[g].endpoint.as_lns().unwrap().switch.stats.up == 80
        });
        assert!(up, "{assignment:?}");
        let gw = sim.nodes[g].endpoint.as_lns().unwrap();
        let to_b = gw
            .endpoint
            .tunnels()
            .filter(|t| t.peer == addr(LNS_B))
            .count();
        assert_eq!(to_b, want, "{assignment:?}");
    }
}

/// Outgoing calls through the gateway (RFC 2661 §7.5): LNS B dials
/// 5551234 through the gateway; `[[dialout]] called = "555"` sends the
/// OCRQ on to the LAC, whose subscriber answers; the gateway answers the
/// LNS (OCCN) once the LAC's call connected, and the LNS runs PPP with the
/// dialled subscriber through it. A CDN at the LNS then clears the LAC's
/// call.
#[test]
fn an_lns_dials_out_through_the_gateway_to_the_lac_of_the_number() {
    use lns_protocol::l2tp::{Endpoint, EndpointConfig, PeerRule};
    use lns_protocol::lns::DialOutcome;
    use rand::SeedableRng;
    // The LNSs here require tunnel authentication.
    let accept_ocrq = PeerPolicy {
        answer_outgoing_calls: true,
        secret: Some(b"hop-secret".to_vec()),
        ..Default::default()
    };
    let gw_endpoint = Endpoint::with_rng(
        EndpointConfig {
            defer_outgoing_answer: true,
            peers: vec![PeerRule {
                address: None,
                policy: accept_ocrq.clone(),
            }],
            ..Default::default()
        },
        rand::rngs::StdRng::seed_from_u64(1),
    );
    let mut pools = Pools::default();
    pools.add("default", vec!["100.100.0.0/24".parse().unwrap()]);
    let gw = Lns::new(
        gw_endpoint,
        lns_cfg(AuthProtocol::ChapMd5, Ipv4Addr::new(100, 100, 0, 254)),
        Users::default(),
        pools,
        NullDataPlane::default(),
        11,
    )
    .with_switch(SwitchConfig {
        // 555: a LAC that never answers first, then the real one.
        dialouts: vec![
            (
                b"555".to_vec(),
                vec![
                    TunnelTarget {
                        preference: 1,
                        ..TunnelTarget::new(addr(99))
                    },
                    TunnelTarget {
                        preference: 2,
                        ..TunnelTarget::new(addr(LAC))
                    },
                ],
            ),
            (b"9".to_vec(), vec![TunnelTarget::new(addr(99))]),
        ],
        target_timeout: Duration::from_secs(3),
        ..Default::default()
    });
    let mut lac = lac(AuthProtocol::ChapMd5);
    lac.endpoint.reconfigure(EndpointConfig {
        peers: vec![PeerRule {
            address: None,
            policy: accept_ocrq,
        }],
        ..Default::default()
    });
    let lac = Lac::new(
        lac.endpoint,
        LinkConfig {
            lcp: LcpConfig {
                side: Side::Client,
                auth: vec![AuthProtocol::ChapMd5],
                ..Default::default()
            },
            ..Default::default()
        },
        (b"user5@b.example".to_vec(), "pw-5".to_string()),
        5,
    );
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 4);
    let g = sim.add(addr(GW), Mixed::Lns(gw));
    let b = sim.add(
        addr(LNS_B),
        Mixed::Lns(lns(LNS_B, AuthProtocol::ChapMd5, 10)),
    );
    let l = sim.add(addr(LAC), Mixed::Lac(lac));
    let dial = |sim: &mut Sim<Mixed<NullDataPlane>>, number: &str| {
        let params = CallParams {
            called_number: Some(number.as_bytes().to_vec()),
            ..Default::default()
        };
        sim.with(b, |e, now| {
            e.lns().unwrap().dial(
                now,
                addr(LNS_B),
                addr(GW),
                params,
                now + Duration::from_secs(20),
            )
        })
        .unwrap()
    };
    let key = dial(&mut sim, "5551234");
    let up = sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[l]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    assert!(
        up,
        "gateway: {:?}\nLNS: {:?}",
        sim.nodes[g].events, sim.nodes[b].events
    );
    let outcome = sim.nodes[b].events.iter().find_map(|e| match e {
        MixedEvent::Lns(LnsEvent::Dialed { key: k, outcome }) if *k == key => Some(outcome.clone()),
        _ => None,
    });
    assert_eq!(outcome, Some(DialOutcome::Connected));
    // The dialled subscriber got its address from the LNS that dialled.
    let ip = sim.nodes[l]
        .events
        .iter()
        .find_map(|e| match e {
            MixedEvent::Lac(LacEvent::SubscriberUp { ipv4, .. }) => *ipv4,
            _ => None,
        })
        .unwrap();
    assert_eq!(ip.octets()[2], LNS_B);
    let gw_ref = sim.nodes[g].endpoint.as_lns().unwrap();
    assert_eq!(gw_ref.switch.stats.dialouts, 1);
    // The silent LAC was tried first, timed out and is held down.
    assert_eq!(gw_ref.switch.failures(addr(99)), 1);
    assert_eq!(gw_ref.switch.len(), 1);
    assert_eq!(gw_ref.dataplane.switched.len(), 1);
    // The LAC saw the number the LNS dialled.
    assert!(sim.nodes[l].events.iter().any(|e| matches!(
        e,
        MixedEvent::Lac(LacEvent::L2tp(lns_protocol::l2tp::Event::SessionUp { peer_avps, .. }))
            if peer_avps.contains(&lns_protocol::l2tp::Avp::CalledNumber(b"5551234".to_vec()))
    )));

    // The LNS clears the call; the LAC's goes too.
    sim.with(b, |e, now| {
        e.lns()
            .unwrap()
            .disconnect(now, key, DownCause::Operator("done".into()))
    });
    sim.run_idle(Duration::from_secs(5));
    assert!(
        sim.nodes[l]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberDown { .. })))
    );
    assert!(sim.nodes[g].endpoint.as_lns().unwrap().switch.is_empty());
    // The tunnel the gateway opened to the LAC closes once idle.
    sim.run_idle(Duration::from_secs(20));
    assert!(
        !sim.nodes[g]
            .endpoint
            .as_lns()
            .unwrap()
            .endpoint
            .tunnels()
            .any(|t| t.peer == addr(LAC) && t.state.name() != "closing")
    );

    // A number no [[dialout]] serves is refused at once: CDN result 6
    // (invalid destination, RFC 2661 §4.4.2).
    let k = dial(&mut sim, "4441234");
    sim.run_idle(Duration::from_secs(5));
    let failed = sim.nodes[b].events.iter().any(|e| {
        matches!(
            e,
            MixedEvent::Lns(LnsEvent::Dialed {
                key: x,
                outcome: DialOutcome::Failed(lns_protocol::l2tp::ClearCause::PeerCdn { result, .. }),
            }) if *x == k && result.result == 6
        )
    });
    assert!(failed, "{:?}", sim.nodes[b].events);
}

/// WAN-Error-Notify from the LAC reaches the LNS, and Set-Link-Info from
/// the LNS reaches the LAC, through the gateway (RFC 2661 §6.13, §6.14).
#[test]
fn wen_and_sli_are_relayed_between_the_legs() {
    use lns_protocol::l2tp::avp::CallErrors;
    use lns_protocol::l2tp::{Avp, ControlMessage, Event, MessageType};
    let mut lab = lab(AuthProtocol::ChapMd5, false);
    let keys = lab.call(&["user2@b.example".to_string()]);
    let li = lab.lac;
    let up = lab.sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    assert!(up);
    let errors = CallErrors {
        crc_errors: 3,
        framing_errors: 1,
        hardware_overruns: 0,
        buffer_overruns: 0,
        timeout_errors: 2,
        alignment_errors: 0,
    };
    let wen = ControlMessage::new(MessageType::Wen, vec![Avp::CallErrors(errors)]);
    let sent = lab.sim.with(li, |e, now| {
        e.lac().unwrap().endpoint.send_call_info(now, keys[0], wen)
    });
    assert!(sent);
    lab.sim.run_idle(Duration::from_secs(2));
    let at_lns = lab.lns_events(lab.b).into_iter().find_map(|e| match e {
        LnsEvent::L2tp(Event::SessionInfo { key, message }) => Some((*key, message.clone())),
        _ => None,
    });
    let (lns_key, m) = at_lns.expect("the WEN reached the LNS");
    assert_eq!(m.msg_type, MessageType::Wen);
    assert!(m.avps.contains(&Avp::CallErrors(errors)));
    let sli = ControlMessage::new(
        MessageType::Sli,
        vec![Avp::Accm {
            send: 0xffff_ffff,
            recv: 0x000a_0000,
        }],
    );
    let b = lab.b;
    let sent = lab.sim.with(b, |e, now| {
        e.lns().unwrap().endpoint.send_call_info(now, lns_key, sli)
    });
    assert!(sent);
    lab.sim.run_idle(Duration::from_secs(2));
    let at_lac = lab.sim.nodes[li].events.iter().find_map(|e| match e {
        MixedEvent::Lac(LacEvent::L2tp(Event::SessionInfo { message, .. })) => {
            Some(message.clone())
        }
        _ => None,
    });
    let m = at_lac.expect("the SLI reached the LAC");
    assert_eq!(m.msg_type, MessageType::Sli);
    assert!(m.avps.contains(&Avp::Accm {
        send: 0xffff_ffff,
        recv: 0x000a_0000
    }));
    assert_eq!(lab.gateway().switch.stats.info_relayed, 2);
}

/// A LAC that sends proxy LCP and proxy authentication (here: another
/// gateway in front) gets its calls switched at once by realm, the proxy
/// AVPs passed on untouched: LAC → gateway 1 (runs the first phase) →
/// gateway 2 (switches on the proxied user) → LNS B, which checks the
/// proxied CHAP response and finishes PPP with the subscriber.
#[test]
fn proxy_authentication_from_the_lac_is_switched_and_passed_on() {
    const GW2: u8 = 4;
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 8);
    let gw1 = gateway(AuthProtocol::ChapMd5, Duration::from_secs(60)).with_switch(SwitchConfig {
        realms: RealmRules::new(vec![("b.example".into(), vec![target(GW2, 1)])]).unwrap(),
        ..Default::default()
    });
    let mut pools = Pools::default();
    pools.add("default", vec!["100.101.0.0/24".parse().unwrap()]);
    let policy = PeerPolicy {
        secret: Some(b"hop-secret".to_vec()),
        ..Default::default()
    };
    let gw2 = Lns::new(
        common::sim_endpoint(4, policy),
        lns_cfg(AuthProtocol::ChapMd5, Ipv4Addr::new(100, 101, 0, 254)),
        Users::default(),
        pools,
        NullDataPlane::default(),
        13,
    )
    .with_switch(SwitchConfig {
        realms: RealmRules::new(vec![("b.example".into(), vec![target(LNS_B, 1)])]).unwrap(),
        ..Default::default()
    });
    let g1 = sim.add(addr(GW), Mixed::Lns(gw1));
    let g2 = sim.add(addr(GW2), Mixed::Lns(gw2));
    let b = sim.add(
        addr(LNS_B),
        Mixed::Lns(lns(LNS_B, AuthProtocol::ChapMd5, 10)),
    );
    let l = sim.add(addr(LAC), Mixed::Lac(lac(AuthProtocol::ChapMd5)));
    let t = sim
        .with(l, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(LAC), addr(GW))
        })
        .unwrap();
    let creds = (b"user4@b.example".to_vec(), "pw-4".to_string());
    sim.with(l, |e, now| {
        e.lac()
            .unwrap()
            .place_call(now, t, CallParams::default(), creds)
    })
    .unwrap();
    let up = sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[l]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    assert!(
        up,
        "gw1: {:?}\ngw2: {:?}\nLNS: {:?}",
        sim.nodes[g1].events, sim.nodes[g2].events, sim.nodes[b].events
    );
    // Gateway 2 ran no PPP: it switched on the proxied user at once.
    let gw2 = sim.nodes[g2].endpoint.as_lns().unwrap();
    assert_eq!(gw2.switch.stats.up, 1);
    assert_eq!(gw2.subscriber_count(), 0);
    // The LNS took the proxied LCP as it was and judged the proxied CHAP
    // response (no second challenge).
    let lns = sim.nodes[b].endpoint.as_lns().unwrap();
    assert_eq!(lns.proxy_adopted, 1);
    assert_eq!(lns.proxy_renegotiated, 0);
    assert_eq!(lns.subscriber_count(), 1);
}

/// RFC 2868 §3.9, §3.10: toward a target with a Tunnel-Client-Auth-ID
/// the gateway calls itself by that name; a target whose Host Name is not
/// its Tunnel-Server-Auth-ID is not the LNS meant, so its tunnel is
/// closed and the call moves to the next target.
#[test]
fn tunnel_auth_ids_name_us_and_check_the_lns() {
    let mut lab = lab(AuthProtocol::ChapMd5, true);
    let a = TunnelTarget {
        server_auth_id: Some(b"lns-a.example".to_vec()),
        ..target(LNS_A, 1)
    };
    let b = TunnelTarget {
        client_auth_id: Some(b"gw-for-b".to_vec()),
        server_auth_id: Some(b"xlns".to_vec()),
        ..target(LNS_B, 2)
    };
    lab.gateway().switch.reconfigure(SwitchConfig {
        realms: RealmRules::new(vec![("a.example".into(), vec![a, b])]).unwrap(),
        ..Default::default()
    });
    lab.call(&["user1@a.example".to_string()]);
    let li = lab.lac;
    let up = lab.sim.run_until(Duration::from_secs(30), |sim| {
        sim.nodes[li]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberUp { .. })))
    });
    assert!(up, "{:?}", lab.lns_events(lab.gw));
    // LNS A calls itself "xlns", not "lns-a.example": refused, held down.
    assert_eq!(lab.switched_up()[0].1, addr(LNS_B));
    assert_eq!(lab.gateway().switch.stats.wrong_server_name, 1);
    assert_eq!(lab.gateway().switch.failures(addr(LNS_A)), 1);
    // LNS B heard the name the target set for us.
    let names: Vec<Vec<u8>> = lab
        .lns_events(lab.b)
        .into_iter()
        .filter_map(|e| match e {
            LnsEvent::L2tp(lns_protocol::l2tp::Event::TunnelUp { host_name, .. }) => {
                Some(host_name.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(names, vec![b"gw-for-b".to_vec()]);
}

/// A held OCRQ answered with sequencing (what the gateway does when the
/// LAC that placed the call requires it) tells the LNS so: its OCCN
/// carries Sequencing Required (RFC 2661 §5.4, §6.10).
#[test]
fn a_held_ocrq_answered_with_sequencing_asks_the_lns_for_it() {
    use lns_protocol::l2tp::{Avp, Endpoint, EndpointConfig, Event, PeerRule};
    use rand::SeedableRng;
    let endpoint = |seed: u64, defer: bool| {
        Endpoint::with_rng(
            EndpointConfig {
                defer_outgoing_answer: defer,
                peers: vec![PeerRule {
                    address: None,
                    policy: PeerPolicy {
                        answer_outgoing_calls: true,
                        ..Default::default()
                    },
                }],
                ..Default::default()
            },
            rand::rngs::StdRng::seed_from_u64(seed),
        )
    };
    let mut sim: Sim<Endpoint> = Sim::new(Instant::now(), Impairments::default(), 2);
    let lns = sim.add(addr(LNS_B), endpoint(1, false));
    let gw = sim.add(addr(GW), endpoint(2, true));
    let t = sim
        .with(lns, |e, now| e.open_tunnel(now, addr(LNS_B), addr(GW)))
        .unwrap();
    sim.with(lns, |e, now| e.dial(now, t, CallParams::default()))
        .unwrap();
    sim.run_idle(Duration::from_secs(2));
    let held = sim.nodes[gw].events.iter().find_map(|e| match e {
        Event::OutgoingCallRequest { key, .. } => Some(*key),
        _ => None,
    });
    let held = held.expect("the OCRQ is held");
    // Held: no OCCN yet, so the LNS's call is not up.
    assert!(
        !sim.nodes[lns]
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionUp { .. }))
    );
    assert!(sim.with(gw, |e, now| e.answer_outgoing(now, held, true)));
    sim.run_idle(Duration::from_secs(2));
    let avps = sim.nodes[lns].events.iter().find_map(|e| match e {
        Event::SessionUp { peer_avps, .. } => Some(peer_avps.clone()),
        _ => None,
    });
    assert!(
        avps.expect("the call is up")
            .contains(&Avp::SequencingRequired)
    );
}
