//! A pinned per-core worker: its sockets, its pipeline, its loop (DESIGN
//! §4, "vectors, not packets"): reap completions, refill, take a batch from
//! each side, run the pipeline over it, submit the TX batches, flush the
//! counters once, and, when idle in poll mode, sleep in `poll` until a
//! socket has work.
//!
//! The loop allocates nothing and never logs per packet; a frame that
//! cannot be sent (TX ring full, an impossible descriptor) goes back to
//! the free list under a named counter.

pub mod pipeline;

use crate::table::Reader;
use crate::table::counters::Counter;
use crate::xsk::{BATCH, Sockets};
use pipeline::{Env, Out, Pipeline};
use std::sync::atomic::{AtomicBool, Ordering};
use xdpilone::xdp::XdpDesc;

/// How a worker waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polling {
    /// Spin on the rings (lowest latency, a full core).
    Busy,
    /// Sleep in `poll` when a pass found nothing (need-wakeup protocol).
    Wakeup,
}

/// Which socket a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    Access,
    Core,
    /// One interface serves both sides.
    Both,
}

/// One batch's frames for each TX ring.
struct Tx {
    core: [XdpDesc; BATCH],
    nc: usize,
    access: [XdpDesc; BATCH],
    na: usize,
}

/// Runs until `stop` is set. `worker` numbers the counter block.
pub fn run(
    mut s: Sockets,
    table: &Reader,
    worker: u32,
    env: Env,
    polling: Polling,
    stop: &AtomicBool,
) {
    let Some(mut p) = Pipeline::new(table, worker, env) else {
        return;
    };
    let mut rx = [XdpDesc::default(); BATCH];
    let mut tx = Tx {
        core: [XdpDesc::default(); BATCH],
        nc: 0,
        access: [XdpDesc::default(); BATCH],
        na: 0,
    };
    let fds = [
        s.access.raw_fd(),
        s.core.as_ref().map_or(-1, |c| c.raw_fd()),
    ];
    let nfds = if s.core.is_some() { 2 } else { 1 };
    while !stop.load(Ordering::Relaxed) {
        s.access.reap(&mut s.umem);
        s.access.refill(&mut s.umem);
        if let Some(c) = s.core.as_mut() {
            c.reap(&mut s.umem);
            c.refill(&mut s.umem);
        }
        let mut work = 0;
        let sources: &[From] = if s.core.is_some() {
            &[From::Access, From::Core]
        } else {
            &[From::Both]
        };
        for &from in sources {
            let port = match from {
                From::Core => s.core.as_mut().unwrap_or(&mut s.access),
                _ => &mut s.access,
            };
            let n = port.recv(&mut rx);
            if n == 0 {
                continue;
            }
            work += n;
            p.local.add(Counter::Batches, 1);
            tx.nc = 0;
            tx.na = 0;
            for d in &rx[..n] {
                let Some((chunk, off)) = s.umem.chunk(d.addr) else {
                    continue;
                };
                let base = d.addr - off as u64;
                let len = d.len as usize;
                let out = match from {
                    From::Access => p.upstream(chunk, off, len),
                    From::Core => p.downstream(chunk, off, len),
                    From::Both => p.either(chunk, off, len),
                };
                let desc = |st: usize, len: usize| XdpDesc {
                    addr: base + st as u64,
                    len: len as u32,
                    options: 0,
                };
                match out {
                    Out::Core(st, len) => {
                        tx.core[tx.nc] = desc(st, len);
                        tx.nc += 1;
                    }
                    Out::Access(st, len) => {
                        tx.access[tx.na] = desc(st, len);
                        tx.na += 1;
                    }
                    Out::Drop(_) => s.umem.release(d.addr),
                }
            }
            submit(&mut s, &mut p, &tx);
        }
        p.flush();
        if work == 0 && polling == Polling::Wakeup {
            crate::xsk::wait(&fds[..nfds], 100);
        }
    }
    p.flush();
}

fn submit(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &Tx) {
    let core = s.core.as_mut().unwrap_or(&mut s.access);
    let sent = core.send(&tx.core[..tx.nc]);
    p.local.add(Counter::TxCore, sent as u64);
    for d in &tx.core[sent..tx.nc] {
        p.local.add(Counter::TxRingFull, 1);
        s.umem.release(d.addr);
    }
    let sent = s.access.send(&tx.access[..tx.na]);
    p.local.add(Counter::TxAccess, sent as u64);
    for d in &tx.access[sent..tx.na] {
        p.local.add(Counter::TxRingFull, 1);
        s.umem.release(d.addr);
    }
}
