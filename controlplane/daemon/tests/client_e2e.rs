//! xlns-client end to end (issue 16): the voluntary client in a "home"
//! namespace (`lac` of the [`AccessLab`]) dials lnsd, which forwards with
//! its data plane (XDP + AF_XDP) to a core host. The client's TUN carries
//! ping and TCP both ways; the tunnel is authenticated and its AVPs
//! hidden; lnsd restarted, the client redials and traffic resumes; every
//! mistake a user makes ends in one line, its exit status, and nothing
//! left behind.
//!
//! TCP endpoints are this test binary re-executed in a namespace
//! ([`tcp_process`], `XLNS_TCP` set).

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;
#[allow(dead_code, reason = "shared with the other data-plane tests")]
mod dp;

use common::process::{AccessLab, Proc, TestProcess, root_or_skip};
use dp::dataplane_binary;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const CLIENT: &str = env!("CARGO_BIN_EXE_xlns-client");
const GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 64, 9, 1);
const SECRET: &str = "home-secret";

/// One side of a TCP transfer, in a namespace: `sink PORT` accepts one
/// connection and reads it to the end; `send ADDR:PORT BYTES` writes
/// BYTES and closes. Each says what it did, with the seconds it took.
#[test]
fn tcp_process() {
    let Ok(cmd) = std::env::var("XLNS_TCP") else {
        return;
    };
    let words: Vec<&str> = cmd.split_whitespace().collect();
    match words.as_slice() {
        ["sink", port] => {
            let l = std::net::TcpListener::bind(("0.0.0.0", port.parse::<u16>().unwrap())).unwrap();
            println!("READY");
            let (mut c, _) = l.accept().unwrap();
            let start = Instant::now();
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0usize;
            let mut sum = 0u64;
            loop {
                let n = c.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                sum = buf[..n]
                    .iter()
                    .fold(sum, |s, b| s.wrapping_add(u64::from(*b)));
                got += n;
            }
            println!("GOT {got} {sum} {}", start.elapsed().as_secs_f64());
        }
        ["send", to, bytes] => {
            let mut c = std::net::TcpStream::connect(to).unwrap();
            let total: usize = bytes.parse().unwrap();
            let chunk: Vec<u8> = (0..1 << 16).map(|i| (i * 7 % 251) as u8).collect();
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len());
                c.write_all(&chunk[..n]).unwrap();
                left -= n;
            }
            c.shutdown(std::net::Shutdown::Write).unwrap();
            println!("SENT {total}");
        }
        _ => panic!("XLNS_TCP {cmd:?}"),
    }
}

/// The byte sum a `send` of `bytes` produces.
fn sent_sum(bytes: usize) -> u64 {
    let chunk: Vec<u8> = (0..1 << 16).map(|i| (i * 7 % 251) as u8).collect();
    let mut sum = 0u64;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        sum = chunk[..n]
            .iter()
            .fold(sum, |s, b| s.wrapping_add(u64::from(*b)));
        left -= n;
    }
    sum
}

/// Sends `bytes` over TCP from namespace `from` to `to_addr` in `to`;
/// the rate in Mbit/s, after checking every byte arrived.
fn transfer(from: &str, to: &str, to_addr: Ipv4Addr, port: u16, bytes: usize) -> f64 {
    let mut sink = TestProcess::start(to, "tcp_process", "XLNS_TCP", &format!("sink {port}"));
    sink.expect("READY");
    let mut src = TestProcess::start(
        from,
        "tcp_process",
        "XLNS_TCP",
        &format!("send {to_addr}:{port} {bytes}"),
    );
    src.expect("SENT");
    let got = sink.expect("GOT");
    let f: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(f[0].parse::<usize>().unwrap(), bytes, "{got}");
    assert_eq!(f[1].parse::<u64>().unwrap(), sent_sum(bytes), "{got}");
    let secs: f64 = f[2].parse().unwrap();
    bytes as f64 * 8.0 / secs / 1e6
}

fn ping(lab: &AccessLab, ns: &str, to: Ipv4Addr) -> bool {
    let out = lab
        .cmd(ns, "ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2", &to.to_string()])
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "ping {to} from {ns}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// Whether namespace `ns` has interface `dev`.
fn has_link(lab: &AccessLab, ns: &str, dev: &str) -> bool {
    lab.cmd(ns, "ip")
        .args(["link", "show", dev])
        .output()
        .unwrap()
        .status
        .success()
}

/// The IPv4 routes of namespace `ns`, one per line.
fn routes(lab: &AccessLab, ns: &str) -> String {
    let out = lab.cmd(ns, "ip").args(["-4", "route"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table file lnsd creates, removed however the test ends.
struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// lnsd with its data plane, one user authenticated with `auth` ("chap",
/// "mschapv2", ...), the home host as a peer that must prove `SECRET` and
/// gets hidden AVPs; LCP echoes every second.
fn lnsd(lab: &AccessLab, table: &str, auth: &str, ipv6: bool) -> Proc {
    let users = lab.file(
        "users.toml",
        "[[user]]\nname = \"alice\"\npassword = \"alice-pw\"\n",
    );
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{lns}:1701\"]\nshutdown_timeout_secs = 2\n\
             [[peer]]\naddress = \"{home}\"\nsecret = \"{SECRET}\"\ntunnel_auth = \"required\"\n\
             hide_avps = true\nhide_avps_in_tunnel_setup = true\n\
             [ppp]\nauth = [\"{auth}\"]\nusers_file = \"{users}\"\ngateway = \"{GATEWAY}\"\nipv6 = {ipv6}\n\
             dns = [\"192.0.2.53\"]\necho_interval_secs = 1\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.9.2-100.64.9.254\"]\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 64\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\nicmp_source = \"{lns_core}\"\nneighbour_refresh_secs = 1\n",
            lns = AccessLab::LNS,
            home = AccessLab::LAC,
            users = users.display(),
            bin = dataplane_binary().display(),
            host = AccessLab::HOST,
            lns_core = AccessLab::LNS_CORE,
        ),
    );
    let mut c = lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let p = Proc::spawn("lnsd", c);
    assert!(p.wait_for("data plane attached", 1, T), "{}", p.log());
    p
}

fn client(lab: &AccessLab, args: &[&str]) -> Proc {
    let mut c = lab.cmd(&lab.lac, CLIENT);
    c.args(["--lns", &AccessLab::LNS.to_string(), "--tun", "xl0"])
        .args(args)
        .env("RUST_LOG", "info,lnsd::session=debug");
    Proc::spawn("xlns-client", c)
}

/// The address in the client's `connected: ADDR on ...` line number `n`.
fn connected(c: &Proc, n: usize) -> Ipv4Addr {
    let log = c.log();
    let line = log
        .lines()
        .filter(|l| l.starts_with("connected: "))
        .nth(n - 1)
        .unwrap();
    line["connected: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_host_dials_in_and_its_traffic_crosses_the_lns_both_ways() {
    if std::env::var_os("XLNS_TCP").is_some() || !root_or_skip() {
        return;
    }
    let lab = AccessLab::new("client");
    // The core host's kernel leaves TCP checksums to the veth (partial
    // checksum offload); the data plane receives those frames through XDP,
    // where no one completes them, and the client's kernel would drop
    // every segment. A real NIC delivers complete checksums.
    let off = lab
        .cmd(&lab.core, "ethtool")
        .args(["-K", "vk", "tx", "off"])
        .output()
        .unwrap();
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let table = Table(format!("/dev/shm/xlns-client-{}", std::process::id()));
    let mut lns = lnsd(&lab, &table.0, "chap", false);
    let resolv = lab.file("resolv.conf", "nameserver 9.9.9.9\n");
    let mut home = client(
        &lab,
        &[
            "--user",
            "alice",
            "--password",
            "alice-pw",
            "--secret",
            SECRET,
            "--hide",
            "--route",
            "default",
            "--redial-max",
            "1",
            "--dns-file",
            resolv.to_str().unwrap(),
        ],
    );
    home.expect("connected: ", 1, T, &lns);
    let addr = connected(&home, 1);
    assert!(
        lns.log().contains("tunnel established"),
        "the tunnel authenticated: {}",
        lns.log()
    );
    // The TUN has the session's address; everything is routed through it
    // but the LNS itself.
    // The LNS's DNS server (IPCP, RFC 1877) while the session is up.
    let text = std::fs::read_to_string(&resolv).unwrap();
    assert!(
        text.contains("nameserver 192.0.2.53") && !text.contains("9.9.9.9"),
        "{text}"
    );
    let r = routes(&lab, &lab.lac);
    assert!(r.contains("0.0.0.0/1 dev xl0"), "{r}");
    // The TUN carries the session's address and an MTU of our MRU (1400,
    // below lnsd's 1500).
    let link = lab
        .cmd(&lab.lac, "ip")
        .args(["addr", "show", "xl0"])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        link.contains("mtu 1400") && link.contains(&format!("inet {addr}/32")),
        "{link}"
    );
    assert!(r.contains("128.0.0.0/1 dev xl0"), "{r}");
    assert!(r.contains(&format!("{} dev vl", AccessLab::LNS)), "{r}");

    assert!(
        ping(&lab, &lab.lac, AccessLab::HOST),
        "{}\n{}",
        home.log(),
        lns.log()
    );
    assert!(ping(&lab, &lab.core, addr), "{}", lns.log());
    let bytes = 8 << 20;
    let up = transfer(&lab.lac, &lab.core, AccessLab::HOST, 5001, bytes);
    let down = transfer(&lab.core, &lab.lac, addr, 5002, bytes);
    // The same veth without L2TP: home to the LNS's own address.
    let plain = transfer(&lab.lac, &lab.lns, AccessLab::LNS, 5003, bytes);
    println!(
        "TCP {} MiB through xlns-client: upstream {up:.0} Mbit/s, downstream {down:.0} Mbit/s; \
         plain TCP over the same veth {plain:.0} Mbit/s",
        bytes >> 20
    );

    // The client answered every LCP echo (one a second) throughout.
    assert!(!lns.log().contains("subscriber down"), "{}", lns.log());

    // The LNS restarts: the client redials and traffic resumes.
    lns.signal("TERM");
    assert!(lns.wait_exit(T), "{}", lns.log());
    drop(lns);
    assert!(
        home.wait_for("redialling", 1, T),
        "the client noticed: {}",
        home.log()
    );
    let lns = lnsd(&lab, &table.0, "chap", false);
    home.expect("connected: ", 2, T, &lns);
    let again = connected(&home, 2);
    assert!(ping(&lab, &lab.lac, AccessLab::HOST), "{}", home.log());
    assert!(ping(&lab, &lab.core, again), "{}", lns.log());

    // Stopped: the call and tunnel cleared, nothing left behind.
    home.signal("TERM");
    let status = home.wait_status(T).expect("the client stops");
    assert_eq!(status.code(), Some(0), "{}", home.log());
    assert!(lns.wait_for("tunnel down", 2, T), "{}", lns.log());
    assert!(!has_link(&lab, &lab.lac, "xl0"));
    let r = routes(&lab, &lab.lac);
    assert!(
        !r.contains("xl0") && !r.contains(&format!("{} dev", AccessLab::LNS)),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(&resolv).unwrap(),
        "nameserver 9.9.9.9\n"
    );
}

/// A user's mistakes: one line, its own exit status, nothing left behind.
#[test]
fn each_mistake_is_one_line_and_its_own_exit_status() {
    if std::env::var_os("XLNS_TCP").is_some() || !root_or_skip() {
        return;
    }
    let lab = AccessLab::new("clierr");
    let table = Table(format!("/dev/shm/xlns-clierr-{}", std::process::id()));
    let lns = lnsd(&lab, &table.0, "chap", false);
    let base = ["--user", "alice", "--route", "default", "--timeout", "5"];
    let cases: Vec<(Vec<&str>, Option<&str>, i32, &str)> = vec![
        (
            vec!["--password", "alice-pw", "--secret", "not-the-secret"],
            None,
            4,
            "tunnel authentication failed",
        ),
        (
            vec!["--password", "wrong", "--secret", SECRET],
            None,
            5,
            "authentication refused",
        ),
        (
            vec!["--password", "alice-pw", "--lns", "198.51.100.1:1799"],
            None,
            3,
            "LNS unreachable",
        ),
        (
            vec![
                "--password",
                "alice-pw",
                "--lns",
                "198.51.100.77",
                "--timeout",
                "2",
            ],
            None,
            3,
            "LNS unreachable",
        ),
        (
            vec!["--password", "alice-pw", "--secret", SECRET],
            Some("nobody"),
            6,
            "cannot create the TUN interface",
        ),
        (vec!["--password"], None, 2, "see --help"),
    ];
    for (args, user, code, says) in cases {
        let mut c = match user {
            None => lab.cmd(&lab.lac, CLIENT),
            Some(_) => {
                let mut c = lab.cmd(&lab.lac, "setpriv");
                c.args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--inh-caps=-all",
                    CLIENT,
                ]);
                c
            }
        };
        c.args(["--lns", &AccessLab::LNS.to_string(), "--tun", "xl0"])
            .args(base)
            .args(&args);
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(lines.len(), 1, "{args:?}: one line: {err}");
        assert!(lines[0].starts_with("xlns-client: "), "{err}");
        assert!(lines[0].contains(says), "{args:?}: {err}");
        assert!(!has_link(&lab, &lab.lac, "xl0"), "{args:?}");
        let r = routes(&lab, &lab.lac);
        assert!(
            !r.contains("xl0") && !r.contains(&format!("{} dev", AccessLab::LNS)),
            "{args:?}: {r}"
        );
    }
    drop(lns);
}

/// Remote dial (RFC 2661 §7.5): `lnsctl dial` at the LNS asks the home
/// host, listening as a LAC, for a call to its dial-out profile's number
/// (authenticated with MS-CHAPv2 this time, IPv6CP as well);
/// the profile's PPP session comes up on its TUN and carries traffic both
/// ways. A number no profile answers is refused.
#[test]
fn lnsctl_dial_brings_up_the_dial_out_profile() {
    if std::env::var_os("XLNS_TCP").is_some() || !root_or_skip() {
        return;
    }
    let lab = AccessLab::new("redial");
    let table = Table(format!("/dev/shm/xlns-redial-{}", std::process::id()));
    let lns = lnsd(&lab, &table.0, "mschapv2", true);
    let mut home = {
        let mut c = lab.cmd(&lab.lac, CLIENT);
        c.args([
            "--lns",
            &AccessLab::LNS.to_string(),
            "--answer",
            &format!("{}:1701", AccessLab::LAC),
            "--called",
            "5551234",
            "--user",
            "alice",
            "--password",
            "alice-pw",
            "--secret",
            SECRET,
            "--hide",
            "--tun",
            "xl1",
            "--route",
            "203.0.113.0/24",
            "--ipv6",
        ])
        .env("RUST_LOG", "info,lnsd::session=debug");
        Proc::spawn("xlns-client", c)
    };
    home.expect("waiting for calls", 1, T, &lns);
    let dial = |number: &str| {
        lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsctl"))
            .args([
                "dial",
                &AccessLab::LAC.to_string(),
                "--called",
                number,
                "--timeout",
                "10",
            ])
            .output()
            .unwrap()
    };
    let refused = dial("5559999");
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let out = dial("5551234");
    assert!(
        out.status.success(),
        "{}{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        home.log(),
        lns.log()
    );
    home.expect("connected: ", 1, T, &lns);
    let addr = connected(&home, 1);
    assert!(ping(&lab, &lab.core, addr), "{}", lns.log());
    assert!(ping(&lab, &lab.lac, AccessLab::HOST), "{}", home.log());
    assert!(
        routes(&lab, &lab.lac).contains("203.0.113.0/24 dev xl1"),
        "{}",
        routes(&lab, &lab.lac)
    );
    // IPv6CP opened too: the link-local address from its interface
    // identifier is on the TUN (router advertisements come with issue 19).
    home.expect("ipv6: fe80::", 1, T, &lns);
    let v6 = lab
        .cmd(&lab.lac, "ip")
        .args(["-6", "addr", "show", "dev", "xl1"])
        .output()
        .unwrap();
    let v6 = String::from_utf8_lossy(&v6.stdout);
    assert!(
        v6.contains("inet6 fe80::") && v6.contains("scope link"),
        "{v6}"
    );
    home.signal("TERM");
    let status = home.wait_status(T).expect("the client stops");
    assert_eq!(status.code(), Some(0), "{}", home.log());
    assert!(!has_link(&lab, &lab.lac, "xl1"));
    assert!(!routes(&lab, &lab.lac).contains("xl1"));
}

/// lnsd with its data plane, authenticating and accounting with the
/// FreeRADIUS `radius` (running in the lab's `lns` namespace).
fn radius_lnsd(lab: &AccessLab, table: &str, radius: &common::radiusd::Radiusd) -> Proc {
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{lns}:1701\"]\nshutdown_timeout_secs = 2\n\
             [[peer]]\naddress = \"{home}\"\n\
             [ppp]\nauth = [\"chap\"]\ngateway = \"{GATEWAY}\"\nipv6 = false\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.9.2-100.64.9.254\"]\n\
             [radius]\nnas_identifier = \"xlns-acct\"\nnas_ip = \"{lns}\"\n\
             [[radius.auth]]\naddress = \"127.0.0.1:{auth}\"\nsecret = \"{secret}\"\n\
             [[radius.acct]]\naddress = \"127.0.0.1:{acct}\"\nsecret = \"{secret}\"\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 64\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\nicmp_source = \"{lns_core}\"\nneighbour_refresh_secs = 1\n",
            lns = AccessLab::LNS,
            home = AccessLab::LAC,
            auth = radius.auth,
            acct = radius.acct,
            secret = common::radiusd::SECRET,
            bin = dataplane_binary().display(),
            host = AccessLab::HOST,
            lns_core = AccessLab::LNS_CORE,
        ),
    );
    let mut c = lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config").arg(&cfg).env(
        "RUST_LOG",
        "info,lnsd::session=debug,lns_daemon::dataplane=debug",
    );
    let lns = Proc::spawn("lnsd", c);
    assert!(lns.wait_for("data plane attached", 1, T), "{}", lns.log());
    lns
}

/// `user` dials in from the home host, its route to the core host
/// through the session; the client once its session is up.
fn dial_in(lab: &AccessLab, lns: &Proc, user: &str, password: &str) -> Proc {
    let home = client(
        lab,
        &[
            "--user",
            user,
            "--password",
            password,
            "--route",
            "203.0.113.0/24",
        ],
    );
    home.expect("connected: ", 1, T, lns);
    home
}

/// `n` echo requests of 128 IP octets (100 of data) from the home host to
/// the core host, all answered.
fn pings(lab: &AccessLab, n: u32) {
    let out = lab
        .cmd(&lab.lac, "ping")
        .args(["-c", &n.to_string(), "-i", "0.2", "-s", "100", "-W", "2"])
        .arg(AccessLab::HOST.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The first accounting record in FreeRADIUS's detail file that holds
/// `needle`, waited for up to `limit`.
fn record(radius: &common::radiusd::Radiusd, needle: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let detail = radius.detail();
        if let Some(at) = detail.find(needle) {
            // The record: from its date line to the next blank line.
            let from = detail[..at].rfind("\n\n").map_or(0, |i| i + 2);
            let to = detail[at..].find("\n\n").map_or(detail.len(), |i| at + i);
            return detail[from..to].to_string();
        }
        assert!(Instant::now() < end, "no {needle:?} in\n{detail}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Accounting from the data plane against the real FreeRADIUS (issue 17):
/// a known number of pings through one session, then the subscriber
/// leaves; the Stop in FreeRADIUS's detail file holds exactly those
/// packets and their IP octets, each way. Then a subscriber whose
/// Access-Accept carries Idle-Timeout goes quiet and is ended for it.
#[test]
fn the_stop_record_holds_exactly_what_crossed_the_data_plane() {
    if std::env::var_os("XLNS_TCP").is_some()
        || !root_or_skip()
        || !common::tool_or_skip("freeradius")
    {
        return;
    }
    let lab = AccessLab::new("acct");
    let table = Table(format!("/dev/shm/xlns-acct-{}", std::process::id()));
    let mut radius = common::radiusd::Radiusd::build();
    radius.add_user("erin", "erin-pw", &["Idle-Timeout = 3"]);
    radius.start_in(Some(&lab.lns));
    let lns = radius_lnsd(&lab, &table.0, &radius);
    let mut home = dial_in(&lab, &lns, "carol", "carol-pw");
    // Five echo requests of 128 IP octets, five replies.
    pings(&lab, 5);
    home.signal("TERM");
    assert_eq!(home.wait_status(T).and_then(|s| s.code()), Some(0));
    let stop = record(&radius, "Acct-Status-Type = Stop", T);
    for want in [
        "User-Name = \"carol\"",
        "Acct-Input-Packets = 5",
        "Acct-Input-Octets = 640",
        "Acct-Output-Packets = 5",
        "Acct-Output-Octets = 640",
        "Acct-Input-Gigawords = 0",
    ] {
        assert!(stop.contains(want), "{want:?} in\n{stop}\n{}", lns.log());
    }

    // Idle-Timeout from RADIUS (3 s): erin pings, then sends nothing; lnsd
    // ends her session, and the Stop says so, with what she sent.
    let mut home = dial_in(&lab, &lns, "erin", "erin-pw");
    pings(&lab, 5);
    assert!(
        lns.wait_for("cause=administrative: idle timeout", 1, T),
        "{}",
        lns.log()
    );
    let stop = record(&radius, "Acct-Terminate-Cause = Idle-Timeout", T);
    for want in [
        "User-Name = \"erin\"",
        "Acct-Status-Type = Stop",
        "Acct-Input-Packets = 5",
        "Acct-Output-Packets = 5",
    ] {
        assert!(stop.contains(want), "{want:?} in\n{stop}");
    }
    home.signal("TERM");
    assert!(home.wait_status(T).is_some());
}

/// Interim-Update with the real FreeRADIUS: the running count of what
/// crossed the data plane (Acct-Interim-Interval = 60 from RADIUS, the
/// shortest RFC 2869 §5.16 allows, so this test takes a minute), then the
/// Stop with everything.
#[test]
fn interim_updates_carry_the_running_count() {
    if std::env::var_os("XLNS_TCP").is_some()
        || !root_or_skip()
        || !common::tool_or_skip("freeradius")
    {
        return;
    }
    let lab = AccessLab::new("interim");
    let table = Table(format!("/dev/shm/xlns-interim-{}", std::process::id()));
    let mut radius = common::radiusd::Radiusd::build();
    radius.add_user("frank", "frank-pw", &["Acct-Interim-Interval = 60"]);
    radius.start_in(Some(&lab.lns));
    let lns = radius_lnsd(&lab, &table.0, &radius);
    let mut home = dial_in(&lab, &lns, "frank", "frank-pw");
    pings(&lab, 5);
    let interim = record(
        &radius,
        "Acct-Status-Type = Interim-Update",
        Duration::from_secs(80),
    );
    for want in [
        "Acct-Input-Packets = 5",
        "Acct-Input-Octets = 640",
        "Acct-Output-Packets = 5",
    ] {
        assert!(interim.contains(want), "{want:?} in\n{interim}");
    }
    pings(&lab, 3);
    home.signal("TERM");
    assert_eq!(home.wait_status(T).and_then(|s| s.code()), Some(0));
    let stop = record(&radius, "Acct-Status-Type = Stop", T);
    for want in [
        "Acct-Input-Packets = 8",
        "Acct-Input-Octets = 1024",
        "Acct-Output-Packets = 8",
    ] {
        assert!(stop.contains(want), "{want:?} in\n{stop}");
    }
}

/// A data-plane restart loses no accounting (issue 17): the counts live
/// in lnsd's table, which the restarted data plane attaches to again, so
/// the Stop holds what crossed before the restart and after it.
#[test]
fn a_stop_after_a_data_plane_restart_carries_everything() {
    if std::env::var_os("XLNS_TCP").is_some()
        || !root_or_skip()
        || !common::tool_or_skip("freeradius")
    {
        return;
    }
    let lab = AccessLab::new("dprestart");
    let table = Table(format!("/dev/shm/xlns-dprestart-{}", std::process::id()));
    let mut radius = common::radiusd::Radiusd::build();
    radius.add_user("dave", "dave-pw", &[]);
    radius.start_in(Some(&lab.lns));
    let lns = radius_lnsd(&lab, &table.0, &radius);
    let mut home = dial_in(&lab, &lns, "dave", "dave-pw");
    pings(&lab, 5);
    let pid = lns_dataplane::table::Reader::inspect(std::path::Path::new(&table.0))
        .unwrap()
        .status()
        .pid;
    assert!(pid > 1, "the data plane's PID is in the table header");
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    assert!(lns.wait_for("data plane attached", 2, T), "{}", lns.log());
    pings(&lab, 3);
    home.signal("TERM");
    assert_eq!(home.wait_status(T).and_then(|s| s.code()), Some(0));
    let stop = record(&radius, "Acct-Status-Type = Stop", T);
    for want in [
        "User-Name = \"dave\"",
        "Acct-Input-Packets = 8",
        "Acct-Input-Octets = 1024",
        "Acct-Output-Packets = 8",
        "Acct-Output-Octets = 1024",
    ] {
        assert!(stop.contains(want), "{want:?} in\n{stop}\n{}", lns.log());
    }
}
