//! The shared-memory tables between lnsd and the workers (DESIGN §2: "two
//! processes, one contract").
//!
//! One file, normally under `/dev/shm`, created and sized by lnsd
//! ([`Writer::create`]) and mapped by `lns-dataplane` ([`Reader::attach`]).
//! Everything in it is 64-bit words accessed atomically:
//!
//! | region | written by | what |
//! |---|---|---|
//! | header | lnsd (data plane: its own words) | magic, ABI version, sizes, state |
//! | session slots | lnsd, behind a [`seqlock`] each | [`Session`]s |
//! | four indexes | lnsd | (tunnel, session), IPv4, IPv6 /64, delegated prefix → slot ([`index`]) |
//! | next hops | lnsd, seqlocked | [`NextHop`] MACs toward the core and the LACs |
//! | switched journal | lnsd | a ring of "switched key added/removed" ([`SwitchedChange`]) |
//! | Ns | workers | the next Ns of each sequenced session |
//! | delegated prefixes | lnsd | each slot's DHCPv6 prefix, tagged with its generation |
//! | counters | each worker its own block | [`counters`] |
//!
//! A session's slot is where its ids point when lnsd can put it there
//! ([`home_slot`]): lnsd picks the session ids it hands out so that their
//! home slot is free ([`Reader::home_is_free`]), the writer takes the
//! home slot when it is ([`Writer::insert`]), and a worker reads an
//! upstream packet's slot straight from its ids, with no index bucket
//! between (one memory latency and one cache line a packet fewer at a
//! million sessions). The index still holds every session: a session
//! away from home (its home was taken, or its ids came from elsewhere) is
//! found through it, one look later.
//!
//! The switched journal exists for the data plane's XDP program, which
//! must steer every data frame of a switched session to the workers (not
//! only its IP ones, DESIGN §2.1) and so keeps a map of switched keys:
//! the data plane follows the journal from its own tail
//! ([`Reader::switched_changes`]) instead of scanning a million slots, and
//! rebuilds from a scan ([`Reader::switched_keys`]) when it starts or
//! when it fell more than [`JOURNAL_ENTRIES`] behind.
//!
//! Guarantees: a reader sees each record exactly as one write left it (or
//! misses and counts it); a session that is not being changed is always
//! found; nothing on the read side allocates, locks or blocks. Either
//! process may die and restart: the file holds all the state, so a new
//! data plane attaches and forwards every session as it was, and lnsd's
//! counters keep counting.
//!
//! Refused: attaching to a file with another magic, ABI version or layout
//! (`AttachError`), so mismatched binaries never misread each other;
//! inserting past capacity or a key already present, or a switched leg
//! with an address (`TableError`).
//!
//! Switched sessions (multi-hop, DESIGN §2.1): lnsd installs one with
//! [`Writer::insert_switched`] from the two [`Leg`]s it set up, rewrites it
//! with [`Writer::update_switched`], reads each direction's counters with
//! [`Writer::counters`] on [`SwitchedIds::a`] and [`SwitchedIds::b`], and
//! takes it out with [`Writer::remove_switched`], which hands back each
//! leg's counters and next Ns.

// The mapping is the one place the tables need `unsafe` (DESIGN §3).
#![allow(unsafe_code, reason = "mapping the shared file as atomic words")]

pub mod counters;
pub mod index;
pub mod record;
pub mod seqlock;

use crate::node::forward::NextHop as FwdHop;
use counters::{GLOBAL_WORDS, SESSION_COUNTER_WORDS, SessionCounters, WorkerBlock};
use index::Index;
pub use record::{Egress, FirstLine, Leg, NextHop, Rate, Rates, Session, SlotView, up_key};
use record::{FIRST_LINE, NEXTHOP_WORDS, SESSION_WORDS};
use seqlock::Std;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// "XLNSTBL\0", little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"XLNSTBL\0");
/// Bumped whenever the layout or a record's encoding changes (2: switched
/// legs in the session flags, the switched journal, more counters; 3: a
/// session's rates in its record, its template without MACs, the token
/// buckets and rate drops in its counters; 4: the subscriber address
/// filter; 5: delegated IPv6 prefixes; 6: the up rate in a record's first
/// cache line, the IPv6 prefix after the template; 7: the index's hash,
/// one multiply and one shift-xor; 8: the delegated prefixes and the
/// counters start on a cache line whatever the capacity; 9: a session's
/// second counter line has a generation of its own; 10: a terminated
/// session's compact template in its first line; 11: 4-byte index
/// buckets).
pub const ABI_VERSION: u64 = 11;

/// The largest table the layout supports (slot numbers are 32-bit).
pub const MAX_CAPACITY: u32 = 1 << 26;
/// Next-hop entries (index 0 and 1 are the core's IPv4 and IPv6 gateways).
pub const NEXTHOPS: u32 = 1024;
/// Next-hop index of the core-side IPv4 gateway.
pub const CORE_V4: u32 = 0;
/// Next-hop index of the core-side IPv6 gateway.
pub const CORE_V6: u32 = 1;

const HEADER_WORDS: usize = 512;
/// Words in a cache line: the slots, the index buckets' lines and each
/// session's counters start on one.
const LINE_WORDS: usize = 8;
const SLOT_WORDS: usize = 1 + SESSION_WORDS;
const NH_SLOT_WORDS: usize = 1 + NEXTHOP_WORDS;
/// Seqlock read attempts before a lookup gives up (see `seqlock::read`).
const READ_TRIES: u32 = 64;
/// Entries in the switched journal ring: at the data plane's polling
/// interval (10 ms) lnsd would have to switch or unswitch 400,000
/// sessions a second to overrun it.
pub const JOURNAL_ENTRIES: usize = 4096;
/// Bits in each family's subscriber filter (see [`Lookups::may_hold_v4`]).
const FILTER_BITS: usize = 1 << 16;
const FILTER_WORDS: usize = FILTER_BITS / 64;

/// A journal entry's position tag: the low bits of its position, so a
/// reader tells the entry it wants from a newer one written over it.
const JOURNAL_TAG_BITS: u32 = 31;

/// Header word numbers.
mod hdr {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const CAPACITY: usize = 2;
    pub const WORKERS: usize = 3;
    pub const NEXTHOPS: usize = 4;
    pub const TOTAL_WORDS: usize = 5;
    /// Words per slot, next hop and counter block, packed: a cheap layout
    /// fingerprint on top of the version.
    pub const SHAPE: usize = 6;
    /// 1 once lnsd has finished initialising the file.
    pub const READY: usize = 7;
    pub const WRITER_PID: usize = 8;
    pub const LIVE: usize = 9;
    /// Switched journal entries ever appended (the ring's head).
    pub const JOURNAL_HEAD: usize = 10;
    /// The lengths of the delegated prefixes in the table: bit `64 - len`.
    pub const PD_LENGTHS: usize = 11;
    /// Written by the data plane.
    pub const READER_PID: usize = 32;
    pub const READER_ATTACHES: usize = 33;
    pub const READER_HEARTBEAT: usize = 34;
    /// The attach mode the data plane got (see `loader::AttachMode`).
    pub const READER_MODE: usize = 35;
    /// Switched keys in the XDP program's map.
    pub const READER_SWITCHED_KEYS: usize = 36;
    /// Full rescans after the data plane fell behind the journal.
    pub const READER_SWITCHED_REBUILDS: usize = 37;
    /// The XDP program's verdict counters (`loader::abi::Verdict` order),
    /// copied by the data plane with each heartbeat.
    pub const VERDICTS: usize = 64;
    pub const VERDICT_SLOTS: usize = 32;
}

fn shape() -> u64 {
    (SLOT_WORDS as u64)
        | (NH_SLOT_WORDS as u64) << 8
        | (GLOBAL_WORDS as u64) << 16
        | (SESSION_COUNTER_WORDS as u64) << 24
        | (HEADER_WORDS as u64) << 32
        | u64::from(JOURNAL_ENTRIES.trailing_zeros()) << 48
}

/// How big the tables are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Session slots.
    pub capacity: u32,
    /// Counter blocks (one per worker the data plane may run).
    pub workers: u32,
}

/// Where each region starts, in words.
#[derive(Debug, Clone, Copy)]
struct Layout {
    sizes: Sizes,
    slots: usize,
    /// Words of each index: two 4-byte buckets a word (`index`).
    index_words: usize,
    up: usize,
    v4: usize,
    v6: usize,
    /// The delegated-prefix index (key: the prefix's first 8 octets).
    pd_index: usize,
    nexthops: usize,
    journal: usize,
    filter: usize,
    ns: usize,
    /// Two words per slot: its delegated prefix's first 8 octets, then
    /// its generation and length (`generation << 8 | len`; 0: none).
    pd: usize,
    counters: usize,
    worker_words: usize,
    total: usize,
}

impl Layout {
    fn new(sizes: Sizes) -> Layout {
        let cap = sizes.capacity as usize;
        // Twice the slots, so probe runs stay short at full load.
        let buckets = (cap * 2).next_power_of_two().max(16);
        let slots = HEADER_WORDS;
        let up = slots + cap * SLOT_WORDS;
        let index_words = buckets / 2;
        let v4 = up + index_words;
        let v6 = v4 + index_words;
        let pd_index = v6 + index_words;
        let nexthops = pd_index + index_words;
        let journal = nexthops + NEXTHOPS as usize * NH_SLOT_WORDS;
        let filter = journal + JOURNAL_ENTRIES;
        let ns = filter + 2 * FILTER_WORDS;
        // Regions after the per-slot arrays start on a cache line: with a
        // capacity not a multiple of 8, a session's counters (the words
        // every forwarded packet bumps, one line's worth) straddled two
        // lines, a second miss a packet at scale.
        let pd = (ns + cap).next_multiple_of(LINE_WORDS);
        let counters = (pd + 2 * cap).next_multiple_of(LINE_WORDS);
        let worker_words = GLOBAL_WORDS + cap * SESSION_COUNTER_WORDS;
        let total = counters + sizes.workers as usize * worker_words;
        Layout {
            sizes,
            slots,
            index_words,
            up,
            v4,
            v6,
            pd_index,
            nexthops,
            journal,
            filter,
            ns,
            pd,
            counters,
            worker_words,
            total,
        }
    }
}

/// Why a table could not be created or opened.
#[derive(Debug)]
pub enum TableError {
    /// File system error, with the path.
    Io(PathBuf, std::io::Error),
    /// Not a table file, or from another version of xlns.
    Mismatch(String),
    /// Every slot is in use.
    Full,
    /// A session with this (tunnel, session) or address is already in.
    Duplicate(&'static str),
    /// The record is not one the workers can use (e.g. a switched leg
    /// with an address).
    Invalid(&'static str),
    /// Capacity or worker count out of range.
    Size(String),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            TableError::Mismatch(m) => write!(f, "table mismatch: {m}"),
            TableError::Full => write!(f, "session table full"),
            TableError::Duplicate(k) => {
                write!(f, "a session with this {k} is already in the table")
            }
            TableError::Invalid(m) => write!(f, "session refused: {m}"),
            TableError::Size(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TableError {}

/// The pages a table asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// 2 MiB pages: a TLB entry covers 512 times the memory, so lookups
    /// spread over a million sessions miss the TLB far less.
    Huge,
    /// 4 KiB pages.
    Small,
}

/// Whether the file system holding `path` gives huge pages to a mapping
/// advised for them: `Ok` with its kind (hugetlbfs; tmpfs with
/// `shmem_enabled` at `always`, `within_size`, `advise` or `force`),
/// `Err` saying why not.
pub fn huge_pages_at(path: &Path) -> Result<String, String> {
    let (dir, fs) = fs_of(path).map_err(|e| format!("cannot read /proc/mounts: {e}"))?;
    match fs.as_str() {
        "hugetlbfs" => Ok("hugetlbfs".into()),
        "tmpfs" => {
            let knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
            let v = std::fs::read_to_string(knob).unwrap_or_default();
            // The setting in force is the bracketed one.
            let on = v
                .split_whitespace()
                .find(|w| w.starts_with('['))
                .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
                .unwrap_or_default();
            match on.as_str() {
                "always" | "within_size" | "advise" | "force" => Ok(format!("tmpfs ({on})")),
                "" => Err(format!(
                    "{} is on tmpfs and {knob} cannot be read",
                    dir.display()
                )),
                _ => Err(format!(
                    "{} is on tmpfs and {knob} is {on:?} (set it to advise, or put the table on hugetlbfs)",
                    dir.display()
                )),
            }
        }
        other => Err(format!(
            "{} is on {}, which has no huge pages for it (use tmpfs with {} or hugetlbfs)",
            dir.display(),
            if other.is_empty() {
                "an unknown file system"
            } else {
                other
            },
            "shmem_enabled=advise"
        )),
    }
}

/// The directory holding `path` and its file system's type ("" if none
/// is found), from `/proc/mounts`: the longest mount point above it.
fn fs_of(path: &Path) -> std::io::Result<(PathBuf, String)> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    let fs = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), kind.to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, k)| k)
        .unwrap_or_default();
    Ok((dir, fs))
}

/// The length of a table file of `bytes` at `path`: on hugetlbfs, whole
/// 2 MiB pages (a file there can only be sized so; mount it with
/// `pagesize=2M`); elsewhere `bytes`.
fn file_len(path: &Path, bytes: usize) -> usize {
    const HUGE: usize = 2 << 20;
    match fs_of(path) {
        Ok((_, fs)) if fs == "hugetlbfs" => bytes.next_multiple_of(HUGE),
        _ => bytes,
    }
}

/// Bytes on huge pages in the mapping that starts at `addr`, from
/// `/proc/self/smaps` (transparent: `AnonHugePages`, `ShmemPmdMapped`,
/// `FilePmdMapped`; hugetlbfs: `Shared_Hugetlb`, `Private_Hugetlb`).
fn huge_bytes_of(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut kib = 0u64;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, _)) = first.split_once('-')
            && let Ok(start) = usize::from_str_radix(start, 16)
        {
            if inside {
                break;
            }
            inside = start == addr;
            continue;
        }
        if inside
            && let Some((key, rest)) = line.split_once(':')
            && matches!(
                key,
                "AnonHugePages"
                    | "ShmemPmdMapped"
                    | "FilePmdMapped"
                    | "Shared_Hugetlb"
                    | "Private_Hugetlb"
            )
        {
            kib += rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(kib * 1024)
}

/// A mapped table (lnsd's file, or anonymous memory): the words and their
/// layout. Page-aligned either way, so its slots and counters start on
/// cache lines.
struct Region {
    map: memmap2::MmapMut,
    layout: Layout,
    /// The mapping's words, taken once: every look-up goes through
    /// [`Region::words`].
    words: std::ptr::NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: `words` points into `map`, which is `Send` and `Sync` and is
// owned by the region; the pointer is only turned into a shared slice of
// atomics, which any thread may use.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: shared access is through atomics only.
unsafe impl Sync for Region {}

impl Region {
    fn new(map: memmap2::MmapMut, layout: Layout) -> Region {
        let (words, len) = (
            std::ptr::NonNull::new(map.as_ptr().cast::<AtomicU64>().cast_mut())
                .unwrap_or(std::ptr::NonNull::dangling()),
            map.len() / 8,
        );
        Region {
            map,
            layout,
            words,
            len,
        }
    }

    #[inline(always)]
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: `words` and `len` were taken from `map`, which the
        // region owns and never resizes, and whose memory does not move
        // when the region does. A map is
        // page-aligned (so 8-aligned) and its length was checked to be a
        // multiple of 8 when opened. `AtomicU64` has the size and
        // alignment of `u64` and every bit pattern is valid. Other
        // processes touch the file only through atomics too, and the map
        // is never accessed as plain bytes after creation, so there are no
        // non-atomic races on it.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr(), self.len) }
    }

    fn hdr(&self, i: usize) -> &AtomicU64 {
        &self.words()[i]
    }

    fn reader_status(&self) -> ReaderStatus {
        let h = |i| self.hdr(i).load(Ordering::Relaxed);
        ReaderStatus {
            pid: h(hdr::READER_PID) as u32,
            attaches: h(hdr::READER_ATTACHES),
            heartbeat: h(hdr::READER_HEARTBEAT),
            mode: h(hdr::READER_MODE),
            switched_keys: h(hdr::READER_SWITCHED_KEYS),
            switched_rebuilds: h(hdr::READER_SWITCHED_REBUILDS),
        }
    }

    fn journal_word(&self, pos: u64) -> &AtomicU64 {
        &self.words()[self.layout.journal + (pos % JOURNAL_ENTRIES as u64) as usize]
    }

    /// Writer: appends a change (entry first, then the head, so a reader
    /// that sees the head sees the entry).
    fn journal(&self, c: SwitchedChange) {
        let head = self.hdr(hdr::JOURNAL_HEAD);
        let pos = head.load(Ordering::Relaxed);
        self.journal_word(pos)
            .store(SwitchedChange::encode(c, pos), Ordering::Release);
        head.store(pos + 1, Ordering::Release);
    }

    #[inline(always)]
    fn slot(&self, slot: u32) -> (&AtomicU64, &[AtomicU64]) {
        let at = self.layout.slots + slot as usize * SLOT_WORDS;
        let w = &self.words()[at..at + SLOT_WORDS];
        (&w[0], &w[1..])
    }

    #[inline(always)]
    fn index(&self, at: usize) -> Index<'_> {
        let words = &self.words()[at..at + self.layout.index_words];
        // SAFETY: the index's words are two 4-byte buckets each, read and
        // written only as `AtomicU32` (here, by every process: the index
        // is never touched as 64-bit words). `AtomicU32` has the size and
        // alignment of `u32`, which the words' alignment (8) satisfies,
        // every bit pattern is valid, and the slice covers the same
        // bytes as `words`, which live as long as `self`.
        let buckets = unsafe {
            std::slice::from_raw_parts(words.as_ptr().cast::<AtomicU32>(), words.len() * 2)
        };
        Index::new(buckets, self.layout.sizes.capacity)
    }

    #[inline(always)]
    fn nexthop_words(&self, i: u32) -> Option<(&AtomicU64, &[AtomicU64])> {
        if i >= NEXTHOPS {
            return None;
        }
        let at = self.layout.nexthops + i as usize * NH_SLOT_WORDS;
        let w = &self.words()[at..at + NH_SLOT_WORDS];
        Some((&w[0], &w[1..]))
    }

    fn read_session(&self, slot: u32) -> Option<(u64, Session)> {
        if slot >= self.layout.sizes.capacity {
            return None;
        }
        let (seq, words) = self.slot(slot);
        let w = seqlock::read::<Std, SESSION_WORDS>(seq, words, READ_TRIES)?;
        Session::decode(&w)
    }

    /// The filter word and bit for key bit `bit` of family `fam` (0: IPv4,
    /// 1: IPv6).
    #[inline(always)]
    fn filter_bit(&self, fam: usize, bit: usize) -> (&AtomicU64, u64) {
        let at = self.layout.filter + fam * FILTER_WORDS + bit / 64;
        (&self.words()[at], 1 << (bit % 64))
    }

    /// A worker's read of a slot: the record copied out, not decoded, into
    /// the caller's storage, so it is copied once, from the slot to where
    /// the packet's processing reads it. `false`: no record there (`out`
    /// then holds anything).
    #[inline(always)]
    fn read_view_into(&self, slot: u32, out: &mut SlotView) -> bool {
        if slot >= self.layout.sizes.capacity {
            return false;
        }
        let (seq, words) = self.slot(slot);
        read_view(seq, words, out)
    }

    /// A slot's Ns word: the generation it belongs to in the high 48
    /// bits, the next Ns in the low 16. Tagged with the generation so a
    /// reused slot never continues its previous session's sequence.
    fn ns_word(&self, slot: u32) -> Option<&AtomicU64> {
        if slot >= self.layout.sizes.capacity {
            return None;
        }
        self.words().get(self.layout.ns + slot as usize)
    }

    /// A slot's delegated-prefix words (see [`Layout::pd`]).
    fn pd_words(&self, slot: u32) -> Option<&[AtomicU64]> {
        if slot >= self.layout.sizes.capacity {
            return None;
        }
        let at = self.layout.pd + 2 * slot as usize;
        self.words().get(at..at + 2)
    }

    /// The delegated prefix of `(slot, generation)`: its first 8 octets
    /// and its length.
    #[inline]
    fn delegated(&self, slot: u32, generation: u64) -> Option<(u64, u8)> {
        let w = self.pd_words(slot)?;
        let tag = w[1].load(Ordering::Acquire);
        let head = w[0].load(Ordering::Relaxed);
        (tag != 0 && tag >> 8 == generation).then_some((head, tag as u8))
    }

    /// The next Ns of `(slot, generation)`, without taking it.
    fn peek_ns(&self, slot: u32, generation: u64) -> u16 {
        let Some(w) = self.ns_word(slot) else {
            return 0;
        };
        let cur = w.load(Ordering::Relaxed);
        if cur >> 16 == generation & 0xffff_ffff_ffff {
            cur as u16
        } else {
            0
        }
    }

    /// Takes the next Ns (shared by every worker and lnsd, hence a
    /// compare-and-swap); `None` once the session has left.
    #[inline]
    fn take_ns(&self, slot: u32, generation: u64) -> Option<u16> {
        let w = self.ns_word(slot)?;
        let tag = generation << 16;
        let mut cur = w.load(Ordering::Relaxed);
        loop {
            // Another generation's word: this worker's view of the slot is
            // stale (the session left, maybe another took the slot, whose
            // sequence lnsd seeded). Never write over it.
            if cur & !0xffff != tag & !0xffff {
                return None;
            }
            let ns = cur as u16;
            let next = tag | u64::from(ns.wrapping_add(1));
            match w.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(ns),
                Err(c) => cur = c,
            }
        }
    }

    fn worker(&self, w: u32) -> Option<WorkerBlock<'_>> {
        if w >= self.layout.sizes.workers {
            return None;
        }
        let at = self.layout.counters + w as usize * self.layout.worker_words;
        let words = &self.words()[at..at + self.layout.worker_words];
        Some(WorkerBlock {
            global: &words[..GLOBAL_WORDS],
            sessions: &words[GLOBAL_WORDS..],
        })
    }
}

/// Anonymous memory for a table of `layout`, zeroed and page-aligned.
fn anonymous(layout: &Layout) -> Result<memmap2::MmapMut, TableError> {
    memmap2::MmapOptions::new()
        .len(layout.total * 8)
        .map_anon()
        .map_err(|e| TableError::Io(PathBuf::from("(anonymous)"), e))
}

/// Asks the CPU for the cache line holding `w`, without waiting for it:
/// the worker hashes a batch's keys and prefetches each one's bucket,
/// then its slot, ahead of its packet (DESIGN §4), so the packets'
/// look-ups find them in cache.
#[inline(always)]
pub(crate) fn prefetch<T>(w: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program can see
    // and cannot fault, whatever the address (here one from a reference
    // into the mapping); SSE, which it needs, is in x86_64's baseline.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((w as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = w;
}

/// A packet's look-up key, taken ahead of its processing to prefetch for
/// it ([`Lookups::prefetch_bucket`], [`Lookups::prefetch_slot`]) and to
/// pick its worker (`worker::handoff`), hashed once for all of them; then
/// handed to the packet's own look-up ([`Lookups::by_ids_up`],
/// [`Lookups::by_ipv4_first_line`]), which takes its hash and the slot the
/// second pass found instead of finding them again, once it has checked
/// that the key is the one its packet reads. A data message's ids have
/// no bucket to prefetch: their slot is their [`home_slot`], from the
/// hash alone.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    index: KeyIndex,
    raw: u64,
    hash: u64,
    /// The slot [`Lookups::prefetch_slot`] found: a hint, the record read
    /// there is checked as any other.
    slot: Option<u32>,
    /// Whether its packet reads the slot's second cache line too: all
    /// but an IPv4 packet of a terminated session, either way, which
    /// reads the first alone (`record::FIRST_LINE`). A hint for the
    /// prefetch.
    whole: bool,
}

/// Keys are the same key whatever their prefetch hint says.
impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.index == o.index && self.raw == o.raw && self.hash == o.hash && self.slot == o.slot
    }
}

impl Eq for Key {}

/// The index a [`Key`] is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyIndex {
    Up,
    V4,
    V6,
}

impl Key {
    /// A data message's (tunnel, session) ([`up_key`]).
    #[inline(always)]
    pub fn up(key: u64) -> Key {
        Key {
            index: KeyIndex::Up,
            raw: key,
            hash: index::hash(key),
            slot: None,
            whole: true,
        }
    }

    /// [`Key::up`] for a data message carrying IPv4, which the upstream
    /// express lane takes reading the slot's first cache line alone
    /// (a switched leg's or an IPv6 packet's read both; see
    /// [`Lookups::prefetch_slot_with`]).
    #[inline(always)]
    pub fn up_ipv4(key: u64) -> Key {
        Key {
            whole: false,
            ..Key::up(key)
        }
    }

    /// Whether the prefetch for it takes the slot's second cache line
    /// too (see [`Key::up_ipv4`]).
    #[inline(always)]
    pub fn reads_whole(&self) -> bool {
        self.whole
    }

    /// A subscriber's IPv4 address (its bits): its packets' look-up,
    /// which the downstream express lane takes reading the slot's first
    /// cache line alone ([`Lookups::by_ipv4_first_line`]; a session whose
    /// line holds no compact template is the general path's, which reads
    /// the second line too).
    #[inline(always)]
    pub fn v4(key: u64) -> Key {
        Key {
            index: KeyIndex::V4,
            raw: key,
            hash: index::hash(key),
            slot: None,
            whole: false,
        }
    }

    /// A subscriber's /64 (its first 8 octets, big-endian).
    #[inline(always)]
    pub fn v6(key: u64) -> Key {
        Key {
            index: KeyIndex::V6,
            raw: key,
            hash: index::hash(key),
            slot: None,
            whole: true,
        }
    }

    /// Whether it is a data message's (tunnel, session).
    #[inline(always)]
    pub fn is_up(&self) -> bool {
        self.index == KeyIndex::Up
    }

    /// The key's [`index::hash`].
    #[inline(always)]
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether it is `raw` in index `index`.
    #[inline(always)]
    fn is(&self, index: KeyIndex, raw: u64) -> bool {
        self.index == index && self.raw == raw
    }
}

/// A worker's hot look-ups, over the table's slots, indexes and IPv4
/// filter sliced once ([`Reader::lookups`]), for the worker to keep
/// beside its pipeline: a look-up then starts from the slices, not from
/// the region's layout through the reader (at a packet's budget of a few
/// hundred instructions, those offsets, bounds and loads were some 10 a
/// look-up and 20 a prefetch). It finds what [`Reader::by_ids`] and
/// [`Reader::by_ipv4`] find, from the same words, and holds no state of
/// its own: a write by lnsd is seen by the next look-up, as without it.
#[derive(Debug, Clone, Copy)]
pub struct Lookups<'a> {
    up: Index<'a>,
    v4: Index<'a>,
    v6: Index<'a>,
    /// Every slot, its sequence word first.
    slots: &'a [[AtomicU64; SLOT_WORDS]],
    filter_v4: &'a [AtomicU64; FILTER_WORDS],
}

impl<'a> Lookups<'a> {
    #[inline(always)]
    fn index_of(&self, k: &Key) -> Index<'a> {
        match k.index {
            KeyIndex::Up => self.up,
            KeyIndex::V4 => self.v4,
            KeyIndex::V6 => self.v6,
        }
    }

    /// Slot `slot`'s sequence word and record words, if it is one.
    #[inline(always)]
    fn slot(&self, slot: u32) -> Option<(&'a AtomicU64, &'a [AtomicU64])> {
        let (seq, words) = self.slots.get(slot as usize)?.split_first()?;
        Some((seq, words))
    }

    /// The first pass for a packet: prefetches the buckets its look-up
    /// starts at ([`index::Index::run_start`]). None for a data message's
    /// ids: their session is looked for in its [`home_slot`] first, which
    /// the second pass takes from the key alone.
    #[inline(always)]
    pub fn prefetch_bucket(&self, k: Key) {
        if k.index == KeyIndex::Up {
            return;
        }
        for b in self.index_of(&k).run_start(k.hash) {
            prefetch(b);
        }
    }

    /// The second pass (its bucket prefetched by the first): prefetches
    /// the slot the bucket names (the lines its packet reads), or a data
    /// message's [`home_slot`], keeps it in the key for the packet's
    /// look-up, and returns it, for the caller to prefetch its counters.
    /// `None`: nothing to prefetch.
    #[inline(always)]
    pub fn prefetch_slot(&self, k: &mut Key) -> Option<u32> {
        self.prefetch_slot_with(k, false)
    }

    /// [`Lookups::prefetch_slot`]; `whole`: the key is taken as its
    /// packet reading the whole slot, whatever it carries, and says so
    /// from then on (for a worker that has lately switched a leg's
    /// frames: their IPv4 frames read the template, in the second line).
    #[inline(always)]
    pub fn prefetch_slot_with(&self, k: &mut Key, whole: bool) -> Option<u32> {
        let slot = match k.index {
            KeyIndex::Up => home_slot(k.hash, self.slots.len()),
            _ => self.index_of(k).likely_slot(k.hash)?,
        };
        let (seq, words) = self.slot(slot)?;
        prefetch(seq);
        // An IPv4 packet of a terminated session reads the slot's first
        // line alone (its sequence word and `record::FIRST_LINE`); the
        // rest read the second too.
        k.whole |= whole;
        if k.whole {
            prefetch(&words[SESSION_WORDS - 1]);
        }
        k.slot = Some(slot);
        Some(slot)
    }

    /// Whether some subscriber may have an address in `a`'s /16: `false`
    /// means none has (as of the last write), so a packet to `a` needs no
    /// look-up in the address index (an upstream packet is looked up
    /// there in case it hairpins; almost all go to the Internet).
    #[inline(always)]
    pub fn may_hold_v4(&self, a: Ipv4Addr) -> bool {
        let bit = filter_v4(u64::from(a.to_bits()));
        self.filter_v4[bit / 64].load(Ordering::Acquire) & (1 << (bit % 64)) != 0
    }

    /// Slot `slot`'s first line ([`FirstLine`]), if it holds a valid
    /// record.
    #[inline(always)]
    fn first_line(&self, slot: u32) -> Option<FirstLine> {
        let (seq, words) = self.slot(slot)?;
        seqlock::read_some::<Std, { FIRST_LINE.len() }>(seq, words, &FIRST_LINE, READ_TRIES)
            .and_then(FirstLine::new)
    }

    /// Upstream: the slot of the session with these ids and the words an
    /// IPv4 packet from the subscriber reads ([`FirstLine`]), found as
    /// [`Reader::by_ids`] finds it: in its [`home_slot`], else through
    /// the index. `key`, if the worker's prefetching took one for the
    /// packet, gives its hash once it is checked to be these ids' (see
    /// [`Key`]).
    #[inline(always)]
    pub fn by_ids_up(
        &self,
        tunnel: u16,
        session: u16,
        key: Option<Key>,
    ) -> Option<(u32, FirstLine)> {
        let read = |slot: u32| {
            let v = self.first_line(slot)?;
            v.has_ids(tunnel, session).then_some((slot, v))
        };
        let raw = up_key(tunnel, session);
        let h = match key.filter(|k| k.is(KeyIndex::Up, raw)) {
            Some(k) => k.hash,
            None => index::hash(raw),
        };
        // The home slot first (the key's hint is no other), then the
        // index: a session away from home.
        read(home_slot(h, self.slots.len())).or_else(|| self.up.find_hashed(h, read))
    }

    /// Downstream: the slot of the session with IPv4 address `a` and its
    /// first line, which the express lane writes a frame from
    /// ([`FirstLine::express_template`]), found as [`Reader::by_ipv4`]
    /// finds it. `key` as for [`Lookups::by_ids_up`].
    #[inline(always)]
    pub fn by_ipv4_first_line(&self, a: Ipv4Addr, key: Option<Key>) -> Option<(u32, FirstLine)> {
        let read = |slot: u32| {
            let v = self.first_line(slot)?;
            (v.ipv4_octets() == Some(a.octets())).then_some((slot, v))
        };
        let raw = u64::from(a.to_bits());
        match key.filter(|k| k.is(KeyIndex::V4, raw)) {
            Some(k) => k
                .slot
                .and_then(read)
                .or_else(|| self.v4.find_hashed(k.hash, read)),
            None => self.v4.find(raw, read),
        }
    }
}

/// A slot's record (`seq`, `words`) copied into `out` in one seqlock read;
/// `false` if no valid record could be read (`out` then holds anything).
#[inline(always)]
fn read_view(seq: &AtomicU64, words: &[AtomicU64], out: &mut SlotView) -> bool {
    seqlock::read_le_into::<Std, SESSION_WORDS>(seq, words, out.words_mut(), READ_TRIES)
        && out.is_valid()
}

/// The filter bit of an IPv4 index key: its /16.
fn filter_v4(key: u64) -> usize {
    (key >> 16) as usize & (FILTER_BITS - 1)
}

/// The filter bit of an IPv6 index key (a /64): its /32, hashed.
fn filter_v6(key: u64) -> usize {
    (index::hash(key >> 32) >> 48) as usize & (FILTER_BITS - 1)
}

/// A session found by a worker: its record as read, whose fields it
/// reads through (`Deref` to [`SlotView`]; [`SlotView::session`] decodes
/// the whole of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its slot (for counters and Ns).
    pub slot: u32,
    /// The generation it was written with (for counters).
    pub generation: u64,
    /// The record.
    pub view: SlotView,
}

impl Found {
    /// Room for a look-up to write its answer into (`Reader::by_*_into`);
    /// it holds no session.
    #[inline(always)]
    pub fn vacant() -> Found {
        Found {
            slot: 0,
            generation: 0,
            view: SlotView::FREE,
        }
    }
}

impl std::ops::Deref for Found {
    type Target = SlotView;
    #[inline(always)]
    fn deref(&self) -> &SlotView {
        &self.view
    }
}

/// Entries in a [`HopCache`]: the core's two next hops and two LACs'
/// (by next-hop index, direct-mapped).
const HOP_CACHE_ENTRIES: usize = 4;

/// A worker's copies of the next hops' MACs it used last
/// ([`Reader::macs_cached`], [`HopCache::macs`]), each with
/// the record's sequence word and the value it had when read.
#[derive(Debug, Clone, Copy)]
pub struct HopCache<'r> {
    entries: [HopEntry<'r>; HOP_CACHE_ENTRIES],
}

#[derive(Debug, Clone, Copy)]
struct HopEntry<'r> {
    index: u32,
    /// The record's sequence word; `None`: the entry is empty.
    seq: Option<&'r AtomicU64>,
    at: u64,
    /// Destination then source: the Ethernet header's first 12 octets,
    /// as a frame takes them (one 12-octet copy; read back as two 6-octet
    /// fields, the copy out of a returned `FwdHop` spanned two stores,
    /// which store-to-load forwarding cannot serve).
    macs: [u8; 12],
}

impl HopCache<'_> {
    /// Next hop `i`'s MACs as the Ethernet header's first 12 octets, if
    /// this cache holds them and no write has happened to the record
    /// since they were read: what the express lanes copy into each frame
    /// straight from here. `None` (not held, or stale): the lanes leave
    /// the frame to the general path, whose [`Reader::macs_cached`] reads
    /// the record and keeps it for the next. Never older MACs than a
    /// write the worker could have seen.
    #[inline(always)]
    pub fn macs(&self, i: u32) -> Option<&[u8; 12]> {
        let e = &self.entries[i as usize % HOP_CACHE_ENTRIES];
        (e.index == i && e.seq.is_some_and(|w| w.load(Ordering::Acquire) == e.at))
            .then_some(&e.macs)
    }
}

impl Default for HopCache<'_> {
    fn default() -> Self {
        HopCache {
            entries: [HopEntry {
                index: u32::MAX,
                seq: None,
                at: 0,
                macs: [0; 12],
            }; HOP_CACHE_ENTRIES],
        }
    }
}

/// The read side: what the workers use. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Reader {
    region: Arc<Region>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("sizes", &self.region.layout.sizes)
            .finish()
    }
}

impl Reader {
    /// Maps the table lnsd created at `path`, checking that it was made by
    /// this version of the layout and that lnsd finished initialising it,
    /// and records this process as the data plane in its header.
    pub fn attach(path: &Path) -> Result<Reader, TableError> {
        let r = Self::inspect(path)?;
        let region = &r.region;
        region
            .hdr(hdr::READER_PID)
            .store(u64::from(std::process::id()), Ordering::Relaxed);
        let a = region.hdr(hdr::READER_ATTACHES);
        a.store(a.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Ok(r)
    }

    /// Like [`Reader::attach`], for an observer (tests, tools) that reads
    /// counters without announcing itself as the data plane.
    pub fn inspect(path: &Path) -> Result<Reader, TableError> {
        let io = |e| TableError::Io(path.to_path_buf(), e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < (HEADER_WORDS * 8) as u64 || len % 8 != 0 {
            return Err(TableError::Mismatch(format!(
                "{}: {len} bytes is not a table",
                path.display()
            )));
        }
        // SAFETY: the file is shared with lnsd, which may change it at any
        // time; `Region::words` only ever exposes it as atomics.
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(io)?;
        let probe = Region::new(
            map,
            Layout::new(Sizes {
                capacity: 0,
                workers: 0,
            }),
        );
        let h = |i| probe.hdr(i).load(Ordering::Acquire);
        if h(hdr::MAGIC) != MAGIC {
            return Err(TableError::Mismatch(format!(
                "{}: not an xlns table",
                path.display()
            )));
        }
        if h(hdr::VERSION) != ABI_VERSION || h(hdr::SHAPE) != shape() {
            return Err(TableError::Mismatch(format!(
                "{}: table ABI {} (shape {:#x}), this binary speaks ABI {ABI_VERSION} \
                 (shape {:#x}); run lnsd and lns-dataplane from the same build",
                path.display(),
                h(hdr::VERSION),
                h(hdr::SHAPE),
                shape()
            )));
        }
        if h(hdr::READY) != 1 {
            return Err(TableError::Mismatch(format!(
                "{}: lnsd has not finished creating the table",
                path.display()
            )));
        }
        let sizes = Sizes {
            capacity: u32::try_from(h(hdr::CAPACITY)).unwrap_or(u32::MAX),
            workers: u32::try_from(h(hdr::WORKERS)).unwrap_or(u32::MAX),
        };
        if sizes.capacity > MAX_CAPACITY || h(hdr::NEXTHOPS) != u64::from(NEXTHOPS) {
            return Err(TableError::Mismatch("sizes out of range".into()));
        }
        let layout = Layout::new(sizes);
        // A file on hugetlbfs is rounded up to whole huge pages.
        if file_len(path, layout.total * 8) as u64 != len
            || h(hdr::TOTAL_WORDS) != layout.total as u64
        {
            return Err(TableError::Mismatch(format!(
                "{}: {len} bytes, but its header describes {}",
                path.display(),
                layout.total * 8
            )));
        }
        let Region { map, .. } = probe;
        let region = Region::new(map, layout);
        Ok(Reader {
            region: Arc::new(region),
        })
    }

    /// The sizes lnsd made the table with.
    pub fn sizes(&self) -> Sizes {
        self.region.layout.sizes
    }

    /// Upstream: the session a LAC's data frame belongs to.
    #[inline]
    pub fn by_ids(&self, tunnel: u16, session: u16) -> Option<Found> {
        let mut f = Found::vacant();
        self.by_ids_into(tunnel, session, &mut f).then_some(f)
    }

    /// [`Reader::by_ids`] into the caller's `out` (a worker's way: the
    /// record is copied once, where the packet's processing reads it);
    /// `false` if not found, `out` then holding anything.
    #[inline]
    pub fn by_ids_into(&self, tunnel: u16, session: u16, out: &mut Found) -> bool {
        let key = up_key(tunnel, session);
        let r = &*self.region;
        let home = home_slot(index::hash(key), r.layout.sizes.capacity as usize);
        if r.read_view_into(home, &mut out.view) && out.view.key() == key {
            out.slot = home;
            out.generation = out.view.generation();
            return true;
        }
        self.find_into(r.layout.up, key, |s| s.key() == key, out)
    }

    /// Whether the [`home_slot`] of a session with our ids `tunnel` and
    /// `session` holds no session now: lnsd's question when it picks the
    /// session id it hands out (a hint: a session set up meanwhile may
    /// take the slot first, and the later one is then placed elsewhere).
    pub fn home_is_free(&self, tunnel: u16, session: u16) -> bool {
        self.holds_no_session(home_slot_of(tunnel, session, self.sizes().capacity))
    }

    /// Whether slot `slot` holds no session now (a hint, as above).
    fn holds_no_session(&self, slot: u32) -> bool {
        // A free slot's record is all zeros (`Writer::remove`); a
        // session's generation, its first word, never is.
        self.region.slot(slot).1[0].load(Ordering::Relaxed) == 0
    }

    /// Downstream: the session with this IPv4 address.
    #[inline]
    pub fn by_ipv4(&self, a: Ipv4Addr) -> Option<Found> {
        let mut f = Found::vacant();
        self.by_ipv4_into(a, &mut f).then_some(f)
    }

    /// [`Reader::by_ipv4`] into `out` (see [`Reader::by_ids_into`]).
    #[inline]
    pub fn by_ipv4_into(&self, a: Ipv4Addr, out: &mut Found) -> bool {
        let key = u64::from(a.to_bits());
        self.find_into(self.region.layout.v4, key, |s| s.ipv4() == Some(a), out)
    }

    /// Downstream: the session with this IPv6 /64 (first 8 octets).
    #[inline]
    pub fn by_ipv6_prefix(&self, p: [u8; 8]) -> Option<Found> {
        let mut f = Found::vacant();
        self.by_ipv6_prefix_into(p, &mut f).then_some(f)
    }

    /// [`Reader::by_ipv6_prefix`] into `out` (see [`Reader::by_ids_into`]).
    #[inline]
    pub fn by_ipv6_prefix_into(&self, p: [u8; 8], out: &mut Found) -> bool {
        let key = u64::from_be_bytes(p);
        self.find_into(
            self.region.layout.v6,
            key,
            |s| s.ipv6_prefix() == Some(p),
            out,
        )
    }

    /// Downstream: the session delegated a prefix (DHCPv6 IA_PD) that
    /// holds the /64 `p`, tried at each delegated length in the table
    /// (usually one), longest first.
    #[inline]
    pub fn by_delegated(&self, p: [u8; 8]) -> Option<Found> {
        let mut f = Found::vacant();
        self.by_delegated_into(p, &mut f).then_some(f)
    }

    /// [`Reader::by_delegated`] into `out` (see [`Reader::by_ids_into`]).
    #[inline]
    pub fn by_delegated_into(&self, p: [u8; 8], out: &mut Found) -> bool {
        let addr = u64::from_be_bytes(p);
        let mut lengths = self.region.hdr(hdr::PD_LENGTHS).load(Ordering::Relaxed);
        while lengths != 0 {
            let len = 64 - lengths.trailing_zeros() as u8;
            lengths &= lengths - 1;
            let head = addr & prefix_mask(len);
            let r = &*self.region;
            let found = r.index(r.layout.pd_index).find(head, |slot| {
                if !r.read_view_into(slot, &mut out.view) {
                    return None;
                }
                let generation = out.view.generation();
                (r.delegated(slot, generation) == Some((head, len))).then(|| {
                    out.slot = slot;
                    out.generation = generation;
                })
            });
            if found.is_some() {
                return true;
            }
        }
        false
    }

    /// The prefix delegated to the session in `f` (first 8 octets, length).
    #[inline]
    pub fn delegated_of(&self, f: &Found) -> Option<(u64, u8)> {
        self.region.delegated(f.slot, f.generation)
    }

    #[inline(always)]
    fn find_into(
        &self,
        index: usize,
        key: u64,
        is: impl Fn(&SlotView) -> bool,
        out: &mut Found,
    ) -> bool {
        let r = &*self.region;
        r.index(index)
            .find(key, |slot| {
                (r.read_view_into(slot, &mut out.view) && is(&out.view)).then(|| {
                    out.slot = slot;
                    out.generation = out.view.generation();
                })
            })
            .is_some()
    }

    /// A next hop, if lnsd has resolved it.
    #[inline]
    pub fn nexthop(&self, i: u32) -> Option<NextHop> {
        let (seq, words) = self.region.nexthop_words(i)?;
        NextHop::decode(&seqlock::read::<Std, NEXTHOP_WORDS>(
            seq, words, READ_TRIES,
        )?)
    }

    /// The IPv6 address next-hop record `i` holds: ours, for an IPv6
    /// template naming it as its source
    /// ([`crate::node::encap::TemplateRef::source_hop`]).
    #[inline]
    pub fn source6(&self, i: u32) -> Option<[u8; 16]> {
        match self.nexthop(i)?.addr? {
            IpAddr::V6(a) => Some(a.octets()),
            IpAddr::V4(_) => None,
        }
    }

    /// The table's slots, indexes and IPv4 filter, sliced once, for a
    /// worker to keep (see [`Lookups`]).
    #[inline]
    pub fn lookups(&self) -> Lookups<'_> {
        let r = &*self.region;
        let l = &r.layout;
        let slots = &r.words()[l.slots..l.slots + l.sizes.capacity as usize * SLOT_WORDS];
        Lookups {
            up: r.index(l.up),
            v4: r.index(l.v4),
            v6: r.index(l.v6),
            slots: slots.as_chunks::<SLOT_WORDS>().0,
            filter_v4: r.words()[l.filter..l.filter + FILTER_WORDS]
                .try_into()
                .expect("the filter is FILTER_WORDS long"),
        }
    }

    /// [`Lookups::may_hold_v4`] for a /64 (its first 8 octets): whether
    /// some subscriber's /64 may share its /32.
    #[inline(always)]
    pub fn may_hold_v6(&self, p: [u8; 8]) -> bool {
        let (w, b) = self.region.filter_bit(1, filter_v6(u64::from_be_bytes(p)));
        w.load(Ordering::Acquire) & b != 0
    }

    /// A next hop's Ethernet addresses alone, if lnsd has resolved it:
    /// the two words of its record that hold them, what a worker writes
    /// in every frame.
    #[inline]
    pub fn macs(&self, i: u32) -> Option<FwdHop> {
        let (seq, words) = self.region.nexthop_words(i)?;
        let w = seqlock::read::<Std, 2>(seq, words, READ_TRIES)?;
        NextHop::macs(&w)
    }

    /// [`Reader::macs`] through a worker's `cache`: the MACs kept from an
    /// earlier read while the record's sequence word says no write has
    /// happened since (a load and three compares a packet, where the read
    /// and the shuffle out of the record were some forty instructions),
    /// else read from the record and kept. A write by lnsd is seen by the
    /// next packet, as without the cache.
    #[inline(always)]
    pub fn macs_cached<'r>(&'r self, i: u32, cache: &mut HopCache<'r>) -> Option<FwdHop> {
        match cache.macs(i) {
            Some(m) => Some(FwdHop::from_header(m)),
            None => self.macs_refill(i, cache).map(|m| FwdHop::from_header(&m)),
        }
    }

    #[inline(never)]
    fn macs_refill<'r>(&'r self, i: u32, cache: &mut HopCache<'r>) -> Option<[u8; 12]> {
        let (seq, words) = self.region.nexthop_words(i)?;
        // Loaded before the words: a write after this load changes the
        // sequence, so a hit can never return older MACs than a write the
        // worker could have seen.
        let at = seq.load(Ordering::Acquire);
        let mut w = [0; 2];
        if at & 1 == 1 || !seqlock::try_read_into::<Std, 2>(seq, words, |k, x| w[k] = x) {
            // A write in progress: read as without the cache, keep nothing.
            return self.macs(i).map(|h| h.header());
        }
        let macs = NextHop::macs(&w)?.header();
        cache.entries[i as usize % HOP_CACHE_ENTRIES] = HopEntry {
            index: i,
            seq: Some(seq),
            at,
            macs,
        };
        Some(macs)
    }

    /// The next Ns for a sequenced session (RFC 2661 §5.4: per session),
    /// taken: the workers and lnsd share one sequence per session.
    /// `None`: the session has left the table since it was found (its
    /// frame must not go out with a number of somebody else's sequence).
    #[inline]
    pub fn next_ns(&self, slot: u32, generation: u64) -> Option<u16> {
        self.region.take_ns(slot, generation)
    }

    /// Worker `w`'s counter block.
    pub fn worker(&self, w: u32) -> Option<WorkerBlock<'_>> {
        self.region.worker(w)
    }

    /// What the data plane last wrote in the header.
    pub fn status(&self) -> ReaderStatus {
        self.region.reader_status()
    }

    /// Publishes the XDP program's verdict counters for lnsd.
    pub fn publish_verdicts(&self, v: &[u64]) {
        for (i, x) in v.iter().take(hdr::VERDICT_SLOTS).enumerate() {
            self.region
                .hdr(hdr::VERDICTS + i)
                .store(*x, Ordering::Relaxed);
        }
    }

    /// The switched journal's changes from position `tail` on, in order;
    /// returns the position to continue from. [`Overrun`] when entries
    /// from `tail` on were already written over (the caller fell more than
    /// [`JOURNAL_ENTRIES`] behind): changes were lost, and only a rebuild
    /// from [`Reader::switched_keys`] is right. Changes handed to `f`
    /// before an overrun was seen are true but incomplete.
    pub fn switched_changes(
        &self,
        tail: u64,
        mut f: impl FnMut(SwitchedChange),
    ) -> Result<u64, Overrun> {
        let r = &*self.region;
        let head = r.hdr(hdr::JOURNAL_HEAD).load(Ordering::Acquire);
        if head < tail || head - tail > JOURNAL_ENTRIES as u64 {
            return Err(Overrun);
        }
        for pos in tail..head {
            let e = r.journal_word(pos).load(Ordering::Acquire);
            // Written over since the head was read: lnsd lapped us.
            f(SwitchedChange::decode(e, pos).ok_or(Overrun)?);
        }
        Ok(head)
    }

    /// Every switched key in the table, by a scan of every slot, with the
    /// journal position read before the scan began: following the journal
    /// from there replays whatever changed while it ran (lnsd journals
    /// every write of a switched slot, so one the scan missed mid-write
    /// comes back as `Added`). For start-up and overruns, not per packet:
    /// it reads the whole table.
    pub fn switched_keys(&self) -> (u64, Vec<u32>) {
        let r = &*self.region;
        let head = r.hdr(hdr::JOURNAL_HEAD).load(Ordering::Acquire);
        let keys = (0..r.layout.sizes.capacity)
            .filter_map(|slot| r.read_session(slot))
            .filter(|(_, s)| s.switched.is_some())
            .map(|(_, s)| s.key() as u32)
            .collect();
        (head, keys)
    }

    /// Publishes, for lnsd, how many switched keys the XDP program's map
    /// holds and how many full rebuilds an overrun of the journal cost.
    pub fn publish_switched(&self, keys: u64, rebuilds: u64) {
        let r = &*self.region;
        r.hdr(hdr::READER_SWITCHED_KEYS)
            .store(keys, Ordering::Relaxed);
        r.hdr(hdr::READER_SWITCHED_REBUILDS)
            .store(rebuilds, Ordering::Relaxed);
    }

    /// Tells lnsd the data plane is alive (called once per second or so).
    pub fn heartbeat(&self, mode: u64) {
        let h = self.region.hdr(hdr::READER_HEARTBEAT);
        h.store(h.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.region
            .hdr(hdr::READER_MODE)
            .store(mode, Ordering::Relaxed);
    }
}

/// A change to the set of switched keys (`tunnel << 16 | session`, our
/// ids on the leg the slot receives from), as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchedChange {
    /// A switched slot with this key was written (inserted, or rewritten:
    /// adding a key already present is a no-op for the follower).
    Added(u32),
    /// The switched slot with this key left (removed, turned terminated,
    /// or moved to another key).
    Removed(u32),
}

impl SwitchedChange {
    /// `tag << 33 | removed << 32 | key`, the tag being the position's
    /// low bits.
    fn encode(self, pos: u64) -> u64 {
        let (removed, key) = match self {
            SwitchedChange::Added(k) => (0, k),
            SwitchedChange::Removed(k) => (1, k),
        };
        (pos & ((1 << JOURNAL_TAG_BITS) - 1)) << 33 | removed << 32 | u64::from(key)
    }

    /// The change at `pos`, or `None` if the word holds another position's.
    fn decode(e: u64, pos: u64) -> Option<SwitchedChange> {
        if e >> 33 != pos & ((1 << JOURNAL_TAG_BITS) - 1) {
            return None;
        }
        let key = e as u32;
        Some(if e & (1 << 32) != 0 {
            SwitchedChange::Removed(key)
        } else {
            SwitchedChange::Added(key)
        })
    }
}

/// The switched journal moved on more than [`JOURNAL_ENTRIES`] past a
/// follower's tail: rebuild from [`Reader::switched_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun;

/// What the writer remembers of each slot, to find and retire its keys
/// without reading the shared words back.
#[derive(Debug, Clone, Copy)]
struct Keys {
    generation: u64,
    up: u64,
    v4: Option<u64>,
    v6: Option<u64>,
    /// Its delegated prefix (first 8 octets, length).
    pd: Option<(u64, u8)>,
    switched: bool,
}

/// The mask of a prefix `len` bits long over the first 8 octets.
#[inline]
pub fn prefix_mask(len: u8) -> u64 {
    match len {
        0 => 0,
        l if l >= 64 => u64::MAX,
        l => !(u64::MAX >> l),
    }
}

/// The slot a session with up key `key` ([`up_key`]) is placed in when
/// it is free, and where a worker looks for it first: taken from the
/// key's [`index::hash`] (its high half, the index's tag, scaled to the
/// capacity with a multiply), so the worker has it from the hash it
/// computes anyway. Not a promise: the session may be elsewhere (see the
/// module documentation).
#[inline(always)]
pub fn home_slot(hash: u64, capacity: usize) -> u32 {
    (((hash >> 32) * capacity as u64) >> 32) as u32
}

/// [`home_slot`] of the session with our ids `tunnel` and `session` in a
/// table of `capacity` slots.
pub fn home_slot_of(tunnel: u16, session: u16, capacity: u32) -> u32 {
    home_slot(index::hash(up_key(tunnel, session)), capacity as usize)
}

/// lnsd's answer to "may this call have these ids" ([`HomeClaims::claim`]):
/// yes when the ids' [`home_slot`] holds no session and no call set up
/// lately was told yes for it. A call's ids are handed out at its setup
/// (ICRP, RFC 2661 §4.4.4) and its session written to the table only
/// once PPP is up, a second or more later; without the claims, calls set
/// up together (a LAC's reboot brings them all back at once) were given
/// ids with one home, and all but one landed away from it (one in forty
/// with a hundred calls at once in a table of 4,096).
///
/// A claim is held for one to two [`HomeClaims::HOLD`]s (two bitmaps of
/// a bit a slot, the older cleared as the newer starts), longer than a
/// call's setup takes: bounded memory (a bit a slot each), nothing to
/// release when a call fails. A claim that lapses only costs placement,
/// never correctness: a session away from home is found through the
/// index.
pub struct HomeClaims {
    reader: Reader,
    /// This period's claims and the last one's.
    claims: [Vec<u64>; 2],
    since: Option<std::time::Instant>,
}

impl std::fmt::Debug for HomeClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeClaims")
            .field("slots", &self.reader.sizes().capacity)
            .field("since", &self.since)
            .finish()
    }
}

impl HomeClaims {
    /// How long a period of claims lasts.
    pub const HOLD: std::time::Duration = std::time::Duration::from_secs(30);

    /// Claims on `reader`'s table.
    pub fn new(reader: Reader) -> HomeClaims {
        let words = (reader.sizes().capacity as usize).div_ceil(64);
        HomeClaims {
            reader,
            claims: [vec![0; words], vec![0; words]],
            since: None,
        }
    }

    /// Whether a call may have our ids `tunnel` and `session` (their home
    /// slot free and unclaimed); yes claims it, as of `now`.
    pub fn claim(&mut self, tunnel: u16, session: u16, now: std::time::Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) >= Self::HOLD {
            // A period on: the older claims go.
            self.claims.swap(0, 1);
            self.claims[0].fill(0);
            self.since = Some(now);
        }
        let slot = home_slot_of(tunnel, session, self.reader.sizes().capacity);
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if self.claims.iter().any(|c| c[word] & bit != 0) || !self.reader.holds_no_session(slot) {
            return false;
        }
        self.claims[0][word] |= bit;
        true
    }
}

/// The free slots: any one in O(1) ([`FreeSlots::pop`]), or a given one
/// ([`FreeSlots::take`]), for a session whose home slot is free.
struct FreeSlots {
    free: Vec<u32>,
    /// Each slot's place in `free`; [`FreeSlots::TAKEN`] if in use.
    at: Vec<u32>,
}

impl FreeSlots {
    const TAKEN: u32 = u32::MAX;

    fn new(cap: u32) -> FreeSlots {
        // Popped from the end: slot 0 first.
        FreeSlots {
            free: (0..cap).rev().collect(),
            at: (0..cap).map(|s| cap - 1 - s).collect(),
        }
    }

    fn pop(&mut self) -> Option<u32> {
        let s = self.free.pop()?;
        self.at[s as usize] = Self::TAKEN;
        Some(s)
    }

    /// Takes `slot` if it is free.
    fn take(&mut self, slot: u32) -> bool {
        let Some(&i) = self.at.get(slot as usize) else {
            return false;
        };
        if i == Self::TAKEN {
            return false;
        }
        self.free.swap_remove(i as usize);
        if let Some(&moved) = self.free.get(i as usize) {
            self.at[moved as usize] = i;
        }
        self.at[slot as usize] = Self::TAKEN;
        true
    }

    fn push(&mut self, slot: u32) {
        self.at[slot as usize] = self.free.len() as u32;
        self.free.push(slot);
    }
}

/// The write side: lnsd's. One per table (`&mut self` serialises writes).
pub struct Writer {
    region: Arc<Region>,
    path: Option<PathBuf>,
    keys: Vec<Option<Keys>>,
    free: FreeSlots,
    /// Sessions in their [`home_slot`].
    at_home: usize,
    by_up: HashMap<u64, u32>,
    by_v4: HashMap<u64, u32>,
    by_v6: HashMap<u64, u32>,
    /// Delegated prefixes (first 8 octets, length).
    by_pd: HashMap<(u64, u8), u32>,
    /// Delegated prefixes in the table per length.
    pd_lengths: [u32; 65],
    /// Subscribers per filter bit, each family (see [`Lookups::may_hold_v4`]).
    filter_counts: Vec<u32>,
    generation: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("sizes", &self.region.layout.sizes)
            .field("live", &self.len())
            .finish()
    }
}

/// Writer: one more subscriber under filter bit `bit` of family `fam`;
/// the bit is set with the first (before its index entry is written).
fn filter_add(r: &Region, counts: &mut [u32], fam: usize, bit: usize) {
    let c = &mut counts[fam * FILTER_BITS + bit];
    *c += 1;
    if *c == 1 {
        let (w, b) = r.filter_bit(fam, bit);
        w.fetch_or(b, Ordering::Release);
    }
}

/// Writer: one subscriber fewer; the bit is cleared with the last (after
/// its index entry is gone).
fn filter_remove(r: &Region, counts: &mut [u32], fam: usize, bit: usize) {
    let c = &mut counts[fam * FILTER_BITS + bit];
    *c = c.saturating_sub(1);
    if *c == 0 {
        let (w, b) = r.filter_bit(fam, bit);
        w.fetch_and(!b, Ordering::Release);
    }
}

/// A session's place in the table, as lnsd holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotId {
    /// The slot.
    pub slot: u32,
    /// The generation it was written with.
    pub generation: u64,
}

/// The two slots of a switched session ([`Writer::insert_switched`]).
///
/// Each slot's Ns word is the sequence of the leg it *sends* on: a data
/// message lnsd itself sends on leg B takes its Ns from
/// `Writer::next_ns(ids.a)`, one on leg A from `Writer::next_ns(ids.b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwitchedIds {
    /// The slot receiving on leg A (from the LAC), sending on leg B. Its
    /// counters ([`Writer::counters`]) count the frames from leg A.
    pub a: SlotId,
    /// The slot receiving on leg B (from the target LNS), sending on A.
    pub b: SlotId,
}

/// What a switched session's removal hands back, per leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwitchedEnd {
    /// Frames received on leg A: `up_packets`/`up_bytes` switched onto
    /// leg B (bytes of the PPP frame), `drops` dropped; `down_*` are 0.
    pub from_a: SessionCounters,
    /// The same for frames received on leg B.
    pub from_b: SessionCounters,
    /// The Ns our next data message on leg A would have carried.
    pub next_ns_a: u16,
    /// The Ns our next data message on leg B would have carried.
    pub next_ns_b: u16,
}

impl Writer {
    fn check(sizes: Sizes) -> Result<Layout, TableError> {
        if sizes.capacity == 0 || sizes.capacity > MAX_CAPACITY {
            return Err(TableError::Size(format!(
                "table capacity {} out of range 1..={MAX_CAPACITY}",
                sizes.capacity
            )));
        }
        if sizes.workers == 0 || sizes.workers > 256 {
            return Err(TableError::Size(format!(
                "{} workers out of range 1..=256",
                sizes.workers
            )));
        }
        Ok(Layout::new(sizes))
    }

    /// Creates (or replaces) the table file at `path`. The file is sparse:
    /// memory is committed as slots are used.
    pub fn create(path: &Path, sizes: Sizes) -> Result<Writer, TableError> {
        let layout = Self::check(sizes)?;
        let io = |e| TableError::Io(path.to_path_buf(), e);
        // A new inode, so a data plane still mapping an old table keeps
        // its (now orphaned) copy instead of seeing this one half-built.
        let _ = std::fs::remove_file(path);
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        file.set_len(file_len(path, layout.total * 8) as u64)
            .map_err(io)?;
        // SAFETY: the file was just created by us; see `Region::words` for
        // why sharing it with the data plane is sound.
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(io)?;
        // Huge pages where the file system gives them (tmpfs with
        // `shmem_enabled` at advise or above; a hugetlbfs file is on them
        // already); `huge_page_bytes` says what came of it.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self::init(map, layout, Some(path.to_path_buf())))
    }

    /// A table in this process's anonymous memory on `pages` (benchmarks:
    /// the same table on 2 MiB and on 4 KiB pages). Huge pages are asked
    /// of the kernel (transparent huge pages, `madvise`); whether it gave
    /// them is [`Writer::huge_page_bytes`].
    pub fn heap_on(sizes: Sizes, pages: Pages) -> Result<Writer, TableError> {
        let layout = Self::check(sizes)?;
        let map = anonymous(&layout)?;
        let advice = match pages {
            Pages::Huge => memmap2::Advice::HugePage,
            Pages::Small => memmap2::Advice::NoHugePage,
        };
        // Advice the kernel cannot take leaves the table on small pages,
        // which `huge_page_bytes` reports.
        let _ = map.advise(advice);
        Ok(Self::init(map, layout, None))
    }

    /// How much of the table the kernel has on huge pages now (2 MiB
    /// transparent, or hugetlbfs), from `/proc/self/smaps`; `None` when
    /// smaps cannot be read.
    pub fn huge_page_bytes(&self) -> Option<u64> {
        huge_bytes_of(self.region.map.as_ptr() as usize)
    }

    /// A table in this process's memory (tests, benchmarks): an
    /// anonymous mapping, page-aligned as a file's is, so its slots and
    /// counters start on cache lines as they do in lnsd's table (a heap
    /// allocation of this size sits 16 bytes into its pages).
    pub fn heap(sizes: Sizes) -> Result<Writer, TableError> {
        let layout = Self::check(sizes)?;
        Ok(Self::init(anonymous(&layout)?, layout, None))
    }

    fn init(map: memmap2::MmapMut, layout: Layout, path: Option<PathBuf>) -> Writer {
        let region = Region::new(map, layout);
        let set = |i, v| region.hdr(i).store(v, Ordering::Relaxed);
        set(hdr::MAGIC, MAGIC);
        set(hdr::VERSION, ABI_VERSION);
        set(hdr::CAPACITY, u64::from(layout.sizes.capacity));
        set(hdr::WORKERS, u64::from(layout.sizes.workers));
        set(hdr::NEXTHOPS, u64::from(NEXTHOPS));
        set(hdr::TOTAL_WORDS, layout.total as u64);
        set(hdr::SHAPE, shape());
        set(hdr::WRITER_PID, u64::from(std::process::id()));
        region.hdr(hdr::READY).store(1, Ordering::Release);
        let cap = layout.sizes.capacity;
        Writer {
            region: Arc::new(region),
            path,
            keys: vec![None; cap as usize],
            free: FreeSlots::new(cap),
            at_home: 0,
            by_up: HashMap::new(),
            by_v4: HashMap::new(),
            by_v6: HashMap::new(),
            by_pd: HashMap::new(),
            pd_lengths: [0; 65],
            filter_counts: vec![0; 2 * FILTER_BITS],
            generation: 0,
        }
    }

    /// A reader of this table in this process.
    pub fn reader(&self) -> Reader {
        Reader {
            region: self.region.clone(),
        }
    }

    /// The table's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        (self.region.layout.total * 8) as u64
    }

    /// The file, if the table is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Sessions in the table.
    pub fn len(&self) -> usize {
        self.by_up.len()
    }

    /// Whether the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.by_up.is_empty()
    }

    /// The sizes the table was made with.
    pub fn sizes(&self) -> Sizes {
        self.region.layout.sizes
    }

    /// Adds a session; the workers find it from the moment this returns.
    pub fn insert(&mut self, s: &Session) -> Result<SlotId, TableError> {
        self.insert_at_ns(s, 0)
    }

    /// Adds a session whose data messages lnsd already numbered: the
    /// workers go on from `next_ns` (RFC 2661 §5.4: one Ns sequence per
    /// session, whoever sends; a gap or a restart from 0 makes a LAC
    /// that checks sequence numbers discard frames). The Ns word lives in
    /// the table file, so a restarted data plane keeps counting.
    pub fn insert_at_ns(&mut self, s: &Session, next_ns: u16) -> Result<SlotId, TableError> {
        s.check().map_err(TableError::Invalid)?;
        let up = s.key();
        let v4 = s.ipv4.map(|a| u64::from(a.to_bits()));
        let v6 = s.ipv6_prefix.map(u64::from_be_bytes);
        if self.by_up.contains_key(&up) {
            return Err(TableError::Duplicate("tunnel and session id"));
        }
        if v4.is_some_and(|k| self.by_v4.contains_key(&k)) {
            return Err(TableError::Duplicate("IPv4 address"));
        }
        if v6.is_some_and(|k| self.by_v6.contains_key(&k)) {
            return Err(TableError::Duplicate("IPv6 prefix"));
        }
        let home = self.home(up);
        let slot = if self.free.take(home) {
            self.at_home += 1;
            home
        } else {
            self.free.pop().ok_or(TableError::Full)?
        };
        self.generation += 1;
        let generation = self.generation;
        let r = &*self.region;
        if let Some(w) = r.ns_word(slot) {
            w.store((generation << 16) | u64::from(next_ns), Ordering::Relaxed);
        }
        let (seq, words) = r.slot(slot);
        seqlock::write::<Std>(seq, words, &s.encode(generation));
        // Indexes after the slot: a reader that finds the bucket finds the
        // session (index.rs).
        r.index(r.layout.up).insert(up, slot);
        self.by_up.insert(up, slot);
        if let Some(k) = v4 {
            filter_add(r, &mut self.filter_counts, 0, filter_v4(k));
            r.index(r.layout.v4).insert(k, slot);
            self.by_v4.insert(k, slot);
        }
        if let Some(k) = v6 {
            filter_add(r, &mut self.filter_counts, 1, filter_v6(k));
            r.index(r.layout.v6).insert(k, slot);
            self.by_v6.insert(k, slot);
        }
        self.keys[slot as usize] = Some(Keys {
            generation,
            up,
            v4,
            v6,
            pd: None,
            switched: s.switched.is_some(),
        });
        if s.switched.is_some() {
            // After the slot and its index: a frame the XDP program steers
            // because of this entry finds the slot.
            r.journal(SwitchedChange::Added(up as u32));
        }
        r.hdr(hdr::LIVE)
            .store(self.by_up.len() as u64, Ordering::Relaxed);
        Ok(SlotId { slot, generation })
    }

    /// Adds a switched session: the slot receiving on leg `a` and the one
    /// receiving on leg `b` (see [`Session::switched_pair`]), both or
    /// neither. Each slot's Ns word continues the sequence of the leg it
    /// sends on (`b.next_ns` for the slot receiving on `a`, and the other
    /// way round). The workers switch from the moment this returns; the
    /// data plane steers the legs' non-IP frames to them within its
    /// journal polling interval (until then those reach lnsd).
    pub fn insert_switched(&mut self, a: &Leg, b: &Leg) -> Result<SwitchedIds, TableError> {
        let (sa, sb) = Session::switched_pair(a, b);
        if sa.key() == sb.key() {
            return Err(TableError::Duplicate("tunnel and session id"));
        }
        let ia = self.insert_at_ns(&sa, b.next_ns)?;
        match self.insert_at_ns(&sb, a.next_ns) {
            Ok(ib) => Ok(SwitchedIds { a: ia, b: ib }),
            Err(e) => {
                self.remove(ia);
                Err(e)
            }
        }
    }

    /// Rewrites both slots of a switched session (a peer's port, a leg's
    /// sequencing, next hop or interface changed). Each slot is replaced
    /// whole, one after the other; `next_ns` is not used (the Ns words go
    /// on). Our ids on each leg may not change.
    pub fn update_switched(
        &mut self,
        ids: SwitchedIds,
        a: &Leg,
        b: &Leg,
    ) -> Result<(), TableError> {
        let (sa, sb) = Session::switched_pair(a, b);
        let same = |id: SlotId, s: &Session| {
            self.keys
                .get(id.slot as usize)
                .copied()
                .flatten()
                .is_some_and(|k| k.generation == id.generation && k.up == s.key() && k.switched)
        };
        if !same(ids.a, &sa) || !same(ids.b, &sb) {
            return Err(TableError::Invalid("not this switched session's slots"));
        }
        self.update(ids.a, &sa)?;
        self.update(ids.b, &sb)
    }

    /// Removes both slots of a switched session; `None` (and nothing
    /// removed) unless both are live.
    pub fn remove_switched(&mut self, ids: SwitchedIds) -> Option<SwitchedEnd> {
        if !self.live(ids.a) || !self.live(ids.b) {
            return None;
        }
        // Each slot's Ns word is the sequence of the leg it sends on.
        let (from_a, next_ns_b) = self.remove_taking_ns(ids.a)?;
        let (from_b, next_ns_a) = self.remove_taking_ns(ids.b)?;
        Some(SwitchedEnd {
            from_a,
            from_b,
            next_ns_a,
            next_ns_b,
        })
    }

    /// Rewrites a session in place (new MRU, addresses, LAC port, template).
    /// Workers see the old record or the new one, never a mix; keys that
    /// change move in the indexes, and keys it keeps stay findable
    /// throughout.
    pub fn update(&mut self, id: SlotId, s: &Session) -> Result<(), TableError> {
        s.check().map_err(TableError::Invalid)?;
        let old = self
            .keys
            .get(id.slot as usize)
            .copied()
            .flatten()
            .filter(|k| k.generation == id.generation)
            .ok_or_else(|| TableError::Size(format!("no session in slot {}", id.slot)))?;
        let new = Keys {
            generation: id.generation,
            up: s.key(),
            v4: s.ipv4.map(|a| u64::from(a.to_bits())),
            v6: s.ipv6_prefix.map(u64::from_be_bytes),
            // An update keeps the delegated prefix (set_delegated's).
            pd: old.pd,
            switched: s.switched.is_some(),
        };
        let taken = |m: &HashMap<u64, u32>, k: Option<u64>| {
            k.and_then(|k| m.get(&k)).is_some_and(|&o| o != id.slot)
        };
        if taken(&self.by_up, Some(new.up)) {
            return Err(TableError::Duplicate("tunnel and session id"));
        }
        if taken(&self.by_v4, new.v4) {
            return Err(TableError::Duplicate("IPv4 address"));
        }
        if taken(&self.by_v6, new.v6) {
            return Err(TableError::Duplicate("IPv6 prefix"));
        }
        let r = &*self.region;
        let slot = id.slot;
        let moves = [
            (r.layout.up, Some(old.up), Some(new.up), &mut self.by_up),
            (r.layout.v4, old.v4, new.v4, &mut self.by_v4),
            (r.layout.v6, old.v6, new.v6, &mut self.by_v6),
        ];
        let mut adds = Vec::new();
        let mut filter_moves = Vec::new();
        for (fam, (at, o, n, map)) in moves.into_iter().enumerate() {
            if o == n {
                continue;
            }
            // The filter bits of the address indexes (1: IPv4, 2: IPv6).
            let bit = |k: u64| match fam {
                1 => Some((0, filter_v4(k))),
                2 => Some((1, filter_v6(k))),
                _ => None,
            };
            if let Some(o) = o {
                r.index(at).remove(o, slot);
                map.remove(&o);
                filter_moves.extend(bit(o).map(|b| (b, false)));
            }
            if let Some(n) = n {
                map.insert(n, slot);
                adds.push((at, n));
                filter_moves.extend(bit(n).map(|b| (b, true)));
            }
        }
        let (seq, words) = r.slot(slot);
        seqlock::write::<Std>(seq, words, &s.encode(id.generation));
        // A bit is set before the index entry it covers and cleared after
        // the entry is gone: a worker never skips a session in the index.
        for &((fam, bit), add) in &filter_moves {
            if add {
                filter_add(r, &mut self.filter_counts, fam, bit);
            }
        }
        for (at, n) in adds {
            r.index(at).insert(n, slot);
        }
        for &((fam, bit), add) in &filter_moves {
            if !add {
                filter_remove(r, &mut self.filter_counts, fam, bit);
            }
        }
        if old.switched && (!new.switched || old.up != new.up) {
            r.journal(SwitchedChange::Removed(old.up as u32));
        }
        // Every rewrite of a switched slot, not only a new key: a rebuild
        // scan that met this slot mid-write missed it, and this entry,
        // after the scan's starting point, puts it back.
        if new.switched {
            r.journal(SwitchedChange::Added(new.up as u32));
        }
        if old.up != new.up {
            let (was, is) = (self.home(old.up) == slot, self.home(new.up) == slot);
            self.at_home = self.at_home + usize::from(is) - usize::from(was);
        }
        self.keys[slot as usize] = Some(new);
        Ok(())
    }

    /// Removes a session and retires its Ns word; returns the Ns its next
    /// data message would have carried (lnsd goes on from there when the
    /// session returns to it), with [`Writer::remove`]'s counters.
    /// Retiring swaps the word, so a worker still holding the session
    /// takes no number after this one: it drops its frame instead.
    pub fn remove_taking_ns(&mut self, id: SlotId) -> Option<(SessionCounters, u16)> {
        let counters = self.remove(id)?;
        let w = self.region.ns_word(id.slot)?;
        let last = w.swap(0, Ordering::Relaxed);
        let ns = if last >> 16 == id.generation & 0xffff_ffff_ffff {
            last as u16
        } else {
            0
        };
        Some((counters, ns))
    }

    /// Removes a session; returns its final counters, summed over the
    /// workers. Unknown or stale ids are `None`.
    pub fn remove(&mut self, id: SlotId) -> Option<SessionCounters> {
        let k = (*self.keys.get(id.slot as usize)?)?;
        if k.generation != id.generation {
            return None;
        }
        let r = &*self.region;
        // Indexes first, then the slot (index.rs).
        r.index(r.layout.up).remove(k.up, id.slot);
        self.by_up.remove(&k.up);
        if let Some(x) = k.v4 {
            r.index(r.layout.v4).remove(x, id.slot);
            self.by_v4.remove(&x);
            filter_remove(r, &mut self.filter_counts, 0, filter_v4(x));
        }
        if let Some(x) = k.v6 {
            r.index(r.layout.v6).remove(x, id.slot);
            self.by_v6.remove(&x);
            filter_remove(r, &mut self.filter_counts, 1, filter_v6(x));
        }
        self.retire_delegated(id.slot, k.pd);
        let r = &*self.region;
        let (seq, words) = r.slot(id.slot);
        seqlock::write::<Std>(seq, words, &[0; SESSION_WORDS]);
        if k.switched {
            r.journal(SwitchedChange::Removed(k.up as u32));
        }
        self.keys[id.slot as usize] = None;
        self.free.push(id.slot);
        self.at_home -= usize::from(self.home(k.up) == id.slot);
        r.hdr(hdr::LIVE)
            .store(self.by_up.len() as u64, Ordering::Relaxed);
        Some(self.counters(id))
    }

    /// Routes delegated prefix `pd` (DHCPv6 IA_PD: its first 8 octets
    /// and its length, 1 to 64) to session `id`, or none: downstream
    /// packets to it reach the session, and upstream ones from it pass
    /// the spoof check. Refused for a session that is not live, a prefix
    /// another session holds, or a length out of range.
    pub fn set_delegated(
        &mut self,
        id: SlotId,
        pd: Option<([u8; 8], u8)>,
    ) -> Result<(), TableError> {
        let Some(Some(k)) = self.keys.get(id.slot as usize).copied() else {
            return Err(TableError::Invalid("no such session"));
        };
        if k.generation != id.generation {
            return Err(TableError::Invalid("no such session"));
        }
        let new = match pd {
            Some((p, len)) => {
                if !(1..=64).contains(&len) {
                    return Err(TableError::Invalid(
                        "a delegated prefix is 1 to 64 bits long",
                    ));
                }
                Some((u64::from_be_bytes(p) & prefix_mask(len), len))
            }
            None => None,
        };
        if new == k.pd {
            return Ok(());
        }
        if let Some(n) = new
            && self.by_pd.contains_key(&n)
        {
            return Err(TableError::Duplicate("delegated IPv6 prefix"));
        }
        self.retire_delegated(id.slot, k.pd);
        let r = &*self.region;
        if let (Some((head, len)), Some(w)) = (new, r.pd_words(id.slot)) {
            // The words, then the index (index.rs: a reader that finds the
            // bucket finds the prefix).
            w[0].store(head, Ordering::Relaxed);
            w[1].store(id.generation << 8 | u64::from(len), Ordering::Release);
            r.index(r.layout.pd_index).insert(head, id.slot);
            self.by_pd.insert((head, len), id.slot);
            self.pd_lengths[usize::from(len)] += 1;
            self.publish_pd_lengths();
        }
        if let Some(Some(k)) = self.keys.get_mut(id.slot as usize) {
            k.pd = new;
        }
        Ok(())
    }

    /// Takes `pd` of `slot` out of the index and the slot's words.
    fn retire_delegated(&mut self, slot: u32, pd: Option<(u64, u8)>) {
        let Some((head, len)) = pd else {
            return;
        };
        let r = &*self.region;
        r.index(r.layout.pd_index).remove(head, slot);
        if let Some(w) = r.pd_words(slot) {
            w[1].store(0, Ordering::Release);
        }
        self.by_pd.remove(&(head, len));
        let n = &mut self.pd_lengths[usize::from(len)];
        *n = n.saturating_sub(1);
        self.publish_pd_lengths();
    }

    fn publish_pd_lengths(&self) {
        let mask = (1..=64u8)
            .filter(|&l| self.pd_lengths[usize::from(l)] > 0)
            .fold(0u64, |m, l| m | 1 << (64 - l));
        self.region
            .hdr(hdr::PD_LENGTHS)
            .store(mask, Ordering::Relaxed);
    }

    /// Takes the next Ns of a session (lnsd's own PPP frames to a
    /// sequenced session, between the workers' frames); `None` if `id` is
    /// not live.
    pub fn next_ns(&self, id: SlotId) -> Option<u16> {
        if !self.live(id) {
            return None;
        }
        self.region.take_ns(id.slot, id.generation)
    }

    /// The record in slot `id`, read back (lnsd keeps no copy of what it
    /// wrote: a million sessions would each pay for it twice); `None` if
    /// `id` is not live.
    pub fn session(&self, id: SlotId) -> Option<Session> {
        if !self.live(id) {
            return None;
        }
        self.region
            .read_session(id.slot)
            .filter(|&(generation, _)| generation == id.generation)
            .map(|(_, s)| s)
    }

    /// The Ns the session's next data message will carry, not taken
    /// (read before [`Writer::remove`] so lnsd continues the sequence).
    pub fn peek_ns(&self, id: SlotId) -> Option<u16> {
        self.live(id)
            .then(|| self.region.peek_ns(id.slot, id.generation))
    }

    fn live(&self, id: SlotId) -> bool {
        self.keys
            .get(id.slot as usize)
            .copied()
            .flatten()
            .is_some_and(|k| k.generation == id.generation)
    }

    /// A session's counters so far, summed over the workers. For a
    /// switched slot they count the frames it received (see
    /// [`SwitchedEnd`]): a switched session's two directions are its two
    /// slots' `up_*`.
    pub fn counters(&self, id: SlotId) -> SessionCounters {
        let mut sum = SessionCounters::default();
        for w in 0..self.region.layout.sizes.workers {
            if let Some(b) = self.region.worker(w) {
                sum += b.session_counters(id.slot, id.generation);
            }
        }
        sum
    }

    /// Worker `w`'s counter block (for lnsd's statistics).
    pub fn worker(&self, w: u32) -> Option<WorkerBlock<'_>> {
        self.region.worker(w)
    }

    /// Sets next hop `i` (see [`CORE_V4`], [`CORE_V6`]).
    pub fn set_nexthop(&mut self, i: u32, nh: &NextHop) -> Result<(), TableError> {
        let (seq, words) = self
            .region
            .nexthop_words(i)
            .ok_or_else(|| TableError::Size(format!("next hop {i} out of range")))?;
        seqlock::write::<Std>(seq, words, &nh.encode());
        Ok(())
    }

    /// The data plane's heartbeat count, its PID, how many times one has
    /// attached, and the attach mode it reported.
    pub fn reader_status(&self) -> ReaderStatus {
        self.region.reader_status()
    }

    /// The XDP verdict counters the data plane last published, in
    /// `loader::abi::Verdict` order.
    pub fn verdicts(&self) -> Vec<u64> {
        (0..crate::loader::abi::Verdict::ALL
            .len()
            .min(hdr::VERDICT_SLOTS))
            .map(|i| self.region.hdr(hdr::VERDICTS + i).load(Ordering::Relaxed))
            .collect()
    }

    /// The [`home_slot`] of up key `up` in this table.
    fn home(&self, up: u64) -> u32 {
        home_slot(index::hash(up), self.keys.len())
    }

    /// Sessions in their [`home_slot`], where a worker finds an upstream
    /// packet's session without the index (the rest cost it a look in
    /// the index, a memory latency at scale).
    pub fn at_home(&self) -> usize {
        self.at_home
    }

    /// Tombstones across the indexes (a scan: for diagnostics).
    pub fn tombstones(&self) -> usize {
        let r = &*self.region;
        [r.layout.up, r.layout.v4, r.layout.v6]
            .iter()
            .map(|&at| r.index(at).tombstones())
            .sum()
    }
}

/// What the data plane last wrote in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStatus {
    /// Its PID.
    pub pid: u32,
    /// How many times a data plane attached to this table.
    pub attaches: u64,
    /// Ticks once a second while it runs.
    pub heartbeat: u64,
    /// The attach mode it reported.
    pub mode: u64,
    /// Switched keys in its XDP program's map (see [`SwitchedChange`]).
    pub switched_keys: u64,
    /// Times it rebuilt that map by a full scan because it fell more than
    /// [`JOURNAL_ENTRIES`] behind the journal (the scan at start is not
    /// counted).
    pub switched_rebuilds: u64,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            // The data plane keeps its mapping; the name goes with lnsd.
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::drop::Drop;
    use counters::{Counter, LocalCounters};

    /// Every slot and every worker's counters for every session start on
    /// a cache line (one line a packet, not two), whatever the capacity
    /// and the number of workers.
    #[test]
    fn slots_and_session_counters_start_on_a_cache_line() {
        let line = |w: &AtomicU64| (w as *const AtomicU64 as usize) % 64;
        for capacity in [1, 3, 8, 9, 1001, 65_537] {
            for workers in 1..=3 {
                let w = Writer::heap(Sizes { capacity, workers }).unwrap();
                let r = w.reader();
                for slot in 0..capacity.min(20) {
                    let (seq, _) = r.region.slot(slot);
                    assert_eq!(line(seq), 0, "slot {slot} of {capacity}");
                    for k in 0..workers {
                        let b = r.worker(k).unwrap();
                        let c = &b.sessions[slot as usize * SESSION_COUNTER_WORDS];
                        assert_eq!(line(c), 0, "counters {slot}/{capacity}, worker {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn huge_pages_at_says_what_the_file_system_gives() {
        let knob = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
            .unwrap_or_default();
        let shmem_on = ["[always]", "[within_size]", "[advise]", "[force]"]
            .iter()
            .any(|w| knob.contains(w));
        match huge_pages_at(Path::new("/dev/shm/xlns-table")) {
            Ok(fs) => assert!(shmem_on && fs.starts_with("tmpfs"), "{fs} with {knob}"),
            Err(why) => assert!(!shmem_on && why.contains("shmem_enabled"), "{why}"),
        }
        let root = std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(1) == Some(&"/")).then(|| f[2].to_string())
            })
            .unwrap();
        if root != "tmpfs" && root != "hugetlbfs" {
            let why = huge_pages_at(Path::new("/xlns-table")).unwrap_err();
            assert!(why.contains(&root), "{why}");
        }
    }

    /// A flush skips runs of untouched words; every word touched, in any
    /// run, is published once and left at zero for the next batch.
    #[test]
    fn a_flush_publishes_every_counter_and_drop_it_was_given() {
        let w = Writer::heap(Sizes {
            capacity: 16,
            workers: 1,
        })
        .unwrap();
        let r = w.reader();
        let b = r.worker(0).unwrap();
        let mut local = LocalCounters::default();
        for (i, &c) in Counter::ALL.iter().enumerate() {
            // Every other counter, so some runs are partly untouched.
            if i % 2 == 0 {
                local.add(c, i as u64 + 1);
            }
        }
        for &d in Drop::ALL {
            local.drop(d);
        }
        b.flush(&mut local);
        b.flush(&mut local);
        for (i, &c) in Counter::ALL.iter().enumerate() {
            let want = if i % 2 == 0 { i as u64 + 1 } else { 0 };
            assert_eq!(b.get(c), want, "{}", c.name());
        }
        for &d in Drop::ALL {
            assert_eq!(b.drops(d), 1, "{}", d.name());
        }
    }

    #[test]
    fn anonymous_tables_on_either_page_size_work_and_say_what_they_got() {
        for pages in [Pages::Small, Pages::Huge] {
            let mut w = Writer::heap_on(
                Sizes {
                    capacity: 4096,
                    workers: 1,
                },
                pages,
            )
            .unwrap();
            let id = w.insert(&session(7, 1)).unwrap();
            let r = w.reader();
            assert_eq!(r.by_ids(1, 7).map(|f| f.slot), Some(id.slot));
            let huge = w.huge_page_bytes().expect("smaps is readable");
            assert!(huge <= w.size_bytes().next_multiple_of(2 << 20));
            if pages == Pages::Small {
                assert_eq!(huge, 0, "4 KiB pages asked");
            }
        }
        // A table for tests is a mapping too, smaller than a huge page.
        assert_eq!(
            Writer::heap(Sizes {
                capacity: 16,
                workers: 1
            })
            .unwrap()
            .huge_page_bytes(),
            Some(0)
        );
    }
    use crate::node::encap::{Outer, Template};

    #[test]
    fn the_address_filter_follows_every_write() {
        let mut w = Writer::heap(Sizes {
            capacity: 8,
            workers: 1,
        })
        .unwrap();
        let r = w.reader();
        let v4 = |a: [u8; 4]| r.lookups().may_hold_v4(Ipv4Addr::from(a));
        let p1 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 1];
        let p2 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 2];
        assert!(!v4([100, 64, 0, 1]) && !r.may_hold_v6(p1));
        let a = w.insert(&session(1, 0)).unwrap();
        let b = w
            .insert(&Session {
                ipv6_prefix: Some(p2),
                ..session(2, 0)
            })
            .unwrap();
        // 100.64.0.1 and .2 share a /16; 8.8.8.8 is nobody's.
        assert!(v4([100, 64, 0, 1]) && v4([100, 64, 200, 7]));
        assert!(!v4([8, 8, 8, 8]) && !v4([100, 65, 0, 1]));
        assert!(r.may_hold_v6(p1), "p1 shares p2's /32");
        assert!(!r.may_hold_v6([0x20, 1, 0xd, 0xb9, 0, 0, 0, 1]));
        // One of two gone: the /16 still has one.
        w.remove(a).unwrap();
        assert!(v4([100, 64, 0, 1]));
        // An address moved: the old /16 empties, the new one fills.
        let moved = Session {
            ipv4: Some(Ipv4Addr::new(10, 1, 2, 3)),
            ipv6_prefix: None,
            ..session(2, 0)
        };
        w.update(b, &moved).unwrap();
        assert!(!v4([100, 64, 0, 2]) && v4([10, 1, 0, 0]));
        assert!(!r.may_hold_v6(p2));
        w.remove(b).unwrap();
        assert!(!v4([10, 1, 2, 3]));
    }

    #[test]
    fn a_workers_cached_macs_follow_every_next_hop_write() {
        let mut w = Writer::heap(Sizes {
            capacity: 8,
            workers: 1,
        })
        .unwrap();
        let r = w.reader();
        let mut cache = HopCache::default();
        let hop = |d: u8| NextHop {
            dst_mac: [2, 0, 0, 0, 0, d],
            src_mac: [2, 0, 0, 0, 0, 1],
            addr: None,
        };
        let macs_of = |h: &NextHop| FwdHop {
            dst_mac: h.dst_mac,
            src_mac: h.src_mac,
        };
        let macs = |d: u8| macs_of(&hop(d));
        // What the express lanes copy into a frame's header, from the
        // cache alone: the same MACs, destination first, or nothing
        // (the general path's read above then fills the cache).
        type Macs = Option<([u8; 6], [u8; 6])>;
        fn written<'r>(r: &'r Reader, i: u32, cache: &mut HopCache<'r>) -> Macs {
            if cache.macs(i).is_none() {
                r.macs_cached(i, cache)?;
            }
            let eth = cache.macs(i).expect("held once read");
            Some((eth[..6].try_into().unwrap(), eth[6..].try_into().unwrap()))
        }
        let header = |h: FwdHop| Some((h.dst_mac, h.src_mac));
        // Not resolved yet: nothing, and nothing kept.
        assert_eq!(r.macs_cached(6, &mut cache), None);
        assert_eq!(written(&r, 6, &mut cache), None);
        w.set_nexthop(6, &hop(2)).unwrap();
        assert_eq!(r.macs_cached(6, &mut cache), Some(macs(2)));
        assert_eq!(r.macs_cached(6, &mut cache), Some(macs(2)));
        // A move seen by the very next read, through the cache.
        assert_eq!(written(&r, 6, &mut cache), header(macs(2)));
        w.set_nexthop(6, &hop(3)).unwrap();
        // The lanes' read from the cache alone never serves the old ones.
        assert_eq!(cache.macs(6), None);
        assert_eq!(written(&r, 6, &mut cache), header(macs(3)));
        assert_eq!(r.macs_cached(6, &mut cache), Some(macs(3)));
        // Another next hop in the same entry (10 % 4 == 6 % 4) evicts it,
        // and each still reads its own.
        w.set_nexthop(10, &hop(4)).unwrap();
        assert_eq!(r.macs_cached(10, &mut cache), Some(macs(4)));
        assert_eq!(r.macs_cached(6, &mut cache), Some(macs(3)));
        assert_eq!(written(&r, 10, &mut cache), header(macs(4)));
        w.set_nexthop(10, &hop(5)).unwrap();
        assert_eq!(written(&r, 10, &mut cache), header(macs(5)));
        assert_eq!(r.macs_cached(10, &mut cache), Some(macs(5)));
        // Whatever is written is what the next read gives.
        w.set_nexthop(10, &NextHop::default()).unwrap();
        assert_eq!(
            r.macs_cached(10, &mut cache),
            Some(macs_of(&NextHop::default()))
        );
        assert_eq!(r.macs_cached(NEXTHOPS, &mut cache), None);
        assert_eq!(written(&r, NEXTHOPS, &mut cache), None);
    }

    #[test]
    fn the_writer_reads_back_what_it_wrote_while_it_is_live() {
        let mut w = Writer::heap(Sizes {
            capacity: 8,
            workers: 1,
        })
        .unwrap();
        let a = w.insert(&session(1, 7)).unwrap();
        assert_eq!(w.session(a), Some(session(1, 7)));
        w.update(a, &session(1, 9)).unwrap();
        assert_eq!(w.session(a), Some(session(1, 9)));
        w.remove(a).unwrap();
        assert_eq!(w.session(a), None);
        // Its slot reused: the old id does not read the new session.
        let b = w.insert(&session(2, 7)).unwrap();
        assert_eq!(b.slot, a.slot);
        assert_eq!(w.session(a), None);
        assert_eq!(w.session(b), Some(session(2, 7)));
    }

    /// lnsd's pick of a session id ([`Reader::home_is_free`]) puts each
    /// session in its home slot while the table has room, and a worker
    /// finds those without the index (here wiped); a session whose home
    /// was taken is placed elsewhere and found through the index; the
    /// count of sessions at home follows inserts, moves and removals.
    #[test]
    fn sessions_live_where_their_ids_point_and_the_rest_are_indexed() {
        let cap = 1000;
        let mut w = Writer::heap(Sizes {
            capacity: cap,
            workers: 1,
        })
        .unwrap();
        let r = w.reader();
        let with = |t: u16, s: u16, i: u32| Session {
            tunnel: t,
            session: s,
            ipv4: Some(Ipv4Addr::from(0x6440_0000 + i)),
            ..session(1, 1)
        };
        let mut placed = Vec::new();
        for i in 0..700 {
            let t = 1 + (i % 7) as u16;
            let s = (1..=u16::MAX)
                .find(|&s| {
                    !placed.iter().any(|&(pt, ps, _)| (pt, ps) == (t, s)) && r.home_is_free(t, s)
                })
                .unwrap();
            let id = w.insert(&with(t, s, i)).unwrap();
            assert_eq!(id.slot, home_slot_of(t, s, cap), "session {i}");
            assert!(!r.home_is_free(t, s));
            placed.push((t, s, id));
        }
        assert_eq!(w.at_home(), 700);
        // Ids whose home is taken: the session goes elsewhere.
        let s = (1..=u16::MAX).find(|&s| !r.home_is_free(9, s)).unwrap();
        let away = w.insert(&with(9, s, 5000)).unwrap();
        assert_ne!(away.slot, home_slot_of(9, s, cap));
        assert_eq!(w.at_home(), 700);
        let look = r.lookups();
        assert_eq!(
            look.by_ids_up(9, s, None).map(|(slot, _)| slot),
            Some(away.slot)
        );
        assert_eq!(r.by_ids(9, s).map(|f| f.slot), Some(away.slot));
        // The index wiped: sessions at home are still found, from their
        // ids alone; the one away is not.
        r.region.index(r.region.layout.up).clear();
        for &(t, s, id) in &placed {
            let mut k = Some(Key::up(up_key(t, s)));
            let look = r.lookups();
            look.prefetch_bucket(k.unwrap());
            assert_eq!(look.prefetch_slot(k.as_mut().unwrap()), Some(id.slot));
            assert_eq!(look.by_ids_up(t, s, k).map(|(slot, _)| slot), Some(id.slot));
            assert_eq!(r.by_ids(t, s).map(|f| f.slot), Some(id.slot));
        }
        assert_eq!(look.by_ids_up(9, s, None), None);
        // Removing a session frees its home for the next pick.
        let (t0, s0, id0) = placed[0];
        w.remove(id0).unwrap();
        assert!(r.home_is_free(t0, s0));
        assert_eq!(w.at_home(), 699);
        // A session moved to other ids is no longer at home.
        let (t1, s1, id1) = placed[1];
        let to = (1..=u16::MAX)
            .find(|&s| home_slot_of(t1, s, cap) != id1.slot && r.by_ids(t1, s).is_none())
            .unwrap();
        w.update(id1, &with(t1, to, 1)).unwrap();
        assert_eq!(w.at_home(), 698);
        w.update(id1, &with(t1, s1, 1)).unwrap();
        assert_eq!(w.at_home(), 699);
    }

    /// Two calls set up at once are not told yes for one home slot; a
    /// slot with a session is no; a claim lapses after one to two
    /// periods (the call it was for failed, or was placed long ago).
    #[test]
    fn a_home_slot_is_claimed_for_one_call_at_a_time() {
        let cap = 64;
        let mut w = Writer::heap(Sizes {
            capacity: cap,
            workers: 1,
        })
        .unwrap();
        let mut claims = HomeClaims::new(w.reader());
        let t0 = std::time::Instant::now();
        let home = home_slot_of(1, 1, cap);
        let twin = (2..=u16::MAX)
            .find(|&s| home_slot_of(1, s, cap) == home)
            .unwrap();
        assert!(claims.claim(1, 1, t0));
        assert!(!claims.claim(1, twin, t0), "the same home, claimed");
        assert!(!claims.claim(1, 1, t0));
        // Still held into the next period; gone after it.
        let later = t0 + HomeClaims::HOLD;
        assert!(!claims.claim(1, twin, later));
        assert!(claims.claim(1, twin, later + HomeClaims::HOLD));
        // A session in its home: no, whoever asks, until it goes.
        let id = w
            .insert(&Session {
                tunnel: 2,
                session: 2,
                ..session(2, 1)
            })
            .unwrap();
        let end = later + 4 * HomeClaims::HOLD;
        let taken = (1..=u16::MAX)
            .find(|&s| home_slot_of(3, s, cap) == id.slot)
            .unwrap();
        assert!(!claims.claim(3, taken, end));
        w.remove(id).unwrap();
        assert!(claims.claim(3, taken, end));
    }

    fn session(n: u16, variant: u16) -> Session {
        Session {
            tunnel: 1,
            session: n,
            ipv4: Some(Ipv4Addr::new(100, 64, 0, n as u8)),
            ipv6_prefix: None,
            mru: 1500,
            peer: std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
            peer_port: variant,
            lac_nexthop: 2,
            template: Template::new(&Outer {
                dst_mac: [0; 6],
                src_mac: [0; 6],
                vlan: None,
                src: std::net::IpAddr::from(Ipv4Addr::LOCALHOST),
                src_port: 1701,
                dst: std::net::IpAddr::from(Ipv4Addr::LOCALHOST),
                dst_port: variant,
                tunnel: 1,
                session: n,
                sequencing: false,
            }),
            switched: None,
            rates: Default::default(),
        }
    }

    /// Small enough for miri (`cargo +nightly miri test -p lns-dataplane
    /// --lib table`), which checks the heap-backed table's threads for
    /// data races and undefined behaviour; the file-backed torture test in
    /// `tests/table.rs` is the same idea at scale.
    #[test]
    fn concurrent_rewrites_are_never_torn() {
        let mut w = Writer::heap(Sizes {
            capacity: 4,
            workers: 1,
        })
        .unwrap();
        let ids: Vec<_> = (0..4).map(|n| w.insert(&session(n, 0)).unwrap()).collect();
        let r = w.reader();
        let reader = std::thread::spawn(move || {
            for i in 0..200u16 {
                if let Some(f) = r.by_ids(1, i % 4) {
                    assert_eq!(
                        f.session().unwrap(),
                        session(i % 4, f.session().unwrap().peer_port)
                    );
                } else {
                    panic!("session {} missed", i % 4);
                }
            }
        });
        for v in 1..100u16 {
            let n = v % 4;
            w.update(ids[n as usize], &session(n, v)).unwrap();
        }
        reader.join().unwrap();
    }
}
