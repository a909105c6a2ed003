//! The LNS engine against a real FreeRADIUS (Debian `freeradius`), started
//! by the test on loopback with the configuration kept in `deploy/radius/`.
//! The L2TP side runs in memory (the engine and the emulated LAC); RADIUS
//! and Disconnect-Request travel over real UDP sockets.
//!
//! Checks: PAP, CHAP and MS-CHAPv2 accept and reject; Framed-IP-Address
//! and Framed-Pool honoured; accounting Start, Interim-Update and Stop in
//! FreeRADIUS's detail file with the session's Acct-Session-Id; a
//! Disconnect-Request sent with `radclient` tears the session down (and a
//! forged one is dropped and counted); the server being down fails
//! sessions cleanly, and they work again once it is back.
//!
//! And the gateway's side (`switched_user_gets_tunnel_targets`): a user
//! whose Access-Accept carries two tagged sets of RFC 2868 Tunnel-*
//! attributes, one with a Tunnel-Password that FreeRADIUS encrypted, read
//! by `aaa::tunnel::from_radius` into the two targets in preference order.

mod common;

use common::process::{Proc, root_or_skip};
use common::radiusd::{Radiusd, SECRET};
use common::tool_or_skip;
use lns_protocol::aaa::local::Users;
use lns_protocol::aaa::pool::Pools;
use lns_protocol::aaa::radius::client::{Client, ClientConfig, ClientOutput, Server, Service};
use lns_protocol::aaa::radius::nas::{Call, CallTunnel, Nas, access_request};
use lns_protocol::aaa::radius::packet::{Code, Packet};
use lns_protocol::aaa::tunnel::{TunnelAttrError, TunnelTarget, from_radius};
use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule, SessionKey};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{Lns, LnsConfig, LnsEvent, NullDataPlane, RadiusSettings};
use lns_protocol::ppp::auth::Credentials;
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::{DownCause, LinkConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

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

/// The LNS engine and one emulated LAC, shuttled in memory, with real
/// sockets for RADIUS and Disconnect-Request. The clock is real time plus
/// a virtual offset that jumps over idle periods (never while a RADIUS
/// request is outstanding).
struct World {
    lns: Lns<NullDataPlane>,
    lacs: Vec<(AuthProtocol, Lac, u16)>,
    radius: UdpSocket,
    dae: UdpSocket,
    offset: Duration,
    lns_events: Vec<LnsEvent>,
    lac_events: Vec<LacEvent>,
}

const LNS: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1701);

impl World {
    fn new(r: &Radiusd) -> World {
        World::build(r, false)
    }

    /// With `ipv6`: IPv6CP on both ends, Router Advertisements and a
    /// DHCPv6 server at the LNS, subscribers that ask for a prefix.
    fn build(r: &Radiusd, ipv6: bool) -> World {
        let mut pools = Pools::default();
        pools.add("default", vec!["100.64.0.0/24".parse().unwrap()]);
        pools.add("business", vec!["100.65.0.0/24".parse().unwrap()]);
        let server = |port| Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            secret: SECRET.as_bytes().to_vec(),
        };
        let all = vec![
            AuthProtocol::MsChapV2,
            AuthProtocol::ChapMd5,
            AuthProtocol::Pap,
        ];
        let ipv6_settings = if ipv6 {
            lns_protocol::lns::Ipv6Settings {
                ra: Some(Default::default()),
                pool: None,
                dhcp: Some(lns_protocol::lns::DhcpSettings {
                    server: lns_protocol::ipv6::dhcp::ServerConfig {
                        duid: lns_protocol::ipv6::dhcp::duid_uuid([7; 16]),
                        preferred: 3600,
                        valid: 7200,
                        rapid_commit: true,
                        preference: 255,
                        dns: Vec::new(),
                        domains: Vec::new(),
                    },
                    pd_pool: None,
                    address: true,
                }),
            }
        } else {
            Default::default()
        };
        let cfg = LnsConfig {
            ipv6: ipv6_settings,
            link: LinkConfig {
                lcp: LcpConfig {
                    side: Side::Server,
                    auth: all,
                    ..Default::default()
                },
                ipv6,
                ..Default::default()
            },
            gateway: Ipv4Addr::new(100, 64, 255, 254),
            dns: [None, None],
            default_pool: "default".into(),
            rates: Default::default(),
            radius: Some(RadiusSettings {
                client: ClientConfig {
                    auth: vec![server(r.auth)],
                    acct: vec![server(r.acct)],
                    timeout: Duration::from_secs(1),
                    tries: 2,
                    dead_time: Duration::from_secs(2),
                },
                nas: Nas {
                    ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
                    identifier: "xlns-test".into(),
                },
                interim: None,
                dae_clients: vec![("127.0.0.1".parse().unwrap(), SECRET.as_bytes().to_vec())],
            }),
        };
        let lns = Lns::new(
            endpoint(1),
            cfg,
            Users::default(),
            pools,
            NullDataPlane::default(),
            9,
        );
        let radius = UdpSocket::bind("127.0.0.1:0").unwrap();
        radius
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let dae = UdpSocket::bind("127.0.0.1:0").unwrap();
        dae.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut w = World {
            lns,
            lacs: Vec::new(),
            radius,
            dae,
            offset: Duration::ZERO,
            lns_events: Vec::new(),
            lac_events: Vec::new(),
        };
        // One LAC per method, so each subscriber uses the method under test.
        for (i, m) in [
            AuthProtocol::Pap,
            AuthProtocol::ChapMd5,
            AuthProtocol::MsChapV2,
        ]
        .into_iter()
        .enumerate()
        {
            let link = LinkConfig {
                lcp: LcpConfig {
                    side: Side::Client,
                    auth: vec![m.clone()],
                    ..Default::default()
                },
                ipv6,
                ..Default::default()
            };
            let mut lac = Lac::new(
                endpoint(10 + i as u64),
                link,
                (Vec::new(), String::new()),
                i as u64,
            )
            .with_dhcpv6_pd(ipv6)
            .with_dhcpv6_address(ipv6);
            let now = Instant::now();
            let t = lac.open_tunnel(now, Self::lac_addr(i), LNS).unwrap();
            w.lacs.push((m, lac, t));
        }
        w
    }

    fn lac_addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 10 + i as u8], 1701))
    }

    fn now(&self) -> Instant {
        Instant::now() + self.offset
    }

    fn call(&mut self, method: &AuthProtocol, user: &str, pw: &str) -> SessionKey {
        let now = self.now();
        let (_, lac, t) = self.lacs.iter_mut().find(|(m, ..)| m == method).unwrap();
        let t = *t;
        lac.place_call(
            now,
            t,
            CallParams::default(),
            (user.as_bytes().to_vec(), pw.to_string()),
        )
        .unwrap()
    }

    fn hang_up(&mut self, key: SessionKey) {
        let now = self.now();
        for (_, lac, _) in &mut self.lacs {
            lac.hang_up(now, key);
        }
    }

    /// One round: in-memory L2TP both ways, RADIUS over the socket,
    /// timers. Returns whether anything moved.
    fn round(&mut self) -> bool {
        let now = self.now();
        let mut moved = false;
        for (i, (_, lac, _)) in self.lacs.iter_mut().enumerate() {
            while let Some(tx) = lac.poll_transmit() {
                self.lns.handle(now, LNS, Self::lac_addr(i), &tx.payload);
                moved = true;
            }
        }
        while let Some(tx) = self.lns.poll_transmit() {
            if let Some(i) = (0..self.lacs.len()).find(|&i| Self::lac_addr(i) == tx.peer) {
                self.lacs[i]
                    .1
                    .handle(now, Self::lac_addr(i), LNS, &tx.payload);
                moved = true;
            }
        }
        while let Some((to, bytes)) = self.lns.poll_radius() {
            self.radius.send_to(&bytes, to).unwrap();
            moved = true;
        }
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = self.radius.recv_from(&mut buf) {
            self.lns.handle_radius(self.now(), from, &buf[..n]);
            moved = true;
        }
        while let Ok((n, from)) = self.dae.recv_from(&mut buf) {
            if let Some(reply) = self.lns.handle_dae(self.now(), from, &buf[..n]) {
                self.dae.send_to(&reply, from).unwrap();
            }
            moved = true;
        }
        let now = self.now();
        self.lns.on_timeout(now);
        for (_, lac, _) in &mut self.lacs {
            lac.on_timeout(now);
            while let Some(e) = lac.poll_event() {
                self.lac_events.push(e);
            }
        }
        while let Some(e) = self.lns.poll_event() {
            self.lns_events.push(e);
        }
        moved
    }

    /// Runs until `done` or `virtual_limit` of (mostly skipped) time.
    fn run_until(&mut self, virtual_limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let end = self.now() + virtual_limit;
        let real_end = Instant::now() + T;
        while !done(self) {
            if self.now() > end || Instant::now() > real_end {
                return done(self);
            }
            if self.round() {
                continue;
            }
            let outstanding = self.lns.radius_outstanding() > 0;
            let next = [self.lns.poll_timeout()]
                .into_iter()
                .chain(self.lacs.iter().map(|(_, l, _)| l.poll_timeout()))
                .flatten()
                .min();
            if !outstanding && let Some(t) = next {
                let now = self.now();
                if t > now {
                    self.offset += (t - now).min(end.saturating_duration_since(now));
                }
            }
        }
        true
    }

    /// Runs in real time (no virtual jumps), for exchanges with another
    /// process that takes real time to act (radclient).
    fn run_real(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let end = Instant::now() + limit;
        while !done(self) {
            if Instant::now() > end {
                return false;
            }
            // The sockets' read timeouts pace this loop.
            self.round();
        }
        true
    }

    fn up(&self, key: SessionKey) -> Option<Ipv4Addr> {
        self.lac_events.iter().find_map(|e| match e {
            LacEvent::SubscriberUp { key: k, ipv4, .. } if *k == key => *ipv4,
            _ => None,
        })
    }

    fn down(&self, key: SessionKey) -> bool {
        self.lac_events
            .iter()
            .any(|e| matches!(e, LacEvent::SubscriberDown { key: k, .. } if *k == key))
            || self.lac_events.iter().any(|e| matches!(
                e,
                LacEvent::L2tp(lns_protocol::l2tp::Event::SessionDown { key: k, .. }) if *k == key
            ))
    }

    fn lns_auth_failures(&self) -> usize {
        self.lns_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    LnsEvent::SubscriberDown {
                        cause: DownCause::AuthFailed(_),
                        ..
                    }
                )
            })
            .count()
    }
}

/// FreeRADIUS gives one user Framed-IPv6-Prefix and Delegated-IPv6-Prefix
/// (RFC 3162, RFC 4818): the subscriber configures its address from
/// exactly that /64 (Router Advertisement) and is delegated exactly that
/// /56 (DHCPv6); the accounting records report both, and the address
/// DHCPv6 IA_NA bound inside that /64 (RFC 6911 Framed-IPv6-Address).
#[test]
fn freeradius_ipv6_prefixes_are_given_and_accounted() {
    if !ready() {
        return;
    }
    let mut rad = Radiusd::build();
    rad.add_user(
        "dave",
        "dave-pw",
        &[
            "Framed-IPv6-Prefix = 2001:db8:77:1::/64",
            "Delegated-IPv6-Prefix = 2001:db8:99:100::/56",
            "Acct-Interim-Interval = 60",
        ],
    );
    rad.start();
    let mut w = World::build(&rad, true);
    let k = w.call(&AuthProtocol::ChapMd5, "dave", "dave-pw");
    let pd = |w: &World| {
        w.lac_events.iter().find_map(|e| match e {
            LacEvent::PrefixDelegated { key, prefix } if *key == k => Some(*prefix),
            _ => None,
        })
    };
    let addr = |w: &World| {
        w.lac_events.iter().find_map(|e| match e {
            LacEvent::Ipv6Configured { key, address, .. } if *key == k => Some(*address),
            _ => None,
        })
    };
    let ok = w.run_until(Duration::from_secs(30), |w| {
        pd(w).is_some() && addr(w).is_some()
    });
    assert!(ok, "{:?}\n{:?}", w.lns_events, w.lac_events);
    assert_eq!(pd(&w).unwrap().to_string(), "2001:db8:99:100::/56");
    let a = addr(&w).unwrap();
    assert_eq!(a.segments()[..4], [0x2001, 0xdb8, 0x77, 1], "{a}");
    // IA_NA's address: the /64 and the IPv6CP interface identifier.
    let id = w
        .lacs
        .iter()
        .find_map(|(_, l, _)| l.ipv6_id(k))
        .expect("IPv6CP's interface identifier");
    let mut na = [0u8; 16];
    na[..8].copy_from_slice(&a.octets()[..8]);
    na[8..].copy_from_slice(&id);
    let want = format!("Framed-IPv6-Address = {}", std::net::Ipv6Addr::from(na));
    // An Interim-Update (60 s) and the Stop carry both prefixes.
    w.run_until(Duration::from_secs(65), |_| false);
    w.hang_up(k);
    assert!(w.run_until(Duration::from_secs(10), |w| w.down(k)));
    w.run_until(Duration::from_secs(3), |_| false);
    let detail = rad.detail();
    for status in ["Interim-Update", "Stop"] {
        let r = records(&detail, status);
        assert_eq!(r.len(), 1, "{status}: {detail}");
        assert!(
            r[0].contains("Framed-IPv6-Prefix = 2001:db8:77:1::/64"),
            "{status}: {detail}"
        );
        assert!(
            r[0].contains("Delegated-IPv6-Prefix = 2001:db8:99:100::/56"),
            "{status}: {detail}"
        );
        assert!(r[0].contains(&want), "{want}: {status}: {detail}");
    }
}

fn ready() -> bool {
    root_or_skip() && tool_or_skip("freeradius") && tool_or_skip("radclient")
}

fn records<'a>(detail: &'a str, status: &str) -> Vec<&'a str> {
    detail
        .split("\n\n")
        .filter(|r| r.contains(&format!("Acct-Status-Type = {status}")))
        .collect()
}

#[test]
fn lns_against_freeradius() {
    if !ready() {
        return;
    }
    let mut rad = Radiusd::build();
    rad.start();
    let mut w = World::new(&rad);

    // Accept: each method; alice gets RADIUS's Framed-IP-Address, bob an
    // address from RADIUS's Framed-Pool, carol one from the default pool.
    let a = w.call(&AuthProtocol::Pap, "alice", "alice-pw");
    let b = w.call(&AuthProtocol::ChapMd5, "bob", "bob-pw");
    let c = w.call(&AuthProtocol::MsChapV2, "carol", "carol-pw");
    let ok = w.run_until(Duration::from_secs(30), |w| {
        [a, b, c].iter().all(|k| w.up(*k).is_some())
    });
    assert!(ok, "not all up: {:?}\n{:?}", w.lns_events, w.lac_events);
    assert_eq!(w.up(a), Some(Ipv4Addr::new(100, 64, 9, 9)));
    assert_eq!(w.up(b).unwrap().octets()[..3], [100, 65, 0]);
    assert_eq!(w.up(c).unwrap().octets()[..3], [100, 64, 0]);

    // Reject: a wrong password with each method.
    let bad: Vec<SessionKey> = [
        (AuthProtocol::Pap, "alice"),
        (AuthProtocol::ChapMd5, "bob"),
        (AuthProtocol::MsChapV2, "carol"),
    ]
    .iter()
    .map(|(m, u)| w.call(m, u, "wrong"))
    .collect();
    let ok = w.run_until(Duration::from_secs(60), |w| w.lns_auth_failures() == 3);
    assert!(ok, "rejects: {:?}", w.lns_events);
    assert!(bad.iter().all(|k| w.up(*k).is_none()));

    // Accounting: Start for all three; bob's Acct-Interim-Interval (60 s)
    // brings an Interim-Update; hang-up brings a Stop with User-Request.
    w.run_until(Duration::from_secs(65), |_| false);
    w.hang_up(a);
    let ok = w.run_until(Duration::from_secs(10), |w| w.down(a));
    assert!(ok);
    w.run_until(Duration::from_secs(3), |_| false);
    let detail = rad.detail();
    let starts = records(&detail, "Start");
    assert_eq!(starts.len(), 3, "{detail}");
    let interims = records(&detail, "Interim-Update");
    assert!(
        interims.iter().any(|r| r.contains("User-Name = \"bob\"")),
        "{detail}"
    );
    let stops = records(&detail, "Stop");
    assert_eq!(stops.len(), 1, "{detail}");
    let stop = stops[0];
    assert!(stop.contains("User-Name = \"alice\""));
    assert!(stop.contains("Acct-Terminate-Cause = User-Request"));
    assert!(stop.contains("Acct-Input-Octets = 0") && stop.contains("Acct-Session-Time ="));
    let sid = |r: &str| {
        r.lines()
            .find(|l| l.trim_start().starts_with("Acct-Session-Id ="))
            .map(str::to_string)
    };
    let alice_start = starts
        .iter()
        .find(|r| r.contains("User-Name = \"alice\""))
        .unwrap();
    assert_eq!(
        sid(alice_start),
        sid(stop),
        "Start and Stop share the session id"
    );
    assert!(alice_start.contains("Framed-IP-Address = 100.64.9.9"));

    // Disconnect-Request with radclient, by Acct-Session-Id: ACK, and the
    // subscriber goes down at the LAC.
    let bob_sid = starts
        .iter()
        .find(|r| r.contains("User-Name = \"bob\""))
        .and_then(|r| sid(r))
        .unwrap();
    let bob_sid = bob_sid.split('=').nth(1).unwrap().trim().to_string();
    let dae_addr = w.dae.local_addr().unwrap();
    let radclient = |secret: &str, attrs: String| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "echo '{attrs}' | radclient -x -r 1 -t 2 {dae_addr} disconnect {secret}"
        ));
        Proc::spawn("radclient", cmd)
    };
    let mut rc = radclient(SECRET, format!("Acct-Session-Id = {bob_sid}"));
    let ok = w.run_real(T, |w| w.down(b));
    assert!(ok, "bob still up after Disconnect-Request: {}", rc.log());
    assert!(rc.wait_exit(T), "radclient: {}", rc.log());
    assert!(rc.log().contains("Received Disconnect-ACK"), "{}", rc.log());
    assert_eq!(w.lns.aaa.disconnects, 1);

    // A forged Disconnect-Request (wrong secret) is dropped and counted.
    let mut rc = radclient("not-the-secret", "User-Name = \"carol\"".into());
    let dropped = w.lns.aaa.dae_dropped;
    let ok = w.run_real(T, |w| w.lns.aaa.dae_dropped > dropped);
    assert!(ok);
    assert!(!rc.wait_exit(T) || !rc.log().contains("Received Disconnect-ACK"));
    assert!(w.up(c).is_some() && !w.down(c));

    // RADIUS down: a new session fails cleanly (no hang, counted), and
    // works again once the server is back.
    rad.stop();
    let failures = w.lns_auth_failures();
    let d = w.call(&AuthProtocol::Pap, "alice", "alice-pw");
    let ok = w.run_until(Duration::from_secs(60), |w| {
        w.lns_auth_failures() > failures
    });
    assert!(ok, "no clean failure: {:?}", w.lns_events);
    assert!(w.up(d).is_none());
    assert!(w.lns.aaa.auth_timeouts >= 1);
    rad.start();
    let e = w.call(&AuthProtocol::Pap, "alice", "alice-pw");
    let ok = w.run_until(Duration::from_secs(60), |w| w.up(e).is_some());
    assert!(ok, "no recovery: {:?}", w.lns_events);
    assert_eq!(
        w.up(e),
        Some(Ipv4Addr::new(100, 64, 9, 9)),
        "alice's address was released and reused"
    );
}

/// One PAP Access-Request through the sans-IO RADIUS client over a real
/// socket; the verified reply with the server that answered and the
/// request's authenticator (what Tunnel-Password decryption needs).
fn authenticate(r: &Radiusd, user: &str, password: &str) -> (Packet, SocketAddr, [u8; 16]) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let server = SocketAddr::from(([127, 0, 0, 1], r.auth));
    let mut client = Client::new(
        ClientConfig {
            auth: vec![Server {
                addr: server,
                secret: SECRET.as_bytes().to_vec(),
            }],
            timeout: Duration::from_secs(1),
            ..Default::default()
        },
        [7; 32],
    );
    let nas = Nas {
        ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
        identifier: "xlns-gateway-test".into(),
    };
    let call = Call {
        user: user.as_bytes().to_vec(),
        nas_port: 1,
        calling: None,
        called: None,
        tunnel: std::sync::Arc::new(CallTunnel {
            lac: "10.0.0.10".parse().unwrap(),
            lns: "10.0.0.1".parse().unwrap(),
            lac_name: b"lac".to_vec(),
            lns_name: b"xlns".to_vec(),
            connection: "1".into(),
        }),
        session_id: "00000001".into(),
    };
    let creds = Credentials::Pap {
        user: user.as_bytes().to_vec(),
        password: password.as_bytes().to_vec(),
    };
    let (attrs, pw) = access_request(&nas, &call, &creds);
    let token = client.request(Instant::now(), Service::Auth, attrs, pw);
    let end = Instant::now() + T;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        while let Some(o) = client.poll_output() {
            match o {
                ClientOutput::Send { to, bytes } => {
                    sock.send_to(&bytes, to).unwrap();
                }
                ClientOutput::Reply {
                    token: t,
                    packet,
                    server,
                    request_authenticator,
                    ..
                } => {
                    assert_eq!(t, token);
                    return (packet, server, request_authenticator);
                }
                ClientOutput::Timeout { .. } => panic!("FreeRADIUS did not answer"),
            }
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            client.handle(Instant::now(), from, &buf[..n]);
        }
        client.on_timeout(Instant::now());
    }
    panic!("no answer from FreeRADIUS in {T:?}");
}

/// Tests run in parallel, so a port chosen free may be taken before the
/// server binds it: the server then moves to free ones and still answers.
#[test]
fn the_server_moves_off_a_port_taken_before_it_started() {
    if !ready() {
        return;
    }
    let mut rad = Radiusd::build();
    let taken = rad.auth;
    let squatter = std::net::UdpSocket::bind(("127.0.0.1", taken)).unwrap();
    rad.start();
    assert_ne!(rad.auth, taken);
    let (reply, server, _) = authenticate(&rad, "switched@radius.example", "switched-pw");
    assert_eq!(reply.code(), Some(Code::AccessAccept));
    assert_eq!(server, SocketAddr::from(([127, 0, 0, 1], rad.auth)));
    drop(squatter);
}

#[test]
fn switched_user_gets_tunnel_targets() {
    if !ready() {
        return;
    }
    let mut rad = Radiusd::build();
    rad.start();

    let (reply, server, ra) = authenticate(&rad, "switched@radius.example", "switched-pw");
    assert_eq!(reply.code(), Some(Code::AccessAccept));
    assert_eq!(server, SocketAddr::from(([127, 0, 0, 1], rad.auth)));
    let targets = from_radius(&reply.attrs, SECRET.as_bytes(), &ra).unwrap();
    // deploy/radius/raddb.patch, users file: tag 2 comes first on the
    // wire, tag 1 is preferred.
    let a = TunnelTarget {
        endpoint: "192.0.2.1:1701".parse().unwrap(),
        secret: Some(b"lns-a-tunnel-secret".to_vec()),
        client_auth_id: Some(b"xlns-gw".to_vec()),
        server_auth_id: Some(b"lns-a".to_vec()),
        preference: 1,
        assignment_id: Some(b"grp1".to_vec()),
        tag: 1,
        ..TunnelTarget::new("0.0.0.0:1".parse().unwrap())
    };
    let b = TunnelTarget {
        endpoint: "[2001:db8::2]:1702".parse().unwrap(),
        preference: 2,
        tag: 2,
        ..TunnelTarget::new("0.0.0.0:1".parse().unwrap())
    };
    assert_eq!(targets, vec![a, b], "{:?}", reply.attrs);
    assert_ne!(targets[0].key(), targets[1].key());

    // The password is bound to this request: another Request
    // Authenticator or secret does not decrypt it (mostly refused as bad
    // padding; FreeRADIUS's salt is random, so now and then the garbage
    // happens to frame, but it is never the password).
    for (secret, ra) in [(SECRET.as_bytes(), [0u8; 16]), (b"other".as_slice(), ra)] {
        match from_radius(&reply.attrs, secret, &ra) {
            Err(TunnelAttrError::Padding { tag: 1 }) => {}
            Ok(t) => assert_ne!(t[0].secret, targets[0].secret),
            other => panic!("{other:?}"),
        }
    }

    // A user without tunnel attributes: no target (terminated here).
    let (reply, _, ra) = authenticate(&rad, "carol", "carol-pw");
    assert_eq!(reply.code(), Some(Code::AccessAccept));
    assert_eq!(
        from_radius(&reply.attrs, SECRET.as_bytes(), &ra),
        Ok(vec![])
    );
}

/// The real FreeRADIUS chooses where a call goes: its Access-Accept for
/// `switched@radius.example` carries two tagged tunnel sets (see
/// deploy/radius/raddb.patch), so the engine switches the call instead of
/// terminating it, trying 192.0.2.1 (preference 1) before
/// [2001:db8::2]:1702 (preference 2). Neither answers in this lab, so
/// each fails in turn, in that order, and the LAC's call is cleared with
/// "no target LNS available"; nothing is leased or terminated here.
#[test]
fn freeradius_tunnel_attributes_switch_the_call_in_preference_order() {
    if !ready() {
        return;
    }
    let mut rad = Radiusd::build();
    rad.start();
    let mut w = World::new(&rad);
    // Targets get 2 s each, well inside the subscriber's patience for its
    // CHAP verdict.
    w.lns
        .switch
        .reconfigure(lns_protocol::engine::switch::SwitchConfig {
            target_timeout: Duration::from_secs(2),
            ..Default::default()
        });
    let k = w.call(
        &AuthProtocol::ChapMd5,
        "switched@radius.example",
        "switched-pw",
    );
    let ok = w.run_until(Duration::from_secs(60), |w| w.down(k));
    assert!(ok, "{:?}", w.lns_events);
    let failed: Vec<SocketAddr> = w
        .lns_events
        .iter()
        .filter_map(|e| match e {
            LnsEvent::SwitchTargetFailed { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            "192.0.2.1:1701".parse().unwrap(),
            "[2001:db8::2]:1702".parse().unwrap()
        ],
        "{:?}",
        w.lns_events
    );
    assert!(w.lns_events.iter().any(|e| matches!(
        e,
        LnsEvent::SwitchedDown {
            cause: DownCause::NoTarget,
            ..
        }
    )));
    assert_eq!(w.lns.switch.stats.by_radius, 1);
    assert_eq!(w.lns.subscriber_count(), 0);
    assert_eq!(w.lns.addressing.pools.leased(), 0);
    assert!(
        !w.lns_events
            .iter()
            .any(|e| matches!(e, LnsEvent::SubscriberUp { .. }))
    );
}
