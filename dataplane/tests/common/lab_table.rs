//! The table lnsd would write for subscribers of the access lab
//! (`controlplane/protocol/tests/common/process.rs`, included as `crate::process`),
//! shared by the data plane's namespace test and the veth benchmark.
//!
//! Subscriber `n` (1-based) is our tunnel 1 / session `n`, the LAC's tunnel
//! 77 / session `1000 + n`, at 100.64.(n >> 8).(n & 255). Next hop 2 is the
//! LAC, `CORE_V4` the core host.

use crate::process::AccessLab;
use lns_dataplane::node::encap::{Outer, Template};
use lns_dataplane::table::{CORE_V4, NextHop, Session, Sizes, SlotId, Writer};
use std::net::{IpAddr, Ipv4Addr};

/// Subscriber `n`'s address.
pub fn sub(n: u16) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, (n >> 8) as u8, n as u8)
}

/// Creates the table at `path` with subscribers 1..=`n`.
pub fn lab_table(
    lab: &AccessLab,
    path: &std::path::Path,
    n: u16,
    capacity: u32,
) -> (Writer, Vec<SlotId>) {
    let mut w = Writer::create(
        path,
        Sizes {
            capacity,
            // Counter blocks for up to 4 workers (one per queue).
            workers: 4,
        },
    )
    .unwrap();
    let (lac_mac, lns_mac) = (lab.mac(&lab.lac, "vl"), lab.mac(&lab.lns, "va"));
    let (core_mac, host_mac) = (lab.mac(&lab.lns, "vc"), lab.mac(&lab.core, "vk"));
    let ids = (1..=n)
        .map(|k| {
            w.insert(&Session {
                tunnel: 1,
                session: k,
                ipv4: Some(sub(k)),
                ipv6_prefix: None,
                mru: 1500,
                peer: IpAddr::V4(AccessLab::LAC),
                peer_port: 1701,
                lac_nexthop: 2,
                template: Template::new(&Outer {
                    dst_mac: lac_mac,
                    src_mac: lns_mac,
                    vlan: None,
                    src: std::net::IpAddr::from(AccessLab::LNS),
                    src_port: 1701,
                    dst: std::net::IpAddr::from(AccessLab::LAC),
                    dst_port: 1701,
                    tunnel: 77,
                    session: 1000 + k,
                    sequencing: false,
                }),
                switched: None,
                rates: Default::default(),
            })
            .unwrap()
        })
        .collect();
    for (i, dst_mac, src_mac, addr) in [
        (2, lac_mac, lns_mac, AccessLab::LAC),
        (CORE_V4, host_mac, core_mac, AccessLab::HOST),
    ] {
        let nh = NextHop {
            dst_mac,
            src_mac,
            addr: Some(IpAddr::V4(addr)),
        };
        w.set_nexthop(i, &nh).unwrap();
    }
    (w, ids)
}
