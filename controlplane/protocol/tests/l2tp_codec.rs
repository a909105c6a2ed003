//! L2TP control codec: the message table against RFC 2661 §6, round trips
//! of every message (plain, hidden, padded), and the RFC's answers to
//! malformed and hostile messages.

mod common;

use common::*;
use lns_protocol::l2tp::avp::{AVPS, RawAvp};
use lns_protocol::l2tp::message::{
    AvpSet, EXTENSIONS, Hiding, MESSAGES, MessageErrorKind, PacketError, Response, Scope,
};
use lns_protocol::l2tp::result::{ErrorCode, StopCcnResult};
use lns_protocol::l2tp::{
    Avp, AvpType, ControlHeader, ControlMessage, ControlPacket, MessageType, decode_packet,
};
use std::collections::{BTreeMap, BTreeSet};

/// Parses the "MUST/MAY be present" lists of the verbatim §6 text.
fn rfc_section6() -> BTreeMap<(String, bool), BTreeSet<String>> {
    let text = include_str!("vectors/rfc2661-section6.txt");
    let mut lists: BTreeMap<(String, bool), BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines() {
        if let Some(i) = line.find(" be present in the ") {
            let required = line[..i].ends_with("MUST");
            let rest = &line[i + " be present in the ".len()..];
            let msg = rest
                .trim_end_matches(':')
                .trim_end_matches(" message")
                .to_string();
            current = Some((msg, required));
            continue;
        }
        let item = line
            .strip_prefix("      ")
            .filter(|s| !s.starts_with(' ') && !s.is_empty());
        match (item, &current) {
            (Some(name), Some(key)) => {
                let name = name.trim().trim_end_matches(" AVP").to_string();
                lists.entry(key.clone()).or_default().insert(name);
            }
            (None, _) if !line.trim().is_empty() => current = None,
            _ => {}
        }
    }
    lists
}

#[test]
fn message_table_matches_rfc2661_section6() {
    let rfc = rfc_section6();
    assert_eq!(
        rfc.keys().filter(|(_, req)| *req).count(),
        14,
        "one MUST list per message: {rfc:?}"
    );
    for spec in MESSAGES {
        for (required, ours) in [(true, spec.required), (false, spec.optional)] {
            let ours: BTreeSet<String> = ours
                .iter()
                .filter(|t| {
                    !EXTENSIONS
                        .iter()
                        .any(|(m, a, _)| *m == spec.msg_type && a == *t)
                })
                .map(|t| t.name().to_string())
                .collect();
            let theirs = rfc
                .get(&(spec.name.to_string(), required))
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                ours,
                theirs,
                "{} {} list (§{})",
                spec.name,
                if required { "MUST" } else { "MAY" },
                spec.section
            );
        }
    }
    // Every name the RFC uses is a row of the AVP table.
    for names in rfc.values() {
        for n in names {
            assert!(AVPS.iter().any(|s| s.name == n), "no AVP named {n:?}");
        }
    }
}

fn packet(m: &ControlMessage) -> ControlPacket {
    ControlPacket {
        header: ControlHeader {
            tunnel_id: 0x1111,
            session_id: 0x2222,
            ns: 5,
            nr: 6,
        },
        message: Some(m.clone()),
    }
}

#[test]
fn every_message_round_trips_plain_hidden_and_padded() {
    for m in all_messages() {
        let p = packet(&m);
        let plain = p.encode(None).unwrap();
        assert_eq!(decode_packet(&plain, None).unwrap(), p, "{}", m.msg_type);
        for padding in [&[][..], &[0xa5; 11][..]] {
            let h = Hiding {
                padding,
                ..hiding(AvpSet::all_hideable())
            };
            let hidden = p.encode(Some(&h)).unwrap();
            assert_eq!(
                decode_packet(&hidden, Some(SECRET)).unwrap(),
                p,
                "{} hidden",
                m.msg_type
            );
        }
    }
    let zlb = ControlPacket::zlb(ControlHeader {
        tunnel_id: 9,
        session_id: 0,
        ns: 1,
        nr: 2,
    });
    let b = zlb.encode(None).unwrap();
    assert_eq!(b.len(), 12);
    assert_eq!(decode_packet(&b, None).unwrap(), zlb);
}

#[test]
fn hello_known_answer() {
    let p = ControlPacket {
        header: ControlHeader {
            tunnel_id: 0x0102,
            session_id: 0,
            ns: 3,
            nr: 4,
        },
        message: Some(ControlMessage::new(MessageType::Hello, vec![])),
    };
    assert_eq!(
        p.encode(None).unwrap(),
        [
            0xc8, 0x02, 0x00, 0x14, 0x01, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x04, 0x80, 0x08, 0,
            0, 0, 0, 0, 6
        ]
    );
}

#[test]
fn hidden_values_are_not_in_clear_and_need_the_secret() {
    let iccn = all_messages()
        .into_iter()
        .find(|m| m.msg_type == MessageType::Iccn)
        .unwrap();
    let b = packet(&iccn)
        .encode(Some(&hiding(AvpSet::EMPTY.with(AvpType::ProxyAuthenName))))
        .unwrap();
    assert!(
        !b.windows(9).any(|w| w == b"alice@isp"),
        "proxy name leaked in clear"
    );
    assert!(
        b.windows(16).any(|w| w == RANDOM_VECTOR),
        "random vector present"
    );
    // Proxy Authen Name has M=0: without the secret it is kept, opaque.
    let p = decode_packet(&b, None).unwrap();
    let other = p
        .message
        .unwrap()
        .into_avps()
        .into_iter()
        .find_map(|a| match a {
            Avp::Other(r) if r.attr_type == AvpType::ProxyAuthenName as u16 => Some(r),
            _ => None,
        });
    assert!(other.is_some_and(|r| r.hidden && !r.mandatory));
    // A hidden mandatory AVP without the secret clears the session.
    let b = packet(&iccn)
        .encode(Some(&hiding(AvpSet::EMPTY.with(AvpType::TxConnectSpeed))))
        .unwrap();
    match decode_packet(&b, None) {
        Err(PacketError::Message { error, .. }) => {
            assert_eq!(
                error.kind,
                MessageErrorKind::HiddenWithoutSecret(AvpType::TxConnectSpeed)
            );
            assert!(matches!(error.response(), Response::Cdn(_)));
        }
        other => panic!("{other:?}"),
    }
    // The wrong secret is caught.
    assert!(decode_packet(&b, Some(b"not-the-secret")).is_err());
}

fn with_extra_avp(m: &ControlMessage, raw: RawAvp) -> Vec<u8> {
    let mut m = m.clone();
    m.avps.push(Avp::Other(raw));
    packet(&m).encode(None).unwrap()
}

fn raw(mandatory: bool, reserved: u8, vendor_id: u16, attr_type: u16) -> RawAvp {
    RawAvp {
        mandatory,
        hidden: false,
        reserved,
        vendor_id,
        attr_type,
        value: vec![1, 2, 3],
    }
}

#[test]
fn unknown_mandatory_avp_clears_session_or_tunnel() {
    let msgs = all_messages();
    let icrq = msgs
        .iter()
        .find(|m| m.msg_type == MessageType::Icrq)
        .unwrap();
    let Err(PacketError::Message { header, error }) =
        decode_packet(&with_extra_avp(icrq, raw(true, 0, 9, 1)), None)
    else {
        panic!("unknown mandatory AVP accepted");
    };
    assert_eq!(
        (header.ns, header.nr),
        (5, 6),
        "header kept for acknowledgement"
    );
    assert_eq!(
        error.kind,
        MessageErrorKind::UnknownMandatoryAvp {
            vendor_id: 9,
            attr_type: 1
        }
    );
    assert_eq!(error.scope(), Scope::Session);
    assert_eq!(
        error.assigned_session_id,
        Some(0x0303),
        "CDN can be addressed to the peer"
    );
    let Response::Cdn(rc) = error.response() else {
        panic!()
    };
    assert_eq!(
        (rc.result, rc.error_code()),
        (2, Some(ErrorCode::UnknownMandatoryAvp))
    );
    assert!(rc.message_text().contains("vendor 9 type 1"));

    let sccrq = msgs
        .iter()
        .find(|m| m.msg_type == MessageType::Sccrq)
        .unwrap();
    let Err(PacketError::Message { error, .. }) =
        decode_packet(&with_extra_avp(sccrq, raw(true, 0, 0, 99)), None)
    else {
        panic!()
    };
    assert_eq!(error.scope(), Scope::Tunnel);
    assert_eq!(error.assigned_tunnel_id, Some(0x1a2b));
    let Response::StopCcn(rc) = error.response() else {
        panic!()
    };
    assert_eq!(rc.result, StopCcnResult::GeneralError as u16);
}

#[test]
fn unknown_optional_and_reserved_bit_avps_are_kept_verbatim() {
    let hello = ControlMessage::new(MessageType::Hello, vec![]);
    for r in [
        raw(false, 0, 9, 1),
        raw(false, 0, 0, 99),
        raw(false, 0b0100, 0, AvpType::HostName as u16),
    ] {
        let b = with_extra_avp(&hello, r.clone());
        let p = decode_packet(&b, None).unwrap();
        assert_eq!(p.message.as_ref().unwrap().avps, vec![Avp::Other(r)]);
        assert_eq!(p.encode(None).unwrap(), b, "re-encoded byte for byte");
    }
    // A reserved bit with M set: unrecognized and mandatory (§4.1).
    let b = with_extra_avp(&hello, raw(true, 0b1000, 0, AvpType::HostName as u16));
    assert!(matches!(
        decode_packet(&b, None),
        Err(PacketError::Message { .. })
    ));
}

#[test]
fn unknown_message_types() {
    let mut b = packet(&ControlMessage::new(MessageType::Hello, vec![]))
        .encode(None)
        .unwrap();
    b[19] = 200; // Message Type value
    let Err(PacketError::Message { error, .. }) = decode_packet(&b, None) else {
        panic!()
    };
    assert!(
        matches!(error.response(), Response::StopCcn(_)),
        "M bit set: clear the tunnel"
    );
    b[12] &= 0x7f; // clear M
    let Err(PacketError::Message { error, .. }) = decode_packet(&b, None) else {
        panic!()
    };
    assert_eq!(error.response(), Response::Ignore);
}

#[test]
fn malformed_bodies_and_headers() {
    // Missing a required AVP.
    let icrp = ControlMessage::new(MessageType::Icrp, vec![]);
    let Err(PacketError::Message { error, .. }) =
        decode_packet(&packet(&icrp).encode(None).unwrap(), None)
    else {
        panic!()
    };
    assert_eq!(
        error.kind,
        MessageErrorKind::MissingAvp(AvpType::AssignedSessionId)
    );
    // AVP length running past the message.
    let mut b = packet(&ControlMessage::new(
        MessageType::Icrp,
        vec![Avp::AssignedSessionId(1)],
    ))
    .encode(None)
    .unwrap();
    b[21] = 0x40;
    let Err(PacketError::Message { error, .. }) = decode_packet(&b, None) else {
        panic!()
    };
    assert!(matches!(error.kind, MessageErrorKind::BadAvpLength { .. }));
    // Mandatory AVP with a bad value length.
    let mut b = packet(&ControlMessage::new(
        MessageType::Icrp,
        vec![Avp::AssignedSessionId(1)],
    ))
    .encode(None)
    .unwrap();
    b.push(0);
    b[21] = 9;
    b[3] += 1;
    let Err(PacketError::Message { error, .. }) = decode_packet(&b, None) else {
        panic!()
    };
    assert_eq!(
        error.kind,
        MessageErrorKind::BadAvpValueLength(AvpType::AssignedSessionId)
    );
    // First AVP not Message Type.
    let mut b = packet(&ControlMessage::new(MessageType::Hello, vec![]))
        .encode(None)
        .unwrap();
    b[17] = 7;
    assert!(matches!(
        decode_packet(&b, None),
        Err(PacketError::Message { error, .. }) if error.kind == MessageErrorKind::NoMessageType
    ));
    // Header problems: data message, wrong version, control without S bit.
    assert_eq!(
        decode_packet(&[0x02, 0x02, 0, 1, 0, 1, 0, 0], None),
        Err(PacketError::NotControl)
    );
    assert!(matches!(
        decode_packet(&[0xc8, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0], None),
        Err(PacketError::Header(_))
    ));
    assert!(matches!(
        decode_packet(&[0xc0, 0x02, 0, 8, 0, 0, 0, 0], None),
        Err(PacketError::Header(_))
    ));
}

#[test]
fn encoder_refuses_what_it_cannot_frame() {
    let m = ControlMessage::new(MessageType::Sccrq, vec![Avp::HostName(vec![b'a'; 1018])]);
    assert!(packet(&m).encode(None).is_err());
    let m = ControlMessage::new(MessageType::Hello, vec![Avp::RandomVector(vec![1])]);
    assert!(packet(&m).encode(None).is_err());
}
