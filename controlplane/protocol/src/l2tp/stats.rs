//! Named counters of the L2TP control channel.
//!
//! One list ([`counters!`]) generates the enum, the names operators see in
//! logs and metrics, and the storage, so a drop can never be counted under
//! a name nobody can read (DESIGN §4, "every drop has a name").

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident = $text:literal, )+) => {
        /// One control-channel counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Counter {
            $( $(#[$doc])* $name, )+
        }

        impl Counter {
            /// Every counter, in storage order.
            pub const ALL: &'static [Counter] = &[$(Counter::$name),+];

            /// The metric-style name (`snake_case`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Counter::$name => $text, )+
                }
            }
        }
    };
}

counters! {
    /// Datagrams handed to the endpoint.
    RxDatagrams = "rx_datagrams",
    /// Control messages accepted by the reliable transport (not ZLBs).
    RxMessages = "rx_messages",
    /// ZLB acknowledgements received.
    RxZlb = "rx_zlb",
    /// Data messages (T=0) seen on the control socket.
    RxData = "rx_data",
    /// Dropped: the L2TP header is unusable (§7.1 "discard").
    DropBadHeader = "drop_bad_header",
    /// Dropped: no tunnel with that id (or tunnel id 0 and not an SCCRQ).
    DropUnknownTunnel = "drop_unknown_tunnel",
    /// Dropped: the datagram's source is not the tunnel's peer.
    DropWrongPeer = "drop_wrong_peer",
    /// Dropped: Nr acknowledges a message never sent.
    DropBogusNr = "drop_bogus_nr",
    /// Duplicate message, acknowledged and otherwise ignored (§5.8).
    RxDuplicate = "rx_duplicate",
    /// Dropped: Ns beyond our receive window.
    DropOutOfWindow = "drop_out_of_window",
    /// Out-of-order message held for in-order delivery.
    RxHeldOutOfOrder = "rx_held_out_of_order",
    /// Message body malformed or with an unknown mandatory AVP (§4.1, §7.1).
    RxMalformed = "rx_malformed",
    /// Unknown message type without the M bit, ignored (§4.4.1).
    RxIgnoredMessage = "rx_ignored_message",
    /// Message not valid in the state it arrived in (§7.1 "improper
    /// sequence").
    RxUnexpected = "rx_unexpected",
    /// Message for a session we do not have.
    RxUnknownSession = "rx_unknown_session",
    /// Message received on a tunnel that is closing, acknowledged only.
    RxWhileClosing = "rx_while_closing",
    /// Tunnel authentication failed (§5.1.1).
    AuthFailed = "auth_failed",
    /// SCCRQ refused: tunnel limit (total or per peer).
    TunnelLimit = "tunnel_limit",
    /// SCCRQ refused by policy (unknown peer, auth needed but no secret).
    TunnelRefused = "tunnel_refused",
    /// Call refused: session limit or calls of that kind not accepted.
    SessionRefused = "session_refused",
    /// Tunnel gave up waiting for the peer to complete SCCRQ/SCCRP/SCCCN.
    TunnelSetupTimeout = "tunnel_setup_timeout",
    /// Refusal not sent: the tunnel's send queue is full.
    DropBacklogFull = "drop_backlog_full",
    /// Session gave up waiting for the peer to complete setup.
    SessionSetupTimeout = "session_setup_timeout",
    /// Tie-breaker collisions resolved (§4.4.3).
    TieBreaks = "tie_breaks",
    /// Datagrams produced.
    TxDatagrams = "tx_datagrams",
    /// Retransmissions (§5.8).
    TxRetransmits = "tx_retransmits",
    /// ZLB acknowledgements sent.
    TxZlb = "tx_zlb",
    /// HELLO keepalives sent (§5.5).
    TxHello = "tx_hello",
    /// Tunnels that reached established.
    TunnelsUp = "tunnels_up",
    /// Tunnels torn down (any cause).
    TunnelsDown = "tunnels_down",
    /// Tunnels torn down because retransmissions ran out.
    TunnelsTimedOut = "tunnels_timed_out",
    /// Sessions that reached established.
    SessionsUp = "sessions_up",
    /// Sessions cleared (any cause).
    SessionsDown = "sessions_down",
    /// Messages that could not be encoded (a local bug or an oversized value).
    EncodeFailed = "encode_failed",
}

/// Counter storage.
#[derive(Debug, Clone)]
pub struct Counters([u64; Counter::ALL.len()]);

impl Default for Counters {
    fn default() -> Self {
        Counters([0; Counter::ALL.len()])
    }
}

impl Counters {
    /// Adds one.
    pub fn inc(&mut self, c: Counter) {
        self.0[c as usize] += 1;
    }

    /// The current value.
    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize]
    }

    /// `(name, value)` for every counter.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c.name(), self.get(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Counter::ALL {
            assert!(seen.insert(c.name()), "{}", c.name());
            assert!(
                c.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                c.name()
            );
        }
        let mut k = Counters::default();
        k.inc(Counter::TxZlb);
        assert_eq!(k.get(Counter::TxZlb), 1);
        assert_eq!(k.iter().filter(|&(_, v)| v == 1).count(), 1);
    }
}
