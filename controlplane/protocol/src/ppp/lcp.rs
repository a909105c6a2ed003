//! LCP configuration options (RFC 1661 §6, ACCM from RFC 1662 §7.1).
//!
//! | Type | Option | Data |
//! |------|--------|------|
//! | 1 | Maximum-Receive-Unit | u16 |
//! | 2 | Async-Control-Character-Map | u32 |
//! | 3 | Authentication-Protocol | u16 protocol + data (CHAP: algorithm) |
//! | 5 | Magic-Number | u32 |
//! | 7 | Protocol-Field-Compression | none |
//! | 8 | Address-and-Control-Field-Compression | none |

use super::packet::{CpPacket, PppOption};

/// CHAP algorithm octet for MD5 (RFC 1994 §3).
pub const CHAP_MD5: u8 = 5;
/// CHAP algorithm octet for MS-CHAPv2 (RFC 2759 §2).
pub const CHAP_MSV2: u8 = 0x81;

/// The Authentication-Protocol option's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// PAP, 0xC023 (RFC 1334 §2.1).
    Pap,
    /// CHAP with MD5, 0xC223 05 (RFC 1994 §3).
    ChapMd5,
    /// MS-CHAPv2, 0xC223 81 (RFC 2759 §2).
    MsChapV2,
    /// Any other protocol or CHAP algorithm, kept to Nak or Reject.
    Other {
        /// Protocol number.
        protocol: u16,
        /// Following data.
        data: Vec<u8>,
    },
}

/// An LCP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LcpOption {
    /// Maximum-Receive-Unit.
    Mru(u16),
    /// Async-Control-Character-Map.
    Accm(u32),
    /// Authentication-Protocol.
    AuthProtocol(AuthProtocol),
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    Pfc,
    /// Address-and-Control-Field-Compression.
    Acfc,
    /// Unknown type or wrong length: data kept for Configure-Reject.
    Unknown {
        /// Type octet.
        kind: u8,
        /// Data as received.
        data: Vec<u8>,
    },
}

/// Option type numbers.
pub mod kind {
    /// Maximum-Receive-Unit.
    pub const MRU: u8 = 1;
    /// Async-Control-Character-Map.
    pub const ACCM: u8 = 2;
    /// Authentication-Protocol.
    pub const AUTH_PROTOCOL: u8 = 3;
    /// Magic-Number.
    pub const MAGIC_NUMBER: u8 = 5;
    /// Protocol-Field-Compression.
    pub const PFC: u8 = 7;
    /// Address-and-Control-Field-Compression.
    pub const ACFC: u8 = 8;
}

impl PppOption for LcpOption {
    fn decode(k: u8, data: &[u8]) -> Self {
        let unknown = || LcpOption::Unknown {
            kind: k,
            data: data.to_vec(),
        };
        match (k, data) {
            (kind::MRU, &[a, b]) => LcpOption::Mru(u16::from_be_bytes([a, b])),
            (kind::ACCM, &[a, b, c, d]) => LcpOption::Accm(u32::from_be_bytes([a, b, c, d])),
            (kind::AUTH_PROTOCOL, &[a, b, ref rest @ ..]) => {
                let protocol = u16::from_be_bytes([a, b]);
                LcpOption::AuthProtocol(match (protocol, rest) {
                    (0xc023, []) => AuthProtocol::Pap,
                    (0xc223, [CHAP_MD5]) => AuthProtocol::ChapMd5,
                    (0xc223, [CHAP_MSV2]) => AuthProtocol::MsChapV2,
                    _ => AuthProtocol::Other {
                        protocol,
                        data: rest.to_vec(),
                    },
                })
            }
            (kind::MAGIC_NUMBER, &[a, b, c, d]) => {
                LcpOption::MagicNumber(u32::from_be_bytes([a, b, c, d]))
            }
            (kind::PFC, []) => LcpOption::Pfc,
            (kind::ACFC, []) => LcpOption::Acfc,
            _ => unknown(),
        }
    }

    fn kind(&self) -> u8 {
        match self {
            LcpOption::Mru(_) => kind::MRU,
            LcpOption::Accm(_) => kind::ACCM,
            LcpOption::AuthProtocol(_) => kind::AUTH_PROTOCOL,
            LcpOption::MagicNumber(_) => kind::MAGIC_NUMBER,
            LcpOption::Pfc => kind::PFC,
            LcpOption::Acfc => kind::ACFC,
            LcpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            LcpOption::Mru(v) => out.extend_from_slice(&v.to_be_bytes()),
            LcpOption::Accm(v) | LcpOption::MagicNumber(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            LcpOption::AuthProtocol(a) => match a {
                AuthProtocol::Pap => out.extend_from_slice(&[0xc0, 0x23]),
                AuthProtocol::ChapMd5 => out.extend_from_slice(&[0xc2, 0x23, CHAP_MD5]),
                AuthProtocol::MsChapV2 => out.extend_from_slice(&[0xc2, 0x23, CHAP_MSV2]),
                AuthProtocol::Other { protocol, data } => {
                    out.extend_from_slice(&protocol.to_be_bytes());
                    out.extend_from_slice(data);
                }
            },
            LcpOption::Pfc | LcpOption::Acfc => {}
            LcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// An LCP packet (codes 1–11).
pub type LcpPacket = CpPacket<LcpOption>;

impl LcpPacket {
    /// Decodes an LCP packet.
    pub fn decode_lcp(buf: &[u8]) -> Result<Self, super::Malformed> {
        Self::decode(buf, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::packet::Body;

    #[test]
    fn configure_request_from_a_capture() {
        // pppd's usual first Configure-Request: MRU 1492, auth CHAP-MD5,
        // magic 0x01020304, PFC, ACFC.
        let b = [
            0x01, 0x07, 0x00, 0x15, 0x01, 0x04, 0x05, 0xd4, 0x03, 0x05, 0xc2, 0x23, 0x05, 0x05,
            0x06, 0x01, 0x02, 0x03, 0x04, 0x07, 0x02, 0x08, 0x02,
        ];
        // Length says 0x15 = 21: the final ACFC option lies outside and is
        // padding (RFC 1661 §5).
        let p = LcpPacket::decode_lcp(&b).unwrap();
        assert_eq!(p.identifier, 7);
        assert_eq!(
            p.body,
            Body::ConfigureRequest(
                vec![
                    LcpOption::Mru(1492),
                    LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                    LcpOption::MagicNumber(0x0102_0304),
                    LcpOption::Pfc,
                ]
                .into()
            )
        );
        assert_eq!(p.encode().unwrap(), b[..21]);
    }

    #[test]
    fn wrong_length_and_unknown_options_are_kept_for_reject() {
        let opts: crate::ppp::packet::Options<LcpOption> =
            crate::ppp::packet::decode_options(&[0x01, 0x03, 0x05, 0x0d, 0x03, 0x06]).unwrap();
        assert_eq!(
            opts[..],
            [
                LcpOption::Unknown {
                    kind: 1,
                    data: vec![5]
                },
                LcpOption::Unknown {
                    kind: 13,
                    data: vec![6]
                },
            ]
        );
        let mut out = Vec::new();
        crate::ppp::packet::encode_options(&opts, &mut out).unwrap();
        assert_eq!(out, [0x01, 0x03, 0x05, 0x0d, 0x03, 0x06]);
    }

    #[test]
    fn malformed_lists_and_lengths() {
        use crate::ppp::Malformed;
        assert_eq!(
            crate::ppp::packet::decode_options::<LcpOption>(&[1, 1]),
            Err(Malformed)
        );
        assert_eq!(
            crate::ppp::packet::decode_options::<LcpOption>(&[1, 4, 0]),
            Err(Malformed)
        );
        assert_eq!(LcpPacket::decode_lcp(&[1, 1, 0, 3]), Err(Malformed));
        assert_eq!(LcpPacket::decode_lcp(&[1, 1, 0, 9, 0]), Err(Malformed));
        // Echo-Request without a magic number.
        assert_eq!(LcpPacket::decode_lcp(&[9, 1, 0, 6, 0, 0]), Err(Malformed));
    }

    #[test]
    fn extended_codes() {
        let echo = LcpPacket {
            identifier: 3,
            body: Body::EchoRequest {
                magic: 0xdead_beef,
                data: vec![1],
            },
        };
        let b = echo.encode().unwrap();
        assert_eq!(b, [9, 3, 0, 9, 0xde, 0xad, 0xbe, 0xef, 1]);
        assert_eq!(LcpPacket::decode_lcp(&b).unwrap(), echo);
        let pr = LcpPacket {
            identifier: 4,
            body: Body::ProtocolReject {
                protocol: 0x80fd,
                information: vec![1, 2],
            },
        };
        assert_eq!(LcpPacket::decode_lcp(&pr.encode().unwrap()).unwrap(), pr);
        // Code 12 is not LCP's: kept for Code-Reject.
        let u = LcpPacket::decode_lcp(&[12, 1, 0, 5, 9]).unwrap();
        assert_eq!(
            u.body,
            Body::Unknown {
                code: 12,
                data: vec![9]
            }
        );
    }
}
