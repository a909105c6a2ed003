//! The kernel's routing and neighbour tables over rtnetlink (RFC 3549;
//! `rtnetlink(7)`): where lnsd learns the MACs the data plane writes in
//! front of every frame.
//!
//! Two questions, asked synchronously on a fresh `NETLINK_ROUTE` socket:
//! [`route_get`] is `ip route get` (the kernel's full lookup, policy rules
//! included): the next hop toward an address and its interface;
//! [`neighbours`] dumps the neighbour table once, in which [`find`] looks
//! up each next hop's MAC. [`Route`] adds and removes the routes
//! `xlns-client` installs through its TUN interface.
//! Messages are built and parsed here with a bounds-checked cursor; an
//! unexpected reply is `None`, never a panic.

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::{IpAddr, Ipv4Addr};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// NUD states whose MAC can be used: reachable, stale, delay, probe,
/// noarp, permanent (not incomplete or failed).
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message: header fields then payload.
fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend(((16 + payload.len()) as u32).to_ne_bytes());
    m.extend(kind.to_ne_bytes());
    m.extend((flags | NLM_F_REQUEST).to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend(payload);
    m
}

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend(((4 + value.len()) as u16).to_ne_bytes());
    a.extend(kind.to_ne_bytes());
    a.extend(value);
    a.resize(align(a.len()), 0);
    a
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The messages in one datagram: (type, payload).
fn messages(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while let (Some(len), Some(kind)) = (u32_at(b, 0), u16_at(b, 4)) {
        let len = len as usize;
        let (Some(payload), true) = (b.get(16..len), len >= 16) else {
            break;
        };
        out.push((kind, payload));
        b = b.get(align(len)..).unwrap_or(&[]);
    }
    out
}

/// The attributes after a fixed header of `skip` bytes.
fn attrs(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut b = payload.get(skip..).unwrap_or(&[]);
    while let (Some(len), Some(kind)) = (u16_at(b, 0), u16_at(b, 2)) {
        let len = usize::from(len);
        let Some(v) = b.get(4..len).filter(|_| len >= 4) else {
            break;
        };
        out.push((kind, v));
        b = b.get(align(len)..).unwrap_or(&[]);
    }
    out
}

/// Sends a request and collects reply messages until the answer is
/// complete (one message, or NLMSG_DONE for a dump).
fn ask(kind: u16, flags: u16, payload: &[u8]) -> std::io::Result<Vec<(u16, Vec<u8>)>> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    s.send(&message(kind, flags, 1, payload), 0)?;
    let dump = flags & NLM_F_DUMP != 0;
    let mut out = Vec::new();
    loop {
        let (buf, _) = s.recv_from_full()?;
        for (k, p) in messages(&buf) {
            match k {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = u32_at(p, 0).map_or(0, |c| c as i32);
                    if code != 0 {
                        return Err(std::io::Error::from_raw_os_error(-code));
                    }
                    return Ok(out);
                }
                _ => out.push((k, p.to_vec())),
            }
        }
        if !dump && !out.is_empty() {
            return Ok(out);
        }
    }
}

/// `struct rtmsg` for an IPv4 /32 lookup.
fn rtmsg_v4() -> [u8; 12] {
    // family, dst_len, src_len, tos, table, protocol, scope, type, flags
    let mut m = [0u8; 12];
    m[0] = AF_INET;
    m[1] = 32;
    m
}

/// Parses an RTM_NEWROUTE answer: (next hop, output interface).
fn parse_route(dst: IpAddr, msgs: &[(u16, Vec<u8>)]) -> Option<(IpAddr, u32)> {
    let (_, p) = msgs.iter().find(|(k, _)| *k == RTM_NEWROUTE)?;
    let mut via = dst;
    let mut oif = None;
    for (k, v) in attrs(p, 12) {
        match k {
            RTA_GATEWAY => {
                via = match v.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(v).ok()?),
                    _ => IpAddr::from(<[u8; 16]>::try_from(v).ok()?),
                }
            }
            RTA_OIF => oif = u32_at(v, 0),
            _ => {}
        }
    }
    Some((via, oif?))
}

/// The next hop toward `dst` (its gateway, or `dst` itself on a connected
/// network) and the interface index it leaves by.
pub fn route_get(dst: Ipv4Addr) -> Option<(Ipv4Addr, u32)> {
    match route_to(IpAddr::V4(dst))? {
        (IpAddr::V4(via), oif) => Some((via, oif)),
        _ => None,
    }
}

/// [`route_get`] for either family (an IPv6 gateway is often link-local:
/// it is only meaningful with the interface).
pub fn route_to(dst: IpAddr) -> Option<(IpAddr, u32)> {
    let mut p = rtmsg_v4().to_vec();
    match dst {
        IpAddr::V4(a) => p.extend(attr(RTA_DST, &a.octets())),
        IpAddr::V6(a) => {
            p[0] = AF_INET6;
            p[1] = 128;
            p.extend(attr(RTA_DST, &a.octets()));
        }
    }
    parse_route(dst, &ask(RTM_GETROUTE, 0, &p).ok()?)
}

/// A route lnsd or xlns-client adds to the main table and removes again:
/// `dst/len` through interface `oif`, via `gateway` if given (else on
/// the link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dst: Ipv4Addr,
    /// Its length.
    pub len: u8,
    /// The next hop, if not on the link.
    pub gateway: Option<Ipv4Addr>,
    /// The output interface.
    pub oif: u32,
}

impl Route {
    fn rtmsg(&self) -> Vec<u8> {
        const RT_TABLE_MAIN: u8 = 254;
        const RTPROT_STATIC: u8 = 4;
        const RT_SCOPE_LINK: u8 = 253;
        const RTN_UNICAST: u8 = 1;
        // family, dst_len, src_len, tos, table, protocol, scope, type,
        // flags (u32)
        let scope = if self.gateway.is_some() {
            0
        } else {
            RT_SCOPE_LINK
        };
        let mut m = vec![
            AF_INET,
            self.len,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_STATIC,
            scope,
            RTN_UNICAST,
            0,
            0,
            0,
            0,
        ];
        if self.len > 0 {
            m.extend(attr(RTA_DST, &self.dst.octets()));
        }
        if let Some(g) = self.gateway {
            m.extend(attr(RTA_GATEWAY, &g.octets()));
        }
        m.extend(attr(RTA_OIF, &self.oif.to_ne_bytes()));
        m
    }

    /// `ip route add`: fails (EEXIST) if the same route is there.
    pub fn add(&self) -> std::io::Result<()> {
        ask(
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &self.rtmsg(),
        )
        .map(drop)
    }

    /// `ip route del`.
    pub fn delete(&self) -> std::io::Result<()> {
        ask(RTM_DELROUTE, NLM_F_ACK, &self.rtmsg()).map(drop)
    }
}

/// An address on an interface (`ip addr add LOCAL peer PEER dev INDEX`):
/// a point-to-point link's when `peer` is given. IPv4 or IPv6 (an IPv6
/// link-local address gets link scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The interface.
    pub index: u32,
    /// Our address.
    pub local: IpAddr,
    /// The prefix length.
    pub len: u8,
    /// The other end of a point-to-point link (same family).
    pub peer: Option<IpAddr>,
}

impl Address {
    fn ifaddrmsg(&self) -> Vec<u8> {
        const IFA_ADDRESS: u16 = 1;
        const IFA_LOCAL: u16 = 2;
        const RT_SCOPE_LINK: u8 = 253;
        let octets = |a: IpAddr| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let (family, scope) = match self.local {
            IpAddr::V4(_) => (AF_INET, 0),
            IpAddr::V6(a) if a.is_unicast_link_local() => (AF_INET6, RT_SCOPE_LINK),
            IpAddr::V6(_) => (AF_INET6, 0),
        };
        // family, prefixlen, flags, scope, index
        let mut m = vec![family, self.len, 0, scope];
        m.extend(self.index.to_ne_bytes());
        if family == AF_INET {
            m.extend(attr(IFA_LOCAL, &octets(self.local)));
        }
        m.extend(attr(IFA_ADDRESS, &octets(self.peer.unwrap_or(self.local))));
        m
    }

    /// `ip addr add`.
    pub fn add(&self) -> std::io::Result<()> {
        ask(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &self.ifaddrmsg(),
        )
        .map(drop)
    }

    /// `ip addr del`.
    pub fn delete(&self) -> std::io::Result<()> {
        ask(RTM_DELADDR, NLM_F_ACK, &self.ifaddrmsg()).map(drop)
    }
}

/// A usable neighbour entry (ARP or IPv6 Neighbor Discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// Its address.
    pub ip: IpAddr,
    /// The interface it is on.
    pub ifindex: u32,
    /// Its MAC.
    pub mac: [u8; 6],
}

/// The usable entries of an RTM_GETNEIGH dump.
fn parse_neighbours(msgs: &[(u16, Vec<u8>)]) -> Vec<Neighbour> {
    let mut out = Vec::new();
    for (k, p) in msgs {
        // struct ndmsg: family, pad, pad16, ifindex (i32), state (u16),
        // flags, type: 12 bytes.
        if *k != RTM_NEWNEIGH || !matches!(p.first(), Some(&AF_INET | &AF_INET6)) {
            continue;
        }
        let (Some(ifindex), Some(state)) = (u32_at(p, 4), u16_at(p, 8)) else {
            continue;
        };
        if state & NUD_USABLE == 0 {
            continue;
        }
        let a = attrs(p, 12);
        let get = |t: u16| a.iter().find(|(k, _)| *k == t).map(|(_, v)| *v);
        let ip = get(NDA_DST).and_then(|v| match v.len() {
            4 => <[u8; 4]>::try_from(v).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(v).ok().map(IpAddr::from),
            _ => None,
        });
        let mac = get(NDA_LLADDR).and_then(|v| <[u8; 6]>::try_from(v).ok());
        if let (Some(ip), Some(mac)) = (ip, mac) {
            out.push(Neighbour { ip, ifindex, mac });
        }
    }
    out
}

/// The kernel's usable neighbours, IPv4 and IPv6 (one dump; look up many
/// in it).
pub fn neighbours() -> Vec<Neighbour> {
    // AF_UNSPEC: every family's entries in one dump.
    let ndmsg = [0u8; 12];
    ask(RTM_GETNEIGH, NLM_F_DUMP, &ndmsg)
        .map(|m| parse_neighbours(&m))
        .unwrap_or_default()
}

/// The MAC of `ip` on interface `ifindex` in a dump.
pub fn find(table: &[Neighbour], ip: impl Into<IpAddr>, ifindex: u32) -> Option<[u8; 6]> {
    let ip = ip.into();
    table
        .iter()
        .find(|n| n.ip == ip && n.ifindex == ifindex)
        .map(|n| n.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(kind: u16, payload: &[u8]) -> Vec<u8> {
        message(kind, 0, 1, payload)
    }

    #[test]
    fn route_replies_parse() {
        let d4 = Ipv4Addr::new(203, 0, 113, 9);
        let dst = IpAddr::V4(d4);
        let mut p = rtmsg_v4().to_vec();
        p.extend(attr(RTA_DST, &d4.octets()));
        p.extend(attr(RTA_OIF, &7u32.to_ne_bytes()));
        p.extend(attr(RTA_GATEWAY, &[198, 51, 100, 1]));
        let msgs: Vec<_> = messages(&wrap(RTM_NEWROUTE, &p))
            .into_iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(
            parse_route(dst, &msgs),
            Some((Ipv4Addr::new(198, 51, 100, 1).into(), 7))
        );
        // An IPv6 route through a link-local router.
        let d6: std::net::Ipv6Addr = "2001:db8::9".parse().unwrap();
        let gw6: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let mut p = rtmsg_v4().to_vec();
        p[0] = AF_INET6;
        p.extend(attr(RTA_OIF, &4u32.to_ne_bytes()));
        p.extend(attr(RTA_GATEWAY, &gw6.octets()));
        let msgs = vec![(RTM_NEWROUTE, p)];
        assert_eq!(parse_route(d6.into(), &msgs), Some((gw6.into(), 4)));
        // Connected: no gateway, the destination is the next hop.
        let mut p = rtmsg_v4().to_vec();
        p.extend(attr(RTA_OIF, &3u32.to_ne_bytes()));
        let msgs = vec![(RTM_NEWROUTE, p)];
        assert_eq!(parse_route(dst, &msgs), Some((dst, 3)));
        // Truncated attributes are ignored, not a panic.
        let msgs = vec![(
            RTM_NEWROUTE,
            vec![2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0],
        )];
        assert_eq!(parse_route(dst, &msgs), None);
    }

    #[test]
    fn neighbour_dumps_parse() {
        let ip = Ipv4Addr::new(198, 51, 100, 7);
        let entry = |ifindex: u32, state: u16, mac: &[u8]| {
            let mut p = vec![AF_INET, 0, 0, 0];
            p.extend(ifindex.to_ne_bytes());
            p.extend(state.to_ne_bytes());
            p.extend([0, 0]);
            p.extend(attr(NDA_DST, &ip.octets()));
            p.extend(attr(NDA_LLADDR, mac));
            (RTM_NEWNEIGH, p)
        };
        let mac = [2, 0, 0, 0, 0, 7];
        let parse_neighbour = |ip: IpAddr, ifindex, msgs: &[(u16, Vec<u8>)]| {
            find(&parse_neighbours(msgs), ip, ifindex)
        };
        let ip = IpAddr::V4(ip);
        assert_eq!(parse_neighbour(ip, 3, &[entry(3, 0x02, &mac)]), Some(mac));
        assert_eq!(
            parse_neighbour(ip, 4, &[entry(3, 0x02, &mac)]),
            None,
            "other interface"
        );
        assert_eq!(
            parse_neighbour(ip, 3, &[entry(3, 0x01, &mac)]),
            None,
            "incomplete"
        );
        assert_eq!(
            parse_neighbour(ip, 3, &[entry(3, 0x04, &[1, 2])]),
            None,
            "short address"
        );
        assert_eq!(parse_neighbour(ip, 3, &[(RTM_NEWNEIGH, vec![2, 0])]), None);
        // IPv6 Neighbor Discovery's entries, in the same dump.
        let ip6: std::net::Ipv6Addr = "2001:db8:c::2".parse().unwrap();
        let mut p = vec![AF_INET6, 0, 0, 0];
        p.extend(3u32.to_ne_bytes());
        p.extend(0x02u16.to_ne_bytes());
        p.extend([0, 0]);
        p.extend(attr(NDA_DST, &ip6.octets()));
        p.extend(attr(NDA_LLADDR, &mac));
        let both = [entry(3, 0x02, &[2, 0, 0, 0, 0, 4]), (RTM_NEWNEIGH, p)];
        assert_eq!(parse_neighbour(ip6.into(), 3, &both), Some(mac));
        assert_eq!(parse_neighbour(ip, 3, &both), Some([2, 0, 0, 0, 0, 4]));
    }

    /// The kernel answers: loopback is routed out of `lo` (every Linux
    /// network namespace has it).
    #[test]
    fn the_kernel_answers_a_route_lookup() {
        let (via, oif) = route_get(Ipv4Addr::LOCALHOST).expect("rtnetlink route lookup");
        assert_eq!(via, Ipv4Addr::LOCALHOST);
        assert_eq!(oif, 1, "lo is interface 1");
        // And over IPv6, where the host has it (CI machines may not).
        if std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
            .is_ok_and(|v| v.trim() == "0")
        {
            let (via, oif) = route_to(std::net::Ipv6Addr::LOCALHOST.into()).expect("IPv6 lookup");
            assert_eq!((via, oif), (std::net::Ipv6Addr::LOCALHOST.into(), 1));
        }
    }

    #[test]
    fn datagrams_split_into_messages() {
        let mut d = wrap(RTM_NEWROUTE, &[1, 2, 3]);
        d.resize(align(d.len()), 0);
        d.extend(wrap(NLMSG_DONE, &[0, 0, 0, 0]));
        let m = messages(&d);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0, m[0].1), (RTM_NEWROUTE, &[1u8, 2, 3][..]));
        assert_eq!(m[1].0, NLMSG_DONE);
        assert!(messages(&[0xff; 7]).is_empty());
    }
}
