//! The admin API against a running lnsd with emulated subscribers, through
//! lnsctl (every subcommand, `--json` parsed) and a gRPC client (health,
//! reflection): listing and filtering with pagination, disconnect seen at
//! the LAC, dial answered by the emulated LAC, the event stream, reload
//! refusing a bad file whole, TLS plus a bearer token enforced, and
//! lnsctl ending quietly when its output's reader is gone.

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use common::process::Proc;
use lns_protocol::l2tp::{
    CallParams, ClearCause, Endpoint, EndpointConfig, Event, PeerPolicy, PeerRule, TunnelCause,
};
use lns_protocol::lac::{Lac, LacEvent};
use lns_protocol::ppp::lcp::AuthProtocol;
use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
use lns_protocol::ppp::link::LinkConfig;
use rand::SeedableRng;
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn dir(tag: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("xlns-admin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn users(n: usize) -> String {
    (1..=n)
        .map(|i| format!("[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\n"))
        .collect()
}

fn config(port: u16, users_file: &std::path::Path, admin: &str) -> String {
    format!(
        "[l2tp]\nlisten = [\"127.0.0.1:{port}\"]\nshutdown_timeout_secs = 1\n\
         [[peer]]\naddress = \"127.0.0.1\"\n\
         [ppp]\nauth = [\"chap\"]\nusers_file = \"{}\"\nipv6 = false\n\
         [[pool]]\nname = \"default\"\nranges = [\"100.64.7.1-100.64.7.99\"]\n\
         [admin]\n{admin}\n",
        users_file.display()
    )
}

/// lnsd running `cfg`; returns it and its admin address.
fn start_lnsd(cfg: &std::path::Path) -> (Proc, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config")
        .arg(cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let lnsd = Proc::spawn("lnsd", c);
    assert!(lnsd.wait_for("admin API listening", 1, T), "{}", lnsd.log());
    let log = lnsd.log();
    let addr = log
        .lines()
        .find(|l| l.contains("admin API listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    (lnsd, addr)
}

/// The emulated LAC in a thread: calls `n` subscribers in, answers the
/// LNS's outgoing calls, and records every event until stopped.
struct LacThread {
    addr: SocketAddr,
    events: Arc<Mutex<Vec<LacEvent>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LacThread {
    fn start(lns: SocketAddr, n: usize) -> LacThread {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let me = sock.local_addr().unwrap();
        let endpoint = Endpoint::with_rng(
            EndpointConfig {
                peers: vec![PeerRule {
                    address: None,
                    policy: PeerPolicy {
                        answer_outgoing_calls: true,
                        ..PeerPolicy::default()
                    },
                }],
                ..Default::default()
            },
            rand::rngs::StdRng::seed_from_u64(7),
        );
        let link = LinkConfig {
            lcp: LcpConfig {
                side: Side::Client,
                auth: vec![AuthProtocol::ChapMd5],
                ..Default::default()
            },
            ..Default::default()
        };
        // Outgoing calls authenticate as user9.
        let mut lac = Lac::new(endpoint, link, (b"user9".to_vec(), "pw9".into()), 7);
        let now = Instant::now();
        let t = lac.open_tunnel(now, me, lns).unwrap();
        for i in 1..=n {
            let creds = (format!("user{i}").into_bytes(), format!("pw{i}"));
            lac.place_call(now, t, CallParams::default(), creds)
                .unwrap();
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ev, st) = (events.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::Relaxed) {
                while let Some(tx) = lac.poll_transmit() {
                    let _ = sock.send_to(&tx.payload, tx.peer);
                }
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    lac.handle(Instant::now(), me, from, &buf[..n]);
                }
                lac.on_timeout(Instant::now());
                while let Some(e) = lac.poll_event() {
                    ev.lock().unwrap().push(e);
                }
            }
        });
        LacThread {
            addr: me,
            events,
            stop,
            handle: Some(handle),
        }
    }

    fn wait(&self, what: &str, f: impl Fn(&[LacEvent]) -> bool) {
        let end = Instant::now() + T;
        while Instant::now() < end {
            if f(&self.events.lock().unwrap()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the LAC never saw {what}: {:?}",
            self.events.lock().unwrap()
        );
    }
}

impl Drop for LacThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// lnsctl with `args`: (exit code, stdout, stderr).
fn lnsctl(server: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lnsctl"))
        .args(["--server", server])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// lnsctl `--json` that must succeed.
fn json(server: &str, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, out, err) = lnsctl(server, &a);
    assert_eq!(code, 0, "lnsctl {args:?}: {err}{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("lnsctl {args:?}: {e}: {out}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn every_rpc_through_lnsctl_against_emulated_subscribers() {
    let d = dir("rpc");
    let port = common::free_udp_port();
    let users_file = d.join("users.toml");
    std::fs::write(&users_file, users(9)).unwrap();
    let cfg = d.join("lnsd.toml");
    let good = config(
        port,
        &users_file,
        "listen = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"",
    );
    std::fs::write(&cfg, &good).unwrap();
    let (lnsd, admin) = start_lnsd(&cfg);
    let server = format!("http://{admin}");
    let lns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let lac = LacThread::start(lns, 3);
    lac.wait("3 subscribers up", |e| {
        e.iter()
            .filter(|e| matches!(e, LacEvent::SubscriberUp { .. }))
            .count()
            == 3
    });

    // Tunnels.
    let t = json(&server, &["tunnels"]);
    let tunnels = t["tunnels"].as_array().unwrap();
    assert_eq!(tunnels.len(), 1, "{t}");
    let tid = n(&tunnels[0]["id"]);
    assert_eq!(n(&tunnels[0]["sessions"]), 3);
    assert_eq!(n(&tunnels[0]["subscribers_up"]), 3);
    assert_eq!(tunnels[0]["peer"], lac.addr.to_string());
    assert_eq!(tunnels[0]["state"], "established");
    let one = json(&server, &["tunnel", &tid.to_string()]);
    assert_eq!(one["peer_id"], tunnels[0]["peer_id"]);

    // Sessions: filters and pages.
    let all = json(&server, &["sessions"]);
    assert_eq!(n(&all["total"]), 3, "{all}");
    let s2 = json(&server, &["sessions", "--user", "user2"]);
    assert_eq!(n(&s2["total"]), 1);
    let s2 = &s2["sessions"][0];
    assert_eq!(s2["state"], "up");
    assert_eq!(s2["ppp_phase"], "network");
    assert!(
        s2["ipv4"].as_str().unwrap().starts_with("100.64.7."),
        "{s2}"
    );
    let by_addr = json(
        &server,
        &["sessions", "--address", s2["ipv4"].as_str().unwrap()],
    );
    assert_eq!(n(&by_addr["total"]), 1);
    assert_eq!(
        n(&json(&server, &["sessions", "--address", "100.64.7.0/24"])["total"]),
        3
    );
    assert_eq!(
        n(&json(&server, &["sessions", "--state", "setup"])["total"]),
        0
    );
    assert_eq!(
        n(&json(&server, &["sessions", "--tunnel", &tid.to_string()])["total"]),
        3
    );
    let p1 = json(&server, &["sessions", "--page-size", "2"]);
    assert_eq!(p1["sessions"].as_array().unwrap().len(), 2);
    let token = p1["next_page_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let p2 = json(&server, &["sessions", "--page-size", "2", "--page", &token]);
    assert_eq!(p2["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(p2["next_page_token"], "");
    let (code, _, err) = lnsctl(&server, &["sessions", "--page-size", "20000"]);
    assert!(code == 1 && err.contains("at most 10000"), "{err}");
    let (code, _, err) = lnsctl(&server, &["sessions", "--address", "nowhere"]);
    assert!(code == 1 && err.contains("not an IPv4 address"), "{err}");

    // One session; a missing one.
    let id = format!("{}/{}", s2["tunnel"], s2["session"]);
    let got = json(&server, &["session", &id]);
    assert_eq!(got["user"], "user2");
    let (code, _, err) = lnsctl(&server, &["session", &format!("{tid}/1")]);
    assert!(code == 1 && err.contains("no session"), "{err}");

    // Its rates, set by the operator; one direction, then lifted.
    assert!(got["rate_down"].is_null(), "not limited: {got}");
    let (code, out, err) = lnsctl(
        &server,
        &["session", "rate", &id, "--down", "100M", "--up", "20M"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rate down 100M (burst 1250000 B), up 20M (burst 250000 B)"),
        "{out}"
    );
    let (_, out, _) = lnsctl(&server, &["session", &id]);
    assert!(out.contains("rate down       100M"), "{out}");
    let got = json(&server, &["session", "rate", &id, "--up", "none"]);
    assert_eq!(got["rate_down"]["bits_per_sec"], 100_000_000);
    assert!(got["rate_up"].is_null(), "lifted: {got}");
    let (code, _, err) = lnsctl(&server, &["session", "rate", &id, "--down", "fast"]);
    assert!(code == 1 && err.contains("not a speed"), "{err}");
    let (code, _, err) = lnsctl(&server, &["session", "rate", &id]);
    assert!(code == 2 && err.contains("--down"), "{err}");

    // Events stream while we disconnect user2.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_lnsctl"));
    watch.args(["--server", &server, "--json", "events"]);
    let watcher = Proc::spawn("lnsctl events", watch);
    std::thread::sleep(Duration::from_millis(300));
    json(
        &server,
        &["session", "kill", &id, "--cause", "operator test"],
    );
    // Torn down at the LAC too: its subscriber went down and the LNS
    // cleared the call (CDN).
    lac.wait("user2's call cleared by the LNS", |e| {
        e.iter()
            .any(|e| matches!(e, LacEvent::SubscriberDown { .. }))
            && e.iter()
                .any(|e| matches!(e, LacEvent::L2tp(Event::SessionDown { .. })))
    });
    // The CDN says why in words (RFC 2661 §4.4.2 result 3, administrative).
    lac.wait("the operator's cause in the CDN", |e| {
        e.iter().any(|e| {
            matches!(e, LacEvent::L2tp(Event::SessionDown {
                cause: ClearCause::PeerCdn { result, .. },
                ..
            }) if result.result == 3
                && result.message_text() == "administrative: operator test")
        })
    });
    assert!(
        watcher.wait_for("\"kind\":\"session_down\"", 1, T),
        "{}",
        watcher.log()
    );
    assert!(watcher.log().contains("operator test"), "{}", watcher.log());
    assert_eq!(n(&json(&server, &["sessions"])["total"]), 2);

    // Prometheus: the same picture after this known run (3 up, 1 killed).
    let text = scrape(&lnsd.log());
    assert_eq!(
        metric(&text, "xlns_sessions", &["state=\"up\""]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "xlns_session_setups_total", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "xlns_tunnels", &["state=\"established\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "xlns_l2tp_total", &["counter=\"sessions_up\""]),
        Some(3.0),
        "{text}"
    );

    // Statistics.
    let st = json(&server, &["stats"]);
    assert_eq!(n(&st["tunnels"]), 1);
    assert_eq!(n(&st["subscribers_up"]), 2);
    assert!(n(&st["l2tp"]["sessions_up"]) >= 3, "{st}");
    assert_eq!(st["per_tunnel"][0]["sessions"], 2);

    // Dial: an outgoing call through the LAC's tunnel, answered by it.
    let dial = json(
        &server,
        &["dial", &lac.addr.to_string(), "--called", "5551234"],
    );
    assert_eq!(dial["connected"], true, "{dial}");
    assert_eq!(dial["outcome"], "connected");
    assert!(
        watcher.wait_for("\"kind\":\"session_up\"", 1, T),
        "{}",
        watcher.log()
    );

    // Reload: a bad file changes nothing; a good one adds users.
    std::fs::write(&cfg, "[l2tp]\nlisten = [\"not an address\"]\n").unwrap();
    let (code, _, err) = lnsctl(&server, &["reload"]);
    assert!(code == 1 && err.contains("nothing was changed"), "{err}");
    std::fs::write(
        &cfg,
        good.replace("listen = [\"127.0.0.1", "listen = [\"127.0.0.2"),
    )
    .unwrap();
    let (code, _, err) = lnsctl(&server, &["reload"]);
    assert!(code == 1 && err.contains("needs a restart"), "{err}");
    assert_eq!(
        n(&json(&server, &["sessions"])["total"]),
        n(&st["sessions"]) + 1
    );
    std::fs::write(&users_file, users(12)).unwrap();
    std::fs::write(&cfg, &good).unwrap();
    let r = json(&server, &["reload"]);
    assert!(r["changes"].to_string().contains("users: 12 loaded"), "{r}");
    // The PPP gateway cannot move under subscribers that use it.
    let moved = good.replace(
        "ipv6 = false\n",
        "ipv6 = false\ngateway = \"100.64.7.200\"\n",
    );
    std::fs::write(&cfg, &moved).unwrap();
    let (code, _, err) = lnsctl(&server, &["reload"]);
    assert!(
        code == 1 && err.contains("ppp.gateway changed while") && err.contains("100.64.0.1"),
        "{err}"
    );
    std::fs::write(&cfg, &good).unwrap();

    // Clear the tunnel: StopCCN reaches the LAC.
    let c = json(
        &server,
        &[
            "tunnel",
            "clear",
            &tid.to_string(),
            "--message",
            "maintenance",
        ],
    );
    assert!(n(&c["sessions_cleared"]) >= 2, "{c}");
    lac.wait("the tunnel cleared with the operator's message", |e| {
        e.iter().any(|e| {
            matches!(e, LacEvent::L2tp(Event::TunnelDown {
                cause: TunnelCause::PeerStopCcn(rc),
                ..
            }) if rc.message_text() == "maintenance")
        })
    });
    // The tunnel left `established`: its gauge reads 0, not its last value.
    let text = scrape(&lnsd.log());
    assert_eq!(
        metric(&text, "xlns_tunnels", &["state=\"established\""]),
        Some(0.0),
        "{text}"
    );
    assert!(
        watcher.wait_for("\"kind\":\"tunnel_down\"", 1, T),
        "{}",
        watcher.log()
    );
    drop(watcher);
    drop(lac);
    lnsd.signal("TERM");
    let mut lnsd = lnsd;
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
    let _ = std::fs::remove_dir_all(&d);
}

/// GET /metrics from the address lnsd logged.
fn scrape(log: &str) -> String {
    use std::io::{Read, Write};
    let addr = log
        .lines()
        .find(|l| l.contains("metrics listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"));
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: lnsd\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    out
}

/// A sample's value: the line of `name` with every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_failed_setup_is_counted_by_cause() {
    let d = dir("fail");
    let port = common::free_udp_port();
    let users_file = d.join("users.toml");
    // user2's password is not pw2: that call fails authentication.
    std::fs::write(
        &users_file,
        users(1) + "[[user]]\nname = \"user2\"\npassword = \"other\"\n",
    )
    .unwrap();
    let cfg = d.join("lnsd.toml");
    std::fs::write(
        &cfg,
        config(
            port,
            &users_file,
            "listen = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"",
        ),
    )
    .unwrap();
    let (lnsd, _) = start_lnsd(&cfg);
    let lac = LacThread::start(format!("127.0.0.1:{port}").parse().unwrap(), 2);
    lac.wait("one up, one refused", |e| {
        e.iter().any(|e| matches!(e, LacEvent::SubscriberUp { .. }))
            && e.iter()
                .any(|e| matches!(e, LacEvent::L2tp(Event::SessionDown { .. })))
    });
    let end = Instant::now() + T;
    let text = loop {
        let t = scrape(&lnsd.log());
        if metric(&t, "xlns_session_setup_failures_total", &[]).is_some() || Instant::now() > end {
            break t;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        metric(&text, "xlns_session_setups_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "xlns_session_setup_failures_total",
            &["cause=\"auth_failed\""]
        ),
        Some(1.0),
        "{text}"
    );
    // Not /metrics: 404.
    let addr = lnsd
        .log()
        .lines()
        .find(|l| l.contains("metrics listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    drop(lac);
    drop(lnsd);
    let _ = std::fs::remove_dir_all(&d);
}

/// lnsctl with stdout (or stderr) into a pipe whose reader has already
/// gone, as after `lnsctl stats | head` once head exits: (status, stderr).
fn lnsctl_into_closed_pipe(server: &str, args: &[&str], stderr_too: bool) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lnsctl"));
    cmd.args(["--server", server]).args(args);
    if stderr_too {
        cmd.stdout(std::process::Stdio::null()).stderr(writer);
    } else {
        cmd.stdout(writer).stderr(std::process::Stdio::piped());
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lnsctl_is_quiet_when_its_reader_goes_away() {
    let d = dir("pipe");
    let port = common::free_udp_port();
    let users_file = d.join("users.toml");
    std::fs::write(&users_file, users(1)).unwrap();
    let cfg = d.join("lnsd.toml");
    std::fs::write(&cfg, config(port, &users_file, "listen = \"127.0.0.1:0\"")).unwrap();
    let (lnsd, server) = start_lnsd(&cfg);
    let server = format!("http://{server}");
    for args in [
        &["stats"][..],
        &["--json", "stats"],
        &["tunnels"],
        &["--help"],
    ] {
        let (code, err) = lnsctl_into_closed_pipe(&server, args, false);
        assert_eq!((code, err.as_str()), (0, ""), "lnsctl {args:?}");
    }
    // An error to tell on a closed stderr: the usual status, no panic (101).
    lnsd.signal("TERM");
    let mut lnsd = lnsd;
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
    let (code, _) = lnsctl_into_closed_pipe(&server, &["tunnels"], true);
    assert_eq!(code, 3);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn lnsctl_says_when_lnsd_is_not_running_and_on_bad_usage() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = lnsctl(&format!("http://127.0.0.1:{port}"), &["tunnels"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("cannot reach lnsd") && err.contains("is lnsd running"),
        "{err}"
    );
    let (code, _, err) = lnsctl("http://127.0.0.1:1", &["frobnicate"]);
    assert!(code == 2 || code == 3, "{err}");
    let (code, _, err) = lnsctl("http://127.0.0.1:1", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("usage"), "{err}");
}

/// A test CA in `d`, and lnsd's certificate for `ip` signed by it:
/// (CA certificate, certificate, key).
fn test_ca(d: &std::path::Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_crt, cert, key) = (d.join("ca.crt"), d.join("admin.crt"), d.join("admin.key"));
    let ext = d.join("ext.cnf");
    std::fs::write(
        &ext,
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let p = |f: &PathBuf| f.to_str().unwrap().to_string();
    for args in [
        [
            &["req", "-x509", "-days", "1", "-subj", "/CN=xlns test CA"][..],
            &ec[..],
            &["-keyout", &p(&d.join("ca.key")), "-out", &p(&ca_crt)][..],
        ]
        .concat(),
        [
            &["req", "-subj", "/CN=lnsd"][..],
            &ec[..],
            &["-keyout", &p(&key), "-out", &p(&d.join("admin.csr"))][..],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &p(&d.join("admin.csr")),
            "-CA",
            &p(&ca_crt),
            "-CAkey",
            &p(&d.join("ca.key")),
            "-CAcreateserial",
            "-extfile",
            &p(&ext),
            "-out",
            &p(&cert),
        ],
    ] {
        let out = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (apt install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (ca_crt, cert, key)
}

#[test]
fn tls_and_a_bearer_token_are_enforced() {
    let d = dir("tls");
    // A non-loopback admin address without TLS is refused outright.
    let port = common::free_udp_port();
    let users_file = d.join("users.toml");
    std::fs::write(&users_file, users(1)).unwrap();
    let open = d.join("open.toml");
    std::fs::write(
        &open,
        config(port, &users_file, "listen = \"0.0.0.0:50051\""),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lnsd"))
        .arg("--check-config")
        .arg(&open)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("admin.listen") && err.contains("admin.token_file"),
        "{err}"
    );

    // TLS and a token (here on loopback, where both are optional).
    let (ca_crt, cert, key) = test_ca(&d, "127.0.0.1");
    let token = d.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let cfg = d.join("tls.toml");
    std::fs::write(
        &cfg,
        config(
            port,
            &users_file,
            &format!(
                "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntoken_file = \"{}\"",
                cert.display(),
                key.display(),
                token.display()
            ),
        ),
    )
    .unwrap();
    let (lnsd, admin) = start_lnsd(&cfg);
    let server = format!("https://{admin}");
    let ca = ca_crt.to_str().unwrap();
    let tok = token.to_str().unwrap();
    let (code, out, err) = lnsctl(
        &server,
        &["--ca", ca, "--token-file", tok, "--json", "stats"],
    );
    assert_eq!(code, 0, "{err}{out}");
    // Without the token: refused, and counted.
    let (code, _, err) = lnsctl(&server, &["--ca", ca, "stats"]);
    assert!(code == 1 && err.contains("bearer token"), "{err}");
    let wrong = d.join("wrong");
    std::fs::write(&wrong, "guess").unwrap();
    let (code, _, err) = lnsctl(
        &server,
        &[
            "--ca",
            ca,
            "--token-file",
            wrong.to_str().unwrap(),
            "tunnels",
        ],
    );
    assert!(code == 1 && err.contains("bearer token"), "{err}");
    let st = json(&server, &["--ca", ca, "--token-file", tok, "stats"]);
    assert_eq!(n(&st["engine"]["admin_refused"]), 2, "{st}");
    // Plain HTTP/2 to the TLS port does not get through.
    let (code, _, _) = lnsctl(&format!("http://{admin}"), &["--token-file", tok, "stats"]);
    assert_ne!(code, 0);

    // gRPC health and reflection answer on the same port (with the token).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
        let ch = Endpoint::from_shared(server.clone())
            .unwrap()
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(std::fs::read(&ca_crt).unwrap())),
            )
            .unwrap()
            .connect()
            .await
            .unwrap();
        let auth = |mut r: tonic::Request<()>| {
            r.metadata_mut()
                .insert("authorization", "Bearer s3cret-token".parse().unwrap());
            Ok(r)
        };
        let mut h =
            tonic_health::pb::health_client::HealthClient::with_interceptor(ch.clone(), auth);
        let r = h
            .check(tonic_health::pb::HealthCheckRequest {
                service: "xlns.admin.v1.Admin".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut c = ServerReflectionClient::with_interceptor(ch.clone(), auth);
        let req = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut s = c
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = s.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("{resp:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"xlns.admin.v1.Admin".to_string()),
            "{names:?}"
        );
        // The older v1alpha protocol, which many tools still speak.
        {
            use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
            let mut c = ServerReflectionClient::with_interceptor(ch, auth);
            let req = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol(
                    "xlns.admin.v1.Admin".into(),
                )),
            };
            let mut s = c
                .server_reflection_info(tokio_stream::iter(vec![req]))
                .await
                .unwrap()
                .into_inner();
            let resp = s.message().await.unwrap().unwrap();
            let Some(MessageResponse::FileDescriptorResponse(f)) = resp.message_response else {
                panic!("{resp:?}");
            };
            assert!(!f.file_descriptor_proto.is_empty());
        }
    });
    lnsd.signal("TERM");
    let mut lnsd = lnsd;
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn off_loopback_the_admin_api_serves_only_tls_with_the_token() {
    if !common::process::root_or_skip() {
        return;
    }
    let lab = common::process::Lab::new("adm");
    let d = &lab.dir;
    let (ca_crt, cert, key) = test_ca(d, common::process::Lab::A_IP);
    let token = lab.file("token", "off-loopback-token\n");
    let users_file = lab.file("users.toml", &users(1));
    let admin = format!("{}:50051", common::process::Lab::A_IP);
    // Without TLS and a token, lnsd will not serve it there at all.
    let plain = lab.file(
        "plain.toml",
        &config(1701, &users_file, &format!("listen = \"{admin}\"")),
    );
    let out = lab
        .cmd(&lab.a, env!("CARGO_BIN_EXE_lnsd"))
        .arg("--config")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a loopback address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = lab.file(
        "tls.toml",
        &config(
            1701,
            &users_file,
            &format!(
                "listen = \"{admin}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntoken_file = \"{}\"",
                cert.display(),
                key.display(),
                token.display()
            ),
        ),
    );
    let mut c = lab.cmd(&lab.a, env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let mut lnsd = Proc::spawn("lnsd", c);
    assert!(lnsd.wait_for("admin API listening", 1, T), "{}", lnsd.log());
    // From the other namespace, across the veth.
    let ctl = |args: &[&str]| {
        let out = lab
            .cmd(&lab.b, env!("CARGO_BIN_EXE_lnsctl"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let https = format!("https://{admin}");
    let ca = ca_crt.to_str().unwrap();
    let (code, text) = ctl(&[
        "--server",
        &https,
        "--ca",
        ca,
        "--token-file",
        token.to_str().unwrap(),
        "tunnels",
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = ctl(&["--server", &https, "--ca", ca, "tunnels"]);
    assert!(code == 1 && text.contains("bearer token"), "{text}");
    let (code, _) = ctl(&[
        "--server",
        &format!("http://{admin}"),
        "--token-file",
        token.to_str().unwrap(),
        "tunnels",
    ]);
    assert_ne!(code, 0, "plain HTTP/2 to the TLS port");
    lnsd.signal("TERM");
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
}

#[test]
fn reload_applies_new_secrets_to_new_tunnels_and_keeps_sessions() {
    let d = dir("secret");
    let port = common::free_udp_port();
    let users_file = d.join("users.toml");
    std::fs::write(&users_file, users(2)).unwrap();
    let cfg = d.join("lnsd.toml");
    let open = config(port, &users_file, "listen = \"127.0.0.1:0\"");
    std::fs::write(&cfg, &open).unwrap();
    let (lnsd, admin) = start_lnsd(&cfg);
    let server = format!("http://{admin}");
    let lns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let a = LacThread::start(lns, 1);
    a.wait("its subscriber up", |e| {
        e.iter().any(|e| matches!(e, LacEvent::SubscriberUp { .. }))
    });
    // Now LACs must authenticate their tunnels with a secret, and the
    // pool's sessions get a rate.
    let strict = open
        .replace(
            "[[peer]]\naddress = \"127.0.0.1\"\n",
            "[[peer]]\naddress = \"127.0.0.1\"\nsecret = \"new-secret\"\ntunnel_auth = \"required\"\n",
        )
        .replace(
            "ranges = [\"100.64.7.1-100.64.7.99\"]\n",
            "ranges = [\"100.64.7.1-100.64.7.99\"]\nrate_profile = \"basic\"\n",
        )
        + "[[rate_profile]]\nname = \"basic\"\ndown = \"10M\"\nup = \"2M\"\n";
    assert_ne!(strict, open);
    std::fs::write(&cfg, &strict).unwrap();
    let r = json(&server, &["reload"]);
    assert!(r["changes"].to_string().contains("secrets"), "{r}");
    assert!(
        r["changes"]
            .to_string()
            .contains("rate profiles: 1; 1 sessions' rates changed"),
        "{r}"
    );
    let up = json(&server, &["sessions", "--state", "up"]);
    let id = format!(
        "{}/{}",
        up["sessions"][0]["tunnel"], up["sessions"][0]["session"]
    );
    let s = json(&server, &["session", &id]);
    assert_eq!(s["rate_down"]["bits_per_sec"], 10_000_000, "{s}");
    assert_eq!(s["rate_up"]["bits_per_sec"], 2_000_000, "{s}");
    // A new LAC without the secret is refused...
    let b = LacThread::start(lns, 1);
    b.wait("its tunnel refused", |e| {
        e.iter()
            .any(|e| matches!(e, LacEvent::L2tp(Event::TunnelDown { .. })))
    });
    assert!(
        !b.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, LacEvent::SubscriberUp { .. }))
    );
    // ...while the tunnel admitted before the reload keeps its session.
    let s = json(&server, &["sessions", "--state", "up"]);
    assert_eq!(n(&s["total"]), 1, "{s}");
    assert!(
        !a.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, LacEvent::L2tp(Event::TunnelDown { .. }))),
        "the old tunnel went down"
    );
    drop((a, b));
    drop(lnsd);
    let _ = std::fs::remove_dir_all(&d);
}
