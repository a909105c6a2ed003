//! `xlns-client`: the voluntary LAC client (RFC 2661 §1: the host is its
//! own LAC). One tunnel to an LNS, one call in it, a PPP client on the
//! call, and a TUN interface carrying the host's traffic through it.
//!
//! Remote dial ([`Answer`], `--answer`): the host listens as a LAC, the
//! LNS opens the tunnel and asks for a call (OCRQ, RFC 2661 §7.5); an
//! OCRQ to one of the profile's Called Numbers is answered, and the call
//! is this host's PPP session on its TUN.
//!
//! The protocol is the LAC engine's (`lns_protocol::lac`), the same one
//! the emulated LAC and lns-bench use; this module is its shell: a UDP
//! socket connected to the LNS, the TUN device, routes, signals, redial.
//!
//! Guarantees: the TUN interface exists only while the program runs and
//! is created before anything is dialled (no permission: exit 6, nothing
//! sent); every route added is removed when the session ends or the
//! program exits; after the session was up once, a lost tunnel or call is
//! redialled with a doubling pause up to `--redial-max`. Refuses: a first
//! attempt that fails is not retried; each failure is one line on stderr
//! and its own exit status ([`Failure::exit_code`]).

use crate::batch;
use crate::netlink::{self, Address, Route};
use lns_protocol::l2tp::avp::ResultCode;
use lns_protocol::l2tp::result::CdnResult;
use lns_protocol::l2tp::{
    CallParams, Endpoint, EndpointConfig, Event, PeerPolicy, PeerRule, SessionKey, TunnelAuth,
    TunnelCause,
};
use lns_protocol::lac::{Lac, LacBehaviour, LacEvent};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::{DownCause, LinkConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// What the user asked for on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The LNS (port 1701 unless given).
    pub lns: SocketAddr,
    /// Our address (default: what the kernel routes toward the LNS from,
    /// any port).
    pub local: Option<SocketAddr>,
    /// PPP user name and password.
    pub user: String,
    /// See `user`.
    pub password: String,
    /// The tunnel secret (RFC 2661 §5.1.1); tunnel authentication and
    /// AVP hiding need one.
    pub secret: Option<Vec<u8>>,
    /// Hide the AVPs that can be hidden (§4.3).
    pub hide: bool,
    /// Our Host Name AVP.
    pub host_name: String,
    /// Authentication protocols we accept, in order of preference.
    pub auth: Vec<AuthProtocol>,
    /// The TUN interface's name.
    pub tun: String,
    /// Routes through the TUN: `None` for none, the prefixes given, or
    /// the whole IPv4 space ("default").
    pub routes: Vec<(Ipv4Addr, u8)>,
    /// Our MRU (and the TUN's MTU unless the LNS's MRU is smaller).
    pub mru: u16,
    /// Ask for sequenced data (AVP 39) and sequence ours.
    pub sequencing: bool,
    /// How long a first attempt may take to bring the session up.
    pub timeout: Duration,
    /// The longest pause between redials.
    pub redial_max: Duration,
    /// Remote dial: wait for the LNS's outgoing calls instead of dialling.
    pub answer: Option<Answer>,
    /// Negotiate IPv6CP too, and put the link-local address from its
    /// interface identifier on the TUN (the kernel then autoconfigures
    /// from the LNS's Router Advertisements, RFC 4862).
    pub ipv6: bool,
    /// Write the DNS servers IPCP gave (RFC 1877) to this resolv.conf
    /// while the session is up, restoring it after.
    pub dns: Option<std::path::PathBuf>,
}

/// Remote dial (RFC 2661 §7.5, the LNS's outgoing call): the host is the
/// LAC the LNS asks to place a call, and the call it places is its own
/// PPP session. One dial-out profile: these credentials and this TUN,
/// for OCRQs whose Called Number is one of `called`.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Where the LNS opens its tunnel to us.
    pub listen: SocketAddr,
    /// The Called Numbers this profile answers (others: CDN result 6,
    /// invalid destination).
    pub called: Vec<String>,
}

/// The usage text (`--help`).
pub const USAGE: &str = "\
usage: xlns-client --lns HOST[:PORT] --user NAME --password PW [options]

  --lns ADDR            the LNS (IPv4, port 1701 unless given)
  --user NAME           PPP user name
  --password PW         PPP password (or --password-file FILE)
  --password-file FILE  read the password from FILE (first line)
  --secret S            L2TP tunnel secret: tunnel authentication (RFC 2661 §5.1.1)
  --hide                hide AVPs with the secret (RFC 2661 §4.3)
  --host-name NAME      our Host Name AVP (default: xlns-client)
  --local ADDR:PORT     our address (default: the kernel's choice toward the LNS)
  --auth LIST           accepted authentication, in order: pap,chap,mschapv2 (default all)
  --tun NAME            the TUN interface (default: xl2tp0)
  --route PREFIX        route PREFIX through the session; repeatable; 'default' for everything
  --dns                 use the LNS's DNS servers (IPCP, RFC 1877): /etc/resolv.conf
                        holds them while the session is up, and is restored after
  --dns-file FILE       the same, with FILE instead of /etc/resolv.conf
  --ipv6                negotiate IPv6CP as well: a link-local address on the TUN,
                        the kernel autoconfiguring from the LNS's Router Advertisements
  --mru N               our MRU (default 1400)
  --sequencing          ask for and send sequenced data (RFC 2661 §5.4)
  --timeout SECS        first attempt: give up after SECS (default 30)
  --redial-max SECS     longest pause between redials (default 60)
  --answer ADDR:PORT    remote dial: listen there for the LNS's tunnel and answer its
                        outgoing calls (OCRQ) to a --called number with this profile
  --called NUMBER       a Called Number this profile answers (repeatable; needs --answer)

exit status: 0 stopped by SIGINT/SIGTERM, 1 other failure, 2 bad usage,
3 LNS unreachable, 4 tunnel authentication failed (secret),
5 PPP authentication refused, 6 no permission for the TUN interface";

impl Options {
    /// Parses the command line (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut o = Options {
            lns: SocketAddr::from(([0, 0, 0, 0], 0)),
            local: None,
            user: String::new(),
            password: String::new(),
            secret: None,
            hide: false,
            host_name: "xlns-client".into(),
            auth: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::ChapMd5,
                AuthProtocol::Pap,
            ],
            tun: "xl2tp0".into(),
            routes: Vec::new(),
            mru: 1400,
            sequencing: false,
            timeout: Duration::from_secs(30),
            redial_max: Duration::from_secs(60),
            answer: None,
            dns: None,
            ipv6: false,
        };
        let mut called = Vec::new();
        let (mut lns, mut user, mut password) = (false, false, false);
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--lns" => {
                    let v = value("--lns")?;
                    o.lns = v
                        .parse()
                        .or_else(|_| v.parse::<Ipv4Addr>().map(|ip| SocketAddr::from((ip, 1701))))
                        .map_err(|_| format!("--lns {v}: not an IPv4 address[:port]"))?;
                    lns = true;
                }
                "--local" => {
                    let v = value("--local")?;
                    o.local = Some(
                        v.parse()
                            .map_err(|_| format!("--local {v}: not an address:port"))?,
                    );
                }
                "--user" => {
                    o.user = value("--user")?;
                    user = true;
                }
                "--password" => {
                    o.password = value("--password")?;
                    password = true;
                }
                "--password-file" => {
                    let f = value("--password-file")?;
                    let text = std::fs::read_to_string(&f)
                        .map_err(|e| format!("--password-file {f}: {e}"))?;
                    o.password = text.lines().next().unwrap_or("").to_string();
                    password = true;
                }
                "--secret" => o.secret = Some(value("--secret")?.into_bytes()),
                "--hide" => o.hide = true,
                "--host-name" => o.host_name = value("--host-name")?,
                "--auth" => {
                    let v = value("--auth")?;
                    o.auth = v
                        .split(',')
                        .map(|p| match p.trim() {
                            "pap" => Ok(AuthProtocol::Pap),
                            "chap" => Ok(AuthProtocol::ChapMd5),
                            "mschapv2" => Ok(AuthProtocol::MsChapV2),
                            other => Err(format!("--auth: unknown protocol {other:?}")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--tun" => {
                    o.tun = value("--tun")?;
                    if o.tun.is_empty() || o.tun.len() > 15 {
                        return Err(format!("--tun {:?}: 1 to 15 characters", o.tun));
                    }
                }
                "--route" => {
                    let v = value("--route")?;
                    if v == "default" {
                        // Two halves: more specific than any default
                        // route, which stays for when the session ends.
                        o.routes.push((Ipv4Addr::new(0, 0, 0, 0), 1));
                        o.routes.push((Ipv4Addr::new(128, 0, 0, 0), 1));
                    } else {
                        o.routes.push(prefix(&v)?);
                    }
                }
                "--mru" => {
                    let v = value("--mru")?;
                    o.mru = v
                        .parse()
                        .ok()
                        .filter(|m| (576..=16384).contains(m))
                        .ok_or(format!("--mru {v}: 576 to 16384"))?;
                }
                "--sequencing" => o.sequencing = true,
                "--timeout" => o.timeout = secs(&value("--timeout")?)?,
                "--redial-max" => o.redial_max = secs(&value("--redial-max")?)?,
                "--answer" => {
                    let v = value("--answer")?;
                    let listen = v
                        .parse()
                        .map_err(|_| format!("--answer {v}: not an address:port"))?;
                    o.answer = Some(Answer {
                        listen,
                        called: Vec::new(),
                    });
                }
                "--called" => called.push(value("--called")?),
                "--ipv6" => o.ipv6 = true,
                "--dns" => o.dns = Some("/etc/resolv.conf".into()),
                "--dns-file" => o.dns = Some(value("--dns-file")?.into()),
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        match (&mut o.answer, called.is_empty()) {
            (Some(a), false) => a.called = called,
            (Some(_), true) => return Err("--answer needs at least one --called".into()),
            (None, false) => return Err("--called needs --answer".into()),
            (None, true) => {}
        }
        match (lns, user, password) {
            (false, _, _) => Err("--lns is required".into()),
            (_, false, _) => Err("--user is required".into()),
            (_, _, false) => Err("--password or --password-file is required".into()),
            _ if o.hide && o.secret.is_none() => Err("--hide needs --secret".into()),
            _ => Ok(o),
        }
    }
}

fn secs(v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or(format!("{v}: a number of seconds above 0"))
}

/// `a.b.c.d/len`, its host bits clear.
fn prefix(v: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("--route {v}: not an IPv4 prefix (a.b.c.d/len) or 'default'");
    let (a, l) = v.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0);
    if a.to_bits() & !mask != 0 {
        return Err(format!("--route {v}: host bits set"));
    }
    Ok((a, l))
}

/// Why the client stopped, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The command line.
    Usage(String),
    /// The LNS did not answer, refused, or is not routed.
    Unreachable(String),
    /// The tunnel secret was refused (StopCCN result 4, RFC 2661 §4.4.2),
    /// or the LNS's answer did not prove it knows ours.
    TunnelAuth(String),
    /// The LNS refused our PPP credentials, or no protocol was common.
    AuthRefused(String),
    /// The TUN interface could not be created.
    TunPermission(String),
    /// Anything else.
    Other(String),
}

impl Failure {
    /// The process exit status for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Other(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unreachable(_) => 3,
            Failure::TunnelAuth(_) => 4,
            Failure::AuthRefused(_) => 5,
            Failure::TunPermission(_) => 6,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "{m} (see --help)"),
            Failure::Unreachable(m) => write!(f, "LNS unreachable: {m}"),
            Failure::TunnelAuth(m) => write!(f, "tunnel authentication failed: {m}"),
            Failure::AuthRefused(m) => write!(f, "authentication refused: {m}"),
            Failure::TunPermission(m) => write!(f, "cannot create the TUN interface: {m}"),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

/// How one attempt ended.
enum Ended {
    /// SIGINT or SIGTERM: the call and tunnel were cleared.
    Stopped,
    /// The session went down, or never came up.
    Failed(Failure),
}

/// The session's interface and the routes added through it.
struct Up {
    key: SessionKey,
    address: Address,
    routes: Vec<Route>,
    /// The resolv.conf we replaced, and what it held.
    resolv: Option<(std::path::PathBuf, Vec<u8>)>,
    /// The IPv6 link-local address, once IPv6CP opened.
    link_local: Option<Address>,
    since: Instant,
}

/// Runs until stopped by a signal, or until a first attempt fails.
pub async fn run(o: &Options) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let io = |e: std::io::Error| Failure::Other(format!("signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(io)?;
    let tun = open_tun(o)?;
    if let Some(a) = &o.answer {
        return answer(o, a, &tun, &mut term, &mut int).await;
    }
    let mut ever_up = false;
    let mut pause = Duration::from_secs(1);
    loop {
        let (ended, lasted) = attempt(o, &tun, &mut term, &mut int).await;
        let f = match ended {
            Ended::Stopped => return Ok(()),
            Ended::Failed(f) => f,
        };
        if let Some(lasted) = lasted {
            ever_up = true;
            if lasted > Duration::from_secs(60) {
                pause = Duration::from_secs(1);
            }
        }
        if !ever_up {
            return Err(f);
        }
        eprintln!("xlns-client: {f}; redialling in {}s", pause.as_secs());
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
        pause = (pause * 2).min(o.redial_max);
    }
}

/// The TUN interface, down and without an address until a session is up.
fn open_tun(o: &Options) -> Result<tun_rs::AsyncDevice, Failure> {
    tun_rs::DeviceBuilder::new()
        .name(&o.tun)
        .mtu(o.mru)
        .enable(false)
        .build_async()
        .map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied (run as root, or with CAP_NET_ADMIN)".to_string()
                }
                _ => e.to_string(),
            };
            Failure::TunPermission(format!("{}: {why}", o.tun))
        })
}

/// One tunnel and call, from dialling to its end; how long it was up.
async fn attempt(
    o: &Options,
    tun: &tun_rs::AsyncDevice,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> (Ended, Option<Duration>) {
    let mut up: Option<Up> = None;
    let ended = session(o, tun, term, int, &mut up).await;
    let lasted = up.as_ref().map(|u| u.since.elapsed());
    if let Some(u) = up.take() {
        take_down(tun, &u);
    }
    (ended, lasted)
}

fn take_down(tun: &tun_rs::AsyncDevice, u: &Up) {
    if let Some((path, old)) = &u.resolv
        && let Err(e) = std::fs::write(path, old)
    {
        tracing::warn!(file = %path.display(), error = %e, "resolv.conf not restored");
    }
    for r in u.routes.iter().rev() {
        if let Err(e) = r.delete() {
            tracing::warn!(route = %format!("{}/{}", r.dst, r.len), error = %e, "route not removed");
        }
    }
    if let Some(a) = u.link_local
        && let Err(e) = a.delete()
    {
        tracing::warn!(error = %e, "link-local address not removed");
    }
    if let Err(e) = u.address.delete() {
        tracing::warn!(error = %e, "address not removed");
    }
    let _ = tun.enabled(false);
}

/// The endpoint and PPP client for one attempt.
fn engine(o: &Options, seed: u64) -> Result<Lac, Failure> {
    let answering = o.answer.is_some();
    let policy = PeerPolicy {
        secret: o.secret.clone(),
        auth: if o.secret.is_some() {
            TunnelAuth::Required
        } else {
            TunnelAuth::Optional
        },
        hide_avps: o.hide,
        // Remote dial: the LNS opens the tunnel and asks for calls.
        accept_tunnels: answering,
        answer_outgoing_calls: answering,
        accept_incoming_calls: false,
        ..Default::default()
    };
    let endpoint = Endpoint::new(EndpointConfig {
        host_name: o.host_name.clone().into_bytes(),
        peers: vec![PeerRule {
            address: Some(o.lns.ip()),
            policy,
        }],
        // Each OCRQ is answered only once its Called Number is checked.
        defer_outgoing_answer: answering,
        ..Default::default()
    })
    .map_err(|e| Failure::Other(format!("no randomness: {e}")))?;
    let link = LinkConfig {
        lcp: LcpConfig {
            side: Side::Client,
            auth: o.auth.clone(),
            mru: Some(o.mru),
            ..Default::default()
        },
        ipv6: o.ipv6,
        ..Default::default()
    };
    Ok(Lac::new(
        endpoint,
        link,
        (o.user.clone().into_bytes(), o.password.clone()),
        seed,
    )
    .with_behaviour(LacBehaviour {
        ask_seq: o.sequencing,
        send_seq: o.sequencing,
        ..Default::default()
    }))
}

async fn session(
    o: &Options,
    tun: &tun_rs::AsyncDevice,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
    up: &mut Option<Up>,
) -> Ended {
    let fail = |f: Failure| Ended::Failed(f);
    let bind = o.local.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return fail(Failure::Other(format!("cannot bind {bind}: {e}"))),
    };
    if let Err(e) = sock.connect(o.lns).await {
        return fail(Failure::Unreachable(format!("{}: {e}", o.lns)));
    }
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(Failure::Other(e.to_string())),
    };
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    let mut lac = match engine(o, u64::from_le_bytes(seed)) {
        Ok(l) => l,
        Err(f) => return fail(f),
    };
    let started = Instant::now();
    let tunnel = match lac.open_tunnel(started, local, o.lns) {
        Ok(t) => t,
        Err(e) => return fail(Failure::Other(format!("cannot open a tunnel: {e:?}"))),
    };
    tracing::info!(lns = %o.lns, %local, "dialling");
    let mut tunnel_up = false;
    let mut call: Option<SessionKey> = None;
    let mut stopping: Option<Instant> = None;
    let mut io = Io::new(&sock, tun, local, Some(o.lns));
    loop {
        io.flush(&mut lac).await;
        while let Some(ev) = lac.poll_event() {
            match ev {
                LacEvent::L2tp(Event::TunnelUp { .. }) => {
                    tunnel_up = true;
                    let creds = (o.user.clone().into_bytes(), o.password.clone());
                    let params = CallParams {
                        sequencing_required: o.sequencing,
                        ..Default::default()
                    };
                    match lac.place_call(Instant::now(), tunnel, params, creds) {
                        Ok(k) => call = Some(k),
                        Err(e) => {
                            return fail(Failure::Other(format!("cannot place the call: {e:?}")));
                        }
                    }
                }
                LacEvent::SubscriberUp { key, ipv4, .. } => {
                    let Some(addr) = ipv4 else { continue };
                    match session_up(o, tun, &lac, key, addr) {
                        Ok(u) => *up = Some(u),
                        Err(f) => {
                            let now = Instant::now();
                            lac.hang_up(now, key);
                            lac.endpoint.shutdown(now);
                            io.flush(&mut lac).await;
                            return fail(f);
                        }
                    }
                }
                // The address is the LNS's to route; the TUN keeps its
                // link-local one (global IPv6 on the TUN is not built).
                LacEvent::Ipv6Configured { address, .. } => {
                    tracing::info!(%address, "IPv6 address from the LNS's Router Advertisement");
                }
                LacEvent::PrefixDelegated { prefix, .. } => {
                    tracing::info!(%prefix, "prefix delegated by the LNS's DHCPv6");
                }
                LacEvent::Packet { key, packet, .. } => {
                    if up.as_ref().is_some_and(|u| u.key == key)
                        && let Err(e) = tun.send(&packet).await
                    {
                        tracing::debug!(error = %e, "TUN write failed");
                    }
                }
                LacEvent::SubscriberDown { cause, .. } | LacEvent::SetupFailed { cause, .. } => {
                    if stopping.is_none() {
                        return fail(ppp_failure(o, &cause));
                    }
                }
                LacEvent::L2tp(Event::SessionDown { cause, .. }) if stopping.is_none() => {
                    return fail(Failure::Other(format!(
                        "the LNS cleared the call: {}",
                        cause.describe()
                    )));
                }
                LacEvent::L2tp(Event::TunnelDown { cause, .. }) => {
                    if stopping.is_some() {
                        return Ended::Stopped;
                    }
                    return fail(tunnel_failure(&cause, tunnel_up));
                }
                LacEvent::L2tp(_) => {}
            }
        }
        link_local(o, &lac, up);
        if let Some(at) = stopping
            && (lac.endpoint.is_drained() || at.elapsed() > Duration::from_secs(3))
        {
            return Ended::Stopped;
        }
        if up.is_none() && stopping.is_none() && started.elapsed() > o.timeout {
            lac.endpoint.shutdown(Instant::now());
            io.flush(&mut lac).await;
            let what = if tunnel_up {
                "the session did not come up"
            } else {
                "no answer"
            };
            return fail(Failure::Unreachable(format!(
                "{}: {what} within {}s",
                o.lns,
                o.timeout.as_secs()
            )));
        }
        let key = up.as_ref().map(|u| u.key);
        match io.wait(&mut lac, key, &mut stopping, term, int).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && !tunnel_up => {
                return fail(Failure::Unreachable(format!(
                    "{}: nothing listens there (ICMP port unreachable)",
                    o.lns
                )));
            }
            Err(e) => tracing::debug!(error = %e, "receive failed"),
            Ok(()) => {}
        }
        if call.is_none() && !tunnel_up && stopping.is_some() {
            return Ended::Stopped;
        }
    }
}

/// Remote dial: waits for the LNS's tunnel and outgoing calls; answers
/// one to a `called` number at a time with this profile's PPP session,
/// and waits again when it ends. Runs until SIGINT or SIGTERM.
async fn answer(
    o: &Options,
    a: &Answer,
    tun: &tun_rs::AsyncDevice,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> Result<(), Failure> {
    let sock = UdpSocket::bind(a.listen)
        .await
        .map_err(|e| Failure::Other(format!("cannot listen on {}: {e}", a.listen)))?;
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    let mut lac = engine(o, u64::from_le_bytes(seed))?;
    tracing::info!(listen = %a.listen, lns = %o.lns, "waiting for outgoing calls");
    println!("waiting for calls on {}", a.listen);
    let mut up: Option<Up> = None;
    let mut call: Option<SessionKey> = None;
    let mut stopping: Option<Instant> = None;
    let mut io = Io::new(&sock, tun, a.listen, None);
    loop {
        io.flush(&mut lac).await;
        while let Some(ev) = lac.poll_event() {
            match ev {
                LacEvent::L2tp(Event::OutgoingCallRequest { key, peer_avps, .. }) => {
                    let number = peer_avps.iter().find_map(|a| match a {
                        lns_protocol::l2tp::Avp::CalledNumber(n) => {
                            Some(String::from_utf8_lossy(n).into_owned())
                        }
                        _ => None,
                    });
                    let now = Instant::now();
                    let ours = number.as_ref().is_some_and(|n| a.called.contains(n));
                    let result = if stopping.is_some() {
                        Some((CdnResult::TemporaryNoFacilities, "shutting down"))
                    } else if !ours {
                        Some((
                            CdnResult::InvalidDestination,
                            "no dial-out profile for that number",
                        ))
                    } else if call.is_some() {
                        Some((CdnResult::Busy, "this profile's session is up"))
                    } else {
                        None
                    };
                    match result {
                        None => {
                            println!("answering a call to {}", number.unwrap_or_default());
                            call = Some(key);
                            lac.with_endpoint(now, |e| e.answer_outgoing(now, key, o.sequencing));
                        }
                        Some((r, why)) => {
                            tracing::info!(called = ?number, reason = why, "outgoing call refused");
                            let rc = ResultCode::cdn(r, None, why);
                            lac.with_endpoint(now, |e| e.disconnect(now, key, rc, None));
                        }
                    }
                }
                LacEvent::SubscriberUp { key, ipv4, .. } => {
                    let Some(addr) = ipv4 else { continue };
                    match session_up(o, tun, &lac, key, addr) {
                        Ok(u) => up = Some(u),
                        Err(f) => {
                            eprintln!("xlns-client: {f}");
                            lac.hang_up(Instant::now(), key);
                        }
                    }
                }
                // The address is the LNS's to route; the TUN keeps its
                // link-local one (global IPv6 on the TUN is not built).
                LacEvent::Ipv6Configured { address, .. } => {
                    tracing::info!(%address, "IPv6 address from the LNS's Router Advertisement");
                }
                LacEvent::PrefixDelegated { prefix, .. } => {
                    tracing::info!(%prefix, "prefix delegated by the LNS's DHCPv6");
                }
                LacEvent::Packet { key, packet, .. } => {
                    if up.as_ref().is_some_and(|u| u.key == key)
                        && let Err(e) = tun.send(&packet).await
                    {
                        tracing::debug!(error = %e, "TUN write failed");
                    }
                }
                LacEvent::SubscriberDown { key, cause } | LacEvent::SetupFailed { key, cause } => {
                    end_call(tun, &mut up, &mut call, key, &cause.to_string());
                }
                LacEvent::L2tp(Event::SessionDown { key, cause }) => {
                    end_call(tun, &mut up, &mut call, key, &cause.describe());
                }
                LacEvent::L2tp(Event::TunnelDown { tunnel, .. }) => {
                    if let Some(k) = call.filter(|k| k.tunnel == tunnel) {
                        end_call(tun, &mut up, &mut call, k, "tunnel down");
                    }
                }
                LacEvent::L2tp(_) => {}
            }
        }
        link_local(o, &lac, &mut up);
        if let Some(at) = stopping
            && (lac.endpoint.is_drained() || at.elapsed() > Duration::from_secs(3))
        {
            if let Some(u) = up.take() {
                take_down(tun, &u);
            }
            return Ok(());
        }
        let key = up.as_ref().map(|u| u.key);
        if let Err(e) = io.wait(&mut lac, key, &mut stopping, term, int).await {
            tracing::debug!(error = %e, "receive failed");
        }
    }
}

/// The answered call `key` ended: its interface comes down, and the
/// profile waits for the next call.
fn end_call(
    tun: &tun_rs::AsyncDevice,
    up: &mut Option<Up>,
    call: &mut Option<SessionKey>,
    key: SessionKey,
    why: &str,
) {
    if *call != Some(key) {
        return;
    }
    *call = None;
    if let Some(u) = up.take() {
        take_down(tun, &u);
    }
    println!("call ended: {why}");
}

/// The client's sockets and buffers, shared by dialling and answering:
/// the UDP socket toward the LNS (connected when dialling), the TUN, and
/// the datagrams waiting to leave.
struct Io<'a> {
    sock: &'a UdpSocket,
    tun: &'a tun_rs::AsyncDevice,
    /// Our address, as the engine knows it.
    local: SocketAddr,
    /// The LNS the socket is connected to (dialling); `None`: it is not
    /// connected (answering), datagrams come from anywhere and the
    /// engine's peer policy judges them.
    connected: Option<SocketAddr>,
    rx: batch::RecvBufs,
    send_bufs: batch::SendBufs,
    tx: Vec<u8>,
    /// Datagrams waiting to leave: payload, and the destination when the
    /// socket is not connected.
    out: Vec<(Vec<u8>, Option<SocketAddr>)>,
}

impl<'a> Io<'a> {
    fn new(
        sock: &'a UdpSocket,
        tun: &'a tun_rs::AsyncDevice,
        local: SocketAddr,
        connected: Option<SocketAddr>,
    ) -> Io<'a> {
        Io {
            sock,
            tun,
            local,
            connected,
            rx: batch::RecvBufs::default(),
            send_bufs: batch::SendBufs::default(),
            tx: vec![0u8; 65_536],
            out: Vec::new(),
        }
    }

    /// Sends what waits and what the engine has queued, several
    /// datagrams per system call.
    async fn flush(&mut self, lac: &mut Lac) {
        let addressed = self.connected.is_none();
        while let Some(t) = lac.poll_transmit() {
            self.out.push((t.payload, addressed.then_some(t.peer)));
        }
        if let Err(e) = batch::send(self.sock, &mut self.send_bufs, &mut self.out).await {
            // UDP: a lost datagram, as if the network lost it (PPP and
            // the control channel retransmit; TCP inside does too).
            tracing::debug!(error = %e, lost = self.out.len(), "send failed");
            self.out.clear();
        }
    }

    /// Waits for the next thing to do and does it: datagrams from the LNS
    /// to the engine, the session's packets from the TUN (`key`, once
    /// up) framed to go, the engine's timers, a signal (stops it). A
    /// receive error is the caller's to judge.
    async fn wait(
        &mut self,
        lac: &mut Lac,
        key: Option<SessionKey>,
        stopping: &mut Option<Instant>,
        term: &mut tokio::signal::unix::Signal,
        int: &mut tokio::signal::unix::Signal,
    ) -> std::io::Result<()> {
        let wake = lac
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
            .min(Instant::now() + Duration::from_secs(1));
        tokio::select! {
            r = batch::recv(self.sock, &mut self.rx) => {
                r?;
                let now = Instant::now();
                for (from, bytes) in self.rx.iter() {
                    if let Some(from) = self.connected.or(from) {
                        lac.handle(now, self.local, from, bytes);
                    }
                }
            }
            r = self.tun.recv(&mut self.tx), if key.is_some() => {
                if let (Ok(n), Some(k)) = (r, key) {
                    self.tun_burst(lac, k, n);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => lac.on_timeout(Instant::now()),
            _ = term.recv(), if stopping.is_none() => {
                *stopping = Some(Instant::now());
                lac.endpoint.shutdown(Instant::now());
            }
            _ = int.recv(), if stopping.is_none() => {
                *stopping = Some(Instant::now());
                lac.endpoint.shutdown(Instant::now());
            }
        }
        Ok(())
    }

    /// The packet just read from the TUN (`n` bytes) and those right
    /// behind it, up to a batch, framed for the session to go.
    fn tun_burst(&mut self, lac: &mut Lac, key: SessionKey, n: usize) {
        let addressed = self.connected.is_none();
        let mut n = n;
        for taken in 1.. {
            if let Some(t) = self.tx.get(..n).and_then(|p| lac.send_ip(key, p)) {
                self.out.push((t.payload, addressed.then_some(t.peer)));
            }
            if taken == batch::BATCH {
                break;
            }
            match self.tun.try_recv(&mut self.tx) {
                Ok(m) => n = m,
                Err(_) => break,
            }
        }
    }
}

/// The subscriber `key` is up with `addr`: the TUN takes the session
/// (MTU: the smaller of our MRU and the LNS's), and says so on stdout.
fn session_up(
    o: &Options,
    tun: &tun_rs::AsyncDevice,
    lac: &Lac,
    key: SessionKey,
    addr: Ipv4Addr,
) -> Result<Up, Failure> {
    let mtu = lac.peer_mru(key).unwrap_or(o.mru).min(o.mru);
    let u = bring_up(o, tun, key, addr, mtu, lac.dns(key))?;
    println!("connected: {addr} on {} (MTU {mtu})", o.tun);
    tracing::info!(address = %addr, tun = %o.tun, mtu, "session up");
    Ok(u)
}

/// The session's address and MTU on the TUN, then its routes.
fn bring_up(
    o: &Options,
    tun: &tun_rs::AsyncDevice,
    key: SessionKey,
    addr: Ipv4Addr,
    mtu: u16,
    dns: [Option<Ipv4Addr>; 2],
) -> Result<Up, Failure> {
    let io = |what: &str, e: std::io::Error| Failure::Other(format!("{}: {what}: {e}", o.tun));
    tun.set_mtu(mtu).map_err(|e| io("MTU", e))?;
    let oif = crate::dataplane::kernel::ifindex(&o.tun)
        .ok_or_else(|| Failure::Other(format!("{}: no interface index", o.tun)))?;
    let address = Address {
        index: oif,
        local: addr.into(),
        len: 32,
        peer: None,
    };
    address.add().map_err(|e| io("address", e))?;
    tun.enabled(true).map_err(|e| io("up", e))?;
    let mut u = Up {
        key,
        address,
        routes: Vec::new(),
        resolv: None,
        link_local: None,
        since: Instant::now(),
    };
    // Traffic to the LNS must not enter its own tunnel: pin the route to
    // it before routing everything through the session.
    let everything = o.routes.iter().any(|(_, l)| *l <= 1);
    if let (true, SocketAddr::V4(lns)) = (everything, o.lns)
        && let Some((via, lns_oif)) = netlink::route_get(*lns.ip())
        && lns_oif != oif
    {
        let pin = Route {
            dst: *lns.ip(),
            len: 32,
            gateway: (via != *lns.ip()).then_some(via),
            oif: lns_oif,
        };
        match pin.add() {
            Ok(()) => u.routes.push(pin),
            // Already pinned (by the operator): theirs, left alone.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                take_down(tun, &u);
                return Err(io("route to the LNS", e));
            }
        }
    }
    for &(dst, len) in &o.routes {
        let r = Route {
            dst,
            len,
            gateway: None,
            oif,
        };
        if let Err(e) = r.add() {
            take_down(tun, &u);
            return Err(io(&format!("route {dst}/{len}"), e));
        }
        u.routes.push(r);
    }
    if let Some(path) = &o.dns {
        let servers: Vec<Ipv4Addr> = dns.into_iter().flatten().collect();
        if servers.is_empty() {
            tracing::warn!("--dns: the LNS gave no DNS servers; resolv.conf left alone");
        } else {
            let old = std::fs::read(path).unwrap_or_default();
            let mut text = format!("# written by xlns-client for the session on {}\n", o.tun);
            for s in servers {
                text.push_str(&format!("nameserver {s}\n"));
            }
            if let Err(e) = std::fs::write(path, text) {
                take_down(tun, &u);
                return Err(io(&format!("--dns {}", path.display()), e));
            }
            u.resolv = Some((path.clone(), old));
        }
    }
    Ok(u)
}

/// Once IPv6CP has opened: the link-local address fe80::ID/64 from its
/// interface identifier (RFC 5072 §5) on the TUN, said on stdout.
fn link_local(o: &Options, lac: &Lac, up: &mut Option<Up>) {
    let Some(u) = up.as_mut().filter(|u| o.ipv6 && u.link_local.is_none()) else {
        return;
    };
    let Some(id) = lac.ipv6_id(u.key) else {
        return;
    };
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&id);
    let ll = Address {
        index: u.address.index,
        local: std::net::Ipv6Addr::from(a).into(),
        len: 64,
        peer: None,
    };
    match ll.add() {
        Ok(()) => {
            println!("ipv6: {} on {}", ll.local, o.tun);
            u.link_local = Some(ll);
        }
        Err(e) => tracing::warn!(error = %e, "link-local address not added"),
    }
}

/// Why PPP ended, as the user should read it.
fn ppp_failure(o: &Options, cause: &DownCause) -> Failure {
    match cause {
        DownCause::AuthFailed(m) => Failure::AuthRefused(format!(
            "the LNS refused user {:?}{}",
            o.user,
            if m.is_empty() {
                String::new()
            } else {
                format!(": {m}")
            }
        )),
        DownCause::AuthRefused => Failure::AuthRefused(
            "no authentication protocol in common with the LNS (see --auth)".into(),
        ),
        // The table's text speaks as an LNS ("by the LAC"); here the
        // peer is the LNS.
        DownCause::CallCleared => Failure::Other("the LNS cleared the call".into()),
        other => Failure::Other(format!("PPP ended: {other}")),
    }
}

/// Why the tunnel ended, as the user should read it.
fn tunnel_failure(cause: &TunnelCause, was_up: bool) -> Failure {
    const NOT_AUTHORIZED: u16 = 4;
    match cause {
        TunnelCause::PeerStopCcn(r) | TunnelCause::LocalStopCcn(r)
            if r.result == NOT_AUTHORIZED =>
        {
            Failure::TunnelAuth(format!(
                "check --secret ({})",
                String::from_utf8_lossy(&r.message)
            ))
        }
        TunnelCause::Timeout if !was_up => Failure::Unreachable("no answer".into()),
        other => Failure::Other(format!("tunnel down: {}", other.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::{Failure, Options};

    fn parse(args: &str) -> Result<Options, String> {
        Options::parse(args.split_whitespace().map(String::from))
    }

    #[test]
    fn the_command_line_is_checked() {
        let o = parse("--lns 192.0.2.1 --user u --password p --route default --route 10.0.0.0/8")
            .unwrap();
        assert_eq!(o.lns, "192.0.2.1:1701".parse().unwrap());
        assert_eq!(o.routes.len(), 3);
        assert!(parse("--user u --password p").is_err());
        assert!(parse("--lns 192.0.2.1 --password p").is_err());
        assert!(parse("--lns 192.0.2.1 --user u --password p --hide").is_err());
        let e = parse("--lns 192.0.2.1 --user u --password p --route 10.0.0.1/8").unwrap_err();
        assert!(e.contains("host bits"), "{e}");
        assert!(parse("--lns x --user u --password p").is_err());
        assert!(parse("--lns 192.0.2.1 --user u --password p --auth chap,eap").is_err());
        assert!(parse("--lns 192.0.2.1 --user u --password p --bogus").is_err());
    }

    #[test]
    fn each_failure_has_its_own_exit_status() {
        let all = [
            Failure::Other(String::new()),
            Failure::Usage(String::new()),
            Failure::Unreachable(String::new()),
            Failure::TunnelAuth(String::new()),
            Failure::AuthRefused(String::new()),
            Failure::TunPermission(String::new()),
        ];
        let mut codes: Vec<u8> = all.iter().map(Failure::exit_code).collect();
        codes.dedup();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6]);
    }
}
