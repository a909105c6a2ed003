//! LCP negotiation for the RFC 1661 automaton: one module per option
//! ([`mru`], [`magic`], [`auth`]), composed by [`Lcp`].
//!
//! ACCM (RFC 1662 §7.1) only matters on asynchronous links; L2TP carries
//! PPP synchronously (RFC 2661 §5.3), so a peer's ACCM is acknowledged and
//! ignored and we never ask for one. PFC and ACFC requests are
//! acknowledged: the data plane parses compressed headers.

pub mod auth;
pub mod magic;
pub mod mru;

use super::automaton::{Negotiator, Verdict};
use super::lcp::{AuthProtocol, LcpOption};
use super::packet::Options;
use crate::ppp::rng::LinkRng;

/// One option's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptVerdict<T> {
    /// Acceptable.
    Ack,
    /// Acceptable with this value instead.
    Nak(T),
    /// Not negotiable.
    Reject,
}

/// Which end of the authentication we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The LNS: demands authentication.
    Server,
    /// The subscriber (emulator): is authenticated.
    Client,
}

/// LCP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpConfig {
    /// Server or client.
    pub side: Side,
    /// MRU we ask for (`None`: do not negotiate, 1500 applies).
    pub mru: Option<u16>,
    /// Lowest peer MRU we accept.
    pub min_peer_mru: u16,
    /// Highest MRU either way (`None`: no ceiling): what fits the link the
    /// tunnel runs over. See [`mru`].
    pub max_mru: Option<u16>,
    /// Server: protocols we demand, in order of preference (empty: no
    /// authentication). Client: protocols we can answer.
    pub auth: Vec<AuthProtocol>,
}

impl Default for LcpConfig {
    fn default() -> Self {
        LcpConfig {
            side: Side::Server,
            mru: Some(1460),
            min_peer_mru: 576,
            max_mru: None,
            auth: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::ChapMd5,
                AuthProtocol::Pap,
            ],
        }
    }
}

/// LCP's negotiator: what we ask, what we accept, and what was agreed.
#[derive(Debug)]
pub struct Lcp {
    cfg: LcpConfig,
    rng: LinkRng,
    our_mru: Option<u16>,
    our_magic: Option<u32>,
    /// Server: the protocol we currently demand.
    auth_demand: Option<AuthProtocol>,
    /// The peer's MRU (what we may send).
    pub peer_mru: u16,
    /// The peer's Magic-Number, once acknowledged.
    pub peer_magic: Option<u32>,
    /// Our Magic-Number, once acknowledged by the peer.
    pub magic: Option<u32>,
    /// The agreed authentication protocol (server: the peer acked our
    /// demand; client: we acked the server's).
    pub auth: Option<AuthProtocol>,
    /// The peer refused every authentication protocol we allow.
    pub auth_refused: bool,
    /// The peer may compress the protocol field / omit FF03.
    pub peer_pfc: bool,
    /// See `peer_pfc`.
    pub peer_acfc: bool,
    collisions: u32,
}

impl Lcp {
    /// A negotiator; `seed` drives Magic-Number choice.
    pub fn new(cfg: LcpConfig, seed: u64) -> Self {
        let mut rng = LinkRng::seed_from_u64(seed);
        let magic = rng.next_u32().max(1);
        let auth_demand = match cfg.side {
            Side::Server => cfg.auth.first().cloned(),
            Side::Client => None,
        };
        Lcp {
            our_mru: mru::request(cfg.mru, cfg.max_mru),
            cfg,
            rng,
            our_magic: Some(magic),
            auth_demand,
            peer_mru: mru::DEFAULT,
            peer_magic: None,
            magic: None,
            auth: None,
            auth_refused: false,
            peer_pfc: false,
            peer_acfc: false,
            collisions: 0,
        }
    }

    /// Takes over an LCP negotiation the LAC ran with the peer (RFC 2661
    /// proxy LCP): `ours` is the LAC's last Configure-Request to the peer
    /// (now ours), `theirs` the peer's last one, which the LAC acked.
    /// Returns why not when we would not have agreed to it, in which case
    /// LCP must be renegotiated.
    pub fn adopt(&mut self, ours: &[LcpOption], theirs: &[LcpOption]) -> Result<(), String> {
        let mut auth = None;
        let mut magic = None;
        for o in ours {
            match o {
                LcpOption::AuthProtocol(p) => auth = Some(p.clone()),
                LcpOption::MagicNumber(m) => magic = Some(*m),
                LcpOption::Mru(_) | LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => {}
                LcpOption::Unknown { kind, .. } => {
                    return Err(format!("LAC negotiated unknown LCP option {kind}"));
                }
            }
        }
        match (&auth, self.cfg.side) {
            (Some(p), Side::Server) if !self.cfg.auth.contains(p) => {
                return Err(format!("LAC negotiated {p:?}, not one we allow"));
            }
            (None, Side::Server) if !self.cfg.auth.is_empty() => {
                return Err("LAC negotiated no authentication".into());
            }
            _ => {}
        }
        let mut peer_mru = mru::DEFAULT;
        let mut peer_magic = None;
        let (mut pfc, mut acfc) = (false, false);
        for o in theirs {
            match o {
                LcpOption::Mru(m) => peer_mru = *m,
                LcpOption::MagicNumber(m) => peer_magic = Some(*m),
                LcpOption::Pfc => pfc = true,
                LcpOption::Acfc => acfc = true,
                LcpOption::Accm(_) => {}
                LcpOption::AuthProtocol(_) => {
                    return Err("peer asked to authenticate us".into());
                }
                LcpOption::Unknown { kind, .. } => {
                    return Err(format!("peer negotiated unknown LCP option {kind}"));
                }
            }
        }
        if peer_mru < self.cfg.min_peer_mru {
            return Err(format!(
                "peer MRU {peer_mru} below {}",
                self.cfg.min_peer_mru
            ));
        }
        if let Some(max) = self.cfg.max_mru
            && peer_mru > max
        {
            return Err(format!("peer MRU {peer_mru} above {max}, what fits"));
        }
        if magic.is_some() && magic == peer_magic {
            return Err("equal magic numbers".into());
        }
        self.peer_mru = peer_mru;
        self.peer_magic = peer_magic;
        self.magic = magic;
        self.our_magic = magic;
        self.auth = auth;
        self.peer_pfc = pfc;
        self.peer_acfc = acfc;
        Ok(())
    }

    /// Our own Magic-Number keeps coming back: the link is looped (§6.4).
    pub fn looped_back(&self) -> bool {
        self.collisions >= magic::LOOP_LIMIT
    }

    fn fresh_magic(&mut self) -> u32 {
        self.rng.next_u32().max(1)
    }
}

impl Negotiator for Lcp {
    type Opt = LcpOption;

    fn request(&mut self) -> Options<LcpOption> {
        let mut v = Options::new();
        if let Some(m) = self.our_mru {
            v.push(LcpOption::Mru(m));
        }
        if let Some(a) = &self.auth_demand {
            v.push(LcpOption::AuthProtocol(a.clone()));
        }
        if let Some(m) = self.our_magic {
            v.push(LcpOption::MagicNumber(m));
        }
        v
    }

    fn judge(&mut self, options: &[LcpOption], may_nak: bool) -> Verdict<LcpOption> {
        let mut naks = Options::new();
        let mut rejects = Options::new();
        // No MRU named means 1500 (§6.1): prompt for one that fits.
        if let Some(max) = self.cfg.max_mru
            && max < mru::DEFAULT
            && may_nak
            && !options.iter().any(|o| matches!(o, LcpOption::Mru(_)))
        {
            naks.push(LcpOption::Mru(max));
        }
        for o in options {
            let verdict = match o {
                LcpOption::Mru(m) => {
                    match mru::judge(*m, self.cfg.min_peer_mru, self.cfg.max_mru) {
                        OptVerdict::Nak(v) => OptVerdict::Nak(LcpOption::Mru(v)),
                        _ => OptVerdict::Ack,
                    }
                }
                LcpOption::MagicNumber(m) => {
                    let fresh = self.fresh_magic();
                    match magic::judge(*m, self.our_magic, fresh) {
                        OptVerdict::Nak(v) => {
                            self.collisions = self.collisions.saturating_add(1);
                            OptVerdict::Nak(LcpOption::MagicNumber(v))
                        }
                        _ => OptVerdict::Ack,
                    }
                }
                LcpOption::AuthProtocol(p) => match self.cfg.side {
                    // We do not authenticate ourselves to subscribers.
                    Side::Server => OptVerdict::Reject,
                    Side::Client => match auth::judge_client(p, &self.cfg.auth) {
                        OptVerdict::Nak(a) => OptVerdict::Nak(LcpOption::AuthProtocol(a)),
                        OptVerdict::Ack => OptVerdict::Ack,
                        OptVerdict::Reject => OptVerdict::Reject,
                    },
                },
                LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => OptVerdict::Ack,
                LcpOption::Unknown { .. } => OptVerdict::Reject,
            };
            match verdict {
                OptVerdict::Ack => {}
                OptVerdict::Nak(n) if may_nak => naks.push(n),
                // Max-Failure: what we would Nak is now rejected (§4.6).
                OptVerdict::Nak(_) | OptVerdict::Reject => rejects.push(o.clone()),
            }
        }
        // §5.4: Reject takes precedence; only Ack'able options otherwise.
        if !rejects.is_empty() {
            Verdict::Reject(rejects)
        } else if !naks.is_empty() {
            Verdict::Nak(naks)
        } else {
            // Values from an earlier negotiation do not survive a new one:
            // what the peer leaves out takes its default.
            self.peer_mru = mru::DEFAULT;
            self.peer_pfc = false;
            self.peer_acfc = false;
            if self.cfg.side == Side::Client {
                self.auth = None;
            }
            for o in options {
                match o {
                    LcpOption::Mru(m) => self.peer_mru = *m,
                    LcpOption::MagicNumber(m) => self.peer_magic = Some(*m),
                    LcpOption::AuthProtocol(p) => self.auth = Some(p.clone()),
                    LcpOption::Pfc => self.peer_pfc = true,
                    LcpOption::Acfc => self.peer_acfc = true,
                    _ => {}
                }
            }
            Verdict::Ack
        }
    }

    fn acked(&mut self, options: &[LcpOption]) {
        if self.cfg.side == Side::Server {
            self.auth = None;
        }
        for o in options {
            match o {
                LcpOption::MagicNumber(m) => self.magic = Some(*m),
                LcpOption::AuthProtocol(p) if self.cfg.side == Side::Server => {
                    self.auth = Some(p.clone())
                }
                _ => {}
            }
        }
    }

    fn naked(&mut self, options: &[LcpOption]) {
        for o in options {
            match o {
                LcpOption::Mru(m) => {
                    self.our_mru = match self.our_mru {
                        Some(ours) => Some(mru::after_nak(
                            ours,
                            *m,
                            self.cfg.min_peer_mru,
                            self.cfg.max_mru,
                        )),
                        // A prompt for an MRU we did not name (§5.3): a
                        // smaller one than the 1500 we had, as pppd does.
                        None if *m < mru::DEFAULT => Some(mru::after_nak(
                            mru::DEFAULT,
                            *m,
                            self.cfg.min_peer_mru,
                            None,
                        ))
                        .filter(|x| *x < mru::DEFAULT),
                        None => None,
                    };
                }
                LcpOption::MagicNumber(_) => {
                    // §6.4: a Nak of our number may mean a loop; pick anew.
                    self.collisions = self.collisions.saturating_add(1);
                    self.our_magic = Some(self.fresh_magic());
                }
                LcpOption::AuthProtocol(p) if self.cfg.side == Side::Server => {
                    if let Some(cur) = self.auth_demand.clone() {
                        self.auth_demand = auth::after_nak(&self.cfg.auth, &cur, p);
                        if self.auth_demand.is_none() {
                            self.auth_refused = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn rejected(&mut self, options: &[LcpOption]) {
        for o in options {
            match o {
                LcpOption::Mru(_) => self.our_mru = None,
                LcpOption::MagicNumber(_) => self.our_magic = None,
                LcpOption::AuthProtocol(_) => {
                    self.auth_demand = None;
                    self.auth = None;
                    self.auth_refused = true;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::automaton::{Automaton, Limits, Output};
    use crate::ppp::fsm::State;
    use crate::ppp::packet::{Body, CpPacket};
    use std::time::Instant;

    fn lcp(side: Side, auth: Vec<AuthProtocol>, seed: u64) -> Automaton<Lcp> {
        let cfg = LcpConfig {
            side,
            auth,
            ..Default::default()
        };
        let mut a = Automaton::new(Lcp::new(cfg, seed), Limits::default(), true);
        let now = Instant::now();
        a.open(now);
        a.up(now);
        a
    }

    fn packets(a: &mut Automaton<Lcp>) -> Vec<CpPacket<LcpOption>> {
        std::iter::from_fn(|| a.poll_output())
            .filter_map(|o| match o {
                Output::Send(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Runs two ends until quiet, letting `tamper` rewrite b's packets.
    fn run(
        a: &mut Automaton<Lcp>,
        b: &mut Automaton<Lcp>,
        mut tamper: impl FnMut(CpPacket<LcpOption>) -> CpPacket<LcpOption>,
    ) {
        let now = Instant::now();
        for _ in 0..200 {
            let pa = packets(a);
            let pb: Vec<_> = packets(b).into_iter().map(&mut tamper).collect();
            if pa.is_empty() && pb.is_empty() {
                // Let a restart timer move things on, as time would.
                let due = [a.poll_timeout(), b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match due {
                    Some(t) => {
                        a.on_timeout(t);
                        b.on_timeout(t);
                        continue;
                    }
                    None => break,
                }
            }
            for p in pa {
                b.receive(now, &p, &p.encode().unwrap());
            }
            for p in pb {
                a.receive(now, &p, &p.encode().unwrap());
            }
        }
    }

    #[test]
    fn server_and_client_agree_on_the_first_common_protocol() {
        let all = vec![
            AuthProtocol::MsChapV2,
            AuthProtocol::ChapMd5,
            AuthProtocol::Pap,
        ];
        let mut s = lcp(Side::Server, all.clone(), 1);
        let mut c = lcp(
            Side::Client,
            vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
            2,
        );
        run(&mut s, &mut c, |p| p);
        assert_eq!((s.state(), c.state()), (State::Opened, State::Opened));
        assert_eq!(s.negotiator.auth, Some(AuthProtocol::ChapMd5));
        assert_eq!(c.negotiator.auth, Some(AuthProtocol::ChapMd5));
        assert_eq!(s.negotiator.peer_mru, 1460);
        assert!(s.negotiator.magic.is_some() && s.negotiator.peer_magic.is_some());
        assert_ne!(s.negotiator.magic, s.negotiator.peer_magic);
    }

    #[test]
    fn client_without_any_common_protocol_refuses() {
        let mut s = lcp(Side::Server, vec![AuthProtocol::MsChapV2], 1);
        let mut c = lcp(Side::Client, vec![AuthProtocol::Pap], 2);
        run(&mut s, &mut c, |p| p);
        assert!(s.negotiator.auth_refused);
        assert_eq!(s.negotiator.auth, None);
    }

    #[test]
    fn peer_that_rejects_magic_number_still_opens_without_it() {
        let mut s = lcp(Side::Server, vec![], 1);
        let mut c = lcp(Side::Client, vec![], 2);
        // The client answers any request carrying Magic-Number with a
        // Configure-Reject of it.
        run(&mut s, &mut c, |p| match &p.body {
            Body::ConfigureAck(o) | Body::ConfigureNak(o)
                if o.iter().any(|x| matches!(x, LcpOption::MagicNumber(_))) =>
            {
                CpPacket {
                    identifier: p.identifier,
                    body: Body::ConfigureReject(
                        o.iter()
                            .filter(|x| matches!(x, LcpOption::MagicNumber(_)))
                            .cloned()
                            .collect(),
                    ),
                }
            }
            _ => p,
        });
        assert_eq!(s.state(), State::Opened);
        assert_eq!(s.negotiator.magic, None);
    }

    #[test]
    fn low_peer_mru_is_naked_up_to_the_floor() {
        let mut s = lcp(Side::Server, vec![], 1);
        let mut cfg = LcpConfig {
            side: Side::Client,
            auth: vec![],
            ..Default::default()
        };
        cfg.mru = Some(300);
        cfg.min_peer_mru = 64;
        let mut c = Automaton::new(Lcp::new(cfg, 2), Limits::default(), true);
        let now = Instant::now();
        c.open(now);
        c.up(now);
        run(&mut s, &mut c, |p| p);
        assert_eq!(s.state(), State::Opened);
        assert_eq!(s.negotiator.peer_mru, 576);
    }

    #[test]
    fn peer_mru_above_the_ceiling_is_naked_down_and_ours_held_under_it() {
        // A 1500-byte access link: 1458 fits (see lnsd's
        // `ppp.mru_fit_access_mtu`). The server would ask for 1460.
        let server = LcpConfig {
            side: Side::Server,
            auth: vec![],
            max_mru: Some(1458),
            ..Default::default()
        };
        // A client asking for 1500, and one naming no MRU (1500 too).
        for asked in [Some(1500), None] {
            let now = Instant::now();
            let mut s = Automaton::new(Lcp::new(server.clone(), 1), Limits::default(), true);
            s.open(now);
            s.up(now);
            let first = packets(&mut s);
            assert!(
                matches!(&first[0].body, Body::ConfigureRequest(o) if o.contains(&LcpOption::Mru(1458))),
                "{first:?}"
            );
            let client = LcpConfig {
                side: Side::Client,
                auth: vec![],
                mru: asked,
                min_peer_mru: 64,
                ..Default::default()
            };
            let mut c = Automaton::new(Lcp::new(client, 2), Limits::default(), true);
            c.open(now);
            c.up(now);
            for p in first {
                c.receive(now, &p, &p.encode().unwrap());
            }
            let mut naks = Vec::new();
            run(&mut c, &mut s, |p| {
                if let Body::ConfigureNak(o) = &p.body {
                    naks.push(o.clone());
                }
                p
            });
            assert_eq!((s.state(), c.state()), (State::Opened, State::Opened));
            assert_eq!(naks.len(), 1, "{asked:?}");
            assert_eq!(naks[0][..], [LcpOption::Mru(1458)], "{asked:?}");
            assert_eq!(s.negotiator.peer_mru, 1458, "{asked:?}");
            assert_eq!(c.negotiator.peer_mru, 1458, "{asked:?}");
        }
    }

    #[test]
    fn proxy_lcp_above_the_ceiling_is_renegotiated() {
        let cfg = |max_mru| LcpConfig {
            side: Side::Server,
            auth: vec![],
            max_mru,
            ..Default::default()
        };
        let theirs = [LcpOption::Mru(1500), LcpOption::MagicNumber(7)];
        let mut l = Lcp::new(cfg(Some(1458)), 1);
        assert!(l.adopt(&[], &theirs).unwrap_err().contains("above 1458"));
        let mut l = Lcp::new(cfg(None), 1);
        assert_eq!(l.adopt(&[], &theirs), Ok(()));
        assert_eq!(l.peer_mru, 1500);
    }

    #[test]
    fn looped_back_link_is_detected() {
        // Everything the server sends comes straight back to it.
        let mut s = lcp(Side::Server, vec![], 1);
        let now = Instant::now();
        for _ in 0..100 {
            let ps = packets(&mut s);
            if ps.is_empty() {
                match s.poll_timeout() {
                    Some(t) => s.on_timeout(t),
                    None => break,
                }
                continue;
            }
            for p in ps {
                s.receive(now, &p, &p.encode().unwrap());
            }
            if s.negotiator.looped_back() {
                break;
            }
        }
        assert!(s.negotiator.looped_back());
    }
}
