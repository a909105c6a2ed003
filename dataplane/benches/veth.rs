//! End-to-end rate on veth pairs, next to what the same machine moves with
//! no L2TP work (issues 6 and 18), each direction. Upstream: an AF_XDP
//! generator in `lac` blasts L2TP data frames (64-byte IP packets, 1,000
//! sessions) at lns-dataplane in `lns`, which forwards them to `core`.
//! Downstream: a generator in `core` blasts the same sessions' packets,
//! which lns-dataplane encapsulates toward the LAC. Each is then measured
//! again with `--bare` (every frame sent to the other side untouched: same
//! XDP program, sockets, UMEM and loop). The ratios are the share of the
//! environment's limit the L2TP pipeline reaches.
//!
//! Needs root. Run: `cargo bench -p lns-dataplane --bench veth [-- SECONDS]
//! [busy|wakeup]]`: lns-dataplane polls its rings busily (the default) or
//! sleeps in the kernel until frames come (`--polling wakeup`).
//! Rates are frames the data plane handed to the TX ring of the far side
//! per second, from its own counters, over the middle of each run.

#[path = "../../controlplane/protocol/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

#[path = "../tests/common/lab_table.rs"]
mod lab_table;

use lab_table::{lab_table, sub};
use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::table::counters::Counter;
use lns_dataplane::table::{CORE_V4, NextHop, Reader};
use lns_dataplane::wire::checksum;
use lns_dataplane::xsk::{Sockets, XskConfig, ifindex};
use process::{AccessLab, Proc};
use std::time::{Duration, Instant};
use xdpilone::xdp::XdpDesc;

const SESSIONS: u16 = 1000;

/// The direction a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// From the LAC to the core.
    Up,
    /// From the core to the LAC.
    Down,
}

/// The 64-byte UDP/IPv4 packet of session `n`, `Up` to a host beyond
/// the core (dropped there), `Down` from it.
fn packet(n: u16, dir: Dir) -> Vec<u8> {
    let (src, dst) = match dir {
        Dir::Up => (sub(n).octets(), [203, 0, 113, 77]),
        Dir::Down => ([203, 0, 113, 77], sub(n).octets()),
    };
    let mut p = vec![0x45, 0, 0, 64, 0, 1, 0, 0, 64, 17, 0, 0];
    p.extend(src);
    p.extend(dst);
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.resize(64, 0x5a);
    p
}

/// The frame the generator sends for session `n` going `dir`, from
/// `src_mac` to `dst_mac`.
fn frame(n: u16, dir: Dir, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    if dir == Dir::Down {
        let mut f = dst_mac.to_vec();
        f.extend(src_mac);
        f.extend([0x08, 0x00]);
        f.extend(packet(n, dir));
        return f;
    }
    let (lac_mac, lns_mac) = (src_mac, dst_mac);
    let t = Template::new(&Outer {
        dst_mac: lns_mac,
        src_mac: lac_mac,
        vlan: None,
        src: std::net::IpAddr::from(AccessLab::LAC),
        src_port: 1701,
        dst: std::net::IpAddr::from(AccessLab::LNS),
        dst_port: 1701,
        tunnel: 1,
        session: n,
        sequencing: false,
    });
    let p = packet(n, dir);
    let mut buf = vec![0u8; 256];
    buf[128..192].copy_from_slice(&p);
    let (s, l) = encap(&t, &mut buf, 128, 64, 0).unwrap();
    buf[s..s + l].to_vec()
}

/// The generator (re-executed inside `lac`, or `core` for `Down`): sends
/// for `secs` seconds as fast as the TX ring takes frames; prints the
/// count.
fn generate(dir: Dir, secs: f64, src_mac: [u8; 6], dst_mac: [u8; 6]) {
    let dev = match dir {
        Dir::Up => "vl",
        Dir::Down => "vk",
    };
    let ix = ifindex(dev).unwrap();
    let cfg = XskConfig {
        try_zero_copy: false,
        ..XskConfig::default()
    };
    let mut s = Sockets::open(ix, ix, 0, &cfg).unwrap();
    let frames: Vec<Vec<u8>> = (1..=SESSIONS)
        .map(|n| frame(n, dir, src_mac, dst_mac))
        .collect();
    let len = frames[0].len() as u32;
    // Write every free frame once; afterwards a frame's content never
    // changes, it only cycles between the TX ring and the free list.
    let mut all = Vec::new();
    while let Some(a) = s.umem.take() {
        let (chunk, off) = s.umem.chunk(a).unwrap();
        let f = &frames[all.len() % frames.len()];
        chunk[off..off + f.len()].copy_from_slice(f);
        all.push(a);
    }
    for a in all {
        s.umem.release(a);
    }
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    let mut batch = [XdpDesc::default(); 64];
    while Instant::now() < end {
        s.access.reap(&mut s.umem);
        let mut n = 0;
        while n < batch.len() {
            let Some(a) = s.umem.take() else { break };
            batch[n] = XdpDesc {
                addr: a,
                len,
                options: 0,
            };
            n += 1;
        }
        let took = s.access.send(&batch[..n]);
        for d in &batch[took..n] {
            s.umem.release(d.addr);
        }
        sent += took as u64;
    }
    println!("SENT {sent}");
}

/// Runs lns-dataplane (bare or not) under load going `dir`; returns
/// frames/s it sent on, and the frames the generator sent. `macs`: the
/// generator's interface's and the one it sends to.
fn phase(
    lab: &AccessLab,
    table: &str,
    (secs, polling): (f64, &str),
    bare: bool,
    dir: Dir,
    macs: ([u8; 6], [u8; 6]),
) -> (f64, u64) {
    let mut c = lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lns-dataplane"));
    c.args([
        "--table",
        table,
        "--access",
        "va",
        "--core",
        "vc",
        "--lns-v4",
        &AccessLab::LNS.to_string(),
        "--pool",
        "100.64.0.0/16",
        "--polling",
        polling,
        "--cores",
        "1",
    ]);
    if bare {
        c.arg("--bare");
    }
    let dp = Proc::spawn("lns-dataplane", c);
    assert!(
        dp.wait_for("data plane attached", 1, Duration::from_secs(10)),
        "{}",
        dp.log()
    );
    let exe = std::env::current_exe().unwrap();
    let hex = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (ns, word, counter) = match dir {
        Dir::Up => (&lab.lac, "up", Counter::TxCore),
        Dir::Down => (&lab.core, "down", Counter::TxAccess),
    };
    let mut g = lab.cmd(ns, exe.to_str().unwrap());
    g.args([
        "--generate",
        word,
        &secs.to_string(),
        &hex(macs.0),
        &hex(macs.1),
    ]);
    let gen_proc = Proc::spawn("generator", g);
    let r = Reader::inspect(std::path::Path::new(table)).unwrap();
    let tx = || r.worker(0).map_or(0, |w| w.get(counter));
    // Skip the ramp-up, measure the middle.
    std::thread::sleep(Duration::from_secs_f64(secs * 0.25));
    let (t0, c0) = (Instant::now(), tx());
    std::thread::sleep(Duration::from_secs_f64(secs * 0.5));
    let (t1, c1) = (Instant::now(), tx());
    let mut gen_proc = gen_proc;
    assert!(
        gen_proc.wait_exit(Duration::from_secs_f64(secs + 10.0)),
        "{}",
        gen_proc.log()
    );
    let sent = gen_proc
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("SENT ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0);
    dp.signal("TERM");
    let mut dp = dp;
    dp.wait_exit(Duration::from_secs(5));
    ((c1 - c0) as f64 / (t1 - t0).as_secs_f64(), sent)
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, o) in m.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    m
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let dir = if args[i + 1] == "down" {
            Dir::Down
        } else {
            Dir::Up
        };
        let secs: f64 = args[i + 2].parse().unwrap();
        generate(dir, secs, parse_mac(&args[i + 3]), parse_mac(&args[i + 4]));
        return;
    }
    if !process::root_or_skip() {
        return;
    }
    let secs: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(8.0);
    let polling = if args.iter().any(|a| a == "wakeup") {
        "wakeup"
    } else {
        "busy"
    };
    let lab = AccessLab::new("bench");
    let table = format!("/dev/shm/xlns-bench-{}", std::process::id());
    let (mut w, _) = lab_table(&lab, std::path::Path::new(&table), SESSIONS, 4096);
    let up = (lab.mac(&lab.lac, "vl"), lab.mac(&lab.lns, "va"));
    let down = (lab.mac(&lab.core, "vk"), lab.mac(&lab.lns, "vc"));
    // Both runs' frames must cost the receiving namespace the same: the
    // bare forwarder's keep the LNS's MAC as destination, which the far
    // end's kernel drops at once as another host's; so do ours, sent to
    // a neighbour MAC nobody has (addressed to the far end, they would be
    // taken up its IP stack, and its CPU is this machine's too).
    for (i, src) in [(2, up.1), (CORE_V4, down.1)] {
        let nh = NextHop {
            dst_mac: [2, 0, 0, 0, 0, 0x99],
            src_mac: src,
            addr: None,
        };
        w.set_nexthop(i, &nh).unwrap();
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "veth end to end, 64-byte IP packets in L2TP, {SESSIONS} sessions, {secs} s per run, {cores} CPUs, {polling} polling"
    );
    for (dir, macs, what) in [
        (
            Dir::Up,
            up,
            "upstream   L2TP pipeline (decap, lookup, spoof check, TTL, next hop)",
        ),
        (
            Dir::Down,
            down,
            "downstream L2TP pipeline (lookup, size check, encap, LAC next hop)",
        ),
    ] {
        let (l2tp, sent_l) = phase(&lab, &table, (secs, polling), false, dir, macs);
        let (bare, sent_b) = phase(&lab, &table, (secs, polling), true, dir, macs);
        println!(
            "  {what:<72} {:8.3} Mpps   (generator sent {:.3} Mpps)",
            l2tp / 1e6,
            sent_l as f64 / secs / 1e6
        );
        println!(
            "  {:<72} {:8.3} Mpps   (generator sent {:.3} Mpps)",
            "           bare AF_XDP forwarder (same sockets, no L2TP work)",
            bare / 1e6,
            sent_b as f64 / secs / 1e6
        );
        println!("  {:<72} {:8.2}", "           ratio", l2tp / bare.max(1.0));
    }
}
