//! Authentication-Protocol (RFC 1661 §6.2; PAP RFC 1334, CHAP RFC 1994,
//! MS-CHAPv2 RFC 2759).
//!
//! Server side (the LNS): we request the first protocol of our preference
//! list; a Nak naming another protocol we allow moves to it, a Nak naming
//! one we do not allow moves to our next choice; a Reject means the peer
//! will not authenticate, which the owner treats as a failure. We never
//! authenticate ourselves to a subscriber: the peer's request for it is
//! rejected.
//!
//! Client side (the emulator): the server's demand is acknowledged when we
//! support it, otherwise Nak'd with our first choice.

use super::OptVerdict;
use crate::ppp::lcp::AuthProtocol;

/// Server: our next choice after the peer Nak'd `current` suggesting
/// `suggested`; `None` when nothing acceptable remains.
pub fn after_nak(
    prefs: &[AuthProtocol],
    current: &AuthProtocol,
    suggested: &AuthProtocol,
) -> Option<AuthProtocol> {
    if prefs.contains(suggested) {
        return Some(suggested.clone());
    }
    let i = prefs.iter().position(|p| p == current)?;
    prefs.get(i + 1).cloned()
}

/// Client: judges the server's demand against what we support.
pub fn judge_client(demand: &AuthProtocol, supported: &[AuthProtocol]) -> OptVerdict<AuthProtocol> {
    if supported.contains(demand) {
        OptVerdict::Ack
    } else {
        match supported.first() {
            Some(p) => OptVerdict::Nak(p.clone()),
            None => OptVerdict::Reject,
        }
    }
}
