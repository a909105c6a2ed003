//! Interop with a real L2TP peer: Debian's xl2tpd, in network namespaces
//! (DESIGN §5, layer 6). Both roles, with and without tunnel
//! authentication.
//!
//! With hidden AVPs too (lnsd's `hide_avps`; xl2tpd never hides what it
//! sends): xl2tpd unhides with the secret it looks up while checking our
//! Challenge, after it has parsed the SCCRQ or SCCRP, so lnsd hides only
//! from the SCCCN on (`hide_avps_in_tunnel_setup` off) and challenges it.
//! xl2tpd completes tunnel and call setup, then its pppd fails (no kernel
//! PPP here) and the call is cleared with a CDN, which is part of what
//! these tests check. Assertions read both sides' logs.

// The fixtures are the protocol crate's (one copy for both crates).
#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use common::process::{Lab, Proc, root_or_skip};
use common::tool_or_skip;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const SECRET: &str = "interop-s3cret";

fn ready() -> bool {
    root_or_skip() && tool_or_skip("xl2tpd")
}

/// What lnsd's `[[peer]]` for xl2tpd says about the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No secret.
    None,
    /// Tunnel authentication both ways.
    Challenge,
    /// Tunnel authentication, and lnsd hides every hideable AVP it sends
    /// after the tunnel-setup messages.
    ChallengeAndHide,
}

fn lnsd_config(lab: &Lab, peer: &str, auth: Auth, lac: bool) -> std::path::PathBuf {
    let mut text = format!(
        "[l2tp]\nlisten = [\"{}:1701\"]\nhost_name = \"xlns\"\n[log]\nlevel = \"debug\"\n",
        Lab::A_IP
    );
    text += &format!("[[peer]]\naddress = \"{peer}\"\n");
    if auth != Auth::None {
        text += &format!("secret = \"{SECRET}\"\ntunnel_auth = \"required\"\n");
    }
    if auth == Auth::ChallengeAndHide {
        text += "hide_avps = true\n";
    }
    if lac {
        text +=
            &format!("[[lac]]\nlns = \"{peer}:1701\"\ncalls = 1\ncalling_number = \"5551000\"\n");
    }
    lab.file("lnsd.toml", &text)
}

/// xl2tpd's secrets file: "us them secret".
fn secrets(lab: &Lab, us: &str) -> std::path::PathBuf {
    lab.file("l2tp-secrets", &format!("{us} xlns {SECRET}\n"))
}

fn xl2tpd(lab: &Lab, conf: &std::path::Path) -> (Proc, std::path::PathBuf) {
    let ctl = lab.dir.join("xl2tpd.ctl");
    let mut cmd = lab.cmd(&lab.b, "xl2tpd");
    cmd.arg("-D")
        .arg("-c")
        .arg(conf)
        .arg("-C")
        .arg(&ctl)
        .arg("-p")
        .arg(lab.dir.join("xl2tpd.pid"));
    (Proc::spawn("xl2tpd", cmd), ctl)
}

fn lnsd(lab: &Lab, cfg: &std::path::Path) -> Proc {
    let mut cmd = lab.cmd(&lab.a, env!("CARGO_BIN_EXE_lnsd"));
    cmd.arg("--config").arg(cfg).env_remove("RUST_LOG");
    Proc::spawn("lnsd", cmd)
}

fn xl2tpd_lac_conf(lab: &Lab, auth: bool) -> std::path::PathBuf {
    let mut text = format!("[global]\nlisten-addr = {}\nport = 1701\n", Lab::B_IP);
    if auth {
        text += &format!("auth file = {}\n", secrets(lab, "xlh-lac").display());
    }
    text += "debug avp = yes\ndebug state = yes\ndebug tunnel = yes\n";
    text += &format!(
        "[lac xlhlac]\nlns = {}\nhostname = xlh-lac\nautodial = yes\n",
        Lab::A_IP
    );
    if auth {
        text += "challenge = yes\n";
    }
    lab.file("xl2tpd.conf", &text)
}

fn xl2tpd_lns_conf(lab: &Lab, auth: bool) -> std::path::PathBuf {
    let mut text = format!("[global]\nlisten-addr = {}\nport = 1701\n", Lab::B_IP);
    if auth {
        text += &format!("auth file = {}\n", secrets(lab, "xlh-lns").display());
    }
    text += "debug avp = yes\ndebug state = yes\ndebug tunnel = yes\n";
    text += "[lns default]\nhostname = xlh-lns\nassign ip = no\n";
    if auth {
        text += "challenge = yes\n";
    }
    lab.file("xl2tpd.conf", &text)
}

/// A Random Vector reached xl2tpd exactly when lnsd hides (it goes with
/// hidden AVPs only, RFC 2661 §4.3), and nothing failed to unhide
/// ("Invalid Hidden AVP"); the call coming up shows the values were right.
fn hidden_avps_came_through(xl2tpd: &Proc, auth: Auth) {
    let log = xl2tpd.log();
    assert_eq!(
        log.contains("rand_vector_avp"),
        auth == Auth::ChallengeAndHide,
        "{log}"
    );
    assert!(!log.contains("Hidden"), "{log}");
}

/// xl2tpd dials lnsd: tunnel and call up, the call cleared by xl2tpd's CDN
/// (its pppd cannot run), then the tunnel by StopCCN on request.
fn xl2tpd_lac_to_lnsd(tag: &str, auth: Auth) {
    if !ready() {
        return;
    }
    let lab = Lab::new(tag);
    let lns = lnsd(&lab, &lnsd_config(&lab, Lab::B_IP, auth, false));
    assert!(lns.wait_for("listening", 1, T), "{}", lns.log());
    let (lac, ctl) = xl2tpd(&lab, &xl2tpd_lac_conf(&lab, auth != Auth::None));

    lns.expect("tunnel established", 1, T, &lac);
    assert!(lns.log().contains("host_name=xlh-lac"), "{}", lns.log());
    lac.expect(
        &format!("Connection established to {}", Lab::A_IP),
        1,
        T,
        &lns,
    );
    lns.expect("session established", 1, T, &lac);
    lac.expect(&format!("Call established with {}", Lab::A_IP), 1, T, &lns);
    // xl2tpd's pppd fails; it clears the call with a CDN.
    lns.expect("session down", 1, T, &lac);
    assert!(lns.log().contains("cause=peer CDN"), "{}", lns.log());

    // Ask xl2tpd to close the tunnel: StopCCN, which lnsd acknowledges.
    lab.control(&ctl, "d xlhlac");
    lns.expect("tunnel down", 1, T, &lac);
    assert!(lns.log().contains("cause=peer StopCCN"), "{}", lns.log());
    lac.expect("Disconnecting from", 1, T, &lns);
    if auth != Auth::None {
        // Both sides proved the secret: xl2tpd saw our challenge and our
        // response, and we verified its (no auth failure logged).
        assert!(lac.log().contains("challenge avp found"), "{}", lac.log());
        assert!(lac.log().contains("Challenge reply found"), "{}", lac.log());
        assert!(!lns.log().contains("challenge response missing or wrong"));
    }
    hidden_avps_came_through(&lac, auth);
    assert!(!lns.log().contains("malformed"), "{}", lns.log());
}

#[test]
fn xl2tpd_lac_to_lnsd_plain() {
    xl2tpd_lac_to_lnsd("lacp", Auth::None);
}

#[test]
fn xl2tpd_lac_to_lnsd_with_tunnel_auth() {
    xl2tpd_lac_to_lnsd("laca", Auth::Challenge);
}

#[test]
fn xl2tpd_lac_to_lnsd_with_hidden_avps() {
    xl2tpd_lac_to_lnsd("lach", Auth::ChallengeAndHide);
}

#[test]
fn xl2tpd_lac_with_wrong_secret_is_refused() {
    if !ready() {
        return;
    }
    let lab = Lab::new("lacw");
    let lns = lnsd(&lab, &lnsd_config(&lab, Lab::B_IP, Auth::Challenge, false));
    assert!(lns.wait_for("listening", 1, T), "{}", lns.log());
    // Same files as the good case, but xl2tpd holds another secret.
    let conf = xl2tpd_lac_conf(&lab, true);
    lab.file("l2tp-secrets", "xlh-lac xlns not-the-secret\n");
    let (lac, _ctl) = xl2tpd(&lab, &conf);
    // Whichever side checks first refuses the tunnel; no call comes up.
    let end = std::time::Instant::now() + T;
    let refused = loop {
        let l = lns.log();
        let x = lac.log();
        if l.contains("challenge response missing or wrong")
            || x.contains("Invalid authentication")
            || x.contains("Invalid challenge authentication")
        {
            break true;
        }
        if std::time::Instant::now() > end {
            break false;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(
        refused,
        "--- lnsd ---\n{}\n--- xl2tpd ---\n{}",
        lns.log(),
        lac.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lns.log().contains("tunnel established"), "{}", lns.log());
    assert!(!lns.log().contains("session established"));
}

/// lnsd as LAC dials xl2tpd as LNS: tunnel and call up, xl2tpd's CDN when
/// its pppd fails, then SIGTERM: StopCCN acknowledged before lnsd exits.
fn lnsd_lac_to_xl2tpd(tag: &str, auth: Auth) {
    if !ready() {
        return;
    }
    let lab = Lab::new(tag);
    let (lns, _ctl) = xl2tpd(&lab, &xl2tpd_lns_conf(&lab, auth != Auth::None));
    // xl2tpd logs nothing when it is ready; give it a moment to bind.
    std::thread::sleep(Duration::from_millis(500));
    let mut lac = lnsd(&lab, &lnsd_config(&lab, Lab::B_IP, auth, true));

    lac.expect("tunnel established", 1, T, &lns);
    lns.expect(
        &format!("Connection established to {}", Lab::A_IP),
        1,
        T,
        &lac,
    );
    lac.expect("session established", 1, T, &lns);
    assert!(lac.log().contains("kind=lac-incoming"), "{}", lac.log());
    lns.expect(&format!("Call established with {}", Lab::A_IP), 1, T, &lac);
    // xl2tpd's pppd fails and it clears the call.
    lac.expect("session down", 1, T, &lns);
    assert!(lac.log().contains("cause=peer CDN"), "{}", lac.log());

    lac.signal("TERM");
    assert!(lac.wait_exit(T), "lnsd did not exit:\n{}", lac.log());
    assert!(
        lac.log().contains("every peer acknowledged StopCCN"),
        "{}",
        lac.log()
    );
    lns.expect("Connection closed to", 1, T, &lac);
    if auth != Auth::None {
        assert!(lns.log().contains("challenge avp found"), "{}", lns.log());
        assert!(lns.log().contains("Challenge reply found"), "{}", lns.log());
    }
    hidden_avps_came_through(&lns, auth);
    assert!(!lac.log().contains("malformed"), "{}", lac.log());
}

#[test]
fn lnsd_lac_to_xl2tpd_lns_plain() {
    lnsd_lac_to_xl2tpd("lnsp", Auth::None);
}

#[test]
fn lnsd_lac_to_xl2tpd_lns_with_tunnel_auth() {
    lnsd_lac_to_xl2tpd("lnsa", Auth::Challenge);
}

#[test]
fn lnsd_lac_to_xl2tpd_lns_with_hidden_avps() {
    lnsd_lac_to_xl2tpd("lnsh", Auth::ChallengeAndHide);
}

/// The multi-hop gateway toward xl2tpd as the target LNS: lns-bench's
/// emulated LAC (in the gateway's namespace, port 1702) places a CHAP call
/// for `user1@x.example`; lnsd runs LCP and CHAP's first phase, then
/// opens an authenticated tunnel to xl2tpd and offers the call with proxy
/// LCP and proxy authentication (RFC 2661 §4.4.5). xl2tpd accepts the
/// tunnel and the call; its pppd cannot run, so it clears the call, and
/// the gateway clears the LAC's with xl2tpd's own CDN codes.
#[test]
fn gateway_switches_a_call_to_xl2tpd_as_the_lns() {
    if !ready() {
        return;
    }
    let bench = std::path::Path::new(env!("CARGO_BIN_EXE_lnsd")).with_file_name("lns-bench");
    assert!(
        bench.exists(),
        "{} is missing: run the workspace tests (make test), or cargo build -p lns-bench",
        bench.display()
    );
    let lab = Lab::new("gwx");
    let (lns, _ctl) = xl2tpd(&lab, &xl2tpd_lns_conf(&lab, true));
    std::thread::sleep(Duration::from_millis(500));
    let cfg = lab.file(
        "gw.toml",
        &format!(
            "[l2tp]\nlisten = [\"{a}:1701\"]\nhost_name = \"xlns\"\n[log]\nlevel = \"debug\"\n\
             [[peer]]\naddress = \"{a}\"\n\
             [ppp]\nauth = [\"chap\"]\nipv6 = false\n\
             [[pool]]\nname = \"default\"\nranges = [\"100.64.0.1-100.64.0.10\"]\n\
             [[realm]]\nname = \"x.example\"\n\
             [[realm.lns]]\naddress = \"{b}\"\nsecret = \"{SECRET}\"\n",
            a = Lab::A_IP,
            b = Lab::B_IP,
        ),
    );
    let gw = lnsd(&lab, &cfg);
    assert!(gw.wait_for("listening", 1, T), "{}", gw.log());
    let mut c = lab.cmd(&lab.a, bench.to_str().unwrap());
    c.args([
        "sessions",
        "--lns",
        &format!("{}:1701", Lab::A_IP),
        "--local",
        &format!("{}:1702", Lab::A_IP),
        "--sessions",
        "1",
        "--user",
        "user1@x.example",
        "--timeout",
        "10",
    ]);
    let mut lac = Proc::spawn("lns-bench", c);
    lns.expect(
        &format!("Connection established to {}", Lab::A_IP),
        1,
        T,
        &gw,
    );
    lns.expect(&format!("Call established with {}", Lab::A_IP), 1, T, &gw);
    gw.expect("switched call up", 1, T, &lns);
    assert!(
        gw.log().contains("target_lns=10.77.0.2:1701"),
        "{}",
        gw.log()
    );
    // Tunnel authentication both ways with the realm's secret.
    assert!(lns.log().contains("challenge avp found"), "{}", lns.log());
    assert!(lns.log().contains("Challenge reply found"), "{}", lns.log());
    // xl2tpd's pppd fails; its CDN clears both legs.
    gw.expect("switched call down", 1, T, &lns);
    // lns-bench exits with an error: its only call failed, with the CDN
    // xl2tpd sent (result 1), relayed as it came.
    let status = lac.wait_status(T).expect("lns-bench did not exit");
    assert!(!status.success());
    assert!(lac.log().contains("peer CDN result 1"), "{}", lac.log());
    assert!(!gw.log().contains("malformed"), "{}", gw.log());
}

/// xl2tpd as the LAC toward a gateway: the gateway answers as an LNS
/// would (tunnel and call up, LCP started) until it knows the user; here
/// xl2tpd's pppd cannot run, so the call ends in its CDN before any
/// switching, and nothing is switched or leaked.
#[test]
fn xl2tpd_lac_to_a_gateway() {
    if !ready() {
        return;
    }
    let lab = Lab::new("gwl");
    let mut text =
        std::fs::read_to_string(lnsd_config(&lab, Lab::B_IP, Auth::Challenge, false)).unwrap();
    text += "[[realm]]\nname = \"*\"\n[[realm.lns]]\naddress = \"192.0.2.99\"\n";
    let gw = lnsd(&lab, &lab.file("gw.toml", &text));
    assert!(gw.wait_for("listening", 1, T), "{}", gw.log());
    let (lac, _ctl) = xl2tpd(&lab, &xl2tpd_lac_conf(&lab, true));
    gw.expect("tunnel established", 1, T, &lac);
    gw.expect("session established", 1, T, &lac);
    gw.expect("session down", 1, T, &lac);
    assert!(!gw.log().contains("switched call up"), "{}", gw.log());
    assert!(!gw.log().contains("malformed"), "{}", gw.log());
}

/// xlns-client (the voluntary LAC client) toward xl2tpd as the LNS, with
/// tunnel authentication and hidden AVPs: tunnel and call come up (on
/// xl2tpd's side too); xl2tpd's pppd then fails and clears the call, so
/// the client's first attempt ends with one line, status 1, and nothing
/// left behind.
#[test]
fn xlns_client_to_xl2tpd_as_the_lns() {
    if !ready() {
        return;
    }
    let lab = Lab::new("xcli");
    let (lns, _ctl) = xl2tpd(&lab, &xl2tpd_lns_conf(&lab, true));
    std::thread::sleep(Duration::from_millis(500));
    let mut cmd = lab.cmd(&lab.a, env!("CARGO_BIN_EXE_xlns-client"));
    cmd.args([
        "--lns",
        Lab::B_IP,
        "--user",
        "alice",
        "--password",
        "alice-pw",
        "--secret",
        SECRET,
        "--hide",
        "--host-name",
        "xlns",
        "--tun",
        "xl2",
        "--timeout",
        "15",
    ])
    .env("RUST_LOG", "info,lnsd::session=debug");
    let mut client = Proc::spawn("xlns-client", cmd);
    lns.expect(
        &format!("Connection established to {}", Lab::A_IP),
        1,
        T,
        &client,
    );
    lns.expect(
        &format!("Call established with {}", Lab::A_IP),
        1,
        T,
        &client,
    );
    let status = client.wait_status(T).expect("the client gives up");
    assert_eq!(status.code(), Some(1), "{}", client.log());
    let last = client.log().lines().last().unwrap_or("").to_string();
    assert!(
        last.starts_with("xlns-client: ") && last.contains("cleared the call"),
        "{}",
        client.log()
    );
    assert!(lns.log().contains("challenge avp found"), "{}", lns.log());
    assert!(lns.log().contains("Challenge reply found"), "{}", lns.log());
    hidden_avps_came_through(&lns, Auth::ChallengeAndHide);
    let links = lab
        .cmd(&lab.a, "ip")
        .args(["link", "show", "xl2"])
        .output()
        .unwrap();
    assert!(!links.status.success(), "the TUN is gone");
}
