//! Authentication, authorization and addressing for subscribers.
//!
//! * [`pool`]: IPv4 address pools (no address leased twice).
//! * [`assign`]: which address and IPv6CP identifier a subscriber gets.
//! * [`local`]: the local users file.
//!
//! * [`radius`]: RADIUS (RFC 2865/2866/2869, Disconnect/CoA RFC 5176).

pub mod assign;
pub mod local;
pub mod pool;
pub mod radius;
