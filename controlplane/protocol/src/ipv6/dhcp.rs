//! DHCPv6 on a subscriber's link, server side (RFC 8415): the message
//! codec (§8, §21), the UDP/IPv6 framing (ports 546 and 547, §7.2) and
//! the server's answers (§16 validation, §18.3 replies) for a link that
//! has one client: a PPP session.
//!
//! Guarantees: a message is answered only when §16 says a server may
//! (anything else is refused with a [`Refused`] reason, for a counter);
//! every answer carries our Server Identifier and the client's Client
//! Identifier; an IA_PD or IA_NA the link has nothing for gets its status
//! code (NoPrefixAvail, NoAddrsAvail, NoBinding), never silence; T1 and
//! T2 are 0.5 and 0.8 of the preferred lifetime (§21.4, §21.21).
//!
//! Refuses: relayed messages (no relay sits inside a PPP link),
//! Reconfigure, authentication (§20), IA_TA (deprecated by §25: answered
//! with no IA_TA).
//!
//! Who calls it: the LNS engine, for IPv6 packets to UDP port 547 on a
//! link; it owns the link's leases and decides what [`Leases`] holds
//! before calling [`respond`], and acts on what [`Answer`] says the
//! client gave back.

use super::nd::{decode_names, encode_name};
use crate::aaa::prefix::Ipv6Net;
use lns_dataplane::wire::checksum;
use lns_dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use std::net::Ipv6Addr;

/// UDP (RFC 8200 §8.1 pseudo-header, RFC 768).
pub const UDP: u8 = 17;
/// The port clients listen on (§7.2).
pub const CLIENT_PORT: u16 = 546;
/// The port servers listen on (§7.2).
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (§7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Message types (§7.3).
#[allow(missing_docs, reason = "the RFC's names")]
pub mod kind {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const RECONFIGURE: u8 = 10;
    pub const INFORMATION_REQUEST: u8 = 11;
    pub const RELAY_FORW: u8 = 12;
    pub const RELAY_REPL: u8 = 13;
}

/// Option codes (§21; RFC 3646 §3, §4 for DNS).
#[allow(missing_docs, reason = "the RFC's names")]
pub mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
}

/// Status codes (§21.13).
#[allow(missing_docs, reason = "the RFC's names")]
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// An identity association (IA_NA §21.4, IA_PD §21.21): its IAID, T1, T2
/// and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    /// Chosen by the client; the server echoes it.
    pub iaid: u32,
    /// Renew after (seconds).
    pub t1: u32,
    /// Rebind after (seconds).
    pub t2: u32,
    /// IAADDR or IAPREFIX options, and a status code.
    pub options: Vec<Opt>,
}

/// A DHCPv6 option, read or to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// Client Identifier: the client's DUID (§21.2).
    ClientId(Vec<u8>),
    /// Server Identifier: a server's DUID (§21.3).
    ServerId(Vec<u8>),
    /// Non-temporary addresses (§21.4).
    IaNa(Ia),
    /// Temporary addresses (§21.5; not served).
    IaTa(u32),
    /// An address in an IA_NA (§21.6).
    IaAddr {
        /// The address.
        addr: Ipv6Addr,
        /// Preferred lifetime.
        preferred: u32,
        /// Valid lifetime.
        valid: u32,
        /// A status code, when there is one.
        options: Vec<Opt>,
    },
    /// Option Request (§21.7): the options the client wants.
    Oro(Vec<u16>),
    /// Server preference (§21.8).
    Preference(u8),
    /// Elapsed time, hundredths of a second (§21.9).
    ElapsedTime(u16),
    /// Status code and message (§21.13).
    Status(u16, String),
    /// Rapid Commit (§21.14).
    RapidCommit,
    /// Recursive DNS servers (RFC 3646 §3).
    DnsServers(Vec<Ipv6Addr>),
    /// Domain search list (RFC 3646 §4).
    DomainList(Vec<String>),
    /// Delegated prefixes (§21.21).
    IaPd(Ia),
    /// A prefix in an IA_PD (§21.22).
    IaPrefix {
        /// Preferred lifetime.
        preferred: u32,
        /// Valid lifetime.
        valid: u32,
        /// The prefix.
        prefix: Ipv6Net,
        /// A status code, when there is one.
        options: Vec<Opt>,
    },
    /// Information refresh time (§21.23).
    InformationRefreshTime(u32),
    /// Any other option, kept as read.
    Other(u16, Vec<u8>),
}

/// A DHCPv6 client/server message (§8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type ([`kind`]).
    pub kind: u8,
    /// Transaction ID (three octets).
    pub xid: [u8; 3],
    /// Its options, in order.
    pub options: Vec<Opt>,
}

/// Why a message cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl Message {
    /// Reads a client/server message (not a relay message).
    pub fn parse(b: &[u8]) -> Result<Message, Malformed> {
        if b.len() < 4 || matches!(b[0], kind::RELAY_FORW | kind::RELAY_REPL) {
            return Err(Malformed);
        }
        Ok(Message {
            kind: b[0],
            xid: [b[1], b[2], b[3]],
            options: parse_options(&b[4..], 0)?,
        })
    }

    /// The message in wire format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind, self.xid[0], self.xid[1], self.xid[2]];
        for o in &self.options {
            o.encode(&mut out);
        }
        out
    }

    /// The first option that `f` picks.
    pub fn find<'a, T>(&'a self, f: impl FnMut(&'a Opt) -> Option<T>) -> Option<T> {
        self.options.iter().find_map(f)
    }

    /// The Client Identifier's DUID.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.find(|o| match o {
            Opt::ClientId(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The Server Identifier's DUID.
    pub fn server_id(&self) -> Option<&[u8]> {
        self.find(|o| match o {
            Opt::ServerId(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// Every IA_PD and IA_NA it carries.
    fn ias(&self) -> impl Iterator<Item = (u16, &Ia)> {
        self.options.iter().filter_map(|o| match o {
            Opt::IaNa(ia) => Some((code::IA_NA, ia)),
            Opt::IaPd(ia) => Some((code::IA_PD, ia)),
            _ => None,
        })
    }

    /// Whether the Option Request option names `c`.
    fn requests(&self, c: u16) -> bool {
        self.find(|o| match o {
            Opt::Oro(v) => Some(v.contains(&c)),
            _ => None,
        })
        .unwrap_or(false)
    }
}

/// Options one after another, as far as `b` goes, `depth` deep: IAs at
/// the top (0), their addresses and prefixes inside them (1), status
/// codes in those (2).
fn parse_options(mut b: &[u8], depth: u8) -> Result<Vec<Opt>, Malformed> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let head = b.get(..4).ok_or(Malformed)?;
        let c = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let v = b.get(4..4 + len).ok_or(Malformed)?;
        b = &b[4 + len..];
        out.push(parse_option(c, v, depth)?);
    }
    Ok(out)
}

fn be32(v: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]])
}

fn addr_at(v: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&v[at..at + 16]);
    Ipv6Addr::from(a)
}

fn parse_option(c: u16, v: &[u8], depth: u8) -> Result<Opt, Malformed> {
    let ia = |v: &[u8]| -> Result<Ia, Malformed> {
        // IAs are top-level options only (§21.4, §21.21).
        if v.len() < 12 || depth > 0 {
            return Err(Malformed);
        }
        Ok(Ia {
            iaid: be32(v, 0),
            t1: be32(v, 4),
            t2: be32(v, 8),
            options: parse_options(&v[12..], depth + 1)?,
        })
    };
    Ok(match c {
        code::CLIENTID | code::SERVERID => {
            // §11.1: a DUID is 2 to 130 octets (type and at least one more).
            if !(3..=130).contains(&v.len()) {
                return Err(Malformed);
            }
            if c == code::CLIENTID {
                Opt::ClientId(v.to_vec())
            } else {
                Opt::ServerId(v.to_vec())
            }
        }
        code::IA_NA => Opt::IaNa(ia(v)?),
        code::IA_PD => Opt::IaPd(ia(v)?),
        code::IA_TA if v.len() >= 4 => Opt::IaTa(be32(v, 0)),
        code::IAADDR if v.len() >= 24 && depth == 1 => Opt::IaAddr {
            addr: addr_at(v, 0),
            preferred: be32(v, 16),
            valid: be32(v, 20),
            options: parse_options(&v[24..], depth + 1)?,
        },
        code::IAPREFIX if v.len() >= 25 && depth == 1 => {
            if v[8] > 128 {
                return Err(Malformed);
            }
            Opt::IaPrefix {
                preferred: be32(v, 0),
                valid: be32(v, 4),
                prefix: Ipv6Net::new(addr_at(v, 9), v[8]),
                options: parse_options(&v[25..], depth + 1)?,
            }
        }
        code::ORO if v.len().is_multiple_of(2) => Opt::Oro(
            v.chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect(),
        ),
        code::PREFERENCE if v.len() == 1 => Opt::Preference(v[0]),
        code::ELAPSED_TIME if v.len() == 2 => Opt::ElapsedTime(u16::from_be_bytes([v[0], v[1]])),
        code::STATUS_CODE if v.len() >= 2 => Opt::Status(
            u16::from_be_bytes([v[0], v[1]]),
            String::from_utf8_lossy(&v[2..]).into_owned(),
        ),
        code::RAPID_COMMIT if v.is_empty() => Opt::RapidCommit,
        code::DNS_SERVERS if v.len().is_multiple_of(16) => {
            Opt::DnsServers(v.chunks_exact(16).map(|a| addr_at(a, 0)).collect())
        }
        code::DOMAIN_LIST => Opt::DomainList(decode_names(v).ok_or(Malformed)?),
        code::INFORMATION_REFRESH_TIME if v.len() == 4 => Opt::InformationRefreshTime(be32(v, 0)),
        code::IA_TA
        | code::IAADDR
        | code::IAPREFIX
        | code::ORO
        | code::PREFERENCE
        | code::ELAPSED_TIME
        | code::STATUS_CODE
        | code::RAPID_COMMIT
        | code::DNS_SERVERS
        | code::INFORMATION_REFRESH_TIME => return Err(Malformed),
        _ => Opt::Other(c, v.to_vec()),
    })
}

impl Opt {
    /// A client's IA_PD asking for a prefix, or naming the one it holds
    /// (its lifetimes zero: the server sets them).
    pub fn ia_pd(iaid: u32, held: Option<Ipv6Net>) -> Opt {
        Opt::IaPd(Ia {
            iaid,
            t1: 0,
            t2: 0,
            options: held
                .map(|prefix| Opt::IaPrefix {
                    preferred: 0,
                    valid: 0,
                    prefix,
                    options: Vec::new(),
                })
                .into_iter()
                .collect(),
        })
    }

    /// Appends the option in wire format to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        let c = match self {
            Opt::ClientId(d) => {
                out.extend_from_slice(d);
                code::CLIENTID
            }
            Opt::ServerId(d) => {
                out.extend_from_slice(d);
                code::SERVERID
            }
            Opt::IaNa(ia) | Opt::IaPd(ia) => {
                out.extend_from_slice(&ia.iaid.to_be_bytes());
                out.extend_from_slice(&ia.t1.to_be_bytes());
                out.extend_from_slice(&ia.t2.to_be_bytes());
                for o in &ia.options {
                    o.encode(out);
                }
                if matches!(self, Opt::IaNa(_)) {
                    code::IA_NA
                } else {
                    code::IA_PD
                }
            }
            Opt::IaTa(iaid) => {
                out.extend_from_slice(&iaid.to_be_bytes());
                code::IA_TA
            }
            Opt::IaAddr {
                addr,
                preferred,
                valid,
                options,
            } => {
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&preferred.to_be_bytes());
                out.extend_from_slice(&valid.to_be_bytes());
                for o in options {
                    o.encode(out);
                }
                code::IAADDR
            }
            Opt::Oro(v) => {
                for c in v {
                    out.extend_from_slice(&c.to_be_bytes());
                }
                code::ORO
            }
            Opt::Preference(p) => {
                out.push(*p);
                code::PREFERENCE
            }
            Opt::ElapsedTime(t) => {
                out.extend_from_slice(&t.to_be_bytes());
                code::ELAPSED_TIME
            }
            Opt::Status(s, m) => {
                out.extend_from_slice(&s.to_be_bytes());
                out.extend_from_slice(m.as_bytes());
                code::STATUS_CODE
            }
            Opt::RapidCommit => code::RAPID_COMMIT,
            Opt::DnsServers(v) => {
                for a in v {
                    out.extend_from_slice(&a.octets());
                }
                code::DNS_SERVERS
            }
            Opt::DomainList(v) => {
                // Checked when configured (ServerConfig::check).
                for n in v {
                    out.extend(encode_name(n).unwrap_or_default());
                }
                code::DOMAIN_LIST
            }
            Opt::IaPrefix {
                preferred,
                valid,
                prefix,
                options,
            } => {
                out.extend_from_slice(&preferred.to_be_bytes());
                out.extend_from_slice(&valid.to_be_bytes());
                out.push(prefix.len);
                out.extend_from_slice(&prefix.addr.octets());
                for o in options {
                    o.encode(out);
                }
                code::IAPREFIX
            }
            Opt::InformationRefreshTime(t) => {
                out.extend_from_slice(&t.to_be_bytes());
                code::INFORMATION_REFRESH_TIME
            }
            Opt::Other(c, v) => {
                out.extend_from_slice(v);
                *c
            }
        };
        let len = (out.len() - at - 4) as u16;
        out[at..at + 2].copy_from_slice(&c.to_be_bytes());
        out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// A UDP datagram in an IPv6 packet, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Reads `packet` as IPv6 (no extension headers) carrying UDP whose
/// checksum is right (RFC 8200 §8.1: over IPv6 it is never zero). None
/// for anything else.
pub fn udp_of(packet: &[u8]) -> Option<Datagram<'_>> {
    let p = Ipv6Packet::new_checked(packet).ok()?;
    let repr = Ipv6Repr::parse(&p).ok()?;
    let payload = packet.get(Ipv6Repr::HEADER_LEN..Ipv6Repr::HEADER_LEN + repr.payload_len)?;
    if repr.next_header != UDP || payload.len() < 8 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
    if len < 8 || len > payload.len() {
        return None;
    }
    let udp = &payload[..len];
    let ph = checksum::pseudo_header_v6(repr.src, repr.dst, UDP, len as u32);
    if udp[6..8] == [0, 0] || checksum::fold(checksum::accumulate(u32::from(ph), udp)) != 0xffff {
        return None;
    }
    Some(Datagram {
        src: repr.src,
        dst: repr.dst,
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
        payload: &udp[8..],
    })
}

/// An IPv6 packet carrying `payload` in UDP, its checksum computed.
pub fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut udp = Vec::with_capacity(len);
    udp.extend_from_slice(&ports.0.to_be_bytes());
    udp.extend_from_slice(&ports.1.to_be_bytes());
    udp.extend_from_slice(&(len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let ph = checksum::pseudo_header_v6(src, dst, UDP, len as u32);
    let mut sum = !checksum::fold(checksum::accumulate(u32::from(ph), &udp));
    // RFC 768: a computed zero is sent as all ones.
    if sum == 0 {
        sum = 0xffff;
    }
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let repr = Ipv6Repr {
        src,
        dst,
        next_header: UDP,
        payload_len: len,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut p = vec![0u8; Ipv6Repr::HEADER_LEN];
    // A message that fits a PPP frame fits the header's 16-bit length.
    let _ = repr.emit(&mut p);
    p.extend_from_slice(&udp);
    p
}

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our DUID (the Server Identifier): the same across restarts, or
    /// clients holding leases would see a new server (§11).
    pub duid: Vec<u8>,
    /// Preferred lifetime of what is leased, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
    /// Answer a Solicit with Rapid Commit by a Reply (§18.3.1).
    pub rapid_commit: bool,
    /// Our preference (§21.8); 255 makes clients take us at once.
    pub preference: u8,
    /// DNS servers (RFC 3646 §3).
    pub dns: Vec<Ipv6Addr>,
    /// Domain search list (RFC 3646 §4).
    pub domains: Vec<String>,
}

impl ServerConfig {
    /// Whether the settings can be served: a DUID of 3 to 130 octets,
    /// lifetimes in order, names in wire format.
    pub fn check(&self) -> Result<(), String> {
        if !(3..=130).contains(&self.duid.len()) {
            return Err("the server DUID must be 3 to 130 octets (RFC 8415 §11.1)".into());
        }
        if self.preferred > self.valid {
            return Err("the preferred lifetime exceeds the valid lifetime".into());
        }
        for n in &self.domains {
            encode_name(n).map_err(|e| format!("domain {n:?}: {e}"))?;
        }
        Ok(())
    }

    fn t1(&self) -> u32 {
        self.preferred / 2
    }

    fn t2(&self) -> u32 {
        self.preferred / 5 * 4
    }
}

/// A DUID-UUID (RFC 6355 §4) from 16 octets that stay the same on this
/// host (its machine id, say): type 4, then the UUID.
pub fn duid_uuid(uuid: [u8; 16]) -> Vec<u8> {
    let mut d = vec![0, 4];
    d.extend_from_slice(&uuid);
    d
}

/// What the link has for its client, decided by the caller before
/// [`respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leases {
    /// The delegated prefix (IA_PD).
    pub prefix: Option<Ipv6Net>,
    /// The address (IA_NA).
    pub address: Option<Ipv6Addr>,
    /// The link's own /64 (Confirm checks addresses against it).
    pub link: Option<Ipv6Net>,
}

/// Why a message gets no answer (§16; each one counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a message that holds together.
    Malformed,
    /// A message a server never answers (Advertise, Reply, Reconfigure,
    /// relay messages).
    NotForServers,
    /// No Client Identifier where §16 requires one.
    NoClientId,
    /// A Server Identifier where §16 forbids one, or none where it
    /// requires one.
    ServerId,
    /// Another server's Server Identifier: not for us.
    OtherServer,
    /// Sent to us as unicast where §16 wants multicast (Solicit,
    /// Confirm, Rebind, Information-Request must be multicast; we do not
    /// offer unicast, §18.3.1).
    Unicast,
}

impl Refused {
    /// The counter's name.
    pub fn name(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::NotForServers => "not_for_servers",
            Refused::NoClientId => "no_client_id",
            Refused::ServerId => "server_id",
            Refused::OtherServer => "other_server",
            Refused::Unicast => "unicast",
        }
    }
}

/// What [`respond`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The message to send back.
    pub reply: Message,
    /// The client is bound (Request, Renew, Rebind, Rapid Commit).
    pub bound: bool,
    /// The client gave back (Release) or refused (Decline) the prefix.
    pub release_prefix: bool,
    /// The client gave back or refused the address.
    pub release_address: bool,
}

/// The server's answer to message `m` that came to `dst` (§16, §18.3),
/// with `leases` what the link has for its client.
pub fn respond(
    cfg: &ServerConfig,
    m: &Message,
    dst: Ipv6Addr,
    leases: &Leases,
) -> Result<Answer, Refused> {
    let multicast = dst.is_multicast();
    let ours = m.server_id().map(|s| s == cfg.duid.as_slice());
    let client = m.client_id();
    // §16.2 to §16.12: who must and must not name a server, and which
    // messages must be multicast (we send no Server Unicast option).
    match m.kind {
        kind::SOLICIT | kind::CONFIRM | kind::REBIND => {
            if client.is_none() {
                return Err(Refused::NoClientId);
            }
            if ours.is_some() {
                return Err(Refused::ServerId);
            }
        }
        kind::REQUEST | kind::RENEW | kind::RELEASE | kind::DECLINE => {
            if client.is_none() {
                return Err(Refused::NoClientId);
            }
            match ours {
                None => return Err(Refused::ServerId),
                Some(false) => return Err(Refused::OtherServer),
                Some(true) => {}
            }
        }
        kind::INFORMATION_REQUEST => {
            if ours == Some(false) {
                return Err(Refused::OtherServer);
            }
            // §16.12: an Information-Request asks for nothing to lease.
            if m.ias().next().is_some() {
                return Err(Refused::Malformed);
            }
        }
        _ => return Err(Refused::NotForServers),
    }
    if !multicast {
        return Err(Refused::Unicast);
    }
    let mut opts = vec![Opt::ServerId(cfg.duid.clone())];
    if let Some(c) = client {
        opts.push(Opt::ClientId(c.to_vec()));
    }
    let mut answer = Answer {
        reply: Message {
            kind: kind::REPLY,
            xid: m.xid,
            options: Vec::new(),
        },
        bound: false,
        release_prefix: false,
        release_address: false,
    };
    let rapid = m.kind == kind::SOLICIT
        && cfg.rapid_commit
        && m.options.iter().any(|o| matches!(o, Opt::RapidCommit));
    match m.kind {
        kind::SOLICIT | kind::REQUEST | kind::RENEW | kind::REBIND => {
            if m.kind == kind::SOLICIT && !rapid {
                answer.reply.kind = kind::ADVERTISE;
                if cfg.preference > 0 {
                    opts.push(Opt::Preference(cfg.preference));
                }
            }
            if rapid {
                opts.push(Opt::RapidCommit);
            }
            for (c, ia) in m.ias() {
                opts.push(bind(cfg, m.kind, c, ia, leases));
            }
            answer.bound = m.kind != kind::SOLICIT || rapid;
        }
        kind::RELEASE | kind::DECLINE => {
            // §18.3.7, §18.3.8: what the client names and holds is ours
            // again; an IA we have nothing for is NoBinding.
            for (c, ia) in m.ias() {
                let held = holds(c, ia, leases);
                if held {
                    if c == code::IA_PD {
                        answer.release_prefix = true;
                    } else {
                        answer.release_address = true;
                    }
                } else {
                    opts.push(ia_opt(
                        c,
                        ia.iaid,
                        0,
                        0,
                        vec![Opt::Status(status::NO_BINDING, "no such binding".into())],
                    ));
                }
            }
            opts.push(Opt::Status(status::SUCCESS, "released".into()));
        }
        kind::CONFIRM => {
            // §18.3.3: are the client's addresses on this link?
            let addrs: Vec<Ipv6Addr> = m
                .ias()
                .flat_map(|(_, ia)| ia.options.iter())
                .filter_map(|o| match o {
                    Opt::IaAddr { addr, .. } => Some(*addr),
                    _ => None,
                })
                .collect();
            if addrs.is_empty() {
                return Err(Refused::Malformed);
            }
            let on_link = addrs.iter().all(|a| {
                leases
                    .link
                    .is_some_and(|l| l.contains(&Ipv6Net::new(*a, 128)))
            });
            opts.push(if on_link {
                Opt::Status(status::SUCCESS, "on link".into())
            } else {
                Opt::Status(status::NOT_ON_LINK, "not on this link".into())
            });
        }
        _ => {}
    }
    // What the client asked to be told (RFC 3646; §21.23 for an
    // Information-Request's refresh time).
    let told = m.kind != kind::RELEASE && m.kind != kind::DECLINE && m.kind != kind::CONFIRM;
    if told && !cfg.dns.is_empty() && m.requests(code::DNS_SERVERS) {
        opts.push(Opt::DnsServers(cfg.dns.clone()));
    }
    if told && !cfg.domains.is_empty() && m.requests(code::DOMAIN_LIST) {
        opts.push(Opt::DomainList(cfg.domains.clone()));
    }
    if m.kind == kind::INFORMATION_REQUEST && m.requests(code::INFORMATION_REFRESH_TIME) {
        opts.push(Opt::InformationRefreshTime(cfg.preferred.max(600)));
    }
    answer.reply.options = opts;
    Ok(answer)
}

fn ia_opt(c: u16, iaid: u32, t1: u32, t2: u32, options: Vec<Opt>) -> Opt {
    let ia = Ia {
        iaid,
        t1,
        t2,
        options,
    };
    if c == code::IA_PD {
        Opt::IaPd(ia)
    } else {
        Opt::IaNa(ia)
    }
}

/// Whether the client's IA names what the link holds.
fn holds(c: u16, ia: &Ia, leases: &Leases) -> bool {
    ia.options.iter().any(|o| match (c, o) {
        (code::IA_PD, Opt::IaPrefix { prefix, .. }) => Some(*prefix) == leases.prefix,
        (code::IA_NA, Opt::IaAddr { addr, .. }) => Some(*addr) == leases.address,
        _ => false,
    })
}

/// The IA to answer `ia` with (§18.3.1 Solicit, §18.3.2 Request, §18.3.4
/// Renew, §18.3.5 Rebind).
fn bind(cfg: &ServerConfig, kind: u8, c: u16, ia: &Ia, leases: &Leases) -> Opt {
    let lease = if c == code::IA_PD {
        leases.prefix.map(|prefix| Opt::IaPrefix {
            preferred: cfg.preferred,
            valid: cfg.valid,
            prefix,
            options: Vec::new(),
        })
    } else {
        leases.address.map(|addr| Opt::IaAddr {
            addr,
            preferred: cfg.preferred,
            valid: cfg.valid,
            options: Vec::new(),
        })
    };
    let Some(lease) = lease else {
        // Nothing for it: Renew finds no binding (§18.3.4); the others
        // have none to give (§18.3.1, §18.3.2, §18.3.5).
        let (s, why) = match (kind, c) {
            (kind::RENEW, _) => (status::NO_BINDING, "no binding for this IA"),
            (_, code::IA_PD) => (status::NO_PREFIX_AVAIL, "no prefix available"),
            _ => (status::NO_ADDRS_AVAIL, "no address available"),
        };
        return ia_opt(c, ia.iaid, 0, 0, vec![Opt::Status(s, why.into())]);
    };
    let mut options = vec![lease];
    // Renew and Rebind: what the client holds and we no longer give goes
    // with zero lifetimes (§18.3.4, §18.3.5), so it stops using it.
    if matches!(kind, kind::RENEW | kind::REBIND) {
        for o in &ia.options {
            match o {
                Opt::IaPrefix { prefix, .. } if Some(*prefix) != leases.prefix => {
                    options.push(Opt::IaPrefix {
                        preferred: 0,
                        valid: 0,
                        prefix: *prefix,
                        options: Vec::new(),
                    })
                }
                Opt::IaAddr { addr, .. } if Some(*addr) != leases.address => {
                    options.push(Opt::IaAddr {
                        addr: *addr,
                        preferred: 0,
                        valid: 0,
                        options: Vec::new(),
                    })
                }
                _ => {}
            }
        }
    }
    ia_opt(c, ia.iaid, cfg.t1(), cfg.t2(), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 9];

    fn cfg() -> ServerConfig {
        ServerConfig {
            duid: duid_uuid([7; 16]),
            preferred: 3600,
            valid: 7200,
            rapid_commit: true,
            preference: 255,
            dns: vec!["2001:db8::53".parse().unwrap()],
            domains: vec!["isp.example".into()],
        }
    }

    fn leases() -> Leases {
        Leases {
            prefix: Some("2001:db8:200:100::/56".parse().unwrap()),
            address: None,
            link: Some("2001:db8:100:7::/64".parse().unwrap()),
        }
    }

    fn pd(iaid: u32, held: Option<Ipv6Net>) -> Opt {
        Opt::ia_pd(iaid, held)
    }

    fn msg(kind: u8, extra: Vec<Opt>) -> Message {
        let mut options = vec![
            Opt::ClientId(CLIENT_DUID.to_vec()),
            Opt::ElapsedTime(0),
            Opt::Oro(vec![code::DNS_SERVERS, code::DOMAIN_LIST]),
        ];
        options.extend(extra);
        Message {
            kind,
            xid: [1, 2, 3],
            options,
        }
    }

    fn answer(m: &Message) -> Result<Answer, Refused> {
        respond(&cfg(), m, ALL_SERVERS, &leases())
    }

    fn reply_pd(a: &Answer) -> &Ia {
        a.reply
            .find(|o| match o {
                Opt::IaPd(ia) => Some(ia),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_message_reads_back_as_written() {
        let m = msg(
            kind::REQUEST,
            vec![
                Opt::ServerId(cfg().duid),
                pd(9, leases().prefix),
                Opt::IaNa(Ia {
                    iaid: 1,
                    t1: 10,
                    t2: 20,
                    options: vec![Opt::IaAddr {
                        addr: "2001:db8::1".parse().unwrap(),
                        preferred: 1,
                        valid: 2,
                        options: vec![Opt::Status(0, "ok".into())],
                    }],
                }),
                Opt::RapidCommit,
                Opt::Other(99, vec![1, 2]),
            ],
        );
        let wire = m.encode();
        assert_eq!(Message::parse(&wire), Ok(m));
        // A truncated option, a relay message, IA nesting past its depth.
        assert_eq!(Message::parse(&wire[..wire.len() - 1]), Err(Malformed));
        assert_eq!(Message::parse(&[12, 0, 0, 0]), Err(Malformed));
        let mut deep = vec![0, 25, 0, 28];
        deep.extend([0; 12]);
        deep.extend([0, 25, 0, 12]);
        deep.extend([0; 12]);
        let mut m = vec![kind::REQUEST, 0, 0, 0];
        m.extend(deep);
        assert_eq!(Message::parse(&m), Err(Malformed));
    }

    #[test]
    fn solicit_advertises_the_prefix_and_request_binds_it() {
        let a = answer(&msg(kind::SOLICIT, vec![pd(9, None)])).unwrap();
        assert_eq!(a.reply.kind, kind::ADVERTISE);
        assert_eq!(a.reply.xid, [1, 2, 3]);
        assert!(!a.bound);
        assert_eq!(a.reply.server_id(), Some(cfg().duid.as_slice()));
        assert_eq!(a.reply.client_id(), Some(&CLIENT_DUID[..]));
        assert!(a.reply.options.contains(&Opt::Preference(255)));
        let ia = reply_pd(&a);
        assert_eq!((ia.iaid, ia.t1, ia.t2), (9, 1800, 2880));
        assert_eq!(
            ia.options,
            vec![Opt::IaPrefix {
                preferred: 3600,
                valid: 7200,
                prefix: leases().prefix.unwrap(),
                options: Vec::new()
            }]
        );
        assert!(a.reply.options.contains(&Opt::DnsServers(cfg().dns)));
        assert!(a.reply.options.contains(&Opt::DomainList(cfg().domains)));

        let a = answer(&msg(
            kind::REQUEST,
            vec![Opt::ServerId(cfg().duid), pd(9, None)],
        ))
        .unwrap();
        assert_eq!(a.reply.kind, kind::REPLY);
        assert!(a.bound);
        assert_eq!(reply_pd(&a).options.len(), 1);
    }

    #[test]
    fn rapid_commit_binds_at_once_when_configured() {
        let m = msg(kind::SOLICIT, vec![pd(1, None), Opt::RapidCommit]);
        let a = answer(&m).unwrap();
        assert_eq!(a.reply.kind, kind::REPLY);
        assert!(a.bound);
        assert!(a.reply.options.contains(&Opt::RapidCommit));
        let slow = ServerConfig {
            rapid_commit: false,
            ..cfg()
        };
        let a = respond(&slow, &m, ALL_SERVERS, &leases()).unwrap();
        assert_eq!(a.reply.kind, kind::ADVERTISE);
        assert!(!a.reply.options.contains(&Opt::RapidCommit));
    }

    #[test]
    fn what_the_link_lacks_gets_its_status_code() {
        let none = Leases::default();
        let m = msg(
            kind::SOLICIT,
            vec![
                pd(1, None),
                Opt::IaNa(Ia {
                    iaid: 2,
                    t1: 0,
                    t2: 0,
                    options: Vec::new(),
                }),
            ],
        );
        let a = respond(&cfg(), &m, ALL_SERVERS, &none).unwrap();
        let statuses: Vec<u16> = a
            .reply
            .options
            .iter()
            .filter_map(|o| match o {
                Opt::IaPd(ia) | Opt::IaNa(ia) => ia.options.iter().find_map(|o| match o {
                    Opt::Status(s, _) => Some(*s),
                    _ => None,
                }),
                _ => None,
            })
            .collect();
        assert_eq!(statuses, [status::NO_PREFIX_AVAIL, status::NO_ADDRS_AVAIL]);
        let renew = msg(kind::RENEW, vec![Opt::ServerId(cfg().duid), pd(1, None)]);
        let a = respond(&cfg(), &renew, ALL_SERVERS, &none).unwrap();
        assert!(reply_pd(&a).options.contains(&Opt::Status(
            status::NO_BINDING,
            "no binding for this IA".into()
        )));
    }

    #[test]
    fn renew_extends_and_a_prefix_no_longer_ours_goes_with_zero_lifetimes() {
        let old: Ipv6Net = "2001:db8:200:200::/56".parse().unwrap();
        let m = msg(
            kind::REBIND,
            vec![pd(9, Some(old)), pd(10, leases().prefix)],
        );
        let a = answer(&m).unwrap();
        assert!(a.bound);
        let ia = reply_pd(&a);
        assert!(ia.options.contains(&Opt::IaPrefix {
            preferred: 0,
            valid: 0,
            prefix: old,
            options: Vec::new()
        }));
        assert!(ia.options.iter().any(|o| matches!(o,
            Opt::IaPrefix { prefix, valid: 7200, .. } if Some(*prefix) == leases().prefix)));
    }

    #[test]
    fn release_gives_the_prefix_back() {
        let m = msg(
            kind::RELEASE,
            vec![Opt::ServerId(cfg().duid), pd(9, leases().prefix)],
        );
        let a = answer(&m).unwrap();
        assert!(a.release_prefix && !a.release_address && !a.bound);
        assert!(
            a.reply
                .options
                .iter()
                .any(|o| matches!(o, Opt::Status(status::SUCCESS, _)))
        );
        // Releasing what it does not hold: NoBinding for that IA.
        let other: Ipv6Net = "2001:db8:999::/56".parse().unwrap();
        let m = msg(
            kind::RELEASE,
            vec![Opt::ServerId(cfg().duid), pd(9, Some(other))],
        );
        let a = answer(&m).unwrap();
        assert!(!a.release_prefix);
        assert!(
            reply_pd(&a)
                .options
                .iter()
                .any(|o| matches!(o, Opt::Status(status::NO_BINDING, _)))
        );
    }

    #[test]
    fn information_request_and_confirm() {
        let a = answer(&msg(
            kind::INFORMATION_REQUEST,
            vec![Opt::Oro(vec![code::INFORMATION_REFRESH_TIME])],
        ))
        .unwrap();
        assert_eq!(a.reply.kind, kind::REPLY);
        assert!(a.reply.options.contains(&Opt::DnsServers(cfg().dns)));
        let na = |addr: &str| {
            Opt::IaNa(Ia {
                iaid: 1,
                t1: 0,
                t2: 0,
                options: vec![Opt::IaAddr {
                    addr: addr.parse().unwrap(),
                    preferred: 0,
                    valid: 0,
                    options: Vec::new(),
                }],
            })
        };
        let a = answer(&msg(kind::CONFIRM, vec![na("2001:db8:100:7::5")])).unwrap();
        assert!(
            a.reply
                .options
                .iter()
                .any(|o| matches!(o, Opt::Status(status::SUCCESS, _)))
        );
        let a = answer(&msg(kind::CONFIRM, vec![na("2001:db8:1::5")])).unwrap();
        assert!(
            a.reply
                .options
                .iter()
                .any(|o| matches!(o, Opt::Status(status::NOT_ON_LINK, _)))
        );
    }

    #[test]
    fn section_16_refusals_have_names() {
        let c = cfg();
        let no_client = Message {
            kind: kind::SOLICIT,
            xid: [0; 3],
            options: vec![],
        };
        let cases = [
            (no_client, ALL_SERVERS, Refused::NoClientId),
            (
                msg(kind::SOLICIT, vec![Opt::ServerId(c.duid.clone())]),
                ALL_SERVERS,
                Refused::ServerId,
            ),
            (
                msg(kind::REQUEST, vec![pd(1, None)]),
                ALL_SERVERS,
                Refused::ServerId,
            ),
            (
                msg(kind::RENEW, vec![Opt::ServerId(duid_uuid([1; 16]))]),
                ALL_SERVERS,
                Refused::OtherServer,
            ),
            (
                msg(kind::ADVERTISE, vec![]),
                ALL_SERVERS,
                Refused::NotForServers,
            ),
            (
                msg(kind::RECONFIGURE, vec![]),
                ALL_SERVERS,
                Refused::NotForServers,
            ),
            (
                msg(kind::SOLICIT, vec![]),
                "fe80::1".parse().unwrap(),
                Refused::Unicast,
            ),
            (
                msg(kind::INFORMATION_REQUEST, vec![pd(1, None)]),
                ALL_SERVERS,
                Refused::Malformed,
            ),
        ];
        for (m, dst, want) in cases {
            assert_eq!(respond(&c, &m, dst, &leases()), Err(want), "{m:?}");
        }
    }

    #[test]
    fn udp_framing_sums_right_and_damage_is_refused() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let p = udp_packet(src, ALL_SERVERS, (CLIENT_PORT, SERVER_PORT), b"hello");
        let d = udp_of(&p).unwrap();
        assert_eq!((d.src, d.dst), (src, ALL_SERVERS));
        assert_eq!(
            (d.src_port, d.dst_port, d.payload),
            (546, 547, &b"hello"[..])
        );
        let mut bad = p.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(udp_of(&bad), None);
        let mut zero = p.clone();
        zero[46..48].copy_from_slice(&[0, 0]);
        assert_eq!(
            udp_of(&zero),
            None,
            "a zero UDP checksum is not allowed over IPv6"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(cfg().check().is_ok());
        let short = ServerConfig {
            duid: vec![0, 4],
            ..cfg()
        };
        assert!(short.check().is_err());
        let inverted = ServerConfig {
            preferred: 10,
            valid: 5,
            ..cfg()
        };
        assert!(inverted.check().is_err());
        let name = ServerConfig {
            domains: vec!["a..b".into()],
            ..cfg()
        };
        assert!(name.check().is_err());
    }
}
