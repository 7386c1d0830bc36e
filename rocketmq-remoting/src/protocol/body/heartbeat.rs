//! HEART_BEAT (34) body: `HeartbeatData` and its parts (docs/protocol/heartbeat.md §1, §2; docs/protocol/clients.md).
//!
//! Decoding accepts every shape seen from real clients: Java/Go names for enums, C++ ordinals,
//! `subVersion` as number or string, and absent `producerDataSet`, `consumerDataSet`,
//! `subscriptionDataSet`, `tagsSet`, `codeSet`, `expressionType`, `classFilterMode`,
//! `unitMode`, `heartbeatFingerprint` and `withoutSub`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{lenient_bool, lenient_i64, null_default, serde_json_body};
use crate::protocol::header::name_enum;

name_enum! {
    /// How a consumer gets messages (Java `ConsumeType`; ordinals as in Java and C++).
    pub enum ConsumeType {
        /// Pull / lite-pull consumers (ordinal 0).
        ConsumeActively = "CONSUME_ACTIVELY",
        /// Push consumers (ordinal 1).
        ConsumePassively = "CONSUME_PASSIVELY",
        /// 5.x pop consumers (ordinal 2).
        ConsumePop = "CONSUME_POP",
    }
}

name_enum! {
    /// Clustering or broadcasting (Java `MessageModel`; BROADCASTING = 0, CLUSTERING = 1).
    pub enum MessageModel {
        /// Every consumer gets every message.
        Broadcasting = "BROADCASTING",
        /// Queues are shared out among the group.
        Clustering = "CLUSTERING",
    }
}

name_enum! {
    /// Where a new group starts (Java `ConsumeFromWhere`; ordinals as in Java and C++).
    pub enum ConsumeFromWhere {
        /// Ordinal 0.
        ConsumeFromLastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// Ordinal 1 (deprecated in Java).
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Ordinal 2 (deprecated in Java).
        ConsumeFromMinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// Ordinal 3 (deprecated in Java).
        ConsumeFromMaxOffset = "CONSUME_FROM_MAX_OFFSET",
        /// Ordinal 4.
        ConsumeFromFirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        /// Ordinal 5.
        ConsumeFromTimestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

#[allow(clippy::derivable_impls)] // the enums come from a macro that cannot take #[default]
impl Default for ConsumeType {
    fn default() -> Self {
        ConsumeType::ConsumePassively
    }
}

#[allow(clippy::derivable_impls)] // the enums come from a macro that cannot take #[default]
impl Default for MessageModel {
    fn default() -> Self {
        MessageModel::Clustering
    }
}

#[allow(clippy::derivable_impls)] // the enums come from a macro that cannot take #[default]
impl Default for ConsumeFromWhere {
    fn default() -> Self {
        ConsumeFromWhere::ConsumeFromLastOffset
    }
}

fn tag_expression() -> String {
    "TAG".to_owned()
}

/// The HEART_BEAT body (Java `HeartbeatData`).
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::*;
/// // What the C++ client sends: ordinals, string subVersion, no producerDataSet.
/// let cpp = br#"{"clientID":"1-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,
///   "consumeType":1,"groupName":"g","messageModel":1,
///   "subscriptionDataSet":[{"subString":"*","subVersion":"1795310190286","topic":"T"}]}]}"#;
/// let hb = HeartbeatData::from_json(cpp).unwrap();
/// let c = &hb.consumer_data_set[0];
/// assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
/// assert_eq!(c.message_model, MessageModel::Clustering);
/// assert_eq!(c.subscription_data_set[0].sub_version, 1795310190286);
/// assert_eq!(c.subscription_data_set[0].expression_type, "TAG");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeartbeatData {
    /// Client instance id.
    #[serde(rename = "clientID", default, deserialize_with = "null_default")]
    pub client_id: String,
    /// Producer groups of the process.
    #[serde(rename = "producerDataSet", default, deserialize_with = "null_default")]
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups of the process.
    #[serde(rename = "consumerDataSet", default, deserialize_with = "null_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x heartbeat v2 fingerprint; 0 = classic heartbeat.
    #[serde(
        rename = "heartbeatFingerprint",
        default,
        deserialize_with = "lenient_i64"
    )]
    pub heartbeat_fingerprint: i64,
    /// 5.x heartbeat v2: subscriptions omitted, keep the previous ones.
    #[serde(rename = "withoutSub", default, deserialize_with = "lenient_bool")]
    pub without_sub: bool,
}

/// A producer group in a heartbeat (Java `ProducerData`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerData {
    /// Producer group.
    #[serde(default, deserialize_with = "null_default")]
    pub group_name: String,
}

/// A consumer group in a heartbeat (Java `ConsumerData`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerData {
    /// Consumer group.
    #[serde(default, deserialize_with = "null_default")]
    pub group_name: String,
    /// Pull, push or pop.
    #[serde(default)]
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    #[serde(default)]
    pub message_model: MessageModel,
    /// Where a new group starts.
    #[serde(default)]
    pub consume_from_where: ConsumeFromWhere,
    /// Subscriptions (absent in the C++ pull consumer's heartbeat).
    #[serde(default, deserialize_with = "null_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub unit_mode: bool,
}

/// One topic subscription (Java `SubscriptionData`, docs/protocol/message.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionData {
    /// Legacy class filter; false.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub class_filter_mode: bool,
    /// Topic.
    #[serde(default, deserialize_with = "null_default")]
    pub topic: String,
    /// The expression, e.g. `*` or `TagA || TagB`.
    #[serde(default, deserialize_with = "null_default")]
    pub sub_string: String,
    /// Trimmed tags of `subString` (empty for `*`).
    #[serde(default, deserialize_with = "null_default")]
    pub tags_set: BTreeSet<String>,
    /// Java `String.hashCode()` of each tag; numbers, or decimal strings as the Go client
    /// sends them (Java's fastjson reads both).
    #[serde(default, deserialize_with = "lenient_code_set")]
    pub code_set: BTreeSet<i32>,
    /// Version (ms timestamp); number or decimal string.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub sub_version: i64,
    /// `TAG` (the default when absent) or `SQL92`.
    #[serde(default = "tag_expression", deserialize_with = "expression_type")]
    pub expression_type: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            topic: String::new(),
            sub_string: String::new(),
            tags_set: BTreeSet::new(),
            code_set: BTreeSet::new(),
            sub_version: 0,
            expression_type: tag_expression(),
        }
    }
}

fn lenient_code_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
    use serde::de::Error;
    let Some(items) = Option::<Vec<serde_json::Value>>::deserialize(d)? else {
        return Ok(BTreeSet::new());
    };
    items
        .iter()
        .map(|v| {
            let n = match v {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            n.and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| D::Error::custom(format!("not a tag hash code: {v}")))
        })
        .collect()
}

fn expression_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(tag_expression))
}

/// CHECK_CLIENT_CONFIG (46) request body: a consumer asks whether the broker accepts one of
/// its subscriptions (docs/protocol/heartbeat.md §6).
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::{CheckClientRequestBody, JsonBody, SubscriptionData};
/// let b = CheckClientRequestBody {
///     client_id: "c1".into(),
///     group: "g".into(),
///     subscription_data: Some(SubscriptionData {
///         topic: "T".into(),
///         sub_string: "a > 1".into(),
///         expression_type: "SQL92".into(),
///         ..Default::default()
///     }),
/// };
/// let back = CheckClientRequestBody::from_json(&b.to_json()).unwrap();
/// assert_eq!(back, b);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckClientRequestBody {
    /// The asking client.
    #[serde(default, deserialize_with = "null_default")]
    pub client_id: String,
    /// Its consumer group.
    #[serde(default, deserialize_with = "null_default")]
    pub group: String,
    /// The subscription to check.
    #[serde(default)]
    pub subscription_data: Option<SubscriptionData>,
}

serde_json_body!(HeartbeatData, SubscriptionData, CheckClientRequestBody);

#[cfg(test)]
mod tests {
    use super::*;

    /// The Go client (rocketmq-client-go v2) writes tag hash codes as strings.
    #[test]
    fn code_set_accepts_the_go_clients_strings() {
        let body = br#"{"clientID":"192.0.2.2@1","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA","tagsSet":["TagA"],"codeSet":["2598919", 5, " -7 "],"subVersion":1796642160999,"expressionType":"TAG"}],"unitMode":false}]}"#;
        let hb: HeartbeatData = serde_json::from_slice(body).expect("Go heartbeat");
        let sub = &hb.consumer_data_set[0].subscription_data_set[0];
        assert_eq!(sub.code_set, BTreeSet::from([-7, 5, 2_598_919]));
        assert_eq!(sub.tags_set, BTreeSet::from(["TagA".to_string()]));
    }

    #[test]
    fn code_set_rejects_what_is_not_a_hash_code() {
        for bad in [r#"["TagA"]"#, r#"[true]"#, r#"[4294967296]"#, r#""12""#] {
            let body = format!(r#"{{"topic":"T","subString":"TagA","codeSet":{bad}}}"#);
            assert!(
                serde_json::from_str::<SubscriptionData>(&body).is_err(),
                "accepted codeSet {bad}"
            );
        }
        let absent: SubscriptionData =
            serde_json::from_str(r#"{"topic":"T","codeSet":null}"#).unwrap();
        assert!(absent.code_set.is_empty());
    }
}
