//! `lns-bench sessions`: bring up N tunnels × M subscriber sessions against
//! an LNS through the real LAC role and PPP client (the control plane's
//! `Lac`), at a target call rate, over one UDP socket; measure what a
//! BNG tester measures: sessions/s achieved, setup latency percentiles
//! (first ICRQ to IPCP up), failures by cause. `--churn SECS` then keeps
//! hanging up and re-dialling sessions for a soak test.
//!
//! Guarantees: every requested call ends counted as up or failed with a
//! cause (an LNS that never answers is a "timeout" failure, not a hang);
//! a rate that cannot be kept is reported as the rate achieved next to the
//! one asked for.

use hdrhistogram::Histogram;
use lns_daemon::batch;
use lns_protocol::l2tp::{CallParams, Event, SessionKey};
use lns_protocol::l2tp::{Endpoint, EndpointConfig, PeerPolicy, PeerRule};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use nix::sys::socket::MsgFlags;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The LNS.
    pub lns: SocketAddr,
    /// Our address (port 0: any).
    pub local: SocketAddr,
    /// Tunnels.
    pub tunnels: u32,
    /// Sessions per tunnel.
    pub sessions: u32,
    /// Target call rate, calls per second.
    pub rate: f64,
    /// PPP authentication the subscribers use.
    pub auth: AuthProtocol,
    /// User name pattern; `{n}` is the subscriber number (1-based).
    pub user: String,
    /// Password pattern.
    pub password: String,
    /// How long a call may take before it counts as failed.
    pub timeout: Duration,
    /// Churn for this long after setup (0: none).
    pub churn: Duration,
    /// Negotiate IPv6CP too.
    pub ipv6: bool,
    /// Behave like a Linux LAC on the data path: require sequencing
    /// (discarding unsequenced and out-of-sequence data, as
    /// `pppol2tp_recv_seq` does) and attach each call's PPP this long
    /// after the call connected (`--sequencing`, `--ppp-attach-delay`).
    pub behaviour: lns_protocol::lac::LacBehaviour,
    /// Write the summary here as JSON.
    pub json: Option<std::path::PathBuf>,
    /// The LNS's process, when it runs on this host: the CPU time it
    /// spent during setup is reported per session (`--lns-pid`).
    pub lns_pid: Option<u32>,
}

impl Default for Opts {
    /// 10 CHAP subscribers `user{n}`/`pw{n}` on one tunnel to a local LNS,
    /// 100 calls/s, 10 s timeout.
    fn default() -> Self {
        Opts {
            lns: SocketAddr::from(([127, 0, 0, 1], 1701)),
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            tunnels: 1,
            sessions: 10,
            rate: 100.0,
            auth: AuthProtocol::ChapMd5,
            user: "user{n}".into(),
            password: "pw{n}".into(),
            timeout: Duration::from_secs(10),
            churn: Duration::ZERO,
            ipv6: false,
            behaviour: Default::default(),
            json: None,
            lns_pid: None,
        }
    }
}

/// The result, as printed and as written with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Calls placed.
    pub requested: u64,
    /// Subscribers that reached IPCP up.
    pub up: u64,
    /// Calls that failed, by cause.
    pub failed: BTreeMap<String, u64>,
    /// Target calls per second.
    pub rate_target: f64,
    /// Achieved: sessions up per second, first call to last up.
    pub rate_achieved: f64,
    /// Setup latency percentiles, milliseconds.
    pub latency_ms: Latency,
    /// Churn cycles (hang up + re-dial) completed.
    pub churn_cycles: u64,
    /// Distinct IPv4 addresses handed out at the end of setup.
    pub addresses: u64,
    /// Distinct /64s the subscribers configured from Router
    /// Advertisements (SLAAC) at the end of setup.
    pub ipv6_prefixes: u64,
    /// Distinct prefixes DHCPv6 delegated to the subscribers (each asks,
    /// with `--ipv6`, as a home router does).
    pub delegated_prefixes: u64,
    /// Data messages the emulated LAC discarded (unsequenced, out of
    /// sequence, before PPP attached).
    pub lac_discards: Discards,
    /// With `--lns-pid`: the LNS process's CPU time (user and system,
    /// every thread) from the first call to the last subscriber up,
    /// microseconds per session up.
    pub lns_cpu_us_per_session: Option<f64>,
}

/// CPU time a process has used so far, every thread (user and system, as
/// the scheduler accounts it: `/proc/PID/task/*/schedstat`, nanoseconds).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(ns))
}

/// Data messages the emulated LAC discarded, by reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discards {
    /// Without Ns, while the LAC requires sequencing.
    pub unsequenced: u64,
    /// With an Ns other than the next expected.
    pub out_of_sequence: u64,
    /// Before the call's PPP attached.
    pub before_attach: u64,
}

/// Latency percentiles.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

struct Pending {
    started: Instant,
    n: u64,
}

struct Run {
    lac: Lac,
    sock: UdpSocket,
    me: SocketAddr,
    pending: HashMap<SessionKey, Pending>,
    up: HashMap<SessionKey, (u64, Option<std::net::Ipv4Addr>)>,
    failed: BTreeMap<String, u64>,
    hist: Histogram<u64>,
    last_up: Option<Instant>,
    bufs: batch::RecvBufs,
    send_bufs: batch::SendBufs,
    out: batch::Queue,
    /// When [`Run::expire`] last looked.
    expired: Instant,
}

impl Run {
    fn pump(&mut self, until: Instant) {
        loop {
            self.flush();
            let got = match batch::recv_now(&self.sock, &mut self.bufs, MsgFlags::MSG_DONTWAIT) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Nothing waiting: sleep in the receive until the
                    // next timer, the caller's deadline or a datagram.
                    let wait = self
                        .lac
                        .poll_timeout()
                        .map_or(until, |t| t.min(until))
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_micros(200))
                        .min(Duration::from_millis(5));
                    let _ = self.sock.set_read_timeout(Some(wait));
                    batch::recv_now(&self.sock, &mut self.bufs, MsgFlags::MSG_WAITFORONE)
                }
                r => r,
            };
            let now = Instant::now();
            if got.is_ok() {
                for (from, bytes) in self.bufs.iter() {
                    if let Some(from) = from {
                        self.lac.handle(now, self.me, from, bytes);
                    }
                }
            }
            self.lac.on_timeout(now);
            self.events();
            if now >= until {
                self.flush();
                return;
            }
        }
    }

    /// Sends what the LAC has queued, a batch per system call; waits
    /// while the socket buffer is full (a lost setup datagram would be
    /// measured as the LNS's latency).
    fn flush(&mut self) {
        while let Some(tx) = self.lac.poll_transmit() {
            self.out.push((tx.payload, Some(tx.peer)));
        }
        let mut sent = 0;
        while sent < self.out.len() {
            match batch::send_now(&self.sock, &mut self.send_bufs, &self.out[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                // As a lost datagram: the control channel and PPP
                // retransmit.
                Err(_) => sent += 1,
            }
        }
        for (payload, _) in self.out.drain(..) {
            lns_protocol::buffers::give(payload);
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.lac.poll_event() {
            match e {
                LacEvent::SubscriberUp { key, ipv4, .. } => {
                    if let Some(p) = self.pending.remove(&key) {
                        let us = p.started.elapsed().as_micros() as u64;
                        let _ = self.hist.record(us.max(1));
                        self.last_up = Some(Instant::now());
                        self.up.insert(key, (p.n, ipv4));
                    }
                }
                LacEvent::L2tp(Event::SessionDown { key, cause }) => {
                    if self.pending.remove(&key).is_some() {
                        *self.failed.entry(cause.describe()).or_default() += 1;
                    }
                    self.up.remove(&key);
                }
                LacEvent::SubscriberDown { key, .. } => {
                    self.up.remove(&key);
                }
                _ => {}
            }
        }
    }

    fn place(&mut self, tunnel: u16, n: u64, o: &Opts) {
        let user = o.user.replace("{n}", &n.to_string());
        let pass = o.password.replace("{n}", &n.to_string());
        let now = Instant::now();
        match self.lac.place_call(
            now,
            tunnel,
            CallParams::default(),
            (user.into_bytes(), pass),
        ) {
            Ok(key) => {
                self.pending.insert(key, Pending { started: now, n });
            }
            Err(e) => *self.failed.entry(e.to_string()).or_default() += 1,
        }
    }

    /// Pending calls older than the timeout fail as "timeout". Looks
    /// every 10 ms at most (`timeout` zero: now): the whole pending set is
    /// walked, and at 20,000 calls/s the caller comes every 50 µs.
    fn expire(&mut self, timeout: Duration) {
        if !timeout.is_zero() && self.expired.elapsed() < Duration::from_millis(10) {
            return;
        }
        self.expired = Instant::now();
        let old: Vec<SessionKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.started.elapsed() > timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.pending.remove(&k);
            *self.failed.entry("timeout".into()).or_default() += 1;
            self.lac.hang_up(Instant::now(), k);
        }
    }
}

/// A subscriber that is up, with what a traffic generator needs to send
/// as it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// Its address.
    pub ipv4: std::net::Ipv4Addr,
    /// Our UDP address for its tunnel.
    pub local: SocketAddr,
    /// The LNS's.
    pub peer: SocketAddr,
    /// The L2TP data header and PPP framing that precede an IPv4 packet
    /// (the LNS's tunnel and session ids; RFC 2661 §3.1).
    pub l2tp: Vec<u8>,
    /// The same before an IPv6 packet (PPP protocol 0x0057).
    pub l2tp6: Vec<u8>,
    /// The largest IP packet the LNS takes from it (its LCP MRU).
    pub mru: u16,
    /// Its IPv6 address (SLAAC from the LNS's Router Advertisement), with
    /// `--ipv6`.
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// The prefix DHCPv6 delegated to it, with `--ipv6`.
    pub delegated: Option<lns_protocol::aaa::prefix::Ipv6Net>,
}

impl Subscriber {
    /// The traffic generator's flows for it: its IPv4 address, or with
    /// `ipv6` its IPv6 address and a host (::1) inside its delegated
    /// prefix, as far as it has them.
    pub fn flows(&self, ipv6: bool) -> Vec<crate::traffic::Flow> {
        let flow = |addr: std::net::IpAddr, l2tp: &Vec<u8>| crate::traffic::Flow {
            addr,
            l2tp: l2tp.clone(),
            mru: self.mru,
        };
        if !ipv6 {
            return vec![flow(self.ipv4.into(), &self.l2tp)];
        }
        let behind = self
            .delegated
            .map(|p| std::net::Ipv6Addr::from(u128::from(p.addr) | 1));
        [self.ipv6, behind]
            .into_iter()
            .flatten()
            .map(|a| flow(a.into(), &self.l2tp6))
            .collect()
    }
}

/// Sessions brought up and held: pump it while they should stay up, then
/// [`Held::finish`].
#[derive(Debug)]
pub struct Held {
    r: Run,
    tunnels: Vec<u16>,
    up: u64,
    total: u64,
    elapsed: Duration,
    addresses: u64,
    ipv6_prefixes: u64,
    delegated_prefixes: u64,
    gap: Duration,
    /// The LNS's CPU time during setup (`--lns-pid`).
    lns_cpu: Option<Duration>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("up", &self.up.len())
            .finish_non_exhaustive()
    }
}

/// Binds the LAC's socket, with a receive buffer big enough for a setup
/// burst: a lost PPP frame costs a 3 s restart and would be measured as
/// LNS latency.
fn bind(local: SocketAddr) -> Result<UdpSocket, String> {
    let sock = UdpSocket::bind(local).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "cannot bind {local}: the port is in use (another LAC, or an LNS, on this address?)"
            )
        } else {
            format!("cannot bind {local}: {e}")
        }
    })?;
    lns_daemon::grow_receive_buffer(&sock);
    Ok(sock)
}

/// Brings the sessions up at the target rate and waits for the last one
/// (or its timeout).
pub fn bring_up(o: &Opts) -> Result<Held, String> {
    let sock = bind(o.local)?;
    let me = sock.local_addr().map_err(|e| e.to_string())?;
    let me = if me.ip().is_unspecified() {
        // The endpoint needs the address the LNS sees: the one routing
        // picks for it.
        let probe = UdpSocket::bind((me.ip(), 0)).map_err(|e| e.to_string())?;
        probe
            .connect(o.lns)
            .map_err(|e| format!("no route to {}: {e}", o.lns))?;
        SocketAddr::new(
            probe.local_addr().map_err(|e| e.to_string())?.ip(),
            me.port(),
        )
    } else {
        me
    };
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
    let seed = u64::from_le_bytes(seed);
    let endpoint = Endpoint::with_rng(
        EndpointConfig {
            peers: vec![PeerRule {
                address: None,
                policy: PeerPolicy::default(),
            }],
            max_sessions_per_tunnel: 65_535,
            ..Default::default()
        },
        rand::rngs::StdRng::seed_from_u64(seed),
    );
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: vec![o.auth.clone()],
            // Room for the largest IMIX packet downstream.
            mru: Some(1500),
            ..Default::default()
        },
        ipv6: o.ipv6,
        // As a CPE's pppd runs by default: an Echo-Request every 30 s
        // whatever it hears (no lcp-echo-adaptive).
        echo_adaptive: false,
        ..Default::default()
    };
    let mut r = Run {
        lac: Lac::new(endpoint, link, (Vec::new(), String::new()), seed)
            .with_behaviour(o.behaviour)
            .with_dhcpv6_pd(o.ipv6),
        sock,
        me,
        pending: HashMap::new(),
        up: HashMap::new(),
        failed: BTreeMap::new(),
        hist: Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?,
        last_up: None,
        bufs: batch::RecvBufs::default(),
        send_bufs: batch::SendBufs::default(),
        out: Vec::new(),
        expired: Instant::now(),
    };
    let mut tunnels = Vec::new();
    for _ in 0..o.tunnels {
        let t = r
            .lac
            .open_tunnel(Instant::now(), me, o.lns)
            .map_err(|e| format!("opening a tunnel to {}: {e}", o.lns))?;
        tunnels.push(t);
    }
    let total = u64::from(o.tunnels) * u64::from(o.sessions);
    let gap = Duration::from_secs_f64(1.0 / o.rate.max(0.001));
    let cpu_before = o.lns_pid.and_then(process_cpu);
    let start = Instant::now();
    let mut placed = 0u64;
    while placed < total {
        if crate::interrupted() {
            return Err("interrupted".into());
        }
        let due = start + gap.mul_f64(placed as f64);
        if Instant::now() >= due {
            let t = tunnels[(placed % tunnels.len() as u64) as usize];
            placed += 1;
            r.place(t, placed, o);
            continue;
        }
        r.pump(due);
        r.expire(o.timeout);
    }
    let deadline = Instant::now() + o.timeout;
    while !r.pending.is_empty() && Instant::now() < deadline && !crate::interrupted() {
        r.pump(Instant::now() + Duration::from_millis(20));
        r.expire(o.timeout);
    }
    let lns_cpu = cpu_before
        .zip(o.lns_pid.and_then(process_cpu))
        .map(|(a, b)| b.saturating_sub(a));
    // IPv6CP may open just after IPCP, its Router Advertisement and
    // DHCPv6 exchange follow: a moment for the links that have IPv6CP but
    // no address or delegated prefix yet (an LNS without DHCPv6 leaves
    // them waiting it out).
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end
        && r.up.keys().any(|&k| {
            r.lac.ipv6_id(k).is_some()
                && (r.lac.ipv6_address(k).is_none() || r.lac.delegated_prefix(k).is_none())
        })
    {
        r.pump(Instant::now() + Duration::from_millis(20));
    }
    r.expire(Duration::ZERO);
    let elapsed = r
        .last_up
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
    let addresses = distinct(r.up.values().filter_map(|v| v.1));
    let ipv6_prefixes = distinct(
        r.up.keys()
            .filter_map(|&k| r.lac.ipv6_address(k))
            .map(|a| u128::from(a) >> 64),
    );
    let delegated_prefixes = distinct(r.up.keys().filter_map(|&k| r.lac.delegated_prefix(k)));
    Ok(Held {
        ipv6_prefixes,
        delegated_prefixes,
        up: r.up.len() as u64,
        r,
        tunnels,
        total,
        elapsed,
        addresses,
        gap,
        lns_cpu,
    })
}

/// How many different values `v` yields.
fn distinct<T: Ord>(v: impl Iterator<Item = T>) -> u64 {
    let mut v: Vec<T> = v.collect();
    v.sort_unstable();
    v.dedup();
    v.len() as u64
}

impl Held {
    /// Calls up of those placed, and the failures by cause (what `export`
    /// prints before it holds them).
    pub fn setup_summary(&self) -> String {
        let mut s = format!("sessions: {} of {} up", self.up, self.total);
        for (cause, n) in &self.r.failed {
            s.push_str(&format!("\nfailed: {n} x {cause}"));
        }
        s
    }

    /// Subscribers up now, in subscriber-number order.
    pub fn subscribers(&self) -> Vec<Subscriber> {
        // The smallest IPv4 and IPv6 packets, only to learn the framing
        // before them.
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        let mut ip6 = [0u8; 40];
        ip6[0] = 0x60;
        let mut v: Vec<(u64, Subscriber)> = self
            .r
            .up
            .iter()
            .filter_map(|(k, (n, a))| {
                let tx = self.r.lac.frame_ip(*k, &ip, None)?;
                let l2tp = tx.payload[..tx.payload.len() - ip.len()].to_vec();
                let tx6 = self.r.lac.frame_ip(*k, &ip6, None)?;
                let l2tp6 = tx6.payload[..tx6.payload.len() - ip6.len()].to_vec();
                Some((
                    *n,
                    Subscriber {
                        ipv4: (*a)?,
                        local: tx.local,
                        peer: tx.peer,
                        l2tp,
                        l2tp6,
                        mru: self.r.lac.peer_mru(*k)?,
                        ipv6: self.r.lac.ipv6_address(*k),
                        delegated: self.r.lac.delegated_prefix(*k),
                    },
                ))
            })
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v.into_iter().map(|(_, s)| s).collect()
    }

    /// Keeps the control channel and every subscriber's PPP alive (hellos,
    /// LCP echoes) until `until`.
    pub fn pump(&mut self, until: Instant) {
        self.r.pump(until);
    }

    /// Churns for `o.churn`, leaves politely (StopCCN, acknowledged),
    /// prints the report and writes `--json`.
    pub fn finish(mut self, o: &Opts, quiet: bool) -> Result<Report, String> {
        let r = &mut self.r;
        let up = self.up;
        let tunnels = &self.tunnels;
        // Churn: hang up the oldest subscriber and dial it again, at the rate.
        let mut cycles = 0u64;
        if !o.churn.is_zero() {
            let end = Instant::now() + o.churn;
            let mut next = Instant::now();
            while Instant::now() < end && !crate::interrupted() {
                if Instant::now() >= next {
                    next += self.gap;
                    let victim = r.up.iter().map(|(k, v)| (*k, v.0)).next();
                    if let Some((k, n)) = victim {
                        r.up.remove(&k);
                        r.lac.hang_up(Instant::now(), k);
                        let t = tunnels[(n % tunnels.len() as u64) as usize];
                        r.place(t, n, o);
                        cycles += 1;
                    }
                }
                r.pump(next.min(end));
                r.expire(o.timeout);
            }
            let deadline = Instant::now() + o.timeout;
            while !r.pending.is_empty() && Instant::now() < deadline && !crate::interrupted() {
                r.pump(Instant::now() + Duration::from_millis(20));
                r.expire(o.timeout);
            }
        }
        let q = |p: f64| r.hist.value_at_quantile(p) as f64 / 1000.0;
        let report = Report {
            requested: self.total + cycles,
            up,
            failed: r.failed.clone(),
            rate_target: o.rate,
            rate_achieved: if self.elapsed.is_zero() {
                0.0
            } else {
                up as f64 / self.elapsed.as_secs_f64()
            },
            latency_ms: if r.hist.is_empty() {
                Latency::default()
            } else {
                Latency {
                    p50: q(0.5),
                    p90: q(0.9),
                    p99: q(0.99),
                    max: r.hist.max() as f64 / 1000.0,
                }
            },
            churn_cycles: cycles,
            addresses: self.addresses,
            ipv6_prefixes: self.ipv6_prefixes,
            delegated_prefixes: self.delegated_prefixes,
            lac_discards: Discards {
                unsequenced: r.lac.data_stats.unsequenced,
                out_of_sequence: r.lac.data_stats.out_of_sequence,
                before_attach: r.lac.data_stats.before_attach,
            },
            lns_cpu_us_per_session: self
                .lns_cpu
                .filter(|_| up > 0)
                .map(|c| c.as_secs_f64() * 1e6 / up as f64),
        };
        // Leave politely: StopCCN to the LNS, acknowledged.
        let now = Instant::now();
        r.lac.endpoint.shutdown(now);
        let end = now + Duration::from_secs(3);
        while !r.lac.endpoint.is_drained() && Instant::now() < end {
            r.pump(Instant::now() + Duration::from_millis(20));
        }
        if !quiet {
            print(&report);
        }
        if let Some(p) = &o.json {
            let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(report)
    }
}

/// Runs the benchmark; the report is also printed.
pub fn run(o: &Opts) -> Result<Report, String> {
    bring_up(o)?.finish(o, false)
}

/// Prints the report for people.
pub fn print(r: &Report) {
    println!(
        "sessions: {} of {} up, {} distinct IPv4 addresses",
        r.up, r.requested, r.addresses
    );
    println!(
        "setup rate: {:.1} sessions/s achieved (target {:.1}){}",
        r.rate_achieved,
        r.rate_target,
        if r.rate_achieved < r.rate_target * 0.9 && r.up > 0 {
            "  <- the target rate was not reached"
        } else {
            ""
        }
    );
    if r.ipv6_prefixes > 0 {
        println!(
            "ipv6: {} distinct /64s configured from Router Advertisements, {} distinct prefixes delegated by DHCPv6",
            r.ipv6_prefixes, r.delegated_prefixes
        );
    }
    let l = &r.latency_ms;
    println!(
        "setup latency (ICRQ to IPCP up): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.p50, l.p90, l.p99, l.max
    );
    if let Some(us) = r.lns_cpu_us_per_session {
        println!(
            "LNS CPU during setup: {us:.1} us per session (one core of it sets up {:.0} sessions/s)",
            1e6 / us.max(0.001)
        );
    }
    if r.churn_cycles > 0 {
        println!("churn: {} hang-up/re-dial cycles", r.churn_cycles);
    }
    let d = &r.lac_discards;
    if d.unsequenced + d.out_of_sequence + d.before_attach > 0 {
        println!(
            "LAC discarded: {} unsequenced, {} out of sequence, {} before PPP attached",
            d.unsequenced, d.out_of_sequence, d.before_attach
        );
    }
    if r.failed.is_empty() {
        println!("failures: none");
    } else {
        for (cause, n) in &r.failed {
            println!("failed: {n} x {cause}");
        }
    }
}
