//! IPv6 on subscriber links, end to end in the simulator: emulated LACs'
//! subscribers open IPv6CP, solicit a router, and configure themselves
//! from the LNS's Router Advertisements (RFC 4861, RFC 4862); each link
//! gets its own /64 from the prefix pool, the data plane learns it, and
//! it goes back to the pool when the session ends.

use lns_protocol::aaa::local::{User, Users};
use lns_protocol::aaa::pool::Pools;
use lns_protocol::aaa::prefix::{Ipv6Net, PrefixPool};
use lns_protocol::engine::sim::{Impairments, Mixed, MixedEvent, Sim};
use lns_protocol::ipv6::nd::RaConfig;
use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::lns::{DhcpSettings, Ipv6Settings, Lns, LnsConfig, LnsEvent, NullDataPlane};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 1701))
}

fn endpoint(seed: u64) -> Endpoint {
    let cfg = EndpointConfig {
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    Endpoint::with_rng(cfg, StdRng::seed_from_u64(seed))
}

const BLOCK: &str = "2001:db8:100::/56";

fn ra() -> RaConfig {
    RaConfig {
        dns: vec!["2001:db8::53".parse().unwrap()],
        search: vec!["isp.example".into()],
        ..Default::default()
    }
}

fn lns(users: usize) -> Lns<NullDataPlane> {
    lns_with(users, None)
}

const PD_BLOCK: &str = "2001:db8:8000::/40";

/// The DHCPv6 server: /56s from `PD_BLOCK`'s pool "pd".
fn dhcp() -> DhcpSettings {
    DhcpSettings {
        server: lns_protocol::ipv6::dhcp::ServerConfig {
            duid: lns_protocol::ipv6::dhcp::duid_uuid([7; 16]),
            preferred: 3600,
            valid: 7200,
            rapid_commit: true,
            preference: 255,
            dns: vec!["2001:db8::53".parse().unwrap()],
            domains: Vec::new(),
        },
        pd_pool: Some("pd".into()),
        address: false,
    }
}

fn lns_with(users: usize, dhcp: Option<DhcpSettings>) -> Lns<NullDataPlane> {
    let mut u = Users::default();
    for i in 0..users {
        u.insert(User {
            name: format!("user{i}"),
            password: format!("pw-{i}"),
            address: None,
            pool: None,
            rate_profile: None,
        });
    }
    let mut pools = Pools::default();
    pools.add("default", vec!["100.64.0.0/20".parse().unwrap()]);
    pools.add_prefixes(
        "links",
        PrefixPool::new(BLOCK.parse().unwrap(), 64).unwrap(),
    );
    pools.add_prefixes(
        "pd",
        PrefixPool::new(PD_BLOCK.parse().unwrap(), 56).unwrap(),
    );
    let cfg = LnsConfig {
        link: LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                auth: vec![AuthProtocol::ChapMd5],
                ..Default::default()
            },
            ipv6: true,
            ..Default::default()
        },
        gateway: Ipv4Addr::new(100, 127, 255, 254),
        dns: [None, None],
        default_pool: "default".into(),
        rates: Default::default(),
        radius: None,
        ipv6: Ipv6Settings {
            ra: Some(ra()),
            pool: Some("links".into()),
            dhcp,
        },
    };
    Lns::new(endpoint(1), cfg, u, pools, NullDataPlane::default(), 7)
}

fn lac(seed: u64) -> Lac {
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![AuthProtocol::ChapMd5],
            ..Default::default()
        },
        ipv6: true,
        ..Default::default()
    };
    Lac::new(endpoint(seed), link, (Vec::new(), String::new()), seed)
}

/// The subscribers' SLAAC addresses and the routers they learned, by call.
fn configured(
    events: &[MixedEvent],
) -> HashMap<lns_protocol::l2tp::SessionKey, (Ipv6Addr, Ipv6Addr)> {
    events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lac(LacEvent::Ipv6Configured {
                key,
                address,
                router,
                advert,
            }) => {
                assert_eq!(advert.dns, ra().dns);
                assert_eq!(advert.search, ra().search);
                assert!(advert.prefixes.iter().all(|p| p.len == 64 && p.on_link));
                Some((*key, (*address, *router)))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_hundred_dual_stack_subscribers_each_get_their_own_64_by_router_advertisement() {
    let total = 100;
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 3);
    let l = sim.add(addr(1), Mixed::Lns(lns(total)));
    let c = sim.add(addr(2), Mixed::Lac(lac(2)));
    let mut n = 0;
    for _ in 0..2 {
        let t = sim
            .with(c, |e, now| {
                e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
            })
            .unwrap();
        for _ in 0..total / 2 {
            let creds = (format!("user{n}").into_bytes(), format!("pw-{n}"));
            n += 1;
            sim.with(c, |e, now| {
                e.lac()
                    .unwrap()
                    .place_call(now, t, CallParams::default(), creds)
            })
            .unwrap();
        }
    }
    let done = sim.run_until(Duration::from_secs(60), |sim| {
        configured(&sim.nodes[c].events).len() == total
    });
    assert!(
        done,
        "{} of {total} configured",
        configured(&sim.nodes[c].events).len()
    );
    // Past the solicitations' answers (3 s after the first advertisement).
    sim.run_idle(Duration::from_secs(5));

    let block: Ipv6Net = BLOCK.parse().unwrap();
    let got = configured(&sim.nodes[c].events);
    let lac = sim.nodes[c].endpoint.as_lac().unwrap();
    let mut prefixes = HashSet::new();
    for (key, (address, router)) in &got {
        // Our link-local address, from our IPv6CP interface identifier.
        assert_eq!(*router, "fe80::200:0:0:1".parse::<Ipv6Addr>().unwrap());
        let net = Ipv6Net::new(*address, 64);
        assert!(block.contains(&net), "{net} outside {block}");
        assert!(prefixes.insert(net), "{net} given twice");
        // The address is the prefix and the identifier IPv6CP agreed.
        assert_eq!(address.octets()[8..], lac.ipv6_id(*key).unwrap());
        assert_eq!(lac.ipv6_address(*key), Some(*address));
    }
    assert_eq!(prefixes.len(), total);

    let lns = sim.nodes[l].endpoint.as_lns().unwrap();
    // Each host solicited once, as its IPv6CP opened; the LNS had
    // advertised at once, and answered each solicitation (rate limited).
    assert_eq!(lns.ipv6.solicitations, total as u64);
    assert_eq!(lns.ipv6.solicitations_invalid + lns.ipv6.prefix_failures, 0);
    assert!(
        lns.ipv6.advertisements >= 2 * total as u64,
        "{:?}",
        lns.ipv6
    );
    assert_eq!(
        lns.addressing.pools.prefix_usage("links"),
        Some((256, total))
    );
    // The data plane knows each link's /64.
    let in_plane: HashSet<[u8; 8]> = lns
        .dataplane
        .entries
        .values()
        .filter_map(|e| e.ipv6_prefix)
        .collect();
    assert_eq!(in_plane, prefixes.iter().map(Ipv6Net::head).collect());

    // Advertisements go on: three quick ones, then every 200 to 600 s.
    let before = lns.ipv6.advertisements;
    sim.run_idle(Duration::from_secs(40));
    let after = sim.nodes[l].endpoint.as_lns().unwrap().ipv6.advertisements;
    assert!(after >= before + total as u64, "{before} then {after}");

    // Hang up: every prefix goes back.
    let keys: Vec<_> = got.keys().copied().collect();
    for k in keys {
        sim.with(c, |e, now| e.lac().unwrap().hang_up(now, k));
    }
    let down = sim.run_until(Duration::from_secs(60), |sim| {
        sim.nodes[l]
            .events
            .iter()
            .filter(|e| matches!(e, MixedEvent::Lns(LnsEvent::SubscriberDown { .. })))
            .count()
            == total
    });
    assert!(down);
    let lns = sim.nodes[l].endpoint.as_lns().unwrap();
    assert_eq!(lns.addressing.pools.prefix_usage("links"), Some((256, 0)));
}

#[test]
fn an_exhausted_prefix_pool_leaves_ipv4_up_and_is_counted() {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 5);
    let mut engine = lns(3);
    // A pool of one /64.
    engine.addressing.pools.add_prefixes(
        "links",
        PrefixPool::new("2001:db8:1::/64".parse().unwrap(), 64).unwrap(),
    );
    let l = sim.add(addr(1), Mixed::Lns(engine));
    let c = sim.add(addr(2), Mixed::Lac(lac(2)));
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
        })
        .unwrap();
    for n in 0..2 {
        let creds = (format!("user{n}").into_bytes(), format!("pw-{n}"));
        sim.with(c, |e, now| {
            e.lac()
                .unwrap()
                .place_call(now, t, CallParams::default(), creds)
        })
        .unwrap();
    }
    sim.run_idle(Duration::from_secs(20));
    let ups = sim.nodes[c]
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                MixedEvent::Lac(LacEvent::SubscriberUp { ipv4: Some(_), .. })
            )
        })
        .count();
    assert_eq!(ups, 2, "both up on IPv4");
    assert_eq!(
        configured(&sim.nodes[c].events).len(),
        1,
        "one got the only /64"
    );
    let lns = sim.nodes[l].endpoint.as_lns().unwrap();
    assert_eq!(lns.ipv6.prefix_failures, 1);
}

/// The prefixes DHCPv6 delegated, by call.
fn delegated(events: &[MixedEvent]) -> HashMap<lns_protocol::l2tp::SessionKey, Ipv6Net> {
    events
        .iter()
        .filter_map(|e| match e {
            MixedEvent::Lac(LacEvent::PrefixDelegated { key, prefix }) => Some((*key, *prefix)),
            _ => None,
        })
        .collect()
}

/// Places calls for `users` on a new tunnel of LAC `c`; their keys.
fn dial(
    sim: &mut Sim<Mixed<NullDataPlane>>,
    c: usize,
    users: std::ops::Range<usize>,
) -> Vec<lns_protocol::l2tp::SessionKey> {
    let t = sim
        .with(c, |e, now| {
            e.lac().unwrap().open_tunnel(now, addr(2), addr(1))
        })
        .unwrap();
    users
        .map(|n| {
            let creds = (format!("user{n}").into_bytes(), format!("pw-{n}"));
            sim.with(c, |e, now| {
                e.lac()
                    .unwrap()
                    .place_call(now, t, CallParams::default(), creds)
            })
            .unwrap()
        })
        .collect()
}

/// Home routers behind 100 subscribers: each configures its link by RA,
/// then asks DHCPv6 for a prefix (Solicit, Advertise, Request, Reply) and
/// gets its own /56; one that hangs up and dials again gets the same /56
/// back; hung up, every prefix returns to the pool.
#[test]
fn a_hundred_home_routers_each_get_their_own_56_by_dhcpv6_and_keep_it_across_a_redial() {
    let total = 100;
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 9);
    let l = sim.add(addr(1), Mixed::Lns(lns_with(total, Some(dhcp()))));
    let c = sim.add(addr(2), Mixed::Lac(lac(2).with_dhcpv6_pd(true)));
    let user0 = dial(&mut sim, c, 0..total / 2)[0];
    dial(&mut sim, c, total / 2..total);
    let done = sim.run_until(Duration::from_secs(60), |sim| {
        delegated(&sim.nodes[c].events).len() == total
    });
    assert!(
        done,
        "{} of {total} delegated: {:?}",
        delegated(&sim.nodes[c].events).len(),
        sim.nodes[l].endpoint.as_lns().unwrap().ipv6
    );
    let block: Ipv6Net = PD_BLOCK.parse().unwrap();
    let got = delegated(&sim.nodes[c].events);
    let distinct: HashSet<Ipv6Net> = got.values().copied().collect();
    assert_eq!(distinct.len(), total);
    assert!(distinct.iter().all(|p| p.len == 56 && block.contains(p)));
    let lac = sim.nodes[c].endpoint.as_lac().unwrap();
    for (k, p) in &got {
        assert_eq!(lac.delegated_prefix(*k), Some(*p));
    }
    let lns = sim.nodes[l].endpoint.as_lns().unwrap();
    let v6 = lns.ipv6;
    assert_eq!(v6.dhcp_delegated, total as u64, "{v6:?}");
    // An Advertise and a Reply each, nothing refused or failed.
    assert_eq!(v6.dhcp_replies, 2 * total as u64, "{v6:?}");
    assert_eq!(v6.dhcp_refused + v6.dhcp_pd_failures, 0, "{v6:?}");
    assert_eq!(
        lns.addressing.pools.prefix_usage("pd"),
        Some((65536, total))
    );
    // The data plane routes each delegated prefix to its session.
    let in_plane: HashSet<Ipv6Net> = lns
        .dataplane
        .entries
        .values()
        .filter_map(|e| e.ipv6_delegated)
        .collect();
    assert_eq!(in_plane, distinct);

    // user0 hangs up and dials again: the same /56.
    let p0 = got[&user0];
    sim.with(c, |e, now| e.lac().unwrap().hang_up(now, user0));
    sim.run_idle(Duration::from_secs(5));
    assert_eq!(
        sim.nodes[l]
            .endpoint
            .as_lns()
            .unwrap()
            .addressing
            .pools
            .prefix_usage("pd"),
        Some((65536, total - 1))
    );
    let before = sim.nodes[c].events.len();
    dial(&mut sim, c, 0..1);
    let back = sim.run_until(Duration::from_secs(30), |sim| {
        delegated(&sim.nodes[c].events[before..]).len() == 1
    });
    assert!(back);
    let again = delegated(&sim.nodes[c].events[before..]);
    assert_eq!(again.values().next(), Some(&p0), "the same prefix again");

    // Everyone hangs up: every prefix goes back.
    let keys: Vec<_> = got
        .keys()
        .copied()
        .filter(|k| *k != user0)
        .chain(again.keys().copied())
        .collect();
    for k in keys {
        sim.with(c, |e, now| e.lac().unwrap().hang_up(now, k));
    }
    sim.run_idle(Duration::from_secs(10));
    let lns = sim.nodes[l].endpoint.as_lns().unwrap();
    assert_eq!(lns.addressing.pools.prefix_usage("pd"), Some((65536, 0)));
}

/// A pool of one /56 for two home routers: one is delegated it, the
/// other is told NoPrefixAvail and counted; both keep IPv4 and their /64.
#[test]
fn an_exhausted_delegation_pool_is_answered_and_counted() {
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), Impairments::default(), 11);
    let mut engine = lns_with(2, Some(dhcp()));
    engine.addressing.pools.add_prefixes(
        "pd",
        PrefixPool::new("2001:db8:9::/56".parse().unwrap(), 56).unwrap(),
    );
    let l = sim.add(addr(1), Mixed::Lns(engine));
    let c = sim.add(addr(2), Mixed::Lac(lac(2).with_dhcpv6_pd(true)));
    dial(&mut sim, c, 0..2);
    sim.run_idle(Duration::from_secs(20));
    assert_eq!(configured(&sim.nodes[c].events).len(), 2);
    assert_eq!(delegated(&sim.nodes[c].events).len(), 1);
    let v6 = sim.nodes[l].endpoint.as_lns().unwrap().ipv6;
    assert_eq!((v6.dhcp_delegated, v6.dhcp_pd_failures), (1, 1), "{v6:?}");
}

/// Home routers on a wire that loses a tenth of everything: a lost
/// Solicit, Advertise, Request or Reply is sent again at the RFC 8415
/// pace (§15, the emulated router retransmits as a real one does), and
/// every router ends up with its own prefix.
#[test]
fn delegation_completes_over_a_lossy_wire() {
    let total = 20;
    let lossy = Impairments {
        loss: 0.1,
        ..Default::default()
    };
    let mut sim: Sim<Mixed<NullDataPlane>> = Sim::new(Instant::now(), lossy, 13);
    let l = sim.add(addr(1), Mixed::Lns(lns_with(total, Some(dhcp()))));
    let c = sim.add(addr(2), Mixed::Lac(lac(2).with_dhcpv6_pd(true)));
    dial(&mut sim, c, 0..total);
    let done = sim.run_until(Duration::from_secs(300), |sim| {
        delegated(&sim.nodes[c].events).len() == total
    });
    let v6 = sim.nodes[l].endpoint.as_lns().unwrap().ipv6;
    assert!(
        done,
        "{} of {total} delegated: {v6:?}",
        delegated(&sim.nodes[c].events).len()
    );
    let distinct: HashSet<Ipv6Net> = delegated(&sim.nodes[c].events).into_values().collect();
    assert_eq!(distinct.len(), total);
    assert_eq!(
        v6.dhcp_delegated, total as u64,
        "one prefix each, kept across retries"
    );
}
