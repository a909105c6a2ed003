//! Ethernet II frames with up to two VLAN tags (802.1Q, 802.1ad QinQ).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination MAC (6 octets)                   |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    Source MAC (6 octets)      +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  TPID 0x88a8/0x8100 (opt)     | PCP |D|       VID (opt)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  TPID 0x8100 (opt, QinQ)      | PCP |D|       VID (opt)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          EtherType            |  Payload ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The view computes the header length (14, 18 or 22) once in
//! [`EthernetFrame::new_checked`]. A third tag is refused as
//! [`Error::Unsupported`](super::Error::Unsupported) rather than guessed at.

use super::{Error, Result, be};
use core::fmt;

mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const TYPE_OR_TPID: usize = 12;
    pub const UNTAGGED_LEN: usize = 14;
    pub const TAG_LEN: usize = 4;
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// True for group (multicast or broadcast) addresses.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An EtherType value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (QinQ outer).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Pre-standard QinQ outer tag still sent by some switches.
    pub const QINQ_LEGACY: EtherType = EtherType(0x9100);

    /// True when this value introduces a VLAN tag rather than a payload.
    pub const fn is_vlan_tpid(self) -> bool {
        matches!(self.0, 0x8100 | 0x88a8 | 0x9100)
    }
}

/// One VLAN tag: its TPID and the Tag Control Information fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100, 0x88a8 or 0x9100).
    pub tpid: EtherType,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }

    fn from_tci(tpid: EtherType, tci: u16) -> VlanTag {
        VlanTag {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking it holds the whole header, tags included.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header_len = Self::header_len_of(buffer.as_ref())?;
        Ok(EthernetFrame { buffer, header_len })
    }

    fn header_len_of(b: &[u8]) -> Result<usize> {
        let mut at = field::TYPE_OR_TPID;
        for _ in 0..2 {
            if b.len() < at + 2 {
                return Err(Error::Truncated);
            }
            if !EtherType(be::u16_at(b, at)).is_vlan_tpid() {
                break;
            }
            at += field::TAG_LEN;
        }
        if b.len() < at + 2 {
            return Err(Error::Truncated);
        }
        if EtherType(be::u16_at(b, at)).is_vlan_tpid() {
            return Err(Error::Unsupported);
        }
        Ok(at + 2)
    }

    /// Length of the header including VLAN tags: 14, 18 or 22.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Number of VLAN tags present (0, 1 or 2).
    pub fn vlan_count(&self) -> usize {
        (self.header_len - field::UNTAGGED_LEN) / field::TAG_LEN
    }

    /// The destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        EthernetAddress(a)
    }

    /// The source address.
    pub fn src_addr(&self) -> EthernetAddress {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        EthernetAddress(a)
    }

    /// The `i`-th VLAN tag, outermost first.
    pub fn vlan(&self, i: usize) -> Option<VlanTag> {
        if i >= self.vlan_count() {
            return None;
        }
        let at = field::TYPE_OR_TPID + i * field::TAG_LEN;
        let b = self.buffer.as_ref();
        Some(VlanTag::from_tci(
            EtherType(be::u16_at(b, at)),
            be::u16_at(b, at + 2),
        ))
    }

    /// The EtherType of the payload (after any tags).
    pub fn ethertype(&self) -> EtherType {
        EtherType(be::u16_at(self.buffer.as_ref(), self.header_len - 2))
    }

    /// The payload after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len..]
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }

    /// The payload after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len;
        &mut self.buffer.as_mut()[h..]
    }
}

/// The parsed content of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: EthernetAddress,
    /// Source MAC.
    pub src: EthernetAddress,
    /// Outer VLAN tag, if any.
    pub outer_vlan: Option<VlanTag>,
    /// Inner VLAN tag (QinQ); only present with an outer tag.
    pub inner_vlan: Option<VlanTag>,
    /// Payload EtherType.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        Ok(EthernetRepr {
            dst: frame.dst_addr(),
            src: frame.src_addr(),
            outer_vlan: frame.vlan(0),
            inner_vlan: frame.vlan(1),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length this repr emits.
    pub fn buffer_len(&self) -> usize {
        field::UNTAGGED_LEN
            + field::TAG_LEN
                * (usize::from(self.outer_vlan.is_some()) + usize::from(self.inner_vlan.is_some()))
    }

    /// Writes the header into the start of `buf`.
    ///
    /// Refuses an inner tag without an outer one and tags whose TPID is not a
    /// VLAN TPID, since no receiver could parse them back.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < self.buffer_len() {
            return Err(Error::Truncated);
        }
        if self.inner_vlan.is_some() && self.outer_vlan.is_none() {
            return Err(Error::Malformed);
        }
        if self.ethertype.is_vlan_tpid() {
            return Err(Error::Malformed);
        }
        buf[field::DESTINATION].copy_from_slice(&self.dst.0);
        buf[field::SOURCE].copy_from_slice(&self.src.0);
        let mut at = field::TYPE_OR_TPID;
        for tag in [self.outer_vlan, self.inner_vlan].into_iter().flatten() {
            if !tag.tpid.is_vlan_tpid() {
                return Err(Error::Malformed);
            }
            be::put_u16(buf, at, tag.tpid.0);
            be::put_u16(buf, at + 2, tag.tci());
            at += field::TAG_LEN;
        }
        be::put_u16(buf, at, self.ethertype.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn frame(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
        let mut v = DST.to_vec();
        v.extend_from_slice(&SRC);
        for (tpid, tci) in tags {
            v.extend_from_slice(&tpid.to_be_bytes());
            v.extend_from_slice(&tci.to_be_bytes());
        }
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(&[0x45, 0]);
        v
    }

    #[test]
    fn untagged() {
        let b = frame(&[], 0x0800);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.header_len(), 14);
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(r.ethertype, EtherType::IPV4);
        assert_eq!(r.src, EthernetAddress(SRC));
        assert_eq!(r.dst, EthernetAddress(DST));
        assert_eq!(r.outer_vlan, None);
        assert_eq!(f.payload(), &[0x45, 0]);
    }

    #[test]
    fn dot1q_and_qinq() {
        let b = frame(&[(0x8100, 0xa064)], 0x86dd);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(f.header_len(), 18);
        assert_eq!(
            r.outer_vlan,
            Some(VlanTag {
                tpid: EtherType::VLAN,
                pcp: 5,
                dei: false,
                vid: 100
            })
        );
        assert_eq!(r.ethertype, EtherType::IPV6);

        let b = frame(&[(0x88a8, 0x1fff), (0x8100, 0x0002)], 0x0800);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(f.header_len(), 22);
        assert_eq!(r.outer_vlan.unwrap().vid, 0xfff);
        assert!(r.outer_vlan.unwrap().dei);
        assert_eq!(r.inner_vlan.unwrap().vid, 2);
        let mut out = vec![0; r.buffer_len()];
        r.emit(&mut out).unwrap();
        assert_eq!(out, b[..22]);
    }

    #[test]
    fn refuses_truncated_and_triple_tag() {
        let b = frame(&[(0x8100, 1)], 0x0800);
        assert_eq!(
            EthernetFrame::new_checked(&b[..16]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            EthernetFrame::new_checked(&b[..13]).unwrap_err(),
            Error::Truncated
        );
        let b = frame(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], 0x0800);
        assert_eq!(
            EthernetFrame::new_checked(&b[..]).unwrap_err(),
            Error::Unsupported
        );
    }
}
