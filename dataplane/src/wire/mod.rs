//! Zero-copy views and representations of the headers on the LNS packet path.
//!
//! Each header has two faces, after smoltcp's `wire` module:
//!
//! * a **view** (`XxxPacket<T: AsRef<[u8]>>`) over a buffer. `new_checked`
//!   runs `check_len` once; after it succeeds no accessor can panic, whatever
//!   the bytes say. Views never allocate and never copy, so the data-plane
//!   workers use them directly on UMEM frames.
//! * a **repr** (`XxxRepr`), a plain value with `parse` (view → repr, which
//!   also enforces the protocol's rules), `buffer_len` and `emit`
//!   (repr → bytes). `emit` writes exactly `buffer_len()` bytes of header and
//!   panics only if the caller passes a buffer shorter than that, which is a
//!   programming error, never a property of received input.
//!
//! Refusals are [`Error`] values, one variant per cause, so callers can count
//! each kind of drop by name.

pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod l2tp;
pub mod ppp;
pub mod udp;

pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTag};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use l2tp::{L2tpKind, L2tpPacket, L2tpRepr, Sequence};
pub use ppp::{PppFrame, PppProtocol, PppRepr};
pub use udp::{UdpPacket, UdpRepr};

use core::fmt;

/// Why a buffer was refused by a view or a repr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header (or than a length field says).
    Truncated,
    /// A length or flag field contradicts the header's own rules.
    Malformed,
    /// A version field holds a value we do not speak (the value is given).
    Version(u8),
    /// The checksum does not match the data.
    Checksum,
    /// Well formed but outside what this implementation handles
    /// (for example a third VLAN tag).
    Unsupported,
    /// An IPv4 fragment: reassembly is left to the kernel.
    Fragment,
}

impl Error {
    /// A stable lower-case name, used for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
            Error::Version(_) => "bad_version",
            Error::Checksum => "bad_checksum",
            Error::Unsupported => "unsupported",
            Error::Fragment => "fragment",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("buffer shorter than the header requires"),
            Error::Malformed => f.write_str("header fields contradict each other"),
            Error::Version(v) => write!(f, "unsupported version {v}"),
            Error::Checksum => f.write_str("checksum mismatch"),
            Error::Unsupported => f.write_str("valid but unsupported header"),
            Error::Fragment => f.write_str("IPv4 fragment"),
        }
    }
}

impl std::error::Error for Error {}

/// Result of parsing with the wire views.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field access on byte slices whose length the caller has
/// already checked. Kept private so every view goes through `check_len`.
pub(crate) mod be {
    #[inline]
    pub fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    #[inline]
    pub fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    #[inline]
    pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}
