//! Typed JSON bodies, with Java's exact JSON member names.
//!
//! Java peers write bodies with fastjson, which is not always JSON (docs/protocol/json.md §1): maps with
//! integer keys come out as `{0:"addr"}` and maps keyed by `MessageQueue` as
//! `{{"brokerName":"b","queueId":0,"topic":"t"}:5}`. [`JsonBody::from_json`] runs
//! [`normalize_fastjson`] first, which quotes bare keys (numbers, identifiers, single-quoted
//! strings) and turns object/array keys into strings holding their JSON text, then decodes with
//! serde. Writers emit standard JSON (quoted decimal keys), except that `MessageQueue`-keyed maps
//! are written in the fastjson object-key form, the only form Java can read back.
//!
//! ```
//! use rocketmq_rs_remoting::protocol::body::{JsonBody, TopicRouteData};
//!
//! let java = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"b","cluster":"c"}],
//!                "filterServerTable":{},"queueDatas":[]}"#;
//! let route = TopicRouteData::from_json(java).unwrap();
//! assert_eq!(route.broker_datas[0].broker_addrs[&0], "10.0.0.1:10911");
//! ```

use std::borrow::Cow;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{RemotingError, Result};

mod admin;
mod assignment;
mod consumer;
mod heartbeat;
mod namesrv;
mod route;

pub use admin::*;
pub use assignment::*;
pub use consumer::*;
pub use heartbeat::*;
pub use namesrv::*;
pub use route::*;

/// A body that travels as (fastjson-compatible) JSON.
pub trait JsonBody: Sized {
    /// Encodes the body.
    fn to_json(&self) -> Bytes;
    /// Decodes the body, tolerating fastjson's non-standard output.
    fn from_json(bytes: &[u8]) -> Result<Self>;
}

/// Implements [`JsonBody`] with plain serde (standard JSON out, lenient JSON in).
macro_rules! serde_json_body {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::protocol::body::JsonBody for $t {
            fn to_json(&self) -> bytes::Bytes {
                $crate::protocol::body::encode_json(self)
            }
            fn from_json(bytes: &[u8]) -> $crate::error::Result<Self> {
                $crate::protocol::body::decode_json(bytes)
            }
        }
    )*};
}
pub(crate) use serde_json_body;

/// Serializes `v` as standard JSON.
///
/// Body types only have string- or integer-keyed maps, for which serde_json cannot fail; should a
/// future type break that, the failure is logged and an empty object is sent rather than a panic.
pub(crate) fn encode_json<T: Serialize>(v: &T) -> Bytes {
    match serde_json::to_vec(v) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize JSON body");
            Bytes::from_static(b"{}")
        }
    }
}

/// Decodes `bytes` leniently (see [`normalize_fastjson`]) into `T`.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let norm = normalize_fastjson(bytes)?;
    serde_json::from_slice(&norm).map_err(|e| {
        RemotingError::decode(format!("invalid {} JSON: {e}", std::any::type_name::<T>()))
    })
}

/// Maximum nesting of object/array map keys inside map keys that [`normalize_fastjson`] follows.
const MAX_KEY_DEPTH: usize = 8;

/// Rewrites fastjson output into standard JSON; returns the input unchanged (borrowed) when it
/// needs no rewriting.
///
/// * bare object keys — numbers (`{0:"a"}`), identifiers (`{a:1}`) — are quoted;
/// * single-quoted strings (keys or values), which fastjson reads, become double-quoted;
/// * object or array keys (`{{"topic":"t"}:5}`) become strings holding their (normalised) JSON
///   text, ready for [`MessageQueue`] map-key parsing.
///
/// It does not validate: whatever it leaves malformed is rejected by the JSON parser afterwards.
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::normalize_fastjson;
/// let out = normalize_fastjson(br#"{0:"a",'k':'v',{"q":1}:2}"#).unwrap();
/// assert_eq!(&*out, br#"{"0":"a","k":"v","{\"q\":1}":2}"#);
/// ```
pub fn normalize_fastjson(input: &[u8]) -> Result<Cow<'_, [u8]>> {
    normalize_at_depth(input, 0)
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Object,
    Array,
}

fn normalize_at_depth(input: &[u8], depth: usize) -> Result<Cow<'_, [u8]>> {
    if depth > MAX_KEY_DEPTH {
        return Err(RemotingError::decode("JSON map keys nested too deeply"));
    }
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0usize; // input[..copied] is already in `out`
    let mut stack: Vec<Ctx> = Vec::new();
    let mut expect_key = false;
    let mut i = 0usize;

    // Replaces input[start..end] with `with` in the output.
    fn replace(
        out: &mut Option<Vec<u8>>,
        copied: &mut usize,
        input: &[u8],
        start: usize,
        end: usize,
        with: &[u8],
    ) {
        let o = out.get_or_insert_with(|| Vec::with_capacity(input.len() + 16));
        o.extend_from_slice(&input[*copied..start]);
        o.extend_from_slice(with);
        *copied = end;
    }

    while i < input.len() {
        let b = input[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
            }
            b'{' if expect_key => {
                let end = composite_end(input, i)?;
                let inner = normalize_at_depth(&input[i..end], depth + 1)?;
                let text = std::str::from_utf8(&inner)
                    .map_err(|_| RemotingError::decode("JSON map key is not UTF-8"))?;
                let quoted = serde_json::to_string(text)
                    .map_err(|e| RemotingError::decode(format!("JSON map key: {e}")))?;
                replace(&mut out, &mut copied, input, i, end, quoted.as_bytes());
                i = end;
                expect_key = false;
            }
            b'[' if expect_key => {
                let end = composite_end(input, i)?;
                let inner = normalize_at_depth(&input[i..end], depth + 1)?;
                let text = std::str::from_utf8(&inner)
                    .map_err(|_| RemotingError::decode("JSON map key is not UTF-8"))?;
                let quoted = serde_json::to_string(text)
                    .map_err(|e| RemotingError::decode(format!("JSON map key: {e}")))?;
                replace(&mut out, &mut copied, input, i, end, quoted.as_bytes());
                i = end;
                expect_key = false;
            }
            b'{' => {
                stack.push(Ctx::Object);
                expect_key = true;
                i += 1;
            }
            b'[' => {
                stack.push(Ctx::Array);
                expect_key = false;
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = stack.last() == Some(&Ctx::Object);
                i += 1;
            }
            b':' => {
                expect_key = false;
                i += 1;
            }
            b'"' => {
                i = string_end(input, i, b'"')?;
                expect_key = false;
            }
            b'\'' => {
                let end = string_end(input, i, b'\'')?;
                let converted = requote_single(&input[i + 1..end - 1])?;
                replace(&mut out, &mut copied, input, i, end, &converted);
                i = end;
                expect_key = false;
            }
            _ if expect_key => {
                // A bare key: runs until the ':' (or a structural character).
                let start = i;
                while i < input.len()
                    && !matches!(input[i], b':' | b',' | b'}' | b']' | b'{' | b'[')
                {
                    i += 1;
                }
                let raw = std::str::from_utf8(&input[start..i])
                    .map_err(|_| RemotingError::decode("JSON map key is not UTF-8"))?
                    .trim_end();
                let quoted = serde_json::to_string(raw)
                    .map_err(|e| RemotingError::decode(format!("JSON map key: {e}")))?;
                replace(
                    &mut out,
                    &mut copied,
                    input,
                    start,
                    start + raw.len(),
                    quoted.as_bytes(),
                );
                expect_key = false;
            }
            _ => {
                i += 1;
            }
        }
    }
    Ok(match out {
        None => Cow::Borrowed(input),
        Some(mut o) => {
            o.extend_from_slice(&input[copied..]);
            Cow::Owned(o)
        }
    })
}

/// The index just past the string starting at `start` (which holds the quote `q`).
pub(crate) fn string_end(input: &[u8], start: usize, q: u8) -> Result<usize> {
    let mut i = start + 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            c if c == q => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(RemotingError::decode("unterminated JSON string"))
}

/// The index just past the balanced `{…}` or `[…]` starting at `start`.
fn composite_end(input: &[u8], start: usize) -> Result<usize> {
    let mut level = 0usize;
    let mut i = start;
    while i < input.len() {
        match input[i] {
            b'{' | b'[' => {
                level += 1;
                i += 1;
            }
            b'}' | b']' => {
                level -= 1;
                i += 1;
                if level == 0 {
                    return Ok(i);
                }
            }
            q @ (b'"' | b'\'') => i = string_end(input, i, q)?,
            _ => i += 1,
        }
    }
    Err(RemotingError::decode("unterminated JSON map key"))
}

/// Converts the content of a single-quoted string into a double-quoted JSON string.
fn requote_single(content: &[u8]) -> Result<Vec<u8>> {
    let mut o = Vec::with_capacity(content.len() + 2);
    o.push(b'"');
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'\\' if content.get(i + 1) == Some(&b'\'') => {
                o.push(b'\'');
                i += 2;
            }
            b'\\' => {
                o.push(b'\\');
                if let Some(&c) = content.get(i + 1) {
                    o.push(c);
                }
                i += 2;
            }
            b'"' => {
                o.extend_from_slice(b"\\\"");
                i += 1;
            }
            c => {
                o.push(c);
                i += 1;
            }
        }
    }
    o.push(b'"');
    Ok(o)
}

/// One queue of a topic on one broker (Java `MessageQueue`): (topic, broker name, queue id).
///
/// Ordering follows Java's `compareTo`: `topic`, then `broker_name` (both in Java `String`
/// order, see [`java_string_cmp`](crate::util::java_string_cmp)), then `queue_id`. Queue
/// allocation depends on this order, so sort with it (e.g. `queues.sort()`) before allocating.
///
/// [`Display`](std::fmt::Display) prints Java's `toString()` form, which the consistent-hash
/// allocation strategy hashes. JSON members use Java's names, written in fastjson's
/// alphabetical order (`brokerName`, `queueId`, `topic`).
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::MessageQueue;
///
/// let mq = MessageQueue::new("TopicTest", "broker-a", 3);
/// assert_eq!(mq.to_string(), "MessageQueue [topic=TopicTest, brokerName=broker-a, queueId=3]");
/// assert_eq!(
///     serde_json::to_string(&mq).unwrap(),
///     r#"{"brokerName":"broker-a","queueId":3,"topic":"TopicTest"}"#
/// );
/// assert!(mq < MessageQueue::new("TopicTest", "broker-b", 0));
/// // Topic first, although the struct (and its JSON) lists the broker name first.
/// assert!(MessageQueue::new("A", "z", 0) < MessageQueue::new("B", "a", 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    /// Broker name.
    #[serde(default)]
    pub broker_name: String,
    /// Queue id.
    #[serde(default)]
    pub queue_id: i32,
    /// Topic.
    #[serde(default)]
    pub topic: String,
}

impl MessageQueue {
    /// A queue of `topic` on `broker_name`.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        crate::util::java_string_cmp(&self.topic, &other.topic)
            .then_with(|| crate::util::java_string_cmp(&self.broker_name, &other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

/// Serde helpers for maps keyed by [`MessageQueue`].
///
/// On decode the keys are strings holding JSON objects (what [`normalize_fastjson`] makes of
/// fastjson's object keys). On encode each key becomes its JSON text as a string; the bodies that
/// hold such maps post-process that into fastjson's object-key form (see
/// [`write_object_keys`]).
pub(crate) mod mq_map {
    use super::*;
    use std::collections::BTreeMap;

    pub fn serialize<V: Serialize, S: serde::Serializer>(
        map: &BTreeMap<MessageQueue, V>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            let key = serde_json::to_string(k).map_err(S::Error::custom)?;
            m.serialize_entry(&key, v)?;
        }
        m.end()
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<BTreeMap<MessageQueue, V>, D::Error> {
        use serde::de::Error;
        let raw: Option<BTreeMap<String, V>> = Option::deserialize(d)?;
        let mut out = BTreeMap::new();
        for (k, v) in raw.unwrap_or_default() {
            let mq: MessageQueue = serde_json::from_str(&k)
                .map_err(|e| D::Error::custom(format!("bad MessageQueue key {k:?}: {e}")))?;
            out.insert(mq, v);
        }
        Ok(out)
    }
}

/// Writes `value` (a JSON object) as JSON, except that the members of the top-level fields named
/// in `object_key_fields` have their (string) keys written raw: fastjson's object-key form.
/// Those keys were produced by [`mq_map`], so they are valid JSON objects.
pub(crate) fn write_object_keys(value: &serde_json::Value, object_key_fields: &[&str]) -> Bytes {
    let serde_json::Value::Object(top) = value else {
        return encode_json(value);
    };
    let mut o = Vec::with_capacity(256);
    o.push(b'{');
    for (n, (name, v)) in top.iter().enumerate() {
        if n > 0 {
            o.push(b',');
        }
        o.extend_from_slice(encode_json(name).as_ref());
        o.push(b':');
        match v {
            serde_json::Value::Object(m) if object_key_fields.contains(&name.as_str()) => {
                o.push(b'{');
                for (j, (k, x)) in m.iter().enumerate() {
                    if j > 0 {
                        o.push(b',');
                    }
                    o.extend_from_slice(k.as_bytes());
                    o.push(b':');
                    o.extend_from_slice(encode_json(x).as_ref());
                }
                o.push(b'}');
            }
            other => o.extend_from_slice(encode_json(other).as_ref()),
        }
    }
    o.push(b'}');
    Bytes::from(o)
}

/// Deserializes `null` as the type's default (fastjson omits or nulls empty members freely).
pub(crate) fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Deserializes an integer that may come as a JSON number or a decimal string (the C++ client
/// sends `subVersion` as a string).
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    match &v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| D::Error::custom(format!("not an integer: {v}"))),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("not an integer: {v}"))),
        serde_json::Value::Null => Ok(0),
        _ => Err(D::Error::custom(format!("not an integer: {v}"))),
    }
}

/// Deserializes a boolean that may come as `true`/`false`, `"true"`/`"false"`, 0/1 or null.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => crate::protocol::header::parse_bool(&s),
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    })
}
