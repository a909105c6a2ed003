//! The call composition every role shares (DESIGN §2.1, §3): an L2TP
//! session in a tunnel, a PPP link where PPP is spoken here, AAA, and a
//! data-plane entry. Today the LNS role (`crate::lns`) and the LAC role
//! (`crate::lac`) still compose their calls themselves; what both use
//! already lives here, and the roles move in next (issue 15).
//!
//! * [`frame`]: PPP packets inside L2TP data messages, both directions.
//! * [`proxy`]: proxy LCP and authentication AVPs as PPP terms.
//! * [`sim`]: the simulator that drives engines over an in-memory wire
//!   with a virtual clock.
//! * [`switch`]: the multi-hop gateway role (switched calls: a LAC's call
//!   passed on to a target LNS, both legs bound).

pub mod frame;
pub mod proxy;
pub mod sim;
pub mod switch;
