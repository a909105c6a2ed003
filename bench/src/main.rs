//! `lns-bench`: benchmark an LNS the way a BNG tester does, with real L2TP
//! and PPP (DESIGN §3, `bench/`).
//!
//! Subcommands: `sessions` (setup rate, latency, failures, churn),
//! `traffic` (AF_XDP probes both ways: rate, loss, latency), `demo` (the
//! whole product in a lab of network namespaces) and `export` (frames and
//! generator profiles for benchmarking on real NICs).

mod demo;
mod export;
mod probe;
mod sessions;
mod traffic;

use lns_dataplane::loader::AttachMode;
use lns_protocol::ppp::lcp::AuthProtocol;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const USAGE: &str = "\
usage:
  lns-bench demo [--sessions N] [--tunnels N] [--setup-rate CALLS_PER_S]
         [--rate PPS|max] [--size 64|512|imix|BYTES] [--duration SECS]
         [--capacity SECS] [--polling wakeup|busy] [--ipv6] [--json FILE]
      The whole product in a lab of network namespaces on this machine:
      lnsd and lns-dataplane, N sessions (1000), traffic both ways (10 s at
      10k packets/s each way), then the upstream capacity of the L2TP
      pipeline and of the bare AF_XDP forwarder (3 s each; 0 skips).
      With --ipv6, dual-stack subscribers (a /64 by RA, a /56 by
      DHCPv6-PD) and IPv6 traffic: to each one's address and into its
      delegated prefix.

  lns-bench sessions SESSION_OPTIONS [--churn SECS] [--lns-pid PID] [--json FILE]
      Brings up N tunnels x M sessions through the LAC role and PPP client,
      placing calls at the target rate; prints sessions/s, setup latency
      percentiles and failures by cause. With --lns-pid (an LNS on this
      host), also the LNS's CPU time per session set up.

  lns-bench traffic SESSION_OPTIONS --access-if DEV --core-if DEV
         --core-host ADDR --core-gateway ADDR [--core-netns NAME]
         [--core-host6 ADDR] [--lns-mac MAC] [--core-mac MAC] [--rate PPS|max]
         [--size 64|512|imix|BYTES] [--duration SECS] [--direction up|down|both]
         [--xdp native|generic] [--json FILE]
      Brings the sessions up, then sends probes through them both ways over
      AF_XDP sockets: upstream in L2TP from --access-if (the LAC's
      interface), downstream as plain IP from --core-if to each subscriber
      via the LNS at --core-gateway; --core-host is the core-side address
      upstream probes go to. Reports Mpps, Gbps, loss, duplicates,
      reordering and one-way latency per direction. With --ipv6 the probes
      are IPv6, to and from each subscriber's SLAAC address and a host
      (::1) inside its delegated prefix, and --core-host6 is the core
      host's IPv6 address. --lns and --local may be IPv6 addresses: the
      L2TP itself then runs over IPv6 (UDP checksummed).

  lns-bench export --dir DIR [SESSION_OPTIONS] [--hold SECS] [--size ...]
         [--core-host ADDR] [--lns-mac MAC] [--lac-mac MAC] [--core-mac MAC]
         [--host-mac MAC]
      Writes upstream.pcap and downstream.pcap (one data frame per
      session), trex-l2tp.py (a TRex STL profile) and pktgen-downstream.sh.
      With --lns, the frames carry real sessions' ids and addresses, held
      up until Ctrl-C (or --hold SECS); without, placeholder ids.

  SESSION_OPTIONS: --lns ADDR:PORT [--local ADDR:PORT] [--tunnels N]
         [--sessions M] [--setup-rate CALLS_PER_S] [--auth pap|chap|mschapv2]
         [--user PATTERN] [--password PATTERN] [--timeout SECS] [--ipv6]
         [--sequencing] [--ppp-attach-delay MS]
      In PATTERN, {n} is the subscriber number (1-based): --user 'user{n}'
      --password 'pw{n}' (the defaults). (`sessions` also takes --rate for
      --setup-rate.) --sequencing and --ppp-attach-delay make the emulated
      LAC behave like a Linux one (xl2tpd, the kernel's L2TP, pppd): it
      asks for and checks data sequence numbers, and attaches each call's
      PPP MS milliseconds after the call connected.";

static INTERRUPTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Whether Ctrl-C (or SIGTERM) arrived: long loops stop and clean up.
pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Options parsed from the command line, by subcommand.
#[derive(Debug, Default)]
struct Cli {
    sessions: Option<sessions::Opts>,
    lns_given: bool,
    traffic: Option<traffic::Opts>,
    demo: Option<demo::Opts>,
    export: Option<export::Opts>,
    json: Option<std::path::PathBuf>,
}

fn port(dev: &str) -> traffic::Port {
    traffic::Port {
        dev: dev.into(),
        netns: None,
    }
}

fn default_traffic() -> traffic::Opts {
    traffic::Opts {
        access: port(""),
        core: port(""),
        core_host: std::net::Ipv4Addr::UNSPECIFIED,
        core_host6: None,
        core_gateway: std::net::Ipv4Addr::UNSPECIFIED,
        access_mac: None,
        core_mac: None,
        rate: traffic::Rate::Pps(10_000.0),
        mix: probe::Mix(vec![64]),
        duration: Duration::from_secs(10),
        directions: traffic::Directions::Both,
        lowest: AttachMode::NativeCopy,
        core_extra: Vec::new(),
        progress: true,
    }
}

/// Parses `args` for `cmd`; options that `cmd` does not take are errors.
fn parse(cmd: &str, args: &[String]) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut s = sessions::Opts::default();
    let mut t = default_traffic();
    let mut d = demo::Opts {
        sessions: 1000,
        tunnels: 1,
        setup_rate: 500.0,
        rate: traffic::Rate::Pps(10_000.0),
        mix: probe::Mix(vec![64]),
        duration: Duration::from_secs(10),
        capacity: Duration::from_secs(3),
        polling: "wakeup".into(),
        ipv6: false,
        json: None,
    };
    let mut e = export::Opts::default();
    let mut it = args.iter();
    let takes = |what: &[&str]| what.contains(&cmd);
    const SESS: &[&str] = &["sessions", "traffic", "export"];
    const TRAF: &[&str] = &["traffic"];
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let bad = |v: &str| format!("{flag} {v}: not valid");
        let secs = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(Duration::from_secs_f64)
                .ok_or_else(|| bad(v))
        };
        let mac = |v: &str| lns_daemon::dataplane::kernel::mac(v).ok_or_else(|| bad(v));
        let ipv4 = |v: &str| v.parse::<std::net::Ipv4Addr>().map_err(|_| bad(v));
        match flag.as_str() {
            "--lns" if takes(SESS) => {
                let v = val()?;
                s.lns = v.parse().map_err(|_| bad(&v))?;
                cli.lns_given = true;
            }
            "--local" if takes(SESS) => {
                let v = val()?;
                s.local = v.parse().map_err(|_| bad(&v))?;
            }
            "--tunnels" if takes(&["sessions", "traffic", "export", "demo"]) => {
                let v = val()?;
                let n = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
                s.tunnels = n;
                d.tunnels = n;
            }
            "--sessions" if takes(&["sessions", "traffic", "export", "demo"]) => {
                let v = val()?;
                let n = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=65_535).contains(n))
                    .ok_or_else(|| bad(&v))?;
                s.sessions = n;
                d.sessions = n;
            }
            "--setup-rate" if takes(&["sessions", "traffic", "export", "demo"]) => {
                let v = val()?;
                let r = v
                    .parse()
                    .ok()
                    .filter(|r: &f64| *r > 0.0)
                    .ok_or_else(|| bad(&v))?;
                s.rate = r;
                d.setup_rate = r;
            }
            "--rate" if cmd == "sessions" => {
                let v = val()?;
                s.rate = v
                    .parse()
                    .ok()
                    .filter(|r: &f64| *r > 0.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--rate" if takes(&["traffic", "demo"]) => {
                let v = val()?;
                let r = traffic::Rate::parse(&v).ok_or_else(|| bad(&v))?;
                t.rate = r;
                d.rate = r;
            }
            "--size" if takes(&["traffic", "demo", "export"]) => {
                let v = val()?;
                let m = probe::Mix::parse(&v).ok_or_else(|| bad(&v))?;
                t.mix = m.clone();
                d.mix = m.clone();
                e.mix = m;
            }
            "--duration" if takes(&["traffic", "demo"]) => {
                let v = val()?;
                let x = secs(&v)?;
                if x.is_zero() {
                    return Err(bad(&v));
                }
                t.duration = x;
                d.duration = x;
            }
            "--auth" if takes(SESS) => {
                let v = val()?;
                s.auth = match v.as_str() {
                    "pap" => AuthProtocol::Pap,
                    "chap" => AuthProtocol::ChapMd5,
                    "mschapv2" => AuthProtocol::MsChapV2,
                    _ => return Err(bad(&v)),
                };
            }
            "--user" if takes(SESS) => s.user = val()?,
            "--password" if takes(SESS) => s.password = val()?,
            "--timeout" if takes(SESS) => s.timeout = secs(&val()?)?,
            "--churn" if cmd == "sessions" => s.churn = secs(&val()?)?,
            "--lns-pid" if cmd == "sessions" => {
                let v = val()?;
                s.lns_pid = Some(v.parse().map_err(|_| bad(&v))?);
            }
            "--ipv6" if takes(SESS) => s.ipv6 = true,
            "--ipv6" if cmd == "demo" => d.ipv6 = true,
            "--sequencing" if takes(SESS) => {
                s.behaviour.ask_seq = true;
                s.behaviour.recv_seq = true;
                s.behaviour.send_seq = true;
            }
            "--ppp-attach-delay" if takes(SESS) => {
                let ms: u64 = val()?
                    .parse()
                    .map_err(|_| "--ppp-attach-delay takes milliseconds".to_string())?;
                s.behaviour.ppp_attach_delay = std::time::Duration::from_millis(ms);
            }
            "--json" if cmd != "export" => cli.json = Some(val()?.into()),
            "--access-if" if takes(TRAF) => t.access.dev = val()?,
            "--core-if" if takes(TRAF) => t.core.dev = val()?,
            "--core-netns" if takes(TRAF) => t.core.netns = Some(val()?),
            "--core-host" if takes(&["traffic", "export"]) => {
                let v = ipv4(&val()?)?;
                t.core_host = v;
                e.core_host = v;
            }
            "--core-gateway" if takes(TRAF) => t.core_gateway = ipv4(&val()?)?,
            "--core-host6" if takes(TRAF) => {
                let v = val()?;
                t.core_host6 = Some(
                    v.parse()
                        .map_err(|_| format!("--core-host6: {v} is not an IPv6 address"))?,
                );
            }
            "--lns-mac" if takes(&["traffic", "export"]) => {
                let m = mac(&val()?)?;
                t.access_mac = Some(m);
                e.lns_mac = m;
            }
            "--core-mac" if takes(&["traffic", "export"]) => {
                let m = mac(&val()?)?;
                t.core_mac = Some(m);
                e.core_mac = m;
            }
            "--lac-mac" if cmd == "export" => e.lac_mac = mac(&val()?)?,
            "--host-mac" if cmd == "export" => e.host_mac = mac(&val()?)?,
            "--direction" if takes(TRAF) => {
                let v = val()?;
                t.directions = match v.as_str() {
                    "up" => traffic::Directions::Up,
                    "down" => traffic::Directions::Down,
                    "both" => traffic::Directions::Both,
                    _ => return Err(bad(&v)),
                };
            }
            "--xdp" if takes(TRAF) => {
                let v = val()?;
                t.lowest = match v.as_str() {
                    "native" => AttachMode::NativeCopy,
                    "generic" => AttachMode::Generic,
                    _ => return Err(bad(&v)),
                };
            }
            "--capacity" if cmd == "demo" => d.capacity = secs(&val()?)?,
            "--polling" if cmd == "demo" => {
                let v = val()?;
                if v != "wakeup" && v != "busy" {
                    return Err(bad(&v));
                }
                d.polling = v;
            }
            "--dir" if cmd == "export" => e.dir = val()?.into(),
            "--hold" if cmd == "export" => e.hold = Some(secs(&val()?)?),
            _ => return Err(format!("{cmd}: unknown option {flag} (lns-bench --help)")),
        }
    }
    s.json = cli.json.clone();
    d.json = cli.json.clone();
    match cmd {
        "traffic" => {
            for (v, name) in [
                (t.access.dev.is_empty(), "--access-if"),
                (t.core.dev.is_empty(), "--core-if"),
                (t.core_host.is_unspecified(), "--core-host"),
                (
                    t.core_gateway.is_unspecified() && t.core_mac.is_none(),
                    "--core-gateway",
                ),
            ] {
                if v {
                    return Err(format!("traffic: {name} is required (lns-bench --help)"));
                }
            }
            cli.traffic = Some(t);
        }
        "demo" => cli.demo = Some(d),
        "export" => {
            if e.dir.as_os_str().is_empty() {
                return Err("export: --dir is required (lns-bench --help)".into());
            }
            cli.export = Some(e);
        }
        _ => {}
    }
    if takes(&["sessions", "traffic"]) && !cli.lns_given {
        return Err(format!("{cmd}: --lns is required (lns-bench --help)"));
    }
    cli.sessions = Some(s);
    Ok(cli)
}

fn no_session(lns: SocketAddr) -> String {
    format!("no session came up: is an LNS listening on {lns} and does it accept this LAC?")
}

fn sessions_cmd(cli: Cli) -> Result<(), String> {
    let o = cli.sessions.expect("parsed");
    let r = sessions::run(&o)?;
    if r.up == 0 {
        return Err(no_session(o.lns));
    }
    Ok(())
}

/// The JSON written by `traffic --json`.
#[derive(Debug, serde::Serialize)]
struct TrafficJson {
    sessions: sessions::Report,
    traffic: traffic::Report,
}

fn traffic_cmd(cli: Cli) -> Result<(), String> {
    demo::require_root("lns-bench traffic")?;
    let mut so = cli.sessions.expect("parsed");
    let t = cli.traffic.expect("parsed");
    let json = so.json.take();
    let mut held = sessions::bring_up(&so)?;
    let subs = held.subscribers();
    let Some(first) = subs.first() else {
        held.finish(&so, false)?;
        return Err(no_session(so.lns));
    };
    let (local, peer) = (first.local, first.peer);
    if local.is_ipv4() != peer.is_ipv4() {
        return Err(format!(
            "--local {local} and --lns {peer}: not of one family"
        ));
    }
    let flows: Vec<traffic::Flow> = subs.iter().flat_map(|s| s.flows(so.ipv6)).collect();
    let tr = traffic::run(&t, traffic::Tunnel { local, peer }, flows, |until| {
        held.pump(until)
    });
    let sr = held.finish(&so, false)?;
    let tr = tr?;
    traffic::print(&tr);
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&TrafficJson {
            sessions: sr,
            traffic: tr.clone(),
        })
        .map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    missed(&tr)
}

/// A rate the generator could not reach is an error (after the summary).
fn missed(t: &traffic::Report) -> Result<(), String> {
    for (name, d) in [("upstream", &t.up), ("downstream", &t.down)] {
        if let Some(d) = d
            && d.rate_missed
        {
            return Err(format!(
                "{name}: the generator reached {:.3} Mpps of the {:.3} Mpps asked; \
                 ask for less, or use faster hardware (bench/README.md)",
                d.tx_mpps,
                d.target_pps.unwrap_or(0.0) / 1e6
            ));
        }
    }
    Ok(())
}

fn demo_cmd(cli: Cli) -> Result<(), String> {
    let o = cli.demo.expect("parsed");
    let r = demo::run(&o)?;
    let want = u64::from(o.sessions) * u64::from(o.tunnels);
    if r.sessions.up < want {
        return Err(format!("only {} of {want} sessions came up", r.sessions.up));
    }
    missed(&r.traffic)
}

fn export_cmd(cli: Cli) -> Result<(), String> {
    let mut e = cli.export.expect("parsed");
    e.sessions = cli.lns_given.then(|| cli.sessions.expect("parsed"));
    if e.sessions.is_none() {
        let s = sessions::Opts::default();
        e.count = s.sessions * s.tunnels;
    }
    export::run(&e)
}

fn main() {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal asks every loop to stop and clean up; a second
        // one, while cleaning up, ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
    let _ = INTERRUPTED.set(flag);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str);
    let help = args.iter().any(|a| a == "-h" || a == "--help");
    let result = match cmd {
        _ if help => {
            println!("{USAGE}");
            Ok(())
        }
        Some(c @ ("sessions" | "traffic" | "demo" | "export")) => {
            parse(c, &args[1..]).and_then(|cli| match c {
                "sessions" => sessions_cmd(cli),
                "traffic" => traffic_cmd(cli),
                "demo" => demo_cmd(cli),
                _ => export_cmd(cli),
            })
        }
        None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown subcommand {other}\n{USAGE}")),
    };
    if let Err(e) = result {
        eprintln!("lns-bench: {e}");
        std::process::exit(if interrupted() { 130 } else { 1 });
    }
}
