//! Daemons and network namespaces for the end-to-end tests: processes
//! whose output is collected while they run (so tests wait for log lines
//! instead of sleeping), and namespaces that are deleted when the test
//! ends, pass or fail.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running process with its stdout and stderr collected.
pub struct Proc {
    pub name: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let out = child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `needle` appears `count` times in the output.
    pub fn wait_for(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            if self.log().matches(needle).count() >= count {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Like [`Proc::wait_for`], panicking with both logs when it times out.
    pub fn expect(&self, needle: &str, count: usize, limit: Duration, other: &Proc) {
        assert!(
            self.wait_for(needle, count, limit),
            "{} never logged {needle:?} x{count}\n--- {} ---\n{}\n--- {} ---\n{}",
            self.name,
            self.name,
            self.log(),
            other.name,
            other.log()
        );
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Waits for exit (bounded); true if it exited successfully in time.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        self.wait_status(limit).is_some_and(|s| s.success())
    }

    /// Waits for exit (bounded); its status, or `None` if still running.
    pub fn wait_status(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when running as root; otherwise prints why the test is skipped
/// (CI runs as root, where XLNS_REQUIRE_TOOLS makes this mandatory).
/// The other end of [`TestProcess`]: the commands the test sends, a line
/// each, read on a thread so that the process keeps running its protocol
/// (its sessions must stay alive) between them.
pub struct Commands(std::sync::mpsc::Receiver<String>);

impl Commands {
    pub fn start() -> Commands {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Commands(rx)
    }

    /// The next command, `idle` called over and over until it comes;
    /// `None` once the test closed stdin.
    pub fn next(&self, mut idle: impl FnMut()) -> Option<String> {
        loop {
            match self.0.try_recv() {
                Ok(line) => return Some(line),
                Err(std::sync::mpsc::TryRecvError::Empty) => idle(),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            }
        }
    }
}

pub fn root_or_skip() -> bool {
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        assert!(
            std::env::var_os("XLNS_REQUIRE_TOOLS").is_none(),
            "this test needs root (XLNS_REQUIRE_TOOLS is set)"
        );
        eprintln!("SKIP: needs root for network namespaces");
    }
    root
}

/// `program` run inside namespace `ns`.
pub fn ns_cmd(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

fn write_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair: `a` has 10.77.0.1/24, `b` has
/// 10.77.0.2/24. Both are deleted on drop.
pub struct Lab {
    pub a: String,
    pub b: String,
    pub dir: std::path::PathBuf,
}

impl Lab {
    pub const A_IP: &'static str = "10.77.0.1";
    pub const B_IP: &'static str = "10.77.0.2";

    pub fn new(tag: &str) -> Lab {
        let id = format!("{}-{tag}", std::process::id() % 100_000);
        let a = format!("xl-{id}-a");
        let b = format!("xl-{id}-b");
        let dir = std::env::temp_dir().join(format!("xlns-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab { a, b, dir };
        ip(&["netns", "add", &lab.a]);
        ip(&["netns", "add", &lab.b]);
        ip(&[
            "link", "add", "va", "netns", &lab.a, "type", "veth", "peer", "name", "vb", "netns",
            &lab.b,
        ]);
        for (ns, dev, addr) in [(&lab.a, "va", Self::A_IP), (&lab.b, "vb", Self::B_IP)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// A command to run inside namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &str) -> Command {
        ns_cmd(ns, program)
    }

    pub fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        write_file(&self.dir, name, text)
    }

    /// Writes one command line to an xl2tpd control FIFO.
    pub fn control(&self, fifo: &std::path::Path, line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(fifo)
            .unwrap_or_else(|e| panic!("{}: {e}", fifo.display()));
        writeln!(f, "{line}").unwrap();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The access lab of the data-plane tests: three namespaces in a row.
///
/// ```text
///  lac  198.51.100.2 ─vl══va─ 198.51.100.1  lns  203.0.113.1 ─vc══vk─ 203.0.113.2  core
/// ```
///
/// `core` routes 100.64.0.0/16 (the subscribers) via the LNS. The core
/// link's MTU is 1700, so the core host can send packets larger than a
/// subscriber's MRU. All three are deleted on drop.
pub struct AccessLab {
    pub lac: String,
    pub lns: String,
    pub core: String,
    pub dir: std::path::PathBuf,
}

impl AccessLab {
    pub const LAC: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 51, 100, 2);
    pub const LNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 51, 100, 1);
    pub const LNS_CORE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(203, 0, 113, 1);
    pub const HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(203, 0, 113, 2);

    pub fn new(tag: &str) -> AccessLab {
        AccessLab::with_queues(tag, 1)
    }

    /// The lab with `queues` receive and transmit queues on every veth, so
    /// that several data-plane workers (one per queue) each get traffic.
    pub fn with_queues(tag: &str, queues: u32) -> AccessLab {
        let id = format!("{}-{tag}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("xlns-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = AccessLab {
            lac: format!("xa-{id}-lac"),
            lns: format!("xa-{id}-lns"),
            core: format!("xa-{id}-core"),
            dir,
        };
        for ns in [&t.lac, &t.lns, &t.core] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let q = queues.to_string();
        let qs = ["numtxqueues", &q, "numrxqueues", &q];
        for (a, a_ns, b, b_ns) in [("vl", &t.lac, "va", &t.lns), ("vc", &t.lns, "vk", &t.core)] {
            let mut args = vec!["link", "add", a];
            args.extend(qs);
            args.extend(["netns", a_ns, "type", "veth", "peer", "name", b]);
            args.extend(qs);
            args.extend(["netns", b_ns]);
            ip(&args);
        }
        for (ns, dev, addr) in [
            (&t.lac, "vl", Self::LAC),
            (&t.lns, "va", Self::LNS),
            (&t.lns, "vc", Self::LNS_CORE),
            (&t.core, "vk", Self::HOST),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for (ns, dev) in [(&t.lns, "vc"), (&t.core, "vk")] {
            ip(&["-n", ns, "link", "set", dev, "mtu", "1700"]);
        }
        ip(&[
            "-n",
            &t.core,
            "route",
            "add",
            "100.64.0.0/16",
            "via",
            &Self::LNS_CORE.to_string(),
        ]);
        t
    }

    /// A command to run inside namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &str) -> Command {
        ns_cmd(ns, program)
    }

    pub fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        write_file(&self.dir, name, text)
    }

    /// An interface's MAC.
    pub fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let out = self
            .cmd(ns, "cat")
            .arg(format!("/sys/class/net/{dev}/address"))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let mut m = [0u8; 6];
        for (o, h) in m.iter_mut().zip(s.trim().split(':')) {
            *o = u8::from_str_radix(h, 16).unwrap();
        }
        m
    }
}

impl Drop for AccessLab {
    fn drop(&mut self) {
        for ns in [&self.lac, &self.lns, &self.core] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This test binary, re-executed inside namespace `ns` to run only test
/// `test` with `var` set to `value` (the test then plays its part, say an
/// emulated LAC, instead of returning at once), spoken to line by line:
/// commands on its stdin, answers on its stdout. Killed on drop.
pub struct TestProcess {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl TestProcess {
    pub fn start(ns: &str, test: &str, var: &str, value: &str) -> TestProcess {
        let exe = std::env::current_exe().unwrap();
        let mut child = ns_cmd(ns, exe.to_str().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(var, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        TestProcess { child, out }
    }

    /// The rest of the next line holding `tag`, after it.
    pub fn expect(&mut self, tag: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "the test process ended before {tag}");
            // (libtest's "test NAME ... " has no newline, so the first
            // answer shares its line.)
            if let Some(at) = line.find(tag) {
                return line[at + tag.len()..].trim().to_string();
            }
        }
    }

    pub fn send(&mut self, cmd: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends `cmd`, then [`TestProcess::expect`]s `tag`.
    pub fn ask(&mut self, cmd: &str, tag: &str) -> String {
        self.send(cmd);
        self.expect(tag)
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
