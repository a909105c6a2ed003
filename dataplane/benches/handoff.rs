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
//! Then the whole hop, frames included: 4,096 frames of 2 KiB (a UMEM's
//! worth). The receiving core writes a frame's first 64 bytes (as the
//! kernel's copy into the UMEM does), reads its ids (the peek) and passes
//! it; the owning core reads the 64 bytes, rewrites 16 (as decap and the
//! next hop do) and passes it home, where it is received into again. The
//! same work on one core with no rings is the reference: the hop's cost
//! is the core time a frame takes over both cores, less the reference.
//! Core time is given two ways: wall time on both cores (which charges
//! the faster core's polls of an empty ring to the hop), and busy time
//! only (each core's time in batches it worked, as a worker with other
//! traffic would spend it).
//!
//! Run: `cargo bench -p lns-dataplane --bench handoff [-- MILLIONS]`

use lns_dataplane::worker::handoff::{Consumer, Producer, ring};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
    let producer = {
        let batch = batch.clone();
        let second = cores.get(1).copied();
        std::thread::spawn(move || {
            pin(second);
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
    pin(cores.first().copied());
    let two = drain(&mut c, n, |got| got.iter().map(|d| d.addr).sum());
    producer.join().unwrap();
    println!(
        "hand-off ring, {BATCH}-descriptor batches, {millions} M descriptors, {} CPUs",
        cores.len()
    );
    println!("  one thread (push a batch, pop it)        {one:6.2} ns/descriptor");
    println!(
        "  two threads on two cores                 {two:6.2} ns/descriptor  ({:.1} M/s)",
        1e3 / two
    );
    whole_hop(n / 5, &cores);
}

/// Pins this thread to `core`, when the machine has it.
fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(id) = core {
        core_affinity::set_for_current(id);
    }
}

/// Pops `n` descriptors as they come, a batch at a time through `each`;
/// returns ns per descriptor.
fn drain(c: &mut Consumer, n: u64, mut each: impl FnMut(&[XdpDesc]) -> u64) -> f64 {
    let mut out = [XdpDesc::default(); BATCH];
    let t = Instant::now();
    let (mut got, mut sum) = (0u64, 0u64);
    while got < n {
        let k = c.pop(&mut out);
        sum = sum.wrapping_add(each(&out[..k]));
        got += k as u64;
    }
    black_box(sum);
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Pushes every descriptor of `descs`, waiting for room.
fn push_all(p: &mut Producer, descs: &[XdpDesc]) {
    let mut off = 0;
    while off < descs.len() {
        off += p.push(&descs[off..]);
    }
}

const FRAMES: usize = 4096;
/// 2 KiB frames, as 8-byte words (safe shared memory for two threads).
const WORDS: usize = 256;

/// Receives into frame `f`: its first 64 bytes written, its ids read.
#[inline(always)]
fn receive(umem: &[AtomicU64], f: usize, i: u64) -> u64 {
    let base = f * WORDS;
    for w in 0..8 {
        umem[base + w].store(i.wrapping_mul(w as u64 + 1), Relaxed);
    }
    umem[base + 5].load(Relaxed)
}

/// Works frame `f` at its owner: the 64 bytes read, 16 rewritten.
#[inline(always)]
fn work(umem: &[AtomicU64], f: usize) -> u64 {
    let base = f * WORDS;
    let mut x = 0u64;
    for w in 0..8 {
        x ^= umem[base + w].load(Relaxed);
    }
    umem[base + 2].store(x, Relaxed);
    umem[base + 3].store(!x, Relaxed);
    x
}

fn whole_hop(n: u64, cores: &[core_affinity::CoreId]) {
    let umem: std::sync::Arc<Vec<AtomicU64>> =
        std::sync::Arc::new((0..FRAMES * WORDS).map(|_| AtomicU64::new(0)).collect());
    let desc = |f: usize| XdpDesc {
        addr: (f * WORDS * 8) as u64,
        len: 64,
        options: 0,
    };
    let frame = |d: &XdpDesc| d.addr as usize / (WORDS * 8);

    // One core, no hop: receive and work each frame, frames in turn.
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        let f = (i as usize * 7) % FRAMES;
        sum ^= receive(&umem, f, i);
        sum ^= work(&umem, f);
    }
    black_box(sum);
    let alone = t.elapsed().as_nanos() as f64 / n as f64;

    // Two cores: received on one, passed, worked on the other, passed home.
    // The way home holds every frame, so the owner never waits on it
    // while the receiving core waits on the way out (as in the workers,
    // where a full ring drops instead).
    let (mut to_owner, mut at_owner) = ring(1024);
    let (mut to_home, mut at_home) = ring(FRAMES);
    let rx = {
        let umem = std::sync::Arc::clone(&umem);
        let second = cores.get(1).copied();
        std::thread::spawn(move || {
            pin(second);
            let mut free: Vec<usize> = (0..FRAMES).collect();
            let mut back = [XdpDesc::default(); BATCH];
            let mut batch = Vec::with_capacity(BATCH);
            let (mut sent, mut sum) = (0u64, 0u64);
            let mut busy = std::time::Duration::ZERO;
            while sent < n {
                let t = Instant::now();
                let k = at_home.pop(&mut back);
                free.extend(back[..k].iter().map(frame));
                let want = BATCH.min((n - sent) as usize).min(free.len());
                batch.clear();
                for j in 0..want {
                    let Some(f) = free.pop() else { break };
                    sum ^= receive(&umem, f, sent + j as u64);
                    batch.push(desc(f));
                }
                let mut off = to_owner.push(&batch);
                if want > 0 {
                    busy += t.elapsed();
                }
                // The rest waits for room: a worker would drop it
                // (`handoff_full`) and go on, so waiting is not the hop's.
                while off < batch.len() {
                    off += to_owner.push(&batch[off..]);
                }
                sent += batch.len() as u64;
                if want == 0 {
                    std::hint::spin_loop();
                }
            }
            black_box(sum);
            busy
        })
    };
    pin(cores.first().copied());
    let mut owner_busy = std::time::Duration::ZERO;
    let pair = drain(&mut at_owner, n, |got| {
        let t = Instant::now();
        let sum = got.iter().fold(0, |x, d| x ^ work(&umem, frame(d)));
        push_all(&mut to_home, got);
        if !got.is_empty() {
            owner_busy += t.elapsed();
        }
        sum
    });
    let rx_busy = rx.join().unwrap();
    let busy = (rx_busy + owner_busy).as_nanos() as f64 / n as f64;
    println!(
        "whole hop, {FRAMES} frames of 2 KiB, 64 bytes received into, read and 16 rewritten per frame, {} M frames",
        n / 1_000_000
    );
    println!("  one core, no hop (receive + work)        {alone:6.2} ns/frame");
    println!(
        "  two cores, received on one, worked on the other: {pair:6.2} ns/frame ({:.1} M/s)",
        1e3 / pair
    );
    println!(
        "  => the hop's cost: {:.2} ns of core time per frame (both cores' {:.2}, less {alone:.2})",
        2.0 * pair - alone,
        2.0 * pair
    );
    println!(
        "  busy time only (batches worked, not polls of an empty ring): {:.2} + {:.2} ns/frame",
        rx_busy.as_nanos() as f64 / n as f64,
        owner_busy.as_nanos() as f64 / n as f64
    );
    println!(
        "  => the hop's cost in busy core time: {:.2} ns per frame ({busy:.2}, less {alone:.2})",
        busy - alone
    );
}
