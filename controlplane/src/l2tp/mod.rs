//! The L2TPv2 control channel (RFC 2661).
//!
//! Today: the control message and AVP codec ([`message`], [`avp`]), hidden
//! AVPs ([`hidden`]), tunnel authentication ([`auth`]) and result codes
//! ([`result`]). The reliable transport, tunnel and session state machines
//! and the endpoint arrive on top of this codec, sans-IO (DESIGN §4).

pub mod auth;
pub mod avp;
pub mod hidden;
pub mod message;
pub mod result;

pub use avp::{Avp, AvpType, RawAvp, ResultCode};
pub use message::{
    ControlHeader, ControlMessage, ControlPacket, Hiding, MessageError, MessageErrorKind,
    MessageType, PacketError, Response, Scope, decode_packet,
};
