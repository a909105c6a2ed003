//! Per-subscriber rates end to end (issue 17), against the real
//! FreeRADIUS and lnsd with its XDP data plane in network namespaces:
//! the Access-Accept's Mikrotik-Rate-Limit holds `lns-bench traffic` at
//! twice the limit to the limit each way (±5 %); a radclient CoA-Request
//! changes the rate and the forwarded rate follows within a second; a
//! CoA for an unknown session is NAKed 503; a replayed CoA gets the
//! cached reply and is applied once.

#[path = "../../controlplane/protocol/tests/common/mod.rs"]
mod common;

use common::process::{AccessLab, Proc, root_or_skip};
use lns_dataplane::table::Reader;
use lns_dataplane::table::counters::SessionCounters;
use lns_protocol::aaa::radius::packet::{Attr, Code, Packet, attr};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const DAE_SECRET: &str = "xlns-dae-secret";
/// IP bytes per probe.
const SIZE: u64 = 1000;

fn sibling(name: &str) -> PathBuf {
    // Built by the workspace's tests (make test) next to lns-bench.
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_lns-bench")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: run the workspace tests (make test)",
        p.display()
    );
    p
}

/// The table file lnsd creates, removed however the test ends.
struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lnsd(lab: &AccessLab, table: &str, radius: &common::radiusd::Radiusd, dae: u16) -> Proc {
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{lns}:1701\"]\nshutdown_timeout_secs = 2\n\
             [[peer]]\naddress = \"{lac}\"\n\
             [ppp]\nauth = [\"chap\"]\ngateway = \"100.64.9.1\"\nipv6 = false\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.9.2-100.64.9.254\"]\n\
             [radius]\nnas_identifier = \"xlns-rates\"\nnas_ip = \"{lns}\"\n\
             [[radius.auth]]\naddress = \"127.0.0.1:{auth}\"\nsecret = \"{secret}\"\n\
             [radius.dae]\nlisten = \"127.0.0.1:{dae}\"\n\
             [[radius.dae.client]]\naddress = \"127.0.0.1\"\nsecret = \"{DAE_SECRET}\"\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 64\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\nicmp_source = \"{lns_core}\"\nneighbour_refresh_secs = 1\n",
            lns = AccessLab::LNS,
            lac = AccessLab::LAC,
            auth = radius.auth,
            secret = common::radiusd::SECRET,
            bin = sibling("lns-dataplane").display(),
            host = AccessLab::HOST,
            lns_core = AccessLab::LNS_CORE,
        ),
    );
    let mut c = lab.cmd(&lab.lns, sibling("lnsd").to_str().unwrap());
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let lns = Proc::spawn("lnsd", c);
    assert!(lns.wait_for("data plane attached", 1, T), "{}", lns.log());
    lns
}

/// `lns-bench traffic` from the LAC's namespace: one subscriber (user1),
/// `pps` probes of `SIZE` IP bytes per second `direction` for `secs`.
fn traffic(lab: &AccessLab, direction: &str, pps: u64, secs: u64, json: &PathBuf) -> Command {
    let mut c = lab.cmd(&lab.lac, env!("CARGO_BIN_EXE_lns-bench"));
    c.args(["traffic", "--lns"])
        .arg(format!("{}:1701", AccessLab::LNS))
        .arg("--local")
        .arg(format!("{}:1701", AccessLab::LAC))
        .args(["--sessions", "1", "--tunnels", "1", "--auth", "chap"])
        .args(["--access-if", "vl", "--core-if", "vk", "--core-netns"])
        .arg(&lab.core)
        .arg("--core-host")
        .arg(AccessLab::HOST.to_string())
        .arg("--core-gateway")
        .arg(AccessLab::LNS_CORE.to_string())
        .args(["--direction", direction, "--rate"])
        .arg(pps.to_string())
        .args(["--size", &SIZE.to_string(), "--duration", &secs.to_string()])
        .arg("--json")
        .arg(json);
    c
}

/// What one direction of a finished `lns-bench traffic` run received,
/// bits/s of IP.
fn received_bps(json: &PathBuf, direction: &str) -> f64 {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let v = &all["traffic"];
    let field = |d: &str, k: &str| v[d][k].as_u64().unwrap_or_else(|| panic!("{d}.{k} in {v}"));
    let secs = v["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("seconds in {v}"));
    let got = field(direction, "received");
    let sent = field(direction, "sent");
    assert!(
        !v[direction]["rate_missed"].as_bool().unwrap(),
        "the generator fell short: {v}"
    );
    assert!(sent > got, "nothing was policed: {v}");
    (got * SIZE * 8) as f64 / secs
}

fn within(what: &str, got: f64, want: f64) {
    let err = (got - want).abs() / want;
    println!("{what}: {:.2} Mbit/s (limit {:.0})", got / 1e6, want / 1e6);
    assert!(
        err <= 0.05,
        "{what}: {:.3} Mbit/s, {:.1} % off {:.0}",
        got / 1e6,
        err * 100.0,
        want / 1e6
    );
}

fn lnsctl(lab: &AccessLab, args: &[&str]) -> String {
    let out = lab
        .cmd(&lab.lns, sibling("lnsctl").to_str().unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lnsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn radclient(lab: &AccessLab, dae: u16, attrs: &str) -> String {
    let mut c = lab.cmd(&lab.lns, "radclient");
    c.args(["-x", "-r", "1", "-t", "3"])
        .arg(format!("127.0.0.1:{dae}"))
        .args(["coa", DAE_SECRET])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every worker's counters for the subscriber at `a`.
fn counters(r: &Reader, a: Ipv4Addr) -> SessionCounters {
    let Some(f) = r.by_ipv4(a) else {
        return SessionCounters::default();
    };
    let mut sum = SessionCounters::default();
    for w in 0..r.sizes().workers {
        sum += r.worker(w).unwrap().session_counters(f.slot, f.generation);
    }
    sum
}

/// Downstream IP bits/s forwarded to `a` over `window`, from the data
/// plane's counters.
fn forwarded_down(r: &Reader, a: Ipv4Addr, window: Duration) -> f64 {
    let (t0, b0) = (Instant::now(), counters(r, a).down_bytes);
    std::thread::sleep(window);
    let (t1, b1) = (Instant::now(), counters(r, a).down_bytes);
    (b1 - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64()
}

#[test]
fn mikrotik_rate_limit_holds_each_way_and_a_coa_changes_it() {
    if !root_or_skip() || !common::tool_or_skip("freeradius") || !common::tool_or_skip("radclient")
    {
        return;
    }
    let lab = AccessLab::new("rates");
    let table = Table(format!("/dev/shm/xlns-rates-{}", std::process::id()));
    let mut radius = common::radiusd::Radiusd::build();
    radius.add_user("user1", "pw1", &["Mikrotik-Rate-Limit = \"10M/50M\""]);
    radius.start_in(Some(&lab.lns));
    let dae = common::free_udp_port();
    let lns = lnsd(&lab, &table.0, &radius, dae);

    // Twice the limit each way: what arrives is the limit (the bucket's
    // burst, 100 ms at the rate, is 1.25 % of 8 s).
    let up = lab.dir.join("up.json");
    let out = traffic(&lab, "up", 2_500, 8, &up).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        lns.log()
    );
    within(
        "upstream at 20 Mbit/s offered",
        received_bps(&up, "up"),
        10e6,
    );
    let down = lab.dir.join("down.json");
    let out = traffic(&lab, "down", 12_500, 8, &down).output().unwrap();
    assert!(out.status.success(), "{}", lns.log());
    within(
        "downstream at 100 Mbit/s offered",
        received_bps(&down, "down"),
        50e6,
    );

    // A CoA while traffic runs: the download goes from 50 to 20 Mbit/s.
    let json = lab.dir.join("coa.json");
    let mut run = Proc::spawn("lns-bench", traffic(&lab, "down", 12_500, 10, &json));
    let reader = Reader::attach(std::path::Path::new(&table.0)).unwrap();
    let end = Instant::now() + T;
    let addr = loop {
        let v: serde_json::Value =
            serde_json::from_str(&lnsctl(&lab, &["--json", "sessions"])).unwrap();
        let a = v["sessions"][0]["ipv4"]
            .as_str()
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        if let Some(a) = a
            && counters(&reader, a).down_bytes > 0
        {
            break a;
        }
        assert!(Instant::now() < end, "no traffic: {}", run.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    within(
        "downstream before the CoA",
        forwarded_down(&reader, addr, Duration::from_secs(2)),
        50e6,
    );
    let r = radclient(
        &lab,
        dae,
        "User-Name = \"user1\", Mikrotik-Rate-Limit = \"10M/20M\"\n",
    );
    assert!(r.contains("CoA-ACK"), "{r}");
    std::thread::sleep(Duration::from_secs(1));
    within(
        "downstream from 1 s after the CoA",
        forwarded_down(&reader, addr, Duration::from_secs(2)),
        20e6,
    );
    let shown = lnsctl(&lab, &["session", &session_id(&lab)]);
    assert!(shown.contains("rate down       20M"), "{shown}");
    let c = counters(&reader, addr);
    assert!(c.down_rate_limited > 0 && c.up_rate_limited == 0, "{c:?}");

    // Nobody by that name: NAK 503.
    let r = radclient(
        &lab,
        dae,
        "User-Name = \"nobody\", Mikrotik-Rate-Limit = \"1M\"\n",
    );
    assert!(r.contains("CoA-NAK"), "{r}");
    assert!(r.contains("Session-Context-Not-Found"), "{r}");

    // The same request twice (its reply lost, say): the same reply, and
    // the change made once.
    let coa_changes = |lab: &AccessLab| {
        let v: serde_json::Value =
            serde_json::from_str(&lnsctl(lab, &["--json", "stats"])).unwrap();
        v["engine"]["coa_changes"].as_u64().unwrap_or(0)
    };
    let before = coa_changes(&lab);
    let mut req = Packet::new(Code::CoaRequest, 77, [0; 16]);
    req.attrs = vec![
        Attr::new(attr::USER_NAME, b"user1".to_vec()),
        Attr::vendor(14988, 8, b"10M/30M"),
    ];
    let bytes = req.seal_md5_request(DAE_SECRET.as_bytes()).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = lab
        .cmd(&lab.lns, "python3")
        .args([
            "-c",
            "import socket,sys\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3)\n\
             d=bytes.fromhex(sys.argv[1])\n\
             for _ in range(2):\n  s.sendto(d,('127.0.0.1',int(sys.argv[2])));print(s.recv(4096).hex())\n",
            &hex,
            &dae.to_string(),
        ])
        .output()
        .unwrap();
    let replies = String::from_utf8_lossy(&out.stdout);
    let replies: Vec<&str> = replies.lines().collect();
    assert_eq!(replies.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(replies[0], replies[1], "the cached reply");
    assert!(replies[0].starts_with("2c"), "CoA-ACK (44): {}", replies[0]);
    assert_eq!(coa_changes(&lab), before + 1, "applied once");
    assert!(
        run.wait_status(T).is_some_and(|s| s.success()),
        "{}",
        run.log()
    );
}

/// `T/S` of the one session lnsd has.
fn session_id(lab: &AccessLab) -> String {
    let v: serde_json::Value = serde_json::from_str(&lnsctl(lab, &["--json", "sessions"])).unwrap();
    format!(
        "{}/{}",
        v["sessions"][0]["tunnel"], v["sessions"][0]["session"]
    )
}
