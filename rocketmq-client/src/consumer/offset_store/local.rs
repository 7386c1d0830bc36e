//! Local file offset store for BROADCASTING consumers (Java `LocalFileOffsetStore`).
//!
//! In broadcasting mode every client consumes every queue, so progress is private to the client
//! and kept in `<base_dir>/<client_id>/<group>/offsets.json` (Java's default base directory is
//! `~/.rocketmq_offsets`, see [`default_base_dir`]).
//!
//! # File format
//!
//! The file is what Java's fastjson writes for `OffsetSerializeWrapper`: a map keyed by
//! **JSON objects**, which is not standard JSON (docs/protocol/json.md §1):
//!
//! ```text
//! {
//!     "offsetTable":{
//!         {"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:12,
//!         {"brokerName":"broker-a","queueId":1,"topic":"TopicTest"}:7
//!     }
//! }
//! ```
//!
//! This store writes that form, so a Java client given the same directory and client id
//! resumes from it, and reads it tolerantly: keys may also be JSON strings holding either a
//! queue object or Java's `MessageQueue [topic=…, brokerName=…, queueId=…]` text.
//!
//! # Durability
//!
//! A write goes to a temporary file which is fsynced, then the current file becomes
//! `offsets.json.bak` and the temporary file is renamed to `offsets.json` (then the directory
//! is fsynced where the platform allows it). A crash therefore leaves either the new file, or
//! no main file and the previous content in `.bak`. Loading falls back to `.bak` when the main
//! file is missing, empty or unreadable, like Java.
//!
//! # Blocking
//!
//! [`LocalFileOffsetStore::load`], [`persist`](LocalFileOffsetStore::persist),
//! [`persist_all`](LocalFileOffsetStore::persist_all) and
//! [`read_offset`](LocalFileOffsetStore::read_offset) with a store read do file I/O: **call them
//! from a blocking context** (e.g. the runtime's `spawn_blocking`). The in-memory operations
//! (`update_offset`, `read_offset` with [`ReadOffsetType::Memory`], `offsets`, …) only take a
//! short mutex and are fine on async tasks.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::de::DeserializeOwned;

use rocketmq_rs_remoting::util::MutexExt;

use crate::message_queue::MessageQueue;

/// File name of the offsets file inside `<base_dir>/<client_id>/<group>/`.
pub const OFFSETS_FILE_NAME: &str = "offsets.json";

/// Files larger than this are rejected as corrupt instead of being read into memory; a real
/// offsets file holds a few hundred bytes per queue.
pub const MAX_OFFSETS_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Java's default base directory: `$HOME/.rocketmq_offsets` (`%USERPROFILE%` on Windows),
/// or `./.rocketmq_offsets` when no home directory is known.
pub fn default_base_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var_os("USERPROFILE").filter(|h| !h.is_empty()))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".rocketmq_offsets")
}

/// Errors of the local offset store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalOffsetError {
    /// Reading or writing an offsets file failed.
    #[error("offset store I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Both the offsets file and its `.bak` are unusable.
    #[error("corrupt offsets file {path}: {source}")]
    Corrupt {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: MalformedOffsets,
    },
    /// The client id or group cannot be used as a directory name.
    #[error("invalid {what} for an offsets path: {value:?}")]
    InvalidName {
        /// `"client id"` or `"group"`.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
}

/// An offsets file that is not in a format this store understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed offsets file at byte {at}: {reason}")]
pub struct MalformedOffsets {
    /// Byte position of the problem.
    pub at: usize,
    /// What was expected or found.
    pub reason: String,
}

/// Where [`LocalFileOffsetStore::read_offset`] looks (Java `ReadOffsetType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOffsetType {
    /// Only the in-memory table.
    Memory,
    /// Only the file (blocking); a value found there is copied into memory.
    Store,
    /// Memory, then the file (blocking) if memory has no entry.
    MemoryThenStore,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: i64,
    frozen: bool,
}

/// Offsets of one broadcasting consumer group, in memory and in a local file.
///
/// ```
/// use rocketmq_rs_client::consumer::offset_store::local::{LocalFileOffsetStore, ReadOffsetType};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let mq = MessageQueue::new("TopicTest", "broker-a", 0);
///
/// let store = LocalFileOffsetStore::new(dir.path(), "10.0.0.1@DEFAULT", "bc_group")?;
/// store.load()?; // nothing there yet
/// store.update_offset(&mq, 42, false);
/// store.persist_all([&mq])?;
///
/// let again = LocalFileOffsetStore::new(dir.path(), "10.0.0.1@DEFAULT", "bc_group")?;
/// again.load()?;
/// assert_eq!(again.read_offset(&mq, ReadOffsetType::Memory)?, Some(42));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LocalFileOffsetStore {
    path: PathBuf,
    table: Mutex<HashMap<MessageQueue, Entry>>,
}

/// Serialises read-merge-write cycles of all stores in the process (like Java's `synchronized
/// string2File`), so two stores sharing a file cannot lose each other's entries. Persisting
/// happens every few seconds, so one lock costs nothing noticeable.
static FILE_IO: Mutex<()> = Mutex::new(());

impl LocalFileOffsetStore {
    /// A store for `<base_dir>/<client_id>/<group>/offsets.json`. Nothing is read until
    /// [`load`](Self::load).
    ///
    /// Fails if `client_id` or `group` is empty, `.`/`..`, or contains a path separator or
    /// NUL, so that names cannot escape `base_dir`.
    pub fn new(
        base_dir: impl AsRef<Path>,
        client_id: &str,
        group: &str,
    ) -> Result<Self, LocalOffsetError> {
        check_component("client id", client_id)?;
        check_component("group", group)?;
        Ok(Self::with_path(
            base_dir
                .as_ref()
                .join(client_id)
                .join(group)
                .join(OFFSETS_FILE_NAME),
        ))
    }

    /// A store using exactly `path` as its offsets file (`path` + `.bak` as backup).
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        LocalFileOffsetStore {
            path: path.into(),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The offsets file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the file into memory (blocking), replacing in-memory entries for the queues it
    /// lists. A missing file is not an error. Returns the number of entries loaded.
    pub fn load(&self) -> Result<usize, LocalOffsetError> {
        let Some(stored) = read_offsets_file(&self.path)? else {
            return Ok(0);
        };
        let n = stored.len();
        let mut table = self.lock_table();
        for (mq, offset) in stored {
            tracing::info!(path = %self.path.display(), %mq, offset, "loaded local consumer offset");
            table.insert(
                mq,
                Entry {
                    offset,
                    frozen: false,
                },
            );
        }
        Ok(n)
    }

    /// Sets the in-memory offset of `mq` (Java `updateOffset`). With `increase_only` the offset
    /// never moves backwards. Ignored while the entry is frozen by
    /// [`update_and_freeze`](Self::update_and_freeze).
    pub fn update_offset(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        let mut table = self.lock_table();
        match table.get_mut(mq) {
            Some(e) if e.frozen => {}
            Some(e) if increase_only => e.offset = e.offset.max(offset),
            Some(e) => e.offset = offset,
            None => {
                table.insert(
                    mq.clone(),
                    Entry {
                        offset,
                        frozen: false,
                    },
                );
            }
        }
    }

    /// Sets the offset of `mq` and ignores later [`update_offset`](Self::update_offset) calls
    /// until the entry is removed (Java `updateAndFreezeOffset`, used when an administrator
    /// resets offsets while messages are in flight).
    pub fn update_and_freeze(&self, mq: &MessageQueue, offset: i64) {
        self.lock_table().insert(
            mq.clone(),
            Entry {
                offset,
                frozen: true,
            },
        );
    }

    /// The offset of `mq`, or `None` if unknown (Java returns -1). Store reads are blocking.
    pub fn read_offset(
        &self,
        mq: &MessageQueue,
        kind: ReadOffsetType,
    ) -> Result<Option<i64>, LocalOffsetError> {
        if kind != ReadOffsetType::Store {
            if let Some(e) = self.lock_table().get(mq) {
                return Ok(Some(e.offset));
            }
            if kind == ReadOffsetType::Memory {
                return Ok(None);
            }
        }
        let stored = read_offsets_file(&self.path)?;
        match stored.and_then(|t| t.get(mq).copied()) {
            Some(offset) => {
                self.update_offset(mq, offset, false);
                Ok(Some(offset))
            }
            None => Ok(None),
        }
    }

    /// Writes the in-memory offset of `mq` to the file, keeping the file's other entries
    /// (blocking). Does nothing if `mq` has no in-memory offset.
    pub fn persist(&self, mq: &MessageQueue) -> Result<(), LocalOffsetError> {
        self.persist_all(std::iter::once(mq))
    }

    /// Writes the in-memory offsets of `mqs` to the file, keeping the file's other entries
    /// (blocking; Java `persistAll`). Queues without an in-memory offset are skipped; if none
    /// has one, the file is not touched.
    ///
    /// If the existing file cannot be parsed (nor its `.bak`), it is replaced by the
    /// in-memory offsets rather than left stale.
    pub fn persist_all<'a>(
        &self,
        mqs: impl IntoIterator<Item = &'a MessageQueue>,
    ) -> Result<(), LocalOffsetError> {
        let updates: Vec<(MessageQueue, i64)> = {
            let table = self.lock_table();
            mqs.into_iter()
                .filter_map(|mq| table.get(mq).map(|e| (mq.clone(), e.offset)))
                .collect()
        };
        if updates.is_empty() {
            return Ok(());
        }
        let _io = FILE_IO.lock_unpoisoned();
        let mut merged = match read_offsets_file(&self.path) {
            Ok(existing) => existing.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "replacing unreadable local offsets file");
                HashMap::new()
            }
        };
        merged.extend(updates);
        write_offsets_file(&self.path, &encode_offset_table(&merged))
    }

    /// Drops the in-memory offset of `mq` (e.g. the queue is no longer consumed). The file is
    /// not changed.
    pub fn remove_offset(&self, mq: &MessageQueue) {
        self.lock_table().remove(mq);
    }

    /// A copy of the in-memory offsets, of one topic or of all (Java `cloneOffsetTable`).
    pub fn offsets(&self, topic: Option<&str>) -> HashMap<MessageQueue, i64> {
        // Java skips the topic filter when the topic is blank.
        let topic = topic.filter(|t| !t.trim().is_empty());
        self.lock_table()
            .iter()
            .filter(|(mq, _)| !matches!(topic, Some(t) if mq.topic != t))
            .map(|(mq, e)| (mq.clone(), e.offset))
            .collect()
    }

    fn lock_table(&self) -> std::sync::MutexGuard<'_, HashMap<MessageQueue, Entry>> {
        // Entries are plain values, so a panic elsewhere cannot leave them inconsistent.
        self.table.lock_unpoisoned()
    }
}

fn check_component(what: &'static str, value: &str) -> Result<(), LocalOffsetError> {
    let bad =
        value.is_empty() || value == "." || value == ".." || value.contains(['/', '\\', '\0']);
    if bad {
        return Err(LocalOffsetError::InvalidName {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn bak_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// Reads an offsets file like Java's `readLocalOffset` (blocking): the main file, or its
/// `.bak` if the main file is missing, empty, unreadable or malformed. `Ok(None)` if neither
/// exists (or both are empty); an error if the `.bak` is needed but malformed or unreadable.
pub fn read_offsets_file(
    path: &Path,
) -> Result<Option<HashMap<MessageQueue, i64>>, LocalOffsetError> {
    match read_text(path) {
        Ok(Some(text)) if !text.is_empty() => match decode_offset_table(&text) {
            Ok(t) => return Ok(Some(t)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "offsets file malformed, trying .bak")
            }
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "offsets file unreadable, trying .bak"),
    }
    let bak = bak_path(path);
    match read_text(&bak)? {
        Some(text) if !text.is_empty() => decode_offset_table(&text)
            .map(Some)
            .map_err(|source| LocalOffsetError::Corrupt { path: bak, source }),
        _ => Ok(None),
    }
}

fn read_text(path: &Path) -> Result<Option<String>, LocalOffsetError> {
    let io_err = |source| LocalOffsetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    if meta.len() > MAX_OFFSETS_FILE_SIZE {
        return Err(LocalOffsetError::Corrupt {
            path: path.to_path_buf(),
            source: MalformedOffsets {
                at: 0,
                reason: format!(
                    "file is {} bytes, limit {MAX_OFFSETS_FILE_SIZE}",
                    meta.len()
                ),
            },
        });
    }
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(e)),
    }
}

/// Atomically replaces `path` with `content`, keeping the previous content in `path.bak`
/// (blocking). Creates parent directories as needed.
fn write_offsets_file(path: &Path, content: &str) -> Result<(), LocalOffsetError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| LocalOffsetError::Io { path: p, source }
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    // Unique per writer so that two stores on the same file never share a temp file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    let bak = bak_path(path);
    match fs::rename(path, &bak) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(path)(e));
        }
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    if let Some(dir) = dir {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes the renames durable. Directories cannot be opened for syncing on every platform
/// (e.g. Windows), so failures are ignored: the data itself was already fsynced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Encodes offsets in the fastjson form Java writes and reads (object keys, fields in
/// fastjson's alphabetical order), entries sorted by queue for stable output.
///
/// ```
/// use rocketmq_rs_client::consumer::offset_store::local::{decode_offset_table, encode_offset_table};
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use std::collections::HashMap;
///
/// let table = HashMap::from([(MessageQueue::new("T", "b", 0), 5)]);
/// let text = encode_offset_table(&table);
/// assert!(text.contains(r#"{"brokerName":"b","queueId":0,"topic":"T"}:5"#));
/// assert_eq!(decode_offset_table(&text).unwrap(), table);
/// ```
pub fn encode_offset_table(table: &HashMap<MessageQueue, i64>) -> String {
    let mut entries: Vec<(&MessageQueue, &i64)> = table.iter().collect();
    entries.sort();
    let mut out = String::with_capacity(32 + entries.len() * 96);
    out.push_str("{\n\t\"offsetTable\":{");
    for (i, (mq, offset)) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n\t\t" } else { ",\n\t\t" });
        out.push_str("{\"brokerName\":");
        out.push_str(&json_string(&mq.broker_name));
        out.push_str(",\"queueId\":");
        out.push_str(&mq.queue_id.to_string());
        out.push_str(",\"topic\":");
        out.push_str(&json_string(&mq.topic));
        out.push_str("}:");
        out.push_str(&offset.to_string());
    }
    if !entries.is_empty() {
        out.push_str("\n\t");
    }
    out.push_str("}\n}");
    out
}

fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Parses an offsets file written by Java (fastjson object keys) or by
/// [`encode_offset_table`]. Also accepts string keys holding a queue as JSON or in Java's
/// `MessageQueue [topic=…, brokerName=…, queueId=…]` form, a `null` table, and unknown
/// top-level fields. Later duplicates win.
pub fn decode_offset_table(text: &str) -> Result<HashMap<MessageQueue, i64>, MalformedOffsets> {
    let mut c = Cursor { s: text, pos: 0 };
    let mut table = HashMap::new();
    c.ws();
    c.expect(b'{')?;
    c.ws();
    if c.eat(b'}') {
        return c.finish(table);
    }
    loop {
        c.ws();
        let key: String = c.value()?;
        c.ws();
        c.expect(b':')?;
        c.ws();
        if key == "offsetTable" {
            if c.s[c.pos..].starts_with("null") {
                c.pos += 4;
            } else {
                c.table_into(&mut table)?;
            }
        } else {
            c.value::<serde::de::IgnoredAny>()?;
        }
        c.ws();
        if c.eat(b',') {
            continue;
        }
        c.expect(b'}')?;
        return c.finish(table);
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn err(&self, reason: impl Into<String>) -> MalformedOffsets {
        MalformedOffsets {
            at: self.pos,
            reason: reason.into(),
        }
    }

    fn ws(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), MalformedOffsets> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.err(format!("expected '{}'", b as char)))
        }
    }

    /// One standard JSON value at the cursor.
    fn value<T: DeserializeOwned>(&mut self) -> Result<T, MalformedOffsets> {
        let mut it = serde_json::Deserializer::from_str(&self.s[self.pos..]).into_iter::<T>();
        match it.next() {
            Some(Ok(v)) => {
                self.pos += it.byte_offset();
                Ok(v)
            }
            Some(Err(e)) => Err(self.err(e.to_string())),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn table_into(
        &mut self,
        table: &mut HashMap<MessageQueue, i64>,
    ) -> Result<(), MalformedOffsets> {
        self.expect(b'{')?;
        self.ws();
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            let mq = match self.peek() {
                Some(b'{') => self.value::<StoredQueue>()?.into(),
                Some(b'"') => {
                    let at = self.pos;
                    let s: String = self.value()?;
                    parse_queue_text(&s).ok_or_else(|| MalformedOffsets {
                        at,
                        reason: format!("unrecognised queue key {s:?}"),
                    })?
                }
                _ => return Err(self.err("expected a queue as key")),
            };
            self.ws();
            self.expect(b':')?;
            self.ws();
            let offset: i64 = self.value()?;
            table.insert(mq, offset);
            self.ws();
            if self.eat(b',') {
                continue;
            }
            return self.expect(b'}');
        }
    }

    fn finish(
        mut self,
        table: HashMap<MessageQueue, i64>,
    ) -> Result<HashMap<MessageQueue, i64>, MalformedOffsets> {
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("trailing characters"));
        }
        Ok(table)
    }
}

/// A queue key as the file holds it. Unlike the wire type, which defaults absent members,
/// all three must be present: a key missing one is damage, not queue 0 of an unnamed broker.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredQueue {
    topic: String,
    broker_name: String,
    queue_id: i32,
}

impl From<StoredQueue> for MessageQueue {
    fn from(q: StoredQueue) -> Self {
        MessageQueue::new(q.topic, q.broker_name, q.queue_id)
    }
}

/// A queue written as a JSON object inside a string, or as Java's `toString()`.
fn parse_queue_text(s: &str) -> Option<MessageQueue> {
    if let Ok(q) = serde_json::from_str::<StoredQueue>(s) {
        return Some(q.into());
    }
    let inner = s.strip_prefix("MessageQueue [topic=")?.strip_suffix(']')?;
    let (topic, rest) = inner.split_once(", brokerName=")?;
    let (broker, queue_id) = rest.rsplit_once(", queueId=")?;
    Some(MessageQueue::new(topic, broker, queue_id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fastjson_pretty_output() {
        // The shape fastjson's toJSONString(obj, PrettyFormat) produces for the wrapper.
        let text = "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":3,\n\t\t\t\"topic\":\"TopicTest\"\n\t\t}:1234,{\n\t\t\t\"brokerName\":\"broker-b\",\n\t\t\t\"queueId\":0,\n\t\t\t\"topic\":\"TopicTest\"\n\t\t}:-1\n\t}\n}";
        let t = decode_offset_table(text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[&MessageQueue::new("TopicTest", "broker-a", 3)], 1234);
        assert_eq!(t[&MessageQueue::new("TopicTest", "broker-b", 0)], -1);
    }

    #[test]
    fn decodes_variants() {
        let t = decode_offset_table(
            r#"{"other":[1,{"x":2}],"offsetTable":{"MessageQueue [topic=T, brokerName=b, queueId=1]":5,"{\"topic\":\"T\",\"brokerName\":\"b\",\"queueId\":2}":6}}"#,
        )
        .unwrap();
        assert_eq!(t[&MessageQueue::new("T", "b", 1)], 5);
        assert_eq!(t[&MessageQueue::new("T", "b", 2)], 6);
        assert!(decode_offset_table(r#"{"offsetTable":null}"#)
            .unwrap()
            .is_empty());
        assert!(decode_offset_table("{}").unwrap().is_empty());
        assert!(decode_offset_table(r#" {"offsetTable":{}} "#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"offsetTable":{"#,
            r#"{"offsetTable":{{"topic":"T"}:1}}"#,
            r#"{"offsetTable":{{"topic":"T","brokerName":"b","queueId":0}:"x"}}"#,
            r#"{"offsetTable":{{"topic":"T","brokerName":"b","queueId":0}:1,}}"#,
            r#"{"offsetTable":{"nonsense":1}}"#,
            r#"{"offsetTable":{5:1}}"#,
            r#"{"offsetTable":{}} trailing"#,
            "{\"offsetTable\":{{\"topic\":\"T\",\"brokerName\":\"b\",\"queueId\":0}:99999999999999999999}}",
        ] {
            assert!(decode_offset_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_cannot_escape_base_dir() {
        for (cid, group) in [
            ("..", "g"),
            ("a/b", "g"),
            ("c", ""),
            ("c", "x\\y"),
            ("c", "."),
        ] {
            assert!(LocalFileOffsetStore::new("/tmp", cid, group).is_err());
        }
        let s = LocalFileOffsetStore::new("/base", "10.0.0.1@DEFAULT", "g").unwrap();
        assert_eq!(s.path(), Path::new("/base/10.0.0.1@DEFAULT/g/offsets.json"));
    }

    #[test]
    fn freeze_and_increase_only() {
        let s = LocalFileOffsetStore::with_path("/nonexistent/offsets.json");
        let mq = MessageQueue::new("T", "b", 0);
        s.update_offset(&mq, 10, true);
        s.update_offset(&mq, 5, true);
        assert_eq!(
            s.read_offset(&mq, ReadOffsetType::Memory).unwrap(),
            Some(10)
        );
        s.update_offset(&mq, 5, false);
        assert_eq!(s.read_offset(&mq, ReadOffsetType::Memory).unwrap(), Some(5));
        s.update_and_freeze(&mq, 3);
        s.update_offset(&mq, 50, false);
        assert_eq!(s.read_offset(&mq, ReadOffsetType::Memory).unwrap(), Some(3));
        s.remove_offset(&mq);
        assert_eq!(s.read_offset(&mq, ReadOffsetType::Memory).unwrap(), None);
        s.update_offset(&mq, 50, false);
        assert_eq!(
            s.read_offset(&mq, ReadOffsetType::Memory).unwrap(),
            Some(50)
        );
        let other = MessageQueue::new("U", "b", 0);
        s.update_offset(&other, 1, false);
        assert_eq!(s.offsets(Some("T")).len(), 1);
        assert_eq!(s.offsets(Some(" ")).len(), 2);
        assert_eq!(s.offsets(None).len(), 2);
    }
}
