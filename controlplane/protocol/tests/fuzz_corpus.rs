//! Replays every committed fuzz seed through the same entry points the
//! cargo-fuzz targets call, so CI exercises them on stable Rust.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 10, "{target}: only {n} seeds in {}", dir.display());
}

#[test]
fn l2tp_control_corpus() {
    replay("l2tp_control", lns_protocol::fuzzing::l2tp_control);
}

#[test]
fn ppp_control_corpus() {
    replay("ppp_control", lns_protocol::fuzzing::ppp_control);
}

#[test]
fn l2tp_endpoint_corpus() {
    replay("l2tp_endpoint", lns_protocol::fuzzing::l2tp_endpoint);
}

#[test]
fn radius_packet_corpus() {
    replay("radius_packet", lns_protocol::fuzzing::radius_packet);
}

#[test]
fn dhcpv6_corpus() {
    replay("dhcpv6", lns_protocol::fuzzing::dhcpv6);
}
