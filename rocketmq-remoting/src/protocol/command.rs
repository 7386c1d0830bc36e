//! [`RemotingCommand`], the unit of every exchange, and its small companion types.

use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 0x2;

/// The `version` we put into our own commands: the ordinal of Java's `MQVersion.V4_9_4`, which
/// makes NameServers answer routes in standard JSON (PROTOCOL.md §1.7).
pub const DEFAULT_VERSION: i32 = 401;

/// How a frame's header is serialized: the high byte of the header-length word.
///
/// ```
/// use rocketmq_remoting::SerializeType;
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

/// The sender's implementation language (PROTOCOL.md §1.6). Unknown values decode as `Other`.
///
/// ```
/// use rocketmq_remoting::LanguageCode;
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
        Self::ALL
            .iter()
            .find(|e| e.1 == name)
            .map(|e| e.0)
            .unwrap_or(LanguageCode::Other)
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
/// Keys and values are `Cow<'static, str>`: the fixed wire names of typed headers and constant
/// values (`true`, `false`) are stored without allocating ([`ExtFields::insert_static`]).
///
/// ```
/// use rocketmq_remoting::ExtFields;
/// let mut ext = ExtFields::new();
/// ext.insert("topic", "TopicTest");
/// ext.insert("queueId", 3.to_string());
/// ext.insert("topic", "Other");
/// assert_eq!(ext.get("topic"), Some("Other"));
/// assert_eq!(ext.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    entries: Vec<(Cow<'static, str>, Cow<'static, str>)>,
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
        }
    }

    /// Sets `key` to `value`, replacing an existing value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.put(Cow::Owned(key.into()), Cow::Owned(value.into()));
    }

    /// Sets the static `key` to `value` (a `String`, or a `&'static str` stored without
    /// copying), replacing an existing value. Typed headers use this: their wire names are
    /// constants, so no key is allocated per command.
    ///
    /// ```
    /// use rocketmq_remoting::ExtFields;
    /// let mut ext = ExtFields::new();
    /// ext.insert_static("batch", "true");
    /// ext.insert_static("queueId", 3.to_string());
    /// assert_eq!(ext.get("batch"), Some("true"));
    /// assert_eq!(ext.get("queueId"), Some("3"));
    /// ```
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        self.put(Cow::Borrowed(key), value.into());
    }

    fn put(&mut self, key: Cow<'static, str>, value: Cow<'static, str>) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == key) {
            e.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.0 == key)
            .map(|e| e.1.as_ref())
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.0 == key)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|e| e.0 == key)?;
        Some(self.entries.remove(i).1.into_owned())
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
        self.entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Builds the map from `(key, value)` pairs in wire order with the semantics of repeated
    /// [`ExtFields::insert`] (a repeated key keeps its first position and takes the last value),
    /// in linear time: a hostile header with millions of fields must not cost quadratic work.
    pub(crate) fn from_wire_entries(entries: Vec<(Cow<'static, str>, Cow<'static, str>)>) -> Self {
        // Below this size a linear scan per entry is cheaper than hashing.
        const LINEAR_LIMIT: usize = 16;
        if entries.len() <= LINEAR_LIMIT {
            let mut ext = ExtFields::with_capacity(entries.len());
            for (k, v) in entries {
                ext.put(k, v);
            }
            return ext;
        }
        // Pass 1: where each entry goes (`None` = new slot, `Some(i)` = overwrite slot `i`).
        let mut targets: Vec<Option<usize>> = Vec::with_capacity(entries.len());
        {
            let mut slots: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::with_capacity(entries.len());
            for (k, _) in &entries {
                let next = slots.len();
                match slots.entry(k.as_ref()) {
                    std::collections::hash_map::Entry::Occupied(o) => targets.push(Some(*o.get())),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(next);
                        targets.push(None);
                    }
                }
            }
        }
        // Pass 2: move the pairs into place.
        let mut out: Vec<(Cow<'static, str>, Cow<'static, str>)> =
            Vec::with_capacity(entries.len());
        for (entry, target) in entries.into_iter().zip(targets) {
            match target {
                None => out.push(entry),
                Some(i) => out[i].1 = entry.1,
            }
        }
        ExtFields { entries: out }
    }

    /// Sorts the fields by key (used where a canonical order is needed, e.g. ACL signing).
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

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
        ExtFieldsIntoIter(self.entries.into_iter())
    }
}

/// The owning iterator of [`ExtFields`]: `(key, value)` in insertion order.
#[derive(Debug)]
pub struct ExtFieldsIntoIter(std::vec::IntoIter<(Cow<'static, str>, Cow<'static, str>)>);

impl Iterator for ExtFieldsIntoIter {
    type Item = (String, String);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.into_owned(), v.into_owned()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for ExtFieldsIntoIter {}

/// One remoting command: a request or a response, with its header fields and body.
///
/// ```
/// use rocketmq_remoting::protocol::{RemotingCommand, code::{RequestCode, ResponseCode}};
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
}
