//! Process control for the real server binaries: start, `kill -9`, restart on the same port,
//! SIGSTOP / SIGCONT. Every process is owned by a [`ChildGuard`] and killed when dropped.
//!
//! Binaries: `chaos-mini-broker` and `chaos-mini-namesrv` are the unmodified
//! `mini-broker/src/main.rs` and `mini-namesrv/src/main.rs`, built as `[[bin]]` targets of this
//! test package (tests/Cargo.toml). Cargo builds them before the tests and hands their paths
//! over as `CARGO_BIN_EXE_*`, so they are never stale, whatever the target dir or profile; a
//! nested `cargo build` from a test would instead wait on the outer cargo's lock.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketmq_it::ChildGuard;

/// Path of the broker binary.
pub fn broker_bin() -> &'static str {
    env!("CARGO_BIN_EXE_chaos-mini-broker")
}

/// Path of the NameServer binary.
pub fn namesrv_bin() -> &'static str {
    env!("CARGO_BIN_EXE_chaos-mini-namesrv")
}

/// The last lines a child printed, for failure messages.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<Vec<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut v = self.0.lock().unwrap();
        if v.len() >= 200 {
            v.remove(0);
        }
        v.push(line);
    }

    /// The kept lines, joined.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Spawns `cmd` with piped output, drains both streams on threads (a full pipe would block the
/// server), and waits until `find` extracts the listening address from a line.
fn spawn_and_find_addr(
    name: &str,
    cmd: &mut Command,
    find: fn(&str) -> Option<SocketAddr>,
) -> (ChildGuard, SocketAddr, Tail) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(name, cmd).expect("spawn server binary");
    let tail = Tail::default();
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let stdout = guard.child_mut().stdout.take().unwrap();
    let stderr = guard.child_mut().stderr.take().unwrap();
    for (i, stream) in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ]
    .into_iter()
    .enumerate()
    {
        let tail = tail.clone();
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("{name}-out{i}"))
            .spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    if let Some(a) = find(&line) {
                        let _ = tx.send(a);
                    }
                    tail.push(line);
                }
            })
            .unwrap();
    }
    drop(tx);
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (guard, addr, tail),
        Err(_) => {
            let status = guard.try_wait().ok().flatten();
            panic!(
                "{name} did not report its address (exit {status:?}); output:\n{}",
                tail.text()
            );
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// A NameServer process.
pub struct NamesrvProc {
    guard: Option<ChildGuard>,
    /// Where it listens (kept across restarts).
    pub addr: SocketAddr,
    tail: Tail,
}

fn namesrv_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("boot success") {
        return None;
    }
    let rest = &line[line.find("addr=")? + 5..];
    rest.split_whitespace().next()?.parse().ok()
}

impl NamesrvProc {
    /// Starts a NameServer on an OS-chosen 127.0.0.1 port.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    fn start_on(listen: SocketAddr) -> Self {
        let mut cmd = Command::new(namesrv_bin());
        cmd.arg("--listen")
            .arg(listen.to_string())
            .arg("--log-level")
            .arg("info");
        let (guard, addr, tail) = spawn_and_find_addr("mini-namesrv", &mut cmd, namesrv_addr);
        NamesrvProc {
            guard: Some(guard),
            addr,
            tail,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.guard.as_ref().expect("running").id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.kill().expect("kill namesrv");
        }
    }

    /// Starts again on the same address (after [`kill9`](Self::kill9)).
    pub fn restart(&mut self) {
        self.kill9();
        let fresh = retry_bind(|| Self::start_on(self.addr));
        self.guard = fresh.guard;
        self.tail = fresh.tail;
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        self.tail.text()
    }
}

/// Retries a restart on a fixed port for a few seconds (a socket of the killed process may
/// linger briefly).
fn retry_bind<T>(mut f: impl FnMut() -> T) -> T {
    let mut last = None;
    for _ in 0..20 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut f)) {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    std::panic::resume_unwind(last.unwrap())
}

/// How a broker is launched; kept to restart it identically.
#[derive(Clone, Debug)]
pub struct BrokerSpec {
    /// NameServer address.
    pub namesrv: SocketAddr,
    /// Store directory (survives restarts).
    pub store: PathBuf,
    /// `sync` or `async`.
    pub flush: &'static str,
    /// Broker name.
    pub name: String,
    /// Broker id (0 = master).
    pub id: i64,
    /// Extra JSON config fields (camelCase BrokerConfig keys), e.g. HA settings.
    pub extra_json: Option<String>,
    /// Extra environment variables of the process (e.g. `MINI_BROKER_FAULT_FILE`).
    pub env: Vec<(String, String)>,
}

impl BrokerSpec {
    /// A master named `name` storing in `store`.
    pub fn new(namesrv: SocketAddr, store: &Path, flush: &'static str, name: &str) -> Self {
        BrokerSpec {
            namesrv,
            store: store.to_path_buf(),
            flush,
            name: name.into(),
            id: 0,
            extra_json: None,
            env: Vec::new(),
        }
    }
}

/// A broker process.
pub struct BrokerProc {
    guard: Option<ChildGuard>,
    spec: BrokerSpec,
    /// Where it listens (kept across restarts).
    pub addr: SocketAddr,
    tail: Tail,
    frozen: bool,
    /// The replication address of the first start, reused on restart: with a fixed listen
    /// port the broker would otherwise take listen port + 1, which may belong to someone else.
    ha: Option<SocketAddr>,
}

fn broker_addr(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("mini-broker listening on ")?
        .trim()
        .parse()
        .ok()
}

impl BrokerProc {
    /// Starts a broker on an OS-chosen 127.0.0.1 port.
    pub fn start(spec: BrokerSpec) -> Self {
        let mut b = Self::start_on(spec, "127.0.0.1:0".parse().unwrap(), None);
        if b.spec.id == 0 {
            b.ha = b.ha_addr();
        }
        b
    }

    fn start_on(spec: BrokerSpec, listen: SocketAddr, ha: Option<SocketAddr>) -> Self {
        let mut cmd = Command::new(broker_bin());
        cmd.arg("--namesrv")
            .arg(spec.namesrv.to_string())
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--store")
            .arg(&spec.store)
            .arg("--flush")
            .arg(spec.flush)
            .arg("--broker-name")
            .arg(&spec.name)
            .arg("--broker-id")
            .arg(spec.id.to_string())
            .arg("--advertised-host")
            .arg("127.0.0.1")
            .arg("--log-level")
            .arg("warn");
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        if let Some(ha) = ha {
            cmd.arg("--ha-listen").arg(ha.to_string());
        }
        if let Some(json) = &spec.extra_json {
            std::fs::create_dir_all(&spec.store).unwrap();
            let path = spec.store.with_extension("chaos-config.json");
            std::fs::write(&path, json).unwrap();
            cmd.arg("--config").arg(path);
        }
        let (guard, addr, tail) = spawn_and_find_addr("mini-broker", &mut cmd, broker_addr);
        BrokerProc {
            guard: Some(guard),
            spec,
            addr,
            tail,
            frozen: false,
            ha,
        }
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.guard.as_ref().expect("running").id()
    }

    /// `kill -9`: no flush, no unregistration.
    pub fn kill9(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.kill().expect("kill broker");
        }
        self.frozen = false;
    }

    /// SIGTERM and wait (clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            signal(g.id(), "TERM");
            if g.wait_timeout(Duration::from_secs(20)).unwrap().is_none() {
                g.kill().unwrap();
            }
        }
    }

    /// Starts again on the same address and store.
    pub fn restart(&mut self) {
        self.kill9();
        let spec = self.spec.clone();
        let addr = self.addr;
        let ha = self.ha;
        let mut fresh = retry_bind(|| Self::start_on(spec.clone(), addr, ha));
        self.guard = fresh.guard.take();
        self.tail = fresh.tail.clone();
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing.
    pub fn freeze(&mut self) {
        signal(self.pid(), "STOP");
        self.frozen = true;
    }

    /// SIGCONT.
    pub fn thaw(&mut self) {
        signal(self.pid(), "CONT");
        self.frozen = false;
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        self.tail.text()
    }

    /// The replication (HA) address a master printed at start-up, if any.
    pub fn ha_addr(&self) -> Option<SocketAddr> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self.tail.text().lines().find_map(|l| {
                l.strip_prefix("mini-broker replication listening on ")
                    .and_then(|a| a.trim().parse().ok())
            });
            if found.is_some() || std::time::Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The launch spec.
    pub fn spec(&self) -> &BrokerSpec {
        &self.spec
    }
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        if self.frozen {
            if let Some(g) = &self.guard {
                let _ = Command::new("kill")
                    .arg("-CONT")
                    .arg(g.id().to_string())
                    .status();
            }
        }
        // The guard's own drop sends SIGKILL and reaps.
    }
}

/// Resident set size of a process in KiB (Linux `/proc`), for leak checks.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Open file descriptors of a process (Linux `/proc`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of a process (Linux `/proc`).
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}
