//! IPv6 prefixes and prefix pools: a block that hands out prefixes of one
//! length (a /64 per subscriber link for Router Advertisements, or a /48
//! to /64 for DHCPv6 prefix delegation).
//!
//! Contract: a [`PrefixPool`] names its `n`-th prefix and nothing else;
//! which ones are leased is kept by [`super::pool::Pools`], one set for
//! every pool and every prefix claimed outside them (RADIUS
//! Framed-IPv6-Prefix, RFC 3162 §2.3), so a prefix is held by one session
//! at a time. Prefixes are told apart by network and length: pools whose
//! blocks overlap with different lengths are the operator's to avoid (the
//! configuration refuses overlapping pools).

use std::net::Ipv6Addr;

/// An IPv6 prefix: its network address (bits past the length are zero)
/// and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Net {
    /// The network address.
    pub addr: Ipv6Addr,
    /// The prefix length, 0 to 128.
    pub len: u8,
}

impl Ipv6Net {
    /// `addr/len` with the bits past `len` cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Self {
        let len = len.min(128);
        Ipv6Net {
            addr: Ipv6Addr::from(u128::from(addr) & mask(len)),
            len,
        }
    }

    /// The first 8 octets (the /64 a data plane looks subscribers up by).
    pub fn head(&self) -> [u8; 8] {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.addr.octets()[..8]);
        h
    }

    /// Whether `other` lies within this prefix.
    pub fn contains(&self, other: &Ipv6Net) -> bool {
        other.len >= self.len && u128::from(other.addr) & mask(self.len) == u128::from(self.addr)
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

impl std::str::FromStr for Ipv6Net {
    type Err = String;
    /// `"2001:db8::/48"`: the address must have no bits past the length
    /// (a typo in a pool's base is refused rather than silently masked).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IPv6 prefix (2001:db8::/48)");
        let (a, n) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.trim().parse().map_err(|_| bad())?;
        let len: u8 = n.trim().parse().map_err(|_| bad())?;
        if len > 128 {
            return Err(bad());
        }
        let net = Ipv6Net::new(addr, len);
        if net.addr != addr {
            return Err(format!(
                "{s:?} has bits set past /{len} (its network is {})",
                net.addr
            ));
        }
        Ok(net)
    }
}

impl std::fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv6Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A block cut into prefixes of one length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixPool {
    /// The block.
    pub block: Ipv6Net,
    /// The length of each prefix handed out.
    pub len: u8,
}

/// At most 2^32 prefixes per pool: a /32 of /64s.
const MAX_BITS: u8 = 32;

impl PrefixPool {
    /// `block` cut into `/len` prefixes: `len` at least the block's and at
    /// most 64 (a SLAAC link is a /64, RFC 4862 §5.5.3; a delegated prefix
    /// no longer), and at most 2^32 of them.
    pub fn new(block: Ipv6Net, len: u8) -> Result<Self, String> {
        if len < block.len || len > 64 {
            return Err(format!(
                "prefix length /{len} must be between the block's (/{}) and /64",
                block.len
            ));
        }
        if len - block.len > MAX_BITS {
            return Err(format!(
                "{block} holds more than 2^{MAX_BITS} /{len} prefixes; use a longer block"
            ));
        }
        Ok(PrefixPool { block, len })
    }

    /// How many prefixes it holds.
    pub fn size(&self) -> u64 {
        1u64 << (self.len - self.block.len)
    }

    /// Its `i`-th prefix (`i` below [`PrefixPool::size`]).
    pub fn nth(&self, i: u64) -> Ipv6Net {
        let shift = 128 - u32::from(self.len);
        let a = u128::from(self.block.addr) | (u128::from(i) << shift);
        Ipv6Net::new(Ipv6Addr::from(a), self.len)
    }

    /// Whether `net` is one of its prefixes.
    pub fn holds(&self, net: &Ipv6Net) -> bool {
        net.len == self.len && self.block.contains(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_print_and_refuse_stray_bits() {
        let n: Ipv6Net = "2001:db8:100::/40".parse().unwrap();
        assert_eq!(n.to_string(), "2001:db8:100::/40");
        assert!(
            "2001:db8:100::1/40"
                .parse::<Ipv6Net>()
                .unwrap_err()
                .contains("bits set")
        );
        assert!("2001:db8::/129".parse::<Ipv6Net>().is_err());
        assert!("10.0.0.0/8".parse::<Ipv6Net>().is_err());
        assert_eq!(n.head(), [0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0]);
    }

    #[test]
    fn a_pool_names_its_prefixes_in_order_within_its_block() {
        let p = PrefixPool::new("2001:db8:100::/40".parse().unwrap(), 56).unwrap();
        assert_eq!(p.size(), 65536);
        assert_eq!(p.nth(0).to_string(), "2001:db8:100::/56");
        assert_eq!(p.nth(1).to_string(), "2001:db8:100:100::/56");
        assert_eq!(p.nth(65535).to_string(), "2001:db8:1ff:ff00::/56");
        assert!(p.holds(&p.nth(300)));
        assert!(!p.holds(&"2001:db8:200::/56".parse().unwrap()));
        assert!(!p.holds(&"2001:db8:100::/64".parse().unwrap()));
        assert!(PrefixPool::new("2001:db8::/32".parse().unwrap(), 72).is_err());
        assert!(PrefixPool::new("2001:db8::/48".parse().unwrap(), 40).is_err());
        assert!(PrefixPool::new("2001::/16".parse().unwrap(), 64).is_err());
    }
}
