//! `lns-bench sessions` against a real lnsd on loopback: sessions come up
//! with their own addresses, latency is recorded, failures have causes,
//! churn re-dials, and bad use gets a clear error.

#[path = "../../controlplane/protocol/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

use process::Proc;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn lnsd_binary() -> PathBuf {
    // Built by the workspace's tests (make test) next to lns-bench.
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_lns-bench")).with_file_name("lnsd");
    assert!(
        p.exists(),
        "{} is missing: run the workspace tests (make test)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Lns {
    proc: Proc,
    port: u16,
    dir: PathBuf,
    /// The loopback address lnsd listens on and takes LACs from.
    host: &'static str,
}

impl Drop for Lns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lnsd(users: u32) -> Lns {
    lnsd_with(users, false)
}

/// An lnsd with `users` CHAP/PAP users; with `ipv6`, IPv6CP on and a /64
/// per link by Router Advertisement from a /56 pool.
fn lnsd_with(users: u32, ipv6: bool) -> Lns {
    lnsd_on(users, ipv6, "127.0.0.1")
}

/// The same, its L2TP on loopback address `host` ("127.0.0.1" or "::1").
fn lnsd_on(users: u32, ipv6: bool, host: &'static str) -> Lns {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("xlns-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut u = String::new();
    for i in 1..=users {
        u.push_str(&format!(
            "[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\n"
        ));
    }
    std::fs::write(dir.join("users.toml"), u).unwrap();
    let cfg = dir.join("lnsd.toml");
    let listen = std::net::SocketAddr::new(host.parse().unwrap(), port);
    std::fs::write(
        &cfg,
        format!(
            "[l2tp]\nlisten = [\"{listen}\"]\nshutdown_timeout_secs = 1\n\
             [[peer]]\naddress = \"{host}\"\n\
             [ppp]\nauth = [\"chap\", \"pap\"]\nusers_file = \"{}\"\nipv6 = {ipv6}\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.0.1-100.64.3.254\"]\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n{}",
            dir.join("users.toml").display(),
            if ipv6 {
                "[ipv6]\nra = true\npool = \"links\"\ndns = [\"2001:db8::53\"]\n\
                 dhcpv6 = true\ndhcpv6_pd_pool = \"pd\"\n\
                 [[ipv6_pool]]\nname = \"links\"\nprefix = \"2001:db8:100::/56\"\nlength = 64\n\
                 [[ipv6_pool]]\nname = \"pd\"\nprefix = \"2001:db8:8000::/40\"\nlength = 56\n"
            } else {
                ""
            }
        ),
    )
    .unwrap();
    let mut c = Command::new(lnsd_binary());
    c.arg("--config").arg(&cfg).env("RUST_LOG", "warn");
    let proc = Proc::spawn("lnsd", c);
    std::thread::sleep(Duration::from_millis(300));
    Lns {
        proc,
        port,
        dir,
        host,
    }
}

fn bench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lns-bench"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `lns-bench sessions` against `l` with `args`, its JSON report written
/// to `name` in the lab's directory: whether it succeeded, what it
/// printed, and the report.
fn sessions(l: &Lns, name: &str, args: &[&str]) -> (bool, String, serde_json::Value) {
    let out = l.dir.join(name);
    let lns = std::net::SocketAddr::new(l.host.parse().unwrap(), l.port).to_string();
    let local = std::net::SocketAddr::new(l.host.parse().unwrap(), 0).to_string();
    let mut all = vec!["sessions", "--lns", &lns, "--local", &local];
    all.extend_from_slice(args);
    all.extend(["--json", out.to_str().unwrap()]);
    let (ok, text) = bench(&all);
    let j = json(&out);
    (ok, text, j)
}

/// A LAC that sequences its data and attaches PPP 200 ms after each call
/// connects (xl2tpd with the kernel's L2TP and pppd): every call comes up
/// without waiting out lnsd's 3 s LCP restart timer, and the LAC has no
/// unsequenced or out-of-sequence frame to discard.
#[test]
fn a_linux_like_lac_comes_up_without_a_restart_timer() {
    let l = lnsd(30);
    let args = [
        "--sessions",
        "30",
        "--rate",
        "100",
        "--sequencing",
        "--ppp-attach-delay",
        "200",
    ];
    let (ok, text, j) = sessions(&l, "linux.json", &args);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert_eq!(j["up"], 30, "{text}");
    let d = &j["lac_discards"];
    assert_eq!(d["unsequenced"], 0, "{text}");
    assert_eq!(d["out_of_sequence"], 0, "{text}");
    assert!(d["before_attach"].as_u64().unwrap() >= 30, "{text}");
    // Not a speed check: 3 s is the restart timer a lost first
    // Configure-Request used to cost every call.
    let max = j["latency_ms"]["max"].as_f64().unwrap();
    assert!((200.0..3000.0).contains(&max), "{text}");
}

#[test]
fn sessions_come_up_and_are_measured() {
    let l = lnsd(40);
    let args = ["--tunnels", "2", "--sessions", "20", "--rate", "400"];
    let (ok, text, j) = sessions(&l, "r.json", &args);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert_eq!(j["requested"], 40);
    assert_eq!(j["up"], 40, "{text}");
    assert_eq!(j["addresses"], 40, "each subscriber has its own address");
    assert!(j["failed"].as_object().unwrap().is_empty(), "{text}");
    let p50 = j["latency_ms"]["p50"].as_f64().unwrap();
    let max = j["latency_ms"]["max"].as_f64().unwrap();
    assert!(p50 > 0.0 && max >= p50, "{text}");
    assert!(j["rate_achieved"].as_f64().unwrap() > 0.0);
    assert!(text.contains("sessions: 40 of 40 up"), "{text}");
}

/// Dual-stack subscribers over UDP into lnsd: IPv6CP opens beside IPCP,
/// each subscriber configures a global address by SLAAC from the Router
/// Advertisement lnsd sends, and no two share a /64; each asks DHCPv6 for
/// a prefix and no two share a /56.
#[test]
fn dual_stack_subscribers_each_configure_their_own_64_and_get_their_own_56() {
    let l = lnsd_with(40, true);
    let args = [
        "--tunnels",
        "2",
        "--sessions",
        "20",
        "--rate",
        "400",
        "--ipv6",
    ];
    let (ok, text, j) = sessions(&l, "v6.json", &args);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert_eq!(j["up"], 40, "{text}");
    assert_eq!(j["addresses"], 40, "{text}");
    assert_eq!(j["ipv6_prefixes"], 40, "{text}\n{}", l.proc.log());
    assert_eq!(j["delegated_prefixes"], 40, "{text}\n{}", l.proc.log());
    assert!(
        text.contains(
            "ipv6: 40 distinct /64s configured from Router Advertisements, \
             40 distinct prefixes delegated by DHCPv6"
        ),
        "{text}"
    );
}

/// The tunnel itself over IPv6 (issue 19, item 4, control plane): lnsd
/// listens on ::1, the LAC reaches it over IPv6 only, and dual-stack
/// subscribers come up through it with their /64s and delegated prefixes.
#[test]
fn the_tunnel_itself_runs_over_ipv6() {
    let l = lnsd_on(10, true, "::1");
    let args = ["--sessions", "10", "--rate", "200", "--ipv6"];
    let (ok, text, j) = sessions(&l, "over6.json", &args);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert_eq!(j["up"], 10, "{text}\n{}", l.proc.log());
    assert_eq!(j["ipv6_prefixes"], 10, "{text}");
    assert_eq!(j["delegated_prefixes"], 10, "{text}");
}

#[test]
fn churn_redials_and_failures_have_causes() {
    let l = lnsd(5);
    let args = [
        "--sessions",
        "5",
        "--rate",
        "50",
        "--churn",
        "1",
        "--auth",
        "pap",
    ];
    let (ok, text, j) = sessions(&l, "churn.json", &args);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert_eq!(j["up"], 5);
    assert!(j["churn_cycles"].as_u64().unwrap() >= 10, "{text}");
    assert!(j["failed"].as_object().unwrap().is_empty(), "{text}");

    // Wrong passwords: every call fails, counted under the LNS's cause.
    let args = ["--sessions", "3", "--password", "wrong", "--timeout", "5"];
    let (ok, text, j) = sessions(&l, "bad.json", &args);
    assert!(!ok);
    assert!(text.contains("no session came up"), "{text}");
    assert_eq!(j["up"], 0);
    let failed: u64 = j["failed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(failed, 3, "{text}");
}

#[test]
fn bad_use_gets_clear_errors() {
    let (ok, text) = bench(&["sessions"]);
    assert!(!ok && text.contains("--lns is required"), "{text}");
    let (ok, text) = bench(&["sessions", "--lns", "nowhere"]);
    assert!(!ok && text.contains("--lns nowhere: not valid"), "{text}");
    let (ok, text) = bench(&["traffik"]);
    assert!(!ok && text.contains("unknown subcommand traffik"), "{text}");
    // Nobody listening: the calls time out, and the tool says so.
    let port = free_port();
    let (ok, text) = bench(&[
        "sessions",
        "--lns",
        &format!("127.0.0.1:{port}"),
        "--local",
        "127.0.0.1:0",
        "--sessions",
        "2",
        "--timeout",
        "1",
    ]);
    assert!(!ok && text.contains("no session came up"), "{text}");
    assert!(text.contains("timeout"), "{text}");
}

#[test]
fn export_with_live_sessions_writes_their_frames_and_holds_them() {
    let l = lnsd(3);
    let lns = format!("127.0.0.1:{}", l.port);
    let out = l.dir.join("export");
    let (ok, text) = bench(&[
        "export",
        "--lns",
        &lns,
        "--local",
        "127.0.0.1:0",
        "--sessions",
        "3",
        "--hold",
        "1",
        "--dir",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}\n{}", l.proc.log());
    assert!(text.contains("holding 3 sessions up for 1 s"), "{text}");
    // One upstream frame per live session: L2TP to the LNS's port, each
    // with its own session id, none of them the placeholder ids.
    let pcap = std::fs::read(out.join("upstream.pcap")).unwrap();
    let mut at = 24;
    let mut ids = Vec::new();
    while at < pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let f = &pcap[at + 16..at + 16 + len];
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), l.port, "UDP to the LNS");
        ids.push(u16::from_be_bytes([f[46], f[47]]));
        at += 16 + len;
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_ne!(ids, vec![1, 2, 3], "placeholder ids");
    for f in ["downstream.pcap", "trex-l2tp.py", "pktgen-downstream.sh"] {
        assert!(out.join(f).exists(), "{f}");
    }
}
