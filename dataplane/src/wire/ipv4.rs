//! IPv4 headers (RFC 791) with header checksum and RFC 1624 incremental update.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `check_len` guarantees `20 <= IHL*4 <= Total Length <= buffer length`, so
//! [`Ipv4Packet::payload`] is the datagram's payload without link padding.
//! Options are skipped on parse and never emitted. Fragments are refused by
//! [`Ipv4Repr::parse`]: the data plane punts them to the kernel.

use super::{Error, Result, be, checksum};
use core::net::Ipv4Addr;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// IP protocol numbers used by the LNS.
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Ipv4Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header and the whole datagram fit the buffer and that
    /// IHL and Total Length agree.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < field::MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        if hl < field::MIN_HEADER_LEN || tl < hl {
            return Err(Error::Malformed);
        }
        if b.len() < tl {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in octets (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service octet (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length of the datagram.
    pub fn total_len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS_FRAG] & 0x40 != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS_FRAG] & 0x20 != 0
    }

    /// Fragment offset in octets.
    pub fn frag_offset(&self) -> u16 {
        (be::u16_at(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x1fff) * 8
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Stored header checksum.
    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::DST))
    }

    /// True when the header checksum is valid.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The payload, bounded by Total Length (link padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        be::put_u16(b, field::CHECKSUM, 0);
        let c = !checksum::sum(&b[..hl]);
        be::put_u16(b, field::CHECKSUM, c);
    }

    /// Decrements TTL, patching the checksum incrementally (RFC 1624 eqn. 3).
    /// Returns the new TTL; the caller drops the packet when it reaches 0.
    /// A TTL already 0 stays 0, and the checksum with it.
    pub fn decrement_ttl(&mut self) -> u8 {
        decrement_ttl(self.buffer.as_mut())
    }

    /// Rewrites Total Length, patching the checksum incrementally.
    pub fn set_total_len_incremental(&mut self, len: u16) {
        let b = self.buffer.as_mut();
        let old = be::u16_at(b, field::LENGTH);
        be::put_u16(b, field::LENGTH, len);
        let c = checksum::update(be::u16_at(b, field::CHECKSUM), old, len);
        be::put_u16(b, field::CHECKSUM, c);
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// The payload with the buffer's own lifetime, outliving the view.
    pub fn into_payload(self) -> &'a [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &self.buffer[h..t]
    }
}

/// The parsed content of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Payload length (Total Length minus header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN octet.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment flag.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Header length emitted (options are never emitted).
    pub const HEADER_LEN: usize = field::MIN_HEADER_LEN;

    /// Reads a checked packet: version 4, valid checksum, not a fragment.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        if p.version() != 4 {
            return Err(Error::Version(p.version()));
        }
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        if p.more_frags() || p.frag_offset() != 0 {
            return Err(Error::Fragment);
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    /// Header length this repr emits.
    pub const fn buffer_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Writes a 20-octet header with a valid checksum into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let total = Self::HEADER_LEN + self.payload_len;
        let total = u16::try_from(total).map_err(|_| Error::Malformed)?;
        if buf.len() < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        buf[field::VER_IHL] = 0x45;
        buf[field::TOS] = self.tos;
        be::put_u16(buf, field::LENGTH, total);
        be::put_u16(buf, field::IDENT, self.ident);
        be::put_u16(
            buf,
            field::FLAGS_FRAG,
            if self.dont_frag { 0x4000 } else { 0 },
        );
        buf[field::TTL] = self.ttl;
        buf[field::PROTOCOL] = self.protocol;
        be::put_u16(buf, field::CHECKSUM, 0);
        buf[field::SRC..field::SRC + 4].copy_from_slice(&self.src.octets());
        buf[field::DST..field::DST + 4].copy_from_slice(&self.dst.octets());
        let c = !checksum::sum(&buf[..Self::HEADER_LEN]);
        be::put_u16(buf, field::CHECKSUM, c);
        Ok(())
    }
}

/// [`Ipv4Packet::decrement_ttl`] on the header at the start of `b`
/// (at least 20 octets), for a caller that has checked the header itself
/// (the workers' express lanes).
#[inline]
pub fn decrement_ttl(b: &mut [u8]) -> u8 {
    let Some(ttl) = b[field::TTL].checked_sub(1) else {
        return 0;
    };
    b[field::TTL] = ttl;
    // The checksum's octets as they lie, not as a number: no swaps.
    let at = field::CHECKSUM;
    let c = checksum::update_ttl_down_swapped(u16::from_le_bytes([b[at], b[at + 1]]));
    b[at..at + 2].copy_from_slice(&c.to_le_bytes());
    ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    // A captured IPv4/UDP header (RFC 1071-style worked example).
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> Vec<u8> {
        let mut v = HDR.to_vec();
        v.extend_from_slice(&[0u8; 8]);
        let mut p = Ipv4Packet::new_checked(&mut v[..]).unwrap();
        p.fill_checksum();
        v
    }

    #[test]
    fn parse_and_emit() {
        let v = packet();
        // Checksum computed independently (python one-liner over the header).
        assert_eq!(&v[10..12], &[0x9c, 0x72]);
        let p = Ipv4Packet::new_checked(&v[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(r.dst, Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(r.protocol, protocol::UDP);
        assert_eq!(r.payload_len, 8);
        assert!(r.dont_frag);
        let mut out = [0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(out[..], v[..20]);
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut v = packet();
        let mut p = Ipv4Packet::new_checked(&mut v[..]).unwrap();
        for expect in (0..64).rev() {
            assert_eq!(p.decrement_ttl(), expect);
            assert!(p.verify_checksum(), "ttl {expect}");
        }
        p.set_total_len_incremental(27);
        assert!(p.verify_checksum());
    }

    #[test]
    fn refusals() {
        let v = packet();
        assert_eq!(
            Ipv4Packet::new_checked(&v[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&v[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut bad = v.clone();
        bad[0] = 0x44; // IHL 4
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        let mut bad = v.clone();
        bad[3] = 0x10; // total length 16 < header
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        let mut bad = v.clone();
        bad[15] ^= 1;
        let p = Ipv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Error::Checksum);
        let mut bad = v.clone();
        bad[0] = 0x65;
        let p = Ipv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Error::Version(6));
        let mut frag = v.clone();
        frag[6] = 0x20; // MF
        let mut p = Ipv4Packet::new_checked(&mut frag[..]).unwrap();
        p.fill_checksum();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Error::Fragment);
    }

    #[test]
    fn trailing_link_padding_is_not_payload() {
        let mut v = packet();
        v.extend_from_slice(&[0xee; 18]);
        let p = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
    }
}
