//! IPv6CP configuration options (RFC 5072 §4).
//!
//! Only Interface-Identifier (type 1, 8 octets) is interpreted;
//! IPv6-Compression-Protocol (2) decodes to `Unknown` and gets rejected.

use super::packet::{CpPacket, PppOption};

/// Interface-Identifier option type.
pub const INTERFACE_IDENTIFIER: u8 = 1;

/// An IPv6CP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ipv6cpOption {
    /// Interface-Identifier (RFC 5072 §4.1); all zeros asks the peer for one.
    InterfaceIdentifier([u8; 8]),
    /// Unknown type or wrong length: data kept for Configure-Reject.
    Unknown {
        /// Type octet.
        kind: u8,
        /// Data as received.
        data: Vec<u8>,
    },
}

impl PppOption for Ipv6cpOption {
    fn decode(kind: u8, data: &[u8]) -> Self {
        match (kind, <[u8; 8]>::try_from(data)) {
            (INTERFACE_IDENTIFIER, Ok(id)) => Ipv6cpOption::InterfaceIdentifier(id),
            _ => Ipv6cpOption::Unknown {
                kind,
                data: data.to_vec(),
            },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Ipv6cpOption::InterfaceIdentifier(_) => INTERFACE_IDENTIFIER,
            Ipv6cpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            Ipv6cpOption::InterfaceIdentifier(id) => out.extend_from_slice(id),
            Ipv6cpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// An IPv6CP packet (codes 1–7).
pub type Ipv6cpPacket = CpPacket<Ipv6cpOption>;

impl Ipv6cpPacket {
    /// Decodes an IPv6CP packet; codes above 7 become `Body::Unknown`.
    pub fn decode_ipv6cp(buf: &[u8]) -> Result<Self, super::Malformed> {
        Self::decode(buf, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::packet::Body;

    #[test]
    fn interface_identifier() {
        let id = [0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
        let p = Ipv6cpPacket {
            identifier: 1,
            body: Body::ConfigureRequest(vec![Ipv6cpOption::InterfaceIdentifier(id)].into()),
        };
        let b = p.encode().unwrap();
        assert_eq!(&b[..6], &[1, 1, 0, 14, 1, 10]);
        assert_eq!(Ipv6cpPacket::decode_ipv6cp(&b).unwrap(), p);
        let short = Ipv6cpPacket::decode_ipv6cp(&[1, 1, 0, 8, 1, 4, 1, 2]).unwrap();
        assert_eq!(
            short.body,
            Body::ConfigureRequest(
                vec![Ipv6cpOption::Unknown {
                    kind: 1,
                    data: vec![1, 2]
                }]
                .into()
            )
        );
    }
}
