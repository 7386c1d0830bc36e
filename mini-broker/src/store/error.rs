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
}
