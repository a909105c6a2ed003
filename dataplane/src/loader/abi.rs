//! The Rust side of `ebpf/xlns.h`. Maps take these as byte arrays encoded
//! here, so no `repr(C)` struct (and no `unsafe` Pod impl) is needed; the
//! test below compares every number with what the C compiler says.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Receive queues per interface the socket map has room for.
pub const MAX_QUEUES: u32 = 64;
/// Socket map key of core-side queue 0.
pub const XSK_CORE_BASE: u32 = MAX_QUEUES;
/// Socket map entries.
pub const XSK_ENTRIES: u32 = 2 * MAX_QUEUES;
/// Pool prefixes per family.
pub const MAX_PREFIXES: u32 = 4096;
/// Entries of the switched-session map as compiled (the loader resizes it
/// to the table's capacity, `Steering::load_for`).
pub const MAX_SWITCHED: u32 = 65536;
/// `xlns_config.flags`: the switched map is not empty.
pub const CFG_SWITCHED: u16 = 1;

macro_rules! verdicts {
    ($( $(#[$doc:meta])* $name:ident = $c:literal / $text:literal, )+) => {
        /// What the XDP program did with a frame (`enum xlns_verdict`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Verdict {
            $( $(#[$doc])* $name, )+
        }

        impl Verdict {
            /// Every verdict, in counter order.
            pub const ALL: &'static [Verdict] = &[$(Verdict::$name),+];

            /// The metric label.
            pub const fn name(self) -> &'static str {
                match self { $( Verdict::$name => $text, )+ }
            }

            /// The C enumerator.
            pub const fn c_name(self) -> &'static str {
                match self { $( Verdict::$name => $c, )+ }
            }
        }
    };
}

verdicts! {
    /// L2TP data with an IP payload, to the workers.
    AccessToXsk = "XLNS_ACCESS_TO_XSK" / "access_to_xsk",
    /// Core traffic for a subscriber pool, to the workers.
    CoreToXsk = "XLNS_CORE_TO_XSK" / "core_to_xsk",
    /// L2TP control, to lnsd.
    PassControl = "XLNS_PASS_CONTROL" / "pass_control",
    /// PPP control in a data message, to lnsd.
    PassPppControl = "XLNS_PASS_PPP_CONTROL" / "pass_ppp_control",
    /// Access side, not L2TP for us.
    PassNotL2tp = "XLNS_PASS_NOT_L2TP" / "pass_not_l2tp",
    /// Core side, not for a subscriber.
    PassNotPool = "XLNS_PASS_NOT_POOL" / "pass_not_pool",
    /// Fragments, for the kernel to reassemble.
    PassFragment = "XLNS_PASS_FRAGMENT" / "pass_fragment",
    /// Too short for its headers.
    PassMalformed = "XLNS_PASS_MALFORMED" / "pass_malformed",
    /// Access data for a worker, but no socket is bound on the queue (the
    /// data plane is restarting): passed to the kernel, so lnsd sees it.
    AccessNoXsk = "XLNS_ACCESS_NO_XSK" / "access_no_xsk",
    /// The same on the core side.
    CoreNoXsk = "XLNS_CORE_NO_XSK" / "core_no_xsk",
    /// Arrived on an interface the configuration does not name.
    PassOtherIface = "XLNS_PASS_OTHER_IFACE" / "pass_other_iface",
    /// L2TP data of a switched session, whatever PPP it carries, on
    /// either interface, to the workers (no socket: `*_no_xsk`).
    SwitchedToXsk = "XLNS_SWITCHED_TO_XSK" / "switched_to_xsk",
    /// A subscriber's IPv6 to a link-scope destination (Router
    /// Solicitations, DHCPv6, Neighbor Discovery), to lnsd: the link's
    /// business, never the core's.
    PassLinkLocal = "XLNS_PASS_LINK_LOCAL" / "pass_link_local",
}

/// `sizeof(struct xlns_config)`.
pub const CONFIG_SIZE: usize = 32;

/// `struct xlns_config`: where the program finds us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// The access interface.
    pub access_ifindex: u32,
    /// The core interface (may equal the access one).
    pub core_ifindex: u32,
    /// Our IPv4 address for L2TP.
    pub lns_ipv4: Option<Ipv4Addr>,
    /// Our IPv6 address for L2TP.
    pub lns_ipv6: Option<Ipv6Addr>,
    /// Our L2TP port.
    pub lns_port: u16,
    /// Switched sessions exist: look L2TP data frames up in the switched
    /// map (`CFG_SWITCHED`).
    pub switched: bool,
}

impl Config {
    /// The map value, laid out as `struct xlns_config` (host-order
    /// ifindexes and flags, network-order address and port).
    pub fn to_bytes(&self) -> [u8; CONFIG_SIZE] {
        let mut b = [0u8; CONFIG_SIZE];
        b[0..4].copy_from_slice(&self.access_ifindex.to_ne_bytes());
        b[4..8].copy_from_slice(&self.core_ifindex.to_ne_bytes());
        b[8..12].copy_from_slice(&self.lns_ipv4.map_or([0; 4], |a| a.octets()));
        b[12..28].copy_from_slice(&self.lns_ipv6.map_or([0; 16], |a| a.octets()));
        b[28..30].copy_from_slice(&self.lns_port.to_be_bytes());
        let flags = if self.switched { CFG_SWITCHED } else { 0 };
        b[30..32].copy_from_slice(&flags.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// What the C compiler says about `xlns.h` (build.rs runs the probe).
    fn c_side() -> HashMap<&'static str, u64> {
        include_str!(concat!(env!("OUT_DIR"), "/abi.txt"))
            .lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("name value");
                (k, v.parse().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn rust_and_c_agree_on_every_size_offset_and_constant() {
        let c = c_side();
        let want: &[(&str, u64)] = &[
            ("XLNS_MAX_QUEUES", MAX_QUEUES.into()),
            ("XLNS_XSK_CORE_BASE", XSK_CORE_BASE.into()),
            ("XLNS_XSK_ENTRIES", XSK_ENTRIES.into()),
            ("XLNS_MAX_PREFIXES", MAX_PREFIXES.into()),
            ("XLNS_MAX_SWITCHED", MAX_SWITCHED.into()),
            ("XLNS_CFG_SWITCHED", CFG_SWITCHED.into()),
            ("XLNS_VERDICTS", Verdict::ALL.len() as u64),
            ("sizeof(struct xlns_config)", CONFIG_SIZE as u64),
            ("offsetof(xlns_config.access_ifindex)", 0),
            ("offsetof(xlns_config.core_ifindex)", 4),
            ("offsetof(xlns_config.lns_ipv4)", 8),
            ("offsetof(xlns_config.lns_ipv6)", 12),
            ("offsetof(xlns_config.lns_port)", 28),
            ("offsetof(xlns_config.flags)", 30),
            // aya's lpm_trie::Key<K> is {u32 prefix_len; K data}.
            ("sizeof(struct xlns_lpm_v4)", 8),
            ("offsetof(xlns_lpm_v4.addr)", 4),
            ("sizeof(struct xlns_lpm_v6)", 20),
            ("offsetof(xlns_lpm_v6.addr)", 4),
        ];
        for (k, v) in want {
            assert_eq!(c.get(k), Some(v), "{k}");
        }
        for (i, v) in Verdict::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
            assert_eq!(c.get(v.c_name()), Some(&(i as u64)), "{}", v.c_name());
        }
        // Nothing in the header that this test does not check.
        assert_eq!(c.len(), want.len() + Verdict::ALL.len());
    }

    #[test]
    fn config_bytes() {
        let b = Config {
            access_ifindex: 7,
            core_ifindex: 9,
            lns_ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            lns_ipv6: None,
            lns_port: 1701,
            switched: true,
        }
        .to_bytes();
        assert_eq!(&b[8..12], &[192, 0, 2, 1]);
        assert_eq!(&b[28..30], &[0x06, 0xa5]);
        assert_eq!(u32::from_ne_bytes([b[4], b[5], b[6], b[7]]), 9);
        assert_eq!(u16::from_ne_bytes([b[30], b[31]]), CFG_SWITCHED);
    }
}
