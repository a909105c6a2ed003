//! `lns-bench`: benchmark an LNS the way a BNG tester does, with real L2TP
//! and PPP (DESIGN §3, `bench/`).
//!
//! Subcommands so far: `sessions` (setup rate, latency, failures, churn).

mod sessions;

use lns_controlplane::ppp::lcp::AuthProtocol;
use std::time::Duration;

const USAGE: &str = "\
usage: lns-bench sessions --lns ADDR:PORT [--local ADDR:PORT] [--tunnels N]
         [--sessions M] [--rate CALLS_PER_S] [--auth pap|chap|mschapv2]
         [--user PATTERN] [--password PATTERN] [--timeout SECS]
         [--churn SECS] [--ipv6] [--json FILE]

  Brings up N tunnels x M sessions through the LAC role and PPP client,
  placing calls at the target rate; prints sessions/s, setup latency
  percentiles and failures by cause. In PATTERN, {n} is the subscriber
  number (1-based): --user 'user{n}' --password 'pw{n}' (the defaults).";

fn sessions(args: &[String]) -> Result<(), String> {
    let mut o = sessions::Opts {
        lns: "127.0.0.1:1701".parse().expect("literal"),
        local: "0.0.0.0:0".parse().expect("literal"),
        tunnels: 1,
        sessions: 10,
        rate: 100.0,
        auth: AuthProtocol::ChapMd5,
        user: "user{n}".into(),
        password: "pw{n}".into(),
        timeout: Duration::from_secs(10),
        churn: Duration::ZERO,
        ipv6: false,
        json: None,
    };
    let mut it = args.iter();
    let mut lns_given = false;
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let bad = |v: &str| format!("{flag} {v}: not valid");
        match flag.as_str() {
            "--lns" => {
                let v = val()?;
                o.lns = v.parse().map_err(|_| bad(&v))?;
                lns_given = true;
            }
            "--local" => {
                let v = val()?;
                o.local = v.parse().map_err(|_| bad(&v))?;
            }
            "--tunnels" => {
                let v = val()?;
                o.tunnels = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
            }
            "--sessions" => {
                let v = val()?;
                o.sessions = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=65_535).contains(n))
                    .ok_or_else(|| bad(&v))?;
            }
            "--rate" => {
                let v = val()?;
                o.rate = v
                    .parse()
                    .ok()
                    .filter(|r: &f64| *r > 0.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--auth" => {
                let v = val()?;
                o.auth = match v.as_str() {
                    "pap" => AuthProtocol::Pap,
                    "chap" => AuthProtocol::ChapMd5,
                    "mschapv2" => AuthProtocol::MsChapV2,
                    _ => return Err(bad(&v)),
                };
            }
            "--user" => o.user = val()?,
            "--password" => o.password = val()?,
            "--timeout" => {
                let v = val()?;
                o.timeout = Duration::from_secs_f64(v.parse().map_err(|_| bad(&v))?);
            }
            "--churn" => {
                let v = val()?;
                o.churn = Duration::from_secs_f64(v.parse().map_err(|_| bad(&v))?);
            }
            "--ipv6" => o.ipv6 = true,
            "--json" => o.json = Some(val()?.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if !lns_given {
        return Err(format!("--lns is required\n{USAGE}"));
    }
    let r = sessions::run(&o)?;
    if r.up == 0 {
        return Err(format!(
            "no session came up: is an LNS listening on {} and does it accept this LAC?",
            o.lns
        ));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sessions") => sessions(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown subcommand {other}\n{USAGE}")),
    };
    if let Err(e) = result {
        eprintln!("lns-bench: {e}");
        std::process::exit(1);
    }
}
