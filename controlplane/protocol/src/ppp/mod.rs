//! PPP codecs for the LNS (RFC 1661, 1332, 1877, 5072, 1334, 1994, 2759).
//!
//! * [`packet`]: the Code/Identifier/Length packet shared by LCP, IPCP and
//!   IPv6CP (RFC 1661 §5), generic over each protocol's option type.
//! * [`lcp`], [`ipcp`], [`ipv6cp`]: the options of each control protocol.
//!   Unknown options, and known ones with a wrong length, decode to an
//!   `Unknown` variant that keeps the bytes, so the automaton can send them
//!   back verbatim in a Configure-Reject.
//! * [`pap`], [`chap`]: authentication packets; [`mschapv2`]: the RFC 2759
//!   crypto and response/success formats.
//!
//! Decoders return [`Malformed`] for packets RFC 1661 says to discard
//! silently (bad Length, option list that does not frame); they never panic.

pub mod auth;
pub mod automaton;
pub mod chap;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod lcp_opts;
pub mod link;
pub mod mschapv2;
pub mod ncp;
pub mod packet;
pub mod pap;
pub mod rng;

pub use lns_dataplane::wire::PppProtocol;
pub use packet::{Body, Code, CpPacket, PppOption};

/// A PPP packet that RFC 1661 says to discard silently (§5: invalid
/// Length; §6: options that do not frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed PPP packet")
    }
}

impl std::error::Error for Malformed {}

/// Reads the 4-octet Code/Identifier/Length header shared by every PPP
/// control and authentication protocol, returning (code, identifier, data).
/// Octets past Length are padding and ignored (RFC 1661 §5).
pub(crate) fn read_header(buf: &[u8]) -> Result<(u8, u8, &[u8]), Malformed> {
    let mut r = crate::octets::Reader::new(buf);
    let code = r.u8().map_err(|_| Malformed)?;
    let id = r.u8().map_err(|_| Malformed)?;
    let len = usize::from(r.u16().map_err(|_| Malformed)?);
    if len < 4 {
        return Err(Malformed);
    }
    let data = r.bytes(len - 4).map_err(|_| Malformed)?;
    Ok((code, id, data))
}

/// Spare capacity every packet encoder here leaves in the buffer it
/// returns, so that whatever carries the packet can put its headers in
/// front without allocating again (L2TP's data header and PPP's
/// address, control and protocol fields take at most 16 octets:
/// `engine::frame::encapsulate_owned`). PPP itself does not use it.
pub const HEADROOM: usize = 16;

/// A buffer for a Code/Identifier/Length packet (RFC 1661 §5) about
/// `data` octets of data long: the 4 header octets, filled in by
/// [`finish_packet`], then room for the data and [`HEADROOM`].
pub(crate) fn packet_buffer(data: usize) -> Vec<u8> {
    let mut out = crate::buffers::take(4 + data + HEADROOM);
    out.extend_from_slice(&[0; 4]);
    out
}

/// Fills in the header of a packet built in a [`packet_buffer`]: Code,
/// Identifier and a Length covering everything written; a packet over
/// 65,535 octets is refused.
pub(crate) fn finish_packet(mut out: Vec<u8>, code: u8, id: u8) -> Result<Vec<u8>, Malformed> {
    let len = u16::try_from(out.len()).map_err(|_| Malformed)?;
    let [hi, lo] = len.to_be_bytes();
    match out.get_mut(..4) {
        Some(h) => h.copy_from_slice(&[code, id, hi, lo]),
        None => return Err(Malformed),
    }
    Ok(out)
}

/// An output queue (a link's, an automaton's, an authenticator's) that
/// gives its buffer back when drained once its owner has settled.
///
/// An up session is idle almost all its life: a buffer kept for its next
/// burst would cost every session hundreds of bytes at a million sessions
/// (issue 18: memory per session). While its owner negotiates the buffer
/// is kept, as it is used again at once.
#[derive(Debug)]
pub(crate) struct Outbox<T>(std::collections::VecDeque<T>);

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox(std::collections::VecDeque::new())
    }
}

impl<T> Outbox<T> {
    pub(crate) fn push(&mut self, t: T) {
        self.0.push_back(t);
    }

    /// The next output; `settled`: its owner is done negotiating, so a
    /// drained queue frees its buffer.
    pub(crate) fn pop(&mut self, settled: bool) -> Option<T> {
        let o = self.0.pop_front();
        if o.is_none() && settled && self.0.capacity() > 0 {
            self.0 = std::collections::VecDeque::new();
        }
        o
    }
}
