//! The calls of a role that speaks PPP itself, composed one way for every
//! role (the LNS terminating subscribers, the LAC with its PPP clients):
//! each call's PPP link, one timer per call, and the drain of what a link
//! asks for. A role keeps its own per-call state (`C`) and handles each
//! [`LinkOutput`] its way (the hooks); this module guarantees that a call
//! that is gone has no timer left, and that a call whose link has nothing
//! more to say is woken at the earliest of its link's deadline and the
//! role's own ([`PppCall::deadline`]).
//!
//! Sans-IO: the role passes `now` in; nothing here frames or sends.

use crate::engine::frame;
use crate::l2tp::{Endpoint, SessionKey, Transmit};
use crate::map::HashMap;
use crate::ppp::link::{Link, LinkOutput};
use crate::timers::Timers;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a call's data messages go: our address in its tunnel, the
/// peer's, and the peer's tunnel and session ids (RFC 2661 §3.1: what we
/// put in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// Our address.
    pub local: SocketAddr,
    /// The peer's.
    pub peer: SocketAddr,
    /// The peer's tunnel and session ids.
    pub peer_ids: (u16, u16),
}

impl Wire {
    /// Call `key` in one of `endpoint`'s tunnels, which the peer knows as
    /// `peer_session`; `None` once the tunnel is gone.
    pub fn of(endpoint: &Endpoint, key: SessionKey, peer_session: u16) -> Option<Wire> {
        let t = endpoint.tunnel(key.tunnel)?;
        Some(Wire {
            local: t.local,
            peer: t.peer,
            peer_ids: (t.peer_id, peer_session),
        })
    }

    /// The data message carrying one PPP packet, with Ns `ns` if the
    /// call is sequenced: both engines (LNS and emulated LAC) send their
    /// PPP this way.
    pub fn transmit(&self, ns: Option<u16>, protocol: u16, info: &[u8]) -> Transmit {
        let (tunnel, session) = self.peer_ids;
        self.datagram(frame::encapsulate(tunnel, session, ns, protocol, info))
    }

    /// [`Wire::transmit`] for a packet the PPP encoders built, framed in
    /// its own buffer ([`frame::encapsulate_owned`]).
    pub fn transmit_owned(&self, ns: Option<u16>, protocol: u16, packet: Vec<u8>) -> Transmit {
        let (tunnel, session) = self.peer_ids;
        self.datagram(frame::encapsulate_owned(
            tunnel, session, ns, protocol, packet,
        ))
    }

    fn datagram(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            local: self.local,
            peer: self.peer,
            payload,
        }
    }

    /// The data message carrying a PPP frame as it was received (a
    /// switched call's).
    pub fn rewrap(&self, ns: Option<u16>, ppp: &[u8]) -> Transmit {
        let (tunnel, session) = self.peer_ids;
        self.datagram(frame::rewrap(tunnel, session, ns, ppp))
    }
}

/// What the composition needs of a role's call.
pub trait PppCall {
    /// Its PPP link, once PPP runs on it (a LAC's may attach late).
    fn link(&self) -> Option<&Link>;
    /// The same, to drive it.
    fn link_mut(&mut self) -> Option<&mut Link>;
    /// The role's own next deadline for the call (accounting, PPP
    /// attaching), besides its link's.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// A role's calls by key, with their timers.
///
/// Each call is boxed: the map's buckets come in powers of two, up to
/// twice the calls, and a call is kilobytes, so unboxed the spare
/// buckets would cost as much as the calls (issue 18: memory per
/// session).
#[derive(Debug)]
pub struct Calls<C> {
    calls: HashMap<SessionKey, Box<C>>,
    timers: Timers<SessionKey>,
}

impl<C> Default for Calls<C> {
    fn default() -> Self {
        Calls {
            calls: HashMap::default(),
            timers: Timers::default(),
        }
    }
}

impl<C: PppCall> Calls<C> {
    /// Adds (or replaces) a call.
    pub fn insert(&mut self, key: SessionKey, call: C) -> Option<C> {
        self.calls.insert(key, Box::new(call)).map(|c| *c)
    }

    /// Removes a call, and its timer with it.
    pub fn remove(&mut self, key: &SessionKey) -> Option<C> {
        self.timers.set(*key, None);
        self.calls.remove(key).map(|c| *c)
    }

    /// A call.
    pub fn get(&self, key: &SessionKey) -> Option<&C> {
        self.calls.get(key).map(|c| &**c)
    }

    /// A call, to change.
    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut C> {
        self.calls.get_mut(key).map(|c| &mut **c)
    }

    /// Whether there is a call `key`.
    pub fn contains_key(&self, key: &SessionKey) -> bool {
        self.calls.contains_key(key)
    }

    /// How many calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Every call.
    pub fn iter(&self) -> impl Iterator<Item = (&SessionKey, &C)> {
        self.calls.iter().map(|(k, c)| (k, &**c))
    }

    /// Every call, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut C> {
        self.calls.values_mut().map(|c| &mut **c)
    }

    /// The next thing `key`'s link asks of the role. `None` when the call
    /// is gone, or its link (if any) has nothing more: its timer is then
    /// set to the earliest of the link's and the role's deadlines.
    pub fn next_output(&mut self, key: SessionKey) -> Option<LinkOutput> {
        let Some(c) = self.calls.get_mut(&key) else {
            self.timers.set(key, None);
            return None;
        };
        if let Some(out) = c.link_mut().and_then(Link::poll_output) {
            return Some(out);
        }
        let next = [c.link().and_then(Link::poll_timeout), c.deadline()]
            .into_iter()
            .flatten()
            .min();
        self.timers.set(key, next);
        None
    }

    /// Wakes `key` at `at` (or never), whatever its link says.
    pub fn set_timer(&mut self, key: SessionKey, at: Option<Instant>) {
        self.timers.set(key, at);
    }

    /// A call whose timer is due at `now`, if any (its timer is spent).
    pub fn pop_due(&mut self, now: Instant) -> Option<SessionKey> {
        self.timers.pop_due(now)
    }

    /// The earliest timer of any call.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::{Calls, PppCall};
    use crate::l2tp::SessionKey;
    use crate::ppp::link::Link;
    use std::time::{Duration, Instant};

    /// A call whose PPP has not attached, with a role deadline.
    #[derive(Debug)]
    struct Waiting(Option<Instant>);

    impl PppCall for Waiting {
        fn link(&self) -> Option<&Link> {
            None
        }
        fn link_mut(&mut self) -> Option<&mut Link> {
            None
        }
        fn deadline(&self) -> Option<Instant> {
            self.0
        }
    }

    #[test]
    fn a_call_wakes_at_its_roles_deadline_and_a_gone_one_never() {
        let now = Instant::now();
        let at = now + Duration::from_secs(5);
        let k = SessionKey {
            tunnel: 1,
            session: 2,
        };
        let mut calls = Calls::default();
        calls.insert(k, Waiting(Some(at)));
        assert!(calls.next_output(k).is_none());
        assert_eq!(calls.next_timeout(), Some(at));
        assert_eq!(calls.pop_due(at - Duration::from_millis(1)), None);
        assert_eq!(calls.pop_due(at), Some(k));
        assert_eq!(calls.next_timeout(), None, "spent");

        calls.set_timer(k, Some(at));
        assert!(calls.remove(&k).is_some());
        assert_eq!(calls.next_timeout(), None, "removed with its call");
        // A call that went away while its timer ran: draining it clears
        // the timer.
        calls.set_timer(k, Some(at));
        assert!(calls.next_output(k).is_none());
        assert_eq!(calls.next_timeout(), None);
        assert!(calls.is_empty());
    }
}
