//! Authentication, authorization and addressing for subscribers.
//!
//! * [`pool`]: IPv4 address pools (no address leased twice).
//! * [`local`]: the local users file.
//!
//! RADIUS (RFC 2865/2866/2869) and the Disconnect/CoA listener (RFC 5176)
//! arrive next to these.

pub mod local;
pub mod pool;
