//! What the control channel needs to know about itself and its peers.
//!
//! Plain values, no parsing: `lnsd` builds these from its TOML file, tests
//! and the emulator build them directly.

use super::transport::TransportConfig;
use std::net::IpAddr;
use std::time::Duration;

/// Tunnel authentication (RFC 2661 §5.1.1) toward one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelAuth {
    /// We send a Challenge and require the right Challenge Response; a
    /// shared secret must be configured.
    Required,
    /// We do not challenge, but answer the peer's challenge when we have a
    /// secret.
    #[default]
    Optional,
}

/// Whether our data messages to a peer's sessions carry Ns/Nr (RFC 2661
/// §5.4). A LAC that asks for sequencing (a Linux LAC with
/// `pppol2tp_recv_seq`) discards every unsequenced data message, our LCP
/// Configure-Requests included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataSequencing {
    /// Sequence a session once the peer asks: Sequencing Required (AVP 39)
    /// in its ICCN/OCCN, or the S bit on any data message it sends.
    #[default]
    Auto,
    /// Sequence every session of this peer.
    Always,
    /// Never sequence, even if asked (§5.4 lets the LAC require it; a peer
    /// that does will drop our frames: an operator's override).
    Never,
}

/// Policy for one peer (or the default for all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Shared secret for tunnel authentication and AVP hiding (§4.3).
    pub secret: Option<Vec<u8>>,
    /// Whether we challenge the peer.
    pub auth: TunnelAuth,
    /// Hide every hideable AVP we send (needs `secret`). Hidden AVPs we
    /// receive are always understood when a secret is configured.
    pub hide_avps: bool,
    /// With `hide_avps`, hide in SCCRQ and SCCRP too. Off by default: a
    /// peer that looks its secret up while authenticating the tunnel, after
    /// parsing the message (xl2tpd), cannot unhide them; see
    /// `Tunnel::queue`.
    pub hide_avps_in_tunnel_setup: bool,
    /// Accept SCCRQs from this peer.
    pub accept_tunnels: bool,
    /// Accept incoming calls (ICRQ): the LNS role.
    pub accept_incoming_calls: bool,
    /// Answer outgoing-call requests (OCRQ): the LAC role. The call is
    /// reported connected at once (there is no real bearer to wait for).
    pub answer_outgoing_calls: bool,
    /// Sequence numbers on our data messages.
    pub data_sequencing: DataSequencing,
    /// Our Host Name toward this peer (RFC 2661 §4.4.3) when it is not the
    /// endpoint's: the multi-hop gateway's Tunnel-Client-Auth-ID (RFC
    /// 2868 §3.9).
    pub host_name: Option<Vec<u8>>,
}

impl Default for PeerPolicy {
    fn default() -> Self {
        PeerPolicy {
            secret: None,
            auth: TunnelAuth::Optional,
            hide_avps: false,
            hide_avps_in_tunnel_setup: false,
            accept_tunnels: true,
            accept_incoming_calls: true,
            answer_outgoing_calls: false,
            data_sequencing: DataSequencing::Auto,
            host_name: None,
        }
    }
}

/// A peer rule: a policy for one address, or for any address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRule {
    /// The peer's address; `None` matches every peer.
    pub address: Option<IpAddr>,
    /// What applies to it.
    pub policy: PeerPolicy,
}

/// Endpoint-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Host Name AVP we send (§4.4.3).
    pub host_name: Vec<u8>,
    /// Vendor Name AVP we send.
    pub vendor_name: Vec<u8>,
    /// Firmware Revision AVP we send.
    pub firmware_revision: u16,
    /// Reliable transport timers and window.
    pub transport: TransportConfig,
    /// Idle time before a HELLO (§5.5); zero disables keepalives.
    pub hello_interval: Duration,
    /// Time a call may take from request to connect before it is cleared.
    pub session_setup_timeout: Duration,
    /// Tunnels in total (both roles).
    pub max_tunnels: usize,
    /// Tunnels per peer address.
    pub max_tunnels_per_peer: usize,
    /// Sessions per tunnel (at most 65,535: session id 0 is reserved).
    pub max_sessions_per_tunnel: usize,
    /// Send a Tie Breaker AVP in our SCCRQs (§4.4.3).
    pub tie_breaker: bool,
    /// An OCRQ we accept waits for [`super::Endpoint::answer_outgoing`]
    /// (the multi-hop gateway relays it to a LAC first, §7.5.1
    /// wait-cs-answer), reported as [`super::Event::OutgoingCallRequest`];
    /// otherwise the call answers at once (no bearer here to wait for).
    pub defer_outgoing_answer: bool,
    /// Peer rules, first match wins; no match means the peer is refused.
    pub peers: Vec<PeerRule>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            host_name: b"xlns".to_vec(),
            vendor_name: b"xlns".to_vec(),
            firmware_revision: 0x0100,
            transport: TransportConfig::default(),
            hello_interval: Duration::from_secs(60),
            session_setup_timeout: Duration::from_secs(30),
            max_tunnels: 10_000,
            max_tunnels_per_peer: 64,
            max_sessions_per_tunnel: 65_535,
            tie_breaker: true,
            defer_outgoing_answer: false,
            peers: vec![PeerRule {
                address: None,
                policy: PeerPolicy::default(),
            }],
        }
    }
}

impl EndpointConfig {
    /// The policy for a peer address, if any rule matches.
    pub fn policy_for(&self, ip: IpAddr) -> Option<&PeerPolicy> {
        self.peers
            .iter()
            .find(|r| r.address.is_none_or(|a| a == ip))
            .map(|r| &r.policy)
    }
}
