//! Consumer-related bodies: queue locks, group membership, running info, offsets and stats
//! (docs/protocol/heartbeat.md §4; docs/protocol/rebalance.md §4; docs/protocol/admin.md §2–§4).
//!
//! Maps keyed by [`MessageQueue`] are written in fastjson's object-key form
//! (`{{"brokerName":"b","queueId":0,"topic":"t"}:5}`), the only form a Java peer reads back, and
//! read from it (docs/protocol/json.md §1).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::heartbeat::{ConsumeFromWhere, ConsumeType, MessageModel, SubscriptionData};
use super::{
    decode_json, lenient_bool, mq_map, null_default, serde_json_body, write_object_keys, JsonBody,
    MessageQueue,
};
use crate::error::Result;
use crate::protocol::header::name_enum;

/// LOCK_BATCH_MQ (41) request body (Java `LockBatchRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    /// Consumer group.
    #[serde(default, deserialize_with = "null_default")]
    pub consumer_group: String,
    /// Client id.
    #[serde(default, deserialize_with = "null_default")]
    pub client_id: String,
    /// 5.x quorum lock between replicas; a single broker ignores it.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub only_this_broker: bool,
    /// Queues to lock.
    #[serde(default, deserialize_with = "null_default")]
    pub mq_set: BTreeSet<MessageQueue>,
}

/// UNLOCK_BATCH_MQ (42) request body (Java `UnlockBatchRequestBody`), same shape as the lock.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body (Java `LockBatchResponseBody`): the queues now locked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    /// Queues locked by the caller.
    #[serde(rename = "lockOKMQSet", default, deserialize_with = "null_default")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

/// GET_CONSUMER_LIST_BY_GROUP (38) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetConsumerListByGroupResponseBody {
    /// Client ids of the group's connected consumers.
    #[serde(default, deserialize_with = "null_default")]
    pub consumer_id_list: Vec<String>,
}

serde_json_body!(
    LockBatchRequestBody,
    LockBatchResponseBody,
    GetConsumerListByGroupResponseBody
);

/// Implements [`JsonBody`] for a type with `MessageQueue`-keyed map fields.
macro_rules! mq_keyed_body {
    ($t:ty, [$($field:literal),*]) => {
        impl JsonBody for $t {
            fn to_json(&self) -> Bytes {
                match serde_json::to_value(self) {
                    Ok(v) => write_object_keys(&v, &[$($field),*]),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot serialize JSON body");
                        Bytes::from_static(b"{}")
                    }
                }
            }
            fn from_json(bytes: &[u8]) -> Result<Self> {
                decode_json(bytes)
            }
        }
    };
}

/// RESET_CONSUMER_CLIENT_OFFSET (220) body (Java `ResetOffsetBody`).
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::*;
/// let java = br#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:42}}"#;
/// let body = ResetOffsetBody::from_json(java).unwrap();
/// assert_eq!(body.offset_table[&MessageQueue::new("T", "b", 1)], 42);
/// assert_eq!(&body.to_json()[..], &java[..]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetOffsetBody {
    /// Queue → new offset.
    #[serde(default, with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, i64>,
}
mq_keyed_body!(ResetOffsetBody, ["offsetTable"]);

/// One entry of [`ResetOffsetBodyForC`] (Java `MessageQueueForC`): a queue and its new offset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueueForC {
    /// Topic.
    #[serde(default)]
    pub topic: String,
    /// Broker name.
    #[serde(default)]
    pub broker_name: String,
    /// Queue id.
    #[serde(default)]
    pub queue_id: i32,
    /// New offset.
    #[serde(default)]
    pub offset: i64,
}

/// RESET_CONSUMER_CLIENT_OFFSET (220) body in the list form a broker sends when the admin's
/// INVOKE_BROKER_TO_RESET_OFFSET came with language `CPP` (Java `ResetOffsetBodyForC`;
/// docs/protocol/admin.md §11).
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::*;
/// let body = ResetOffsetBodyForC::from_table(
///     &[(MessageQueue::new("T", "b", 1), 42)].into_iter().collect());
/// assert_eq!(
///     &body.to_json()[..],
///     br#"{"offsetTable":[{"topic":"T","brokerName":"b","queueId":1,"offset":42}]}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetOffsetBodyForC {
    /// Queues and their new offsets.
    #[serde(default, deserialize_with = "null_default")]
    pub offset_table: Vec<MessageQueueForC>,
}

impl ResetOffsetBodyForC {
    /// The list form of a [`ResetOffsetBody`] table.
    #[must_use]
    pub fn from_table(table: &BTreeMap<MessageQueue, i64>) -> Self {
        ResetOffsetBodyForC {
            offset_table: table
                .iter()
                .map(|(mq, &offset)| MessageQueueForC {
                    topic: mq.topic.clone(),
                    broker_name: mq.broker_name.clone(),
                    queue_id: mq.queue_id,
                    offset,
                })
                .collect(),
        }
    }
}

/// GET_CONSUMER_STATUS_FROM_CLIENT (221) response body, and INVOKE_BROKER_TO_GET_CONSUMER_STATUS
/// (223) response body (Java `GetConsumerStatusBody`; docs/protocol/admin.md §12). A client
/// fills `message_queue_table` (its offset store's offsets for the topic); the broker answers
/// them per client id in `consumer_table`.
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::*;
/// let java = br#"{"consumerTable":{"c1":{{"brokerName":"b","queueId":0,"topic":"T"}:7}},"messageQueueTable":{}}"#;
/// let body = GetConsumerStatusBody::from_json(java).unwrap();
/// assert_eq!(body.consumer_table["c1"][&MessageQueue::new("T", "b", 0)], 7);
/// assert_eq!(&body.to_json()[..], &java[..]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetConsumerStatusBody {
    /// One client's offsets for the topic.
    #[serde(default, with = "mq_map")]
    pub message_queue_table: BTreeMap<MessageQueue, i64>,
    /// Client id → its offsets (the broker's aggregate).
    #[serde(default, deserialize_with = "mq_map_by_client")]
    pub consumer_table: BTreeMap<String, BTreeMap<MessageQueue, i64>>,
}

fn mq_map_by_client<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, BTreeMap<MessageQueue, i64>>, D::Error> {
    #[derive(Deserialize)]
    struct Inner(#[serde(with = "mq_map")] BTreeMap<MessageQueue, i64>);
    let raw: Option<BTreeMap<String, Inner>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

impl JsonBody for GetConsumerStatusBody {
    /// Both tables nest `MessageQueue` keys, written in fastjson's object-key form (one level
    /// deeper for `consumerTable` than `write_object_keys` handles).
    fn to_json(&self) -> Bytes {
        fn mq_object(out: &mut Vec<u8>, table: &BTreeMap<MessageQueue, i64>) {
            out.push(b'{');
            for (i, (mq, offset)) in table.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&super::encode_json(mq));
                out.push(b':');
                out.extend_from_slice(offset.to_string().as_bytes());
            }
            out.push(b'}');
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"consumerTable\":{");
        for (i, (client, table)) in self.consumer_table.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&super::encode_json(client));
            out.push(b':');
            mq_object(&mut out, table);
        }
        out.extend_from_slice(b"},\"messageQueueTable\":");
        mq_object(&mut out, &self.message_queue_table);
        out.push(b'}');
        Bytes::from(out)
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        decode_json(bytes)
    }
}

/// A consumer's per-queue state in [`ConsumerRunningInfo`] (Java `ProcessQueueInfo`; note the
/// Java spelling `droped`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessQueueInfo {
    /// Consumer offset.
    pub commit_offset: i64,
    /// Lowest cached offset.
    pub cached_msg_min_offset: i64,
    /// Highest cached offset.
    pub cached_msg_max_offset: i64,
    /// Cached message count.
    pub cached_msg_count: i32,
    /// Cached size in MiB.
    pub cached_msg_size_in_mi_b: i32,
    /// Transaction (orderly) min offset.
    pub transaction_msg_min_offset: i64,
    /// Transaction (orderly) max offset.
    pub transaction_msg_max_offset: i64,
    /// Transaction (orderly) count.
    pub transaction_msg_count: i32,
    /// Queue lock held (orderly).
    pub locked: bool,
    /// Unlock attempts.
    pub try_unlock_times: i64,
    /// Last lock time (ms).
    pub last_lock_timestamp: i64,
    /// Dropped from this consumer.
    #[serde(rename = "droped")]
    pub dropped: bool,
    /// Last pull time (ms).
    pub last_pull_timestamp: i64,
    /// Last consume time (ms).
    pub last_consume_timestamp: i64,
}

/// Per-topic consume statistics in [`ConsumerRunningInfo`] (Java `ConsumeStatus`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStatus {
    /// Pull round trip (ms).
    #[serde(rename = "pullRT")]
    pub pull_rt: f64,
    /// Pulls per second.
    #[serde(rename = "pullTPS")]
    pub pull_tps: f64,
    /// Consume time (ms).
    #[serde(rename = "consumeRT")]
    pub consume_rt: f64,
    /// Successful consumes per second.
    #[serde(rename = "consumeOKTPS")]
    pub consume_ok_tps: f64,
    /// Failed consumes per second.
    #[serde(rename = "consumeFailedTPS")]
    pub consume_failed_tps: f64,
    /// Failed messages in the last hour.
    pub consume_failed_msgs: i64,
}

/// GET_CONSUMER_RUNNING_INFO (307) response body (Java `ConsumerRunningInfo`,
/// docs/protocol/admin.md §3). A minimal answer fills `properties` (`PROP_CONSUME_TYPE`,
/// `PROP_CLIENT_VERSION`, `PROP_NAMESERVER_ADDR`), `subscription_set`; the tables may be empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRunningInfo {
    /// Thread dump, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jstack: Option<String>,
    /// Queue → process queue state.
    #[serde(default, with = "mq_map")]
    pub mq_table: BTreeMap<MessageQueue, ProcessQueueInfo>,
    /// 5.x pop queues (kept raw).
    #[serde(default, with = "mq_map")]
    pub mq_pop_table: BTreeMap<MessageQueue, serde_json::Value>,
    /// `PROP_*` properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: BTreeMap<String, String>,
    /// Topic → statistics.
    #[serde(default, deserialize_with = "null_default")]
    pub status_table: BTreeMap<String, ConsumeStatus>,
    /// Subscriptions.
    #[serde(default, deserialize_with = "null_default")]
    pub subscription_set: Vec<SubscriptionData>,
    /// Free-form user info.
    #[serde(default, deserialize_with = "null_default")]
    pub user_consumer_info: BTreeMap<String, String>,
}
mq_keyed_body!(ConsumerRunningInfo, ["mqTable", "mqPopTable"]);

impl ConsumerRunningInfo {
    /// Property key: `CONSUME_PASSIVELY` / `CONSUME_ACTIVELY`.
    pub const PROP_CONSUME_TYPE: &'static str = "PROP_CONSUME_TYPE";
    /// Property key: client version name, e.g. `V4_9_4`.
    pub const PROP_CLIENT_VERSION: &'static str = "PROP_CLIENT_VERSION";
    /// Property key: NameServer address list.
    pub const PROP_NAMESERVER_ADDR: &'static str = "PROP_NAMESERVER_ADDR";
    /// Property key: `true` for orderly consumers.
    pub const PROP_CONSUMEORDERLY: &'static str = "PROP_CONSUMEORDERLY";
    /// Property key: consumer thread pool size.
    pub const PROP_THREADPOOL_CORE_SIZE: &'static str = "PROP_THREADPOOL_CORE_SIZE";
    /// Property key: consumer start time (ms).
    pub const PROP_CONSUMER_START_TIMESTAMP: &'static str = "PROP_CONSUMER_START_TIMESTAMP";
}

/// Broker/consumer offsets of one queue in [`ConsumeStats`] (Java `OffsetWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// Broker max offset.
    pub broker_offset: i64,
    /// Committed consumer offset.
    pub consumer_offset: i64,
    /// 5.x pull offset.
    pub pull_offset: i64,
    /// Store time of the last consumed message.
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS (208) response body (Java `ConsumeStats`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeStats {
    /// Group consume TPS.
    #[serde(default)]
    pub consume_tps: f64,
    /// Queue → offsets.
    #[serde(default, with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}
mq_keyed_body!(ConsumeStats, ["offsetTable"]);

/// Offsets of one queue in [`TopicStatsTable`] (Java `TopicOffset`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Min offset.
    pub min_offset: i64,
    /// Max offset.
    pub max_offset: i64,
    /// Store time of the last message.
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO (202) response body (Java `TopicStatsTable`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatsTable {
    /// Queue → offsets.
    #[serde(default, with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// Topic put TPS.
    #[serde(default)]
    pub topic_put_tps: f64,
}
mq_keyed_body!(TopicStatsTable, ["offsetTable"]);

/// One queue's time span in [`QueryConsumeTimeSpanBody`] (Java `QueueTimeSpan`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    /// The queue.
    pub message_queue: MessageQueue,
    /// Oldest store time.
    pub min_time_stamp: i64,
    /// Newest store time.
    pub max_time_stamp: i64,
    /// Store time at the consumer offset.
    pub consume_time_stamp: i64,
    /// Lag in ms.
    pub delay_time: i64,
}

/// QUERY_CONSUME_TIME_SPAN (303) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryConsumeTimeSpanBody {
    /// Per-queue spans.
    #[serde(default, deserialize_with = "null_default")]
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

/// One client connection in [`ConsumerConnection`] (Java `Connection`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// Client id.
    pub client_id: String,
    /// Remote address.
    pub client_addr: String,
    /// Language name, e.g. `JAVA`.
    pub language: String,
    /// `MQVersion` ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST (203) response body (Java `ConsumerConnection`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// Connected clients.
    #[serde(default, deserialize_with = "null_default")]
    pub connection_set: BTreeSet<Connection>,
    /// Topic → subscription.
    #[serde(default, deserialize_with = "null_default")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// Consume type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_type: Option<ConsumeType>,
    /// Message model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_model: Option<MessageModel>,
    /// Consume-from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_from_where: Option<ConsumeFromWhere>,
}

name_enum! {
    /// Outcome of CONSUME_MESSAGE_DIRECTLY (Java `CMResult`; written by name — the Go client's
    /// integers are read as ordinals).
    pub enum CMResult {
        /// Consumed.
        Success = "CR_SUCCESS",
        /// Retry later.
        Later = "CR_LATER",
        /// Orderly: rollback.
        Rollback = "CR_ROLLBACK",
        /// Orderly: commit.
        Commit = "CR_COMMIT",
        /// The listener threw.
        ThrowException = "CR_THROW_EXCEPTION",
        /// The listener returned null.
        ReturnNull = "CR_RETURN_NULL",
    }
}

/// CONSUME_MESSAGE_DIRECTLY (309) response body (Java `ConsumeMessageDirectlyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeMessageDirectlyResult {
    /// Orderly listener.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub order: bool,
    /// Orderly auto-commit.
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub auto_commit: bool,
    /// The outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_result: Option<CMResult>,
    /// Error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Time spent (ms).
    #[serde(default)]
    pub spent_time_mills: i64,
}

fn yes() -> bool {
    true
}

serde_json_body!(
    ResetOffsetBodyForC,
    QueryConsumeTimeSpanBody,
    ConsumerConnection,
    ConsumeMessageDirectlyResult
);
