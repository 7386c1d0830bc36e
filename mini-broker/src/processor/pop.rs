//! RocketMQ 5.x POP consumption (docs/protocol/pop.md): POP_MESSAGE (200050), ACK_MESSAGE
//! (200051), BATCH_ACK_MESSAGE (200151), CHANGE_MESSAGE_INVISIBLETIME (200053), NOTIFICATION
//! (200054), POLLING_INFO (200055), and the revive task that brings unacked messages back.
//!
//! The group's offset on a normal queue advances when a pop's checkpoint is stored, not on
//! ack; redelivery goes through the POP retry topic `%RETRY%<group>_<topic>`, which pops read
//! first one time in five and otherwise after the normal queues (as Apache).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::body::{JsonBody, SubscriptionData, SubscriptionGroupConfig};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::protocol::message::{decode_message, encode_message_into, property};
use rocketmq_rs_remoting::protocol::pop::{
    pop_retry_topic_v1, BatchAckMessageRequestBody, OffsetInfoBuilder, ReceiptHandle, RetryFlag,
    INIT_MODE_MAX, MAX_POP_NUMS, ORDER_REVIVE_QID,
};
use rocketmq_rs_remoting::protocol::topic::dlq_topic;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime, TaskGroup};
use rocketmq_rs_remoting::util::MutexExt;

use super::{header, reply, success, Wiring};
use crate::client_manager::normalize_subscription;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::pop::{
    AckRecord, BatchAckRecord, CheckPoint, OrderInfo, PopTables, PopWaiters, REVIVE_GROUP,
};
use crate::store::{GetStatus, MessageStore};
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::{TopicTable, PERM_READ, PERM_WRITE};

/// Apache `popFromRetryProbability`: percent of pops that read the retry topic first.
const POP_FROM_RETRY_PERCENT: u32 = 20;
/// How soon a pop that found a queue busy with another pop looks again.
const BUSY_RETRY_MS: u64 = 2;
/// How often the revive task looks for expired checkpoints (Apache `reviveInterval`).
const REVIVE_INTERVAL: Duration = Duration::from_millis(1000);
/// A pop whose budget ran out this long ago (client clock skew included) is refused.
const POP_LATE_MS: i64 = 500;

/// The POP handlers; cheap to clone (the revive task holds a clone).
#[derive(Clone)]
pub(crate) struct PopProcessor {
    store: MessageStore,
    topics: TopicTable,
    offsets: Arc<ConsumerOffsetManager>,
    groups: SubscriptionGroups,
    tables: Arc<PopTables>,
    waiters: Arc<PopWaiters>,
    rt: Arc<dyn Runtime>,
    tasks: TaskGroup,
    broker_name: String,
    store_host: SocketAddr,
}

/// What one pass over the queues found.
#[derive(Default)]
struct Popped {
    records: Vec<Bytes>,
    infos: OffsetInfoBuilder,
    rest: i64,
    /// Some queue was skipped because another pop held it (Apache then tries again soon).
    skipped_busy: bool,
}

/// Queue offsets of stored records (bytes 20..28 of each record).
fn queue_offset_of(rec: &[u8]) -> i64 {
    rec.get(20..28)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(i64::from_be_bytes)
        .unwrap_or(-1)
}

fn pop_header(
    pop_time: i64,
    h: &PopMessageRequestHeader,
    revive_qid: i32,
    p: &Popped,
) -> PopMessageResponseHeader {
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    PopMessageResponseHeader {
        pop_time,
        invisible_time: h.invisible_time,
        revive_qid,
        rest_num: p.rest,
        start_offset_info: opt(&p.infos.start_offset_info),
        msg_offset_info: opt(&p.infos.msg_offset_info),
        order_count_info: opt(&p.infos.order_count_info),
    }
}

impl PopProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        let p = PopProcessor {
            store: w.store.clone(),
            topics: w.topics.clone(),
            offsets: Arc::clone(w.offsets),
            groups: w.groups.clone(),
            tables: Arc::clone(w.pop_tables),
            waiters: Arc::clone(w.pop_waiters),
            rt: Arc::clone(w.rt),
            tasks: w.tasks.clone(),
            broker_name: w.cfg.broker_name.clone(),
            store_host: w.store_host,
        };
        // A slave's log is its master's copy: only a master revives.
        if w.cfg.broker_role.is_master() {
            w.tasks.spawn(p.clone().revive_loop());
        }
        p
    }

    /// Topic, queue and group checks shared by the POP commands; the topic's read queue count.
    // The Err is the ready-made response.
    #[allow(clippy::result_large_err)]
    async fn check(
        &self,
        topic: &str,
        queue_id: i32,
        group: &str,
    ) -> Result<(i32, Arc<SubscriptionGroupConfig>), RemotingCommand> {
        let Some(tc) = self.topics.get(topic) else {
            return Err(reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "topic[{topic}] not exist, apply first please!{}",
                    super::send_faq()
                ),
            ));
        };
        if tc.perm & PERM_READ == 0 {
            return Err(reply(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{topic}] peeking message is forbidden"),
            ));
        }
        if queue_id >= tc.read_queue_nums {
            return Err(reply(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}] consumer:[{group}]",
                    tc.read_queue_nums
                ),
            ));
        }
        let Some(gc) = self.groups.find(group).await else {
            return Err(reply(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!(
                    "subscription group [{group}] does not exist, {}",
                    super::send_faq()
                ),
            ));
        };
        if !gc.consume_enable {
            return Err(reply(
                ResponseCode::NO_PERMISSION,
                format!("subscription group no permission, {group}"),
            ));
        }
        Ok((tc.read_queue_nums, gc))
    }

    /// The queues a request covers: one, or all readable ones from a random start.
    fn queues(queue_id: i32, read_queue_nums: i32) -> Vec<i32> {
        if queue_id >= 0 {
            return vec![queue_id];
        }
        let n = read_queue_nums.max(0);
        if n == 0 {
            return Vec::new();
        }
        let start = fastrand::i32(0..n);
        (0..n).map(|i| (start + i) % n).collect()
    }

    /// The group's offset in a queue, initialised (and committed) as Apache does when absent:
    /// the min offset, or with `initMode` MAX the last message (0 while the queue was never
    /// trimmed). Retry topics always start at the min.
    fn pop_offset(&self, topic: &str, group: &str, qid: i32, init_mode: i32, retry: bool) -> i64 {
        if let Some(o) = self.offsets.query(group, topic, qid) {
            return o;
        }
        let min = self.store.min_offset(topic, qid);
        let o = if init_mode == INIT_MODE_MAX && !retry && min > 0 {
            (self.store.max_offset(topic, qid) - 1).max(min)
        } else {
            min
        };
        self.offsets.commit(group, topic, qid, o);
        o
    }

    /// POP_MESSAGE: read now; with a poll time, park until something arrives or time is up.
    pub(crate) async fn pop(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: PopMessageRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let now = self.rt.clock().now_ms();
        if h.born_time > 0 && h.poll_time > 0 && now - h.born_time - h.poll_time > POP_LATE_MS {
            return reply(
                ResponseCode::POLLING_TIMEOUT,
                format!(
                    "the broker[{}] pop message is timeout too much",
                    self.store_host.ip()
                ),
            );
        }
        if h.max_msg_nums > MAX_POP_NUMS {
            return reply(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "the broker[{}] pop message's num is greater than 32",
                    self.store_host.ip()
                ),
            );
        }
        let (read_queues, _) = match self.check(&h.topic, h.queue_id, &h.consumer_group).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let expr_type = h
            .exp_type
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "TAG".into());
        if !expr_type.eq_ignore_ascii_case("TAG") {
            return reply(
                ResponseCode::SUBSCRIPTION_PARSE_FAILED,
                "parse the consumer's subscription failed",
            );
        }
        let sub = normalize_subscription(SubscriptionData {
            topic: h.topic.clone(),
            sub_string: h
                .exp
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "*".into()),
            expression_type: expr_type,
            ..Default::default()
        });
        let codes: Option<Arc<Vec<i64>>> = (sub.sub_string != "*" && !sub.code_set.is_empty())
            .then(|| Arc::new(sub.code_set.iter().map(|c| i64::from(*c)).collect()));
        let deadline = now + h.poll_time.max(0);
        loop {
            let pop_time = self.rt.clock().now_ms();
            let order = h.is_order();
            let revive_qid = if order {
                ORDER_REVIVE_QID
            } else {
                self.tables.next_revive_qid()
            };
            let popped = self
                .pop_once(&h, read_queues, codes.clone(), pop_time, revive_qid)
                .await;
            let popped = match popped {
                Ok(p) => p,
                Err(r) => return r,
            };
            let hdr = pop_header(pop_time, &h, revive_qid, &popped);
            if !popped.records.is_empty() {
                let mut body = BytesMut::with_capacity(popped.records.iter().map(Bytes::len).sum());
                for r in &popped.records {
                    body.extend_from_slice(r);
                }
                return RemotingCommand::response(ResponseCode::SUCCESS, None)
                    .with_header(&hdr)
                    .with_body(body.freeze());
            }
            let left = deadline - self.rt.clock().now_ms();
            if left <= 0 || self.tasks.signal().is_triggered() {
                return RemotingCommand::response(
                    ResponseCode::POLLING_TIMEOUT,
                    Some("NO_MESSAGE_IN_QUEUE".into()),
                )
                .with_header(&hdr);
            }
            if popped.skipped_busy {
                // Another pop holds a queue for one read and one checkpoint write: look again
                // very soon rather than park. (20 ms here cost consumers sharing a queue most
                // of their throughput.)
                self.rt
                    .sleep(Duration::from_millis(BUSY_RETRY_MS.min(left as u64)))
                    .await;
                continue;
            }
            let Some((id, rx)) = self.waiters.park(&h.topic, &h.consumer_group, h.queue_id) else {
                return RemotingCommand::response(
                    ResponseCode::POLLING_FULL,
                    Some("POLLING_FULL".into()),
                )
                .with_header(&hdr);
            };
            self.wait(id, rx, left).await;
        }
    }

    /// Waits for a wake-up, the deadline or the broker's stop.
    async fn wait(&self, id: u64, rx: futures::channel::oneshot::Receiver<()>, left_ms: i64) {
        let sleep = self.rt.sleep(Duration::from_millis(left_ms.max(1) as u64));
        let stop = self.tasks.signal().wait();
        match select(rx, select(sleep, stop)).await {
            Either::Left(_) => {}
            Either::Right(_) => self.waiters.cancel(id),
        }
    }

    async fn pop_once(
        &self,
        h: &PopMessageRequestHeader,
        read_queues: i32,
        codes: Option<Arc<Vec<i64>>>,
        pop_time: i64,
        revive_qid: i32,
    ) -> Result<Popped, RemotingCommand> {
        let mut p = Popped::default();
        let order = h.is_order();
        let retry_topic = pop_retry_topic_v1(&h.topic, &h.consumer_group);
        let has_retry = !order && self.topics.get(&retry_topic).is_some();
        let retry_first = has_retry && fastrand::u32(0..100) < POP_FROM_RETRY_PERCENT;
        if retry_first {
            self.pop_queue(h, &retry_topic, 0, None, pop_time, revive_qid, &mut p)
                .await?;
        }
        for qid in Self::queues(h.queue_id, read_queues) {
            if p.records.len() >= h.max_msg_nums.max(1) as usize {
                break;
            }
            self.pop_queue(
                h,
                &h.topic,
                qid,
                codes.clone(),
                pop_time,
                revive_qid,
                &mut p,
            )
            .await?;
        }
        if has_retry && !retry_first && p.records.len() < h.max_msg_nums.max(1) as usize {
            self.pop_queue(h, &retry_topic, 0, None, pop_time, revive_qid, &mut p)
                .await?;
        }
        Ok(p)
    }

    /// Pops one queue (`real_topic` is the topic or its POP retry topic) into `p`.
    #[allow(clippy::too_many_arguments)]
    async fn pop_queue(
        &self,
        h: &PopMessageRequestHeader,
        real_topic: &str,
        qid: i32,
        codes: Option<Arc<Vec<i64>>>,
        pop_time: i64,
        revive_qid: i32,
        p: &mut Popped,
    ) -> Result<(), RemotingCommand> {
        let group = &h.consumer_group;
        let retry = RetryFlag::of_topic(real_topic);
        let order = h.is_order();
        let okey = format!("{real_topic}@{group}@{qid}");
        let Some(_guard) = self.tables.try_lock_queue(okey.clone()) else {
            p.skipped_busy = true;
            return Ok(());
        };
        let mut offset = self.pop_offset(
            real_topic,
            group,
            qid,
            h.init_mode,
            retry != RetryFlag::Normal,
        );
        let mut carried: std::collections::HashMap<i64, i32> = Default::default();
        if order {
            let st = self.tables.state.lock_unpoisoned();
            if let Some(oi) = st.order.get(&okey) {
                let same_attempt = h.attempt_id.is_some() && h.attempt_id == oi.attempt_id;
                if oi.first_unacked().is_some() {
                    if oi.blocks(pop_time) && !same_attempt {
                        return Ok(());
                    }
                    // Re-read the unacked rest of the batch; each offset counts one more delivery.
                    offset = oi.first_unacked().unwrap_or(offset);
                    for o in oi.offsets.iter().filter(|o| !oi.acked.contains(o)) {
                        let c = oi.counts.get(o).copied().unwrap_or(0);
                        carried.insert(*o, if same_attempt { c } else { c + 1 });
                    }
                }
            }
        }
        let want = (h.max_msg_nums.max(1) as usize).saturating_sub(p.records.len());
        let store = self.store.clone();
        let topic = real_topic.to_owned();
        let r = rt::run_blocking(&*self.rt, move || {
            let filter = codes
                .as_ref()
                .map(|codes| move |tag: i64| codes.contains(&(tag as i32 as i64)));
            let f: Option<&dyn Fn(i64) -> bool> =
                filter.as_ref().map(|f| f as &dyn Fn(i64) -> bool);
            store.get_messages(&topic, qid, offset, want, usize::MAX, f)
        })
        .await
        .map_err(|e| reply(ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        match r.status {
            GetStatus::Found => {}
            GetStatus::NoMatchedMessage => {
                // Everything scanned was filtered out: move past it.
                if !order {
                    self.offsets
                        .commit(group, real_topic, qid, r.next_begin_offset);
                }
                p.rest += (r.max_offset - r.next_begin_offset).max(0);
                return Ok(());
            }
            GetStatus::OffsetTooSmall
            | GetStatus::OffsetOverflowBadly
            | GetStatus::OffsetFoundNull => {
                // Apache corrects a popped offset that left the queue's range silently.
                self.offsets
                    .commit(group, real_topic, qid, r.next_begin_offset);
                p.rest += (r.max_offset - r.next_begin_offset).max(0);
                return Ok(());
            }
            _ => {
                p.rest += (r.max_offset - offset).max(0);
                return Ok(());
            }
        }
        let offsets: Vec<i64> = r.messages.iter().map(|m| queue_offset_of(m)).collect();
        p.rest += (r.max_offset - r.next_begin_offset).max(0);
        if order {
            let counts: std::collections::HashMap<i64, i32> = offsets
                .iter()
                .map(|o| (*o, carried.get(o).copied().unwrap_or(0)))
                .collect();
            let min_count = counts.values().copied().min().unwrap_or(0);
            for o in &offsets {
                let c = counts[o];
                if c > 0 {
                    p.infos.add_offset_count(retry, qid, *o, c);
                }
            }
            p.infos.add_queue_count(retry, qid, min_count);
            let oi = OrderInfo {
                pop_time,
                attempt_id: h.attempt_id.clone(),
                visible_at: offsets
                    .iter()
                    .map(|o| (*o, pop_time + h.invisible_time))
                    .collect(),
                offsets: offsets.clone(),
                acked: Default::default(),
                counts,
            };
            self.tables.state.lock_unpoisoned().order.insert(okey, oi);
            // The committed offset stays at the batch start until the batch is acked.
            self.offsets.commit(group, real_topic, qid, offset);
        } else {
            let ck = CheckPoint {
                start_offset: offset,
                pop_time,
                invisible_time: h.invisible_time,
                bit_map: 0,
                num: offsets.len() as i32,
                queue_id: qid,
                topic: real_topic.to_owned(),
                cid: group.clone(),
                revive_offset: 0,
                queue_offset_diff: offsets.iter().map(|o| (o - offset) as i32).collect(),
                broker_name: self.broker_name.clone(),
            };
            let put = self
                .store
                .put_message(self.stamp(self.tables.ck_message(&ck, revive_qid)))
                .await;
            let put = match put {
                Ok(put) => put,
                // Nothing was handed out: the offset stays, the messages are popped again.
                Err(e) => {
                    tracing::warn!(error = %e, topic = real_topic, qid, "cannot store a POP checkpoint");
                    return Ok(());
                }
            };
            self.tables.open(ck, revive_qid, put.queue_offset);
            self.offsets
                .commit(group, real_topic, qid, r.next_begin_offset);
        }
        p.infos.add_queue(retry, qid, offset, &offsets);
        if retry == RetryFlag::Normal {
            p.records.extend(r.messages);
        } else {
            for (rec, off) in r.messages.iter().zip(&offsets) {
                p.records.push(self.as_original(
                    rec,
                    &h.topic,
                    ReceiptHandle {
                        ck_queue_offset: offset,
                        pop_time,
                        invisible_time: h.invisible_time,
                        revive_qid,
                        retry,
                        broker_name: self.broker_name.clone(),
                        queue_id: qid,
                        queue_offset: *off,
                    },
                ));
            }
        }
        Ok(())
    }

    /// A record read from a POP retry topic, re-encoded under the original topic and carrying
    /// its receipt (clients cannot build it: their key would name the normal topic).
    fn as_original(&self, rec: &Bytes, topic: &str, receipt: ReceiptHandle) -> Bytes {
        let mut b = rec.clone();
        let Ok(mut m) = decode_message(&mut b, true, false) else {
            return rec.clone();
        };
        m.topic = topic.to_owned();
        m.put_property(property::POP_CK, receipt.to_string());
        let mut out = BytesMut::new();
        match encode_message_into(&m, &mut out) {
            Ok(()) => out.freeze(),
            Err(_) => rec.clone(),
        }
    }

    fn stamp(&self, mut m: MessageExt) -> MessageExt {
        m.born_host = self.store_host;
        m.store_host = self.store_host;
        m
    }

    /// Offset range check of ACK and CHANGE (Apache answers NO_MESSAGE outside it).
    fn in_range(&self, topic: &str, qid: i32, offset: i64, max_inclusive: bool) -> bool {
        let (min, max) = (
            self.store.min_offset(topic, qid),
            self.store.max_offset(topic, qid),
        );
        offset >= min && (offset < max || (max_inclusive && offset == max))
    }

    /// Topic and queue checks of ACK and CHANGE.
    #[allow(clippy::result_large_err)]
    fn check_ack_target(&self, topic: &str, qid: i32, group: &str) -> Result<(), RemotingCommand> {
        let Some(tc) = self.topics.get(topic) else {
            return Err(reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "topic[{topic}] not exist, apply first please!{}",
                    super::send_faq()
                ),
            ));
        };
        if qid < 0 || qid >= tc.read_queue_nums {
            return Err(reply(
                ResponseCode::MESSAGE_ILLEGAL,
                format!(
                    "queueId[{qid}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}] consumer:[{group}]",
                    tc.read_queue_nums
                ),
            ));
        }
        Ok(())
    }

    /// ACK_MESSAGE.
    pub(crate) async fn ack(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: AckMessageRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Err(r) = self.check_ack_target(&h.topic, h.queue_id, &h.consumer_group) {
            return r;
        }
        if !self.in_range(&h.topic, h.queue_id, h.offset, true) {
            return reply(
                ResponseCode::NO_MESSAGE,
                format!(
                    "offset is illegal, key:{}@{}, commit:{}, store:{}~{}",
                    h.topic,
                    h.queue_id,
                    h.offset,
                    self.store.min_offset(&h.topic, h.queue_id),
                    self.store.max_offset(&h.topic, h.queue_id)
                ),
            );
        }
        let receipt: ReceiptHandle = match h.extra_info.parse() {
            Ok(r) => r,
            Err(e) => return reply(ResponseCode::INVALID_PARAMETER, e.to_string()),
        };
        self.ack_one(&h.consumer_group, &h.topic, h.queue_id, h.offset, &receipt)
            .await
    }

    async fn ack_one(
        &self,
        group: &str,
        real_topic: &str,
        qid: i32,
        offset: i64,
        r: &ReceiptHandle,
    ) -> RemotingCommand {
        if r.is_order() {
            return self.ack_orderly(group, real_topic, qid, offset, r.pop_time);
        }
        let key = PopTables::key_of(
            real_topic,
            qid,
            r.ck_queue_offset,
            group,
            r.pop_time,
            &r.broker_name,
        );
        // Acks of revived, closed or unknown checkpoints change nothing (Apache ignores them
        // too); only those that do are written.
        let Some(revive_qid) = self.tables.ack_applies(&key, offset) else {
            return success();
        };
        let rec = AckRecord {
            ack_offset: offset,
            start_offset: r.ck_queue_offset,
            consumer_group: group.to_owned(),
            topic: real_topic.to_owned(),
            queue_id: qid,
            pop_time: r.pop_time,
            broker_name: r.broker_name.clone(),
        };
        match self
            .store
            .put_message(self.stamp(self.tables.ack_message(&rec, revive_qid)))
            .await
        {
            Ok(_) => {
                self.tables.ack(&key, offset);
                success()
            }
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, format!("put ack msg error:{e}")),
        }
    }

    /// The acks of several offsets of one checkpoint as one `bAck` record (one store write
    /// for a whole batch, as Apache's BATCH_ACK_MESSAGE).
    async fn ack_many(
        &self,
        group: &str,
        real_topic: &str,
        qid: i32,
        offsets: &[i64],
        r: &ReceiptHandle,
    ) -> RemotingCommand {
        let key = PopTables::key_of(
            real_topic,
            qid,
            r.ck_queue_offset,
            group,
            r.pop_time,
            &r.broker_name,
        );
        let mut revive_qid = None;
        let applying: Vec<i64> = offsets
            .iter()
            .copied()
            .filter(|o| match self.tables.ack_applies(&key, *o) {
                Some(q) => {
                    revive_qid = Some(q);
                    true
                }
                None => false,
            })
            .collect();
        let Some(revive_qid) = revive_qid else {
            return success();
        };
        let rec = BatchAckRecord {
            ack: AckRecord {
                ack_offset: applying[0],
                start_offset: r.ck_queue_offset,
                consumer_group: group.to_owned(),
                topic: real_topic.to_owned(),
                queue_id: qid,
                pop_time: r.pop_time,
                broker_name: r.broker_name.clone(),
            },
            ack_offset_list: applying.clone(),
        };
        match self
            .store
            .put_message(self.stamp(self.tables.batch_ack_message(&rec, revive_qid)))
            .await
        {
            Ok(_) => {
                for o in applying {
                    self.tables.ack(&key, o);
                }
                success()
            }
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, format!("put ack msg error:{e}")),
        }
    }

    fn ack_orderly(
        &self,
        group: &str,
        topic: &str,
        qid: i32,
        offset: i64,
        pop_time: i64,
    ) -> RemotingCommand {
        let key = format!("{topic}@{group}@{qid}");
        let committed = self.offsets.query(group, topic, qid).unwrap_or(0);
        if offset < committed {
            return success();
        }
        let next = {
            let mut st = self.tables.state.lock_unpoisoned();
            let Some(oi) = st.order.get_mut(&key) else {
                return success();
            };
            if oi.pop_time != pop_time {
                return success();
            }
            if !oi.offsets.contains(&offset) {
                return reply(
                    ResponseCode::MESSAGE_ILLEGAL,
                    format!("offset is illegal, key:{key}, old:{committed}, commit:{offset}, next:{offset}, {topic}"),
                );
            }
            oi.acked.insert(offset);
            let next = oi
                .first_unacked()
                .unwrap_or_else(|| oi.offsets.last().copied().unwrap_or(offset) + 1);
            if oi.first_unacked().is_none() {
                st.order.remove(&key);
            }
            next
        };
        self.offsets.commit(group, topic, qid, next);
        self.waiters.notify_group(topic, group);
        success()
    }

    /// BATCH_ACK_MESSAGE.
    pub(crate) async fn batch_ack(&self, req: &RemotingCommand) -> RemotingCommand {
        let body = match BatchAckMessageRequestBody::from_json(&req.body) {
            Ok(b) if !b.acks.is_empty() => b,
            _ => return reply(ResponseCode::NO_MESSAGE, "no ack message"),
        };
        for a in &body.acks {
            let Some(retry) = RetryFlag::parse(&a.retry) else {
                continue;
            };
            let real = retry.real_topic(&a.topic, &a.consumer_group);
            let r = ReceiptHandle {
                ck_queue_offset: a.start_offset,
                pop_time: a.pop_time,
                invisible_time: a.invisible_time,
                revive_qid: a.revive_queue_id,
                retry,
                broker_name: body.broker_name.clone(),
                queue_id: a.queue_id,
                queue_offset: a.start_offset,
            };
            // Apache skips offsets out of range and unknown queues silently here.
            if self.topics.get(&real).is_none() {
                continue;
            }
            let offsets: Vec<i64> = a
                .offsets()
                .into_iter()
                .filter(|off| self.in_range(&real, a.queue_id, *off, true))
                .collect();
            if r.is_order() {
                for off in offsets {
                    let resp = self
                        .ack_one(&a.consumer_group, &real, a.queue_id, off, &r)
                        .await;
                    if resp.code != ResponseCode::SUCCESS {
                        tracing::debug!(code = resp.code, remark = ?resp.remark, "batch ack entry refused");
                    }
                }
                continue;
            }
            let resp = self
                .ack_many(&a.consumer_group, &real, a.queue_id, &offsets, &r)
                .await;
            if resp.code != ResponseCode::SUCCESS {
                tracing::debug!(code = resp.code, remark = ?resp.remark, "batch ack entry refused");
            }
        }
        success()
    }

    /// CHANGE_MESSAGE_INVISIBLETIME: a new checkpoint for that one message, then an ack of the
    /// old one (orderly: a new visibility time for the offset).
    pub(crate) async fn change_invisible(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ChangeInvisibleTimeRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Err(r) = self.check_ack_target(&h.topic, h.queue_id, &h.consumer_group) {
            return r;
        }
        if !self.in_range(&h.topic, h.queue_id, h.offset, false) {
            return RemotingCommand::response(ResponseCode::NO_MESSAGE, None);
        }
        let r: ReceiptHandle = match h.extra_info.parse() {
            Ok(r) => r,
            Err(e) => return reply(ResponseCode::INVALID_PARAMETER, e.to_string()),
        };
        let now = self.rt.clock().now_ms();
        if r.is_order() {
            let key = format!("{}@{}@{}", h.topic, h.consumer_group, h.queue_id);
            let committed = self
                .offsets
                .query(&h.consumer_group, &h.topic, h.queue_id)
                .unwrap_or(0);
            let mut st = self.tables.state.lock_unpoisoned();
            let hdr = match st.order.get_mut(&key) {
                Some(oi) if h.offset >= committed && oi.offsets.contains(&h.offset) => {
                    let at = now + h.invisible_time;
                    oi.visible_at.insert(h.offset, at);
                    ChangeInvisibleTimeResponseHeader {
                        pop_time: oi.pop_time,
                        invisible_time: at - oi.pop_time,
                        revive_qid: ORDER_REVIVE_QID,
                    }
                }
                _ => ChangeInvisibleTimeResponseHeader {
                    pop_time: 0,
                    invisible_time: 0,
                    revive_qid: 0,
                },
            };
            return success().with_header(&hdr);
        }
        let revive_qid = self.tables.next_revive_qid();
        // Checkpoints are keyed by topic, queue, start offset, group, pop time and broker. A
        // change in the same millisecond as the pop (a fast client; always on a virtual clock)
        // would give the new checkpoint the old one's key, and the ack of the old receipt
        // below would then close the new one: the message never came back. Apache keeps them
        // apart by revive queue; here the new checkpoint takes the next millisecond.
        let pop_time = if r.ck_queue_offset == h.offset && r.pop_time == now {
            now + 1
        } else {
            now
        };
        let ck = CheckPoint {
            start_offset: h.offset,
            pop_time,
            invisible_time: h.invisible_time,
            bit_map: 0,
            num: 1,
            queue_id: h.queue_id,
            topic: h.topic.clone(),
            cid: h.consumer_group.clone(),
            revive_offset: 0,
            queue_offset_diff: vec![0],
            broker_name: r.broker_name.clone(),
        };
        match self
            .store
            .put_message(self.stamp(self.tables.ck_message(&ck, revive_qid)))
            .await
        {
            Ok(put) => self.tables.open(ck, revive_qid, put.queue_offset),
            Err(e) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("append checkpoint error:{e}"),
                )
            }
        }
        let acked = self
            .ack_one(&h.consumer_group, &h.topic, h.queue_id, h.offset, &r)
            .await;
        if acked.code != ResponseCode::SUCCESS {
            return acked;
        }
        success().with_header(&ChangeInvisibleTimeResponseHeader {
            pop_time,
            invisible_time: h.invisible_time,
            revive_qid,
        })
    }

    /// Whether a pop of `group` would find something now in `qid` (or any queue).
    fn has_message(
        &self,
        topic: &str,
        group: &str,
        qid: i32,
        read_queues: i32,
        order: bool,
    ) -> bool {
        let now = self.rt.clock().now_ms();
        let retry = pop_retry_topic_v1(topic, group);
        if !order && self.topics.get(&retry).is_some() {
            let at = self
                .offsets
                .query(group, &retry, 0)
                .unwrap_or_else(|| self.store.min_offset(&retry, 0));
            if self.store.max_offset(&retry, 0) > at {
                return true;
            }
        }
        Self::queues(qid, read_queues).into_iter().any(|q| {
            if order {
                let key = format!("{topic}@{group}@{q}");
                if self
                    .tables
                    .state
                    .lock_unpoisoned()
                    .order
                    .get(&key)
                    .is_some_and(|oi| oi.blocks(now))
                {
                    return false;
                }
            }
            let at = self
                .offsets
                .query(group, topic, q)
                .unwrap_or_else(|| self.store.min_offset(topic, q));
            self.store.max_offset(topic, q) > at
        })
    }

    /// NOTIFICATION: whether a pop would find something, waiting up to `pollTime` for it.
    pub(crate) async fn notification(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: NotificationRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let (read_queues, _) = match self.check(&h.topic, h.queue_id, &h.consumer_group).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let order = h.order.unwrap_or(false);
        let deadline = self.rt.clock().now_ms() + h.poll_time.max(0);
        loop {
            let has = self.has_message(&h.topic, &h.consumer_group, h.queue_id, read_queues, order);
            let left = deadline - self.rt.clock().now_ms();
            if has || left <= 0 || self.tasks.signal().is_triggered() {
                return success().with_header(&NotificationResponseHeader {
                    has_msg: has,
                    polling_full: false,
                });
            }
            let Some((id, rx)) = self.waiters.park(&h.topic, &h.consumer_group, h.queue_id) else {
                return success().with_header(&NotificationResponseHeader {
                    has_msg: false,
                    polling_full: true,
                });
            };
            self.wait(id, rx, left).await;
        }
    }

    /// POLLING_INFO: POP requests parked on `topic@group@queueId`.
    pub(crate) async fn polling_info(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: PollingInfoRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Err(r) = self.check(&h.topic, h.queue_id, &h.consumer_group).await {
            return r;
        }
        let n = self.waiters.count(&h.topic, &h.consumer_group, h.queue_id);
        success().with_header(&PollingInfoResponseHeader {
            polling_num: n as i32,
        })
    }

    /// Revives expired checkpoints every [`REVIVE_INTERVAL`] until the broker stops.
    async fn revive_loop(self) {
        let stop = self.tasks.signal().clone();
        loop {
            match select(self.rt.sleep(REVIVE_INTERVAL), stop.wait()).await {
                Either::Left(_) => self.revive_round().await,
                Either::Right(_) => return,
            }
        }
    }

    /// One revive pass: copies the unacked messages of every due checkpoint to the POP retry
    /// topic (or the DLQ), closes those checkpoints and moves the revive offsets past them.
    pub(crate) async fn revive_round(&self) {
        let now = self.rt.clock().now_ms();
        let due = self.tables.due(now);
        let mut revived = 0usize;
        for (key, live) in due {
            match self.revive_one(&live).await {
                Ok(n) => {
                    revived += n;
                    self.tables.close(&key);
                }
                Err(e) => {
                    tracing::warn!(error = %e, ck = %key, "POP revive failed; will retry");
                    self.tables.retry_later(&key, now);
                }
            }
        }
        let topic = self.tables.revive_topic.clone();
        let mut moved = false;
        for (qid, floor) in self
            .tables
            .revive_floor(|q| self.store.max_offset(&topic, q))
        {
            if self.offsets.query(REVIVE_GROUP, &topic, qid) != Some(floor) && floor > 0 {
                self.offsets.commit(REVIVE_GROUP, &topic, qid, floor);
                moved = true;
            }
        }
        if revived > 0 || moved {
            // Persisted at once: a crash after a revive must not replay (and re-deliver) it.
            let offsets = Arc::clone(&self.offsets);
            if let Err(e) = rt::run_blocking(&*self.rt, move || offsets.persist()).await {
                tracing::error!(error = %e, "cannot persist revive offsets");
            }
        }
        if revived > 0 {
            tracing::debug!(revived, "POP messages revived");
        }
    }

    async fn revive_one(&self, live: &crate::pop::LiveCk) -> Result<usize, String> {
        let ck = &live.ck;
        let group_cfg = self.groups.find(&ck.cid).await;
        let max_times = group_cfg.as_ref().map_or(16, |g| g.retry_max_times);
        let normal =
            rocketmq_rs_remoting::protocol::pop::normal_topic_of(&ck.topic, &ck.cid).to_owned();
        let mut n = 0;
        for offset in live.unacked() {
            let store = self.store.clone();
            let (topic, qid) = (ck.topic.clone(), ck.queue_id);
            let got = rt::run_blocking(&*self.rt, move || {
                store.get_messages(&topic, qid, offset, 1, usize::MAX, None)
            })
            .await
            .map_err(|e| e.to_string())?;
            let Some(rec) = got
                .messages
                .first()
                .filter(|_| got.status == GetStatus::Found)
            else {
                // Gone from the store (trimmed): nothing to bring back.
                continue;
            };
            if queue_offset_of(rec) != offset {
                continue;
            }
            let mut b = rec.clone();
            let orig = decode_message(&mut b, true, false).map_err(|e| e.to_string())?;
            let mut props = orig.properties.clone();
            props.remove(property::POP_CK);
            if orig.reconsume_times == 0 || props.get(property::FIRST_POP_TIME).is_none() {
                props.insert(property::FIRST_POP_TIME, ck.pop_time.to_string());
            }
            // Delivered retryMaxTimes + 1 times already: dead letter instead of another retry.
            let to_dlq = orig.reconsume_times >= max_times;
            let target = if to_dlq {
                dlq_topic(&ck.cid)
            } else {
                pop_retry_topic_v1(&normal, &ck.cid)
            };
            if self.topics.get(&target).is_none() {
                self.topics
                    .ensure(target.clone(), 1, PERM_READ | PERM_WRITE)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if to_dlq {
                props.insert(property::RETRY_TOPIC, normal.clone());
                if props.get(property::ORIGIN_MESSAGE_ID).is_none() {
                    let id = orig
                        .uniq_key()
                        .map(str::to_string)
                        .unwrap_or_else(|| orig.msg_id.clone());
                    props.insert(property::ORIGIN_MESSAGE_ID, id);
                }
            }
            props.insert(property::WAIT, "true");
            let msg = MessageExt {
                topic: target,
                flag: orig.flag,
                body: orig.body.clone(),
                properties: props,
                queue_id: 0,
                sys_flag: orig.sys_flag,
                born_timestamp: orig.born_timestamp,
                born_host: orig.born_host,
                store_host: self.store_host,
                reconsume_times: orig.reconsume_times + 1,
                ..Default::default()
            };
            self.store
                .put_message(msg)
                .await
                .map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }
}
