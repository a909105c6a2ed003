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
//!
//! And a multi-hop gateway: the LAC's sessions switched on to a target
//! LNS on the core host, LCP and all, both ways.

#[path = "../../controlplane/protocol/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

#[path = "common/lab_table.rs"]
mod lab_table;

use lab_table::{lab_table, sub};
use lns_dataplane::loader::abi::Verdict;
use lns_dataplane::node::drop::Drop;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{Egress, Leg, NextHop, Rate, Rates, Session};
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
    let send = format!(
        r#"for line in sys.stdin:
    rx.sendto(binascii.unhexlify(line.strip()), ("{LNS}", 1701))"#
    );
    let lines = datagrams.iter().map(|d| hex(d));
    lac_script(t, &send, lines, secs)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the LAC's side in python: a UDP socket `rx` on the LAC's port
/// 1701, then `send` (python, reading `lines` from stdin), then prints in
/// hex what comes back to `rx` for `secs`, which this returns.
fn lac_script(
    t: &AccessLab,
    send: &str,
    lines: impl Iterator<Item = String>,
    secs: f32,
) -> Vec<Vec<u8>> {
    let script = format!(
        r#"
import socket, sys, os, time, binascii
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: every reply waits
rx.bind(("{LAC}", 1701))
{send}
rx.settimeout(0.2)
end = time.time() + {secs}
while time.time() < end:
    try:
        d = rx.recv(4096)
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
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    start_dataplane_with(t, table, &[])
}

fn start_dataplane_with(t: &AccessLab, table: &std::path::Path, more: &[&str]) -> Proc {
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
    c.args(more);
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

/// A session over its rate: the worker's express lane drops its packets
/// by name, and each dropped frame goes back to the free list: more of
/// them are dropped than the UMEM has frames (8,192), and the other
/// sessions' pings still come back.
#[test]
fn frames_dropped_over_a_rate_go_back_to_the_free_list() {
    if !root_or_skip() {
        return;
    }
    const N: u16 = 4;
    const FLOOD: u16 = 12_000;
    let t = AccessLab::new("rl");
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-rl-{}", std::process::id()));
    let (mut w, ids) = lab_table(&t, &table, N, 1024);
    // 8 kbit/s with a 150-octet bucket: the first echo passes, the rest
    // of the flood is over the rate.
    let over = Session {
        rates: Rates {
            up: Some(Rate {
                kbps: 8,
                burst: 150,
            }),
            down: None,
        },
        ..w.session(ids[0]).unwrap()
    };
    w.update(ids[0], &over).unwrap();
    let dp = start_dataplane(&t, &table);
    let flood: Vec<Vec<u8>> = (0..FLOOD).map(|k| l2tp_data(1, &echo(1, k))).collect();
    lac_exchange(&t, &flood, 0.5);
    std::thread::sleep(Duration::from_millis(200));
    let b = w.worker(0).unwrap();
    let limited = b.drops(Drop::RateLimited);
    assert!(
        limited > 8192,
        "{limited} dropped over the rate\n{}",
        dp.log()
    );
    assert_eq!(w.counters(ids[0]).up_rate_limited, limited);
    let pings: Vec<Vec<u8>> = (2..=N).map(|n| l2tp_data(n, &echo(n, 1))).collect();
    let got = lac_exchange(&t, &pings, 1.0);
    assert_eq!(replies(&got), (2..=N).collect::<Vec<_>>(), "{}", dp.log());
}

/// Busy polling (`--polling busy`): the sockets get the kernel's
/// busy-poll options, the worker spins and runs NAPI itself when its rings
/// are empty, and every subscriber's ping comes back.
#[test]
fn busy_polling_forwards_too() {
    if !root_or_skip() {
        return;
    }
    const N: u16 = 20;
    let t = AccessLab::new("busy");
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-busy-{}", std::process::id()));
    let (w, _) = lab_table(&t, &table, N, 64);
    let dp = start_dataplane_with(&t, &table, &["--polling", "busy"]);
    assert!(
        dp.wait_for(
            "busy polling: SO_PREFER_BUSY_POLL on",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        dp.log()
    );
    let pings: Vec<Vec<u8>> = (1..=N).map(|n| l2tp_data(n, &echo(n, 1))).collect();
    let got = lac_exchange(&t, &pings, 2.0);
    assert_eq!(
        replies(&got),
        (1..=N).collect::<Vec<_>>(),
        "every ping comes back\n{}",
        dp.log()
    );
    assert_eq!(w.worker(0).unwrap().get(Counter::Upstream), u64::from(N));
    drop(dp);
    drop(w);
}

/// Sends each `(cpu, frame)` from the LAC's interface as a raw frame from
/// that CPU, bypassing the qdisc, so it leaves on transmit queue `cpu`
/// modulo the queues (the kernel's choice for a packet socket without a
/// flow: `packet_pick_tx_queue`) and reaches the same receive queue of the
/// LNS's end of the veth pair; then collects what comes back to the LAC's
/// UDP port 1701, as [`lac_exchange`] does.
fn lac_exchange_on_cpus(t: &AccessLab, frames: &[(usize, Vec<u8>)], secs: f32) -> Vec<Vec<u8>> {
    let send = r#"tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(("vl", 0))
tx.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS
for i, line in enumerate(sys.stdin):
    cpu, frame = line.split()
    os.sched_setaffinity(0, {int(cpu)})
    tx.send(binascii.unhexlify(frame))
    # Paced: a veth queue holds a few hundred frames.
    if i % 64 == 63:
        time.sleep(0.001)"#;
    let lines = frames.iter().map(|(cpu, f)| format!("{cpu} {}", hex(f)));
    lac_script(t, send, lines, secs)
}

/// The LAC's and the LNS's MACs on the access link, in that order.
fn lac_macs(t: &AccessLab) -> ([u8; 6], [u8; 6]) {
    (t.mac(&t.lac, "vl"), t.mac(&t.lns, "va"))
}

/// Subscriber `n`'s echo request number `seq` as the LAC's whole frame
/// to the LNS, between `macs` ([`lac_macs`]).
fn lac_frame_seq(macs: &([u8; 6], [u8; 6]), n: u16, seq: u16) -> Vec<u8> {
    use lns_dataplane::node::encap::{Outer, Template, encap};
    let tpl = Template::new(&Outer {
        dst_mac: macs.1,
        src_mac: macs.0,
        vlan: None,
        src: std::net::IpAddr::from(LAC),
        src_port: 1701,
        dst: std::net::IpAddr::from(LNS),
        dst_port: 1701,
        tunnel: 1,
        session: n,
        sequencing: false,
    });
    let p = echo(n, seq);
    let mut buf = vec![0u8; 128 + p.len()];
    buf[128..].copy_from_slice(&p);
    let (s, l) = encap(&tpl, &mut buf, 128, p.len(), 0).unwrap();
    buf[s..s + l].to_vec()
}

/// Two workers on two queues of each interface (DESIGN §2: a worker per
/// core, each with its queue's AF_XDP sockets): each works
/// the frames its queue receives, every subscriber's ping comes back
/// whichever workers carry it each way, the counters add up exactly over
/// the workers, and a write to the table (a session removed) is seen by
/// both.
#[test]
fn two_workers_on_two_queues_share_the_table() {
    if !root_or_skip() {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs 2 CPUs to send on 2 queues");
        return;
    }
    const N: u16 = 40;
    let t = AccessLab::with_queues("mq", 2);
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-mq-{}", std::process::id()));
    let (mut w, ids) = lab_table(&t, &table, N, 64);
    let dp = start_dataplane_with(&t, &table, &["--workers", "2", "--cores", "0,1"]);
    // Odd subscribers from CPU 1 (queue 1), even ones from CPU 0.
    let macs = lac_macs(&t);
    let frames: Vec<(usize, Vec<u8>)> = (1..=N)
        .map(|n| (usize::from(n % 2), lac_frame_seq(&macs, n, 1)))
        .collect();
    let got = lac_exchange_on_cpus(&t, &frames, 2.0);
    assert_eq!(
        replies(&got),
        (1..=N).collect::<Vec<_>>(),
        "every ping comes back\n{}",
        dp.log()
    );
    let (b0, b1) = (w.worker(0).unwrap(), w.worker(1).unwrap());
    assert_eq!(
        (b0.get(Counter::Upstream), b1.get(Counter::Upstream)),
        (u64::from(N / 2), u64::from(N / 2)),
        "each worker took its queue's half\n{}",
        dp.log()
    );
    assert_eq!(
        b0.get(Counter::Downstream) + b1.get(Counter::Downstream),
        u64::from(N)
    );
    let echo_len = echo(1, 1).len() as u64;
    for id in &ids {
        let c = w.counters(*id);
        assert_eq!((c.up_packets, c.up_bytes), (1, echo_len));
        assert_eq!((c.down_packets, c.down_bytes), (1, echo_len));
    }
    // One session gone from each queue's half: both workers see it.
    w.remove(ids[0]).unwrap();
    w.remove(ids[1]).unwrap();
    let got = lac_exchange_on_cpus(&t, &frames, 1.0);
    assert_eq!(replies(&got), (3..=N).collect::<Vec<_>>(), "{}", dp.log());
    let (b0, b1) = (w.worker(0).unwrap(), w.worker(1).unwrap());
    assert_eq!(
        (
            b0.drops(lns_dataplane::node::drop::Drop::UnknownSession),
            b1.drops(lns_dataplane::node::drop::Drop::UnknownSession)
        ),
        (1, 1),
        "{}",
        dp.log()
    );
    drop(dp);
    drop(w);
}

/// The (subscriber, echo sequence number) of each echo reply the LAC got,
/// in the order it got them.
fn replies_in_order(got: &[Vec<u8>]) -> Vec<(u16, u16)> {
    got.iter()
        .filter_map(|d| {
            let session = u16::from_be_bytes([*d.get(4)?, *d.get(5)?]);
            let ip = d.get(10..)?;
            let ok = ip.get(9) == Some(&1) && ip.get(20) == Some(&0);
            let seq = u16::from_be_bytes([*ip.get(26)?, *ip.get(27)?]);
            Some((session.checked_sub(1000)?, seq)).filter(|_| ok)
        })
        .collect()
}

/// The elephant tunnel (issue 18): one LAC's tunnel arrives on one queue,
/// and the hand-off spreads its sessions over both workers. Every frame
/// is worked by its session's owner, each session's replies come back in
/// the order its requests left, and more frames pass to the other worker
/// than the receiving worker has of its own (8,192): without them coming
/// back to it once sent, it would run dry and replies would be missing.
#[test]
fn the_hand_off_spreads_one_tunnel_over_two_workers_in_order() {
    if !root_or_skip() {
        return;
    }
    const N: u16 = 100;
    const ROUNDS: u16 = 200;
    let t = AccessLab::with_queues("ho", 2);
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-ho-{}", std::process::id()));
    let (w, _) = lab_table(&t, &table, N, 128);
    let dp = start_dataplane_with(&t, &table, &["--workers", "2", "--handoff"]);
    assert!(dp.log().contains("handoff=true"), "{}", dp.log());
    // Everything from CPU 0: queue 0, as RSS does with one tunnel.
    let macs = lac_macs(&t);
    let frames: Vec<(usize, Vec<u8>)> = (1..=ROUNDS)
        .flat_map(|r| (1..=N).map(move |n| (n, r)))
        .map(|(n, r)| (0, lac_frame_seq(&macs, n, r)))
        .collect();
    let got = replies_in_order(&lac_exchange_on_cpus(&t, &frames, 3.0));
    let mut per: Vec<Vec<u16>> = vec![Vec::new(); usize::from(N) + 1];
    for (n, seq) in &got {
        per[usize::from(*n)].push(*seq);
    }
    for n in 1..=N {
        assert_eq!(
            per[usize::from(n)],
            (1..=ROUNDS).collect::<Vec<_>>(),
            "subscriber {n}: every reply, in order\n{}",
            dp.log()
        );
    }
    let owned_by_1 = (1..=N)
        .filter(|&n| {
            lns_dataplane::worker::handoff::owner(lns_dataplane::table::up_key(1, n), 2) == 1
        })
        .count() as u64;
    assert!(owned_by_1 * u64::from(ROUNDS) > 8192 && owned_by_1 < u64::from(N));
    let (b0, b1) = (w.worker(0).unwrap(), w.worker(1).unwrap());
    let total = u64::from(N) * u64::from(ROUNDS);
    assert_eq!(b0.get(Counter::RxAccess), total, "all on queue 0");
    assert_eq!(b0.get(Counter::HandedOff), owned_by_1 * u64::from(ROUNDS));
    assert_eq!(
        b1.get(Counter::HandoffReceived),
        owned_by_1 * u64::from(ROUNDS)
    );
    assert_eq!(b1.get(Counter::Upstream), owned_by_1 * u64::from(ROUNDS));
    assert_eq!(b0.get(Counter::Upstream) + b1.get(Counter::Upstream), total);
    assert_eq!(b0.drops(lns_dataplane::node::drop::Drop::HandoffFull), 0);
    drop(dp);
    drop(w);
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

/// A UDP peer in namespace `ns` bound to `addr:1701` for `secs`: prints
/// (hex) every datagram it gets and answers each with `reply`, if given,
/// to `LNS:1701`.
fn udp_peer(t: &AccessLab, ns: &str, addr: Ipv4Addr, reply: Option<&[u8]>, secs: f32) -> Proc {
    let reply: String = reply
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let script = format!(
        r#"
import socket, time, binascii
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{addr}", 1701))
print("bound", flush=True)
s.settimeout(0.1)
end = time.time() + {secs}
while time.time() < end:
    try:
        d = s.recv(4096)
        print("got " + binascii.hexlify(d).decode(), flush=True)
        if "{reply}":
            s.sendto(binascii.unhexlify("{reply}"), ("{LNS}", 1701))
    except socket.timeout:
        pass
"#
    );
    let mut c = t.cmd(ns, "python3");
    c.args(["-c", &script]);
    let p = Proc::spawn("udp-peer", c);
    assert!(
        p.wait_for("bound", 1, Duration::from_secs(5)),
        "{}",
        p.log()
    );
    p
}

/// A multi-hop gateway in the lab: the LAC's session (leg A: our tunnel
/// 1, session 5+k) is carried on to a target LNS on the core host (leg B:
/// 203.0.113.2:1701, its ids 40/450+k, sequenced; our ids 2/6+k). One
/// session is in the table before the data plane starts (the start-up
/// scan), one is added after (the journal). Nothing in the LNS namespace
/// listens on UDP 1701: a frame the XDP program passed to the kernel
/// would be lost, so every frame that arrives was switched by a worker.
#[test]
fn switched_sessions_carry_lcp_both_ways() {
    if !root_or_skip() {
        return;
    }
    let t = AccessLab::new("dpsw");
    // The target LNS answers to our leg B address through the gateway.
    let st = t
        .cmd(&t.core, "ip")
        .args(["route", "add", "198.51.100.0/24", "via"])
        .arg(LNS_CORE.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let table = std::path::PathBuf::from(format!("/dev/shm/xlns-test-dpsw-{}", std::process::id()));
    let (mut w, _) = lab_table(&t, &table, 0, 64);
    // Next hop 3: the target LNS, on the core interface.
    w.set_nexthop(
        3,
        &NextHop {
            dst_mac: t.mac(&t.core, "vk"),
            src_mac: t.mac(&t.lns, "vc"),
            addr: Some(HOST.into()),
        },
    )
    .unwrap();
    let legs = |k: u16| {
        let a = Leg {
            tunnel: 1,
            session: 5 + k,
            local: LNS,
            local_port: 1701,
            peer: LAC,
            peer_port: 1701,
            peer_tunnel: 20,
            peer_session: 250 + k,
            sequencing: false,
            vlan: None,
            nexthop: 2,
            egress: Egress::Access,
            next_ns: 0,
        };
        let b = Leg {
            tunnel: 2,
            session: 6 + k,
            peer: HOST,
            peer_tunnel: 40,
            peer_session: 450 + k,
            sequencing: true,
            nexthop: 3,
            egress: Egress::Core,
            ..a
        };
        (a, b)
    };
    let (a0, b0) = legs(0);
    let first = w.insert_switched(&a0, &b0).unwrap();
    let dp = start_dataplane(&t, &table);
    let (a1, b1) = legs(10);
    let second = w.insert_switched(&a1, &b1).unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while w.reader_status().switched_keys != 4 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(w.reader_status().switched_keys, 4, "{}", dp.log());

    // LCP Configure-Request from the LAC's PPP peer, for each session.
    let lcp = [
        0xff, 0x03, 0xc0, 0x21, 1, 7, 0, 10, 5, 6, 0x12, 0x34, 0x56, 0x78,
    ];
    let from_lac = |k: u16| {
        let mut d = vec![0x00, 0x02, 0, 1];
        d.extend((5 + k).to_be_bytes());
        d.extend(lcp);
        d
    };
    // The target LNS's Configure-Ack, sent on leg B of session 0.
    let ack = [
        0xff, 0x03, 0xc0, 0x21, 2, 7, 0, 10, 5, 6, 0x12, 0x34, 0x56, 0x78,
    ];
    let mut reply = vec![0x08, 0x02, 0, 2, 0, 6, 0, 9, 0, 0];
    reply.extend(ack);
    let lns = udp_peer(&t, &t.core, HOST, Some(&reply), 3.0);
    let got = lac_exchange(&t, &[from_lac(0), from_lac(10)], 2.0);
    // Leg B: the LNS's ids, Ns from 0 (each session its own), LCP as sent.
    let want_b = |k: u16| {
        let mut d = vec![0x08, 0x02, 0, 40];
        d.extend((450 + k).to_be_bytes());
        d.extend([0, 0, 0, 0]);
        d.extend(lcp);
        format!("got {}", hex(&d))
    };
    assert!(
        lns.wait_for(&want_b(0), 1, Duration::from_secs(3)),
        "{}\n{}",
        lns.log(),
        dp.log()
    );
    assert!(
        lns.wait_for(&want_b(10), 1, Duration::from_secs(3)),
        "{}\n{}",
        lns.log(),
        dp.log()
    );
    // Leg A: the LAC's ids, no sequencing, the Ack as the LNS sent it
    // (one per LCP frame the LNS got: the ack carries leg B session 0's
    // ids, so both come back on leg A session 0).
    let mut want_a = vec![0x00, 0x02, 0, 20, 0, 250];
    want_a.extend(ack);
    assert_eq!(got, vec![want_a.clone(), want_a], "{}", dp.log());

    let (ca0, cb0) = (w.counters(first.a), w.counters(first.b));
    assert_eq!((ca0.up_packets, ca0.up_bytes), (1, lcp.len() as u64));
    assert_eq!((cb0.up_packets, cb0.up_bytes), (2, 2 * ack.len() as u64));
    assert_eq!(w.counters(second.a).up_packets, 1);
    assert_eq!(w.counters(second.b).up_packets, 0);
    let b = w.worker(0).unwrap();
    assert_eq!(b.get(Counter::Switched), 4);
    assert!(
        b.named_drops().all(|(_, n)| n == 0),
        "{:?}",
        b.named_drops().collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_millis(500));
    let v = w.verdicts();
    assert_eq!(v[Verdict::SwitchedToXsk as usize], 4);
    assert_eq!(v[Verdict::PassPppControl as usize], 0);

    // Removed: the XDP program lets go of its keys.
    w.remove_switched(first).unwrap();
    w.remove_switched(second).unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while w.reader_status().switched_keys != 0 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(w.reader_status().switched_keys, 0);
    assert_eq!(w.reader_status().switched_rebuilds, 0);
}
