//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
//! CONSUMER_SEND_MSG_BACK (36) (docs/protocol/send.md §1–§3; docs/protocol/retry.md §1, §2).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    optional_text, parse_bool, required_text, ConsumerSendMsgBackRequestHeader, FieldSink,
    HeaderValue, SendMessageRequestHeader, WriteFields,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_batch, decode_properties, decode_properties_bytes, property, sys_flag, MessageExt,
    Properties, UniqIdGenerator,
};
use rocketmq_rs_remoting::protocol::topic as names;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::transport::{Connection, Response};
use rocketmq_rs_remoting::{ExtFields, RemotingError};

use super::{header, reply, Wiring};
use crate::ha::{ReplicaAck, SyncReplicas};
use crate::schedule::clamp_level;
use crate::stats::BrokerStats;
use crate::store::record::find_byte;
use crate::store::{MessageStore, OffsetMsgId, PutResult, PutStatus, StoreError, SCHEDULE_TOPIC};
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::{
    invalid_topic_reply, TopicSendInfo, TopicTable, NOT_ALLOWED_SEND_TOPICS, PERM_READ, PERM_WRITE,
    RETRY_PREFIX, TIMER_TOPIC,
};
use crate::transaction::TransactionService;

const FAQ: &str = "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

/// The fields of a send request the broker uses, borrowed from the request (SEND_MESSAGE_V2) or
/// from a decoded [`SendMessageRequestHeader`] (SEND_MESSAGE): no string is copied per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SendHeader<'a> {
    topic: &'a str,
    default_topic: &'a str,
    default_topic_queue_nums: i32,
    queue_id: i32,
    sys_flag: i32,
    born_timestamp: i64,
    flag: i32,
    properties: Option<&'a str>,
    reconsume_times: Option<i32>,
    max_reconsume_times: Option<i32>,
    batch: Option<bool>,
}

impl<'a> SendHeader<'a> {
    fn from_v1(h: &'a SendMessageRequestHeader) -> Self {
        SendHeader {
            topic: &h.topic,
            default_topic: &h.default_topic,
            default_topic_queue_nums: h.default_topic_queue_nums,
            queue_id: h.queue_id,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            flag: h.flag,
            properties: h.properties.as_deref(),
            reconsume_times: h.reconsume_times,
            max_reconsume_times: h.max_reconsume_times,
            batch: h.batch,
        }
    }

    /// Reads `SendMessageRequestHeaderV2`'s single-letter fields with exactly its decoding rules
    /// (same required fields checked in the same order, same errors; an unparsable optional
    /// number counts as absent), without building the owned header. Fields the send path does
    /// not use (`k` unitMode, `n`/`bname`) parse infallibly, so skipping them changes nothing.
    fn from_v2(ext: &'a ExtFields) -> Result<Self, RemotingError> {
        let mut f: [Option<&'a str>; 13] = [None; 13];
        for (key, value) in ext.iter() {
            if let [c @ b'a'..=b'm'] = key.as_bytes() {
                f[usize::from(c - b'a')] = Some(value);
            }
        }
        fn text<'v>(v: Option<&'v str>, field: &'static str) -> Result<&'v str, RemotingError> {
            v.ok_or(RemotingError::MissingField { field })
        }
        text(f[0], "a")?;
        Ok(SendHeader {
            topic: text(f[1], "b")?,
            default_topic: text(f[2], "c")?,
            default_topic_queue_nums: required_number(f[3], "d")?,
            queue_id: required_number(f[4], "e")?,
            sys_flag: required_number(f[5], "f")?,
            born_timestamp: required_number(f[6], "g")?,
            flag: required_number(f[7], "h")?,
            properties: f[8],
            reconsume_times: match f[9].and_then(plain_decimal) {
                Some(n) => i32::try_from(n).ok(),
                None => optional_text(f[9], "j"),
            },
            max_reconsume_times: match f[11].and_then(plain_decimal) {
                Some(n) => i32::try_from(n).ok(),
                None => optional_text(f[11], "l"),
            },
            batch: f[12].map(|b| match b {
                "false" => false,
                "true" => true,
                b => parse_bool(b),
            }),
        })
    }
}

/// The value of a decimal of at most 18 digits with an optional leading `-` and nothing else:
/// what producers write for every number of a send header. It reads in a few instructions a
/// digit, without the trimming and generic parsing of [`required_text`], which stays the rule
/// for anything else (padded, signed with `+`, overlong: same values, same errors).
fn plain_decimal(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if negative { -n } else { n })
}

/// [`required_text`] with [`plain_decimal`]'s shortcut.
fn required_number<T: HeaderValue + TryFrom<i64>>(
    text: Option<&str>,
    field: &'static str,
) -> Result<T, RemotingError> {
    match text.and_then(plain_decimal).map(T::try_from) {
        Some(Ok(n)) => Ok(n),
        // Out of range for `T`, or not plain: the general rule and its error.
        _ => required_text(text, field),
    }
}

/// Java's `BrokerConfig.traceOn` default: what a 5.x broker answers in `TRACE_ON` and stores with
/// every message (docs/protocol/send.md §1).
pub(crate) const TRACE_ON: &str = "true";

/// [`decode_properties`] with room for the pairs the broker may add (`UNIQ_KEY`, `CLUSTER`,
/// `MSG_REGION`, `TRACE_ON`), so that adding them does not grow the map. Same pairs, same order: Java's lenient split, and a
/// repeated name keeps its first position and takes the last value ([`Properties::insert`]).
fn decode_send_properties(s: &str) -> Properties {
    // Byte scans instead of `str::split(char)`: the separators are ASCII, so every cut is on a
    // char boundary, and a plain byte count/position is far cheaper than the char searcher
    // for the short strings a send carries.
    let bytes = s.as_bytes();
    let pairs = bytes.iter().filter(|b| **b == 2).count() + 1;
    let mut props = Properties::with_capacity(pairs + 4);
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|b| *b == 2)
            .map_or(bytes.len(), |i| start + i);
        let pair = &s[start..end];
        start = end + 1;
        if let Some(sep) = pair.bytes().position(|b| b == 1) {
            let (k, v) = (&pair[..sep], &pair[sep + 1..]);
            if !k.is_empty() && !v.is_empty() {
                props.insert(k, v);
            }
        }
    }
    props
}

/// What the send path reads from properties it can store as they were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Received<'a> {
    uniq_key: Option<&'a str>,
    wait: Option<&'a str>,
    /// A pair a plain send rewrites or replaces is present: delay and timer properties move
    /// the message to another topic, `TRAN_MSG` makes it a transaction half, and `CLUSTER` /
    /// `MSG_REGION` / `TRACE_ON` are overwritten where they stand.
    rewritten: bool,
}

/// Most pairs the as-received check handles (a send carries a handful; more go the decoding
/// way, which is linear in the pair count).
const RECEIVED_MAX_PAIRS: usize = 16;

/// Checks that the properties string `s` survives [`decode_send_properties`] and an encode
/// unchanged (but for a 0x02 after an open last pair): every pair has a non-empty name and
/// value (the decoder drops the others) and no name repeats (the map keeps one). A plain send
/// can then store `s` as received when no pair is [`Received::rewritten`]; a batch entry can
/// whenever `s` also ends with 0x02. `None` sends the message the decoding way.
fn scan_received(s: &str) -> Option<Received<'_>> {
    let bytes = s.as_bytes();
    let mut names: [&[u8]; RECEIVED_MAX_PAIRS] = [&[]; RECEIVED_MAX_PAIRS];
    let mut n = 0;
    let mut found = Received {
        uniq_key: None,
        wait: None,
        rewritten: false,
    };
    let mut start = 0;
    while start < bytes.len() {
        let end = find_byte(&bytes[start..], 2).map_or(bytes.len(), |i| start + i);
        let pair = &bytes[start..end];
        let sep = find_byte(pair, 1)?;
        let (name, value_at) = (&pair[..sep], start + sep + 1);
        if sep == 0 || value_at == end || n == RECEIVED_MAX_PAIRS {
            return None;
        }
        match name {
            b"DELAY" | b"TIMER_DELIVER_MS" | b"TIMER_DELAY_SEC" | b"TIMER_DELAY_MS"
            | b"TRAN_MSG" | b"CLUSTER" | b"MSG_REGION" | b"TRACE_ON" => found.rewritten = true,
            // Cut at ASCII separators, so both ends are char boundaries.
            b"UNIQ_KEY" => found.uniq_key = Some(&s[value_at..end]),
            b"WAIT" => found.wait = Some(&s[value_at..end]),
            _ => {}
        }
        if names[..n].contains(&name) {
            return None;
        }
        names[n] = name;
        n += 1;
        start = end + 1;
    }
    Some(found)
}

/// One entry of a batch body, its parts sliced out of the body (docs/protocol/send.md §3).
struct BatchEntry {
    flag: i32,
    body: Bytes,
    properties: Bytes,
}

/// Splits a SEND_BATCH_MESSAGE body into its entries by [`decode_batch`]'s rules, keeping
/// each entry's properties as they are; `None` where [`decode_batch`] fails (it then says
/// why).
fn split_batch(body: &Bytes) -> Option<Vec<BatchEntry>> {
    fn be_i32(b: &[u8], at: usize) -> Option<i32> {
        Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        // totalSize, magicCode and bodyCRC are not trusted (clients write 0).
        let flag = be_i32(body, at + 12)?;
        let body_len = usize::try_from(be_i32(body, at + 16)?).ok()?;
        let body_at = at + 20;
        let props_len_at = body_at.checked_add(body_len)?;
        let len = body.get(props_len_at..props_len_at + 2)?;
        let props_len = usize::try_from(i16::from_be_bytes([len[0], len[1]])).ok()?;
        let props_at = props_len_at + 2;
        let end = props_at + props_len;
        if end > body.len() {
            return None;
        }
        out.push(BatchEntry {
            flag,
            body: body.slice(body_at..props_len_at),
            properties: body.slice(props_at..end),
        });
        at = end;
    }
    Some(out)
}

/// The properties the broker stores for a plain send whose properties `received` passed
/// [`scan_received`]: the received pairs, then `UNIQ_KEY` if the producer sent none
/// (`generated_uniq`), `CLUSTER`, `MSG_REGION` and `TRACE_ON`, in one buffer sized once.
fn stored_properties(
    received: &str,
    generated_uniq: Option<&str>,
    cluster: &str,
    region: &str,
) -> Vec<u8> {
    let uniq_pair = generated_uniq.map(|u| (property::UNIQ_KEY, u));
    let added = [
        (property::CLUSTER, cluster),
        (property::MSG_REGION, region),
        (property::TRACE_SWITCH, TRACE_ON),
    ];
    let len = received.len()
        + 1
        + uniq_pair
            .iter()
            .chain(&added)
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
    let mut props = Vec::with_capacity(len);
    props.extend_from_slice(received.as_bytes());
    // The encoder ends every pair with 0x02; a producer may leave the last one open.
    if !received.is_empty() && !received.ends_with('\u{2}') {
        props.push(2);
    }
    for (k, v) in uniq_pair.iter().chain(&added) {
        push_pair(&mut props, k, v);
    }
    props
}

/// Appends one `name 0x01 value 0x02` pair.
fn push_pair(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(1);
    out.extend_from_slice(value.as_bytes());
    out.push(2);
}

/// The sends: producers' messages (plain, batch, delayed, transaction halves) and consumers'
/// send-backs to retry and dead-letter topics.
pub(crate) struct SendProcessor {
    store: MessageStore,
    /// Auto-created topics, retry and DLQ topics.
    topics: TopicTable,
    /// Transaction halves are stored through it.
    transactions: Arc<TransactionService>,
    /// `SYNC_MASTER`: sends wait for a slave.
    replicas: SyncReplicas,
    uniq: UniqIdGenerator,
    store_host: SocketAddr,
    /// Number of delay levels (a `DELAY` property is clamped to it).
    delay_levels: usize,
    max_message_size: usize,
    /// Group configs: DLQ threshold and retry queue count.
    groups: SubscriptionGroups,
    /// Put counters (TOPIC_PUT_NUMS, runtime info).
    stats: Arc<BrokerStats>,
    cluster: String,
    region: Arc<str>,
    rt: Arc<dyn Runtime>,
}

/// Finds the topic's config, auto-creating it as Java's `msgCheck` does.
async fn topic_for_send(
    topics: &TopicTable,
    topic: &str,
    default_topic: &str,
    default_queue_nums: i32,
    topic_sys_flag: i32,
) -> Result<TopicSendInfo, RemotingCommand> {
    if let Some(t) = topics.send_info(topic) {
        return Ok(t);
    }
    let (t, d) = (topic.to_string(), default_topic.to_string());
    let r = topics
        .change(move |topics| {
            let (cfg, created) =
                topics.create_in_send(&t, &d, default_queue_nums, topic_sys_flag)?;
            match cfg {
                Some(c) => Ok((Some(c), created)),
                None if t.starts_with(RETRY_PREFIX) => {
                    let (c, created) = topics.ensure(&t, 1, PERM_READ | PERM_WRITE)?;
                    Ok((Some(c), created))
                }
                None => Ok((None, false)),
            }
        })
        .await;
    match r {
        Ok((Some(c), created)) => {
            if created {
                tracing::info!(topic, "topic auto-created");
            }
            Ok(TopicSendInfo::from(&c))
        }
        Ok((None, _)) => Err(reply(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist, apply first please!{FAQ}"),
        )),
        Err(e) => Err(reply(ResponseCode::SYSTEM_ERROR, e.to_string())),
    }
}

/// Ensures a retry or DLQ topic exists (1 queue, RW).
async fn ensure_group_topic(
    topics: &TopicTable,
    topic: String,
    queues: i32,
) -> Result<TopicSendInfo, RemotingCommand> {
    if let Some(t) = topics.send_info(&topic) {
        return Ok(t);
    }
    match topics
        .ensure(topic, queues.max(1), PERM_READ | PERM_WRITE)
        .await
    {
        Ok((c, _)) => Ok(TopicSendInfo::from(&c)),
        Err(e) => Err(reply(ResponseCode::SYSTEM_ERROR, e.to_string())),
    }
}

/// The client's `maxReconsumeTimes`, which Apache honours from clients of V3_4_9 (version
/// ordinal 121) on.
fn client_max_reconsume(from_header: Option<i32>, version: i32) -> Option<i32> {
    const V3_4_9: i32 = 121;
    from_header.filter(|_| version >= V3_4_9)
}

/// SUBSCRIPTION_GROUP_NOT_EXIST as Apache's send paths answer it.
fn group_not_exist(group: &str) -> RemotingCommand {
    reply(
        ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
        format!(
            "subscription group not exist, {group} {}",
            super::send_faq()
        ),
    )
}

fn put_error(e: StoreError) -> RemotingCommand {
    match e {
        StoreError::MessageIllegal(m) => reply(ResponseCode::MESSAGE_ILLEGAL, m),
        // Apache's SERVICE_NOT_AVAILABLE remark with its `diskUtil()` figures (commit log,
        // consume queue and index share the store's one disk here).
        StoreError::DiskFull { used_ratio } => reply(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            format!(
                "service not available now. It may be caused by one of the following reasons: \
                 the broker's disk is full [CL: {r:5.2} CQ: {r:5.2} INDEX: {r:5.2}], messages \
                 are put to the slave, message store has been shut down, etc.",
                r = used_ratio
            ),
        ),
        StoreError::NotAvailable(m) => reply(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            format!("service not available now: {m}"),
        ),
        e => reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// Rewrites a message with `DELAY` or a timer property to its waiting topic (docs/protocol/retry.md §2).
fn apply_delay(delay_levels: usize, now: i64, msg: &mut MessageExt) {
    let tt = sys_flag::transaction_type(msg.sys_flag);
    if tt != sys_flag::TRANSACTION_NOT_TYPE && tt != sys_flag::TRANSACTION_COMMIT_TYPE {
        return;
    }
    let level = msg
        .property(property::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .unwrap_or(0);
    if level > 0 {
        let level = clamp_level(level, delay_levels);
        let (topic, qid) = (msg.topic.clone(), msg.queue_id);
        msg.put_property(property::DELAY, level.to_string());
        msg.put_property(property::REAL_TOPIC, topic);
        msg.put_property(property::REAL_QUEUE_ID, qid.to_string());
        msg.topic = SCHEDULE_TOPIC.to_string();
        msg.queue_id = level - 1;
        return;
    }
    let parse = |k: &str| msg.property(k).and_then(|v| v.trim().parse::<i64>().ok());
    let deliver = parse(property::TIMER_DELIVER_MS)
        .or_else(|| {
            parse(property::TIMER_DELAY_SEC).map(|s| now.saturating_add(s.saturating_mul(1000)))
        })
        .or_else(|| parse(property::TIMER_DELAY_MS).map(|ms| now.saturating_add(ms)));
    if let Some(at) = deliver {
        if at > now {
            let (topic, qid) = (msg.topic.clone(), msg.queue_id);
            msg.put_property(property::TIMER_OUT_MS, at.to_string());
            msg.put_property(property::REAL_TOPIC, topic);
            msg.put_property(property::REAL_QUEUE_ID, qid.to_string());
            msg.topic = TIMER_TOPIC.to_string();
            msg.queue_id = 0;
        }
    }
}

/// The message id(s) of a send response: one stored message's offset id as it is (no
/// string built), or a batch's ids joined with commas.
#[derive(Debug)]
enum MsgIds {
    One(OffsetMsgId),
    Joined(String),
}

impl MsgIds {
    fn as_str(&self) -> &str {
        match self {
            MsgIds::One(id) => id.as_str(),
            MsgIds::Joined(ids) => ids,
        }
    }
}

/// A uniq key (`transactionId` of a send response): copied inline when it has the usual
/// length (32 hex digits), so that answering costs no allocation for it.
#[derive(Debug)]
enum UniqText {
    Inline { len: u8, bytes: [u8; 48] },
    Heap(String),
}

impl UniqText {
    fn new(s: &str) -> Self {
        let mut bytes = [0u8; 48];
        match bytes.get_mut(..s.len()) {
            Some(to) => {
                to.copy_from_slice(s.as_bytes());
                UniqText::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            None => UniqText::Heap(s.to_owned()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always valid, so the fallback is never taken.
            UniqText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            UniqText::Heap(s) => s,
        }
    }
}

/// `SendMessageResponseHeader` as the send path answers it, owned by the response until the
/// connection writes it straight into the frame ([`Response::with_fields`]): the fields of
/// [`SendMessageResponseHeader`](rocketmq_rs_remoting::protocol::header::SendMessageResponseHeader)
/// in its write order (wire-identical to `with_header`), with no `ExtFields` map built.
#[derive(Debug)]
struct SendReply {
    msg_id: MsgIds,
    queue_id: i32,
    queue_offset: i64,
    transaction_id: Option<UniqText>,
    region: Arc<str>,
}

impl WriteFields for SendReply {
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        sink.str_field("msgId", self.msg_id.as_str());
        sink.i64_field("queueId", i64::from(self.queue_id));
        sink.i64_field("queueOffset", self.queue_offset);
        if let Some(u) = &self.transaction_id {
            sink.str_field("transactionId", u.as_str());
        }
        sink.str_field("MSG_REGION", &self.region);
        sink.str_field("TRACE_ON", TRACE_ON);
    }

    fn size_hint(&self) -> (usize, usize) {
        // Keys, values (numbers at their longest), and no text validated for it.
        let msg_id = match &self.msg_id {
            MsgIds::One(_) => 56,
            MsgIds::Joined(ids) => ids.len(),
        };
        let uniq = self.transaction_id.as_ref().map_or(0, |u| match u {
            UniqText::Inline { len, .. } => 13 + usize::from(*len),
            UniqText::Heap(s) => 13 + s.len(),
        });
        let keys_and_numbers = 5 + 7 + 11 + 11 + 20 + 10 + 8 + 4;
        (6, keys_and_numbers + msg_id + uniq + self.region.len())
    }
}

fn send_response(
    status: PutStatus,
    results: impl IntoIterator<Item = PutResult>,
    queue_id: i32,
    uniq: Option<&str>,
    region: &Arc<str>,
) -> Response {
    let (command, fields) = send_reply(status, results, queue_id, uniq, region);
    Response::with_fields(command, fields)
}

/// The parts of [`send_response`]: the bare response command and its typed header.
fn send_reply(
    status: PutStatus,
    results: impl IntoIterator<Item = PutResult>,
    queue_id: i32,
    uniq: Option<&str>,
    region: &Arc<str>,
) -> (RemotingCommand, SendReply) {
    let code = match status {
        PutStatus::Ok => ResponseCode::SUCCESS,
        PutStatus::FlushDiskTimeout => ResponseCode::FLUSH_DISK_TIMEOUT,
    };
    let mut results = results.into_iter().peekable();
    let first = results.next();
    let queue_offset = first.as_ref().map_or(0, |r| r.queue_offset);
    // One message (the common case): its id goes into the header as it is, no joining.
    let msg_id = match &first {
        None => MsgIds::Joined(String::new()),
        Some(r) if results.peek().is_none() => MsgIds::One(r.msg_id),
        Some(r) => {
            let mut ids = String::from(r.msg_id.as_str());
            for r in results {
                ids.push(',');
                ids.push_str(&r.msg_id);
            }
            MsgIds::Joined(ids)
        }
    };
    (
        RemotingCommand::response(code, None),
        SendReply {
            msg_id,
            queue_id,
            queue_offset,
            transaction_id: uniq.map(UniqText::new),
            region: Arc::clone(region),
        },
    )
}

/// `SYNC_MASTER`: waits until a slave has the commit log up to `end` (the end of the last
/// stored record) and turns a missing acknowledgement into FLUSH_SLAVE_TIMEOUT or
/// SLAVE_NOT_AVAILABLE. The message is stored either way; the response header is kept (Java
/// `handlePutMessageResult`: the replication status overrides the flush status).
async fn await_replica(
    replicas: &SyncReplicas,
    mut resp: Response,
    end: i64,
    wait_store_ok: bool,
) -> Response {
    if !replicas.enabled() || !wait_store_ok {
        return resp;
    }
    let code = &mut resp.command.code;
    if *code != ResponseCode::SUCCESS && *code != ResponseCode::FLUSH_DISK_TIMEOUT {
        return resp;
    }
    match replicas.wait(end).await {
        None | Some(ReplicaAck::Ok) => {}
        Some(ReplicaAck::Timeout) => *code = ResponseCode::FLUSH_SLAVE_TIMEOUT,
        Some(ReplicaAck::NotAvailable) => *code = ResponseCode::SLAVE_NOT_AVAILABLE,
    }
    resp
}

/// Whether a message asks to be answered only once stored durably (property `WAIT`, default
/// true; Java `isWaitStoreMsgOK`).
fn wait_store_ok(props: Option<&str>) -> bool {
    props.is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
}

impl SendProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        SendProcessor {
            store: w.store.clone(),
            topics: w.topics.clone(),
            transactions: Arc::clone(w.transactions),
            replicas: w.replicas.clone(),
            uniq: UniqIdGenerator::new(w.store_host.ip()),
            store_host: w.store_host,
            delay_levels: w.schedule.level_count(),
            max_message_size: w.cfg.max_message_size,
            groups: w.groups.clone(),
            stats: Arc::clone(w.stats),
            cluster: w.cfg.broker_cluster_name.clone(),
            region: Arc::from(w.cfg.region_id.as_str()),
            rt: Arc::clone(w.rt),
        }
    }

    /// Dead-letter threshold of `group`: the client's (see [`client_max_reconsume`]), else
    /// the group config's `retryMaxTimes`; SUBSCRIPTION_GROUP_NOT_EXIST without a config.
    // The Err is the ready-made response.
    #[allow(clippy::result_large_err)]
    async fn max_reconsume(
        &self,
        group: &str,
        from_header: Option<i32>,
        version: i32,
    ) -> Result<i32, RemotingCommand> {
        let cfg = self
            .groups
            .find(group)
            .await
            .ok_or_else(|| group_not_exist(group))?;
        Ok(client_max_reconsume(from_header, version).unwrap_or(cfg.retry_max_times))
    }

    /// SEND_MESSAGE / SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE.
    pub(crate) async fn send_message(&self, conn: &Connection, req: &RemotingCommand) -> Response {
        let v1;
        let h = if req.code == RequestCode::SEND_MESSAGE {
            v1 = match header::<SendMessageRequestHeader>(req) {
                Ok(h) => h,
                Err(r) => return r.into(),
            };
            SendHeader::from_v1(&v1)
        } else {
            match SendHeader::from_v2(&req.ext_fields) {
                Ok(h) => h,
                Err(e) => return reply(ResponseCode::SYSTEM_ERROR, format!("{e}")).into(),
            }
        };
        let mut topic = h.topic.to_string();
        if topic.len() > names::TOPIC_MAX_LENGTH
            && !names::is_retry_topic(&topic)
            && !names::is_dlq_topic(&topic)
        {
            return reply(
                ResponseCode::MESSAGE_ILLEGAL,
                "message topic length too long",
            )
            .into();
        }
        if let Some(r) = invalid_topic_reply(&topic) {
            return r.into();
        }
        if NOT_ALLOWED_SEND_TOPICS.contains(&topic.as_str()) {
            return reply(
                ResponseCode::NO_PERMISSION,
                format!("Sending message to topic[{topic}] is forbidden."),
            )
            .into();
        }
        if req.body.len() > self.max_message_size {
            return reply(
                ResponseCode::MESSAGE_ILLEGAL,
                format!(
                    "the message body size over max value, MAX: {}",
                    self.max_message_size
                ),
            )
            .into();
        }
        let mut tc = match topic_for_send(
            &self.topics,
            &topic,
            h.default_topic,
            h.default_topic_queue_nums,
            0,
        )
        .await
        {
            Ok(t) => t,
            Err(r) => return r.into(),
        };
        if tc.perm & PERM_WRITE == 0 {
            return reply(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{topic}] sending message is forbidden"),
            )
            .into();
        }
        let queues = tc.write_queue_nums.max(tc.read_queue_nums);
        let mut queue_id = h.queue_id;
        if queue_id < 0 {
            queue_id = fastrand::i32(0..tc.write_queue_nums.max(1));
        }
        if queue_id >= queues {
            return reply(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "request queueId[{queue_id}] is illegal, {topic} Producer: {}",
                    conn.peer_addr()
                ),
            )
            .into();
        }
        let reconsume = h.reconsume_times.unwrap_or(0);
        let born_host = conn.peer_addr();

        if h.batch == Some(true) {
            if topic.starts_with(RETRY_PREFIX) {
                return reply(
                    ResponseCode::MESSAGE_ILLEGAL,
                    "batch request does not support retry group",
                )
                .into();
            }
            // One stored message per batch entry, with the request's common fields.
            let entry = |flag, body, properties| MessageExt {
                topic: topic.clone(),
                flag,
                body,
                properties,
                queue_id,
                sys_flag: h.sys_flag,
                born_timestamp: h.born_timestamp,
                born_host,
                store_host: self.store_host,
                reconsume_times: reconsume,
                ..Default::default()
            };
            // Entries whose properties survive decoding unchanged are stored as they came;
            // the others (and a body that does not split) go the decoding way.
            let (msgs, encoded, uniq) = match split_batch(&req.body) {
                Some(entries) if !entries.is_empty() => {
                    let mut ids = String::new();
                    let mut msgs = Vec::with_capacity(entries.len());
                    let mut encoded = Vec::with_capacity(entries.len());
                    for e in entries {
                        let raw = std::str::from_utf8(&e.properties)
                            .ok()
                            .filter(|p| p.is_empty() || p.ends_with('\u{2}'))
                            .and_then(scan_received);
                        let mut m = entry(e.flag, e.body, Default::default());
                        let id = match raw {
                            Some(found) => found.uniq_key,
                            None => {
                                m.properties = decode_properties_bytes(&e.properties);
                                m.uniq_key()
                            }
                        };
                        if let Some(id) = id {
                            if !ids.is_empty() {
                                ids.push(',');
                            }
                            ids.push_str(id);
                        }
                        encoded.push(raw.is_some().then_some(e.properties));
                        msgs.push(m);
                    }
                    (msgs, Some(encoded), (!ids.is_empty()).then_some(ids))
                }
                _ => {
                    let inner = match decode_batch(req.body.clone()) {
                        Ok(v) if !v.is_empty() => v,
                        Ok(_) => return reply(ResponseCode::MESSAGE_ILLEGAL, "empty batch").into(),
                        Err(e) => {
                            return reply(
                                ResponseCode::MESSAGE_ILLEGAL,
                                format!("bad batch body: {e}"),
                            )
                            .into()
                        }
                    };
                    let msgs: Vec<MessageExt> = inner
                        .into_iter()
                        .map(|m| entry(m.flag, m.body, m.properties))
                        .collect();
                    let uniq = {
                        let ids: Vec<&str> = msgs.iter().filter_map(|m| m.uniq_key()).collect();
                        (!ids.is_empty()).then(|| ids.join(","))
                    };
                    (msgs, None, uniq)
                }
            };
            let wait =
                wait_store_ok(decode_properties(h.properties.unwrap_or("")).get(property::WAIT));
            let started = std::time::Instant::now();
            let count = msgs.len() as u64;
            let put = match encoded {
                Some(encoded) => self.store.put_messages_encoded(msgs, encoded).await,
                None => self.store.put_messages(msgs).await,
            };
            return match put {
                Ok(rs) => {
                    let bytes = rs.iter().map(|r| r.store_size.max(0) as u64).sum();
                    self.stats.on_put(&topic, count, bytes, started.elapsed());
                    let status = if rs.iter().all(|r| r.status == PutStatus::Ok) {
                        PutStatus::Ok
                    } else {
                        PutStatus::FlushDiskTimeout
                    };
                    let end = rs
                        .iter()
                        .map(|r| r.commit_log_offset + r.store_size as i64)
                        .max()
                        .unwrap_or(0);
                    let resp = send_response(status, rs, queue_id, uniq.as_deref(), &self.region);
                    await_replica(&self.replicas, resp, end, wait).await
                }
                Err(e) => {
                    self.stats.on_put_failed();
                    put_error(e).into()
                }
            };
        }

        let received = h.properties.unwrap_or("");
        if !topic.starts_with(RETRY_PREFIX) {
            if let Some(found) = scan_received(received).filter(|f| !f.rewritten) {
                let msg = MessageExt {
                    topic,
                    flag: h.flag,
                    body: req.body.clone(),
                    queue_id,
                    sys_flag: h.sys_flag,
                    born_timestamp: h.born_timestamp,
                    born_host,
                    store_host: self.store_host,
                    reconsume_times: reconsume,
                    ..Default::default()
                };
                return self.send_as_received(msg, h.topic, received, found).await;
            }
        }
        let mut props = decode_send_properties(received);
        // Retry sends beyond the maximum go to the dead-letter queue (5.x: strictly greater).
        if topic.starts_with(RETRY_PREFIX) {
            let group = &topic[RETRY_PREFIX.len()..];
            let max = match self
                .max_reconsume(group, h.max_reconsume_times, req.version)
                .await
            {
                Ok(m) => m,
                Err(r) => return r.into(),
            };
            if reconsume > max {
                let dlq = names::dlq_topic(group);
                tc = match ensure_group_topic(&self.topics, dlq.clone(), 1).await {
                    Ok(t) => t,
                    Err(r) => return r.into(),
                };
                let _ = tc;
                topic = dlq;
                queue_id = 0;
                props.remove(property::DELAY);
            }
        }
        if props
            .get(property::UNIQ_KEY)
            .filter(|k| !k.is_empty())
            .is_none()
        {
            props.insert(property::UNIQ_KEY, self.uniq.next_id());
        }
        props.insert(property::CLUSTER, self.cluster.clone());
        // A 5.x broker stores its region and trace switch with every message it is sent
        // (docs/protocol/send.md §1; `mqadmin printMsg` shows them, and they count in the
        // commit-log offsets that `queryMsgByKey` and friends print).
        props.insert(property::MSG_REGION, self.region.to_string());
        props.insert(property::TRACE_SWITCH, TRACE_ON);
        let uniq = props.get(property::UNIQ_KEY).map(str::to_string);
        let uniq = uniq.as_deref();
        let wait = wait_store_ok(props.get(property::WAIT));
        let mut msg = MessageExt {
            topic,
            flag: h.flag,
            body: req.body.clone(),
            properties: props,
            queue_id,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            born_host,
            store_host: self.store_host,
            reconsume_times: reconsume,
            ..Default::default()
        };
        let started = std::time::Instant::now();
        // Counted under the topic it is stored in, as Apache does (delayed messages under
        // SCHEDULE_TOPIC_XXXX, transaction halves under the half topic).
        let stored_topic;
        let put = if crate::transaction::is_half(&msg) {
            // Transaction half: stored in the half topic, invisible until committed.
            stored_topic = crate::transaction::HALF_TOPIC.to_string();
            self.transactions.prepare(msg).await
        } else {
            apply_delay(self.delay_levels, self.rt.clock().now_ms(), &mut msg);
            stored_topic = msg.topic.clone();
            self.store.put_message(msg).await
        };
        match put {
            Ok(r) => {
                let size = r.store_size.max(0) as u64;
                self.stats.on_put(&stored_topic, 1, size, started.elapsed());
                let end = r.commit_log_offset + r.store_size as i64;
                let resp =
                    send_response(r.status, std::iter::once(r), queue_id, uniq, &self.region);
                await_replica(&self.replicas, resp, end, wait).await
            }
            Err(e) => {
                self.stats.on_put_failed();
                put_error(e).into()
            }
        }
    }

    /// Stores a plain message with the properties `received` as the producer encoded them
    /// (checked by [`scan_received`], which found `found` in them) plus the pairs the broker
    /// adds, in the order the decoding way adds them. `topic` is `msg.topic`.
    async fn send_as_received(
        &self,
        msg: MessageExt,
        topic: &str,
        received: &str,
        found: Received<'_>,
    ) -> Response {
        let generated;
        let uniq = match found.uniq_key {
            Some(u) => u,
            None => {
                generated = self.uniq.next_id();
                generated.as_str()
            }
        };
        let props = stored_properties(
            received,
            found.uniq_key.is_none().then_some(uniq),
            &self.cluster,
            &self.region,
        );
        let (queue_id, wait) = (msg.queue_id, wait_store_ok(found.wait));
        let started = std::time::Instant::now();
        match self.store.put_message_encoded(msg, props).await {
            Ok(r) => {
                let size = r.store_size.max(0) as u64;
                self.stats.on_put(topic, 1, size, started.elapsed());
                let end = r.commit_log_offset + r.store_size as i64;
                let resp = send_response(
                    r.status,
                    std::iter::once(r),
                    queue_id,
                    Some(uniq),
                    &self.region,
                );
                await_replica(&self.replicas, resp, end, wait).await
            }
            Err(e) => {
                self.stats.on_put_failed();
                put_error(e).into()
            }
        }
    }

    /// CONSUMER_SEND_MSG_BACK: re-sends a consumed message to `%RETRY%<group>` with the next delay
    /// level, or to `%DLQ%<group>` after the maximum reconsume times.
    pub(crate) async fn consumer_send_back(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ConsumerSendMsgBackRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let group_cfg = match self.groups.find(&h.group).await {
            Some(c) => c,
            None => return group_not_exist(&h.group),
        };
        // Apache: a group without retry queues drops what its consumers send back.
        if group_cfg.retry_queue_nums <= 0 {
            return super::success();
        }
        let store = self.store.clone();
        let offset = h.offset;
        let orig = match rt::run_blocking(&*self.rt, move || store.message_by_commit_offset(offset))
            .await
        {
            Ok(m) => m,
            Err(_) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("look message by offset failed, {}", h.offset),
                )
            }
        };
        let mut props = orig.properties.clone();
        if props.get(property::RETRY_TOPIC).is_none() {
            props.insert(property::RETRY_TOPIC, orig.topic.clone());
        }
        let max = client_max_reconsume(h.max_reconsume_times, req.version)
            .unwrap_or(group_cfg.retry_max_times);
        let to_dlq = orig.reconsume_times >= max || h.delay_level < 0;
        let (topic, queue_id) = if to_dlq {
            let t = names::dlq_topic(&h.group);
            if let Err(r) = ensure_group_topic(&self.topics, t.clone(), 1).await {
                return r;
            }
            props.remove(property::DELAY);
            (t, 0)
        } else {
            let t = names::retry_topic(&h.group);
            let tc = match ensure_group_topic(&self.topics, t.clone(), group_cfg.retry_queue_nums)
                .await
            {
                Ok(tc) => tc,
                Err(r) => return r,
            };
            let level = if h.delay_level == 0 {
                3 + orig.reconsume_times
            } else {
                h.delay_level
            };
            props.insert(property::DELAY, level.to_string());
            // A random queue among the group's retry queues that the topic has.
            let queues = group_cfg.retry_queue_nums.min(tc.write_queue_nums).max(1);
            (t, fastrand::i32(0..queues))
        };
        if props.get(property::ORIGIN_MESSAGE_ID).is_none() {
            let id = orig
                .uniq_key()
                .map(str::to_string)
                .unwrap_or_else(|| orig.msg_id.clone());
            props.insert(property::ORIGIN_MESSAGE_ID, id);
        }
        props.insert(property::WAIT, "false");
        let mut msg = MessageExt {
            topic,
            flag: orig.flag,
            body: orig.body.clone(),
            properties: props,
            queue_id,
            sys_flag: orig.sys_flag,
            born_timestamp: orig.born_timestamp,
            born_host: orig.born_host,
            store_host: self.store_host,
            reconsume_times: orig.reconsume_times + 1,
            ..Default::default()
        };
        apply_delay(self.delay_levels, self.rt.clock().now_ms(), &mut msg);
        let stored_topic = msg.topic.clone();
        let started = std::time::Instant::now();
        match self.store.put_message(msg).await {
            Ok(r) => {
                let origin = h.origin_topic.as_deref().unwrap_or(&orig.topic);
                self.stats.on_send_back(&h.group, origin);
                self.stats.on_put(
                    &stored_topic,
                    1,
                    r.store_size.max(0) as u64,
                    started.elapsed(),
                );
                super::success()
            }
            Err(e) => {
                self.stats.on_put_failed();
                put_error(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rocketmq_rs_remoting::protocol::codec::{encode_frame, encode_frame_with};
    use rocketmq_rs_remoting::protocol::header::{
        CommandHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
    };
    use rocketmq_rs_remoting::protocol::message::offset_msg_id;
    use rocketmq_rs_remoting::protocol::SerializeType;

    fn put(commit_log_offset: i64, queue_offset: i64) -> PutResult {
        PutResult {
            status: PutStatus::Ok,
            msg_id: crate::store::OffsetMsgId::new(
                "10.0.0.1:10911".parse().unwrap(),
                commit_log_offset,
            ),
            queue_offset,
            commit_log_offset: 0,
            store_size: 0,
            store_timestamp: 0,
        }
    }

    #[test]
    fn response_matches_typed_header() {
        let long_uniq = "7F00000100002A9F0000000000002A3F7F00000100002A9F0000000000002A3F";
        for (uniq, ids) in [
            (Some("U1".to_string()), vec![(0x100, 7)]),
            (
                Some("0A0000010F2C18B4AAC27E8F1A2B0000".to_string()),
                vec![(0x100, 7)],
            ),
            (Some(long_uniq.to_string()), vec![(0x200, 9)]),
            (Some("\"\u{1}é".to_string()), vec![(0x200, 9)]),
            (None, vec![(0x100, -1), (0x4000, 8)]),
            (None, vec![]),
        ] {
            let region: Arc<str> = Arc::from("DefaultRegion");
            let got = send_response(
                PutStatus::Ok,
                ids.iter().map(|&(i, o)| put(i, o)),
                3,
                uniq.as_deref(),
                &region,
            );
            assert!(got.has_fields());
            let got = got.into_command();
            let want = RemotingCommand::response(ResponseCode::SUCCESS, None).with_header(
                &SendMessageResponseHeader {
                    msg_id: ids
                        .iter()
                        .map(|x| offset_msg_id("10.0.0.1:10911".parse().unwrap(), x.0))
                        .collect::<Vec<_>>()
                        .join(","),
                    queue_id: 3,
                    queue_offset: ids.first().map_or(0, |x| x.1),
                    transaction_id: uniq.clone(),
                    batch_uniq_id: None,
                    recall_handle: None,
                    msg_region: Some("DefaultRegion".into()),
                    trace_on: Some(true),
                },
            );
            assert_eq!(got.code, want.code);
            let g: Vec<_> = got.ext_fields.iter().collect();
            let w: Vec<_> = want.ext_fields.iter().collect();
            assert_eq!(g, w);
            // Written straight into the frame, the header gives the bytes the map gives, in
            // both header encodings.
            for st in [SerializeType::Json, SerializeType::RocketMq] {
                let (bare, fields) = send_reply(
                    PutStatus::Ok,
                    ids.iter().map(|&(i, o)| put(i, o)),
                    3,
                    uniq.as_deref(),
                    &region,
                );
                let bare = bare.with_opaque(77).with_serialize_type(st);
                let (mut direct, mut mapped) = (BytesMut::new(), BytesMut::new());
                encode_frame_with(&bare, &fields, &mut direct).unwrap();
                let mut want = want.clone().with_opaque(77).with_serialize_type(st);
                want.version = bare.version;
                encode_frame(&want, &mut mapped).unwrap();
                assert_eq!(direct, mapped, "{st:?} {uniq:?}");
            }
        }
    }

    fn v2_ext(pairs: &[(&str, &str)]) -> ExtFields {
        let mut ext = ExtFields::new();
        for (k, v) in pairs {
            ext.insert(*k, *v);
        }
        ext
    }

    const FULL: [(&str, &str); 13] = [
        ("a", "pg"),
        ("b", "T"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", " 2 "),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "WAIT\u{1}true\u{2}"),
        ("j", "x"),
        ("k", "false"),
        ("l", "16"),
        ("m", "1"),
    ];

    #[test]
    fn v2_view_matches_owned_header() {
        let ext = v2_ext(&FULL);
        let owned: SendMessageRequestHeader =
            SendMessageRequestHeaderV2::read_from(&ext).unwrap().into();
        assert_eq!(
            SendHeader::from_v2(&ext).unwrap(),
            SendHeader::from_v1(&owned)
        );
        // Same error, field by field, as the owned decoding.
        for (drop, (name, _)) in FULL.iter().enumerate() {
            let mut pairs = FULL.to_vec();
            pairs.remove(drop);
            let ext = v2_ext(&pairs);
            let want = SendMessageRequestHeaderV2::read_from(&ext).map(|_| ());
            let got = SendHeader::from_v2(&ext).map(|_| ());
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "without {name}");
        }
        // Numbers: the shortcut and the general rule agree on values and errors.
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            " 7",
            "+7",
            "07",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999999999999",
            "9999999999999999999",
            "-",
            "",
            "1x",
            "١",
        ] {
            let mut pairs = FULL.to_vec();
            pairs[4].1 = n;
            pairs[6].1 = n;
            pairs[9].1 = n;
            let ext = v2_ext(&pairs);
            let owned =
                SendMessageRequestHeaderV2::read_from(&ext).map(SendMessageRequestHeader::from);
            let got = SendHeader::from_v2(&ext);
            match (&owned, &got) {
                (Ok(o), Ok(g)) => assert_eq!(*g, SendHeader::from_v1(o), "{n:?}"),
                (Err(o), Err(g)) => assert_eq!(o.to_string(), g.to_string(), "{n:?}"),
                _ => panic!("{n:?}: {owned:?} vs {got:?}"),
            }
        }
        for b in ["true", "false", "TRUE", " true", "1", "0", "x"] {
            let mut pairs = FULL.to_vec();
            pairs[12].1 = b;
            let ext = v2_ext(&pairs);
            let owned: SendMessageRequestHeader =
                SendMessageRequestHeaderV2::read_from(&ext).unwrap().into();
            assert_eq!(
                SendHeader::from_v2(&ext).unwrap().batch,
                owned.batch,
                "{b:?}"
            );
        }
        let mut bad = FULL.to_vec();
        bad[6].1 = "soon";
        let ext = v2_ext(&bad);
        assert_eq!(
            SendHeader::from_v2(&ext).unwrap_err().to_string(),
            SendMessageRequestHeaderV2::read_from(&ext)
                .unwrap_err()
                .to_string()
        );
    }

    /// The decoding way: what the send path stores for `s` when it decodes it.
    fn decoded_then_encoded(s: &str, generated_uniq: &str) -> Vec<u8> {
        let mut props = decode_send_properties(s);
        if props
            .get(property::UNIQ_KEY)
            .filter(|k| !k.is_empty())
            .is_none()
        {
            props.insert(property::UNIQ_KEY, generated_uniq);
        }
        props.insert(property::CLUSTER, "DefaultCluster");
        props.insert(property::MSG_REGION, "DefaultRegion");
        props.insert(property::TRACE_SWITCH, TRACE_ON);
        rocketmq_rs_remoting::protocol::message::encode_properties(&props).into_bytes()
    }

    fn check_as_received(s: &str) -> bool {
        let Some(found) = scan_received(s) else {
            return false;
        };
        // Whatever the scan takes round-trips through the map (a batch entry's check).
        let decoded = decode_send_properties(s);
        let mut again = rocketmq_rs_remoting::protocol::message::encode_properties(&decoded);
        if !s.is_empty() && !s.ends_with('\u{2}') {
            again.pop();
        }
        assert_eq!(again, s, "{s:?}");
        if found.rewritten {
            return false;
        }
        let decoded = decode_send_properties(s);
        assert_eq!(found.uniq_key, decoded.get(property::UNIQ_KEY), "{s:?}");
        assert_eq!(found.wait, decoded.get(property::WAIT), "{s:?}");
        for rewritten in [
            property::DELAY,
            property::TIMER_DELIVER_MS,
            property::TIMER_DELAY_SEC,
            property::TIMER_DELAY_MS,
            property::TRANSACTION_PREPARED,
        ] {
            assert_eq!(decoded.get(rewritten), None, "{s:?}");
        }
        let generated = found.uniq_key.is_none().then_some("GENERATED");
        assert_eq!(
            stored_properties(s, generated, "DefaultCluster", "DefaultRegion"),
            decoded_then_encoded(s, "GENERATED"),
            "{s:?}"
        );
        true
    }

    #[test]
    fn as_received_properties_store_what_decoding_would() {
        let taken = [
            "",
            "WAIT\u{1}true\u{2}UNIQ_KEY\u{1}AB\u{2}",
            "UNIQ_KEY\u{1}AB\u{2}WAIT\u{1}false",
            "TAGS\u{1}a\u{2}KEYS\u{1}k1 k2\u{2}user\u{1}v\u{1}w\u{2}",
            "\u{e9}\u{1}\u{fc}\u{2}k\u{1}\u{1F600}\u{2}",
        ];
        for s in taken {
            assert!(check_as_received(s), "{s:?} should be stored as received");
        }
        let decoded = [
            "\u{2}",
            "\u{1}",
            "A\u{1}1\u{2}A\u{1}2\u{2}",
            "A\u{1}\u{2}",
            "\u{1}x\u{2}",
            "NOSEP\u{2}K\u{1}v\u{2}",
            "K\u{1}v\u{2}\u{2}",
            "DELAY\u{1}3\u{2}",
            "TIMER_DELAY_SEC\u{1}3\u{2}",
            "TRAN_MSG\u{1}true\u{2}",
            "CLUSTER\u{1}c\u{2}",
            "MSG_REGION\u{1}r\u{2}",
            "TRACE_ON\u{1}false\u{2}",
        ];
        for s in decoded {
            assert!(!check_as_received(s), "{s:?} must be decoded");
        }
        let many: String = (0..RECEIVED_MAX_PAIRS + 1)
            .map(|i| format!("k{i}\u{1}v\u{2}"))
            .collect();
        assert!(!check_as_received(&many));
        // Random strings over the characters that matter: whatever the scan takes must
        // store exactly what the decoding way stores.
        let mut rng = fastrand::Rng::with_seed(21);
        let alphabet = ["\u{1}", "\u{2}", "a", "b", "WAIT", "UNIQ_KEY", "DELAY", "x"];
        let mut taken = 0;
        for _ in 0..20_000 {
            let s: String = (0..rng.usize(0..12))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            taken += usize::from(check_as_received(&s));
        }
        assert!(
            taken > 100,
            "only {taken} random strings were taken as received"
        );
    }

    #[test]
    fn split_batch_agrees_with_decode_batch() {
        use rocketmq_rs_remoting::protocol::message::{encode_batch, BatchMessage};
        let mut msgs = Vec::new();
        for i in 0..4 {
            let mut m = BatchMessage::new(format!("body {i}"));
            m.flag = i;
            if i % 2 == 0 {
                m.properties.insert(property::UNIQ_KEY, format!("U{i}"));
                m.properties.insert(property::TAGS, "t");
            }
            msgs.push(m);
        }
        let good = encode_batch(&msgs).unwrap();
        let mut bodies = vec![good.clone(), Bytes::new()];
        // Every truncation, and a negative length in each length field.
        for cut in 0..good.len() {
            bodies.push(good.slice(..cut));
        }
        for at in [16, 17, 18 + "body 0".len() + 2] {
            let mut b = good.to_vec();
            let at = at.min(b.len() - 1);
            b[at] = 0xFF;
            bodies.push(Bytes::from(b));
        }
        for body in bodies {
            let split = split_batch(&body);
            match decode_batch(body.clone()) {
                Ok(want) => {
                    let got = split.expect("decode_batch took it");
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!((g.flag, &g.body), (w.flag, &w.body));
                        assert_eq!(decode_properties_bytes(&g.properties), w.properties);
                    }
                }
                Err(_) => assert!(split.is_none(), "{body:?}"),
            }
        }
    }

    #[test]
    fn send_properties_match_decode_properties() {
        for s in [
            "",
            "WAIT\u{1}true\u{2}UNIQ_KEY\u{1}AB\u{2}",
            "A\u{1}1\u{2}\u{1}x\u{2}E\u{1}\u{2}A\u{1}2\u{2}B\u{1}3",
            "NOSEP\u{2}\u{2}K\u{1}v\u{1}w",
            "\u{2}",
            "\u{1}",
            "\u{e9}\u{1}\u{fc}\u{2}k\u{1}\u{1F600}\u{2}",
        ] {
            let got = decode_send_properties(s);
            let want = decode_properties(s);
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                want.iter().collect::<Vec<_>>(),
                "{s:?}"
            );
        }
    }
}
