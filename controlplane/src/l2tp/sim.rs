//! A deterministic in-memory network for endpoints (DESIGN §5, layer 4).
//!
//! Several [`Endpoint`]s, each at a socket address, exchange datagrams over
//! a wire with a virtual clock and seeded impairments: loss, duplication,
//! reordering (extra delay) and latency. Nothing real is involved, so a run
//! is a pure function of its seed. Used by the simulation tests, the
//! control-plane benchmark and the endpoint fuzz target.

use super::endpoint::Endpoint;
use super::tunnel::Event;
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

/// One endpoint on the wire, with the events it reported.
#[derive(Debug)]
pub struct Node {
    /// Its address.
    pub addr: SocketAddr,
    /// The engine.
    pub endpoint: Endpoint,
    /// Every event it reported, in order.
    pub events: Vec<Event>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    payload: Vec<u8>,
}

/// The simulated network.
#[derive(Debug)]
pub struct Sim {
    /// Virtual now.
    pub now: Instant,
    /// The endpoints.
    pub nodes: Vec<Node>,
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
}

impl Sim {
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
        }
    }

    /// Adds an endpoint at `addr`; returns its index.
    pub fn add(&mut self, addr: SocketAddr, endpoint: Endpoint) -> usize {
        self.nodes.push(Node {
            addr,
            endpoint,
            events: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Runs a local request on node `i` at the current time, then collects
    /// what it produced.
    pub fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
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
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
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
