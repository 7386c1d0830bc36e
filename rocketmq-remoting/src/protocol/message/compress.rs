//! Body compression (docs/protocol/message.md §5): zlib streams as written by Java's `DeflaterOutputStream`,
//! the Go client and the C++ client.

use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::sys_flag;
use crate::error::{RemotingError, Result};

/// The zlib level Java producers use (`rocketmq.message.compressLevel`, default 5).
pub const DEFAULT_COMPRESS_LEVEL: u32 = 5;

/// Bodies at least this long are compressed by default producers (`compressMsgBodyOverHowmuch`).
pub const DEFAULT_COMPRESS_OVER: usize = 4096;

/// The default bound on a decompressed body: 64 MiB, far above the 4 MiB message size limit of
/// default producers and brokers, low enough that a decompression bomb cannot exhaust memory.
pub const DEFAULT_MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// A body compression algorithm, as named by `sysFlag` bits 8–10.
///
/// ```
/// use rocketmq_remoting::protocol::message::CompressionType;
/// assert_eq!(CompressionType::from_value(0), Some(CompressionType::Zlib));
/// assert_eq!(CompressionType::Zlib.sys_flag(), 0x300);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// LZ4 frame format (type 1). Not decompressed by this crate.
    Lz4,
    /// Zstandard frame (type 2). Not decompressed by this crate.
    Zstd,
    /// zlib (type 3, or type 0 from producers older than 4.9.4).
    Zlib,
}

impl CompressionType {
    /// Parses the 3-bit type value (0 maps to zlib, as Java does); `None` for 4–7.
    pub fn from_value(value: i32) -> Option<Self> {
        match value {
            0 | 3 => Some(CompressionType::Zlib),
            1 => Some(CompressionType::Lz4),
            2 => Some(CompressionType::Zstd),
            _ => None,
        }
    }

    /// The 3-bit type value.
    pub fn value(self) -> i32 {
        match self {
            CompressionType::Lz4 => 1,
            CompressionType::Zstd => 2,
            CompressionType::Zlib => 3,
        }
    }

    /// The type shifted into place for a `sysFlag` (without the COMPRESSED bit).
    pub fn sys_flag(self) -> i32 {
        self.value() << 8
    }

    /// The full `sysFlag` bits a producer sets for a body compressed with this algorithm
    /// (COMPRESSED plus the type, e.g. `0x301` for zlib).
    pub fn compressed_sys_flag(self) -> i32 {
        sys_flag::COMPRESSED | self.sys_flag()
    }
}

/// Compresses `body` into a zlib stream (RFC 1950: header, deflate data, Adler-32) at `level`
/// (0–9; larger values are clamped to 9).
///
/// ```
/// use rocketmq_remoting::protocol::message::{compress, decompress};
/// let z = compress(b"hello hello hello hello", 5);
/// assert_eq!(z[0], 0x78);
/// assert_eq!(decompress(&z, 1024).unwrap(), b"hello hello hello hello");
/// ```
pub fn compress(body: &[u8], level: u32) -> Vec<u8> {
    let out = Vec::with_capacity(body.len() / 2 + 64);
    let mut enc = ZlibEncoder::new(out, Compression::new(level.min(9)));
    // Writing into a Vec has no I/O failure mode; the only error source would be the sink.
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .expect("zlib compression into a Vec cannot fail")
}

/// Decompresses a zlib stream, refusing to produce more than `max_len` bytes (so a small
/// malicious body cannot make us allocate gigabytes).
///
/// Errors: [`RemotingError::Decode`] for a corrupt or truncated stream or an output larger than
/// `max_len`.
///
/// ```
/// use rocketmq_remoting::protocol::message::{compress, decompress};
/// let bomb = compress(&vec![0u8; 1 << 20], 9);
/// assert!(decompress(&bomb, 1000).is_err());
/// assert!(decompress(b"not zlib", 1000).is_err());
/// ```
pub fn decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>> {
    // Typical ratios are 2–5x; start there but never beyond the bound.
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_len));
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| RemotingError::decode(format!("corrupt zlib body: {e}")))?;
    if out.len() > max_len {
        return Err(RemotingError::decode(format!(
            "decompressed body exceeds the limit of {max_len} bytes"
        )));
    }
    Ok(out)
}
