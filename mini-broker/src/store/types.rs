//! Result types of the store API.

use bytes::Bytes;

/// Outcome of a put whose message **was stored**. Puts that store nothing return an
/// [`StoreError`](super::StoreError) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored (and, in sync-flush mode, fsynced). Response code 0.
    Ok,
    /// Stored, but the sync flush did not finish within its timeout (or failed).
    /// Response code 10 FLUSH_DISK_TIMEOUT.
    FlushDiskTimeout,
}

/// Result of storing one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// Durability status.
    pub status: PutStatus,
    /// Commit-log offset of the record.
    pub commit_log_offset: i64,
    /// Logical offset in its consume queue (0 for prepared/rolled-back transaction records,
    /// which get no consume-queue entry).
    pub queue_offset: i64,
    /// Size of the stored record in bytes.
    pub store_size: i32,
    /// Offset message id (store host + commit-log offset, docs/protocol/message.md §6).
    pub msg_id: String,
    /// Broker clock when the record was appended (ms).
    pub store_timestamp: i64,
}

/// Status of a [`get_messages`](super::MessageStore::get_messages) call (Java
/// `GetMessageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one message returned.
    Found,
    /// Entries were scanned but none passed the tag filter.
    NoMatchedMessage,
    /// The queue exists but never received a message.
    NoMessageInQueue,
    /// The queue does not exist.
    NoMatchedLogicQueue,
    /// `offset == max_offset`: nothing new yet.
    OffsetOverflowOne,
    /// `offset > max_offset`.
    OffsetOverflowBadly,
    /// `offset < min_offset`.
    OffsetTooSmall,
    /// The consume-queue file holding `offset` is gone.
    OffsetFoundNull,
    /// The commit-log data of the entries scanned is gone.
    MessageWasRemoving,
}

/// Result of [`get_messages`](super::MessageStore::get_messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResult {
    /// What happened.
    pub status: GetStatus,
    /// Offset the consumer should pull from next (already corrected as a master does).
    pub next_begin_offset: i64,
    /// First retained queue offset.
    pub min_offset: i64,
    /// Next queue offset to be written.
    pub max_offset: i64,
    /// Raw stored records (docs/protocol/message.md §3), ready to be concatenated into a PULL body.
    pub messages: Vec<Bytes>,
    /// Sum of the records' sizes.
    pub total_bytes: usize,
    /// The records concatenated (a PULL_MESSAGE body); every entry of `messages` is a slice
    /// of it, so building the body copies nothing.
    pub body: Bytes,
}

/// Counters exposed for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// fsync calls made on commit-log segments.
    pub commit_log_fsyncs: u64,
    /// End of the commit log visible to readers.
    pub commit_log_max_offset: i64,
    /// Commit log fsynced up to here.
    pub commit_log_flushed_offset: i64,
    /// fsync calls made on consume-queue files.
    pub consume_queue_fsyncs: u64,
    /// fsync calls made on consume-queue directories (new queues and files).
    pub consume_queue_dir_fsyncs: u64,
}
