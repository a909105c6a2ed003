//! IPv4 address pools: named sets of ranges that lease each address to at
//! most one session at a time; and IPv6 prefix pools, named blocks that
//! lease each of their prefixes the same way ([`Pools::lease_prefix`],
//! [`Pools::claim_prefix`], [`Pools::release_prefix`]).
//!
//! Contract: [`Pools::lease`] hands out an address from the named pool or
//! says the pool is exhausted (never a duplicate); [`Pools::claim`] takes a
//! specific (static or RADIUS Framed-IP-Address) address if it is free,
//! inside a pool or not; [`Pools::release`] returns an address. Leases are
//! handed out round-robin so a just-released address is the last to be
//! reused (a late packet for the old subscriber does not reach the new).
//! A reserved address ([`Pools::reserve`]: the LNS's own PPP gateway
//! address) is never leased nor claimed, whatever pool covers it: a
//! subscriber given it would have local = remote address.

use super::prefix::{Ipv6Net, PrefixPool};
use crate::map::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// An inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (inclusive).
    pub last: Ipv4Addr,
}

impl std::str::FromStr for Range {
    type Err = String;
    /// `"a.b.c.d-e.f.g.h"` or `"a.b.c.d/nn"` (network and broadcast
    /// addresses of a prefix shorter than /31 are left out).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an address range (a.b.c.d-e.f.g.h or a.b.c.d/nn)");
        if let Some((a, b)) = s.split_once('-') {
            let first: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
            let last: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
            if u32::from(first) > u32::from(last) {
                return Err(format!("{s:?}: first address is above the last"));
            }
            return Ok(Range { first, last });
        }
        let (a, n) = s.split_once('/').ok_or_else(bad)?;
        let base: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n > 32 {
            return Err(bad());
        }
        let mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
        let net = u32::from(base) & mask;
        let bcast = net | !mask;
        let (first, last) = if n >= 31 {
            (net, bcast)
        } else {
            (net + 1, bcast - 1)
        };
        Ok(Range {
            first: first.into(),
            last: last.into(),
        })
    }
}

/// Read from configuration as the text [`Range::from_str`] takes, so a
/// bad range is refused where the file is parsed, with its line.
impl<'de> serde::Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `first-last`, the form [`Range::from_str`] reads.
impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Range {
    /// The fewest prefixes that cover exactly this range (what the data
    /// plane's steering map takes).
    pub fn prefixes(&self) -> Vec<(Ipv4Addr, u8)> {
        let mut out = Vec::new();
        let mut a = u64::from(u32::from(self.first));
        let end = u64::from(u32::from(self.last)) + 1;
        while a < end {
            // The largest aligned block at `a` that does not pass `end`.
            let mut size = if a == 0 {
                1u64 << 32
            } else {
                a & a.wrapping_neg()
            };
            while a + size > end {
                size >>= 1;
            }
            out.push((Ipv4Addr::from(a as u32), 32 - size.trailing_zeros() as u8));
            a += size;
        }
        out
    }

    fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(a))
    }
}

#[derive(Debug)]
struct Pool {
    ranges: Vec<Range>,
    size: u64,
    /// Next position to try (round-robin).
    cursor: u64,
}

impl Pool {
    fn nth(&self, mut i: u64) -> Ipv4Addr {
        for r in &self.ranges {
            if i < r.len() {
                return Ipv4Addr::from(u32::from(r.first) + i as u32);
            }
            i -= r.len();
        }
        Ipv4Addr::UNSPECIFIED
    }
}

/// Why no address could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// No pool by that name.
    NoSuchPool(String),
    /// Every address of the pool is leased.
    Exhausted(String),
    /// The requested address is leased to another session.
    InUse(Ipv4Addr),
    /// The requested address is the LNS's own (reserved).
    Reserved(Ipv4Addr),
    /// The requested prefix is leased to another session.
    PrefixInUse(Ipv6Net),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::NoSuchPool(p) => write!(f, "no address pool named {p:?}"),
            PoolError::Exhausted(p) => write!(f, "address pool {p:?} is exhausted"),
            PoolError::InUse(a) => write!(f, "address {a} is already in use"),
            PoolError::Reserved(a) => write!(f, "address {a} is the LNS's own (ppp.gateway)"),
            PoolError::PrefixInUse(p) => write!(f, "prefix {p} is already in use"),
        }
    }
}

impl std::error::Error for PoolError {}

/// All pools, and every address leased from them or claimed outside them.
#[derive(Debug, Default)]
pub struct Pools {
    /// By name; the name is shared with the sessions leased from it
    /// ([`Pools::name`]).
    pools: HashMap<Arc<str>, Pool>,
    leased: HashSet<Ipv4Addr>,
    reserved: HashSet<Ipv4Addr>,
    prefix_pools: HashMap<String, (PrefixPool, u64)>,
    prefixes: HashSet<Ipv6Net>,
}

impl Pools {
    /// Adds a pool. Overlaps between pools are allowed (an address is
    /// still leased once).
    pub fn add(&mut self, name: &str, ranges: Vec<Range>) {
        let size = ranges.iter().map(Range::len).sum();
        self.pools.insert(
            Arc::from(name),
            Pool {
                ranges,
                size,
                cursor: 0,
            },
        );
    }

    /// Keeps `a` out of every lease and claim. Returns the names of the
    /// pools that cover it (sorted), so the caller can say so once.
    pub fn reserve(&mut self, a: Ipv4Addr) -> Vec<String> {
        self.reserved.insert(a);
        let mut names: Vec<String> = self
            .pools
            .iter()
            .filter(|(_, p)| p.ranges.iter().any(|r| r.contains(a)))
            .map(|(n, _)| n.to_string())
            .collect();
        names.sort();
        names
    }

    /// Lets `a` be leased again (the gateway moved to another address).
    pub fn unreserve(&mut self, a: Ipv4Addr) {
        self.reserved.remove(&a);
    }

    /// Addresses leased right now.
    pub fn leased(&self) -> usize {
        self.leased.len()
    }

    /// (size, leased) of one pool; the size leaves out reserved addresses.
    pub fn usage(&self, name: &str) -> Option<(u64, usize)> {
        let p = self.pools.get(name)?;
        let inside = |a: &&Ipv4Addr| p.ranges.iter().any(|r| r.contains(**a));
        let used = self.leased.iter().filter(inside).count();
        let reserved = self.reserved.iter().filter(inside).count() as u64;
        Some((p.size - reserved.min(p.size), used))
    }

    /// The pool `name`'s own name, for a session to keep without a copy
    /// of its own (a million sessions of one pool share it).
    pub fn name(&self, name: &str) -> Option<Arc<str>> {
        self.pools.get_key_value(name).map(|(n, _)| Arc::clone(n))
    }

    /// Leases a free address from `name`.
    pub fn lease(&mut self, name: &str) -> Result<Ipv4Addr, PoolError> {
        let p = self
            .pools
            .get_mut(name)
            .ok_or_else(|| PoolError::NoSuchPool(name.to_string()))?;
        for _ in 0..p.size {
            let a = p.nth(p.cursor);
            p.cursor = (p.cursor + 1) % p.size.max(1);
            if !self.leased.contains(&a) && !self.reserved.contains(&a) {
                self.leased.insert(a);
                return Ok(a);
            }
        }
        Err(PoolError::Exhausted(name.to_string()))
    }

    /// Takes a specific address (static user address, RADIUS
    /// Framed-IP-Address).
    pub fn claim(&mut self, a: Ipv4Addr) -> Result<Ipv4Addr, PoolError> {
        if self.reserved.contains(&a) {
            Err(PoolError::Reserved(a))
        } else if self.leased.insert(a) {
            Ok(a)
        } else {
            Err(PoolError::InUse(a))
        }
    }

    /// Returns an address; false if it was not leased.
    pub fn release(&mut self, a: Ipv4Addr) -> bool {
        self.leased.remove(&a)
    }

    /// Adds an IPv6 prefix pool (replacing one of that name).
    pub fn add_prefixes(&mut self, name: &str, pool: PrefixPool) {
        self.prefix_pools.insert(name.to_string(), (pool, 0));
    }

    /// Whether a prefix pool of that name exists.
    pub fn has_prefix_pool(&self, name: &str) -> bool {
        self.prefix_pools.contains_key(name)
    }

    /// Leases a free prefix from prefix pool `name`, round-robin as
    /// addresses are (a just-released prefix is the last to be reused).
    pub fn lease_prefix(&mut self, name: &str) -> Result<Ipv6Net, PoolError> {
        let (p, cursor) = self
            .prefix_pools
            .get_mut(name)
            .ok_or_else(|| PoolError::NoSuchPool(name.to_string()))?;
        // A full pool of millions is not scanned whole: past its size in
        // tries it is called exhausted (a lease is held per session, so
        // the set says how many are out).
        let size = p.size();
        for _ in 0..size.min(self.prefixes.len() as u64 + 1) {
            let net = p.nth(*cursor);
            *cursor = (*cursor + 1) % size;
            if self.prefixes.insert(net) {
                return Ok(net);
            }
        }
        Err(PoolError::Exhausted(name.to_string()))
    }

    /// Takes a specific prefix (RADIUS Framed-IPv6-Prefix or
    /// Delegated-IPv6-Prefix), inside a pool or not.
    pub fn claim_prefix(&mut self, net: Ipv6Net) -> Result<Ipv6Net, PoolError> {
        if self.prefixes.insert(net) {
            Ok(net)
        } else {
            Err(PoolError::PrefixInUse(net))
        }
    }

    /// Returns a prefix; false if it was not leased.
    pub fn release_prefix(&mut self, net: Ipv6Net) -> bool {
        self.prefixes.remove(&net)
    }

    /// (size, leased) of one prefix pool.
    pub fn prefix_usage(&self, name: &str) -> Option<(u64, usize)> {
        let (p, _) = self.prefix_pools.get(name)?;
        Some((
            p.size(),
            self.prefixes.iter().filter(|n| p.holds(n)).count(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(r("10.0.0.1-10.0.0.3").len(), 3);
        let p = r("10.1.0.0/24");
        assert_eq!(
            (p.first, p.last),
            ("10.1.0.1".parse().unwrap(), "10.1.0.254".parse().unwrap())
        );
        assert_eq!(r("10.1.0.7/32").len(), 1);
        assert!("10.0.0.5-10.0.0.1".parse::<Range>().is_err());
        assert!("nonsense".parse::<Range>().is_err());
    }

    #[test]
    fn no_address_twice_exhaustion_and_release() {
        let mut p = Pools::default();
        p.add("small", vec![r("10.0.0.1-10.0.0.2"), r("10.0.1.1/32")]);
        let mut got = HashSet::default();
        for _ in 0..3 {
            assert!(got.insert(p.lease("small").unwrap()));
        }
        assert_eq!(p.lease("small"), Err(PoolError::Exhausted("small".into())));
        assert_eq!(p.usage("small"), Some((3, 3)));
        let a = *got.iter().next().unwrap();
        assert!(p.release(a));
        assert!(!p.release(a));
        assert_eq!(p.lease("small"), Ok(a));
        assert_eq!(p.lease("other"), Err(PoolError::NoSuchPool("other".into())));
    }

    #[test]
    fn claimed_addresses_are_skipped_by_leases() {
        let mut p = Pools::default();
        p.add("x", vec![r("10.0.0.1-10.0.0.2")]);
        p.claim("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            p.claim("10.0.0.1".parse().unwrap()),
            Err(PoolError::InUse("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(p.lease("x"), Ok("10.0.0.2".parse().unwrap()));
        assert!(p.lease("x").is_err());
    }

    #[test]
    fn the_gateway_is_never_leased_or_claimed() {
        let mut p = Pools::default();
        p.add("x", vec![r("100.64.0.0/30")]);
        p.add("y", vec![r("10.0.0.1-10.0.0.2")]);
        let gw: Ipv4Addr = "100.64.0.1".parse().unwrap();
        assert_eq!(p.reserve(gw), ["x"]);
        assert_eq!(p.usage("x"), Some((1, 0)));
        assert_eq!(p.lease("x"), Ok("100.64.0.2".parse().unwrap()));
        assert_eq!(p.lease("x"), Err(PoolError::Exhausted("x".into())));
        assert_eq!(p.claim(gw), Err(PoolError::Reserved(gw)));
        p.unreserve(gw);
        assert_eq!(p.lease("x"), Ok(gw));
    }

    #[test]
    fn prefixes_are_leased_once_claimed_ones_skipped_and_released() {
        let mut p = Pools::default();
        let block: Ipv6Net = "2001:db8:100::/62".parse().unwrap();
        p.add_prefixes("v6", PrefixPool::new(block, 64).unwrap());
        let second: Ipv6Net = "2001:db8:100:1::/64".parse().unwrap();
        assert_eq!(p.claim_prefix(second), Ok(second));
        assert_eq!(p.claim_prefix(second), Err(PoolError::PrefixInUse(second)));
        let got: Vec<String> = (0..3)
            .map(|_| p.lease_prefix("v6").unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "2001:db8:100::/64",
                "2001:db8:100:2::/64",
                "2001:db8:100:3::/64"
            ]
        );
        assert_eq!(p.lease_prefix("v6"), Err(PoolError::Exhausted("v6".into())));
        assert_eq!(p.prefix_usage("v6"), Some((4, 4)));
        assert!(p.release_prefix(second));
        assert!(!p.release_prefix(second));
        assert_eq!(p.lease_prefix("v6"), Ok(second));
        assert_eq!(
            p.lease_prefix("none"),
            Err(PoolError::NoSuchPool("none".into()))
        );
        // A claim outside every pool is held too.
        let outside: Ipv6Net = "2001:db8:ffff::/56".parse().unwrap();
        assert_eq!(p.claim_prefix(outside), Ok(outside));
        assert_eq!(p.prefix_usage("v6"), Some((4, 4)));
    }

    #[test]
    fn round_robin_delays_reuse() {
        let mut p = Pools::default();
        p.add("x", vec![r("10.0.0.1-10.0.0.4")]);
        let a = p.lease("x").unwrap();
        p.release(a);
        assert_ne!(p.lease("x").unwrap(), a);
    }

    #[test]
    fn ranges_become_exact_prefix_covers() {
        let r: Range = "100.64.0.0/16".parse().unwrap();
        let p = r.prefixes();
        let covered: u64 = p.iter().map(|(_, l)| 1u64 << (32 - l)).sum();
        assert_eq!(covered, 65_534);
        assert_eq!(p.first(), Some(&(Ipv4Addr::new(100, 64, 0, 1), 32)));
        assert!(p.contains(&(Ipv4Addr::new(100, 64, 64, 0), 18)));
        assert_eq!(p.last(), Some(&(Ipv4Addr::new(100, 64, 255, 254), 32)));
        let r: Range = "10.0.0.0/31".parse().unwrap();
        assert_eq!(r.prefixes(), [(Ipv4Addr::new(10, 0, 0, 0), 31)]);
        let r: Range = "0.0.0.0-255.255.255.255".parse().unwrap();
        assert_eq!(r.prefixes(), [(Ipv4Addr::UNSPECIFIED, 0)]);
    }
}
