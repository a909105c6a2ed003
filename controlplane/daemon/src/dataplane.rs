//! lnsd's side of the data plane: the session tables it writes, the next
//! hops it resolves from the kernel, and the `lns-dataplane` process it
//! supervises (DESIGN §2).
//!
//! [`TableDataPlane`] turns the engine's [`SessionEntry`]s into table
//! records (encapsulation template, addresses, MRU) and keeps the next-hop
//! entries fresh: the core gateway's MAC and, per LAC, the MAC of the
//! neighbour the route to that LAC goes through, asked of the kernel over
//! rtnetlink ([`super::netlink`]) off the engine task: a peer whose route
//! is not known yet is installed as if on the link (the common case) and
//! its route asked ([`TableDataPlane::take_lookups`]); the answer
//! ([`TableDataPlane::routes_resolved`]) moves its sessions to the right
//! next hop and interface. A neighbour the kernel has not
//! resolved yet is prodded (one UDP datagram to its discard port makes the
//! kernel ARP for it) and picked up on the next refresh; until then the
//! workers drop that session's downstream packets under `no_next_hop`.
//!
//! [`supervise`] runs the data plane process, restarts it when it dies
//! (every session stays in the table, so forwarding resumes as it was),
//! ever more slowly while it keeps dying at start ([`Backoff`]), logging
//! each exit with its status and, when it exited by itself, the last line
//! it wrote; and stops it on shutdown. Its stderr is relayed line by line
//! to lnsd's.

use super::netlink;
use lns_dataplane::node::encap::{Outer, Template};
use lns_dataplane::table::record::{Egress, Leg as TableLeg};
use lns_dataplane::table::{
    CORE_V4, CORE_V6, NextHop, Session, Sizes, SlotId, SwitchedIds, TableError, Writer,
};
use lns_protocol::engine::switch::SwitchedEntry;
use lns_protocol::l2tp::SessionKey;
use lns_protocol::lns::{DataPlane, LegUsage, NoDataPlane, Removed, SessionEntry, SessionUsage};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// What lnsd reads about its own interfaces and neighbours (also the MAC
/// parser `lns-bench` uses).
pub mod kernel {
    use std::net::{IpAddr, SocketAddr};

    /// `aa:bb:cc:dd:ee:ff` (surrounding whitespace ignored); `None` for
    /// anything else, and for the all-zero MAC of an unresolved neighbour.
    pub fn mac(s: &str) -> Option<[u8; 6]> {
        let mut m = [0u8; 6];
        let mut parts = s.trim().split(':');
        for o in &mut m {
            *o = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        (m != [0; 6]).then_some(m)
    }

    /// An interface's own MAC.
    pub fn own_mac(dev: &str) -> Option<[u8; 6]> {
        mac(&std::fs::read_to_string(format!("/sys/class/net/{dev}/address")).ok()?)
    }

    /// An interface's index.
    pub fn ifindex(dev: &str) -> Option<u32> {
        std::fs::read_to_string(format!("/sys/class/net/{dev}/ifindex"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Makes the kernel resolve `ip` (ARP, or Neighbor Discovery out of
    /// interface `scope` for a link-local one): a datagram to its discard
    /// port.
    pub fn prod(ip: IpAddr, scope: u32) {
        let (bind, to) = match ip {
            IpAddr::V4(a) => ("0.0.0.0:0", SocketAddr::from((a, 9))),
            IpAddr::V6(a) => (
                "[::]:0",
                SocketAddr::V6(std::net::SocketAddrV6::new(a, 9, 0, scope)),
            ),
        };
        if let Ok(s) = std::net::UdpSocket::bind(bind) {
            let _ = s.send_to(&[], to);
        }
    }
}

/// Data-plane statistics kept by lnsd.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DpStats {
    /// Sessions written to the table.
    pub installed: u64,
    /// Sessions removed.
    pub removed: u64,
    /// Sessions the table refused (full, duplicate, no next-hop record).
    pub refused: u64,
    /// Next hops not (yet) resolved at the last refresh.
    pub unresolved: u64,
}

/// One next hop in use.
#[derive(Debug)]
struct Hop {
    index: u32,
    users: usize,
    written: Option<NextHop>,
    /// Its neighbour was looked up since it was taken.
    asked: bool,
    /// The interface the neighbour is on.
    dev: String,
}

/// A switched call in the table: both legs' slots, the next hops they
/// use, and the entry they were written from (written again when a leg's
/// route becomes known).
#[derive(Debug, Clone, Copy)]
struct Switched {
    ids: SwitchedIds,
    b: SessionKey,
    vias: [IpAddr; 2],
    entry: SwitchedEntry,
}

/// What the table knows of the kernel's route to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Asked of the kernel (gateway, output interface; `None`: no route).
    Known(Option<(IpAddr, u32)>),
    /// Not known yet: asked, and written as if the peer were on the link.
    Asked,
}

/// Something written with a peer's route not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    /// A terminated session.
    Session(SessionKey),
    /// A switched call, by leg A.
    Switched(SessionKey),
}

/// Route answers from the kernel, asked off the engine task: each peer's
/// route, and the neighbour table as it was then.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Each peer asked, with its route (gateway, output interface).
    pub routes: Vec<(IpAddr, Option<(IpAddr, u32)>)>,
    /// The neighbour table.
    pub neighbours: Vec<netlink::Neighbour>,
}

impl Resolved {
    /// Asks the kernel (blocking: netlink round trips).
    pub fn lookup(peers: &[IpAddr]) -> Resolved {
        Resolved {
            routes: peers.iter().map(|&p| (p, netlink::route_to(p))).collect(),
            neighbours: netlink::neighbours(),
        }
    }
}

/// A session lnsd wrote into the table (see `TableDataPlane::sessions`).
#[derive(Debug, Clone, Copy)]
struct Written {
    id: SlotId,
    via: IpAddr,
    sequenced: bool,
}

/// The table-backed data plane.
#[derive(Debug)]
pub struct TableDataPlane {
    writer: Writer,
    access: String,
    core: String,
    core_gateway: Ipv4Addr,
    /// What lnsd keeps of each session it wrote: its slot, the neighbour
    /// its frames go to, and whether it is sequenced. The record itself is
    /// in the table, read back when needed, not copied here (a million
    /// sessions would each pay for it twice; issue 18, memory).
    sessions: HashMap<SessionKey, Written>,
    hops: HashMap<IpAddr, Hop>,
    free_hops: Vec<u32>,
    /// Switched calls by leg A.
    switched: HashMap<SessionKey, Switched>,
    /// Each switched leg's receiving slot, and whether the other leg (the
    /// one its frames leave on) is sequenced.
    legs: HashMap<SessionKey, (SlotId, bool)>,
    /// The kernel's route to each peer, asked once per peer (and again
    /// after each refresh), off the engine task.
    routes: HashMap<IpAddr, Route>,
    /// Peers whose route is to be asked (taken by lnsd).
    lookups: Vec<IpAddr>,
    /// What was written while a peer's route was not known, by peer.
    waiting: HashMap<IpAddr, Vec<Waiter>>,
    /// Our IPv6 addresses toward LACs reached over IPv6, each kept in a
    /// next-hop record (an IPv6 template names it, having no room for
    /// the address): its index and how many sessions use it.
    sources: HashMap<Ipv6Addr, (u32, usize)>,
    /// The core interface's index (read at each refresh).
    core_ifindex: Option<u32>,
    /// The core's IPv6 gateway, if subscriber IPv6 is routed.
    core_gateway6: Option<Ipv6Addr>,
    /// The core next hops written, IPv4 and IPv6.
    core_hops: [Option<NextHop>; 2],
    /// Data plane attaches seen (the header counts them).
    attaches: u64,
    /// Counters.
    pub stats: DpStats,
}

impl TableDataPlane {
    /// Creates the table file and resolves the core gateway.
    pub fn create(
        path: &std::path::Path,
        sizes: Sizes,
        access: &str,
        core: &str,
        core_gateway: Ipv4Addr,
    ) -> Result<TableDataPlane, TableError> {
        let writer = Writer::create(path, sizes)?;
        match lns_dataplane::table::huge_pages_at(path) {
            Ok(fs) => {
                tracing::info!(table = %path.display(), %fs, "session table on huge pages where the kernel has them")
            }
            Err(why) => tracing::warn!(
                table = %path.display(),
                "session table on 4 KiB pages: {why}; lookups spread over many sessions miss the TLB \
                 more (xlns_table_bytes{{pages=\"huge\"}} shows what the kernel gave)"
            ),
        }
        let mut t = TableDataPlane {
            writer,
            access: access.to_string(),
            core: core.to_string(),
            core_gateway,
            sessions: HashMap::new(),
            hops: HashMap::new(),
            switched: HashMap::new(),
            legs: HashMap::new(),
            routes: HashMap::new(),
            lookups: Vec::new(),
            waiting: HashMap::new(),
            sources: HashMap::new(),
            core_ifindex: kernel::ifindex(core),
            free_hops: (2..lns_dataplane::table::NEXTHOPS).rev().collect(),
            core_gateway6: None,
            core_hops: [None; 2],
            attaches: 0,
            stats: DpStats::default(),
        };
        t.refresh();
        Ok(t)
    }

    /// The route to `peer` if known; otherwise asked (see `lookups`).
    fn route(&mut self, peer: IpAddr) -> Route {
        let r = *self.routes.entry(peer).or_insert(Route::Asked);
        if r == Route::Asked && !self.lookups.contains(&peer) {
            self.lookups.push(peer);
        }
        r
    }

    /// Peers whose route lnsd is to ask of the kernel (off the engine
    /// task) and hand back with [`TableDataPlane::routes_resolved`].
    pub fn take_lookups(&mut self) -> Vec<IpAddr> {
        std::mem::take(&mut self.lookups)
    }

    /// The kernel's answers: sessions and calls written while a route was
    /// unknown move to the next hop (and interface) it gives, and next
    /// hops not written yet are looked up in the neighbour table.
    pub fn routes_resolved(&mut self, r: &Resolved) {
        for &(peer, route) in &r.routes {
            self.routes.insert(peer, Route::Known(route));
            for w in self.waiting.remove(&peer).unwrap_or_default() {
                match w {
                    Waiter::Session(key) => self.reroute(key, peer, route),
                    Waiter::Switched(a) => {
                        if let Some(sw) = self.switched.get(&a).copied() {
                            self.install_switched(&sw.entry);
                        }
                    }
                }
            }
        }
        let fresh: Vec<IpAddr> = self
            .hops
            .iter_mut()
            .filter(|(_, h)| h.written.is_none())
            .map(|(v, h)| {
                h.asked = true;
                *v
            })
            .collect();
        for via in fresh {
            if !self.resolve_hop(&r.neighbours, via) {
                self.prod_hop(via);
            }
        }
    }

    /// Moves session `key`, written as if its LAC were on the link, to the
    /// next hop its route gives.
    fn reroute(&mut self, key: SessionKey, lac: IpAddr, route: Option<(IpAddr, u32)>) {
        let via = route.map_or(lac, |(v, _)| v);
        let Some(w) = self.sessions.get(&key).copied() else {
            return;
        };
        let (id, old) = (w.id, w.via);
        let Some(s) = self.writer.session(id) else {
            return;
        };
        // The ids may have been reused by a session of another LAC.
        if via == old || s.peer != lac {
            return;
        }
        let access = self.access.clone();
        let Some(hop) = self.hop_for(via, &access) else {
            tracing::error!("next-hop table full");
            return;
        };
        let moved = Session {
            lac_nexthop: hop,
            ..s
        };
        match self.writer.update(id, &moved) {
            Ok(()) => {
                self.release_hop(old);
                self.sessions.insert(key, Written { via, ..w });
            }
            Err(err) => {
                self.release_hop(via);
                tracing::error!(tunnel = key.tunnel, session = key.session, error = %err, "next hop not moved");
            }
        }
    }

    /// Remembers that `w` was written before `peer`'s route was known.
    fn wait_for(&mut self, peer: IpAddr, w: Waiter) {
        let list = self.waiting.entry(peer).or_default();
        if !list.contains(&w) {
            list.push(w);
        }
    }

    /// A next hop just taken that nothing has written: its neighbour is
    /// looked up with `peer`'s route (off the engine task).
    fn look_up_new_hop(&mut self, via: IpAddr, peer: IpAddr) {
        let Some(h) = self.hops.get_mut(&via) else {
            return;
        };
        if h.written.is_none() && !h.asked {
            // Once: later sessions through it wait for the refresh.
            h.asked = true;
            if !self.lookups.contains(&peer) {
                self.lookups.push(peer);
            }
        }
    }

    /// The table.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// A switched leg's counters: the frames received on it and switched
    /// onto the other leg (`up_*`), and those dropped.
    pub fn switched_counters(
        &self,
        key: SessionKey,
    ) -> Option<lns_dataplane::table::counters::SessionCounters> {
        self.legs.get(&key).map(|(id, _)| self.writer.counters(*id))
    }

    /// One leg as the table holds it, with the neighbour it goes through
    /// (a next-hop reference taken). The interface is the one the kernel
    /// routes the peer through: the access or the core side.
    /// A leg whose peer's route is not known yet is written as if the
    /// peer were on the access link (and waits for the route).
    fn table_leg(&mut self, l: &lns_protocol::engine::switch::Leg) -> Option<(TableLeg, IpAddr)> {
        let (SocketAddr::V4(local), SocketAddr::V4(peer)) = (l.local, l.peer) else {
            return None;
        };
        let route = match self.route(IpAddr::V4(*peer.ip())) {
            Route::Known(r) => r,
            Route::Asked => None,
        };
        let via = route.map_or(IpAddr::V4(*peer.ip()), |(v, _)| v);
        let egress = match route {
            Some((_, oif)) if Some(oif) == self.core_ifindex && self.core != self.access => {
                Egress::Core
            }
            _ => Egress::Access,
        };
        let dev = match egress {
            Egress::Core => self.core.clone(),
            Egress::Access => self.access.clone(),
        };
        let nexthop = self.hop_for(via, &dev)?;
        Some((
            TableLeg {
                tunnel: l.key.tunnel,
                session: l.key.session,
                local: *local.ip(),
                local_port: local.port(),
                peer: *peer.ip(),
                peer_port: peer.port(),
                peer_tunnel: l.peer_ids.0,
                peer_session: l.peer_ids.1,
                sequencing: l.sequencing,
                vlan: None,
                nexthop,
                egress,
                next_ns: l.ns,
            },
            via,
        ))
    }

    /// A session's data-plane counters, summed over workers (`None` if it
    /// is not in the table).
    pub fn session_counters(
        &self,
        key: SessionKey,
    ) -> Option<lns_dataplane::table::counters::SessionCounters> {
        self.sessions.get(&key).map(|w| self.writer.counters(w.id))
    }

    /// The next-hop index for neighbour `via`, taking a reference.
    fn hop_for(&mut self, via: IpAddr, dev: &str) -> Option<u32> {
        if let Some(h) = self.hops.get_mut(&via) {
            h.users += 1;
            return Some(h.index);
        }
        let index = self.free_hops.pop()?;
        self.hops.insert(
            via,
            Hop {
                index,
                users: 1,
                written: None,
                asked: false,
                dev: dev.to_string(),
            },
        );
        Some(index)
    }

    fn release_hop(&mut self, via: IpAddr) {
        if let Some(h) = self.hops.get_mut(&via) {
            h.users -= 1;
            if h.users == 0 {
                let index = h.index;
                self.hops.remove(&via);
                self.free_hops.push(index);
            }
        }
    }

    /// The next-hop record holding our IPv6 address `a`, taking a
    /// reference (written when first taken: nothing resolves it).
    fn take_source(&mut self, a: Ipv6Addr) -> Option<u32> {
        if let Some((i, users)) = self.sources.get_mut(&a) {
            *users += 1;
            return Some(*i);
        }
        let i = self.free_hops.pop()?;
        let nh = NextHop {
            dst_mac: [0; 6],
            src_mac: [0; 6],
            addr: Some(IpAddr::V6(a)),
        };
        if !self.writer_set(i, &nh) {
            self.free_hops.push(i);
            return None;
        }
        self.sources.insert(a, (i, 1));
        Some(i)
    }

    fn release_source(&mut self, a: Ipv6Addr) {
        if let Some((i, users)) = self.sources.get_mut(&a) {
            *users -= 1;
            if *users == 0 {
                let i = *i;
                self.sources.remove(&a);
                self.free_hops.push(i);
            }
        }
    }

    /// Makes the kernel resolve next hop `via` (a link-local IPv6 one is
    /// asked on its interface).
    fn prod_hop(&self, via: IpAddr) {
        let scope = match via {
            IpAddr::V6(a) if a.is_unicast_link_local() => self
                .hops
                .get(&via)
                .and_then(|h| kernel::ifindex(&h.dev))
                .unwrap_or(0),
            _ => 0,
        };
        kernel::prod(via, scope);
    }

    /// Re-reads every next hop in use from the kernel and writes the ones
    /// that changed (called every `dataplane.neighbour_refresh_secs`, and
    /// when a session is installed).
    pub fn refresh(&mut self) {
        self.refresh_with(&netlink::neighbours());
    }

    /// [`TableDataPlane::refresh`] from a neighbour table dumped elsewhere
    /// (lnsd dumps it off the engine task).
    pub fn refresh_with(&mut self, table: &[netlink::Neighbour]) {
        let st = self.writer.reader_status();
        if st.attaches != self.attaches
            && let Some(mode) = lns_dataplane::loader::AttachMode::from_code(st.mode)
        {
            self.attaches = st.attaches;
            tracing::info!(
                pid = st.pid,
                mode = mode.name(),
                attaches = st.attaches,
                "data plane running on the tables"
            );
        }
        // Routes are asked again after each refresh (a changed route
        // applies to sessions set up from then on); the known ones serve
        // until the answers come.
        self.core_ifindex = kernel::ifindex(&self.core);
        for (peer, r) in &self.routes {
            if matches!(r, Route::Known(_)) && !self.lookups.contains(peer) {
                self.lookups.push(*peer);
            }
        }
        let mut unresolved = self.resolve_core(table);
        let vias: Vec<IpAddr> = self.hops.keys().copied().collect();
        for via in vias {
            if !self.resolve_hop(table, via) {
                unresolved += 1;
                self.prod_hop(via);
            }
        }
        self.stats.unresolved = unresolved;
    }

    /// Writes the core gateways' next hops (IPv4, and IPv6 when routed)
    /// where they changed; how many the kernel has not resolved (each
    /// prodded to resolve).
    fn resolve_core(&mut self, table: &[netlink::Neighbour]) -> u64 {
        let ix = kernel::ifindex(&self.core).unwrap_or(0);
        let src = kernel::own_mac(&self.core);
        let gateways = [
            (CORE_V4, Some(IpAddr::V4(self.core_gateway))),
            (CORE_V6, self.core_gateway6.map(IpAddr::V6)),
        ];
        let mut unresolved = 0;
        for (i, (index, gw)) in gateways.into_iter().enumerate() {
            let Some(gw) = gw else { continue };
            let (Some(dst), Some(src)) = (netlink::find(table, gw, ix), src) else {
                unresolved += 1;
                kernel::prod(gw, ix);
                continue;
            };
            let nh = NextHop {
                dst_mac: dst,
                src_mac: src,
                addr: Some(gw),
            };
            if self.core_hops[i] != Some(nh) && self.writer_set(index, &nh) {
                tracing::info!(gateway = %gw, "core next hop resolved");
                self.core_hops[i] = Some(nh);
            }
        }
        unresolved
    }

    /// Routes subscriber IPv6 to `gw` on the core interface (none: it is
    /// dropped as `ipv6_unrouted`).
    pub fn set_core_gateway6(&mut self, gw: Option<Ipv6Addr>) {
        self.core_gateway6 = gw;
        self.refresh();
    }

    /// Writes LAC next hop `via` if it changed; false when unresolved.
    fn resolve_hop(&mut self, table: &[netlink::Neighbour], via: IpAddr) -> bool {
        let dev = self
            .hops
            .get(&via)
            .map_or(self.access.as_str(), |h| h.dev.as_str());
        let ix = kernel::ifindex(dev).unwrap_or(0);
        let (Some(dst), Some(src)) = (netlink::find(table, via, ix), kernel::own_mac(dev)) else {
            return false;
        };
        let nh = NextHop {
            dst_mac: dst,
            src_mac: src,
            addr: Some(via),
        };
        let Some(h) = self.hops.get(&via) else {
            return true;
        };
        if h.written != Some(nh) {
            let index = h.index;
            if self.writer_set(index, &nh)
                && let Some(h) = self.hops.get_mut(&via)
            {
                h.written = Some(nh);
            }
        }
        true
    }

    fn writer_set(&mut self, i: u32, nh: &NextHop) -> bool {
        match self.writer.set_nexthop(i, nh) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "next hop not written");
                false
            }
        }
    }

    /// Routes `e`'s delegated prefix (or none) to its slot.
    fn delegate(&mut self, e: &SessionEntry, id: SlotId) {
        let pd = e.ipv6_delegated.map(|p| (p.head(), p.len));
        if let Err(err) = self.writer.set_delegated(id, pd) {
            self.stats.refused += 1;
            tracing::error!(tunnel = e.key.tunnel, session = e.key.session, error = %err, "data plane refused the delegated prefix");
        }
    }

    /// The record of session `e`, its LAC's neighbour at next hop
    /// `lac_nexthop`; `None` for addresses of two families, or an IPv6
    /// one whose source record was not taken.
    fn session(&self, e: &SessionEntry, lac_nexthop: u32) -> Option<Session> {
        let source = match (e.local, e.peer) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => None,
            (SocketAddr::V6(l), SocketAddr::V6(_)) => Some(self.sources.get(l.ip())?.0),
            _ => return None,
        };
        let (local, peer) = (e.local, e.peer);
        let template = Template::new(&Outer {
            // The workers write the next hop's MACs over both.
            dst_mac: [0; 6],
            src_mac: [0; 6],
            vlan: None,
            src: local.ip(),
            src_port: local.port(),
            dst: peer.ip(),
            dst_port: peer.port(),
            tunnel: e.peer_tunnel,
            session: e.peer_session,
            sequencing: e.sequencing,
        });
        let template = match source {
            Some(i) => template.with_source_hop(u16::try_from(i).ok()?),
            None => template,
        };
        Some(Session {
            tunnel: e.key.tunnel,
            session: e.key.session,
            ipv4: e.ipv4,
            // The link's /64 (Router Advertisements): its IPv6 is
            // forwarded, from that prefix only.
            ipv6_prefix: e.ipv6_prefix,
            mru: e.mru,
            peer: peer.ip(),
            peer_port: peer.port(),
            lac_nexthop,
            template,
            switched: None,
            rates: lns_dataplane::table::Rates {
                up: e.rates.up.map(worker_rate),
                down: e.rates.down.map(worker_rate),
            },
        })
    }
}

/// The protocol's rate as the workers police it.
fn worker_rate(r: lns_protocol::aaa::rate::Rate) -> lns_dataplane::table::Rate {
    lns_dataplane::table::Rate {
        kbps: r.kbps,
        burst: r.burst,
    }
}

impl DataPlane for TableDataPlane {
    fn install_switched(&mut self, e: &SwitchedEntry) {
        let legs = match (self.table_leg(&e.a), self.table_leg(&e.b)) {
            (Some(a), Some(b)) => Some((a, b)),
            (Some((_, via)), None) | (None, Some((_, via))) => {
                self.release_hop(via);
                None
            }
            (None, None) => None,
        };
        let Some(((a, via_a), (b, via_b))) = legs else {
            self.stats.refused += 1;
            tracing::warn!(
                tunnel = e.a.key.tunnel,
                session = e.a.key.session,
                "switched call over IPv6 or without a next hop: not forwarded by the data plane (lnsd switches it)"
            );
            return;
        };
        let result = match self.switched.get(&e.a.key).copied() {
            // Sequencing changed: the same slots, new templates.
            Some(old) => {
                self.release_hop(old.vias[0]);
                self.release_hop(old.vias[1]);
                self.writer
                    .update_switched(old.ids, &a, &b)
                    .map(|()| old.ids)
            }
            None => self.writer.insert_switched(&a, &b),
        };
        match result {
            Ok(ids) => {
                let fresh = !self.switched.contains_key(&e.a.key);
                self.switched.insert(
                    e.a.key,
                    Switched {
                        ids,
                        b: e.b.key,
                        vias: [via_a, via_b],
                        entry: *e,
                    },
                );
                self.legs.insert(e.a.key, (ids.a, e.b.sequencing));
                self.legs.insert(e.b.key, (ids.b, e.a.sequencing));
                if fresh {
                    self.stats.installed += 1;
                }
                for (leg, via) in [(&e.a, via_a), (&e.b, via_b)] {
                    let peer = leg.peer.ip();
                    if self.routes.get(&peer) == Some(&Route::Asked) {
                        self.wait_for(peer, Waiter::Switched(e.a.key));
                    }
                    self.look_up_new_hop(via, peer);
                }
            }
            Err(err) => {
                self.release_hop(via_a);
                self.release_hop(via_b);
                self.switched.remove(&e.a.key);
                self.stats.refused += 1;
                tracing::error!(tunnel = e.a.key.tunnel, session = e.a.key.session, error = %err, "data plane refused the switched call");
            }
        }
    }

    fn remove_switched(&mut self, a: SessionKey, _b: SessionKey) -> Option<[LegUsage; 2]> {
        let s = self.switched.remove(&a)?;
        self.legs.remove(&a);
        self.legs.remove(&s.b);
        let end = self.writer.remove_switched(s.ids);
        for via in s.vias {
            self.release_hop(via);
        }
        self.stats.removed += 1;
        end.map(|e| {
            let leg = |c: lns_dataplane::table::counters::SessionCounters| LegUsage {
                packets: c.up_packets,
                octets: c.up_bytes,
            };
            [leg(e.from_a), leg(e.from_b)]
        })
    }

    fn take_ns(&mut self, key: SessionKey) -> Option<u16> {
        if let Some((id, seq)) = self.legs.get(&key) {
            return seq.then(|| self.writer.next_ns(*id)).flatten();
        }
        let w = self.sessions.get(&key)?;
        w.sequenced.then(|| self.writer.next_ns(w.id)).flatten()
    }

    fn install(&mut self, e: &SessionEntry) {
        let lac = e.peer.ip();
        if let Some(Written { id, via, .. }) = self.sessions.get(&e.key).copied() {
            let hop = self.hops.get(&via).map_or(0, |h| h.index);
            if let Some(s) = self.session(e, hop) {
                match self.writer.update(id, &s) {
                    Ok(()) => {
                        if let Some(x) = self.sessions.get_mut(&e.key) {
                            x.sequenced = s.template.sequencing();
                        }
                        self.delegate(e, id);
                    }
                    Err(err) => {
                        self.stats.refused += 1;
                        tracing::error!(tunnel = e.key.tunnel, session = e.key.session, error = %err, "data plane update refused");
                    }
                }
            }
            return;
        }
        let route = self.route(lac);
        let via = match route {
            Route::Known(r) => r.map_or(lac, |(v, _)| v),
            Route::Asked => lac,
        };
        let access = self.access.clone();
        let Some(hop) = self.hop_for(via, &access) else {
            self.stats.refused += 1;
            tracing::error!("next-hop table full");
            return;
        };
        // Over IPv6, our address goes in a record of its own first.
        let source = match e.local {
            SocketAddr::V6(local) => self.take_source(*local.ip()),
            SocketAddr::V4(_) => Some(0),
        };
        let Some(s) = source.and_then(|_| self.session(e, hop)) else {
            self.release_hop(via);
            if let (Some(_), SocketAddr::V6(local)) = (source, e.local) {
                self.release_source(*local.ip());
            }
            self.stats.refused += 1;
            tracing::warn!(
                tunnel = e.key.tunnel,
                session = e.key.session,
                local = %e.local,
                peer = %e.peer,
                "not written to the data plane: addresses of two families, or no next-hop record left"
            );
            return;
        };
        // lnsd numbered the session's PPP negotiation: the workers go on.
        match self.writer.insert_at_ns(&s, e.next_ns) {
            Ok(id) => {
                let sequenced = s.template.sequencing();
                self.sessions.insert(e.key, Written { id, via, sequenced });
                self.stats.installed += 1;
                self.delegate(e, id);
                if route == Route::Asked {
                    self.wait_for(lac, Waiter::Session(e.key));
                }
                // A LAC's first session: its next hop is looked up now
                // rather than at the next refresh. Later sessions share it.
                self.look_up_new_hop(via, lac);
            }
            Err(err) => {
                self.release_hop(via);
                if let SocketAddr::V6(local) = e.local {
                    self.release_source(*local.ip());
                }
                self.stats.refused += 1;
                tracing::error!(tunnel = e.key.tunnel, session = e.key.session, error = %err, "data plane refused the session");
            }
        }
    }

    fn remove(&mut self, key: SessionKey) -> Removed {
        let Some(Written { id, via, sequenced }) = self.sessions.remove(&key) else {
            return Removed::default();
        };
        // The record of our IPv6 address, named by the template.
        if !self.sources.is_empty()
            && let Some(t) = self.writer.session(id).map(|s| s.template)
            && t.is_v6()
            && let Some(a) = self
                .sources
                .iter()
                .find(|(_, (i, _))| *i == t.as_ref().source_hop())
                .map(|(a, _)| *a)
        {
            self.release_source(a);
        }
        let removed = self.writer.remove_taking_ns(id);
        self.release_hop(via);
        self.stats.removed += 1;
        let Some((c, ns)) = removed else {
            return Removed::default();
        };
        tracing::debug!(
            tunnel = key.tunnel,
            session = key.session,
            up_packets = c.up_packets,
            down_packets = c.down_packets,
            "session left the data plane"
        );
        Removed {
            next_ns: sequenced.then_some(ns),
            usage: usage(&c),
        }
    }

    fn counters(&mut self, key: SessionKey) -> SessionUsage {
        self.session_counters(key)
            .map_or_else(SessionUsage::default, |c| usage(&c))
    }
}

/// A session's counters as accounting reads them (inner IP packets and
/// octets each way).
fn usage(c: &lns_dataplane::table::counters::SessionCounters) -> SessionUsage {
    SessionUsage {
        up_packets: c.up_packets,
        up_octets: c.up_bytes,
        down_packets: c.down_packets,
        down_octets: c.down_bytes,
    }
}

/// The data plane lnsd runs with: none, or the tables.
#[derive(Debug)]
pub enum Plane {
    /// `dataplane.mode = "off"`.
    Null(NoDataPlane),
    /// The shared-memory tables.
    Table(Box<TableDataPlane>),
}

impl DataPlane for Plane {
    fn install_switched(&mut self, e: &SwitchedEntry) {
        match self {
            Plane::Null(n) => n.install_switched(e),
            Plane::Table(t) => t.install_switched(e),
        }
    }
    fn remove_switched(&mut self, a: SessionKey, b: SessionKey) -> Option<[LegUsage; 2]> {
        match self {
            Plane::Null(n) => n.remove_switched(a, b),
            Plane::Table(t) => t.remove_switched(a, b),
        }
    }
    fn install(&mut self, e: &SessionEntry) {
        match self {
            Plane::Null(n) => n.install(e),
            Plane::Table(t) => t.install(e),
        }
    }
    fn remove(&mut self, key: SessionKey) -> Removed {
        match self {
            Plane::Null(n) => n.remove(key),
            Plane::Table(t) => t.remove(key),
        }
    }
    fn counters(&mut self, key: SessionKey) -> SessionUsage {
        match self {
            Plane::Null(n) => n.counters(key),
            Plane::Table(t) => t.counters(key),
        }
    }
    fn take_ns(&mut self, key: SessionKey) -> Option<u16> {
        match self {
            Plane::Null(n) => n.take_ns(key),
            Plane::Table(t) => t.take_ns(key),
        }
    }
}

/// When to restart a data plane that died. One that cannot start at all
/// (an XDP mode its driver lacks, an interface that is gone) would
/// otherwise be restarted, and log its failure, a few times a second for
/// ever: each quick death doubles the pause, up to `max`; a run of at
/// least `stable` was a healthy one, and the next death pauses `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The pause after a healthy run.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
    /// A run at least this long resets the pause to `first`.
    pub stable: Duration,
    next: Duration,
}

impl Backoff {
    /// Longest pause between restarts.
    pub const MAX: Duration = Duration::from_secs(60);
    /// A run this long counts as healthy.
    pub const STABLE: Duration = Duration::from_secs(30);

    /// Starts at `first`.
    pub fn new(first: Duration, max: Duration, stable: Duration) -> Backoff {
        Backoff {
            first,
            max,
            stable,
            next: first,
        }
    }

    /// The pause before the next start, after a process that ran `ran`
    /// (zero when it could not be started).
    pub fn after_exit(&mut self, ran: Duration) -> Duration {
        if ran >= self.stable {
            self.next = self.first;
        }
        let pause = self.next.min(self.max);
        self.next = self.next.saturating_mul(2).min(self.max);
        pause
    }
}

/// "0.5s", "60s": how lnsd says how long it waits.
fn secs(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Copies the data plane's stderr lines to lnsd's, as they come (the
/// journal sees one stream, as when it inherited lnsd's stderr); returns
/// the last non-empty one, which says why a data plane that died did.
async fn relay_stderr(stderr: tokio::process::ChildStderr) -> Option<String> {
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    let mut last = None;
    // Bytes, not text: a line that is not UTF-8 must not stop the relay,
    // or the pipe would fill and the data plane block on its next log line.
    while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
        if !line.ends_with(b"\n") {
            // Its last words, unterminated: lnsd's next line starts afresh.
            line.push(b'\n');
        }
        // Nobody to tell if lnsd's own stderr is gone.
        let _ = std::io::stderr().lock().write_all(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if !text.trim().is_empty() {
            last = Some(text);
        }
        line.clear();
    }
    last
}

/// Runs `binary args` until `stop` turns true, restarting it whenever it
/// exits after the pause `backoff` gives, and saying why it exited (its
/// status and, when it exited by itself, the last line it wrote to
/// stderr); on stop, SIGTERM and a bounded wait. The process's stderr is
/// relayed to lnsd's.
pub async fn supervise(
    binary: std::path::PathBuf,
    mut args: tokio::sync::watch::Receiver<Vec<String>>,
    mut backoff: Backoff,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut starts = 0u64;
    loop {
        starts += 1;
        let line = args.borrow_and_update().clone();
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(&line)
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let started = tokio::time::Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let pause = backoff.after_exit(Duration::ZERO);
                tracing::error!(binary = %binary.display(), error = %e, "cannot start the data plane; retrying in {}", secs(pause));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        let relay = child.stderr.take().map(|e| tokio::spawn(relay_stderr(e)));
        tracing::info!(pid = child.id().unwrap_or(0), starts, "data plane started");
        tokio::select! {
            status = child.wait() => {
                let pause = backoff.after_exit(started.elapsed());
                // Its last words say why when it ended by itself; killed by
                // a signal, they are just whatever it said last. The pipe
                // ends as it exits, so this is quick; a bound in case
                // something else still holds it.
                let last = match (relay, status.as_ref().ok().and_then(|s| s.code())) {
                    (Some(r), Some(_)) => tokio::time::timeout(Duration::from_secs(1), r)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten(),
                    _ => None,
                };
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let why = last.map(|l| format!(": {l}")).unwrap_or_default();
                tracing::warn!("data plane exited: {status}{why}; restarting in {}", secs(pause));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
            // A reload changed its command line (the pools it steers): a
            // new one takes over the same table.
            Ok(()) = args.changed() => {
                tracing::info!("data plane restarting with the reloaded configuration");
                terminate(&mut child).await;
            }
            _ = stop.changed() => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

/// SIGTERM, then SIGKILL after 5 s.
async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(_) => tracing::info!("data plane stopped"),
        Err(_) => {
            tracing::warn!("data plane did not stop in 5 s; killing it");
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Backoff, Resolved, TableDataPlane, kernel, secs};
    use lns_dataplane::table::Sizes;
    use lns_protocol::l2tp::SessionKey;
    use lns_protocol::lns::{DataPlane, SessionEntry};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn entry(session: u16, lac: impl Into<IpAddr>) -> SessionEntry {
        let lac = lac.into();
        SessionEntry {
            key: SessionKey { tunnel: 1, session },
            peer_tunnel: 9,
            peer_session: 100 + session,
            local: match lac {
                IpAddr::V4(_) => "127.0.0.1:1701".parse().unwrap(),
                IpAddr::V6(_) => "[2001:db8::1]:1701".parse().unwrap(),
            },
            peer: (lac, 1701).into(),
            ipv4: Some(Ipv4Addr::new(100, 64, 0, session as u8)),
            ipv6_id: None,
            ipv6_prefix: None,
            ipv6_delegated: None,
            mru: 1500,
            sequencing: false,
            next_ns: 0,
            rates: Default::default(),
        }
    }

    /// The engine task never waits for netlink: a LAC whose route is not
    /// known yet is written as if on the link and its route asked; the
    /// answer moves the session to the gateway it names, and the LAC's
    /// next sessions use that route at once.
    #[test]
    fn a_lac_is_written_on_the_link_until_its_route_comes_back() {
        let path = std::env::temp_dir().join(format!("xlns-route-test-{}", std::process::id()));
        let sizes = Sizes {
            capacity: 64,
            workers: 1,
        };
        let gw = Ipv4Addr::new(127, 0, 0, 1);
        let mut t = TableDataPlane::create(&path, sizes, "lo", "lo", gw).unwrap();
        let (lac, router): (IpAddr, IpAddr) = (
            Ipv4Addr::new(127, 0, 0, 7).into(),
            Ipv4Addr::new(127, 0, 0, 9).into(),
        );
        let first = entry(1, lac);
        t.install(&first);
        assert_eq!(t.take_lookups(), vec![lac]);
        assert!(t.take_lookups().is_empty(), "asked once");
        let w = t.sessions[&first.key];
        let s = t.writer.session(w.id).unwrap();
        assert_eq!(w.via, lac);
        assert_eq!(s.lac_nexthop, t.hops[&lac].index);

        t.routes_resolved(&Resolved {
            routes: vec![(lac, Some((router, 1)))],
            neighbours: vec![],
        });
        let w = t.sessions[&first.key];
        let s = t.writer.session(w.id).unwrap();
        assert_eq!(w.via, router);
        assert_eq!(s.lac_nexthop, t.hops[&router].index);
        assert!(!t.hops.contains_key(&lac), "the on-link guess is released");
        // What the workers read.
        let found = t.writer.reader().by_ids(1, 1).unwrap();
        assert_eq!(found.lac_nexthop(), s.lac_nexthop);

        let second = entry(2, lac);
        t.install(&second);
        assert!(t.take_lookups().is_empty(), "the route is known");
        assert_eq!(t.sessions[&second.key].via, router);
        assert_eq!(t.hops[&router].users, 2);
        t.remove(first.key);
        t.remove(second.key);
        assert!(t.hops.is_empty());
        drop(t);
        let _ = std::fs::remove_file(&path);
    }

    /// A LAC reached over IPv6: its sessions are written with an IPv6
    /// template naming the next-hop record that holds our address, one
    /// record for every session from that address, freed with the last.
    #[test]
    fn a_lac_over_ipv6_is_written_with_our_address_in_a_record() {
        let path = std::env::temp_dir().join(format!("xlns-route6-test-{}", std::process::id()));
        let sizes = Sizes {
            capacity: 64,
            workers: 1,
        };
        let gw = Ipv4Addr::new(127, 0, 0, 1);
        let mut t = TableDataPlane::create(&path, sizes, "lo", "lo", gw).unwrap();
        let lac: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let ours: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let (a, b) = (entry(1, lac), entry(2, lac));
        t.install(&a);
        t.install(&b);
        assert_eq!(t.stats.refused, 0);
        assert_eq!(t.take_lookups(), vec![IpAddr::V6(lac)]);
        let r = t.writer.reader();
        let found = r.by_ids(1, 1).unwrap();
        assert_eq!(found.peer(), IpAddr::V6(lac));
        let tpl = found.template().unwrap();
        assert!(tpl.is_v6());
        assert_eq!(r.source6(tpl.source_hop()), Some(ours.octets()));
        assert_eq!(t.sources[&ours].1, 2, "one record for both");
        t.remove(a.key);
        assert_eq!(r.source6(tpl.source_hop()), Some(ours.octets()));
        t.remove(b.key);
        assert!(t.sources.is_empty() && t.hops.is_empty());
        drop(r);
        drop(t);
        let _ = std::fs::remove_file(&path);
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn quick_deaths_double_the_pause_up_to_the_cap() {
        let mut b = Backoff::new(500 * MS, Backoff::MAX, Backoff::STABLE);
        let pauses: Vec<u64> = (0..10)
            .map(|_| b.after_exit(700 * MS).as_millis() as u64)
            .collect();
        assert_eq!(
            pauses,
            [
                500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000
            ]
        );
        // Could not even be started: counts as a quick death.
        assert_eq!(b.after_exit(Duration::ZERO), 60 * 1000 * MS);
    }

    #[test]
    fn a_healthy_run_starts_the_pauses_over() {
        let mut b = Backoff::new(500 * MS, Backoff::MAX, Backoff::STABLE);
        for _ in 0..5 {
            b.after_exit(Duration::ZERO);
        }
        assert_eq!(b.after_exit(Backoff::STABLE), 500 * MS);
        assert_eq!(b.after_exit(29 * 1000 * MS), 1000 * MS);
        // A first pause above the cap is held to it.
        let mut b = Backoff::new(90 * 1000 * MS, Backoff::MAX, Backoff::STABLE);
        assert_eq!(b.after_exit(Duration::ZERO), Backoff::MAX);
    }

    #[test]
    fn pauses_read_in_seconds() {
        assert_eq!(secs(500 * MS), "0.5s");
        assert_eq!(secs(60 * 1000 * MS), "60s");
        assert_eq!(secs(50 * MS), "0.05s");
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            kernel::mac("02:00:0a:0b:0c:0d\n"),
            Some([2, 0, 10, 11, 12, 13])
        );
        assert_eq!(kernel::mac("00:00:00:00:00:00"), None, "incomplete");
        assert_eq!(kernel::mac("02:00"), None);
    }
}
