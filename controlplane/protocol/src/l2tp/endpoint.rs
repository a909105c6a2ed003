//! The L2TP control endpoint: every tunnel of one process, demultiplexed.
//!
//! Sans-IO, in the quinn-proto manner: the owner hands in datagrams with
//! [`Endpoint::handle`] and local requests ([`Endpoint::open_tunnel`],
//! [`Endpoint::place_call`], [`Endpoint::dial`], [`Endpoint::disconnect`],
//! [`Endpoint::close_tunnel`], [`Endpoint::shutdown`]); it takes out
//! datagrams with [`Endpoint::poll_transmit`], events with
//! [`Endpoint::poll_event`], and drives time with
//! [`Endpoint::poll_timeout`] / [`Endpoint::on_timeout`]. The same engine
//! serves the LNS (lnsd) and the LAC (the emulator, tests).
//!
//! Demultiplexing: a control datagram goes to the tunnel named by its
//! header's tunnel id, and only if it comes from that tunnel's peer. Tunnel
//! id 0 is accepted only for an SCCRQ, matched to an existing tunnel by
//! (peer address, peer's Assigned Tunnel ID) so that retransmitted SCCRQs
//! are acknowledged rather than opening a second tunnel. Anything else is
//! dropped under a named counter ([`Counter`]); nothing here panics on
//! input, and a peer cannot make the endpoint hold more than
//! `max_tunnels` tunnels or a tunnel hold more than its receive window of
//! early messages.
//!
//! Refusals that must not create state (tunnel limits, unknown peers,
//! shutdown) are answered by a one-off StopCCN that acknowledges the SCCRQ.

use super::avp::{Avp, PppDisconnectCause, ResultCode};
use super::config::{EndpointConfig, PeerPolicy};
use super::message::{
    ControlHeader, ControlMessage, ControlPacket, MessageType, PacketError, decode_packet,
};
use super::result::{ErrorCode, StopCcnResult};
use super::session::{CallKind, CallParams};
use super::stats::{Counter, Counters};
use super::tunnel::{Ctx, Event, Role, SessionKey, Tunnel, TunnelCause, TunnelState};
use crate::map::HashMap;
use lns_dataplane::wire::l2tp::{L2tpKind, L2tpPacket};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address to send from (the tunnel's).
    pub local: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// What [`Endpoint::handle`] made of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A control message (or ZLB), processed.
    Control,
    /// A data message (T=0): PPP for the session, not the endpoint's
    /// business. `payload_offset` is where the PPP frame starts.
    Data {
        /// Header tunnel id.
        tunnel: u16,
        /// Header session id.
        session: u16,
        /// Offset of the PPP frame in the datagram.
        payload_offset: usize,
    },
    /// Dropped and counted.
    Dropped(Counter),
}

/// Why a local request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Tunnel limit (total or per peer) reached.
    TunnelLimit,
    /// No peer rule matches the address.
    UnknownPeer,
    /// No such tunnel, or it is closing.
    NoTunnel,
    /// The tunnel's session limit is reached.
    SessionLimit,
    /// The endpoint is shutting down.
    ShuttingDown,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RequestError::TunnelLimit => "tunnel limit reached",
            RequestError::UnknownPeer => "no peer rule matches this address",
            RequestError::NoTunnel => "no such tunnel (or it is closing)",
            RequestError::SessionLimit => "session limit reached",
            RequestError::ShuttingDown => "shutting down",
        })
    }
}

impl std::error::Error for RequestError {}

/// All tunnels of one process.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    rng: StdRng,
    tunnels: HashMap<u16, Tunnel>,
    /// (peer address, peer's Assigned Tunnel ID) of tunnels the peer opened.
    by_peer: HashMap<(SocketAddr, u16), u16>,
    per_peer: HashMap<IpAddr, usize>,
    /// Tunnels we opened that still wait for SCCRP, by peer address, for
    /// the tie-breaker (§4.4.3).
    originating: HashMap<IpAddr, u16>,
    timers: BTreeSet<(Instant, u16)>,
    transmits: VecDeque<Transmit>,
    /// A tunnel's datagrams on their way to `transmits`, kept between
    /// steps so a step allocates no list for them.
    drained: Vec<Vec<u8>>,
    events: VecDeque<Event>,
    counters: Counters,
    next_serial: u32,
    shutting_down: bool,
    /// Which of our session ids to prefer ([`Endpoint::prefer_session_ids`]).
    prefer: Option<SessionIdPreference>,
}

/// Says whether our session id `session` on our tunnel `tunnel` is one
/// to hand out: `(tunnel, session) -> bool` ([`Endpoint::prefer_session_ids`]).
/// A yes is taken: the id is handed out (a preference may hold what it
/// said yes to for a while, so two calls being set up at once are not
/// given what it can give only one of).
pub struct SessionIdPreference(pub Box<dyn FnMut(u16, u16) -> bool + Send>);

impl std::fmt::Debug for SessionIdPreference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionIdPreference")
    }
}

/// Random session ids tried for one `prefer` likes before any free id
/// is taken: at a table nine-tenths full, all 64 miss one time in 850.
pub(crate) const PREFERENCE_TRIES: usize = 64;

impl Endpoint {
    /// An endpoint with a random generator seeded from the OS.
    pub fn new(cfg: EndpointConfig) -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::with_rng(cfg, StdRng::from_seed(seed)))
    }

    /// An endpoint with a given generator (deterministic tests use a seed).
    /// Tunnel ids, session ids, challenges and random vectors come from it.
    pub fn with_rng(cfg: EndpointConfig, rng: StdRng) -> Self {
        Endpoint {
            cfg,
            rng,
            tunnels: HashMap::default(),
            by_peer: HashMap::default(),
            per_peer: HashMap::default(),
            originating: HashMap::default(),
            timers: BTreeSet::new(),
            transmits: VecDeque::new(),
            drained: Vec::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            next_serial: 1,
            shutting_down: false,
            prefer: None,
        }
    }

    /// Makes our session ids (each call's Assigned Session ID, RFC 2661
    /// §4.4.4, the one every data message to us carries) ones `prefer`
    /// likes where one is found among [`PREFERENCE_TRIES`] random free
    /// ids; else any free id, as without it. lnsd's: the ids whose home
    /// slot in the data plane's table is free, so that the workers find
    /// the session from the ids alone.
    pub fn prefer_session_ids(&mut self, prefer: SessionIdPreference) {
        self.prefer = Some(prefer);
    }

    /// Replaces the settings (a configuration reload): peers, secrets,
    /// policies, limits and timers apply to tunnels opened from now on;
    /// tunnels up keep the policy they were admitted with.
    pub fn reconfigure(&mut self, cfg: EndpointConfig) {
        self.cfg = cfg;
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Tunnels held (any state, including closing).
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Sessions held across all tunnels.
    pub fn session_count(&self) -> usize {
        self.tunnels.values().map(Tunnel::session_count).sum()
    }

    /// One tunnel.
    pub fn tunnel(&self, id: u16) -> Option<&Tunnel> {
        self.tunnels.get(&id)
    }

    /// Every tunnel.
    pub fn tunnels(&self) -> impl Iterator<Item = &Tunnel> {
        self.tunnels.values()
    }

    /// True when nothing is held at all: no tunnel, no index entry, no
    /// timer. Tests use it to prove nothing leaks.
    pub fn is_empty(&self) -> bool {
        self.tunnels.is_empty()
            && self.by_peer.is_empty()
            && self.per_peer.is_empty()
            && self.originating.is_empty()
            && self.timers.is_empty()
    }

    /// After [`Endpoint::shutdown`]: every tunnel has had its StopCCN
    /// acknowledged (or given up), so the process may exit.
    pub fn is_drained(&self) -> bool {
        self.tunnels.values().all(Tunnel::is_quiet)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::on_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, id));
            let Some(tunnel) = self.tunnels.get_mut(&id) else {
                continue;
            };
            tunnel.scheduled = None;
            let mut ctx = Ctx {
                now,
                cfg: &self.cfg,
                rng: &mut self.rng,
                events: &mut self.events,
                counters: &mut self.counters,
                prefer: self.prefer.as_mut(),
            };
            tunnel.on_timeout(&mut ctx);
            self.after(id, now);
        }
    }

    /// Processes one datagram received on `local` from `from`.
    pub fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Received {
        self.counters.inc(Counter::RxDatagrams);
        let Ok(p) = L2tpPacket::new_checked(datagram) else {
            return self.drop(Counter::DropBadHeader);
        };
        if p.kind() == L2tpKind::Data {
            self.counters.inc(Counter::RxData);
            return Received::Data {
                tunnel: p.tunnel_id(),
                session: p.session_id(),
                payload_offset: p.header_len(),
            };
        }
        let tid = p.tunnel_id();
        let secret = if tid == 0 {
            self.cfg
                .policy_for(from.ip())
                .and_then(|pol| pol.secret.clone())
        } else {
            match self.tunnels.get(&tid) {
                Some(t) => t.policy.secret.clone(),
                None => return self.drop(Counter::DropUnknownTunnel),
            }
        };
        let (header, body) = match decode_packet(datagram, secret.as_deref()) {
            Ok(ControlPacket { header, message }) => (header, message.map(Ok)),
            Err(PacketError::Message { header, error }) => (header, Some(Err(error))),
            Err(PacketError::Header(_) | PacketError::NotControl) => {
                return self.drop(Counter::DropBadHeader);
            }
        };
        if tid == 0 {
            return self.handle_tunnel_zero(now, local, from, header, body);
        }
        let Some(tunnel) = self.tunnels.get_mut(&tid) else {
            return self.drop(Counter::DropUnknownTunnel);
        };
        if tunnel.peer.ip() != from.ip() {
            return self.drop(Counter::DropWrongPeer);
        }
        // §8.1: the peer may answer our SCCRQ from another port; we adopt
        // it only once that answer is accepted, so a stray datagram cannot
        // redirect the tunnel. After that the port is fixed.
        let moved = tunnel.peer.port() != from.port();
        if moved && tunnel.state != TunnelState::WaitCtlReply {
            return self.drop(Counter::DropWrongPeer);
        }
        self.with_tunnel(now, tid, |t, ctx| {
            t.receive(ctx, header, body);
            if moved && t.state != TunnelState::WaitCtlReply {
                t.peer = from;
            }
        });
        Received::Control
    }

    fn drop(&mut self, c: Counter) -> Received {
        self.counters.inc(c);
        Received::Dropped(c)
    }

    fn with_tunnel(&mut self, now: Instant, id: u16, f: impl FnOnce(&mut Tunnel, &mut Ctx<'_>)) {
        let Some(tunnel) = self.tunnels.get_mut(&id) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            cfg: &self.cfg,
            rng: &mut self.rng,
            events: &mut self.events,
            counters: &mut self.counters,
            prefer: self.prefer.as_mut(),
        };
        f(tunnel, &mut ctx);
        self.after(id, now);
    }

    /// Housekeeping after any tunnel step: drain its datagrams, maintain
    /// the indexes, free it or reschedule its timer.
    fn after(&mut self, id: u16, now: Instant) {
        let Some(t) = self.tunnels.get_mut(&id) else {
            return;
        };
        let mut out = std::mem::take(&mut self.drained);
        if !t.is_freed() {
            t.drain(now, &mut self.counters, &mut out);
        }
        let (local, peer) = (t.local, t.peer);
        self.transmits.extend(out.drain(..).map(|payload| Transmit {
            local,
            peer,
            payload,
        }));
        self.drained = out;
        if t.state != TunnelState::WaitCtlReply && self.originating.get(&peer.ip()) == Some(&id) {
            self.originating.remove(&peer.ip());
        }
        if let Some(old) = t.scheduled.take() {
            self.timers.remove(&(old, id));
        }
        if t.is_freed() {
            self.free(id);
            return;
        }
        if let Some(next) = t.poll_timeout() {
            t.scheduled = Some(next);
            self.timers.insert((next, id));
        }
    }

    fn free(&mut self, id: u16) {
        let Some(t) = self.tunnels.remove(&id) else {
            return;
        };
        if let Some(old) = t.scheduled {
            self.timers.remove(&(old, id));
        }
        self.by_peer.retain(|_, v| *v != id);
        if self.originating.get(&t.peer.ip()) == Some(&id) {
            self.originating.remove(&t.peer.ip());
        }
        if let Some(n) = self.per_peer.get_mut(&t.peer.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&t.peer.ip());
            }
        }
        tracing::debug!(tunnel = id, "tunnel state released");
    }

    fn alloc_tunnel_id(&mut self) -> Option<u16> {
        for _ in 0..32 {
            let id = (self.rng.next_u32() & 0xffff) as u16;
            if id != 0 && !self.tunnels.contains_key(&id) {
                return Some(id);
            }
        }
        let start = (self.rng.next_u32() & 0xffff) as u16;
        (0..=u16::MAX)
            .map(|i| start.wrapping_add(i))
            .find(|id| *id != 0 && !self.tunnels.contains_key(id))
    }

    fn check_limits(&self, ip: IpAddr) -> Result<(), RequestError> {
        if self.tunnels.len() >= self.cfg.max_tunnels.min(65_535) {
            return Err(RequestError::TunnelLimit);
        }
        if self.per_peer.get(&ip).copied().unwrap_or(0) >= self.cfg.max_tunnels_per_peer {
            return Err(RequestError::TunnelLimit);
        }
        Ok(())
    }

    fn insert_tunnel(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        role: Role,
        policy: PeerPolicy,
    ) -> Option<u16> {
        let id = self.alloc_tunnel_id()?;
        let mut ctx = Ctx {
            now,
            cfg: &self.cfg,
            rng: &mut self.rng,
            events: &mut self.events,
            counters: &mut self.counters,
            prefer: self.prefer.as_mut(),
        };
        let t = Tunnel::new(&mut ctx, id, local, peer, role, policy);
        self.tunnels.insert(id, t);
        *self.per_peer.entry(peer.ip()).or_insert(0) += 1;
        Some(id)
    }

    /// SCCRQs (and strays) addressed to tunnel id 0.
    fn handle_tunnel_zero(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        header: ControlHeader,
        body: Option<Result<ControlMessage, super::message::MessageError>>,
    ) -> Received {
        let (peer_tid, tie) = match &body {
            Some(Ok(m)) if m.msg_type == MessageType::Sccrq => (
                m.assigned_tunnel_id().unwrap_or(0),
                m.avps.iter().find_map(|a| match a {
                    Avp::TieBreaker(v) => Some(*v),
                    _ => None,
                }),
            ),
            Some(Err(e)) if e.msg_type == Some(MessageType::Sccrq) => {
                // A malformed SCCRQ: answer §4.1's StopCCN without state.
                self.counters.inc(Counter::RxMalformed);
                if let (Some(peer_tid), super::message::Response::StopCcn(rc)) =
                    (e.assigned_tunnel_id, e.response())
                {
                    self.stateless_stop(local, from, peer_tid, header, rc);
                }
                return Received::Dropped(Counter::RxMalformed);
            }
            // A peer that could not read our Assigned Tunnel ID (say, it
            // failed to unhide it) still names its own in the StopCCN.
            Some(Ok(m)) if m.msg_type == MessageType::StopCcn => {
                let id = m
                    .assigned_tunnel_id()
                    .and_then(|peer_tid| self.by_peer.get(&(from, peer_tid)).copied());
                let Some(id) = id else {
                    return self.drop(Counter::DropUnknownTunnel);
                };
                self.with_tunnel(now, id, |t, ctx| t.receive(ctx, header, body));
                return Received::Control;
            }
            _ => return self.drop(Counter::DropUnknownTunnel),
        };
        if peer_tid == 0 {
            return self.drop(Counter::RxMalformed);
        }
        // A retransmitted SCCRQ: the tunnel it opened acknowledges it.
        if let Some(&id) = self.by_peer.get(&(from, peer_tid)) {
            self.with_tunnel(now, id, |t, ctx| t.receive(ctx, header, body));
            return Received::Control;
        }
        // An SCCRQ opens the sequence space (§5.8: Ns starts at 0) and has
        // nothing of ours to acknowledge. Anything else would create a
        // tunnel its own transport refuses, so it creates nothing.
        if header.ns != 0 || header.nr != 0 {
            return self.drop(Counter::DropBogusNr);
        }
        if self.shutting_down {
            let rc = ResultCode::stop_ccn(StopCcnResult::ShuttingDown, None, "shutting down");
            self.counters.inc(Counter::TunnelRefused);
            self.stateless_stop(local, from, peer_tid, header, rc);
            return Received::Dropped(Counter::TunnelRefused);
        }
        let Some(policy) = self
            .cfg
            .policy_for(from.ip())
            .filter(|p| p.accept_tunnels)
            .cloned()
        else {
            let rc = ResultCode::stop_ccn(StopCcnResult::NotAuthorized, None, "peer not allowed");
            self.counters.inc(Counter::TunnelRefused);
            self.stateless_stop(local, from, peer_tid, header, rc);
            return Received::Dropped(Counter::TunnelRefused);
        };
        // §4.4.3 tie-breaker: do we have an SCCRQ out to this peer?
        if let Some(&ours) = self.originating.get(&from.ip()) {
            use std::cmp::Ordering::{Equal, Greater, Less};
            let our_tb = self.tunnels.get(&ours).and_then(|t| t.tie_breaker);
            // Who wins: the lower value; a side that sent one beats a side
            // that did not; without either, both tunnels are kept.
            let verdict = match (our_tb, tie) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                (Some(_), None) => Some(Less),
                (None, Some(_)) => Some(Greater),
                (None, None) => None,
            };
            if verdict.is_some() {
                self.counters.inc(Counter::TieBreaks);
            }
            match verdict {
                None => {}
                // We win: their SCCRQ is silently discarded.
                Some(Less) => return Received::Dropped(Counter::TieBreaks),
                Some(Equal) => {
                    // Equal values: both sides discard their tunnels.
                    self.with_tunnel(now, ours, |t, ctx| t.abandon(ctx, TunnelCause::TieBreaker));
                    return Received::Dropped(Counter::TieBreaks);
                }
                Some(Greater) => {
                    // We lose: our tunnel becomes the recipient of theirs,
                    // keeping the sessions that wait for it.
                    self.originating.remove(&from.ip());
                    self.with_tunnel(now, ours, |t, ctx| t.become_recipient(ctx));
                    if let Some(t) = self.tunnels.get_mut(&ours) {
                        t.peer = from;
                        t.local = local;
                    }
                    self.by_peer.insert((from, peer_tid), ours);
                    self.with_tunnel(now, ours, |t, ctx| t.receive(ctx, header, body));
                    return Received::Control;
                }
            }
        }
        if self.check_limits(from.ip()).is_err() {
            let rc = ResultCode::stop_ccn(
                StopCcnResult::GeneralError,
                Some(ErrorCode::InsufficientResources),
                "tunnel limit reached",
            );
            self.counters.inc(Counter::TunnelLimit);
            self.stateless_stop(local, from, peer_tid, header, rc);
            return Received::Dropped(Counter::TunnelLimit);
        }
        let Some(id) = self.insert_tunnel(now, local, from, Role::Recipient, policy) else {
            return self.drop(Counter::TunnelLimit);
        };
        self.by_peer.insert((from, peer_tid), id);
        self.with_tunnel(now, id, |t, ctx| t.receive(ctx, header, body));
        Received::Control
    }

    /// A StopCCN that acknowledges the peer's SCCRQ and keeps no state.
    fn stateless_stop(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        peer_tid: u16,
        sccrq: ControlHeader,
        rc: ResultCode,
    ) {
        tracing::info!(%peer, peer_tunnel = peer_tid, reason = %rc.message_text(), "refusing SCCRQ");
        let msg = ControlMessage::new(
            MessageType::StopCcn,
            vec![Avp::AssignedTunnelId(0), Avp::ResultCode(rc)],
        );
        let p = ControlPacket {
            header: ControlHeader {
                tunnel_id: peer_tid,
                session_id: 0,
                ns: 0,
                nr: sccrq.ns.wrapping_add(1),
            },
            message: Some(msg),
        };
        if let Ok(payload) = p.encode(None) {
            self.counters.inc(Counter::TxDatagrams);
            self.transmits.push_back(Transmit {
                local,
                peer,
                payload,
            });
        }
    }

    // ---- local requests ----

    /// A tunnel to `peer` that new calls may use (any but one closing),
    /// for roles that share one tunnel per peer.
    pub fn usable_tunnel(&self, peer: SocketAddr) -> Option<u16> {
        self.tunnels
            .values()
            .find(|t| t.peer == peer && t.state != TunnelState::Closing)
            .map(|t| t.local_id)
    }

    /// Whether tunnel `id` exists and is not closing.
    pub fn is_usable(&self, id: u16) -> bool {
        self.tunnels
            .get(&id)
            .is_some_and(|t| t.state != TunnelState::Closing)
    }

    /// Opens a control connection to `peer` (we are the originator).
    pub fn open_tunnel(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<u16, RequestError> {
        if self.shutting_down {
            return Err(RequestError::ShuttingDown);
        }
        if self.shutting_down {
            return Err(RequestError::ShuttingDown);
        }
        let policy = self
            .cfg
            .policy_for(peer.ip())
            .cloned()
            .ok_or(RequestError::UnknownPeer)?;
        self.open_tunnel_with(now, local, peer, policy)
    }

    /// [`Endpoint::open_tunnel`] with a policy of the caller's instead of
    /// the peer rules': the multi-hop gateway opens tunnels to target LNSs
    /// whose secret and hiding come from a realm rule or RADIUS (RFC 2868
    /// Tunnel-Password), not from the configured peers.
    pub fn open_tunnel_with(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        policy: PeerPolicy,
    ) -> Result<u16, RequestError> {
        if self.shutting_down {
            return Err(RequestError::ShuttingDown);
        }
        self.check_limits(peer.ip())?;
        let id = self
            .insert_tunnel(now, local, peer, Role::Originator, policy)
            .ok_or(RequestError::TunnelLimit)?;
        self.with_tunnel(now, id, |t, ctx| t.start(ctx));
        self.originating.entry(peer.ip()).or_insert(id);
        Ok(id)
    }

    /// Sends a WAN-Error-Notify or Set-Link-Info (RFC 2661 §6.13, §6.14)
    /// on an established call: the gateway relays them from one leg to
    /// the other. False if the call is not established or the message is
    /// neither.
    pub fn send_call_info(
        &mut self,
        now: Instant,
        key: SessionKey,
        message: ControlMessage,
    ) -> bool {
        if !matches!(message.msg_type, MessageType::Sli | MessageType::Wen) {
            return false;
        }
        let mut sent = false;
        self.with_tunnel(now, key.tunnel, |t, ctx| {
            sent = t.send_call_info(ctx, key.session, message)
        });
        sent
    }

    fn originate(
        &mut self,
        now: Instant,
        tunnel: u16,
        kind: CallKind,
        params: CallParams,
    ) -> Result<SessionKey, RequestError> {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let t = self.tunnels.get(&tunnel).ok_or(RequestError::NoTunnel)?;
        if t.state == TunnelState::Closing {
            return Err(RequestError::NoTunnel);
        }
        let mut id = None;
        self.with_tunnel(now, tunnel, |t, ctx| {
            id = t.originate_call(ctx, kind, serial, params)
        });
        id.map(|session| SessionKey { tunnel, session })
            .ok_or(RequestError::SessionLimit)
    }

    /// LAC role: offers an incoming call (ICRQ, §7.4.1). The session waits
    /// for the tunnel if it is not yet established.
    pub fn place_call(
        &mut self,
        now: Instant,
        tunnel: u16,
        params: CallParams,
    ) -> Result<SessionKey, RequestError> {
        self.originate(now, tunnel, CallKind::LacIncoming, params)
    }

    /// LNS role: asks the LAC to place an outgoing call (OCRQ, §7.5.2).
    pub fn dial(
        &mut self,
        now: Instant,
        tunnel: u16,
        params: CallParams,
    ) -> Result<SessionKey, RequestError> {
        self.originate(now, tunnel, CallKind::LnsOutgoing, params)
    }

    /// The call an OCRQ asked for is connected (§7.5.1 wait-cs-answer /
    /// bearer answer: OCCN, with Sequencing Required when `sequencing`,
    /// §5.4). False if there is no such call waiting.
    pub fn answer_outgoing(&mut self, now: Instant, key: SessionKey, sequencing: bool) -> bool {
        let waiting = self.tunnels.get(&key.tunnel).is_some_and(|t| {
            t.session(key.session)
                .is_some_and(|s| s.state == super::session::SessionState::WaitCsAnswer)
        });
        if waiting {
            self.with_tunnel(now, key.tunnel, |t, ctx| {
                t.bearer_answer(ctx, key.session, sequencing)
            });
        }
        waiting
    }

    /// Clears one call with a CDN carrying `result` (and the RFC 3145
    /// cause when known). False if there is no such session.
    pub fn disconnect(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: ResultCode,
        cause: Option<PppDisconnectCause>,
    ) -> bool {
        let mut found = false;
        self.with_tunnel(now, key.tunnel, |t, ctx| {
            found = t.close_session(ctx, key.session, result, cause)
        });
        found
    }

    /// Clears a tunnel with StopCCN. False if there is no such tunnel.
    pub fn close_tunnel(&mut self, now: Instant, tunnel: u16, result: ResultCode) -> bool {
        if !self.tunnels.contains_key(&tunnel) {
            return false;
        }
        self.with_tunnel(now, tunnel, |t, ctx| t.stop(ctx, result));
        true
    }

    /// Refuses new tunnels and sends StopCCN (result 6, "shutting down")
    /// on every tunnel. Wait for [`Endpoint::is_drained`] before exiting.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let mut ids: Vec<u16> = self.tunnels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let rc = ResultCode::stop_ccn(StopCcnResult::ShuttingDown, None, "LNS shutting down");
            self.with_tunnel(now, id, |t, ctx| t.stop(ctx, rc));
        }
    }
}
