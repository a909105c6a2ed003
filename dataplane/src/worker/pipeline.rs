//! One worker's packet logic, without sockets: a received frame in, where
//! it goes out (or the named reason it does not). The I/O loop in
//! [`super`] feeds it batches; tests and benchmarks feed it buffers.
//!
//! Upstream (from a LAC): decap → session by (tunnel, session) → the
//! frame must come from the session's LAC → spoof check, TTL, next-hop
//! Ethernet (forward) → to the core, or, if the destination is another
//! subscriber, straight into that subscriber's tunnel (hairpin). An echo
//! request to the subscribers' PPP peer address (the gateway) is answered
//! into the subscriber's own tunnel; nothing else to it goes anywhere.
//! Downstream (from the core): classify → session by address → size
//! check → encapsulate from the template, with the LAC's current MACs and
//! the session's Ns.
//!
//! A session with a rate is policed each way (`node::police`): upstream
//! once the packet has passed every other check, downstream once it is
//! known to fit (or to be fragmented); over the rate it is dropped as
//! `rate_limited`, counted for the session too. The clock is read once
//! per batch ([`Pipeline::set_time`]).
//!
//! The size check bounds a packet by its subscriber's MRU and by what the
//! access link's MTU leaves after the session's outer headers. Above it,
//! IPv4 with DF clear is fragmented (RFC 791), the rest answered with ICMP
//! "fragmentation needed" / "packet too big" reporting that limit (RFC
//! 1191 §4, RFC 4443 §3.2). Fragments need frames the packet did not come
//! in: [`Out::Fragments`] asks the loop for them.
//!
//! Express lanes (issue 18): the packet nearly every frame is, an IPv4
//! packet of a terminated session to the Internet or to a subscriber, is
//! taken by a lane that does only its work (`Pipeline::upstream_express`,
//! `Pipeline::downstream_express`): fixed offsets, the few words of the
//! session's record it reads, every check before any write. A frame it
//! does not take all the way goes, untouched and uncounted, to the
//! general path, which takes any frame and names its drop. Each lane is
//! held to the general path by a proptest on twin tables (answer, frame
//! out, named and per-session counters), so the two never disagree on
//! what happens to a packet, only on what it costs.
//!
//! Switched sessions (multi-hop, DESIGN §2.1): an L2TP data message whose
//! (tunnel, session) finds a switched slot, whatever its PPP frame holds,
//! must come from that leg's peer (else `switch_wrong_peer`); it is
//! rewritten to the other leg's headers (`node::switch`), with the next
//! hop's MACs and the other leg's Ns, and leaves on the interface the
//! slot names, within that interface's MTU when known. It may arrive on
//! either interface (the target LNS may be reached through the core): on
//! the access side it is recognised by its header, on the core side when
//! its destination is no subscriber's (so a subscriber's own UDP traffic
//! to port 1701 is never taken for it). The receiving slot counts it.

use crate::node::classify::{ToSubscriber, fits, from_core, limit, limit_over};
use crate::node::decap::{
    DataMessage, Decapped, Family, data_message, express_v4, ip_payload, ipv4_ppp_header,
};
use crate::node::drop::Drop;
use crate::node::encap::{ExpressTemplate, TemplateRef, encap};
use crate::node::forward::{Allowed, NextHop as FwdHop, spend_hop, to_core};
use crate::node::frag::{self, Plan};
use crate::node::gateway;
use crate::node::icmp::{self, too_big};
use crate::node::police;
use crate::node::switch;
use crate::table::counters::{Counter, Dir, LocalCounters, WorkerBlock};
use crate::table::{
    CORE_V4, CORE_V6, Egress, FirstLine, Found, HopCache, Key, Lookups, Reader, up_key,
};
use crate::wire::ipv4::decrement_ttl;
use std::net::{IpAddr, Ipv4Addr};

/// How many packets ahead of its work a packet's index bucket is
/// prefetched ([`Pipeline::prefetch_ahead`]): twice [`SLOTS_AHEAD`], so
/// the bucket has had that many packets' work to arrive when the slot's
/// prefetch reads it.
pub const BUCKETS_AHEAD: usize = 16;
/// How many packets ahead of its work a packet's slot and counters are
/// prefetched: 6 and 8 did best at 1,000,000 sessions, within noise of
/// each other, against 4 and 12 (`stages schedules`,
/// `bench/results/2026-12-05-rolling-prefetch.md`): a memory latency's
/// worth of packets' work, or a little more.
pub const SLOTS_AHEAD: usize = 8;

/// Where a fragment after the first is written in the frame it gets: the
/// same headroom as a received frame, for the encapsulation in front.
pub const FRAGMENT_AT: usize = 256;

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// Transmit on the core side: `(start, len)` in the buffer.
    Core(usize, usize),
    /// Transmit on the access side.
    Access(usize, usize),
    /// The packet leaves toward its subscriber as this many fragments:
    /// the first written over it by [`Pipeline::first_fragment`], each
    /// later one into a free frame by [`Pipeline::next_fragment`]; or,
    /// with fewer free frames than that, none ([`Pipeline::no_frames`]).
    Fragments(usize),
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
    /// The subscribers' PPP peer address (IPCP's; lnsd's `ppp.gateway`):
    /// echo requests to it are answered, anything else to it is dropped.
    /// `None`: it is forwarded like any destination.
    pub gateway: Option<Ipv4Addr>,
    /// The access interface's MTU, which every encapsulated frame must fit
    /// (`None`: not known; the subscriber's MRU alone limits).
    pub access_mtu: Option<u16>,
    /// The core interface's MTU, which a switched frame leaving there must
    /// fit (`None`: not known, not checked).
    pub core_mtu: Option<u16>,
    /// Benchmark reference: access frames go to the core untouched, and
    /// core frames to the access side (the same sockets and loop, no
    /// L2TP work, for each direction).
    pub bare: bool,
}

/// Where the ICMP error for a packet too big for its subscriber goes.
#[derive(Debug, Clone, Copy)]
enum Sender<'f> {
    /// Out of the core interface (the packet came from there).
    Core,
    /// Into this subscriber's tunnel (a hairpinned packet).
    Subscriber(&'f Found),
}

/// The packet being fragmented.
#[derive(Debug, Clone, Copy)]
struct Pending {
    to: Found,
    plan: Plan,
    /// The packet in its frame.
    start: usize,
    len: usize,
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
    /// The last packet [`Out::Fragments`] announced.
    pending: Option<Pending>,
    /// The batch's time, in policing ticks (see [`Pipeline::set_time`]).
    tick: u32,
    /// The next hops' MACs last written into frames.
    hops: HopCache<'a>,
    /// The table's look-ups, sliced once.
    look: Lookups<'a>,
    /// A switched leg's frame was worked since the last batch started:
    /// the next batch's upstream keys prefetch the whole slot (a leg's
    /// IPv4 frames read its template, in the second line).
    switched_seen: bool,
    /// The batch in progress prefetches whole slots (`switched_seen` as
    /// its start found it).
    whole: bool,
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
            pending: None,
            tick: 0,
            hops: HopCache::default(),
            look: table.lookups(),
            switched_seen: false,
            whole: false,
        })
    }

    /// The time of the batch about to be worked, in nanoseconds on any
    /// monotonic clock the worker keeps: one reading per batch is what
    /// the sessions' rates are policed against.
    pub fn set_time(&mut self, ns: u64) {
        self.tick = police::tick(ns);
    }

    /// The key an access-side frame will be looked up by, read without
    /// parsing it (the common shape only: Ethernet without a tag or with
    /// one 802.1Q tag, IPv4, UDP to our port, an L2TP data header): for
    /// the worker's prefetching, which a frame of another shape
    /// just does without.
    #[inline(always)]
    pub fn peek_upstream(&self, frame: &[u8]) -> Option<Key> {
        // IPv4 without options, untagged: one bounds check, fixed offsets.
        // 58 octets: the longest such header (Length, Ns and Nr) and the
        // PPP protocol behind it, for the key's prefetch hint; every IPv4
        // data message is longer.
        if let Some(h) = frame.get(..58)
            && h[12..15] == [0x08, 0x00, 0x45]
        {
            if u16::from_be_bytes([h[36], h[37]]) != self.env.lns_port || h[42] & 0x80 != 0 {
                return None;
            }
            let ids = if h[42] & 0x40 != 0 { 46 } else { 44 };
            let key = up_key(
                u16::from_be_bytes([h[ids], h[ids + 1]]),
                u16::from_be_bytes([h[ids + 2], h[ids + 3]]),
            );
            return Some(if carries_ipv4(h, ids + 4, h[42]) {
                Key::up_ipv4(key)
            } else {
                Key::up(key)
            });
        }
        let ip = match frame.get(12..14)? {
            [0x08, 0x00] => 14,
            [0x81, 0x00] if frame.get(16..18)? == [0x08, 0x00] => 18,
            _ => return None,
        };
        let l4 = ip + usize::from(frame.get(ip)? & 0x0f) * 4;
        let udp = frame.get(l4..l4 + 8)?;
        if u16::from_be_bytes([udp[2], udp[3]]) != self.env.lns_port {
            return None;
        }
        let l2tp = l4 + 8;
        let flags = *frame.get(l2tp)?;
        // T clear (data), then the ids, after Length when L is set.
        if flags & 0x80 != 0 {
            return None;
        }
        let ids = l2tp + if flags & 0x40 != 0 { 4 } else { 2 };
        let b = frame.get(ids..ids + 4)?;
        Some(Key::up(up_key(
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
        )))
    }

    /// The key a core-side frame will be looked up by (untagged IPv4 or
    /// IPv6; see [`Pipeline::peek_upstream`]).
    #[inline(always)]
    pub fn peek_downstream(&self, frame: &[u8]) -> Option<Key> {
        match frame.get(12..14)? {
            [0x08, 0x00] => {
                let a = frame.get(30..34)?;
                Some(Key::v4(u64::from(u32::from_be_bytes([
                    a[0], a[1], a[2], a[3],
                ]))))
            }
            [0x86, 0xdd] => {
                let p: [u8; 8] = frame.get(38..46)?.try_into().ok()?;
                Some(Key::v6(u64::from_be_bytes(p)))
            }
            _ => None,
        }
    }

    /// A key for either kind of frame on one interface for both sides.
    #[inline(always)]
    pub fn peek_either(&self, frame: &[u8]) -> Option<Key> {
        self.peek_upstream(frame)
            .or_else(|| self.peek_downstream(frame))
    }

    /// A key's first prefetch: its index bucket on its way to cache (an
    /// address's; a data message's ids need none, see
    /// [`Lookups::prefetch_bucket`]).
    #[inline(always)]
    pub fn prefetch_bucket(&self, key: Option<Key>) {
        if let Some(k) = key {
            self.look.prefetch_bucket(k);
        }
    }

    /// The second, once the first has had time to arrive: the slot the
    /// bucket names, and that slot's counters, on their way to cache; the
    /// slot is kept in the key, for the packet's look-up
    /// ([`Pipeline::upstream_with`], [`Pipeline::downstream_with`]).
    #[inline(always)]
    pub fn prefetch_slot(&self, key: &mut Option<Key>) {
        if let Some(k) = key {
            self.slot_and_counters(k, false);
        }
    }

    /// [`Pipeline::prefetch_slot`]; `whole`: the slot's both lines (see
    /// [`Lookups::prefetch_slot_with`]).
    #[inline(always)]
    fn slot_and_counters(&self, k: &mut Key, whole: bool) {
        if let Some(slot) = self.look.prefetch_slot_with(k, whole) {
            self.block.prefetch(slot);
        }
    }

    /// The worker's schedule, first part: before a batch's first packet
    /// is worked, the first [`BUCKETS_AHEAD`] keys' buckets and the first
    /// [`SLOTS_AHEAD`] keys' slots and counters; each packet's work then
    /// calls [`Pipeline::prefetch_ahead`], which keeps both that far ahead
    /// of it. One call for the batch start, so the table's slices are
    /// loaded once, not once a key. A batch after one that switched a
    /// leg's frame prefetches every upstream key's whole slot (see
    /// [`Lookups::prefetch_slot_with`]).
    ///
    /// Why a rolling distance rather than every bucket, then every slot,
    /// then the work (DESIGN §4's passes, which this keeps in order for
    /// each packet): with a million sessions the memory behind the misses,
    /// not their overlap, is the limit. Passes ask for a batch's lines all
    /// at once and then work while memory idles; keeping the misses a
    /// fixed distance ahead of the work overlaps the two (`stages
    /// schedules`, 1,000,000 sessions, none seen twice within a million
    /// packets, on this project's machine: 55 ns a packet against 66
    /// upstream, 66 against 88 downstream, medians of eleven runs in
    /// turns; `bench/results/2026-12-05-rolling-prefetch.md`).
    #[inline]
    pub fn prefetch_first(&mut self, keys: &mut [Option<Key>]) {
        self.prefetch_first_by::<BUCKETS_AHEAD, SLOTS_AHEAD>(keys);
    }

    /// The worker's schedule, for packet `i` of the batch whose start
    /// [`Pipeline::prefetch_first`] took, called before its work (frames
    /// not worked here included, so the distance holds): the bucket of
    /// the key [`BUCKETS_AHEAD`] on, and the slot and counters of the key
    /// [`SLOTS_AHEAD`] on, whose bucket was asked for that many packets
    /// ago; the slot is kept in the key for its packet's look-up.
    #[inline(always)]
    pub fn prefetch_ahead(&self, keys: &mut [Option<Key>], i: usize) {
        self.prefetch_ahead_by::<BUCKETS_AHEAD, SLOTS_AHEAD>(keys, i);
    }

    /// [`Pipeline::prefetch_first`] at other distances (`B` for the
    /// buckets, `S` for the slots, `B >= S`): for benchmarks that
    /// compare them.
    #[inline]
    pub fn prefetch_first_by<const B: usize, const S: usize>(&mut self, keys: &mut [Option<Key>]) {
        self.whole = std::mem::take(&mut self.switched_seen);
        for k in keys.iter().take(B).flatten() {
            self.look.prefetch_bucket(*k);
        }
        for k in keys.iter_mut().take(S).flatten() {
            self.slot_and_counters(k, self.whole);
        }
    }

    /// [`Pipeline::prefetch_ahead`] at the distances
    /// [`Pipeline::prefetch_first_by`] started the batch with.
    #[inline(always)]
    pub fn prefetch_ahead_by<const B: usize, const S: usize>(
        &self,
        keys: &mut [Option<Key>],
        i: usize,
    ) {
        if let Some(Some(k)) = keys.get(i + B) {
            self.look.prefetch_bucket(*k);
        }
        if let Some(Some(k)) = keys.get_mut(i + S) {
            self.slot_and_counters(k, self.whole);
        }
    }

    /// Publishes the batch's counts (once per batch).
    pub fn flush(&mut self) {
        self.block.flush(&mut self.local);
    }

    /// Whether a packet of `bytes` to `f`'s subscriber is within the
    /// session's downstream rate; counted when not. (Upstream polices
    /// and counts in one step: `WorkerBlock::police_and_count`.)
    #[inline(always)]
    fn conforms_down(&mut self, f: &Found, bytes: usize) -> bool {
        let Some(r) = f.rate_down() else {
            return true;
        };
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        if self
            .block
            .police(f.slot, f.generation, Dir::Down, r, self.tick, bytes)
        {
            return true;
        }
        self.rate_drop(f, Dir::Down);
        false
    }

    /// Counts `f`'s packet going `dir` dropped over its rate, by name and
    /// for the session.
    fn rate_drop(&mut self, f: &Found, dir: Dir) -> Out {
        Self::rate_dropped(&mut self.local, &self.block, f.slot, f.generation, dir)
    }

    /// [`Pipeline::rate_drop`] for session `(slot, generation)`, over the
    /// counters alone: for the express lanes, whose template still
    /// borrows the pipeline's record while they count.
    #[inline(always)]
    fn rate_dropped(
        local: &mut LocalCounters,
        block: &WorkerBlock<'_>,
        slot: u32,
        generation: u64,
        dir: Dir,
    ) -> Out {
        local.drop(Drop::RateLimited);
        block.session_rate_drop(slot, generation, dir);
        Out::Drop(Drop::RateLimited)
    }

    fn drop(&mut self, d: Drop, s: Option<&Found>) -> Out {
        match s {
            Some(f) => Self::dropped(&mut self.local, &self.block, d, f.slot, f.generation),
            None => {
                self.local.drop(d);
                Out::Drop(d)
            }
        }
    }

    /// [`Pipeline::drop`] of session `(slot, generation)`'s packet, over
    /// the counters alone (see [`Pipeline::rate_dropped`]).
    #[inline(always)]
    fn dropped(
        local: &mut LocalCounters,
        block: &WorkerBlock<'_>,
        d: Drop,
        slot: u32,
        generation: u64,
    ) -> Out {
        local.drop(d);
        block.session_drop(slot, generation);
        Out::Drop(d)
    }

    /// A frame for `f` that its template could not make (see
    /// [`Pipeline::template_of`]): a damaged slot is nobody's drop.
    fn no_template(&mut self, d: Drop, f: &Found) -> Out {
        let s = (d != Drop::UnknownSession).then_some(f);
        self.drop(d, s)
    }

    /// A frame from the access side at `buf[start..start + len]`; `buf`
    /// has room before `start` for hairpin encapsulation.
    #[inline]
    pub fn upstream(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.upstream_with(buf, start, len, None)
    }

    /// [`Pipeline::upstream`] with the key the worker's prefetching took for the
    /// frame ([`Pipeline::peek_upstream`], [`Pipeline::prefetch_slot`]),
    /// whose hash and slot its look-up then uses (`table::Key`).
    #[inline]
    pub fn upstream_with(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Out {
        self.local.add(Counter::RxAccess, 1);
        self.upstream_counted_with(buf, start, len, key)
    }

    /// [`Pipeline::upstream`] for a frame already counted as received,
    /// by the worker that passed it here (`worker::handoff`).
    #[inline]
    pub fn upstream_counted(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.upstream_counted_with(buf, start, len, None)
    }

    /// [`Pipeline::upstream_counted`] with the frame's key (see
    /// [`Pipeline::upstream_with`]): the express lane, then, for a frame
    /// it declines, the declined path, a frame at a time (the worker's
    /// batch loop calls the two itself, see
    /// [`Pipeline::upstream_express_with`]).
    #[inline(always)]
    pub fn upstream_counted_with(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Out {
        match self.upstream_express_with(buf, start, len, key) {
            Some(out) => out,
            None => self.upstream_declined(buf, start, len),
        }
    }

    /// The express lane alone, for a batch loop that keeps every call out
    /// of the loop it runs the lane in (see [`Pipeline::upstream_declined`]):
    /// `Some` where the lane takes the frame, counted as express (not as
    /// received: the loop counts its batch's frames once, or, for frames
    /// handed over, their receiver did); `None`, nothing written or
    /// counted, for any frame it does not take, which then goes to
    /// [`Pipeline::upstream_declined`]; the two, a frame at a time, are
    /// [`Pipeline::upstream_counted_with`] (held to the general path by
    /// the express lanes' proptests, `tests/pipeline.rs`).
    ///
    /// Why split: a call in the loop that runs the lane, even one never
    /// taken, makes the compiler keep the loop's values where the call
    /// cannot clobber them, and the lane paid for it in spills, some 1-2
    /// ns a packet hot each way
    /// (`bench/results/2026-12-05-calls-out-of-the-loop.md`).
    #[inline(always)]
    pub fn upstream_express_with(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Option<Out> {
        if self.env.bare {
            return None;
        }
        let out = self.upstream_express(buf, start, len, key)?;
        self.local.add(Counter::Express, 1);
        Some(out)
    }

    /// A frame [`Pipeline::upstream_express_with`] declined, already
    /// counted as received, through the general path. Out of line, for
    /// the batch loop to call from outside the loop it runs the lane in.
    #[inline(never)]
    pub fn upstream_declined(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        if self.env.bare {
            return Out::Core(start, len);
        }
        self.upstream_general(buf, start, len)
    }

    /// The upstream express lane: the packet nearly every frame from a
    /// LAC carries, an IPv4 packet of a terminated session to the
    /// Internet, taken with only the work it needs (issue 18: a hot packet
    /// was some 600 instructions through the general path). It reads the
    /// frame at fixed offsets (`decap::express_v4`), six words of the
    /// session's record ([`Lookups::by_ids_up`]), and decides before it
    /// writes anything; `None`, having written and counted nothing, for
    /// any packet it does not take all the way: not the common shape, no
    /// such session, a switched one, another sender, a spoofed source, a
    /// TTL that expires, a destination that is the gateway or might be a
    /// subscriber (hairpin), a next hop not in the worker's cache (the
    /// general path reads it in for the next). The general path then
    /// takes it from the start and names its drop. Where the lane answers, the
    /// general path answers the same, frame, counters and all
    /// (`the_express_lane_does_what_the_general_path_does`).
    #[inline(always)]
    fn upstream_express(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Option<Out> {
        let x = express_v4(buf.get(start..start + len)?, self.env.lns_port)?;
        let (slot, f) = self.look.by_ids_up(x.tunnel, x.session, key)?;
        if f.is_switched() || !f.is_peer_v4(x.peer) {
            return None;
        }
        let inner = start + x.inner;
        let eth = inner.checked_sub(14)?;
        let pkt: &[u8; 20] = buf.get(inner..inner + 20)?.try_into().ok()?;
        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
        if Some([pkt[12], pkt[13], pkt[14], pkt[15]]) != f.ipv4_octets()
            || pkt[8] <= 1
            || self.env.gateway == Some(dst)
            || self.look.may_hold_v4(dst)
        {
            return None;
        }
        // From the cache alone: a miss is the general path's to read
        // (a call here would cost every packet, see `upstream_express_with`).
        let macs = self.hops.macs(CORE_V4)?;
        // Decided: what `to_core` and the policing do, in their order.
        decrement_ttl(&mut buf[inner..inner + 20]);
        let e = &mut buf[eth..inner];
        e[..12].copy_from_slice(macs);
        e[12..14].copy_from_slice(&[0x08, 0x00]);
        let generation = f.generation();
        let bytes = u32::try_from(x.inner_len).unwrap_or(u32::MAX);
        if !self
            .block
            .police_and_count(slot, generation, Dir::Up, f.rate_up(), self.tick, bytes)
        {
            return Some(Self::rate_dropped(
                &mut self.local,
                &self.block,
                slot,
                generation,
                Dir::Up,
            ));
        }
        self.local.add(Counter::Upstream, 1);
        self.local.add(Counter::UpstreamBytes, x.inner_len as u64);
        Some(Out::Core(eth, x.inner_len + 14))
    }

    /// The upstream path for every frame (what [`Pipeline::upstream`]
    /// does with a frame the express lane does not take): public so
    /// tests and the `stages` benchmark can hold the lane against it.
    /// Not inlined into [`Pipeline::upstream_counted_with`] (and so into
    /// the batch loop), which then carries the express lane alone.
    #[inline(never)]
    pub fn upstream_general(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        let Some(frame) = buf.get(start..start + len) else {
            return self.drop(Drop::Truncated, None);
        };
        match data_message(frame, self.env.lns_port) {
            Ok(m) => self.data(buf, start, len, &m),
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
        match data_message(frame, self.env.lns_port) {
            Err(Drop::NotL2tpUdp) => self.downstream(buf, start, len),
            Ok(m) => {
                self.local.add(Counter::RxAccess, 1);
                self.data(buf, start, len, &m)
            }
            Err(x) => {
                self.local.add(Counter::RxAccess, 1);
                self.drop(x, None)
            }
        }
    }

    /// An L2TP data message `m` of the frame at `buf[start..start + len]`:
    /// switched, or decapsulated for a terminated session.
    #[inline]
    fn data(&mut self, buf: &mut [u8], start: usize, len: usize, m: &DataMessage) -> Out {
        let mut f = Found::vacant();
        let known = self.table.by_ids_into(m.tunnel, m.session, &mut f);
        if known && let Some(egress) = f.switched() {
            return self.switch(buf, start, m, &f, egress);
        }
        // Drop reasons as before switching existed: a PPP control frame
        // is `not_ip_payload` whether or not its session is known.
        let d = match ip_payload(&buf[start..start + len], m) {
            Ok(d) => d,
            Err(x) => return self.drop(x, None),
        };
        if !known {
            return self.drop(Drop::UnknownSession, None);
        }
        self.decapped(buf, start, d, &f)
    }

    /// A switched leg's data message: from its peer only, onto the other
    /// leg (see the module docs and `node::switch`). Not inlined: the
    /// terminated paths that branch here stay as small as they were.
    #[inline(never)]
    fn switch(
        &mut self,
        buf: &mut [u8],
        start: usize,
        m: &DataMessage,
        f: &Found,
        egress: Egress,
    ) -> Out {
        self.switched_seen = true;
        // The leg's data comes from the peer of its tunnel, whose address
        // stays for the tunnel's life (RFC 2661 §8.1), nobody else: a
        // forged frame would inject PPP into the other leg.
        if !f.is_peer(m.peer) {
            return self.drop(Drop::SwitchWrongPeer, Some(f));
        }
        let mut addrs = [0; 32];
        let t = match self.template_of(f, &mut addrs) {
            Ok(t) => t,
            Err(x) => return self.no_template(x, f),
        };
        let mtu = match egress {
            Egress::Access => self.env.access_mtu,
            Egress::Core => self.env.core_mtu,
        };
        if !switch::fits(t, m.ppp_len, mtu) {
            return self.drop(Drop::SwitchTooBig, Some(f));
        }
        let Some(h) = self.table.macs_cached(f.lac_nexthop(), &mut self.hops) else {
            return self.drop(Drop::NoNextHop, Some(f));
        };
        let (s, n) = match switch::rewrite(t, buf, start + m.ppp, m.ppp_len, m.priority) {
            Ok(x) => x,
            Err(x) => return self.drop(x, Some(f)),
        };
        buf[s..s + 6].copy_from_slice(&h.dst_mac);
        buf[s + 6..s + 12].copy_from_slice(&h.src_mac);
        // Ns last, as for encapsulation: a number spent on a dropped frame
        // is a gap the receiving leg's peer may discard after.
        if t.sequencing() {
            let Some(ns) = self.table.next_ns(f.slot, f.generation) else {
                return self.drop(Drop::UnknownSession, Some(f));
            };
            t.patch_ns(&mut buf[s..s + n], ns);
        }
        let bytes = m.ppp_len as u64;
        self.block.session(f.slot, f.generation, Dir::Up, bytes);
        self.local.add(Counter::Switched, 1);
        self.local.add(Counter::SwitchedBytes, bytes);
        match egress {
            Egress::Access => Out::Access(s, n),
            Egress::Core => Out::Core(s, n),
        }
    }

    #[inline]
    fn decapped(&mut self, buf: &mut [u8], start: usize, d: Decapped, f: &Found) -> Out {
        let d = Decapped {
            inner: start + d.inner,
            ..d
        };
        if !f.is_peer(d.peer) {
            return self.drop(Drop::WrongPeer, Some(f));
        }
        let (hop_index, dst) = match d.family {
            Family::V4 => (CORE_V4, inner_dst_v4(buf, d.inner)),
            Family::V6 => (CORE_V6, inner_dst_v6(buf, d.inner)),
        };
        // No IPv6 service for this subscriber (no prefix handed out) or
        // none at all (no IPv6 core next hop): its own name, since
        // `no_next_hop` means an unresolved MAC.
        if d.family == Family::V6 {
            if dst.is_some_and(link_scope) {
                return self.drop(Drop::Ipv6LinkLocal, Some(f));
            }
            if f.ipv6_prefix().is_none() {
                return self.drop(Drop::Ipv6Unrouted, Some(f));
            }
        }
        if let (Some(gw), Some(IpAddr::V4(a))) = (self.env.gateway, dst)
            && a == gw
        {
            return self.for_gateway(buf, &d, f, gw);
        }
        // The delegated prefix is read (its own words, another cache
        // line) only for IPv6 from outside the link's /64: a router
        // sending from the LAN behind it.
        let outside_link = d.family == Family::V6
            && buf
                .get(d.inner + 8..d.inner + 16)
                .is_some_and(|src| f.ipv6_prefix().is_none_or(|p| src != p));
        let allowed = Allowed {
            ipv4: f.ipv4(),
            ipv6_prefix: f.ipv6_prefix(),
            ipv6_delegated: if outside_link {
                self.table.delegated_of(f)
            } else {
                None
            },
        };
        // Hairpin: another subscriber of ours is the destination. The
        // table's address filter rules most destinations out without a
        // look-up in the index (a cache miss at scale).
        let peer = match dst {
            Some(IpAddr::V4(a)) if self.look.may_hold_v4(a) => self.table.by_ipv4(a),
            Some(IpAddr::V6(a)) => {
                let mut p = [0u8; 8];
                p.copy_from_slice(&a.octets()[..8]);
                if self.table.may_hold_v6(p) {
                    self.table.by_ipv6_prefix(p)
                } else {
                    None
                }
            }
            _ => None,
        };
        let hop = match peer {
            // The Ethernet header written here is overwritten by the
            // encapsulation; only the checks and the TTL matter.
            Some(_) => FwdHop {
                dst_mac: [0; 6],
                src_mac: [0; 6],
            },
            None => match self.table.macs_cached(hop_index, &mut self.hops) {
                Some(h) => h,
                None if d.family == Family::V6 => return self.drop(Drop::Ipv6Unrouted, Some(f)),
                None => return self.drop(Drop::NoNextHop, Some(f)),
            },
        };
        let (s, n) = match to_core(buf, &d, &allowed, &hop) {
            Ok(x) => x,
            Err(x) => return self.drop(x, Some(f)),
        };
        // Policed once every check has passed (a spoofed or expired
        // packet takes none of the subscriber's rate), and counted with
        // the same look-up of its counters.
        let bytes = d.inner_len as u64;
        let len = u32::try_from(d.inner_len).unwrap_or(u32::MAX);
        let rate = f.rate_up();
        if !self
            .block
            .police_and_count(f.slot, f.generation, Dir::Up, rate, self.tick, len)
        {
            return self.rate_drop(f, Dir::Up);
        }
        self.local.add(Counter::Upstream, 1);
        self.local.add(Counter::UpstreamBytes, bytes);
        match (peer, dst) {
            (Some(p), Some(dst)) => {
                self.local.add(Counter::Hairpin, 1);
                let pkt = ToSubscriber {
                    start: s + 14,
                    len: n - 14,
                    dst,
                    // IPv6 is never fragmented on the way (RFC 8200 §5).
                    dont_fragment: d.family == Family::V6 || buf[s + 14 + 6] & 0x40 != 0,
                };
                self.deliver(buf, &p, &pkt, Sender::Subscriber(f))
            }
            _ => Out::Core(s, n),
        }
    }

    /// An IPv4 packet from `f`'s subscriber to the gateway address `gw`.
    fn for_gateway(&mut self, buf: &mut [u8], d: &Decapped, f: &Found, gw: Ipv4Addr) -> Out {
        let Some(pkt) = buf.get_mut(d.inner..d.inner + d.inner_len) else {
            return self.drop(Drop::Truncated, Some(f));
        };
        // Only the subscriber's own address gets an answer: the reply goes
        // into this tunnel whatever the source says, and a forged source
        // must not make the LNS answer for someone else.
        let src = pkt.get(12..16).and_then(|b| <[u8; 4]>::try_from(b).ok());
        if src.is_none() || src.map(Ipv4Addr::from) != f.ipv4() {
            return self.drop(Drop::Spoofed, Some(f));
        }
        match gateway::echo_reply(pkt, gw) {
            Ok(n) => {
                self.block
                    .session(f.slot, f.generation, Dir::Up, d.inner_len as u64);
                self.local.add(Counter::GatewayEcho, 1);
                let reply = ToSubscriber {
                    start: d.inner,
                    len: n,
                    dst: IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19])),
                    dont_fragment: false,
                };
                self.deliver(buf, f, &reply, Sender::Core)
            }
            Err(x) => self.drop(x, Some(f)),
        }
    }

    /// A frame from the core side.
    #[inline]
    pub fn downstream(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.downstream_with(buf, start, len, None)
    }

    /// [`Pipeline::downstream`] with the key the worker's prefetching took for
    /// the frame (see [`Pipeline::upstream_with`]): the express lane,
    /// then the general path, a frame at a time, as
    /// [`Pipeline::upstream_counted_with`].
    #[inline(always)]
    pub fn downstream_with(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Out {
        match self.downstream_express_with(buf, start, len, key) {
            Some(out) => out,
            None => self.downstream_general(buf, start, len),
        }
    }

    /// [`Pipeline::upstream_express_with`] downstream: `Some` where the
    /// lane takes the frame, counted as received and as express; `None`,
    /// nothing written or counted, for [`Pipeline::downstream_general`],
    /// which counts it received; the two, a frame at a time, are
    /// [`Pipeline::downstream_with`].
    #[inline(always)]
    pub fn downstream_express_with(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Option<Out> {
        if self.env.bare {
            return None;
        }
        let out = self.downstream_express(buf, start, len, key)?;
        self.local.add(Counter::RxCore, 1);
        self.local.add(Counter::Express, 1);
        Some(out)
    }

    /// The downstream express lane: an IPv4 packet from the core to a
    /// subscriber whose session's template is of the shape lnsd builds
    /// over IPv4 (`node::encap::ExpressTemplate`), that fits the session's limit,
    /// has a TTL to spend and whose LAC's next hop is in the worker's
    /// cache (the general path reads it in on a miss). As the upstream
    /// lane: it decides before it writes, and `None` (nothing
    /// written, nothing counted) hands the frame to the general path
    /// (`the_downstream_express_lane_does_what_the_general_path_does`).
    #[inline(always)]
    fn downstream_express(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        key: Option<Key>,
    ) -> Option<Out> {
        let h: &[u8; 34] = buf.get(start..start + len)?.get(..34)?.try_into().ok()?;
        // Untagged IPv4 with a 20-octet header, within the frame.
        if h[12..14] != [0x08, 0x00] || h[14] != 0x45 || h[22] <= 1 {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
        if total < 20 || 14 + total > len {
            return None;
        }
        let dst = Ipv4Addr::new(h[30], h[31], h[32], h[33]);
        // The slot's first line alone: a session whose line holds no
        // compact template is the general path's.
        let (slot, f) = self.look.by_ipv4_first_line(dst, key)?;
        let t = f.express_template()?;
        // The template's shape fixes every offset of what follows: the
        // plain one (untagged, no Ns and Nr, what a LAC on the access
        // interface without sequencing gets) has a copy of its own with
        // them constants, some 45 instructions fewer a packet than with
        // the shape a value (`stages`); the others share the other copy.
        if t.is_plain() {
            self.downstream_shaped::<true>(buf, start, total, slot, &f, &t)
        } else {
            self.downstream_shaped::<false>(buf, start, total, slot, &f, &t)
        }
    }

    /// The rest of [`Pipeline::downstream_express`], for a frame of
    /// `total` octets of IPv4 at `start + 14` whose session is in `slot`,
    /// `f` its first line and `t` its template, plain or not as `PLAIN`.
    #[inline(always)]
    fn downstream_shaped<const PLAIN: bool>(
        &mut self,
        buf: &mut [u8],
        start: usize,
        total: usize,
        slot: u32,
        f: &FirstLine,
        t: &ExpressTemplate,
    ) -> Option<Out> {
        // Never taken (the caller asked the same), but what lets the
        // plain copy know its shape.
        if PLAIN != t.is_plain() {
            return None;
        }
        let ip = start + 14;
        let front = ip.checked_sub(t.len())?;
        if total > limit_over(f.mru(), self.env.access_mtu, t.len() - 14) || !t.takes(total) {
            return None;
        }
        // From the cache alone, as upstream.
        let macs = *self.hops.macs(f.lac_nexthop())?;
        // Decided: what `spend_hop`, the policing and `encap_raw` do, in
        // their order.
        decrement_ttl(&mut buf[ip..ip + 20]);
        let generation = f.generation();
        if let Some(r) = f.rate_down() {
            let bytes = u32::try_from(total).unwrap_or(u32::MAX);
            if !self
                .block
                .police(slot, generation, Dir::Down, r, self.tick, bytes)
            {
                return Some(Self::rate_dropped(
                    &mut self.local,
                    &self.block,
                    slot,
                    generation,
                    Dir::Down,
                ));
            }
        }
        let frame = &mut buf[front..ip + total];
        t.write(frame);
        frame[..12].copy_from_slice(&macs);
        if t.sequencing() {
            let Some(ns) = self.table.next_ns(slot, generation) else {
                return Some(Self::dropped(
                    &mut self.local,
                    &self.block,
                    Drop::UnknownSession,
                    slot,
                    generation,
                ));
            };
            t.patch_ns(frame, ns);
        }
        self.block
            .session(slot, generation, Dir::Down, total as u64);
        self.local.add(Counter::Downstream, 1);
        self.local.add(Counter::DownstreamBytes, total as u64);
        Some(Out::Access(front, t.len() + total))
    }

    /// The downstream path for every frame (what [`Pipeline::downstream`]
    /// does with a frame the express lane does not take): public so tests
    /// and the `stages` benchmark can hold the lane against it.
    #[inline(never)]
    pub fn downstream_general(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        self.local.add(Counter::RxCore, 1);
        if self.env.bare {
            return Out::Access(start, len);
        }
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
        let mut found = Found::vacant();
        let known = match p.dst {
            IpAddr::V4(a) => self.table.by_ipv4_into(a, &mut found),
            IpAddr::V6(a) => {
                let mut k = [0u8; 8];
                k.copy_from_slice(&a.octets()[..8]);
                self.table.by_ipv6_prefix_into(k, &mut found)
                    || self.table.by_delegated_into(k, &mut found)
            }
        };
        if !known {
            return self.core_l2tp(buf, start, len);
        }
        let f = &found;
        if let Err(x) = spend_hop(&mut buf[p.start..p.start + p.len]) {
            return self.drop(x, Some(f));
        }
        self.deliver(buf, f, &p, Sender::Core)
    }

    /// A core-side frame for no subscriber: the data of a switched leg
    /// whose peer is reached through the core, or nothing of ours. Taken
    /// only after the subscriber lookup missed, so it costs a subscriber's
    /// packet nothing.
    #[inline(never)]
    fn core_l2tp(&mut self, buf: &mut [u8], start: usize, len: usize) -> Out {
        if let Some(frame) = buf.get(start..start + len)
            && let Ok(m) = data_message(frame, self.env.lns_port)
            && let Some(f) = self.table.by_ids(m.tunnel, m.session)
            && let Some(egress) = f.switched()
        {
            return self.switch(buf, start, &m, &f, egress);
        }
        self.drop(Drop::UnknownSession, None)
    }

    /// Sends the packet `p` in `buf` to `to`'s subscriber: encapsulated if
    /// it fits, else fragmented or refused with an ICMP error to `sender`.
    #[inline]
    fn deliver(&mut self, buf: &mut [u8], to: &Found, p: &ToSubscriber, sender: Sender) -> Out {
        let mut addrs = [0; 32];
        let t = match self.template_of(to, &mut addrs) {
            Ok(t) => t,
            Err(x) => return self.no_template(x, to),
        };
        let limit = limit(to.mru(), self.env.access_mtu, t);
        if fits(p, limit).is_ok() {
            if !self.conforms_down(to, p.len) {
                return Out::Drop(Drop::RateLimited);
            }
            return self.encap_for(buf, to, t, p.start, p.len);
        }
        if !p.dont_fragment {
            // Fragments that could not leave would each count a drop.
            if self.table.macs(to.lac_nexthop()).is_none() {
                return self.drop(Drop::NoNextHop, Some(to));
            }
            if !self.conforms_down(to, p.len) {
                return Out::Drop(Drop::RateLimited);
            }
            let Some(pkt) = buf.get(p.start..p.start + p.len) else {
                return self.drop(Drop::Truncated, Some(to));
            };
            return match frag::plan(pkt, limit) {
                Ok(plan) => {
                    self.pending = Some(Pending {
                        to: *to,
                        plan,
                        start: p.start,
                        len: p.len,
                    });
                    Out::Fragments(plan.count())
                }
                Err(x) => self.drop(x, Some(to)),
            };
        }
        self.local.drop(Drop::TooBig);
        self.block.session_drop(to.slot, to.generation);
        let hop = match sender {
            Sender::Core => {
                let hop_index = if p.dst.is_ipv4() { CORE_V4 } else { CORE_V6 };
                let Some(h) = self.table.macs(hop_index) else {
                    return Out::Drop(Drop::TooBig);
                };
                h
            }
            // Overwritten by the encapsulation.
            Sender::Subscriber(_) => FwdHop {
                dst_mac: [0; 6],
                src_mac: [0; 6],
            },
        };
        // RFC 1191 §4: the next-hop MTU is the largest packet that passes,
        // which is the limit, not only the MRU.
        let mtu = u16::try_from(limit).unwrap_or(u16::MAX);
        match (too_big(buf, p, mtu, &self.env.icmp, &hop), sender) {
            (Ok((s, n)), Sender::Core) => {
                self.local.add(Counter::IcmpTooBig, 1);
                Out::Core(s, n)
            }
            (Ok((s, n)), Sender::Subscriber(from)) => {
                let mut addrs = [0; 32];
                match self.template_of(from, &mut addrs) {
                    Ok(t) => {
                        self.local.add(Counter::IcmpTooBig, 1);
                        self.encap_for(buf, from, t, s + 14, n - 14)
                    }
                    Err(x) => self.no_template(x, from),
                }
            }
            (Err(_), _) => Out::Drop(Drop::TooBig),
        }
    }

    /// The first fragment of the packet [`Out::Fragments`] announced,
    /// written over it in `buf` (the frame it came in) and encapsulated.
    /// Its session counts the packet once, at its own size.
    pub fn first_fragment(&mut self, buf: &mut [u8]) -> Out {
        let Some(pd) = self.pending else {
            return self.drop(Drop::NoFrame, None);
        };
        let Some(pkt) = buf.get_mut(pd.start..pd.start + pd.len) else {
            return self.drop(Drop::Truncated, Some(&pd.to));
        };
        let n = pd.plan.first_in_place(pkt);
        self.local.add(Counter::Fragmented, 1);
        self.local.add(Counter::Downstream, 1);
        self.local.add(Counter::DownstreamBytes, pd.len as u64);
        self.block
            .session(pd.to.slot, pd.to.generation, Dir::Down, pd.len as u64);
        self.fragment_out(buf, &pd.to, pd.start, n)
    }

    /// Fragment `i` (from 1) of that packet, copied from `src` (the frame
    /// it came in) into `dst` (a free frame, at [`FRAGMENT_AT`]) and
    /// encapsulated.
    pub fn next_fragment(&mut self, i: usize, src: &[u8], dst: &mut [u8]) -> Out {
        let Some(pd) = self.pending else {
            return self.drop(Drop::NoFrame, None);
        };
        let payload = src.get(pd.start + pd.plan.header_len()..pd.start + pd.len);
        let out = dst.get_mut(FRAGMENT_AT..);
        let (Some(payload), Some(out)) = (payload, out) else {
            return self.drop(Drop::Truncated, Some(&pd.to));
        };
        match pd.plan.write(i, payload, out) {
            Ok(n) => self.fragment_out(dst, &pd.to, FRAGMENT_AT, n),
            Err(x) => self.drop(x, Some(&pd.to)),
        }
    }

    /// Not enough free frames for the fragments: the packet is dropped,
    /// whole (a part of it would be useless to the subscriber).
    pub fn no_frames(&mut self) -> Out {
        let to = self.pending.take().map(|p| p.to);
        self.drop(Drop::NoFrame, to.as_ref())
    }

    fn fragment_out(&mut self, buf: &mut [u8], to: &Found, start: usize, len: usize) -> Out {
        let mut addrs = [0; 32];
        let t = match self.template_of(to, &mut addrs) {
            Ok(t) => t,
            Err(x) => return self.no_template(x, to),
        };
        match self.encap_raw(buf, to, t, start, len) {
            Ok((s, n)) => {
                self.local.add(Counter::Fragments, 1);
                Out::Access(s, n)
            }
            Err(x) => self.drop(x, Some(to)),
        }
    }

    /// Encapsulates the IP packet at `buf[start..start + len]` for `f`,
    /// and counts it.
    #[inline]
    fn encap_for(
        &mut self,
        buf: &mut [u8],
        f: &Found,
        t: TemplateRef<'_>,
        start: usize,
        len: usize,
    ) -> Out {
        match self.encap_raw(buf, f, t, start, len) {
            Ok((s, n)) => {
                self.block
                    .session(f.slot, f.generation, Dir::Down, len as u64);
                self.local.add(Counter::Downstream, 1);
                self.local.add(Counter::DownstreamBytes, len as u64);
                Out::Access(s, n)
            }
            Err(x) => self.drop(x, Some(f)),
        }
    }

    /// `f`'s template, with the addresses an IPv6 one writes: ours, from
    /// the next-hop record it names, and its LAC's (copied into `addrs`).
    /// A damaged slot's template is no session to send to
    /// (`unknown_session`); our IPv6 address not written yet is a next hop
    /// not resolved (`no_next_hop`).
    #[inline(always)]
    fn template_of<'f>(
        &self,
        f: &'f Found,
        addrs: &'f mut [u8; 32],
    ) -> Result<TemplateRef<'f>, Drop> {
        let t = f.template().ok_or(Drop::UnknownSession)?;
        if !t.is_v6() {
            return Ok(t);
        }
        self.addresses6(t, f, addrs)?;
        Ok(t.with_addresses(addrs))
    }

    /// Our address (from `t`'s source record) and `f`'s LAC's, into
    /// `addrs`: out of the IPv4 path's way.
    #[inline(never)]
    fn addresses6(&self, t: TemplateRef<'_>, f: &Found, addrs: &mut [u8; 32]) -> Result<(), Drop> {
        let src = self.table.source6(t.source_hop()).ok_or(Drop::NoNextHop)?;
        addrs[..16].copy_from_slice(&src);
        addrs[16..].copy_from_slice(&f.peer_octets());
        Ok(())
    }

    /// The encapsulation itself: template, Ns, the LAC's MACs.
    #[inline]
    fn encap_raw(
        &mut self,
        buf: &mut [u8],
        f: &Found,
        t: TemplateRef<'_>,
        start: usize,
        len: usize,
    ) -> Result<(usize, usize), Drop> {
        // The LAC's neighbour as lnsd last resolved it: a LAC that moved
        // (or whose gateway did) needs one next-hop write, not one per
        // session. Until it is resolved nothing is sent.
        let h = self
            .table
            .macs_cached(f.lac_nexthop(), &mut self.hops)
            .ok_or(Drop::NoNextHop)?;
        let (s, n) = encap(t, buf, start, len, 0)?;
        buf[s..s + 6].copy_from_slice(&h.dst_mac);
        buf[s + 6..s + 12].copy_from_slice(&h.src_mac);
        // Ns last, once the frame is sure to leave: a number taken for a
        // frame that is then dropped is a gap, and a LAC that checks
        // sequence numbers (Linux `recv_seq`) discards what follows it.
        if t.sequencing() {
            let ns = self
                .table
                .next_ns(f.slot, f.generation)
                .ok_or(Drop::UnknownSession)?;
            t.patch_ns(&mut buf[s..s + n], ns);
        }
        Ok((s, n))
    }
}

/// Whether the L2TP data message whose header has `flags` and whose ids
/// end at `after_ids` carries IPv4 (PPP protocol 0x0021, with or without
/// FF 03 and compressed or not): for the prefetch hint of its key
/// ([`Key::up_ipv4`]). A message with an Offset (`O`) is taken as not.
#[inline(always)]
fn carries_ipv4(frame: &[u8], after_ids: usize, flags: u8) -> bool {
    // S: Ns and Nr (4 octets) before the PPP frame.
    let ppp = after_ids + usize::from(flags & 0x08) / 2;
    let Some(p) = frame.get(ppp..ppp + 4) else {
        return false;
    };
    // FF 03 00 21, what nearly every LAC sends, on one compare; the
    // compressed forms through the general reader.
    let w = [p[0], p[1], p[2], p[3]];
    flags & 0x02 == 0 && (w == [0xff, 0x03, 0x00, 0x21] || ipv4_ppp_header(w).is_some())
}

fn inner_dst_v4(buf: &[u8], at: usize) -> Option<IpAddr> {
    let b = buf.get(at + 16..at + 20)?;
    Some(IpAddr::from([b[0], b[1], b[2], b[3]]))
}

fn inner_dst_v6(buf: &[u8], at: usize) -> Option<IpAddr> {
    let b: [u8; 16] = buf.get(at + 24..at + 40)?.try_into().ok()?;
    Some(IpAddr::from(b))
}

/// A link-scope IPv6 destination (RFC 4291 §2.5.6 link-local unicast,
/// §2.7 interface- and link-local multicast): never forwarded.
fn link_scope(a: IpAddr) -> bool {
    match a {
        IpAddr::V6(a) => {
            a.is_unicast_link_local() || (a.is_multicast() && a.octets()[1] & 0x0f <= 2)
        }
        IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::carries_ipv4;

    /// The PPP protocol behind an L2TP data header, as the peek reads it
    /// for its key's prefetch hint.
    #[test]
    fn the_peek_tells_ipv4_from_the_rest() {
        // Flags, ids (4), then Ns/Nr with S, then PPP.
        let frame = |flags: u8, ppp: &[u8]| {
            let mut f = vec![flags, 0x02, 0, 1, 0, 2];
            if flags & 0x08 != 0 {
                f.extend([0, 7, 0, 0]);
            }
            f.extend(ppp);
            f.extend([0x45, 0, 0, 20]);
            f
        };
        for (flags, ppp, v4) in [
            (0x00, &[0xff, 0x03, 0x00, 0x21][..], true),
            (0x00, &[0x00, 0x21][..], true),
            (0x00, &[0x21][..], true),
            (0x08, &[0xff, 0x03, 0x00, 0x21][..], true),
            (0x08, &[0x21][..], true),
            (0x00, &[0xff, 0x03, 0x00, 0x57][..], false),
            (0x00, &[0x57][..], false),
            (0x00, &[0xff, 0x03, 0xc0, 0x21][..], false),
            (0x08, &[0xc0, 0x21][..], false),
            // An Offset: not read, taken as not IPv4.
            (0x02, &[0x21][..], false),
        ] {
            let f = frame(flags, ppp);
            assert_eq!(carries_ipv4(&f, 6, flags), v4, "{flags:#x} {ppp:02x?}");
        }
        // Too short to tell.
        assert!(!carries_ipv4(&[0x00, 0x02, 0, 1, 0, 2, 0x21], 6, 0));
    }
}
