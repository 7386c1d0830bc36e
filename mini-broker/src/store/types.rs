//! Result types of the store API.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;

use bytes::Bytes;

/// An offset message id (store host + commit-log offset in uppercase hex, docs/protocol/message.md
/// §6) held inline: storing a message allocates no string for its id. Reads as a `&str`
/// ([`Deref`]), compares with strings, and turns into a `String` where one is needed.
///
/// ```
/// use rocketmq_rs_mini_broker::store::OffsetMsgId;
/// use rocketmq_rs_remoting::protocol::message::offset_msg_id;
/// let host = "192.168.1.20:10911".parse().unwrap();
/// let id = OffsetMsgId::new(host, 0x2A3F);
/// assert_eq!(id, "C0A8011400002A9F0000000000002A3F");
/// assert_eq!(id.as_str(), offset_msg_id(host, 0x2A3F));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetMsgId {
    /// 16 + 12 raw bytes at most (IPv6 address, port, offset), two hex digits each.
    hex: [u8; 56],
    len: u8,
}

impl OffsetMsgId {
    /// The id of the record at `commit_log_offset` stored by `store_host`.
    pub fn new(store_host: SocketAddr, commit_log_offset: i64) -> OffsetMsgId {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut raw = [0u8; 28];
        let n = match store_host.ip() {
            IpAddr::V4(ip) => {
                raw[..4].copy_from_slice(&ip.octets());
                4
            }
            IpAddr::V6(ip) => {
                raw[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        raw[n..n + 4].copy_from_slice(&i32::from(store_host.port()).to_be_bytes());
        raw[n + 4..n + 12].copy_from_slice(&commit_log_offset.to_be_bytes());
        let mut hex = [0u8; 56];
        for (o, b) in hex.chunks_exact_mut(2).zip(&raw[..n + 12]) {
            o[0] = HEX[usize::from(b >> 4)];
            o[1] = HEX[usize::from(b & 0xF)];
        }
        OffsetMsgId {
            hex,
            len: ((n + 12) * 2) as u8,
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written, so this never takes the empty fallback.
        std::str::from_utf8(&self.hex[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Deref for OffsetMsgId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for OffsetMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for OffsetMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<OffsetMsgId> for String {
    fn from(id: OffsetMsgId) -> String {
        id.as_str().to_owned()
    }
}

impl PartialEq<str> for OffsetMsgId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for OffsetMsgId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for OffsetMsgId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<OffsetMsgId> for String {
    fn eq(&self, other: &OffsetMsgId) -> bool {
        self == other.as_str()
    }
}

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
    pub msg_id: OffsetMsgId,
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
