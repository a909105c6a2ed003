//! The RADIUS client, sans-IO: identifiers, retransmission, server
//! failover, and reply verification (RFC 2865 §2.5 and §3, RFC 2866 §2,
//! RFC 5080 §2.2 on retransmission, CVE-2024-3596 on Message-Authenticator).
//!
//! The owner submits requests ([`Client::request`]) and gets each one back
//! exactly once as [`ClientOutput::Reply`] (a verified answer) or
//! [`ClientOutput::Timeout`] (every server tried). Datagrams go out as
//! [`ClientOutput::Send`]; replies come in through [`Client::handle`]:
//! one that matches no outstanding request, or fails verification, is
//! dropped and counted, never delivered.
//!
//! A server that lets a request run out of retries is considered dead for
//! `dead_time`; requests go to the first live server of their list, and
//! when all are dead, to the one that died first (so recovery is noticed).

use super::packet::{Attr, Code, Packet, attr, hide_password};
use crate::map::HashMap;
use crate::timers::Timers;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A RADIUS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its address (auth port for authentication servers, accounting port
    /// for accounting servers).
    pub addr: SocketAddr,
    /// Shared secret.
    pub secret: Vec<u8>,
}

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Authentication servers, in order of preference.
    pub auth: Vec<Server>,
    /// Accounting servers, in order of preference.
    pub acct: Vec<Server>,
    /// Wait before the first retransmission to the same server (doubling
    /// after each one).
    pub timeout: Duration,
    /// Transmissions per server before failing over.
    pub tries: u32,
    /// How long a server that stopped answering is skipped.
    pub dead_time: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            auth: Vec::new(),
            acct: Vec::new(),
            timeout: Duration::from_secs(3),
            tries: 3,
            dead_time: Duration::from_secs(30),
        }
    }
}

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Access-Request.
    Auth,
    /// Accounting-Request.
    Acct,
}

/// What the client asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Send this datagram to this server.
    Send {
        /// Server address.
        to: SocketAddr,
        /// Datagram.
        bytes: Vec<u8>,
    },
    /// The verified reply to request `token`.
    Reply {
        /// The request.
        token: u64,
        /// The reply.
        packet: Packet,
        /// Time from first transmission to this reply.
        latency: Duration,
        /// The server that answered (its secret decrypts reply attributes
        /// such as Tunnel-Password).
        server: SocketAddr,
        /// The Request Authenticator of the request this answers (the
        /// other input of Tunnel-Password decryption, RFC 2868 §3.5).
        request_authenticator: [u8; 16],
    },
    /// No server answered request `token`.
    Timeout {
        /// The request.
        token: u64,
    },
}

/// Client counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests submitted.
    pub requests: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Moves to another server.
    pub failovers: u64,
    /// Requests no server answered.
    pub timeouts: u64,
    /// Verified replies.
    pub replies: u64,
    /// Dropped: reply that matches no outstanding request.
    pub unexpected: u64,
    /// Dropped: authenticator or Message-Authenticator wrong.
    pub bad_authenticator: u64,
    /// Dropped: not a RADIUS packet.
    pub malformed: u64,
}

#[derive(Debug)]
struct Pending {
    service: Service,
    attrs: Vec<Attr>,
    password: Option<Vec<u8>>,
    first_sent: Instant,
    /// Index into the server list of the service.
    server: usize,
    servers_tried: usize,
    sends: u32,
    identifier: u8,
    authenticator: [u8; 16],
    bytes: Vec<u8>,
}

/// The RADIUS client.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    rng: StdRng,
    next_token: u64,
    pending: HashMap<u64, Pending>,
    /// (server, identifier) -> token.
    by_wire: HashMap<(SocketAddr, u8), u64>,
    next_id: HashMap<SocketAddr, u8>,
    dead_until: HashMap<SocketAddr, Instant>,
    timers: Timers<u64>,
    out: VecDeque<ClientOutput>,
    /// Counters.
    pub stats: Stats,
}

impl Client {
    /// A client; `seed` drives Request Authenticators (use OS randomness
    /// outside tests: authenticators must be unpredictable).
    pub fn new(cfg: ClientConfig, seed: [u8; 32]) -> Self {
        Client {
            cfg,
            rng: StdRng::from_seed(seed),
            next_token: 1,
            pending: HashMap::default(),
            by_wire: HashMap::default(),
            next_id: HashMap::default(),
            dead_until: HashMap::default(),
            timers: Timers::default(),
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Whether any server is configured for `service`.
    pub fn serves(&self, service: Service) -> bool {
        !self.servers(service).is_empty()
    }

    fn servers(&self, service: Service) -> &[Server] {
        match service {
            Service::Auth => &self.cfg.auth,
            Service::Acct => &self.cfg.acct,
        }
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Forgets a request (its session is gone or asked again): no output
    /// will come for it, and a late reply is dropped as unexpected.
    pub fn cancel(&mut self, token: u64) {
        if let Some(p) = self.pending.remove(&token)
            && let Some(addr) = self.servers(p.service).get(p.server).map(|s| s.addr)
        {
            self.by_wire.remove(&(addr, p.identifier));
        }
        self.timers.set(token, None);
    }

    /// Submits a request. `password`, when given, becomes a User-Password
    /// hidden for whichever server the request goes to.
    pub fn request(
        &mut self,
        now: Instant,
        service: Service,
        attrs: Vec<Attr>,
        password: Option<Vec<u8>>,
    ) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.stats.requests += 1;
        let n = self.servers(service).len();
        let first = self.pick_server(now, service);
        self.pending.insert(
            token,
            Pending {
                service,
                attrs,
                password,
                first_sent: now,
                server: first,
                servers_tried: 0,
                sends: 0,
                identifier: 0,
                authenticator: [0; 16],
                bytes: Vec::new(),
            },
        );
        if n == 0 {
            self.fail(token);
        } else {
            self.transmit_new(now, token);
        }
        token
    }

    fn pick_server(&self, now: Instant, service: Service) -> usize {
        let servers = self.servers(service);
        if let Some(i) = servers
            .iter()
            .position(|s| self.dead_until.get(&s.addr).is_none_or(|t| *t <= now))
        {
            return i;
        }
        // All dead: the one that has been dead longest.
        servers
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| self.dead_until.get(&s.addr).copied())
            .map_or(0, |(i, _)| i)
    }

    fn fail(&mut self, token: u64) {
        if let Some(p) = self.pending.remove(&token) {
            let addr = self.servers(p.service).get(p.server).map(|s| s.addr);
            if let Some(a) = addr {
                self.by_wire.remove(&(a, p.identifier));
            }
        }
        self.timers.set(token, None);
        self.stats.timeouts += 1;
        self.out.push_back(ClientOutput::Timeout { token });
    }

    /// Seals the request for its current server with a fresh identifier
    /// and authenticator, and sends it.
    fn transmit_new(&mut self, now: Instant, token: u64) {
        let Some(p) = self.pending.get(&token) else {
            return;
        };
        let Some(server) = self.servers(p.service).get(p.server).cloned() else {
            return self.fail(token);
        };
        // An identifier not in flight to this server (RFC 2865 §3: the
        // identifier matches replies to requests per server).
        let start = *self.next_id.entry(server.addr).or_insert(0);
        let Some(id) = (0..=255u8)
            .map(|i| start.wrapping_add(i))
            .find(|id| !self.by_wire.contains_key(&(server.addr, *id)))
        else {
            return self.fail(token);
        };
        self.next_id.insert(server.addr, id.wrapping_add(1));
        let mut authenticator = [0u8; 16];
        self.rng.fill_bytes(&mut authenticator);
        let Some(p) = self.pending.get_mut(&token) else {
            return;
        };
        let code = match p.service {
            Service::Auth => Code::AccessRequest,
            Service::Acct => Code::AccountingRequest,
        };
        let mut packet = Packet::new(code, id, authenticator);
        packet.attrs = p.attrs.clone();
        let sealed = match p.service {
            Service::Auth => {
                if let Some(pw) = &p.password {
                    match hide_password(pw, &server.secret, &authenticator) {
                        Some(h) => packet
                            .attrs
                            .insert(1.min(packet.attrs.len()), Attr::new(attr::USER_PASSWORD, h)),
                        None => return self.fail(token),
                    }
                }
                packet.seal_access_request(&server.secret)
            }
            Service::Acct => packet.seal_md5_request(&server.secret),
        };
        let Ok(bytes) = sealed else {
            return self.fail(token);
        };
        p.identifier = id;
        p.authenticator = packet.authenticator;
        p.bytes = bytes.clone();
        p.sends = 1;
        p.servers_tried += 1;
        self.by_wire.insert((server.addr, id), token);
        self.timers.set(token, Some(now + self.cfg.timeout));
        self.out.push_back(ClientOutput::Send {
            to: server.addr,
            bytes,
        });
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// Earliest retransmission.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Retransmits, fails over, or gives up.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(token) = self.timers.pop_due(now) {
            let Some(p) = self.pending.get_mut(&token) else {
                continue;
            };
            let service = p.service;
            let n = match service {
                Service::Auth => self.cfg.auth.len(),
                Service::Acct => self.cfg.acct.len(),
            };
            if p.sends < self.cfg.tries {
                // RFC 5080 §2.2.1: same identifier and authenticator.
                p.sends += 1;
                let (idx, bytes) = (p.server, p.bytes.clone());
                self.stats.retransmits += 1;
                let Some(addr) = self.servers(service).get(idx).map(|s| s.addr) else {
                    continue;
                };
                // RFC 5080 §2.2.1: back off, doubling each time.
                let sends = self.pending.get(&token).map_or(1, |p| p.sends);
                let wait = self.cfg.timeout * (1u32 << (sends - 1).min(4));
                self.timers.set(token, Some(now + wait));
                self.out.push_back(ClientOutput::Send { to: addr, bytes });
                continue;
            }
            // This server is not answering.
            let (server, id, tried) = (p.server, p.identifier, p.servers_tried);
            if let Some(addr) = self.servers(service).get(server).map(|s| s.addr) {
                self.by_wire.remove(&(addr, id));
                self.dead_until.insert(addr, now + self.cfg.dead_time);
            }
            if tried >= n {
                self.fail(token);
                continue;
            }
            self.stats.failovers += 1;
            let next = self.pick_server(now, service);
            let next = if next == server {
                (server + 1) % n
            } else {
                next
            };
            if let Some(p) = self.pending.get_mut(&token) {
                p.server = next;
            }
            self.transmit_new(now, token);
        }
    }

    /// A datagram from `from`.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(packet) = Packet::decode(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(&token) = self.by_wire.get(&(from, packet.identifier)) else {
            self.stats.unexpected += 1;
            return;
        };
        let Some(p) = self.pending.get(&token) else {
            self.stats.unexpected += 1;
            return;
        };
        let Some(server) = self.servers(p.service).get(p.server) else {
            return;
        };
        let expected = match p.service {
            Service::Auth => matches!(
                packet.code(),
                Some(Code::AccessAccept | Code::AccessReject | Code::AccessChallenge)
            ),
            Service::Acct => packet.code() == Some(Code::AccountingResponse),
        };
        if !expected || !packet.verify_response(&server.secret, p.authenticator) {
            // Forged or corrupted: drop, and keep waiting for the real one.
            self.stats.bad_authenticator += 1;
            return;
        }
        let latency = now.saturating_duration_since(p.first_sent);
        let request_authenticator = p.authenticator;
        self.dead_until.remove(&from);
        self.by_wire.remove(&(from, packet.identifier));
        self.pending.remove(&token);
        self.timers.set(token, None);
        self.stats.replies += 1;
        self.out.push_back(ClientOutput::Reply {
            token,
            packet,
            latency,
            server: from,
            request_authenticator,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::unhide_password;
    use super::*;

    fn server(port: u16, secret: &[u8]) -> Server {
        Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            secret: secret.to_vec(),
        }
    }

    fn client(auth: Vec<Server>) -> Client {
        Client::new(
            ClientConfig {
                auth,
                ..Default::default()
            },
            [1; 32],
        )
    }

    fn sends(c: &mut Client) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(o) = c.poll_output() {
            if let ClientOutput::Send { to, bytes } = o {
                v.push((to, bytes));
            }
        }
        v
    }

    /// What a server does: check, and answer Accept with MA.
    fn accept(req: &[u8], secret: &[u8]) -> Vec<u8> {
        let p = Packet::decode(req).unwrap();
        let mut r = Packet::new(Code::AccessAccept, p.identifier, [0; 16]);
        r.attrs
            .push(Attr::u32(attr::FRAMED_IP_ADDRESS, 0x6440_0909));
        r.seal_response(secret, p.authenticator).unwrap()
    }

    #[test]
    fn pap_request_is_sealed_and_the_reply_delivered_once() {
        let now = Instant::now();
        let mut c = client(vec![server(1812, b"s3cret")]);
        let t = c.request(
            now,
            Service::Auth,
            vec![Attr::new(attr::USER_NAME, b"alice".to_vec())],
            Some(b"alice-pw".to_vec()),
        );
        let s = sends(&mut c);
        assert_eq!(s.len(), 1);
        let req = Packet::decode(&s[0].1).unwrap();
        assert_eq!(req.code(), Some(Code::AccessRequest));
        let hidden = &req.get(attr::USER_PASSWORD).unwrap().value;
        assert_eq!(
            unhide_password(hidden, b"s3cret", &req.authenticator).unwrap(),
            b"alice-pw"
        );
        assert!(req.get(attr::MESSAGE_AUTHENTICATOR).is_some());
        let reply = accept(&s[0].1, b"s3cret");
        c.handle(now, s[0].0, &reply);
        match c.poll_output() {
            Some(ClientOutput::Reply {
                token,
                packet,
                server,
                request_authenticator,
                ..
            }) => {
                assert_eq!(token, t);
                assert_eq!((server, request_authenticator), (s[0].0, req.authenticator));
                assert_eq!(
                    packet.get(attr::FRAMED_IP_ADDRESS).unwrap().as_u32(),
                    Some(0x6440_0909)
                );
            }
            o => panic!("{o:?}"),
        }
        // The same reply again: unexpected now.
        c.handle(now, s[0].0, &reply);
        assert!(c.poll_output().is_none());
        assert_eq!(c.stats.unexpected, 1);
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn forged_replies_are_dropped_and_the_real_one_still_accepted() {
        let now = Instant::now();
        let mut c = client(vec![server(1812, b"s3cret")]);
        c.request(
            now,
            Service::Auth,
            vec![Attr::new(attr::USER_NAME, b"a".to_vec())],
            Some(b"p".to_vec()),
        );
        let s = sends(&mut c);
        // Signed with the wrong secret.
        c.handle(now, s[0].0, &accept(&s[0].1, b"guess"));
        // Right secret but no Message-Authenticator (BlastRADIUS).
        let p = Packet::decode(&s[0].1).unwrap();
        let mut r = Packet::new(Code::AccessAccept, p.identifier, [0; 16]);
        r.authenticator = {
            let mut h = <md5::Md5 as md5::Digest>::new();
            let mut tmp = r.clone();
            tmp.authenticator = p.authenticator;
            md5::Digest::update(&mut h, tmp.encode().unwrap());
            md5::Digest::update(&mut h, b"s3cret");
            md5::Digest::finalize(h).into()
        };
        c.handle(now, s[0].0, &r.encode().unwrap());
        // From another address.
        c.handle(
            now,
            SocketAddr::from(([127, 0, 0, 2], 1812)),
            &accept(&s[0].1, b"s3cret"),
        );
        assert!(c.poll_output().is_none());
        assert_eq!(c.stats.bad_authenticator, 2);
        assert_eq!(c.stats.unexpected, 1);
        c.handle(now, s[0].0, &accept(&s[0].1, b"s3cret"));
        assert!(matches!(c.poll_output(), Some(ClientOutput::Reply { .. })));
    }

    #[test]
    fn retransmits_then_fails_over_then_times_out() {
        let start = Instant::now();
        let a = server(1812, b"one");
        let b = server(1813, b"two");
        let mut c = client(vec![a.clone(), b.clone()]);
        let t = c.request(start, Service::Auth, vec![], Some(b"pw".to_vec()));
        let mut log = sends(&mut c);
        let mut now = start;
        let mut result = None;
        while let Some(due) = c.poll_timeout() {
            now = due;
            c.on_timeout(now);
            while let Some(o) = c.poll_output() {
                match o {
                    ClientOutput::Send { to, bytes } => log.push((to, bytes)),
                    o => result = Some(o),
                }
            }
        }
        let to: Vec<SocketAddr> = log.iter().map(|(a, _)| *a).collect();
        assert_eq!(to, vec![a.addr, a.addr, a.addr, b.addr, b.addr, b.addr]);
        // Retransmissions repeat the bytes; the failover re-seals for the
        // other server's secret.
        assert_eq!(log[0].1, log[1].1);
        assert_ne!(log[2].1, log[3].1);
        let to_b = Packet::decode(&log[3].1).unwrap();
        let hidden = &to_b.get(attr::USER_PASSWORD).unwrap().value;
        assert_eq!(
            unhide_password(hidden, b"two", &to_b.authenticator).unwrap(),
            b"pw"
        );
        assert_eq!(result, Some(ClientOutput::Timeout { token: t }));
        // 3 + 6 + 12 s on each server.
        assert_eq!(now - start, Duration::from_secs(42));
        // Both are dead now; the next request still goes somewhere (the
        // one dead longest), so recovery is noticed.
        c.request(now, Service::Auth, vec![], None);
        assert_eq!(sends(&mut c)[0].0, a.addr);
    }

    #[test]
    fn a_dead_server_is_skipped_while_another_answers() {
        let start = Instant::now();
        let a = server(1812, b"one");
        let b = server(1813, b"two");
        let mut c = client(vec![a.clone(), b.clone()]);
        c.request(start, Service::Auth, vec![], None);
        sends(&mut c);
        let mut now = start;
        for _ in 0..3 {
            now = c.poll_timeout().unwrap();
            c.on_timeout(now);
        }
        let s = sends(&mut c);
        let last = s.last().unwrap();
        assert_eq!(last.0, b.addr);
        c.handle(now, b.addr, &accept(&last.1, b"two"));
        assert!(matches!(c.poll_output(), Some(ClientOutput::Reply { .. })));
        // a is dead: new requests go straight to b.
        c.request(now, Service::Auth, vec![], None);
        assert_eq!(sends(&mut c)[0].0, b.addr);
        // After dead_time, a is preferred again.
        c.request(now + Duration::from_secs(31), Service::Auth, vec![], None);
        assert_eq!(sends(&mut c)[0].0, a.addr);
    }

    #[test]
    fn accounting_requests_use_the_md5_authenticator() {
        let now = Instant::now();
        let mut c = Client::new(
            ClientConfig {
                acct: vec![server(1813, b"acct")],
                ..Default::default()
            },
            [2; 32],
        );
        c.request(
            now,
            Service::Acct,
            vec![Attr::u32(attr::ACCT_STATUS_TYPE, 1)],
            None,
        );
        let s = sends(&mut c);
        let req = Packet::decode(&s[0].1).unwrap();
        assert!(req.verify_request(b"acct"));
        let mut r = Packet::new(Code::AccountingResponse, req.identifier, [0; 16]);
        let bytes = r.seal_response(b"acct", req.authenticator).unwrap();
        c.handle(now, s[0].0, &bytes);
        assert!(matches!(c.poll_output(), Some(ClientOutput::Reply { .. })));
    }

    #[test]
    fn no_server_configured_times_out_at_once() {
        let mut c = client(vec![]);
        let t = c.request(Instant::now(), Service::Auth, vec![], None);
        assert_eq!(c.poll_output(), Some(ClientOutput::Timeout { token: t }));
    }
}
