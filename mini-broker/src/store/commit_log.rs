//! The commit log: one append-only byte log for all topics, split into preallocated segment
//! files named by their 20-digit start offset.
//!
//! Only the writer thread appends; readers use positional reads on shared file handles and
//! never see bytes past [`CommitLog::max_offset`], which the writer publishes after a batch is
//! written and dispatched.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};

use rocketmq_rs_remoting::util::RwLockExt;

use super::error::{Result, StoreError};
use super::persist::sync_dir;

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub start: i64,
    pub len: u64,
    pub file: File,
    pub path: PathBuf,
    /// Wall time (ms, by the store's clock) of the last write since the store opened; 0 =
    /// none yet, the file's modification time tells. Retention ages segments by it, so on a
    /// virtual clock a segment is as old as virtual time says, not as its real mtime says.
    pub last_write_ms: AtomicI64,
}

impl Segment {
    pub fn end(&self) -> i64 {
        self.start + self.len as i64
    }

    /// Records a write at `now_ms`.
    pub fn touch(&self, now_ms: i64) {
        self.last_write_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

/// Formats a file name from an offset (20 digits, zero padded, like Java `UtilAll.offset2FileName`).
pub(crate) fn file_name(offset: i64) -> String {
    format!("{offset:020}")
}

/// Lists `dir` entries whose names are 20-digit offsets, sorted.
pub(crate) fn list_numbered(dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io("list directory", dir, e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| StoreError::io("list directory", dir, e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(off) = name.parse::<i64>() {
                out.push((off, ent.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes all of `buf` at `pos` of `file`.
pub(crate) fn write_all_at(file: &File, buf: &[u8], pos: u64, path: &Path) -> Result<()> {
    file.write_all_at(buf, pos)
        .map_err(|e| StoreError::io("write", path, e))
}

/// Reads exactly `len` bytes at `pos`.
pub(crate) fn read_exact_at(file: &File, len: usize, pos: u64, path: &Path) -> Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    file.read_exact_at(&mut buf, pos)
        .map_err(|e| StoreError::io("read", path, e))?;
    Ok(buf.freeze())
}

/// Fills `buf` from `pos`.
pub(crate) fn read_exact_into(file: &File, buf: &mut [u8], pos: u64, path: &Path) -> Result<()> {
    file.read_exact_at(buf, pos)
        .map_err(|e| StoreError::io("read", path, e))
}

/// The commit log.
#[derive(Debug)]
pub(crate) struct CommitLog {
    dir: PathBuf,
    segment_size: u64,
    pre_touch: bool,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// End of the data visible to readers.
    max_offset: AtomicI64,
    /// Everything below this offset has been fsynced.
    flushed: AtomicI64,
    fsyncs: AtomicU64,
}

impl CommitLog {
    /// Opens (or creates) the segment directory. Segments must be contiguous.
    pub fn open(dir: PathBuf, segment_size: u64, pre_touch: bool) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        let mut segments = Vec::new();
        let mut expect: Option<i64> = None;
        let numbered = list_numbered(&dir)?;
        let last_index = numbered.len().saturating_sub(1);
        for (i, (start, path)) in numbered.into_iter().enumerate() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io("open commit-log segment", &path, e))?;
            let len = file
                .metadata()
                .map_err(|e| StoreError::io("stat commit-log segment", &path, e))?
                .len();
            // A kill between creating the next segment and preallocating it leaves an empty
            // last file: it holds nothing yet and gets its size back below. An empty file
            // anywhere else means data is missing, so the store refuses to guess.
            if len == 0 && i != last_index {
                return Err(StoreError::Corrupt(format!(
                    "empty segment {}",
                    path.display()
                )));
            }
            if let Some(e) = expect {
                if e != start {
                    return Err(StoreError::Corrupt(format!(
                        "commit-log segments not contiguous: expected {e}, found {}",
                        path.display()
                    )));
                }
            }
            expect = Some(start + len as i64);
            segments.push((start, len, file, path));
        }
        // A last segment cut short (e.g. by hand or by a filesystem losing its size update)
        // gets its preallocated size back; recovery then finds its valid end.
        if let Some(last) = segments.last_mut() {
            if last.1 < segment_size {
                last.2
                    .set_len(segment_size)
                    .map_err(|e| StoreError::io("extend commit-log segment", &last.3, e))?;
                last.1 = segment_size;
            }
        }
        let segments = segments
            .into_iter()
            .map(|(start, len, file, path)| {
                Arc::new(Segment {
                    start,
                    len,
                    file,
                    path,
                    last_write_ms: AtomicI64::new(0),
                })
            })
            .collect::<Vec<_>>();
        Ok(CommitLog {
            dir,
            segment_size,
            pre_touch,
            segments: RwLock::new(segments),
            max_offset: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
            fsyncs: AtomicU64::new(0),
        })
    }

    fn segs(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Segment>>> {
        self.segments.read_unpoisoned()
    }

    /// All segments, oldest first.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segs().clone()
    }

    /// The segment containing `offset`.
    pub fn segment_for(&self, offset: i64) -> Option<Arc<Segment>> {
        let segs = self.segs();
        let i = segs.partition_point(|s| s.end() <= offset);
        segs.get(i).filter(|s| s.start <= offset).cloned()
    }

    /// Start of the first segment (0 when empty).
    pub fn min_offset(&self) -> i64 {
        self.segs().first().map(|s| s.start).unwrap_or(0)
    }

    /// The oldest segment if retention may delete it: not the last one, and entirely below
    /// both the visible end and the flushed offset (so it holds no data still being written).
    pub fn deletable_first(&self) -> Option<Arc<Segment>> {
        let segs = self.segs();
        let first = segs.first()?;
        let limit = self.max_offset().min(self.flushed_offset());
        (segs.len() > 1 && first.end() <= limit).then(|| first.clone())
    }

    /// Deletes the oldest segment if it still starts at `start` and is still
    /// [deletable](Self::deletable_first). Readers holding it keep reading through their
    /// handle; new lookups no longer find it. Returns whether it was deleted.
    pub fn delete_first(&self, start: i64) -> Result<bool> {
        let seg = {
            let mut segs = self.segments.write_unpoisoned();
            let limit = self.max_offset().min(self.flushed_offset());
            match segs.first() {
                Some(f) if segs.len() > 1 && f.start == start && f.end() <= limit => {}
                _ => return Ok(false),
            }
            // Only a path this log built from its own directory and file-name format.
            let expected = self.dir.join(file_name(start));
            if segs[0].path != expected {
                return Err(StoreError::Corrupt(format!(
                    "refusing to delete {}: not a commit-log segment of {}",
                    segs[0].path.display(),
                    self.dir.display()
                )));
            }
            segs.remove(0)
        };
        if let Err(e) = fs::remove_file(&seg.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                // Still on disk: keep serving it, and try again at the next pass.
                self.segments.write_unpoisoned().insert(0, seg.clone());
                return Err(StoreError::io("delete commit-log segment", &seg.path, e));
            }
        }
        sync_dir(&self.dir)?;
        tracing::info!(path = %seg.path.display(), "deleted commit-log segment");
        Ok(true)
    }

    /// Creates and preallocates the segment starting at `start`.
    pub fn create_segment(&self, start: i64) -> Result<Arc<Segment>> {
        let path = self.dir.join(file_name(start));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StoreError::io("create commit-log segment", &path, e))?;
        file.set_len(self.segment_size)
            .map_err(|e| StoreError::io("preallocate commit-log segment", &path, e))?;
        if self.pre_touch {
            let zeros = vec![0u8; 1 << 20];
            let mut pos = 0u64;
            while pos < self.segment_size {
                let n = (self.segment_size - pos).min(zeros.len() as u64) as usize;
                write_all_at(&file, &zeros[..n], pos, &path)?;
                pos += n as u64;
            }
        }
        // The new name must survive a crash before any acknowledged data lands in it.
        file.sync_all()
            .map_err(|e| StoreError::io("fsync new segment", &path, e))?;
        sync_dir(&self.dir)?;
        let seg = Arc::new(Segment {
            start,
            len: self.segment_size,
            file,
            path,
            last_write_ms: AtomicI64::new(0),
        });
        let mut segs = self.segments.write_unpoisoned();
        segs.push(seg.clone());
        Ok(seg)
    }

    /// Visible end of the log.
    pub fn max_offset(&self) -> i64 {
        self.max_offset.load(Ordering::Acquire)
    }

    pub fn set_max_offset(&self, off: i64) {
        self.max_offset.store(off, Ordering::Release);
    }

    pub fn flushed_offset(&self) -> i64 {
        self.flushed.load(Ordering::Acquire)
    }

    pub fn set_flushed_offset(&self, off: i64) {
        self.flushed.store(off, Ordering::Release);
    }

    /// Number of fsync calls made on commit-log segments so far.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Fsyncs every segment holding bytes in `[flushed, target)` and returns the new flushed
    /// offset. Called from one flusher thread at a time.
    pub fn flush_to(&self, target: i64) -> Result<i64> {
        let from = self.flushed_offset();
        if target <= from {
            return Ok(from);
        }
        super::fault::check_fsync()
            .map_err(|e| StoreError::io("fsync commit log", &self.dir, e))?;
        for seg in self.segments() {
            if seg.end() > from && seg.start < target {
                seg.file
                    .sync_data()
                    .map_err(|e| StoreError::io("fsync commit log", &seg.path, e))?;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.flushed.fetch_max(target, Ordering::AcqRel);
        Ok(target)
    }

    /// Reads `size` bytes of one record at `offset`; `None` if outside the visible log.
    pub fn read(&self, offset: i64, size: usize) -> Result<Option<Bytes>> {
        // Offsets come from clients (VIEW_MESSAGE_BY_ID): the end must not overflow.
        let Some(end) = i64::try_from(size).ok().and_then(|s| offset.checked_add(s)) else {
            return Ok(None);
        };
        if offset < 0 || size == 0 || end > self.max_offset() {
            return Ok(None);
        }
        let Some(seg) = self.segment_for(offset) else {
            return Ok(None);
        };
        if end > seg.end() {
            return Ok(None);
        }
        read_exact_at(&seg.file, size, (offset - seg.start) as u64, &seg.path).map(Some)
    }

    /// Where the `size` bytes of one record at `offset` live: its segment and the position in
    /// it; `None` if outside the visible log or across a segment end ([`read`](Self::read)'s
    /// checks without the read).
    pub fn locate(&self, offset: i64, size: usize) -> Option<(Arc<Segment>, u64)> {
        let end = i64::try_from(size)
            .ok()
            .and_then(|s| offset.checked_add(s))?;
        if offset < 0 || size == 0 || end > self.max_offset() {
            return None;
        }
        let seg = self.segment_for(offset)?;
        if end > seg.end() {
            return None;
        }
        let pos = (offset - seg.start) as u64;
        Some((seg, pos))
    }

    /// Reads up to `max_bytes` of raw log from `from`, stopping at the end of its segment and
    /// at the visible end.
    pub fn read_raw(&self, from: i64, max_bytes: usize) -> Result<Bytes> {
        let end = self.max_offset();
        if from < 0 || from >= end || max_bytes == 0 {
            return Ok(Bytes::new());
        }
        let Some(seg) = self.segment_for(from) else {
            return Ok(Bytes::new());
        };
        let n = (end.min(seg.end()) - from).min(max_bytes as i64) as usize;
        read_exact_at(&seg.file, n, (from - seg.start) as u64, &seg.path)
    }

    /// Start of the segment following the one containing `offset` (Java `rollNextFile`).
    pub fn roll_next_file(&self, offset: i64) -> i64 {
        offset + self.segment_size as i64 - offset.rem_euclid(self.segment_size as i64)
    }

    /// Drops everything at and after `offset`: zeroes the rest of its segment and deletes
    /// later segments. Used by recovery to cut a torn or garbage tail.
    pub fn truncate_from(&self, offset: i64) -> Result<()> {
        let mut segs = self.segments.write_unpoisoned();
        while let Some(last) = segs.last() {
            if last.start > offset || (last.start == offset && segs.len() > 1) {
                let last = segs.pop().expect("non-empty");
                fs::remove_file(&last.path)
                    .map_err(|e| StoreError::io("delete commit-log segment", &last.path, e))?;
            } else {
                break;
            }
        }
        if let Some(seg) = segs.last() {
            if offset < seg.end() {
                // Shrinking then re-growing the file zeroes the tail without writing it.
                let pos = (offset - seg.start).max(0) as u64;
                seg.file
                    .set_len(pos)
                    .and_then(|_| seg.file.set_len(seg.len))
                    .and_then(|_| seg.file.sync_all())
                    .map_err(|e| StoreError::io("truncate commit-log segment", &seg.path, e))?;
            }
        }
        sync_dir(&self.dir)
    }
}
