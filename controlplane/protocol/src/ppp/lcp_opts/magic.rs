//! Magic-Number (RFC 1661 §6.4): loop detection, and the number our
//! Echo-Requests carry.
//!
//! A peer Magic-Number equal to ours, or zero, is Nak'd with a fresh random
//! value. When our own number keeps coming back the link is looped back:
//! after `LOOP_LIMIT` collisions the owner is told (and clears the call).

use super::OptVerdict;

/// Collisions after which the link is declared looped back.
pub const LOOP_LIMIT: u32 = 5;

/// Judges the peer's Magic-Number; `fresh` is a random candidate for the
/// Nak.
pub fn judge(peer: u32, ours: Option<u32>, fresh: u32) -> OptVerdict<u32> {
    if peer == 0 || Some(peer) == ours {
        OptVerdict::Nak(fresh.max(1))
    } else {
        OptVerdict::Ack
    }
}
