//! A deterministic in-memory network for endpoints (DESIGN §5, layer 4).
//!
//! Several [`Endpoint`]s, each at a socket address, exchange datagrams over
//! a wire with a virtual clock and seeded impairments: loss, duplication,
//! reordering (extra delay) and latency. Nothing real is involved, so a run
//! is a pure function of its seed. Used by the simulation tests, the
//! control-plane benchmark and the endpoint fuzz target.

use crate::l2tp::endpoint::{Endpoint, Transmit};
use crate::l2tp::tunnel::Event;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the wire does to datagrams; probabilities in 0.0..=1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairments {
    /// One-way delay.
    pub latency: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram is held back (up to 4 × latency extra), so
    /// later ones overtake it.
    pub reorder: f64,
}

impl Default for Impairments {
    fn default() -> Self {
        Impairments {
            latency: Duration::from_millis(5),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
        }
    }
}

/// Anything that speaks datagrams sans-IO: the bare [`Endpoint`], the
/// engine in any role (`engine::role::Driven<R>`: the emulated LAC, the
/// LNS without a data plane), and the LNS with its data plane
/// ([`crate::lns::Lns`], which applies the engine's data-plane ops).
pub trait Driven: std::fmt::Debug {
    /// What it reports.
    type Event: std::fmt::Debug;
    /// A datagram arrived on `local` from `from`.
    fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]);
    /// Next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// Next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Earliest timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Fires due timers.
    fn on_timeout(&mut self, now: Instant);
}

impl Driven for Endpoint {
    type Event = Event;
    fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        Endpoint::handle(self, now, local, from, datagram);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Endpoint::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Endpoint::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }
    fn on_timeout(&mut self, now: Instant) {
        Endpoint::on_timeout(self, now)
    }
}

impl<D: crate::lns::DataPlane> Driven for crate::lns::Lns<D> {
    type Event = crate::lns::LnsEvent;
    fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        crate::lns::Lns::handle(self, now, local, from, datagram)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        crate::lns::Lns::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::lns::Lns::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::lns::LnsCore::poll_timeout(self)
    }
    fn on_timeout(&mut self, now: Instant) {
        crate::lns::Lns::on_timeout(self, now)
    }
}

impl<R: crate::engine::role::Role> Driven for crate::engine::role::Engine<R> {
    type Event = R::Event;
    fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        crate::engine::role::Engine::handle(self, now, local, from, datagram)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        crate::engine::role::Engine::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::engine::role::Engine::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::engine::role::Engine::poll_timeout(self)
    }
    fn on_timeout(&mut self, now: Instant) {
        crate::engine::role::Engine::on_timeout(self, now)
    }
}

/// One engine on the wire, with the events it reported.
#[derive(Debug)]
pub struct Node<E: Driven> {
    /// Its address.
    pub addr: SocketAddr,
    /// The engine.
    pub endpoint: E,
    /// Every event it reported, in order.
    pub events: Vec<E::Event>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    payload: Vec<u8>,
}

/// The simulated network, over one kind of engine (`E`); mixed networks
/// (an LNS and LACs) use an enum engine, see [`Mixed`].
#[derive(Debug)]
pub struct Sim<E: Driven = Endpoint> {
    /// Virtual now.
    pub now: Instant,
    /// The endpoints.
    pub nodes: Vec<Node<E>>,
    /// Impairments applied to every datagram.
    pub impairments: Impairments,
    wire: BinaryHeap<Reverse<InFlight>>,
    rng: StdRng,
    seq: u64,
    /// Datagrams put on the wire.
    pub sent: u64,
    /// Datagrams the wire dropped.
    pub lost: u64,
    /// Datagrams addressed to nobody.
    pub undeliverable: u64,
    /// Keep a copy of every datagram sent in `recorded`.
    pub record: bool,
    /// What the endpoints sent while `record` was set, in order, before
    /// the wire's impairments: what tests check "on the wire".
    pub recorded: Vec<Transmit>,
}

impl<E: Driven> Sim<E> {
    /// An empty network starting at `start`, impairments drawn from `seed`.
    pub fn new(start: Instant, impairments: Impairments, seed: u64) -> Self {
        Sim {
            now: start,
            nodes: Vec::new(),
            impairments,
            wire: BinaryHeap::new(),
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            sent: 0,
            lost: 0,
            undeliverable: 0,
            record: false,
            recorded: Vec::new(),
        }
    }

    /// Adds an endpoint at `addr`; returns its index.
    pub fn add(&mut self, addr: SocketAddr, endpoint: E) -> usize {
        self.nodes.push(Node {
            addr,
            endpoint,
            events: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Runs a local request on node `i` at the current time, then collects
    /// what it produced.
    pub fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut E, Instant) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.nodes[i].endpoint, now);
        self.collect(i);
        r
    }

    fn collect(&mut self, i: usize) {
        while let Some(ev) = self.nodes[i].endpoint.poll_event() {
            self.nodes[i].events.push(ev);
        }
        while let Some(tx) = self.nodes[i].endpoint.poll_transmit() {
            self.sent += 1;
            if self.record {
                self.recorded.push(tx.clone());
            }
            let Some(to) = self.nodes.iter().position(|n| n.addr == tx.peer) else {
                self.undeliverable += 1;
                continue;
            };
            let imp = self.impairments;
            if self.rng.random_bool(imp.loss.clamp(0.0, 1.0)) {
                self.lost += 1;
                continue;
            }
            let copies = if self.rng.random_bool(imp.duplicate.clamp(0.0, 1.0)) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut delay = imp.latency;
                if self.rng.random_bool(imp.reorder.clamp(0.0, 1.0)) {
                    let extra = self
                        .rng
                        .random_range(0..=imp.latency.as_micros().max(1) as u64 * 4);
                    delay += Duration::from_micros(extra);
                }
                self.seq += 1;
                self.wire.push(Reverse(InFlight {
                    at: self.now + delay,
                    seq: self.seq,
                    to,
                    from: tx.local,
                    payload: tx.payload.clone(),
                }));
            }
        }
    }

    /// When something next happens: a delivery or an endpoint timer.
    pub fn next_time(&self) -> Option<Instant> {
        let wire = self.wire.peek().map(|Reverse(f)| f.at);
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.endpoint.poll_timeout())
            .min();
        match (wire, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next moment something happens and processes it.
    /// Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        while let Some(Reverse(f)) = self.wire.peek() {
            if f.at > self.now {
                break;
            }
            let Some(Reverse(f)) = self.wire.pop() else {
                break;
            };
            let node = &mut self.nodes[f.to];
            let local = node.addr;
            node.endpoint.handle(self.now, local, f.from, &f.payload);
            self.collect(f.to);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .endpoint
                .poll_timeout()
                .is_some_and(|d| d <= self.now)
            {
                let now = self.now;
                self.nodes[i].endpoint.on_timeout(now);
                self.collect(i);
            }
        }
        true
    }

    /// Steps until `done` holds or virtual time passes `limit`; returns
    /// whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim<E>) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(end);
                    return done(self);
                }
            }
        }
        true
    }

    /// Steps until nothing is left to happen or `limit` passes.
    pub fn run_idle(&mut self, limit: Duration) {
        let end = self.now + limit;
        while let Some(t) = self.next_time() {
            if t > end {
                break;
            }
            self.step();
        }
    }
}

/// The LNS (with its data plane) or an emulated LAC, so both roles share
/// one simulated wire.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a handful of nodes per simulation"
)]
pub enum Mixed<D: crate::lns::DataPlane> {
    /// The LNS.
    Lns(crate::lns::Lns<D>),
    /// An emulated LAC.
    Lac(crate::lac::Lac),
}

/// Events of a [`Mixed`] node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixedEvent {
    /// From the LNS.
    Lns(crate::lns::LnsEvent),
    /// From a LAC.
    Lac(crate::lac::LacEvent),
}

impl<D: crate::lns::DataPlane> Mixed<D> {
    /// The LNS, if this is it.
    pub fn lns(&mut self) -> Option<&mut crate::lns::Lns<D>> {
        match self {
            Mixed::Lns(l) => Some(l),
            Mixed::Lac(_) => None,
        }
    }

    /// The LNS, read-only.
    pub fn as_lns(&self) -> Option<&crate::lns::Lns<D>> {
        match self {
            Mixed::Lns(l) => Some(l),
            Mixed::Lac(_) => None,
        }
    }

    /// The LAC, if this is one.
    pub fn lac(&mut self) -> Option<&mut crate::lac::Lac> {
        match self {
            Mixed::Lac(l) => Some(l),
            Mixed::Lns(_) => None,
        }
    }

    /// The LAC engine, read-only.
    pub fn as_lac(&self) -> Option<&crate::lac::Lac> {
        match self {
            Mixed::Lac(l) => Some(l),
            Mixed::Lns(_) => None,
        }
    }
}

impl<D: crate::lns::DataPlane> Driven for Mixed<D> {
    type Event = MixedEvent;
    fn handle(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, datagram: &[u8]) {
        match self {
            Mixed::Lns(e) => e.handle(now, local, from, datagram),
            Mixed::Lac(e) => e.handle(now, local, from, datagram),
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Mixed::Lns(e) => e.poll_transmit(),
            Mixed::Lac(e) => e.poll_transmit(),
        }
    }
    fn poll_event(&mut self) -> Option<MixedEvent> {
        match self {
            Mixed::Lns(e) => e.poll_event().map(MixedEvent::Lns),
            Mixed::Lac(e) => e.poll_event().map(MixedEvent::Lac),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Mixed::Lns(e) => e.poll_timeout(),
            Mixed::Lac(e) => e.poll_timeout(),
        }
    }
    fn on_timeout(&mut self, now: Instant) {
        match self {
            Mixed::Lns(e) => e.on_timeout(now),
            Mixed::Lac(e) => e.on_timeout(now),
        }
    }
}
