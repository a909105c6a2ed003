//! CHAP packets (RFC 1994 §4) and the MD5 response (RFC 1994 §4.1).
//!
//! ```text
//! Challenge/Response: Code=1/2 | Id | Length | Value-Size | Value | Name
//! Success/Failure:    Code=3/4 | Id | Length | Message
//! ```
//!
//! MS-CHAPv2 (RFC 2759) uses these same packets; see [`super::mschapv2`]
//! for its value and message formats.

use super::{Malformed, finish_packet, packet_buffer, read_header};
use crate::octets::Reader;
use md5::{Digest, Md5};

/// The Challenge code (RFC 1994 §4.1).
pub const CHALLENGE: u8 = 1;
/// The Response code (RFC 1994 §4.1).
pub const RESPONSE: u8 = 2;
/// The Success code (RFC 1994 §4.2).
pub const SUCCESS: u8 = 3;
/// The Failure code (RFC 1994 §4.2).
pub const FAILURE: u8 = 4;

/// A CHAP packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChapPacket {
    /// Challenge (code 1).
    Challenge {
        /// Identifier.
        identifier: u8,
        /// Challenge value.
        value: Vec<u8>,
        /// Authenticator name.
        name: Vec<u8>,
    },
    /// Response (code 2).
    Response {
        /// Identifier (copied from the Challenge).
        identifier: u8,
        /// Response value.
        value: Vec<u8>,
        /// Peer name.
        name: Vec<u8>,
    },
    /// Success (code 3).
    Success {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: Vec<u8>,
    },
    /// Failure (code 4).
    Failure {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: Vec<u8>,
    },
    /// Any other code (e.g. MS-CHAPv2 Change-Password, code 7), kept.
    Other {
        /// Code.
        code: u8,
        /// Identifier.
        identifier: u8,
        /// Data.
        data: Vec<u8>,
    },
}

impl ChapPacket {
    /// Decodes a CHAP packet.
    pub fn decode(buf: &[u8]) -> Result<Self, Malformed> {
        let (code, identifier, data) = read_header(buf)?;
        let value_name = || -> Result<(Vec<u8>, Vec<u8>), Malformed> {
            let (v, n) = split_value_name(data)?;
            Ok((v.to_vec(), n.to_vec()))
        };
        Ok(match code {
            CHALLENGE => {
                let (value, name) = value_name()?;
                ChapPacket::Challenge {
                    identifier,
                    value,
                    name,
                }
            }
            RESPONSE => {
                let (value, name) = value_name()?;
                ChapPacket::Response {
                    identifier,
                    value,
                    name,
                }
            }
            SUCCESS => ChapPacket::Success {
                identifier,
                message: data.to_vec(),
            },
            FAILURE => ChapPacket::Failure {
                identifier,
                message: data.to_vec(),
            },
            _ => ChapPacket::Other {
                code,
                identifier,
                data: data.to_vec(),
            },
        })
    }

    /// Encodes the packet; a value over 255 octets is refused.
    pub fn encode(&self) -> Result<Vec<u8>, Malformed> {
        match self {
            ChapPacket::Challenge {
                identifier,
                value,
                name,
            } => encode_value_name(CHALLENGE, *identifier, value, name),
            ChapPacket::Response {
                identifier,
                value,
                name,
            } => encode_value_name(RESPONSE, *identifier, value, name),
            ChapPacket::Success {
                identifier,
                message,
            } => encode_message(SUCCESS, *identifier, message),
            ChapPacket::Failure {
                identifier,
                message,
            } => encode_message(FAILURE, *identifier, message),
            ChapPacket::Other {
                code,
                identifier,
                data,
            } => encode_message(*code, *identifier, data),
        }
    }
}

/// A Response (code 2) read in place: its identifier, value and name,
/// borrowed from `buf` (what [`ChapPacket::decode`] copies out). For the
/// authenticator, which copies only the name it keeps.
pub fn response_parts(buf: &[u8]) -> Result<(u8, &[u8], &[u8]), Malformed> {
    match read_header(buf)? {
        (RESPONSE, identifier, data) => {
            let (value, name) = split_value_name(data)?;
            Ok((identifier, value, name))
        }
        _ => Err(Malformed),
    }
}

/// The Value-Size, Value and Name of a Challenge or Response (RFC 1994
/// §4.1) in its data.
fn split_value_name(data: &[u8]) -> Result<(&[u8], &[u8]), Malformed> {
    let mut r = Reader::new(data);
    let n = r.u8().map_err(|_| Malformed)?;
    let v = r.bytes(usize::from(n)).map_err(|_| Malformed)?;
    Ok((v, r.rest()))
}

/// A Challenge (code 1) or Response (code 2) from its parts where they
/// lie: what [`ChapPacket::encode`] writes, for a caller that keeps them
/// (the authenticator's challenge and name) and would otherwise copy them
/// into a packet only to encode it. A value over 255 octets is refused.
pub fn encode_value_name(
    code: u8,
    identifier: u8,
    value: &[u8],
    name: &[u8],
) -> Result<Vec<u8>, Malformed> {
    let mut d = packet_buffer(1 + value.len() + name.len());
    d.push(u8::try_from(value.len()).map_err(|_| Malformed)?);
    d.extend_from_slice(value);
    d.extend_from_slice(name);
    finish_packet(d, code, identifier)
}

/// A packet of `code` whose data is `message` (Success, Failure, or a
/// code kept as [`ChapPacket::Other`]), from a borrowed message.
pub fn encode_message(code: u8, identifier: u8, message: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut d = packet_buffer(message.len());
    d.extend_from_slice(message);
    finish_packet(d, code, identifier)
}

/// The CHAP-MD5 response value: `MD5(Identifier ‖ secret ‖ challenge)`
/// (RFC 1994 §4.1).
pub fn md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The borrowed read of a Response finds what the copying decoder
    /// finds, and refuses what it is not.
    #[test]
    fn a_response_read_in_place_is_the_decoded_one() {
        let r = ChapPacket::Response {
            identifier: 7,
            value: vec![0x5a; 16],
            name: b"alice@isp".to_vec(),
        }
        .encode()
        .unwrap();
        assert_eq!(
            response_parts(&r),
            Ok((7, &[0x5a; 16][..], &b"alice@isp"[..]))
        );
        let challenge = ChapPacket::Challenge {
            identifier: 7,
            value: vec![1; 16],
            name: b"lns".to_vec(),
        }
        .encode()
        .unwrap();
        assert_eq!(response_parts(&challenge), Err(Malformed));
        // A Value-Size past the packet's end.
        let mut short = r.clone();
        short[4] = 40;
        assert_eq!(response_parts(&short), Err(Malformed));
        assert_eq!(ChapPacket::decode(&short), Err(Malformed));
        assert_eq!(response_parts(&r[..3]), Err(Malformed));
    }

    #[test]
    fn challenge_response_round_trip() {
        let c = ChapPacket::Challenge {
            identifier: 9,
            value: vec![0xab; 16],
            name: b"lns".to_vec(),
        };
        let b = c.encode().unwrap();
        assert_eq!(&b[..5], &[1, 9, 0, 24, 16]);
        assert_eq!(ChapPacket::decode(&b).unwrap(), c);
        let v = md5_response(9, b"secret", &[0xab; 16]);
        let mut h = Md5::new();
        h.update([9u8, b's', b'e', b'c', b'r', b'e', b't']);
        h.update([0xab; 16]);
        assert_eq!(v, <[u8; 16]>::from(h.finalize()));
        // Value-Size beyond the packet.
        assert_eq!(ChapPacket::decode(&[2, 1, 0, 6, 9, 0]), Err(Malformed));
    }
}
