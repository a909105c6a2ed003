//! The control connection state machine (RFC 2661 §7.2), originator and
//! recipient, and the sessions it carries.
//!
//! A [`Tunnel`] owns its reliable transport and its sessions. The endpoint
//! creates it (after policy and limit checks), feeds it datagrams already
//! decoded and matched to it, fires its timers and drains what it queues.
//! Everything it decides is pushed into a [`Ctx`]: events for the owner,
//! counters. It never reads a clock or touches a socket.
//!
//! Guarantees: every session is reported down exactly once (CDN either
//! way, setup timeout, or the tunnel going down); a tunnel that sent or
//! received StopCCN keeps acknowledging for a full retransmission cycle
//! (§5.7) and is then freed; a tunnel whose transport gives up is freed at
//! once with every session cleared (§5.8).

use super::auth;
use super::avp::{Avp, ResultCode};
use super::config::{EndpointConfig, PeerPolicy, TunnelAuth};
use super::message::{
    AvpSet, ControlHeader, ControlMessage, ControlPacket, Hiding, MessageError, MessageType,
    Response,
};
use super::result::{CdnResult, ErrorCode, StopCcnResult};
use super::session::{
    self, Action, CallKind, CallParams, ClearCause, Input, Session, SessionState,
};
use super::stats::{Counter, Counters};
use super::transport::{RxDrop, RxKind, TimeoutOutcome, Transport, TxKind};
use crate::map::HashMap;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// Who opened the control connection (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the SCCRQ.
    Originator,
    /// The peer sent the SCCRQ.
    Recipient,
}

/// Control connection states (§7.2.1), with the RFC's names, plus
/// `closing` for the retransmission cycle after a StopCCN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    /// Recipient before the SCCRQ is processed.
    Idle,
    /// SCCRQ sent, waiting for SCCRP.
    WaitCtlReply,
    /// SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    /// Up.
    Established,
    /// StopCCN sent or received: acknowledging until the hold ends.
    Closing,
}

impl TunnelState {
    /// Every state.
    pub const ALL: [TunnelState; 5] = [
        TunnelState::Idle,
        TunnelState::WaitCtlReply,
        TunnelState::WaitCtlConn,
        TunnelState::Established,
        TunnelState::Closing,
    ];

    /// The RFC's name.
    pub fn name(self) -> &'static str {
        match self {
            TunnelState::Idle => "idle",
            TunnelState::WaitCtlReply => "wait-ctl-reply",
            TunnelState::WaitCtlConn => "wait-ctl-conn",
            TunnelState::Established => "established",
            TunnelState::Closing => "closing",
        }
    }
}

/// Why a tunnel went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelCause {
    /// The peer sent StopCCN.
    PeerStopCcn(ResultCode),
    /// We sent StopCCN (admin close, shutdown, or a protocol error).
    LocalStopCcn(ResultCode),
    /// Retransmissions ran out (§5.8).
    Timeout,
    /// A tie-breaker collision (§4.4.3) discarded our SCCRQ.
    TieBreaker,
}

impl TunnelCause {
    /// Short description for logs.
    pub fn describe(&self) -> String {
        match self {
            TunnelCause::PeerStopCcn(r) => format!("peer StopCCN {}", r.describe()),
            TunnelCause::LocalStopCcn(r) => format!("local StopCCN {}", r.describe()),
            TunnelCause::Timeout => "peer stopped acknowledging".into(),
            TunnelCause::TieBreaker => "lost tie-breaker".into(),
        }
    }
}

/// Messages queued on one tunnel beyond which refusals are not queued.
const MAX_BACKLOG: usize = 4096;

/// A session's address: our tunnel id and our session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// Local tunnel id.
    pub tunnel: u16,
    /// Local session id.
    pub session: u16,
}

/// What the endpoint reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A control connection reached established.
    TunnelUp {
        /// Local tunnel id.
        tunnel: u16,
        /// The peer's tunnel id.
        peer_tunnel: u16,
        /// The peer's address.
        peer: SocketAddr,
        /// The peer's Host Name.
        host_name: Vec<u8>,
        /// Who opened it.
        role: Role,
    },
    /// A control connection went down (its sessions were reported first).
    TunnelDown {
        /// Local tunnel id.
        tunnel: u16,
        /// Why.
        cause: TunnelCause,
    },
    /// A call reached established.
    SessionUp {
        /// Where.
        key: SessionKey,
        /// The peer's session id.
        peer_session: u16,
        /// Which state machine.
        kind: CallKind,
        /// What the peer said about the call (ICRQ+ICCN, OCRQ, OCRP+OCCN).
        peer_avps: Vec<Avp>,
    },
    /// A call ended (or never came up).
    SessionDown {
        /// Where.
        key: SessionKey,
        /// Why.
        cause: ClearCause,
    },
    /// An OCRQ was accepted (OCRP sent) and waits for
    /// [`super::Endpoint::answer_outgoing`] (only with
    /// `defer_outgoing_answer`).
    OutgoingCallRequest {
        /// Where.
        key: SessionKey,
        /// The peer's session id.
        peer_session: u16,
        /// The OCRQ's AVPs (Called Number, speeds, ...).
        peer_avps: Vec<Avp>,
    },
    /// A WEN or SLI for an established call.
    SessionInfo {
        /// Where.
        key: SessionKey,
        /// The message.
        message: ControlMessage,
    },
}

/// What a tunnel step may touch besides the tunnel.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub rng: &'a mut StdRng,
    pub events: &'a mut VecDeque<Event>,
    pub counters: &'a mut Counters,
    /// Which session ids to hand out first (see
    /// `Endpoint::prefer_session_ids`).
    pub prefer: Option<&'a mut super::endpoint::SessionIdPreference>,
}

/// What the peer told us about itself in SCCRQ/SCCRP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Host Name.
    pub host_name: Vec<u8>,
    /// Vendor Name.
    pub vendor_name: Vec<u8>,
    /// Firmware Revision.
    pub firmware_revision: Option<u16>,
    /// Framing Capabilities.
    pub framing_capabilities: u32,
    /// Bearer Capabilities.
    pub bearer_capabilities: u32,
    /// Receive Window Size.
    pub receive_window: Option<u16>,
}

/// A received message as the transport holds it until delivery: the
/// header's session id and the decoded body (or why it did not decode).
pub(crate) type Inbound = (u16, Result<ControlMessage, MessageError>);

/// One control connection.
#[derive(Debug)]
pub struct Tunnel {
    /// Our tunnel id (never 0).
    pub local_id: u16,
    /// The peer's tunnel id (0 until its SCCRQ/SCCRP).
    pub peer_id: u16,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Who opened it.
    pub role: Role,
    /// Where it is.
    pub state: TunnelState,
    /// What the peer said about itself.
    pub peer_info: PeerInfo,
    pub(crate) policy: PeerPolicy,
    pub(crate) transport: Transport<Inbound>,
    pub(crate) tie_breaker: Option<u64>,
    challenge: Option<[u8; 16]>,
    /// Boxed, so the map's spare buckets are pointers, not sessions
    /// (issue 18: memory per session).
    sessions: HashMap<u16, Box<Session>>,
    setup_deadlines: BTreeSet<(Instant, u16)>,
    setup_deadline_of: HashMap<u16, Instant>,
    hello_at: Option<Instant>,
    /// Until established: give up setting up by then.
    setup_until: Option<Instant>,
    hold_until: Option<Instant>,
    /// It reached established once (its StopCCN is not a setup message).
    was_established: bool,
    freed: bool,
    pub(crate) scheduled: Option<Instant>,
}

impl Tunnel {
    pub(crate) fn new(
        ctx: &mut Ctx<'_>,
        local_id: u16,
        local: SocketAddr,
        peer: SocketAddr,
        role: Role,
        policy: PeerPolicy,
    ) -> Self {
        Tunnel {
            local_id,
            peer_id: 0,
            local,
            peer,
            role,
            state: match role {
                Role::Originator => TunnelState::WaitCtlReply,
                Role::Recipient => TunnelState::Idle,
            },
            peer_info: PeerInfo::default(),
            policy,
            transport: Transport::new(ctx.cfg.transport),
            tie_breaker: None,
            challenge: None,
            sessions: HashMap::default(),
            setup_deadlines: BTreeSet::new(),
            setup_deadline_of: HashMap::default(),
            hello_at: None,
            // A peer that acknowledges but never completes the three-way
            // exchange must not hold the tunnel forever.
            setup_until: Some(ctx.now + ctx.cfg.transport.full_cycle()),
            hold_until: None,
            was_established: false,
            freed: false,
            scheduled: None,
        }
    }

    /// Sessions in this tunnel.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// One session.
    pub fn session(&self, id: u16) -> Option<&Session> {
        self.sessions.get(&id).map(|s| &**s)
    }

    /// Every session.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values().map(|s| &**s)
    }

    /// The tunnel's state is released; the endpoint forgets it.
    pub(crate) fn is_freed(&self) -> bool {
        self.freed
    }

    /// Control messages queued so far, and how many of them have left
    /// the queue: those still queued wait for the send window (§5.8), and
    /// a data message sent meanwhile would overtake them.
    pub fn control_progress(&self) -> (u64, u64) {
        (
            self.transport.queued_total(),
            self.transport.released_total(),
        )
    }

    /// StopCCN exchanged and acknowledged (or nothing left to say).
    pub fn is_quiet(&self) -> bool {
        self.state == TunnelState::Closing && self.transport.is_idle()
    }

    // ---- sending ----

    fn queue(&mut self, ctx: &mut Ctx<'_>, session_id: u16, msg: ControlMessage) {
        // A StopCCN ending a tunnel that never came up goes as the setup
        // messages do: its peer may not share our secret (that may be why
        // it ends), and a refusal it cannot read leaves it retransmitting
        // until it gives up.
        let setup = matches!(msg.msg_type, MessageType::Sccrq | MessageType::Sccrp)
            || (msg.msg_type == MessageType::StopCcn && !self.was_established);
        let header = ControlHeader {
            tunnel_id: self.peer_id,
            session_id,
            ns: 0,
            nr: 0,
        };
        let packet = ControlPacket {
            header,
            message: Some(msg),
        };
        // RFC 2661 §4.3 leaves hiding to the sender ("the H-bit may be 0
        // or 1" for every hideable AVP), so the tunnel-setup messages may go
        // in the clear. xl2tpd (1.3.18, control.c) takes the secret it
        // unhides with from its tunnel-authentication step, which runs only
        // after it has parsed every AVP of the SCCRQ or SCCRP: hidden there,
        // they do not unhide and it refuses the tunnel ("Invalid Hidden
        // AVP"). Once that step has run, it unhides the rest correctly.
        let hide = self.policy.hide_avps && (!setup || self.policy.hide_avps_in_tunnel_setup);
        let mut rv = [0u8; 16];
        let hiding = match (&self.policy.secret, hide) {
            (Some(secret), true) => {
                ctx.rng.fill_bytes(&mut rv);
                Some((secret.clone(), AvpSet::all_hideable()))
            }
            _ => None,
        };
        let encoded = match &hiding {
            Some((secret, hide)) => packet.encode(Some(&Hiding {
                secret,
                random_vector: &rv,
                padding: &[],
                hide: *hide,
            })),
            None => packet.encode(None),
        };
        match encoded {
            Ok(d) => self.transport.send(d),
            Err(e) => {
                ctx.counters.inc(Counter::EncodeFailed);
                tracing::error!(tunnel = self.local_id, error = %e, "cannot encode control message");
            }
        }
    }

    /// Drains datagrams ready to go out, counting them.
    pub(crate) fn drain(&mut self, now: Instant, counters: &mut Counters, out: &mut Vec<Vec<u8>>) {
        while let Some((d, kind)) = self.transport.poll_transmit(now) {
            counters.inc(Counter::TxDatagrams);
            match kind {
                TxKind::Retransmit => counters.inc(Counter::TxRetransmits),
                TxKind::Zlb => counters.inc(Counter::TxZlb),
                TxKind::New => {}
            }
            out.push(d);
        }
    }

    fn common_avps(&self, ctx: &Ctx<'_>) -> Vec<Avp> {
        vec![
            Avp::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            Avp::HostName(
                self.policy
                    .host_name
                    .clone()
                    .unwrap_or_else(|| ctx.cfg.host_name.clone()),
            ),
            Avp::FramingCapabilities(super::avp::framing::SYNC | super::avp::framing::ASYNC),
            Avp::BearerCapabilities(super::avp::bearer::DIGITAL | super::avp::bearer::ANALOG),
            Avp::AssignedTunnelId(self.local_id),
            Avp::ReceiveWindowSize(ctx.cfg.transport.receive_window),
            Avp::FirmwareRevision(ctx.cfg.firmware_revision),
            Avp::VendorName(ctx.cfg.vendor_name.clone()),
        ]
    }

    fn new_challenge(&mut self, ctx: &mut Ctx<'_>) -> Option<Avp> {
        if self.policy.auth != TunnelAuth::Required {
            return None;
        }
        let mut c = [0u8; 16];
        ctx.rng.fill_bytes(&mut c);
        self.challenge = Some(c);
        Some(Avp::Challenge(c.to_vec()))
    }

    /// Originator: queue the SCCRQ (§6.1).
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) {
        let mut avps = self.common_avps(ctx);
        if let Some(c) = self.new_challenge(ctx) {
            avps.push(c);
        }
        if ctx.cfg.tie_breaker {
            let tb = ctx.rng.next_u64();
            self.tie_breaker = Some(tb);
            avps.push(Avp::TieBreaker(tb));
        }
        self.queue(ctx, 0, ControlMessage::new(MessageType::Sccrq, avps));
    }

    /// Queues StopCCN (§6.4), clears every session and enters closing.
    pub(crate) fn stop(&mut self, ctx: &mut Ctx<'_>, result: ResultCode) {
        if self.state == TunnelState::Closing {
            return;
        }
        self.clear_sessions(ctx, ClearCause::TunnelDown);
        self.state = TunnelState::Closing;
        self.hello_at = None;
        self.setup_until = None;
        // Unsent messages belong to sessions that are gone; StopCCN goes
        // next (§5.7: it clears the whole tunnel).
        self.transport.discard_unsent();
        if self.peer_id == 0 {
            // Nobody to tell (our SCCRQ was never answered).
            self.freed = true;
        } else {
            let msg = ControlMessage::new(
                MessageType::StopCcn,
                vec![
                    Avp::AssignedTunnelId(self.local_id),
                    Avp::ResultCode(result.clone()),
                ],
            );
            self.queue(ctx, 0, msg);
            self.hold_until = Some(ctx.now + ctx.cfg.transport.full_cycle());
        }
        ctx.counters.inc(Counter::TunnelsDown);
        ctx.events.push_back(Event::TunnelDown {
            tunnel: self.local_id,
            cause: TunnelCause::LocalStopCcn(result),
        });
    }

    fn stop_with(&mut self, ctx: &mut Ctx<'_>, r: StopCcnResult, e: Option<ErrorCode>, text: &str) {
        tracing::info!(
            tunnel = self.local_id,
            state = self.state.name(),
            reason = text,
            "sending StopCCN"
        );
        self.stop(ctx, ResultCode::stop_ccn(r, e, text));
    }

    /// Drops the tunnel without a StopCCN (tie-breaker loss, transport
    /// failure).
    pub(crate) fn abandon(&mut self, ctx: &mut Ctx<'_>, cause: TunnelCause) {
        if self.state != TunnelState::Closing {
            self.clear_sessions(ctx, ClearCause::TunnelDown);
            ctx.counters.inc(Counter::TunnelsDown);
            ctx.events.push_back(Event::TunnelDown {
                tunnel: self.local_id,
                cause,
            });
        }
        self.state = TunnelState::Closing;
        self.freed = true;
    }

    fn clear_sessions(&mut self, ctx: &mut Ctx<'_>, cause: ClearCause) {
        let mut ids: Vec<u16> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.remove_session(ctx, id, cause.clone());
        }
    }

    fn remove_session(&mut self, ctx: &mut Ctx<'_>, id: u16, cause: ClearCause) {
        if self.sessions.remove(&id).is_none() {
            return;
        }
        if let Some(t) = self.setup_deadline_of.remove(&id) {
            self.setup_deadlines.remove(&(t, id));
        }
        ctx.counters.inc(Counter::SessionsDown);
        ctx.events.push_back(Event::SessionDown {
            key: SessionKey {
                tunnel: self.local_id,
                session: id,
            },
            cause,
        });
    }

    // ---- receiving ----

    /// Accounts for one datagram addressed to this tunnel.
    pub(crate) fn receive(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: ControlHeader,
        body: Option<Result<ControlMessage, MessageError>>,
    ) {
        // Almost always the one message just received: held inline.
        let mut delivered: smallvec::SmallVec<[_; 1]> = smallvec::SmallVec::new();
        let item = body.map(|b| (header.session_id, b));
        match self
            .transport
            .on_receive(ctx.now, header.ns, header.nr, item, &mut delivered)
        {
            Err(RxDrop::BogusNr) => {
                ctx.counters.inc(Counter::DropBogusNr);
                return;
            }
            Err(RxDrop::OutOfWindow) => {
                ctx.counters.inc(Counter::DropOutOfWindow);
                return;
            }
            Ok(RxKind::Zlb) => ctx.counters.inc(Counter::RxZlb),
            Ok(RxKind::Duplicate) => ctx.counters.inc(Counter::RxDuplicate),
            Ok(RxKind::Held) => ctx.counters.inc(Counter::RxHeldOutOfOrder),
            Ok(RxKind::AlreadyHeld) => ctx.counters.inc(Counter::RxDuplicate),
            Ok(RxKind::Delivered) => {}
        }
        if self.state == TunnelState::Established {
            self.arm_hello(ctx);
        }
        for (sid, body) in delivered {
            ctx.counters.inc(Counter::RxMessages);
            if self.state == TunnelState::Closing {
                if !matches!(&body, Ok(m) if m.msg_type == MessageType::StopCcn) {
                    ctx.counters.inc(Counter::RxWhileClosing);
                }
                continue;
            }
            match body {
                Ok(m) => self.dispatch(ctx, sid, m),
                Err(e) => self.malformed(ctx, sid, e),
            }
        }
    }

    fn malformed(&mut self, ctx: &mut Ctx<'_>, sid: u16, e: MessageError) {
        ctx.counters.inc(Counter::RxMalformed);
        tracing::info!(tunnel = self.local_id, session = sid, error = %e, "malformed control message");
        // RFC 2661 §4.3: hidden AVPs decode with the shared secret. In
        // tunnel setup (SCCRP, SCCCN) one that does not decode means the
        // secrets differ: refused like a wrong Challenge Response
        // (§5.1.1), result 4, so the peer and our owner can tell a wrong
        // secret from a broken message.
        let setup = matches!(
            self.state,
            TunnelState::WaitCtlReply | TunnelState::WaitCtlConn
        );
        if setup
            && matches!(
                e.kind,
                super::message::MessageErrorKind::HiddenUndecodable(_)
            )
        {
            return self.stop_with(
                ctx,
                StopCcnResult::NotAuthorized,
                None,
                "hidden AVPs do not decode with our secret",
            );
        }
        match e.response() {
            Response::Ignore => ctx.counters.inc(Counter::RxIgnoredMessage),
            Response::StopCcn(rc) => self.stop(ctx, rc),
            Response::Cdn(rc) => {
                if sid != 0 && self.sessions.contains_key(&sid) {
                    self.step_session(ctx, sid, Input::LocalClose(rc, None));
                } else if let Some(peer_sid) = e.assigned_session_id {
                    // A call request we cannot parse: refuse it (§4.1).
                    self.refuse_call(ctx, peer_sid, rc);
                }
            }
        }
    }

    fn refuse_call(&mut self, ctx: &mut Ctx<'_>, peer_sid: u16, rc: ResultCode) {
        ctx.counters.inc(Counter::SessionRefused);
        // A peer that floods call requests while acknowledging slowly must
        // not grow our queue without bound: past the cap refusals are only
        // counted (the peer's own timers clear those calls).
        if self.transport.backlog() >= MAX_BACKLOG {
            ctx.counters.inc(Counter::DropBacklogFull);
            return;
        }
        let cdn = ControlMessage::new(
            MessageType::Cdn,
            vec![Avp::ResultCode(rc), Avp::AssignedSessionId(0)],
        );
        self.queue(ctx, peer_sid, cdn);
    }

    fn dispatch(&mut self, ctx: &mut Ctx<'_>, sid: u16, m: ControlMessage) {
        use MessageType as M;
        use TunnelState as S;
        match (self.state, m.msg_type) {
            // §7.2.1 "Receive StopCCN -> Clean up" in every state; the
            // transport acknowledges, and we keep state for a full cycle
            // (§5.7) to acknowledge retransmissions.
            (_, M::StopCcn) => {
                let rc = m
                    .result_code()
                    .cloned()
                    .unwrap_or_else(|| ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, ""));
                self.clear_sessions(ctx, ClearCause::TunnelDown);
                self.state = S::Closing;
                self.hello_at = None;
                self.setup_until = None;
                // Refused before its SCCRP reached us: address our ack to
                // the id the StopCCN names, or the peer never sees it.
                if self.peer_id == 0
                    && let Some(id) = m.assigned_tunnel_id().filter(|&id| id != 0)
                {
                    self.peer_id = id;
                    self.transport.set_peer_tunnel_id(id);
                }
                self.transport.discard_unsent();
                self.transport.ack_now();
                self.hold_until = Some(ctx.now + ctx.cfg.transport.full_cycle());
                ctx.counters.inc(Counter::TunnelsDown);
                ctx.events.push_back(Event::TunnelDown {
                    tunnel: self.local_id,
                    cause: TunnelCause::PeerStopCcn(rc),
                });
            }
            // HELLO is for the transport only (§6.5).
            (_, M::Hello) => {}
            (S::Idle, M::Sccrq) => self.on_sccrq(ctx, &m),
            (S::WaitCtlReply, M::Sccrp) => self.on_sccrp(ctx, &m),
            (S::WaitCtlConn, M::Scccn) => self.on_scccn(ctx, &m),
            // §7.2.1: every other tunnel message in any state is an
            // improper sequence -> Send StopCCN, Clean up.
            (_, M::Sccrq | M::Sccrp | M::Scccn) => {
                ctx.counters.inc(Counter::RxUnexpected);
                let text = format!("{} unexpected in {}", m.msg_type.name(), self.state.name());
                self.stop_with(ctx, StopCcnResult::FsmError, None, &text);
            }
            (S::Established, t) if session::is_session_message(t) => {
                self.session_message(ctx, sid, m)
            }
            (_, t) => {
                ctx.counters.inc(Counter::RxUnexpected);
                let text = format!("{} before the tunnel is established", t.name());
                self.stop_with(ctx, StopCcnResult::FsmError, None, &text);
            }
        }
    }

    fn learn_peer(&mut self, m: &ControlMessage) {
        for a in &m.avps {
            match a {
                Avp::HostName(v) => self.peer_info.host_name = v.clone(),
                Avp::VendorName(v) => self.peer_info.vendor_name = v.clone(),
                Avp::FirmwareRevision(v) => self.peer_info.firmware_revision = Some(*v),
                Avp::FramingCapabilities(v) => self.peer_info.framing_capabilities = *v,
                Avp::BearerCapabilities(v) => self.peer_info.bearer_capabilities = *v,
                Avp::ReceiveWindowSize(v) => {
                    self.peer_info.receive_window = Some(*v);
                    self.transport.set_peer_window(*v);
                }
                Avp::AssignedTunnelId(v) => {
                    self.peer_id = *v;
                    self.transport.set_peer_tunnel_id(*v);
                }
                _ => {}
            }
        }
    }

    /// Checks the version, the Assigned Tunnel ID and the challenge
    /// response a peer sent; returns the StopCCN reason when unacceptable.
    fn vet(
        &self,
        m: &ControlMessage,
        carrier: MessageType,
    ) -> Result<(), (StopCcnResult, &'static str)> {
        match m.get(super::avp::AvpType::ProtocolVersion) {
            Some(Avp::ProtocolVersion {
                version: 1,
                revision: 0,
            }) => {}
            // §4.4.3: version 1 revision 0 is the only one we speak.
            _ => {
                return Err((
                    StopCcnResult::UnsupportedVersion,
                    "protocol version is not 1.0",
                ));
            }
        }
        if m.assigned_tunnel_id().unwrap_or(0) == 0 {
            return Err((StopCcnResult::GeneralError, "Assigned Tunnel ID 0"));
        }
        if !self.response_ok(m, carrier) {
            return Err((
                StopCcnResult::NotAuthorized,
                "challenge response missing or wrong",
            ));
        }
        Ok(())
    }

    /// §5.1.1: when we challenged, `m` must carry the right response for
    /// `carrier` (the id the peer hashed in).
    fn response_ok(&self, m: &ControlMessage, carrier: MessageType) -> bool {
        let Some(ch) = self.challenge else {
            return true;
        };
        match (
            m.get(super::avp::AvpType::ChallengeResponse),
            &self.policy.secret,
        ) {
            (Some(Avp::ChallengeResponse(r)), Some(secret)) => {
                auth::verify_response(carrier, secret, &ch, r)
            }
            _ => false,
        }
    }

    /// Adds the Challenge Response we owe for the peer's Challenge to
    /// `avps`; false (after refusing the tunnel) when we have no secret.
    fn answer_challenge(
        &mut self,
        ctx: &mut Ctx<'_>,
        m: &ControlMessage,
        carrier: MessageType,
        avps: &mut Vec<Avp>,
    ) -> bool {
        match self.respond(m, carrier) {
            Ok(r) => {
                avps.extend(r);
                true
            }
            Err(()) => {
                ctx.counters.inc(Counter::AuthFailed);
                self.stop_with(
                    ctx,
                    StopCcnResult::NotAuthorized,
                    None,
                    "challenged but no secret configured",
                );
                false
            }
        }
    }

    /// The Challenge Response we owe for the peer's Challenge, if any
    /// (§5.1.1); `Err` when we have no secret to answer with.
    fn respond(&self, m: &ControlMessage, carrier: MessageType) -> Result<Option<Avp>, ()> {
        match m.get(super::avp::AvpType::Challenge) {
            None => Ok(None),
            Some(Avp::Challenge(c)) => match &self.policy.secret {
                Some(secret) => Ok(Some(Avp::ChallengeResponse(auth::challenge_response(
                    carrier, secret, c,
                )))),
                None => Err(()),
            },
            Some(_) => Ok(None),
        }
    }

    /// §7.2.1 idle / Receive SCCRQ.
    fn on_sccrq(&mut self, ctx: &mut Ctx<'_>, m: &ControlMessage) {
        self.learn_peer(m);
        if let Err((r, why)) = self.vet(m, MessageType::Sccrq) {
            return self.stop_with(ctx, r, None, why);
        }
        let mut avps = self.common_avps(ctx);
        if !self.answer_challenge(ctx, m, MessageType::Sccrp, &mut avps) {
            return;
        }
        if let Some(c) = self.new_challenge(ctx) {
            avps.push(c);
        }
        self.queue(ctx, 0, ControlMessage::new(MessageType::Sccrp, avps));
        self.state = TunnelState::WaitCtlConn;
    }

    /// §7.2.1 wait-ctl-reply / Receive SCCRP.
    fn on_sccrp(&mut self, ctx: &mut Ctx<'_>, m: &ControlMessage) {
        self.learn_peer(m);
        if let Err((r, why)) = self.vet(m, MessageType::Sccrp) {
            if r == StopCcnResult::NotAuthorized {
                ctx.counters.inc(Counter::AuthFailed);
            }
            return self.stop_with(ctx, r, None, why);
        }
        let mut avps = Vec::new();
        if !self.answer_challenge(ctx, m, MessageType::Scccn, &mut avps) {
            return;
        }
        self.queue(ctx, 0, ControlMessage::new(MessageType::Scccn, avps));
        self.established(ctx);
    }

    /// §7.2.1 wait-ctl-conn / Receive SCCCN.
    fn on_scccn(&mut self, ctx: &mut Ctx<'_>, m: &ControlMessage) {
        if !self.response_ok(m, MessageType::Scccn) {
            ctx.counters.inc(Counter::AuthFailed);
            return self.stop_with(
                ctx,
                StopCcnResult::NotAuthorized,
                None,
                "challenge response missing or wrong",
            );
        }
        self.established(ctx);
    }

    fn established(&mut self, ctx: &mut Ctx<'_>) {
        self.state = TunnelState::Established;
        self.was_established = true;
        self.setup_until = None;
        self.arm_hello(ctx);
        ctx.counters.inc(Counter::TunnelsUp);
        ctx.events.push_back(Event::TunnelUp {
            tunnel: self.local_id,
            peer_tunnel: self.peer_id,
            peer: self.peer,
            host_name: self.peer_info.host_name.clone(),
            role: self.role,
        });
        // "Send tunnel-open event to waiting sessions".
        let mut waiting: Vec<u16> = self
            .sessions
            .values()
            .filter(|s| s.state == SessionState::WaitTunnel)
            .map(|s| s.local_id)
            .collect();
        waiting.sort_unstable();
        for id in waiting {
            self.step_session(ctx, id, Input::TunnelOpen);
        }
    }

    /// The tie-breaker lost (§4.4.3): forget our SCCRQ and answer theirs
    /// as if we had been idle ("Clean up, Re-queue SCCRQ for idle state").
    pub(crate) fn become_recipient(&mut self, ctx: &mut Ctx<'_>) {
        self.role = Role::Recipient;
        self.state = TunnelState::Idle;
        self.setup_until = Some(ctx.now + ctx.cfg.transport.full_cycle());
        self.transport = Transport::new(ctx.cfg.transport);
        self.challenge = None;
        self.tie_breaker = None;
        self.peer_id = 0;
    }

    // ---- sessions ----

    fn alloc_session_id(&self, ctx: &mut Ctx<'_>) -> Option<u16> {
        if self.sessions.len() >= ctx.cfg.max_sessions_per_tunnel.min(65_535) {
            return None;
        }
        // Random free ids the preference likes first; else any, as below.
        if let Some(prefer) = ctx.prefer.as_deref_mut() {
            for _ in 0..super::endpoint::PREFERENCE_TRIES {
                let id = (ctx.rng.next_u32() & 0xffff) as u16;
                if id != 0 && !self.sessions.contains_key(&id) && (prefer.0)(self.local_id, id) {
                    return Some(id);
                }
            }
        }
        for _ in 0..16 {
            let id = (ctx.rng.next_u32() & 0xffff) as u16;
            if id != 0 && !self.sessions.contains_key(&id) {
                return Some(id);
            }
        }
        let start = (ctx.rng.next_u32() & 0xffff) as u16;
        (0..=u16::MAX)
            .map(|i| start.wrapping_add(i))
            .find(|id| *id != 0 && !self.sessions.contains_key(id))
    }

    fn add_session(&mut self, ctx: &mut Ctx<'_>, s: Session) {
        let id = s.local_id;
        let deadline = ctx.now + ctx.cfg.session_setup_timeout;
        self.setup_deadlines.insert((deadline, id));
        self.setup_deadline_of.insert(id, deadline);
        self.sessions.insert(id, Box::new(s));
    }

    /// A call we originate: LAC incoming (ICRQ) or LNS outgoing (OCRQ).
    pub(crate) fn originate_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        kind: CallKind,
        serial: u32,
        params: CallParams,
    ) -> Option<u16> {
        if self.state == TunnelState::Closing {
            return None;
        }
        let id = self.alloc_session_id(ctx)?;
        let mut s = Session::new(id, 0, kind, SessionState::WaitTunnel);
        s.serial = serial;
        s.params = Some(Box::new(params));
        self.add_session(ctx, s);
        if self.state == TunnelState::Established {
            self.step_session(ctx, id, Input::TunnelOpen);
        }
        Some(id)
    }

    /// An SLI or WEN on an established session (see
    /// [`super::Endpoint::send_call_info`]).
    pub(crate) fn send_call_info(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u16,
        msg: ControlMessage,
    ) -> bool {
        let Some(peer_id) = self
            .sessions
            .get(&id)
            .filter(|s| s.state == SessionState::Established)
            .map(|s| s.peer_id)
        else {
            return false;
        };
        if self.state != TunnelState::Established {
            return false;
        }
        self.queue(ctx, peer_id, msg);
        true
    }

    /// The bearer answered a call we were asked to place (§7.5.1).
    pub(crate) fn bearer_answer(&mut self, ctx: &mut Ctx<'_>, id: u16, sequencing: bool) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.params.get_or_insert_default().sequencing_required |= sequencing;
        }
        self.step_session(ctx, id, Input::BearerAnswer);
    }

    /// Local close of one session.
    pub(crate) fn close_session(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u16,
        rc: ResultCode,
        cause: Option<super::avp::PppDisconnectCause>,
    ) -> bool {
        if !self.sessions.contains_key(&id) {
            return false;
        }
        self.step_session(ctx, id, Input::LocalClose(rc, cause));
        true
    }

    fn session_message(&mut self, ctx: &mut Ctx<'_>, sid: u16, m: ControlMessage) {
        use MessageType as M;
        match m.msg_type {
            M::Icrq | M::Ocrq => self.new_peer_call(ctx, m),
            _ if self.sessions.contains_key(&sid) => {
                self.step_session(ctx, sid, Input::Message(&m))
            }
            // A CDN sent before the peer learnt our session id (it gave up
            // on the call before our ICRP/OCRP arrived): the Assigned
            // Session ID names the call by the peer's id.
            M::Cdn
                if let Some(id) = m.assigned_session_id().and_then(|peer_sid| {
                    self.sessions
                        .values()
                        .find(|s| s.peer_id == peer_sid && peer_sid != 0)
                        .map(|s| s.local_id)
                }) =>
            {
                self.step_session(ctx, id, Input::Message(&m))
            }
            t => {
                ctx.counters.inc(Counter::RxUnknownSession);
                // §7.4.1/§7.5.1 idle / Receive ICRP or OCRP -> Send CDN.
                if matches!(t, M::Icrp | M::Ocrp)
                    && let Some(peer_sid) = m.assigned_session_id()
                {
                    let rc = ResultCode::cdn(
                        CdnResult::GeneralError,
                        Some(ErrorCode::InvalidSessionId),
                        "no such session",
                    );
                    self.refuse_call(ctx, peer_sid, rc);
                }
            }
        }
    }

    /// §7.4.2 idle / Receive ICRQ and §7.5.1 idle / Receive OCRQ.
    fn new_peer_call(&mut self, ctx: &mut Ctx<'_>, m: ControlMessage) {
        let incoming = m.msg_type == MessageType::Icrq;
        let Some(peer_sid) = m.assigned_session_id().filter(|&v| v != 0) else {
            let rc = ResultCode::cdn(
                CdnResult::GeneralError,
                Some(ErrorCode::InvalidSessionId),
                "Assigned Session ID 0",
            );
            return self.refuse_call(ctx, 0, rc);
        };
        let allowed = if incoming {
            self.policy.accept_incoming_calls
        } else {
            self.policy.answer_outgoing_calls
        };
        if !allowed {
            let rc = ResultCode::cdn(
                CdnResult::PermanentNoFacilities,
                None,
                if incoming {
                    "incoming calls not accepted"
                } else {
                    "outgoing calls not accepted"
                },
            );
            return self.refuse_call(ctx, peer_sid, rc);
        }
        let Some(id) = self.alloc_session_id(ctx) else {
            let rc = ResultCode::cdn(
                CdnResult::TemporaryNoFacilities,
                Some(ErrorCode::InsufficientResources),
                "session limit reached",
            );
            return self.refuse_call(ctx, peer_sid, rc);
        };
        let (kind, state, reply) = if incoming {
            (
                CallKind::LnsIncoming,
                SessionState::WaitConnect,
                MessageType::Icrp,
            )
        } else {
            (
                CallKind::LacOutgoing,
                SessionState::WaitCsAnswer,
                MessageType::Ocrp,
            )
        };
        let mut s = Session::new(id, peer_sid, kind, state);
        s.serial = m
            .avps
            .iter()
            .find_map(|a| match a {
                Avp::CallSerialNumber(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0);
        s.peer_avps = session::understood(&m.avps);
        self.add_session(ctx, s);
        self.queue(
            ctx,
            peer_sid,
            ControlMessage::of(reply, [Avp::AssignedSessionId(id)]),
        );
        if !incoming {
            if ctx.cfg.defer_outgoing_answer {
                // The owner places the call onward and answers later.
                let key = SessionKey {
                    tunnel: self.local_id,
                    session: id,
                };
                let peer_avps = self
                    .sessions
                    .get(&id)
                    .map(|s| s.peer_avps.clone())
                    .unwrap_or_default();
                ctx.events.push_back(Event::OutgoingCallRequest {
                    key,
                    peer_session: peer_sid,
                    peer_avps,
                });
            } else {
                // No bearer to wait for: the call "answers" at once
                // (§7.5.1 wait-cs-answer / bearer answer).
                self.step_session(ctx, id, Input::BearerAnswer);
            }
        }
    }

    fn step_session(&mut self, ctx: &mut Ctx<'_>, id: u16, input: Input<'_>) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let from_peer = matches!(input, Input::Message(_));
        let action = s.step(input);
        let peer_sid = s.peer_id;
        let key = SessionKey {
            tunnel: self.local_id,
            session: id,
        };
        match action {
            Action::None => {}
            Action::Send(m) => self.queue(ctx, peer_sid, m),
            Action::Up(m) => {
                if let Some(m) = m {
                    self.queue(ctx, peer_sid, m);
                }
                if let Some(t) = self.setup_deadline_of.remove(&id) {
                    self.setup_deadlines.remove(&(t, id));
                }
                ctx.counters.inc(Counter::SessionsUp);
                // The AVPs go with the event: an up session never reads
                // them again, and a million sessions would each keep a few
                // hundred bytes of them (issue 18: memory per session).
                if let Some(s) = self.sessions.get_mut(&id) {
                    ctx.events.push_back(Event::SessionUp {
                        key,
                        peer_session: s.peer_id,
                        kind: s.kind,
                        peer_avps: std::mem::take(&mut s.peer_avps),
                    });
                }
            }
            Action::Info(m) => ctx.events.push_back(Event::SessionInfo { key, message: m }),
            Action::Clear(m, cause) => {
                if let Some(m) = m {
                    self.queue(ctx, peer_sid, m);
                }
                // A peer's message the session FSM cannot take (§7.4, §7.5)
                // is answered with result 2, error 0. Our own closes (a PPP
                // failure, say) may carry the same codes: not counted.
                if from_peer
                    && let ClearCause::LocalCdn(r) = &cause
                    && r.result == CdnResult::GeneralError as u16
                    && r.error == Some(ErrorCode::NoError as u16)
                {
                    ctx.counters.inc(Counter::RxUnexpected);
                }
                self.remove_session(ctx, id, cause);
            }
        }
    }

    // ---- timers ----

    /// §5.5: a HELLO goes out after `hello_interval` without a message.
    fn arm_hello(&mut self, ctx: &Ctx<'_>) {
        self.hello_at =
            (!ctx.cfg.hello_interval.is_zero()).then(|| ctx.now + ctx.cfg.hello_interval);
    }

    /// The earliest time this tunnel needs [`Tunnel::on_timeout`].
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.transport.poll_timeout(),
            self.hold_until,
            self.hello_at,
            self.setup_until,
            self.setup_deadlines.first().map(|&(t, _)| t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.transport.on_timeout(now) == TimeoutOutcome::Failed {
            if self.state != TunnelState::Closing {
                ctx.counters.inc(Counter::TunnelsTimedOut);
                tracing::warn!(tunnel = self.local_id, peer = %self.peer, "retransmissions exhausted; clearing tunnel");
            }
            self.abandon(ctx, TunnelCause::Timeout);
            return;
        }
        if self.hold_until.is_some_and(|t| t <= now) {
            self.freed = true;
            return;
        }
        if self.setup_until.is_some_and(|t| t <= now) {
            self.setup_until = None;
            ctx.counters.inc(Counter::TunnelSetupTimeout);
            if self.peer_id == 0 {
                self.abandon(ctx, TunnelCause::Timeout);
            } else {
                self.stop_with(
                    ctx,
                    StopCcnResult::GeneralError,
                    None,
                    "control connection setup timed out",
                );
            }
            return;
        }
        if self.hello_at.is_some_and(|t| t <= now) {
            self.arm_hello(ctx);
            if self.state == TunnelState::Established {
                ctx.counters.inc(Counter::TxHello);
                self.queue(ctx, 0, ControlMessage::of(MessageType::Hello, []));
            }
        }
        while let Some(&(t, id)) = self.setup_deadlines.first() {
            if t > now {
                break;
            }
            self.setup_deadlines.remove(&(t, id));
            self.setup_deadline_of.remove(&id);
            ctx.counters.inc(Counter::SessionSetupTimeout);
            if let Some(s) = self.sessions.get_mut(&id) {
                let rc = ResultCode::cdn(CdnResult::GeneralError, None, "call setup timed out");
                let cdn = (s.state != SessionState::WaitTunnel).then(|| s.cdn(rc, None));
                let peer_sid = s.peer_id;
                if let Some(m) = cdn {
                    self.queue(ctx, peer_sid, m);
                }
                self.remove_session(ctx, id, ClearCause::SetupTimeout);
            }
        }
    }
}
