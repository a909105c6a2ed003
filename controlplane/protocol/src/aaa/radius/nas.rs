//! What an LNS says in RADIUS, and what it takes from the answers: the
//! Access-Request for each authentication method (RFC 2865 §5, RFC 2548
//! for MS-CHAPv2), the authorization in an Access-Accept, and the
//! Accounting-Requests (RFC 2866, with RFC 2869 gigawords and RFC 2867 /
//! 2868 tunnel attributes).
//!
//! Pure functions over values: no I/O, no state. The LNS engine calls them
//! and hands the attribute lists to the [`super::client::Client`].

use super::packet::{Attr, Code, Packet, attr, ms};
use crate::aaa::prefix::Ipv6Net;
use crate::ppp::auth::{Credentials, Decision};
use crate::ppp::link::DownCause;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The NAS's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nas {
    /// NAS-IP-Address.
    pub ip: Option<Ipv4Addr>,
    /// NAS-Identifier.
    pub identifier: String,
}

/// What is known about a call when talking to RADIUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// User-Name.
    pub user: Vec<u8>,
    /// NAS-Port: unique per call on this NAS (tunnel << 16 | session).
    pub nas_port: u32,
    /// Calling-Station-Id: the L2TP Calling Number.
    pub calling: Option<Vec<u8>>,
    /// Called-Station-Id: the L2TP Called Number.
    pub called: Option<Vec<u8>>,
    /// What it shares with the other calls of its tunnel.
    pub tunnel: Arc<CallTunnel>,
    /// Acct-Session-Id.
    pub session_id: String,
}

/// What every call of one tunnel tells RADIUS alike: shared by them, not
/// copied into each (a tunnel may carry tens of thousands of calls; issue
/// 18, memory per session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTunnel {
    /// Tunnel-Client-Endpoint (the LAC) and Tunnel-Server-Endpoint (us).
    pub lac: IpAddr,
    /// See `lac`.
    pub lns: IpAddr,
    /// Tunnel-Client-Auth-ID: the LAC's Host Name.
    pub lac_name: Vec<u8>,
    /// Tunnel-Server-Auth-ID: our Host Name.
    pub lns_name: Vec<u8>,
    /// Acct-Tunnel-Connection: the tunnel's identity (RFC 2867).
    pub connection: String,
}

/// Service-Type Framed, Framed-Protocol PPP, NAS-Port-Type Virtual (RFC
/// 2865 §5.6, §5.7, §5.41), Tunnel-Type L2TP and Tunnel-Medium-Type IPv4
/// (RFC 2868 §3.1, §3.2).
/// A text attribute cut to fit (RFC 2865 §5: at most 253 octets): a LAC
/// or subscriber cannot make a request unencodable with a long name.
fn text(kind: u8, v: &[u8]) -> Attr {
    Attr::new(kind, v[..v.len().min(253)].to_vec())
}

fn common(nas: &Nas, call: &Call, out: &mut Vec<Attr>) {
    out.push(text(attr::USER_NAME, &call.user));
    if let Some(ip) = nas.ip {
        out.push(Attr::new(attr::NAS_IP_ADDRESS, ip.octets().to_vec()));
    }
    out.push(Attr::new(
        attr::NAS_IDENTIFIER,
        nas.identifier.clone().into_bytes(),
    ));
    out.push(Attr::u32(attr::NAS_PORT, call.nas_port));
    out.push(Attr::u32(attr::NAS_PORT_TYPE, 5));
    out.push(Attr::u32(attr::SERVICE_TYPE, 2));
    out.push(Attr::u32(attr::FRAMED_PROTOCOL, 1));
    if let Some(v) = &call.calling {
        out.push(text(attr::CALLING_STATION_ID, v));
    }
    if let Some(v) = &call.called {
        out.push(text(attr::CALLED_STATION_ID, v));
    }
    // RFC 2868 tagged attributes: tag 0 (untagged) for integers is carried
    // in the first octet.
    out.push(Attr::new(attr::TUNNEL_TYPE, vec![0, 0, 0, 3]));
    out.push(Attr::new(attr::TUNNEL_MEDIUM_TYPE, vec![0, 0, 0, 1]));
    let t = &call.tunnel;
    out.push(Attr::new(
        attr::TUNNEL_CLIENT_ENDPOINT,
        t.lac.to_string().into_bytes(),
    ));
    out.push(Attr::new(
        attr::TUNNEL_SERVER_ENDPOINT,
        t.lns.to_string().into_bytes(),
    ));
    if !t.lac_name.is_empty() {
        out.push(Attr::new(attr::TUNNEL_CLIENT_AUTH_ID, t.lac_name.clone()));
    }
    if !t.lns_name.is_empty() {
        out.push(Attr::new(attr::TUNNEL_SERVER_AUTH_ID, t.lns_name.clone()));
    }
    out.push(Attr::new(
        attr::ACCT_SESSION_ID,
        call.session_id.clone().into_bytes(),
    ));
}

/// The Access-Request attributes for `creds`, and the clear password the
/// client must hide (PAP only).
pub fn access_request(nas: &Nas, call: &Call, creds: &Credentials) -> (Vec<Attr>, Option<Vec<u8>>) {
    let mut a = Vec::new();
    common(nas, call, &mut a);
    let password = match creds {
        Credentials::Pap { password, .. } => Some(password.clone()),
        Credentials::ChapMd5 {
            identifier,
            challenge,
            response,
            ..
        } => {
            // RFC 2865 §5.3: CHAP Ident then the 16-octet response;
            // §5.40: the challenge in CHAP-Challenge.
            let mut v = vec![*identifier];
            v.extend_from_slice(response);
            a.push(Attr::new(attr::CHAP_PASSWORD, v));
            a.push(Attr::new(attr::CHAP_CHALLENGE, challenge.clone()));
            None
        }
        Credentials::MsChapV2 {
            identifier,
            auth_challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            // RFC 2548 §2.3.2: Ident, Flags, Peer-Challenge, 8 reserved,
            // Response.
            let mut v = vec![*identifier, 0];
            v.extend_from_slice(peer_challenge);
            v.extend_from_slice(&[0; 8]);
            v.extend_from_slice(nt_response);
            a.push(Attr::vendor(ms::VENDOR, ms::CHAP_CHALLENGE, auth_challenge));
            a.push(Attr::vendor(ms::VENDOR, ms::CHAP2_RESPONSE, &v));
            None
        }
    };
    (a, password)
}

/// What an Access-Accept grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Accept (with the MS-CHAPv2 authenticator response) or reject.
    pub decision: Decision,
    /// Framed-IP-Address, unless it says "NAS assigns" (RFC 2865 §5.8).
    pub framed_ip: Option<Ipv4Addr>,
    /// Framed-Pool (RFC 2869 §5.18).
    pub framed_pool: Option<String>,
    /// Session-Timeout, seconds.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout, seconds (RFC 2865 §5.28).
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval, seconds (RFC 2869 §5.16).
    pub interim: Option<u32>,
    /// Class attributes, echoed in accounting (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    /// Framed-IPv6-Prefix: the subscriber link's prefix (RFC 3162 §2.3).
    pub framed_ipv6_prefix: Option<Ipv6Net>,
    /// Framed-IPv6-Pool: the prefix pool to take it from (RFC 3162 §2.6).
    pub framed_ipv6_pool: Option<String>,
    /// Delegated-IPv6-Prefix: the prefix DHCPv6 delegates (RFC 4818 §3).
    pub delegated_ipv6_prefix: Option<Ipv6Net>,
    /// Delegated-IPv6-Prefix-Pool: the pool to delegate one from (RFC
    /// 6911 §3.3).
    pub delegated_ipv6_pool: Option<String>,
}

/// Reads a verified Access-Accept or Access-Reject.
pub fn authorization(reply: &Packet, creds: &Credentials) -> Authorization {
    let text = reply
        .get(attr::REPLY_MESSAGE)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
    let mut out = Authorization {
        decision: Decision::Reject {
            message: text
                .clone()
                .map_or("authentication failed".into(), Cow::Owned),
        },
        framed_ip: None,
        framed_pool: None,
        session_timeout: None,
        idle_timeout: None,
        interim: None,
        class: Vec::new(),
        framed_ipv6_prefix: None,
        framed_ipv6_pool: None,
        delegated_ipv6_prefix: None,
        delegated_ipv6_pool: None,
    };
    if reply.code() != Some(Code::AccessAccept) {
        return out;
    }
    let authenticator_response = match creds {
        Credentials::MsChapV2 { identifier, .. } => {
            // RFC 2548 §2.3.3: Ident (the exchange's) then the 42-octet
            // "S=" string.
            match reply
                .vendor(ms::VENDOR, ms::CHAP2_SUCCESS)
                .filter(|v| v.first() == Some(identifier))
                .and_then(|v| v.get(1..))
                .and_then(|s| std::str::from_utf8(s).ok())
                .filter(|s| crate::ppp::mschapv2::parse_success_message(s.as_bytes()).is_ok())
            {
                Some(s) => Some(s.to_string()),
                // Accepted without proof for the peer: the peer would
                // refuse us; treat it as a reject.
                None => {
                    out.decision = Decision::Reject {
                        message: "RADIUS accept without MS-CHAP2-Success".into(),
                    };
                    return out;
                }
            }
        }
        _ => None,
    };
    out.decision = Decision::Accept {
        authenticator_response,
        message: text.map_or("welcome".into(), Cow::Owned),
    };
    out.framed_ip = reply
        .get(attr::FRAMED_IP_ADDRESS)
        .and_then(Attr::as_u32)
        .filter(|v| *v != 0xffff_fffe && *v != 0xffff_ffff)
        .map(Ipv4Addr::from);
    out.framed_pool = reply
        .get(attr::FRAMED_POOL)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
    out.session_timeout = reply.get(attr::SESSION_TIMEOUT).and_then(Attr::as_u32);
    out.idle_timeout = reply
        .get(attr::IDLE_TIMEOUT)
        .and_then(Attr::as_u32)
        .filter(|t| *t > 0);
    out.interim = reply
        .get(attr::ACCT_INTERIM_INTERVAL)
        .and_then(Attr::as_u32);
    out.class = reply
        .attrs
        .iter()
        .filter(|a| a.kind == attr::CLASS)
        .map(|a| a.value.clone())
        .collect();
    out.framed_ipv6_prefix = reply
        .get(attr::FRAMED_IPV6_PREFIX)
        .and_then(|a| prefix_of(&a.value));
    out.framed_ipv6_pool = reply
        .get(attr::FRAMED_IPV6_POOL)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
    out.delegated_ipv6_prefix = reply
        .get(attr::DELEGATED_IPV6_PREFIX)
        .and_then(|a| prefix_of(&a.value));
    out.delegated_ipv6_pool = reply
        .get(attr::DELEGATED_IPV6_PREFIX_POOL)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
    out
}

/// A prefix attribute's value (RFC 3162 §2.3, RFC 4818 §3): Reserved,
/// Prefix-Length, then up to 16 octets of prefix. `None` when it does not
/// hold together (a length past 128, or past the octets given).
pub fn prefix_of(v: &[u8]) -> Option<Ipv6Net> {
    let (&len, prefix) = v.get(1..)?.split_first()?;
    if len > 128 || prefix.len() > 16 || prefix.len() * 8 < usize::from(len) {
        return None;
    }
    let mut a = [0u8; 16];
    a[..prefix.len()].copy_from_slice(prefix);
    Some(Ipv6Net::new(std::net::Ipv6Addr::from(a), len))
}

/// A prefix attribute (RFC 3162 §2.3, RFC 4818 §3), its prefix in full
/// 16 octets.
pub fn prefix_attr(kind: u8, net: Ipv6Net) -> Attr {
    let mut v = vec![0, net.len];
    v.extend_from_slice(&net.addr.octets());
    Attr::new(kind, v)
}

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Start.
    Start = 1,
    /// Stop.
    Stop = 2,
    /// Interim-Update.
    Interim = 3,
}

/// Traffic of a session, from the data plane's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Octets from the subscriber.
    pub input_octets: u64,
    /// Octets to the subscriber.
    pub output_octets: u64,
    /// Packets from the subscriber.
    pub input_packets: u64,
    /// Packets to the subscriber.
    pub output_packets: u64,
    /// Seconds since the session started.
    pub session_time: u32,
}

/// Acct-Terminate-Cause (RFC 2866 §5.10) for why a link ended.
pub fn terminate_cause(cause: &DownCause) -> u32 {
    cause.row().acct_terminate
}

/// What a session holds, as accounting reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framed {
    /// Framed-IP-Address.
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix (RFC 3162 §2.3).
    pub ipv6_prefix: Option<Ipv6Net>,
    /// Delegated-IPv6-Prefix (RFC 4818 §3).
    pub delegated: Option<Ipv6Net>,
    /// Framed-IPv6-Address (RFC 6911 §3.1): the address DHCPv6 IA_NA
    /// bound.
    pub ipv6_address: Option<std::net::Ipv6Addr>,
}

/// An Accounting-Request's attributes.
pub fn accounting_request(
    nas: &Nas,
    call: &Call,
    status: Status,
    framed: Framed,
    usage: Usage,
    terminate: Option<u32>,
    class: &[Vec<u8>],
) -> Vec<Attr> {
    let mut a = Vec::new();
    common(nas, call, &mut a);
    a.push(Attr::u32(attr::ACCT_STATUS_TYPE, status as u32));
    a.push(Attr::u32(attr::ACCT_AUTHENTIC, 1)); // RADIUS
    a.push(Attr::new(
        attr::ACCT_TUNNEL_CONNECTION,
        call.tunnel.connection.clone().into_bytes(),
    ));
    if let Some(ip) = framed.ipv4 {
        a.push(Attr::new(attr::FRAMED_IP_ADDRESS, ip.octets().to_vec()));
    }
    if let Some(p) = framed.ipv6_prefix {
        a.push(prefix_attr(attr::FRAMED_IPV6_PREFIX, p));
    }
    if let Some(p) = framed.delegated {
        a.push(prefix_attr(attr::DELEGATED_IPV6_PREFIX, p));
    }
    if let Some(ip) = framed.ipv6_address {
        a.push(Attr::new(attr::FRAMED_IPV6_ADDRESS, ip.octets().to_vec()));
    }
    for c in class {
        a.push(Attr::new(attr::CLASS, c.clone()));
    }
    if status != Status::Start {
        // RFC 2869 §5.1/§5.2: the high 32 bits go in the gigawords.
        let split = |v: u64| ((v & 0xffff_ffff) as u32, (v >> 32) as u32);
        let (io, ig) = split(usage.input_octets);
        let (oo, og) = split(usage.output_octets);
        a.push(Attr::u32(attr::ACCT_INPUT_OCTETS, io));
        a.push(Attr::u32(attr::ACCT_OUTPUT_OCTETS, oo));
        a.push(Attr::u32(attr::ACCT_INPUT_GIGAWORDS, ig));
        a.push(Attr::u32(attr::ACCT_OUTPUT_GIGAWORDS, og));
        a.push(Attr::u32(
            attr::ACCT_INPUT_PACKETS,
            usage.input_packets.min(u64::from(u32::MAX)) as u32,
        ));
        a.push(Attr::u32(
            attr::ACCT_OUTPUT_PACKETS,
            usage.output_packets.min(u64::from(u32::MAX)) as u32,
        ));
        a.push(Attr::u32(attr::ACCT_SESSION_TIME, usage.session_time));
    }
    if let Some(t) = terminate {
        a.push(Attr::u32(attr::ACCT_TERMINATE_CAUSE, t));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call {
            user: b"alice".to_vec(),
            nas_port: 0x0001_0002,
            calling: Some(b"0123".to_vec()),
            called: None,
            tunnel: Arc::new(CallTunnel {
                lac: "10.0.0.2".parse().unwrap(),
                lns: "10.0.0.1".parse().unwrap(),
                lac_name: b"lac1".to_vec(),
                lns_name: b"xlns".to_vec(),
                connection: "1".into(),
            }),
            session_id: "00000001-00000001".into(),
        }
    }

    #[test]
    fn prefix_attributes_read_back_and_odd_ones_are_refused() {
        let p: Ipv6Net = "2001:db8:1:2::/64".parse().unwrap();
        let a = prefix_attr(attr::FRAMED_IPV6_PREFIX, p);
        assert_eq!(a.value.len(), 18);
        assert_eq!(prefix_of(&a.value), Some(p));
        // The prefix's significant octets only (RFC 3162 allows it).
        assert_eq!(prefix_of(&[0, 64, 0x20, 1, 0xd, 0xb8, 0, 1, 0, 2]), Some(p));
        assert_eq!(
            prefix_of(&[0, 64, 0x20, 1]),
            None,
            "fewer octets than its length"
        );
        assert_eq!(prefix_of(&[0, 129]), None);
        assert_eq!(prefix_of(&[0]), None);
    }

    fn nas() -> Nas {
        Nas {
            ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            identifier: "xlns".into(),
        }
    }

    #[test]
    fn access_requests_carry_method_attributes() {
        let (a, pw) = access_request(
            &nas(),
            &call(),
            &Credentials::Pap {
                user: b"alice".to_vec(),
                password: b"pw".to_vec(),
            },
        );
        assert_eq!(pw.as_deref(), Some(&b"pw"[..]));
        assert!(a.contains(&Attr::u32(attr::NAS_PORT_TYPE, 5)));
        assert!(a.contains(&Attr::new(attr::CALLING_STATION_ID, b"0123".to_vec())));
        let (a, pw) = access_request(
            &nas(),
            &call(),
            &Credentials::MsChapV2 {
                user: b"alice".to_vec(),
                identifier: 9,
                auth_challenge: [1; 16],
                peer_challenge: [2; 16],
                nt_response: [3; 24],
            },
        );
        assert!(pw.is_none());
        let mut p = Packet::new(Code::AccessRequest, 0, [0; 16]);
        p.attrs = a;
        let r = p.vendor(ms::VENDOR, ms::CHAP2_RESPONSE).unwrap();
        assert_eq!(r.len(), 50);
        assert_eq!(
            (r[0], &r[2..18], &r[26..50]),
            (9, &[2u8; 16][..], &[3u8; 24][..])
        );
    }

    #[test]
    fn accept_grants_address_pool_and_timers() {
        let mut r = Packet::new(Code::AccessAccept, 0, [0; 16]);
        r.attrs
            .push(Attr::u32(attr::FRAMED_IP_ADDRESS, 0x6440_0909));
        r.attrs
            .push(Attr::new(attr::FRAMED_POOL, b"business".to_vec()));
        r.attrs.push(Attr::u32(attr::ACCT_INTERIM_INTERVAL, 60));
        r.attrs.push(Attr::new(attr::CLASS, b"c1".to_vec()));
        r.attrs.push(Attr::u32(attr::IDLE_TIMEOUT, 600));
        let creds = Credentials::Pap {
            user: b"a".to_vec(),
            password: b"b".to_vec(),
        };
        let z = authorization(&r, &creds);
        assert!(matches!(z.decision, Decision::Accept { .. }));
        assert_eq!(z.framed_ip, Some(Ipv4Addr::new(100, 64, 9, 9)));
        assert_eq!(z.framed_pool.as_deref(), Some("business"));
        assert_eq!(z.interim, Some(60));
        assert_eq!(z.idle_timeout, Some(600));
        assert_eq!(z.class, vec![b"c1".to_vec()]);
        // 255.255.255.254: the NAS assigns.
        r.attrs[0] = Attr::u32(attr::FRAMED_IP_ADDRESS, 0xffff_fffe);
        assert_eq!(authorization(&r, &creds).framed_ip, None);
        // MS-CHAPv2 accept without MS-CHAP2-Success is no accept.
        let ms = Credentials::MsChapV2 {
            user: b"a".to_vec(),
            identifier: 1,
            auth_challenge: [0; 16],
            peer_challenge: [0; 16],
            nt_response: [0; 24],
        };
        assert!(matches!(
            authorization(&r, &ms).decision,
            Decision::Reject { .. }
        ));
        let good = format!("S={}", "0123456789".repeat(4));
        // The wrong Ident (another exchange's) does not count.
        let mut v = vec![2u8];
        v.extend_from_slice(good.as_bytes());
        r.attrs
            .push(Attr::vendor(ms::VENDOR, ms::CHAP2_SUCCESS, &v));
        assert!(matches!(
            authorization(&r, &ms).decision,
            Decision::Reject { .. }
        ));
        r.attrs.pop();
        v[0] = 1;
        r.attrs
            .push(Attr::vendor(ms::VENDOR, ms::CHAP2_SUCCESS, &v));
        assert_eq!(
            authorization(&r, &ms).decision,
            Decision::Accept {
                authenticator_response: Some(good),
                message: "welcome".into()
            }
        );
    }

    #[test]
    fn stop_carries_counters_with_gigawords_and_cause() {
        let u = Usage {
            input_octets: (5u64 << 32) + 7,
            output_octets: 9,
            input_packets: 3,
            output_packets: 4,
            session_time: 61,
        };
        let a = accounting_request(
            &nas(),
            &call(),
            Status::Stop,
            Framed::default(),
            u,
            Some(1),
            &[],
        );
        assert!(a.contains(&Attr::u32(attr::ACCT_INPUT_OCTETS, 7)));
        assert!(a.contains(&Attr::u32(attr::ACCT_INPUT_GIGAWORDS, 5)));
        assert!(a.contains(&Attr::u32(attr::ACCT_SESSION_TIME, 61)));
        assert!(a.contains(&Attr::u32(attr::ACCT_TERMINATE_CAUSE, 1)));
        let s = accounting_request(
            &nas(),
            &call(),
            Status::Start,
            Framed::default(),
            u,
            None,
            &[],
        );
        assert!(!s.iter().any(|x| x.kind == attr::ACCT_INPUT_OCTETS));
    }
}
