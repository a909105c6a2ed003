//! lnsd's gRPC admin API (`proto/xlns/admin/v1/admin.proto`), with gRPC
//! health and reflection (v1 and v1alpha) on the same port.
//!
//! The tonic service owns no protocol state: each RPC becomes a [`Call`]
//! sent to the engine task with a reply channel, and the engine answers it
//! between datagrams ([`Admin::serve`]), so an operator's request never
//! races the protocol (DESIGN §4: one owner, no lock). Events are published
//! by the engine on a broadcast channel that `WatchEvents` streams.
//!
//! Guarantees: every request gets an answer or a gRPC status that says why
//! (NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE while lnsd shuts down,
//! UNAUTHENTICATED without the configured token, counted). Refuses: a
//! non-loopback listener without TLS and a token (the configuration is
//! rejected before lnsd starts), page sizes above 10,000.

use super::config::Config;
use super::dataplane::Plane;
use lns_protocol::cause::DownCause;
use lns_protocol::l2tp::avp::ResultCode;
use lns_protocol::l2tp::result::ErrorCode;
use lns_protocol::l2tp::{CallParams, Event, SessionKey};
use lns_protocol::lns::{DialOutcome, Lns, LnsEvent, SubscriberInfo};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use tonic::{Request, Response, Status};

pub use super::proto::pb;

/// Where the engine sends an answer.
pub type Reply<T> = oneshot::Sender<Result<T, Status>>;

/// A request for the engine.
#[derive(Debug)]
pub enum Call {
    /// `ListTunnels`.
    ListTunnels(Reply<pb::ListTunnelsResponse>),
    /// `GetTunnel`.
    GetTunnel(u32, Reply<pb::Tunnel>),
    /// `ClearTunnel`.
    ClearTunnel(pb::ClearTunnelRequest, Reply<pb::ClearTunnelResponse>),
    /// `ListSessions`.
    ListSessions(pb::ListSessionsRequest, Reply<pb::ListSessionsResponse>),
    /// `GetSession`.
    GetSession(pb::GetSessionRequest, Reply<pb::Session>),
    /// `DisconnectSession`.
    Disconnect(
        pb::DisconnectSessionRequest,
        Reply<pb::DisconnectSessionResponse>,
    ),
    /// `SetSessionRate`.
    SetRate(pb::SetSessionRateRequest, Reply<pb::Session>),
    /// `Dial`.
    Dial(pb::DialRequest, Reply<pb::DialResponse>),
    /// `GetStats`.
    Stats(Reply<pb::Stats>),
    /// `ListSwitched`.
    ListSwitched(Reply<pb::ListSwitchedResponse>),
    /// `Reload`.
    Reload(Reply<pb::ReloadResponse>),
}

/// The tonic side: forwards to the engine.
#[derive(Debug, Clone)]
pub struct Service {
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<pb::Event>,
}

impl Service {
    /// A service sending calls to `calls` and streaming `events`.
    pub fn new(calls: mpsc::Sender<Call>, events: broadcast::Sender<pb::Event>) -> Self {
        Service { calls, events }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Call) -> Result<Response<T>, Status> {
        let gone = || Status::unavailable("lnsd is shutting down");
        let (tx, rx) = oneshot::channel();
        self.calls.send(make(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?.map(Response::new)
    }
}

type EventStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Event, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::admin_server::Admin for Service {
    async fn list_tunnels(
        &self,
        _: Request<pb::ListTunnelsRequest>,
    ) -> Result<Response<pb::ListTunnelsResponse>, Status> {
        self.ask(Call::ListTunnels).await
    }

    async fn get_tunnel(
        &self,
        r: Request<pb::GetTunnelRequest>,
    ) -> Result<Response<pb::Tunnel>, Status> {
        let id = r.into_inner().id;
        self.ask(|tx| Call::GetTunnel(id, tx)).await
    }

    async fn clear_tunnel(
        &self,
        r: Request<pb::ClearTunnelRequest>,
    ) -> Result<Response<pb::ClearTunnelResponse>, Status> {
        self.ask(|tx| Call::ClearTunnel(r.into_inner(), tx)).await
    }

    async fn list_sessions(
        &self,
        r: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        self.ask(|tx| Call::ListSessions(r.into_inner(), tx)).await
    }

    async fn get_session(
        &self,
        r: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| Call::GetSession(r.into_inner(), tx)).await
    }

    async fn disconnect_session(
        &self,
        r: Request<pb::DisconnectSessionRequest>,
    ) -> Result<Response<pb::DisconnectSessionResponse>, Status> {
        self.ask(|tx| Call::Disconnect(r.into_inner(), tx)).await
    }

    async fn set_session_rate(
        &self,
        r: Request<pb::SetSessionRateRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| Call::SetRate(r.into_inner(), tx)).await
    }

    async fn dial(
        &self,
        r: Request<pb::DialRequest>,
    ) -> Result<Response<pb::DialResponse>, Status> {
        self.ask(|tx| Call::Dial(r.into_inner(), tx)).await
    }

    async fn get_stats(
        &self,
        _: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::Stats>, Status> {
        self.ask(Call::Stats).await
    }

    async fn list_switched(
        &self,
        _: Request<pb::ListSwitchedRequest>,
    ) -> Result<Response<pb::ListSwitchedResponse>, Status> {
        self.ask(Call::ListSwitched).await
    }

    async fn reload(
        &self,
        _: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        self.ask(Call::Reload).await
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        use tokio_stream::StreamExt;
        use tokio_stream::wrappers::BroadcastStream;
        use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
        let s = BroadcastStream::new(self.events.subscribe()).map(|r| match r {
            Ok(e) => Ok(e),
            // A watcher too slow for the event rate is told how much it
            // missed rather than cut off.
            Err(BroadcastStreamRecvError::Lagged(n)) => Ok(pb::Event {
                kind: "lagged".into(),
                cause: format!("{n} events dropped: this watcher fell behind"),
                unix_ms: unix_ms(),
                ..Default::default()
            }),
        });
        Ok(Response::new(Box::pin(s)))
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The bearer-token check, on every service of the port (a pass when no
/// `admin.token_file` is configured, which only loopback allows).
#[derive(Debug, Clone)]
pub struct TokenCheck {
    expected: Option<Arc<String>>,
    /// Requests refused for a missing or wrong token.
    pub refused: Arc<AtomicU64>,
}

impl TokenCheck {
    /// Checks for `authorization: Bearer TOKEN` when `token` is given.
    pub fn new(token: Option<String>, refused: Arc<AtomicU64>) -> Self {
        TokenCheck {
            expected: token.map(|t| Arc::new(format!("Bearer {}", t.trim()))),
            refused,
        }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, r: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(r);
        };
        let ok = r
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()));
        if ok {
            Ok(r)
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Err(Status::unauthenticated(
                "missing or wrong bearer token (authorization: Bearer TOKEN)",
            ))
        }
    }
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The engine's side: answers [`Call`]s against the live state.
#[derive(Debug)]
pub struct Admin {
    config_path: std::path::PathBuf,
    /// The configuration in force (the last one loaded).
    config: Config,
    events: broadcast::Sender<pb::Event>,
    /// Dial requests waiting for their call's [`LnsEvent::Dialed`].
    dials: HashMap<SessionKey, Reply<pb::DialResponse>>,
    /// Requests refused for want of the token.
    pub refused: Arc<AtomicU64>,
    /// Subscribers up since start.
    setups: u64,
    /// Calls that ended without a subscriber up, by cause label.
    setup_failures: std::collections::BTreeMap<String, u64>,
    /// LNS calls connected, and whether their subscriber came up (or its
    /// PPP failure was counted already).
    calls: HashMap<SessionKey, bool>,
    /// The supervised data plane's command line (a change restarts it).
    dataplane_args: tokio::sync::watch::Sender<Vec<String>>,
}

const MAX_PAGE: u32 = 10_000;

fn not_found(what: String) -> Status {
    Status::not_found(what)
}

fn counters_pb(c: lns_dataplane::table::counters::SessionCounters) -> pb::DataCounters {
    pb::DataCounters {
        packets_up: c.up_packets,
        bytes_up: c.up_bytes,
        packets_down: c.down_packets,
        bytes_down: c.down_bytes,
        drops: c.drops,
        rate_limited_up: c.up_rate_limited,
        rate_limited_down: c.down_rate_limited,
    }
}

fn rate_pb(r: lns_protocol::aaa::rate::Rate) -> pb::Rate {
    pb::Rate {
        bits_per_sec: r.bits(),
        burst_bytes: r.burst,
    }
}

/// One direction of a `SetSessionRate`: "" leaves it, "none" lifts it,
/// a speed sets it (default burst).
fn rate_source(v: &str, which: &str) -> Result<Option<lns_protocol::aaa::rate::Source>, Status> {
    use lns_protocol::aaa::rate::{Rate, Source, parse_speed};
    match v.trim() {
        "" => Ok(None),
        "none" | "unlimited" => Ok(Some(Source::Fixed(None))),
        s => {
            let bits = parse_speed(s).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "{which}: {s:?} is not a speed (e.g. 20M, 512k, or none)"
                ))
            })?;
            let r = Rate::of_bits(bits).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "{which}: {s:?} is under 1k; say none for no limit"
                ))
            })?;
            Ok(Some(Source::Fixed(Some(r))))
        }
    }
}

impl Admin {
    /// The engine's half, for `config` read from `config_path`.
    pub fn new(
        config_path: std::path::PathBuf,
        config: Config,
        events: broadcast::Sender<pb::Event>,
        dataplane_args: tokio::sync::watch::Sender<Vec<String>>,
    ) -> Self {
        Admin {
            config_path,
            config,
            events,
            dials: HashMap::new(),
            refused: Arc::new(AtomicU64::new(0)),
            setups: 0,
            setup_failures: Default::default(),
            calls: HashMap::new(),
            dataplane_args,
        }
    }

    /// Counts setups and setup failures by cause (for the metrics).
    fn count_setups(&mut self, ev: &LnsEvent) {
        match ev {
            LnsEvent::L2tp(Event::SessionUp {
                key,
                kind:
                    lns_protocol::l2tp::CallKind::LnsIncoming
                    | lns_protocol::l2tp::CallKind::LnsOutgoing,
                ..
            }) => {
                self.calls.insert(*key, false);
            }
            LnsEvent::SubscriberUp { key, .. } => {
                self.setups += 1;
                self.calls.insert(*key, true);
            }
            LnsEvent::SubscriberDown { key, cause, .. } => {
                if let Some(done) = self.calls.get_mut(key)
                    && !*done
                {
                    *done = true;
                    // One label per cause, from the cause table.
                    let name = cause.row().label.to_string();
                    *self.setup_failures.entry(name).or_default() += 1;
                }
            }
            LnsEvent::L2tp(Event::SessionDown { key, .. }) => {
                // Connected, but its subscriber neither came up nor failed.
                let never_up = self.calls.remove(key) == Some(false);
                if never_up {
                    *self.setup_failures.entry("l2tp".into()).or_default() += 1;
                }
            }
            _ => {}
        }
    }

    /// Publishes an engine event to `WatchEvents`, settles dials and
    /// counts setups.
    pub fn on_event(&mut self, ev: &LnsEvent) {
        self.count_setups(ev);
        let e = match ev {
            LnsEvent::L2tp(Event::TunnelUp { tunnel, peer, .. }) => pb::Event {
                kind: "tunnel_up".into(),
                tunnel: u32::from(*tunnel),
                peer: peer.to_string(),
                ..Default::default()
            },
            LnsEvent::L2tp(Event::TunnelDown { tunnel, cause }) => pb::Event {
                kind: "tunnel_down".into(),
                tunnel: u32::from(*tunnel),
                cause: cause.describe(),
                ..Default::default()
            },
            LnsEvent::Dialed { key, outcome } => {
                if let Some(reply) = self.dials.remove(key) {
                    let (outcome, connected) = match outcome {
                        DialOutcome::Connected => ("connected".to_string(), true),
                        DialOutcome::Failed(why) => (why.describe(), false),
                        DialOutcome::TimedOut => (
                            "timed out waiting for the LAC to connect the call".into(),
                            false,
                        ),
                    };
                    let _ = reply.send(Ok(pb::DialResponse {
                        tunnel: u32::from(key.tunnel),
                        session: u32::from(key.session),
                        outcome,
                        connected,
                    }));
                }
                return;
            }
            LnsEvent::L2tp(Event::SessionUp { key, .. }) => pb::Event {
                kind: "session_up".into(),
                tunnel: u32::from(key.tunnel),
                session: u32::from(key.session),
                ..Default::default()
            },
            LnsEvent::L2tp(Event::SessionDown { key, cause }) => pb::Event {
                kind: "session_down".into(),
                tunnel: u32::from(key.tunnel),
                session: u32::from(key.session),
                cause: cause.describe(),
                ..Default::default()
            },
            LnsEvent::SubscriberUp { key, user, ipv4 } => pb::Event {
                kind: "subscriber_up".into(),
                tunnel: u32::from(key.tunnel),
                session: u32::from(key.session),
                user: String::from_utf8_lossy(user).into_owned(),
                ipv4: ipv4.map(|a| a.to_string()).unwrap_or_default(),
                ..Default::default()
            },
            LnsEvent::SubscriberDown { key, user, cause } => pb::Event {
                kind: "subscriber_down".into(),
                tunnel: u32::from(key.tunnel),
                session: u32::from(key.session),
                user: String::from_utf8_lossy(user).into_owned(),
                cause: cause.to_string(),
                ..Default::default()
            },
            _ => return,
        };
        // No watcher is not an error.
        let _ = self.events.send(pb::Event {
            unix_ms: unix_ms(),
            ..e
        });
    }

    fn session_pb(&self, lns: &Lns<Plane>, s: &SubscriberInfo<'_>, now: Instant) -> pb::Session {
        let counters = match &lns.dataplane {
            Plane::Table(t) => t.session_counters(s.key).map(counters_pb),
            Plane::Null(_) => None,
        };
        pb::Session {
            tunnel: u32::from(s.key.tunnel),
            session: u32::from(s.key.session),
            peer_tunnel: u32::from(s.peer_ids.0),
            peer_session: u32::from(s.peer_ids.1),
            peer: s.peer.to_string(),
            user: String::from_utf8_lossy(s.user).into_owned(),
            ipv4: s.ipv4.map(|a| a.to_string()).unwrap_or_default(),
            ipv6_interface_id: s
                .ipv6_id
                .map(|i| {
                    i.chunks(2)
                        .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
                        .collect::<Vec<_>>()
                        .join(":")
                })
                .unwrap_or_default(),
            state: if s.up { "up" } else { "setup" }.into(),
            ppp_phase: format!("{:?}", s.phase).to_lowercase(),
            uptime_secs: s
                .up_since
                .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
            counters,
            rate_up: s.rates.up.map(rate_pb),
            rate_down: s.rates.down.map(rate_pb),
            ipv6_prefix: s.ipv6_prefix.map(|p| p.to_string()).unwrap_or_default(),
            delegated_prefix: s
                .delegated_prefix
                .map(|p| p.to_string())
                .unwrap_or_default(),
        }
    }

    fn set_rate(
        &self,
        lns: &mut Lns<Plane>,
        q: &pb::SetSessionRateRequest,
        now: Instant,
    ) -> Result<pb::Session, Status> {
        let asked = lns_protocol::aaa::rate::Asked {
            up: rate_source(&q.up, "up")?,
            down: rate_source(&q.down, "down")?,
        };
        if asked.is_empty() {
            return Err(Status::invalid_argument("give --up, --down or both"));
        }
        let missing = || not_found(format!("no session {}/{}", q.tunnel, q.session));
        let key = key_of(q.tunnel, q.session).ok_or_else(missing)?;
        if !lns.set_rates(now, key, &asked) {
            return Err(missing());
        }
        lns.subscriber(key)
            .map(|s| self.session_pb(lns, &s, now))
            .ok_or_else(missing)
    }

    /// Subscribers up, per tunnel (one pass over the subscribers).
    fn up_per_tunnel(lns: &Lns<Plane>) -> HashMap<u16, u32> {
        let mut up = HashMap::new();
        for s in lns.subscribers().filter(|s| s.up) {
            *up.entry(s.key.tunnel).or_default() += 1;
        }
        up
    }

    fn tunnel_pb(t: &lns_protocol::l2tp::tunnel::Tunnel, up: &HashMap<u16, u32>) -> pb::Tunnel {
        pb::Tunnel {
            id: u32::from(t.local_id),
            peer_id: u32::from(t.peer_id),
            local: t.local.to_string(),
            peer: t.peer.to_string(),
            role: format!("{:?}", t.role).to_lowercase(),
            state: t.state.name().into(),
            peer_host_name: String::from_utf8_lossy(&t.peer_info.host_name).into_owned(),
            peer_vendor: String::from_utf8_lossy(&t.peer_info.vendor_name).into_owned(),
            sessions: t.session_count() as u32,
            subscribers_up: up.get(&t.local_id).copied().unwrap_or(0),
        }
    }

    /// Answers one call.
    pub fn serve(&mut self, lns: &mut Lns<Plane>, call: Call, now: Instant) {
        match call {
            Call::ListTunnels(r) => {
                let up = Self::up_per_tunnel(lns);
                let mut tunnels: Vec<pb::Tunnel> = lns
                    .endpoint
                    .tunnels()
                    .map(|t| Self::tunnel_pb(t, &up))
                    .collect();
                tunnels.sort_by_key(|t| t.id);
                let _ = r.send(Ok(pb::ListTunnelsResponse { tunnels }));
            }
            Call::GetTunnel(id, r) => {
                let t = u16::try_from(id)
                    .ok()
                    .and_then(|id| lns.endpoint.tunnel(id))
                    .map(|t| Self::tunnel_pb(t, &Self::up_per_tunnel(lns)))
                    .ok_or_else(|| not_found(format!("no tunnel {id}")));
                let _ = r.send(t);
            }
            Call::ClearTunnel(q, r) => {
                let _ = r.send(self.clear_tunnel(lns, &q, now));
            }
            Call::ListSessions(q, r) => {
                let _ = r.send(self.list_sessions(lns, &q, now));
            }
            Call::GetSession(q, r) => {
                let key = key_of(q.tunnel, q.session);
                let s = key
                    .and_then(|k| lns.subscriber(k))
                    .map(|s| self.session_pb(lns, &s, now))
                    .ok_or_else(|| not_found(format!("no session {}/{}", q.tunnel, q.session)));
                let _ = r.send(s);
            }
            Call::Disconnect(q, r) => {
                let cause = if q.cause.is_empty() {
                    "disconnected by the operator".to_string()
                } else {
                    q.cause.clone()
                };
                let done = key_of(q.tunnel, q.session)
                    .is_some_and(|k| lns.disconnect(now, k, DownCause::Operator(cause.clone())));
                if done {
                    tracing::info!(tunnel = q.tunnel, session = q.session, %cause, "session disconnected by admin");
                }
                let _ = r.send(if done {
                    Ok(pb::DisconnectSessionResponse {})
                } else {
                    Err(not_found(format!("no session {}/{}", q.tunnel, q.session)))
                });
            }
            Call::SetRate(q, r) => {
                let _ = r.send(self.set_rate(lns, &q, now));
            }
            Call::Dial(q, r) => self.dial(lns, q, r, now),
            Call::Stats(r) => {
                let _ = r.send(Ok(self.stats(lns)));
            }
            Call::ListSwitched(r) => {
                let _ = r.send(Ok(Self::switched(lns, now)));
            }
            Call::Reload(r) => {
                let _ = r.send(self.reload(lns));
            }
        }
    }

    fn clear_tunnel(
        &mut self,
        lns: &mut Lns<Plane>,
        q: &pb::ClearTunnelRequest,
        now: Instant,
    ) -> Result<pb::ClearTunnelResponse, Status> {
        let id = u16::try_from(q.id).map_err(|_| not_found(format!("no tunnel {}", q.id)))?;
        let sessions = lns
            .endpoint
            .tunnel(id)
            .map(|t| t.session_count() as u32)
            .ok_or_else(|| not_found(format!("no tunnel {id}")))?;
        let code = if q.result_code == 0 { 1 } else { q.result_code };
        let code = u16::try_from(code)
            .map_err(|_| Status::invalid_argument(format!("result code {code} is not 16 bits")))?;
        let message = if q.message.is_empty() {
            "cleared by the operator"
        } else {
            &q.message
        };
        // A message rides only behind an error code (§4.4.2 layout); 0
        // says there is no general error.
        let rc = ResultCode::new(code, Some(ErrorCode::NoError), message);
        lns.with_endpoint(now, |e| e.close_tunnel(now, id, rc));
        tracing::info!(tunnel = id, code, message, "tunnel cleared by admin");
        Ok(pb::ClearTunnelResponse {
            sessions_cleared: sessions,
        })
    }

    fn list_sessions(
        &self,
        lns: &Lns<Plane>,
        q: &pb::ListSessionsRequest,
        now: Instant,
    ) -> Result<pb::ListSessionsResponse, Status> {
        let size = match q.page_size {
            0 => 100,
            n if n > MAX_PAGE => {
                return Err(Status::invalid_argument(format!(
                    "page_size {n}: at most {MAX_PAGE}"
                )));
            }
            n => n,
        };
        let prefix = if q.address.is_empty() {
            None
        } else {
            Some(parse_prefix(&q.address).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "address {:?}: not an IPv4 address or prefix",
                    q.address
                ))
            })?)
        };
        let state = match q.state.as_str() {
            "" => None,
            "up" => Some(true),
            "setup" => Some(false),
            other => {
                return Err(Status::invalid_argument(format!(
                    "state {other:?}: \"up\" or \"setup\""
                )));
            }
        };
        let after = if q.page_token.is_empty() {
            None
        } else {
            Some(parse_token(&q.page_token).ok_or_else(|| {
                Status::invalid_argument(format!("page_token {:?}: not one of ours", q.page_token))
            })?)
        };
        let mut all: Vec<SubscriberInfo<'_>> = lns
            .subscribers()
            .filter(|s| q.user.is_empty() || s.user == q.user.as_bytes())
            .filter(|s| q.tunnel == 0 || u32::from(s.key.tunnel) == q.tunnel)
            .filter(|s| state.is_none_or(|up| s.up == up))
            .filter(|s| {
                prefix.is_none_or(|(net, len)| s.ipv4.is_some_and(|a| in_prefix(a, net, len)))
            })
            .collect();
        all.sort_by_key(|s| (s.key.tunnel, s.key.session));
        let total = all.len() as u32;
        let start = after.map_or(0, |k| {
            all.partition_point(|s| (s.key.tunnel, s.key.session) <= k)
        });
        let page: Vec<&SubscriberInfo<'_>> = all[start..].iter().take(size as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if start + page.len() < all.len() => {
                format!("{}.{}", last.key.tunnel, last.key.session)
            }
            _ => String::new(),
        };
        Ok(pb::ListSessionsResponse {
            sessions: page.iter().map(|s| self.session_pb(lns, s, now)).collect(),
            next_page_token,
            total,
        })
    }

    fn dial(
        &mut self,
        lns: &mut Lns<Plane>,
        q: pb::DialRequest,
        r: Reply<pb::DialResponse>,
        now: Instant,
    ) {
        let lac: Option<SocketAddr> = q.lac.parse().ok().or_else(|| {
            q.lac
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 1701))
        });
        let Some(lac) = lac else {
            let _ = r.send(Err(Status::invalid_argument(format!(
                "lac {:?}: an address or address:port",
                q.lac
            ))));
            return;
        };
        // From our first L2TP address of the LAC's family.
        let local = self
            .config
            .l2tp
            .listen
            .iter()
            .find(|a| a.is_ipv4() == lac.is_ipv4())
            .copied()
            .unwrap_or(self.config.l2tp.listen[0]);
        let params = CallParams {
            called_number: Some(q.called_number.clone().into_bytes()),
            ..CallParams::default()
        };
        let wait = if q.timeout_secs == 0 {
            30
        } else {
            q.timeout_secs
        };
        let deadline = now + Duration::from_secs(u64::from(wait));
        match lns.dial(now, local, lac, params, deadline) {
            Ok(key) => {
                tracing::info!(tunnel = key.tunnel, session = key.session, %lac, called = %q.called_number, "dialing (OCRQ) for admin");
                self.dials.insert(key, r);
            }
            Err(e) => {
                let _ = r.send(Err(Status::failed_precondition(e)));
            }
        }
    }

    /// The snapshot the metrics render (and `GetStats` answers from the
    /// same builders): see [`super::snapshot`].
    pub fn snapshot(&mut self, lns: &mut Lns<Plane>, now: Instant) -> super::snapshot::Snapshot {
        // Every state, so one whose last tunnel left reads 0.
        let mut tunnel_states: std::collections::BTreeMap<String, u64> =
            lns_protocol::l2tp::tunnel::TunnelState::ALL
                .iter()
                .map(|s| (s.name().to_string(), 0))
                .collect();
        for t in lns.endpoint.tunnels() {
            *tunnel_states.entry(t.state.name().to_string()).or_default() += 1;
        }
        super::snapshot::Snapshot {
            stats: self.stats(lns),
            switched: Self::switched(lns, now),
            tunnel_states,
            radius: lns.radius_stats().cloned(),
            setups: self.setups,
            setup_failures: self.setup_failures.clone(),
            radius_latencies: lns.take_radius_latencies(),
        }
    }

    fn switched(lns: &Lns<Plane>, now: Instant) -> pb::ListSwitchedResponse {
        let leg = |l: &lns_protocol::engine::switch::Leg| pb::SwitchedLeg {
            tunnel: u32::from(l.key.tunnel),
            session: u32::from(l.key.session),
            peer_tunnel: u32::from(l.peer_ids.0),
            peer_session: u32::from(l.peer_ids.1),
            peer: l.peer.to_string(),
            sequencing: l.sequencing,
            counters: match &lns.dataplane {
                Plane::Table(t) => t.switched_counters(l.key).map(counters_pb),
                Plane::Null(_) => None,
            },
        };
        let mut calls: Vec<pb::SwitchedCall> = lns
            .switch
            .calls()
            .map(|c| pb::SwitchedCall {
                lac_leg: Some(leg(&c.a)),
                lns_leg: c.b.as_ref().map(leg),
                user: String::from_utf8_lossy(&c.user).into_owned(),
                target: c.target.map(|t| t.to_string()).unwrap_or_default(),
                state: if c.up { "up" } else { "setup" }.into(),
                uptime_secs: c
                    .up_since
                    .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
            })
            .collect();
        calls.sort_by_key(|c| c.lac_leg.as_ref().map(|l| (l.tunnel, l.session)));
        pb::ListSwitchedResponse {
            calls,
            held: lns
                .switch
                .held(now)
                .into_iter()
                .map(|(e, left)| pb::HeldTarget {
                    endpoint: e.to_string(),
                    remaining_secs: left.as_secs(),
                    failures: lns.switch.failures(e),
                })
                .collect(),
            target_failures: lns
                .switch
                .failure_counts()
                .map(|(e, n)| (e.to_string(), n))
                .collect(),
        }
    }

    fn stats(&self, lns: &Lns<Plane>) -> pb::Stats {
        let subs: Vec<SubscriberInfo<'_>> = lns.subscribers().collect();
        let mut s = pb::Stats {
            tunnels: lns.endpoint.tunnel_count() as u64,
            sessions: lns.endpoint.session_count() as u64,
            subscribers_up: subs.iter().filter(|s| s.up).count() as u64,
            l2tp: lns
                .endpoint
                .counters()
                .iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..Default::default()
        };
        let a = &lns.aaa;
        s.engine = [
            ("ppp_orphans", lns.ppp_orphans),
            ("ppp_early_held", lns.ppp_early),
            ("data_punted", lns.data_punted),
            ("ipv6_advertisements", lns.ipv6.advertisements),
            ("ipv6_solicitations", lns.ipv6.solicitations),
            ("ipv6_solicitations_invalid", lns.ipv6.solicitations_invalid),
            ("ipv6_ignored", lns.ipv6.ignored),
            ("ipv6_prefix_failures", lns.ipv6.prefix_failures),
            ("dhcpv6_replies", lns.ipv6.dhcp_replies),
            ("dhcpv6_refused", lns.ipv6.dhcp_refused),
            ("dhcpv6_delegated", lns.ipv6.dhcp_delegated),
            ("dhcpv6_pd_failures", lns.ipv6.dhcp_pd_failures),
            ("dhcpv6_released", lns.ipv6.dhcp_released),
            ("address_failures", lns.address_failures),
            ("proxy_lcp_adopted", lns.proxy_adopted),
            ("proxy_lcp_renegotiated", lns.proxy_renegotiated),
            ("data_sequencing_requested", lns.sequencing_requested),
            ("data_sequencing_started", lns.sequencing_started),
            ("data_sequencing_refused", lns.sequencing_refused),
            ("radius_accepts", a.accepts),
            ("radius_rejects", a.rejects),
            ("radius_auth_timeouts", a.auth_timeouts),
            ("radius_acct_timeouts", a.acct_timeouts),
            ("dae_disconnects", a.disconnects),
            ("dae_naks", a.dae_naks),
            ("dae_dropped", a.dae_dropped),
            ("dae_stale", a.dae_stale),
            ("coa_changes", a.coa_changes),
            ("rate_invalid", a.rate_invalid),
            ("admin_refused", self.refused.load(Ordering::Relaxed)),
            ("switched_calls", lns.switch.len() as u64),
            ("switch_calls_total", lns.switch.stats.calls),
            ("switch_up_total", lns.switch.stats.up),
            ("switch_no_target", lns.switch.stats.no_target),
            ("switch_target_failures", lns.switch.stats.target_failures),
            ("switch_held_down", lns.switch.stats.held_down),
            ("switch_by_radius", lns.switch.stats.by_radius),
            (
                "switch_bad_tunnel_attributes",
                lns.switch.stats.bad_tunnel_attributes,
            ),
            ("switch_relayed", lns.switch.stats.relayed),
            ("switch_relay_dropped", lns.switch.stats.relay_dropped),
            ("switch_info_relayed", lns.switch.stats.info_relayed),
            (
                "switch_wrong_server_name",
                lns.switch.stats.wrong_server_name,
            ),
            ("switch_dialouts", lns.switch.stats.dialouts),
            ("switch_dialouts_failed", lns.switch.stats.dialouts_failed),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut per_tunnel: HashMap<u16, pb::TunnelStats> = lns
            .endpoint
            .tunnels()
            .map(|t| {
                (
                    t.local_id,
                    pb::TunnelStats {
                        tunnel: u32::from(t.local_id),
                        sessions: t.session_count() as u32,
                        counters: Some(pb::DataCounters::default()),
                        ..Default::default()
                    },
                )
            })
            .collect();
        if let Plane::Table(t) = &lns.dataplane {
            use lns_dataplane::loader::AttachMode;
            use lns_dataplane::loader::abi::Verdict;
            let w = t.writer();
            s.table_bytes = w.size_bytes();
            s.table_huge_page_bytes = w.huge_page_bytes().unwrap_or(0);
            s.table_sessions_away = (w.len() - w.at_home()) as u64;
            // The mode the data plane reported, while its process lives
            // (the header keeps the last mode after it dies).
            let st = w.reader_status();
            let alive = st.pid != 0 && std::path::Path::new(&format!("/proc/{}", st.pid)).exists();
            s.dataplane_mode = AttachMode::from_code(st.mode)
                .filter(|_| alive)
                .map_or("not attached", |m| m.name())
                .into();
            for i in 0..w.sizes().workers {
                let Some(b) = w.worker(i) else { continue };
                let counters: HashMap<String, u64> =
                    b.named().map(|(k, v)| (k.to_string(), v)).collect();
                let drops: HashMap<String, u64> =
                    b.named_drops().map(|(k, v)| (k.to_string(), v)).collect();
                for (k, v) in &drops {
                    *s.drops.entry(k.clone()).or_default() += v;
                }
                s.workers.push(pb::WorkerStats {
                    worker: i,
                    counters,
                    drops,
                });
            }
            // The data plane's XDP map of switched keys, as it follows
            // the table's journal (rebuilds: it fell a journal behind).
            s.engine
                .insert("dataplane_switched_keys".into(), st.switched_keys);
            s.engine
                .insert("dataplane_switched_rebuilds".into(), st.switched_rebuilds);
            for (v, n) in Verdict::ALL.iter().zip(w.verdicts()) {
                s.xdp.insert(v.name().to_string(), n);
            }
            for sub in &subs {
                if let (Some(c), Some(ts)) = (
                    t.session_counters(sub.key),
                    per_tunnel.get_mut(&sub.key.tunnel),
                ) && let Some(tc) = ts.counters.as_mut()
                {
                    tc.packets_up += c.up_packets;
                    tc.bytes_up += c.up_bytes;
                    tc.packets_down += c.down_packets;
                    tc.bytes_down += c.down_bytes;
                    tc.drops += c.drops;
                }
            }
        }
        for (tunnel, up) in Self::up_per_tunnel(lns) {
            if let Some(ts) = per_tunnel.get_mut(&tunnel) {
                ts.subscribers_up = up;
            }
        }
        let mut pt: Vec<pb::TunnelStats> = per_tunnel.into_values().collect();
        pt.sort_by_key(|t| t.tunnel);
        s.per_tunnel = pt;
        s
    }

    fn reload(&mut self, lns: &mut Lns<Plane>) -> Result<pb::ReloadResponse, Status> {
        let new = Config::load(&self.config_path)
            .map_err(|e| Status::invalid_argument(format!("{e}; nothing was changed")))?;
        let changes = super::reload::apply(lns, &self.config, &new)
            .map_err(|e| Status::failed_precondition(format!("{e}; nothing was changed")))?;
        tracing::info!(changes = changes.len(), "configuration reloaded");
        for c in &changes {
            tracing::info!(change = %c, "reload");
        }
        // The supervised data plane restarts only if its command line
        // changed (new pool prefixes to steer, a new PPP gateway).
        let line = new.dataplane_args().to_args();
        self.dataplane_args.send_if_modified(|a| {
            let changed = *a != line;
            *a = line;
            changed
        });
        self.config = new;
        Ok(pb::ReloadResponse { changes })
    }
}

/// Binds `[admin] listen` and serves the admin API, gRPC health and
/// reflection there (TLS and the token check when configured); returns the
/// bound address.
pub async fn start(
    cfg: &super::config::Admin,
    service: Service,
    refused: Arc<AtomicU64>,
) -> Result<SocketAddr, String> {
    use tonic::transport::{Identity, Server, ServerTlsConfig};
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let token = match &cfg.token_file {
        Some(p) => Some(String::from_utf8_lossy(&read(p)?).trim().to_string()),
        None => None,
    };
    if token.as_deref() == Some("") {
        return Err("admin.token_file is empty".into());
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot bind admin.listen {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = Server::builder();
    if let (Some(c), Some(k)) = (&cfg.tls_cert, &cfg.tls_key) {
        let identity = Identity::from_pem(read(c)?, read(k)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| format!("admin TLS: {e}"))?;
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::admin_server::AdminServer<Service>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = reflection()
        .build_v1()
        .map_err(|e| format!("gRPC reflection: {e}"))?;
    let v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| format!("gRPC reflection: {e}"))?;
    let router = builder
        .layer(tonic::service::InterceptorLayer::new(TokenCheck::new(
            token, refused,
        )))
        .add_service(pb::admin_server::AdminServer::new(service))
        .add_service(health_service)
        .add_service(v1)
        .add_service(v1alpha);
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    });
    Ok(addr)
}

fn key_of(tunnel: u32, session: u32) -> Option<SessionKey> {
    Some(SessionKey {
        tunnel: u16::try_from(tunnel).ok()?,
        session: u16::try_from(session).ok()?,
    })
}

fn parse_token(t: &str) -> Option<(u16, u16)> {
    let (a, b) = t.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `a.b.c.d` or `a.b.c.d/len`.
fn parse_prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    match s.split_once('/') {
        Some((a, l)) => {
            let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
            Some((a.parse().ok()?, len))
        }
        None => Some((s.parse().ok()?, 32)),
    }
}

fn in_prefix(a: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from(a) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_tokens_and_token_comparison() {
        let (net, len) = parse_prefix("100.64.0.0/16").unwrap();
        assert!(in_prefix(Ipv4Addr::new(100, 64, 9, 9), net, len));
        assert!(!in_prefix(Ipv4Addr::new(100, 65, 0, 1), net, len));
        assert_eq!(
            parse_prefix("100.64.0.7"),
            Some((Ipv4Addr::new(100, 64, 0, 7), 32))
        );
        assert_eq!(parse_prefix("100.64.0.0/33"), None);
        assert_eq!(parse_token("7.42"), Some((7, 42)));
        assert_eq!(parse_token("7"), None);
        assert!(constant_time_eq(b"Bearer x", b"Bearer x"));
        assert!(!constant_time_eq(b"Bearer x", b"Bearer y"));
        assert!(!constant_time_eq(b"Bearer x", b"Bearer xx"));
    }
}
