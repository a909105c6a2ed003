//! Authentication, authorization and addressing for subscribers.
//!
//! * [`pool`]: IPv4 address pools (no address leased twice).
//! * [`local`]: the local users file.
//! * [`dae`]: Disconnect/CoA (RFC 5176) decisions, sans-IO.
//!
//! * [`radius`]: RADIUS (RFC 2865/2866/2869, Disconnect/CoA RFC 5176).

pub mod dae;
pub mod local;
pub mod pool;
pub mod radius;
