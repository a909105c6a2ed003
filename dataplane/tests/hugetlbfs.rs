//! The session table on hugetlbfs (root): lnsd creates it there (the file
//! rounded up to whole 2 MiB pages), the data plane attaches to it, and
//! the table works and is on huge pages. The test mounts its own
//! hugetlbfs, reserves the pages it needs, and puts both back.

#[path = "../../controlplane/protocol/tests/common/process.rs"]
#[allow(dead_code, reason = "shared with the control-plane tests")]
mod process;

use lns_dataplane::node::encap::{Outer, Template};
use lns_dataplane::table::{Reader, Session, Sizes, Writer, huge_pages_at};
use process::root_or_skip;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;

const NR: &str = "/proc/sys/vm/nr_hugepages";

/// The mount and the reservation, undone on drop.
struct Huge {
    dir: PathBuf,
    pages_before: u64,
}

impl Drop for Huge {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("table"));
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::write(NR, self.pages_before.to_string());
    }
}

fn session(n: u16) -> Session {
    Session {
        tunnel: 1,
        session: n,
        ipv4: Some(Ipv4Addr::new(100, 64, 0, n as u8)),
        ipv6_prefix: None,
        mru: 1500,
        peer: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        peer_port: 1701,
        lac_nexthop: 2,
        template: Template::new(&Outer {
            dst_mac: [0; 6],
            src_mac: [0; 6],
            vlan: None,
            src: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 1)),
            src_port: 1701,
            dst: std::net::IpAddr::from(Ipv4Addr::new(198, 51, 100, 2)),
            dst_port: 1701,
            tunnel: 9,
            session: n,
            sequencing: false,
        }),
        switched: None,
        rates: Default::default(),
    }
}

#[test]
fn a_table_on_hugetlbfs_is_created_attached_and_on_huge_pages() {
    if !root_or_skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xlns-hugetlbfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pages_before: u64 = std::fs::read_to_string(NR).unwrap().trim().parse().unwrap();
    let huge = Huge { dir, pages_before };
    let ok = Command::new("mount")
        .args(["-t", "hugetlbfs", "-o", "pagesize=2M", "none"])
        .arg(&huge.dir)
        .status()
        .unwrap();
    assert!(ok.success(), "mount hugetlbfs");
    // A 4,096-session table is a few MiB: reserve room for it.
    std::fs::write(NR, (pages_before + 8).to_string()).unwrap();
    let path = huge.dir.join("table");
    assert_eq!(huge_pages_at(&path).as_deref(), Ok("hugetlbfs"));
    let sizes = Sizes {
        capacity: 4096,
        workers: 1,
    };
    let mut w = Writer::create(&path, sizes).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len % (2 << 20), 0, "whole 2 MiB pages: {len}");
    assert!(len >= w.size_bytes());
    let id = w.insert(&session(7)).unwrap();
    let r = Reader::attach(&path).unwrap();
    let f = r.by_ids(1, 7).unwrap();
    assert_eq!((f.slot, f.session().unwrap()), (id.slot, session(7)));
    assert!(
        w.huge_page_bytes().unwrap() >= 2 << 20,
        "the mapping is on huge pages"
    );
    drop((r, w));
    drop(huge);
}
