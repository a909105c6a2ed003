//! L2TP control messages (RFC 2661 §3.2, §6): the message table, decoding
//! with hidden-AVP recovery, and encoding with optional hiding.
//!
//! Contract:
//! * [`decode_packet`] never panics. A datagram either decodes, or yields a
//!   [`PacketError`] that says what to do: drop it (bad header), or, for a
//!   bad message body, the header's Ns/Nr (so the reliable transport can
//!   still acknowledge it) plus a [`MessageError`] whose
//!   [`response`](MessageError::response) is the StopCCN or CDN the RFC asks
//!   for (§4.1, §4.4.1, §7.1), or "ignore" for an unknown optional message.
//! * Unknown AVPs without the M bit are kept as [`Avp::Other`]; Random
//!   Vector AVPs are consumed to unhide what follows and not kept.
//! * [`MESSAGES`] is the single table of required and optional AVPs per
//!   message; decoding checks the required ones.
//! * A message's AVP list is used again (issue 18, item 5: no allocation
//!   per message on the setup path): decoding and [`ControlMessage::of`]
//!   take one from a per-thread pool ([`avp_list`]), and a dropped message
//!   gives its list back, emptied. The pool keeps at most [`LISTS_KEPT`]
//!   lists of at most [`LIST_LARGEST_KEPT`] AVPs; anything else is freed.

use super::avp::{self, Avp, AvpType, RawAvp, ResultCode, WireAvp};
use super::hidden;
use super::result::{CdnResult, ErrorCode, StopCcnResult};
use crate::buffers::Pool;
use crate::octets::Reader;
use core::fmt;
use lns_dataplane::wire::{
    self, L2tpKind, L2tpPacket, L2tpRepr, Sequence, l2tp::CONTROL_HEADER_LEN,
};

/// Control message types (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum MessageType {
    /// Start-Control-Connection-Request.
    Sccrq = 1,
    /// Start-Control-Connection-Reply.
    Sccrp = 2,
    /// Start-Control-Connection-Connected.
    Scccn = 3,
    /// Stop-Control-Connection-Notification.
    StopCcn = 4,
    /// Hello.
    Hello = 6,
    /// Outgoing-Call-Request.
    Ocrq = 7,
    /// Outgoing-Call-Reply.
    Ocrp = 8,
    /// Outgoing-Call-Connected.
    Occn = 9,
    /// Incoming-Call-Request.
    Icrq = 10,
    /// Incoming-Call-Reply.
    Icrp = 11,
    /// Incoming-Call-Connected.
    Iccn = 12,
    /// Call-Disconnect-Notify.
    Cdn = 14,
    /// WAN-Error-Notify.
    Wen = 15,
    /// Set-Link-Info.
    Sli = 16,
}

/// Whether a message belongs to the tunnel or to one session (§4.1 decides
/// between StopCCN and CDN by this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Control connection management: errors clear the tunnel.
    Tunnel,
    /// Call management and status: errors clear the session.
    Session,
}

/// One row of the message table.
#[derive(Debug, Clone, Copy)]
pub struct MessageSpec {
    /// Message type.
    pub msg_type: MessageType,
    /// The RFC's abbreviation, e.g. "SCCRQ".
    pub name: &'static str,
    /// The RFC section defining it.
    pub section: &'static str,
    /// Tunnel or session.
    pub scope: Scope,
    /// "The following AVPs MUST be present".
    pub required: &'static [AvpType],
    /// "The following AVPs MAY be present".
    pub optional: &'static [AvpType],
}

use AvpType as A;

/// Required and optional AVPs per message, RFC 2661 §6.1–§6.14, plus the
/// RFC 3145 PPP Disconnect Cause Code in CDN (listed in [`EXTENSIONS`]).
/// Random Vector may appear in any message (§4.4.1) and is not listed.
pub const MESSAGES: &[MessageSpec] = &[
    MessageSpec {
        msg_type: MessageType::Sccrq,
        name: "SCCRQ",
        section: "6.1",
        scope: Scope::Tunnel,
        required: &[
            A::MessageType,
            A::ProtocolVersion,
            A::HostName,
            A::FramingCapabilities,
            A::AssignedTunnelId,
        ],
        optional: &[
            A::BearerCapabilities,
            A::ReceiveWindowSize,
            A::Challenge,
            A::TieBreaker,
            A::FirmwareRevision,
            A::VendorName,
        ],
    },
    MessageSpec {
        msg_type: MessageType::Sccrp,
        name: "SCCRP",
        section: "6.2",
        scope: Scope::Tunnel,
        required: &[
            A::MessageType,
            A::ProtocolVersion,
            A::FramingCapabilities,
            A::HostName,
            A::AssignedTunnelId,
        ],
        optional: &[
            A::BearerCapabilities,
            A::FirmwareRevision,
            A::VendorName,
            A::ReceiveWindowSize,
            A::Challenge,
            A::ChallengeResponse,
        ],
    },
    MessageSpec {
        msg_type: MessageType::Scccn,
        name: "SCCCN",
        section: "6.3",
        scope: Scope::Tunnel,
        required: &[A::MessageType],
        optional: &[A::ChallengeResponse],
    },
    MessageSpec {
        msg_type: MessageType::StopCcn,
        name: "StopCCN",
        section: "6.4",
        scope: Scope::Tunnel,
        required: &[A::MessageType, A::AssignedTunnelId, A::ResultCode],
        optional: &[],
    },
    MessageSpec {
        msg_type: MessageType::Hello,
        name: "HELLO",
        section: "6.5",
        scope: Scope::Tunnel,
        required: &[A::MessageType],
        optional: &[],
    },
    MessageSpec {
        msg_type: MessageType::Icrq,
        name: "ICRQ",
        section: "6.6",
        scope: Scope::Session,
        required: &[A::MessageType, A::AssignedSessionId, A::CallSerialNumber],
        optional: &[
            A::BearerType,
            A::PhysicalChannelId,
            A::CallingNumber,
            A::CalledNumber,
            A::SubAddress,
        ],
    },
    MessageSpec {
        msg_type: MessageType::Icrp,
        name: "ICRP",
        section: "6.7",
        scope: Scope::Session,
        required: &[A::MessageType, A::AssignedSessionId],
        optional: &[],
    },
    MessageSpec {
        msg_type: MessageType::Iccn,
        name: "ICCN",
        section: "6.8",
        scope: Scope::Session,
        required: &[A::MessageType, A::TxConnectSpeed, A::FramingType],
        optional: &[
            A::InitialReceivedLcpConfReq,
            A::LastSentLcpConfReq,
            A::LastReceivedLcpConfReq,
            A::ProxyAuthenType,
            A::ProxyAuthenName,
            A::ProxyAuthenChallenge,
            A::ProxyAuthenId,
            A::ProxyAuthenResponse,
            A::PrivateGroupId,
            A::RxConnectSpeed,
            A::SequencingRequired,
        ],
    },
    MessageSpec {
        msg_type: MessageType::Ocrq,
        name: "OCRQ",
        section: "6.9",
        scope: Scope::Session,
        required: &[
            A::MessageType,
            A::AssignedSessionId,
            A::CallSerialNumber,
            A::MinimumBps,
            A::MaximumBps,
            A::BearerType,
            A::FramingType,
            A::CalledNumber,
        ],
        optional: &[A::SubAddress],
    },
    MessageSpec {
        msg_type: MessageType::Ocrp,
        name: "OCRP",
        section: "6.10",
        scope: Scope::Session,
        required: &[A::MessageType, A::AssignedSessionId],
        optional: &[A::PhysicalChannelId],
    },
    MessageSpec {
        msg_type: MessageType::Occn,
        name: "OCCN",
        section: "6.11",
        scope: Scope::Session,
        required: &[A::MessageType, A::TxConnectSpeed, A::FramingType],
        optional: &[A::RxConnectSpeed, A::SequencingRequired],
    },
    MessageSpec {
        msg_type: MessageType::Cdn,
        name: "CDN",
        section: "6.12",
        scope: Scope::Session,
        required: &[A::MessageType, A::ResultCode, A::AssignedSessionId],
        optional: &[A::Q931CauseCode, A::PppDisconnectCause],
    },
    MessageSpec {
        msg_type: MessageType::Wen,
        name: "WEN",
        section: "6.13",
        scope: Scope::Session,
        required: &[A::MessageType, A::CallErrors],
        optional: &[],
    },
    MessageSpec {
        msg_type: MessageType::Sli,
        name: "SLI",
        section: "6.14",
        scope: Scope::Session,
        required: &[A::MessageType, A::Accm],
        optional: &[],
    },
];

/// Table entries that come from later RFCs rather than RFC 2661 §6:
/// (message, AVP, source).
pub const EXTENSIONS: &[(MessageType, AvpType, &str)] =
    &[(MessageType::Cdn, AvpType::PppDisconnectCause, "RFC 3145 §2")];

impl MessageType {
    /// The message type for a wire value, if defined.
    pub fn from_u16(v: u16) -> Option<MessageType> {
        MESSAGES.iter().map(|m| m.msg_type).find(|t| *t as u16 == v)
    }

    /// This message's table row.
    pub fn spec(self) -> &'static MessageSpec {
        // Every variant has a row; the fallback only guards table edits.
        MESSAGES
            .iter()
            .find(|m| m.msg_type == self)
            .unwrap_or(&MESSAGES[0])
    }

    /// The RFC abbreviation.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Tunnel or session.
    pub fn scope(self) -> Scope {
        self.spec().scope
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of attribute types (bit per type number below 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AvpSet(u64);

impl AvpSet {
    /// No types.
    pub const EMPTY: AvpSet = AvpSet(0);

    /// Every type the RFC allows to be hidden.
    pub fn all_hideable() -> AvpSet {
        avp::AVPS
            .iter()
            .filter(|s| s.hideable)
            .fold(AvpSet::EMPTY, |s, a| s.with(a.ty))
    }

    /// This set plus `t`.
    pub const fn with(self, t: AvpType) -> AvpSet {
        AvpSet(self.0 | (1 << (t as u16)))
    }

    /// True when `t` is in the set.
    pub const fn contains(self, t: AvpType) -> bool {
        self.0 & (1 << (t as u16)) != 0
    }
}

/// How to hide AVPs when encoding (§4.3). The caller supplies the random
/// vector (and optional padding) so the codec stays deterministic.
#[derive(Debug, Clone, Copy)]
pub struct Hiding<'a> {
    /// The tunnel's shared secret.
    pub secret: &'a [u8],
    /// Random Vector value; at least 16 octets recommended (§4.4.1).
    pub random_vector: &'a [u8],
    /// Appended inside each hidden subformat to mask value lengths.
    pub padding: &'a [u8],
    /// Which types to hide; types the RFC forbids hiding are never hidden.
    pub hide: AvpSet,
}

/// A control message body: its type and its AVPs after the Message Type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlMessage {
    /// Message type (the first AVP on the wire).
    pub msg_type: MessageType,
    /// The remaining AVPs in wire order, without Random Vectors.
    pub avps: Vec<Avp>,
}

/// What went wrong in a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageErrorKind {
    /// The first AVP is not a well-formed Message Type (§4.4.1).
    NoMessageType,
    /// Message Type value not defined (§4.4.1); M bit as received.
    UnknownMessageType {
        /// The value.
        value: u16,
        /// M bit of the Message Type AVP.
        mandatory: bool,
    },
    /// Unrecognized AVP with the M bit set (§4.1).
    UnknownMandatoryAvp {
        /// Vendor ID.
        vendor_id: u16,
        /// Attribute type.
        attr_type: u16,
    },
    /// An AVP's Length field is below 6 or runs past the message.
    BadAvpLength {
        /// Offset of the AVP in the message body.
        offset: usize,
    },
    /// A mandatory AVP's value has the wrong length for its type.
    BadAvpValueLength(AvpType),
    /// A mandatory AVP's value is out of range.
    BadAvpValue(AvpType),
    /// A mandatory AVP is hidden but no shared secret is configured.
    HiddenWithoutSecret(AvpType),
    /// A hidden AVP precedes every Random Vector AVP.
    HiddenWithoutRandomVector(AvpType),
    /// A hidden AVP's subformat is inconsistent (usually a wrong secret).
    HiddenUndecodable(AvpType),
    /// A required AVP (§6) is absent.
    MissingAvp(AvpType),
}

/// A message body that cannot be processed, with what the caller needs to
/// reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// The message type, when it was readable and known.
    pub msg_type: Option<MessageType>,
    /// The peer's Assigned Tunnel ID, if the message carried one (needed to
    /// address a StopCCN before the tunnel exists).
    pub assigned_tunnel_id: Option<u16>,
    /// The peer's Assigned Session ID, if the message carried one (needed to
    /// address a CDN for an ICRQ or OCRQ).
    pub assigned_session_id: Option<u16>,
    /// The error.
    pub kind: MessageErrorKind,
}

/// The protocol's answer to a [`MessageError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Acknowledge and otherwise ignore (§4.4.1, M bit clear).
    Ignore,
    /// Clear the tunnel with this Result Code.
    StopCcn(ResultCode),
    /// Clear the session with this Result Code.
    Cdn(ResultCode),
}

impl MessageError {
    /// Tunnel or session, per §4.1: the scope of the message, or the
    /// tunnel when the message type itself is unknown.
    pub fn scope(&self) -> Scope {
        self.msg_type.map_or(Scope::Tunnel, MessageType::scope)
    }

    /// The StopCCN or CDN this error calls for.
    pub fn response(&self) -> Response {
        use MessageErrorKind as K;
        let (error, text) = match self.kind {
            K::UnknownMessageType {
                mandatory: false, ..
            } => return Response::Ignore,
            K::UnknownMessageType { value, .. } => (
                ErrorCode::UnknownMandatoryAvp,
                format!("unknown mandatory message type {value}"),
            ),
            K::UnknownMandatoryAvp {
                vendor_id,
                attr_type,
            } => (
                ErrorCode::UnknownMandatoryAvp,
                format!("unknown mandatory AVP vendor {vendor_id} type {attr_type}"),
            ),
            K::NoMessageType => (ErrorCode::BadValue, "first AVP is not Message Type".into()),
            K::BadAvpLength { offset } => (
                ErrorCode::BadLength,
                format!("bad AVP length at offset {offset}"),
            ),
            K::BadAvpValueLength(t) => {
                (ErrorCode::BadLength, format!("bad length for {}", t.name()))
            }
            K::BadAvpValue(t) => (ErrorCode::BadValue, format!("bad value for {}", t.name())),
            K::HiddenWithoutSecret(t) => (
                ErrorCode::BadValue,
                format!("{} hidden but no shared secret", t.name()),
            ),
            K::HiddenWithoutRandomVector(t) => (
                ErrorCode::BadValue,
                format!("{} hidden without Random Vector", t.name()),
            ),
            K::HiddenUndecodable(t) => (
                ErrorCode::BadValue,
                format!("{} hidden value undecodable", t.name()),
            ),
            K::MissingAvp(t) => (ErrorCode::BadValue, format!("missing {}", t.name())),
        };
        match self.scope() {
            Scope::Tunnel => Response::StopCcn(ResultCode::stop_ccn(
                StopCcnResult::GeneralError,
                Some(error),
                &text,
            )),
            Scope::Session => {
                Response::Cdn(ResultCode::cdn(CdnResult::GeneralError, Some(error), &text))
            }
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.msg_type.map_or("control message", MessageType::name);
        write!(f, "{name}: {:?}", self.kind)
    }
}

impl std::error::Error for MessageError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// An AVP value exceeds the 10-bit Length (1017 octets of value).
    AvpTooLong(Option<AvpType>),
    /// The message exceeds the 16-bit L2TP Length.
    MessageTooLong,
    /// Message Type or Random Vector placed in the AVP list; the encoder
    /// writes those itself.
    Misplaced(AvpType),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode: {self:?}")
    }
}

impl std::error::Error for EncodeError {}

/// AVP lists a thread keeps for messages to come.
pub const LISTS_KEPT: usize = 256;

/// The least capacity of a list [`avp_list`] allocates: any message of a
/// call's setup fits (an SCCRQ, the longest, carries about a dozen).
pub const LIST_SMALLEST: usize = 16;

/// The largest capacity of a list a dropped message gives back.
pub const LIST_LARGEST_KEPT: usize = 64;

thread_local! {
    static LISTS: Pool<Avp> = const { Pool::new(LISTS_KEPT, LIST_SMALLEST, LIST_LARGEST_KEPT) };
}

/// An empty AVP list for a message: one a dropped message gave back if
/// the thread has one, else a new one of [`LIST_SMALLEST`].
pub fn avp_list() -> Vec<Avp> {
    Pool::take_from(&LISTS, 0)
}

/// [`avp_list`] holding `avps`: what a message to send starts from.
pub fn avp_list_of<const N: usize>(avps: [Avp; N]) -> Vec<Avp> {
    let mut list = avp_list();
    list.extend(avps);
    list
}

/// AVP lists the calling thread keeps now.
pub fn avp_lists_kept() -> usize {
    Pool::kept_in(&LISTS)
}

/// A message's list back to the pool, its AVPs dropped.
fn give_list(v: Vec<Avp>) {
    Pool::give_to(&LISTS, v);
}

impl Drop for ControlMessage {
    fn drop(&mut self) {
        give_list(std::mem::take(&mut self.avps));
    }
}

impl ControlMessage {
    /// A message with the given AVPs.
    pub fn new(msg_type: MessageType, avps: Vec<Avp>) -> Self {
        ControlMessage { msg_type, avps }
    }

    /// Its AVPs, the message taken apart (its list then goes with them,
    /// not back to the pool).
    pub fn into_avps(mut self) -> Vec<Avp> {
        std::mem::take(&mut self.avps)
    }

    /// A message with the given AVPs, in a list from the pool (see the
    /// module docs): what the engines send on the setup path.
    pub fn of<const N: usize>(msg_type: MessageType, avps: [Avp; N]) -> Self {
        ControlMessage {
            msg_type,
            avps: avp_list_of(avps),
        }
    }

    /// The first AVP of type `t`.
    pub fn get(&self, t: AvpType) -> Option<&Avp> {
        self.avps.iter().find(|a| a.avp_type() == Some(t))
    }

    /// Assigned Tunnel ID, if present.
    pub fn assigned_tunnel_id(&self) -> Option<u16> {
        self.avps.iter().find_map(|a| match a {
            Avp::AssignedTunnelId(v) => Some(*v),
            _ => None,
        })
    }

    /// Assigned Session ID, if present.
    pub fn assigned_session_id(&self) -> Option<u16> {
        self.avps.iter().find_map(|a| match a {
            Avp::AssignedSessionId(v) => Some(*v),
            _ => None,
        })
    }

    /// Result Code, if present.
    pub fn result_code(&self) -> Option<&ResultCode> {
        self.avps.iter().find_map(|a| match a {
            Avp::ResultCode(v) => Some(v),
            _ => None,
        })
    }

    /// Decodes the AVP area of a control message; `Ok(None)` is a ZLB.
    ///
    /// `secret` unhides H-bit AVPs (§4.3); without it a hidden AVP with
    /// the M bit is an error and one without is kept as [`Avp::Other`].
    pub fn decode(
        body: &[u8],
        secret: Option<&[u8]>,
    ) -> Result<Option<ControlMessage>, MessageError> {
        if body.is_empty() {
            return Ok(None);
        }
        let mut err = MessageError {
            msg_type: None,
            assigned_tunnel_id: None,
            assigned_session_id: None,
            kind: MessageErrorKind::NoMessageType,
        };
        let mut r = Reader::new(body);
        let first = match avp::read_wire_avp(&mut r) {
            Ok(a) => a,
            Err(_) => return Err(err),
        };
        if first.vendor_id != 0
            || first.attr_type != AvpType::MessageType as u16
            || first.hidden
            || first.reserved != 0
            || first.value.len() != 2
        {
            return Err(err);
        }
        let value = u16::from_be_bytes([first.value[0], first.value[1]]);
        let Some(msg_type) = MessageType::from_u16(value) else {
            err.kind = MessageErrorKind::UnknownMessageType {
                value,
                mandatory: first.mandatory,
            };
            return Err(err);
        };
        err.msg_type = Some(msg_type);

        let mut fatal: Option<MessageErrorKind> = None;
        let mut avps = avp_list();
        let mut rv: Option<&[u8]> = None;
        while !r.is_empty() {
            let w = match avp::read_wire_avp(&mut r) {
                Ok(w) => w,
                Err(e) => {
                    // The rest of the message cannot be framed.
                    fatal = fatal.or(Some(MessageErrorKind::BadAvpLength { offset: e.offset }));
                    break;
                }
            };
            match decode_one(&w, secret, rv) {
                Decoded::Avp(Avp::RandomVector(v)) => {
                    let _ = v;
                    rv = Some(w.value);
                }
                Decoded::Avp(a) => {
                    match a {
                        Avp::AssignedTunnelId(v) => err.assigned_tunnel_id = Some(v),
                        Avp::AssignedSessionId(v) => err.assigned_session_id = Some(v),
                        _ => {}
                    }
                    avps.push(a);
                }
                Decoded::Fatal(k) => fatal = fatal.or(Some(k)),
            }
        }
        if let Some(kind) = fatal {
            err.kind = kind;
            give_list(avps);
            return Err(err);
        }
        let msg = ControlMessage { msg_type, avps };
        for &t in msg_type.spec().required {
            if t != AvpType::MessageType && msg.get(t).is_none() {
                err.kind = MessageErrorKind::MissingAvp(t);
                return Err(err);
            }
        }
        Ok(Some(msg))
    }

    /// Appends the encoded AVP area: Message Type, a Random Vector when
    /// anything is hidden, then the AVPs in order.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        hiding: Option<&Hiding<'_>>,
    ) -> Result<(), EncodeError> {
        let hides = |a: &Avp| match (hiding, a.avp_type()) {
            (Some(h), Some(t)) => h.hide.contains(t) && t.spec().hideable,
            _ => false,
        };
        // Each AVP's value is encoded here first: a buffer of the
        // thread's, given back at the end (`crate::buffers`).
        let mut value = crate::buffers::take(0);
        Avp::MessageType(self.msg_type as u16).encode_value(&mut value);
        put(
            out,
            true,
            false,
            0,
            0,
            AvpType::MessageType as u16,
            &value,
            Some(AvpType::MessageType),
        )?;
        let hiding = hiding.filter(|_| self.avps.iter().any(hides));
        if let Some(h) = hiding {
            let t = AvpType::RandomVector;
            put(out, true, false, 0, 0, t as u16, h.random_vector, Some(t))?;
        }
        for a in &self.avps {
            if let Avp::Other(raw) = a {
                put(
                    out,
                    raw.mandatory,
                    raw.hidden,
                    raw.reserved,
                    raw.vendor_id,
                    raw.attr_type,
                    &raw.value,
                    None,
                )?;
                continue;
            }
            let Some(t) = a.avp_type() else { continue };
            if matches!(t, AvpType::MessageType | AvpType::RandomVector) {
                return Err(EncodeError::Misplaced(t));
            }
            value.clear();
            a.encode_value(&mut value);
            let spec = t.spec();
            match hiding.filter(|_| hides(a)) {
                Some(h) => {
                    let hidden =
                        hidden::hide(t as u16, h.secret, h.random_vector, &value, h.padding);
                    put(out, spec.mandatory, true, 0, 0, t as u16, &hidden, Some(t))?;
                }
                None => put(out, spec.mandatory, false, 0, 0, t as u16, &value, Some(t))?,
            }
        }
        crate::buffers::give(value);
        Ok(())
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the AVP header fields one to one"
)]
fn put(
    out: &mut Vec<u8>,
    m: bool,
    h: bool,
    rsvd: u8,
    vendor: u16,
    attr: u16,
    value: &[u8],
    t: Option<AvpType>,
) -> Result<(), EncodeError> {
    avp::write_wire_avp(out, m, h, rsvd, vendor, attr, value).ok_or(EncodeError::AvpTooLong(t))
}

enum Decoded {
    Avp(Avp),
    Fatal(MessageErrorKind),
}

/// Interprets one AVP per §4.1 (unknown, reserved bits, M bit), §4.3
/// (hidden) and §7.1 (malformed value: fatal only with the M bit).
fn decode_one(w: &WireAvp<'_>, secret: Option<&[u8]>, rv: Option<&[u8]>) -> Decoded {
    let raw = || RawAvp {
        mandatory: w.mandatory,
        hidden: w.hidden,
        reserved: w.reserved,
        vendor_id: w.vendor_id,
        attr_type: w.attr_type,
        value: w.value.to_vec(),
    };
    let known = (w.vendor_id == 0 && w.reserved == 0)
        .then(|| AvpType::from_u16(w.attr_type))
        .flatten();
    let Some(t) = known else {
        return if w.mandatory {
            Decoded::Fatal(MessageErrorKind::UnknownMandatoryAvp {
                vendor_id: w.vendor_id,
                attr_type: w.attr_type,
            })
        } else {
            Decoded::Avp(Avp::Other(raw()))
        };
    };
    // Keep what we cannot interpret unless the M bit makes it fatal.
    let soft = |k: MessageErrorKind| {
        if w.mandatory {
            Decoded::Fatal(k)
        } else {
            Decoded::Avp(Avp::Other(raw()))
        }
    };
    let cleartext;
    let value: &[u8] = if w.hidden {
        let Some(secret) = secret else {
            return soft(MessageErrorKind::HiddenWithoutSecret(t));
        };
        let Some(rv) = rv else {
            return soft(MessageErrorKind::HiddenWithoutRandomVector(t));
        };
        match hidden::unhide(w.attr_type, secret, rv, w.value) {
            Ok(v) => {
                cleartext = v;
                &cleartext
            }
            Err(_) => return soft(MessageErrorKind::HiddenUndecodable(t)),
        }
    } else {
        w.value
    };
    if !t.spec().len.accepts(value.len()) {
        return soft(MessageErrorKind::BadAvpValueLength(t));
    }
    if t == AvpType::MessageType {
        // A second Message Type has no meaning (§4.4.1: it MUST be first).
        return soft(MessageErrorKind::BadAvpValue(t));
    }
    match Avp::decode_value(t, value) {
        Ok(a) => Decoded::Avp(a),
        Err(_) => soft(MessageErrorKind::BadAvpValue(t)),
    }
}

/// The header fields of a control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ControlHeader {
    /// Recipient's tunnel id.
    pub tunnel_id: u16,
    /// Recipient's session id (0 for tunnel messages).
    pub session_id: u16,
    /// Sequence number of this message.
    pub ns: u16,
    /// Next sequence number expected from the peer.
    pub nr: u16,
}

/// A whole control message: header plus body, or a ZLB acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// Header fields.
    pub header: ControlHeader,
    /// `None` for a ZLB (zero-length body) acknowledgement (§5.8).
    pub message: Option<ControlMessage>,
}

/// Why a datagram is not a usable control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// The L2TP header is unusable; drop without reply (§7.1).
    Header(wire::Error),
    /// T=0: a data message, not for the control codec.
    NotControl,
    /// The header is fine but the body is not: acknowledge Ns, then act on
    /// `error.response()`.
    Message {
        /// The header, for the reliable transport.
        header: ControlHeader,
        /// What is wrong with the body.
        error: MessageError,
    },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Header(e) => write!(f, "bad L2TP header: {e}"),
            PacketError::NotControl => f.write_str("not a control message"),
            PacketError::Message { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PacketError {}

/// Decodes an L2TP control datagram (the UDP payload).
pub fn decode_packet(datagram: &[u8], secret: Option<&[u8]>) -> Result<ControlPacket, PacketError> {
    let p = L2tpPacket::new_checked(datagram).map_err(PacketError::Header)?;
    if p.kind() != L2tpKind::Control {
        return Err(PacketError::NotControl);
    }
    let repr = L2tpRepr::parse(&p).map_err(PacketError::Header)?;
    let seq = repr.sequence.unwrap_or_default();
    let header = ControlHeader {
        tunnel_id: repr.tunnel_id,
        session_id: repr.session_id,
        ns: seq.ns,
        nr: seq.nr,
    };
    match ControlMessage::decode(p.payload(), secret) {
        Ok(message) => Ok(ControlPacket { header, message }),
        Err(error) => Err(PacketError::Message { header, error }),
    }
}

impl ControlPacket {
    /// A ZLB acknowledgement.
    pub fn zlb(header: ControlHeader) -> Self {
        ControlPacket {
            header,
            message: None,
        }
    }

    /// Encodes header and body into a UDP payload.
    pub fn encode(&self, hiding: Option<&Hiding<'_>>) -> Result<Vec<u8>, EncodeError> {
        // Room for a call's messages (ICRQ to CDN: under 128 bytes of
        // AVPs) from the start: grown from the header's 12 bytes, the
        // buffer was reallocated once or twice a message.
        let mut out = crate::buffers::take(CONTROL_HEADER_LEN + 128);
        out.resize(CONTROL_HEADER_LEN, 0);
        if let Some(m) = &self.message {
            m.encode(&mut out, hiding)?;
        }
        let payload_len = out.len() - CONTROL_HEADER_LEN;
        let h = self.header;
        let repr = L2tpRepr::control(
            h.tunnel_id,
            h.session_id,
            Sequence { ns: h.ns, nr: h.nr },
            payload_len,
        );
        repr.emit(&mut out)
            .map_err(|_| EncodeError::MessageTooLong)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain() {
        while avp_lists_kept() > 0 {
            drop(avp_list());
        }
    }

    fn icrq_datagram() -> Vec<u8> {
        ControlPacket {
            header: ControlHeader {
                tunnel_id: 7,
                session_id: 0,
                ns: 1,
                nr: 1,
            },
            message: Some(ControlMessage::new(
                MessageType::Icrq,
                vec![
                    Avp::AssignedSessionId(9),
                    Avp::CallSerialNumber(3),
                    Avp::BearerType(0),
                ],
            )),
        }
        .encode(None)
        .unwrap()
    }

    /// A received message's list is the one the next message is built
    /// in: no allocation a message once the thread has a list.
    #[test]
    fn a_dropped_message_gives_its_list_to_the_next_one() {
        let d = icrq_datagram();
        drain();
        let m = decode_packet(&d, None).unwrap().message.unwrap();
        assert_eq!(m.assigned_session_id(), Some(9));
        let list = m.avps.as_ptr();
        drop(m);
        assert_eq!(avp_lists_kept(), 1);
        let reply = ControlMessage::of(MessageType::Icrp, [Avp::AssignedSessionId(4)]);
        assert_eq!(
            reply.avps.as_ptr(),
            list,
            "the reply did not reuse the list"
        );
        assert_eq!(
            reply.avps,
            [Avp::AssignedSessionId(4)],
            "the old AVPs stayed"
        );
        assert_eq!(avp_lists_kept(), 0);
        drop(reply);
        let again = decode_packet(&d, None).unwrap().message.unwrap();
        assert_eq!(again.avps.as_ptr(), list);
        assert_eq!(again.avps.len(), 3);
    }

    /// The pool is bounded in count and in each list's size, and a list
    /// taken out of its message leaves with it.
    #[test]
    fn the_pool_keeps_a_bounded_number_of_bounded_lists() {
        drain();
        let mut big = ControlMessage::of(MessageType::Hello, []);
        big.avps
            .extend((0..=LIST_LARGEST_KEPT as u32).map(Avp::CallSerialNumber));
        drop(big);
        assert_eq!(avp_lists_kept(), 0, "kept a list over the bound");
        let taken = ControlMessage::of(MessageType::Hello, []).into_avps();
        assert!(taken.capacity() >= LIST_SMALLEST);
        assert_eq!(avp_lists_kept(), 0, "a list taken out went back too");
        let many: Vec<_> = (0..LISTS_KEPT + 5)
            .map(|_| ControlMessage::of(MessageType::Hello, []))
            .collect();
        drop(many);
        assert_eq!(avp_lists_kept(), LISTS_KEPT);
        drain();
    }
}
