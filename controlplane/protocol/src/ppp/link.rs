//! One PPP link, from Dead to Network and back (RFC 1661 §3.2 phases):
//! LCP, then authentication, then IPCP and IPv6CP, with LCP Echo
//! keepalive and Protocol-Reject of what we do not speak. Server side for
//! the LNS, client side for the emulator's subscriber.
//!
//! Sans-IO: frames come in with [`Link::receive`] (PPP protocol and
//! information field) and go out as [`LinkOutput::Send`]; the owner
//! answers [`LinkOutput::Verify`] with [`Link::decide`] (AAA) and, on the
//! server, [`LinkOutput::Authenticated`] with [`Link::assign`] (addresses).
//! [`LinkOutput::Down`] comes exactly once, when the link is finished, with
//! the cause; the owner then clears the call (CDN with the RFC 3145 cause
//! from [`DownCause::ppp_cause`]).

use super::auth::{
    self, AuthClient, AuthServer, ClientOutput, Credentials, Decision, ServerOutput,
};
use super::automaton::{Automaton, Limits, Output};
use super::fsm::State;
use super::ipcp::{IpcpOption, IpcpPacket};
use super::ipv6cp::{Ipv6cpOption, Ipv6cpPacket};
use super::lcp::{AuthProtocol, LcpOption, LcpPacket};
use super::lcp_opts::{Lcp, LcpConfig, Side};
use super::ncp::{Ipcp, Ipv6cp};
use super::packet::{Body, Code, CpPacket, PppOption};
use crate::ppp::rng::LinkRng;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// PPP protocol numbers handled here.
pub mod proto {
    /// LCP.
    pub const LCP: u16 = 0xc021;
    /// IPCP.
    pub const IPCP: u16 = 0x8021;
    /// IPv6CP.
    pub const IPV6CP: u16 = 0x8057;
    /// IPv4 datagrams.
    pub const IPV4: u16 = 0x0021;
    /// IPv6 datagrams.
    pub const IPV6: u16 = 0x0057;
}

/// RFC 1661 §3.2 link phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No link.
    Dead,
    /// LCP negotiating.
    Establish,
    /// Authentication running.
    Authenticate,
    /// NCPs negotiating or open.
    Network,
    /// LCP terminating.
    Terminate,
}

/// Why a link ended: the link's own causes are the subscriber ones of
/// the one cause table (see [`crate::cause`]).
pub use crate::cause::DownCause;

/// What the link asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutput {
    /// Send a PPP frame: protocol and information field.
    Send {
        /// PPP protocol.
        protocol: u16,
        /// Information field.
        packet: Vec<u8>,
    },
    /// Judge these credentials; answer with [`Link::decide`].
    Verify(Credentials),
    /// Server: the peer is authenticated (user empty without auth); answer
    /// with [`Link::assign`].
    Authenticated {
        /// The user name.
        user: Vec<u8>,
    },
    /// An NCP opened: IPv4 with the peer's address, or IPv6 with the
    /// peer's interface identifier. Program the data plane.
    Up {
        /// IPCP opened with this peer address.
        ipv4: Option<Ipv4Addr>,
        /// IPv6CP opened with this peer interface identifier.
        ipv6: Option<[u8; 8]>,
    },
    /// No NCP is open any more (the peer closed them, or LCP is being
    /// renegotiated): stop forwarding; an [`LinkOutput::Up`] follows if
    /// they reopen.
    NetworkDown,
    /// The link is finished; remove the data-plane entry, release the
    /// address, clear the call.
    Down(DownCause),
}

/// What a LAC says about the LCP and authentication it already ran with
/// the subscriber (RFC 2661 §4.4.5, ICCN AVPs 26–33).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxy {
    /// Last Sent LCP CONFREQ (AVP 27): the LAC's options, now ours.
    pub last_sent: Vec<u8>,
    /// Last Received LCP CONFREQ (AVP 28): the subscriber's, acked.
    pub last_received: Vec<u8>,
    /// Proxied credentials, when the LAC collected them.
    pub credentials: Option<Credentials>,
    /// The identifier of the subscriber's authentication request (Proxy
    /// Authen ID, AVP 32): the verdict we send once the proxied
    /// credentials are judged answers it, since the subscriber is still
    /// waiting for one.
    pub auth_id: Option<u8>,
}

/// The LCP Configure-Requests of a link as a LAC reports them in proxy
/// LCP (RFC 2661 §4.4.5, AVPs 26–28): options only, without the LCP
/// header. The multi-hop gateway and the access role send these onward
/// once they know where the call goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyLcp {
    /// The subscriber's first Configure-Request (AVP 26).
    pub initial_received: Vec<u8>,
    /// Our last Configure-Request (AVP 27).
    pub last_sent: Vec<u8>,
    /// The subscriber's last Configure-Request (AVP 28).
    pub last_received: Vec<u8>,
}

/// Link settings.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// LCP options and side.
    pub lcp: LcpConfig,
    /// Restart timer and counters for LCP and the NCPs.
    pub limits: Limits,
    /// Seconds between LCP Echo-Requests once open (zero: no keepalive).
    pub echo_interval: Duration,
    /// Unanswered Echo-Requests before the peer is declared dead.
    pub echo_failures: u32,
    /// Skip an Echo-Request when the peer was heard from since the last
    /// one (pppd's `lcp-echo-adaptive`): any frame it sent other than
    /// the Echo-Reply to ours, or traffic the data plane counted
    /// ([`Link::heard`]), proves it alive. A peer that echoes too then
    /// costs one exchange per interval, not two.
    pub echo_adaptive: bool,
    /// Authentication retransmissions (CHAP challenge, PAP request).
    pub auth_tries: u32,
    /// Our name in CHAP challenges.
    pub name: Vec<u8>,
    /// Negotiate IPv6CP.
    pub ipv6: bool,
    /// Client: credentials.
    pub credentials: Option<(Vec<u8>, String)>,
    /// Time from start to the Network phase before the link gives up (a
    /// peer can otherwise keep LCP or authentication going forever, since
    /// every exchange it acknowledges restarts the RFC 1661 counters).
    pub setup_timeout: Duration,
    /// LCP resends its Configure-Request at once when the peer's first
    /// Configure-Request finds ours unanswered (see
    /// [`Automaton::resend_on_first_request`]): the LNS side, for LACs
    /// whose PPP attaches late.
    pub lcp_fast_start: bool,
    /// End a session after this long without traffic from the subscriber
    /// (RFC 2865 §5.28 Idle-Timeout, when RADIUS does not set one); the
    /// engine measures it from the data plane's counters.
    pub idle_timeout: Option<Duration>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            lcp: LcpConfig::default(),
            limits: Limits::default(),
            echo_interval: Duration::from_secs(30),
            echo_failures: 3,
            echo_adaptive: true,
            auth_tries: 10,
            name: b"xlns".to_vec(),
            ipv6: true,
            credentials: None,
            setup_timeout: Duration::from_secs(60),
            lcp_fast_start: false,
            idle_timeout: None,
        }
    }
}

#[derive(Debug)]
enum AuthSide {
    Server(AuthServer),
    Client(AuthClient),
}

/// One PPP link.
#[derive(Debug)]
pub struct Link {
    /// Shared by every link the engine makes from one configuration.
    cfg: Arc<LinkConfig>,
    rng: LinkRng,
    phase: Phase,
    lcp: Automaton<Lcp>,
    /// Boxed and dropped once an NCP opens: an up link needs none of it.
    auth: Option<Box<AuthSide>>,
    ipcp: Option<Automaton<Ipcp>>,
    /// Boxed: an IPv4-only link (most, and every one where `ipv6` is
    /// off) keeps no room for it (issue 18, memory per session).
    ipv6cp: Option<Box<Automaton<Ipv6cp>>>,
    ipv4_up: bool,
    ipv6_up: bool,
    /// The user authenticating, until `Authenticated` hands it over.
    user: Vec<u8>,
    echo_at: Option<Instant>,
    echo_unanswered: u32,
    echo_id: u8,
    /// Something other than an Echo-Reply came from the peer since the
    /// last Echo-Request was due.
    heard: bool,
    /// Why it is going down, once it is (boxed: rare, and a cause with
    /// text is 32 bytes).
    cause: Option<Box<DownCause>>,
    finished: bool,
    /// The pending Verify carries proxied credentials (no AuthServer).
    proxy_verify: bool,
    /// Give up unless the Network phase is reached by then.
    setup_at: Option<Instant>,
    /// The verdict to send for proxied credentials once accepted: the
    /// authentication protocol and the subscriber's identifier.
    proxy_verdict: Option<(u16, u8)>,
    /// LCP Configure-Requests as they went (see [`ProxyLcp`]).
    /// Until an NCP opens (the gateway and the access role read it before
    /// then); boxed so an up link keeps no room for it.
    proxy_lcp: Option<Box<ProxyLcp>>,
    out: super::Outbox<LinkOutput>,
}

fn encode<O: PppOption>(p: &CpPacket<O>) -> Option<Vec<u8>> {
    p.encode().ok()
}

impl Link {
    /// A link in Dead; `seed` drives Magic-Numbers and challenges.
    pub fn new(cfg: impl Into<Arc<LinkConfig>>, seed: u64) -> Self {
        let cfg = cfg.into();
        let mut rng = LinkRng::seed_from_u64(seed);
        let mut lcp = Automaton::new(Lcp::new(cfg.lcp.clone(), rng.next_u64()), cfg.limits, true);
        lcp.resend_on_first_request(cfg.lcp_fast_start);
        Link {
            cfg,
            rng,
            phase: Phase::Dead,
            lcp,
            auth: None,
            ipcp: None,
            ipv6cp: None,
            ipv4_up: false,
            ipv6_up: false,
            user: Vec::new(),
            echo_at: None,
            echo_unanswered: 0,
            echo_id: 0,
            heard: false,
            cause: None,
            finished: false,
            proxy_verify: false,
            setup_at: None,
            proxy_verdict: None,
            proxy_lcp: None,
            out: Default::default(),
        }
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// LCP's negotiator (agreed MRU, magic numbers, auth protocol).
    pub fn lcp(&self) -> &Lcp {
        &self.lcp.negotiator
    }

    /// The IPCP negotiator, once the Network phase started.
    pub fn ipcp(&self) -> Option<&Ipcp> {
        self.ipcp.as_ref().map(|a| &a.negotiator)
    }

    /// The IPv6CP negotiator, once the Network phase started.
    pub fn ipv6cp(&self) -> Option<&Ipv6cp> {
        self.ipv6cp.as_ref().map(|a| &a.negotiator)
    }

    /// Whether IPv6CP is open (IPv6 may cross the link, RFC 5072 §3).
    pub fn ipv6_open(&self) -> bool {
        self.ipv6_up
    }

    /// The link has ended ([`LinkOutput::Down`] was emitted).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The tunnel's call is up: the lower layer is up; open LCP (§3.2
    /// Establish).
    pub fn start(&mut self, now: Instant) {
        self.setup_at = Some(now + self.cfg.setup_timeout);
        self.phase = Phase::Establish;
        self.lcp.open(now);
        self.lcp.up(now);
        self.pump(now);
    }

    /// Server: the call came with proxy LCP. When the LAC's negotiation is
    /// one we would have agreed to, LCP starts Opened and, with proxied
    /// credentials of the agreed protocol, authentication is judged from
    /// them without a new challenge; otherwise (returned as `Err` with the
    /// reason) LCP is renegotiated from scratch, and authentication runs
    /// anew.
    pub fn start_proxied(&mut self, now: Instant, proxy: &Proxy) -> Result<(), String> {
        let decoded = super::packet::decode_options::<LcpOption>(&proxy.last_sent).and_then(|a| {
            Ok((
                a,
                super::packet::decode_options::<LcpOption>(&proxy.last_received)?,
            ))
        });
        let adopted = match decoded {
            Ok((ours, theirs)) => self.lcp.negotiator.adopt(&ours, &theirs),
            Err(_) => Err("proxy LCP options do not parse".to_string()),
        };
        if let Err(why) = adopted {
            self.start(now);
            return Err(why);
        }
        self.phase = Phase::Establish;
        self.setup_at = Some(now + self.cfg.setup_timeout);
        self.lcp.adopt_opened();
        let agreed = self.lcp.negotiator.auth.clone();
        let usable = match (&proxy.credentials, &agreed) {
            (Some(c @ Credentials::Pap { .. }), Some(AuthProtocol::Pap))
            | (Some(c @ Credentials::ChapMd5 { .. }), Some(AuthProtocol::ChapMd5)) => {
                Some(c.clone())
            }
            _ => None,
        };
        match usable {
            Some(c) => {
                self.prepare_up(now);
                self.phase = Phase::Authenticate;
                self.user = c.user().to_vec();
                self.proxy_verify = true;
                self.proxy_verdict = proxy.auth_id.map(|id| match &c {
                    Credentials::Pap { .. } => (auth::PAP, id),
                    _ => (auth::CHAP, id),
                });
                self.out.push(LinkOutput::Verify(c));
                self.pump(now);
            }
            // LCP adopted, authentication runs on it.
            None => {
                self.lcp_up(now);
                self.pump(now);
            }
        }
        Ok(())
    }

    /// Closes the link: LCP Terminate-Request, then Down with `cause`.
    pub fn close(&mut self, now: Instant, cause: DownCause) {
        self.cause.get_or_insert_with(|| Box::new(cause));
        self.phase = Phase::Terminate;
        self.lcp.close(now);
        self.pump(now);
    }

    /// The call is gone (CDN, tunnel down): finish at once.
    pub fn lower_down(&mut self, now: Instant, cause: DownCause) {
        self.cause.get_or_insert_with(|| Box::new(cause));
        self.lcp.down(now);
        self.lcp.close(now);
        self.pump(now);
        self.finish();
    }

    /// AAA's decision for the last [`LinkOutput::Verify`].
    pub fn decide(&mut self, now: Instant, decision: Decision) {
        if std::mem::take(&mut self.proxy_verify) {
            match decision {
                Decision::Accept { .. } => {
                    // RFC 1994 §4.3 / RFC 1334 §2.2.2: the subscriber
                    // still waits for the verdict on the request the LAC
                    // (or the multi-hop gateway) took; it is ours to send.
                    if let Some((protocol, id)) = self.proxy_verdict.take() {
                        let (method, packet) = if protocol == auth::PAP {
                            (AuthProtocol::Pap, vec![2, id, 0, 5, 0])
                        } else {
                            (AuthProtocol::ChapMd5, vec![3, id, 0, 4])
                        };
                        self.out.push(LinkOutput::Send {
                            protocol,
                            packet: packet.clone(),
                        });
                        // The verdict may be lost like any frame: the
                        // subscriber then repeats its request, which must
                        // get it again (see `AuthServer::decided`).
                        self.auth = Some(Box::new(AuthSide::Server(AuthServer::decided(
                            method, id, true, packet,
                        ))));
                    }
                    self.authenticated(now)
                }
                Decision::Reject { message } => {
                    self.close(now, DownCause::AuthFailed(message.into_owned()))
                }
            }
        } else if let Some(AuthSide::Server(a)) = self.auth.as_deref_mut() {
            a.decide(decision);
        }
        self.pump(now);
    }

    /// Server: addressing for the authenticated peer; starts IPCP (when
    /// `ipv4` is given: our address, the peer's, DNS) and IPv6CP (when
    /// `ipv6` is given: our and the peer's interface identifiers).
    pub fn assign(
        &mut self,
        now: Instant,
        ipv4: Option<(Ipv4Addr, Ipv4Addr, [Option<Ipv4Addr>; 2])>,
        ipv6: Option<([u8; 8], [u8; 8])>,
    ) {
        if self.phase != Phase::Network || self.ipcp.is_some() || self.ipv6cp.is_some() {
            return;
        }
        if let Some((local, peer, dns)) = ipv4 {
            self.ipcp = Some(Automaton::new(
                Ipcp::server(local, peer, dns),
                self.cfg.limits,
                false,
            ));
        }
        if let Some((local, peer)) = ipv6.filter(|_| self.cfg.ipv6) {
            self.ipv6cp = Some(Box::new(Automaton::new(
                Ipv6cp::server(local, peer),
                self.cfg.limits,
                false,
            )));
        }
        self.open_ncps(now);
    }

    fn open_ncps(&mut self, now: Instant) {
        if self.ipcp.is_none() && self.ipv6cp.is_none() {
            return self.close(now, DownCause::NcpFailed);
        }
        if let Some(a) = &mut self.ipcp {
            a.open(now);
            a.up(now);
        }
        if let Some(a) = &mut self.ipv6cp {
            a.open(now);
            a.up(now);
        }
        self.pump(now);
    }

    /// A PPP frame from the peer.
    pub fn receive(&mut self, now: Instant, protocol: u16, info: &[u8]) {
        if self.finished {
            return;
        }
        // The reply to our own Echo-Request is not news: counting it would
        // skip every other echo to a peer that sends nothing else.
        if protocol != proto::LCP || info.first() != Some(&(Code::EchoReply as u8)) {
            self.heard = true;
        }
        match protocol {
            proto::LCP => {
                let Ok(p) = LcpPacket::decode_lcp(info) else {
                    return;
                };
                if let Body::ConfigureRequest(_) = &p.body {
                    let opts = Self::cp_options(info);
                    let proxy = self.proxy_lcp.get_or_insert_default();
                    if proxy.initial_received.is_empty() {
                        proxy.initial_received = opts.clone();
                    }
                    proxy.last_received = opts;
                }
                match &p.body {
                    Body::EchoReply { .. } => self.echo_unanswered = 0,
                    Body::ProtocolReject { protocol, .. } => match *protocol {
                        // §5.7: the peer does not speak this NCP.
                        proto::IPCP => {
                            if let Some(a) = &mut self.ipcp {
                                a.protocol_rejected(now)
                            }
                        }
                        proto::IPV6CP => {
                            if let Some(a) = &mut self.ipv6cp {
                                a.protocol_rejected(now)
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
                self.lcp.receive(now, &p, info);
            }
            auth::PAP | auth::CHAP => match self.auth.as_deref_mut() {
                // §3.5: authentication packets outside the phase are
                // silently discarded, except that the authenticator keeps
                // answering a repeated request once in Network: its verdict
                // may have been lost on the way.
                Some(AuthSide::Server(a))
                    if matches!(self.phase, Phase::Authenticate | Phase::Network) =>
                {
                    a.receive(protocol, info)
                }
                Some(AuthSide::Client(a)) if self.phase == Phase::Authenticate => {
                    a.receive(now, protocol, info)
                }
                _ => {}
            },
            proto::IPCP => {
                if let (Some(a), Ok(p)) = (&mut self.ipcp, IpcpPacket::decode_ipcp(info)) {
                    a.receive(now, &p, info);
                }
            }
            proto::IPV6CP if self.cfg.ipv6 => {
                if let (Some(a), Ok(p)) = (&mut self.ipv6cp, Ipv6cpPacket::decode_ipv6cp(info)) {
                    a.receive(now, &p, info);
                }
            }
            // Network-layer datagrams are the data plane's; before the
            // NCP is open they are discarded (§3.4).
            proto::IPV4 | proto::IPV6 => {}
            _ => self.protocol_reject(protocol, info),
        }
        self.pump(now);
    }

    /// §5.7: unknown protocols are answered with LCP Protocol-Reject, only
    /// while LCP is Opened.
    fn protocol_reject(&mut self, protocol: u16, info: &[u8]) {
        if self.lcp.state() != State::Opened {
            return;
        }
        self.echo_id = self.echo_id.wrapping_add(1);
        let p = LcpPacket {
            identifier: self.echo_id,
            body: Body::ProtocolReject {
                protocol,
                // §5.7: truncated to fit the peer's MRU.
                information: info[..info
                    .len()
                    .min(usize::from(self.lcp.negotiator.peer_mru).saturating_sub(6))]
                    .to_vec(),
            },
        };
        if let Some(packet) = encode(&p) {
            self.out.push(LinkOutput::Send {
                protocol: proto::LCP,
                packet,
            });
        }
    }

    /// The options of a Configure-Request (RFC 1661 §5.1): what follows
    /// the 4-octet header, up to its Length.
    fn cp_options(packet: &[u8]) -> Vec<u8> {
        let len = packet
            .get(2..4)
            .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        packet
            .get(4..len.min(packet.len()))
            .unwrap_or_default()
            .to_vec()
    }

    /// The LCP negotiation as proxy LCP reports it, once LCP is Opened
    /// (see [`ProxyLcp`]).
    pub fn proxy_lcp(&self) -> Option<&ProxyLcp> {
        self.proxy_lcp
            .as_deref()
            .filter(|_| self.lcp.state() == State::Opened)
    }

    /// Server: the identifier of the subscriber's authentication request
    /// now being judged (a gateway passes it on as Proxy Authen ID).
    pub fn auth_id(&self) -> Option<u8> {
        match self.auth.as_deref() {
            Some(AuthSide::Server(a)) => a.deciding(),
            _ => None,
        }
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<LinkOutput> {
        self.out.pop(self.ipv4_up || self.ipv6_up)
    }

    /// Earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let auth = match self.auth.as_deref() {
            Some(AuthSide::Server(a)) => a.poll_timeout(),
            Some(AuthSide::Client(a)) => a.poll_timeout(),
            None => None,
        };
        [
            self.lcp.poll_timeout(),
            auth,
            self.ipcp.as_ref().and_then(Automaton::poll_timeout),
            self.ipv6cp.as_deref().and_then(Automaton::poll_timeout),
            self.echo_at,
            self.setup_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires due timers.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.lcp.on_timeout(now);
        match self.auth.as_deref_mut() {
            Some(AuthSide::Server(a)) => a.on_timeout(now),
            Some(AuthSide::Client(a)) => a.on_timeout(now),
            None => {}
        }
        if let Some(a) = &mut self.ipcp {
            a.on_timeout(now);
        }
        if let Some(a) = &mut self.ipv6cp {
            a.on_timeout(now);
        }
        if self.echo_at.is_some_and(|t| t <= now) {
            self.echo(now);
        }
        if self.setup_at.is_some_and(|t| t <= now) {
            self.setup_at = None;
            let cause = match self.phase {
                Phase::Authenticate => DownCause::AuthFailed("authentication took too long".into()),
                _ => DownCause::LcpNegotiation,
            };
            self.close(now, cause);
        }
        self.pump(now);
    }

    /// The peer discarded our frames so far: they left unsequenced and it
    /// turned out to sequence (a Linux LAC with `recv_seq`). LCP's fast
    /// start then resends our request at the peer's first one, even one
    /// that crossed ours.
    pub fn earlier_frames_discarded(&mut self) {
        self.lcp.presume_lost();
    }

    /// The peer was heard from outside this link: the data plane counted
    /// traffic from it. Counts as a received frame for adaptive echo.
    pub fn heard(&mut self) {
        self.heard = true;
    }

    fn echo(&mut self, now: Instant) {
        self.echo_at = None;
        if self.lcp.state() != State::Opened {
            return;
        }
        if std::mem::take(&mut self.heard) && self.cfg.echo_adaptive {
            self.echo_unanswered = 0;
            self.echo_at = Some(now + self.cfg.echo_interval);
            return;
        }
        if self.echo_unanswered >= self.cfg.echo_failures {
            return self.close(now, DownCause::EchoTimeout);
        }
        self.echo_unanswered += 1;
        self.echo_id = self.echo_id.wrapping_add(1);
        let p = LcpPacket {
            identifier: self.echo_id,
            body: Body::EchoRequest {
                magic: self.lcp.negotiator.magic.unwrap_or(0),
                data: Vec::new(),
            },
        };
        if let Some(packet) = encode(&p) {
            self.out.push(LinkOutput::Send {
                protocol: proto::LCP,
                packet,
            });
        }
        self.echo_at = Some(now + self.cfg.echo_interval);
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.phase = Phase::Dead;
        self.echo_at = None;
        self.setup_at = None;
        let cause = self.cause.take().map_or(DownCause::LcpNegotiation, |c| *c);
        self.out.push(LinkOutput::Down(cause));
    }

    /// Moves every sub-machine's outputs into ours, reacting to layer
    /// signals, until nothing changes.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(o) = self.lcp.poll_output() {
                moved = true;
                self.on_lcp(now, o);
            }
            moved |= self.pump_auth(now);
            moved |= self.pump_ncps(now);
            if !moved {
                break;
            }
        }
    }

    fn on_lcp(&mut self, now: Instant, o: Output<LcpOption>) {
        match o {
            Output::Send(p) => {
                if let Some(packet) = encode(&p) {
                    if packet.first() == Some(&1) {
                        self.proxy_lcp.get_or_insert_default().last_sent =
                            Self::cp_options(&packet);
                    }
                    self.out.push(LinkOutput::Send {
                        protocol: proto::LCP,
                        packet,
                    });
                }
            }
            Output::Up => self.lcp_up(now),
            Output::Down => {
                // LCP left Opened. If the peer is renegotiating (a new or
                // retransmitted Configure-Request, §4.1 Opened/RCR), the
                // link goes back to Establish and will authenticate again
                // (§3.2); the NCPs go down with it. A Terminate-Request
                // leads to Finished instead.
                if matches!(self.phase, Phase::Authenticate | Phase::Network) {
                    for a in self.ipcp.iter_mut() {
                        a.down(now);
                    }
                    for a in self.ipv6cp.iter_mut() {
                        a.down(now);
                    }
                    self.ipcp = None;
                    self.ipv6cp = None;
                    if std::mem::take(&mut self.ipv4_up) | std::mem::take(&mut self.ipv6_up) {
                        self.out.push(LinkOutput::NetworkDown);
                    }
                    self.auth = None;
                    self.proxy_verify = false;
                    self.echo_at = None;
                    self.phase = if self.lcp.state() == State::Stopping {
                        self.cause
                            .get_or_insert_with(|| Box::new(DownCause::PeerTerminated));
                        Phase::Terminate
                    } else {
                        Phase::Establish
                    };
                }
            }
            Output::Started => {}
            Output::Finished { .. } => {
                if self.lcp.negotiator.looped_back() {
                    self.cause
                        .get_or_insert_with(|| Box::new(DownCause::LoopedBack));
                }
                self.finish();
            }
        }
    }

    /// What LCP reaching Opened means for the link: Echo starts with our
    /// Magic-Number.
    fn prepare_up(&mut self, now: Instant) {
        if let Some(m) = self.lcp.negotiator.magic {
            self.lcp.set_magic(m);
        }
        if !self.cfg.echo_interval.is_zero() {
            self.echo_at = Some(now + self.cfg.echo_interval);
        }
    }

    fn lcp_up(&mut self, now: Instant) {
        if self.lcp.negotiator.looped_back() {
            return self.close(now, DownCause::LoopedBack);
        }
        self.prepare_up(now);
        self.phase = Phase::Authenticate;
        let side = self.cfg.lcp.side;
        let agreed = self.lcp.negotiator.auth.clone();
        let mut challenge = [0u8; 16];
        self.rng.fill_bytes(&mut challenge);
        match (side, agreed) {
            (Side::Server, Some(m)) => {
                self.auth = Some(Box::new(AuthSide::Server(AuthServer::start(
                    now,
                    m,
                    &self.cfg.name,
                    challenge,
                    self.cfg.limits.restart,
                    self.cfg.auth_tries,
                ))));
            }
            (Side::Server, None) if !self.cfg.lcp.auth.is_empty() => {
                self.close(now, DownCause::AuthRefused)
            }
            (Side::Server, None) => self.authenticated(now),
            (Side::Client, Some(m)) => {
                let (user, pw) = self.cfg.credentials.clone().unwrap_or_default();
                self.user = user.clone();
                self.auth = Some(Box::new(AuthSide::Client(AuthClient::start(
                    now,
                    m,
                    &user,
                    &pw,
                    challenge,
                    self.cfg.limits.restart,
                    self.cfg.auth_tries,
                ))));
            }
            (Side::Client, None) => self.authenticated(now),
        }
    }

    fn authenticated(&mut self, now: Instant) {
        // A verdict that arrives after LCP left Opened (renegotiation,
        // termination) opens nothing.
        if self.phase != Phase::Authenticate {
            return;
        }
        self.phase = Phase::Network;
        self.setup_at = None;
        match self.cfg.lcp.side {
            Side::Server => self.out.push(LinkOutput::Authenticated {
                user: std::mem::take(&mut self.user),
            }),
            Side::Client => {
                self.ipcp = Some(Automaton::new(Ipcp::client(), self.cfg.limits, false));
                if self.cfg.ipv6 {
                    let mut id = [0u8; 8];
                    self.rng.fill_bytes(&mut id);
                    id[0] |= 0x02;
                    self.ipv6cp = Some(Box::new(Automaton::new(
                        Ipv6cp::client(id),
                        self.cfg.limits,
                        false,
                    )));
                }
                self.open_ncps(now);
            }
        }
    }

    fn pump_auth(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let mut verdict: Option<Result<(), String>> = None;
        match self.auth.as_deref_mut() {
            Some(AuthSide::Server(a)) => {
                while let Some(o) = a.poll_output() {
                    moved = true;
                    match o {
                        ServerOutput::Send { protocol, packet } => {
                            self.out.push(LinkOutput::Send { protocol, packet })
                        }
                        ServerOutput::Verify(c) => {
                            self.user = c.user().to_vec();
                            self.out.push(LinkOutput::Verify(c));
                        }
                        ServerOutput::Success => verdict = Some(Ok(())),
                        ServerOutput::Failure(m) => verdict = Some(Err(m)),
                    }
                }
            }
            Some(AuthSide::Client(a)) => {
                while let Some(o) = a.poll_output() {
                    moved = true;
                    match o {
                        ClientOutput::Send { protocol, packet } => {
                            self.out.push(LinkOutput::Send { protocol, packet })
                        }
                        ClientOutput::Success => verdict = Some(Ok(())),
                        ClientOutput::Failure(m) => verdict = Some(Err(m)),
                    }
                }
            }
            None => {}
        }
        match verdict {
            Some(Ok(())) if self.phase == Phase::Authenticate => self.authenticated(now),
            Some(Err(m)) => self.close(now, DownCause::AuthFailed(m)),
            _ => {}
        }
        moved
    }

    fn pump_ncps(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let mut ncp_down = false;
        if let Some(a) = &mut self.ipcp {
            while let Some(o) = a.poll_output() {
                moved = true;
                match o {
                    Output::Send(p) => {
                        if let Some(packet) = encode::<IpcpOption>(&p) {
                            self.out.push(LinkOutput::Send {
                                protocol: proto::IPCP,
                                packet,
                            });
                        }
                    }
                    Output::Up => {
                        self.ipv4_up = true;
                        // The peer is in Network: it has our verdict, and
                        // a late request is discarded (RFC 1661 §3.5).
                        self.auth = None;
                        self.proxy_lcp = None;
                        let peer = match self.cfg.lcp.side {
                            Side::Server => a.negotiator.peer,
                            Side::Client => a.negotiator.local,
                        };
                        self.out.push(LinkOutput::Up {
                            ipv4: Some(peer),
                            ipv6: None,
                        });
                    }
                    Output::Down => {
                        self.ipv4_up = false;
                        if !self.ipv6_up {
                            self.out.push(LinkOutput::NetworkDown);
                        }
                    }
                    Output::Finished { .. } => ncp_down = true,
                    Output::Started => {}
                }
            }
        }
        if let Some(a) = &mut self.ipv6cp {
            while let Some(o) = a.poll_output() {
                moved = true;
                match o {
                    Output::Send(p) => {
                        if let Some(packet) = encode::<Ipv6cpOption>(&p) {
                            self.out.push(LinkOutput::Send {
                                protocol: proto::IPV6CP,
                                packet,
                            });
                        }
                    }
                    Output::Up => {
                        self.ipv6_up = true;
                        self.auth = None;
                        self.proxy_lcp = None;
                        let id = match self.cfg.lcp.side {
                            Side::Server => a.negotiator.peer,
                            Side::Client => a.negotiator.local,
                        };
                        self.out.push(LinkOutput::Up {
                            ipv4: None,
                            ipv6: Some(id),
                        });
                    }
                    Output::Down => {
                        self.ipv6_up = false;
                        if !self.ipv4_up {
                            self.out.push(LinkOutput::NetworkDown);
                        }
                    }
                    Output::Finished { .. } => ncp_down = true,
                    Output::Started => {}
                }
            }
        }
        if ncp_down && self.phase == Phase::Network {
            // A link with no open NCP carries nothing: end it.
            let any_alive = [
                self.ipcp.as_ref().map(Automaton::state),
                self.ipv6cp.as_deref().map(Automaton::state),
            ]
            .into_iter()
            .flatten()
            .any(|s| !matches!(s, State::Stopped | State::Closed));
            if !any_alive {
                self.close(now, DownCause::NcpFailed);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every session holds a Link: at 1,000,000 sessions each byte of it
    /// is a megabyte of lnsd's 2 KiB-a-session budget (issue 18; 1,814
    /// bytes a session measured, `bench/lnsd-memory`,
    /// `bench/results/2026-12-04-session-memory-amd.md`). A field that
    /// grows it must pay for itself elsewhere.
    #[test]
    fn a_link_stays_within_its_memory_budget() {
        assert!(
            std::mem::size_of::<Link>() <= 616,
            "Link is {} bytes",
            std::mem::size_of::<Link>()
        );
    }

    struct Pair {
        s: Link,
        c: Link,
        now: Instant,
        s_log: Vec<LinkOutput>,
        c_log: Vec<LinkOutput>,
        /// Drop everything the client sends (a dead subscriber).
        client_dead: bool,
    }

    fn server_cfg(auth: Vec<AuthProtocol>) -> LinkConfig {
        LinkConfig {
            lcp: LcpConfig {
                side: Side::Server,
                auth,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn client_cfg(auth: Vec<AuthProtocol>, pw: &str, ipv6: bool) -> LinkConfig {
        LinkConfig {
            lcp: LcpConfig {
                side: Side::Client,
                auth,
                ..Default::default()
            },
            ipv6,
            credentials: Some((b"alice".to_vec(), pw.to_string())),
            ..Default::default()
        }
    }

    const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 9);
    const GW: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

    impl Pair {
        fn new(s: LinkConfig, c: LinkConfig) -> Pair {
            let now = Instant::now();
            let mut p = Pair {
                s: Link::new(s, 1),
                c: Link::new(c, 2),
                now,
                s_log: vec![],
                c_log: vec![],
                client_dead: false,
            };
            p.s.start(now);
            p.c.start(now);
            p
        }

        /// Exchanges frames (answering AAA with password "pw") until quiet,
        /// then lets timers run for `time`.
        fn run(&mut self, time: Duration) {
            let end = self.now + time;
            loop {
                let mut moved = false;
                while let Some(o) = self.s.poll_output() {
                    moved = true;
                    match &o {
                        LinkOutput::Send { protocol, packet } => {
                            self.c.receive(self.now, *protocol, packet)
                        }
                        LinkOutput::Verify(c) => {
                            let d = auth::verify_with_password(c, b"pw");
                            self.s.decide(self.now, d);
                        }
                        LinkOutput::Authenticated { .. } => self.s.assign(
                            self.now,
                            Some((GW, SUB, [Some(Ipv4Addr::new(9, 9, 9, 9)), None])),
                            Some(([2, 0, 0, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0, 0, 77])),
                        ),
                        _ => {}
                    }
                    self.s_log.push(o);
                }
                while let Some(o) = self.c.poll_output() {
                    moved = true;
                    if let LinkOutput::Send { protocol, packet } = &o
                        && !self.client_dead
                    {
                        self.s.receive(self.now, *protocol, packet);
                    }
                    self.c_log.push(o);
                }
                if moved {
                    continue;
                }
                let next = [self.s.poll_timeout(), self.c.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= end => {
                        self.now = t;
                        self.s.on_timeout(t);
                        self.c.on_timeout(t);
                    }
                    _ => break,
                }
            }
        }
    }

    fn downs(log: &[LinkOutput]) -> Vec<DownCause> {
        log.iter()
            .filter_map(|o| match o {
                LinkOutput::Down(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn ups(log: &[LinkOutput]) -> (Option<Ipv4Addr>, Option<[u8; 8]>) {
        let mut r = (None, None);
        for o in log {
            if let LinkOutput::Up { ipv4, ipv6 } = o {
                r.0 = r.0.or(*ipv4);
                r.1 = r.1.or(*ipv6);
            }
        }
        r
    }

    #[test]
    fn subscriber_authenticates_and_gets_its_addresses_with_each_method() {
        for m in [
            AuthProtocol::Pap,
            AuthProtocol::ChapMd5,
            AuthProtocol::MsChapV2,
        ] {
            let mut p = Pair::new(
                server_cfg(vec![m.clone()]),
                client_cfg(vec![m.clone()], "pw", true),
            );
            p.run(Duration::from_secs(5));
            assert_eq!(p.s.phase(), Phase::Network, "{m:?}");
            assert_eq!(
                ups(&p.s_log),
                (Some(SUB), Some([2, 0, 0, 0, 0, 0, 0, 77])),
                "{m:?}"
            );
            assert_eq!(
                ups(&p.c_log),
                (Some(SUB), Some([2, 0, 0, 0, 0, 0, 0, 77])),
                "{m:?}"
            );
            assert_eq!(p.c.ipcp().unwrap().dns[0], Some(Ipv4Addr::new(9, 9, 9, 9)));
            assert!(downs(&p.s_log).is_empty());
        }
    }

    #[test]
    fn an_up_link_keeps_no_authentication_state_or_spare_buffers() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::ChapMd5]),
            client_cfg(vec![AuthProtocol::ChapMd5], "pw", true),
        );
        p.run(Duration::from_secs(5));
        assert_eq!(ups(&p.s_log), (Some(SUB), Some([2, 0, 0, 0, 0, 0, 0, 77])));
        assert!(p.s.auth.is_none() && p.c.auth.is_none());
        assert_eq!(p.s.out.0.capacity(), 0);
        // The subscriber's Response, repeated once both NCPs are open: it
        // has our Success (it is in Network), so this one is discarded.
        let response = p
            .c_log
            .iter()
            .find_map(|o| match o {
                LinkOutput::Send { protocol, packet }
                    if *protocol == auth::CHAP && packet[0] == 2 =>
                {
                    Some(packet.clone())
                }
                _ => None,
            })
            .expect("the subscriber answered the challenge");
        p.s.receive(p.now, auth::CHAP, &response);
        assert!(p.s.poll_output().is_none());
        assert_eq!(p.s.phase(), Phase::Network);
    }

    #[test]
    fn wrong_password_ends_both_sides() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::ChapMd5]),
            client_cfg(vec![AuthProtocol::ChapMd5], "nope", true),
        );
        p.run(Duration::from_secs(30));
        assert!(
            matches!(downs(&p.s_log)[..], [DownCause::AuthFailed(_)]),
            "{:?}",
            downs(&p.s_log)
        );
        assert_eq!(downs(&p.c_log).len(), 1);
        assert_eq!(ups(&p.s_log), (None, None));
    }

    /// The LCP Echo-Requests a side sent.
    fn echo_requests(log: &[LinkOutput]) -> usize {
        log.iter()
            .filter(|o| matches!(o, LinkOutput::Send { protocol: proto::LCP, packet } if packet[0] == Code::EchoRequest as u8))
            .count()
    }

    #[test]
    fn dead_subscriber_is_detected_by_echo() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::Pap]),
            client_cfg(vec![AuthProtocol::Pap], "pw", false),
        );
        p.run(Duration::from_secs(5));
        assert_eq!(ups(&p.s_log).0, Some(SUB));
        p.client_dead = true;
        p.run(Duration::from_secs(200));
        assert_eq!(downs(&p.s_log), vec![DownCause::EchoTimeout]);
        let echoes = echo_requests(&p.s_log);
        assert!(echoes >= 3, "{echoes} echo requests");
    }

    /// Brings a PAP link up between `server` and `client`, runs it 300 s
    /// more, and returns the Echo-Requests each side sent in those 300 s
    /// (the client's since the start); nobody may go down.
    fn echoes_in_300s(server: LinkConfig, client: LinkConfig) -> (usize, usize) {
        let mut p = Pair::new(server, client);
        p.run(Duration::from_secs(5));
        assert_eq!(ups(&p.s_log).0, Some(SUB));
        let before = echo_requests(&p.s_log);
        p.run(Duration::from_secs(300));
        assert!(downs(&p.s_log).is_empty());
        (echo_requests(&p.s_log) - before, echo_requests(&p.c_log))
    }

    /// pppd's `lcp-echo-adaptive`: while the subscriber's own
    /// Echo-Requests keep coming, ours are not needed; without the option
    /// both sides echo every interval. (A subscriber gone silent is still
    /// found: `dead_subscriber_is_detected_by_echo` runs adaptive.)
    #[test]
    fn adaptive_echo_is_quiet_while_the_peer_echoes() {
        let run = |adaptive: bool| {
            echoes_in_300s(
                LinkConfig {
                    echo_adaptive: adaptive,
                    ..server_cfg(vec![AuthProtocol::Pap])
                },
                LinkConfig {
                    echo_adaptive: false,
                    ..client_cfg(vec![AuthProtocol::Pap], "pw", false)
                },
            )
        };
        let (ours, theirs) = run(true);
        assert_eq!(ours, 0, "the subscriber echoed {theirs} times");
        assert!(theirs >= 9, "{theirs}");
        let (ours, _) = run(false);
        assert!(ours >= 9, "{ours}");
    }

    /// A subscriber that only answers (no echoes, no traffic) is echoed
    /// every interval even when adaptive: its Echo-Replies are answers to
    /// ours, not news, so none of ours is skipped.
    #[test]
    fn adaptive_echo_still_echoes_a_quiet_subscriber_every_interval() {
        let (ours, theirs) = echoes_in_300s(
            server_cfg(vec![AuthProtocol::Pap]),
            LinkConfig {
                echo_interval: Duration::ZERO,
                ..client_cfg(vec![AuthProtocol::Pap], "pw", false)
            },
        );
        // 300 s at the default 30 s interval; the first may be skipped
        // (the negotiation itself was hearing from the subscriber), none
        // after it.
        assert!((9..=10).contains(&ours), "{ours} echoes in 300 s");
        assert_eq!(theirs, 0);
    }

    #[test]
    fn client_without_ipv6_rejects_ipv6cp_and_ipv4_still_comes_up() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::Pap]),
            client_cfg(vec![AuthProtocol::Pap], "pw", false),
        );
        p.run(Duration::from_secs(5));
        assert_eq!(ups(&p.s_log), (Some(SUB), None));
        // The client Protocol-Rejected IPv6CP.
        assert!(p.c_log.iter().any(|o| matches!(
            o,
            LinkOutput::Send { protocol: proto::LCP, packet } if packet[0] == 8
        )));
        assert!(downs(&p.s_log).is_empty());
    }

    #[test]
    fn peer_terminate_and_local_close() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::Pap]),
            client_cfg(vec![AuthProtocol::Pap], "pw", true),
        );
        p.run(Duration::from_secs(5));
        let now = p.now;
        p.c.close(now, DownCause::HungUp);
        p.run(Duration::from_secs(10));
        assert_eq!(downs(&p.s_log), vec![DownCause::PeerTerminated]);
        assert_eq!(downs(&p.c_log), vec![DownCause::HungUp]);
        assert!(p.s.is_finished() && p.c.is_finished());
    }

    #[test]
    fn no_common_auth_protocol_is_refused() {
        let mut p = Pair::new(
            server_cfg(vec![AuthProtocol::MsChapV2]),
            client_cfg(vec![AuthProtocol::Pap], "pw", true),
        );
        p.run(Duration::from_secs(60));
        assert_eq!(downs(&p.s_log), vec![DownCause::AuthRefused]);
    }

    fn opts(o: &[LcpOption]) -> Vec<u8> {
        let mut v = Vec::new();
        crate::ppp::packet::encode_options(o, &mut v).unwrap();
        v
    }

    fn proxy(sent: &[LcpOption], received: &[LcpOption], creds: Option<Credentials>) -> Proxy {
        Proxy {
            last_sent: opts(sent),
            last_received: opts(received),
            credentials: creds,
            auth_id: None,
        }
    }

    fn outputs(l: &mut Link) -> Vec<LinkOutput> {
        std::iter::from_fn(|| l.poll_output()).collect()
    }

    fn sends(o: &[LinkOutput], protocol: u16) -> Vec<Vec<u8>> {
        o.iter()
            .filter_map(|x| match x {
                LinkOutput::Send {
                    protocol: p,
                    packet,
                } if *p == protocol => Some(packet.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn proxy_lcp_and_chap_accepted_without_renegotiation() {
        let now = Instant::now();
        let mut s = Link::new(
            server_cfg(vec![AuthProtocol::ChapMd5, AuthProtocol::Pap]),
            1,
        );
        let challenge = vec![5u8; 16];
        let creds = Credentials::ChapMd5 {
            user: b"alice".to_vec(),
            identifier: 7,
            challenge: challenge.clone(),
            response: crate::ppp::chap::md5_response(7, b"pw", &challenge),
        };
        let p = proxy(
            &[
                LcpOption::Mru(1500),
                LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                LcpOption::MagicNumber(0x1111_1111),
            ],
            &[
                LcpOption::Mru(1460),
                LcpOption::MagicNumber(0x2222_2222),
                LcpOption::Pfc,
            ],
            Some(creds.clone()),
        );
        assert_eq!(s.start_proxied(now, &p), Ok(()));
        let o = outputs(&mut s);
        assert!(
            sends(&o, proto::LCP).is_empty(),
            "no LCP renegotiation: {o:?}"
        );
        assert!(sends(&o, auth::CHAP).is_empty(), "no new challenge");
        assert_eq!(o, vec![LinkOutput::Verify(creds.clone())]);
        assert_eq!(s.lcp().peer_mru, 1460);
        assert!(s.lcp().peer_pfc);
        s.decide(now, auth::verify_with_password(&creds, b"pw"));
        let o = outputs(&mut s);
        assert_eq!(
            o,
            vec![LinkOutput::Authenticated {
                user: b"alice".to_vec()
            }]
        );
        s.assign(now, Some((GW, SUB, [None, None])), None);
        assert_eq!(sends(&outputs(&mut s), proto::IPCP).len(), 1);
        // Echo-Requests carry the Magic-Number the LAC negotiated.
        let t = s.poll_timeout().unwrap();
        s.on_timeout(t + Duration::from_secs(30));
        let echo = sends(&outputs(&mut s), proto::LCP);
        assert!(
            echo.iter()
                .any(|p| p[0] == 9 && p[4..8] == [0x11, 0x11, 0x11, 0x11])
        );
    }

    /// The Success for a proxied CHAP Response is ours to send (the
    /// gateway took the Response); when it is lost the subscriber sends its
    /// Response again and must get the Success again, or it waits in
    /// Authenticate and discards our IPCP for ever (seen through a
    /// multi-hop gateway whose data plane had not resolved the LAC yet).
    #[test]
    fn a_lost_success_for_proxied_chap_is_sent_again() {
        let now = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::ChapMd5]), 1);
        let challenge = vec![5u8; 16];
        let response = crate::ppp::chap::md5_response(7, b"pw", &challenge);
        let creds = Credentials::ChapMd5 {
            user: b"alice".to_vec(),
            identifier: 7,
            challenge,
            response,
        };
        let mut p = proxy(
            &[
                LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                LcpOption::MagicNumber(0x1111_1111),
            ],
            &[LcpOption::MagicNumber(0x2222_2222)],
            Some(creds.clone()),
        );
        p.auth_id = Some(7);
        assert_eq!(s.start_proxied(now, &p), Ok(()));
        outputs(&mut s);
        s.decide(now, auth::verify_with_password(&creds, b"pw"));
        let success = vec![3, 7, 0, 4];
        assert_eq!(sends(&outputs(&mut s), auth::CHAP), vec![success.clone()]);
        s.assign(now, Some((GW, SUB, [None, None])), None);
        outputs(&mut s);
        // That Success was lost: the subscriber repeats its Response.
        let repeat = |id: u8| {
            crate::ppp::chap::ChapPacket::Response {
                identifier: id,
                value: response.to_vec(),
                name: b"alice".to_vec(),
            }
            .encode()
            .unwrap()
        };
        s.receive(now, auth::CHAP, &repeat(7));
        assert_eq!(sends(&outputs(&mut s), auth::CHAP), vec![success]);
        // A Response to no challenge of ours gets nothing (RFC 1994 §4.1).
        s.receive(now, auth::CHAP, &repeat(8));
        assert!(sends(&outputs(&mut s), auth::CHAP).is_empty());
        assert_eq!(s.phase(), Phase::Network);
    }

    /// LCP adopted from proxy LCP, then renegotiated by the subscriber
    /// (a duplicated or late Configure-Request reaches it once Opened):
    /// our Configure-Request must be retransmitted like any other, not
    /// given up on at its first timeout (found by the gateway simulation
    /// over a lossy wire).
    #[test]
    fn lcp_adopted_from_proxy_renegotiates_with_its_full_retry_count() {
        let now = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::Pap]), 1);
        let creds = Credentials::Pap {
            user: b"alice".to_vec(),
            password: b"pw".to_vec(),
        };
        let mut p = proxy(
            &[
                LcpOption::AuthProtocol(AuthProtocol::Pap),
                LcpOption::MagicNumber(0x1111_1111),
            ],
            &[LcpOption::MagicNumber(0x2222_2222)],
            Some(creds.clone()),
        );
        p.auth_id = Some(181);
        assert_eq!(s.start_proxied(now, &p), Ok(()));
        s.decide(now, auth::verify_with_password(&creds, b"pw"));
        s.assign(now, Some((GW, SUB, [None, None])), None);
        outputs(&mut s);
        let req = LcpPacket {
            identifier: 3,
            body: Body::ConfigureRequest(vec![LcpOption::MagicNumber(0x2222_2222)].into()),
        }
        .encode()
        .unwrap();
        s.receive(now, proto::LCP, &req);
        let o = outputs(&mut s);
        let lcp = sends(&o, proto::LCP);
        assert_eq!(lcp.len(), 2, "our request and the ack: {o:?}");
        assert_eq!((lcp[0][0], lcp[1][0]), (1, 2));
        assert_eq!(s.phase(), Phase::Establish);
        // Every answer to our request is lost: it goes out ten times
        // (Max-Configure, RFC 1661 §4.6), then the link gives up.
        let mut sent = 1;
        while let Some(t) = s.poll_timeout() {
            s.on_timeout(t);
            let o = outputs(&mut s);
            sent += sends(&o, proto::LCP).iter().filter(|p| p[0] == 1).count();
            if o.iter().any(|x| matches!(x, LinkOutput::Down(_))) {
                break;
            }
        }
        assert_eq!(sent, 10);
    }

    #[test]
    fn proxy_lcp_with_a_wrong_password_fails() {
        let now = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::Pap]), 1);
        let creds = Credentials::Pap {
            user: b"alice".to_vec(),
            password: b"bad".to_vec(),
        };
        let p = proxy(
            &[
                LcpOption::AuthProtocol(AuthProtocol::Pap),
                LcpOption::MagicNumber(1),
            ],
            &[LcpOption::MagicNumber(2)],
            Some(creds.clone()),
        );
        s.start_proxied(now, &p).unwrap();
        outputs(&mut s);
        s.decide(now, auth::verify_with_password(&creds, b"pw"));
        let o = outputs(&mut s);
        // Terminate-Request goes out; the link ends with an auth failure.
        assert_eq!(sends(&o, proto::LCP)[0][0], 5);
        s.on_timeout(now + Duration::from_secs(10));
        s.on_timeout(now + Duration::from_secs(20));
        let o = outputs(&mut s);
        assert!(
            o.iter()
                .any(|x| matches!(x, LinkOutput::Down(DownCause::AuthFailed(_)))),
            "{o:?}"
        );
    }

    #[test]
    fn proxy_lcp_renegotiated_when_unacceptable() {
        let now = Instant::now();
        for (sent, received) in [
            // Subscriber MRU below our floor.
            (
                vec![LcpOption::AuthProtocol(AuthProtocol::ChapMd5)],
                vec![LcpOption::Mru(300)],
            ),
            // The LAC negotiated an auth protocol we do not allow.
            (
                vec![LcpOption::AuthProtocol(AuthProtocol::Pap)],
                vec![LcpOption::Mru(1500)],
            ),
            // No authentication at all, but we demand it.
            (vec![LcpOption::Mru(1500)], vec![LcpOption::Mru(1500)]),
        ] {
            let mut s = Link::new(server_cfg(vec![AuthProtocol::ChapMd5]), 1);
            let r = s.start_proxied(now, &proxy(&sent, &received, None));
            assert!(r.is_err());
            let o = outputs(&mut s);
            let lcp = sends(&o, proto::LCP);
            assert_eq!(lcp.len(), 1);
            assert_eq!(lcp[0][0], 1, "a fresh Configure-Request");
        }
    }

    #[test]
    fn proxy_lcp_without_credentials_reauthenticates_on_the_adopted_lcp() {
        let now = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::ChapMd5]), 1);
        let p = proxy(
            &[
                LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                LcpOption::MagicNumber(9),
            ],
            &[LcpOption::MagicNumber(10)],
            None,
        );
        s.start_proxied(now, &p).unwrap();
        let o = outputs(&mut s);
        assert!(sends(&o, proto::LCP).is_empty());
        assert_eq!(sends(&o, auth::CHAP).len(), 1, "a CHAP challenge");
        assert_eq!(s.phase(), Phase::Authenticate);
    }

    #[test]
    fn peer_that_never_answers_ends_with_lcp_negotiation_cause() {
        let start = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::Pap]), 1);
        s.start(start);
        let mut out = outputs(&mut s);
        while let Some(t) = s.poll_timeout() {
            s.on_timeout(t);
            out.extend(outputs(&mut s));
        }
        assert_eq!(sends(&out, proto::LCP).len(), 10, "Max-Configure requests");
        assert_eq!(
            out.last(),
            Some(&LinkOutput::Down(DownCause::LcpNegotiation))
        );
    }

    #[test]
    fn looped_back_link_ends_with_loop_cause() {
        let now = Instant::now();
        let mut s = Link::new(server_cfg(vec![AuthProtocol::Pap]), 1);
        s.start(now);
        let mut downs = Vec::new();
        for _ in 0..200 {
            let out = outputs(&mut s);
            if out.is_empty() {
                match s.poll_timeout() {
                    Some(t) => s.on_timeout(t),
                    None => break,
                }
                continue;
            }
            for o in out {
                match o {
                    // Everything we send comes straight back.
                    LinkOutput::Send { protocol, packet } => s.receive(now, protocol, &packet),
                    LinkOutput::Down(c) => downs.push(c),
                    _ => {}
                }
            }
        }
        assert_eq!(downs, vec![DownCause::LoopedBack]);
    }
}
