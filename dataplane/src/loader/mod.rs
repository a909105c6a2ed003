//! Loads the XDP steering program (`ebpf/xlns.bpf.c`, built by build.rs
//! and embedded in the binary), fills its maps and attaches it.
//!
//! Attach modes are tried best first (DESIGN §2): native (driver) XDP,
//! then generic (SKB) XDP; AF_XDP sockets are then bound zero-copy where
//! native mode allows it, else in copy mode. What was obtained is an
//! [`AttachMode`], reported in logs, the table header and metrics.
//!
//! Switched sessions: the program steers every data frame of a switched
//! leg to the workers (not only IP ones), by its key in the
//! `xlns_switched` map, which [`switched::SwitchedSync`] keeps in step
//! with the table through [`Steering`]'s [`switched::SwitchedMap`] side.
//!
//! Who calls it: `lns-dataplane` at start-up, and the fixture tests (which
//! run the program with `BPF_PROG_TEST_RUN`, no interface needed).

pub mod abi;
pub mod switched;

use abi::{CONFIG_SIZE, Config, Verdict, XSK_CORE_BASE};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, XskMap};
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

/// The compiled program.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xlns.bpf.o"));

/// How the data plane got attached, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// Driver XDP and zero-copy AF_XDP sockets.
    NativeZeroCopy = 1,
    /// Driver XDP, sockets copy frames (e.g. veth).
    NativeCopy = 2,
    /// Generic XDP in the kernel's receive path (any interface, slowest).
    Generic = 3,
}

impl AttachMode {
    /// The metric label and log word.
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::NativeZeroCopy => "native-zerocopy",
            AttachMode::NativeCopy => "native-copy",
            AttachMode::Generic => "generic",
        }
    }

    /// Every mode, best first.
    pub const ALL: [AttachMode; 3] = [
        AttachMode::NativeZeroCopy,
        AttachMode::NativeCopy,
        AttachMode::Generic,
    ];

    /// Parses a configured lowest acceptable mode.
    pub fn parse(s: &str) -> Option<AttachMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The number written to the table header.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// Reads [`AttachMode::code`] back.
    pub fn from_code(c: u64) -> Option<AttachMode> {
        Self::ALL.into_iter().find(|m| m.code() == c)
    }
}

/// Which side of the LNS an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Toward the LACs.
    Access,
    /// Toward the core.
    Core,
}

/// Why the program could not be loaded or attached.
#[derive(Debug)]
pub struct LoaderError(pub String);

impl std::fmt::Display for LoaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoaderError {}

fn err(what: &str, e: impl std::fmt::Display) -> LoaderError {
    LoaderError(format!("{what}: {e}"))
}

/// The loaded program and its maps.
pub struct Steering {
    ebpf: Ebpf,
    xsks: XskMap<MapData>,
    counters: PerCpuArray<MapData, u64>,
    switched: BpfHashMap<MapData, u32, u8>,
    /// What [`Steering::configure`] last wrote, so the switched flag can
    /// be flipped alone.
    config: Config,
}

impl std::fmt::Debug for Steering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering").finish_non_exhaustive()
    }
}

const PROGRAM: &str = "xlns_steer";

impl Steering {
    /// Loads the program into the kernel (needs CAP_BPF / root), its
    /// switched map sized as compiled ([`abi::MAX_SWITCHED`]).
    pub fn load() -> Result<Steering, LoaderError> {
        Self::load_for(abi::MAX_SWITCHED)
    }

    /// Loads the program with room for `switched` keys in its switched
    /// map: the table's capacity, since every slot may be a switched leg
    /// (the map allocates per entry; its bucket array, a few bytes a key,
    /// is the fixed cost).
    pub fn load_for(switched: u32) -> Result<Steering, LoaderError> {
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("xlns_switched", switched.max(1))
            .load(OBJECT)
            .map_err(|e| err("loading the XDP object", format!("{e}: {e:?}")))?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| LoaderError(format!("{PROGRAM} missing from the object")))?
            .try_into()
            .map_err(|e| err("program type", e))?;
        prog.load().map_err(verifier)?;
        let xsks =
            XskMap::try_from(take(&mut ebpf, "xlns_xsks")?).map_err(|e| err("xlns_xsks", e))?;
        let counters = PerCpuArray::try_from(take(&mut ebpf, "xlns_counters")?)
            .map_err(|e| err("xlns_counters", e))?;
        let switched = BpfHashMap::try_from(take(&mut ebpf, "xlns_switched")?)
            .map_err(|e| err("xlns_switched", e))?;
        Ok(Steering {
            ebpf,
            xsks,
            counters,
            switched,
            config: Config::default(),
        })
    }

    fn program(&mut self) -> Result<&mut Xdp, LoaderError> {
        self.ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| LoaderError(format!("{PROGRAM} missing")))?
            .try_into()
            .map_err(|e| err("program type", e))
    }

    /// Tells the program where it is and what is ours.
    pub fn configure(&mut self, c: &Config) -> Result<(), LoaderError> {
        self.write_config(c)?;
        self.config = *c;
        Ok(())
    }

    fn write_config(&mut self, c: &Config) -> Result<(), LoaderError> {
        let mut m: Array<_, [u8; CONFIG_SIZE]> = Array::try_from(
            self.ebpf
                .map_mut("xlns_config")
                .ok_or_else(|| LoaderError("xlns_config missing".into()))?,
        )
        .map_err(|e| err("xlns_config", e))?;
        m.set(0, c.to_bytes(), 0)
            .map_err(|e| err("writing xlns_config", e))
    }

    /// Replaces the subscriber pools the core side steers.
    pub fn set_pools(
        &mut self,
        v4: &[(Ipv4Addr, u8)],
        v6: &[(Ipv6Addr, u8)],
    ) -> Result<(), LoaderError> {
        if v4.len().max(v6.len()) > abi::MAX_PREFIXES as usize {
            return Err(LoaderError(format!(
                "more than {} pool prefixes",
                abi::MAX_PREFIXES
            )));
        }
        let v4: Vec<([u8; 4], u8)> = v4.iter().map(|(a, l)| (a.octets(), *l)).collect();
        let v6: Vec<([u8; 16], u8)> = v6.iter().map(|(a, l)| (a.octets(), *l)).collect();
        self.replace_prefixes("xlns_pools_v4", &v4)?;
        self.replace_prefixes("xlns_pools_v6", &v6)?;
        Ok(())
    }

    /// Empties an LPM map and fills it with `prefixes`.
    fn replace_prefixes<const N: usize>(
        &mut self,
        name: &str,
        prefixes: &[([u8; N], u8)],
    ) -> Result<(), LoaderError> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| LoaderError(format!("{name} missing")))?;
        let mut m: LpmTrie<_, [u8; N], u8> = LpmTrie::try_from(map).map_err(|e| err(name, e))?;
        let old: Vec<_> = m.keys().filter_map(Result::ok).collect();
        for k in old {
            let _ = m.remove(&k);
        }
        for (a, len) in prefixes {
            m.insert(&Key::new(u32::from(*len), *a), 1, 0)
                .map_err(|e| err(&format!("{name}: adding a /{len}"), e))?;
        }
        Ok(())
    }

    /// Attaches to `ifindex`: native (driver) mode first, generic only if
    /// `lowest` allows it. Native comes back as `NativeZeroCopy`, which the
    /// socket bind then keeps or lowers to `NativeCopy` (`xsk`).
    pub fn attach(&mut self, ifindex: u32, lowest: AttachMode) -> Result<AttachMode, LoaderError> {
        let prog = self.program()?;
        match prog.attach_to_if_index(ifindex, XdpMode::Driver) {
            Ok(_) => return Ok(AttachMode::NativeZeroCopy),
            Err(e) if lowest != AttachMode::Generic => {
                return Err(err(
                    &format!("native XDP on ifindex {ifindex} (generic not allowed by config)"),
                    e,
                ));
            }
            Err(_) => {}
        }
        prog.attach_to_if_index(ifindex, XdpMode::Skb)
            .map_err(|e| err(&format!("XDP on ifindex {ifindex}, native and generic"), e))?;
        Ok(AttachMode::Generic)
    }

    /// Puts an AF_XDP socket in the map for `queue` on `side`.
    pub fn register_socket(
        &mut self,
        side: Side,
        queue: u32,
        fd: &impl AsRawFd,
    ) -> Result<(), LoaderError> {
        if queue >= abi::MAX_QUEUES {
            return Err(LoaderError(format!(
                "queue {queue}: at most {} queues per interface",
                abi::MAX_QUEUES
            )));
        }
        let key = match side {
            Side::Access => queue,
            Side::Core => XSK_CORE_BASE + queue,
        };
        self.xsks
            .set(key, fd.as_raw_fd(), 0)
            .map_err(|e| err("registering an AF_XDP socket", e))
    }

    /// The verdict counters, summed over CPUs.
    pub fn counters(&self) -> Result<Vec<(Verdict, u64)>, LoaderError> {
        Verdict::ALL
            .iter()
            .map(|v| {
                let per_cpu = self
                    .counters
                    .get(&(*v as u32), 0)
                    .map_err(|e| err("reading xlns_counters", e))?;
                Ok((*v, per_cpu.iter().sum()))
            })
            .collect()
    }

    /// Runs the program once over `frame` as if received on `ifindex`
    /// queue 0 (`BPF_PROG_TEST_RUN`); returns the XDP action.
    pub fn test_run(&mut self, frame: &[u8], ifindex: u32) -> Result<u32, LoaderError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex.
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
        let prog = self.program()?;
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&ctx),
                ..TestRunOptions::new()
            })
            .map_err(|e| err("BPF_PROG_TEST_RUN", e))?;
        Ok(r.return_value)
    }
}

fn take(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, LoaderError> {
    ebpf.take_map(name)
        .ok_or_else(|| LoaderError(format!("{name} missing from the object")))
}

/// The verifier's log is long; its last lines say what it refused.
fn verifier(e: ProgramError) -> LoaderError {
    let s = format!("{e:?}");
    let tail: Vec<&str> = s.lines().rev().take(20).collect();
    LoaderError(format!(
        "the kernel refused the XDP program: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

impl switched::SwitchedMap for Steering {
    fn insert(&mut self, key: u32) -> Result<(), LoaderError> {
        self.switched
            .insert(key, 1, 0)
            .map_err(|e| err(&format!("adding switched key {key:#010x}"), e))
    }

    fn remove(&mut self, key: u32) -> Result<(), LoaderError> {
        match self.switched.remove(&key) {
            // Already gone (never added, or a rebuild took it): the same.
            Err(aya::maps::MapError::SyscallError(aya::sys::SyscallError { io_error, .. }))
                if io_error.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(())
            }
            r => r.map_err(|e| err(&format!("removing switched key {key:#010x}"), e)),
        }
    }

    fn set_any(&mut self, any: bool) -> Result<(), LoaderError> {
        if self.config.switched == any {
            return Ok(());
        }
        let c = Config {
            switched: any,
            ..self.config
        };
        self.configure(&c)
    }
}

/// XDP actions (`enum xdp_action`).
pub mod action {
    /// Drop.
    pub const DROP: u32 = 1;
    /// To the kernel.
    pub const PASS: u32 = 2;
    /// Redirected (to an AF_XDP socket).
    pub const REDIRECT: u32 = 4;
}
