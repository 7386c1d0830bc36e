//! Standard message property keys (Java `MessageConst`), with the exact strings that travel on the
//! wire (docs/protocol/message.md §2).
//!
//! ```
//! use rocketmq_rs_remoting::protocol::message::property;
//! assert_eq!(property::UNIQ_KEY, "UNIQ_KEY");
//! assert!(property::is_reserved(property::TAGS));
//! assert!(!property::is_reserved("my_key"));
//! ```

/// Separates a property name from its value inside the properties string (char 1).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Terminates every name/value pair of the properties string (char 2).
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Separates the business keys inside the [`KEYS`] value.
pub const KEY_SEPARATOR: &str = " ";

/// Business keys, space-separated; indexed by the broker for QUERY_MESSAGE.
pub const KEYS: &str = "KEYS";
/// The message tag (one tag).
pub const TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for the store (flush/replication) before answering; absent means true.
pub const WAIT: &str = "WAIT";
/// Java name of [`WAIT`].
pub const WAIT_STORE_MSG_OK: &str = WAIT;
/// Delay level 1..=18.
pub const DELAY: &str = "DELAY";
/// Java name of [`DELAY`].
pub const DELAY_TIME_LEVEL: &str = DELAY;
/// Original topic of a message living in a `%RETRY%` topic.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic while the message sits in the schedule or transaction-half topic.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id while the message sits in the schedule or transaction-half topic.
pub const REAL_QUEUE_ID: &str = "REAL_QID";
/// `"true"` marks a transaction half (prepared) message.
pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group of a transaction message (used for transaction checks).
pub const PRODUCER_GROUP: &str = "PGROUP";
/// Queue minimum offset, added by consumer clients from the pull response header.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue maximum offset, added by consumer clients from the pull response header.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// Legacy, unused.
pub const BUYER_ID: &str = "BUYER_ID";
/// Message id of the original message of a retried or dead-lettered copy.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Legacy, unused.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy, unused.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy, unused.
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Reconsume count of a message a client re-sends to `%RETRY%` itself.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Region id of the storing broker.
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch (`"true"`/`"false"`).
pub const TRACE_SWITCH: &str = "TRACE_ON";
/// The client-generated unique message id (see [`super::UniqIdGenerator`]).
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// Java name of [`UNIQ_KEY`].
pub const UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = UNIQ_KEY;
/// 5.x batch consume queue / dedup bookkeeping.
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
/// Maximum reconsume times of a message a client re-sends to `%RETRY%` itself.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Local consume start stamp (consume-timeout tracking).
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
/// Java name of [`CONSUME_START_TIME`].
pub const CONSUME_START_TIMESTAMP: &str = CONSUME_START_TIME;
/// 5.x inner-batch message count.
pub const INNER_NUM: &str = "INNER_NUM";
/// 5.x inner-batch base offset.
pub const INNER_BASE: &str = "INNER_BASE";
/// 5.x dedup info.
pub const DUP_INFO: &str = "DUP_INFO";
/// First transaction check not before this many seconds.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Transaction bookkeeping: queue offset of the half message.
pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Transaction bookkeeping: the transaction id.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Transaction bookkeeping: how often the broker checked the transaction.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Namespace instance id.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request/reply: correlation id.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request/reply: client id the reply goes to.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request/reply: time to live.
pub const TTL: &str = "TTL";
/// Request/reply: reply arrival time.
pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request/reply: reply push time.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Cluster name of the storing broker.
pub const CLUSTER: &str = "CLUSTER";
/// Request/reply: message type (`"reply"` marks replies).
pub const MESSAGE_TYPE: &str = "MSG_TYPE";
/// 5.x POP checkpoint (stripped by the broker from sends).
pub const POP_CK: &str = "POP_CK";
/// 5.x POP checkpoint offset.
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// 5.x first POP time.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// Order/sharding key (5.x).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// 5.x forward queue id.
pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
/// 5.x redirect marker.
pub const REDIRECT: &str = "REDIRECT";
/// 5.x LMQ multi dispatch.
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
/// 5.x LMQ multi queue offset.
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// 5.x trace context.
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
/// Timer message: relative delay in seconds (5.x).
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Timer message: relative delay in milliseconds (5.x).
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// Timer message: absolute delivery time in epoch milliseconds (5.x).
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Timer bookkeeping (5.x broker).
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// Timer bookkeeping (5.x broker).
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// Timer bookkeeping (5.x broker).
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// Timer bookkeeping (5.x broker).
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Timer bookkeeping (5.x broker).
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Timer bookkeeping (5.x broker).
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
/// 5.x born host copy.
pub const BORN_HOST: &str = "__BORNHOST";
/// 5.x born timestamp copy.
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Properties CRC appended by brokers with `enabledAppendPropCRC` (10 decimal digits).
pub const CRC32: &str = "__CRC32#";
/// 5.x DLQ bookkeeping: original topic.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// 5.x DLQ bookkeeping: original message id.
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Properties whose name starts with this prefix are never stored by the broker.
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
/// Transient: the topic's sysFlag, set by clients after a pull.
pub const TRANSIENT_TOPIC_CONFIG: &str = "__RMQ.TRANSIENT.TOPIC_SYS_FLAG";
/// Transient: the group's sysFlag, set by clients after a pull.
pub const TRANSIENT_GROUP_CONFIG: &str = "__RMQ.TRANSIENT.GROUP_SYS_FLAG";

/// The names the Java client refuses as user properties (`MessageConst.STRING_HASH_SET`).
pub const RESERVED: &[&str] = &[
    TRACE_SWITCH,
    MSG_REGION,
    KEYS,
    TAGS,
    WAIT,
    DELAY,
    RETRY_TOPIC,
    REAL_TOPIC,
    REAL_QUEUE_ID,
    TRANSACTION_PREPARED,
    PRODUCER_GROUP,
    MIN_OFFSET,
    MAX_OFFSET,
    BUYER_ID,
    ORIGIN_MESSAGE_ID,
    TRANSFER_FLAG,
    CORRECTION_FLAG,
    MQ2_FLAG,
    RECONSUME_TIME,
    UNIQ_KEY,
    MAX_RECONSUME_TIMES,
    CONSUME_START_TIME,
    POP_CK,
    POP_CK_OFFSET,
    FIRST_POP_TIME,
    TRANSACTION_PREPARED_QUEUE_OFFSET,
    DUP_INFO,
    EXTEND_UNIQ_INFO,
    INSTANCE_ID,
    CORRELATION_ID,
    REPLY_TO_CLIENT,
    TTL,
    REPLY_MESSAGE_ARRIVE_TIME,
    PUSH_REPLY_TIME,
    CLUSTER,
    MESSAGE_TYPE,
    INNER_MULTI_QUEUE_OFFSET,
    TIMER_DELAY_SEC,
    TIMER_DELIVER_MS,
    TIMER_ENQUEUE_MS,
    TIMER_DEQUEUE_MS,
    TIMER_ROLL_TIMES,
    TIMER_OUT_MS,
    TIMER_DEL_UNIQKEY,
    TIMER_DELAY_LEVEL,
    BORN_HOST,
    BORN_TIMESTAMP,
];

/// Whether `name` is a system property that users may not set as a user property (Java
/// `Message.putUserProperty` throws for these).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}
