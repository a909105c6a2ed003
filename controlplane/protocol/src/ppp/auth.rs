//! PPP authentication phase (RFC 1661 §3.5), sans-IO: PAP (RFC 1334),
//! CHAP-MD5 (RFC 1994) and MS-CHAPv2 (RFC 2759), as authenticator (the
//! LNS) and as peer (the emulator's subscriber).
//!
//! The authenticator never judges credentials itself: it turns what the
//! peer sent into [`Credentials`] and waits for the owner's
//! [`Decision`] (local users or RADIUS), so the slow part (a RADIUS round
//! trip) never blocks anything. It retransmits its CHAP challenge on the
//! restart timer and gives up after `max_tries`; it answers retransmitted
//! requests for an already decided identifier with the same verdict
//! (RFC 1334 §2.2.1: the Authenticate-Ack may be lost).
//!
//! The peer side answers challenges (and for MS-CHAPv2 checks the
//! authenticator response, §5 of RFC 2759: a server that cannot prove the
//! password is refused).

use super::chap::{self, ChapPacket};
use super::lcp::AuthProtocol;
use super::mschapv2::{self, ResponseValue};
use super::pap::PapPacket;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// PPP protocol number of PAP.
pub const PAP: u16 = 0xc023;
/// PPP protocol number of CHAP (MD5 and MS-CHAPv2).
pub const CHAP: u16 = 0xc223;

/// What the peer presented, for AAA to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// PAP: name and clear password.
    Pap {
        /// Peer-ID.
        user: Vec<u8>,
        /// Password.
        password: Vec<u8>,
    },
    /// CHAP-MD5: name, identifier, our challenge and its response.
    ChapMd5 {
        /// Name.
        user: Vec<u8>,
        /// Identifier of the exchange (part of the hash).
        identifier: u8,
        /// Our challenge.
        challenge: Vec<u8>,
        /// MD5(identifier ‖ secret ‖ challenge) as the peer computed it.
        response: [u8; 16],
    },
    /// MS-CHAPv2: name, both challenges and the NT-Response.
    MsChapV2 {
        /// Name.
        user: Vec<u8>,
        /// Identifier.
        identifier: u8,
        /// Our 16-octet challenge.
        auth_challenge: [u8; 16],
        /// The peer's.
        peer_challenge: [u8; 16],
        /// NT-Response.
        nt_response: [u8; 24],
    },
}

impl Credentials {
    /// The user name presented.
    pub fn user(&self) -> &[u8] {
        match self {
            Credentials::Pap { user, .. }
            | Credentials::ChapMd5 { user, .. }
            | Credentials::MsChapV2 { user, .. } => user,
        }
    }
}

/// AAA's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Accepted. For MS-CHAPv2, `authenticator_response` is the "S=..."
    /// string proving the server knows the password (from local users or
    /// RADIUS MS-CHAP2-Success).
    Accept {
        /// MS-CHAPv2 authenticator response.
        authenticator_response: Option<String>,
        /// Text for the peer (a fixed text costs no allocation a session).
        message: Cow<'static, str>,
    },
    /// Refused.
    Reject {
        /// Text for the peer.
        message: Cow<'static, str>,
    },
}

/// What the authenticator needs from its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutput {
    /// Send this packet on `protocol` (PAP or CHAP).
    Send {
        /// PPP protocol number.
        protocol: u16,
        /// The packet.
        packet: Vec<u8>,
    },
    /// Ask AAA; answer with [`AuthServer::decide`].
    Verify(Credentials),
    /// Authentication succeeded; the Network phase may start.
    Success,
    /// Authentication failed (or timed out); terminate the link.
    Failure(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    /// PAP: waiting for Authenticate-Request; CHAP: challenge sent.
    Waiting,
    /// Credentials handed to AAA for this identifier.
    Deciding(u8),
    /// Decided: keep answering retransmissions of this identifier.
    Done {
        identifier: u8,
        success: bool,
        reply: Vec<u8>,
    },
}

/// The authenticator (LNS side).
#[derive(Debug)]
pub struct AuthServer {
    method: AuthProtocol,
    name: Vec<u8>,
    state: ServerState,
    identifier: u8,
    challenge: Vec<u8>,
    tries: u32,
    max_tries: u32,
    restart: Duration,
    deadline: Option<Instant>,
    out: VecDeque<ServerOutput>,
}

impl AuthServer {
    /// Starts authentication with `method`. `challenge` is fresh random
    /// data (16 octets; CHAP-MD5 and MS-CHAPv2 use it), `name` our name in
    /// challenges. PAP waits `restart × max_tries` for the peer's request.
    pub fn start(
        now: Instant,
        method: AuthProtocol,
        name: &[u8],
        challenge: [u8; 16],
        restart: Duration,
        max_tries: u32,
    ) -> Self {
        let mut s = AuthServer {
            method,
            name: name.to_vec(),
            state: ServerState::Waiting,
            identifier: challenge[0],
            challenge: challenge.to_vec(),
            tries: 0,
            max_tries: max_tries.max(1),
            restart,
            deadline: None,
            out: VecDeque::new(),
        };
        s.send_challenge(now);
        s
    }

    /// An authenticator whose verdict was reached on a request someone
    /// else took: the LAC or the multi-hop gateway challenged the peer and
    /// passed its answer on as proxy authentication (RFC 2661 §4.4.5),
    /// and `reply` (the Success, Ack, Failure or Nak for `identifier`)
    /// went out once. It sends nothing by itself; a retransmitted request
    /// with `identifier` gets `reply` again (RFC 1994 §4.2, RFC 1334
    /// §2.2.1): without that a lost verdict leaves the peer waiting in
    /// Authenticate while we run the NCPs it must discard.
    pub fn decided(method: AuthProtocol, identifier: u8, success: bool, reply: Vec<u8>) -> Self {
        AuthServer {
            method,
            name: Vec::new(),
            state: ServerState::Done {
                identifier,
                success,
                reply,
            },
            identifier,
            challenge: Vec::new(),
            tries: 0,
            max_tries: 1,
            restart: Duration::ZERO,
            deadline: None,
            out: VecDeque::new(),
        }
    }

    fn is_chap(&self) -> bool {
        matches!(self.method, AuthProtocol::ChapMd5 | AuthProtocol::MsChapV2)
    }

    fn send_challenge(&mut self, now: Instant) {
        self.tries += 1;
        self.deadline = Some(now + self.restart);
        if !self.is_chap() {
            return;
        }
        if let Ok(packet) = chap::encode_value_name(
            chap::CHALLENGE,
            self.identifier,
            &self.challenge,
            &self.name,
        ) {
            self.out.push_back(ServerOutput::Send {
                protocol: CHAP,
                packet,
            });
        }
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    /// Restart timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Fires the restart timer: retransmit the challenge, or give up.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|t| t > now) {
            return;
        }
        self.deadline = None;
        if self.state != ServerState::Waiting {
            return;
        }
        if self.tries >= self.max_tries {
            self.out.push_back(ServerOutput::Failure(
                "peer did not authenticate in time".into(),
            ));
            return;
        }
        self.send_challenge(now);
    }

    /// The identifier of the request now with AAA, if one is.
    pub fn deciding(&self) -> Option<u8> {
        match self.state {
            ServerState::Deciding(id) => Some(id),
            _ => None,
        }
    }

    /// A PAP or CHAP packet from the peer.
    pub fn receive(&mut self, protocol: u16, packet: &[u8]) {
        let (id, creds) = match (protocol, &self.method) {
            (PAP, AuthProtocol::Pap) => match PapPacket::decode(packet) {
                Ok(PapPacket::Request {
                    identifier,
                    peer_id,
                    password,
                }) => (
                    identifier,
                    Credentials::Pap {
                        user: peer_id,
                        password,
                    },
                ),
                _ => return,
            },
            (CHAP, AuthProtocol::ChapMd5 | AuthProtocol::MsChapV2) => {
                // Read in place: only the name is kept (as the user).
                let Ok((identifier, value, name)) = chap::response_parts(packet) else {
                    return;
                };
                // RFC 1994 §4.1: a response to another challenge is
                // silently discarded.
                if identifier != self.identifier {
                    return;
                }
                let Some(c) = self.chap_credentials(identifier, value, name.to_vec()) else {
                    return;
                };
                (identifier, c)
            }
            _ => return,
        };
        match &self.state {
            ServerState::Waiting => {
                self.state = ServerState::Deciding(id);
                self.deadline = None;
                self.out.push_back(ServerOutput::Verify(creds));
            }
            // Retransmitted request while AAA thinks: wait.
            ServerState::Deciding(_) => {}
            // Our verdict was lost: say it again (RFC 1334 §2.2.1, RFC
            // 1994 §4.2).
            ServerState::Done {
                identifier, reply, ..
            } if *identifier == id => {
                let protocol = if self.is_chap() { CHAP } else { PAP };
                self.out.push_back(ServerOutput::Send {
                    protocol,
                    packet: reply.clone(),
                });
            }
            ServerState::Done { .. } => {}
        }
    }

    fn chap_credentials(&self, identifier: u8, value: &[u8], name: Vec<u8>) -> Option<Credentials> {
        match self.method {
            AuthProtocol::ChapMd5 => Some(Credentials::ChapMd5 {
                user: name,
                identifier,
                challenge: self.challenge.clone(),
                response: value.try_into().ok()?,
            }),
            AuthProtocol::MsChapV2 => {
                let v = ResponseValue::parse(value).ok()?;
                Some(Credentials::MsChapV2 {
                    user: name,
                    identifier,
                    auth_challenge: self.challenge.clone().try_into().ok()?,
                    peer_challenge: v.peer_challenge,
                    nt_response: v.nt_response,
                })
            }
            _ => None,
        }
    }

    /// AAA's decision on the credentials last handed out.
    pub fn decide(&mut self, decision: Decision) {
        let ServerState::Deciding(id) = self.state else {
            return;
        };
        let (success, reply) = match (&self.method, &decision) {
            (AuthProtocol::Pap, Decision::Accept { message, .. }) => (
                true,
                PapPacket::Ack {
                    identifier: id,
                    message: message.as_bytes().to_vec(),
                }
                .encode(),
            ),
            (AuthProtocol::Pap, Decision::Reject { message }) => (
                false,
                PapPacket::Nak {
                    identifier: id,
                    message: message.as_bytes().to_vec(),
                }
                .encode(),
            ),
            (
                AuthProtocol::MsChapV2,
                Decision::Accept {
                    authenticator_response: Some(ar),
                    message,
                },
            ) => (
                true,
                ChapPacket::Success {
                    identifier: id,
                    message: mschapv2::success_message(ar, message),
                }
                .encode(),
            ),
            // MS-CHAPv2 accepted without an authenticator response: the
            // peer would (rightly) refuse us, so this is a failure.
            (AuthProtocol::MsChapV2, Decision::Accept { .. }) => (
                false,
                ChapPacket::Failure {
                    identifier: id,
                    message: mschapv2::failure_message(
                        691,
                        false,
                        &[0; 16],
                        "no authenticator response",
                    ),
                }
                .encode(),
            ),
            (AuthProtocol::MsChapV2, Decision::Reject { message }) => (
                false,
                ChapPacket::Failure {
                    identifier: id,
                    // E=691: authentication failure; no retry offered.
                    message: mschapv2::failure_message(691, false, &[0; 16], message),
                }
                .encode(),
            ),
            (_, Decision::Accept { message, .. }) => (
                true,
                chap::encode_message(chap::SUCCESS, id, message.as_bytes()),
            ),
            (_, Decision::Reject { message }) => (
                false,
                chap::encode_message(chap::FAILURE, id, message.as_bytes()),
            ),
        };
        let (success, reply) = match reply {
            Ok(r) => (success, r),
            // A message too long to frame: say no rather than send nothing.
            Err(_) => (false, Vec::new()),
        };
        let protocol = if self.is_chap() { CHAP } else { PAP };
        // Sent, and kept to answer a repeated Response (RFC 1994 §4.2):
        // the copy sent is a datagram buffer (`crate::buffers`).
        self.out.push_back(ServerOutput::Send {
            protocol,
            packet: crate::buffers::copy_of(&reply),
        });
        self.out.push_back(if success {
            ServerOutput::Success
        } else {
            ServerOutput::Failure(match decision {
                Decision::Reject { message } => message.into_owned(),
                Decision::Accept { .. } => "MS-CHAPv2 accept without authenticator response".into(),
            })
        });
        self.state = ServerState::Done {
            identifier: id,
            success,
            reply,
        };
    }
}

/// Verifies credentials against a known clear-text password (local users).
/// For MS-CHAPv2 the accept carries the authenticator response.
pub fn verify_with_password(c: &Credentials, password: &[u8]) -> Decision {
    let reject = || Decision::Reject {
        message: "authentication failed".into(),
    };
    let accept = |ar: Option<String>| Decision::Accept {
        authenticator_response: ar,
        message: "welcome".into(),
    };
    match c {
        Credentials::Pap { password: p, .. } => {
            if constant_eq(p, password) {
                accept(None)
            } else {
                reject()
            }
        }
        Credentials::ChapMd5 {
            identifier,
            challenge,
            response,
            ..
        } => {
            let expect = chap::md5_response(*identifier, password, challenge);
            if constant_eq(&expect, response) {
                accept(None)
            } else {
                reject()
            }
        }
        Credentials::MsChapV2 {
            user,
            auth_challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            let Ok(pw) = core::str::from_utf8(password) else {
                return reject();
            };
            let expect = mschapv2::generate_nt_response(auth_challenge, peer_challenge, user, pw);
            if !mschapv2::nt_response_matches(&expect, nt_response) {
                return reject();
            }
            let ar = mschapv2::authenticator_response(
                pw,
                nt_response,
                peer_challenge,
                auth_challenge,
                user,
            );
            accept(Some(ar))
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The authenticated peer (the emulator's subscriber).
#[derive(Debug)]
pub struct AuthClient {
    method: AuthProtocol,
    user: Vec<u8>,
    password: String,
    peer_challenge: [u8; 16],
    /// For MS-CHAPv2: the authenticator response we expect.
    expect: Option<String>,
    identifier: u8,
    deadline: Option<Instant>,
    restart: Duration,
    tries: u32,
    max_tries: u32,
    out: VecDeque<ClientOutput>,
    done: bool,
    /// CHAP: the last Response, resent until a verdict comes (the
    /// authenticator answers a repeated Response with the same verdict).
    last_response: Option<Vec<u8>>,
}

/// What the authenticated peer needs from its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Send this packet on `protocol`.
    Send {
        /// PPP protocol number.
        protocol: u16,
        /// The packet.
        packet: Vec<u8>,
    },
    /// The server accepted us (and, for MS-CHAPv2, proved itself).
    Success,
    /// Refused, timed out, or the server failed to prove the password.
    Failure(String),
}

impl AuthClient {
    /// Starts: PAP sends its request at once; CHAP waits for a challenge.
    /// `peer_challenge` is fresh random data (MS-CHAPv2).
    pub fn start(
        now: Instant,
        method: AuthProtocol,
        user: &[u8],
        password: &str,
        peer_challenge: [u8; 16],
        restart: Duration,
        max_tries: u32,
    ) -> Self {
        let mut c = AuthClient {
            method,
            user: user.to_vec(),
            password: password.to_string(),
            peer_challenge,
            expect: None,
            identifier: peer_challenge[0],
            deadline: None,
            restart,
            tries: 0,
            max_tries: max_tries.max(1),
            out: VecDeque::new(),
            done: false,
            last_response: None,
        };
        if c.method == AuthProtocol::Pap {
            c.send_pap(now);
        } else {
            c.deadline = Some(now + restart * c.max_tries);
        }
        c
    }

    fn send_pap(&mut self, now: Instant) {
        self.tries += 1;
        self.deadline = Some(now + self.restart);
        let p = PapPacket::Request {
            identifier: self.identifier,
            peer_id: self.user.clone(),
            password: self.password.clone().into_bytes(),
        };
        if let Ok(packet) = p.encode() {
            self.out.push_back(ClientOutput::Send {
                protocol: PAP,
                packet,
            });
        }
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// Restart timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retransmits the PAP request, or gives up.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.done || self.deadline.is_none_or(|t| t > now) {
            return;
        }
        self.deadline = None;
        if self.method == AuthProtocol::Pap && self.tries < self.max_tries {
            self.send_pap(now);
        } else if let Some(packet) = self.last_response.clone()
            && self.tries < self.max_tries
        {
            // Our Response or its verdict was lost.
            self.tries += 1;
            self.deadline = Some(now + self.restart);
            self.out.push_back(ClientOutput::Send {
                protocol: CHAP,
                packet,
            });
        } else {
            self.done = true;
            self.out
                .push_back(ClientOutput::Failure("authenticator did not answer".into()));
        }
    }

    /// A PAP or CHAP packet from the authenticator.
    pub fn receive(&mut self, now: Instant, protocol: u16, packet: &[u8]) {
        if self.done {
            return;
        }
        match protocol {
            PAP => match PapPacket::decode(packet) {
                Ok(PapPacket::Ack { .. }) => self.finish(Ok(())),
                Ok(PapPacket::Nak { message, .. }) => {
                    self.finish(Err(String::from_utf8_lossy(&message).into_owned()))
                }
                _ => {}
            },
            CHAP => match ChapPacket::decode(packet) {
                Ok(ChapPacket::Challenge {
                    identifier, value, ..
                }) => self.answer(now, identifier, &value),
                Ok(ChapPacket::Success { message, .. }) => {
                    if self.method == AuthProtocol::MsChapV2 {
                        // RFC 2759 §5: verify the server knows the password.
                        let ok = mschapv2::parse_success_message(&message)
                            .is_ok_and(|s| Some(s) == self.expect.as_deref());
                        if !ok {
                            return self.finish(Err("authenticator response mismatch".into()));
                        }
                    }
                    self.finish(Ok(()))
                }
                Ok(ChapPacket::Failure { message, .. }) => {
                    self.finish(Err(String::from_utf8_lossy(&message).into_owned()))
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn answer(&mut self, now: Instant, identifier: u8, challenge: &[u8]) {
        let value = match self.method {
            AuthProtocol::ChapMd5 => {
                chap::md5_response(identifier, self.password.as_bytes(), challenge).to_vec()
            }
            AuthProtocol::MsChapV2 => {
                let Ok(auth_challenge) = <[u8; 16]>::try_from(challenge) else {
                    return;
                };
                let nt = mschapv2::generate_nt_response(
                    &auth_challenge,
                    &self.peer_challenge,
                    &self.user,
                    &self.password,
                );
                self.expect = Some(mschapv2::authenticator_response(
                    &self.password,
                    &nt,
                    &self.peer_challenge,
                    &auth_challenge,
                    &self.user,
                ));
                ResponseValue {
                    peer_challenge: self.peer_challenge,
                    nt_response: nt,
                    flags: 0,
                }
                .to_bytes()
                .to_vec()
            }
            _ => return,
        };
        let p = ChapPacket::Response {
            identifier,
            value,
            name: self.user.clone(),
        };
        if let Ok(packet) = p.encode() {
            self.last_response = Some(packet.clone());
            self.tries = 1;
            self.deadline = Some(now + self.restart);
            self.out.push_back(ClientOutput::Send {
                protocol: CHAP,
                packet,
            });
        }
    }

    fn finish(&mut self, r: Result<(), String>) {
        self.done = true;
        self.deadline = None;
        self.out.push_back(match r {
            Ok(()) => ClientOutput::Success,
            Err(e) => ClientOutput::Failure(e),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(3);

    /// Runs client and server against each other, deciding with a local
    /// password; returns (server result, client result).
    fn run(
        method: AuthProtocol,
        client_pw: &str,
        server_pw: &[u8],
    ) -> (ServerOutput, ClientOutput) {
        let now = Instant::now();
        let mut s = AuthServer::start(now, method.clone(), b"lns", [7; 16], D, 3);
        let mut c = AuthClient::start(now, method, b"alice", client_pw, [9; 16], D, 3);
        let (mut sr, mut cr) = (None, None);
        for _ in 0..20 {
            let mut moved = false;
            while let Some(o) = s.poll_output() {
                moved = true;
                match o {
                    ServerOutput::Send { protocol, packet } => c.receive(now, protocol, &packet),
                    ServerOutput::Verify(cred) => {
                        assert_eq!(cred.user(), b"alice");
                        s.decide(verify_with_password(&cred, server_pw));
                    }
                    o => sr = Some(o),
                }
            }
            while let Some(o) = c.poll_output() {
                moved = true;
                match o {
                    ClientOutput::Send { protocol, packet } => s.receive(protocol, &packet),
                    o => cr = Some(o),
                }
            }
            if !moved {
                break;
            }
        }
        (sr.expect("server result"), cr.expect("client result"))
    }

    #[test]
    fn each_method_accepts_the_right_password_and_refuses_a_wrong_one() {
        for m in [
            AuthProtocol::Pap,
            AuthProtocol::ChapMd5,
            AuthProtocol::MsChapV2,
        ] {
            let (s, c) = run(m.clone(), "s3cret", b"s3cret");
            assert_eq!(
                (s, c),
                (ServerOutput::Success, ClientOutput::Success),
                "{m:?}"
            );
            let (s, c) = run(m.clone(), "guess", b"s3cret");
            assert!(matches!(s, ServerOutput::Failure(_)), "{m:?}");
            assert!(matches!(c, ClientOutput::Failure(_)), "{m:?}");
        }
    }

    #[test]
    fn mschapv2_client_refuses_a_server_that_cannot_prove_the_password() {
        let now = Instant::now();
        let mut s = AuthServer::start(now, AuthProtocol::MsChapV2, b"lns", [7; 16], D, 3);
        let mut c = AuthClient::start(now, AuthProtocol::MsChapV2, b"alice", "pw", [9; 16], D, 3);
        let Some(ServerOutput::Send { packet, .. }) = s.poll_output() else {
            panic!()
        };
        c.receive(now, CHAP, &packet);
        let Some(ClientOutput::Send { packet, .. }) = c.poll_output() else {
            panic!()
        };
        s.receive(CHAP, &packet);
        assert!(matches!(s.poll_output(), Some(ServerOutput::Verify(_))));
        // A rogue server "accepts" with a made-up authenticator response.
        s.decide(Decision::Accept {
            authenticator_response: Some(format!("S={}", "0".repeat(40))),
            message: "hi".into(),
        });
        let Some(ServerOutput::Send { packet, .. }) = s.poll_output() else {
            panic!()
        };
        c.receive(now, CHAP, &packet);
        assert!(matches!(c.poll_output(), Some(ClientOutput::Failure(_))));
    }

    #[test]
    fn chap_challenge_is_retransmitted_then_gives_up() {
        let start = Instant::now();
        let mut s = AuthServer::start(start, AuthProtocol::ChapMd5, b"lns", [7; 16], D, 3);
        let mut sent = 0;
        let mut result = None;
        let mut now = start;
        while let Some(t) = s.poll_timeout() {
            now = t;
            while let Some(o) = s.poll_output() {
                match o {
                    ServerOutput::Send { .. } => sent += 1,
                    o => result = Some(o),
                }
            }
            s.on_timeout(now);
        }
        while let Some(o) = s.poll_output() {
            match o {
                ServerOutput::Send { .. } => sent += 1,
                o => result = Some(o),
            }
        }
        assert_eq!(sent, 3);
        assert!(matches!(result, Some(ServerOutput::Failure(_))));
        assert_eq!(now - start, D * 3);
    }

    #[test]
    fn lost_verdict_is_repeated_for_a_retransmitted_request() {
        let now = Instant::now();
        let mut s = AuthServer::start(now, AuthProtocol::Pap, b"lns", [7; 16], D, 3);
        let req = PapPacket::Request {
            identifier: 5,
            peer_id: b"bob".to_vec(),
            password: b"pw".to_vec(),
        }
        .encode()
        .unwrap();
        s.receive(PAP, &req);
        let Some(ServerOutput::Verify(c)) = s.poll_output() else {
            panic!()
        };
        // The same request again while AAA decides: nothing.
        s.receive(PAP, &req);
        assert!(s.poll_output().is_none());
        s.decide(verify_with_password(&c, b"pw"));
        let Some(ServerOutput::Send { packet: ack, .. }) = s.poll_output() else {
            panic!()
        };
        assert_eq!(s.poll_output(), Some(ServerOutput::Success));
        s.receive(PAP, &req);
        assert_eq!(
            s.poll_output(),
            Some(ServerOutput::Send {
                protocol: PAP,
                packet: ack
            })
        );
    }
}
