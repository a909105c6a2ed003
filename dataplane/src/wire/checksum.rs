//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are carried as `u32` accumulators and folded once at the end, so a
//! header plus pseudo-header costs one pass. [`update`] patches a stored
//! checksum when one 16-bit word changes, which is how the data plane
//! decrements TTL and rewrites lengths without re-summing the packet.

/// Adds `data` as big-endian 16-bit words to `acc` (an odd trailing byte is
/// padded with zero, RFC 1071 §4.1). Not complemented; folded to 16 bits
/// (so a caller may add a few more words before [`fold`]).
///
/// Whole datagrams go through here (UDP over IPv6 must be checksummed),
/// so it adds 32-bit words into a 64-bit sum, four bytes an addition
/// with no carry to test: a 32-bit word is congruent to the sum of its
/// two halves modulo 0xffff (RFC 1071 §2(C), deferred carries), and a
/// u64 cannot overflow before 2^32 words.
#[inline]
pub fn accumulate(acc: u32, data: &[u8]) -> u32 {
    let mut sum = u64::from(acc);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    if rest.len() >= 2 {
        sum += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
    }
    if rest.len() % 2 == 1 {
        sum += u64::from(rest[rest.len() - 1]) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u32
}

/// Folds the carries of an accumulator into 16 bits (one's complement sum).
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's complement sum of `data`, folded but not complemented.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(0, data))
}

/// Combines partial one's complement sums.
#[inline]
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().fold(0u32, |a, &p| a + u32::from(p)))
}

/// Sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768).
pub fn pseudo_header_v4(
    src: core::net::Ipv4Addr,
    dst: core::net::Ipv4Addr,
    protocol: u8,
    length: u16,
) -> u16 {
    let mut acc = accumulate(0, &src.octets());
    acc = accumulate(acc, &dst.octets());
    acc += u32::from(protocol);
    acc += u32::from(length);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1).
pub fn pseudo_header_v6(
    src: core::net::Ipv6Addr,
    dst: core::net::Ipv6Addr,
    next_header: u8,
    length: u32,
) -> u16 {
    let mut acc = accumulate(0, &src.octets());
    acc = accumulate(acc, &dst.octets());
    acc += length >> 16;
    acc += length & 0xffff;
    acc += u32::from(next_header);
    fold(acc)
}

/// Incremental update of a stored checksum `hc` when one 16-bit word of the
/// covered data changes from `old` to `new`: RFC 1624 §3, eqn. 3,
/// `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2 it never produces 0x0000 from a
/// non-zero sum, the corner case RFC 1624 §4 was written to fix.
#[inline]
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!hc) + u32::from(!old) + u32::from(new))
}

/// [`update`] for the word holding an IPv4 TTL (its high octet) when the
/// TTL goes down by one, on the checksum's two octets as a little-endian
/// machine loads them (`u16::from_le_bytes` of the header's octets 10
/// and 11), the answer to be stored the same way. The word drops by
/// 0x0100, so `!old + new` is always 0xfeff and eqn. 3 is one addition
/// and one fold (a sum of at most 0x1fefe folds to at most 0xfeff, no
/// carry left); and a one's complement sum commutes with swapping the
/// octets of every word (RFC 1071 §2(B)), so on the swapped octets it is
/// the same sum with the constant swapped, 0xfffe, and no swap is spent
/// either side. What every forwarded packet pays, in about a third of
/// [`update`]'s instructions.
#[inline]
pub fn update_ttl_down_swapped(hc: u16) -> u16 {
    let s = u32::from(!hc) + 0xfffe;
    !(((s & 0xffff) + (s >> 16)) as u16)
}

/// [`update`] for a 32-bit field (two words), e.g. an address rewrite.
#[inline]
pub fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update(hc, (old >> 16) as u16, (new >> 16) as u16);
    update(hc, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TTL form is eqn. 3 for that one word, for every checksum and
    /// every TTL it applies to (1..=255) and protocol.
    #[test]
    fn the_ttl_form_is_the_general_update() {
        for hc in 0..=u16::MAX {
            for (ttl, proto) in [(1u8, 17u8), (2, 6), (64, 1), (128, 17), (255, 0xff), (9, 0)] {
                let old = u16::from_be_bytes([ttl, proto]);
                let new = u16::from_be_bytes([ttl - 1, proto]);
                let swapped = update_ttl_down_swapped(hc.swap_bytes()).swap_bytes();
                assert_eq!(swapped, update(hc, old, new), "{hc:#x} {ttl}");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 worked example: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
    }

    /// The word-at-a-time sum agrees with the plain 16-bit one for every
    /// length and alignment, and with a large starting accumulator.
    #[test]
    fn wide_sum_matches_the_sixteen_bit_definition() {
        fn reference(mut acc: u64, data: &[u8]) -> u16 {
            for w in data.chunks(2) {
                acc += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
            }
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        }
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i * 7919 % 251) as u8 ^ 0xa5)
            .collect();
        for len in (0..64).chain([1499, 1500, 1501, 2999, 3000]) {
            for start in 0..3 {
                let d = &data[start..start + len.min(data.len() - start)];
                for acc in [0u32, 1, 0xffff, 0x1_2345] {
                    assert_eq!(
                        fold(accumulate(acc, d)),
                        reference(u64::from(acc), d),
                        "len {len} start {start} acc {acc:#x}"
                    );
                }
            }
        }
        // All ones in, all ones out: no carry is lost.
        assert_eq!(fold(accumulate(0, &[0xff; 1500])), 0xffff);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_full_recompute() {
        // An IPv4 header; change TTL/protocol word and compare.
        let mut h = [
            0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = !sum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(sum(&h), 0xffff);
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let inc = update(c, old, new);
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(inc, !sum(&h));
    }

    #[test]
    fn rfc1624_section4_example() {
        // RFC 1624 §4: other words sum to 0xCD7A, m = 0x5555 -> m' = 0x3285.
        // HC = ~(0xCD7A + 0x5555) = 0xDD2F; recomputation gives 0x0000 and
        // eqn. 3 must agree (eqn. 2 would give 0xFFFF).
        assert_eq!(!combine(&[0xcd7a, 0x5555]), 0xdd2f);
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), !combine(&[0xcd7a, 0x3285]));
    }
}
