//! Result and error codes (RFC 2661 §4.4.2).
//!
//! The Result Code AVP's first field means different things in StopCCN and
//! CDN, so each has its own enum; the general error code is shared.

/// StopCCN result codes (§4.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StopCcnResult {
    /// General request to clear control connection.
    GeneralClear = 1,
    /// General error; the error code says which.
    GeneralError = 2,
    /// Control channel already exists.
    AlreadyExists = 3,
    /// Requester is not authorized to establish a control channel.
    NotAuthorized = 4,
    /// The protocol version of the requester is not supported.
    UnsupportedVersion = 5,
    /// Requester is being shut down.
    ShuttingDown = 6,
    /// Finite state machine error.
    FsmError = 7,
}

/// CDN result codes (§4.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CdnResult {
    /// Call disconnected due to loss of carrier.
    LossOfCarrier = 1,
    /// Call disconnected for the reason indicated in error code.
    GeneralError = 2,
    /// Call disconnected for administrative reasons.
    Administrative = 3,
    /// Lack of appropriate facilities (temporary condition).
    TemporaryNoFacilities = 4,
    /// Lack of appropriate facilities (permanent condition).
    PermanentNoFacilities = 5,
    /// Invalid destination.
    InvalidDestination = 6,
    /// No carrier detected.
    NoCarrier = 7,
    /// Busy signal.
    Busy = 8,
    /// No dial tone.
    NoDialTone = 9,
    /// Call was not established within time allotted by LAC.
    Timeout = 10,
    /// Connected but no appropriate framing was detected.
    NoFraming = 11,
}

/// General error codes (§4.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// No general error.
    NoError = 0,
    /// No control connection exists yet for this LAC-LNS pair.
    NoControlConnection = 1,
    /// Length is wrong.
    BadLength = 2,
    /// A field value was out of range or a reserved field was non-zero.
    BadValue = 3,
    /// Insufficient resources to handle this operation now.
    InsufficientResources = 4,
    /// The Session ID is invalid in this context.
    InvalidSessionId = 5,
    /// A generic vendor-specific error occurred in the LAC.
    VendorSpecific = 6,
    /// Try another LNS.
    TryAnother = 7,
    /// Shut down due to receipt of an unknown AVP with the M-bit set.
    UnknownMandatoryAvp = 8,
}

macro_rules! from_u16 {
    ($t:ty, $($v:ident),+) => {
        impl $t {
            /// The enum for a wire value, if defined.
            pub fn from_u16(v: u16) -> Option<Self> {
                [$(Self::$v),+].into_iter().find(|x| *x as u16 == v)
            }
        }
        impl From<$t> for u16 {
            fn from(v: $t) -> u16 {
                v as u16
            }
        }
    };
}

from_u16!(
    StopCcnResult,
    GeneralClear,
    GeneralError,
    AlreadyExists,
    NotAuthorized,
    UnsupportedVersion,
    ShuttingDown,
    FsmError
);
from_u16!(
    CdnResult,
    LossOfCarrier,
    GeneralError,
    Administrative,
    TemporaryNoFacilities,
    PermanentNoFacilities,
    InvalidDestination,
    NoCarrier,
    Busy,
    NoDialTone,
    Timeout,
    NoFraming
);
from_u16!(
    ErrorCode,
    NoError,
    NoControlConnection,
    BadLength,
    BadValue,
    InsufficientResources,
    InvalidSessionId,
    VendorSpecific,
    TryAnother,
    UnknownMandatoryAvp
);

/// The most octets of free text we put in one AVP: an operator's cause or
/// a RADIUS Reply-Message can be of any length, and an AVP holds at most
/// 1,017 octets of value (§4.1: a 10-bit length), past which the whole
/// message could not be encoded and the peer would never hear of the
/// disconnect.
pub const MAX_MESSAGE: usize = 255;

/// `text` as AVP message octets: UTF-8, cut at a character boundary to at
/// most [`MAX_MESSAGE`] octets.
pub fn wire_message(text: &str) -> Vec<u8> {
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.as_bytes()[..end].to_vec()
}

impl super::avp::ResultCode {
    /// A Result Code with a numeric result (what an operator typed);
    /// [`ResultCode::stop_ccn`] and [`ResultCode::cdn`] name theirs.
    pub fn new(result: u16, error: Option<ErrorCode>, message: &str) -> Self {
        Self::build(result, error, message)
    }

    /// A StopCCN result.
    pub fn stop_ccn(result: StopCcnResult, error: Option<ErrorCode>, message: &str) -> Self {
        Self::build(result.into(), error, message)
    }

    /// A CDN result.
    pub fn cdn(result: CdnResult, error: Option<ErrorCode>, message: &str) -> Self {
        Self::build(result.into(), error, message)
    }

    fn build(result: u16, error: Option<ErrorCode>, message: &str) -> Self {
        // A message can only follow an error code (§4.4.2 layout).
        let error = error.or((!message.is_empty()).then_some(ErrorCode::NoError));
        Self {
            result,
            error: error.map(u16::from),
            message: if error.is_some() {
                wire_message(message)
            } else {
                Vec::new()
            },
        }
    }

    /// The error code as an enum, when present and defined.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error.and_then(ErrorCode::from_u16)
    }

    /// "result R error E (text)", for logs.
    pub fn describe(&self) -> String {
        let mut s = format!("result {}", self.result);
        if let Some(e) = self.error.filter(|&e| e != 0) {
            s += &format!(" error {e}");
        }
        let text = self.message_text();
        if !text.is_empty() {
            s += &format!(" ({text})");
        }
        s
    }

    /// The message as text (lossy for non-UTF-8 input).
    pub fn message_text(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::avp::ResultCode;

    #[test]
    fn codes_match_rfc_numbers() {
        assert_eq!(StopCcnResult::FsmError as u16, 7);
        assert_eq!(CdnResult::NoFraming as u16, 11);
        assert_eq!(ErrorCode::UnknownMandatoryAvp as u16, 8);
        assert_eq!(StopCcnResult::from_u16(0), None);
        assert_eq!(CdnResult::from_u16(10), Some(CdnResult::Timeout));
        assert_eq!(ErrorCode::from_u16(9), None);
    }

    #[test]
    fn message_implies_error_code() {
        let rc = ResultCode::cdn(CdnResult::Administrative, None, "operator");
        assert_eq!(rc.error, Some(0));
        assert_eq!(rc.message_text(), "operator");
        let rc = ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, "");
        assert_eq!((rc.error, rc.message.len()), (None, 0));
    }

    #[test]
    fn long_messages_are_cut_to_fit_at_a_character_boundary() {
        use crate::l2tp::{Avp, ControlHeader, ControlMessage, ControlPacket, MessageType};
        // "é" is two octets: an odd cut must not split one.
        let long = "é".repeat(1000);
        let rc = ResultCode::cdn(CdnResult::Administrative, None, &long);
        assert_eq!(rc.message.len(), MAX_MESSAGE - 1);
        assert!(std::str::from_utf8(&rc.message).is_ok());
        assert_eq!(wire_message("short"), b"short");
        // The CDN it goes in still encodes.
        let cdn = ControlPacket {
            header: ControlHeader::default(),
            message: Some(ControlMessage::new(
                MessageType::Cdn,
                vec![Avp::ResultCode(rc), Avp::AssignedSessionId(1)],
            )),
        };
        assert!(cdn.encode(None).is_ok());
    }
}
