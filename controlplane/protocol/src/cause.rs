//! Why a subscriber's session ended: one closed enum, grouped by who
//! ended it, and one table ([`DownCause::row`]) that gives each cause
//! everything the protocols and operators need: the RFC 3145 PPP
//! Disconnect Cause for the CDN, the CDN result code (RFC 2661 §4.4.2),
//! the RFC 2866 Acct-Terminate-Cause, the text on the wire and in logs,
//! and the metric label (DESIGN §4, "errors by source").
//!
//! Contract: no cause is a string matched later. A variant may carry
//! free text for people (an operator's reason, a RADIUS Reply-Message, a
//! pool's error), but nothing decides on that text; every code comes
//! from the variant alone. Adding a variant means adding its row, which
//! the compiler enforces.
//!
//! Who uses it: the PPP link reports its own failures with it, the engine
//! adds the L2TP, AAA and operator causes, and the CDN, the
//! Accounting-Stop, the admin event stream and the metrics all read the
//! same row.

use crate::l2tp::result::CdnResult;
use proto::CHAP;

/// The PPP protocol numbers RFC 3145 causes name, here so that the cause
/// table depends on nothing the PPP link depends on (the link reports
/// its ends with [`DownCause`]); a test checks they are PPP's own.
mod proto {
    /// LCP (RFC 1661 §2).
    pub const LCP: u16 = 0xc021;
    /// IPCP (RFC 1332 §2).
    pub const IPCP: u16 = 0x8021;
    /// CHAP (RFC 1994 §2).
    pub const CHAP: u16 = 0xc223;
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The subscriber's PPP (negotiation, authentication, keepalives).
    Subscriber,
    /// The LAC or the tunnel to it (L2TP).
    Peer,
    /// The AAA backends: RADIUS, the address pools.
    Backend,
    /// An operator or policy: lnsctl, RADIUS Disconnect, Session-Timeout,
    /// shutdown.
    Operator,
    /// This LNS itself.
    Internal,
}

impl Source {
    /// A metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Source::Subscriber => "subscriber",
            Source::Peer => "peer",
            Source::Backend => "backend",
            Source::Operator => "operator",
            Source::Internal => "internal",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownCause {
    // Subscriber.
    /// LCP never converged (Max-Configure or Max-Failure).
    LcpNegotiation,
    /// Our Magic-Number came back: the link is looped.
    LoopedBack,
    /// The peer refused every authentication protocol we allow.
    AuthRefused,
    /// Authentication failed or timed out; the AAA's reason, for people.
    AuthFailed(String),
    /// No NCP could be opened.
    NcpFailed,
    /// The peer sent Terminate-Request.
    PeerTerminated,
    /// The peer stopped answering LCP Echo-Requests.
    EchoTimeout,
    /// Re-authentication after an LCP renegotiation named another user.
    UserChanged,
    /// The subscriber hung up (the emulated LAC's side).
    HungUp,
    // Peer.
    /// The LAC cleared the call (CDN).
    CallCleared,
    /// The tunnel carrying the call went down.
    TunnelDown,
    /// The call did not connect in time.
    CallSetupTimeout,
    /// The call was cleared by the L2TP layer here (a protocol error).
    CallClearedLocally,
    /// Multi-hop gateway: the target LNS cleared the switched call (its
    /// CDN's codes are relayed as they came).
    TargetCleared,
    /// Multi-hop gateway: the tunnel to the target LNS went down.
    TargetTunnelDown,
    // Backend.
    /// No address could be assigned; the pool's reason, for people.
    NoAddress(String),
    /// Multi-hop gateway: no target LNS took the call (every endpoint of
    /// the user's realm or RADIUS tunnel attributes failed or is held
    /// down), or none is configured for the user.
    NoTarget,
    // Operator.
    /// An operator ended it (lnsctl, the admin API); their reason.
    Operator(String),
    /// A RADIUS Disconnect-Request (RFC 5176).
    RadiusDisconnect,
    /// Session-Timeout ran out (RFC 2865 §5.27).
    SessionTimeout,
    /// Idle-Timeout ran out (RFC 2865 §5.28): no traffic from the
    /// subscriber for that long.
    IdleTimeout,
    /// The LNS is shutting down.
    Shutdown,
}

/// Everything one cause means, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Who ended the session.
    pub source: Source,
    /// The metric label (bounded: one per variant).
    pub label: &'static str,
    /// The text on the wire and in logs, before any free text the
    /// variant carries.
    pub text: &'static str,
    /// RFC 3145 §3 disconnect code, PPP protocol, and direction (1: the
    /// peer did it; 2: we did).
    pub rfc3145: (u16, u16, u8),
    /// CDN result code (RFC 2661 §4.4.2): our decision to end the call is
    /// administrative (3); PPP failing is 2 with error 0 (L2TP is fine,
    /// the RFC 3145 AVP says what PPP did); a lost line is 1.
    pub cdn: CdnResult,
    /// RFC 2866 §5.10 Acct-Terminate-Cause.
    pub acct_terminate: u32,
}

/// RFC 2866 §5.10 values used here.
mod acct {
    pub const USER_REQUEST: u32 = 1;
    pub const LOST_CARRIER: u32 = 2;
    pub const LOST_SERVICE: u32 = 3;
    pub const IDLE_TIMEOUT: u32 = 4;
    pub const SESSION_TIMEOUT: u32 = 5;
    pub const ADMIN_RESET: u32 = 6;
    pub const ADMIN_REBOOT: u32 = 7;
    pub const PORT_ERROR: u32 = 8;
    pub const NAS_ERROR: u32 = 9;
    pub const USER_ERROR: u32 = 17;
}

impl DownCause {
    /// The table.
    pub const fn row(&self) -> Row {
        use CdnResult::{Administrative, GeneralError, LossOfCarrier, TemporaryNoFacilities};
        use Source::*;
        let (source, label, text, rfc3145, cdn, acct_terminate) = match self {
            DownCause::LcpNegotiation => (
                Subscriber,
                "lcp_negotiation",
                "LCP negotiation failed",
                (4, proto::LCP, 2),
                GeneralError,
                acct::USER_ERROR,
            ),
            DownCause::LoopedBack => (
                Subscriber,
                "looped_back",
                "loopback detected",
                (6, proto::LCP, 2),
                GeneralError,
                acct::PORT_ERROR,
            ),
            DownCause::AuthRefused => (
                Subscriber,
                "auth_refused",
                "no common authentication protocol",
                (11, proto::LCP, 1),
                GeneralError,
                acct::USER_ERROR,
            ),
            DownCause::AuthFailed(_) => (
                Subscriber,
                "auth_failed",
                "authentication failed",
                (13, CHAP, 2),
                GeneralError,
                acct::USER_ERROR,
            ),
            DownCause::NcpFailed => (
                Subscriber,
                "ncp_failed",
                "no network protocol",
                (9, proto::IPCP, 2),
                GeneralError,
                acct::USER_ERROR,
            ),
            DownCause::PeerTerminated => (
                Subscriber,
                "peer_terminated",
                "peer terminated",
                (3, proto::LCP, 1),
                GeneralError,
                acct::USER_REQUEST,
            ),
            DownCause::EchoTimeout => (
                Subscriber,
                "echo_timeout",
                "keepalive timeout",
                (7, proto::LCP, 2),
                GeneralError,
                acct::LOST_CARRIER,
            ),
            DownCause::UserChanged => (
                Subscriber,
                "user_changed",
                "administrative: user changed on re-authentication",
                (2, proto::LCP, 2),
                Administrative,
                acct::USER_ERROR,
            ),
            DownCause::HungUp => (
                Subscriber,
                "hung_up",
                "subscriber hung up",
                (3, proto::LCP, 2),
                LossOfCarrier,
                acct::USER_REQUEST,
            ),
            DownCause::CallCleared => (
                Peer,
                "call_cleared",
                "administrative: call cleared by the LAC",
                (2, proto::LCP, 1),
                Administrative,
                acct::LOST_CARRIER,
            ),
            DownCause::TunnelDown => (
                Peer,
                "tunnel_down",
                "administrative: tunnel down",
                (2, proto::LCP, 2),
                Administrative,
                acct::LOST_SERVICE,
            ),
            DownCause::CallSetupTimeout => (
                Peer,
                "call_setup_timeout",
                "administrative: call setup timeout",
                (2, proto::LCP, 2),
                Administrative,
                acct::LOST_SERVICE,
            ),
            DownCause::CallClearedLocally => (
                Internal,
                "call_cleared_locally",
                "administrative: call cleared locally",
                (2, proto::LCP, 2),
                Administrative,
                acct::NAS_ERROR,
            ),
            DownCause::TargetCleared => (
                Peer,
                "target_cleared",
                "administrative: call cleared by the target LNS",
                (2, proto::LCP, 1),
                Administrative,
                acct::LOST_CARRIER,
            ),
            DownCause::TargetTunnelDown => (
                Peer,
                "target_tunnel_down",
                "administrative: tunnel to the target LNS down",
                (2, proto::LCP, 2),
                Administrative,
                acct::LOST_SERVICE,
            ),
            DownCause::NoTarget => (
                Backend,
                "no_target",
                "no target LNS available",
                (2, proto::LCP, 2),
                TemporaryNoFacilities,
                acct::NAS_ERROR,
            ),
            DownCause::NoAddress(_) => (
                Backend,
                "no_address",
                "administrative: no address",
                (2, proto::LCP, 2),
                Administrative,
                acct::NAS_ERROR,
            ),
            DownCause::Operator(_) => (
                Operator,
                "operator",
                "administrative",
                (2, proto::LCP, 2),
                Administrative,
                acct::ADMIN_RESET,
            ),
            DownCause::RadiusDisconnect => (
                Operator,
                "radius_disconnect",
                "administrative: RADIUS Disconnect-Request",
                (2, proto::LCP, 2),
                Administrative,
                acct::ADMIN_RESET,
            ),
            DownCause::SessionTimeout => (
                Operator,
                "session_timeout",
                "administrative: session timeout",
                (2, proto::LCP, 2),
                Administrative,
                acct::SESSION_TIMEOUT,
            ),
            DownCause::IdleTimeout => (
                Operator,
                "idle_timeout",
                "administrative: idle timeout",
                (2, proto::LCP, 2),
                Administrative,
                acct::IDLE_TIMEOUT,
            ),
            DownCause::Shutdown => (
                Operator,
                "shutdown",
                "administrative: LNS shutting down",
                (2, proto::LCP, 2),
                Administrative,
                acct::ADMIN_REBOOT,
            ),
        };
        Row {
            source,
            label,
            text,
            rfc3145,
            cdn,
            acct_terminate,
        }
    }

    /// The RFC 3145 §3 PPP Disconnect Cause for the CDN, with the text.
    pub fn ppp_cause(&self) -> crate::l2tp::avp::PppDisconnectCause {
        let (code, protocol, direction) = self.row().rfc3145;
        crate::l2tp::avp::PppDisconnectCause {
            code,
            protocol,
            direction,
            message: crate::l2tp::result::wire_message(&self.to_string()),
        }
    }
}

/// The text a CDN's Result Code and RFC 3145 cause carry (RFC 2661
/// §4.4.2: human-readable, UTF-8), and what logs and the admin API show:
/// the row's text, then the variant's free text where it has one.
impl std::fmt::Display for DownCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.row().text;
        match self {
            // The AAA's own reason, once: local users and RADIUS without a
            // Reply-Message already say "authentication failed".
            DownCause::AuthFailed(m) if m.is_empty() || m == text => f.write_str(text),
            DownCause::AuthFailed(m) | DownCause::NoAddress(m) | DownCause::Operator(m) => {
                write!(f, "{text}: {m}")
            }
            _ => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<DownCause> {
        use DownCause::*;
        vec![
            LcpNegotiation,
            LoopedBack,
            AuthRefused,
            AuthFailed("no such user".into()),
            NcpFailed,
            PeerTerminated,
            EchoTimeout,
            UserChanged,
            HungUp,
            CallCleared,
            TunnelDown,
            CallSetupTimeout,
            CallClearedLocally,
            TargetCleared,
            TargetTunnelDown,
            NoAddress("address pool \"x\" is exhausted".into()),
            NoTarget,
            Operator("abuse".into()),
            RadiusDisconnect,
            SessionTimeout,
            IdleTimeout,
            Shutdown,
        ]
    }

    #[test]
    fn every_cause_has_its_own_label_and_a_protocol_text() {
        use DownCause::NoTarget;
        let mut labels = std::collections::HashSet::new();
        for c in all() {
            let r = c.row();
            assert!(labels.insert(r.label), "{}", r.label);
            assert!(
                r.label.chars().all(|x| x.is_ascii_lowercase() || x == '_'),
                "{}",
                r.label
            );
            let text = c.to_string();
            // Protocol text, not Rust: no variant names on the wire.
            let debug = format!("{c:?}");
            let variant = debug.split('(').next().unwrap_or_default();
            assert!(!text.contains(variant), "{text}");
            assert!(!text.contains("(\""), "{text}");
            assert!((1..=18).contains(&r.acct_terminate));
            // Our decisions are administrative, PPP failures are not; a
            // gateway without a target LNS lacks facilities (result 4).
            let ours = matches!(r.source, Source::Operator | Source::Backend);
            let expect = match c {
                NoTarget => CdnResult::TemporaryNoFacilities,
                _ => CdnResult::Administrative,
            };
            assert!(!ours || r.cdn == expect, "{c:?}");
        }
    }

    #[test]
    fn protocol_numbers_are_ppps_own() {
        assert_eq!(proto::LCP, crate::ppp::link::proto::LCP);
        assert_eq!(proto::IPCP, crate::ppp::link::proto::IPCP);
        assert_eq!(proto::CHAP, crate::ppp::auth::CHAP);
    }

    #[test]
    fn rows_match_the_rfcs() {
        // RFC 2866 §5.10.
        assert_eq!(DownCause::PeerTerminated.row().acct_terminate, 1);
        assert_eq!(DownCause::EchoTimeout.row().acct_terminate, 2);
        assert_eq!(DownCause::SessionTimeout.row().acct_terminate, 5);
        assert_eq!(DownCause::Operator(String::new()).row().acct_terminate, 6);
        assert_eq!(DownCause::Shutdown.row().acct_terminate, 7);
        // RFC 3145 §3: 13 is "authentication failed", 3 "peer terminated".
        assert_eq!(DownCause::AuthFailed(String::new()).ppp_cause().code, 13);
        assert_eq!(DownCause::PeerTerminated.ppp_cause().direction, 1);
        assert_eq!(
            DownCause::Operator("interop-test".into()).to_string(),
            "administrative: interop-test"
        );
        assert_eq!(
            DownCause::AuthFailed("authentication failed".into()).to_string(),
            "authentication failed"
        );
    }
}
