//! The test traffic's frames: what the generator writes and the receivers
//! parse. Pure functions over byte slices, so the pcap export, the
//! generator and the unit tests share one definition.
//!
//! A probe is a UDP packet over IPv4 or IPv6 whose payload carries who
//! sent it and when:
//!
//! ```text
//! "XLNB" | flow u32 | seq u64 | sent_ns u64      (24 bytes, big endian)
//! ```
//!
//! `flow` is the session's index, `seq` counts that session's packets in
//! one direction from 0, and `sent_ns` is the sender's clock (the
//! receivers run in the same process, so one-way latency needs no clock
//! sync). Upstream, the probe is carried in L2TP data messages (RFC 2661
//! §3.1) with the session's PPP framing; downstream it is plain IP.
//!
//! Guarantees: [`parse`] never panics on any input (it is fed whatever
//! arrives on the wire) and returns `None` for anything that is not a
//! probe. It unwraps one L2TP layer when the UDP port is the L2TP port,
//! so the same receiver counts probes the bare forwarder passes on still
//! encapsulated.

use lns_dataplane::wire::checksum;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Payload marker.
pub const MAGIC: [u8; 4] = *b"XLNB";
/// Payload bytes.
pub const PAYLOAD: usize = 24;
/// The smallest probe: IPv4 + UDP + payload.
pub const MIN_IP: usize = 20 + 8 + PAYLOAD;
/// The smallest IPv6 probe: IPv6 + UDP + payload.
pub const MIN_IP6: usize = 40 + 8 + PAYLOAD;
/// UDP source port of upstream probes (subscriber to core).
pub const PORT_UP: u16 = 5001;
/// UDP source port of downstream probes.
pub const PORT_DOWN: u16 = 5002;
/// UDP destination port of probes (discard).
pub const PORT_DST: u16 = 9;

/// One probe as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The session index.
    pub flow: u32,
    /// Its sequence number in this direction.
    pub seq: u64,
    /// The sender's timestamp.
    pub sent_ns: u64,
    /// Inner source address.
    pub src: IpAddr,
    /// Inner destination address.
    pub dst: IpAddr,
    /// Inner IP packet length.
    pub ip_len: usize,
}

/// Writes a probe IPv4 packet of `len` bytes (at least [`MIN_IP`]) at the
/// start of `out`; returns `len`.
pub fn write_ip(
    out: &mut [u8],
    len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    p: (u32, u64, u64),
) -> usize {
    let len = len.max(MIN_IP);
    let o = &mut out[..len];
    o[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    o[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    o[12..16].copy_from_slice(&src.octets());
    o[16..20].copy_from_slice(&dst.octets());
    let c = !checksum::sum(&o[..20]);
    o[10..12].copy_from_slice(&c.to_be_bytes());
    // No UDP checksum (RFC 768: zero means none).
    write_udp(&mut o[20..], sport, p);
    len
}

/// The UDP header (checksum 0) and the probe's payload, filling `seg`.
fn write_udp(seg: &mut [u8], sport: u16, p: (u32, u64, u64)) {
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&PORT_DST.to_be_bytes());
    let len = seg.len() as u16;
    seg[4..6].copy_from_slice(&len.to_be_bytes());
    seg[6..8].fill(0);
    seg[8..12].copy_from_slice(&MAGIC);
    seg[12..16].copy_from_slice(&p.0.to_be_bytes());
    seg[16..24].copy_from_slice(&p.1.to_be_bytes());
    seg[24..32].copy_from_slice(&p.2.to_be_bytes());
    seg[32..].fill(0x5a);
}

/// Writes a probe IPv6 packet of `len` bytes (at least [`MIN_IP6`]) at
/// the start of `out`, its UDP checksum computed (RFC 8200 §8.1: required
/// over IPv6); returns `len`.
pub fn write_ip6(
    out: &mut [u8],
    len: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    p: (u32, u64, u64),
) -> usize {
    let len = len.max(MIN_IP6);
    let o = &mut out[..len];
    let udp_len = (len - 40) as u16;
    o[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 17, 64]);
    o[4..6].copy_from_slice(&udp_len.to_be_bytes());
    o[8..24].copy_from_slice(&src.octets());
    o[24..40].copy_from_slice(&dst.octets());
    write_udp(&mut o[40..], sport, p);
    let pseudo = checksum::pseudo_header_v6(src, dst, 17, u32::from(udp_len));
    let c = !checksum::combine(&[pseudo, checksum::sum(&o[40..])]);
    o[46..48].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    len
}

/// [`write_ip`] or [`write_ip6`], by the addresses' family (they must
/// share one).
fn write_any(
    out: &mut [u8],
    len: usize,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    p: (u32, u64, u64),
) -> usize {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => write_ip(out, len, s, d, sport, p),
        (s, d) => write_ip6(out, len, v6_of(s), v6_of(d), sport, p),
    }
}

fn v6_of(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Ethernet + IPv4 or IPv6 + UDP around an L2TP payload, as the LAC
/// sends it.
#[derive(Debug, Clone)]
pub struct Outer {
    /// Next hop toward the LNS.
    pub dst_mac: [u8; 6],
    /// Our interface.
    pub src_mac: [u8; 6],
    /// LAC address (of the same family as `dst`).
    pub src: IpAddr,
    /// LNS address.
    pub dst: IpAddr,
    /// LAC port.
    pub sport: u16,
    /// LNS port.
    pub dport: u16,
}

/// Writes an Ethernet header (IPv4); returns its length.
pub fn write_eth(out: &mut [u8], dst: [u8; 6], src: [u8; 6]) -> usize {
    out[..6].copy_from_slice(&dst);
    out[6..12].copy_from_slice(&src);
    out[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    14
}

/// Writes a whole upstream frame: Ethernet, IPv4 or IPv6, UDP (over IPv6
/// with its checksum, RFC 8200 §8.1), then `l2tp` (the session's L2TP
/// data header and PPP framing, from the LAC), then a probe of `ip_len`
/// bytes. Returns the frame length.
pub fn write_upstream(
    out: &mut [u8],
    o: &Outer,
    l2tp: &[u8],
    ip_len: usize,
    inner: (IpAddr, IpAddr),
    p: (u32, u64, u64),
) -> usize {
    let e = write_eth(out, o.dst_mac, o.src_mac);
    let ip = e;
    let v6 = o.dst.is_ipv6();
    let udp = ip + if v6 { 40 } else { 20 };
    let l = udp + 8;
    out[l..l + l2tp.len()].copy_from_slice(l2tp);
    let n = write_any(
        &mut out[l + l2tp.len()..],
        ip_len,
        inner.0,
        inner.1,
        PORT_UP,
        p,
    );
    let udp_len = 8 + l2tp.len() + n;
    out[udp..udp + 2].copy_from_slice(&o.sport.to_be_bytes());
    out[udp + 2..udp + 4].copy_from_slice(&o.dport.to_be_bytes());
    out[udp + 4..udp + 6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    out[udp + 6..udp + 8].fill(0);
    if v6 {
        let (src, dst) = (v6_of(o.src), v6_of(o.dst));
        out[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        out[ip..ip + 8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 17, 64]);
        out[ip + 4..ip + 6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        out[ip + 8..ip + 24].copy_from_slice(&src.octets());
        out[ip + 24..ip + 40].copy_from_slice(&dst.octets());
        let pseudo = checksum::pseudo_header_v6(src, dst, 17, udp_len as u32);
        let c = !checksum::combine(&[pseudo, checksum::sum(&out[udp..udp + udp_len])]);
        out[udp + 6..udp + 8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
        return udp + udp_len;
    }
    out[ip..ip + 12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    out[ip + 2..ip + 4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    out[ip + 12..ip + 16].copy_from_slice(&v4_of(o.src).octets());
    out[ip + 16..ip + 20].copy_from_slice(&v4_of(o.dst).octets());
    let c = !checksum::sum(&out[ip..ip + 20]);
    out[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    udp + udp_len
}

fn v4_of(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

/// Writes a whole downstream frame: Ethernet then a probe. Returns its
/// length.
pub fn write_downstream(
    out: &mut [u8],
    macs: ([u8; 6], [u8; 6]),
    ip_len: usize,
    inner: (IpAddr, IpAddr),
    p: (u32, u64, u64),
) -> usize {
    let e = write_eth(out, macs.0, macs.1);
    if inner.0.is_ipv6() {
        out[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    }
    e + write_any(&mut out[e..], ip_len, inner.0, inner.1, PORT_DOWN, p)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Parses a received frame; `l2tp_port` is the UDP port whose payload is
/// unwrapped as L2TP data (once), with the data plane's own decapsulation
/// (every L/S/O form of RFC 2661 §3.1, PPP with or without address/control
/// and protocol compression).
pub fn parse(frame: &[u8], l2tp_port: u16) -> Option<Probe> {
    use lns_dataplane::node::decap::{Family, decap};
    use lns_dataplane::wire::{EtherType, EthernetFrame};
    if let Ok(d) = decap(frame, l2tp_port) {
        let inner = frame.get(d.inner..d.inner + d.inner_len)?;
        return match d.family {
            Family::V4 => parse_ip(inner),
            Family::V6 => parse_ip6(inner),
        };
    }
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match eth.ethertype() {
        EtherType::IPV4 => parse_ip(eth.payload()),
        EtherType::IPV6 => parse_ip6(eth.payload()),
        _ => None,
    }
}

/// A probe in an IPv6 packet (`ip` may run past its end): UDP right after
/// the fixed header, its checksum right.
fn parse_ip6(ip: &[u8]) -> Option<Probe> {
    if ip.first()? >> 4 != 6 || ip.get(6)? != &17 {
        return None;
    }
    let total = 40 + usize::from(be16(ip, 4)?);
    let ip = ip.get(..total)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
    let seg = &ip[40..];
    let pseudo = checksum::pseudo_header_v6(src, dst, 17, seg.len() as u32);
    if seg.len() < 8 + PAYLOAD || checksum::combine(&[pseudo, checksum::sum(seg)]) != 0xffff {
        return None;
    }
    let pl = &seg[8..8 + PAYLOAD];
    if pl[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(pl[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_be_bytes(pl[i..i + 8].try_into().unwrap_or_default());
    Some(Probe {
        flow: u32_at(4),
        seq: u64_at(8),
        sent_ns: u64_at(16),
        src: src.into(),
        dst: dst.into(),
        ip_len: total,
    })
}

/// A probe in an IPv4 packet (`ip` may run past its end).
fn parse_ip(ip: &[u8]) -> Option<Probe> {
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2)?);
    if ihl < 20 || total < ihl + 8 || total > ip.len() || ip.get(9)? != &17 {
        return None;
    }
    let ip = &ip[..total];
    let pl = ip.get(ihl + 8..ihl + 8 + PAYLOAD)?;
    if pl[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(pl[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_be_bytes(pl[i..i + 8].try_into().unwrap_or_default());
    Some(Probe {
        flow: u32_at(4),
        seq: u64_at(8),
        sent_ns: u64_at(16),
        src: Ipv4Addr::from(u32::from_be_bytes(ip[12..16].try_into().ok()?)).into(),
        dst: Ipv4Addr::from(u32::from_be_bytes(ip[16..20].try_into().ok()?)).into(),
        ip_len: total,
    })
}

/// Packet sizes (IP bytes) the generator cycles through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(pub Vec<usize>);

impl Mix {
    /// `64`, `512`, any size from [`MIN_IP`] to 9000, or `imix`: the
    /// classic simple IMIX, 7 : 4 : 1 of 64, 576 and 1500-byte IP packets
    /// (64 rather than 40, the smallest a probe fits in), interleaved.
    pub fn parse(s: &str) -> Option<Mix> {
        if s == "imix" {
            return Some(Mix(vec![
                64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 576, 64,
            ]));
        }
        let n: usize = s.strip_suffix('B').unwrap_or(s).parse().ok()?;
        (MIN_IP..=9000).contains(&n).then(|| Mix(vec![n]))
    }

    /// The size of the `i`-th packet.
    pub fn size(&self, i: u64) -> usize {
        self.0[(i % self.0.len() as u64) as usize]
    }
}

impl Mix {
    /// The largest size.
    pub fn max(&self) -> usize {
        self.0.iter().copied().max().unwrap_or(MIN_IP)
    }
}

/// Per-flow receive bookkeeping: unique packets, duplicates and packets
/// that arrived after a later one (reordered), with a 64-packet window for
/// telling a duplicate from a late arrival (RFC 4737 style).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowRx {
    /// Distinct packets received.
    pub unique: u64,
    /// Copies of packets already received.
    pub dup: u64,
    /// Packets received after a higher sequence number.
    pub reordered: u64,
    next: u64,
    /// Bit i: sequence `next - 1 - i` was received.
    window: u64,
}

impl FlowRx {
    /// Records sequence number `seq`.
    pub fn record(&mut self, seq: u64) {
        if seq >= self.next {
            let shift = seq - self.next + 1;
            self.window = if shift >= 64 { 0 } else { self.window << shift } | 1;
            self.next = seq + 1;
            self.unique += 1;
            return;
        }
        let d = self.next - 1 - seq;
        if d >= 64 {
            // Too old to tell: counted as a late (reordered) arrival.
            self.unique += 1;
            self.reordered += 1;
        } else if self.window & (1 << d) != 0 {
            self.dup += 1;
        } else {
            self.window |= 1 << d;
            self.unique += 1;
            self.reordered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: IpAddr = IpAddr::V4(Ipv4Addr::new(100, 64, 0, 7));

    /// The LAC's outer headers over IPv4.
    fn outer4() -> Outer {
        Outer {
            dst_mac: [2; 6],
            src_mac: [4; 6],
            src: Ipv4Addr::new(198, 51, 100, 2).into(),
            dst: Ipv4Addr::new(198, 51, 100, 1).into(),
            sport: 1701,
            dport: 1701,
        }
    }
    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
    const SUB6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 7));
    const HOST6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2));

    /// An IPv6 probe goes in L2TP with PPP protocol 0x0057 and out as
    /// plain IPv6, each parsed back; its UDP checksum is right (a wrong
    /// one is no probe: the LNS delivered it damaged).
    #[test]
    fn an_ipv6_probe_survives_encapsulation_and_parsing() {
        let o = outer4();
        let l2tp = [0x00, 0x02, 0, 7, 0, 9, 0xff, 0x03, 0x00, 0x57];
        let mut buf = [0u8; 2048];
        let n = write_upstream(&mut buf, &o, &l2tp, 64, (SUB6, HOST6), (3, 41, 99));
        assert_eq!(n, 14 + 20 + 8 + l2tp.len() + MIN_IP6, "at least 72 bytes");
        let p = parse(&buf[..n], 1701).expect("a probe");
        assert_eq!(
            (p.flow, p.seq, p.sent_ns, p.src, p.dst, p.ip_len),
            (3, 41, 99, SUB6, HOST6, MIN_IP6)
        );
        let n = write_downstream(&mut buf, ([1; 6], [2; 6]), 1500, (HOST6, SUB6), (5, 6, 7));
        assert_eq!(buf[12..14], [0x86, 0xdd]);
        let p = parse(&buf[..n], 1701).expect("a probe");
        assert_eq!(
            (p.flow, p.seq, p.ip_len, p.src, p.dst),
            (5, 6, 1500, HOST6, SUB6)
        );
        buf[14 + 40 + 20] ^= 1;
        assert_eq!(parse(&buf[..n], 1701), None, "a damaged probe");
        for cut in 0..n {
            assert_eq!(parse(&buf[..cut], 1701), None, "cut at {cut}");
        }
        // And with the LAC reaching the LNS over IPv6: the outer UDP
        // checksum is right (the data plane drops it otherwise).
        let o6 = Outer {
            src: "2001:db8:acc::2".parse::<Ipv6Addr>().unwrap().into(),
            dst: "2001:db8:acc::1".parse::<Ipv6Addr>().unwrap().into(),
            ..o
        };
        let n = write_upstream(&mut buf, &o6, &l2tp, 64, (SUB6, HOST6), (3, 42, 99));
        assert_eq!(n, 14 + 40 + 8 + l2tp.len() + MIN_IP6);
        assert_eq!(buf[12..14], [0x86, 0xdd]);
        let p = parse(&buf[..n], 1701).expect("a probe");
        assert_eq!((p.seq, p.src, p.dst), (42, SUB6, HOST6));
        buf[14 + 40 + 8] ^= 0x40;
        assert_eq!(parse(&buf[..n], 1701), None, "a wrong outer checksum");
    }

    #[test]
    fn a_probe_survives_encapsulation_and_parsing() {
        let o = outer4();
        // L2TP data header (no L/S/O), tunnel 7, session 9, then FF03 0021.
        let l2tp = [0x00, 0x02, 0, 7, 0, 9, 0xff, 0x03, 0x00, 0x21];
        let mut buf = [0u8; 2048];
        let n = write_upstream(&mut buf, &o, &l2tp, 64, (SUB, HOST), (3, 41, 99));
        assert_eq!(n, 14 + 20 + 8 + l2tp.len() + 64);
        assert_eq!(checksum::sum(&buf[14..34]), 0xffff, "outer header checksum");
        assert_eq!(checksum::sum(&buf[52..72]), 0xffff, "inner header checksum");
        let p = parse(&buf[..n], 1701).expect("a probe");
        assert_eq!(
            (p.flow, p.seq, p.sent_ns, p.src, p.dst),
            (3, 41, 99, SUB, HOST)
        );
        assert_eq!(p.ip_len, 64);
        // Not unwrapped on another port: the outer UDP payload is no probe.
        assert_eq!(parse(&buf[..n], 1702), None);
        let n = write_downstream(&mut buf, ([1; 6], [2; 6]), 1500, (HOST, SUB), (5, 6, 7));
        let p = parse(&buf[..n], 1701).expect("a probe");
        assert_eq!((p.flow, p.seq, p.ip_len, p.dst), (5, 6, 1500, SUB));
    }

    #[test]
    fn every_l2tp_and_ppp_header_form_is_skipped() {
        let o = outer4();
        let mut buf = [0u8; 512];
        let mut frame = |l2tp: &[u8]| {
            let n = write_upstream(&mut buf, &o, l2tp, 64, (SUB, HOST), (1, 2, 3));
            // The L bit's length: the whole L2TP message.
            if l2tp[0] & 0x40 != 0 {
                let len = (n - 42) as u16;
                buf[44..46].copy_from_slice(&len.to_be_bytes());
            }
            parse(&buf[..n], 1701)
        };
        // L + S + O (offset 2, padded), no FF03, compressed protocol.
        let p = frame(&[
            0x4a, 0x02, 0, 0, 0, 7, 0, 9, 0, 1, 0, 0, 0, 2, 0xee, 0xee, 0x21,
        ]);
        assert_eq!(p.map(|p| (p.flow, p.src)), Some((1, SUB)));
        // Control messages and LCP are not IP.
        assert_eq!(frame(&[0xc8, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(frame(&[0, 2, 0, 7, 0, 9, 0xff, 3, 0xc0, 0x21]), None);
    }

    #[test]
    fn parse_refuses_truncations_without_panicking() {
        let mut buf = [0u8; 256];
        let n = write_downstream(&mut buf, ([1; 6], [2; 6]), 64, (HOST, SUB), (1, 2, 3));
        for cut in 0..n {
            assert_eq!(parse(&buf[..cut], 1701), None, "cut at {cut}");
        }
        let mut bad = buf;
        bad[14 + 28] = b'Y';
        assert_eq!(parse(&bad[..n], 1701), None, "wrong magic");
    }

    #[test]
    fn loss_duplicates_and_reordering_are_told_apart() {
        let mut f = FlowRx::default();
        for s in [0, 1, 3, 2, 2, 5, 5, 200, 4, 100] {
            f.record(s);
        }
        // Unique: 0 1 3 2 5 200 4 100 = 8; dups: 2, 5; late: 2, 4, 100.
        assert_eq!((f.unique, f.dup, f.reordered), (8, 2, 3));
    }

    #[test]
    fn mixes() {
        let imix = Mix::parse("imix").unwrap();
        let n = |s| imix.0.iter().filter(|&&x| x == s).count();
        assert_eq!((n(64), n(576), n(1500)), (7, 4, 1));
        assert_eq!(Mix::parse("512B"), Some(Mix(vec![512])));
        assert_eq!(Mix::parse("40"), None, "below the probe's size");
        assert_eq!(Mix::parse("x"), None);
    }
}
