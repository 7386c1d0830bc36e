//! Admin-plane bodies: subscription-group configs, producer connections, group lists and broker
//! statistics (docs/protocol/admin.md §5, §6, §8).
//!
//! Members are declared in alphabetical order, the order fastjson writes a Java bean's
//! properties in, so that our bodies read like an Apache broker's.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::consumer::Connection;
use super::namesrv::DataVersion;
use super::{lenient_bool, null_default, serde_json_body};

fn yes() -> bool {
    true
}

fn one_i32() -> i32 {
    1
}

fn one_i64() -> i64 {
    1
}

fn sixteen() -> i32 {
    16
}

fn fifteen() -> i32 {
    15
}

fn lenient_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    // fastjson omits nothing that is set, but a `null` here means "not given": the default.
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(true),
        Some(v) => lenient_bool(v).map_err(serde::de::Error::custom),
    }
}

/// The 5.x default retry policy object (`{"type":"CUSTOMIZED"}`), echoed as given otherwise: only
/// Apache's proxy reads it.
fn default_retry_policy() -> serde_json::Value {
    serde_json::json!({ "type": "CUSTOMIZED" })
}

/// One subscription of a 5.x group config (Java `SimpleSubscriptionData`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimpleSubscriptionData {
    /// Filter expression.
    #[serde(deserialize_with = "null_default")]
    pub expression: String,
    /// `TAG` or `SQL92`.
    #[serde(deserialize_with = "null_default")]
    pub expression_type: String,
    /// Topic.
    #[serde(deserialize_with = "null_default")]
    pub topic: String,
    /// Subscription version.
    pub version: i64,
}

/// A consumer group's broker-side settings (Java `SubscriptionGroupConfig`): the body of
/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) and GET_SUBSCRIPTIONGROUP_CONFIG (352), the values
/// of [`SubscriptionGroupWrapper`] (docs/protocol/admin.md §5).
///
/// Absent members take Apache's defaults, so a 4.9 tool's body (without the 5.x members) reads
/// as the same config a 5.x broker would store.
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::{JsonBody, SubscriptionGroupConfig};
/// let c = SubscriptionGroupConfig::from_json(br#"{"groupName":"g","retryMaxTimes":3}"#).unwrap();
/// assert_eq!((c.retry_max_times, c.retry_queue_nums, c.consume_enable), (3, 1, true));
/// assert_eq!(c, SubscriptionGroupConfig { retry_max_times: 3, ..SubscriptionGroupConfig::new("g") });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    /// 5.x free-form attributes.
    #[serde(default, deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
    /// Broker id suggested to consumers when slave reading is on and they keep up (0).
    #[serde(default)]
    pub broker_id: i64,
    /// Whether BROADCASTING consumers of the group may pull (true).
    #[serde(default = "yes", deserialize_with = "lenient_true")]
    pub consume_broadcast_enable: bool,
    /// Whether the group may pull at all (true).
    #[serde(default = "yes", deserialize_with = "lenient_true")]
    pub consume_enable: bool,
    /// Not read by a broker (true).
    #[serde(default = "yes", deserialize_with = "lenient_true")]
    pub consume_from_min_enable: bool,
    /// 5.x: the group consumes in order (false).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub consume_message_orderly: bool,
    /// 5.x push-consumer timeout in minutes (15).
    #[serde(default = "fifteen")]
    pub consume_timeout_minute: i32,
    /// Group name.
    #[serde(default, deserialize_with = "null_default")]
    pub group_name: String,
    /// 5.x retry policy (`{"type":"CUSTOMIZED"}`), kept as given.
    #[serde(default = "default_retry_policy")]
    pub group_retry_policy: serde_json::Value,
    /// 5.x group system flag (0).
    #[serde(default)]
    pub group_sys_flag: i32,
    /// Whether NOTIFY_CONSUMER_IDS_CHANGED is pushed to the group (true).
    #[serde(default = "yes", deserialize_with = "lenient_true")]
    pub notify_consumer_ids_changed_enable: bool,
    /// Deliveries before a message goes to the dead-letter queue (16).
    #[serde(default = "sixteen")]
    pub retry_max_times: i32,
    /// Queues of `%RETRY%<group>` (1); 0 or less drops sent-back messages.
    #[serde(default = "one_i32")]
    pub retry_queue_nums: i32,
    /// 5.x subscriptions (absent unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_data_set: Option<BTreeSet<SimpleSubscriptionData>>,
    /// Broker id suggested to consumers that fall behind when slave reading is on (1).
    #[serde(default = "one_i64")]
    pub which_broker_when_consume_slowly: i64,
}

impl SubscriptionGroupConfig {
    /// A config for `group` with Apache's defaults.
    pub fn new(group: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            attributes: BTreeMap::new(),
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            consume_message_orderly: false,
            consume_timeout_minute: 15,
            group_name: group.into(),
            group_retry_policy: default_retry_policy(),
            group_sys_flag: 0,
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            subscription_data_set: None,
            which_broker_when_consume_slowly: 1,
        }
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) response body and the broker's
/// `config/subscriptionGroup.json` (Java `SubscriptionGroupWrapper` / `SubscriptionGroupManager`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupWrapper {
    /// Version of the table.
    #[serde(default, deserialize_with = "null_default")]
    pub data_version: DataVersion,
    /// 5.x group → topic → forbidden bits (kept as read).
    #[serde(default, deserialize_with = "null_default")]
    pub forbidden_table: BTreeMap<String, BTreeMap<String, i32>>,
    /// Group → config.
    #[serde(default, deserialize_with = "null_default")]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

/// GET_PRODUCER_CONNECTION_LIST (204) response body (Java `ProducerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConnection {
    /// The group's connected producers.
    #[serde(default, deserialize_with = "null_default")]
    pub connection_set: BTreeSet<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300) response body (Java `GroupList`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    /// Consumer groups.
    #[serde(default, deserialize_with = "null_default")]
    pub group_list: BTreeSet<String>,
}

/// One window of [`BrokerStatsData`] (Java `BrokerStatsItem`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerStatsItem {
    /// Average value per counted event (bytes per message, ...).
    pub avgpt: f64,
    /// Sum over the window.
    pub sum: i64,
    /// Events per second over the window.
    pub tps: f64,
}

/// VIEW_BROKER_STATS_DATA (315) response body (Java `BrokerStatsData`): the last minute, hour
/// and day of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerStatsData {
    /// Last day.
    pub stats_day: BrokerStatsItem,
    /// Last hour.
    pub stats_hour: BrokerStatsItem,
    /// Last minute.
    pub stats_minute: BrokerStatsItem,
}

serde_json_body!(
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
    ProducerConnection,
    GroupList,
    BrokerStatsData
);

#[cfg(test)]
mod tests {
    use super::super::JsonBody;
    use super::*;

    #[test]
    fn group_config_defaults_and_order() {
        let c = SubscriptionGroupConfig::new("g");
        let text = String::from_utf8(c.to_json().to_vec()).unwrap();
        // fastjson's alphabetical order, subscriptionDataSet omitted while null.
        assert_eq!(
            text,
            r#"{"attributes":{},"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"g","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
        );
        assert_eq!(
            SubscriptionGroupConfig::from_json(text.as_bytes()).unwrap(),
            c
        );
    }

    #[test]
    fn reads_a_49_tool_body_and_java_booleans() {
        // What mqadmin 4.9 updateSubGroup sends (no 5.x members), with a string boolean.
        let b = br#"{"brokerId":0,"consumeBroadcastEnable":false,"consumeEnable":"false","consumeFromMinEnable":false,"groupName":"g","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":2,"retryQueueNums":3,"whichBrokerWhenConsumeSlowly":1}"#;
        let c = SubscriptionGroupConfig::from_json(b).unwrap();
        assert!(!c.consume_enable && !c.consume_broadcast_enable);
        assert_eq!((c.retry_max_times, c.retry_queue_nums), (2, 3));
        assert_eq!(c.consume_timeout_minute, 15);
        assert_eq!(c.group_retry_policy["type"], "CUSTOMIZED");
    }

    #[test]
    fn wrapper_reads_fastjson_file() {
        let b = br#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1},"forbiddenTable":{},"subscriptionGroupTable":{"g":{"groupName":"g","retryMaxTimes":1}}}"#;
        let w = SubscriptionGroupWrapper::from_json(b).unwrap();
        assert_eq!(w.data_version.counter, 3);
        assert_eq!(w.subscription_group_table["g"].retry_max_times, 1);
    }

    #[test]
    fn stats_data_shape() {
        let d = BrokerStatsData {
            stats_minute: BrokerStatsItem {
                avgpt: 0.5,
                sum: 3,
                tps: 0.05,
            },
            ..Default::default()
        };
        let text = String::from_utf8(d.to_json().to_vec()).unwrap();
        assert_eq!(
            text,
            r#"{"statsDay":{"avgpt":0.0,"sum":0,"tps":0.0},"statsHour":{"avgpt":0.0,"sum":0,"tps":0.0},"statsMinute":{"avgpt":0.5,"sum":3,"tps":0.05}}"#
        );
    }
}
