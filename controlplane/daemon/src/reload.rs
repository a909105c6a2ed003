//! Configuration reload (`lnsctl reload`, the admin API's `Reload`):
//! applies a new configuration to the running engine without dropping a
//! session, or refuses it whole.
//!
//! Reloaded: local users, address pools, peers and their secrets and
//! policies, limits and timers (for tunnels opened afterwards), PPP
//! settings (for calls set up afterwards), RADIUS servers. New pool
//! prefixes restart a supervised data plane (its XDP program steers the
//! prefixes it started with; sessions stay in the table, forwarding pauses
//! for the restart). Needs a restart, so a change to them is refused:
//! `[l2tp] listen`, `[dataplane]`, `[admin]`, `[metrics]`, `[[lac]]`, and
//! pool prefixes with an external data plane.
//!
//! Guarantees: every check runs before anything changes, so a refused
//! reload leaves the engine as it was; a pool change that would strand a
//! leased address is refused, naming the address and its user.

use super::config::Config;
use super::dataplane::Plane;
use lns_protocol::aaa::local::Users;
use lns_protocol::lns::Lns;

/// Applies `new` (already validated) over `old`; returns what changed, one
/// line each, or why nothing was.
pub fn apply(lns: &mut Lns<Plane>, old: &Config, new: &Config) -> Result<Vec<String>, String> {
    let restart = [
        ("[l2tp] listen", old.l2tp.listen != new.l2tp.listen),
        ("[dataplane]", old.dataplane != new.dataplane),
        ("[admin]", old.admin != new.admin),
        ("[metrics]", old.metrics != new.metrics),
        ("[[lac]]", old.lacs != new.lacs),
    ];
    if let Some((what, _)) = restart.iter().find(|(_, changed)| *changed) {
        return Err(format!("{what} changed: that needs a restart of lnsd"));
    }
    // Everything that can fail is prepared first.
    let users = match &new.ppp.users_file {
        Some(f) => Users::load(f).map_err(|e| format!("users file: {e}"))?,
        None => Users::default(),
    };
    // The data plane takes the PPP gateway on its command line: an
    // external one would go on answering pings for the old address.
    if new.dataplane.mode == super::config::DataplaneMode::External
        && new.dataplane_args().gateway != old.dataplane_args().gateway
    {
        return Err(
            "ppp.gateway changed, and the data plane is external: it answers pings for the \
             address it started with, so restart lnsd and lns-dataplane"
                .into(),
        );
    }
    // Subscribers up have the old gateway as their IPCP peer address for
    // the life of their link: moving it under them would leave their
    // pings unanswered and let the pools lease an address they route to.
    let gateway_moved = old.ppp.gateway != new.ppp.gateway;
    let live = lns.subscriber_count();
    if gateway_moved && live > 0 {
        return Err(format!(
            "ppp.gateway changed while {live} subscribers use {} as their PPP peer: \
             disconnect them first, or restart lnsd",
            old.ppp.gateway
        ));
    }
    let pools_changed = old.pools != new.pools;
    let pools = if pools_changed {
        if new.dataplane.mode == super::config::DataplaneMode::External
            && new.dataplane_args().pools_v4 != old.dataplane_args().pools_v4
        {
            return Err(
                "pool prefixes changed, and the data plane is external: its XDP program steers \
                 the pools it started with, so restart lnsd and lns-dataplane"
                    .into(),
            );
        }
        let mut p = new.pools();
        for s in lns.subscribers() {
            if let Some(a) = s.ipv4
                && p.claim(a).is_err()
            {
                return Err(format!(
                    "{a} is leased to {} but in no pool of the new file: keep its range or \
                     disconnect it first",
                    String::from_utf8_lossy(s.user)
                ));
            }
        }
        Some(p)
    } else {
        None
    };
    let radius_changed = old.radius != new.radius;
    let switch = new.switch_config().map_err(|e| e.to_string())?;
    lns.reconfigure(new.lns(), radius_changed)?;
    // Nothing below can fail.
    let mut changes = Vec::new();
    // The users file is re-read every time: its content may have changed
    // under the same name.
    changes.push(format!("users: {} loaded", users.len()));
    lns.users = users;
    if let Some(p) = pools {
        let restart = new.dataplane.mode == super::config::DataplaneMode::Supervised
            && new.dataplane_args().pools_v4 != old.dataplane_args().pools_v4;
        changes.push(format!(
            "pools: {} (leases kept: {}){}",
            new.pools
                .iter()
                .map(|p| {
                    let r: Vec<String> = p.ranges.iter().map(ToString::to_string).collect();
                    format!("{} {}", p.name, r.join(","))
                })
                .collect::<Vec<_>>()
                .join("; "),
            p.leased(),
            if restart {
                "; the data plane restarts to steer the new prefixes"
            } else {
                ""
            }
        ));
        lns.addressing.pools = p;
    } else if gateway_moved {
        // The same pools; only the address they must never lease moved.
        lns.addressing.pools.unreserve(old.ppp.gateway);
        lns.addressing.pools.reserve(new.ppp.gateway);
    }
    if old.peers != new.peers || old.l2tp != new.l2tp {
        changes.push("peers, secrets and L2TP limits: apply to tunnels opened from now on".into());
    }
    lns.endpoint.reconfigure(new.endpoint());
    if old.realms != new.realms || old.switch != new.switch {
        changes.push(format!(
            "realms: {} rules; apply to calls switched from now on",
            new.realms.len()
        ));
    }
    lns.switch.reconfigure(switch);
    if old.ppp != new.ppp {
        changes.push("PPP settings: apply to calls set up from now on".into());
    }
    if old.ppp.gateway != new.ppp.gateway
        && new.dataplane.mode == super::config::DataplaneMode::Supervised
    {
        changes.push(format!(
            "ppp.gateway {}: the data plane restarts to answer for it",
            new.ppp.gateway
        ));
    }
    if radius_changed {
        changes.push("RADIUS servers replaced".into());
    }
    // Profiles, pool and user defaults: the sessions using what changed
    // get their new rates now.
    let rated = lns.resolve_rates(std::time::Instant::now());
    if old.rate_profiles != new.rate_profiles || old.rates != new.rates || rated > 0 {
        changes.push(format!(
            "rate profiles: {}; {rated} sessions' rates changed",
            new.rate_profiles.len()
        ));
    }
    Ok(changes)
}
