//! `xlns-client`: the voluntary L2TP client (see `lns_daemon::client` and
//! `xlns-client --help`). A host dials an LNS itself and gets a TUN
//! interface carrying its traffic through the PPP session.

use lns_daemon::client::{self, Failure, Options};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", client::USAGE);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("xlns-client {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let o = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => return fail(&Failure::Usage(e)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&Failure::Other(format!("cannot start the runtime: {e}"))),
    };
    match rt.block_on(client::run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    eprintln!("xlns-client: {f}");
    ExitCode::from(f.exit_code())
}
