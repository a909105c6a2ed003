//! The LNS engine: the L2TP endpoint, one PPP link per call, AAA and the
//! address pools, composed sans-IO. It programs the data plane through
//! outputs ([`DataPlaneOp`]) and takes its answers as inputs ([`Answer`]);
//! [`Lns`] applies them to a [`DataPlane`]. `lnsd` drives it from
//! sockets; the simulator drives it from memory.
//!
//! For every incoming (or outgoing) call that comes up, a server-side
//! [`Link`] starts; PPP frames arrive as L2TP data messages (punted by the
//! data plane or, before it exists, straight on the control socket) and
//! leave the same way. Credentials are judged by the local users (RADIUS
//! next); the address comes from the user's static address or a pool.
//!
//! Guarantees: the data-plane entry is installed when an NCP opens and
//! removed before the address returns to the pool; every subscriber that
//! came up is reported down exactly once, with a cause, and its call is
//! cleared with a CDN carrying the RFC 3145 PPP disconnect cause; no
//! address is leased twice; an IPv6 interface identifier is never zero and
//! never handed to two live sessions.

use crate::aaa::assign::{Addressing, Wanted};
use crate::aaa::local::Users;
use crate::aaa::pool::Pools;
use crate::aaa::prefix::Ipv6Net;
use crate::aaa::radius::client::{Client, ClientConfig, ClientOutput, Service};
use crate::aaa::radius::nas::{self, Authorization, Call, CallTunnel, Nas, Status, Usage};
use crate::aaa::radius::packet::Packet;
use crate::aaa::rate;
use crate::aaa::schedule::Schedule;
use crate::engine::call::{PppCall, Wire};
use crate::engine::frame;
use crate::engine::role::{Engine, Role};
use crate::engine::switch::{self, Leg, Relay, Switch, SwitchConfig, SwitchOutput};
use crate::ipv6::nd::{NdError, RaConfig, RouterAdvert};
use crate::ipv6::ra::Advertiser;
use crate::l2tp::avp::ResultCode;
use crate::l2tp::result::{CdnResult, ErrorCode};
use crate::l2tp::{CallKind, Endpoint, Event, SessionKey, Transmit};
use crate::map::HashMap;
use crate::ppp::auth::{Credentials, Decision};
use crate::ppp::link::{DownCause, Link, LinkConfig, LinkOutput};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::engine::dataplane::{
    Answer, DataPlane, DataPlaneOp, NoDataPlane, NullDataPlane, Removed, SessionEntry, SessionUsage,
};
pub use crate::engine::switch::LegUsage;

/// Addressing settings.
#[derive(Debug, Clone)]
pub struct LnsConfig {
    /// PPP settings (server side).
    pub link: LinkConfig,
    /// Our address as the subscriber's IPCP peer (its gateway).
    pub gateway: Ipv4Addr,
    /// DNS servers offered (RFC 1877).
    pub dns: [Option<Ipv4Addr>; 2],
    /// Pool for users without one.
    pub default_pool: String,
    /// RADIUS; `None`: local users only.
    pub radius: Option<RadiusSettings>,
    /// Rate profiles, defaults, and what an unusable RADIUS rate does.
    pub rates: rate::Settings,
    /// IPv6 service on subscriber links.
    pub ipv6: Ipv6Settings,
}

/// IPv6 service on subscriber links (DESIGN §2.2, dual stack).
#[derive(Debug, Clone, Default)]
pub struct Ipv6Settings {
    /// Router Advertisements once a link's IPv6CP opens (RFC 4861 §6.2);
    /// `None`: none, and no prefix (IPv6CP alone).
    pub ra: Option<RaConfig>,
    /// The pool of /64s a link's prefix comes from when RADIUS names
    /// neither a prefix (Framed-IPv6-Prefix) nor a pool
    /// (Framed-IPv6-Pool).
    pub pool: Option<String>,
    /// A DHCPv6 server on each link (RFC 8415); `None`: DHCPv6 to us is
    /// counted as ignored.
    pub dhcp: Option<DhcpSettings>,
}

/// The DHCPv6 server on subscriber links.
#[derive(Debug, Clone)]
pub struct DhcpSettings {
    /// What it answers with (DUID, lifetimes, DNS, Rapid Commit).
    pub server: crate::ipv6::dhcp::ServerConfig,
    /// The prefix pool delegated prefixes (IA_PD) come from when RADIUS
    /// names neither a prefix (Delegated-IPv6-Prefix) nor a pool
    /// (Delegated-IPv6-Prefix-Pool).
    pub pd_pool: Option<String>,
    /// Offer an address (IA_NA): the link's /64 with the subscriber's
    /// IPv6CP interface identifier, the address SLAAC would make.
    pub address: bool,
}

/// IPv6 counters (subscriber links).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv6Stats {
    /// Router Advertisements sent.
    pub advertisements: u64,
    /// Valid Router Solicitations received.
    pub solicitations: u64,
    /// Router Solicitations refused (RFC 4861 §6.1.1: wrong hop limit,
    /// checksum, code or options), dropped.
    pub solicitations_invalid: u64,
    /// Other IPv6 packets to us as the link's router (neighbor
    /// discovery we do not answer on a PPP link), dropped.
    pub ignored: u64,
    /// Links whose IPv6CP opened without a prefix: the pool was
    /// exhausted or unknown, or RADIUS gave one that is taken or not a
    /// /64. Their IPv4 is unaffected.
    pub prefix_failures: u64,
    /// DHCPv6 replies (Advertise and Reply) sent.
    pub dhcp_replies: u64,
    /// DHCPv6 messages refused (RFC 8415 §16: malformed, no Client
    /// Identifier, another server's, unicast, not for a server).
    pub dhcp_refused: u64,
    /// Prefixes delegated (IA_PD), one per link at most.
    pub dhcp_delegated: u64,
    /// Links that asked for a prefix and got none (pool exhausted or
    /// unknown, RADIUS's prefix taken): answered NoPrefixAvail. Counted
    /// once per link, however often its router asks again.
    pub dhcp_pd_failures: u64,
    /// Delegated prefixes the subscriber released (or declined).
    pub dhcp_released: u64,
}

/// A subscriber link's IPv6 service once its IPv6CP opened.
#[derive(Debug)]
struct V6Link {
    /// Its /64 (leased or claimed; released when the session ends).
    prefix: Option<Ipv6Net>,
    /// The prefix delegated by DHCPv6 (released when the session ends or
    /// the subscriber releases it).
    pd: Option<Ipv6Net>,
    /// A delegation failed on this link (counted once; each new request
    /// tries again).
    pd_failed: bool,
    /// The address DHCPv6 IA_NA bound (`dhcpv6_address`), until released
    /// or declined: accounting's Framed-IPv6-Address.
    na: Option<std::net::Ipv6Addr>,
    /// When to advertise it.
    ra: Advertiser,
}

fn settings_nas_of(cfg: &LnsConfig) -> Option<&Nas> {
    cfg.radius.as_ref().map(|r| &r.nas)
}

/// RADIUS settings of the engine.
#[derive(Debug, Clone)]
pub struct RadiusSettings {
    /// Servers, timers.
    pub client: ClientConfig,
    /// Our identity in requests.
    pub nas: Nas,
    /// Interim-Update interval when RADIUS does not set one (`None`: none).
    pub interim: Option<Duration>,
    /// Disconnect/CoA clients allowed (RFC 5176): address and secret.
    pub dae_clients: Vec<(IpAddr, Vec<u8>)>,
}

/// What the engine reports besides L2TP events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LnsEvent {
    /// An L2TP event (tunnel and call life cycle).
    L2tp(Event),
    /// A subscriber's first NCP opened.
    SubscriberUp {
        /// The call.
        key: SessionKey,
        /// Authenticated user name.
        user: Vec<u8>,
        /// IPv4 address.
        ipv4: Option<Ipv4Addr>,
    },
    /// An outgoing call placed with [`Lns::dial`] connected, failed or
    /// ran out of time: reported once per call.
    Dialed {
        /// The call.
        key: SessionKey,
        /// How it ended.
        outcome: DialOutcome,
    },
    /// A subscriber is gone.
    SubscriberDown {
        /// The call.
        key: SessionKey,
        /// User name (empty before authentication).
        user: Vec<u8>,
        /// Why.
        cause: DownCause,
    },
    /// Multi-hop gateway: a call is switched to a target LNS (both legs
    /// are up).
    SwitchedUp {
        /// The LAC's leg.
        a: SessionKey,
        /// The LNS's leg.
        b: SessionKey,
        /// The subscriber.
        user: Vec<u8>,
        /// The LNS.
        target: SocketAddr,
    },
    /// Multi-hop gateway: a target LNS failed a call, which moves on to
    /// the next target (the endpoint is held down).
    SwitchTargetFailed {
        /// The LAC's leg.
        a: SessionKey,
        /// The LNS.
        target: SocketAddr,
        /// What happened.
        cause: DownCause,
    },
    /// Multi-hop gateway: a switched call ended (both legs are cleared).
    SwitchedDown {
        /// The LAC's leg.
        a: SessionKey,
        /// The LNS's leg, if one was placed.
        b: Option<SessionKey>,
        /// The subscriber.
        user: Vec<u8>,
        /// Why.
        cause: DownCause,
    },
}

#[derive(Debug)]
pub struct Sub {
    link: Link,
    wire: Wire,
    user: Vec<u8>,
    /// Where its rates come from, up then down (RADIUS, a CoA, an
    /// operator, or the defaults), kept so a reload re-resolves them.
    rate_src: [rate::Source; 2],
    /// The pool its address came from (its default rate may be the
    /// pool's); the pools' own name, shared by all its sessions
    /// (`Pools::name`), not a copy each.
    pool: Option<Arc<str>>,
    /// Its rates as the data plane has them.
    rates: rate::Rates,
    ipv4: Option<Ipv4Addr>,
    ipv6_id: Option<[u8; 8]>,
    reported_up: bool,
    /// In the data plane now (an NCP is open).
    installed: bool,
    /// Our data messages carry Ns/Nr (RFC 2661 §5.4).
    sequencing: bool,
    /// Next Ns while the data plane does not number the session.
    ns: u16,
    /// RADIUS view of the call.
    call: Call,
    /// Credentials waiting for RADIUS (boxed, as for `authz`: most of a
    /// session's life it has none, and a million sessions each carrying
    /// the room inline would pay for it; issue 18, memory per session).
    pending: Option<Box<(u64, Credentials)>>,
    /// What RADIUS granted.
    authz: Option<Box<Authorization>>,
    /// Accounting clock: start, Session-Timeout, interims.
    clock: Schedule,
    /// What the data plane forwarded in earlier installs of this session
    /// (an NCP closed and reopened: a new entry, counting from zero).
    forwarded: SessionUsage,
    /// An Interim-Update waits for the data plane's counters.
    interim_asked: bool,
    /// An Idle-Timeout check waits for them.
    idle_asked: bool,
    /// Its entry's removal is not answered yet (its last counts are on
    /// their way).
    removing: bool,
    /// Packets from the subscriber at the last look (Idle-Timeout).
    seen_up: u64,
    /// IPv6 service, once IPv6CP opened with Router Advertisements on
    /// (boxed: an IPv4-only session keeps no room for it).
    v6: Option<Box<V6Link>>,
}

/// An Accounting-Stop waiting for the session's last counters from the
/// data plane (they come back when its entry is removed).
#[derive(Debug)]
struct PendingStop {
    call: Call,
    ipv4: Option<Ipv4Addr>,
    ipv6_prefix: Option<Ipv6Net>,
    delegated: Option<Ipv6Net>,
    ipv6_address: Option<std::net::Ipv6Addr>,
    class: Vec<Vec<u8>>,
    session_time: u32,
    cause: DownCause,
    forwarded: SessionUsage,
}

impl Sub {
    /// Our IPv6CP interface identifier on this link: our link-local
    /// address is made of it (RFC 5072 §5).
    fn our_ipv6_id(&self) -> [u8; 8] {
        self.link
            .ipv6cp()
            .map_or([0x02, 0, 0, 0, 0, 0, 0, 1], |n| n.local)
    }

    /// IPv6 packet `packet` to send to the subscriber of call `key`.
    fn ipv6_out(&self, key: SessionKey, packet: Vec<u8>) -> PppOut {
        PppOut {
            key,
            wire: self.wire,
            sequenced: self.sequencing,
            protocol: 0x0057,
            packet,
        }
    }
}

impl PppCall for Sub {
    fn link(&self) -> Option<&Link> {
        Some(&self.link)
    }
    fn link_mut(&mut self) -> Option<&mut Link> {
        Some(&mut self.link)
    }
    /// Session-Timeout and Acct-Interim-Interval, and the next Router
    /// Advertisement.
    fn deadline(&self) -> Option<Instant> {
        let ra = self
            .v6
            .as_ref()
            .filter(|_| self.link.ipv6_open())
            .map(|v| v.ra.next());
        [self.clock.next(), ra].into_iter().flatten().min()
    }
}

/// How an outgoing call ended (RFC 2661 §7.5: OCRQ, then OCRP, then
/// OCCN once the LAC has the call up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    /// The LAC connected it (OCCN).
    Connected,
    /// The call was cleared before it connected: how (the LAC's CDN with
    /// its result code, the tunnel going down, ...).
    Failed(crate::l2tp::ClearCause),
    /// It did not connect by its deadline; we cleared it.
    TimedOut,
}

/// A subscriber as operators see it (the admin API, lnsctl).
#[derive(Debug, Clone)]
pub struct SubscriberInfo<'a> {
    /// The call.
    pub key: SessionKey,
    /// The LAC's tunnel and session ids for it.
    pub peer_ids: (u16, u16),
    /// The LAC.
    pub peer: SocketAddr,
    /// Authenticated user name (empty before authentication).
    pub user: &'a [u8],
    /// IPv4 address, once IPCP gave one.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 interface identifier, once IPv6CP agreed one.
    pub ipv6_id: Option<[u8; 8]>,
    /// The link's /64 (Router Advertisements).
    pub ipv6_prefix: Option<Ipv6Net>,
    /// The prefix DHCPv6 delegated.
    pub delegated_prefix: Option<Ipv6Net>,
    /// Whether its first NCP opened (it is installed in the data plane).
    pub up: bool,
    /// Its PPP phase (RFC 1661 §3.2).
    pub phase: crate::ppp::link::Phase,
    /// When it came up.
    pub up_since: Option<Instant>,
    /// Its policed rates.
    pub rates: rate::Rates,
}

impl<'a> SubscriberInfo<'a> {
    fn of(key: SessionKey, s: &'a Sub) -> Self {
        SubscriberInfo {
            key,
            peer_ids: s.wire.peer_ids,
            peer: s.wire.peer,
            user: &s.user,
            ipv4: s.ipv4,
            ipv6_id: s.ipv6_id,
            ipv6_prefix: s.v6.as_ref().and_then(|v| v.prefix),
            delegated_prefix: s.v6.as_ref().and_then(|v| v.pd),
            up: s.reported_up,
            phase: s.link.phase(),
            up_since: s.clock.started(),
            rates: s.rates,
        }
    }
}

/// RADIUS-side counters of the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AaaStats {
    /// Access-Accepts received.
    pub accepts: u64,
    /// Access-Rejects received.
    pub rejects: u64,
    /// Authentications failed for want of a RADIUS answer.
    pub auth_timeouts: u64,
    /// Accounting-Requests no server acknowledged.
    pub acct_timeouts: u64,
    /// Disconnect-Requests honoured.
    pub disconnects: u64,
    /// Sessions changed by an acknowledged CoA-Request.
    pub coa_changes: u64,
    /// Access-Accepts whose rate attributes could not be used (a value
    /// that does not parse, a profile that is not configured): the
    /// session was refused or given the fallback profile.
    pub rate_invalid: u64,
    /// Disconnect/CoA requests refused with a NAK.
    pub dae_naks: u64,
    /// Disconnect/CoA datagrams dropped (unknown client, bad
    /// authenticator, malformed).
    pub dae_dropped: u64,
    /// Disconnect/CoA requests dropped because their Event-Timestamp was
    /// not current (RFC 5176 §6.3: replayed, or the client's clock is off).
    pub dae_stale: u64,
}

/// The LNS role: what the LNS keeps besides the endpoint and its calls
/// (see [`Engine`]); no data plane (it asks for one with
/// [`DataPlaneOp`]s, see [`LnsCore::poll_dataplane`]).
#[derive(Debug)]
pub struct LnsRole {
    cfg: LnsConfig,
    /// `cfg.link`, shared by every session's PPP link.
    link_cfg: Arc<LinkConfig>,
    /// Local users.
    pub users: Users,
    /// Address pools and IPv6CP identifiers.
    pub addressing: Addressing,
    /// What the data plane is to do, in order (taken by the shell).
    dp_ops: VecDeque<DataPlaneOp>,
    /// Subscriber IP packets that reached the control plane (only while
    /// the data plane is not forwarding); dropped.
    pub data_punted: u64,
    /// IPv6 on subscriber links.
    pub ipv6: Ipv6Stats,
    /// The prefix each user was last delegated, so that one who
    /// reconnects gets it again while it is free (at most
    /// [`STICKY_PREFIXES`] users remembered).
    sticky_pd: HashMap<Box<[u8]>, Ipv6Net>,
    /// PPP frames to send, numbered (sequenced sessions) when taken.
    transmits: VecDeque<PppOut>,
    seed: u64,
    /// PPP frames for calls we do not have, or from the wrong address.
    pub ppp_orphans: u64,
    /// PPP frames that arrived for a call before its ICCN, held, and
    /// given to its link when the call connected (RFC 2661 §7.4.1: the
    /// call is not connected until the ICCN, but UDP may reorder).
    pub ppp_early: u64,
    /// Those frames, per call not yet connected, and whether any was
    /// sequenced (the LAC then wants ours sequenced).
    early: HashMap<SessionKey, Early>,
    /// Authenticated subscribers that got no address.
    pub address_failures: u64,
    /// Calls whose proxy LCP (RFC 2661 AVPs 26–33) was taken as is.
    pub proxy_adopted: u64,
    /// Calls whose proxy LCP was refused, so LCP was renegotiated.
    pub proxy_renegotiated: u64,
    /// Sessions whose data we began to sequence because the LAC's own
    /// data came sequenced (RFC 2661 §5.4), not asked in its ICCN.
    pub sequencing_started: u64,
    /// Sessions sequenced from the start: the LAC asked (AVP 39) or the
    /// peer's policy is "always".
    pub sequencing_requested: u64,
    /// Sessions whose LAC asked for sequencing and the peer's policy
    /// ("never") refused: that LAC may drop everything we send.
    pub sequencing_refused: u64,
    radius: Option<Client>,
    radius_tokens: HashMap<u64, (SessionKey, Service)>,
    radius_out: VecDeque<(SocketAddr, Vec<u8>)>,
    boot: u32,
    next_acct: u64,
    /// Each tunnel's part of its calls' RADIUS view, shared while a call
    /// of it lives (see [`CallTunnel`]).
    call_tunnels: HashMap<u16, std::sync::Weak<CallTunnel>>,
    /// Entries of `call_tunnels` after its last pruning.
    call_tunnels_kept: usize,
    /// RADIUS counters.
    pub aaa: AaaStats,
    shutting_down: bool,
    /// Recent Disconnect/CoA replies by (client, identifier,
    /// authenticator), so a retransmitted request gets the same answer.
    dae_replies: crate::aaa::dae::ReplyCache,
    /// Outgoing calls placed with [`Lns::dial`] still waiting for their
    /// outcome, with their deadlines.
    dials: HashMap<SessionKey, Instant>,
    /// RADIUS response times not yet taken by [`Lns::take_radius_latencies`].
    radius_latencies: VecDeque<Duration>,
    /// The multi-hop gateway: calls switched to other LNSs.
    pub switch: Switch,
    /// Frames switched by the control plane, numbered when taken.
    relays: VecDeque<Relay>,
    /// Switched calls with an Accounting-Start sent (RFC 2867), by leg A.
    switch_acct: HashMap<SessionKey, (Call, Instant)>,
    /// What the data plane switched for calls just removed from it.
    switch_usage: HashMap<SessionKey, [LegUsage; 2]>,
    /// Switched calls asked out of the data plane whose counters have not
    /// come back yet, by leg A, with the cause once the call is down (its
    /// Accounting-Stop waits for them).
    switch_closing: HashMap<SessionKey, Option<DownCause>>,
    /// Accounting-Stops waiting for their sessions' last counters.
    stops: HashMap<SessionKey, PendingStop>,
    /// The wall clock (UNIX seconds) at an instant, as the shell last
    /// said: Event-Timestamps are checked against it.
    wall: Option<(Instant, u64)>,
}

/// The LNS engine: every call's state, no data plane; [`Lns`] is the
/// same engine with a data plane the ops are applied to.
pub type LnsCore = Engine<LnsRole>;

/// A PPP frame for a call, framed and numbered only when the shell takes
/// it (see [`Lns::poll_transmit`]).
#[derive(Debug)]
struct PppOut {
    key: SessionKey,
    wire: Wire,
    sequenced: bool,
    protocol: u16,
    packet: Vec<u8>,
}

/// PPP frames (protocol, information) held for a call whose ICCN has not
/// arrived, and whether any came sequenced.
type Early = (bool, Vec<(u16, Vec<u8>)>);

/// RADIUS response times kept for the metrics between two takes (the
/// oldest go first when nobody takes them).
const RADIUS_LATENCY_SAMPLES: usize = 4096;

impl LnsCore {
    /// An engine around `endpoint`; `seed` drives PPP magic numbers and
    /// challenges.
    pub fn new(endpoint: Endpoint, cfg: LnsConfig, users: Users, pools: Pools, seed: u64) -> Self {
        let cfg_radius = cfg.radius.as_ref().map(|r| {
            let mut rs = [0u8; 32];
            rs[..8].copy_from_slice(&seed.to_le_bytes());
            // Request authenticators must be unpredictable: mix in OS
            // randomness when there is any.
            let mut os = [0u8; 24];
            if getrandom::fill(&mut os).is_ok() {
                rs[8..].copy_from_slice(&os);
            }
            Client::new(r.client.clone(), rs)
        });
        let role = LnsRole {
            link_cfg: Arc::new(cfg.link.clone()),
            cfg,
            users,
            addressing: Addressing::new(pools),
            dp_ops: VecDeque::new(),
            data_punted: 0,
            ipv6: Ipv6Stats::default(),
            sticky_pd: HashMap::default(),
            transmits: VecDeque::new(),
            seed,
            ppp_orphans: 0,
            ppp_early: 0,
            early: HashMap::default(),
            address_failures: 0,
            proxy_adopted: 0,
            proxy_renegotiated: 0,
            sequencing_started: 0,
            sequencing_requested: 0,
            sequencing_refused: 0,
            radius: cfg_radius,
            radius_tokens: HashMap::default(),
            radius_out: VecDeque::new(),
            boot: (seed >> 32) as u32 ^ seed as u32,
            next_acct: 1,
            call_tunnels: HashMap::default(),
            call_tunnels_kept: 64,
            aaa: AaaStats::default(),
            shutting_down: false,
            dae_replies: Default::default(),
            radius_latencies: VecDeque::new(),
            dials: HashMap::default(),
            switch: Switch::new(SwitchConfig::default()),
            relays: VecDeque::new(),
            switch_acct: HashMap::default(),
            switch_usage: HashMap::default(),
            switch_closing: HashMap::default(),
            stops: HashMap::default(),
            wall: None,
        };
        Engine::with_role(endpoint, role)
    }

    /// The same engine switching the calls of the realms `cfg` names to
    /// other LNSs (the multi-hop gateway).
    pub fn with_switch(mut self, cfg: SwitchConfig) -> Self {
        self.role.switch = Switch::new(cfg);
        self
    }

    /// RADIUS response times (first transmission to verified reply) since
    /// the last call, oldest first.
    pub fn take_radius_latencies(&mut self) -> Vec<Duration> {
        self.role.radius_latencies.drain(..).collect()
    }

    /// Replaces the engine's settings (a configuration reload). New
    /// RADIUS servers (`radius_changed`) need a quiet moment: refused while
    /// requests are in flight, since their answers would find no client
    /// to match them.
    pub fn reconfigure(&mut self, cfg: LnsConfig, radius_changed: bool) -> Result<(), String> {
        if radius_changed {
            let n = self.radius_outstanding();
            if n > 0 {
                return Err(format!(
                    "{n} RADIUS requests are in flight; reload again in a moment"
                ));
            }
            self.role.radius = cfg.radius.as_ref().map(|r| {
                let mut rs = [0u8; 32];
                rs[..8].copy_from_slice(&self.role.seed.to_le_bytes());
                let mut os = [0u8; 24];
                if getrandom::fill(&mut os).is_ok() {
                    rs[8..].copy_from_slice(&os);
                }
                Client::new(r.client.clone(), rs)
            });
        }
        self.role.link_cfg = Arc::new(cfg.link.clone());
        self.role.cfg = cfg;
        Ok(())
    }

    /// Resolves every session's rates again (after a reload changed the
    /// profiles, the pools' defaults or the users'): the sessions using
    /// what changed get their new rates. How many changed.
    pub fn resolve_rates(&mut self) -> usize {
        let keys: Vec<SessionKey> = self.calls.iter().map(|(k, _)| *k).collect();
        keys.into_iter().filter(|&k| self.refresh_rates(k)).count()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &LnsConfig {
        &self.role.cfg
    }

    /// Every subscriber, in no particular order (the admin API sorts).
    pub fn subscribers(&self) -> impl Iterator<Item = SubscriberInfo<'_>> {
        self.calls.iter().map(|(k, s)| SubscriberInfo::of(*k, s))
    }

    /// One subscriber.
    pub fn subscriber(&self, key: SessionKey) -> Option<SubscriberInfo<'_>> {
        self.calls.get(&key).map(|s| SubscriberInfo::of(key, s))
    }

    /// Subscribers (calls with a PPP link).
    pub fn subscriber_count(&self) -> usize {
        self.calls.len()
    }

    /// Next datagram to send. A sequenced session's PPP frame takes its
    /// Ns here, as it leaves, not when PPP produced it: the data plane's
    /// workers number the same session's frames from the same counter,
    /// and the later a number is taken the less likely a frame numbered
    /// after it goes out first (a Linux LAC discards out-of-sequence
    /// frames, RFC 2661 §5.4).
    ///
    /// `take_ns` is the data plane's take-the-next-Ns (`None`: it does
    /// not number that session); the shell applies every pending
    /// [`DataPlaneOp`] first.
    pub fn poll_transmit_numbered(
        &mut self,
        take_ns: &mut dyn FnMut(SessionKey) -> Option<u16>,
    ) -> Option<Transmit> {
        if let Some(r) = self.role.relays.pop_front() {
            let ns = r.sequenced.then(|| {
                take_ns(r.inbound).unwrap_or_else(|| self.role.switch.relay_ns(r.inbound))
            });
            return Some(r.into_transmit(ns));
        }
        let Some(f) = self.role.transmits.pop_front() else {
            return self.endpoint.poll_transmit();
        };
        let ns = f.sequenced.then(|| {
            take_ns(f.key).unwrap_or_else(|| {
                // Not in the data plane: ours (a call already gone sends
                // its last frames from 0; the LAC is clearing it anyway).
                self.calls.get_mut(&f.key).map_or(0, |s| {
                    let n = s.ns;
                    s.ns = n.wrapping_add(1);
                    n
                })
            })
        });
        Some(f.wire.transmit_owned(ns, f.protocol, f.packet))
    }

    /// Next thing the data plane is to do (see `engine::dataplane` for
    /// the shell's side of the contract).
    pub fn poll_dataplane(&mut self) -> Option<DataPlaneOp> {
        self.role.dp_ops.pop_front()
    }

    /// The data plane's answer to a `Remove`, `Read` or `RemoveSwitched`.
    pub fn dataplane_answer(&mut self, now: Instant, answer: Answer) {
        match answer {
            Answer::Session { key, removed } => {
                if let Some(s) = self.calls.get_mut(&key) {
                    s.removing = false;
                    s.forwarded = s.forwarded + removed.usage;
                    // Our frames go on from where the workers' left off,
                    // unless the session was installed again meanwhile
                    // (the data plane numbers it again).
                    if let Some(n) = removed.next_ns
                        && !s.installed
                    {
                        s.ns = n;
                    }
                } else if let Some(p) = self.role.stops.remove(&key) {
                    self.send_stop(now, key, p, removed.usage);
                }
            }
            Answer::Counted { key, usage } => {
                let Some(s) = self.calls.get_mut(&key) else {
                    return;
                };
                let forwarded = s.forwarded + usage;
                let moved = forwarded.up_packets > s.seen_up;
                s.seen_up = forwarded.up_packets;
                if moved {
                    s.link.heard();
                }
                let interim = std::mem::take(&mut s.interim_asked);
                if std::mem::take(&mut s.idle_asked) || moved {
                    s.clock.active(now, moved);
                }
                if s.clock.idle_expired(now) {
                    s.link.close(now, DownCause::IdleTimeout);
                }
                if interim {
                    self.account(now, key, Status::Interim, None, forwarded);
                }
                self.after_link(now, key);
                self.after_endpoint(now);
            }
            Answer::Switched { a, usage } => {
                let u = self.role.switch_usage.entry(a).or_default();
                for (x, d) in u.iter_mut().zip(usage) {
                    x.packets += d.packets;
                    x.octets += d.octets;
                }
                if let Some(Some(cause)) = self.role.switch_closing.remove(&a) {
                    self.account_switched(now, a, None, Some(&cause));
                }
            }
        }
    }

    /// Next RADIUS datagram: (server, bytes). Send it from the RADIUS
    /// client socket.
    pub fn poll_radius(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.role.radius_out.pop_front()
    }

    /// A datagram on the RADIUS client socket.
    pub fn handle_radius(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(r) = &mut self.role.radius {
            r.handle(now, from, bytes);
        }
        self.pump_radius(now);
        self.after_endpoint(now);
    }

    /// RADIUS requests waiting for an answer.
    pub fn radius_outstanding(&self) -> usize {
        self.role.radius.as_ref().map_or(0, Client::outstanding)
    }

    /// RADIUS client counters.
    pub fn radius_stats(&self) -> Option<&crate::aaa::radius::client::Stats> {
        self.role.radius.as_ref().map(|r| &r.stats)
    }

    fn pump_radius(&mut self, now: Instant) {
        loop {
            let Some(o) = self.role.radius.as_mut().and_then(Client::poll_output) else {
                return;
            };
            match o {
                ClientOutput::Send { to, bytes } => self.role.radius_out.push_back((to, bytes)),
                ClientOutput::Reply {
                    token,
                    packet,
                    latency,
                    server,
                    request_authenticator,
                } => {
                    if self.role.radius_latencies.len() >= RADIUS_LATENCY_SAMPLES {
                        self.role.radius_latencies.pop_front();
                    }
                    self.role.radius_latencies.push_back(latency);
                    let Some((key, service)) = self.role.radius_tokens.remove(&token) else {
                        continue;
                    };
                    if service == Service::Auth {
                        // RFC 2868 tunnel attributes in an Access-Accept
                        // switch the call (the multi-hop gateway).
                        let secret = self.role.cfg.radius.as_ref().and_then(|r| {
                            r.client
                                .auth
                                .iter()
                                .find(|s| s.addr == server)
                                .map(|s| s.secret.clone())
                        });
                        let accept =
                            packet.code == crate::aaa::radius::packet::Code::AccessAccept as u8;
                        let tunnels = match (accept, secret) {
                            (true, Some(secret)) => crate::aaa::tunnel::from_radius(
                                &packet.attrs,
                                &secret,
                                &request_authenticator,
                            ),
                            _ => Ok(Vec::new()),
                        };
                        self.authorized(now, key, token, Some(&packet), tunnels);
                    }
                }
                ClientOutput::Timeout { token } => {
                    let Some((key, service)) = self.role.radius_tokens.remove(&token) else {
                        continue;
                    };
                    match service {
                        Service::Auth => {
                            self.role.aaa.auth_timeouts += 1;
                            self.authorized(now, key, token, None, Ok(Vec::new()));
                        }
                        Service::Acct => self.role.aaa.acct_timeouts += 1,
                    }
                }
            }
        }
    }

    /// RADIUS answered (or not, `None`) for the call's credentials.
    /// `tunnels`: the RFC 2868 tunnel attributes of an Access-Accept, as
    /// targets for the multi-hop gateway (empty: terminate here).
    fn authorized(
        &mut self,
        now: Instant,
        key: SessionKey,
        token: u64,
        reply: Option<&Packet>,
        tunnels: Result<Vec<crate::aaa::tunnel::TunnelTarget>, crate::aaa::tunnel::TunnelAttrError>,
    ) {
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        // Only the answer to the request for these credentials counts (a
        // renegotiation may have replaced them meanwhile).
        let creds = match s.pending.take().map(|p| *p) {
            Some((t, c)) if t == token => c,
            other => {
                s.pending = other.map(Box::new);
                return;
            }
        };
        let accepted = reply.is_some_and(|p| {
            matches!(
                nas::authorization(p, &creds).decision,
                Decision::Accept { .. }
            )
        });
        match tunnels {
            Ok(t) if accepted && !t.is_empty() && !s.reported_up => {
                self.role.aaa.accepts += 1;
                self.role.switch.stats.by_radius += 1;
                return self.switch_authenticated(now, key, &creds, t);
            }
            // RFC 2868 §3.1: tunnel attributes we cannot follow make the
            // Accept a Reject.
            Err(e) if accepted => {
                self.role.aaa.rejects += 1;
                self.role.switch.stats.bad_tunnel_attributes += 1;
                tracing::warn!(tunnel = key.tunnel, session = key.session, error = %e, "RADIUS tunnel attributes refused; the call is rejected");
                s.link.decide(
                    now,
                    Decision::Reject {
                        message: format!("unusable RADIUS tunnel attributes: {e}").into(),
                    },
                );
                return self.after_link(now, key);
            }
            _ => {}
        }
        let decision = match reply {
            Some(p) => {
                let z = nas::authorization(p, &creds);
                let mut d = z.decision.clone();
                if matches!(d, Decision::Accept { .. }) {
                    let settings = &self.role.cfg.rates;
                    let asked = rate::asked(&p.attrs, &settings.profiles).or_else(|e| {
                        self.role.aaa.rate_invalid += 1;
                        match settings.on_invalid() {
                            Some(a) => {
                                tracing::warn!(tunnel = key.tunnel, session = key.session, error = %e, "unusable RADIUS rate; the fallback profile applies");
                                Ok(a)
                            }
                            None => {
                                tracing::warn!(tunnel = key.tunnel, session = key.session, error = %e, "unusable RADIUS rate; the session is refused");
                                Err(e)
                            }
                        }
                    });
                    match asked {
                        Ok(a) => {
                            self.role.aaa.accepts += 1;
                            s.rate_src = a.apply(&s.rate_src);
                            s.authz = Some(Box::new(z));
                        }
                        Err(e) => {
                            self.role.aaa.rejects += 1;
                            d = Decision::Reject {
                                message: format!("unusable RADIUS rate: {e}").into(),
                            };
                        }
                    }
                } else {
                    self.role.aaa.rejects += 1;
                }
                d
            }
            None => Decision::Reject {
                message: "no RADIUS server answered".into(),
            },
        };
        s.link.decide(now, decision);
        self.after_link(now, key);
    }

    fn account(
        &mut self,
        now: Instant,
        key: SessionKey,
        status: Status,
        cause: Option<&DownCause>,
        forwarded: SessionUsage,
    ) {
        let (Some(radius), Some(settings)) = (&mut self.role.radius, &self.role.cfg.radius) else {
            return;
        };
        if !radius.serves(Service::Acct) {
            return;
        }
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(session_time) = s.clock.session_time(now) else {
            return;
        };
        let usage = usage_of(forwarded, session_time);
        let class = s
            .authz
            .as_ref()
            .map(|z| z.class.clone())
            .unwrap_or_default();
        let attrs = nas::accounting_request(
            &settings.nas,
            &s.call,
            status,
            nas::Framed {
                ipv4: s.ipv4,
                ipv6_prefix: s.v6.as_ref().and_then(|v| v.prefix),
                delegated: s.v6.as_ref().and_then(|v| v.pd),
                ipv6_address: s.v6.as_ref().and_then(|v| v.na),
            },
            usage,
            cause.map(nas::terminate_cause),
            &class,
        );
        let token = radius.request(now, Service::Acct, attrs, None);
        self.role.radius_tokens.insert(token, (key, Service::Acct));
        self.pump_radius(now);
    }

    /// What a session's Accounting-Stop needs once the session is gone;
    /// `None` when no Stop is due (no accounting, or it never started).
    fn stop_of(&self, now: Instant, s: &Sub, cause: &DownCause) -> Option<PendingStop> {
        let radius = self.role.radius.as_ref()?;
        self.role.cfg.radius.as_ref()?;
        if !radius.serves(Service::Acct) {
            return None;
        }
        Some(PendingStop {
            call: s.call.clone(),
            ipv4: s.ipv4,
            ipv6_prefix: s.v6.as_ref().and_then(|v| v.prefix),
            delegated: s.v6.as_ref().and_then(|v| v.pd),
            ipv6_address: s.v6.as_ref().and_then(|v| v.na),
            class: s
                .authz
                .as_ref()
                .map(|z| z.class.clone())
                .unwrap_or_default(),
            session_time: s.clock.session_time(now)?,
            cause: cause.clone(),
            forwarded: s.forwarded,
        })
    }

    /// Sends an Accounting-Stop with `last`, the data plane's final count,
    /// on top of what earlier installs forwarded.
    fn send_stop(&mut self, now: Instant, key: SessionKey, p: PendingStop, last: SessionUsage) {
        let (Some(radius), Some(settings)) = (&mut self.role.radius, &self.role.cfg.radius) else {
            return;
        };
        let attrs = nas::accounting_request(
            &settings.nas,
            &p.call,
            Status::Stop,
            nas::Framed {
                ipv4: p.ipv4,
                ipv6_prefix: p.ipv6_prefix,
                delegated: p.delegated,
                ipv6_address: p.ipv6_address,
            },
            usage_of(p.forwarded + last, p.session_time),
            Some(nas::terminate_cause(&p.cause)),
            &p.class,
        );
        let token = radius.request(now, Service::Acct, attrs, None);
        self.role.radius_tokens.insert(token, (key, Service::Acct));
        self.pump_radius(now);
    }

    /// The wall clock reads `unix` (seconds since 1970) at `now`: what
    /// Disconnect/CoA Event-Timestamps are checked against (unchecked
    /// until the shell says).
    pub fn set_wall_clock(&mut self, now: Instant, unix: u64) {
        self.role.wall = Some((now, unix));
    }

    /// A Disconnect-Request or CoA-Request (RFC 5176) from `from`; returns
    /// the ACK or NAK to send back, or `None` when the datagram is dropped
    /// (unknown client, bad authenticator: counted). The decision is
    /// [`dae::decide`](crate::aaa::dae::decide)'s; this clears the sessions
    /// it names.
    pub fn handle_dae(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        use crate::aaa::dae;
        let verified = self
            .role
            .cfg
            .radius
            .as_ref()
            .and_then(|r| dae::verify(&r.dae_clients, from, bytes))
            .map(|(req, secret)| (req, secret.to_vec()));
        let Some((req, secret)) = verified else {
            self.role.aaa.dae_dropped += 1;
            return None;
        };
        // RFC 5176 §6.3: a request that is not current is discarded.
        if let Some((at, unix)) = self.role.wall {
            let wall_now = unix + now.saturating_duration_since(at).as_secs();
            if !dae::current(&req, wall_now) {
                self.role.aaa.dae_stale += 1;
                return None;
            }
        }
        // A retransmission (our reply was lost): the same answer again,
        // without acting twice.
        let cache_key = dae::ReplyKey::of(from, &req);
        if let Some(r) = self.role.dae_replies.get(&cache_key) {
            return Some(r.to_vec());
        }
        let sessions = self.calls.iter().map(|(key, s)| dae::SessionView {
            key: *key,
            acct_session_id: s.call.session_id.as_bytes(),
            user: &s.user,
            ipv4: s.ipv4,
            nas_port: s.call.nas_port,
            calling: s.call.calling.as_deref(),
        });
        let nas = settings_nas_of(&self.role.cfg);
        let Some(decision) = dae::decide(&req, nas, sessions, &self.role.cfg.rates.profiles) else {
            self.role.aaa.dae_dropped += 1;
            return None;
        };
        for &k in &decision.clear {
            self.role.aaa.disconnects += 1;
            self.disconnect(now, k, DownCause::RadiusDisconnect);
        }
        for &k in &decision.change {
            self.role.aaa.coa_changes += 1;
            self.change(now, k, decision.with.clone());
        }
        if decision.error_cause.is_some() {
            self.role.aaa.dae_naks += 1;
        }
        let bytes = decision
            .reply(&req)
            .seal_response(&secret, req.authenticator)
            .ok()?;
        self.role.dae_replies.insert(cache_key, bytes.clone());
        Some(bytes)
    }

    /// Applies a CoA's change to a live session (RFC 5176 §3.1): its new
    /// Session-Timeout counts from when it came up, its new Idle-Timeout
    /// from now.
    fn change(&mut self, now: Instant, key: SessionKey, with: crate::aaa::dae::Change) {
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(t) = with.session_timeout {
            s.clock.set_session_timeout(t);
        }
        if let Some(t) = with.idle_timeout {
            let idle = (t > 0).then(|| Duration::from_secs(u64::from(t)));
            s.clock.set_idle(now, idle);
        }
        if !with.rates.is_empty() {
            s.rate_src = with.rates.apply(&s.rate_src);
        }
        tracing::info!(tunnel = key.tunnel, session = key.session, session_timeout = ?with.session_timeout, idle_timeout = ?with.idle_timeout, rates = ?with.rates, "CoA applied");
        if !with.rates.is_empty() {
            self.refresh_rates(key);
        }
        // The clock's next instant may have moved: the session's timer
        // is set again from it.
        self.after_link(now, key);
    }

    /// The LAC sent sequenced data on `key` (RFC 2661 §5.4: a peer that
    /// sequences expects sequence numbers back; a Linux LAC with
    /// `pppol2tp_recv_seq` discards unsequenced frames): sequence ours
    /// from now on, unless the peer's policy says never.
    fn peer_sequences(&mut self, key: SessionKey) {
        let never = self
            .endpoint
            .tunnel(key.tunnel)
            .is_some_and(|t| t.policy.data_sequencing == crate::l2tp::DataSequencing::Never);
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        if s.sequencing || never {
            return;
        }
        s.sequencing = true;
        // What we sent before was unsequenced, which such a LAC discards.
        s.link.earlier_frames_discarded();
        self.role.sequencing_started += 1;
        tracing::debug!(
            tunnel = key.tunnel,
            session = key.session,
            "the LAC sequences its data; sequencing ours"
        );
        if s.installed {
            // The data plane's template gains the S bit and Ns field.
            let entry = Self::entry(key, s);
            self.role.dp_ops.push_back(DataPlaneOp::Install(entry));
        }
    }

    /// Resolves `key`'s rates again from where they come from (after a
    /// CoA, an operator's change or a reload) and, if they changed and the
    /// session is forwarding, gives the data plane the new ones (one slot
    /// write: its counters and buckets go on). Whether they changed.
    fn refresh_rates(&mut self, key: SessionKey) -> bool {
        let Some(s) = self.calls.get_mut(&key) else {
            return false;
        };
        let user = self.role.users.get(&s.user).and_then(|u| u.rate_profile);
        let rates = self
            .role
            .cfg
            .rates
            .resolve(&s.rate_src, user, s.pool.as_deref());
        if rates == s.rates {
            return false;
        }
        s.rates = rates;
        if s.installed {
            let entry = Self::entry(key, s);
            self.role.dp_ops.push_back(DataPlaneOp::Install(entry));
        }
        true
    }

    /// An operator sets `key`'s rates (the directions `asked` names):
    /// they hold until a CoA or another operator change replaces them.
    /// `false` when there is no such session.
    pub fn set_rates(&mut self, key: SessionKey, asked: &rate::Asked) -> bool {
        let Some(s) = self.calls.get_mut(&key) else {
            return false;
        };
        s.rate_src = asked.apply(&s.rate_src);
        self.refresh_rates(key);
        tracing::info!(tunnel = key.tunnel, session = key.session, rates = ?asked, "rates set by the operator");
        true
    }

    /// The data-plane entry of a subscriber as it stands.
    fn entry(key: SessionKey, s: &Sub) -> SessionEntry {
        SessionEntry {
            key,
            peer_tunnel: s.wire.peer_ids.0,
            peer_session: s.wire.peer_ids.1,
            local: s.wire.local,
            peer: s.wire.peer,
            ipv4: s.ipv4,
            ipv6_id: s.ipv6_id,
            ipv6_prefix: s.v6.as_ref().and_then(|v| v.prefix).map(|p| p.head()),
            ipv6_delegated: s.v6.as_ref().and_then(|v| v.pd),
            mru: s.link.lcp().peer_mru,
            sequencing: s.sequencing,
            next_ns: s.ns,
            rates: s.rates,
        }
    }

    /// Whether `key` is a call we answered (ICRP sent) whose ICCN has not
    /// arrived, from its LAC: its PPP may overtake the ICCN on the wire
    /// (UDP reordering, or a LAC whose control window holds the ICCN back).
    fn awaiting_iccn(&self, key: SessionKey, from: SocketAddr) -> bool {
        self.endpoint.tunnel(key.tunnel).is_some_and(|t| {
            t.peer == from
                && t.session(key.session)
                    .is_some_and(|s| s.state == crate::l2tp::session::SessionState::WaitConnect)
        })
    }

    /// Holds a few early frames of a call until it connects, rather than
    /// dropping them and costing the subscriber a PPP restart (3 s).
    fn hold_early(&mut self, key: SessionKey, protocol: u16, info: &[u8], sequenced: bool) {
        // At most 4 frames for each of 1,024 calls: 4,096 in all.
        const PER_CALL: usize = 4;
        const CALLS: usize = 1024;
        let room = self.role.early.contains_key(&key) || self.role.early.len() < CALLS;
        if !room || matches!(protocol, 0x0021 | 0x0057) {
            self.role.ppp_orphans += 1;
            return;
        }
        let (seq, q) = self.role.early.entry(key).or_default();
        *seq |= sequenced;
        if q.len() < PER_CALL {
            q.push((protocol, info.to_vec()));
        } else {
            self.role.ppp_orphans += 1;
        }
    }

    /// StopCCN to every peer (their subscribers go down with their
    /// tunnels); see [`Endpoint::shutdown`].
    pub fn shutdown(&mut self, now: Instant) {
        self.role.shutting_down = true;
        self.with_endpoint(now, |e| e.shutdown(now));
    }

    /// Places an outgoing call (RFC 2661 §7.5: OCRQ) to `called` through
    /// the LAC at `lac`, on a tunnel to it that is not closing, or a new
    /// one from `local`. Its outcome comes as one [`LnsEvent::Dialed`]; a
    /// call not connected by `deadline` is cleared and reported timed out.
    pub fn dial(
        &mut self,
        now: Instant,
        local: SocketAddr,
        lac: SocketAddr,
        params: crate::l2tp::CallParams,
        deadline: Instant,
    ) -> Result<SessionKey, String> {
        let tunnel = match self.endpoint.usable_tunnel(lac) {
            Some(t) => t,
            None => self
                .with_endpoint(now, |e| e.open_tunnel(now, local, lac))
                .map_err(|e| format!("cannot open a tunnel to {lac}: {e}"))?,
        };
        let key = self
            .with_endpoint(now, |e| e.dial(now, tunnel, params))
            .map_err(|e| format!("cannot place the call on tunnel {tunnel}: {e}"))?;
        self.role.dials.insert(key, deadline);
        Ok(key)
    }

    /// Dials past their deadline: cleared, reported timed out.
    fn expire_dials(&mut self, now: Instant) {
        let late: Vec<SessionKey> = self
            .role
            .dials
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in late {
            self.role.dials.remove(&key);
            self.events.push_back(LnsEvent::Dialed {
                key,
                outcome: DialOutcome::TimedOut,
            });
            let rc = ResultCode::cdn(CdnResult::Administrative, None, "dial timed out");
            self.with_endpoint(now, |e| e.disconnect(now, key, rc, None));
        }
    }

    /// Clears a subscriber (admin, RADIUS Disconnect-Request).
    pub fn disconnect(&mut self, now: Instant, key: SessionKey, cause: DownCause) -> bool {
        let Some(s) = self.calls.get_mut(&key) else {
            return false;
        };
        s.link.close(now, cause);
        self.after_link(now, key);
        self.after_endpoint(now);
        true
    }

    /// Applies what the gateway asked for.
    fn drain_switch(&mut self, now: Instant) {
        while let Some(o) = self.role.switch.poll_output() {
            match o {
                SwitchOutput::Install(e) => {
                    self.role.dp_ops.push_back(DataPlaneOp::InstallSwitched(e))
                }
                SwitchOutput::Remove { a, b } => {
                    self.role.switch_closing.insert(a, None);
                    self.role
                        .dp_ops
                        .push_back(DataPlaneOp::RemoveSwitched { a, b });
                }
                SwitchOutput::Up { a, b, user, target } => {
                    self.account_switched(now, a, Some((b, &user, target)), None);
                    self.events
                        .push_back(LnsEvent::SwitchedUp { a, b, user, target })
                }
                SwitchOutput::TargetFailed { a, target, cause } => {
                    tracing::info!(tunnel = a.tunnel, session = a.session, target_lns = %target, %cause, "target LNS failed; trying the next");
                    self.events
                        .push_back(LnsEvent::SwitchTargetFailed { a, target, cause })
                }
                SwitchOutput::Down {
                    a,
                    b,
                    user,
                    cause,
                    cdn,
                    relayed,
                } => {
                    // Leg A, if still up, is cleared with the target's
                    // own CDN codes, or the cause's row.
                    let (rc, ppp) = cdn.unwrap_or_else(|| {
                        (
                            ResultCode::cdn(
                                cause.row().cdn,
                                Some(ErrorCode::NoError),
                                &cause.to_string(),
                            ),
                            Some(cause.ppp_cause()),
                        )
                    });
                    self.endpoint.disconnect(now, a, rc, ppp);
                    // Counted once: what the data plane switched, plus
                    // what lnsd switched before it had the call.
                    let u = self.role.switch_usage.entry(a).or_default();
                    for (x, r) in u.iter_mut().zip(relayed) {
                        x.packets += r.packets;
                        x.octets += r.octets;
                    }
                    // The Stop carries the data plane's counters: it
                    // waits for them if the call is still leaving it.
                    match self.role.switch_closing.get_mut(&a) {
                        Some(pending) => *pending = Some(cause.clone()),
                        None => self.account_switched(now, a, None, Some(&cause)),
                    }
                    self.events
                        .push_back(LnsEvent::SwitchedDown { a, b, user, cause });
                }
            }
        }
    }

    /// Accounting for a switched call (RFC 2867): Start when both legs are
    /// up (`up`: leg B, user, target), Stop when it ends (`cause`). The
    /// tunnel attributes describe the tunnel to the target LNS, on which
    /// the gateway is the client; octets and packets are what the data
    /// plane switched each way (frames lnsd switched itself, before the
    /// data plane had the call, are not counted).
    fn account_switched(
        &mut self,
        now: Instant,
        a: SessionKey,
        up: Option<(SessionKey, &[u8], SocketAddr)>,
        cause: Option<&DownCause>,
    ) {
        let (Some(radius), Some(settings)) = (&mut self.role.radius, &self.role.cfg.radius) else {
            return;
        };
        if !radius.serves(Service::Acct) {
            return;
        }
        let (status, call, usage) = match (up, cause) {
            (Some((b, user, target)), _) => {
                let Some(t) = self.endpoint.tunnel(b.tunnel) else {
                    return;
                };
                let (calling, called) = self.role.switch.numbers(a).unwrap_or_default();
                let call = Call {
                    user: user.to_vec(),
                    nas_port: (u32::from(a.tunnel) << 16) | u32::from(a.session),
                    calling,
                    called,
                    tunnel: Arc::new(CallTunnel {
                        lac: t.local.ip(),
                        lns: target.ip(),
                        lac_name: self.endpoint.config().host_name.clone(),
                        lns_name: t.peer_info.host_name.clone(),
                        connection: format!("{:08X}{:04X}", self.role.boot, b.tunnel),
                    }),
                    session_id: format!("{:08X}{:08X}", self.role.boot, self.role.next_acct),
                };
                self.role.next_acct += 1;
                self.role.switch_acct.insert(a, (call.clone(), now));
                (Status::Start, call, Usage::default())
            }
            (None, Some(_)) => {
                let Some((call, since)) = self.role.switch_acct.remove(&a) else {
                    self.role.switch_usage.remove(&a);
                    return;
                };
                let [from_lac, from_lns] = self.role.switch_usage.remove(&a).unwrap_or_default();
                let usage = Usage {
                    input_octets: from_lac.octets,
                    input_packets: from_lac.packets,
                    output_octets: from_lns.octets,
                    output_packets: from_lns.packets,
                    session_time: u32::try_from(now.saturating_duration_since(since).as_secs())
                        .unwrap_or(u32::MAX),
                };
                (Status::Stop, call, usage)
            }
            (None, None) => return,
        };
        let attrs = nas::accounting_request(
            &settings.nas,
            &call,
            status,
            nas::Framed::default(),
            usage,
            cause.map(nas::terminate_cause),
            &[],
        );
        let token = radius.request(now, Service::Acct, attrs, None);
        self.role.radius_tokens.insert(token, (a, Service::Acct));
        self.pump_radius(now);
    }

    /// Leg A of a call about to be switched, as the gateway needs it.
    fn leg_a(&self, key: SessionKey, peer_session: u16, sequencing: bool, ns: u16) -> Option<Leg> {
        let t = self.endpoint.tunnel(key.tunnel)?;
        Some(Leg {
            key,
            local: t.local,
            peer: t.peer,
            peer_ids: (t.peer_id, peer_session),
            sequencing,
            ns,
        })
    }

    /// What leg B offers the target LNS: the LAC's call details, the
    /// proxy AVPs, and Sequencing Required when leg A sequences (RFC 2661
    /// §5.4: honoured on both legs).
    fn onward_params(
        calling: Option<Vec<u8>>,
        called: Option<Vec<u8>>,
        proxy: Vec<crate::l2tp::Avp>,
        sequencing: bool,
    ) -> crate::l2tp::CallParams {
        crate::l2tp::CallParams {
            calling_number: calling,
            called_number: called,
            sequencing_required: sequencing,
            extra_connect: proxy,
            ..Default::default()
        }
    }

    /// A call whose LAC sent proxy authentication for a user a realm rule
    /// switches: switched at once, the LAC's proxy AVPs passed on.
    fn switch_proxied(
        &mut self,
        now: Instant,
        key: SessionKey,
        peer_session: u16,
        avps: &[crate::l2tp::Avp],
        sequencing: bool,
    ) -> bool {
        let Some(user) = crate::engine::proxy::from_avps(avps)
            .and_then(|p| p.credentials)
            .map(|c| c.user().to_vec())
        else {
            return false;
        };
        let Some(targets) = self.role.switch.route(&user) else {
            return false;
        };
        let Some(leg) = self.leg_a(key, peer_session, sequencing, 0) else {
            return false;
        };
        let find = |f: fn(&crate::l2tp::Avp) -> Option<&Vec<u8>>| avps.iter().find_map(f).cloned();
        let params = Self::onward_params(
            find(|a| match a {
                crate::l2tp::Avp::CallingNumber(v) => Some(v),
                _ => None,
            }),
            find(|a| match a {
                crate::l2tp::Avp::CalledNumber(v) => Some(v),
                _ => None,
            }),
            switch::proxy_avps_of(avps),
            sequencing,
        );
        if let Some((_, q)) = self.role.early.remove(&key) {
            self.role.ppp_orphans += q.len() as u64;
        }
        self.role
            .switch
            .start(now, &mut self.endpoint, leg, user, params, targets);
        self.drain_switch(now);
        true
    }

    /// The subscriber authenticated to us (first phase) as a user a realm
    /// rule switches: the link stops here without a word to the
    /// subscriber, and the target LNS gets its LCP and credentials as
    /// proxy AVPs and answers the subscriber itself.
    fn switch_authenticated(
        &mut self,
        now: Instant,
        key: SessionKey,
        c: &Credentials,
        targets: Vec<crate::aaa::tunnel::TunnelTarget>,
    ) {
        let Some(s) = self.calls.remove(&key) else {
            return;
        };
        let lcp = s.link.proxy_lcp().cloned().unwrap_or_default();
        let proxy = switch::proxy_avps(&lcp, Some(c), s.link.auth_id());
        let Some(mut leg) = self.leg_a(key, s.wire.peer_ids.1, s.sequencing, s.ns) else {
            return;
        };
        leg.peer = s.wire.peer;
        let params = Self::onward_params(s.call.calling, s.call.called, proxy, s.sequencing);
        self.role.switch.start(
            now,
            &mut self.endpoint,
            leg,
            c.user().to_vec(),
            params,
            targets,
        );
        self.drain_switch(now);
    }

    fn start_link(
        &mut self,
        now: Instant,
        key: SessionKey,
        peer_session: u16,
        avps: &[crate::l2tp::Avp],
    ) {
        let Some(t) = self.endpoint.tunnel(key.tunnel) else {
            return;
        };
        self.role.seed = self.role.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut link = Link::new(self.role.link_cfg.clone(), self.role.seed);
        let find = |f: fn(&crate::l2tp::Avp) -> Option<&Vec<u8>>| avps.iter().find_map(f).cloned();
        // The tunnel's calls share one; a tunnel id used again by a new
        // tunnel (another LAC, another name) gets its own.
        let host_name = &self.endpoint.config().host_name;
        let shared = self
            .role
            .call_tunnels
            .get(&key.tunnel)
            .and_then(|w| w.upgrade())
            .filter(|c| {
                (c.lac, c.lns) == (t.peer.ip(), t.local.ip())
                    && c.lac_name == t.peer_info.host_name
                    && c.lns_name == *host_name
            });
        let tunnel = match shared {
            Some(c) => c,
            None => {
                let c = Arc::new(CallTunnel {
                    lac: t.peer.ip(),
                    lns: t.local.ip(),
                    lac_name: t.peer_info.host_name.clone(),
                    lns_name: host_name.clone(),
                    connection: format!("{:08X}{:04X}", self.role.boot, key.tunnel),
                });
                let tunnels = &mut self.role.call_tunnels;
                tunnels.insert(key.tunnel, Arc::downgrade(&c));
                // Gone tunnels' entries are dropped now and then.
                if tunnels.len() > 2 * self.role.call_tunnels_kept {
                    tunnels.retain(|_, w| w.strong_count() > 0);
                    self.role.call_tunnels_kept = tunnels.len().max(64);
                }
                c
            }
        };
        let call = Call {
            user: Vec::new(),
            nas_port: (u32::from(key.tunnel) << 16) | u32::from(key.session),
            calling: find(|a| match a {
                crate::l2tp::Avp::CallingNumber(v) => Some(v),
                _ => None,
            }),
            called: find(|a| match a {
                crate::l2tp::Avp::CalledNumber(v) => Some(v),
                _ => None,
            }),
            tunnel,
            // Unique across restarts: a per-boot prefix and a counter.
            session_id: format!("{:08X}{:08X}", self.role.boot, self.role.next_acct),
        };
        self.role.next_acct += 1;
        // RFC 2661 §5.4: the LAC asks with Sequencing Required (AVP 39) in
        // its ICCN (or OCCN); a peer's policy may force it either way.
        let asked = avps
            .iter()
            .any(|a| matches!(a, crate::l2tp::Avp::SequencingRequired));
        let sequencing = match t.policy.data_sequencing {
            crate::l2tp::DataSequencing::Auto => asked,
            crate::l2tp::DataSequencing::Always => true,
            crate::l2tp::DataSequencing::Never => {
                if asked {
                    self.role.sequencing_refused += 1;
                    tracing::warn!(
                        tunnel = key.tunnel,
                        session = key.session,
                        "the LAC requires data sequencing, but this peer's data_sequencing is \
                         \"never\": it may discard every frame we send"
                    );
                }
                false
            }
        };
        if sequencing {
            self.role.sequencing_requested += 1;
        }
        if self.switch_proxied(now, key, peer_session, avps, sequencing) {
            return;
        }
        let Some(t) = self.endpoint.tunnel(key.tunnel) else {
            return;
        };
        let sub = Sub {
            wire: Wire {
                local: t.local,
                peer: t.peer,
                peer_ids: (t.peer_id, peer_session),
            },
            user: Vec::new(),
            rate_src: Default::default(),
            pool: None,
            rates: rate::Rates::default(),
            ipv4: None,
            ipv6_id: None,
            reported_up: false,
            installed: false,
            sequencing,
            ns: 0,
            call,
            pending: None,
            authz: None,
            clock: Schedule::default(),
            forwarded: SessionUsage::default(),
            interim_asked: false,
            idle_asked: false,
            removing: false,
            seen_up: 0,
            v6: None,
            link: {
                match crate::engine::proxy::from_avps(avps) {
                    Some(p) => match link.start_proxied(now, &p) {
                        Ok(()) => self.role.proxy_adopted += 1,
                        Err(why) => {
                            self.role.proxy_renegotiated += 1;
                            tracing::info!(tunnel = key.tunnel, session = key.session, reason = %why, "proxy LCP not acceptable; renegotiating");
                        }
                    },
                    None => link.start(now),
                }
                link
            },
        };
        self.calls.insert(key, sub);
        // Frames that overtook the ICCN, in the order they came.
        let (early_seq, early) = self.role.early.remove(&key).unwrap_or_default();
        if early_seq {
            self.peer_sequences(key);
        }
        for (protocol, info) in early {
            if let Some(s) = self.calls.get_mut(&key) {
                s.link.receive(now, protocol, &info);
                self.role.ppp_early += 1;
            }
        }
        self.after_link(now, key);
    }

    fn assign(&mut self, now: Instant, key: SessionKey) {
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        // Re-authenticated after an LCP renegotiation: same addresses
        // (RADIUS may have changed the rates).
        if let Some(addr) = s.ipv4 {
            let ipv6 = s.ipv6_id.map(|p| ([0x02, 0, 0, 0, 0, 0, 0, 1], p));
            s.link.assign(
                now,
                Some((self.role.cfg.gateway, addr, self.role.cfg.dns)),
                ipv6,
            );
            self.refresh_rates(key);
            return;
        }
        let user = self.role.users.get(&s.user);
        let z = s.authz.as_deref();
        let wanted = Wanted {
            radius_ip: z.and_then(|z| z.framed_ip),
            radius_pool: z.and_then(|z| z.framed_pool.as_deref()),
            user_ip: user.and_then(|u| u.address),
            user_pool: user.and_then(|u| u.pool),
            default_pool: &self.role.cfg.default_pool,
            ids: (key.tunnel, key.session),
            ipv6: self.role.cfg.link.ipv6,
        };
        let got = match self.role.addressing.assign(&wanted) {
            Ok(g) => g,
            Err(e) => {
                self.role.address_failures += 1;
                tracing::warn!(tunnel = key.tunnel, session = key.session, error = %e, "no address for subscriber");
                s.link.close(now, DownCause::NoAddress(e.to_string()));
                return;
            }
        };
        s.ipv4 = Some(got.ipv4);
        s.ipv6_id = got.ipv6_id;
        // A leased address's pool (a static one has none): the session's
        // default rate may be the pool's.
        s.pool = got.pool;
        let ipv6 = got.ipv6_id.map(|p| ([0x02, 0, 0, 0, 0, 0, 0, 1], p));
        s.link.assign(
            now,
            Some((self.role.cfg.gateway, got.ipv4, self.role.cfg.dns)),
            ipv6,
        );
        self.refresh_rates(key);
    }

    fn finish(&mut self, now: Instant, key: SessionKey, cause: DownCause) {
        let Some(s) = self.calls.remove(&key) else {
            return;
        };
        let stop = self.stop_of(now, &s, &cause);
        // A RADIUS answer still on its way has no session to go to.
        if let (Some((t, _)), Some(r)) = (s.pending.as_deref(), &mut self.role.radius) {
            r.cancel(*t);
            self.role.radius_tokens.remove(t);
        }
        // Forwarding stops before the address can be handed to anyone
        // else: the removal is queued ahead of any install that could
        // reuse it.
        // The Stop carries the data plane's final count: it goes when
        // the removal is answered.
        // (An entry already on its way out, NCPs having closed first,
        // answers the same way.)
        if s.installed {
            self.role.dp_ops.push_back(DataPlaneOp::Remove(key));
        }
        match (s.installed || s.removing, stop) {
            (true, Some(p)) => {
                self.role.stops.insert(key, p);
            }
            (false, Some(p)) => self.send_stop(now, key, p, SessionUsage::default()),
            (_, None) => {}
        }
        self.role.addressing.release(s.ipv4, s.ipv6_id);
        if let Some(p) = s.v6.as_ref().and_then(|v| v.prefix) {
            self.role.addressing.pools.release_prefix(p);
        }
        if let Some(p) = s.v6.as_ref().and_then(|v| v.pd) {
            self.role.addressing.pools.release_prefix(p);
            // The user gets it back on reconnecting, if nobody took it
            // meanwhile (a released prefix is reused last).
            let sticky = &mut self.role.sticky_pd;
            if !s.user.is_empty()
                && (sticky.len() < STICKY_PREFIXES || sticky.contains_key(&*s.user))
            {
                sticky.insert(s.user.clone().into_boxed_slice(), p);
            }
        }
        let ppp = cause.ppp_cause();
        // RFC 2661 §4.4.2: our own decision to end the call (operator,
        // RADIUS Disconnect, session timeout, no address) is result 3
        // (administrative); PPP failing is result 2 with error 0 (no
        // general error: L2TP itself is fine), and the RFC 3145 cause AVP
        // says what PPP did. The message is the cause's text.
        let result = cause.row().cdn;
        let rc = ResultCode::cdn(result, Some(ErrorCode::NoError), &cause.to_string());
        self.endpoint.disconnect(now, key, rc, Some(ppp));
        self.events.push_back(LnsEvent::SubscriberDown {
            key,
            user: s.user,
            cause,
        });
    }
}

/// The LNS's hooks. Endpoint events are drained once per entry point,
/// never from a subscriber's handling (see `engine::role`).
impl Role for LnsRole {
    type Call = Sub;
    type Event = LnsEvent;

    fn on_endpoint_event(e: &mut LnsCore, now: Instant, ev: Event) {
        if e.role.switch.on_event(now, &mut e.endpoint, &ev) {
            e.events.push_back(LnsEvent::L2tp(ev));
            e.drain_switch(now);
            return;
        }
        match &ev {
            Event::SessionUp {
                key,
                peer_session,
                kind: CallKind::LnsIncoming | CallKind::LnsOutgoing,
                peer_avps,
            } => {
                if e.role.dials.remove(key).is_some() {
                    e.events.push_back(LnsEvent::Dialed {
                        key: *key,
                        outcome: DialOutcome::Connected,
                    });
                }
                e.start_link(now, *key, *peer_session, peer_avps)
            }
            Event::SessionDown { key, cause } => {
                if e.role.dials.remove(key).is_some() {
                    e.events.push_back(LnsEvent::Dialed {
                        key: *key,
                        outcome: DialOutcome::Failed(cause.clone()),
                    });
                }
                // Held for a call that never connected: orphans after all.
                if let Some((_, q)) = e.role.early.remove(key) {
                    e.role.ppp_orphans += q.len() as u64;
                }
                let why = match cause {
                    _ if e.role.shutting_down => DownCause::Shutdown,
                    crate::l2tp::ClearCause::PeerCdn { .. } => DownCause::CallCleared,
                    crate::l2tp::ClearCause::TunnelDown => DownCause::TunnelDown,
                    crate::l2tp::ClearCause::SetupTimeout => DownCause::CallSetupTimeout,
                    crate::l2tp::ClearCause::LocalCdn(_) => DownCause::CallClearedLocally,
                };
                if let Some(s) = e.calls.get_mut(key) {
                    s.link.lower_down(now, why);
                    e.after_link(now, *key);
                }
            }
            _ => {}
        }
        e.events.push_back(LnsEvent::L2tp(ev));
    }

    fn on_link_output(
        e: &mut LnsCore,
        now: Instant,
        key: SessionKey,
        out: LinkOutput,
    ) -> ControlFlow<()> {
        let Some(s) = e.calls.get_mut(&key) else {
            return ControlFlow::Break(());
        };
        match out {
            LinkOutput::Send { protocol, packet } => {
                // One Ns sequence per session (RFC 2661 §5.4): ours
                // until the data plane has the session, then its;
                // taken when the frame leaves (poll_transmit).
                e.role.transmits.push_back(PppOut {
                    key,
                    wire: s.wire,
                    sequenced: s.sequencing,
                    protocol,
                    packet,
                });
            }
            LinkOutput::Verify(c) => {
                let radius = e
                    .role
                    .radius
                    .as_mut()
                    .filter(|r| r.serves(Service::Auth))
                    .zip(e.role.cfg.radius.as_ref());
                // Re-authentication after an LCP renegotiation must be
                // the same user: the session's accounting, address and
                // authorization belong to them.
                if s.reported_up && c.user() != s.user.as_slice() {
                    s.link.close(now, DownCause::UserChanged);
                    return ControlFlow::Continue(());
                }
                // The multi-hop gateway: the realm decides where the
                // call goes before anyone judges the credentials.
                if !s.reported_up
                    && let Some(targets) = e.role.switch.route(c.user())
                {
                    e.switch_authenticated(now, key, &c, targets);
                    return ControlFlow::Break(());
                }
                match radius {
                    Some((r, settings)) => {
                        s.call.user = c.user().to_vec();
                        let (attrs, pw) = nas::access_request(&settings.nas, &s.call, &c);
                        // One Access-Request per session at a time.
                        if let Some((old, _)) = s.pending.take().map(|p| *p) {
                            r.cancel(old);
                            e.role.radius_tokens.remove(&old);
                        }
                        let token = r.request(now, Service::Auth, attrs, pw);
                        s.pending = Some(Box::new((token, c)));
                        e.role.radius_tokens.insert(token, (key, Service::Auth));
                        e.pump_radius(now);
                    }
                    None => {
                        let d = e.role.users.verify(&c);
                        s.link.decide(now, d);
                    }
                }
            }
            LinkOutput::Authenticated { user } => {
                s.user = user;
                e.assign(now, key);
            }
            LinkOutput::Up { ipv4, ipv6 } => {
                s.ipv4 = s.ipv4.or(ipv4);
                s.ipv6_id = s.ipv6_id.or(ipv6);
                if ipv6.is_some()
                    && s.v6.is_none()
                    && let Some(ra) = &e.role.cfg.ipv6.ra
                {
                    let prefix =
                        link_prefix(&mut e.role.addressing, &e.role.cfg.ipv6, s.authz.as_deref());
                    if let Err(why) = &prefix {
                        e.role.ipv6.prefix_failures += 1;
                        tracing::warn!(tunnel = key.tunnel, session = key.session, user = %String::from_utf8_lossy(&s.user), reason = %why, "IPv6CP open without a prefix");
                    }
                    let seed =
                        e.role.seed as u32 ^ u32::from(key.session) << 16 ^ u32::from(key.tunnel);
                    s.v6 = Some(Box::new(V6Link {
                        prefix: prefix.ok(),
                        pd: None,
                        pd_failed: false,
                        na: None,
                        ra: Advertiser::start(now, seed),
                    }));
                    advertise(s, ra, &mut e.role.ipv6, &mut e.role.transmits, key, now);
                }
                let entry = LnsCore::entry(key, s);
                let first = !s.reported_up;
                s.reported_up = true;
                s.installed = true;
                let (user, v4) = (s.user.clone(), s.ipv4);
                e.role.dp_ops.push_back(DataPlaneOp::Install(entry));
                if first {
                    let z = s.authz.as_deref();
                    s.clock.start(
                        now,
                        z.and_then(|z| z.session_timeout),
                        z.and_then(|z| z.interim),
                        e.role.cfg.radius.as_ref().and_then(|r| r.interim),
                    );
                    let idle = z
                        .and_then(|z| z.idle_timeout)
                        .map(|t| Duration::from_secs(u64::from(t)))
                        .or(e.role.cfg.link.idle_timeout);
                    s.clock.set_idle(now, idle);
                    e.events.push_back(LnsEvent::SubscriberUp {
                        key,
                        user,
                        ipv4: v4,
                    });
                    e.account(now, key, Status::Start, None, SessionUsage::default());
                }
            }
            LinkOutput::NetworkDown => {
                // No NCP open: stop forwarding until one reopens. The
                // sequence goes on from where the data plane left it
                // (its `Answer` says where).
                e.role.dp_ops.push_back(DataPlaneOp::Remove(key));
                s.installed = false;
                s.removing = true;
            }
            LinkOutput::Down(cause) => {
                e.finish(now, key, cause);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn on_data(
        e: &mut LnsCore,
        now: Instant,
        from: SocketAddr,
        key: SessionKey,
        datagram: &[u8],
        payload_offset: usize,
    ) {
        if e.role.switch.owns(key) {
            if let Some(r) = e.role.switch.relay(key, from, datagram, payload_offset) {
                e.role.relays.push_back(r);
            }
            e.drain_switch(now);
            return;
        }
        let ppp = datagram.get(payload_offset..).and_then(frame::decapsulate);
        let sequenced = frame::sequenced(datagram).is_some();
        let early = !e.calls.contains_key(&key) && e.awaiting_iccn(key, from);
        if sequenced && e.calls.get(&key).is_some_and(|s| s.wire.peer == from) {
            e.peer_sequences(key);
        }
        match (e.calls.get_mut(&key), ppp) {
            // Subscriber traffic is the data plane's; it reaches us
            // only while no worker socket is bound (the data plane is
            // down or restarting). Counted, not handed to PPP.
            // IPv6 to us as the link's router (RFC 4861 §6.1.1): a
            // Router Solicitation brings the next advertisement forward.
            (Some(s), Some((0x0057, info)))
                if s.wire.peer == from
                    && s.v6.is_some()
                    && let Some(d) = crate::ipv6::dhcp::udp_of(info)
                    && d.dst_port == crate::ipv6::dhcp::SERVER_PORT =>
            {
                let r = &mut e.role;
                let before = s.v6.as_ref().and_then(|v| v.pd);
                match &r.cfg.ipv6.dhcp {
                    Some(cfg) => serve_dhcp(
                        s,
                        key,
                        &d,
                        cfg,
                        &mut r.addressing,
                        &mut r.sticky_pd,
                        &mut r.ipv6,
                        &mut r.transmits,
                    ),
                    None => r.ipv6.ignored += 1,
                }
                // A prefix delegated or given back: the data plane routes
                // it to the session, or no longer.
                if s.installed && s.v6.as_ref().and_then(|v| v.pd) != before {
                    let entry = LnsCore::entry(key, s);
                    e.role.dp_ops.push_back(DataPlaneOp::Install(entry));
                }
            }
            (Some(s), Some((0x0057, info))) if s.wire.peer == from && s.v6.is_some() => {
                match crate::ipv6::nd::solicitation(info) {
                    Ok(_) => {
                        e.role.ipv6.solicitations += 1;
                        if let Some(v) = &mut s.v6 {
                            v.ra.solicited(now);
                        }
                        e.after_link(now, key);
                    }
                    Err(NdError::NotSolicitation) if to_router(info) => e.role.ipv6.ignored += 1,
                    Err(NdError::NotSolicitation | NdError::Malformed) => e.role.data_punted += 1,
                    Err(_) => e.role.ipv6.solicitations_invalid += 1,
                }
            }
            (Some(s), Some((protocol, _)))
                if s.wire.peer == from && matches!(protocol, 0x0021 | 0x0057) =>
            {
                e.role.data_punted += 1;
            }
            (Some(s), Some((protocol, info))) if s.wire.peer == from => {
                s.link.receive(now, protocol, info);
                e.after_link(now, key);
            }
            (None, Some((protocol, info))) if early => {
                e.hold_early(key, protocol, info, sequenced);
            }
            _ => e.role.ppp_orphans += 1,
        }
    }

    /// Session-Timeout, Acct-Interim-Interval and Idle-Timeout, then the
    /// link's own timers.
    fn on_call_due(e: &mut LnsCore, now: Instant, key: SessionKey) {
        let mut interim = None;
        if let Some(s) = e.calls.get_mut(&key) {
            let due = s.clock.due(now);
            if due.timed_out {
                s.link.close(now, DownCause::SessionTimeout);
            }
            if due.interim {
                interim = Some(s.forwarded);
                // The running count is the data plane's: the update
                // goes when it answers.
                if s.installed {
                    s.interim_asked = true;
                    interim = None;
                }
            }
            if due.idle_check {
                if s.installed {
                    s.idle_asked = true;
                } else {
                    // Nothing forwards its traffic: none came.
                    s.clock.active(now, false);
                    if s.clock.idle_expired(now) {
                        s.link.close(now, DownCause::IdleTimeout);
                    }
                }
            }
            if s.installed && (due.interim || due.idle_check) {
                e.role.dp_ops.push_back(DataPlaneOp::Read(key));
            }
            if let Some(ra) = &e.role.cfg.ipv6.ra {
                advertise(s, ra, &mut e.role.ipv6, &mut e.role.transmits, key, now);
            }
            s.link.on_timeout(now);
        }
        if let Some(forwarded) = interim {
            e.account(now, key, Status::Interim, None, forwarded);
        }
    }

    /// The gateway's, the dials' deadlines, RADIUS retransmissions.
    fn on_timeout(e: &mut LnsCore, now: Instant) {
        e.role.switch.on_timeout(now, &mut e.endpoint);
        e.drain_switch(now);
        e.expire_dials(now);
        if let Some(r) = &mut e.role.radius {
            r.on_timeout(now);
        }
        e.pump_radius(now);
    }

    fn next_timeout(&self) -> Option<Instant> {
        [
            self.radius.as_ref().and_then(Client::poll_timeout),
            self.dials.values().min().copied(),
            self.switch.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Numbered by the engine alone: for an engine no data plane numbers
    /// (lnsd and the simulator go through [`Lns::poll_transmit`]).
    fn poll_transmit(e: &mut LnsCore) -> Option<Transmit> {
        e.poll_transmit_numbered(&mut |_| None)
    }
}

/// RFC 2866 §5.3-5.8 from the NAS's side: input is what the subscriber
/// sent (upstream), output what it was sent; IP octets and packets of
/// both families, as the data plane counts them (`SessionUsage`).
fn usage_of(f: SessionUsage, session_time: u32) -> Usage {
    Usage {
        input_octets: f.up_octets,
        output_octets: f.down_octets,
        input_packets: f.up_packets,
        output_packets: f.down_packets,
        session_time,
    }
}

/// The LNS engine with its data plane: the shell for [`LnsCore`]'s
/// data-plane outputs, which it applies to `dataplane` (in order, before
/// any frame leaves) and whose answers it hands back. lnsd and the
/// simulator drive this; everything else of the engine is reached
/// through it as [`LnsCore`].
#[derive(Debug)]
pub struct Lns<D: DataPlane> {
    core: LnsCore,
    /// The data plane.
    pub dataplane: D,
    /// The latest instant the engine was driven at (answers applied from
    /// a poll are dated then).
    now: Option<Instant>,
}

impl<D: DataPlane> std::ops::Deref for Lns<D> {
    type Target = LnsCore;
    fn deref(&self) -> &LnsCore {
        &self.core
    }
}

impl<D: DataPlane> std::ops::DerefMut for Lns<D> {
    fn deref_mut(&mut self) -> &mut LnsCore {
        &mut self.core
    }
}

impl<D: DataPlane> Lns<D> {
    /// [`LnsCore::new`] with `dataplane`.
    pub fn new(
        endpoint: Endpoint,
        cfg: LnsConfig,
        users: Users,
        pools: Pools,
        dataplane: D,
        seed: u64,
    ) -> Self {
        Lns {
            core: LnsCore::new(endpoint, cfg, users, pools, seed),
            dataplane,
            now: None,
        }
    }

    /// See [`LnsCore::with_switch`].
    pub fn with_switch(mut self, cfg: SwitchConfig) -> Self {
        self.core = self.core.with_switch(cfg);
        self
    }

    /// Applies the engine's pending data-plane ops and hands back their
    /// answers.
    fn sync(&mut self, now: Instant) {
        self.now = Some(now);
        while let Some(op) = self.core.poll_dataplane() {
            if let Some(c) = crate::engine::dataplane::apply(&mut self.dataplane, &op) {
                self.core.dataplane_answer(now, c);
            }
        }
    }

    /// Pending ops applied at the latest instant seen (for polls, which
    /// take none).
    fn sync_polled(&mut self) {
        if let Some(now) = self.now {
            self.sync(now);
        }
    }

    /// See [`LnsCore::handle`].
    pub fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        self.core.handle(now, local, from, datagram);
        self.sync(now);
    }

    /// See [`LnsCore::on_timeout`].
    pub fn on_timeout(&mut self, now: Instant) {
        self.core.on_timeout(now);
        self.sync(now);
    }

    /// See [`LnsCore::handle_radius`].
    pub fn handle_radius(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.core.handle_radius(now, from, bytes);
        self.sync(now);
    }

    /// See [`LnsCore::handle_dae`].
    pub fn handle_dae(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let r = self.core.handle_dae(now, from, bytes);
        self.sync(now);
        r
    }

    /// See [`LnsCore::with_endpoint`].
    pub fn with_endpoint<R>(&mut self, now: Instant, f: impl FnOnce(&mut Endpoint) -> R) -> R {
        let r = self.core.with_endpoint(now, f);
        self.sync(now);
        r
    }

    /// See [`LnsCore::shutdown`].
    pub fn shutdown(&mut self, now: Instant) {
        self.core.shutdown(now);
        self.sync(now);
    }

    /// See [`LnsCore::dial`].
    pub fn dial(
        &mut self,
        now: Instant,
        local: SocketAddr,
        lac: SocketAddr,
        params: crate::l2tp::CallParams,
        deadline: Instant,
    ) -> Result<SessionKey, String> {
        let r = self.core.dial(now, local, lac, params, deadline);
        self.sync(now);
        r
    }

    /// See [`LnsCore::disconnect`].
    pub fn disconnect(&mut self, now: Instant, key: SessionKey, cause: DownCause) -> bool {
        let r = self.core.disconnect(now, key, cause);
        self.sync(now);
        r
    }

    /// See [`LnsCore::set_rates`]; the data plane has them on return.
    pub fn set_rates(&mut self, now: Instant, key: SessionKey, asked: &rate::Asked) -> bool {
        let r = self.core.set_rates(key, asked);
        self.sync(now);
        r
    }

    /// See [`LnsCore::resolve_rates`]; the data plane has the new rates
    /// on return.
    pub fn resolve_rates(&mut self, now: Instant) -> usize {
        let n = self.core.resolve_rates();
        self.sync(now);
        n
    }

    /// Next datagram to send, a sequenced session's frames numbered from
    /// the data plane's shared counter while it has the session.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.sync_polled();
        let dp = &mut self.dataplane;
        self.core.poll_transmit_numbered(&mut |k| dp.take_ns(k))
    }

    /// See [`LnsCore::poll_event`].
    pub fn poll_event(&mut self) -> Option<LnsEvent> {
        self.sync_polled();
        self.core.poll_event()
    }
}

/// The prefix of a link whose IPv6CP opened: RADIUS Framed-IPv6-Prefix
/// (RFC 3162 §2.3; a /64, as SLAAC needs, RFC 4862 §5.5.3), else a /64
/// from the pool RADIUS names (Framed-IPv6-Pool, §2.6), else from the
/// configured one.
fn link_prefix(
    addressing: &mut Addressing,
    cfg: &Ipv6Settings,
    authz: Option<&Authorization>,
) -> Result<Ipv6Net, String> {
    if let Some(p) = authz.and_then(|z| z.framed_ipv6_prefix) {
        if p.len != 64 {
            return Err(format!("RADIUS Framed-IPv6-Prefix {p} is not a /64"));
        }
        return addressing.pools.claim_prefix(p).map_err(|e| e.to_string());
    }
    let pool = authz
        .and_then(|z| z.framed_ipv6_pool.as_deref())
        .or(cfg.pool.as_deref());
    lease_from(
        addressing,
        pool,
        "no IPv6 prefix pool is configured (ipv6.pool) and RADIUS named none",
    )
}

/// A prefix from pool `pool`; `none` says why there is no pool.
fn lease_from(
    addressing: &mut Addressing,
    pool: Option<&str>,
    none: &str,
) -> Result<Ipv6Net, String> {
    let pool = pool.ok_or(none)?;
    addressing
        .pools
        .lease_prefix(pool)
        .map_err(|e| e.to_string())
}

/// Sends `s` its Router Advertisement if one is due (and its IPv6CP is
/// open: RFC 5072 §3, IPv6 only over an open IPv6CP).
fn advertise(
    s: &mut Sub,
    cfg: &RaConfig,
    stats: &mut Ipv6Stats,
    transmits: &mut VecDeque<PppOut>,
    key: SessionKey,
    now: Instant,
) {
    let Some(v) = s.v6.as_mut() else {
        return;
    };
    if !s.link.ipv6_open() || !v.ra.due(now, cfg) {
        return;
    }
    let ra = RouterAdvert {
        cfg,
        prefix: v.prefix.map(|p| p.head()),
    };
    stats.advertisements += 1;
    transmits.push_back(s.ipv6_out(key, ra.encode(s.our_ipv6_id(), crate::ipv6::ALL_NODES)));
}

/// Users whose last delegated prefix is remembered (about 50 bytes each).
pub const STICKY_PREFIXES: usize = 1 << 20;

/// Answers a DHCPv6 message `d` from `s`'s subscriber (RFC 8415 §18.3),
/// delegating a prefix first if it asks for one and the link has none.
#[allow(
    clippy::too_many_arguments,
    reason = "the role's parts, borrowed apart from the call"
)]
fn serve_dhcp(
    s: &mut Sub,
    key: SessionKey,
    d: &crate::ipv6::dhcp::Datagram<'_>,
    cfg: &DhcpSettings,
    addressing: &mut Addressing,
    sticky: &mut HashMap<Box<[u8]>, Ipv6Net>,
    stats: &mut Ipv6Stats,
    transmits: &mut VecDeque<PppOut>,
) {
    use crate::ipv6::dhcp::{self, Leases, Message, Opt, kind};
    let Ok(m) = Message::parse(d.payload) else {
        stats.dhcp_refused += 1;
        return;
    };
    let Some(v) = s.v6.as_mut() else {
        return;
    };
    let wants_pd = matches!(
        m.kind,
        kind::SOLICIT | kind::REQUEST | kind::RENEW | kind::REBIND
    ) && m.options.iter().any(|o| matches!(o, Opt::IaPd(_)))
        && m.client_id().is_some();
    if wants_pd && v.pd.is_none() {
        match delegate(addressing, cfg, s.authz.as_deref(), &s.user, sticky) {
            Ok(p) => {
                v.pd = Some(p);
                stats.dhcp_delegated += 1;
                tracing::debug!(tunnel = key.tunnel, session = key.session, prefix = %p, "prefix delegated");
            }
            Err(why) if !v.pd_failed => {
                v.pd_failed = true;
                stats.dhcp_pd_failures += 1;
                tracing::warn!(tunnel = key.tunnel, session = key.session, user = %String::from_utf8_lossy(&s.user), reason = %why, "no prefix to delegate");
            }
            Err(_) => {}
        }
    }
    let address = cfg
        .address
        .then(|| v.prefix.zip(s.ipv6_id))
        .flatten()
        .map(|(p, id)| {
            let mut a = p.addr.octets();
            a[8..].copy_from_slice(&id);
            std::net::Ipv6Addr::from(a)
        });
    let leases = Leases {
        prefix: v.pd,
        address,
        link: v.prefix,
    };
    match dhcp::respond(&cfg.server, &m, d.dst, &leases) {
        Err(why) => {
            stats.dhcp_refused += 1;
            tracing::debug!(
                tunnel = key.tunnel,
                session = key.session,
                reason = why.name(),
                "DHCPv6 message refused"
            );
        }
        Ok(a) => {
            if a.release_prefix
                && let Some(p) = v.pd.take()
            {
                addressing.pools.release_prefix(p);
                stats.dhcp_released += 1;
            }
            // RFC 6911: what IA_NA bound is the user's Framed-IPv6-Address.
            if a.release_address {
                v.na = None;
            } else if a.bound && m.options.iter().any(|o| matches!(o, Opt::IaNa(_))) {
                v.na = address;
            }
            stats.dhcp_replies += 1;
            let reply = dhcp::udp_packet(
                crate::ipv6::link_local(s.our_ipv6_id()),
                d.src,
                (dhcp::SERVER_PORT, dhcp::CLIENT_PORT),
                &a.reply.encode(),
            );
            transmits.push_back(s.ipv6_out(key, reply));
        }
    }
}

/// The prefix to delegate to a link: RADIUS Delegated-IPv6-Prefix, else
/// the one its user had last if still free, else one from RADIUS
/// Delegated-IPv6-Prefix-Pool's pool or `ipv6.dhcpv6_pd_pool`.
fn delegate(
    addressing: &mut Addressing,
    cfg: &DhcpSettings,
    authz: Option<&Authorization>,
    user: &[u8],
    sticky: &mut HashMap<Box<[u8]>, Ipv6Net>,
) -> Result<Ipv6Net, String> {
    if let Some(p) = authz.and_then(|z| z.delegated_ipv6_prefix) {
        return addressing.pools.claim_prefix(p).map_err(|e| e.to_string());
    }
    if let Some(p) = sticky.remove(user)
        && let Ok(p) = addressing.pools.claim_prefix(p)
    {
        return Ok(p);
    }
    let pool = authz
        .and_then(|z| z.delegated_ipv6_pool.as_deref())
        .or(cfg.pd_pool.as_deref());
    lease_from(
        addressing,
        pool,
        "no delegated-prefix pool is configured (ipv6.dhcpv6_pd_pool) and RADIUS named none",
    )
}

/// Whether an IPv6 packet is addressed to us as the link's router: a
/// link-local or multicast destination (what the data plane passes up
/// rather than routes).
fn to_router(packet: &[u8]) -> bool {
    packet
        .get(24..26)
        .is_some_and(|d| d[0] == 0xff || (d[0] == 0xfe && d[1] & 0xc0 == 0x80))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every session is a boxed `Sub`, its PPP link inside: at 1,000,000
    /// sessions each byte is a megabyte of lnsd's 2 KiB-a-session budget
    /// (see `ppp::link`'s `a_link_stays_within_its_memory_budget`).
    #[test]
    fn a_session_stays_within_its_memory_budget() {
        assert!(
            std::mem::size_of::<Sub>() <= 1112,
            "Sub is {} bytes",
            std::mem::size_of::<Sub>()
        );
    }
}
