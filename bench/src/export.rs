//! `lns-bench export`: the emulated sessions' data frames for hardware
//! traffic generators, for benchmarking xlns on real NICs
//! (`bench/README.md`).
//!
//! Writes, in `--dir`:
//! - `upstream.pcap`: one L2TP data frame per session (LAC to LNS, the
//!   LNS's tunnel and session ids, the PPP framing the LAC uses), each
//!   carrying a probe from the subscriber to the core host;
//! - `downstream.pcap`: one plain IP frame per session, core host to
//!   subscriber, addressed to the LNS's core-side MAC;
//! - `trex-l2tp.py`: a TRex stateless profile replaying them, port 0
//!   upstream and port 1 downstream;
//! - `pktgen-downstream.sh`: Linux pktgen for the downstream direction
//!   (pktgen cannot build L2TP, so upstream is replayed from the pcap).
//!
//! With `--lns`, the sessions are brought up for real first and held up
//! (hellos and LCP echoes answered) until Ctrl-C or `--hold SECS`, so the
//! frames stay valid while the generator runs. Without, the ids are
//! placeholders (tunnel 1, sessions 1..N, addresses from 100.64.0.2) that
//! show the format.

use crate::probe::{self, Mix, Outer};
use crate::sessions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to write.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Output directory.
    pub dir: PathBuf,
    /// Real sessions to bring up (`--lns` given).
    pub sessions: Option<sessions::Opts>,
    /// Placeholder sessions otherwise.
    pub count: u32,
    /// Hold real sessions this long (default: until Ctrl-C).
    pub hold: Option<Duration>,
    /// Packet sizes, cycled over sessions.
    pub mix: Mix,
    /// The core host.
    pub core_host: Ipv4Addr,
    /// The LNS's access-side MAC.
    pub lns_mac: [u8; 6],
    /// The LAC's (the generator port's) MAC.
    pub lac_mac: [u8; 6],
    /// The LNS's core-side MAC.
    pub core_mac: [u8; 6],
    /// The core host's (generator port's) MAC.
    pub host_mac: [u8; 6],
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            dir: PathBuf::new(),
            sessions: None,
            count: 10,
            hold: None,
            mix: Mix(vec![64]),
            core_host: Ipv4Addr::new(203, 0, 113, 2),
            lns_mac: [0x02, 0, 0, 0, 0, 0x01],
            lac_mac: [0x02, 0, 0, 0, 0, 0x02],
            core_mac: [0x02, 0, 0, 0, 0, 0x03],
            host_mac: [0x02, 0, 0, 0, 0, 0x04],
        }
    }
}

/// A session's frame ingredients.
#[derive(Debug, Clone)]
struct Sess {
    ipv4: Ipv4Addr,
    l2tp: Vec<u8>,
}

/// A pcap file (libpcap format, Ethernet link type).
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]); // zone, sigfigs
    out.extend(65_535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        out.extend(0u32.to_le_bytes());
        out.extend((i as u32).to_le_bytes()); // 1 us apart
        out.extend((f.len() as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(f);
    }
    out
}

fn hex_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write(
    o: &Opts,
    subs: &[Sess],
    lac: (Ipv4Addr, u16),
    lns: (Ipv4Addr, u16),
) -> Result<(), String> {
    std::fs::create_dir_all(&o.dir).map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let outer = Outer {
        dst_mac: o.lns_mac,
        src_mac: o.lac_mac,
        src: lac.0.into(),
        dst: lns.0.into(),
        sport: lac.1,
        dport: lns.1,
    };
    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut buf = vec![0u8; 10_000];
    for (i, s) in subs.iter().enumerate() {
        let size = o.mix.size(i as u64);
        let n = probe::write_upstream(
            &mut buf,
            &outer,
            &s.l2tp,
            size,
            (s.ipv4.into(), o.core_host.into()),
            (i as u32, 0, 0),
        );
        up.push(buf[..n].to_vec());
        let n = probe::write_downstream(
            &mut buf,
            (o.core_mac, o.host_mac),
            size,
            (o.core_host.into(), s.ipv4.into()),
            (i as u32, 0, 0),
        );
        down.push(buf[..n].to_vec());
    }
    let file = |name: &str, bytes: &[u8]| -> Result<(), String> {
        let p = o.dir.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    file("upstream.pcap", &pcap(&up))?;
    file("downstream.pcap", &pcap(&down))?;
    file("trex-l2tp.py", trex(subs.len()).as_bytes())?;
    let (lo, hi) = (
        subs.iter()
            .map(|s| s.ipv4)
            .min()
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
        subs.iter()
            .map(|s| s.ipv4)
            .max()
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
    );
    file(
        "pktgen-downstream.sh",
        pktgen(o, lo, hi, subs.len()).as_bytes(),
    )?;
    let _ = std::fs::set_permissions(
        o.dir.join("pktgen-downstream.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
    println!(
        "wrote upstream.pcap, downstream.pcap ({} sessions, IP sizes {:?}), trex-l2tp.py and \
         pktgen-downstream.sh in {}",
        subs.len(),
        o.mix.0,
        o.dir.display()
    );
    Ok(())
}

fn trex(n: usize) -> String {
    format!(
        r#"# TRex stateless profile written by `lns-bench export`: L2TP data frames
# for {n} sessions upstream (port 0, toward the LNS's access interface) and
# plain IP to the same subscribers downstream (port 1, toward its core
# interface). Each pcap holds one frame per session; they are replayed in a
# loop. Choose the rate with -m, e.g.:
#   start -f trex-l2tp.py -m 1mpps -p 0 1
# The sessions must be up at the LNS while this runs: `lns-bench export
# --lns ...` holds them up until Ctrl-C.
import os
from trex_stl_lib.api import STLProfile

HERE = os.path.dirname(os.path.abspath(__file__))


class L2tpSessions(object):
    def get_streams(self, *args, **kwargs):
        direction = kwargs.get("direction", args[0] if args and isinstance(args[0], int) else 0)
        pcap = "upstream.pcap" if direction == 0 else "downstream.pcap"
        return STLProfile.load_pcap(os.path.join(HERE, pcap), ipg_usec=1.0, loop_count=0).get_streams()


def register():
    return L2tpSessions()
"#
    )
}

fn pktgen(o: &Opts, lo: Ipv4Addr, hi: Ipv4Addr, n: usize) -> String {
    format!(
        r#"#!/bin/sh
# Linux pktgen, written by `lns-bench export`: downstream probes (core host
# {host} to the {n} subscribers {lo}..{hi}) sent to the LNS's core-side MAC.
# pktgen cannot build L2TP, so replay upstream.pcap for the other direction
# (TRex: trex-l2tp.py; or tcpreplay / pktgen-dpdk -s 0:upstream.pcap).
# usage: pktgen-downstream.sh DEV [RATE_PPS] [COUNT]   (COUNT 0: until stopped)
set -eu
DEV=${{1:?usage: $0 DEV [RATE_PPS] [COUNT]}}
RATE=${{2:-100000}}
COUNT=${{3:-0}}
modprobe pktgen
pg() {{ echo "$2" > "/proc/net/pktgen/$1"; }}
pg kpktgend_0 "rem_device_all"
pg kpktgend_0 "add_device $DEV"
pg "$DEV" "count $COUNT"
pg "$DEV" "pkt_size {size}"
pg "$DEV" "dst_mac {mac}"
pg "$DEV" "src_min {host}"
pg "$DEV" "src_max {host}"
pg "$DEV" "dst_min {lo}"
pg "$DEV" "dst_max {hi}"
pg "$DEV" "udp_src_min {sport}"
pg "$DEV" "udp_src_max {sport}"
pg "$DEV" "udp_dst_min {dport}"
pg "$DEV" "udp_dst_max {dport}"
pg "$DEV" "ratep $RATE"
echo "sending on $DEV at $RATE packets/s; Ctrl-C or: echo stop > /proc/net/pktgen/pgctrl"
pg pgctrl start
cat "/proc/net/pktgen/$DEV"
"#,
        host = o.core_host,
        mac = hex_mac(o.core_mac),
        // pktgen's pkt_size is the frame without FCS.
        size = o.mix.0.first().copied().unwrap_or(64) + 14,
        sport = probe::PORT_DOWN,
        dport = probe::PORT_DST,
    )
}

/// Runs the export.
pub fn run(o: &Opts) -> Result<(), String> {
    let Some(so) = &o.sessions else {
        let subs: Vec<Sess> = (0..o.count)
            .map(|i| {
                let sid = (i + 1) as u16;
                let mut l2tp = vec![0x00, 0x02, 0, 1];
                l2tp.extend(sid.to_be_bytes());
                l2tp.extend([0xff, 0x03, 0x00, 0x21]);
                Sess {
                    ipv4: Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 2)) + i),
                    l2tp,
                }
            })
            .collect();
        println!(
            "no --lns: placeholder ids (tunnel 1, sessions 1..{}), addresses from 100.64.0.2",
            o.count
        );
        return write(
            o,
            &subs,
            (Ipv4Addr::new(198, 51, 100, 2), 1701),
            (Ipv4Addr::new(198, 51, 100, 1), 1701),
        );
    };
    let mut held = sessions::bring_up(so)?;
    println!("{}", held.setup_summary());
    let subs = held.subscribers();
    let Some(first) = subs.first() else {
        held.finish(so, false)?;
        return Err(format!("no session came up at {}", so.lns));
    };
    let (std::net::SocketAddr::V4(l), std::net::SocketAddr::V4(p)) = (first.local, first.peer)
    else {
        return Err("export writes L2TP over IPv4 only".into());
    };
    let s: Vec<Sess> = subs
        .iter()
        .map(|s| Sess {
            ipv4: s.ipv4,
            l2tp: s.l2tp.clone(),
        })
        .collect();
    write(o, &s, (*l.ip(), l.port()), (*p.ip(), p.port()))?;
    let end = o.hold.map(|h| Instant::now() + h);
    println!(
        "holding {} sessions up {}",
        subs.len(),
        match o.hold {
            Some(h) => format!("for {:.0} s", h.as_secs_f64()),
            None => "until Ctrl-C".into(),
        }
    );
    while !crate::interrupted() && end.is_none_or(|e| Instant::now() < e) {
        held.pump(Instant::now() + Duration::from_millis(100));
    }
    held.finish(so, false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_export_writes_frames_that_parse_back() {
        let dir = std::env::temp_dir().join(format!("lns-bench-export-{}", std::process::id()));
        let o = Opts {
            dir: dir.clone(),
            count: 3,
            mix: Mix::parse("imix").unwrap(),
            ..Opts::default()
        };
        run(&o).unwrap();
        let up = std::fs::read(dir.join("upstream.pcap")).unwrap();
        // Global header, then three records; the second is 576 bytes of IP.
        let mut at = 24;
        let mut frames = Vec::new();
        while at < up.len() {
            let len = u32::from_le_bytes(up[at + 8..at + 12].try_into().unwrap()) as usize;
            frames.push(up[at + 16..at + 16 + len].to_vec());
            at += 16 + len;
        }
        assert_eq!(frames.len(), 3);
        let p = probe::parse(&frames[1], 1701).expect("an L2TP probe");
        assert_eq!((p.flow, p.ip_len), (1, 576));
        assert_eq!(p.src, Ipv4Addr::new(100, 64, 0, 3));
        assert_eq!(
            &frames[1][42..48],
            &[0, 2, 0, 1, 0, 2],
            "tunnel 1 session 2"
        );
        let sh = std::fs::read_to_string(dir.join("pktgen-downstream.sh")).unwrap();
        assert!(sh.contains("dst_max 100.64.0.4"), "{sh}");
        assert!(
            std::fs::read_to_string(dir.join("trex-l2tp.py"))
                .unwrap()
                .contains("load_pcap")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
