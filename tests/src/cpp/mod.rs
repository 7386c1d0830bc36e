//! The official Apache RocketMQ C++ client as a test peer.
//!
//! The PyPI wheel `rocketmq` 0.4.4 bundles `librocketmq.so` (rocketmq-client-cpp 1.x, language
//! `CPP`) behind a ctypes wrapper. [`CppClient::get`] prepares a Python venv with it (once per
//! workspace, shared across test processes under a lock file) and runs
//! `tests/interop/cpp_client.py`, which prints one JSON line per send or delivery; [`DriverRun`]
//! decodes them as they arrive.
//!
//! Environment:
//! - `ROCKETMQ_IT_PYTHON`: an interpreter that already has `rocketmq==0.4.4`; no venv is made.
//! - `ROCKETMQ_IT_VENV`: where to make the venv (default `<workspace>/target/interop-venv`).
//! - `ROCKETMQ_IT_BASE_PYTHON`: the interpreter that creates the venv (default `python3`).
//! - `ROCKETMQ_IT_LOG_DIR`: keep each run's `$HOME` (with the C++ client's logs) under this
//!   directory instead of a temporary one.
//!
//! ```no_run
//! use std::time::Duration;
//! use rocketmq_it::cpp::{CppClient, ProduceOptions, PushOptions};
//!
//! # fn main() -> Result<(), rocketmq_it::ItError> {
//! let cpp = CppClient::get()?;
//! let namesrv = "127.0.0.1:9876"; // the address our NameServer bound
//! let consumer = cpp.push(&PushOptions::new(namesrv, "TopicA", "CG_A", 10))?;
//! consumer.started_blocking(Duration::from_secs(20))?;
//! let sent = cpp.produce(&ProduceOptions::new(namesrv, "TopicA", "PG_A", 10))?.finish_blocking()?.ensure_success()?;
//! assert_eq!(sent.sends().len(), 10);
//! let got = consumer.finish_blocking()?.ensure_success()?;
//! assert_eq!(got.messages().len(), 10);
//! # Ok(()) }
//! ```

mod events;
mod options;
mod run;

use crate::paths::workspace_root;
use rocketmq_rs_remoting::util::MutexExt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use events::{
    DriverEvent, ErrorRecord, PullRecord, QueueRecord, QueuesRecord, ReceivedMessage, SendRecord,
    Started, Summary,
};
pub use options::{
    CommonOptions, MessageModel, ProduceOptions, PullOptions, PushOptions, SendMode,
};
pub use run::{DriverOutput, DriverRun};

use crate::{ChildGuard, ItError};
use run::Home;

/// The wheel the driver needs.
pub const WHEEL: &str = "rocketmq==0.4.4";

const READY_MARKER: &str = ".rocketmq-it-ready";
const PIP_TIMEOUT: Duration = Duration::from_secs(600);
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// A Python interpreter with the C++ client, and the driver script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CppClient {
    python: PathBuf,
    script: PathBuf,
}

impl CppClient {
    /// The client for this process: locates or creates the venv on first call (this blocks for
    /// up to a few minutes the first time: `pip install` from PyPI; later calls return at
    /// once). Call it before starting servers on a single-threaded runtime, or from a blocking
    /// context.
    pub fn get() -> Result<CppClient, ItError> {
        static CACHE: Mutex<Option<CppClient>> = Mutex::new(None);
        let mut cache = CACHE.lock_unpoisoned();
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let python = match std::env::var_os("ROCKETMQ_IT_PYTHON") {
            Some(p) => {
                let p = PathBuf::from(p);
                check_python(&p).map_err(|e| {
                    ItError::Setup(format!(
                        "ROCKETMQ_IT_PYTHON={} cannot import rocketmq.client: {e}",
                        p.display()
                    ))
                })?;
                p
            }
            None => {
                let dir = std::env::var_os("ROCKETMQ_IT_VENV")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| workspace_root().join("target").join("interop-venv"));
                ensure_venv(&dir)?
            }
        };
        let client = CppClient::with_python(python);
        *cache = Some(client.clone());
        Ok(client)
    }

    /// A client using `python` as is (no checks, no venv).
    pub fn with_python(python: impl Into<PathBuf>) -> CppClient {
        CppClient {
            python: python.into(),
            script: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("interop")
                .join("cpp_client.py"),
        }
    }

    /// The interpreter.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// `tests/interop/cpp_client.py`.
    pub fn script(&self) -> &Path {
        &self.script
    }

    /// Starts `cpp_client.py produce`.
    pub fn produce(&self, opts: &ProduceOptions) -> Result<DriverRun, ItError> {
        self.spawn("produce", opts.to_args(), opts.common.kill_after())
    }

    /// Starts `cpp_client.py push`.
    pub fn push(&self, opts: &PushOptions) -> Result<DriverRun, ItError> {
        self.spawn("push", opts.to_args(), opts.kill_after())
    }

    /// Starts `cpp_client.py pull`.
    pub fn pull(&self, opts: &PullOptions) -> Result<DriverRun, ItError> {
        self.spawn("pull", opts.to_args(), opts.common.kill_after())
    }

    /// Starts the driver with raw arguments; it is killed after `kill_after`.
    pub fn spawn_raw(&self, args: &[&str], kill_after: Duration) -> Result<DriverRun, ItError> {
        self.spawn(
            "raw",
            args.iter().map(|s| (*s).to_owned()).collect(),
            kill_after,
        )
    }

    fn spawn(
        &self,
        label: &str,
        mut args: Vec<String>,
        kill_after: Duration,
    ) -> Result<DriverRun, ItError> {
        if args
            .first()
            .is_some_and(|a| matches!(a.as_str(), "produce" | "push" | "pull"))
        {
            args.insert(1, "--stop-on-stdin-eof".into());
        }
        let home = make_home(label)?;
        let mut cmd = Command::new(&self.python);
        cmd.arg("-u").arg(&self.script).args(&args);
        tracing::debug!(driver = label, ?args, "starting C++ client driver");
        DriverRun::spawn(label.to_owned(), cmd, home, kill_after)
    }
}

fn make_home(label: &str) -> Result<Home, ItError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    match std::env::var_os("ROCKETMQ_IT_LOG_DIR") {
        Some(base) => {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir = PathBuf::from(base).join(format!("{label}-{}-{n}", std::process::id()));
            fs::create_dir_all(&dir)
                .map_err(|e| ItError::io(format!("creating {}", dir.display()), e))?;
            Ok(Home::Kept(dir))
        }
        None => tempfile::Builder::new()
            .prefix(&format!("rocketmq-it-{label}-"))
            .tempdir()
            .map(Home::Temp)
            .map_err(|e| ItError::io("creating a temp HOME for the driver", e)),
    }
}

/// Runs `cmd` to completion with output appended to `log`, killing it after `timeout`.
fn run_logged(what: &str, cmd: &mut Command, log: &Path, timeout: Duration) -> Result<(), ItError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| ItError::io(format!("opening {}", log.display()), e))?;
    let _ = writeln!(file, "$ {cmd:?}");
    let err = file
        .try_clone()
        .map_err(|e| ItError::io("cloning log handle", e))?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    let mut child = ChildGuard::spawn(what, cmd)?;
    let status = child
        .wait_timeout(timeout)
        .map_err(|e| ItError::io(format!("waiting for {what}"), e))?;
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(ItError::Setup(format!(
            "{what} failed ({s}); log tail:\n{}",
            tail(log)
        ))),
        None => Err(ItError::Setup(format!(
            "{what} took over {timeout:?}; log tail:\n{}",
            tail(log)
        ))),
    }
}

fn tail(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(4000);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Checks that `python` can load the wheel's library.
fn check_python(python: &Path) -> Result<(), String> {
    let mut cmd = Command::new(python);
    cmd.args(["-c", "import rocketmq.client"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child =
        ChildGuard::spawn("python import check", &mut cmd).map_err(|e| e.to_string())?;
    let mut stderr = child.child_mut().stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(err, &mut s);
        }
        s
    });
    let status = child
        .wait_timeout(CHECK_TIMEOUT)
        .map_err(|e| e.to_string())?;
    drop(child);
    let err = reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{s}: {}", err.trim())),
        None => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// Returns the venv's interpreter, creating the venv first if needed. Serialised across
/// processes by an exclusive lock on `<dir>.lock`.
fn ensure_venv(dir: &Path) -> Result<PathBuf, ItError> {
    let parent = dir
        .parent()
        .ok_or_else(|| ItError::Setup(format!("bad venv dir {}", dir.display())))?;
    fs::create_dir_all(parent)
        .map_err(|e| ItError::io(format!("creating {}", parent.display()), e))?;
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path)
        .map_err(|e| ItError::io(format!("creating {}", lock_path.display()), e))?;
    // Released when `lock` is dropped, also if this process dies.
    lock.lock()
        .map_err(|e| ItError::io(format!("locking {}", lock_path.display()), e))?;

    let python = dir.join("bin").join("python");
    if dir.join(READY_MARKER).is_file() && check_python(&python).is_ok() {
        return Ok(python);
    }
    if dir.exists() {
        fs::remove_dir_all(dir)
            .map_err(|e| ItError::io(format!("removing stale {}", dir.display()), e))?;
    }
    let log = dir.with_extension("log");
    let _ = fs::remove_file(&log);
    let base = std::env::var_os("ROCKETMQ_IT_BASE_PYTHON").unwrap_or_else(|| "python3".into());
    tracing::info!(dir = %dir.display(), "creating the C++ client venv ({WHEEL})");
    run_logged(
        "python3 -m venv",
        Command::new(&base).args(["-m", "venv"]).arg(dir),
        &log,
        PIP_TIMEOUT,
    )?;
    run_logged(
        "pip install",
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            WHEEL,
        ]),
        &log,
        PIP_TIMEOUT,
    )?;
    check_python(&python)
        .map_err(|e| ItError::Setup(format!("the new venv cannot import rocketmq.client: {e}")))?;
    fs::write(dir.join(READY_MARKER), WHEEL)
        .map_err(|e| ItError::io("writing the venv ready marker", e))?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An address where nothing listens: bound by the OS, then released.
    fn closed_addr() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        addr.to_string()
    }

    fn alive(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    /// `tests/interop/fake_broker.py`: answers a producer's route, send and heartbeat requests
    /// and prints each request it got, so the driver's send path can be checked without our
    /// servers.
    struct FakeBroker {
        addr: String,
        requests: std::sync::Arc<Mutex<Vec<serde_json::Value>>>,
        _child: ChildGuard,
    }

    impl FakeBroker {
        fn start(cpp: &CppClient) -> FakeBroker {
            use std::io::BufRead;
            let script = cpp.script().with_file_name("fake_broker.py");
            let mut cmd = Command::new(cpp.python());
            cmd.arg(script).stdin(Stdio::piped()).stdout(Stdio::piped());
            let mut child = ChildGuard::spawn("fake broker", &mut cmd).unwrap();
            let mut lines =
                std::io::BufReader::new(child.child_mut().stdout.take().unwrap()).lines();
            let first: serde_json::Value =
                serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            let addr = first["addr"].as_str().unwrap().to_owned();
            let requests = std::sync::Arc::new(Mutex::new(Vec::new()));
            let sink = std::sync::Arc::clone(&requests);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str(&line) {
                        sink.lock().unwrap().push(v);
                    }
                }
            });
            FakeBroker {
                addr,
                requests,
                _child: child,
            }
        }

        fn sends(&self) -> Vec<serde_json::Value> {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r["code"] == 10)
                .cloned()
                .collect()
        }
    }

    #[test]
    fn produce_reports_every_send_in_every_mode() {
        let cpp = CppClient::get().unwrap();
        let broker = FakeBroker::start(&cpp);
        let mut opts = ProduceOptions::new(broker.addr.clone(), "TopicFake", "PG_fake", 5);
        opts.tag = Some("Tag{i}".into());
        opts.keys = Some("key{i} other".into());
        opts.props.push(("color".into(), "red{i}".into()));
        opts.queues = Some(3);
        opts.batch_size = Some(2);
        opts.common.timeout = Duration::from_secs(30);

        for mode in [
            SendMode::Sync,
            SendMode::Oneway,
            SendMode::Orderly,
            SendMode::Batch,
        ] {
            opts.mode = mode;
            let out = cpp
                .produce(&opts)
                .unwrap()
                .finish_blocking()
                .unwrap()
                .ensure_success()
                .unwrap();
            let sends = out.sends();
            let s = out.summary().unwrap();
            assert_eq!((s.sent, s.failed), (Some(5), Some(0)), "{mode:?}");
            match mode {
                SendMode::Oneway => {
                    assert_eq!(sends.len(), 5);
                    assert!(sends
                        .iter()
                        .all(|r| r.status == "ONEWAY" && r.msg_id.is_none()));
                }
                SendMode::Batch => {
                    let batches: Vec<Vec<usize>> =
                        sends.iter().map(|r| r.indices.clone()).collect();
                    assert_eq!(batches, [vec![0, 1], vec![2, 3], vec![4]]);
                    assert!(sends.iter().all(|r| r.is_ok()));
                }
                SendMode::Sync | SendMode::Orderly => {
                    assert_eq!(
                        sends.iter().map(|r| r.index).collect::<Vec<_>>(),
                        [0, 1, 2, 3, 4]
                    );
                    for r in &sends {
                        assert!(r.is_ok(), "{r:?}");
                        assert_eq!(r.msg_id.as_deref().map(str::len), Some(32), "{r:?}");
                        assert!(r.offset.is_some());
                    }
                    if mode == SendMode::Orderly {
                        for r in &sends {
                            assert_eq!(r.sharding_key, Some((r.index % 3) as i64));
                            assert_eq!(r.mq_count, Some(4), "fake broker serves 4 queues");
                            assert_eq!(r.queue_index, Some((r.index % 3) as u32));
                        }
                    }
                }
            }
        }
        // What reached the wire: 5 sync + 5 oneway + 5 orderly singles, 3 batches, all code 10.
        crate::eventually_blocking(Duration::from_secs(5), || broker.sends().len() >= 18).unwrap();
        let sends = broker.sends();
        assert_eq!(sends.len(), 18);
        let props = sends[3]["extFields"]["properties"].as_str().unwrap();
        for part in ["TAGS\u{1}Tag3", "KEYS\u{1}key3 other", "color\u{1}red3"] {
            assert!(props.contains(part), "{part:?} missing in {props:?}");
        }
        assert_eq!(sends[3]["bodyLen"], 5, "body is msg-3");
        assert_eq!(
            sends
                .iter()
                .filter(|r| r["extFields"]["batch"] == "1")
                .count(),
            3
        );
    }

    #[test]
    fn venv_is_created_and_the_driver_prints_help() {
        crate::init_tracing();
        let cpp = CppClient::get().expect("C++ client venv");
        assert!(cpp.script().is_file());
        assert_eq!(CppClient::get().unwrap(), cpp, "cached per process");
        let out = cpp
            .spawn_raw(&["--help"], Duration::from_secs(60))
            .unwrap()
            .finish_blocking()
            .unwrap();
        assert_eq!(out.exit_code, Some(0), "stderr: {}", out.stderr);
        let text = out.unparsed.join("\n");
        assert!(
            text.contains("produce") && text.contains("push") && text.contains("pull"),
            "{text}"
        );
        // A usage error is exit code 2 (argparse), not a hang.
        let bad = cpp
            .spawn_raw(&["produce", "--count", "1"], Duration::from_secs(60))
            .unwrap();
        let out = bad.finish_blocking().unwrap();
        assert_eq!(out.exit_code, Some(2));
        assert!(out.stderr.contains("--namesrv"), "{}", out.stderr);
    }

    #[test]
    fn produce_against_a_closed_port_fails_fast_with_a_clear_error() {
        let cpp = CppClient::get().unwrap();
        let mut opts = ProduceOptions::new(closed_addr(), "TopicNoRoute", "PG_closed", 3);
        opts.common.timeout = Duration::from_secs(20);
        let t0 = Instant::now();
        let out = cpp.produce(&opts).unwrap().finish_blocking().unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "took {:?}",
            t0.elapsed()
        );
        assert_eq!(out.exit_code, Some(3), "{out:?}");
        assert!(!out.killed_at_deadline);
        let errors = out.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].stage, "send");
        assert_eq!(errors[0].index, Some(0));
        assert!(
            errors[0].message.contains("No route info"),
            "{}",
            errors[0].message
        );
        let summary = out.summary().expect("summary line");
        assert_eq!(
            (summary.reason.as_str(), summary.sent, summary.failed),
            ("error", Some(0), Some(1))
        );
        assert!(out.sends().is_empty());
        let err = out.ensure_success().unwrap_err();
        assert!(err.to_string().contains("No route info"), "{err}");
    }

    #[test]
    fn push_without_a_server_times_out_with_exit_code_1() {
        let cpp = CppClient::get().unwrap();
        let mut opts = PushOptions::new(closed_addr(), "TopicNone", "CG_timeout", 1);
        opts.common.timeout = Duration::from_secs(2);
        opts.common.shutdown_grace = Duration::from_secs(10);
        let run = cpp.push(&opts).unwrap();
        run.started_blocking(Duration::from_secs(30)).unwrap();
        let early = run.wait_messages_blocking(1, Duration::from_millis(200));
        assert!(matches!(early, Err(ItError::Timeout { .. })), "{early:?}");
        let out = run.finish_blocking().unwrap();
        assert_eq!(out.exit_code, Some(1), "{out:?}");
        let s = out.summary().unwrap();
        assert_eq!(
            (s.reason.as_str(), s.ok, s.consumed),
            ("timeout", false, Some(0))
        );
    }

    #[test]
    fn pull_without_a_server_times_out_and_waits_report_the_exit() {
        let cpp = CppClient::get().unwrap();
        let mut opts = PullOptions::new(closed_addr(), "TopicNone", "CG_pull", 1);
        opts.common.timeout = Duration::from_secs(2);
        let run = cpp.pull(&opts).unwrap();
        // Waiting for messages that never come ends when the driver exits, not at our deadline.
        let err = run
            .wait_messages_blocking(1, Duration::from_secs(60))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ItError::Exited {
                    exit_code: Some(1),
                    ..
                }
            ),
            "{err}"
        );
        let out = run.finish_blocking().unwrap();
        assert_eq!(out.summary().unwrap().role, "pull");
    }

    #[test]
    fn stop_shuts_the_driver_down_cleanly_under_an_async_runtime() {
        let cpp = CppClient::get().unwrap();
        let mut opts = PushOptions::new(closed_addr(), "TopicNone", "CG_stop", 5);
        opts.common.timeout = Duration::from_secs(120);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let run = cpp.push(&opts).unwrap();
            run.started(Duration::from_secs(30)).await.unwrap();
            let none = run.wait_messages(1, Duration::from_millis(100)).await;
            assert!(matches!(none, Err(ItError::Timeout { .. })), "{none:?}");
            let t0 = Instant::now();
            run.stop();
            let out = run.finish().await.unwrap();
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "stop took {:?}",
                t0.elapsed()
            );
            out
        });
        assert_eq!(out.exit_code, Some(0), "{out:?}");
        let s = out.summary().unwrap();
        assert_eq!(s.reason, "stdin-eof");
        assert!(!out.is_success(), "a stop before COUNT is not success");
        assert!(
            out.home()
                .unwrap()
                .join("logs")
                .join("rocketmq-cpp")
                .is_dir(),
            "C++ logs go to the run's HOME"
        );
        assert!(!out.cpp_log().is_empty());
    }

    #[test]
    fn dropping_a_run_kills_the_driver() {
        let cpp = CppClient::get().unwrap();
        let mut opts = PushOptions::new(closed_addr(), "TopicNone", "CG_drop", 1);
        opts.common.timeout = Duration::from_secs(300);
        let run = cpp.push(&opts).unwrap();
        run.started_blocking(Duration::from_secs(30)).unwrap();
        let pid = run.pid();
        let home = run.home().to_path_buf();
        assert!(alive(pid));
        drop(run);
        assert!(!alive(pid), "driver {pid} outlived its DriverRun");
        assert!(!home.exists(), "temp HOME removed");
    }

    #[test]
    fn the_rust_side_kills_a_driver_that_overruns() {
        let cpp = CppClient::get().unwrap();
        // The script is told 300 s but this side allows only 2 s.
        let args = [
            "push",
            "--namesrv",
            "127.0.0.1:9",
            "--topic",
            "T",
            "--group",
            "G",
            "--count",
            "1",
            "--timeout",
            "300",
        ];
        let t0 = Instant::now();
        let out = cpp
            .spawn_raw(&args, Duration::from_secs(2))
            .unwrap()
            .finish_blocking()
            .unwrap();
        assert!(out.killed_at_deadline);
        assert_eq!(out.exit_code, None, "killed by a signal");
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
}
