//! The `lns-dataplane` process: attach to lnsd's tables, load and attach
//! the XDP program, open one AF_XDP socket pair per worker, pin the
//! workers, and tick a heartbeat until told to stop.
//!
//! Its command line is defined once, here ([`Args`]): lnsd builds it with
//! [`Args::to_args`] when it supervises the data plane, and systemd units
//! spell it out when they do.
//!
//! Guarantees: exits non-zero with one clear line on any start-up failure
//! (no table, ABI mismatch, no such interface, XDP refused); on SIGTERM
//! stops the workers and detaches the program; exits (code 3) if the table
//! it mapped is replaced, since that means a new lnsd owns the sessions
//! and will start a data plane of its own.
//!
//! Switched sessions: before attaching, it fills the XDP program's
//! switched map from the table, then follows the table's switched journal
//! every [`SWITCHED_POLL`] (`loader::switched`), so a session lnsd
//! switches has all its frames steered to the workers within that time
//! (until then its non-IP frames reach lnsd). Each start rebuilds the map
//! from the table; the keys in it and the rebuilds forced by falling
//! behind are published in the table header for lnsd.

use crate::loader::abi::Config;
use crate::loader::switched::SwitchedSync;
use crate::loader::{AttachMode, Side, Steering};
use crate::node::icmp;
use crate::table::Reader;
use crate::worker::handoff::{self, Links};
use crate::worker::pipeline::Env;
use crate::worker::{self, Polling};
use crate::xsk::{self, Sockets, XskConfig};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the switched journal is followed (and the XDP switched map
/// updated): the longest a new switched session's LCP may still reach lnsd.
pub const SWITCHED_POLL: Duration = Duration::from_millis(10);
/// Heartbeats (and verdict copies, and the table-replaced check) every
/// this many journal polls: 200 ms.
const POLLS_PER_HEARTBEAT: u32 = 20;
/// The most keys the XDP switched map is sized for (its bucket array is
/// kernel memory, allocated at load): 4 Mi legs, 2 Mi switched sessions.
const MAX_SWITCHED_KEYS: u32 = 1 << 22;

/// The data plane's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The table file lnsd created.
    pub table: PathBuf,
    /// Access interface (toward the LACs).
    pub access: String,
    /// Core interface (may be the same).
    pub core: String,
    /// The LNS's IPv4 address for L2TP.
    pub lns_v4: Option<Ipv4Addr>,
    /// The LNS's IPv6 address for L2TP.
    pub lns_v6: Option<Ipv6Addr>,
    /// The L2TP port.
    pub lns_port: u16,
    /// IPv4 pools the core side steers.
    pub pools_v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 pools.
    pub pools_v6: Vec<(Ipv6Addr, u8)>,
    /// Workers (= receive queues used on each interface).
    pub workers: u32,
    /// CPU cores to pin workers to, in order (empty: not pinned).
    pub cores: Vec<usize>,
    /// The lowest attach mode accepted.
    pub lowest: AttachMode,
    /// Busy polling or need-wakeup.
    pub polling: Polling,
    /// Source of ICMP errors toward the core.
    pub icmp: icmp::Source,
    /// The subscribers' PPP peer address, answered for (see
    /// `worker::pipeline::Env::gateway`).
    pub gateway: Option<Ipv4Addr>,
    /// Benchmark reference: forward every access frame to the core
    /// unchanged, with no L2TP work (`benches/veth.rs` compares the two).
    pub bare: bool,
    /// The hand-off (`worker::handoff`): every access frame is worked by
    /// the worker owning its session, whichever queue received it, so one
    /// LAC's tunnel (one 5-tuple, one queue) spreads over every worker.
    /// The workers' sockets share one UMEM.
    pub handoff: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            table: PathBuf::from("/dev/shm/xlns.table"),
            access: String::new(),
            core: String::new(),
            lns_v4: None,
            lns_v6: None,
            lns_port: 1701,
            pools_v4: Vec::new(),
            pools_v6: Vec::new(),
            workers: 1,
            cores: Vec::new(),
            lowest: AttachMode::Generic,
            polling: Polling::Wakeup,
            icmp: icmp::Source::default(),
            gateway: None,
            bare: false,
            handoff: false,
        }
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: lns-dataplane --table PATH --access IFACE [--core IFACE]
         [--lns-v4 ADDR] [--lns-v6 ADDR] [--lns-port N]
         [--pool PREFIX/LEN]... [--workers N] [--cores 0,1,...]
         [--lowest-mode native-zerocopy|native-copy|generic]
         [--polling busy|wakeup] [--icmp-v4 ADDR] [--icmp-v6 ADDR]
         [--gateway ADDR]   (the subscribers' PPP peer address: answers pings)
         [--handoff]   (spread each tunnel's sessions over every worker)
         [--bare]   (benchmark reference: forward access to core and core to access untouched)";

fn prefix<A: std::str::FromStr>(s: &str, max: u8) -> Result<(A, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("--pool {s}: expected ADDRESS/LENGTH"))?;
    let a = a.parse().map_err(|_| format!("--pool {s}: bad address"))?;
    let l: u8 = l.parse().map_err(|_| format!("--pool {s}: bad length"))?;
    if l > max {
        return Err(format!("--pool {s}: length above {max}"));
    }
    Ok((a, l))
}

impl Args {
    /// Parses the command line (without the program name).
    pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = it.into_iter();
        let mut core = None;
        while let Some(flag) = it.next() {
            let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            let bad = |v: &str| format!("{flag} {v}: not valid");
            match flag.as_str() {
                "--table" => a.table = PathBuf::from(val()?),
                "--access" => a.access = val()?,
                "--core" => core = Some(val()?),
                "--lns-v4" => {
                    let v = val()?;
                    a.lns_v4 = Some(v.parse().map_err(|_| bad(&v))?);
                }
                "--lns-v6" => {
                    let v = val()?;
                    a.lns_v6 = Some(v.parse().map_err(|_| bad(&v))?);
                }
                "--lns-port" => {
                    let v = val()?;
                    a.lns_port = v.parse().map_err(|_| bad(&v))?;
                }
                "--pool" => {
                    let v = val()?;
                    if v.contains(':') {
                        a.pools_v6.push(prefix(&v, 128)?);
                    } else {
                        a.pools_v4.push(prefix(&v, 32)?);
                    }
                }
                "--workers" => {
                    let v = val()?;
                    a.workers = v.parse().map_err(|_| bad(&v))?;
                    if a.workers == 0 || a.workers > crate::loader::abi::MAX_QUEUES {
                        return Err(bad(&v));
                    }
                }
                "--cores" => {
                    let v = val()?;
                    a.cores = v
                        .split(',')
                        .map(|c| c.trim().parse().map_err(|_| bad(&v)))
                        .collect::<Result<_, _>>()?;
                }
                "--lowest-mode" => {
                    let v = val()?;
                    a.lowest = AttachMode::parse(&v).ok_or_else(|| bad(&v))?;
                }
                "--polling" => {
                    let v = val()?;
                    a.polling = match v.as_str() {
                        "busy" => Polling::Busy,
                        "wakeup" => Polling::Wakeup,
                        _ => return Err(bad(&v)),
                    };
                }
                "--bare" => a.bare = true,
                "--handoff" => a.handoff = true,
                "--icmp-v4" => {
                    let v = val()?;
                    a.icmp.v4 = Some(v.parse().map_err(|_| bad(&v))?);
                }
                "--icmp-v6" => {
                    let v = val()?;
                    a.icmp.v6 = Some(v.parse().map_err(|_| bad(&v))?);
                }
                "--gateway" => {
                    let v = val()?;
                    a.gateway = Some(v.parse().map_err(|_| bad(&v))?);
                }
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        if a.access.is_empty() {
            return Err(format!("--access is required\n{USAGE}"));
        }
        if a.lns_v4.is_none() && a.lns_v6.is_none() {
            return Err("one of --lns-v4 or --lns-v6 is required".into());
        }
        a.core = core.unwrap_or_else(|| a.access.clone());
        Ok(a)
    }

    /// The command line that [`Args::parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--table".into(),
            self.table.display().to_string(),
            "--access".into(),
            self.access.clone(),
            "--core".into(),
            self.core.clone(),
            "--lns-port".into(),
            self.lns_port.to_string(),
            "--workers".into(),
            self.workers.to_string(),
            "--lowest-mode".into(),
            self.lowest.name().into(),
            "--polling".into(),
            match self.polling {
                Polling::Busy => "busy",
                Polling::Wakeup => "wakeup",
            }
            .into(),
        ];
        let mut opt = |k: &str, x: Option<String>| {
            if let Some(x) = x {
                v.push(k.into());
                v.push(x);
            }
        };
        opt("--lns-v4", self.lns_v4.map(|a| a.to_string()));
        opt("--lns-v6", self.lns_v6.map(|a| a.to_string()));
        opt("--icmp-v4", self.icmp.v4.map(|a| a.to_string()));
        opt("--icmp-v6", self.icmp.v6.map(|a| a.to_string()));
        opt("--gateway", self.gateway.map(|a| a.to_string()));
        opt(
            "--cores",
            (!self.cores.is_empty()).then(|| {
                self.cores
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        );
        if self.bare {
            v.push("--bare".into());
        }
        if self.handoff {
            v.push("--handoff".into());
        }
        for (a, l) in &self.pools_v4 {
            v.push("--pool".into());
            v.push(format!("{a}/{l}"));
        }
        for (a, l) in &self.pools_v6 {
            v.push("--pool".into());
            v.push(format!("{a}/{l}"));
        }
        v
    }
}

/// An interface's MTU from sysfs (the process's network namespace's, as
/// `ip netns exec` mounts it); above 65,535 (loopback) counts as 65,535.
pub fn interface_mtu(name: &str) -> Option<u16> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/mtu")).ok()?;
    let mtu: u32 = text.trim().parse().ok()?;
    Some(u16::try_from(mtu).unwrap_or(u16::MAX))
}

/// Runs the data plane until `stop` is set. Errors are one line each.
pub fn run(a: &Args, stop: Arc<AtomicBool>) -> Result<(), String> {
    let table = Reader::attach(&a.table).map_err(|e| e.to_string())?;
    if a.workers > table.sizes().workers {
        return Err(format!(
            "{} workers asked for, but the table has counter blocks for {}",
            a.workers,
            table.sizes().workers
        ));
    }
    let inode = std::fs::metadata(&a.table).map(|m| m.ino()).ok();
    let access = xsk::ifindex(&a.access).map_err(|e| e.to_string())?;
    let core = xsk::ifindex(&a.core).map_err(|e| e.to_string())?;
    let mut steer = Steering::load_for(table.sizes().capacity.min(MAX_SWITCHED_KEYS))
        .map_err(|e| e.to_string())?;
    steer
        .configure(&Config {
            access_ifindex: access,
            core_ifindex: core,
            lns_ipv4: a.lns_v4,
            lns_ipv6: a.lns_v6,
            lns_port: a.lns_port,
            switched: false,
        })
        .map_err(|e| e.to_string())?;
    steer
        .set_pools(&a.pools_v4, &a.pools_v6)
        .map_err(|e| e.to_string())?;
    // Before attaching: the program steers switched sessions from its
    // first frame.
    let mut switched = SwitchedSync::start(&table, &mut steer);
    table.publish_switched(switched.len() as u64, switched.rebuilds);
    let mut mode = steer.attach(access, a.lowest).map_err(|e| e.to_string())?;
    if core != access {
        let m = steer.attach(core, a.lowest).map_err(|e| e.to_string())?;
        if m == AttachMode::Generic {
            mode = m;
        }
    }
    let xc = XskConfig {
        need_wakeup: a.polling == Polling::Wakeup,
        try_zero_copy: mode == AttachMode::NativeZeroCopy,
        ..XskConfig::default()
    };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    // Read once: a changed MTU takes effect when the data plane restarts.
    let access_mtu = interface_mtu(&a.access);
    if access_mtu.is_none() {
        tracing::warn!(
            access = %a.access,
            "cannot read the access interface's MTU; only subscriber MRUs limit packet sizes"
        );
    }
    let core_mtu = interface_mtu(&a.core);
    let env = Env {
        lns_port: a.lns_port,
        icmp: a.icmp,
        gateway: a.gateway,
        access_mtu,
        core_mtu,
        bare: a.bare,
    };
    // With the hand-off, every worker's sockets are opened here on one
    // UMEM and moved to the workers with their rings; otherwise each
    // worker opens its own on its thread. Either way they are reported
    // here to be put in the socket map.
    let mut shared: Vec<Option<(Sockets, Links)>> = if a.handoff && a.workers > 1 {
        let socks =
            Sockets::open_shared(access, core, a.workers, &xc).map_err(|e| e.to_string())?;
        let links = handoff::links(a.workers, xc.ring as usize)
            .map_err(|e| format!("hand-off doorbells: {e}"))?;
        socks.into_iter().zip(links).map(Some).collect()
    } else {
        (0..a.workers).map(|_| None).collect()
    };
    let (tx, rx) = std::sync::mpsc::channel::<Result<(u32, i32, Option<i32>, bool), String>>();
    /// Stops the workers however the supervising closure ends (error,
    /// early return, panic), so the scope's join cannot wait forever.
    struct StopOnExit<'a>(&'a AtomicBool);
    impl std::ops::Drop for StopOnExit<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        let _stop_on_exit = StopOnExit(&stop);
        for w in 0..a.workers {
            let (table, stop, tx) = (table.clone(), stop.clone(), tx.clone());
            let pin = a
                .cores
                .get(w as usize)
                .and_then(|c| cores.iter().find(|id| id.id == *c).copied());
            let polling = a.polling;
            let opened = shared[w as usize].take();
            scope.spawn(move || {
                if let Some(id) = pin
                    && !core_affinity::set_for_current(id)
                {
                    tracing::warn!(worker = w, core = id.id, "could not pin the worker");
                }
                let opened = match opened {
                    Some((s, l)) => Ok((s, Some(l))),
                    None => Sockets::open(access, core, w, &xc).map(|s| (s, None)),
                };
                match opened {
                    Ok((s, links)) => {
                        if polling == Polling::Busy {
                            // 20 µs per call and one batch: the worker's
                            // loop comes back at once anyway.
                            let budget = crate::xsk::BATCH as u32;
                            let fds = [Some(s.access.raw_fd()), s.core.as_ref().map(|c| c.raw_fd())];
                            match fds
                                .into_iter()
                                .flatten()
                                .try_for_each(|fd| crate::xsk::busy_poll(fd, 20, budget))
                            {
                                Ok(()) => tracing::info!(worker = w, budget, "busy polling: SO_PREFER_BUSY_POLL on"),
                                Err(e) => tracing::warn!(worker = w, error = %e, "busy polling without the kernel's busy-poll options (spinning on the rings only)"),
                            }
                        }
                        let fds = (
                            w,
                            s.access.raw_fd(),
                            s.core.as_ref().map(|c| c.raw_fd()),
                            s.zero_copy,
                        );
                        let _ = tx.send(Ok(fds));
                        worker::run(s, &table, w, env, polling, &stop, links);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("worker {w}: {e}")));
                    }
                }
            });
        }
        drop(tx);
        let started = (|| {
            for _ in 0..a.workers {
                let (q, afd, cfd, zc) = rx.recv().map_err(|_| "a worker died".to_string())??;
                if !zc && mode == AttachMode::NativeZeroCopy {
                    mode = AttachMode::NativeCopy;
                }
                steer
                    .register_socket(Side::Access, q, &afd)
                    .map_err(|e| e.to_string())?;
                if let Some(fd) = cfd {
                    steer
                        .register_socket(Side::Core, q, &fd)
                        .map_err(|e| e.to_string())?;
                }
            }
            // Better modes have lower numbers.
            if mode as u8 > a.lowest as u8 {
                return Err(format!(
                    "got {} XDP, but the lowest mode allowed is {}",
                    mode.name(),
                    a.lowest.name()
                ));
            }
            Ok(())
        })();
        if let Err(e) = started {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        tracing::info!(
            mode = mode.name(),
            access = %a.access,
            access_mtu = access_mtu.map_or(0, u32::from),
            core = %a.core,
            workers = a.workers,
            handoff = a.handoff && a.workers > 1,
            switched = switched.len(),
            "data plane attached"
        );
        table.heartbeat(mode.code());
        let mut polls = 0u32;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(SWITCHED_POLL);
            switched.poll(&table, &mut steer);
            table.publish_switched(switched.len() as u64, switched.rebuilds);
            polls += 1;
            if !polls.is_multiple_of(POLLS_PER_HEARTBEAT) {
                continue;
            }
            table.heartbeat(mode.code());
            if let Ok(v) = steer.counters() {
                let v: Vec<u64> = v.into_iter().map(|(_, n)| n).collect();
                table.publish_verdicts(&v);
            }
            let now = std::fs::metadata(&a.table).map(|m| m.ino()).ok();
            if now != inode {
                tracing::error!(
                    table = %a.table.display(),
                    "the table was replaced or removed (lnsd restarted?); exiting"
                );
                stop.store(true, Ordering::Relaxed);
                return Err("table replaced".to_string());
            }
        }
        Ok(())
    })?;
    drop(steer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_round_trips() {
        let a = Args {
            access: "eth0".into(),
            core: "eth1".into(),
            lns_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            pools_v4: vec![(Ipv4Addr::new(100, 64, 0, 0), 10)],
            pools_v6: vec![("2001:db8:100::".parse().unwrap(), 40)],
            workers: 2,
            cores: vec![0, 1],
            lowest: AttachMode::NativeCopy,
            polling: Polling::Busy,
            icmp: icmp::Source {
                v4: Some(Ipv4Addr::new(192, 0, 2, 254)),
                v6: None,
            },
            gateway: Some(Ipv4Addr::new(100, 64, 0, 1)),
            bare: true,
            handoff: true,
            ..Args::default()
        };
        assert_eq!(Args::parse(a.to_args()), Ok(a));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let p = |s: &str| Args::parse(s.split_whitespace().map(String::from)).unwrap_err();
        assert!(p("--lns-v4 1.2.3.4").contains("--access is required"));
        assert!(p("--access x").contains("--lns-v4 or --lns-v6"));
        assert!(p("--access x --lns-v4 1.2.3.4 --pool 10.0.0.0/33").contains("length above 32"));
        assert!(p("--access x --lns-v4 1.2.3.4 --workers 0").contains("--workers 0"));
        assert!(p("--access x --bogus").contains("unknown option --bogus"));
        assert!(p("--access").contains("--access needs a value"));
        assert!(p("--access x --lns-v4 1.2.3.4 --gateway nope").contains("--gateway nope"));
    }

    #[test]
    fn reads_an_interface_mtu() {
        // Loopback exists in every namespace; its 65,536 is clamped.
        assert_eq!(interface_mtu("lo"), Some(u16::MAX));
        assert_eq!(interface_mtu("no-such-interface"), None);
    }
}
