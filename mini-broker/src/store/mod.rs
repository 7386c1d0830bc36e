//! The broker's storage engine: a RocketMQ-style commit log with consume queues, a key index,
//! group-commit flushing, checkpoints and crash recovery.
//!
//! Layout under [`StoreConfig::root_dir`]:
//!
//! * `commitlog/<20-digit offset>`: preallocated commit-log segments (docs/protocol/message.md §3 records,
//!   `BLANK_MAGIC` filler at each segment's end);
//! * `consumequeue/<topic>/<queueId>/<20-digit byte offset>`: 20-byte consume-queue entries;
//! * `index/<20-digit offset>`: key index files (format in [`index`](self) module docs);
//! * `checkpoint`: durable progress; `abort`: present while the store is open.
//!
//! Threads: one writer (appends, offset assignment, dispatch), one flusher (commit-log fsync —
//! group commit in sync mode), one logic flusher (consume-queue/index flush, checkpoint; apart
//! so that thousands of consume-queue fsyncs never hold up a group commit) and, in sync mode,
//! a flush-timeout watchdog. No file I/O runs on the caller's async runtime: puts are sent to the
//! writer and answered through `futures::channel::oneshot`; reads
//! ([`get_messages`](MessageStore::get_messages) and friends) are **blocking** positional reads
//! that async callers should run on a blocking pool (`spawn_blocking`).
//!
//! ```
//! use rocketmq_rs_mini_broker::store::{MessageStore, StoreConfig, GetStatus};
//! use rocketmq_rs_remoting::protocol::message::MessageExt;
//! use bytes::Bytes;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = MessageStore::open(StoreConfig::new(dir.path())).unwrap();
//! let msg = MessageExt {
//!     topic: "TopicTest".into(),
//!     body: Bytes::from_static(b"hello"),
//!     queue_id: 0,
//!     born_host: "127.0.0.1:5000".parse().unwrap(),
//!     store_host: "127.0.0.1:10911".parse().unwrap(),
//!     ..Default::default()
//! };
//! let put = futures::executor::block_on(store.put_message(msg)).unwrap();
//! assert_eq!(put.queue_offset, 0);
//! let got = store.get_messages("TopicTest", 0, 0, 32, 1 << 20, None).unwrap();
//! assert_eq!(got.status, GetStatus::Found);
//! assert_eq!(got.messages.len(), 1);
//! store.shutdown();
//! ```

mod checkpoint;
mod commit_log;
mod config;
mod consume_queue;
mod error;
mod fault;
mod flush;
mod index;
mod persist;
mod read_buf;
pub(crate) mod record;
mod recovery;
mod retention;
mod types;
mod writer;

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use futures::channel::oneshot;
use futures::FutureExt;
use rocketmq_rs_remoting::protocol::message::{decode_message, MessageExt};
use rocketmq_rs_remoting::rt::Clock;
use rocketmq_rs_remoting::util::{MutexExt, RwLockExt};

/// The store's clock. Its writer, flusher and watchdog are OS threads that block on condition
/// variables with real timeouts, which no async runtime's virtual clock can drive, so they
/// (alone in the broker) keep the OS clock.
pub(crate) const STORE_CLOCK: Clock = Clock::system();

pub use checkpoint::Checkpoint;
pub use config::{FlushMode, StoreConfig, DEFAULT_DELAY_LEVELS};
pub use consume_queue::{is_safe_topic_dir, CqEntry, CQ_UNIT};
pub use error::{Result, StoreError};
#[cfg(feature = "fault-injection")]
pub use fault::power_loss;
pub use persist::{read_optional, write_atomic};
pub(crate) use record::property as record_property;
pub use record::{tag_hash_code, BLANK_MAGIC, MAGIC_V1, MAGIC_V2};
pub use retention::{CleanReport, RetentionConfig};
pub use types::{GetResult, GetStatus, OffsetMsgId, PutResult, PutStatus, StoreStats};

use checkpoint::checkpoint_path;
use commit_log::CommitLog;
use consume_queue::{queue_dir, ConsumeQueue};
use flush::GroupCommit;
use index::{index_dir, Index};
use record::{inspect, HotProps, RecordView, Slot};
use rocketmq_rs_remoting::util::hash::KeyMap;
use writer::{Encoded, Request, Writer};

/// Topic whose consume-queue tag code is the delivery time (delayed messages).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Called on the writer thread after messages become visible: `(topic, queue_id, max_offset,
/// messages)` with the queue's new messages of this write, before their senders are answered.
/// Must be quick and must not wait for a put. A listener that holds a [`MessageStore`] clone
/// keeps the store alive: call [`shutdown`](MessageStore::shutdown) explicitly then. Panics
/// are caught and logged.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, &[ArrivedMessage<'_>]) + Send + Sync>;

/// A filter on a stored message's raw properties section (see
/// [`MessageStore::get_messages_filtered`]).
pub type PropertiesFilter<'a> = dyn Fn(&[u8]) -> bool + 'a;

/// One message that just became visible in a queue (what held pulls filter on).
#[derive(Debug, Clone, Copy)]
pub struct ArrivedMessage<'a> {
    /// Its consume-queue offset.
    pub queue_offset: i64,
    /// Its raw properties section (`name\x01value\x02...`, docs/protocol/message.md §1).
    pub properties: &'a [u8],
}

/// Consume queues by topic and queue id (looked up per pull and per new queue of a batch).
type QueueMap = KeyMap<String, KeyMap<i32, Arc<ConsumeQueue>>>;

/// State shared by the facade and the store's threads.
pub(crate) struct Shared {
    cfg: StoreConfig,
    log: CommitLog,
    queues: RwLock<QueueMap>,
    index: Index,
    gc: GroupCommit,
    listener: RwLock<Option<ArrivalListener>>,
    writable: AtomicBool,
    /// Commit-log offset below which every record has been dispatched.
    dispatched: AtomicI64,
    delay_levels: Vec<i64>,
    cq_root: PathBuf,
    /// Serialises logic flushes (logic flusher vs. shutdown and explicit `flush()`); holds
    /// when the last thorough flush ran.
    logic_lock: Mutex<Option<Instant>>,
    /// Consume-queue file fsyncs so far.
    cq_fsyncs: AtomicU64,
    /// Consume-queue directory fsyncs so far.
    cq_dir_fsyncs: AtomicU64,
    /// Buffers `get_messages` reads records into, reused once their slices are dropped.
    read_bufs: read_buf::ReadBufPool,
    /// Live retention settings (the cleaner reads them at every pass).
    retention: RwLock<RetentionConfig>,
    /// Puts are refused while set (disk use past the warning ratio, or a write hit ENOSPC).
    disk_full: AtomicBool,
    /// Puts are refused as on a full disk while set ([`MessageStore::simulate_disk_full`]);
    /// apart from `disk_full` so that retention passes, which measure the disk, keep it.
    simulated_full: AtomicBool,
    cleaner: retention::Cleaner,
}

impl Shared {
    fn queues_read(&self) -> std::sync::RwLockReadGuard<'_, QueueMap> {
        self.queues.read_unpoisoned()
    }

    pub(crate) fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues_read().get(topic)?.get(&queue_id).cloned()
    }

    pub(crate) fn insert_queue(&self, q: Arc<ConsumeQueue>) {
        let mut m = self.queues.write_unpoisoned();
        m.entry(q.topic.clone()).or_default().insert(q.queue_id, q);
    }

    pub(crate) fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues_read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    pub(crate) fn queue_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        if !consume_queue::is_safe_topic_dir(topic) {
            return Err(StoreError::MessageIllegal(format!(
                "topic {topic:?} is not a legal topic name"
            )));
        }
        let q = Arc::new(ConsumeQueue::open(
            queue_dir(&self.cq_root, topic, queue_id),
            topic,
            queue_id,
            self.cfg.consume_queue_entries_per_file,
        )?);
        self.insert_queue(q.clone());
        Ok(q)
    }

    pub(crate) fn remove_topic_queues(&self, topic: &str) -> Result<()> {
        let removed = {
            let mut m = self.queues.write_unpoisoned();
            m.remove(topic)
        };
        for q in removed.into_iter().flat_map(|m| m.into_values()) {
            q.destroy()?;
        }
        if !consume_queue::is_safe_topic_dir(topic) {
            return Err(StoreError::MessageIllegal(format!(
                "topic {topic:?} is not a legal topic name"
            )));
        }
        let dir = self.cq_root.join(topic);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("delete topic directory", dir, e)),
        }
    }

    pub(crate) fn listener(&self) -> Option<ArrivalListener> {
        self.listener.read_unpoisoned().clone()
    }

    /// Consume-queue tag code of a record (docs/protocol/message.md §7; delivery time for delayed ones).
    fn tag_code(&self, v: &RecordView<'_>, hp: &HotProps<'_>) -> i64 {
        if v.topic == SCHEDULE_TOPIC {
            let level = hp.delay.and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
            if level == 0 || self.delay_levels.is_empty() {
                return v.store_timestamp;
            }
            let ms = self.delay_levels[level.min(self.delay_levels.len()) - 1];
            return v.store_timestamp + ms;
        }
        hp.tags.map(tag_hash_code).unwrap_or(0)
    }

    /// Builds the consume-queue entry and index entries of one record.
    pub(crate) fn dispatch(&self, v: &RecordView<'_>) -> Result<()> {
        self.dispatch_batch(std::slice::from_ref(v))
    }

    /// The consume-queue entry of a record (if it goes to a queue) and its index record (if
    /// it is indexed).
    fn entries_of<'a>(
        &self,
        v: &RecordView<'a>,
    ) -> (Option<CqEntry>, Option<index::IndexRecord<'a>>) {
        let hp = HotProps::scan(v.properties);
        let cq = v.is_dispatched_to_queue().then(|| CqEntry {
            commit_log_offset: v.physical_offset,
            size: v.total_size,
            tag_code: self.tag_code(v, &hp),
        });
        let key = (v.sys_flag & 0x0C != record::TX_ROLLBACK).then_some(index::IndexRecord {
            topic: v.topic,
            uniq_key: hp.uniq_key,
            keys: hp.keys,
            phy: v.physical_offset,
            end: v.physical_offset + v.total_size as i64,
            ts: v.store_timestamp,
        });
        (cq, key)
    }

    /// Builds the consume-queue entries and index entries of records in commit-log order
    /// (recovery and re-dispatch; the writer thread has its own, cached path): one
    /// consume-queue append per run of consecutive offsets of a queue and one index write for
    /// the whole run, instead of one per record.
    pub(crate) fn dispatch_batch(&self, views: &[RecordView<'_>]) -> Result<()> {
        /// Groups searched for a matching run before a new one starts (bounds the work for
        /// batches spread over many queues; a missed match only costs an extra append).
        const SEARCH: usize = 16;
        let mut runs: Vec<(Arc<ConsumeQueue>, i64, Vec<CqEntry>)> = Vec::new();
        let mut keys: Vec<index::IndexRecord<'_>> = Vec::with_capacity(views.len());
        for v in views {
            if !is_safe_topic_dir(v.topic) {
                tracing::warn!(
                    offset = v.physical_offset,
                    "record with invalid topic not dispatched"
                );
                continue;
            }
            let (entry, key) = self.entries_of(v);
            if let Some(entry) = entry {
                let found = runs.iter_mut().rev().take(SEARCH).find(|(q, first, es)| {
                    q.queue_id == v.queue_id
                        && q.topic == v.topic
                        && *first + es.len() as i64 == v.queue_offset
                });
                match found {
                    Some((_, _, es)) => es.push(entry),
                    None => {
                        let q = self.queue_or_create(v.topic, v.queue_id)?;
                        let mut es = Vec::with_capacity(views.len().min(64));
                        es.push(entry);
                        runs.push((q, v.queue_offset, es));
                    }
                }
            }
            keys.extend(key);
        }
        for (q, first, es) in &runs {
            q.append(*first, es)?;
        }
        self.index.add_batch(&keys)
    }

    /// Flushes consume queues and the index, then records the checkpoint. A periodic flush
    /// fsyncs only the queues due under `consume_queue_flush_least_pages`; a thorough one
    /// (every `consume_queue_thorough_flush_interval`, and with `full`) every queue with a new
    /// entry. `full` also brings the index's on-disk slot table up to date, which only a clean
    /// start reads (an unclean start rebuilds it from the durable entries), so periodic
    /// flushes skip it.
    ///
    /// The checkpoint's logic offset is where recovery starts re-dispatching: every record
    /// below it must have durable consume-queue entries. It is the dispatched end (read before
    /// any queue is looked at, so every record below it has its entries published), lowered to
    /// the commit-log offset of the first not-durable entry of every queue left unflushed.
    fn logic_flush(&self, full: bool) {
        let mut last_thorough = self.logic_lock.lock_unpoisoned();
        let now = STORE_CLOCK.now();
        let thorough = full
            || last_thorough.is_none_or(|t| {
                now.saturating_duration_since(t) >= self.cfg.consume_queue_thorough_flush_interval
            });
        let least_pages = if thorough {
            0
        } else {
            self.cfg.consume_queue_flush_least_pages
        };
        let physic = self.log.flushed_offset();
        let dispatched = self.dispatched.load(Ordering::Acquire);
        let mut logic = dispatched.min(physic);
        let mut ok = true;
        let mut synced = HashSet::new();
        let mut done = consume_queue::QueueFlush::default();
        let mut skipped = 0usize;
        // Every due queue is written out before any directory is fsynced (see
        // `ConsumeQueue::prepare_flush`).
        let mut due = Vec::new();
        for q in self.all_queues() {
            match q.prepare_flush(least_pages) {
                Ok(consume_queue::FlushStep::Clean) => {}
                Ok(consume_queue::FlushStep::Pending(p)) => {
                    logic = logic.min(p);
                    skipped += 1;
                }
                Ok(consume_queue::FlushStep::Due { from, to }) => due.push((q, from, to)),
                Err(e) => {
                    tracing::error!(error = %e, "consume-queue flush failed");
                    ok = false;
                }
            }
        }
        for (q, from, to) in due {
            if let Err(e) = q.sync(from, to, &mut synced, &mut done) {
                tracing::error!(error = %e, "consume-queue flush failed");
                ok = false;
            }
        }
        let (files, dirs) = (done.file_fsyncs as u64, done.dir_fsyncs as u64);
        self.cq_fsyncs.fetch_add(files, Ordering::Relaxed);
        self.cq_dir_fsyncs.fetch_add(dirs, Ordering::Relaxed);
        if let Err(e) = self.index.flush(full) {
            tracing::error!(error = %e, "index flush failed");
            ok = false;
        }
        let elapsed = STORE_CLOCK.now().saturating_duration_since(now);
        tracing::debug!(
            thorough,
            files,
            dirs,
            skipped,
            logic,
            elapsed_ms = elapsed.as_millis() as u64,
            "logic flush"
        );
        if !ok {
            return;
        }
        if thorough {
            *last_thorough = Some(now);
        }
        let cp = Checkpoint {
            physic_offset: physic,
            logic_offset: logic,
            index_offset: self.index.indexed_end().min(physic),
            timestamp: rocketmq_rs_remoting::util::now_ms(),
        };
        if let Err(e) = cp.store(&checkpoint_path(&self.cfg.root_dir)) {
            tracing::error!(error = %e, "checkpoint write failed");
        }
    }

    /// Reads the record at `offset` (size from its header), if it lies in the visible log.
    fn read_record(&self, offset: i64) -> Result<Option<Bytes>> {
        let Some(head) = self.log.read(offset, 4)? else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if size < record::MIN_RECORD_SIZE as i32 || size as usize > self.cfg.max_message_size {
            return Ok(None);
        }
        self.log.read(offset, size as usize)
    }

    /// Store timestamp of the record an entry points at.
    fn store_time_of(&self, e: &CqEntry) -> Result<Option<i64>> {
        if !e.is_valid() {
            return Ok(None);
        }
        let n = (e.size as usize).min(76);
        let Some(b) = self.log.read(e.commit_log_offset, n)? else {
            return Ok(None);
        };
        if b.len() < 40 {
            return Ok(None);
        }
        let sys_flag = i32::from_be_bytes([b[36], b[37], b[38], b[39]]);
        let at = record::store_timestamp_pos(sys_flag);
        if b.len() < at + 8 {
            return Ok(None);
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        Ok(Some(i64::from_be_bytes(a)))
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    abort_path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop(false);
    }
}

impl Inner {
    fn stop(&self, crash: bool) {
        let tx = self.tx.lock_unpoisoned().take();
        let Some(tx) = tx else { return };
        let _ = tx.send(Request::Stop { crash });
        drop(tx);
        let threads: Vec<_> = self.threads.lock_unpoisoned().drain(..).collect();
        let mut it = threads.into_iter();
        // Writer first: after it stops nothing new reaches the flusher.
        if let Some(w) = it.next() {
            let _ = w.join();
        }
        self.shared.cleaner.stop();
        if crash {
            self.shared.gc.crash();
        } else {
            self.shared.gc.shutdown();
        }
        for t in it {
            let _ = t.join();
        }
        // Break a listener -> store reference cycle.
        *self.shared.listener.write_unpoisoned() = None;
        if !crash {
            if let Err(e) = fs::remove_file(&self.abort_path) {
                tracing::warn!(error = %e, "cannot remove abort file");
            }
        }
    }
}

/// The message store. Cheap to clone (all clones share one store); the store shuts down
/// cleanly when [`shutdown`](MessageStore::shutdown) is called or the last clone is dropped
/// (both block while flushing; never call them from the arrival listener).
#[derive(Clone)]
pub struct MessageStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("root_dir", &self.inner.shared.cfg.root_dir)
            .field("max_offset", &self.inner.shared.log.max_offset())
            .finish()
    }
}

impl MessageStore {
    /// Opens (creating if needed) the store at `cfg.root_dir`, running crash recovery.
    /// Blocking. Only one process may open a directory at a time (not enforced).
    pub fn open(cfg: StoreConfig) -> Result<MessageStore> {
        cfg.validate()?;
        let root = cfg.root_dir.clone();
        fs::create_dir_all(&root)
            .map_err(|e| StoreError::io("create store directory", &root, e))?;
        let abort_path = root.join("abort");
        let clean = !abort_path.exists();
        let checkpoint = Checkpoint::load(&checkpoint_path(&root))?;
        let log = CommitLog::open(
            root.join("commitlog"),
            cfg.commit_log_segment_size,
            cfg.pre_touch,
        )?;
        let index = Index::open(
            index_dir(&root),
            cfg.index_slots,
            cfg.index_entries_per_file,
            clean,
        )?;
        let delay_levels = config::parse_delay_levels(&cfg.delay_levels)?;
        let retention_cfg = cfg.retention.clone();
        let shared = Arc::new(Shared {
            cq_root: root.join("consumequeue"),
            log,
            queues: RwLock::new(QueueMap::default()),
            index,
            gc: GroupCommit::default(),
            listener: RwLock::new(None),
            writable: AtomicBool::new(true),
            dispatched: AtomicI64::new(0),
            delay_levels,
            cfg,
            logic_lock: Mutex::new(None),
            cq_fsyncs: AtomicU64::new(0),
            cq_dir_fsyncs: AtomicU64::new(0),
            read_bufs: read_buf::ReadBufPool::default(),
            retention: RwLock::new(retention_cfg),
            disk_full: AtomicBool::new(false),
            simulated_full: AtomicBool::new(false),
            cleaner: retention::Cleaner::default(),
        });
        recovery::load_queues(&shared)?;
        let end = recovery::recover(&shared, checkpoint)?;
        shared.dispatched.store(end, Ordering::Release);
        if !clean {
            // What the crashed process wrote may sit in the page cache only: a flush must make
            // it durable before a checkpoint claims it.
            for q in shared.all_queues() {
                q.forget_flushed();
            }
        }
        // After a crash between a retention's commit-log and consume-queue deletions, queues
        // start with entries pointing below the log: their minimum moves past them now, the
        // files go at the first retention pass.
        let log_min = shared.log.min_offset();
        for q in shared.all_queues() {
            q.correct_min_offset(log_min)?;
        }
        // Queue directories go under it, and their flushes sync it, but not its own entry here.
        fs::create_dir_all(&shared.cq_root)
            .map_err(|e| StoreError::io("create consume-queue directory", &shared.cq_root, e))?;
        if clean {
            shared.logic_flush(true);
        }
        // After a crash the checkpoint on disk stays as it is until the logic flusher's first
        // pass, which is thorough (no thorough pass has run yet), makes every queue durable
        // and writes a new one: recovery just re-dispatched from that checkpoint, so another
        // crash meanwhile recovers from it again. Flushing every queue here kept the port
        // closed for the fsyncs of thousands of queue files and directories (5–20 s at
        // 1000 topics × 8 queues).
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&abort_path)
            .map_err(|e| StoreError::io("create abort file", &abort_path, e))?;
        persist::sync_dir(&root)?;

        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        let w = Writer::new(shared.clone(), rx, end);
        threads.push(spawn("store-writer", move || w.run())?);
        let s = shared.clone();
        threads.push(spawn("store-flusher", move || {
            let s2 = s.clone();
            s.gc.run_flusher(
                s.cfg.flush_mode,
                |target| {
                    // Everything below the visible end is already written (the writer
                    // publishes the end after its writes), so one fsync also covers puts
                    // appended since the flusher picked `target`: their waiters are answered
                    // by this fsync instead of waiting for the next.
                    let t = s2.log.max_offset().max(target.unwrap_or(0));
                    s2.log.flush_to(t)
                },
                || s2.logic_flush(true),
            )
        })?);
        let s = shared.clone();
        threads.push(spawn("store-logic-flusher", move || {
            s.gc.run_logic_flusher(s.cfg.logic_flush_interval, || s.logic_flush(false))
        })?);
        if matches!(shared.cfg.flush_mode, FlushMode::Sync { .. }) {
            let s = shared.clone();
            threads.push(spawn("store-flush-watchdog", move || s.gc.run_watchdog())?);
        }
        let s = shared.clone();
        threads.push(spawn("store-cleaner", move || retention::run(&s))?);
        Ok(MessageStore {
            inner: Arc::new(Inner {
                shared,
                tx: Mutex::new(Some(tx)),
                threads: Mutex::new(threads),
                abort_path,
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn send(&self, r: Request) {
        let guard = self.inner.tx.lock_unpoisoned();
        match guard.as_ref() {
            // A failed send drops the request and its reply sender: the caller sees Canceled.
            Some(tx) => {
                let _ = tx.send(r);
            }
            None => drop(r),
        }
    }

    /// Stores one message. The writer assigns commit-log offset, queue offset (per
    /// topic/queue) and store timestamp and computes the body CRC; `store_host` and
    /// `born_host` must be set by the caller. The request is queued when this is called (not
    /// when the future is first polled), so many puts issued together share one group
    /// commit. The future resolves once the message is visible to pulls (and, in sync-flush
    /// mode, fsynced or timed out); errors mean nothing was stored.
    pub fn put_message(
        &self,
        msg: MessageExt,
    ) -> impl Future<Output = Result<PutResult>> + Send + 'static {
        self.put_messages(vec![msg]).map(|r| {
            r.and_then(|mut v| v.pop().ok_or(StoreError::NotAvailable("empty put result")))
        })
    }

    /// [`put_message`](Self::put_message) for a message whose properties are already in
    /// their wire encoding (`properties`; `msg.properties` is ignored): the send path stores
    /// what a producer sent without decoding it into a map and encoding the map again.
    pub(crate) fn put_message_encoded(
        &self,
        msg: MessageExt,
        properties: Vec<u8>,
    ) -> impl Future<Output = Result<PutResult>> + Send + 'static {
        self.put_request(vec![msg], Encoded::One(properties))
            .map(|r| {
                r.and_then(|mut v| v.pop().ok_or(StoreError::NotAvailable("empty put result")))
            })
    }

    /// Stores a batch (SEND_BATCH_MESSAGE): one record per message, consecutive commit-log
    /// records and queue offsets; all or nothing. The `WAIT` property of the first message
    /// decides whether the batch waits for a sync flush.
    pub fn put_messages(
        &self,
        msgs: Vec<MessageExt>,
    ) -> impl Future<Output = Result<Vec<PutResult>>> + Send + 'static {
        self.put_request(msgs, Encoded::None)
    }

    /// [`put_messages`](Self::put_messages) for a batch whose messages' properties are
    /// `properties[k]` in their wire encoding where that is `Some` (`msgs[k].properties` is
    /// then ignored), else their maps: a batch entry's properties are stored as they came.
    pub(crate) fn put_messages_encoded(
        &self,
        msgs: Vec<MessageExt>,
        properties: Vec<Option<Bytes>>,
    ) -> impl Future<Output = Result<Vec<PutResult>>> + Send + 'static {
        self.put_request(msgs, Encoded::Each(properties))
    }

    fn put_request(
        &self,
        msgs: Vec<MessageExt>,
        encoded: Encoded,
    ) -> impl Future<Output = Result<Vec<PutResult>>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        if let Some(m) = msgs
            .iter()
            .find(|m| !consume_queue::is_safe_topic_dir(&m.topic))
        {
            let _ = reply.send(Err(StoreError::MessageIllegal(format!(
                "topic {:?} is not a legal topic name",
                m.topic
            ))));
        } else {
            self.send(Request::Put {
                msgs,
                encoded,
                reply,
            });
        }
        // The writer is an OS thread: a virtual clock must not move on while it works.
        let busy = self.inner.shared.cfg.clock.busy();
        rx.map(move |r| {
            drop(busy);
            r.unwrap_or(Err(StoreError::NotAvailable("store is shut down")))
        })
    }

    /// Reads messages of a queue (Java `DefaultMessageStore.getMessage` rules). At most
    /// `min(max_count, cfg.max_transfer_count)` messages and about
    /// `min(max_bytes, cfg.max_transfer_bytes)` bytes (the first message always fits) are
    /// returned. `filter` gets each entry's tag code; entries it rejects are skipped but
    /// still advance `next_begin_offset`. Blocking.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        filter: Option<&dyn Fn(i64) -> bool>,
    ) -> Result<GetResult> {
        self.get_messages_filtered(topic, queue_id, offset, max_count, max_bytes, filter, None)
    }

    /// [`get_messages`](Self::get_messages) with a second filter on each message's raw
    /// properties section (SQL92 subscriptions), applied after the tag-code filter, as Apache's
    /// commit-log stage: rejected messages are skipped but advance `next_begin_offset`, and
    /// only accepted ones count towards the count and byte limits. Each candidate is read on
    /// its own then (one read per message instead of one per run). Blocking.
    #[allow(clippy::too_many_arguments)]
    pub fn get_messages_filtered(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        filter: Option<&dyn Fn(i64) -> bool>,
        properties_filter: Option<&PropertiesFilter<'_>>,
    ) -> Result<GetResult> {
        let s = self.shared();
        // Records already read (and accepted) by `properties_filter`, and their sizes.
        let mut checked = bytes::BytesMut::new();
        let mut checked_sizes: Vec<usize> = Vec::new();
        let mut r = GetResult {
            status: GetStatus::NoMatchedLogicQueue,
            next_begin_offset: 0,
            min_offset: 0,
            max_offset: 0,
            messages: Vec::new(),
            total_bytes: 0,
            body: Bytes::new(),
        };
        let Some(cq) = s.queue(topic, queue_id) else {
            return Ok(r);
        };
        let min = cq.min_offset();
        let max = cq.max_offset();
        r.min_offset = min;
        r.max_offset = max;
        if max == 0 {
            r.status = GetStatus::NoMessageInQueue;
            return Ok(r);
        }
        if offset < min {
            r.status = GetStatus::OffsetTooSmall;
            r.next_begin_offset = min;
            return Ok(r);
        }
        if offset == max {
            r.status = GetStatus::OffsetOverflowOne;
            r.next_begin_offset = offset;
            return Ok(r);
        }
        if offset > max {
            r.status = GetStatus::OffsetOverflowBadly;
            // Java 4.9.x+/5.x; older 4.x answered minOffset when minOffset == 0.
            r.next_begin_offset = max;
            return Ok(r);
        }
        // Java scans at most max(16000, maxMsgNums * 20) *bytes* of consume queue per pull.
        let scan = 16_000usize.max(max_count.saturating_mul(CQ_UNIT)) / CQ_UNIT;
        let max_count = max_count.clamp(1, s.cfg.max_transfer_count);
        let max_bytes = max_bytes.clamp(1, s.cfg.max_transfer_bytes);
        // Entries are read in growing chunks (never past `offset`'s file, like one Java
        // `getIndexBuffer`) because the scan limit is far above what an unfiltered pull uses.
        let first_chunk = scan.min(max_count.saturating_mul(2).max(16));
        let Some(mut entries) = cq.entries_from(offset, first_chunk)? else {
            r.status = GetStatus::OffsetFoundNull;
            r.next_begin_offset = cq.roll_next_file(offset);
            return Ok(r);
        };
        let file_end = cq.roll_next_file(offset);
        r.status = GetStatus::NoMatchedMessage;
        let mut next_phy_file_start = i64::MIN;
        let mut scanned = 0usize;
        // Pick the records first (sizes are known from the entries), then read them straight
        // into one buffer: one positional read per run of adjacent records, no per-record
        // allocation, and the PULL body is that buffer.
        let mut picked: Vec<(Arc<commit_log::Segment>, u64, usize)> = Vec::new();
        let mut k = 0usize;
        loop {
            if r.total_bytes > 0 && picked.len() >= max_count {
                break;
            }
            if k == entries.len() {
                let at = offset + k as i64;
                let want = (scan - k)
                    .min(k.max(16))
                    .min((file_end - at).max(0) as usize);
                if want == 0 {
                    break;
                }
                match cq.entries_from(at, want)? {
                    Some(more) if !more.is_empty() => entries.extend(more),
                    _ => break,
                }
            }
            let e = entries[k];
            k += 1;
            let full = r.total_bytes > 0
                && (picked.len() >= max_count
                    || r.total_bytes + e.size.max(0) as usize > max_bytes);
            if full {
                break;
            }
            scanned += 1;
            if !e.is_valid() || e.commit_log_offset < next_phy_file_start {
                continue;
            }
            if let Some(f) = filter {
                if !f(e.tag_code) {
                    continue;
                }
            }
            match s.log.locate(e.commit_log_offset, e.size as usize) {
                Some((seg, pos)) => {
                    if let Some(pf) = properties_filter {
                        let start = checked.len();
                        checked.resize(start + e.size as usize, 0);
                        let rec = &mut checked[start..];
                        commit_log::read_exact_into(&seg.file, rec, pos, &seg.path)?;
                        let accepted = match inspect(rec, usize::MAX, s.cfg.max_message_size, false)
                        {
                            Slot::Record(v) => pf(v.properties),
                            _ => false,
                        };
                        if !accepted {
                            checked.truncate(start);
                            continue;
                        }
                        checked_sizes.push(e.size as usize);
                    }
                    r.total_bytes += e.size as usize;
                    picked.push((seg, pos, e.size as usize));
                    r.status = GetStatus::Found;
                    next_phy_file_start = i64::MIN;
                }
                None => {
                    if r.total_bytes == 0 {
                        r.status = GetStatus::MessageWasRemoving;
                    }
                    next_phy_file_start = s.log.roll_next_file(e.commit_log_offset);
                }
            }
        }
        if !checked_sizes.is_empty() {
            let body = checked.freeze();
            let mut at = 0usize;
            r.messages = checked_sizes
                .iter()
                .map(|&len| {
                    at += len;
                    body.slice(at - len..at)
                })
                .collect();
            r.body = body;
        } else if !picked.is_empty() {
            // A pooled buffer: initialised already, so nothing is zero-filled before the read.
            let mut buf = s.read_bufs.take(r.total_bytes);
            let mut at = 0usize;
            let mut i = 0usize;
            while i < picked.len() {
                let (seg, pos, mut len) = (&picked[i].0, picked[i].1, picked[i].2);
                let mut j = i + 1;
                while j < picked.len()
                    && Arc::ptr_eq(&picked[j].0, seg)
                    && picked[j].1 == pos + len as u64
                {
                    len += picked[j].2;
                    j += 1;
                }
                commit_log::read_exact_into(&seg.file, &mut buf[at..at + len], pos, &seg.path)?;
                at += len;
                i = j;
            }
            let full = buf.freeze();
            let body = full.slice(..r.total_bytes);
            s.read_bufs.give_back(full);
            let mut at = 0usize;
            r.messages = picked
                .iter()
                .map(|&(_, _, len)| {
                    at += len;
                    body.slice(at - len..at)
                })
                .collect();
            r.body = body;
        }
        r.next_begin_offset = offset + scanned as i64;
        Ok(r)
    }

    /// Next queue offset to be written (0 if the queue does not exist).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.shared()
            .queue(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    }

    /// First retained queue offset (0 if the queue does not exist).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.shared()
            .queue(topic, queue_id)
            .map(|q| q.min_offset())
            .unwrap_or(0)
    }

    /// First queue offset whose message was stored at or after `ts_ms` (binary search over
    /// store timestamps); `max_offset` if every message is older, 0 for an unknown queue.
    /// Blocking.
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: i32, ts_ms: i64) -> Result<i64> {
        let s = self.shared();
        let Some(cq) = s.queue(topic, queue_id) else {
            return Ok(0);
        };
        let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = match cq.entry(mid)? {
                Some(e) => s.store_time_of(&e)?,
                None => None,
            };
            match t {
                Some(t) if t >= ts_ms => hi = mid,
                Some(_) => lo = mid + 1,
                // Unreadable entries (gone data) count as older.
                None => lo = mid + 1,
            }
        }
        Ok(lo)
    }

    /// Store time of the oldest retained message of a queue, `None` if there is none.
    /// Blocking.
    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>> {
        let s = self.shared();
        let Some(cq) = s.queue(topic, queue_id) else {
            return Ok(None);
        };
        match cq.entry(cq.min_offset())? {
            Some(e) => s.store_time_of(&e),
            None => Ok(None),
        }
    }

    /// Store time of the message at queue offset `offset`, `None` if there is none (admin
    /// stats: last-update and last-consumed times). Blocking.
    pub fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> Result<Option<i64>> {
        let s = self.shared();
        let Some(cq) = s.queue(topic, queue_id) else {
            return Ok(None);
        };
        if offset < cq.min_offset() || offset >= cq.max_offset() {
            return Ok(None);
        }
        match cq.entry(offset)? {
            Some(e) => s.store_time_of(&e),
            None => Ok(None),
        }
    }

    /// Store time of the first record of the commit log, `None` when it is empty (Apache
    /// `earliestMessageTimeStamp`). Blocking.
    pub fn earliest_message_time(&self) -> Result<Option<i64>> {
        let Some(mut b) = self.read_record(self.commit_log_min_offset())? else {
            return Ok(None);
        };
        let m =
            decode_message(&mut b, false, false).map_err(|e| StoreError::Decode(e.to_string()))?;
        Ok(Some(m.store_timestamp))
    }

    /// The raw record stored at `offset`, `None` if no record is visible there. Blocking.
    pub fn read_record(&self, offset: i64) -> Result<Option<Bytes>> {
        let s = self.shared();
        let Some(b) = s.read_record(offset)? else {
            return Ok(None);
        };
        match inspect(&b, usize::MAX, s.cfg.max_message_size, false) {
            Slot::Record(v) if v.physical_offset == offset => Ok(Some(b)),
            _ => Ok(None),
        }
    }

    /// Decodes the message stored at commit-log `offset` (VIEW_MESSAGE_BY_ID). Blocking.
    pub fn message_by_commit_offset(&self, offset: i64) -> Result<MessageExt> {
        let mut b = self
            .read_record(offset)?
            .ok_or(StoreError::NoSuchMessage(offset))?;
        decode_message(&mut b, true, false).map_err(|e| StoreError::Decode(e.to_string()))
    }

    /// Raw records of `topic` whose `KEYS` contain `key` (or whose `UNIQ_KEY` is `key`),
    /// stored within `[begin_ts, end_ts]`, newest first, at most `max` (QUERY_MESSAGE).
    /// Blocking.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ts: i64,
        end_ts: i64,
    ) -> Result<Vec<Bytes>> {
        let s = self.shared();
        let mut out = Vec::new();
        // Ask for extra candidates: hash collisions are filtered out below.
        for off in s
            .index
            .lookup(topic, key, max.saturating_mul(2).max(16), begin_ts, end_ts)?
        {
            if out.len() >= max {
                break;
            }
            let Some(b) = self.read_record(off)? else {
                continue;
            };
            let Slot::Record(v) = inspect(&b, usize::MAX, s.cfg.max_message_size, false) else {
                continue;
            };
            let matches = v.topic == topic
                && (v.property("UNIQ_KEY") == Some(key)
                    || v.property("KEYS")
                        .is_some_and(|k| k.split(' ').any(|t| t == key)));
            if matches {
                out.push(b.clone());
            }
        }
        Ok(out)
    }

    /// The newest raw record of `topic` whose `UNIQ_KEY` is `uniq_id`. Blocking.
    pub fn query_by_uniq_id(&self, topic: &str, uniq_id: &str) -> Result<Option<Bytes>> {
        let s = self.shared();
        for off in s.index.lookup(topic, uniq_id, 64, i64::MIN, i64::MAX)? {
            let Some(b) = self.read_record(off)? else {
                continue;
            };
            if let Slot::Record(v) = inspect(&b, usize::MAX, s.cfg.max_message_size, false) {
                if v.topic == topic && v.property("UNIQ_KEY") == Some(uniq_id) {
                    return Ok(Some(b.clone()));
                }
            }
        }
        Ok(None)
    }

    /// Installs the listener called after messages become visible (replaces any previous).
    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        *self.shared().listener.write_unpoisoned() = Some(l);
    }

    /// Queue ids of `topic` that have a consume queue, sorted.
    pub fn queue_ids(&self, topic: &str) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .shared()
            .queues_read()
            .get(topic)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Topics that have consume queues, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared().queues_read().keys().cloned().collect();
        v.sort_unstable();
        v
    }

    /// Deletes a topic's consume queues (its commit-log records stay until retention, but are
    /// no longer reachable by pulls). Queue offsets restart at 0 if the topic is written again.
    pub fn delete_topic(&self, topic: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        if consume_queue::is_safe_topic_dir(topic) {
            self.send(Request::DeleteTopic {
                topic: topic.to_string(),
                reply,
            });
        } else {
            let _ = reply.send(Err(StoreError::MessageIllegal(format!(
                "topic {topic:?} is not a legal topic name"
            ))));
        }
        rx.map(|r| r.unwrap_or(Err(StoreError::NotAvailable("store is shut down"))))
    }

    /// End of the commit log visible to readers (master offset for replication).
    pub fn commit_log_max_offset(&self) -> i64 {
        self.shared().log.max_offset()
    }

    /// Bytes of the commit log not yet dispatched to consume queues and the index (Apache's
    /// `dispatchBehindBytes`). Readers see the new commit-log end a moment before its records
    /// are in the consume queues; this is 0 once they all are.
    ///
    /// ```no_run
    /// # fn f(store: &rocketmq_rs_mini_broker::store::MessageStore) {
    /// while store.dispatch_behind_bytes() > 0 {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # }
    /// ```
    pub fn dispatch_behind_bytes(&self) -> i64 {
        let shared = self.shared();
        (shared.log.max_offset() - shared.dispatched.load(Ordering::Acquire)).max(0)
    }

    /// Start of the oldest commit-log segment.
    pub fn commit_log_min_offset(&self) -> i64 {
        self.shared().log.min_offset()
    }

    /// Raw commit-log bytes from `from` (replication, master side): whole records (and
    /// fillers) only, never past the end of `from`'s segment, about `max_bytes` (a single
    /// larger record is returned whole). Empty when `from` is at the end. Blocking.
    pub fn read_commit_log(&self, from: i64, max_bytes: usize) -> Result<Bytes> {
        let s = self.shared();
        let want = max_bytes.max(s.cfg.max_message_size);
        let raw = s.log.read_raw(from, want)?;
        let room = s
            .log
            .segment_for(from)
            .map(|seg| (seg.end() - from) as usize)
            .unwrap_or(0);
        let mut p = 0usize;
        while p < raw.len() {
            match inspect(&raw[p..], room - p, s.cfg.max_message_size, false) {
                Slot::Record(v) => {
                    let n = v.total_size as usize;
                    if p > 0 && p + n > max_bytes {
                        break;
                    }
                    p += n;
                }
                Slot::Blank(n) => {
                    p += n.min(raw.len() - p);
                    break;
                }
                _ => break,
            }
        }
        Ok(raw.slice(..p))
    }

    /// Appends bytes read from a master's [`read_commit_log`](Self::read_commit_log) at
    /// `at_offset`, which must equal [`commit_log_max_offset`](Self::commit_log_max_offset).
    /// Every record is validated (CRC, stored offset) before anything is written; records
    /// are then dispatched to consume queues and the index as usual. Resolves to the new end.
    pub fn append_commit_log_raw(
        &self,
        at_offset: i64,
        data: Bytes,
    ) -> impl Future<Output = Result<i64>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Raw {
            at: at_offset,
            data,
            reply,
        });
        let busy = self.inner.shared.cfg.clock.busy();
        rx.map(move |r| {
            drop(busy);
            r.unwrap_or(Err(StoreError::NotAvailable("store is shut down")))
        })
    }

    /// Fsyncs the commit log, consume queues and index and writes the checkpoint. Blocking.
    pub fn flush(&self) -> Result<()> {
        let s = self.shared();
        s.log.flush_to(s.log.max_offset())?;
        s.logic_flush(true);
        Ok(())
    }

    /// Counters for tests and metrics.
    pub fn stats(&self) -> StoreStats {
        let s = self.shared();
        StoreStats {
            commit_log_fsyncs: s.log.fsync_count(),
            commit_log_max_offset: s.log.max_offset(),
            commit_log_flushed_offset: s.log.flushed_offset(),
            consume_queue_fsyncs: s.cq_fsyncs.load(Ordering::Relaxed),
            consume_queue_dir_fsyncs: s.cq_dir_fsyncs.load(Ordering::Relaxed),
        }
    }

    /// Whether the store still accepts writes (false after a write failure).
    pub fn is_writable(&self) -> bool {
        self.shared().writable.load(Ordering::Acquire)
    }

    /// The retention settings in force.
    pub fn retention(&self) -> RetentionConfig {
        self.shared().retention.read_unpoisoned().clone()
    }

    /// Replaces the retention settings; the next retention pass uses them (Apache reads its
    /// `MessageStoreConfig` at every pass too). A new `clean_resource_interval` applies from
    /// the pass after the next.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let store = rocketmq_rs_mini_broker::store::MessageStore::open(
    /// #     rocketmq_rs_mini_broker::store::StoreConfig::new(dir.path())).unwrap();
    /// let mut r = store.retention();
    /// r.file_reserved_time = std::time::Duration::from_secs(48 * 3600);
    /// store.set_retention(r).unwrap();
    /// # store.shutdown();
    /// ```
    pub fn set_retention(&self, cfg: RetentionConfig) -> Result<()> {
        cfg.validate()?;
        if let Some(cap) = cfg.max_store_bytes {
            if cap < self.shared().cfg.commit_log_segment_size {
                return Err(StoreError::Config(
                    "max_store_bytes must hold at least one commit-log segment".into(),
                ));
            }
        }
        *self.shared().retention.write_unpoisoned() = cfg;
        Ok(())
    }

    /// Makes the next 20 retention passes delete expired commit-log segments whatever the
    /// hour and disk use (Apache `executeDeleteFilesManually`, admin request
    /// `DELETE_EXPIRED_COMMITLOG`), starting with one now.
    pub fn delete_expired_files_manually(&self) {
        self.shared().cleaner.request_manual();
    }

    /// Runs one retention pass now on the calling thread (what the `store-cleaner` thread does
    /// every `clean_resource_interval`) and says what it deleted. Blocking.
    pub fn clean_now(&self) -> Result<CleanReport> {
        retention::clean_pass(self.shared())
    }

    /// Disk use 0.0..=1.0 as retention measures it (the store's bytes over `max_store_bytes`,
    /// or the file system's use), `None` if unknown. Blocking (a `statvfs`).
    pub fn disk_used_ratio(&self) -> Option<f64> {
        retention::used_ratio(self.shared())
    }

    /// Disk space the store's commit-log, consume-queue and index files occupy (allocated
    /// blocks, as `du` counts them): what `max_store_bytes` caps. Blocking (a `stat` per
    /// file).
    pub fn store_bytes(&self) -> u64 {
        retention::store_bytes(self.shared())
    }

    /// Whether puts are refused because the disk is full.
    pub fn is_disk_full(&self) -> bool {
        let s = self.shared();
        s.disk_full.load(Ordering::Acquire) || s.simulated_full.load(Ordering::Acquire)
    }

    /// For fault tests: while `on`, puts are refused with [`StoreError::DiskFull`] as on a
    /// full disk (replicated data is still taken, as Apache's slaves do); reads go on.
    pub fn simulate_disk_full(&self, on: bool) {
        self.shared().simulated_full.store(on, Ordering::Release);
    }

    /// Stops accepting writes, flushes everything, writes the checkpoint, joins the threads
    /// and marks the shutdown clean. Idempotent; later puts fail with `NotAvailable`.
    /// Blocking.
    pub fn shutdown(&self) {
        self.inner.stop(false);
    }

    /// Stops the threads **without** flushing consume queues, the index or the checkpoint and
    /// leaves the store marked as crashed, like `kill -9` right after the last write (data
    /// written so far stays in the OS page cache). Sync-flush puts already acknowledged are
    /// durable as usual. For crash-recovery tests.
    #[doc(hidden)]
    pub fn simulate_crash(&self) {
        self.inner.stop(true);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| StoreError::io("spawn store thread", PathBuf::from(name), e))
}
