//! The xlns data plane (DESIGN §2, §3).
//!
//! * [`wire`]: zero-copy views and representations of every header the LNS
//!   touches (Ethernet/VLAN, IPv4, IPv6, UDP, L2TPv2, PPP), shared with the
//!   control plane so each header has one definition.
//! * [`node`]: the pipeline stages, pure functions over packet bytes with
//!   named drop reasons.
//! * [`table`]: the shared-memory tables lnsd writes and the workers read.
//! * [`loader`]: the XDP steering program (`ebpf/`) and its maps.
//! * [`xsk`]: AF_XDP sockets and UMEM.
//! * [`worker`]: the per-core loop and the pipeline over batches.
//! * [`daemon`]: the `lns-dataplane` process.

pub mod daemon;
pub mod loader;
pub mod node;
pub mod table;
pub mod wire;
pub mod worker;
pub mod xsk;

#[doc(hidden)]
pub mod fuzzing;
