//! RADIUS packets (RFC 2865 §3, §5; accounting RFC 2866; extensions RFC
//! 2869; Disconnect/CoA RFC 3576/5176) and their cryptography: request and
//! response authenticators, User-Password hiding, Message-Authenticator.
//!
//! Contract: [`Packet::decode`] never panics and refuses a Length that
//! disagrees with the datagram or attributes that do not frame (RFC 2865
//! §3: such packets are silently discarded). Verification is separate from
//! decoding, so a caller cannot use a packet it did not check: see
//! [`Packet::verify_response`] and [`Packet::verify_request`]. Every
//! comparison of secrets-derived values is constant time.

use crate::octets::Reader;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// Packet codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs, reason = "names are the RFCs'")]
pub enum Code {
    AccessRequest = 1,
    AccessAccept = 2,
    AccessReject = 3,
    AccountingRequest = 4,
    AccountingResponse = 5,
    AccessChallenge = 11,
    DisconnectRequest = 40,
    DisconnectAck = 41,
    DisconnectNak = 42,
    CoaRequest = 43,
    CoaAck = 44,
    CoaNak = 45,
}

impl Code {
    /// The code for a wire value.
    pub fn from_u8(v: u8) -> Option<Code> {
        use Code::*;
        [
            AccessRequest,
            AccessAccept,
            AccessReject,
            AccountingRequest,
            AccountingResponse,
            AccessChallenge,
            DisconnectRequest,
            DisconnectAck,
            DisconnectNak,
            CoaRequest,
            CoaAck,
            CoaNak,
        ]
        .into_iter()
        .find(|c| *c as u8 == v)
    }
}

/// Attribute types used here (RFC 2865 §5, 2866 §5, 2868, 2869 §5, 5176).
#[allow(missing_docs, reason = "names are the RFCs'")]
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const FRAMED_MTU: u8 = 12;
    pub const FILTER_ID: u8 = 11;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const IDLE_TIMEOUT: u8 = 28;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_AUTHENTIC: u8 = 45;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const TUNNEL_TYPE: u8 = 64;
    pub const TUNNEL_MEDIUM_TYPE: u8 = 65;
    pub const TUNNEL_CLIENT_ENDPOINT: u8 = 66;
    pub const TUNNEL_SERVER_ENDPOINT: u8 = 67;
    pub const ACCT_TUNNEL_CONNECTION: u8 = 68;
    pub const TUNNEL_PASSWORD: u8 = 69;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const TUNNEL_PRIVATE_GROUP_ID: u8 = 81;
    pub const TUNNEL_ASSIGNMENT_ID: u8 = 82;
    pub const TUNNEL_PREFERENCE: u8 = 83;
    pub const TUNNEL_CLIENT_AUTH_ID: u8 = 90;
    pub const TUNNEL_SERVER_AUTH_ID: u8 = 91;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const NAS_PORT_ID: u8 = 87;
    pub const FRAMED_POOL: u8 = 88;
    pub const FRAMED_IPV6_PREFIX: u8 = 97;
    pub const FRAMED_IPV6_POOL: u8 = 100;
    pub const ERROR_CAUSE: u8 = 101;
    pub const DELEGATED_IPV6_PREFIX: u8 = 123;
    /// RFC 6911 §3.1: an IPv6 address assigned to the user (DHCPv6
    /// IA_NA), 16 octets.
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
    pub const DELEGATED_IPV6_PREFIX_POOL: u8 = 171;
}

/// Microsoft vendor id and attributes (RFC 2548).
#[allow(missing_docs, reason = "names are RFC 2548's")]
pub mod ms {
    pub const VENDOR: u32 = 311;
    pub const CHAP_ERROR: u8 = 2;
    pub const CHAP_CHALLENGE: u8 = 11;
    pub const CHAP2_RESPONSE: u8 = 25;
    pub const CHAP2_SUCCESS: u8 = 26;
}

/// One attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attr {
    /// Type.
    pub kind: u8,
    /// Value (for Vendor-Specific: vendor id and the vendor's TLVs).
    pub value: Vec<u8>,
}

impl Attr {
    /// An attribute from raw bytes.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Attr {
        Attr {
            kind,
            value: value.into(),
        }
    }

    /// A 32-bit integer attribute.
    pub fn u32(kind: u8, v: u32) -> Attr {
        Attr::new(kind, v.to_be_bytes().to_vec())
    }

    /// A Vendor-Specific attribute holding one vendor TLV (RFC 2865 §5.26
    /// recommended format).
    pub fn vendor(vendor: u32, kind: u8, value: &[u8]) -> Attr {
        let mut v = vendor.to_be_bytes().to_vec();
        v.push(kind);
        v.push((value.len() + 2).min(255) as u8);
        v.extend_from_slice(value);
        Attr::new(attr::VENDOR_SPECIFIC, v)
    }

    /// The value as a 32-bit integer, if it is 4 octets.
    pub fn as_u32(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.value.as_slice().try_into().ok()?))
    }
}

/// A packet that does not frame (silently discarded, RFC 2865 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed RADIUS packet")
    }
}

impl std::error::Error for Malformed {}

/// A RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Code (raw, so unknown codes can be counted).
    pub code: u8,
    /// Identifier.
    pub identifier: u8,
    /// Authenticator field as on the wire.
    pub authenticator: [u8; 16],
    /// Attributes in order.
    pub attrs: Vec<Attr>,
}

/// RFC 2865 §3: 20 to 4096 octets.
pub const MAX_LEN: usize = 4096;

type HmacMd5 = Hmac<Md5>;

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |x, (p, q)| x | (p ^ q)) == 0
}

impl Packet {
    /// A packet with no attributes.
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Packet {
        Packet {
            code: code as u8,
            identifier,
            authenticator,
            attrs: Vec::new(),
        }
    }

    /// The code, if known.
    pub fn code(&self) -> Option<Code> {
        Code::from_u8(self.code)
    }

    /// First attribute of a type.
    pub fn get(&self, kind: u8) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.kind == kind)
    }

    /// Value of the first vendor attribute `(vendor, kind)`.
    pub fn vendor(&self, vendor: u32, kind: u8) -> Option<&[u8]> {
        self.attrs
            .iter()
            .filter(|a| a.kind == attr::VENDOR_SPECIFIC)
            .find_map(|a| {
                let v = &a.value;
                let id = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
                if id != vendor || *v.get(4)? != kind {
                    return None;
                }
                let len = usize::from(*v.get(5)?);
                v.get(6..len.checked_add(4)?)
            })
    }

    /// Decodes a datagram.
    pub fn decode(buf: &[u8]) -> Result<Packet, Malformed> {
        let mut r = Reader::new(buf);
        let code = r.u8().map_err(|_| Malformed)?;
        let identifier = r.u8().map_err(|_| Malformed)?;
        let len = usize::from(r.u16().map_err(|_| Malformed)?);
        // §3: shorter than Length is discarded; octets past it are padding.
        if !(20..=MAX_LEN).contains(&len) || len > buf.len() {
            return Err(Malformed);
        }
        let authenticator: [u8; 16] = r
            .bytes(16)
            .map_err(|_| Malformed)?
            .try_into()
            .map_err(|_| Malformed)?;
        let mut r = Reader::new(buf.get(20..len).ok_or(Malformed)?);
        let mut attrs = Vec::new();
        while !r.is_empty() {
            let kind = r.u8().map_err(|_| Malformed)?;
            let alen = usize::from(r.u8().map_err(|_| Malformed)?);
            if alen < 2 {
                return Err(Malformed);
            }
            let value = r.bytes(alen - 2).map_err(|_| Malformed)?.to_vec();
            attrs.push(Attr { kind, value });
        }
        Ok(Packet {
            code,
            identifier,
            authenticator,
            attrs,
        })
    }

    /// Encodes; attributes longer than 253 octets are refused.
    pub fn encode(&self) -> Result<Vec<u8>, Malformed> {
        let mut out = Vec::with_capacity(64);
        out.push(self.code);
        out.push(self.identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.authenticator);
        for a in &self.attrs {
            let l = u8::try_from(a.value.len() + 2).map_err(|_| Malformed)?;
            out.push(a.kind);
            out.push(l);
            out.extend_from_slice(&a.value);
        }
        if out.len() > MAX_LEN {
            return Err(Malformed);
        }
        let l = out.len() as u16;
        out[2..4].copy_from_slice(&l.to_be_bytes());
        Ok(out)
    }

    /// Fills Message-Authenticator (RFC 2869 §5.14; RFC 3579 §3.2): adds
    /// the attribute if missing, then HMAC-MD5 over the packet with it
    /// zeroed, the Authenticator field holding `auth_for_hmac` (the
    /// request's authenticator for requests and for replies alike).
    fn sign_message_authenticator(
        &mut self,
        secret: &[u8],
        auth_for_hmac: [u8; 16],
    ) -> Result<(), Malformed> {
        let pos = match self
            .attrs
            .iter()
            .position(|a| a.kind == attr::MESSAGE_AUTHENTICATOR)
        {
            Some(p) => p,
            None => {
                self.attrs
                    .push(Attr::new(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
                self.attrs.len() - 1
            }
        };
        self.attrs[pos].value = vec![0; 16];
        let saved = self.authenticator;
        self.authenticator = auth_for_hmac;
        let bytes = self.encode();
        self.authenticator = saved;
        let bytes = bytes?;
        let mut mac = HmacMd5::new_from_slice(secret).map_err(|_| Malformed)?;
        mac.update(&bytes);
        self.attrs[pos].value = mac.finalize().into_bytes().to_vec();
        Ok(())
    }

    fn message_authenticator_ok(&self, secret: &[u8], auth_for_hmac: [u8; 16]) -> bool {
        let Some(got) = self
            .get(attr::MESSAGE_AUTHENTICATOR)
            .map(|a| a.value.clone())
        else {
            return false;
        };
        let mut copy = self.clone();
        if copy
            .sign_message_authenticator(secret, auth_for_hmac)
            .is_err()
        {
            return false;
        }
        copy.get(attr::MESSAGE_AUTHENTICATOR)
            .is_some_and(|a| ct_eq(&a.value, &got))
    }

    /// MD5(Code+Identifier+Length+`auth`+Attributes+Secret): the response
    /// authenticator (with the request's authenticator) and the
    /// accounting / Disconnect / CoA request authenticator (with zeros).
    fn md5_authenticator(&self, secret: &[u8], auth: [u8; 16]) -> Result<[u8; 16], Malformed> {
        let mut copy = self.clone();
        copy.authenticator = auth;
        let bytes = copy.encode()?;
        let mut h = Md5::new();
        h.update(&bytes);
        h.update(secret);
        Ok(h.finalize().into())
    }

    /// Finishes an Access-Request whose authenticator is already random:
    /// signs Message-Authenticator (always, CVE-2024-3596 / RFC 3579).
    pub fn seal_access_request(&mut self, secret: &[u8]) -> Result<Vec<u8>, Malformed> {
        let ra = self.authenticator;
        self.sign_message_authenticator(secret, ra)?;
        self.encode()
    }

    /// Finishes an Accounting-Request, Disconnect-Request or CoA-Request:
    /// the authenticator is MD5 over the packet with zeros (RFC 2866 §3,
    /// RFC 5176 §2.3). Disconnect and CoA also get Message-Authenticator.
    pub fn seal_md5_request(&mut self, secret: &[u8]) -> Result<Vec<u8>, Malformed> {
        if self.code != Code::AccountingRequest as u8 {
            self.sign_message_authenticator(secret, [0; 16])?;
        }
        self.authenticator = self.md5_authenticator(secret, [0; 16])?;
        self.encode()
    }

    /// Finishes a reply to a request whose authenticator was `request_auth`
    /// (Access-Accept/Reject, Accounting-Response, Disconnect/CoA ACK/NAK):
    /// Message-Authenticator, then the response authenticator.
    pub fn seal_response(
        &mut self,
        secret: &[u8],
        request_auth: [u8; 16],
    ) -> Result<Vec<u8>, Malformed> {
        if self.code != Code::AccountingResponse as u8 {
            self.sign_message_authenticator(secret, request_auth)?;
        }
        self.authenticator = self.md5_authenticator(secret, request_auth)?;
        self.encode()
    }

    /// Checks a reply against the request it answers: the response
    /// authenticator, and Message-Authenticator, which is required on
    /// every Access-* reply (BlastRADIUS, CVE-2024-3596) and checked when
    /// present on others.
    pub fn verify_response(&self, secret: &[u8], request_auth: [u8; 16]) -> bool {
        let Ok(expect) = self.md5_authenticator(secret, request_auth) else {
            return false;
        };
        if !ct_eq(&expect, &self.authenticator) {
            return false;
        }
        let access = matches!(
            self.code(),
            Some(Code::AccessAccept | Code::AccessReject | Code::AccessChallenge)
        );
        match self.get(attr::MESSAGE_AUTHENTICATOR) {
            Some(_) => self.message_authenticator_ok(secret, request_auth),
            None => !access,
        }
    }

    /// Checks a Disconnect-Request or CoA-Request (or Accounting-Request)
    /// received from a client: MD5 authenticator over zeros, and
    /// Message-Authenticator when present.
    pub fn verify_request(&self, secret: &[u8]) -> bool {
        let Ok(expect) = self.md5_authenticator(secret, [0; 16]) else {
            return false;
        };
        if !ct_eq(&expect, &self.authenticator) {
            return false;
        }
        match self.get(attr::MESSAGE_AUTHENTICATOR) {
            Some(_) => self.message_authenticator_ok(secret, [0; 16]),
            None => true,
        }
    }
}

/// RFC 2865 §5.2: User-Password hidden with the secret and the Request
/// Authenticator. Passwords longer than 128 octets are refused.
pub fn hide_password(password: &[u8], secret: &[u8], request_auth: &[u8; 16]) -> Option<Vec<u8>> {
    if password.len() > 128 {
        return None;
    }
    let mut padded = password.to_vec();
    let n = padded.len().div_ceil(16).max(1) * 16;
    padded.resize(n, 0);
    let mut out = Vec::with_capacity(n);
    let mut prev: Vec<u8> = request_auth.to_vec();
    for chunk in padded.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let b: [u8; 16] = h.finalize().into();
        let c: Vec<u8> = chunk.iter().zip(b).map(|(p, k)| p ^ k).collect();
        out.extend_from_slice(&c);
        prev = c;
    }
    Some(out)
}

/// Reverses [`hide_password`] (trailing NULs removed): what a server does;
/// used by tests and the Disconnect/CoA listener's own checks.
pub fn unhide_password(hidden: &[u8], secret: &[u8], request_auth: &[u8; 16]) -> Option<Vec<u8>> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > 128 {
        return None;
    }
    let mut out = Vec::with_capacity(hidden.len());
    let mut prev: Vec<u8> = request_auth.to_vec();
    for chunk in hidden.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let b: [u8; 16] = h.finalize().into();
        out.extend(chunk.iter().zip(b).map(|(c, k)| c ^ k));
        prev = chunk.to_vec();
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    // RFC 2865 §7.1, shared secret "xyzzy5461".
    const REQ_7_1: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
        93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
        01 10 05 06 00 00 00 03";
    const ACC_7_1: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
        9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
        0e 06 c0 a8 01 03";
    const ACC_7_2: &str = "02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0
        3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01
        08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00
        00 01 0c 06 00 00 05 dc";
    const REQ_7_2: &str = "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
        0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
        75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
        06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
        02 07 06 00 00 00 01";
    const SECRET: &[u8] = b"xyzzy5461";

    #[test]
    fn rfc2865_7_1_user_password_and_response_authenticator() {
        let req = Packet::decode(&hex(REQ_7_1)).unwrap();
        assert_eq!(req.get(attr::USER_NAME).unwrap().value, b"nemo");
        let hidden = &req.get(attr::USER_PASSWORD).unwrap().value;
        assert_eq!(
            unhide_password(hidden, SECRET, &req.authenticator).unwrap(),
            b"arctangent"
        );
        assert_eq!(
            &hide_password(b"arctangent", SECRET, &req.authenticator).unwrap(),
            hidden
        );
        assert_eq!(req.encode().unwrap(), hex(REQ_7_1));
        let acc = Packet::decode(&hex(ACC_7_1)).unwrap();
        // Authenticator right; but an Access-Accept without
        // Message-Authenticator is refused (CVE-2024-3596).
        assert_eq!(
            acc.md5_authenticator(SECRET, req.authenticator).unwrap(),
            acc.authenticator
        );
        assert!(!acc.verify_response(SECRET, req.authenticator));
    }

    #[test]
    fn rfc2865_7_2_chap_request_and_accept() {
        let req = Packet::decode(&hex(REQ_7_2)).unwrap();
        let chap = &req.get(attr::CHAP_PASSWORD).unwrap().value;
        assert_eq!(chap[0], 22);
        let acc = Packet::decode(&hex(ACC_7_2)).unwrap();
        assert_eq!(
            acc.md5_authenticator(SECRET, req.authenticator).unwrap(),
            acc.authenticator
        );
        assert_eq!(
            acc.get(attr::FRAMED_IP_ADDRESS).unwrap().value,
            vec![255, 255, 255, 254]
        );
        // A wrong secret or another request's authenticator does not match.
        assert_ne!(
            acc.md5_authenticator(b"other", req.authenticator).unwrap(),
            acc.authenticator
        );
    }

    #[test]
    fn sealed_replies_verify_and_tampering_is_caught() {
        let ra = [3u8; 16];
        let mut reply = Packet::new(Code::AccessAccept, 9, [0; 16]);
        reply
            .attrs
            .push(Attr::u32(attr::FRAMED_IP_ADDRESS, 0x6440_0001));
        let bytes = reply.seal_response(SECRET, ra).unwrap();
        let p = Packet::decode(&bytes).unwrap();
        assert!(p.verify_response(SECRET, ra));
        assert!(!p.verify_response(b"wrong", ra));
        assert!(!p.verify_response(SECRET, [4; 16]));
        // Flip one bit of an attribute: both checks fail.
        let mut bad = bytes.clone();
        bad[22] ^= 1;
        assert!(!Packet::decode(&bad).unwrap().verify_response(SECRET, ra));
        // A bad Message-Authenticator with a recomputed response
        // authenticator (an attacker without the secret cannot do even
        // that, but the check must stand alone).
        let mut forged = p.clone();
        let pos = forged
            .attrs
            .iter()
            .position(|a| a.kind == attr::MESSAGE_AUTHENTICATOR)
            .unwrap();
        forged.attrs[pos].value = vec![0; 16];
        forged.authenticator = forged.md5_authenticator(SECRET, ra).unwrap();
        assert!(!forged.verify_response(SECRET, ra));
    }

    #[test]
    fn md5_requests_round_trip() {
        for code in [
            Code::AccountingRequest,
            Code::DisconnectRequest,
            Code::CoaRequest,
        ] {
            let mut p = Packet::new(code, 1, [0; 16]);
            p.attrs
                .push(Attr::new(attr::ACCT_SESSION_ID, b"abc".to_vec()));
            let bytes = p.seal_md5_request(SECRET).unwrap();
            let q = Packet::decode(&bytes).unwrap();
            assert!(q.verify_request(SECRET), "{code:?}");
            assert!(!q.verify_request(b"nope"), "{code:?}");
        }
    }

    #[test]
    fn vendor_attributes() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.attrs
            .push(Attr::vendor(ms::VENDOR, ms::CHAP2_SUCCESS, b"\x07S=ABC"));
        assert_eq!(
            p.vendor(ms::VENDOR, ms::CHAP2_SUCCESS),
            Some(&b"\x07S=ABC"[..])
        );
        assert_eq!(p.vendor(ms::VENDOR, ms::CHAP_ERROR), None);
        assert_eq!(p.vendor(9, ms::CHAP2_SUCCESS), None);
    }

    #[test]
    fn malformed_packets_are_refused() {
        assert_eq!(Packet::decode(&[1, 0, 0]), Err(Malformed));
        let mut b = hex(REQ_7_1);
        b[3] = 200; // Length beyond the datagram
        assert_eq!(Packet::decode(&b), Err(Malformed));
        let mut b = hex(REQ_7_1);
        b[21] = 1; // attribute length 1
        assert_eq!(Packet::decode(&b), Err(Malformed));
        let mut b = hex(REQ_7_1);
        b.extend_from_slice(&[0xff; 7]); // padding past Length is ignored
        assert!(Packet::decode(&b).is_ok());
    }
}
