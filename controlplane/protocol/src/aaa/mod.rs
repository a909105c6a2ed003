//! Authentication, authorization and addressing for subscribers.
//!
//! * [`pool`]: IPv4 address pools and IPv6 prefix pools (nothing leased
//!   twice); [`prefix`]: IPv6 prefixes and how a pool cuts its block.
//! * [`assign`]: which address and IPv6CP identifier a subscriber gets.
//! * [`schedule`]: a session's accounting clock (Session-Timeout, interims).
//! * [`local`]: the local users file.
//! * [`dae`]: Disconnect/CoA (RFC 5176) decisions, sans-IO.
//! * [`tunnel`]: which LNS a switched or access call goes to (RFC 2868
//!   Tunnel-* attributes, realm rules, failover and hold-down).
//!
//! * [`rate`]: subscriber rates from RADIUS (Mikrotik, WISPr, Cisco, Filter-Id),
//!   profiles and defaults.
//!
//! * [`radius`]: RADIUS (RFC 2865/2866/2869, Disconnect/CoA RFC 5176).

pub mod assign;
pub mod dae;
pub mod local;
pub mod pool;
pub mod prefix;
pub mod radius;
pub mod rate;
pub mod schedule;
pub mod tunnel;
