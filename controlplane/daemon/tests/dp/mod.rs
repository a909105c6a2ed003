//! What the tests that run lnsd with its data plane share: where the
//! data plane's binary is, and cleaning up after a test that fails
//! before lnsd stops it.

use lns_dataplane::table::Reader;
use std::process::Command;

/// lnsd runs the data plane from next to itself. `cargo test --workspace`
/// (what `make test` runs) builds it before any test starts; a nested
/// cargo here would wait forever on the build lock the outer one holds.
pub fn dataplane_binary() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_lnsd")).with_file_name("lns-dataplane");
    assert!(
        bin.exists(),
        "{} is missing: run the workspace tests (make test), or cargo build -p lns-dataplane",
        bin.display()
    );
    bin
}

/// Kills the data plane that wrote table `.0` and removes the table, if
/// a test fails before lnsd stops both (dropped after lnsd's Proc).
pub struct Cleanup(pub String);

impl std::ops::Drop for Cleanup {
    fn drop(&mut self) {
        let path = std::path::Path::new(&self.0);
        if let Ok(r) = Reader::inspect(path) {
            let pid = r.status().pid;
            if pid > 1 {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_file(path);
    }
}
