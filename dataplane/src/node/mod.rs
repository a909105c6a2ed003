//! The worker pipeline's stages (DESIGN §4, "vectors, not packets"): pure
//! functions over one packet's bytes, called by the workers over each
//! batch. Every refusal is a named [`drop::Drop`].
//!
//! * [`classify`]: downstream, a core frame for a subscriber pool, and the
//!   size a session can take (its MRU, and the access link's MTU).
//! * [`decap`]: upstream, a LAC's data frame down to the subscriber's packet.
//! * [`forward`]: upstream, the decapsulated packet rewritten for the core
//!   (spoof check, TTL, next-hop Ethernet header).
//! * [`gateway`]: upstream, the echo reply for a subscriber's ping to its
//!   PPP peer address.
//! * [`encap`]: downstream, subscriber packet into its tunnel, from a
//!   per-session template.
//!
//! * [`frag`]: downstream, an IPv4 packet too big for its subscriber, with
//!   Don't Fragment clear, cut into fragments (RFC 791).
//! * [`icmp`]: downstream, the error for a packet too big for its
//!   subscriber that must not be fragmented.
//! * [`police`]: either way, a session's token bucket: whether a packet
//!   is within its rate.
//! * [`switch`]: either way, a switched session's data frame rewritten
//!   from one leg's headers to the other's, its PPP frame untouched.
//!
//! The worker (`crate::worker`) strings them together over batches.

pub mod classify;
pub mod decap;
pub mod drop;
pub mod encap;
pub mod forward;
pub mod frag;
pub mod gateway;
pub mod icmp;
pub mod police;
pub mod switch;
