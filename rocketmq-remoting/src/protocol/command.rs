//! [`RemotingCommand`], the unit of every exchange, and its small companion types.

use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 0x2;

/// The `version` we put into our own commands: the ordinal of Java's `MQVersion.V4_9_4`, which
/// makes NameServers answer routes in standard JSON (docs/protocol/frame.md §7).
pub const DEFAULT_VERSION: i32 = 401;

/// How a frame's header is serialized: the high byte of the header-length word.
///
/// ```
/// use rocketmq_rs_remoting::SerializeType;
/// assert_eq!(SerializeType::from_byte(1), Some(SerializeType::RocketMq));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// JSON header (type 0), the default of every client.
    #[default]
    Json,
    /// The compact binary "ROCKETMQ" header (type 1).
    RocketMq,
}

impl SerializeType {
    /// The byte on the wire.
    pub fn as_byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// Parses the byte on the wire.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// The sender's implementation language (docs/protocol/frame.md §6). Unknown values decode as `Other`.
///
/// ```
/// use rocketmq_rs_remoting::LanguageCode;
/// assert_eq!(LanguageCode::from_name("CPP"), LanguageCode::Cpp);
/// assert_eq!(LanguageCode::from_code(12), LanguageCode::Rust);
/// assert_eq!(LanguageCode::Java.name(), "JAVA");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum LanguageCode {
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    #[default]
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    NodeJs,
}

impl LanguageCode {
    const ALL: [(LanguageCode, &'static str, u8); 14] = [
        (LanguageCode::Java, "JAVA", 0),
        (LanguageCode::Cpp, "CPP", 1),
        (LanguageCode::Dotnet, "DOTNET", 2),
        (LanguageCode::Python, "PYTHON", 3),
        (LanguageCode::Delphi, "DELPHI", 4),
        (LanguageCode::Erlang, "ERLANG", 5),
        (LanguageCode::Ruby, "RUBY", 6),
        (LanguageCode::Other, "OTHER", 7),
        (LanguageCode::Http, "HTTP", 8),
        (LanguageCode::Go, "GO", 9),
        (LanguageCode::Php, "PHP", 10),
        (LanguageCode::Oms, "OMS", 11),
        (LanguageCode::Rust, "RUST", 12),
        (LanguageCode::NodeJs, "NODE_JS", 13),
    ];

    /// The enum name used in JSON headers.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.1)
            .unwrap_or("OTHER")
    }

    /// The byte used in binary headers.
    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.2)
            .unwrap_or(7)
    }

    /// Parses a JSON enum name; unknown names are `Other`.
    pub fn from_name(name: &str) -> Self {
        // A `match` compiles to a length switch: cheaper than scanning the table per header.
        match name {
            "JAVA" => LanguageCode::Java,
            "CPP" => LanguageCode::Cpp,
            "DOTNET" => LanguageCode::Dotnet,
            "PYTHON" => LanguageCode::Python,
            "DELPHI" => LanguageCode::Delphi,
            "ERLANG" => LanguageCode::Erlang,
            "RUBY" => LanguageCode::Ruby,
            "HTTP" => LanguageCode::Http,
            "GO" => LanguageCode::Go,
            "PHP" => LanguageCode::Php,
            "OMS" => LanguageCode::Oms,
            "RUST" => LanguageCode::Rust,
            "NODE_JS" => LanguageCode::NodeJs,
            _ => LanguageCode::Other,
        }
    }

    /// Parses a binary code; unknown codes are `Other`.
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .iter()
            .find(|e| e.2 == code)
            .map(|e| e.0)
            .unwrap_or(LanguageCode::Other)
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `extFields` map: the flattened custom header of a command.
///
/// Kept in insertion order (a small vector: headers have a handful of fields), so that encoding is
/// deterministic and lookups need no hashing. Inserting an existing key replaces its value.
///
/// Keys and values are stored without a heap allocation each where possible: the fixed wire
/// names of typed headers and constant values (`true`, `false`) are `&'static str`
/// ([`ExtFields::insert_static`]), and a decoded header keeps all its keys and values as ranges
/// of one shared text buffer (one allocation per command instead of one per field).
///
/// ```
/// use rocketmq_rs_remoting::ExtFields;
/// let mut ext = ExtFields::new();
/// ext.insert("topic", "TopicTest");
/// ext.insert("queueId", 3.to_string());
/// ext.insert("topic", "Other");
/// assert_eq!(ext.get("topic"), Some("Other"));
/// assert_eq!(ext.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct ExtFields {
    entries: Vec<(Text, Text)>,
    /// Backing text of the [`Text::Span`] entries (decoded keys and values, formatted numbers,
    /// copied header strings). Replaced or removed entries leave their bytes here until the map
    /// is dropped.
    arena: String,
    /// Texts that would take the arena past the `u32` ranges of [`Text::Span`] (never for a
    /// real header; kept so that no input is lost or panics).
    spill: Vec<String>,
    /// Bloom filter of the keys inserted so far ([`key_bit`]): a key whose bit is clear is new,
    /// so an insert needs no duplicate search. Removals leave their bits set (a false positive
    /// only costs the search).
    bloom: u64,
}

/// One key or value of [`ExtFields`].
///
/// `Copy` on purpose: no variant owns memory (owned text is copied into the map's arena), so
/// dropping a map frees its buffers without visiting the entries.
#[derive(Debug, Clone, Copy)]
enum Text {
    Static(&'static str),
    /// `arena[start..end]`.
    Span(u32, u32),
    /// `spill[index]`.
    Spill(usize),
}

impl Text {
    #[inline]
    fn resolve<'a>(self, arena: &'a str, spill: &'a [String]) -> &'a str {
        match self {
            Text::Static(s) => s,
            // Spans are only created from ranges of `arena` on char boundaries.
            Text::Span(s, e) => arena.get(s as usize..e as usize).unwrap_or(""),
            Text::Spill(i) => spill.get(i).map_or("", String::as_str),
        }
    }

    /// The bytes of the text (no char-boundary checks: for comparisons only).
    #[inline]
    fn bytes<'a>(self, arena: &'a [u8], spill: &'a [String]) -> &'a [u8] {
        match self {
            Text::Static(s) => s.as_bytes(),
            Text::Span(s, e) => arena.get(s as usize..e as usize).unwrap_or(&[]),
            Text::Spill(i) => spill.get(i).map_or(&[], |s| s.as_bytes()),
        }
    }

    /// The length in bytes.
    #[inline]
    fn len(self, spill: &[String]) -> usize {
        match self {
            Text::Static(s) => s.len(),
            Text::Span(s, e) => e.saturating_sub(s) as usize,
            Text::Spill(i) => spill.get(i).map_or(0, String::len),
        }
    }
}

/// Key equality with a cheap first-byte reject: header keys mostly differ in length or in their
/// first byte, so the common miss costs no `memcmp` call.
#[inline]
fn key_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// A key's bit in the small Bloom filter that lets wire decoding skip the duplicate search.
#[inline]
fn key_bit(b: &[u8]) -> u64 {
    let h = match b {
        // One-letter keys (SEND_MESSAGE_V2's `a`..`n`) get distinct bits: letters differ in
        // their low six bits.
        [c] => u32::from(*c),
        [first, .., last] => {
            u32::from(*first) ^ u32::from(*last).rotate_left(3) ^ (b.len() as u32).wrapping_mul(37)
        }
        [] => 0,
    };
    1u64 << (h & 63)
}

/// Builder used by the frame codec: pairs of ranges of one text buffer, in wire order.
#[derive(Debug, Default)]
pub(crate) struct WireExt {
    pub(crate) arena: String,
    pairs: Vec<(Text, Text)>,
    /// Bloom filter of the keys pushed so far; a hit means a key may repeat.
    bloom: u64,
    maybe_dup: bool,
}

impl WireExt {
    /// Appends `s` to the arena and returns its range, or `None` when the arena would exceed
    /// the `u32` ranges (impossible for headers, which are at most 16 MiB).
    pub(crate) fn push_text(&mut self, s: &str) -> Option<(u32, u32)> {
        let start = u32::try_from(self.arena.len()).ok()?;
        self.arena.push_str(s);
        let end = u32::try_from(self.arena.len()).ok()?;
        Some((start, end))
    }

    /// Adds a `(key, value)` pair of arena ranges.
    ///
    /// Always inlined: it runs once per field of every decoded header, and a call cost more
    /// than its body.
    #[inline(always)]
    pub(crate) fn push_pair(&mut self, key: (u32, u32), value: (u32, u32)) {
        let bytes = self
            .arena
            .as_bytes()
            .get(key.0 as usize..key.1 as usize)
            .unwrap_or(&[]);
        let bit = key_bit(bytes);
        self.maybe_dup |= self.bloom & bit != 0;
        self.bloom |= bit;
        if self.pairs.capacity() == 0 {
            self.pairs.reserve(16);
        }
        self.pairs
            .push((Text::Span(key.0, key.1), Text::Span(value.0, value.1)));
    }

    /// Forgets the pairs (the arena stays).
    pub(crate) fn clear_pairs(&mut self) {
        self.pairs.clear();
        self.bloom = 0;
        self.maybe_dup = false;
    }

    /// Whether no pair was pushed.
    pub(crate) fn has_no_pairs(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        ExtFields {
            entries: Vec::with_capacity(n),
            arena: String::new(),
            spill: Vec::new(),
            bloom: 0,
        }
    }

    /// Reserves room for `fields` more fields and `text` more bytes of copied or formatted
    /// values ([`ExtFields::insert_static_str`], [`ExtFields::insert_static_i64`]), so that a
    /// header writer allocates each buffer once instead of growing it field by field.
    ///
    /// ```
    /// use rocketmq_rs_remoting::ExtFields;
    /// let mut ext = ExtFields::new();
    /// ext.reserve(2, 16);
    /// ext.insert_static_str("topic", "TopicTest");
    /// ext.insert_static_i64("queueId", 3);
    /// assert_eq!(ext.get("topic"), Some("TopicTest"));
    /// ```
    pub fn reserve(&mut self, fields: usize, text: usize) {
        self.entries.reserve(fields);
        self.arena.reserve(text);
    }

    /// Sets `key` to `value`, replacing an existing value.
    ///
    /// Both are copied into the map's shared text buffer (keeping no separately allocated
    /// string, so that the map drops without visiting its entries).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = self.owned_text(key.into());
        let value = self.owned_text(value.into());
        self.put(key, value);
    }

    /// Sets the static `key` to `value` (a `String`, or a `&'static str` stored without
    /// copying), replacing an existing value. Typed headers use this: their wire names are
    /// constants, so no key is allocated per command.
    ///
    /// ```
    /// use rocketmq_rs_remoting::ExtFields;
    /// let mut ext = ExtFields::new();
    /// ext.insert_static("batch", "true");
    /// ext.insert_static("queueId", 3.to_string());
    /// assert_eq!(ext.get("batch"), Some("true"));
    /// assert_eq!(ext.get("queueId"), Some("3"));
    /// ```
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        let value = match value.into() {
            Cow::Borrowed(v) => Text::Static(v),
            Cow::Owned(v) => self.owned_text(v),
        };
        self.put(Text::Static(key), value);
    }

    /// Sets the static `key` to the decimal text of `value`, replacing an existing value.
    ///
    /// The digits go to the map's shared text buffer, so numeric header fields cost no
    /// allocation of their own.
    ///
    /// ```
    /// use rocketmq_rs_remoting::ExtFields;
    /// let mut ext = ExtFields::new();
    /// ext.insert_static_i64("queueOffset", -42);
    /// ext.insert_static_i64("queueId", 3);
    /// assert_eq!(ext.get("queueOffset"), Some("-42"));
    /// assert_eq!(ext.get("queueId"), Some("3"));
    /// ```
    pub fn insert_static_i64(&mut self, key: &'static str, value: i64) {
        let mut buf = [0u8; 20];
        let digits = format_i64(value, &mut buf);
        if self.arena.capacity() == 0 {
            self.arena.reserve(64);
        }
        let start = self.arena.len();
        // Pushed as chars: the digits are ASCII, and this skips the UTF-8 validation that
        // turning them into a `&str` would cost (more than the digits themselves).
        self.arena.extend(digits.iter().map(|&b| char::from(b)));
        let value = match (u32::try_from(start), u32::try_from(self.arena.len())) {
            (Ok(s), Ok(e)) => Text::Span(s, e),
            _ => {
                let owned = self.arena.split_off(start);
                self.spill_text(owned)
            }
        };
        self.put(Text::Static(key), value);
    }

    /// Sets the static `key` to a copy of `value`, replacing an existing value.
    ///
    /// The copy goes to the map's shared text buffer: writing a header from borrowed strings
    /// costs no allocation per field (see [`ExtFields::reserve`]).
    ///
    /// ```
    /// use rocketmq_rs_remoting::ExtFields;
    /// let topic = String::from("TopicTest");
    /// let mut ext = ExtFields::new();
    /// ext.insert_static_str("topic", &topic);
    /// ext.insert_static_str("topic", "Other");
    /// assert_eq!(ext.get("topic"), Some("Other"));
    /// assert_eq!(ext.len(), 1);
    /// ```
    pub fn insert_static_str(&mut self, key: &'static str, value: &str) {
        let value = self.copy_text(value);
        self.put(Text::Static(key), value);
    }

    /// Appends `s` to the arena and returns it as a span (or, past the `u32` range no header
    /// reaches, as an owned copy).
    #[inline]
    fn copy_text(&mut self, s: &str) -> Text {
        match (
            u32::try_from(self.arena.len()),
            u32::try_from(self.arena.len() + s.len()),
        ) {
            (Ok(start), Ok(end)) => {
                self.arena.push_str(s);
                Text::Span(start, end)
            }
            _ => self.spill_text(s.to_owned()),
        }
    }

    /// [`ExtFields::copy_text`] for a string the caller gives away: past the `u32` range it is
    /// kept as it is instead of copied.
    #[inline]
    fn owned_text(&mut self, s: String) -> Text {
        match (
            u32::try_from(self.arena.len()),
            u32::try_from(self.arena.len() + s.len()),
        ) {
            (Ok(start), Ok(end)) => {
                self.arena.push_str(&s);
                Text::Span(start, end)
            }
            _ => self.spill_text(s),
        }
    }

    #[cold]
    fn spill_text(&mut self, s: String) -> Text {
        self.spill.push(s);
        Text::Spill(self.spill.len() - 1)
    }

    #[inline]
    fn put(&mut self, key: Text, value: Text) {
        let arena = self.arena.as_bytes();
        let spill = self.spill.as_slice();
        let key_bytes = key.bytes(arena, spill);
        let bit = key_bit(key_bytes);
        if self.bloom & bit != 0 {
            if let Some(e) = self
                .entries
                .iter_mut()
                .find(|e| key_eq(e.0.bytes(arena, spill), key_bytes))
            {
                e.1 = value;
                return;
            }
        }
        self.bloom |= bit;
        self.entries.push((key, value));
    }

    /// The value of `key`, if present.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&str> {
        let bytes = self.arena.as_bytes();
        self.entries
            .iter()
            .find(|e| key_eq(e.0.bytes(bytes, &self.spill), key.as_bytes()))
            .map(|e| e.1.resolve(&self.arena, &self.spill))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let arena = self.arena.as_bytes();
        let i = self
            .entries
            .iter()
            .position(|e| key_eq(e.0.bytes(arena, &self.spill), key.as_bytes()))?;
        Some(
            self.entries
                .remove(i)
                .1
                .resolve(&self.arena, &self.spill)
                .to_owned(),
        )
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates `(key, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let arena = self.arena.as_str();
        let spill = self.spill.as_slice();
        self.entries
            .iter()
            .map(move |(k, v)| (k.resolve(arena, spill), v.resolve(arena, spill)))
    }

    /// Builds the map from a decoded header's text buffer and `(key, value)` ranges of it, in
    /// wire order, with the semantics of repeated [`ExtFields::insert`] (a repeated key keeps its
    /// first position and takes the last value), in linear time: a hostile header with millions
    /// of fields must not cost quadratic work.
    pub(crate) fn from_wire(wire: WireExt) -> Self {
        let mut ext = ExtFields::default();
        ext.fill_from_wire(wire);
        ext
    }

    fn fill_from_wire(&mut self, wire: WireExt) {
        // Below this size a linear scan per entry is cheaper than hashing.
        const LINEAR_LIMIT: usize = 16;
        let WireExt {
            arena,
            pairs,
            bloom,
            maybe_dup,
        } = wire;
        // Later inserts test their keys against the same filter.
        self.bloom = bloom;
        if !maybe_dup {
            // No two keys share a Bloom bit: all distinct, nothing to merge.
            self.entries = pairs;
            self.arena = arena;
            return;
        }
        let mut out: Vec<(Text, Text)> = Vec::with_capacity(pairs.len());
        let bytes = arena.as_bytes();
        if pairs.len() <= LINEAR_LIMIT {
            for (k, v) in pairs {
                let key = k.bytes(bytes, &[]);
                if let Some(e) = out.iter_mut().find(|e| key_eq(e.0.bytes(bytes, &[]), key)) {
                    e.1 = v;
                } else {
                    out.push((k, v));
                }
            }
        } else {
            let mut slots: std::collections::HashMap<&[u8], usize> =
                std::collections::HashMap::with_capacity(pairs.len());
            for (k, v) in pairs {
                let next = slots.len();
                // Wire pairs are always spans of the arena.
                let key: &[u8] = k.bytes(bytes, &[]);
                match slots.entry(key) {
                    std::collections::hash_map::Entry::Occupied(o) => out[*o.get()].1 = v,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(next);
                        out.push((k, v));
                    }
                }
            }
        }
        self.entries = out;
        self.arena = arena;
    }

    /// Total bytes of all keys and values (a size hint for encoders; no text is touched).
    pub(crate) fn text_len(&self) -> usize {
        let spill = self.spill.as_slice();
        self.entries
            .iter()
            .map(|(k, v)| k.len(spill) + v.len(spill))
            .sum()
    }

    /// Sorts the fields by key (used where a canonical order is needed, e.g. ACL signing).
    pub fn sort(&mut self) {
        let arena = self.arena.as_str();
        let spill = self.spill.as_slice();
        self.entries
            .sort_by(|a, b| a.0.resolve(arena, spill).cmp(b.0.resolve(arena, spill)));
    }
}

/// Writes `n` in decimal into `buf` (20 bytes hold any `i64`) and returns the digits (ASCII).
#[inline]
pub(crate) fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    // Two digits per division: a send header carries a 13-digit timestamp and ten other
    // numbers, and the digit loop was ~0.4k instructions per request.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut pos = buf.len();
    let mut v = n.unsigned_abs();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + v as u8;
    }
    if n < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<(&str, &str)> = self.iter().collect();
        f.debug_struct("ExtFields")
            .field("entries", &entries)
            .finish()
    }
}

/// Equal when they hold the same `(key, value)` pairs in the same order, however stored.
impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut ext = ExtFields::new();
        for (k, v) in iter {
            ext.insert(k, v);
        }
        ext
    }
}

impl IntoIterator for ExtFields {
    type Item = (String, String);
    type IntoIter = ExtFieldsIntoIter;
    fn into_iter(self) -> Self::IntoIter {
        ExtFieldsIntoIter {
            entries: self.entries.into_iter(),
            arena: self.arena,
            spill: self.spill,
        }
    }
}

/// The owning iterator of [`ExtFields`]: `(key, value)` in insertion order.
#[derive(Debug)]
pub struct ExtFieldsIntoIter {
    entries: std::vec::IntoIter<(Text, Text)>,
    arena: String,
    spill: Vec<String>,
}

impl Iterator for ExtFieldsIntoIter {
    type Item = (String, String);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.entries.next()?;
        Some((
            k.resolve(&self.arena, &self.spill).to_owned(),
            v.resolve(&self.arena, &self.spill).to_owned(),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for ExtFieldsIntoIter {}

/// One remoting command: a request or a response, with its header fields and body.
///
/// ```
/// use rocketmq_rs_remoting::protocol::{RemotingCommand, code::{RequestCode, ResponseCode}};
///
/// let req = RemotingCommand::request(RequestCode::HEART_BEAT).with_opaque(7);
/// let resp = RemotingCommand::response_to(&req, ResponseCode::SUCCESS, None);
/// assert!(resp.is_response());
/// assert_eq!(resp.opaque, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code for requests, response code for responses.
    pub code: i32,
    /// The sender's language.
    pub language: LanguageCode,
    /// The sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Free text, usually an error description.
    pub remark: Option<String>,
    /// The flattened custom header.
    pub ext_fields: ExtFields,
    /// The body; empty when there is none.
    pub body: Bytes,
    /// How the header was (or will be) serialized.
    pub serialize_type: SerializeType,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        RemotingCommand {
            code: 0,
            language: LanguageCode::Rust,
            version: DEFAULT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }
}

impl RemotingCommand {
    /// A new request with the given code; the transport assigns the opaque when it sends it.
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            ..Default::default()
        }
    }

    /// A response with the given code and remark, not yet tied to a request
    /// (use [`RemotingCommand::response_to`] to answer one).
    pub fn response(code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            flag: FLAG_RESPONSE,
            remark,
            ..Default::default()
        }
    }

    /// A response answering `req`: same opaque, same header encoding.
    pub fn response_to(req: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            opaque: req.opaque,
            flag: FLAG_RESPONSE,
            remark,
            serialize_type: req.serialize_type,
            ..Default::default()
        }
    }

    /// Sets the opaque.
    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the header serialization.
    pub fn with_serialize_type(mut self, t: SerializeType) -> Self {
        self.serialize_type = t;
        self
    }

    /// Sets the custom header from a typed header.
    pub fn with_header<H: crate::protocol::header::CommandHeader>(mut self, header: &H) -> Self {
        header.write_to(&mut self.ext_fields);
        self
    }

    /// Adds the fields of a typed header to `ext_fields`, consuming it so that its strings
    /// move instead of being copied (see [`CommandHeader::write_into`]).
    ///
    /// [`CommandHeader::write_into`]: crate::protocol::header::CommandHeader::write_into
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::SendMessageResponseHeader;
    /// use rocketmq_rs_remoting::protocol::RemotingCommand;
    ///
    /// let h = SendMessageResponseHeader {
    ///     msg_id: "C0A8".into(),
    ///     queue_id: 3,
    ///     queue_offset: 77,
    ///     transaction_id: None,
    ///     batch_uniq_id: None,
    ///     recall_handle: None,
    ///     msg_region: Some("DefaultRegion".into()),
    ///     trace_on: Some(false),
    /// };
    /// let resp = RemotingCommand::response(0, None).with_owned_header(h);
    /// assert_eq!(resp.ext_fields.get("queueOffset"), Some("77"));
    /// assert_eq!(resp.ext_fields.get("TRACE_ON"), Some("false"));
    /// ```
    pub fn with_owned_header<H: crate::protocol::header::CommandHeader>(
        mut self,
        header: H,
    ) -> Self {
        header.write_into(&mut self.ext_fields);
        self
    }

    /// Reads a typed custom header from `extFields`.
    pub fn decode_header<H: crate::protocol::header::CommandHeader>(
        &self,
    ) -> crate::error::Result<H> {
        H::read_from(&self.ext_fields)
    }

    /// Whether the response bit is set.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether the oneway bit is set.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks this request oneway.
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// Marks this command a response.
    pub fn mark_response(&mut self) {
        self.flag |= FLAG_RESPONSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_fields_mix_static_copied_and_formatted_texts() {
        let mut ext = ExtFields::new();
        ext.insert_static("k", "false");
        ext.insert(String::from("owned"), String::from("v1"));
        ext.insert_static_i64("n", -7);
        ext.insert_static("cow", String::from("heap"));
        ext.insert_static_str("s", "copied");
        ext.insert("owned", "v2");
        ext.insert_static("k", "true");
        assert_eq!(ext.len(), 5);
        assert_eq!(ext.get("owned"), Some("v2"));
        assert_eq!(ext.get("k"), Some("true"));
        assert_eq!(ext.get("cow"), Some("heap"));
        assert_eq!(ext.text_len(), "ktrueownedv2n-7cowheapscopied".len());
        let clone = ext.clone();
        assert_eq!(ext.remove("n").as_deref(), Some("-7"));
        assert_eq!(ext.remove("n"), None);
        let pairs: Vec<(String, String)> = ext.into_iter().collect();
        assert_eq!(
            pairs,
            [
                ("k", "true"),
                ("owned", "v2"),
                ("cow", "heap"),
                ("s", "copied")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(clone.get("n"), Some("-7"));
    }

    #[test]
    fn spilled_texts_resolve_like_arena_texts() {
        // The spill path only triggers past 4 GiB of arena; exercise it directly.
        let mut ext = ExtFields::new();
        let key = ext.spill_text(String::from("big"));
        let value = ext.spill_text(String::from("value"));
        ext.put(key, value);
        ext.insert_static("big", "small");
        assert_eq!(ext.len(), 1);
        assert_eq!(ext.get("big"), Some("small"));
        assert_eq!(ext.text_len(), 8);
        let pairs: Vec<(String, String)> = ext.into_iter().collect();
        assert_eq!(pairs, [(String::from("big"), String::from("small"))]);
    }

    #[test]
    fn ext_field_texts_need_no_drop() {
        // Dropping a map must free its buffers without visiting every entry.
        assert!(!std::mem::needs_drop::<(Text, Text)>());
    }

    #[test]
    fn static_and_owned_entries_behave_alike() {
        let mut a = ExtFields::new();
        a.insert_static("topic", "T");
        a.insert_static("queueId", 3.to_string());
        a.insert("topic", "U");
        let mut b = ExtFields::new();
        b.insert("topic", "U");
        b.insert("queueId", "3");
        assert_eq!(a, b);
        assert_eq!(a.get("topic"), Some("U"));
        let owned: Vec<(String, String)> = a.clone().into_iter().collect();
        assert_eq!(
            owned,
            [("topic".into(), "U".into()), ("queueId".into(), "3".into())]
        );
        assert_eq!(a.clone().into_iter().len(), 2);
        assert_eq!(a.remove("queueId").as_deref(), Some("3"));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn hot_keys_need_no_duplicate_search() {
        let letters: Vec<u64> = (b'a'..=b'z').map(|c| key_bit(&[c])).collect();
        let union = letters.iter().fold(0u64, |a, b| a | b);
        assert_eq!(union.count_ones(), 26);
    }

    #[test]
    fn language_names_match_the_table() {
        for (lang, name, code) in LanguageCode::ALL {
            assert_eq!(LanguageCode::from_name(name), lang);
            assert_eq!(LanguageCode::from_code(code), lang);
            assert_eq!(lang.name(), name);
        }
        assert_eq!(LanguageCode::from_name("java"), LanguageCode::Other);
        assert_eq!(LanguageCode::from_name(""), LanguageCode::Other);
    }

    #[test]
    fn decimal_formatting_matches_std() {
        let mut cases = vec![
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            0,
            -1,
            1,
            1_765_000_000_000,
        ];
        for p in 0..19 {
            let t = 10i64.pow(p);
            cases.extend([t - 1, t, t + 1, -t + 1, -t, -t - 1, t.saturating_mul(9)]);
        }
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.extend([x, x >> (x & 63)]);
        }
        for n in cases {
            let mut buf = [0u8; 20];
            assert_eq!(format_i64(n, &mut buf), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn numbers_and_replacements_in_the_shared_buffer() {
        let mut a = ExtFields::new();
        for (k, n) in [("x", i64::MIN), ("y", i64::MAX), ("z", 0), ("x", -5)] {
            a.insert_static_i64(k, n);
        }
        let v: Vec<_> = a.iter().collect();
        assert_eq!(v, [("x", "-5"), ("y", "9223372036854775807"), ("z", "0")]);
        let mut b = ExtFields::new();
        b.insert("x", "-5");
        b.insert_static("y", "9223372036854775807");
        b.insert("z", "0");
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        a.sort();
        assert_eq!(a.iter().map(|e| e.0).collect::<String>(), "xyz");
    }
}
