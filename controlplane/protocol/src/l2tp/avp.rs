//! L2TP Attribute-Value Pairs (RFC 2661 §4.1, §4.4) and RFC 3145's PPP
//! Disconnect Cause Code.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Attribute Type        |        Attribute Value...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`AVPS`] is the one table of attribute rules (name as in the RFC, the M
//! bit we send, whether hiding is allowed, the value length); the decoder and
//! encoder both read it. [`Avp`] is the typed value of every IETF AVP 0–39
//! (20 is unassigned) and 46. Anything else, including vendor AVPs and AVPs
//! with reserved bits set (§4.1: "treated as an unrecognized AVP"), is kept
//! verbatim as [`Avp::Other`] so nothing the peer sent is lost.

use crate::octets::{Reader, Writer};

/// The fixed AVP header length.
pub const HEADER_LEN: usize = 6;
/// The Length field is 10 bits (§4.1).
pub const MAX_LEN: usize = 1023;

/// IETF attribute types (vendor 0) this codec interprets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[allow(missing_docs, reason = "variant names are the RFC 2661 §4.4 AVP names")]
pub enum AvpType {
    MessageType = 0,
    ResultCode = 1,
    ProtocolVersion = 2,
    FramingCapabilities = 3,
    BearerCapabilities = 4,
    TieBreaker = 5,
    FirmwareRevision = 6,
    HostName = 7,
    VendorName = 8,
    AssignedTunnelId = 9,
    ReceiveWindowSize = 10,
    Challenge = 11,
    Q931CauseCode = 12,
    ChallengeResponse = 13,
    AssignedSessionId = 14,
    CallSerialNumber = 15,
    MinimumBps = 16,
    MaximumBps = 17,
    BearerType = 18,
    FramingType = 19,
    CalledNumber = 21,
    CallingNumber = 22,
    SubAddress = 23,
    TxConnectSpeed = 24,
    PhysicalChannelId = 25,
    InitialReceivedLcpConfReq = 26,
    LastSentLcpConfReq = 27,
    LastReceivedLcpConfReq = 28,
    ProxyAuthenType = 29,
    ProxyAuthenName = 30,
    ProxyAuthenChallenge = 31,
    ProxyAuthenId = 32,
    ProxyAuthenResponse = 33,
    CallErrors = 34,
    Accm = 35,
    RandomVector = 36,
    PrivateGroupId = 37,
    RxConnectSpeed = 38,
    SequencingRequired = 39,
    /// RFC 3145 §2.
    PppDisconnectCause = 46,
}

/// How long an attribute value may be (before hiding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueLen {
    /// Exactly this many octets.
    Exact(usize),
    /// At least this many octets.
    AtLeast(usize),
}

impl ValueLen {
    /// True when `len` satisfies the rule.
    pub const fn accepts(self, len: usize) -> bool {
        match self {
            ValueLen::Exact(n) => len == n,
            ValueLen::AtLeast(n) => len >= n,
        }
    }
}

/// The RFC's rules for one attribute.
#[derive(Debug, Clone, Copy)]
pub struct AvpSpec {
    /// Attribute type.
    pub ty: AvpType,
    /// Name as written in RFC 2661 §6 (used to check [`super::message::MESSAGES`]).
    pub name: &'static str,
    /// The M bit the RFC says a sender sets.
    pub mandatory: bool,
    /// Whether the RFC allows the H bit.
    pub hideable: bool,
    /// Value length rule.
    pub len: ValueLen,
}

macro_rules! spec {
    ($ty:ident, $name:literal, m = $m:literal, h = $h:literal, $len:expr) => {
        AvpSpec {
            ty: AvpType::$ty,
            name: $name,
            mandatory: $m,
            hideable: $h,
            len: $len,
        }
    };
}

use ValueLen::{AtLeast, Exact};

/// Attribute rules, from the "M-bit" / "H-bit" / "Length" paragraph of each
/// AVP in RFC 2661 §4.4 (and RFC 3145 §2 for type 46).
pub const AVPS: &[AvpSpec] = &[
    spec!(MessageType, "Message Type", m = true, h = false, Exact(2)),
    spec!(ResultCode, "Result Code", m = true, h = false, AtLeast(2)),
    spec!(
        ProtocolVersion,
        "Protocol Version",
        m = true,
        h = false,
        Exact(2)
    ),
    spec!(
        FramingCapabilities,
        "Framing Capabilities",
        m = true,
        h = true,
        Exact(4)
    ),
    spec!(
        BearerCapabilities,
        "Bearer Capabilities",
        m = true,
        h = true,
        Exact(4)
    ),
    spec!(TieBreaker, "Tie Breaker", m = false, h = false, Exact(8)),
    spec!(
        FirmwareRevision,
        "Firmware Revision",
        m = false,
        h = true,
        Exact(2)
    ),
    spec!(HostName, "Host Name", m = true, h = false, AtLeast(1)),
    spec!(VendorName, "Vendor Name", m = false, h = true, AtLeast(0)),
    spec!(
        AssignedTunnelId,
        "Assigned Tunnel ID",
        m = true,
        h = true,
        Exact(2)
    ),
    spec!(
        ReceiveWindowSize,
        "Receive Window Size",
        m = true,
        h = false,
        Exact(2)
    ),
    spec!(Challenge, "Challenge", m = true, h = true, AtLeast(1)),
    spec!(
        Q931CauseCode,
        "Q.931 Cause Code",
        m = true,
        h = false,
        AtLeast(3)
    ),
    spec!(
        ChallengeResponse,
        "Challenge Response",
        m = true,
        h = true,
        Exact(16)
    ),
    spec!(
        AssignedSessionId,
        "Assigned Session ID",
        m = true,
        h = true,
        Exact(2)
    ),
    spec!(
        CallSerialNumber,
        "Call Serial Number",
        m = true,
        h = true,
        Exact(4)
    ),
    spec!(MinimumBps, "Minimum BPS", m = true, h = true, Exact(4)),
    spec!(MaximumBps, "Maximum BPS", m = true, h = true, Exact(4)),
    spec!(BearerType, "Bearer Type", m = true, h = true, Exact(4)),
    spec!(FramingType, "Framing Type", m = true, h = true, Exact(4)),
    spec!(
        CalledNumber,
        "Called Number",
        m = true,
        h = true,
        AtLeast(0)
    ),
    spec!(
        CallingNumber,
        "Calling Number",
        m = true,
        h = true,
        AtLeast(0)
    ),
    spec!(SubAddress, "Sub-Address", m = true, h = true, AtLeast(0)),
    spec!(
        TxConnectSpeed,
        "(Tx) Connect Speed",
        m = true,
        h = true,
        Exact(4)
    ),
    spec!(
        PhysicalChannelId,
        "Physical Channel ID",
        m = false,
        h = true,
        Exact(4)
    ),
    spec!(
        InitialReceivedLcpConfReq,
        "Initial Received LCP CONFREQ",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        LastSentLcpConfReq,
        "Last Sent LCP CONFREQ",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        LastReceivedLcpConfReq,
        "Last Received LCP CONFREQ",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        ProxyAuthenType,
        "Proxy Authen Type",
        m = false,
        h = true,
        Exact(2)
    ),
    spec!(
        ProxyAuthenName,
        "Proxy Authen Name",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        ProxyAuthenChallenge,
        "Proxy Authen Challenge",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        ProxyAuthenId,
        "Proxy Authen ID",
        m = false,
        h = true,
        Exact(2)
    ),
    spec!(
        ProxyAuthenResponse,
        "Proxy Authen Response",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(CallErrors, "Call Errors", m = true, h = true, Exact(26)),
    spec!(Accm, "ACCM", m = true, h = true, Exact(10)),
    spec!(
        RandomVector,
        "Random Vector",
        m = true,
        h = false,
        AtLeast(1)
    ),
    spec!(
        PrivateGroupId,
        "Private Group ID",
        m = false,
        h = true,
        AtLeast(0)
    ),
    spec!(
        RxConnectSpeed,
        "Rx Connect Speed",
        m = false,
        h = true,
        Exact(4)
    ),
    spec!(
        SequencingRequired,
        "Sequencing Required",
        m = true,
        h = false,
        Exact(0)
    ),
    spec!(
        PppDisconnectCause,
        "PPP Disconnect Cause Code",
        m = false,
        h = true,
        AtLeast(5)
    ),
];

impl AvpType {
    /// The type for an IETF attribute number, if this codec knows it.
    pub fn from_u16(v: u16) -> Option<AvpType> {
        AVPS.iter().map(|s| s.ty).find(|t| *t as u16 == v)
    }

    /// This attribute's rules.
    pub fn spec(self) -> &'static AvpSpec {
        // Every variant has a row; the fallback only guards table edits.
        AVPS.iter().find(|s| s.ty == self).unwrap_or(&AVPS[0])
    }

    /// Name as written in the RFC.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// Framing Capabilities / Framing Type bits (§4.4.3, §4.4.4).
pub mod framing {
    /// Synchronous framing (S bit).
    pub const SYNC: u32 = 0x1;
    /// Asynchronous framing (A bit).
    pub const ASYNC: u32 = 0x2;
}

/// Bearer Capabilities / Bearer Type bits (§4.4.3, §4.4.4).
pub mod bearer {
    /// Digital access (D bit).
    pub const DIGITAL: u32 = 0x1;
    /// Analog access (A bit).
    pub const ANALOG: u32 = 0x2;
}

/// Proxy Authen Type values (§4.4.5, §10.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ProxyAuthType {
    /// Textual username/password exchange.
    Textual = 1,
    /// PPP CHAP.
    Chap = 2,
    /// PPP PAP.
    Pap = 3,
    /// No authentication.
    None = 4,
    /// Microsoft CHAP version 1.
    MsChapV1 = 5,
}

impl ProxyAuthType {
    /// The enum for a wire value, if defined.
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Textual,
            2 => Self::Chap,
            3 => Self::Pap,
            4 => Self::None,
            5 => Self::MsChapV1,
            _ => return None,
        })
    }
}

/// The Result Code AVP value (§4.4.2). The codes' meaning depends on the
/// message; see [`super::result`] for the enums.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultCode {
    /// Result code.
    pub result: u16,
    /// General error code, when present.
    pub error: Option<u16>,
    /// Human-readable error message (UTF-8 per the RFC; kept as sent).
    pub message: Vec<u8>,
}

/// The Q.931 Cause Code AVP value (§4.4.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Q931Cause {
    /// Q.931 cause code.
    pub cause: u16,
    /// Q.931 message code.
    pub message: u8,
    /// Optional advisory text.
    pub advisory: Vec<u8>,
}

/// The Call Errors AVP value (§4.4.6); counters are cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs, reason = "field names are the RFC counter names")]
pub struct CallErrors {
    pub crc_errors: u32,
    pub framing_errors: u32,
    pub hardware_overruns: u32,
    pub buffer_overruns: u32,
    pub timeout_errors: u32,
    pub alignment_errors: u32,
}

/// RFC 3145 §2 PPP Disconnect Cause Code value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PppDisconnectCause {
    /// Disconnect code (RFC 3145 §3).
    pub code: u16,
    /// PPP control protocol number involved, 0 when global.
    pub protocol: u16,
    /// 0 global, 1 at peer, 2 at local (RFC 3145 §2).
    pub direction: u8,
    /// Optional UTF-8 text.
    pub message: Vec<u8>,
}

/// An AVP this codec does not interpret, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAvp {
    /// M bit as received.
    pub mandatory: bool,
    /// H bit as received (the value is then still hidden).
    pub hidden: bool,
    /// The four reserved flag bits as received.
    pub reserved: u8,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Attribute type.
    pub attr_type: u16,
    /// Attribute value as received.
    pub value: Vec<u8>,
}

/// A typed AVP value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variants mirror AvpType; see RFC 2661 §4.4")]
pub enum Avp {
    MessageType(u16),
    ResultCode(ResultCode),
    ProtocolVersion {
        version: u8,
        revision: u8,
    },
    FramingCapabilities(u32),
    BearerCapabilities(u32),
    TieBreaker(u64),
    FirmwareRevision(u16),
    HostName(Vec<u8>),
    VendorName(Vec<u8>),
    AssignedTunnelId(u16),
    ReceiveWindowSize(u16),
    Challenge(Vec<u8>),
    Q931CauseCode(Q931Cause),
    ChallengeResponse([u8; 16]),
    AssignedSessionId(u16),
    CallSerialNumber(u32),
    MinimumBps(u32),
    MaximumBps(u32),
    BearerType(u32),
    FramingType(u32),
    CalledNumber(Vec<u8>),
    CallingNumber(Vec<u8>),
    SubAddress(Vec<u8>),
    TxConnectSpeed(u32),
    PhysicalChannelId(u32),
    InitialReceivedLcpConfReq(Vec<u8>),
    LastSentLcpConfReq(Vec<u8>),
    LastReceivedLcpConfReq(Vec<u8>),
    ProxyAuthenType(u16),
    ProxyAuthenName(Vec<u8>),
    ProxyAuthenChallenge(Vec<u8>),
    ProxyAuthenId(u8),
    ProxyAuthenResponse(Vec<u8>),
    CallErrors(CallErrors),
    Accm {
        send: u32,
        recv: u32,
    },
    RandomVector(Vec<u8>),
    PrivateGroupId(Vec<u8>),
    RxConnectSpeed(u32),
    SequencingRequired,
    PppDisconnectCause(PppDisconnectCause),
    /// Vendor, unknown, reserved-bit or unparsed non-mandatory AVP.
    Other(RawAvp),
}

/// The value did not match its attribute's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadValue;

impl Avp {
    /// The attribute type, or `None` for [`Avp::Other`].
    pub fn avp_type(&self) -> Option<AvpType> {
        use AvpType as T;
        Some(match self {
            Avp::MessageType(_) => T::MessageType,
            Avp::ResultCode(_) => T::ResultCode,
            Avp::ProtocolVersion { .. } => T::ProtocolVersion,
            Avp::FramingCapabilities(_) => T::FramingCapabilities,
            Avp::BearerCapabilities(_) => T::BearerCapabilities,
            Avp::TieBreaker(_) => T::TieBreaker,
            Avp::FirmwareRevision(_) => T::FirmwareRevision,
            Avp::HostName(_) => T::HostName,
            Avp::VendorName(_) => T::VendorName,
            Avp::AssignedTunnelId(_) => T::AssignedTunnelId,
            Avp::ReceiveWindowSize(_) => T::ReceiveWindowSize,
            Avp::Challenge(_) => T::Challenge,
            Avp::Q931CauseCode(_) => T::Q931CauseCode,
            Avp::ChallengeResponse(_) => T::ChallengeResponse,
            Avp::AssignedSessionId(_) => T::AssignedSessionId,
            Avp::CallSerialNumber(_) => T::CallSerialNumber,
            Avp::MinimumBps(_) => T::MinimumBps,
            Avp::MaximumBps(_) => T::MaximumBps,
            Avp::BearerType(_) => T::BearerType,
            Avp::FramingType(_) => T::FramingType,
            Avp::CalledNumber(_) => T::CalledNumber,
            Avp::CallingNumber(_) => T::CallingNumber,
            Avp::SubAddress(_) => T::SubAddress,
            Avp::TxConnectSpeed(_) => T::TxConnectSpeed,
            Avp::PhysicalChannelId(_) => T::PhysicalChannelId,
            Avp::InitialReceivedLcpConfReq(_) => T::InitialReceivedLcpConfReq,
            Avp::LastSentLcpConfReq(_) => T::LastSentLcpConfReq,
            Avp::LastReceivedLcpConfReq(_) => T::LastReceivedLcpConfReq,
            Avp::ProxyAuthenType(_) => T::ProxyAuthenType,
            Avp::ProxyAuthenName(_) => T::ProxyAuthenName,
            Avp::ProxyAuthenChallenge(_) => T::ProxyAuthenChallenge,
            Avp::ProxyAuthenId(_) => T::ProxyAuthenId,
            Avp::ProxyAuthenResponse(_) => T::ProxyAuthenResponse,
            Avp::CallErrors(_) => T::CallErrors,
            Avp::Accm { .. } => T::Accm,
            Avp::RandomVector(_) => T::RandomVector,
            Avp::PrivateGroupId(_) => T::PrivateGroupId,
            Avp::RxConnectSpeed(_) => T::RxConnectSpeed,
            Avp::SequencingRequired => T::SequencingRequired,
            Avp::PppDisconnectCause(_) => T::PppDisconnectCause,
            Avp::Other(_) => return None,
        })
    }

    /// Decodes the (already unhidden) value of a known attribute.
    pub fn decode_value(ty: AvpType, value: &[u8]) -> Result<Avp, BadValue> {
        if !ty.spec().len.accepts(value.len()) {
            return Err(BadValue);
        }
        let mut r = Reader::new(value);
        let bytes = || value.to_vec();
        let avp = match ty {
            AvpType::MessageType => Avp::MessageType(r.u16().map_err(|_| BadValue)?),
            AvpType::ResultCode => {
                let result = r.u16().map_err(|_| BadValue)?;
                // One lone octet after the result code is neither an error
                // code nor nothing: the length is wrong (§4.4.2).
                if r.remaining() == 1 {
                    return Err(BadValue);
                }
                let error = r.u16().ok();
                Avp::ResultCode(ResultCode {
                    result,
                    error,
                    message: r.rest().to_vec(),
                })
            }
            AvpType::ProtocolVersion => {
                let [version, revision] = r.array().map_err(|_| BadValue)?;
                Avp::ProtocolVersion { version, revision }
            }
            AvpType::FramingCapabilities => Avp::FramingCapabilities(u32v(&mut r)?),
            AvpType::BearerCapabilities => Avp::BearerCapabilities(u32v(&mut r)?),
            AvpType::TieBreaker => Avp::TieBreaker(r.u64().map_err(|_| BadValue)?),
            AvpType::FirmwareRevision => Avp::FirmwareRevision(u16v(&mut r)?),
            AvpType::HostName => Avp::HostName(bytes()),
            AvpType::VendorName => Avp::VendorName(bytes()),
            AvpType::AssignedTunnelId => Avp::AssignedTunnelId(u16v(&mut r)?),
            AvpType::ReceiveWindowSize => Avp::ReceiveWindowSize(u16v(&mut r)?),
            AvpType::Challenge => Avp::Challenge(bytes()),
            AvpType::Q931CauseCode => {
                let cause = u16v(&mut r)?;
                let message = r.u8().map_err(|_| BadValue)?;
                Avp::Q931CauseCode(Q931Cause {
                    cause,
                    message,
                    advisory: r.rest().to_vec(),
                })
            }
            AvpType::ChallengeResponse => Avp::ChallengeResponse(r.array().map_err(|_| BadValue)?),
            AvpType::AssignedSessionId => Avp::AssignedSessionId(u16v(&mut r)?),
            AvpType::CallSerialNumber => Avp::CallSerialNumber(u32v(&mut r)?),
            AvpType::MinimumBps => Avp::MinimumBps(u32v(&mut r)?),
            AvpType::MaximumBps => Avp::MaximumBps(u32v(&mut r)?),
            AvpType::BearerType => Avp::BearerType(u32v(&mut r)?),
            AvpType::FramingType => Avp::FramingType(u32v(&mut r)?),
            AvpType::CalledNumber => Avp::CalledNumber(bytes()),
            AvpType::CallingNumber => Avp::CallingNumber(bytes()),
            AvpType::SubAddress => Avp::SubAddress(bytes()),
            AvpType::TxConnectSpeed => Avp::TxConnectSpeed(u32v(&mut r)?),
            AvpType::PhysicalChannelId => Avp::PhysicalChannelId(u32v(&mut r)?),
            AvpType::InitialReceivedLcpConfReq => Avp::InitialReceivedLcpConfReq(bytes()),
            AvpType::LastSentLcpConfReq => Avp::LastSentLcpConfReq(bytes()),
            AvpType::LastReceivedLcpConfReq => Avp::LastReceivedLcpConfReq(bytes()),
            AvpType::ProxyAuthenType => Avp::ProxyAuthenType(u16v(&mut r)?),
            AvpType::ProxyAuthenName => Avp::ProxyAuthenName(bytes()),
            AvpType::ProxyAuthenChallenge => Avp::ProxyAuthenChallenge(bytes()),
            AvpType::ProxyAuthenId => {
                // §4.4.5: "the most significant octet MUST be 0".
                let [hi, id] = r.array().map_err(|_| BadValue)?;
                if hi != 0 {
                    return Err(BadValue);
                }
                Avp::ProxyAuthenId(id)
            }
            AvpType::ProxyAuthenResponse => Avp::ProxyAuthenResponse(bytes()),
            AvpType::CallErrors => {
                let _reserved = u16v(&mut r)?;
                Avp::CallErrors(CallErrors {
                    crc_errors: u32v(&mut r)?,
                    framing_errors: u32v(&mut r)?,
                    hardware_overruns: u32v(&mut r)?,
                    buffer_overruns: u32v(&mut r)?,
                    timeout_errors: u32v(&mut r)?,
                    alignment_errors: u32v(&mut r)?,
                })
            }
            AvpType::Accm => {
                let _reserved = u16v(&mut r)?;
                Avp::Accm {
                    send: u32v(&mut r)?,
                    recv: u32v(&mut r)?,
                }
            }
            AvpType::RandomVector => Avp::RandomVector(bytes()),
            AvpType::PrivateGroupId => Avp::PrivateGroupId(bytes()),
            AvpType::RxConnectSpeed => Avp::RxConnectSpeed(u32v(&mut r)?),
            AvpType::SequencingRequired => Avp::SequencingRequired,
            AvpType::PppDisconnectCause => Avp::PppDisconnectCause(PppDisconnectCause {
                code: u16v(&mut r)?,
                protocol: u16v(&mut r)?,
                direction: r.u8().map_err(|_| BadValue)?,
                message: r.rest().to_vec(),
            }),
        };
        Ok(avp)
    }

    /// Appends the value (not the header) of this AVP.
    pub fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Avp::MessageType(v)
            | Avp::FirmwareRevision(v)
            | Avp::AssignedTunnelId(v)
            | Avp::ReceiveWindowSize(v)
            | Avp::AssignedSessionId(v)
            | Avp::ProxyAuthenType(v) => out.put_u16(*v),
            Avp::ResultCode(rc) => {
                out.put_u16(rc.result);
                if let Some(e) = rc.error {
                    out.put_u16(e);
                    out.extend_from_slice(&rc.message);
                }
            }
            Avp::ProtocolVersion { version, revision } => {
                out.extend_from_slice(&[*version, *revision])
            }
            Avp::FramingCapabilities(v)
            | Avp::BearerCapabilities(v)
            | Avp::CallSerialNumber(v)
            | Avp::MinimumBps(v)
            | Avp::MaximumBps(v)
            | Avp::BearerType(v)
            | Avp::FramingType(v)
            | Avp::TxConnectSpeed(v)
            | Avp::PhysicalChannelId(v)
            | Avp::RxConnectSpeed(v) => out.put_u32(*v),
            Avp::TieBreaker(v) => out.extend_from_slice(&v.to_be_bytes()),
            Avp::HostName(b)
            | Avp::VendorName(b)
            | Avp::Challenge(b)
            | Avp::CalledNumber(b)
            | Avp::CallingNumber(b)
            | Avp::SubAddress(b)
            | Avp::InitialReceivedLcpConfReq(b)
            | Avp::LastSentLcpConfReq(b)
            | Avp::LastReceivedLcpConfReq(b)
            | Avp::ProxyAuthenName(b)
            | Avp::ProxyAuthenChallenge(b)
            | Avp::ProxyAuthenResponse(b)
            | Avp::RandomVector(b)
            | Avp::PrivateGroupId(b) => out.extend_from_slice(b),
            Avp::Q931CauseCode(q) => {
                out.put_u16(q.cause);
                out.put_u8(q.message);
                out.extend_from_slice(&q.advisory);
            }
            Avp::ChallengeResponse(r) => out.extend_from_slice(r),
            Avp::ProxyAuthenId(id) => out.extend_from_slice(&[0, *id]),
            Avp::CallErrors(c) => {
                out.put_u16(0);
                for v in [
                    c.crc_errors,
                    c.framing_errors,
                    c.hardware_overruns,
                    c.buffer_overruns,
                    c.timeout_errors,
                    c.alignment_errors,
                ] {
                    out.put_u32(v);
                }
            }
            Avp::Accm { send, recv } => {
                out.put_u16(0);
                out.put_u32(*send);
                out.put_u32(*recv);
            }
            Avp::SequencingRequired => {}
            Avp::PppDisconnectCause(d) => {
                out.put_u16(d.code);
                out.put_u16(d.protocol);
                out.put_u8(d.direction);
                out.extend_from_slice(&d.message);
            }
            Avp::Other(raw) => out.extend_from_slice(&raw.value),
        }
    }
}

fn u16v(r: &mut Reader<'_>) -> Result<u16, BadValue> {
    r.u16().map_err(|_| BadValue)
}

fn u32v(r: &mut Reader<'_>) -> Result<u32, BadValue> {
    r.u32().map_err(|_| BadValue)
}

/// The fields of one AVP header plus its raw value, as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireAvp<'a> {
    /// M bit.
    pub mandatory: bool,
    /// H bit.
    pub hidden: bool,
    /// Reserved flag bits (must be 0).
    pub reserved: u8,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Attribute type.
    pub attr_type: u16,
    /// Value (still hidden when `hidden`).
    pub value: &'a [u8],
}

/// An AVP header's Length is below 6 or runs past the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAvpLength {
    /// Offset of the offending AVP within the AVP area.
    pub offset: usize,
}

/// Reads the next AVP header and value.
pub fn read_wire_avp<'a>(r: &mut Reader<'a>) -> Result<WireAvp<'a>, BadAvpLength> {
    let offset = r.position();
    let bad = BadAvpLength { offset };
    let flags_len = r.u16().map_err(|_| bad)?;
    let len = usize::from(flags_len & 0x03ff);
    if len < HEADER_LEN {
        return Err(bad);
    }
    let vendor_id = r.u16().map_err(|_| bad)?;
    let attr_type = r.u16().map_err(|_| bad)?;
    let value = r.bytes(len - HEADER_LEN).map_err(|_| bad)?;
    Ok(WireAvp {
        mandatory: flags_len & 0x8000 != 0,
        hidden: flags_len & 0x4000 != 0,
        reserved: ((flags_len >> 10) & 0x0f) as u8,
        vendor_id,
        attr_type,
        value,
    })
}

/// Appends an AVP header and value; `None` when the value exceeds the
/// 10-bit Length.
pub fn write_wire_avp(
    out: &mut Vec<u8>,
    mandatory: bool,
    hidden: bool,
    reserved: u8,
    vendor_id: u16,
    attr_type: u16,
    value: &[u8],
) -> Option<()> {
    let len = HEADER_LEN + value.len();
    if len > MAX_LEN {
        return None;
    }
    let flags = (u16::from(mandatory) << 15)
        | (u16::from(hidden) << 14)
        | (u16::from(reserved & 0x0f) << 10);
    out.put_u16(flags | len as u16);
    out.put_u16(vendor_id);
    out.put_u16(attr_type);
    out.extend_from_slice(value);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_type_and_no_gap_but_20() {
        let mut numbers: Vec<u16> = AVPS.iter().map(|s| s.ty as u16).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), AVPS.len());
        let expect: Vec<u16> = (0..=39).filter(|&t| t != 20).chain([46]).collect();
        assert_eq!(numbers, expect);
        for s in AVPS {
            assert_eq!(AvpType::from_u16(s.ty as u16), Some(s.ty));
            assert_eq!(s.ty.spec().name, s.name);
        }
    }

    #[test]
    fn wire_header_fields() {
        // M=1 H=0 len 8, vendor 0, type 0 (Message Type), value 1 (SCCRQ).
        let b = [0x80, 0x08, 0, 0, 0, 0, 0, 1];
        let mut r = Reader::new(&b);
        let a = read_wire_avp(&mut r).unwrap();
        assert!(a.mandatory && !a.hidden);
        assert_eq!((a.vendor_id, a.attr_type, a.value), (0, 0, &[0u8, 1][..]));
        let mut out = Vec::new();
        write_wire_avp(&mut out, true, false, 0, 0, 0, &[0, 1]).unwrap();
        assert_eq!(out, b);
        for bad in [
            &[0x80, 0x05, 0, 0, 0, 0][..],
            &[0x80, 0x09, 0, 0, 0, 0, 0, 1][..],
        ] {
            assert!(read_wire_avp(&mut Reader::new(bad)).is_err());
        }
    }

    #[test]
    fn every_type_round_trips_its_value() {
        let samples = [
            Avp::ResultCode(ResultCode {
                result: 2,
                error: Some(8),
                message: b"avp 99".to_vec(),
            }),
            Avp::ResultCode(ResultCode {
                result: 1,
                error: None,
                message: vec![],
            }),
            Avp::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            Avp::TieBreaker(0x0102_0304_0506_0708),
            Avp::Q931CauseCode(Q931Cause {
                cause: 16,
                message: 0x45,
                advisory: b"x".to_vec(),
            }),
            Avp::ChallengeResponse([7; 16]),
            Avp::ProxyAuthenId(9),
            Avp::CallErrors(CallErrors {
                crc_errors: 1,
                alignment_errors: 6,
                ..Default::default()
            }),
            Avp::Accm {
                send: 0xffff_ffff,
                recv: 0,
            },
            Avp::SequencingRequired,
            Avp::PppDisconnectCause(PppDisconnectCause {
                code: 3,
                protocol: 0xc021,
                direction: 1,
                message: b"lcp".to_vec(),
            }),
        ];
        for a in samples {
            let mut v = Vec::new();
            a.encode_value(&mut v);
            let ty = a.avp_type().unwrap();
            assert_eq!(Avp::decode_value(ty, &v), Ok(a.clone()), "{ty:?}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert_eq!(
            Avp::decode_value(AvpType::AssignedTunnelId, &[1]),
            Err(BadValue)
        );
        assert_eq!(
            Avp::decode_value(AvpType::ResultCode, &[0, 1, 2]),
            Err(BadValue)
        );
        assert_eq!(
            Avp::decode_value(AvpType::ProxyAuthenId, &[1, 2]),
            Err(BadValue)
        );
        assert_eq!(
            Avp::decode_value(AvpType::SequencingRequired, &[0]),
            Err(BadValue)
        );
        assert_eq!(Avp::decode_value(AvpType::HostName, &[]), Err(BadValue));
    }
}
