//! Message trace in Apache RocketMQ's format: producers and consumers record what happened to
//! each message (sent where, when, how long; consumed by which group, with which outcome) and
//! send these records, batched and asynchronously, to a trace topic (`RMQ_SYS_TRACE_TOPIC` by
//! default), where Apache's tools read them: `mqadmin queryMsgTraceById -i <msgId>` and the
//! dashboard. Records written by Java clients decode with [`decode_trace_data`].
//!
//! Turn it on per client with `enable_trace` on the builders ([`ProducerBuilder`],
//! [`PushConsumerBuilder`], [`PullConsumerBuilder`], [`LitePullConsumerBuilder`]), Java's
//! `enableMsgTrace` / `customizedTraceTopic`. The broker must have the trace topic: an Apache
//! broker with `traceTopicEnable=true` (or the topic created by hand), the mini-broker with
//! `trace_topic_enable`.
//!
//! ```no_run
//! # async fn demo() -> rocketmq_rs_client::Result<()> {
//! use rocketmq_rs_client::trace::TraceConfig;
//! use rocketmq_rs_client::{Message, Producer};
//!
//! let producer = Producer::builder()
//!     .name_server("127.0.0.1:9876")
//!     .group("traced_pg")
//!     .enable_trace(TraceConfig::default()) // to RMQ_SYS_TRACE_TOPIC
//!     .build()?;
//! producer.start().await?;
//! let r = producer.send(Message::new("TopicTest", "hello")).await?;
//! // `mqadmin queryMsgTraceById -n 127.0.0.1:9876 -i <r.msg_id>` now shows the Pub record.
//! println!("{}", r.msg_id);
//! producer.shutdown().await; // flushes the pending trace records
//! # Ok(()) }
//! ```
//!
//! # What is recorded (Java's trace hooks)
//!
//! - **Pub**: one per stored send attempt (failed and oneway attempts have no broker result and
//!   are not recorded, as in Java), with the broker's region, the producer group, topic, message
//!   id and offset id, tags, keys, broker address, body length, cost in ms, message type and
//!   whether the status was `SEND_OK`. Skipped when the broker answers `TRACE_ON=false`.
//! - **SubBefore** / **SubAfter**: one pair per message of each batch handed to the application
//!   (push listener call, pull, lite-pull poll), sharing a request id; SubAfter carries the
//!   cost (the call's time divided by the batch size), success and Java's `ConsumeReturnType`
//!   ordinal. Messages stored with `TRACE_ON=false` are skipped.
//! - **EndTransaction**: one per END_TRANSACTION of a transaction producer.
//!
//! # Delivery
//!
//! Hooks only enqueue into a bounded queue ([`TraceConfig::queue_capacity`], 2048 as Java); a
//! full queue drops the record and counts it ([`TraceStats::dropped`]): tracing never blocks or
//! fails a send or a consumption. A task on the client's runtime drains the queue every
//! [`TraceConfig::flush_interval`] (or as soon as a batch is full), groups the records by the
//! traced topic, concatenates them into trace messages of at most
//! [`TraceConfig::max_message_size`] bytes whose keys are the traced message ids and keys (so
//! that a query by message id finds them), and sends them with its own producer (group
//! `_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>-<n>`, its own client instance, no namespace,
//! as Java). Shutting the traced client down flushes what is queued.
//!
//! [`ProducerBuilder`]: crate::ProducerBuilder
//! [`PushConsumerBuilder`]: crate::consumer::PushConsumerBuilder
//! [`PullConsumerBuilder`]: crate::consumer::PullConsumerBuilder
//! [`LitePullConsumerBuilder`]: crate::consumer::LitePullConsumerBuilder

mod dispatcher;
mod hooks;

use std::fmt::Write as _;
use std::time::Duration;

use crate::hook::MessageType;
use crate::producer::LocalTransactionState;

pub use dispatcher::TraceStats;
pub(crate) use dispatcher::{DispatcherKind, TraceDispatcher};
pub(crate) use hooks::{ConsumeTraceHook, SendTraceHook};

/// For a consumer being built with trace `cfg`: its dispatcher, with the trace hook added to
/// `hooks`.
pub(crate) fn consumer_trace(
    cfg: Option<TraceConfig>,
    client: &crate::config::ClientConfig,
    rt: std::sync::Arc<dyn rocketmq_rs_remoting::rt::Runtime>,
    group: &str,
    hooks: &mut Vec<std::sync::Arc<dyn crate::hook::ConsumeHook>>,
) -> crate::Result<Option<std::sync::Arc<TraceDispatcher>>> {
    let Some(cfg) = cfg else {
        return Ok(None);
    };
    let d = TraceDispatcher::new(cfg, client, rt, group, DispatcherKind::Consume)?;
    hooks.push(std::sync::Arc::new(ConsumeTraceHook::new(
        std::sync::Arc::clone(&d),
    )));
    Ok(Some(d))
}

/// The default trace topic (Java `TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const RMQ_SYS_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Separates the fields of a record (Java `TraceConstants.CONTENT_SPLITOR`).
pub const CONTENT_SPLITOR: char = '\u{1}';

/// Ends each record (Java `TraceConstants.FIELD_SPLITOR`).
pub const FIELD_SPLITOR: char = '\u{2}';

/// The region recorded when the message carries none (Java `MixAll.DEFAULT_TRACE_REGION_ID`).
pub const DEFAULT_TRACE_REGION_ID: &str = "DefaultRegion";

/// Prefix of the trace producers' groups (Java `TraceConstants.GROUP_NAME_PREFIX`).
pub const GROUP_NAME_PREFIX: &str = "_INNER_TRACE_PRODUCER";

/// Message tracing settings (Java `enableMsgTrace` + `customizedTraceTopic`, and the fixed
/// sizes of Java's `AsyncTraceDispatcher`).
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_client::trace::TraceConfig;
///
/// let mut cfg = TraceConfig::with_topic("MyTraceTopic");
/// cfg.flush_interval = Duration::from_millis(50);
/// assert_eq!(cfg.queue_capacity, 2048);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceConfig {
    /// The topic trace messages go to ([`RMQ_SYS_TRACE_TOPIC`]).
    pub trace_topic: String,
    /// Records waiting to be sent, at most (2048, as Java); more are dropped and counted.
    pub queue_capacity: usize,
    /// Records sent together at most (100, Java 4.9.x's batch).
    pub batch_size: usize,
    /// Longest wait before queued records are sent (100 ms, Java 4.9.x's polling time).
    pub flush_interval: Duration,
    /// Largest trace message body in bytes (128 000, as Java).
    pub max_message_size: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            trace_topic: RMQ_SYS_TRACE_TOPIC.to_owned(),
            queue_capacity: 2048,
            batch_size: 100,
            flush_interval: Duration::from_millis(100),
            max_message_size: 128_000,
        }
    }
}

impl TraceConfig {
    /// The defaults with another trace topic (Java `customizedTraceTopic`).
    pub fn with_topic(topic: impl Into<String>) -> Self {
        TraceConfig {
            trace_topic: topic.into(),
            ..TraceConfig::default()
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] naming the bad setting.
    pub fn validate(&self) -> crate::Result<()> {
        crate::message::validate_topic(&self.trace_topic)
            .map_err(|e| crate::Error::Config(format!("trace_topic: {e}")))?;
        if self.queue_capacity == 0 || self.batch_size == 0 || self.max_message_size == 0 {
            return Err(crate::Error::Config(
                "trace queue_capacity, batch_size and max_message_size must be positive".into(),
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(crate::Error::Config(
                "trace flush_interval must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}

/// The kind of a trace record (Java `TraceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceType {
    /// A send.
    Pub,
    /// A recall (Java 5.x `Recall`; decoded only, this client records none).
    Recall,
    /// A message handed to the application.
    SubBefore,
    /// The application's consumption ended.
    SubAfter,
    /// An END_TRANSACTION.
    EndTransaction,
}

impl TraceType {
    /// The name on the wire (Java's enum name).
    pub fn as_str(self) -> &'static str {
        match self {
            TraceType::Pub => "Pub",
            TraceType::Recall => "Recall",
            TraceType::SubBefore => "SubBefore",
            TraceType::SubAfter => "SubAfter",
            TraceType::EndTransaction => "EndTransaction",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Pub" => TraceType::Pub,
            "Recall" => TraceType::Recall,
            "SubBefore" => TraceType::SubBefore,
            "SubAfter" => TraceType::SubAfter,
            "EndTransaction" => TraceType::EndTransaction,
            _ => return None,
        })
    }
}

/// What a trace record says about one message (Java `TraceBean`). Text fields Java may write
/// as `null` (absent tags or keys) are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TraceBean {
    /// Topic (without namespace).
    pub topic: String,
    /// The message id (`UNIQ_KEY`; comma-separated ids for a batch).
    pub msg_id: String,
    /// The offset message id (Pub only).
    pub offset_msg_id: String,
    /// Tag.
    pub tags: Option<String>,
    /// Keys, space-separated.
    pub keys: Option<String>,
    /// The broker's address (Pub, EndTransaction).
    pub store_host: String,
    /// Body length (Pub).
    pub body_length: i32,
    /// Redeliveries so far (SubBefore).
    pub retry_times: i32,
    /// Message type (Pub, EndTransaction).
    pub msg_type: Option<MessageType>,
    /// Transaction id (EndTransaction).
    pub transaction_id: Option<String>,
    /// Decision reported (EndTransaction).
    pub transaction_state: Option<LocalTransactionState>,
    /// Whether it answered a broker check (EndTransaction).
    pub from_transaction_check: bool,
    /// The client host (Pub records of old Java versions only).
    pub client_host: Option<String>,
}

/// One trace record (Java `TraceContext` with its bean; Java encodes a multi-message context
/// as one record per message, and so does this module).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceContext {
    /// The kind of record.
    pub trace_type: TraceType,
    /// When it happened, epoch milliseconds (SubAfter: when consumption ended).
    pub timestamp: i64,
    /// The broker region (`MSG_REGION`); SubAfter records do not carry it.
    pub region_id: String,
    /// Producer or consumer group (without namespace).
    pub group_name: String,
    /// Cost in milliseconds (Pub, SubAfter).
    pub cost_time: i32,
    /// Send status `SEND_OK` (Pub) / consumed (SubAfter).
    pub success: bool,
    /// Pairs SubBefore with SubAfter.
    pub request_id: String,
    /// Java `ConsumeReturnType` ordinal (SubAfter).
    pub context_code: i32,
    /// The message.
    pub bean: TraceBean,
}

impl TraceContext {
    /// An empty record of `trace_type`.
    pub fn new(trace_type: TraceType) -> Self {
        TraceContext {
            trace_type,
            timestamp: 0,
            region_id: String::new(),
            group_name: String::new(),
            cost_time: 0,
            success: true,
            request_id: String::new(),
            context_code: 0,
            bean: TraceBean::default(),
        }
    }
}

/// A trace body that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("trace record {record} ({kind}): {detail}")]
pub struct TraceDecodeError {
    /// 0-based index of the bad record in the body.
    pub record: usize,
    /// Its type field.
    pub kind: String,
    /// What is wrong.
    pub detail: String,
}

/// Java writes `null` for absent text; this is its spelling of `None`.
fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("null")
}

fn from_opt(s: &str) -> Option<String> {
    (s != "null").then(|| s.to_owned())
}

fn state_name(s: LocalTransactionState) -> &'static str {
    match s {
        LocalTransactionState::Commit => "COMMIT_MESSAGE",
        LocalTransactionState::Rollback => "ROLLBACK_MESSAGE",
        LocalTransactionState::Unknown => "UNKNOW",
    }
}

fn parse_state(s: &str) -> Option<LocalTransactionState> {
    Some(match s {
        "COMMIT_MESSAGE" => LocalTransactionState::Commit,
        "ROLLBACK_MESSAGE" => LocalTransactionState::Rollback,
        "UNKNOW" => LocalTransactionState::Unknown,
        _ => return None,
    })
}

/// Appends `ctx` as one record in Java's `TraceDataEncoder` layout (4.9.x and 5.x write the
/// same for non-cloud clients): fields separated by [`CONTENT_SPLITOR`], the record ended by
/// [`FIELD_SPLITOR`] (docs/protocol/trace.md §2).
///
/// ```
/// use rocketmq_rs_client::trace::{decode_trace_data, encode_trace_context, TraceContext, TraceType};
///
/// let mut ctx = TraceContext::new(TraceType::SubBefore);
/// ctx.timestamp = 1_700_000_000_000;
/// ctx.region_id = "DefaultRegion".into();
/// ctx.group_name = "cg".into();
/// ctx.request_id = "REQ".into();
/// ctx.bean.msg_id = "ID".into();
/// let mut out = String::new();
/// encode_trace_context(&ctx, &mut out);
/// assert_eq!(out, "SubBefore\u{1}1700000000000\u{1}DefaultRegion\u{1}cg\u{1}REQ\u{1}ID\u{1}0\u{1}null\u{2}");
/// assert_eq!(decode_trace_data(&out).unwrap(), vec![ctx]);
/// ```
pub fn encode_trace_context(ctx: &TraceContext, out: &mut String) {
    out.push_str(ctx.trace_type.as_str());
    for field in layout(ctx.trace_type) {
        out.push(CONTENT_SPLITOR);
        field.write(ctx, out);
    }
    out.push(FIELD_SPLITOR);
}

/// One field of a trace record. Each record type is a fixed sequence of these after its type
/// name (Java `TraceDataEncoder`), so one table per type drives both encoding and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Timestamp,
    Region,
    Group,
    Topic,
    MsgId,
    Tags,
    Keys,
    StoreHost,
    BodyLength,
    CostTime,
    MsgType,
    OffsetMsgId,
    Success,
    RequestId,
    RetryTimes,
    ContextCode,
    TransactionId,
    TransactionState,
    FromCheck,
    ClientHost,
}

use Field::*;

const PUB: &[Field] = &[
    Timestamp,
    Region,
    Group,
    Topic,
    MsgId,
    Tags,
    Keys,
    StoreHost,
    BodyLength,
    CostTime,
    MsgType,
    OffsetMsgId,
    Success,
];
/// Pub records of Java clients before the offset message id was added.
const PUB_WITHOUT_OFFSET_ID: &[Field] = &[
    Timestamp, Region, Group, Topic, MsgId, Tags, Keys, StoreHost, BodyLength, CostTime, MsgType,
    Success,
];
const SUB_BEFORE: &[Field] = &[Timestamp, Region, Group, RequestId, MsgId, RetryTimes, Keys];
/// Older clients stop after `Keys` (or `ContextCode`).
const SUB_AFTER: &[Field] = &[
    RequestId,
    MsgId,
    CostTime,
    Success,
    Keys,
    ContextCode,
    Timestamp,
    Group,
];
const END_TRANSACTION: &[Field] = &[
    Timestamp,
    Region,
    Group,
    Topic,
    MsgId,
    Tags,
    Keys,
    StoreHost,
    MsgType,
    TransactionId,
    TransactionState,
    FromCheck,
];
const RECALL: &[Field] = &[Timestamp, Region, Group, Topic, MsgId, Success];

/// The layout this client writes for `kind` (the current Java one).
fn layout(kind: TraceType) -> &'static [Field] {
    match kind {
        TraceType::Pub => PUB,
        TraceType::SubBefore => SUB_BEFORE,
        TraceType::SubAfter => SUB_AFTER,
        TraceType::EndTransaction => END_TRANSACTION,
        TraceType::Recall => RECALL,
    }
}

/// The layout of a received record of `kind` with `fields` fields (type name included), and
/// how many fields it must have at least. Old Java clients wrote the client host after a Pub
/// record's fields; [`decode_trace_data`] reads it separately.
fn decode_layout(kind: TraceType, fields: usize) -> (&'static [Field], usize) {
    match kind {
        TraceType::Pub if fields == 13 => (PUB_WITHOUT_OFFSET_ID, 13),
        TraceType::Pub => (PUB, 13),
        TraceType::SubAfter => (SUB_AFTER, 6),
        other => {
            let l = layout(other);
            (l, l.len() + 1)
        }
    }
}

impl Field {
    fn write(self, ctx: &TraceContext, out: &mut String) {
        // Field by field rather than one `write!` per record: the formatting machinery costs
        // several times more, and this runs for every traced message.
        let b = &ctx.bean;
        let text = match self {
            Timestamp => return push_num(out, ctx.timestamp),
            BodyLength => return push_num(out, b.body_length),
            CostTime => return push_num(out, ctx.cost_time),
            RetryTimes => return push_num(out, b.retry_times),
            ContextCode => return push_num(out, ctx.context_code),
            MsgType => {
                let default = if ctx.trace_type == TraceType::EndTransaction {
                    MessageType::TransactionCommit
                } else {
                    MessageType::Normal
                };
                return push_num(out, b.msg_type.unwrap_or(default).ordinal());
            }
            Region => &ctx.region_id,
            Group => &ctx.group_name,
            Topic => &b.topic,
            MsgId => &b.msg_id,
            Tags => opt(&b.tags),
            Keys => opt(&b.keys),
            StoreHost => &b.store_host,
            OffsetMsgId => &b.offset_msg_id,
            RequestId => &ctx.request_id,
            TransactionId => opt(&b.transaction_id),
            TransactionState => state_name(
                b.transaction_state
                    .unwrap_or(LocalTransactionState::Unknown),
            ),
            ClientHost => opt(&b.client_host),
            Success => bool_name(ctx.success),
            FromCheck => bool_name(b.from_transaction_check),
        };
        out.push_str(text);
    }

    /// Sets this field of `c` from its text; the error says what is wrong with it.
    fn read(self, c: &mut TraceContext, s: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
            s.parse::<T>().map_err(|_| format!("{s:?} is not a number"))
        }
        // Java's Boolean.parseBoolean: "true" in any case, everything else false.
        let boolean = |s: &str| s.eq_ignore_ascii_case("true");
        let b = &mut c.bean;
        match self {
            Timestamp => c.timestamp = num(s)?,
            BodyLength => b.body_length = num(s)?,
            CostTime => c.cost_time = num(s)?,
            RetryTimes => b.retry_times = num(s)?,
            ContextCode => c.context_code = num(s)?,
            MsgType => {
                let n: i32 = num(s)?;
                b.msg_type = Some(
                    u8::try_from(n)
                        .ok()
                        .and_then(MessageType::from_ordinal)
                        .ok_or_else(|| format!("message type {n} is unknown"))?,
                );
            }
            Region => c.region_id = s.to_owned(),
            Group => c.group_name = s.to_owned(),
            Topic => b.topic = s.to_owned(),
            MsgId => b.msg_id = s.to_owned(),
            Tags => b.tags = from_opt(s),
            Keys => b.keys = from_opt(s),
            StoreHost => b.store_host = s.to_owned(),
            OffsetMsgId => b.offset_msg_id = s.to_owned(),
            RequestId => c.request_id = s.to_owned(),
            TransactionId => b.transaction_id = from_opt(s),
            TransactionState => {
                b.transaction_state =
                    Some(parse_state(s).ok_or_else(|| format!("transaction state {s:?}"))?);
            }
            ClientHost => b.client_host = Some(s.to_owned()),
            Success => c.success = boolean(s),
            FromCheck => b.from_transaction_check = boolean(s),
        }
        Ok(())
    }
}

fn push_num(out: &mut String, n: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{n}");
}

fn bool_name(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// The keys a trace message carrying `ctx` is indexed under: the message id and, when set, its
/// keys (Java `TraceTransferBean.transKey`).
pub fn trace_keys(ctx: &TraceContext) -> impl Iterator<Item = &str> {
    std::iter::once(ctx.bean.msg_id.as_str())
        .chain(ctx.bean.keys.as_deref().filter(|k| !k.is_empty()))
}

/// Decodes a trace message body (Java `TraceDataEncoder.decoderFromTraceDataString`): every
/// record of Java 4.9.x and 5.x clients and of this client, one [`TraceContext`] per record.
/// Records of unknown types are skipped, as Java does.
///
/// # Errors
///
/// [`TraceDecodeError`] when a known record lacks a field or a number does not parse.
pub fn decode_trace_data(data: &str) -> Result<Vec<TraceContext>, TraceDecodeError> {
    let mut out = Vec::new();
    for (i, record) in data.split(FIELD_SPLITOR).enumerate() {
        if record.is_empty() {
            continue;
        }
        let f: Vec<&str> = record.split(CONTENT_SPLITOR).collect();
        let Some(kind) = TraceType::parse(f[0]) else {
            continue;
        };
        let (fields, need) = decode_layout(kind, f.len());
        let err = |detail: String| TraceDecodeError {
            record: i,
            kind: f[0].to_owned(),
            detail,
        };
        if f.len() < need {
            return Err(err(format!("{} fields, at least {need} expected", f.len())));
        }
        let mut c = TraceContext::new(kind);
        for (idx, (field, text)) in fields.iter().zip(&f[1..]).enumerate() {
            field
                .read(&mut c, text)
                .map_err(|e| err(format!("field {}: {e}", idx + 1)))?;
        }
        if kind == TraceType::Pub && f.len() > PUB.len() + 1 {
            Field::ClientHost
                .read(&mut c, f[PUB.len() + 1])
                .map_err(err)?;
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as a Java 5.x client writes them (field layout of `TraceDataEncoder`, values
    /// made up), one of each type.
    const JAVA_BODY: &str = concat!(
        "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}pg\u{1}TopicTest\u{1}7F000001000A18B4AAC2\u{1}TagA\u{1}k1 k2\u{1}127.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}7F00000100002A9F0000000000000000\u{1}true\u{2}",
        "SubBefore\u{1}1700000000100\u{1}DefaultRegion\u{1}cg\u{1}REQ1\u{1}7F000001000A18B4AAC2\u{1}0\u{1}k1 k2\u{2}",
        "SubAfter\u{1}REQ1\u{1}7F000001000A18B4AAC2\u{1}7\u{1}true\u{1}k1 k2\u{1}0\u{1}1700000000107\u{1}cg\u{2}",
        "EndTransaction\u{1}1700000000200\u{1}DefaultRegion\u{1}tpg\u{1}TxTopic\u{1}ID2\u{1}null\u{1}null\u{1}127.0.0.1:10911\u{1}2\u{1}ID2\u{1}COMMIT_MESSAGE\u{1}false\u{2}",
    );

    #[test]
    fn java_records_decode_and_encode_back_byte_for_byte() {
        let v = decode_trace_data(JAVA_BODY).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].trace_type, TraceType::Pub);
        assert_eq!(v[0].bean.keys.as_deref(), Some("k1 k2"));
        assert_eq!(v[0].bean.body_length, 5);
        assert_eq!(v[0].cost_time, 3);
        assert_eq!(v[0].bean.offset_msg_id, "7F00000100002A9F0000000000000000");
        assert!(v[0].success);
        assert_eq!(v[1].request_id, v[2].request_id);
        assert_eq!(v[2].cost_time, 7);
        assert_eq!(v[2].group_name, "cg");
        assert_eq!(v[3].bean.tags, None);
        assert_eq!(
            v[3].bean.transaction_state,
            Some(LocalTransactionState::Commit)
        );
        assert_eq!(v[3].bean.msg_type, Some(MessageType::TransactionCommit));
        let mut again = String::new();
        for c in &v {
            encode_trace_context(c, &mut again);
        }
        assert_eq!(again, JAVA_BODY);
    }

    #[test]
    fn older_layouts_decode() {
        // 13-field Pub (no offset id) and a 7-field SubAfter (no timestamp / group).
        let body = "Pub\u{1}1\u{1}R\u{1}g\u{1}T\u{1}ID\u{1}null\u{1}null\u{1}h:1\u{1}0\u{1}0\u{1}3\u{1}false\u{2}SubAfter\u{1}RQ\u{1}ID\u{1}1\u{1}false\u{1}null\u{1}4\u{2}";
        let v = decode_trace_data(body).unwrap();
        assert!(!v[0].success);
        assert_eq!(v[0].bean.msg_type, Some(MessageType::Delay));
        assert_eq!(v[1].context_code, 4);
        assert_eq!(v[1].timestamp, 0);
        assert_eq!(v[0].bean.client_host, None);
        // 15-field Pub of old clients: the client host after the status.
        let body = "Pub\u{1}1\u{1}R\u{1}g\u{1}T\u{1}ID\u{1}null\u{1}null\u{1}h:1\u{1}0\u{1}0\u{1}0\u{1}OFF\u{1}true\u{1}10.0.0.1\u{2}";
        let v = decode_trace_data(body).unwrap();
        assert_eq!(v[0].bean.offset_msg_id, "OFF");
        assert!(v[0].success);
        assert_eq!(v[0].bean.client_host.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn bad_records_are_errors_and_unknown_types_are_skipped() {
        assert!(decode_trace_data("Pub\u{1}x\u{2}").is_err());
        let e = decode_trace_data("SubBefore\u{1}NaN\u{1}R\u{1}g\u{1}q\u{1}id\u{1}0\u{1}k\u{2}")
            .unwrap_err();
        assert_eq!(e.record, 0);
        assert!(decode_trace_data("Other\u{1}x\u{2}").unwrap().is_empty());
        assert!(decode_trace_data("").unwrap().is_empty());
    }

    #[test]
    fn trace_keys_are_the_id_and_the_keys() {
        let mut c = TraceContext::new(TraceType::Pub);
        c.bean.msg_id = "ID".into();
        assert_eq!(trace_keys(&c).collect::<Vec<_>>(), vec!["ID"]);
        c.bean.keys = Some("a b".into());
        assert_eq!(trace_keys(&c).collect::<Vec<_>>(), vec!["ID", "a b"]);
    }
}
