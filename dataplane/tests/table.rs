//! The shared-memory tables: what lnsd writes is what a worker reads,
//! whole, under churn, across a file mapping, at a million sessions.

use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template};
use lns_dataplane::table::counters::{Counter, Dir, LocalCounters};
use lns_dataplane::table::{
    CORE_V4, Egress, JOURNAL_ENTRIES, Leg, NextHop, Overrun, Reader, Session, Sizes,
    SwitchedChange, TableError, Writer, up_key,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Session number `n`, with a `variant` that must show up consistently in
/// two fields far apart in the record (a torn read would mix variants).
fn session(n: u32, variant: u16) -> Session {
    let ipv4 = Ipv4Addr::from_bits(0x6440_0000 + n);
    let tunnel = (n >> 16) as u16 + 1;
    let sess = n as u16;
    Session {
        tunnel,
        session: sess,
        ipv4: Some(ipv4),
        ipv6_prefix: Some([
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ]),
        mru: 1400 + (n % 100) as u16,
        peer: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (n % 200) as u8)),
        peer_port: variant,
        lac_nexthop: 2 + n % 7,
        template: Template::new(&Outer {
            // A slot keeps no MACs (the next hop's are written).
            dst_mac: [0; 6],
            src_mac: [0; 6],
            vlan: None,
            src: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
            src_port: 1701,
            dst: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, (n % 200) as u8)),
            dst_port: variant,
            tunnel: tunnel ^ 0x5555,
            session: sess ^ 0x5555,
            sequencing: n.is_multiple_of(2),
        }),
        switched: None,
        rates: Default::default(),
    }
}

/// What a reader must see for session `n`: exactly `session(n, v)` for the
/// variant `v` it carries.
fn consistent(n: u32, s: &Session) {
    assert_eq!(*s, session(n, s.peer_port), "torn or wrong record for {n}");
}

fn n_of(tunnel: u16, sess: u16) -> u32 {
    (u32::from(tunnel - 1) << 16) | u32::from(sess)
}

fn shm_path(name: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("xlns-test-{name}-{}", std::process::id()))
}

#[test]
fn sessions_are_found_by_every_key_and_gone_after_removal() {
    let mut w = Writer::heap(Sizes {
        capacity: 8,
        workers: 2,
    })
    .unwrap();
    let r = w.reader();
    let a = session(1, 7);
    let id = w.insert(&a).unwrap();
    let f = r.by_ids(a.tunnel, a.session).unwrap();
    assert_eq!(
        (f.slot, f.generation, f.session().unwrap()),
        (id.slot, id.generation, a)
    );
    assert_eq!(r.by_ipv4(a.ipv4.unwrap()).unwrap().session().unwrap(), a);
    assert_eq!(
        r.by_ipv6_prefix(a.ipv6_prefix.unwrap())
            .unwrap()
            .session()
            .unwrap(),
        a
    );
    assert!(r.by_ids(a.tunnel, a.session + 1).is_none());

    // Duplicates by any key are refused and change nothing.
    let mut b = session(2, 7);
    b.ipv4 = a.ipv4;
    assert!(matches!(
        w.insert(&b),
        Err(TableError::Duplicate("IPv4 address"))
    ));
    assert!(matches!(w.insert(&a), Err(TableError::Duplicate(_))));
    assert_eq!(w.len(), 1);

    // Counters from two workers are summed; removal returns them.
    let (w0, w1) = (r.worker(0).unwrap(), r.worker(1).unwrap());
    w0.session(id.slot, id.generation, Dir::Up, 100);
    w1.session(id.slot, id.generation, Dir::Up, 50);
    w1.session(id.slot, id.generation, Dir::Down, 1000);
    w0.session_drop(id.slot, id.generation);
    let c = w.remove(id).unwrap();
    assert_eq!((c.up_packets, c.up_bytes), (2, 150));
    assert_eq!((c.down_packets, c.down_bytes, c.drops), (1, 1000, 1));
    assert!(r.by_ids(a.tunnel, a.session).is_none());
    assert!(r.by_ipv4(a.ipv4.unwrap()).is_none());
    assert_eq!(w.remove(id), None, "a second removal is refused");

    // The slot's next session counts from zero.
    let id2 = w.insert(&session(3, 1)).unwrap();
    assert_eq!(id2.slot, id.slot);
    assert_eq!(w.counters(id2), Default::default());
    w0.session(id2.slot, id2.generation, Dir::Down, 10);
    assert_eq!(w.counters(id2).down_packets, 1);

    // An address change moves the session in the index; a clash is refused.
    let mut moved = session(3, 2);
    moved.ipv4 = Some(Ipv4Addr::new(100, 127, 0, 1));
    w.update(id2, &moved).unwrap();
    assert!(r.by_ipv4(session(3, 1).ipv4.unwrap()).is_none());
    assert_eq!(
        r.by_ipv4(Ipv4Addr::new(100, 127, 0, 1))
            .unwrap()
            .session()
            .unwrap(),
        moved
    );
    assert_eq!(
        r.by_ids(moved.tunnel, moved.session).unwrap().slot,
        id2.slot
    );
    let other = w.insert(&session(4, 1)).unwrap();
    assert!(matches!(
        w.update(other, &moved),
        Err(TableError::Duplicate(_))
    ));
    assert!(w.update(id, &moved).is_err(), "a stale id is refused");

    // Named counters flush per batch.
    let mut local = LocalCounters::default();
    local.add(Counter::Upstream, 3);
    local.drop(Drop::Spoofed);
    w0.flush(&mut local);
    w0.flush(&mut local);
    assert_eq!(w.worker(0).unwrap().get(Counter::Upstream), 3);
    assert_eq!(w.worker(0).unwrap().drops(Drop::Spoofed), 1);
}

#[test]
fn a_full_table_refuses_and_recovers() {
    let mut w = Writer::heap(Sizes {
        capacity: 4,
        workers: 1,
    })
    .unwrap();
    let ids: Vec<_> = (0..4).map(|n| w.insert(&session(n, 1)).unwrap()).collect();
    assert!(matches!(w.insert(&session(9, 1)), Err(TableError::Full)));
    w.remove(ids[2]).unwrap();
    w.insert(&session(9, 1)).unwrap();
    assert!(w.reader().by_ids(1, 9).is_some());
    assert!(
        Writer::heap(Sizes {
            capacity: 0,
            workers: 1
        })
        .is_err()
    );
}

#[test]
fn next_hops_and_sequence_numbers() {
    let mut w = Writer::heap(Sizes {
        capacity: 4,
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    assert_eq!(r.nexthop(CORE_V4), None, "unresolved until lnsd writes it");
    let nh = NextHop {
        dst_mac: [1; 6],
        src_mac: [2; 6],
        addr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
    };
    w.set_nexthop(CORE_V4, &nh).unwrap();
    assert_eq!(r.nexthop(CORE_V4), Some(nh));
    assert!(w.set_nexthop(5000, &nh).is_err());
    assert_eq!(r.nexthop(5000), None);

    let id = w.insert(&session(0, 1)).unwrap();
    let ns: Vec<Option<u16>> = (0..3).map(|_| r.next_ns(id.slot, id.generation)).collect();
    assert_eq!(ns, [Some(0), Some(1), Some(2)]);
    let old = id;
    w.remove(id).unwrap();
    let id = w.insert(&session(0, 1)).unwrap();
    assert_eq!(id.slot, old.slot, "the slot is reused");
    // A worker still holding the old session takes nothing, and above
    // all does not write over the new session's word.
    assert_eq!(r.next_ns(old.slot, old.generation), None);
    assert_eq!(
        r.next_ns(id.slot, id.generation),
        Some(0),
        "a new session starts at 0"
    );
    w.remove(id).unwrap();

    // lnsd numbered the session's LCP, auth and IPCP frames (0..=6): the
    // workers go on from 7, lnsd's later frames take from the same
    // sequence, and a removal hands back where it stood.
    let id = w.insert_at_ns(&session(0, 1), 7).unwrap();
    assert_eq!(r.next_ns(id.slot, id.generation), Some(7));
    assert_eq!(w.next_ns(id), Some(8));
    assert_eq!(r.next_ns(id.slot, id.generation), Some(9));
    assert_eq!(w.peek_ns(id), Some(10));
    assert_eq!(w.peek_ns(id), Some(10), "peeking takes nothing");
    // A data plane that restarts maps the same words: the sequence goes on.
    let r2 = w.reader();
    assert_eq!(r2.next_ns(id.slot, id.generation), Some(10));
    let (_, next) = w.remove_taking_ns(id).unwrap();
    assert_eq!(next, 11);
    // Retired: a worker that found the session before takes nothing.
    assert_eq!(r.next_ns(id.slot, id.generation), None);
    assert_eq!(w.next_ns(id), None);
    assert_eq!(w.peek_ns(id), None);
}

#[test]
fn the_file_is_shared_and_mismatches_are_refused() {
    let path = shm_path("attach");
    let mut w = Writer::create(
        &path,
        Sizes {
            capacity: 1000,
            workers: 2,
        },
    )
    .unwrap();
    let id = w.insert(&session(5, 3)).unwrap();
    // A separate mapping, as the data plane process has.
    let r = Reader::attach(&path).unwrap();
    assert_eq!(r.sizes().capacity, 1000);
    assert_eq!(r.by_ids(1, 5).unwrap().session().unwrap(), session(5, 3));
    r.worker(1)
        .unwrap()
        .session(id.slot, id.generation, Dir::Up, 64);
    assert_eq!(w.counters(id).up_bytes, 64, "counters cross the mapping");
    r.heartbeat(2);
    let st = w.reader_status();
    assert_eq!(
        (st.pid, st.attaches, st.heartbeat, st.mode),
        (std::process::id(), 1, 1, 2)
    );

    // Data plane restart: a second attach sees every session as it was.
    drop(r);
    let r = Reader::attach(&path).unwrap();
    assert_eq!(
        r.by_ipv4(Ipv4Addr::from_bits(0x6440_0005)).unwrap().slot,
        id.slot
    );
    assert_eq!(w.reader_status().attaches, 2);

    // Another ABI version is refused with a message that says what to do.
    let bad = shm_path("bad");
    std::fs::write(&bad, vec![0u8; 8192]).unwrap();
    let e = Reader::attach(&bad).unwrap_err().to_string();
    assert!(e.contains("not an xlns table"), "{e}");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..16].copy_from_slice(&99u64.to_le_bytes());
    std::fs::write(&bad, &bytes).unwrap();
    let e = Reader::attach(&bad).unwrap_err().to_string();
    assert!(e.contains("ABI 99") && e.contains("same build"), "{e}");
    bytes[8..16].copy_from_slice(&lns_dataplane::table::ABI_VERSION.to_le_bytes());
    std::fs::write(&bad, &bytes[..bytes.len() - 8]).unwrap();
    let e = Reader::attach(&bad).unwrap_err().to_string();
    assert!(e.contains("header describes"), "{e}");
    std::fs::remove_file(&bad).unwrap();
    assert!(
        Reader::attach(&bad)
            .unwrap_err()
            .to_string()
            .contains("xlns-test-bad")
    );

    drop(w);
    assert!(!path.exists(), "lnsd's table goes with it");
}

/// One writer churning (rewrite in place, remove, re-insert, each with a
/// new variant) while
/// readers look up every key by every index. Readers must never see a
/// torn record, and must always find the sessions nobody touches.
#[test]
fn torture_churn_against_concurrent_readers() {
    const STABLE: u32 = 2_000;
    const CHURN: u32 = 6_000;
    const OPS: u32 = 1_000_000;
    let path = shm_path("torture");
    let mut w = Writer::create(
        &path,
        Sizes {
            capacity: STABLE + CHURN,
            workers: 1,
        },
    )
    .unwrap();
    for n in 0..STABLE + CHURN {
        w.insert(&session(n, 0)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|k| {
            // Each reader maps the file on its own, like the data plane.
            let r = Reader::attach(&path).unwrap();
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut n = k * 7919;
                let mut hits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = (n + 7919) % (STABLE + CHURN);
                    let s = session(n, 0);
                    let found = [
                        r.by_ids(s.tunnel, s.session),
                        r.by_ipv4(s.ipv4.unwrap()),
                        r.by_ipv6_prefix(s.ipv6_prefix.unwrap()),
                    ];
                    for f in found.iter().flatten() {
                        assert_eq!(
                            n_of(f.session().unwrap().tunnel, f.session().unwrap().session),
                            n
                        );
                        consistent(n, &f.session().unwrap());
                        hits += 1;
                    }
                    if n < STABLE {
                        assert!(
                            found.iter().all(Option::is_some),
                            "stable session {n} missed"
                        );
                    }
                }
                seen.fetch_add(hits, Ordering::Relaxed);
            })
        })
        .collect();
    let mut ids: Vec<_> = (STABLE..STABLE + CHURN)
        .map(|n| Some(w.reader().by_ids(session(n, 0).tunnel, n as u16).unwrap()))
        .map(|f| {
            f.map(|f| lns_dataplane::table::SlotId {
                slot: f.slot,
                generation: f.generation,
            })
        })
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for op in 0..OPS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % u64::from(CHURN)) as usize;
        let n = STABLE + i as u32;
        match ids[i].take() {
            // Mostly in-place rewrites: they are what a reader can overlap.
            Some(id) if op % 4 != 0 => {
                w.update(id, &session(n, op as u16)).unwrap();
                ids[i] = Some(id);
            }
            Some(id) => {
                w.remove(id).unwrap();
            }
            None => ids[i] = Some(w.insert(&session(n, op as u16)).unwrap()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader saw a torn or missing record");
    }
    assert!(seen.load(Ordering::Relaxed) > 0);
    // Everything is still where the writer thinks it is.
    let r = w.reader();
    for (i, id) in ids.iter().enumerate() {
        let n = STABLE + i as u32;
        let s = session(n, 0);
        assert_eq!(r.by_ids(s.tunnel, s.session).is_some(), id.is_some(), "{n}");
    }
    println!("tombstones after churn: {}", w.tombstones());
}

#[test]
fn a_million_sessions() {
    const N: u32 = 1_000_000;
    let path = shm_path("million");
    let mut w = Writer::create(
        &path,
        Sizes {
            capacity: N,
            workers: 2,
        },
    )
    .unwrap();
    let mut ids = Vec::with_capacity(N as usize);
    for n in 0..N {
        ids.push(w.insert(&session(n, 1)).unwrap());
    }
    assert!(matches!(w.insert(&session(N, 1)), Err(TableError::Full)));
    let r = Reader::attach(&path).unwrap();
    for n in (0..N).step_by(997) {
        let s = session(n, 1);
        assert_eq!(r.by_ids(s.tunnel, s.session).unwrap().session().unwrap(), s);
        assert_eq!(
            r.by_ipv4(s.ipv4.unwrap()).unwrap().session().unwrap().key(),
            up_key(s.tunnel, s.session)
        );
    }
    for id in ids {
        w.remove(id).unwrap();
    }
    assert!(w.is_empty());
    assert_eq!(w.tombstones(), 0, "a drained table leaves no tombstones");
}

/// Leg `n` of the switched-session tests: our tunnel 500 + n, session `s`.
fn leg(n: u16, s: u16, egress: Egress) -> Leg {
    Leg {
        tunnel: 500 + n,
        session: s,
        local: Ipv4Addr::new(192, 0, 2, 1),
        local_port: 1701,
        peer: Ipv4Addr::new(198, 51, 100, n as u8),
        peer_port: 1701,
        peer_tunnel: 900 + n,
        peer_session: s ^ 0x5555,
        sequencing: n == 2,
        vlan: None,
        nexthop: 2 + u32::from(n),
        egress,
        next_ns: 10 * n,
    }
}

#[test]
fn a_switched_session_is_two_slots_found_by_ids_only() {
    let mut w = Writer::heap(Sizes {
        capacity: 8,
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    let (a, b) = (leg(1, 7, Egress::Access), leg(2, 8, Egress::Core));
    let ids = w.insert_switched(&a, &b).unwrap();
    let fa = r.by_ids(501, 7).unwrap();
    let fb = r.by_ids(502, 8).unwrap();
    assert_eq!(fa.session().unwrap(), Session::switched_leg(&a, &b));
    assert_eq!(fb.session().unwrap(), Session::switched_leg(&b, &a));
    assert_eq!((fa.slot, fb.slot), (ids.a.slot, ids.b.slot));
    assert_eq!(fa.switched(), Some(Egress::Core));
    assert_eq!(fb.switched(), Some(Egress::Access));
    // Slot A sends on leg B, which sequences from lnsd's 20.
    assert_eq!(r.next_ns(fa.slot, fa.generation), Some(20));
    assert_eq!(r.next_ns(fb.slot, fb.generation), Some(10));
    assert_eq!(w.len(), 2);
    // Nothing with an address may be switched.
    let mut bad = Session::switched_leg(&a, &b);
    bad.session = 99;
    bad.ipv4 = Some(Ipv4Addr::new(100, 64, 0, 1));
    assert!(matches!(w.insert(&bad), Err(TableError::Invalid(_))));
    assert!(r.by_ipv4(Ipv4Addr::new(100, 64, 0, 1)).is_none());
    // A clash on either leg inserts neither.
    let c = leg(3, 9, Egress::Access);
    assert!(matches!(
        w.insert_switched(&c, &b),
        Err(TableError::Duplicate(_))
    ));
    assert!(r.by_ids(503, 9).is_none());
    assert_eq!(w.len(), 2);
    // A leg's peer moves its port: both slots rewritten, Ns go on.
    let mut a2 = a;
    a2.peer_port = 40000;
    w.update_switched(ids, &a2, &b).unwrap();
    assert_eq!(
        r.by_ids(501, 7).unwrap().session().unwrap().peer_port,
        40000
    );
    assert_eq!(
        r.by_ids(502, 8).unwrap().session().unwrap().template,
        Session::switched_leg(&b, &a2).template
    );
    assert!(
        w.update_switched(ids, &c, &b).is_err(),
        "our ids may not change"
    );
    // Counters per leg; removal hands back each leg's next Ns.
    let blk = r.worker(0).unwrap();
    blk.session(fa.slot, fa.generation, Dir::Up, 100);
    blk.session(fb.slot, fb.generation, Dir::Up, 60);
    blk.session(fb.slot, fb.generation, Dir::Up, 60);
    blk.session_drop(fb.slot, fb.generation);
    let end = w.remove_switched(ids).unwrap();
    assert_eq!((end.from_a.up_packets, end.from_a.up_bytes), (1, 100));
    assert_eq!(
        (end.from_b.up_packets, end.from_b.up_bytes, end.from_b.drops),
        (2, 120, 1)
    );
    assert_eq!((end.next_ns_a, end.next_ns_b), (11, 21));
    assert!(w.is_empty());
    assert_eq!(w.remove_switched(ids), None);
}

#[test]
fn the_switched_journal_follows_inserts_updates_and_removals() {
    let mut w = Writer::heap(Sizes {
        capacity: 8,
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    let (head, keys) = r.switched_keys();
    assert_eq!((head, keys.len()), (0, 0));
    // Terminated sessions are not journalled.
    let t = w.insert(&session(1, 1)).unwrap();
    assert_eq!(r.switched_changes(0, |_| panic!("journalled")), Ok(0));
    let ids = w
        .insert_switched(&leg(1, 7, Egress::Access), &leg(2, 8, Egress::Core))
        .unwrap();
    let mut seen = Vec::new();
    let tail = r.switched_changes(0, |c| seen.push(c)).unwrap();
    let (ka, kb) = (501 << 16 | 7, 502 << 16 | 8);
    assert_eq!(seen, [SwitchedChange::Added(ka), SwitchedChange::Added(kb)]);
    // A terminated session turned switched, then moved to another key,
    // then terminated again.
    let mut s = Session::switched_leg(&leg(3, 9, Egress::Core), &leg(4, 10, Egress::Core));
    s.tunnel = 1;
    s.session = 1;
    w.update(t, &s).unwrap();
    s.session = 2;
    w.update(t, &s).unwrap();
    w.update(t, &session(1, 2)).unwrap();
    w.remove_switched(ids).unwrap();
    seen.clear();
    let tail = r.switched_changes(tail, |c| seen.push(c)).unwrap();
    use SwitchedChange::{Added, Removed};
    let k = |s: u32| 1 << 16 | s;
    assert_eq!(
        seen,
        [
            Added(k(1)),
            Removed(k(1)),
            Added(k(2)),
            Removed(k(2)),
            Removed(ka),
            Removed(kb)
        ]
    );
    // Caught up: nothing more, and the scan agrees (nothing switched).
    assert_eq!(r.switched_changes(tail, |_| panic!()), Ok(tail));
    assert_eq!(r.switched_keys(), (tail, vec![]));
}

#[test]
fn a_follower_lapped_by_the_journal_is_told_to_rebuild_from_a_scan() {
    let mut w = Writer::heap(Sizes {
        capacity: 8,
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    let keep = w
        .insert_switched(&leg(1, 1, Egress::Access), &leg(2, 2, Egress::Core))
        .unwrap();
    let tail = r.switched_changes(0, |_| {}).unwrap();
    assert_eq!(tail, 2);
    // Exactly a ring's worth behind (four entries a round): still
    // readable, in order.
    let (a, b) = (leg(3, 3, Egress::Access), leg(4, 4, Egress::Access));
    for _ in 0..JOURNAL_ENTRIES / 4 {
        let ids = w.insert_switched(&a, &b).unwrap();
        w.remove_switched(ids).unwrap();
    }
    let mut seen = Vec::new();
    let head = r.switched_changes(tail, |c| seen.push(c)).unwrap();
    assert_eq!(head, tail + JOURNAL_ENTRIES as u64);
    assert_eq!(seen.len(), JOURNAL_ENTRIES);
    assert_eq!(
        seen[..4],
        [
            SwitchedChange::Added(503 << 16 | 3),
            SwitchedChange::Added(504 << 16 | 4),
            SwitchedChange::Removed(503 << 16 | 3),
            SwitchedChange::Removed(504 << 16 | 4),
        ]
    );
    let ids = w.insert_switched(&a, &b).unwrap();
    // From `tail` the ring has lapped: the entries are gone.
    assert_eq!(r.switched_changes(tail, |_| {}), Err(Overrun));
    assert_eq!(r.switched_changes(head, |_| {}), Ok(head + 2));
    // The rebuild: what is switched now, and where to follow from.
    let (from, mut keys) = r.switched_keys();
    keys.sort_unstable();
    assert_eq!(from, head + 2);
    assert_eq!(
        keys,
        [501 << 16 | 1, 502 << 16 | 2, 503 << 16 | 3, 504 << 16 | 4]
    );
    w.remove_switched(ids).unwrap();
    w.remove_switched(keep).unwrap();
    let mut seen = Vec::new();
    assert_eq!(r.switched_changes(from, |c| seen.push(c)), Ok(from + 4));
    assert!(seen.iter().all(|c| matches!(c, SwitchedChange::Removed(_))));
}

#[test]
fn a_journal_entry_written_over_while_read_is_an_overrun() {
    let mut w = Writer::heap(Sizes {
        capacity: 4,
        workers: 1,
    })
    .unwrap();
    let r = w.reader();
    let (a, b) = (leg(1, 1, Egress::Access), leg(2, 2, Egress::Core));
    let ids = w.insert_switched(&a, &b).unwrap();
    // The follower reads entry 0, and before it reads entry 1 lnsd laps
    // the ring: entry 1's word now holds a later position's.
    let mut first = true;
    let mut w = Some(w);
    let got = r.switched_changes(0, |_| {
        if first {
            first = false;
            let w = w.as_mut().unwrap();
            w.remove_switched(ids).unwrap();
            for _ in 0..JOURNAL_ENTRIES / 2 {
                let i = w.insert_switched(&a, &b).unwrap();
                w.remove_switched(i).unwrap();
            }
        }
    });
    assert_eq!(got, Err(Overrun));
}
