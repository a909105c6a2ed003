//! Maximum-Receive-Unit (RFC 1661 §6.1).
//!
//! We ask for our MRU; a peer MRU below `min_peer_mru` is Nak'd up to it
//! (we cannot promise to fit subscriber traffic in less). A Nak of ours is
//! followed when the suggestion is at least `min_peer_mru` too; a Reject
//! means the default, 1500.

use super::OptVerdict;

/// The RFC default when MRU is not negotiated.
pub const DEFAULT: u16 = 1500;

/// Judges the peer's MRU.
pub fn judge(peer: u16, min_peer_mru: u16) -> OptVerdict<u16> {
    if peer < min_peer_mru {
        OptVerdict::Nak(min_peer_mru)
    } else {
        OptVerdict::Ack
    }
}

/// Our new request after a Nak suggesting `suggested`: take it if sane.
pub fn after_nak(ours: u16, suggested: u16, floor: u16) -> u16 {
    if suggested >= floor { suggested } else { ours }
}
