//! A private FreeRADIUS for the tests that talk to the real server:
//! /etc/freeradius/3.0 copied, EAP disabled, `deploy/radius/raddb.patch`
//! applied with this instance's directory and ports; run in the test's
//! namespace or in one of its network namespaces.

use super::process::{Proc, ns_cmd};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The shared secret of the patched clients.conf.
pub const SECRET: &str = "xlns-test-secret";
const T: Duration = Duration::from_secs(20);

/// A private FreeRADIUS: /etc/freeradius/3.0 copied, EAP disabled, our
/// patch applied with this instance's directory and ports.
pub struct Radiusd {
    pub dir: PathBuf,
    pub auth: u16,
    pub acct: u16,
    proc: Option<Proc>,
}

impl Radiusd {
    pub fn build() -> Radiusd {
        // One directory per instance: the tests of this file run in
        // parallel, each with its own server.
        static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xlns-freeradius-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let raddb = dir.join("raddb");
        let ok = Command::new("cp")
            .args(["-a", "/etc/freeradius/3.0"])
            .arg(&raddb)
            .status()
            .unwrap();
        assert!(ok.success());
        for l in ["mods-enabled/eap", "sites-enabled/inner-tunnel"] {
            let _ = std::fs::remove_file(raddb.join(l));
        }
        let (auth, acct) = (super::free_udp_port(), super::free_udp_port());
        // The repository's deploy/, from whichever crate's tests these are.
        let patch_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("deploy/radius/raddb.patch"))
            .find(|p| p.exists())
            .expect("deploy/radius/raddb.patch above the crate");
        let patch = std::fs::read_to_string(patch_in)
            .unwrap()
            .replace("@DIR@", &dir.to_string_lossy())
            .replace("@AUTH_PORT@", &auth.to_string())
            .replace("@ACCT_PORT@", &acct.to_string());
        let patch_file = dir.join("raddb.patch");
        std::fs::write(&patch_file, patch).unwrap();
        let out = Command::new("patch")
            .args(["-s", "-p0", "-i"])
            .arg(&patch_file)
            .current_dir(&raddb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        Radiusd {
            dir,
            auth,
            acct,
            proc: None,
        }
    }

    pub fn start(&mut self) {
        self.start_in(None);
    }

    /// Starts it inside network namespace `ns` (its loopback then). Its
    /// ports were free when [`Radiusd::build`] chose them; if something
    /// took one since (tests run in parallel), it moves to others and
    /// tries again: read [`Radiusd::auth`] and [`Radiusd::acct`] after.
    pub fn start_in(&mut self, ns: Option<&str>) {
        for _ in 0..5 {
            let mut c = match ns {
                Some(ns) => ns_cmd(ns, "freeradius"),
                None => Command::new("freeradius"),
            };
            c.arg("-X").arg("-d").arg(self.dir.join("raddb"));
            let p = Proc::spawn("freeradius", c);
            let end = std::time::Instant::now() + T;
            let log = loop {
                let log = p.log();
                if log.contains("Ready to process requests") {
                    self.proc = Some(p);
                    return;
                }
                if log.contains("Address already in use") || std::time::Instant::now() > end {
                    break log;
                }
                std::thread::sleep(Duration::from_millis(25));
            };
            assert!(
                log.contains("Address already in use"),
                "freeradius did not start:\n{log}"
            );
            drop(p);
            self.move_ports();
        }
        panic!("freeradius found no free ports in five tries");
    }

    /// New free ports for both listeners.
    fn move_ports(&mut self) {
        let site = self.dir.join("raddb/sites-available/default");
        let text = std::fs::read_to_string(&site).unwrap();
        let (auth, acct) = (super::free_udp_port(), super::free_udp_port());
        let text = text
            .replace(
                &format!("port = {}\n", self.auth),
                &format!("port = {auth}\n"),
            )
            .replace(
                &format!("port = {}\n", self.acct),
                &format!("port = {acct}\n"),
            );
        std::fs::write(&site, text).unwrap();
        (self.auth, self.acct) = (auth, acct);
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal("TERM");
            p.wait_exit(T);
        }
    }

    /// Adds a user to the files module (before [`Radiusd::start`]):
    /// `reply` holds its reply attributes, one per entry.
    pub fn add_user(&self, name: &str, password: &str, reply: &[&str]) {
        let path = self.dir.join("raddb/mods-config/files/authorize");
        let old = std::fs::read_to_string(&path).unwrap();
        let mut entry = format!("{name}\tCleartext-Password := \"{password}\"\n");
        if !reply.is_empty() {
            entry.push('\t');
            entry.push_str(&reply.join(",\n\t"));
            entry.push('\n');
        }
        std::fs::write(&path, format!("{entry}\n{old}")).unwrap();
    }

    /// The accounting detail file.
    pub fn detail(&self) -> String {
        std::fs::read_to_string(self.dir.join("detail")).unwrap_or_default()
    }
}

impl Drop for Radiusd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
