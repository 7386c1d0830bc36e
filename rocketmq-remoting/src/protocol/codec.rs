//! The frame codec: [`RemotingCommand`] to bytes and back (docs/protocol/frame.md §2–§4).
//!
//! A frame is `u32 length | u32 (serializeType << 24 | hdrlen) | header | body`, all big-endian,
//! where `length` counts everything after itself. The header is either JSON (type 0) or the
//! compact binary "ROCKETMQ" layout (type 1); the command's
//! [`serialize_type`](RemotingCommand::serialize_type) chooses the one we write, and a decoded
//! command remembers the one it arrived in so that a response can answer in kind.
//!
//! Encoding is strict and deterministic: the JSON header is written in the member order Java's
//! fastjson produces (alphabetical), so our frames are byte-identical to a Java peer's for the
//! same field values. Decoding is lenient, because real clients differ (docs/protocol/frame.md §3; docs/protocol/clients.md):
//! members in any order, unknown members ignored, `null`s, numbers and booleans where strings are
//! expected, a trailing newline, raw control characters inside strings.
//!
//! ```
//! use bytes::BytesMut;
//! use rocketmq_rs_remoting::protocol::codec::{encode_frame, FrameDecoder};
//! use rocketmq_rs_remoting::protocol::RemotingCommand;
//!
//! let mut req = RemotingCommand::request(105).with_opaque(1);
//! req.ext_fields.insert("topic", "TopicTest");
//!
//! let mut buf = BytesMut::new();
//! encode_frame(&req, &mut buf)?;
//!
//! let mut decoder = FrameDecoder::default();
//! let decoded = decoder.decode(&mut buf)?.expect("a whole frame is buffered");
//! assert_eq!(decoded, req);
//! assert!(buf.is_empty());
//! # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
//! ```

use std::borrow::Cow;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{RemotingError, Result};
use crate::protocol::command::{
    format_i64, ExtFields, LanguageCode, RemotingCommand, SerializeType, WireExt,
};
use crate::protocol::header::{FieldSink, WriteFields};
use crate::protocol::raw::{RawResponse, SpanHead, SpanPair, MAX_SPAN_PAIRS};

/// Default maximum size of a whole frame, length prefix included: 16 MiB, as Java's
/// `NettyDecoder` (so the largest length-prefix value accepted is 16 MiB − 4).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// The largest header the 24-bit header-length field can describe.
pub const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// Bytes of the length prefix.
const PREFIX_LEN: usize = 4;
/// Bytes of the serialize-type/header-length word.
const WORD_LEN: usize = 4;
/// Fixed part of a binary header: code, language, version, opaque, flag, remarkLen, extLen.
const BINARY_FIXED_LEN: usize = 21;
/// Nesting limit for JSON values we skip or keep verbatim; deeper input is rejected rather than
/// risking the stack on a hostile header.
const MAX_JSON_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends one whole frame for `cmd` to `dst`: length prefix, serialize-type/header-length word,
/// header (in `cmd.serialize_type`) and body.
///
/// The JSON header has the members `code, extFields, flag, language, opaque, remark,
/// serializeTypeCurrentRPC, version` in that (fastjson's alphabetical) order; `remark` is omitted
/// when `None`, `extFields` when empty, and `extFields` keeps the map's insertion order.
/// `serializeTypeCurrentRPC` is always written as `"JSON"`, as Java does (some servers, e.g.
/// rocketmq-rust 1.0, reject headers without it).
///
/// On error nothing is appended to `dst`.
///
/// # Errors
///
/// - [`RemotingError::InvalidField`] when, in binary mode, `code` or `version` does not fit an
///   `i16`, or an ext key is longer than 32767 bytes;
/// - [`RemotingError::FrameTooLarge`] when the header exceeds [`MAX_HEADER_LEN`] or the frame
///   exceeds the 32-bit length prefix.
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::codec::encode_frame;
/// use rocketmq_rs_remoting::protocol::{RemotingCommand, SerializeType};
///
/// let cmd = RemotingCommand::request(34).with_opaque(9).with_body(&b"{}"[..]);
/// let mut buf = BytesMut::new();
/// encode_frame(&cmd, &mut buf)?;
/// let header_len = (u32::from_be_bytes(buf[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
/// assert_eq!(buf.len(), 8 + header_len + 2);
/// assert!(buf[8..].starts_with(br#"{"code":34,"flag":0,"language":"RUST","opaque":9,"#));
///
/// let big = RemotingCommand::request(200_050).with_serialize_type(SerializeType::RocketMq);
/// assert!(encode_frame(&big, &mut buf).is_err());
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn encode_frame(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    encode_parts(cmd, dst, true)
}

/// Appends everything of `cmd`'s frame except the body: length prefix (which still counts the
/// body), serialize-type/header-length word and header.
///
/// For large bodies this lets a transport write the head and then `cmd.body` (a shared
/// [`Bytes`]) without copying the body into the output buffer. Errors as [`encode_frame`].
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::codec::{encode_frame, encode_frame_head};
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
///
/// let cmd = RemotingCommand::request(310).with_body(vec![7u8; 1000]);
/// let (mut head, mut whole) = (BytesMut::new(), BytesMut::new());
/// encode_frame_head(&cmd, &mut head)?;
/// encode_frame(&cmd, &mut whole)?;
/// head.extend_from_slice(&cmd.body);
/// assert_eq!(head, whole);
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn encode_frame_head(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    encode_parts(cmd, dst, false)
}

/// Appends the frame of `cmd` with the fields of the typed `header` added to its `extFields`
/// (after the fields `cmd.ext_fields` already holds), written straight into `dst`: the same
/// bytes as [`encode_frame`] of `cmd` after `header.write_fields(&mut cmd.ext_fields)`, without
/// building that map. This is the producer's send path (SEND_MESSAGE_V2), where the map was
/// the largest part of encoding a request. Errors as [`encode_frame`].
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::codec::{encode_frame, encode_frame_with};
/// use rocketmq_rs_remoting::protocol::header::SendMessageRequestHeaderV2Ref;
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
///
/// let header = SendMessageRequestHeaderV2Ref {
///     a: "pg", b: "TopicTest", c: "TBW102", d: 4, e: 1, f: 0, g: 1_700_000_000_000, h: 0,
///     i: Some("TAGS\u{1}a\u{2}"), j: Some(0), k: Some(false), l: None, m: Some(false),
///     n: Some("broker-a"), bname: None,
/// };
/// let bare = RemotingCommand::request(310).with_opaque(5).with_body(&b"hello"[..]);
/// let mut direct = BytesMut::new();
/// encode_frame_with(&bare, &header, &mut direct)?;
///
/// let mut mapped = bare.clone();
/// header.write_to(&mut mapped.ext_fields);
/// let mut via_map = BytesMut::new();
/// encode_frame(&mapped, &mut via_map)?;
/// assert_eq!(direct, via_map);
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn encode_frame_with<H: WriteFields + ?Sized>(
    cmd: &RemotingCommand,
    header: &H,
    dst: &mut BytesMut,
) -> Result<()> {
    encode_with(cmd, header, dst, true)
}

/// [`encode_frame_with`] without the body, as [`encode_frame_head`] is to [`encode_frame`].
pub fn encode_frame_head_with<H: WriteFields + ?Sized>(
    cmd: &RemotingCommand,
    header: &H,
    dst: &mut BytesMut,
) -> Result<()> {
    encode_with(cmd, header, dst, false)
}

fn encode_with<H: WriteFields + ?Sized>(
    cmd: &RemotingCommand,
    header: &H,
    dst: &mut BytesMut,
    with_body: bool,
) -> Result<()> {
    if cmd.ext_fields.is_empty() {
        return encode_parts_from(cmd, &TypedExt(header), dst, with_body);
    }
    // Fields on both sides (e.g. a signed request): merge them as the map would, so that a
    // key written twice keeps its first position and its last value.
    let mut ext = cmd.ext_fields.clone();
    header.write_fields(&mut ext);
    encode_parts_from(cmd, &MapExt(&ext), dst, with_body)
}

fn encode_parts(cmd: &RemotingCommand, dst: &mut BytesMut, with_body: bool) -> Result<()> {
    encode_parts_from(cmd, &MapExt(&cmd.ext_fields), dst, with_body)
}

/// Where the `extFields` of a frame being encoded come from: a map, or a typed header writing
/// its fields straight into the frame.
trait ExtSource {
    /// `(fields, bytes of keys and values)`, for the size estimate.
    fn hint(&self) -> (usize, usize);
    /// Writes `,"extFields":{...}` (nothing when there are no fields).
    fn write_json(&self, w: &mut HeaderWriter<'_>);
    /// Writes the binary `extLen` and fields.
    fn write_binary(&self, dst: &mut BytesMut) -> Result<()>;
}

struct MapExt<'a>(&'a ExtFields);

impl ExtSource for MapExt<'_> {
    fn hint(&self) -> (usize, usize) {
        (self.0.len(), self.0.text_len())
    }

    fn write_json(&self, dst: &mut HeaderWriter<'_>) {
        let mut entries = self.0.iter();
        if let Some((k, v)) = entries.next() {
            dst.put(b",\"extFields\":{\"");
            put_json_str_body(dst, k);
            dst.put(b"\":\"");
            put_json_str_body(dst, v);
            for (k, v) in entries {
                dst.put(b"\",\"");
                put_json_str_body(dst, k);
                dst.put(b"\":\"");
                put_json_str_body(dst, v);
            }
            dst.put(b"\"}");
        }
    }

    fn write_binary(&self, dst: &mut BytesMut) -> Result<()> {
        let mut ext_len: usize = 0;
        for (k, v) in self.0.iter() {
            if k.len() > i16::MAX as usize {
                return Err(key_too_long(k.len()));
            }
            ext_len = ext_len.saturating_add(2 + k.len() + 4 + v.len());
        }
        if ext_len > MAX_HEADER_LEN {
            return Err(RemotingError::FrameTooLarge {
                len: ext_len,
                max: MAX_HEADER_LEN,
            });
        }
        // At most MAX_HEADER_LEN (checked above), so the casts are exact.
        dst.put_i32(ext_len as i32);
        for (k, v) in self.0.iter() {
            dst.put_i16(k.len() as i16);
            dst.put_slice(k.as_bytes());
            dst.put_i32(v.len() as i32);
            dst.put_slice(v.as_bytes());
        }
        Ok(())
    }
}

fn key_too_long(len: usize) -> RemotingError {
    RemotingError::InvalidField {
        field: "extFields",
        value: format!("a key of {len} bytes (the binary header allows 32767)"),
    }
}

struct TypedExt<'h, H: ?Sized>(&'h H);

impl<H: WriteFields + ?Sized> ExtSource for TypedExt<'_, H> {
    fn hint(&self) -> (usize, usize) {
        self.0.size_hint()
    }

    fn write_json(&self, w: &mut HeaderWriter<'_>) {
        let mut sink = JsonFields { w, any: false };
        self.0.write_fields(&mut sink);
        if sink.any {
            sink.w.put(b"\"}");
        }
    }

    fn write_binary(&self, dst: &mut BytesMut) -> Result<()> {
        let len_at = dst.len();
        dst.put_i32(0);
        let mut sink = BinaryFields {
            dst: &mut *dst,
            long_key: None,
            too_large: false,
        };
        self.0.write_fields(&mut sink);
        let (long_key, too_large) = (sink.long_key, sink.too_large);
        if let Some(len) = long_key {
            return Err(key_too_long(len));
        }
        let ext_len = dst.len() - len_at - 4;
        if too_large || ext_len > MAX_HEADER_LEN {
            return Err(RemotingError::FrameTooLarge {
                len: ext_len,
                max: MAX_HEADER_LEN,
            });
        }
        dst[len_at..len_at + 4].copy_from_slice(&(ext_len as i32).to_be_bytes());
        Ok(())
    }
}

/// Writes typed header fields as the members of the JSON `extFields` object, every value a
/// string as Java's `HashMap<String, String>` serializes it.
struct JsonFields<'w, 'a> {
    w: &'w mut HeaderWriter<'a>,
    /// Whether `"extFields":{` has been opened.
    any: bool,
}

impl JsonFields<'_, '_> {
    #[inline(always)]
    fn key(&mut self, key: &str) {
        if self.any {
            // A one-letter key (all of SEND_MESSAGE_V2's but `bname`) that needs no escaping
            // goes out with the punctuation around it in one write: `","k":"`.
            if let &[k] = key.as_bytes() {
                if k.is_ascii_alphanumeric() {
                    self.w.put(&[b'"', b',', b'"', k, b'"', b':', b'"']);
                    return;
                }
            }
            self.w.put(b"\",\"");
        } else {
            self.w.put(b",\"extFields\":{\"");
            self.any = true;
        }
        put_json_str_body(self.w, key);
        self.w.put(b"\":\"");
    }
}

impl FieldSink for JsonFields<'_, '_> {
    #[inline]
    fn str_field(&mut self, key: &'static str, value: &str) {
        self.key(key);
        put_json_str_body(self.w, value);
    }

    #[inline]
    fn i64_field(&mut self, key: &'static str, value: i64) {
        self.key(key);
        let mut buf = [0u8; 20];
        // Digits and `-` never need escaping.
        self.w.put(format_i64(value, &mut buf));
    }

    #[inline]
    fn bool_field(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.w.put(if value { b"true" } else { b"false" });
    }
}

/// Writes typed header fields in the binary layout (`i16` key length, key, `i32` value
/// length, value); problems are recorded and reported once all fields are written.
struct BinaryFields<'a> {
    dst: &'a mut BytesMut,
    long_key: Option<usize>,
    too_large: bool,
}

impl BinaryFields<'_> {
    #[inline]
    fn field(&mut self, key: &str, value: &[u8]) {
        if key.len() > i16::MAX as usize {
            self.long_key.get_or_insert(key.len());
            return;
        }
        if value.len() > MAX_HEADER_LEN {
            self.too_large = true;
            return;
        }
        self.dst.put_i16(key.len() as i16);
        self.dst.put_slice(key.as_bytes());
        self.dst.put_i32(value.len() as i32);
        self.dst.put_slice(value);
    }
}

impl FieldSink for BinaryFields<'_> {
    fn str_field(&mut self, key: &'static str, value: &str) {
        self.field(key, value.as_bytes());
    }

    fn i64_field(&mut self, key: &'static str, value: i64) {
        let mut buf = [0u8; 20];
        let digits = format_i64(value, &mut buf);
        self.field(key, digits);
    }

    fn bool_field(&mut self, key: &'static str, value: bool) {
        self.field(key, if value { b"true" } else { b"false" });
    }
}

fn encode_parts_from<E: ExtSource + ?Sized>(
    cmd: &RemotingCommand,
    ext: &E,
    dst: &mut BytesMut,
    with_body: bool,
) -> Result<()> {
    let start = dst.len();
    let body_len = cmd.body.len();
    let estimate = estimate_header_len(cmd, ext.hint());
    dst.reserve(PREFIX_LEN + WORD_LEN + estimate + if with_body { body_len } else { 0 });
    // Placeholders for the length prefix and the header-length word, patched below.
    dst.put_u64(0);
    let written = match cmd.serialize_type {
        SerializeType::Json => {
            write_json_header(cmd, ext, dst, estimate);
            Ok(())
        }
        SerializeType::RocketMq => write_binary_header(cmd, ext, dst),
    };
    if let Err(e) = written {
        dst.truncate(start);
        return Err(e);
    }
    let header_len = dst.len() - start - PREFIX_LEN - WORD_LEN;
    if header_len > MAX_HEADER_LEN {
        dst.truncate(start);
        return Err(RemotingError::FrameTooLarge {
            len: header_len,
            max: MAX_HEADER_LEN,
        });
    }
    let frame_len = (WORD_LEN as u64) + header_len as u64 + body_len as u64;
    let Ok(frame_len) = u32::try_from(frame_len) else {
        dst.truncate(start);
        return Err(RemotingError::FrameTooLarge {
            len: usize::try_from(frame_len + PREFIX_LEN as u64).unwrap_or(usize::MAX),
            max: u32::MAX as usize,
        });
    };
    let word = (u32::from(cmd.serialize_type.as_byte()) << 24) | header_len as u32;
    dst[start..start + PREFIX_LEN].copy_from_slice(&frame_len.to_be_bytes());
    dst[start + PREFIX_LEN..start + PREFIX_LEN + WORD_LEN].copy_from_slice(&word.to_be_bytes());
    if with_body {
        dst.extend_from_slice(&cmd.body);
    }
    Ok(())
}

/// A capacity hint (exact for binary headers without escapes, close for JSON).
fn estimate_header_len(cmd: &RemotingCommand, (fields, text): (usize, usize)) -> usize {
    let remark = cmd.remark.as_ref().map_or(0, |r| r.len() + 12);
    // Per field: quotes, colon, comma (JSON) or the two length fields (binary).
    let ext = text + 6 * fields;
    match cmd.serialize_type {
        // The slack covers typical escapes: each 0x01/0x02 property separator grows to `\u000N`.
        SerializeType::Json => 192 + remark + ext,
        SerializeType::RocketMq => BINARY_FIXED_LEN + remark + ext,
    }
}

/// Writes a header straight into the output buffer: the buffer is grown once to the estimated
/// size (zero-filled) and written by index, so each piece costs a bounds check and a copy
/// instead of a call into `BufMut`. [`HeaderWriter::finish`] trims it to what was written.
struct HeaderWriter<'a> {
    buf: &'a mut BytesMut,
    pos: usize,
}

impl<'a> HeaderWriter<'a> {
    fn new(buf: &'a mut BytesMut, estimate: usize) -> Self {
        let pos = buf.len();
        buf.resize(pos + estimate, 0);
        HeaderWriter { buf, pos }
    }

    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        let end = self.pos + s.len();
        if end > self.buf.len() {
            self.grow(end);
        }
        self.buf[self.pos..end].copy_from_slice(s);
        self.pos = end;
    }

    #[inline(always)]
    fn put_u8(&mut self, b: u8) {
        self.put(&[b]);
    }

    /// Grows by what this header needs, never in proportion to the whole buffer: the buffer
    /// may already hold many queued frames (the connection writer encodes a batch into one
    /// buffer), and zero-filling half of that per header cost more than the encode itself.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, end: usize) {
        self.buf.resize(end + 256, 0);
    }

    fn finish(self) {
        self.buf.truncate(self.pos);
    }
}

fn write_json_header<E: ExtSource + ?Sized>(
    cmd: &RemotingCommand,
    ext: &E,
    dst: &mut BytesMut,
    estimate: usize,
) {
    let mut w = HeaderWriter::new(dst, estimate);
    let dst = &mut w;
    // Fixed text goes out in as few writes as possible: constant keys with their quotes and
    // colons, and the whole `language` member, are single static slices.
    dst.put(b"{\"code\":");
    put_decimal(dst, cmd.code);
    ext.write_json(dst);
    dst.put(b",\"flag\":");
    put_decimal(dst, cmd.flag);
    dst.put(language_member(cmd.language));
    put_decimal(dst, cmd.opaque);
    if let Some(remark) = &cmd.remark {
        dst.put(b",\"remark\":\"");
        put_json_str_body(dst, remark);
        dst.put_u8(b'"');
    }
    dst.put(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_decimal(dst, cmd.version);
    dst.put_u8(b'}');
    w.finish();
}

/// `,"language":"NAME","opaque":` for each language (enum names need no escaping).
fn language_member(language: LanguageCode) -> &'static [u8] {
    match language {
        LanguageCode::Java => b",\"language\":\"JAVA\",\"opaque\":",
        LanguageCode::Cpp => b",\"language\":\"CPP\",\"opaque\":",
        LanguageCode::Dotnet => b",\"language\":\"DOTNET\",\"opaque\":",
        LanguageCode::Python => b",\"language\":\"PYTHON\",\"opaque\":",
        LanguageCode::Delphi => b",\"language\":\"DELPHI\",\"opaque\":",
        LanguageCode::Erlang => b",\"language\":\"ERLANG\",\"opaque\":",
        LanguageCode::Ruby => b",\"language\":\"RUBY\",\"opaque\":",
        LanguageCode::Other => b",\"language\":\"OTHER\",\"opaque\":",
        LanguageCode::Http => b",\"language\":\"HTTP\",\"opaque\":",
        LanguageCode::Go => b",\"language\":\"GO\",\"opaque\":",
        LanguageCode::Php => b",\"language\":\"PHP\",\"opaque\":",
        LanguageCode::Oms => b",\"language\":\"OMS\",\"opaque\":",
        LanguageCode::Rust => b",\"language\":\"RUST\",\"opaque\":",
        LanguageCode::NodeJs => b",\"language\":\"NODE_JS\",\"opaque\":",
    }
}

/// Writes `n` in decimal without going through `fmt`.
#[inline]
fn put_decimal(dst: &mut HeaderWriter<'_>, n: i32) {
    let mut buf = [0u8; 20];
    dst.put(crate::protocol::command::format_i64(i64::from(n), &mut buf));
}

/// Writes `s` as a JSON string. Only `"`, `\\`, and control characters are escaped (non-ASCII
/// stays raw UTF-8, as fastjson writes it); the property separators 0x01/0x02 thus become
/// `\u0001`/`\u0002`.
#[cfg(test)]
fn put_json_str(dst: &mut BytesMut, s: &str) {
    let mut w = HeaderWriter::new(dst, s.len() + 2);
    w.put_u8(b'"');
    put_json_str_body(&mut w, s);
    w.put_u8(b'"');
    w.finish();
}

/// Index of the first byte of `s` that JSON requires escaped (`"`, `\\`, below 0x20).
#[inline]
fn find_json_escape(s: &[u8]) -> Option<usize> {
    find_special::<true>(s)
}

/// Writes the inside of a JSON string for `s` (no quotes), escaping as [`put_json_str`].
#[inline]
fn put_json_str_body(dst: &mut HeaderWriter<'_>, s: &str) {
    let bytes = s.as_bytes();
    let Some(first) = find_json_escape(bytes) else {
        dst.put(bytes);
        return;
    };
    put_escaped_from(dst, bytes, first);
}

/// The slow path of [`put_json_str_body`]: `bytes[at]` is the first byte needing an escape.
fn put_escaped_from(dst: &mut HeaderWriter<'_>, bytes: &[u8], mut at: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run_start = 0;
    loop {
        dst.put(&bytes[run_start..at]);
        let c = bytes[at];
        match c {
            b'"' => dst.put(b"\\\""),
            b'\\' => dst.put(b"\\\\"),
            b'\n' => dst.put(b"\\n"),
            b'\r' => dst.put(b"\\r"),
            b'\t' => dst.put(b"\\t"),
            0x08 => dst.put(b"\\b"),
            0x0c => dst.put(b"\\f"),
            _ => dst.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
        run_start = at + 1;
        match find_json_escape(&bytes[run_start..]) {
            Some(n) => at = run_start + n,
            None => break,
        }
    }
    dst.put(&bytes[run_start..]);
}

fn write_binary_header<E: ExtSource + ?Sized>(
    cmd: &RemotingCommand,
    ext: &E,
    dst: &mut BytesMut,
) -> Result<()> {
    // The fixed part is validated before anything is written; the caller cuts whatever was
    // written when the fields fail.
    let code = i16::try_from(cmd.code).map_err(|_| RemotingError::InvalidField {
        field: "code",
        value: format!("{} (does not fit the 16 bits of a binary header)", cmd.code),
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| RemotingError::InvalidField {
        field: "version",
        value: format!(
            "{} (does not fit the 16 bits of a binary header)",
            cmd.version
        ),
    })?;
    let remark = cmd.remark.as_deref().unwrap_or("");
    if remark.len() > MAX_HEADER_LEN {
        return Err(RemotingError::FrameTooLarge {
            len: remark.len(),
            max: MAX_HEADER_LEN,
        });
    }
    dst.put_i16(code);
    dst.put_u8(cmd.language.code());
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    // At most MAX_HEADER_LEN (checked above), so the cast is exact.
    dst.put_i32(remark.len() as i32);
    dst.put_slice(remark.as_bytes());
    ext.write_binary(dst)
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Incremental frame decoder for a byte stream.
///
/// Feed it the connection's read buffer; each call removes at most one whole frame from the front
/// of the buffer. The length prefix is checked against the maximum as soon as its 4 bytes are
/// there, before anything of the frame is buffered, so a hostile peer cannot make us hold more
/// than the maximum. After an error the stream is out of sync: close the connection (as Java
/// does).
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::codec::{encode_frame, FrameDecoder};
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
/// use rocketmq_rs_remoting::RemotingError;
///
/// let mut wire = BytesMut::new();
/// encode_frame(&RemotingCommand::request(34).with_opaque(1), &mut wire)?;
/// encode_frame(&RemotingCommand::request(35).with_opaque(2), &mut wire)?;
///
/// let mut decoder = FrameDecoder::new(1024);
/// let mut buf = BytesMut::new();
/// let mut seen = Vec::new();
/// for chunk in wire.chunks(7) {
///     buf.extend_from_slice(chunk);
///     while let Some(cmd) = decoder.decode(&mut buf)? {
///         seen.push(cmd.opaque);
///     }
/// }
/// assert_eq!(seen, [1, 2]);
///
/// let mut hostile = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
/// assert!(matches!(decoder.decode(&mut hostile), Err(RemotingError::FrameTooLarge { .. })));
/// # Ok::<(), RemotingError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    /// A decoder accepting frames up to [`DEFAULT_MAX_FRAME_SIZE`].
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder accepting whole frames (length prefix included) of at most `max_frame_size`
    /// bytes.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder { max_frame_size }
    }

    /// The configured maximum frame size.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Removes and decodes the first frame of `src`, or returns `Ok(None)` (leaving `src`
    /// untouched) while the frame is incomplete.
    ///
    /// The decoded body is a zero-copy slice of the buffer.
    ///
    /// # Errors
    ///
    /// [`RemotingError::FrameTooLarge`] when the length prefix announces a frame larger than the
    /// maximum; [`RemotingError::Decode`] when the frame is malformed. Either way the connection
    /// should be closed.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>> {
        if src.len() < PREFIX_LEN {
            return Ok(None);
        }
        let declared = read_u32(src, 0) as usize;
        // Netty compares prefix + 4 against the maximum; mirror it so limits mean the same.
        let total = declared.saturating_add(PREFIX_LEN);
        if total > self.max_frame_size {
            return Err(RemotingError::FrameTooLarge {
                len: total,
                max: self.max_frame_size,
            });
        }
        if declared < WORD_LEN {
            return Err(RemotingError::decode(format!(
                "frame length {declared} is shorter than the 4-byte header-length word"
            )));
        }
        if src.len() >= PREFIX_LEN + WORD_LEN {
            // Reject a bad header word early instead of buffering the rest of a doomed frame.
            split_word(read_u32(src, PREFIX_LEN), declared - WORD_LEN)?;
        }
        if src.len() < total {
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        let frame = src.split_to(declared).freeze();
        decode_header_and_body(frame).map(Some)
    }

    /// As [`decode`](Self::decode), leaving a JSON header's extFields as ranges of the frame
    /// ([`decode_raw_header_and_body`]).
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_raw(&mut self, src: &mut BytesMut) -> Result<Option<RawResponse>> {
        if src.len() < PREFIX_LEN + WORD_LEN {
            // Too short to check anything `decode` does not check the same way.
            return self.decode(src).map(|cmd| cmd.map(RawResponse::from));
        }
        let declared = read_u32(src, 0) as usize;
        let total = declared.saturating_add(PREFIX_LEN);
        if total > self.max_frame_size || declared < WORD_LEN || src.len() < total {
            // Incomplete or refused: `decode` says which, with its errors.
            return self.decode(src).map(|cmd| cmd.map(RawResponse::from));
        }
        src.advance(PREFIX_LEN);
        let frame = src.split_to(declared).freeze();
        decode_raw_header_and_body(frame).map(Some)
    }
}

/// As [`decode_header_and_body`], but a JSON header's extFields are left as ranges of `frame`
/// for the caller to read ([`RawResponse::fields`]) instead of being built into an
/// [`ExtFields`] map. [`RawResponse::into_command`] gives what `decode_header_and_body` gives;
/// headers this reading does not cover (binary headers, escaped extFields strings, more than a
/// few fields, anything malformed) are decoded by `decode_header_and_body` itself, with its
/// errors.
///
/// # Errors
///
/// As [`decode_header_and_body`].
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use rocketmq_rs_remoting::protocol::codec::{decode_raw_header_and_body, encode_frame};
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
///
/// let mut cmd = RemotingCommand::response(0, None).with_opaque(5);
/// cmd.ext_fields.insert("queueOffset", "42");
/// let mut buf = BytesMut::new();
/// encode_frame(&cmd, &mut buf)?;
/// let raw = decode_raw_header_and_body(Bytes::from(buf).slice(4..))?;
/// assert_eq!((raw.opaque, raw.get("queueOffset")), (5, Some("42")));
/// assert_eq!(raw.into_command(), cmd);
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn decode_raw_header_and_body(frame: Bytes) -> Result<RawResponse> {
    if frame.len() >= WORD_LEN {
        let word = read_u32(&frame, 0);
        if let Ok((SerializeType::Json, header_len)) = split_word(word, frame.len() - WORD_LEN) {
            let end = WORD_LEN + header_len;
            if let Some(head) = frame.get(WORD_LEN..end).and_then(json_header_spans) {
                let body = frame.slice(end..);
                let header = frame.slice(WORD_LEN..end);
                return Ok(RawResponse::from_spans(head, header, body));
            }
        }
    }
    decode_header_and_body(frame).map(RawResponse::from)
}

/// A member of the JSON header object, as [`decode_json_header`] tells them apart.
#[derive(Clone, Copy)]
enum Member {
    Code,
    Version,
    Opaque,
    Flag,
    Language,
    Remark,
    ExtFields,
    Other,
}

impl Member {
    fn of(name: &str) -> Member {
        match name {
            "code" => Member::Code,
            "version" => Member::Version,
            "opaque" => Member::Opaque,
            "flag" => Member::Flag,
            "language" => Member::Language,
            "remark" => Member::Remark,
            "extFields" => Member::ExtFields,
            _ => Member::Other,
        }
    }
}

/// Reads a JSON header the way [`decode_json_header`] does, keeping the extFields as ranges of
/// `header`; `None` for anything it does not cover (see [`decode_raw_header_and_body`]), which
/// is then decoded the general way.
fn json_header_spans(header: &[u8]) -> Option<SpanHead> {
    // Ranges are kept in 16 bits.
    if header.len() > usize::from(u16::MAX) {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?;
    let mut p = JsonParser {
        buf: header,
        text,
        pos: 0,
    };
    p.skip_bom();
    p.ws();
    p.expect(b'{').ok()?;
    let mut head = SpanHead {
        code: 0,
        language: LanguageCode::Java,
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        text: (0, 0),
        pairs: [(0, 0, 0, 0); MAX_SPAN_PAIRS],
        len: 0,
    };
    p.ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
    } else {
        loop {
            p.ws();
            // The members as Java and we write them (`"name":`, no blanks) are recognised by
            // their second byte and one fixed-size compare; anything else is read as a string
            // key and matched by name, which gives the same for these and handles the rest.
            let member = match p.known_member() {
                Some(member) => member,
                None => {
                    let key = p.string().ok()?;
                    p.ws();
                    p.expect(b':').ok()?;
                    Member::of(&key)
                }
            };
            p.ws();
            match member {
                Member::Code => head.code = p.int_member("code").ok()?,
                Member::Version => head.version = p.int_member("version").ok()?,
                Member::Opaque => head.opaque = p.int_member("opaque").ok()?,
                Member::Flag => head.flag = p.int_member("flag").ok()?,
                Member::Language => head.language = p.language_member().ok()?,
                Member::Remark => head.remark = p.text_member("remark").ok()?,
                Member::ExtFields => p.ext_fields_spans(&mut head)?,
                Member::Other if p.peek() == Some(b'"') => {
                    p.string().ok()?;
                }
                Member::Other => p.skip_value(1).ok()?,
            }
            p.ws();
            match p.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return None,
            }
        }
    }
    while let Some(c) = p.peek() {
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0) {
            return None;
        }
        p.pos += 1;
    }
    Some(head)
}

/// Decodes one complete frame, length prefix included. The body is a zero-copy slice of `frame`.
///
/// No size limit is applied (the frame is already in memory); use [`FrameDecoder`] on streams.
///
/// # Errors
///
/// [`RemotingError::Decode`] when the length prefix does not match `frame.len()` or the frame is
/// malformed.
///
/// ```
/// use bytes::Bytes;
/// use rocketmq_rs_remoting::protocol::codec::decode_frame;
///
/// let header = br#"{"code":0,"flag":1,"language":"JAVA","opaque":1,"version":479}"#;
/// let mut frame = Vec::new();
/// frame.extend_from_slice(&(4 + header.len() as u32 + 2).to_be_bytes());
/// frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
/// frame.extend_from_slice(header);
/// frame.extend_from_slice(b"{}");
/// let cmd = decode_frame(Bytes::from(frame))?;
/// assert!(cmd.is_response());
/// assert_eq!((cmd.version, &cmd.body[..]), (479, &b"{}"[..]));
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn decode_frame(mut frame: Bytes) -> Result<RemotingCommand> {
    if frame.len() < PREFIX_LEN + WORD_LEN {
        return Err(RemotingError::decode(format!(
            "a frame of {} bytes is shorter than its 8-byte preamble",
            frame.len()
        )));
    }
    let declared = read_u32(&frame, 0) as usize;
    if declared != frame.len() - PREFIX_LEN {
        return Err(RemotingError::decode(format!(
            "length prefix {declared} does not match the {} bytes that follow it",
            frame.len() - PREFIX_LEN
        )));
    }
    frame.advance(PREFIX_LEN);
    decode_header_and_body(frame)
}

/// Decodes a frame whose length prefix has already been stripped (what a length-delimited
/// framer such as Netty's delivers): the serialize-type/header-length word, the header and the
/// body, which becomes a zero-copy slice of `frame`.
///
/// # Errors
///
/// [`RemotingError::Decode`] for an unknown serialize type, a header length beyond the frame, or
/// a malformed header.
///
/// ```
/// use bytes::Bytes;
/// use rocketmq_rs_remoting::protocol::codec::decode_header_and_body;
/// use rocketmq_rs_remoting::protocol::SerializeType;
///
/// // Binary header: code 105, JAVA, version 401, opaque 1, flag 0, no remark, no ext fields.
/// let mut frame = vec![0x01, 0, 0, 21, 0, 105, 0, 0x01, 0x91, 0, 0, 0, 1];
/// frame.extend_from_slice(&[0; 12]);
/// let cmd = decode_header_and_body(Bytes::from(frame))?;
/// assert_eq!((cmd.code, cmd.version, cmd.serialize_type), (105, 401, SerializeType::RocketMq));
/// # Ok::<(), rocketmq_rs_remoting::RemotingError>(())
/// ```
pub fn decode_header_and_body(mut frame: Bytes) -> Result<RemotingCommand> {
    if frame.len() < WORD_LEN {
        return Err(RemotingError::decode(format!(
            "a frame of {} bytes has no room for its header-length word",
            frame.len()
        )));
    }
    let (serialize_type, header_len) = split_word(read_u32(&frame, 0), frame.len() - WORD_LEN)?;
    frame.advance(WORD_LEN);
    let header = &frame[..header_len];
    let mut cmd = match serialize_type {
        SerializeType::Json => decode_json_header(header)?,
        SerializeType::RocketMq => decode_binary_header(header)?,
    };
    cmd.serialize_type = serialize_type;
    frame.advance(header_len);
    cmd.body = frame;
    Ok(cmd)
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Splits the header-length word and checks the header fits in the `room` bytes after it.
fn split_word(word: u32, room: usize) -> Result<(SerializeType, usize)> {
    let type_byte = (word >> 24) as u8;
    let serialize_type = SerializeType::from_byte(type_byte).ok_or_else(|| {
        RemotingError::decode(format!("unknown header serialize type {type_byte}"))
    })?;
    let header_len = (word & 0x00FF_FFFF) as usize;
    if header_len > room {
        return Err(RemotingError::decode(format!(
            "header length {header_len} exceeds the {room} bytes of the frame"
        )));
    }
    Ok((serialize_type, header_len))
}

/// The fields Java gives a command that a header does not mention.
fn blank_command(serialize_type: SerializeType) -> RemotingCommand {
    RemotingCommand {
        code: 0,
        language: LanguageCode::Java,
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        ext_fields: ExtFields::new(),
        body: Bytes::new(),
        serialize_type,
    }
}

// --- binary header ---------------------------------------------------------------------------

/// Bounds-checked big-endian reader over a binary header.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(RemotingError::decode(format!(
                "binary header: {what} needs {n} bytes, only {} left",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length field: negative or beyond the remaining header is malformed.
    fn len(&mut self, raw: i64, what: &str) -> Result<usize> {
        usize::try_from(raw)
            .ok()
            .filter(|&n| n <= self.buf.len())
            .ok_or_else(|| {
                RemotingError::decode(format!(
                    "binary header: {what} {raw} is negative or exceeds the {} bytes left",
                    self.buf.len()
                ))
            })
    }
}

fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand> {
    let mut r = Reader { buf: header };
    let mut cmd = blank_command(SerializeType::RocketMq);
    cmd.code = i32::from(r.i16("code")?);
    cmd.language = LanguageCode::from_code(r.take(1, "language")?[0]);
    cmd.version = i32::from(r.i16("version")?);
    cmd.opaque = r.i32("opaque")?;
    cmd.flag = r.i32("flag")?;
    let raw = r.i32("remark length")?;
    let remark_len = r.len(i64::from(raw), "remark length")?;
    let remark = r.take(remark_len, "remark")?;
    // Java reads a zero-length string as null.
    if !remark.is_empty() {
        cmd.remark = Some(String::from_utf8_lossy(remark).into_owned());
    }
    let raw = r.i32("ext area length")?;
    let ext_len = r.len(i64::from(raw), "ext area length")?;
    let mut area = Reader {
        buf: r.take(ext_len, "ext area")?,
    };
    // Bytes after the ext area are ignored, as Java does.
    let mut wire = WireExt::default();
    if !area.buf.is_empty() {
        // Keys and values are at most the area (plus replacement characters for invalid UTF-8).
        wire.arena.reserve(area.buf.len());
    }
    while !area.buf.is_empty() {
        let raw = area.i16("ext key length")?;
        let key_len = area.len(i64::from(raw), "ext key length")?;
        let key = area.take(key_len, "ext key")?;
        let raw = area.i32("ext value length")?;
        let value_len = area.len(i64::from(raw), "ext value length")?;
        let value = area.take(value_len, "ext value")?;
        // Zero-length strings are Java nulls: an absent field (a null key is unreachable).
        if !key.is_empty() && !value.is_empty() {
            let k = wire.push_text(&String::from_utf8_lossy(key));
            let v = wire.push_text(&String::from_utf8_lossy(value));
            if let (Some(k), Some(v)) = (k, v) {
                wire.push_pair(k, v);
            }
        }
    }
    if !wire.has_no_pairs() {
        cmd.ext_fields = ExtFields::from_wire(wire);
    }
    Ok(cmd)
}

// --- JSON header -----------------------------------------------------------------------------

/// Index of the first `"` or `\` in `s`.
#[inline]
fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    find_special::<false>(s)
}

/// Index of the first `"` or `\` in `s` (and, with `CONTROL`, of the first byte below 0x20),
/// eight bytes per step (SWAR: a byte equal to the target XORs to zero, and the classic "has a
/// zero byte" test flags it; subtracting 0x20 borrows into the high bit of bytes below 0x20.
/// The lowest flag is exact; any above it may be spurious, which does not matter).
#[inline]
fn find_special<const CONTROL: bool>(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let q = w ^ (LO * u64::from(b'"'));
        let b = w ^ (LO * u64::from(b'\\'));
        let mut m = (q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b);
        if CONTROL {
            m |= w.wrapping_sub(LO * 0x20) & !w;
        }
        let m = m & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..]
        .iter()
        .position(|&c| (CONTROL && c < 0x20) || c == b'"' || c == b'\\')
        .map(|p| i + p)
}

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand> {
    // Validate once: every string then is a slice of valid text between ASCII delimiters.
    // Invalid UTF-8 becomes U+FFFD up front, which is what converting each string lossily gave
    // (replacement never crosses an ASCII byte, so string boundaries stay where they were).
    let text: Cow<'_, str> = match std::str::from_utf8(header) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(header),
    };
    let mut p = JsonParser {
        buf: text.as_bytes(),
        text: &text,
        pos: 0,
    };
    p.skip_bom();
    p.ws();
    p.expect(b'{')?;
    let mut cmd = blank_command(SerializeType::Json);
    // extFields keys and values are ranges of a copy of the header (escaped strings are appended
    // to it decoded): one allocation for the whole map.
    let mut wire = WireExt::default();
    let mut has_ext = false;
    p.ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            match key.as_ref() {
                "code" => cmd.code = p.int_member("code")?,
                "version" => cmd.version = p.int_member("version")?,
                "opaque" => cmd.opaque = p.int_member("opaque")?,
                "flag" => cmd.flag = p.int_member("flag")?,
                "language" => cmd.language = p.language_member()?,
                "remark" => cmd.remark = p.text_member("remark")?,
                "extFields" => has_ext = p.ext_fields_member(&mut wire)?,
                // Unknown members are nearly always strings (`serializeTypeCurrentRPC`).
                _ if p.peek() == Some(b'"') => {
                    p.string()?;
                }
                _ => p.skip_value(1)?,
            }
            p.ws();
            match p.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(p.error("expected `,` or `}` after a member")),
            }
        }
    }
    // The C++ client appends a newline; tolerate any trailing blanks or NULs.
    while let Some(c) = p.peek() {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0) {
            p.pos += 1;
        } else {
            return Err(p.error("unexpected data after the header object"));
        }
    }
    if has_ext && !wire.has_no_pairs() {
        cmd.ext_fields = ExtFields::from_wire(wire);
    }
    Ok(cmd)
}

/// A lenient JSON scanner over a header, borrowing from it where it can.
struct JsonParser<'a> {
    buf: &'a [u8],
    /// `buf` as text (the header is validated or lossily converted before parsing).
    text: &'a str,
    pos: usize,
}
/// A scalar or verbatim JSON value, as header fields are read.
enum Scalar<'a> {
    Null,
    Text(Cow<'a, str>),
}

impl<'a> JsonParser<'a> {
    fn error(&self, what: &str) -> RemotingError {
        RemotingError::decode(format!("JSON header, byte {}: {what}", self.pos))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn skip_bom(&mut self) {
        if self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.pos += 3;
        }
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(c))
        }
    }

    #[cold]
    #[inline(never)]
    fn expected(&self, c: u8) -> RemotingError {
        self.error(&format!("expected `{}`", c as char))
    }

    fn literal(&mut self, lit: &'static str) -> Result<()> {
        if self.buf[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// A JSON string. Raw control characters are accepted (some writers do not escape the
    /// property separators) and invalid UTF-8 is replaced, as Java's decoder does (the header
    /// text was converted before parsing).
    ///
    /// Inlined: header keys and values are short and nearly always plain, so the call itself
    /// (saving and restoring registers around the scan) used to cost as much as the scan.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.pos;
        match find_quote_or_backslash(self.buf.get(start..).unwrap_or(&[])) {
            Some(n) if self.buf.get(start + n) == Some(&b'"') => {
                self.pos = start + n + 1;
                // Both ends are ASCII bytes, hence char boundaries of the text.
                Ok(Cow::Borrowed(self.slice(start, start + n)))
            }
            found => self.string_slow(start, found),
        }
    }

    /// The rest of [`JsonParser::string`] for a string with escapes (`found` is the offset of
    /// its first backslash) or without an end (`found` is `None`).
    #[cold]
    #[inline(never)]
    fn string_slow(&mut self, start: usize, found: Option<usize>) -> Result<Cow<'a, str>> {
        let Some(n) = found else {
            self.pos = self.buf.len();
            return Err(self.error("unterminated string"));
        };
        self.pos = start + n;
        let mut out = String::with_capacity((self.buf.len() - start).min(256));
        self.unescape_rest(start, &mut out)?;
        Ok(Cow::Owned(out))
    }

    /// Appends to `out` the string that opened at `start` (after its quote), whose first
    /// backslash is at `self.pos`, decoding escapes; leaves `self.pos` after the closing quote.
    fn unescape_rest(&mut self, start: usize, out: &mut String) -> Result<()> {
        out.push_str(self.slice(start, self.pos));
        loop {
            let run = self.pos;
            self.pos += find_quote_or_backslash(&self.buf[run..]).unwrap_or(self.buf.len() - run);
            out.push_str(self.slice(run, self.pos));
            match self.next() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                _ => {}
            }
            // A backslash.
            let unescaped = match self.next() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => match self.buf.get(self.pos..self.pos + 4) {
                    // `\u00XX`, how writers escape control characters (the property
                    // separators): no surrogate to consider.
                    Some(&[b'0', b'0', hi, lo])
                        if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() =>
                    {
                        self.pos += 4;
                        char::from(hex_val(hi) << 4 | hex_val(lo))
                    }
                    _ => self.unicode_escape()?,
                },
                _ => return Err(self.error("invalid escape sequence")),
            };
            out.push(unescaped);
        }
        Ok(())
    }

    /// `text[start..end]`; callers pass positions next to ASCII delimiters (char boundaries).
    #[inline]
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    /// A JSON string of extFields as a range of `wire.arena`, which starts as a copy of the
    /// header: a plain string is its own range, an escaped one is appended decoded.
    #[inline(always)]
    fn string_span(&mut self, wire: &mut WireExt) -> Result<(u32, u32)> {
        self.expect(b'"')?;
        let start = self.pos;
        match find_quote_or_backslash(self.buf.get(start..).unwrap_or(&[])) {
            Some(n) if self.buf.get(start + n) == Some(&b'"') => {
                self.pos = start + n + 1;
                Ok(span(start, start + n))
            }
            found => self.string_span_slow(wire, start, found),
        }
    }

    /// The rest of [`JsonParser::string_span`] for a string with escapes or without an end.
    #[cold]
    #[inline(never)]
    fn string_span_slow(
        &mut self,
        wire: &mut WireExt,
        start: usize,
        found: Option<usize>,
    ) -> Result<(u32, u32)> {
        let Some(n) = found else {
            self.pos = self.buf.len();
            return Err(self.error("unterminated string"));
        };
        self.pos = start + n;
        // Decoded in place at the end of the arena, which has room: it was reserved for the
        // header, and a decoded escape is never longer than its escaped form.
        let from = wire.arena.len();
        self.unescape_rest(start, &mut wire.arena)?;
        Ok(span(from, wire.arena.len()))
    }

    /// An extFields value as a range of `wire.arena` (see [`JsonParser::scalar`] for how
    /// values become text), or `None` for `null`.
    fn value_span(&mut self, wire: &mut WireExt) -> Result<Option<(u32, u32)>> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => return self.string_span(wire).map(Some),
            Some(b'n') => {
                self.literal("null")?;
                return Ok(None);
            }
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
            }
            Some(b'{' | b'[') => self.skip_value(2)?,
            _ => return Err(self.error("expected a value")),
        }
        Ok(Some(span(start, self.pos)))
    }

    /// The character of a `\uXXXX` escape (the `\u` is consumed), joining surrogate pairs; a
    /// lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.buf[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            // Not a pair: leave the second escape to be read on its own.
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape")),
            };
            v = v * 16 + u32::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    /// Fast path of [`JsonParser::int_member`]: an optional `-` and at most 9 digits, not
    /// followed by a fraction or exponent, read in place. Anything else (including a leading
    /// zero before more digits, which the general path rejects) returns `None` with the
    /// position unchanged.
    #[inline(always)]
    fn plain_int(&mut self) -> Option<i32> {
        let rest = self.buf.get(self.pos..)?;
        let neg = rest.first() == Some(&b'-');
        let digits = &rest[usize::from(neg)..];
        // One pass: accumulate while counting; a tenth digit or a fraction/exponent bails out
        // before anything could overflow (nine digits fit an i32).
        let mut v: i32 = 0;
        let mut count = 0;
        let mut next = None;
        for &d in digits {
            if !d.is_ascii_digit() {
                next = Some(d);
                break;
            }
            if count == 9 {
                return None;
            }
            v = v * 10 + i32::from(d - b'0');
            count += 1;
        }
        if count == 0 || (count > 1 && digits[0] == b'0') {
            return None;
        }
        if matches!(next, Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos += count + usize::from(neg);
        Some(if neg { -v } else { v })
    }

    /// A JSON number, returned as the text it was written with.
    fn number(&mut self) -> Result<&'a str> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        // Only ASCII was consumed.
        Ok(self.slice(start, self.pos))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<()> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            return Err(self.error("invalid number"));
        }
        Ok(())
    }

    /// Skips any JSON value; `depth` is the nesting level of the value.
    fn skip_value(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(open @ (b'{' | b'[')) => {
                self.pos += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                self.ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next() {
                        Some(b',') => {}
                        Some(c) if c == close => return Ok(()),
                        _ => return Err(self.error("expected `,` or the end of a container")),
                    }
                }
            }
            _ => Err(self.error("expected a value")),
        }
    }

    /// A value read as text the way fastjson fills a `String` field: strings as they are,
    /// numbers as written, booleans as `true`/`false`, objects and arrays verbatim; `null` apart.
    fn scalar(&mut self, depth: usize) -> Result<Scalar<'a>> {
        Ok(match self.peek() {
            Some(b'"') => Scalar::Text(self.string()?),
            Some(b'n') => {
                self.literal("null")?;
                Scalar::Null
            }
            Some(b't') => {
                self.literal("true")?;
                Scalar::Text(Cow::Borrowed("true"))
            }
            Some(b'f') => {
                self.literal("false")?;
                Scalar::Text(Cow::Borrowed("false"))
            }
            Some(b'-' | b'0'..=b'9') => Scalar::Text(Cow::Borrowed(self.number()?)),
            Some(b'{' | b'[') => {
                let start = self.pos;
                self.skip_value(depth)?;
                Scalar::Text(Cow::Borrowed(self.slice(start, self.pos)))
            }
            _ => return Err(self.error("expected a value")),
        })
    }

    /// `code`, `opaque`, `flag`, `version`: an integer, a string holding one, or `null` (0).
    #[inline(always)]
    fn int_member(&mut self, name: &str) -> Result<i32> {
        match self.plain_int() {
            Some(n) => Ok(n),
            None => self.int_member_slow(name),
        }
    }

    /// [`JsonParser::int_member`] for anything but a plain integer.
    #[cold]
    #[inline(never)]
    fn int_member_slow(&mut self, name: &str) -> Result<i32> {
        let text = match self.scalar(1)? {
            Scalar::Null => return Ok(0),
            Scalar::Text(t) => t,
        };
        text.trim()
            .parse::<i32>()
            .map_err(|_| self.error(&format!("`{name}` is not a 32-bit integer: {text:?}")))
    }

    /// `language`: an enum name or (lenient) its numeric code; unknown values are `OTHER`.
    fn language_member(&mut self) -> Result<LanguageCode> {
        match self.peek() {
            Some(b'"') => Ok(LanguageCode::from_name(&self.string()?)),
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                Ok(n.parse::<u8>()
                    .map(LanguageCode::from_code)
                    .unwrap_or(LanguageCode::Other))
            }
            _ => match self.scalar(1)? {
                Scalar::Null => Ok(LanguageCode::Other),
                Scalar::Text(t) => Ok(LanguageCode::from_name(&t)),
            },
        }
    }

    /// `remark`: absent stays `None`, `null` is `None`, scalars are their text.
    fn text_member(&mut self, name: &str) -> Result<Option<String>> {
        if matches!(self.peek(), Some(b'{' | b'[')) {
            return Err(self.error(&format!("`{name}` is not a string")));
        }
        Ok(match self.scalar(1)? {
            Scalar::Null => None,
            Scalar::Text(t) => Some(t.into_owned()),
        })
    }

    /// At a member written `"name":` for one of the header's own names: consumes it and
    /// returns the name. Otherwise `None`, with nothing consumed.
    #[inline(always)]
    fn known_member(&mut self) -> Option<Member> {
        let rest = self.buf.get(self.pos..)?;
        let (member, lit): (Member, &[u8]) = match rest.get(1)? {
            b'c' => (Member::Code, b"\"code\":"),
            b'e' => (Member::ExtFields, b"\"extFields\":"),
            b'f' => (Member::Flag, b"\"flag\":"),
            b'l' => (Member::Language, b"\"language\":"),
            b'o' => (Member::Opaque, b"\"opaque\":"),
            b'r' => (Member::Remark, b"\"remark\":"),
            b's' => (Member::Other, b"\"serializeTypeCurrentRPC\":"),
            b'v' => (Member::Version, b"\"version\":"),
            _ => return None,
        };
        if rest.starts_with(lit) {
            self.pos += lit.len();
            Some(member)
        } else {
            None
        }
    }

    /// [`JsonParser::ext_fields_member`] into ranges of the header: `None` (read the header the
    /// general way) for an escaped string, more pairs than fit, or anything malformed.
    fn ext_fields_spans(&mut self, head: &mut SpanHead) -> Option<()> {
        // A later `extFields` member replaces an earlier one, as in `ext_fields_member`.
        head.len = 0;
        if self.peek() == Some(b'n') {
            return self.literal("null").ok();
        }
        let start = self.pos;
        self.expect(b'{').ok()?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.ws();
            let (k0, k1) = self.plain_string_span()?;
            self.ws();
            self.expect(b':').ok()?;
            self.ws();
            let value = match self.peek() {
                Some(b'"') => Some(self.plain_string_span()?),
                Some(b'n') => {
                    self.literal("null").ok()?;
                    None
                }
                Some(b't' | b'f' | b'-' | b'0'..=b'9' | b'{' | b'[') => {
                    let mut wire = WireExt::default();
                    // Never touches `wire`: only strings do, and those are ruled out above.
                    self.value_span(&mut wire).ok()?
                }
                _ => return None,
            };
            if let Some((v0, v1)) = value {
                let slot = head.pairs.get_mut(usize::from(head.len))?;
                // The header is at most `u16::MAX` bytes (checked first).
                let pair: SpanPair = (k0 as u16, k1 as u16, v0 as u16, v1 as u16);
                *slot = pair;
                head.len += 1;
            }
            self.ws();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => {
                    head.text = (start as u16, self.pos as u16);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A JSON string without escapes, as the range of its text; `None` otherwise.
    #[inline(always)]
    fn plain_string_span(&mut self) -> Option<(u32, u32)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let n = find_quote_or_backslash(self.buf.get(start..)?)?;
        if self.buf.get(start + n) != Some(&b'"') {
            return None;
        }
        self.pos = start + n + 1;
        Some(span(start, start + n))
    }

    /// `extFields`: `null` or an object whose values become strings (nulls dropped). The pairs
    /// go to `wire` (replacing those of an earlier `extFields` member); returns whether the map
    /// is to be built from them.
    fn ext_fields_member(&mut self, wire: &mut WireExt) -> Result<bool> {
        wire.clear_pairs();
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            return Ok(false);
        }
        self.expect(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(false);
        }
        if wire.arena.is_empty() {
            // Spans of plain strings index this copy; decoded escapes are appended (they are
            // never longer than their escaped form, so twice the header is room for all).
            wire.arena.reserve(2 * self.text.len());
            wire.arena.push_str(self.text);
        }
        loop {
            self.ws();
            let key = self.string_span(wire)?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            if let Some(value) = self.value_span(wire)? {
                wire.push_pair(key, value);
            }
            self.ws();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(self.error("expected `,` or `}` in extFields")),
            }
        }
        Ok(true)
    }
}

/// The value of an ASCII hex digit (callers check `is_ascii_hexdigit`).
#[inline]
fn hex_val(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// A range of the header text as `u32`s (headers are at most [`MAX_HEADER_LEN`] bytes).
#[inline]
fn span(start: usize, end: usize) -> (u32, u32) {
    (start as u32, end as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(st: u8, header: &[u8], body: &[u8]) -> Bytes {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
        v.extend_from_slice(&((u32::from(st) << 24) | header.len() as u32).to_be_bytes());
        v.extend_from_slice(header);
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    fn json(header: &str) -> Result<RemotingCommand> {
        decode_frame(frame(0, header.as_bytes(), b""))
    }

    #[test]
    fn decimal_writer_covers_extremes() {
        for n in [0, 7, -1, 10, 401, i32::MAX, i32::MIN, -1000] {
            let mut b = BytesMut::new();
            let mut w = HeaderWriter::new(&mut b, 1);
            put_decimal(&mut w, n);
            w.finish();
            assert_eq!(std::str::from_utf8(&b).unwrap(), n.to_string());
        }
    }

    #[test]
    fn json_string_escaping_round_trips() {
        let s = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{2}\u{1f}\u{7f}é✓😀/";
        let mut b = BytesMut::new();
        put_json_str(&mut b, s);
        assert_eq!(
            &b[..],
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u0002\\u001f\u{7f}é✓😀/\"".as_bytes()
        );
        let text = std::str::from_utf8(&b).unwrap();
        let mut p = JsonParser {
            buf: &b,
            text,
            pos: 0,
        };
        assert_eq!(p.string().unwrap(), s);
    }

    #[test]
    fn json_member_leniency() {
        let cmd = json(
            r#" {"opaque":"7","unknown":{"x":[1,2,{"y":null}],"z":"\"}"},"code":105,
            "language":9,"flag":null,"remark":null,"extFields":{"a":1.5e3,"b":true,"c":null,
            "d":"x","e":[1, 2],"f":-0,"a":"last"}}
            "#,
        )
        .unwrap();
        assert_eq!(cmd.opaque, 7);
        assert_eq!(cmd.code, 105);
        assert_eq!(cmd.language, LanguageCode::Go);
        assert_eq!(cmd.flag, 0);
        assert_eq!(cmd.version, 0);
        assert_eq!(cmd.remark, None);
        let ext: Vec<_> = cmd.ext_fields.iter().collect();
        assert_eq!(
            ext,
            [
                ("a", "last"),
                ("b", "true"),
                ("d", "x"),
                ("e", "[1, 2]"),
                ("f", "-0")
            ]
        );
    }

    #[test]
    fn json_raw_control_characters_and_escapes_in_strings() {
        let cmd = json("{\"code\":1,\"extFields\":{\"i\":\"TAGS\u{1}A\u{2}\",\"j\":\"\\ud83d\\ude00\\ud800x\"}}").unwrap();
        assert_eq!(cmd.ext_fields.get("i"), Some("TAGS\u{1}A\u{2}"));
        assert_eq!(cmd.ext_fields.get("j"), Some("😀\u{fffd}x"));
        assert_eq!(
            cmd.language,
            LanguageCode::Java,
            "Java's default when absent"
        );
    }

    #[test]
    fn json_rejects_malformed_headers() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"code\":1",
            "{\"code\":1,}",
            "{\"code\":1}x",
            "{\"code\":1.5}",
            "{\"code\":4294967296}",
            "{\"code\":\"abc\"}",
            "{\"code\":01}",
            "{\"extFields\":[]}",
            "{\"extFields\":{\"a\":tru}}",
            "{\"remark\":{}}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
        ] {
            assert!(
                matches!(json(bad), Err(RemotingError::Decode(_))),
                "{bad:?}"
            );
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(json(&deep), Err(RemotingError::Decode(_))));
        let ok = format!("{{\"x\":{}{}}}", "[".repeat(60), "]".repeat(60));
        assert!(json(&ok).is_ok());
    }

    #[test]
    fn binary_rejects_bad_lengths() {
        let base = |remark_len: i32, ext: &[u8], ext_len: i32| {
            let mut h = vec![0, 105, 0, 1, 0x91, 0, 0, 0, 1, 0, 0, 0, 0];
            h.extend_from_slice(&remark_len.to_be_bytes());
            h.extend_from_slice(&ext_len.to_be_bytes());
            h.extend_from_slice(ext);
            decode_frame(frame(1, &h, b""))
        };
        assert!(base(0, b"", 0).is_ok());
        assert!(base(-1, b"", 0).is_err());
        assert!(base(1_000_000, b"", 0).is_err());
        assert!(base(0, b"", -5).is_err());
        assert!(base(0, b"", 1).is_err());
        assert!(
            base(0, &[0xff, 0xff, 0, 0, 0, 0], 6).is_err(),
            "negative key length"
        );
        assert!(
            base(0, &[0, 1, b'k', 0x7f, 0, 0, 0], 7).is_err(),
            "value beyond area"
        );
        // An empty key or value is a Java null: the entry disappears.
        let cmd = base(0, &[0, 1, b'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'v'], 14).unwrap();
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn encode_errors_leave_buffer_untouched() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let mut cmd = RemotingCommand::request(1).with_serialize_type(SerializeType::RocketMq);
        cmd.version = 40_000;
        assert!(matches!(
            encode_frame(&cmd, &mut buf),
            Err(RemotingError::InvalidField {
                field: "version",
                ..
            })
        ));
        cmd.version = 401;
        cmd.ext_fields.insert("k".repeat(40_000), "v");
        assert!(matches!(
            encode_frame(&cmd, &mut buf),
            Err(RemotingError::InvalidField {
                field: "extFields",
                ..
            })
        ));
        let json = RemotingCommand::request(1).with_remark("r".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            encode_frame(&json, &mut buf),
            Err(RemotingError::FrameTooLarge { .. })
        ));
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn header_growth_is_sized_by_the_header_not_the_queued_frames() {
        // A header whose escapes outgrow the estimate, encoded after 1 MiB of queued frames:
        // growth must be about the header's size, so the spare capacity suffices.
        let queued = 1 << 20;
        let mut buf = BytesMut::with_capacity(queued + 8192);
        buf.resize(queued, b'q');
        let cap = buf.capacity();
        let mut cmd = RemotingCommand::request(310);
        cmd.ext_fields
            .insert("properties", "\u{1}\u{2}".repeat(200));
        encode_frame(&cmd, &mut buf).unwrap();
        assert_eq!(
            buf.capacity(),
            cap,
            "the queued bytes were grown with the header"
        );
        let frame = buf.split_off(queued);
        assert!(buf.iter().all(|&b| b == b'q'));
        let back = decode_frame(frame.freeze()).unwrap();
        assert_eq!(
            back.ext_fields.get("properties"),
            cmd.ext_fields.get("properties")
        );
    }

    #[test]
    fn many_duplicate_ext_keys_keep_first_position_and_last_value() {
        let mut h = String::from("{\"extFields\":{");
        for i in 0..1000 {
            h.push_str(&format!("\"k{}\":\"{}\",", i % 40, i));
        }
        h.push_str("\"z\":\"end\"}}");
        let cmd = json(&h).unwrap();
        assert_eq!(cmd.ext_fields.len(), 41);
        let first: Vec<_> = cmd.ext_fields.iter().take(3).collect();
        assert_eq!(first, [("k0", "960"), ("k1", "961"), ("k2", "962")]);
        assert_eq!(cmd.ext_fields.get("z"), Some("end"));
    }

    #[test]
    fn strings_decode_plain_escaped_and_invalid_utf8() {
        let cmd = json(r#"{"code":0,"extFields":{"msgId":"AB","e":"x\"y\\z","zz":"\u00e9\u0001","MSG_REGION":"DefaultRegion"},"remark":"r"}"#).unwrap();
        assert_eq!(cmd.ext_fields.get("msgId"), Some("AB"));
        assert_eq!(cmd.ext_fields.get("e"), Some("x\"y\\z"));
        assert_eq!(cmd.ext_fields.get("zz"), Some("\u{e9}\u{1}"));
        assert_eq!(cmd.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(cmd.remark.as_deref(), Some("r"));
        // Invalid UTF-8 inside a plain and inside an escaped string becomes U+FFFD.
        let raw = b"{\"code\":0,\"extFields\":{\"topic\":\"a\xffb\",\"k\":\"\\n\xfe\"}}";
        let cmd = decode_frame(frame(0, raw, b"")).unwrap();
        assert_eq!(cmd.ext_fields.get("topic"), Some("a\u{fffd}b"));
        assert_eq!(cmd.ext_fields.get("k"), Some("\n\u{fffd}"));
        // Unterminated strings are errors, plain or after an escape.
        assert!(json(r#"{"code":0,"remark":"abc"#).is_err());
        assert!(json(r#"{"code":0,"remark":"a\"bc"#).is_err());
    }

    #[test]
    fn ext_fields_share_one_buffer_and_survive_edits() {
        let cmd = json(r#"{"code":0,"extFields":{"a":"x","u\u0041":"\u00e9","n":12,"t":true,"o":{"k":[1]},"z":null,"a":"y"},"extFields":{"b":"1","c":"\"q\""}}"#).unwrap();
        let ext: Vec<_> = cmd.ext_fields.iter().collect();
        assert_eq!(
            ext,
            [("b", "1"), ("c", "\"q\"")],
            "the last extFields member wins"
        );
        let cmd = json(r#"{"code":0,"extFields":{"a":"x","u\u0041":"\u00e9","n":12,"t":true,"o":{"k":[1]},"z":null,"a":"y"}}"#).unwrap();
        let ext: Vec<_> = cmd.ext_fields.iter().collect();
        assert_eq!(
            ext,
            [
                ("a", "y"),
                ("uA", "\u{e9}"),
                ("n", "12"),
                ("t", "true"),
                ("o", "{\"k\":[1]}")
            ]
        );
        let mut edited = cmd.ext_fields.clone();
        edited.insert("a", "z");
        assert_eq!(edited.remove("uA").as_deref(), Some("\u{e9}"));
        edited.insert_static_i64("q", -7);
        let owned: Vec<(String, String)> = edited.clone().into_iter().collect();
        assert_eq!(owned[0], ("a".to_string(), "z".to_string()));
        assert_eq!(edited.get("q"), Some("-7"));
        assert_eq!(edited.len(), 5);
        let rebuilt: ExtFields = owned.into_iter().collect();
        assert_eq!(rebuilt, edited);
    }
}
