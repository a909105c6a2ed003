//! `lns-bench traffic`: line-rate test traffic through an LNS, both ways,
//! over AF_XDP sockets (DESIGN §3, `bench/`).
//!
//! Two sides, each one thread with one AF_XDP socket on one interface
//! (optionally in another network namespace, for labs):
//!
//! - **access** (the LAC's interface): sends every session's probes to the
//!   LNS in L2TP data messages, with the LNS's tunnel and session ids and
//!   the framing the LAC negotiated; receives what the LNS encapsulates
//!   back to the LAC.
//! - **core** (an interface on the core network): sends plain IP probes
//!   from the core host to every subscriber address, through the LNS's
//!   core-side MAC; receives the subscribers' upstream probes.
//!
//! Each side loads the xlns XDP program on its own interface as a
//! classifier, so only probes reach the sockets and everything else (the
//! LAC's control channel, LCP echoes, ARP) stays with the kernel: on the
//! access side it steers L2TP data carrying IP to our own address and
//! port, on the core side packets to the core host (and to any extra
//! steered address). The kernel's UDP socket keeps running the sessions'
//! control traffic meanwhile ([`crate::sessions::Held::pump`]).
//!
//! Guarantees: every probe sent is counted per session and direction and
//! every probe received is classified: unique, duplicate, reordered, or
//! misdelivered (wrong session or address); loss is sent minus unique
//! received after a drain period. A rate the generator cannot keep is
//! reported as missed next to what it reached, never silently.

use crate::probe::{self, FlowRx, Mix, Outer};
use hdrhistogram::Histogram;
use lns_dataplane::loader::abi::Config;
use lns_dataplane::loader::{AttachMode, Side, Steering};
use lns_dataplane::xsk::{self, Sockets, XskConfig};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xdpilone::xdp::XdpDesc;

/// Packets per second, per direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// A target rate.
    Pps(f64),
    /// As fast as the TX ring takes frames.
    Max,
}

impl Rate {
    /// `max`, or a rate with an optional k/M suffix.
    pub fn parse(s: &str) -> Option<Rate> {
        if s == "max" {
            return Some(Rate::Max);
        }
        let (num, mul) = match s.as_bytes().last()? {
            b'k' | b'K' => (&s[..s.len() - 1], 1e3),
            b'M' => (&s[..s.len() - 1], 1e6),
            _ => (s, 1.0),
        };
        let v: f64 = num.parse().ok()?;
        (v > 0.0 && v.is_finite()).then_some(Rate::Pps(v * mul))
    }
}

/// Which ways traffic flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions {
    /// Subscribers to the core.
    Up,
    /// The core to subscribers.
    Down,
    /// Both at once.
    Both,
}

impl Directions {
    fn up(self) -> bool {
        self != Directions::Down
    }
    fn down(self) -> bool {
        self != Directions::Up
    }
}

/// One interface we send and receive on.
#[derive(Debug, Clone)]
pub struct Port {
    /// Interface name.
    pub dev: String,
    /// Network namespace it lives in (`ip netns` name); `None`: ours.
    pub netns: Option<String>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The LAC's interface toward the LNS.
    pub access: Port,
    /// The core-side interface.
    pub core: Port,
    /// The core host's address: upstream probes go to it, downstream come
    /// from it; the core side receives packets sent to it.
    pub core_host: Ipv4Addr,
    /// Its IPv6 address, for the flows to subscribers' IPv6 addresses.
    pub core_host6: Option<Ipv6Addr>,
    /// The LNS's address on the core network (its MAC is the downstream
    /// next hop).
    pub core_gateway: Ipv4Addr,
    /// Next-hop MAC toward the LNS on the access side (default: ARP).
    pub access_mac: Option<[u8; 6]>,
    /// Next-hop MAC on the core side (default: ARP for `core_gateway`).
    pub core_mac: Option<[u8; 6]>,
    /// Rate per direction.
    pub rate: Rate,
    /// Packet sizes.
    pub mix: Mix,
    /// How long to send.
    pub duration: Duration,
    /// Which ways.
    pub directions: Directions,
    /// The lowest XDP attach mode accepted on our interfaces.
    pub lowest: AttachMode,
    /// More addresses the core side receives (the bare-forwarder
    /// reference sends probes on still encapsulated, to the LNS address).
    pub core_extra: Vec<Ipv4Addr>,
    /// Print a progress bar (on a terminal).
    pub progress: bool,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyUs {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Maximum.
    pub max: f64,
    /// Probes measured.
    pub samples: u64,
}

/// One direction's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Direction {
    /// Probes sent.
    pub sent: u64,
    /// Distinct probes received.
    pub received: u64,
    /// Sent and never received.
    pub lost: u64,
    /// Received more than once.
    pub duplicates: u64,
    /// Received after a later probe of the same session.
    pub reordered: u64,
    /// Received for the wrong session or address.
    pub misdelivered: u64,
    /// Sessions that lost at least one probe.
    pub sessions_with_loss: u64,
    /// The target rate, packets/s (absent: as fast as possible).
    pub target_pps: Option<f64>,
    /// Probes sent per second.
    pub tx_mpps: f64,
    /// Probes received per second.
    pub rx_mpps: f64,
    /// Received Ethernet frames' bits per second (no preamble or FCS).
    pub rx_gbps: f64,
    /// Whether the generator fell short of the target rate.
    pub rate_missed: bool,
    /// One-way latency.
    pub latency_us: LatencyUs,
    /// The first sessions that lost probes (up to 20), for a look at the
    /// LNS's per-session counters.
    pub lossy_sessions: Vec<LossySession>,
}

/// A session that lost probes in one direction.
#[derive(Debug, Clone, Serialize)]
pub struct LossySession {
    /// The subscriber's address.
    pub address: IpAddr,
    /// Probes sent.
    pub sent: u64,
    /// Distinct probes received.
    pub received: u64,
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Flows carrying traffic: one per subscriber address probed (a
    /// session has one; with `--ipv6`, its address and one in its
    /// delegated prefix).
    pub sessions: u64,
    /// Seconds of sending.
    pub seconds: f64,
    /// Packet sizes, IP bytes.
    pub sizes: Vec<usize>,
    /// Subscribers to the core.
    pub up: Option<Direction>,
    /// The core to subscribers.
    pub down: Option<Direction>,
    /// How XDP attached on the access and core interfaces.
    pub attach: (String, String),
    /// Frames on our sockets that were not probes.
    pub foreign: u64,
}

/// One session's address as the generator sends to and from it (a
/// session may have several: its IPv4 address, its IPv6 one, one in its
/// delegated prefix).
#[derive(Debug, Clone)]
pub struct Flow {
    /// The subscriber's address (or a host's behind it).
    pub addr: IpAddr,
    /// The L2TP data header and PPP framing for it (PPP's protocol is
    /// the address's family's).
    pub l2tp: Vec<u8>,
    /// The LNS's MRU for it: no upstream probe is bigger.
    pub mru: u16,
}

/// Where the LAC's UDP traffic goes: our and the LNS's address and port
/// (both IPv4, or both IPv6).
#[derive(Debug, Clone, Copy)]
pub struct Tunnel {
    /// The LAC.
    pub local: std::net::SocketAddr,
    /// The LNS.
    pub peer: std::net::SocketAddr,
}

/// Live counts for the progress bar.
#[derive(Debug, Default)]
struct Live {
    sent: AtomicU64,
    received: AtomicU64,
}

#[derive(Debug)]
struct SideResult {
    sent: Vec<u64>,
    rx: Vec<FlowRx>,
    rx_bytes: u64,
    misdelivered: u64,
    foreign: u64,
    hist: Histogram<u64>,
    mode: AttachMode,
}

/// What one side sends.
#[derive(Debug, Clone)]
enum Gen {
    /// L2TP toward the LNS.
    Up {
        outer: Outer,
        flows: Arc<Vec<Flow>>,
        host: Hosts,
    },
    /// Plain IP toward the LNS's core side.
    Down {
        macs: ([u8; 6], [u8; 6]),
        flows: Arc<Vec<Flow>>,
        host: Hosts,
    },
}

impl Gen {
    /// The next hop's MAC and ours, once resolved.
    fn set_macs(&mut self, (hop, me): Macs) {
        match self {
            Gen::Up { outer, .. } => {
                outer.dst_mac = hop;
                outer.src_mac = me;
            }
            Gen::Down { macs, .. } => *macs = (hop, me),
        }
    }

    fn write(&self, out: &mut [u8], flow: usize, size: usize, seq: u64, ts: u64) -> usize {
        match self {
            Gen::Up { outer, flows, host } => {
                let f = &flows[flow];
                probe::write_upstream(
                    out,
                    outer,
                    &f.l2tp,
                    size,
                    (f.addr, host.of(f.addr)),
                    (flow as u32, seq, ts),
                )
            }
            Gen::Down { macs, flows, host } => probe::write_downstream(
                out,
                *macs,
                size,
                (host.of(flows[flow].addr), flows[flow].addr),
                (flow as u32, seq, ts),
            ),
        }
    }
}

/// What one side expects to receive.
#[derive(Debug, Clone)]
struct Expect {
    flows: Arc<Vec<Flow>>,
    host: Hosts,
    /// Probes arrive at the core (to the host) or at the LAC.
    at_core: bool,
    l2tp_port: u16,
}

impl Expect {
    fn matches(&self, p: &probe::Probe) -> Option<usize> {
        let f = self.flows.get(p.flow as usize)?;
        let host = self.host.of(f.addr);
        let ok = if self.at_core {
            p.src == f.addr && p.dst == host
        } else {
            p.src == host && p.dst == f.addr
        };
        ok.then_some(p.flow as usize)
    }
}

/// The core host's addresses: the one of a flow's family talks to it.
#[derive(Debug, Clone, Copy)]
struct Hosts {
    v4: Ipv4Addr,
    v6: Option<Ipv6Addr>,
}

impl Hosts {
    fn of(&self, flow: IpAddr) -> IpAddr {
        match (flow, self.v6) {
            (IpAddr::V6(_), Some(h)) => h.into(),
            _ => self.v4.into(),
        }
    }
}

/// Enters network namespace `name` on this thread (sockets created
/// afterwards belong to it).
pub fn enter_netns(name: &str) -> Result<(), String> {
    let f = std::fs::File::open(format!("/run/netns/{name}"))
        .map_err(|e| format!("network namespace {name}: {e}"))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering network namespace {name}: {e}"))
}

/// An interface's MAC, in this thread's namespace.
fn own_mac(dev: &str) -> Result<[u8; 6], String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("listing interfaces: {e}"))?;
    for a in addrs {
        if a.interface_name == dev
            && let Some(mac) = a
                .address
                .as_ref()
                .and_then(|s| s.as_link_addr())
                .and_then(|l| l.addr())
        {
            return Ok(mac);
        }
    }
    Err(format!("interface {dev}: not found (or it has no MAC)"))
}

/// The neighbour table's MAC for `ip` on interface `ix` (`dev`), in this
/// thread's namespace, read over rtnetlink as lnsd does; asks the kernel to
/// resolve it first and waits up to 2 s.
fn neighbour_mac(ip: IpAddr, dev: &str, ix: u32) -> Result<[u8; 6], String> {
    use lns_daemon::{dataplane::kernel, netlink};
    let lookup = || netlink::find(&netlink::neighbours(), ip, ix);
    if let Some(m) = lookup() {
        return Ok(m);
    }
    kernel::prod(ip, ix);
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(m) = lookup() {
            return Ok(m);
        }
    }
    Err(format!(
        "{ip} does not answer ARP or Neighbor Discovery on {dev}: is it the right next hop? (or give its MAC)"
    ))
}

/// (next hop, ours).
type Macs = ([u8; 6], [u8; 6]);

struct SidePlan {
    port: Port,
    /// Steering config for the classifier on this interface.
    access_side: bool,
    /// Our L2TP address and port (access side).
    lac: Option<(IpAddr, u16)>,
    /// Addresses received on the core side.
    steer: Vec<IpAddr>,
    lowest: AttachMode,
    /// The generator (its MACs are filled in on the thread).
    generator: Gen,
    /// The next hop's address, or its MAC.
    next_hop: Result<[u8; 6], IpAddr>,
    send: bool,
    expect: Expect,
    rate: Rate,
    mix: Mix,
    live: Arc<Live>,
}

/// Runs one side: set-up on this thread (namespace, XDP, socket), then
/// `ready`, then traffic from the start time it is given.
fn side(
    plan: SidePlan,
    ready: mpsc::Sender<Result<(), String>>,
    go: mpsc::Receiver<Option<(Instant, Instant, Instant)>>,
    epoch: Instant,
) -> Result<SideResult, String> {
    let what = if plan.access_side { "access" } else { "core" };
    let set_up = || -> Result<_, String> {
        if let Some(ns) = &plan.port.netns {
            enter_netns(ns)?;
        }
        let dev = &plan.port.dev;
        let ix = xsk::ifindex(dev).map_err(|e| format!("{what} interface {dev}: {e}"))?;
        let mut steer = Steering::load().map_err(|e| {
            format!("loading the XDP classifier: {e} (lns-bench needs root and a kernel with XDP and AF_XDP)")
        })?;
        let port = plan.lac.map_or(0, |l| l.1);
        steer
            .configure(&Config {
                access_ifindex: if plan.access_side { ix } else { 0 },
                core_ifindex: if plan.access_side { 0 } else { ix },
                lns_ipv4: plan.lac.and_then(|l| match l.0 {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                }),
                lns_ipv6: plan.lac.and_then(|l| match l.0 {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                }),
                lns_port: port,
                switched: false,
            })
            .map_err(|e| e.to_string())?;
        // Each steered address as a host route of its family.
        let mut pools: Vec<(Ipv4Addr, u8)> = Vec::new();
        let mut pools6: Vec<(Ipv6Addr, u8)> = Vec::new();
        for a in &plan.steer {
            match *a {
                IpAddr::V4(a) => pools.push((a, 32)),
                IpAddr::V6(a) => pools6.push((a, 128)),
            }
        }
        steer
            .set_pools(&pools, &pools6)
            .map_err(|e| e.to_string())?;
        let mode = steer.attach(ix, plan.lowest).map_err(|e| {
            if plan.lowest == AttachMode::Generic {
                format!("{what} interface {dev}: XDP cannot attach: {e}")
            } else {
                format!(
                    "{what} interface {dev}: no native XDP support ({e}); \
                     --xdp generic accepts the kernel's slower generic mode"
                )
            }
        })?;
        // After the attach, so an interface without XDP is said first.
        let mac = own_mac(dev)?;
        let hop = match plan.next_hop {
            Ok(m) => m,
            Err(ip) => neighbour_mac(ip, dev, ix)?,
        };
        let xc = XskConfig {
            try_zero_copy: mode == AttachMode::NativeZeroCopy,
            ..XskConfig::default()
        };
        // A socket on every receive queue (on one UMEM): the LNS's
        // workers each send on their own queue, which arrives on the same
        // queue here. Probes leave on queue 0.
        let queues = xsk::rx_queues(dev)
            .unwrap_or(1)
            .min(lns_dataplane::loader::abi::MAX_QUEUES);
        let mut all = Sockets::open_shared(ix, ix, queues, &xc)
            .map_err(|e| format!("{what} interface {dev}: AF_XDP socket: {e}"))?;
        let s = all.remove(0);
        let mode = if mode == AttachMode::NativeZeroCopy && !s.zero_copy {
            AttachMode::NativeCopy
        } else {
            mode
        };
        let side = if plan.access_side {
            Side::Access
        } else {
            Side::Core
        };
        for (q, o) in std::iter::once(&s).chain(&all).enumerate() {
            steer
                .register_socket(side, q as u32, &o.access.raw_fd())
                .map_err(|e| e.to_string())?;
        }
        Ok((steer, s, all, (hop, mac), mode))
    };
    let (steer, mut s, mut others, macs, mode) = match set_up() {
        Ok(x) => {
            let _ = ready.send(Ok(()));
            x
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    let mut generator = plan.generator.clone();
    generator.set_macs(macs);
    let flows = plan.expect.flows.len();
    let mut r = SideResult {
        sent: vec![0; flows],
        rx: vec![FlowRx::default(); flows],
        rx_bytes: 0,
        misdelivered: 0,
        foreign: 0,
        hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?,
        mode,
    };
    let Ok(Some((t0, t_end, drain_end))) = go.recv() else {
        return Ok(r);
    };
    let mut txd = [XdpDesc::default(); xsk::BATCH];
    let mut txf = [0usize; xsk::BATCH];
    let mut rxd = [XdpDesc::default(); xsk::BATCH];
    let mut total = 0u64;
    let fds: Vec<i32> = std::iter::once(&s)
        .chain(&others)
        .map(|q| q.access.raw_fd())
        .collect();
    while Instant::now() < t0 {
        std::thread::sleep(Duration::from_micros(100));
    }
    loop {
        let now = Instant::now();
        if now >= drain_end || crate::interrupted() {
            break;
        }
        let sending = plan.send && now < t_end && flows > 0;
        let mut due = 0u64;
        if sending {
            s.access.reap(&mut s.umem);
            due = match plan.rate {
                Rate::Max => xsk::BATCH as u64,
                Rate::Pps(pps) => (((now - t0).as_secs_f64() * pps) as u64).saturating_sub(total),
            }
            .min(xsk::BATCH as u64);
            let ts = epoch.elapsed().as_nanos() as u64;
            let mut n = 0;
            while (n as u64) < due {
                let Some(a) = s.umem.take() else { break };
                let Some((chunk, off)) = s.umem.chunk(a) else {
                    break;
                };
                let i = total + n as u64;
                let flow = (i % flows as u64) as usize;
                let len =
                    generator.write(&mut chunk[off..], flow, plan.mix.size(i), r.sent[flow], ts);
                r.sent[flow] += 1;
                txf[n] = flow;
                txd[n] = XdpDesc {
                    addr: a,
                    len: len as u32,
                    options: 0,
                };
                n += 1;
            }
            let took = s.access.send(&txd[..n]);
            // The ring took the first `took`: the rest were never sent, so
            // their sequence numbers are given back, newest first.
            for j in (took..n).rev() {
                r.sent[txf[j]] -= 1;
                s.umem.release(txd[j].addr);
            }
            total += took as u64;
            plan.live.sent.fetch_add(took as u64, Ordering::Relaxed);
        }
        let mut got = 0;
        for q in std::iter::once(&mut s).chain(others.iter_mut()) {
            let n = q.access.recv(&mut rxd);
            let now_ns = epoch.elapsed().as_nanos() as u64;
            for d in &rxd[..n] {
                if let Some((chunk, off)) = q.umem.chunk(d.addr) {
                    let frame = &chunk[off..(off + d.len as usize).min(chunk.len())];
                    match probe::parse(frame, plan.expect.l2tp_port) {
                        Some(p) => match plan.expect.matches(&p) {
                            Some(f) => {
                                r.rx[f].record(p.seq);
                                r.rx_bytes += frame.len() as u64;
                                let _ = r.hist.record(now_ns.saturating_sub(p.sent_ns).max(1));
                            }
                            None => r.misdelivered += 1,
                        },
                        None => r.foreign += 1,
                    }
                }
                q.umem.release(d.addr);
            }
            if n > 0 {
                q.access.refill(&mut q.umem);
            }
            got += n;
        }
        if got > 0 {
            plan.live.received.fetch_add(got as u64, Ordering::Relaxed);
        }
        if got == 0 && (!sending || (plan.rate != Rate::Max && due == 0)) {
            // Idle: sleep until something arrives or the next probe is due.
            xsk::wait(&fds, 1);
        }
    }
    drop(steer);
    Ok(r)
}

fn direction(
    tx: &SideResult,
    rx: &SideResult,
    flows: &[Flow],
    secs: f64,
    target: Rate,
) -> Direction {
    let mut d = Direction {
        target_pps: match target {
            Rate::Pps(p) => Some(p),
            Rate::Max => None,
        },
        ..Default::default()
    };
    for ((s, f), flow) in tx.sent.iter().zip(&rx.rx).zip(flows) {
        d.sent += s;
        d.received += f.unique;
        d.duplicates += f.dup;
        d.reordered += f.reordered;
        let lost = s.saturating_sub(f.unique);
        d.lost += lost;
        d.sessions_with_loss += u64::from(lost > 0);
        if lost > 0 && d.lossy_sessions.len() < 20 {
            d.lossy_sessions.push(LossySession {
                address: flow.addr,
                sent: *s,
                received: f.unique,
            });
        }
    }
    d.misdelivered = rx.misdelivered;
    d.tx_mpps = d.sent as f64 / secs / 1e6;
    d.rx_mpps = d.received as f64 / secs / 1e6;
    d.rx_gbps = rx.rx_bytes as f64 * 8.0 / secs / 1e9;
    if let Rate::Pps(p) = target {
        d.rate_missed = (d.sent as f64) < p * secs * 0.98;
    }
    let h = &rx.hist;
    if !h.is_empty() {
        let us = |v: u64| v as f64 / 1000.0;
        d.latency_us = LatencyUs {
            p50: us(h.value_at_quantile(0.5)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            samples: h.len(),
        };
    }
    d
}

/// Runs traffic for the sessions in `flows` (index = flow id); `keep_alive`
/// is called about every 100 ms meanwhile (the LAC's control loop).
pub fn run(
    o: &Opts,
    tunnel: Tunnel,
    flows: Vec<Flow>,
    mut keep_alive: impl FnMut(Instant),
) -> Result<Report, String> {
    if let Some(f) = flows.iter().find(|f| usize::from(f.mru) < o.mix.max()) {
        return Err(format!(
            "--size: {}-byte packets are bigger than the LNS's MRU for {} ({}): choose smaller sizes",
            o.mix.max(),
            f.addr,
            f.mru
        ));
    }
    let flows = Arc::new(flows);
    let lns_port = tunnel.peer.port();
    let live = [Arc::new(Live::default()), Arc::new(Live::default())];
    let up_outer = Outer {
        dst_mac: [0; 6],
        src_mac: [0; 6],
        src: tunnel.local.ip(),
        dst: tunnel.peer.ip(),
        sport: tunnel.local.port(),
        dport: lns_port,
    };
    if o.core_host6.is_none() && flows.iter().any(|f| f.addr.is_ipv6()) {
        return Err("IPv6 flows need the core host's IPv6 address (--core-host6)".into());
    }
    let host = Hosts {
        v4: o.core_host,
        v6: o.core_host6,
    };
    let access = SidePlan {
        port: o.access.clone(),
        access_side: true,
        lac: Some((tunnel.local.ip(), tunnel.local.port())),
        steer: Vec::new(),
        lowest: o.lowest,
        generator: Gen::Up {
            outer: up_outer,
            flows: flows.clone(),
            host,
        },
        next_hop: o.access_mac.ok_or(tunnel.peer.ip()),
        send: o.directions.up(),
        expect: Expect {
            flows: flows.clone(),
            host,
            at_core: false,
            l2tp_port: tunnel.local.port(),
        },
        rate: o.rate,
        mix: o.mix.clone(),
        live: live[0].clone(),
    };
    let mut steer: Vec<IpAddr> = vec![o.core_host.into()];
    steer.extend(o.core_host6.map(IpAddr::V6));
    steer.extend(o.core_extra.iter().map(|a| IpAddr::V4(*a)));
    let core = SidePlan {
        port: o.core.clone(),
        access_side: false,
        lac: None,
        steer,
        lowest: o.lowest,
        generator: Gen::Down {
            macs: ([0; 6], [0; 6]),
            flows: flows.clone(),
            host,
        },
        next_hop: o.core_mac.ok_or(o.core_gateway.into()),
        send: o.directions.down(),
        expect: Expect {
            flows: flows.clone(),
            host,
            at_core: true,
            l2tp_port: lns_port,
        },
        rate: o.rate,
        mix: o.mix.clone(),
        live: live[1].clone(),
    };
    let epoch = Instant::now();
    let mut handles = Vec::new();
    let mut gos = Vec::new();
    let mut readies = Vec::new();
    for plan in [access, core] {
        let (rtx, rrx) = mpsc::channel();
        let (gtx, grx) = mpsc::channel();
        handles.push(
            std::thread::Builder::new()
                .name("lns-bench-side".into())
                .spawn(move || side(plan, rtx, grx, epoch))
                .map_err(|e| e.to_string())?,
        );
        gos.push(gtx);
        readies.push(rrx);
    }
    let mut failure = None;
    for r in &readies {
        // The LAC's control loop keeps running while the sides set up.
        loop {
            match r.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => keep_alive(Instant::now()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    failure.get_or_insert("a traffic thread ended during set-up".into());
                    break;
                }
            }
        }
    }
    if let Some(e) = failure {
        for g in &gos {
            let _ = g.send(None);
        }
        for h in handles {
            let _ = h.join();
        }
        return Err(e);
    }
    let t0 = Instant::now() + Duration::from_millis(50);
    let t_end = t0 + o.duration;
    let drain_end = t_end + Duration::from_millis(500);
    for g in &gos {
        let _ = g.send(Some((t0, t_end, drain_end)));
    }
    let bar = o.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut next_bar = t0;
    while Instant::now() < drain_end && !crate::interrupted() {
        keep_alive(Instant::now() + Duration::from_millis(100));
        if bar && Instant::now() >= next_bar {
            next_bar += Duration::from_millis(500);
            let el = Instant::now().saturating_duration_since(t0).min(o.duration);
            let frac = el.as_secs_f64() / o.duration.as_secs_f64().max(1e-9);
            let done = (frac * 30.0) as usize;
            let rate =
                |l: &Live| l.sent.load(Ordering::Relaxed) as f64 / el.as_secs_f64().max(1e-3) / 1e6;
            eprint!(
                "\r[{}{}] {:>5.1}/{:.0} s  up {:.3} Mpps  down {:.3} Mpps  rx {} / {}   ",
                "#".repeat(done),
                ".".repeat(30 - done.min(30)),
                el.as_secs_f64(),
                o.duration.as_secs_f64(),
                rate(&live[0]),
                rate(&live[1]),
                live[1].received.load(Ordering::Relaxed),
                live[0].received.load(Ordering::Relaxed),
            );
        }
    }
    if bar {
        eprintln!();
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(
            h.join()
                .map_err(|_| "a traffic thread panicked".to_string())??,
        );
    }
    if crate::interrupted() {
        return Err("interrupted".into());
    }
    let (a, c) = (&results[0], &results[1]);
    let secs = o.duration.as_secs_f64();
    Ok(Report {
        sessions: flows.len() as u64,
        seconds: secs,
        // An IPv6 probe is at least 72 bytes (its header is 20 longer).
        sizes: o
            .mix
            .0
            .iter()
            .map(|&n| match flows.first().map(|f| f.addr.is_ipv6()) {
                Some(true) => n.max(probe::MIN_IP6),
                _ => n.max(probe::MIN_IP),
            })
            .collect(),
        up: if o.directions.up() {
            Some(direction(a, c, &flows, secs, o.rate))
        } else {
            None
        },
        down: if o.directions.down() {
            Some(direction(c, a, &flows, secs, o.rate))
        } else {
            None
        },
        attach: (a.mode.name().into(), c.mode.name().into()),
        foreign: a.foreign + c.foreign,
    })
}

/// Prints a direction for people.
pub fn print_direction(name: &str, d: &Direction) {
    let target = d.target_pps.map_or("as fast as possible".to_string(), |p| {
        format!("target {:.3} Mpps", p / 1e6)
    });
    println!(
        "{name}: sent {} ({:.3} Mpps, {target}), received {} ({:.3} Mpps, {:.3} Gbps)",
        d.sent, d.tx_mpps, d.received, d.rx_mpps, d.rx_gbps
    );
    println!(
        "  lost {} ({:.4}%, {} flows), duplicates {}, reordered {}, misdelivered {}",
        d.lost,
        if d.sent > 0 {
            d.lost as f64 * 100.0 / d.sent as f64
        } else {
            0.0
        },
        d.sessions_with_loss,
        d.duplicates,
        d.reordered,
        d.misdelivered
    );
    if !d.lossy_sessions.is_empty() {
        let list: Vec<String> = d
            .lossy_sessions
            .iter()
            .map(|l| format!("{} ({} of {})", l.address, l.received, l.sent))
            .collect();
        println!("  sessions with loss (first 20): {}", list.join(", "));
    }
    let l = &d.latency_us;
    println!(
        "  one-way latency: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us ({} probes)",
        l.p50, l.p99, l.p99_9, l.max, l.samples
    );
    if d.rate_missed {
        println!(
            "  <- the generator reached {:.3} Mpps of the {:.3} asked: this machine cannot send faster",
            d.tx_mpps,
            d.target_pps.unwrap_or(0.0) / 1e6
        );
    }
}

/// Prints the report for people.
pub fn print(r: &Report) {
    println!(
        "traffic: {} flows, {:.1} s, IP sizes {:?}, XDP {} (access) / {} (core)",
        r.sessions, r.seconds, r.sizes, r.attach.0, r.attach.1
    );
    if let Some(d) = &r.up {
        print_direction("upstream (subscribers to core)", d);
    }
    if let Some(d) = &r.down {
        print_direction("downstream (core to subscribers)", d);
    }
    if r.foreign > 0 {
        println!("frames that were not probes: {}", r.foreign);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lns_daemon::dataplane::kernel::mac;

    #[test]
    fn rates_and_macs_parse() {
        assert_eq!(Rate::parse("max"), Some(Rate::Max));
        assert_eq!(Rate::parse("10k"), Some(Rate::Pps(10_000.0)));
        assert_eq!(Rate::parse("1.5M"), Some(Rate::Pps(1_500_000.0)));
        assert_eq!(Rate::parse("0"), None);
        assert_eq!(Rate::parse("fast"), None);
        assert_eq!(mac("02:00:5e:10:00:01"), Some([2, 0, 0x5e, 0x10, 0, 1]));
        assert_eq!(mac("02:00:5e:10:00"), None);
    }
}
