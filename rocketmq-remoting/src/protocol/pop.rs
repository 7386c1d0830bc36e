//! POP consumption material shared by clients and brokers (docs/protocol/pop.md): the POP retry
//! topic names, the receipt handle (`extraInfo` / property `POP_CK`), the offset-info strings of
//! a POP_MESSAGE response and the BATCH_ACK_MESSAGE body.
//!
//! ```
//! use rocketmq_rs_remoting::protocol::pop::{ReceiptHandle, RetryFlag};
//!
//! let r: ReceiptHandle = "100 1718000000000 60000 3 0 broker-a 1 102".parse().unwrap();
//! assert_eq!((r.ck_queue_offset, r.queue_id, r.queue_offset), (100, 1, 102));
//! assert_eq!(r.retry, RetryFlag::Normal);
//! assert_eq!(r.real_topic("TopicTest", "g"), "TopicTest");
//! assert_eq!(r.to_string(), "100 1718000000000 60000 3 0 broker-a 1 102");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::protocol::message::{property, MessageExt};
use crate::protocol::topic::RETRY_GROUP_TOPIC_PREFIX;

/// Revive queue id of orderly pops (Java `KeyBuilder.POP_ORDER_REVIVE_QUEUE`): orderly pops
/// write no checkpoint, and a receipt carrying it is acked the orderly way.
pub const ORDER_REVIVE_QID: i32 = 999;

/// Most messages one POP_MESSAGE may ask for.
pub const MAX_POP_NUMS: i32 = 32;

/// `initMode` 0: a group without an offset starts at the queue's min offset.
pub const INIT_MODE_MIN: i32 = 0;
/// `initMode` 1: a group without an offset starts at the last message.
pub const INIT_MODE_MAX: i32 = 1;

/// Which topic a popped message was actually read from (receipt token #4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryFlag {
    /// `0`: the topic itself.
    Normal,
    /// `1`: the v1 POP retry topic `%RETRY%<group>_<topic>` (the default).
    V1,
    /// `2`: the v2 POP retry topic `%RETRY%<group>+<topic>` (broker `enableRetryTopicV2`).
    V2,
}

impl RetryFlag {
    /// The wire token.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryFlag::Normal => "0",
            RetryFlag::V1 => "1",
            RetryFlag::V2 => "2",
        }
    }

    /// Parses the wire token.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "0" => Some(RetryFlag::Normal),
            "1" => Some(RetryFlag::V1),
            "2" => Some(RetryFlag::V2),
            _ => None,
        }
    }

    /// The flag of the topic a message was stored in: a name with `%RETRY%` and a `+` is v2,
    /// any other `%RETRY%` name v1 (Java `ExtraInfoUtil.getRetry`).
    pub fn of_topic(topic: &str) -> Self {
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            if topic.contains('+') {
                RetryFlag::V2
            } else {
                RetryFlag::V1
            }
        } else {
            RetryFlag::Normal
        }
    }

    /// The topic this flag designates for `topic` consumed by `group`.
    pub fn real_topic(self, topic: &str, group: &str) -> String {
        match self {
            RetryFlag::Normal => topic.to_owned(),
            RetryFlag::V1 => pop_retry_topic_v1(topic, group),
            RetryFlag::V2 => pop_retry_topic_v2(topic, group),
        }
    }
}

/// The v1 POP retry topic: `%RETRY%<group>_<topic>` (Apache's default).
///
/// ```
/// use rocketmq_rs_remoting::protocol::pop::*;
/// assert_eq!(pop_retry_topic_v1("T", "g"), "%RETRY%g_T");
/// assert_eq!(pop_retry_topic_v2("T", "g"), "%RETRY%g+T");
/// ```
pub fn pop_retry_topic_v1(topic: &str, group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}_{topic}")
}

/// The v2 POP retry topic: `%RETRY%<group>+<topic>` (broker `enableRetryTopicV2=true`, 5.2+).
pub fn pop_retry_topic_v2(topic: &str, group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}+{topic}")
}

/// The POP retry topic the broker writes to, by its `enableRetryTopicV2` setting.
pub fn pop_retry_topic(topic: &str, group: &str, v2: bool) -> String {
    if v2 {
        pop_retry_topic_v2(topic, group)
    } else {
        pop_retry_topic_v1(topic, group)
    }
}

/// The normal topic of a POP retry topic of `group` (either version), or `topic` itself.
///
/// ```
/// use rocketmq_rs_remoting::protocol::pop::normal_topic_of;
/// assert_eq!(normal_topic_of("%RETRY%g_a_b", "g"), "a_b");
/// assert_eq!(normal_topic_of("%RETRY%g+T", "g"), "T");
/// assert_eq!(normal_topic_of("T", "g"), "T");
/// ```
pub fn normal_topic_of<'a>(topic: &'a str, group: &str) -> &'a str {
    let Some(rest) = topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) else {
        return topic;
    };
    match rest.strip_prefix(group) {
        Some(t) => t
            .strip_prefix('+')
            .or_else(|| t.strip_prefix('_'))
            .unwrap_or(topic),
        None => topic,
    }
}

/// A malformed receipt handle or offset-info string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed POP {what}: {text:?} (docs/protocol/pop.md §3)")]
pub struct PopFormatError {
    /// Which string.
    pub what: &'static str,
    /// The offending text.
    pub text: String,
}

fn bad(what: &'static str, text: &str) -> PopFormatError {
    PopFormatError {
        what,
        text: text.to_owned(),
    }
}

/// The receipt handle of a popped message: Java's `extraInfo`, carried in property `POP_CK`.
/// ACK and CHANGE_MESSAGE_INVISIBLETIME send it back verbatim; the broker matches it to its
/// checkpoint by topic, group, queue, `ck_queue_offset`, `pop_time` and broker name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiptHandle {
    /// #0: first offset the pop read in that queue (the checkpoint's start).
    pub ck_queue_offset: i64,
    /// #1: broker time of the pop.
    pub pop_time: i64,
    /// #2: invisible time, ms.
    pub invisible_time: i64,
    /// #3: revive queue ([`ORDER_REVIVE_QID`] for orderly pops).
    pub revive_qid: i32,
    /// #4: the topic actually read.
    pub retry: RetryFlag,
    /// #5: the broker to ack to (the master of that name).
    pub broker_name: String,
    /// #6: the queue actually read.
    pub queue_id: i32,
    /// #7: this message's offset in that queue.
    pub queue_offset: i64,
}

impl ReceiptHandle {
    /// Whether this receipt comes from an orderly pop.
    pub fn is_order(&self) -> bool {
        self.revive_qid == ORDER_REVIVE_QID
    }

    /// The topic to put in ACK / CHANGE headers for a message of `topic` popped by `group`.
    pub fn real_topic(&self, topic: &str, group: &str) -> String {
        self.retry.real_topic(topic, group)
    }

    /// When the message becomes visible again, broker clock, ms.
    pub fn visible_at_ms(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }
}

impl fmt::Display for ReceiptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} {}",
            self.ck_queue_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.retry.as_str(),
            self.broker_name,
            self.queue_id,
            self.queue_offset
        )
    }
}

impl FromStr for ReceiptHandle {
    type Err = PopFormatError;

    /// Parses the 8-token form. Brokers never send the legacy 7-token form to a client that
    /// uses `startOffsetInfo`; a 7-token string is refused rather than guessed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t: Vec<&str> = s.split(property::KEY_SEPARATOR).collect();
        if t.len() != 8 {
            return Err(bad("receipt handle", s));
        }
        let num = |i: usize| t[i].parse::<i64>().map_err(|_| bad("receipt handle", s));
        let int = |i: usize| t[i].parse::<i32>().map_err(|_| bad("receipt handle", s));
        Ok(ReceiptHandle {
            ck_queue_offset: num(0)?,
            pop_time: num(1)?,
            invisible_time: num(2)?,
            revive_qid: int(3)?,
            retry: RetryFlag::parse(t[4]).ok_or_else(|| bad("receipt handle", s))?,
            broker_name: t[5].to_owned(),
            queue_id: int(6)?,
            queue_offset: num(7)?,
        })
    }
}

/// Key of an offset-info entry: retry flag and queue id (`<retry>@<queueId>`), or for orderly
/// per-offset counts retry flag and `qo<queueId>%<offset>`.
pub type OffsetInfoKey = (RetryFlag, String);

fn parse_entries<'a>(
    what: &'static str,
    text: &'a str,
) -> Result<Vec<(OffsetInfoKey, &'a str)>, PopFormatError> {
    let mut out: Vec<(OffsetInfoKey, &str)> = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    for one in text.split(';') {
        let f: Vec<&str> = one.split(property::KEY_SEPARATOR).collect();
        if f.len() != 3 {
            return Err(bad(what, text));
        }
        let key = (
            RetryFlag::parse(f[0]).ok_or_else(|| bad(what, text))?,
            f[1].to_owned(),
        );
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad(what, text));
        }
        out.push((key, f[2]));
    }
    Ok(out)
}

/// Parses `startOffsetInfo` (`<retry> <queueId> <startOffset>;…`).
///
/// ```
/// use rocketmq_rs_remoting::protocol::pop::*;
/// let m = parse_start_offset_info("0 1 100;1 0 7").unwrap();
/// assert_eq!(m[&(RetryFlag::V1, "0".to_string())], 7);
/// assert!(parse_start_offset_info("0 1 100;0 1 5").is_err()); // duplicate key
/// ```
pub fn parse_start_offset_info(text: &str) -> Result<HashMap<OffsetInfoKey, i64>, PopFormatError> {
    parse_entries("startOffsetInfo", text)?
        .into_iter()
        .map(|(k, v)| {
            v.parse::<i64>()
                .map(|n| (k, n))
                .map_err(|_| bad("startOffsetInfo", text))
        })
        .collect()
}

/// Parses `msgOffsetInfo` (`<retry> <queueId> <o1>,<o2>,…;…`).
pub fn parse_msg_offset_info(
    text: &str,
) -> Result<HashMap<OffsetInfoKey, Vec<i64>>, PopFormatError> {
    parse_entries("msgOffsetInfo", text)?
        .into_iter()
        .map(|(k, v)| {
            v.split(',')
                .map(|o| o.parse::<i64>().map_err(|_| bad("msgOffsetInfo", text)))
                .collect::<Result<Vec<i64>, _>>()
                .map(|l| (k, l))
        })
        .collect()
}

/// Parses `orderCountInfo` (`<retry> qo<queueId>%<offset> <count>;…;<retry> <queueId> <min>`).
pub fn parse_order_count_info(text: &str) -> Result<HashMap<OffsetInfoKey, i32>, PopFormatError> {
    parse_entries("orderCountInfo", text)?
        .into_iter()
        .map(|(k, v)| {
            v.parse::<i32>()
                .map(|n| (k, n))
                .map_err(|_| bad("orderCountInfo", text))
        })
        .collect()
}

/// Key of an orderly per-offset count in `orderCountInfo`: `qo<queueId>%<offset>`.
pub fn queue_offset_key(queue_id: i32, offset: i64) -> String {
    format!("qo{queue_id}%{offset}")
}

/// Builds the offset-info strings of a POP_MESSAGE response, one queue at a time.
///
/// ```
/// use rocketmq_rs_remoting::protocol::pop::*;
/// let mut b = OffsetInfoBuilder::default();
/// b.add_queue(RetryFlag::Normal, 1, 100, &[100, 101, 104]);
/// b.add_queue(RetryFlag::V1, 0, 7, &[7]);
/// assert_eq!(b.start_offset_info, "0 1 100;1 0 7");
/// assert_eq!(b.msg_offset_info, "0 1 100,101,104;1 0 7");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetInfoBuilder {
    /// `startOffsetInfo` so far.
    pub start_offset_info: String,
    /// `msgOffsetInfo` so far.
    pub msg_offset_info: String,
    /// `orderCountInfo` so far (orderly pops only).
    pub order_count_info: String,
}

impl OffsetInfoBuilder {
    fn sep(s: &mut String) {
        if !s.is_empty() {
            s.push(';');
        }
    }

    /// Records one queue read by the pop: where it started and the offsets returned.
    pub fn add_queue(&mut self, retry: RetryFlag, queue_id: i32, start: i64, offsets: &[i64]) {
        use std::fmt::Write as _;
        Self::sep(&mut self.start_offset_info);
        let _ = write!(
            self.start_offset_info,
            "{} {queue_id} {start}",
            retry.as_str()
        );
        Self::sep(&mut self.msg_offset_info);
        let _ = write!(self.msg_offset_info, "{} {queue_id} ", retry.as_str());
        for (i, o) in offsets.iter().enumerate() {
            if i > 0 {
                self.msg_offset_info.push(',');
            }
            let _ = write!(self.msg_offset_info, "{o}");
        }
    }

    /// Orderly pops: the consume count of one offset.
    pub fn add_offset_count(&mut self, retry: RetryFlag, queue_id: i32, offset: i64, count: i32) {
        use std::fmt::Write as _;
        Self::sep(&mut self.order_count_info);
        let _ = write!(
            self.order_count_info,
            "{} {} {count}",
            retry.as_str(),
            queue_offset_key(queue_id, offset)
        );
    }

    /// Orderly pops: the queue-level count Java writes after the per-offset ones.
    pub fn add_queue_count(&mut self, retry: RetryFlag, queue_id: i32, count: i32) {
        use std::fmt::Write as _;
        Self::sep(&mut self.order_count_info);
        let _ = write!(
            self.order_count_info,
            "{} {queue_id} {count}",
            retry.as_str()
        );
    }
}

/// Gives each popped message its receipt handle (property `POP_CK`) as Apache's client does
/// (`MQClientAPIImpl.processPopResponse`), sets `1ST_POP_TIME` when absent, and for orderly
/// pops the consume count as `reconsume_times`. `requested_topic` is the topic of the request;
/// messages the broker already gave a `POP_CK` (re-encoded retry messages) keep it.
///
/// # Errors
///
/// [`PopFormatError`] when the header's offset info is malformed or does not cover a message.
#[allow(clippy::too_many_arguments)]
pub fn attach_receipts(
    msgs: &mut [MessageExt],
    broker_name: &str,
    pop_time: i64,
    invisible_time: i64,
    revive_qid: i32,
    start_offset_info: Option<&str>,
    msg_offset_info: Option<&str>,
    order_count_info: Option<&str>,
) -> Result<(), PopFormatError> {
    let starts = parse_start_offset_info(start_offset_info.unwrap_or(""))?;
    let offsets = parse_msg_offset_info(msg_offset_info.unwrap_or(""))?;
    let counts = parse_order_count_info(order_count_info.unwrap_or(""))?;
    // Position of each message among the body's messages of the same (retry, queue), in
    // ascending offset order: the index into that queue's msgOffsetInfo list.
    let mut sorted: HashMap<OffsetInfoKey, Vec<i64>> = HashMap::new();
    for m in msgs.iter() {
        let key = (RetryFlag::of_topic(&m.topic), m.queue_id.to_string());
        sorted.entry(key).or_default().push(m.queue_offset);
    }
    for v in sorted.values_mut() {
        v.sort_unstable();
    }
    let pop_time_text = pop_time.to_string();
    for m in msgs.iter_mut() {
        if m.property(property::POP_CK).is_none() {
            let retry = RetryFlag::of_topic(&m.topic);
            let key = (retry, m.queue_id.to_string());
            let missing = || bad("startOffsetInfo/msgOffsetInfo", &format!("{key:?}"));
            let start = if starts.is_empty() {
                // Legacy brokers send no offset info: the message's own offset is the start.
                m.queue_offset
            } else {
                *starts.get(&key).ok_or_else(missing)?
            };
            let offset = if offsets.is_empty() {
                m.queue_offset
            } else {
                let idx = sorted
                    .get(&key)
                    .and_then(|v| v.iter().position(|o| *o == m.queue_offset))
                    .ok_or_else(missing)?;
                *offsets
                    .get(&key)
                    .and_then(|l| l.get(idx))
                    .ok_or_else(missing)?
            };
            let handle = ReceiptHandle {
                ck_queue_offset: start,
                pop_time,
                invisible_time,
                revive_qid,
                retry,
                broker_name: broker_name.to_owned(),
                queue_id: m.queue_id,
                queue_offset: offset,
            };
            if revive_qid == ORDER_REVIVE_QID {
                let per_offset = (retry, queue_offset_key(m.queue_id, m.queue_offset));
                let count = counts.get(&per_offset).or_else(|| counts.get(&key));
                if let Some(&c) = count.filter(|c| **c > 0) {
                    m.reconsume_times = c;
                }
            }
            m.put_property(property::POP_CK, handle.to_string());
        }
        if m.property(property::FIRST_POP_TIME).is_none() {
            m.put_property(property::FIRST_POP_TIME, pop_time_text.clone());
        }
    }
    Ok(())
}

/// One checkpoint's acks in a BATCH_ACK_MESSAGE body (Java `BatchAck`, short JSON names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    /// Consumer group.
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    /// The original topic.
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
    /// Retry flag token (`"0"`, `"1"`, `"2"`).
    #[serde(rename = "r", alias = "retry")]
    pub retry: String,
    /// Checkpoint start offset.
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    /// Queue read.
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    /// Revive queue.
    #[serde(rename = "rq", alias = "reviveQueueId")]
    pub revive_queue_id: i32,
    /// Pop time.
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    /// Invisible time.
    #[serde(rename = "it", alias = "invisibleTime")]
    pub invisible_time: i64,
    /// Base64 of a Java `BitSet.toByteArray()`: bit i acks `start_offset + i`.
    #[serde(rename = "b", alias = "bitSet")]
    pub bit_set: String,
}

impl BatchAck {
    /// The acked offsets.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::pop::BatchAck;
    /// let mut a = BatchAck { consumer_group: "g".into(), topic: "T".into(), retry: "0".into(),
    ///     start_offset: 100, queue_id: 1, revive_queue_id: 3, pop_time: 1, invisible_time: 2,
    ///     bit_set: String::new() };
    /// a.set_offsets(&[100, 102, 109]);
    /// assert_eq!(a.offsets(), vec![100, 102, 109]);
    /// ```
    pub fn offsets(&self) -> Vec<i64> {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&self.bit_set) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if b & (1 << bit) != 0 {
                    out.push(self.start_offset + (i * 8 + bit) as i64);
                }
            }
        }
        out
    }

    /// Sets the bit set from offsets at or after `start_offset` (others are ignored).
    pub fn set_offsets(&mut self, offsets: &[i64]) {
        let mut bytes: Vec<u8> = Vec::new();
        for &o in offsets {
            let Ok(i) = usize::try_from(o - self.start_offset) else {
                continue;
            };
            if bytes.len() <= i / 8 {
                bytes.resize(i / 8 + 1, 0);
            }
            bytes[i / 8] |= 1 << (i % 8);
        }
        self.bit_set = base64::engine::general_purpose::STANDARD.encode(bytes);
    }
}

/// BATCH_ACK_MESSAGE (200151) body (Java `BatchAckMessageRequestBody`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchAckMessageRequestBody {
    /// Broker the acks are for.
    #[serde(default)]
    pub broker_name: String,
    /// One entry per checkpoint.
    #[serde(default)]
    pub acks: Vec<BatchAck>,
}

crate::protocol::body::serde_json_body!(BatchAckMessageRequestBody);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::JsonBody;

    #[test]
    fn receipt_round_trip_and_rejects() {
        let text = "0 1765000000000 30000 999 1 broker-a 0 5";
        let r: ReceiptHandle = text.parse().unwrap();
        assert!(r.is_order());
        assert_eq!(r.retry, RetryFlag::V1);
        assert_eq!(r.real_topic("T", "g"), "%RETRY%g_T");
        assert_eq!(r.visible_at_ms(), 1765000030000);
        assert_eq!(r.to_string(), text);
        for bad in [
            "",
            "1 2 3 4 0 b 1",
            "1 2 3 4 7 b 1 2",
            "x 2 3 4 0 b 1 2",
            "1 2 3 4 0 b 1 2 9",
        ] {
            assert!(bad.parse::<ReceiptHandle>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn retry_flags_follow_topic_names() {
        assert_eq!(RetryFlag::of_topic("T"), RetryFlag::Normal);
        assert_eq!(RetryFlag::of_topic("%RETRY%g_T"), RetryFlag::V1);
        assert_eq!(RetryFlag::of_topic("%RETRY%g+T"), RetryFlag::V2);
        assert_eq!(normal_topic_of("%RETRY%g_x", "other"), "%RETRY%g_x");
    }

    #[test]
    fn offset_info_parsers_reject_bad_field_counts() {
        assert!(parse_msg_offset_info("0 1").is_err());
        assert!(parse_msg_offset_info("0 1 2,x").is_err());
        assert!(parse_order_count_info("0 qo1%100 2;0 1 0").is_ok());
        assert!(parse_start_offset_info("").unwrap().is_empty());
    }

    fn msg(topic: &str, qid: i32, offset: i64) -> MessageExt {
        let mut m = MessageExt::new(topic, &b"x"[..]);
        m.queue_id = qid;
        m.queue_offset = offset;
        m
    }

    #[test]
    fn receipts_index_offsets_per_queue() {
        let mut msgs = vec![msg("T", 1, 104), msg("T", 1, 100), msg("T", 2, 9)];
        let mut b = OffsetInfoBuilder::default();
        b.add_queue(RetryFlag::Normal, 1, 100, &[100, 104]);
        b.add_queue(RetryFlag::Normal, 2, 9, &[9]);
        attach_receipts(
            &mut msgs,
            "b",
            1000,
            60000,
            3,
            Some(&b.start_offset_info),
            Some(&b.msg_offset_info),
            None,
        )
        .unwrap();
        let ck = |m: &MessageExt| m.property(property::POP_CK).unwrap().to_string();
        assert_eq!(ck(&msgs[0]), "100 1000 60000 3 0 b 1 104");
        assert_eq!(ck(&msgs[1]), "100 1000 60000 3 0 b 1 100");
        assert_eq!(ck(&msgs[2]), "9 1000 60000 3 0 b 2 9");
        assert_eq!(msgs[0].property(property::FIRST_POP_TIME), Some("1000"));
    }

    #[test]
    fn orderly_receipts_carry_consume_counts() {
        let mut msgs = vec![msg("T", 0, 5), msg("T", 0, 6)];
        let mut b = OffsetInfoBuilder::default();
        b.add_queue(RetryFlag::Normal, 0, 5, &[5, 6]);
        b.add_offset_count(RetryFlag::Normal, 0, 5, 2);
        b.add_queue_count(RetryFlag::Normal, 0, 0);
        attach_receipts(
            &mut msgs,
            "b",
            1,
            2,
            ORDER_REVIVE_QID,
            Some(&b.start_offset_info),
            Some(&b.msg_offset_info),
            Some(&b.order_count_info),
        )
        .unwrap();
        assert_eq!(msgs[0].reconsume_times, 2);
        assert_eq!(msgs[1].reconsume_times, 0);
    }

    #[test]
    fn batch_ack_body_uses_java_names_and_bitsets() {
        // Java: BitSet {0, 2, 9}.toByteArray() = [0x05, 0x02] → "BQI=".
        let json = br#"{"acks":[{"c":"g","t":"T","r":"0","so":100,"q":1,"rq":3,"pt":1,"it":2,"b":"BQI="}],"brokerName":"broker-a"}"#;
        let body = BatchAckMessageRequestBody::from_json(json).unwrap();
        assert_eq!(body.acks[0].offsets(), vec![100, 102, 109]);
        let long = br#"{"acks":[{"consumerGroup":"g","topic":"T","retry":"1","startOffset":0,"queueId":0,"reviveQueueId":0,"popTime":1,"invisibleTime":2,"bitSet":"AQ=="}]}"#;
        assert_eq!(
            BatchAckMessageRequestBody::from_json(long).unwrap().acks[0].offsets(),
            vec![0]
        );
        let out = String::from_utf8(body.to_json().to_vec()).unwrap();
        assert!(out.contains(r#""b":"BQI=""#) && out.contains(r#""brokerName":"broker-a""#));
    }
}
