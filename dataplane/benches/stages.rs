//! ns/packet of the worker stages over 64-packet batches, with 1,000,000
//! sessions in the table (so lookups miss the caches the way a full LNS
//! does): classify (downstream parse + address lookup), decap (upstream
//! parse + session lookup + spoof/TTL/next-hop rewrite), encap (template
//! copy + patch + LAC next hop), and the whole pipeline each way.
//!
//! Then the same for 1,000,000 switched sessions (2,000,000 slots, a
//! table of their own): switch (parse to the L2TP header + lookup +
//! rewrite onto the other leg + next hop), and the pipeline each way: leg
//! A to B (in on the access side, out on the core, Ns taken: leg B
//! sequences) and B to A (in on the core side, after the subscriber
//! lookup misses, out on the access side).
//!
//! Spread rounds cycle through 256 batches (16,384 sessions), refilled
//! (untimed) before each pass over them with sessions drawn in turn from
//! every session in the table, so no session is worked twice until every
//! other has been: the figure for a full LNS whose packets do not find
//! each other's lines in cache. Hot rounds work one batch (64 sessions)
//! over and over. Each batch is written into frames from a small pool before its
//! turn, as received frames are; that copy is timed on its own and
//! subtracted.
//!
//! Then dual-stack sessions: the pipeline each way for IPv4 and IPv6
//! packets over the same table, and their ratio.
//!
//! The tables have the next power of two of slots above their sessions
//! (1,048,576 for 1,000,000), as an operator sizes `dataplane.capacity`
//! above the peak, so lnsd's pick of session ids puts nearly every
//! session in its home slot (`table::home_slot`); `STAGES_FULL=1` makes
//! them exactly full (some sessions then away from home, looked up
//! through the index). The fraction at home is printed.
//!
//! Run: `cargo bench -p lns-dataplane --bench stages [-- [terminated|switched|ipv6|schedules] [SESSIONS [ROUNDS]]]`
//! (no word: the first three; `schedules` compares ways of prefetching a
//! batch's look-ups, on its own). For counting instructions under
//! callgrind: `STAGES_CLOCK=fixed` holds the clock still, and
//! `STAGES_ONLY=worker` times the pipeline with the worker's schedule
//! alone (no one-at-a-time or rated runs).

use lns_dataplane::node::classify::from_core;
use lns_dataplane::node::decap::{data_message, decap};
use lns_dataplane::node::encap::encap;
use lns_dataplane::node::forward::{Allowed, to_core};
use lns_dataplane::node::icmp;
use lns_dataplane::node::switch;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{
    CORE_V4, CORE_V6, Key, NextHop, Pages, Rate, Rates, Session, Sizes, Writer, up_key,
};
use lns_dataplane::worker::pipeline::{BUCKETS_AHEAD, Env, Out, Pipeline, SLOTS_AHEAD};
use std::hint::black_box;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

#[path = "common/frames.rs"]
mod frames;

use frames::{
    HEADROOM, HOP_LAC, HOP_TARGET, downstream_frame, downstream_frame6, dual_session, ids, session,
    sub, switched_frame_from_target, switched_legs, upstream_frame, upstream_frame6,
};

const BATCH: usize = 64;

/// A batch's frames as they arrive (their first bytes, all a packet's
/// work reads or writes), their lengths and their sessions. It is worked
/// in frames lent by a [`Pool`] (`work`, empty between turns). A spread
/// batch is refilled with sessions not seen for a long time before each
/// pass over its set ([`Batch::refill`]).
struct Batch {
    pristine: Vec<Vec<u8>>,
    work: Vec<Vec<u8>>,
    lens: Vec<usize>,
    sessions: Vec<u32>,
    /// The sessions' ids, read at refill (`frames::ids` is a table a
    /// million long: read in the timed loop, its misses were timed too).
    ids: Vec<(u16, u16)>,
    traffic: Rc<Traffic>,
}

/// The bytes of a frame written before each turn: the frame itself
/// (every test frame fits), not the headroom in front of it, which a
/// packet's work only writes.
const RESTORED: std::ops::Range<usize> = HEADROOM..HEADROOM + 192;

impl Batch {
    /// `traffic`'s frames for the next sessions the spread draws.
    fn new(traffic: &Rc<Traffic>) -> Batch {
        let mut b = Batch {
            work: Vec::new(),
            pristine: vec![vec![0; RESTORED.len()]; BATCH],
            lens: vec![traffic.len; BATCH],
            sessions: Vec::new(),
            ids: Vec::new(),
            traffic: Rc::clone(traffic),
        };
        b.refill();
        b
    }

    /// Its frames for the next sessions the spread draws.
    fn refill(&mut self) {
        self.sessions = SPREAD.with_borrow_mut(|s| s.draw());
        self.ids = self.sessions.iter().map(|&s| ids(s)).collect();
        for (f, &s) in self.pristine.iter_mut().zip(&self.sessions) {
            self.traffic.write(s, f);
        }
    }
}

/// Every session's frame one way, kept as session 0's and, for each
/// session, the octets where its frame differs from that one (its ids,
/// its address and the checksum over it): a spread batch's frames are
/// written from it for sessions drawn anywhere in the table, without a
/// frame kept for each (a million would be read from memory, as the
/// table's lines are).
struct Traffic {
    base: Vec<u8>,
    len: usize,
    at: Vec<usize>,
    octets: Vec<u8>,
}

impl Traffic {
    /// The `size`-byte packets of sessions `0..n` as `frame` builds them.
    fn new(n: u32, frame: fn(u32, usize) -> (Vec<u8>, usize), size: usize) -> Rc<Traffic> {
        let restored = |s| {
            let (f, len) = frame(s, size);
            assert!(len <= RESTORED.len(), "a test frame longer than restored");
            (f[RESTORED].to_vec(), len)
        };
        let (base, len) = restored(0);
        // Where any session's frame may differ from session 0's: one
        // session for each bit of a session number, and the last.
        let mut at = std::collections::BTreeSet::new();
        for s in (0..32)
            .map(|b| 1u32 << b)
            .take_while(|&s| s < n)
            .chain([n - 1])
        {
            let (f, l) = restored(s);
            assert_eq!(l, len, "session {s}'s frame is not session 0's length");
            at.extend((0..f.len()).filter(|&i| f[i] != base[i]));
        }
        let at: Vec<usize> = at.into_iter().collect();
        let mut octets = Vec::with_capacity(n as usize * at.len());
        let mut mask = vec![false; base.len()];
        for &i in &at {
            mask[i] = true;
        }
        for s in 0..n {
            let (f, l) = restored(s);
            // Every session's frame checked: the rest is session 0's.
            assert!(
                l == len && (0..f.len()).all(|i| mask[i] || f[i] == base[i]),
                "session {s}'s frame differs from session 0's outside {at:?}"
            );
            octets.extend(at.iter().map(|&i| f[i]));
        }
        Rc::new(Traffic {
            base,
            len,
            at,
            octets,
        })
    }

    /// Session `s`'s frame (its restored bytes) into `out`.
    fn write(&self, s: u32, out: &mut [u8]) {
        out.copy_from_slice(&self.base);
        let m = self.at.len();
        let mine = &self.octets[s as usize * m..][..m];
        for (&i, &o) in self.at.iter().zip(mine) {
            out[i] = o;
        }
    }
}

/// The sessions spread batches are drawn from: every session in the
/// table in one pseudo-random order, round and round, so a session comes
/// back only after every other has (a million sessions' lines, hundreds
/// of MiB, in between), as in a full LNS whose subscribers all send.
struct Spread {
    order: Vec<u32>,
    next: usize,
}

impl Spread {
    fn draw(&mut self) -> Vec<u32> {
        let n = self.order.len();
        let out = (0..BATCH)
            .map(|i| self.order[(self.next + i) % n])
            .collect();
        self.next = (self.next + BATCH) % n;
        out
    }
}

thread_local! {
    static SPREAD: std::cell::RefCell<Spread> = const {
        std::cell::RefCell::new(Spread { order: Vec::new(), next: 0 })
    };
}

/// Spread batches drawn from here on come from the table's `n` sessions.
fn spread_over(n: u32) {
    // A shuffle (Fisher-Yates, a fixed seed). Not a multiplicative
    // permutation (`i * odd mod 2^k`): that walks sessions at a constant
    // stride, and with them every line laid out in session order (slots
    // filled in order, an index under a multiplicative hash of
    // consecutive keys), which the memory served some 10 ns a packet
    // faster than lines in no order, as a full LNS's packets come.
    let mut order: Vec<u32> = (0..n).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    SPREAD.set(Spread { order, next: 0 });
}

/// `count` batches of `traffic`'s frames, their sessions drawn from the
/// spread (the first, worked over and over, is the hot batch).
fn batches(traffic: &Rc<Traffic>, count: usize) -> Vec<Batch> {
    (0..count).map(|_| Batch::new(traffic)).collect()
}

/// The frames batches are worked in: a few batches' worth, used in turn,
/// as a worker's UMEM frames come round again, each written just before
/// its batch is worked as a received frame is. (A frame of its own for
/// each of the 16,384 packets, restored before its turn, made the
/// restore's writes and their write-backs to memory part of every
/// spread figure.)
struct Pool {
    frames: Vec<Vec<Vec<u8>>>,
}

/// Batches' worth of frames in a [`Pool`].
const POOL_BATCHES: usize = 8;

impl Pool {
    fn new() -> Pool {
        Pool {
            frames: (0..POOL_BATCHES)
                .map(|_| vec![vec![1u8; 2048]; BATCH])
                .collect(),
        }
    }

    /// Lends turn `i`'s frames to `b`, its frames written into them.
    fn lend(&mut self, i: usize, b: &mut Batch) {
        std::mem::swap(&mut b.work, &mut self.frames[i % POOL_BATCHES]);
        for (w, p) in b.work.iter_mut().zip(&b.pristine) {
            w[RESTORED].copy_from_slice(p);
        }
    }

    /// Takes them back.
    fn reclaim(&mut self, i: usize, b: &mut Batch) {
        std::mem::swap(&mut b.work, &mut self.frames[i % POOL_BATCHES]);
    }
}

/// Batches cycled through.
const SETS: usize = 256;

/// Times `rounds` batches of `f`, minus the restore cost; ns per packet.
/// Over more than one batch (spread), each pass over them works sessions
/// not seen for a long time ([`cold_rounds`]).
fn time(
    rounds: u32,
    sets: &mut [Batch],
    restore_ns: f64,
    mut f: impl FnMut(usize, &mut Batch),
) -> f64 {
    let ns = cold_rounds(rounds, sets, |i, sets| {
        let k = i % sets.len();
        f(k, &mut sets[k]);
    });
    (ns - restore_ns).max(0.0)
}

/// `rounds` turns of `f` (turn `i` works batch `i % sets.len()` in frames
/// from a pool, restored first), timed; ns per packet. Over more than one
/// batch, every batch is refilled (untimed) with the spread's next
/// sessions before each pass over them, so no session is worked twice
/// until every other in the table has been: 16,384 sessions' buckets,
/// slots and counters fit a 32 MiB last-level cache, where a quiet host
/// kept them from one pass, or one run, to the next, and a fixed set of
/// them measured a mix of cache and memory that moved with the
/// neighbours' load.
fn cold_rounds(rounds: u32, sets: &mut [Batch], mut f: impl FnMut(usize, &mut [Batch])) -> f64 {
    let mut pool = Pool::new();
    let cold = sets.len() > 1;
    let mut timed = std::time::Duration::ZERO;
    let mut i = 0;
    let rounds = rounds as usize;
    while i < rounds {
        let end = if cold {
            // The frames just written are in cache, as a NIC's writes
            // into a UMEM frame are with DDIO; their copy into the work
            // frames is subtracted.
            for b in sets.iter_mut() {
                b.refill();
            }
            (i + sets.len()).min(rounds)
        } else {
            rounds
        };
        let t = Instant::now();
        for j in i..end {
            let k = j % sets.len();
            pool.lend(j, &mut sets[k]);
            f(j, sets);
            pool.reclaim(j, &mut sets[k]);
        }
        timed += t.elapsed();
        i = end;
    }
    timed.as_nanos() as f64 / rounds as f64 / BATCH as f64
}

fn main() {
    // `cargo bench` adds `--bench`; words pick the parts, numbers size them.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<u32>().is_err())
        .collect();
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let rounds = args.get(1).copied().unwrap_or(20_000);
    let all = words.is_empty();
    if all || words.iter().any(|w| w == "terminated") {
        // The same table on 4 KiB pages, then on 2 MiB pages.
        terminated(n, rounds, Pages::Small);
        terminated(n, rounds, Pages::Huge);
    }
    // Not in the default run: the prefetch schedules against each other.
    if words.iter().any(|w| w == "schedules") {
        schedules(n, rounds);
    }
    if all || words.iter().any(|w| w == "switched") {
        switched(n, rounds);
    }
    if all || words.iter().any(|w| w == "ipv6") {
        dual_stack(n, rounds);
    }
}

/// A table on 2 MiB pages of `n` sessions made by `session`, with the
/// next hops `hops` resolved (all to one MAC).
/// Slots for `n` sessions: the next power of two above (see the module's
/// documentation), or `n` with `STAGES_FULL=1`.
fn capacity_for(n: u32) -> u32 {
    if std::env::var("STAGES_FULL").is_ok_and(|v| v == "1") {
        n
    } else {
        (n + 1).next_power_of_two()
    }
}

fn filled(n: u32, session: fn(u32) -> Session, hops: &[u32]) -> Writer {
    let mut w = Writer::heap_on(
        Sizes {
            capacity: capacity_for(n),
            workers: 1,
        },
        Pages::Huge,
    )
    .unwrap();
    let r = w.reader();
    frames::unplace();
    for i in 0..n {
        frames::place(i, false, |t, s| r.home_is_free(t, s));
        w.insert(&session(i)).unwrap();
    }
    let hop = NextHop {
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_mac: [2, 0, 0, 0, 0, 1],
        addr: None,
    };
    for &i in hops {
        w.set_nexthop(i, &hop).unwrap();
    }
    w
}

/// Every session's packet through the pipeline once each way, untimed:
/// in a full LNS every session has sent before, its counters taken over
/// for it on its first packet (`WorkerBlock`'s generation check), so a
/// spread figure is a session's steady state, not its first packet.
fn warm(p: &mut Pipeline<'_>, n: u32, up: &mut [Batch], down: &mut [Batch]) {
    pipeline(p, n.div_ceil(BATCH as u32), up, down, 0.0, WORKER);
}

/// Dual-stack sessions (an IPv4 address and a /64 each): the pipeline
/// on the worker's schedule, IPv4 and IPv6 packets over the same table in turns,
/// the best of three each.
fn dual_stack(n: u32, rounds: u32) {
    let w = filled(n, dual_session, &[CORE_V4, CORE_V6, 2]);
    let r = w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    spread_over(n);
    let sets = |f, len| batches(&Traffic::new(n, f, len), SETS);
    // 64-byte IPv4 packets and 84-byte IPv6 ones: the same 44 bytes past
    // the IP header.
    let mut v4 = (sets(upstream_frame, 64), sets(downstream_frame, 64));
    let mut v6 = (sets(upstream_frame6, 84), sets(downstream_frame6, 84));
    warm(&mut p, n, &mut v4.0, &mut v4.1);
    let mut best = [[f64::MAX; 4]; 2];
    for _ in 0..3 {
        for (i, (up, down)) in [&mut v4, &mut v6].into_iter().enumerate() {
            for (j, nsets) in [1, SETS].into_iter().enumerate() {
                let restore_ns = restore_cost(rounds, &mut up[..nsets]);
                let t = pipeline(
                    &mut p,
                    rounds,
                    &mut up[..nsets],
                    &mut down[..nsets],
                    restore_ns,
                    WORKER,
                );
                best[i][2 * j] = best[i][2 * j].min(t[0]);
                best[i][2 * j + 1] = best[i][2 * j + 1].min(t[1]);
            }
        }
    }
    p.flush();
    // Every packet forwarded: nothing dropped under any name.
    let drops: u64 = r.worker(0).unwrap().named_drops().map(|(_, n)| n).sum();
    assert_eq!(drops, 0, "the dual-stack run dropped packets");
    println!(
        "{n} dual-stack sessions (an IPv4 address and a /64 each), {:.0} of the table's {:.0} MiB on 2 MiB pages; the pipeline on the worker's schedule, best of three",
        w.huge_page_bytes().unwrap_or(0) as f64 / (1 << 20) as f64,
        w.size_bytes() as f64 / (1 << 20) as f64,
    );
    println!(
        "{:<48} {:>16} {:>22}",
        "ns/packet",
        format!("hot ({BATCH} sess.)"),
        format!("spread ({} sess.)", SETS * BATCH)
    );
    for (name, i, j) in [
        ("IPv4 upstream   (64-byte packets)", 0, 0),
        ("IPv4 downstream (64-byte packets)", 0, 1),
        ("IPv6 upstream   (84-byte packets)", 1, 0),
        ("IPv6 downstream (84-byte packets)", 1, 1),
    ] {
        println!("  {name:<46} {:>16.1} {:>22.1}", best[i][j], best[i][2 + j]);
    }
    println!(
        "  => IPv6 / IPv4: {:.2} / {:.2} hot, {:.2} / {:.2} spread (up / down)",
        best[1][0] / best[0][0],
        best[1][1] / best[0][1],
        best[1][2] / best[0][2],
        best[1][3] / best[0][3]
    );
}

/// The pipeline over sessions spread through a 2 MiB-page table on each
/// prefetch schedule in turn, eleven times: the median and the best of
/// each (this is where the memory's own speed shows, and a shared
/// machine's moves it by half between runs, so only turns compare).
fn schedules(n: u32, rounds: u32) {
    let w = filled(n, session, &[CORE_V4, 2]);
    let r = w.reader();
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    spread_over(n);
    let sets = |f| batches(&Traffic::new(n, f, 64), SETS);
    let (mut up, mut down) = (sets(upstream_frame), sets(downstream_frame));
    warm(&mut p, n, &mut up, &mut down);
    let ahead = |buckets, slots| Schedule::Ahead { buckets, slots };
    let candidates = [
        ("every bucket, every slot, then the work", Schedule::Passes),
        ("every bucket first, slots 8 ahead", ahead(BATCH, 8)),
        ("buckets 8 ahead, slots 4 ahead", ahead(8, 4)),
        ("buckets 12 ahead, slots 6 ahead", ahead(12, 6)),
        ("buckets 16 ahead, slots 8 ahead", ahead(16, 8)),
        ("buckets 24 ahead, slots 12 ahead", ahead(24, 12)),
    ];
    // The floor: the same sessions' look-ups alone, their keys known (no
    // frames), prefetched on the worker's schedule and read as its
    // upstream lane reads them (the slot's first line).
    let mut floor = Vec::new();
    let mut seen = vec![(Vec::new(), Vec::new()); candidates.len()];
    for _ in 0..11 {
        let look = r.lookups();
        let restore_ns = restore_cost(rounds, &mut up);
        let ns = cold_rounds(rounds, &mut up, |i, sets| {
            let b = &sets[i % sets.len()];
            let mut keys = [None; BATCH];
            for (k, &(t, s)) in keys.iter_mut().zip(&b.ids) {
                *k = Some(Key::up_ipv4(up_key(t, s)));
            }
            p.prefetch_first(&mut keys);
            for (j, &(t, s)) in b.ids.iter().enumerate() {
                p.prefetch_ahead(&mut keys, j);
                black_box(look.by_ids_up(t, s, keys[j]).unwrap());
            }
        });
        floor.push(ns - restore_ns);
        for ((_, s), (u, d)) in candidates.iter().zip(&mut seen) {
            let t = pipeline(&mut p, rounds, &mut up, &mut down, restore_ns, *s);
            u.push(t[0]);
            d.push(t[1]);
        }
    }
    println!(
        "{n} sessions on 2 MiB pages, {} sessions' packets in turn; ns/packet, median (best) of 11 runs in turns",
        SETS * BATCH
    );
    floor.sort_by(f64::total_cmp);
    println!(
        "  {:<52} {:>16}",
        "the look-ups alone (keys known, no frames, worker's reads)",
        format!("{:.1} ({:.1})", floor[floor.len() / 2], floor[0])
    );
    println!("{:<54} {:>16} {:>16}", "schedule", "upstream", "downstream");
    for ((name, s), (u, d)) in candidates.iter().zip(&mut seen) {
        let fig = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!("{:.1} ({:.1})", v[v.len() / 2], v[0])
        };
        let worker = if *s == WORKER { " (worker's)" } else { "" };
        println!(
            "  {:<52} {:>16} {:>16}",
            format!("{name}{worker}"),
            fig(u),
            fig(d)
        );
    }
}

fn env() -> Env {
    Env {
        lns_port: 1701,
        icmp: icmp::Source::default(),
        gateway: None,
        access_mtu: None,
        core_mtu: None,
        bare: false,
    }
}

/// The restore cost alone, ns/packet.
fn restore_cost(rounds: u32, sets: &mut [Batch]) -> f64 {
    cold_rounds(rounds, sets, |i, sets| {
        black_box(&sets[i % sets.len()].work);
    })
}

fn terminated(n: u32, rounds: u32, pages: Pages) {
    let mut w = Writer::heap_on(
        Sizes {
            capacity: capacity_for(n),
            workers: 1,
        },
        pages,
    )
    .unwrap();
    let r = w.reader();
    frames::unplace();
    // Each session's ids picked as lnsd picks them, from the table as the
    // sessions before it left it (not timed: lnsd does it at call setup).
    let mut fill = std::time::Duration::ZERO;
    let ids: Vec<_> = (0..n)
        .map(|i| {
            frames::place(i, false, |t, s| r.home_is_free(t, s));
            let t = Instant::now();
            let id = w.insert(&session(i)).unwrap();
            fill += t.elapsed();
            id
        })
        .collect();
    let hop = NextHop {
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_mac: [2, 0, 0, 0, 0, 1],
        addr: None,
    };
    w.set_nexthop(CORE_V4, &hop).unwrap();
    w.set_nexthop(2, &hop).unwrap();
    let r = w.reader();
    // Every session with and without a rate each way (one every packet
    // here conforms to), rewritten in place between runs: the same table,
    // the same slots, the same writes before each run, so the difference
    // is the bucket's cost.
    // 1 Gbit/s with 100 ms of burst.
    let rate = Rate {
        kbps: 1_000_000,
        burst: 12_500_000,
    };
    let rates = Rates {
        up: Some(rate),
        down: Some(rate),
    };
    let mut set_rates = |on: bool| {
        for (i, id) in ids.iter().enumerate() {
            let s = session(i as u32);
            let s = if on { Session { rates, ..s } } else { s };
            w.update(*id, &s).unwrap();
        }
    };

    spread_over(n);
    let mut up = batches(&Traffic::new(n, upstream_frame, 64), SETS);
    let mut down = batches(&Traffic::new(n, downstream_frame, 64), SETS);
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    warm(&mut p, n, &mut up, &mut down);
    // The encap stage's records, looked up before it is timed (its
    // frames' sessions are whichever the spread drew: the stage writes
    // from the record alone).
    let sessions: Vec<Vec<_>> = down
        .iter()
        .map(|b| {
            b.sessions
                .iter()
                .map(|&s| r.by_ipv4(sub(s)).unwrap())
                .collect()
        })
        .collect();
    let mut run = |nsets: usize| -> [f64; 10] {
        let (up, down) = (&mut up[..nsets], &mut down[..nsets]);
        let restore_ns = restore_cost(rounds, up);
        let classify = time(rounds, down, restore_ns, |_, b| {
            for (buf, &len) in b.work.iter().zip(&b.lens) {
                let p = from_core(&buf[HEADROOM..HEADROOM + len]).unwrap();
                let IpAddr::V4(a) = p.dst else { unreachable!() };
                black_box(r.by_ipv4(a).unwrap());
            }
        });
        let decap_ns = time(rounds, up, restore_ns, |_, b| {
            for (buf, &len) in b.work.iter_mut().zip(&b.lens) {
                let d = decap(&buf[HEADROOM..HEADROOM + len], 1701).unwrap();
                let f = r.by_ids(d.tunnel, d.session).unwrap();
                let d = lns_dataplane::node::decap::Decapped {
                    inner: HEADROOM + d.inner,
                    ..d
                };
                let allowed = Allowed {
                    ipv4: f.ipv4(),
                    ipv6_prefix: None,
                    ipv6_delegated: None,
                };
                let hop = r.macs(CORE_V4).unwrap();
                black_box(to_core(buf, &d, &allowed, &hop).unwrap());
            }
        });
        let encap_ns = time(rounds, down, restore_ns, |k, b| {
            for ((buf, &len), f) in b.work.iter_mut().zip(&b.lens).zip(&sessions[k]) {
                let (s, _) = encap(f.template().unwrap(), buf, HEADROOM + 14, len - 14, 0).unwrap();
                let h = r.macs(f.lac_nexthop()).unwrap();
                buf[s..s + 6].copy_from_slice(&h.dst_mac);
                buf[s + 6..s + 12].copy_from_slice(&h.src_mac);
                black_box(&buf[s]);
            }
        });
        [
            classify, decap_ns, encap_ns, 0.0, 0.0, 0.0, 0.0, restore_ns, 0.0, 0.0,
        ]
    };
    let mut hot = run(1);
    let mut spread = run(SETS);
    // The pipeline without and with rates, in turns, the best of three
    // each (the machine's noise only ever adds).
    let mut rated_hot = [f64::MAX; 2];
    let mut rated_spread = [f64::MAX; 2];
    for (i, h) in [&mut hot, &mut spread].into_iter().enumerate() {
        let nsets = if i == 0 { 1 } else { SETS };
        let best = if i == 0 {
            &mut rated_hot
        } else {
            &mut rated_spread
        };
        for x in [3, 4, 5, 6, 8, 9] {
            h[x] = f64::MAX;
        }
        for _ in 0..3 {
            let restore_ns = restore_cost(rounds, &mut up[..nsets]);
            set_rates(false);
            // `rewritten`: every slot was just rewritten (the rates), and
            // the caches hold a million dirty slot lines; the pipeline
            // first works every session once each way, untimed, so the
            // timed rounds find memory as a running LNS has it (clean
            // slots, the worker's counters dirty) instead of writing
            // those lines back under their own misses (some 15 ns a
            // packet at 300 rounds).
            let mut go = |schedule, rewritten: bool| {
                if rewritten {
                    warm(&mut p, n, &mut up, &mut down);
                }
                pipeline(
                    &mut p,
                    rounds,
                    &mut up[..nsets],
                    &mut down[..nsets],
                    restore_ns,
                    schedule,
                )
            };
            // STAGES_ONLY=worker runs the worker's schedule alone, without
            // rates: for counting its instructions a packet under callgrind.
            let only_worker = std::env::var("STAGES_ONLY").is_ok_and(|v| v == "worker");
            let one = if only_worker {
                [f64::NAN; 2]
            } else {
                go(Schedule::OneAtATime, true)
            };
            let vector = go(WORKER, only_worker);
            let passes = if only_worker {
                [f64::NAN; 2]
            } else {
                go(Schedule::Passes, false)
            };
            let rated = if only_worker {
                [f64::NAN; 2]
            } else {
                set_rates(true);
                go(WORKER, true)
            };
            for d in 0..2 {
                h[3 + d] = h[3 + d].min(one[d]);
                h[5 + d] = h[5 + d].min(vector[d]);
                h[8 + d] = h[8 + d].min(passes[d]);
                best[d] = best[d].min(rated[d]);
            }
        }
    }
    println!(
        "{n} sessions in the table (filled in {:.2} s, {:.1}% in their home slot) on {} pages ({:.0} of its {:.0} MiB on huge pages); {rounds} rounds of {BATCH}-packet batches; 64-byte IP packets",
        fill.as_secs_f64(),
        w.at_home() as f64 * 100.0 / f64::from(n),
        match pages {
            Pages::Huge => "2 MiB",
            Pages::Small => "4 KiB",
        },
        w.huge_page_bytes().unwrap_or(0) as f64 / (1 << 20) as f64,
        w.size_bytes() as f64 / (1 << 20) as f64,
    );
    println!(
        "{:<48} {:>16} {:>22}",
        "ns/packet",
        format!("hot ({BATCH} sess.)"),
        format!("spread ({} sess.)", SETS * BATCH)
    );
    let names = [
        "classify (downstream parse + IPv4 lookup)",
        "decap    (parse + session lookup + forward)",
        "encap    (template + next hop)",
        "pipeline upstream   (one packet at a time)",
        "pipeline downstream (one packet at a time)",
        "pipeline upstream   (vector, prefetch ahead)",
        "pipeline downstream (vector, prefetch ahead)",
        "",
        "pipeline upstream   (vector, in passes)",
        "pipeline downstream (vector, in passes)",
    ];
    println!(
        "  (pipeline figures: the best of three runs, in turns with the same sessions given a rate)"
    );
    for (i, name) in names.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
        println!("  {name:<46} {:>16} {:>22}", fig(hot[i]), fig(spread[i]));
    }
    let rated_names = [
        "pipeline upstream,   vector, a rate everywhere",
        "pipeline downstream, vector, a rate everywhere",
    ];
    for (i, name) in rated_names.iter().enumerate() {
        println!(
            "  {name:<46} {:>16} {:>22}",
            fig(rated_hot[i]),
            fig(rated_spread[i])
        );
    }
    if rated_hot[0] < f64::MAX {
        println!(
            "  => the token bucket: {:+.1} / {:+.1} ns/packet hot, {:+.1} / {:+.1} spread (up / down)",
            rated_hot[0] - hot[5],
            rated_hot[1] - hot[6],
            rated_spread[0] - spread[5],
            rated_spread[1] - spread[6]
        );
    }
    println!(
        "  => one core, the worker's schedule: {:.2} Mpps upstream, {:.2} Mpps downstream (hot); {:.2} / {:.2} (spread)",
        1e3 / hot[5],
        1e3 / hot[6],
        1e3 / spread[5],
        1e3 / spread[6]
    );
    println!(
        "  (batch restore, subtracted above: {:.1} / {:.1} ns/packet)",
        hot[7], spread[7]
    );
}

/// A figure for the tables, or `-` for one not measured in this run
/// (`STAGES_ONLY=worker` runs neither the one-at-a-time nor the rated
/// pipelines, whose best-of-three stays at its starting `f64::MAX`).
fn fig(ns: f64) -> String {
    // NaN and `f64::MAX` both fail this.
    if ns < f64::MAX {
        format!("{ns:.1}")
    } else {
        "-".to_string()
    }
}

/// How a batch's look-ups are prefetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schedule {
    /// None: each packet waits for its own misses (the general path, no
    /// keys taken).
    OneAtATime,
    /// Every key first; then every key's bucket, then every key's slot
    /// and counters, then the work (DESIGN §4's passes, the worker's
    /// schedule until 2026-12-05).
    Passes,
    /// Every key first; then each packet's index bucket `buckets` packets
    /// ahead of its work and its slot and counters `slots` ahead
    /// (`Pipeline::prefetch_ahead_by`).
    Ahead { buckets: usize, slots: usize },
}

/// The worker's (`lns_dataplane::worker`'s `work_batch`).
const WORKER: Schedule = Schedule::Ahead {
    buckets: BUCKETS_AHEAD,
    slots: SLOTS_AHEAD,
};

/// The whole pipeline over `up` and `down`, the clock read once per
/// batch as the worker does; ns/packet each way, with the look-ups
/// prefetched on `schedule`.
fn pipeline(
    p: &mut Pipeline<'_>,
    rounds: u32,
    up: &mut [Batch],
    down: &mut [Batch],
    restore_ns: f64,
    schedule: Schedule,
) -> [f64; 2] {
    // STAGES_CLOCK=fixed holds the clock still, so every packet after a
    // session's first takes the bucket's same-tick path: for counting
    // that path's instructions under callgrind, where every batch would
    // otherwise see a new tick.
    let fixed = std::env::var("STAGES_CLOCK").is_ok_and(|v| v == "fixed");
    let clock = Instant::now();
    let now = || {
        if fixed {
            1 << 30
        } else {
            clock.elapsed().as_nanos() as u64
        }
    };
    let mut run = |b: &mut Batch, upstream: bool| {
        p.set_time(now());
        if schedule == Schedule::OneAtATime {
            for (buf, &len) in b.work.iter_mut().zip(&b.lens) {
                let o = if upstream {
                    p.upstream(buf, HEADROOM, len)
                } else {
                    p.downstream(buf, HEADROOM, len)
                };
                debug_assert!(matches!(
                    (upstream, o),
                    (true, Out::Core(..)) | (false, Out::Access(..))
                ));
                black_box(o);
            }
            p.flush();
            return;
        }
        let mut keys = [None; BATCH];
        for ((k, buf), &len) in keys.iter_mut().zip(&b.work).zip(&b.lens) {
            let f = &buf[HEADROOM..HEADROOM + len];
            *k = if upstream {
                p.peek_upstream(f)
            } else {
                p.peek_downstream(f)
            };
        }
        // The lanes as the worker runs them, on the schedule asked for
        // (each distance its own copy, as the worker's constants are; 0:
        // in passes).
        let (bd, sd) = match schedule {
            Schedule::Passes => (0, 0),
            Schedule::Ahead { buckets, slots } => (buckets, slots),
            Schedule::OneAtATime => unreachable!("taken above"),
        };
        macro_rules! lanes {
            ($(($b:tt, $s:tt)),+) => {
                match (bd, sd) {
                    $(($b, $s) if upstream => worker_lanes::<true, { $b }, { $s }>(p, b, &mut keys),
                    ($b, $s) => worker_lanes::<false, { $b }, { $s }>(p, b, &mut keys),)+
                    other => unreachable!("no lanes built for {other:?}"),
                }
            };
        }
        lanes!(
            (BUCKETS_AHEAD, SLOTS_AHEAD),
            (0, 0),
            (8, 4),
            (12, 6),
            (24, 12),
            (64, 8)
        )
    };
    let up_ns = time(rounds, up, restore_ns, |_, b| run(b, true));
    let down_ns = time(rounds, down, restore_ns, |_, b| run(b, false));
    [up_ns, down_ns]
}

/// A batch through the lanes as the worker runs them (`worker::work_batch`):
/// each direction in a loop of its own, the express lane in an inner loop
/// with no call in it, every frame it declines worked outside that loop;
/// the look-ups prefetched `B` (buckets) and `S` (slots) packets ahead of
/// the work, or, with `S` 0, every bucket then every slot before it.
#[inline(never)]
fn worker_lanes<const UP: bool, const B: usize, const S: usize>(
    p: &mut Pipeline<'_>,
    b: &mut Batch,
    keys: &mut [Option<Key>; BATCH],
) {
    if S == 0 {
        for &k in keys.iter() {
            p.prefetch_bucket(k);
        }
        for k in keys.iter_mut() {
            p.prefetch_slot(k);
        }
    } else {
        p.prefetch_first_by::<B, S>(keys);
    }
    let n = b.work.len();
    if UP {
        p.local.add(Counter::RxAccess, n as u64);
    }
    let mut i = 0;
    while i < n {
        while i < n {
            if S > 0 {
                p.prefetch_ahead_by::<B, S>(keys, i);
            }
            let (buf, len) = (&mut b.work[i], b.lens[i]);
            let o = if UP {
                p.upstream_express_with(buf, HEADROOM, len, keys[i])
            } else {
                p.downstream_express_with(buf, HEADROOM, len, keys[i])
            };
            let Some(o) = o else { break };
            debug_assert!(matches!(
                (UP, o),
                (true, Out::Core(..)) | (false, Out::Access(..))
            ));
            black_box(o);
            i += 1;
        }
        if i < n {
            let (buf, len) = (&mut b.work[i], b.lens[i]);
            black_box(if UP {
                p.upstream_declined(buf, HEADROOM, len)
            } else {
                p.downstream_general(buf, HEADROOM, len)
            });
            i += 1;
        }
    }
    p.flush();
}

fn switched(n: u32, rounds: u32) {
    let mut w = Writer::heap(Sizes {
        capacity: capacity_for(2 * n),
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    frames::unplace();
    let t = Instant::now();
    for i in 0..n {
        frames::place(i, true, |t, s| r.home_is_free(t, s));
        let (a, b) = switched_legs(i);
        w.insert_switched(&a, &b).unwrap();
    }
    let fill = t.elapsed();
    for (i, dst) in [(HOP_LAC, 2), (HOP_TARGET, 3)] {
        w.set_nexthop(
            i,
            &NextHop {
                dst_mac: [2, 0, 0, 0, 0, dst],
                src_mac: [2, 0, 0, 0, 0, 1],
                addr: None,
            },
        )
        .unwrap();
    }
    let r = w.reader();
    spread_over(n);
    let mut a_in = batches(&Traffic::new(n, upstream_frame, 64), SETS);
    let mut b_in = batches(&Traffic::new(n, switched_frame_from_target, 64), SETS);
    let mut p = Pipeline::new(&r, 0, env()).unwrap();
    let mut run = |nsets: usize| -> [f64; 4] {
        let (a_in, b_in) = (&mut a_in[..nsets], &mut b_in[..nsets]);
        let restore_ns = restore_cost(rounds, a_in);
        // The stage alone: what the pipeline adds is counters and the
        // receive counter, and on leg B's side the Ns.
        let stage = time(rounds, a_in, restore_ns, |_, b| {
            for (buf, &len) in b.work.iter_mut().zip(&b.lens) {
                let m = data_message(&buf[HEADROOM..HEADROOM + len], 1701).unwrap();
                let f = r.by_ids(m.tunnel, m.session).unwrap();
                let h = r.macs(f.lac_nexthop()).unwrap();
                let t = f.template().unwrap();
                let (s, _) =
                    switch::rewrite(t, buf, HEADROOM + m.ppp, m.ppp_len, m.priority).unwrap();
                buf[s..s + 6].copy_from_slice(&h.dst_mac);
                buf[s + 6..s + 12].copy_from_slice(&h.src_mac);
                black_box(&buf[s]);
            }
        });
        let a_to_b = time(rounds, a_in, restore_ns, |_, b| {
            for (buf, &len) in b.work.iter_mut().zip(&b.lens) {
                let o = p.upstream(buf, HEADROOM, len);
                debug_assert!(matches!(o, Out::Core(..)), "{o:?}");
                black_box(o);
            }
            p.flush();
        });
        let b_to_a = time(rounds, b_in, restore_ns, |_, b| {
            for (buf, &len) in b.work.iter_mut().zip(&b.lens) {
                let o = p.downstream(buf, HEADROOM, len);
                debug_assert!(matches!(o, Out::Access(..)), "{o:?}");
                black_box(o);
            }
            p.flush();
        });
        [stage, a_to_b, b_to_a, restore_ns]
    };
    let hot = run(1);
    let spread = run(SETS);
    println!(
        "{n} switched sessions ({} slots, {:.1}% at home) in the table (filled in {:.2} s); {rounds} rounds of {BATCH}-packet batches; 64-byte IP packets in PPP",
        w.sizes().capacity,
        w.at_home() as f64 * 100.0 / f64::from(2 * n),
        fill.as_secs_f64()
    );
    println!(
        "{:<48} {:>16} {:>22}",
        "ns/packet",
        format!("hot ({BATCH} sess.)"),
        format!("spread ({} sess.)", SETS * BATCH)
    );
    let names = [
        "switch   (parse + lookup + rewrite + next hop)",
        "pipeline A->B (access in, core out, Ns)",
        "pipeline B->A (core in after pool miss)",
    ];
    for (i, name) in names.iter().enumerate() {
        println!("  {name:<46} {:>16.1} {:>22.1}", hot[i], spread[i]);
    }
    println!(
        "  => one core: {:.2} Mpps A->B, {:.2} Mpps B->A (hot); {:.2} / {:.2} (spread)",
        1e3 / hot[1],
        1e3 / hot[2],
        1e3 / spread[1],
        1e3 / spread[2]
    );
    println!(
        "  (batch restore, subtracted above: {:.1} / {:.1} ns/packet)",
        hot[3], spread[3]
    );
}
