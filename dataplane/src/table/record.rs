//! What a slot holds, and how it is laid out in its words.
//!
//! Records are encoded field by field into little-endian words, not cast
//! from a `repr(C)` struct: the layout is written down here once, the
//! decoder checks what it reads (a template with impossible offsets is a
//! miss, not an out-of-bounds write), and no `unsafe` is needed.
//!
//! A slot is one of two kinds (DESIGN §2.1):
//!
//! * **terminated**: a subscriber whose PPP ends here. The workers
//!   decapsulate its IP packets toward the core and encapsulate the core's
//!   packets for it; it is found by (tunnel, session) and by its addresses.
//! * **switched** ([`Session::switched`] is `Some`): one receiving leg of a
//!   multi-hop session (DESIGN §2.1: a session from a LAC carried on
//!   into a second tunnel toward the target LNS; RFC 2661 defines each
//!   leg as an ordinary session, not the switching between them).
//!   A switched session is two slots, one per leg, each keyed by our ids
//!   on the leg it receives from and holding the other leg's outer
//!   headers: the worker swaps the headers of every data frame, whatever
//!   PPP protocol it carries, and never looks inside. It has no address
//!   and is in no address index. [`Leg`] and [`Session::switched_pair`]
//!   build the two mirrored records from what lnsd knows of each leg.
//!
//! A slot is two cache lines, and the common packets read the first alone
//! (`FIRST_LINE`, [`FirstLine`]; issue 18: at a million sessions each
//! line a packet reads is a miss to hide): an upstream IPv4 packet its
//! ids, flags, address, up rate and peer; a downstream one its address,
//! MRU, next hop, down rate and template, which for a terminated session
//! over IPv4 (all lnsd writes for a LAC reached over IPv4) is there in
//! its [`Compact`] form, whose destination is the peer. The whole
//! template stays in the second line, with the IPv6 prefix, for the
//! general path and for reading the session back; a record whose template
//! has no compact form (IPv6, a switched leg's, a LAC sending from
//! elsewhere than it is sent to) keeps its peer in the first line instead,
//! and its downstream packets take the general path.

use crate::node::encap::{
    COMPACT_WIRE, Compact, ExpressTemplate, Outer, STORED_BYTES, TEMPLATE_BYTES, Template,
    TemplateRef,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Words of session data in a slot (the slot adds its sequence word):
/// a slot is 128 bytes, two cache lines.
pub const SESSION_WORDS: usize = 15;
/// Words of a next-hop record (the slot adds its sequence word).
pub const NEXTHOP_WORDS: usize = 4;

/// The template's Ethernet addresses, which a record does not keep: the
/// workers write the next hop's over them in every frame.
const TEMPLATE_MACS: usize = 12;
/// Where the template's bytes end in a session record.
const TEMPLATE_END: usize = TEMPLATE_AT + TEMPLATE_BYTES - TEMPLATE_MACS;
const _: () = assert!(TEMPLATE_END - TEMPLATE_AT == STORED_BYTES);
/// A rate's bytes: kbit/s (little-endian `u32`) and the burst in 16-byte
/// units (little-endian, 3 bytes: up to 256 MiB, the most a bucket holds).
const RATE_BYTES: usize = 7;
/// Where the up rate lies: in the record's first cache line (the slot's
/// sequence word and words 0-6, [`FIRST_LINE`]), with everything else an
/// upstream IPv4 packet reads, so that packet touches one line of its
/// slot, not two (issue 18: as few cache lines a packet as possible).
const UP_RATE_AT: usize = 24;
/// Where the down rate lies: in the first line too, with the compact
/// template, for the downstream express lane.
const DOWN_RATE_AT: usize = UP_RATE_AT + RATE_BYTES;
/// The rest of the first line: a terminated session over IPv4 keeps its
/// template's [`Compact`] form here ([`F_COMPACT`]; the peer is the
/// template's destination), any other record its peer.
///
/// Compact: the VLAN's two octets (as on the wire), then
/// [`Compact::wire`] (whose destination address and port are the peer's).
const VLAN_AT: usize = DOWN_RATE_AT + RATE_BYTES;
/// See [`VLAN_AT`].
const WIRE_AT: usize = VLAN_AT + 2;
/// Not compact: the peer's port, then its address (IPv6, or IPv4 mapped).
const PEER_PORT_AT: usize = VLAN_AT;
/// See [`PEER_PORT_AT`].
const PEER_AT: usize = PEER_PORT_AT + 2;
const _: () = assert!(WIRE_AT + COMPACT_WIRE == FIRST_LINE.len() * 8);
const _: () = assert!(PEER_AT + 16 == FIRST_LINE.len() * 8);
/// Where the IPv6 /64 lies: after the template, in the second line, which
/// the packets that read it (IPv6) read anyway.
const V6_AT: usize = TEMPLATE_END;
const _: () = assert!(V6_AT + 8 <= SESSION_WORDS * 8);

/// The session bit: an IPv4 address is assigned.
const F_V4: u16 = 1;
/// The session bit: an IPv6 /64 is assigned.
const F_V6: u16 = 2;
/// The session bit: a switched leg (no PPP here; frames are rewritten
/// onto the other leg).
const F_SWITCHED: u16 = 4;
/// The session bit: a switched leg's frames leave on the core interface
/// (clear: the access interface).
const F_EGRESS_CORE: u16 = 8;
/// The session bit: the first line holds the template's compact form
/// ([`VLAN_AT`]).
const F_COMPACT: u16 = 16;
/// With [`F_COMPACT`]: the template has an 802.1Q tag.
const F_TAGGED: u16 = 32;
/// With [`F_COMPACT`]: the template's L2TP header carries Ns and Nr.
const F_SEQUENCED: u16 = 64;

/// The interface a switched leg's rewritten frames leave on: the one its
/// [`Session::lac_nexthop`] is reached through (the next hop's source MAC
/// must be that interface's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Egress {
    /// The access interface (toward the LACs).
    Access,
    /// The core interface (with one interface for both sides, the same).
    Core,
}

/// A policed rate: a token bucket of `burst` bytes filled at `kbps`
/// (1,000 bit/s units) with IP packet bytes, as the session counters
/// count them. Written in the session's slot with the rest of it, so a
/// worker never sees one direction's rate with the other's burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// The rate, kbit/s; never 0 (no rate is `None`).
    pub kbps: u32,
    /// The bucket's depth, bytes (what may pass at once after a pause);
    /// kept in 16-byte units, rounded up, at most 256 MiB.
    pub burst: u32,
}

/// A session's rates each way; `None`: not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rates {
    /// From the subscriber (upstream).
    pub up: Option<Rate>,
    /// To the subscriber (downstream).
    pub down: Option<Rate>,
}

/// One session as the workers see it: a terminated subscriber, or one
/// leg of a switched session (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Our tunnel id (what the LAC puts in data frames it sends us; for a
    /// switched leg, what that leg's peer puts in them).
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The subscriber's IPv4 address (IPCP). `None` for a switched leg.
    pub ipv4: Option<Ipv4Addr>,
    /// The subscriber's IPv6 /64, first 8 octets (IPv6CP). `None` for a
    /// switched leg.
    pub ipv6_prefix: Option<[u8; 8]>,
    /// The subscriber's MRU: larger downstream packets get an ICMP error.
    /// Not used for a switched leg (the PPP peers negotiate their MRU end
    /// to end; the egress MTU bounds the frames instead).
    pub mru: u16,
    /// The LAC's address (a switched leg: the address of the peer it
    /// receives from): data from elsewhere is refused.
    pub peer: IpAddr,
    /// The LAC's port (a switched leg: its peer's).
    pub peer_port: u16,
    /// Next-hop table index toward where the template sends (the LAC; for
    /// a switched leg, the *other* leg's peer); its MACs override the
    /// template's, so a changed neighbour needs one write, not one per
    /// session.
    pub lac_nexthop: u32,
    /// The outer headers toward the LAC (a switched leg: toward the other
    /// leg's peer, with that leg's ids and sequencing; its trailing PPP
    /// bytes are not used). Its Ethernet addresses are not kept in the
    /// slot (read back, they are zero): the next hop's are written over
    /// them in every frame.
    pub template: Template,
    /// `Some` for one leg of a switched session: the interface its
    /// rewritten frames leave on. `None` for a terminated session.
    pub switched: Option<Egress>,
    /// The subscriber's policed rates (a terminated session's; a switched
    /// leg is not policed).
    pub rates: Rates,
}

/// One leg of a switched session, as lnsd knows it from that leg's
/// tunnel and session setup. Each leg has its own tunnel and session ids
/// on each side (RFC 2661 §5.3: a sender puts the ids its peer assigned
/// in every message), its own addresses and ports (§8.1), and its own
/// data sequencing (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// Our tunnel id on this leg (what its peer puts in the frames it
    /// sends us).
    pub tunnel: u16,
    /// Our session id on this leg.
    pub session: u16,
    /// Our address on this leg: the source of the frames we send on it.
    pub local: Ipv4Addr,
    /// Our UDP port on this leg.
    pub local_port: u16,
    /// The peer's address (the LAC for leg A, the target LNS for leg B):
    /// the destination of what we send and the only accepted source of
    /// what we receive.
    pub peer: Ipv4Addr,
    /// The peer's UDP port.
    pub peer_port: u16,
    /// The peer's tunnel id (what we put in frames we send on this leg).
    pub peer_tunnel: u16,
    /// The peer's session id.
    pub peer_session: u16,
    /// Data messages on this leg carry Ns (the peer asked for sequencing,
    /// RFC 2661 §5.4).
    pub sequencing: bool,
    /// 802.1Q VLAN id toward the peer.
    pub vlan: Option<u16>,
    /// Next-hop table index toward the peer (lnsd resolves its MACs).
    pub nexthop: u32,
    /// The interface the peer is reached through.
    pub egress: Egress,
    /// The Ns our next data message on this leg carries (lnsd may have
    /// numbered some already); ignored without sequencing.
    pub next_ns: u16,
}

impl Leg {
    /// The outer headers toward this leg's peer.
    fn outer(&self) -> Outer {
        Outer {
            // The workers write the next hop's MACs over both.
            dst_mac: [0; 6],
            src_mac: [0; 6],
            vlan: self.vlan,
            src: self.local.into(),
            src_port: self.local_port,
            dst: self.peer.into(),
            dst_port: self.peer_port,
            tunnel: self.peer_tunnel,
            session: self.peer_session,
            sequencing: self.sequencing,
        }
    }
}

impl Session {
    /// The upstream index key.
    pub fn key(&self) -> u64 {
        up_key(self.tunnel, self.session)
    }

    /// The slot that receives on `rx` and sends on `tx`: keyed by our ids
    /// on `rx`, accepting frames from `rx`'s peer only, rewriting them to
    /// `tx`'s outer headers and next hop, out of `tx`'s interface.
    pub fn switched_leg(rx: &Leg, tx: &Leg) -> Session {
        Session {
            tunnel: rx.tunnel,
            session: rx.session,
            ipv4: None,
            ipv6_prefix: None,
            mru: 0,
            peer: IpAddr::V4(rx.peer),
            peer_port: rx.peer_port,
            lac_nexthop: tx.nexthop,
            template: Template::new(&tx.outer()),
            switched: Some(tx.egress),
            rates: Rates::default(),
        }
    }

    /// Both slots of the switched session between legs `a` and `b`: the
    /// one receiving on `a` (sending on `b`), then its mirror.
    pub fn switched_pair(a: &Leg, b: &Leg) -> (Session, Session) {
        (Session::switched_leg(a, b), Session::switched_leg(b, a))
    }

    /// Whether the record can go in the table: a switched leg has no
    /// address (it must never be found by a core packet's destination).
    pub fn check(&self) -> Result<(), &'static str> {
        if self.switched.is_some() && (self.ipv4.is_some() || self.ipv6_prefix.is_some()) {
            return Err("a switched leg has no IPv4 address or IPv6 prefix");
        }
        Ok(())
    }

    /// The template's compact form, where the first line can hold it: a
    /// terminated session whose template has one and sends to its peer.
    fn compact(&self) -> Option<Compact> {
        let c = self.template.compact()?;
        let w = c.wire;
        (self.switched.is_none()
            && self.peer == IpAddr::from([w[4], w[5], w[6], w[7]])
            && self.peer_port == u16::from_be_bytes([w[10], w[11]]))
        .then_some(c)
    }

    pub(crate) fn encode(&self, generation: u64) -> [u64; SESSION_WORDS] {
        let mut b = [0u8; SESSION_WORDS * 8];
        b[0..8].copy_from_slice(&generation.to_le_bytes());
        b[8..10].copy_from_slice(&self.tunnel.to_le_bytes());
        b[10..12].copy_from_slice(&self.session.to_le_bytes());
        let compact = self.compact();
        let flags = if self.ipv4.is_some() { F_V4 } else { 0 }
            | if self.ipv6_prefix.is_some() { F_V6 } else { 0 }
            | match self.switched {
                None => 0,
                Some(Egress::Access) => F_SWITCHED,
                Some(Egress::Core) => F_SWITCHED | F_EGRESS_CORE,
            }
            | compact.map_or(0, |c| {
                F_COMPACT
                    | if c.vlan.is_some() { F_TAGGED } else { 0 }
                    | if c.sequencing { F_SEQUENCED } else { 0 }
            });
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..16].copy_from_slice(&self.mru.to_le_bytes());
        b[16..20].copy_from_slice(&self.ipv4.map_or([0; 4], |a| a.octets()));
        b[20..24].copy_from_slice(&self.lac_nexthop.to_le_bytes());
        b[V6_AT..V6_AT + 8].copy_from_slice(&self.ipv6_prefix.unwrap_or([0; 8]));
        match compact {
            Some(c) => {
                let vlan = c.vlan.map_or(0, |v| v & 0x0fff);
                b[VLAN_AT..VLAN_AT + 2].copy_from_slice(&vlan.to_be_bytes());
                b[WIRE_AT..WIRE_AT + COMPACT_WIRE].copy_from_slice(&c.wire);
            }
            None => {
                let peer = match self.peer {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                };
                b[PEER_AT..PEER_AT + 16].copy_from_slice(&peer.octets());
                b[PEER_PORT_AT..PEER_PORT_AT + 2].copy_from_slice(&self.peer_port.to_le_bytes());
            }
        }
        // Kept whole in the second line, compact or not: for the general
        // path and for reading the session back.
        b[TEMPLATE_AT..TEMPLATE_END].copy_from_slice(&self.template.to_bytes()[TEMPLATE_MACS..]);
        for (at, r) in [(UP_RATE_AT, self.rates.up), (DOWN_RATE_AT, self.rates.down)] {
            let (kbps, burst) = r.map_or((0, 0), |r| (r.kbps, r.burst.div_ceil(16).min(0xff_ffff)));
            b[at..at + 4].copy_from_slice(&kbps.to_le_bytes());
            b[at + 4..at + 7].copy_from_slice(&burst.to_le_bytes()[..3]);
        }
        to_words(&b)
    }

    /// The session and its generation, or `None` for a free slot or one
    /// whose contents do not make a session (among them a switched leg
    /// with an address, which [`Session::check`] refuses to write).
    pub(crate) fn decode(w: &[u64; SESSION_WORDS]) -> Option<(u64, Session)> {
        let mut b = [0u8; SESSION_WORDS * 8];
        for (c, x) in b.chunks_exact_mut(8).zip(w) {
            c.copy_from_slice(&x.to_le_bytes());
        }
        let generation = w[0];
        if generation == 0 {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let flags = u16_at(12);
        let switched = match (flags & F_SWITCHED != 0, flags & F_EGRESS_CORE != 0) {
            (false, _) => None,
            (true, false) => Some(Egress::Access),
            (true, true) => Some(Egress::Core),
        };
        if !valid(generation, flags) {
            return None;
        }
        let mut t = [0u8; TEMPLATE_BYTES];
        t[TEMPLATE_MACS..].copy_from_slice(&b[TEMPLATE_AT..TEMPLATE_END]);
        let template = Template::from_bytes(&t)?;
        let (peer, peer_port) = if flags & F_COMPACT != 0 {
            // The compact form is the template's own, or the record is
            // no session (the express lane and the general path would
            // write different frames).
            let mut wire = [0u8; COMPACT_WIRE];
            wire.copy_from_slice(&b[WIRE_AT..WIRE_AT + COMPACT_WIRE]);
            let stored = Compact {
                vlan: (flags & F_TAGGED != 0)
                    .then(|| u16::from_be_bytes([b[VLAN_AT], b[VLAN_AT + 1]])),
                sequencing: flags & F_SEQUENCED != 0,
                wire,
            };
            if template.compact() != Some(stored) {
                return None;
            }
            (
                IpAddr::from([wire[4], wire[5], wire[6], wire[7]]),
                u16::from_be_bytes([wire[10], wire[11]]),
            )
        } else {
            let mut peer = [0u8; 16];
            peer.copy_from_slice(&b[PEER_AT..PEER_AT + 16]);
            let peer = Ipv6Addr::from(peer);
            (
                peer.to_ipv4_mapped().map_or(IpAddr::V6(peer), IpAddr::V4),
                u16_at(PEER_PORT_AT),
            )
        };
        let mut v6 = [0u8; 8];
        v6.copy_from_slice(&b[V6_AT..V6_AT + 8]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let rate_at = |i: usize| {
            let kbps = u32_at(i);
            (kbps != 0).then(|| Rate {
                kbps,
                burst: u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], 0]) * 16,
            })
        };
        Some((
            generation,
            Session {
                tunnel: u16_at(8),
                session: u16_at(10),
                ipv4: (flags & F_V4 != 0).then(|| Ipv4Addr::new(b[16], b[17], b[18], b[19])),
                ipv6_prefix: (flags & F_V6 != 0).then_some(v6),
                mru: u16_at(14),
                peer,
                peer_port,
                lac_nexthop: u32::from_le_bytes([b[20], b[21], b[22], b[23]]),
                template,
                switched,
                rates: Rates {
                    up: rate_at(UP_RATE_AT),
                    down: rate_at(DOWN_RATE_AT),
                },
            },
        ))
    }
}

/// Where the template's bytes (from its 13th, see [`TEMPLATE_MACS`])
/// start: the second line's first byte.
const TEMPLATE_AT: usize = FIRST_LINE.len() * 8;

/// Whether a record's generation and flags make a session: a slot in use,
/// and a switched leg with no address and no compact template (neither
/// of which [`Session::encode`] gives one).
#[inline(always)]
fn valid(generation: u64, flags: u16) -> bool {
    generation != 0 && (flags & F_SWITCHED == 0 || flags & (F_V4 | F_V6 | F_COMPACT) == 0)
}

/// A session record as a worker copied it out of its slot: the bytes as
/// [`Session::encode`] laid them out, each field read where it lies when
/// it is asked for. Decoding the whole [`Session`] costs a worker more
/// than the rest of its packet's work; a packet needs a few fields.
///
/// Filled from its slot ([`SlotView::words_mut`]) and kept only
/// if [`SlotView::is_valid`], which refuses a free slot and a switched
/// leg with an address, as [`Session::decode`] does; the template, which
/// only the packets that go out through it need, is checked when it is
/// asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView {
    w: [[u8; 8]; SESSION_WORDS],
}

impl SlotView {
    /// The view of a record's words, if valid (tests build views so).
    #[cfg(test)]
    pub(crate) fn new(w: &[u64; SESSION_WORDS]) -> Option<SlotView> {
        let v = SlotView {
            w: w.map(u64::to_le_bytes),
        };
        v.is_valid().then_some(v)
    }

    /// A free slot's record: what a look-up into the caller's storage
    /// ([`crate::table::Found::vacant`]) writes over.
    pub(crate) const FREE: SlotView = SlotView {
        w: [[0; 8]; SESSION_WORDS],
    };

    /// The record's words as bytes, for a read from its slot to write
    /// (`seqlock::read_le_into`: little-endian, as [`Session::encode`]
    /// lays them out).
    #[inline(always)]
    pub(crate) fn words_mut(&mut self) -> &mut [[u8; 8]; SESSION_WORDS] {
        &mut self.w
    }

    /// The record's bytes.
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.w.as_flattened()
    }

    /// What [`SlotView::new`] accepts: a slot in use, and no switched leg
    /// with an address (see [`valid`]).
    #[inline(always)]
    pub(crate) fn is_valid(&self) -> bool {
        valid(self.generation(), self.flags())
    }

    #[inline(always)]
    fn u16_at(&self, i: usize) -> u16 {
        // One load, not two and a shuffle (as an array of its octets).
        let b: [u8; 2] = self.bytes()[i..i + 2].try_into().unwrap_or_default();
        u16::from_le_bytes(b)
    }

    #[inline(always)]
    fn u32_at(&self, i: usize) -> u32 {
        let b: [u8; 4] = self.bytes()[i..i + 4].try_into().unwrap_or_default();
        u32::from_le_bytes(b)
    }

    #[inline(always)]
    fn flags(&self) -> u16 {
        self.u16_at(12)
    }

    /// The generation the record was written with.
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        u64::from_le_bytes([
            self.bytes()[0],
            self.bytes()[1],
            self.bytes()[2],
            self.bytes()[3],
            self.bytes()[4],
            self.bytes()[5],
            self.bytes()[6],
            self.bytes()[7],
        ])
    }

    /// [`Session::key`].
    #[inline(always)]
    pub fn key(&self) -> u64 {
        up_key(self.u16_at(8), self.u16_at(10))
    }

    /// [`Session::ipv4`].
    #[inline(always)]
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        (self.flags() & F_V4 != 0).then(|| {
            Ipv4Addr::new(
                self.bytes()[16],
                self.bytes()[17],
                self.bytes()[18],
                self.bytes()[19],
            )
        })
    }

    /// [`Session::ipv6_prefix`].
    #[inline(always)]
    pub fn ipv6_prefix(&self) -> Option<[u8; 8]> {
        let mut p = [0u8; 8];
        p.copy_from_slice(&self.bytes()[V6_AT..V6_AT + 8]);
        (self.flags() & F_V6 != 0).then_some(p)
    }

    /// [`Session::mru`].
    #[inline(always)]
    pub fn mru(&self) -> u16 {
        self.u16_at(14)
    }

    /// [`Session::peer`].
    #[inline(always)]
    pub fn peer(&self) -> IpAddr {
        let a = Ipv6Addr::from(self.peer_octets());
        a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
    }

    /// Whether the first line holds the template's compact form (and the
    /// peer as its destination).
    #[inline(always)]
    fn is_compact(&self) -> bool {
        self.flags() & F_COMPACT != 0
    }

    /// The compact form's destination address: the peer's.
    #[inline(always)]
    fn compact_peer(&self) -> [u8; 4] {
        let at = WIRE_AT + 4;
        self.bytes()[at..at + 4].try_into().unwrap_or_default()
    }

    /// Whether `a` is the peer: [`SlotView::peer`] compared in place, as
    /// every packet from a LAC is checked (no address built per packet).
    #[inline(always)]
    pub fn is_peer(&self, a: IpAddr) -> bool {
        const MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        if self.is_compact() {
            return a == IpAddr::from(self.compact_peer());
        }
        let p = &self.bytes()[PEER_AT..PEER_AT + 16];
        match a {
            IpAddr::V4(v4) => p[..12] == MAPPED && p[12..] == v4.octets(),
            IpAddr::V6(v6) => *p == v6.octets() && p[..12] != MAPPED,
        }
    }

    /// The peer's address: IPv6, or IPv4 mapped (the destination of an
    /// IPv6 template's frames).
    #[inline(always)]
    pub fn peer_octets(&self) -> [u8; 16] {
        if self.is_compact() {
            return Ipv4Addr::from(self.compact_peer())
                .to_ipv6_mapped()
                .octets();
        }
        self.bytes()[PEER_AT..PEER_AT + 16]
            .try_into()
            .unwrap_or_default()
    }

    /// [`Session::lac_nexthop`].
    #[inline(always)]
    pub fn lac_nexthop(&self) -> u32 {
        self.u32_at(20)
    }

    /// [`Session::switched`].
    #[inline(always)]
    pub fn switched(&self) -> Option<Egress> {
        let flags = self.flags();
        match (flags & F_SWITCHED != 0, flags & F_EGRESS_CORE != 0) {
            (false, _) => None,
            (true, false) => Some(Egress::Access),
            (true, true) => Some(Egress::Core),
        }
    }

    /// [`Session::template`], where it lies (without the Ethernet
    /// addresses: the next hop's go in every frame). Checked here, where
    /// a packet needs it, not at every look-up: `None` for a template with
    /// impossible offsets, which only a damaged slot holds.
    #[inline(always)]
    pub fn template(&self) -> Option<TemplateRef<'_>> {
        TemplateRef::stored(&self.bytes()[TEMPLATE_AT..TEMPLATE_END], TEMPLATE_MACS)
    }

    #[inline(always)]
    fn rate_at(&self, i: usize) -> Option<Rate> {
        let kbps = self.u32_at(i);
        let b = self.bytes();
        // Not `then(|| ..)`: a closure the compiler kept out of line.
        if kbps == 0 {
            return None;
        }
        Some(Rate {
            kbps,
            burst: u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], 0]) * 16,
        })
    }

    /// [`Session::rates`]`.up`.
    #[inline(always)]
    pub fn rate_up(&self) -> Option<Rate> {
        self.rate_at(UP_RATE_AT)
    }

    /// [`Session::rates`]`.down`.
    #[inline(always)]
    pub fn rate_down(&self) -> Option<Rate> {
        self.rate_at(DOWN_RATE_AT)
    }

    /// The whole session (for lnsd, tests and slow paths); `None` for a
    /// damaged template (see [`SlotView::template`]).
    pub fn session(&self) -> Option<Session> {
        let mut w = [0u64; SESSION_WORDS];
        for (x, c) in w.iter_mut().zip(self.bytes().chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            *x = u64::from_le_bytes(a);
        }
        Session::decode(&w).map(|(_, s)| s)
    }
}

/// The record's words in the slot's first cache line (with its sequence
/// word), all the express lanes read ([`FirstLine`]): the generation;
/// ids, flags and MRU; IPv4 address and LAC next hop; both rates; the
/// compact template or the peer. They are the record's first seven, so
/// [`FirstLine`] reads word `i` at `w[i]`.
pub(crate) const FIRST_LINE: [usize; 7] = [0, 1, 2, 3, 4, 5, 6];
const _: () = assert!(UP_RATE_AT % 8 + RATE_BYTES <= 8, "the up rate in one word");
const _: () = assert!(DOWN_RATE_AT == 31, "the down rate across words 3 and 4");

/// The words [`FIRST_LINE`] names of a session record, as the express
/// lanes (`worker::pipeline`) read them: seven loads where a [`SlotView`]
/// copies fifteen, each field read off its word, and one cache line of
/// the slot where the whole record is two. Holds what [`SlotView`] would
/// read for these fields (`a_first_line_reads_what_a_slot_view_reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstLine {
    w: [u64; FIRST_LINE.len()],
}

impl FirstLine {
    /// The view of the words read, if they are a valid record's (as
    /// [`SlotView::is_valid`]).
    #[inline(always)]
    pub(crate) fn new(w: [u64; FIRST_LINE.len()]) -> Option<FirstLine> {
        let v = FirstLine { w };
        valid(v.generation(), v.flags()).then_some(v)
    }

    #[inline(always)]
    fn flags(&self) -> u16 {
        (self.w[1] >> 32) as u16
    }

    /// [`SlotView::generation`].
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.w[0]
    }

    /// Whether the record is the session with these ids
    /// ([`SlotView::key`] against [`up_key`]).
    #[inline(always)]
    pub fn has_ids(&self, tunnel: u16, session: u16) -> bool {
        self.w[1] as u32 == u32::from(tunnel) | u32::from(session) << 16
    }

    /// Whether it is a switched leg ([`SlotView::switched`] is `Some`).
    #[inline(always)]
    pub fn is_switched(&self) -> bool {
        self.flags() & F_SWITCHED != 0
    }

    /// [`SlotView::mru`].
    #[inline(always)]
    pub fn mru(&self) -> u16 {
        (self.w[1] >> 48) as u16
    }

    /// [`SlotView::ipv4`], its octets.
    #[inline(always)]
    pub fn ipv4_octets(&self) -> Option<[u8; 4]> {
        (self.flags() & F_V4 != 0).then(|| (self.w[2] as u32).to_le_bytes())
    }

    /// [`SlotView::lac_nexthop`].
    #[inline(always)]
    pub fn lac_nexthop(&self) -> u32 {
        (self.w[2] >> 32) as u32
    }

    /// [`SlotView::is_peer`] for an IPv4 address, its octets: the compact
    /// template's destination, or the peer stored IPv4-mapped.
    #[inline(always)]
    pub fn is_peer_v4(&self, a: [u8; 4]) -> bool {
        let a = u32::from_le_bytes(a);
        if self.flags() & F_COMPACT != 0 {
            return (self.w[5] >> 32) as u32 == a;
        }
        self.w[5] == 0 && self.w[6] == u64::from(a) << 32 | 0xffff_0000
    }

    /// A rate's seven octets, little-endian in the low ones of `w`.
    #[inline(always)]
    fn rate(w: u64) -> Option<Rate> {
        let kbps = w as u32;
        (kbps != 0).then(|| Rate {
            kbps,
            burst: ((w >> 32) as u32 & 0xff_ffff) * 16,
        })
    }

    /// [`SlotView::rate_up`].
    #[inline(always)]
    pub fn rate_up(&self) -> Option<Rate> {
        Self::rate(self.w[UP_RATE_AT / 8] >> (8 * (UP_RATE_AT % 8)))
    }

    /// [`SlotView::rate_down`]: its first octet ends word 3, the rest
    /// begin word 4.
    #[inline(always)]
    pub fn rate_down(&self) -> Option<Rate> {
        Self::rate(self.w[3] >> 56 | self.w[4] << 8)
    }

    /// The template as the downstream express lane writes it, from this
    /// line alone: `Some` where the line holds its compact form (a
    /// terminated session over IPv4, as lnsd writes them); any other is
    /// the general path's, from the whole slot ([`SlotView::template`]).
    #[inline(always)]
    pub fn express_template(&self) -> Option<ExpressTemplate> {
        let flags = self.flags();
        if flags & F_COMPACT == 0 {
            return None;
        }
        let mut wire = [0u8; COMPACT_WIRE];
        wire[..8].copy_from_slice(&self.w[5].to_le_bytes());
        wire[8..].copy_from_slice(&self.w[6].to_le_bytes());
        Some(ExpressTemplate::new(
            flags & F_TAGGED != 0,
            flags & F_SEQUENCED != 0,
            ((self.w[4] >> 48) as u16).to_le_bytes(),
            wire,
        ))
    }
}

/// Where a worker sends a frame: the neighbour's MAC and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextHop {
    /// The neighbour's MAC (resolved by lnsd from the kernel).
    pub dst_mac: [u8; 6],
    /// Our interface's MAC.
    pub src_mac: [u8; 6],
    /// The neighbour's address, for operators and for refreshing.
    pub addr: Option<IpAddr>,
}

impl NextHop {
    pub(crate) fn encode(&self) -> [u64; NEXTHOP_WORDS] {
        let mut b = [0u8; NEXTHOP_WORDS * 8];
        b[0] = 1;
        b[1] = match self.addr {
            None => 0,
            Some(IpAddr::V4(_)) => 4,
            Some(IpAddr::V6(_)) => 6,
        };
        b[2..8].copy_from_slice(&self.dst_mac);
        b[8..14].copy_from_slice(&self.src_mac);
        let a = match self.addr {
            Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
            Some(IpAddr::V6(a)) => a,
            None => Ipv6Addr::UNSPECIFIED,
        };
        b[16..32].copy_from_slice(&a.octets());
        to_words(&b)
    }

    /// The addresses from the record's first two words (bytes 2..14).
    #[inline(always)]
    pub(crate) fn macs(w: &[u64; 2]) -> Option<crate::node::forward::NextHop> {
        if w[0] & 0xff != 1 {
            return None;
        }
        // Whole-word shifts and two 6-byte copies: built byte by byte,
        // this was some forty instructions on every packet's path.
        let mut h = crate::node::forward::NextHop {
            dst_mac: [0; 6],
            src_mac: [0; 6],
        };
        h.dst_mac.copy_from_slice(&(w[0] >> 16).to_le_bytes()[..6]);
        h.src_mac.copy_from_slice(&w[1].to_le_bytes()[..6]);
        Some(h)
    }

    pub(crate) fn decode(w: &[u64; NEXTHOP_WORDS]) -> Option<NextHop> {
        // The flag and the MACs, as a worker reads them.
        let m = NextHop::macs(&[w[0], w[1]])?;
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&w[2].to_le_bytes());
        a[8..].copy_from_slice(&w[3].to_le_bytes());
        let a = Ipv6Addr::from(a);
        Some(NextHop {
            dst_mac: m.dst_mac,
            src_mac: m.src_mac,
            addr: match w[0].to_le_bytes()[1] {
                4 => a.to_ipv4_mapped().map(IpAddr::V4),
                6 => Some(IpAddr::V6(a)),
                _ => None,
            },
        })
    }
}

/// The upstream key: what the LAC's data frames carry.
pub fn up_key(tunnel: u16, session: u16) -> u64 {
    (u64::from(tunnel) << 16) | u64::from(session)
}

fn to_words<const N: usize, const B: usize>(b: &[u8; B]) -> [u64; N] {
    let mut w = [0u64; N];
    for (x, c) in w.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *x = u64::from_le_bytes(a);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::encap::Outer;

    /// The outer headers `sample` is made from.
    fn sample_outer() -> Outer {
        Outer {
            dst_mac: [0; 6],
            src_mac: [0; 6],
            vlan: None,
            src: std::net::IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
            src_port: 1701,
            dst: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 7)),
            dst_port: 1701,
            tunnel: 9,
            session: 10,
            sequencing: true,
        }
    }

    pub(crate) fn sample(tunnel: u16, session: u16) -> Session {
        Session {
            tunnel,
            session,
            ipv4: Some(Ipv4Addr::new(100, 64, 1, 2)),
            ipv6_prefix: Some([0x20, 1, 0xd, 0xb8, 0, 0, 0, 7]),
            mru: 1492,
            peer: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            peer_port: 1701,
            lac_nexthop: 3,
            template: Template::new(&sample_outer()),
            switched: None,
            rates: Rates {
                up: Some(Rate {
                    kbps: 20_000,
                    burst: 250_000,
                }),
                down: Some(Rate {
                    kbps: 100_000,
                    burst: 1_250_000,
                }),
            },
        }
    }

    fn leg(n: u8, egress: Egress, sequencing: bool) -> Leg {
        Leg {
            tunnel: 100 + u16::from(n),
            session: 200 + u16::from(n),
            local: Ipv4Addr::new(192, 0, 2, n),
            local_port: 1701,
            peer: Ipv4Addr::new(198, 51, 100, n),
            peer_port: 1700 + u16::from(n),
            peer_tunnel: 300 + u16::from(n),
            peer_session: 400 + u16::from(n),
            sequencing,
            vlan: (n == 2).then_some(42),
            nexthop: 10 + u32::from(n),
            egress,
            next_ns: 0,
        }
    }

    #[test]
    fn switched_legs_round_trip_and_mirror() {
        let a = leg(1, Egress::Access, false);
        let b = leg(2, Egress::Core, true);
        let (sa, sb) = Session::switched_pair(&a, &b);
        for s in [sa, sb] {
            assert_eq!(s.check(), Ok(()));
            assert_eq!(Session::decode(&s.encode(5)), Some((5, s)));
        }
        // Leg A's slot: our ids on A, A's peer as the only source, B's
        // headers, next hop and interface.
        assert_eq!((sa.tunnel, sa.session), (101, 201));
        assert_eq!(sa.peer, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(sa.peer_port, 1701);
        assert_eq!(sa.lac_nexthop, 12);
        assert_eq!(sa.switched, Some(Egress::Core));
        assert!(sa.template.sequencing());
        assert_eq!(sa.template, Template::new(&b.outer()));
        // Its mirror.
        assert_eq!((sb.tunnel, sb.session), (102, 202));
        assert_eq!(sb.peer, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)));
        assert_eq!(sb.lac_nexthop, 11);
        assert_eq!(sb.switched, Some(Egress::Access));
        assert!(!sb.template.sequencing());
        // Terminated and switched records differ by their flags alone.
        let mut t = sa;
        t.switched = None;
        assert_eq!(Session::decode(&t.encode(5)), Some((5, t)));
        // A switched leg with an address is refused both ways.
        let bad = Session {
            ipv4: Some(Ipv4Addr::new(100, 64, 0, 1)),
            ..sa
        };
        assert!(bad.check().is_err());
        let mut w = sa.encode(5);
        w[1] |= u64::from(F_V4) << 32;
        assert_eq!(Session::decode(&w), None);
    }

    #[test]
    fn session_round_trips() {
        let s = sample(1, 2);
        assert_eq!(Session::decode(&s.encode(77)), Some((77, s)));
        let v6 = Session {
            ipv4: None,
            peer: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..s
        };
        assert_eq!(Session::decode(&v6.encode(1)), Some((1, v6)));
        // Generation 0 is a free slot.
        assert_eq!(Session::decode(&s.encode(0)), None);
        assert_eq!(Session::decode(&[0; SESSION_WORDS]), None);
        // No rate either way; the largest; a burst kept in 16-byte units.
        let none = Session {
            rates: Rates::default(),
            ..s
        };
        assert_eq!(Session::decode(&none.encode(3)), Some((3, none)));
        let odd = Session {
            rates: Rates {
                up: Some(Rate {
                    kbps: u32::MAX,
                    burst: u32::MAX,
                }),
                down: Some(Rate {
                    kbps: 1,
                    burst: 1_001,
                }),
            },
            ..s
        };
        let (_, back) = Session::decode(&odd.encode(3)).unwrap();
        assert_eq!(
            back.rates.up.map(|r| (r.kbps, r.burst)),
            Some((u32::MAX, 0xff_ffff * 16))
        );
        assert_eq!(back.rates.down.map(|r| (r.kbps, r.burst)), Some((1, 1_008)));
        // The template's MACs are not kept.
        let mut macs = s;
        macs.template = Template::new(&Outer {
            dst_mac: [9; 6],
            src_mac: [8; 6],
            ..sample_outer()
        });
        assert_eq!(Session::decode(&macs.encode(5)), Some((5, s)));
    }

    /// A session of each kind a worker reads: terminated over IPv4, with
    /// an IPv6 LAC and no address or rate, and a switched pair's legs.
    fn kinds() -> (Session, Session, (Session, Session)) {
        let s = sample(1, 2);
        let v6 = Session {
            ipv4: None,
            peer: IpAddr::V6(Ipv6Addr::LOCALHOST),
            rates: Rates::default(),
            ..s
        };
        let legs =
            Session::switched_pair(&leg(1, Egress::Access, false), &leg(2, Egress::Core, true));
        (s, v6, legs)
    }

    /// Every field a worker reads where it lies is the decoded session's,
    /// and the template it writes from the slot is the session's, but for
    /// the Ethernet addresses, which it leaves to the next hop.
    #[test]
    fn a_slot_view_reads_what_decode_reads() {
        let (s, v6, legs) = kinds();
        for s in [s, v6, legs.0, legs.1] {
            let v = SlotView::new(&s.encode(9)).unwrap();
            assert_eq!(v.generation(), 9);
            assert_eq!(v.key(), s.key());
            assert_eq!(v.ipv4(), s.ipv4);
            assert_eq!(v.ipv6_prefix(), s.ipv6_prefix);
            assert_eq!(v.mru(), s.mru);
            assert_eq!(v.peer(), s.peer);
            let mapped = match s.peer {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            assert_eq!(v.peer_octets(), mapped.octets());
            assert!(v.is_peer(s.peer));
            for other in [
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ] {
                assert_eq!(v.is_peer(other), other == s.peer, "{other} vs {}", s.peer);
            }
            if let IpAddr::V4(a) = s.peer {
                // The same address, IPv4-mapped, is not an IPv4 peer's.
                assert!(!v.is_peer(IpAddr::V6(a.to_ipv6_mapped())));
            }
            assert_eq!(v.lac_nexthop(), s.lac_nexthop);
            assert_eq!(v.switched(), s.switched);
            assert_eq!((v.rate_up(), v.rate_down()), (s.rates.up, s.rates.down));
            assert_eq!(v.session(), Some(s));
            let t = v.template().unwrap();
            let mut from_slot = [0xeeu8; 128];
            let mut from_template = [0xeeu8; 128];
            let ip = [0x45u8; 28];
            from_slot[100..128].copy_from_slice(&ip);
            from_template[100..128].copy_from_slice(&ip);
            let a = crate::node::encap::encap(t, &mut from_slot, 100, 28, 5).unwrap();
            let b = crate::node::encap::encap(&s.template, &mut from_template, 100, 28, 5).unwrap();
            assert_eq!(a, b);
            assert_eq!(from_slot[a.0..a.0 + 12], [0xee; 12], "MACs left alone");
            assert_eq!(from_slot[a.0 + 12..], from_template[a.0 + 12..]);
        }
        // A free slot, and a switched leg with an address, are no view.
        assert_eq!(SlotView::new(&s.encode(0)), None);
        let mut bad = legs.0.encode(3);
        bad[1] |= u64::from(F_V4) << 32;
        assert_eq!(SlotView::new(&bad), None);
        // A template with impossible offsets: no template, no session.
        let mut w = s.encode(4);
        let len_at = TEMPLATE_AT + (crate::node::encap::MAX_TEMPLATE - TEMPLATE_MACS);
        w[len_at / 8] |= 0xff << (8 * (len_at % 8));
        let v = SlotView::new(&w).unwrap();
        assert!(v.template().is_none() && v.session().is_none());
    }

    /// The express lanes' line says what the whole record says, and its
    /// template writes the frames the session's template writes.
    #[test]
    fn a_first_line_reads_what_a_slot_view_reads() {
        let (s, v6, legs) = kinds();
        let big = Session {
            rates: Rates {
                up: Some(Rate {
                    kbps: u32::MAX,
                    burst: 0xff_ffff * 16,
                }),
                down: Some(Rate {
                    kbps: 0x0102_0304,
                    burst: 0x00ab_cdef * 16,
                }),
            },
            ..s
        };
        let tagged = Session {
            template: Template::new(&Outer {
                vlan: Some(0x0abc),
                sequencing: false,
                ..sample_outer()
            }),
            rates: Rates::default(),
            ..s
        };
        // A LAC that sends from elsewhere than it is sent to: the record
        // keeps its peer, and the express lane leaves its frames.
        let elsewhere = Session {
            peer_port: 1702,
            ..s
        };
        for (s, compact) in [
            (s, true),
            (v6, false),
            (big, true),
            (tagged, true),
            (elsewhere, false),
            (legs.0, false),
            (legs.1, false),
        ] {
            let w = s.encode(9);
            assert_eq!(Session::decode(&w), Some((9, s)));
            let v = SlotView::new(&w).unwrap();
            let u = FirstLine::new(FIRST_LINE.map(|i| w[i])).unwrap();
            assert_eq!(u.generation(), 9);
            assert!(u.has_ids((s.key() >> 16) as u16, s.key() as u16));
            assert!(!u.has_ids((s.key() >> 16) as u16, s.key() as u16 ^ 1));
            assert!(!u.has_ids((s.key() >> 16) as u16 ^ 1, s.key() as u16));
            assert_eq!(u.is_switched(), v.switched().is_some());
            assert_eq!(u.mru(), v.mru());
            assert_eq!(u.ipv4_octets(), v.ipv4().map(|a| a.octets()));
            assert_eq!(u.lac_nexthop(), v.lac_nexthop());
            assert_eq!((u.rate_up(), u.rate_down()), (v.rate_up(), v.rate_down()));
            for a in [[192, 0, 2, 99], [198, 51, 100, 7], [0, 0, 0, 0]] {
                assert_eq!(u.is_peer_v4(a), v.is_peer(IpAddr::from(a)), "{a:?}");
            }
            if let IpAddr::V4(a) = s.peer {
                assert!(u.is_peer_v4(a.octets()));
            }
            assert_eq!(u.express_template().is_some(), compact, "{s:?}");
            let Some(x) = u.express_template() else {
                continue;
            };
            let mut from_line = [0xeeu8; 128];
            let mut from_template = [0xeeu8; 128];
            let ip = [0x45u8; 28];
            from_line[100..].copy_from_slice(&ip);
            from_template[100..].copy_from_slice(&ip);
            x.write(&mut from_line[100 - x.len()..]);
            x.patch_ns(&mut from_line[100 - x.len()..], 5);
            let (at, _) =
                crate::node::encap::encap(&s.template, &mut from_template, 100, 28, 5).unwrap();
            assert_eq!(at, 100 - x.len());
            assert_eq!(from_line[at + 12..], from_template[at + 12..]);
        }
        assert_eq!(FirstLine::new(FIRST_LINE.map(|i| s.encode(0)[i])), None);
        let mut bad = legs.0.encode(3);
        bad[1] |= u64::from(F_V4) << 32;
        assert_eq!(FirstLine::new(FIRST_LINE.map(|i| bad[i])), None);
        // A switched leg with a compact template is no record either.
        let mut bad = legs.0.encode(3);
        bad[1] |= u64::from(F_COMPACT) << 32;
        assert_eq!(FirstLine::new(FIRST_LINE.map(|i| bad[i])), None);
        assert_eq!(SlotView::new(&bad), None);
        // A compact form that is not the template's: no session (the
        // lane and the general path would write different frames).
        let mut w = s.encode(3);
        w[6] ^= 1 << 56;
        assert!(SlotView::new(&w).unwrap().session().is_none());
    }

    #[test]
    fn nexthop_round_trips() {
        let n = NextHop {
            dst_mac: [1, 2, 3, 4, 5, 6],
            src_mac: [7, 8, 9, 10, 11, 12],
            addr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        };
        assert_eq!(NextHop::decode(&n.encode()), Some(n));
        assert_eq!(NextHop::decode(&[0; NEXTHOP_WORDS]), None);
    }
}
