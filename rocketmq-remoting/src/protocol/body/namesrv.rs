//! NameServer bodies: cluster info, topic lists, KV tables and broker registration
//! (docs/protocol/namesrv.md §4, §6–§9).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::route::{unquote_broker_addr_keys, BrokerData};
use super::{decode_json, encode_json, lenient_bool, null_default, serde_json_body, JsonBody};
use crate::error::{RemotingError, Result};
use crate::protocol::header::TopicFilterType;

/// GET_BROKER_CLUSTER_INFO (106) response body (Java `ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name → broker data.
    #[serde(default, deserialize_with = "null_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    #[serde(default, deserialize_with = "null_default")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

serde_json_body!(ClusterInfo);

impl ClusterInfo {
    /// The fastjson form Java always sends for this body: unquoted `brokerAddrs` keys
    /// (docs/protocol/namesrv.md §8).
    pub fn to_json_legacy(&self) -> Bytes {
        let std_json = self.to_json();
        match unquote_broker_addr_keys(&std_json) {
            Some(v) => Bytes::from(v),
            None => std_json,
        }
    }
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206) response body (Java `TopicList`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    /// Topic names.
    #[serde(default, deserialize_with = "null_default")]
    pub topic_list: BTreeSet<String>,
    /// Broker address (absent from the NameServer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

/// A KV namespace's table (Java `KVTable`): GET_KVLIST_BY_NAMESPACE and REGISTER_BROKER
/// response bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KVTable {
    /// Key → value.
    #[serde(default, deserialize_with = "null_default")]
    pub table: BTreeMap<String, String>,
}

/// A data version (Java `DataVersion`): brokers bump it whenever their topic table changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    /// 5.x state version.
    #[serde(default)]
    pub state_version: i64,
    /// ms timestamp of the last change.
    #[serde(default)]
    pub timestamp: i64,
    /// Change counter.
    #[serde(default)]
    pub counter: i64,
}

/// A topic's configuration on a broker (Java `TopicConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    /// Topic name.
    #[serde(default, deserialize_with = "null_default")]
    pub topic_name: String,
    /// Read queues (Java default 16).
    #[serde(default = "sixteen")]
    pub read_queue_nums: i32,
    /// Write queues (Java default 16).
    #[serde(default = "sixteen")]
    pub write_queue_nums: i32,
    /// Permission bits (Java default 6 = READ|WRITE).
    #[serde(default = "six")]
    pub perm: i32,
    /// Tag filter type.
    #[serde(default)]
    pub topic_filter_type: TopicFilterType,
    /// Topic sysFlag.
    #[serde(default)]
    pub topic_sys_flag: i32,
    /// Ordered topic.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub order: bool,
    /// 5.x attributes.
    #[serde(default, deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}

fn sixteen() -> i32 {
    16
}

fn six() -> i32 {
    6
}

impl TopicConfig {
    /// A config with Java's defaults for `name`, with the given queue counts and perm.
    pub fn new(name: impl Into<String>, read: i32, write: i32, perm: i32) -> Self {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: read,
            write_queue_nums: write,
            perm,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }

    /// Java's space-separated text form used inside compressed registrations:
    /// `"<name> <read> <write> <perm> <filterType> <attributesJSON>"`.
    pub fn encode_text(&self) -> String {
        let attrs = serde_json::to_string(&self.attributes).unwrap_or_else(|_| "{}".into());
        format!(
            "{} {} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type.java_name(),
            attrs
        )
    }

    /// Parses [`TopicConfig::encode_text`]'s form. Like Java, attributes that fail to parse
    /// (they may contain blanks, which the format cannot carry) are dropped.
    pub fn decode_text(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split(' ').collect();
        let bad = || RemotingError::decode(format!("invalid topic config text {text:?}"));
        if parts.len() < 5 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<i32>().map_err(|_| bad());
        let mut tc = TopicConfig::new(parts[0], num(parts[1])?, num(parts[2])?, num(parts[3])?);
        tc.topic_filter_type = TopicFilterType::parse(parts[4]).ok_or_else(bad)?;
        if let Some(a) = parts.get(5) {
            tc.attributes = serde_json::from_str(a).unwrap_or_default();
        }
        Ok(tc)
    }
}

/// A broker's topic table with its version (Java `TopicConfigSerializeWrapper`, or 5.x
/// `TopicConfigAndMappingSerializeWrapper` when the mapping members are present).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    /// Topic name → config.
    #[serde(default, deserialize_with = "null_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of the table.
    #[serde(default, deserialize_with = "null_default")]
    pub data_version: DataVersion,
    /// 5.x static-topic mapping info, topic → raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_info_map: Option<BTreeMap<String, serde_json::Value>>,
    /// 5.x static-topic mapping details, topic → raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_detail_map: Option<BTreeMap<String, serde_json::Value>>,
    /// 5.x mapping version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_data_version: Option<DataVersion>,
}

/// REGISTER_BROKER (103) request body (Java `RegisterBrokerBody`), in JSON or the compressed
/// binary form (docs/protocol/namesrv.md §4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    /// The broker's topics.
    #[serde(default, deserialize_with = "null_default")]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// Legacy filter servers.
    #[serde(default, deserialize_with = "null_default")]
    pub filter_server_list: Vec<String>,
}

/// The zlib magic byte that starts a compressed registration (deflate, 32 KiB window).
const ZLIB_CMF: u8 = 0x78;

impl RegisterBrokerBody {
    /// Default cap on the inflated size of a compressed body (a topic table of ~100k topics).
    pub const DEFAULT_MAX_INFLATED: usize = 64 * 1024 * 1024;

    /// Decodes a registration body: JSON unless `compressed`, and — because 5.x Java brokers put
    /// `compressed=false` in the header even when they compress — also the compressed form
    /// whenever the body starts with a zlib header. `max_inflated` caps decompression.
    pub fn decode(body: &[u8], compressed: bool, max_inflated: usize) -> Result<Self> {
        if compressed || body.first() == Some(&ZLIB_CMF) {
            Self::decode_compressed(body, max_inflated)
        } else {
            Self::from_json(body)
        }
    }

    /// Encodes the compressed form: zlib(level 9) of `i32 len + DataVersion JSON`, `i32 n`,
    /// n × (`i32 len` + topic config text), `i32 len` + filter server list JSON, `i32 n` +
    /// n × (`i32 len` + mapping info JSON).
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::body::*;
    /// let mut body = RegisterBrokerBody::default();
    /// body.topic_config_serialize_wrapper.topic_config_table
    ///     .insert("T".into(), TopicConfig::new("T", 4, 4, 6));
    /// let z = body.encode_compressed();
    /// let back = RegisterBrokerBody::decode(&z, true, 1 << 20).unwrap();
    /// assert_eq!(back.topic_config_serialize_wrapper.topic_config_table["T"].read_queue_nums, 4);
    /// ```
    pub fn encode_compressed(&self) -> Bytes {
        fn put(buf: &mut Vec<u8>, chunk: &[u8]) {
            buf.extend_from_slice(&(chunk.len() as i32).to_be_bytes());
            buf.extend_from_slice(chunk);
        }
        let w = &self.topic_config_serialize_wrapper;
        let mut raw = Vec::with_capacity(64 + 64 * w.topic_config_table.len());
        put(&mut raw, &encode_json(&w.data_version));
        raw.extend_from_slice(&(w.topic_config_table.len() as i32).to_be_bytes());
        for tc in w.topic_config_table.values() {
            put(&mut raw, tc.encode_text().as_bytes());
        }
        put(&mut raw, &encode_json(&self.filter_server_list));
        let infos = w.topic_queue_mapping_info_map.as_ref();
        raw.extend_from_slice(&(infos.map_or(0, |m| m.len()) as i32).to_be_bytes());
        for v in infos.into_iter().flat_map(|m| m.values()) {
            put(&mut raw, &encode_json(v));
        }
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(&raw);
        Bytes::from(enc.finish().unwrap_or_default())
    }

    /// Decodes the compressed form (see [`RegisterBrokerBody::encode_compressed`]); the
    /// static-topic section is read when present (Java reads it from brokers ≥ 5.0.0).
    pub fn decode_compressed(body: &[u8], max_inflated: usize) -> Result<Self> {
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(max_inflated as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|e| RemotingError::decode(format!("register body: bad zlib stream: {e}")))?;
        if raw.len() > max_inflated {
            return Err(RemotingError::decode(
                "register body: inflated size exceeds the limit",
            ));
        }
        let mut r = Reader { buf: &raw, pos: 0 };
        let mut out = RegisterBrokerBody::default();
        let w = &mut out.topic_config_serialize_wrapper;
        w.data_version = decode_json(r.chunk()?)?;
        let n = r.count()?;
        for _ in 0..n {
            let text = std::str::from_utf8(r.chunk()?)
                .map_err(|_| RemotingError::decode("register body: topic config is not UTF-8"))?;
            let tc = TopicConfig::decode_text(text)?;
            w.topic_config_table.insert(tc.topic_name.clone(), tc);
        }
        out.filter_server_list = decode_json(r.chunk()?).unwrap_or_default();
        if r.remaining() >= 4 {
            let n = r.count()?;
            let mut map = BTreeMap::new();
            for _ in 0..n {
                let v: serde_json::Value = decode_json(r.chunk()?)?;
                let topic = v
                    .get("topic")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_owned();
                map.insert(topic, v);
            }
            out.topic_config_serialize_wrapper
                .topic_queue_mapping_info_map = Some(map);
        }
        Ok(out)
    }
}

/// Bounds-checked reader of the compressed registration's length-prefixed chunks.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| RemotingError::decode("register body truncated"))?;
        self.pos += 4;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count of following chunks; each needs at least 4 bytes, which bounds it.
    fn count(&mut self) -> Result<usize> {
        let n = self.i32()?;
        if n < 0 || n as usize > self.remaining() / 4 {
            return Err(RemotingError::decode(format!(
                "register body: bad count {n}"
            )));
        }
        Ok(n as usize)
    }

    fn chunk(&mut self) -> Result<&'a [u8]> {
        let n = self.i32()?;
        if n < 0 || n as usize > self.remaining() {
            return Err(RemotingError::decode(format!(
                "register body: bad length {n}"
            )));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
}

/// What a broker learns from a REGISTER_BROKER response (Java `RegisterBrokerResult`): the
/// response header's `haServerAddr`/`masterAddr` and the body's KV table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerResult {
    /// Master's HA address (slaves only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_server_addr: Option<String>,
    /// Master's address (slaves only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_addr: Option<String>,
    /// `ORDER_TOPIC_CONFIG` KV table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_table: Option<KVTable>,
}

serde_json_body!(
    TopicList,
    KVTable,
    DataVersion,
    TopicConfig,
    TopicConfigSerializeWrapper,
    RegisterBrokerBody,
    RegisterBrokerResult
);
