//! A deadline per key, earliest first: how the engines keep one timer per
//! session without scanning them all on every tick.
//!
//! A binary heap with lazy deletion: moving a deadline pushes the new one
//! and leaves the old entry to be skipped when it surfaces (every event
//! on a call moves its deadline, and a balanced tree paid a node's
//! removal and insertion each time). The heap's top is always a live
//! deadline, and the heap is rebuilt when stale entries outnumber live
//! ones, so it holds at most about twice the keys.

use crate::map::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key.
#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Copy> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    of: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            of: HashMap::default(),
        }
    }
}

impl<K: Ord + Hash + Copy> Timers<K> {
    /// Sets (or clears, with `None`) the deadline of `k`.
    pub fn set(&mut self, k: K, at: Option<Instant>) {
        if self.of.get(&k).copied() == at {
            return;
        }
        match at {
            Some(t) => {
                self.of.insert(k, t);
                self.heap.push(Reverse((t, k)));
            }
            None => {
                self.of.remove(&k);
            }
        }
        if self.heap.len() > 2 * self.of.len() + 64 {
            self.heap = self.of.iter().map(|(&k, &t)| Reverse((t, k))).collect();
        }
        self.drop_stale();
    }

    /// Pops stale entries off the top, so the top is a live deadline.
    fn drop_stale(&mut self) {
        while let Some(&Reverse((t, k))) = self.heap.peek() {
            if self.of.get(&k) == Some(&t) {
                return;
            }
            self.heap.pop();
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|&Reverse((t, _))| t)
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &Reverse((t, k)) = self.heap.peek()?;
        if t > now {
            return None;
        }
        self.heap.pop();
        self.of.remove(&k);
        self.drop_stale();
        Some(k)
    }

    /// Keys with a deadline.
    pub fn len(&self) -> usize {
        self.of.len()
    }

    /// No deadlines.
    pub fn is_empty(&self) -> bool {
        self.of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_rescheduling_replaces() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(1u32, Some(t0 + Duration::from_secs(5)));
        t.set(2, Some(t0 + Duration::from_secs(1)));
        t.set(1, Some(t0 + Duration::from_secs(2)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(3)), Some(2));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(3)), Some(1));
        t.set(3, Some(t0));
        t.set(3, None);
        assert!(t.is_empty());
        assert_eq!(t.next(), None);
    }

    /// Deadlines moved many times: each key comes due once, at its last
    /// deadline, in order; the stale entries neither surface nor pile up.
    #[test]
    fn moved_deadlines_come_due_once_at_the_last() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        let mut t = Timers::default();
        for round in 0..100u64 {
            for k in 0..50u32 {
                // Earlier and later by turns.
                let ms = if round % 2 == 0 {
                    1000 + u64::from(k)
                } else {
                    10 + u64::from(k) * 2
                };
                t.set(k, Some(at(ms + round)));
            }
            assert!(
                t.heap.len() <= 2 * t.len() + 64 + 1,
                "{} entries",
                t.heap.len()
            );
        }
        t.set(7, None);
        assert_eq!(t.len(), 49);
        // Round 99 (odd): key k is due at 10 + 2k + 99 ms.
        assert_eq!(t.next(), Some(at(109)));
        let mut due = Vec::new();
        while let Some(k) = t.pop_due(at(10_000)) {
            due.push(k);
        }
        let want: Vec<u32> = (0..50).filter(|&k| k != 7).collect();
        assert_eq!(due, want);
        assert!(t.is_empty());
        assert_eq!(t.next(), None);
    }
}
