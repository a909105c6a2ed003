//! Address and identifier assignment for authenticated subscribers, out
//! of the engine: which IPv4 address a session gets (RADIUS, the local
//! user, the pools) and which IPv6CP interface identifier.
//!
//! Contract: [`Addressing::assign`] follows one precedence: a specific
//! address (RADIUS Framed-IP-Address, RFC 2865 §5.8, then the local
//! user's static address), else a pool (RADIUS Framed-Pool, RFC 2869
//! §5.18, then the local user's pool, then the default pool); it never hands out an address twice (the pools see to
//! that) nor an interface identifier that is zero (RFC 5072 §4.1) or held
//! by another live session. [`Addressing::release`] gives both back.
//! Sans-IO: the engine calls it when a subscriber authenticates and when
//! its session ends.

use super::pool::{PoolError, Pools};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// What decides a subscriber's address.
#[derive(Debug, Clone, Default)]
pub struct Wanted<'a> {
    /// RADIUS Framed-IP-Address.
    pub radius_ip: Option<Ipv4Addr>,
    /// RADIUS Framed-Pool.
    pub radius_pool: Option<&'a str>,
    /// The local user's static address.
    pub user_ip: Option<Ipv4Addr>,
    /// The local user's pool.
    pub user_pool: Option<&'a str>,
    /// The pool for users that name none.
    pub default_pool: &'a str,
    /// The session's tunnel and session ids, which seed the IPv6
    /// interface identifier.
    pub ids: (u16, u16),
    /// Whether IPv6CP runs (an interface identifier is wanted).
    pub ipv6: bool,
}

/// What a subscriber got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// Its IPv4 address.
    pub ipv4: Ipv4Addr,
    /// The pool it was leased from (`None`: a static address), named as
    /// the pools name it.
    pub pool: Option<std::sync::Arc<str>>,
    /// Its IPv6CP interface identifier, when IPv6CP runs.
    pub ipv6_id: Option<[u8; 8]>,
}

/// The pools and the interface identifiers in use.
#[derive(Debug, Default)]
pub struct Addressing {
    /// The address pools (replaced whole by a reload).
    pub pools: Pools,
    ipv6_ids: HashSet<[u8; 8]>,
}

impl Addressing {
    /// Over `pools`.
    pub fn new(pools: Pools) -> Self {
        Addressing {
            pools,
            ipv6_ids: HashSet::new(),
        }
    }

    /// An address (and identifier) for a subscriber; see the module
    /// contract for the precedence.
    pub fn assign(&mut self, w: &Wanted<'_>) -> Result<Assigned, PoolError> {
        let (ipv4, pool) = match w.radius_ip.or(w.user_ip) {
            Some(a) => (self.pools.claim(a)?, None),
            None => {
                let pool = w.radius_pool.or(w.user_pool).unwrap_or(w.default_pool);
                (self.pools.lease(pool)?, self.pools.name(pool))
            }
        };
        let ipv6_id = w.ipv6.then(|| self.interface_id(ipv4, w.ids));
        Ok(Assigned {
            ipv4,
            pool,
            ipv6_id,
        })
    }

    /// A unique, non-zero identifier derived from the address and the
    /// ids, bumped until unused.
    fn interface_id(&mut self, addr: Ipv4Addr, (tunnel, session): (u16, u16)) -> [u8; 8] {
        let mut id = [0u8; 8];
        id[0] = 0x02;
        id[2..4].copy_from_slice(&tunnel.to_be_bytes());
        id[4..6].copy_from_slice(&session.to_be_bytes());
        id[6..8].copy_from_slice(&addr.octets()[2..4]);
        while self.ipv6_ids.contains(&id) || id == [0; 8] {
            id[1] = id[1].wrapping_add(1);
        }
        self.ipv6_ids.insert(id);
        id
    }

    /// Gives back what a session held.
    pub fn release(&mut self, ipv4: Option<Ipv4Addr>, ipv6_id: Option<[u8; 8]>) {
        if let Some(a) = ipv4 {
            self.pools.release(a);
        }
        if let Some(id) = ipv6_id {
            self.ipv6_ids.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addressing() -> Addressing {
        let mut p = Pools::default();
        p.add("default", vec!["10.0.0.1-10.0.0.4".parse().unwrap()]);
        p.add("gold", vec!["10.9.0.1-10.9.0.2".parse().unwrap()]);
        Addressing::new(p)
    }

    #[test]
    fn radius_then_user_then_default_pool() {
        let mut a = addressing();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        // RADIUS Framed-IP-Address wins over everything.
        let w = Wanted {
            radius_ip: Some(ip("192.0.2.7")),
            radius_pool: Some("gold"),
            user_ip: Some(ip("10.0.0.3")),
            default_pool: "default",
            ..Default::default()
        };
        assert_eq!(a.assign(&w).unwrap().ipv4, ip("192.0.2.7"));
        // Framed-Pool over the user's static address.
        let w = Wanted {
            radius_pool: Some("gold"),
            user_pool: Some("default"),
            default_pool: "default",
            ..Default::default()
        };
        assert_eq!(a.assign(&w).unwrap().ipv4, ip("10.9.0.1"));
        let w = Wanted {
            user_ip: Some(ip("10.0.0.3")),
            user_pool: Some("gold"),
            default_pool: "default",
            ..Default::default()
        };
        assert_eq!(a.assign(&w).unwrap().ipv4, ip("10.0.0.3"));
        let w = Wanted {
            user_pool: Some("gold"),
            default_pool: "default",
            ..Default::default()
        };
        assert_eq!(a.assign(&w).unwrap().ipv4, ip("10.9.0.2"));
        assert_eq!(
            a.assign(&w),
            Err(PoolError::Exhausted("gold".into())),
            "never twice"
        );
        assert_eq!(
            a.assign(&Wanted {
                default_pool: "default",
                ..Default::default()
            })
            .unwrap()
            .ipv4,
            ip("10.0.0.1"),
            "the default pool"
        );
    }

    #[test]
    fn interface_ids_are_unique_non_zero_and_released() {
        let mut a = addressing();
        let w = Wanted {
            ids: (0, 0),
            ipv6: true,
            default_pool: "default",
            ..Default::default()
        };
        let one = a.assign(&w).unwrap();
        let two = a.assign(&w).unwrap();
        let (i1, i2) = (one.ipv6_id.unwrap(), two.ipv6_id.unwrap());
        assert_ne!(i1, [0; 8]);
        assert_ne!(i1, i2);
        a.release(Some(one.ipv4), one.ipv6_id);
        assert_eq!(a.pools.leased(), 1);
        let no6 = a
            .assign(&Wanted {
                default_pool: "default",
                ..Default::default()
            })
            .unwrap();
        assert_eq!(no6.ipv6_id, None);
    }
}
