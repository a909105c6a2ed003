//! The PPP frame header as carried in L2TP data messages (RFC 1661 §2,
//! RFC 1662 §3).
//!
//! ```text
//! +----------+----------+----------+----------+------------
//! | Address  | Control  | Protocol (1 or 2)   | Information
//! |   0xFF   |   0x03   |                     |
//! +----------+----------+----------+----------+------------
//!  (absent when Address-and-Control-Field-Compression is in use)
//! ```
//!
//! L2TP carries PPP without HDLC flags, FCS or byte stuffing (RFC 2661
//! §5.3), but LACs still send the FF03 address/control prefix unless ACFC was
//! negotiated, so both forms are accepted. A protocol whose first octet is
//! odd is one octet long (Protocol-Field-Compression, RFC 1661 §6.5).
//! A two-octet protocol must have an even high octet and an odd low octet
//! (RFC 1661 §2); anything else is [`Error::Malformed`].

use super::{Error, Result};

/// PPP protocol numbers the LNS handles (RFC 1661 §2, IANA PPP DLL numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PppProtocol(pub u16);

impl PppProtocol {
    /// Internet Protocol version 4.
    pub const IPV4: PppProtocol = PppProtocol(0x0021);
    /// Internet Protocol version 6.
    pub const IPV6: PppProtocol = PppProtocol(0x0057);
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: PppProtocol = PppProtocol(0x8021);
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: PppProtocol = PppProtocol(0x8057);
    /// Compression Control Protocol (RFC 1962).
    pub const CCP: PppProtocol = PppProtocol(0x80fd);
    /// Link Control Protocol.
    pub const LCP: PppProtocol = PppProtocol(0xc021);
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: PppProtocol = PppProtocol(0xc023);
    /// Challenge Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: PppProtocol = PppProtocol(0xc223);

    /// True when the value obeys RFC 1661 §2 (odd low octet, even high octet).
    pub const fn is_valid(self) -> bool {
        self.0 & 0x0001 == 1 && self.0 & 0x0100 == 0
    }

    /// True for network-layer data protocols (0x0xxx-0x3xxx), as opposed to
    /// control protocols (0x8xxx and up, RFC 1661 §2).
    pub const fn is_network_layer(self) -> bool {
        self.0 < 0x4000
    }
}

const ADDRESS: u8 = 0xff;
const CONTROL: u8 = 0x03;

/// A read view of a PPP frame.
#[derive(Debug, Clone)]
pub struct PppFrame<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
    protocol: PppProtocol,
    address_control: bool,
}

impl<T: AsRef<[u8]>> PppFrame<T> {
    /// Wraps `buffer`, finding the header length (1 to 4 octets).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        let ac = b.len() >= 2 && b[0] == ADDRESS && b[1] == CONTROL;
        let at = if ac { 2 } else { 0 };
        let Some(&first) = b.get(at) else {
            return Err(Error::Truncated);
        };
        let (protocol, header_len) = if first & 1 == 1 {
            (PppProtocol(u16::from(first)), at + 1)
        } else {
            let Some(&second) = b.get(at + 1) else {
                return Err(Error::Truncated);
            };
            (PppProtocol(u16::from_be_bytes([first, second])), at + 2)
        };
        if !protocol.is_valid() {
            return Err(Error::Malformed);
        }
        Ok(PppFrame {
            buffer,
            header_len,
            protocol,
            address_control: ac,
        })
    }

    /// Header length: address/control (0 or 2) plus protocol (1 or 2).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// True when the FF03 prefix is present.
    pub fn has_address_control(&self) -> bool {
        self.address_control
    }

    /// The protocol field.
    pub fn protocol(&self) -> PppProtocol {
        self.protocol
    }

    /// The information field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len..]
    }
}

impl<'a> PppFrame<&'a [u8]> {
    /// The payload with the buffer's own lifetime, outliving the view.
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[self.header_len..]
    }
}

/// The parsed content of a PPP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PppRepr {
    /// FF03 present.
    pub address_control: bool,
    /// Protocol field.
    pub protocol: PppProtocol,
    /// Protocol field sent as one octet.
    pub compressed_protocol: bool,
}

impl PppRepr {
    /// Header with FF03 and a two-octet protocol, the form every peer
    /// accepts before LCP negotiates compression.
    pub const fn uncompressed(protocol: PppProtocol) -> PppRepr {
        PppRepr {
            address_control: true,
            protocol,
            compressed_protocol: false,
        }
    }

    /// Reads a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &PppFrame<T>) -> Result<PppRepr> {
        let ac = f.has_address_control();
        Ok(PppRepr {
            address_control: ac,
            protocol: f.protocol(),
            compressed_protocol: f.header_len() - if ac { 2 } else { 0 } == 1,
        })
    }

    /// Header length this repr emits.
    pub fn buffer_len(&self) -> usize {
        (if self.address_control { 2 } else { 0 }) + if self.compressed_protocol { 1 } else { 2 }
    }

    /// Writes the header. Refuses an invalid protocol and compression of a
    /// protocol that does not fit one octet.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < self.buffer_len() {
            return Err(Error::Truncated);
        }
        if !self.protocol.is_valid() || (self.compressed_protocol && self.protocol.0 > 0xff) {
            return Err(Error::Malformed);
        }
        let mut at = 0;
        if self.address_control {
            buf[0] = ADDRESS;
            buf[1] = CONTROL;
            at = 2;
        }
        if self.compressed_protocol {
            buf[at] = self.protocol.0 as u8;
        } else {
            buf[at..at + 2].copy_from_slice(&self.protocol.0.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_forms() {
        let cases: [(&[u8], bool, u16, bool); 4] = [
            (&[0xff, 0x03, 0xc0, 0x21, 1], true, 0xc021, false),
            (&[0xc0, 0x21, 1], false, 0xc021, false),
            (&[0xff, 0x03, 0x21, 0x45], true, 0x0021, true),
            (&[0x21, 0x45], false, 0x0021, true),
        ];
        for (bytes, ac, proto, pfc) in cases {
            let f = PppFrame::new_checked(bytes).unwrap();
            let r = PppRepr::parse(&f).unwrap();
            assert_eq!(r.address_control, ac, "{bytes:02x?}");
            assert_eq!(r.protocol, PppProtocol(proto));
            assert_eq!(r.compressed_protocol, pfc);
            let mut out = vec![0; r.buffer_len()];
            r.emit(&mut out).unwrap();
            assert_eq!(out[..], bytes[..r.buffer_len()]);
            assert_eq!(f.payload(), &bytes[r.buffer_len()..]);
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            PppFrame::new_checked(&[][..]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            PppFrame::new_checked(&[0xff, 0x03][..]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            PppFrame::new_checked(&[0xc0][..]).unwrap_err(),
            Error::Truncated
        );
        // Even low octet.
        assert_eq!(
            PppFrame::new_checked(&[0x00, 0x20][..]).unwrap_err(),
            Error::Malformed
        );
        let r = PppRepr {
            address_control: false,
            protocol: PppProtocol::LCP,
            compressed_protocol: true,
        };
        assert_eq!(r.emit(&mut [0; 1]).unwrap_err(), Error::Malformed);
    }
}
