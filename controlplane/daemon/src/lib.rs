//! The daemon crate: `lnsd`, the tokio shell around the sans-IO control
//! plane (`lns-protocol`), and `lnsctl`.
//!
//! One task per UDP socket reads datagrams, a batch per system call
//! (`batch`), into a channel; one engine task owns the [`Endpoint`],
//! feeds it datagrams and timer ticks, sends what it produces a batch per
//! call and logs its events. No task per tunnel, no lock: the engine is
//! the only owner of protocol state (DESIGN §4).
//!
//! On SIGTERM or SIGINT the engine sends StopCCN (result 6, "shutting
//! down") to every peer and keeps running until each is acknowledged or
//! `l2tp.shutdown_timeout_secs` passes, then exits.

pub mod admin;
pub mod batch;
pub mod client;
pub mod config;
pub mod dataplane;
pub mod metrics;
pub mod netlink;
pub mod proto;
pub mod reload;
pub mod snapshot;

use config::{Config, DataplaneMode};
use dataplane::{Plane, TableDataPlane};
use lns_protocol::aaa::local::Users;
use lns_protocol::l2tp::{Endpoint, Event, SessionIdPreference, SessionKey};
use lns_protocol::lns::{Lns, LnsEvent, NoDataPlane};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

/// Why the daemon could not run.
#[derive(Debug)]
pub enum RunError {
    /// A listen address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// Randomness for ids and challenges was unavailable.
    Entropy(getrandom::Error),
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The users file could not be read.
    Users(String),
    /// The data plane's tables could not be created.
    Dataplane(String),
    /// The admin API could not start.
    Admin(String),
    /// The configuration does not hold together.
    Config(config::ConfigError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Bind(a, e) => write!(f, "cannot bind l2tp.listen address {a}: {e}"),
            RunError::Entropy(e) => write!(f, "no OS randomness: {e}"),
            RunError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            RunError::Users(e) => write!(f, "users file: {e}"),
            RunError::Dataplane(e) => write!(f, "data plane: {e}"),
            RunError::Admin(e) => write!(f, "admin API: {e}"),
            RunError::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Which socket a datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// An L2TP socket (its local address).
    L2tp(SocketAddr),
    /// The RADIUS client socket.
    Radius,
    /// The Disconnect/CoA listener.
    Dae,
}

/// Datagrams read together from one socket (one `recvmmsg`): their
/// bytes end to end in one buffer, so a burst costs the engine one
/// channel message and two allocations, not one per datagram.
struct Datagrams {
    port: Port,
    bytes: Vec<u8>,
    /// Each datagram's sender and where its bytes end in `bytes`.
    ends: Vec<(SocketAddr, usize)>,
}

impl Datagrams {
    fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        let mut start = 0;
        self.ends.iter().map(move |&(from, end)| {
            let bytes = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            (from, bytes)
        })
    }
}

/// Reads `sock` a batch per system call and hands each batch to the
/// engine task. A reader per socket drains it while the engine works, so
/// a burst waits in the channel rather than in the socket buffer.
fn spawn_reader(sock: Arc<UdpSocket>, port: Port, tx: mpsc::Sender<Datagrams>) {
    tokio::spawn(async move {
        let mut bufs = batch::RecvBufs::default();
        loop {
            match batch::recv(&sock, &mut bufs).await {
                Ok(_) => {
                    let mut d = Datagrams {
                        port,
                        bytes: Vec::with_capacity(bufs.iter().map(|(_, b)| b.len()).sum()),
                        ends: Vec::with_capacity(batch::BATCH),
                    };
                    for (from, bytes) in bufs.iter() {
                        // recvmmsg names the sender of every UDP datagram.
                        let Some(from) = from else { continue };
                        d.bytes.extend_from_slice(bytes);
                        d.ends.push((from, d.bytes.len()));
                    }
                    if tx.send(d).await.is_err() {
                        return;
                    }
                }
                // ICMP errors surface here on Linux (port unreachable);
                // retransmissions handle the peer.
                Err(e) => tracing::debug!(port = ?port, error = %e, "recv error"),
            }
        }
    });
}

/// An L2TP socket, and what waits to leave through it (a batch per
/// system call).
struct L2tpPort {
    local: SocketAddr,
    sock: Arc<UdpSocket>,
    out: batch::Queue,
}

/// The sockets besides L2TP's.
struct Aux {
    radius: Option<Arc<UdpSocket>>,
    dae: Option<Arc<UdpSocket>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The tracing target of each session's own lines, at debug: at tens of
/// thousands of setups a second, a line per session per step would cost
/// the engine more than the setups; [`Tally`] sums them up at info.
pub const SESSION_LOG: &str = "lnsd::session";

/// Sessions set up and ended since the last summary, for the info-level
/// line every `log.summary_secs`.
struct Tally {
    every: Option<std::time::Duration>,
    next: std::time::Instant,
    calls_up: u64,
    calls_down: u64,
    subscribers_up: u64,
    subscribers_down: u64,
    /// Why calls ended, by cause as logged.
    causes: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn new(summary_secs: u64, now: std::time::Instant) -> Tally {
        let every = (summary_secs > 0).then(|| std::time::Duration::from_secs(summary_secs));
        Tally {
            every,
            next: now + every.unwrap_or_default(),
            calls_up: 0,
            calls_down: 0,
            subscribers_up: 0,
            subscribers_down: 0,
            causes: Default::default(),
        }
    }

    fn count(&mut self, ev: &LnsEvent) {
        match ev {
            LnsEvent::L2tp(Event::SessionUp { .. }) => self.calls_up += 1,
            LnsEvent::L2tp(Event::SessionDown { cause, .. }) => {
                self.calls_down += 1;
                *self.causes.entry(cause.describe()).or_default() += 1;
            }
            LnsEvent::SubscriberUp { .. } => self.subscribers_up += 1,
            LnsEvent::SubscriberDown { .. } => self.subscribers_down += 1,
            _ => {}
        }
    }

    /// Logs the summary when one is due and something happened.
    fn maybe_log(&mut self, now: std::time::Instant, calls: usize, subscribers: usize) {
        let Some(every) = self.every else { return };
        if now < self.next {
            return;
        }
        self.next = now + every;
        if !self.busy() {
            return;
        }
        let mut causes: Vec<(&String, &u64)> = self.causes.iter().collect();
        causes.sort_by(|a, b| b.1.cmp(a.1));
        let causes: Vec<String> = causes
            .iter()
            .take(5)
            .map(|(c, n)| format!("{n}x {c}"))
            .collect();
        tracing::info!(
            sessions = calls,
            subscribers,
            calls_up = self.calls_up,
            calls_down = self.calls_down,
            subscribers_up = self.subscribers_up,
            subscribers_down = self.subscribers_down,
            down_causes = %causes.join("; "),
            period_secs = every.as_secs(),
            "sessions summary"
        );
        *self = Tally::new(every.as_secs(), now);
    }

    /// When the next summary is due, if there is anything to sum up.
    fn due(&self) -> Option<std::time::Instant> {
        (self.every.is_some() && self.busy()).then_some(self.next)
    }

    /// Whether anything happened since the last summary.
    fn busy(&self) -> bool {
        self.calls_up + self.calls_down + self.subscribers_up + self.subscribers_down > 0
    }
}

fn log_lns_event(ev: &LnsEvent) {
    match ev {
        LnsEvent::L2tp(e) => log_event(e),
        LnsEvent::SubscriberUp { key, user, ipv4 } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = key.tunnel,
            session = key.session,
            user = %lossy(user),
            ipv4 = %ipv4.map(|a| a.to_string()).unwrap_or_default(),
            "subscriber up"
        ),
        LnsEvent::SubscriberDown { key, user, cause } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = key.tunnel,
            session = key.session,
            user = %lossy(user),
            cause = %cause,
            "subscriber down"
        ),
        LnsEvent::Dialed { key, outcome } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = key.tunnel,
            session = key.session,
            outcome = ?outcome,
            "outgoing call settled"
        ),
        LnsEvent::SwitchedUp { a, b, user, target } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = a.tunnel,
            session = a.session,
            lns_tunnel = b.tunnel,
            lns_session = b.session,
            user = %lossy(user),
            target_lns = %target,
            "switched call up"
        ),
        LnsEvent::SwitchTargetFailed { .. } => {}
        LnsEvent::SwitchedDown { a, b, user, cause } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = a.tunnel,
            session = a.session,
            lns_tunnel = b.map(|b| b.tunnel),
            lns_session = b.map(|b| b.session),
            user = %lossy(user),
            cause = %cause,
            "switched call down"
        ),
    }
}

fn log_event(ev: &Event) {
    match ev {
        Event::OutgoingCallRequest { key, .. } => tracing::debug!(
            target: SESSION_LOG,
            tunnel = key.tunnel,
            session = key.session,
            "outgoing call requested; relaying it to a LAC"
        ),
        Event::TunnelUp {
            tunnel,
            peer_tunnel,
            peer,
            host_name,
            role,
        } => tracing::info!(
            tunnel,
            peer_tunnel,
            %peer,
            host_name = %lossy(host_name),
            role = ?role,
            "tunnel established"
        ),
        Event::TunnelDown { tunnel, cause } => {
            tracing::info!(tunnel, cause = %cause.describe(), "tunnel down")
        }
        Event::SessionUp {
            key: SessionKey { tunnel, session },
            peer_session,
            kind,
            peer_avps,
        } => {
            let calling = peer_avps.iter().find_map(|a| match a {
                lns_protocol::l2tp::Avp::CallingNumber(v) => Some(lossy(v)),
                _ => None,
            });
            tracing::debug!(
            target: SESSION_LOG,
                tunnel,
                session,
                peer_session,
                kind = %kind.name(),
                calling = %calling.as_deref().unwrap_or(""),
                "session established"
            )
        }
        Event::SessionDown {
            key: SessionKey { tunnel, session },
            cause,
        } => tracing::debug!(
            target: SESSION_LOG,tunnel, session, cause = %cause.describe(), "session down"),
        Event::SessionInfo {
            key: SessionKey { tunnel, session },
            message,
        } => tracing::debug!(
            target: SESSION_LOG,tunnel, session, message = %message.msg_type.name(), "session info"),
    }
}

/// L2TP socket receive buffer asked for: a burst of call setups from many
/// LACs must queue, not overflow (an overflow costs a PPP restart, 3 s).
pub const L2TP_RCVBUF: usize = 8 << 20;

/// Grows an L2TP socket's receive buffer to [`L2TP_RCVBUF`], past
/// `net.core.rmem_max` when we may (CAP_NET_ADMIN), else as far as the
/// limit allows; returns what the kernel granted. (lns-bench's LAC socket
/// uses it too.)
pub fn grow_receive_buffer(s: &impl std::os::fd::AsFd) -> usize {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(s, sockopt::RcvBufForce, &L2TP_RCVBUF).is_err() {
        let _ = setsockopt(s, sockopt::RcvBuf, &L2TP_RCVBUF);
    }
    getsockopt(s, sockopt::RcvBuf).unwrap_or(0)
}

/// How late the engine's timers may fire, so that those falling due
/// together are served in one turn and their datagrams leave in one
/// batch. At a million sessions LCP echoes alone fall due 33,000 times a
/// second (30 s interval); fired one tokio tick (1 ms) at a time, a
/// wake-up and a `sendmmsg` served a few each, and the wake-ups cost more
/// than the echoes. Every timer of the protocols is a second or more
/// (retransmission, echo, hello) or a coalescing delay itself (the
/// control channel's 100 ms ack delay), so 10 ms is lost in their noise.
pub const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs the daemon until a signal and a drained shutdown; `path` is where
/// `cfg` came from (re-read on reload).
pub async fn run(cfg: Config, path: std::path::PathBuf) -> Result<(), RunError> {
    let mut l2tp: Vec<L2tpPort> = Vec::new();
    for &addr in &cfg.l2tp.listen {
        let s = UdpSocket::bind(addr)
            .await
            .map_err(|e| RunError::Bind(addr, e))?;
        let rcvbuf = grow_receive_buffer(&s);
        tracing::info!(%addr, rcvbuf, "listening");
        l2tp.push(L2tpPort {
            local: addr,
            sock: Arc::new(s),
            out: Vec::new(),
        });
    }
    let mut endpoint = Endpoint::new(cfg.endpoint()).map_err(RunError::Entropy)?;
    let users = match &cfg.ppp.users_file {
        Some(f) => Users::load(f).map_err(RunError::Users)?,
        None => Users::default(),
    };
    tracing::info!(
        users = users.len(),
        pools = cfg.pools.len(),
        "AAA ready (local users)"
    );
    if cfg.ppp.ipv6 && !cfg.ipv6.ra {
        tracing::warn!(
            "ppp.ipv6 = true without ipv6.ra: IPv6CP opens, but no prefix is advertised; \
             subscribers' IPv6 is dropped as ipv6_unrouted"
        );
    } else if cfg.ppp.ipv6
        && cfg.dataplane.mode != DataplaneMode::Off
        && cfg.dataplane.core_gateway6.is_none()
    {
        tracing::warn!(
            "ppp.ipv6 = true without dataplane.core_gateway6: subscribers get prefixes, but \
             their IPv6 is dropped as ipv6_unrouted"
        );
    }
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(RunError::Entropy)?;
    let d = &cfg.dataplane;
    let plane = match d.mode {
        DataplaneMode::Off => Plane::Null(NoDataPlane),
        DataplaneMode::Supervised | DataplaneMode::External => {
            let access = d.access_interface.clone().unwrap_or_default();
            let t = TableDataPlane::create(
                &d.table,
                lns_dataplane::table::Sizes {
                    capacity: d.capacity,
                    workers: d.workers,
                },
                &access,
                d.core_interface.as_deref().unwrap_or(&access),
                d.core_gateway.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            )
            .map_err(|e| RunError::Dataplane(e.to_string()))?;
            let mut t = t;
            t.set_core_gateway6(d.core_gateway6);
            tracing::info!(table = %d.table.display(), capacity = d.capacity, "data plane tables created");
            Plane::Table(Box::new(t))
        }
    };
    let (stop_dp, stop_rx) = tokio::sync::watch::channel(false);
    let (dp_args, dp_args_rx) = tokio::sync::watch::channel(cfg.dataplane_args().to_args());
    let supervisor = (d.mode == DataplaneMode::Supervised).then(|| {
        let binary = d.binary.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("lns-dataplane")))
                .unwrap_or_else(|| "lns-dataplane".into())
        });
        tokio::spawn(dataplane::supervise(
            binary,
            dp_args_rx,
            dataplane::Backoff::new(
                std::time::Duration::from_millis(d.restart_delay_ms),
                dataplane::Backoff::MAX,
                dataplane::Backoff::STABLE,
            ),
            stop_rx,
        ))
    });
    // The kernel's neighbour table is dumped off the engine task (a
    // netlink round trip that grows with the table) and handed over;
    // the engine only writes what changed.
    let (neigh_tx, mut neigh_rx) = mpsc::channel::<Vec<netlink::Neighbour>>(1);
    if matches!(plane, Plane::Table(_)) {
        let every = std::time::Duration::from_secs(d.neighbour_refresh_secs.max(1));
        tokio::spawn(async move {
            let mut refresh = tokio::time::interval(every);
            loop {
                refresh.tick().await;
                let Ok(table) = tokio::task::spawn_blocking(netlink::neighbours).await else {
                    break;
                };
                if neigh_tx.send(table).await.is_err() {
                    break;
                }
            }
        });
    }
    if let Plane::Table(t) = &plane {
        // Our session ids are picked so the session's home slot is free:
        // the workers then find an upstream packet's session from its ids
        // alone, without the index (`lns_dataplane::table::home_slot`).
        let mut homes = lns_dataplane::table::HomeClaims::new(t.writer().reader());
        endpoint.prefer_session_ids(SessionIdPreference(Box::new(move |tunnel, session| {
            homes.claim(tunnel, session, std::time::Instant::now())
        })));
    }
    let mut lns = Lns::new(
        endpoint,
        cfg.lns(),
        users,
        cfg.pools(),
        plane,
        u64::from_le_bytes(seed),
    )
    // Validated when the file was read.
    .with_switch(cfg.switch_config().map_err(RunError::Config)?);

    // Batches of up to batch::BATCH datagrams: room for 4096 datagrams
    // waiting, as the socket buffers behind them hold more.
    let (tx, mut rx) = mpsc::channel::<Datagrams>(4096 / batch::BATCH);
    for p in &l2tp {
        spawn_reader(Arc::clone(&p.sock), Port::L2tp(p.local), tx.clone());
    }
    let mut aux = Aux {
        radius: None,
        dae: None,
    };
    if let Some(r) = &cfg.radius {
        let s = UdpSocket::bind(r.source)
            .await
            .map_err(|e| RunError::Bind(r.source, e))?;
        let s = Arc::new(s);
        tracing::info!(source = %r.source, auth = r.auth.len(), acct = r.acct.len(), "RADIUS client ready");
        spawn_reader(Arc::clone(&s), Port::Radius, tx.clone());
        aux.radius = Some(s);
        if let Some(d) = &r.dae {
            let s = UdpSocket::bind(d.listen)
                .await
                .map_err(|e| RunError::Bind(d.listen, e))?;
            let s = Arc::new(s);
            tracing::info!(listen = %d.listen, clients = d.clients.len(), "Disconnect/CoA listener ready");
            spawn_reader(Arc::clone(&s), Port::Dae, tx.clone());
            aux.dae = Some(s);
        }
    }
    drop(tx);

    let (admin_tx, mut admin_rx) = mpsc::channel::<admin::Call>(256);
    let (events_tx, _) = tokio::sync::broadcast::channel::<admin::pb::Event>(4096);
    let mut admin = admin::Admin::new(path, cfg.clone(), events_tx.clone(), dp_args);
    let (snapshot_tx, mut snapshot_rx) = mpsc::channel::<snapshot::Request>(16);
    if let Some(listen) = cfg.metrics.listen {
        let addr = metrics::start(listen, snapshot_tx)
            .await
            .map_err(RunError::Admin)?;
        tracing::info!(%addr, "metrics listening (GET /metrics)");
    }
    let admin_addr = admin::start(
        &cfg.admin,
        admin::Service::new(admin_tx, events_tx),
        admin.refused.clone(),
    )
    .await
    .map_err(RunError::Admin)?;
    tracing::info!(addr = %admin_addr, tls = cfg.admin.tls_cert.is_some(), "admin API listening");

    let start = std::time::Instant::now();
    for lac in &cfg.lacs {
        let local = lac.local.unwrap_or(cfg.l2tp.listen[0]);
        match lns.with_endpoint(start, |e| e.open_tunnel(start, local, lac.lns)) {
            Ok(t) => {
                tracing::info!(tunnel = t, lns = %lac.lns, calls = lac.calls, "opening tunnel as LAC");
                for _ in 0..lac.calls {
                    let params = Config::call_params(lac);
                    if let Err(e) = lns.with_endpoint(start, |e| e.place_call(start, t, params)) {
                        tracing::error!(tunnel = t, error = %e, "cannot place call");
                    }
                }
            }
            Err(e) => tracing::error!(lns = %lac.lns, error = %e, "cannot open tunnel"),
        }
    }

    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let mut shutdown_deadline: Option<std::time::Instant> = None;

    // Routes to new peers are asked off the engine task too; the table
    // writes such a peer's sessions as if it were on the link meanwhile.
    let (route_tx, mut route_rx) = mpsc::channel::<dataplane::Resolved>(16);

    // One timer, moved each turn: a new one per turn costs the runtime a
    // timer-wheel entry per batch.
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut out = Outgoing::default();
    let mut tally = Tally::new(cfg.log.summary_secs, std::time::Instant::now());
    loop {
        flush(&mut lns, &mut l2tp, &aux, &mut admin, &mut out, &mut tally).await;
        if let Plane::Table(t) = &mut lns.dataplane {
            let peers = t.take_lookups();
            if !peers.is_empty() {
                let tx = route_tx.clone();
                tokio::spawn(async move {
                    let asked =
                        tokio::task::spawn_blocking(move || dataplane::Resolved::lookup(&peers));
                    if let Ok(r) = asked.await {
                        let _ = tx.send(r).await;
                    }
                });
            }
        }
        if let Some(deadline) = shutdown_deadline {
            if lns.endpoint.is_drained() {
                tracing::info!("every peer acknowledged StopCCN; exiting");
                break;
            }
            if std::time::Instant::now() >= deadline {
                let waiting = lns.endpoint.tunnels().filter(|t| !t.is_quiet()).count();
                tracing::warn!(
                    waiting,
                    "shutdown timeout; exiting without every acknowledgement"
                );
                break;
            }
        }
        let mut wake = lns.poll_timeout().map(|t| t + TIMER_SLACK);
        if let Some(d) = tally.due() {
            wake = Some(wake.map_or(d, |w| w.min(d)));
        }
        if let Some(d) = shutdown_deadline {
            wake = Some(wake.map_or(d, |w| w.min(d)));
        }
        let sleep_until = wake
            .map(TokioInstant::from_std)
            .unwrap_or_else(|| TokioInstant::now() + std::time::Duration::from_secs(3600));
        if sleep.deadline() != sleep_until {
            sleep.as_mut().reset(sleep_until);
        }
        tokio::select! {
            d = rx.recv() => {
                let Some(d) = d else { break };
                // One clock read per batch: its datagrams arrived together.
                let now = std::time::Instant::now();
                for (from, bytes) in d.iter() {
                    match d.port {
                        Port::L2tp(local) => lns.handle(now, local, from, bytes),
                        Port::Radius => lns.handle_radius(now, from, bytes),
                        Port::Dae => {
                            // Event-Timestamps are checked against the wall
                            // clock as it reads now (RFC 5176 §6.3).
                            if let Ok(unix) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                                lns.set_wall_clock(now, unix.as_secs());
                            }
                            if let (Some(reply), Some(sock)) = (lns.handle_dae(now, from, bytes), &aux.dae)
                                && let Err(e) = sock.send_to(&reply, from).await
                            {
                                tracing::warn!(to = %from, error = %e, "Disconnect/CoA reply failed");
                            }
                        }
                    }
                }
            }
            _ = &mut sleep => {
                let now = std::time::Instant::now();
                lns.on_timeout(now);
            }
            Some(call) = admin_rx.recv() => {
                admin.serve(&mut lns, call, std::time::Instant::now());
            }
            Some(reply) = snapshot_rx.recv() => {
                let _ = reply.send(admin.snapshot(&mut lns, std::time::Instant::now()));
            }
            Some(table) = neigh_rx.recv() => {
                if let Plane::Table(t) = &mut lns.dataplane {
                    t.refresh_with(&table);
                }
            }
            Some(resolved) = route_rx.recv() => {
                if let Plane::Table(t) = &mut lns.dataplane {
                    t.routes_resolved(&resolved);
                }
            }
            _ = sigterm.recv(), if shutdown_deadline.is_none() => {
                tracing::info!(tunnels = lns.endpoint.tunnel_count(), "SIGTERM: sending StopCCN to every peer");
                lns.shutdown(std::time::Instant::now());
                shutdown_deadline = Some(std::time::Instant::now() + cfg.shutdown_timeout());
            }
            _ = sigint.recv(), if shutdown_deadline.is_none() => {
                tracing::info!(tunnels = lns.endpoint.tunnel_count(), "SIGINT: sending StopCCN to every peer");
                lns.shutdown(std::time::Instant::now());
                shutdown_deadline = Some(std::time::Instant::now() + cfg.shutdown_timeout());
            }
        }
    }
    let counters: Vec<String> = lns
        .endpoint
        .counters()
        .iter()
        .filter(|&(_, v)| v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tracing::info!(counters = %counters.join(" "), data_punted = lns.data_punted, "stopped");
    let _ = stop_dp.send(true);
    if let Some(s) = supervisor {
        let _ = s.await;
    }
    Ok(())
}

/// What the engine produced for the RADIUS socket, waiting to leave, and
/// the send buffers every socket's batches go through; kept between
/// turns so their buffers are reused.
#[derive(Default)]
struct Outgoing {
    radius: batch::Queue,
    bufs: batch::SendBufs,
}

async fn flush(
    lns: &mut Lns<Plane>,
    l2tp: &mut [L2tpPort],
    aux: &Aux,
    admin: &mut admin::Admin,
    out: &mut Outgoing,
    tally: &mut Tally,
) {
    while let Some(ev) = lns.poll_event() {
        log_lns_event(&ev);
        tally.count(&ev);
        admin.on_event(&ev);
    }
    tally.maybe_log(
        std::time::Instant::now(),
        lns.endpoint.session_count(),
        lns.subscriber_count(),
    );
    while let Some((to, bytes)) = lns.poll_radius() {
        out.radius.push((bytes, Some(to)));
    }
    if let Some(sock) = &aux.radius {
        // The RADIUS client retransmits and fails over.
        send_all(sock, &mut out.bufs, &mut out.radius, "RADIUS send failed").await;
    }
    out.radius.clear();
    while let Some(t) = lns.poll_transmit() {
        match l2tp.iter_mut().find(|p| p.local == t.local) {
            Some(p) => p.out.push((t.payload, Some(t.peer))),
            None => tracing::error!(local = %t.local, "no socket for this local address"),
        }
    }
    for p in l2tp.iter_mut().filter(|p| !p.out.is_empty()) {
        // The transport retransmits; a send error is a lost datagram.
        send_all(&p.sock, &mut out.bufs, &mut p.out, "send failed").await;
    }
}

/// Sends every datagram of `queued`; one that fails (`sendmmsg` reports
/// the error on the first datagram it could not send) is logged and
/// skipped, so one peer's error does not cost the others theirs.
async fn send_all(
    sock: &UdpSocket,
    bufs: &mut batch::SendBufs,
    queued: &mut batch::Queue,
    what: &str,
) {
    while let Err(e) = batch::send(sock, bufs, queued).await {
        let to = queued.first().and_then(|(_, p)| *p);
        tracing::warn!(to = ?to, error = %e, "{what}");
        if !queued.is_empty() {
            queued.remove(0);
        }
    }
}
