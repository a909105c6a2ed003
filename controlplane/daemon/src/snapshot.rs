//! One snapshot of the engine's state for readers outside the engine task:
//! what `GetStats` and `ListSwitched` answer and what a Prometheus scrape
//! renders, built by one function on the engine task
//! ([`super::admin::Admin::snapshot`]) so the two never disagree, and so
//! the admin service and the metrics do not depend on each other.
//!
//! Guarantees: a snapshot is consistent (taken between two datagrams);
//! RADIUS response times are in exactly one snapshot (each is taken from
//! the engine once). Who builds it: the engine task, on request; who reads
//! it: the admin service and the metrics endpoint.

use super::proto::pb;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::oneshot;

/// The engine as readers see it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Counters: L2TP, engine, data plane, per tunnel.
    pub stats: pb::Stats,
    /// The multi-hop gateway's calls and targets.
    pub switched: pb::ListSwitchedResponse,
    /// Tunnels by state (every state, zeros included).
    pub tunnel_states: BTreeMap<String, u64>,
    /// The RADIUS client's counters, when RADIUS is configured.
    pub radius: Option<lns_protocol::aaa::radius::client::Stats>,
    /// Subscribers up since start.
    pub setups: u64,
    /// Calls that ended without a subscriber up, by cause label.
    pub setup_failures: BTreeMap<String, u64>,
    /// RADIUS response times since the previous snapshot.
    pub radius_latencies: Vec<Duration>,
}

/// A request for a fresh snapshot, answered on the engine task.
pub type Request = oneshot::Sender<Snapshot>;
