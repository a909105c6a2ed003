//! Shared fixtures for the control-plane integration tests: one realistic
//! message of every L2TP type, one packet of every PPP code, and helpers to
//! wrap them in Ethernet/IPv4/UDP and write a pcap for external decoders.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod process;
pub mod radiusd;

use lns_dataplane::wire::{
    EtherType, EthernetAddress, EthernetRepr, Ipv4Repr, L2tpRepr, PppRepr, UdpPacket, UdpRepr,
};
use lns_protocol::l2tp::avp::{CallErrors, PppDisconnectCause, Q931Cause, bearer, framing};
use lns_protocol::l2tp::message::{AvpSet, Hiding};
use lns_protocol::l2tp::result::{CdnResult, ErrorCode, StopCcnResult};
use lns_protocol::l2tp::{Avp, ControlMessage, MessageType, ResultCode};
use lns_protocol::ppp::chap::ChapPacket;
use lns_protocol::ppp::ipcp::{IpcpOption, IpcpPacket};
use lns_protocol::ppp::ipv6cp::{Ipv6cpOption, Ipv6cpPacket};
use lns_protocol::ppp::lcp::{AuthProtocol, LcpOption, LcpPacket};
use lns_protocol::ppp::mschapv2;
use lns_protocol::ppp::pap::PapPacket;
use lns_protocol::ppp::{Body, PppProtocol};
use std::net::Ipv4Addr;

pub const SECRET: &[u8] = b"xlns-test-secret";
pub const RANDOM_VECTOR: [u8; 16] = [
    0x3c, 0x91, 0x0e, 0x5a, 0x77, 0x12, 0xd4, 0x08, 0xaa, 0x61, 0x2f, 0xb3, 0x90, 0x4e, 0x1d, 0xc7,
];

pub fn hiding(hide: AvpSet) -> Hiding<'static> {
    Hiding {
        secret: SECRET,
        random_vector: &RANDOM_VECTOR,
        padding: &[],
        hide,
    }
}

/// One message of every RFC 2661 type, each with its required AVPs and a
/// realistic selection of optional ones.
pub fn all_messages() -> Vec<ControlMessage> {
    use MessageType as M;
    let lcp_confreq = vec![0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x11, 0x22, 0x33, 0x44];
    vec![
        ControlMessage::new(
            M::Sccrq,
            vec![
                Avp::ProtocolVersion {
                    version: 1,
                    revision: 0,
                },
                Avp::HostName(b"lac1.example.net".to_vec()),
                Avp::FramingCapabilities(framing::SYNC | framing::ASYNC),
                Avp::BearerCapabilities(bearer::DIGITAL | bearer::ANALOG),
                Avp::AssignedTunnelId(0x1a2b),
                Avp::ReceiveWindowSize(16),
                Avp::Challenge(vec![0x42; 16]),
                Avp::TieBreaker(0x0102_0304_0506_0708),
                Avp::FirmwareRevision(0x0100),
                Avp::VendorName(b"xlns".to_vec()),
            ],
        ),
        ControlMessage::new(
            M::Sccrp,
            vec![
                Avp::ProtocolVersion {
                    version: 1,
                    revision: 0,
                },
                Avp::FramingCapabilities(framing::SYNC),
                Avp::HostName(b"lns.example.net".to_vec()),
                Avp::AssignedTunnelId(0x3c4d),
                Avp::ReceiveWindowSize(64),
                Avp::Challenge(vec![0x24; 16]),
                Avp::ChallengeResponse([0x5e; 16]),
                Avp::VendorName(b"xlns".to_vec()),
            ],
        ),
        ControlMessage::new(M::Scccn, vec![Avp::ChallengeResponse([0x6f; 16])]),
        ControlMessage::new(
            M::StopCcn,
            vec![
                Avp::AssignedTunnelId(0x3c4d),
                Avp::ResultCode(ResultCode::stop_ccn(
                    StopCcnResult::GeneralError,
                    Some(ErrorCode::UnknownMandatoryAvp),
                    "unknown mandatory AVP vendor 9 type 1",
                )),
            ],
        ),
        ControlMessage::new(M::Hello, vec![]),
        ControlMessage::new(
            M::Ocrq,
            vec![
                Avp::AssignedSessionId(0x0101),
                Avp::CallSerialNumber(77),
                Avp::MinimumBps(9600),
                Avp::MaximumBps(100_000_000),
                Avp::BearerType(bearer::DIGITAL),
                Avp::FramingType(framing::SYNC),
                Avp::CalledNumber(b"5551234".to_vec()),
                Avp::SubAddress(b"12".to_vec()),
            ],
        ),
        ControlMessage::new(
            M::Ocrp,
            vec![Avp::AssignedSessionId(0x0202), Avp::PhysicalChannelId(3)],
        ),
        ControlMessage::new(
            M::Occn,
            vec![
                Avp::TxConnectSpeed(10_000_000),
                Avp::FramingType(framing::SYNC),
                Avp::RxConnectSpeed(20_000_000),
                Avp::SequencingRequired,
            ],
        ),
        ControlMessage::new(
            M::Icrq,
            vec![
                Avp::AssignedSessionId(0x0303),
                Avp::CallSerialNumber(1234),
                Avp::BearerType(bearer::ANALOG),
                Avp::PhysicalChannelId(7),
                Avp::CallingNumber(b"0612345678".to_vec()),
                Avp::CalledNumber(b"isp.example".to_vec()),
            ],
        ),
        ControlMessage::new(M::Icrp, vec![Avp::AssignedSessionId(0x0404)]),
        ControlMessage::new(
            M::Iccn,
            vec![
                Avp::TxConnectSpeed(100_000_000),
                Avp::FramingType(framing::SYNC),
                Avp::InitialReceivedLcpConfReq(lcp_confreq.clone()),
                Avp::LastSentLcpConfReq(lcp_confreq.clone()),
                Avp::LastReceivedLcpConfReq(lcp_confreq),
                Avp::ProxyAuthenType(2),
                Avp::ProxyAuthenName(b"alice@isp".to_vec()),
                Avp::ProxyAuthenChallenge(vec![0x99; 16]),
                Avp::ProxyAuthenId(5),
                Avp::ProxyAuthenResponse(vec![0x77; 16]),
                Avp::PrivateGroupId(b"vpn-7".to_vec()),
                Avp::RxConnectSpeed(50_000_000),
            ],
        ),
        ControlMessage::new(
            M::Cdn,
            vec![
                Avp::ResultCode(ResultCode::cdn(CdnResult::Administrative, None, "")),
                Avp::AssignedSessionId(0x0505),
                Avp::Q931CauseCode(Q931Cause {
                    cause: 16,
                    message: 0x45,
                    advisory: b"normal".to_vec(),
                }),
                Avp::PppDisconnectCause(PppDisconnectCause {
                    code: 1,
                    protocol: 0,
                    direction: 2,
                    message: b"admin".to_vec(),
                }),
            ],
        ),
        ControlMessage::new(
            M::Wen,
            vec![Avp::CallErrors(CallErrors {
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                timeout_errors: 5,
                alignment_errors: 6,
            })],
        ),
        ControlMessage::new(
            M::Sli,
            vec![Avp::Accm {
                send: 0xffff_ffff,
                recv: 0x0000_0000,
            }],
        ),
    ]
}

/// A PPP packet: protocol and encoded bytes.
pub struct PppSample {
    pub name: &'static str,
    pub protocol: PppProtocol,
    pub code: u8,
    pub bytes: Vec<u8>,
}

/// One packet of every code of LCP (1-11), IPCP and IPv6CP (1-7), PAP
/// (1-3), CHAP (1-4) and MS-CHAPv2 (Challenge, Response, Success, Failure).
pub fn all_ppp() -> Vec<PppSample> {
    let mut v = Vec::new();
    let lcp_opts = vec![
        LcpOption::Mru(1460),
        LcpOption::Accm(0),
        LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
        LcpOption::MagicNumber(0x1234_5678),
        LcpOption::Pfc,
        LcpOption::Acfc,
    ];
    let lcp_bodies: Vec<(&'static str, Body<LcpOption>)> = vec![
        (
            "lcp-confreq",
            Body::ConfigureRequest(lcp_opts.clone().into()),
        ),
        ("lcp-confack", Body::ConfigureAck(lcp_opts.into())),
        (
            "lcp-confnak",
            Body::ConfigureNak(vec![LcpOption::AuthProtocol(AuthProtocol::MsChapV2)].into()),
        ),
        (
            "lcp-confrej",
            Body::ConfigureReject(
                vec![LcpOption::Unknown {
                    kind: 13,
                    data: vec![6],
                }]
                .into(),
            ),
        ),
        ("lcp-termreq", Body::TerminateRequest(b"bye".to_vec())),
        ("lcp-termack", Body::TerminateAck(vec![])),
        (
            "lcp-coderej",
            Body::CodeReject(vec![0x0c, 0x01, 0x00, 0x04]),
        ),
        (
            "lcp-protrej",
            Body::ProtocolReject {
                protocol: 0x80fd,
                information: vec![1, 1, 0, 4],
            },
        ),
        (
            "lcp-echoreq",
            Body::EchoRequest {
                magic: 0x1234_5678,
                data: vec![],
            },
        ),
        (
            "lcp-echorep",
            Body::EchoReply {
                magic: 0x8765_4321,
                data: vec![],
            },
        ),
        (
            "lcp-discard",
            Body::DiscardRequest {
                magic: 0x1234_5678,
                data: b"x".to_vec(),
            },
        ),
    ];
    for (i, (name, body)) in lcp_bodies.into_iter().enumerate() {
        let p = LcpPacket {
            identifier: i as u8 + 1,
            body,
        };
        v.push(PppSample {
            name,
            protocol: PppProtocol::LCP,
            code: p.code(),
            bytes: p.encode().unwrap(),
        });
    }
    let addr = Ipv4Addr::new(100, 64, 1, 2);
    let ipcp_bodies: Vec<(&'static str, Body<IpcpOption>)> = vec![
        (
            "ipcp-confreq",
            Body::ConfigureRequest(
                vec![
                    IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                    IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED),
                    IpcpOption::SecondaryDns(Ipv4Addr::UNSPECIFIED),
                ]
                .into(),
            ),
        ),
        (
            "ipcp-confack",
            Body::ConfigureAck(vec![IpcpOption::IpAddress(addr)].into()),
        ),
        (
            "ipcp-confnak",
            Body::ConfigureNak(
                vec![
                    IpcpOption::IpAddress(addr),
                    IpcpOption::PrimaryDns(Ipv4Addr::new(192, 0, 2, 53)),
                    IpcpOption::SecondaryDns(Ipv4Addr::new(192, 0, 2, 54)),
                ]
                .into(),
            ),
        ),
        (
            "ipcp-confrej",
            Body::ConfigureReject(
                vec![IpcpOption::Unknown {
                    kind: 2,
                    data: vec![0, 0x2d, 0x0f, 1],
                }]
                .into(),
            ),
        ),
        ("ipcp-termreq", Body::TerminateRequest(vec![])),
        ("ipcp-termack", Body::TerminateAck(vec![])),
        (
            "ipcp-coderej",
            Body::CodeReject(vec![0x09, 0x01, 0x00, 0x04]),
        ),
    ];
    for (i, (name, body)) in ipcp_bodies.into_iter().enumerate() {
        let p = IpcpPacket {
            identifier: i as u8 + 1,
            body,
        };
        v.push(PppSample {
            name,
            protocol: PppProtocol::IPCP,
            code: p.code(),
            bytes: p.encode().unwrap(),
        });
    }
    let iid = [0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x53, 0x01];
    let v6_bodies: Vec<(&'static str, Body<Ipv6cpOption>)> = vec![
        (
            "ipv6cp-confreq",
            Body::ConfigureRequest(vec![Ipv6cpOption::InterfaceIdentifier(iid)].into()),
        ),
        (
            "ipv6cp-confack",
            Body::ConfigureAck(vec![Ipv6cpOption::InterfaceIdentifier(iid)].into()),
        ),
        (
            "ipv6cp-confnak",
            Body::ConfigureNak(
                vec![Ipv6cpOption::InterfaceIdentifier([1, 2, 3, 4, 5, 6, 7, 8])].into(),
            ),
        ),
        (
            "ipv6cp-confrej",
            Body::ConfigureReject(
                vec![Ipv6cpOption::Unknown {
                    kind: 2,
                    data: vec![0x00, 0x4f],
                }]
                .into(),
            ),
        ),
        ("ipv6cp-termreq", Body::TerminateRequest(vec![])),
        ("ipv6cp-termack", Body::TerminateAck(vec![])),
        (
            "ipv6cp-coderej",
            Body::CodeReject(vec![0x09, 0x01, 0x00, 0x04]),
        ),
    ];
    for (i, (name, body)) in v6_bodies.into_iter().enumerate() {
        let p = Ipv6cpPacket {
            identifier: i as u8 + 1,
            body,
        };
        v.push(PppSample {
            name,
            protocol: PppProtocol::IPV6CP,
            code: p.code(),
            bytes: p.encode().unwrap(),
        });
    }
    let paps = [
        (
            "pap-request",
            PapPacket::Request {
                identifier: 1,
                peer_id: b"alice".to_vec(),
                password: b"s3cret".to_vec(),
            },
        ),
        (
            "pap-ack",
            PapPacket::Ack {
                identifier: 1,
                message: b"Login ok".to_vec(),
            },
        ),
        (
            "pap-nak",
            PapPacket::Nak {
                identifier: 1,
                message: b"Login incorrect".to_vec(),
            },
        ),
    ];
    for (code, (name, p)) in paps.into_iter().enumerate() {
        v.push(PppSample {
            name,
            protocol: PppProtocol::PAP,
            code: code as u8 + 1,
            bytes: p.encode().unwrap(),
        });
    }
    let chaps = [
        (
            "chap-challenge",
            ChapPacket::Challenge {
                identifier: 1,
                value: vec![0xab; 16],
                name: b"lns".to_vec(),
            },
        ),
        (
            "chap-response",
            ChapPacket::Response {
                identifier: 1,
                value: vec![0xcd; 16],
                name: b"alice".to_vec(),
            },
        ),
        (
            "chap-success",
            ChapPacket::Success {
                identifier: 1,
                message: b"Welcome".to_vec(),
            },
        ),
        (
            "chap-failure",
            ChapPacket::Failure {
                identifier: 1,
                message: b"Denied".to_vec(),
            },
        ),
    ];
    for (code, (name, p)) in chaps.into_iter().enumerate() {
        v.push(PppSample {
            name,
            protocol: PppProtocol::CHAP,
            code: code as u8 + 1,
            bytes: p.encode().unwrap(),
        });
    }
    // MS-CHAPv2 with the RFC 2759 §9.2 values.
    let auth = [
        0x5b, 0x5d, 0x7c, 0x7d, 0x7b, 0x3f, 0x2f, 0x3e, 0x3c, 0x2c, 0x60, 0x21, 0x32, 0x26, 0x26,
        0x28,
    ];
    let peer = [
        0x21, 0x40, 0x23, 0x24, 0x25, 0x5e, 0x26, 0x2a, 0x28, 0x29, 0x5f, 0x2b, 0x3a, 0x33, 0x7c,
        0x7e,
    ];
    let nt = mschapv2::generate_nt_response(&auth, &peer, b"User", "clientPass");
    let value = mschapv2::ResponseValue {
        peer_challenge: peer,
        nt_response: nt,
        flags: 0,
    };
    let ok = mschapv2::authenticator_response("clientPass", &nt, &peer, &auth, b"User");
    let ms = [
        (
            "mschapv2-challenge",
            ChapPacket::Challenge {
                identifier: 2,
                value: auth.to_vec(),
                name: b"lns".to_vec(),
            },
        ),
        (
            "mschapv2-response",
            ChapPacket::Response {
                identifier: 2,
                value: value.to_bytes().to_vec(),
                name: b"User".to_vec(),
            },
        ),
        (
            "mschapv2-success",
            ChapPacket::Success {
                identifier: 2,
                message: mschapv2::success_message(&ok, "Welcome"),
            },
        ),
        (
            "mschapv2-failure",
            ChapPacket::Failure {
                identifier: 2,
                message: mschapv2::failure_message(
                    mschapv2::error::AUTHENTICATION_FAILURE,
                    false,
                    &auth,
                    "denied",
                ),
            },
        ),
    ];
    for (code, (name, p)) in ms.into_iter().enumerate() {
        v.push(PppSample {
            name,
            protocol: PppProtocol::CHAP,
            code: code as u8 + 1,
            bytes: p.encode().unwrap(),
        });
    }
    v
}

/// A PPP frame in an L2TP data message (FF03 present, full protocol field).
pub fn l2tp_data(tunnel: u16, session: u16, protocol: PppProtocol, ppp: &[u8]) -> Vec<u8> {
    let ppp_hdr = PppRepr::uncompressed(protocol);
    let l2tp = L2tpRepr {
        with_length: true,
        ..L2tpRepr::data(tunnel, session, ppp_hdr.buffer_len() + ppp.len())
    };
    let mut out = vec![0; l2tp.buffer_len() + ppp_hdr.buffer_len()];
    l2tp.emit(&mut out).unwrap();
    ppp_hdr.emit(&mut out[l2tp.buffer_len()..]).unwrap();
    out.extend_from_slice(ppp);
    out
}

/// Wraps a UDP payload in Ethernet/IPv4/UDP 1701 → 1701 with valid checksums.
pub fn ether_udp(payload: &[u8]) -> Vec<u8> {
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let eth = EthernetRepr {
        dst: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
        src: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
        outer_vlan: None,
        inner_vlan: None,
        ethertype: EtherType::IPV4,
    };
    let udp = UdpRepr {
        src_port: 1701,
        dst_port: 1701,
        payload_len: payload.len(),
    };
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: 17,
        payload_len: udp.buffer_len() + payload.len(),
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
    };
    let mut f = vec![0u8; eth.buffer_len() + ip.buffer_len() + udp.buffer_len() + payload.len()];
    eth.emit(&mut f).unwrap();
    let at = eth.buffer_len();
    ip.emit(&mut f[at..]).unwrap();
    let at = at + ip.buffer_len();
    udp.emit(&mut f[at..]).unwrap();
    f[at + udp.buffer_len()..].copy_from_slice(payload);
    UdpPacket::new_checked(&mut f[at..])
        .unwrap()
        .fill_checksum(src.into(), dst.into())
        .unwrap();
    f
}

/// A classic pcap file (LINKTYPE_ETHERNET) of `frames`.
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// True when an external tool must be present (CI sets XLNS_REQUIRE_TOOLS=1);
/// otherwise a missing tool skips the test with a printed reason.
pub fn tool_or_skip(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "{tool} is required (XLNS_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("SKIP: {tool} not installed; install it (see .ci/run) to run this cross-check");
    }
    found
}

/// An emulated LAC that accepts any LNS, with PPP client subscribers
/// authenticating with `auth` and asking for MRU `mru`.
pub fn emulated_lac(
    auth: lns_protocol::ppp::lcp::AuthProtocol,
    seed: u64,
    mru: u16,
) -> lns_protocol::lac::Lac {
    emulated_lac_with(auth, seed, mru, false)
}

/// The same, its subscribers negotiating IPv6CP too with `ipv6`.
pub fn emulated_lac_with(
    auth: lns_protocol::ppp::lcp::AuthProtocol,
    seed: u64,
    mru: u16,
    ipv6: bool,
) -> lns_protocol::lac::Lac {
    use lns_protocol::l2tp::{Endpoint, EndpointConfig, PeerPolicy, PeerRule};
    use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
    use lns_protocol::ppp::link::LinkConfig;
    use rand::SeedableRng;
    let endpoint = Endpoint::with_rng(
        EndpointConfig {
            peers: vec![PeerRule {
                address: None,
                policy: PeerPolicy::default(),
            }],
            ..Default::default()
        },
        rand::rngs::StdRng::seed_from_u64(seed),
    );
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![auth],
            mru: Some(mru),
            ..Default::default()
        },
        ipv6,
        ..Default::default()
    };
    lns_protocol::lac::Lac::new(endpoint, link, (Vec::new(), String::new()), seed)
}

/// A UDP port free on loopback right now (for a daemon to bind next).
#[allow(dead_code, reason = "not every test binary starts a daemon")]
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 10.0.0.`i`:1701, a simulator node's address.
pub fn sim_addr(i: u8) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, i], 1701))
}

/// A simulator endpoint accepting every peer under `policy`, its
/// randomness seeded.
pub fn sim_endpoint(
    seed: u64,
    policy: lns_protocol::l2tp::PeerPolicy,
) -> lns_protocol::l2tp::Endpoint {
    use rand::SeedableRng;
    let cfg = lns_protocol::l2tp::EndpointConfig {
        peers: vec![lns_protocol::l2tp::PeerRule {
            address: None,
            policy,
        }],
        ..Default::default()
    };
    lns_protocol::l2tp::Endpoint::with_rng(cfg, rand::rngs::StdRng::seed_from_u64(seed))
}
