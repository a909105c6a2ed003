//! Why the data plane dropped a packet: one list that makes the enum, the
//! names operators read in metrics, and the counter layout (DESIGN §4,
//! after VPP's `*_error.def`). The workers never log per packet; they
//! count under one of these.

macro_rules! drops {
    ($( $(#[$doc:meta])* $name:ident = $text:literal, )+) => {
        /// A drop reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Drop {
            $( $(#[$doc])* $name, )+
        }

        impl Drop {
            /// Every reason, in counter order.
            pub const ALL: &'static [Drop] = &[$(Drop::$name),+];

            /// The metric label.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Drop::$name => $text, )+
                }
            }
        }
    };
}

drops! {
    /// The frame ends before a header it claims to have.
    Truncated = "truncated",
    /// Not IPv4 or IPv6 over Ethernet (after VLAN tags).
    NotIp = "not_ip",
    /// Outer IPv4 header checksum or length wrong.
    BadIpHeader = "bad_ip_header",
    /// Outer IPv4 fragment: L2TP data must arrive whole here.
    Fragment = "fragment",
    /// Not UDP to the LNS port.
    NotL2tpUdp = "not_l2tp_udp",
    /// L2TP version other than 2, or a control message (T=1).
    NotL2tpData = "not_l2tp_data",
    /// PPP payload other than IPv4 or IPv6 (control frames go to lnsd).
    NotIpPayload = "not_ip_payload",
    /// No session with this tunnel and session id.
    UnknownSession = "unknown_session",
    /// The outer source is not the session's LAC.
    WrongPeer = "wrong_peer",
    /// The subscriber sent from an address that is not theirs.
    Spoofed = "spoofed",
    /// TTL or hop limit ran out.
    TtlExpired = "ttl_expired",
    /// Downstream packet larger than the subscriber's MRU.
    TooBig = "too_big",
    /// No room in the buffer for the encapsulation headers.
    NoHeadroom = "no_headroom",
    /// No next hop resolved yet (or, toward a LAC reached over IPv6, our
    /// address not written yet: it is kept in a next-hop record).
    NoNextHop = "no_next_hop",
    /// Subscriber IPv6 with no IPv6 service: the session has no prefix,
    /// or there is no IPv6 core next hop. Kept apart from `no_next_hop`,
    /// which means an unresolved MAC and is worth an alert.
    Ipv6Unrouted = "ipv6_unrouted",
    /// From a subscriber to its PPP peer address (the LNS) and not an echo
    /// request it answers: nothing for the core.
    ToGateway = "to_gateway",
    /// No free UMEM frame for the fragments of a packet (all of it goes).
    NoFrame = "no_frame",
    /// A data frame for a switched leg from an address other than that
    /// leg's peer (the LAC, or the target LNS).
    SwitchWrongPeer = "switch_wrong_peer",
    /// No room in the buffer for the other leg's headers in front of the
    /// switched PPP frame.
    SwitchNoRoom = "switch_no_room",
    /// A switched frame larger, with the other leg's headers, than its
    /// egress interface's MTU.
    SwitchTooBig = "switch_too_big",
    /// Over the session's policed rate (its token bucket was short).
    RateLimited = "rate_limited",
    /// The worker owning the frame's session had no room in its hand-off
    /// ring (`worker::handoff`): it is behind by a ring's worth.
    HandoffFull = "handoff_full",
    /// A subscriber's IPv6 to a link-scope destination (fe80::/10,
    /// ff02::/16): lnsd's, which the XDP program passes to it. Counted
    /// here only when one reaches a worker all the same.
    Ipv6LinkLocal = "ipv6_link_local",
    /// L2TP over IPv6 whose UDP checksum is wrong or zero (RFC 8200 §8.1:
    /// a zero checksum over IPv6 is discarded).
    BadUdpChecksum = "bad_udp_checksum",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_in_order() {
        let mut seen = std::collections::HashSet::new();
        for (i, d) in Drop::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i);
            assert!(seen.insert(d.name()));
        }
    }
}
