//! Downstream: wrap a subscriber's IP packet for its tunnel from a template
//! (DESIGN §4, after Linux `l2tp_core.c` and Katran's `pckt_encap.h`).
//!
//! The control plane builds one [`Template`] per session when it comes up:
//! Ethernet (with an optional 802.1Q tag) + IPv4 or IPv6 + UDP + the
//! L2TPv2 data header + PPP (FF 03 and protocol). The worker copies it in
//! front of the packet, already in the buffer's headroom, and patches only
//! what varies: the lengths, the IPv4 checksum (incrementally, from the
//! template's precomputed sum), the PPP protocol, and Ns when the session
//! sequences. No allocation, no branch on the template's shape beyond the
//! offsets and the family.
//!
//! Over IPv6 (a LAC reached over IPv6, RFC 2661 §8 leaves the transport
//! open) the UDP checksum is required (RFC 8200 §8.1): it is computed over
//! the whole datagram once every byte is in place ([`TemplateRef::seal`]),
//! and kept right by [`TemplateRef::patch_ns`]. An IPv6 template does not
//! hold its two addresses: a session slot has no room for them (it holds
//! the LAC's address already, and ours is one of few, kept in a next-hop
//! record the template names, [`Template::with_source_hop`]); they are
//! given when a frame is written ([`TemplateRef::with_addresses`]).

use super::drop::Drop;
use crate::wire::checksum;
use std::net::IpAddr;

/// The longest template: Ethernet 14 + 802.1Q 4 + IPv4 20 + UDP 8 + L2TP
/// with sequence numbers 10 + PPP 4; an IPv6 one is as long without its
/// addresses ([`V6_ADDRESSES`]).
pub const MAX_TEMPLATE: usize = 60;

/// The bytes of an IPv6 header's two addresses, which an IPv6 template
/// leaves out (see the module docs).
pub const V6_ADDRESSES: usize = 32;

/// What a session's outer headers are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    /// Next hop toward the LAC.
    pub dst_mac: [u8; 6],
    /// Our access interface.
    pub src_mac: [u8; 6],
    /// 802.1Q VLAN id on the access side.
    pub vlan: Option<u16>,
    /// Our address and port (the tunnel's); of the same family as `dst`
    /// (if not, the template is IPv6, and the addresses are the ones given
    /// with each frame anyway).
    pub src: IpAddr,
    /// See `src`.
    pub src_port: u16,
    /// The LAC's address and port.
    pub dst: IpAddr,
    /// See `dst`.
    pub dst_port: u16,
    /// The LAC's tunnel and session ids.
    pub tunnel: u16,
    /// See `tunnel`.
    pub session: u16,
    /// Send Ns/Nr (the LAC asked for sequencing, RFC 2661 §5.4).
    pub sequencing: bool,
}

/// Bytes a session's encapsulation puts after the Ethernet header, which
/// the access link's MTU must hold with the packet: the 802.1Q tag, IPv4
/// 20, UDP 8, the L2TP data header 6 (10 with Ns and Nr, RFC 2661 §3.1),
/// PPP FF 03 and protocol 4 ([`Template::overhead`] of such a session).
/// Over IPv6, 20 more ([`overhead6`]).
pub const fn overhead(vlan: bool, sequencing: bool) -> usize {
    let tag = if vlan { 4 } else { 0 };
    let l2tp = if sequencing { 10 } else { 6 };
    tag + 20 + 8 + l2tp + 4
}

/// [`overhead`] with an IPv6 outer header (40 bytes, not 20).
pub const fn overhead6(vlan: bool, sequencing: bool) -> usize {
    overhead(vlan, sequencing) + 20
}

/// A precomputed encapsulation. A switched session's leg uses the same
/// template without its PPP bytes ([`Template::header_len`]): the PPP
/// frame it carries comes whole from the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    bytes: [u8; MAX_TEMPLATE],
    len: u8,
    ip: u8,
    udp: u8,
    ns: u8,
    ppp_proto: u8,
    /// IPv4: ones'-complement sum of the header with length and checksum
    /// 0. IPv6: the next-hop record holding our address (see
    /// [`Template::with_source_hop`]).
    ip_sum: u16,
    /// The outer header is IPv6.
    v6: bool,
}

impl Template {
    /// Builds the template. Offsets are where fields lie in the frames it
    /// makes; an IPv6 one keeps its header without the addresses.
    pub fn new(o: &Outer) -> Template {
        let v6 = !matches!((o.src, o.dst), (IpAddr::V4(_), IpAddr::V4(_)));
        let mut b = [0u8; MAX_TEMPLATE];
        let mut n = 0;
        let mut put = |v: &[u8], n: &mut usize| {
            b[*n..*n + v.len()].copy_from_slice(v);
            *n += v.len();
        };
        put(&o.dst_mac, &mut n);
        put(&o.src_mac, &mut n);
        if let Some(v) = o.vlan {
            put(&[0x81, 0x00], &mut n);
            put(&(v & 0x0fff).to_be_bytes(), &mut n);
        }
        // Offsets into the frames: an IPv6 template's bytes lack the 32
        // address bytes after the header's first 8.
        let gap = if v6 { V6_ADDRESSES } else { 0 };
        let ip = n + 2;
        let ip_sum_at = ip;
        match (o.src, o.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                put(&[0x08, 0x00], &mut n);
                // Version 4, IHL 5; TTL 64; UDP; length and checksum later.
                put(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0], &mut n);
                put(&src.octets(), &mut n);
                put(&dst.octets(), &mut n);
            }
            _ => {
                put(&[0x86, 0xdd], &mut n);
                // Version 6, no traffic class or flow label; payload length
                // later; next header UDP; hop limit 64 (RFC 8200 §3).
                put(&[0x60, 0, 0, 0, 0, 0, 17, 64], &mut n);
            }
        }
        let udp = n + gap;
        put(&o.src_port.to_be_bytes(), &mut n);
        put(&o.dst_port.to_be_bytes(), &mut n);
        // Length patched; checksum 0 (RFC 768: none, allowed on IPv4).
        put(&[0, 0, 0, 0], &mut n);
        // L2TP data header (RFC 2661 §3.1): ver 2, S bit when sequencing.
        let flags: u16 = if o.sequencing { 0x0802 } else { 0x0002 };
        put(&flags.to_be_bytes(), &mut n);
        put(&o.tunnel.to_be_bytes(), &mut n);
        put(&o.session.to_be_bytes(), &mut n);
        let mut ns = 0;
        if o.sequencing {
            ns = n + gap;
            put(&[0, 0, 0, 0], &mut n);
        }
        put(&[0xff, 0x03], &mut n);
        let ppp_proto = n + gap;
        put(&[0, 0], &mut n);
        let ip_sum = if v6 {
            0
        } else {
            checksum::fold(checksum::accumulate(0, &b[ip_sum_at..ip_sum_at + 20]))
        };
        Template {
            bytes: b,
            len: (n + gap) as u8,
            ip: ip as u8,
            udp: udp as u8,
            ns: ns as u8,
            ppp_proto: ppp_proto as u8,
            ip_sum,
            v6,
        }
    }

    /// An IPv6 template's source: next-hop record `i` holds our address
    /// (lnsd writes it there; the workers read it for every frame). No
    /// effect on an IPv4 template.
    pub fn with_source_hop(mut self, i: u16) -> Template {
        if self.is_v6() {
            self.ip_sum = i;
        }
        self
    }

    /// Whether the outer header is IPv6.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The template where it lies, for [`encap`] and `switch::rewrite`.
    #[inline(always)]
    pub fn as_ref(&self) -> TemplateRef<'_> {
        TemplateRef {
            bytes: &self.bytes,
            from: if self.v6 { V6_FLAG } else { 0 },
            len: self.len,
            ip: self.ip,
            udp: self.udp,
            ns: self.ns,
            ppp_proto: self.ppp_proto,
            ip_sum: self.ip_sum,
            addrs: None,
        }
    }

    /// Bytes the template puts in front of a packet.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Bytes up to the end of the L2TP header: the template without PPP's
    /// FF 03 and protocol, which a switched frame keeps as it came.
    pub fn header_len(&self) -> usize {
        self.as_ref().header_len()
    }

    /// What it adds after the Ethernet header (see [`overhead`]).
    pub fn overhead(&self) -> usize {
        self.as_ref().overhead()
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether Ns must be supplied.
    pub fn sequencing(&self) -> bool {
        self.ns != 0
    }

    /// Writes `ns` into a frame this template made (see
    /// [`TemplateRef::patch_ns`]).
    #[inline]
    pub fn patch_ns(&self, frame: &mut [u8], ns: u16) {
        self.as_ref().patch_ns(frame, ns)
    }

    /// The template as stored in a shared-memory session slot
    /// (`table::record`): the header bytes, then the offsets and the sum.
    pub fn to_bytes(&self) -> [u8; TEMPLATE_BYTES] {
        let mut b = [0u8; TEMPLATE_BYTES];
        b[..MAX_TEMPLATE].copy_from_slice(&self.bytes);
        // The IP header's offset is below 128: its top bit says IPv6.
        let ip = self.ip | if self.is_v6() { V6_FLAG } else { 0 };
        b[60..65].copy_from_slice(&[self.len, ip, self.udp, self.ns, self.ppp_proto]);
        b[65..67].copy_from_slice(&self.ip_sum.to_le_bytes());
        b
    }

    /// Reads back [`Template::to_bytes`]. Refuses offsets that would put a
    /// patched field outside the template, so a damaged slot can never make
    /// [`encap`] index out of bounds.
    pub fn from_bytes(b: &[u8; TEMPLATE_BYTES]) -> Option<Template> {
        let r = TemplateRef::stored(b, 0)?;
        let mut bytes = [0u8; MAX_TEMPLATE];
        bytes.copy_from_slice(&b[..MAX_TEMPLATE]);
        Some(Template {
            bytes,
            len: r.len,
            ip: r.ip,
            udp: r.udp,
            ns: r.ns,
            ppp_proto: r.ppp_proto,
            ip_sum: r.ip_sum,
            v6: r.is_v6(),
        })
    }
}

/// A template read where it lies, without a copy: in a [`Template`], or in
/// a session slot as a worker copied it out (which keeps the template from
/// its 13th byte on: the Ethernet addresses are the next hop's, written by
/// the worker over every frame). Built only from offsets that are checked
/// ([`TemplateRef::stored`]), so writing it never indexes out of bounds.
#[derive(Debug, Clone, Copy)]
pub struct TemplateRef<'a> {
    /// The template's bytes from `from` on.
    bytes: &'a [u8],
    /// Where `bytes` starts in the template: 0, or 12 when the Ethernet
    /// addresses are not kept (the frame's are left as they are); its top
    /// bit ([`V6_FLAG`]) set when the outer header is IPv6.
    from: u8,
    len: u8,
    ip: u8,
    udp: u8,
    ns: u8,
    ppp_proto: u8,
    ip_sum: u16,
    /// IPv6: our address then the LAC's, for the frames it writes. (Kept
    /// to a pointer, and the family to `from`'s top bit: a worker passes
    /// this around for every packet.)
    addrs: Option<&'a [u8; 32]>,
}

impl<'a> From<&'a Template> for TemplateRef<'a> {
    #[inline(always)]
    fn from(t: &'a Template) -> TemplateRef<'a> {
        t.as_ref()
    }
}

impl<'a> TemplateRef<'a> {
    /// [`Template::to_bytes`]'s form from byte `from` of it on (0, or 12
    /// in a session slot): `None` if its offsets are impossible (a patched
    /// field outside the template, or the template not reaching past the
    /// bytes left out).
    #[inline]
    pub fn stored(b: &'a [u8], from: usize) -> Option<TemplateRef<'a>> {
        let meta = b.get(MAX_TEMPLATE.checked_sub(from)?..TEMPLATE_BYTES - from)?;
        let [len, ip, udp, ns, ppp_proto, s0, s1] = <[u8; 7]>::try_from(meta).ok()?;
        let (v6, ip) = (ip & V6_FLAG != 0, ip & !V6_FLAG);
        let (ip_len, gap) = if v6 { (40, V6_ADDRESSES) } else { (20, 0) };
        let fits = |at: u8, n: u8| u16::from(at) + u16::from(n) <= u16::from(len);
        // UDP, then the 6-byte L2TP data header (Ns and Nr inside it when
        // sequencing), then FF 03 and the protocol.
        let l2tp_end = u16::from(ppp_proto).wrapping_sub(2);
        let ok = usize::from(len) <= MAX_TEMPLATE + gap
            && usize::from(len) >= gap
            && fits(ip, ip_len)
            && fits(udp, 8)
            && u16::from(udp) >= u16::from(ip) + u16::from(ip_len)
            && u16::from(ppp_proto) >= u16::from(udp) + 8 + 6 + 2
            && fits(ppp_proto, 2)
            && usize::from(ip) >= from
            && (ns == 0
                || (u16::from(ns) >= u16::from(udp) + 8 + 6 && u16::from(ns) + 2 <= l2tp_end));
        ok.then_some(TemplateRef {
            bytes: &b[..MAX_TEMPLATE - from],
            from: from as u8 | if v6 { V6_FLAG } else { 0 },
            len,
            ip,
            udp,
            ns,
            ppp_proto,
            ip_sum: u16::from_le_bytes([s0, s1]),
            addrs: None,
        })
    }

    /// Whether the outer header is IPv6: frames need
    /// [`TemplateRef::with_addresses`].
    #[inline(always)]
    pub fn is_v6(&self) -> bool {
        self.from & V6_FLAG != 0
    }

    /// The next-hop record holding our IPv6 address (IPv6 only).
    #[inline(always)]
    pub fn source_hop(&self) -> u32 {
        u32::from(self.ip_sum)
    }

    /// The IPv6 addresses for the frames this template writes: ours (from
    /// [`TemplateRef::source_hop`]'s record), then the LAC's (the
    /// session's peer). Without them an IPv6 template writes nothing
    /// (`no_next_hop`).
    #[inline(always)]
    pub fn with_addresses(self, addrs: &'a [u8; 32]) -> TemplateRef<'a> {
        TemplateRef {
            addrs: Some(addrs),
            ..self
        }
    }

    /// Bytes the template puts in front of a packet.
    #[inline(always)]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes up to the end of the L2TP header: the template without PPP's
    /// FF 03 and protocol, which a switched frame keeps as it came.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        usize::from(self.ppp_proto) - 2
    }

    /// Where the L2TP header starts (after UDP).
    #[inline(always)]
    pub(crate) fn l2tp_at(&self) -> usize {
        usize::from(self.udp) + 8
    }

    /// What it adds after the Ethernet header (see [`overhead`]).
    #[inline(always)]
    pub fn overhead(&self) -> usize {
        self.len().saturating_sub(14)
    }

    /// Whether Ns must be supplied.
    #[inline(always)]
    pub fn sequencing(&self) -> bool {
        self.ns != 0
    }

    /// Writes `ns` into a frame this template made and sealed (a no-op
    /// for a template without sequence numbers, or a frame too short for
    /// it); over IPv6 the UDP checksum follows (RFC 1624).
    #[inline]
    pub fn patch_ns(&self, frame: &mut [u8], ns: u16) {
        let at = usize::from(self.ns);
        if at == 0 || frame.len() < at + 2 {
            return;
        }
        let old = u16::from_be_bytes([frame[at], frame[at + 1]]);
        frame[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        let c = usize::from(self.udp) + 6;
        if self.is_v6()
            && let Some(b) = frame.get_mut(c..c + 2)
        {
            let sum = checksum::update(u16::from_be_bytes([b[0], b[1]]), old, ns);
            // RFC 768: a computed 0 goes out as all ones.
            let sum = if sum == 0 { 0xffff } else { sum };
            b.copy_from_slice(&sum.to_be_bytes());
        }
    }

    /// Completes a frame once every byte before Ns is written: over IPv6,
    /// its UDP checksum (RFC 8200 §8.1: required), over the pseudo-header,
    /// the UDP header and all that follows. Nothing to do over IPv4 (the
    /// UDP checksum is 0, RFC 768).
    #[inline(always)]
    pub fn seal(&self, frame: &mut [u8]) {
        if self.is_v6() {
            self.seal6(frame);
        }
    }

    #[inline(never)]
    fn seal6(&self, frame: &mut [u8]) {
        let (ip, udp) = (usize::from(self.ip), usize::from(self.udp));
        let (Some(addrs), Some(seg)) = (frame.get(ip + 8..ip + 40), frame.get(udp..)) else {
            return;
        };
        let mut acc = checksum::accumulate(0, addrs);
        acc += seg.len() as u32 + 17;
        let sum = !checksum::fold(checksum::accumulate(acc, seg));
        let sum = if sum == 0 { 0xffff } else { sum };
        frame[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
    }
}

/// In [`Template::to_bytes`]'s IP-offset byte: the outer header is IPv6
/// (read with one mask per packet, not from the EtherType).
const V6_FLAG: u8 = 0x80;

/// Size of [`Template::to_bytes`].
pub const TEMPLATE_BYTES: usize = MAX_TEMPLATE + 7;

/// The PPP protocol for an IP packet, from its version nibble.
fn ppp_protocol(packet: &[u8]) -> Result<u16, Drop> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Ok(0x0021),
        Some(6) => Ok(0x0057),
        Some(_) => Err(Drop::NotIp),
        None => Err(Drop::Truncated),
    }
}

impl TemplateRef<'_> {
    /// Writes template bytes `from..hl` at the front of `frame` (the rest
    /// of which is the payload already in place; with `from` 12 the
    /// Ethernet addresses are the caller's to write) and patches the IPv4
    /// total length and checksum and the UDP length for the frame's size,
    /// and Ns when the session sequences. `hl` is [`TemplateRef::len`] or
    /// [`TemplateRef::header_len`], which both cover every patched field.
    #[inline(always)]
    pub(crate) fn write_outer(&self, frame: &mut [u8], hl: usize, ns: u16) -> Result<(), Drop> {
        if self.is_v6() {
            return self.write_outer6(frame, hl, ns);
        }
        let from = usize::from(self.from);
        frame[from..hl].copy_from_slice(&self.bytes[..hl - from]);
        let ip = usize::from(self.ip);
        let udp = usize::from(self.udp);
        let ip_len = u16::try_from(frame.len() - ip).map_err(|_| Drop::TooBig)?;
        let udp_len = ip_len - 20;
        frame[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
        // The header sum with the length added: one fold, no pass over bytes.
        let sum = checksum::fold(u32::from(self.ip_sum) + u32::from(ip_len));
        frame[ip + 10..ip + 12].copy_from_slice(&(!sum).to_be_bytes());
        frame[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        if self.ns != 0 {
            let at = usize::from(self.ns);
            frame[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        }
        Ok(())
    }

    /// [`TemplateRef::write_outer`] for an IPv6 template: its bytes with
    /// the addresses put back after the header's first 8, then the payload
    /// length and the UDP length. The checksum waits for
    /// [`TemplateRef::seal`].
    #[inline(never)]
    fn write_outer6(&self, frame: &mut [u8], hl: usize, ns: u16) -> Result<(), Drop> {
        let Some(addrs) = self.addrs else {
            return Err(Drop::NoNextHop);
        };
        let from = usize::from(self.from & !V6_FLAG);
        let ip = usize::from(self.ip);
        let udp = usize::from(self.udp);
        let a = ip + 8;
        frame[from..a].copy_from_slice(&self.bytes[..a - from]);
        frame[a..a + V6_ADDRESSES].copy_from_slice(addrs);
        frame[a + V6_ADDRESSES..hl]
            .copy_from_slice(&self.bytes[a - from..hl - V6_ADDRESSES - from]);
        let payload = u16::try_from(frame.len() - ip - 40).map_err(|_| Drop::TooBig)?;
        frame[ip + 4..ip + 6].copy_from_slice(&payload.to_be_bytes());
        frame[udp + 4..udp + 6].copy_from_slice(&payload.to_be_bytes());
        if self.ns != 0 {
            let at = usize::from(self.ns);
            frame[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        }
        Ok(())
    }
}

/// Bytes of a slot's stored template ([`Template::to_bytes`] from its
/// 13th byte on, as `table::record` keeps it).
pub const STORED_BYTES: usize = TEMPLATE_BYTES - 12;

/// An IPv4 template as lnsd builds it ([`Template::new`]) for a LAC
/// reached over IPv4, kept as the little that varies between sessions:
/// whether it is tagged and sequences, the VLAN, the addresses, ports
/// and the LAC's ids. A session slot keeps it in its first cache line
/// (`table::record`), so the downstream express lane writes a frame from
/// that line alone ([`ExpressTemplate`]). Every other byte of such a
/// template is a constant of its shape (TTL 64, no DF, UDP checksum 0,
/// FF 03), which is why only a template [`Template::new`] would build
/// from these fields has one ([`Template::compact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact {
    /// The 802.1Q tag's VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// The L2TP header carries Ns and Nr.
    pub sequencing: bool,
    /// As on the wire: source and destination address and source and
    /// destination port (the IPv4 header's last 8 octets, then UDP's
    /// first 4), then the LAC's tunnel and session ids.
    pub wire: [u8; COMPACT_WIRE],
}

/// Octets of [`Compact::wire`].
pub const COMPACT_WIRE: usize = 16;

impl Template {
    /// The template's [`Compact`] form, if it has one: an IPv4 template
    /// that [`Template::new`] builds from the fields it holds (with its
    /// own Ethernet addresses), byte for byte. `None` for an IPv6 one and
    /// for any other bytes (a template read back from a damaged slot).
    pub fn compact(&self) -> Option<Compact> {
        if self.v6 {
            return None;
        }
        let b = &self.bytes;
        let (ip, l2tp) = (usize::from(self.ip), usize::from(self.udp) + 8);
        let vlan = (ip == 18).then(|| u16::from_be_bytes([b[14], b[15]]));
        let mut wire = [0u8; COMPACT_WIRE];
        wire[..12].copy_from_slice(b.get(ip + 12..ip + 24)?);
        wire[12..].copy_from_slice(b.get(l2tp + 2..l2tp + 6)?);
        let c = Compact {
            vlan,
            sequencing: self.ns != 0,
            wire,
        };
        let at = |i: usize| [wire[i], wire[i + 1], wire[i + 2], wire[i + 3]];
        let port = |i: usize| u16::from_be_bytes([wire[i], wire[i + 1]]);
        let rebuilt = Template::new(&Outer {
            dst_mac: b[..6].try_into().ok()?,
            src_mac: b[6..12].try_into().ok()?,
            vlan,
            src: IpAddr::from(at(0)),
            src_port: port(8),
            dst: IpAddr::from(at(4)),
            dst_port: port(10),
            tunnel: port(12),
            session: port(14),
            sequencing: c.sequencing,
        });
        (rebuilt == *self).then_some(c)
    }
}

/// The downstream express lane's template (`worker::pipeline`): a
/// [`Compact`] as a slot's first line holds it, written as one of the
/// four IPv4 shapes (Ethernet untagged or with one tag, the L2TP header
/// without or with Ns and Nr), each of which fixes every offset: a frame
/// is the shape's constant bytes, two copies of what varies and the
/// lengths and checksum. [`encap`] with the [`Template`] the compact
/// form came from writes the same frame
/// (`the_express_template_writes_what_encap_writes`).
#[derive(Debug, Clone, Copy)]
pub struct ExpressTemplate {
    shape: Shape,
    vlan: [u8; 2],
    wire: [u8; COMPACT_WIRE],
    /// The IPv4 header's ones'-complement sum with its length and
    /// checksum 0.
    ip_sum: u32,
}

/// The four IPv4 shapes: Ethernet untagged or with one tag, the L2TP
/// header without or with Ns and Nr. Each fixes every offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    Sequenced,
    Tagged,
    TaggedSequenced,
}

impl Shape {
    /// The IPv4 header's offset.
    const fn ip(self) -> usize {
        match self {
            Shape::Plain | Shape::Sequenced => 14,
            Shape::Tagged | Shape::TaggedSequenced => 18,
        }
    }

    /// Whether the L2TP header carries Ns and Nr.
    const fn sequenced(self) -> bool {
        matches!(self, Shape::Sequenced | Shape::TaggedSequenced)
    }

    /// The L2TP header's offset.
    const fn l2tp(self) -> usize {
        self.ip() + 20 + 8
    }

    /// Ns's offset (0: none).
    const fn ns(self) -> usize {
        if self.sequenced() { self.l2tp() + 6 } else { 0 }
    }

    /// The template's length.
    const fn len(self) -> usize {
        self.l2tp() + if self.sequenced() { 10 } else { 6 } + 4
    }

    /// The shape's constant bytes, as [`Template::new`] writes them: the
    /// Ethertypes, IPv4's version, IHL, TTL 64 and protocol, the L2TP
    /// flags, FF 03 and PPP's IPv4 protocol; zero where a frame's own
    /// values go.
    const fn constants(self) -> [u8; MAX_TEMPLATE] {
        let mut b = [0u8; MAX_TEMPLATE];
        let ip = self.ip();
        if ip == 18 {
            b[12] = 0x81;
        }
        b[ip - 2] = 0x08;
        b[ip] = 0x45;
        b[ip + 8] = 64;
        b[ip + 9] = 17;
        let l2tp = self.l2tp();
        b[l2tp] = if self.sequenced() { 0x08 } else { 0 };
        b[l2tp + 1] = 0x02;
        let len = self.len();
        b[len - 4] = 0xff;
        b[len - 3] = 0x03;
        b[len - 1] = 0x21;
        b
    }
}

impl ExpressTemplate {
    /// The template of a compact form as a slot's first line holds it:
    /// tagged with `vlan` (its two octets as on the wire) or not,
    /// sequencing or not, and `wire` ([`Compact::wire`]).
    #[inline(always)]
    pub fn new(
        tagged: bool,
        sequencing: bool,
        vlan: [u8; 2],
        wire: [u8; COMPACT_WIRE],
    ) -> ExpressTemplate {
        let shape = match (tagged, sequencing) {
            (false, false) => Shape::Plain,
            (false, true) => Shape::Sequenced,
            (true, false) => Shape::Tagged,
            (true, true) => Shape::TaggedSequenced,
        };
        // Version, IHL, TTL and protocol, then the two addresses.
        let half = |i: usize| u32::from(u16::from_be_bytes([wire[i], wire[i + 1]]));
        let ip_sum = 0x4500 + 0x4011 + half(0) + half(2) + half(4) + half(6);
        ExpressTemplate {
            shape,
            vlan,
            wire,
            ip_sum,
        }
    }

    /// [`ExpressTemplate::new`] of a [`Compact`].
    pub fn of(c: &Compact) -> ExpressTemplate {
        let vlan = c.vlan.map_or([0; 2], |v| (v & 0x0fff).to_be_bytes());
        ExpressTemplate::new(c.vlan.is_some(), c.sequencing, vlan, c.wire)
    }

    /// Bytes it puts in front of a packet.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.shape.len()
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether it is the plain shape (untagged, no Ns and Nr).
    #[inline(always)]
    pub fn is_plain(&self) -> bool {
        self.shape == Shape::Plain
    }

    /// Whether Ns must be supplied ([`ExpressTemplate::patch_ns`]).
    #[inline(always)]
    pub fn sequencing(&self) -> bool {
        self.shape.sequenced()
    }

    /// Whether an IPv4 packet of `len` octets fits the outer IPv4 Total
    /// Length behind this template.
    #[inline(always)]
    pub fn takes(&self, len: usize) -> bool {
        self.shape.len() - self.shape.ip() + len <= usize::from(u16::MAX)
    }

    /// Writes the template in front of the IPv4 packet that fills the
    /// rest of `frame` (`frame.len()` is `len()` plus the packet's,
    /// which [`ExpressTemplate::takes`]), but for the Ethernet addresses:
    /// as [`encap`] does with the [`Template`] it came from. Each shape
    /// at its fixed offsets (one bounds check for the frame).
    #[inline(always)]
    pub fn write(&self, frame: &mut [u8]) {
        const P: Shape = Shape::Plain;
        const S: Shape = Shape::Sequenced;
        const T: Shape = Shape::Tagged;
        const TS: Shape = Shape::TaggedSequenced;
        const CP: [u8; MAX_TEMPLATE] = P.constants();
        const CS: [u8; MAX_TEMPLATE] = S.constants();
        const CT: [u8; MAX_TEMPLATE] = T.constants();
        const CTS: [u8; MAX_TEMPLATE] = TS.constants();
        match self.shape {
            P => self.write_at::<{ P.ip() }, { P.len() }>(frame, &CP),
            S => self.write_at::<{ S.ip() }, { S.len() }>(frame, &CS),
            T => self.write_at::<{ T.ip() }, { T.len() }>(frame, &CT),
            TS => self.write_at::<{ TS.ip() }, { TS.len() }>(frame, &CTS),
        }
    }

    /// [`ExpressTemplate::write`] for a template whose IPv4 header is at
    /// `IP`, which is `HL` octets long and whose constant bytes are
    /// `constants`.
    #[inline(always)]
    fn write_at<const IP: usize, const HL: usize>(
        &self,
        frame: &mut [u8],
        constants: &[u8; MAX_TEMPLATE],
    ) {
        const { assert!(HL >= IP + 38 && HL <= MAX_TEMPLATE) };
        let total = frame.len();
        let Some(head) = frame.first_chunk_mut::<HL>() else {
            return;
        };
        let ip_len = (total - IP) as u16;
        head[12..].copy_from_slice(&constants[12..HL]);
        if IP == 18 {
            head[14..16].copy_from_slice(&self.vlan);
        }
        head[IP + 12..IP + 24].copy_from_slice(&self.wire[..12]);
        head[IP + 30..IP + 34].copy_from_slice(&self.wire[12..]);
        head[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
        let sum = checksum::fold(self.ip_sum + u32::from(ip_len));
        head[IP + 10..IP + 12].copy_from_slice(&(!sum).to_be_bytes());
        head[IP + 24..IP + 26].copy_from_slice(&ip_len.wrapping_sub(20).to_be_bytes());
    }

    /// Writes `ns` into a frame it wrote (a template that sequences).
    #[inline(always)]
    pub fn patch_ns(&self, frame: &mut [u8], ns: u16) {
        let at = self.shape.ns();
        if at != 0 {
            frame[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        }
    }
}

/// Encapsulates in place: the IP packet at `buf[start..start + len]`
/// gets the template written in front of it. Returns where the frame now
/// starts and its length. `ns` is used when the session sequences. A
/// template read from a slot leaves the frame's Ethernet addresses to the
/// caller (see [`TemplateRef`]).
#[inline]
pub fn encap<'t>(
    t: impl Into<TemplateRef<'t>>,
    buf: &mut [u8],
    start: usize,
    len: usize,
    ns: u16,
) -> Result<(usize, usize), Drop> {
    let t = t.into();
    let hl = t.len();
    let end = start.checked_add(len).ok_or(Drop::Truncated)?;
    if end > buf.len() {
        return Err(Drop::Truncated);
    }
    let Some(front) = start.checked_sub(hl) else {
        return Err(Drop::NoHeadroom);
    };
    let proto = ppp_protocol(&buf[start..end])?;
    let frame = &mut buf[front..end];
    t.write_outer(frame, hl, ns)?;
    let p = usize::from(t.ppp_proto);
    frame[p..p + 2].copy_from_slice(&proto.to_be_bytes());
    t.seal(frame);
    Ok((front, end - front))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EthernetFrame, Ipv4Packet, Ipv6Packet, L2tpPacket, PppFrame, UdpPacket};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn outer(vlan: Option<u16>, sequencing: bool) -> Outer {
        Outer {
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 1],
            vlan,
            src: Ipv4Addr::new(192, 0, 2, 1).into(),
            src_port: 1701,
            dst: Ipv4Addr::new(198, 51, 100, 7).into(),
            dst_port: 1701,
            tunnel: 0x1234,
            session: 0xabcd,
            sequencing,
        }
    }

    /// A 28-byte IPv4/ICMP echo to a subscriber.
    fn inner() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 63, 1, 0, 0, 203, 0, 113, 9, 100, 64, 0, 10, 8, 0, 0xf7,
            0xfe, 0, 1, 0, 0,
        ];
        let c = !checksum::fold(checksum::accumulate(0, &p[..20]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Every IPv4 template lnsd builds has a compact form, and the
        /// express template of that form writes the frame `encap` writes
        /// with the template; an IPv6 template, or one whose bytes were
        /// changed, has none unless it is still one `Template::new`
        /// builds (and then writes the same).
        #[test]
        fn the_express_template_writes_what_encap_writes(
            vlan in proptest::option::of(0u16..4096),
            sequencing: bool,
            v6: bool,
            src: [u8; 4],
            dst: [u8; 4],
            ports: (u16, u16),
            ids: (u16, u16),
            edit in proptest::option::of((0usize..MAX_TEMPLATE, proptest::num::u8::ANY)),
            len in 20usize..1500,
            ns: u16,
        ) {
            let mut o = Outer {
                vlan,
                src: src.into(),
                dst: dst.into(),
                src_port: ports.0,
                dst_port: ports.1,
                tunnel: ids.0,
                session: ids.1,
                ..outer(None, sequencing)
            };
            if v6 {
                o.src = "2001:db8::1".parse::<Ipv6Addr>().unwrap().into();
                o.dst = "2001:db8::7".parse::<Ipv6Addr>().unwrap().into();
            }
            let built = Template::new(&o);
            let mut b = built.to_bytes();
            if let Some((at, x)) = edit {
                b[at] = x;
            }
            let Some(t) = Template::from_bytes(&b) else {
                return Ok(());
            };
            let Some(c) = t.compact() else {
                proptest::prop_assert!(v6 || t != built, "an IPv4 template lnsd builds refused");
                return Ok(());
            };
            proptest::prop_assert!(!v6, "an IPv6 template taken");
            if t == built {
                proptest::prop_assert_eq!(c.vlan, vlan);
            }
            let x = ExpressTemplate::of(&c);
            proptest::prop_assert_eq!((x.len(), x.sequencing()), (t.len(), t.sequencing()));
            proptest::prop_assume!(x.takes(len));
            let mut by_encap = vec![0xeeu8; 128 + len];
            for (i, c) in by_encap[128..].iter_mut().enumerate() {
                *c = if i == 0 { 0x45 } else { i as u8 };
            }
            let mut by_express = by_encap.clone();
            let (front, n) = encap(&t, &mut by_encap, 128, len, 0).unwrap();
            t.patch_ns(&mut by_encap[front..front + n], ns);
            let frame = &mut by_express[128 - x.len()..];
            x.write(frame);
            x.patch_ns(frame, ns);
            proptest::prop_assert_eq!(front, 128 - x.len());
            // The Ethernet addresses are the caller's.
            proptest::prop_assert_eq!(&by_express[front + 12..], &by_encap[front + 12..]);
        }
    }

    #[test]
    fn byte_exact_frame() {
        let t = Template::new(&outer(None, false));
        assert_eq!(t.len(), 14 + 20 + 8 + 6 + 4);
        let mut buf = vec![0u8; 128];
        let start = 64;
        let pkt = inner();
        buf[start..start + pkt.len()].copy_from_slice(&pkt);
        let (front, len) = encap(&t, &mut buf, start, pkt.len(), 0).unwrap();
        let f = &buf[front..front + len];
        let mut expect = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let mut ip = vec![
            0x45, 0, 0, 66, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
        ];
        let c = !checksum::fold(checksum::accumulate(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        expect.extend(ip);
        expect.extend([0x06, 0xa5, 0x06, 0xa5, 0, 46, 0, 0]);
        expect.extend([0x00, 0x02, 0x12, 0x34, 0xab, 0xcd]);
        expect.extend([0xff, 0x03, 0x00, 0x21]);
        expect.extend(pkt);
        assert_eq!(f, &expect[..]);
        // And it parses as what it claims to be.
        let e = EthernetFrame::new_checked(f).unwrap();
        let i = Ipv4Packet::new_checked(e.payload()).unwrap();
        assert!(i.verify_checksum());
        let u = UdpPacket::new_checked(i.payload()).unwrap();
        let l = L2tpPacket::new_checked(u.payload()).unwrap();
        assert_eq!((l.tunnel_id(), l.session_id()), (0x1234, 0xabcd));
        let p = PppFrame::new_checked(l.payload()).unwrap();
        assert_eq!(p.protocol().0, 0x0021);
    }

    #[test]
    fn vlan_sequencing_and_ipv6_payload() {
        let t = Template::new(&outer(Some(42), true));
        assert!(t.sequencing());
        let mut buf = vec![0u8; 160];
        let mut v6 = vec![0x60u8; 40];
        v6[4..6].copy_from_slice(&0u16.to_be_bytes());
        buf[96..136].copy_from_slice(&v6);
        let (front, len) = encap(&t, &mut buf, 96, 40, 0x0102).unwrap();
        let f = &buf[front..front + len];
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 42]);
        let i = Ipv4Packet::new_checked(&f[18..]).unwrap();
        assert!(i.verify_checksum());
        assert_eq!(usize::from(i.total_len()), len - 18);
        let l = L2tpPacket::new_checked(&f[18 + 28..]).unwrap();
        assert_eq!(l.sequence().map(|s| s.ns), Some(0x0102));
        // Patching Ns afterwards gives the same frame.
        let mut again = vec![0u8; 160];
        again[96..136].copy_from_slice(&v6);
        let (s2, n2) = encap(&t, &mut again, 96, 40, 0).unwrap();
        t.patch_ns(&mut again[s2..s2 + n2], 0x0102);
        assert_eq!(&again[s2..s2 + n2], &buf[front..front + len]);
        assert_eq!(
            PppFrame::new_checked(l.payload()).unwrap().protocol().0,
            0x0057
        );
    }

    #[test]
    fn header_len_ends_at_the_l2tp_header() {
        for (vlan, seq, want) in [
            (None, false, 14 + 20 + 8 + 6),
            (Some(7), true, 18 + 20 + 8 + 10),
        ] {
            let t = Template::new(&outer(vlan, seq));
            assert_eq!(t.header_len(), want);
            assert_eq!(t.len(), want + 4);
            assert_eq!(&t.bytes[want..want + 2], &[0xff, 0x03]);
        }
    }

    #[test]
    fn overhead_is_what_the_template_adds_after_ethernet() {
        for vlan in [None, Some(7)] {
            for seq in [false, true] {
                let t = Template::new(&outer(vlan, seq));
                assert_eq!(t.overhead(), overhead(vlan.is_some(), seq));
                assert_eq!(t.overhead(), t.len() - 14);
            }
        }
        assert_eq!(overhead(false, false), 38);
    }

    #[test]
    fn refusals_are_named() {
        let t = Template::new(&outer(None, false));
        let mut buf = vec![0u8; 64];
        let pkt = inner();
        buf[10..38].copy_from_slice(&pkt);
        assert_eq!(encap(&t, &mut buf, 10, 28, 0), Err(Drop::NoHeadroom));
        assert_eq!(encap(&t, &mut buf, 60, 28, 0), Err(Drop::Truncated));
        let mut buf = vec![0u8; 128];
        buf[64] = 0x55;
        assert_eq!(encap(&t, &mut buf, 64, 20, 0), Err(Drop::NotIp));
    }

    #[test]
    fn stored_form_round_trips_and_refuses_bad_offsets() {
        for (vlan, seq) in [(None, false), (Some(7), true)] {
            let t = Template::new(&outer(vlan, seq));
            assert_eq!(Template::from_bytes(&t.to_bytes()), Some(t));
        }
        let mut b = Template::new(&outer(None, true)).to_bytes();
        b[60] = 61;
        assert_eq!(Template::from_bytes(&b), None);
        let mut b = Template::new(&outer(None, false)).to_bytes();
        b[64] = 250;
        assert_eq!(Template::from_bytes(&b), None);
        // No room for the L2TP header before the PPP bytes.
        let mut b = Template::new(&outer(None, false)).to_bytes();
        b[64] = b[62] + 8 + 4;
        assert_eq!(Template::from_bytes(&b), None);
        // Ns outside the L2TP header.
        let mut b = Template::new(&outer(None, true)).to_bytes();
        b[63] = b[64] - 2;
        assert_eq!(Template::from_bytes(&b), None);
        assert_eq!(Template::from_bytes(&[0u8; TEMPLATE_BYTES]), None);
    }

    const LNS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);
    const LAC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 2);

    fn both(src: Ipv6Addr, dst: Ipv6Addr) -> [u8; 32] {
        let mut a = [0u8; 32];
        a[..16].copy_from_slice(&src.octets());
        a[16..].copy_from_slice(&dst.octets());
        a
    }

    fn outer6(vlan: Option<u16>, sequencing: bool) -> Outer {
        Outer {
            src: LNS6.into(),
            dst: LAC6.into(),
            ..outer(vlan, sequencing)
        }
    }

    /// The UDP checksum over IPv6 (RFC 8200 §8.1) checks out: the sum of
    /// the pseudo-header and the whole datagram is all ones.
    fn udp6_ok(ip: &Ipv6Packet<&[u8]>) -> bool {
        let seg = ip.payload();
        let pseudo = checksum::pseudo_header_v6(ip.src_addr(), ip.dst_addr(), 17, seg.len() as u32);
        seg[6..8] != [0, 0] && checksum::combine(&[pseudo, checksum::sum(seg)]) == 0xffff
    }

    #[test]
    fn ipv6_outer_frame_is_byte_exact_with_its_udp_checksum() {
        let t = Template::new(&outer6(None, false)).with_source_hop(9);
        assert!(t.is_v6());
        assert_eq!(t.len(), 14 + 40 + 8 + 6 + 4);
        assert_eq!(t.overhead(), overhead6(false, false));
        let (src, dst) = (LNS6.octets(), LAC6.octets());
        let addrs = both(LNS6, LAC6);
        let r = t.as_ref().with_addresses(&addrs);
        assert_eq!(r.source_hop(), 9);
        let mut buf = vec![0u8; 192];
        let pkt = inner();
        buf[128..128 + pkt.len()].copy_from_slice(&pkt);
        let (front, len) = encap(r, &mut buf, 128, pkt.len(), 0).unwrap();
        let f = &buf[front..front + len];
        let mut want = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        want.extend([0x60, 0, 0, 0, 0, 46, 17, 64]);
        want.extend(src);
        want.extend(dst);
        want.extend([0x06, 0xa5, 0x06, 0xa5, 0, 46]);
        want.extend(&f[60..62]);
        want.extend([0x00, 0x02, 0x12, 0x34, 0xab, 0xcd, 0xff, 0x03, 0x00, 0x21]);
        want.extend(&pkt);
        assert_eq!(f, &want[..]);
        let e = EthernetFrame::new_checked(f).unwrap();
        let ip = Ipv6Packet::new_checked(e.payload()).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (LNS6, LAC6));
        assert!(udp6_ok(&ip));
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        let l = L2tpPacket::new_checked(u.payload()).unwrap();
        assert_eq!((l.tunnel_id(), l.session_id()), (0x1234, 0xabcd));
    }

    #[test]
    fn ipv6_outer_keeps_its_checksum_through_ns_for_every_length() {
        let t = Template::new(&outer6(Some(42), true));
        let addrs = both(LNS6, LAC6);
        let r = t.as_ref().with_addresses(&addrs);
        let mut buf = vec![0u8; 1700];
        for (len, ns) in [
            (20usize, 0u16),
            (21, 1),
            (100, 0xffff),
            (1001, 0x8000),
            (1500, 7),
        ] {
            buf[150] = 0x45;
            let (front, n) = encap(r, &mut buf, 150, len, 0).unwrap();
            r.patch_ns(&mut buf[front..front + n], ns);
            let f = &buf[front..front + n];
            assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 42]);
            let ip = Ipv6Packet::new_checked(&f[18..]).unwrap();
            assert_eq!(usize::from(ip.payload_len()), n - 18 - 40);
            assert!(udp6_ok(&ip), "{len} {ns}");
            let l = L2tpPacket::new_checked(&f[18 + 48..]).unwrap();
            assert_eq!(l.sequence().map(|s| s.ns), Some(ns));
        }
    }

    #[test]
    fn ipv6_outer_without_its_addresses_writes_nothing() {
        let t = Template::new(&outer6(None, false));
        let mut buf = vec![0u8; 192];
        buf[128] = 0x45;
        assert_eq!(encap(&t, &mut buf, 128, 20, 0), Err(Drop::NoNextHop));
    }

    #[test]
    fn ipv6_stored_form_round_trips_and_reads_from_a_slot() {
        for (vlan, seq) in [(None, false), (Some(7), true)] {
            let t = Template::new(&outer6(vlan, seq)).with_source_hop(300);
            let b = t.to_bytes();
            assert_eq!(Template::from_bytes(&b), Some(t));
            // As a worker reads it: from byte 12, the family and the
            // source record known, the offsets those of the frame.
            let r = TemplateRef::stored(&b[12..], 12).unwrap();
            assert!(r.is_v6());
            assert_eq!(r.source_hop(), 300);
            assert_eq!((r.len(), r.header_len()), (t.len(), t.header_len()));
        }
        // An IPv4 template is not taken for an IPv6 one.
        let b = Template::new(&outer(None, false)).to_bytes();
        assert!(!TemplateRef::stored(&b[12..], 12).unwrap().is_v6());
    }

    #[test]
    fn checksum_matches_a_full_recompute_for_every_length() {
        let t = Template::new(&outer(None, false));
        let mut buf = vec![0u8; 1600];
        for len in [20usize, 21, 100, 1000, 1500] {
            buf[100] = 0x45;
            let (front, n) = encap(&t, &mut buf, 100, len, 0).unwrap();
            let ip = Ipv4Packet::new_checked(&buf[front + 14..front + n]).unwrap();
            assert!(ip.verify_checksum(), "{len}");
        }
    }
}
