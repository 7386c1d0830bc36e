//! Retention: deleting old commit-log segments, and with them the consume-queue and index
//! files that only point into them, the way Apache RocketMQ's `CleanCommitLogService`,
//! `CleanConsumeQueueService` and `CorrectLogicOffsetService` do.
//!
//! A background thread (`store-cleaner`) runs one pass every
//! [`clean_resource_interval`](RetentionConfig::clean_resource_interval) (10 s):
//!
//! 1. **Commit log.** Segments are deleted oldest first, never the segment being written, when
//!    * the hour of day is one of [`delete_when`](RetentionConfig::delete_when) (`"04"`; UTC),
//!    * or the disk is more than [`disk_max_used_space_ratio`](RetentionConfig::disk_max_used_space_ratio)
//!      (75 %) used,
//!    * or a manual deletion was asked for ([`MessageStore::delete_expired_files_manually`],
//!      admin request `DELETE_EXPIRED_COMMITLOG`; the next 20 passes then delete),
//!
//!    and only segments last written more than [`file_reserved_time`](RetentionConfig::file_reserved_time)
//!    (72 h) ago, stopping at the first younger one. Past
//!    [`disk_space_clean_forcibly_ratio`](RetentionConfig::disk_space_clean_forcibly_ratio) (85 %)
//!    the age no longer matters (with [`clean_file_forcibly_enable`](RetentionConfig::clean_file_forcibly_enable)).
//!    At most [`delete_file_batch_max`](RetentionConfig::delete_file_batch_max) (10) segments
//!    go per pass.
//! 2. **Disk full.** Past [`disk_space_warning_level_ratio`](RetentionConfig::disk_space_warning_level_ratio)
//!    (90 %) the store is marked disk-full: puts fail with
//!    [`StoreError::DiskFull`](super::StoreError::DiskFull) (SERVICE_NOT_AVAILABLE on the wire)
//!    until a later pass measures the disk at or below the forced-clean ratio again. A write
//!    failing with `ENOSPC` marks the store disk-full at once; nothing past the last complete
//!    batch is published (the failed batch's bytes are cut), so the store stays intact and
//!    takes writes again once space is freed. When the commit-log write went through but a
//!    consume-queue or index write hit `ENOSPC`, the puts are answered as stored, their
//!    entries are written again from the commit log once there is space (index entries of
//!    those records may be missing from key queries), and appends are refused until then.
//! 3. **Consume queues and index.** When the commit log's first offset moved, consume-queue
//!    files whose last entry points below it and index files whose records all lie below it
//!    are deleted, and every queue's minimum offset is moved to its first entry that still
//!    points at a record ([`MessageStore::min_offset`]).
//!
//! The ratio is the store directory's file system usage (Apache's
//! `getDiskPartitionSpaceUsedPercent`), or with [`max_store_bytes`](RetentionConfig::max_store_bytes)
//! set, the space the store's own files occupy (allocated blocks) against that cap, which then also refuses a
//! new commit-log segment that would not fit: a fixed-size store for tests and development.
//!
//! # Crash safety
//!
//! Each deletion is one `unlink` of a whole file, oldest first, commit-log segment before the
//! consume-queue and index files that point into it; the directory is fsynced after each group.
//! A crash anywhere leaves a contiguous run of segments and consume-queue files whose first
//! entries may point below the commit log's first offset: opening the store moves every queue's
//! minimum past such entries, and the first pass deletes the leftover files. Only files named by
//! the store's own 20-digit format, in the store's own directories, are ever deleted.

use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

use rocketmq_rs_remoting::util::{CondvarExt, MutexExt, RwLockExt};

use super::error::{Result, StoreError};
use super::Shared;

/// Apache `MAX_MANUAL_DELETE_FILE_TIMES`: passes that delete after a manual request.
const MANUAL_DELETE_PASSES: i32 = 20;

/// Retention and disk-limit settings of a [`MessageStore`](super::MessageStore) (Apache
/// `MessageStoreConfig` keys in brackets). Changeable while the store runs with
/// [`MessageStore::set_retention`](super::MessageStore::set_retention).
///
/// ```
/// use rocketmq_rs_mini_broker::store::RetentionConfig;
/// use std::time::Duration;
/// let mut r = RetentionConfig::default();
/// r.file_reserved_time = Duration::from_secs(3600);
/// r.delete_when = "03;15".into();
/// r.max_store_bytes = Some(256 << 20);
/// assert!(r.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetentionConfig {
    /// Age (since its last write) after which a commit-log segment may be deleted
    /// (`fileReservedTime`, 72 h).
    pub file_reserved_time: Duration,
    /// Hours of the day (UTC, `;`-separated, `"04"`) in which expired segments are deleted
    /// whatever the disk use (`deleteWhen`).
    pub delete_when: String,
    /// Disk use (percent, clamped to 10..=95) above which expired segments are deleted outside
    /// the `delete_when` hours (`diskMaxUsedSpaceRatio`, 75).
    pub disk_max_used_space_ratio: u32,
    /// Disk use (percent, clamped to 30..=85) above which segments are deleted even if they
    /// have not expired (`diskSpaceCleanForciblyRatio`, 85).
    pub disk_space_clean_forcibly_ratio: u32,
    /// Disk use (percent, clamped to 35..=90) above which puts are refused
    /// (`diskSpaceWarningLevelRatio`, 90).
    pub disk_space_warning_level_ratio: u32,
    /// Whether the forced ratio deletes unexpired segments (`cleanFileForciblyEnable`, true).
    pub clean_file_forcibly_enable: bool,
    /// Time between retention passes (`cleanResourceInterval`, 10 s).
    pub clean_resource_interval: Duration,
    /// Pause between two commit-log segment deletions (`deleteCommitLogFilesInterval`, 100 ms).
    pub delete_commit_log_files_interval: Duration,
    /// Pause after deleting a queue's consume-queue files (`deleteConsumeQueueFilesInterval`,
    /// 100 ms).
    pub delete_consume_queue_files_interval: Duration,
    /// Most commit-log segments deleted per pass (`deleteFileBatchMax`, 10).
    pub delete_file_batch_max: usize,
    /// A size cap in bytes for the whole store (ours; `None` = measure the file system). With a
    /// cap the disk ratios are the space the store's files occupy (allocated blocks) over the
    /// cap, and a commit-log segment whose full size would not fit under it is not created
    /// (puts fail with `DiskFull`).
    pub max_store_bytes: Option<u64>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when: "04".into(),
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_file_forcibly_enable: true,
            clean_resource_interval: Duration::from_secs(10),
            delete_commit_log_files_interval: Duration::from_millis(100),
            delete_consume_queue_files_interval: Duration::from_millis(100),
            delete_file_batch_max: 10,
            max_store_bytes: None,
        }
    }
}

impl RetentionConfig {
    /// Checks the values (ratios are clamped, not refused, as Apache does).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::Config(m));
        parse_delete_when(&self.delete_when)?;
        if self.clean_resource_interval.is_zero() {
            return bad("clean_resource_interval must be > 0".into());
        }
        if self.delete_file_batch_max == 0 {
            return bad("delete_file_batch_max must be > 0".into());
        }
        if self.max_store_bytes == Some(0) {
            return bad("max_store_bytes must be > 0 when set".into());
        }
        Ok(())
    }

    fn max_used(&self) -> f64 {
        self.disk_max_used_space_ratio.clamp(10, 95) as f64 / 100.0
    }

    fn forcibly(&self) -> f64 {
        self.disk_space_clean_forcibly_ratio.clamp(30, 85) as f64 / 100.0
    }

    fn warning(&self) -> f64 {
        self.disk_space_warning_level_ratio.clamp(35, 90) as f64 / 100.0
    }
}

/// Parses `deleteWhen`: hours `0..=23` separated by `;` (Apache `UtilAll.isItTimeToDo`).
pub(crate) fn parse_delete_when(s: &str) -> Result<Vec<u32>> {
    s.split(';')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.parse::<u32>().ok().filter(|h| *h < 24).ok_or_else(|| {
                StoreError::Config(format!(
                    "bad deleteWhen hour {h:?} (expected hours 0-23 separated by ';')"
                ))
            })
        })
        .collect()
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct CleanReport {
    /// Commit-log segments deleted.
    pub commit_log_segments: usize,
    /// Consume-queue files deleted.
    pub consume_queue_files: usize,
    /// Index files deleted.
    pub index_files: usize,
    /// Disk use measured at the start of the pass (0.0..=1.0), `None` if unknown.
    pub used_ratio: Option<f64>,
    /// Whether the store refuses puts after the pass.
    pub disk_full: bool,
}

/// State of the cleaner shared by its thread and the store's handles.
pub(crate) struct Cleaner {
    /// Disk use at the last pass (`f64` bits; negative = unknown), for refusal messages.
    last_ratio: AtomicU64,
    /// Manual-deletion passes left.
    manual: AtomicI32,
    /// Commit-log first offset at the last consume-queue clean-up.
    last_physical_min: AtomicI64,
    /// Serialises passes (thread vs. [`MessageStore::clean_now`]).
    pass: Mutex<()>,
    wake: Mutex<Wake>,
    cv: Condvar,
}

impl Default for Cleaner {
    fn default() -> Self {
        Cleaner {
            last_ratio: AtomicU64::new((-1.0f64).to_bits()),
            manual: AtomicI32::new(0),
            last_physical_min: AtomicI64::new(0),
            pass: Mutex::new(()),
            wake: Mutex::new(Wake::default()),
            cv: Condvar::new(),
        }
    }
}

#[derive(Default)]
struct Wake {
    stop: bool,
    now: bool,
}

impl Cleaner {
    /// Disk use measured by the last pass, negative if unknown.
    pub fn last_ratio(&self) -> f64 {
        f64::from_bits(self.last_ratio.load(Ordering::Acquire))
    }

    pub fn request_manual(&self) {
        self.manual.store(MANUAL_DELETE_PASSES, Ordering::Release);
        self.kick();
    }

    /// Runs a pass soon (after a write failed with ENOSPC).
    pub fn kick(&self) {
        self.wake.lock_unpoisoned().now = true;
        self.cv.notify_all();
    }

    pub fn stop(&self) {
        self.wake.lock_unpoisoned().stop = true;
        self.cv.notify_all();
    }
}

/// The cleaner thread body. Returns when the store stops.
pub(crate) fn run(shared: &Shared) {
    loop {
        let interval = shared.retention.read_unpoisoned().clean_resource_interval;
        {
            let mut w = shared.cleaner.wake.lock_unpoisoned();
            let deadline = super::STORE_CLOCK.now() + interval;
            while !w.stop && !w.now {
                let now = super::STORE_CLOCK.now();
                if now >= deadline {
                    break;
                }
                w = shared
                    .cleaner
                    .cv
                    .wait_timeout_unpoisoned(w, deadline - now)
                    .0;
            }
            if w.stop {
                return;
            }
            w.now = false;
        }
        if let Err(e) = clean_pass(shared) {
            tracing::error!(error = %e, "retention pass failed");
        }
    }
}

/// Sleeps between deletions unless the store is stopping (then returns false).
fn pause(shared: &Shared, d: Duration) -> bool {
    if d.is_zero() {
        return !shared.cleaner.wake.lock_unpoisoned().stop;
    }
    let w = shared.cleaner.wake.lock_unpoisoned();
    if w.stop {
        return false;
    }
    let (w, _) = shared.cleaner.cv.wait_timeout_unpoisoned(w, d);
    !w.stop
}

/// One retention pass: commit log, then consume queues and index, then minimum offsets.
pub(crate) fn clean_pass(shared: &Shared) -> Result<CleanReport> {
    let _serial = shared.cleaner.pass.lock_unpoisoned();
    let cfg = shared.retention.read_unpoisoned().clone();
    let mut report = CleanReport::default();

    // Apache's isSpaceToDelete: measure, flag disk-full with hysteresis, pick the mode.
    let ratio = used_ratio(shared);
    report.used_ratio = ratio;
    shared
        .cleaner
        .last_ratio
        .store(ratio.unwrap_or(-1.0).to_bits(), Ordering::Release);
    let (space_to_delete, immediately) = match ratio {
        Some(r) if r > cfg.warning() => {
            if !shared.disk_full.swap(true, Ordering::AcqRel) {
                tracing::error!(
                    used = r,
                    "store disk maybe full soon; refusing puts until space is freed"
                );
            }
            (true, true)
        }
        Some(r) if r > cfg.forcibly() => (true, true),
        Some(r) => {
            if shared.disk_full.swap(false, Ordering::AcqRel) {
                tracing::info!(used = r, "store disk space OK again; accepting puts");
            }
            (r > cfg.max_used(), false)
        }
        // Unknown usage: only time and manual triggers apply; a disk-full flag set by an
        // ENOSPC write is cleared so the next write finds out for itself.
        None => {
            shared.disk_full.store(false, Ordering::Release);
            (false, false)
        }
    };
    let time_up = is_time_to_delete(&cfg.delete_when, wall_now(shared));
    let manual = shared.cleaner.manual.load(Ordering::Acquire) > 0;
    if time_up || space_to_delete || manual {
        if manual {
            shared.cleaner.manual.fetch_sub(1, Ordering::AcqRel);
        }
        let force = cfg.clean_file_forcibly_enable && immediately;
        report.commit_log_segments = delete_segments(shared, &cfg, force)?;
        if report.commit_log_segments == 0 && space_to_delete {
            tracing::warn!(
                used = ratio,
                "disk space will be full soon, but no commit-log segment could be deleted"
            );
        }
    }

    let log_min = shared.log.min_offset();
    if log_min > shared.cleaner.last_physical_min.load(Ordering::Acquire) {
        for q in shared.all_queues() {
            let n = q.delete_files_below(log_min)?;
            report.consume_queue_files += n;
            if n > 0 && !pause(shared, cfg.delete_consume_queue_files_interval) {
                break;
            }
        }
        report.index_files = shared.index.delete_files_below(log_min)?;
        shared
            .cleaner
            .last_physical_min
            .store(log_min, Ordering::Release);
    }
    // Apache's CorrectLogicOffsetService: a queue's first retained entries may point below the
    // commit log's start (deleted segment, or a crash between the two deletions).
    for q in shared.all_queues() {
        q.correct_min_offset(log_min)?;
    }
    report.disk_full = shared.disk_full.load(Ordering::Acquire);
    if report.commit_log_segments + report.consume_queue_files + report.index_files > 0 {
        tracing::info!(
            segments = report.commit_log_segments,
            consume_queue_files = report.consume_queue_files,
            index_files = report.index_files,
            commit_log_min = log_min,
            used = ratio,
            "retention pass deleted files"
        );
    }
    Ok(report)
}

/// Apache `deleteExpiredFileByTime`: oldest first, never the segment being written, stop at the
/// first segment too young (unless `force`), at most `delete_file_batch_max`.
fn delete_segments(shared: &Shared, cfg: &RetentionConfig, force: bool) -> Result<usize> {
    let now = wall_now(shared);
    let mut deleted = 0;
    while deleted < cfg.delete_file_batch_max {
        let Some(seg) = shared.log.deletable_first() else {
            break;
        };
        if !force {
            // Apache reads the file's modification time; a write since the store opened is
            // recorded by the store's clock instead, which is the same time unless the clock
            // is virtual (then the segment ages with the virtual clock).
            let written = seg.last_write_ms.load(Ordering::Relaxed);
            let modified = if written > 0 {
                SystemTime::UNIX_EPOCH + Duration::from_millis(written as u64)
            } else {
                std::fs::metadata(&seg.path)
                    .and_then(|m| m.modified())
                    .map_err(|e| StoreError::io("stat commit-log segment", &seg.path, e))?
            };
            let age = now.duration_since(modified).unwrap_or_default();
            if age < cfg.file_reserved_time {
                break;
            }
        }
        if !shared.log.delete_first(seg.start)? {
            break;
        }
        deleted += 1;
        super::fault::after_segment_delete();
        if deleted < cfg.delete_file_batch_max
            && !pause(shared, cfg.delete_commit_log_files_interval)
        {
            break;
        }
    }
    Ok(deleted)
}

/// The store clock's wall time (the OS clock unless the broker runs on a virtual clock).
fn wall_now(shared: &Shared) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(shared.cfg.clock.now_ms().max(0) as u64)
}

/// Whether the current UTC hour is one of `when`'s.
pub(crate) fn is_time_to_delete(when: &str, now: SystemTime) -> bool {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let hour = ((secs / 3600) % 24) as u32;
    parse_delete_when(when)
        .map(|hs| hs.contains(&hour))
        .unwrap_or(false)
}

/// Disk use 0.0..=1.0: the fault-injected value, the store's bytes over its cap, or the file
/// system's use (Apache's rounding up to whole percents).
pub(crate) fn used_ratio(shared: &Shared) -> Option<f64> {
    if let Some(p) = super::fault::disk_used_percent() {
        return Some(p as f64 / 100.0);
    }
    let cap = shared.retention.read_unpoisoned().max_store_bytes;
    match cap {
        Some(cap) => Some(store_bytes(shared) as f64 / cap as f64),
        None => fs_used_ratio(&shared.cfg.root_dir),
    }
}

/// Bytes the store's commit-log, consume-queue and index files occupy on disk (allocated
/// blocks, as `du` counts them: preallocated files are sparse until written).
pub(crate) fn store_bytes(shared: &Shared) -> u64 {
    let log: u64 = shared
        .log
        .segments()
        .iter()
        .map(|s| allocated(&s.file))
        .sum();
    let cq: u64 = shared
        .all_queues()
        .iter()
        .map(|q| q.allocated_bytes())
        .sum();
    log + cq + shared.index.allocated_bytes()
}

/// Disk space a file occupies (its length where block counts are unknown).
pub(crate) fn allocated(f: &std::fs::File) -> u64 {
    let Ok(m) = f.metadata() else {
        return 0;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.blocks() * 512
    }
    #[cfg(not(unix))]
    {
        m.len()
    }
}

#[cfg(unix)]
fn fs_used_ratio(path: &Path) -> Option<f64> {
    let s = rustix::fs::statvfs(path).ok()?;
    let used = s.f_blocks.saturating_sub(s.f_bfree);
    let entire = used + s.f_bavail;
    if entire == 0 {
        return None;
    }
    let pct = (used * 100).div_ceil(entire);
    Some(pct as f64 / 100.0)
}

#[cfg(not(unix))]
fn fs_used_ratio(_path: &Path) -> Option<f64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_when_hours_parse_and_match_utc() {
        assert_eq!(parse_delete_when("04").unwrap(), vec![4]);
        assert_eq!(parse_delete_when("1; 13;").unwrap(), vec![1, 13]);
        assert!(parse_delete_when("24").is_err());
        assert!(parse_delete_when("x").is_err());
        // 1970-01-02 04:30 UTC.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 + 4 * 3600 + 1800);
        assert!(is_time_to_delete("04", t));
        assert!(is_time_to_delete("3;4", t));
        assert!(!is_time_to_delete("05", t));
        assert!(!is_time_to_delete("", t));
    }

    #[test]
    fn ratios_are_clamped_like_apache() {
        let r = RetentionConfig {
            disk_max_used_space_ratio: 99,
            disk_space_clean_forcibly_ratio: 95,
            disk_space_warning_level_ratio: 10,
            ..Default::default()
        };
        assert_eq!(r.max_used(), 0.95);
        assert_eq!(r.forcibly(), 0.85);
        assert_eq!(r.warning(), 0.35);
        assert!(RetentionConfig {
            max_store_bytes: Some(0),
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
