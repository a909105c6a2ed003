//! The data plane as the engine sees it: outputs the engine produces
//! (install, update, remove a terminated session; read its counters;
//! install, remove a switched call) and inputs it takes back (a session
//! or call left the data plane, with the Ns its frames had reached and
//! what it forwarded; a session's counters now). The engine never calls a
//! data plane: the shell applies [`DataPlaneOp`]s, in order, to whatever
//! it has (shared-memory tables in lnsd, [`NoDataPlane`] without them,
//! [`NullDataPlane`] in tests) and
//! hands each result back as an [`Answer`] (DESIGN §3).
//!
//! One thing cannot wait for a round trip: a sequenced session's Ns is
//! shared by the workers and lnsd (RFC 2661 §5.4, one sequence per
//! session), so the shell passes its take-the-next-Ns function to the
//! engine's `poll_transmit_numbered` and the engine numbers each frame as
//! it leaves.
//!
//! Contract for a shell: apply every op before taking the next frame, and
//! answer every `Remove`, `Read` and `RemoveSwitched` with one [`Answer`]
//! (the ones [`apply`] returns) before taking the next frame. [`apply`]
//! is that loop for any [`DataPlane`].

use crate::engine::switch::{LegUsage, SwitchedEntry};
use crate::l2tp::SessionKey;
use crate::map::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

/// What the data plane needs to forward a subscriber's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// Our ids.
    pub key: SessionKey,
    /// The LAC's tunnel and session ids (for encapsulation).
    pub peer_tunnel: u16,
    /// See `peer_tunnel`.
    pub peer_session: u16,
    /// Our address and the LAC's (outer IP/UDP).
    pub local: SocketAddr,
    /// See `local`.
    pub peer: SocketAddr,
    /// The subscriber's IPv4 address, once IPCP is open.
    pub ipv4: Option<Ipv4Addr>,
    /// The subscriber's interface identifier, once IPv6CP is open.
    pub ipv6_id: Option<[u8; 8]>,
    /// The subscriber link's /64 (its first 8 octets), once IPv6CP is
    /// open and a prefix was given.
    pub ipv6_prefix: Option<[u8; 8]>,
    /// The prefix DHCPv6 delegated to the subscriber (routed to it, and
    /// allowed as a source).
    pub ipv6_delegated: Option<crate::aaa::prefix::Ipv6Net>,
    /// The subscriber's MRU (larger downstream packets are refused).
    pub mru: u16,
    /// Our data messages carry Ns/Nr (RFC 2661 §5.4).
    pub sequencing: bool,
    /// The Ns the data plane goes on from when it takes the session over
    /// (lnsd numbered the session's PPP negotiation until now).
    pub next_ns: u16,
    /// Its policed rates each way (`None`: not limited).
    pub rates: crate::aaa::rate::Rates,
}

/// What the engine asks of the data plane, in the order it must happen
/// (a session's entry is removed before its address is leased again, and
/// that order is the queue's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlaneOp {
    /// Install a terminated session, or update it (same key).
    Install(SessionEntry),
    /// Stop forwarding a terminated session.
    Remove(SessionKey),
    /// Report a terminated session's counters (accounting).
    Read(SessionKey),
    /// Install a switched call, or update it (same leg A).
    InstallSwitched(SwitchedEntry),
    /// Stop switching a call.
    RemoveSwitched {
        /// Leg A (the LAC's).
        a: SessionKey,
        /// Leg B (the LNS's).
        b: SessionKey,
    },
}

/// What a terminated session's data plane forwarded: IP packets and their
/// octets (IPv4 and IPv6, the IP header included, L2TP and PPP not),
/// from the subscriber (`up`) and to it (`down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionUsage {
    /// Packets from the subscriber.
    pub up_packets: u64,
    /// Their octets.
    pub up_octets: u64,
    /// Packets to the subscriber.
    pub down_packets: u64,
    /// Their octets.
    pub down_octets: u64,
}

impl std::ops::Add for SessionUsage {
    type Output = SessionUsage;
    fn add(self, o: SessionUsage) -> SessionUsage {
        SessionUsage {
            up_packets: self.up_packets + o.up_packets,
            up_octets: self.up_octets + o.up_octets,
            down_packets: self.down_packets + o.down_packets,
            down_octets: self.down_octets + o.down_octets,
        }
    }
}

/// A session leaving the data plane: where its sequence had got to, and
/// what was forwarded while it was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Removed {
    /// For a sequenced session the data plane numbered: the Ns its next
    /// frame would have carried (the engine goes on from there).
    pub next_ns: Option<u16>,
    /// Its final counters.
    pub usage: SessionUsage,
}

/// What the data plane answers to a `Remove`, `Read` or
/// `RemoveSwitched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A terminated session left the data plane.
    Session {
        /// Its ids.
        key: SessionKey,
        /// Its sequence and final counters.
        removed: Removed,
    },
    /// A terminated session's counters now.
    Counted {
        /// Its ids.
        key: SessionKey,
        /// What was forwarded since it was installed.
        usage: SessionUsage,
    },
    /// A switched call left the data plane.
    Switched {
        /// Leg A.
        a: SessionKey,
        /// What it switched: (from the LAC, from the LNS); zero when it
        /// never had the call.
        usage: [LegUsage; 2],
    },
}

/// A data plane the shell applies the engine's ops to.
pub trait DataPlane: std::fmt::Debug {
    /// Installs or updates a session's forwarding entry.
    fn install(&mut self, entry: &SessionEntry);
    /// Removes it: for a sequenced session the data plane numbered, the
    /// Ns its next data message would have carried, and what it
    /// forwarded (nothing, for a session it did not have).
    fn remove(&mut self, key: SessionKey) -> Removed;
    /// What an installed session forwarded so far (zero if not installed).
    fn counters(&mut self, key: SessionKey) -> SessionUsage {
        let _ = key;
        SessionUsage::default()
    }
    /// Takes the next Ns of a sequenced session the data plane numbers
    /// (it is installed): lnsd's frames and the workers' share one
    /// sequence. `None`: not installed, the engine numbers it.
    fn take_ns(&mut self, key: SessionKey) -> Option<u16> {
        let _ = key;
        None
    }
    /// Installs (or updates) a switched call: a frame received on one
    /// leg leaves on the other (the multi-hop gateway, DESIGN §2.1).
    fn install_switched(&mut self, entry: &SwitchedEntry) {
        let _ = entry;
    }
    /// Stops switching a call (before either leg's ids can be reused);
    /// what the data plane switched each way: (from the LAC, from the
    /// LNS).
    fn remove_switched(&mut self, a: SessionKey, b: SessionKey) -> Option<[LegUsage; 2]> {
        let _ = (a, b);
        None
    }
}

/// Applies one op to `dp`; what to hand back to the engine, if anything.
pub fn apply(dp: &mut impl DataPlane, op: &DataPlaneOp) -> Option<Answer> {
    match op {
        DataPlaneOp::Install(e) => {
            dp.install(e);
            None
        }
        DataPlaneOp::Remove(key) => Some(Answer::Session {
            key: *key,
            removed: dp.remove(*key),
        }),
        DataPlaneOp::Read(key) => Some(Answer::Counted {
            key: *key,
            usage: dp.counters(*key),
        }),
        DataPlaneOp::InstallSwitched(e) => {
            dp.install_switched(e);
            None
        }
        DataPlaneOp::RemoveSwitched { a, b } => Some(Answer::Switched {
            a: *a,
            usage: dp.remove_switched(*a, *b).unwrap_or_default(),
        }),
    }
}

/// A data plane that forwards and keeps nothing: lnsd with no data plane
/// (`[dataplane] mode = "off"`), where a copy of every entry would be a
/// few hundred bytes a session spent on nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDataPlane;

impl DataPlane for NoDataPlane {
    fn install(&mut self, _entry: &SessionEntry) {}
    fn remove(&mut self, _key: SessionKey) -> Removed {
        Removed::default()
    }
}

/// A data plane that forwards nothing, but remembers what it was told (so
/// tests can check the order of install and remove).
#[derive(Debug, Default)]
pub struct NullDataPlane {
    /// Entries installed now.
    pub entries: HashMap<SessionKey, SessionEntry>,
    /// Switched calls installed now, by leg A.
    pub switched: HashMap<SessionKey, SwitchedEntry>,
}

impl DataPlane for NullDataPlane {
    fn install_switched(&mut self, entry: &SwitchedEntry) {
        self.switched.insert(entry.a.key, *entry);
    }
    fn remove_switched(&mut self, a: SessionKey, _b: SessionKey) -> Option<[LegUsage; 2]> {
        self.switched.remove(&a).map(|_| [LegUsage::default(); 2])
    }
    fn install(&mut self, entry: &SessionEntry) {
        self.entries.insert(entry.key, entry.clone());
    }
    fn remove(&mut self, key: SessionKey) -> Removed {
        self.entries.remove(&key);
        Removed::default()
    }
}
