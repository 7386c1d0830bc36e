//! [`RawResponse`]: a decoded frame whose extFields have not been built into a map.

use bytes::Bytes;

use crate::protocol::command::{ExtFields, LanguageCode, RemotingCommand, SerializeType, WireExt};
use crate::protocol::command::{FLAG_ONEWAY, FLAG_RESPONSE};

/// At most this many extFields pairs are kept as ranges of the header; a header with more (or
/// longer than 64 KiB) is decoded into an [`ExtFields`] map instead (send and pull responses
/// have 4 to 8).
pub(crate) const MAX_SPAN_PAIRS: usize = 8;

/// `(key start, key end, value start, value end)` in the header (small, because a response is
/// moved a few times on its way to its caller).
pub(crate) type SpanPair = (u16, u16, u16, u16);

/// A decoded command (normally a response) whose extFields are read straight from the received
/// header, without building an [`ExtFields`] map first.
///
/// [`Connection::invoke_raw`](crate::transport::Connection::invoke_raw) returns it: a caller
/// that knows which fields it wants reads them with [`get`](Self::get) or
/// [`fields`](Self::fields) and copies only those, which is cheaper than the generic decode.
/// [`into_command`](Self::into_command) gives the [`RemotingCommand`] the generic decode gives
/// for the same frame.
///
/// ```
/// use rocketmq_rs_remoting::protocol::{RawResponse, RemotingCommand};
///
/// let mut cmd = RemotingCommand::response(0, None);
/// cmd.ext_fields.insert("queueId", "3");
/// let raw = RawResponse::from(cmd.clone());
/// assert_eq!(raw.get("queueId"), Some("3"));
/// assert_eq!(raw.into_command(), cmd);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawResponse {
    /// Response code (request code for a request).
    pub code: i32,
    /// The sender's language.
    pub language: LanguageCode,
    /// The sender's `MQVersion` ordinal.
    pub version: i32,
    /// The request id it answers.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Free text, usually an error description.
    pub remark: Option<String>,
    /// The body; empty when there is none.
    pub body: Bytes,
    /// How the header was serialized.
    pub serialize_type: SerializeType,
    ext: RawExt,
}

#[derive(Debug, Clone)]
enum RawExt {
    /// `header` is UTF-8 JSON text (checked by the decoder); each pair holds the byte ranges of
    /// a plain (unescaped) string or literal value in it, in wire order, repeats included, all
    /// within `header[text.0..text.1]`.
    Spans {
        header: Bytes,
        text: (u16, u16),
        pairs: [SpanPair; MAX_SPAN_PAIRS],
        len: u8,
    },
    Map(ExtFields),
}

/// The fields of a JSON header decoded by [`crate::protocol::codec`] into ranges of it.
pub(crate) struct SpanHead {
    pub(crate) code: i32,
    pub(crate) language: LanguageCode,
    pub(crate) version: i32,
    pub(crate) opaque: i32,
    pub(crate) flag: i32,
    pub(crate) remark: Option<String>,
    /// The extFields object's range (of the last `extFields` member).
    pub(crate) text: (u16, u16),
    pub(crate) pairs: [SpanPair; MAX_SPAN_PAIRS],
    pub(crate) len: u8,
}

impl RawResponse {
    /// Built by the codec from a JSON header it read into ranges.
    pub(crate) fn from_spans(head: SpanHead, header: Bytes, body: Bytes) -> Self {
        RawResponse {
            code: head.code,
            language: head.language,
            version: head.version,
            opaque: head.opaque,
            flag: head.flag,
            remark: head.remark,
            body,
            serialize_type: SerializeType::Json,
            ext: RawExt::Spans {
                header,
                text: head.text,
                pairs: head.pairs,
                len: head.len,
            },
        }
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a oneway request.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The extFields `(key, value)` pairs in wire order. Unlike an [`ExtFields`] map, a key the
    /// sender repeated is seen each time; the map keeps the last value, so a reader that lets
    /// later pairs overwrite earlier ones sees what the map holds.
    pub fn fields(&self) -> RawFields<'_> {
        match &self.ext {
            RawExt::Spans {
                header,
                text,
                pairs,
                len,
            } => {
                let (start, end) = (usize::from(text.0), usize::from(text.1));
                // One check for the whole object; the decoder found it UTF-8 already, so this
                // never gives the empty text (with which every field would read as empty).
                let text = header
                    .get(start..end)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or("");
                RawFields(FieldsInner::Spans {
                    text,
                    base: start,
                    pairs: pairs.get(..usize::from(*len)).unwrap_or(&[]).iter(),
                })
            }
            RawExt::Map(map) => RawFields(FieldsInner::Map(Box::new(map.iter()))),
        }
    }

    /// The value of extFields `key` (the last one if the sender repeated it), as
    /// [`ExtFields::get`] gives it.
    pub fn get(&self, key: &str) -> Option<&str> {
        match &self.ext {
            RawExt::Map(map) => map.get(key),
            RawExt::Spans { .. } => self
                .fields()
                .filter(|(k, _)| *k == key)
                .last()
                .map(|(_, v)| v),
        }
    }

    /// The command the generic decoder ([`decode_header_and_body`]) gives for the same frame.
    ///
    /// [`decode_header_and_body`]: crate::protocol::codec::decode_header_and_body
    pub fn into_command(self) -> RemotingCommand {
        let ext_fields = match self.ext {
            RawExt::Map(map) => map,
            RawExt::Spans {
                header, pairs, len, ..
            } => {
                let pairs = pairs.get(..usize::from(len)).unwrap_or(&[]);
                // The decoder checked the header is UTF-8, so this is never empty when pairs
                // exist; were it not, no pair would resolve and the map would be empty.
                match (pairs.is_empty(), std::str::from_utf8(&header)) {
                    (false, Ok(text)) => {
                        let mut wire = WireExt::default();
                        wire.arena.push_str(text);
                        for &(k0, k1, v0, v1) in pairs {
                            wire.push_pair(
                                (u32::from(k0), u32::from(k1)),
                                (u32::from(v0), u32::from(v1)),
                            );
                        }
                        ExtFields::from_wire(wire)
                    }
                    _ => ExtFields::new(),
                }
            }
        };
        RemotingCommand {
            code: self.code,
            language: self.language,
            version: self.version,
            opaque: self.opaque,
            flag: self.flag,
            remark: self.remark,
            ext_fields,
            body: self.body,
            serialize_type: self.serialize_type,
        }
    }
}

impl From<RemotingCommand> for RawResponse {
    fn from(cmd: RemotingCommand) -> Self {
        RawResponse {
            code: cmd.code,
            language: cmd.language,
            version: cmd.version,
            opaque: cmd.opaque,
            flag: cmd.flag,
            remark: cmd.remark,
            body: cmd.body,
            serialize_type: cmd.serialize_type,
            ext: RawExt::Map(cmd.ext_fields),
        }
    }
}

/// Iterator over the extFields of a [`RawResponse`] ([`RawResponse::fields`]).
pub struct RawFields<'a>(FieldsInner<'a>);

enum FieldsInner<'a> {
    Spans {
        /// The extFields object's text, which starts at `base` in the header.
        text: &'a str,
        base: usize,
        pairs: std::slice::Iter<'a, SpanPair>,
    },
    Map(Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>),
}

impl std::fmt::Debug for RawFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawFields")
    }
}

/// `text[start - base..end - base]`: a range the decoder found between ASCII delimiters,
/// hence on char boundaries (the empty string if it ever were not).
#[inline]
fn text_at(text: &str, base: usize, start: u16, end: u16) -> &str {
    let (start, end) = (usize::from(start), usize::from(end));
    text.get(start.wrapping_sub(base)..end.wrapping_sub(base))
        .unwrap_or("")
}

impl<'a> Iterator for RawFields<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.0 {
            FieldsInner::Spans { text, base, pairs } => {
                let &(k0, k1, v0, v1) = pairs.next()?;
                Some((text_at(text, *base, k0, k1), text_at(text, *base, v0, v1)))
            }
            FieldsInner::Map(it) => it.next(),
        }
    }
}
