//! The data plane process in a namespace lab (DESIGN §5.6), with the tables
//! written by this test as lnsd would write them:
//!
//! ```text
//!  lac  198.51.100.2 ──veth── 198.51.100.1  lns  203.0.113.1 ──veth── 203.0.113.2  core
//!       (UDP 1701 socket)       XDP + AF_XDP: lns-dataplane             (answers pings)
//! ```
//!
//! Subscribers 100.64.0.1..=N ping the core host through their L2TP
//! sessions: the echo requests are decapsulated toward the core, the
//! replies encapsulated back; the per-session counters match exactly.
//! Then `kill -9`, restart, and the same sessions forward again.

#[path = "../../controlplane/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

#[path = "common/lab_table.rs"]
mod lab_table;

use lab_table::{lab_table, sub};
use lns_dataplane::loader::abi::Verdict;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::wire::checksum;
use process::{AccessLab, Proc, root_or_skip};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

const LAC: Ipv4Addr = AccessLab::LAC;
const LNS: Ipv4Addr = AccessLab::LNS;
const LNS_CORE: Ipv4Addr = AccessLab::LNS_CORE;
const HOST: Ipv4Addr = AccessLab::HOST;

/// An ICMP echo request from subscriber `n` to the core host.
fn echo(n: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend(seq.to_be_bytes());
    icmp.extend(b"xlns-dataplane-e2e");
    let c = !checksum::sum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
    p[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    p.extend(sub(n).octets());
    p.extend(HOST.octets());
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(icmp);
    p
}

/// The UDP payload a LAC sends for session `n`: L2TP data (our tunnel 1,
/// our session n), PPP FF 03 0021, the packet.
fn l2tp_data(n: u16, pkt: &[u8]) -> Vec<u8> {
    let mut d = vec![0x00, 0x02, 0, 1];
    d.extend(n.to_be_bytes());
    d.extend([0xff, 0x03, 0x00, 0x21]);
    d.extend(pkt);
    d
}

/// The LAC: a UDP socket on 198.51.100.2:1701 that sends the given
/// datagrams to the LNS and prints, in hex, what comes back in `secs`.
fn lac_exchange(t: &AccessLab, datagrams: &[Vec<u8>], secs: f32) -> Vec<Vec<u8>> {
    let script = format!(
        r#"
import socket, sys, time, binascii
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{LAC}", 1701))
for line in sys.stdin:
    s.sendto(binascii.unhexlify(line.strip()), ("{LNS}", 1701))
s.settimeout(0.2)
end = time.time() + {secs}
while time.time() < end:
    try:
        d = s.recv(4096)
        print(binascii.hexlify(d).decode(), flush=True)
    except socket.timeout:
        pass
"#
    );
    let mut child = t
        .cmd(&t.lac, "python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        let mut stdin = child.stdin.take().unwrap();
        for d in datagrams {
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(stdin, "{hex}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Which subscribers got an echo reply, from what came back to the LAC:
/// L2TP data for the LAC's session `1000 + n`, an ICMP echo reply from the
/// host to subscriber n.
fn replies(got: &[Vec<u8>]) -> Vec<u16> {
    let mut who: Vec<u16> = got
        .iter()
        .filter_map(|d| {
            let (tunnel, session) = (
                u16::from_be_bytes([d[2], d[3]]),
                u16::from_be_bytes([d[4], d[5]]),
            );
            let ip = d.get(10..)?;
            let ok = tunnel == 77
                && d[6..10] == [0xff, 0x03, 0x00, 0x21]
                && ip[9] == 1
                && ip[12..16] == HOST.octets()
                && ip.get(20) == Some(&0);
            let n = session.checked_sub(1000)?;
            (ok && ip[16..20] == sub(n).octets()).then_some(n)
        })
        .collect();
    who.sort_unstable();
    who
}

fn start_dataplane(t: &AccessLab, table: &std::path::Path) -> Proc {
    let mut c = t.cmd(&t.lns, env!("CARGO_BIN_EXE_lns-dataplane"));
    c.args([
        "--table",
        &table.display().to_string(),
        "--access",
        "va",
        "--core",
        "vc",
        "--lns-v4",
        &LNS.to_string(),
        "--pool",
        "100.64.0.0/16",
        "--icmp-v4",
        &LNS_CORE.to_string(),
    ]);
    let p = Proc::spawn("lns-dataplane", c);
    assert!(
        p.wait_for("data plane attached", 1, Duration::from_secs(10)),
        "lns-dataplane did not start:\n{}",
        p.log()
    );
    p
}

#[test]
fn pings_through_the_data_plane_and_survive_a_restart() {
    if !root_or_skip() {
        return;
    }
    const N: u16 = 100;
    let t = AccessLab::new("dp");
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-dp-{}", std::process::id()));
    let (w, ids) = lab_table(&t, &table, N, 1024);

    let mut dp = start_dataplane(&t, &table);
    let pings: Vec<Vec<u8>> = (1..=N).map(|n| l2tp_data(n, &echo(n, 1))).collect();
    let got = lac_exchange(&t, &pings, 2.0);
    let answered = replies(&got);
    assert_eq!(
        answered,
        (1..=N).collect::<Vec<_>>(),
        "every subscriber's ping comes back\n{}",
        dp.log()
    );
    let echo_len = echo(1, 1).len() as u64;
    for id in &ids {
        let c = w.counters(*id);
        assert_eq!((c.up_packets, c.up_bytes), (1, echo_len));
        assert_eq!((c.down_packets, c.down_bytes), (1, echo_len));
    }
    let b = w.worker(0).unwrap();
    assert_eq!(b.get(Counter::Upstream), u64::from(N));
    assert_eq!(b.get(Counter::Downstream), u64::from(N));
    // The XDP program's own counters reach lnsd through the table.
    std::thread::sleep(Duration::from_millis(500));
    let v = w.verdicts();
    assert_eq!(v[Verdict::AccessToXsk as usize], u64::from(N));
    assert_eq!(v[Verdict::CoreToXsk as usize], u64::from(N));

    // kill -9: the tables are untouched, a new process forwards again.
    dp.signal("KILL");
    assert!(!dp.wait_exit(Duration::from_secs(5)));
    let dp = start_dataplane(&t, &table);
    let got = lac_exchange(&t, &pings, 2.0);
    assert_eq!(replies(&got).len(), usize::from(N), "{}", dp.log());
    assert_eq!(w.reader_status().attaches, 2);
    for id in &ids {
        assert_eq!(
            w.counters(*id).up_packets,
            2,
            "counters survive the restart"
        );
    }
    // lnsd gone (its table removed): the data plane does not keep
    // forwarding stale sessions; it exits so a new lnsd can start its own.
    let mut dp = dp;
    drop(w);
    assert!(!table.exists());
    let st = dp.wait_status(Duration::from_secs(5));
    assert_eq!(st.and_then(|s| s.code()), Some(3), "{}", dp.log());
    assert!(
        dp.log().contains("table was replaced or removed"),
        "{}",
        dp.log()
    );
}

/// lnsd reads the data plane's log through a pipe and the journal keeps
/// it: plain text (no ANSI colour codes) on stderr, nothing on stdout, up
/// to the error it exits with when its table goes away.
#[test]
fn logs_plain_text_on_stderr() {
    if !root_or_skip() {
        return;
    }
    let t = AccessLab::new("dplog");
    let table =
        std::path::PathBuf::from(format!("/dev/shm/xlns-test-dplog-{}", std::process::id()));
    let (w, _) = lab_table(&t, &table, 1, 16);
    let mut c = t.cmd(&t.lns, env!("CARGO_BIN_EXE_lns-dataplane"));
    c.args([
        "--table",
        &table.display().to_string(),
        "--access",
        "va",
        "--core",
        "vc",
        "--lns-v4",
        &LNS.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // Running (it logged "data plane attached" before its first beat).
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while w.reader_status().heartbeat == 0 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its table removed: it logs an error and exits.
    drop(w);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert_eq!(stdout, "", "{stderr}");
    assert!(stderr.contains("data plane attached"), "{stderr}");
    assert!(
        stderr.contains("ERROR") && stderr.contains("table was replaced or removed"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}
