//! A pinned per-core worker: its sockets, its pipeline, its loop (DESIGN
//! §4, "vectors, not packets"): reap completions, refill, take a batch from
//! each side, run the pipeline over it, submit the TX batches, flush the
//! counters once, and, when idle in poll mode, sleep in `poll` until a
//! socket has work.
//!
//! The loop allocates nothing and never logs per packet; a frame that
//! cannot be sent (TX ring full, an impossible descriptor) goes back to
//! the free list under a named counter. A packet the pipeline fragments
//! takes its extra frames from the same free list; without enough of them
//! it is dropped whole, by name.

pub mod handoff;
pub mod pipeline;

use crate::node::drop::Drop;
use crate::table::counters::Counter;
use crate::table::{Key, Reader};
use crate::xsk::{BATCH, Sockets};
use handoff::Links;
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
    /// Frames the express lanes dropped, released once their loop is
    /// done (see [`lanes`]); empty between batches.
    dropped: [u64; BATCH],
    nd: usize,
}

/// Runs until `stop` is set. `worker` numbers the counter block. With
/// `links`, the frames of sessions another worker owns go to it, and the
/// frames other workers pass here are worked here (`handoff`).
pub fn run(
    mut s: Sockets,
    table: &Reader,
    worker: u32,
    env: Env,
    polling: Polling,
    stop: &AtomicBool,
    mut links: Option<Links>,
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
        dropped: [0; BATCH],
        nd: 0,
    };
    // The sockets, and room for a doorbell.
    let fds = [
        s.access.raw_fd(),
        s.core.as_ref().map_or(-1, |c| c.raw_fd()),
        -1,
    ];
    let nfds = if s.core.is_some() { 2 } else { 1 };
    let clock = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        p.set_time(u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if let Some(l) = links.as_mut() {
            l.frames_home(&mut s.umem);
        }
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
                // Busy polling: an empty ring asks the kernel to run the
                // interface's NAPI for us.
                if polling == Polling::Busy {
                    crate::xsk::kick_rx(port.raw_fd());
                }
                continue;
            }
            work += n;
            p.local.add(Counter::Batches, 1);
            let links = if from == From::Core {
                None
            } else {
                links.as_mut()
            };
            work_batch(&mut s, &mut p, &mut tx, from, &rx[..n], links, Rx::Own);
        }
        // What other workers passed here: frames of sessions this worker
        // owns, received on the access side.
        if let Some(l) = links.as_mut() {
            for i in 0..l.from.len() {
                let n = l.from[i].pop(&mut rx);
                if n > 0 {
                    work += n;
                    let from = if s.core.is_some() {
                        From::Access
                    } else {
                        From::Both
                    };
                    work_batch(
                        &mut s,
                        &mut p,
                        &mut tx,
                        from,
                        &rx[..n],
                        None,
                        Rx::HandedOver,
                    );
                }
            }
            l.strays_home(&mut s.umem);
        }
        p.flush();
        let sending =
            s.access.in_flight() > 0 || s.core.as_ref().is_some_and(|c| c.in_flight() > 0);
        if work == 0 && polling == Polling::Wakeup && !sending {
            // With the hand-off, another worker rings this one's doorbell
            // when it passes frames here or sends frames home while this
            // one sleeps; it looks at its rings once more after saying
            // so, so none is missed.
            if let Some(l) = links.as_ref()
                && let Some(bell) = l.bell()
            {
                bell.sleeping();
                if !l.pending() {
                    let mut all = fds;
                    all[nfds] = bell.raw_fd();
                    crate::xsk::wait(&all[..=nfds], 100);
                }
                bell.awake();
            } else {
                crate::xsk::wait(&fds[..nfds], 100);
            }
        }
    }
    p.flush();
}

/// Where a batch's frames were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rx {
    /// On this worker's own queue (counted as received here).
    Own,
    /// By another worker, which counted them and passed them here.
    HandedOver,
}

/// Works one batch from `from`: every frame's key first (DESIGN §4),
/// the hand-off of frames other workers own (with `links`), then each
/// remaining packet through the pipeline with its index bucket and slot
/// prefetched a fixed distance ahead of its work
/// ([`Pipeline::prefetch_first`], [`Pipeline::prefetch_ahead`]: the
/// packets find them in cache instead of each waiting for its own misses
/// in turn), then the TX batches out.
fn work_batch(
    s: &mut Sockets,
    p: &mut Pipeline<'_>,
    tx: &mut Tx,
    from: From,
    descs: &[XdpDesc],
    links: Option<&mut Links>,
    rx: Rx,
) {
    let mut keys = [None; BATCH];
    for (k, d) in keys.iter_mut().zip(descs) {
        if let Some(f) = s.umem.frame(d.addr, d.len as usize) {
            *k = match from {
                From::Access => p.peek_upstream(f),
                From::Core => p.peek_downstream(f),
                From::Both => p.peek_either(f),
            };
        }
    }
    let mut mine = [true; BATCH];
    if let Some(l) = links {
        for (i, (k, d)) in keys.iter().zip(descs).enumerate() {
            if let Some(k) = k.filter(Key::is_up) {
                mine[i] = !l.stage(k, *d);
            }
        }
        let (passed, full) = l.pass_staged(&mut s.umem);
        // Counted as received here, where they were; the owner counts
        // what it makes of them.
        p.local.add(Counter::RxAccess, (passed + full) as u64);
        p.local.add(Counter::HandedOff, passed as u64);
        for _ in 0..full {
            p.local.drop(Drop::HandoffFull);
        }
    }
    // A frame passed to its owner is looked up there, not here.
    for (k, m) in keys.iter_mut().zip(&mine) {
        if !*m {
            *k = None;
        }
    }
    p.prefetch_first(&mut keys);
    if rx == Rx::HandedOver {
        p.local.add(Counter::HandoffReceived, descs.len() as u64);
    }
    match (from, rx) {
        (From::Both, Rx::Own) => either_frames(s, p, tx, descs, &mine, &mut keys),
        (From::Core, _) => lanes::<false>(s, p, tx, descs, &mine, &mut keys, rx),
        // Passed only when its key was an L2TP session's.
        (From::Access | From::Both, _) => lanes::<true>(s, p, tx, descs, &mine, &mut keys, rx),
    }
    send_core(s, p, tx);
    send_access(s, p, tx);
}

/// A frame's descriptor for a TX ring: `len` bytes at `start` in the
/// chunk at `base`.
fn tx_desc(base: u64, start: usize, len: usize) -> XdpDesc {
    XdpDesc {
        addr: base + start as u64,
        len: len as u32,
        options: 0,
    }
}

/// A batch's frames from one side (`UP`: the access side) through the
/// pipeline: the express lane in a loop with no call in it, each frame it
/// declines (and any answer but a frame out or a drop) worked outside
/// that loop, which then goes on from the next frame. A call in the loop
/// that runs the lane, even one never taken, cost every packet spills
/// (`Pipeline::upstream_express_with`); so the loop only writes TX
/// descriptors, for which there is room for every frame it has left
/// before it starts, and keeps the frames the lanes dropped (at most one
/// a frame, so never more than a batch) to release after it. Frames go
/// out in the order they came, whichever way each is worked.
#[inline(never)]
fn lanes<const UP: bool>(
    s: &mut Sockets,
    p: &mut Pipeline<'_>,
    tx: &mut Tx,
    descs: &[XdpDesc],
    mine: &[bool; BATCH],
    keys: &mut [Option<Key>; BATCH],
    rx: Rx,
) {
    let n = descs.len().min(BATCH);
    let mut i = 0;
    while i < n {
        if tx.nc + (n - i) > tx.core.len() {
            send_core(s, p, tx);
        }
        if tx.na + (n - i) > tx.access.len() {
            send_access(s, p, tx);
        }
        // The frame the loop stops at, and the lane's answer for it if it
        // gave one the loop does not take (`None`: it declined).
        let mut stop = None;
        while i < n {
            p.prefetch_ahead(keys, i);
            let d = descs[i];
            let Some((chunk, off)) = s.umem.chunk(d.addr).filter(|_| mine[i]) else {
                i += 1;
                continue;
            };
            if UP && rx == Rx::Own {
                p.local.add(Counter::RxAccess, 1);
            }
            let len = d.len as usize;
            let out = if UP {
                p.upstream_express_with(chunk, off, len, keys[i])
            } else {
                p.downstream_express_with(chunk, off, len, keys[i])
            };
            let base = d.addr - off as u64;
            match out {
                Some(Out::Core(st, len)) => {
                    tx.core[tx.nc] = tx_desc(base, st, len);
                    tx.nc += 1;
                }
                Some(Out::Access(st, len)) => {
                    tx.access[tx.na] = tx_desc(base, st, len);
                    tx.na += 1;
                }
                Some(Out::Drop(_)) => {
                    tx.dropped[tx.nd] = d.addr;
                    tx.nd += 1;
                }
                other => {
                    stop = Some(other);
                    break;
                }
            }
            i += 1;
        }
        let Some(answer) = stop else {
            break;
        };
        let d = descs[i];
        i += 1;
        let Some((chunk, off)) = s.umem.chunk(d.addr) else {
            continue;
        };
        let out = match answer {
            Some(out) => out,
            None if UP => p.upstream_declined(chunk, off, d.len as usize),
            None => p.downstream_general(chunk, off, d.len as usize),
        };
        queue(s, p, tx, d.addr, d.addr - off as u64, out);
    }
    for &a in &tx.dropped[..tx.nd] {
        s.umem.release(a);
    }
    tx.nd = 0;
}

/// A batch from one interface for both sides, a frame at a time through
/// [`Pipeline::either`] (its express lanes are not split out).
fn either_frames(
    s: &mut Sockets,
    p: &mut Pipeline<'_>,
    tx: &mut Tx,
    descs: &[XdpDesc],
    mine: &[bool; BATCH],
    keys: &mut [Option<Key>; BATCH],
) {
    for (i, (d, m)) in descs.iter().zip(mine).enumerate() {
        p.prefetch_ahead(keys, i);
        if !m {
            continue;
        }
        let Some((chunk, off)) = s.umem.chunk(d.addr) else {
            continue;
        };
        let out = p.either(chunk, off, d.len as usize);
        queue(s, p, tx, d.addr, d.addr - off as u64, out);
    }
}

/// Where the pipeline's answer for the frame at `addr` (in the chunk at
/// `base`) goes: a TX queue, the fragmenter, or back to the free list.
fn queue(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx, addr: u64, base: u64, out: Out) {
    match out {
        Out::Core(st, len) => push_core(s, p, tx, tx_desc(base, st, len)),
        Out::Access(st, len) => push_access(s, p, tx, tx_desc(base, st, len)),
        Out::Fragments(k) => fragments(s, p, tx, addr, k),
        Out::Drop(_) => s.umem.release(addr),
    }
}

/// Queues a frame for the core side, sending the queue first if full.
fn push_core(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx, d: XdpDesc) {
    if tx.nc == tx.core.len() {
        send_core(s, p, tx);
    }
    tx.core[tx.nc] = d;
    tx.nc += 1;
}

/// Queues a frame for the access side (fragments can make more than one
/// per received frame), sending the queue first if full.
fn push_access(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx, d: XdpDesc) {
    if tx.na == tx.access.len() {
        send_access(s, p, tx);
    }
    tx.access[tx.na] = d;
    tx.na += 1;
}

fn send_core(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx) {
    let core = s.core.as_mut().unwrap_or(&mut s.access);
    let sent = core.send(&tx.core[..tx.nc]);
    p.local.add(Counter::TxCore, sent as u64);
    for d in &tx.core[sent..tx.nc] {
        p.local.add(Counter::TxRingFull, 1);
        s.umem.release(d.addr);
    }
    tx.nc = 0;
}

fn send_access(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx) {
    let sent = s.access.send(&tx.access[..tx.na]);
    p.local.add(Counter::TxAccess, sent as u64);
    for d in &tx.access[sent..tx.na] {
        p.local.add(Counter::TxRingFull, 1);
        s.umem.release(d.addr);
    }
    tx.na = 0;
}

/// Sends the packet in frame `addr` as the `n` fragments the pipeline
/// planned, in order: the first over the packet itself, the others in
/// frames off the free list, copied from it. The packet's frame is read
/// after it is queued, which is safe: it comes back through the
/// completion ring, reaped at the top of the loop, or, if the TX ring was
/// full, through the free list, which `Umem::pair` never hands out as the
/// frame being read.
fn fragments(s: &mut Sockets, p: &mut Pipeline<'_>, tx: &mut Tx, addr: u64, n: usize) {
    if s.umem.free_frames() < n.saturating_sub(1) {
        p.no_frames();
        s.umem.release(addr);
        return;
    }
    let base = s.umem.base(addr);
    match s.umem.chunk(addr).map(|(c, _)| p.first_fragment(c)) {
        Some(Out::Access(st, len)) => push_access(s, p, tx, tx_desc(base, st, len)),
        // Counted by the pipeline; the rest would be useless without it.
        _ => {
            s.umem.release(addr);
            return;
        }
    }
    for i in 1..n {
        let Some(f) = s.umem.take() else {
            p.no_frames();
            return;
        };
        // `None`: the packet's own frame came back (the TX ring was full
        // and it was released): the rest of it is gone, counted once.
        let Some((src, dst)) = s.umem.pair(addr, f) else {
            p.no_frames();
            s.umem.release(f);
            return;
        };
        match p.next_fragment(i, src, dst) {
            Out::Access(st, len) => push_access(s, p, tx, tx_desc(f, st, len)),
            _ => s.umem.release(f),
        }
    }
}
