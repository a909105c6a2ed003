//! Tunnel authentication (RFC 2661 §5.1.1, Challenge and Challenge
//! Response AVPs of §4.4.3).
//!
//! The response is CHAP-style (RFC 1994 §4.1): `MD5(id ‖ secret ‖ challenge)`
//! where the id is the Message Type of the message carrying the response:
//! 2 in an SCCRP, 3 in an SCCCN. Using different ids in each direction is
//! what stops a peer from replaying our own response back to us.

use super::message::MessageType;
use md5::{Digest, Md5};

/// The Challenge Response a peer must send in `carrier` (SCCRP or SCCCN).
pub fn challenge_response(carrier: MessageType, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([carrier as u16 as u8]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Checks a received response in constant time.
pub fn verify_response(
    carrier: MessageType,
    secret: &[u8],
    challenge: &[u8],
    response: &[u8; 16],
) -> bool {
    let expect = challenge_response(carrier, secret, challenge);
    expect
        .iter()
        .zip(response)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_chap_md5_with_message_type_as_id() {
        let challenge = [0x11u8; 16];
        let r = challenge_response(MessageType::Sccrp, b"secret", &challenge);
        let mut h = Md5::new();
        h.update([2u8]);
        h.update(b"secret");
        h.update(challenge);
        let expect: [u8; 16] = h.finalize().into();
        assert_eq!(r, expect);
        assert!(verify_response(
            MessageType::Sccrp,
            b"secret",
            &challenge,
            &r
        ));
        // The same response is wrong in the other direction and with another secret.
        assert!(!verify_response(
            MessageType::Scccn,
            b"secret",
            &challenge,
            &r
        ));
        assert!(!verify_response(
            MessageType::Sccrp,
            b"secreT",
            &challenge,
            &r
        ));
    }
}
