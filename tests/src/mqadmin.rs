//! Apache's `mqadmin` as a long-lived test peer, plus the normalisation that lets its output
//! for two clusters (ours and Apache's) be compared.
//!
//! [`MqadminBatch`] runs `interop/apache/MqadminBatch.java` (through `apache-rmq.sh
//! mqadmin-batch`): one JVM per tools version and target executes every command the test
//! sends, one after another, so a command costs tens of milliseconds instead of a JVM start
//! (about 5 s of CPU each on a 2-core machine). The JVM is killed (by PID) when the batch is
//! dropped, and exits by itself when its standard input closes.
//!
//! [`Normaliser`] rewrites what legitimately differs between two clusters in the same state:
//! addresses, message ids (mapped to the index of the message they name), client ids, dates,
//! epoch milliseconds, broker versions, stack frames and column padding.
//!
//! ```no_run
//! use rocketmq_it::mqadmin::MqadminBatch;
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut batch = MqadminBatch::start("5.5.0", dir.path()).unwrap();
//! let out = batch
//!     .run(&[vec!["clusterList".into(), "-n".into(), "127.0.0.1:9876".into()]], Duration::from_secs(60))
//!     .unwrap();
//! println!("{}", out[0].text);
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::apache::{classpath_dir, provision, scripts_dir, ApacheError};
use crate::ChildGuard;

/// Longest a single command may run inside the batch JVM before it is reported as hung.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(45);

/// What one command printed (standard output and error together).
#[derive(Debug, Clone)]
pub struct Output {
    /// The command's arguments, for messages.
    pub args: Vec<String>,
    /// Everything it printed.
    pub text: String,
    /// Its run time inside the JVM.
    pub millis: u64,
    /// It was still running after [`COMMAND_TIMEOUT`] (a hang).
    pub timed_out: bool,
}

/// One `MqadminBatch` JVM of a given tools version.
#[derive(Debug)]
pub struct MqadminBatch {
    version: String,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: u64,
    // Last: killed after stdin is closed.
    _child: ChildGuard,
}

impl MqadminBatch {
    /// Provisions `rocketmq-tools` of `version` (cached classpath, else Maven) and starts the
    /// batch JVM with its logs and `user.home` under `dir/tools`.
    pub fn start(version: &str, dir: &Path) -> Result<MqadminBatch, ApacheError> {
        provision(version, &["tools"])?;
        // `consumerStatus` without `-i` writes each client's running info under
        // `./<millis>/` of the working directory: keep that in `dir`.
        std::fs::create_dir_all(dir).map_err(|source| ApacheError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        // What the tool logs outside a command, and the stacks of slow commands.
        let err_path = dir.join("mqadmin-batch.err");
        let stderr = std::fs::File::create(&err_path).map_err(|source| ApacheError::Io {
            what: format!("creating {}", err_path.display()),
            source,
        })?;
        let mut cmd = Command::new("bash");
        cmd.arg(scripts_dir().join("apache-rmq.sh"))
            .arg("mqadmin-batch")
            .arg(version)
            .arg(dir)
            .current_dir(dir)
            .env("RMQ_CP_DIR", classpath_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child =
            ChildGuard::spawn(format!("mqadmin-batch {version}"), &mut cmd).map_err(|e| {
                ApacheError::Mqadmin {
                    args: "mqadmin-batch".into(),
                    detail: e.to_string(),
                }
            })?;
        let missing = |what: &str| ApacheError::Mqadmin {
            args: "mqadmin-batch".into(),
            detail: format!("no {what} pipe"),
        };
        let stdin = child
            .child_mut()
            .stdin
            .take()
            .ok_or_else(|| missing("stdin"))?;
        let stdout = child
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| missing("stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(MqadminBatch {
            version: version.into(),
            stdin,
            lines: rx,
            next_id: 0,
            _child: child,
        })
    }

    /// The tools version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Runs `commands` one after another (each an argument list as given to `mqadmin`) and
    /// returns their outputs in order. Fails if the JVM dies or the batch as a whole takes
    /// longer than `timeout`; a single hung command is reported in its [`Output`] instead.
    pub fn run(
        &mut self,
        commands: &[Vec<String>],
        timeout: Duration,
    ) -> Result<Vec<Output>, ApacheError> {
        let mut ids = Vec::with_capacity(commands.len());
        let mut request = String::new();
        for args in commands {
            if let Some(bad) = args.iter().find(|a| a.contains(['\t', '\n'])) {
                return Err(ApacheError::Mqadmin {
                    args: args.join(" "),
                    detail: format!("argument {bad:?} holds a tab or newline"),
                });
            }
            let id = self.next_id;
            self.next_id += 1;
            ids.push(id);
            request.push_str(&format!("{id}\t{}\t", COMMAND_TIMEOUT.as_secs()));
            request.push_str(&args.join("\t"));
            request.push('\n');
        }
        let fail = |detail: String| ApacheError::Mqadmin {
            args: format!("mqadmin-batch {}", self.version),
            detail,
        };
        self.stdin
            .write_all(request.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| fail(format!("writing commands: {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut outputs = Vec::with_capacity(commands.len());
        for (args, id) in commands.iter().zip(ids) {
            let begin = format!("@@MQADMIN-BEGIN {id}");
            let end = format!("@@MQADMIN-END {id} ");
            let mut text = String::new();
            let mut started = false;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let line = match self.lines.recv_timeout(left) {
                    Ok(l) => l,
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(fail(format!(
                            "no end of {args:?} within {timeout:?}; so far:\n{text}"
                        )))
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(fail(format!(
                            "the JVM exited during {args:?}; its output:\n{text}"
                        )))
                    }
                };
                if !started {
                    started = line == begin;
                    continue;
                }
                if let Some(rest) = line.strip_prefix(&end) {
                    let mut it = rest.split(' ');
                    let millis = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                    let timed_out = it.next() == Some("TIMEOUT");
                    outputs.push(Output {
                        args: args.clone(),
                        text,
                        millis,
                        timed_out,
                    });
                    break;
                }
                text.push_str(&line);
                text.push('\n');
            }
        }
        Ok(outputs)
    }
}

/// Whether `text` is `mqadmin` reporting a clean refusal: the broker (or NameServer) answered
/// `REQUEST_CODE_NOT_SUPPORTED` (`CODE: 3`), and nothing else went wrong on the way (no
/// decoding error, null pointer or timeout in the tool).
pub fn is_clean_refusal(text: &str) -> bool {
    text.contains("CODE: 3 ")
        && text.contains("not supported")
        && unexpected_exception(text).is_none()
}

/// The first exception in `text` that is not a broker's error answer (`MQBrokerException`,
/// `MQClientException` or the tool's `SubCommandException` wrapping them), e.g. a
/// `NullPointerException` from a field our server left out or a JSON error from a body it
/// encoded wrongly.
pub fn unexpected_exception(text: &str) -> Option<&str> {
    const EXPECTED: [&str; 4] = [
        "MQBrokerException",
        "MQClientException",
        "SubCommandException",
        "RemotingCommandException: CODE",
    ];
    text.lines().find(|l| {
        let l = l.trim_start().trim_start_matches("Caused by: ");
        let head = l.split(':').next().unwrap_or("");
        (head.ends_with("Exception") || head.ends_with("Error"))
            && head.contains('.')
            && !head.contains(' ')
            && !EXPECTED.iter().any(|e| l.contains(e))
    })
}

/// Rewrites what differs between two clusters in the same state, so that `mqadmin` output
/// from each can be compared.
#[derive(Debug, Default, Clone)]
pub struct Normaliser {
    exact: Vec<(String, String)>,
}

impl Normaliser {
    /// A normaliser with no exact replacements yet.
    pub fn new() -> Normaliser {
        Normaliser::default()
    }

    /// Replaces every occurrence of `from` (e.g. a message id or client id) with `to`. Longer
    /// strings are replaced first.
    pub fn replace(&mut self, from: impl Into<String>, to: impl Into<String>) -> &mut Self {
        let from = from.into();
        if !from.is_empty() {
            self.exact.push((from, to.into()));
            self.exact.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        }
        self
    }

    /// The normalised text: exact replacements, then generic ones (`ip:port` → `<addr>`,
    /// dates and 17-digit `yyyyMMddHHmmssSSS` stamps → `<time>`, 13-digit epoch milliseconds → `<ms>`, `V5_5_0` → `<ver>`, 32-hex
    /// or longer hex ids → `<hexid>`), stack frames dropped, runs of blanks collapsed and trailing blanks
    /// removed.
    pub fn apply(&self, text: &str) -> String {
        let mut s = text.to_string();
        for (from, to) in &self.exact {
            if s.contains(from.as_str()) {
                s = s.replace(from.as_str(), to);
            }
        }
        let mut out = String::with_capacity(s.len());
        for line in s.lines() {
            let t = line.trim_start();
            if t.starts_with("at ") && t.contains('(')
                || t.starts_with("... ") && t.ends_with(" more")
            {
                continue;
            }
            let line = sort_maps(&generic(line));
            let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&collapsed);
            out.push('\n');
        }
        out
    }
}

/// Sorts the entries of every `{k=v, k=v}` on the line: the tool prints Java hash maps, whose
/// order depends on the set of keys.
fn sort_maps(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + len];
        out.push_str(&rest[..=open]);
        let mut entries: Vec<&str> = inner.split(", ").collect();
        if !inner.contains('{') && entries.iter().all(|e| e.contains('=')) {
            entries.sort_unstable();
            out.push_str(&entries.join(", "));
        } else {
            out.push_str(inner);
        }
        out.push('}');
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Replaces the number right after each `label` (e.g. `storeSize=`) with `<n>`.
pub fn mask_numbers_after(text: &str, labels: &[&str]) -> String {
    let mut s = text.to_string();
    for label in labels {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(label) {
            let after = i + label.len();
            out.push_str(&rest[..after]);
            let n = digits(&rest.as_bytes()[after..]);
            if n > 0 {
                out.push_str("<n>");
            }
            rest = &rest[after + n..];
        }
        out.push_str(rest);
        s = out;
    }
    s
}

/// Replaces every run of digits with `<n>` (live statistics: TPS, disk ratios, counters).
pub fn mask_all_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push_str("<n>");
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Token-level rewrites (no regex crate in the tests).
fn generic(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = date_time_len(&b[i..]) {
            out.push_str("<time>");
            i += n;
            continue;
        }
        let at_word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if at_word_start {
            if let Some(n) = addr_len(&b[i..]) {
                out.push_str("<addr>");
                i += n;
                continue;
            }
            if let Some(n) = version_len(&b[i..]) {
                out.push_str("<ver>");
                i += n;
                continue;
            }
            let run = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let word = &b[i..i + run];
            // `yyyyMMddHHmmssSSS` (ProcessQueueInfo timestamps).
            if run == 17
                && (word.starts_with(b"19") || word.starts_with(b"20"))
                && word.iter().all(u8::is_ascii_digit)
            {
                out.push_str("<time>");
                i += run;
                continue;
            }
            if run == 13 && word[0] == b'1' && word.iter().all(u8::is_ascii_digit) {
                out.push_str("<ms>");
                i += run;
                continue;
            }
            // Message ids: 32 hex digits (offset ids, IPv4 unique keys) or 40 (IPv6 unique
            // keys, e.g. the tool's own producer on a host without IPv4 addresses).
            if run >= 32
                && word.iter().all(u8::is_ascii_hexdigit)
                && word.iter().any(u8::is_ascii_digit)
            {
                out.push_str("<hexid>");
                i += run;
                continue;
            }
            if run > 0 {
                out.push_str(&line[i..i + run]);
                i += run;
                continue;
            }
        }
        let ch = line[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `yyyy-MM-dd HH:mm:ss` with an optional `,SSS` / `.SSS`, or `yyyy-MM-dd#HH:mm:ss:SSS`.
fn date_time_len(b: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-dd?dd:dd:dd";
    if b.len() < shape.len() {
        return None;
    }
    for (c, s) in b.iter().zip(shape.iter()) {
        let ok = match s {
            b'd' => c.is_ascii_digit(),
            b'?' => *c == b' ' || *c == b'#' || *c == b'T',
            other => c == other,
        };
        if !ok {
            return None;
        }
    }
    let mut n = shape.len();
    if b.len() > n + 1 && matches!(b[n], b',' | b'.' | b':') && digits(&b[n + 1..]) == 3 {
        n += 4;
    }
    Some(n)
}

/// `a.b.c.d:port` or `/a.b.c.d:port`.
fn addr_len(b: &[u8]) -> Option<usize> {
    let mut n = usize::from(b.first() == Some(&b'/'));
    for part in 0..4 {
        let d = digits(&b[n..]);
        if d == 0 || d > 3 {
            return None;
        }
        n += d;
        if part < 3 {
            if b.get(n) != Some(&b'.') {
                return None;
            }
            n += 1;
        }
    }
    if b.get(n) != Some(&b':') {
        return None;
    }
    let d = digits(&b[n + 1..]);
    (d > 0 && d <= 5).then_some(n + 1 + d)
}

/// `V4_9_7`, `V5_5_0`, `V5_0_0_SNAPSHOT`.
fn version_len(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'V') {
        return None;
    }
    let mut n = 1;
    for part in 0..3 {
        let d = digits(&b[n..]);
        if d == 0 {
            return None;
        }
        n += d;
        if part < 2 {
            if b.get(n) != Some(&b'_') {
                return None;
            }
            n += 1;
        }
    }
    for suffix in [&b"_SNAPSHOT"[..], b"_ALPHA", b"_BETA"] {
        if b[n..].starts_with(suffix) {
            n += suffix.len();
        }
    }
    Some(n)
}

/// A line-by-line diff of two normalised outputs, for failure messages: each differing line
/// pair as `- apache` / `+ ours`.
pub fn diff(apache: &str, ours: &str) -> String {
    let a: Vec<&str> = apache.lines().collect();
    let o: Vec<&str> = ours.lines().collect();
    let mut s = String::new();
    for i in 0..a.len().max(o.len()) {
        let (x, y) = (a.get(i).copied(), o.get(i).copied());
        if x != y {
            s.push_str(&format!(
                "  line {i}:\n  - {}\n  + {}\n",
                x.unwrap_or("<none>"),
                y.unwrap_or("<none>")
            ));
        }
    }
    s
}

/// The `key : value` pairs of outputs like `brokerStatus` (`sep` `:`), or the `key = value`
/// pairs of `getBrokerConfig` / `getNamesrvConfig` (`sep` `=`).
pub fn key_values(text: &str, sep: char) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(sep)?;
            let k = k.trim();
            (!k.is_empty() && !k.contains(' ')).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_differs() {
        let mut n = Normaliser::new();
        n.replace("7F00000100002A9F0000000000000000", "<offid-0>");
        let a = n.apply(
            "7F00000100002A9F0000000000000000 127.0.0.1:10911   V5_5_0  2026-12-07 14:00:00,123 1765112400000\n\tat x.y(Z.java:1)\n",
        );
        assert_eq!(a, "<offid-0> <addr> <ver> <time> <ms>\n");
        assert_eq!(
            generic("Born Host: /127.0.0.1:5555 V4_9_7_SNAPSHOT x"),
            "Born Host: <addr> <ver> x"
        );
    }

    #[test]
    fn maps_sorted_and_numbers_masked() {
        assert_eq!(sort_maps("p={b=2, a=1} x {c}"), "p={a=1, b=2} x {c}");
        assert_eq!(
            mask_numbers_after("storeSize=244, x=1", &["storeSize="]),
            "storeSize=<n>, x=1"
        );
        assert_eq!(mask_all_numbers("0.41 x12"), "<n>.<n> x<n>");
    }

    #[test]
    fn refusal_versus_malformed() {
        let refused = "org.apache.rocketmq.tools.command.SubCommandException: X command failed\n\
            Caused by: org.apache.rocketmq.client.exception.MQBrokerException: CODE: 3  DESC:  request type 26 not supported BROKER: 127.0.0.1:1\n";
        assert!(is_clean_refusal(refused));
        let npe = "java.lang.NullPointerException: Cannot invoke \"String.split(String)\"\n";
        assert!(!is_clean_refusal(npe));
        assert!(unexpected_exception(npe).is_some());
    }
}
