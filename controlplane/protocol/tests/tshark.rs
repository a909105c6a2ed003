//! Cross-check with Wireshark's dissectors: a pcap of frames we emit (every
//! L2TP message type, plain and with hidden AVPs, a ZLB, and every PPP code
//! carried in L2TP data messages) must decode in `tshark` with no
//! "Malformed" and no expert errors, and with the field values we set.

mod common;

use common::*;
use lns_protocol::l2tp::message::AvpSet;
use lns_protocol::l2tp::{ControlHeader, ControlPacket};
use std::process::Command;

fn frames() -> (Vec<Vec<u8>>, Vec<String>) {
    let mut frames = Vec::new();
    let mut names = Vec::new();
    let msgs = all_messages();
    for (hidden, hide) in [(false, AvpSet::EMPTY), (true, AvpSet::all_hideable())] {
        for (i, m) in msgs.iter().enumerate() {
            let header = ControlHeader {
                tunnel_id: 0x3c4d,
                session_id: 0x0505,
                ns: i as u16,
                nr: 3,
            };
            let pkt = ControlPacket {
                header,
                message: Some(m.clone()),
            };
            frames.push(ether_udp(&pkt.encode(Some(&hiding(hide))).unwrap()));
            names.push(format!(
                "{}{}",
                m.msg_type.name(),
                if hidden { " hidden" } else { "" }
            ));
        }
    }
    let zlb = ControlPacket::zlb(ControlHeader {
        tunnel_id: 0x3c4d,
        session_id: 0,
        ns: 14,
        nr: 14,
    });
    frames.push(ether_udp(&zlb.encode(None).unwrap()));
    names.push("ZLB".into());
    for s in all_ppp() {
        frames.push(ether_udp(&l2tp_data(0x3c4d, 0x0505, s.protocol, &s.bytes)));
        names.push(s.name.into());
    }
    (frames, names)
}

fn write_pcap(name: &str) -> std::path::PathBuf {
    let (frames, _) = frames();
    let path = std::env::temp_dir().join(format!("xlns-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    path
}

/// The `fields` Wireshark reads in each frame of the pcap at `path`
/// (removed after), a line per frame, `|` between fields and `,` between
/// repeats; with `prefs` (`-o` settings) for every reading. Its verbose
/// dissection and expert info must show no malformed packet or error.
fn clean_fields(path: &std::path::Path, prefs: &[&str], fields: &[&str]) -> String {
    let text = tshark(path, &[prefs, &["-V"]].concat());
    let expert = tshark(path, &[prefs, &["-q", "-z", "expert,warn"]].concat());
    let mut args = prefs.to_vec();
    args.extend(["-T", "fields", "-E", "separator=|", "-E", "aggregator=,"]);
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = tshark(path, &args);
    std::fs::remove_file(path).ok();
    assert!(!text.contains("Malformed"), "{text}");
    assert!(!text.contains("[Expert Info (Error"), "{text}");
    assert!(!expert.contains("Error"), "expert errors:\n{expert}");
    out
}

/// [`clean_fields`]' lines as field name → value.
fn field_rows<'a>(
    out: &'a str,
    fields: &[&'a str],
) -> Vec<std::collections::HashMap<&'a str, &'a str>> {
    out.lines()
        .map(|l| fields.iter().copied().zip(l.split('|')).collect())
        .collect()
}

fn tshark(path: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(path)
        .arg("-o")
        .arg(format!(
            "l2tp.shared_secret:{}",
            std::str::from_utf8(SECRET).unwrap()
        ))
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_decodes_every_frame_cleanly() {
    if !tool_or_skip("tshark") {
        return;
    }
    let path = write_pcap("clean");
    let (_, names) = frames();
    let text = tshark(&path, &["-V"]);
    let expert = tshark(&path, &["-q", "-z", "expert,warn"]);
    std::fs::remove_file(&path).ok();
    assert!(
        !text.contains("Malformed"),
        "tshark saw a malformed frame:\n{text}"
    );
    // Split the verbose output per frame to name the culprit if any.
    for (i, chunk) in text.split("\nFrame ").enumerate() {
        assert!(
            !chunk.contains("[Expert Info (Error"),
            "frame {i} ({}) has an expert error:\n{chunk}",
            names.get(i.saturating_sub(1)).map_or("?", |s| s.as_str())
        );
    }
    assert!(!expert.contains("Error"), "expert errors:\n{expert}");
}

const FIELDS: &[&str] = &[
    "l2tp.tunnel",
    "l2tp.session",
    "l2tp.Ns",
    "l2tp.Nr",
    "l2tp.avp.message_type",
    "l2tp.avp.hidden",
    "l2tp.avp.host_name",
    "l2tp.avp.assigned_tunnel_id",
    "l2tp.avp.receive_window_size",
    "l2tp.tie_breaker",
    "l2tp.result_code",
    "l2tp.avp.error_code",
    "l2tp.avp.error_message",
    "l2tp.avp.assigned_session_id",
    "l2tp.avp.call_serial_number",
    "l2tp.avp.maximum_bps",
    "l2tp.avp.called_number",
    "l2tp.avp.calling_number",
    "l2tp.avp.proxy_authen_name",
    "l2tp.avp.proxy_authen_id",
    "l2tp.avp.cause_code",
    "l2tp.avp.disconnect_code",
    "l2tp.avp.alignment_errors",
    "l2tp.avp.send_accm",
    "l2tp.zero_length_body_message",
    "ppp.protocol",
    "ppp.code",
    "ppp.identifier",
    "lcp.opt.mru",
    "lcp.opt.magic_number",
    "ipcp.opt.ip_address",
    "ipcp.opt.pri_dns_address",
    "ipv6cp.interface_identifier",
    "pap.code",
    "pap.peer_id",
    "pap.password",
    "chap.code",
    "chap.name",
    "chap.message",
];

#[test]
fn tshark_reads_the_values_we_wrote() {
    if !tool_or_skip("tshark") {
        return;
    }
    let path = write_pcap("fields");
    let mut args = vec!["-T", "fields", "-E", "separator=|", "-E", "aggregator=,"];
    for f in FIELDS {
        args.push("-e");
        args.push(f);
    }
    let out = tshark(&path, &args);
    std::fs::remove_file(&path).ok();
    let rows: Vec<std::collections::HashMap<&str, &str>> = out
        .lines()
        .map(|l| FIELDS.iter().copied().zip(l.split('|')).collect())
        .collect();
    let msgs = all_messages();
    assert_eq!(rows.len(), 2 * msgs.len() + 1 + all_ppp().len());
    let field = |row: usize, f: &str| rows[row].get(f).copied().unwrap_or("");

    for (hidden, base) in [(false, 0), (true, msgs.len())] {
        for (i, m) in msgs.iter().enumerate() {
            let r = base + i;
            assert_eq!(field(r, "l2tp.tunnel"), "15437");
            assert_eq!(field(r, "l2tp.session"), "1285");
            assert_eq!(field(r, "l2tp.Ns"), i.to_string());
            assert_eq!(field(r, "l2tp.Nr"), "3");
            assert_eq!(
                field(r, "l2tp.avp.message_type"),
                (m.msg_type as u16).to_string(),
                "row {r}"
            );
            // H bits as Wireshark sees them: Message Type, then (when
            // hiding) the Random Vector, then ours.
            let mut h: Vec<&str> = vec!["0"];
            let hides: Vec<bool> = m
                .avps
                .iter()
                .map(|a| hidden && a.avp_type().is_some_and(|t| t.spec().hideable))
                .collect();
            if hides.iter().any(|&x| x) {
                h.push("0");
            }
            h.extend(hides.iter().map(|&x| if x { "1" } else { "0" }));
            assert_eq!(
                field(r, "l2tp.avp.hidden"),
                h.join(","),
                "{} hidden={hidden}",
                m.msg_type
            );
        }
    }
    // Plain values (hidden ones are opaque to Wireshark without decryption).
    let expect: &[(usize, &str, &str)] = &[
        (0, "l2tp.avp.host_name", "lac1.example.net"),
        (0, "l2tp.avp.assigned_tunnel_id", "6699"),
        (0, "l2tp.avp.receive_window_size", "16"),
        (0, "l2tp.tie_breaker", "0x0102030405060708"),
        (1, "l2tp.avp.host_name", "lns.example.net"),
        (3, "l2tp.result_code", "2"),
        (3, "l2tp.avp.error_code", "8"),
        (
            3,
            "l2tp.avp.error_message",
            "unknown mandatory AVP vendor 9 type 1",
        ),
        (5, "l2tp.avp.call_serial_number", "77"),
        (5, "l2tp.avp.maximum_bps", "100000000"),
        (5, "l2tp.avp.called_number", "5551234"),
        (8, "l2tp.avp.assigned_session_id", "771"),
        (8, "l2tp.avp.calling_number", "0612345678"),
        (10, "l2tp.avp.proxy_authen_name", "alice@isp"),
        (10, "l2tp.avp.proxy_authen_id", "5"),
        (11, "l2tp.result_code", "3"),
        (11, "l2tp.avp.cause_code", "16"),
        (11, "l2tp.avp.disconnect_code", "1"),
        (12, "l2tp.avp.alignment_errors", "6"),
        (13, "l2tp.avp.send_accm", "4294967295"),
        // Hidden copies still carry their unhideable AVPs in clear.
        (msgs.len() + 3, "l2tp.result_code", "2"),
        (msgs.len(), "l2tp.avp.host_name", "lac1.example.net"),
    ];
    for &(r, f, v) in expect {
        assert_eq!(field(r, f), v, "row {r} field {f}");
    }
    let zlb = 2 * msgs.len();
    assert_eq!(field(zlb, "l2tp.avp.message_type"), "");
    assert_eq!(field(zlb, "l2tp.Ns"), "14");

    for (k, s) in all_ppp().iter().enumerate() {
        let r = zlb + 1 + k;
        assert_eq!(
            field(r, "ppp.protocol"),
            format!("0x{:04x}", s.protocol.0),
            "{}",
            s.name
        );
        let code_field = match s.protocol.0 {
            0xc023 => "pap.code",
            0xc223 => "chap.code",
            _ => "ppp.code",
        };
        let code = field(r, code_field);
        // Protocol-Reject embeds a packet, so its code appears twice.
        assert_eq!(
            code.split(',').next().unwrap(),
            s.code.to_string(),
            "{}",
            s.name
        );
    }
    let by_name = |n: &str| zlb + 1 + all_ppp().iter().position(|s| s.name == n).unwrap();
    let ppp_expect: &[(&str, &str, &str)] = &[
        ("lcp-confreq", "lcp.opt.mru", "1460"),
        ("lcp-confreq", "lcp.opt.magic_number", "0x12345678"),
        ("ipcp-confnak", "ipcp.opt.ip_address", "100.64.1.2"),
        ("ipcp-confnak", "ipcp.opt.pri_dns_address", "192.0.2.53"),
        (
            "ipv6cp-confreq",
            "ipv6cp.interface_identifier",
            "02:00:5e:ff:fe:00:53:01",
        ),
        ("pap-request", "pap.peer_id", "alice"),
        ("pap-request", "pap.password", "s3cret"),
        ("chap-response", "chap.name", "alice"),
        (
            "mschapv2-success",
            "chap.message",
            "S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Welcome",
        ),
    ];
    for &(n, f, v) in ppp_expect {
        assert_eq!(field(by_name(n), f), v, "{n} field {f}");
    }
}

/// Router Advertisements as lnsd sends them over a session (the smallest
/// and one with every option), and a host's Router Solicitation: clean
/// in tshark, checksums verified, every field as we meant it.
#[test]
fn tshark_reads_router_advertisements_as_sent() {
    use lns_protocol::ipv6::nd::{RaConfig, RouterAdvert, solicit};
    if !tool_or_skip("tshark") {
        return;
    }
    let ours = [0x02, 0, 0, 0, 0, 0, 0, 1];
    let full = RaConfig {
        managed: true,
        other: true,
        mtu: Some(1492),
        dns: vec![
            "2001:db8::53".parse().unwrap(),
            "2001:db8::54".parse().unwrap(),
        ],
        search: vec!["isp.example".into(), "example.net".into()],
        ..Default::default()
    };
    let bare = RaConfig::default();
    let all_nodes = lns_protocol::ipv6::ALL_NODES;
    let packets = [
        RouterAdvert {
            cfg: &full,
            prefix: Some([0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0x00, 0x2a]),
        }
        .encode(ours, all_nodes),
        RouterAdvert {
            cfg: &bare,
            prefix: None,
        }
        .encode(ours, all_nodes),
        solicit([0x02, 0, 0, 0x12, 0, 0x34, 0, 0x56]),
    ];
    let frames: Vec<Vec<u8>> = packets
        .iter()
        .map(|p| {
            ether_udp(&l2tp_data(
                0x3c4d,
                0x0505,
                lns_protocol::ppp::PppProtocol(0x0057),
                p,
            ))
        })
        .collect();
    let path = std::env::temp_dir().join(format!("xlns-{}-nd.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    let fields = [
        "icmpv6.type",
        "icmpv6.checksum.status",
        "icmpv6.nd.ra.cur_hop_limit",
        "icmpv6.nd.ra.flag.m",
        "icmpv6.nd.ra.flag.o",
        "icmpv6.nd.ra.router_lifetime",
        "icmpv6.opt.prefix",
        "icmpv6.opt.prefix.length",
        "icmpv6.opt.prefix.flag.l",
        "icmpv6.opt.prefix.flag.a",
        "icmpv6.opt.prefix.valid_lifetime",
        "icmpv6.opt.mtu",
        "icmpv6.opt.rdnss",
        "icmpv6.opt.dnssl",
        "ipv6.src",
        "ipv6.dst",
        "ipv6.hlim",
    ];
    let out = clean_fields(&path, &[], &fields);
    let rows = field_rows(&out, &fields);
    assert_eq!(rows.len(), 3);
    let want: &[(usize, &str, &str)] = &[
        (0, "icmpv6.type", "134"),
        (0, "icmpv6.checksum.status", "1"),
        (0, "icmpv6.nd.ra.cur_hop_limit", "64"),
        (0, "icmpv6.nd.ra.flag.m", "1"),
        (0, "icmpv6.nd.ra.flag.o", "1"),
        (0, "icmpv6.nd.ra.router_lifetime", "1800"),
        (0, "icmpv6.opt.prefix", "2001:db8:100:2a::"),
        (0, "icmpv6.opt.prefix.length", "64"),
        (0, "icmpv6.opt.prefix.flag.l", "1"),
        (0, "icmpv6.opt.prefix.flag.a", "1"),
        (0, "icmpv6.opt.prefix.valid_lifetime", "2592000"),
        (0, "icmpv6.opt.mtu", "1492"),
        (0, "icmpv6.opt.rdnss", "2001:db8::53,2001:db8::54"),
        (0, "icmpv6.opt.dnssl", "isp.example,example.net"),
        (0, "ipv6.src", "fe80::200:0:0:1"),
        (0, "ipv6.dst", "ff02::1"),
        (0, "ipv6.hlim", "255"),
        (1, "icmpv6.type", "134"),
        (1, "icmpv6.checksum.status", "1"),
        (1, "icmpv6.nd.ra.flag.m", "0"),
        (1, "icmpv6.opt.prefix", ""),
        (2, "icmpv6.type", "133"),
        (2, "icmpv6.checksum.status", "1"),
        (2, "ipv6.src", "fe80::200:12:34:56"),
        (2, "ipv6.dst", "ff02::2"),
    ];
    for &(r, f, v) in want {
        assert_eq!(
            rows[r].get(f).copied().unwrap_or(""),
            v,
            "packet {r} field {f}"
        );
    }
}

/// Every DHCPv6 message the server sends (Advertise, Reply with a
/// delegated prefix, Reply to Release, Reply to Information-Request,
/// NoPrefixAvail) reads in Wireshark's dissector with the fields we set,
/// no malformed packet and no expert error.
#[test]
fn tshark_reads_dhcpv6_replies_as_sent() {
    use lns_protocol::ipv6::dhcp::{self, Leases, Message, Opt, ServerConfig, code, kind};
    if !tool_or_skip("tshark") {
        return;
    }
    let cfg = ServerConfig {
        duid: dhcp::duid_uuid([7; 16]),
        preferred: 3600,
        valid: 7200,
        rapid_commit: true,
        preference: 255,
        dns: vec!["2001:db8::53".parse().unwrap()],
        domains: vec!["isp.example".into()],
    };
    let prefix: lns_protocol::aaa::prefix::Ipv6Net = "2001:db8:200:100::/56".parse().unwrap();
    let leases = Leases {
        prefix: Some(prefix),
        address: None,
        link: None,
    };
    let client: std::net::Ipv6Addr = "fe80::9".parse().unwrap();
    let us: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
    let ask = |k: u8, extra: Vec<Opt>| {
        let mut options = vec![
            Opt::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 9]),
            Opt::Oro(vec![code::DNS_SERVERS, code::DOMAIN_LIST]),
        ];
        options.extend(extra);
        Message {
            kind: k,
            xid: [0x12, 0x34, 0x56],
            options,
        }
    };
    let ia = |held: bool| Opt::ia_pd(7, held.then_some(prefix));
    let sid = Opt::ServerId(cfg.duid.clone());
    let asks = [
        (ask(kind::SOLICIT, vec![ia(false)]), leases),
        (ask(kind::REQUEST, vec![sid.clone(), ia(false)]), leases),
        (ask(kind::RELEASE, vec![sid.clone(), ia(true)]), leases),
        (ask(kind::INFORMATION_REQUEST, vec![]), leases),
        (ask(kind::SOLICIT, vec![ia(false)]), Leases::default()),
    ];
    let frames: Vec<Vec<u8>> = asks
        .iter()
        .map(|(m, l)| {
            let a = dhcp::respond(&cfg, m, dhcp::ALL_SERVERS, l).unwrap();
            let p = dhcp::udp_packet(us, client, (547, 546), &a.reply.encode());
            ether_udp(&l2tp_data(
                0x3c4d,
                0x0505,
                lns_protocol::ppp::PppProtocol(0x0057),
                &p,
            ))
        })
        .collect();
    let path = std::env::temp_dir().join(format!("xlns-{}-dhcp6.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    let fields = [
        "dhcpv6.msgtype",
        "dhcpv6.xid",
        "dhcpv6.iaid",
        "dhcpv6.iaprefix.pref_addr",
        "dhcpv6.iaprefix.pref_len",
        "dhcpv6.iaprefix.valid_lifetime",
        "dhcpv6.status_code",
        "dhcpv6.dns_server",
        "dhcpv6.search_list_entry",
        "dhcpv6.duid.type",
        "udp.checksum.status",
    ];
    let out = clean_fields(&path, &["-o", "udp.check_checksum:TRUE"], &fields);
    let rows = field_rows(&out, &fields);
    assert_eq!(rows.len(), 5, "{out}");
    let want: &[(usize, &str, &str)] = &[
        (0, "dhcpv6.msgtype", "2"),
        (0, "dhcpv6.xid", "0x123456"),
        (0, "dhcpv6.iaid", "00000007"),
        (0, "dhcpv6.iaprefix.pref_addr", "2001:db8:200:100::"),
        (0, "dhcpv6.iaprefix.pref_len", "56"),
        (0, "dhcpv6.iaprefix.valid_lifetime", "7200"),
        (0, "dhcpv6.dns_server", "2001:db8::53"),
        (0, "dhcpv6.search_list_entry", "isp.example."),
        (0, "udp.checksum.status", "1,1"),
        (1, "dhcpv6.msgtype", "7"),
        (1, "dhcpv6.iaprefix.pref_len", "56"),
        (2, "dhcpv6.msgtype", "7"),
        (2, "dhcpv6.status_code", "0"),
        (3, "dhcpv6.msgtype", "7"),
        (3, "dhcpv6.dns_server", "2001:db8::53"),
        (4, "dhcpv6.msgtype", "2"),
        (4, "dhcpv6.status_code", "6"),
    ];
    for &(i, f, v) in want {
        assert_eq!(rows[i][f], v, "message {i}, {f}\n{out}");
    }
}
