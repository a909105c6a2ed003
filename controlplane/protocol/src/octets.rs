//! A panic-free cursor over a byte slice, for TLV codecs (L2TP AVPs, PPP
//! options, RADIUS attributes).
//!
//! Every read either returns the value and advances, or returns
//! [`Truncated`] and leaves the cursor where it was. Nothing here indexes
//! without a bounds check, so a parser written on top of it cannot panic on
//! hostile input.

/// The input ended before the value being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl core::fmt::Display for Truncated {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("input ended early")
    }
}

impl std::error::Error for Truncated {}

/// Reads big-endian values from a slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, off: 0 }
    }

    /// Octets not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.off
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.off
    }

    /// The next `n` octets.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.off.checked_add(n).ok_or(Truncated)?;
        let s = self.buf.get(self.off..end).ok_or(Truncated)?;
        self.off = end;
        Ok(s)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.off..).unwrap_or_default();
        self.off = self.buf.len();
        s
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// One octet.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The next octet without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.off).copied()
    }
}

/// Appends big-endian values to a `Vec<u8>`; the control plane may allocate.
pub trait Writer {
    /// Appends one octet.
    fn put_u8(&mut self, v: u8);
    /// Appends a big-endian u16.
    fn put_u16(&mut self, v: u16);
    /// Appends a big-endian u32.
    fn put_u32(&mut self, v: u32);
    /// Overwrites a big-endian u16 at `at` (for lengths known only later).
    fn patch_u16(&mut self, at: usize, v: u16);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn patch_u16(&mut self, at: usize, v: u16) {
        if let Some(s) = self.get_mut(at..at + 2) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_without_moving() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u32(), Err(Truncated));
        assert_eq!(r.position(), 2);
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.bytes(usize::MAX), Err(Truncated));
        assert_eq!(r.rest(), &[4, 5]);
        assert!(r.is_empty());
    }
}
