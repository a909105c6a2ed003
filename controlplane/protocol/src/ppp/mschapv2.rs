//! MS-CHAPv2 (RFC 2759): response value layout, NT-Response and
//! Authenticator Response computation, and the Success/Failure messages.
//!
//! The functions follow §8 step by step and keep its names:
//! `ChallengeHash` (§8.2), `NtPasswordHash` (§8.3), `ChallengeResponse`
//! (§8.5), `DesEncrypt` (§8.6), `GenerateAuthenticatorResponse` (§8.7).
//! They are checked against the §9.2 and §9.3 vectors.

use super::Malformed;
use des::Des;
use des::cipher::{BlockEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};

/// Length of the Response packet's Value field (§4).
pub const RESPONSE_LEN: usize = 49;

/// The 49-octet Response value (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseValue {
    /// Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// NT-Response.
    pub nt_response: [u8; 24],
    /// Flags (must be 0).
    pub flags: u8,
}

impl ResponseValue {
    /// Parses the Value field of a Response packet.
    pub fn parse(value: &[u8]) -> Result<Self, Malformed> {
        if value.len() != RESPONSE_LEN {
            return Err(Malformed);
        }
        let mut peer_challenge = [0; 16];
        peer_challenge.copy_from_slice(&value[..16]);
        let mut nt_response = [0; 24];
        nt_response.copy_from_slice(&value[24..48]);
        Ok(ResponseValue {
            peer_challenge,
            nt_response,
            flags: value[48],
        })
    }

    /// The Value field: Peer-Challenge, 8 reserved zeros, NT-Response, Flags.
    pub fn to_bytes(&self) -> [u8; RESPONSE_LEN] {
        let mut v = [0u8; RESPONSE_LEN];
        v[..16].copy_from_slice(&self.peer_challenge);
        v[24..48].copy_from_slice(&self.nt_response);
        v[48] = self.flags;
        v
    }
}

/// §8.2: the user name is used without any "DOMAIN\" prefix.
fn strip_domain(user: &[u8]) -> &[u8] {
    match user.iter().rposition(|&b| b == b'\\') {
        Some(i) => &user[i + 1..],
        None => user,
    }
}

/// ChallengeHash (§8.2): first 8 octets of
/// SHA1(PeerChallenge ‖ AuthenticatorChallenge ‖ UserName).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer_challenge);
    h.update(auth_challenge);
    h.update(strip_domain(user));
    let d = h.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// NtPasswordHash (§8.3): MD4 of the password in UTF-16LE.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_le_bytes());
    }
    h.finalize().into()
}

/// HashNtPasswordHash (§8.4): MD4 of the password hash.
pub fn hash_nt_password_hash(hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(hash).into()
}

/// Spreads 7 key octets over 8, leaving the low bit of each for parity, and
/// sets odd parity (§9.3).
pub fn des_key(raw: &[u8; 7]) -> [u8; 8] {
    let bits = raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        let seven = ((bits >> (49 - 7 * i)) & 0x7f) as u8;
        let b = seven << 1;
        *k = b | u8::from(b.count_ones().is_multiple_of(2));
    }
    key
}

/// DesEncrypt (§8.6).
pub fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let key = des_key(key7);
    let cipher = Des::new(&key.into());
    let mut block = (*clear).into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// ChallengeResponse (§8.5): three DES encryptions of the 8-octet challenge
/// under the zero-padded 21-octet password hash.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        let mut k = [0u8; 7];
        k.copy_from_slice(&z[7 * i..7 * i + 7]);
        out[8 * i..8 * i + 8].copy_from_slice(&des_encrypt(challenge, &k));
    }
    out
}

/// GenerateNTResponse (§8.1), from the password hash (so a local users file
/// may store NT hashes instead of passwords).
pub fn generate_nt_response_from_hash(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let c = challenge_hash(peer_challenge, auth_challenge, user);
    challenge_response(&c, password_hash)
}

/// GenerateNTResponse (§8.1).
pub fn generate_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    password: &str,
) -> [u8; 24] {
    generate_nt_response_from_hash(
        auth_challenge,
        peer_challenge,
        user,
        &nt_password_hash(password),
    )
}

const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// GenerateAuthenticatorResponse (§8.7), from the password hash: the 42
/// characters "S=" followed by 40 upper-case hex digits.
pub fn authenticator_response_from_hash(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> String {
    let hh = hash_nt_password_hash(password_hash);
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    let challenge = challenge_hash(peer_challenge, auth_challenge, user);
    let mut h = Sha1::new();
    h.update(digest);
    h.update(challenge);
    h.update(MAGIC2);
    let digest = h.finalize();
    let mut s = String::with_capacity(42);
    s.push_str("S=");
    for b in digest {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// GenerateAuthenticatorResponse (§8.7).
pub fn authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> String {
    authenticator_response_from_hash(
        &nt_password_hash(password),
        nt_response,
        peer_challenge,
        auth_challenge,
        user,
    )
}

/// Constant-time comparison of a received NT-Response with the expected one.
pub fn nt_response_matches(expected: &[u8; 24], received: &[u8; 24]) -> bool {
    expected
        .iter()
        .zip(received)
        .fold(0u8, |a, (x, y)| a | (x ^ y))
        == 0
}

/// The Success packet message (§5): `S=<auth response> M=<text>`.
pub fn success_message(auth_response: &str, text: &str) -> Vec<u8> {
    format!("{auth_response} M={text}").into_bytes()
}

/// Extracts the 42-character authenticator response from a Success
/// message, for the client side's check (§5: the peer MUST verify it).
pub fn parse_success_message(msg: &[u8]) -> Result<&str, Malformed> {
    let s = msg.get(..42).ok_or(Malformed)?;
    let s = core::str::from_utf8(s).map_err(|_| Malformed)?;
    if !s.starts_with("S=") || !s[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Malformed);
    }
    Ok(s)
}

/// MS-CHAPv2 Failure error codes (§6).
pub mod error {
    /// ERROR_RESTRICTED_LOGON_HOURS.
    pub const RESTRICTED_LOGON_HOURS: u16 = 646;
    /// ERROR_ACCT_DISABLED.
    pub const ACCT_DISABLED: u16 = 647;
    /// ERROR_PASSWD_EXPIRED.
    pub const PASSWD_EXPIRED: u16 = 648;
    /// ERROR_NO_DIALIN_PERMISSION.
    pub const NO_DIALIN_PERMISSION: u16 = 649;
    /// ERROR_AUTHENTICATION_FAILURE.
    pub const AUTHENTICATION_FAILURE: u16 = 691;
    /// ERROR_CHANGING_PASSWORD.
    pub const CHANGING_PASSWORD: u16 = 709;
}

/// The Failure packet message (§6):
/// `E=eeeeeeeeee R=r C=<32 hex> V=3 M=<text>`.
pub fn failure_message(error: u16, retry: bool, next_challenge: &[u8; 16], text: &str) -> Vec<u8> {
    let mut c = String::with_capacity(32);
    for b in next_challenge {
        c.push_str(&format!("{b:02X}"));
    }
    format!("E={error} R={} C={c} V=3 M={text}", u8::from(retry)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    // RFC 2759 §9.2.
    const AUTH_CHALLENGE: &str = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28";
    const PEER_CHALLENGE: &str = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E";

    #[test]
    fn rfc2759_section_9_2_vectors() {
        let auth: [u8; 16] = arr(AUTH_CHALLENGE);
        let peer: [u8; 16] = arr(PEER_CHALLENGE);
        assert_eq!(
            challenge_hash(&peer, &auth, b"User"),
            arr::<8>("D0 2E 43 86 BC E9 12 26")
        );
        let ph = nt_password_hash("clientPass");
        assert_eq!(
            ph,
            arr::<16>("44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE")
        );
        assert_eq!(
            hash_nt_password_hash(&ph),
            arr::<16>("41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F")
        );
        let nt = generate_nt_response(&auth, &peer, b"User", "clientPass");
        assert_eq!(
            nt,
            arr::<24>("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF")
        );
        assert_eq!(
            authenticator_response("clientPass", &nt, &peer, &auth, b"User"),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        // A domain prefix does not change the challenge hash (§8.2).
        assert_eq!(
            challenge_hash(&peer, &auth, b"CORP\\User"),
            challenge_hash(&peer, &auth, b"User")
        );
    }

    #[test]
    fn rfc2759_section_9_3_des_keys() {
        let ph = nt_password_hash("MyPw");
        assert_eq!(
            ph,
            arr::<16>("FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC")
        );
        assert_eq!(
            des_key(&arr::<7>("FC 15 6A F7 ED CD 6C")),
            arr::<8>("FD 0B 5B 5E 7F 6E 34 D9")
        );
        assert_eq!(
            des_key(&arr::<7>("0E DD E3 33 7D 42 7F")),
            arr::<8>("0E 6E 79 67 37 EA 08 FE")
        );
    }

    #[test]
    fn response_value_layout_and_messages() {
        let v = ResponseValue {
            peer_challenge: [1; 16],
            nt_response: [2; 24],
            flags: 0,
        };
        let b = v.to_bytes();
        assert_eq!(&b[16..24], &[0; 8]);
        assert_eq!(ResponseValue::parse(&b).unwrap(), v);
        assert_eq!(ResponseValue::parse(&b[..48]), Err(Malformed));
        let m = success_message("S=407A5589115FD0D6209F510FE9C04566932CDA56", "Welcome");
        assert_eq!(
            parse_success_message(&m).unwrap(),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        assert_eq!(parse_success_message(b"S=xyz"), Err(Malformed));
        let f = failure_message(error::AUTHENTICATION_FAILURE, true, &[0xab; 16], "bad");
        assert_eq!(
            String::from_utf8(f).unwrap(),
            format!("E=691 R=1 C={} V=3 M=bad", "AB".repeat(16))
        );
    }
}
