//! The RFC 1661 automaton at work: the §4.1 table ([`fsm::transition`])
//! plus the restart timer, the counters of §4.6 and the packets each
//! action sends. Generic over a [`Negotiator`], which is all that differs
//! between LCP, IPCP and IPv6CP (and between our server and client sides):
//! what we ask for, and what we accept from the peer.
//!
//! Sans-IO: [`Automaton::receive`] and the administrative calls take
//! `now`; packets to send and layer signals (This-Layer-Up/Down/Started/
//! Finished) come out of [`Automaton::poll_output`]; the restart timer is
//! [`Automaton::poll_timeout`] / [`Automaton::on_timeout`].
//!
//! Guarantees: replies carry the identifier of what they answer (§5);
//! Configure-Ack/Nak/Reject that do not match our outstanding request are
//! discarded (§5.2–§5.4); after Max-Failure Configure-Naks the peer's
//! unconverging options are rejected instead (§4.6); Max-Configure
//! unanswered requests end in This-Layer-Finished (TO-).
//!
//! [`fsm::transition`]: super::fsm::transition

use super::fsm::{Action, Event, State, transition};
use super::packet::{Body, CpPacket, Options, PppOption};
use std::time::{Duration, Instant};

/// Timers and counters (§4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Restart timer (default 3 s).
    pub restart: Duration,
    /// Max-Terminate (default 2).
    pub max_terminate: u32,
    /// Max-Configure (default 10).
    pub max_configure: u32,
    /// Max-Failure (default 5).
    pub max_failure: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            restart: Duration::from_secs(3),
            max_terminate: 2,
            max_configure: 10,
            max_failure: 5,
        }
    }
}

/// The verdict on a peer's Configure-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<O> {
    /// Every option acceptable (RCR+).
    Ack,
    /// Acceptable with other values: these, in a Configure-Nak (RCR-).
    Nak(Options<O>),
    /// These options are not negotiable at all (RCR-).
    Reject(Options<O>),
}

/// What one protocol (and side) negotiates.
pub trait Negotiator {
    /// The protocol's option type.
    type Opt: PppOption;
    /// The options of our next Configure-Request.
    fn request(&mut self) -> Options<Self::Opt>;
    /// Judges the peer's Configure-Request. With `may_nak` false
    /// (Max-Failure reached) a verdict of Nak must become Reject.
    fn judge(&mut self, options: &[Self::Opt], may_nak: bool) -> Verdict<Self::Opt>;
    /// The peer acknowledged our request; these are now in force.
    fn acked(&mut self, options: &[Self::Opt]);
    /// The peer suggested other values for these options.
    fn naked(&mut self, options: &[Self::Opt]);
    /// The peer refused these options; do not ask for them again.
    fn rejected(&mut self, options: &[Self::Opt]);
}

/// What the automaton asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<O> {
    /// Send this packet on the protocol.
    Send(CpPacket<O>),
    /// tlu: the layer is up.
    Up,
    /// tld: the layer is going down.
    Down,
    /// tls: the layer needs the lower layer.
    Started,
    /// tlf: the layer no longer needs the lower layer; `exhausted` when the
    /// restart counter ran out (the peer never answered, §4.6).
    Finished {
        /// Max-Configure or Max-Terminate ran out.
        exhausted: bool,
    },
}

/// How soon after our Configure-Request the peer's first one may
/// come and still be taken as crossing ours rather than as a sign that
/// ours was lost ([`Automaton::resend_on_first_request`]). A peer whose
/// PPP runs before the call connects sends its request with the ICCN, so
/// it arrives within the time the LNS takes between the two datagrams
/// (microseconds; a batch of datagrams under a setup storm); a LAC that
/// attaches PPP afterwards takes at least the start of a process (pppd),
/// and loses ours only when that start is longer than a round trip.
pub const CROSSING: Duration = Duration::from_millis(2);

/// One protocol's automaton.
#[derive(Debug)]
pub struct Automaton<N: Negotiator> {
    /// The negotiator (options in force live there).
    pub negotiator: N,
    limits: Limits,
    state: State,
    restart_count: u32,
    /// Configure-Naks sent since the last Configure-Ack we sent.
    failures: u32,
    timer: Option<Instant>,
    next_id: u8,
    /// Identifier and options of our outstanding Configure-Request.
    /// Kept on the heap, exactly sized: it lives as long as the link, and
    /// a list held inline would cost every session room for four options.
    request: Option<(u8, Box<[N::Opt]>)>,
    extended: bool,
    magic: u32,
    /// Retransmit our Configure-Request at once when the peer's first
    /// packet is a Configure-Request, comes [`CROSSING`] or more after
    /// ours, and ours is unanswered.
    resend_on_first_request: bool,
    /// The peer discarded what we sent so far (see
    /// [`Automaton::presume_lost`]).
    presumed_lost: bool,
    /// Something of this protocol came from the peer.
    heard: bool,
    out: super::Outbox<Output<N::Opt>>,
}

/// The packet an event came with, so actions can answer it.
#[derive(Debug)]
struct Context<'a, O> {
    received: Option<&'a CpPacket<O>>,
    raw: Option<&'a [u8]>,
    verdict: Option<Verdict<O>>,
}

impl<N: Negotiator> Automaton<N> {
    /// A new automaton in Initial. `extended` for LCP (Echo, Discard,
    /// Protocol-Reject); `magic` is our Magic-Number for Echo-Reply.
    pub fn new(negotiator: N, limits: Limits, extended: bool) -> Self {
        Automaton {
            negotiator,
            limits,
            state: State::Initial,
            restart_count: 0,
            failures: 0,
            timer: None,
            next_id: 1,
            request: None,
            extended,
            magic: 0,
            resend_on_first_request: false,
            presumed_lost: false,
            heard: false,
            out: Default::default(),
        }
    }

    /// When the peer's first packet is a Configure-Request while ours is
    /// unanswered in Req-Sent, and it came [`CROSSING`] or more after
    /// ours left, send ours again before answering (a TO+ ahead of time,
    /// §4.1). The peer was not listening when ours left: a LAC whose PPP
    /// attaches to the call after it connected (xl2tpd starts pppd after
    /// the ICCN) loses our first request, and without this the link
    /// waits a whole restart timer (3 s). A request that comes sooner
    /// crossed ours: the peer sent it with the ICCN, before ours could
    /// reach it, so it was listening and ours is on its way; resending
    /// would cost two datagrams a session (ours and the peer's second
    /// Ack) for nothing. Sending ours before our Configure-Ack keeps a
    /// peer that gets both of our requests from renegotiating: it sees
    /// both before it opens, and our first one's Ack no longer matches
    /// (§5.2).
    pub fn resend_on_first_request(&mut self, on: bool) {
        self.resend_on_first_request = on;
    }

    /// What we sent so far is taken as discarded by the peer (it left
    /// without the sequence numbers the peer turned out to require), so
    /// [`Automaton::resend_on_first_request`] resends ours at the peer's
    /// first request however soon it comes.
    pub fn presume_lost(&mut self) {
        self.presumed_lost = true;
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Sets the Magic-Number our Echo-Replies carry (LCP, once negotiated).
    pub fn set_magic(&mut self, magic: u32) {
        self.magic = magic;
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<Output<N::Opt>> {
        self.out.pop(self.state == State::Opened)
    }

    /// When the restart timer fires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Starts directly in Opened with options negotiated elsewhere (RFC
    /// 2661 §4.4.5 proxy LCP: the LAC already ran LCP with the peer). The
    /// negotiator must already hold those options. No This-Layer-Up is
    /// emitted: the caller is the one deciding the layer is up.
    ///
    /// The restart counter is left as the RFC 1661 table leaves it on the
    /// way into Opened (RCA in Ack-Sent is irc,tlu): full. Opened+RCR is
    /// tld,scr,sca with no irc, so a renegotiation the peer starts later
    /// runs on this count; at zero the first lost Configure-Request would
    /// end the link at once.
    pub fn adopt_opened(&mut self) {
        self.state = State::Opened;
        self.timer = None;
        self.restart_count = self.limits.max_configure;
    }

    /// Administrative Open.
    pub fn open(&mut self, now: Instant) {
        self.event(now, Event::Open, Context::none());
    }

    /// Administrative Close.
    pub fn close(&mut self, now: Instant) {
        self.event(now, Event::Close, Context::none());
    }

    /// The lower layer is up.
    pub fn up(&mut self, now: Instant) {
        self.event(now, Event::Up, Context::none());
    }

    /// The lower layer is down.
    pub fn down(&mut self, now: Instant) {
        self.event(now, Event::Down, Context::none());
    }

    /// A Protocol-Reject of this protocol arrived on LCP (RXJ-): the peer
    /// does not speak it (§5.7).
    pub fn protocol_rejected(&mut self, now: Instant) {
        self.event(now, Event::RxjMinus, Context::none());
    }

    /// Fires the restart timer if due (TO+ or TO-).
    pub fn on_timeout(&mut self, now: Instant) {
        if self.timer.is_none_or(|t| t > now) {
            return;
        }
        self.timer = None;
        let e = if self.restart_count > 0 {
            Event::TimeoutPlus
        } else {
            Event::TimeoutMinus
        };
        self.event(now, e, Context::none());
    }

    /// A packet of this protocol arrived; `raw` is its bytes (for a
    /// Code-Reject of an unknown code).
    pub fn receive(&mut self, now: Instant, packet: &CpPacket<N::Opt>, raw: &[u8]) {
        let first = !std::mem::replace(&mut self.heard, true);
        if first
            && self.resend_on_first_request
            && matches!(packet.body, Body::ConfigureRequest(_))
            && self.state == State::ReqSent
            && self.request.is_some()
            && self.restart_count > 0
            && (self.presumed_lost || self.request_age(now).is_some_and(|age| age >= CROSSING))
        {
            self.event(now, Event::TimeoutPlus, Context::none());
        }
        let mut ctx = Context {
            received: Some(packet),
            raw: Some(raw),
            verdict: None,
        };
        let event = match &packet.body {
            Body::ConfigureRequest(opts) => {
                let may_nak = self.failures < self.limits.max_failure;
                let v = self.negotiator.judge(opts, may_nak);
                let v = match v {
                    // §4.6 Max-Failure: naks become rejects.
                    Verdict::Nak(o) if !may_nak => Verdict::Reject(o),
                    v => v,
                };
                let e = if v == Verdict::Ack {
                    Event::RcrPlus
                } else {
                    Event::RcrMinus
                };
                ctx.verdict = Some(v);
                e
            }
            Body::ConfigureAck(opts) => {
                // §5.2: must match our outstanding request exactly.
                match self.request.take() {
                    Some((id, sent)) if id == packet.identifier && *sent == opts[..] => {
                        // Answered: a duplicate of this Ack must not count
                        // again (it would renegotiate an open link).
                        self.negotiator.acked(&sent);
                        Event::Rca
                    }
                    other => {
                        self.request = other;
                        return;
                    }
                }
            }
            Body::ConfigureNak(opts) | Body::ConfigureReject(opts) => {
                match &self.request {
                    Some((id, _)) if *id == packet.identifier => self.request = None,
                    _ => return,
                }
                if matches!(packet.body, Body::ConfigureNak(_)) {
                    self.negotiator.naked(opts);
                } else {
                    self.negotiator.rejected(opts);
                }
                Event::Rcn
            }
            Body::TerminateRequest(_) => Event::Rtr,
            Body::TerminateAck(_) => Event::Rta,
            Body::CodeReject(rejected) => {
                // §5.6: rejecting one of the codes every implementation
                // must know is catastrophic; an extension code is not.
                match rejected.first().copied() {
                    Some(1..=7) | None => Event::RxjMinus,
                    Some(_) => Event::RxjPlus,
                }
            }
            // LCP's Protocol-Reject is routed by the LCP layer; for the
            // automaton itself it is a permitted reject.
            Body::ProtocolReject { .. } => Event::RxjPlus,
            Body::EchoRequest { .. } | Body::EchoReply { .. } | Body::DiscardRequest { .. } => {
                Event::Rxr
            }
            Body::Unknown { .. } => Event::Ruc,
        };
        self.event(now, event, ctx);
    }

    fn event(&mut self, now: Instant, event: Event, ctx: Context<'_, N::Opt>) {
        let Some((actions, next)) = transition(self.state, event) else {
            return;
        };
        // irc sets Max-Terminate when a Terminate-Request follows, else
        // Max-Configure (§4.4).
        let terminating = actions.contains(&Action::Str);
        let exhausted = event == Event::TimeoutMinus;
        for &a in actions {
            self.act(now, a, terminating, exhausted, &ctx);
        }
        self.state = next;
        // §4.1: the timer stops on entering a state where it does not run.
        if !next.timer_runs() {
            self.timer = None;
        }
    }

    /// How long ago our latest Configure-Request left, while its restart
    /// timer runs (Req-Sent sets the timer only when it sends one). Read
    /// off the timer, so a session holds no instant more for it.
    fn request_age(&self, now: Instant) -> Option<Duration> {
        let sent = self.timer?.checked_sub(self.limits.restart)?;
        Some(now.saturating_duration_since(sent))
    }

    fn start_timer(&mut self, now: Instant) {
        self.timer = Some(now + self.limits.restart);
    }

    fn id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn act(
        &mut self,
        now: Instant,
        a: Action,
        terminating: bool,
        exhausted: bool,
        ctx: &Context<'_, N::Opt>,
    ) {
        match a {
            Action::Tlu => self.out.push(Output::Up),
            Action::Tld => self.out.push(Output::Down),
            Action::Tls => self.out.push(Output::Started),
            Action::Tlf => self.out.push(Output::Finished { exhausted }),
            Action::Irc => {
                self.restart_count = if terminating {
                    self.limits.max_terminate
                } else {
                    self.limits.max_configure
                };
            }
            Action::Zrc => {
                self.restart_count = 0;
                self.start_timer(now);
            }
            Action::Scr => {
                let id = self.id();
                let opts = self.negotiator.request();
                self.request = Some((id, opts[..].into()));
                self.restart_count = self.restart_count.saturating_sub(1);
                self.start_timer(now);
                self.send(id, Body::ConfigureRequest(opts));
            }
            Action::Sca => {
                if let Some(p) = ctx.received
                    && let Body::ConfigureRequest(opts) = &p.body
                {
                    self.failures = 0;
                    self.send(p.identifier, Body::ConfigureAck(opts.clone()));
                }
            }
            Action::Scn => {
                if let (Some(p), Some(v)) = (ctx.received, &ctx.verdict) {
                    match v {
                        Verdict::Nak(o) => {
                            self.failures += 1;
                            self.send(p.identifier, Body::ConfigureNak(o.clone()));
                        }
                        Verdict::Reject(o) => {
                            self.send(p.identifier, Body::ConfigureReject(o.clone()))
                        }
                        Verdict::Ack => {}
                    }
                }
            }
            Action::Str => {
                let id = self.id();
                self.restart_count = self.restart_count.saturating_sub(1);
                self.start_timer(now);
                self.send(id, Body::TerminateRequest(Vec::new()));
            }
            Action::Sta => {
                // §5.5: the Terminate-Ack echoes the request's identifier;
                // one sent unprompted (e.g. in Closed) answers whatever came.
                let id = ctx.received.map_or_else(|| self.id(), |p| p.identifier);
                self.send(id, Body::TerminateAck(Vec::new()));
            }
            Action::Scj => {
                let id = self.id();
                // §5.6: the rejected packet, truncated to fit the MRU
                // (the default 1500 less our own header).
                let raw = ctx.raw.unwrap_or_default();
                let rejected = raw[..raw.len().min(1496)].to_vec();
                self.send(id, Body::CodeReject(rejected));
            }
            Action::Ser => {
                if self.extended
                    && let Some(p) = ctx.received
                    && let Body::EchoRequest { data, .. } = &p.body
                {
                    let body = Body::EchoReply {
                        magic: self.magic,
                        data: data.clone(),
                    };
                    self.send(p.identifier, body);
                }
            }
        }
    }

    fn send(&mut self, identifier: u8, body: Body<N::Opt>) {
        self.out.push(Output::Send(CpPacket { identifier, body }));
    }
}

impl<O> Context<'_, O> {
    fn none() -> Self {
        Context {
            received: None,
            raw: None,
            verdict: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::lcp::LcpOption;

    /// Asks for MRU `want`; accepts a peer MRU of at least `min_peer_mru`,
    /// naking lower ones up to that value.
    #[derive(Debug)]
    struct Mru {
        want: u16,
        min_peer_mru: u16,
        agreed: Option<u16>,
    }

    impl Negotiator for Mru {
        type Opt = LcpOption;
        fn request(&mut self) -> Options<LcpOption> {
            vec![LcpOption::Mru(self.want)].into()
        }
        fn judge(&mut self, options: &[LcpOption], may_nak: bool) -> Verdict<LcpOption> {
            for o in options {
                if let LcpOption::Mru(m) = o
                    && *m < self.min_peer_mru
                {
                    return if may_nak {
                        Verdict::Nak(vec![LcpOption::Mru(self.min_peer_mru)].into())
                    } else {
                        Verdict::Reject(vec![o.clone()].into())
                    };
                }
            }
            Verdict::Ack
        }
        fn acked(&mut self, options: &[LcpOption]) {
            if let Some(LcpOption::Mru(m)) = options.first() {
                self.agreed = Some(*m);
            }
        }
        fn naked(&mut self, options: &[LcpOption]) {
            if let Some(LcpOption::Mru(m)) = options.first() {
                self.want = *m;
            }
        }
        fn rejected(&mut self, _: &[LcpOption]) {}
    }

    fn auto(want: u16, min: u16) -> Automaton<Mru> {
        Automaton::new(
            Mru {
                want,
                min_peer_mru: min,
                agreed: None,
            },
            Limits::default(),
            true,
        )
    }

    fn drain(a: &mut Automaton<Mru>) -> Vec<Output<LcpOption>> {
        std::iter::from_fn(|| a.poll_output()).collect()
    }

    fn sent(out: &[Output<LcpOption>]) -> Vec<CpPacket<LcpOption>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Runs two automata against each other until quiet.
    /// Configure-Requests among `out`'s packets.
    fn requests(out: &[Output<LcpOption>]) -> usize {
        sent(out)
            .iter()
            .filter(|p| matches!(p.body, Body::ConfigureRequest(_)))
            .count()
    }

    fn converse(
        a: &mut Automaton<Mru>,
        b: &mut Automaton<Mru>,
        now: Instant,
    ) -> (Vec<Output<LcpOption>>, Vec<Output<LcpOption>>) {
        let (mut la, mut lb) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let oa = drain(a);
            let ob = drain(b);
            if oa.is_empty() && ob.is_empty() {
                break;
            }
            for p in sent(&oa) {
                b.receive(now, &p, &p.encode().unwrap());
            }
            for p in sent(&ob) {
                a.receive(now, &p, &p.encode().unwrap());
            }
            la.extend(oa);
            lb.extend(ob);
        }
        (la, lb)
    }

    #[test]
    fn a_lost_first_request_is_resent_on_the_peers_first_request() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        a.resend_on_first_request(true);
        a.open(now);
        a.up(now);
        // Our first request is lost: the peer was not listening yet, and
        // its PPP starts 200 ms later.
        drain(&mut a);
        let later = now + Duration::from_millis(200);
        let mut b = auto(1500, 0);
        b.open(later);
        b.up(later);
        let (la, lb) = converse(&mut a, &mut b, later);
        assert_eq!(a.state(), State::Opened, "without waiting for the timer");
        assert_eq!(b.state(), State::Opened);
        // Ours went again before our Configure-Ack of theirs.
        let out = sent(&la);
        assert!(matches!(out[0].body, Body::ConfigureRequest(_)), "{out:?}");
        assert!(matches!(out[1].body, Body::ConfigureAck(_)), "{out:?}");
        assert_eq!(la.iter().filter(|o| **o == Output::Up).count(), 1);
        assert_eq!(lb.iter().filter(|o| **o == Output::Up).count(), 1);
    }

    #[test]
    fn a_request_that_crossed_ours_is_answered_without_resending_ours() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        let mut b = auto(1500, 0);
        a.resend_on_first_request(true);
        for x in [&mut a, &mut b] {
            x.open(now);
            x.up(now);
        }
        // The peer's request comes within CROSSING of ours: it was sent
        // before ours could reach the peer, so ours is not lost.
        let (la, lb) = converse(&mut a, &mut b, now + CROSSING / 2);
        assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
        assert_eq!(requests(&la), 1, "{la:?}");
        assert_eq!(requests(&lb), 1, "{lb:?}");
    }

    #[test]
    fn crossed_first_requests_do_not_renegotiate() {
        let now = Instant::now();
        // Both ends resend on the other's first request (it came later
        // than CROSSING), and both first requests arrive: each sees two
        // of the other's requests before it opens, and neither goes down
        // again.
        let mut a = auto(1500, 0);
        let mut b = auto(1400, 0);
        for x in [&mut a, &mut b] {
            x.resend_on_first_request(true);
            x.open(now);
            x.up(now);
        }
        let (la, lb) = converse(&mut a, &mut b, now + 2 * CROSSING);
        assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
        for l in [&la, &lb] {
            assert_eq!(l.iter().filter(|o| **o == Output::Up).count(), 1);
            assert!(!l.contains(&Output::Down), "{l:?}");
            assert_eq!(requests(l), 2, "each end resent its request: {l:?}");
        }
        assert_eq!(a.negotiator.agreed, Some(1500));
        assert_eq!(b.negotiator.agreed, Some(1400));
    }

    #[test]
    fn two_ends_negotiate_with_a_nak_and_open() {
        let now = Instant::now();
        // a wants MRU 1000 but b insists on at least 1400.
        let mut a = auto(1000, 0);
        let mut b = auto(1500, 1400);
        for x in [&mut a, &mut b] {
            x.open(now);
            x.up(now);
        }
        let (la, lb) = converse(&mut a, &mut b, now);
        assert_eq!(a.state(), State::Opened);
        assert_eq!(b.state(), State::Opened);
        assert!(la.contains(&Output::Up) && lb.contains(&Output::Up));
        assert_eq!(a.negotiator.agreed, Some(1400));
        assert_eq!(b.negotiator.agreed, Some(1500));
        assert!(a.poll_timeout().is_none(), "timer stops in Opened");
    }

    #[test]
    fn peer_that_never_answers_gives_up_after_max_configure() {
        let start = Instant::now();
        let mut a = auto(1500, 0);
        a.open(start);
        a.up(start);
        let mut requests = sent(&drain(&mut a)).len();
        let mut now = start;
        let mut finished = None;
        while let Some(t) = a.poll_timeout() {
            now = t;
            a.on_timeout(now);
            let out = drain(&mut a);
            requests += sent(&out).len();
            if let Some(Output::Finished { exhausted }) =
                out.iter().find(|o| matches!(o, Output::Finished { .. }))
            {
                finished = Some(*exhausted);
            }
        }
        assert_eq!(requests, 10, "Max-Configure requests");
        assert_eq!(finished, Some(true));
        assert_eq!(a.state(), State::Stopped);
        assert_eq!(now - start, Duration::from_secs(30));
    }

    #[test]
    fn nak_loop_turns_into_reject_after_max_failure() {
        let now = Instant::now();
        let mut a = auto(1500, 1400);
        a.open(now);
        a.up(now);
        drain(&mut a);
        // A stubborn peer keeps asking for MRU 500.
        let mut kinds = Vec::new();
        for id in 0..7u8 {
            let req = CpPacket {
                identifier: id,
                body: Body::ConfigureRequest(vec![LcpOption::Mru(500)].into()),
            };
            a.receive(now, &req, &req.encode().unwrap());
            for p in sent(&drain(&mut a)) {
                assert_eq!(p.identifier, id);
                kinds.push(p.code());
            }
        }
        assert_eq!(kinds, vec![3, 3, 3, 3, 3, 4, 4], "5 Naks, then Rejects");
    }

    #[test]
    fn close_terminates_and_peer_terminate_is_acked() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        let mut b = auto(1500, 0);
        for x in [&mut a, &mut b] {
            x.open(now);
            x.up(now);
        }
        converse(&mut a, &mut b, now);
        a.close(now);
        let (la, lb) = converse(&mut a, &mut b, now);
        assert!(la.contains(&Output::Down));
        assert!(la.contains(&Output::Finished { exhausted: false }));
        assert_eq!(a.state(), State::Closed);
        assert!(lb.contains(&Output::Down));
        assert_eq!(b.state(), State::Stopping);
        // b leaves Stopping when its zeroed restart timer fires.
        let t = b.poll_timeout().unwrap();
        b.on_timeout(t);
        assert_eq!(b.state(), State::Stopped);
        assert!(drain(&mut b).contains(&Output::Finished { exhausted: true }));
    }

    #[test]
    fn unknown_code_is_code_rejected_and_echo_answered_only_when_open() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        a.set_magic(0x1234_5678);
        a.open(now);
        a.up(now);
        drain(&mut a);
        let raw = [0x42, 7, 0, 6, 0xaa, 0xbb];
        let p = CpPacket::<LcpOption>::decode(&raw, true).unwrap();
        a.receive(now, &p, &raw);
        let out = sent(&drain(&mut a));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body, Body::CodeReject(raw.to_vec()));
        let echo = CpPacket {
            identifier: 9,
            body: Body::EchoRequest {
                magic: 1,
                data: vec![1, 2, 3],
            },
        };
        a.receive(now, &echo, &echo.encode().unwrap());
        assert!(sent(&drain(&mut a)).is_empty(), "no reply before Opened");
        let mut b = auto(1500, 0);
        b.open(now);
        b.up(now);
        converse(&mut a, &mut b, now);
        // a's first request was drained above (lost): the restart timer
        // sends it again.
        let t = a.poll_timeout().unwrap();
        a.on_timeout(t);
        converse(&mut a, &mut b, t);
        assert_eq!(a.state(), State::Opened);
        a.receive(now, &echo, &echo.encode().unwrap());
        let out = sent(&drain(&mut a));
        assert_eq!(
            out,
            vec![CpPacket {
                identifier: 9,
                body: Body::EchoReply {
                    magic: 0x1234_5678,
                    data: vec![1, 2, 3]
                }
            }]
        );
    }

    #[test]
    fn replies_to_other_requests_are_discarded() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        a.open(now);
        a.up(now);
        let req = sent(&drain(&mut a)).remove(0);
        // Wrong identifier, or options other than we sent: not an ack.
        for bad in [
            CpPacket {
                identifier: req.identifier.wrapping_add(1),
                body: Body::ConfigureAck(vec![LcpOption::Mru(1500)].into()),
            },
            CpPacket {
                identifier: req.identifier,
                body: Body::ConfigureAck(vec![LcpOption::Mru(1400)].into()),
            },
        ] {
            a.receive(now, &bad, &bad.encode().unwrap());
            assert_eq!(a.state(), State::ReqSent);
        }
        let good = CpPacket {
            identifier: req.identifier,
            body: Body::ConfigureAck(vec![LcpOption::Mru(1500)].into()),
        };
        a.receive(now, &good, &good.encode().unwrap());
        assert_eq!(a.state(), State::AckRcvd);
    }

    #[test]
    fn catastrophic_code_reject_finishes_the_layer() {
        let now = Instant::now();
        let mut a = auto(1500, 0);
        a.open(now);
        a.up(now);
        drain(&mut a);
        // The peer Code-Rejects our Configure-Request: it cannot do PPP.
        let cj = CpPacket::<LcpOption> {
            identifier: 1,
            body: Body::CodeReject(vec![1, 1, 0, 4]),
        };
        a.receive(now, &cj, &cj.encode().unwrap());
        assert_eq!(a.state(), State::Stopped);
        assert!(drain(&mut a).contains(&Output::Finished { exhausted: false }));
    }
}
