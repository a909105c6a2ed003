//! Maximum-Receive-Unit (RFC 1661 §6.1).
//!
//! We ask for our MRU; a peer MRU below `min_peer_mru` is Nak'd up to it
//! (we cannot promise to fit subscriber traffic in less). A Nak of ours is
//! followed when the suggestion is at least `min_peer_mru` too; a Reject
//! means the default, 1500.
//!
//! With a ceiling (`max_mru`: what fits the link under the tunnel), a peer
//! MRU above it is Nak'd down to it, a peer that names no MRU is prompted
//! with it (RFC 1661 §5.3: options not requested may be Nak'd, to have the
//! peer include them), and we ask for no more ourselves, nor follow a Nak
//! above it.

use super::OptVerdict;

/// The RFC default when MRU is not negotiated.
pub const DEFAULT: u16 = 1500;

/// Judges the peer's MRU.
pub fn judge(peer: u16, min_peer_mru: u16, max_mru: Option<u16>) -> OptVerdict<u16> {
    match max_mru {
        _ if peer < min_peer_mru => OptVerdict::Nak(min_peer_mru),
        Some(max) if peer > max => OptVerdict::Nak(max),
        _ => OptVerdict::Ack,
    }
}

/// Our first request: `ours` (`None`: not negotiated, so 1500), held
/// under the ceiling.
pub fn request(ours: Option<u16>, max_mru: Option<u16>) -> Option<u16> {
    match (ours, max_mru) {
        (Some(m), Some(max)) => Some(m.min(max)),
        (None, Some(max)) if max < DEFAULT => Some(max),
        (m, _) => m,
    }
}

/// Our new request after a Nak suggesting `suggested`: take it if sane.
pub fn after_nak(ours: u16, suggested: u16, floor: u16, max_mru: Option<u16>) -> u16 {
    if suggested >= floor && max_mru.is_none_or(|max| suggested <= max) {
        suggested
    } else {
        ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_bounds_both_directions() {
        assert_eq!(judge(1500, 576, Some(1458)), OptVerdict::Nak(1458));
        assert_eq!(judge(1458, 576, Some(1458)), OptVerdict::Ack);
        assert_eq!(judge(500, 576, Some(1458)), OptVerdict::Nak(576));
        assert_eq!(judge(1500, 576, None), OptVerdict::Ack);
        assert_eq!(request(Some(1500), Some(1458)), Some(1458));
        assert_eq!(request(Some(1400), Some(1458)), Some(1400));
        assert_eq!(request(None, Some(1458)), Some(1458));
        assert_eq!(request(None, Some(9000)), None);
        assert_eq!(request(None, None), None);
        assert_eq!(after_nak(1400, 1500, 576, Some(1458)), 1400);
        assert_eq!(after_nak(1400, 1450, 576, Some(1458)), 1450);
        assert_eq!(after_nak(1400, 1500, 576, None), 1500);
    }
}
