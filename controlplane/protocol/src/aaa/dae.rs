//! Disconnect and CoA (RFC 5176) as the Dynamic Authorization Server (the
//! NAS) sees them. Sans-IO: no socket, no clock, no engine.
//!
//! Contract: [`decide`] takes a request its caller has authenticated, our
//! NAS identity and a view of the live sessions ([`SessionView`]), and
//! returns a [`Decision`]: the ACK or NAK code, the Error-Cause of a NAK
//! (RFC 5176 §3.5), and the keys of the sessions to clear, sorted, each
//! once. It changes nothing itself; the caller clears exactly those
//! sessions, then sends [`Decision::reply`] sealed with the client's
//! secret. A NAK clears and changes nothing. An acknowledged CoA-Request
//! clears nothing either: it names the sessions to change
//! ([`Decision::change`]) and the [`Change`] to make. The checks, in this
//! order, each answering the first that fails:
//!
//! 1. NAS identification (§3): a NAS-IP-Address or NAS-Identifier that is
//!    given must be ours, else 403 NAS Identification Mismatch.
//! 2. Session identification we do not match on (Called-Station-Id,
//!    Acct-Multi-Session-Id, NAS-Port-Id, Chargeable-User-Identity,
//!    Framed-Interface-Id, Framed-IPv6-Prefix): 401 Unsupported Attribute.
//! 3. None of the ones we match on (User-Name, NAS-Port,
//!    Framed-IP-Address, Calling-Station-Id, Acct-Session-Id): 402 Missing
//!    Attribute.
//! 4. A session matches when every one of those given matches it (§3:
//!    "the combination ... MUST match at least one session"); none does:
//!    503 Session Context Not Found.
//! 5. A CoA-Request asking to re-authorize (Service-Type Authorize Only,
//!    §3.2): 405 Unsupported Service; asking for anything but
//!    Session-Timeout (RFC 2865 §5.27), Idle-Timeout (§5.28) or rates
//!    (`crate::aaa::rate`: Mikrotik-Rate-Limit, WISPr-Bandwidth-Max-*,
//!    Cisco-AVPair sub-qos-policy-*, Filter-Id): 401 Unsupported
//!    Attribute, or 406 Unsupported Extension for another
//!    Vendor-Specific attribute; a rate that does not parse or names no
//!    configured profile: 407 Invalid Attribute Value. Nothing is changed
//!    (not partly applied).
//! 6. A CoA-Request that asks nothing: 404 Invalid Request.
//! 7. A CoA-Request: ACK, every matching session changed.
//! 8. A Disconnect-Request: ACK, and every matching session is cleared
//!    (§3: the request "MUST apply to all matching sessions").
//!
//! Around it, [`verify`] authenticates a datagram against the configured
//! clients (anything it refuses is silently discarded), and
//! [`ReplyCache`] answers a retransmitted request with the reply already
//! sent, so it is never acted on twice.

use crate::aaa::radius::nas::Nas;
use crate::aaa::radius::packet::{Attr, Code, Packet, attr};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Session identification attributes of RFC 5176 §3 we cannot match on:
/// Called-Station-Id, Acct-Multi-Session-Id, NAS-Port-Id,
/// Chargeable-User-Identity, Framed-Interface-Id, Framed-IPv6-Prefix.
const UNSUPPORTED_IDENTIFICATION: [u8; 6] = [30, 50, 87, 89, 96, 97];

/// Attributes of a CoA-Request that are not changes to make: session and
/// NAS identification (§3), State (24), Proxy-State (33),
/// Event-Timestamp (55), Message-Authenticator (80).
const COA_NOT_CHANGES: [u8; 11] = [1, 4, 5, 8, 24, 31, 32, 33, 44, 55, 80];

/// Service-Type "Authorize Only" (RFC 5176 §3.2): re-authorize with the
/// RADIUS server, which we do not do.
const AUTHORIZE_ONLY: u32 = 17;

/// The two requests of RFC 5176 §2.1 and §2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Disconnect-Request (40), answered with Disconnect-ACK/NAK.
    Disconnect,
    /// CoA-Request (43), answered with CoA-ACK/NAK.
    Coa,
}

impl Kind {
    /// The kind of a request code; `None` for any other code (§2.3: such
    /// packets are silently discarded).
    pub fn of(code: Option<Code>) -> Option<Kind> {
        match code? {
            Code::DisconnectRequest => Some(Kind::Disconnect),
            Code::CoaRequest => Some(Kind::Coa),
            _ => None,
        }
    }

    fn ack(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectAck,
            Kind::Coa => Code::CoaAck,
        }
    }

    fn nak(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectNak,
            Kind::Coa => Code::CoaNak,
        }
    }
}

/// The Error-Cause values we send (RFC 5176 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCause {
    /// 401: the request identifies sessions by an attribute we do not
    /// support.
    UnsupportedAttribute = 401,
    /// 402: no session identification attribute we support.
    MissingAttribute = 402,
    /// 403: a NAS identification attribute is not ours.
    NasIdentificationMismatch = 403,
    /// 404: the request is invalid (a CoA that asks for nothing).
    InvalidRequest = 404,
    /// 405: the service asked is not supported.
    UnsupportedService = 405,
    /// 406: a vendor extension (Vendor-Specific attribute) we do not
    /// support.
    UnsupportedExtension = 406,
    /// 407: an attribute we support with a value we cannot use (a rate
    /// that does not parse, a profile that is not configured).
    InvalidAttributeValue = 407,
    /// 503: no session matches.
    SessionContextNotFound = 503,
}

impl ErrorCause {
    /// The attribute's value on the wire.
    pub fn value(self) -> u32 {
        self as u32
    }
}

/// What [`decide`] needs to know of one live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView<'a, K> {
    /// The caller's key for the session (returned in [`Decision::clear`]).
    pub key: K,
    /// Acct-Session-Id, as sent in its accounting.
    pub acct_session_id: &'a [u8],
    /// User-Name (empty before authentication).
    pub user: &'a [u8],
    /// Framed-IP-Address, once one is assigned.
    pub ipv4: Option<Ipv4Addr>,
    /// NAS-Port.
    pub nas_port: u32,
    /// Calling-Station-Id, if the call had one.
    pub calling: Option<&'a [u8]>,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<K> {
    /// ACK or NAK, of the request's kind.
    pub code: Code,
    /// Why a NAK (every NAK has one); `None` for an ACK.
    pub error_cause: Option<ErrorCause>,
    /// Sessions to clear before replying: sorted, each once; empty unless
    /// the request is an acknowledged Disconnect-Request.
    pub clear: Vec<K>,
    /// Sessions to change before replying (an acknowledged CoA-Request):
    /// sorted, each once.
    pub change: Vec<K>,
    /// What to change in them.
    pub with: Change,
}

/// What a CoA-Request changes in a session (RFC 5176 §3.1: the
/// authorization attributes it carries replace the session's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Session-Timeout: the session's whole time, from when it came up
    /// (RFC 2865 §5.27); 0 removes the limit.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout, seconds (RFC 2865 §5.28); 0 removes it.
    pub idle_timeout: Option<u32>,
    /// The rates it asks, each way (`crate::aaa::rate`): the directions
    /// it names replace the session's.
    pub rates: crate::aaa::rate::Asked,
}

impl<K> Decision<K> {
    fn nak(kind: Kind, cause: ErrorCause) -> Self {
        Decision {
            code: kind.nak(),
            error_cause: Some(cause),
            clear: Vec::new(),
            change: Vec::new(),
            with: Change::default(),
        }
    }

    /// The reply to `req`, unsealed: our code, the request's Identifier
    /// and the Error-Cause of a NAK. Seal it with
    /// [`Packet::seal_response`] (§2.3: Response Authenticator over the
    /// request's).
    pub fn reply(&self, req: &Packet) -> Packet {
        let mut reply = Packet::new(self.code, req.identifier, [0; 16]);
        if let Some(e) = self.error_cause {
            reply.attrs.push(Attr::u32(attr::ERROR_CAUSE, e.value()));
        }
        reply
    }
}

/// Decides the answer to `req` (see the module's contract) given our NAS
/// identity (`None`: no NAS identity is checked), the live `sessions`,
/// and the rate `profiles` a CoA's rate attributes may name. `None` when
/// `req` is neither a Disconnect-Request nor a CoA-Request.
pub fn decide<'a, K: Ord>(
    req: &Packet,
    nas: Option<&Nas>,
    sessions: impl IntoIterator<Item = SessionView<'a, K>>,
    profiles: &crate::aaa::rate::Profiles,
) -> Option<Decision<K>> {
    let kind = Kind::of(req.code())?;
    // 1. §3 NAS identification attributes.
    if let Some(nas) = nas {
        let ip_ok = req
            .get(attr::NAS_IP_ADDRESS)
            .is_none_or(|a| nas.ip.is_some_and(|ip| a.value == ip.octets()));
        let id_ok = req
            .get(attr::NAS_IDENTIFIER)
            .is_none_or(|a| a.value == nas.identifier.as_bytes());
        if !ip_ok || !id_ok {
            return Some(Decision::nak(kind, ErrorCause::NasIdentificationMismatch));
        }
    }
    // 2. §3 session identification attributes we cannot match on.
    if req
        .attrs
        .iter()
        .any(|a| UNSUPPORTED_IDENTIFICATION.contains(&a.kind))
    {
        return Some(Decision::nak(kind, ErrorCause::UnsupportedAttribute));
    }
    // 3. The ones we match on; the first of each type counts. A
    // Framed-IP-Address or NAS-Port that is not 4 octets counts as absent.
    let id = req.get(attr::ACCT_SESSION_ID).map(|a| a.value.as_slice());
    let user = req.get(attr::USER_NAME).map(|a| a.value.as_slice());
    let ip = req
        .get(attr::FRAMED_IP_ADDRESS)
        .and_then(Attr::as_u32)
        .map(Ipv4Addr::from);
    let port = req.get(attr::NAS_PORT).and_then(Attr::as_u32);
    let calling = req
        .get(attr::CALLING_STATION_ID)
        .map(|a| a.value.as_slice());
    if id.is_none() && user.is_none() && ip.is_none() && port.is_none() && calling.is_none() {
        return Some(Decision::nak(kind, ErrorCause::MissingAttribute));
    }
    // 4. Every identification attribute given must match.
    let mut clear: Vec<K> = sessions
        .into_iter()
        .filter(|s| id.is_none_or(|i| i == s.acct_session_id))
        .filter(|s| user.is_none_or(|u| u == s.user))
        .filter(|s| ip.is_none_or(|ip| s.ipv4 == Some(ip)))
        .filter(|s| port.is_none_or(|p| p == s.nas_port))
        .filter(|s| calling.is_none_or(|c| s.calling == Some(c)))
        .map(|s| s.key)
        .collect();
    if clear.is_empty() {
        return Some(Decision::nak(kind, ErrorCause::SessionContextNotFound));
    }
    clear.sort();
    clear.dedup();
    if kind == Kind::Coa {
        // 5, 6, 7: what it asks, all of it or nothing.
        let mut with = Change::default();
        for a in &req.attrs {
            match a.kind {
                attr::SERVICE_TYPE if a.as_u32() == Some(AUTHORIZE_ONLY) => {
                    return Some(Decision::nak(kind, ErrorCause::UnsupportedService));
                }
                attr::SERVICE_TYPE => {}
                attr::SESSION_TIMEOUT => with.session_timeout = a.as_u32(),
                attr::IDLE_TIMEOUT => with.idle_timeout = a.as_u32(),
                k if COA_NOT_CHANGES.contains(&k) => {}
                _ if crate::aaa::rate::is_rate_attr(a) => {}
                attr::VENDOR_SPECIFIC => {
                    return Some(Decision::nak(kind, ErrorCause::UnsupportedExtension));
                }
                _ => return Some(Decision::nak(kind, ErrorCause::UnsupportedAttribute)),
            }
        }
        match crate::aaa::rate::asked(&req.attrs, profiles) {
            Ok(r) => with.rates = r,
            Err(_) => return Some(Decision::nak(kind, ErrorCause::InvalidAttributeValue)),
        }
        if with == Change::default() {
            return Some(Decision::nak(kind, ErrorCause::InvalidRequest));
        }
        return Some(Decision {
            code: kind.ack(),
            error_cause: None,
            clear: Vec::new(),
            change: clear,
            with,
        });
    }
    // 8. §3: a Disconnect-Request applies to all matching sessions.
    Some(Decision {
        code: kind.ack(),
        error_cause: None,
        clear,
        change: Vec::new(),
        with: Change::default(),
    })
}

/// How far an Event-Timestamp may be from our clock (RFC 5176 §6.3:
/// "current within an acceptable time window").
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;

/// Whether `req` is current at `wall_now` (UNIX seconds): without an
/// Event-Timestamp it is; with one, it must be within
/// [`TIMESTAMP_WINDOW_SECS`] of our clock, else §6.3 says the request is
/// silently discarded (a replay, or a client whose clock is off).
pub fn current(req: &Packet, wall_now: u64) -> bool {
    req.get(attr::EVENT_TIMESTAMP)
        .and_then(Attr::as_u32)
        .is_none_or(|t| u64::from(t).abs_diff(wall_now) <= TIMESTAMP_WINDOW_SECS)
}

/// Checks a datagram from `from` against the configured `clients`
/// (address and secret): the request, and the secret to seal its reply
/// with, only if `from` is a client, the datagram decodes, it is a
/// Disconnect-Request or CoA-Request, and its Request Authenticator (and
/// Message-Authenticator, when present) check with that client's secret
/// (§2.3, §3.4). `None`: silently discard it.
pub fn verify<'c>(
    clients: &'c [(IpAddr, Vec<u8>)],
    from: SocketAddr,
    bytes: &[u8],
) -> Option<(Packet, &'c [u8])> {
    let (_, secret) = clients.iter().find(|(ip, _)| *ip == from.ip())?;
    let req = Packet::decode(bytes).ok()?;
    Kind::of(req.code())?;
    req.verify_request(secret)
        .then_some((req, secret.as_slice()))
}

/// A request's identity for duplicate detection: client address and port,
/// Identifier (§2.3), and Request Authenticator (which a client changes
/// with the attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyKey {
    from: SocketAddr,
    identifier: u8,
    authenticator: [u8; 16],
}

impl ReplyKey {
    /// The identity of `req`, received from `from`.
    pub fn of(from: SocketAddr, req: &Packet) -> Self {
        ReplyKey {
            from,
            identifier: req.identifier,
            authenticator: req.authenticator,
        }
    }
}

/// How many replies [`ReplyCache`] keeps.
pub const REPLY_CACHE_LEN: usize = 256;

/// The last [`REPLY_CACHE_LEN`] replies sent, so a retransmitted request
/// (our reply was lost) gets the same reply without being acted on twice
/// (§2.3 Identifier: duplicate detection is required; §6.3).
#[derive(Debug, Default)]
pub struct ReplyCache {
    replies: VecDeque<(ReplyKey, Vec<u8>)>,
}

impl ReplyCache {
    /// The reply already sent to this request, if still kept.
    pub fn get(&self, key: &ReplyKey) -> Option<&[u8]> {
        self.replies
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.as_slice())
    }

    /// Keeps a reply, forgetting the oldest beyond [`REPLY_CACHE_LEN`].
    pub fn insert(&mut self, key: ReplyKey, reply: Vec<u8>) {
        self.replies.push_back((key, reply));
        if self.replies.len() > REPLY_CACHE_LEN {
            self.replies.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nas() -> Nas {
        Nas {
            ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
            identifier: "lns-1".into(),
        }
    }

    /// Three sessions, given out of key order: bob twice (two calls from
    /// the same number), alice once, not yet addressed.
    fn sessions() -> Vec<SessionView<'static, u32>> {
        vec![
            SessionView {
                key: 7,
                acct_session_id: b"s-7",
                user: b"bob",
                ipv4: Some(Ipv4Addr::new(10, 0, 0, 7)),
                nas_port: 0x0001_0007,
                calling: Some(b"5550100"),
            },
            SessionView {
                key: 3,
                acct_session_id: b"s-3",
                user: b"bob",
                ipv4: Some(Ipv4Addr::new(10, 0, 0, 3)),
                nas_port: 0x0001_0003,
                calling: Some(b"5550100"),
            },
            SessionView {
                key: 5,
                acct_session_id: b"s-5",
                user: b"alice",
                ipv4: None,
                nas_port: 0x0002_0005,
                calling: None,
            },
        ]
    }

    fn text(kind: u8, v: &str) -> Attr {
        Attr::new(kind, v.as_bytes().to_vec())
    }

    fn request(code: Code, attrs: Vec<Attr>) -> Packet {
        let mut p = Packet::new(code, 9, [0; 16]);
        p.attrs = attrs;
        p
    }

    /// Decision as (code, Error-Cause value, keys cleared).
    fn outcome(code: Code, nas: Option<&Nas>, attrs: Vec<Attr>) -> (Code, Option<u32>, Vec<u32>) {
        let d = decide(&request(code, attrs), nas, sessions(), &Default::default()).unwrap();
        assert_eq!(d.error_cause.is_some(), d.code != code_ack(code), "{d:?}");
        (d.code, d.error_cause.map(ErrorCause::value), d.clear)
    }

    fn code_ack(code: Code) -> Code {
        Kind::of(Some(code)).unwrap().ack()
    }

    /// Name, request code, our NAS, attributes; the NAK code and
    /// Error-Cause expected.
    type NakCase = (&'static str, Code, Option<Nas>, Vec<Attr>, Code, u32);

    /// Name, our NAS, attributes of a Disconnect-Request; the sessions
    /// expected cleared.
    type AckCase = (&'static str, Option<Nas>, Vec<Attr>, Vec<u32>);

    /// A CoA-Request changes the timeouts of every session it matches
    /// and clears none.
    #[test]
    fn coa_changes_the_timeouts_of_the_sessions_it_names() {
        let req = request(
            Code::CoaRequest,
            vec![
                text(attr::USER_NAME, "bob"),
                Attr::u32(attr::SESSION_TIMEOUT, 3600),
                Attr::u32(attr::IDLE_TIMEOUT, 600),
                Attr::u32(attr::EVENT_TIMESTAMP, 1_800_000_000),
            ],
        );
        let d = decide(&req, None, sessions(), &Default::default()).unwrap();
        assert_eq!((d.code, d.error_cause), (Code::CoaAck, None));
        assert!(d.clear.is_empty());
        assert!(!d.change.is_empty());
        assert_eq!(
            d.with,
            Change {
                session_timeout: Some(3600),
                idle_timeout: Some(600),
                rates: Default::default(),
            }
        );
    }

    #[test]
    fn error_causes_and_their_order() {
        use Code::{CoaNak, CoaRequest as Coa, DisconnectNak, DisconnectRequest as Dm};
        let bob = || text(attr::USER_NAME, "bob");
        let ours = Some(nas());
        let table: Vec<NakCase> = vec![
            // 403: each NAS identification attribute, alone or not.
            (
                "other NAS-Identifier",
                Dm,
                ours.clone(),
                vec![bob(), text(attr::NAS_IDENTIFIER, "lns-2")],
                DisconnectNak,
                403,
            ),
            (
                "other NAS-IP-Address",
                Dm,
                ours.clone(),
                vec![bob(), Attr::new(attr::NAS_IP_ADDRESS, vec![192, 0, 2, 2])],
                DisconnectNak,
                403,
            ),
            (
                "NAS-IP-Address when we have none",
                Dm,
                Some(Nas {
                    ip: None,
                    identifier: "lns-1".into(),
                }),
                vec![bob(), Attr::new(attr::NAS_IP_ADDRESS, vec![192, 0, 2, 1])],
                DisconnectNak,
                403,
            ),
            (
                "one NAS attribute right, one wrong",
                Dm,
                ours.clone(),
                vec![
                    bob(),
                    Attr::new(attr::NAS_IP_ADDRESS, vec![192, 0, 2, 1]),
                    text(attr::NAS_IDENTIFIER, "lns-2"),
                ],
                DisconnectNak,
                403,
            ),
            (
                "403 comes before 402",
                Dm,
                ours.clone(),
                vec![text(attr::NAS_IDENTIFIER, "lns-2")],
                DisconnectNak,
                403,
            ),
            // 401: every identification attribute we do not match on.
            (
                "Called-Station-Id",
                Dm,
                ours.clone(),
                vec![bob(), text(30, "x")],
                DisconnectNak,
                401,
            ),
            (
                "Acct-Multi-Session-Id",
                Dm,
                ours.clone(),
                vec![bob(), text(50, "x")],
                DisconnectNak,
                401,
            ),
            (
                "NAS-Port-Id",
                Dm,
                ours.clone(),
                vec![bob(), text(87, "x")],
                DisconnectNak,
                401,
            ),
            (
                "Chargeable-User-Identity",
                Dm,
                ours.clone(),
                vec![text(89, "x")],
                DisconnectNak,
                401,
            ),
            (
                "Framed-Interface-Id",
                Dm,
                ours.clone(),
                vec![bob(), text(96, "x")],
                DisconnectNak,
                401,
            ),
            (
                "Framed-IPv6-Prefix",
                Dm,
                ours.clone(),
                vec![bob(), text(97, "x")],
                DisconnectNak,
                401,
            ),
            (
                "401 on a CoA too",
                Coa,
                ours.clone(),
                vec![bob(), text(87, "x")],
                CoaNak,
                401,
            ),
            // 402: nothing we identify sessions by.
            ("no attribute", Dm, ours.clone(), vec![], DisconnectNak, 402),
            (
                "NAS identification only",
                Dm,
                ours.clone(),
                vec![text(attr::NAS_IDENTIFIER, "lns-1")],
                DisconnectNak,
                402,
            ),
            ("402 on a CoA too", Coa, ours.clone(), vec![], CoaNak, 402),
            // 503: no session matches every attribute given.
            (
                "unknown user",
                Dm,
                ours.clone(),
                vec![text(attr::USER_NAME, "carol")],
                DisconnectNak,
                503,
            ),
            (
                "bob on another NAS-Port",
                Dm,
                ours.clone(),
                vec![bob(), Attr::u32(attr::NAS_PORT, 0x0002_0005)],
                DisconnectNak,
                503,
            ),
            (
                "alice, who has no address, by address",
                Dm,
                ours.clone(),
                vec![
                    text(attr::USER_NAME, "alice"),
                    Attr::u32(attr::FRAMED_IP_ADDRESS, 0),
                ],
                DisconnectNak,
                503,
            ),
            (
                "alice, who has no Calling-Station-Id, by one",
                Dm,
                ours.clone(),
                vec![
                    text(attr::USER_NAME, "alice"),
                    text(attr::CALLING_STATION_ID, "5550100"),
                ],
                DisconnectNak,
                503,
            ),
            (
                "503 before 405",
                Coa,
                ours.clone(),
                vec![text(attr::USER_NAME, "carol")],
                CoaNak,
                503,
            ),
            // A CoA for a session we have, asking what we cannot do or
            // nothing.
            (
                "CoA naming a rate profile that is not configured",
                Coa,
                ours.clone(),
                vec![bob(), text(attr::FILTER_ID, "gold")],
                CoaNak,
                407,
            ),
            (
                "CoA with a rate that does not parse",
                Coa,
                ours.clone(),
                vec![bob(), Attr::vendor(14988, 8, b"fast/faster")],
                CoaNak,
                407,
            ),
            (
                "CoA with a vendor attribute we do not know",
                Coa,
                ours.clone(),
                vec![bob(), Attr::vendor(2636, 1, b"x")],
                CoaNak,
                406,
            ),
            (
                "CoA for another pool",
                Coa,
                ours.clone(),
                vec![bob(), text(attr::FRAMED_POOL, "biz")],
                CoaNak,
                401,
            ),
            (
                "CoA to re-authorize",
                Coa,
                ours.clone(),
                vec![bob(), Attr::u32(attr::SERVICE_TYPE, 17)],
                CoaNak,
                405,
            ),
            (
                "CoA asking nothing",
                Coa,
                ours.clone(),
                vec![bob()],
                CoaNak,
                404,
            ),
        ];
        for (name, code, nas, attrs, want_code, want_cause) in table {
            let (got_code, got_cause, clear) = outcome(code, nas.as_ref(), attrs);
            assert_eq!(
                (got_code, got_cause, clear),
                (want_code, Some(want_cause), vec![]),
                "{name}"
            );
        }
    }

    #[test]
    fn disconnect_clears_every_session_that_matches_all_given() {
        let ours = Some(nas());
        let table: Vec<AckCase> = vec![
            // Both of bob's sessions, sorted.
            (
                "User-Name",
                ours.clone(),
                vec![text(attr::USER_NAME, "bob")],
                vec![3, 7],
            ),
            (
                "Calling-Station-Id",
                ours.clone(),
                vec![text(attr::CALLING_STATION_ID, "5550100")],
                vec![3, 7],
            ),
            // Each attribute alone.
            (
                "Acct-Session-Id",
                ours.clone(),
                vec![text(attr::ACCT_SESSION_ID, "s-7")],
                vec![7],
            ),
            (
                "NAS-Port",
                ours.clone(),
                vec![Attr::u32(attr::NAS_PORT, 0x0002_0005)],
                vec![5],
            ),
            (
                "Framed-IP-Address",
                ours.clone(),
                vec![Attr::new(attr::FRAMED_IP_ADDRESS, vec![10, 0, 0, 3])],
                vec![3],
            ),
            // Several: one of bob's sessions.
            (
                "User-Name and Framed-IP-Address",
                ours.clone(),
                vec![
                    text(attr::USER_NAME, "bob"),
                    Attr::new(attr::FRAMED_IP_ADDRESS, vec![10, 0, 0, 7]),
                ],
                vec![7],
            ),
            (
                "all five",
                ours.clone(),
                vec![
                    text(attr::USER_NAME, "bob"),
                    Attr::u32(attr::NAS_PORT, 0x0001_0003),
                    Attr::new(attr::FRAMED_IP_ADDRESS, vec![10, 0, 0, 3]),
                    text(attr::CALLING_STATION_ID, "5550100"),
                    text(attr::ACCT_SESSION_ID, "s-3"),
                ],
                vec![3],
            ),
            // Our NAS identification, given, is fine.
            (
                "with our NAS-IP-Address and NAS-Identifier",
                ours.clone(),
                vec![
                    Attr::new(attr::NAS_IP_ADDRESS, vec![192, 0, 2, 1]),
                    text(attr::NAS_IDENTIFIER, "lns-1"),
                    text(attr::USER_NAME, "alice"),
                ],
                vec![5],
            ),
            // Without a NAS identity of ours, none is checked.
            (
                "no NAS identity",
                None,
                vec![
                    text(attr::NAS_IDENTIFIER, "anything"),
                    text(attr::USER_NAME, "alice"),
                ],
                vec![5],
            ),
        ];
        for (name, nas, attrs, want) in table {
            let got = outcome(Code::DisconnectRequest, nas.as_ref(), attrs);
            assert_eq!(got, (Code::DisconnectAck, None, want), "{name}");
        }
    }

    #[test]
    fn reply_carries_the_identifier_and_the_error_cause() {
        let req = request(Code::DisconnectRequest, vec![]);
        let d = decide(&req, None, sessions(), &Default::default()).unwrap();
        let reply = d.reply(&req);
        assert_eq!(reply.code(), Some(Code::DisconnectNak));
        assert_eq!(reply.identifier, 9);
        assert_eq!(
            reply.get(attr::ERROR_CAUSE).and_then(Attr::as_u32),
            Some(402)
        );
        let req = request(
            Code::DisconnectRequest,
            vec![text(attr::USER_NAME, "alice")],
        );
        let reply = decide(&req, None, sessions(), &Default::default())
            .unwrap()
            .reply(&req);
        assert_eq!(reply.code(), Some(Code::DisconnectAck));
        assert!(reply.attrs.is_empty());
    }

    #[test]
    fn only_disconnect_and_coa_requests_are_decided() {
        for code in [
            Code::AccessRequest,
            Code::AccountingRequest,
            Code::DisconnectAck,
            Code::CoaNak,
        ] {
            let req = request(code, vec![text(attr::USER_NAME, "bob")]);
            assert_eq!(
                decide(&req, None, sessions(), &Default::default()),
                None,
                "{code:?}"
            );
        }
        let mut unknown = request(Code::DisconnectRequest, vec![]);
        unknown.code = 99;
        assert_eq!(
            decide(&unknown, None, sessions(), &Default::default()),
            None
        );
    }

    fn sealed(code: u8, secret: &[u8], attrs: Vec<Attr>) -> Vec<u8> {
        let mut p = request(Code::DisconnectRequest, attrs);
        p.code = code;
        p.seal_md5_request(secret).unwrap()
    }

    #[test]
    fn verify_takes_only_authenticated_requests_from_clients() {
        let clients = vec![("127.0.0.1".parse().unwrap(), b"s3cret".to_vec())];
        let from: SocketAddr = "127.0.0.1:3799".parse().unwrap();
        let dm = sealed(40, b"s3cret", vec![text(attr::USER_NAME, "bob")]);
        let (req, secret) = verify(&clients, from, &dm).unwrap();
        assert_eq!(
            (req.code(), secret),
            (Some(Code::DisconnectRequest), &b"s3cret"[..])
        );
        let coa = sealed(43, b"s3cret", vec![]);
        assert!(verify(&clients, from, &coa).is_some());
        // Another address, another secret, another code, a bad datagram.
        assert!(verify(&clients, "127.0.0.2:3799".parse().unwrap(), &dm).is_none());
        assert!(verify(&clients, from, &sealed(40, b"other", vec![])).is_none());
        assert!(verify(&clients, from, &sealed(4, b"s3cret", vec![])).is_none());
        assert!(verify(&clients, from, &dm[..19]).is_none());
        let mut tampered = dm.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(verify(&clients, from, &tampered).is_none());
    }

    #[test]
    fn reply_cache_keys_on_client_identifier_and_authenticator() {
        let from: SocketAddr = "127.0.0.1:3799".parse().unwrap();
        let req = Packet::decode(&sealed(40, b"s", vec![text(attr::USER_NAME, "bob")])).unwrap();
        let key = ReplyKey::of(from, &req);
        let mut cache = ReplyCache::default();
        assert_eq!(cache.get(&key), None);
        cache.insert(key, vec![1]);
        assert_eq!(cache.get(&key), Some(&[1][..]));
        // Another port, Identifier or Authenticator is another request.
        let other_port = ReplyKey::of("127.0.0.1:3800".parse().unwrap(), &req);
        let mut other = req.clone();
        other.identifier ^= 1;
        let other_id = ReplyKey::of(from, &other);
        let mut other = req.clone();
        other.authenticator[0] ^= 1;
        let other_auth = ReplyKey::of(from, &other);
        for k in [other_port, other_id, other_auth] {
            assert_eq!(cache.get(&k), None);
        }
        // Bounded: the oldest goes first.
        for i in 0..REPLY_CACHE_LEN {
            let mut p = req.clone();
            p.authenticator = [1; 16];
            p.authenticator[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(ReplyKey::of(from, &p), vec![2]);
        }
        assert_eq!(cache.get(&key), None);
        assert_eq!(cache.replies.len(), REPLY_CACHE_LEN);
    }
}
