//! Property tests: encode → decode gives the same value, for L2TP control
//! messages (plain and hidden) and every PPP packet type.

mod common;

use common::{SECRET, hiding};
use lns_protocol::l2tp::avp::{CallErrors, PppDisconnectCause, Q931Cause, RawAvp};
use lns_protocol::l2tp::message::{AvpSet, Hiding, MESSAGES};
use lns_protocol::l2tp::{
    Avp, ControlHeader, ControlMessage, ControlPacket, ResultCode, decode_packet,
};
use lns_protocol::ppp::chap::ChapPacket;
use lns_protocol::ppp::ipcp::{IpcpOption, IpcpPacket};
use lns_protocol::ppp::ipv6cp::{Ipv6cpOption, Ipv6cpPacket};
use lns_protocol::ppp::lcp::{AuthProtocol, LcpOption, LcpPacket};
use lns_protocol::ppp::packet::{Body, CpPacket, PppOption};
use lns_protocol::ppp::pap::PapPacket;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn nonempty(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..max)
}

fn avp() -> impl Strategy<Value = Avp> {
    let result = (
        any::<u16>(),
        proptest::option::of((any::<u16>(), bytes(40))),
    )
        .prop_map(|(result, e)| match e {
            Some((error, message)) => ResultCode {
                result,
                error: Some(error),
                message,
            },
            None => ResultCode {
                result,
                error: None,
                message: vec![],
            },
        });
    prop_oneof![
        result.prop_map(Avp::ResultCode),
        any::<(u8, u8)>()
            .prop_map(|(version, revision)| Avp::ProtocolVersion { version, revision }),
        any::<u32>().prop_map(Avp::FramingCapabilities),
        any::<u32>().prop_map(Avp::BearerCapabilities),
        any::<u64>().prop_map(Avp::TieBreaker),
        any::<u16>().prop_map(Avp::FirmwareRevision),
        nonempty(64).prop_map(Avp::HostName),
        bytes(64).prop_map(Avp::VendorName),
        any::<u16>().prop_map(Avp::AssignedTunnelId),
        any::<u16>().prop_map(Avp::ReceiveWindowSize),
        nonempty(64).prop_map(Avp::Challenge),
        (any::<u16>(), any::<u8>(), bytes(20)).prop_map(|(cause, message, advisory)| {
            Avp::Q931CauseCode(Q931Cause {
                cause,
                message,
                advisory,
            })
        }),
        any::<[u8; 16]>().prop_map(Avp::ChallengeResponse),
        any::<u16>().prop_map(Avp::AssignedSessionId),
        any::<u32>().prop_map(Avp::CallSerialNumber),
        any::<u32>().prop_map(Avp::MinimumBps),
        any::<u32>().prop_map(Avp::MaximumBps),
        any::<u32>().prop_map(Avp::BearerType),
        any::<u32>().prop_map(Avp::FramingType),
        bytes(32).prop_map(Avp::CalledNumber),
        bytes(32).prop_map(Avp::CallingNumber),
        bytes(32).prop_map(Avp::SubAddress),
        any::<u32>().prop_map(Avp::TxConnectSpeed),
        any::<u32>().prop_map(Avp::PhysicalChannelId),
        bytes(64).prop_map(Avp::InitialReceivedLcpConfReq),
        bytes(64).prop_map(Avp::LastSentLcpConfReq),
        bytes(64).prop_map(Avp::LastReceivedLcpConfReq),
        any::<u16>().prop_map(Avp::ProxyAuthenType),
        bytes(64).prop_map(Avp::ProxyAuthenName),
        bytes(64).prop_map(Avp::ProxyAuthenChallenge),
        any::<u8>().prop_map(Avp::ProxyAuthenId),
        bytes(64).prop_map(Avp::ProxyAuthenResponse),
        any::<[u32; 6]>().prop_map(|c| Avp::CallErrors(CallErrors {
            crc_errors: c[0],
            framing_errors: c[1],
            hardware_overruns: c[2],
            buffer_overruns: c[3],
            timeout_errors: c[4],
            alignment_errors: c[5],
        })),
        any::<(u32, u32)>().prop_map(|(send, recv)| Avp::Accm { send, recv }),
        bytes(32).prop_map(Avp::PrivateGroupId),
        any::<u32>().prop_map(Avp::RxConnectSpeed),
        Just(Avp::SequencingRequired),
        (any::<u16>(), any::<u16>(), any::<u8>(), bytes(20)).prop_map(
            |(code, protocol, direction, message)| {
                Avp::PppDisconnectCause(PppDisconnectCause {
                    code,
                    protocol,
                    direction,
                    message,
                })
            }
        ),
        // Vendor AVPs without the M bit are kept verbatim.
        (1u16.., any::<u16>(), bytes(32)).prop_map(|(vendor_id, attr_type, value)| Avp::Other(
            RawAvp {
                mandatory: false,
                hidden: false,
                reserved: 0,
                vendor_id,
                attr_type,
                value,
            }
        )),
    ]
}

fn message() -> impl Strategy<Value = ControlPacket> {
    (
        0..MESSAGES.len(),
        proptest::collection::vec(avp(), 0..12),
        any::<[u16; 4]>(),
    )
        .prop_map(|(i, mut avps, h)| {
            let spec = &MESSAGES[i];
            // Make sure required AVPs are present so the message is valid.
            for t in spec.required.iter().skip(1) {
                if !avps.iter().any(|a| a.avp_type() == Some(*t)) {
                    avps.push(required_sample(*t));
                }
            }
            ControlPacket {
                header: ControlHeader {
                    tunnel_id: h[0],
                    session_id: h[1],
                    ns: h[2],
                    nr: h[3],
                },
                message: Some(ControlMessage::new(spec.msg_type, avps)),
            }
        })
}

fn required_sample(t: lns_protocol::l2tp::AvpType) -> Avp {
    use lns_protocol::l2tp::AvpType as T;
    match t {
        T::ProtocolVersion => Avp::ProtocolVersion {
            version: 1,
            revision: 0,
        },
        T::HostName => Avp::HostName(b"h".to_vec()),
        T::FramingCapabilities => Avp::FramingCapabilities(1),
        T::AssignedTunnelId => Avp::AssignedTunnelId(1),
        T::ResultCode => Avp::ResultCode(ResultCode {
            result: 1,
            error: None,
            message: vec![],
        }),
        T::AssignedSessionId => Avp::AssignedSessionId(1),
        T::CallSerialNumber => Avp::CallSerialNumber(1),
        T::MinimumBps => Avp::MinimumBps(1),
        T::MaximumBps => Avp::MaximumBps(1),
        T::BearerType => Avp::BearerType(1),
        T::FramingType => Avp::FramingType(1),
        T::CalledNumber => Avp::CalledNumber(b"1".to_vec()),
        T::TxConnectSpeed => Avp::TxConnectSpeed(1),
        T::CallErrors => Avp::CallErrors(CallErrors::default()),
        T::Accm => Avp::Accm { send: 0, recv: 0 },
        other => panic!("no sample for {other:?}"),
    }
}

fn lcp_option() -> impl Strategy<Value = LcpOption> + Clone {
    prop_oneof![
        any::<u16>().prop_map(LcpOption::Mru),
        any::<u32>().prop_map(LcpOption::Accm),
        Just(LcpOption::AuthProtocol(AuthProtocol::Pap)),
        Just(LcpOption::AuthProtocol(AuthProtocol::ChapMd5)),
        Just(LcpOption::AuthProtocol(AuthProtocol::MsChapV2)),
        (0xc225u16..0xc300, bytes(8)).prop_map(|(protocol, data)| LcpOption::AuthProtocol(
            AuthProtocol::Other { protocol, data }
        )),
        any::<u32>().prop_map(LcpOption::MagicNumber),
        Just(LcpOption::Pfc),
        Just(LcpOption::Acfc),
        (9u8.., bytes(16)).prop_map(|(kind, data)| LcpOption::Unknown { kind, data }),
    ]
}

fn ipcp_option() -> impl Strategy<Value = IpcpOption> + Clone {
    let a = any::<[u8; 4]>().prop_map(Ipv4Addr::from);
    prop_oneof![
        a.clone().prop_map(IpcpOption::IpAddress),
        a.clone().prop_map(IpcpOption::PrimaryDns),
        a.clone().prop_map(IpcpOption::PrimaryNbns),
        a.clone().prop_map(IpcpOption::SecondaryDns),
        a.prop_map(IpcpOption::SecondaryNbns),
        (4u8..129, bytes(16)).prop_map(|(kind, data)| IpcpOption::Unknown { kind, data }),
    ]
}

fn ipv6cp_option() -> impl Strategy<Value = Ipv6cpOption> + Clone {
    prop_oneof![
        any::<[u8; 8]>().prop_map(Ipv6cpOption::InterfaceIdentifier),
        (2u8.., bytes(16)).prop_map(|(kind, data)| Ipv6cpOption::Unknown { kind, data }),
    ]
}

fn body<O: PppOption + 'static>(
    opt: impl Strategy<Value = O> + Clone + 'static,
    extended: bool,
) -> BoxedStrategy<Body<O>> {
    let opts = proptest::collection::vec(opt, 0..6);
    let mut s = vec![
        opts.clone()
            .prop_map(|o| Body::ConfigureRequest(o.into()))
            .boxed(),
        opts.clone()
            .prop_map(|o| Body::ConfigureAck(o.into()))
            .boxed(),
        opts.clone()
            .prop_map(|o| Body::ConfigureNak(o.into()))
            .boxed(),
        opts.prop_map(|o| Body::ConfigureReject(o.into())).boxed(),
        bytes(16).prop_map(Body::TerminateRequest).boxed(),
        bytes(16).prop_map(Body::TerminateAck).boxed(),
        bytes(16).prop_map(Body::CodeReject).boxed(),
        (12u8.., bytes(8))
            .prop_map(|(code, data)| Body::Unknown { code, data })
            .boxed(),
    ];
    if extended {
        s.push(
            (any::<u16>(), bytes(16))
                .prop_map(|(protocol, information)| Body::ProtocolReject {
                    protocol,
                    information,
                })
                .boxed(),
        );
        s.push(
            (any::<u32>(), bytes(16))
                .prop_map(|(magic, data)| Body::EchoRequest { magic, data })
                .boxed(),
        );
        s.push(
            (any::<u32>(), bytes(16))
                .prop_map(|(magic, data)| Body::EchoReply { magic, data })
                .boxed(),
        );
        s.push(
            (any::<u32>(), bytes(16))
                .prop_map(|(magic, data)| Body::DiscardRequest { magic, data })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(s).boxed()
}

proptest! {
    #[test]
    fn l2tp_messages_round_trip(p in message(), padding in bytes(20)) {
        let b = p.encode(None).unwrap();
        prop_assert_eq!(decode_packet(&b, None).unwrap(), p.clone());
        let h = Hiding { padding: &padding, ..hiding(AvpSet::all_hideable()) };
        let b = p.encode(Some(&h)).unwrap();
        prop_assert_eq!(decode_packet(&b, Some(SECRET)).unwrap(), p);
    }

    #[test]
    fn lcp_round_trip(id: u8, body in body(lcp_option(), true)) {
        let p = LcpPacket { identifier: id, body };
        prop_assert_eq!(LcpPacket::decode_lcp(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn ipcp_round_trip(id: u8, body in body(ipcp_option(), false)) {
        let p = IpcpPacket { identifier: id, body };
        prop_assert_eq!(IpcpPacket::decode_ipcp(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn ipv6cp_round_trip(id: u8, body in body(ipv6cp_option(), false)) {
        let p: CpPacket<Ipv6cpOption> = Ipv6cpPacket { identifier: id, body };
        prop_assert_eq!(Ipv6cpPacket::decode_ipv6cp(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn pap_round_trip(id: u8, a in bytes(255), b in bytes(255), which in 0u8..3) {
        let p = match which {
            0 => PapPacket::Request { identifier: id, peer_id: a, password: b },
            1 => PapPacket::Ack { identifier: id, message: a },
            _ => PapPacket::Nak { identifier: id, message: a },
        };
        prop_assert_eq!(PapPacket::decode(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn chap_round_trip(id: u8, a in bytes(255), b in bytes(64), which in 0u8..5) {
        let p = match which {
            0 => ChapPacket::Challenge { identifier: id, value: a, name: b },
            1 => ChapPacket::Response { identifier: id, value: a, name: b },
            2 => ChapPacket::Success { identifier: id, message: a },
            3 => ChapPacket::Failure { identifier: id, message: a },
            _ => ChapPacket::Other { code: 7, identifier: id, data: a },
        };
        prop_assert_eq!(ChapPacket::decode(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn decoders_never_panic(data in bytes(300)) {
        lns_protocol::fuzzing::l2tp_control(&data);
        lns_protocol::fuzzing::ppp_control(&data);
    }
}
