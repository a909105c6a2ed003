//! FSM scripts against the endpoint, grouped by tunnel state (DESIGN §5,
//! layer 3): a hand-driven peer sends exact datagrams, including wrong and
//! hostile ones, and the test checks the RFC 2661 reply, the counters and
//! the events.

use lns_protocol::l2tp::auth;
use lns_protocol::l2tp::avp::{Avp, RawAvp, ResultCode};
use lns_protocol::l2tp::result::{CdnResult, StopCcnResult};
use lns_protocol::l2tp::stats::Counter;
use lns_protocol::l2tp::{
    CallParams, ClearCause, ControlHeader, ControlMessage, ControlPacket, Endpoint, EndpointConfig,
    Event, MessageType, PeerPolicy, PeerRule, Received, TunnelAuth, TunnelCause, TunnelState,
    decode_packet,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LNS: ([u8; 4], u16) = ([10, 0, 0, 1], 1701);
const LAC: ([u8; 4], u16) = ([10, 0, 0, 2], 1701);

fn lns_addr() -> SocketAddr {
    SocketAddr::from(LNS)
}
fn lac_addr() -> SocketAddr {
    SocketAddr::from(LAC)
}

fn endpoint(policy: PeerPolicy) -> Endpoint {
    let cfg = EndpointConfig {
        peers: vec![PeerRule {
            address: Some(lac_addr().ip()),
            policy,
        }],
        ..Default::default()
    };
    Endpoint::with_rng(cfg, StdRng::seed_from_u64(42))
}

/// A scripted peer: keeps its own Ns/Nr and encodes what the test says.
struct Peer {
    addr: SocketAddr,
    my_tid: u16,
    their_tid: u16,
    ns: u16,
    nr: u16,
    secret: Option<Vec<u8>>,
    now: Instant,
    /// The datagrams behind the packets the last exchange returned.
    raw_out: Vec<Vec<u8>>,
}

impl Peer {
    fn new() -> Self {
        Peer {
            addr: lac_addr(),
            my_tid: 4242,
            their_tid: 0,
            ns: 0,
            nr: 0,
            secret: None,
            now: Instant::now(),
            raw_out: Vec::new(),
        }
    }

    fn encode(&mut self, sid: u16, msg: ControlMessage) -> Vec<u8> {
        let p = ControlPacket {
            header: ControlHeader {
                tunnel_id: self.their_tid,
                session_id: sid,
                ns: self.ns,
                nr: self.nr,
            },
            message: Some(msg),
        };
        self.ns = self.ns.wrapping_add(1);
        p.encode(None).unwrap()
    }

    /// Sends a message, returns what the endpoint sent back right away
    /// (plus what it sends within the ack delay).
    fn send(&mut self, ep: &mut Endpoint, sid: u16, msg: ControlMessage) -> Vec<ControlPacket> {
        let d = self.encode(sid, msg);
        self.raw(ep, &d)
    }

    fn raw(&mut self, ep: &mut Endpoint, d: &[u8]) -> Vec<ControlPacket> {
        ep.handle(self.now, lns_addr(), self.addr, d);
        self.take(ep)
    }

    fn take(&mut self, ep: &mut Endpoint) -> Vec<ControlPacket> {
        let mut out = Vec::new();
        self.raw_out.clear();
        while let Some(tx) = ep.poll_transmit() {
            assert_eq!(tx.peer, self.addr);
            let p = decode_packet(&tx.payload, self.secret.as_deref()).unwrap();
            if p.message.is_some() && p.header.ns == self.nr {
                self.nr = self.nr.wrapping_add(1);
            }
            out.push(p);
            self.raw_out.push(tx.payload);
        }
        out
    }

    /// Acknowledges everything received so far with a ZLB.
    fn ack(&mut self, ep: &mut Endpoint) -> Vec<ControlPacket> {
        let zlb = ControlPacket::zlb(ControlHeader {
            tunnel_id: self.their_tid,
            session_id: 0,
            ns: self.ns,
            nr: self.nr,
        })
        .encode(None)
        .unwrap();
        self.raw(ep, &zlb)
    }

    /// Lets `d` pass on the endpoint's clock and collects what it sends.
    fn wait(&mut self, ep: &mut Endpoint, d: Duration) -> Vec<ControlPacket> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = ep.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t;
            ep.on_timeout(t);
            out.extend(self.take(ep));
        }
        self.now = end;
        out
    }

    fn sccrq(&self, extra: Vec<Avp>) -> ControlMessage {
        let mut avps = vec![
            Avp::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            Avp::HostName(b"lac".to_vec()),
            Avp::FramingCapabilities(3),
            Avp::AssignedTunnelId(self.my_tid),
        ];
        avps.extend(extra);
        ControlMessage::new(MessageType::Sccrq, avps)
    }

    /// Brings a tunnel up as the LAC (originator) and returns its id at
    /// the endpoint.
    fn establish(&mut self, ep: &mut Endpoint) -> u16 {
        let r = self.send(ep, 0, self.sccrq(vec![]));
        let sccrp = only(&r, MessageType::Sccrp);
        self.their_tid = sccrp.assigned_tunnel_id().unwrap();
        let r = self.send(ep, 0, ControlMessage::new(MessageType::Scccn, vec![]));
        assert!(r.is_empty());
        self.their_tid
    }

    /// Places an incoming call; returns the LNS's session id.
    fn call(&mut self, ep: &mut Endpoint, my_sid: u16) -> u16 {
        let icrq = ControlMessage::new(
            MessageType::Icrq,
            vec![
                Avp::AssignedSessionId(my_sid),
                Avp::CallSerialNumber(u32::from(my_sid)),
                Avp::CallingNumber(b"0123".to_vec()),
            ],
        );
        let r = self.send(ep, 0, icrq);
        let icrp = only(&r, MessageType::Icrp);
        let sid = icrp.assigned_session_id().unwrap();
        let iccn = ControlMessage::new(
            MessageType::Iccn,
            vec![Avp::TxConnectSpeed(1_000_000), Avp::FramingType(1)],
        );
        self.send(ep, sid, iccn);
        sid
    }
}

fn only(r: &[ControlPacket], t: MessageType) -> ControlMessage {
    let msgs: Vec<&ControlMessage> = r.iter().filter_map(|p| p.message.as_ref()).collect();
    assert_eq!(msgs.len(), 1, "expected one {t:?}, got {r:?}");
    assert_eq!(msgs[0].msg_type, t, "{r:?}");
    msgs[0].clone()
}

fn result_of(m: &ControlMessage) -> (u16, Option<u16>) {
    let rc = m.result_code().unwrap();
    (rc.result, rc.error)
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn unknown_mandatory() -> Avp {
    Avp::Other(RawAvp {
        mandatory: true,
        hidden: false,
        reserved: 0,
        vendor_id: 0,
        attr_type: 250,
        value: vec![1, 2],
    })
}

// ---------------------------------------------------------------- idle

#[test]
fn idle_sccrq_acceptable_gets_sccrp_and_retransmission_is_acked() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let first = p.encode(0, p.sccrq(vec![]));
    let r = p.raw(&mut ep, &first);
    let sccrp = only(&r, MessageType::Sccrp);
    assert_eq!(r[0].header.tunnel_id, 4242);
    assert_eq!((r[0].header.ns, r[0].header.nr), (0, 1));
    for t in [
        lns_protocol::l2tp::avp::AvpType::ProtocolVersion,
        lns_protocol::l2tp::avp::AvpType::HostName,
        lns_protocol::l2tp::avp::AvpType::FramingCapabilities,
        lns_protocol::l2tp::avp::AvpType::AssignedTunnelId,
        lns_protocol::l2tp::avp::AvpType::ReceiveWindowSize,
    ] {
        assert!(sccrp.get(t).is_some(), "{t:?}");
    }
    // The same SCCRQ again (our SCCRP "lost"): acknowledged, no 2nd tunnel.
    let r = p.raw(&mut ep, &first);
    assert!(r.iter().all(|p| p.message.is_none()), "{r:?}");
    assert_eq!(ep.tunnel_count(), 1);
    assert_eq!(ep.counters().get(Counter::RxDuplicate), 1);
}

#[test]
fn idle_sccrq_from_unknown_peer_is_refused_without_state() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.addr = SocketAddr::from(([10, 9, 9, 9], 1701));
    let r = p.send(&mut ep, 0, p.sccrq(vec![]));
    let stop = only(&r, MessageType::StopCcn);
    assert_eq!(result_of(&stop).0, StopCcnResult::NotAuthorized as u16);
    assert_eq!(r[0].header.tunnel_id, 4242);
    assert_eq!(r[0].header.nr, 1, "the StopCCN acknowledges the SCCRQ");
    assert!(ep.is_empty());
    assert_eq!(ep.counters().get(Counter::TunnelRefused), 1);
}

#[test]
fn idle_sccrq_over_the_tunnel_limit_is_refused() {
    let cfg = EndpointConfig {
        max_tunnels_per_peer: 1,
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    let mut ep = Endpoint::with_rng(cfg, StdRng::seed_from_u64(1));
    let mut a = Peer::new();
    a.establish(&mut ep);
    let mut b = Peer::new();
    b.my_tid = 7;
    let r = b.send(&mut ep, 0, b.sccrq(vec![]));
    let stop = only(&r, MessageType::StopCcn);
    assert_eq!(result_of(&stop), (2, Some(4)));
    assert_eq!(ep.tunnel_count(), 1);
    assert_eq!(ep.counters().get(Counter::TunnelLimit), 1);
}

#[test]
fn idle_sccrq_with_unknown_mandatory_avp_gets_stopccn_8() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let r = p.send(&mut ep, 0, p.sccrq(vec![unknown_mandatory()]));
    let stop = only(&r, MessageType::StopCcn);
    assert_eq!(result_of(&stop), (2, Some(8)));
    assert!(ep.is_empty());
    assert_eq!(ep.counters().get(Counter::RxMalformed), 1);
}

#[test]
fn idle_sccrq_with_unknown_optional_avp_is_accepted() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let mut avp = unknown_mandatory();
    if let Avp::Other(raw) = &mut avp {
        raw.mandatory = false;
    }
    let r = p.send(&mut ep, 0, p.sccrq(vec![avp]));
    only(&r, MessageType::Sccrp);
}

#[test]
fn idle_sccrq_with_wrong_version_or_unanswerable_challenge() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let mut m = p.sccrq(vec![]);
    m.avps[0] = Avp::ProtocolVersion {
        version: 2,
        revision: 0,
    };
    let r = p.send(&mut ep, 0, m);
    assert_eq!(result_of(&only(&r, MessageType::StopCcn)).0, 5);

    // A challenge we cannot answer (no secret): not authorized.
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let r = p.send(&mut ep, 0, p.sccrq(vec![Avp::Challenge(vec![1; 16])]));
    assert_eq!(result_of(&only(&r, MessageType::StopCcn)).0, 4);
    assert_eq!(ep.counters().get(Counter::AuthFailed), 1);
}

#[test]
fn idle_garbage_and_strays_are_counted_drops() {
    let mut ep = endpoint(PeerPolicy::default());
    let now = Instant::now();
    assert_eq!(
        ep.handle(now, lns_addr(), lac_addr(), &[0xc8, 0x02, 0, 4]),
        Received::Dropped(Counter::DropBadHeader)
    );
    // A HELLO for a tunnel that does not exist.
    let mut p = Peer::new();
    p.their_tid = 999;
    let d = p.encode(0, ControlMessage::new(MessageType::Hello, vec![]));
    assert_eq!(
        ep.handle(now, lns_addr(), lac_addr(), &d),
        Received::Dropped(Counter::DropUnknownTunnel)
    );
    // Tunnel id 0 but not an SCCRQ.
    let mut p = Peer::new();
    let d = p.encode(0, ControlMessage::new(MessageType::Hello, vec![]));
    assert_eq!(
        ep.handle(now, lns_addr(), lac_addr(), &d),
        Received::Dropped(Counter::DropUnknownTunnel)
    );
    // Data messages are handed back, not parsed.
    let data = [0x40, 0x02, 0, 14, 0, 5, 0, 6, 0xff, 0x03, 0xc0, 0x21, 1, 2];
    assert_eq!(
        ep.handle(now, lns_addr(), lac_addr(), &data),
        Received::Data {
            tunnel: 5,
            session: 6,
            payload_offset: 8
        }
    );
    assert!(ep.poll_transmit().is_none());
    assert!(ep.is_empty());
}

// ------------------------------------------------------- wait-ctl-conn

fn auth_policy() -> PeerPolicy {
    PeerPolicy {
        secret: Some(b"topsecret".to_vec()),
        auth: TunnelAuth::Required,
        ..Default::default()
    }
}

#[test]
fn wait_ctl_conn_good_challenge_response_establishes() {
    let mut ep = endpoint(auth_policy());
    let mut p = Peer::new();
    p.secret = Some(b"topsecret".to_vec());
    let r = p.send(
        &mut ep,
        0,
        p.sccrq(vec![Avp::Challenge(b"lac-challenge".to_vec())]),
    );
    let sccrp = only(&r, MessageType::Sccrp);
    p.their_tid = sccrp.assigned_tunnel_id().unwrap();
    // The LNS answered our challenge correctly...
    let Some(Avp::ChallengeResponse(resp)) =
        sccrp.get(lns_protocol::l2tp::avp::AvpType::ChallengeResponse)
    else {
        panic!("no challenge response")
    };
    assert!(auth::verify_response(
        MessageType::Sccrp,
        b"topsecret",
        b"lac-challenge",
        resp
    ));
    // ...and challenged us.
    let Some(Avp::Challenge(ch)) = sccrp.get(lns_protocol::l2tp::avp::AvpType::Challenge) else {
        panic!("no challenge")
    };
    let answer = auth::challenge_response(MessageType::Scccn, b"topsecret", ch);
    p.send(
        &mut ep,
        0,
        ControlMessage::new(MessageType::Scccn, vec![Avp::ChallengeResponse(answer)]),
    );
    let ev = events(&mut ep);
    assert!(matches!(ev[..], [Event::TunnelUp { .. }]), "{ev:?}");
}

#[test]
fn wait_ctl_conn_wrong_or_missing_response_is_refused() {
    for resp in [Some([0u8; 16]), None] {
        let mut ep = endpoint(auth_policy());
        let mut p = Peer::new();
        p.secret = Some(b"topsecret".to_vec());
        let r = p.send(&mut ep, 0, p.sccrq(vec![]));
        p.their_tid = only(&r, MessageType::Sccrp).assigned_tunnel_id().unwrap();
        let avps = resp.map(Avp::ChallengeResponse).into_iter().collect();
        let r = p.send(&mut ep, 0, ControlMessage::new(MessageType::Scccn, avps));
        let stop = only(&r, MessageType::StopCcn);
        assert_eq!(result_of(&stop).0, StopCcnResult::NotAuthorized as u16);
        assert_eq!(ep.counters().get(Counter::AuthFailed), 1);
        let ev = events(&mut ep);
        assert!(!ev.iter().any(|e| matches!(e, Event::TunnelUp { .. })));
    }
}

#[test]
fn wait_ctl_conn_sccrp_is_an_fsm_error() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let r = p.send(&mut ep, 0, p.sccrq(vec![]));
    p.their_tid = only(&r, MessageType::Sccrp).assigned_tunnel_id().unwrap();
    let m = p.sccrq(vec![]);
    let r = p.send(
        &mut ep,
        0,
        ControlMessage::new(MessageType::Sccrp, m.into_avps()),
    );
    assert_eq!(result_of(&only(&r, MessageType::StopCcn)).0, 7);
}

/// The attribute types a datagram carries with the H bit set, read from
/// the wire (decoding unhides them and forgets the bit).
fn hidden_types(datagram: &[u8]) -> Vec<u16> {
    // Control messages have L and S set and no O: a 12-octet header.
    let mut r = lns_protocol::octets::Reader::new(&datagram[12..]);
    let mut hidden = Vec::new();
    while !r.is_empty() {
        let a = lns_protocol::l2tp::avp::read_wire_avp(&mut r).unwrap();
        if a.hidden {
            hidden.push(a.attr_type);
        }
    }
    hidden
}

#[test]
fn hide_avps_leaves_tunnel_setup_in_the_clear_unless_asked() {
    use lns_protocol::l2tp::avp::AvpType;
    for in_setup in [false, true] {
        let policy = PeerPolicy {
            hide_avps: true,
            hide_avps_in_tunnel_setup: in_setup,
            ..auth_policy()
        };
        // Recipient: the SCCRP.
        let mut ep = endpoint(policy.clone());
        let mut p = Peer::new();
        p.secret = Some(b"topsecret".to_vec());
        let r = p.send(&mut ep, 0, p.sccrq(vec![]));
        let sccrp = only(&r, MessageType::Sccrp);
        let hidden = hidden_types(&p.raw_out[0]);
        if in_setup {
            assert!(
                hidden.contains(&(AvpType::FramingCapabilities as u16)),
                "{hidden:?}"
            );
        } else {
            assert_eq!(hidden, Vec::<u16>::new(), "SCCRP in the clear by default");
        }
        // Hiding resumes after setup: the ICRP hides its session id.
        p.their_tid = sccrp.assigned_tunnel_id().unwrap();
        let Some(Avp::Challenge(ch)) = sccrp.get(AvpType::Challenge) else {
            panic!("no challenge")
        };
        let answer = auth::challenge_response(MessageType::Scccn, b"topsecret", ch);
        p.send(
            &mut ep,
            0,
            ControlMessage::new(MessageType::Scccn, vec![Avp::ChallengeResponse(answer)]),
        );
        let icrq = ControlMessage::new(
            MessageType::Icrq,
            vec![Avp::AssignedSessionId(9), Avp::CallSerialNumber(9)],
        );
        let r = p.send(&mut ep, 0, icrq);
        only(&r, MessageType::Icrp);
        assert_eq!(
            hidden_types(&p.raw_out[0]),
            vec![AvpType::AssignedSessionId as u16]
        );

        // Originator: the SCCRQ.
        let mut ep = endpoint(policy);
        ep.open_tunnel(p.now, lns_addr(), lac_addr()).unwrap();
        let sccrq = ep.poll_transmit().unwrap().payload;
        assert_eq!(
            decode_packet(&sccrq, Some(b"topsecret"))
                .unwrap()
                .message
                .unwrap()
                .msg_type,
            MessageType::Sccrq
        );
        assert_eq!(!hidden_types(&sccrq).is_empty(), in_setup);
    }
}

#[test]
fn hidden_avps_with_the_wrong_secret_are_refused() {
    // The LAC hides its AVPs with a secret the LNS does not share.
    let mut ep = endpoint(PeerPolicy {
        secret: Some(b"right".to_vec()),
        ..Default::default()
    });
    let p = Peer::new();
    let m = ControlMessage::new(MessageType::Sccrq, p.sccrq(vec![]).into_avps());
    let pkt = ControlPacket {
        header: ControlHeader::default(),
        message: Some(m),
    };
    let d = pkt
        .encode(Some(&lns_protocol::l2tp::Hiding {
            secret: b"wrong",
            random_vector: &[7; 16],
            padding: &[],
            hide: lns_protocol::l2tp::message::AvpSet::all_hideable(),
        }))
        .unwrap();
    let now = Instant::now();
    ep.handle(now, lns_addr(), lac_addr(), &d);
    // The Assigned Tunnel ID itself is undecodable, so there is nobody to
    // address a StopCCN to: a counted drop, and no state.
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.counters().get(Counter::RxMalformed), 1);
    assert!(ep.is_empty());
}

// --------------------------------------------------------- established

#[test]
fn established_incoming_call_comes_up_with_the_lacs_avps() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let tid = p.establish(&mut ep);
    let sid = p.call(&mut ep, 11);
    assert_ne!(sid, 0);
    let ev = events(&mut ep);
    let up = ev
        .iter()
        .find_map(|e| match e {
            Event::SessionUp {
                key,
                peer_avps,
                peer_session,
                ..
            } => Some((*key, peer_avps.clone(), *peer_session)),
            _ => None,
        })
        .unwrap();
    assert_eq!(up.0.tunnel, tid);
    assert_eq!(up.0.session, sid);
    assert_eq!(up.2, 11);
    assert!(up.1.contains(&Avp::CallingNumber(b"0123".to_vec())));
    assert!(up.1.contains(&Avp::TxConnectSpeed(1_000_000)));
    // The ICCN is acknowledged by a ZLB after the ack delay.
    let r = p.wait(&mut ep, Duration::from_millis(200));
    assert!(r.len() == 1 && r[0].message.is_none(), "{r:?}");
    assert_eq!(r[0].header.nr, p.ns);
}

#[test]
fn established_icrq_with_unknown_mandatory_avp_gets_cdn_8_tunnel_survives() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    let icrq = ControlMessage::new(
        MessageType::Icrq,
        vec![
            Avp::AssignedSessionId(5),
            Avp::CallSerialNumber(1),
            unknown_mandatory(),
        ],
    );
    let r = p.send(&mut ep, 0, icrq);
    let cdn = only(&r, MessageType::Cdn);
    assert_eq!(result_of(&cdn), (2, Some(8)));
    assert_eq!(r[0].header.session_id, 5);
    assert_eq!(ep.session_count(), 0);
    assert_eq!(ep.tunnels().next().unwrap().state, TunnelState::Established);
    // A good call still works afterwards.
    p.call(&mut ep, 6);
    assert_eq!(ep.session_count(), 1);
}

#[test]
fn established_session_message_with_unknown_mandatory_avp_clears_the_session() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    let sid = p.call(&mut ep, 6);
    events(&mut ep);
    let wen = ControlMessage::new(
        MessageType::Wen,
        vec![Avp::CallErrors(Default::default()), unknown_mandatory()],
    );
    let r = p.send(&mut ep, sid, wen);
    let cdn = only(&r, MessageType::Cdn);
    assert_eq!(result_of(&cdn), (2, Some(8)));
    assert_eq!(r[0].header.session_id, 6);
    let ev = events(&mut ep);
    assert!(matches!(ev[..], [Event::SessionDown { .. }]), "{ev:?}");
}

#[test]
fn established_unknown_message_type_with_and_without_m_bit() {
    // Build a message whose type is 99 by hand.
    fn msg_99(m_bit: bool, ns: u16, nr: u16, tid: u16) -> Vec<u8> {
        let mut body = vec![if m_bit { 0x80 } else { 0x00 }, 8, 0, 0, 0, 0, 0, 99];
        let mut d = vec![0xc8, 0x02, 0, 0, (tid >> 8) as u8, tid as u8, 0, 0];
        d.extend_from_slice(&ns.to_be_bytes());
        d.extend_from_slice(&nr.to_be_bytes());
        d.append(&mut body);
        let len = d.len() as u16;
        d[2..4].copy_from_slice(&len.to_be_bytes());
        d
    }
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let tid = p.establish(&mut ep);
    let d = msg_99(false, p.ns, p.nr, tid);
    p.ns += 1;
    p.raw(&mut ep, &d);
    let r = p.wait(&mut ep, Duration::from_millis(200));
    assert!(r.len() == 1 && r[0].message.is_none(), "acked only: {r:?}");
    assert_eq!(ep.counters().get(Counter::RxIgnoredMessage), 1);
    let d = msg_99(true, p.ns, p.nr, tid);
    p.ns += 1;
    let r = p.raw(&mut ep, &d);
    assert_eq!(result_of(&only(&r, MessageType::StopCcn)), (2, Some(8)));
}

#[test]
fn established_bogus_nr_and_window_overflow_are_dropped() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    p.call(&mut ep, 3);
    events(&mut ep);
    // Nr acknowledging 100 messages the LNS never sent.
    let saved = p.nr;
    p.nr = p.nr.wrapping_add(100);
    let r = p.send(&mut ep, 0, ControlMessage::new(MessageType::Hello, vec![]));
    assert!(r.is_empty());
    assert_eq!(ep.counters().get(Counter::DropBogusNr), 1);
    p.nr = saved;
    p.ns -= 1;
    // Ns 1,000 ahead: beyond the 16-message window.
    p.ns = p.ns.wrapping_add(1000);
    let r = p.send(&mut ep, 0, ControlMessage::new(MessageType::Hello, vec![]));
    assert!(r.is_empty());
    assert_eq!(ep.counters().get(Counter::DropOutOfWindow), 1);
    p.ns = p.ns.wrapping_sub(1001);
    // The tunnel is intact: the next in-order message is accepted.
    p.send(&mut ep, 0, ControlMessage::new(MessageType::Hello, vec![]));
    assert_eq!(ep.session_count(), 1);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn established_wrong_source_address_is_dropped() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    let d = p.encode(0, ControlMessage::new(MessageType::Hello, vec![]));
    let now = Instant::now();
    let spoof = SocketAddr::from(([10, 6, 6, 6], 1701));
    assert_eq!(
        ep.handle(now, lns_addr(), spoof, &d),
        Received::Dropped(Counter::DropWrongPeer)
    );
}

#[test]
fn established_hello_after_idle_then_dead_peer_clears_everything() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let tid = p.establish(&mut ep);
    p.call(&mut ep, 3);
    p.call(&mut ep, 4);
    events(&mut ep);
    // 60 s of silence: a HELLO.
    let r = p.wait(&mut ep, Duration::from_millis(60_500));
    let hellos: Vec<_> = r
        .iter()
        .filter(|p| {
            p.message
                .as_ref()
                .is_some_and(|m| m.msg_type == MessageType::Hello)
        })
        .collect();
    assert_eq!(hellos.len(), 1, "{r:?}");
    // The peer is dead: 5 retransmissions, then everything is cleared.
    let r = p.wait(&mut ep, Duration::from_secs(40));
    let retrans = r
        .iter()
        .filter(|p| {
            p.message
                .as_ref()
                .is_some_and(|m| m.msg_type == MessageType::Hello)
        })
        .count();
    assert_eq!(retrans, 5);
    let ev = events(&mut ep);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(
                e,
                Event::SessionDown {
                    cause: ClearCause::TunnelDown,
                    ..
                }
            ))
            .count(),
        2
    );
    assert!(ev.contains(&Event::TunnelDown {
        tunnel: tid,
        cause: TunnelCause::Timeout
    }));
    assert!(ep.is_empty());
    assert_eq!(ep.counters().get(Counter::TunnelsTimedOut), 1);
}

#[test]
fn established_peer_stopccn_is_acked_held_for_a_cycle_then_freed() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let tid = p.establish(&mut ep);
    p.call(&mut ep, 3);
    events(&mut ep);
    let stop = ControlMessage::new(
        MessageType::StopCcn,
        vec![
            Avp::AssignedTunnelId(4242),
            Avp::ResultCode(ResultCode::stop_ccn(
                StopCcnResult::GeneralClear,
                None,
                "bye",
            )),
        ],
    );
    let d = p.encode(0, stop);
    let r = p.raw(&mut ep, &d);
    // §5.7: the receiver MUST send a ZLB ACK.
    assert!(r.len() == 1 && r[0].message.is_none(), "{r:?}");
    let ev = events(&mut ep);
    assert!(matches!(ev[0], Event::SessionDown { .. }));
    assert!(
        matches!(ev[1], Event::TunnelDown { tunnel, cause: TunnelCause::PeerStopCcn(_) } if tunnel == tid)
    );
    // Our ZLB was lost; the StopCCN comes again 20 s later: acked again.
    p.wait(&mut ep, Duration::from_secs(20));
    let r = p.raw(&mut ep, &d);
    assert!(r.len() == 1 && r[0].message.is_none(), "{r:?}");
    assert_eq!(ep.tunnel_count(), 1);
    // After the full 31 s cycle the state is gone.
    p.wait(&mut ep, Duration::from_secs(12));
    assert!(ep.is_empty());
}

#[test]
fn established_local_disconnect_and_close() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let tid = p.establish(&mut ep);
    let sid = p.call(&mut ep, 3);
    events(&mut ep);
    let now = p.now;
    let key = lns_protocol::l2tp::SessionKey {
        tunnel: tid,
        session: sid,
    };
    let cause = lns_protocol::l2tp::avp::PppDisconnectCause {
        code: 3,
        protocol: 0xc021,
        direction: 1,
        message: b"lcp echo timeout".to_vec(),
    };
    assert!(ep.disconnect(
        now,
        key,
        ResultCode::cdn(CdnResult::Administrative, None, "admin"),
        Some(cause.clone())
    ));
    let r = p.take(&mut ep);
    let cdn = only(&r, MessageType::Cdn);
    assert_eq!(r[0].header.session_id, 3);
    assert_eq!(cdn.assigned_session_id(), Some(sid));
    assert!(cdn.avps.contains(&Avp::PppDisconnectCause(cause)));
    assert!(!ep.disconnect(
        now,
        key,
        ResultCode::cdn(CdnResult::Administrative, None, ""),
        None
    ));
    // Close the tunnel: StopCCN, and after the ack and the hold, nothing.
    ep.close_tunnel(
        now,
        tid,
        ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, ""),
    );
    let r = p.take(&mut ep);
    let stop = only(&r, MessageType::StopCcn);
    assert_eq!(stop.assigned_tunnel_id(), Some(tid));
    p.ack(&mut ep);
    assert!(ep.is_drained());
    p.wait(&mut ep, Duration::from_secs(32));
    assert!(ep.is_empty());
}

#[test]
fn established_call_refused_when_incoming_calls_are_off() {
    let mut ep = endpoint(PeerPolicy {
        accept_incoming_calls: false,
        ..Default::default()
    });
    let mut p = Peer::new();
    p.establish(&mut ep);
    let icrq = ControlMessage::new(
        MessageType::Icrq,
        vec![Avp::AssignedSessionId(5), Avp::CallSerialNumber(1)],
    );
    let r = p.send(&mut ep, 0, icrq);
    assert_eq!(result_of(&only(&r, MessageType::Cdn)).0, 5);
    assert_eq!(ep.counters().get(Counter::SessionRefused), 1);
}

#[test]
fn established_session_setup_timeout() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    let icrq = ControlMessage::new(
        MessageType::Icrq,
        vec![Avp::AssignedSessionId(5), Avp::CallSerialNumber(1)],
    );
    p.send(&mut ep, 0, icrq);
    p.ack(&mut ep);
    // No ICCN ever: after the 30 s setup timeout the call is cleared.
    let r = p.wait(&mut ep, Duration::from_secs(31));
    assert!(r.iter().any(|p| {
        p.message
            .as_ref()
            .is_some_and(|m| m.msg_type == MessageType::Cdn)
    }));
    let ev = events(&mut ep);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::SessionDown {
            cause: ClearCause::SetupTimeout,
            ..
        }
    )));
    assert_eq!(ep.session_count(), 0);
}

// ------------------------------------------------------- wait-ctl-reply

fn originator() -> (Endpoint, Peer, u16, ControlPacket) {
    let mut ep = endpoint(auth_policy());
    let mut p = Peer::new();
    p.secret = Some(b"topsecret".to_vec());
    let tid = ep.open_tunnel(p.now, lns_addr(), lac_addr()).unwrap();
    ep.place_call(p.now, tid, CallParams::default()).unwrap();
    let r = p.take(&mut ep);
    assert_eq!(r.len(), 1);
    (ep, p, tid, r[0].clone())
}

/// The peer's SCCRP to our SCCRQ carrying `challenge`, with the right
/// response to it.
fn good_sccrp(p: &Peer, challenge: &[u8]) -> ControlMessage {
    let mut avps = p.sccrq(vec![]).into_avps();
    avps.push(Avp::ChallengeResponse(auth::challenge_response(
        MessageType::Sccrp,
        b"topsecret",
        challenge,
    )));
    ControlMessage::new(MessageType::Sccrp, avps)
}

#[test]
fn wait_ctl_reply_sccrp_with_good_response_establishes_and_places_waiting_calls() {
    let (mut ep, mut p, tid, sccrq) = originator();
    let m = sccrq.message.unwrap();
    assert_eq!(m.msg_type, MessageType::Sccrq);
    assert_eq!(sccrq.header.tunnel_id, 0);
    let Some(Avp::Challenge(ch)) = m.get(lns_protocol::l2tp::avp::AvpType::Challenge) else {
        panic!("no challenge in SCCRQ")
    };
    assert!(
        m.get(lns_protocol::l2tp::avp::AvpType::TieBreaker)
            .is_some()
    );
    p.their_tid = tid;
    let r = p.send(&mut ep, 0, good_sccrp(&p, ch));
    // SCCCN, then the waiting call's ICRQ right behind it (the SCCRP
    // acknowledged the SCCRQ, so slow start opened the window to 2).
    let types: Vec<_> = r
        .iter()
        .filter_map(|p| p.message.as_ref().map(|m| m.msg_type))
        .collect();
    assert_eq!(types, vec![MessageType::Scccn, MessageType::Icrq]);
    assert!(r.iter().all(|p| p.header.tunnel_id == 4242));
    assert_eq!(r[1].header.session_id, 0);
}

#[test]
fn wait_ctl_reply_sccrp_with_bad_response_is_refused() {
    let (mut ep, mut p, tid, _) = originator();
    p.their_tid = tid;
    let mut avps = p.sccrq(vec![]).into_avps();
    avps.push(Avp::ChallengeResponse([9; 16]));
    let r = p.send(&mut ep, 0, ControlMessage::new(MessageType::Sccrp, avps));
    assert_eq!(result_of(&only(&r, MessageType::StopCcn)).0, 4);
    let ev = events(&mut ep);
    assert!(ev.iter().any(|e| matches!(e, Event::SessionDown { .. })));
    assert!(!ev.iter().any(|e| matches!(e, Event::TunnelUp { .. })));
}

#[test]
fn wait_ctl_reply_no_answer_times_out_and_clears_waiting_calls() {
    let (mut ep, mut p, tid, _) = originator();
    let r = p.wait(&mut ep, Duration::from_secs(40));
    assert_eq!(r.len(), 5, "five SCCRQ retransmissions");
    let ev = events(&mut ep);
    // The waiting call gave up first (30 s setup timeout), then the tunnel.
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::SessionDown {
            cause: ClearCause::SetupTimeout,
            ..
        }
    )));
    assert!(ev.contains(&Event::TunnelDown {
        tunnel: tid,
        cause: TunnelCause::Timeout
    }));
    assert!(ep.is_empty());
}

#[test]
fn wait_ctl_reply_tie_breaker_lower_peer_wins() {
    let (mut ep, mut p, tid, sccrq) = originator();
    let Some(Avp::TieBreaker(ours)) = sccrq
        .message
        .unwrap()
        .get(lns_protocol::l2tp::avp::AvpType::TieBreaker)
        .cloned()
    else {
        panic!()
    };
    if ours == 0 {
        return; // nothing is lower; a 2^-64 chance with this seed
    }
    // The peer's SCCRQ crossed ours (it never saw ours: Nr 0) with a lower
    // tie breaker: we lose and answer it on the same tunnel; the waiting
    // call survives.
    p.nr = 0;
    let r = p.send(&mut ep, 0, p.sccrq(vec![Avp::TieBreaker(ours - 1)]));
    let sccrp = only(&r, MessageType::Sccrp);
    assert_eq!(sccrp.assigned_tunnel_id(), Some(tid));
    assert_eq!(ep.tunnel_count(), 1);
    assert_eq!(ep.session_count(), 1);
    // The SCCRP challenged us (auth required); answer and come up.
    let Some(Avp::Challenge(ch)) = sccrp.get(lns_protocol::l2tp::avp::AvpType::Challenge) else {
        panic!()
    };
    p.their_tid = tid;
    let answer = auth::challenge_response(MessageType::Scccn, b"topsecret", ch);
    let _ = p.send(
        &mut ep,
        0,
        ControlMessage::new(MessageType::Scccn, vec![Avp::ChallengeResponse(answer)]),
    );
    let ev = events(&mut ep);
    assert!(
        ev.iter().any(|e| matches!(e, Event::TunnelUp { .. })),
        "{ev:?}"
    );
}

#[test]
fn wait_ctl_reply_tie_breaker_higher_peer_loses() {
    let (mut ep, mut p, _tid, sccrq) = originator();
    let Some(Avp::TieBreaker(ours)) = sccrq
        .message
        .unwrap()
        .get(lns_protocol::l2tp::avp::AvpType::TieBreaker)
        .cloned()
    else {
        panic!()
    };
    if ours == u64::MAX {
        return;
    }
    p.nr = 0;
    let r = p.send(&mut ep, 0, p.sccrq(vec![Avp::TieBreaker(ours + 1)]));
    assert!(
        r.is_empty(),
        "the loser's SCCRQ is silently discarded: {r:?}"
    );
    assert_eq!(ep.tunnel_count(), 1);
    assert_eq!(ep.counters().get(Counter::TieBreaks), 1);
}

// ------------------------------------------- hostile setups (review fixes)

#[test]
fn idle_sccrq_that_is_not_a_first_message_creates_nothing() {
    for (ns, nr) in [(0u16, 1u16), (5, 0), (100, 0)] {
        let mut ep = endpoint(PeerPolicy::default());
        let mut p = Peer::new();
        p.ns = ns;
        p.nr = nr;
        let r = p.send(&mut ep, 0, p.sccrq(vec![]));
        assert!(r.is_empty(), "{r:?}");
        assert!(ep.is_empty(), "Ns {ns} Nr {nr} left state behind");
    }
}

#[test]
fn wait_ctl_conn_peer_that_never_sends_scccn_is_cleared() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    let r = p.send(&mut ep, 0, p.sccrq(vec![]));
    p.their_tid = only(&r, MessageType::Sccrp).assigned_tunnel_id().unwrap();
    // It acknowledges our SCCRP and then says nothing more.
    p.ack(&mut ep);
    let r = p.wait(&mut ep, Duration::from_millis(31_500));
    let stop = only(&r, MessageType::StopCcn);
    assert_eq!(result_of(&stop).0, StopCcnResult::GeneralError as u16);
    assert_eq!(ep.counters().get(Counter::TunnelSetupTimeout), 1);
    p.wait(&mut ep, Duration::from_secs(40));
    assert!(ep.is_empty());
}

#[test]
fn wait_ctl_reply_stopccn_is_acked_to_the_id_it_names() {
    let (mut ep, mut p, tid, _) = originator();
    p.their_tid = tid;
    let stop = ControlMessage::new(
        MessageType::StopCcn,
        vec![
            Avp::AssignedTunnelId(4242),
            Avp::ResultCode(ResultCode::stop_ccn(
                StopCcnResult::NotAuthorized,
                None,
                "no",
            )),
        ],
    );
    let r = p.send(&mut ep, 0, stop);
    assert!(r.len() == 1 && r[0].message.is_none(), "{r:?}");
    assert_eq!(r[0].header.tunnel_id, 4242);
}

#[test]
fn established_cdn_naming_the_call_by_the_peers_id_clears_it() {
    let mut ep = endpoint(PeerPolicy::default());
    let mut p = Peer::new();
    p.establish(&mut ep);
    let icrq = ControlMessage::new(
        MessageType::Icrq,
        vec![Avp::AssignedSessionId(21), Avp::CallSerialNumber(1)],
    );
    p.send(&mut ep, 0, icrq);
    events(&mut ep);
    // The LAC gives up before it read our ICRP: header session 0, and its
    // own id in Assigned Session ID.
    let cdn = ControlMessage::new(
        MessageType::Cdn,
        vec![
            Avp::ResultCode(ResultCode::cdn(CdnResult::LossOfCarrier, None, "")),
            Avp::AssignedSessionId(21),
        ],
    );
    p.send(&mut ep, 0, cdn);
    assert_eq!(ep.session_count(), 0);
    let ev = events(&mut ep);
    assert!(
        matches!(
            ev[..],
            [Event::SessionDown {
                cause: ClearCause::PeerCdn { .. },
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn wait_ctl_reply_port_moves_only_with_an_accepted_sccrp() {
    let cfg = EndpointConfig {
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    let mut ep = Endpoint::with_rng(cfg, StdRng::seed_from_u64(3));
    let mut p = Peer::new();
    let tid = ep.open_tunnel(p.now, lns_addr(), lac_addr()).unwrap();
    p.take(&mut ep);
    p.their_tid = tid;
    // A stray from another port with a bogus Nr: dropped, no redirection.
    p.addr = SocketAddr::from(([10, 0, 0, 2], 5555));
    let saved = p.nr;
    p.nr = 50;
    p.send(&mut ep, 0, ControlMessage::new(MessageType::Hello, vec![]));
    assert_eq!(ep.tunnel(tid).unwrap().peer, lac_addr());
    // The real SCCRP from the new port: adopted, SCCCN goes there.
    p.nr = saved;
    p.ns = 0;
    let avps = p.sccrq(vec![]).into_avps();
    let r = p.send(&mut ep, 0, ControlMessage::new(MessageType::Sccrp, avps));
    only(&r, MessageType::Scccn);
    assert_eq!(ep.tunnel(tid).unwrap().peer.port(), 5555);
}

#[test]
fn wait_ctl_reply_without_our_tie_breaker_the_peers_wins() {
    let cfg = EndpointConfig {
        tie_breaker: false,
        peers: vec![PeerRule {
            address: None,
            policy: PeerPolicy::default(),
        }],
        ..Default::default()
    };
    let mut ep = Endpoint::with_rng(cfg, StdRng::seed_from_u64(4));
    let mut p = Peer::new();
    let tid = ep.open_tunnel(p.now, lns_addr(), lac_addr()).unwrap();
    ep.place_call(p.now, tid, CallParams::default()).unwrap();
    p.take(&mut ep);
    p.nr = 0;
    let r = p.send(&mut ep, 0, p.sccrq(vec![Avp::TieBreaker(7)]));
    let sccrp = only(&r, MessageType::Sccrp);
    assert_eq!(sccrp.assigned_tunnel_id(), Some(tid));
    assert_eq!(ep.session_count(), 1, "the waiting call moved over");
}

/// With a preference (lnsd's: the ids whose home slot in the data
/// plane's table is free), the session ids we hand out are ones it likes,
/// asked about with our tunnel id; when it likes none, calls are still
/// answered, each with an id of its own.
#[test]
fn session_ids_follow_the_preference_and_fall_back_to_any_free_one() {
    use lns_protocol::l2tp::SessionIdPreference;
    use std::sync::{Arc, Mutex};
    let mut ep = endpoint(PeerPolicy::default());
    let asked = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let seen = Arc::clone(&asked);
    ep.prefer_session_ids(SessionIdPreference(Box::new(move |t, s| {
        seen.lock().unwrap().insert(t);
        s % 4 == 1
    })));
    let mut p = Peer::new();
    p.establish(&mut ep);
    let ours = ep.tunnels().next().unwrap().local_id;
    let mut ids = std::collections::HashSet::new();
    for i in 1..=300 {
        let sid = p.call(&mut ep, i);
        assert_eq!(sid % 4, 1, "call {i} got session id {sid}");
        assert!(ids.insert(sid));
    }
    assert_eq!(*asked.lock().unwrap(), [ours].into());
    ep.prefer_session_ids(SessionIdPreference(Box::new(|_, _| false)));
    for i in 301..=400 {
        let sid = p.call(&mut ep, i);
        assert!(sid != 0 && ids.insert(sid), "call {i} got session id {sid}");
    }
    assert_eq!(ep.session_count(), 400);
}

/// Our outgoing call (we are the LAC): an ICRP whose Assigned Session ID
/// is 0 names no session of the peer's and is answered with a CDN (RFC
/// 2661 §7.4.1: not acceptable) that says so. xl2tpd as the LNS picks its
/// session ids from two random bytes, 0 included: once in 65,536 calls
/// it sends this (seen in CI, 2026-12-05).
#[test]
fn wait_reply_icrp_with_session_id_0_is_cleared_saying_why() {
    let (mut ep, mut p, tid, sccrq) = originator();
    let sccrq = sccrq.message.unwrap();
    let Some(Avp::Challenge(ch)) = sccrq.get(lns_protocol::l2tp::avp::AvpType::Challenge) else {
        panic!("no challenge in SCCRQ")
    };
    p.their_tid = tid;
    let r = p.send(&mut ep, 0, good_sccrp(&p, ch));
    let icrq = r[1].message.clone().unwrap();
    assert_eq!(icrq.msg_type, MessageType::Icrq);
    let ours = icrq.assigned_session_id().unwrap();
    let icrp = ControlMessage::new(MessageType::Icrp, vec![Avp::AssignedSessionId(0)]);
    let r = p.send(&mut ep, ours, icrp);
    let cdn = only(&r, MessageType::Cdn);
    let rc = cdn.result_code().unwrap();
    assert_eq!((rc.result, rc.error), (2, Some(5)));
    assert_eq!(
        String::from_utf8_lossy(&rc.message),
        "ICRP with Assigned Session ID 0"
    );
    assert_eq!(ep.session_count(), 0);
}
