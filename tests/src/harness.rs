//! Runs one of our client harnesses (`interop/go`, `interop/java`) as a child process and
//! collects the JSON lines it prints: one [`Event`] per line on stdout, the client's own log
//! on stderr (kept in a file for failure messages).
//!
//! Both harnesses print the same events: `started`, `sent`, `recv`, `reply`, `check`,
//! `offset`, `error`, `alloc` (push consumers: the queues owned) and a final `done`; bodies
//! travel as lower-case hex so they can be compared byte for byte.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use crate::{eventually, eventually_some, ChildGuard};

/// What went wrong while preparing or running a client harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The toolchain or dependencies the harness needs are unavailable or broken.
    #[error("{client} harness setup: {reason}")]
    Setup {
        /// Which harness (`go`, `java 4.9.8`, ...).
        client: String,
        /// What failed, with the tool's output.
        reason: String,
    },
    /// Spawning or reading the harness process failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A condition did not come true in time; `log` has the run's events and stderr tail.
    #[error("{name}: timed out after {timeout:?} waiting for {what}\n{log}")]
    Timeout {
        /// The run.
        name: String,
        /// How long was waited.
        timeout: Duration,
        /// What was waited for.
        what: String,
        /// Recent events and the stderr tail.
        log: String,
    },
    /// A line or field the harness printed could not be decoded.
    #[error("bad harness output: {0}")]
    Decode(String),
}

/// One line a harness printed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `started`, `sent`, `recv`, `reply`, `check`, `offset`, `error` or `done`.
    pub ev: String,
    /// Index of the message in its producer run (`sent`, `reply`).
    pub idx: Option<i64>,
    /// Topic.
    pub topic: Option<String>,
    /// Tags.
    pub tags: Option<String>,
    /// Keys, space separated as on the wire.
    pub keys: Option<String>,
    /// Properties: a producer reports its user properties, a consumer every property.
    #[serde(default)]
    pub props: BTreeMap<String, String>,
    /// Body, lower-case hex.
    pub body: Option<String>,
    /// Queue id.
    pub queue: Option<i32>,
    /// Broker name.
    pub broker: Option<String>,
    /// Queue offset (`sent`, `recv`, `offset`).
    pub offset: Option<i64>,
    /// The client message id (`UNIQ_KEY`).
    pub msg_id: Option<String>,
    /// The broker's offset message id.
    pub offset_msg_id: Option<String>,
    /// Deliveries before this one (`recv`).
    pub reconsume_times: Option<i32>,
    /// What the consumer answered (`SUCCESS`, `RETRY_LATER`, `SUSPEND`).
    pub result: Option<String>,
    /// Send status (`SEND_OK`, `ONEWAY`, `REQUEST`, ...).
    pub status: Option<serde_json::Value>,
    /// Lite pull phase (1 before the commit, 2 after the seek).
    pub phase: Option<i32>,
    /// `offset` events: `committed`, `timestamp` or `end`.
    pub kind: Option<String>,
    /// `error` events: what failed.
    pub what: Option<String>,
    /// Transactions: the local outcome chosen for the message.
    pub outcome: Option<String>,
    /// Producer clock at send time (`recv`).
    pub born_ts: Option<i64>,
    /// Broker clock at store time (`recv`).
    pub store_ts: Option<i64>,
    /// `done` events of consumers: successful deliveries.
    pub consumed: Option<i64>,
    /// `alloc` events of push consumers: the queues the member owns now.
    pub queues: Option<Vec<i32>>,
    /// `alloc` events of 5.x push consumers: the POP queues (-1: the whole topic) it pops.
    pub pop: Option<Vec<i32>>,
    /// `recv` events: the message's sysFlag as the consumer decoded it.
    pub sys_flag: Option<i32>,
    /// `sent` events of the Java `bytes` run: the producer's compression type.
    pub compress_type: Option<String>,
}

impl Event {
    /// The body's bytes.
    pub fn body_bytes(&self) -> Result<Vec<u8>, HarnessError> {
        let hex = self
            .body
            .as_deref()
            .ok_or_else(|| HarnessError::Decode(format!("no body in {self:?}")))?;
        unhex(hex)
    }

    /// A property's value.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(String::as_str)
    }

    /// The send status as text.
    pub fn status_text(&self) -> String {
        match &self.status {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

/// Lower-case hex of `bytes`, as the harnesses print bodies.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, HarnessError> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(HarnessError::Decode(format!("odd-length hex {s:?}")));
    }
    b.chunks(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(HarnessError::Decode(format!("bad hex {s:?}"))),
        })
        .collect()
}

#[derive(Default)]
struct Shared {
    events: Vec<Event>,
    bad_lines: Vec<String>,
    eof: bool,
}

/// A running harness process; killed when dropped.
pub struct HarnessRun {
    name: String,
    guard: Option<ChildGuard>,
    shared: Arc<Mutex<Shared>>,
    reader: Option<JoinHandle<()>>,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// A finished harness run.
#[derive(Debug)]
pub struct Finished {
    /// The run's name.
    pub name: String,
    /// Its exit code (`None` when killed by a signal).
    pub exit_code: Option<i32>,
    /// Every event it printed, in order.
    pub events: Vec<Event>,
    /// Lines on stdout that were not events.
    pub bad_lines: Vec<String>,
    /// The end of its stderr (the client's log).
    pub stderr_tail: String,
}

impl Finished {
    /// The events of kind `ev`.
    pub fn of(&self, ev: &str) -> Vec<&Event> {
        self.events.iter().filter(|e| e.ev == ev).collect()
    }

    /// Whether it exited 0 without printing an `error` event or a stray line.
    pub fn is_success(&self) -> bool {
        self.exit_code == Some(0) && self.of("error").is_empty() && self.bad_lines.is_empty()
    }

    /// Panics with the run's errors and log unless it succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.is_success(),
            "{} failed: {}",
            self.name,
            self.describe()
        );
        self
    }

    /// Exit code, error events and stderr tail, for failure messages.
    pub fn describe(&self) -> String {
        let errors: Vec<_> = self.of("error").iter().map(|e| e.what.clone()).collect();
        format!(
            "exit {:?}, errors {errors:?}, stray stdout {:?}\n--- stderr tail ---\n{}",
            self.exit_code, self.bad_lines, self.stderr_tail
        )
    }
}

fn tail(path: &Path, max: usize) -> String {
    let all = std::fs::read(path).unwrap_or_default();
    let start = all.len().saturating_sub(max);
    String::from_utf8_lossy(&all[start..]).into_owned()
}

impl HarnessRun {
    /// Spawns `cmd` (its stdout and stderr are taken over) as run `name`.
    pub fn spawn(name: impl Into<String>, mut cmd: Command) -> Result<HarnessRun, HarnessError> {
        let name = name.into();
        let dir = tempfile::Builder::new()
            .prefix("rmq-harness-")
            .tempdir()
            .map_err(|e| HarnessError::Io {
                what: "harness temp dir".into(),
                source: e,
            })?;
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| HarnessError::Io {
            what: "harness stderr file".into(),
            source: e,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut guard =
            ChildGuard::spawn(name.clone(), &mut cmd).map_err(|e| HarnessError::Io {
                what: format!("spawning {name}"),
                source: std::io::Error::other(e.to_string()),
            })?;
        let stdout = guard
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| HarnessError::Decode("no stdout pipe".into()))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let sink = Arc::clone(&shared);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let mut s = sink.lock().expect("harness events");
                match serde_json::from_str::<Event>(&line) {
                    Ok(ev) => s.events.push(ev),
                    Err(_) => s.bad_lines.push(line),
                }
            }
            sink.lock().expect("harness events").eof = true;
        });
        Ok(HarnessRun {
            name,
            guard: Some(guard),
            shared,
            reader: Some(reader),
            stderr_path,
            _dir: dir,
        })
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.shared.lock().expect("harness events").events.clone()
    }

    fn log(&self) -> String {
        let s = self.shared.lock().expect("harness events");
        let recent: Vec<_> = s.events.iter().rev().take(8).collect();
        format!(
            "recent events (newest first): {recent:?}\nstray stdout: {:?}\n--- stderr tail ---\n{}",
            s.bad_lines,
            tail(&self.stderr_path, 8 * 1024)
        )
    }

    /// Waits until `cond` holds for the events so far; fails early when the process ended.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&[Event]) -> bool,
    ) -> Result<(), HarnessError> {
        let r = eventually_some(timeout, || {
            let s = self.shared.lock().expect("harness events");
            if cond(&s.events) {
                Some(true)
            } else if s.eof {
                Some(false)
            } else {
                None
            }
        })
        .await;
        match r {
            Ok(true) => Ok(()),
            Ok(false) => Err(HarnessError::Timeout {
                name: self.name.clone(),
                timeout,
                what: format!("{what} (the process ended first)"),
                log: self.log(),
            }),
            Err(_) => Err(HarnessError::Timeout {
                name: self.name.clone(),
                timeout,
                what: what.to_string(),
                log: self.log(),
            }),
        }
    }

    /// Waits for the `started` event (the client's `start()` returned).
    pub async fn started(&self, timeout: Duration) -> Result<(), HarnessError> {
        self.wait_until(timeout, "started", |evs| {
            evs.iter().any(|e| e.ev == "started")
        })
        .await
    }

    /// Kills a run that would go on (a consumer without a message budget) and collects
    /// everything it printed.
    pub async fn stop(self) -> Result<Finished, HarnessError> {
        self.collect(Duration::ZERO, false).await
    }

    /// Waits for the process to exit (killing it after `timeout`) and collects everything.
    pub async fn finish(self, timeout: Duration) -> Result<Finished, HarnessError> {
        self.collect(timeout, true).await
    }

    async fn collect(
        mut self,
        timeout: Duration,
        must_exit: bool,
    ) -> Result<Finished, HarnessError> {
        let mut guard = self.guard.take().expect("a run is finished once");
        let exited = if must_exit {
            eventually(timeout, || matches!(guard.try_wait(), Ok(Some(_)))).await
        } else {
            Ok(())
        };
        let status = guard.kill().map_err(|e| HarnessError::Io {
            what: format!("reaping {}", self.name),
            source: e,
        })?;
        let reader = self.reader.take().expect("reader thread");
        // The pipe closes with the process; the thread ends at EOF.
        let _ = reader.join();
        let s = std::mem::take(&mut *self.shared.lock().expect("harness events"));
        let finished = Finished {
            name: self.name.clone(),
            exit_code: status.code(),
            events: s.events,
            bad_lines: s.bad_lines,
            stderr_tail: tail(&self.stderr_path, 16 * 1024),
        };
        if exited.is_err() {
            return Err(HarnessError::Timeout {
                name: self.name.clone(),
                timeout,
                what: format!("the process to exit; {}", finished.describe()),
                log: format!(
                    "events: {:?}",
                    finished.events.iter().rev().take(8).collect::<Vec<_>>()
                ),
            });
        }
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)).unwrap(), all);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }

    #[test]
    fn events_decode_with_missing_fields() {
        let e: Event = serde_json::from_str(
            r#"{"ev":"recv","body":"00ff","props":{"a":"b"},"reconsumeTimes":2,"msgId":"X","extra":1}"#,
        )
        .unwrap();
        assert_eq!(e.body_bytes().unwrap(), vec![0, 255]);
        assert_eq!(e.prop("a"), Some("b"));
        assert_eq!(e.reconsume_times, Some(2));
        assert_eq!(e.msg_id.as_deref(), Some("X"));
        assert_eq!(e.queue, None);
    }
}
