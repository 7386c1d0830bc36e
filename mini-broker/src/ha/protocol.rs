//! The replication wire format: length-prefixed, checksummed frames.
//!
//! This is **our own** format, not Apache RocketMQ's HA protocol (a Java slave cannot follow a
//! mini-broker master, nor the reverse). Every frame is
//!
//! | bytes | field | notes |
//! |---|---|---|
//! | 4 | magic | `0x4D51_4841` (`"MQHA"`), big endian |
//! | 1 | kind | [`FrameKind`] |
//! | 8 | offset | commit-log offset, big-endian `i64` (meaning per kind) |
//! | 4 | length | payload length, big-endian `u32`, bounded per kind |
//! | 4 | crc32 | CRC-32 (IEEE) of kind, offset, length and payload |
//! | length | payload | |
//!
//! A reader checks the magic, the kind and the length bound *before* allocating the payload,
//! then the checksum; any failure is a typed [`HaError`] and the connection is dropped (the
//! slave reconnects and resumes from its own commit-log end, so nothing is lost or doubled).

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::HaError;

/// First four bytes of every frame.
pub const FRAME_MAGIC: u32 = 0x4D51_4841;

/// Size of the fixed frame header.
pub const HEADER_LEN: usize = 21;

/// Largest payload of a control frame (hello, ack, heartbeat, error).
pub const MAX_CONTROL_PAYLOAD: usize = 1024;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Slave → master, first frame: `offset` = end of the slave's commit log, payload = the
    /// slave's broker name (UTF-8, may be empty).
    Hello = 1,
    /// Slave → master: the slave's commit log now ends at `offset` (durable in its page cache,
    /// dispatched to its consume queues). No payload.
    Ack = 2,
    /// Master → slave: commit-log bytes starting at `offset` (whole records; a segment-end
    /// filler is sent as its 8-byte header only).
    Data = 3,
    /// Master → slave, when idle: the master's commit log ends at `offset`. No payload.
    Heartbeat = 4,
    /// Either way, before closing: payload = UTF-8 reason.
    Error = 5,
}

impl FrameKind {
    /// The kind with wire value `b`.
    pub fn from_u8(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Hello,
            2 => FrameKind::Ack,
            3 => FrameKind::Data,
            4 => FrameKind::Heartbeat,
            5 => FrameKind::Error,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is.
    pub kind: FrameKind,
    /// Commit-log offset (see [`FrameKind`]).
    pub offset: i64,
    /// Payload.
    pub payload: Bytes,
}

impl Frame {
    /// A frame without payload.
    pub fn control(kind: FrameKind, offset: i64) -> Frame {
        Frame {
            kind,
            offset,
            payload: Bytes::new(),
        }
    }

    /// An [`FrameKind::Error`] frame; the reason is cut to [`MAX_CONTROL_PAYLOAD`] bytes.
    pub fn error(reason: &str) -> Frame {
        let mut end = reason.len().min(MAX_CONTROL_PAYLOAD);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Frame {
            kind: FrameKind::Error,
            offset: 0,
            payload: Bytes::copy_from_slice(&reason.as_bytes()[..end]),
        }
    }

    /// The payload as text (hello, error), lossy.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The encoded header (the payload follows it on the wire).
    ///
    /// ```
    /// use rocketmq_rs_mini_broker::ha::protocol::{Frame, FrameKind, decode_header, HEADER_LEN};
    /// let f = Frame::control(FrameKind::Ack, 4096);
    /// let h = f.header();
    /// assert_eq!(h.len(), HEADER_LEN);
    /// let (kind, offset, len, _crc) = decode_header(&h, 0).unwrap();
    /// assert_eq!((kind, offset, len), (FrameKind::Ack, 4096, 0));
    /// ```
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&FRAME_MAGIC.to_be_bytes());
        h[4] = self.kind as u8;
        h[5..13].copy_from_slice(&self.offset.to_be_bytes());
        h[13..17].copy_from_slice(&(self.payload.len() as u32).to_be_bytes());
        let crc = checksum(&h[4..17], &self.payload);
        h[17..21].copy_from_slice(&crc.to_be_bytes());
        h
    }
}

fn checksum(head: &[u8], payload: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(head);
    c.update(payload);
    c.finalize()
}

/// Largest payload allowed for `kind` given the data-frame limit.
fn limit(kind: FrameKind, max_data: usize) -> usize {
    match kind {
        FrameKind::Data => max_data,
        _ => MAX_CONTROL_PAYLOAD,
    }
}

/// Checks a header: returns (kind, offset, payload length, crc). `max_data` bounds data
/// payloads; control payloads are bounded by [`MAX_CONTROL_PAYLOAD`].
pub fn decode_header(
    h: &[u8; HEADER_LEN],
    max_data: usize,
) -> Result<(FrameKind, i64, usize, u32), HaError> {
    let magic = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    if magic != FRAME_MAGIC {
        return Err(HaError::BadMagic(magic));
    }
    let kind = FrameKind::from_u8(h[4]).ok_or(HaError::UnknownKind(h[4]))?;
    let mut o = [0u8; 8];
    o.copy_from_slice(&h[5..13]);
    let offset = i64::from_be_bytes(o);
    let len = u32::from_be_bytes([h[13], h[14], h[15], h[16]]) as usize;
    let max = limit(kind, max_data);
    if len > max {
        return Err(HaError::FrameTooLarge { len, max });
    }
    if offset < 0 {
        return Err(HaError::Protocol(format!(
            "negative offset {offset} in {kind:?} frame"
        )));
    }
    let crc = u32::from_be_bytes([h[17], h[18], h[19], h[20]]);
    Ok((kind, offset, len, crc))
}

/// Reads one frame; the payload buffer is allocated only after the length passed its bound.
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max_data: usize,
) -> Result<Frame, HaError> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h).await.map_err(HaError::from_read)?;
    let (kind, offset, len, crc) = decode_header(&h, max_data)?;
    let mut payload = BytesMut::zeroed(len);
    r.read_exact(&mut payload)
        .await
        .map_err(HaError::from_read)?;
    let actual = checksum(&h[4..17], &payload);
    if actual != crc {
        return Err(HaError::Checksum {
            expected: crc,
            actual,
        });
    }
    Ok(Frame {
        kind,
        offset,
        payload: payload.freeze(),
    })
}

/// Writes one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    f: &Frame,
) -> Result<(), HaError> {
    w.write_all(&f.header()).await?;
    if !f.payload.is_empty() {
        w.write_all(&f.payload).await?;
    }
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn encode(f: &Frame) -> Vec<u8> {
        let mut v = f.header().to_vec();
        v.extend_from_slice(&f.payload);
        v
    }

    #[test]
    fn round_trip() {
        let f = Frame {
            kind: FrameKind::Data,
            offset: 123_456,
            payload: Bytes::from_static(b"records"),
        };
        let bytes = encode(&f);
        let got = block_on(read_frame(&mut &bytes[..], 1024)).unwrap();
        assert_eq!(got, f);
    }

    #[test]
    fn corrupt_payload_is_a_checksum_error() {
        let f = Frame {
            kind: FrameKind::Data,
            offset: 8,
            payload: Bytes::from_static(b"records"),
        };
        let mut bytes = encode(&f);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let err = block_on(read_frame(&mut &bytes[..], 1024)).unwrap_err();
        assert!(matches!(err, HaError::Checksum { .. }), "{err:?}");
    }

    #[test]
    fn corrupt_offset_is_a_checksum_error() {
        let mut bytes = encode(&Frame::control(FrameKind::Ack, 77));
        bytes[12] ^= 1;
        let err = block_on(read_frame(&mut &bytes[..], 1024)).unwrap_err();
        assert!(matches!(err, HaError::Checksum { .. }), "{err:?}");
    }

    #[test]
    fn bounds_are_checked_before_allocating() {
        let mut h = Frame::control(FrameKind::Data, 0).header();
        h[13..17].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = block_on(read_frame(&mut &h[..], 1 << 20)).unwrap_err();
        assert!(matches!(err, HaError::FrameTooLarge { .. }), "{err:?}");
        // Control frames have their own, small bound.
        let mut h = Frame::control(FrameKind::Ack, 0).header();
        h[13..17].copy_from_slice(&4096u32.to_be_bytes());
        let err = block_on(read_frame(&mut &h[..], 1 << 20)).unwrap_err();
        assert!(matches!(err, HaError::FrameTooLarge { .. }), "{err:?}");
    }

    #[test]
    fn bad_magic_kind_and_truncation() {
        let mut h = Frame::control(FrameKind::Ack, 0).header();
        h[0] = b'X';
        assert!(matches!(
            block_on(read_frame(&mut &h[..], 10)),
            Err(HaError::BadMagic(_))
        ));
        let mut h = Frame::control(FrameKind::Ack, 0).header();
        h[4] = 99;
        assert!(matches!(
            block_on(read_frame(&mut &h[..], 10)),
            Err(HaError::UnknownKind(99))
        ));
        let h = Frame::control(FrameKind::Ack, 0).header();
        assert!(matches!(
            block_on(read_frame(&mut &h[..10], 10)),
            Err(HaError::Closed)
        ));
    }

    #[test]
    fn error_frame_is_bounded() {
        let long = "é".repeat(4000);
        let f = Frame::error(&long);
        assert!(f.payload.len() <= MAX_CONTROL_PAYLOAD);
        assert!(f.text().starts_with('é'));
    }
}
