//! A deadline per key, earliest first: how the engines keep one timer per
//! session without scanning them all on every tick.

use crate::map::HashMap;
use std::collections::BTreeSet;
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key.
#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Copy> {
    order: BTreeSet<(Instant, K)>,
    of: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            order: BTreeSet::new(),
            of: HashMap::default(),
        }
    }
}

impl<K: Ord + Hash + Copy> Timers<K> {
    /// Sets (or clears, with `None`) the deadline of `k`.
    pub fn set(&mut self, k: K, at: Option<Instant>) {
        // Most calls leave a deadline where it was (every event on a call
        // sets its timer again); the ordered set is the costly part.
        if self.of.get(&k).copied() == at {
            return;
        }
        if let Some(old) = self.of.remove(&k) {
            self.order.remove(&(old, k));
        }
        if let Some(t) = at {
            self.of.insert(k, t);
            self.order.insert((t, k));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|&(t, _)| t)
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(t, k) = self.order.first()?;
        if t > now {
            return None;
        }
        self.order.remove(&(t, k));
        self.of.remove(&k);
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
    }
}
