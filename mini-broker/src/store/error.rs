//! Error type of the storage engine.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong inside the store.
///
/// A put that fails with an error did **not** store the message; statuses of stored messages
/// (including `FlushDiskTimeout`) are reported through [`PutStatus`](super::PutStatus) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system I/O call failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What the store was doing.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The message cannot be stored as given (too large, topic too long, bad properties...).
    /// Maps to response code 13 MESSAGE_ILLEGAL.
    #[error("illegal message: {0}")]
    MessageIllegal(String),
    /// The store is shut down or no longer writable after a write failure.
    /// Maps to response code 14 SERVICE_NOT_AVAILABLE.
    #[error("store not available: {0}")]
    NotAvailable(&'static str),
    /// The store's disk is (nearly) full: puts are refused until retention frees space
    /// (`disk_space_warning_level_ratio` passed, the `max_store_bytes` cap reached, or a write
    /// failed with `ENOSPC`). Nothing was stored. Maps to response code 14
    /// SERVICE_NOT_AVAILABLE with Apache's "the broker's disk is full" remark.
    #[error("the message store is disk full (used ratio {used_ratio:.2}); check the disk or the retention settings")]
    DiskFull {
        /// Disk use 0.0..=1.0 as last measured (negative if unknown).
        used_ratio: f64,
    },
    /// On-disk data is not what the store expects (bad raw append, unreadable record...).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A replication raw append did not start at the current end of the commit log.
    #[error("raw append at offset {requested} but the commit log ends at {expected}")]
    OffsetMismatch {
        /// Offset the caller asked to append at.
        requested: i64,
        /// Current end of the commit log.
        expected: i64,
    },
    /// The requested commit-log offset holds no message.
    #[error("no message at commit-log offset {0}")]
    NoSuchMessage(i64),
    /// Decoding a stored record failed.
    #[error("cannot decode stored record: {0}")]
    Decode(String),
}

impl StoreError {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// Whether this is a full disk (a `DiskFull` refusal, or an I/O error `ENOSPC` / `EDQUOT`)
    /// rather than a damaged one: the store stays writable once space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::Io { source, .. } => matches!(source.raw_os_error(), Some(28 | 122)),
            _ => false,
        }
    }
}
