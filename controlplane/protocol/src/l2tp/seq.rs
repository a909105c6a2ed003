//! Control-channel sequence numbers (RFC 2661 §5.8): 16-bit counters that
//! wrap, compared over half the number space.
//!
//! "The sequence number in the header of a received message is considered
//! less than or equal to the last received number if its value lies in the
//! range of the last received number and the preceding 32767 values,
//! inclusive" (§5.8). [`lt`] is that comparison, strict.

/// `a` comes before `b` (strictly), modulo 65536.
pub fn lt(a: u16, b: u16) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < 0x8000
}

/// `a` comes before or is `b`.
pub fn le(a: u16, b: u16) -> bool {
    a == b || lt(a, b)
}

/// How far `b` is ahead of `a` (0 when equal; meaningful when `le(a, b)`).
pub fn distance(a: u16, b: u16) -> u16 {
    b.wrapping_sub(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_last_received_15() {
        // §5.8: with 15 last received, 0..=15 and 32784..=65535 are <= 15.
        for v in 0..=15u16 {
            assert!(le(v, 15), "{v}");
        }
        for v in 32784..=65535u16 {
            assert!(le(v, 15), "{v}");
        }
        for v in 16..32784u16 {
            assert!(!le(v, 15), "{v}");
        }
    }

    #[test]
    fn wraps() {
        assert!(lt(65535, 0));
        assert!(!lt(0, 65535));
        assert_eq!(distance(65534, 2), 4);
        assert!(!lt(7, 7));
    }
}
