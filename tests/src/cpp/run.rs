//! A running driver process: events as they arrive, waits (async or blocking), kill on drop.

use rocketmq_rs_remoting::util::{CondvarExt, MutexExt};
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::events::{DriverEvent, ErrorRecord, ReceivedMessage, SendRecord, Summary};
use crate::{ChildGuard, ItError};

/// Bytes of the driver's stderr kept for error messages.
const STDERR_KEEP: usize = 16 * 1024;
/// A stdout line longer than this is cut (a driver bug must not exhaust memory).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Where a run's `$HOME` (and so the C++ client's logs) lives.
#[derive(Debug)]
pub(crate) enum Home {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Home {
    fn path(&self) -> &Path {
        match self {
            Home::Temp(t) => t.path(),
            Home::Kept(p) => p,
        }
    }
}

#[derive(Default)]
struct State {
    events: Vec<DriverEvent>,
    unparsed: Vec<String>,
    stderr: Vec<u8>,
    /// Set once the process exited *and* its output was read to the end.
    exit: Option<Exit>,
    wakers: Vec<Waker>,
}

#[derive(Debug, Clone, Copy)]
struct Exit {
    code: Option<i32>,
    killed_at_deadline: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock_unpoisoned()
    }

    fn notify(&self, mut st: MutexGuard<'_, State>) {
        let wakers = std::mem::take(&mut st.wakers);
        drop(st);
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

fn stderr_tail(st: &State) -> String {
    String::from_utf8_lossy(&st.stderr).into_owned()
}

fn error_lines(events: &[DriverEvent]) -> String {
    let errors: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            DriverEvent::Error(e) => Some(format!("[{}] {}: {}", e.stage, e.error, e.message)),
            _ => None,
        })
        .collect();
    if errors.is_empty() {
        "none".into()
    } else {
        errors.join("; ")
    }
}

/// A driver process started by [`CppClient`](super::CppClient).
///
/// Its stdout is decoded on a background thread as it arrives; query it with [`events`],
/// [`messages`] or wait with [`wait_for`] / [`started`] / [`finish`] (async, under any runtime)
/// or their `_blocking` twins. The process is killed if it outlives its deadline
/// (`timeout + shutdown_grace + 10 s`) and when the `DriverRun` is dropped.
///
/// [`events`]: DriverRun::events
/// [`messages`]: DriverRun::messages
/// [`wait_for`]: DriverRun::wait_for
/// [`started`]: DriverRun::started
/// [`finish`]: DriverRun::finish
pub struct DriverRun {
    label: String,
    pid: u32,
    shared: Arc<Shared>,
    child: Arc<Mutex<Option<ChildGuard>>>,
    stdin: Mutex<Option<ChildStdin>>,
    waiter: Option<JoinHandle<()>>,
    home: Option<Home>,
}

impl std::fmt::Debug for DriverRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverRun")
            .field("label", &self.label)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl DriverRun {
    pub(crate) fn spawn(
        label: String,
        mut cmd: Command,
        home: Home,
        kill_after: Duration,
    ) -> Result<Self, ItError> {
        cmd.env("HOME", home.path())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard::spawn(label.clone(), &mut cmd)?;
        let pid = guard.id();
        let child = guard.child_mut();
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });

        let out_reader = stdout.map(|out| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || read_stdout(out, &shared))
        });
        let err_reader = stderr.map(|err| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || read_stderr(err, &shared))
        });
        let child = Arc::new(Mutex::new(Some(guard)));
        let waiter = {
            let shared = Arc::clone(&shared);
            let child = Arc::clone(&child);
            let label = label.clone();
            std::thread::spawn(move || {
                let exit = wait_child(&child, Instant::now() + kill_after, &label);
                // The output is complete only once both pipes reached EOF.
                for r in [out_reader, err_reader].into_iter().flatten() {
                    let _ = r.join();
                }
                let mut st = shared.lock();
                st.exit = Some(exit);
                shared.notify(st);
            })
        };
        Ok(DriverRun {
            label,
            pid,
            shared,
            child,
            stdin: Mutex::new(stdin),
            waiter: Some(waiter),
            home: Some(home),
        })
    }

    /// The driver's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The run's `$HOME`; the C++ client logs under `logs/rocketmq-cpp/` in it.
    pub fn home(&self) -> &Path {
        self.home
            .as_ref()
            .expect("home lives as long as the run")
            .path()
    }

    /// Every event decoded so far.
    pub fn events(&self) -> Vec<DriverEvent> {
        self.shared.lock().events.clone()
    }

    /// The messages delivered so far.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        messages_of(&self.shared.lock().events)
    }

    /// Whether the process has exited and its output was read to the end.
    pub fn is_finished(&self) -> bool {
        self.shared.lock().exit.is_some()
    }

    /// Asks the driver to stop cleanly: closes its stdin, which it watches (`--stop-on-stdin-eof`).
    /// It shuts the client down and exits with code 0 and reason `stdin-eof`.
    pub fn stop(&self) {
        self.stdin.lock_unpoisoned().take();
    }

    /// Kills the driver now (SIGKILL; the C++ client gets no chance to unregister).
    pub fn kill(&self) {
        kill_child(&self.child, &self.label);
    }

    /// Waits until `f` finds what it wants in the events so far, for at most `timeout`.
    ///
    /// Fails with [`ItError::Exited`] if the driver ends first and [`ItError::Timeout`] at the
    /// deadline. Works under any executor: the deadline is kept by a helper thread.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        f: impl FnMut(&[DriverEvent]) -> Option<T>,
    ) -> Result<T, ItError> {
        WaitFor {
            shared: &self.shared,
            what,
            timeout,
            deadline: Instant::now() + timeout,
            f,
            timer: false,
        }
        .await
    }

    /// Blocking [`wait_for`](DriverRun::wait_for).
    pub fn wait_for_blocking<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[DriverEvent]) -> Option<T>,
    ) -> Result<T, ItError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Poll::Ready(r) = check(&st, what, timeout, deadline, &mut f) {
                return r;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            st = self.shared.cond.wait_timeout_unpoisoned(st, left).0;
        }
    }

    /// Waits for the `started` line (the client's `start()` returned).
    pub async fn started(&self, timeout: Duration) -> Result<(), ItError> {
        self.wait_for("the client to start", timeout, is_started)
            .await
    }

    /// Blocking [`started`](DriverRun::started).
    pub fn started_blocking(&self, timeout: Duration) -> Result<(), ItError> {
        self.wait_for_blocking("the client to start", timeout, is_started)
    }

    /// Waits until at least `n` messages were delivered; returns all delivered so far.
    pub async fn wait_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, ItError> {
        self.wait_for(&format!("{n} messages"), timeout, |ev| at_least(ev, n))
            .await
    }

    /// Blocking [`wait_messages`](DriverRun::wait_messages).
    pub fn wait_messages_blocking(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, ItError> {
        self.wait_for_blocking(&format!("{n} messages"), timeout, |ev| at_least(ev, n))
    }

    /// Waits for the process to end (it always does: the driver and this side both enforce a
    /// deadline) and returns everything it printed.
    pub async fn finish(mut self) -> Result<DriverOutput, ItError> {
        Finish {
            shared: &self.shared,
        }
        .await;
        Ok(self.take_output())
    }

    /// Blocking [`finish`](DriverRun::finish).
    pub fn finish_blocking(mut self) -> Result<DriverOutput, ItError> {
        let mut st = self.shared.lock();
        while st.exit.is_none() {
            st = self.shared.cond.wait_unpoisoned(st);
        }
        drop(st);
        Ok(self.take_output())
    }

    fn take_output(&mut self) -> DriverOutput {
        if let Some(w) = self.waiter.take() {
            let _ = w.join();
        }
        let mut st = self.shared.lock();
        let exit = st.exit.expect("finished");
        DriverOutput {
            label: self.label.clone(),
            exit_code: exit.code,
            killed_at_deadline: exit.killed_at_deadline,
            events: std::mem::take(&mut st.events),
            unparsed: std::mem::take(&mut st.unparsed),
            stderr: stderr_tail(&st),
            home: self.home.take(),
        }
    }
}

impl Drop for DriverRun {
    fn drop(&mut self) {
        kill_child(&self.child, &self.label);
        if let Some(w) = self.waiter.take() {
            let _ = w.join();
        }
    }
}

fn kill_child(child: &Mutex<Option<ChildGuard>>, label: &str) {
    let mut slot = child.lock_unpoisoned();
    if let Some(guard) = slot.as_mut() {
        if let Err(e) = guard.kill() {
            tracing::warn!(driver = label, error = %e, "killing the driver failed");
        }
    }
}

fn wait_child(child: &Mutex<Option<ChildGuard>>, deadline: Instant, label: &str) -> Exit {
    let mut killed_at_deadline = false;
    loop {
        {
            let mut slot = child.lock_unpoisoned();
            let Some(guard) = slot.as_mut() else {
                return Exit {
                    code: None,
                    killed_at_deadline,
                };
            };
            match guard.try_wait() {
                Ok(Some(status)) => {
                    // Reaped: nothing left for the guard to kill.
                    let _ = slot.take().map(ChildGuard::release);
                    return Exit {
                        code: status.code(),
                        killed_at_deadline,
                    };
                }
                Ok(None) if Instant::now() >= deadline => {
                    tracing::warn!(driver = label, "driver outlived its deadline; killing it");
                    killed_at_deadline = true;
                    let code = guard.kill().ok().and_then(|s| s.code());
                    let _ = slot.take().map(ChildGuard::release);
                    return Exit {
                        code,
                        killed_at_deadline,
                    };
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(driver = label, error = %e, "waiting for the driver failed");
                    let _ = guard.kill();
                    let _ = slot.take().map(ChildGuard::release);
                    return Exit {
                        code: None,
                        killed_at_deadline,
                    };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_stdout(out: impl Read, shared: &Shared) {
    let mut reader = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut st = shared.lock();
        match serde_json::from_str::<DriverEvent>(line) {
            Ok(ev) => st.events.push(ev),
            Err(_) => st.unparsed.push(line.to_owned()),
        }
        shared.notify(st);
    }
}

fn read_stderr(mut err: impl Read, shared: &Shared) {
    let mut chunk = [0u8; 4096];
    loop {
        match err.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut st = shared.lock();
                st.stderr.extend_from_slice(&chunk[..n]);
                if st.stderr.len() > STDERR_KEEP {
                    let cut = st.stderr.len() - STDERR_KEEP;
                    st.stderr.drain(..cut);
                }
            }
        }
    }
}

fn check<T>(
    st: &State,
    what: &str,
    timeout: Duration,
    deadline: Instant,
    f: &mut impl FnMut(&[DriverEvent]) -> Option<T>,
) -> Poll<Result<T, ItError>> {
    if let Some(v) = f(&st.events) {
        return Poll::Ready(Ok(v));
    }
    if let Some(exit) = st.exit {
        return Poll::Ready(Err(ItError::Exited {
            exit_code: exit.code,
            what: what.to_owned(),
            errors: error_lines(&st.events),
            stderr: stderr_tail(st),
        }));
    }
    if Instant::now() >= deadline {
        return Poll::Ready(Err(ItError::Timeout {
            timeout,
            what: what.to_owned(),
        }));
    }
    Poll::Pending
}

fn register(st: &mut State, waker: &Waker) {
    if !st.wakers.iter().any(|w| w.will_wake(waker)) {
        st.wakers.push(waker.clone());
    }
}

struct WaitFor<'a, F> {
    shared: &'a Arc<Shared>,
    what: &'a str,
    timeout: Duration,
    deadline: Instant,
    f: F,
    timer: bool,
}

// The closure is only ever used through `&mut`, never pinned.
impl<F> Unpin for WaitFor<'_, F> {}

impl<T, F: FnMut(&[DriverEvent]) -> Option<T>> Future for WaitFor<'_, F> {
    type Output = Result<T, ItError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        if let Poll::Ready(r) = check(&st, this.what, this.timeout, this.deadline, &mut this.f) {
            return Poll::Ready(r);
        }
        register(&mut st, cx.waker());
        drop(st);
        if !this.timer {
            this.timer = true;
            let shared = Arc::clone(this.shared);
            let deadline = this.deadline;
            std::thread::spawn(move || {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                let st = shared.lock();
                shared.notify(st);
            });
        }
        Poll::Pending
    }
}

struct Finish<'a> {
    shared: &'a Shared,
}

impl Future for Finish<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.shared.lock();
        if st.exit.is_some() {
            return Poll::Ready(());
        }
        register(&mut st, cx.waker());
        Poll::Pending
    }
}

fn is_started(ev: &[DriverEvent]) -> Option<()> {
    ev.iter()
        .any(|e| matches!(e, DriverEvent::Started(_)))
        .then_some(())
}

fn at_least(ev: &[DriverEvent], n: usize) -> Option<Vec<ReceivedMessage>> {
    let msgs = messages_of(ev);
    (msgs.len() >= n).then_some(msgs)
}

fn messages_of(ev: &[DriverEvent]) -> Vec<ReceivedMessage> {
    ev.iter()
        .filter_map(|e| match e {
            DriverEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Everything a finished driver printed.
#[derive(Debug)]
pub struct DriverOutput {
    /// What ran (`produce`, `push`, ...).
    pub label: String,
    /// Exit code (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// This side killed it because it outlived `timeout + shutdown_grace + 10 s`.
    pub killed_at_deadline: bool,
    /// Decoded stdout lines, in order.
    pub events: Vec<DriverEvent>,
    /// Stdout lines that were not driver events (e.g. `--help` text).
    pub unparsed: Vec<String>,
    /// The end of stderr.
    pub stderr: String,
    home: Option<Home>,
}

impl DriverOutput {
    /// The summary line, if the driver got to print it.
    pub fn summary(&self) -> Option<&Summary> {
        self.events.iter().rev().find_map(|e| match e {
            DriverEvent::Summary(s) => Some(s),
            _ => None,
        })
    }

    /// Send results, in order.
    pub fn sends(&self) -> Vec<&SendRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                DriverEvent::Send(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Delivered messages, in order.
    pub fn messages(&self) -> Vec<&ReceivedMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                DriverEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// Error lines.
    pub fn errors(&self) -> Vec<&ErrorRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                DriverEvent::Error(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// Exit code 0 and a summary saying everything asked for happened.
    pub fn is_success(&self) -> bool {
        self.exit_code == Some(0) && self.summary().is_some_and(|s| s.ok)
    }

    /// `Ok(self)` if [`is_success`](DriverOutput::is_success), else an error carrying the
    /// driver's error lines and stderr (handy with `?` in tests).
    pub fn ensure_success(self) -> Result<Self, ItError> {
        if self.is_success() {
            return Ok(self);
        }
        Err(ItError::Failed {
            exit_code: self.exit_code,
            reason: self
                .summary()
                .map_or_else(|| "none".to_owned(), |s| s.reason.clone()),
            errors: error_lines(&self.events),
            stderr: self.stderr.clone(),
        })
    }

    /// The run's `$HOME` (removed when this output is dropped unless `ROCKETMQ_IT_LOG_DIR` was set).
    pub fn home(&self) -> Option<&Path> {
        self.home.as_ref().map(Home::path)
    }

    /// The C++ client's log files concatenated (last 64 KiB), for failure diagnostics.
    pub fn cpp_log(&self) -> String {
        let Some(home) = self.home() else {
            return String::new();
        };
        let dir = home.join("logs").join("rocketmq-cpp");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut all = Vec::new();
        for f in files {
            if let Ok(bytes) = std::fs::read(&f) {
                all.extend_from_slice(&bytes);
            }
        }
        let keep = 64 * 1024;
        let start = all.len().saturating_sub(keep);
        String::from_utf8_lossy(&all[start..]).into_owned()
    }
}
