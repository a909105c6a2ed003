//! `lns-bench demo` and `lns-bench traffic` in network namespaces (root):
//! sessions up, every probe counted both ways, latency recorded, the LNS's
//! own counters agreeing, nothing left behind; and the errors a user gets
//! for bad use (not root, no XDP, a port in use, a rate out of reach).

#[path = "../../controlplane/protocol/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

use process::{AccessLab, Proc, root_or_skip};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BENCH: &str = env!("CARGO_BIN_EXE_lns-bench");

/// The tests that push traffic through a data plane take turns: each
/// busy-polls on these 2 vCPUs (a generator, lns-dataplane), and two at
/// once starve each other's rings into losses that are the machine's,
/// not the product's (seen under `make test`).
static TRAFFIC: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TRAFFIC
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sibling(name: &str) -> PathBuf {
    // Built by the workspace's tests (make test) next to lns-bench.
    let p = Path::new(BENCH).with_file_name(name);
    assert!(p.exists(), "{} is missing: run make test", p.display());
    p
}

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Every probe sent arrived exactly once, at the right subscriber, with a
/// latency.
fn assert_exact(d: &serde_json::Value, text: &str) {
    let sent = u(&d["sent"]);
    assert!(sent > 0, "{text}");
    assert_eq!(u(&d["received"]), sent, "{text}");
    for k in ["lost", "duplicates", "misdelivered", "sessions_with_loss"] {
        assert_eq!(u(&d[k]), 0, "{k}: {text}");
    }
    assert_eq!(u(&d["latency_us"]["samples"]), sent, "{text}");
    let (p50, max) = (
        d["latency_us"]["p50"].as_f64().unwrap(),
        d["latency_us"]["max"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && max >= p50, "{text}");
    assert_eq!(d["rate_missed"], false, "{text}");
}

fn counter(list: &serde_json::Value, name: &str) -> u64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e[0] == name)
        .map_or(0, |e| u(&e[1]))
}

/// `lns-bench demo` with 20 sessions, 2,000 probes a second each way for
/// 2 s, and `extra`: its JSON report, its output, and its process (to
/// check nothing is left of it).
fn demo(tag: &str, extra: &[&str]) -> (serde_json::Value, String, Proc) {
    let dir = std::env::temp_dir().join(format!("lns-bench-{tag}-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("demo.json");
    let mut c = Command::new(BENCH);
    c.args([
        "demo",
        "--sessions",
        "20",
        "--setup-rate",
        "200",
        "--rate",
        "2000",
        "--duration",
        "2",
    ])
    .args(extra)
    .arg("--json")
    .arg(&out);
    let mut child = Proc::spawn(tag, c);
    let status = child.wait_status(Duration::from_secs(120));
    let text = child.log();
    assert!(status.is_some_and(|s| s.success()), "{text}");
    let j = json(&out);
    std::fs::remove_dir_all(&dir).unwrap();
    (j, text, child)
}

#[test]
fn the_demo_brings_up_sessions_and_counts_every_probe() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let (j, text, child) = demo("demo", &["--capacity", "1"]);

    assert_eq!(u(&j["sessions"]["up"]), 20, "{text}");
    assert_eq!(u(&j["sessions"]["addresses"]), 20, "{text}");
    let t = &j["traffic"];
    assert_eq!(u(&t["sessions"]), 20);
    assert_exact(&t["up"], &text);
    assert_exact(&t["down"], &text);
    // The LNS counted the same packets, and dropped none.
    let sent_up = u(&t["up"]["sent"]);
    let sent_down = u(&t["down"]["sent"]);
    assert_eq!(
        counter(&j["lns_counters"], "upstream_packets"),
        sent_up,
        "{text}"
    );
    assert_eq!(
        counter(&j["lns_counters"], "downstream_packets"),
        sent_down,
        "{text}"
    );
    assert!(j["lns_drops"].as_array().unwrap().is_empty(), "{text}");
    // The capacity runs moved traffic through both data planes.
    let cap = &j["capacity"];
    assert!(cap["l2tp_mpps"].as_f64().unwrap() > 0.0, "{text}");
    assert!(cap["down_mpps"].as_f64().unwrap() > 0.0, "{text}");
    assert!(cap["bare_mpps"].as_f64().unwrap() > 0.0, "{text}");
    assert!(text.contains("=== summary ==="), "{text}");

    assert_nothing_left(child.pid());
}

/// `demo --ipv6`: dual-stack subscribers, each with a /64 by RA and a /56
/// by DHCPv6-PD, and IPv6 probes both ways to each one's address and to a
/// host inside its delegated prefix: every one counted, by the LNS too.
#[test]
fn the_demo_sends_ipv6_to_each_subscriber_and_into_its_delegated_prefix() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let (j, text, child) = demo("demo6", &["--ipv6", "--capacity", "0"]);

    let s = &j["sessions"];
    assert_eq!(u(&s["up"]), 20, "{text}");
    assert_eq!(u(&s["ipv6_prefixes"]), 20, "{text}");
    assert_eq!(u(&s["delegated_prefixes"]), 20, "{text}");
    let t = &j["traffic"];
    assert_eq!(u(&t["sessions"]), 40, "two flows a subscriber: {text}");
    assert_eq!(
        t["sizes"],
        serde_json::json!([72]),
        "the smallest IPv6 probe"
    );
    assert_exact(&t["up"], &text);
    assert_exact(&t["down"], &text);
    assert_eq!(
        counter(&j["lns_counters"], "upstream_packets"),
        u(&t["up"]["sent"]),
        "{text}"
    );
    assert_eq!(
        counter(&j["lns_counters"], "downstream_packets"),
        u(&t["down"]["sent"]),
        "{text}"
    );
    assert_eq!(
        counter(&j["lns_counters"], "upstream_bytes"),
        72 * u(&t["up"]["sent"]),
        "{text}"
    );
    assert!(j["lns_drops"].as_array().unwrap().is_empty(), "{text}");
    assert_nothing_left(child.pid());
}

/// Nothing of demo `pid` is left: namespaces, table, directory, processes.
fn assert_nothing_left(pid: u32) {
    let out = |program: &str, args: &[&str]| {
        String::from_utf8_lossy(&Command::new(program).args(args).output().unwrap().stdout)
            .to_string()
    };
    let ns = out("ip", &["netns", "list"]);
    assert!(!ns.contains(&format!("xlns-demo-{pid}-")), "{ns}");
    assert!(!Path::new(&format!("/dev/shm/xlns-demo-{pid}")).exists());
    let dir = std::env::temp_dir().join(format!("xlns-demo-{pid}"));
    assert!(!dir.exists(), "{}", dir.display());
    // lnsd and lns-dataplane ran with the lab's files: none is running.
    let ps = out("ps", &["-eo", "args"]);
    assert!(!ps.contains(&format!("xlns-demo-{pid}")), "{ps}");
}

#[test]
fn the_demo_cleans_up_when_interrupted() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let mut c = Command::new(BENCH);
    c.args([
        "demo",
        "--sessions",
        "5",
        "--duration",
        "30",
        "--capacity",
        "0",
    ]);
    let mut child = Proc::spawn("demo", c);
    assert!(
        child.wait_for("sessions: 5 of 5 up", 1, Duration::from_secs(60)),
        "{}",
        child.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    child.signal("INT");
    let status = child.wait_status(Duration::from_secs(20));
    let text = child.log();
    assert!(status.is_some_and(|s| !s.success()), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    assert_nothing_left(child.pid());
}

/// An lnsd supervising lns-dataplane in the access lab, with room on the
/// access link for 1500-byte subscriber packets.
fn lab_lnsd(lab: &AccessLab, users: u32) -> (Proc, TableFile) {
    lab_lnsd_with(lab, users, "")
}

/// [`lab_lnsd`] with more `[dataplane]` settings.
fn lab_lnsd_with(lab: &AccessLab, users: u32, dataplane: &str) -> (Proc, TableFile) {
    let ends = (AccessLab::LNS.into(), AccessLab::LAC.into());
    lab_lnsd_at(lab, users, dataplane, ends)
}

/// [`lab_lnsd_with`], the tunnel between these addresses (the LNS's, the
/// LAC's).
fn lab_lnsd_at(
    lab: &AccessLab,
    users: u32,
    dataplane: &str,
    (lns, lac): (IpAddr, IpAddr),
) -> (Proc, TableFile) {
    for (ns, dev) in [(&lab.lac, "vl"), (&lab.lns, "va")] {
        let ok = Command::new("ip")
            .args(["-n", ns, "link", "set", dev, "mtu", "1600"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let mut users_text = String::new();
    for i in 1..=users {
        users_text.push_str(&format!(
            "[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\n"
        ));
    }
    let users = lab.file("users.toml", &users_text);
    // Named after the lab: tests running at once must not share a table.
    let table = format!("/dev/shm/{}", lab.lns);
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{listen}\"]\nshutdown_timeout_secs = 1\n\
             [[peer]]\naddress = \"{lac}\"\n\
             [ppp]\nauth = [\"chap\"]\nusers_file = \"{users}\"\ngateway = \"100.64.0.1\"\n\
             ipv6 = false\nmru = 1500\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.1.1-100.64.4.254\"]\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 2048\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\nicmp_source = \"{lns_core}\"\n{dataplane}",
            listen = SocketAddr::from((lns, 1701)),
            users = users.display(),
            bin = sibling("lns-dataplane").display(),
            host = AccessLab::HOST,
            lns_core = AccessLab::LNS_CORE,
        ),
    );
    let mut c = lab.cmd(&lab.lns, sibling("lnsd").to_str().unwrap());
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let lnsd = Proc::spawn("lnsd", c);
    assert!(
        lnsd.wait_for("data plane attached", 1, Duration::from_secs(20)),
        "{}",
        lnsd.log()
    );
    (lnsd, TableFile(table))
}

/// lnsd's table file, removed however the test ends.
struct TableFile(String);

impl Drop for TableFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn traffic_cmd(lab: &AccessLab, extra: &[&str]) -> Command {
    traffic_cmd_at(lab, (AccessLab::LNS.into(), AccessLab::LAC.into()), extra)
}

/// [`traffic_cmd`] with the tunnel between these addresses (the LNS's,
/// the LAC's).
fn traffic_cmd_at(lab: &AccessLab, (lns, lac): (IpAddr, IpAddr), extra: &[&str]) -> Command {
    let mut c = lab.cmd(&lab.lac, BENCH);
    c.args([
        "traffic",
        "--lns",
        &SocketAddr::from((lns, 1701)).to_string(),
        "--local",
        &SocketAddr::from((lac, 1701)).to_string(),
        "--access-if",
        "vl",
        "--core-if",
        "vk",
        "--core-netns",
        &lab.core,
        "--core-host",
        &AccessLab::HOST.to_string(),
        "--core-gateway",
        &AccessLab::LNS_CORE.to_string(),
    ]);
    c.args(extra);
    c
}

/// The LAC reaches the LNS over IPv6 only (no IPv4 on the access link):
/// the generator's L2TP goes over IPv6 with its UDP checksum, the LNS's
/// workers take it and answer the same way, and every probe is counted.
#[test]
fn traffic_runs_over_an_ipv6_only_access_link() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let lab = AccessLab::new("b6");
    let (lns6, lac6): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8:acc::1".parse().unwrap(),
        "2001:db8:acc::2".parse().unwrap(),
    );
    for (ns, dev, a) in [(&lab.lac, "vl", lac6), (&lab.lns, "va", lns6)] {
        for args in [
            vec!["-n", ns, "-4", "addr", "flush", "dev", dev],
            vec![
                "-n",
                ns,
                "-6",
                "addr",
                "add",
                &format!("{a}/64"),
                "dev",
                dev,
                "nodad",
            ],
        ] {
            let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert!(
                Command::new("ip").args(&a).status().unwrap().success(),
                "{a:?}"
            );
        }
    }
    let ends = (IpAddr::V6(lns6), IpAddr::V6(lac6));
    let (lnsd, table) = lab_lnsd_at(&lab, 10, "", ends);
    let out = lab.dir.join("t6.json");
    let (ok, text) = run(&mut traffic_cmd_at(
        &lab,
        ends,
        &[
            "--sessions",
            "10",
            "--rate",
            "2000",
            "--duration",
            "2",
            "--json",
            out.to_str().unwrap(),
        ],
    ));
    assert!(ok, "{text}\n{}", lnsd.log());
    let j = json(&out);
    assert_eq!(u(&j["sessions"]["up"]), 10, "{text}");
    assert_exact(&j["traffic"]["up"], &text);
    assert_exact(&j["traffic"]["down"], &text);
    // Through the workers, each way, nothing dropped (a wrong checksum
    // would be `bad_udp_checksum`).
    use lns_dataplane::table::counters::Counter;
    let r = lns_dataplane::table::Reader::inspect(Path::new(&table.0)).unwrap();
    let w = r.worker(0).unwrap();
    assert_eq!(w.get(Counter::Upstream), u(&j["traffic"]["up"]["sent"]));
    assert_eq!(w.get(Counter::Downstream), u(&j["traffic"]["down"]["sent"]));
    let drops: Vec<_> = w.named_drops().filter(|(_, n)| *n > 0).collect();
    assert!(drops.is_empty(), "{drops:?}");
}

#[test]
fn traffic_counts_imix_probes_both_ways_and_says_when_a_rate_is_out_of_reach() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let lab = AccessLab::new("bt");
    let (lnsd, _table) = lab_lnsd(&lab, 10);
    let out = lab.dir.join("t.json");
    let (ok, text) = run(&mut traffic_cmd(
        &lab,
        &[
            "--sessions",
            "10",
            "--size",
            "imix",
            "--rate",
            "3000",
            "--duration",
            "2",
            "--json",
            out.to_str().unwrap(),
        ],
    ));
    assert!(ok, "{text}\n{}", lnsd.log());
    let j = json(&out);
    assert_eq!(u(&j["sessions"]["up"]), 10, "{text}");
    let t = &j["traffic"];
    assert_eq!(t["sizes"].as_array().unwrap().len(), 12, "the IMIX cycle");
    assert_exact(&t["up"], &text);
    assert_exact(&t["down"], &text);
    // IMIX is 7:4:1 of 64, 576 and 1500 bytes: about 357 bytes a probe.
    let up = &t["up"];
    let bits_per_probe =
        up["rx_gbps"].as_f64().unwrap() * 1e9 / (up["rx_mpps"].as_f64().unwrap() * 1e6);
    assert!(
        (330.0 * 8.0..390.0 * 8.0).contains(&bits_per_probe),
        "{bits_per_probe} {text}"
    );

    // A rate this machine cannot send: said, with what it reached.
    let out = lab.dir.join("missed.json");
    let (ok, text) = run(&mut traffic_cmd(
        &lab,
        &[
            "--sessions",
            "2",
            "--rate",
            "100M",
            "--duration",
            "1",
            "--direction",
            "up",
            "--json",
            out.to_str().unwrap(),
        ],
    ));
    assert!(!ok, "{text}");
    assert!(text.contains("the generator reached"), "{text}");
    assert_eq!(json(&out)["traffic"]["up"]["rate_missed"], true);
}

/// The elephant tunnel (issue 18): 1,000 sessions in one tunnel from one
/// LAC arrive on one queue, and the hand-off spreads them over lnsd's two
/// data-plane workers. Every probe arrives once, none out of order, each
/// way; both workers forward upstream.
#[test]
fn one_tunnel_spreads_over_two_workers_with_the_hand_off() {
    if !root_or_skip() {
        return;
    }
    let _turn = take_turn();
    let lab = AccessLab::with_queues("bho", 2);
    let (lnsd, table) = lab_lnsd_with(&lab, 1000, "workers = 2\nhandoff = true\n");
    let out = lab.dir.join("ho.json");
    let (ok, text) = run(&mut traffic_cmd(
        &lab,
        &[
            "--sessions",
            "1000",
            "--rate",
            "20000",
            "--duration",
            "2",
            "--json",
            out.to_str().unwrap(),
        ],
    ));
    assert!(ok, "{text}\n{}", lnsd.log());
    let r = lns_dataplane::table::Reader::inspect(Path::new(&table.0)).unwrap();
    let workers: Vec<String> = (0..2)
        .map(|w| {
            let b = r.worker(w).unwrap();
            let all: Vec<String> = b
                .named()
                .chain(b.named_drops())
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            format!("worker {w}: {}", all.join(" "))
        })
        .collect();
    let text = format!("{text}\n{}", workers.join("\n"));
    let j = json(&out);
    assert_eq!(u(&j["sessions"]["up"]), 1000, "{text}");
    for dir in ["up", "down"] {
        let d = &j["traffic"][dir];
        assert_exact(d, &text);
        assert_eq!(u(&d["reordered"]), 0, "{dir}: {text}");
    }
    let get = |w, c| r.worker(w).unwrap().get(c);
    use lns_dataplane::table::counters::Counter;
    let up = u(&j["traffic"]["up"]["sent"]);
    assert_eq!(get(0, Counter::Upstream) + get(1, Counter::Upstream), up);
    assert!(
        get(0, Counter::Upstream) > up / 4 && get(1, Counter::Upstream) > up / 4,
        "both workers work the tunnel: {} and {} of {up}",
        get(0, Counter::Upstream),
        get(1, Counter::Upstream)
    );
    assert_eq!(
        get(0, Counter::HandedOff) + get(1, Counter::HandedOff),
        get(0, Counter::HandoffReceived) + get(1, Counter::HandoffReceived)
    );
}

#[test]
fn bad_use_gets_clear_errors() {
    if !root_or_skip() {
        return;
    }
    // Not root: copied somewhere any user may run it from.
    let dir = std::env::temp_dir().join(format!("lns-bench-nonroot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("lns-bench");
    std::fs::copy(BENCH, &copy).unwrap();
    for cmd in [
        &["demo"][..],
        &[
            "traffic",
            "--lns",
            "127.0.0.1:1701",
            "--access-if",
            "a",
            "--core-if",
            "b",
            "--core-host",
            "10.0.0.1",
            "--core-gateway",
            "10.0.0.2",
        ][..],
    ] {
        let (ok, text) = run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(cmd));
        assert!(!ok && text.contains("needs root"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // A port in use.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let (ok, text) = run(Command::new(BENCH).args([
        "sessions",
        "--lns",
        "127.0.0.1:1701",
        "--local",
        &format!("127.0.0.1:{port}"),
    ]));
    assert!(!ok && text.contains("the port is in use"), "{text}");

    // Required options.
    let (ok, text) = run(Command::new(BENCH).args(["traffic", "--lns", "127.0.0.1:1701"]));
    assert!(!ok && text.contains("--access-if is required"), "{text}");
    let (ok, text) = run(Command::new(BENCH).args(["demo", "--rate", "fast"]));
    assert!(!ok && text.contains("--rate fast: not valid"), "{text}");

    // No native XDP: loopback has none. The sessions come up first (an
    // lnsd on loopback in a namespace of its own), then XDP is refused.
    let lab = AccessLab::new("bx");
    let (lnsd, _table) = lab_lnsd(&lab, 2);
    let (ok, text) =
        run(traffic_cmd(&lab, &["--sessions", "1", "--duration", "1"]).args(["--access-if", "lo"]));
    assert!(!ok, "{text}");
    assert!(
        text.contains("access interface lo: no native XDP support"),
        "{text}\n{}",
        lnsd.log()
    );
    assert!(text.contains("--xdp generic"), "{text}");
}
