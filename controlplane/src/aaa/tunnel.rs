//! Where a switched call goes: candidate tunnel endpoints (RFC 2868
//! terms), `user@realm` rules, and the hold-down of endpoints that failed.
//! Sans-IO; the gateway role (`crate::engine::switch`) calls it.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One candidate tunnel endpoint (RFC 2868 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelTarget {
    /// Tunnel-Server-Endpoint.
    pub endpoint: SocketAddr,
    /// The tunnel secret (Tunnel-Password).
    pub secret: Option<Vec<u8>>,
    /// Tunnel-Client-Auth-ID: our Host Name toward the LNS.
    pub client_auth_id: Option<Vec<u8>>,
    /// Tunnel-Server-Auth-ID: the LNS's expected Host Name.
    pub server_auth_id: Option<Vec<u8>>,
    /// Tunnel-Preference: lower is tried first (§3.8).
    pub preference: u32,
    /// Tunnel-Assignment-ID: calls with the same endpoint and id share
    /// a tunnel (§3.7).
    pub assignment_id: Option<Vec<u8>>,
    /// Hide AVPs toward this LNS.
    pub hide_avps: bool,
    /// Load weight among equal preferences.
    pub weight: u32,
    /// The RFC 2868 tag of the set it came from (0: config).
    pub tag: u8,
}

/// `user@realm` rules: the targets of each realm, `*` for any.
#[derive(Debug, Clone, Default)]
pub struct RealmRules {
    rules: HashMap<Vec<u8>, Vec<TunnelTarget>>,
}

impl RealmRules {
    /// Rules from (realm, targets) pairs; realms match case-insensitively.
    pub fn new(rules: Vec<(String, Vec<TunnelTarget>)>) -> Self {
        RealmRules {
            rules: rules
                .into_iter()
                .map(|(r, t)| (r.to_ascii_lowercase().into_bytes(), t))
                .collect(),
        }
    }
    /// The targets for `user` (its realm after the last '@', else `*`).
    pub fn lookup(&self, user: &[u8]) -> Option<&[TunnelTarget]> {
        let at = user.iter().rposition(|&b| b == b'@');
        let realm = at.map(|i| user[i + 1..].to_ascii_lowercase());
        realm
            .and_then(|r| self.rules.get(&r))
            .or_else(|| self.rules.get(b"*".as_slice()))
            .map(Vec::as_slice)
    }
    /// No rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Endpoints that failed, skipped until their hold-down ends.
#[derive(Debug, Clone, Default)]
pub struct HoldDown {
    until: HashMap<SocketAddr, Instant>,
}

impl HoldDown {
    /// `e` failed at `now`: skip it for `d`.
    pub fn fail(&mut self, e: SocketAddr, now: Instant, d: Duration) {
        self.until.insert(e, now + d);
    }
    /// Whether `e` is held down at `now`.
    pub fn is_held(&self, e: SocketAddr, now: Instant) -> bool {
        self.until.get(&e).is_some_and(|t| *t > now)
    }
}
