//! Loading a large local users file: time and memory (issue 18).
//!
//! `cargo bench -p lns-protocol --bench users_load -- [N] [toml]` writes N
//! users (1,000,000 by default) in the file's usual shape, loads them
//! with `Users::parse` (or, with `toml`, with the full TOML parser into
//! owned users, as lnsd did before the line reader), and prints the time
//! and how much the process's peak resident memory grew. One load per
//! process: the peak is process-wide.

use lns_protocol::aaa::local::Users;
use std::time::Instant;

/// The process's peak resident set, KiB (`VmHWM`).
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "read to be held, as lnsd held it")]
struct Owned {
    name: String,
    password: String,
    address: Option<std::net::Ipv4Addr>,
    pool: Option<String>,
    rate_profile: Option<String>,
}

#[derive(serde::Deserialize)]
struct File {
    user: Vec<Owned>,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let full_toml = args.iter().any(|a| a == "toml");
    let mut text = String::with_capacity(n * 80);
    for i in 0..n {
        text.push_str(&format!(
            "[[user]]\nname = \"subscriber{i:07}@example.net\"\npassword = \"pw-{i:x}-secret\"\npool = \"pool{}\"\n",
            i % 4
        ));
    }
    let before = peak_kib();
    let t = Instant::now();
    let held = if full_toml {
        let f: File = toml::from_str(&text).unwrap();
        f.user.len()
    } else {
        Users::parse(&text).unwrap().len()
    };
    let secs = t.elapsed().as_secs_f64();
    let grew = peak_kib().saturating_sub(before);
    println!(
        "{held} users ({:.1} MB of text) loaded by {} in {secs:.2} s; peak resident memory grew {:.1} MB ({:.0} bytes per user)",
        text.len() as f64 / 1e6,
        if full_toml {
            "the full TOML parser"
        } else {
            "Users::parse"
        },
        grew as f64 / 1024.0,
        grew as f64 * 1024.0 / held.max(1) as f64
    );
}
