//! Lock-free lookup from a key to a slot: open addressing with linear
//! probing over atomic buckets, one writer, many readers.
//!
//! A bucket is `tag << 32 | (slot + 1)`: 0 is empty, [`TOMB`] a deleted
//! entry. The tag is the key's hash, so most wrong buckets are skipped
//! without touching the slot; the slot itself is still read and its key
//! compared, because the slot, not the bucket, is the truth (a slot reused
//! for another session while a reader probes is just a mismatch).
//!
//! The writer publishes a bucket only after its slot is written and
//! retires it before the slot is cleared, so a reader that finds a bucket
//! reads either that session or a free slot. Deletion leaves a tombstone,
//! turned back into empty when the probe run ends right after it, so a
//! key's probe run is never cut short while it is in the table: a session
//! that is not being changed is always found.

use std::sync::atomic::{AtomicU64, Ordering};

/// A deleted entry.
pub const TOMB: u64 = u64::MAX;

/// How far past its home bucket a key's prefetch reaches
/// ([`Index::run_start`]).
const RUN_PREFETCH: usize = 2;

/// Buckets [`Index::likely_slot`] looks through: a cache line's worth.
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

/// One index: a power-of-two run of buckets.
#[derive(Debug, Clone, Copy)]
pub struct Index<'a> {
    buckets: &'a [AtomicU64],
}

impl<'a> Index<'a> {
    /// `buckets.len()` must be a power of two (the layout makes it one).
    pub fn new(buckets: &'a [AtomicU64]) -> Index<'a> {
        debug_assert!(buckets.len().is_power_of_two());
        Index { buckets }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
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
        let tag = h >> 32;
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        for _ in 0..limit {
            let e = self.buckets[i].load(Ordering::Acquire);
            if e == 0 {
                return None;
            }
            if e != TOMB
                && e >> 32 == tag
                && let Some(r) = check((e as u32).wrapping_sub(1))
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
    /// load (under a half) about one key in sixteen lies in the line after
    /// its home bucket's, and its packet's look-up, and the slot prefetch
    /// before it, then waited a whole memory latency for that line; two
    /// buckets on leaves one in fifty-five (the rest mostly one line, the
    /// same, prefetched twice). Against the home line alone at 1,000,000
    /// sessions: 0 to 3 ns a packet less in the medians, and fewer slow
    /// runs (`stages schedules`, `bench/results/2026-12-05-first-line.md`).
    #[inline(always)]
    pub fn run_start(&self, h: u64) -> [&AtomicU64; 2] {
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

    /// Writer: adds `key → slot`. The slot must already hold the record.
    /// Returns false only if the index is full, which the layout's sizing
    /// (twice the slot count) rules out.
    pub fn insert(&self, key: u64, slot: u32) -> bool {
        let h = hash(key);
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        for _ in 0..self.buckets.len() {
            let e = self.buckets[i].load(Ordering::Relaxed);
            if e == 0 || e == TOMB {
                let v = ((h >> 32) << 32) | u64::from(slot + 1);
                self.buckets[i].store(v, Ordering::Release);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Writer: retires `key → slot`; returns whether it was there.
    pub fn remove(&self, key: u64, slot: u32) -> bool {
        let h = hash(key);
        let want = ((h >> 32) << 32) | u64::from(slot + 1);
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

    fn buckets(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    /// The prefetch hint follows the probe run: a key pushed past its
    /// home bucket by another is hinted at its own slot, not missed.
    #[test]
    fn the_hint_finds_a_key_displaced_from_its_home_bucket() {
        let b = buckets(16);
        let ix = Index::new(&b);
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
            let ix = Index::new(&b);
            let mask = b.len() - 1;
            let (mut displaced, mut total, mut worst) = (0usize, 0usize, 0usize);
            for (slot, &k) in keys.iter().enumerate() {
                assert!(ix.insert(k, slot as u32));
                let home = hash(k) as usize & mask;
                let at = (0..b.len())
                    .find(|d| {
                        b[(home + d) & mask].load(Ordering::Relaxed) as u32 == slot as u32 + 1
                    })
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
    /// (8 buckets) neither asked for are under 3% (the home bucket's line
    /// alone: over 4%, about one in sixteen).
    #[test]
    fn the_prefetch_covers_nearly_every_probe_run() {
        let keys: Vec<u64> = (1..=16u64)
            .flat_map(|t| (1..=4096u64).map(move |s| t << 16 | s))
            .chain((0..256u64).flat_map(|p| (2..254u64).map(move |i| 0x6440_0000 + (p << 8) + i)))
            .collect();
        let b = buckets((keys.len() * 2).next_power_of_two());
        let ix = Index::new(&b);
        // Lines as the table's indexes have them: from the first bucket.
        let line = |a: &AtomicU64| (a as *const AtomicU64 as usize - b.as_ptr() as usize) / 64;
        let mask = b.len() - 1;
        for (slot, &k) in keys.iter().enumerate() {
            assert!(ix.insert(k, slot as u32));
        }
        let (mut home_only, mut both) = (0usize, 0usize);
        for (slot, &k) in keys.iter().enumerate() {
            let h = hash(k);
            let at = (0..b.len())
                .map(|d| (h as usize + d) & mask)
                .find(|&i| b[i].load(Ordering::Relaxed) as u32 == slot as u32 + 1)
                .unwrap();
            let at = line(&b[at]);
            let [home, on] = ix.run_start(h);
            home_only += usize::from(line(home) != at);
            both += usize::from(line(home) != at && line(on) != at);
        }
        let n = keys.len();
        assert!(both * 100 < n * 3, "{both} of {n} outside both lines");
        assert!(
            home_only * 100 > n * 4,
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
        let ix = Index::new(&b);
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
