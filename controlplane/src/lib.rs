//! The xlns control plane.
//!
//! * [`l2tp`]: the L2TPv2 control codec (messages, AVPs, hiding, tunnel
//!   authentication).
//! * [`ppp`]: the PPP codecs (LCP, IPCP, IPv6CP, PAP, CHAP, MS-CHAPv2).
//! * [`octets`]: the panic-free cursor every TLV codec here reads through.
//!
//! Everything here is sans-IO: bytes in, values out, no sockets, no clocks.

pub mod aaa;
pub mod cause;
pub mod engine;
pub mod l2tp;
pub mod lnsd;
pub mod octets;
pub mod ppp;
pub mod timers;

// The roles live in the engine; these are their established paths.
pub use engine::{lac, lns};

#[doc(hidden)]
pub mod fuzzing;
