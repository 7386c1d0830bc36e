//! Small public enums shared by the consumers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketmq_rs_remoting::protocol::body::{
    ConsumeFromWhere as WireFromWhere, MessageModel as WireModel,
};
use serde::{Deserialize, Serialize};

/// How a group's consumers share messages (Java `MessageModel`).
///
/// ```
/// use rocketmq_rs_client::consumer::MessageModel;
/// assert_eq!(MessageModel::default(), MessageModel::Clustering);
/// // In config files: Java's names.
/// let m: MessageModel = serde_json::from_str("\"BROADCASTING\"").unwrap();
/// assert_eq!(m, MessageModel::Broadcasting);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageModel {
    /// The queues of each topic are divided among the group's live consumers; offsets live on
    /// the broker; failed messages are retried through `%RETRY%<group>`.
    #[default]
    Clustering,
    /// Every consumer gets every message; offsets live in a local file; failed messages are not
    /// retried (as in Java, they are logged and skipped).
    Broadcasting,
}

impl MessageModel {
    pub(crate) fn wire(self) -> WireModel {
        match self {
            MessageModel::Clustering => WireModel::Clustering,
            MessageModel::Broadcasting => WireModel::Broadcasting,
        }
    }
}

/// Where a group starts on a queue for which it has **no committed offset** (Java
/// `ConsumeFromWhere`). A committed offset always wins, and the group's retry topic always
/// starts at offset 0.
///
/// The exact rule, per newly assigned queue (docs/protocol/offsets.md §4), after the broker answered
/// "no offset" to QUERY_CONSUMER_OFFSET:
///
/// | variant | normal topic | `%RETRY%` topic |
/// |---|---|---|
/// | `LastOffset` | the queue's max offset (GET_MAX_OFFSET) | 0 |
/// | `FirstOffset` | 0 (the broker moves it up to the queue's min offset) | 0 |
/// | `Timestamp(t)` | SEARCH_OFFSET_BY_TIMESTAMP(t) | 0 |
///
/// Note that an Apache broker answers QUERY_CONSUMER_OFFSET with **0** (not "no offset") for a
/// brand-new group on a young queue whose first message is still in memory, so `LastOffset`
/// then starts at the beginning, exactly as with the Java client (docs/protocol/offsets.md §1).
///
/// Java sends GET_MAX_OFFSET for the retry topic under `CONSUME_FROM_TIMESTAMP`; this client
/// starts retry topics at 0 in every mode, so a retried message is never skipped.
///
/// ```
/// use rocketmq_rs_client::consumer::ConsumeFromWhere;
/// use std::time::Duration;
/// let w = ConsumeFromWhere::timestamp_ago(Duration::from_secs(1800));
/// assert!(matches!(w, ConsumeFromWhere::Timestamp(ms) if ms > 0));
///
/// // In config files: "LAST_OFFSET", "FIRST_OFFSET" or {"TIMESTAMP": <ms since the epoch>}.
/// let w: ConsumeFromWhere = serde_json::from_str(r#"{"TIMESTAMP": 1700000000000}"#).unwrap();
/// assert_eq!(w, ConsumeFromWhere::Timestamp(1_700_000_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumeFromWhere {
    /// Start at the end of the queue (only new messages).
    #[default]
    LastOffset,
    /// Start at the beginning of the queue.
    FirstOffset,
    /// Start at the first message stored at or after this time (ms since the Unix epoch).
    Timestamp(i64),
}

impl ConsumeFromWhere {
    /// `Timestamp` of `ago` before now (Java's default `consumeTimestamp` is 30 minutes ago).
    pub fn timestamp_ago(ago: Duration) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(ago);
        ConsumeFromWhere::Timestamp(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
    }

    pub(crate) fn wire(self) -> WireFromWhere {
        match self {
            ConsumeFromWhere::LastOffset => WireFromWhere::ConsumeFromLastOffset,
            ConsumeFromWhere::FirstOffset => WireFromWhere::ConsumeFromFirstOffset,
            ConsumeFromWhere::Timestamp(_) => WireFromWhere::ConsumeFromTimestamp,
        }
    }
}

/// What a concurrent listener reports for a batch (Java `ConsumeConcurrentlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "ConsumeConcurrentlyStatus")]
pub enum ConsumeResult {
    /// The batch is consumed; its offsets may be committed.
    Success,
    /// Retry the whole batch later: in clustering mode each message goes back to the broker
    /// (CONSUMER_SEND_MSG_BACK) and returns after a delay that grows with its reconsume count,
    /// and after the maximum number of attempts lands in `%DLQ%<group>`.
    ReconsumeLater,
}

/// What an orderly listener reports for a batch (Java `ConsumeOrderlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "ConsumeOrderlyStatus")]
pub enum OrderlyResult {
    /// The batch is consumed; the queue moves on.
    Success,
    /// Stop this queue for a moment and consume the same batch again (nothing later in the
    /// queue is consumed meanwhile), up to the maximum reconsume times.
    SuspendCurrentQueueAMoment,
}
