//! The counters region: owned by the data plane, read by lnsd.
//!
//! Each worker has a block of its own (single writer, so plain load + store
//! and no atomic read-modify-write on the packet path): named counters,
//! then one counter per [`Drop`] reason, then per-session packets and bytes
//! each way. A per-session record carries the generation of the session it
//! counts for, so a slot reused for a new session starts from zero without
//! lnsd writing into the data plane's region.

use crate::node::drop::Drop;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident = $text:literal, )+) => {
        /// A worker counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Counter {
            $( $(#[$doc])* $name, )+
        }

        impl Counter {
            /// Every counter, in layout order.
            pub const ALL: &'static [Counter] = &[$(Counter::$name),+];

            /// The metric name.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Counter::$name => $text, )+
                }
            }
        }
    };
}

counters! {
    /// Frames received on the access side.
    RxAccess = "rx_access_packets",
    /// Frames received on the core side.
    RxCore = "rx_core_packets",
    /// Subscriber packets forwarded to the core.
    Upstream = "upstream_packets",
    /// Their bytes (the inner IP packet).
    UpstreamBytes = "upstream_bytes",
    /// Packets encapsulated toward a subscriber.
    Downstream = "downstream_packets",
    /// Their bytes (the inner IP packet).
    DownstreamBytes = "downstream_bytes",
    /// Subscriber-to-subscriber packets sent straight back into a tunnel.
    Hairpin = "hairpin_packets",
    /// ICMP "fragmentation needed" / "packet too big" sent.
    IcmpTooBig = "icmp_too_big_sent",
    /// Frames handed to the access TX ring.
    TxAccess = "tx_access_packets",
    /// Frames handed to the core TX ring.
    TxCore = "tx_core_packets",
    /// Frames dropped because a TX ring was full.
    TxRingFull = "tx_ring_full",
    /// Receive batches processed.
    Batches = "batches",
    /// Echo replies sent for the subscribers' PPP peer address.
    GatewayEcho = "gateway_echo_replies",
    /// IPv4 packets (DF clear) fragmented to fit their subscriber.
    Fragmented = "fragmented_packets",
    /// The fragments made of them.
    Fragments = "fragments_sent",
    /// Data frames of switched sessions rewritten onto their other leg.
    Switched = "switched_packets",
    /// Their bytes (the PPP frame, as carried).
    SwitchedBytes = "switched_bytes",
    /// Access frames passed to the worker that owns their session
    /// (`worker::handoff`).
    HandedOff = "handed_off_packets",
    /// Access frames another worker passed here.
    HandoffReceived = "handoff_received_packets",
    /// Packets the express lanes answered, each way
    /// (`worker::pipeline`): the rest of those received took the general
    /// path.
    Express = "express_packets",
}

/// Words in a worker's named-counter block: the counters, then the drops.
pub const GLOBAL_WORDS: usize = 64;
/// Where the drop counters start in the block.
pub const DROPS_AT: usize = 32;
/// Words of one session's counters: generation, packets and bytes each
/// way, drops, the two token buckets (the worker's own state, in the
/// first cache line with the counts a forwarded packet bumps), then a
/// generation of the second line's own and the rate-limited drops each
/// way (second line: touched only by a rate drop, and adopted for a new
/// session only then, so a session's first packet here touches one line
/// as every later one does).
pub const SESSION_COUNTER_WORDS: usize = 16;
const BUCKET_UP: usize = 6;
const BUCKET_DOWN: usize = 7;
/// The generation the second line's counts are for.
const GENERATION_2: usize = 8;
const RATE_LIMITED_UP: usize = 9;
const RATE_LIMITED_DOWN: usize = 10;
const _: () = assert!(BUCKET_DOWN < GENERATION_2 && RATE_LIMITED_DOWN < SESSION_COUNTER_WORDS);

const _: () = assert!(Counter::ALL.len() <= DROPS_AT);
const _: () = assert!(DROPS_AT + Drop::ALL.len() <= GLOBAL_WORDS);

/// One session's traffic, as counted by the data plane. A switched leg's
/// slot counts the frames it receives in `up_*` (bytes of the PPP frame)
/// and `drops`; its mirror counts the other direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionCounters {
    /// Packets from the subscriber (decapsulated and forwarded).
    pub up_packets: u64,
    /// Their inner bytes.
    pub up_bytes: u64,
    /// Packets to the subscriber (encapsulated).
    pub down_packets: u64,
    /// Their inner bytes.
    pub down_bytes: u64,
    /// Packets of this session dropped (spoofed, too big, over its rate,
    /// ...).
    pub drops: u64,
    /// Of those, packets from the subscriber over its upstream rate.
    pub up_rate_limited: u64,
    /// Packets to the subscriber over its downstream rate.
    pub down_rate_limited: u64,
}

impl std::ops::AddAssign for SessionCounters {
    fn add_assign(&mut self, o: SessionCounters) {
        self.up_packets += o.up_packets;
        self.up_bytes += o.up_bytes;
        self.down_packets += o.down_packets;
        self.down_bytes += o.down_bytes;
        self.drops += o.drops;
        self.up_rate_limited += o.up_rate_limited;
        self.down_rate_limited += o.down_rate_limited;
    }
}

/// Which way a session's packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the subscriber.
    Up,
    /// To the subscriber.
    Down,
}

/// One worker's block, as the worker writes it.
#[derive(Debug, Clone, Copy)]
pub struct WorkerBlock<'a> {
    pub(crate) global: &'a [AtomicU64],
    pub(crate) sessions: &'a [AtomicU64],
}

/// Takes a packet of `bytes` from the bucket of direction `dir` in a
/// session's counter words `c` (the worker's own state): whether it
/// conforms (see `node::police`).
#[inline(always)]
fn take(c: &[AtomicU64], dir: Dir, rate: crate::table::Rate, now: u32, bytes: u32) -> bool {
    let w = &c[match dir {
        Dir::Up => BUCKET_UP,
        Dir::Down => BUCKET_DOWN,
    }];
    let (state, ok) = crate::node::police::admit(w.load(Ordering::Relaxed), rate, now, bytes);
    w.store(state, Ordering::Relaxed);
    ok
}

/// Words `c` (a generation, then counts) start over for `generation` if
/// they count for another.
#[inline(always)]
fn adopt_line(c: &[AtomicU64], generation: u64) {
    if c[0].load(Ordering::Relaxed) != generation {
        for w in &c[1..] {
            w.store(0, Ordering::Relaxed);
        }
        // Released after the zeroes: a reader that sees the new
        // generation sees zeroed counts, not the old session's.
        c[0].store(generation, Ordering::Release);
    }
}

/// The named counters a flush tests at once (see [`WorkerBlock::flush`]).
const FLUSH_RUN: usize = 8;
const _: () = assert!(GLOBAL_WORDS.is_multiple_of(FLUSH_RUN));

#[inline(always)]
fn bump(w: &AtomicU64, by: u64) {
    // Single writer per block: load + store is exact and cheaper than
    // fetch_add; lnsd only reads.
    w.store(
        w.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl WorkerBlock<'_> {
    /// Adds a batch's worth of named counters and drops.
    pub fn flush(&self, local: &mut LocalCounters) {
        // A batch touches a handful of the 64 words: a run of eight is
        // skipped on one test of their OR (which the compiler does in
        // vector registers), not eight.
        for (run, vs) in local.0.chunks_exact_mut(FLUSH_RUN).enumerate() {
            if vs.iter().fold(0, |a, v| a | v) == 0 {
                continue;
            }
            for (i, v) in vs.iter_mut().enumerate() {
                if *v != 0 {
                    bump(&self.global[run * FLUSH_RUN + i], *v);
                    *v = 0;
                }
            }
        }
    }

    /// Counts one packet of the session in `slot`, generation `generation`.
    #[inline(always)]
    pub fn session(&self, slot: u32, generation: u64, dir: Dir, bytes: u64) {
        let Some(c) = self.session_words(slot) else {
            return;
        };
        self.adopt(c, generation);
        let at = match dir {
            Dir::Up => 1,
            Dir::Down => 3,
        };
        bump(&c[at], 1);
        bump(&c[at + 1], bytes);
    }

    /// Counts a dropped packet of the session in `slot`.
    #[inline]
    pub fn session_drop(&self, slot: u32, generation: u64) {
        if let Some(c) = self.session_words(slot) {
            self.adopt(c, generation);
            bump(&c[5], 1);
        }
    }

    /// Whether a packet of `bytes` of the session in `slot` conforms to
    /// its `rate` in direction `dir` at tick `now` (see `node::police`);
    /// the bucket is this worker's.
    #[inline(always)]
    pub fn police(
        &self,
        slot: u32,
        generation: u64,
        dir: Dir,
        rate: crate::table::Rate,
        now: u32,
        bytes: u32,
    ) -> bool {
        let Some(c) = self.session_words(slot) else {
            return true;
        };
        self.adopt(c, generation);
        take(c, dir, rate, now, bytes)
    }

    /// [`WorkerBlock::police`] then, if it conforms, [`WorkerBlock::session`]:
    /// one look-up of the session's counter block for both (a packet
    /// counted as soon as it is known to pass).
    #[inline(always)]
    pub fn police_and_count(
        &self,
        slot: u32,
        generation: u64,
        dir: Dir,
        rate: Option<crate::table::Rate>,
        now: u32,
        bytes: u32,
    ) -> bool {
        let Some(c) = self.session_words(slot) else {
            return true;
        };
        self.adopt(c, generation);
        if let Some(rate) = rate
            && !take(c, dir, rate, now, bytes)
        {
            return false;
        }
        let at = match dir {
            Dir::Up => 1,
            Dir::Down => 3,
        };
        bump(&c[at], 1);
        bump(&c[at + 1], u64::from(bytes));
        true
    }

    /// Counts a packet of the session in `slot` dropped over its rate.
    #[inline(never)]
    pub fn session_rate_drop(&self, slot: u32, generation: u64, dir: Dir) {
        if let Some(c) = self.session_words(slot) {
            self.adopt(c, generation);
            adopt_line(&c[GENERATION_2..], generation);
            bump(&c[5], 1);
            bump(
                &c[match dir {
                    Dir::Up => RATE_LIMITED_UP,
                    Dir::Down => RATE_LIMITED_DOWN,
                }],
                1,
            );
        }
    }

    /// Prefetches the line of `slot`'s counters that every packet
    /// touches (counts and buckets).
    #[inline(always)]
    pub fn prefetch(&self, slot: u32) {
        if let Some(w) = self.sessions.get(slot as usize * SESSION_COUNTER_WORDS) {
            super::prefetch(w);
        }
    }

    fn session_words(&self, slot: u32) -> Option<&[AtomicU64]> {
        let at = slot as usize * SESSION_COUNTER_WORDS;
        self.sessions.get(at..at + SESSION_COUNTER_WORDS)
    }

    /// A slot counting for an older session starts over: its first line
    /// (the second starts over when first written, see
    /// [`SESSION_COUNTER_WORDS`]).
    #[inline(always)]
    fn adopt(&self, c: &[AtomicU64], generation: u64) {
        adopt_line(&c[..GENERATION_2], generation);
    }

    /// Reads the named counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.global[c as usize].load(Ordering::Relaxed)
    }

    /// Reads a drop counter.
    pub fn drops(&self, d: Drop) -> u64 {
        self.global[DROPS_AT + d as usize].load(Ordering::Relaxed)
    }

    /// Every named counter and its value, in layout order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c.name(), self.get(c)))
    }

    /// Every drop reason and its count, in counter order.
    pub fn named_drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Drop::ALL.iter().map(|&d| (d.name(), self.drops(d)))
    }

    /// The counts for `slot` if they belong to `generation`.
    pub fn session_counters(&self, slot: u32, generation: u64) -> SessionCounters {
        let Some(c) = self.session_words(slot) else {
            return SessionCounters::default();
        };
        if c[0].load(Ordering::Acquire) != generation {
            return SessionCounters::default();
        }
        let r = |i: usize| c[i].load(Ordering::Relaxed);
        // The second line's counts, if it has been adopted for this
        // session (none before its first rate drop here).
        let second = c[GENERATION_2].load(Ordering::Acquire) == generation;
        let r2 = |i: usize| if second { r(i) } else { 0 };
        SessionCounters {
            up_packets: r(1),
            up_bytes: r(2),
            down_packets: r(3),
            down_bytes: r(4),
            drops: r(5),
            up_rate_limited: r2(RATE_LIMITED_UP),
            down_rate_limited: r2(RATE_LIMITED_DOWN),
        }
    }
}

/// A worker's counts for the batch in progress, flushed once per batch.
#[derive(Debug, Clone)]
pub struct LocalCounters([u64; GLOBAL_WORDS]);

impl Default for LocalCounters {
    fn default() -> Self {
        LocalCounters([0; GLOBAL_WORDS])
    }
}

impl LocalCounters {
    /// Adds to a named counter.
    #[inline(always)]
    pub fn add(&mut self, c: Counter, by: u64) {
        self.0[c as usize] += by;
    }

    /// Counts a drop.
    #[inline(always)]
    pub fn drop(&mut self, d: Drop) {
        self.0[DROPS_AT + d as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new session in a slot starts from zero on both lines, its first
    /// packet writing only the first (the line every packet reads); the
    /// second is taken over at its first rate drop.
    #[test]
    fn a_new_session_starts_from_zero_writing_one_line() {
        let global: Vec<AtomicU64> = (0..GLOBAL_WORDS).map(|_| AtomicU64::new(0)).collect();
        let words: Vec<AtomicU64> = (0..SESSION_COUNTER_WORDS)
            .map(|_| AtomicU64::new(0))
            .collect();
        let b = WorkerBlock {
            global: &global,
            sessions: &words,
        };
        // The old session (generation 1): counted, and rate-dropped.
        b.session(0, 1, Dir::Up, 100);
        b.session_rate_drop(0, 1, Dir::Down);
        let old = b.session_counters(0, 1);
        assert_eq!((old.up_packets, old.up_bytes, old.drops), (1, 100, 1));
        assert_eq!((old.up_rate_limited, old.down_rate_limited), (0, 1));
        let second: Vec<u64> = words[8..]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        // The new one (generation 2): its first packet.
        b.session(0, 2, Dir::Down, 60);
        let new = b.session_counters(0, 2);
        assert_eq!(
            new,
            SessionCounters {
                down_packets: 1,
                down_bytes: 60,
                ..SessionCounters::default()
            }
        );
        let now: Vec<u64> = words[8..]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        assert_eq!(now, second, "the first packet wrote the second line");
        // Its first rate drop takes the second line over, from zero.
        b.session_rate_drop(0, 2, Dir::Up);
        let new = b.session_counters(0, 2);
        assert_eq!(
            (new.up_rate_limited, new.down_rate_limited, new.drops),
            (1, 0, 1)
        );
        assert_eq!(b.session_counters(0, 1), SessionCounters::default());
    }
}
