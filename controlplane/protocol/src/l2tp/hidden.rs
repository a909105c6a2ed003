//! AVP hiding (RFC 2661 §4.3).
//!
//! The cleartext value is wrapped in the Hidden AVP Subformat
//! (`original length (2) | value | padding`) and XORed with an MD5 key
//! stream: `b1 = MD5(type ‖ secret ‖ RV)`, `bi = MD5(secret ‖ c(i-1))`.
//! [`unhide`] honours the original length, so padded values decode to
//! exactly what was hidden; a length that overruns the subformat is refused.

use md5::{Digest, Md5};

/// Why a hidden value could not be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenError {
    /// The subformat is shorter than its 2-octet length field.
    TooShort,
    /// The original length exceeds what the subformat carries
    /// (usually a wrong shared secret).
    BadLength,
}

fn xor_stream(attr_type: u16, secret: &[u8], rv: &[u8], data: &mut [u8], decrypt: bool) {
    let mut h = Md5::new();
    h.update(attr_type.to_be_bytes());
    h.update(secret);
    h.update(rv);
    let mut key: [u8; 16] = h.finalize().into();
    for chunk in data.chunks_mut(16) {
        // The next block's key is MD5(secret ‖ previous ciphertext block).
        let mut next = Md5::new();
        next.update(secret);
        if decrypt {
            next.update(&*chunk);
        }
        for (c, k) in chunk.iter_mut().zip(key.iter()) {
            *c ^= k;
        }
        if !decrypt {
            next.update(&*chunk);
        }
        key = next.finalize().into();
    }
}

/// Hides `value` of attribute `attr_type` with `secret` and random vector
/// `rv`, appending `padding` inside the subformat to mask the length.
pub fn hide(attr_type: u16, secret: &[u8], rv: &[u8], value: &[u8], padding: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + value.len() + padding.len());
    // Values are at most 1017 octets (10-bit AVP length), so this fits.
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    xor_stream(attr_type, secret, rv, &mut out, false);
    out
}

/// Recovers the original value of a hidden attribute.
pub fn unhide(
    attr_type: u16,
    secret: &[u8],
    rv: &[u8],
    hidden: &[u8],
) -> Result<Vec<u8>, HiddenError> {
    if hidden.len() < 2 {
        return Err(HiddenError::TooShort);
    }
    let mut plain = hidden.to_vec();
    xor_stream(attr_type, secret, rv, &mut plain, true);
    let len = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
    if 2 + len > plain.len() {
        return Err(HiddenError::BadLength);
    }
    plain.truncate(2 + len);
    plain.drain(..2);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_across_block_boundaries_with_padding() {
        let secret = b"tunnel-secret";
        let rv = [0x5a; 16];
        for len in [0usize, 1, 13, 14, 15, 16, 30, 31, 32, 33, 100] {
            let value: Vec<u8> = (0..len as u8).collect();
            for pad in [&[][..], &[0xaa; 7][..], &[0x55; 16][..]] {
                let h = hide(30, secret, &rv, &value, pad);
                assert_eq!(h.len(), 2 + len + pad.len());
                assert_eq!(unhide(30, secret, &rv, &h).unwrap(), value);
            }
        }
    }

    #[test]
    fn first_block_is_md5_of_type_secret_rv() {
        // Independent computation of c(1) for a 2-octet value per §4.3.
        let (secret, rv) = (b"s".as_slice(), [1u8, 2, 3, 4]);
        let h = hide(9, secret, &rv, &[0x12, 0x34], &[]);
        let mut m = Md5::new();
        m.update([0, 9]);
        m.update(secret);
        m.update(rv);
        let b1: [u8; 16] = m.finalize().into();
        let plain = [0x00, 0x02, 0x12, 0x34];
        let expect: Vec<u8> = plain.iter().zip(b1).map(|(p, k)| p ^ k).collect();
        assert_eq!(h, expect);
    }

    #[test]
    fn wrong_secret_is_detected_by_length() {
        let h = hide(14, b"right", &[9; 16], &[0, 1], &[]);
        // Not guaranteed for every secret, but certain for this one: the
        // recovered length field is far larger than two octets.
        assert_eq!(
            unhide(14, b"wrong", &[9; 16], &h),
            Err(HiddenError::BadLength)
        );
        assert_eq!(
            unhide(14, b"right", &[9; 16], &[1]),
            Err(HiddenError::TooShort)
        );
    }
}
