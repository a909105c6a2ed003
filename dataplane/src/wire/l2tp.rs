//! The L2TPv2 header, data and control (RFC 2661 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Tunnel ID           |           Session ID          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Ns (opt)          |             Nr (opt)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Field positions depend on the L, S and O bits, so the view computes the
//! header length once in [`L2tpPacket::new_checked`]. When L is set the
//! message ends at Length (trailing bytes, e.g. link padding, are not
//! payload); otherwise at the end of the buffer.
//!
//! [`L2tpRepr::parse`] enforces §3.1: Ver must be 2 (1 is L2F, 3 is L2TPv3;
//! both are refused as [`Error::Version`]), and a control message must have
//! L=1, S=1, O=0, P=0. Reserved bits are ignored on receipt and sent as 0.

use super::{Error, Result, be};

mod flag {
    pub const TYPE: u16 = 0x8000;
    pub const LENGTH: u16 = 0x4000;
    pub const SEQUENCE: u16 = 0x0800;
    pub const OFFSET: u16 = 0x0200;
    pub const PRIORITY: u16 = 0x0100;
    pub const VERSION_MASK: u16 = 0x000f;
}

/// The only header version this implementation speaks.
pub const VERSION: u8 = 2;

/// Header length of a control message: flags, Length, ids, Ns, Nr.
pub const CONTROL_HEADER_LEN: usize = 12;

/// Control or data (the T bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2tpKind {
    /// T=1: carries AVPs, delivered reliably.
    Control,
    /// T=0: carries a PPP frame.
    Data,
}

/// The Ns/Nr pair present when the S bit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sequence {
    /// Sequence number of this message.
    pub ns: u16,
    /// Next sequence number expected (control); reserved in data messages.
    pub nr: u16,
}

/// A read/write view of an L2TP message.
#[derive(Debug, Clone)]
pub struct L2tpPacket<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
    end: usize,
}

impl<T: AsRef<[u8]>> L2tpPacket<T> {
    /// Wraps `buffer`, computing the header length from the flags and
    /// checking that the header, offset padding and Length all fit.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < 2 {
            return Err(Error::Truncated);
        }
        let flags = be::u16_at(b, 0);
        let mut header_len = 6;
        if flags & flag::LENGTH != 0 {
            header_len += 2;
        }
        if flags & flag::SEQUENCE != 0 {
            header_len += 4;
        }
        if flags & flag::OFFSET != 0 {
            let at = header_len;
            if b.len() < at + 2 {
                return Err(Error::Truncated);
            }
            header_len += 2 + usize::from(be::u16_at(b, at));
        }
        if b.len() < header_len {
            return Err(Error::Truncated);
        }
        let end = if flags & flag::LENGTH != 0 {
            let len = usize::from(be::u16_at(b, 2));
            if len < header_len {
                return Err(Error::Malformed);
            }
            if len > b.len() {
                return Err(Error::Truncated);
            }
            len
        } else {
            b.len()
        };
        Ok(L2tpPacket {
            buffer,
            header_len,
            end,
        })
    }

    fn flags(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), 0)
    }

    /// Offset of Tunnel ID (after the optional Length).
    fn ids_at(&self) -> usize {
        if self.has_length() { 4 } else { 2 }
    }

    /// Header length including offset padding.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Control or data.
    pub fn kind(&self) -> L2tpKind {
        if self.flags() & flag::TYPE != 0 {
            L2tpKind::Control
        } else {
            L2tpKind::Data
        }
    }

    /// L bit.
    pub fn has_length(&self) -> bool {
        self.flags() & flag::LENGTH != 0
    }

    /// S bit.
    pub fn has_sequence(&self) -> bool {
        self.flags() & flag::SEQUENCE != 0
    }

    /// O bit.
    pub fn has_offset(&self) -> bool {
        self.flags() & flag::OFFSET != 0
    }

    /// P bit.
    pub fn priority(&self) -> bool {
        self.flags() & flag::PRIORITY != 0
    }

    /// Ver field.
    pub fn version(&self) -> u8 {
        (self.flags() & flag::VERSION_MASK) as u8
    }

    /// Length field, when present.
    pub fn length(&self) -> Option<u16> {
        self.has_length()
            .then(|| be::u16_at(self.buffer.as_ref(), 2))
    }

    /// Tunnel ID (the recipient's).
    pub fn tunnel_id(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), self.ids_at())
    }

    /// Session ID (the recipient's).
    pub fn session_id(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), self.ids_at() + 2)
    }

    /// Ns and Nr, when the S bit is set.
    pub fn sequence(&self) -> Option<Sequence> {
        self.has_sequence().then(|| {
            let at = self.ids_at() + 4;
            let b = self.buffer.as_ref();
            Sequence {
                ns: be::u16_at(b, at),
                nr: be::u16_at(b, at + 2),
            }
        })
    }

    /// Offset Size, when the O bit is set.
    pub fn offset_size(&self) -> Option<u16> {
        self.has_offset().then(|| {
            let at = self.ids_at() + 4 + if self.has_sequence() { 4 } else { 0 };
            be::u16_at(self.buffer.as_ref(), at)
        })
    }

    /// The payload: AVPs for control, a PPP frame for data.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len..self.end]
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> L2tpPacket<T> {
    /// Rewrites the Tunnel ID (multi-hop switching).
    pub fn set_tunnel_id(&mut self, id: u16) {
        let at = self.ids_at();
        be::put_u16(self.buffer.as_mut(), at, id);
    }

    /// Rewrites the Session ID (multi-hop switching).
    pub fn set_session_id(&mut self, id: u16) {
        let at = self.ids_at() + 2;
        be::put_u16(self.buffer.as_mut(), at, id);
    }

    /// Rewrites Ns and Nr; returns false when the header has no S bit.
    pub fn set_sequence(&mut self, seq: Sequence) -> bool {
        if !self.has_sequence() {
            return false;
        }
        let at = self.ids_at() + 4;
        let b = self.buffer.as_mut();
        be::put_u16(b, at, seq.ns);
        be::put_u16(b, at + 2, seq.nr);
        true
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, e) = (self.header_len, self.end);
        &mut self.buffer.as_mut()[h..e]
    }
}

impl<'a> L2tpPacket<&'a [u8]> {
    /// The payload with the buffer's own lifetime, outliving the view.
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[self.header_len..self.end]
    }
}

/// The parsed content of an L2TP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct L2tpRepr {
    /// Control or data.
    pub kind: L2tpKind,
    /// Whether the Length field is present (always for control).
    pub with_length: bool,
    /// Tunnel ID.
    pub tunnel_id: u16,
    /// Session ID.
    pub session_id: u16,
    /// Ns/Nr when the S bit is set (always for control).
    pub sequence: Option<Sequence>,
    /// Offset Size when the O bit is set; the padding is emitted as zeros.
    pub offset: Option<u16>,
    /// P bit (data only).
    pub priority: bool,
    /// Length of the payload after the header.
    pub payload_len: usize,
}

impl L2tpRepr {
    /// A control header (L=1, S=1, O=0, P=0 as §3.1 requires).
    pub const fn control(
        tunnel_id: u16,
        session_id: u16,
        seq: Sequence,
        payload_len: usize,
    ) -> L2tpRepr {
        L2tpRepr {
            kind: L2tpKind::Control,
            with_length: true,
            tunnel_id,
            session_id,
            sequence: Some(seq),
            offset: None,
            priority: false,
            payload_len,
        }
    }

    /// The shortest data header: no Length, no sequence, no offset.
    pub const fn data(tunnel_id: u16, session_id: u16, payload_len: usize) -> L2tpRepr {
        L2tpRepr {
            kind: L2tpKind::Data,
            with_length: false,
            tunnel_id,
            session_id,
            sequence: None,
            offset: None,
            priority: false,
            payload_len,
        }
    }

    /// Reads a checked packet and enforces the version and control-bit rules.
    pub fn parse<T: AsRef<[u8]>>(p: &L2tpPacket<T>) -> Result<L2tpRepr> {
        if p.version() != VERSION {
            return Err(Error::Version(p.version()));
        }
        let kind = p.kind();
        if kind == L2tpKind::Control
            && (!p.has_length() || !p.has_sequence() || p.has_offset() || p.priority())
        {
            return Err(Error::Malformed);
        }
        Ok(L2tpRepr {
            kind,
            with_length: p.has_length(),
            tunnel_id: p.tunnel_id(),
            session_id: p.session_id(),
            sequence: p.sequence(),
            offset: p.offset_size(),
            priority: p.priority(),
            payload_len: p.payload().len(),
        })
    }

    /// Header length this repr emits, offset padding included.
    pub fn buffer_len(&self) -> usize {
        6 + if self.with_length { 2 } else { 0 }
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset.map_or(0, |o| 2 + usize::from(o))
    }

    /// Writes the header into the start of `buf`. Refuses a control header
    /// that breaks §3.1 and a Length that would not fit 16 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let hl = self.buffer_len();
        if buf.len() < hl {
            return Err(Error::Truncated);
        }
        if self.kind == L2tpKind::Control
            && (!self.with_length
                || self.sequence.is_none()
                || self.offset.is_some()
                || self.priority)
        {
            return Err(Error::Malformed);
        }
        let total = u16::try_from(hl + self.payload_len).map_err(|_| Error::Malformed)?;
        let mut flags = u16::from(VERSION);
        if self.kind == L2tpKind::Control {
            flags |= flag::TYPE;
        }
        if self.with_length {
            flags |= flag::LENGTH;
        }
        if self.sequence.is_some() {
            flags |= flag::SEQUENCE;
        }
        if self.offset.is_some() {
            flags |= flag::OFFSET;
        }
        if self.priority {
            flags |= flag::PRIORITY;
        }
        be::put_u16(buf, 0, flags);
        let mut at = 2;
        if self.with_length {
            be::put_u16(buf, at, total);
            at += 2;
        }
        be::put_u16(buf, at, self.tunnel_id);
        be::put_u16(buf, at + 2, self.session_id);
        at += 4;
        if let Some(seq) = self.sequence {
            be::put_u16(buf, at, seq.ns);
            be::put_u16(buf, at + 2, seq.nr);
            at += 4;
        }
        if let Some(off) = self.offset {
            be::put_u16(buf, at, off);
            at += 2;
            buf[at..at + usize::from(off)].fill(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_l_s_o_combination_round_trips() {
        for bits in 0..8u8 {
            let (l, s, o) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            let r = L2tpRepr {
                kind: L2tpKind::Data,
                with_length: l,
                tunnel_id: 0x1234,
                session_id: 0xbeef,
                sequence: s.then_some(Sequence { ns: 7, nr: 9 }),
                offset: o.then_some(3),
                priority: bits == 5,
                payload_len: 4,
            };
            let mut b = vec![0xaa; r.buffer_len() + 4];
            r.emit(&mut b).unwrap();
            let expect_len = 6 + 2 * usize::from(l) + 4 * usize::from(s) + 5 * usize::from(o);
            assert_eq!(r.buffer_len(), expect_len);
            let p = L2tpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(p.header_len(), expect_len);
            assert_eq!(L2tpRepr::parse(&p).unwrap(), r, "L={l} S={s} O={o}");
            assert_eq!(p.payload(), &[0xaa; 4]);
        }
    }

    #[test]
    fn control_header_bytes() {
        // SCCRQ header from a capture: T L S set, ver 2, length 20, tid 0, sid 0.
        let r = L2tpRepr::control(0, 0, Sequence { ns: 0, nr: 0 }, 8);
        let mut b = [0u8; 12];
        r.emit(&mut b).unwrap();
        assert_eq!(b, [0xc8, 0x02, 0x00, 0x14, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn control_rules_and_version() {
        // Control without S bit.
        let b = [0xc0, 0x02, 0x00, 0x08, 0, 1, 0, 0];
        let p = L2tpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(L2tpRepr::parse(&p).unwrap_err(), Error::Malformed);
        // L2TPv3 and L2F.
        for v in [1u8, 3] {
            let b = [0x00, v, 0, 1, 0, 1];
            let p = L2tpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(L2tpRepr::parse(&p).unwrap_err(), Error::Version(v));
        }
    }

    #[test]
    fn length_and_offset_bounds() {
        // Length smaller than header.
        let b = [0xc8, 0x02, 0x00, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            L2tpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        // Length beyond buffer.
        let b = [0xc8, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            L2tpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        // Offset padding beyond buffer.
        let b = [0x02, 0x02, 0, 1, 0, 1, 0x00, 0x10, 0, 0];
        assert_eq!(
            L2tpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        // Trailing link padding after Length is not payload.
        let b = [0xc8, 0x02, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee];
        let p = L2tpPacket::new_checked(&b[..]).unwrap();
        assert!(p.payload().is_empty());
    }
}
