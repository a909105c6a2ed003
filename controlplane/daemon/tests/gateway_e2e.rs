//! The multi-hop gateway in a namespace lab (issue 15's "done when"): an
//! emulated LAC → an xlns gateway → two xlns LNSs, three lnsd each with
//! its own lns-dataplane (XDP + AF_XDP), 100 subscribers over two realms.
//!
//! ```text
//!            lac 198.51.100.2 ─┐
//!  gw  198.51.100.1 (va) ──────┤ bridge (ns sw)
//!  lns-a 198.51.100.11 (va) ───┤
//!  lns-b 198.51.100.12 (va) ───┘
//!  lns-a 203.0.113.1 (vc) ══ host 203.0.113.2      (a.example: 100.64.11.0/24)
//!  lns-b 203.0.114.1 (vc) ══ host 203.0.114.2      (b.example: 100.64.12.0/24)
//!  gw    203.0.115.1 (vc) ══ gwc  203.0.115.2      (the gateway's unused core)
//! ```
//!
//! The gateway runs LCP and CHAP's first phase with each subscriber, then
//! offers the call to the LNS of its realm with proxy LCP and proxy
//! authentication; from then on its data plane rewrites every data frame
//! of the call between the two tunnels. The LAC runs in its own process in
//! `lac` (this test binary re-executed with `XLNS_GW_LAC` set).

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use common::process::{Proc, TestProcess, ip, ns_cmd, root_or_skip};
use lns_dataplane::wire::checksum;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

const N: usize = 100;
const T: Duration = Duration::from_secs(30);
const GW: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const LNS_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
const LNS_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 12);
const HOST_A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const HOST_B: Ipv4Addr = Ipv4Addr::new(203, 0, 114, 2);

/// The host a subscriber of this pool pings (its LNS's core neighbour).
fn host_for(a: Ipv4Addr) -> Ipv4Addr {
    if a.octets()[2] == 11 { HOST_A } else { HOST_B }
}

/// An ICMP echo request of 84 bytes from `src` to `dst`.
fn echo(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x47, 0x57];
    icmp.extend(seq.to_be_bytes());
    icmp.extend((0..56u8).map(|i| i.wrapping_mul(11)));
    let c = !checksum::sum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0];
    p.extend(src.octets());
    p.extend(dst.octets());
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(icmp);
    p
}

#[test]
fn lac_process() {
    if std::env::var_os("XLNS_GW_LAC").is_none() {
        return;
    }
    lac::run();
}

mod lac {
    use super::*;
    use lns_protocol::l2tp::{CallParams, Endpoint, EndpointConfig, PeerPolicy, PeerRule};
    use lns_protocol::l2tp::{SessionKey, Transmit};
    use lns_protocol::lac::{Lac, LacEvent};
    use lns_protocol::ppp::lcp::AuthProtocol;
    use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
    use lns_protocol::ppp::link::LinkConfig;
    use rand::SeedableRng;
    use std::collections::HashMap;
    use std::net::{SocketAddr, UdpSocket};

    struct Driver {
        lac: Lac,
        sock: UdpSocket,
        me: SocketAddr,
        tunnel: u16,
        placed: usize,
        up: HashMap<SessionKey, Ipv4Addr>,
        downs: usize,
        replies: Vec<(SessionKey, Vec<u8>)>,
    }

    impl Driver {
        fn send(&self, tx: Transmit) {
            let _ = self.sock.send_to(&tx.payload, tx.peer);
        }

        fn pump(&mut self, until: Instant) {
            let mut buf = [0u8; 4096];
            loop {
                while let Some(tx) = self.lac.poll_transmit() {
                    self.send(tx);
                }
                if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                    self.lac.handle(Instant::now(), self.me, from, &buf[..n]);
                }
                self.lac.on_timeout(Instant::now());
                while let Some(e) = self.lac.poll_event() {
                    match e {
                        LacEvent::SubscriberUp {
                            key, ipv4: Some(a), ..
                        } => {
                            self.up.insert(key, a);
                        }
                        LacEvent::SubscriberDown { key, .. } => {
                            self.up.remove(&key);
                            self.downs += 1;
                        }
                        LacEvent::Packet { key, packet, .. } => self.replies.push((key, packet)),
                        _ => {}
                    }
                }
                if Instant::now() >= until {
                    return;
                }
            }
        }

        /// Places `n` calls, user{i}@a.example for even i and @b.example
        /// for odd i (`realm` forces one), and waits for them; answers "UP
        /// count addr,addr,...".
        fn up(&mut self, n: usize, realm: Option<&str>) {
            let want = self.up.len() + n;
            for _ in 0..n {
                let i = self.placed;
                self.placed += 1;
                let realm = realm.unwrap_or(if i.is_multiple_of(2) { "a" } else { "b" });
                let creds = (
                    format!("user{i}@{realm}.example").into_bytes(),
                    format!("pw{i}"),
                );
                self.lac
                    .place_call(Instant::now(), self.tunnel, CallParams::default(), creds)
                    .unwrap();
            }
            let end = Instant::now() + Duration::from_secs(25);
            while self.up.len() < want && Instant::now() < end {
                self.pump(Instant::now() + Duration::from_millis(50));
            }
            let list: Vec<String> = self.up.values().map(ToString::to_string).collect();
            println!("UP {} {}", self.up.len(), list.join(","));
        }

        /// Every subscriber pings its LNS's core host; answers "REPLIES n",
        /// the replies that came back byte for byte as sent.
        fn ping(&mut self, seq: u16) {
            self.replies.clear();
            let subs: Vec<(SessionKey, Ipv4Addr)> = self.up.iter().map(|(k, a)| (*k, *a)).collect();
            for (k, a) in &subs {
                if let Some(tx) = self.lac.send_ip(*k, &echo(*a, host_for(*a), seq)) {
                    self.send(tx);
                }
            }
            self.pump(Instant::now() + Duration::from_millis(1500));
            let mut ok = 0;
            for (k, p) in &self.replies {
                let Some(&a) = self.up.get(k) else { continue };
                let req = echo(a, host_for(a), seq);
                if p.len() == 84
                    && p[12..16] == host_for(a).octets()
                    && p[16..20] == a.octets()
                    && p[20] == 0
                    && p[24..] == req[24..]
                {
                    ok += 1;
                }
            }
            println!("REPLIES {ok}");
        }

        /// Hangs up the subscriber with address `a`; answers "HUNGUP".
        fn hang_up(&mut self, a: Ipv4Addr) {
            let k = self.up.iter().find(|(_, x)| **x == a).map(|(k, _)| *k);
            if let Some(k) = k {
                self.lac.hang_up(Instant::now(), k);
            }
            self.pump(Instant::now() + Duration::from_millis(500));
            println!("HUNGUP {}", k.is_some());
        }
    }

    pub fn run() {
        let me = SocketAddr::from((LAC, 1701));
        let sock = UdpSocket::bind(me).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let endpoint = Endpoint::with_rng(
            EndpointConfig {
                peers: vec![PeerRule {
                    address: None,
                    policy: PeerPolicy::default(),
                }],
                ..Default::default()
            },
            rand::rngs::StdRng::seed_from_u64(7),
        );
        // No keepalives of our own: the data-plane counters below count
        // exactly the pings.
        let link = LinkConfig {
            lcp: LcpConfig {
                side: Side::Client,
                auth: vec![AuthProtocol::ChapMd5],
                ..Default::default()
            },
            echo_interval: Duration::ZERO,
            ipv6: false,
            ..Default::default()
        };
        let mut lac = Lac::new(endpoint, link, (Vec::new(), String::new()), 7);
        let tunnel = lac
            .open_tunnel(Instant::now(), me, SocketAddr::from((GW, 1701)))
            .unwrap();
        let mut d = Driver {
            lac,
            sock,
            me,
            tunnel,
            placed: 0,
            up: HashMap::new(),
            downs: 0,
            replies: Vec::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::stdin().lock()) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            d.pump(Instant::now() + Duration::from_millis(20));
            let Ok(line) = rx.try_recv() else { continue };
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["UP", n] => d.up(n.parse().unwrap(), None),
                ["UP", n, realm] => d.up(n.parse().unwrap(), Some(realm)),
                ["PING", seq] => d.ping(seq.parse().unwrap()),
                ["HANGUP", a] => d.hang_up(a.parse().unwrap()),
                ["DOWNS"] => {
                    d.pump(Instant::now() + Duration::from_millis(300));
                    println!("DOWNS {}", d.downs);
                }
                ["QUIT"] => return,
                _ => println!("ERR {line}"),
            }
        }
    }
}

/// The namespaces and links of the lab; all deleted on drop, with the
/// tables the data planes ran on.
struct GwLab {
    ns: Vec<String>,
    dir: std::path::PathBuf,
    tables: Vec<String>,
}

impl GwLab {
    fn name(&self, role: &str) -> String {
        self.ns.iter().find(|n| n.ends_with(role)).unwrap().clone()
    }

    fn new() -> GwLab {
        let id = std::process::id() % 100_000;
        let dir = std::env::temp_dir().join(format!("xlns-gw-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let roles = ["lac", "sw", "gw", "gwc", "la", "lb", "host"];
        let lab = GwLab {
            ns: roles.iter().map(|r| format!("xg-{id}-{r}")).collect(),
            dir,
            tables: Vec::new(),
        };
        for ns in &lab.ns {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let sw = lab.name("sw");
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        // The access segment: LAC, gateway, both LNSs on one bridge.
        for (role, dev, port, addr) in [
            ("lac", "vl", "pl", LAC),
            ("gw", "va", "pg", GW),
            ("la", "va", "pa", LNS_A),
            ("lb", "va", "pb", LNS_B),
        ] {
            let ns = lab.name(role);
            ip(&[
                "link", "add", dev, "netns", &ns, "type", "veth", "peer", "name", port, "netns",
                &sw,
            ]);
            ip(&["-n", &sw, "link", "set", port, "master", "br0"]);
            ip(&["-n", &sw, "link", "set", port, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", &ns, "link", "set", dev, "up"]);
        }
        // Each LNS's core link to the host, the gateway's to a stub.
        for (role, peer, dev, pdev, net) in [
            ("la", "host", "vc", "ka", 113),
            ("lb", "host", "vc", "kb", 114),
            ("gw", "gwc", "vc", "kg", 115),
        ] {
            let (ns, pns) = (lab.name(role), lab.name(peer));
            ip(&[
                "link", "add", dev, "netns", &ns, "type", "veth", "peer", "name", pdev, "netns",
                &pns,
            ]);
            for (n, d, h) in [(&ns, dev, 1), (&pns, pdev, 2)] {
                ip(&[
                    "-n",
                    n,
                    "addr",
                    "add",
                    &format!("203.0.{net}.{h}/24"),
                    "dev",
                    d,
                ]);
                ip(&["-n", n, "link", "set", d, "up"]);
            }
        }
        let host = lab.name("host");
        ip(&[
            "-n",
            &host,
            "route",
            "add",
            "100.64.11.0/24",
            "via",
            "203.0.113.1",
        ]);
        ip(&[
            "-n",
            &host,
            "route",
            "add",
            "100.64.12.0/24",
            "via",
            "203.0.114.1",
        ]);
        lab
    }

    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// An lnsd configuration with a supervised data plane on va/vc.
    fn lnsd_config(
        &mut self,
        role: &str,
        body: &str,
        listen: Ipv4Addr,
        core_gw: &str,
    ) -> std::path::PathBuf {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_lnsd")).with_file_name("lns-dataplane");
        assert!(
            bin.exists(),
            "{} is missing: run the workspace tests (make test), or cargo build -p lns-dataplane",
            bin.display()
        );
        let table = format!("/dev/shm/xlns-gw-{}-{role}", std::process::id());
        self.tables.push(table.clone());
        self.file(
            &format!("{role}.toml"),
            &format!(
                "[l2tp]\nlisten = [\"{listen}:1701\"]\nhost_name = \"{role}\"\nshutdown_timeout_secs = 2\n\
                 {body}\
                 [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
                 capacity = 4096\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
                 core_gateway = \"{core_gw}\"\nneighbour_refresh_secs = 1\nrestart_delay_ms = 200\n\
                 [admin]\nlisten = \"127.0.0.1:50051\"\n",
                bin = bin.display(),
            ),
        )
    }

    fn lnsd(&self, role: &str, cfg: &std::path::Path) -> Proc {
        let mut c = ns_cmd(&self.name(role), env!("CARGO_BIN_EXE_lnsd"));
        c.arg("--config")
            .arg(cfg)
            .env("RUST_LOG", "info,lnsd::session=debug");
        let p = Proc::spawn(role, c);
        assert!(p.wait_for("data plane attached", 1, T), "{}", p.log());
        p
    }

    /// `lnsctl --json ARGS` against the lnsd in `role`'s namespace.
    fn lnsctl(&self, role: &str, args: &[&str]) -> serde_json::Value {
        let lnsctl = std::path::Path::new(env!("CARGO_BIN_EXE_lnsd")).with_file_name("lnsctl");
        let out = ns_cmd(&self.name(role), lnsctl.to_str().unwrap())
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lnsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for GwLab {
    fn drop(&mut self) {
        for t in &self.tables {
            let path = std::path::Path::new(t);
            if let Ok(r) = lns_dataplane::table::Reader::inspect(path) {
                let pid = r.status().pid;
                if pid > 1 {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
            let _ = std::fs::remove_file(path);
        }
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Frames switched per direction for the calls to `target`, from the
/// gateway's data plane: (from the LAC, from the LNS, calls).
fn switched_frames(sw: &serde_json::Value, target: Ipv4Addr) -> (u64, u64, usize) {
    let (a, b, _, _, n) = switched(sw, target);
    (a, b, n)
}

/// [`switched_frames`] with the PPP bytes: (frames from the LAC, from the
/// LNS, bytes from the LAC, from the LNS, calls).
fn switched(sw: &serde_json::Value, target: Ipv4Addr) -> (u64, u64, u64, u64, usize) {
    let t = format!("{target}:1701");
    let calls = sw["calls"].as_array().cloned().unwrap_or_default();
    let mut v = (0, 0, 0, 0, 0);
    for c in calls.iter().filter(|c| c["target"] == t.as_str()) {
        let n = |leg: &str, k: &str| c[leg]["counters"][k].as_u64().unwrap_or(0);
        v.0 += n("lac_leg", "packets_up");
        v.1 += n("lns_leg", "packets_up");
        v.2 += n("lac_leg", "bytes_up");
        v.3 += n("lns_leg", "bytes_up");
        v.4 += 1;
    }
    v
}

#[test]
fn lac_gateway_and_two_lns_switch_100_subscribers() {
    if std::env::var_os("XLNS_GW_LAC").is_some() || !root_or_skip() {
        return;
    }
    let mut lab = GwLab::new();
    let mut users = String::new();
    for i in 0..N + 10 {
        for realm in ["a", "b"] {
            users +=
                &format!("[[user]]\nname = \"user{i}@{realm}.example\"\npassword = \"pw{i}\"\n");
        }
    }
    let users = lab.file("users.toml", &users);
    let secret = "multihop-s3cret";
    let lns_body = |pool: u8, echo: u32| {
        format!(
            "[[peer]]\naddress = \"{GW}\"\nsecret = \"{secret}\"\ntunnel_auth = \"required\"\n\
             [ppp]\nauth = [\"chap\"]\nusers_file = \"{}\"\ngateway = \"100.64.{pool}.254\"\n\
             ipv6 = false\necho_interval_secs = {echo}\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.{pool}.1-100.64.{pool}.200\"]\n",
            users.display()
        )
    };
    // LNS A keeps the subscribers alive with LCP echoes every second
    // (three unanswered end the session); LNS B sends none, so its calls'
    // frames can be counted exactly.
    let cfg_a = lab.lnsd_config("la", &lns_body(11, 1), LNS_A, "203.0.113.2");
    let cfg_b = lab.lnsd_config("lb", &lns_body(12, 0), LNS_B, "203.0.114.2");
    let gw_body = format!(
        "[[peer]]\naddress = \"{LAC}\"\n\
         [ppp]\nauth = [\"chap\"]\nipv6 = false\n\
         [[pool]]\nname = \"default\"\nranges = [\"100.64.99.1-100.64.99.10\"]\n\
         [switch]\nhold_down_secs = 120\ntarget_timeout_secs = 3\n\
         [[realm]]\nname = \"a.example\"\n\
         [[realm.lns]]\naddress = \"{LNS_A}\"\nsecret = \"{secret}\"\npreference = 1\n\
         [[realm.lns]]\naddress = \"{LNS_B}\"\nsecret = \"{secret}\"\npreference = 2\n\
         [[realm]]\nname = \"b.example\"\n\
         [[realm.lns]]\naddress = \"{LNS_B}\"\nsecret = \"{secret}\"\n"
    );
    let cfg_gw = lab.lnsd_config("gw", &gw_body, GW, "203.0.115.2");
    let mut la = lab.lnsd("la", &cfg_a);
    let lb = lab.lnsd("lb", &cfg_b);
    let gw = lab.lnsd("gw", &cfg_gw);
    let logs = |why: &str, la: &Proc| {
        format!(
            "{why}\n--- gw\n{}\n--- la\n{}\n--- lb\n{}",
            gw.log(),
            la.log(),
            lb.log()
        )
    };

    // 100 subscribers, half of each realm, each up at its realm's LNS.
    let mut lac = TestProcess::start(&lab.name("lac"), "lac_process", "XLNS_GW_LAC", "1");
    let up = lac.ask(&format!("UP {N}"), "UP ");
    let (count, list) = up.split_once(' ').unwrap_or((&up, ""));
    if count != N.to_string() {
        // Where the missing ones stopped: their PPP phase at each LNS, and
        // what the gateway switched and dropped for them.
        let mut why = String::from("not all up");
        for r in ["la", "lb"] {
            let v = lab.lnsctl(r, &["sessions"]);
            for s in v["sessions"].as_array().into_iter().flatten() {
                if s["state"] != "up" {
                    why += &format!("\n{r}: {s}");
                }
            }
        }
        why += &format!("\ngw switched: {}", lab.lnsctl("gw", &["switched"]));
        why += &format!("\ngw drops: {}", lab.lnsctl("gw", &["stats"])["drops"]);
        panic!("{}", logs(&why, &la));
    }
    assert_eq!(count, N.to_string(), "{}", logs("not all up", &la));
    let addrs: Vec<Ipv4Addr> = list.split(',').map(|a| a.parse().unwrap()).collect();
    assert_eq!(addrs.iter().filter(|a| a.octets()[2] == 11).count(), N / 2);
    assert_eq!(addrs.iter().filter(|a| a.octets()[2] == 12).count(), N / 2);
    assert!(
        gw.wait_for("switched call up", N, T),
        "{}",
        logs("gateway", &la)
    );
    assert!(la.wait_for("subscriber up", N / 2, T));
    assert!(lb.wait_for("subscriber up", N / 2, T));
    // The gateway terminated nobody: it runs no IPCP, leases nothing.
    assert!(!gw.log().contains("subscriber up"));

    // Pings both ways through both data planes, every reply byte for byte.
    let before = lab.lnsctl("gw", &["switched"]);
    let replies = lac.ask("PING 1", "REPLIES ");
    assert_eq!(replies, N.to_string(), "{}", logs("pings", &la));
    let after = lab.lnsctl("gw", &["switched"]);
    // Per-leg counters exact for LNS B's calls (no keepalives there): one
    // request switched toward the LNS, one reply toward the LAC, each.
    let (b0, b1) = (switched(&before, LNS_B), switched(&after, LNS_B));
    assert_eq!(b1.4, N / 2);
    let half = N as u64 / 2;
    assert_eq!((b1.0 - b0.0, b1.1 - b0.1), (half, half), "{after}");
    // The same PPP frame on both legs of each hop: FF 03 00 21 and the
    // 84-byte echo, unchanged by the gateway (the LAC checked the replies
    // byte for byte end to end).
    assert_eq!(
        (b1.2 - b0.2, b1.3 - b0.3),
        (half * 88, half * 88),
        "{after}"
    );
    // The gateway's data plane switched them: lnsd relayed none of these.
    let stats = lab.lnsctl("gw", &["stats"]);
    let engine = &stats["engine"];
    let relayed = engine["switch_relayed"].as_u64().unwrap_or(0);

    // LNS A's echoes (every second) are answered through the gateway: its
    // subscribers stay up, and the gateway's LNS legs to A count them.
    let a0 = switched_frames(&lab.lnsctl("gw", &["switched"]), LNS_A);
    std::thread::sleep(Duration::from_secs(5));
    let a1 = switched_frames(&lab.lnsctl("gw", &["switched"]), LNS_A);
    assert!(a1.1 - a0.1 >= 4 * (N as u64 / 2), "{a0:?} {a1:?}");
    assert!(a1.0 - a0.0 >= 4 * (N as u64 / 2), "{a0:?} {a1:?}");
    assert!(
        !la.log().contains("subscriber down"),
        "{}",
        logs("echo", &la)
    );
    let stats = lab.lnsctl("gw", &["stats"]);
    assert_eq!(
        stats["engine"]["switch_relayed"].as_u64().unwrap_or(0),
        relayed,
        "frames switched by lnsd instead of the data plane"
    );

    // A CDN at LNS B clears the LAC's call through the gateway.
    let sessions = lab.lnsctl("lb", &["sessions"]);
    let s = &sessions["sessions"][0];
    let id = format!("{}/{}", s["tunnel"], s["session"]);
    lab.lnsctl("lb", &["session", "kill", &id]);
    assert!(
        gw.wait_for("switched call down", 1, T),
        "{}",
        logs("kill at the LNS", &la)
    );
    assert_eq!(lac.ask("DOWNS", "DOWNS "), "1");
    // And the reverse: the LAC hangs one up; LNS B sees it go.
    let b_sub = *addrs
        .iter()
        .find(|a| a.octets()[2] == 12 && s["ipv4"] != a.to_string().as_str())
        .unwrap();
    assert_eq!(lac.ask(&format!("HANGUP {b_sub}"), "HUNGUP "), "true");
    assert!(
        lb.wait_for("subscriber down", 2, T),
        "{}",
        logs("hang-up", &la)
    );
    assert!(gw.wait_for("switched call down", 2, T));

    // LNS A goes away (StopCCN to the gateway, whose calls to it end);
    // new a.example calls go to LNS B, the next preference.
    la.signal("TERM");
    assert!(la.wait_exit(T));
    assert!(
        gw.wait_for("switched call down", 2 + N / 2, T),
        "{}",
        logs("LNS A stopped", &la)
    );
    let up = lac.ask("UP 2 a", "UP ");
    let (count, list) = up.split_once(' ').unwrap_or((&up, ""));
    let expected = N - 2 - N / 2 + 2;
    assert_eq!(count, expected.to_string(), "{}", logs("failover", &la));
    let moved = list
        .split(',')
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .filter(|a| a.octets()[2] == 12)
        .count();
    assert_eq!(moved, expected, "{list}");
    let sw = lab.lnsctl("gw", &["switched"]);
    assert_eq!(switched_frames(&sw, LNS_B).2, expected);
}
