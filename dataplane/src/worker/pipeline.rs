//! One worker's packet logic, without sockets: a received frame in, where
//! it goes out (or the named reason it does not). The I/O loop in
//! [`super`] feeds it batches; tests and benchmarks feed it buffers.
//!
//! Upstream (from a LAC): decap → session by (tunnel, session) → the
//! frame must come from the session's LAC → spoof check, TTL, next-hop
//! Ethernet (forward) → to the core, or, if the destination is another
//! subscriber, straight into that subscriber's tunnel (hairpin).
//! Downstream (from the core): classify → session by address → MRU check
//! (too big: ICMP back to the sender) → encapsulate from the template,
//! with the LAC's current MACs and the session's Ns.

use crate::node::classify::{fits, from_core};
use crate::node::decap::{Decapped, Family, decap};
use crate::node::drop::Drop;
use crate::node::encap::encap;
use crate::node::forward::{Allowed, NextHop as FwdHop, to_core};
use crate::node::icmp::{self, too_big};
use crate::table::counters::{Counter, Dir, LocalCounters, WorkerBlock};
use crate::table::{CORE_V4, CORE_V6, Found, Reader};
use std::net::IpAddr;

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// Transmit on the core side: `(start, len)` in the buffer.
    Core(usize, usize),
    /// Transmit on the access side.
    Access(usize, usize),
    /// Dropped, and counted under this reason.
    Drop(Drop),
}

/// What a worker needs to know besides the tables.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// The LNS's UDP port (data frames are addressed to it).
    pub lns_port: u16,
    /// The source of ICMP errors.
    pub icmp: icmp::Source,
    /// Benchmark reference: access frames go to the core untouched.
    pub bare: bool,
}

/// A worker's view: the tables, its counter block, and the counts of the
/// batch in progress.
#[derive(Debug)]
pub struct Pipeline<'a> {
    table: &'a Reader,
    block: WorkerBlock<'a>,
    env: Env,
    /// Counts since the last flush.
    pub local: LocalCounters,
}

impl<'a> Pipeline<'a> {
    /// Worker `worker` over `table`. `None` if the table has no counter
    /// block for it.
    pub fn new(table: &'a Reader, worker: u32, env: Env) -> Option<Pipeline<'a>> {
        Some(Pipeline {
            table,
            block: table.worker(worker)?,
            env,
            local: LocalCounters::default(),
        })
    }

    /// Publishes the batch's counts (once per batch).
    pub fn flush(&mut self) {
        self.block.flush(&mut self.local);
    }

    fn drop(&mut self, d: Drop, s: Option<&Found>) -> Out {
        self.local.drop(d);
        if let Some(f) = s {
            self.block.session_drop(f.slot, f.generation);
        }
        Out::Drop(d)
    }

    /// A frame from the access side at `buf[start..start + len]`; `buf`
    /// has room before `start` for hairpin encapsulation.
    #[inline]
    pub fn upstream(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.local.add(Counter::RxAccess, 1);
        if self.env.bare {
            return Out::Core(start, len);
        }
        let Some(frame) = buf.get(start..start + len) else {
            return self.drop(Drop::Truncated, None);
        };
        match decap(frame, self.env.lns_port) {
            Ok(d) => self.decapped(buf, start, d),
            Err(x) => self.drop(x, None),
        }
    }

    /// One interface for both sides: L2TP to our port is upstream,
    /// anything else the XDP program steered is for a subscriber.
    #[inline]
    pub fn either(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        let Some(frame) = buf.get(start..start + len) else {
            return self.drop(Drop::Truncated, None);
        };
        match decap(frame, self.env.lns_port) {
            Err(Drop::NotL2tpUdp) => self.downstream(buf, start, len),
            Ok(d) => {
                self.local.add(Counter::RxAccess, 1);
                self.decapped(buf, start, d)
            }
            Err(x) => {
                self.local.add(Counter::RxAccess, 1);
                self.drop(x, None)
            }
        }
    }

    #[inline]
    fn decapped(&mut self, buf: &mut [u8], start: usize, d: Decapped) -> Out {
        let d = Decapped {
            inner: start + d.inner,
            ..d
        };
        let Some(f) = self.table.by_ids(d.tunnel, d.session) else {
            return self.drop(Drop::UnknownSession, None);
        };
        if d.peer != f.session.peer {
            return self.drop(Drop::WrongPeer, Some(&f));
        }
        // No IPv6 service for this subscriber (no prefix handed out) or
        // none at all (no IPv6 core next hop): its own name, since
        // `no_next_hop` means an unresolved MAC.
        if d.family == Family::V6 && f.session.ipv6_prefix.is_none() {
            return self.drop(Drop::Ipv6Unrouted, Some(&f));
        }
        let (hop_index, dst) = match d.family {
            Family::V4 => (CORE_V4, inner_dst_v4(buf, d.inner)),
            Family::V6 => (CORE_V6, inner_dst_v6(buf, d.inner)),
        };
        let allowed = Allowed {
            ipv4: f.session.ipv4,
            ipv6_prefix: f.session.ipv6_prefix,
        };
        // Hairpin: another subscriber of ours is the destination.
        let peer = match dst {
            Some(IpAddr::V4(a)) => self.table.by_ipv4(a),
            Some(IpAddr::V6(a)) => {
                let mut p = [0u8; 8];
                p.copy_from_slice(&a.octets()[..8]);
                self.table.by_ipv6_prefix(p)
            }
            None => None,
        };
        let hop = match peer {
            // The Ethernet header written here is overwritten by the
            // encapsulation; only the checks and the TTL matter.
            Some(_) => FwdHop {
                dst_mac: [0; 6],
                src_mac: [0; 6],
            },
            None => match self.table.nexthop(hop_index) {
                Some(h) => FwdHop {
                    dst_mac: h.dst_mac,
                    src_mac: h.src_mac,
                },
                None if d.family == Family::V6 => return self.drop(Drop::Ipv6Unrouted, Some(&f)),
                None => return self.drop(Drop::NoNextHop, Some(&f)),
            },
        };
        let (s, n) = match to_core(buf, &d, &allowed, &hop) {
            Ok(x) => x,
            Err(x) => return self.drop(x, Some(&f)),
        };
        let bytes = d.inner_len as u64;
        self.block.session(f.slot, f.generation, Dir::Up, bytes);
        self.local.add(Counter::Upstream, 1);
        self.local.add(Counter::UpstreamBytes, bytes);
        match peer {
            None => Out::Core(s, n),
            Some(p) => {
                self.local.add(Counter::Hairpin, 1);
                self.encap_for(buf, &p, s + 14, n - 14)
            }
        }
    }

    /// A frame from the core side.
    #[inline]
    pub fn downstream(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.local.add(Counter::RxCore, 1);
        let Some(frame) = buf.get(start..start + len) else {
            return self.drop(Drop::Truncated, None);
        };
        let mut p = match from_core(frame) {
            Ok(p) => p,
            Err(x) => return self.drop(x, None),
        };
        p.start += start;
        if p.start + p.len > start + len {
            return self.drop(Drop::Truncated, None);
        }
        let found = match p.dst {
            IpAddr::V4(a) => self.table.by_ipv4(a),
            IpAddr::V6(a) => {
                let mut k = [0u8; 8];
                k.copy_from_slice(&a.octets()[..8]);
                self.table.by_ipv6_prefix(k)
            }
        };
        let Some(f) = found else {
            return self.drop(Drop::UnknownSession, None);
        };
        if fits(&p, f.session.mru).is_err() {
            self.local.drop(Drop::TooBig);
            self.block.session_drop(f.slot, f.generation);
            let hop_index = if p.dst.is_ipv4() { CORE_V4 } else { CORE_V6 };
            let Some(h) = self.table.nexthop(hop_index) else {
                return Out::Drop(Drop::TooBig);
            };
            let hop = FwdHop {
                dst_mac: h.dst_mac,
                src_mac: h.src_mac,
            };
            return match too_big(buf, &p, f.session.mru, &self.env.icmp, &hop) {
                Ok((s, n)) => {
                    self.local.add(Counter::IcmpTooBig, 1);
                    Out::Core(s, n)
                }
                Err(_) => Out::Drop(Drop::TooBig),
            };
        }
        self.encap_for(buf, &f, p.start, p.len)
    }

    /// Encapsulates the IP packet at `buf[start..start + len]` for `f`.
    #[inline]
    fn encap_for(&mut self, buf: &mut [u8], f: &Found, start: usize, len: usize) -> Out {
        let t = &f.session.template;
        let ns = if t.sequencing() {
            self.table.next_ns(f.slot, f.generation)
        } else {
            0
        };
        let (s, n) = match encap(t, buf, start, len, ns) {
            Ok(x) => x,
            Err(x) => return self.drop(x, Some(f)),
        };
        // The LAC's neighbour as lnsd last resolved it: a LAC that moved
        // (or whose gateway did) needs one next-hop write, not one per
        // session. Until it is resolved nothing is sent.
        let Some(h) = self.table.nexthop(f.session.lac_nexthop) else {
            return self.drop(Drop::NoNextHop, Some(f));
        };
        buf[s..s + 6].copy_from_slice(&h.dst_mac);
        buf[s + 6..s + 12].copy_from_slice(&h.src_mac);
        self.block
            .session(f.slot, f.generation, Dir::Down, len as u64);
        self.local.add(Counter::Downstream, 1);
        self.local.add(Counter::DownstreamBytes, len as u64);
        Out::Access(s, n)
    }
}

fn inner_dst_v4(buf: &[u8], at: usize) -> Option<IpAddr> {
    let b = buf.get(at + 16..at + 20)?;
    Some(IpAddr::from([b[0], b[1], b[2], b[3]]))
}

fn inner_dst_v6(buf: &[u8], at: usize) -> Option<IpAddr> {
    let b: [u8; 16] = buf.get(at + 24..at + 40)?.try_into().ok()?;
    Some(IpAddr::from(b))
}
