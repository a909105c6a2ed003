//! Dual-stack subscribers through the whole LNS in a namespace lab (issue
//! 19, items 1 and 3): lnsd in `lns` supervising lns-dataplane (XDP +
//! AF_XDP), the emulated LAC in `lac` bringing up 100 subscribers that
//! negotiate IPv6CP, solicit a Router Advertisement and configure a
//! global address from it (SLAAC, RFC 4862), and a host in `core` they
//! exchange IPv6 with.
//!
//! What it checks: each subscriber gets its own /64 and, by DHCPv6, its
//! own /56; its Router Solicitation and DHCPv6 messages reach lnsd past
//! the XDP program (link-scope traffic is lnsd's); its IPv6 goes to the core and back byte for byte, the hop
//! limit spent once; the core host reaches a subscriber; a spoofed source
//! is dropped by name; a packet above the subscriber's MRU gets ICMPv6
//! Packet Too Big; the session counters are exact.
//!
//! The LAC runs in its own process inside the `lac` namespace: this test
//! binary re-executed with `XLNS_E2E6_LAC` set, so [`lac_process`] drives
//! a real UDP socket there, taking commands on stdin and answering on
//! stdout.

#[path = "../../protocol/tests/common/mod.rs"]
mod common;
mod dp;

use common::process::{AccessLab, Proc, root_or_skip};
use dp::{Cleanup, dataplane_binary};
use lns_dataplane::node::drop::Drop;
use lns_dataplane::node::encap::{Outer, Template, encap};
use lns_dataplane::table::Reader;
use lns_dataplane::table::counters::Counter;
use lns_dataplane::wire::checksum;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 100;
const T: Duration = Duration::from_secs(20);
/// The subscribers' MRU: below the core link's, so that the core host's
/// large packets draw a Packet Too Big.
const SUBSCRIBER_MRU: u16 = 1400;
/// The LNS's and the host's addresses on the core link.
const LNS_CORE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// The block the subscribers' /64s come from.
const BLOCK: &str = "2001:db8:100::/56";
/// The block their delegated /56s come from.
const PD_BLOCK: &str = "2001:db8:8000::/40";

/// An ICMPv6 echo request (type 128) from `src` to `dst` with `data`
/// bytes of data, hop limit 64.
fn echo6(src: Ipv6Addr, dst: Ipv6Addr, seq: u16, data: usize) -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0, 0x66, 0x06];
    m.extend(seq.to_be_bytes());
    m.extend((0..data).map(|i| (i as u8).wrapping_mul(13)));
    let ph = checksum::pseudo_header_v6(src, dst, 58, m.len() as u32);
    let c = !checksum::fold(checksum::accumulate(u32::from(ph), &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend((m.len() as u16).to_be_bytes());
    p.extend([58, 64]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(m);
    p
}

/// Whether the ICMPv6 message in IPv6 packet `p` sums right.
fn icmp6_ok(p: &[u8]) -> bool {
    if p.len() < 48 || p[6] != 58 {
        return false;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
    let ph = checksum::pseudo_header_v6(src, dst, 58, (p.len() - 40) as u32);
    checksum::fold(checksum::accumulate(u32::from(ph), &p[40..])) == 0xffff
}

fn addr6(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap())
}

/// The emulated LAC's process. Does nothing unless re-executed by the test
/// below inside the `lac` namespace.
#[test]
fn lac_process() {
    let Ok(args) = std::env::var("XLNS_E2E6_LAC") else {
        return;
    };
    let mut w = args.split_whitespace();
    let users = w.next().unwrap().parse().unwrap();
    lac::run(users, w.next() == Some("v6"));
}

/// The access link's IPv6 addresses, when the tunnel runs over IPv6.
const ACCESS_LNS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xacc, 0, 0, 0, 0, 1);
const ACCESS_LAC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xacc, 0, 0, 0, 0, 2);

/// The LAC's and the LNS's tunnel addresses: over IPv6 or IPv4.
fn tunnel_ends(access6: bool) -> (std::net::IpAddr, std::net::IpAddr) {
    if access6 {
        (ACCESS_LAC6.into(), ACCESS_LNS6.into())
    } else {
        (AccessLab::LAC.into(), AccessLab::LNS.into())
    }
}

mod lac {
    use super::*;
    use lns_protocol::l2tp::CallParams;
    use lns_protocol::l2tp::SessionKey;
    use lns_protocol::lac::{Lac, LacBehaviour, LacEvent};
    use lns_protocol::ppp::lcp::AuthProtocol;
    use std::collections::HashMap;
    use std::net::{SocketAddr, UdpSocket};

    struct Driver {
        lac: Lac,
        sock: UdpSocket,
        me: SocketAddr,
        up: HashMap<SessionKey, Ipv4Addr>,
        v6: HashMap<SessionKey, Ipv6Addr>,
        /// Prefixes DHCPv6 delegated.
        pd: HashMap<SessionKey, lns_protocol::aaa::prefix::Ipv6Net>,
        /// Echo replies that came back, by call.
        replies: Vec<(SessionKey, Vec<u8>)>,
        /// Echo requests from the core the subscribers answered.
        answered: usize,
    }

    impl Driver {
        fn send(&mut self, k: SessionKey, p: &[u8]) {
            if let Some(tx) = self.lac.send_ip(k, p) {
                let _ = self.sock.send_to(&tx.payload, tx.peer);
            }
        }

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
                        LacEvent::Ipv6Configured { key, address, .. } => {
                            self.v6.insert(key, address);
                        }
                        LacEvent::PrefixDelegated { key, prefix } => {
                            self.pd.insert(key, prefix);
                        }
                        LacEvent::Packet {
                            key,
                            protocol: 0x0057,
                            packet,
                        } => self.on_ipv6(key, packet),
                        _ => {}
                    }
                }
                if Instant::now() >= until {
                    return;
                }
            }
        }

        /// The subscriber's IPv6 stack (a home router): answers echo
        /// requests to its own address and to hosts on its LAN, inside its
        /// delegated prefix (RFC 4443 §4.2), from that address; keeps the
        /// rest.
        fn on_ipv6(&mut self, key: SessionKey, p: Vec<u8>) {
            let to = (p.len() >= 40).then(|| addr6(&p[24..]));
            let ours = to.filter(|a| {
                self.v6.get(&key) == Some(a)
                    || self.pd.get(&key).is_some_and(|n| {
                        n.contains(&lns_protocol::aaa::prefix::Ipv6Net::new(*a, 128))
                    })
            });
            if let Some(mine) = ours
                && p.len() >= 48
                && p[40] == 128
                && icmp6_ok(&p)
            {
                let src = addr6(&p[8..]);
                let mut m = p[40..].to_vec();
                m[0] = 129;
                m[2..4].copy_from_slice(&[0, 0]);
                let ph = checksum::pseudo_header_v6(mine, src, 58, m.len() as u32);
                let c = !checksum::fold(checksum::accumulate(u32::from(ph), &m));
                m[2..4].copy_from_slice(&c.to_be_bytes());
                let mut r = p[..40].to_vec();
                r[7] = 64;
                r[8..24].copy_from_slice(&mine.octets());
                r[24..40].copy_from_slice(&src.octets());
                r.extend(m);
                self.send(key, &r);
                self.answered += 1;
                return;
            }
            self.replies.push((key, p));
        }

        fn subs(&self) -> Vec<(SessionKey, Ipv6Addr)> {
            let mut s: Vec<_> = self.v6.iter().map(|(k, a)| (*k, *a)).collect();
            s.sort_by_key(|x| x.1);
            s
        }

        /// Every subscriber pings the core host from its SLAAC address;
        /// answers "REPLIES6 n" with the replies that came back byte for
        /// byte (identifier, sequence, data) and sum right.
        fn ping_all(&mut self, seq: u16) {
            self.replies.clear();
            for (k, a) in self.subs() {
                self.send(k, &echo6(a, HOST6, seq, 56));
            }
            self.pump(Instant::now() + Duration::from_millis(1500));
            let mut ok = 0;
            for (k, p) in &self.replies {
                let Some(a) = self.v6.get(k) else { continue };
                let req = echo6(*a, HOST6, seq, 56);
                if p.len() == req.len()
                    && addr6(&p[8..]) == HOST6
                    && addr6(&p[24..]) == *a
                    && p[40] == 129
                    && p[44..] == req[44..]
                    && icmp6_ok(p)
                {
                    ok += 1;
                }
            }
            println!("REPLIES6 {ok}");
        }

        /// `n` echo requests from subscriber 1's session with a source in
        /// another /64 (the data plane must drop them as spoofed).
        fn spoof(&mut self, n: usize) {
            let (k, a) = self.subs()[0];
            let mut o = a.octets();
            o[6] ^= 0x80;
            for i in 0..n {
                self.send(k, &echo6(Ipv6Addr::from(o), HOST6, i as u16, 8));
            }
            self.pump(Instant::now() + Duration::from_millis(300));
            println!("SPOOFED {n}");
        }
    }

    pub fn run(users: usize, access6: bool) {
        let (lac, lns) = tunnel_ends(access6);
        let me = SocketAddr::from((lac, 1701));
        let lns = SocketAddr::from((lns, 1701));
        let sock = UdpSocket::bind(me).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let mut d = Driver {
            lac: common::emulated_lac_with(AuthProtocol::Pap, 6, SUBSCRIBER_MRU, true)
                .with_dhcpv6_pd(true),
            sock,
            me,
            up: HashMap::new(),
            v6: HashMap::new(),
            pd: HashMap::new(),
            replies: Vec::new(),
            answered: 0,
        };
        let now = Instant::now();
        let t = d.lac.open_tunnel(now, me, lns).unwrap();
        for i in 1..=users {
            d.lac
                .place_call_as(
                    now,
                    t,
                    CallParams::default(),
                    (format!("user{i}").into_bytes(), format!("pw{i}")),
                    LacBehaviour::default(),
                )
                .unwrap();
        }
        let end = Instant::now() + T;
        while (d.up.len() < users || d.v6.len() < users || d.pd.len() < users)
            && Instant::now() < end
        {
            d.pump(Instant::now() + Duration::from_millis(50));
        }
        // Each subscriber's IPv6 address with its IPv4 one and the LAC's
        // ids for its call, which the LNS puts in the frames it sends here.
        let list: Vec<String> = d
            .subs()
            .iter()
            .map(|(k, a)| format!("{a}/{}/{}/{}", d.up[k], k.tunnel, k.session))
            .collect();
        println!("UP {} {} {}", d.up.len(), d.v6.len(), list.join(","));
        let commands = common::process::Commands::start();
        while let Some(line) = commands.next(|| d.pump(Instant::now() + Duration::from_millis(20)))
        {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["ping6", seq] => d.ping_all(seq.parse().unwrap()),
                ["spoof", n] => d.spoof(n.parse().unwrap()),
                ["answered"] => println!("ANSWERED {}", d.answered),
                ["pd"] => {
                    let mut p: Vec<String> = d.pd.values().map(|p| p.to_string()).collect();
                    p.sort();
                    println!("PD {}", p.join(","));
                }
                ["quit"] => return,
                _ => println!("ERR {line}"),
            }
        }
    }
}

type LacProc = common::process::TestProcess;

/// A python sniffer on `dev` in `ns` printing, in hex, the first IPv6
/// frame for which `cond` (on bytes `f`) holds; started once it listens.
fn sniffer(lab: &AccessLab, ns: &str, dev: &str, cond: &str) -> std::process::Child {
    let mut c = lab
        .cmd(ns, "python3")
        .args([
            "-c",
            &format!(
                "import socket,binascii,time,sys\n\
                 s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\n\
                 s.bind(('{dev}',0))\n\
                 s.settimeout(0.5)\n\
                 print('READY',flush=True,file=sys.stderr)\n\
                 end=time.time()+10\n\
                 while time.time()<end:\n\
                 \x20try:\n\
                 \x20\x20f=s.recv(4096)\n\
                 \x20except socket.timeout:\n\
                 \x20\x20continue\n\
                 \x20if {cond}:\n\
                 \x20\x20print(binascii.hexlify(f).decode(),flush=True);break\n"
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = std::io::BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) > 0 {
        if line.contains("READY") {
            break;
        }
        eprint!("sniffer: {line}");
        line.clear();
    }
    c
}

fn sniffed(c: std::process::Child) -> Vec<u8> {
    let out = c.wait_with_output().unwrap();
    let hex = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn dual_stack_subscribers_get_a_64_each_and_ipv6_through_xdp() {
    if std::env::var_os("XLNS_E2E6_LAC").is_some() || !root_or_skip() {
        return;
    }
    dual_stack(false);
}

/// The same, with the LAC reaching the LNS over IPv6 only: the access
/// link has no IPv4 address, the tunnel and its data run over IPv6 (UDP
/// checksummed, RFC 8200 §8.1) through the XDP program and the workers.
#[test]
fn the_same_over_an_ipv6_only_link_between_lac_and_lns() {
    if std::env::var_os("XLNS_E2E6_LAC").is_some() || !root_or_skip() {
        return;
    }
    dual_stack(true);
}

fn dual_stack(access6: bool) {
    let bin = dataplane_binary();
    let lab = AccessLab::new(if access6 { "v6a" } else { "v6" });
    let ip = |ns: &str, args: &[&str]| {
        let st = Command::new("ip")
            .args(["-n", ns])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip -n {ns} {args:?}");
    };
    ip(
        &lab.lns,
        &[
            "-6",
            "addr",
            "add",
            &format!("{LNS_CORE6}/64"),
            "dev",
            "vc",
            "nodad",
        ],
    );
    ip(
        &lab.core,
        &[
            "-6",
            "addr",
            "add",
            &format!("{HOST6}/64"),
            "dev",
            "vk",
            "nodad",
        ],
    );
    for block in [BLOCK, PD_BLOCK] {
        ip(
            &lab.core,
            &["-6", "route", "add", block, "via", &LNS_CORE6.to_string()],
        );
    }
    if access6 {
        for (ns, dev, a) in [(&lab.lac, "vl", ACCESS_LAC6), (&lab.lns, "va", ACCESS_LNS6)] {
            ip(ns, &["-4", "addr", "flush", "dev", dev]);
            ip(
                ns,
                &["-6", "addr", "add", &format!("{a}/64"), "dev", dev, "nodad"],
            );
        }
        // A veth hands its peer UDP checksums left for a NIC to finish
        // (checksum offload); the XDP program sees them unfinished. The
        // LAC's kernel computes them itself, as behind a real NIC they
        // arrive complete.
        let st = lab
            .cmd(&lab.lac, "ethtool")
            .args(["-K", "vl", "tx", "off"])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let (lac_addr, lns_addr) = tunnel_ends(access6);
    let listen = std::net::SocketAddr::from((lns_addr, 1701));
    let mut users = String::new();
    for i in 1..=N {
        users.push_str(&format!(
            "[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\n"
        ));
    }
    let users = lab.file("users.toml", &users);
    let table = format!("/dev/shm/xlns-e2e6-{}-{access6}", std::process::id());
    let cfg = lab.file(
        "lnsd.toml",
        &format!(
            "[l2tp]\nlisten = [\"{listen}\"]\nshutdown_timeout_secs = 2\n\
             [[peer]]\naddress = \"{lac}\"\n\
             [ppp]\nauth = [\"pap\"]\nusers_file = \"{users}\"\nipv6 = true\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.1.2-100.64.1.254\"]\n\
             [ipv6]\nra = true\npool = \"links\"\ndns = [\"2001:db8::53\"]\n\
             dhcpv6 = true\ndhcpv6_pd_pool = \"pd\"\n\
             [[ipv6_pool]]\nname = \"links\"\nprefix = \"{BLOCK}\"\nlength = 64\n\
             [[ipv6_pool]]\nname = \"pd\"\nprefix = \"{PD_BLOCK}\"\nlength = 56\n\
             [dataplane]\nmode = \"supervised\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
             capacity = 4096\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
             core_gateway = \"{host}\"\ncore_gateway6 = \"{HOST6}\"\n\
             icmp_source6 = \"{LNS_CORE6}\"\nneighbour_refresh_secs = 1\n",
            lac = lac_addr,
            users = users.display(),
            bin = bin.display(),
            host = AccessLab::HOST,
        ),
    );
    let _cleanup = Cleanup(table.clone());
    let mut c = lab.cmd(&lab.lns, env!("CARGO_BIN_EXE_lnsd"));
    c.arg("--config").arg(&cfg).env("RUST_LOG", "info");
    let mut lnsd = Proc::spawn("lnsd", c);
    assert!(lnsd.wait_for("data plane attached", 1, T), "{}", lnsd.log());

    // 100 subscribers up, each configured from its own /64.
    let lac_args = format!("{N}{}", if access6 { " v6" } else { "" });
    let mut lac = LacProc::start(&lab.lac, "lac_process", "XLNS_E2E6_LAC", &lac_args);
    let up = lac.expect("UP ");
    let f: Vec<&str> = up.splitn(3, ' ').collect();
    assert_eq!(
        (f[0], f[1]),
        (&*N.to_string(), &*N.to_string()),
        "{up}\n{}",
        lnsd.log()
    );
    // (IPv6, IPv4, the LAC's tunnel id, its session id) per subscriber.
    let subs: Vec<(Ipv6Addr, Ipv4Addr, u16, u16)> = f[2]
        .split(',')
        .map(|x| {
            let f: Vec<&str> = x.split('/').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    let mut prefixes: Vec<u128> = subs.iter().map(|s| u128::from(s.0) >> 64).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    assert_eq!(prefixes.len(), N, "a /64 each: {subs:?}");
    let block = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0)) >> 64;
    assert!(
        prefixes.iter().all(|p| p >> 8 == block >> 8),
        "all from {BLOCK}: {subs:?}"
    );
    let r = Reader::inspect(std::path::Path::new(&table)).unwrap();
    for (a6, a4, _, _) in &subs {
        let s = r.by_ipv4(*a4).unwrap();
        assert_eq!(
            s.ipv6_prefix(),
            Some(<[u8; 8]>::try_from(&a6.octets()[..8]).unwrap()),
            "the table routes {a6}'s /64 to its session"
        );
    }

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
    // Every subscriber's Router Solicitation reached lnsd past the XDP
    // program (link-scope: lnsd's), and each was valid.
    let stats = lnsctl(&["stats"]);
    let e = &stats["engine"];
    assert!(
        e["ipv6_solicitations"].as_u64().unwrap() >= N as u64,
        "{stats}"
    );
    assert_eq!(e["ipv6_solicitations_invalid"], 0, "{stats}");
    // And each asked DHCPv6 for a prefix (Solicit and Request to
    // ff02::1:2, past the XDP program too): a /56 each.
    assert_eq!(e["dhcpv6_delegated"], N, "{stats}");
    assert_eq!(e["dhcpv6_refused"], 0, "{stats}");
    let pd = lac.ask("pd", "PD ");
    let pds: std::collections::HashSet<&str> = pd.split(',').collect();
    assert_eq!(pds.len(), N, "{pd}");
    assert!(
        pds.iter()
            .all(|p| p.starts_with("2001:db8:80") && p.ends_with("/56")),
        "{pd}"
    );
    assert_eq!(e["ipv6_prefix_failures"], 0, "{stats}");
    // The admin API shows a subscriber's prefixes.
    let (a6, a4, ..) = subs[0];
    let list = lnsctl(&["sessions", "--address", &a4.to_string()]);
    let one = &list["sessions"][0];
    let link = lns_protocol::aaa::prefix::Ipv6Net::new(a6, 64).to_string();
    assert_eq!(one["ipv6_prefix"], link.as_str(), "{list}");
    let first_pd = one["delegated_prefix"].as_str().unwrap().to_string();
    assert!(pds.contains(first_pd.as_str()), "{list}");

    // Byte for byte: the first echo request the LNS decapsulated toward
    // the core (hop limit spent once), and the first IPv6 frame it
    // encapsulated toward the LAC.
    let core_sniff = sniffer(
        &lab,
        &lab.core,
        "vk",
        "f[12:14]==b'\\x86\\xdd' and f[54]==128",
    );
    lac.send("ping6 1");
    let replies: usize = lac.expect("REPLIES6 ").parse().unwrap();
    assert_eq!(
        replies,
        N,
        "every subscriber's ping6 came back\n{}\n{}",
        lnsctl(&["stats"]),
        lnsd.log()
    );
    let frame = sniffed(core_sniff);
    assert!(frame.len() >= 14 + 104, "sniffed {frame:02x?}");
    let src = addr6(&frame[22..]);
    let mut want = lab.mac(&lab.core, "vk").to_vec();
    want.extend(lab.mac(&lab.lns, "vc"));
    want.extend([0x86, 0xdd]);
    let mut ip6 = echo6(src, HOST6, 1, 56);
    ip6[7] -= 1;
    want.extend(ip6);
    assert_eq!(frame, want, "decapsulated IPv6 frame, byte for byte");

    // The core host pings three subscribers: the LNS encapsulates into
    // each one's call, the subscriber answers.
    // The inner packet's offset: after Ethernet, the outer IP header,
    // UDP 8, L2TP 6 and PPP 4.
    let at = 14 + if access6 { 40 } else { 20 } + 8 + 6 + 4;
    let outer = if access6 {
        "f[12:14]==b'\\x86\\xdd' and f[20]==17"
    } else {
        "f[12:14]==b'\\x08\\x00' and f[23]==17"
    };
    let lac_sniff = sniffer(
        &lab,
        &lab.lac,
        "vl",
        &format!(
            "{outer} and f[{}:{at}]==b'\\xff\\x03\\x00\\x57' and f[{}]==128",
            at - 4,
            at + 40
        ),
    );
    for (a6, _, _, _) in &subs[..3] {
        let out = lab
            .cmd(&lab.core, "ping")
            .args(["-6", "-c", "1", "-W", "3", &a6.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ping {a6}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            lnsd.log()
        );
    }
    // And three hosts behind other subscribers' routers, inside their
    // delegated /56s: routed to the delegating session, answered from the
    // LAN (a source the spoof check lets through).
    let lan: Vec<String> = pds
        .iter()
        .filter(|p| **p != first_pd)
        .take(3)
        .map(|p| p.replace("::/56", "::42"))
        .collect();
    for a in &lan {
        let out = lab
            .cmd(&lab.core, "ping")
            .args(["-6", "-c", "1", "-W", "3", a])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ping {a} (a delegated prefix): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            lnsd.log()
        );
    }
    lac.send("answered");
    assert_eq!(lac.expect("ANSWERED "), "6");
    let frame = sniffed(lac_sniff);
    assert!(frame.len() > at + 40, "sniffed {frame:02x?}");
    let inner = frame[at..].to_vec();
    assert_eq!(addr6(&inner[8..]), HOST6);
    assert_eq!(inner[7], 63, "the hop limit spent once");
    let &(_, _, tunnel, session) = subs
        .iter()
        .find(|s| s.0 == addr6(&inner[24..]))
        .expect("to a subscriber");
    let t = Template::new(&Outer {
        dst_mac: lab.mac(&lab.lac, "vl"),
        src_mac: lab.mac(&lab.lns, "va"),
        vlan: None,
        src: lns_addr,
        src_port: 1701,
        dst: lac_addr,
        dst_port: 1701,
        tunnel,
        session,
        sequencing: false,
    });
    let mut want = vec![0u8; 256 + inner.len()];
    want[256..].copy_from_slice(&inner);
    let mut addrs = [0u8; 32];
    addrs[..16].copy_from_slice(&ACCESS_LNS6.octets());
    addrs[16..].copy_from_slice(&ACCESS_LAC6.octets());
    let t = match access6 {
        true => t.as_ref().with_addresses(&addrs),
        false => t.as_ref(),
    };
    let (ws, wl) = encap(t, &mut want, 256, inner.len(), 0).unwrap();
    assert_eq!(
        frame,
        want[ws..ws + wl],
        "encapsulated IPv6 frame, byte for byte"
    );

    // A spoofed source is dropped by name; a datagram above the
    // subscriber's MRU draws Packet Too Big, whose MTU the host learns.
    lac.send("spoof 3");
    lac.expect("SPOOFED");
    let first = subs[0].0;
    let big = lab
        .cmd(&lab.core, "python3")
        .args([
            "-c",
            &format!(
                "import socket,time\n\
                 s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n\
                 s.setsockopt(socket.IPPROTO_IPV6,23,2)\n\
                 s.connect(('{first}',9))\n\
                 s.send(b'x'*1500)\n\
                 time.sleep(1)\n\
                 print('MTU',s.getsockopt(socket.IPPROTO_IPV6,24))\n"
            ),
        ])
        .output()
        .unwrap();
    let big_out =
        String::from_utf8_lossy(&big.stdout).to_string() + &String::from_utf8_lossy(&big.stderr);
    let w = r.worker(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while w.get(Counter::IcmpTooBig) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.drops(Drop::Spoofed), 3);
    assert_eq!(w.drops(Drop::TooBig), 1, "{big_out}");
    assert_eq!(w.get(Counter::IcmpTooBig), 1);
    assert!(
        big_out.contains(&format!("MTU {SUBSCRIBER_MRU}")),
        "the host learned the subscriber's MRU as path MTU: {big_out}\n{}",
        lnsd.log()
    );
    assert_eq!(w.drops(Drop::Ipv6Unrouted), 0);
    assert_eq!(
        w.drops(Drop::Ipv6LinkLocal),
        0,
        "the XDP program passed them"
    );

    // Counters exact: N pings up and their replies down; six pings from
    // the core (three to /64s, three into delegated prefixes) down and
    // their answers up. Subscriber 1 (the lowest
    // address) had a ping each way and its four drops.
    assert_eq!(w.get(Counter::Upstream), N as u64 + 6);
    assert_eq!(w.get(Counter::Downstream), N as u64 + 6);
    let f = r.by_ipv4(subs[0].1).unwrap();
    let c = r.worker(0).unwrap().session_counters(f.slot, f.generation);
    assert_eq!((c.up_packets, c.down_packets, c.drops), (2, 2, 4), "{c:?}");
    let ping_bytes = 40 + 8 + 56;
    assert_eq!(c.up_bytes, 2 * ping_bytes);
    assert_eq!(c.down_bytes, 2 * ping_bytes);

    lac.send("quit");
    drop(lac);
    lnsd.signal("TERM");
    assert!(lnsd.wait_exit(T), "{}", lnsd.log());
}
