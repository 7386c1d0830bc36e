//! The message `sysFlag` bits (Java `MessageSysFlag`, docs/protocol/message.md §4).
//!
//! ```
//! use rocketmq_rs_remoting::protocol::message::sys_flag;
//! let flag = sys_flag::COMPRESSED | sys_flag::COMPRESSION_ZLIB | sys_flag::PREPARED;
//! assert_eq!(flag, 0x305);
//! assert_eq!(sys_flag::transaction_type(flag), sys_flag::PREPARED);
//! assert_eq!(sys_flag::clear_compressed(flag), 0x304);
//! ```

use super::CompressionType;

/// Bit 0: the body is compressed.
pub const COMPRESSED: i32 = 0x1;
/// Bit 1: the topic's filter type is MULTI_TAG (set by the broker from the topic config).
pub const MULTI_TAGS: i32 = 0x2;
/// Transaction type (bits 2–3): a normal message.
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// Transaction type: a transaction half (prepared) message.
pub const PREPARED: i32 = 0x1 << 2;
/// Transaction type: a committed transaction message.
pub const COMMIT: i32 = 0x2 << 2;
/// Transaction type: a rolled-back transaction message.
pub const ROLLBACK: i32 = 0x3 << 2;
/// Java name of [`PREPARED`].
pub const TRANSACTION_PREPARED_TYPE: i32 = PREPARED;
/// Java name of [`COMMIT`].
pub const TRANSACTION_COMMIT_TYPE: i32 = COMMIT;
/// Java name of [`ROLLBACK`].
pub const TRANSACTION_ROLLBACK_TYPE: i32 = ROLLBACK;
/// Mask of the transaction type bits.
pub const TRANSACTION_MASK: i32 = 0x3 << 2;
/// Bit 4: the born host is IPv6 (20-byte host field in stored records).
pub const BORNHOST_V6: i32 = 0x1 << 4;
/// Bit 5: the store host is IPv6 (20-byte host field in stored records).
pub const STOREHOSTADDRESS_V6: i32 = 0x1 << 5;
/// Bit 6: 5.x inner-batch record that the client must unwrap.
pub const NEED_UNWRAP: i32 = 0x1 << 6;
/// Bit 7: 5.x inner-batch record.
pub const INNER_BATCH: i32 = 0x1 << 7;
/// Compression type (bits 8–10): LZ4 frame.
pub const COMPRESSION_LZ4: i32 = 0x1 << 8;
/// Compression type: zstd frame.
pub const COMPRESSION_ZSTD: i32 = 0x2 << 8;
/// Compression type: zlib (also what type 0 means, for pre-4.9.4 producers).
pub const COMPRESSION_ZLIB: i32 = 0x3 << 8;
/// Mask of the compression type bits.
pub const COMPRESSION_TYPE_MASK: i32 = 0x7 << 8;

/// The transaction type bits of `flag`: one of [`TRANSACTION_NOT_TYPE`], [`PREPARED`],
/// [`COMMIT`], [`ROLLBACK`].
pub fn transaction_type(flag: i32) -> i32 {
    flag & TRANSACTION_MASK
}

/// `flag` with its transaction type replaced by `ty`.
pub fn reset_transaction_type(flag: i32, ty: i32) -> i32 {
    (flag & !TRANSACTION_MASK) | (ty & TRANSACTION_MASK)
}

/// `flag` without the [`COMPRESSED`] bit (the compression type bits are kept, as Java does).
pub fn clear_compressed(flag: i32) -> i32 {
    flag & !COMPRESSED
}

/// Whether any bit of `bits` is set in `flag`.
pub fn check(flag: i32, bits: i32) -> bool {
    flag & bits != 0
}

/// The compression algorithm named by bits 8–10 (type 0 means zlib); `None` for the unassigned
/// values 4–7.
pub fn compression_type(flag: i32) -> Option<CompressionType> {
    CompressionType::from_value((flag & COMPRESSION_TYPE_MASK) >> 8)
}
