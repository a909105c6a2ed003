//! Network control protocols for the RFC 1661 automaton: IPCP (RFC 1332,
//! DNS from RFC 1877) and IPv6CP (RFC 5072), server and client sides.
//!
//! Server side: the subscriber's address is decided before IPCP starts (by
//! AAA and the pools); IPCP only steers the peer to it with Configure-Nak,
//! along with the DNS servers when configured (and rejects DNS options when
//! not, so a client does not wait for them). IPv6CP hands the peer a
//! unique, non-zero interface identifier chosen by the caller.
//!
//! Client side (the emulator): asks for 0.0.0.0 and the DNS servers and
//! takes what the Nak offers; acknowledges the server's own options.

use super::automaton::{Negotiator, Verdict};
use super::ipcp::IpcpOption;
use super::ipv6cp::Ipv6cpOption;
use super::lcp_opts::Side;
use super::packet::Options;
use core::net::Ipv4Addr;

/// IPCP's negotiator.
#[derive(Debug, Clone)]
pub struct Ipcp {
    side: Side,
    /// Our own address (server: the gateway the subscriber sees; client:
    /// the address being negotiated for us).
    pub local: Ipv4Addr,
    /// The peer's address (server: the one assigned to the subscriber).
    pub peer: Ipv4Addr,
    /// DNS servers offered (server) or learnt (client).
    pub dns: [Option<Ipv4Addr>; 2],
    ask_local: bool,
    ask_dns: [bool; 2],
}

impl Ipcp {
    /// Server: steer the peer to `peer`, offer `dns`.
    pub fn server(local: Ipv4Addr, peer: Ipv4Addr, dns: [Option<Ipv4Addr>; 2]) -> Self {
        Ipcp {
            side: Side::Server,
            local,
            peer,
            dns,
            ask_local: true,
            ask_dns: [false, false],
        }
    }

    /// Client: ask for an address and both DNS servers.
    pub fn client() -> Self {
        Ipcp {
            side: Side::Client,
            local: Ipv4Addr::UNSPECIFIED,
            peer: Ipv4Addr::UNSPECIFIED,
            dns: [None, None],
            ask_local: true,
            ask_dns: [true, true],
        }
    }
}

fn dns_slot(o: &IpcpOption) -> Option<(usize, Ipv4Addr)> {
    // Slot 0: primary, 1: secondary (RFC 1877 types 129 and 131).
    match o {
        IpcpOption::PrimaryDns(a) => Some((0, *a)),
        IpcpOption::SecondaryDns(a) => Some((1, *a)),
        _ => None,
    }
}

fn dns_option(slot: usize, a: Ipv4Addr) -> IpcpOption {
    if slot == 0 {
        IpcpOption::PrimaryDns(a)
    } else {
        IpcpOption::SecondaryDns(a)
    }
}

impl Negotiator for Ipcp {
    type Opt = IpcpOption;

    fn request(&mut self) -> Options<IpcpOption> {
        let mut v = Options::new();
        if self.ask_local {
            v.push(IpcpOption::IpAddress(self.local));
        }
        for slot in 0..2 {
            if self.ask_dns[slot] {
                v.push(dns_option(
                    slot,
                    self.dns[slot].unwrap_or(Ipv4Addr::UNSPECIFIED),
                ));
            }
        }
        v
    }

    fn judge(&mut self, options: &[IpcpOption], may_nak: bool) -> Verdict<IpcpOption> {
        let mut v = Verdicts::default();
        for o in options {
            match (self.side, o) {
                (Side::Server, IpcpOption::IpAddress(a)) => {
                    // RFC 1332 §3.3: Nak with the address the peer must use.
                    if *a != self.peer {
                        v.nak(o, IpcpOption::IpAddress(self.peer), may_nak);
                    }
                }
                (Side::Server, IpcpOption::PrimaryDns(a) | IpcpOption::SecondaryDns(a)) => {
                    let slot = usize::from(matches!(o, IpcpOption::SecondaryDns(_)));
                    match self.dns[slot] {
                        // RFC 1877 §1.1: Nak with the server to use.
                        Some(ours) if ours != *a => v.nak(o, dns_option(slot, ours), may_nak),
                        Some(_) => {}
                        None => v.reject(o),
                    }
                }
                (Side::Client, IpcpOption::IpAddress(a)) => self.peer = *a,
                _ => v.reject(o),
            }
        }
        // RFC 1332 §3.3: a peer that asks for no address is told which one
        // to use (appended to a Nak), or it would run without one.
        if self.side == Side::Server
            && may_nak
            && !options
                .iter()
                .any(|o| matches!(o, IpcpOption::IpAddress(_)))
        {
            v.naks.push(IpcpOption::IpAddress(self.peer));
        }
        v.verdict()
    }

    fn acked(&mut self, _: &[IpcpOption]) {}

    fn naked(&mut self, options: &[IpcpOption]) {
        for o in options {
            match (self.side, o) {
                (Side::Client, IpcpOption::IpAddress(a)) => self.local = *a,
                (Side::Client, o) => {
                    if let Some((slot, a)) = dns_slot(o) {
                        self.dns[slot] = Some(a);
                    }
                }
                // The server decides its own address.
                (Side::Server, _) => {}
            }
        }
    }

    fn rejected(&mut self, options: &[IpcpOption]) {
        for o in options {
            match o {
                IpcpOption::IpAddress(_) => self.ask_local = false,
                o => {
                    if let Some((slot, _)) = dns_slot(o) {
                        self.ask_dns[slot] = false;
                    }
                }
            }
        }
    }
}

/// Per-option verdicts folded into one (RFC 1661 §5.3/§5.4: Reject wins
/// over Nak; a Reject lists the options as received).
#[derive(Debug)]
struct Verdicts<O> {
    naks: Options<O>,
    rejects: Options<O>,
}

impl<O> Default for Verdicts<O> {
    fn default() -> Self {
        Verdicts {
            naks: Options::new(),
            rejects: Options::new(),
        }
    }
}

impl<O: Clone> Verdicts<O> {
    fn nak(&mut self, received: &O, suggestion: O, may_nak: bool) {
        if may_nak {
            self.naks.push(suggestion);
        } else {
            // §4.6 Max-Failure: stop Nak'ing, reject instead.
            self.rejects.push(received.clone());
        }
    }

    fn reject(&mut self, received: &O) {
        self.rejects.push(received.clone());
    }

    fn verdict(self) -> Verdict<O> {
        if !self.rejects.is_empty() {
            Verdict::Reject(self.rejects)
        } else if !self.naks.is_empty() {
            Verdict::Nak(self.naks)
        } else {
            Verdict::Ack
        }
    }
}

/// IPv6CP's negotiator (RFC 5072 §4.1).
#[derive(Debug, Clone)]
pub struct Ipv6cp {
    side: Side,
    /// Our interface identifier.
    pub local: [u8; 8],
    /// The peer's interface identifier (server: the one we hand out).
    pub peer: [u8; 8],
}

impl Ipv6cp {
    /// Server: our identifier and the unique one the peer must use (both
    /// non-zero and different; the caller guarantees uniqueness).
    pub fn server(local: [u8; 8], peer: [u8; 8]) -> Self {
        Ipv6cp {
            side: Side::Server,
            local,
            peer,
        }
    }

    /// Client: proposes `local` (zero asks the server for one).
    pub fn client(local: [u8; 8]) -> Self {
        Ipv6cp {
            side: Side::Client,
            local,
            peer: [0; 8],
        }
    }
}

impl Negotiator for Ipv6cp {
    type Opt = Ipv6cpOption;

    fn request(&mut self) -> Options<Ipv6cpOption> {
        smallvec::smallvec![Ipv6cpOption::InterfaceIdentifier(self.local)]
    }

    fn judge(&mut self, options: &[Ipv6cpOption], may_nak: bool) -> Verdict<Ipv6cpOption> {
        let mut v = Verdicts::default();
        for o in options {
            match (self.side, o) {
                (Side::Server, Ipv6cpOption::InterfaceIdentifier(id)) => {
                    // §4.1: zero, or equal to ours, must be Nak'd; we also
                    // insist on the identifier we allocated (uniqueness).
                    if *id != self.peer {
                        v.nak(o, Ipv6cpOption::InterfaceIdentifier(self.peer), may_nak);
                    }
                }
                (Side::Client, Ipv6cpOption::InterfaceIdentifier(id)) => {
                    if *id == [0; 8] || *id == self.local {
                        v.reject(o);
                    } else {
                        self.peer = *id;
                    }
                }
                (_, Ipv6cpOption::Unknown { .. }) => v.reject(o),
            }
        }
        // RFC 5072 §4.1: likewise for a missing Interface-Identifier.
        if self.side == Side::Server
            && may_nak
            && !options
                .iter()
                .any(|o| matches!(o, Ipv6cpOption::InterfaceIdentifier(_)))
        {
            v.naks.push(Ipv6cpOption::InterfaceIdentifier(self.peer));
        }
        v.verdict()
    }

    fn acked(&mut self, _: &[Ipv6cpOption]) {}

    fn naked(&mut self, options: &[Ipv6cpOption]) {
        if self.side == Side::Client
            && let Some(Ipv6cpOption::InterfaceIdentifier(id)) = options.first()
            && *id != [0; 8]
        {
            self.local = *id;
        }
    }

    fn rejected(&mut self, _: &[Ipv6cpOption]) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::automaton::{Automaton, Limits, Output};
    use crate::ppp::fsm::State;
    use crate::ppp::packet::PppOption;
    use std::time::Instant;

    fn run<A: Negotiator, B: Negotiator<Opt = A::Opt>>(a: &mut Automaton<A>, b: &mut Automaton<B>)
    where
        A::Opt: PppOption,
    {
        let now = Instant::now();
        a.open(now);
        a.up(now);
        b.open(now);
        b.up(now);
        for _ in 0..50 {
            let pa: Vec<_> = std::iter::from_fn(|| a.poll_output()).collect();
            let pb: Vec<_> = std::iter::from_fn(|| b.poll_output()).collect();
            if pa.is_empty() && pb.is_empty() {
                break;
            }
            for o in pa {
                if let Output::Send(p) = o {
                    b.receive(now, &p, &p.encode().unwrap());
                }
            }
            for o in pb {
                if let Output::Send(p) = o {
                    a.receive(now, &p, &p.encode().unwrap());
                }
            }
        }
    }

    #[test]
    fn ipcp_client_gets_the_assigned_address_and_dns() {
        let gw = Ipv4Addr::new(100, 64, 0, 1);
        let sub = Ipv4Addr::new(100, 64, 0, 77);
        let dns = [
            Some(Ipv4Addr::new(9, 9, 9, 9)),
            Some(Ipv4Addr::new(1, 1, 1, 1)),
        ];
        let mut s = Automaton::new(Ipcp::server(gw, sub, dns), Limits::default(), false);
        let mut c = Automaton::new(Ipcp::client(), Limits::default(), false);
        run(&mut s, &mut c);
        assert_eq!((s.state(), c.state()), (State::Opened, State::Opened));
        assert_eq!(c.negotiator.local, sub);
        assert_eq!(c.negotiator.peer, gw);
        assert_eq!(c.negotiator.dns, dns);
    }

    #[test]
    fn ipcp_without_dns_configured_rejects_dns_and_still_opens() {
        let gw = Ipv4Addr::new(100, 64, 0, 1);
        let sub = Ipv4Addr::new(100, 64, 0, 78);
        let mut s = Automaton::new(
            Ipcp::server(gw, sub, [None, None]),
            Limits::default(),
            false,
        );
        let mut c = Automaton::new(Ipcp::client(), Limits::default(), false);
        run(&mut s, &mut c);
        assert_eq!(c.state(), State::Opened);
        assert_eq!(c.negotiator.local, sub);
        assert_eq!(c.negotiator.dns, [None, None]);
    }

    #[test]
    fn ipv6cp_hands_out_the_allocated_identifier() {
        let ours = [0x02, 0, 0, 0, 0, 0, 0, 1];
        let theirs = [0x02, 0, 0, 0, 0xab, 0xcd, 0, 9];
        let mut s = Automaton::new(Ipv6cp::server(ours, theirs), Limits::default(), false);
        let mut c = Automaton::new(Ipv6cp::client([0; 8]), Limits::default(), false);
        run(&mut s, &mut c);
        assert_eq!((s.state(), c.state()), (State::Opened, State::Opened));
        assert_eq!(c.negotiator.local, theirs);
        assert_eq!(c.negotiator.peer, ours);
    }
}
