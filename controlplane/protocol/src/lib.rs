//! The xlns control plane's protocols, sans-IO (DESIGN §3): bytes and
//! instants in, values and bytes out. Nothing here opens a socket, reads
//! a clock or spawns a task; the daemon crate (`lns-daemon`: `lnsd`,
//! `lnsctl`) and the simulator drive it.
//!
//! * [`l2tp`]: the L2TPv2 control codec (messages, AVPs, hiding, tunnel
//!   authentication), reliable transport, tunnel and session FSMs, and
//!   the endpoint that demultiplexes them.
//! * [`ppp`]: the PPP codecs and the RFC 1661 automaton (LCP, IPCP,
//!   IPv6CP, PAP, CHAP, MS-CHAPv2); knows nothing of L2TP.
//! * [`aaa`]: local users, pools, RADIUS, Disconnect/CoA, tunnel
//!   selection.
//! * [`ipv6`]: IPv6 on a subscriber's link as its router (Router
//!   Advertisements and when to send them).
//! * [`engine`]: calls composed from the above, in every role (LNS,
//!   multi-hop gateway, LAC), and the simulator.
//! * [`cause`]: why a session ended, and every code each cause maps to.
//! * [`octets`]: the panic-free cursor every TLV codec here reads through.
//! * [`map`]: the engine's hash maps (a fast keyed hash).

pub mod aaa;
pub mod buffers;
pub mod cause;
pub mod engine;
pub mod ipv6;
pub mod l2tp;
pub mod map;
pub mod octets;
pub mod ppp;
pub mod timers;

// The roles live in the engine; these are their established paths.
pub use engine::{lac, lns};

#[doc(hidden)]
pub mod fuzzing;
