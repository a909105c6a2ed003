//! `lns-dataplane`: the AF_XDP forwarding process (see `lns_dataplane::daemon`).
//! Normally started and supervised by lnsd; see `deploy/` for running it
//! under systemd instead.

use lns_dataplane::daemon::{self, Args};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XLNS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        // The log is read by lnsd (which forwards it and keeps the last
        // line for its restart message) or the journal: stderr, plain
        // text; colour only for a person at a terminal.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // lnsd may die and take our stderr's reader with it; tracing's
        // own error report (eprintln!) would then panic the main thread.
        .log_internal_errors(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", daemon::USAGE);
        return;
    }
    let args = match Args::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lns-dataplane: {e}");
            std::process::exit(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("lns-dataplane: installing a signal handler: {e}");
            std::process::exit(1);
        }
    }
    match daemon::run(&args, stop) {
        Ok(()) => tracing::info!("data plane stopped"),
        Err(e) if e == "table replaced" => std::process::exit(3),
        Err(e) => {
            eprintln!("lns-dataplane: {e}");
            std::process::exit(1);
        }
    }
}
