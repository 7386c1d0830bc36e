//! The properties string (docs/protocol/message.md §1): `name 0x01 value 0x02` for every pair.

use std::collections::HashMap;
use std::fmt;

use crate::error::{RemotingError, Result};

const NV_SEP: u8 = 0x01;
const PROP_SEP: u8 = 0x02;

/// Longest properties encoding a stored record or batch entry can carry (an i16 byte count).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// A message's properties: a string-to-string map kept in insertion order.
///
/// Java uses a `HashMap`, so the order of pairs on the wire carries no meaning; keeping insertion
/// order makes our encoding deterministic and lets a broker store pairs in the order it received
/// them. Messages carry a handful of properties, so lookups scan a small vector instead of
/// hashing. Inserting an existing key replaces its value in place. Equality ignores order.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{Properties, property};
/// let mut p = Properties::new();
/// p.insert(property::TAGS, "TagA");
/// p.insert(property::KEYS, "k1 k2");
/// p.insert(property::TAGS, "TagB");
/// assert_eq!(p.get(property::TAGS), Some("TagB"));
/// assert_eq!(p.len(), 2);
/// assert_eq!(p.iter().next(), Some(("TAGS", "TagB")));
/// ```
#[derive(Clone, Default)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        Properties {
            entries: Vec::with_capacity(n),
        }
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == key) {
            return Some(std::mem::replace(&mut e.1, value));
        }
        self.entries.push((key, value));
        None
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.0 == key)
            .map(|e| e.1.as_str())
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.0 == key)
    }

    /// Removes `key`, returning its value; the order of the other pairs is kept.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|e| e.0 == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Keeps only the pairs for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|(k, v)| f(k, v));
    }

    /// Removes every pair.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates `(key, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Byte length of [`encode_properties`]'s output.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum()
    }

    /// Checks that the map survives an encode/decode round trip unchanged: no key or value
    /// contains the separator characters 0x01/0x02, no key is empty, no value is empty (the
    /// decoder drops pairs with an empty value, as Java does).
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::message::Properties;
    /// let ok: Properties = [("a", "1")].into_iter().collect();
    /// assert!(ok.validate().is_ok());
    /// let bad: Properties = [("a", "x\u{2}y")].into_iter().collect();
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some((k, _)) = self
            .entries
            .iter()
            .find(|(k, v)| k.is_empty() || v.is_empty())
        {
            return Err(RemotingError::InvalidField {
                field: "properties",
                value: format!("property {k:?} has an empty name or value"),
            });
        }
        self.validate_separators()
    }

    /// The part of [`Properties::validate`] that encoders enforce: an empty value is merely
    /// dropped by decoders (Java writes such pairs too), but a separator inside a key or value
    /// would corrupt the pairs around it.
    pub(crate) fn validate_separators(&self) -> Result<()> {
        for (k, v) in &self.entries {
            if has_separator(k) || has_separator(v) {
                return Err(RemotingError::InvalidField {
                    field: "properties",
                    value: format!("property {k:?} contains a 0x01/0x02 separator character"),
                });
            }
        }
        Ok(())
    }

    /// Appends the wire encoding to `out` (Java `messageProperties2String`).
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        for (k, v) in &self.entries {
            out.extend_from_slice(k.as_bytes());
            out.push(NV_SEP);
            out.extend_from_slice(v.as_bytes());
            out.push(PROP_SEP);
        }
    }

    /// Builds the map from decoded pairs with repeated-[`insert`](Self::insert) semantics in
    /// linear time (a hostile 32 KiB properties string holds thousands of pairs).
    fn from_decoded(pairs: Vec<(&str, &str)>) -> Self {
        const LINEAR_LIMIT: usize = 16;
        let mut props = Properties::with_capacity(pairs.len());
        if pairs.len() <= LINEAR_LIMIT {
            for (k, v) in pairs {
                props.insert(k, v);
            }
            return props;
        }
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            match index.get(k) {
                Some(&i) => props.entries[i].1 = v.to_owned(),
                None => {
                    index.insert(k, props.entries.len());
                    props.entries.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        props
    }
}

fn has_separator(s: &str) -> bool {
    s.bytes().any(|b| b == NV_SEP || b == PROP_SEP)
}

impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for Properties {}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Properties::new();
        p.extend(iter);
        p
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Properties {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Properties {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl serde::Serialize for Properties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Properties;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of string properties")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Properties, A::Error> {
                let mut p = Properties::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    p.insert(k, v);
                }
                Ok(p)
            }
        }
        d.deserialize_map(V)
    }
}

/// Encodes properties exactly as Java's `messageProperties2String`: `name 0x01 value 0x02` for
/// every pair, including a separator after the last pair. Pairs are written in map order.
///
/// Keys and values containing 0x01/0x02 are written as they are (as Java does) and will not
/// decode back; see [`Properties::validate`].
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{encode_properties, Properties};
/// let p: Properties = [("TAGS", "TagA"), ("WAIT", "true")].into_iter().collect();
/// assert_eq!(encode_properties(&p), "TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}");
/// ```
pub fn encode_properties(props: &Properties) -> String {
    let mut s = String::with_capacity(props.encoded_len());
    for (k, v) in props.iter() {
        s.push_str(k);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    }
    s
}

/// Decodes a properties string as leniently as Java's `string2messageProperties`: pairs are split
/// on 0x02 (a missing final separator is fine), the name ends at the first 0x01, and a pair is
/// skipped unless both name and value are non-empty. A repeated name keeps its first position
/// and takes the last value. Never fails.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::decode_properties;
/// let p = decode_properties("TAGS\u{1}TagA\u{2}EMPTY\u{1}\u{2}\u{1}x\u{2}WAIT\u{1}true");
/// assert_eq!(p.get("TAGS"), Some("TagA"));
/// assert_eq!(p.get("WAIT"), Some("true"));
/// assert_eq!(p.len(), 2);
/// ```
pub fn decode_properties(s: &str) -> Properties {
    let bytes = s.as_bytes();
    let mut pairs = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == PROP_SEP)
            .map_or(bytes.len(), |p| start + p);
        if let Some(sep) = bytes[start..end].iter().position(|&b| b == NV_SEP) {
            let sep = start + sep;
            // Separators are ASCII, so these indices are char boundaries.
            if sep > start && sep + 1 < end {
                pairs.push((&s[start..sep], &s[sep + 1..end]));
            }
        }
        start = end + 1;
    }
    Properties::from_decoded(pairs)
}

/// [`decode_properties`] over raw bytes; invalid UTF-8 is replaced by U+FFFD, as Java's
/// `new String(bytes, UTF_8)` does.
pub fn decode_properties_bytes(bytes: &[u8]) -> Properties {
    decode_properties(&String::from_utf8_lossy(bytes))
}
