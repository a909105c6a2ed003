//! Cross-check with scapy (Debian `python3-scapy`): reference frames built
//! by an independent implementation (tests/scapy/frames.py) parse through
//! our wire views and codecs to exactly the values scapy was given.

use lns_dataplane::wire::*;
use lns_protocol::l2tp::avp::RawAvp;
use lns_protocol::l2tp::{Avp, ControlMessage, MessageType, ResultCode, decode_packet};
use lns_protocol::ppp::chap::ChapPacket;
use lns_protocol::ppp::ipcp::{IpcpOption, IpcpPacket};
use lns_protocol::ppp::lcp::{AuthProtocol, LcpOption, LcpPacket};
use lns_protocol::ppp::packet::Body;
use lns_protocol::ppp::pap::PapPacket;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Runs the scapy script with Debian's interpreter (where python3-scapy
/// installs), returning name → frame bytes.
fn scapy_frames() -> Option<BTreeMap<String, Vec<u8>>> {
    let python = "/usr/bin/python3";
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scapy/frames.py");
    let probe = std::process::Command::new(python)
        .args(["-c", "import scapy"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "python3-scapy is required (XLNS_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!(
            "SKIP: python3-scapy not installed; install it (see .ci/run) to run this cross-check"
        );
        return None;
    }
    let out = std::process::Command::new(python)
        .arg(script)
        .output()
        .expect("run scapy script");
    assert!(
        out.status.success(),
        "scapy script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| {
                let (name, hex) = l.split_once(' ').unwrap();
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (name.to_string(), bytes)
            })
            .collect(),
    )
}

/// Everything the LNS reads from one access-side frame.
#[derive(Debug)]
struct Stack<'a> {
    eth: EthernetRepr,
    src: IpAddr,
    l2tp: L2tpRepr,
    l2tp_payload: &'a [u8],
    ppp: Option<PppRepr>,
    ppp_payload: &'a [u8],
}

fn parse_stack(f: &[u8]) -> Stack<'_> {
    let eth_view = EthernetFrame::new_checked(f).unwrap();
    let eth = EthernetRepr::parse(&eth_view).unwrap();
    let ip_bytes = &f[eth_view.header_len()..];
    let (src, dst, udp_bytes) = match eth.ethertype {
        EtherType::IPV4 => {
            let ip = Ipv4Packet::new_checked(ip_bytes).unwrap();
            let r = Ipv4Repr::parse(&ip).unwrap();
            assert_eq!(r.protocol, 17);
            (IpAddr::from(r.src), IpAddr::from(r.dst), ip.into_payload())
        }
        EtherType::IPV6 => {
            let ip = Ipv6Packet::new_checked(ip_bytes).unwrap();
            let r = Ipv6Repr::parse(&ip).unwrap();
            assert_eq!(r.next_header, 17);
            (IpAddr::from(r.src), IpAddr::from(r.dst), ip.into_payload())
        }
        other => panic!("unexpected ethertype {other:?}"),
    };
    let udp = UdpPacket::new_checked(udp_bytes).unwrap();
    let u = UdpRepr::parse(&udp, src, dst).expect("scapy's UDP checksum verifies");
    assert_eq!((u.src_port, u.dst_port), (1701, 1701));
    let l2tp_view = L2tpPacket::new_checked(udp.into_payload()).unwrap();
    let l2tp = L2tpRepr::parse(&l2tp_view).unwrap();
    let l2tp_payload = l2tp_view.into_payload();
    let (ppp, ppp_payload) = if l2tp.kind == L2tpKind::Data {
        let v = PppFrame::new_checked(l2tp_payload).unwrap();
        (Some(PppRepr::parse(&v).unwrap()), v.into_payload())
    } else {
        (None, &[][..])
    };
    Stack {
        eth,
        src,
        l2tp,
        l2tp_payload,
        ppp,
        ppp_payload,
    }
}

fn lcp(s: &Stack<'_>) -> LcpPacket {
    assert_eq!(s.ppp.unwrap().protocol, PppProtocol::LCP);
    LcpPacket::decode_lcp(s.ppp_payload).unwrap()
}

fn inner_ipv4(s: &Stack<'_>) -> Ipv4Repr {
    let ppp = s.ppp.unwrap();
    assert_eq!(ppp.protocol, PppProtocol::IPV4);
    Ipv4Repr::parse(&Ipv4Packet::new_checked(s.ppp_payload).unwrap()).unwrap()
}

fn control(s: &Stack<'_>, f: &[u8]) -> Option<ControlMessage> {
    assert_eq!(s.l2tp.kind, L2tpKind::Control);
    let udp_start = f.len() - s.l2tp_payload.len() - 12;
    decode_packet(&f[udp_start..], None).unwrap().message
}

#[test]
fn scapy_frames_parse_to_what_scapy_was_given() {
    let Some(frames) = scapy_frames() else { return };
    let expected = [
        "cdn-vendor-avp",
        "chap-challenge",
        "chap-success",
        "dhcp6-request",
        "dhcp6-solicit",
        "dot1q",
        "ipcp-confnak",
        "ipv4-offset",
        "ipv4-pfc",
        "ipv6-outer",
        "lcp-coderej",
        "lcp-confreq",
        "lcp-echoreq",
        "lcp-protrej",
        "lcp-termreq",
        "pap-ack",
        "pap-request",
        "qinq",
        "sccrq",
        "zlb",
    ];
    assert_eq!(
        frames.keys().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    // The DHCPv6 packets are IPv6 alone, answered in their own test.
    for (name, f) in frames.iter().filter(|(n, _)| !n.starts_with("dhcp6-")) {
        let s = parse_stack(f);
        assert_eq!(s.eth.src, EthernetAddress([2, 0, 0, 0, 0, 1]), "{name}");
        assert_eq!(s.eth.dst, EthernetAddress([2, 0, 0, 0, 0, 2]), "{name}");
        if s.eth.ethertype == EtherType::IPV4 {
            assert_eq!(s.src, IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)), "{name}");
        }
        match name.as_str() {
            "lcp-confreq" => {
                assert_eq!((s.l2tp.tunnel_id, s.l2tp.session_id), (0x1234, 0x5678));
                assert!(
                    !s.l2tp.with_length && s.l2tp.sequence.is_none() && s.l2tp.offset.is_none()
                );
                assert!(s.ppp.unwrap().address_control);
                let p = lcp(&s);
                assert_eq!(p.identifier, 7);
                assert_eq!(
                    p.body,
                    Body::ConfigureRequest(
                        vec![
                            LcpOption::Mru(1492),
                            LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                            LcpOption::MagicNumber(0x1122_3344),
                            LcpOption::Accm(0),
                        ]
                        .into()
                    )
                );
            }
            "ipcp-confnak" => {
                assert!(s.l2tp.with_length);
                assert_eq!(s.l2tp.sequence, Some(Sequence { ns: 5, nr: 0 }));
                assert_eq!(s.ppp.unwrap().protocol, PppProtocol::IPCP);
                let p = IpcpPacket::decode_ipcp(s.ppp_payload).unwrap();
                assert_eq!(p.identifier, 2);
                assert_eq!(
                    p.body,
                    Body::ConfigureNak(
                        vec![
                            IpcpOption::IpAddress(Ipv4Addr::new(100, 64, 0, 7)),
                            IpcpOption::PrimaryDns(Ipv4Addr::new(192, 0, 2, 53)),
                            IpcpOption::SecondaryDns(Ipv4Addr::new(192, 0, 2, 54)),
                        ]
                        .into()
                    )
                );
            }
            "ipv4-offset" => {
                assert_eq!(s.l2tp.offset, Some(2));
                let ppp = s.ppp.unwrap();
                assert!(!ppp.address_control && ppp.compressed_protocol);
                let ip = inner_ipv4(&s);
                assert_eq!(
                    (ip.src, ip.dst, ip.ttl),
                    (
                        Ipv4Addr::new(100, 64, 0, 7),
                        Ipv4Addr::new(198, 51, 100, 1),
                        61
                    )
                );
            }
            "ipv4-pfc" => {
                assert!(s.ppp.unwrap().compressed_protocol);
                assert_eq!(inner_ipv4(&s).dst, Ipv4Addr::new(198, 51, 100, 1));
            }
            "lcp-echoreq" => {
                assert!(s.l2tp.priority);
                let p = lcp(&s);
                assert_eq!(p.identifier, 3);
                assert_eq!(
                    p.body,
                    Body::EchoRequest {
                        magic: 0xcafe_babe,
                        data: b"ping".to_vec()
                    }
                );
            }
            "lcp-termreq" => assert_eq!(lcp(&s).body, Body::TerminateRequest(b"bye".to_vec())),
            "lcp-protrej" => assert_eq!(
                lcp(&s).body,
                Body::ProtocolReject {
                    protocol: 0x80fd,
                    information: vec![1, 1, 0, 4]
                }
            ),
            "lcp-coderej" => assert_eq!(lcp(&s).body, Body::CodeReject(vec![0x0c, 1, 0, 4])),
            "pap-request" => assert_eq!(
                PapPacket::decode(s.ppp_payload).unwrap(),
                PapPacket::Request {
                    identifier: 1,
                    peer_id: b"alice".to_vec(),
                    password: b"s3cret".to_vec()
                }
            ),
            "pap-ack" => assert_eq!(
                PapPacket::decode(s.ppp_payload).unwrap(),
                PapPacket::Ack {
                    identifier: 1,
                    message: b"ok".to_vec()
                }
            ),
            "chap-challenge" => assert_eq!(
                ChapPacket::decode(s.ppp_payload).unwrap(),
                ChapPacket::Challenge {
                    identifier: 2,
                    value: (0..16).collect(),
                    name: b"lns".to_vec()
                }
            ),
            "chap-success" => assert_eq!(
                ChapPacket::decode(s.ppp_payload).unwrap(),
                ChapPacket::Success {
                    identifier: 2,
                    message: b"Welcome".to_vec()
                }
            ),
            "ipv6-outer" => {
                assert_eq!(s.eth.ethertype, EtherType::IPV6);
                assert!(s.l2tp.with_length);
                assert_eq!(s.ppp.unwrap().protocol, PppProtocol::IPV6);
                let inner =
                    Ipv6Repr::parse(&Ipv6Packet::new_checked(s.ppp_payload).unwrap()).unwrap();
                assert_eq!(inner.hop_limit, 33);
                assert_eq!(
                    inner.src,
                    "2001:db8:1::7".parse::<std::net::Ipv6Addr>().unwrap()
                );
            }
            "dot1q" => {
                let t = s.eth.outer_vlan.unwrap();
                assert_eq!((t.tpid, t.vid, t.pcp), (EtherType::VLAN, 100, 5));
                assert_eq!(s.eth.inner_vlan, None);
                assert_eq!(inner_ipv4(&s).src, Ipv4Addr::new(100, 64, 0, 8));
            }
            "qinq" => {
                let (o, i) = (s.eth.outer_vlan.unwrap(), s.eth.inner_vlan.unwrap());
                assert_eq!((o.tpid, o.vid), (EtherType::QINQ, 10));
                assert_eq!((i.tpid, i.vid), (EtherType::VLAN, 200));
                assert_eq!(inner_ipv4(&s).src, Ipv4Addr::new(100, 64, 0, 9));
            }
            "sccrq" => {
                let m = control(&s, f).unwrap();
                assert_eq!(m.msg_type, MessageType::Sccrq);
                assert_eq!(
                    m.avps,
                    vec![
                        Avp::ProtocolVersion {
                            version: 1,
                            revision: 0
                        },
                        Avp::HostName(b"lac.example".to_vec()),
                        Avp::FramingCapabilities(3),
                        Avp::AssignedTunnelId(0xbeef),
                        Avp::ReceiveWindowSize(8),
                        Avp::TieBreaker(0x0102_0304_0506_0708),
                        Avp::VendorName(b"scapy".to_vec()),
                    ]
                );
            }
            "zlb" => {
                assert_eq!(s.l2tp.tunnel_id, 0xbeef);
                assert_eq!(s.l2tp.sequence, Some(Sequence { ns: 1, nr: 1 }));
                assert_eq!(control(&s, f), None);
            }
            "cdn-vendor-avp" => {
                let m = control(&s, f).unwrap();
                assert_eq!(m.msg_type, MessageType::Cdn);
                assert_eq!(
                    m.avps,
                    vec![
                        Avp::ResultCode(ResultCode {
                            result: 3,
                            error: Some(0),
                            message: b"admin".to_vec()
                        }),
                        Avp::AssignedSessionId(0x0707),
                        Avp::Other(RawAvp {
                            mandatory: false,
                            hidden: false,
                            reserved: 0,
                            vendor_id: 9,
                            attr_type: 1,
                            value: vec![0, 0x2a],
                        }),
                    ]
                );
            }
            other => panic!("frame {other} has no expectation"),
        }
    }
}

/// Our reply packet, decoded by scapy: one line of fields.
fn scapy_reads(packet: &[u8]) -> String {
    let hex: String = packet.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "from scapy.all import IPv6, UDP, raw\n\
         from scapy.layers.dhcp6 import *\n\
         p = IPv6(bytes.fromhex('{hex}'))\n\
         u = p[UDP]\n\
         sent = u.chksum\n\
         del u.chksum\n\
         ok = IPv6(raw(p))[UDP].chksum == sent\n\
         m = u.payload\n\
         pd = m[DHCP6OptIA_PD]\n\
         pre = pd[DHCP6OptIAPrefix]\n\
         print(type(m).__name__, hex(m.trid), u.sport, u.dport, ok, pd.iaid, pd.T1, pd.T2, \n\
               pre.prefix, pre.plen, pre.preflft, pre.validlft, \n\
               raw(m[DHCP6OptServerId].duid).hex(), raw(m[DHCP6OptClientId].duid).hex(), \n\
               m[DHCP6OptDNSServers].dnsservers if DHCP6OptDNSServers in m else None)\n"
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scapy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// scapy's Solicit and Request get an Advertise and a Reply delegating
/// the link's prefix, which scapy reads back field by field.
#[test]
fn scapy_dhcpv6_solicit_and_request_get_correct_replies() {
    use lns_protocol::ipv6::dhcp;
    let Some(frames) = scapy_frames() else { return };
    let cfg = dhcp::ServerConfig {
        duid: dhcp::duid_uuid([7; 16]),
        preferred: 3600,
        valid: 7200,
        rapid_commit: true,
        preference: 255,
        dns: vec!["2001:db8::53".parse().unwrap()],
        domains: vec!["isp.example".into()],
    };
    let leases = dhcp::Leases {
        prefix: Some("2001:db8:200:100::/56".parse().unwrap()),
        address: None,
        link: Some("2001:db8:100:7::/64".parse().unwrap()),
    };
    let us: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
    let client_duid = "00030001020000000009";
    for (name, kind, bound) in [
        ("dhcp6-solicit", "DHCP6_Advertise 0x123456", false),
        ("dhcp6-request", "DHCP6_Reply 0xabcdef", true),
    ] {
        let d = dhcp::udp_of(&frames[name]).expect("scapy's UDP checksum verifies");
        assert_eq!((d.src_port, d.dst_port), (546, 547));
        let m = dhcp::Message::parse(d.payload).unwrap();
        let a = dhcp::respond(&cfg, &m, d.dst, &leases).unwrap();
        assert_eq!(a.bound, bound, "{name}");
        let reply = dhcp::udp_packet(us, d.src, (547, 546), &a.reply.encode());
        assert_eq!(
            scapy_reads(&reply),
            format!(
                "{kind} 547 546 True 7 1800 2880 2001:db8:200:100:: 56 3600 7200 \
                 000407070707070707070707070707070707 {client_duid} ['2001:db8::53']"
            ),
            "{name}"
        );
    }
}
