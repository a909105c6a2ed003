//! IPCP configuration options (RFC 1332 §3, DNS/NBNS from RFC 1877 §1).
//!
//! | Type | Option |
//! |------|--------|
//! | 3 | IP-Address |
//! | 129 | Primary DNS Server Address |
//! | 130 | Primary NBNS Server Address |
//! | 131 | Secondary DNS Server Address |
//! | 132 | Secondary NBNS Server Address |
//!
//! IP-Addresses (1, deprecated) and IP-Compression-Protocol (2, Van
//! Jacobson, not offered by an LNS) decode to `Unknown` and get rejected.

use super::packet::{CpPacket, PppOption};
use core::net::Ipv4Addr;

/// Option type numbers.
pub mod kind {
    /// IP-Compression-Protocol.
    pub const IP_COMPRESSION: u8 = 2;
    /// IP-Address.
    pub const IP_ADDRESS: u8 = 3;
    /// Primary DNS.
    pub const PRIMARY_DNS: u8 = 129;
    /// Primary NBNS.
    pub const PRIMARY_NBNS: u8 = 130;
    /// Secondary DNS.
    pub const SECONDARY_DNS: u8 = 131;
    /// Secondary NBNS.
    pub const SECONDARY_NBNS: u8 = 132;
}

/// An IPCP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcpOption {
    /// IP-Address (0.0.0.0 asks the peer to assign one).
    IpAddress(Ipv4Addr),
    /// Primary DNS server.
    PrimaryDns(Ipv4Addr),
    /// Primary NBNS server.
    PrimaryNbns(Ipv4Addr),
    /// Secondary DNS server.
    SecondaryDns(Ipv4Addr),
    /// Secondary NBNS server.
    SecondaryNbns(Ipv4Addr),
    /// Unknown type or wrong length: data kept for Configure-Reject.
    Unknown {
        /// Type octet.
        kind: u8,
        /// Data as received.
        data: Vec<u8>,
    },
}

impl PppOption for IpcpOption {
    fn decode(k: u8, data: &[u8]) -> Self {
        let Ok(a) = <[u8; 4]>::try_from(data) else {
            return IpcpOption::Unknown {
                kind: k,
                data: data.to_vec(),
            };
        };
        let a = Ipv4Addr::from(a);
        match k {
            kind::IP_ADDRESS => IpcpOption::IpAddress(a),
            kind::PRIMARY_DNS => IpcpOption::PrimaryDns(a),
            kind::PRIMARY_NBNS => IpcpOption::PrimaryNbns(a),
            kind::SECONDARY_DNS => IpcpOption::SecondaryDns(a),
            kind::SECONDARY_NBNS => IpcpOption::SecondaryNbns(a),
            _ => IpcpOption::Unknown {
                kind: k,
                data: data.to_vec(),
            },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            IpcpOption::IpAddress(_) => kind::IP_ADDRESS,
            IpcpOption::PrimaryDns(_) => kind::PRIMARY_DNS,
            IpcpOption::PrimaryNbns(_) => kind::PRIMARY_NBNS,
            IpcpOption::SecondaryDns(_) => kind::SECONDARY_DNS,
            IpcpOption::SecondaryNbns(_) => kind::SECONDARY_NBNS,
            IpcpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            IpcpOption::IpAddress(a)
            | IpcpOption::PrimaryDns(a)
            | IpcpOption::PrimaryNbns(a)
            | IpcpOption::SecondaryDns(a)
            | IpcpOption::SecondaryNbns(a) => out.extend_from_slice(&a.octets()),
            IpcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// An IPCP packet (codes 1–7).
pub type IpcpPacket = CpPacket<IpcpOption>;

impl IpcpPacket {
    /// Decodes an IPCP packet; codes above 7 become `Body::Unknown`.
    pub fn decode_ipcp(buf: &[u8]) -> Result<Self, super::Malformed> {
        Self::decode(buf, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::packet::Body;

    #[test]
    fn nak_with_address_and_dns() {
        let p = IpcpPacket {
            identifier: 2,
            body: Body::ConfigureNak(
                vec![
                    IpcpOption::IpAddress(Ipv4Addr::new(100, 64, 0, 7)),
                    IpcpOption::PrimaryDns(Ipv4Addr::new(192, 0, 2, 53)),
                    IpcpOption::SecondaryDns(Ipv4Addr::new(192, 0, 2, 54)),
                ]
                .into(),
            ),
        };
        let b = p.encode().unwrap();
        assert_eq!(
            b,
            [
                3, 2, 0, 22, 3, 6, 100, 64, 0, 7, 129, 6, 192, 0, 2, 53, 131, 6, 192, 0, 2, 54
            ]
        );
        assert_eq!(IpcpPacket::decode_ipcp(&b).unwrap(), p);
    }

    #[test]
    fn vj_compression_is_unknown_and_echo_is_not_ipcp() {
        let b = [1, 1, 0, 10, 2, 6, 0x00, 0x2d, 0x0f, 0x01];
        let p = IpcpPacket::decode_ipcp(&b).unwrap();
        assert_eq!(
            p.body,
            Body::ConfigureRequest(
                vec![IpcpOption::Unknown {
                    kind: 2,
                    data: vec![0, 0x2d, 0x0f, 1]
                }]
                .into()
            )
        );
        let e = IpcpPacket::decode_ipcp(&[9, 1, 0, 8, 0, 0, 0, 0]).unwrap();
        assert!(matches!(e.body, Body::Unknown { code: 9, .. }));
    }
}
