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

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use events::{
    DriverEvent, ErrorRecord, PullRecord, QueueRecord, QueuesRecord, ReceivedMessage, SendRecord, Started, Summary,
};
pub use options::{CommonOptions, MessageModel, ProduceOptions, PullOptions, PushOptions, SendMode};
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

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

impl CppClient {
    /// The client for this process: locates or creates the venv on first call (this blocks for
    /// up to a few minutes the first time: `pip install` from PyPI; later calls return at
    /// once). Call it before starting servers on a single-threaded runtime, or from a blocking
    /// context.
    pub fn get() -> Result<CppClient, ItError> {
        static CACHE: Mutex<Option<CppClient>> = Mutex::new(None);
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let python = match std::env::var_os("ROCKETMQ_IT_PYTHON") {
            Some(p) => {
                let p = PathBuf::from(p);
                check_python(&p).map_err(|e| {
                    ItError::Setup(format!("ROCKETMQ_IT_PYTHON={} cannot import rocketmq.client: {e}", p.display()))
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
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("interop").join("cpp_client.py"),
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
        self.spawn("raw", args.iter().map(|s| (*s).to_owned()).collect(), kill_after)
    }

    fn spawn(&self, label: &str, mut args: Vec<String>, kill_after: Duration) -> Result<DriverRun, ItError> {
        if args.first().is_some_and(|a| matches!(a.as_str(), "produce" | "push" | "pull")) {
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
            fs::create_dir_all(&dir).map_err(|e| ItError::io(format!("creating {}", dir.display()), e))?;
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
    let err = file.try_clone().map_err(|e| ItError::io("cloning log handle", e))?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    let mut child = ChildGuard::spawn(what, cmd)?;
    let status = child
        .wait_timeout(timeout)
        .map_err(|e| ItError::io(format!("waiting for {what}"), e))?;
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(ItError::Setup(format!("{what} failed ({s}); log tail:\n{}", tail(log)))),
        None => Err(ItError::Setup(format!("{what} took over {timeout:?}; log tail:\n{}", tail(log)))),
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
    let mut child = ChildGuard::spawn("python import check", &mut cmd).map_err(|e| e.to_string())?;
    let mut stderr = child.child_mut().stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(err, &mut s);
        }
        s
    });
    let status = child.wait_timeout(CHECK_TIMEOUT).map_err(|e| e.to_string())?;
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
    let parent = dir.parent().ok_or_else(|| ItError::Setup(format!("bad venv dir {}", dir.display())))?;
    fs::create_dir_all(parent).map_err(|e| ItError::io(format!("creating {}", parent.display()), e))?;
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path).map_err(|e| ItError::io(format!("creating {}", lock_path.display()), e))?;
    // Released when `lock` is dropped, also if this process dies.
    lock.lock().map_err(|e| ItError::io(format!("locking {}", lock_path.display()), e))?;

    let python = dir.join("bin").join("python");
    if dir.join(READY_MARKER).is_file() && check_python(&python).is_ok() {
        return Ok(python);
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| ItError::io(format!("removing stale {}", dir.display()), e))?;
    }
    let log = dir.with_extension("log");
    let _ = fs::remove_file(&log);
    let base = std::env::var_os("ROCKETMQ_IT_BASE_PYTHON").unwrap_or_else(|| "python3".into());
    tracing::info!(dir = %dir.display(), "creating the C++ client venv ({WHEEL})");
    run_logged("python3 -m venv", Command::new(&base).args(["-m", "venv"]).arg(dir), &log, PIP_TIMEOUT)?;
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
    check_python(&python).map_err(|e| ItError::Setup(format!("the new venv cannot import rocketmq.client: {e}")))?;
    fs::write(dir.join(READY_MARKER), WHEEL).map_err(|e| ItError::io("writing the venv ready marker", e))?;
    Ok(python)
}
