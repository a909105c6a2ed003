//! The whole LNS in a namespace lab (DESIGN §5.6; issue 6's "done when"):
//! lnsd in `lns` supervising lns-dataplane (XDP + AF_XDP on both veths),
//! the emulated LAC in `lac` bringing up 100 PPP subscribers, a host in
//! `core` answering their pings. The first [`SEQ`] subscribers' calls
//! behave like a Linux LAC's (xl2tpd, the kernel's L2TP with
//! `recv_seq`/`send_seq`, pppd attaching 200 ms after the call connects):
//! they demand data sequence numbers and discard frames out of sequence,
//! so their pings check that lnsd's PPP frames and the data plane's share
//! one Ns sequence, across a data-plane restart too.
//!
//! The LAC runs in its own process inside the `lac` namespace: this test
//! binary re-executed with `XLNS_E2E_LAC` set, so [`lac_process`] drives a
//! real UDP socket there, taking commands on stdin and answering on stdout.

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;
mod dp;

use common::process::{AccessLab, Proc, root_or_skip};
use dp::{Cleanup, dataplane_binary};
use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::table::Reader;
use lns_dataplane::table::counters::{Counter, SessionCounters};
use lns_dataplane::wire::checksum;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 100;
/// Subscribers whose calls sequence their data like a Linux LAC's.
const SEQ: usize = 10;
const T: Duration = Duration::from_secs(20);

/// The subscribers' PPP peer address (`ppp.gateway` below): the first
/// address of the pool, which must never be leased.
const GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 1);
/// The subscribers' MRU: below the access link's, so that the core host's
/// full-size packets must be fragmented or refused.
const SUBSCRIBER_MRU: u16 = 1400;

/// An ICMP echo request from `src` to the core host; 56 bytes of data.
fn echo(src: Ipv4Addr, seq: u16) -> Vec<u8> {
    echo_to(src, AccessLab::HOST, seq, 84)
}

/// An ICMP echo request of `len` bytes (IP header included), DF set.
fn echo_to(src: Ipv4Addr, dst: Ipv4Addr, seq: u16, len: usize) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x42, 0x42];
    icmp.extend(seq.to_be_bytes());
    icmp.extend((0..len - 28).map(|i| (i as u8).wrapping_mul(7)));
    let c = !checksum::sum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0];
    p[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    p.extend(src.octets());
    p.extend(dst.octets());
    let c = !checksum::sum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(icmp);
    p
}

/// The IPv4 datagrams that arrived as fragments among `packets`, made
/// whole again (RFC 791 §3.2), each with how many fragments it came in and
/// the longest of them. A datagram with a hole or no last fragment is left
/// out.
fn reassemble(packets: &[Vec<u8>]) -> Vec<(Vec<u8>, usize, usize)> {
    let word = |p: &[u8], at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
    let mut groups: std::collections::HashMap<Vec<u8>, Vec<&Vec<u8>>> = Default::default();
    for p in packets {
        if p.len() >= 20 && p[0] >> 4 == 4 && word(p, 6) & 0x3fff != 0 {
            // Source, destination, identification and protocol.
            let key = [&p[12..20], &p[4..6], &p[9..10]].concat();
            groups.entry(key).or_default().push(p);
        }
    }
    let mut whole = Vec::new();
    for mut frags in groups.into_values() {
        frags.sort_by_key(|f| word(f, 6) & 0x1fff);
        let mut data = Vec::new();
        let mut longest = 0;
        let mut contiguous = true;
        for f in &frags {
            let (hl, tl) = (usize::from(f[0] & 0x0f) * 4, usize::from(word(f, 2)));
            contiguous &= usize::from(word(f, 6) & 0x1fff) * 8 == data.len();
            data.extend_from_slice(&f[hl..tl]);
            longest = longest.max(tl);
        }
        let last = frags[frags.len() - 1];
        if !contiguous || word(last, 6) & 0x2000 != 0 {
            continue;
        }
        let hl = usize::from(frags[0][0] & 0x0f) * 4;
        let mut p = frags[0][..hl].to_vec();
        p[2..4].copy_from_slice(&((hl + data.len()) as u16).to_be_bytes());
        p[6..8].copy_from_slice(&[0, 0]);
        p[10..12].copy_from_slice(&[0, 0]);
        let c = !checksum::sum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend(data);
        whole.push((p, frags.len(), longest));
    }
    whole
}

/// The emulated LAC's process. Does nothing unless re-executed by the test
/// below inside the `lac` namespace.
#[test]
fn lac_process() {
    let Ok(users) = std::env::var("XLNS_E2E_LAC") else {
        return;
    };
    let users: usize = users.parse().unwrap();
    lac::run(users);
}

mod lac {
    use super::*;
    use lns_protocol::l2tp::{CallParams, SessionKey};
    use lns_protocol::lac::{Lac, LacBehaviour, LacEvent};
    use lns_protocol::ppp::lcp::AuthProtocol;
    use std::collections::HashMap;
    use std::net::{SocketAddr, UdpSocket};

    struct Driver {
        lac: Lac,
        sock: UdpSocket,
        me: SocketAddr,
        up: HashMap<SessionKey, Ipv4Addr>,
        replies: Vec<(SessionKey, Vec<u8>)>,
    }

    impl Driver {
        fn pump(&mut self, until: Instant) {
            let mut buf = [0u8; 4096];
            loop {
                while let Some(tx) = self.lac.poll_transmit() {
                    let _ = self.sock.send_to(&tx.payload, tx.peer);
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
                        LacEvent::Packet { key, packet, .. } => self.replies.push((key, packet)),
                        _ => {}
                    }
                }
                if Instant::now() >= until {
                    return;
                }
            }
        }

        /// Every subscriber pings once; answers "REPLIES n".
        fn ping_all(&mut self, seq: u16) {
            self.replies.clear();
            let subs: Vec<(SessionKey, Ipv4Addr)> = self.up.iter().map(|(k, a)| (*k, *a)).collect();
            for (k, a) in &subs {
                if let Some(tx) = self.lac.send_ip(*k, &echo(*a, seq)) {
                    let _ = self.sock.send_to(&tx.payload, tx.peer);
                }
            }
            self.pump(Instant::now() + Duration::from_millis(1500));
            let mut ok = 0;
            for (k, p) in &self.replies {
                let a = self.up[k];
                // An echo reply from the host to this subscriber, same
                // identifier, sequence and data.
                if p.len() == 84
                    && p[9] == 1
                    && p[12..16] == AccessLab::HOST.octets()
                    && p[16..20] == a.octets()
                    && p[20] == 0
                    && p[24..] == echo(a, seq)[24..]
                {
                    ok += 1;
                }
            }
            println!("REPLIES {ok}");
        }

        /// Subscriber 1 pings every `gap_ms` for `count` pings; answers
        /// "STREAM sent received longest_gap".
        fn stream(&mut self, count: u16, gap_ms: u64) {
            let (k, a) = self
                .up
                .iter()
                .map(|(k, a)| (*k, *a))
                .min_by_key(|x| x.1)
                .unwrap();
            self.replies.clear();
            for seq in 0..count {
                if let Some(tx) = self.lac.send_ip(k, &echo(a, 1000 + seq)) {
                    let _ = self.sock.send_to(&tx.payload, tx.peer);
                }
                self.pump(Instant::now() + Duration::from_millis(gap_ms));
            }
            self.pump(Instant::now() + Duration::from_millis(500));
            let mut got = vec![false; usize::from(count)];
            for (_, p) in &self.replies {
                if p.len() >= 28 {
                    let seq = u16::from_be_bytes([p[26], p[27]]).wrapping_sub(1000);
                    if let Some(g) = got.get_mut(usize::from(seq)) {
                        *g = true;
                    }
                }
            }
            let received = got.iter().filter(|g| **g).count();
            let (mut run, mut longest) = (0, 0);
            for g in &got {
                run = if *g { 0 } else { run + 1 };
                longest = longest.max(run);
            }
            let tail_ok = got.iter().rev().take(20).all(|g| *g);
            println!("STREAM {count} {received} {longest} {tail_ok}");
        }

        /// Subscriber 1: the lowest address.
        fn first(&self) -> (SessionKey, Ipv4Addr) {
            self.up
                .iter()
                .map(|(k, a)| (*k, *a))
                .min_by_key(|x| x.1)
                .unwrap()
        }

        /// Every subscriber pings its PPP gateway; answers "GW n" with the
        /// replies that came back from it, byte for byte the request's
        /// identifier, sequence and data.
        fn ping_gateway(&mut self, seq: u16) {
            self.replies.clear();
            let subs: Vec<(SessionKey, Ipv4Addr)> = self.up.iter().map(|(k, a)| (*k, *a)).collect();
            for (k, a) in &subs {
                if let Some(tx) = self.lac.send_ip(*k, &echo_to(*a, GATEWAY, seq, 84)) {
                    let _ = self.sock.send_to(&tx.payload, tx.peer);
                }
            }
            self.pump(Instant::now() + Duration::from_millis(1500));
            let mut ok = 0;
            for (k, p) in &self.replies {
                let a = self.up[k];
                if p.len() == 84
                    && p[12..16] == GATEWAY.octets()
                    && p[16..20] == a.octets()
                    && p[20] == 0
                    && p[24..] == echo_to(a, GATEWAY, seq, 84)[24..]
                {
                    ok += 1;
                }
            }
            println!("GW {ok}");
        }

        /// Subscriber 1 sends a UDP datagram to its gateway (the data plane
        /// must drop it); answers "GWUDP sent".
        fn udp_to_gateway(&mut self) {
            let (k, a) = self.first();
            let mut p = vec![0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0];
            p.extend(a.octets());
            p.extend(GATEWAY.octets());
            p.extend([0x30, 0x39, 0, 53, 0, 16, 0, 0]);
            p.extend(b"hello gw");
            let c = !checksum::sum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            let tx = self.lac.send_ip(k, &p).unwrap();
            let _ = self.sock.send_to(&tx.payload, tx.peer);
            self.pump(Instant::now() + Duration::from_millis(300));
            println!("GWUDP sent");
        }

        /// What came in since "mark", after another half second:
        /// "FRAGS fragments length longest source is_echo_request" for the
        /// first datagram that arrived in fragments ("FRAGS 0" if none).
        fn fragments(&mut self) {
            self.pump(Instant::now() + Duration::from_millis(500));
            let packets: Vec<Vec<u8>> = self.replies.iter().map(|(_, p)| p.clone()).collect();
            match reassemble(&packets).first() {
                Some((p, n, longest)) => println!(
                    "FRAGS {n} {} {longest} {} {}",
                    p.len(),
                    Ipv4Addr::new(p[12], p[13], p[14], p[15]),
                    p[9] == 1 && p[20] == 8 && checksum::sum(&p[20..]) == 0xffff
                ),
                None => println!("FRAGS 0"),
            }
        }

        /// The last subscriber (not the first, whose path MTU the core
        /// host has learned: it would fragment the reply itself) pings the
        /// core host with `len` bytes; answers "BIG fragments length ok":
        /// how the reply came, and whether made whole it is the echo reply
        /// to that request.
        fn big_ping(&mut self, len: usize) {
            let (k, a) = self
                .up
                .iter()
                .map(|(k, a)| (*k, *a))
                .max_by_key(|x| x.1)
                .unwrap();
            self.replies.clear();
            let req = echo_to(a, AccessLab::HOST, 77, len);
            let tx = self.lac.send_ip(k, &req).unwrap();
            let _ = self.sock.send_to(&tx.payload, tx.peer);
            self.pump(Instant::now() + Duration::from_millis(1500));
            let packets: Vec<Vec<u8>> = self.replies.iter().map(|(_, p)| p.clone()).collect();
            match reassemble(&packets).first() {
                Some((p, n, _)) => {
                    let ok = p.len() == len
                        && p[12..16] == AccessLab::HOST.octets()
                        && p[16..20] == a.octets()
                        && p[20] == 0
                        && p[24..] == req[24..];
                    println!("BIG {n} {} {ok}", p.len());
                }
                None => println!("BIG 0"),
            }
        }

        /// Frames the data plane must drop: `spoofed` from subscriber 1's
        /// session with another source, `unknown` for a session that does
        /// not exist.
        fn bad(&mut self, spoofed: usize, unknown: usize) {
            let (k, _) = self
                .up
                .iter()
                .map(|(k, a)| (*k, *a))
                .min_by_key(|x| x.1)
                .unwrap();
            for _ in 0..spoofed {
                let tx = self
                    .lac
                    .send_ip(k, &echo(Ipv4Addr::new(100, 64, 250, 250), 9))
                    .unwrap();
                let _ = self.sock.send_to(&tx.payload, tx.peer);
            }
            let tx = self.lac.send_ip(k, &echo(self.up[&k], 9)).unwrap();
            let mut frame = tx.payload.clone();
            // Same tunnel, a session id the LNS never gave out: its ids are
            // random, so skip the ones our calls have.
            let given: std::collections::HashSet<[u8; 2]> = self
                .up
                .iter()
                .filter_map(|(k, a)| self.lac.send_ip(*k, &echo(*a, 9)))
                .map(|t| [t.payload[4], t.payload[5]])
                .collect();
            let unused = (1..=0xfffeu16)
                .rev()
                .find(|id| !given.contains(&id.to_be_bytes()))
                .unwrap();
            frame[4..6].copy_from_slice(&unused.to_be_bytes());
            for _ in 0..unknown {
                let _ = self.sock.send_to(&frame, tx.peer);
            }
            self.pump(Instant::now() + Duration::from_millis(300));
            println!("BAD sent");
        }
    }

    pub fn run(users: usize) {
        let me = SocketAddr::from((AccessLab::LAC, 1701));
        let lns = SocketAddr::from((AccessLab::LNS, 1701));
        let sock = UdpSocket::bind(me).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let mut d = Driver {
            lac: common::emulated_lac(AuthProtocol::Pap, 7, SUBSCRIBER_MRU),
            sock,
            me,
            up: HashMap::new(),
            replies: Vec::new(),
        };
        let now = Instant::now();
        let t = d.lac.open_tunnel(now, me, lns).unwrap();
        for i in 1..=users {
            let b = if i <= SEQ {
                LacBehaviour::linux(Duration::from_millis(200))
            } else {
                LacBehaviour::default()
            };
            d.lac
                .place_call_as(
                    now,
                    t,
                    CallParams::default(),
                    (format!("user{i}").into_bytes(), format!("pw{i}")),
                    b,
                )
                .unwrap();
        }
        let end = Instant::now() + T;
        while d.up.len() < users && Instant::now() < end {
            d.pump(Instant::now() + Duration::from_millis(50));
        }
        // Each subscriber with the LAC's ids for its call, which the LNS
        // puts in the data frames it sends here.
        let mut subs: Vec<(Ipv4Addr, SessionKey)> = d.up.iter().map(|(k, a)| (*a, *k)).collect();
        subs.sort_by_key(|s| s.0);
        let list: Vec<String> = subs
            .iter()
            .map(|(a, k)| format!("{a}/{}/{}", k.tunnel, k.session))
            .collect();
        println!("UP {} {}", d.up.len(), list.join(","));
        let commands = common::process::Commands::start();
        while let Some(line) = commands.next(|| d.pump(Instant::now() + Duration::from_millis(20)))
        {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["ping", seq] => d.ping_all(seq.parse().unwrap()),
                ["stream", n, gap] => d.stream(n.parse().unwrap(), gap.parse().unwrap()),
                ["bad", s, u] => d.bad(s.parse().unwrap(), u.parse().unwrap()),
                ["gwping", seq] => d.ping_gateway(seq.parse().unwrap()),
                ["gwudp"] => d.udp_to_gateway(),
                ["mark"] => {
                    d.replies.clear();
                    println!("MARKED");
                }
                ["frags"] => d.fragments(),
                ["bigping", len] => d.big_ping(len.parse().unwrap()),
                ["mru"] => {
                    let (k, _) = d.first();
                    println!("MRU {}", d.lac.peer_mru(k).unwrap_or(0));
                }
                ["idle", ms] => d.pump(Instant::now() + Duration::from_millis(ms.parse().unwrap())),
                ["seq"] => {
                    let s = d.lac.data_stats;
                    println!(
                        "SEQ {} {} {} {}",
                        s.sequenced, s.unsequenced, s.out_of_sequence, s.before_attach
                    );
                }
                ["quit"] => return,
                _ => println!("ERR {line}"),
            }
        }
    }
}

/// The LAC process: this test binary in `lac`, playing the LAC.
type LacProc = common::process::TestProcess;

fn start_lac(lab: &AccessLab, users: usize) -> LacProc {
    LacProc::start(&lab.lac, "lac_process", "XLNS_E2E_LAC", &users.to_string())
}

/// Every worker's counters for a subscriber, found by address.
fn session_counters(r: &Reader, a: Ipv4Addr) -> SessionCounters {
    let f = r
        .by_ipv4(a)
        .unwrap_or_else(|| panic!("{a} not in the table"));
    let mut sum = SessionCounters::default();
    for w in 0..r.sizes().workers {
        sum += r.worker(w).unwrap().session_counters(f.slot, f.generation);
    }
    sum
}

#[test]
fn lnsd_forwards_100_subscribers_through_xdp() {
    if std::env::var_os("XLNS_E2E_LAC").is_some() || !root_or_skip() {
        return;
    }
    let bin = dataplane_binary();
    let lab = AccessLab::new("e2e");
    let mut users = String::new();
    for i in 1..=N {
        users.push_str(&format!(
            "[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\n"
        ));
    }
    let users = lab.file("users.toml", &users);
    let table = format!("/dev/shm/xlns-e2e-{}", std::process::id());
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{lns}:1701\"]\nshutdown_timeout_secs = 2\n\
             [[peer]]\naddress = \"{lac}\"\n\
             [ppp]\nauth = [\"pap\"]\nusers_file = \"{users}\"\ngateway = \"{gateway}\"\nipv6 = false\n\
             echo_interval_secs = 1\nmru_fit_access_mtu = true\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.1.1-100.64.1.254\"]\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 4096\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\nicmp_source = \"{lns_core}\"\nneighbour_refresh_secs = 1\n\
             restart_delay_ms = 200\n\
             [metrics]\nlisten = \"127.0.0.1:9102\"\n",
            lns = AccessLab::LNS,
            lac = AccessLab::LAC,
            users = users.display(),
            bin = bin.display(),
            host = AccessLab::HOST,
            lns_core = AccessLab::LNS_CORE,
            gateway = GATEWAY,
        ),
    );
    // If the test fails, lnsd is killed without a chance to stop its data
    // plane or remove the table: do both (dropped after lnsd's Proc).
    let _cleanup = Cleanup(table.clone());
    let mut c = lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info,lnsd::session=debug");
    let mut lnsd = Proc::spawn("lnsd", c);
    assert!(lnsd.wait_for("data plane attached", 1, T), "{}", lnsd.log());

    // 100 subscribers up, each with its own address.
    let mut lac = start_lac(&lab, N);
    let up = lac.expect("UP ");
    let (count, list) = up.split_once(' ').unwrap_or((&up, ""));
    assert_eq!(count, N.to_string(), "{}", lnsd.log());
    let subs: Vec<(Ipv4Addr, u16, u16)> = list
        .split(',')
        .map(|x| {
            let f: Vec<&str> = x.split('/').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let addrs: Vec<Ipv4Addr> = subs.iter().map(|s| s.0).collect();
    assert_eq!(addrs.len(), N);
    // The pool covers the gateway: lnsd left it out, and said so.
    assert!(!addrs.contains(&GATEWAY), "{addrs:?}");
    assert!(
        lnsd.log().contains("ppp.gateway lies in an address pool"),
        "{}",
        lnsd.log()
    );

    // Byte for byte, both ways: a sniffer in `core` prints the first echo
    // request the LNS decapsulated, one in `lac` the first IPv4 frame it
    // encapsulated (L2TP data, PPP FF 03 00 21).
    let sniffer = |ns: &str, dev: &str, cond: &str| {
        lab.cmd(ns, "python3")
            .args([
                "-c",
                &format!(
                    "import socket,binascii,time,errno,sys\n\
                     def op():\n\
                     \x20s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x0800))\n\
                     \x20s.bind(('{dev}',0))\n\
                     \x20s.settimeout(0.5)\n\
                     \x20return s\n\
                     s=op()\n\
                     print('READY',flush=True,file=sys.stderr)\n\
                     end=time.time()+10\n\
                     while time.time()<end:\n\
                     \x20try:\n\
                     \x20\x20f=s.recv(4096)\n\
                     \x20except socket.timeout:\n\
                     \x20\x20continue\n\
                     \x20except OSError as e:\n\
                     \x20\x20if e.errno!=errno.ENETDOWN: raise\n\
                     \x20\x20print('LINK-DOWN',flush=True,file=sys.stderr);time.sleep(0.05)\n\
                     \x20\x20try:\n\
                     \x20\x20\x20s.close();s=op()\n\
                     \x20\x20except OSError:\n\
                     \x20\x20\x20pass\n\
                     \x20\x20continue\n\
                     \x20if {cond}:\n\
                     \x20\x20print(binascii.hexlify(f).decode(),flush=True);break\n"
                ),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // A sniffer is listening once it says so (python starts slowly on a
    // loaded machine: a fixed wait missed the frame); the rest of its
    // stderr is drained.
    let ready = |c: &mut std::process::Child| {
        let mut r = std::io::BufReader::new(c.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::BufRead::read_line(&mut r, &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.contains("READY") => break,
                Ok(_) => eprint!("sniffer: {line}"),
            }
        }
        std::thread::spawn(move || {
            for l in std::io::BufRead::lines(r).map_while(Result::ok) {
                eprintln!("sniffer: {l}");
            }
        });
    };
    let unhex = |out: std::process::Output| -> Vec<u8> {
        let hex = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut sniff = sniffer(&lab.core, "vk", "f[23]==1 and f[34]==8");
    let mut sniff_lac = sniffer(
        &lab.lac,
        "vl",
        "f[23]==17 and f[34:36]==b'\\x06\\xa5' and f[48:52]==b'\\xff\\x03\\x00\\x21'",
    );
    ready(&mut sniff);
    ready(&mut sniff_lac);

    lac.send("ping 1");
    let replies: usize = lac.expect("REPLIES ").parse().unwrap();
    assert_eq!(
        replies,
        N,
        "every subscriber's ping came back\n{}",
        lnsd.log()
    );

    let frame = unhex(sniff.wait_with_output().unwrap());
    assert!(
        frame.len() >= 14 + 84,
        "sniffed {frame:02x?}\n{}",
        lnsd.log()
    );
    let src = Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]);
    let mut want = lab.mac(&lab.core, "vk").to_vec();
    want.extend(lab.mac(&lab.lns, "vc"));
    want.extend([0x08, 0x00]);
    let mut ip = echo(src, 1);
    ip[8] -= 1;
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    want.extend(ip);
    assert_eq!(
        &frame[..want.len()],
        &want[..],
        "decapsulated frame, byte for byte"
    );

    // The encapsulated reply: exactly the template lnsd built for the
    // subscriber's call in front of the IP packet the host sent.
    let frame = unhex(sniff_lac.wait_with_output().unwrap());
    assert!(frame.len() > 52 + 20, "sniffed {frame:02x?}");
    let ip = frame[52..].to_vec();
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let &(_, tunnel, session) = subs
        .iter()
        .find(|s| s.0 == dst)
        .expect("a subscriber's reply");
    let t = Template::new(&Outer {
        dst_mac: lab.mac(&lab.lac, "vl"),
        src_mac: lab.mac(&lab.lns, "va"),
        vlan: None,
        src: std::net::IpAddr::from(AccessLab::LNS),
        src_port: 1701,
        dst: std::net::IpAddr::from(AccessLab::LAC),
        dst_port: 1701,
        tunnel,
        session,
        sequencing: false,
    });
    let mut want = vec![0u8; 256 + ip.len()];
    want[256..].copy_from_slice(&ip);
    let (ws, wl) = encap(&t, &mut want, 256, ip.len(), 0).unwrap();
    assert_eq!(
        frame,
        want[ws..ws + wl],
        "encapsulated frame, byte for byte"
    );
    assert_eq!(&ip[12..16], &AccessLab::HOST.octets());
    assert_eq!(checksum::sum(&ip[..20]), 0xffff);

    // The sequenced calls: their templates carry Ns, and over a few LCP
    // echoes (lnsd's, every second) interleaved with the pings (the data
    // plane's), the LAC found every frame in sequence.
    let r = Reader::inspect(std::path::Path::new(&table)).unwrap();
    let sequenced = addrs
        .iter()
        .filter(|a| r.by_ipv4(**a).unwrap().template().unwrap().sequencing())
        .count();
    assert_eq!(sequenced, SEQ, "{}", lnsd.log());
    // lnsd picked each call's session id so the session sits in the slot
    // its ids point to (where the workers read it without the index),
    // calls set up at once included.
    for a in &addrs {
        let f = r.by_ipv4(*a).unwrap();
        let key = f.key();
        let home = lns_dataplane::table::home_slot_of((key >> 16) as u16, key as u16, 4096);
        assert_eq!(f.slot, home, "{a}: slot {} for ids {key:#x}", f.slot);
    }
    lac.send("idle 2500");
    lac.send("ping 11");
    assert_eq!(lac.expect("REPLIES ").parse::<usize>().unwrap(), N);
    check_sequence(&mut lac, 2);

    // Per-session counters: exactly two packets each way, 84 bytes each.
    for a in &addrs {
        let c = session_counters(&r, *a);
        assert_eq!(
            (
                c.up_packets,
                c.up_bytes,
                c.down_packets,
                c.down_bytes,
                c.drops
            ),
            (2, 168, 2, 168, 0),
            "{a}"
        );
    }

    // Prometheus agrees with the data plane after that known run: 100
    // subscribers up, 100 packets each way, nothing dropped.
    let out = lab
        .cmd(&lab.lns, "python3")
        .args([
            "-c",
            "import urllib.request\n\
             print(urllib.request.urlopen('http://127.0.0.1:9102/metrics',timeout=5).read().decode())",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let metric = |name: &str, labels: &[&str]| -> Option<f64> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .find(|l| labels.iter().all(|x| l.contains(x)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let n = 2.0 * N as f64;
    assert_eq!(metric("xlns_table_sessions_away", &[]), Some(0.0), "{text}");
    assert_eq!(
        metric("xlns_sessions", &["state=\"up\""]),
        Some(N as f64),
        "{text}"
    );
    assert_eq!(
        metric("xlns_session_setups_total", &[]),
        Some(N as f64),
        "{text}"
    );
    for c in [
        "upstream_packets",
        "downstream_packets",
        "tx_core_packets",
        "tx_access_packets",
    ] {
        let want = format!("counter=\"{c}\"");
        assert_eq!(
            metric("xlns_dataplane_packets_total", &["worker=\"0\"", &want]),
            Some(n),
            "{c}: {text}"
        );
    }
    assert!(
        text.lines()
            .filter(|l| l.starts_with("xlns_dataplane_drops_total{"))
            .all(|l| l.ends_with(" 0")),
        "{text}"
    );
    assert_eq!(
        metric("xlns_dataplane_attach_mode", &["mode=\"native-copy\""]),
        Some(1.0),
        "{text}"
    );
    assert!(metric("xlns_l2tp_total", &["counter=\"sessions_up\""]) >= Some(N as f64));
    assert_eq!(
        metric(
            "xlns_engine_total",
            &["counter=\"data_sequencing_requested\""]
        ),
        Some(SEQ as f64),
        "{text}"
    );
    // The admin API reports the same per-session counters (lnsctl, in the
    // LNS's namespace where lnsd's admin port is).
    let lnsctl = |args: &[&str]| -> serde_json::Value {
        let out = lab
            .cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsctl"))
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let list = lnsctl(&["sessions", "--address", &addrs[0].to_string()]);
    let s = &list["sessions"][0];
    let id = format!("{}/{}", s["tunnel"], s["session"]);
    let one = lnsctl(&["session", &id]);
    let c = &one["counters"];
    assert_eq!(
        (
            &c["packets_up"],
            &c["bytes_up"],
            &c["packets_down"],
            &c["bytes_down"]
        ),
        (&2.into(), &168.into(), &2.into(), &168.into()),
        "{one}"
    );
    let stats = lnsctl(&["stats"]);
    assert_eq!(stats["dataplane_mode"], "native-copy", "{stats}");
    assert_eq!(stats["subscribers_up"], N, "{stats}");

    // Bad traffic: dropped under the right names.
    lac.send("bad 3 2");
    lac.expect("BAD");
    // The core host sends a 1628-byte datagram with DF to a subscriber:
    // above its MRU, so the LNS answers "fragmentation needed" and the
    // host's kernel learns the path MTU.
    let big = lab
        .cmd(&lab.core, "python3")
        .args([
            "-c",
            &format!(
                "import socket,time\n\
                 s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                 s.setsockopt(socket.IPPROTO_IP,10,2)\n\
                 s.connect(('{}',9))\n\
                 s.send(b'x'*1600)\n\
                 time.sleep(1)\n\
                 print('MTU',s.getsockopt(socket.IPPROTO_IP,14))\n",
                addrs[0]
            ),
        ])
        .output()
        .unwrap();
    let ping_out =
        String::from_utf8_lossy(&big.stdout).to_string() + &String::from_utf8_lossy(&big.stderr);
    let w = r.worker(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while w.get(Counter::IcmpTooBig) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.drops(Drop::Spoofed), 3);
    assert_eq!(w.drops(Drop::UnknownSession), 2);
    assert_eq!(w.drops(Drop::TooBig), 1, "{ping_out}");
    assert_eq!(w.get(Counter::IcmpTooBig), 1);
    let mru = lns_mru(&r, addrs[0]);
    assert!(
        ping_out.contains(&format!("MTU {mru}")),
        "the host learned the subscriber's MRU as path MTU: {ping_out}"
    );
    assert_eq!(session_counters(&r, addrs[0]).drops, 4);
    assert_eq!(mru, SUBSCRIBER_MRU);

    // The LNS fits its own MRU to the access link (mru_fit_access_mtu):
    // 1500 - 42 for IPv4, UDP, L2TP with Ns/Nr and PPP, below the 1460 of
    // ppp.mru.
    lac.send("mru");
    assert_eq!(lac.expect("MRU "), "1458");

    // Counters settle within a batch flush; wait for `c` to reach `n`.
    let settle = |c: &dyn Fn() -> u64, n: u64| {
        let deadline = Instant::now() + Duration::from_secs(3);
        while c() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        c()
    };

    // The PPP gateway answers every subscriber's ping from the data plane,
    // and lets nothing else through to the core.
    let upstream = w.get(Counter::Upstream);
    lac.send("gwping 5");
    let gw: usize = lac.expect("GW ").parse().unwrap();
    assert_eq!(
        gw,
        N,
        "every subscriber's gateway ping answered\n{}",
        lnsd.log()
    );
    lac.send("gwudp");
    lac.expect("GWUDP");
    assert_eq!(settle(&|| w.drops(Drop::ToGateway), 1), 1);
    assert_eq!(w.get(Counter::GatewayEcho), N as u64);
    assert_eq!(
        w.get(Counter::Upstream),
        upstream,
        "nothing went to the core"
    );

    // A 1,472-byte ping without DF from the core host reaches a
    // subscriber (MRU 1400) as fragments that make the whole 1,500 bytes.
    // Not the first subscriber: the host learned a path MTU of 1400 for
    // it above and would fragment the packet itself.
    // (What `ping -M dont -s 1472` sends, from python: iputils is not a
    // test dependency.)
    lac.send("mark");
    lac.expect("MARKED");
    let ping = lab
        .cmd(&lab.core, "python3")
        .args([
            "-c",
            &format!(
                "import socket\n\
                 s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)\n\
                 s.setsockopt(socket.IPPROTO_IP,10,0)\n\
                 d=bytes(range(256))*6\n\
                 m=bytearray(b'\\x08\\x00\\x00\\x00\\x77\\x77\\x00\\x01'+d[:1472])\n\
                 c=sum((m[i]<<8)+m[i+1] for i in range(0,len(m),2))\n\
                 c=(c&0xffff)+(c>>16)\n\
                 c=(c&0xffff)+(c>>16)\n\
                 m[2:4]=(0xffff-c).to_bytes(2,'big')\n\
                 print('sent',s.sendto(bytes(m),('{}',0)))\n",
                addrs[1]
            ),
        ])
        .output()
        .unwrap();
    let ping =
        String::from_utf8_lossy(&ping.stdout).to_string() + &String::from_utf8_lossy(&ping.stderr);
    assert!(ping.contains("sent 1480"), "{ping}");
    lac.send("frags");
    let frags = lac.expect("FRAGS ");
    let f: Vec<&str> = frags.split(' ').collect();
    assert_eq!(
        f,
        ["2", "1500", "1396", &AccessLab::HOST.to_string(), "true"],
        "{ping}"
    );
    assert_eq!(settle(&|| w.get(Counter::Fragments), 2), 2);
    assert_eq!(w.get(Counter::Fragmented), 1);
    // Linux answers a subscriber's large ping without DF too: the reply is
    // fragmented on its way down, and made whole it is the echo reply.
    lac.send("bigping 1450");
    assert_eq!(lac.expect("BIG "), "2 1450 true", "{}", lnsd.log());
    assert_eq!(settle(&|| w.get(Counter::Fragments), 4), 4);
    assert_eq!(w.get(Counter::Fragmented), 2);
    assert_eq!(w.drops(Drop::NoFrame), 0);
    assert_eq!(w.get(Counter::IcmpTooBig), 1, "DF clear: no ICMP error");

    // kill -9 under traffic: lnsd restarts the data plane; sessions stay.
    let pid = lnsd_dataplane_pid(&table);
    assert!(pid > 1, "the data plane's PID is in the table header");
    lac.send("stream 300 10");
    std::thread::sleep(Duration::from_millis(800));
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    let stream = lac.expect("STREAM ");
    let f: Vec<&str> = stream.split(' ').collect();
    let (sent, received, gap, tail_ok) = (f[0], f[1], f[2], f[3]);
    println!(
        "kill -9 under traffic: {received} of {sent} pings answered, longest gap {gap} pings (10 ms each)"
    );
    assert_eq!(
        tail_ok,
        "true",
        "traffic resumed after the restart\n{}",
        lnsd.log()
    );
    // Killed, it had no last words: none are quoted.
    assert!(
        lnsd.log()
            .contains("data plane exited: signal: 9 (SIGKILL); restarting in 0.2s"),
        "{}",
        lnsd.log()
    );
    assert!(lnsd.wait_for("data plane attached", 2, T), "{}", lnsd.log());
    lac.send("ping 2");
    let replies: usize = lac.expect("REPLIES ").parse().unwrap();
    assert_eq!(
        replies,
        N,
        "every session forwards after the restart\n{}",
        lnsd.log()
    );
    assert_ne!(lnsd_dataplane_pid(&table), pid);
    // lnsd saw both data planes attach, and says in which XDP mode.
    assert!(
        lnsd.wait_for("data plane running on the tables", 2, T),
        "{}",
        lnsd.log()
    );
    // veth: native XDP, copy-mode sockets (or generic on older kernels).
    assert!(
        lnsd.log().lines().any(|l| l.contains("data plane running")
            && (l.contains("native-copy") || l.contains("generic"))),
        "{}",
        lnsd.log()
    );

    // Reload with a second pool: the supervised data plane restarts to
    // steer its prefixes, and every session still forwards.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "ranges = [\"100.64.1.1-100.64.1.254\"]",
        "ranges = [\"100.64.1.1-100.64.1.254\", \"100.64.2.1-100.64.2.254\"]",
    );
    std::fs::write(&cfg, text).unwrap();
    let r = lnsctl(&["reload"]);
    assert!(
        r["changes"].to_string().contains("the data plane restarts"),
        "{r}"
    );
    assert!(lnsd.wait_for("data plane attached", 3, T), "{}", lnsd.log());
    lac.send("ping 3");
    let replies: usize = lac.expect("REPLIES ").parse().unwrap();
    assert_eq!(replies, N, "forwarding after the reload\n{}", lnsd.log());
    // Two data planes later, lnsd's frames and the third data plane's
    // still continue one sequence per sequenced call.
    lac.send("idle 1500");
    check_sequence(&mut lac, 3);

    lac.send("quit");
    drop(lac);
    lnsd.signal("TERM");
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
    assert!(lnsd.log().contains("data plane stopped"), "{}", lnsd.log());
    assert!(
        !std::path::Path::new(&table).exists(),
        "lnsd removes its table"
    );
}

/// The sequenced calls' LAC discarded nothing for want of sequence
/// numbers or for sequence breaks, and accepted at least `per_call`
/// frames per call on top of PPP negotiation.
fn check_sequence(lac: &mut LacProc, per_call: u64) {
    lac.send("seq");
    let f: Vec<u64> = lac
        .expect("SEQ ")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    let (accepted, unsequenced, out_of_sequence, before_attach) = (f[0], f[1], f[2], f[3]);
    assert_eq!(unsequenced, 0, "{f:?}");
    assert_eq!(out_of_sequence, 0, "{f:?}");
    // LCP, PAP and IPCP, then the pings.
    assert!(accepted >= SEQ as u64 * (4 + per_call), "{f:?}");
    assert!(before_attach >= SEQ as u64, "PPP attached late: {f:?}");
}

/// The MRU lnsd wrote for a subscriber.
fn lns_mru(r: &Reader, a: Ipv4Addr) -> u16 {
    r.by_ipv4(a).unwrap().mru()
}

/// The data plane writes its PID into the table header when it attaches.
fn lnsd_dataplane_pid(table: &str) -> u32 {
    Reader::inspect(std::path::Path::new(table))
        .unwrap()
        .status()
        .pid
}
