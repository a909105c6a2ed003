//! criterion micro-benchmarks of the data plane's per-packet work, one
//! 64-byte IP packet at a time, with 100,000 sessions in the table:
//! parsing (decap, classify), the table lookups, encapsulation, and the
//! whole pipeline each way. `stages` measures the same over batches with a
//! million sessions spread over memory; these are the hot-cache figures
//! with criterion's statistics.
//!
//! Run: `cargo bench -p lns-dataplane --bench micro` (bench/run-benchmarks
//! records the results in bench/results/).

#[path = "common/frames.rs"]
mod frames;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use frames::{HEADROOM, downstream_frame, ids, session, sub, upstream_frame};
use lns_dataplane::node::classify::from_core;
use lns_dataplane::node::decap::decap;
use lns_dataplane::node::encap::encap;
use lns_dataplane::node::icmp;
use lns_dataplane::table::{CORE_V4, NextHop, Sizes, Writer};
use lns_dataplane::wire::checksum;
use lns_dataplane::worker::pipeline::{Env, Out, Pipeline};
use std::hint::black_box;

const SESSIONS: u32 = 100_000;

fn benches(c: &mut Criterion) {
    let mut w = Writer::heap(Sizes {
        capacity: SESSIONS,
        workers: 1,
    })
    .expect("table");
    let r = w.reader();
    frames::unplace();
    for i in 0..SESSIONS {
        frames::place(i, false, |t, s| r.home_is_free(t, s));
        w.insert(&session(i)).expect("insert");
    }
    let hop = NextHop {
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_mac: [2, 0, 0, 0, 0, 1],
        addr: None,
    };
    w.set_nexthop(CORE_V4, &hop).expect("hop");
    w.set_nexthop(2, &hop).expect("hop");
    let r = w.reader();
    let n = 4242;
    let (up, up_len) = upstream_frame(n, 64);
    let (down, down_len) = downstream_frame(n, 64);

    c.bench_function("wire/decap_l2tp_data", |b| {
        b.iter(|| decap(black_box(&up[HEADROOM..HEADROOM + up_len]), 1701))
    });
    c.bench_function("wire/classify_core_ipv4", |b| {
        b.iter(|| from_core(black_box(&down[HEADROOM..HEADROOM + down_len])))
    });
    c.bench_function("wire/ipv4_header_checksum", |b| {
        b.iter(|| checksum::sum(black_box(&down[HEADROOM + 14..HEADROOM + 34])))
    });
    c.bench_function("table/lookup_by_ids", |b| {
        let (t, s) = ids(n);
        b.iter(|| r.by_ids(black_box(t), black_box(s)).is_some())
    });
    c.bench_function("table/lookup_by_ipv4", |b| {
        b.iter(|| r.by_ipv4(black_box(sub(n))).is_some())
    });
    let f = r.by_ipv4(sub(n)).expect("session");
    c.bench_function("node/encap_from_template", |b| {
        b.iter_batched_ref(
            || down.clone(),
            |buf| encap(f.template().unwrap(), buf, HEADROOM + 14, down_len - 14, 0),
            BatchSize::SmallInput,
        )
    });
    tunnel_outer(c);
    let env = Env {
        lns_port: 1701,
        icmp: icmp::Source::default(),
        gateway: None,
        access_mtu: None,
        core_mtu: None,
        bare: false,
    };
    let mut p = Pipeline::new(&r, 0, env).expect("pipeline");
    c.bench_function("pipeline/upstream_packet", |b| {
        b.iter_batched_ref(
            || up.clone(),
            |buf| {
                let o = p.upstream(buf, HEADROOM, up_len);
                debug_assert!(matches!(o, Out::Core(..)));
                o
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("pipeline/downstream_packet", |b| {
        b.iter_batched_ref(
            || down.clone(),
            |buf| {
                let o = p.downstream(buf, HEADROOM, down_len);
                debug_assert!(matches!(o, Out::Access(..)));
                o
            },
            BatchSize::SmallInput,
        )
    });
}

/// The same packet, 64 to 1500 bytes, written into L2TP behind an IPv4
/// and an IPv6 outer header (the latter with its UDP checksum over the
/// whole datagram, RFC 8200 §8.1), and read back out of each (the IPv6
/// one checking that checksum): what a LAC reached over IPv6 costs.
fn tunnel_outer(c: &mut Criterion) {
    use lns_dataplane::node::encap::{Outer, Template};
    use std::net::{Ipv4Addr, Ipv6Addr};
    let outer = |src: std::net::IpAddr, dst: std::net::IpAddr| Outer {
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_mac: [2, 0, 0, 0, 0, 1],
        vlan: None,
        src,
        src_port: 1701,
        dst,
        dst_port: 1701,
        tunnel: 7,
        session: 9,
        sequencing: false,
    };
    let v4 = Template::new(&outer(
        Ipv4Addr::new(192, 0, 2, 1).into(),
        Ipv4Addr::new(198, 51, 100, 7).into(),
    ));
    let (lns6, lac6): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::7".parse().unwrap(),
    );
    let v6 = Template::new(&outer(lns6.into(), lac6.into()));
    let mut addrs = [0u8; 32];
    addrs[..16].copy_from_slice(&lns6.octets());
    addrs[16..].copy_from_slice(&lac6.octets());
    for len in [64usize, 512, 1500] {
        // A valid IPv4 packet of `len` bytes (decapsulation reads its
        // header).
        let mut pkt = vec![0u8; HEADROOM + len];
        let ip = &mut pkt[HEADROOM..HEADROOM + 20];
        ip.copy_from_slice(&[
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 100, 64, 0, 1, 203, 0, 113, 9,
        ]);
        ip[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let sum = !checksum::sum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        for (family, t) in [
            ("ipv4", v4.as_ref()),
            ("ipv6", v6.as_ref().with_addresses(&addrs)),
        ] {
            c.bench_function(&format!("tunnel_outer/encap_{family}/{len}"), |b| {
                b.iter_batched_ref(
                    || pkt.clone(),
                    |buf| encap(t, buf, HEADROOM, len, 0),
                    BatchSize::SmallInput,
                )
            });
            let mut frame = pkt.clone();
            let (s, n) = encap(t, &mut frame, HEADROOM, len, 0).expect("encapsulated");
            let frame = frame[s..s + n].to_vec();
            assert!(decap(&frame, 1701).is_ok(), "{family} {len}");
            c.bench_function(&format!("tunnel_outer/decap_{family}/{len}"), |b| {
                b.iter(|| decap(black_box(&frame), 1701).is_ok())
            });
        }
    }
}

criterion_group!(micro, benches);
criterion_main!(micro);
