//! Reliable delivery of control messages (RFC 2661 §5.8, Appendix A).
//!
//! One [`Transport`] per control connection. Sans-IO: the tunnel above hands
//! it encoded datagrams to send and received headers to account for; it
//! answers with datagrams to put on the wire, messages to deliver in order,
//! and deadlines.
//!
//! Guarantees:
//! * Messages are delivered to the tunnel in Ns order, each once. Messages
//!   that arrive early but inside our receive window are held; later ones
//!   are dropped (the peer retransmits them).
//! * Every non-ZLB message received, duplicate or not, is acknowledged:
//!   piggybacked on the next message we send, or by a ZLB after
//!   `ack_delay` (at once for duplicates, whose ack was evidently lost, and
//!   once half our receive window is unacknowledged, so a peer sending
//!   faster than we answer is not held to a window per `ack_delay`).
//! * Unacknowledged messages are retransmitted with exponential backoff
//!   (`initial_timeout` doubling up to `max_timeout`); after `max_retries`
//!   retransmissions without progress the transport reports
//!   [`TimeoutOutcome::Failed`] and the tunnel must be cleared.
//! * No more than min(CWND, peer's Receive Window Size) messages are
//!   outstanding; CWND follows Appendix A's slow start and congestion
//!   avoidance.
//!
//! Refuses: an Nr acknowledging a message never sent ([`RxDrop::BogusNr`],
//! the whole datagram is dropped) and an Ns beyond our window
//! ([`RxDrop::OutOfWindow`]).

use super::message::{ControlHeader, ControlPacket};
use super::seq;
use crate::map::HashMap;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Offsets of the Ns and Nr fields in the control header we emit
/// (flags, length, tunnel, session, Ns, Nr: §3.1 with L and S set, no O).
const NS_OFFSET: usize = 8;
const NR_OFFSET: usize = 10;

/// Receive Window Size the peer is assumed to have when it sends none
/// (§4.4.3, Receive Window Size AVP).
pub const DEFAULT_PEER_WINDOW: u16 = 4;

/// Timers and windows of the reliable transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConfig {
    /// First retransmission timeout (§5.8 recommends 1 s).
    pub initial_timeout: Duration,
    /// Cap on the backoff (§5.8: no less than 8 s).
    pub max_timeout: Duration,
    /// Retransmissions before the tunnel is declared dead (§5.8: 5).
    pub max_retries: u32,
    /// How long an acknowledgement may wait for a message to ride on.
    pub ack_delay: Duration,
    /// Our Receive Window Size: how many messages the peer may have
    /// outstanding, and how far ahead we hold out-of-order ones.
    pub receive_window: u16,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            max_retries: 5,
            ack_delay: Duration::from_millis(100),
            receive_window: 16,
        }
    }
}

impl TransportConfig {
    /// The "full retransmission cycle" (§5.7, §5.8): from the first
    /// transmission until the transport gives up (31 s with the defaults).
    pub fn full_cycle(&self) -> Duration {
        let mut rto = self.initial_timeout;
        let mut total = Duration::ZERO;
        for _ in 0..=self.max_retries {
            total += rto;
            rto = (rto * 2).min(self.max_timeout.max(self.initial_timeout));
        }
        total
    }
}

/// Why a received datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDrop {
    /// Nr acknowledges a message we never sent.
    BogusNr,
    /// Ns lies beyond our receive window.
    OutOfWindow,
}

/// What happened to an accepted datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxKind {
    /// A ZLB: its Nr was processed, nothing to deliver.
    Zlb,
    /// The expected message; it and any held successors were delivered.
    Delivered,
    /// A message already received; acknowledged again (§5.8).
    Duplicate,
    /// An early message, held until the gap fills.
    Held,
    /// An early message we already hold.
    AlreadyHeld,
}

/// Result of [`Transport::on_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutOutcome {
    /// Nothing failed (retransmissions or an ack may now be pending).
    Ok,
    /// Retransmissions ran out: clear the tunnel and its sessions (§5.8).
    Failed,
}

/// Kind of an outgoing datagram, for counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// First transmission of a message.
    New,
    /// A retransmission.
    Retransmit,
    /// A ZLB acknowledgement.
    Zlb,
}

#[derive(Debug)]
struct InFlight {
    ns: u16,
    datagram: Vec<u8>,
    /// Sent at least once and not due again.
    sent: bool,
}

/// The reliable transport of one control connection; `T` is whatever the
/// tunnel wants delivered (the decoded message).
#[derive(Debug)]
pub struct Transport<T> {
    cfg: TransportConfig,
    peer_tunnel_id: u16,
    /// Ns of the next new message.
    next_ns: u16,
    /// Ns we expect next from the peer (our Nr).
    nr: u16,
    peer_window: u16,
    cwnd: u16,
    ssthresh: u16,
    /// New ACKs counted toward the next CWND step in congestion avoidance.
    ca_acks: u16,
    queue: VecDeque<Vec<u8>>,
    queued_total: u64,
    released_total: u64,
    inflight: VecDeque<InFlight>,
    rto: Duration,
    retries: u32,
    rto_deadline: Option<Instant>,
    ack_deadline: Option<Instant>,
    ack_now: bool,
    /// Messages delivered since our last acknowledgement.
    unacked: u16,
    held: HashMap<u16, T>,
    failed: bool,
}

impl<T> Transport<T> {
    /// A fresh transport (Ns = Nr = 0).
    pub fn new(cfg: TransportConfig) -> Self {
        Transport {
            cfg,
            peer_tunnel_id: 0,
            next_ns: 0,
            nr: 0,
            peer_window: DEFAULT_PEER_WINDOW,
            cwnd: 1,
            ssthresh: DEFAULT_PEER_WINDOW,
            ca_acks: 0,
            queue: VecDeque::new(),
            queued_total: 0,
            released_total: 0,
            inflight: VecDeque::new(),
            rto: cfg.initial_timeout,
            retries: 0,
            rto_deadline: None,
            ack_deadline: None,
            ack_now: false,
            unacked: 0,
            held: HashMap::default(),
            failed: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.cfg
    }

    /// The peer's tunnel id, used for ZLBs.
    pub fn set_peer_tunnel_id(&mut self, id: u16) {
        self.peer_tunnel_id = id;
    }

    /// The peer's Receive Window Size (§4.4.3; 0 is invalid and ignored).
    pub fn set_peer_window(&mut self, rws: u16) {
        if rws == 0 {
            return;
        }
        // More than half the sequence space outstanding would make Nr
        // comparisons (§5.8) ambiguous.
        let rws = rws.min(0x7fff);
        self.peer_window = rws;
        // Appendix A: SSTHRESH starts at the advertised window.
        self.ssthresh = rws;
        self.cwnd = self.cwnd.min(rws);
    }

    /// Queues an encoded control message (header included; Ns and Nr are
    /// filled in when it is sent).
    pub fn send(&mut self, datagram: Vec<u8>) {
        self.queue.push_back(datagram);
        self.queued_total += 1;
    }

    /// Drops messages not yet sent (the tunnel is closing; they belong to
    /// sessions that are gone).
    pub fn discard_unsent(&mut self) {
        self.released_total += self.queue.len() as u64;
        self.queue.clear();
    }

    /// Acknowledge at once rather than after `ack_delay` (StopCCN, §5.7).
    pub fn ack_now(&mut self) {
        self.ack_now = true;
    }

    /// Nothing queued and nothing awaiting acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.inflight.is_empty()
    }

    /// Messages ever queued for sending (including ones sent since).
    pub fn queued_total(&self) -> u64 {
        self.queued_total
    }

    /// Messages ever released from the queue: sent for the first time, or
    /// discarded. A message queued as number `n` (1-based) of
    /// [`Transport::queued_total`] has left once this reaches `n`.
    pub fn released_total(&self) -> u64 {
        self.released_total
    }

    /// Messages queued or unacknowledged.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.inflight.len()
    }

    /// The retransmissions ran out.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Current congestion window (Appendix A).
    pub fn cwnd(&self) -> u16 {
        self.cwnd
    }

    /// Our Nr (the next Ns expected from the peer).
    pub fn nr(&self) -> u16 {
        self.nr
    }

    /// Accounts for a received datagram: its Nr acknowledges our messages,
    /// its Ns (unless it is a ZLB, `item == None`) orders delivery.
    /// Delivered items are appended to `delivered` in order.
    pub fn on_receive(
        &mut self,
        now: Instant,
        ns: u16,
        nr: u16,
        item: Option<T>,
        delivered: &mut impl Extend<T>,
    ) -> Result<RxKind, RxDrop> {
        if seq::lt(self.next_ns, nr) {
            return Err(RxDrop::BogusNr);
        }
        let Some(item) = item else {
            self.on_ack(now, nr);
            return Ok(RxKind::Zlb);
        };
        if ns != self.nr && !seq::lt(ns, self.nr) && seq::distance(self.nr, ns) >= self.window() {
            return Err(RxDrop::OutOfWindow);
        }
        self.on_ack(now, nr);
        if ns == self.nr {
            delivered.extend(Some(item));
            self.nr = self.nr.wrapping_add(1);
            self.unacked = self.unacked.saturating_add(1);
            while let Some(next) = self.held.remove(&self.nr) {
                delivered.extend(Some(next));
                self.nr = self.nr.wrapping_add(1);
                self.unacked = self.unacked.saturating_add(1);
            }
            self.ack_deadline.get_or_insert(now + self.cfg.ack_delay);
            // The peer may have at most a window outstanding: waiting
            // ack_delay with half of it unacknowledged would cap it at one
            // window per ack_delay.
            if self.unacked >= (self.window() / 2).max(1) {
                self.ack_now = true;
            }
            Ok(RxKind::Delivered)
        } else if seq::lt(ns, self.nr) {
            // §5.8: duplicates MUST be acknowledged; our earlier ack was
            // evidently lost, so do not wait.
            self.ack_now = true;
            Ok(RxKind::Duplicate)
        } else {
            match self.held.entry(ns) {
                std::collections::hash_map::Entry::Occupied(_) => Ok(RxKind::AlreadyHeld),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(item);
                    Ok(RxKind::Held)
                }
            }
        }
    }

    fn window(&self) -> u16 {
        self.cfg.receive_window.max(1)
    }

    fn on_ack(&mut self, now: Instant, nr: u16) {
        let mut progressed = false;
        while let Some(front) = self.inflight.front() {
            if !seq::lt(front.ns, nr) {
                break;
            }
            if let Some(acked) = self.inflight.pop_front() {
                crate::buffers::give(acked.datagram);
            }
            progressed = true;
            // Appendix A: +1 per ACK in slow start, +1 per CWND ACKs after.
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
            } else {
                self.ca_acks += 1;
                if self.ca_acks >= self.cwnd {
                    self.cwnd = self.cwnd.saturating_add(1);
                    self.ca_acks = 0;
                }
            }
            self.cwnd = self.cwnd.min(self.peer_window);
        }
        if progressed {
            self.retries = 0;
            self.rto = self.cfg.initial_timeout;
            self.rto_deadline = if self.inflight.is_empty() {
                None
            } else {
                Some(now + self.rto)
            };
        }
    }

    /// The next datagram to put on the wire, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(Vec<u8>, TxKind)> {
        let window = usize::from(self.cwnd.min(self.peer_window).max(1));
        let nr = self.nr;
        if let Some(m) = self.inflight.iter_mut().take(window).find(|m| !m.sent) {
            m.sent = true;
            patch(&mut m.datagram, NR_OFFSET, nr);
            self.ack_now = false;
            self.ack_deadline = None;
            self.unacked = 0;
            return Some((crate::buffers::copy_of(&m.datagram), TxKind::Retransmit));
        }
        if self.inflight.len() < window
            && let Some(mut d) = self.queue.pop_front()
        {
            self.released_total += 1;
            let ns = self.next_ns;
            self.next_ns = ns.wrapping_add(1);
            patch(&mut d, NS_OFFSET, ns);
            patch(&mut d, NR_OFFSET, nr);
            self.inflight.push_back(InFlight {
                ns,
                datagram: crate::buffers::copy_of(&d),
                sent: true,
            });
            self.rto_deadline.get_or_insert(now + self.rto);
            self.ack_now = false;
            self.ack_deadline = None;
            self.unacked = 0;
            return Some((d, TxKind::New));
        }
        if self.ack_now || self.ack_deadline.is_some_and(|t| t <= now) {
            self.ack_now = false;
            self.ack_deadline = None;
            self.unacked = 0;
            let zlb = ControlPacket::zlb(ControlHeader {
                tunnel_id: self.peer_tunnel_id,
                session_id: 0,
                ns: self.next_ns,
                nr,
            });
            // A bare header always fits; an error here is unreachable, and
            // skipping one ZLB is harmless (the peer retransmits).
            return zlb.encode(None).ok().map(|d| (d, TxKind::Zlb));
        }
        None
    }

    /// The earliest deadline the transport needs to be woken at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ack_now {
            // Something is ready now; the caller's next poll_transmit sends it.
            return None;
        }
        match (self.rto_deadline, self.ack_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires due timers: retransmission (with backoff and Appendix A's
    /// window collapse) and the delayed ack.
    pub fn on_timeout(&mut self, now: Instant) -> TimeoutOutcome {
        if self.failed {
            return TimeoutOutcome::Failed;
        }
        if self.ack_deadline.is_some_and(|t| t <= now) {
            self.ack_now = true;
        }
        let Some(deadline) = self.rto_deadline else {
            return TimeoutOutcome::Ok;
        };
        if deadline > now {
            return TimeoutOutcome::Ok;
        }
        if self.retries >= self.cfg.max_retries {
            self.failed = true;
            self.rto_deadline = None;
            return TimeoutOutcome::Failed;
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(self.cfg.max_timeout.max(self.cfg.initial_timeout));
        self.rto_deadline = Some(now + self.rto);
        // Appendix A: congestion; half of CWND into SSTHRESH, CWND to one.
        self.ssthresh = (self.cwnd / 2).max(1);
        self.cwnd = 1;
        self.ca_acks = 0;
        for m in &mut self.inflight {
            m.sent = false;
        }
        TimeoutOutcome::Ok
    }
}

fn patch(d: &mut [u8], off: usize, v: u16) {
    if let Some(f) = d.get_mut(off..off + 2) {
        f.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::message::decode_packet;

    fn msg(tag: u8) -> Vec<u8> {
        // A HELLO addressed to tunnel 7, tagged through the session id so
        // tests can tell messages apart.
        let m = crate::l2tp::ControlMessage::new(crate::l2tp::MessageType::Hello, vec![]);
        ControlPacket {
            header: ControlHeader {
                tunnel_id: 7,
                session_id: u16::from(tag),
                ns: 0,
                nr: 0,
            },
            message: Some(m),
        }
        .encode(None)
        .unwrap()
    }

    fn hdr(d: &[u8]) -> ControlHeader {
        decode_packet(d, None).unwrap().header
    }

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn full_cycle_is_31s_by_default() {
        assert_eq!(
            TransportConfig::default().full_cycle(),
            Duration::from_secs(31)
        );
    }

    #[test]
    fn numbers_messages_and_piggybacks_nr() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.set_peer_window(4);
        let mut out = vec![];
        assert_eq!(
            t.on_receive(now, 0, 0, Some(1), &mut out),
            Ok(RxKind::Delivered)
        );
        t.send(msg(1));
        let (d, k) = t.poll_transmit(now).unwrap();
        assert_eq!(k, TxKind::New);
        let h = hdr(&d);
        assert_eq!((h.ns, h.nr, h.session_id), (0, 1, 1));
        // The ack rode on the message: no ZLB follows.
        assert!(t.poll_transmit(now + Duration::from_secs(1)).is_none());
    }

    /// The copy kept for retransmission goes back to the thread's
    /// buffers once the peer acknowledges it; the datagram sent is the
    /// caller's to give back.
    #[test]
    fn an_acknowledged_message_gives_its_copy_back() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        while crate::buffers::kept() > 0 {
            drop(crate::buffers::take(0));
        }
        t.send(msg(1));
        let (d, _) = t.poll_transmit(now).unwrap();
        assert_eq!(crate::buffers::kept(), 0);
        let mut out = vec![];
        // Its Nr (1) acknowledges our Ns 0.
        t.on_receive(now, 0, 1, None, &mut out).unwrap();
        assert_eq!(crate::buffers::kept(), 1, "the acknowledged copy");
        crate::buffers::give(d);
        assert_eq!(crate::buffers::kept(), 2);
    }

    #[test]
    fn delayed_zlb_when_nothing_to_send() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.set_peer_tunnel_id(9);
        let mut out = vec![];
        t.on_receive(now, 0, 0, Some(1), &mut out).unwrap();
        assert!(t.poll_transmit(now).is_none());
        let due = t.poll_timeout().unwrap();
        assert_eq!(due, now + Duration::from_millis(100));
        assert_eq!(t.on_timeout(due), TimeoutOutcome::Ok);
        let (d, k) = t.poll_transmit(due).unwrap();
        assert_eq!(k, TxKind::Zlb);
        let p = decode_packet(&d, None).unwrap();
        assert!(p.message.is_none());
        assert_eq!((p.header.tunnel_id, p.header.ns, p.header.nr), (9, 0, 1));
    }

    #[test]
    fn half_a_window_unacknowledged_is_acked_at_once() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        let mut out = vec![];
        // Window 16: seven messages wait for the delayed ack...
        for ns in 0..7 {
            t.on_receive(now, ns, 0, Some(1), &mut out).unwrap();
        }
        assert!(t.poll_transmit(now).is_none());
        // ...the eighth does not.
        t.on_receive(now, 7, 0, Some(1), &mut out).unwrap();
        let (d, k) = t.poll_transmit(now).unwrap();
        assert_eq!((k, hdr(&d).nr), (TxKind::Zlb, 8));
        // The count starts again after that ack.
        t.on_receive(now, 8, 0, Some(1), &mut out).unwrap();
        assert!(t.poll_transmit(now).is_none());
    }

    #[test]
    fn duplicate_is_acked_at_once_and_not_redelivered() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        let mut out = vec![];
        t.on_receive(now, 0, 0, Some(1), &mut out).unwrap();
        assert_eq!(
            t.on_receive(now, 0, 0, Some(1), &mut out),
            Ok(RxKind::Duplicate)
        );
        assert_eq!(out, vec![1]);
        assert_eq!(t.poll_transmit(now).unwrap().1, TxKind::Zlb);
    }

    #[test]
    fn holds_out_of_order_within_window_and_delivers_in_order() {
        let now = t0();
        let cfg = TransportConfig {
            receive_window: 4,
            ..Default::default()
        };
        let mut t: Transport<u16> = Transport::new(cfg);
        let mut out = vec![];
        assert_eq!(t.on_receive(now, 2, 0, Some(2), &mut out), Ok(RxKind::Held));
        assert_eq!(t.on_receive(now, 1, 0, Some(1), &mut out), Ok(RxKind::Held));
        assert_eq!(
            t.on_receive(now, 1, 0, Some(1), &mut out),
            Ok(RxKind::AlreadyHeld)
        );
        assert_eq!(
            t.on_receive(now, 4, 0, Some(4), &mut out),
            Err(RxDrop::OutOfWindow)
        );
        assert!(out.is_empty());
        assert_eq!(
            t.on_receive(now, 0, 0, Some(0), &mut out),
            Ok(RxKind::Delivered)
        );
        assert_eq!(out, vec![0, 1, 2]);
        assert_eq!(t.nr(), 3);
    }

    #[test]
    fn bogus_nr_is_refused() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        let mut out = vec![];
        // Nothing sent yet: Nr 1 acknowledges a message that does not exist.
        assert_eq!(
            t.on_receive(now, 0, 1, Some(1), &mut out),
            Err(RxDrop::BogusNr)
        );
        assert_eq!(
            t.on_receive(now, 0, 1, None, &mut out),
            Err(RxDrop::BogusNr)
        );
        assert!(out.is_empty());
        assert_eq!(t.nr(), 0);
    }

    #[test]
    fn retransmits_with_backoff_then_fails_after_five() {
        let start = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.send(msg(1));
        assert_eq!(t.poll_transmit(start).unwrap().1, TxKind::New);
        let mut at = vec![];
        let now = loop {
            let Some(now) = t.poll_timeout() else {
                panic!("no timer")
            };
            if t.on_timeout(now) == TimeoutOutcome::Failed {
                break now;
            }
            let (d, k) = t.poll_transmit(now).unwrap();
            assert_eq!(k, TxKind::Retransmit);
            assert_eq!(hdr(&d).ns, 0);
            at.push((now - start).as_secs());
        };
        assert_eq!(at, vec![1, 3, 7, 15, 23]);
        assert_eq!((now - start).as_secs(), 31);
        assert!(t.has_failed());
    }

    #[test]
    fn retransmission_carries_fresh_nr() {
        let start = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.send(msg(1));
        t.poll_transmit(start).unwrap();
        let mut out = vec![];
        // A peer message that does not ack ours, then the timer fires.
        t.on_receive(start, 0, 0, Some(5), &mut out).unwrap();
        let due = start + Duration::from_secs(1);
        t.on_timeout(due);
        let (d, _) = t.poll_transmit(due).unwrap();
        let h = hdr(&d);
        assert_eq!((h.ns, h.nr), (0, 1));
    }

    #[test]
    fn slow_start_then_congestion_avoidance_bounded_by_peer_window() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.set_peer_window(4);
        for i in 0..40 {
            t.send(msg(i));
        }
        let mut acked = 0u16;
        let mut cwnds = vec![];
        let mut out = vec![];
        while !t.is_idle() {
            let mut sent = 0;
            while let Some((_, k)) = t.poll_transmit(now) {
                assert_eq!(k, TxKind::New);
                sent += 1;
            }
            assert!(sent <= 4, "window exceeded: {sent}");
            cwnds.push(t.cwnd());
            acked = acked.wrapping_add(sent);
            t.on_receive(now, 0, acked, None, &mut out).unwrap();
        }
        // 1, 2, 4 (slow start reaches SSTHRESH = peer window), then capped.
        assert_eq!(&cwnds[..3], &[1, 2, 4]);
        assert!(cwnds.iter().all(|&c| c <= 4));
    }

    #[test]
    fn timeout_collapses_window_and_goes_back() {
        let now = t0();
        let mut t: Transport<u8> = Transport::new(TransportConfig::default());
        t.set_peer_window(8);
        for i in 0..8 {
            t.send(msg(i));
        }
        // Grow the window: ack one at a time.
        let mut out = vec![];
        let mut acked = 0u16;
        for _ in 0..3 {
            while t.poll_transmit(now).is_some() {}
            acked += 1;
            t.on_receive(now, 0, acked, None, &mut out).unwrap();
        }
        while t.poll_transmit(now).is_some() {}
        let before = t.cwnd();
        assert!(before > 1);
        let due = t.poll_timeout().unwrap();
        t.on_timeout(due);
        assert_eq!(t.cwnd(), 1);
        // Only the oldest unacked message goes out again.
        let (d, k) = t.poll_transmit(due).unwrap();
        assert_eq!((k, hdr(&d).ns), (TxKind::Retransmit, acked));
        assert!(t.poll_transmit(due).is_none());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let now = t0();
        let mut t: Transport<u32> = Transport::new(TransportConfig::default());
        t.set_peer_window(64);
        let mut out = vec![];
        for i in 0..70_000u32 {
            let ns = (i % 65_536) as u16;
            assert_eq!(
                t.on_receive(now, ns, 0, Some(i), &mut out),
                Ok(RxKind::Delivered)
            );
        }
        assert_eq!(out.len(), 70_000);
        assert_eq!(t.nr(), (70_000 % 65_536) as u16);
    }
}
