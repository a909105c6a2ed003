//! `lns-bench demo`: the whole product in a lab on one machine, in one
//! command (issue 7, DESIGN §5 layer 7).
//!
//! ```text
//!  lac  198.51.100.2 ─vl══va─ 198.51.100.1  lns  203.0.113.1 ─vc══vk─ 203.0.113.2  core
//!  lns-bench (LAC,            lnsd + lns-dataplane                     lns-bench (core
//!  access side)               (XDP + AF_XDP on va, vc)                 side)
//! ```
//!
//! It creates three network namespaces and two veth pairs, writes an lnsd
//! configuration (local users, a pool, the data plane in `external` mode),
//! starts lnsd and lns-dataplane, brings up the sessions through the LAC
//! emulator, runs probes both ways, then measures the capacity of the L2TP
//! pipeline each way and, upstream, of the same data plane in `--bare`
//! mode (no L2TP work: the environment's limit), and prints one summary.
//!
//! Guarantees: everything it creates (namespaces, links, processes, the
//! table file, the temporary directory) is removed when it ends, whether
//! it succeeds, fails, or is interrupted with Ctrl-C; labs left by a
//! demo that was killed outright are removed by the next one. It refuses
//! to start without root or without the binaries it runs.

use crate::sessions::{self, Held};
use crate::traffic::{self, Directions, Flow, Port, Rate, Tunnel};
use lns_dataplane::loader::AttachMode;
use lns_dataplane::table::Reader;
use lns_dataplane::table::counters::WorkerBlock;
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LAC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const LNS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LNS_CORE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// The core link's IPv6 addresses (`--ipv6`).
const LNS_CORE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// The subscribers' /64s and their delegated /56s (`--ipv6`).
const LINKS6: &str = "2001:db8:100::/40";
const DELEGATED6: &str = "2001:db8:8000::/40";
/// Namespace names start with this, then the demo's pid.
const PREFIX: &str = "xlns-demo-";

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Sessions to bring up.
    pub sessions: u32,
    /// Over this many tunnels.
    pub tunnels: u32,
    /// Calls per second.
    pub setup_rate: f64,
    /// Probe rate per direction.
    pub rate: Rate,
    /// Packet sizes.
    pub mix: crate::probe::Mix,
    /// Seconds of traffic both ways.
    pub duration: Duration,
    /// Seconds of each capacity run (0: skip them).
    pub capacity: Duration,
    /// lnsd's data-plane polling: `wakeup` or `busy`.
    pub polling: String,
    /// Dual-stack subscribers (RA, DHCPv6 prefix delegation), and IPv6
    /// probes: to each one's SLAAC address and into its delegated prefix.
    pub ipv6: bool,
    /// Write the summary here.
    pub json: Option<PathBuf>,
}

/// The capacity runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Capacity {
    /// IP sizes.
    pub sizes: Vec<usize>,
    /// Probes/s downstream through the L2TP pipeline (core to
    /// subscribers, encapsulated), as fast as the generator sends.
    pub down_mpps: f64,
    /// Probes/s upstream through the L2TP pipeline, as fast as the
    /// generator sends.
    pub l2tp_mpps: f64,
    /// The same through `lns-dataplane --bare`.
    pub bare_mpps: f64,
    /// `l2tp_mpps / bare_mpps`.
    pub ratio: f64,
    /// What the generator sent, Mpps: downstream, upstream, upstream bare.
    pub generator_mpps: (f64, f64, f64),
}

/// The demo's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Session set-up.
    pub sessions: sessions::Report,
    /// Traffic both ways at the chosen rate.
    pub traffic: traffic::Report,
    /// Capacity, when measured.
    pub capacity: Option<Capacity>,
    /// The LNS data plane's counters (nonzero ones).
    pub lns_counters: Named,
    /// The LNS data plane's drops by reason (nonzero ones).
    pub lns_drops: Named,
}

/// A process whose output goes to a file in the lab's directory.
#[derive(Debug)]
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, dir: &Path, mut c: Command) -> Result<Daemon, String> {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let f2 = f.try_clone().map_err(|e| e.to_string())?;
        c.stdout(f).stderr(f2).stdin(Stdio::null());
        let child = c.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        Ok(Daemon { name, child, log })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `needle` in the log; an error with the log's tail if the
    /// process exits or `limit` passes first.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        loop {
            if self.log().contains(needle) {
                return Ok(());
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > end || crate::interrupted() {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "{} {}; its last output:\n{}",
                    self.name,
                    match exited {
                        Some(s) => format!("exited ({s})"),
                        None => format!("did not log {needle:?} in {limit:?}"),
                    },
                    tail.join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::ops::Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop(Duration::from_secs(3));
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip(8): {e} (install iproute2)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The lab: namespaces, links (deleted with the namespaces), a directory
/// and the table file. Dropping it removes them all.
#[derive(Debug)]
struct Lab {
    lac: String,
    lns: String,
    core: String,
    dir: PathBuf,
    table: PathBuf,
}

impl Lab {
    fn new(ipv6: bool) -> Result<Lab, String> {
        sweep_stale();
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("{PREFIX}{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let lab = Lab {
            lac: format!("{PREFIX}{id}-lac"),
            lns: format!("{PREFIX}{id}-lns"),
            core: format!("{PREFIX}{id}-core"),
            table: PathBuf::from(format!("/dev/shm/{PREFIX}{id}")),
            dir,
        };
        for ns in [&lab.lac, &lab.lns, &lab.core] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "link", "add", "vl", "netns", &lab.lac, "type", "veth", "peer", "name", "va", "netns",
            &lab.lns,
        ])?;
        ip(&[
            "link", "add", "vc", "netns", &lab.lns, "type", "veth", "peer", "name", "vk", "netns",
            &lab.core,
        ])?;
        for (ns, dev, addr) in [
            (&lab.lac, "vl", LAC),
            (&lab.lns, "va", LNS),
            (&lab.lns, "vc", LNS_CORE),
            (&lab.core, "vk", HOST),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            // Room for a 1500-byte subscriber packet plus L2TP (a real
            // access network's baby giants).
            ip(&["-n", ns, "link", "set", dev, "mtu", "1600", "up"])?;
        }
        ip(&[
            "-n",
            &lab.core,
            "route",
            "add",
            "100.64.0.0/16",
            "via",
            &LNS_CORE.to_string(),
        ])?;
        if ipv6 {
            for (ns, dev, addr) in [(&lab.lns, "vc", LNS_CORE6), (&lab.core, "vk", HOST6)] {
                ip(&[
                    "-n",
                    ns,
                    "-6",
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    dev,
                    "nodad",
                ])?;
            }
            for block in [LINKS6, DELEGATED6] {
                ip(&[
                    "-n",
                    &lab.core,
                    "-6",
                    "route",
                    "add",
                    block,
                    "via",
                    &LNS_CORE6.to_string(),
                ])?;
            }
        }
        Ok(lab)
    }

    fn cmd(&self, ns: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

impl std::ops::Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.lac, &self.lns, &self.core] {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.table);
    }
}

/// Removes the labs of demos that no longer run (killed with SIGKILL).
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
            let _ = std::fs::remove_file(format!("/dev/shm/{PREFIX}{pid}"));
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("{PREFIX}{pid}")));
        }
    }
}

/// A binary of this build: next to our own executable.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dirs = [me.parent(), me.parent().and_then(Path::parent)];
    for d in dirs.into_iter().flatten() {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!(
        "{name} not found next to {}: build the workspace (cargo build --release)",
        me.display()
    ))
}

/// Errors unless we run as root.
pub fn require_root(what: &str) -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(format!(
            "{what} needs root (network namespaces, XDP programs and AF_XDP sockets): run it with sudo"
        ))
    }
}

fn lnsd_config(lab: &Lab, o: &Opts, dataplane: &Path) -> Result<PathBuf, String> {
    let mut users = String::new();
    for n in 1..=u64::from(o.sessions) * u64::from(o.tunnels) {
        users.push_str(&format!(
            "[[user]]\nname = \"user{n}\"\npassword = \"pw{n}\"\n"
        ));
    }
    let users_file = lab.dir.join("users.toml");
    std::fs::write(&users_file, users).map_err(|e| e.to_string())?;
    let total = u64::from(o.sessions) * u64::from(o.tunnels);
    let text = format!(
        "# Written by lns-bench demo.\n\
         [l2tp]\nlisten = [\"{LNS}:1701\"]\nshutdown_timeout_secs = 2\n\
         [[peer]]\naddress = \"{LAC}\"\n\
         [ppp]\nauth = [\"chap\", \"pap\"]\nusers_file = \"{users}\"\ngateway = \"100.64.0.1\"\n\
         ipv6 = {ipv6}\nmru = 1500\n\
         [[pool]]\nname = \"default\"\nranges = [\"100.64.0.2-100.64.255.254\"]\n\
         {v6}\
         [dataplane]\nmode = \"external\"\nbinary = \"{bin}\"\ntable = \"{table}\"\n\
         capacity = {cap}\naccess_interface = \"va\"\ncore_interface = \"vc\"\n\
         core_gateway = \"{HOST}\"\nicmp_source = \"{LNS_CORE}\"\nneighbour_refresh_secs = 1\n\
         polling = \"{polling}\"\n{dp6}",
        users = users_file.display(),
        bin = dataplane.display(),
        table = lab.table.display(),
        cap = (total * 2).max(1024),
        polling = o.polling,
        ipv6 = o.ipv6,
        v6 = if o.ipv6 {
            format!(
                "[ipv6]\nra = true\npool = \"links\"\ndhcpv6 = true\ndhcpv6_pd_pool = \"pd\"\n\
                 [[ipv6_pool]]\nname = \"links\"\nprefix = \"{LINKS6}\"\nlength = 64\n\
                 [[ipv6_pool]]\nname = \"pd\"\nprefix = \"{DELEGATED6}\"\nlength = 56\n"
            )
        } else {
            String::new()
        },
        dp6 = if o.ipv6 {
            format!("core_gateway6 = \"{HOST6}\"\nicmp_source6 = \"{LNS_CORE6}\"\n")
        } else {
            String::new()
        },
    );
    let p = lab.dir.join("lnsd.toml");
    std::fs::write(&p, text).map_err(|e| e.to_string())?;
    Ok(p)
}

fn start_dataplane(
    lab: &Lab,
    bin: &Path,
    args: &lns_dataplane::daemon::Args,
    name: &'static str,
) -> Result<Daemon, String> {
    let mut c = lab.cmd(&lab.lns, bin);
    c.args(args.to_args()).env("RUST_LOG", "info");
    let mut d = Daemon::spawn(name, &lab.dir, c)?;
    d.wait_for("data plane attached", Duration::from_secs(15))?;
    Ok(d)
}

/// Named counts, as printed and in the JSON.
type Named = Vec<(String, u64)>;

/// The LNS data plane's counters and drops, summed over workers (the
/// nonzero ones).
fn lns_counters(table: &Path) -> (Named, Named) {
    let Ok(r) = Reader::inspect(table) else {
        return (Vec::new(), Vec::new());
    };
    let workers: Vec<_> = (0..r.sizes().workers).filter_map(|w| r.worker(w)).collect();
    let total = |each: &dyn Fn(&WorkerBlock<'_>) -> Vec<(&'static str, u64)>| -> Named {
        let mut sum: Named = Vec::new();
        for w in &workers {
            for (i, (name, v)) in each(w).into_iter().enumerate() {
                if sum.len() <= i {
                    sum.push((name.to_string(), 0));
                }
                sum[i].1 += v;
            }
        }
        sum.retain(|(_, v)| *v > 0);
        sum
    };
    (
        total(&|w| w.named().collect()),
        total(&|w| w.named_drops().collect()),
    )
}

/// Runs the demo; prints the summary.
pub fn run(o: &Opts) -> Result<Report, String> {
    require_root("lns-bench demo")?;
    let lnsd_bin = sibling("lnsd")?;
    let dp_bin = sibling("lns-dataplane")?;
    let total = u64::from(o.sessions) * u64::from(o.tunnels);
    println!(
        "demo: a lab of three network namespaces; lnsd and lns-dataplane in the middle; \
         {total} sessions; {:.0} s of traffic both ways",
        o.duration.as_secs_f64()
    );
    let lab = Lab::new(o.ipv6)?;
    let cfg = lnsd_config(&lab, o, &dp_bin)?;
    let config = lns_daemon::config::Config::load(&cfg).map_err(|e| format!("{e}"))?;
    let dp_args = config.dataplane_args();
    let mut c = lab.cmd(&lab.lns, &lnsd_bin);
    c.arg("--config").arg(&cfg).env("RUST_LOG", "info");
    let mut lnsd = Daemon::spawn("lnsd", &lab.dir, c)?;
    lnsd.wait_for("data plane tables created", Duration::from_secs(15))?;
    lnsd.wait_for("listening", Duration::from_secs(15))?;
    let mut dp = start_dataplane(&lab, &dp_bin, &dp_args, "lns-dataplane")?;
    println!(
        "lab up: lnsd and lns-dataplane running (logs in {})",
        lab.dir.display()
    );

    // Everything from here runs as the LAC, in its namespace.
    traffic::enter_netns(&lab.lac)?;
    let so = sessions::Opts {
        lns: SocketAddr::V4(SocketAddrV4::new(LNS, 1701)),
        local: SocketAddr::V4(SocketAddrV4::new(LAC, 1701)),
        tunnels: o.tunnels,
        sessions: o.sessions,
        rate: o.setup_rate,
        ipv6: o.ipv6,
        ..sessions::Opts::default()
    };
    let mut held: Held = sessions::bring_up(&so)?;
    let subs = held.subscribers();
    println!("sessions: {} of {total} up", subs.len());
    if subs.is_empty() {
        return Err(format!("no session came up; lnsd's log:\n{}", lnsd.log()));
    }
    let tunnel = Tunnel {
        local: SocketAddrV4::new(LAC, 1701).into(),
        peer: SocketAddrV4::new(LNS, 1701).into(),
    };
    let flows: Vec<Flow> = subs.iter().flat_map(|s| s.flows(o.ipv6)).collect();
    if o.ipv6 {
        println!(
            "ipv6: {} flows, to {} SLAAC addresses and into {} delegated prefixes",
            flows.len(),
            subs.iter().filter(|s| s.ipv6.is_some()).count(),
            subs.iter().filter(|s| s.delegated.is_some()).count()
        );
    }
    let topts = traffic::Opts {
        access: Port {
            dev: "vl".into(),
            netns: None,
        },
        core: Port {
            dev: "vk".into(),
            netns: Some(lab.core.clone()),
        },
        core_host: HOST,
        core_host6: o.ipv6.then_some(HOST6),
        core_gateway: LNS_CORE,
        access_mac: None,
        core_mac: None,
        rate: o.rate,
        mix: o.mix.clone(),
        duration: o.duration,
        directions: Directions::Both,
        lowest: AttachMode::NativeCopy,
        core_extra: Vec::new(),
        progress: true,
    };
    let tr = traffic::run(&topts, tunnel, flows.clone(), |t| held.pump(t))?;
    let (lns_counters, lns_drops) = lns_counters(&lab.table);

    let capacity = if o.capacity.is_zero() {
        None
    } else {
        let cap = traffic::Opts {
            rate: Rate::Max,
            duration: o.capacity,
            directions: Directions::Up,
            core_extra: vec![LNS],
            ..topts.clone()
        };
        println!(
            "capacity: as fast as the generator sends, {s:.0} s downstream and {s:.0} s upstream \
             through the L2TP pipeline, then {s:.0} s upstream through lns-dataplane --bare",
            s = o.capacity.as_secs_f64(),
        );
        let down_opts = traffic::Opts {
            directions: Directions::Down,
            ..cap.clone()
        };
        let down = traffic::run(&down_opts, tunnel, flows.clone(), |t| held.pump(t))?
            .down
            .unwrap_or_default();
        let l2tp = traffic::run(&cap, tunnel, flows.clone(), |t| held.pump(t))?;
        dp.stop(Duration::from_secs(5));
        let mut bare_args = dp_args.clone();
        bare_args.bare = true;
        let mut bare = start_dataplane(&lab, &dp_bin, &bare_args, "lns-dataplane-bare")?;
        let b = traffic::run(&cap, tunnel, flows, |t| held.pump(t))?;
        bare.stop(Duration::from_secs(5));
        let sizes = l2tp.sizes.clone();
        let (lu, bu) = (l2tp.up.unwrap_or_default(), b.up.unwrap_or_default());
        Some(Capacity {
            // As sent: an IPv6 probe is at least 72 bytes.
            sizes,
            down_mpps: down.rx_mpps,
            l2tp_mpps: lu.rx_mpps,
            bare_mpps: bu.rx_mpps,
            ratio: lu.rx_mpps / bu.rx_mpps.max(1e-9),
            generator_mpps: (down.tx_mpps, lu.tx_mpps, bu.tx_mpps),
        })
    };
    let sr = held.finish(&so, true)?;
    lnsd.stop(Duration::from_secs(5));
    dp.stop(Duration::from_secs(1));
    let report = Report {
        sessions: sr,
        traffic: tr,
        capacity,
        lns_counters,
        lns_drops,
    };
    println!();
    print(&report);
    if let Some(p) = &o.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    drop(lab);
    Ok(report)
}

/// Prints the summary for people.
pub fn print(r: &Report) {
    println!("=== summary ===");
    sessions::print(&r.sessions);
    traffic::print(&r.traffic);
    if let Some(c) = &r.capacity {
        let g = c.generator_mpps;
        println!(
            "capacity, IP sizes {:?}, as fast as the generator sends:",
            c.sizes
        );
        println!(
            "  downstream, L2TP pipeline   {:8.3} Mpps (generator sent {:.3})",
            c.down_mpps, g.0
        );
        println!(
            "  upstream, L2TP pipeline     {:8.3} Mpps (generator sent {:.3})",
            c.l2tp_mpps, g.1
        );
        println!(
            "  upstream, bare AF_XDP fwd   {:8.3} Mpps (generator sent {:.3})",
            c.bare_mpps, g.2
        );
        println!("  ratio upstream L2TP / bare  {:8.2}", c.ratio);
    }
    let list = |v: &[(String, u64)]| {
        v.iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("LNS data plane counters: {}", list(&r.lns_counters));
    if r.lns_drops.is_empty() {
        println!("LNS data plane drops: none");
    } else {
        println!("LNS data plane drops: {}", list(&r.lns_drops));
    }
}
