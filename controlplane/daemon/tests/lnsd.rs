//! The `lnsd` binary: configuration checking, and two daemons on loopback,
//! one acting as LAC toward the other, up and cleanly down on SIGTERM.

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use common::process::Proc;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn lnsd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lnsd"))
}

/// An admin API on any free loopback port: tests run lnsd side by side.
const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    // Under target/tmp (cargo's scratch space for tests), not /tmp: the
    // tests of this file share the directory, so none of them removes it.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("xlns-lnsd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
    let example = format!("{deploy}/lnsd.example.toml");
    // As shipped it points at /etc/xlns/users.toml, which is not here.
    let out = lnsd().args(["--check-config", &example]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ppp.users_file"));
    let text = std::fs::read_to_string(&example).unwrap().replace(
        "/etc/xlns/users.toml",
        &format!("{deploy}/users.example.toml"),
    );
    let ok = tmp("example.toml", &text);
    let out = lnsd().arg("--check-config").arg(&ok).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The data plane's command line for an external unit: one argument a
    // line, naming the example's table, interfaces and pools.
    let out = lnsd()
        .arg("--print-dataplane-args")
        .arg(&ok)
        .output()
        .unwrap();
    assert!(out.status.success());
    let args: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    assert!(
        after("--table").is_some_and(|t| t.starts_with("/dev/shm/")),
        "{args:?}"
    );
    assert!(
        after("--access").is_some() && after("--pool").is_some(),
        "{args:?}"
    );

    let bad = tmp(
        "bad.toml",
        "[l2tp]\nlisten = [\"127.0.0.1:1701\"]\n[l2tp.transport]\nmax_retires = 3\n",
    );
    let out = lnsd().arg("--check-config").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_retires"), "{err}");

    let bad = tmp(
        "bad2.toml",
        "[l2tp]\nlisten = [\"127.0.0.1:1701\"]\n[[peer]]\nhide_avps = true\n",
    );
    let out = lnsd().arg("--check-config").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("peer[0].secret"));

    let out = lnsd()
        .arg("--check-config")
        .arg("/nonexistent/x.toml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = lnsd().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lnsd_as_lac_to_lnsd_as_lns_up_then_sigterm_stopccn() {
    let (pa, pb) = (common::free_udp_port(), common::free_udp_port());
    let lns_cfg = tmp(
        "lns.toml",
        &format!(
            "[l2tp]\nlisten = [\"127.0.0.1:{pa}\"]\nhost_name = \"test-lns\"\n\
             [[peer]]\naddress = \"127.0.0.1\"\nsecret = \"s3\"\ntunnel_auth = \"required\"\nhide_avps = true\n\
             {ADMIN}"
        ),
    );
    let lac_cfg = tmp(
        "lac.toml",
        &format!(
            "[l2tp]\nlisten = [\"127.0.0.1:{pb}\"]\nhost_name = \"test-lac\"\n\
             [[peer]]\naddress = \"127.0.0.1\"\nsecret = \"s3\"\ntunnel_auth = \"required\"\nhide_avps = true\n\
             [[lac]]\nlns = \"127.0.0.1:{pa}\"\ncalls = 3\ncalling_number = \"5550001\"\n{ADMIN}"
        ),
    );
    let start = |name: &str, cfg: &std::path::Path| {
        let mut c = lnsd();
        // Each session's lines are at debug (issue 18: they cost the
        // engine its setup rate at info).
        c.arg("--config")
            .arg(cfg)
            .env("RUST_LOG", "info,lnsd::session=debug");
        Proc::spawn(name, c)
    };
    let mut lns = start("lns", &lns_cfg);
    assert!(lns.wait_for("listening", 1, T), "{}", lns.log());
    let mut lac = start("lac", &lac_cfg);
    lns.expect("session established", 3, T, &lac);
    lac.expect("session established", 3, T, &lns);
    lns.signal("TERM");
    assert!(lns.wait_exit(T), "lns log:\n{}", lns.log());
    lac.expect("tunnel down", 1, T, &lns);
    lac.signal("TERM");
    assert!(lac.wait_exit(T), "lac log:\n{}", lac.log());
    let (lns_log, lac_log) = (lns.log(), lac.log());
    assert!(lns_log.contains("tunnel established"), "{lns_log}");
    assert!(lns_log.contains("host_name=test-lac"), "{lns_log}");
    assert_eq!(
        lns_log.matches("session established").count(),
        3,
        "{lns_log}"
    );
    assert!(lns_log.contains("calling=5550001"), "{lns_log}");
    assert_eq!(
        lac_log.matches("session established").count(),
        3,
        "{lac_log}"
    );
    // SIGTERM: StopCCN to the LAC, acknowledged before exit.
    assert!(
        lns_log.contains("every peer acknowledged StopCCN"),
        "{lns_log}"
    );
    assert!(lac_log.contains("peer StopCCN result 6"), "{lac_log}");
    assert_eq!(lac_log.matches("session down").count(), 3, "{lac_log}");
}

/// A subscriber over real UDP: the emulated LAC (in this test) dials lnsd,
/// PPP runs (LCP, CHAP against lnsd's users file, IPCP from its pool), and
/// lnsd logs the subscriber up and down.
#[test]
fn lnsd_terminates_ppp_for_a_subscriber_over_udp() {
    use lns_protocol::l2tp::CallParams;
    use lns_protocol::lac::{Lac, LacEvent};
    use lns_protocol::ppp::lcp::AuthProtocol;
    use std::time::Instant;

    let port = common::free_udp_port();
    let users = tmp(
        "users.toml",
        "[[user]]\nname = \"alice\"\npassword = \"alice-pw\"\n",
    );
    let cfg = tmp(
        "ppp.toml",
        &format!(
            "[l2tp]\nlisten = [\"127.0.0.1:{port}\"]\nshutdown_timeout_secs = 1\n[[peer]]\naddress = \"127.0.0.1\"\n\
             [ppp]\nauth = [\"chap\"]\nusers_file = \"{}\"\ngateway = \"100.64.0.1\"\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.7.10-100.64.7.20\"]\n\
             [log]\nsummary_secs = 1\n{ADMIN}",
            users.display()
        ),
    );
    let mut c = lnsd();
    // The default level: sessions are summed up at info, each one's own
    // lines are at debug.
    c.arg("--config").arg(&cfg).env_remove("RUST_LOG");
    let mut lns = Proc::spawn("lnsd", c);
    assert!(lns.wait_for("listening", 1, T), "{}", lns.log());

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    let server: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut lac = common::emulated_lac(AuthProtocol::ChapMd5, 1, 1460);
    let now = Instant::now();
    let t = lac.open_tunnel(now, me, server).unwrap();
    let key = lac
        .place_call(
            now,
            t,
            CallParams::default(),
            (b"alice".to_vec(), "alice-pw".into()),
        )
        .unwrap();
    let mut events = Vec::new();
    let drive = |lac: &mut Lac, events: &mut Vec<LacEvent>, until: &dyn Fn(&[LacEvent]) -> bool| {
        let end = Instant::now() + T;
        let mut buf = [0u8; 2048];
        while !until(events) && Instant::now() < end {
            while let Some(tx) = lac.poll_transmit() {
                sock.send_to(&tx.payload, tx.peer).unwrap();
            }
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                lac.handle(Instant::now(), me, from, &buf[..n]);
            }
            lac.on_timeout(Instant::now());
            while let Some(e) = lac.poll_event() {
                events.push(e);
            }
        }
    };
    drive(&mut lac, &mut events, &|e| {
        e.iter().any(|e| matches!(e, LacEvent::SubscriberUp { .. }))
    });
    let addr = events.iter().find_map(|e| match e {
        LacEvent::SubscriberUp { ipv4, .. } => *ipv4,
        _ => None,
    });
    let a = addr.unwrap_or_else(|| panic!("no address: {events:?}\n{}", lns.log()));
    assert_eq!(a.octets()[..3], [100, 64, 7]);
    // Summaries come every second while something happens; a session's
    // setup may straddle two, so counts are summed over them and the
    // gauges read from the last.
    let summed = |lns: &Proc, want: &[(&str, u64)], last: &[(&str, &str)]| {
        let end = Instant::now() + T;
        loop {
            let log = lns.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("sessions summary"))
                .collect();
            let field = |line: &str, name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .map(str::to_string)
            };
            let sum = |name: &str| -> u64 {
                lines
                    .iter()
                    .filter_map(|l| field(l, name)?.parse::<u64>().ok())
                    .sum()
            };
            let ok = want.iter().all(|&(n, v)| sum(n) == v)
                && lines
                    .last()
                    .is_some_and(|l| last.iter().all(|&(n, v)| field(l, n).as_deref() == Some(v)));
            if ok {
                return;
            }
            assert!(
                Instant::now() < end,
                "{want:?} {last:?} in\n{}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    summed(
        &lns,
        &[("calls_up", 1), ("subscribers_up", 1)],
        &[("sessions", "1"), ("subscribers", "1")],
    );
    assert!(!lns.log().contains("subscriber up"), "{}", lns.log());
    lac.hang_up(Instant::now(), key);
    drive(&mut lac, &mut events, &|e| {
        e.iter()
            .any(|e| matches!(e, LacEvent::SubscriberDown { .. }))
    });
    summed(
        &lns,
        &[
            ("calls_up", 1),
            ("subscribers_up", 1),
            ("calls_down", 1),
            ("subscribers_down", 1),
        ],
        &[("sessions", "0"), ("subscribers", "0")],
    );
    assert!(lns.log().contains("down_causes=1x "), "{}", lns.log());
    assert!(!lns.log().contains("subscriber down"), "{}", lns.log());
    lns.signal("TERM");
    assert!(lns.wait_exit(T), "{}", lns.log());
}

#[test]
fn deploy_units_pass_systemd_analyze() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "systemd-analyze is missing (XLNS_REQUIRE_TOOLS is set)"
        );
        eprintln!("SKIP: no systemd-analyze");
        return;
    };
    assert!(probe.status.success());
    // The units name /usr/local/bin; point them at this build's binaries.
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_lnsd"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("xlns-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut units = Vec::new();
    for name in ["lnsd.service", "lns-dataplane.service"] {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/systemd/");
        let text = std::fs::read_to_string(format!("{src}{name}"))
            .unwrap()
            .replace("/usr/local/bin", &bin);
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        units.push(p);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("lnsd.service") || l.contains("lns-dataplane.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds since midnight of a log line's RFC 3339 timestamp.
fn log_time(line: &str) -> f64 {
    let t = &line[line.find('T').unwrap() + 1..line.find('Z').unwrap()];
    let f: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
    f[0] * 3600.0 + f[1] * 60.0 + f[2]
}

#[test]
fn a_data_plane_that_cannot_start_is_retried_ever_more_slowly() {
    // Stands in for lns-dataplane refusing a mode its driver lacks.
    let bin = tmp(
        "failing-dataplane",
        "#!/bin/sh\necho 'attaching' >&2\n\
         echo 'lns-dataplane: native XDP on ifindex 1 (generic not allowed by config)' >&2\n\
         exit 1\n",
    );
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let table = format!("/dev/shm/xlns-test-backoff-{}", std::process::id());
    let cfg = tmp(
        "backoff.toml",
        &format!(
            "[l2tp]\nlisten = [\"127.0.0.1:{}\"]\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{}\"\ntable = \"{table}\"\n\
             capacity = 16\naccess_interface = \"lo\"\ncore_gateway = \"127.0.0.1\"\n\
             restart_delay_ms = 50\n{ADMIN}",
            common::free_udp_port(),
            bin.display()
        ),
    );
    let mut c = lnsd();
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let mut lnsd = Proc::spawn("lnsd", c);
    // Pauses of 50, 100, 200, 400 ms: the fifth start comes some 0.75 s in.
    assert!(lnsd.wait_for("data plane started", 5, T), "{}", lnsd.log());
    lnsd.signal("TERM");
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
    let log = lnsd.log();
    // Why, in one line: its status and the last thing it said.
    let exits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("data plane exited"))
        .collect();
    assert!(exits.len() >= 4, "{log}");
    for (l, pause) in exits.iter().zip(["0.05s", "0.1s", "0.2s", "0.4s"]) {
        assert!(
            l.contains(&format!(
                "data plane exited: exit status: 1: lns-dataplane: native XDP on ifindex 1 \
                 (generic not allowed by config); restarting in {pause}"
            )),
            "{l}"
        );
    }
    // Its stderr reached lnsd's log as it was written.
    assert!(log.contains("\nattaching\n"), "{log}");
    // And the pauses were kept: each start at least its pause after the
    // previous exit.
    let times = |what: &str| -> Vec<f64> {
        log.lines()
            .filter(|l| l.contains(what))
            .map(log_time)
            .collect()
    };
    let (starts, ended) = (times("data plane started"), times("data plane exited"));
    for (i, pause) in [0.05, 0.1, 0.2, 0.4].iter().enumerate() {
        // (Modulo a day: the test may straddle midnight.)
        let gap = (starts[i + 1] - ended[i]).rem_euclid(86_400.0);
        assert!(gap >= pause - 0.001, "{log}");
    }
    assert!(!std::path::Path::new(&table).exists());
}
