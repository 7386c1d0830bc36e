//! Route bodies: `TopicRouteData` and its parts (docs/protocol/route.md §1, §2).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{lenient_bool, null_default, serde_json_body, JsonBody};

/// The body of a GET_ROUTEINFO_BY_TOPIC (105) response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// `"brokerA:4;brokerB:4"` when the NameServer has an order config for the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// One per broker name hosting the topic.
    #[serde(default, deserialize_with = "null_default")]
    pub queue_datas: Vec<QueueData>,
    /// One per broker name.
    #[serde(default, deserialize_with = "null_default")]
    pub broker_datas: Vec<BrokerData>,
    /// Legacy filter servers: broker address → filter server addresses (normally `{}`).
    #[serde(default, deserialize_with = "null_default")]
    pub filter_server_table: HashMap<String, Vec<String>>,
    /// 5.x static topics: broker name → mapping info (kept as raw JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_by_broker: Option<BTreeMap<String, serde_json::Value>>,
}

serde_json_body!(TopicRouteData);

impl TopicRouteData {
    /// The legacy fastjson form a Java NameServer sends to clients whose request `version` is
    /// below 401 (V4_9_4): `brokerAddrs` with **unquoted** integer keys (`{0:"ip:port"}`),
    /// docs/protocol/frame.md §7; docs/protocol/route.md §1. Every known client (Java, Go, C++ via jsoncpp `allowNumericKeys`)
    /// also accepts the standard form of [`JsonBody::to_json`], which is what a server should
    /// send; this exists for byte-faithful emulation.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::body::{BrokerData, JsonBody, TopicRouteData};
    /// let mut route = TopicRouteData::default();
    /// let mut b = BrokerData::new("DefaultCluster", "broker-a");
    /// b.broker_addrs.insert(0, "127.0.0.1:10911".into());
    /// route.broker_datas.push(b);
    /// let legacy = route.to_json_legacy();
    /// assert!(std::str::from_utf8(&legacy).unwrap().contains(r#"{0:"127.0.0.1:10911"}"#));
    /// assert_eq!(TopicRouteData::from_json(&legacy).unwrap(), route);
    /// ```
    pub fn to_json_legacy(&self) -> Bytes {
        let std_json = self.to_json();
        match unquote_broker_addr_keys(&std_json) {
            Some(v) => Bytes::from(v),
            None => std_json,
        }
    }
}

/// Rewrites every `"brokerAddrs":{"<n>":…}` key to `<n>:`. Broker ids are integers, so the only
/// quoted-integer keys inside a `brokerAddrs` object are its own keys.
pub(crate) fn unquote_broker_addr_keys(json: &[u8]) -> Option<Vec<u8>> {
    const MARK: &[u8] = b"\"brokerAddrs\":{";
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    let mut changed = false;
    while i < json.len() {
        if json[i..].starts_with(MARK) {
            out.extend_from_slice(MARK);
            i += MARK.len();
            // Inside the map: keys are quoted integers, values are JSON strings.
            loop {
                if json.get(i) == Some(&b'"') {
                    let key_end = json[i + 1..].iter().position(|&c| c == b'"')? + i + 1;
                    let key = &json[i + 1..key_end];
                    if key.is_empty() || !key.iter().all(|c| c.is_ascii_digit() || *c == b'-') {
                        return None;
                    }
                    out.extend_from_slice(key);
                    changed = true;
                    i = key_end + 1;
                    // ':' then the value string.
                    out.push(*json.get(i)?);
                    i += 1;
                    let v_end = super::string_end(json, i, b'"').ok()?;
                    out.extend_from_slice(&json[i..v_end]);
                    i = v_end;
                    match json.get(i) {
                        Some(b',') => {
                            out.push(b',');
                            i += 1;
                        }
                        _ => break,
                    }
                } else {
                    break;
                }
            }
        } else {
            out.push(json[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// Per-broker queue counts of a topic (Java `QueueData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// Broker name.
    #[serde(default, deserialize_with = "null_default")]
    pub broker_name: String,
    /// Readable queues.
    #[serde(default)]
    pub read_queue_nums: i32,
    /// Writable queues.
    #[serde(default)]
    pub write_queue_nums: i32,
    /// Permission bits: 4 READ, 2 WRITE, 1 INHERIT, 8 PRIORITY.
    #[serde(default)]
    pub perm: i32,
    /// Topic sysFlag.
    #[serde(default)]
    pub topic_sys_flag: i32,
}

/// A broker group: name, cluster and addresses by broker id (Java `BrokerData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Cluster name.
    #[serde(default, deserialize_with = "null_default")]
    pub cluster: String,
    /// Broker name.
    #[serde(default, deserialize_with = "null_default")]
    pub broker_name: String,
    /// Broker id → `host:port`; id 0 is the master.
    #[serde(default, deserialize_with = "null_default")]
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    /// 5.x acting-master mode.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enable_acting_master: bool,
}

impl BrokerData {
    /// A broker group without addresses.
    pub fn new(cluster: impl Into<String>, broker_name: impl Into<String>) -> Self {
        BrokerData {
            cluster: cluster.into(),
            broker_name: broker_name.into(),
            ..Default::default()
        }
    }

    /// The master's address (id 0), if registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}
