//! UDP headers (RFC 768) with pseudo-header checksums for IPv4 and IPv6.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```
//!
//! A zero checksum means "not computed" on IPv4 (RFC 768) and is accepted
//! there; on IPv6 it is invalid (RFC 8200 §8.1) and refused. A computed sum
//! of zero is sent as 0xFFFF on both.

use super::{Error, Result, be, checksum};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const HEADER_LEN: usize = 8;
}

/// The well-known L2TP port (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

/// UDP's IP protocol number.
const UDP_PROTOCOL: u8 = 17;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = UdpPacket { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Checks `8 <= Length <= buffer length`.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < field::HEADER_LEN {
            return Err(Error::Malformed);
        }
        if b.len() < len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header plus payload).
    pub fn len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::LENGTH)
    }

    /// True when the Length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == field::HEADER_LEN
    }

    /// Stored checksum.
    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload, bounded by the Length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..usize::from(self.len())]
    }

    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// Verifies the checksum; a zero checksum on IPv4 means "none" and passes.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.verify_checksum_v4(s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.verify_checksum_v6(s, d),
            _ => false,
        }
    }

    /// IPv4 rule: zero means no checksum was computed.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let ph = checksum::pseudo_header_v4(src, dst, UDP_PROTOCOL, self.len());
        checksum::combine(&[ph, checksum::sum(self.datagram())]) == 0xffff
    }

    /// IPv6 rule: the checksum is mandatory, zero is invalid.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let ph = checksum::pseudo_header_v6(src, dst, UDP_PROTOCOL, u32::from(self.len()));
        checksum::combine(&[ph, checksum::sum(self.datagram())]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Computes and stores the checksum over the datagram and pseudo-header.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<()> {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let ph = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                checksum::pseudo_header_v4(s, d, UDP_PROTOCOL, self.len())
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                checksum::pseudo_header_v6(s, d, UDP_PROTOCOL, u32::from(self.len()))
            }
            _ => return Err(Error::Malformed),
        };
        let mut c = !checksum::combine(&[ph, checksum::sum(self.datagram())]);
        if c == 0 {
            c = 0xffff;
        }
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM, c);
        Ok(())
    }

    /// Stores a zero checksum ("not computed"); valid on IPv4 only.
    pub fn clear_checksum(&mut self) {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM, 0);
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[field::HEADER_LEN..len]
    }
}

impl<'a> UdpPacket<&'a [u8]> {
    /// The payload with the buffer's own lifetime, outliving the view.
    pub fn into_payload(self) -> &'a [u8] {
        let len = usize::from(self.len());
        &self.buffer[field::HEADER_LEN..len]
    }
}

/// The parsed content of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Header length.
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Reads a checked datagram, verifying its checksum for `src` → `dst`.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>, src: IpAddr, dst: IpAddr) -> Result<UdpRepr> {
        if !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: usize::from(p.len()) - field::HEADER_LEN,
        })
    }

    /// Header length this repr emits.
    pub const fn buffer_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Writes the header with a zero checksum. Once the payload is in place,
    /// call [`UdpPacket::fill_checksum`] (mandatory on IPv6).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len =
            u16::try_from(Self::HEADER_LEN + self.payload_len).map_err(|_| Error::Malformed)?;
        if buf.len() < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        be::put_u16(buf, field::SRC_PORT, self.src_port);
        be::put_u16(buf, field::DST_PORT, self.dst_port);
        be::put_u16(buf, field::LENGTH, len);
        be::put_u16(buf, field::CHECKSUM, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let r = UdpRepr {
            src_port: 1701,
            dst_port: 1701,
            payload_len: payload.len(),
        };
        let mut b = vec![0u8; 8 + payload.len()];
        r.emit(&mut b).unwrap();
        b[8..].copy_from_slice(payload);
        b
    }

    #[test]
    fn v4_checksum_and_zero_means_none() {
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut b = datagram(b"hello");
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        assert!(
            p.verify_checksum_v4(s, d),
            "zero checksum is accepted on v4"
        );
        p.fill_checksum(s.into(), d.into()).unwrap();
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum_v4(s, d));
        p.payload_mut()[0] ^= 0x40;
        assert!(!p.verify_checksum_v4(s, d));
        let r = UdpRepr::parse(&p, s.into(), d.into());
        assert_eq!(r.unwrap_err(), Error::Checksum);
    }

    #[test]
    fn v6_zero_checksum_refused() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());
        let mut b = datagram(b"x");
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        assert!(!p.verify_checksum_v6(s, d));
        p.fill_checksum(s.into(), d.into()).unwrap();
        let r = UdpRepr::parse(&p, s.into(), d.into()).unwrap();
        assert_eq!(r.payload_len, 1);
        assert_eq!((r.src_port, r.dst_port), (L2TP_PORT, L2TP_PORT));
    }

    #[test]
    fn length_field_checked() {
        let mut b = datagram(b"abcd");
        assert_eq!(
            UdpPacket::new_checked(&b[..11]).unwrap_err(),
            Error::Truncated
        );
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
    }
}
