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
/// All keys and values live in one text buffer, as `name 0x01 value 0x02` pairs: a decoded
/// properties string is kept as received ([`Properties::from_encoded`], [`decode_properties`])
/// and encodes back by copying it ([`Properties::as_encoded`]), and a copy of the map costs two
/// allocations instead of two per pair.
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
    /// Keys and values. While `wire` is set this is exactly the encoding of `entries` in order;
    /// replaced and removed pairs otherwise leave their bytes here until [`Self::compact`].
    text: String,
    entries: Vec<Pair>,
    /// `text` is the wire encoding of the map (pairs in order, nothing else).
    wire: bool,
}

/// One pair: byte ranges of [`Properties::text`] (always on char boundaries).
#[derive(Debug, Clone, Copy)]
struct Pair {
    key: (usize, usize),
    value: (usize, usize),
}

impl Properties {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        Properties {
            text: String::with_capacity(n * 16),
            entries: Vec::with_capacity(n),
            wire: true,
        }
    }

    /// The map of a properties string (docs/protocol/message.md §1), keeping `encoded` itself
    /// as its text when it is in the canonical form (every pair with a non-empty name and
    /// value, each followed by 0x02, no name twice): then no byte is copied, and
    /// [`as_encoded`](Self::as_encoded) gives `encoded` back. Any other input is decoded as
    /// [`decode_properties`] decodes it.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::message::Properties;
    /// let p = Properties::from_encoded("TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}".to_owned());
    /// assert_eq!(p.get("WAIT"), Some("true"));
    /// assert_eq!(p.as_encoded(), Some("TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}"));
    ///
    /// let lenient = Properties::from_encoded("TAGS\u{1}TagA".to_owned());
    /// assert_eq!(lenient.get("TAGS"), Some("TagA"));
    /// assert_eq!(lenient.as_encoded(), Some("TAGS\u{1}TagA\u{2}"));
    /// ```
    pub fn from_encoded(encoded: String) -> Self {
        match canonical_pairs(&encoded) {
            Some(entries) => Properties {
                text: encoded,
                entries,
                wire: true,
            },
            None => decode_lenient(&encoded),
        }
    }

    /// The wire encoding of the map (what [`encode_properties`] returns), when the map holds
    /// it as its text: after decoding, and after inserting new keys or removing the last one.
    /// Replacing a value or removing another pair leaves the old bytes behind, and this is
    /// `None` (the encoding must be built) until the map compacts its text again.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::message::{encode_properties, Properties};
    /// let mut p = Properties::new();
    /// p.insert("TAGS", "TagA");
    /// assert_eq!(p.as_encoded(), Some("TAGS\u{1}TagA\u{2}"));
    /// p.insert("TAGS", "TagB");
    /// assert_eq!(p.as_encoded(), None);
    /// assert_eq!(encode_properties(&p), "TAGS\u{1}TagB\u{2}");
    /// ```
    pub fn as_encoded(&self) -> Option<&str> {
        if self.entries.is_empty() {
            Some("")
        } else if self.wire {
            Some(&self.text)
        } else {
            None
        }
    }

    #[inline]
    fn slice(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    #[inline]
    fn find(&self, key: &str) -> Option<usize> {
        let k = key.as_bytes();
        let text = self.text.as_bytes();
        self.entries.iter().position(|p| {
            let (s, e) = p.key;
            e - s == k.len() && text.get(s..e) == Some(k)
        })
    }

    /// Appends `key 0x01 value 0x02` to the text and returns the pair's ranges.
    fn push_pair(&mut self, key: &str, value: &str) -> Pair {
        if self.entries.is_empty() && self.wire {
            // Nothing but garbage can be there: start clean.
            self.text.clear();
        }
        if self.text.capacity() == 0 {
            self.text.reserve(64);
        }
        let ks = self.text.len();
        self.text.push_str(key);
        let ke = self.text.len();
        self.text.push('\u{1}');
        self.text.push_str(value);
        let ve = self.text.len();
        self.text.push('\u{2}');
        Pair {
            key: (ks, ke),
            value: (ke + 1, ve),
        }
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        self.insert_str(&key, &value)
    }

    /// [`insert`](Self::insert) from borrowed text (copied into the map's buffer).
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::message::Properties;
    /// let mut p = Properties::new();
    /// assert_eq!(p.insert_str("KEYS", "a"), None);
    /// assert_eq!(p.insert_str("KEYS", "b").as_deref(), Some("a"));
    /// assert_eq!(p.get("KEYS"), Some("b"));
    /// ```
    pub fn insert_str(&mut self, key: &str, value: &str) -> Option<String> {
        if self.entries.is_empty() {
            // Also resets a map emptied by removals to its canonical form.
            self.text.clear();
            self.wire = true;
        }
        if let Some(i) = self.find(key) {
            let old = self.slice(self.entries[i].value).to_owned();
            let start = self.text.len();
            self.text.push_str(value);
            self.entries[i].value = (start, self.text.len());
            self.wire = false;
            self.maybe_compact();
            return Some(old);
        }
        let pair = self.push_pair(key, value);
        self.entries.push(pair);
        None
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key).map(|i| self.slice(self.entries[i].value))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// Removes `key`, returning its value; the order of the other pairs is kept.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.find(key)?;
        let pair = self.entries.remove(i);
        let value = self.slice(pair.value).to_owned();
        if self.wire && i == self.entries.len() {
            // The last pair of a canonical text: cut it off, the rest stays canonical.
            self.text.truncate(pair.key.0);
        } else {
            self.wire = false;
            self.maybe_compact();
        }
        Some(value)
    }

    /// Keeps only the pairs for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        let before = self.entries.len();
        let text = &self.text;
        let slice = |(s, e): (usize, usize)| text.get(s..e).unwrap_or("");
        self.entries.retain(|p| f(slice(p.key), slice(p.value)));
        if self.entries.len() != before {
            self.wire = false;
            self.compact();
        }
    }

    /// Removes every pair.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.wire = true;
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
        self.entries
            .iter()
            .map(|p| (self.slice(p.key), self.slice(p.value)))
    }

    /// Byte length of [`encode_properties`]'s output.
    pub fn encoded_len(&self) -> usize {
        if let Some(text) = self.as_encoded() {
            return text.len();
        }
        self.entries
            .iter()
            .map(|p| p.key.1 - p.key.0 + p.value.1 - p.value.0 + 2)
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
        if let Some((k, _)) = self.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
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
        for (k, v) in self.iter() {
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
        if let Some(text) = self.as_encoded() {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        out.reserve(self.encoded_len());
        for (k, v) in self.iter() {
            out.extend_from_slice(k.as_bytes());
            out.push(NV_SEP);
            out.extend_from_slice(v.as_bytes());
            out.push(PROP_SEP);
        }
    }

    /// Rebuilds the text from the live pairs when replaced or removed ones left as many bytes
    /// behind as the live ones take (a map updated in a loop must not grow without bound).
    fn maybe_compact(&mut self) {
        if self.text.len() > 2 * self.encoded_len() + 64 {
            self.compact();
        }
    }

    /// Rebuilds the text as the canonical encoding of the live pairs.
    fn compact(&mut self) {
        if self.wire {
            return;
        }
        let mut out = Properties::with_capacity(self.entries.len());
        out.text.reserve(self.encoded_len());
        for (k, v) in self.iter() {
            let pair = out.push_pair(k, v);
            out.entries.push(pair);
        }
        *self = out;
    }

    /// Builds the map from decoded pairs with repeated-[`insert`](Self::insert) semantics in
    /// linear time (a hostile 32 KiB properties string holds thousands of pairs).
    fn from_decoded(pairs: Vec<(&str, &str)>) -> Self {
        const LINEAR_LIMIT: usize = 16;
        let mut props = Properties::with_capacity(pairs.len());
        if pairs.len() <= LINEAR_LIMIT {
            for (k, v) in pairs {
                props.insert_str(k, v);
            }
            props.compact();
            return props;
        }
        // Each name's last value, at the name's first position.
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
        let mut merged: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match index.get(k) {
                Some(&i) => merged[i].1 = v,
                None => {
                    index.insert(k, merged.len());
                    merged.push((k, v));
                }
            }
        }
        for (k, v) in merged {
            let pair = props.push_pair(k, v);
            props.entries.push(pair);
        }
        props
    }
}

/// The index of the first byte at or after `from` below 0x03 (the separators 0x01 / 0x02, or
/// NUL), looked for eight bytes at a time: a byte at a time was ~10 instructions per byte of
/// every pulled message's properties.
#[inline]
fn next_low_byte(bytes: &[u8], mut from: usize) -> Option<usize> {
    const THREES: u64 = 0x0303_0303_0303_0303;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(from..from + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte below 3 borrows into its own high bit while that bit was clear; borrows only
        // run towards later bytes, so the lowest flagged byte is the first real one.
        let hit = w.wrapping_sub(THREES) & !w & HIGHS;
        if hit != 0 {
            return Some(from + (hit.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b < 3)
        .map(|p| from + p)
}

/// The pairs of `s` when it is a canonical properties string (see
/// [`Properties::from_encoded`]), `None` otherwise.
fn canonical_pairs(s: &str) -> Option<Vec<Pair>> {
    const LINEAR_LIMIT: usize = 16;
    let bytes = s.as_bytes();
    if bytes.last().is_some_and(|&b| b != PROP_SEP) {
        return None;
    }
    let mut entries: Vec<Pair> = Vec::with_capacity(if bytes.is_empty() { 0 } else { 8 });
    // One pass: `sep` is the first 0x01 of the current pair, if seen yet.
    let (mut start, mut sep, mut from) = (0, None, 0);
    while let Some(i) = next_low_byte(bytes, from) {
        from = i + 1;
        let b = bytes[i];
        if b == NV_SEP {
            sep.get_or_insert(i);
        } else if b == PROP_SEP {
            // A pair without a name separator, or with an empty name or value, is one the
            // decoder drops: not canonical.
            let sep = sep.take()?;
            if sep == start || sep + 1 == i {
                return None;
            }
            entries.push(Pair {
                key: (start, sep),
                value: (sep + 1, i),
            });
            start = i + 1;
        }
    }
    let key = |p: &Pair| &bytes[p.key.0..p.key.1];
    let unique = if entries.len() <= LINEAR_LIMIT {
        entries
            .iter()
            .enumerate()
            .all(|(i, p)| entries[..i].iter().all(|q| key(q) != key(p)))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        entries.iter().all(|p| seen.insert(key(p)))
    };
    unique.then_some(entries)
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
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
            .into_iter()
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
    if let Some(text) = props.as_encoded() {
        return text.to_owned();
    }
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
    // The common case, a canonical string, is kept as it is (one copy, no pair allocated).
    match canonical_pairs(s) {
        Some(entries) => Properties {
            text: s.to_owned(),
            entries,
            wire: true,
        },
        None => decode_lenient(s),
    }
}

/// [`decode_properties`] for any input: splits and merges the pairs as Java does.
fn decode_lenient(s: &str) -> Properties {
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
    // `from_utf8` first: its validation is several times cheaper than the lossy decoder's
    // chunk iteration, and invalid input is rare.
    match std::str::from_utf8(bytes) {
        Ok(s) => decode_properties(s),
        Err(_) => Properties::from_encoded(String::from_utf8_lossy(bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_values_are_compacted_away() {
        let mut p = Properties::new();
        p.insert("K", "v");
        p.insert("L", "w");
        for i in 0..10_000 {
            p.insert("K", format!("value-{i}"));
            assert!(
                p.text.len() <= 2 * p.encoded_len() + 64 + 16,
                "{}",
                p.text.len()
            );
        }
        for i in 0..1000 {
            p.insert(format!("k{i}"), "x");
            p.remove(&format!("k{i}"));
            assert!(
                p.text.len() <= 2 * p.encoded_len() + 64 + 16,
                "{}",
                p.text.len()
            );
        }
        assert_eq!(encode_properties(&p), "K\u{1}value-9999\u{2}L\u{1}w\u{2}");
    }
}
