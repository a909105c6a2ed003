//! The engine: calls composed from an L2TP session in a tunnel, a PPP
//! link where PPP is spoken here, AAA, and a data-plane entry (DESIGN
//! §2.1, §3), and the roles that compose them. Sans-IO: the daemon
//! (`lns-daemon`) and the simulator drive it.
//!
//! * [`lns`]: the terminated role (the LNS; remote dial), which also hosts
//!   the switched role below: one endpoint, both kinds of call.
//! * [`switch`]: the multi-hop gateway role (switched calls: a LAC's call
//!   passed on to a target LNS, both legs bound; outgoing calls relayed).
//! * [`lac`]: the LAC role with PPP clients behind it (the emulated LAC of
//!   the tests and lns-bench; the voluntary client builds on it).
//! * [`role`]: the one engine type, and the hooks a role supplies to it.
//! * [`call`]: the calls of a role that speaks PPP: links, timers, drains.
//! * [`dataplane`]: the data plane as engine outputs and inputs.
//! * [`frame`]: PPP packets inside L2TP data messages, both directions.
//! * [`proxy`]: proxy LCP and authentication AVPs as PPP terms.
//! * [`sim`]: the simulator that drives engines over an in-memory wire
//!   with a virtual clock.

pub mod call;
pub mod dataplane;
pub mod frame;
pub mod lac;
pub mod lns;
pub mod proxy;
pub mod role;
pub mod sim;
pub mod switch;
