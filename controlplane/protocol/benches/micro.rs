//! criterion micro-benchmarks of the control plane's per-message work:
//! L2TP control message decode and encode (RFC 2661 §3.1, §4), a hidden
//! AVP's unhiding (§4.3), PPP LCP decode, and the authentication
//! arithmetic a LNS does per subscriber (CHAP MD5, RFC 1994 §4.1;
//! MS-CHAPv2, RFC 2759 §8). Inputs are the fuzz seed corpus's messages.
//!
//! Run: `cargo bench -p lns-protocol --bench micro` (bench/run-benchmarks
//! records the results in bench/results/). Session setups per second
//! through the whole engine are `l2tp_setup` and `session_setup`.

use criterion::{Criterion, criterion_group, criterion_main};
use lns_protocol::l2tp::message::decode_packet;
use lns_protocol::ppp::chap::md5_response;
use lns_protocol::ppp::lcp::LcpPacket;
use lns_protocol::ppp::mschapv2::generate_nt_response;
use std::hint::black_box;

const SCCRQ: &[u8] = include_bytes!("../fuzz/corpus/l2tp_control/sccrq-plain");
const ICRQ: &[u8] = include_bytes!("../fuzz/corpus/l2tp_control/icrq-plain");
const ICRQ_HIDDEN: &[u8] = include_bytes!("../fuzz/corpus/l2tp_control/icrq-hidden");
// The seed's first octet selects the parser (fuzzing::ppp_control).
const LCP_CONFREQ: &[u8] = include_bytes!("../fuzz/corpus/ppp_control/lcp-confreq");

fn benches(c: &mut Criterion) {
    c.bench_function("l2tp/decode_sccrq", |b| {
        b.iter(|| decode_packet(black_box(SCCRQ), None).is_ok())
    });
    c.bench_function("l2tp/decode_icrq", |b| {
        b.iter(|| decode_packet(black_box(ICRQ), None).is_ok())
    });
    let secret = lns_protocol::fuzzing::FUZZ_SECRET;
    assert!(decode_packet(ICRQ_HIDDEN, Some(secret)).is_ok());
    c.bench_function("l2tp/decode_icrq_hidden_avps", |b| {
        b.iter(|| decode_packet(black_box(ICRQ_HIDDEN), Some(secret)).is_ok())
    });
    let sccrq = decode_packet(SCCRQ, None).expect("seed decodes");
    c.bench_function("l2tp/encode_sccrq", |b| {
        b.iter(|| black_box(&sccrq).encode(None).map(|v| v.len()))
    });
    let lcp = &LCP_CONFREQ[1..];
    assert!(LcpPacket::decode_lcp(lcp).is_ok());
    c.bench_function("ppp/decode_lcp_configure_request", |b| {
        b.iter(|| LcpPacket::decode_lcp(black_box(lcp)).is_ok())
    });
    let challenge = [0x5au8; 16];
    c.bench_function("auth/chap_md5_response", |b| {
        b.iter(|| md5_response(black_box(7), b"secret-password", black_box(&challenge)))
    });
    let peer = [0xa5u8; 16];
    c.bench_function("auth/mschapv2_nt_response", |b| {
        b.iter(|| generate_nt_response(black_box(&challenge), &peer, b"user1", "clientPass"))
    });
}

criterion_group!(micro, benches);
criterion_main!(micro);
