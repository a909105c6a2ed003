//! `lnsctl`: the command-line client of lnsd's admin API
//! (`proto/xlns/admin/v1/admin.proto`). Every RPC is a subcommand; output
//! is a readable table, or JSON with `--json` for scripts.
//!
//! Exit status: 0 done, 1 the request failed (lnsd's reason is printed),
//! 2 bad usage, 3 lnsd could not be reached. When the reader of its output
//! goes away (`lnsctl stats | head`, `lnsctl events | grep -m1 ...`),
//! lnsctl stops at once, quietly, with 0: the rest was not wanted, which is
//! not a failure of lnsctl's (a `set -o pipefail` script stays green).

use lns_daemon::admin::pb;
use pb::admin_client::AdminClient;
use std::process::ExitCode;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Prints a line on stdout, ending lnsctl when nobody reads it any more
/// (see the exit status above); `println!` would panic instead.
macro_rules! out {
    () => {
        emit(format_args!(""))
    };
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

/// Prints a line on stderr; a closed stderr leaves nobody to tell, where
/// `eprintln!` would panic.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // Rust ignores SIGPIPE, so a vanished reader shows up here as EPIPE.
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        err!("lnsctl: writing the output: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "\
usage: lnsctl [--server URL] [--token-file FILE] [--ca FILE] [--json] COMMAND

  tunnels                                 every tunnel
  tunnel ID                               one tunnel
  tunnel clear ID [--code N] [--message TEXT]
                                          StopCCN with result code N (1)
  sessions [--user U] [--tunnel ID] [--address A[/LEN]] [--state up|setup]
           [--page-size N] [--page TOKEN] one page (all pages without --page-size)
  session TUNNEL/SESSION                  one session, with data-plane counters
  session kill TUNNEL/SESSION [--cause TEXT]
  session rate TUNNEL/SESSION [--down SPEED] [--up SPEED]
                                          set a session's rates (20M, 512k, none)
                                          LCP Terminate, then CDN to the LAC
  dial LAC[:PORT] [--called NUMBER] [--timeout SECS]
                                          outgoing call (OCRQ) through that LAC
  switched                                multi-hop gateway: both legs of each
                                          switched call, targets held down
  stats                                   counters: L2TP, engine, data plane
  reload                                  re-read lnsd's configuration file
  events                                  stream tunnel and session events

  --server   lnsd's admin address (http://127.0.0.1:50051; https:// for TLS)
  --token-file  a file holding the bearer token (or LNSCTL_TOKEN)
  --ca       the CA certificate (PEM) that signed lnsd's, for https://";

struct Opts {
    server: String,
    token: Option<String>,
    ca: Option<String>,
    json: bool,
    rest: Vec<String>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        server: "http://127.0.0.1:50051".into(),
        token: std::env::var("LNSCTL_TOKEN").ok(),
        ca: None,
        json: false,
        rest: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--server" => o.server = val()?,
            "--token-file" => {
                let p = val()?;
                let t = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
                o.token = Some(t.trim().to_string());
            }
            "--ca" => o.ca = Some(val()?),
            "--json" => o.json = true,
            "-h" | "--help" => {
                out!("{USAGE}");
                std::process::exit(0);
            }
            _ => o.rest.push(a),
        }
    }
    if o.rest.is_empty() {
        return Err(USAGE.into());
    }
    Ok(o)
}

/// Pulls `--flag VALUE` out of `args`.
fn flag(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let Some(i) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    if i + 1 >= args.len() {
        return Err(format!("{name} needs a value"));
    }
    let v = args.remove(i + 1);
    args.remove(i);
    Ok(Some(v))
}

fn number(v: Option<String>, what: &str) -> Result<u32, String> {
    v.map_or(Ok(0), |s| {
        s.parse().map_err(|_| format!("{what} {s}: not a number"))
    })
}

fn key(s: &str) -> Result<(u32, u32), String> {
    let (t, k) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: sessions are named TUNNEL/SESSION (lnsctl sessions)"))?;
    Ok((
        t.parse().map_err(|_| format!("{s}: bad tunnel id"))?,
        k.parse().map_err(|_| format!("{s}: bad session id"))?,
    ))
}

enum Fail {
    Usage(String),
    Unreachable(String),
    Rpc(String),
}

fn rpc(s: tonic::Status) -> Fail {
    match s.code() {
        tonic::Code::Unavailable => {
            Fail::Unreachable(format!("lnsd is not reachable: {}", s.message()))
        }
        tonic::Code::Unauthenticated => {
            Fail::Rpc(format!("refused: {} (give --token-file)", s.message()))
        }
        _ => Fail::Rpc(s.message().to_string()),
    }
}

async fn connect(o: &Opts) -> Result<Channel, Fail> {
    let mut ep = Endpoint::from_shared(o.server.clone())
        .map_err(|e| Fail::Usage(format!("--server {}: {e}", o.server)))?
        .connect_timeout(std::time::Duration::from_secs(3));
    if o.server.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &o.ca {
            let pem = std::fs::read(ca).map_err(|e| Fail::Usage(format!("{ca}: {e}")))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        ep = ep
            .tls_config(tls)
            .map_err(|e| Fail::Usage(format!("TLS: {e}")))?;
    }
    ep.connect().await.map_err(|e| {
        let cause = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
        Fail::Unreachable(format!(
            "cannot reach lnsd at {}: {cause} (is lnsd running, and is this its [admin] listen?)",
            o.server
        ))
    })
}

fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = w[i]))
            .collect();
        out!("{}", s.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => out!("{s}"),
        Err(e) => err!("lnsctl: {e}"),
    }
}

/// A rate as operators write it, or "none".
fn rate_text(r: Option<&pb::Rate>) -> String {
    r.map_or("none".into(), |r| {
        format!(
            "{} (burst {} B)",
            lns_protocol::aaa::rate::speed(r.bits_per_sec),
            r.burst_bytes
        )
    })
}

fn session_rows(s: &[pb::Session]) -> Vec<Vec<String>> {
    s.iter()
        .map(|s| {
            vec![
                format!("{}/{}", s.tunnel, s.session),
                s.user.clone(),
                s.ipv4.clone(),
                s.state.clone(),
                s.ppp_phase.clone(),
                s.peer.clone(),
                s.uptime_secs.to_string(),
                // "-": no data plane counts this session.
                s.counters.map_or("-".into(), |c| {
                    format!("{}/{}", c.packets_up, c.packets_down)
                }),
            ]
        })
        .collect()
}

const SESSION_HEADER: [&str; 8] = [
    "ID",
    "USER",
    "IPV4",
    "STATE",
    "PPP",
    "LAC",
    "UP(s)",
    "PKTS UP/DOWN",
];

fn sorted(m: &std::collections::HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort();
    v
}

async fn run(o: Opts) -> Result<(), Fail> {
    let mut args = o.rest.clone();
    let cmd = args.remove(0);
    let ch = connect(&o).await?;
    let token = o.token.clone();
    let mut c = AdminClient::with_interceptor(ch, move |mut r: tonic::Request<()>| {
        if let Some(t) = &token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        Ok(r)
    });
    let usage = |m: String| Fail::Usage(m);
    match (cmd.as_str(), args.first().map(String::as_str)) {
        ("tunnels", None) => {
            let r = c
                .list_tunnels(pb::ListTunnelsRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&r);
                return Ok(());
            }
            table(
                &[
                    "ID",
                    "PEER ID",
                    "PEER",
                    "HOST NAME",
                    "ROLE",
                    "STATE",
                    "SESSIONS",
                    "UP",
                ],
                r.tunnels
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.peer_id.to_string(),
                            t.peer.clone(),
                            t.peer_host_name.clone(),
                            t.role.clone(),
                            t.state.clone(),
                            t.sessions.to_string(),
                            t.subscribers_up.to_string(),
                        ]
                    })
                    .collect(),
            );
        }
        ("tunnel", Some("clear")) => {
            let code =
                number(flag(&mut args, "--code").map_err(usage)?, "--code").map_err(usage)?;
            let message = flag(&mut args, "--message")
                .map_err(usage)?
                .unwrap_or_default();
            let id = number(args.get(1).cloned(), "tunnel id").map_err(usage)?;
            if args.len() != 2 || id == 0 {
                return Err(usage("tunnel clear ID [--code N] [--message TEXT]".into()));
            }
            let r = c
                .clear_tunnel(pb::ClearTunnelRequest {
                    id,
                    result_code: code,
                    message,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&r);
            } else {
                out!(
                    "tunnel {id}: StopCCN sent, {} sessions cleared",
                    r.sessions_cleared
                );
            }
        }
        ("tunnel", Some(id)) if args.len() == 1 => {
            let id = number(Some(id.to_string()), "tunnel id").map_err(usage)?;
            let t = c
                .get_tunnel(pb::GetTunnelRequest { id })
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&t);
            } else {
                for (k, v) in [
                    ("id", t.id.to_string()),
                    ("peer id", t.peer_id.to_string()),
                    ("local", t.local),
                    ("peer", t.peer),
                    ("role", t.role),
                    ("state", t.state),
                    ("peer host name", t.peer_host_name),
                    ("peer vendor", t.peer_vendor),
                    ("sessions", t.sessions.to_string()),
                    ("subscribers up", t.subscribers_up.to_string()),
                ] {
                    out!("{k:<16}{v}");
                }
            }
        }
        ("sessions", _) => {
            let user = flag(&mut args, "--user")
                .map_err(usage)?
                .unwrap_or_default();
            let tunnel =
                number(flag(&mut args, "--tunnel").map_err(usage)?, "--tunnel").map_err(usage)?;
            let address = flag(&mut args, "--address")
                .map_err(usage)?
                .unwrap_or_default();
            let state = flag(&mut args, "--state")
                .map_err(usage)?
                .unwrap_or_default();
            let size = flag(&mut args, "--page-size").map_err(usage)?;
            let page = flag(&mut args, "--page").map_err(usage)?;
            if let Some(extra) = args.first() {
                return Err(usage(format!("sessions: unexpected {extra}")));
            }
            let one_page = size.is_some() || page.is_some();
            let mut q = pb::ListSessionsRequest {
                user,
                tunnel,
                address,
                state,
                page_size: number(size, "--page-size").map_err(usage)?,
                page_token: page.unwrap_or_default(),
            };
            let mut all = Vec::new();
            let mut next;
            let mut total;
            loop {
                let r = c.list_sessions(q.clone()).await.map_err(rpc)?.into_inner();
                all.extend(r.sessions);
                next = r.next_page_token;
                total = r.total;
                if one_page || next.is_empty() {
                    break;
                }
                q.page_token = next.clone();
            }
            if o.json {
                print_json(&pb::ListSessionsResponse {
                    sessions: all,
                    next_page_token: next,
                    total,
                });
                return Ok(());
            }
            table(&SESSION_HEADER, session_rows(&all));
            if !next.is_empty() {
                out!("({} of {total}; next page: --page {next})", all.len());
            }
        }
        ("session", Some("kill")) => {
            let cause = flag(&mut args, "--cause")
                .map_err(usage)?
                .unwrap_or_default();
            let Some(id) = args.get(1) else {
                return Err(usage("session kill TUNNEL/SESSION [--cause TEXT]".into()));
            };
            let (tunnel, session) = key(id).map_err(usage)?;
            c.disconnect_session(pb::DisconnectSessionRequest {
                tunnel,
                session,
                cause,
            })
            .await
            .map_err(rpc)?;
            if o.json {
                print_json(&pb::DisconnectSessionResponse {});
            } else {
                out!("session {tunnel}/{session}: disconnecting");
            }
        }
        ("session", Some("rate")) => {
            let down = flag(&mut args, "--down")
                .map_err(usage)?
                .unwrap_or_default();
            let up = flag(&mut args, "--up").map_err(usage)?.unwrap_or_default();
            let (Some(id), true) = (args.get(1), !(up.is_empty() && down.is_empty())) else {
                return Err(usage(
                    "session rate TUNNEL/SESSION [--down SPEED] [--up SPEED]".into(),
                ));
            };
            let (tunnel, session) = key(id).map_err(usage)?;
            let s = c
                .set_session_rate(pb::SetSessionRateRequest {
                    tunnel,
                    session,
                    up,
                    down,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&s);
            } else {
                out!(
                    "session {tunnel}/{session}: rate down {}, up {}",
                    rate_text(s.rate_down.as_ref()),
                    rate_text(s.rate_up.as_ref())
                );
            }
        }
        ("session", Some(id)) if args.len() == 1 => {
            let (tunnel, session) = key(id).map_err(usage)?;
            let s = c
                .get_session(pb::GetSessionRequest { tunnel, session })
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&s);
            } else {
                let cnt = s.counters;
                for (k, v) in [
                    ("id", format!("{}/{}", s.tunnel, s.session)),
                    ("LAC ids", format!("{}/{}", s.peer_tunnel, s.peer_session)),
                    ("LAC", s.peer.clone()),
                    ("user", s.user.clone()),
                    ("IPv4", s.ipv4.clone()),
                    ("IPv6 interface", s.ipv6_interface_id.clone()),
                    ("IPv6 prefix", s.ipv6_prefix.clone()),
                    ("delegated", s.delegated_prefix.clone()),
                    ("state", s.state.clone()),
                    ("PPP phase", s.ppp_phase.clone()),
                    ("up (s)", s.uptime_secs.to_string()),
                    ("rate down", rate_text(s.rate_down.as_ref())),
                    ("rate up", rate_text(s.rate_up.as_ref())),
                ] {
                    out!("{k:<16}{v}");
                }
                match cnt {
                    Some(c) => out!(
                        "{:<16}up {} packets {} bytes, down {} packets {} bytes, {} dropped \
                         ({} up, {} down over the rate)",
                        "data plane",
                        c.packets_up,
                        c.bytes_up,
                        c.packets_down,
                        c.bytes_down,
                        c.drops,
                        c.rate_limited_up,
                        c.rate_limited_down
                    ),
                    None => out!("{:<16}not forwarding (no data plane)", "data plane"),
                }
            }
        }
        ("switched", None) => {
            let r = c
                .list_switched(pb::ListSwitchedRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&r);
                return Ok(());
            }
            let ids = |l: &Option<pb::SwitchedLeg>| {
                l.as_ref().map_or("-".to_string(), |l| {
                    format!(
                        "{}/{} {} {}/{}{}",
                        l.tunnel,
                        l.session,
                        l.peer,
                        l.peer_tunnel,
                        l.peer_session,
                        if l.sequencing { " seq" } else { "" }
                    )
                })
            };
            let frames = |l: &Option<pb::SwitchedLeg>| {
                l.as_ref()
                    .and_then(|l| l.counters)
                    .map_or("-".to_string(), |c| {
                        format!("{}/{}", c.packets_up, c.bytes_up)
                    })
            };
            table(
                &[
                    "LAC LEG (OURS PEER THEIRS)",
                    "LNS LEG",
                    "USER",
                    "STATE",
                    "UP(S)",
                    "LAC->LNS PKTS/BYTES",
                    "LNS->LAC PKTS/BYTES",
                ],
                r.calls
                    .iter()
                    .map(|x| {
                        vec![
                            ids(&x.lac_leg),
                            ids(&x.lns_leg),
                            x.user.clone(),
                            x.state.clone(),
                            x.uptime_secs.to_string(),
                            frames(&x.lac_leg),
                            frames(&x.lns_leg),
                        ]
                    })
                    .collect(),
            );
            for h in &r.held {
                out!(
                    "held down: {} for {} s more ({} failures)",
                    h.endpoint,
                    h.remaining_secs,
                    h.failures
                );
            }
        }
        ("dial", Some(lac)) => {
            let lac = lac.to_string();
            let called = flag(&mut args, "--called")
                .map_err(usage)?
                .unwrap_or_default();
            let timeout =
                number(flag(&mut args, "--timeout").map_err(usage)?, "--timeout").map_err(usage)?;
            let r = c
                .dial(pb::DialRequest {
                    lac,
                    called_number: called,
                    timeout_secs: timeout,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&r);
            } else {
                out!("call {}/{}: {}", r.tunnel, r.session, r.outcome);
            }
            if !r.connected {
                return Err(Fail::Rpc(format!(
                    "the call did not connect: {}",
                    r.outcome
                )));
            }
        }
        ("stats", None) => {
            let s = c
                .get_stats(pb::GetStatsRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&s);
                return Ok(());
            }
            out!(
                "tunnels {}  sessions {}  subscribers up {}  data plane {}",
                s.tunnels,
                s.sessions,
                s.subscribers_up,
                if s.dataplane_mode.is_empty() {
                    "off"
                } else {
                    &s.dataplane_mode
                }
            );
            let nonzero = |m: &std::collections::HashMap<String, u64>| {
                sorted(m)
                    .into_iter()
                    .filter(|(_, v)| *v > 0)
                    .map(|(k, v)| vec![k, v.to_string()])
                    .collect::<Vec<_>>()
            };
            for (name, m) in [
                ("L2TP", &s.l2tp),
                ("ENGINE", &s.engine),
                ("XDP", &s.xdp),
                ("DROPS", &s.drops),
            ] {
                let rows = nonzero(m);
                if !rows.is_empty() {
                    out!();
                    table(&[name, "COUNT"], rows);
                }
            }
            for w in &s.workers {
                out!();
                table(
                    &[&format!("WORKER {}", w.worker), "COUNT"],
                    nonzero(&w.counters),
                );
            }
            if !s.per_tunnel.is_empty() {
                out!();
                table(
                    &["TUNNEL", "SESSIONS", "UP", "PKTS UP", "PKTS DOWN", "DROPS"],
                    s.per_tunnel
                        .iter()
                        .map(|t| {
                            let c = t.counters.unwrap_or_default();
                            vec![
                                t.tunnel.to_string(),
                                t.sessions.to_string(),
                                t.subscribers_up.to_string(),
                                c.packets_up.to_string(),
                                c.packets_down.to_string(),
                                c.drops.to_string(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        ("reload", None) => {
            let r = c
                .reload(pb::ReloadRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            if o.json {
                print_json(&r);
            } else {
                out!("reloaded:");
                for ch in &r.changes {
                    out!("  {ch}");
                }
            }
        }
        ("events", None) => {
            let mut s = c
                .watch_events(pb::WatchEventsRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            while let Some(e) = s.message().await.map_err(rpc)? {
                if o.json {
                    match serde_json::to_string(&e) {
                        Ok(j) => out!("{j}"),
                        Err(err) => err!("lnsctl: {err}"),
                    }
                } else {
                    let mut line = format!("{} {}", e.unix_ms, e.kind);
                    if e.tunnel != 0 {
                        line.push_str(&format!(" tunnel={}", e.tunnel));
                    }
                    if e.session != 0 {
                        line.push_str(&format!(" session={}", e.session));
                    }
                    for (k, v) in [
                        ("peer", &e.peer),
                        ("user", &e.user),
                        ("ipv4", &e.ipv4),
                        ("cause", &e.cause),
                    ] {
                        if !v.is_empty() {
                            line.push_str(&format!(" {k}={v:?}"));
                        }
                    }
                    out!("{line}");
                }
            }
        }
        _ => {
            return Err(usage(format!(
                "unknown command: {}\n{USAGE}",
                o.rest.join(" ")
            )));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            err!("lnsctl: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            err!("lnsctl: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            err!("lnsctl: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Rpc(m)) => {
            err!("lnsctl: {m}");
            ExitCode::from(1)
        }
        Err(Fail::Unreachable(m)) => {
            err!("lnsctl: {m}");
            ExitCode::from(3)
        }
    }
}
