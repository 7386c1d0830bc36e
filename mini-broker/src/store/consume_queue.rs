//! Consume queues: per (topic, queue id) an array of fixed 20-byte entries
//! (commit-log offset i64, record size i32, tag hash i64; big-endian), indexed by logical queue
//! offset, stored in segment files of `entries_per_file` entries named by their 20-digit start
//! byte offset under `consumequeue/<topic>/<queueId>/`.
//!
//! Only the writer thread appends. A reader sees an entry once [`ConsumeQueue::max_offset`]
//! covers it; the writer publishes it after the entry's bytes (and the record they point to)
//! are in place.
//!
//! New entries go to an in-memory tail first (Apache appends them to a mapped file: a memory
//! store, no system call). The tail is written to the queue's file with one positional write
//! once it holds a page of entries, and by the logic flusher before it fsyncs the queue, so
//! the writer thread issues one write per ~200 entries of a queue instead of one per entry
//! (with thousands of queues, each batch touched as many files, each write updating that
//! file's modification time), and a queue's first file is mostly created by the flusher.
//! Readers find entries below the tail's start in the files and the rest in the tail. An
//! entry still in the tail is not durable, like one written but not fsynced: the checkpoint
//! never passes it and recovery rebuilds it from the commit log after a crash.
//!
//! Durability is lazy, as in Apache: the writer creates a queue's directory and files without
//! any fsync, and the logic flusher fsyncs a queue's files (and, the first time, the
//! directories holding them) only once at least `least_pages` 4 KiB pages of it are dirty or a
//! file is full, plus every queue at a thorough flush
//! ([`ConsumeQueue::prepare_flush`], [`ConsumeQueue::sync`]). A queue it skips reports the commit-log offset of its first
//! entry not yet durable, and the checkpoint's logic offset never passes the lowest of them,
//! so recovery re-dispatches every entry a power loss could have taken.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use rocketmq_rs_remoting::util::{MutexExt, RwLockExt};

use super::commit_log::{file_name, list_numbered, write_all_at};
use super::error::{Result, StoreError};
use super::persist::sync_dir;

/// Size of one consume-queue entry.
pub const CQ_UNIT: usize = 20;

/// Page size the least-pages rule counts in (Apache `OS_PAGE_SIZE`).
const PAGE: i64 = 4096;

/// The writer thread writes a queue's tail out once another entry would take it past this
/// (one page of entries per write; also the tail's allocation, so thousands of queues with
/// a few entries each hold a few MiB).
const TAIL_BYTES: usize = PAGE as usize;

/// [`ConsumeQueue::pending_dirs`] bit: a file was created in the queue's directory.
const DIR_QUEUE: u8 = 1;
/// [`ConsumeQueue::pending_dirs`] bit: the queue's directory (and maybe its topic's) was
/// created.
const DIR_PARENTS: u8 = 2;

/// What [`ConsumeQueue::prepare_flush`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushStep {
    /// Every published entry is durable.
    Clean,
    /// Not due: the commit-log offset of the first entry left without an fsync.
    Pending(i64),
    /// Due: entries `from..to` are written, for [`ConsumeQueue::sync`].
    Due { from: i64, to: i64 },
}

/// The fsyncs of a flush pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueueFlush {
    /// File fsyncs issued.
    pub file_fsyncs: u32,
    /// Directory fsyncs issued.
    pub dir_fsyncs: u32,
}

/// Commit-log offset of a filler entry written over a gap (never produced in normal
/// operation; readers skip it).
const NULL_PHYS: i64 = -1;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    /// Commit-log offset of the record.
    pub commit_log_offset: i64,
    /// Size of the record in bytes.
    pub size: i32,
    /// Tag hash code (delivery timestamp for `SCHEDULE_TOPIC_XXXX`).
    pub tag_code: i64,
}

impl CqEntry {
    fn encode(&self) -> [u8; CQ_UNIT] {
        let mut b = [0u8; CQ_UNIT];
        b[..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tag_code.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> CqEntry {
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        CqEntry {
            commit_log_offset: i64::from_be_bytes(o),
            size: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            tag_code: i64::from_be_bytes(t),
        }
    }

    /// Whether the entry points at a record (gap fillers do not).
    pub fn is_valid(&self) -> bool {
        self.commit_log_offset >= 0 && self.size > 0
    }
}

#[derive(Debug)]
struct CqFile {
    /// Logical start, in entries.
    start: i64,
    file: File,
    path: PathBuf,
}

/// Entries published but not yet written to the queue's files.
#[derive(Debug, Default)]
struct Tail {
    /// Queue offset of the first entry in `buf`; every entry below it is in the files.
    base: i64,
    /// Encoded entries `base..base + buf.len() / CQ_UNIT`.
    buf: Vec<u8>,
    /// After a failed write-out the writer tries again only once the tail has grown past
    /// this (a full disk must not cost a failing write per appended entry).
    retry_at: usize,
}

/// One consume queue.
#[derive(Debug)]
pub(crate) struct ConsumeQueue {
    pub topic: String,
    pub queue_id: i32,
    dir: PathBuf,
    per_file: i64,
    files: RwLock<Vec<Arc<CqFile>>>,
    /// Held while entries move from the tail to the files, and while the files are created
    /// (so that two write-outs can never both create, and truncate, the same file).
    tail: std::sync::Mutex<Tail>,
    max_offset: AtomicI64,
    /// Entries below this are durable (files fsynced, directory entries too).
    flushed: AtomicI64,
    /// [`DIR_QUEUE`] | [`DIR_PARENTS`]: directories whose new entries are not fsynced yet. Set
    /// by the writer before it publishes entries in a new file, taken by the flusher.
    pending_dirs: AtomicU8,
    /// The flusher's memo of the first not-durable entry: `(flushed, its commit-log offset)`,
    /// so a queue skipped pass after pass is read once, not once per pass. Flusher only.
    pending_memo: std::sync::Mutex<Option<(i64, i64)>>,
    /// First entry still pointing into the commit log (retention moves it forward; the first
    /// file's start may lie below it).
    min_logic: AtomicI64,
}

impl ConsumeQueue {
    /// Opens the queue stored in `dir` (which may not exist yet) and finds its end.
    pub fn open(dir: PathBuf, topic: &str, queue_id: i32, per_file: u64) -> Result<Self> {
        let per_file = per_file as i64;
        let mut files = Vec::new();
        for (start_bytes, path) in list_numbered(&dir)? {
            if start_bytes % (per_file * CQ_UNIT as i64) != 0 {
                return Err(StoreError::Corrupt(format!(
                    "consume-queue file {} does not match the configured file size",
                    path.display()
                )));
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io("open consume-queue file", &path, e))?;
            files.push(Arc::new(CqFile {
                start: start_bytes / CQ_UNIT as i64,
                file,
                path,
            }));
        }
        let q = ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            dir,
            per_file,
            files: RwLock::new(files),
            tail: std::sync::Mutex::new(Tail::default()),
            max_offset: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
            pending_dirs: AtomicU8::new(0),
            pending_memo: std::sync::Mutex::new(None),
            min_logic: AtomicI64::new(0),
        };
        let end = q.scan_end()?;
        q.tail.lock_unpoisoned().base = end;
        q.max_offset.store(end, Ordering::Release);
        q.flushed.store(end, Ordering::Release);
        Ok(q)
    }

    fn files(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<CqFile>>> {
        self.files.read_unpoisoned()
    }

    /// Finds the first all-zero entry of the last file.
    fn scan_end(&self) -> Result<i64> {
        let Some(last) = self.files().last().cloned() else {
            return Ok(0);
        };
        let mut buf = vec![0u8; 3200 * CQ_UNIT];
        let mut idx = 0i64;
        while idx < self.per_file {
            let want = ((self.per_file - idx) as usize * CQ_UNIT).min(buf.len());
            let n = read_up_to(&last.file, &mut buf[..want], idx as u64 * CQ_UNIT as u64)
                .map_err(|e| StoreError::io("read consume queue", &last.path, e))?;
            let whole = n / CQ_UNIT;
            for i in 0..whole {
                if buf[i * CQ_UNIT..(i + 1) * CQ_UNIT].iter().all(|b| *b == 0) {
                    return Ok(last.start + idx + i as i64);
                }
            }
            if whole * CQ_UNIT < want {
                return Ok(last.start + idx + whole as i64);
            }
            idx += whole as i64;
        }
        Ok(last.start + self.per_file)
    }

    /// Number of entries ever written (next queue offset).
    pub fn max_offset(&self) -> i64 {
        self.max_offset.load(Ordering::Acquire)
    }

    /// First retained queue offset: the first file's start, or past entries whose records
    /// retention deleted ([`correct_min_offset`](Self::correct_min_offset)).
    pub fn min_offset(&self) -> i64 {
        self.files()
            .first()
            .map(|f| f.start)
            .unwrap_or(0)
            .max(self.min_logic.load(Ordering::Acquire))
            .min(self.max_offset())
    }

    /// Disk space of the queue's files (allocated blocks).
    pub fn allocated_bytes(&self) -> u64 {
        self.files()
            .iter()
            .map(|f| super::retention::allocated(&f.file))
            .sum()
    }

    /// Deletes files, oldest first and never the last, whose last entry points below
    /// `log_min` (their records are all gone; Apache `deleteExpiredFileByOffset`). Returns the
    /// number deleted.
    pub fn delete_files_below(&self, log_min: i64) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let first = {
                let files = self.files();
                if files.len() < 2 {
                    break;
                }
                files[0].clone()
            };
            let mut b = [0u8; CQ_UNIT];
            first
                .file
                .read_exact_at(&mut b, (self.per_file as u64 - 1) * CQ_UNIT as u64)
                .map_err(|e| StoreError::io("read consume queue", &first.path, e))?;
            if CqEntry::decode(&b).commit_log_offset >= log_min {
                break;
            }
            let expected = self.dir.join(file_name(first.start * CQ_UNIT as i64));
            if first.path != expected {
                return Err(StoreError::Corrupt(format!(
                    "refusing to delete {}: not a consume-queue file of {}",
                    first.path.display(),
                    self.dir.display()
                )));
            }
            {
                let mut files = self.files.write_unpoisoned();
                // The writer may have replaced the list (topic deleted) meanwhile.
                match files.first() {
                    Some(f) if Arc::ptr_eq(f, &first) && files.len() > 1 => {
                        files.remove(0);
                    }
                    _ => break,
                }
            }
            self.min_logic
                .fetch_max(first.start + self.per_file, Ordering::AcqRel);
            match fs::remove_file(&first.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("delete consume-queue file", &first.path, e)),
            }
            deleted += 1;
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Moves the minimum offset to the first entry that points at or past `log_min` (or to
    /// the end when none does; Apache `correctMinOffset`). Entries' commit-log offsets grow
    /// with the queue offset, so this is a binary search (after a crash between the
    /// commit-log and consume-queue deletions, whole files may lie below).
    pub fn correct_min_offset(&self, log_min: i64) -> Result<()> {
        let max = self.max_offset();
        let mut lo = self.min_offset();
        // The common case, checked with one read: nothing below the log's start. Retention
        // calls this for every queue at every pass; a full search cost ~log2(entries) reads
        // per queue, 40 000 reads a pass with 8000 queues.
        if lo >= max {
            return Ok(());
        }
        if let Some(e) = self.entry(lo)? {
            if e.is_valid() && e.commit_log_offset >= log_min {
                return Ok(());
            }
        }
        // Entries' commit-log offsets grow with the queue offset: the first one at or past
        // `log_min` is found by bisection (through `entry`, which also sees the tail; a file
        // gone meanwhile counts as below).
        let mut hi = max;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid)? {
                Some(e) if e.commit_log_offset >= log_min => hi = mid,
                _ => lo = mid + 1,
            }
        }
        let before = self.min_offset();
        self.min_logic.fetch_max(lo, Ordering::AcqRel);
        if lo > before {
            tracing::info!(topic = %self.topic, queue_id = self.queue_id, from = before, to = lo,
                "consume-queue minimum offset moved past deleted commit-log data");
        }
        Ok(())
    }

    fn file_for(&self, q: i64) -> Option<Arc<CqFile>> {
        let start = q - q.rem_euclid(self.per_file);
        let files = self.files();
        let i = files.partition_point(|f| f.start < start);
        files.get(i).filter(|f| f.start == start).cloned()
    }

    fn file_for_write(&self, q: i64) -> Result<Arc<CqFile>> {
        if let Some(f) = self.file_for(q) {
            return Ok(f);
        }
        let start = q - q.rem_euclid(self.per_file);
        // No directory fsync here: on the writer's path it cost a journal commit per new
        // queue (8000 on the first pass over 1000 topics × 8 queues). The flusher syncs the
        // directories before it counts the file's entries as durable.
        let first = self.files().is_empty();
        fs::create_dir_all(&self.dir)
            .map_err(|e| StoreError::io("create consume-queue directory", &self.dir, e))?;
        let path = self.dir.join(file_name(start * CQ_UNIT as i64));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StoreError::io("create consume-queue file", &path, e))?;
        file.set_len(self.per_file as u64 * CQ_UNIT as u64)
            .map_err(|e| StoreError::io("size consume-queue file", &path, e))?;
        let dirs = if first {
            DIR_QUEUE | DIR_PARENTS
        } else {
            DIR_QUEUE
        };
        // Before any entry of the file is published (the flusher reads `max_offset` first).
        self.pending_dirs.fetch_or(dirs, Ordering::AcqRel);
        let f = Arc::new(CqFile { start, file, path });
        let mut files = self.files.write_unpoisoned();
        let i = files.partition_point(|x| x.start < start);
        files.insert(i, f.clone());
        Ok(f)
    }

    /// Appends the entries for queue offsets `first..first + entries.len()` to the tail and
    /// publishes them. Offsets below the current end are skipped (recovery re-dispatches
    /// records already present); a gap before `first` is filled with null entries so offsets
    /// stay positional. Once the tail holds a page it is written out (a failed write-out is
    /// logged and retried later: the entries stay readable in the tail, and the flusher
    /// reports the failure). Writer thread only.
    pub fn append(&self, first: i64, entries: &[CqEntry]) -> Result<()> {
        super::fault::check_logic_write()
            .map_err(|e| StoreError::io("write consume queue", &self.dir, e))?;
        let max = self.max_offset();
        let skip = (max - first).clamp(0, entries.len() as i64) as usize;
        let entries = &entries[skip..];
        if entries.is_empty() {
            return Ok(());
        }
        let q = first + skip as i64;
        let mut t = self.tail.lock_unpoisoned();
        if t.buf.capacity() == 0 {
            t.buf.reserve_exact(TAIL_BYTES);
        }
        if q > max {
            tracing::error!(topic = %self.topic, queue_id = self.queue_id, expected = max, got = q,
                "consume-queue gap; filling with null entries");
            let null = CqEntry {
                commit_log_offset: NULL_PHYS,
                size: 0,
                tag_code: 0,
            };
            for _ in max..q {
                t.buf.extend_from_slice(&null.encode());
            }
        }
        for e in entries {
            t.buf.extend_from_slice(&e.encode());
        }
        self.max_offset
            .store(q + entries.len() as i64, Ordering::Release);
        if t.buf.len() + CQ_UNIT > TAIL_BYTES && t.buf.len() >= t.retry_at {
            if let Err(e) = self.write_tail(&mut t) {
                tracing::warn!(error = %e, topic = %self.topic, queue_id = self.queue_id,
                    "consume-queue write-out failed; entries stay in memory");
                t.retry_at = t.buf.len() + TAIL_BYTES;
            }
        }
        Ok(())
    }

    /// Writes the tail to the files (one positional write per file touched), creating files
    /// as needed. Caller holds the tail lock.
    fn write_tail(&self, t: &mut Tail) -> Result<()> {
        let mut done = 0usize;
        let res = (|| {
            while done < t.buf.len() {
                super::fault::check_logic_write()
                    .map_err(|e| StoreError::io("write consume queue", &self.dir, e))?;
                let q = t.base + (done / CQ_UNIT) as i64;
                let f = self.file_for_write(q)?;
                let room = (f.start + self.per_file - q) as usize * CQ_UNIT;
                let n = room.min(t.buf.len() - done);
                let pos = (q - f.start) as u64 * CQ_UNIT as u64;
                write_all_at(&f.file, &t.buf[done..done + n], pos, &f.path)?;
                done += n;
            }
            Ok(())
        })();
        // What reached the files leaves the tail, even when a later file failed.
        t.base += (done / CQ_UNIT) as i64;
        t.buf.drain(..done);
        if t.buf.is_empty() {
            t.retry_at = 0;
            if t.buf.capacity() > 4 * TAIL_BYTES {
                // A large run (a batch into one queue) grew it: back to the usual size.
                t.buf = Vec::with_capacity(TAIL_BYTES);
            }
        }
        res
    }

    /// Writes every entry appended so far to the files (not fsynced). Blocking.
    pub fn write_out(&self) -> Result<()> {
        let mut t = self.tail.lock_unpoisoned();
        if t.buf.is_empty() {
            return Ok(());
        }
        self.write_tail(&mut t)
    }

    /// Reads one entry; `None` outside `[min, max)` or if its file is gone.
    pub fn entry(&self, q: i64) -> Result<Option<CqEntry>> {
        if q < 0 || q >= self.max_offset() {
            return Ok(None);
        }
        Ok(self
            .entries_from(q, 1)?
            .and_then(|es| es.into_iter().next()))
    }

    /// Reads up to `max` (at least one) entries from `q`, never past the end of `q`'s file
    /// nor the visible end (Java `getIndexBuffer`), nor from the files into the tail (a
    /// caller wanting more asks again from where this ended). `None` if `q`'s file does not
    /// exist.
    pub fn entries_from(&self, q: i64, max: usize) -> Result<Option<Vec<CqEntry>>> {
        let end = self.max_offset();
        if q < 0 || q >= end {
            return Ok(None);
        }
        let max = max.max(1) as i64;
        let file_end = self.roll_next_file(q);
        let written = {
            let t = self.tail.lock_unpoisoned();
            if q >= t.base {
                // In the tail: copied out under the lock (a write-out may move it).
                let n = (end.min(file_end) - q).min(max).max(0) as usize;
                // Bounded by the tail too: a truncation may have shortened it since `end`.
                let from = ((q - t.base) as usize * CQ_UNIT).min(t.buf.len());
                let to = (from + n * CQ_UNIT).min(t.buf.len());
                if from == to {
                    return Ok(None);
                }
                return Ok(Some(
                    t.buf[from..to]
                        .chunks_exact(CQ_UNIT)
                        .map(CqEntry::decode)
                        .collect(),
                ));
            }
            t.base
        };
        // Below the tail's start: in the files, which the tail never moves back over.
        let Some(f) = self.file_for(q) else {
            return Ok(None);
        };
        let n = (end.min(file_end).min(written) - q).min(max) as usize;
        let mut buf = vec![0u8; n * CQ_UNIT];
        f.file
            .read_exact_at(&mut buf, (q - f.start) as u64 * CQ_UNIT as u64)
            .map_err(|e| StoreError::io("read consume queue", &f.path, e))?;
        Ok(Some(
            buf.chunks_exact(CQ_UNIT).map(CqEntry::decode).collect(),
        ))
    }

    /// Logical start of the file after the one holding `q` (Java `rollNextFile`).
    pub fn roll_next_file(&self, q: i64) -> i64 {
        q - q.rem_euclid(self.per_file) + self.per_file
    }

    /// First step of a flush: whether the queue is due, that is at least `least_pages` 4 KiB
    /// pages appended since the last flush, or the file holding the first unflushed entry
    /// full, or `least_pages == 0` and anything new (Apache `flushConsumeQueueLeastPages` and
    /// `MappedFile.isAbleToFlush`). Due: its tail is written out (creating files and
    /// directories) and the entries to make durable are returned, for
    /// [`sync`](Self::sync). Not due: says where the first not-durable entry points, which
    /// the checkpoint must not pass.
    ///
    /// A flush pass writes every due queue out before it syncs any: a directory is fsynced
    /// once per pass, which covers the entries of every queue only if none is created in it
    /// after that fsync.
    pub fn prepare_flush(&self, least_pages: u32) -> Result<FlushStep> {
        let from = self.flushed.load(Ordering::Acquire);
        let to = self.max_offset();
        if to <= from {
            return Ok(FlushStep::Clean);
        }
        if !self.due(from, to, least_pages) {
            return Ok(match self.first_pending_phys(from, to)? {
                Some(phys) => FlushStep::Pending(phys),
                None => FlushStep::Clean,
            });
        }
        // Entries below `to` go to the files now (the writer may add more meanwhile; they
        // are not claimed), so their files' `pending_dirs` bits are set before `sync` swaps
        // them.
        self.write_out()?;
        Ok(FlushStep::Due { from, to })
    }

    /// Second step of a flush of a due queue: fsyncs the directories given new entries since
    /// the last flush (the queue's, and for a new queue its topic's and the root's; each once
    /// per pass through `synced`), then the files holding `from..to`, and counts those
    /// entries as durable.
    pub fn sync(
        &self,
        from: i64,
        to: i64,
        synced: &mut HashSet<PathBuf>,
        done: &mut QueueFlush,
    ) -> Result<()> {
        let dirs = self.pending_dirs.swap(0, Ordering::AcqRel);
        if let Err(e) = self.sync_dirs(dirs, synced, done) {
            self.pending_dirs.fetch_or(dirs, Ordering::AcqRel);
            return Err(e);
        }
        for f in self.files().iter() {
            if f.start + self.per_file > from && f.start < to {
                super::fault::before_cq_file_fsync(&f.path, &f.file);
                f.file
                    .sync_data()
                    .map_err(|e| StoreError::io("fsync consume queue", &f.path, e))?;
                done.file_fsyncs += 1;
            }
        }
        self.flushed.fetch_max(to, Ordering::AcqRel);
        Ok(())
    }

    fn due(&self, from: i64, to: i64, least_pages: u32) -> bool {
        if least_pages == 0 {
            return true;
        }
        let file_start = from - from.rem_euclid(self.per_file);
        if to >= file_start + self.per_file {
            return true;
        }
        let page = |q: i64| (q - file_start) * CQ_UNIT as i64 / PAGE;
        page(to) - page(from) >= least_pages as i64
    }

    /// Commit-log offset of the first valid entry in `from..to` (gap fillers point nowhere and
    /// are rebuilt with the entry after them), from the memo when `from` has not moved.
    fn first_pending_phys(&self, from: i64, to: i64) -> Result<Option<i64>> {
        let mut memo = self.pending_memo.lock_unpoisoned();
        if let Some((at, phys)) = *memo {
            if at == from {
                return Ok(Some(phys));
            }
        }
        let mut q = from;
        while q < to {
            let Some(es) = self.entries_from(q, 64)? else {
                break;
            };
            if es.is_empty() {
                break;
            }
            if let Some(e) = es.iter().find(|e| e.is_valid()) {
                *memo = Some((from, e.commit_log_offset));
                return Ok(Some(e.commit_log_offset));
            }
            q += es.len() as i64;
        }
        Ok(None)
    }

    fn sync_dirs(
        &self,
        dirs: u8,
        synced: &mut HashSet<PathBuf>,
        done: &mut QueueFlush,
    ) -> Result<()> {
        let mut todo: Vec<&Path> = Vec::with_capacity(3);
        if dirs & (DIR_QUEUE | DIR_PARENTS) != 0 {
            todo.push(&self.dir);
        }
        if dirs & DIR_PARENTS != 0 {
            // The topic's directory, then the consume-queue root (it may be new too).
            todo.extend(self.dir.parent());
            todo.extend(self.dir.parent().and_then(Path::parent));
        }
        for d in todo {
            if synced.contains(d) {
                continue;
            }
            super::fault::before_cq_dir_fsync(d);
            match sync_dir(d) {
                Ok(()) => {}
                // Deleted meanwhile (topic deleted): nothing in it needs to be durable.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            done.dir_fsyncs += 1;
            synced.insert(d.to_path_buf());
        }
        Ok(())
    }

    /// Counts every entry as not durable, directories included (after an unclean stop: the
    /// files hold what the crashed process left in the page cache, which no fsync covered).
    pub fn forget_flushed(&self) {
        self.flushed.store(self.min_offset(), Ordering::Release);
        self.pending_dirs
            .fetch_or(DIR_QUEUE | DIR_PARENTS, Ordering::AcqRel);
    }

    /// Drops trailing entries that point at or past `commit_log_end` (or are not valid), as
    /// recovery must after cutting the commit log. Returns the new end.
    pub fn truncate_dirty(&self, commit_log_end: i64) -> Result<i64> {
        let mut end = self.max_offset();
        let min = self.min_offset();
        while end > min {
            match self.entry(end - 1)? {
                Some(e)
                    if e.is_valid() && e.commit_log_offset + e.size as i64 <= commit_log_end =>
                {
                    break
                }
                _ => end -= 1,
            }
        }
        self.truncate_to(end)?;
        Ok(end)
    }

    /// Removes entries `>= end`: zeroes them and deletes files that start at or after `end`.
    pub fn truncate_to(&self, end: i64) -> Result<()> {
        let old = self.max_offset();
        if end >= old {
            return Ok(());
        }
        self.flushed.store(
            self.flushed.load(Ordering::Acquire).min(end),
            Ordering::Release,
        );
        // Not while holding the tail: the flusher takes the memo, then the tail.
        *self.pending_memo.lock_unpoisoned() = None;
        let mut t = self.tail.lock_unpoisoned();
        self.max_offset.store(end, Ordering::Release);
        if end >= t.base {
            // Only tail entries go: the files hold nothing at or past `t.base`.
            let keep = (end - t.base) as usize * CQ_UNIT;
            t.buf.truncate(keep);
            return Ok(());
        }
        t.buf.clear();
        t.base = end;
        let mut files = self.files.write_unpoisoned();
        while files.last().is_some_and(|f| f.start >= end && f.start > 0) {
            let f = files.pop().expect("non-empty");
            fs::remove_file(&f.path)
                .map_err(|e| StoreError::io("delete consume-queue file", &f.path, e))?;
        }
        if let Some(f) = files.last() {
            if end < f.start + self.per_file {
                let pos = ((end - f.start).max(0)) as u64 * CQ_UNIT as u64;
                let len = self.per_file as u64 * CQ_UNIT as u64;
                f.file
                    .set_len(pos)
                    .and_then(|_| f.file.set_len(len))
                    .and_then(|_| f.file.sync_all())
                    .map_err(|e| StoreError::io("truncate consume queue", &f.path, e))?;
            }
        }
        Ok(())
    }

    /// Deletes the queue's directory.
    pub fn destroy(&self) -> Result<()> {
        let mut t = self.tail.lock_unpoisoned();
        t.buf = Vec::new();
        t.base = 0;
        let mut files = self.files.write_unpoisoned();
        files.clear();
        self.max_offset.store(0, Ordering::Release);
        self.min_logic.store(0, Ordering::Release);
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("delete consume queue", &self.dir, e)),
        }
    }
}

/// Reads as many bytes as available (short at end of file).
fn read_up_to(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Directory of a queue under the consume-queue root. Callers check the topic with
/// [`is_safe_topic_dir`] first: the topic becomes a path component.
pub(crate) fn queue_dir(root: &Path, topic: &str, queue_id: i32) -> PathBuf {
    debug_assert!(is_safe_topic_dir(topic));
    root.join(topic).join(queue_id.to_string())
}

/// Whether `topic` may be used as a directory name under the store root: a legal topic name
/// ([`rocketmq_rs_remoting::protocol::topic::validate_topic`]: `[%|a-zA-Z0-9_-]`, bounded
/// length), which has no `.`, `/` or NUL, so a topic can never name a path outside its own
/// directory. Every path built from a topic goes through this check: a fuzzed
/// DELETE_TOPIC_IN_BROKER with a `../` topic once removed a directory outside the store.
pub fn is_safe_topic_dir(topic: &str) -> bool {
    rocketmq_rs_remoting::protocol::topic::is_valid_topic(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(i: i64) -> CqEntry {
        CqEntry {
            commit_log_offset: i * 100,
            size: 100,
            tag_code: i,
        }
    }

    #[test]
    fn append_splits_at_file_ends_skips_written_and_fills_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 4).unwrap();
        // 0..10 spans three 4-entry files.
        let first: Vec<CqEntry> = (0..10).map(e).collect();
        q.append(0, &first).unwrap();
        assert_eq!(q.max_offset(), 10);
        // Re-dispatch of 8..12: 8 and 9 are kept, 10 and 11 appended.
        let again: Vec<CqEntry> = (8..12).map(|i| e(i + 1000)).collect();
        q.append(8, &again).unwrap();
        assert_eq!(q.max_offset(), 12);
        assert_eq!(q.entry(9).unwrap(), Some(e(9)));
        assert_eq!(q.entry(10).unwrap(), Some(e(1010)));
        // A gap before 14 is null-filled.
        q.append(14, &[e(14), e(15)]).unwrap();
        assert_eq!(q.max_offset(), 16);
        assert!(!q.entry(12).unwrap().unwrap().is_valid());
        assert_eq!(q.entry(15).unwrap(), Some(e(15)));
        let all = q.entries_from(0, 100).unwrap().unwrap();
        assert_eq!(all.len(), 4, "reads stop at the end of the first file");
        // Everything is still in the tail: no file yet.
        assert!(q.files().is_empty());
        q.write_out().unwrap();
        assert_eq!(q.files().len(), 4);
        assert_eq!(q.entries_from(4, 100).unwrap().unwrap().len(), 4);
        // Reopening finds the same end.
        drop(q);
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 4).unwrap();
        assert_eq!(q.max_offset(), 16);
        assert_eq!(q.entry(3).unwrap(), Some(e(3)));
        assert_eq!(q.entry(4).unwrap(), Some(e(4)));
    }

    #[test]
    fn reads_span_the_files_and_the_tail_and_a_lost_tail_leaves_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 1000).unwrap();
        q.append(0, &(0..5).map(e).collect::<Vec<_>>()).unwrap();
        q.write_out().unwrap();
        q.append(5, &(5..9).map(e).collect::<Vec<_>>()).unwrap();
        // A read from the files stops where the tail starts; the next one reads the tail.
        let a = q.entries_from(2, 100).unwrap().unwrap();
        assert_eq!(a, (2..5).map(e).collect::<Vec<_>>());
        let b = q.entries_from(5, 100).unwrap().unwrap();
        assert_eq!(b, (5..9).map(e).collect::<Vec<_>>());
        assert_eq!(q.entries_from(9, 100).unwrap(), None);
        // The tail's end can be cut (recovery) without touching the files.
        q.truncate_to(7).unwrap();
        assert_eq!(q.max_offset(), 7);
        assert_eq!(q.entries_from(5, 100).unwrap().unwrap().len(), 2);
        // A process gone before a write-out (a crash) leaves what was written: a prefix.
        drop(q);
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 1000).unwrap();
        assert_eq!(q.max_offset(), 5);
        q.append(5, &[e(50)]).unwrap();
        assert_eq!(q.entry(5).unwrap(), Some(e(50)));
        // A cut below the tail's start zeroes the files from there.
        q.truncate_to(3).unwrap();
        assert_eq!(q.max_offset(), 3);
        q.write_out().unwrap();
        drop(q);
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 1000).unwrap();
        assert_eq!(q.max_offset(), 3);
    }

    #[test]
    fn a_full_tail_is_written_by_the_appending_thread() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), "T", 0, 1000).unwrap();
        let per_page = (TAIL_BYTES / CQ_UNIT) as i64;
        for i in 0..per_page - 1 {
            q.append(i, &[e(i)]).unwrap();
        }
        assert!(
            q.files().is_empty(),
            "less than a page of entries stays in memory"
        );
        q.append(per_page - 1, &[e(per_page - 1)]).unwrap();
        assert_eq!(
            q.files().len(),
            1,
            "the one that fills the page writes it out"
        );
        let t = q.tail.lock_unpoisoned();
        assert_eq!(t.base, per_page);
        assert!(t.buf.is_empty());
    }
}
