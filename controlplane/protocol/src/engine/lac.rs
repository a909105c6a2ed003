//! The LAC and subscriber side, sans-IO: the L2TP endpoint in the LAC role
//! with a client PPP link per call. The emulator (`lns-bench`) and the
//! end-to-end simulations use it to stand in for an access concentrator
//! full of subscribers.
//!
//! [`Lac::place_call`] offers a call (ICRQ) for one subscriber with its
//! credentials; when the LNS accepts, the subscriber's PPP runs LCP,
//! authenticates, and opens IPCP (and IPv6CP). Outgoing calls the LNS asks
//! for (OCRQ) are answered per the endpoint's peer policy and run PPP with
//! the default credentials.
//!
//! [`LacBehaviour`] teaches it what a Linux LAC (xl2tpd with the kernel's
//! L2TP and pppd's pppol2tp plugin) does on the data path: demand and
//! check sequence numbers, and attach PPP to a call some time after it
//! connected. Frames it discards for those reasons are counted in
//! [`LacDataStats`], so tests can assert the LNS gave it none to discard.

use crate::engine::call::{PppCall, Wire};
use crate::engine::frame;
use crate::engine::role::{Engine, Role};
use crate::l2tp::avp::ResultCode;
use crate::l2tp::result::CdnResult;
use crate::l2tp::{CallKind, CallParams, Endpoint, Event, RequestError, SessionKey, Transmit};
use crate::map::HashMap;
use crate::ppp::link::{DownCause, Link, LinkConfig, LinkOutput};
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// How the emulated LAC's data path behaves. The default is the ideal
/// LAC: no sequencing, PPP attached when the call connects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LacBehaviour {
    /// Send Sequencing Required (AVP 39) in the ICCN (RFC 2661 §5.4).
    pub ask_seq: bool,
    /// Like `pppol2tp_recv_seq`: discard every data message without Ns,
    /// and those out of sequence (Linux with no reorder timeout: the
    /// first frame sets the expected Ns; a frame with another Ns is
    /// discarded, until more than 4 in a row follow each other, when it
    /// resynchronises).
    pub recv_seq: bool,
    /// Like `pppol2tp_send_seq`: our data messages carry Ns.
    pub send_seq: bool,
    /// Time from the call connecting to PPP attaching to it (pppd
    /// started by xl2tpd after the ICCN): frames before it are lost, and
    /// the subscriber's LCP starts then.
    pub ppp_attach_delay: Duration,
}

impl LacBehaviour {
    /// A Linux LAC that sequences its sessions (xl2tpd, the kernel's L2TP
    /// with `recv_seq` and `send_seq`), its PPP attaching after `delay`.
    pub fn linux(delay: Duration) -> Self {
        LacBehaviour {
            ask_seq: true,
            recv_seq: true,
            send_seq: true,
            ppp_attach_delay: delay,
        }
    }
}

/// Data messages the emulated LAC discarded, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LacDataStats {
    /// Without Ns while [`LacBehaviour::recv_seq`] is set.
    pub unsequenced: u64,
    /// With an Ns other than the next expected.
    pub out_of_sequence: u64,
    /// For a call whose PPP had not attached yet.
    pub before_attach: u64,
    /// Sequenced data messages accepted.
    pub sequenced: u64,
}

/// The receive side of a Linux session's sequence check.
#[derive(Debug, Default)]
struct SeqRx {
    expected: Option<u16>,
    /// Last out-of-sequence Ns, and how many followed each other.
    oos_last: u16,
    oos_run: u32,
}

impl SeqRx {
    /// Whether a frame with `ns` is accepted.
    fn accept(&mut self, ns: u16) -> bool {
        match self.expected {
            Some(e) if e != ns => {
                self.oos_run = if ns == self.oos_last.wrapping_add(1) {
                    self.oos_run + 1
                } else {
                    0
                };
                self.oos_last = ns;
                if self.oos_run <= 4 {
                    return false;
                }
                self.oos_run = 0;
            }
            _ => {}
        }
        self.expected = Some(ns.wrapping_add(1));
        true
    }
}

/// What the emulated side reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LacEvent {
    /// An L2TP event.
    L2tp(Event),
    /// A subscriber's PPP reached the network phase with an address.
    SubscriberUp {
        /// The call.
        key: SessionKey,
        /// IPv4 address the LNS gave it.
        ipv4: Option<Ipv4Addr>,
        /// IPv6 interface identifier.
        ipv6_id: Option<[u8; 8]>,
    },
    /// An IP packet arrived for a subscriber (PPP protocol 0x0021 or
    /// 0x0057): what the LNS's data plane delivered.
    Packet {
        /// The call.
        key: SessionKey,
        /// The PPP protocol.
        protocol: u16,
        /// The packet.
        packet: Vec<u8>,
    },
    /// A subscriber configured IPv6 from a Router Advertisement (RFC 4862
    /// §5.5.3: the advertised /64 and its IPv6CP interface identifier);
    /// again if a later advertisement changes its prefix.
    Ipv6Configured {
        /// The call.
        key: SessionKey,
        /// Its global address.
        address: std::net::Ipv6Addr,
        /// The router (the advertisement's source, its link-local address).
        router: std::net::Ipv6Addr,
        /// The advertisement as read.
        advert: Box<crate::ipv6::nd::Advert>,
    },
    /// A subscriber was delegated a prefix by DHCPv6 (RFC 8415 §18.2.10:
    /// the Reply's IA_PD), with [`Lac::with_dhcpv6_pd`].
    PrefixDelegated {
        /// The call.
        key: SessionKey,
        /// The prefix.
        prefix: crate::aaa::prefix::Ipv6Net,
    },
    /// A subscriber's PPP ended before it came up (its credentials
    /// refused, LCP or an NCP failed, ...): the call is being cleared.
    SetupFailed {
        /// The call.
        key: SessionKey,
        /// Why.
        cause: DownCause,
    },
    /// A subscriber's PPP ended.
    SubscriberDown {
        /// The call.
        key: SessionKey,
        /// Why.
        cause: DownCause,
    },
}

/// A subscriber's call at the LAC (the role's per-call state).
#[derive(Debug)]
pub struct Sub {
    link: Option<Link>,
    credentials: (Vec<u8>, String),
    /// Where its frames go (the peer's ids once the call is up).
    wire: Wire,
    ipv4: Option<Ipv4Addr>,
    ipv6_id: Option<[u8; 8]>,
    /// Its address from the last Router Advertisement (SLAAC).
    slaac: Option<std::net::Ipv6Addr>,
    /// Its DHCPv6 prefix delegation, once started.
    pd: Option<Box<PdClient>>,
    reported: bool,
    /// The tunnel's queued-message count once the call's ICCN was
    /// queued: PPP waits until that many have left the send queue.
    iccn_mark: u64,
    /// When PPP attaches, while it has not.
    attach_at: Option<Instant>,
    /// Next Ns of our data messages.
    tx_ns: u16,
    /// The LNS's last data message carried Ns: ours do too (RFC 2661
    /// §5.4: without Sequencing Required, the LNS turns sequencing on and
    /// off by sending with or without it).
    lns_sequences: bool,
    rx: SeqRx,
    behaviour: LacBehaviour,
}

impl Sub {
    /// A call placed, or answered, for these credentials: no PPP yet.
    fn new(credentials: (Vec<u8>, String), wire: Wire, behaviour: LacBehaviour) -> Sub {
        Sub {
            link: None,
            credentials,
            wire,
            ipv4: None,
            ipv6_id: None,
            slaac: None,
            pd: None,
            reported: false,
            iccn_mark: 0,
            attach_at: None,
            tx_ns: 0,
            lns_sequences: false,
            rx: SeqRx::default(),
            behaviour,
        }
    }

    /// Whether our data messages carry Ns: always when we asked for
    /// sequencing (AVP 39: "MUST be present at all times") or behave like
    /// a LAC that always sends them; otherwise as the LNS last did (RFC
    /// 2661 §5.4), the sequence going on where it left off.
    fn sends_ns(&self) -> bool {
        self.behaviour.send_seq || self.behaviour.ask_seq || self.lns_sequences
    }
}

impl PppCall for Sub {
    fn link(&self) -> Option<&Link> {
        self.link.as_ref()
    }
    fn link_mut(&mut self) -> Option<&mut Link> {
        self.link.as_mut()
    }
    /// PPP attaching to the call (see [`LacBehaviour::ppp_attach_delay`]).
    fn deadline(&self) -> Option<Instant> {
        let retry = self.pd.as_ref().and_then(|c| c.retry.as_ref()).map(|r| r.0);
        [self.attach_at, retry].into_iter().flatten().min()
    }
}

/// A subscriber router's DHCPv6 prefix delegation (RFC 8415 §18.2: Solicit,
/// Advertise, Request, Reply).
#[derive(Debug)]
struct PdClient {
    xid: [u8; 3],
    /// The prefix the Reply delegated.
    prefix: Option<crate::aaa::prefix::Ipv6Net>,
    /// The Solicit or Request awaiting its answer: when it goes again,
    /// the retransmission timeout, the packet.
    retry: Option<(Instant, Duration, Vec<u8>)>,
}

/// An IA_NA (IAID 1), holding `addr` when the server offered one.
fn ia_na(addr: Option<std::net::Ipv6Addr>) -> crate::ipv6::dhcp::Opt {
    use crate::ipv6::dhcp::{Ia, Opt};
    Opt::IaNa(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: addr
            .map(|addr| Opt::IaAddr {
                addr,
                preferred: 0,
                valid: 0,
                options: Vec::new(),
            })
            .into_iter()
            .collect(),
    })
}

/// RFC 8415 §7.6: SOL_TIMEOUT and REQ_TIMEOUT (1 s), doubled after each
/// retransmission (§15) up to REQ_MAX_RT (30 s).
const DHCP_RT: Duration = Duration::from_secs(1);
const DHCP_MAX_RT: Duration = Duration::from_secs(30);

impl PdClient {
    /// Sends `packet` (returned) and waits for its answer, sending it
    /// again at the RFC's pace until one comes.
    fn expect_answer(&mut self, now: Instant, packet: Vec<u8>) -> Vec<u8> {
        self.retry = Some((now + DHCP_RT, DHCP_RT, packet.clone()));
        packet
    }

    /// The packet to send again, if its timeout ran out.
    fn due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (at, rt, packet) = self.retry.as_mut()?;
        if *at > now {
            return None;
        }
        *rt = (*rt * 2).min(DHCP_MAX_RT);
        *at = now + *rt;
        Some(packet.clone())
    }

    /// The subscriber's DUID: a DUID-UUID of its interface identifier.
    fn duid(id: [u8; 8]) -> Vec<u8> {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&id);
        u[8..].copy_from_slice(&id);
        crate::ipv6::dhcp::duid_uuid(u)
    }

    /// A message of `kind` asking for a prefix, with `extra` options, as
    /// an IPv6 packet to All_DHCP_Relay_Agents_and_Servers.
    fn ask(&self, id: [u8; 8], kind: u8, extra: Vec<crate::ipv6::dhcp::Opt>) -> Vec<u8> {
        use crate::ipv6::dhcp::{self, Opt, code};
        let mut options = vec![
            Opt::ClientId(Self::duid(id)),
            Opt::ElapsedTime(0),
            Opt::Oro(vec![code::DNS_SERVERS, code::DOMAIN_LIST]),
        ];
        options.extend(extra);
        let m = dhcp::Message {
            kind,
            xid: self.xid,
            options,
        };
        dhcp::udp_packet(
            crate::ipv6::link_local(id),
            dhcp::ALL_SERVERS,
            (dhcp::CLIENT_PORT, dhcp::SERVER_PORT),
            &m.encode(),
        )
    }
}

/// The LAC role: what the emulated LAC keeps besides the endpoint and
/// its calls (see [`Engine`]).
#[derive(Debug)]
pub struct LacRole {
    link: LinkConfig,
    default_credentials: (Vec<u8>, String),
    /// PPP frames ready to send.
    transmits: VecDeque<Transmit>,
    /// PPP frames of calls whose ICCN the send window still holds, with
    /// the call's mark (see [`LacRole::poll_transmit`]).
    held: HashMap<SessionKey, (u64, Vec<Transmit>)>,
    /// The same calls by (tunnel, mark), to release them in order.
    held_marks: BTreeMap<(u16, u64), Vec<SessionKey>>,
    seed: u64,
    behaviour: LacBehaviour,
    /// Subscribers ask for a prefix by DHCPv6 once an RA configures them.
    dhcpv6_pd: bool,
    /// ... and for an address too (IA_NA).
    dhcpv6_address: bool,
    /// Data messages discarded, by reason.
    pub data_stats: LacDataStats,
}

/// The emulated LAC: the engine in the LAC role.
pub type Lac = Engine<LacRole>;

impl Lac {
    /// `link` must be a client-side configuration.
    pub fn new(
        endpoint: Endpoint,
        link: LinkConfig,
        default_credentials: (Vec<u8>, String),
        seed: u64,
    ) -> Self {
        Engine::with_role(
            endpoint,
            LacRole {
                link,
                default_credentials,
                transmits: VecDeque::new(),
                held: HashMap::default(),
                held_marks: BTreeMap::new(),
                seed,
                behaviour: LacBehaviour::default(),
                dhcpv6_pd: false,
                dhcpv6_address: false,
                data_stats: LacDataStats::default(),
            },
        )
    }

    /// The same LAC behaving like `b` on the data path (for every call
    /// but those placed with [`Lac::place_call_as`]).
    pub fn with_behaviour(mut self, b: LacBehaviour) -> Self {
        self.role.behaviour = b;
        self
    }

    /// The same LAC whose subscribers, once a Router Advertisement
    /// configures them, ask for a prefix by DHCPv6 (as a home router does,
    /// RFC 7084 WPD-1), reported as [`LacEvent::PrefixDelegated`].
    pub fn with_dhcpv6_pd(mut self, on: bool) -> Self {
        self.role.dhcpv6_pd = on;
        self
    }

    /// With [`Lac::with_dhcpv6_pd`], the routers ask for an address on
    /// the link too (IA_NA beside IA_PD, as most home routers do by
    /// default), bound in the same exchange.
    pub fn with_dhcpv6_address(mut self, on: bool) -> Self {
        self.role.dhcpv6_address = on;
        self
    }

    /// The prefix DHCPv6 delegated to a subscriber.
    pub fn delegated_prefix(&self, key: SessionKey) -> Option<crate::aaa::prefix::Ipv6Net> {
        self.calls
            .get(&key)
            .and_then(|s| s.pd.as_ref())
            .and_then(|p| p.prefix)
    }

    /// Subscribers with a call.
    pub fn subscriber_count(&self) -> usize {
        self.call_count()
    }

    /// Opens a tunnel to an LNS.
    pub fn open_tunnel(
        &mut self,
        now: Instant,
        local: SocketAddr,
        lns: SocketAddr,
    ) -> Result<u16, RequestError> {
        self.endpoint.open_tunnel(now, local, lns)
    }

    /// Offers a call for a subscriber with these credentials.
    pub fn place_call(
        &mut self,
        now: Instant,
        tunnel: u16,
        params: CallParams,
        credentials: (Vec<u8>, String),
    ) -> Result<SessionKey, RequestError> {
        let b = self.role.behaviour;
        self.place_call_as(now, tunnel, params, credentials, b)
    }

    /// [`Lac::place_call`] for a call whose data path behaves like `b`.
    pub fn place_call_as(
        &mut self,
        now: Instant,
        tunnel: u16,
        params: CallParams,
        credentials: (Vec<u8>, String),
        behaviour: LacBehaviour,
    ) -> Result<SessionKey, RequestError> {
        let mut params = params;
        params.sequencing_required |= behaviour.ask_seq;
        let key = self.endpoint.place_call(now, tunnel, params)?;
        let t = self.endpoint.tunnel(tunnel).ok_or(RequestError::NoTunnel)?;
        let wire = Wire {
            local: t.local,
            peer: t.peer,
            peer_ids: (0, 0),
        };
        self.calls
            .insert(key, Sub::new(credentials, wire, behaviour));
        self.after_endpoint(now);
        Ok(key)
    }

    /// The subscriber sends an IP packet: the L2TP data message for it (to
    /// the LNS's tunnel and session ids), once the subscriber is up.
    pub fn send_ip(&mut self, key: SessionKey, packet: &[u8]) -> Option<Transmit> {
        if !matches!(packet.first()? >> 4, 4 | 6) {
            return None;
        }
        let s = self.calls.get_mut(&key).filter(|s| s.reported)?;
        let ns = s.sends_ns().then(|| Self::take_ns(s));
        self.frame_ip(key, packet, ns)
    }

    /// The data message carrying `packet` for a subscriber that is up,
    /// with `ns` if given, without sending it or taking an Ns (the traffic
    /// generator learns a session's framing from it).
    pub fn frame_ip(&self, key: SessionKey, packet: &[u8], ns: Option<u16>) -> Option<Transmit> {
        let s = self.calls.get(&key).filter(|s| s.reported)?;
        let protocol = match packet.first()? >> 4 {
            4 => 0x0021,
            6 => 0x0057,
            _ => return None,
        };
        Some(s.wire.transmit(ns, protocol, packet))
    }

    /// Sends IPv6 packet `packet` on `key`'s link (numbered if the call
    /// sequences).
    fn send_ipv6(&mut self, key: SessionKey, packet: Vec<u8>) {
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        let ns = s.sends_ns().then(|| Lac::take_ns(s));
        let tx = s.wire.transmit_owned(ns, 0x0057, packet);
        let mark = s.iccn_mark;
        self.queue_ppp(key, mark, tx);
    }

    fn take_ns(s: &mut Sub) -> u16 {
        let n = s.tx_ns;
        s.tx_ns = n.wrapping_add(1);
        n
    }

    /// The largest packet the LNS accepts from a subscriber: the MRU its
    /// LCP announced (RFC 1661 §6.1), once the link is up.
    pub fn peer_mru(&self, key: SessionKey) -> Option<u16> {
        let s = self.calls.get(&key).filter(|s| s.reported)?;
        s.link.as_ref().map(|l| l.lcp().peer_mru)
    }

    /// The interface identifier IPv6CP gave a subscriber (RFC 5072), once
    /// it opened (possibly after IPCP).
    pub fn ipv6_id(&self, key: SessionKey) -> Option<[u8; 8]> {
        self.calls.get(&key).and_then(|s| s.ipv6_id)
    }

    /// A subscriber's global IPv6 address, once a Router Advertisement
    /// gave it a prefix.
    pub fn ipv6_address(&self, key: SessionKey) -> Option<std::net::Ipv6Addr> {
        self.calls.get(&key).and_then(|s| s.slaac)
    }

    /// The DNS servers the LNS gave a subscriber in IPCP (RFC 1877).
    pub fn dns(&self, key: SessionKey) -> [Option<Ipv4Addr>; 2] {
        self.calls
            .get(&key)
            .and_then(|s| s.link.as_ref())
            .and_then(|l| l.ipcp())
            .map_or([None, None], |i| i.dns)
    }

    /// The subscriber hangs up: PPP Terminate, then the call is cleared.
    pub fn hang_up(&mut self, now: Instant, key: SessionKey) -> bool {
        let Some(s) = self.calls.get_mut(&key) else {
            return false;
        };
        match &mut s.link {
            Some(l) => l.close(now, DownCause::HungUp),
            None => {
                let rc = ResultCode::cdn(CdnResult::LossOfCarrier, None, "hung up");
                self.endpoint.disconnect(now, key, rc, None);
            }
        }
        self.after_link(now, key);
        self.after_endpoint(now);
        true
    }

    /// How many of `tunnel`'s queued control messages have left its send
    /// queue (all of them, for a tunnel that is gone).
    fn released(&self, tunnel: u16) -> u64 {
        self.endpoint
            .tunnel(tunnel)
            .map_or(u64::MAX, |t| t.control_progress().1)
    }

    /// A PPP frame for `key`: ready, or held behind the call's ICCN.
    fn queue_ppp(&mut self, key: SessionKey, mark: u64, tx: Transmit) {
        if let Some((_, frames)) = self.role.held.get_mut(&key) {
            frames.push(tx);
        } else if self.released(key.tunnel) >= mark {
            self.role.transmits.push_back(tx);
        } else {
            self.role.held.insert(key, (mark, vec![tx]));
            self.role
                .held_marks
                .entry((key.tunnel, mark))
                .or_default()
                .push(key);
        }
    }

    /// Moves the frames of calls whose ICCN has left to the ready queue,
    /// tunnel by tunnel (marks only grow, so each tunnel is one range).
    fn release_held(&mut self) {
        let mut next = self.role.held_marks.keys().next().map(|k| k.0);
        while let Some(tunnel) = next {
            let released = self.released(tunnel);
            let done: Vec<(u16, u64)> = self
                .role
                .held_marks
                .range((tunnel, 0)..=(tunnel, released))
                .map(|(k, _)| *k)
                .collect();
            for m in done {
                for key in self.role.held_marks.remove(&m).unwrap_or_default() {
                    if let Some((_, frames)) = self.role.held.remove(&key) {
                        self.role.transmits.extend(frames);
                    }
                }
            }
            next = tunnel.checked_add(1).and_then(|t| {
                self.role
                    .held_marks
                    .range((t, 0)..)
                    .next()
                    .map(|(k, _)| k.0)
            });
        }
    }

    /// Whether the data path takes a data message for `key`: nothing
    /// before PPP attached, and, with `recv_seq`, only sequenced frames in
    /// sequence (see [`LacBehaviour`]).
    fn data_accepted(&mut self, key: SessionKey, datagram: &[u8]) -> bool {
        let Some(s) = self.calls.get_mut(&key) else {
            return true;
        };
        let recv_seq = s.behaviour.recv_seq;
        if s.attach_at.is_some() {
            self.role.data_stats.before_attach += 1;
            return false;
        }
        if !recv_seq {
            return true;
        }
        match frame::sequenced(datagram) {
            None => {
                self.role.data_stats.unsequenced += 1;
                false
            }
            Some(q) if s.rx.accept(q.ns) => {
                self.role.data_stats.sequenced += 1;
                true
            }
            Some(_) => {
                self.role.data_stats.out_of_sequence += 1;
                false
            }
        }
    }

    /// Call `key` connected (our ICCN, or OCCN, queued): a call the LNS
    /// placed gets the default credentials; PPP attaches now or after the
    /// call's attach delay.
    fn connected(&mut self, now: Instant, key: SessionKey, wire: Wire) {
        let default = self.role.default_credentials.clone();
        let behaviour = self.role.behaviour;
        if !self.calls.contains_key(&key) {
            self.calls.insert(key, Sub::new(default, wire, behaviour));
        }
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        s.wire = wire;
        // The call is connected once our ICCN is queued (an incoming
        // call; for an outgoing one, OCCN): mark it.
        s.iccn_mark = self
            .endpoint
            .tunnel(key.tunnel)
            .map_or(0, |t| t.control_progress().0);
        let delay = s.behaviour.ppp_attach_delay;
        if delay.is_zero() {
            self.attach(now, key);
        } else {
            s.attach_at = Some(now + delay);
            self.calls.set_timer(key, Some(now + delay));
        }
    }

    /// PPP attaches to a connected call: the subscriber's link starts.
    fn attach(&mut self, now: Instant, key: SessionKey) {
        let Some(s) = self.calls.get_mut(&key) else {
            return;
        };
        s.attach_at = None;
        let mut cfg = self.role.link.clone();
        cfg.credentials = Some(s.credentials.clone());
        self.role.seed = self.role.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut link = Link::new(cfg, self.role.seed);
        link.start(now);
        s.link = Some(link);
        self.after_link(now, key);
    }
}

impl Role for LacRole {
    type Call = Sub;
    type Event = LacEvent;

    fn on_endpoint_event(e: &mut Lac, now: Instant, ev: Event) {
        match &ev {
            Event::SessionUp {
                key,
                peer_session,
                kind: CallKind::LacIncoming | CallKind::LacOutgoing,
                ..
            } => {
                // The endpoint reports a call up only in a tunnel it has.
                if let Some(wire) = Wire::of(&e.endpoint, *key, *peer_session) {
                    e.connected(now, *key, wire);
                }
            }
            Event::SessionDown { key, .. } => {
                e.role.held.remove(key);
                if let Some(mut s) = e.calls.remove(key) {
                    if let Some(l) = &mut s.link
                        && !l.is_finished()
                    {
                        l.lower_down(now, DownCause::CallCleared);
                    }
                    let cause = s
                        .link
                        .as_mut()
                        .and_then(|l| {
                            std::iter::from_fn(|| l.poll_output()).find_map(|o| match o {
                                LinkOutput::Down(c) => Some(c),
                                _ => None,
                            })
                        })
                        .unwrap_or(DownCause::CallCleared);
                    let (key, reported) = (*key, s.reported);
                    e.events.push_back(if reported {
                        LacEvent::SubscriberDown { key, cause }
                    } else {
                        LacEvent::SetupFailed { key, cause }
                    });
                }
            }
            _ => {}
        }
        e.events.push_back(LacEvent::L2tp(ev));
    }

    fn on_link_output(
        e: &mut Lac,
        now: Instant,
        key: SessionKey,
        out: LinkOutput,
    ) -> ControlFlow<()> {
        let Some(s) = e.calls.get_mut(&key) else {
            return ControlFlow::Break(());
        };
        match out {
            LinkOutput::Send { protocol, packet } => {
                let ns = s.sends_ns().then(|| Lac::take_ns(s));
                let tx = s.wire.transmit_owned(ns, protocol, packet);
                let mark = s.iccn_mark;
                e.queue_ppp(key, mark, tx);
            }
            LinkOutput::Up { ipv4, ipv6 } => {
                s.ipv4 = s.ipv4.or(ipv4);
                s.ipv6_id = s.ipv6_id.or(ipv6);
                // A host whose interface comes up asks for a router at
                // once (RFC 4861 §6.3.7).
                if let Some(id) = ipv6 {
                    let ns = s.sends_ns().then(|| Lac::take_ns(s));
                    let tx = s
                        .wire
                        .transmit_owned(ns, 0x0057, crate::ipv6::nd::solicit(id));
                    let mark = s.iccn_mark;
                    e.queue_ppp(key, mark, tx);
                }
                let Some(s) = e.calls.get_mut(&key) else {
                    return ControlFlow::Break(());
                };
                if !s.reported && s.ipv4.is_some() {
                    s.reported = true;
                    e.events.push_back(LacEvent::SubscriberUp {
                        key,
                        ipv4: s.ipv4,
                        ipv6_id: s.ipv6_id,
                    });
                }
            }
            LinkOutput::Down(cause) => {
                let reported = s.reported;
                e.calls.remove(&key);
                let rc = ResultCode::cdn(CdnResult::LossOfCarrier, None, "PPP ended");
                let ppp = cause.ppp_cause();
                e.endpoint.disconnect(now, key, rc, Some(ppp));
                e.events.push_back(if reported {
                    LacEvent::SubscriberDown { key, cause }
                } else {
                    LacEvent::SetupFailed { key, cause }
                });
                return ControlFlow::Break(());
            }
            // The client side never verifies or assigns.
            LinkOutput::Verify(_) | LinkOutput::Authenticated { .. } | LinkOutput::NetworkDown => {}
        }
        ControlFlow::Continue(())
    }

    fn on_data(
        e: &mut Lac,
        now: Instant,
        _from: SocketAddr,
        key: SessionKey,
        datagram: &[u8],
        payload_offset: usize,
    ) {
        if !e.data_accepted(key, datagram) {
            return;
        }
        if let Some(s) = e.calls.get_mut(&key) {
            s.lns_sequences = frame::sequenced(datagram).is_some();
        }
        let ppp = datagram.get(payload_offset..).and_then(frame::decapsulate);
        // A Router Advertisement configures the host (RFC 4862 §5.5.3);
        // it is not traffic.
        if let (Some(s), Some((0x0057, info))) = (e.calls.get_mut(&key), ppp)
            && let Some(advert) = crate::ipv6::nd::Advert::parse(info)
        {
            let id = s.ipv6_id.unwrap_or_default();
            let address = advert
                .prefixes
                .iter()
                .find(|p| p.autonomous && p.len == 64 && p.valid > 0)
                .map(|p| {
                    let mut a = p.prefix.octets();
                    a[8..].copy_from_slice(&id);
                    std::net::Ipv6Addr::from(a)
                });
            if let Some(address) = address
                && s.slaac != Some(address)
            {
                s.slaac = Some(address);
                e.events.push_back(LacEvent::Ipv6Configured {
                    key,
                    address,
                    router: advert.src,
                    advert: Box::new(advert),
                });
                if e.role.dhcpv6_pd && s.pd.is_none() {
                    let xid = [
                        (key.tunnel & 0xff) as u8,
                        (key.session >> 8) as u8,
                        key.session as u8,
                    ];
                    let mut c = PdClient {
                        xid,
                        prefix: None,
                        retry: None,
                    };
                    let mut ias = vec![crate::ipv6::dhcp::Opt::ia_pd(1, None)];
                    if e.role.dhcpv6_address {
                        ias.push(ia_na(None));
                    }
                    let solicit = c.ask(id, crate::ipv6::dhcp::kind::SOLICIT, ias);
                    let packet = c.expect_answer(now, solicit);
                    s.pd = Some(Box::new(c));
                    e.send_ipv6(key, packet);
                }
            }
            return;
        }
        // DHCPv6 from the LNS to the subscriber's client (RFC 8415 §18.2).
        if let (Some(s), Some((0x0057, info))) = (e.calls.get_mut(&key), ppp)
            && let Some(d) = crate::ipv6::dhcp::udp_of(info)
            && d.dst_port == crate::ipv6::dhcp::CLIENT_PORT
        {
            use crate::ipv6::dhcp::{Message, Opt, kind};
            let (Some(c), Some(id), Ok(m)) = (s.pd.as_mut(), s.ipv6_id, Message::parse(d.payload))
            else {
                return;
            };
            if m.xid != c.xid {
                return;
            }
            let offered = m.find(|o| match o {
                Opt::IaPd(ia) => ia.options.iter().find_map(|o| match o {
                    Opt::IaPrefix { prefix, valid, .. } if *valid > 0 => Some(*prefix),
                    _ => None,
                }),
                _ => None,
            });
            match (m.kind, offered, m.server_id()) {
                (kind::ADVERTISE, Some(p), Some(server)) if c.prefix.is_none() => {
                    let mut extra = vec![Opt::ServerId(server.to_vec()), Opt::ia_pd(1, Some(p))];
                    if e.role.dhcpv6_address {
                        let offered = m.find(|o| match o {
                            Opt::IaNa(ia) => ia.options.iter().find_map(|o| match o {
                                Opt::IaAddr { addr, .. } => Some(*addr),
                                _ => None,
                            }),
                            _ => None,
                        });
                        extra.push(ia_na(offered));
                    }
                    let request = c.ask(id, kind::REQUEST, extra);
                    let packet = c.expect_answer(now, request);
                    e.send_ipv6(key, packet);
                }
                (kind::REPLY, Some(p), _) if c.prefix != Some(p) => {
                    c.prefix = Some(p);
                    c.retry = None;
                    e.events
                        .push_back(LacEvent::PrefixDelegated { key, prefix: p });
                }
                _ => {}
            }
            return;
        }
        if let (Some(_), Some((p @ (0x0021 | 0x0057), info))) = (e.calls.get(&key), ppp) {
            e.events.push_back(LacEvent::Packet {
                key,
                protocol: p,
                packet: info.to_vec(),
            });
        } else if let (Some(l), Some((p, info))) =
            (e.calls.get_mut(&key).and_then(|s| s.link.as_mut()), ppp)
        {
            l.receive(now, p, info);
            e.after_link(now, key);
        }
    }

    fn on_call_due(e: &mut Lac, now: Instant, key: SessionKey) {
        let Some(s) = e.calls.get_mut(&key) else {
            return;
        };
        if s.attach_at.is_some_and(|t| t <= now) {
            e.attach(now, key);
            return;
        }
        let again = s.pd.as_mut().and_then(|c| c.due(now));
        if let Some(l) = &mut s.link {
            l.on_timeout(now);
        }
        if let Some(packet) = again {
            e.send_ipv6(key, packet);
        }
    }

    /// Control messages go first, and a call's PPP frames wait while the
    /// tunnel's send window (RFC 2661 §5.8) still holds its ICCN: the ICCN
    /// must reach the LNS before the PPP frames it enables, or the LNS
    /// drops them (the call is not yet connected) and PPP waits a restart
    /// timer (3 s). Other calls' frames are not held up.
    fn poll_transmit(e: &mut Lac) -> Option<Transmit> {
        if let Some(t) = e.endpoint.poll_transmit() {
            return Some(t);
        }
        e.release_held();
        e.role.transmits.pop_front()
    }
}
