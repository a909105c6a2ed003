//! Keeps the XDP program's switched map (`xlns_switched`) in step with the
//! switched slots of lnsd's table, so that every data frame of a switched
//! session (LCP and authentication too, not only IP) reaches the workers
//! (DESIGN §2.1).
//!
//! The table tells us through its switched journal (`table` module docs):
//! [`SwitchedSync::start`] fills the map from a scan of the table and
//! follows the journal from the position read before the scan;
//! [`SwitchedSync::poll`] applies what was journalled since, or, when
//! lnsd lapped the journal ring (more than `table::JOURNAL_ENTRIES`
//! changes between two polls), rebuilds from a new scan, counted in
//! [`SwitchedSync::rebuilds`] and logged. The program looks the map up
//! only while the configuration's switched flag is set
//! ([`SwitchedMap::set_any`]), which the sync keeps set exactly while the
//! map is not empty: an LNS without switched sessions pays no lookup.
//!
//! Guarantees: after each call, the map holds the keys of the switched
//! slots as of the journal position reached, less any the kernel refused
//! (counted in [`SwitchedSync::failures`] and tried again when journalled
//! again or at the next rebuild). A key missing for a while only sends
//! that session's non-IP frames to lnsd, as for a terminated session; a
//! key left over only steers frames to the workers, which drop them by
//! name if no switched slot matches. Nothing here runs per packet.
//!
//! Who calls it: the `lns-dataplane` daemon, at start and every few
//! milliseconds after. Without it (unit tests, benchmarks) the table and
//! the workers work the same; only the steering of switched sessions'
//! non-IP frames waits.

use super::LoaderError;
use crate::table::{Overrun, Reader, SwitchedChange};
use std::collections::HashSet;

/// The switched map and flag, as the sync changes them ([`super::Steering`]
/// in the data plane; a set in tests).
pub trait SwitchedMap {
    /// Adds a key (`tunnel << 16 | session`).
    fn insert(&mut self, key: u32) -> Result<(), LoaderError>;
    /// Removes a key; a key not there is not an error.
    fn remove(&mut self, key: u32) -> Result<(), LoaderError>;
    /// Sets or clears the configuration's switched flag.
    fn set_any(&mut self, any: bool) -> Result<(), LoaderError>;
}

/// What a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Followed this many journal entries.
    Followed(usize),
    /// Fell behind the journal and rebuilt the map from a scan.
    Rebuilt,
}

/// The follower of the table's switched journal.
#[derive(Debug, Default)]
pub struct SwitchedSync {
    /// The journal position to read from next.
    tail: u64,
    /// The keys in the map.
    keys: HashSet<u32>,
    /// Rebuilds after the journal overran (not the one at start).
    pub rebuilds: u64,
    /// Map operations the kernel refused (e.g. the map full).
    pub failures: u64,
}

impl SwitchedSync {
    /// Fills `map` (empty: the program was just loaded) with the table's
    /// switched keys and starts following the journal.
    pub fn start(table: &Reader, map: &mut impl SwitchedMap) -> SwitchedSync {
        let mut s = SwitchedSync::default();
        s.rebuild(table, map);
        s
    }

    /// Applies the journal since the last call, or rebuilds after an
    /// overrun.
    pub fn poll(&mut self, table: &Reader, map: &mut impl SwitchedMap) -> Polled {
        let mut n = 0;
        let tail = self.tail;
        match table.switched_changes(tail, |c| {
            n += 1;
            self.apply(map, c);
        }) {
            Ok(t) => {
                self.tail = t;
                self.flag(map);
                Polled::Followed(n)
            }
            Err(Overrun) => {
                self.rebuilds += 1;
                tracing::warn!(
                    rebuilds = self.rebuilds,
                    "fell more than a journal ring behind lnsd's switched sessions; \
                     rebuilding the XDP switched map from the table"
                );
                self.rebuild(table, map);
                Polled::Rebuilt
            }
        }
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn apply(&mut self, map: &mut impl SwitchedMap, c: SwitchedChange) {
        match c {
            // A rewrite of a slot journals Added again: already there.
            SwitchedChange::Added(k) if self.keys.contains(&k) => {}
            SwitchedChange::Added(k) => match map.insert(k) {
                Ok(()) => {
                    self.keys.insert(k);
                }
                Err(e) => self.failed(&e),
            },
            SwitchedChange::Removed(k) => {
                if self.keys.remove(&k)
                    && let Err(e) = map.remove(k)
                {
                    self.failed(&e);
                }
            }
        }
    }

    /// Makes the map hold exactly what a scan of the table finds, and
    /// follows the journal from the position read before the scan.
    fn rebuild(&mut self, table: &Reader, map: &mut impl SwitchedMap) {
        let (head, keys) = table.switched_keys();
        let now: HashSet<u32> = keys.into_iter().collect();
        let gone: Vec<u32> = self.keys.difference(&now).copied().collect();
        for k in gone {
            self.apply(map, SwitchedChange::Removed(k));
        }
        for k in now {
            self.apply(map, SwitchedChange::Added(k));
        }
        self.tail = head;
        self.flag(map);
    }

    fn flag(&mut self, map: &mut impl SwitchedMap) {
        if let Err(e) = map.set_any(!self.keys.is_empty()) {
            self.failed(&e);
        }
    }

    fn failed(&mut self, e: &LoaderError) {
        self.failures += 1;
        // Once in a while, not per key: a full map refuses every key.
        if self.failures.is_power_of_two() {
            tracing::warn!(failures = self.failures, error = %e, "XDP switched map not updated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Egress, JOURNAL_ENTRIES, Leg, Sizes, Writer};
    use std::net::Ipv4Addr;

    /// The map as the program would see it.
    #[derive(Debug, Default)]
    struct Fake {
        keys: HashSet<u32>,
        any: bool,
        /// Refuse inserts past this many keys (a full BPF map).
        room: usize,
    }

    impl SwitchedMap for Fake {
        fn insert(&mut self, key: u32) -> Result<(), LoaderError> {
            if self.keys.len() >= self.room {
                return Err(LoaderError("map full".into()));
            }
            self.keys.insert(key);
            Ok(())
        }
        fn remove(&mut self, key: u32) -> Result<(), LoaderError> {
            self.keys.remove(&key);
            Ok(())
        }
        fn set_any(&mut self, any: bool) -> Result<(), LoaderError> {
            self.any = any;
            Ok(())
        }
    }

    fn leg(n: u16) -> Leg {
        Leg {
            tunnel: 100 + n,
            session: n,
            local: Ipv4Addr::new(192, 0, 2, 1),
            local_port: 1701,
            peer: Ipv4Addr::new(198, 51, 100, n as u8),
            peer_port: 1701,
            peer_tunnel: 1,
            peer_session: n,
            sequencing: false,
            vlan: None,
            nexthop: 2,
            egress: Egress::Access,
            next_ns: 0,
        }
    }

    fn key(n: u16) -> u32 {
        u32::from(100 + n) << 16 | u32::from(n)
    }

    fn table() -> Writer {
        Writer::heap(Sizes {
            capacity: 64,
            workers: 1,
        })
        .unwrap()
    }

    fn fake() -> Fake {
        Fake {
            room: usize::MAX,
            ..Fake::default()
        }
    }

    #[test]
    fn start_scans_then_polls_follow_the_journal() {
        let mut w = table();
        let r = w.reader();
        let first = w.insert_switched(&leg(1), &leg(2)).unwrap();
        let mut map = fake();
        let mut s = SwitchedSync::start(&r, &mut map);
        assert_eq!(map.keys, HashSet::from([key(1), key(2)]));
        assert!(map.any);
        assert_eq!(s.poll(&r, &mut map), Polled::Followed(0));
        let second = w.insert_switched(&leg(3), &leg(4)).unwrap();
        w.remove_switched(first).unwrap();
        assert_eq!(s.poll(&r, &mut map), Polled::Followed(4));
        assert_eq!(map.keys, HashSet::from([key(3), key(4)]));
        assert_eq!(s.len(), 2);
        // Rewrites journal the keys again: nothing changes.
        w.update_switched(second, &leg(3), &leg(4)).unwrap();
        assert_eq!(s.poll(&r, &mut map), Polled::Followed(2));
        assert_eq!(map.keys.len(), 2);
        // The last one leaves: the program stops looking.
        w.remove_switched(second).unwrap();
        s.poll(&r, &mut map);
        assert!(map.keys.is_empty() && !map.any);
        assert_eq!(s.rebuilds, 0);
    }

    #[test]
    fn a_lapped_follower_rebuilds_from_a_scan_and_counts_it() {
        let mut w = table();
        let r = w.reader();
        let stays = w.insert_switched(&leg(1), &leg(2)).unwrap();
        let goes = w.insert_switched(&leg(3), &leg(4)).unwrap();
        let mut map = fake();
        let mut s = SwitchedSync::start(&r, &mut map);
        // Meanwhile, more than a ring of churn, one session gone and a
        // new one in; and a key in the map that the table never had
        // (must go too).
        map.keys.insert(0xdead_beef);
        s.keys.insert(0xdead_beef);
        w.remove_switched(goes).unwrap();
        for _ in 0..JOURNAL_ENTRIES / 4 {
            let i = w.insert_switched(&leg(5), &leg(6)).unwrap();
            w.remove_switched(i).unwrap();
        }
        let new = w.insert_switched(&leg(7), &leg(8)).unwrap();
        assert_eq!(s.poll(&r, &mut map), Polled::Rebuilt);
        assert_eq!(s.rebuilds, 1);
        assert_eq!(map.keys, HashSet::from([key(1), key(2), key(7), key(8)]));
        // And it follows on from the scan.
        w.remove_switched(new).unwrap();
        w.remove_switched(stays).unwrap();
        assert_eq!(s.poll(&r, &mut map), Polled::Followed(4));
        assert!(map.keys.is_empty() && !map.any);
    }

    #[test]
    fn refused_keys_are_counted_and_tried_again() {
        let mut w = table();
        let r = w.reader();
        let mut map = Fake {
            room: 1,
            ..Fake::default()
        };
        let mut s = SwitchedSync::start(&r, &mut map);
        let ids = w.insert_switched(&leg(1), &leg(2)).unwrap();
        s.poll(&r, &mut map);
        assert_eq!((map.keys.len(), s.len(), s.failures), (1, 1, 1));
        map.room = 8;
        // The next write of the session journals it again.
        w.update_switched(ids, &leg(1), &leg(2)).unwrap();
        s.poll(&r, &mut map);
        assert_eq!(map.keys, HashSet::from([key(1), key(2)]));
    }
}
