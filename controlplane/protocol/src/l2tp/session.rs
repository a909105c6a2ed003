//! Session (call) state machines, RFC 2661 §7.4 and §7.5, both roles.
//!
//! One [`Session`] per call inside a tunnel. [`Session::step`] is the one
//! `match (kind, state, input)` whose arms cite the state-table rows; it
//! returns what the tunnel must do (send a message, report the session up,
//! clear it). It never touches the wire or the clock, and never panics:
//! an input the table has no row for is an FSM error that clears the call
//! with a CDN, as §7.1 asks for messages "received in an improper
//! sequence".
//!
//! The tunnel creates sessions (choosing the local id), routes messages to
//! them by the header's session id, and carries out the actions.

use super::avp::{Avp, AvpType, PppDisconnectCause, ResultCode, bearer, framing};
use super::message::{ControlMessage, MessageType, avp_list_of};
use super::result::{CdnResult, ErrorCode};

/// Which of the four call state machines a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// We are the LAC and the call came in from the subscriber (§7.4.1).
    LacIncoming,
    /// We are the LNS, answering the LAC's ICRQ (§7.4.2).
    LnsIncoming,
    /// We are the LAC, placing a call the LNS asked for (§7.5.1).
    LacOutgoing,
    /// We are the LNS, asking the LAC to place a call (§7.5.2).
    LnsOutgoing,
}

impl CallKind {
    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::LacIncoming => "lac-incoming",
            CallKind::LnsIncoming => "lns-incoming",
            CallKind::LacOutgoing => "lac-outgoing",
            CallKind::LnsOutgoing => "lns-outgoing",
        }
    }
}

/// Session states, with the RFC's names. Idle is not stored: an idle
/// session is one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Waiting for the tunnel to open (§7.4.1, §7.5.2).
    WaitTunnel,
    /// ICRQ or OCRQ sent, waiting for ICRP or OCRP.
    WaitReply,
    /// ICRP sent (LNS incoming) or OCRP received (LNS outgoing), waiting
    /// for ICCN or OCCN.
    WaitConnect,
    /// OCRP sent, placing the call (§7.5.1).
    WaitCsAnswer,
    /// The call is up.
    Established,
}

impl SessionState {
    /// The RFC's name.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::WaitTunnel => "wait-tunnel",
            SessionState::WaitReply => "wait-reply",
            SessionState::WaitConnect => "wait-connect",
            SessionState::WaitCsAnswer => "wait-cs-answer",
            SessionState::Established => "established",
        }
    }
}

/// What the LAC says about a call it offers (ICRQ, ICCN) or the LNS asks
/// for (OCRQ). Required AVPs are filled from these fields; `extra_*` AVPs
/// (proxy LCP and authentication, Q.931 details, vendor AVPs) are appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParams {
    /// Calling Number (ICRQ) — the subscriber's line.
    pub calling_number: Option<Vec<u8>>,
    /// Called Number (ICRQ; required in OCRQ).
    pub called_number: Option<Vec<u8>>,
    /// Sub-Address.
    pub sub_address: Option<Vec<u8>>,
    /// Bearer Type (analog/digital bits).
    pub bearer_type: u32,
    /// Framing Type (sync/async bits).
    pub framing_type: u32,
    /// (Tx) Connect Speed in ICCN/OCCN, or Maximum BPS in OCRQ.
    pub connect_speed: u32,
    /// Minimum BPS (OCRQ).
    pub minimum_bps: u32,
    /// Physical Channel ID.
    pub physical_channel: Option<u32>,
    /// Ask the peer to sequence data messages (ICCN/OCCN).
    pub sequencing_required: bool,
    /// Extra AVPs for the request (ICRQ or OCRQ).
    pub extra_request: Vec<Avp>,
    /// Extra AVPs for the connect message (ICCN or OCCN), e.g. proxy LCP.
    pub extra_connect: Vec<Avp>,
}

impl Default for CallParams {
    fn default() -> Self {
        DEFAULT_PARAMS.clone()
    }
}

static DEFAULT_PARAMS: CallParams = CallParams {
    calling_number: None,
    called_number: None,
    sub_address: None,
    bearer_type: bearer::DIGITAL,
    framing_type: framing::SYNC,
    connect_speed: 100_000_000,
    minimum_bps: 0,
    physical_channel: None,
    sequencing_required: false,
    extra_request: Vec::new(),
    extra_connect: Vec::new(),
};

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearCause {
    /// The peer sent a CDN.
    PeerCdn {
        /// Its Result Code.
        result: ResultCode,
        /// Its RFC 3145 PPP Disconnect Cause, if any.
        ppp_cause: Option<PppDisconnectCause>,
    },
    /// We sent a CDN with this Result Code (local request or error).
    LocalCdn(ResultCode),
    /// The tunnel went down under the session.
    TunnelDown,
    /// The peer did not complete the call in time.
    SetupTimeout,
}

impl ClearCause {
    /// Short description for logs.
    pub fn describe(&self) -> String {
        match self {
            ClearCause::PeerCdn { result, .. } => format!("peer CDN {}", result.describe()),
            ClearCause::LocalCdn(r) => format!("local CDN {}", r.describe()),
            ClearCause::TunnelDown => "tunnel down".into(),
            ClearCause::SetupTimeout => "setup timeout".into(),
        }
    }
}

/// One call.
#[derive(Debug, Clone)]
pub struct Session {
    /// Our Assigned Session ID (never 0).
    pub local_id: u16,
    /// The peer's Assigned Session ID (0 until known).
    pub peer_id: u16,
    /// Which state machine.
    pub kind: CallKind,
    /// Where it is.
    pub state: SessionState,
    /// Call Serial Number (§4.4.5).
    pub serial: u32,
    /// Parameters when we originate (LAC incoming, LNS outgoing); `None`
    /// for a call the peer placed, whose messages carry none of them (a
    /// session keeps no room for them then: issue 18, memory).
    pub params: Option<Box<CallParams>>,
    /// AVPs the peer sent for this call (request, reply, connect), in order,
    /// until it is up: then they go to PPP and AAA (proxy LCP, calling
    /// number etc.) with [`Event::SessionUp`](crate::l2tp::Event::SessionUp).
    pub peer_avps: Vec<Avp>,
}

/// Inputs to the session FSM besides messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// A message for this session from the peer.
    Message(&'a ControlMessage),
    /// The tunnel reached established ("tunnel-open" event).
    TunnelOpen,
    /// The bearer answered (LAC outgoing: the call we placed connected).
    BearerAnswer,
    /// Local close request (admin, PPP ended, ...), with the CDN to send.
    LocalClose(ResultCode, Option<PppDisconnectCause>),
}

/// What the tunnel must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing visible.
    None,
    /// Send this message; the session lives on.
    Send(ControlMessage),
    /// Send this message (if any); the session is now established.
    Up(Option<ControlMessage>),
    /// A WEN or SLI for the session's owner.
    Info(ControlMessage),
    /// Send this CDN (if any), then forget the session.
    Clear(Option<ControlMessage>, ClearCause),
}

impl Session {
    /// A new session; `peer_id` is known when the peer started the call.
    pub fn new(local_id: u16, peer_id: u16, kind: CallKind, state: SessionState) -> Self {
        Session {
            local_id,
            peer_id,
            kind,
            state,
            serial: 0,
            params: None,
            peer_avps: Vec::new(),
        }
    }

    /// Its parameters (the defaults when none were given).
    pub fn params(&self) -> &CallParams {
        self.params.as_deref().unwrap_or(&DEFAULT_PARAMS)
    }

    /// The request that opens a call we originate: ICRQ (§6.6) or OCRQ
    /// (§6.9).
    pub fn request(&self) -> ControlMessage {
        let p = self.params();
        let mut avps = avp_list_of([
            Avp::AssignedSessionId(self.local_id),
            Avp::CallSerialNumber(self.serial),
        ]);
        let t = match self.kind {
            CallKind::LnsOutgoing => {
                avps.push(Avp::MinimumBps(p.minimum_bps));
                avps.push(Avp::MaximumBps(p.connect_speed));
                avps.push(Avp::BearerType(p.bearer_type));
                avps.push(Avp::FramingType(p.framing_type));
                avps.push(Avp::CalledNumber(
                    p.called_number.clone().unwrap_or_default(),
                ));
                MessageType::Ocrq
            }
            _ => {
                avps.push(Avp::BearerType(p.bearer_type));
                if let Some(v) = &p.called_number {
                    avps.push(Avp::CalledNumber(v.clone()));
                }
                if let Some(v) = &p.calling_number {
                    avps.push(Avp::CallingNumber(v.clone()));
                }
                MessageType::Icrq
            }
        };
        if let Some(v) = &p.sub_address {
            avps.push(Avp::SubAddress(v.clone()));
        }
        if let Some(v) = p.physical_channel {
            avps.push(Avp::PhysicalChannelId(v));
        }
        avps.extend(p.extra_request.iter().cloned());
        ControlMessage::new(t, avps)
    }

    /// ICCN (§6.8) or OCCN (§6.10).
    fn connect(&self, t: MessageType) -> ControlMessage {
        let p = self.params();
        let mut avps = avp_list_of([
            Avp::TxConnectSpeed(p.connect_speed),
            Avp::FramingType(p.framing_type),
        ]);
        if p.sequencing_required {
            avps.push(Avp::SequencingRequired);
        }
        avps.extend(p.extra_connect.iter().cloned());
        ControlMessage::new(t, avps)
    }

    /// The reply to an ICRP or OCRP (`what`) whose Assigned Session ID
    /// (`id`) names no session of the peer's (§7.4.1, §7.5.2: not
    /// acceptable): a CDN saying whether it was 0 or absent, and clean up.
    fn no_peer_session(&self, id: Option<u16>, what: &str) -> Action {
        let message = match id {
            Some(_) => format!("{what} with Assigned Session ID 0"),
            None => format!("{what} without an Assigned Session ID"),
        };
        let r = ResultCode::cdn(
            CdnResult::GeneralError,
            Some(ErrorCode::InvalidSessionId),
            &message,
        );
        Action::Clear(Some(self.cdn(r.clone(), None)), ClearCause::LocalCdn(r))
    }

    /// A CDN (§6.11) for this session with the given Result Code.
    pub fn cdn(&self, result: ResultCode, cause: Option<PppDisconnectCause>) -> ControlMessage {
        let mut avps = avp_list_of([
            Avp::ResultCode(result),
            Avp::AssignedSessionId(self.local_id),
        ]);
        if let Some(c) = cause {
            avps.push(Avp::PppDisconnectCause(c));
        }
        ControlMessage::new(MessageType::Cdn, avps)
    }

    fn fsm_error(&self, got: MessageType) -> Action {
        let r = ResultCode::cdn(
            CdnResult::GeneralError,
            Some(ErrorCode::NoError),
            &format!(
                "{} unexpected in {} {}",
                got.name(),
                self.kind.name(),
                self.state.name()
            ),
        );
        Action::Clear(Some(self.cdn(r.clone(), None)), ClearCause::LocalCdn(r))
    }

    fn peer_cleared(m: &ControlMessage) -> Action {
        let result = m
            .result_code()
            .cloned()
            .unwrap_or_else(|| ResultCode::cdn(CdnResult::GeneralError, None, ""));
        let ppp_cause = m.avps.iter().find_map(|a| match a {
            Avp::PppDisconnectCause(c) => Some(c.clone()),
            _ => None,
        });
        Action::Clear(None, ClearCause::PeerCdn { result, ppp_cause })
    }

    fn remember(&mut self, m: &ControlMessage) {
        self.peer_avps
            .extend(m.avps.iter().filter(|a| is_understood(a)).cloned());
    }

    /// Runs one input through the session's state table.
    pub fn step(&mut self, input: Input<'_>) -> Action {
        use CallKind::*;
        use MessageType as M;
        use SessionState::*;
        let msg = match input {
            Input::Message(m) => m,
            Input::TunnelOpen => {
                return match (self.kind, self.state) {
                    // §7.4.1 wait-tunnel / tunnel-open: Send ICRQ -> wait-reply.
                    // §7.5.2 wait-tunnel / tunnel-open: Send OCRQ -> wait-reply.
                    (LacIncoming | LnsOutgoing, WaitTunnel) => {
                        self.state = WaitReply;
                        Action::Send(self.request())
                    }
                    _ => Action::None,
                };
            }
            Input::BearerAnswer => {
                return match (self.kind, self.state) {
                    // §7.5.1 wait-cs-answer / bearer answer: Send OCCN -> established.
                    (LacOutgoing, WaitCsAnswer) => {
                        self.state = Established;
                        Action::Up(Some(self.connect(M::Occn)))
                    }
                    _ => Action::None,
                };
            }
            Input::LocalClose(r, cause) => {
                return match self.state {
                    // §7.4.1 / §7.5.2 wait-tunnel / local close: Clean up.
                    WaitTunnel => Action::Clear(None, ClearCause::LocalCdn(r)),
                    // Every other state: Send CDN, Clean up.
                    _ => Action::Clear(Some(self.cdn(r.clone(), cause)), ClearCause::LocalCdn(r)),
                };
            }
        };
        let t = msg.msg_type;
        // §7.4.1, §7.4.2, §7.5.1, §7.5.2: "Receive CDN -> Clean up" in
        // every state of every machine.
        if t == M::Cdn {
            return Self::peer_cleared(msg);
        }
        match (self.kind, self.state, t) {
            (_, Established, M::Wen | M::Sli) => Action::Info(msg.clone()),
            // §7.4.1 wait-reply / Receive ICRP, acceptable: Send ICCN.
            (LacIncoming, WaitReply, M::Icrp) => match msg.assigned_session_id() {
                Some(id) if id != 0 => {
                    self.peer_id = id;
                    self.remember(msg);
                    self.state = Established;
                    Action::Up(Some(self.connect(M::Iccn)))
                }
                // ... not acceptable: Send CDN, Clean up.
                id => self.no_peer_session(id, "ICRP"),
            },
            // §7.4.2 wait-connect / Receive ICCN, acceptable: prepare for data.
            (LnsIncoming, WaitConnect, M::Iccn) => {
                self.remember(msg);
                self.state = Established;
                Action::Up(None)
            }
            // §7.5.2 wait-reply / Receive OCRP, acceptable: -> wait-connect.
            (LnsOutgoing, WaitReply, M::Ocrp) => match msg.assigned_session_id() {
                Some(id) if id != 0 => {
                    self.peer_id = id;
                    self.remember(msg);
                    self.state = WaitConnect;
                    Action::None
                }
                id => self.no_peer_session(id, "OCRP"),
            },
            // §7.5.2 wait-connect / Receive OCCN: -> established.
            (LnsOutgoing, WaitConnect, M::Occn) => {
                self.remember(msg);
                self.state = Established;
                Action::Up(None)
            }
            // Every remaining (state, message) pair is one of the tables'
            // "Receive <wrong message> -> Send CDN, Clean up" rows, or an
            // improper sequence under §7.1.
            _ => self.fsm_error(t),
        }
    }
}

/// The AVPs that make a message of type `t` a session message the tunnel
/// routes here (§6.6–§6.13).
pub fn is_session_message(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::Ocrq
            | MessageType::Ocrp
            | MessageType::Occn
            | MessageType::Icrq
            | MessageType::Icrp
            | MessageType::Iccn
            | MessageType::Cdn
            | MessageType::Wen
            | MessageType::Sli
    )
}

/// The AVPs worth keeping for a call's lifetime: the typed ones. Unknown
/// optional AVPs are dropped so a peer cannot make each of 65,535 calls
/// hold 64 KB of padding.
pub fn understood(avps: &[Avp]) -> Vec<Avp> {
    // Sized once, with room for what the connect message (ICCN, OCCN)
    // adds (`Session::remember`): grown, the list moved as it filled.
    let n = avps.iter().filter(|a| is_understood(a)).count();
    let mut v = Vec::with_capacity(n + CONNECT_ROOM);
    v.extend(avps.iter().filter(|a| is_understood(a)).cloned());
    v
}

/// AVPs a connect message usually carries besides its type: Tx Connect
/// Speed, Framing Type, and a few optional ones (RFC 2661 §6.8).
const CONNECT_ROOM: usize = 6;

/// Whether a session keeps `a` among its peer AVPs ([`understood`]).
fn is_understood(a: &Avp) -> bool {
    !matches!(a, Avp::Other(_))
}

/// Finds an AVP of type `t` among a session's peer AVPs.
pub fn find(avps: &[Avp], t: AvpType) -> Option<&Avp> {
    avps.iter().find(|a| a.avp_type() == Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: MessageType, avps: Vec<Avp>) -> ControlMessage {
        ControlMessage::new(t, avps)
    }

    fn sent_type(a: &Action) -> Option<MessageType> {
        match a {
            Action::Send(m) | Action::Up(Some(m)) | Action::Info(m) => Some(m.msg_type),
            Action::Clear(Some(m), _) => Some(m.msg_type),
            _ => None,
        }
    }

    // --- LAC incoming (§7.4.1), grouped by state ---

    #[test]
    fn lac_incoming_wait_tunnel() {
        let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitTunnel);
        let a = s.step(Input::TunnelOpen);
        assert_eq!(sent_type(&a), Some(MessageType::Icrq));
        assert_eq!(s.state, SessionState::WaitReply);
        let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitTunnel);
        let r = ResultCode::cdn(CdnResult::Administrative, None, "");
        // Local close before the tunnel opens: clean up, nothing sent.
        assert!(matches!(
            s.step(Input::LocalClose(r, None)),
            Action::Clear(None, _)
        ));
    }

    #[test]
    fn lac_incoming_wait_reply() {
        let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitReply);
        let a = s.step(Input::Message(&m(
            MessageType::Icrp,
            vec![Avp::AssignedSessionId(77)],
        )));
        assert_eq!(sent_type(&a), Some(MessageType::Iccn));
        assert!(matches!(a, Action::Up(_)));
        assert_eq!((s.state, s.peer_id), (SessionState::Established, 77));

        // ICRP with session id 0 is not acceptable: CDN.
        let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitReply);
        let a = s.step(Input::Message(&m(
            MessageType::Icrp,
            vec![Avp::AssignedSessionId(0)],
        )));
        assert!(matches!(a, Action::Clear(Some(_), ClearCause::LocalCdn(_))));

        // ICRQ or ICCN in wait-reply: CDN / clean up.
        for t in [MessageType::Icrq, MessageType::Iccn] {
            let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitReply);
            let a = s.step(Input::Message(&m(t, vec![])));
            assert!(matches!(a, Action::Clear(..)), "{t:?}");
        }
        // CDN: clean up, nothing sent.
        let mut s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitReply);
        let cdn = m(
            MessageType::Cdn,
            vec![
                Avp::ResultCode(ResultCode::cdn(CdnResult::Busy, None, "")),
                Avp::AssignedSessionId(1),
            ],
        );
        assert!(matches!(
            s.step(Input::Message(&cdn)),
            Action::Clear(None, ClearCause::PeerCdn { .. })
        ));
    }

    #[test]
    fn lac_incoming_established() {
        for t in [MessageType::Icrq, MessageType::Icrp, MessageType::Iccn] {
            let mut s = Session::new(5, 9, CallKind::LacIncoming, SessionState::Established);
            let a = s.step(Input::Message(&m(t, vec![])));
            assert_eq!(sent_type(&a), Some(MessageType::Cdn), "{t:?}");
        }
        let mut s = Session::new(5, 9, CallKind::LacIncoming, SessionState::Established);
        let sli = m(MessageType::Sli, vec![Avp::Accm { send: 0, recv: 0 }]);
        assert!(matches!(s.step(Input::Message(&sli)), Action::Info(_)));
        let r = ResultCode::cdn(CdnResult::Administrative, None, "bye");
        let a = s.step(Input::LocalClose(r, None));
        match a {
            Action::Clear(Some(cdn), ClearCause::LocalCdn(_)) => {
                assert_eq!(cdn.assigned_session_id(), Some(5));
                assert_eq!(cdn.result_code().unwrap().result, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    // --- LNS incoming (§7.4.2) ---

    #[test]
    fn lns_incoming_wait_connect() {
        let mut s = Session::new(5, 9, CallKind::LnsIncoming, SessionState::WaitConnect);
        let iccn = m(
            MessageType::Iccn,
            vec![Avp::TxConnectSpeed(1), Avp::FramingType(1)],
        );
        assert_eq!(s.step(Input::Message(&iccn)), Action::Up(None));
        assert_eq!(s.state, SessionState::Established);
        assert!(find(&s.peer_avps, AvpType::TxConnectSpeed).is_some());
        for t in [MessageType::Icrq, MessageType::Icrp] {
            let mut s = Session::new(5, 9, CallKind::LnsIncoming, SessionState::WaitConnect);
            assert_eq!(
                sent_type(&s.step(Input::Message(&m(t, vec![])))),
                Some(MessageType::Cdn)
            );
        }
    }

    #[test]
    fn lns_incoming_established() {
        for t in [MessageType::Icrq, MessageType::Icrp, MessageType::Iccn] {
            let mut s = Session::new(5, 9, CallKind::LnsIncoming, SessionState::Established);
            assert_eq!(
                sent_type(&s.step(Input::Message(&m(t, vec![])))),
                Some(MessageType::Cdn)
            );
        }
        let mut s = Session::new(5, 9, CallKind::LnsIncoming, SessionState::Established);
        let wen = m(MessageType::Wen, vec![Avp::CallErrors(Default::default())]);
        assert!(matches!(s.step(Input::Message(&wen)), Action::Info(_)));
    }

    // --- LAC outgoing (§7.5.1) ---

    #[test]
    fn lac_outgoing_wait_cs_answer() {
        let mut s = Session::new(5, 9, CallKind::LacOutgoing, SessionState::WaitCsAnswer);
        let a = s.step(Input::BearerAnswer);
        assert_eq!(sent_type(&a), Some(MessageType::Occn));
        assert_eq!(s.state, SessionState::Established);
        for t in [MessageType::Ocrq, MessageType::Ocrp, MessageType::Occn] {
            let mut s = Session::new(5, 9, CallKind::LacOutgoing, SessionState::WaitCsAnswer);
            assert_eq!(
                sent_type(&s.step(Input::Message(&m(t, vec![])))),
                Some(MessageType::Cdn)
            );
        }
    }

    // --- LNS outgoing (§7.5.2) ---

    #[test]
    fn lns_outgoing_all_states() {
        let mut s = Session::new(5, 0, CallKind::LnsOutgoing, SessionState::WaitTunnel);
        s.params.get_or_insert_default().called_number = Some(b"5551234".to_vec());
        assert_eq!(
            sent_type(&s.step(Input::TunnelOpen)),
            Some(MessageType::Ocrq)
        );
        let ocrp = m(MessageType::Ocrp, vec![Avp::AssignedSessionId(31)]);
        assert_eq!(s.step(Input::Message(&ocrp)), Action::None);
        assert_eq!((s.state, s.peer_id), (SessionState::WaitConnect, 31));
        // A second OCRP in wait-connect is an FSM error.
        let mut t = s.clone();
        assert_eq!(
            sent_type(&t.step(Input::Message(&ocrp))),
            Some(MessageType::Cdn)
        );
        let occn = m(
            MessageType::Occn,
            vec![Avp::TxConnectSpeed(1), Avp::FramingType(1)],
        );
        assert_eq!(s.step(Input::Message(&occn)), Action::Up(None));
        assert_eq!(s.state, SessionState::Established);
        // OCCN in wait-reply: CDN.
        let mut s = Session::new(5, 0, CallKind::LnsOutgoing, SessionState::WaitReply);
        assert_eq!(
            sent_type(&s.step(Input::Message(&occn))),
            Some(MessageType::Cdn)
        );
    }

    #[test]
    fn requests_carry_required_avps() {
        // Encoding then decoding runs the §6 required-AVP check.
        for kind in [CallKind::LacIncoming, CallKind::LnsOutgoing] {
            let mut s = Session::new(5, 0, kind, SessionState::WaitTunnel);
            s.params.get_or_insert_default().called_number = Some(b"1".to_vec());
            let msg = s.request();
            let mut out = Vec::new();
            msg.encode(&mut out, None).unwrap();
            let back = ControlMessage::decode(&out, None).unwrap().unwrap();
            assert_eq!(back, msg);
        }
        let s = Session::new(5, 0, CallKind::LacIncoming, SessionState::WaitTunnel);
        for t in [MessageType::Iccn, MessageType::Occn] {
            let mut out = Vec::new();
            s.connect(t).encode(&mut out, None).unwrap();
            assert!(ControlMessage::decode(&out, None).is_ok());
        }
        let mut out = Vec::new();
        s.cdn(ResultCode::cdn(CdnResult::Administrative, None, ""), None)
            .encode(&mut out, None)
            .unwrap();
        assert!(ControlMessage::decode(&out, None).is_ok());
    }
}
