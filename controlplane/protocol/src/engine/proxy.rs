//! Proxy LCP and proxy authentication (RFC 2661 §4.4.5, ICCN AVPs
//! 26–33) turned into PPP terms: the L2TP side reads the AVPs, the PPP
//! link only ever sees a [`Proxy`]. Who calls it: the engine, when a call
//! connects.

use crate::l2tp::Avp;
use crate::l2tp::avp::ProxyAuthType;
use crate::ppp::auth::Credentials;
use crate::ppp::link::Proxy;

/// Reads the proxy AVPs of a call; `None` without proxy LCP (both the
/// last sent and the last received Configure-Request are needed).
pub fn from_avps(avps: &[Avp]) -> Option<Proxy> {
    let mut p = Proxy::default();
    let (mut sent, mut recv) = (false, false);
    let (mut kind, mut name, mut challenge, mut id, mut response) = (None, None, None, None, None);
    for a in avps {
        match a {
            Avp::LastSentLcpConfReq(v) => {
                p.last_sent = v.clone();
                sent = true;
            }
            Avp::LastReceivedLcpConfReq(v) => {
                p.last_received = v.clone();
                recv = true;
            }
            Avp::ProxyAuthenType(t) => kind = ProxyAuthType::from_u16(*t),
            Avp::ProxyAuthenName(v) => name = Some(v.clone()),
            Avp::ProxyAuthenChallenge(v) => challenge = Some(v.clone()),
            Avp::ProxyAuthenId(v) => id = Some(*v),
            Avp::ProxyAuthenResponse(v) => response = Some(v.clone()),
            _ => {}
        }
    }
    if !(sent && recv) {
        return None;
    }
    p.auth_id = id;
    p.credentials = match (kind, name, challenge, id, response) {
        (Some(ProxyAuthType::Pap), Some(user), _, _, Some(password)) => {
            Some(Credentials::Pap { user, password })
        }
        (Some(ProxyAuthType::Chap), Some(user), Some(challenge), Some(identifier), Some(r)) => {
            <[u8; 16]>::try_from(r.as_slice())
                .ok()
                .map(|response| Credentials::ChapMd5 {
                    user,
                    identifier,
                    challenge,
                    response,
                })
        }
        _ => None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::lcp::LcpOption;

    fn opts(o: &[LcpOption]) -> Vec<u8> {
        let mut v = Vec::new();
        crate::ppp::packet::encode_options(o, &mut v).unwrap();
        v
    }

    #[test]
    fn proxy_avps_are_read_from_the_call() {
        let avps = vec![
            Avp::LastSentLcpConfReq(opts(&[LcpOption::MagicNumber(1)])),
            Avp::LastReceivedLcpConfReq(opts(&[LcpOption::MagicNumber(2)])),
            Avp::ProxyAuthenType(3),
            Avp::ProxyAuthenName(b"bob".to_vec()),
            Avp::ProxyAuthenResponse(b"secret".to_vec()),
        ];
        let p = from_avps(&avps).unwrap();
        assert_eq!(
            p.credentials,
            Some(Credentials::Pap {
                user: b"bob".to_vec(),
                password: b"secret".to_vec()
            })
        );
        assert!(from_avps(&avps[2..]).is_none());
    }
}
