//! Store configuration.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{Result, StoreError};

/// How appended data reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// A background thread fsyncs the commit log every `interval`; puts are answered as soon as
    /// the data is in the OS page cache (Java `ASYNC_FLUSH`).
    Async {
        /// Time between background fsyncs (Java `flushIntervalCommitLog`, 500 ms).
        interval: Duration,
    },
    /// Puts are answered only after an fsync covering them (group commit: one fsync answers
    /// every put appended before it). A put whose fsync takes longer than `timeout` is answered
    /// with [`PutStatus::FlushDiskTimeout`](super::PutStatus::FlushDiskTimeout) (Java
    /// `SYNC_FLUSH` / `syncFlushTimeout`). Messages with property `WAIT=false` do not wait.
    Sync {
        /// Longest wait for the fsync (5 s).
        timeout: Duration,
    },
}

impl Default for FlushMode {
    fn default() -> Self {
        FlushMode::Async {
            interval: Duration::from_millis(500),
        }
    }
}

/// Java's default `messageDelayLevel`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Configuration of a [`MessageStore`](super::MessageStore).
///
/// ```
/// use rocketmq_rs_mini_broker::store::{FlushMode, StoreConfig};
/// use std::time::Duration;
/// let mut cfg = StoreConfig::new("/tmp/store");
/// cfg.flush_mode = FlushMode::Sync { timeout: Duration::from_secs(5) };
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Root directory; holds `commitlog/`, `consumequeue/`, `index/`, `checkpoint`, `abort`.
    pub root_dir: PathBuf,
    /// Size of one commit-log segment file in bytes (Java `mappedFileSizeCommitLog`, 1 GiB).
    pub commit_log_segment_size: u64,
    /// Entries per consume-queue segment file (Java 300 000; 20 bytes each).
    pub consume_queue_entries_per_file: u64,
    /// Hash slots per index file (Java `maxHashSlotNum`, 5 000 000).
    pub index_slots: u32,
    /// Entries per index file (Java `maxIndexNum`, 20 000 000).
    pub index_entries_per_file: u32,
    /// Flush policy of the commit log.
    pub flush_mode: FlushMode,
    /// Period of consume-queue / index flushes and checkpoint writes (Java
    /// `flushIntervalConsumeQueue`, 1 s). They run on their own thread, apart from the
    /// commit-log flusher.
    pub logic_flush_interval: Duration,
    /// A periodic flush fsyncs a consume queue only once at least this many 4 KiB pages of it
    /// were written since its last fsync, or its file is full (Java
    /// `flushConsumeQueueLeastPages`, 2); 0 fsyncs every queue with a new entry at every
    /// flush. Queues left out keep the checkpoint behind their first not-durable entry, so
    /// a crash re-dispatches those entries from the commit log.
    pub consume_queue_flush_least_pages: u32,
    /// Every this often a flush ignores `consume_queue_flush_least_pages` and makes every
    /// consume queue durable (Java `flushConsumeQueueThoroughInterval`, 60 s): how far the
    /// checkpoint can fall behind, hence how much commit log a crash recovery re-reads.
    pub consume_queue_thorough_flush_interval: Duration,
    /// Largest encoded record accepted (Java `maxMessageSize`, 4 MiB).
    pub max_message_size: usize,
    /// Write zeros through a new commit-log segment after `set_len` so its blocks are really
    /// allocated (slower segment creation, no allocation stalls or ENOSPC surprises later).
    pub pre_touch: bool,
    /// Upper bound on messages returned by one `get_messages` (Java
    /// `maxTransferCountOnMessageInMemory`, 32).
    pub max_transfer_count: usize,
    /// Upper bound on bytes returned by one `get_messages` (Java
    /// `maxTransferBytesOnMessageInMemory`, 256 KiB). The first message is always returned.
    pub max_transfer_bytes: usize,
    /// Delay levels (Java `messageDelayLevel`) used to compute the consume-queue tag code
    /// (= delivery timestamp) of `SCHEDULE_TOPIC_XXXX` messages.
    pub delay_levels: String,
    /// Retention and disk limits (Apache `fileReservedTime`, `deleteWhen`,
    /// `diskMaxUsedSpaceRatio`, ...); changeable later with
    /// [`MessageStore::set_retention`](super::MessageStore::set_retention).
    pub retention: super::RetentionConfig,
    /// Where store timestamps come from (wall time) and whom to tell while a write is in
    /// flight: the broker's runtime clock, so a virtual clock
    /// ([`rocketmq_rs_remoting::rt::VirtualClock`]) stamps messages with virtual time. The
    /// OS clock by default.
    pub clock: rocketmq_rs_remoting::rt::Clock,
}

impl StoreConfig {
    /// A configuration with Java-like defaults rooted at `root_dir`.
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            root_dir: root_dir.into(),
            commit_log_segment_size: 1 << 30,
            consume_queue_entries_per_file: 300_000,
            index_slots: 5_000_000,
            index_entries_per_file: 20_000_000,
            flush_mode: FlushMode::default(),
            logic_flush_interval: Duration::from_secs(1),
            consume_queue_flush_least_pages: 2,
            consume_queue_thorough_flush_interval: Duration::from_secs(60),
            max_message_size: 4 * 1024 * 1024,
            pre_touch: false,
            max_transfer_count: 32,
            max_transfer_bytes: 256 * 1024,
            delay_levels: DEFAULT_DELAY_LEVELS.to_string(),
            retention: super::RetentionConfig::default(),
            clock: rocketmq_rs_remoting::rt::Clock::system(),
        }
    }

    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(StoreError::Config(m.to_string()));
        if self.commit_log_segment_size < 1024 {
            return bad("commit_log_segment_size must be at least 1024 bytes");
        }
        if (self.max_message_size as u64) + 8 > self.commit_log_segment_size {
            return bad("max_message_size + 8 must fit in one commit-log segment");
        }
        if self.max_message_size < 128 || self.max_message_size > i32::MAX as usize {
            return bad("max_message_size must be in 128..=i32::MAX");
        }
        if self.consume_queue_entries_per_file == 0
            || self.consume_queue_entries_per_file > (i32::MAX as u64) / 20
        {
            return bad("consume_queue_entries_per_file out of range");
        }
        if self.index_slots == 0 || self.index_entries_per_file < 2 {
            return bad("index_slots must be > 0 and index_entries_per_file >= 2");
        }
        if self.index_slots > 100_000_000 || self.index_entries_per_file > 100_000_000 {
            return bad("index files limited to 100M slots/entries");
        }
        match self.flush_mode {
            FlushMode::Async { interval } if interval.is_zero() => {
                return bad("async flush interval must be > 0")
            }
            FlushMode::Sync { timeout } if timeout.is_zero() => {
                return bad("sync flush timeout must be > 0")
            }
            _ => {}
        }
        if self.logic_flush_interval.is_zero() {
            return bad("logic_flush_interval must be > 0");
        }
        if self.max_transfer_count == 0 || self.max_transfer_bytes == 0 {
            return bad("max_transfer_count and max_transfer_bytes must be > 0");
        }
        parse_delay_levels(&self.delay_levels)?;
        self.retention.validate()?;
        if let Some(cap) = self.retention.max_store_bytes {
            if cap < self.commit_log_segment_size {
                return bad("max_store_bytes must hold at least one commit-log segment");
            }
        }
        Ok(())
    }
}

/// Parses `"1s 5s 1m 2h 1d"` into milliseconds per level (level 1 first).
pub(crate) fn parse_delay_levels(s: &str) -> Result<Vec<i64>> {
    s.split_whitespace()
        .map(|tok| {
            let (num, unit) = tok.split_at(tok.len() - 1);
            let mult = match unit {
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err(StoreError::Config(format!("bad delay level {tok:?}"))),
            };
            num.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n * mult)
                .ok_or_else(|| StoreError::Config(format!("bad delay level {tok:?}")))
        })
        .collect()
}
