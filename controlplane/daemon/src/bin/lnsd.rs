//! `lnsd`: the xlns control-plane daemon.
//!
//! ```text
//! lnsd --config FILE         run
//! lnsd --check-config FILE   validate FILE and exit (0: usable)
//! lnsd --print-dataplane-args FILE
//!                            the lns-dataplane command line FILE implies
//!                            (for [dataplane] mode = "external" units)
//! ```

use lns_daemon::config::Config;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: lnsd --config FILE | --check-config FILE | --print-dataplane-args FILE | --help | --version";

enum Mode {
    Run(PathBuf),
    Check(PathBuf),
    DataplaneArgs(PathBuf),
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args_os().skip(1);
    let flag = args.next().ok_or_else(|| USAGE.to_string())?;
    let flag = flag.to_string_lossy().into_owned();
    let mode = match flag.as_str() {
        "--help" | "-h" => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        "--version" | "-V" => {
            println!("lnsd {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0);
        }
        "--config" | "-c" => Mode::Run(args.next().ok_or("--config needs a FILE")?.into()),
        "--check-config" => Mode::Check(args.next().ok_or("--check-config needs a FILE")?.into()),
        "--print-dataplane-args" => Mode::DataplaneArgs(
            args.next()
                .ok_or("--print-dataplane-args needs a FILE")?
                .into(),
        ),
        other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
    };
    if let Some(extra) = args.next() {
        return Err(format!("unexpected argument {extra:?}\n{USAGE}"));
    }
    Ok(mode)
}

fn main() -> ExitCode {
    let mode = match parse_args() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("lnsd: {e}");
            return ExitCode::from(2);
        }
    };
    let (path, check, print_args) = match mode {
        Mode::Run(p) => (p, false, false),
        Mode::Check(p) => (p, true, false),
        Mode::DataplaneArgs(p) => (p, false, true),
    };
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lnsd: bad configuration: {e}");
            return ExitCode::from(1);
        }
    };
    if check {
        println!("{}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    if print_args {
        // One argument per line: no shell quoting to get wrong.
        for a in cfg.dataplane_args().to_args() {
            println!("{a}");
        }
        return ExitCode::SUCCESS;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour for a person at a terminal; the journal and log files
        // get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr (the supervisor died) must not panic the daemon:
        // tracing-subscriber reports write errors with eprintln!, which
        // panics on a broken pipe.
        .log_internal_errors(false)
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lnsd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(lns_daemon::run(cfg, path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "lnsd failed");
            eprintln!("lnsd: {e}");
            ExitCode::from(1)
        }
    }
}
