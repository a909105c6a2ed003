//! The multi-hop gateway role: "switched" calls (DESIGN §2.1; RFC 2661
//! §1: "a tunnel is established from a client LAC to the L2TP multi-hop
//! gateway and then another tunnel is established between the gateway
//! and a target LNS").
//!
//! A switched call has two legs. Leg A is the call the LAC offered us
//! (we answered as an LNS, §7.4.2); leg B is the call we offer a target
//! LNS (we act as its LAC, §7.4.1), with the subscriber's LCP and
//! authentication as proxy AVPs (§4.4.5, AVPs 26–33) so the LNS runs PPP
//! with the subscriber through us. Frames are switched by rewriting the
//! L2TP header; the PPP payload is never touched.
//!
//! Guarantees:
//! * targets are tried in the order given (preference order), skipping
//!   endpoints held down; an endpoint that fails (no tunnel, StopCCN, CDN
//!   result 2 or 4, no answer in time) is held down for
//!   [`SwitchConfig::hold_down`] and the call moves to the next one; when
//!   none is left the call ends with [`DownCause::NoTarget`];
//! * sessions toward the same endpoint and Tunnel-Assignment-ID share one
//!   tunnel, opened on demand and closed after [`SwitchConfig::tunnel_idle`]
//!   without sessions;
//! * the legs are bound: whatever ends one ends the other, a CDN's result
//!   and RFC 3145 cause relayed as they came; SLI and WEN are relayed;
//! * the data-plane entry is installed once both legs are up and removed
//!   before either leg's ids can be reused;
//! * a data frame reaching the control plane for a switched call (the data
//!   plane is down, or the simulator) is switched here, with the same
//!   rewrite, and counted.
//!
//! Refused: a frame for a switched call from an address that is not the
//! leg's peer (counted), a frame before leg B is up (counted).
//!
//! Who calls it: the LNS engine (`crate::lns::Lns`), which owns the L2TP
//! endpoint both legs live in, decides when a call is switched (a realm
//! rule or RADIUS tunnel attributes), and applies the outputs.

use crate::aaa::tunnel::{self, HoldDown, RealmRules, TunnelKey, TunnelTarget};
use crate::cause::DownCause;
use crate::engine::call::Wire;
use crate::l2tp::avp::{PppDisconnectCause, ProxyAuthType};
use crate::l2tp::result::{CdnResult, StopCcnResult};
use crate::l2tp::{
    Avp, CallParams, ClearCause, ControlMessage, Endpoint, Event, PeerPolicy, ResultCode,
    SessionKey, Transmit,
};
use crate::map::HashMap;
use crate::ppp::auth::Credentials;
use crate::ppp::link::ProxyLcp;
use crate::timers::Timers;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// `user@realm` rules: which LNSs serve a realm.
    pub realms: RealmRules,
    /// How long an endpoint that failed is skipped.
    pub hold_down: Duration,
    /// How long a tunnel toward an LNS stays open without sessions.
    pub tunnel_idle: Duration,
    /// How long a target has to bring leg B up (tunnel and call) before
    /// the call moves to the next one: the subscriber is waiting for its
    /// authentication verdict meanwhile, so this is much shorter than the
    /// L2TP retransmission budget.
    pub target_timeout: Duration,
    /// The policy of tunnels toward LNSs (sequencing, hiding), before a
    /// target's own secret and hiding apply.
    pub policy: PeerPolicy,
    /// Our address toward LNSs; `None`: the address the LAC reached us on.
    pub local: Option<SocketAddr>,
    /// Tunnels opened to one LNS for calls without a Tunnel-Assignment-ID
    /// (RFC 2868 §3.7 lets those share a tunnel or not): one tunnel's
    /// control channel carries a window of messages per round trip, so a
    /// busy gateway spreads its calls over several.
    pub tunnels_per_lns: usize,
    /// Outgoing calls: Called Number prefix → the LACs that place them
    /// (the longest prefix wins). An LNS's OCRQ is relayed to them in
    /// preference order, with the same failover and hold-down as targets
    /// of incoming calls; the endpoint must defer its answer
    /// (`EndpointConfig::defer_outgoing_answer`).
    pub dialouts: Vec<(Vec<u8>, Vec<TunnelTarget>)>,
}

/// Calls a tunnel toward an LNS carries before the next one is opened
/// (up to [`SwitchConfig::tunnels_per_lns`]).
const SPREAD_AT: usize = 32;

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            realms: RealmRules::default(),
            hold_down: Duration::from_secs(60),
            tunnel_idle: Duration::from_secs(10),
            target_timeout: Duration::from_secs(5),
            policy: PeerPolicy::default(),
            local: None,
            tunnels_per_lns: 8,
            dialouts: Vec::new(),
        }
    }
}

/// One leg of a switched call as the data plane needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// Our tunnel and session ids on this leg (what the peer puts in the
    /// frames it sends us).
    pub key: SessionKey,
    /// Our address on this leg.
    pub local: SocketAddr,
    /// The peer (the LAC on leg A, the LNS on leg B).
    pub peer: SocketAddr,
    /// The peer's tunnel and session ids (what we put in frames to it).
    pub peer_ids: (u16, u16),
    /// Our frames on this leg carry Ns (RFC 2661 §5.4).
    pub sequencing: bool,
    /// Next Ns of our frames on this leg while the data plane does not
    /// number them.
    pub ns: u16,
}

/// What the data plane needs to switch a call: a frame received on one
/// leg leaves on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchedEntry {
    /// The LAC's leg.
    pub a: Leg,
    /// The LNS's leg.
    pub b: Leg,
}

/// What the gateway asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchOutput {
    /// Both legs are up: program the data plane.
    Install(SwitchedEntry),
    /// Stop switching (before the ids can be reused).
    Remove {
        /// Leg A.
        a: SessionKey,
        /// Leg B.
        b: SessionKey,
    },
    /// A switched call came up.
    Up {
        /// Leg A.
        a: SessionKey,
        /// Leg B.
        b: SessionKey,
        /// The subscriber.
        user: Vec<u8>,
        /// The LNS.
        target: SocketAddr,
    },
    /// A target failed for a call (it moves to the next one).
    TargetFailed {
        /// Leg A.
        a: SessionKey,
        /// The endpoint.
        target: SocketAddr,
        /// What happened.
        cause: DownCause,
    },
    /// A switched call (or one that was being switched) ended; leg A is
    /// cleared with `cdn` when given, else from the cause's row.
    Down {
        /// Leg A.
        a: SessionKey,
        /// Leg B, if one was placed.
        b: Option<SessionKey>,
        /// The subscriber.
        user: Vec<u8>,
        /// Why.
        cause: DownCause,
        /// The CDN for leg A when it is still up: the target's, relayed.
        cdn: Option<(ResultCode, Option<PppDisconnectCause>)>,
        /// What the control plane switched itself (from the LAC, from
        /// the LNS), besides what the data plane did.
        relayed: [LegUsage; 2],
    },
}

/// Frames and PPP octets one leg of a switched call received and that
/// were switched onto the other (by the data plane, or by lnsd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegUsage {
    /// Frames.
    pub packets: u64,
    /// PPP octets.
    pub octets: u64,
}

/// A call's Calling and Called Numbers.
pub type Numbers = (Option<Vec<u8>>, Option<Vec<u8>>);

/// An OCRQ being relayed: the LNS's call (leg B, waiting for our OCCN)
/// and ours to the LAC (leg A, waiting for its OCCN).
#[derive(Debug)]
struct Dial {
    b: Leg,
    a: SessionKey,
    a_leg: Option<Leg>,
    called: Vec<u8>,
    target: SocketAddr,
    /// LACs not tried yet, in order.
    targets: Vec<TunnelTarget>,
    /// The OCRQ to send them.
    params: CallParams,
    local: SocketAddr,
}

/// Gateway counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Calls handed to the gateway.
    pub calls: u64,
    /// Calls whose both legs came up.
    pub up: u64,
    /// Calls that found no target.
    pub no_target: u64,
    /// Target failures (the count per endpoint is [`Switch::failures`]).
    pub target_failures: u64,
    /// Endpoints put on hold-down.
    pub held_down: u64,
    /// Frames switched by the control plane (the data plane was not).
    pub relayed: u64,
    /// Frames for a switched call that could not be switched (wrong
    /// source, leg B not up).
    pub relay_dropped: u64,
    /// SLI and WEN relayed.
    pub info_relayed: u64,
    /// Calls switched by RADIUS tunnel attributes (the rest by realm).
    pub by_radius: u64,
    /// Access-Accepts whose tunnel attributes could not be used (the
    /// call was rejected, RFC 2868 §3.1).
    pub bad_tunnel_attributes: u64,
    /// Tunnels closed because the LNS's Host Name was not the expected
    /// Tunnel-Server-Auth-ID.
    pub wrong_server_name: u64,
    /// Outgoing calls relayed to a LAC (OCRQ) and connected.
    pub dialouts: u64,
    /// Outgoing calls refused: no `[[dialout]]` for the number, or the
    /// LAC could not be reached or refused.
    pub dialouts_failed: u64,
}

/// A switched call as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchedInfo {
    /// Leg A.
    pub a: Leg,
    /// Leg B, once placed (its peer ids once up).
    pub b: Option<Leg>,
    /// Both legs up.
    pub up: bool,
    /// The subscriber.
    pub user: Vec<u8>,
    /// The target LNS now tried or serving.
    pub target: Option<SocketAddr>,
    /// When both legs came up.
    pub up_since: Option<Instant>,
}

#[derive(Debug)]
struct Call {
    a: Leg,
    b: Option<Leg>,
    b_up: bool,
    user: Vec<u8>,
    target: Option<TunnelTarget>,
    /// Targets not tried yet.
    targets: Vec<TunnelTarget>,
    params: CallParams,
    installed: bool,
    up_since: Option<Instant>,
    /// An outgoing call relayed to a LAC: leg A's tunnel is ours.
    dialed: bool,
    /// Frames lnsd switched itself: (from the LAC, from the LNS).
    relayed: [LegUsage; 2],
}

/// The gateway.
#[derive(Debug)]
pub struct Switch {
    cfg: SwitchConfig,
    calls: HashMap<SessionKey, Call>,
    by_b: HashMap<SessionKey, SessionKey>,
    tunnels: HashMap<TunnelKey, Vec<u16>>,
    tunnel_of: HashMap<u16, TunnelKey>,
    idle: HashMap<u16, Instant>,
    /// When each call's leg B must be up.
    deadlines: Timers<SessionKey>,
    /// The Host Name each tunnel we opened must hear from its LNS (RFC
    /// 2868 §3.10 Tunnel-Server-Auth-ID), until it does.
    expect_name: HashMap<u16, Vec<u8>>,
    /// Relayed outgoing calls on each tunnel we opened toward a LAC.
    dial_load: HashMap<u16, usize>,
    /// OCRQs being relayed, by the LNS's call (leg B).
    dials: HashMap<SessionKey, Dial>,
    /// The same by our call to the LAC (leg A).
    dial_by_a: HashMap<SessionKey, SessionKey>,
    /// Switched calls on each tunnel we opened toward an LNS.
    load: HashMap<u16, usize>,
    /// Switched calls toward each endpoint (spreads equal preferences).
    endpoint_load: HashMap<SocketAddr, u64>,
    hold: HoldDown,
    out: VecDeque<SwitchOutput>,
    /// Counters.
    pub stats: SwitchStats,
}

impl Switch {
    /// A gateway with these settings.
    pub fn new(cfg: SwitchConfig) -> Self {
        Switch {
            cfg,
            calls: HashMap::default(),
            by_b: HashMap::default(),
            tunnels: HashMap::default(),
            tunnel_of: HashMap::default(),
            idle: HashMap::default(),
            deadlines: Timers::default(),
            dials: HashMap::default(),
            dial_load: HashMap::default(),
            dial_by_a: HashMap::default(),
            expect_name: HashMap::default(),
            load: HashMap::default(),
            endpoint_load: HashMap::default(),
            hold: HoldDown::default(),
            out: VecDeque::new(),
            stats: SwitchStats::default(),
        }
    }

    /// Replaces the settings (a reload); calls keep their targets.
    pub fn reconfigure(&mut self, cfg: SwitchConfig) {
        self.cfg = cfg;
    }

    /// The targets of `user`'s realm, if a rule names it.
    pub fn route(&self, user: &[u8]) -> Option<Vec<TunnelTarget>> {
        self.cfg.realms.lookup(user).map(<[TunnelTarget]>::to_vec)
    }

    /// A switched call's Calling and Called Numbers (from the LAC's call).
    pub fn numbers(&self, a: SessionKey) -> Option<Numbers> {
        let c = self.calls.get(&a)?;
        Some((
            c.params.calling_number.clone(),
            c.params.called_number.clone(),
        ))
    }

    /// Whether `key` is a leg of a switched call (either leg).
    pub fn owns(&self, key: SessionKey) -> bool {
        self.calls.contains_key(&key) || self.by_b.contains_key(&key)
    }

    /// Switched calls, in no particular order.
    pub fn calls(&self) -> impl Iterator<Item = SwitchedInfo> + '_ {
        self.calls.values().map(|c| SwitchedInfo {
            a: c.a,
            b: c.b,
            up: c.b_up,
            user: c.user.clone(),
            target: c.target.as_ref().map(|t| t.endpoint),
            up_since: c.up_since,
        })
    }

    /// Switched calls now (both legs up or being set up).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// No switched calls.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Endpoints on hold-down now, with the time left.
    pub fn held(&self, now: Instant) -> Vec<(SocketAddr, Duration)> {
        self.hold.held(now).collect()
    }

    /// Failures of an endpoint since start.
    pub fn failures(&self, endpoint: SocketAddr) -> u64 {
        self.hold.failures(endpoint)
    }

    /// Failures by endpoint since start.
    pub fn failure_counts(&self) -> impl Iterator<Item = (SocketAddr, u64)> + '_ {
        self.hold.failure_counts()
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<SwitchOutput> {
        self.out.pop_front()
    }

    /// Earliest timer (idle tunnels, targets late to answer).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let late = self.deadlines.next();
        self.idle
            .values()
            .min()
            .copied()
            .into_iter()
            .chain(late)
            .min()
    }

    /// Closes tunnels toward LNSs idle for long enough; moves calls whose
    /// target did not answer in time to the next target.
    pub fn on_timeout(&mut self, now: Instant, ep: &mut Endpoint) {
        while let Some(a) = self.deadlines.pop_due(now) {
            // A LAC that did not place a relayed OCRQ in time: the next.
            if let Some(b) = self.dial_by_a.remove(&a) {
                let rc = ResultCode::cdn(CdnResult::Timeout, None, "the LAC did not answer");
                ep.disconnect(now, a, rc, None);
                self.dial_done(now, a.tunnel);
                if let Some(lac) = self.dials.get(&b).map(|d| d.target) {
                    self.failed(now, b, lac, DownCause::TargetTunnelDown);
                }
                self.next_lac(now, ep, b);
                continue;
            }
            // (A call that ended meanwhile left its deadline behind.)
            let Some(c) = self.calls.get_mut(&a).filter(|c| !c.b_up) else {
                continue;
            };
            let Some(b) = c.b.take() else {
                continue;
            };
            // Unbound first: the CDN's SessionDown is not a failure of
            // the next target.
            self.unbind(b);
            let rc = ResultCode::cdn(CdnResult::Timeout, None, "target LNS did not answer");
            ep.disconnect(now, b.key, rc, None);
            self.failed(now, a, b.peer, DownCause::TargetTunnelDown);
            self.maybe_idle(now, b.key.tunnel);
            self.next_target(now, ep, a);
        }
        let due: Vec<u16> = self
            .idle
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.idle.remove(&id);
            if !self.load.contains_key(&id) && !self.dial_load.contains_key(&id) {
                let rc = ResultCode::stop_ccn(
                    StopCcnResult::GeneralClear,
                    None,
                    "no sessions left to switch",
                );
                ep.close_tunnel(now, id, rc);
                self.forget_tunnel(id);
            }
        }
    }

    /// Switches a call: leg A (answered, up) goes to `targets` in order,
    /// offered with `params` (calling and called numbers, proxy AVPs).
    pub fn start(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        a: Leg,
        user: Vec<u8>,
        params: CallParams,
        targets: Vec<TunnelTarget>,
    ) {
        self.stats.calls += 1;
        self.calls.insert(
            a.key,
            Call {
                a,
                b: None,
                b_up: false,
                user,
                target: None,
                targets,
                params,
                installed: false,
                up_since: None,
                dialed: false,
                relayed: Default::default(),
            },
        );
        self.next_target(now, ep, a.key);
    }

    /// Places leg B toward the next usable target, or ends the call.
    fn next_target(&mut self, now: Instant, ep: &mut Endpoint, a: SessionKey) {
        loop {
            let Some(c) = self.calls.get_mut(&a) else {
                return;
            };
            // Preference order (RFC 2868 §3.8), equal preferences spread
            // by load, held-down endpoints skipped.
            let pick = tunnel::order(
                &c.targets,
                |t| self.endpoint_load.get(&t.endpoint).copied().unwrap_or(0),
                &self.hold,
                now,
            )
            .first()
            .map(|t| (*t).clone());
            let Some(t) = pick else {
                let c = self.calls.remove(&a).expect("present");
                self.stats.no_target += 1;
                self.out.push_back(SwitchOutput::Down {
                    a,
                    b: None,
                    user: c.user,
                    relayed: c.relayed,
                    cause: DownCause::NoTarget,
                    cdn: None,
                });
                return;
            };
            c.targets.retain(|x| *x != t);
            let local = self.cfg.local.unwrap_or(c.a.local);
            let mut params = c.params.clone();
            // RFC 2661 §5.4: a policy of "always" asks the LNS too.
            params.sequencing_required |=
                self.cfg.policy.data_sequencing == crate::l2tp::DataSequencing::Always;
            let sequencing = params.sequencing_required;
            let tkey: TunnelKey = t.key();
            // The least loaded open tunnel of this endpoint and assignment
            // id; a new one while all carry SPREAD_AT calls and there are
            // fewer than tunnels_per_lns (one per Tunnel-Assignment-ID).
            let open: Vec<u16> = self
                .tunnels
                .get(&tkey)
                .map(|v| v.iter().copied().filter(|id| ep.is_usable(*id)).collect())
                .unwrap_or_default();
            let least = open
                .iter()
                .copied()
                .min_by_key(|id| self.load.get(id).copied().unwrap_or(0));
            let most = if tkey.assignment_id.is_some() {
                1
            } else {
                self.cfg.tunnels_per_lns.max(1)
            };
            let existing = least.filter(|id| {
                open.len() >= most || self.load.get(id).copied().unwrap_or(0) < SPREAD_AT
            });
            let tunnel = match existing {
                Some(id) => Ok(id),
                None => {
                    let mut policy = self.policy_for(&t);
                    // A tunnel we open is for our calls only.
                    policy.accept_incoming_calls = false;
                    let id = ep.open_tunnel_with(now, local, t.endpoint, policy);
                    if let (Ok(id), Some(name)) = (&id, &t.server_auth_id) {
                        self.expect_name.insert(*id, name.clone());
                    }
                    id
                }
            };
            let placed = tunnel.and_then(|id| {
                let v = self.tunnels.entry(tkey.clone()).or_default();
                if !v.contains(&id) {
                    v.push(id);
                }
                self.tunnel_of.insert(id, tkey);
                self.idle.remove(&id);
                ep.place_call(now, id, params)
            });
            match placed {
                Ok(b) => {
                    let local_peer = t.endpoint;
                    let c = self.calls.get_mut(&a).expect("present");
                    c.b = Some(Leg {
                        key: b,
                        local,
                        peer: t.endpoint,
                        peer_ids: (0, 0),
                        sequencing,
                        ns: 0,
                    });
                    c.target = Some(t);
                    self.deadlines.set(a, Some(now + self.cfg.target_timeout));
                    self.by_b.insert(b, a);
                    *self.load.entry(b.tunnel).or_insert(0) += 1;
                    *self.endpoint_load.entry(local_peer).or_insert(0) += 1;
                    return;
                }
                Err(e) => {
                    tracing::warn!(target_lns = %t.endpoint, error = %e, "cannot place a switched call");
                    self.failed(now, a, t.endpoint, DownCause::NoTarget);
                }
            }
        }
    }

    fn failed(&mut self, now: Instant, a: SessionKey, endpoint: SocketAddr, cause: DownCause) {
        self.stats.target_failures += 1;
        if !self.hold.is_held(endpoint, now) {
            self.stats.held_down += 1;
        }
        self.hold.fail(endpoint, now, self.cfg.hold_down);
        self.out.push_back(SwitchOutput::TargetFailed {
            a,
            target: endpoint,
            cause,
        });
    }

    fn forget_tunnel(&mut self, id: u16) {
        if let Some(k) = self.tunnel_of.remove(&id)
            && let Some(v) = self.tunnels.get_mut(&k)
        {
            v.retain(|t| *t != id);
            if v.is_empty() {
                self.tunnels.remove(&k);
            }
        }
        self.idle.remove(&id);
    }

    /// A relayed outgoing call left the tunnel we opened toward its LAC.
    fn dial_done(&mut self, now: Instant, tunnel: u16) {
        if let Some(n) = self.dial_load.get_mut(&tunnel) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.dial_load.remove(&tunnel);
                self.maybe_idle(now, tunnel);
            }
        }
    }

    /// A tunnel we opened toward an LNS lost a call: close it once idle.
    /// Leg B no longer belongs to its call.
    fn unbind(&mut self, b: Leg) -> Option<SessionKey> {
        let a = self.by_b.remove(&b.key)?;
        if let Some(n) = self.endpoint_load.get_mut(&b.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.endpoint_load.remove(&b.peer);
            }
        }
        if let Some(n) = self.load.get_mut(&b.key.tunnel) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.load.remove(&b.key.tunnel);
            }
        }
        Some(a)
    }

    fn maybe_idle(&mut self, now: Instant, tunnel: u16) {
        if self.tunnel_of.contains_key(&tunnel)
            && !self.load.contains_key(&tunnel)
            && !self.dial_load.contains_key(&tunnel)
        {
            self.idle.insert(tunnel, now + self.cfg.tunnel_idle);
        }
    }

    /// Takes an endpoint event that concerns a switched call; false when
    /// it is not the gateway's (the owner handles it).
    pub fn on_event(&mut self, now: Instant, ep: &mut Endpoint, ev: &Event) -> bool {
        match ev {
            Event::SessionUp {
                key, peer_session, ..
            } if self.by_b.contains_key(key) => {
                let a = self.by_b[key];
                let peer_tunnel = ep.tunnel(key.tunnel).map_or(0, |t| t.peer_id);
                let Some(c) = self.calls.get_mut(&a) else {
                    return true;
                };
                let Some(b) = c.b.as_mut() else {
                    return true;
                };
                b.peer_ids = (peer_tunnel, *peer_session);
                c.b_up = true;
                self.deadlines.set(a, None);
                c.installed = true;
                c.up_since = Some(now);
                self.stats.up += 1;
                self.out
                    .push_back(SwitchOutput::Install(SwitchedEntry { a: c.a, b: *b }));
                self.out.push_back(SwitchOutput::Up {
                    a,
                    b: *key,
                    user: c.user.clone(),
                    target: b.peer,
                });
                true
            }
            Event::SessionDown { key, cause } if self.by_b.contains_key(key) => {
                let a = self.by_b[key];
                let Some(c) = self.calls.get_mut(&a) else {
                    self.by_b.remove(key);
                    return true;
                };
                if let Some(leg) = c.b {
                    self.unbind(leg);
                }
                let Some(c) = self.calls.get_mut(&a) else {
                    return true;
                };
                let endpoint = c.b.map(|b| b.peer);
                c.b = None;
                if !c.b_up {
                    // The target never took the call: RFC 2661 §4.4.2
                    // results 2 (general error) and 4 (temporarily no
                    // facilities) and a failed tunnel mean "try another".
                    let why = match cause {
                        ClearCause::TunnelDown => Some(DownCause::TargetTunnelDown),
                        ClearCause::SetupTimeout => Some(DownCause::TargetTunnelDown),
                        ClearCause::PeerCdn { result, .. }
                            if result.result == CdnResult::GeneralError as u16
                                || result.result == CdnResult::TemporaryNoFacilities as u16 =>
                        {
                            Some(DownCause::TargetCleared)
                        }
                        ClearCause::PeerCdn { .. } | ClearCause::LocalCdn(_) => None,
                    };
                    match (why, endpoint) {
                        (Some(why), Some(e)) => {
                            self.failed(now, a, e, why);
                            self.next_target(now, ep, a);
                        }
                        _ => {
                            // Refused for good (e.g. result 5, 6): the
                            // subscriber gets the target's answer.
                            let c = self.calls.remove(&a).expect("present");
                            let cdn = match cause {
                                ClearCause::PeerCdn { result, ppp_cause } => {
                                    Some((result.clone(), ppp_cause.clone()))
                                }
                                _ => None,
                            };
                            self.out.push_back(SwitchOutput::Down {
                                a,
                                b: Some(*key),
                                user: c.user,
                                relayed: c.relayed,
                                cause: DownCause::TargetCleared,
                                cdn,
                            });
                        }
                    }
                } else {
                    let c = self.calls.remove(&a).expect("present");
                    if c.dialed {
                        self.dial_done(now, c.a.key.tunnel);
                    }
                    if c.installed {
                        self.out.push_back(SwitchOutput::Remove { a, b: *key });
                    }
                    let (why, cdn) = match cause {
                        ClearCause::PeerCdn { result, ppp_cause } => (
                            DownCause::TargetCleared,
                            Some((result.clone(), ppp_cause.clone())),
                        ),
                        ClearCause::TunnelDown => (DownCause::TargetTunnelDown, None),
                        _ => (DownCause::TargetCleared, None),
                    };
                    self.out.push_back(SwitchOutput::Down {
                        a,
                        b: Some(*key),
                        user: c.user,
                        relayed: c.relayed,
                        cause: why,
                        cdn,
                    });
                }
                self.maybe_idle(now, key.tunnel);
                true
            }
            Event::SessionDown { key, cause } if self.calls.contains_key(key) => {
                // Leg A ended (the LAC's CDN, its tunnel): leg B follows.
                let c = self.calls.remove(key).expect("present");
                if c.dialed {
                    self.dial_done(now, key.tunnel);
                }
                let (why, relayed) = match cause {
                    ClearCause::PeerCdn { result, ppp_cause } => (
                        DownCause::CallCleared,
                        Some((result.clone(), ppp_cause.clone())),
                    ),
                    ClearCause::TunnelDown => (DownCause::TunnelDown, None),
                    ClearCause::SetupTimeout => (DownCause::CallSetupTimeout, None),
                    ClearCause::LocalCdn(_) => (DownCause::CallClearedLocally, None),
                };
                if let Some(b) = c.b {
                    self.unbind(b);
                    if c.installed {
                        self.out
                            .push_back(SwitchOutput::Remove { a: *key, b: b.key });
                    }
                    let (rc, ppp) = relayed.unwrap_or_else(|| {
                        let row = why.row();
                        (
                            ResultCode::cdn(row.cdn, None, &why.to_string()),
                            Some(why.ppp_cause()),
                        )
                    });
                    ep.disconnect(now, b.key, rc, ppp);
                    self.maybe_idle(now, b.key.tunnel);
                }
                self.out.push_back(SwitchOutput::Down {
                    a: *key,
                    b: c.b.map(|b| b.key),
                    user: c.user,
                    relayed: c.relayed,
                    cause: why,
                    cdn: None,
                });
                true
            }
            Event::SessionInfo { key, message } if self.owns(*key) => {
                let other = match self.calls.get(key) {
                    Some(c) => c.b.filter(|_| c.b_up).map(|b| b.key),
                    None => Some(self.by_b[key]),
                };
                if let Some(o) = other
                    && ep.send_call_info(now, o, relay_info(message))
                {
                    self.stats.info_relayed += 1;
                }
                true
            }
            Event::TunnelDown { tunnel, .. } => {
                self.forget_tunnel(*tunnel);
                self.expect_name.remove(tunnel);
                self.dial_load.remove(tunnel);
                false
            }
            Event::TunnelUp {
                tunnel, host_name, ..
            } if self.expect_name.contains_key(tunnel) => {
                let want = self.expect_name.remove(tunnel).unwrap_or_default();
                if *host_name != want {
                    // Not the LNS RADIUS named: its calls move on (the
                    // tunnel's going down fails them, holding it down).
                    self.stats.wrong_server_name += 1;
                    tracing::warn!(
                        tunnel,
                        host_name = %String::from_utf8_lossy(host_name),
                        expected = %String::from_utf8_lossy(&want),
                        "target LNS's Host Name is not its Tunnel-Server-Auth-ID; closing"
                    );
                    let rc = ResultCode::stop_ccn(
                        StopCcnResult::NotAuthorized,
                        None,
                        "Host Name is not the Tunnel-Server-Auth-ID",
                    );
                    ep.close_tunnel(now, *tunnel, rc);
                }
                false
            }
            Event::OutgoingCallRequest {
                key,
                peer_session,
                peer_avps,
            } => {
                self.relay_ocrq(now, ep, *key, *peer_session, peer_avps);
                true
            }
            Event::SessionUp {
                key,
                peer_session,
                peer_avps,
                ..
            } if self.dial_by_a.contains_key(key) => {
                // The LAC placed the call (its OCCN): answer the LNS. A
                // LAC that requires sequencing (AVP 39, RFC 2661 §5.4)
                // gets it, and the LNS is asked for it too.
                let b = self.dial_by_a[key];
                self.deadlines.set(*key, None);
                let Some(t) = ep.tunnel(key.tunnel) else {
                    return true;
                };
                let sequencing = peer_avps
                    .iter()
                    .any(|a| matches!(a, Avp::SequencingRequired))
                    || self.cfg.policy.data_sequencing == crate::l2tp::DataSequencing::Always;
                let leg = Leg {
                    key: *key,
                    local: t.local,
                    peer: t.peer,
                    peer_ids: (t.peer_id, *peer_session),
                    sequencing,
                    ns: 0,
                };
                if let Some(d) = self.dials.get_mut(&b) {
                    d.a_leg = Some(leg);
                    d.b.sequencing = sequencing;
                }
                ep.answer_outgoing(now, b, sequencing);
                true
            }
            Event::SessionUp { key, .. }
                if self.dials.get(key).is_some_and(|d| d.a_leg.is_some()) =>
            {
                // Our OCCN to the LNS went: both legs are up, bound from
                // here on like any switched call.
                let d = self.dials.remove(key).expect("present");
                self.dial_by_a.remove(&d.a);
                let a = d.a_leg.expect("checked");
                let b = d.b;
                self.stats.dialouts += 1;
                self.stats.up += 1;
                self.calls.insert(
                    a.key,
                    Call {
                        a,
                        b: Some(b),
                        b_up: true,
                        user: d.called.clone(),
                        target: Some(TunnelTarget::new(d.target)),
                        targets: Vec::new(),
                        params: CallParams {
                            called_number: Some(d.called.clone()),
                            ..Default::default()
                        },
                        installed: true,
                        up_since: Some(now),
                        dialed: true,
                        relayed: Default::default(),
                    },
                );
                self.by_b.insert(b.key, a.key);
                self.out
                    .push_back(SwitchOutput::Install(SwitchedEntry { a, b }));
                self.out.push_back(SwitchOutput::Up {
                    a: a.key,
                    b: b.key,
                    user: d.called,
                    target: d.target,
                });
                true
            }
            Event::SessionDown { key, cause } if self.dial_by_a.contains_key(key) => {
                let b = self.dial_by_a.remove(key).expect("present");
                self.dial_done(now, key.tunnel);
                // As for targets of incoming calls: a LAC that failed
                // (no tunnel, no answer, CDN result 2 or 4) is held down
                // and the next one tried.
                let retry = match cause {
                    ClearCause::TunnelDown | ClearCause::SetupTimeout => true,
                    ClearCause::PeerCdn { result, .. } => {
                        result.result == CdnResult::GeneralError as u16
                            || result.result == CdnResult::TemporaryNoFacilities as u16
                    }
                    ClearCause::LocalCdn(_) => false,
                };
                if retry && let Some(lac) = self.dials.get(&b).map(|d| d.target) {
                    self.failed(now, b, lac, DownCause::TargetTunnelDown);
                    self.next_lac(now, ep, b);
                    return true;
                }
                // Refused for good: the LNS gets the LAC's CDN.
                self.dials.remove(&b);
                self.stats.dialouts_failed += 1;
                let (rc, ppp) = match cause {
                    ClearCause::PeerCdn { result, ppp_cause } => {
                        (result.clone(), ppp_cause.clone())
                    }
                    _ => (
                        ResultCode::cdn(
                            CdnResult::NoCarrier,
                            None,
                            "the LAC did not place the call",
                        ),
                        None,
                    ),
                };
                ep.disconnect(now, b, rc, ppp);
                true
            }
            Event::SessionDown { key, .. } if self.dials.contains_key(key) => {
                // The LNS gave up first: so do we.
                let d = self.dials.remove(key).expect("present");
                self.stats.dialouts_failed += 1;
                if self.dial_by_a.remove(&d.a).is_some() {
                    self.dial_done(now, d.a.tunnel);
                    let rc = ResultCode::cdn(
                        CdnResult::Administrative,
                        None,
                        "the LNS cleared the call",
                    );
                    ep.disconnect(now, d.a, rc, None);
                }
                true
            }
            _ => false,
        }
    }

    /// The policy of a tunnel we open to `t`: its secret and hiding over
    /// the configured policy. With a secret, the peer proves it too (RFC
    /// 2661 §5.1.1): a target that cannot is not the one meant.
    fn policy_for(&self, t: &TunnelTarget) -> PeerPolicy {
        let mut policy = self.cfg.policy.clone();
        policy.secret = t.secret.clone().or(policy.secret);
        policy.hide_avps |= t.hide_avps;
        // RFC 2868 §3.9: the name we give ourselves toward this LNS.
        if t.client_auth_id.is_some() {
            policy.host_name = t.client_auth_id.clone();
        }
        if policy.secret.is_some() {
            policy.auth = crate::l2tp::TunnelAuth::Required;
        }
        policy
    }

    /// The `[[dialout]]` LACs for a Called Number: the longest prefix.
    fn dialout_for(&self, called: &[u8]) -> Option<&[TunnelTarget]> {
        self.cfg
            .dialouts
            .iter()
            .filter(|(p, _)| called.starts_with(p))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, t)| t.as_slice())
    }

    /// An LNS asked us (OCRQ, RFC 2661 §7.5.1) to place a call: we ask the
    /// LAC that serves the number (§7.5.2, as an LNS would) and answer
    /// the LNS (OCCN) once the LAC's call connects.
    fn relay_ocrq(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        b: SessionKey,
        peer_session: u16,
        avps: &[Avp],
    ) {
        let called = avps
            .iter()
            .find_map(|a| match a {
                Avp::CalledNumber(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let targets: Vec<TunnelTarget> = self
            .dialout_for(&called)
            .map(|t| {
                tunnel::order(t, |_| 0, &self.hold, now)
                    .into_iter()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if targets.is_empty() {
            self.stats.dialouts_failed += 1;
            let rc = ResultCode::cdn(
                CdnResult::InvalidDestination,
                None,
                "no LAC serves this number",
            );
            ep.disconnect(now, b, rc, None);
            return;
        }
        let Some(tb) = ep.tunnel(b.tunnel) else {
            return;
        };
        let b_leg = Leg {
            key: b,
            local: tb.local,
            peer: tb.peer,
            peer_ids: (tb.peer_id, peer_session),
            sequencing: false,
            ns: 0,
        };
        let local = self.cfg.local.unwrap_or(tb.local);
        let find = |f: fn(&Avp) -> Option<u32>| avps.iter().find_map(f);
        let params = CallParams {
            called_number: Some(called.clone()),
            sub_address: avps.iter().find_map(|a| match a {
                Avp::SubAddress(v) => Some(v.clone()),
                _ => None,
            }),
            minimum_bps: find(|a| match a {
                Avp::MinimumBps(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0),
            connect_speed: find(|a| match a {
                Avp::MaximumBps(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(100_000_000),
            ..Default::default()
        };
        self.dials.insert(
            b,
            Dial {
                b: b_leg,
                a: b,
                a_leg: None,
                called,
                target: b_leg.peer,
                targets,
                params,
                local,
            },
        );
        self.next_lac(now, ep, b);
    }

    /// Sends a relayed OCRQ to the next LAC of its number; none left: the
    /// LNS gets a CDN.
    fn next_lac(&mut self, now: Instant, ep: &mut Endpoint, b: SessionKey) {
        loop {
            let Some(d) = self.dials.get_mut(&b) else {
                return;
            };
            if d.targets.is_empty() {
                self.dials.remove(&b);
                self.stats.dialouts_failed += 1;
                let rc = ResultCode::cdn(CdnResult::NoCarrier, None, "no LAC placed the call");
                ep.disconnect(now, b, rc, None);
                return;
            }
            let t = d.targets.remove(0);
            let (local, params) = (d.local, d.params.clone());
            if self.hold.is_held(t.endpoint, now) {
                continue;
            }
            let tunnel = match ep.usable_tunnel(t.endpoint) {
                Some(id) => Ok(id),
                None => ep.open_tunnel_with(now, local, t.endpoint, self.policy_for(&t)),
            };
            match tunnel.and_then(|id| ep.dial(now, id, params)) {
                Ok(a) => {
                    self.dial_by_a.insert(a, b);
                    self.deadlines.set(a, Some(now + self.cfg.target_timeout));
                    // The tunnel closes once idle, like those toward LNSs.
                    let v = self.tunnels.entry(t.key()).or_default();
                    if !v.contains(&a.tunnel) {
                        v.push(a.tunnel);
                    }
                    self.tunnel_of.insert(a.tunnel, t.key());
                    self.idle.remove(&a.tunnel);
                    *self.dial_load.entry(a.tunnel).or_insert(0) += 1;
                    if let Some(d) = self.dials.get_mut(&b) {
                        d.a = a;
                        d.target = t.endpoint;
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(lac = %t.endpoint, error = %e, "cannot relay an outgoing call");
                    self.failed(now, b, t.endpoint, DownCause::NoTarget);
                }
            }
        }
    }

    /// A data frame the control plane received for a switched call
    /// (`payload_offset`: where its PPP frame starts): the frame for the
    /// other leg, or `None` (not switched, counted). `take_ns` gives the
    /// data plane's Ns for the outgoing leg when it numbers it (keyed by
    /// the receiving leg, like its entries).
    pub fn relay(
        &mut self,
        key: SessionKey,
        from: SocketAddr,
        datagram: &[u8],
        payload_offset: usize,
    ) -> Option<Relay> {
        let a = if self.calls.contains_key(&key) {
            key
        } else {
            *self.by_b.get(&key)?
        };
        let c = self.calls.get_mut(&a)?;
        let from_a = key == c.a.key;
        let ppp = datagram.get(payload_offset..);
        let (inbound, out) = match (from_a, c.b.as_mut()) {
            (true, Some(b)) => (c.a, b),
            (false, Some(b)) => (*b, &mut c.a),
            (_, None) => {
                self.stats.relay_dropped += 1;
                return None;
            }
        };
        if !c.b_up || inbound.peer != from || ppp.is_none() {
            self.stats.relay_dropped += 1;
            return None;
        }
        let ppp = ppp?;
        let relay = Relay {
            inbound: inbound.key,
            wire: Wire {
                local: out.local,
                peer: out.peer,
                peer_ids: out.peer_ids,
            },
            sequenced: out.sequencing,
            ppp: ppp.to_vec(),
        };
        self.stats.relayed += 1;
        let u = &mut c.relayed[usize::from(!from_a)];
        u.packets += 1;
        u.octets += ppp.len() as u64;
        Some(relay)
    }

    /// The next Ns of the leg a frame received on `inbound` leaves on,
    /// for when the data plane does not number that call (not installed
    /// yet, or no data plane); 0 once the call is gone (its peer is
    /// clearing it anyway).
    pub fn relay_ns(&mut self, inbound: SessionKey) -> u16 {
        let a = if self.calls.contains_key(&inbound) {
            inbound
        } else {
            match self.by_b.get(&inbound) {
                Some(a) => *a,
                None => return 0,
            }
        };
        let Some(c) = self.calls.get_mut(&a) else {
            return 0;
        };
        let out = if inbound == c.a.key {
            match c.b.as_mut() {
                Some(b) => b,
                None => return 0,
            }
        } else {
            &mut c.a
        };
        let n = out.ns;
        out.ns = n.wrapping_add(1);
        n
    }
}

/// A frame lnsd switches itself (the data plane does not have the call,
/// or punted it): framed and numbered when the shell takes it, like the
/// engine's own PPP frames (see `Lns::poll_transmit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The leg it arrived on (whose data-plane slot numbers the other).
    pub inbound: SessionKey,
    /// The leg it leaves on.
    pub wire: Wire,
    /// Whether frames on that leg carry Ns.
    pub sequenced: bool,
    /// The PPP frame, as received.
    pub ppp: Vec<u8>,
}

impl Relay {
    /// The datagram, numbered `ns` when the leg is sequenced.
    pub fn into_transmit(self, ns: Option<u16>) -> Transmit {
        self.wire.rewrap(ns, &self.ppp)
    }
}

/// The SLI or WEN to send on the other leg: the same AVPs (RFC 2661
/// §6.13, §6.14 carry only ACCM or Call Errors besides the header).
fn relay_info(m: &ControlMessage) -> ControlMessage {
    ControlMessage {
        msg_type: m.msg_type,
        avps: m.avps.clone(),
    }
}

/// The proxy AVPs (RFC 2661 §4.4.5, 26–33) that tell a target LNS what
/// the gateway already ran with the subscriber: its LCP, and the
/// credentials it collected (PAP and CHAP; other methods are left to the
/// LNS, which then authenticates anew on the proxied LCP).
pub fn proxy_avps(
    lcp: &ProxyLcp,
    credentials: Option<&Credentials>,
    auth_id: Option<u8>,
) -> Vec<Avp> {
    let mut v = vec![
        Avp::InitialReceivedLcpConfReq(lcp.initial_received.clone()),
        Avp::LastSentLcpConfReq(lcp.last_sent.clone()),
        Avp::LastReceivedLcpConfReq(lcp.last_received.clone()),
    ];
    match credentials {
        Some(Credentials::Pap { user, password }) => {
            v.push(Avp::ProxyAuthenType(ProxyAuthType::Pap as u16));
            v.push(Avp::ProxyAuthenName(user.clone()));
            if let Some(id) = auth_id {
                v.push(Avp::ProxyAuthenId(id));
            }
            v.push(Avp::ProxyAuthenResponse(password.clone()));
        }
        Some(Credentials::ChapMd5 {
            user,
            identifier,
            challenge,
            response,
        }) => {
            v.push(Avp::ProxyAuthenType(ProxyAuthType::Chap as u16));
            v.push(Avp::ProxyAuthenName(user.clone()));
            v.push(Avp::ProxyAuthenChallenge(challenge.clone()));
            v.push(Avp::ProxyAuthenId(*identifier));
            v.push(Avp::ProxyAuthenResponse(response.to_vec()));
        }
        _ => {}
    }
    v
}

/// The proxy AVPs a LAC sent with its call, to pass on as they came.
pub fn proxy_avps_of(avps: &[Avp]) -> Vec<Avp> {
    avps.iter()
        .filter(|a| {
            matches!(
                a,
                Avp::InitialReceivedLcpConfReq(_)
                    | Avp::LastSentLcpConfReq(_)
                    | Avp::LastReceivedLcpConfReq(_)
                    | Avp::ProxyAuthenType(_)
                    | Avp::ProxyAuthenName(_)
                    | Avp::ProxyAuthenChallenge(_)
                    | Avp::ProxyAuthenId(_)
                    | Avp::ProxyAuthenResponse(_)
            )
        })
        .cloned()
        .collect()
}
