//! The AF_XDP layer: one worker's UMEM and its sockets (DESIGN §3). The
//! rest of the data plane sees frames as byte slices and descriptors; the
//! crate behind it (`xdpilone`) stays in here.
//!
//! A worker owns one UMEM shared by its socket on the access interface and
//! its socket on the core interface (same queue number), so a frame
//! received on one side is transmitted on the other by handing over its
//! descriptor: no copy. Each socket has its own fill and completion rings;
//! frames come from and return to the worker's single free list.
//!
//! With the hand-off between workers (`worker::handoff`), every worker's
//! sockets share one UMEM instead ([`Sockets::open_shared`]), so a frame
//! one worker received can be worked and sent by another. Each worker has
//! its *home* frames, the only ones it puts in its fill rings; a frame
//! released away from home is set aside ([`Umem::take_strays`]) for the
//! worker loop to give back to its home worker.
//!
//! Guarantees: every frame is in exactly one place (free list, a fill
//! ring, the kernel, an RX batch being processed, a hand-off ring, a TX
//! ring); a frame that cannot be transmitted goes back to the free list
//! and is counted by the caller. A worker touches a frame's bytes only
//! while it holds the frame (received, taken from its free list, or
//! popped from a hand-off ring, whose release/acquire order hands the
//! bytes over). Refused: queues beyond `loader::abi::MAX_QUEUES`.

// The UMEM is raw memory registered with the kernel and reached from
// several workers: the `unsafe` of this layer.
#![allow(
    unsafe_code,
    reason = "registering the UMEM area with the kernel and reaching its frames"
)]

use crate::loader::Side;
use std::ffi::CString;
use std::num::NonZeroU32;
use std::ptr::NonNull;
use std::sync::Arc;
use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, UmemConfig, User};

/// Frames per RX batch (DESIGN §4: vectors of up to 64).
pub const BATCH: usize = 64;

/// Sizes of a worker's UMEM and rings.
#[derive(Debug, Clone, Copy)]
pub struct XskConfig {
    /// Frames in the UMEM (shared by both sockets).
    pub frames: u32,
    /// Bytes per frame (2048 holds a 1500-byte MTU frame plus the 256-byte
    /// XDP headroom the encapsulation grows into).
    pub frame_size: u32,
    /// Entries in each RX, TX, fill and completion ring.
    pub ring: u32,
    /// Ask for the need-wakeup protocol (poll mode); off for busy polling.
    pub need_wakeup: bool,
    /// Try zero-copy first (only meaningful in native XDP mode).
    pub try_zero_copy: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frames: 8192,
            frame_size: 2048,
            ring: 2048,
            need_wakeup: true,
            try_zero_copy: true,
        }
    }
}

/// Why sockets could not be opened.
#[derive(Debug)]
pub struct XskError(pub String);

impl std::fmt::Display for XskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XskError {}

fn e(what: impl std::fmt::Display, errno: xdpilone::Errno) -> XskError {
    XskError(format!(
        "{what}: {}",
        std::io::Error::from_raw_os_error(errno.get_raw())
    ))
}

/// The packet memory and its registration with the kernel, shared by
/// the workers whose sockets use it.
struct Region {
    // Declared before `area`: the registration goes before the memory.
    inner: xdpilone::Umem,
    area: memmap2::MmapMut,
    /// The area's first byte.
    ptr: NonNull<u8>,
}

// SAFETY: `inner` and `ptr` point into `area`, which lives as long as they
// do (same struct, dropped last). After set-up `inner` is only used to
// make and bind sockets (system calls on `&self`) and to be dropped; the
// area's bytes are reached only through a `Umem`, by the worker holding
// the frame (module docs), so no two threads touch the same bytes at once.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: shared references give no access to the bytes.
unsafe impl Sync for Region {}

/// One worker's view of the packet memory: the frames it holds.
pub struct Umem {
    region: Arc<Region>,
    len: u64,
    /// A power of two ([`Region::new`] refuses any other).
    frame_size: u64,
    free: Vec<u64>,
    /// This worker's home frames: addresses in `home.0..home.1` (its
    /// free list never holds more: its capacity is theirs).
    home: (u64, u64),
    /// Bytes of home frames per worker (0: the UMEM is this worker's).
    per_worker: u64,
    /// Frames released here whose home is another worker's.
    strays: Vec<u64>,
}

// SAFETY: the region is `Send + Sync` (above); a `Umem` reaches only the
// frames its worker holds, wherever that worker runs.
unsafe impl Send for Umem {}

impl std::fmt::Debug for Umem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("bytes", &self.len)
            .field("home", &self.home)
            .field("free", &self.free.len())
            .finish()
    }
}

impl Region {
    fn new(c: &XskConfig, frames: u64) -> Result<Region, XskError> {
        // AF_XDP's aligned chunks are a power of two, 2048 bytes to a
        // page; the workers find a frame's chunk by masking its address
        // (a division a packet otherwise).
        if !c.frame_size.is_power_of_two() || c.frame_size < 2048 {
            return Err(XskError(format!(
                "frame size {} is not a power of two of at least 2048 bytes",
                c.frame_size
            )));
        }
        let bytes = frames as usize * c.frame_size as usize;
        let mut area = memmap2::MmapMut::map_anon(bytes)
            .map_err(|err| XskError(format!("allocating {bytes} bytes of UMEM: {err}")))?;
        let ptr = NonNull::from(&mut area[..]);
        let cfg = UmemConfig {
            fill_size: c.ring,
            complete_size: c.ring,
            frame_size: c.frame_size,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: `area` is page-aligned, `frames * frame_size` long, and
        // lives in the same struct as the registration, dropped after it
        // (field order); nothing else frees or remaps it.
        let inner =
            unsafe { xdpilone::Umem::new(cfg, ptr) }.map_err(|x| e("registering UMEM", x))?;
        let first = NonNull::from(&mut area[..]).cast::<u8>();
        Ok(Region {
            inner,
            area,
            ptr: first,
        })
    }
}

impl Umem {
    /// Worker `w`'s view of `region`, shared by `workers`, each with
    /// `frames` home frames.
    fn view(region: &Arc<Region>, c: &XskConfig, frames: u64, w: u32, workers: u32) -> Umem {
        let fs = u64::from(c.frame_size);
        let per_worker = frames * fs;
        let start = u64::from(w) * per_worker;
        Umem {
            region: region.clone(),
            len: region.area.len() as u64,
            frame_size: fs,
            free: (0..frames).rev().map(|i| start + i * fs).collect(),
            home: (start, start + per_worker),
            per_worker: if workers > 1 { per_worker } else { 0 },
            // Room for every frame: the loop never allocates.
            strays: Vec::with_capacity(if workers > 1 {
                (frames * u64::from(workers)) as usize
            } else {
                0
            }),
        }
    }

    /// `len` bytes at `at` of the area, which the caller has checked lie
    /// inside it, in a frame its worker holds.
    #[inline(always)]
    fn bytes(&self, at: u64, len: u64) -> &[u8] {
        debug_assert!(at + len <= self.len);
        // SAFETY: in bounds (checked by every caller against `self.len`),
        // the area lives as long as `self.region`, and the frame is this
        // worker's (module docs): nobody writes it meanwhile.
        unsafe {
            std::slice::from_raw_parts(self.region.ptr.as_ptr().add(at as usize), len as usize)
        }
    }

    /// As [`Umem::bytes`], to write: `&mut self` keeps it the only view.
    #[inline(always)]
    fn bytes_mut(&mut self, at: u64, len: u64) -> &mut [u8] {
        debug_assert!(at + len <= self.len);
        // SAFETY: as in `bytes`; the frame is this worker's alone, and the
        // borrow of `self` keeps any other slice of it from coexisting.
        unsafe {
            std::slice::from_raw_parts_mut(self.region.ptr.as_ptr().add(at as usize), len as usize)
        }
    }

    /// The whole chunk a descriptor points into, and the offset of the
    /// descriptor's first byte in it. `None` for an address outside the
    /// UMEM (a kernel bug; counted by the caller).
    #[inline]
    pub fn chunk(&mut self, addr: u64) -> Option<(&mut [u8], usize)> {
        let base = self.base(addr);
        let end = base.checked_add(self.frame_size)?;
        if end > self.len {
            return None;
        }
        let off = (addr - base) as usize;
        let fs = self.frame_size;
        Some((self.bytes_mut(base, fs), off))
    }

    /// The `len` bytes of a received frame at `addr`, to read (`None`
    /// if they are not all inside its chunk).
    #[inline]
    pub fn frame(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let base = self.base(addr);
        let end = addr.checked_add(len as u64)?;
        if end > base.checked_add(self.frame_size)? || end > self.len {
            return None;
        }
        Some(self.bytes(addr, len as u64))
    }

    /// Two different frames' chunks at once: one to read (a packet being
    /// fragmented), one to write (a fragment of it). `None` if they are
    /// the same frame or either lies outside the UMEM.
    #[inline]
    pub fn pair(&mut self, read: u64, write: u64) -> Option<(&[u8], &mut [u8])> {
        let fs = self.frame_size;
        let (r, w) = (self.base(read), self.base(write));
        if r == w || r.checked_add(fs)? > self.len || w.checked_add(fs)? > self.len {
            return None;
        }
        let p = self.region.ptr.as_ptr();
        // SAFETY: two different frames (checked), each inside the area
        // (checked) and held by this worker; the borrow of `self` keeps
        // any other slice of them from coexisting.
        unsafe {
            Some((
                std::slice::from_raw_parts(p.add(r as usize), fs as usize),
                std::slice::from_raw_parts_mut(p.add(w as usize), fs as usize),
            ))
        }
    }

    /// The chunk's base address (for descriptors): the address with its
    /// offset in the chunk masked off (`frame_size` is a power of two).
    #[inline]
    pub fn base(&self, addr: u64) -> u64 {
        addr & !(self.frame_size - 1)
    }

    /// Takes a frame off the free list (traffic generators fill their own).
    #[inline]
    pub fn take(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Returns a frame to the free list, or, if its home is another
    /// worker's, sets it aside for [`Umem::take_strays`].
    #[inline]
    pub fn release(&mut self, addr: u64) {
        let base = self.base(addr);
        if self.per_worker == 0 || (self.home.0..self.home.1).contains(&base) {
            self.free.push(base);
        } else {
            self.strays.push(base);
        }
    }

    /// The worker whose home frame `addr` is (0 when the UMEM is not
    /// shared).
    #[inline]
    pub fn home_of(&self, addr: u64) -> u32 {
        addr.checked_div(self.per_worker).unwrap_or(0) as u32
    }

    /// Offers the frames released here that belong to other workers to
    /// `push(home, frames)`, a batch at a time, which says how many it
    /// took; the rest stay for the next call.
    #[inline]
    pub fn send_strays(&mut self, mut push: impl FnMut(u32, &[XdpDesc]) -> usize) {
        let mut buf = [XdpDesc::default(); BATCH];
        let (mut i, mut keep) = (0, 0);
        while i < self.strays.len() {
            let h = self.home_of(self.strays[i]);
            let start = i;
            let mut k = 0;
            while i < self.strays.len() && k < BATCH && self.home_of(self.strays[i]) == h {
                buf[k] = XdpDesc {
                    addr: self.strays[i],
                    len: 0,
                    options: 0,
                };
                k += 1;
                i += 1;
            }
            let sent = push(h, &buf[..k]).min(k);
            for j in start + sent..i {
                self.strays[keep] = self.strays[j];
                keep += 1;
            }
        }
        self.strays.truncate(keep);
    }

    /// Frames not in any ring.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }
}

/// One AF_XDP socket: an (interface, queue) with its four rings.
pub struct Port {
    /// Which side it serves.
    pub side: Side,
    /// Its interface.
    pub ifindex: u32,
    dev: DeviceQueue,
    rx: RingRx,
    tx: RingTx,
    user: User,
    ring: u32,
    /// Bound with the need-wakeup protocol.
    wakeup: bool,
    /// Frames queued for transmission and not yet completed.
    in_flight: u64,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("side", &self.side)
            .field("ifindex", &self.ifindex)
            .finish()
    }
}

impl Port {
    /// The socket's descriptor, for the XSKMAP and for `poll`.
    pub fn raw_fd(&self) -> i32 {
        self.user.as_raw_fd()
    }

    /// Takes up to `out.len()` received descriptors.
    #[inline]
    pub fn recv(&mut self, out: &mut [XdpDesc]) -> usize {
        let mut r = self.rx.receive(out.len() as u32);
        let mut n = 0;
        while n < out.len() {
            match r.read() {
                Some(d) => {
                    out[n] = d;
                    n += 1;
                }
                None => break,
            }
        }
        r.release();
        n
    }

    /// Queues descriptors for transmission; returns how many the ring
    /// took (the rest are the caller's to release and count).
    #[inline]
    pub fn send(&mut self, descs: &[XdpDesc]) -> usize {
        if descs.is_empty() {
            return 0;
        }
        // xdpilone reserves from its cached view of the kernel's consumer
        // index and refreshes it only when that view shows no room at all,
        // so a first reservation can come back short while the ring has
        // space. The second one starts from an exhausted view, which
        // forces the refresh: only then is the ring really full.
        let mut n = 0;
        for _ in 0..2 {
            let mut w = self.tx.transmit((descs.len() - n) as u32);
            n += w.insert(descs[n..].iter().copied()) as usize;
            w.commit();
            if n == descs.len() {
                break;
            }
        }
        // With the need-wakeup protocol the kernel says when it wants a
        // kick (copy mode: always; zero-copy: only when idle). Without it
        // (busy mode) the flag is never set, so every batch is kicked.
        if self.tx.needs_wakeup() || (n > 0 && !self.wakeup) {
            self.tx.wake();
        }
        self.in_flight += n as u64;
        n
    }

    /// Frames queued for transmission whose completion has not been
    /// reaped.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Returns transmitted frames to the free list.
    #[inline]
    pub fn reap(&mut self, umem: &mut Umem) -> usize {
        let mut c = self.dev.complete(self.ring);
        let mut n = 0;
        while let Some(addr) = c.read() {
            umem.release(addr);
            n += 1;
        }
        c.release();
        self.in_flight = self.in_flight.saturating_sub(n as u64);
        // In copy mode the kernel sends only on a wakeup, a few dozen
        // frames each (xsk_generic_xmit): frames still queued get another,
        // or they wait for the next batch sent, however long that is.
        if self.in_flight > 0 && self.tx.needs_wakeup() {
            self.tx.wake();
        }
        n
    }

    /// Tops the fill ring up from the free list.
    #[inline]
    pub fn refill(&mut self, umem: &mut Umem) {
        let want = (self.ring - self.dev.pending().min(self.ring)).min(umem.free.len() as u32);
        if want == 0 {
            return;
        }
        let from = umem.free.len() - want as usize;
        let n = {
            let mut f = self.dev.fill(want);
            let n = f.insert(umem.free[from..].iter().copied());
            f.commit();
            n
        };
        // The ring may have taken fewer than offered: exactly the first n.
        umem.free.drain(from..from + n as usize);
        if self.dev.needs_wakeup() {
            self.dev.wake();
        }
    }

    /// Whether the kernel waits for a wakeup to receive more.
    pub fn needs_wakeup(&self) -> bool {
        self.dev.needs_wakeup()
    }
}

/// A worker's sockets: access, and core unless it is the same interface.
pub struct Sockets {
    /// The access side.
    pub access: Port,
    /// The core side; `None` when one interface serves both.
    pub core: Option<Port>,
    /// Their shared memory (declared last: dropped after the sockets).
    pub umem: Umem,
    /// Whether the sockets are bound zero-copy.
    pub zero_copy: bool,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets")
            .field("access", &self.access)
            .field("core", &self.core)
            .field("zero_copy", &self.zero_copy)
            .finish()
    }
}

fn ifinfo(ifindex: u32, queue: u32) -> Result<IfInfo, XskError> {
    let mut info = IfInfo::invalid();
    info.from_ifindex(ifindex)
        .map_err(|x| e(format!("interface {ifindex}"), x))?;
    info.set_queue(queue);
    Ok(info)
}

/// An interface's index by name.
pub fn ifindex(name: &str) -> Result<u32, XskError> {
    let c = CString::new(name).map_err(|_| XskError(format!("bad interface name {name:?}")))?;
    let mut info = IfInfo::invalid();
    info.from_name(&c)
        .map_err(|x| e(format!("interface {name}"), x))?;
    Ok(info.ifindex())
}

impl Sockets {
    /// Opens the worker's sockets on `queue`, zero-copy first when asked
    /// (and the XDP program is native), else copy mode.
    pub fn open(access: u32, core: u32, queue: u32, c: &XskConfig) -> Result<Sockets, XskError> {
        let mut v = Self::open_queues(access, core, queue..queue + 1, c)?;
        v.pop()
            .ok_or_else(|| XskError("no sockets opened".to_string()))
    }

    /// Every worker's sockets, for queues `0..workers`, on one UMEM they
    /// share (for the hand-off between workers; module docs): worker `w`
    /// gets `c.frames` home frames.
    pub fn open_shared(
        access: u32,
        core: u32,
        workers: u32,
        c: &XskConfig,
    ) -> Result<Vec<Sockets>, XskError> {
        Self::open_queues(access, core, 0..workers, c)
    }

    fn open_queues(
        access: u32,
        core: u32,
        queues: std::ops::Range<u32>,
        c: &XskConfig,
    ) -> Result<Vec<Sockets>, XskError> {
        if c.try_zero_copy
            && let Ok(s) = Self::open_with(
                access,
                core,
                queues.clone(),
                c,
                SocketConfig::XDP_BIND_ZEROCOPY,
            )
        {
            return Ok(s);
        }
        Self::open_with(access, core, queues, c, SocketConfig::XDP_BIND_COPY)
    }

    fn open_with(
        access: u32,
        core: u32,
        queues: std::ops::Range<u32>,
        c: &XskConfig,
        mode: u16,
    ) -> Result<Vec<Sockets>, XskError> {
        let workers = queues.len() as u32;
        let frames = u64::from(c.frames);
        let region = Arc::new(Region::new(c, frames * u64::from(workers))?);
        let umem = &region.inner;
        let mut flags = mode;
        if c.need_wakeup {
            flags |= SocketConfig::XDP_BIND_NEED_WAKEUP;
        }
        let ring = NonZeroU32::new(c.ring);
        let sc = SocketConfig {
            rx_size: ring,
            tx_size: ring,
            bind_flags: flags,
        };
        // A socket sharing the UMEM of another inherits its bind flags; the
        // kernel refuses any of its own (xsk_bind: EINVAL).
        let shared = SocketConfig {
            bind_flags: 0,
            ..sc.clone()
        };
        let port = |side: Side,
                    ifindex: u32,
                    queue: u32,
                    sock: Socket,
                    first: bool|
         -> Result<Port, XskError> {
            let what = |s: &str| format!("{s} on ifindex {ifindex} queue {queue}");
            let sc = if first { &sc } else { &shared };
            let dev = umem
                .fq_cq(&sock)
                .map_err(|x| e(what("fill/completion rings"), x))?;
            let user = umem
                .rx_tx(&sock, sc)
                .map_err(|x| e(what("rx/tx rings"), x))?;
            let rx = user.map_rx().map_err(|x| e(what("mapping rx"), x))?;
            let tx = user.map_tx().map_err(|x| e(what("mapping tx"), x))?;
            umem.bind(&user)
                .map_err(|x| e(what("binding the AF_XDP socket"), x))?;
            Ok(Port {
                side,
                ifindex,
                dev,
                rx,
                tx,
                user,
                ring: c.ring,
                wakeup: c.need_wakeup,
                in_flight: 0,
            })
        };
        let mut out = Vec::new();
        for (w, queue) in queues.enumerate() {
            let first = w == 0;
            let a_info = ifinfo(access, queue)?;
            // The UMEM's own socket is the first one bound; the others
            // share it.
            let a_sock = if first {
                Socket::with_shared(&a_info, umem)
            } else {
                Socket::new(&a_info)
            }
            .map_err(|x| e("creating the AF_XDP socket", x))?;
            let access_port = port(Side::Access, access, queue, a_sock, first)?;
            let core_port = if core == access {
                None
            } else {
                let c_info = ifinfo(core, queue)?;
                let c_sock =
                    Socket::new(&c_info).map_err(|x| e("creating the AF_XDP socket", x))?;
                Some(port(Side::Core, core, queue, c_sock, false)?)
            };
            let mut s = Sockets {
                access: access_port,
                core: core_port,
                umem: Umem::view(&region, c, frames, w as u32, workers),
                zero_copy: mode == SocketConfig::XDP_BIND_ZEROCOPY,
            };
            s.access.refill(&mut s.umem);
            if let Some(p) = s.core.as_mut() {
                p.refill(&mut s.umem);
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// The receive queues of interface `name` in the calling thread's network
/// namespace (what a socket on each needs), from the driver's channel
/// counts (`ethtool -l`): its receive-only and combined channels, at
/// least 1. Read through a socket rather than sysfs, which shows the
/// namespace it was mounted in, not the thread's.
pub fn rx_queues(name: &str) -> Result<u32, XskError> {
    /// `struct ethtool_channels` (linux/ethtool.h).
    #[repr(C)]
    #[derive(Default)]
    struct Channels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(XskError(format!("bad interface name {name:?}")));
    }
    let mut ch = Channels {
        cmd: ETHTOOL_GCHANNELS,
        ..Channels::default()
    };
    // SAFETY: a zeroed `ifreq` is valid (plain integers and pointers).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *b as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut ch as *mut Channels).cast();
    // SAFETY: a socket call with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(XskError(format!(
            "a socket to ask {name}'s queues: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `req` names the interface (NUL-terminated: zeroed past the
    // name) and points at `ch`, which both outlive the call; the kernel
    // writes only `ch`'s fields.
    let r = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req) };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours, closed once.
    unsafe { libc::close(fd) };
    if r < 0 {
        return Err(XskError(format!("{name}'s channels (ethtool -l): {err}")));
    }
    Ok((ch.rx_count + ch.combined_count).max(1))
}

/// `SO_BUSY_POLL`, `SO_PREFER_BUSY_POLL` and `SO_BUSY_POLL_BUDGET`
/// (asm-generic/socket.h; Linux 5.11 for the last two).
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Busy polling on an AF_XDP socket (the kernel's `Documentation/
/// networking/af_xdp.rst`, "busy polling"): the worker's own syscalls run
/// the driver's NAPI instead of interrupts, `budget` packets at a time,
/// spinning up to `usecs` per call. Interrupts stay deferred only with the
/// interface's `napi_defer_hard_irqs` and `gro_flush_timeout` set
/// (OPERATIONS.md). `Err` names the option the kernel refused.
pub fn busy_poll(fd: i32, usecs: u32, budget: u32) -> Result<(), String> {
    for (name, opt, v) in [
        ("SO_PREFER_BUSY_POLL", SO_PREFER_BUSY_POLL, 1),
        ("SO_BUSY_POLL", SO_BUSY_POLL, usecs),
        ("SO_BUSY_POLL_BUDGET", SO_BUSY_POLL_BUDGET, budget),
    ] {
        let v = v as libc::c_int;
        // SAFETY: `v` is an int that lives across the call, whose size is
        // passed; the kernel only reads it.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(format!("{name}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Runs the socket's NAPI once (busy polling): a receive that takes
/// nothing and never blocks. Its result does not matter: frames arrive
/// in the RX ring.
pub fn kick_rx(fd: i32) {
    // SAFETY: a zero-length receive into no buffer, non-blocking; the
    // kernel writes nothing.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// Waits until one of the sockets (or a [`Doorbell`]) has something to
/// receive, or `timeout_ms` passes (poll mode's idle wait). Up to three
/// descriptors: the access socket, the core socket, the doorbell.
pub fn wait(fds: &[i32], timeout_ms: i32) {
    let mut p = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; 3];
    let n = fds.len().min(p.len());
    for (q, &fd) in p.iter_mut().zip(fds) {
        q.fd = fd;
    }
    // SAFETY: `p` holds `n` valid pollfds for the call's duration; poll
    // only writes their `revents`.
    unsafe { libc::poll(p.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
}

/// Wakes a worker sleeping in [`wait`] from another worker's thread: an
/// eventfd in the sleeper's poll set, written only while its owner says
/// it sleeps, so a busy worker's hand-offs cost no system call.
///
/// The protocol (a Dekker pair, hence the SeqCst fences): the sleeper
/// marks itself asleep, fences, looks at its rings once more and only
/// then waits; a producer publishes to the ring, fences, and rings if the
/// mark is set. One of the two always sees the other.
#[derive(Debug)]
pub struct Doorbell {
    fd: std::os::fd::OwnedFd,
    asleep: std::sync::atomic::AtomicBool,
}

impl Doorbell {
    /// A doorbell (a non-blocking eventfd).
    pub fn new() -> std::io::Result<Doorbell> {
        use std::os::fd::FromRawFd;
        // SAFETY: eventfd takes no pointers; the result is checked before
        // it is used.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Doorbell {
            // SAFETY: `fd` was just created and is owned by nothing else.
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
            asleep: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The descriptor to add to [`wait`]'s set.
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// The owner is about to sleep: after this, it must look at its rings
    /// once more before it waits.
    pub fn sleeping(&self) {
        self.asleep
            .store(true, std::sync::atomic::Ordering::Relaxed);
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// The owner is awake again: clears the mark and any ring it got.
    pub fn awake(&self) {
        self.asleep
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v`, which outlives the call; the fd
        // is non-blocking, so an unrung bell returns EAGAIN at once.
        unsafe { libc::read(self.raw_fd(), (&raw mut v).cast(), 8) };
    }

    /// Called by a producer after publishing to the owner's ring: wakes
    /// the owner if it sleeps.
    pub fn ring(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if self.asleep.load(std::sync::atomic::Ordering::Relaxed) {
            let v = 1u64;
            // SAFETY: writes the 8 bytes of `v`, which outlives the call.
            // A full counter (never, at one write per sleep) is EAGAIN,
            // and the owner is awake by then anyway.
            unsafe { libc::write(self.raw_fd(), (&raw const v).cast(), 8) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_that_are_not_aligned_chunks_are_refused() {
        for frame_size in [0, 1000, 1536, 3000, 6144] {
            let c = XskConfig {
                frame_size,
                ..XskConfig::default()
            };
            let Err(e) = Region::new(&c, 16) else {
                panic!("frame size {frame_size} taken");
            };
            assert!(e.0.contains("power of two"), "{e}");
        }
    }
}
