//! One engine type for every role that speaks PPP itself (DESIGN §2.1):
//! an L2TP [`Endpoint`], the role's [`Calls`] and the events it reports,
//! driven the same way whatever the role. A [`Role`] supplies the hooks:
//! what an endpoint event, a call's link output, a data message and a
//! call's timer mean to it, and what it sends.
//!
//! What [`Engine`] guarantees, for every role:
//! * endpoint events are drained once, at the end of each entry point
//!   ([`Engine::handle`], [`Engine::on_timeout`], [`Engine::with_endpoint`]
//!   and the role's own), never from inside a link's drain: clearing a
//!   call queues endpoint events (its CDN) the outer drain picks up, and
//!   draining from there nested one stack level per call (a StopCCN on a
//!   tunnel with thousands of calls overflowed the stack);
//! * a call's link outputs are drained until it has nothing more to say
//!   or the role says the call is gone, and its timer is then set (see
//!   [`Calls::next_output`]);
//! * the role's own timers fire before the calls' in one
//!   [`Engine::on_timeout`].
//!
//! The roles: [`crate::lns::LnsRole`] (the LNS, which hosts the gateway's
//! switched calls) and [`crate::lac::LacRole`] (the LAC with PPP clients:
//! the emulated LAC, xlns-client). The simulator drives any
//! `Engine<R>` (see `engine::sim`). Sans-IO: `now` comes in, datagrams
//! and events go out.

use crate::engine::call::{Calls, PppCall};
use crate::l2tp::{Endpoint, Event, Received, SessionKey, Transmit};
use crate::ppp::link::LinkOutput;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Instant;

/// What a role supplies to the engine. Each hook gets the whole engine:
/// the role's state is `e.role`, the shared parts `e.endpoint`,
/// `e.calls` and `e.events`.
pub trait Role: Sized + std::fmt::Debug {
    /// The role's per-call state.
    type Call: PppCall + std::fmt::Debug;
    /// What the role reports.
    type Event: std::fmt::Debug;

    /// One event of the L2TP endpoint, in order.
    fn on_endpoint_event(e: &mut Engine<Self>, now: Instant, ev: Event);

    /// One thing call `key`'s link asks for. `Break` when the call is
    /// gone (the drain stops there).
    fn on_link_output(
        e: &mut Engine<Self>,
        now: Instant,
        key: SessionKey,
        out: LinkOutput,
    ) -> ControlFlow<()>;

    /// A data message from `from` for session `key` of one of our tunnels,
    /// its PPP frame at `payload_offset` (RFC 2661 §3.1).
    fn on_data(
        e: &mut Engine<Self>,
        now: Instant,
        from: SocketAddr,
        key: SessionKey,
        datagram: &[u8],
        payload_offset: usize,
    );

    /// Call `key`'s timer fired (its link's, or the role's own deadline
    /// for it); the engine drains the link afterwards.
    fn on_call_due(e: &mut Engine<Self>, now: Instant, key: SessionKey);

    /// The role's timers besides its calls' and the endpoint's.
    fn on_timeout(_e: &mut Engine<Self>, _now: Instant) {}

    /// The earliest of those.
    fn next_timeout(&self) -> Option<Instant> {
        None
    }

    /// Next datagram to send.
    fn poll_transmit(e: &mut Engine<Self>) -> Option<Transmit>;
}

/// An L2TP endpoint with a role's calls. Reads of the role's own state
/// (its counters, say) go through to it (`Deref`).
#[derive(Debug)]
pub struct Engine<R: Role> {
    /// The L2TP endpoint (tunnels and calls).
    pub endpoint: Endpoint,
    /// The role's calls, with their links and timers.
    pub(crate) calls: Calls<R::Call>,
    /// What the role reported, not yet taken.
    pub(crate) events: VecDeque<R::Event>,
    /// The role's own state.
    pub(crate) role: R,
}

impl<R: Role> Engine<R> {
    /// An engine for `role` around `endpoint`, with no calls.
    pub(crate) fn with_role(endpoint: Endpoint, role: R) -> Self {
        Engine {
            endpoint,
            calls: Calls::default(),
            events: VecDeque::new(),
            role,
        }
    }

    /// A datagram from the network.
    pub fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        if let Received::Data {
            tunnel,
            session,
            payload_offset,
        } = self.endpoint.handle(now, local, from, datagram)
        {
            let key = SessionKey { tunnel, session };
            R::on_data(self, now, from, key, datagram, payload_offset);
        }
        self.after_endpoint(now);
    }

    /// Fires due timers: the endpoint's, the role's, then each call's.
    pub fn on_timeout(&mut self, now: Instant) {
        self.endpoint.on_timeout(now);
        R::on_timeout(self, now);
        self.after_endpoint(now);
        while let Some(key) = self.calls.pop_due(now) {
            R::on_call_due(self, now, key);
            self.after_link(now, key);
        }
        self.after_endpoint(now);
    }

    /// Earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.calls.next_timeout(),
            self.role.next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<R::Event> {
        self.events.pop_front()
    }

    /// Next datagram to send (see the role's `poll_transmit`).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        R::poll_transmit(self)
    }

    /// Runs `f` on the endpoint (open a tunnel, place, answer or clear a
    /// call), then takes in what it reported.
    pub fn with_endpoint<T>(&mut self, now: Instant, f: impl FnOnce(&mut Endpoint) -> T) -> T {
        let r = f(&mut self.endpoint);
        self.after_endpoint(now);
        r
    }

    /// How many calls the role has.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Takes in the endpoint's events; at the end of each entry point
    /// only (see the module's guarantees).
    pub(crate) fn after_endpoint(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            R::on_endpoint_event(self, now, ev);
        }
    }

    /// Drains what `key`'s link asks for.
    pub(crate) fn after_link(&mut self, now: Instant, key: SessionKey) {
        while let Some(out) = self.calls.next_output(key) {
            if R::on_link_output(self, now, key, out).is_break() {
                return;
            }
        }
    }
}

impl<R: Role> std::ops::Deref for Engine<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.role
    }
}

impl<R: Role> std::ops::DerefMut for Engine<R> {
    fn deref_mut(&mut self) -> &mut R {
        &mut self.role
    }
}
