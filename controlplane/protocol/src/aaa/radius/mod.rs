//! RADIUS for the LNS: the packet codec and its cryptography ([`packet`]).
//! The client (retransmission, failover, accounting) and the
//! Disconnect/CoA listener build on it.

pub mod client;
pub mod nas;
pub mod packet;
