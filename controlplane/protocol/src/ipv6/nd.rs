//! Neighbor Discovery on a subscriber's PPP link, as its router: Router
//! Solicitations in, Router Advertisements out (RFC 4861 §4.1, §4.2, §6),
//! with the RDNSS and DNSSL options (RFC 8106 §5.1, §5.2).
//!
//! Contract: [`RouterAdvert::encode`] gives a whole IPv6 packet (fixed
//! header, ICMPv6 with its checksum) ready for PPP protocol 0x0057;
//! [`solicitation`] accepts only what RFC 4861 §6.1.1 calls a valid
//! Router Solicitation and says why it refuses the rest. [`Advert::parse`]
//! reads an advertisement the way a host would (§6.1.2): the emulated
//! subscriber configures itself from it (RFC 4862 §5.5.3), and tests
//! check what we send with it. Nothing here keeps state; the schedule is
//! [`super::ra`]. Link-layer address options are never sent: a PPP link
//! has no link-layer addresses (RFC 4861 §4.6.1).

use super::{checksum_ok, icmpv6_packet, link_local};
use crate::octets::Reader;
use lns_dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use std::net::Ipv6Addr;

/// ICMPv6 type of a Router Solicitation (RFC 4861 §4.1).
pub const ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement (RFC 4861 §4.2).
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// Option types (RFC 4861 §4.6, RFC 8106 §5).
mod opt {
    pub const SOURCE_LINK_LAYER: u8 = 1;
    pub const PREFIX_INFORMATION: u8 = 3;
    pub const MTU: u8 = 5;
    pub const RDNSS: u8 = 25;
    pub const DNSSL: u8 = 31;
}

/// What every advertisement on a subscriber link says besides its prefix:
/// the operator's `[ipv6.ra]` settings (RFC 4861 §6.2.1 names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaConfig {
    /// AdvManagedFlag (M): addresses come from DHCPv6.
    pub managed: bool,
    /// AdvOtherConfigFlag (O): other configuration (DNS) from DHCPv6.
    pub other: bool,
    /// AdvCurHopLimit (0: unspecified).
    pub hop_limit: u8,
    /// AdvDefaultLifetime, seconds (0: not a default router; at most
    /// 9000).
    pub router_lifetime: u16,
    /// AdvLinkMTU (`None`: no MTU option; the subscriber's MRU is its MTU).
    pub mtu: Option<u32>,
    /// AdvValidLifetime of the advertised prefix, seconds.
    pub valid_lifetime: u32,
    /// AdvPreferredLifetime, seconds (at most the valid lifetime).
    pub preferred_lifetime: u32,
    /// Recursive DNS servers (RFC 8106 §5.1); none: no RDNSS option.
    pub dns: Vec<Ipv6Addr>,
    /// DNS search list (RFC 8106 §5.2); none: no DNSSL option.
    pub search: Vec<String>,
    /// Lifetime of both DNS options, seconds.
    pub dns_lifetime: u32,
    /// MaxRtrAdvInterval, seconds (4 to 1800).
    pub max_interval: u32,
    /// MinRtrAdvInterval, seconds (3 to 0.75 × the maximum).
    pub min_interval: u32,
}

impl Default for RaConfig {
    /// RFC 4861 §6.2.1's defaults, for a link whose prefix lives as long
    /// as the session does.
    fn default() -> Self {
        RaConfig {
            managed: false,
            other: false,
            hop_limit: 64,
            router_lifetime: 1800,
            mtu: None,
            valid_lifetime: 2_592_000,
            preferred_lifetime: 604_800,
            dns: Vec::new(),
            search: Vec::new(),
            dns_lifetime: 1800,
            max_interval: 600,
            min_interval: 200,
        }
    }
}

impl RaConfig {
    /// The settings' limits (RFC 4861 §6.2.1, RFC 8106 §5.2); a clear
    /// reason for the first one broken.
    pub fn check(&self) -> Result<(), String> {
        if !(4..=1800).contains(&self.max_interval) {
            return Err(format!(
                "max_interval_secs {} is outside 4..=1800 (RFC 4861 §6.2.1)",
                self.max_interval
            ));
        }
        if self.min_interval < 3
            || u64::from(self.min_interval) * 4 > u64::from(self.max_interval) * 3
        {
            return Err(format!(
                "min_interval_secs {} must be at least 3 and at most 0.75 × max_interval_secs (RFC 4861 §6.2.1)",
                self.min_interval
            ));
        }
        if self.router_lifetime != 0 && u32::from(self.router_lifetime) < self.max_interval {
            return Err("router_lifetime_secs is below max_interval_secs (RFC 4861 §6.2.1)".into());
        }
        if self.router_lifetime > 9000 {
            return Err("router_lifetime_secs is above 9000 (RFC 4861 §6.2.1)".into());
        }
        if self.preferred_lifetime > self.valid_lifetime {
            return Err(
                "preferred_lifetime_secs is above valid_lifetime_secs (RFC 4861 §6.2.1)".into(),
            );
        }
        if self.mtu.is_some_and(|m| m < 1280) {
            return Err("mtu is below IPv6's minimum of 1280 (RFC 8200 §5)".into());
        }
        for d in &self.search {
            encode_name(d).map_err(|e| format!("dns search domain {d:?}: {e}"))?;
        }
        Ok(())
    }
}

/// One advertisement: the settings, and the subscriber's /64 (its first
/// 8 octets; `None` on a link that has none, DHCPv6 only, say).
#[derive(Debug, Clone, Copy)]
pub struct RouterAdvert<'a> {
    /// The settings.
    pub cfg: &'a RaConfig,
    /// The on-link prefix for SLAAC (RFC 4862 §5.5.3).
    pub prefix: Option<[u8; 8]>,
}

impl RouterAdvert<'_> {
    /// The whole IPv6 packet, from our link-local address (RFC 4861 §6.1.2
    /// requires one: ours is made of our IPv6CP interface identifier,
    /// RFC 5072 §5) to `dst` (all-nodes, or the soliciting host).
    pub fn encode(&self, our_id: [u8; 8], dst: Ipv6Addr) -> Vec<u8> {
        let c = self.cfg;
        let mut m = Vec::with_capacity(128);
        // §4.2: Type, Code, Checksum (filled below), Cur Hop Limit,
        // M|O|reserved, Router Lifetime, Reachable Time, Retrans Timer.
        m.extend_from_slice(&[ROUTER_ADVERTISEMENT, 0, 0, 0, c.hop_limit]);
        m.push(u8::from(c.managed) << 7 | u8::from(c.other) << 6);
        m.extend_from_slice(&c.router_lifetime.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        if let Some(p) = self.prefix {
            // §4.6.2: Prefix Information, on-link (L) and for autonomous
            // configuration (A), a /64.
            m.extend_from_slice(&[opt::PREFIX_INFORMATION, 4, 64, 0xc0]);
            m.extend_from_slice(&c.valid_lifetime.to_be_bytes());
            m.extend_from_slice(&c.preferred_lifetime.to_be_bytes());
            m.extend_from_slice(&[0; 4]);
            m.extend_from_slice(&p);
            m.extend_from_slice(&[0; 8]);
        }
        if let Some(mtu) = c.mtu {
            // §4.6.4.
            m.extend_from_slice(&[opt::MTU, 1, 0, 0]);
            m.extend_from_slice(&mtu.to_be_bytes());
        }
        if !c.dns.is_empty() {
            // RFC 8106 §5.1: Length 1 + 2 per address.
            m.extend_from_slice(&[opt::RDNSS, (1 + 2 * c.dns.len()) as u8, 0, 0]);
            m.extend_from_slice(&c.dns_lifetime.to_be_bytes());
            for a in &c.dns {
                m.extend_from_slice(&a.octets());
            }
        }
        if !c.search.is_empty() {
            // RFC 8106 §5.2: the names in DNS wire format, zero-padded to a
            // multiple of 8 octets.
            let mut names = Vec::new();
            for d in &c.search {
                names.extend(encode_name(d).unwrap_or_default());
            }
            let len = (8 + names.len()).div_ceil(8);
            m.extend_from_slice(&[opt::DNSSL, len as u8, 0, 0]);
            m.extend_from_slice(&c.dns_lifetime.to_be_bytes());
            m.extend_from_slice(&names);
            m.resize(m.len() + len * 8 - 8 - names.len(), 0);
        }
        icmpv6_packet(link_local(our_id), dst, 255, m)
    }
}

/// A DNS name in wire format (RFC 1035 §3.1): labels of 1 to 63 octets,
/// ending with the root label; at most 255 octets.
pub(super) fn encode_name(name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("a label is empty or longer than 63 octets".into());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() > 255 {
        return Err("longer than 255 octets".into());
    }
    Ok(out)
}

/// A valid Router Solicitation (RFC 4861 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    /// Its source: the host's link-local address, or unspecified.
    pub src: Ipv6Addr,
}

/// Why a packet is not a valid Router Solicitation (each one counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdError {
    /// Not an IPv6 packet that holds together.
    Malformed,
    /// Not ICMPv6, or not a Router Solicitation.
    NotSolicitation,
    /// §6.1.1: the IP Hop Limit is not 255 (it crossed a router).
    HopLimit,
    /// §6.1.1: the ICMP checksum is wrong.
    Checksum,
    /// §6.1.1: ICMP Code is not 0, the message is shorter than 8 octets,
    /// an option has length zero, or an unspecified source carries a
    /// source link-layer address option.
    Invalid,
}

/// Reads `packet` (an IPv6 packet from PPP) as a Router Solicitation.
pub fn solicitation(packet: &[u8]) -> Result<Solicitation, NdError> {
    let (ip, icmp) = icmp_of(packet)?;
    if icmp.first() != Some(&ROUTER_SOLICITATION) {
        return Err(NdError::NotSolicitation);
    }
    if ip.hop_limit != 255 {
        return Err(NdError::HopLimit);
    }
    if !checksum_ok(ip.src, ip.dst, icmp) {
        return Err(NdError::Checksum);
    }
    if icmp.len() < 8 || icmp[1] != 0 {
        return Err(NdError::Invalid);
    }
    for (kind, _) in options(&icmp[8..]).map_err(|_| NdError::Invalid)? {
        if kind == opt::SOURCE_LINK_LAYER && ip.src.is_unspecified() {
            return Err(NdError::Invalid);
        }
    }
    Ok(Solicitation { src: ip.src })
}

/// The IPv6 header of `packet` and its ICMPv6 message (`Malformed` when
/// it is not one, `NotSolicitation` when it is not ICMPv6).
fn icmp_of(packet: &[u8]) -> Result<(Ipv6Repr, &[u8]), NdError> {
    let p = Ipv6Packet::new_checked(packet).map_err(|_| NdError::Malformed)?;
    let ip = Ipv6Repr::parse(&p).map_err(|_| NdError::Malformed)?;
    if ip.next_header != super::ICMPV6 {
        return Err(NdError::NotSolicitation);
    }
    let end = Ipv6Repr::HEADER_LEN + ip.payload_len;
    Ok((
        ip,
        packet
            .get(Ipv6Repr::HEADER_LEN..end)
            .ok_or(NdError::Malformed)?,
    ))
}

/// The options of a Neighbor Discovery message: (type, contents after
/// type and length); an option of length zero or one that overruns the
/// message refuses them all (§4.6).
fn options(mut b: &[u8]) -> Result<Vec<(u8, &[u8])>, ()> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (&kind, rest) = b.split_first().ok_or(())?;
        let len = usize::from(*rest.first().ok_or(())?) * 8;
        if len == 0 || len > b.len() {
            return Err(());
        }
        out.push((kind, &b[2..len]));
        b = &b[len..];
    }
    Ok(out)
}

/// A Router Advertisement as a host reads it (RFC 4861 §6.1.2, §6.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Its source (the router's link-local address).
    pub src: Ipv6Addr,
    /// Cur Hop Limit.
    pub hop_limit: u8,
    /// M flag.
    pub managed: bool,
    /// O flag.
    pub other: bool,
    /// Router Lifetime, seconds.
    pub router_lifetime: u16,
    /// Prefix Information options: (prefix, length, on-link L,
    /// autonomous A, valid lifetime, preferred lifetime).
    pub prefixes: Vec<PrefixInfo>,
    /// The MTU option's value.
    pub mtu: Option<u32>,
    /// RDNSS addresses, with their lifetime.
    pub dns: Vec<Ipv6Addr>,
    /// DNSSL names (dotted, no trailing dot).
    pub search: Vec<String>,
}

/// One Prefix Information option (RFC 4861 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    /// The prefix (bits past its length are zero as sent).
    pub prefix: Ipv6Addr,
    /// Its length.
    pub len: u8,
    /// L: on-link.
    pub on_link: bool,
    /// A: usable for stateless address autoconfiguration.
    pub autonomous: bool,
    /// Valid lifetime, seconds.
    pub valid: u32,
    /// Preferred lifetime, seconds.
    pub preferred: u32,
}

impl Advert {
    /// Reads `packet` (an IPv6 packet) as a valid Router Advertisement
    /// (§6.1.2: hop limit 255, checksum, code 0, at least 16 octets, a
    /// link-local source, options that frame); `None` otherwise.
    pub fn parse(packet: &[u8]) -> Option<Advert> {
        let (ip, icmp) = icmp_of(packet).ok()?;
        if icmp.first() != Some(&ROUTER_ADVERTISEMENT)
            || ip.hop_limit != 255
            || !checksum_ok(ip.src, ip.dst, icmp)
            || icmp.len() < 16
            || icmp[1] != 0
            || !ip.src.is_unicast_link_local()
        {
            return None;
        }
        let mut a = Advert {
            src: ip.src,
            hop_limit: icmp[4],
            managed: icmp[5] & 0x80 != 0,
            other: icmp[5] & 0x40 != 0,
            router_lifetime: u16::from_be_bytes([icmp[6], icmp[7]]),
            prefixes: Vec::new(),
            mtu: None,
            dns: Vec::new(),
            search: Vec::new(),
        };
        for (kind, body) in options(&icmp[16..]).ok()? {
            let mut r = Reader::new(body);
            match kind {
                opt::PREFIX_INFORMATION => {
                    let len = r.u8().ok()?;
                    let flags = r.u8().ok()?;
                    let valid = r.u32().ok()?;
                    let preferred = r.u32().ok()?;
                    r.bytes(4).ok()?;
                    let p: [u8; 16] = r.bytes(16).ok()?.try_into().ok()?;
                    a.prefixes.push(PrefixInfo {
                        prefix: Ipv6Addr::from(p),
                        len,
                        on_link: flags & 0x80 != 0,
                        autonomous: flags & 0x40 != 0,
                        valid,
                        preferred,
                    });
                }
                opt::MTU => {
                    r.bytes(2).ok()?;
                    a.mtu = Some(r.u32().ok()?);
                }
                opt::RDNSS => {
                    r.bytes(6).ok()?;
                    while let Ok(b) = r.bytes(16) {
                        a.dns.push(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?));
                    }
                }
                opt::DNSSL => {
                    let names = body.get(6..)?;
                    a.search.extend(decode_names(names)?);
                }
                _ => {}
            }
        }
        Some(a)
    }
}

/// Names in DNS wire format, back to back, then zero padding.
pub(super) fn decode_names(mut b: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while b.first().is_some_and(|&l| l != 0) {
        let mut labels = Vec::new();
        loop {
            let (&len, rest) = b.split_first()?;
            b = rest;
            if len == 0 {
                break;
            }
            let label = b.get(..usize::from(len))?;
            labels.push(String::from_utf8_lossy(label).into_owned());
            b = &b[usize::from(len)..];
        }
        out.push(labels.join("."));
    }
    Some(out)
}

/// A Router Solicitation as a host sends it (RFC 4861 §4.1, §6.3.7): from
/// its link-local address to all-routers, with no options (a PPP link has
/// no link-layer address). The emulated subscriber sends this.
pub fn solicit(host_id: [u8; 8]) -> Vec<u8> {
    icmpv6_packet(
        link_local(host_id),
        super::ALL_ROUTERS,
        255,
        vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: [u8; 8] = [0x02, 0, 0, 0, 0, 0, 0, 1];
    const HOST: [u8; 8] = [0x02, 0, 0, 0x12, 0, 0x34, 0, 0x56];

    fn full() -> RaConfig {
        RaConfig {
            managed: true,
            mtu: Some(1492),
            dns: vec![
                "2001:db8::53".parse().unwrap(),
                "2001:db8::54".parse().unwrap(),
            ],
            search: vec!["example.net".into(), "isp.example".into()],
            ..Default::default()
        }
    }

    #[test]
    fn an_advertisement_reads_back_as_sent() {
        let cfg = full();
        let p = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2];
        let bytes = RouterAdvert {
            cfg: &cfg,
            prefix: Some(p),
        }
        .encode(OURS, super::super::ALL_NODES);
        let a = Advert::parse(&bytes).expect("a valid advertisement");
        assert_eq!(a.src, "fe80::200:0:0:1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            (a.hop_limit, a.managed, a.other, a.router_lifetime),
            (64, true, false, 1800)
        );
        assert_eq!(
            a.prefixes,
            vec![PrefixInfo {
                prefix: "2001:db8:1:2::".parse().unwrap(),
                len: 64,
                on_link: true,
                autonomous: true,
                valid: 2_592_000,
                preferred: 604_800,
            }]
        );
        assert_eq!(a.mtu, Some(1492));
        assert_eq!(a.dns, cfg.dns);
        assert_eq!(a.search, cfg.search);
        // Every option a whole number of 8-octet units (§4.6).
        assert_eq!((bytes.len() - 40 - 16) % 8, 0);
    }

    #[test]
    fn an_advertisement_is_byte_exact() {
        // The smallest one: no prefix, no options, defaults.
        let cfg = RaConfig::default();
        let bytes = RouterAdvert {
            cfg: &cfg,
            prefix: None,
        }
        .encode(OURS, super::super::ALL_NODES);
        let mut want = vec![
            0x60, 0, 0, 0, 0, 16, 58, 255, // IPv6: payload 16, ICMPv6, hop limit 255
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 1, // fe80::200:0:0:1
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // ff02::1
            134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        // The checksum, worked by hand over the pseudo-header (RFC 8200
        // §8.1) and the message: the 16-bit sums of src, dst, length 16,
        // next header 58 and the message words.
        let words: u32 = [
            0xfe80u32, 0x0200, 1, 0xff02, 1, 16, 58, 0x8600, 0x4000, 0x0708,
        ]
        .iter()
        .sum();
        let folded = (words & 0xffff) + (words >> 16);
        let sum = !(folded as u16);
        want[42..44].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(bytes, want);
    }

    #[test]
    fn a_host_solicitation_is_valid_and_damaged_ones_are_refused_by_name() {
        let rs = solicit(HOST);
        assert_eq!(
            solicitation(&rs),
            Ok(Solicitation {
                src: link_local(HOST)
            })
        );
        let mut hop = rs.clone();
        hop[7] = 64;
        assert_eq!(solicitation(&hop), Err(NdError::HopLimit));
        let mut sum = rs.clone();
        sum[42] ^= 1;
        assert_eq!(solicitation(&sum), Err(NdError::Checksum));
        assert_eq!(solicitation(&rs[..30]), Err(NdError::Malformed));
        // An advertisement is not a solicitation.
        let cfg = RaConfig::default();
        let ra = RouterAdvert {
            cfg: &cfg,
            prefix: None,
        }
        .encode(OURS, super::super::ALL_NODES);
        assert_eq!(solicitation(&ra), Err(NdError::NotSolicitation));
        // Code 1, checksum mended: still refused.
        let mut code = rs.clone();
        code[41] = 1;
        super::super::fix_checksum(&mut code);
        assert_eq!(solicitation(&code), Err(NdError::Invalid));
        // An unspecified source with a source link-layer address option.
        let mut opts = vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
        opts.extend_from_slice(&[opt::SOURCE_LINK_LAYER, 1, 0, 0, 0, 0, 0, 0]);
        let sll = icmpv6_packet(Ipv6Addr::UNSPECIFIED, super::super::ALL_ROUTERS, 255, opts);
        assert_eq!(solicitation(&sll), Err(NdError::Invalid));
        // An option of length zero.
        let zero = icmpv6_packet(
            link_local(HOST),
            super::super::ALL_ROUTERS,
            255,
            vec![
                ROUTER_SOLICITATION,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                1,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
        );
        assert_eq!(solicitation(&zero), Err(NdError::Invalid));
    }

    #[test]
    fn settings_out_of_the_rfcs_limits_are_refused() {
        assert_eq!(RaConfig::default().check(), Ok(()));
        let bad = |f: fn(&mut RaConfig)| {
            let mut c = RaConfig::default();
            f(&mut c);
            c.check().unwrap_err()
        };
        assert!(bad(|c| c.max_interval = 3).contains("4..=1800"));
        assert!(bad(|c| c.min_interval = 500).contains("0.75"));
        assert!(bad(|c| c.router_lifetime = 100).contains("below max_interval"));
        assert!(bad(|c| c.preferred_lifetime = c.valid_lifetime + 1).contains("preferred"));
        assert!(bad(|c| c.mtu = Some(1000)).contains("1280"));
        assert!(bad(|c| c.search = vec!["a..b".into()]).contains("label"));
    }
}
