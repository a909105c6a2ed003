//! The LNS engine against an in-process RADIUS server, in the simulator:
//! accept and reject for each method, Framed-IP-Address honoured,
//! accounting Start/Stop, a dead server failing sessions cleanly and
//! recovering, Disconnect-Request ACK/NAK, forged packets dropped.

use lns_protocol::aaa::local::Users;
use lns_protocol::aaa::pool::Pools;
use lns_protocol::aaa::radius::client::{ClientConfig, Server};
use lns_protocol::aaa::radius::nas::Nas;
use lns_protocol::aaa::radius::packet::{Attr, Code, Packet, attr, ms, unhide_password};
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{
    DataPlane, Lns, LnsConfig, LnsEvent, NullDataPlane, RadiusSettings, Removed, SessionEntry,
    SessionUsage,
};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::{DownCause, LinkConfig};
use lns_protocol::ppp::{chap, mschapv2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const SECRET: &[u8] = b"radius-secret";

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 1701))
}

fn rad_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A tiny RADIUS server: clear-text users, optional Framed-IP-Address.
#[derive(Default)]
struct Fake {
    users: HashMap<Vec<u8>, (String, Option<Ipv4Addr>)>,
    /// More attributes for a user's Access-Accept.
    accept_attrs: HashMap<Vec<u8>, Vec<Attr>>,
    up: bool,
    accounting: Vec<Packet>,
    access: usize,
}

impl Fake {
    fn new() -> Self {
        let mut f = Fake {
            up: true,
            ..Default::default()
        };
        for (u, p, ip) in [
            ("alice", "alice-pw", Some(Ipv4Addr::new(100, 64, 9, 9))),
            ("bob", "bob-pw", None),
        ] {
            f.users.insert(u.as_bytes().to_vec(), (p.into(), ip));
        }
        f
    }

    fn answer(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        if !self.up {
            return None;
        }
        let req = Packet::decode(bytes).ok()?;
        match req.code()? {
            Code::AccessRequest => {
                self.access += 1;
                assert!(req.get(attr::MESSAGE_AUTHENTICATOR).is_some());
                let user = req.get(attr::USER_NAME)?.value.clone();
                let (pw, ip) = self.users.get(&user).cloned().unwrap_or_default();
                let mut ok = false;
                let mut extra = Vec::new();
                if let Some(h) = req.get(attr::USER_PASSWORD) {
                    ok = unhide_password(&h.value, SECRET, &req.authenticator)
                        .is_some_and(|p| p == pw.as_bytes());
                } else if let Some(c) = req.get(attr::CHAP_PASSWORD) {
                    let ch = &req.get(attr::CHAP_CHALLENGE)?.value;
                    ok = chap::md5_response(c.value[0], pw.as_bytes(), ch)[..] == c.value[1..];
                } else if let Some(r) = req.vendor(ms::VENDOR, ms::CHAP2_RESPONSE) {
                    let ac: [u8; 16] = req
                        .vendor(ms::VENDOR, ms::CHAP_CHALLENGE)?
                        .try_into()
                        .ok()?;
                    let pc: [u8; 16] = r[2..18].try_into().ok()?;
                    let nt: [u8; 24] = r[26..50].try_into().ok()?;
                    ok = mschapv2::generate_nt_response(&ac, &pc, &user, &pw) == nt;
                    let ar = mschapv2::authenticator_response(&pw, &nt, &pc, &ac, &user);
                    let mut v = vec![r[0]];
                    v.extend_from_slice(ar.as_bytes());
                    extra.push(Attr::vendor(ms::VENDOR, ms::CHAP2_SUCCESS, &v));
                }
                let code = if ok {
                    Code::AccessAccept
                } else {
                    Code::AccessReject
                };
                let mut reply = Packet::new(code, req.identifier, [0; 16]);
                if ok {
                    if let Some(ip) = ip {
                        reply
                            .attrs
                            .push(Attr::new(attr::FRAMED_IP_ADDRESS, ip.octets().to_vec()));
                    }
                    reply.attrs.extend(extra);
                    reply
                        .attrs
                        .extend(self.accept_attrs.get(&user).cloned().unwrap_or_default());
                } else {
                    reply
                        .attrs
                        .push(Attr::new(attr::REPLY_MESSAGE, b"go away".to_vec()));
                }
                reply.seal_response(SECRET, req.authenticator).ok()
            }
            Code::AccountingRequest => {
                assert!(req.verify_request(SECRET));
                self.accounting.push(req.clone());
                let mut reply = Packet::new(Code::AccountingResponse, req.identifier, [0; 16]);
                reply.seal_response(SECRET, req.authenticator).ok()
            }
            _ => None,
        }
    }
}

fn endpoint(seed: u64) -> Endpoint {
    Endpoint::with_rng(
        EndpointConfig {
            peers: vec![PeerRule {
                address: None,
                policy: PeerPolicy::default(),
            }],
            ..Default::default()
        },
        StdRng::seed_from_u64(seed),
    )
}

fn lns(auth: AuthProtocol) -> Lns<NullDataPlane> {
    lns_with(auth, None, None, NullDataPlane::default())
}

fn lns_with<D: DataPlane>(
    auth: AuthProtocol,
    interim: Option<Duration>,
    idle_timeout: Option<Duration>,
    plane: D,
) -> Lns<D> {
    let mut pools = Pools::default();
    pools.add("default", vec!["100.64.0.0/24".parse().unwrap()]);
    let cfg = LnsConfig {
        ipv6: Default::default(),
        link: LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                auth: vec![auth],
                ..Default::default()
            },
            idle_timeout,
            ..Default::default()
        },
        gateway: Ipv4Addr::new(100, 64, 255, 254),
        dns: [None, None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: Some(RadiusSettings {
            client: ClientConfig {
                auth: vec![Server {
                    addr: rad_addr(1812),
                    secret: SECRET.to_vec(),
                }],
                acct: vec![Server {
                    addr: rad_addr(1813),
                    secret: SECRET.to_vec(),
                }],
                ..Default::default()
            },
            nas: Nas {
                ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
                identifier: "xlns-test".into(),
            },
            interim,
            dae_clients: vec![("127.0.0.1".parse().unwrap(), b"dae-secret".to_vec())],
        }),
    };
    Lns::new(endpoint(1), cfg, Users::default(), pools, plane, 5)
}

fn lac(auth: AuthProtocol) -> Lac {
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![auth],
            ..Default::default()
        },
        ..Default::default()
    };
    Lac::new(endpoint(2), link, (Vec::new(), String::new()), 3)
}

struct World<D: DataPlane = NullDataPlane> {
    sim: Sim<Mixed<D>>,
    radius: Fake,
    lns: usize,
    lac: usize,
    tunnel: u16,
}

impl World {
    fn new(auth: AuthProtocol) -> World {
        World::with_lns(auth.clone(), lns(auth))
    }
}

impl<D: DataPlane> World<D> {
    fn with_lns(auth: AuthProtocol, engine: Lns<D>) -> World<D> {
        let mut sim = Sim::new(Instant::now(), Impairments::default(), 1);
        let l = sim.add(addr(1), Mixed::Lns(engine));
        let c = sim.add(addr(2), Mixed::Lac(lac(auth)));
        let tunnel = sim
            .with(c, |e, now| {
                e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
            })
            .unwrap();
        World {
            sim,
            radius: Fake::new(),
            lns: l,
            lac: c,
            tunnel,
        }
    }

    fn call(&mut self, user: &str, pw: &str) -> lns_protocol::l2tp::SessionKey {
        let t = self.tunnel;
        let creds = (user.as_bytes().to_vec(), pw.to_string());
        self.sim
            .with(self.lac, |e, now| {
                e.lac()
                    .unwrap()
                    .place_call(now, t, CallParams::default(), creds)
            })
            .unwrap()
    }

    /// Steps the world (answering RADIUS at once) for `time`.
    fn run(&mut self, time: Duration) {
        let end = self.sim.now + time;
        loop {
            self.pump();
            match self.sim.next_time() {
                Some(t) if t <= end => {
                    self.sim.step();
                }
                _ => break,
            }
        }
        self.pump();
        self.sim.now = self.sim.now.max(end);
    }

    fn pump(&mut self) {
        let l = self.lns;
        loop {
            let out = self.sim.nodes[l].endpoint.lns().unwrap().poll_radius();
            let Some((to, bytes)) = out else { break };
            if let Some(reply) = self.radius.answer(&bytes) {
                self.sim
                    .with(l, |e, now| e.lns().unwrap().handle_radius(now, to, &reply));
            }
        }
    }

    fn lns_events(&self) -> Vec<&LnsEvent> {
        self.sim.nodes[self.lns]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lns(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn lac_ups(&self) -> Vec<Option<Ipv4Addr>> {
        self.sim.nodes[self.lac]
            .events
            .iter()
            .filter_map(|e| match e {
                MixedEvent::Lac(LacEvent::SubscriberUp { ipv4, .. }) => Some(*ipv4),
                _ => None,
            })
            .collect()
    }

    fn lns_engine(&mut self) -> &mut Lns<D> {
        self.sim.nodes[self.lns].endpoint.lns().unwrap()
    }
}

fn acct_status(p: &Packet) -> u32 {
    p.get(attr::ACCT_STATUS_TYPE)
        .and_then(Attr::as_u32)
        .unwrap()
}

#[test]
fn each_method_accepts_with_radius_and_framed_ip_is_honoured() {
    for m in [
        AuthProtocol::Pap,
        AuthProtocol::ChapMd5,
        AuthProtocol::MsChapV2,
    ] {
        let mut w = World::new(m.clone());
        w.call("alice", "alice-pw");
        w.call("bob", "bob-pw");
        w.run(Duration::from_secs(10));
        let mut ups = w.lac_ups();
        ups.sort();
        assert_eq!(ups.len(), 2, "{m:?}: {:?}", w.lns_events());
        // alice's address comes from RADIUS; bob's from the pool.
        assert!(
            ups.contains(&Some(Ipv4Addr::new(100, 64, 9, 9))),
            "{m:?} {ups:?}"
        );
        assert!(
            ups.iter()
                .any(|a| a.is_some_and(|a| a.octets()[..3] == [100, 64, 0]))
        );
        assert_eq!(w.lns_engine().aaa.accepts, 2);
        // Every verified reply's response time is kept for the metrics
        // (two Access-Accepts, and the Accounting-Responses so far).
        let lat = w.lns_engine().take_radius_latencies();
        assert!(lat.len() >= 2, "{lat:?}");
        assert!(
            w.lns_engine().take_radius_latencies().is_empty(),
            "taken once"
        );
        // Accounting Start for both, with the session's address and id.
        let starts: Vec<&Packet> = w
            .radius
            .accounting
            .iter()
            .filter(|p| acct_status(p) == 1)
            .collect();
        assert_eq!(starts.len(), 2);
        assert!(starts.iter().all(|p| p.get(attr::ACCT_SESSION_ID).is_some()
            && p.get(attr::FRAMED_IP_ADDRESS).is_some()
            && p.get(attr::NAS_PORT_TYPE).and_then(Attr::as_u32) == Some(5)));
    }
}

#[test]
fn calls_of_one_tunnel_report_it_alike_and_each_tunnel_its_own() {
    let mut w = World::new(AuthProtocol::ChapMd5);
    w.call("alice", "alice-pw");
    w.call("bob", "bob-pw");
    let second = w
        .sim
        .with(w.lac, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
        })
        .unwrap();
    w.run(Duration::from_secs(5));
    let creds = (b"bob".to_vec(), "bob-pw".to_string());
    w.sim
        .with(w.lac, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, second, CallParams::default(), creds)
        })
        .unwrap();
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 3, "{:?}", w.lns_events());
    let text = |p: &Packet, a: u8| String::from_utf8(p.get(a).unwrap().value.clone()).unwrap();
    // (our tunnel id from NAS-Port, Acct-Tunnel-Connection, Acct-Session-Id)
    let mut starts: Vec<(u32, String, String)> = w
        .radius
        .accounting
        .iter()
        .filter(|p| acct_status(p) == 1)
        .map(|p| {
            assert_eq!(text(p, attr::TUNNEL_CLIENT_ENDPOINT), "10.0.0.2");
            assert_eq!(text(p, attr::TUNNEL_SERVER_ENDPOINT), "10.0.0.1");
            let port = p.get(attr::NAS_PORT).and_then(Attr::as_u32).unwrap();
            (
                port >> 16,
                text(p, attr::ACCT_TUNNEL_CONNECTION),
                text(p, attr::ACCT_SESSION_ID),
            )
        })
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 3);
    let tunnels: std::collections::BTreeMap<u32, std::collections::BTreeSet<&str>> =
        starts.iter().fold(Default::default(), |mut m, (t, c, _)| {
            m.entry(*t).or_default().insert(c.as_str());
            m
        });
    assert_eq!(tunnels.len(), 2, "{starts:?}");
    assert!(tunnels.values().all(|c| c.len() == 1), "{starts:?}");
    let connections: std::collections::BTreeSet<_> = tunnels.values().flatten().collect();
    assert_eq!(connections.len(), 2, "{starts:?}");
    let ids: std::collections::BTreeSet<_> = starts.iter().map(|s| &s.2).collect();
    assert_eq!(ids.len(), 3, "{starts:?}");
}

#[test]
fn reject_fails_the_session_and_hangup_sends_stop() {
    let mut w = World::new(AuthProtocol::ChapMd5);
    w.call("alice", "wrong");
    let k = w.call("bob", "bob-pw");
    w.run(Duration::from_secs(30));
    assert_eq!(w.lac_ups().len(), 1);
    assert_eq!(w.lns_engine().aaa.rejects, 1);
    assert!(w.lns_events().iter().any(|e| matches!(
        e,
        LnsEvent::SubscriberDown {
            cause: DownCause::AuthFailed(_),
            ..
        }
    )));
    // bob hangs up after 20 s: Stop with User-Request and the session time.
    w.run(Duration::from_secs(20));
    w.sim.with(w.lac, |e, now| e.lac().unwrap().hang_up(now, k));
    w.run(Duration::from_secs(10));
    let stop = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 2)
        .expect("Accounting Stop");
    assert_eq!(
        stop.get(attr::ACCT_TERMINATE_CAUSE).and_then(Attr::as_u32),
        Some(1)
    );
    assert!(
        stop.get(attr::ACCT_SESSION_TIME)
            .and_then(Attr::as_u32)
            .unwrap()
            >= 20
    );
    let start = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 1)
        .unwrap();
    assert_eq!(
        start.get(attr::ACCT_SESSION_ID),
        stop.get(attr::ACCT_SESSION_ID)
    );
    assert_eq!(w.lns_engine().addressing.pools.leased(), 0);
}

#[test]
fn dead_radius_fails_sessions_cleanly_and_recovery_is_noticed() {
    let mut w = World::new(AuthProtocol::Pap);
    w.radius.up = false;
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(60));
    assert!(w.lac_ups().is_empty());
    assert_eq!(w.lns_engine().aaa.auth_timeouts, 1);
    assert!(w.lns_events().iter().any(|e| matches!(
        e,
        LnsEvent::SubscriberDown {
            cause: DownCause::AuthFailed(m),
            ..
        } if m.contains("no RADIUS server answered")
    )));
    assert_eq!(w.lns_engine().subscriber_count(), 0);
    w.radius.up = true;
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(20));
    assert_eq!(w.lac_ups().len(), 1);
}

#[test]
fn disconnect_request_acks_tears_down_and_naks_unknown_sessions() {
    let mut w = World::new(AuthProtocol::Pap);
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 1);
    let sid = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 1)
        .unwrap()
        .get(attr::ACCT_SESSION_ID)
        .unwrap()
        .value
        .clone();
    let dm = |secret: &[u8], id: &[u8]| {
        let mut p = Packet::new(Code::DisconnectRequest, 7, [0; 16]);
        p.attrs.push(Attr::new(attr::ACCT_SESSION_ID, id.to_vec()));
        p.seal_md5_request(secret).unwrap()
    };
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let now = w.sim.now;
    // Wrong secret: dropped, counted, no answer.
    assert!(
        w.lns_engine()
            .handle_dae(now, from, &dm(b"nope", &sid))
            .is_none()
    );
    // Unknown client address: dropped.
    let stranger = SocketAddr::from(([127, 0, 0, 9], 40000));
    assert!(
        w.lns_engine()
            .handle_dae(now, stranger, &dm(b"dae-secret", &sid))
            .is_none()
    );
    assert_eq!(w.lns_engine().aaa.dae_dropped, 2);
    // Unknown session: NAK with Error-Cause 503.
    let req = dm(b"dae-secret", b"no-such-session");
    let nak = w.lns_engine().handle_dae(now, from, &req).unwrap();
    let nak = Packet::decode(&nak).unwrap();
    assert_eq!(nak.code(), Some(Code::DisconnectNak));
    assert_eq!(nak.get(attr::ERROR_CAUSE).and_then(Attr::as_u32), Some(503));
    assert!(nak.verify_response(b"dae-secret", Packet::decode(&req).unwrap().authenticator));
    // RFC 5176 §3.5 Error-Causes: nothing to identify a session (402),
    // an identification we do not support (401), another NAS (403).
    let nak_cause = |w: &mut World, attrs: Vec<Attr>| {
        let mut p = Packet::new(Code::DisconnectRequest, 8, [0; 16]);
        p.attrs = attrs;
        let req = p.seal_md5_request(b"dae-secret").unwrap();
        let r = w.lns_engine().handle_dae(now, from, &req).unwrap();
        let r = Packet::decode(&r).unwrap();
        assert_eq!(r.code(), Some(Code::DisconnectNak));
        r.get(attr::ERROR_CAUSE).and_then(Attr::as_u32)
    };
    let bob = || Attr::new(attr::USER_NAME, b"bob".to_vec());
    assert_eq!(nak_cause(&mut w, vec![]), Some(402));
    assert_eq!(
        nak_cause(&mut w, vec![bob(), Attr::new(87, b"port-x".to_vec())]),
        Some(401)
    );
    assert_eq!(
        nak_cause(
            &mut w,
            vec![
                bob(),
                Attr::new(attr::NAS_IDENTIFIER, b"other-nas".to_vec())
            ]
        ),
        Some(403)
    );
    // Every identification given must match: bob on another NAS-Port is
    // not this session.
    assert_eq!(
        nak_cause(&mut w, vec![bob(), Attr::u32(attr::NAS_PORT, 1)]),
        Some(503)
    );
    assert_eq!(w.lac_ups().len(), 1);
    // The real one: ACK, and the subscriber is gone at the LAC too.
    let req = dm(b"dae-secret", &sid);
    let ack = w.lns_engine().handle_dae(now, from, &req).unwrap();
    assert_eq!(
        Packet::decode(&ack).unwrap().code(),
        Some(Code::DisconnectAck)
    );
    // Our ACK was lost; the same request again gets the same ACK, and
    // nothing is done twice.
    assert_eq!(w.lns_engine().handle_dae(now, from, &req), Some(ack));
    assert_eq!(w.lns_engine().aaa.disconnects, 1);
    w.run(Duration::from_secs(10));
    assert!(
        w.sim.nodes[w.lac]
            .events
            .iter()
            .any(|e| matches!(e, MixedEvent::Lac(LacEvent::SubscriberDown { .. })))
    );
    let stop = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 2)
        .unwrap();
    assert_eq!(
        stop.get(attr::ACCT_TERMINATE_CAUSE).and_then(Attr::as_u32),
        Some(6)
    );
    assert_eq!(w.lns_engine().subscriber_count(), 0);
}

/// A data plane that forwarded a known amount: each `Read` adds
/// [`TICK`] to the session's count, and its removal adds it once more.
#[derive(Debug, Default)]
struct CountingPlane {
    installed: HashMap<lns_protocol::l2tp::SessionKey, SessionUsage>,
}

const TICK: SessionUsage = SessionUsage {
    up_packets: 1_000,
    up_octets: 600_000,
    down_packets: 3_000_000,
    // Past 2^32 octets after two ticks: the Gigawords attributes count.
    down_octets: 3_000_000_000,
};

impl DataPlane for CountingPlane {
    fn install(&mut self, e: &SessionEntry) {
        self.installed.entry(e.key).or_default();
    }
    fn remove(&mut self, key: lns_protocol::l2tp::SessionKey) -> Removed {
        Removed {
            next_ns: None,
            usage: self
                .installed
                .remove(&key)
                .map_or_else(SessionUsage::default, |u| u + TICK),
        }
    }
    fn counters(&mut self, key: lns_protocol::l2tp::SessionKey) -> SessionUsage {
        self.installed
            .get_mut(&key)
            .map_or_else(SessionUsage::default, |u| {
                *u = *u + TICK;
                *u
            })
    }
}

fn u64_of(p: &Packet, low: u8, high: u8) -> u64 {
    let v = |t: u8| u64::from(p.get(t).and_then(Attr::as_u32).unwrap_or(0));
    (v(high) << 32) | v(low)
}

/// Accounting carries what the data plane forwarded (RFC 2866 §5.3-5.8,
/// RFC 2869 §5.1-5.2): each Interim-Update the running count it reports,
/// the Stop its final count, octets past 2^32 in the Gigawords.
#[test]
fn interim_and_stop_carry_the_data_planes_counts() {
    let interval = Duration::from_secs(60);
    let engine = lns_with(
        AuthProtocol::ChapMd5,
        Some(interval),
        None,
        CountingPlane::default(),
    );
    let mut w = World::with_lns(AuthProtocol::ChapMd5, engine);
    let k = w.call("bob", "bob-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 1);
    w.run(Duration::from_secs(125));
    w.sim.with(w.lac, |e, now| e.lac().unwrap().hang_up(now, k));
    w.run(Duration::from_secs(10));
    let by = |status: u32| -> Vec<&Packet> {
        w.radius
            .accounting
            .iter()
            .filter(|p| acct_status(p) == status)
            .collect()
    };
    let (starts, interims, stops) = (by(1), by(3), by(2));
    assert_eq!((starts.len(), interims.len(), stops.len()), (1, 2, 1));
    let counted = |p: &Packet| {
        (
            u64_of(p, attr::ACCT_INPUT_PACKETS, 0),
            u64_of(p, attr::ACCT_INPUT_OCTETS, attr::ACCT_INPUT_GIGAWORDS),
            u64_of(p, attr::ACCT_OUTPUT_PACKETS, 0),
            u64_of(p, attr::ACCT_OUTPUT_OCTETS, attr::ACCT_OUTPUT_GIGAWORDS),
        )
    };
    let times = |n: u64| {
        (
            n * TICK.up_packets,
            n * TICK.up_octets,
            n * TICK.down_packets,
            n * TICK.down_octets,
        )
    };
    assert_eq!(counted(starts[0]), (0, 0, 0, 0));
    assert_eq!(counted(interims[0]), times(1));
    assert_eq!(counted(interims[1]), times(2));
    assert_eq!(counted(stops[0]), times(3));
    assert!(
        stops[0]
            .get(attr::ACCT_OUTPUT_GIGAWORDS)
            .and_then(Attr::as_u32)
            .is_some_and(|g| g >= 2)
    );
}

/// A data plane whose counters never move: a subscriber that sends
/// nothing.
#[derive(Debug, Default)]
struct SilentPlane(NullDataPlane);

impl DataPlane for SilentPlane {
    fn install(&mut self, e: &SessionEntry) {
        self.0.install(e)
    }
    fn remove(&mut self, key: lns_protocol::l2tp::SessionKey) -> Removed {
        self.0.remove(key)
    }
}

/// Idle-Timeout (RFC 2865 §5.28) measured from the data plane's counters:
/// a subscriber whose packets keep coming stays; one that sends nothing
/// is ended within 1.25 times the timeout, and its Stop says Idle-Timeout
/// (RFC 2866 §5.10, 4).
#[test]
fn a_silent_subscriber_ends_on_idle_timeout_and_a_busy_one_stays() {
    let idle = Duration::from_secs(40);
    let busy = lns_with(
        AuthProtocol::ChapMd5,
        None,
        Some(idle),
        CountingPlane::default(),
    );
    let mut w = World::with_lns(AuthProtocol::ChapMd5, busy);
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(300));
    assert_eq!(w.lac_ups().len(), 1);
    assert_eq!(w.lns_engine().subscriber_count(), 1, "traffic keeps it up");

    let silent = lns_with(
        AuthProtocol::ChapMd5,
        None,
        Some(idle),
        SilentPlane::default(),
    );
    let mut w = World::with_lns(AuthProtocol::ChapMd5, silent);
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(5));
    assert_eq!(w.lac_ups().len(), 1);
    w.run(Duration::from_secs(35));
    assert_eq!(w.lns_engine().subscriber_count(), 1, "not yet");
    w.run(Duration::from_secs(20));
    assert_eq!(w.lns_engine().subscriber_count(), 0);
    assert!(w.lns_events().iter().any(|e| matches!(
        e,
        LnsEvent::SubscriberDown {
            cause: DownCause::IdleTimeout,
            ..
        }
    )));
    let stop = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 2)
        .expect("Accounting Stop");
    assert_eq!(
        stop.get(attr::ACCT_TERMINATE_CAUSE).and_then(Attr::as_u32),
        Some(4)
    );
}

/// The LAC going away (StopCCN): the session's NCPs close before it ends,
/// its data-plane entry leaves first, and the Stop still waits for that
/// entry's last counts.
#[test]
fn a_stop_after_the_tunnel_went_down_still_carries_the_last_counts() {
    let engine = lns_with(AuthProtocol::ChapMd5, None, None, CountingPlane::default());
    let mut w = World::with_lns(AuthProtocol::ChapMd5, engine);
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 1);
    w.sim.with(w.lac, |e, now| {
        e.lac().unwrap().with_endpoint(now, |ep| ep.shutdown(now))
    });
    w.run(Duration::from_secs(10));
    let stop = w
        .radius
        .accounting
        .iter()
        .find(|p| acct_status(p) == 2)
        .expect("Accounting Stop");
    assert_eq!(
        u64_of(stop, attr::ACCT_INPUT_PACKETS, 0),
        TICK.up_packets,
        "{stop:?}"
    );
}

/// CoA-Request (RFC 5176): a new Session-Timeout for a live session is
/// acknowledged and ends it then; an unknown session gets NAK 503; a
/// change we cannot make gets NAK 401 and changes nothing; a
/// retransmission gets the same reply without acting twice.
#[test]
fn coa_changes_session_timeout_and_naks_what_it_cannot_do() {
    let mut w = World::new(AuthProtocol::Pap);
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 1);
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let coa = |id: u8, attrs: Vec<Attr>| {
        let mut p = Packet::new(Code::CoaRequest, id, [0; 16]);
        p.attrs = attrs;
        p.seal_md5_request(b"dae-secret").unwrap()
    };
    let answer = |w: &mut World, req: &[u8]| {
        let now = w.sim.now;
        let r = w.lns_engine().handle_dae(now, from, req).unwrap();
        let r = Packet::decode(&r).unwrap();
        (r.code(), r.get(attr::ERROR_CAUSE).and_then(Attr::as_u32))
    };
    let bob = || Attr::new(attr::USER_NAME, b"bob".to_vec());
    let carol = Attr::new(attr::USER_NAME, b"carol".to_vec());
    assert_eq!(
        answer(
            &mut w,
            &coa(1, vec![carol, Attr::u32(attr::SESSION_TIMEOUT, 30)])
        ),
        (Some(Code::CoaNak), Some(503))
    );
    assert_eq!(
        answer(
            &mut w,
            &coa(
                2,
                vec![
                    bob(),
                    Attr::u32(attr::SESSION_TIMEOUT, 30),
                    Attr::new(attr::FILTER_ID, b"gold".to_vec())
                ]
            )
        ),
        (Some(Code::CoaNak), Some(407)),
        "a profile that is not configured"
    );
    // Nothing changed: bob is still up well past 30 s of service.
    w.run(Duration::from_secs(30));
    assert_eq!(w.lns_engine().subscriber_count(), 1);
    // 45 s of service in all: with some 40 s gone, it ends in about 5.
    let req = coa(3, vec![bob(), Attr::u32(attr::SESSION_TIMEOUT, 45)]);
    assert_eq!(answer(&mut w, &req), (Some(Code::CoaAck), None));
    assert_eq!(answer(&mut w, &req), (Some(Code::CoaAck), None), "cached");
    assert_eq!(w.lns_engine().aaa.coa_changes, 1, "applied once");
    // RFC 5176 §6.3: with our clock known, a request whose Event-Timestamp
    // is not current is discarded, unanswered; a current one is not.
    let now = w.sim.now;
    w.lns_engine().set_wall_clock(now, 1_800_000_000);
    let stale = coa(
        4,
        vec![
            bob(),
            Attr::u32(attr::IDLE_TIMEOUT, 600),
            Attr::u32(attr::EVENT_TIMESTAMP, 1_800_000_000 - 3600),
        ],
    );
    assert!(w.lns_engine().handle_dae(now, from, &stale).is_none());
    assert_eq!(w.lns_engine().aaa.dae_stale, 1);
    let fresh = coa(
        5,
        vec![
            bob(),
            Attr::u32(attr::IDLE_TIMEOUT, 600),
            Attr::u32(attr::EVENT_TIMESTAMP, 1_800_000_010),
        ],
    );
    assert_eq!(answer(&mut w, &fresh), (Some(Code::CoaAck), None));
    w.run(Duration::from_secs(10));
    assert_eq!(w.lns_engine().subscriber_count(), 0);
    assert!(w.lns_events().iter().any(|e| matches!(
        e,
        LnsEvent::SubscriberDown {
            cause: DownCause::SessionTimeout,
            ..
        }
    )));
}

/// A data plane that keeps every entry it was given.
#[derive(Debug, Default)]
struct RecordingPlane {
    inner: NullDataPlane,
    installs: Vec<SessionEntry>,
}

impl DataPlane for RecordingPlane {
    fn install(&mut self, e: &SessionEntry) {
        self.installs.push(e.clone());
        self.inner.install(e)
    }
    fn remove(&mut self, key: lns_protocol::l2tp::SessionKey) -> Removed {
        self.inner.remove(key)
    }
}

/// Rates from the Access-Accept reach the data plane with the session;
/// an unusable one refuses it; a CoA changes one direction and keeps the
/// other; a reload that changes a profile changes the sessions using it;
/// an operator's change holds.
#[test]
fn rates_from_radius_a_coa_a_reload_and_an_operator_reach_the_data_plane() {
    use lns_protocol::aaa::rate::{self, Asked, Rate, Rates, Source};
    let mut engine = lns_with(AuthProtocol::Pap, None, None, RecordingPlane::default());
    let mut cfg = engine.config().clone();
    let gold = |up: u64, down: u64| Rates {
        up: Rate::of_bits(up),
        down: Rate::of_bits(down),
    };
    cfg.rates = rate::Settings {
        profiles: [("gold".to_string(), gold(20_000_000, 100_000_000))].into(),
        ..Default::default()
    };
    engine.reconfigure(cfg.clone(), false).unwrap();
    let mut w = World::with_lns(AuthProtocol::Pap, engine);
    w.radius
        .users
        .insert(b"carol".to_vec(), ("carol-pw".into(), None));
    for (user, attr) in [
        ("bob", Attr::vendor(14988, 8, b"10M/50M")),
        ("alice", Attr::new(attr::FILTER_ID, b"gold".to_vec())),
        ("carol", Attr::vendor(14988, 8, b"fast")),
    ] {
        w.radius
            .accept_attrs
            .insert(user.as_bytes().to_vec(), vec![attr]);
    }
    let bob = w.call("bob", "bob-pw");
    w.run(Duration::from_secs(5));
    let alice = w.call("alice", "alice-pw");
    w.run(Duration::from_secs(5));
    w.call("carol", "carol-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 2, "carol's unusable rate refuses her");
    assert_eq!(w.lns_engine().aaa.rate_invalid, 1);
    let last = |w: &mut World<RecordingPlane>, lac_key| {
        let lns_key = w
            .lns_engine()
            .subscribers()
            .find(|s| s.peer_ids.1 == lac_key)
            .map(|s| s.key);
        let plane = &w.lns_engine().dataplane;
        plane
            .installs
            .iter()
            .rev()
            .find(|e| Some(e.key) == lns_key)
            .map(|e| e.rates)
    };
    let (bob_k, alice_k) = (bob.session, alice.session);
    assert_eq!(last(&mut w, bob_k), Some(gold(10_000_000, 50_000_000)));
    assert_eq!(last(&mut w, alice_k), Some(gold(20_000_000, 100_000_000)));

    // CoA: bob's download to 5 Mbit/s, his upload kept.
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut req = Packet::new(Code::CoaRequest, 9, [0; 16]);
    req.attrs = vec![
        Attr::new(attr::USER_NAME, b"bob".to_vec()),
        Attr::vendor(14122, 8, &5_000_000u32.to_be_bytes()),
    ];
    let req = req.seal_md5_request(b"dae-secret").unwrap();
    let now = w.sim.now;
    let r = w.lns_engine().handle_dae(now, from, &req).unwrap();
    assert_eq!(Packet::decode(&r).unwrap().code(), Some(Code::CoaAck));
    assert_eq!(last(&mut w, bob_k), Some(gold(10_000_000, 5_000_000)));

    // A reload makes gold faster: alice follows, bob (no profile) not.
    cfg.rates
        .profiles
        .insert("gold".into(), gold(30_000_000, 200_000_000));
    let installs = w.lns_engine().dataplane.installs.len();
    let now = w.sim.now;
    w.lns_engine().reconfigure(cfg, false).unwrap();
    assert_eq!(w.lns_engine().resolve_rates(now), 1, "alice alone");
    assert_eq!(last(&mut w, alice_k), Some(gold(30_000_000, 200_000_000)));
    assert_eq!(w.lns_engine().dataplane.installs.len(), installs + 1);

    // The operator lifts bob's upload limit.
    let key = w
        .lns_engine()
        .subscribers()
        .find(|s| s.peer_ids.1 == bob_k)
        .map(|s| s.key)
        .unwrap();
    let lift = Asked {
        up: Some(Source::Fixed(None)),
        down: None,
    };
    assert!(w.lns_engine().set_rates(now, key, &lift));
    assert_eq!(
        last(&mut w, bob_k),
        Some(Rates {
            up: None,
            down: Rate::of_bits(5_000_000)
        })
    );
    assert_eq!(
        w.lns_engine().subscriber(key).map(|s| s.rates.down),
        Some(Rate::of_bits(5_000_000))
    );
}

/// With `on_invalid = fallback`, a subscriber whose Access-Accept carries
/// a rate that does not parse comes up with the fallback profile's rates
/// (counted), never unlimited.
#[test]
fn an_unusable_rate_falls_back_to_the_configured_profile() {
    use lns_protocol::aaa::rate::{self, OnInvalid, Rate, Rates};
    let mut engine = lns_with(AuthProtocol::Pap, None, None, RecordingPlane::default());
    let mut cfg = engine.config().clone();
    let slow = Rates {
        up: Rate::of_bits(1_000_000),
        down: Rate::of_bits(2_000_000),
    };
    cfg.rates = rate::Settings {
        profiles: [("slow".to_string(), slow)].into(),
        on_invalid: OnInvalid::Fallback("slow".into()),
        ..Default::default()
    };
    engine.reconfigure(cfg, false).unwrap();
    let mut w = World::with_lns(AuthProtocol::Pap, engine);
    w.radius.accept_attrs.insert(
        b"bob".to_vec(),
        vec![Attr::new(attr::FILTER_ID, b"platinum".to_vec())],
    );
    w.call("bob", "bob-pw");
    w.run(Duration::from_secs(10));
    assert_eq!(w.lac_ups().len(), 1, "up, on the fallback");
    assert_eq!(w.lns_engine().aaa.rate_invalid, 1);
    let installed = w.lns_engine().dataplane.installs.last().map(|e| e.rates);
    assert_eq!(installed, Some(slow));
}
