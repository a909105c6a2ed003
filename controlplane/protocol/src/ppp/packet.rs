//! The control packet of RFC 1661 §5, shared by LCP, IPCP and IPv6CP.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Data ...
//! +-+-+-+-+
//! ```
//!
//! Codes 1–7 exist in every control protocol; Protocol-Reject, Echo and
//! Discard (8–11) only in LCP (RFC 1661 §5.7–§5.9; RFC 1332 §2 and RFC 5072
//! §3 list 1–7 only). A code the protocol does not define decodes to
//! [`Body::Unknown`], which the automaton answers with Code-Reject.

use super::{Malformed, finish_packet, packet_buffer, read_header};
use crate::octets::Reader;

/// Packet codes (RFC 1661 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs, reason = "names are RFC 1661 §5's")]
pub enum Code {
    ConfigureRequest = 1,
    ConfigureAck = 2,
    ConfigureNak = 3,
    ConfigureReject = 4,
    TerminateRequest = 5,
    TerminateAck = 6,
    CodeReject = 7,
    ProtocolReject = 8,
    EchoRequest = 9,
    EchoReply = 10,
    DiscardRequest = 11,
}

/// A configuration option type of one control protocol.
pub trait PppOption: Sized + Clone + PartialEq + core::fmt::Debug {
    /// Interprets one option. Never fails: unknown types and known types
    /// with a wrong length become the protocol's `Unknown` variant.
    fn decode(kind: u8, data: &[u8]) -> Self;
    /// The option's Type octet.
    fn kind(&self) -> u8;
    /// Appends the option's data (after Type and Length).
    fn encode_data(&self, out: &mut Vec<u8>);
}

/// A Configure-* option list, held inline up to four options (a
/// session's requests and answers carry one to four), so that decoding,
/// answering and sending one allocates nothing for the list.
pub type Options<O> = smallvec::SmallVec<[O; 4]>;

/// The data of a control packet, by code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variants are RFC 1661 §5 packet kinds")]
pub enum Body<O> {
    ConfigureRequest(Options<O>),
    ConfigureAck(Options<O>),
    ConfigureNak(Options<O>),
    ConfigureReject(Options<O>),
    TerminateRequest(Vec<u8>),
    TerminateAck(Vec<u8>),
    /// The rejected packet, starting at its Information field (§5.6).
    CodeReject(Vec<u8>),
    /// The rejected protocol and the rejected packet's information (§5.7).
    ProtocolReject {
        protocol: u16,
        information: Vec<u8>,
    },
    EchoRequest {
        magic: u32,
        data: Vec<u8>,
    },
    EchoReply {
        magic: u32,
        data: Vec<u8>,
    },
    DiscardRequest {
        magic: u32,
        data: Vec<u8>,
    },
    /// A code this protocol does not define; answer with Code-Reject.
    Unknown {
        code: u8,
        data: Vec<u8>,
    },
}

/// A control packet of LCP (`extended` codes) or an NCP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpPacket<O> {
    /// Identifier, matching requests to replies.
    pub identifier: u8,
    /// Code and data.
    pub body: Body<O>,
}

/// Decodes a Configure-* option list (RFC 1661 §6): each option is Type,
/// Length (≥ 2, covering Type and Length), Data.
pub fn decode_options<O: PppOption>(data: &[u8]) -> Result<Options<O>, Malformed> {
    let mut r = Reader::new(data);
    let mut out = Options::new();
    while !r.is_empty() {
        let kind = r.u8().map_err(|_| Malformed)?;
        let len = usize::from(r.u8().map_err(|_| Malformed)?);
        if len < 2 {
            return Err(Malformed);
        }
        let d = r.bytes(len - 2).map_err(|_| Malformed)?;
        out.push(O::decode(kind, d));
    }
    Ok(out)
}

/// Appends an option list; an option whose data exceeds 253 octets cannot
/// be framed and is refused. Each option's data is written in place and
/// its Length filled in after.
pub fn encode_options<O: PppOption>(opts: &[O], out: &mut Vec<u8>) -> Result<(), Malformed> {
    for o in opts {
        let at = out.len();
        out.extend_from_slice(&[o.kind(), 0]);
        o.encode_data(out);
        let len = u8::try_from(out.len() - at).map_err(|_| Malformed)?;
        if let Some(l) = out.get_mut(at + 1) {
            *l = len;
        }
    }
    Ok(())
}

fn magic_and_data(data: &[u8]) -> Result<(u32, Vec<u8>), Malformed> {
    let mut r = Reader::new(data);
    let magic = r.u32().map_err(|_| Malformed)?;
    Ok((magic, r.rest().to_vec()))
}

impl<O: PppOption> CpPacket<O> {
    /// Decodes a packet. `extended` enables LCP's codes 8–11.
    pub fn decode(buf: &[u8], extended: bool) -> Result<Self, Malformed> {
        let (code, identifier, data) = read_header(buf)?;
        let body = match code {
            1 => Body::ConfigureRequest(decode_options(data)?),
            2 => Body::ConfigureAck(decode_options(data)?),
            3 => Body::ConfigureNak(decode_options(data)?),
            4 => Body::ConfigureReject(decode_options(data)?),
            5 => Body::TerminateRequest(data.to_vec()),
            6 => Body::TerminateAck(data.to_vec()),
            7 => Body::CodeReject(data.to_vec()),
            8 if extended => {
                let mut r = Reader::new(data);
                let protocol = r.u16().map_err(|_| Malformed)?;
                Body::ProtocolReject {
                    protocol,
                    information: r.rest().to_vec(),
                }
            }
            9 if extended => {
                let (magic, data) = magic_and_data(data)?;
                Body::EchoRequest { magic, data }
            }
            10 if extended => {
                let (magic, data) = magic_and_data(data)?;
                Body::EchoReply { magic, data }
            }
            11 if extended => {
                let (magic, data) = magic_and_data(data)?;
                Body::DiscardRequest { magic, data }
            }
            _ => Body::Unknown {
                code,
                data: data.to_vec(),
            },
        };
        Ok(CpPacket { identifier, body })
    }

    /// The code octet of this packet.
    pub fn code(&self) -> u8 {
        match &self.body {
            Body::ConfigureRequest(_) => Code::ConfigureRequest as u8,
            Body::ConfigureAck(_) => Code::ConfigureAck as u8,
            Body::ConfigureNak(_) => Code::ConfigureNak as u8,
            Body::ConfigureReject(_) => Code::ConfigureReject as u8,
            Body::TerminateRequest(_) => Code::TerminateRequest as u8,
            Body::TerminateAck(_) => Code::TerminateAck as u8,
            Body::CodeReject(_) => Code::CodeReject as u8,
            Body::ProtocolReject { .. } => Code::ProtocolReject as u8,
            Body::EchoRequest { .. } => Code::EchoRequest as u8,
            Body::EchoReply { .. } => Code::EchoReply as u8,
            Body::DiscardRequest { .. } => Code::DiscardRequest as u8,
            Body::Unknown { code, .. } => *code,
        }
    }

    /// Encodes the packet (without the PPP protocol field).
    pub fn encode(&self) -> Result<Vec<u8>, Malformed> {
        let mut data = packet_buffer(64);
        match &self.body {
            Body::ConfigureRequest(o)
            | Body::ConfigureAck(o)
            | Body::ConfigureNak(o)
            | Body::ConfigureReject(o) => encode_options(o, &mut data)?,
            Body::TerminateRequest(d)
            | Body::TerminateAck(d)
            | Body::CodeReject(d)
            | Body::Unknown { data: d, .. } => data.extend_from_slice(d),
            Body::ProtocolReject {
                protocol,
                information,
            } => {
                data.extend_from_slice(&protocol.to_be_bytes());
                data.extend_from_slice(information);
            }
            Body::EchoRequest { magic, data: d }
            | Body::EchoReply { magic, data: d }
            | Body::DiscardRequest { magic, data: d } => {
                data.extend_from_slice(&magic.to_be_bytes());
                data.extend_from_slice(d);
            }
        }
        finish_packet(data, self.code(), self.identifier)
    }
}
