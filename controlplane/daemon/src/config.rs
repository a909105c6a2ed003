//! `lnsd`'s configuration file (TOML), its validation, and its translation
//! into the engine's settings.
//!
//! Contract: [`Config::parse`] either returns a configuration every part of
//! the daemon can use as is, or an error whose text names the offending
//! key (unknown keys are errors, not ignored: a typo must not silently
//! fall back to a default). `deploy/lnsd.example.toml` documents every key;
//! a test parses it, so it cannot drift from this schema.

use lns_protocol::l2tp::transport::TransportConfig;
use lns_protocol::l2tp::{
    CallParams, DataSequencing, EndpointConfig, PeerPolicy, PeerRule, TunnelAuth,
};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[l2tp]`: the control channel.
    pub l2tp: L2tp,
    /// `[[peer]]`: who may talk to us and how.
    #[serde(default, rename = "peer")]
    pub peers: Vec<Peer>,
    /// `[[lac]]`: tunnels lnsd opens itself, acting as a LAC.
    #[serde(default, rename = "lac")]
    pub lacs: Vec<Lac>,
    /// `[ppp]`: subscriber PPP and addressing.
    #[serde(default)]
    pub ppp: Ppp,
    /// `[[pool]]`: IPv4 address pools.
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolCfg>,
    /// `[ipv6]`: IPv6 on subscriber links (Router Advertisements).
    #[serde(default)]
    pub ipv6: Ipv6Cfg,
    /// `[[ipv6_pool]]`: IPv6 prefix pools.
    #[serde(default, rename = "ipv6_pool")]
    pub ipv6_pools: Vec<Ipv6PoolCfg>,
    /// `[radius]`: RADIUS authentication, accounting, Disconnect/CoA.
    pub radius: Option<Radius>,
    /// `[dataplane]`: the AF_XDP forwarding process.
    #[serde(default)]
    pub dataplane: Dataplane,
    /// `[admin]`: the gRPC admin API (lnsctl).
    #[serde(default)]
    pub admin: Admin,
    /// `[metrics]`: Prometheus.
    #[serde(default)]
    pub metrics: MetricsCfg,
    /// `[log]`.
    #[serde(default)]
    pub log: Log,
    /// `[switch]`: the multi-hop gateway's timers.
    #[serde(default)]
    pub switch: SwitchCfg,
    /// `[[realm]]`: calls of `user@realm` switched to other LNSs.
    #[serde(default, rename = "realm")]
    pub realms: Vec<Realm>,
    /// `[[dialout]]`: outgoing calls (OCRQ) from LNSs relayed to LACs.
    #[serde(default, rename = "dialout")]
    pub dialouts: Vec<Dialout>,
    /// `[[rate_profile]]`: named rates (RADIUS Filter-Id and Cisco-AVPair
    /// name them; pools and local users default to them).
    #[serde(default, rename = "rate_profile")]
    pub rate_profiles: Vec<RateProfile>,
    /// `[rates]`: what an unusable RADIUS rate does.
    #[serde(default)]
    pub rates: RatesCfg,
}

/// `[[rate_profile]]`: a rate each way (speeds as `"100M"`, `"512k"`,
/// `"1.5G"`; a direction left out is not limited), with optional bursts
/// in bytes (default: 100 ms at the rate, at least 12,000).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateProfile {
    /// The name RADIUS and the rest of the file use.
    pub name: String,
    /// To the subscriber.
    pub down: Option<String>,
    /// From the subscriber.
    pub up: Option<String>,
    /// Bucket depth downstream, bytes.
    pub down_burst: Option<u64>,
    /// Bucket depth upstream, bytes.
    pub up_burst: Option<u64>,
}

/// `[rates]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RatesCfg {
    /// `"refuse"` (the default): a session whose Access-Accept carries a
    /// rate that does not parse, or names no profile, is refused;
    /// `"fallback"`: it gets `fallback_profile` instead.
    #[serde(default)]
    pub on_invalid: OnInvalidCfg,
    /// The profile for `on_invalid = "fallback"`.
    pub fallback_profile: Option<String>,
}

/// `rates.on_invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalidCfg {
    /// Refuse the session.
    #[default]
    Refuse,
    /// Use `rates.fallback_profile`.
    Fallback,
}

/// `[[dialout]]`: the LACs that place outgoing calls to numbers starting
/// with `called` (the longest matching prefix wins; "" matches every
/// number).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialout {
    /// A Called Number prefix.
    pub called: String,
    /// `[[dialout.lac]]`: the LACs, tried by preference (the same keys as
    /// `[[realm.lns]]`).
    pub lac: Vec<RealmLns>,
}

/// `[switch]`: how the multi-hop gateway treats target LNSs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchCfg {
    /// Seconds a target LNS that failed is skipped.
    #[serde(default = "default_hold_down")]
    pub hold_down_secs: u64,
    /// Seconds a tunnel toward an LNS stays open without sessions.
    #[serde(default = "default_tunnel_idle")]
    pub tunnel_idle_secs: u64,
    /// Seconds a target has to bring the onward call up before the next
    /// target is tried.
    #[serde(default = "default_target_timeout")]
    pub target_timeout_secs: u64,
    /// Our address toward LNSs (one of `l2tp.listen`; default: the address
    /// the LAC reached us on).
    pub local: Option<SocketAddr>,
    /// Data sequencing toward LNSs (besides what the LAC asks).
    #[serde(default)]
    pub data_sequencing: SequencingMode,
    /// Tunnels opened to one LNS for calls without an assignment id, a
    /// new one for every 32 calls up to this many.
    #[serde(default = "default_tunnels_per_lns")]
    pub tunnels_per_lns: usize,
}

impl Default for SwitchCfg {
    fn default() -> Self {
        SwitchCfg {
            hold_down_secs: default_hold_down(),
            tunnel_idle_secs: default_tunnel_idle(),
            target_timeout_secs: default_target_timeout(),
            local: None,
            data_sequencing: SequencingMode::Auto,
            tunnels_per_lns: default_tunnels_per_lns(),
        }
    }
}

fn default_hold_down() -> u64 {
    60
}
fn default_tunnel_idle() -> u64 {
    10
}
fn default_target_timeout() -> u64 {
    5
}
fn default_tunnels_per_lns() -> usize {
    8
}

/// `[[realm]]`: the LNSs that serve `user@name` (`*`: every realm no other
/// rule names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Realm {
    /// The realm, after the user name's last '@' (case does not matter).
    pub name: String,
    /// `[[realm.lns]]`: the target LNSs, tried by preference.
    pub lns: Vec<RealmLns>,
}

/// `[[realm.lns]]`: one target LNS of a realm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmLns {
    /// Its address.
    pub address: IpAddr,
    /// Its L2TP port.
    #[serde(default = "default_l2tp_port")]
    pub port: u16,
    /// The tunnel secret.
    pub secret: Option<String>,
    /// Hide AVPs toward it (needs `secret`).
    #[serde(default)]
    pub hide_avps: bool,
    /// Lower is tried first (RFC 2868 §3.8).
    #[serde(default = "default_one")]
    pub preference: u32,
    /// Load weight among LNSs of equal preference (0: only when the others
    /// failed).
    #[serde(default = "default_one")]
    pub weight: u32,
    /// Calls with the same LNS and assignment id share a tunnel (RFC 2868
    /// §3.7).
    pub assignment_id: Option<String>,
}

fn default_l2tp_port() -> u16 {
    1701
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Where the gRPC admin API listens. Loopback by default; any other
    /// address needs `tls_cert`, `tls_key` and `token_file`.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain for TLS.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for TLS.
    pub tls_key: Option<std::path::PathBuf>,
    /// A file holding the bearer token clients must present
    /// (`authorization: Bearer TOKEN`); surrounding whitespace is ignored.
    pub token_file: Option<std::path::PathBuf>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: default_admin_listen(),
            tls_cert: None,
            tls_key: None,
            token_file: None,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsCfg {
    /// Where `GET /metrics` is served (Prometheus text format); absent:
    /// no metrics endpoint.
    pub listen: Option<SocketAddr>,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

/// Who runs `lns-dataplane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataplaneMode {
    /// No data plane: sessions come up, subscriber traffic is not forwarded.
    #[default]
    Off,
    /// lnsd creates the tables, starts `lns-dataplane` and restarts it if
    /// it dies.
    Supervised,
    /// lnsd creates the tables; something else (systemd) runs the process.
    External,
}

/// `[dataplane]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataplane {
    /// See [`DataplaneMode`].
    #[serde(default)]
    pub mode: DataplaneMode,
    /// The `lns-dataplane` executable (default: next to `lnsd`).
    pub binary: Option<std::path::PathBuf>,
    /// The shared-memory table file.
    #[serde(default = "default_table")]
    pub table: std::path::PathBuf,
    /// Session slots in the table.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// Workers (one per receive queue of each interface).
    #[serde(default = "default_one")]
    pub workers: u32,
    /// CPU cores to pin the workers to, in order (empty: not pinned).
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Spread each tunnel's sessions over every worker: a frame is
    /// worked by the worker owning its session, whichever queue received
    /// it (one LAC's tunnel is one 5-tuple, which RSS puts on one queue).
    #[serde(default)]
    pub handoff: bool,
    /// The interface toward the LACs.
    pub access_interface: Option<String>,
    /// The interface toward the core (default: the access interface).
    pub core_interface: Option<String>,
    /// The core-side IPv4 gateway subscriber traffic is sent to.
    pub core_gateway: Option<Ipv4Addr>,
    /// The core-side IPv6 gateway subscriber IPv6 is sent to (its global
    /// or link-local address on the core interface, resolved by Neighbor
    /// Discovery). None: subscriber IPv6 is dropped as `ipv6_unrouted`.
    pub core_gateway6: Option<Ipv6Addr>,
    /// The LNS address the LACs send data to (default: the first IPv4
    /// address in `l2tp.listen`).
    pub lns_address: Option<Ipv4Addr>,
    /// The same for LACs that reach us over IPv6 (default: the first
    /// global IPv6 address in `l2tp.listen`).
    pub lns_address6: Option<Ipv6Addr>,
    /// Source of ICMP "fragmentation needed" toward the core (none: such
    /// packets are dropped and counted without an error).
    pub icmp_source: Option<Ipv4Addr>,
    /// Source of ICMPv6 "packet too big" toward the core (none: such
    /// packets are dropped and counted without an error).
    pub icmp_source6: Option<Ipv6Addr>,
    /// Lowest XDP attach mode accepted: "native-zerocopy", "native-copy"
    /// or "generic".
    #[serde(default = "default_lowest_mode")]
    pub lowest_mode: LowestMode,
    /// "wakeup" (sleep when idle) or "busy" (spin: a full core per worker).
    #[serde(default)]
    pub polling: PollingMode,
    /// Pause before restarting a data plane that died, milliseconds;
    /// doubled after each death that follows a short run (up to 60 s),
    /// back to this after a run of 30 s.
    #[serde(default = "default_restart_delay")]
    pub restart_delay_ms: u64,
    /// How often next hops are re-read from the kernel, seconds.
    #[serde(default = "default_neighbour_refresh")]
    pub neighbour_refresh_secs: u64,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            mode: DataplaneMode::Off,
            binary: None,
            table: default_table(),
            capacity: default_capacity(),
            workers: 1,
            cores: Vec::new(),
            handoff: false,
            access_interface: None,
            core_interface: None,
            core_gateway: None,
            core_gateway6: None,
            lns_address: None,
            lns_address6: None,
            icmp_source: None,
            icmp_source6: None,
            lowest_mode: default_lowest_mode(),
            polling: PollingMode::Wakeup,
            restart_delay_ms: default_restart_delay(),
            neighbour_refresh_secs: default_neighbour_refresh(),
        }
    }
}

fn default_table() -> std::path::PathBuf {
    std::path::PathBuf::from("/dev/shm/xlns.table")
}
/// 2^20: a million sessions with a twentieth spare, so nearly every one
/// sits in its home slot (OPERATIONS.md, Capacity).
fn default_capacity() -> u32 {
    1 << 20
}
fn default_lowest_mode() -> LowestMode {
    LowestMode(lns_dataplane::loader::AttachMode::Generic)
}

/// `dataplane.lowest_mode`: an XDP attach mode, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowestMode(pub lns_dataplane::loader::AttachMode);

impl<'de> Deserialize<'de> for LowestMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        lns_dataplane::loader::AttachMode::parse(&text)
            .map(LowestMode)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "dataplane.lowest_mode {text:?}: must be \"native-zerocopy\", \
                     \"native-copy\" or \"generic\""
                ))
            })
    }
}

/// `dataplane.polling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PollingMode {
    /// Sleep in `poll` when idle.
    #[default]
    Wakeup,
    /// Spin on the rings.
    Busy,
}

impl<'de> Deserialize<'de> for PollingMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "wakeup" => Ok(PollingMode::Wakeup),
            "busy" => Ok(PollingMode::Busy),
            other => Err(serde::de::Error::custom(format!(
                "dataplane.polling {other:?}: must be \"wakeup\" or \"busy\""
            ))),
        }
    }
}
fn default_restart_delay() -> u64 {
    500
}
fn default_neighbour_refresh() -> u64 {
    5
}

/// `[ppp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ppp {
    /// Authentication protocols demanded, in order of preference:
    /// `"mschapv2"`, `"chap"`, `"pap"`. Empty: no authentication.
    #[serde(default = "default_auth")]
    pub auth: Vec<AuthName>,
    /// MRU we ask for.
    #[serde(default = "default_mru")]
    pub mru: u16,
    /// Lowest subscriber MRU accepted (lower ones are Nak'd up to it).
    #[serde(default = "default_min_mru")]
    pub min_peer_mru: u16,
    /// Hold MRUs to what fits the access link (see [`Config::fitted_mru`]):
    /// a larger subscriber MRU is Nak'd down, and ours asks no more.
    /// Needs `dataplane.access_interface`.
    #[serde(default)]
    pub mru_fit_access_mtu: bool,
    /// Seconds between LCP Echo-Requests (0: no keepalive).
    #[serde(default = "default_echo")]
    pub echo_interval_secs: u64,
    /// Unanswered Echo-Requests before the subscriber is declared dead.
    #[serde(default = "default_echo_failures")]
    pub echo_failures: u32,
    /// Send an Echo-Request only when nothing came from the subscriber
    /// since the last one (pppd's `lcp-echo-adaptive`).
    #[serde(default = "default_true")]
    pub echo_adaptive: bool,
    /// Seconds without traffic from the subscriber before the session
    /// ends (RFC 2865 Idle-Timeout, when RADIUS does not send one; 0:
    /// never).
    #[serde(default)]
    pub idle_timeout_secs: u64,
    /// RFC 1661 §4.6 restart timer, seconds.
    #[serde(default = "default_restart")]
    pub restart_secs: u64,
    /// Max-Configure.
    #[serde(default = "default_max_configure")]
    pub max_configure: u32,
    /// Max-Terminate.
    #[serde(default = "default_max_terminate")]
    pub max_terminate: u32,
    /// Max-Failure.
    #[serde(default = "default_max_failure")]
    pub max_failure: u32,
    /// CHAP challenges (or PAP waits) before authentication fails.
    #[serde(default = "default_auth_tries")]
    pub auth_tries: u32,
    /// Seconds from call setup to an authenticated subscriber before the
    /// call is cleared.
    #[serde(default = "default_ppp_setup")]
    pub setup_timeout_secs: u64,
    /// Resend our LCP Configure-Request at once when the subscriber's
    /// first one finds ours unanswered: a LAC that attaches PPP after the
    /// call connected (xl2tpd with pppd) lost ours, and the link would
    /// otherwise wait `restart_secs`. One that comes within 2 ms of ours
    /// crossed it and is answered without a resend
    /// (`ppp::automaton::CROSSING`).
    #[serde(default = "default_true")]
    pub lcp_fast_start: bool,
    /// Negotiate IPv6CP. Off by default; with it on and `ipv6.ra`, each
    /// link gets a /64 by Router Advertisement, which the data plane
    /// forwards (with `dataplane.core_gateway6`); with it off, a
    /// subscriber's IPv6CP is Protocol-Rejected (RFC 1661 §5.7) and its
    /// IPv6 stack stays quiet.
    #[serde(default)]
    pub ipv6: bool,
    /// Our address as the subscribers' IPCP peer.
    #[serde(default = "default_gateway")]
    pub gateway: Ipv4Addr,
    /// DNS servers offered (RFC 1877), at most two.
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// The local users file (see `deploy/users.example.toml`).
    pub users_file: Option<std::path::PathBuf>,
    /// Pool for users without one.
    #[serde(default = "default_pool_name")]
    pub default_pool: String,
}

impl Default for Ppp {
    fn default() -> Self {
        Ppp {
            auth: default_auth(),
            mru: default_mru(),
            min_peer_mru: default_min_mru(),
            mru_fit_access_mtu: false,
            echo_interval_secs: default_echo(),
            echo_failures: default_echo_failures(),
            echo_adaptive: true,
            idle_timeout_secs: 0,
            restart_secs: default_restart(),
            max_configure: default_max_configure(),
            max_terminate: default_max_terminate(),
            max_failure: default_max_failure(),
            auth_tries: default_auth_tries(),
            setup_timeout_secs: default_ppp_setup(),
            lcp_fast_start: true,
            ipv6: false,
            gateway: default_gateway(),
            dns: Vec::new(),
            users_file: None,
            default_pool: default_pool_name(),
        }
    }
}

/// An authentication protocol name in `ppp.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthName {
    /// MS-CHAPv2.
    Mschapv2,
    /// CHAP-MD5.
    Chap,
    /// PAP.
    Pap,
}

/// `[radius]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radius {
    /// NAS-Identifier (default: `l2tp.host_name`).
    pub nas_identifier: Option<String>,
    /// NAS-IP-Address.
    pub nas_ip: Option<Ipv4Addr>,
    /// Address the RADIUS client socket binds.
    #[serde(default = "default_radius_source")]
    pub source: SocketAddr,
    /// Seconds before a retransmission.
    #[serde(default = "default_restart")]
    pub timeout_secs: u64,
    /// Transmissions per server before failing over.
    #[serde(default = "default_radius_tries")]
    pub tries: u32,
    /// Seconds a server that stopped answering is skipped.
    #[serde(default = "default_dead_time")]
    pub dead_time_secs: u64,
    /// Interim-Update interval when RADIUS sets none (0: none).
    #[serde(default)]
    pub interim_interval_secs: u64,
    /// Authentication servers, in order of preference.
    #[serde(default)]
    pub auth: Vec<RadiusServer>,
    /// Accounting servers, in order of preference.
    #[serde(default)]
    pub acct: Vec<RadiusServer>,
    /// Disconnect/CoA listener (RFC 5176).
    pub dae: Option<Dae>,
}

/// `[[radius.auth]]`, `[[radius.acct]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServer {
    /// `"host:port"`.
    pub address: SocketAddr,
    /// Shared secret.
    pub secret: String,
}

/// `[radius.dae]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dae {
    /// Address to listen on (port 3799 by RFC 5176).
    pub listen: SocketAddr,
    /// Who may send Disconnect/CoA requests.
    #[serde(default, rename = "client")]
    pub clients: Vec<DaeClient>,
}

/// `[[radius.dae.client]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaeClient {
    /// The client's IP address.
    pub address: IpAddr,
    /// Shared secret.
    pub secret: String,
}

/// `[[pool]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolCfg {
    /// Pool name (users and `ppp.default_pool` refer to it).
    pub name: String,
    /// Ranges: `"a.b.c.d-e.f.g.h"` or `"a.b.c.d/nn"`, parsed once here.
    pub ranges: Vec<lns_protocol::aaa::pool::Range>,
    /// The rate profile of sessions leasing from this pool, when RADIUS
    /// and the local user give none.
    pub rate_profile: Option<String>,
}

/// `[[ipv6_pool]]`: a block handing out prefixes of one length.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipv6PoolCfg {
    /// Pool name (`ipv6.pool` and RADIUS Framed-IPv6-Pool refer to it).
    pub name: String,
    /// The block, `"2001:db8:100::/40"`.
    pub prefix: lns_protocol::aaa::prefix::Ipv6Net,
    /// The length of each prefix handed out (64 for a subscriber link).
    #[serde(default = "default_v6_length")]
    pub length: u8,
}

fn default_v6_length() -> u8 {
    64
}

/// `[ipv6]`: IPv6 on subscriber links once their IPv6CP opens (needs
/// `ppp.ipv6`). Names follow RFC 4861 §6.2.1.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipv6Cfg {
    /// Send Router Advertisements with a /64 per link (RFC 4861, 4862).
    #[serde(default)]
    pub ra: bool,
    /// The `[[ipv6_pool]]` of /64s for links RADIUS gives no prefix to.
    pub pool: Option<String>,
    /// M flag: addresses by DHCPv6.
    #[serde(default)]
    pub managed: bool,
    /// O flag: other configuration (DNS) by DHCPv6.
    #[serde(default)]
    pub other: bool,
    /// Recursive DNS servers in each advertisement (RFC 8106 §5.1).
    #[serde(default)]
    pub dns: Vec<std::net::Ipv6Addr>,
    /// DNS search list in each advertisement (RFC 8106 §5.2).
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// MaxRtrAdvInterval, seconds (4 to 1800); MinRtrAdvInterval is a
    /// third of it (at least 3).
    #[serde(default = "default_ra_interval")]
    pub ra_interval_secs: u32,
    /// Router Lifetime, seconds (default three intervals).
    pub router_lifetime_secs: Option<u16>,
    /// The prefix's valid lifetime, seconds.
    #[serde(default = "default_valid_lifetime")]
    pub valid_lifetime_secs: u32,
    /// The prefix's preferred lifetime, seconds.
    #[serde(default = "default_preferred_lifetime")]
    pub preferred_lifetime_secs: u32,
    /// An MTU option (none: the subscriber's MRU stands).
    pub mtu: Option<u32>,
    /// A DHCPv6 server on each link (RFC 8415; needs `ra`).
    #[serde(default)]
    pub dhcpv6: bool,
    /// The `[[ipv6_pool]]` delegated prefixes (IA_PD) come from when
    /// RADIUS gives no Delegated-IPv6-Prefix or -Pool (none: no prefix
    /// delegation but RADIUS's).
    pub dhcpv6_pd_pool: Option<String>,
    /// Also offer an address (IA_NA): the link's /64 with the
    /// subscriber's interface identifier.
    #[serde(default)]
    pub dhcpv6_address: bool,
    /// Answer a Solicit with Rapid Commit by a Reply at once.
    #[serde(default = "default_true")]
    pub dhcpv6_rapid_commit: bool,
    /// The server's DUID, hex (default: a DUID-UUID of /etc/machine-id,
    /// which stays the same across restarts).
    pub dhcpv6_duid: Option<String>,
}

/// `"00:04:ab..."` or `"0004ab..."` as bytes.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let h: String = s.chars().filter(|c| *c != ':').collect();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A DUID-UUID (RFC 6355) of this host's machine id, the same across
/// restarts; without one, of its host name.
fn machine_duid() -> Vec<u8> {
    let id = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .and_then(|s| unhex(s.trim()))
        .filter(|b| b.len() == 16);
    let uuid = id.unwrap_or_else(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut u = [0u8; 16];
        for (i, b) in name.trim().bytes().enumerate() {
            u[i % 16] = u[i % 16].wrapping_mul(31).wrapping_add(b);
        }
        u.to_vec()
    });
    let mut u = [0u8; 16];
    u.copy_from_slice(&uuid);
    lns_protocol::ipv6::dhcp::duid_uuid(u)
}

fn default_ra_interval() -> u32 {
    600
}

fn default_valid_lifetime() -> u32 {
    2_592_000
}

fn default_preferred_lifetime() -> u32 {
    604_800
}

impl Default for Ipv6Cfg {
    fn default() -> Self {
        Ipv6Cfg {
            ra: false,
            pool: None,
            managed: false,
            other: false,
            dns: Vec::new(),
            dns_search: Vec::new(),
            ra_interval_secs: default_ra_interval(),
            router_lifetime_secs: None,
            valid_lifetime_secs: default_valid_lifetime(),
            preferred_lifetime_secs: default_preferred_lifetime(),
            mtu: None,
            dhcpv6: false,
            dhcpv6_pd_pool: None,
            dhcpv6_address: false,
            dhcpv6_rapid_commit: true,
            dhcpv6_duid: None,
        }
    }
}

impl Ipv6Cfg {
    /// The DHCPv6 server's settings (with `dhcpv6`), unchecked.
    pub fn dhcp_settings(&self) -> Option<lns_protocol::lns::DhcpSettings> {
        if !self.dhcpv6 {
            return None;
        }
        let duid = match &self.dhcpv6_duid {
            Some(hex) => unhex(hex).unwrap_or_default(),
            None => machine_duid(),
        };
        Some(lns_protocol::lns::DhcpSettings {
            server: lns_protocol::ipv6::dhcp::ServerConfig {
                duid,
                preferred: self.preferred_lifetime_secs,
                valid: self.valid_lifetime_secs,
                rapid_commit: self.dhcpv6_rapid_commit,
                preference: 255,
                dns: self.dns.clone(),
                domains: self.dns_search.clone(),
            },
            pd_pool: self.dhcpv6_pd_pool.clone(),
            address: self.dhcpv6_address,
        })
    }

    /// The advertisements' settings, unchecked.
    pub fn ra_config(&self) -> lns_protocol::ipv6::nd::RaConfig {
        let max = self.ra_interval_secs;
        lns_protocol::ipv6::nd::RaConfig {
            managed: self.managed,
            other: self.other,
            router_lifetime: self.router_lifetime_secs.unwrap_or_else(|| {
                u16::try_from(max.saturating_mul(3))
                    .unwrap_or(9000)
                    .min(9000)
            }),
            mtu: self.mtu,
            valid_lifetime: self.valid_lifetime_secs,
            preferred_lifetime: self.preferred_lifetime_secs,
            dns: self.dns.clone(),
            search: self.dns_search.clone(),
            dns_lifetime: max.saturating_mul(3),
            max_interval: max,
            min_interval: (max / 3).max(3),
            ..Default::default()
        }
    }
}

/// `[l2tp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2tp {
    /// UDP addresses to bind (`"10.0.0.1:1701"`).
    pub listen: Vec<SocketAddr>,
    /// Host Name AVP we send.
    #[serde(default = "default_host_name")]
    pub host_name: String,
    /// Vendor Name AVP we send.
    #[serde(default = "default_host_name")]
    pub vendor_name: String,
    /// Seconds without a message before a HELLO (0: never).
    #[serde(default = "default_hello")]
    pub hello_interval_secs: u64,
    /// Seconds a call may take from request to connect.
    #[serde(default = "default_setup")]
    pub session_setup_timeout_secs: u64,
    /// Tunnels in total.
    #[serde(default = "default_max_tunnels")]
    pub max_tunnels: usize,
    /// Tunnels per peer address.
    #[serde(default = "default_max_per_peer")]
    pub max_tunnels_per_peer: usize,
    /// Sessions per tunnel (1..=65535).
    #[serde(default = "default_max_sessions")]
    pub max_sessions_per_tunnel: usize,
    /// Send a Tie Breaker AVP in our SCCRQs.
    #[serde(default = "default_true")]
    pub tie_breaker: bool,
    /// Seconds to wait on SIGTERM for peers to acknowledge our StopCCNs.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout_secs: u64,
    /// `[l2tp.transport]`.
    #[serde(default)]
    pub transport: Transport,
}

/// `[l2tp.transport]`: RFC 2661 §5.8 timers and windows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// First retransmission timeout, ms.
    #[serde(default = "default_rto")]
    pub retransmit_initial_ms: u64,
    /// Backoff cap, ms (the RFC asks for at least 8000).
    #[serde(default = "default_rto_max")]
    pub retransmit_max_ms: u64,
    /// Retransmissions before the tunnel is cleared.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// How long an acknowledgement may wait to ride on a message, ms.
    #[serde(default = "default_ack_delay")]
    pub ack_delay_ms: u64,
    /// Our Receive Window Size (1..=65535).
    #[serde(default = "default_rws")]
    pub receive_window: u16,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            retransmit_initial_ms: default_rto(),
            retransmit_max_ms: default_rto_max(),
            max_retries: default_retries(),
            ack_delay_ms: default_ack_delay(),
            receive_window: default_rws(),
        }
    }
}

/// `[[peer]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's IP address; omit for the rule that matches every peer.
    pub address: Option<IpAddr>,
    /// Shared secret (tunnel authentication and AVP hiding).
    pub secret: Option<String>,
    /// `"required"`: we challenge the peer; `"optional"`: we only answer
    /// its challenge.
    #[serde(default)]
    pub tunnel_auth: AuthMode,
    /// Hide every hideable AVP we send (needs `secret`).
    #[serde(default)]
    pub hide_avps: bool,
    /// With `hide_avps`, hide in SCCRQ and SCCRP too (xl2tpd cannot
    /// unhide those).
    #[serde(default)]
    pub hide_avps_in_tunnel_setup: bool,
    /// Accept tunnels this peer opens.
    #[serde(default = "default_true")]
    pub accept_tunnels: bool,
    /// Accept incoming calls (ICRQ) from it.
    #[serde(default = "default_true")]
    pub accept_incoming_calls: bool,
    /// Answer its outgoing-call requests (OCRQ) as a LAC.
    #[serde(default)]
    pub answer_outgoing_calls: bool,
    /// Ns/Nr on our data messages (RFC 2661 §5.4): `"auto"` (when the
    /// peer asks), `"always"` or `"never"`.
    #[serde(default)]
    pub data_sequencing: SequencingMode,
}

/// `data_sequencing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequencingMode {
    /// When the peer sends Sequencing Required or sequenced data.
    #[default]
    Auto,
    /// Every session.
    Always,
    /// No session.
    Never,
}

/// `tunnel_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Challenge the peer.
    Required,
    /// Answer challenges only.
    #[default]
    Optional,
}

/// `[[lac]]`: lnsd acting as a LAC toward an LNS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lac {
    /// The LNS to open a tunnel to.
    pub lns: SocketAddr,
    /// Our address for it (one of `l2tp.listen`; default: the first).
    pub local: Option<SocketAddr>,
    /// Incoming calls to place once the tunnel is up.
    #[serde(default = "default_one")]
    pub calls: u32,
    /// Calling Number for those calls.
    pub calling_number: Option<String>,
    /// Called Number for those calls.
    pub called_number: Option<String>,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// A `tracing` filter: `"info"`, `"debug"`, `"lns_protocol=debug"`.
    /// `RUST_LOG` overrides it.
    #[serde(default = "default_level")]
    pub level: String,
    /// Seconds between the info-level summaries of sessions set up and
    /// ended (each session's own lines are at debug, target
    /// `lnsd::session`); 0: no summaries.
    #[serde(default = "default_summary_secs")]
    pub summary_secs: u64,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: default_level(),
            summary_secs: default_summary_secs(),
        }
    }
}

fn default_summary_secs() -> u64 {
    10
}

fn default_host_name() -> String {
    "xlns".into()
}
fn default_hello() -> u64 {
    60
}
fn default_setup() -> u64 {
    30
}
fn default_max_tunnels() -> usize {
    10_000
}
fn default_max_per_peer() -> usize {
    64
}
fn default_max_sessions() -> usize {
    65_535
}
fn default_true() -> bool {
    true
}
fn default_shutdown() -> u64 {
    5
}
fn default_rto() -> u64 {
    1000
}
fn default_rto_max() -> u64 {
    8000
}
fn default_retries() -> u32 {
    5
}
fn default_ack_delay() -> u64 {
    100
}
fn default_rws() -> u16 {
    16
}
fn default_one() -> u32 {
    1
}
fn default_level() -> String {
    "info".into()
}
fn default_auth() -> Vec<AuthName> {
    vec![AuthName::Mschapv2, AuthName::Chap, AuthName::Pap]
}
fn default_mru() -> u16 {
    1460
}
fn default_min_mru() -> u16 {
    576
}
fn default_echo() -> u64 {
    30
}
fn default_echo_failures() -> u32 {
    3
}
fn default_restart() -> u64 {
    3
}
fn default_max_configure() -> u32 {
    10
}
fn default_max_terminate() -> u32 {
    2
}
fn default_max_failure() -> u32 {
    5
}
fn default_auth_tries() -> u32 {
    10
}
fn default_ppp_setup() -> u64 {
    60
}
fn default_gateway() -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, 1)
}
fn default_pool_name() -> String {
    "default".into()
}
fn default_radius_source() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
fn default_radius_tries() -> u32 {
    3
}
fn default_dead_time() -> u64 {
    30
}

/// The largest MRU whose frames fit an access link of `mtu` bytes: less
/// the data plane's encapsulation of a session with sequence numbers (no
/// 802.1Q tag: lnsd builds none), which covers a session without them too
/// (RFC 2661 §3.1; the LAC's frames to us carry a PPP frame of our MRU the
/// same way).
pub fn fit_mru(mtu: u16) -> u16 {
    let o = lns_dataplane::node::encap::overhead(false, true);
    u16::try_from(usize::from(mtu).saturating_sub(o)).unwrap_or(0)
}

/// A configuration that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: impl std::fmt::Display, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {why}"))
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.switch_config()?;
        let l = &self.l2tp;
        if l.listen.is_empty() {
            return Err(bad("l2tp.listen", "needs at least one address"));
        }
        self.validate_dataplane()?;
        self.validate_admin()?;
        if l.host_name.is_empty() || l.host_name.len() > 255 {
            return Err(bad("l2tp.host_name", "must be 1 to 255 bytes"));
        }
        if l.max_tunnels == 0 || l.max_tunnels > 65_535 {
            return Err(bad(
                "l2tp.max_tunnels",
                "must be 1 to 65535 (tunnel ids are 16 bits)",
            ));
        }
        if l.max_tunnels_per_peer == 0 {
            return Err(bad("l2tp.max_tunnels_per_peer", "must be at least 1"));
        }
        if l.max_sessions_per_tunnel == 0 || l.max_sessions_per_tunnel > 65_535 {
            return Err(bad(
                "l2tp.max_sessions_per_tunnel",
                "must be 1 to 65535 (session id 0 is reserved)",
            ));
        }
        let t = &l.transport;
        if t.retransmit_initial_ms == 0 {
            return Err(bad(
                "l2tp.transport.retransmit_initial_ms",
                "must be above 0",
            ));
        }
        if t.retransmit_max_ms < 8000 {
            return Err(bad(
                "l2tp.transport.retransmit_max_ms",
                "RFC 2661 §5.8: the cap must be no less than 8000 ms",
            ));
        }
        if t.retransmit_max_ms < t.retransmit_initial_ms {
            return Err(bad(
                "l2tp.transport.retransmit_max_ms",
                "must not be below retransmit_initial_ms",
            ));
        }
        if t.receive_window == 0 {
            return Err(bad(
                "l2tp.transport.receive_window",
                "0 is invalid (RFC 2661 §5.8)",
            ));
        }
        if t.ack_delay_ms >= t.retransmit_initial_ms {
            return Err(bad(
                "l2tp.transport.ack_delay_ms",
                "must be below retransmit_initial_ms, or the peer retransmits needlessly",
            ));
        }
        let mut seen_default = false;
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            let key = format!("peer[{i}]");
            match p.address {
                None if seen_default => {
                    return Err(bad(
                        format!("{key}.address"),
                        "only one peer may omit address",
                    ));
                }
                None => seen_default = true,
                Some(a) if !seen.insert(a) => {
                    return Err(bad(format!("{key}.address"), format!("{a} listed twice")));
                }
                Some(_) => {}
            }
            if let Some(s) = &p.secret
                && s.is_empty()
            {
                return Err(bad(format!("{key}.secret"), "must not be empty"));
            }
            if p.secret.is_none() && p.tunnel_auth == AuthMode::Required {
                return Err(bad(
                    format!("{key}.secret"),
                    "required when tunnel_auth = \"required\"",
                ));
            }
            if p.secret.is_none() && p.hide_avps {
                return Err(bad(
                    format!("{key}.secret"),
                    "required when hide_avps = true",
                ));
            }
            if p.hide_avps_in_tunnel_setup && !p.hide_avps {
                return Err(bad(
                    format!("{key}.hide_avps_in_tunnel_setup"),
                    "only means something with hide_avps = true",
                ));
            }
        }
        for (i, lac) in self.lacs.iter().enumerate() {
            if let Some(local) = lac.local
                && !l.listen.contains(&local)
            {
                return Err(bad(
                    format!("lac[{i}].local"),
                    format!("{local} is not one of l2tp.listen"),
                ));
            }
            if self.peer_for(lac.lns.ip()).is_none() {
                return Err(bad(
                    format!("lac[{i}].lns"),
                    format!("no [[peer]] matches {}", lac.lns.ip()),
                ));
            }
            if lac.calls as usize > l.max_sessions_per_tunnel {
                return Err(bad(
                    format!("lac[{i}].calls"),
                    "exceeds l2tp.max_sessions_per_tunnel",
                ));
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(bad("log.level", e));
        }
        let p = &self.ppp;
        if p.dns.len() > 2 {
            return Err(bad("ppp.dns", "at most two servers (RFC 1877)"));
        }
        if p.mru < 64 {
            return Err(bad("ppp.mru", "must be at least 64"));
        }
        if let Some(fit) = self.fitted_mru()?
            && fit < p.min_peer_mru
        {
            return Err(bad(
                "ppp.mru_fit_access_mtu",
                format!(
                    "{fit} bytes fit the access link, below ppp.min_peer_mru {}",
                    p.min_peer_mru
                ),
            ));
        }
        if p.restart_secs == 0 {
            return Err(bad("ppp.restart_secs", "must be above 0"));
        }
        if p.max_configure == 0 || p.max_terminate == 0 {
            return Err(bad("ppp.max_configure", "counters must be above 0"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            if !names.insert(pool.name.as_str()) {
                return Err(bad(
                    format!("pool[{i}].name"),
                    format!("{:?} listed twice", pool.name),
                ));
            }
            if pool.ranges.is_empty() {
                return Err(bad(format!("pool[{i}].ranges"), "needs at least one range"));
            }
        }
        self.validate_ipv6()?;
        let profiles = self.rate_settings()?.profiles;
        for (i, pool) in self.pools.iter().enumerate() {
            if let Some(p) = &pool.rate_profile
                && !profiles.contains_key(p)
            {
                return Err(bad(
                    format!("pool[{i}].rate_profile"),
                    format!("no [[rate_profile]] named {p:?}"),
                ));
            }
        }
        if let Some(r) = &self.radius {
            if r.auth.is_empty() && r.acct.is_empty() && r.dae.is_none() {
                return Err(bad(
                    "radius",
                    "needs [[radius.auth]], [[radius.acct]] or [radius.dae]",
                ));
            }
            if r.timeout_secs == 0 || r.tries == 0 {
                return Err(bad(
                    "radius.timeout_secs",
                    "timeout and tries must be above 0",
                ));
            }
            if r.interim_interval_secs != 0 && r.interim_interval_secs < 60 {
                return Err(bad(
                    "radius.interim_interval_secs",
                    "at least 60 (RFC 2869 §5.16)",
                ));
            }
            for (kind, list) in [("auth", &r.auth), ("acct", &r.acct)] {
                for (i, s) in list.iter().enumerate() {
                    if s.secret.is_empty() {
                        return Err(bad(
                            format!("radius.{kind}[{i}].secret"),
                            "must not be empty",
                        ));
                    }
                }
            }
            if let Some(d) = &r.dae {
                for (i, c) in d.clients.iter().enumerate() {
                    if c.secret.is_empty() {
                        return Err(bad(
                            format!("radius.dae.client[{i}].secret"),
                            "must not be empty",
                        ));
                    }
                }
            }
        }
        if let Some(f) = &p.users_file {
            lns_protocol::aaa::local::Users::load(f).map_err(|e| bad("ppp.users_file", e))?;
        }
        if !self.pools.is_empty() && !names.contains(p.default_pool.as_str()) {
            return Err(bad(
                "ppp.default_pool",
                format!("no [[pool]] named {:?}", p.default_pool),
            ));
        }
        Ok(())
    }

    /// The MRU ceiling of `ppp.mru_fit_access_mtu` (`None` when it is
    /// off): what fits the access interface's MTU as it is now.
    pub fn fitted_mru(&self) -> Result<Option<u16>, ConfigError> {
        if !self.ppp.mru_fit_access_mtu {
            return Ok(None);
        }
        let key = "ppp.mru_fit_access_mtu";
        let dev = self
            .dataplane
            .access_interface
            .as_deref()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| bad(key, "needs dataplane.access_interface"))?;
        let mtu = lns_dataplane::daemon::interface_mtu(dev)
            .ok_or_else(|| bad(key, format!("cannot read the MTU of {dev}")))?;
        Ok(Some(fit_mru(mtu)))
    }

    /// The rate profiles, pool defaults and `[rates]`, checked: each
    /// speed parses, names are unique, the fallback profile exists.
    pub fn rate_settings(&self) -> Result<lns_protocol::aaa::rate::Settings, ConfigError> {
        use lns_protocol::aaa::rate::{OnInvalid, Rate, Rates, Settings, parse_speed};
        let mut s = Settings::default();
        for (i, p) in self.rate_profiles.iter().enumerate() {
            let key = |k: &str| format!("rate_profile[{i}].{k}");
            let one = |speed: &Option<String>, burst: Option<u64>, k: &str| {
                let Some(v) = speed else {
                    return Ok(None);
                };
                let bits = parse_speed(v).ok_or_else(|| {
                    bad(
                        key(k),
                        format!("{v:?} is not a speed (e.g. \"100M\", \"512k\")"),
                    )
                })?;
                let r = Rate::of_bits(bits).ok_or_else(|| {
                    bad(key(k), "must be at least 1k (leave it out for no limit)")
                })?;
                Ok(Some(burst.map_or(r, |b| r.with_burst(b))))
            };
            let rates = Rates {
                up: one(&p.up, p.up_burst, "up")?,
                down: one(&p.down, p.down_burst, "down")?,
            };
            if s.profiles.insert(p.name.clone(), rates).is_some() {
                return Err(bad(key("name"), format!("{:?} listed twice", p.name)));
            }
        }
        for pool in &self.pools {
            if let Some(p) = &pool.rate_profile {
                s.pools.insert(pool.name.clone(), p.clone());
            }
        }
        s.on_invalid = match (self.rates.on_invalid, &self.rates.fallback_profile) {
            (OnInvalidCfg::Refuse, _) => OnInvalid::Refuse,
            (OnInvalidCfg::Fallback, Some(p)) if s.profiles.contains_key(p) => {
                OnInvalid::Fallback(p.clone())
            }
            (OnInvalidCfg::Fallback, Some(p)) => {
                return Err(bad(
                    "rates.fallback_profile",
                    format!("no [[rate_profile]] named {p:?}"),
                ));
            }
            (OnInvalidCfg::Fallback, None) => {
                return Err(bad(
                    "rates.fallback_profile",
                    "on_invalid = \"fallback\" needs a profile",
                ));
            }
        };
        Ok(s)
    }

    /// PPP settings for the LNS engine.
    pub fn lns(&self) -> lns_protocol::lns::LnsConfig {
        use lns_protocol::ppp::lcp::AuthProtocol;
        use lns_protocol::ppp::lcp_opts::{LcpConfig, Side};
        let p = &self.ppp;
        lns_protocol::lns::LnsConfig {
            link: lns_protocol::ppp::link::LinkConfig {
                lcp: LcpConfig {
                    side: Side::Server,
                    mru: Some(p.mru),
                    min_peer_mru: p.min_peer_mru,
                    // Validated by `parse`; an interface gone since then
                    // leaves the MRUs as configured.
                    max_mru: self.fitted_mru().ok().flatten(),
                    auth: p
                        .auth
                        .iter()
                        .map(|a| match a {
                            AuthName::Mschapv2 => AuthProtocol::MsChapV2,
                            AuthName::Chap => AuthProtocol::ChapMd5,
                            AuthName::Pap => AuthProtocol::Pap,
                        })
                        .collect(),
                },
                limits: lns_protocol::ppp::automaton::Limits {
                    restart: Duration::from_secs(p.restart_secs),
                    max_terminate: p.max_terminate,
                    max_configure: p.max_configure,
                    max_failure: p.max_failure,
                },
                echo_interval: Duration::from_secs(p.echo_interval_secs),
                echo_failures: p.echo_failures,
                echo_adaptive: p.echo_adaptive,
                auth_tries: p.auth_tries,
                name: self.l2tp.host_name.clone().into_bytes(),
                ipv6: p.ipv6,
                credentials: None,
                setup_timeout: Duration::from_secs(p.setup_timeout_secs),
                lcp_fast_start: p.lcp_fast_start,
                idle_timeout: (p.idle_timeout_secs > 0)
                    .then(|| Duration::from_secs(p.idle_timeout_secs)),
            },
            gateway: p.gateway,
            dns: [p.dns.first().copied(), p.dns.get(1).copied()],
            default_pool: p.default_pool.clone(),
            // Validated by `parse`.
            rates: self.rate_settings().unwrap_or_default(),
            ipv6: lns_protocol::lns::Ipv6Settings {
                ra: self.ipv6.ra.then(|| self.ipv6.ra_config()),
                pool: self.ipv6.pool.clone(),
                dhcp: self.ipv6.dhcp_settings(),
            },
            radius: self.radius.as_ref().map(|r| {
                use lns_protocol::aaa::radius::client::{ClientConfig, Server};
                let servers = |v: &[RadiusServer]| {
                    v.iter()
                        .map(|s| Server {
                            addr: s.address,
                            secret: s.secret.clone().into_bytes(),
                        })
                        .collect()
                };
                lns_protocol::lns::RadiusSettings {
                    client: ClientConfig {
                        auth: servers(&r.auth),
                        acct: servers(&r.acct),
                        timeout: Duration::from_secs(r.timeout_secs),
                        tries: r.tries,
                        dead_time: Duration::from_secs(r.dead_time_secs),
                    },
                    nas: lns_protocol::aaa::radius::nas::Nas {
                        ip: r.nas_ip,
                        identifier: r
                            .nas_identifier
                            .clone()
                            .unwrap_or_else(|| self.l2tp.host_name.clone()),
                    },
                    interim: (r.interim_interval_secs > 0)
                        .then(|| Duration::from_secs(r.interim_interval_secs)),
                    dae_clients: r
                        .dae
                        .iter()
                        .flat_map(|d| &d.clients)
                        .map(|c| (c.address, c.secret.clone().into_bytes()))
                        .collect(),
                }
            }),
        }
    }

    /// The address pools, with `ppp.gateway` reserved: a pool that covers
    /// it (the example config's does) never leases it, and the log says
    /// so once per load.
    pub fn pools(&self) -> lns_protocol::aaa::pool::Pools {
        let mut pools = lns_protocol::aaa::pool::Pools::default();
        for p in &self.pools {
            pools.add(&p.name, p.ranges.clone());
        }
        for p in &self.ipv6_pools {
            // Validated by `parse`.
            if let Ok(v6) = lns_protocol::aaa::prefix::PrefixPool::new(p.prefix, p.length) {
                pools.add_prefixes(&p.name, v6);
            }
        }
        let covering = pools.reserve(self.ppp.gateway);
        if !covering.is_empty() {
            tracing::info!(
                gateway = %self.ppp.gateway,
                pools = %covering.join(","),
                "ppp.gateway lies in an address pool; it is excluded from it"
            );
        }
        pools
    }

    fn peer_for(&self, ip: IpAddr) -> Option<&Peer> {
        self.peers
            .iter()
            .find(|p| p.address == Some(ip))
            .or_else(|| self.peers.iter().find(|p| p.address.is_none()))
    }

    fn validate_ipv6(&self) -> Result<(), ConfigError> {
        use lns_protocol::aaa::prefix::PrefixPool;
        let mut seen: Vec<(&str, PrefixPool)> = Vec::new();
        for (i, p) in self.ipv6_pools.iter().enumerate() {
            let pool = PrefixPool::new(p.prefix, p.length)
                .map_err(|e| bad(format!("ipv6_pool[{i}]"), e))?;
            for (name, other) in &seen {
                if *name == p.name {
                    return Err(bad(
                        format!("ipv6_pool[{i}].name"),
                        format!("{name:?} listed twice"),
                    ));
                }
                if other.block.contains(&pool.block) || pool.block.contains(&other.block) {
                    return Err(bad(
                        format!("ipv6_pool[{i}].prefix"),
                        format!("{} overlaps pool {name:?} ({})", pool.block, other.block),
                    ));
                }
            }
            seen.push((&p.name, pool));
        }
        let v = &self.ipv6;
        if v.dhcpv6 && !v.ra {
            return Err(bad(
                "ipv6.dhcpv6",
                "needs ipv6.ra = true (DHCPv6 runs on links that have their /64)",
            ));
        }
        if !v.ra {
            return Ok(());
        }
        if !self.ppp.ipv6 {
            return Err(bad(
                "ipv6.ra",
                "needs ppp.ipv6 = true (advertisements go over IPv6CP)",
            ));
        }
        if let Some(name) = &v.pool {
            match seen.iter().find(|(n, _)| n == name) {
                None => return Err(bad("ipv6.pool", format!("no [[ipv6_pool]] named {name:?}"))),
                Some((_, p)) if p.len != 64 => {
                    return Err(bad(
                        "ipv6.pool",
                        format!(
                            "pool {name:?} hands out /{}; a link's prefix is a /64 (RFC 4862 §5.5.3)",
                            p.len
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        v.ra_config().check().map_err(|e| bad("ipv6", e))?;
        if let Some(name) = &v.dhcpv6_pd_pool {
            match seen.iter().find(|(n, _)| n == name) {
                None => {
                    return Err(bad(
                        "ipv6.dhcpv6_pd_pool",
                        format!("no [[ipv6_pool]] named {name:?}"),
                    ));
                }
                Some((_, p)) if !(48..=64).contains(&p.len) => {
                    return Err(bad(
                        "ipv6.dhcpv6_pd_pool",
                        format!("pool {name:?} hands out /{}; delegate /48 to /64", p.len),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(d) = &v.dhcpv6_duid
            && unhex(d).is_none_or(|b| !(3..=130).contains(&b.len()))
        {
            return Err(bad(
                "ipv6.dhcpv6_duid",
                "hex of 3 to 130 octets (RFC 8415 §11.1), e.g. \"0004\" and a UUID",
            ));
        }
        if let Some(d) = v.dhcp_settings() {
            d.server.check().map_err(|e| bad("ipv6.dhcpv6", e))?;
        }
        Ok(())
    }

    fn validate_admin(&self) -> Result<(), ConfigError> {
        let a = &self.admin;
        if a.tls_cert.is_some() != a.tls_key.is_some() {
            return Err(bad(
                "admin.tls_cert",
                "admin.tls_cert and admin.tls_key go together",
            ));
        }
        if !a.listen.ip().is_loopback() && (a.tls_cert.is_none() || a.token_file.is_none()) {
            return Err(bad(
                "admin.listen",
                format!(
                    "{} is not a loopback address: admin.tls_cert, admin.tls_key and \
                     admin.token_file are required to serve the admin API there",
                    a.listen
                ),
            ));
        }
        for (key, path) in [
            ("admin.tls_cert", &a.tls_cert),
            ("admin.tls_key", &a.tls_key),
            ("admin.token_file", &a.token_file),
        ] {
            if let Some(p) = path
                && let Err(e) = std::fs::metadata(p)
            {
                return Err(bad(key, format!("{}: {e}", p.display())));
            }
        }
        Ok(())
    }

    fn validate_dataplane(&self) -> Result<(), ConfigError> {
        let d = &self.dataplane;
        if d.mode == DataplaneMode::Off {
            return Ok(());
        }
        if d.access_interface.as_deref().is_none_or(str::is_empty) {
            return Err(bad(
                "dataplane.access_interface",
                "required unless mode = \"off\"",
            ));
        }
        if d.core_gateway.is_none() {
            return Err(bad(
                "dataplane.core_gateway",
                "required unless mode = \"off\"",
            ));
        }
        if self.lns_address().is_none() && self.lns_address6().is_none() {
            return Err(bad(
                "dataplane.lns_address",
                "required when l2tp.listen has no specific address (or set dataplane.lns_address6)",
            ));
        }
        if d.capacity == 0 || d.capacity > lns_dataplane::table::MAX_CAPACITY {
            return Err(bad(
                "dataplane.capacity",
                format!("must be 1 to {}", lns_dataplane::table::MAX_CAPACITY),
            ));
        }
        if d.workers == 0 || d.workers > lns_dataplane::loader::abi::MAX_QUEUES {
            return Err(bad(
                "dataplane.workers",
                format!("must be 1 to {}", lns_dataplane::loader::abi::MAX_QUEUES),
            ));
        }
        if d.neighbour_refresh_secs == 0 {
            return Err(bad(
                "dataplane.neighbour_refresh_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The address LACs send data frames to.
    pub fn lns_address(&self) -> Option<Ipv4Addr> {
        self.dataplane.lns_address.or_else(|| {
            self.l2tp.listen.iter().find_map(|a| match a.ip() {
                IpAddr::V4(v) if !v.is_unspecified() => Some(v),
                _ => None,
            })
        })
    }

    /// The data plane's IPv6 address for LACs (see
    /// `dataplane.lns_address6`).
    pub fn lns_address6(&self) -> Option<Ipv6Addr> {
        self.dataplane.lns_address6.or_else(|| {
            self.l2tp.listen.iter().find_map(|a| match a.ip() {
                IpAddr::V6(v)
                    if !v.is_unspecified() && !v.is_loopback() && !v.is_unicast_link_local() =>
                {
                    Some(v)
                }
                _ => None,
            })
        })
    }

    /// The data plane's command line (see `lns_dataplane::daemon::Args`).
    pub fn dataplane_args(&self) -> lns_dataplane::daemon::Args {
        use lns_dataplane::daemon::Args;
        let d = &self.dataplane;
        let access = d.access_interface.clone().unwrap_or_default();
        let port = self.l2tp.listen.first().map_or(1701, |a| a.port());
        let mut pools_v4 = Vec::new();
        for p in &self.pools {
            for r in &p.ranges {
                pools_v4.extend(r.prefixes());
            }
        }
        pools_v4.sort_unstable();
        pools_v4.dedup();
        // Core traffic to the subscribers' IPv6 prefixes is the workers'.
        let pools_v6 = self
            .ipv6_pools
            .iter()
            .map(|p| (p.prefix.addr, p.prefix.len))
            .collect();
        Args {
            table: d.table.clone(),
            core: d.core_interface.clone().unwrap_or_else(|| access.clone()),
            access,
            lns_v4: self.lns_address(),
            lns_v6: self.lns_address6(),
            lns_port: port,
            pools_v4,
            pools_v6,
            workers: d.workers,
            cores: d.cores.clone(),
            lowest: d.lowest_mode.0,
            polling: match d.polling {
                PollingMode::Busy => lns_dataplane::worker::Polling::Busy,
                PollingMode::Wakeup => lns_dataplane::worker::Polling::Wakeup,
            },
            icmp: lns_dataplane::node::icmp::Source {
                v4: d.icmp_source,
                v6: d.icmp_source6,
            },
            // The subscribers' IPCP peer: the data plane answers its pings.
            gateway: Some(self.ppp.gateway),
            bare: false,
            handoff: d.handoff,
        }
    }

    /// The engine's settings.
    pub fn endpoint(&self) -> EndpointConfig {
        let l = &self.l2tp;
        let t = &l.transport;
        // Specific addresses first, so the catch-all rule never shadows them.
        let mut peers: Vec<&Peer> = self.peers.iter().filter(|p| p.address.is_some()).collect();
        peers.extend(self.peers.iter().filter(|p| p.address.is_none()));
        EndpointConfig {
            host_name: l.host_name.clone().into_bytes(),
            vendor_name: l.vendor_name.clone().into_bytes(),
            firmware_revision: 0x0100,
            transport: TransportConfig {
                initial_timeout: Duration::from_millis(t.retransmit_initial_ms),
                max_timeout: Duration::from_millis(t.retransmit_max_ms),
                max_retries: t.max_retries,
                ack_delay: Duration::from_millis(t.ack_delay_ms),
                receive_window: t.receive_window,
            },
            hello_interval: Duration::from_secs(l.hello_interval_secs),
            session_setup_timeout: Duration::from_secs(l.session_setup_timeout_secs),
            max_tunnels: l.max_tunnels,
            max_tunnels_per_peer: l.max_tunnels_per_peer,
            max_sessions_per_tunnel: l.max_sessions_per_tunnel,
            tie_breaker: l.tie_breaker,
            // The gateway relays OCRQs to the LAC of the called number.
            defer_outgoing_answer: !self.dialouts.is_empty(),
            peers: peers
                .into_iter()
                .map(|p| PeerRule {
                    address: p.address,
                    policy: PeerPolicy {
                        secret: p.secret.clone().map(String::into_bytes),
                        auth: match p.tunnel_auth {
                            AuthMode::Required => TunnelAuth::Required,
                            AuthMode::Optional => TunnelAuth::Optional,
                        },
                        hide_avps: p.hide_avps,
                        hide_avps_in_tunnel_setup: p.hide_avps_in_tunnel_setup,
                        accept_tunnels: p.accept_tunnels,
                        accept_incoming_calls: p.accept_incoming_calls,
                        answer_outgoing_calls: p.answer_outgoing_calls,
                        data_sequencing: match p.data_sequencing {
                            SequencingMode::Auto => DataSequencing::Auto,
                            SequencingMode::Always => DataSequencing::Always,
                            SequencingMode::Never => DataSequencing::Never,
                        },
                        host_name: None,
                    },
                })
                .collect(),
        }
    }

    /// The multi-hop gateway's settings: realms as rules, timers.
    pub fn switch_config(&self) -> Result<lns_protocol::engine::switch::SwitchConfig, ConfigError> {
        use lns_protocol::aaa::tunnel::{RealmRules, TunnelTarget};
        for (i, r) in self.realms.iter().enumerate() {
            for (j, t) in r.lns.iter().enumerate() {
                if t.hide_avps && t.secret.is_none() {
                    return Err(bad(
                        format!("realm[{i}].lns[{j}].hide_avps"),
                        "hiding AVPs needs a secret (RFC 2661 §4.3)",
                    ));
                }
                if t.port == 0 {
                    return Err(bad(format!("realm[{i}].lns[{j}].port"), "must not be 0"));
                }
            }
        }
        let target = |t: &RealmLns| TunnelTarget {
            secret: t.secret.clone().map(String::into_bytes),
            hide_avps: t.hide_avps,
            preference: t.preference,
            weight: t.weight,
            assignment_id: t.assignment_id.clone().map(String::into_bytes),
            ..TunnelTarget::new(SocketAddr::new(t.address, t.port))
        };
        let rules = RealmRules::new(
            self.realms
                .iter()
                .map(|r| (r.name.clone(), r.lns.iter().map(target).collect())),
        )
        .map_err(|e| bad("realm", e))?;
        let mut dialouts = Vec::new();
        for (i, d) in self.dialouts.iter().enumerate() {
            if d.lac.is_empty() {
                return Err(bad(format!("dialout[{i}].lac"), "needs at least one LAC"));
            }
            if d.lac.iter().any(|t| t.hide_avps && t.secret.is_none()) {
                return Err(bad(
                    format!("dialout[{i}].lac"),
                    "hiding AVPs needs a secret (RFC 2661 §4.3)",
                ));
            }
            if self.dialouts[..i].iter().any(|o| o.called == d.called) {
                return Err(bad(
                    format!("dialout[{i}].called"),
                    format!("{:?} appears twice", d.called),
                ));
            }
            dialouts.push((
                d.called.clone().into_bytes(),
                d.lac.iter().map(target).collect(),
            ));
        }
        if !self.dialouts.is_empty() && !self.peers.iter().any(|p| p.answer_outgoing_calls) {
            return Err(bad(
                "dialout",
                "no [[peer]] has answer_outgoing_calls = true, so no LNS's OCRQ would reach it",
            ));
        }
        let sw = &self.switch;
        if let Some(local) = sw.local
            && !self.l2tp.listen.contains(&local)
        {
            return Err(bad("switch.local", "must be one of l2tp.listen"));
        }
        if sw.tunnels_per_lns == 0 || sw.tunnels_per_lns > 64 {
            return Err(bad("switch.tunnels_per_lns", "must be 1 to 64"));
        }
        if sw.target_timeout_secs == 0 {
            return Err(bad("switch.target_timeout_secs", "must be above 0"));
        }
        Ok(lns_protocol::engine::switch::SwitchConfig {
            realms: rules,
            hold_down: Duration::from_secs(sw.hold_down_secs),
            tunnel_idle: Duration::from_secs(sw.tunnel_idle_secs),
            target_timeout: Duration::from_secs(sw.target_timeout_secs),
            policy: PeerPolicy {
                data_sequencing: match sw.data_sequencing {
                    SequencingMode::Auto => DataSequencing::Auto,
                    SequencingMode::Always => DataSequencing::Always,
                    SequencingMode::Never => DataSequencing::Never,
                },
                ..Default::default()
            },
            local: sw.local,
            tunnels_per_lns: sw.tunnels_per_lns,
            dialouts,
        })
    }

    /// Call parameters for a `[[lac]]` entry.
    pub fn call_params(lac: &Lac) -> CallParams {
        CallParams {
            calling_number: lac.calling_number.clone().map(String::into_bytes),
            called_number: lac.called_number.clone().map(String::into_bytes),
            ..Default::default()
        }
    }

    /// Seconds to wait for StopCCN acknowledgements on shutdown.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.l2tp.shutdown_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[l2tp]\nlisten = [\"127.0.0.1:1701\"]\n";

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().0
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let c = Config::parse(MIN).unwrap();
        let e = c.endpoint();
        assert_eq!(e.transport, TransportConfig::default());
        assert_eq!(e.hello_interval, Duration::from_secs(60));
        assert_eq!(e.max_sessions_per_tunnel, 65_535);
        // No [[peer]]: nobody is allowed in.
        assert!(e.peers.is_empty());
    }

    #[test]
    fn example_file_parses() {
        // The example names /etc/xlns/users.toml; point it at the example
        // users file so the whole example validates.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
        let text = std::fs::read_to_string(format!("{dir}/lnsd.example.toml")).unwrap();
        let text = text.replace("/etc/xlns/users.toml", &format!("{dir}/users.example.toml"));
        let c = Config::parse(&text).unwrap();
        assert!(!c.peers.is_empty());
        assert_eq!(c.pools().usage("business"), Some((241, 0)));
        let sw = c.switch_config().unwrap();
        assert_eq!(
            sw.realms.lookup(b"x@isp-b.example").map(<[_]>::len),
            Some(2)
        );
        let users =
            lns_protocol::aaa::local::Users::load(c.ppp.users_file.as_deref().unwrap()).unwrap();
        assert_eq!(users.len(), 2);
        // The data plane gets the pools as prefixes and the listen port.
        let a = c.dataplane_args();
        assert_eq!((a.access.as_str(), a.core.as_str()), ("eth0", "eth1"));
        assert!(a.pools_v4.contains(&("100.64.128.0".parse().unwrap(), 18)));
        assert_eq!(a.gateway, Some(c.ppp.gateway));
        assert!(!a.handoff, "the hand-off is off unless asked for");
        assert_eq!(lns_dataplane::daemon::Args::parse(a.to_args()), Ok(a));
        let on = Config::parse(&text.replace("handoff = false", "handoff = true")).unwrap();
        assert!(
            on.dataplane_args()
                .to_args()
                .contains(&"--handoff".to_string())
        );
    }

    #[test]
    fn ipv6_advertisements_and_prefix_pools_are_checked_and_named() {
        let pools = "[[ipv6_pool]]\nname = \"links\"\nprefix = \"2001:db8:100::/40\"\n\
                     [[ipv6_pool]]\nname = \"pd\"\nprefix = \"2001:db8:200::/40\"\nlength = 56\n";
        let on =
            |extra: &str| format!("{MIN}[ppp]\nipv6 = true\n[ipv6]\nra = true\n{extra}{pools}");
        let c = Config::parse(&on("pool = \"links\"\ndns = [\"2001:db8::53\"]\n")).unwrap();
        let lns = c.lns();
        let ra = lns.ipv6.ra.unwrap();
        assert_eq!(
            (ra.max_interval, ra.min_interval, ra.router_lifetime),
            (600, 200, 1800)
        );
        assert_eq!(
            ra.dns,
            ["2001:db8::53".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(lns.ipv6.pool.as_deref(), Some("links"));
        let mut p = c.pools();
        assert_eq!(
            p.lease_prefix("links").unwrap().to_string(),
            "2001:db8:100::/64"
        );
        assert_eq!(
            p.lease_prefix("pd").unwrap().to_string(),
            "2001:db8:200::/56"
        );
        // Off by default.
        assert!(Config::parse(MIN).unwrap().lns().ipv6.ra.is_none());
        // Mistakes, each named.
        assert!(err(&format!("{MIN}[ipv6]\nra = true\n")).contains("ppp.ipv6"));
        assert!(err(&on("pool = \"nope\"\n")).contains("no [[ipv6_pool]] named \"nope\""));
        assert!(err(&on("pool = \"pd\"\n")).contains("/56"));
        assert!(err(&on("ra_interval_secs = 2\n")).contains("4..=1800"));
        assert!(err(&on("dns_search = [\"a..b\"]\n")).contains("label"));
        let overlap = format!(
            "{MIN}{pools}[[ipv6_pool]]\nname = \"x\"\nprefix = \"2001:db8:100:100::/56\"\n"
        );
        assert!(err(&overlap).contains("overlaps pool \"links\""));
        let stray = format!("{MIN}[[ipv6_pool]]\nname = \"x\"\nprefix = \"2001:db8::1/48\"\n");
        assert!(err(&stray).contains("bits set"));
        let short =
            format!("{MIN}[[ipv6_pool]]\nname = \"x\"\nprefix = \"2001:db8::/48\"\nlength = 40\n");
        assert!(err(&short).contains("between"));
    }

    #[test]
    fn dhcpv6_is_checked_and_named() {
        let pools = "[[ipv6_pool]]\nname = \"links\"\nprefix = \"2001:db8:100::/40\"\n\
                     [[ipv6_pool]]\nname = \"pd\"\nprefix = \"2001:db8:200::/40\"\nlength = 56\n";
        let on = |extra: &str| {
            format!("{MIN}[ppp]\nipv6 = true\n[ipv6]\nra = true\npool = \"links\"\n{extra}{pools}")
        };
        let c = Config::parse(&on(
            "dhcpv6 = true\ndhcpv6_pd_pool = \"pd\"\ndhcpv6_duid = \"00:04:01:02:03:04\"\n",
        ))
        .unwrap();
        let d = c.lns().ipv6.dhcp.unwrap();
        assert_eq!(d.pd_pool.as_deref(), Some("pd"));
        assert_eq!(d.server.duid, [0, 4, 1, 2, 3, 4]);
        assert!(d.server.rapid_commit && !d.address);
        // Without a DUID configured: one of the machine's, the same each
        // time lnsd reads its config.
        let a = Config::parse(&on("dhcpv6 = true\n"))
            .unwrap()
            .lns()
            .ipv6
            .dhcp
            .unwrap();
        let b = Config::parse(&on("dhcpv6 = true\n"))
            .unwrap()
            .lns()
            .ipv6
            .dhcp
            .unwrap();
        assert_eq!(a.server.duid.len(), 18);
        assert_eq!(a.server.duid, b.server.duid);
        assert!(Config::parse(MIN).unwrap().lns().ipv6.dhcp.is_none());
        // Mistakes, each named.
        let no_ra = format!("{MIN}[ppp]\nipv6 = true\n[ipv6]\ndhcpv6 = true\n");
        assert!(err(&no_ra).contains("ipv6.ra"));
        assert!(
            err(&on("dhcpv6 = true\ndhcpv6_pd_pool = \"x\"\n"))
                .contains("no [[ipv6_pool]] named \"x\"")
        );
        let wide = format!(
            "{}[[ipv6_pool]]\nname = \"wide\"\nprefix = \"2001:db8:300::/40\"\nlength = 44\n",
            on("dhcpv6 = true\ndhcpv6_pd_pool = \"wide\"\n")
        );
        assert!(err(&wide).contains("delegate /48 to /64"));
        assert!(err(&on("dhcpv6 = true\ndhcpv6_duid = \"zz\"\n")).contains("ipv6.dhcpv6_duid"));
        assert!(err(&on("dhcpv6 = true\ndhcpv6_duid = \"0004\"\n")).contains("3 to 130"));
    }

    #[test]
    fn rate_profiles_pools_and_on_invalid_are_checked_and_named() {
        use lns_protocol::aaa::rate::{OnInvalid, Rate};
        let text = format!(
            "{MIN}[[pool]]\nname = \"default\"\nranges = [\"100.64.0.0/24\"]\n\
             rate_profile = \"gold\"\n\
             [[rate_profile]]\nname = \"gold\"\ndown = \"100M\"\nup = \"20M\"\nup_burst = 500000\n\
             [[rate_profile]]\nname = \"slow\"\ndown = \"1.5M\"\n\
             [rates]\non_invalid = \"fallback\"\nfallback_profile = \"slow\"\n"
        );
        let c = Config::parse(&text).unwrap();
        let r = c.lns().rates;
        assert_eq!(r.profiles["gold"].down, Rate::of_bits(100_000_000));
        assert_eq!(r.profiles["gold"].up.map(|r| r.burst), Some(500_000));
        assert_eq!(r.profiles["slow"].up, None, "a direction left out");
        assert_eq!(r.pools["default"], "gold");
        assert_eq!(r.on_invalid, OnInvalid::Fallback("slow".into()));
        let bad = format!("{MIN}[[rate_profile]]\nname = \"x\"\ndown = \"fast\"\n");
        assert!(err(&bad).contains("rate_profile[0].down"), "{}", err(&bad));
        let tiny = format!("{MIN}[[rate_profile]]\nname = \"x\"\nup = \"100\"\n");
        assert!(err(&tiny).contains("rate_profile[0].up"), "{}", err(&tiny));
        let dup = format!("{MIN}[[rate_profile]]\nname = \"x\"\n[[rate_profile]]\nname = \"x\"\n");
        assert!(err(&dup).contains("rate_profile[1].name"), "{}", err(&dup));
        let pool = format!(
            "{MIN}[[pool]]\nname = \"default\"\nranges = [\"100.64.0.0/24\"]\nrate_profile = \"nope\"\n"
        );
        assert!(
            err(&pool).contains("pool[0].rate_profile"),
            "{}",
            err(&pool)
        );
        let fb = format!("{MIN}[rates]\non_invalid = \"fallback\"\n");
        assert!(err(&fb).contains("rates.fallback_profile"), "{}", err(&fb));
    }

    #[test]
    fn realms_become_switch_rules_and_bad_ones_name_their_key() {
        let text = format!(
            "{MIN}[switch]\nhold_down_secs = 30\n[[realm]]\nname = \"B.example\"\n\
             [[realm.lns]]\naddress = \"192.0.2.7\"\nsecret = \"s\"\npreference = 2\n\
             [[realm.lns]]\naddress = \"2001:db8::7\"\nport = 1702\nassignment_id = \"g\"\n"
        );
        let c = Config::parse(&text).unwrap();
        let sw = c.switch_config().unwrap();
        assert_eq!(sw.hold_down, Duration::from_secs(30));
        let t = sw.realms.lookup(b"alice@b.EXAMPLE").unwrap();
        assert_eq!(t.len(), 2);
        let at = |e: &str| t.iter().find(|x| x.endpoint == e.parse().unwrap()).unwrap();
        assert_eq!(at("192.0.2.7:1701").secret.as_deref(), Some(&b"s"[..]));
        assert_eq!(at("192.0.2.7:1701").preference, 2);
        assert_eq!(at("[2001:db8::7]:1702").preference, 1);
        assert_eq!(
            at("[2001:db8::7]:1702").assignment_id.as_deref(),
            Some(&b"g"[..])
        );
        assert!(sw.realms.lookup(b"alice@c.example").is_none());
        let hide = format!(
            "{MIN}[[realm]]\nname = \"b\"\n[[realm.lns]]\naddress = \"192.0.2.7\"\nhide_avps = true\n"
        );
        assert!(err(&hide).contains("realm[0].lns[0].hide_avps: hiding AVPs needs a secret"));
        let local = format!("{MIN}[switch]\nlocal = \"192.0.2.99:1701\"\n");
        assert!(err(&local).contains("switch.local: must be one of l2tp.listen"));
        let dup = format!(
            "{MIN}[[realm]]\nname = \"b\"\n[[realm.lns]]\naddress = \"192.0.2.7\"\n\
             [[realm]]\nname = \"B\"\n[[realm.lns]]\naddress = \"192.0.2.8\"\n"
        );
        assert!(err(&dup).starts_with("realm:"), "{}", err(&dup));
        let dial = format!(
            "{MIN}[[dialout]]\ncalled = \"555\"\n[[dialout.lac]]\naddress = \"192.0.2.9\"\n"
        );
        assert!(err(&dial).contains("dialout: no [[peer]] has answer_outgoing_calls = true"));
        let dial = format!("{dial}[[peer]]\nanswer_outgoing_calls = true\n");
        let c = Config::parse(&dial).unwrap();
        assert_eq!(c.switch_config().unwrap().dialouts.len(), 1);
        // The endpoint holds OCRQs for the relay only when there are rules.
        assert!(c.endpoint().defer_outgoing_answer);
        assert!(!Config::parse(MIN).unwrap().endpoint().defer_outgoing_answer);
        let empty = format!(
            "{MIN}[[peer]]\nanswer_outgoing_calls = true\n[[dialout]]\ncalled = \"555\"\nlac = []\n"
        );
        assert!(err(&empty).contains("dialout[0].lac: needs at least one LAC"));
    }

    #[test]
    fn mru_fit_reads_the_access_mtu_and_names_its_key() {
        // 1500 - (IPv4 20 + UDP 8 + L2TP with Ns/Nr 10 + PPP 4).
        assert_eq!(fit_mru(1500), 1458);
        assert_eq!(fit_mru(9000), 8958);
        assert_eq!(fit_mru(30), 0);
        let c = Config::parse(MIN).unwrap();
        assert_eq!(c.fitted_mru(), Ok(None));
        assert_eq!(c.lns().link.lcp.max_mru, None);
        let fit = format!("{MIN}[ppp]\nmru_fit_access_mtu = true\n");
        assert!(err(&fit).contains("ppp.mru_fit_access_mtu: needs dataplane.access_interface"));
        let with = |dev: &str| format!("{fit}[dataplane]\naccess_interface = \"{dev}\"\n");
        assert!(err(&with("no-such-if0")).contains("ppp.mru_fit_access_mtu: cannot read the MTU"));
        // Loopback is in every namespace (65,536, read as 65,535).
        let c = Config::parse(&with("lo")).unwrap();
        assert_eq!(c.lns().link.lcp.max_mru, Some(fit_mru(u16::MAX)));
        // A floor above what fits could never be agreed.
        let high = with("lo").replace("[ppp]\n", "[ppp]\nmin_peer_mru = 65535\n");
        assert!(err(&high).contains("below ppp.min_peer_mru 65535"));
    }

    #[test]
    fn dataplane_errors_name_the_key() {
        let dp = |extra: &str| err(&format!("{MIN}[dataplane]\nmode = \"supervised\"\n{extra}"));
        assert!(dp("core_gateway = \"10.0.0.1\"\n").contains("dataplane.access_interface"));
        assert!(dp("access_interface = \"eth0\"\n").contains("dataplane.core_gateway"));
        let ok = "access_interface = \"eth0\"\ncore_gateway = \"10.0.0.1\"\n";
        assert!(dp(&format!("{ok}capacity = 0\n")).contains("dataplane.capacity"));
        assert!(dp(&format!("{ok}workers = 65\n")).contains("dataplane.workers"));
        assert!(dp(&format!("{ok}lowest_mode = \"fast\"\n")).contains("dataplane.lowest_mode"));
        assert!(dp(&format!("{ok}polling = \"x\"\n")).contains("dataplane.polling"));
        assert!(dp(&format!("{ok}modes = 1\n")).contains("modes"));
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            err("[l2tp]\nlisten = [\"127.0.0.1:1701\"]\nmax_tunels = 3\n").contains("max_tunels")
        );
        assert!(err("[l2tp]\nlisten = [\"nonsense\"]\n").contains("listen"));
        assert!(err("[l2tp]\nlisten = []\n").contains("l2tp.listen"));
        assert!(
            err(&format!("{MIN}max_sessions_per_tunnel = 70000\n"))
                .contains("max_sessions_per_tunnel")
        );
        assert!(
            err(&format!(
                "{MIN}[l2tp.transport]\nretransmit_max_ms = 4000\n"
            ))
            .contains("l2tp.transport.retransmit_max_ms")
        );
        assert!(
            err(&format!("{MIN}[[peer]]\ntunnel_auth = \"required\"\n")).contains("peer[0].secret")
        );
        assert!(err(&format!("{MIN}[[peer]]\ntunnel_auth = \"maybe\"\n")).contains("tunnel_auth"));
        assert!(
            err(&format!(
                "{MIN}[[peer]]\nsecret = \"x\"\nhide_avps_in_tunnel_setup = true\n"
            ))
            .contains("peer[0].hide_avps_in_tunnel_setup")
        );
        assert!(
            err(&format!(
                "{MIN}[[peer]]\nsecret = \"x\"\n[[peer]]\nsecret = \"y\"\n"
            ))
            .contains("peer[1].address")
        );
        assert!(err(&format!("{MIN}[[lac]]\nlns = \"10.0.0.9:1701\"\n")).contains("lac[0].lns"));
        assert!(err(&format!("{MIN}[log]\nlevel = \"=[\"\n")).contains("log.level"));
        assert!(err("[l2tpp]\n").contains("l2tpp"));
    }

    #[test]
    fn ppp_and_pool_errors_name_the_key() {
        assert!(err(&format!("{MIN}[ppp]\nauth = [\"eap\"]\n")).contains("auth"));
        assert!(
            err(&format!(
                "{MIN}[ppp]\ndns = [\"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\"]\n"
            ))
            .contains("ppp.dns")
        );
        assert!(
            err(&format!(
                "{MIN}[[pool]]\nname = \"default\"\nranges = [\"10.0.0.9-10.0.0.1\"]\n"
            ))
            .contains("first address is above the last")
        );
        assert!(
            err(&format!(
                "{MIN}[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\n"
            ))
            .contains("ppp.default_pool")
        );
        assert!(
            err(&format!(
                "{MIN}[ppp]\nusers_file = \"/nonexistent/users.toml\"\n"
            ))
            .contains("ppp.users_file")
        );
        let c = Config::parse(&format!("{MIN}[ppp]\nauth = [\"pap\"]\n[[pool]]\nname = \"default\"\nranges = [\"10.0.0.0/30\"]\n")).unwrap();
        assert_eq!(
            c.lns().link.lcp.auth,
            vec![lns_protocol::ppp::lcp::AuthProtocol::Pap]
        );
        assert_eq!(c.pools().usage("default"), Some((2, 0)));
        // IPv6CP stays closed unless asked for: no IPv6 service yet.
        assert!(!c.lns().link.ipv6);
        // The default gateway (100.64.0.1) inside the pool is left out.
        let c = Config::parse(&format!(
            "{MIN}[ppp]\nauth = [\"pap\"]\n[[pool]]\nname = \"default\"\nranges = [\"100.64.0.0/30\"]\n"
        ))
        .unwrap();
        let mut p = c.pools();
        assert_eq!(p.usage("default"), Some((1, 0)));
        assert_eq!(p.lease("default"), Ok(Ipv4Addr::new(100, 64, 0, 2)));
        assert!(p.lease("default").is_err());
    }

    #[test]
    fn specific_peers_win_over_the_default_rule() {
        let c = Config::parse(&format!(
            "{MIN}[[peer]]\nsecret = \"any\"\n[[peer]]\naddress = \"10.0.0.2\"\nsecret = \"two\"\n"
        ))
        .unwrap();
        let e = c.endpoint();
        let p = e.policy_for("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(p.secret.as_deref(), Some(&b"two"[..]));
        let p = e.policy_for("10.0.0.3".parse().unwrap()).unwrap();
        assert_eq!(p.secret.as_deref(), Some(&b"any"[..]));
    }
}
