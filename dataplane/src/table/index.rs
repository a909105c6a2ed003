//! Lock-free lookup from a key to a slot: open addressing with linear
//! probing over atomic 32-bit buckets, one writer, many readers.
//!
//! A bucket is `tag | (slot + 1)`: the slot number plus one in its low
//! `slot_bits` (as few as the capacity needs), the high bits of the key's
//! hash above it; 0 is empty, [`TOMB`] a deleted entry (a slot field of
//! all ones, which no slot has). The tag skips most wrong buckets without
//! touching their slots (at a million slots, 11 bits: one wrong bucket in
//! 2,048 costs a slot read); the slot itself is still read and its key
//! compared, because the slot, not the bucket, is the truth (a slot reused
//! for another session while a reader probes is just a mismatch).
//!
//! Why 4 bytes, not 8: at a million sessions an index of 8-byte buckets
//! was 16 MiB, which the packets' other lines (their slots and counters,
//! hundreds of MiB) pushed out of a 32 MiB last-level cache, so every
//! look-up missed it; at 8 MiB more of them hit it, and a line holds 16
//! buckets, so a probe run crosses into the next line half as often.
//!
//! The writer publishes a bucket only after its slot is written and
//! retires it before the slot is cleared, so a reader that finds a bucket
//! reads either that session or a free slot. Deletion leaves a tombstone,
//! turned back into empty when the probe run ends right after it, so a
//! key's probe run is never cut short while it is in the table: a session
//! that is not being changed is always found.

use std::sync::atomic::{AtomicU32, Ordering};

/// A deleted entry.
pub const TOMB: u32 = u32::MAX;

/// How far past its home bucket a key's prefetch reaches
/// ([`Index::run_start`]).
const RUN_PREFETCH: usize = 2;

/// Buckets [`Index::likely_slot`] looks through: half a cache line's
/// worth (a probe run at the index's load is under one bucket on
/// average).
const HINT_PROBES: usize = 8;

/// The key's hash: one multiply by an odd constant (MurmurHash3's
/// `fmix64` first multiplier) and one shift-xor that brings the
/// product's high bits, which every key bit moves, down to the low ones
/// the home bucket is taken from ([`Index::home`]); the tag is the high
/// half. Keys as the table gets them (a tunnel's sessions in order, a
/// pool's addresses) sit in their home buckets as often as under a full
/// mixer such as splitmix64's finaliser (two multiplies, five
/// shift-xors), which every packet's key paid for
/// (`keys_in_sequence_spread_as_random_ones_do`).
///
/// The keys are ours (the ids we hand out, the pools' addresses and the
/// prefixes the operator gives), so a hash an attacker could aim at one
/// bucket does not matter here; a packet with made-up ids is a miss,
/// probed over runs the table's own keys made.
#[inline(always)]
pub fn hash(key: u64) -> u64 {
    let p = key.wrapping_mul(0xff51_afd7_ed55_8ccd);
    p ^ (p >> 29)
}

/// The bits of a bucket that hold the slot number plus one, for a table
/// of `capacity` slots: all ones is left over for [`TOMB`].
pub fn slot_bits(capacity: u32) -> u32 {
    u32::BITS - (capacity + 1).leading_zeros()
}

/// One index: a power-of-two run of buckets.
#[derive(Debug, Clone, Copy)]
pub struct Index<'a> {
    buckets: &'a [AtomicU32],
    /// The bucket's slot field ([`slot_bits`] ones).
    slots: u32,
}

impl<'a> Index<'a> {
    /// `buckets.len()` must be a power of two (the layout makes it one);
    /// its slots are numbered below `capacity` (at most 2^30).
    pub fn new(buckets: &'a [AtomicU32], capacity: u32) -> Index<'a> {
        debug_assert!(buckets.len().is_power_of_two());
        debug_assert!(capacity < 1 << 30);
        Index {
            buckets,
            slots: (1u32 << slot_bits(capacity)) - 1,
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The tag of a key hashing to `h`: its hash's high bits, where the
    /// slot field is not.
    #[inline(always)]
    fn tag(&self, h: u64) -> u32 {
        (h >> 32) as u32 & !self.slots
    }

    /// Probes for `key`; `check(slot)` reads the slot and answers whether
    /// it holds the key. The first `Some` wins.
    #[inline(always)]
    pub fn find<R>(&self, key: u64, check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        self.probe(hash(key), self.buckets.len(), check)
    }

    /// [`Index::find`] for a key whose [`hash`] is known to be `h`.
    #[inline(always)]
    pub fn find_hashed<R>(&self, h: u64, check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        self.probe(h, self.buckets.len(), check)
    }

    /// The probe run of a key hashing to `h`, for up to `limit` buckets:
    /// `check(slot)` on each bucket with the key's tag until one answers.
    #[inline(always)]
    fn probe<R>(&self, h: u64, limit: usize, mut check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        let tag = self.tag(h);
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        for _ in 0..limit {
            let e = self.buckets[i].load(Ordering::Acquire);
            if e == 0 {
                return None;
            }
            if e != TOMB
                && e & !self.slots == tag
                && let Some(r) = check((e & self.slots).wrapping_sub(1))
            {
                return Some(r);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The buckets to prefetch for a key whose [`hash`] is `h`: its home
    /// bucket (what [`Index::find`] reads first) and the one
    /// [`RUN_PREFETCH`] on, so that a probe run that starts near the end
    /// of a cache line finds the next line on its way too. At the index's
    /// load (under a half) about one key in thirty-four lies in the line
    /// after its home bucket's (16 buckets a line), and its packet's
    /// look-up, and the slot prefetch before it, then waited a whole
    /// memory latency for that line; two buckets on leaves one in 120
    /// (the rest mostly one line, the same, prefetched twice; four on
    /// would leave one in 300 but fetch a line for nothing for a quarter
    /// of the keys). With 8-byte buckets, against the home line alone at
    /// 1,000,000 sessions: 0 to 3 ns a packet less in the medians
    /// (`stages schedules`, `bench/results/2026-12-05-first-line.md`).
    #[inline(always)]
    pub fn run_start(&self, h: u64) -> [&AtomicU32; 2] {
        let i = h as usize;
        [
            &self.buckets[i & self.mask()],
            &self.buckets[(i + RUN_PREFETCH) & self.mask()],
        ]
    }

    /// The slot the first bucket of the probe run of a key hashing to `h`
    /// with the key's tag names: where a look-up of the key will most
    /// likely end (a hint, not an answer). The run is followed for up to
    /// [`HINT_PROBES`] buckets, as [`Index::find`] follows it: at the
    /// index's load (under a half) about a third of the keys are not in
    /// their home bucket, and a hint from the home bucket alone left
    /// their slots unprefetched, each a miss the packet then waited for.
    #[inline(always)]
    pub fn likely_slot(&self, h: u64) -> Option<u32> {
        self.probe(h, HINT_PROBES, Some)
    }

    /// The bucket of `key → slot`, for a key hashing to `h`.
    fn entry(&self, h: u64, slot: u32) -> u32 {
        self.tag(h) | (slot + 1)
    }

    /// Writer: adds `key → slot`. The slot must already hold the record.
    /// Returns false only if the index is full, which the layout's sizing
    /// (twice the slot count) rules out, or the slot's number does not
    /// fit the bucket's slot field (no slot of the capacity's).
    pub fn insert(&self, key: u64, slot: u32) -> bool {
        if slot >= self.slots - 1 {
            return false;
        }
        let h = hash(key);
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        for _ in 0..self.buckets.len() {
            let e = self.buckets[i].load(Ordering::Relaxed);
            if e == 0 || e == TOMB {
                let v = self.entry(h, slot);
                self.buckets[i].store(v, Ordering::Release);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Writer: retires `key → slot`; returns whether it was there.
    pub fn remove(&self, key: u64, slot: u32) -> bool {
        if slot >= self.slots - 1 {
            return false;
        }
        let h = hash(key);
        let want = self.entry(h, slot);
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        for _ in 0..self.buckets.len() {
            let e = self.buckets[i].load(Ordering::Relaxed);
            if e == 0 {
                return false;
            }
            if e == want {
                self.buckets[i].store(TOMB, Ordering::Release);
                self.sweep(i);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// If the run ends after `i`, the tombstones before it are dead weight:
    /// nothing can be found past an empty bucket, so they become empty,
    /// walking back until a live entry.
    fn sweep(&self, mut i: usize) {
        let mask = self.mask();
        if self.buckets[(i + 1) & mask].load(Ordering::Relaxed) != 0 {
            return;
        }
        while self.buckets[i].load(Ordering::Relaxed) == TOMB {
            self.buckets[i].store(0, Ordering::Release);
            i = i.wrapping_sub(1) & mask;
        }
    }

    /// Empties the index (tests: a look-up that must not need it).
    #[cfg(test)]
    pub(crate) fn clear(&self) {
        for b in self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// Tombstones now in the index (for operators; a scan, not a counter).
    pub fn tombstones(&self) -> usize {
        self.buckets
            .iter()
            .filter(|b| b.load(Ordering::Relaxed) == TOMB)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn buckets(n: usize) -> Vec<AtomicU32> {
        (0..n).map(|_| AtomicU32::new(0)).collect()
    }

    /// Whether bucket `e` names `slot`.
    fn names(e: &AtomicU32, slot: usize, capacity: usize) -> bool {
        let field = (1u32 << slot_bits(capacity as u32)) - 1;
        e.load(Ordering::Relaxed) & field == slot as u32 + 1
    }

    /// The bucket layout: the slot field takes what the capacity needs,
    /// the tag the rest, and neither an entry nor a tombstone reads as
    /// another slot, at any capacity up to the layout's largest.
    #[test]
    fn a_bucket_holds_its_slot_and_a_tag_at_every_capacity() {
        assert_eq!(slot_bits(1), 2);
        assert_eq!(slot_bits(2), 2);
        assert_eq!(slot_bits(3), 3);
        assert_eq!(slot_bits(1 << 20), 21);
        assert_eq!(slot_bits((1 << 20) - 2), 20);
        for capacity in [1u32, 2, 3, 1000, (1 << 20) - 2, 1 << 20, 1 << 26] {
            let b = buckets(16);
            let ix = Index::new(&b, capacity);
            let last = capacity - 1;
            for (key, slot) in [(7u64, 0), (8, last)] {
                assert!(ix.insert(key, slot), "{capacity}: slot {slot}");
                assert_eq!(ix.find(key, Some), Some(slot), "{capacity}");
            }
            // The one slot number whose entry would read as a tombstone.
            let tomb = (1u32 << slot_bits(capacity)) - 2;
            assert!(tomb >= capacity);
            assert!(!ix.insert(9, tomb), "{capacity}");
            assert!(ix.remove(7, 0));
            assert_eq!(ix.find(7, Some), None);
            assert_eq!(ix.find(8, Some), Some(last));
        }
    }

    /// The prefetch hint follows the probe run: a key pushed past its
    /// home bucket by another is hinted at its own slot, not missed.
    #[test]
    fn the_hint_finds_a_key_displaced_from_its_home_bucket() {
        let b = buckets(16);
        let ix = Index::new(&b, 16);
        let home = |k: u64| hash(k) as usize & 15;
        let a = 1;
        let displaced = (2..).find(|&k| home(k) == home(a)).unwrap();
        let absent = (2..)
            .find(|&k| home(k) != home(a) && home(k) != (home(a) + 1) & 15)
            .unwrap();
        assert!(ix.insert(a, 3));
        assert!(ix.insert(displaced, 9));
        assert_eq!(ix.likely_slot(hash(a)), Some(3));
        assert_eq!(ix.likely_slot(hash(displaced)), Some(9));
        assert_eq!(ix.likely_slot(hash(absent)), None);
        // Its slot is where the look-up ends too.
        assert_eq!(ix.find(displaced, |s| (s == 9).then_some(s)), Some(9));
    }

    /// Keys as the table gets them, a tunnel's sessions and a pool's
    /// addresses in order, at the layout's load (half): about as many
    /// away from their home bucket, and about as far, as random keys
    /// would be (linear probing at half load: a quarter displaced, half a
    /// bucket on average), so the first pass's prefetch of the home
    /// bucket serves nearly every look-up and the hint stays in reach.
    #[test]
    fn keys_in_sequence_spread_as_random_ones_do() {
        let sets: [(&str, Vec<u64>); 4] = [
            (
                "16 tunnels of 4,096 sessions",
                (1..=16u64)
                    .flat_map(|t| (1..=4096u64).map(move |s| t << 16 | s))
                    .collect(),
            ),
            ("one tunnel's 60,000", (1..=60_000u64).collect()),
            (
                "a /13 pool",
                (1..(1u64 << 19)).map(|i| 0x0a00_0000 + i).collect(),
            ),
            (
                "2,048 /24 pools",
                (0..2048u64)
                    .flat_map(|p| (2..254u64).map(move |i| 0x6440_0000 + (p << 8) + i))
                    .collect(),
            ),
        ];
        for (name, keys) in sets {
            let b = buckets((keys.len() * 2).next_power_of_two());
            let ix = Index::new(&b, keys.len() as u32);
            let mask = b.len() - 1;
            let (mut displaced, mut total, mut worst) = (0usize, 0usize, 0usize);
            for (slot, &k) in keys.iter().enumerate() {
                assert!(ix.insert(k, slot as u32));
                let home = hash(k) as usize & mask;
                let at = (0..b.len())
                    .find(|d| names(&b[(home + d) & mask], slot, keys.len()))
                    .unwrap();
                displaced += usize::from(at > 0);
                total += at;
                worst = worst.max(at);
            }
            let n = keys.len();
            assert!(displaced * 3 < n, "{name}: {displaced} of {n} displaced");
            assert!(total < n, "{name}: {total} buckets' probing for {n} keys");
            assert!(worst < 64, "{name}: a key {worst} buckets from home");
        }
    }

    /// The two buckets a key's prefetch asks for ([`Index::run_start`])
    /// put nearly every key's bucket on its way to cache: at the layout's
    /// load, keys as the table gets them whose bucket lies in a cache line
    /// (16 buckets) neither asked for are under 1% (the home bucket's line
    /// alone: over 2%, about one in thirty-four).
    #[test]
    fn the_prefetch_covers_nearly_every_probe_run() {
        let keys: Vec<u64> = (1..=16u64)
            .flat_map(|t| (1..=4096u64).map(move |s| t << 16 | s))
            .chain((0..256u64).flat_map(|p| (2..254u64).map(move |i| 0x6440_0000 + (p << 8) + i)))
            .collect();
        let b = buckets((keys.len() * 2).next_power_of_two());
        let ix = Index::new(&b, keys.len() as u32);
        // Lines as the table's indexes have them: from the first bucket.
        let line = |a: &AtomicU32| (a as *const AtomicU32 as usize - b.as_ptr() as usize) / 64;
        let mask = b.len() - 1;
        for (slot, &k) in keys.iter().enumerate() {
            assert!(ix.insert(k, slot as u32));
        }
        let (mut home_only, mut both) = (0usize, 0usize);
        for (slot, &k) in keys.iter().enumerate() {
            let h = hash(k);
            let at = (0..b.len())
                .map(|d| (h as usize + d) & mask)
                .find(|&i| names(&b[i], slot, keys.len()))
                .unwrap();
            let at = line(&b[at]);
            let [home, on] = ix.run_start(h);
            home_only += usize::from(line(home) != at);
            both += usize::from(line(home) != at && line(on) != at);
        }
        let n = keys.len();
        assert!(both * 100 < n, "{both} of {n} outside both lines");
        assert!(
            home_only * 100 > n * 2,
            "{home_only} of {n} outside the home line"
        );
        // The second bucket wraps at the index's end, as the probe does.
        let last = (b.len() - 1) as u64;
        assert!(std::ptr::eq(ix.run_start(last)[1], &b[RUN_PREFETCH - 1]));
    }

    /// Against a HashMap: random inserts and removes, every lookup agrees,
    /// and a full drain leaves no tombstone behind.
    #[test]
    fn agrees_with_a_map_under_churn() {
        let b = buckets(64);
        let ix = Index::new(&b, 32);
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut slots = [u64::MAX; 32];
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = hash(x);
            let slot = (x % 32) as u32;
            let key = (x >> 8) % 48;
            if slots[slot as usize] == u64::MAX && !model.contains_key(&key) {
                assert!(ix.insert(key, slot));
                slots[slot as usize] = key;
                model.insert(key, slot);
            } else if slots[slot as usize] != u64::MAX {
                let k = slots[slot as usize];
                assert!(ix.remove(k, slot));
                slots[slot as usize] = u64::MAX;
                model.remove(&k);
            }
            for k in 0..48 {
                let got = ix.find(k, |s| (slots[s as usize] == k).then_some(s));
                assert_eq!(got, model.get(&k).copied(), "key {k}");
            }
        }
        for (k, s) in model.drain() {
            assert!(ix.remove(k, s));
        }
        assert_eq!(ix.tombstones(), 0);
        assert!(b.iter().all(|e| e.load(Ordering::Relaxed) == 0));
    }
}
