//! The L2TPv2 control channel (RFC 2661).
//!
//! Layers, bottom up, all sans-IO (DESIGN §4):
//! * the codec: control messages and AVPs ([`message`], [`avp`]), hidden
//!   AVPs ([`hidden`]), tunnel authentication ([`auth`]), result codes
//!   ([`result`]);
//! * the reliable transport ([`transport`], [`seq`]);
//! * the tunnel and session state machines ([`tunnel`], [`session`]);
//! * the [`endpoint`] that demultiplexes datagrams to tunnels, with its
//!   [`config`] and named counters ([`stats`]).

pub mod auth;
pub mod avp;
pub mod config;
pub mod endpoint;
pub mod hidden;
pub mod message;
pub mod result;
pub mod seq;
pub mod session;
pub mod stats;
pub mod transport;
pub mod tunnel;

pub use avp::{Avp, AvpType, RawAvp, ResultCode};
pub use config::{DataSequencing, EndpointConfig, PeerPolicy, PeerRule, TunnelAuth};
pub use endpoint::{Endpoint, Received, RequestError, SessionIdPreference, Transmit};
pub use message::{
    ControlHeader, ControlMessage, ControlPacket, Hiding, MessageError, MessageErrorKind,
    MessageType, PacketError, Response, Scope, decode_packet,
};
pub use session::{CallKind, CallParams, ClearCause};
pub use tunnel::{Event, Role, SessionKey, TunnelCause, TunnelState};
