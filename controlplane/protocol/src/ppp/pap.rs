//! PAP packets (RFC 1334 §2.2).
//!
//! ```text
//! Authenticate-Request: Code=1 | Id | Length | Peer-ID Length | Peer-Id | Passwd-Length | Password
//! Authenticate-Ack/Nak: Code=2/3 | Id | Length | Msg-Length | Message
//! ```

use super::{Malformed, finish_packet, packet_buffer, read_header};
use crate::octets::Reader;

/// A PAP packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PapPacket {
    /// Authenticate-Request (code 1).
    Request {
        /// Identifier.
        identifier: u8,
        /// Peer-ID (user name).
        peer_id: Vec<u8>,
        /// Password in clear.
        password: Vec<u8>,
    },
    /// Authenticate-Ack (code 2).
    Ack {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: Vec<u8>,
    },
    /// Authenticate-Nak (code 3).
    Nak {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: Vec<u8>,
    },
}

fn short_string<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Malformed> {
    let n = r.u8().map_err(|_| Malformed)?;
    r.bytes(usize::from(n)).map_err(|_| Malformed)
}

fn put_short_string(out: &mut Vec<u8>, s: &[u8]) -> Result<(), Malformed> {
    out.push(u8::try_from(s.len()).map_err(|_| Malformed)?);
    out.extend_from_slice(s);
    Ok(())
}

impl PapPacket {
    /// Decodes a PAP packet; unknown codes are malformed (RFC 1334 defines
    /// no Code-Reject for PAP, so they are discarded).
    pub fn decode(buf: &[u8]) -> Result<Self, Malformed> {
        let (code, identifier, data) = read_header(buf)?;
        let mut r = Reader::new(data);
        Ok(match code {
            1 => {
                let peer_id = short_string(&mut r)?.to_vec();
                let password = short_string(&mut r)?.to_vec();
                PapPacket::Request {
                    identifier,
                    peer_id,
                    password,
                }
            }
            2 => PapPacket::Ack {
                identifier,
                message: short_string(&mut r)?.to_vec(),
            },
            3 => PapPacket::Nak {
                identifier,
                message: short_string(&mut r)?.to_vec(),
            },
            _ => return Err(Malformed),
        })
    }

    /// Encodes the packet; strings over 255 octets are refused.
    pub fn encode(&self) -> Result<Vec<u8>, Malformed> {
        let mut d = packet_buffer(64);
        let (code, id) = match self {
            PapPacket::Request {
                identifier,
                peer_id,
                password,
            } => {
                put_short_string(&mut d, peer_id)?;
                put_short_string(&mut d, password)?;
                (1, *identifier)
            }
            PapPacket::Ack {
                identifier,
                message,
            } => {
                put_short_string(&mut d, message)?;
                (2, *identifier)
            }
            PapPacket::Nak {
                identifier,
                message,
            } => {
                put_short_string(&mut d, message)?;
                (3, *identifier)
            }
        };
        finish_packet(d, code, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let p = PapPacket::Request {
            identifier: 1,
            peer_id: b"alice".to_vec(),
            password: b"pw".to_vec(),
        };
        let b = p.encode().unwrap();
        assert_eq!(
            b,
            [1, 1, 0, 13, 5, b'a', b'l', b'i', b'c', b'e', 2, b'p', b'w']
        );
        assert_eq!(PapPacket::decode(&b).unwrap(), p);
        assert_eq!(PapPacket::decode(&[1, 1, 0, 6, 5, b'a']), Err(Malformed));
        assert_eq!(PapPacket::decode(&[4, 1, 0, 5, 0]), Err(Malformed));
    }
}
