//! The hand-off between workers (issue 18: the elephant tunnel). A LAC's
//! tunnel is one UDP 5-tuple, so a NIC's RSS puts every session of it on
//! one queue, and one worker. The worker that receives such a frame only
//! peeks its (tunnel, session), picks the session's owner with [`owner`],
//! and passes the frame's descriptor to that worker through a [`Producer`]
//! of a single-producer, single-consumer ring; the owner works it as if
//! its own queue had received it (VPP's handoff nodes do the same).
//!
//! Guarantees:
//! - A session always has the same owner (for a given number of workers),
//!   and a ring is first in, first out; a tunnel's frames all come in on
//!   one queue. So a session's frames are worked in the order they came.
//! - [`Producer::push`] never blocks and never overwrites: it takes what
//!   fits and says how many (the caller drops the rest by name).
//! - No locks and no `unsafe`: every slot is an atomic word, written by
//!   the producer before it publishes the tail (release) and read by the
//!   consumer after it sees the tail (acquire); the head goes back the
//!   same way, so a slot is never written while it may still be read.
//!   Both ends keep the other's index cached and read it again only when
//!   the ring looks full (or empty), so a batch costs each side one atomic
//!   read-modify of a line the other side writes.
//!
//! A frame handed over is sent (or dropped) by its owner, and released
//! there; it goes back to the worker it came from, whose fill rings it
//! belongs to, through a second ring ([`Links`]), so no worker runs out
//! of frames to receive into.
//!
//! A worker sleeping in poll mode is woken by its [`Doorbell`] when a
//! frame is passed to it or sent home to it (rung only while it sleeps),
//! so a handed-over frame waits for no timeout.
//!
//! Who calls it: the worker loop, two rings per ordered pair of workers.

use crate::table::Key;
use crate::xsk::{BATCH, Doorbell, Umem};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use xdpilone::xdp::XdpDesc;

/// The worker that works the frames of the session with upstream index
/// key `key` ([`crate::table::up_key`]), of `workers`: the key's hash
/// mapped onto the range, so sessions spread evenly whatever their ids.
#[inline(always)]
pub fn owner(key: u64, workers: u32) -> u32 {
    owner_of_hash(crate::table::index::hash(key), workers)
}

/// [`owner`] of a key whose hash the caller has (a [`Key`]'s).
#[inline(always)]
fn owner_of_hash(h: u64, workers: u32) -> u32 {
    (((h >> 32) * u64::from(workers)) >> 32) as u32
}

/// A value on a cache line of its own, so the producer's and the
/// consumer's indexes never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Line<T>(T);

#[derive(Debug)]
struct Ring {
    /// Two words per entry: the address, then the length and options.
    slots: Box<[AtomicU64]>,
    mask: usize,
    /// Entries ever taken (written by the consumer).
    head: Line<AtomicUsize>,
    /// Entries ever published (written by the producer).
    tail: Line<AtomicUsize>,
}

/// The sending end of a ring.
#[derive(Debug)]
pub struct Producer {
    ring: Arc<Ring>,
    tail: usize,
    /// The consumer's head as last read.
    head: usize,
}

/// The receiving end of a ring.
#[derive(Debug)]
pub struct Consumer {
    ring: Arc<Ring>,
    head: usize,
    /// The producer's tail as last read.
    tail: usize,
}

/// A ring of at least `capacity` descriptors (rounded up to a power of
/// two), split into its two ends.
pub fn ring(capacity: usize) -> (Producer, Consumer) {
    let cap = capacity.max(2).next_power_of_two();
    let ring = Arc::new(Ring {
        slots: (0..2 * cap).map(|_| AtomicU64::new(0)).collect(),
        mask: cap - 1,
        head: Line::default(),
        tail: Line::default(),
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            head: 0,
        },
        Consumer {
            ring,
            head: 0,
            tail: 0,
        },
    )
}

impl Producer {
    /// Publishes as many of `descs` as the ring has room for, in order;
    /// returns how many.
    #[inline]
    pub fn push(&mut self, descs: &[XdpDesc]) -> usize {
        let r = &*self.ring;
        let cap = r.mask + 1;
        if self.tail - self.head + descs.len() > cap {
            self.head = r.head.0.load(Ordering::Acquire);
        }
        let n = descs.len().min(cap - (self.tail - self.head));
        for (i, d) in descs[..n].iter().enumerate() {
            let at = 2 * ((self.tail + i) & r.mask);
            r.slots[at].store(d.addr, Ordering::Relaxed);
            r.slots[at + 1].store(
                (u64::from(d.len) << 32) | u64::from(d.options),
                Ordering::Relaxed,
            );
        }
        if n > 0 {
            self.tail += n;
            r.tail.0.store(self.tail, Ordering::Release);
        }
        n
    }

    /// Entries published and not yet taken, as far as this end knows.
    pub fn pending(&self) -> usize {
        self.tail - self.ring.head.0.load(Ordering::Acquire)
    }
}

impl Consumer {
    /// Whether nothing waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.head == self.ring.tail.0.load(Ordering::Acquire)
    }
}

impl Consumer {
    /// Takes up to `out.len()` descriptors, oldest first; returns how many.
    #[inline]
    pub fn pop(&mut self, out: &mut [XdpDesc]) -> usize {
        let r = &*self.ring;
        if self.tail - self.head < out.len() {
            self.tail = r.tail.0.load(Ordering::Acquire);
        }
        let n = out.len().min(self.tail - self.head);
        for (i, d) in out[..n].iter_mut().enumerate() {
            let at = 2 * ((self.head + i) & r.mask);
            let meta = r.slots[at + 1].load(Ordering::Relaxed);
            *d = XdpDesc {
                addr: r.slots[at].load(Ordering::Relaxed),
                len: (meta >> 32) as u32,
                options: meta as u32,
            };
        }
        if n > 0 {
            self.head += n;
            r.head.0.store(self.head, Ordering::Release);
        }
        n
    }
}

/// One worker's ends of the rings: frames of sessions other workers own
/// go out, frames of sessions it owns come in, and frames go back home.
#[derive(Debug)]
pub struct Links {
    me: u32,
    workers: u32,
    /// To worker `i` (`None` for this one): frames it owns.
    to: Vec<Option<Producer>>,
    /// From the other workers: frames this one owns.
    pub(crate) from: Vec<Consumer>,
    /// To worker `i`: its frames, released here.
    home_to: Vec<Option<Producer>>,
    /// From the other workers: this worker's frames, released there.
    home_from: Vec<Consumer>,
    /// The batch being worked: frames for each worker, before they go.
    staged: Vec<Vec<XdpDesc>>,
    /// Every worker's doorbell (this one's at `me`).
    bells: Vec<Arc<Doorbell>>,
}

/// The rings between `workers` workers, `capacity` descriptors each, as
/// each worker's [`Links`] (worker `i` at index `i`); fails only when an
/// eventfd for a doorbell cannot be had.
pub fn links(workers: u32, capacity: usize) -> std::io::Result<Vec<Links>> {
    let n = workers as usize;
    let bells = (0..n)
        .map(|_| Doorbell::new().map(Arc::new))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut out: Vec<Links> = (0..workers)
        .map(|me| Links {
            me,
            workers,
            to: (0..n).map(|_| None).collect(),
            from: Vec::with_capacity(n.saturating_sub(1)),
            home_to: (0..n).map(|_| None).collect(),
            home_from: Vec::with_capacity(n.saturating_sub(1)),
            staged: (0..n).map(|_| Vec::with_capacity(BATCH)).collect(),
            bells: bells.clone(),
        })
        .collect();
    for a in 0..n {
        for b in 0..n {
            if a == b {
                continue;
            }
            let (p, c) = ring(capacity);
            out[a].to[b] = Some(p);
            out[b].from.push(c);
            let (p, c) = ring(capacity);
            out[b].home_to[a] = Some(p);
            out[a].home_from.push(c);
        }
    }
    Ok(out)
}

impl Links {
    /// Sets `d` aside for the worker owning the session of `key` (a data
    /// message's), unless that is this one; returns whether it did.
    #[inline]
    pub fn stage(&mut self, key: Key, d: XdpDesc) -> bool {
        let o = owner_of_hash(key.hash(), self.workers);
        if o == self.me {
            return false;
        }
        self.staged[o as usize].push(d);
        true
    }

    /// Passes the staged frames to their owners; a frame whose owner's
    /// ring is full is released. Returns (passed, released).
    #[inline]
    pub fn pass_staged(&mut self, umem: &mut Umem) -> (usize, usize) {
        let (mut passed, mut full) = (0, 0);
        for (o, staged) in self.staged.iter_mut().enumerate() {
            if staged.is_empty() {
                continue;
            }
            let n = self.to[o].as_mut().map_or(0, |p| p.push(staged));
            if n > 0
                && let Some(b) = self.bells.get(o)
            {
                b.ring();
            }
            for d in &staged[n..] {
                umem.release(d.addr);
            }
            passed += n;
            full += staged.len() - n;
            staged.clear();
        }
        (passed, full)
    }

    /// Takes back this worker's frames that others have released.
    #[inline]
    pub fn frames_home(&mut self, umem: &mut Umem) {
        let mut buf = [XdpDesc::default(); BATCH];
        for c in &mut self.home_from {
            loop {
                let n = c.pop(&mut buf);
                for d in &buf[..n] {
                    umem.release(d.addr);
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }

    /// Sends the frames of other workers released here back to them.
    #[inline]
    pub fn strays_home(&mut self, umem: &mut Umem) {
        let (home_to, bells) = (&mut self.home_to, &self.bells);
        umem.send_strays(|h, d| {
            let n = home_to
                .get_mut(h as usize)
                .and_then(Option::as_mut)
                .map_or(0, |p| p.push(d));
            if n > 0
                && let Some(b) = bells.get(h as usize)
            {
                b.ring();
            }
            n
        });
    }

    /// This worker's doorbell.
    pub fn bell(&self) -> Option<&Doorbell> {
        self.bells.get(self.me as usize).map(|b| &**b)
    }

    /// Whether another worker has passed frames here, or sent frames of
    /// this worker's home, that are not taken yet.
    pub fn pending(&self) -> bool {
        self.from
            .iter()
            .chain(&self.home_from)
            .any(|c| !c.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `XdpDesc` has no `PartialEq`: compare its fields.
    fn key(d: &XdpDesc) -> (u64, u32, u32) {
        (d.addr, d.len, d.options)
    }

    fn keys(d: &[XdpDesc]) -> Vec<(u64, u32, u32)> {
        d.iter().map(key).collect()
    }

    fn desc(i: u64) -> XdpDesc {
        XdpDesc {
            addr: i * 2048,
            len: (i % 1500) as u32 + 60,
            options: (i % 3) as u32,
        }
    }

    /// A worker asleep in `wait` on its doorbell wakes when another
    /// passes it a frame, not at the end of its (20 s) timeout; one that
    /// is passed a frame as it goes to sleep sees it and does not sleep.
    #[test]
    fn a_sleeping_owner_is_rung_awake() {
        use std::time::{Duration, Instant};
        for early in [false, true] {
            let (mut p, mut c) = ring(64);
            let bell = Arc::new(Doorbell::new().unwrap());
            let theirs = Arc::clone(&bell);
            let (ready, go) = std::sync::mpsc::channel::<()>();
            let sleeper = std::thread::spawn(move || {
                if early {
                    go.recv().unwrap();
                }
                let t0 = Instant::now();
                theirs.sleeping();
                if c.is_empty() {
                    crate::xsk::wait(&[theirs.raw_fd()], 20_000);
                }
                theirs.awake();
                let mut out = [XdpDesc::default(); 4];
                (t0.elapsed(), c.pop(&mut out))
            });
            if !early {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(p.push(&[desc(1)]), 1);
            bell.ring();
            let _ = ready.send(());
            let (slept, got) = sleeper.join().unwrap();
            assert_eq!(got, 1);
            assert!(
                slept < Duration::from_secs(10),
                "{slept:?}: the bell did not wake it"
            );
        }
    }

    #[test]
    fn takes_what_fits_and_gives_it_back_in_order() {
        let (mut p, mut c) = ring(6);
        let all: Vec<XdpDesc> = (0..20).map(desc).collect();
        // Rounded up to 8.
        assert_eq!(p.push(&all[..5]), 5);
        assert_eq!(p.push(&all[5..12]), 3, "only 3 more fit");
        assert_eq!(p.push(&all[8..]), 0);
        let mut out = [XdpDesc::default(); 5];
        assert_eq!(c.pop(&mut out), 5);
        assert_eq!(keys(&out), keys(&all[..5]));
        assert_eq!(p.push(&all[8..12]), 4);
        let mut rest = [XdpDesc::default(); 16];
        assert_eq!(c.pop(&mut rest), 7);
        assert_eq!(keys(&rest[..7]), keys(&all[5..12]));
        assert_eq!(c.pop(&mut rest), 0);
        assert_eq!(p.pending(), 0);
    }

    /// Two threads, a small ring, a million descriptors in uneven
    /// batches: every one arrives, once, in order, intact.
    #[test]
    fn a_million_across_threads_in_order() {
        const N: u64 = 1_000_000;
        let (mut p, mut c) = ring(64);
        let producer = std::thread::spawn(move || {
            let mut next = 0u64;
            let mut batch = Vec::with_capacity(64);
            while next < N {
                batch.clear();
                let k = 1 + (next % 61);
                batch.extend((next..(next + k).min(N)).map(desc));
                let mut sent = 0;
                while sent < batch.len() {
                    sent += p.push(&batch[sent..]);
                    std::hint::spin_loop();
                }
                next += batch.len() as u64;
            }
        });
        let mut want = 0u64;
        let mut out = [XdpDesc::default(); 37];
        while want < N {
            let n = c.pop(&mut out);
            for d in &out[..n] {
                assert_eq!(key(d), key(&desc(want)));
                want += 1;
            }
        }
        producer.join().unwrap();
        assert_eq!(c.pop(&mut out), 0);
    }

    #[test]
    fn owners_spread_evenly_and_stay_put() {
        for workers in [1u32, 2, 3, 8] {
            let mut per = vec![0u32; workers as usize];
            // One tunnel, 1,000 sessions: the elephant.
            for s in 0..1000u16 {
                let key = crate::table::up_key(7, s);
                let o = owner(key, workers);
                assert_eq!(o, owner(key, workers));
                per[o as usize] += 1;
            }
            let fair = 1000 / workers;
            for n in per {
                assert!(n.abs_diff(fair) <= fair / 4 + 10, "{workers} workers: {n}");
            }
        }
    }
}
