//! The cost of one hop between workers (issue 18: the elephant tunnel's
//! hand-off, `worker::handoff`): descriptors pushed in 64-entry batches by
//! one thread and popped by another, each pinned to its own core when
//! there are two, as two workers would be.
//!
//! Prints ns per descriptor across the two threads (the hop's cost to a
//! stream of packets: the slower end's share), and on one thread (push a
//! batch, pop it: the instructions alone, no cache line moving between
//! cores).
//!
//! Run: `cargo bench -p lns-dataplane --bench handoff [-- MILLIONS]`

use lns_dataplane::worker::handoff::ring;
use std::hint::black_box;
use std::time::Instant;
use xdpilone::xdp::XdpDesc;

const BATCH: usize = 64;

fn main() {
    let millions: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let n = millions * 1_000_000;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let batch: Vec<XdpDesc> = (0..BATCH as u64)
        .map(|i| XdpDesc {
            addr: i * 2048 + 256,
            len: 64,
            options: 0,
        })
        .collect();

    // One thread: push a batch, pop it.
    let (mut p, mut c) = ring(1024);
    let mut out = [XdpDesc::default(); BATCH];
    let t = Instant::now();
    let mut sum = 0u64;
    for _ in 0..n / BATCH as u64 {
        p.push(black_box(&batch));
        let k = c.pop(&mut out);
        sum += out[..k].iter().map(|d| d.addr).sum::<u64>();
    }
    black_box(sum);
    let one = t.elapsed().as_nanos() as f64 / n as f64;

    // Two threads, a worker's ring size (1,024).
    let (mut p, mut c) = ring(1024);
    let pin = |i: usize| {
        if let Some(id) = cores.get(i) {
            core_affinity::set_for_current(*id);
        }
    };
    let producer = {
        let batch = batch.clone();
        let pin1 = cores.get(1).copied();
        std::thread::spawn(move || {
            if let Some(id) = pin1 {
                core_affinity::set_for_current(id);
            }
            let mut sent = 0u64;
            while sent < n {
                let k = p.push(&batch[..BATCH.min((n - sent) as usize)]);
                if k == 0 {
                    std::hint::spin_loop();
                }
                sent += k as u64;
            }
        })
    };
    pin(0);
    let t = Instant::now();
    let mut got = 0u64;
    let mut sum = 0u64;
    while got < n {
        let k = c.pop(&mut out);
        sum += out[..k].iter().map(|d| d.addr).sum::<u64>();
        got += k as u64;
    }
    let two = t.elapsed().as_nanos() as f64 / n as f64;
    producer.join().unwrap();
    black_box(sum);
    println!(
        "hand-off ring, {BATCH}-descriptor batches, {millions} M descriptors, {} CPUs",
        cores.len()
    );
    println!("  one thread (push a batch, pop it)        {one:6.2} ns/descriptor");
    println!(
        "  two threads on two cores                 {two:6.2} ns/descriptor  ({:.1} M/s)",
        1e3 / two
    );
}
