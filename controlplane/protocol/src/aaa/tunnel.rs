//! Choosing the LNS a switched or access call goes to (DESIGN §2.1, §2.3):
//! the candidate tunnel endpoints from RADIUS Tunnel-* attributes (RFC
//! 2868) or from realm rules in the config, their order with failover,
//! and the hold-down of endpoints that failed.
//!
//! Who calls it: the gateway role of the engine (multi-hop gateway and
//! PPPoE access), once the user is known. It asks [`from_radius`] (or
//! [`RealmRules::lookup`]) for the candidates, [`order`] for the sequence
//! to try, opens or joins the tunnel named by [`TunnelTarget::key`], and
//! when an endpoint does not answer or refuses, calls [`HoldDown::fail`]
//! and moves the session to the next candidate. Sans-IO: no sockets, no
//! clock (the caller passes `now`), no randomness, no name resolution.
//!
//! Guarantees:
//!
//! * [`from_radius`] never panics; it returns one [`TunnelTarget`] per
//!   tag set (RFC 2868 §3: attributes with the same Tag describe one
//!   tunnel; Tag 0, or no tag, is one set of its own) whose Tunnel-Type
//!   is L2TP (§3.1, value 3) over IPv4 or IPv6 (§3.2, values 1 and 2, or
//!   no Tunnel-Medium-Type), sorted by Tunnel-Preference (§3.8, lower
//!   first; a set without one after every set with one), then by tag.
//!   Without any tunnel attribute it returns `Ok(vec![])`: the call is not
//!   tunnelled by RADIUS (realm rules, or local termination, decide).
//! * Tunnel-Password (§3.5) is decrypted with the shared secret, the salt
//!   and the Request Authenticator of the Access-Request the reply
//!   answers; [`encrypt_tunnel_password`] is the reverse.
//! * [`order`] is deterministic: preference first, then the least loaded
//!   relative to its weight (§3.8: equal preferences are left to "locally
//!   configured metrics"), then the input order; held-down endpoints are
//!   left out.
//!
//! What it refuses, as a [`TunnelAttrError`] naming the attribute and tag
//! (the caller then treats the Access-Accept as an Access-Reject):
//!
//! * integer attributes (Tunnel-Type, Tunnel-Medium-Type,
//!   Tunnel-Preference) that are not 4 octets or whose tag is above 0x1F;
//!   string attributes with nothing after the tag;
//! * a Tunnel-Password whose salt lacks its high bit, whose length is not
//!   tag + salt + whole 16-octet blocks, or whose decrypted Data-Length
//!   disagrees with the padding (a wrong secret or Request Authenticator
//!   shows up this way);
//! * the same attribute twice in one set (the RFC allows at most one per
//!   tunnel);
//! * an L2TP set without Tunnel-Server-Endpoint (§3.4: it MUST be there),
//!   or whose endpoint is not an IP address (a host name is refused: this
//!   library resolves no names), or an address of the other family than
//!   the Tunnel-Medium-Type says;
//! * tunnel attributes of which no set is L2TP over IP (§3.1: "MUST behave
//!   as though an Access-Reject had been received").
//!
//! Sets of other tunnel types or media are skipped, not refused, as long as
//! one usable set remains (they are alternatives, §3). Their endpoints and
//! passwords are not even read. Tunnel-Private-Group-ID (§3.6) is ignored.
//!
//! Tunnel sharing (§3.7, Tunnel-Assignment-ID): sessions whose targets
//! have the same [`TunnelKey`] (the endpoints and the assignment id) go in
//! one tunnel; a target without an assignment id goes in the unnamed
//! tunnel to that endpoint and never in a named one. The first session's
//! target sets the tunnel's secret and host names.

use super::radius::packet::{Attr, attr};
use md5::{Digest, Md5};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The L2TP port, used when an endpoint names none (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;
/// Tunnel-Type L2TP (RFC 2868 §3.1).
pub const TUNNEL_TYPE_L2TP: u32 = 3;
/// Tunnel-Medium-Type IPv4 (RFC 2868 §3.2).
pub const MEDIUM_IPV4: u32 = 1;
/// Tunnel-Medium-Type IPv6 (RFC 2868 §3.2).
pub const MEDIUM_IPV6: u32 = 2;
/// The highest tag (RFC 2868 §3.1: tags are 0x01 to 0x1F, 0 when unused).
pub const MAX_TAG: u8 = 0x1F;
/// The preference of a RADIUS set without Tunnel-Preference: after every
/// value the attribute can carry (0 to 0xFFFFFF, §3.8).
pub const UNSPECIFIED_PREFERENCE: u32 = 0x0100_0000;
/// The longest Tunnel-Password: Data-Length and password in at most 240
/// octets of blocks, so the attribute fits in 253 octets.
pub const MAX_TUNNEL_PASSWORD: usize = 239;

/// One candidate tunnel endpoint for a call.
#[derive(Clone, PartialEq, Eq)]
pub struct TunnelTarget {
    /// The LNS (Tunnel-Server-Endpoint, RFC 2868 §3.4), port 1701 unless
    /// given.
    pub endpoint: SocketAddr,
    /// Our address to open the tunnel from (Tunnel-Client-Endpoint, §3.3);
    /// `None`: the default source address.
    pub client_endpoint: Option<IpAddr>,
    /// The tunnel secret (Tunnel-Password, §3.5): tunnel authentication
    /// and AVP hiding toward the LNS (RFC 2661 §4.3, §5.1.1).
    pub secret: Option<Vec<u8>>,
    /// Our Host Name toward the LNS (Tunnel-Client-Auth-ID, §3.9);
    /// `None`: our configured name.
    pub client_auth_id: Option<Vec<u8>>,
    /// The Host Name the LNS must announce (Tunnel-Server-Auth-ID,
    /// §3.10); `None`: any.
    pub server_auth_id: Option<Vec<u8>>,
    /// Lower is preferred (Tunnel-Preference, §3.8).
    pub preference: u32,
    /// Sessions with the same endpoints and assignment id share one tunnel
    /// (Tunnel-Assignment-ID, §3.7); `None`: the unnamed tunnel.
    pub assignment_id: Option<Vec<u8>>,
    /// Hide AVPs toward this LNS (needs `secret`); config only, RADIUS
    /// targets start with `false`.
    pub hide_avps: bool,
    /// Share of the calls among targets of equal preference (config only;
    /// 1 for RADIUS targets). 0: used only after the weighted ones.
    pub weight: u32,
    /// The RADIUS tag of the set this came from (0 when untagged or from
    /// config).
    pub tag: u8,
}

/// Shows everything but the secret.
impl fmt::Debug for TunnelTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text =
            |v: &Option<Vec<u8>>| v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
        f.debug_struct("TunnelTarget")
            .field("endpoint", &self.endpoint)
            .field("client_endpoint", &self.client_endpoint)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("client_auth_id", &text(&self.client_auth_id))
            .field("server_auth_id", &text(&self.server_auth_id))
            .field("preference", &self.preference)
            .field("assignment_id", &text(&self.assignment_id))
            .field("hide_avps", &self.hide_avps)
            .field("weight", &self.weight)
            .field("tag", &self.tag)
            .finish()
    }
}

impl TunnelTarget {
    /// A target with nothing but its endpoint: no secret, our own names,
    /// preference 0, the unnamed tunnel, weight 1, tag 0.
    pub fn new(endpoint: SocketAddr) -> TunnelTarget {
        TunnelTarget {
            endpoint,
            client_endpoint: None,
            secret: None,
            client_auth_id: None,
            server_auth_id: None,
            preference: 0,
            assignment_id: None,
            hide_avps: false,
            weight: 1,
            tag: 0,
        }
    }

    /// Which tunnel this target's sessions share (RFC 2868 §3.7).
    pub fn key(&self) -> TunnelKey {
        TunnelKey {
            endpoint: self.endpoint,
            client_endpoint: self.client_endpoint,
            assignment_id: self.assignment_id.clone(),
        }
    }
}

/// The identity of a shared tunnel: "a tunnel between the specified
/// endpoints with the specified ID" (RFC 2868 §3.7). `assignment_id:
/// None` is the unnamed tunnel, which a named session never joins and
/// vice versa.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelKey {
    /// The LNS.
    pub endpoint: SocketAddr,
    /// Our source address, if the target fixes one.
    pub client_endpoint: Option<IpAddr>,
    /// Tunnel-Assignment-ID.
    pub assignment_id: Option<Vec<u8>>,
}

/// Why an endpoint string is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// A host name, not an address: refused (no resolver here; RADIUS or
    /// the config must give an address).
    HostName(String),
    /// An IPv4 address where Tunnel-Medium-Type says IPv6, or the reverse.
    Medium {
        /// The Tunnel-Medium-Type.
        medium: u32,
        /// The address given.
        addr: IpAddr,
    },
    /// Neither an address nor a name (bad port, stray characters, not
    /// UTF-8).
    Syntax(String),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::HostName(n) => {
                write!(
                    f,
                    "{n:?} is a host name, not an address (names are not resolved)"
                )
            }
            EndpointError::Medium { medium, addr } => {
                write!(f, "{addr} does not match Tunnel-Medium-Type {medium}")
            }
            EndpointError::Syntax(s) => write!(f, "{s:?} is not an address[:port]"),
        }
    }
}

impl std::error::Error for EndpointError {}

/// Reads an endpoint: `192.0.2.1`, `192.0.2.1:1702`, `2001:db8::1`,
/// `[2001:db8::1]:1702` (RFC 2868 §3.4 text forms, plus an optional
/// port; 1701 when absent). `medium`, when given, must be
/// [`MEDIUM_IPV4`] or [`MEDIUM_IPV6`] and match the address family.
pub fn parse_endpoint(text: &[u8], medium: Option<u32>) -> Result<SocketAddr, EndpointError> {
    let lossy = || String::from_utf8_lossy(text).into_owned();
    let s = std::str::from_utf8(text).map_err(|_| EndpointError::Syntax(lossy()))?;
    // A bracketed IPv6 address without a port is an address too.
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .filter(|r| r.contains(':'))
        .unwrap_or(s);
    let addr = if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(EndpointError::Syntax(lossy()));
        }
        a
    } else if let Ok(ip) = bare.parse::<IpAddr>() {
        SocketAddr::new(ip, L2TP_PORT)
    } else {
        // A name (with or without a port) is told apart from garbage so
        // the operator sees what to fix.
        let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
        let name_like = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && host.bytes().any(|b| b.is_ascii_alphabetic());
        return Err(if name_like {
            EndpointError::HostName(s.to_string())
        } else {
            EndpointError::Syntax(s.to_string())
        });
    };
    let family_ok = match medium {
        None => true,
        Some(MEDIUM_IPV4) => addr.is_ipv4(),
        Some(MEDIUM_IPV6) => addr.is_ipv6(),
        Some(_) => false,
    };
    if !family_ok {
        return Err(EndpointError::Medium {
            medium: medium.unwrap_or_default(),
            addr: addr.ip(),
        });
    }
    Ok(addr)
}

/// An Access-Accept's tunnel attributes that cannot be used. Every
/// variant that concerns one attribute names its type and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelAttrError {
    /// Wrong length for the attribute: integers are tag + 3 octets;
    /// strings need at least one octet after the tag; Tunnel-Password is
    /// tag, salt and 1 to 15 blocks of 16 octets.
    Length {
        /// Attribute type.
        attr: u8,
        /// Tag (0 when it could not be read).
        tag: u8,
    },
    /// A tag above 0x1F where the tag octet is mandatory (§3.1, §3.2,
    /// §3.8).
    Tag {
        /// Attribute type.
        attr: u8,
        /// The tag octet.
        tag: u8,
    },
    /// The attribute appears twice in one tag set.
    Duplicate {
        /// Attribute type.
        attr: u8,
        /// Tag.
        tag: u8,
    },
    /// Tunnel-Password salt without its most significant bit (§3.5).
    Salt {
        /// Tag.
        tag: u8,
    },
    /// Tunnel-Password whose decrypted Data-Length does not fit its
    /// padding (1 to 15 octets, §3.5): a wrong secret, a wrong Request
    /// Authenticator, or a corrupted attribute.
    Padding {
        /// Tag.
        tag: u8,
    },
    /// Tunnel-Server-Endpoint or Tunnel-Client-Endpoint not usable.
    Endpoint {
        /// Attribute type.
        attr: u8,
        /// Tag.
        tag: u8,
        /// Why.
        reason: EndpointError,
    },
    /// An L2TP set without Tunnel-Server-Endpoint (§3.4).
    MissingServerEndpoint {
        /// Tag.
        tag: u8,
    },
    /// Tunnel attributes, but no set for L2TP over IPv4 or IPv6 (§3.1).
    NoL2tpTunnel,
}

impl TunnelAttrError {
    /// The attribute type the error is about, if one.
    pub fn attr(&self) -> Option<u8> {
        match self {
            TunnelAttrError::Length { attr, .. }
            | TunnelAttrError::Tag { attr, .. }
            | TunnelAttrError::Duplicate { attr, .. }
            | TunnelAttrError::Endpoint { attr, .. } => Some(*attr),
            TunnelAttrError::Salt { .. } | TunnelAttrError::Padding { .. } => {
                Some(attr::TUNNEL_PASSWORD)
            }
            TunnelAttrError::MissingServerEndpoint { .. } => Some(attr::TUNNEL_SERVER_ENDPOINT),
            TunnelAttrError::NoL2tpTunnel => None,
        }
    }
}

/// The RFC 2868 name of a tunnel attribute.
pub fn attr_name(kind: u8) -> &'static str {
    match kind {
        attr::TUNNEL_TYPE => "Tunnel-Type",
        attr::TUNNEL_MEDIUM_TYPE => "Tunnel-Medium-Type",
        attr::TUNNEL_CLIENT_ENDPOINT => "Tunnel-Client-Endpoint",
        attr::TUNNEL_SERVER_ENDPOINT => "Tunnel-Server-Endpoint",
        attr::TUNNEL_PASSWORD => "Tunnel-Password",
        attr::TUNNEL_PRIVATE_GROUP_ID => "Tunnel-Private-Group-ID",
        attr::TUNNEL_ASSIGNMENT_ID => "Tunnel-Assignment-ID",
        attr::TUNNEL_PREFERENCE => "Tunnel-Preference",
        attr::TUNNEL_CLIENT_AUTH_ID => "Tunnel-Client-Auth-ID",
        attr::TUNNEL_SERVER_AUTH_ID => "Tunnel-Server-Auth-ID",
        _ => "attribute",
    }
}

impl fmt::Display for TunnelAttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |f: &mut fmt::Formatter<'_>, a: u8, tag: u8| {
            write!(f, "{} ({a}), tag {tag}: ", attr_name(a))
        };
        match self {
            TunnelAttrError::Length { attr, tag } => {
                at(f, *attr, *tag)?;
                f.write_str("wrong length")
            }
            TunnelAttrError::Tag { attr, tag } => {
                at(f, *attr, *tag)?;
                f.write_str("tag above 0x1F")
            }
            TunnelAttrError::Duplicate { attr, tag } => {
                at(f, *attr, *tag)?;
                f.write_str("more than one in the set")
            }
            TunnelAttrError::Salt { tag } => {
                at(f, attr::TUNNEL_PASSWORD, *tag)?;
                f.write_str("salt without its high bit")
            }
            TunnelAttrError::Padding { tag } => {
                at(f, attr::TUNNEL_PASSWORD, *tag)?;
                f.write_str("length and padding disagree (wrong secret?)")
            }
            TunnelAttrError::Endpoint { attr, tag, reason } => {
                at(f, *attr, *tag)?;
                write!(f, "{reason}")
            }
            TunnelAttrError::MissingServerEndpoint { tag } => {
                at(f, attr::TUNNEL_SERVER_ENDPOINT, *tag)?;
                f.write_str("missing from an L2TP set")
            }
            TunnelAttrError::NoL2tpTunnel => {
                f.write_str("tunnel attributes without an L2TP over IP set (treated as a reject)")
            }
        }
    }
}

impl std::error::Error for TunnelAttrError {}

/// The keystream block: MD5(secret + `prev`), with `prev` the Request
/// Authenticator and salt for the first block, then the last ciphertext
/// block (RFC 2868 §3.5).
fn keystream(secret: &[u8], prev: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(secret);
    for p in prev {
        h.update(p);
    }
    h.finalize().into()
}

/// Encrypts a Tunnel-Password (RFC 2868 §3.5) into the attribute value:
/// tag, salt, then Data-Length + password zero-padded to 16-octet blocks,
/// encrypted with `secret` and the Request Authenticator of the
/// Access-Request being answered. `None` if the tag is above 0x1F, the
/// salt lacks its high bit, or the password is longer than
/// [`MAX_TUNNEL_PASSWORD`]. What a RADIUS server does; here for tests and
/// the emulated server.
pub fn encrypt_tunnel_password(
    tag: u8,
    salt: u16,
    password: &[u8],
    secret: &[u8],
    request_auth: &[u8; 16],
) -> Option<Vec<u8>> {
    if tag > MAX_TAG || salt & 0x8000 == 0 || password.len() > MAX_TUNNEL_PASSWORD {
        return None;
    }
    let salt = salt.to_be_bytes();
    let mut plain = Vec::with_capacity(password.len() + 16);
    plain.push(password.len() as u8);
    plain.extend_from_slice(password);
    plain.resize(plain.len().div_ceil(16) * 16, 0);
    let mut out = vec![tag, salt[0], salt[1]];
    let mut b = keystream(secret, &[request_auth, &salt]);
    for chunk in plain.chunks(16) {
        let c: Vec<u8> = chunk.iter().zip(b).map(|(p, k)| p ^ k).collect();
        b = keystream(secret, &[&c]);
        out.extend_from_slice(&c);
    }
    Some(out)
}

/// Decrypts a Tunnel-Password attribute value (tag, salt, string; RFC 2868
/// §3.5): the tag (0 when above 0x1F, which §3.5 says to ignore) and the
/// password.
pub fn decrypt_tunnel_password(
    value: &[u8],
    secret: &[u8],
    request_auth: &[u8; 16],
) -> Result<(u8, Vec<u8>), TunnelAttrError> {
    let tag = match value.first() {
        Some(&t) if t <= MAX_TAG => t,
        _ => 0,
    };
    let (Some(salt), Some(cipher)) = (value.get(1..3), value.get(3..)) else {
        return Err(TunnelAttrError::Length {
            attr: attr::TUNNEL_PASSWORD,
            tag,
        });
    };
    if cipher.is_empty() || !cipher.len().is_multiple_of(16) || cipher.len() > 240 {
        return Err(TunnelAttrError::Length {
            attr: attr::TUNNEL_PASSWORD,
            tag,
        });
    }
    if salt.first().is_none_or(|s| s & 0x80 == 0) {
        return Err(TunnelAttrError::Salt { tag });
    }
    let mut plain = Vec::with_capacity(cipher.len());
    let mut b = keystream(secret, &[request_auth, salt]);
    for c in cipher.chunks(16) {
        plain.extend(c.iter().zip(b).map(|(c, k)| c ^ k));
        b = keystream(secret, &[c]);
    }
    // Data-Length, the password, then 0 to 15 octets of padding: the
    // blocks hold exactly what Data-Length needs.
    let len = usize::from(plain.first().copied().unwrap_or(0));
    if (1 + len).div_ceil(16) * 16 != plain.len() {
        return Err(TunnelAttrError::Padding { tag });
    }
    let password = plain.get(1..1 + len).unwrap_or_default().to_vec();
    Ok((tag, password))
}

/// One tag's attributes, as read.
#[derive(Default)]
struct Set<'a> {
    tunnel_type: Option<u32>,
    medium: Option<u32>,
    preference: Option<u32>,
    client_endpoint: Option<&'a [u8]>,
    server_endpoint: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    assignment_id: Option<&'a [u8]>,
    client_auth_id: Option<&'a [u8]>,
    server_auth_id: Option<&'a [u8]>,
}

fn put<T>(slot: &mut Option<T>, v: T, kind: u8, tag: u8) -> Result<(), TunnelAttrError> {
    if slot.is_some() {
        return Err(TunnelAttrError::Duplicate { attr: kind, tag });
    }
    *slot = Some(v);
    Ok(())
}

/// An integer attribute with its mandatory tag octet (§3.1, §3.2, §3.8).
fn tagged_int(a: &Attr) -> Result<(u8, u32), TunnelAttrError> {
    let [t, x, y, z] = a.value[..] else {
        let tag = a.value.first().copied().filter(|t| *t <= MAX_TAG);
        return Err(TunnelAttrError::Length {
            attr: a.kind,
            tag: tag.unwrap_or(0),
        });
    };
    if t > MAX_TAG {
        return Err(TunnelAttrError::Tag {
            attr: a.kind,
            tag: t,
        });
    }
    Ok((t, u32::from_be_bytes([0, x, y, z])))
}

/// A string attribute whose first octet is a tag only if it is 0x1F or
/// less; otherwise it belongs to the string (§3.3 and following).
fn tagged_str(a: &Attr) -> Result<(u8, &[u8]), TunnelAttrError> {
    let (tag, s) = match a.value.split_first() {
        Some((&t, rest)) if t <= MAX_TAG => (t, rest),
        _ => (0, &a.value[..]),
    };
    if s.is_empty() {
        return Err(TunnelAttrError::Length { attr: a.kind, tag });
    }
    Ok((tag, s))
}

/// The tunnels an Access-Accept offers (RFC 2868), in preference order.
/// `secret` is the shared secret of the server that answered and
/// `request_auth` the Request Authenticator of the Access-Request it
/// answers (both decrypt Tunnel-Password). See the module doc for what is
/// skipped and what is refused.
pub fn from_radius(
    attrs: &[Attr],
    secret: &[u8],
    request_auth: &[u8; 16],
) -> Result<Vec<TunnelTarget>, TunnelAttrError> {
    let mut sets: BTreeMap<u8, Set<'_>> = BTreeMap::new();
    let mut any = false;
    for a in attrs {
        let k = a.kind;
        match k {
            attr::TUNNEL_TYPE | attr::TUNNEL_MEDIUM_TYPE | attr::TUNNEL_PREFERENCE => {
                let (tag, v) = tagged_int(a)?;
                let set = sets.entry(tag).or_default();
                let slot = match k {
                    attr::TUNNEL_TYPE => &mut set.tunnel_type,
                    attr::TUNNEL_MEDIUM_TYPE => &mut set.medium,
                    _ => &mut set.preference,
                };
                put(slot, v, k, tag)?;
            }
            attr::TUNNEL_PASSWORD => {
                // Always a tag octet (§3.5); one above 0x1F is ignored.
                let tag = match a.value.first() {
                    Some(&t) if t <= MAX_TAG => t,
                    Some(_) => 0,
                    None => return Err(TunnelAttrError::Length { attr: k, tag: 0 }),
                };
                // Decrypted later, and only for an L2TP set.
                put(
                    &mut sets.entry(tag).or_default().password,
                    &a.value[..],
                    k,
                    tag,
                )?;
            }
            attr::TUNNEL_CLIENT_ENDPOINT
            | attr::TUNNEL_SERVER_ENDPOINT
            | attr::TUNNEL_ASSIGNMENT_ID
            | attr::TUNNEL_CLIENT_AUTH_ID
            | attr::TUNNEL_SERVER_AUTH_ID => {
                let (tag, s) = tagged_str(a)?;
                let set = sets.entry(tag).or_default();
                let slot = match k {
                    attr::TUNNEL_CLIENT_ENDPOINT => &mut set.client_endpoint,
                    attr::TUNNEL_SERVER_ENDPOINT => &mut set.server_endpoint,
                    attr::TUNNEL_ASSIGNMENT_ID => &mut set.assignment_id,
                    attr::TUNNEL_CLIENT_AUTH_ID => &mut set.client_auth_id,
                    _ => &mut set.server_auth_id,
                };
                put(slot, s, k, tag)?;
            }
            attr::TUNNEL_PRIVATE_GROUP_ID => {}
            _ => continue,
        }
        any = true;
    }
    if !any {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (tag, set) in sets {
        if set.tunnel_type != Some(TUNNEL_TYPE_L2TP)
            || set
                .medium
                .is_some_and(|m| m != MEDIUM_IPV4 && m != MEDIUM_IPV6)
        {
            continue;
        }
        let server = set
            .server_endpoint
            .ok_or(TunnelAttrError::MissingServerEndpoint { tag })?;
        let endpoint =
            parse_endpoint(server, set.medium).map_err(|reason| TunnelAttrError::Endpoint {
                attr: attr::TUNNEL_SERVER_ENDPOINT,
                tag,
                reason,
            })?;
        let client_endpoint = set
            .client_endpoint
            .map(|c| parse_endpoint(c, set.medium).map(|a| a.ip()))
            .transpose()
            .map_err(|reason| TunnelAttrError::Endpoint {
                attr: attr::TUNNEL_CLIENT_ENDPOINT,
                tag,
                reason,
            })?;
        let secret = set
            .password
            .map(|v| decrypt_tunnel_password(v, secret, request_auth).map(|(_, p)| p))
            .transpose()?;
        out.push(TunnelTarget {
            endpoint,
            client_endpoint,
            secret,
            client_auth_id: set.client_auth_id.map(<[u8]>::to_vec),
            server_auth_id: set.server_auth_id.map(<[u8]>::to_vec),
            preference: set.preference.unwrap_or(UNSPECIFIED_PREFERENCE),
            assignment_id: set.assignment_id.map(<[u8]>::to_vec),
            hide_avps: false,
            weight: 1,
            tag,
        });
    }
    if out.is_empty() {
        return Err(TunnelAttrError::NoL2tpTunnel);
    }
    // Stable: equal preferences stay in tag order.
    out.sort_by_key(|t| t.preference);
    Ok(out)
}

/// `a` before `b` among equal preferences: the lower load per unit of
/// weight, then the heavier weight; weight 0 after every weighted target.
fn spread((la, wa): (u64, u32), (lb, wb): (u64, u32)) -> Ordering {
    match (wa, wb) {
        (0, 0) => la.cmp(&lb),
        (0, _) => Ordering::Greater,
        (_, 0) => Ordering::Less,
        _ => (u128::from(la) * u128::from(wb))
            .cmp(&(u128::from(lb) * u128::from(wa)))
            .then(wb.cmp(&wa)),
    }
}

/// The order to try `targets` in: by preference (RFC 2868 §3.8), and
/// among equal preferences the least loaded relative to its weight first
/// (ties: the heavier weight, then the given order). `load` is the
/// caller's count of sessions on a target's endpoint; it must count a
/// session from the moment it is assigned, or a burst of calls all lands
/// on one endpoint. Endpoints held down at `now` are left out: when all
/// are, the result is empty and the call fails now rather than waiting
/// for a timeout (see [`HoldDown::next_release`]).
pub fn order<'a>(
    targets: &'a [TunnelTarget],
    load: impl Fn(&TunnelTarget) -> u64,
    hold: &HoldDown,
    now: Instant,
) -> Vec<&'a TunnelTarget> {
    let mut v: Vec<(&TunnelTarget, u64)> = targets
        .iter()
        .filter(|t| !hold.is_held(t.endpoint, now))
        .map(|t| (t, load(t)))
        .collect();
    v.sort_by(|(a, la), (b, lb)| {
        a.preference
            .cmp(&b.preference)
            .then_with(|| spread((*la, a.weight), (*lb, b.weight)))
    });
    v.into_iter().map(|(t, _)| t).collect()
}

/// Endpoints that failed recently and are skipped until their hold-down
/// ends, with a failure count per endpoint. The caller decides what a
/// failure is (no answer to SCCRQ, StopCCN, CDN at setup, a Host Name
/// other than Tunnel-Server-Auth-ID) and how long to hold.
#[derive(Debug, Clone, Default)]
pub struct HoldDown {
    until: BTreeMap<SocketAddr, Instant>,
    failures: BTreeMap<SocketAddr, u64>,
}

impl HoldDown {
    /// Counts a failure of `endpoint` and holds it down until `now + hold`
    /// (or later, if it already was).
    pub fn fail(&mut self, endpoint: SocketAddr, now: Instant, hold: Duration) {
        *self.failures.entry(endpoint).or_default() += 1;
        let end = now
            .checked_add(hold)
            .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
            .unwrap_or(now);
        let e = self.until.entry(endpoint).or_insert(end);
        *e = (*e).max(end);
    }

    /// Ends a hold-down early (a tunnel to the endpoint came up).
    pub fn release(&mut self, endpoint: SocketAddr) {
        self.until.remove(&endpoint);
    }

    /// Whether `endpoint` is held down at `now`.
    pub fn is_held(&self, endpoint: SocketAddr, now: Instant) -> bool {
        self.until.get(&endpoint).is_some_and(|t| *t > now)
    }

    /// The endpoints held down at `now`, each with the time left, in
    /// address order.
    pub fn held(&self, now: Instant) -> impl Iterator<Item = (SocketAddr, Duration)> + '_ {
        self.until
            .iter()
            .filter(move |(_, t)| **t > now)
            .map(move |(a, t)| (*a, t.saturating_duration_since(now)))
    }

    /// When the next hold-down after `now` ends.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        self.until.values().copied().filter(|t| *t > now).min()
    }

    /// Forgets hold-downs that ended by `now` (the counts stay).
    pub fn expire(&mut self, now: Instant) {
        self.until.retain(|_, t| *t > now);
    }

    /// Failures counted for `endpoint`.
    pub fn failures(&self, endpoint: SocketAddr) -> u64 {
        self.failures.get(&endpoint).copied().unwrap_or(0)
    }

    /// Failures per endpoint, in address order.
    pub fn failure_counts(&self) -> impl Iterator<Item = (SocketAddr, u64)> + '_ {
        self.failures.iter().map(|(a, n)| (*a, *n))
    }
}

/// Splits `user@realm` at the last `@`: the user part, and the realm if
/// there is a non-empty one.
pub fn split_realm(user: &[u8]) -> (&[u8], Option<&[u8]>) {
    match user.iter().rposition(|&b| b == b'@') {
        Some(i) if i + 1 < user.len() => (&user[..i], Some(&user[i + 1..])),
        Some(i) => (&user[..i], None),
        None => (user, None),
    }
}

/// A realm rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmRuleError {
    /// An empty realm name, or one containing `@` (it could never match:
    /// users are split at their last `@`).
    BadRealm(String),
    /// The same realm twice (names compare without regard to ASCII case).
    Duplicate(String),
    /// A realm with no target.
    NoTargets(String),
}

impl fmt::Display for RealmRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealmRuleError::BadRealm(r) => write!(f, "realm {r:?}: not a realm name"),
            RealmRuleError::Duplicate(r) => write!(f, "realm {r:?}: given twice"),
            RealmRuleError::NoTargets(r) => write!(f, "realm {r:?}: no tunnel target"),
        }
    }
}

impl std::error::Error for RealmRuleError {}

/// The realm for the default rule.
pub const DEFAULT_REALM: &str = "*";

/// Tunnel targets by realm, from the config: `user@realm` goes to the
/// realm's targets; a user without a realm, or of a realm without a rule,
/// to the default rule `*` if there is one.
#[derive(Debug, Clone, Default)]
pub struct RealmRules {
    realms: HashMap<Vec<u8>, Vec<TunnelTarget>>,
    default: Option<Vec<TunnelTarget>>,
}

impl RealmRules {
    /// Rules from `(realm, targets)` pairs; realm `*` is the default. Each
    /// realm's targets are kept in preference order (stable).
    pub fn new(
        rules: impl IntoIterator<Item = (String, Vec<TunnelTarget>)>,
    ) -> Result<RealmRules, RealmRuleError> {
        let mut out = RealmRules::default();
        for (realm, mut targets) in rules {
            if realm.is_empty() || realm.contains('@') {
                return Err(RealmRuleError::BadRealm(realm));
            }
            if targets.is_empty() {
                return Err(RealmRuleError::NoTargets(realm));
            }
            targets.sort_by_key(|t| t.preference);
            let taken = if realm == DEFAULT_REALM {
                out.default.replace(targets).is_some()
            } else {
                let key = realm.as_bytes().to_ascii_lowercase();
                out.realms.insert(key, targets).is_some()
            };
            if taken {
                return Err(RealmRuleError::Duplicate(realm));
            }
        }
        Ok(out)
    }

    /// The targets for a user name, in preference order.
    pub fn lookup(&self, user: &[u8]) -> Option<&[TunnelTarget]> {
        let by_realm = split_realm(user)
            .1
            .and_then(|r| self.realms.get(&r.to_ascii_lowercase()));
        by_realm.or(self.default.as_ref()).map(Vec::as_slice)
    }

    /// Number of rules, the default included.
    pub fn len(&self) -> usize {
        self.realms.len() + usize::from(self.default.is_some())
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";
    const RA: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn int(kind: u8, tag: u8, v: u32) -> Attr {
        let b = v.to_be_bytes();
        Attr::new(kind, vec![tag, b[1], b[2], b[3]])
    }

    fn text(kind: u8, tag: u8, s: &str) -> Attr {
        let mut v = if tag == 0 { Vec::new() } else { vec![tag] };
        v.extend_from_slice(s.as_bytes());
        Attr::new(kind, v)
    }

    fn password(tag: u8, salt: u16, pw: &[u8]) -> Attr {
        Attr::new(
            attr::TUNNEL_PASSWORD,
            encrypt_tunnel_password(tag, salt, pw, SECRET, &RA).unwrap(),
        )
    }

    fn l2tp(tag: u8, endpoint: &str) -> Vec<Attr> {
        vec![
            int(attr::TUNNEL_TYPE, tag, TUNNEL_TYPE_L2TP),
            text(attr::TUNNEL_SERVER_ENDPOINT, tag, endpoint),
        ]
    }

    fn parse(attrs: &[Attr]) -> Result<Vec<TunnelTarget>, TunnelAttrError> {
        from_radius(attrs, SECRET, &RA)
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    // The expected value was computed once, independently of this code,
    // with Python's hashlib following RFC 2868 §3.5 literally:
    //   S = b"xyzzy5461"; R = bytes(range(16)); A = b"\x81\x23"
    //   P = bytes([19]) + b"lns-a-tunnel-secret", zero-padded to 32
    //   b1 = md5(S + R + A); c1 = p1 ^ b1; b2 = md5(S + c1); c2 = p2 ^ b2
    //   value = b"\x01" + A + c1 + c2
    const VECTOR: &str = "01812367ad8dd77582ec6722b2a5225fe0851baf2001b5330d50baa5d645036130be5e";

    #[test]
    fn tunnel_password_known_vector() {
        let v = encrypt_tunnel_password(1, 0x8123, b"lns-a-tunnel-secret", SECRET, &RA).unwrap();
        assert_eq!(v, hex(VECTOR));
        assert_eq!(
            decrypt_tunnel_password(&hex(VECTOR), SECRET, &RA),
            Ok((1, b"lns-a-tunnel-secret".to_vec()))
        );
    }

    #[test]
    fn tunnel_password_round_trips_every_length() {
        for n in 0..=MAX_TUNNEL_PASSWORD {
            let pw: Vec<u8> = (0..n).map(|i| (i * 7 + 1) as u8).collect();
            let v = encrypt_tunnel_password(3, 0x8000 | n as u16, &pw, SECRET, &RA).unwrap();
            assert_eq!(v.len(), 3 + (n + 1).div_ceil(16) * 16, "{n}");
            assert_eq!(decrypt_tunnel_password(&v, SECRET, &RA), Ok((3, pw)), "{n}");
        }
        // Out of range: tag, salt without the high bit, too long.
        assert!(encrypt_tunnel_password(0x20, 0x8000, b"x", SECRET, &RA).is_none());
        assert!(encrypt_tunnel_password(1, 0x7fff, b"x", SECRET, &RA).is_none());
        assert!(encrypt_tunnel_password(1, 0x8000, &[0; 240], SECRET, &RA).is_none());
    }

    #[test]
    fn tunnel_password_wrong_key_or_malformed_is_refused() {
        let v = hex(VECTOR);
        // The wrong secret or Request Authenticator: Data-Length and the
        // padding disagree (two blocks need a Data-Length of 15 to 31).
        assert_eq!(
            decrypt_tunnel_password(&v, b"other", &RA),
            Err(TunnelAttrError::Padding { tag: 1 })
        );
        assert_eq!(
            decrypt_tunnel_password(&v, SECRET, &[9; 16]),
            Err(TunnelAttrError::Padding { tag: 1 })
        );
        // A whole block of padding (Data-Length 3 in two blocks).
        let mut long = encrypt_tunnel_password(1, 0x8001, b"abc", SECRET, &RA).unwrap();
        let c1 = long[3..19].to_vec();
        let b2 = keystream(SECRET, &[&c1]);
        long.extend_from_slice(&b2); // a second block of zeros
        assert_eq!(
            decrypt_tunnel_password(&long, SECRET, &RA),
            Err(TunnelAttrError::Padding { tag: 1 })
        );
        // Salt without its high bit.
        let mut s = v.clone();
        s[1] &= 0x7f;
        assert_eq!(
            decrypt_tunnel_password(&s, SECRET, &RA),
            Err(TunnelAttrError::Salt { tag: 1 })
        );
        // Lengths: nothing, no blocks, a partial block, more than 15.
        let len = |tag| {
            Err(TunnelAttrError::Length {
                attr: attr::TUNNEL_PASSWORD,
                tag,
            })
        };
        assert_eq!(decrypt_tunnel_password(&[], SECRET, &RA), len(0));
        assert_eq!(decrypt_tunnel_password(&v[..3], SECRET, &RA), len(1));
        assert_eq!(decrypt_tunnel_password(&v[..30], SECRET, &RA), len(1));
        let mut big = v[..3].to_vec();
        big.extend_from_slice(&[0; 256]);
        assert_eq!(decrypt_tunnel_password(&big, SECRET, &RA), len(1));
        // A tag above 0x1F is ignored (§3.5), not an error.
        let mut t = encrypt_tunnel_password(0, 0x8123, b"pw", SECRET, &RA).unwrap();
        t[0] = 0x40;
        assert_eq!(
            decrypt_tunnel_password(&t, SECRET, &RA),
            Ok((0, b"pw".to_vec()))
        );
    }

    #[test]
    fn no_tunnel_attributes_is_no_target() {
        assert_eq!(parse(&[]), Ok(vec![]));
        assert_eq!(
            parse(&[
                Attr::u32(attr::SESSION_TIMEOUT, 60),
                Attr::new(attr::CLASS, b"c".to_vec())
            ]),
            Ok(vec![])
        );
    }

    #[test]
    fn tags_group_attributes_into_sets_ordered_by_preference() {
        // Interleaved, tag 2 first on the wire, tag 1 preferred.
        let attrs = vec![
            int(attr::TUNNEL_TYPE, 2, TUNNEL_TYPE_L2TP),
            int(attr::TUNNEL_TYPE, 1, TUNNEL_TYPE_L2TP),
            text(attr::TUNNEL_SERVER_ENDPOINT, 2, "[2001:db8::2]:1702"),
            int(attr::TUNNEL_MEDIUM_TYPE, 2, MEDIUM_IPV6),
            int(attr::TUNNEL_PREFERENCE, 2, 20),
            text(attr::TUNNEL_SERVER_ENDPOINT, 1, "192.0.2.1"),
            int(attr::TUNNEL_MEDIUM_TYPE, 1, MEDIUM_IPV4),
            password(1, 0x8001, b"secret-a"),
            text(attr::TUNNEL_ASSIGNMENT_ID, 1, "grp1"),
            int(attr::TUNNEL_PREFERENCE, 1, 10),
            text(attr::TUNNEL_CLIENT_AUTH_ID, 1, "gw"),
            text(attr::TUNNEL_SERVER_AUTH_ID, 1, "lns-a"),
            text(attr::TUNNEL_CLIENT_ENDPOINT, 1, "192.0.2.100"),
            text(attr::TUNNEL_PRIVATE_GROUP_ID, 1, "ignored"),
            Attr::u32(attr::SESSION_TIMEOUT, 60),
        ];
        let t = parse(&attrs).unwrap();
        assert_eq!(t.len(), 2);
        let a = &t[0];
        assert_eq!(a.tag, 1);
        assert_eq!(a.endpoint, sa("192.0.2.1:1701"));
        assert_eq!(a.client_endpoint, Some("192.0.2.100".parse().unwrap()));
        assert_eq!(a.secret.as_deref(), Some(&b"secret-a"[..]));
        assert_eq!(a.assignment_id.as_deref(), Some(&b"grp1"[..]));
        assert_eq!(a.client_auth_id.as_deref(), Some(&b"gw"[..]));
        assert_eq!(a.server_auth_id.as_deref(), Some(&b"lns-a"[..]));
        assert_eq!((a.preference, a.weight, a.hide_avps), (10, 1, false));
        let b = &t[1];
        assert_eq!(
            (b.tag, b.endpoint, b.preference),
            (2, sa("[2001:db8::2]:1702"), 20)
        );
        assert_eq!((&b.secret, &b.assignment_id), (&None, &None));
        // The secret is not shown by Debug.
        assert!(!format!("{a:?}").contains("secret-a"));

        // Preferences swapped: the order follows them, not the tags.
        let mut swapped = attrs.clone();
        for x in &mut swapped {
            if x.kind == attr::TUNNEL_PREFERENCE {
                x.value[3] = 30 - x.value[3];
            }
        }
        let t = parse(&swapped).unwrap();
        assert_eq!(t.iter().map(|t| t.tag).collect::<Vec<_>>(), [2, 1]);
        // Without preferences: tag order; a set without one goes after
        // a set with one.
        let none: Vec<Attr> = attrs
            .iter()
            .filter(|x| x.kind != attr::TUNNEL_PREFERENCE)
            .cloned()
            .collect();
        let t = parse(&none).unwrap();
        assert_eq!(t.iter().map(|t| t.tag).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t[0].preference, UNSPECIFIED_PREFERENCE);
        let mut one = none.clone();
        one.push(int(attr::TUNNEL_PREFERENCE, 2, 0xff_ffff));
        let t = parse(&one).unwrap();
        assert_eq!(t.iter().map(|t| t.tag).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn untagged_strings_and_tag_zero() {
        // No tag octet (first octet above 0x1F) and an explicit tag 0 are
        // the same set; integers carry tag 0 in their first octet.
        let attrs = vec![
            int(attr::TUNNEL_TYPE, 0, TUNNEL_TYPE_L2TP),
            text(attr::TUNNEL_SERVER_ENDPOINT, 0, "192.0.2.9"),
            Attr::new(attr::TUNNEL_ASSIGNMENT_ID, b"\x00grp".to_vec()),
        ];
        let t = parse(&attrs).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].tag, t[0].endpoint), (0, sa("192.0.2.9:1701")));
        assert_eq!(t[0].assignment_id.as_deref(), Some(&b"grp"[..]));
        // A tagged endpoint does not join the untagged set: two sets, one
        // of them without a Tunnel-Type (skipped).
        let attrs = vec![
            int(attr::TUNNEL_TYPE, 0, TUNNEL_TYPE_L2TP),
            text(attr::TUNNEL_SERVER_ENDPOINT, 0, "192.0.2.9"),
            text(attr::TUNNEL_SERVER_ENDPOINT, 5, "192.0.2.10"),
        ];
        let t = parse(&attrs).unwrap();
        assert_eq!(t.iter().map(|t| t.tag).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn other_tunnel_types_and_media_are_skipped() {
        // An 802.1X VLAN assignment (Tunnel-Type VLAN 13, medium 802 = 6)
        // next to an L2TP set: only the L2TP set.
        let mut attrs = vec![
            int(attr::TUNNEL_TYPE, 1, 13),
            int(attr::TUNNEL_MEDIUM_TYPE, 1, 6),
            text(attr::TUNNEL_PRIVATE_GROUP_ID, 1, "100"),
            // PPTP to a host name: not read, so not refused.
            int(attr::TUNNEL_TYPE, 2, 1),
            text(attr::TUNNEL_SERVER_ENDPOINT, 2, "pptp.example"),
            // L2TP over something that is not IP.
            int(attr::TUNNEL_TYPE, 3, TUNNEL_TYPE_L2TP),
            int(attr::TUNNEL_MEDIUM_TYPE, 3, 11),
            text(attr::TUNNEL_SERVER_ENDPOINT, 3, "ipx-node"),
        ];
        assert_eq!(parse(&attrs), Err(TunnelAttrError::NoL2tpTunnel));
        attrs.extend(l2tp(4, "198.51.100.1:1701"));
        let t = parse(&attrs).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].tag, t[0].endpoint), (4, sa("198.51.100.1:1701")));
        // A set with no Tunnel-Type at all is not L2TP either.
        assert_eq!(
            parse(&[text(attr::TUNNEL_SERVER_ENDPOINT, 1, "192.0.2.1")]),
            Err(TunnelAttrError::NoL2tpTunnel)
        );
    }

    #[test]
    fn malformed_attributes_are_named() {
        let base = l2tp(1, "192.0.2.1");
        let with = |extra: Attr| {
            let mut v = base.clone();
            v.push(extra);
            parse(&v)
        };
        // Integer of the wrong length; tag above 0x1F.
        assert_eq!(
            with(Attr::new(attr::TUNNEL_PREFERENCE, vec![1, 0, 5])),
            Err(TunnelAttrError::Length {
                attr: attr::TUNNEL_PREFERENCE,
                tag: 1
            })
        );
        assert_eq!(
            with(Attr::new(attr::TUNNEL_TYPE, vec![0x40, 0, 0, 0, 3])),
            Err(TunnelAttrError::Length {
                attr: attr::TUNNEL_TYPE,
                tag: 0
            })
        );
        assert_eq!(
            with(Attr::new(attr::TUNNEL_MEDIUM_TYPE, vec![0x20, 0, 0, 1])),
            Err(TunnelAttrError::Tag {
                attr: attr::TUNNEL_MEDIUM_TYPE,
                tag: 0x20
            })
        );
        // A string with nothing after its tag, or nothing at all.
        assert_eq!(
            with(Attr::new(attr::TUNNEL_ASSIGNMENT_ID, vec![1])),
            Err(TunnelAttrError::Length {
                attr: attr::TUNNEL_ASSIGNMENT_ID,
                tag: 1
            })
        );
        assert_eq!(
            with(Attr::new(attr::TUNNEL_CLIENT_AUTH_ID, vec![])),
            Err(TunnelAttrError::Length {
                attr: attr::TUNNEL_CLIENT_AUTH_ID,
                tag: 0
            })
        );
        // Twice in one set.
        assert_eq!(
            with(text(attr::TUNNEL_SERVER_ENDPOINT, 1, "192.0.2.2")),
            Err(TunnelAttrError::Duplicate {
                attr: attr::TUNNEL_SERVER_ENDPOINT,
                tag: 1
            })
        );
        // A bad password: salt, then padding (wrong secret).
        let mut pw = password(1, 0x8123, b"pw");
        pw.value[1] = 0x01;
        assert_eq!(with(pw), Err(TunnelAttrError::Salt { tag: 1 }));
        let pw = password(1, 0x8123, b"pw");
        let mut v = base.clone();
        v.push(pw);
        assert_eq!(
            from_radius(&v, b"wrong", &RA),
            Err(TunnelAttrError::Padding { tag: 1 })
        );
        // No endpoint in an L2TP set.
        assert_eq!(
            parse(&[int(attr::TUNNEL_TYPE, 7, TUNNEL_TYPE_L2TP)]),
            Err(TunnelAttrError::MissingServerEndpoint { tag: 7 })
        );
        // A host name; the wrong family for the medium; garbage.
        let e = parse(&l2tp(1, "lns.example.net")).unwrap_err();
        assert_eq!(
            e,
            TunnelAttrError::Endpoint {
                attr: attr::TUNNEL_SERVER_ENDPOINT,
                tag: 1,
                reason: EndpointError::HostName("lns.example.net".into())
            }
        );
        assert_eq!(e.attr(), Some(attr::TUNNEL_SERVER_ENDPOINT));
        let shown = e.to_string();
        assert!(
            shown.contains("Tunnel-Server-Endpoint (67), tag 1") && shown.contains("host name"),
            "{shown}"
        );
        assert!(matches!(
            with(int(attr::TUNNEL_MEDIUM_TYPE, 1, MEDIUM_IPV6)),
            Err(TunnelAttrError::Endpoint {
                reason: EndpointError::Medium { medium: 2, .. },
                ..
            })
        ));
        assert!(matches!(
            with(text(attr::TUNNEL_CLIENT_ENDPOINT, 1, "10.0.0.1:0x")),
            Err(TunnelAttrError::Endpoint {
                attr: attr::TUNNEL_CLIENT_ENDPOINT,
                reason: EndpointError::Syntax(_),
                ..
            })
        ));
    }

    #[test]
    fn hostile_values_never_panic() {
        // Every tunnel attribute with every length up to 40 and a few
        // fillings, alone and after a valid set.
        let kinds = [64u8, 65, 66, 67, 69, 81, 82, 83, 90, 91];
        for k in kinds {
            for n in 0..40 {
                for fill in [0u8, 1, 0x1f, 0x20, 0x80, 0xff] {
                    let a = Attr::new(k, vec![fill; n]);
                    let _ = parse(std::slice::from_ref(&a));
                    let mut v = l2tp(fill.min(MAX_TAG), "192.0.2.1");
                    v.push(a);
                    let _ = parse(&v);
                }
            }
        }
    }

    #[test]
    fn endpoints_parse_with_default_port() {
        assert_eq!(parse_endpoint(b"192.0.2.1", None), Ok(sa("192.0.2.1:1701")));
        assert_eq!(
            parse_endpoint(b"192.0.2.1:1702", Some(1)),
            Ok(sa("192.0.2.1:1702"))
        );
        assert_eq!(
            parse_endpoint(b"2001:db8::1", Some(2)),
            Ok(sa("[2001:db8::1]:1701"))
        );
        assert_eq!(
            parse_endpoint(b"[2001:db8::1]", None),
            Ok(sa("[2001:db8::1]:1701"))
        );
        assert_eq!(
            parse_endpoint(b"[2001:db8::1]:9", None),
            Ok(sa("[2001:db8::1]:9"))
        );
        assert!(matches!(
            parse_endpoint(b"lns.example:1701", None),
            Err(EndpointError::HostName(_))
        ));
        for bad in [
            &b"192.0.2.1:0"[..],
            b"192.0.2.1:70000",
            b"[192.0.2.1]",
            b"",
            b"\xff",
        ] {
            assert!(
                matches!(parse_endpoint(bad, None), Err(EndpointError::Syntax(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_endpoint(b"192.0.2.1", Some(2)),
            Err(EndpointError::Medium { .. })
        ));
    }

    fn target(ep: &str, preference: u32, weight: u32) -> TunnelTarget {
        TunnelTarget {
            preference,
            weight,
            ..TunnelTarget::new(sa(ep))
        }
    }

    fn eps(v: &[&TunnelTarget]) -> Vec<u16> {
        v.iter().map(|t| t.endpoint.port()).collect()
    }

    #[test]
    fn order_is_by_preference_then_load_per_weight() {
        let now = Instant::now();
        let hold = HoldDown::default();
        let t = [
            target("10.0.0.1:3", 2, 1),
            target("10.0.0.1:1", 1, 1),
            target("10.0.0.1:2", 1, 1),
            target("10.0.0.1:4", 3, 1),
        ];
        // No load: preference, then the given order.
        assert_eq!(eps(&order(&t, |_| 0, &hold, now)), [1, 2, 3, 4]);
        // Load only reorders within a preference.
        let load = |x: &TunnelTarget| match x.endpoint.port() {
            1 => 5,
            2 => 4,
            3 => 0,
            _ => 100,
        };
        assert_eq!(eps(&order(&t, load, &hold, now)), [2, 1, 3, 4]);
    }

    #[test]
    fn equal_preferences_spread_in_proportion_to_weight() {
        let now = Instant::now();
        let hold = HoldDown::default();
        let t = [
            target("10.0.0.1:1", 5, 1),
            target("10.0.0.1:2", 5, 3),
            target("10.0.0.1:3", 5, 0), // draining: last
        ];
        let mut load: HashMap<u16, u64> = HashMap::new();
        for _ in 0..400 {
            let first = order(
                &t,
                |x| load.get(&x.endpoint.port()).copied().unwrap_or(0),
                &hold,
                now,
            )[0]
            .endpoint
            .port();
            *load.entry(first).or_default() += 1;
        }
        assert_eq!((load[&1], load[&2], load.get(&3)), (100, 300, None));
        // Equal load per weight: the heavier first.
        let l = |x: &TunnelTarget| u64::from(x.weight) * 7;
        assert_eq!(eps(&order(&t, l, &hold, now)), [2, 1, 3]);
        // Weight 0 targets still come, after the others, least loaded
        // first.
        let d = [target("10.0.0.1:8", 1, 0), target("10.0.0.1:9", 1, 0)];
        let l = |x: &TunnelTarget| u64::from(10 - x.endpoint.port());
        assert_eq!(eps(&order(&d, l, &hold, now)), [9, 8]);
    }

    #[test]
    fn held_down_endpoints_are_skipped_until_the_hold_ends() {
        let t0 = Instant::now();
        let mut hold = HoldDown::default();
        let t = [target("10.0.0.1:1", 1, 1), target("10.0.0.1:2", 2, 1)];
        let a = t[0].endpoint;
        hold.fail(a, t0, Duration::from_secs(30));
        assert!(hold.is_held(a, t0));
        assert_eq!(eps(&order(&t, |_| 0, &hold, t0)), [2]);
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(
            hold.held(t10).collect::<Vec<_>>(),
            [(a, Duration::from_secs(20))]
        );
        assert_eq!(hold.next_release(t10), Some(t0 + Duration::from_secs(30)));
        // A second failure with a shorter hold does not shorten it, but
        // is counted.
        hold.fail(a, t10, Duration::from_secs(5));
        assert_eq!(hold.failures(a), 2);
        assert!(hold.is_held(a, t0 + Duration::from_secs(29)));
        // Expiry: back in first place.
        let t30 = t0 + Duration::from_secs(30);
        assert!(!hold.is_held(a, t30));
        assert_eq!(hold.held(t30).count(), 0);
        assert_eq!(hold.next_release(t30), None);
        assert_eq!(eps(&order(&t, |_| 0, &hold, t30)), [1, 2]);
        hold.expire(t30);
        assert_eq!(hold.failure_counts().collect::<Vec<_>>(), [(a, 2)]);
        // Everything held: nothing to try.
        let b = t[1].endpoint;
        hold.fail(a, t30, Duration::from_secs(1));
        hold.fail(b, t30, Duration::from_secs(1));
        assert!(order(&t, |_| 0, &hold, t30).is_empty());
        // Released early (a tunnel came up).
        hold.release(b);
        assert_eq!(eps(&order(&t, |_| 0, &hold, t30)), [2]);
        // A zero hold counts without holding; a huge one does not panic.
        hold.fail(b, t30, Duration::ZERO);
        assert!(!hold.is_held(b, t30));
        assert_eq!(hold.failures(b), 2);
        hold.fail(b, t30, Duration::MAX);
        assert!(hold.is_held(b, t30 + Duration::from_secs(86_400)));
    }

    #[test]
    fn assignment_id_names_the_shared_tunnel() {
        let mut a = TunnelTarget::new(sa("192.0.2.1:1701"));
        a.assignment_id = Some(b"grp1".to_vec());
        let mut b = a.clone();
        b.secret = Some(b"x".to_vec());
        b.preference = 9;
        assert_eq!(a.key(), b.key());
        let unnamed = TunnelTarget::new(a.endpoint);
        assert_ne!(a.key(), unnamed.key());
        let mut other = a.clone();
        other.endpoint = sa("192.0.2.2:1701");
        assert_ne!(a.key(), other.key());
        let mut from = a.clone();
        from.client_endpoint = Some("192.0.2.100".parse().unwrap());
        assert_ne!(a.key(), from.key());
    }

    #[test]
    fn realms_split_at_the_last_at_sign() {
        assert_eq!(
            split_realm(b"alice@isp.example"),
            (&b"alice"[..], Some(&b"isp.example"[..]))
        );
        assert_eq!(
            split_realm(b"a@b@c.example"),
            (&b"a@b"[..], Some(&b"c.example"[..]))
        );
        assert_eq!(split_realm(b"alice"), (&b"alice"[..], None));
        assert_eq!(split_realm(b"alice@"), (&b"alice"[..], None));
        assert_eq!(split_realm(b""), (&b""[..], None));
    }

    #[test]
    fn realm_rules_lookup() {
        let isp = vec![
            target("192.0.2.1:1701", 2, 1),
            target("192.0.2.2:1701", 1, 1),
        ];
        let rules = RealmRules::new([
            ("ISP.example".to_string(), isp),
            (
                "corp.example".to_string(),
                vec![target("192.0.2.3:1701", 0, 1)],
            ),
        ])
        .unwrap();
        assert_eq!(rules.len(), 2);
        let got = rules.lookup(b"alice@isp.EXAMPLE").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].endpoint, sa("192.0.2.2:1701"), "preference order");
        assert_eq!(
            rules.lookup(b"x@isp.example@corp.example").unwrap()[0].endpoint,
            sa("192.0.2.3:1701")
        );
        assert!(rules.lookup(b"bob@other.example").is_none());
        assert!(rules.lookup(b"bob").is_none());
        // With a default rule.
        let rules = RealmRules::new([
            (
                "corp.example".to_string(),
                vec![target("192.0.2.3:1701", 0, 1)],
            ),
            (
                DEFAULT_REALM.to_string(),
                vec![target("192.0.2.9:1701", 0, 1)],
            ),
        ])
        .unwrap();
        for u in [&b"bob@other.example"[..], b"bob", b"bob@"] {
            assert_eq!(rules.lookup(u).unwrap()[0].endpoint, sa("192.0.2.9:1701"));
        }
        assert_eq!(
            rules.lookup(b"x@Corp.Example").unwrap()[0].endpoint,
            sa("192.0.2.3:1701")
        );
        // Refused rules.
        let one = || vec![target("192.0.2.3:1701", 0, 1)];
        assert_eq!(
            RealmRules::new([("a.example".into(), one()), ("A.Example".into(), one())])
                .unwrap_err(),
            RealmRuleError::Duplicate("A.Example".into())
        );
        assert_eq!(
            RealmRules::new([("*".into(), one()), ("*".into(), one())]).unwrap_err(),
            RealmRuleError::Duplicate("*".into())
        );
        assert_eq!(
            RealmRules::new([("a.example".into(), vec![])]).unwrap_err(),
            RealmRuleError::NoTargets("a.example".into())
        );
        for bad in ["", "x@y"] {
            assert_eq!(
                RealmRules::new([(bad.to_string(), one())]).unwrap_err(),
                RealmRuleError::BadRealm(bad.into())
            );
        }
        assert!(RealmRules::default().is_empty());
    }
}
