//! The xlns data plane.
//!
//! Today this crate holds [`wire`], the zero-copy views and representations of
//! every header the LNS touches on the packet path (Ethernet/VLAN, IPv4, IPv6,
//! UDP, L2TPv2, PPP). The control plane uses the same views, so there is one
//! definition of each header in the product.
//!
//! [`node`] holds the stages of the worker pipeline (so far the drop
//! reasons and template encapsulation). Later work adds the shared-memory
//! session tables (`table/`), the AF_XDP layer (`xsk/`) and the per-core
//! workers; see DESIGN.md §3.

pub mod daemon;
pub mod loader;
pub mod node;
pub mod table;
pub mod wire;
pub mod worker;
pub mod xsk;

#[doc(hidden)]
pub mod fuzzing;
