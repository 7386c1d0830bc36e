//! Body compression (docs/protocol/message.md §5): the three algorithms that `sysFlag` bits 8–10
//! name, framed as Apache's Java client frames them: zlib streams (`DeflaterOutputStream`, also
//! what the Go and C++ clients write), zstd frames (`ZstdOutputStream`) and LZ4 frames
//! (`LZ4FrameOutputStream`, not raw LZ4 blocks).
//!
//! zstd and LZ4 are behind the default-on cargo features `zstd` and `lz4`; without them such
//! bodies give [`CompressionError::Disabled`] instead of bytes.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::sys_flag;
use crate::error::Result;

/// The level Java producers use for every algorithm (`rocketmq.message.compressLevel`,
/// default 5; LZ4 ignores it).
pub const DEFAULT_COMPRESS_LEVEL: u32 = 5;

/// Bodies at least this long are compressed by default producers (`compressMsgBodyOverHowmuch`).
pub const DEFAULT_COMPRESS_OVER: usize = 4096;

/// The default bound on a decompressed body: 64 MiB, far above the 4 MiB message size limit of
/// default producers and brokers, low enough that a decompression bomb cannot exhaust memory.
pub const DEFAULT_MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// The highest zstd level (zstd's own maximum).
pub const ZSTD_MAX_LEVEL: u32 = 22;

/// Why a body could not be compressed or decompressed.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{CompressionError, CompressionType};
/// let e = CompressionType::Zlib.decompress(b"not zlib", 1024).unwrap_err();
/// assert!(matches!(e, CompressionError::Corrupt { kind: CompressionType::Zlib, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// `sysFlag` bits 8–10 hold a value no RocketMQ version assigns (4–7).
    #[error(
        "unknown compression type {0} in sysFlag bits 8-10 (known: 1 LZ4, 2 ZSTD, 3 or 0 ZLIB); \
         the producer is newer than this client or the flag is corrupt"
    )]
    UnknownType(i32),
    /// The algorithm's cargo feature is off in this build.
    #[error("{0} bodies need the `{feature}` cargo feature of rocketmq-remoting / rocketmq-client", feature = .0.feature())]
    Disabled(CompressionType),
    /// The bytes are not a valid stream of the algorithm (or are truncated).
    #[error("corrupt {kind} body: {reason}")]
    Corrupt {
        /// The algorithm the sysFlag named.
        kind: CompressionType,
        /// What the decoder said.
        reason: String,
    },
    /// The body inflates past the configured bound (a decompression bomb, or a bound set too low).
    #[error("{kind} body decompresses to more than {max} bytes")]
    TooLarge {
        /// The algorithm.
        kind: CompressionType,
        /// The bound.
        max: usize,
    },
    /// The level is outside what the algorithm accepts.
    #[error("compression level {level} is out of range for {kind} (allowed: {range})")]
    BadLevel {
        /// The algorithm.
        kind: CompressionType,
        /// The level asked for.
        level: u32,
        /// The accepted range, as text.
        range: &'static str,
    },
}

/// A message whose body cannot be decompressed, and why (inside
/// [`crate::RemotingError::MessageBody`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot decompress the body of the message in {topic} queue {queue_id} at offset \
     {queue_offset} (commit-log offset {commit_log_offset}): {source}"
)]
pub struct UndecodableBody {
    /// The message's topic.
    pub topic: String,
    /// Its queue.
    pub queue_id: i32,
    /// Its queue offset.
    pub queue_offset: i64,
    /// Its commit-log offset.
    pub commit_log_offset: i64,
    /// Why its body cannot be read.
    #[source]
    pub source: CompressionError,
}

/// A body compression algorithm, as named by `sysFlag` bits 8–10 (Java `CompressionType`).
///
/// Parses from Java's names, case-insensitively, and serializes as the lower-case name:
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::CompressionType;
/// assert_eq!(CompressionType::from_value(0), Some(CompressionType::Zlib));
/// assert_eq!(CompressionType::Zlib.sys_flag(), 0x300);
/// assert_eq!("ZSTD".parse::<CompressionType>().unwrap(), CompressionType::Zstd);
/// assert_eq!(CompressionType::Lz4.to_string(), "LZ4");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// LZ4 frame format (type 1), as lz4-java's `LZ4FrameOutputStream` writes it.
    Lz4,
    /// Zstandard frame (type 2).
    Zstd,
    /// zlib (type 3, or type 0 from producers older than 4.9.4). The default, as in Java.
    #[default]
    Zlib,
}

impl CompressionType {
    /// Every algorithm.
    pub const ALL: [CompressionType; 3] = [
        CompressionType::Lz4,
        CompressionType::Zstd,
        CompressionType::Zlib,
    ];

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

    /// Java's name (`LZ4`, `ZSTD`, `ZLIB`).
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::Lz4 => "LZ4",
            CompressionType::Zstd => "ZSTD",
            CompressionType::Zlib => "ZLIB",
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

    /// Whether this build can compress and decompress the algorithm (zlib always; zstd and
    /// LZ4 with their cargo features).
    pub fn is_available(self) -> bool {
        match self {
            CompressionType::Zlib => true,
            CompressionType::Zstd => cfg!(feature = "zstd"),
            CompressionType::Lz4 => cfg!(feature = "lz4"),
        }
    }

    fn feature(self) -> &'static str {
        match self {
            CompressionType::Zlib => "default",
            CompressionType::Zstd => "zstd",
            CompressionType::Lz4 => "lz4",
        }
    }

    /// Checks `level` for this algorithm: zlib 0–9 (Java's `Deflater`), zstd 0–22 (0 is
    /// zstd's default, 3), LZ4 anything (ignored, as Java's `Lz4Compressor` ignores it).
    ///
    /// # Errors
    ///
    /// [`CompressionError::BadLevel`].
    pub fn check_level(self, level: u32) -> Result<(), CompressionError> {
        let (ok, range) = match self {
            CompressionType::Zlib => (level <= 9, "0..=9"),
            CompressionType::Zstd => (level <= ZSTD_MAX_LEVEL, "0..=22"),
            CompressionType::Lz4 => (true, "any (ignored)"),
        };
        if ok {
            Ok(())
        } else {
            Err(CompressionError::BadLevel {
                kind: self,
                level,
                range,
            })
        }
    }

    /// Compresses `body` the way Java's compressor of this type does (see the module docs for
    /// the framing) at `level` (see [`CompressionType::check_level`]).
    ///
    /// # Errors
    ///
    /// [`CompressionError::BadLevel`], [`CompressionError::Disabled`].
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::message::CompressionType;
    /// // zstd and LZ4 need their (default) cargo features.
    /// for t in CompressionType::ALL.into_iter().filter(|t| t.is_available()) {
    ///     let z = t.compress(&b"hello ".repeat(100), 5).unwrap();
    ///     assert!(z.len() < 600);
    ///     assert_eq!(t.decompress(&z, 1 << 20).unwrap(), b"hello ".repeat(100));
    /// }
    /// ```
    pub fn compress(self, body: &[u8], level: u32) -> Result<Vec<u8>, CompressionError> {
        self.check_level(level)?;
        match self {
            CompressionType::Zlib => Ok(zlib_compress(body, level)),
            CompressionType::Zstd => zstd_compress(body, level),
            CompressionType::Lz4 => lz4_compress(body),
        }
    }

    /// Decompresses `body`, refusing to produce more than `max_len` bytes (so a small
    /// malicious body cannot make us allocate gigabytes).
    ///
    /// # Errors
    ///
    /// [`CompressionError::Corrupt`] for a corrupt or truncated stream,
    /// [`CompressionError::TooLarge`], [`CompressionError::Disabled`].
    pub fn decompress(self, body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
        match self {
            CompressionType::Zlib => bounded_read(self, ZlibDecoder::new(body), body, max_len),
            CompressionType::Zstd => zstd_decompress(body, max_len),
            CompressionType::Lz4 => lz4_decompress(body, max_len),
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CompressionType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ZLIB" => Ok(CompressionType::Zlib),
            "ZSTD" => Ok(CompressionType::Zstd),
            "LZ4" => Ok(CompressionType::Lz4),
            _ => Err(format!(
                "unknown compression type {s:?}; expected zlib, zstd or lz4"
            )),
        }
    }
}

impl serde::Serialize for CompressionType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name().to_ascii_lowercase())
    }
}

impl<'de> serde::Deserialize<'de> for CompressionType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Decompresses the body of a message whose `sysFlag` is `flag`: the algorithm comes from bits
/// 8–10. Returns `None` when the COMPRESSED bit is clear (nothing to do).
///
/// # Errors
///
/// As [`CompressionType::decompress`], and [`CompressionError::UnknownType`] for type values
/// 4–7.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{decompress_for_flag, sys_flag, CompressionType};
/// let z = CompressionType::Zlib.compress(b"abc", 5).unwrap();
/// let flag = CompressionType::Zlib.compressed_sys_flag();
/// assert_eq!(decompress_for_flag(flag, &z, 1024).unwrap().unwrap(), b"abc");
/// assert!(decompress_for_flag(sys_flag::COMPRESSED | 0x500, &z, 1024).is_err());
/// assert!(decompress_for_flag(0, &z, 1024).unwrap().is_none());
/// ```
pub fn decompress_for_flag(
    flag: i32,
    body: &[u8],
    max_len: usize,
) -> Result<Option<Vec<u8>>, CompressionError> {
    if !sys_flag::check(flag, sys_flag::COMPRESSED) {
        return Ok(None);
    }
    let value = (flag & sys_flag::COMPRESSION_TYPE_MASK) >> 8;
    let kind = CompressionType::from_value(value).ok_or(CompressionError::UnknownType(value))?;
    kind.decompress(body, max_len).map(Some)
}

/// Compresses `body` into a zlib stream (RFC 1950: header, deflate data, Adler-32) at `level`
/// (0–9; larger values are clamped to 9).
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{compress, decompress};
/// let z = compress(b"hello hello hello hello", 5);
/// assert_eq!(z[0], 0x78);
/// assert_eq!(decompress(&z, 1024).unwrap(), b"hello hello hello hello");
/// ```
pub fn compress(body: &[u8], level: u32) -> Vec<u8> {
    zlib_compress(body, level.min(9))
}

/// Decompresses a zlib stream, refusing to produce more than `max_len` bytes (so a small
/// malicious body cannot make us allocate gigabytes).
///
/// Errors: [`crate::RemotingError::Compression`] for a corrupt or truncated stream or an output
/// larger than `max_len`.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{compress, decompress};
/// let bomb = compress(&vec![0u8; 1 << 20], 9);
/// assert!(decompress(&bomb, 1000).is_err());
/// assert!(decompress(b"not zlib", 1000).is_err());
/// ```
pub fn decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>> {
    Ok(CompressionType::Zlib.decompress(body, max_len)?)
}

fn zlib_compress(body: &[u8], level: u32) -> Vec<u8> {
    let out = Vec::with_capacity(body.len() / 2 + 64);
    let mut enc = ZlibEncoder::new(out, Compression::new(level));
    // Writing into a Vec has no I/O failure mode; the only error source would be the sink.
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .expect("zlib compression into a Vec cannot fail")
}

/// Reads `r` to the end, but never more than `max_len` bytes.
fn bounded_read(
    kind: CompressionType,
    r: impl Read,
    body: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, CompressionError> {
    // Typical ratios are 2–5x; start there but never beyond the bound.
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_len));
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CompressionError::Corrupt {
            kind,
            reason: e.to_string(),
        })?;
    if out.len() > max_len {
        return Err(CompressionError::TooLarge { kind, max: max_len });
    }
    Ok(out)
}

#[cfg(feature = "zstd")]
fn zstd_compress(body: &[u8], level: u32) -> Result<Vec<u8>, CompressionError> {
    // One frame, as Java's ZstdOutputStream writes (ours also records the content size in the
    // frame header, which every zstd decoder accepts).
    zstd::bulk::compress(body, level as i32).map_err(|e| CompressionError::Corrupt {
        kind: CompressionType::Zstd,
        reason: e.to_string(),
    })
}

#[cfg(not(feature = "zstd"))]
fn zstd_compress(_body: &[u8], _level: u32) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Disabled(CompressionType::Zstd))
}

#[cfg(feature = "zstd")]
fn zstd_decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    let kind = CompressionType::Zstd;
    // A streaming decoder: it reads concatenated frames, as Java's ZstdInputStream does, and
    // stops at the bound whatever a frame header claims.
    let dec =
        zstd::stream::read::Decoder::with_buffer(body).map_err(|e| CompressionError::Corrupt {
            kind,
            reason: e.to_string(),
        })?;
    bounded_read(kind, dec, body, max_len)
}

#[cfg(not(feature = "zstd"))]
fn zstd_decompress(_body: &[u8], _max_len: usize) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Disabled(CompressionType::Zstd))
}

#[cfg(feature = "lz4")]
fn lz4_compress(body: &[u8]) -> Result<Vec<u8>, CompressionError> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    // Java writes independent blocks of up to 4 MiB, no checksums. The block size in the frame
    // descriptor only bounds what a decoder must buffer, so the smallest size that holds the
    // whole body is chosen: one block, without a 4 MiB buffer for a 5 KiB message.
    let block_size = match body.len() {
        ..=0x1_0000 => BlockSize::Max64KB,
        0x1_0001..=0x4_0000 => BlockSize::Max256KB,
        0x4_0001..=0x10_0000 => BlockSize::Max1MB,
        _ => BlockSize::Max4MB,
    };
    let info = FrameInfo::new()
        .block_size(block_size)
        .block_mode(BlockMode::Independent);
    let mut enc = FrameEncoder::with_frame_info(info, Vec::with_capacity(body.len() / 2 + 32));
    enc.write_all(body).map_err(|e| CompressionError::Corrupt {
        kind: CompressionType::Lz4,
        reason: e.to_string(),
    })?;
    enc.finish().map_err(|e| CompressionError::Corrupt {
        kind: CompressionType::Lz4,
        reason: e.to_string(),
    })
}

#[cfg(not(feature = "lz4"))]
fn lz4_compress(_body: &[u8]) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Disabled(CompressionType::Lz4))
}

#[cfg(feature = "lz4")]
fn lz4_decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    bounded_read(
        CompressionType::Lz4,
        lz4_flex::frame::FrameDecoder::new(body),
        body,
        max_len,
    )
}

#[cfg(not(feature = "lz4"))]
fn lz4_decompress(_body: &[u8], _max_len: usize) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Disabled(CompressionType::Lz4))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The algorithms this build has (all three with the default features).
    fn available() -> impl Iterator<Item = CompressionType> {
        CompressionType::ALL
            .into_iter()
            .filter(|t| t.is_available())
    }

    #[test]
    fn bombs_stop_at_the_bound_for_every_type() {
        let big = vec![7u8; 1 << 20];
        for t in available() {
            let z = t.compress(&big, 5).unwrap();
            assert_eq!(
                t.decompress(&z, 1000),
                Err(CompressionError::TooLarge { kind: t, max: 1000 }),
                "{t}"
            );
            assert_eq!(t.decompress(&z, 1 << 20).unwrap(), big, "{t}");
        }
    }

    #[test]
    fn garbage_is_corrupt_for_every_type() {
        for t in available() {
            assert!(
                matches!(
                    t.decompress(b"definitely not compressed", 1 << 20),
                    Err(CompressionError::Corrupt { .. })
                ),
                "{t}"
            );
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let body = b"0123456789abcdef".repeat(1000);
        for t in available() {
            let z = t.compress(&body, 5).unwrap();
            assert!(t.decompress(&z[..z.len() / 2], 1 << 20).is_err(), "{t}");
        }
    }

    #[test]
    fn levels_are_checked_per_type() {
        assert!(CompressionType::Zlib.compress(b"x", 10).is_err());
        assert!(CompressionType::Zstd.check_level(22).is_ok());
        assert!(CompressionType::Zstd.compress(b"x", 23).is_err());
        assert!(CompressionType::Lz4.check_level(99).is_ok());
    }

    #[test]
    fn empty_bodies_round_trip() {
        for t in available() {
            let z = t.compress(b"", 5).unwrap();
            assert_eq!(t.decompress(&z, 10).unwrap(), b"", "{t}");
        }
    }

    #[test]
    fn compiled_out_algorithms_are_typed_errors() {
        for t in CompressionType::ALL
            .into_iter()
            .filter(|t| !t.is_available())
        {
            assert_eq!(t.compress(b"x", 1), Err(CompressionError::Disabled(t)));
            assert_eq!(t.decompress(b"x", 1), Err(CompressionError::Disabled(t)));
        }
    }

    #[test]
    fn unknown_type_bits_are_typed() {
        for v in 4..8 {
            let flag = sys_flag::COMPRESSED | (v << 8);
            assert_eq!(
                decompress_for_flag(flag, b"x", 10),
                Err(CompressionError::UnknownType(v))
            );
        }
    }
}
