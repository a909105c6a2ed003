//! The sequence lock every table record sits behind.
//!
//! One writer (lnsd, serialised by `&mut Writer`) and any number of readers
//! (the workers, in another process) share a record of `N` 64-bit words and
//! a sequence word. The writer makes the sequence odd, writes the words,
//! and makes it even again; a reader copies the words between two loads of
//! the sequence and keeps the copy only if both loads saw the same even
//! value. So a reader gets a record exactly as one write left it, or
//! nothing and tries again: never a torn mix of two writes.
//!
//! Every access is atomic (relaxed words, with fences ordering them against
//! the sequence), so the protocol is data-race free under the Rust memory
//! model; that is what lets loom check it (the test below) and miri run the
//! table's tests. The functions are generic over [`Atomics`] for that
//! reason alone: production uses [`Std`].

use std::sync::atomic::{AtomicU64, Ordering};

/// A 64-bit atomic word.
pub trait Word {
    /// Atomic load.
    fn load(&self, o: Ordering) -> u64;
    /// Atomic store.
    fn store(&self, v: u64, o: Ordering);
}

/// The atomics a seqlock is built from.
pub trait Atomics {
    /// The word type.
    type W: Word;
    /// A memory fence.
    fn fence(o: Ordering);
}

/// The standard library's atomics.
#[derive(Debug)]
pub struct Std;

impl Word for AtomicU64 {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u64 {
        AtomicU64::load(self, o)
    }
    #[inline(always)]
    fn store(&self, v: u64, o: Ordering) {
        AtomicU64::store(self, v, o)
    }
}

impl Atomics for Std {
    type W = AtomicU64;
    #[inline(always)]
    fn fence(o: Ordering) {
        std::sync::atomic::fence(o)
    }
}

/// One read attempt: the words if no write overlapped, else `None`.
#[inline(always)]
pub fn try_read<A: Atomics, const N: usize>(seq: &A::W, words: &[A::W]) -> Option<[u64; N]> {
    // Every word is written before the array is used, so the zeroes are
    // dead stores the compiler drops.
    let mut out = [0; N];
    try_read_into::<A, N>(seq, words, |i, w| out[i] = w).then_some(out)
}

/// [`try_read`] into the caller's storage: each word goes to `put(i,
/// word)` as it is loaded (so a worker's copy of a slot lands where it is
/// used, not in registers spilled and copied again). On `false` the words
/// put are a torn mix, to be ignored. Fewer than `N` words is no record.
#[inline(always)]
pub fn try_read_into<A: Atomics, const N: usize>(
    seq: &A::W,
    words: &[A::W],
    mut put: impl FnMut(usize, u64),
) -> bool {
    let Some(words) = words.get(..N) else {
        return false;
    };
    attempt::<A, _>(seq, || {
        for (i, w) in words.iter().enumerate() {
            put(i, w.load(Ordering::Relaxed));
        }
    })
    .is_some()
}

/// The protocol every read here follows, once: `load` (the caller's
/// relaxed loads of the words) between two loads of the sequence; its
/// answer if they saw the same even value, else `None`.
#[inline(always)]
fn attempt<A: Atomics, T>(seq: &A::W, load: impl FnOnce() -> T) -> Option<T> {
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 == 1 {
        return None;
    }
    let v = load();
    // Orders the word loads before the second sequence load: if any of
    // them saw a later write, the second load sees that write's odd (or
    // later even) sequence (the seqlock recipe of Boehm, "Can seqlocks get
    // along with programming language memory models?", 2012).
    A::fence(Ordering::Acquire);
    (seq.load(Ordering::Relaxed) == s1).then_some(v)
}

/// Reads, retrying while a write is in progress. A write is a few dozen
/// stores, so this spins for nanoseconds at most; `limit` bounds it anyway
/// so a writer that died mid-write (its sequence stuck odd) costs a miss,
/// not a hung worker.
#[inline(always)]
pub fn read<A: Atomics, const N: usize>(
    seq: &A::W,
    words: &[A::W],
    limit: u32,
) -> Option<[u64; N]> {
    retry(limit, || try_read::<A, N>(seq, words))
}

/// [`read`] of the words at offsets `at` only, in that order: for a
/// reader that needs a few of a record's words (the upstream express
/// lane reads six of a session's fifteen, all in its first cache line),
/// whose loads are the cost.
/// An offset past the record is no record.
#[inline(always)]
pub fn read_some<A: Atomics, const N: usize>(
    seq: &A::W,
    words: &[A::W],
    at: &[usize; N],
    limit: u32,
) -> Option<[u64; N]> {
    let words = words.get(..=*at.iter().max()?)?;
    retry(limit, || {
        attempt::<A, _>(seq, || at.map(|i| words[i].load(Ordering::Relaxed)))
    })
}

/// [`read`] into the caller's bytes: the record's `N` words,
/// little-endian, one after another. For a reader that keeps the record
/// as bytes (a worker's copy of a session slot): a fixed run of loads and
/// stores, no per-word call (the attempts are a loop of their own rather
/// than [`retry`]'s closure, which the compiler would not inline). Fewer
/// than `N` words is no record; `false`: none read (`out` then holds
/// anything).
#[inline(always)]
pub fn read_le_into<A: Atomics, const N: usize>(
    seq: &A::W,
    words: &[A::W],
    out: &mut [[u8; 8]; N],
    limit: u32,
) -> bool {
    let Some(words) = words.get(..N) else {
        return false;
    };
    for _ in 0..limit {
        let read = attempt::<A, _>(seq, || {
            for (o, w) in out.iter_mut().zip(words) {
                *o = w.load(Ordering::Relaxed).to_le_bytes();
            }
        });
        if read.is_some() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// Up to `limit` attempts, spinning between them.
#[inline(always)]
fn retry<T>(limit: u32, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..limit {
        if let Some(v) = attempt() {
            return Some(v);
        }
        std::hint::spin_loop();
    }
    None
}

/// Writes the words. The caller is the only writer of this record.
#[inline]
pub fn write<A: Atomics>(seq: &A::W, words: &[A::W], v: &[u64]) {
    // Whatever a previous writer process left (odd after a crash mid-write)
    // is made even first, so readers still see odd while we write.
    let s = seq.load(Ordering::Relaxed) | 1;
    seq.store(s, Ordering::Relaxed);
    // The odd sequence is visible before any new word.
    A::fence(Ordering::Release);
    for (w, x) in words.iter().zip(v) {
        w.store(*x, Ordering::Relaxed);
    }
    seq.store(s.wrapping_add(1), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_read_back_and_a_stuck_odd_sequence_is_a_miss() {
        let seq = AtomicU64::new(0);
        let words: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        write::<Std>(&seq, &words, &[1, 2, 3]);
        assert_eq!(read::<Std, 3>(&seq, &words, 1), Some([1, 2, 3]));
        assert_eq!(read_some::<Std, 2>(&seq, &words, &[2, 0], 1), Some([3, 1]));
        let mut b = [[0xee; 8]; 2];
        assert!(read_le_into::<Std, 2>(&seq, &words, &mut b, 1));
        assert_eq!(b, [[1, 0, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0]]);
        assert!(!read_le_into::<Std, 4>(&seq, &words, &mut [[0; 8]; 4], 1));
        assert_eq!(read_some::<Std, 1>(&seq, &words, &[3], 1), None);
        assert_eq!(seq.load(Ordering::Relaxed), 2);
        seq.store(5, Ordering::Relaxed);
        assert_eq!(read::<Std, 3>(&seq, &words, 10), None);
        assert_eq!(read_some::<Std, 1>(&seq, &words, &[0], 10), None);
        assert!(!read_le_into::<Std, 1>(&seq, &words, &mut [[0; 8]], 10));
        // The next writer recovers the record.
        write::<Std>(&seq, &words, &[4, 5, 6]);
        assert_eq!(read::<Std, 3>(&seq, &words, 1), Some([4, 5, 6]));
    }

    #[cfg(not(miri))]
    mod loom_model {
        use super::super::*;
        use loom::sync::Arc;
        use loom::sync::atomic::AtomicU64 as LAtomic;

        struct Loom;
        impl Word for LAtomic {
            fn load(&self, o: Ordering) -> u64 {
                LAtomic::load(self, o)
            }
            fn store(&self, v: u64, o: Ordering) {
                LAtomic::store(self, v, o)
            }
        }
        impl Atomics for Loom {
            type W = LAtomic;
            fn fence(o: Ordering) {
                loom::sync::atomic::fence(o)
            }
        }

        /// A record of `N` words and its sequence, and a thread writing it
        /// all ones, then all twos: what the models read against.
        fn two_writes<const N: usize>() -> (
            Arc<LAtomic>,
            Arc<[LAtomic; N]>,
            loom::thread::JoinHandle<()>,
        ) {
            let seq = Arc::new(LAtomic::new(0));
            let words = Arc::new(std::array::from_fn(|_| LAtomic::new(0)));
            let (s, w) = (seq.clone(), words.clone());
            let writer = loom::thread::spawn(move || {
                write::<Loom>(&s, &w[..], &[1; N]);
                write::<Loom>(&s, &w[..], &[2; N]);
            });
            (seq, words, writer)
        }

        /// Every interleaving of two writes against a reader: whatever the
        /// reader accepts is one write's record, whole.
        #[test]
        fn loom_no_torn_reads() {
            loom::model(|| {
                let (seq, words, writer) = two_writes::<2>();
                if let Some([a, b]) = try_read::<Loom, 2>(&seq, &words[..]) {
                    assert_eq!(a, b, "torn read");
                }
                let mut into = [0; 2];
                if try_read_into::<Loom, 2>(&seq, &words[..], |i, w| into[i] = w) {
                    assert_eq!(into[0], into[1], "torn read into");
                }
                writer.join().unwrap();
                assert_eq!(try_read::<Loom, 2>(&seq, &words[..]), Some([2, 2]));
            });
        }

        /// The same for a read of some of the words.
        #[test]
        fn loom_no_torn_reads_of_some_words() {
            loom::model(|| {
                let (seq, words, writer) = two_writes::<3>();
                if let Some([c, a]) = read_some::<Loom, 2>(&seq, &words[..], &[2, 0], 1) {
                    assert_eq!(a, c, "torn read of some words");
                }
                writer.join().unwrap();
            });
        }

        /// The same for a read into bytes.
        #[test]
        fn loom_no_torn_reads_into_bytes() {
            loom::model(|| {
                let (seq, words, writer) = two_writes::<2>();
                let mut b = [[0u8; 8]; 2];
                if read_le_into::<Loom, 2>(&seq, &words[..], &mut b, 1) {
                    assert_eq!(b[0], b[1], "torn read into bytes");
                }
                writer.join().unwrap();
            });
        }
    }
}
