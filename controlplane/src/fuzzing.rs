//! Entry points shared by the fuzz targets (`controlplane/fuzz`) and the
//! corpus replay test, so `cargo test` runs every committed seed on stable.
//! Each must never panic on any input; where a decode succeeds, encoding
//! the result and decoding again must give the same value.

use crate::l2tp::message::{AvpSet, Hiding, decode_packet};
use crate::ppp::chap::ChapPacket;
use crate::ppp::ipcp::IpcpPacket;
use crate::ppp::ipv6cp::Ipv6cpPacket;
use crate::ppp::lcp::LcpPacket;
use crate::ppp::mschapv2;
use crate::ppp::pap::PapPacket;

/// The shared secret the L2TP target unhides with, so seeds can carry
/// hidden AVPs.
pub const FUZZ_SECRET: &[u8] = b"fuzz-secret";

/// An L2TP control datagram, decoded with and without a secret.
pub fn l2tp_control(data: &[u8]) {
    let _ = decode_packet(data, None);
    let Ok(pkt) = decode_packet(data, Some(FUZZ_SECRET)) else {
        return;
    };
    // An AVP kept still hidden (unhiding failed, M bit clear) would be
    // unhidden with the new Random Vector on a hidden re-encode; only the
    // plain re-encode is then expected to round-trip.
    let opaque = pkt.message.as_ref().is_some_and(|m| {
        m.avps
            .iter()
            .any(|a| matches!(a, crate::l2tp::Avp::Other(r) if r.hidden))
    });
    let sets: &[AvpSet] = if opaque {
        &[AvpSet::EMPTY]
    } else {
        &[AvpSet::EMPTY, AvpSet::all_hideable()]
    };
    // Re-encode plainly and hidden; both must decode to the same packet.
    for &hide in sets {
        let hiding = Hiding {
            secret: FUZZ_SECRET,
            random_vector: &[7; 16],
            padding: &[],
            hide,
        };
        if let Ok(bytes) = pkt.encode(Some(&hiding)) {
            let again = decode_packet(&bytes, Some(FUZZ_SECRET));
            assert_eq!(
                again.as_ref().ok(),
                Some(&pkt),
                "re-encoded packet must decode back"
            );
        }
    }
}

/// A PPP control or authentication packet; the first octet picks the
/// protocol so one target covers every PPP parser.
pub fn ppp_control(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 7 {
        0 => round_trip(rest, LcpPacket::decode_lcp, LcpPacket::encode),
        1 => round_trip(rest, IpcpPacket::decode_ipcp, IpcpPacket::encode),
        2 => round_trip(rest, Ipv6cpPacket::decode_ipv6cp, Ipv6cpPacket::encode),
        3 => round_trip(rest, PapPacket::decode, PapPacket::encode),
        4 => round_trip(rest, ChapPacket::decode, ChapPacket::encode),
        5 => {
            if let Ok(v) = mschapv2::ResponseValue::parse(rest) {
                assert_eq!(mschapv2::ResponseValue::parse(&v.to_bytes()), Ok(v));
            }
        }
        _ => {
            let _ = mschapv2::parse_success_message(rest);
        }
    }
}

fn round_trip<T: PartialEq + core::fmt::Debug, E>(
    data: &[u8],
    decode: fn(&[u8]) -> Result<T, E>,
    encode: fn(&T) -> Result<Vec<u8>, E>,
) {
    let Ok(v) = decode(data) else { return };
    if let Ok(bytes) = encode(&v) {
        assert_eq!(
            decode(&bytes).ok().as_ref(),
            Some(&v),
            "re-encoded packet must decode back"
        );
    }
}
