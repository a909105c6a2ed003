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

/// A whole LNS endpoint fed a script of datagrams and clock ticks.
///
/// The input is a list of records `[op, len_hi, len_lo, bytes...]`:
/// * `op % 4 == 0 | 1`: a datagram of `len` bytes from peer A or B; with
///   `op & 4` its tunnel id is replaced by the endpoint's first tunnel, so
///   the fuzzer can reach established tunnels without guessing ids;
/// * `op % 4 == 2`: the clock moves `len` × 10 ms and timers fire;
/// * `op % 4 == 3`: a local request picked by `len` (disconnect a session,
///   close a tunnel, place a call, open a tunnel, shut down).
///
/// Invariants checked after every record: everything the endpoint sends
/// decodes (with the shared secret) and goes to a known peer; limits hold.
pub fn l2tp_endpoint(data: &[u8]) {
    use crate::l2tp::avp::ResultCode;
    use crate::l2tp::result::{CdnResult, StopCcnResult};
    use crate::l2tp::{
        CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule, SessionKey, TunnelAuth,
    };
    use rand::SeedableRng;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    let peers = [
        SocketAddr::from(([10, 0, 0, 2], 1701)),
        SocketAddr::from(([10, 0, 0, 3], 1701)),
    ];
    let local = SocketAddr::from(([10, 0, 0, 1], 1701));
    let cfg = EndpointConfig {
        max_tunnels: 8,
        max_tunnels_per_peer: 4,
        max_sessions_per_tunnel: 64,
        peers: vec![
            PeerRule {
                address: Some(peers[0].ip()),
                policy: PeerPolicy {
                    secret: Some(FUZZ_SECRET.to_vec()),
                    auth: TunnelAuth::Optional,
                    hide_avps: true,
                    hide_avps_in_tunnel_setup: true,
                    answer_outgoing_calls: true,
                    ..Default::default()
                },
            },
            PeerRule {
                address: Some(peers[1].ip()),
                policy: PeerPolicy::default(),
            },
        ],
        ..Default::default()
    };
    let mut ep = Endpoint::with_rng(cfg, rand::rngs::StdRng::seed_from_u64(0));
    let mut now = Instant::now();
    let mut rest = data;
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        match op % 4 {
            0 | 1 => {
                let n = len.min(tail.len());
                let mut dgram = tail[..n].to_vec();
                rest = &tail[n..];
                if op & 4 != 0
                    && dgram.len() >= 6
                    && let Some(id) = ep.tunnels().map(|t| t.local_id).min()
                {
                    dgram[4..6].copy_from_slice(&id.to_be_bytes());
                }
                ep.handle(now, local, peers[usize::from(op % 2)], &dgram);
            }
            2 => {
                rest = tail;
                now += Duration::from_millis(len as u64 * 10);
                ep.on_timeout(now);
            }
            _ => {
                rest = tail;
                let first = ep.tunnels().map(|t| t.local_id).min();
                let key = ep.tunnels().find_map(|t| {
                    t.sessions().next().map(|s| SessionKey {
                        tunnel: t.local_id,
                        session: s.local_id,
                    })
                });
                match len % 5 {
                    0 => {
                        if let Some(k) = key {
                            ep.disconnect(
                                now,
                                k,
                                ResultCode::cdn(CdnResult::Administrative, None, ""),
                                None,
                            );
                        }
                    }
                    1 => {
                        if let Some(t) = first {
                            ep.close_tunnel(
                                now,
                                t,
                                ResultCode::stop_ccn(StopCcnResult::GeneralClear, None, ""),
                            );
                        }
                    }
                    2 => {
                        if let Some(t) = first {
                            let _ = ep.place_call(now, t, CallParams::default());
                            let _ = ep.dial(now, t, CallParams::default());
                        }
                    }
                    3 => {
                        let _ = ep.open_tunnel(now, local, peers[len / 5 % 2]);
                    }
                    _ => ep.shutdown(now),
                }
            }
        }
        while let Some(tx) = ep.poll_transmit() {
            assert!(peers.contains(&tx.peer), "sent to a stranger: {}", tx.peer);
            assert!(
                decode_packet(&tx.payload, Some(FUZZ_SECRET)).is_ok(),
                "the endpoint sent something undecodable: {:02x?}",
                tx.payload
            );
        }
        while ep.poll_event().is_some() {}
        assert!(ep.tunnel_count() <= 8);
        assert!(ep.tunnels().all(|t| t.session_count() <= 64));
    }
}

/// A RADIUS datagram (reply, or Disconnect/CoA request): decoding never
/// panics, what decodes re-encodes to a packet that decodes the same, and
/// verification with any secret only ever answers yes or no.
pub fn radius_packet(data: &[u8]) {
    use crate::aaa::radius::packet::{Packet, unhide_password};
    let Ok(p) = Packet::decode(data) else {
        return;
    };
    let _ = p.verify_response(FUZZ_SECRET, [0; 16]);
    let _ = p.verify_request(FUZZ_SECRET);
    for a in &p.attrs {
        let _ = unhide_password(&a.value, FUZZ_SECRET, &p.authenticator);
    }
    let _ = p.vendor(311, 26);
    if let Ok(bytes) = p.encode() {
        assert_eq!(
            Packet::decode(&bytes).as_ref(),
            Ok(&p),
            "re-encoded packet must decode back"
        );
    }
}

/// A DHCPv6 message from a subscriber (the UDP payload): reading never
/// panics, what reads re-encodes to a message that reads again, and the
/// server's answer to it (with and without leases) never panics.
pub fn dhcpv6(data: &[u8]) {
    use crate::ipv6::dhcp::{self, Leases, Message, ServerConfig};
    // The same bytes as a whole IPv6 packet, for the UDP reader.
    let _ = dhcp::udp_of(data);
    let Ok(m) = Message::parse(data) else {
        return;
    };
    let again = Message::parse(&m.encode());
    assert!(again.is_ok(), "re-encoded message must read back");
    let cfg = ServerConfig {
        duid: dhcp::duid_uuid([7; 16]),
        preferred: 3600,
        valid: 7200,
        rapid_commit: true,
        preference: 255,
        dns: vec![std::net::Ipv6Addr::LOCALHOST],
        domains: vec!["example.net".into()],
    };
    let full = Leases {
        prefix: Some(crate::aaa::prefix::Ipv6Net::new(
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0x100, 0, 0, 0, 0),
            56,
        )),
        address: Some(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 9)),
        link: Some(crate::aaa::prefix::Ipv6Net::new(
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0),
            64,
        )),
    };
    for leases in [Leases::default(), full] {
        if let Ok(a) = dhcp::respond(&cfg, &m, dhcp::ALL_SERVERS, &leases) {
            assert!(
                Message::parse(&a.reply.encode()).is_ok(),
                "our reply must read back"
            );
        }
    }
}
