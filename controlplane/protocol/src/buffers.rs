//! Datagram buffers used again (issue 18, item 5: no allocation per
//! message on the setup path).
//!
//! Every datagram the engines send is a `Vec<u8>` that leaves through
//! `poll_transmit`: a PPP packet's encoding, grown in place into its L2TP
//! data message (`ppp::HEADROOM`), or a control message with the copy the
//! reliable transport keeps until it is acknowledged. Encoders take their
//! buffer with [`take`]; whoever is done with a datagram (lnsd and
//! lns-bench once it is sent, the transport once it is acknowledged)
//! hands it back with [`give`], and the next encoding reuses it instead of
//! going to the allocator. Nothing needs to give back: a datagram dropped
//! anywhere is freed as any `Vec` is, and the next [`take`] allocates.
//!
//! Guarantees: a buffer from [`take`] is empty and holds at least the
//! capacity asked for. The pool is per thread (lnsd's engine, its sends
//! and lns-bench's emulated LAC each run on one), holds at most
//! [`KEPT`] buffers of at most [`LARGEST_KEPT`] octets (so at most 4 MiB a
//! thread), and never shrinks a buffer it keeps. Refuses nothing: a
//! buffer too large, or one over the count, is freed.
//!
//! The bounded per-thread pool behind them, [`Pool`], also keeps the
//! control messages' AVP lists (`l2tp::message::avp_list`).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Buffers a thread keeps.
pub const KEPT: usize = 1024;

/// The least capacity of a buffer [`take`] allocates: every PPP
/// negotiation packet and L2TP control message of a call setup fits, so a
/// buffer given back serves any of them.
pub const SMALLEST: usize = 512;

/// The largest capacity of a buffer [`give`] keeps.
pub const LARGEST_KEPT: usize = 4096;

/// A thread's vectors kept for reuse: at most `kept` of them, each of a
/// capacity in `smallest..=largest`. Lives in a `thread_local!`, used
/// through [`Pool::take_from`] and [`Pool::give_to`], which work while
/// the thread's locals are torn down too (a vector made then is new, one
/// given then is freed).
#[derive(Debug)]
pub(crate) struct Pool<T> {
    free: RefCell<Vec<Vec<T>>>,
    kept: usize,
    smallest: usize,
    largest: usize,
}

impl<T> Pool<T> {
    /// An empty pool with these bounds.
    pub(crate) const fn new(kept: usize, smallest: usize, largest: usize) -> Pool<T> {
        Pool {
            free: RefCell::new(Vec::new()),
            kept,
            smallest,
            largest,
        }
    }

    /// An empty vector of at least `capacity`: one given back if the
    /// thread has one, else a new one of at least the pool's smallest.
    pub(crate) fn take_from(pool: &'static LocalKey<Pool<T>>, capacity: usize) -> Vec<T> {
        let kept = pool
            .try_with(|p| match p.free.try_borrow_mut() {
                Ok(mut f) => f.pop().ok_or(p.smallest),
                Err(_) => Err(p.smallest),
            })
            .unwrap_or(Err(0));
        match kept {
            Ok(mut v) => {
                // Kept vectors hold at least the smallest: only a rare
                // large one grows.
                v.reserve(capacity);
                v
            }
            Err(smallest) => Vec::with_capacity(capacity.max(smallest)),
        }
    }

    /// `v` back, emptied, for [`Pool::take_from`]; freed instead when its
    /// capacity is outside the bounds or the thread keeps enough.
    pub(crate) fn give_to(pool: &'static LocalKey<Pool<T>>, mut v: Vec<T>) {
        let _ = pool.try_with(|p| {
            if !(p.smallest..=p.largest).contains(&v.capacity()) {
                return;
            }
            if let Ok(mut f) = p.free.try_borrow_mut()
                && f.len() < p.kept
            {
                v.clear();
                f.push(v);
            }
        });
    }

    /// Vectors the calling thread's pool keeps now.
    pub(crate) fn kept_in(pool: &'static LocalKey<Pool<T>>) -> usize {
        pool.try_with(|p| p.free.borrow().len()).unwrap_or(0)
    }
}

thread_local! {
    static POOL: Pool<u8> = const { Pool::new(KEPT, SMALLEST, LARGEST_KEPT) };
}

/// An empty buffer of at least `capacity` octets: one given back if the
/// thread has one, else a new one of at least [`SMALLEST`].
pub fn take(capacity: usize) -> Vec<u8> {
    Pool::take_from(&POOL, capacity)
}

/// A buffer holding a copy of `bytes` (see [`take`]).
pub fn copy_of(bytes: &[u8]) -> Vec<u8> {
    let mut b = take(bytes.len());
    b.extend_from_slice(bytes);
    b
}

/// Hands back a datagram the caller is done with, for [`take`] to reuse;
/// freed instead when it is outside [`SMALLEST`]..=[`LARGEST_KEPT`] or the
/// thread keeps [`KEPT`] already.
pub fn give(b: Vec<u8>) {
    Pool::give_to(&POOL, b);
}

/// Buffers the calling thread keeps now.
pub fn kept() -> usize {
    Pool::kept_in(&POOL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_the_next_one_taken_empty() {
        while kept() > 0 {
            drop(take(0));
        }
        let mut b = take(10);
        assert!(b.capacity() >= SMALLEST);
        b.extend_from_slice(b"datagram");
        let at = b.as_ptr();
        give(b);
        assert_eq!(kept(), 1);
        let again = take(100);
        assert_eq!(again.as_ptr(), at, "not the buffer given back");
        assert!(again.is_empty());
        assert_eq!(kept(), 0);
    }

    #[test]
    fn it_keeps_a_bounded_number_of_bounded_buffers() {
        while kept() > 0 {
            drop(take(0));
        }
        give(Vec::with_capacity(LARGEST_KEPT + 1));
        give(Vec::with_capacity(SMALLEST - 1));
        assert_eq!(kept(), 0, "kept a buffer outside the bounds");
        for _ in 0..KEPT + 10 {
            give(take(0));
            give(Vec::with_capacity(SMALLEST));
        }
        assert_eq!(kept(), KEPT);
        // A larger request than a kept buffer holds still gets its room.
        let big = take(LARGEST_KEPT * 2);
        assert!(big.capacity() >= LARGEST_KEPT * 2);
        let copy = copy_of(&[7; 3000]);
        assert_eq!(copy, vec![7; 3000]);
        while kept() > 0 {
            drop(take(0));
        }
    }
}
