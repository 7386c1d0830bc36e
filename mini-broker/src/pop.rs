//! POP consumption state (docs/protocol/pop.md §6–§8): checkpoints, acks, revive, orderly
//! queues and parked POP requests.
//!
//! Durability follows Apache's design: every checkpoint (a pop's batch of one queue) and every
//! ack is a message with a JSON body in the revive topic `rmq_sys_REVIVE_LOG_<cluster>`,
//! written through the commit log and so recovered after a crash like any message. The revive
//! group `CID_RMQ_SYS_REVIVE_GROUP` keeps, per revive queue, the offset below which nothing is
//! pending; on start the broker replays the revive queues from there and rebuilds the open
//! checkpoints with their acks. A checkpoint whose invisible time passes with offsets unacked
//! is revived: those messages are copied into the group's POP retry topic (or, once a message
//! has been delivered `retryMaxTimes` + 1 times, into `%DLQ%<group>`).
//!
//! Unlike Apache, the checkpoint is not a timer message: it is written at once and the revive
//! task waits for its time in memory, which needs no timer wheel and gives the same
//! redelivery time.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use futures::channel::oneshot;
use rocketmq_rs_remoting::protocol::message::{decode_message, property, MessageExt};
use rocketmq_rs_remoting::protocol::pop::pop_retry_topic_v1;
use rocketmq_rs_remoting::protocol::pop::pop_retry_topic_v2;
use rocketmq_rs_remoting::util::MutexExt;
use serde::{Deserialize, Serialize};

use crate::consumer_offset::ConsumerOffsetManager;
use crate::store::{GetStatus, MessageStore};

/// Revive queues per broker (Apache `reviveQueueNum`).
pub const REVIVE_QUEUE_NUM: i32 = 8;
/// The group whose offsets on the revive topic mark what is no longer pending.
pub const REVIVE_GROUP: &str = "CID_RMQ_SYS_REVIVE_GROUP";
/// Tag of checkpoint records.
const TAG_CK: &str = "ck";
/// Tag of ack records.
const TAG_ACK: &str = "ack";
/// Tag of batch ack records (Apache `PopAckConstants.BATCH_ACK_TAG`).
const TAG_BATCH_ACK: &str = "bAck";
/// Parked POP requests per `topic@group@queueId` (Apache `popPollingSize`).
const MAX_PARKED_PER_KEY: usize = 1024;
/// Parked POP requests in all (Apache `maxPopPollingSize`).
const MAX_PARKED: usize = 100_000;

/// The revive topic of a cluster.
///
/// ```
/// assert_eq!(rocketmq_rs_mini_broker::pop::revive_topic("DefaultCluster"), "rmq_sys_REVIVE_LOG_DefaultCluster");
/// ```
pub fn revive_topic(cluster: &str) -> String {
    format!("rmq_sys_REVIVE_LOG_{cluster}")
}

/// Apache's `PopCheckPoint` JSON (short names), the body of a `ck` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckPoint {
    #[serde(rename = "so")]
    pub(crate) start_offset: i64,
    #[serde(rename = "pt")]
    pub(crate) pop_time: i64,
    #[serde(rename = "it")]
    pub(crate) invisible_time: i64,
    /// Acked bits (bit i = offset `start_offset + d[i]`).
    #[serde(rename = "bm", default)]
    pub(crate) bit_map: i32,
    #[serde(rename = "n")]
    pub(crate) num: i32,
    #[serde(rename = "q")]
    pub(crate) queue_id: i32,
    /// The real topic read (normal or POP retry topic).
    #[serde(rename = "t")]
    pub(crate) topic: String,
    #[serde(rename = "c")]
    pub(crate) cid: String,
    #[serde(rename = "ro", default)]
    pub(crate) revive_offset: i64,
    /// Offsets of the batch as differences from `start_offset`.
    #[serde(rename = "d", default)]
    pub(crate) queue_offset_diff: Vec<i32>,
    #[serde(rename = "bn", default)]
    pub(crate) broker_name: String,
}

impl CheckPoint {
    fn key(&self) -> String {
        ck_key(
            &self.topic,
            self.queue_id,
            self.start_offset,
            &self.cid,
            self.pop_time,
            &self.broker_name,
        )
    }

    fn offset_at(&self, i: usize) -> i64 {
        self.start_offset + i64::from(self.queue_offset_diff.get(i).copied().unwrap_or(i as i32))
    }

    fn index_of(&self, offset: i64) -> Option<usize> {
        (0..self.num.max(0) as usize).find(|&i| self.offset_at(i) == offset)
    }

    fn all_acked(&self) -> bool {
        let n = self.num.clamp(0, 32) as u32;
        let all = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        (self.bit_map as u32) & all == all
    }
}

/// Apache's `AckMsg` JSON, the body of an `ack` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AckRecord {
    #[serde(rename = "ao")]
    pub(crate) ack_offset: i64,
    #[serde(rename = "so")]
    pub(crate) start_offset: i64,
    #[serde(rename = "c")]
    pub(crate) consumer_group: String,
    #[serde(rename = "t")]
    pub(crate) topic: String,
    #[serde(rename = "q")]
    pub(crate) queue_id: i32,
    #[serde(rename = "pt")]
    pub(crate) pop_time: i64,
    #[serde(rename = "bn", default)]
    pub(crate) broker_name: String,
}

/// Apache's `BatchAckMsg` JSON, the body of a `bAck` record: the acks of several offsets of
/// one checkpoint in one record (BATCH_ACK_MESSAGE writes one per checkpoint, not one per
/// message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchAckRecord {
    #[serde(flatten)]
    pub(crate) ack: AckRecord,
    #[serde(rename = "aol", alias = "ackOffsetList")]
    pub(crate) ack_offset_list: Vec<i64>,
}

impl AckRecord {
    fn ck_key(&self) -> String {
        ck_key(
            &self.topic,
            self.queue_id,
            self.start_offset,
            &self.consumer_group,
            self.pop_time,
            &self.broker_name,
        )
    }
}

/// What identifies a checkpoint: what an ack carries of it.
fn ck_key(topic: &str, qid: i32, so: i64, group: &str, pt: i64, bn: &str) -> String {
    format!("{topic}@{qid}@{so}@{group}@{pt}@{bn}")
}

/// An open checkpoint: its record, where it lies in the revive log, and when revive may next
/// try it (later after a failed re-put).
#[derive(Debug, Clone)]
pub(crate) struct LiveCk {
    pub(crate) ck: CheckPoint,
    pub(crate) revive_qid: i32,
    pub(crate) revive_offset: i64,
    pub(crate) next_try_ms: i64,
    pub(crate) failures: u32,
}

impl LiveCk {
    pub(crate) fn due_ms(&self) -> i64 {
        (self.ck.pop_time + self.ck.invisible_time).max(self.next_try_ms)
    }

    /// The offsets still unacked.
    pub(crate) fn unacked(&self) -> Vec<i64> {
        (0..self.ck.num.clamp(0, 32) as usize)
            .filter(|&i| self.ck.bit_map & (1 << i) == 0)
            .map(|i| self.ck.offset_at(i))
            .collect()
    }
}

/// Orderly POP state of one (topic, group, queue) (Apache `ConsumerOrderInfoManager`).
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderInfo {
    pub(crate) pop_time: i64,
    pub(crate) attempt_id: Option<String>,
    /// The batch, ascending.
    pub(crate) offsets: Vec<i64>,
    pub(crate) acked: HashSet<i64>,
    /// When each offset of the batch becomes visible again.
    pub(crate) visible_at: HashMap<i64, i64>,
    /// Deliveries beyond the first, per offset.
    pub(crate) counts: HashMap<i64, i32>,
}

impl OrderInfo {
    pub(crate) fn first_unacked(&self) -> Option<i64> {
        self.offsets
            .iter()
            .copied()
            .find(|o| !self.acked.contains(o))
    }

    /// Some offset of the batch is unacked and still invisible.
    pub(crate) fn blocks(&self, now: i64) -> bool {
        self.offsets
            .iter()
            .any(|o| !self.acked.contains(o) && self.visible_at.get(o).copied().unwrap_or(0) > now)
    }
}

/// The POP bookkeeping: open checkpoints, orderly queues, queues being popped right now.
#[derive(Default)]
pub(crate) struct PopState {
    pub(crate) cks: HashMap<String, LiveCk>,
    pub(crate) order: HashMap<String, OrderInfo>,
    /// `topic@group@queue` keys being read by a pop: a second pop skips such a queue instead of
    /// reading the same offsets (Apache's `QueueLockManager.tryLock`).
    busy: HashSet<String>,
}

/// The broker's POP tables, shared by the processor and the revive task.
pub struct PopTables {
    pub(crate) state: Mutex<PopState>,
    revive_counter: AtomicU64,
    pub(crate) revive_topic: String,
}

impl std::fmt::Debug for PopTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PopTables")
            .field("open_checkpoints", &self.open_checkpoints())
            .finish()
    }
}

/// Releases a queue key taken with [`PopTables::try_lock_queue`].
pub(crate) struct QueueGuard<'a> {
    tables: &'a PopTables,
    key: String,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.tables.state.lock_unpoisoned().busy.remove(&self.key);
    }
}

impl PopTables {
    /// Rebuilds the open checkpoints from the revive log (blocking: reads the store).
    pub(crate) fn load(
        store: &MessageStore,
        offsets: &ConsumerOffsetManager,
        cluster: &str,
    ) -> crate::store::Result<Self> {
        let tables = PopTables {
            state: Mutex::new(PopState::default()),
            revive_counter: AtomicU64::new(0),
            revive_topic: revive_topic(cluster),
        };
        let mut replayed = 0usize;
        for qid in 0..REVIVE_QUEUE_NUM {
            let topic = &tables.revive_topic;
            let mut at = offsets
                .query(REVIVE_GROUP, topic, qid)
                .unwrap_or(0)
                .max(store.min_offset(topic, qid));
            loop {
                let r = store.get_messages(topic, qid, at, 32, usize::MAX, None)?;
                if r.status != GetStatus::Found {
                    break;
                }
                for rec in &r.messages {
                    let mut b = rec.clone();
                    match decode_message(&mut b, true, false) {
                        Ok(m) => {
                            tables.replay(qid, &m, offsets);
                            replayed += 1;
                        }
                        Err(e) => tracing::warn!(error = %e, "undecodable revive record skipped"),
                    }
                }
                if r.next_begin_offset <= at {
                    break;
                }
                at = r.next_begin_offset;
            }
        }
        if replayed > 0 {
            tracing::info!(
                records = replayed,
                open = tables.open_checkpoints(),
                "POP checkpoints rebuilt from the revive log"
            );
        }
        Ok(tables)
    }

    fn replay(&self, qid: i32, m: &MessageExt, offsets: &ConsumerOffsetManager) {
        let mut st = self.state.lock_unpoisoned();
        match m.tags() {
            Some(TAG_CK) => {
                if let Ok(ck) = serde_json::from_slice::<CheckPoint>(&m.body) {
                    // The group's offset is only flushed periodically; the checkpoint proves
                    // how far pops had handed the queue out before a crash.
                    if let Some(last) = (0..ck.num.max(0) as usize).map(|i| ck.offset_at(i)).max() {
                        let known = offsets.query(&ck.cid, &ck.topic, ck.queue_id).unwrap_or(-1);
                        if known <= last {
                            offsets.commit(&ck.cid, &ck.topic, ck.queue_id, last + 1);
                        }
                    }
                    st.cks.insert(
                        ck.key(),
                        LiveCk {
                            ck,
                            revive_qid: qid,
                            revive_offset: m.queue_offset,
                            next_try_ms: 0,
                            failures: 0,
                        },
                    );
                }
            }
            Some(TAG_ACK) => {
                if let Ok(a) = serde_json::from_slice::<AckRecord>(&m.body) {
                    mark_acked(&mut st, &a.ck_key(), a.ack_offset);
                }
            }
            Some(TAG_BATCH_ACK) => {
                if let Ok(b) = serde_json::from_slice::<BatchAckRecord>(&m.body) {
                    let key = b.ack.ck_key();
                    for o in &b.ack_offset_list {
                        mark_acked(&mut st, &key, *o);
                    }
                }
            }
            _ => {}
        }
    }

    /// Number of open (not fully acked, not revived) checkpoints.
    pub fn open_checkpoints(&self) -> usize {
        self.state.lock_unpoisoned().cks.len()
    }

    /// The revive queue of the next pop (round robin).
    pub(crate) fn next_revive_qid(&self) -> i32 {
        (self.revive_counter.fetch_add(1, Ordering::Relaxed) % REVIVE_QUEUE_NUM as u64) as i32
    }

    /// Claims a queue for one pop; `None` while another pop reads it.
    pub(crate) fn try_lock_queue(&self, key: String) -> Option<QueueGuard<'_>> {
        let mut st = self.state.lock_unpoisoned();
        if !st.busy.insert(key.clone()) {
            return None;
        }
        Some(QueueGuard { tables: self, key })
    }

    /// A `ck` record for the revive log.
    pub(crate) fn ck_message(&self, ck: &CheckPoint, revive_qid: i32) -> MessageExt {
        self.record(
            TAG_CK,
            revive_qid,
            serde_json::to_vec(ck).unwrap_or_default(),
        )
    }

    /// An `ack` record for the revive log.
    pub(crate) fn ack_message(&self, ack: &AckRecord, revive_qid: i32) -> MessageExt {
        self.record(
            TAG_ACK,
            revive_qid,
            serde_json::to_vec(ack).unwrap_or_default(),
        )
    }

    /// A `bAck` record for the revive log.
    pub(crate) fn batch_ack_message(&self, ack: &BatchAckRecord, revive_qid: i32) -> MessageExt {
        self.record(
            TAG_BATCH_ACK,
            revive_qid,
            serde_json::to_vec(ack).unwrap_or_default(),
        )
    }

    fn record(&self, tag: &str, revive_qid: i32, body: Vec<u8>) -> MessageExt {
        let mut m = MessageExt::new(self.revive_topic.clone(), Bytes::from(body));
        m.queue_id = revive_qid;
        m.put_property(property::TAGS, tag);
        m.put_property(property::WAIT, "true");
        m.born_timestamp = rocketmq_rs_remoting::util::now_ms();
        m
    }

    /// Records a checkpoint written at `revive_offset` of its revive queue.
    pub(crate) fn open(&self, ck: CheckPoint, revive_qid: i32, revive_offset: i64) {
        self.state.lock_unpoisoned().cks.insert(
            ck.key(),
            LiveCk {
                ck,
                revive_qid,
                revive_offset,
                next_try_ms: 0,
                failures: 0,
            },
        );
    }

    /// Whether an ack of `offset` would change an open checkpoint (so it is worth a record).
    pub(crate) fn ack_applies(&self, key: &str, offset: i64) -> Option<i32> {
        let st = self.state.lock_unpoisoned();
        let live = st.cks.get(key)?;
        let i = live.ck.index_of(offset)?;
        (live.ck.bit_map & (1 << i) == 0).then_some(live.revive_qid)
    }

    /// Marks `offset` of checkpoint `key` acked; a fully acked checkpoint is closed.
    pub(crate) fn ack(&self, key: &str, offset: i64) {
        mark_acked(&mut self.state.lock_unpoisoned(), key, offset);
    }

    /// The checkpoint key of a receipt.
    pub(crate) fn key_of(topic: &str, qid: i32, so: i64, group: &str, pt: i64, bn: &str) -> String {
        ck_key(topic, qid, so, group, pt, bn)
    }

    /// Checkpoints due at `now` (cloned; revive works on them outside the lock).
    pub(crate) fn due(&self, now: i64) -> Vec<(String, LiveCk)> {
        self.state
            .lock_unpoisoned()
            .cks
            .iter()
            .filter(|(_, l)| l.due_ms() <= now)
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect()
    }

    /// Closes a revived checkpoint.
    pub(crate) fn close(&self, key: &str) {
        self.state.lock_unpoisoned().cks.remove(key);
    }

    /// A re-put failed: try again later (Apache backs off 10 s, 20 s, 30 s, 60 s …).
    pub(crate) fn retry_later(&self, key: &str, now: i64) {
        const BACKOFF_S: [i64; 6] = [10, 20, 30, 60, 120, 300];
        if let Some(l) = self.state.lock_unpoisoned().cks.get_mut(key) {
            let i = (l.failures as usize).min(BACKOFF_S.len() - 1);
            l.failures += 1;
            l.next_try_ms = now + BACKOFF_S[i] * 1000;
        }
    }

    /// Per revive queue, the offset below which nothing is pending (the oldest open
    /// checkpoint, or `end(qid)` when none is open).
    pub(crate) fn revive_floor(&self, end: impl Fn(i32) -> i64) -> Vec<(i32, i64)> {
        let st = self.state.lock_unpoisoned();
        (0..REVIVE_QUEUE_NUM)
            .map(|qid| {
                let floor = st
                    .cks
                    .values()
                    .filter(|l| l.revive_qid == qid)
                    .map(|l| l.revive_offset)
                    .min()
                    .unwrap_or_else(|| end(qid));
                (qid, floor)
            })
            .collect()
    }
}

fn mark_acked(st: &mut PopState, key: &str, offset: i64) {
    let Some(live) = st.cks.get_mut(key) else {
        return;
    };
    if let Some(i) = live.ck.index_of(offset) {
        live.ck.bit_map |= 1 << i;
    }
    if live.ck.all_acked() {
        st.cks.remove(key);
    }
}

struct Parked {
    id: u64,
    topic: String,
    group: String,
    queue_id: i32,
    tx: oneshot::Sender<()>,
}

/// POP and NOTIFICATION requests parked until a message arrives (Apache
/// `PopLongPollingService`). The store's arrival listener wakes them; a woken request runs
/// again and parks again if it still finds nothing.
#[derive(Default)]
pub struct PopWaiters {
    parked: Mutex<Vec<Parked>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for PopWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PopWaiters")
            .field("parked", &self.parked.lock_unpoisoned().len())
            .finish()
    }
}

impl PopWaiters {
    /// Parks a request on `topic@group@queue_id`; `None` when the tables are full
    /// (POLLING_FULL).
    pub(crate) fn park(
        &self,
        topic: &str,
        group: &str,
        queue_id: i32,
    ) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut p = self.parked.lock_unpoisoned();
        let same_key = p
            .iter()
            .filter(|w| w.queue_id == queue_id && w.topic == topic && w.group == group)
            .count();
        if p.len() >= MAX_PARKED || same_key >= MAX_PARKED_PER_KEY {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        p.push(Parked {
            id,
            topic: topic.to_owned(),
            group: group.to_owned(),
            queue_id,
            tx,
        });
        Some((id, rx))
    }

    /// Forgets request `id` (it expired or was answered).
    pub(crate) fn cancel(&self, id: u64) {
        self.parked.lock_unpoisoned().retain(|w| w.id != id);
    }

    /// POP requests parked on exactly `topic@group@queue_id` (POLLING_INFO).
    pub fn count(&self, topic: &str, group: &str, queue_id: i32) -> usize {
        self.parked
            .lock_unpoisoned()
            .iter()
            .filter(|w| w.queue_id == queue_id && w.topic == topic && w.group == group)
            .count()
    }

    /// A message arrived in (topic, queue): wakes the requests for that queue or any queue of
    /// the topic, and those whose POP retry topic it is.
    pub fn notify_arrival(&self, topic: &str, queue_id: i32) {
        let mut p = self.parked.lock_unpoisoned();
        if p.is_empty() {
            return;
        }
        let retry =
            topic.starts_with(rocketmq_rs_remoting::protocol::topic::RETRY_GROUP_TOPIC_PREFIX);
        let mut i = 0;
        while i < p.len() {
            let w = &p[i];
            let hit = if retry {
                topic == pop_retry_topic_v1(&w.topic, &w.group)
                    || topic == pop_retry_topic_v2(&w.topic, &w.group)
            } else {
                w.topic == topic && (w.queue_id < 0 || w.queue_id == queue_id)
            };
            if hit {
                let _ = p.swap_remove(i).tx.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Wakes every parked request of `topic@group` (an orderly ack freed a queue).
    pub(crate) fn notify_group(&self, topic: &str, group: &str) {
        let mut p = self.parked.lock_unpoisoned();
        let mut i = 0;
        while i < p.len() {
            if p[i].topic == topic && p[i].group == group {
                let _ = p.swap_remove(i).tx.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Wakes everything (shutdown).
    pub fn wake_all(&self) {
        for w in self.parked.lock_unpoisoned().drain(..) {
            let _ = w.tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ck(offsets: &[i64]) -> CheckPoint {
        CheckPoint {
            start_offset: offsets[0],
            pop_time: 1000,
            invisible_time: 500,
            bit_map: 0,
            num: offsets.len() as i32,
            queue_id: 1,
            topic: "T".into(),
            cid: "g".into(),
            revive_offset: 0,
            queue_offset_diff: offsets.iter().map(|o| (o - offsets[0]) as i32).collect(),
            broker_name: "b".into(),
        }
    }

    #[test]
    fn checkpoint_json_uses_apache_names() {
        let j = serde_json::to_string(&ck(&[5, 7])).unwrap();
        for k in [
            r#""so":5"#,
            r#""pt":1000"#,
            r#""it":500"#,
            r#""n":2"#,
            r#""d":[0,2]"#,
            r#""bn":"b""#,
            r#""c":"g""#,
        ] {
            assert!(j.contains(k), "{j} lacks {k}");
        }
        // Apache's own record (fastjson also writes the derived reviveTime and rp).
        let apache = br#"{"bm":0,"bn":"broker-a","c":"g","d":[0,1],"it":60000,"n":2,"pt":1,"q":0,"reviveTime":59001,"ro":0,"rp":"0","so":3,"t":"T"}"#;
        let back: CheckPoint = serde_json::from_slice(apache).unwrap();
        assert_eq!((back.offset_at(1), back.num), (4, 2));
    }

    #[test]
    fn acks_close_checkpoints_and_floor_follows_the_oldest() {
        let t = PopTables {
            state: Mutex::new(PopState::default()),
            revive_counter: AtomicU64::new(0),
            revive_topic: revive_topic("c"),
        };
        let a = ck(&[5, 7]);
        let key = a.key();
        t.open(a, 2, 40);
        t.open(ck(&[9]), 2, 41);
        assert_eq!(t.ack_applies(&key, 7), Some(2));
        assert_eq!(t.ack_applies(&key, 6), None);
        t.ack(&key, 7);
        assert_eq!(t.ack_applies(&key, 7), None);
        assert_eq!(t.due(1499).len(), 0);
        let due = t.due(1500);
        assert_eq!(due.len(), 2);
        let first = due.iter().find(|(k, _)| *k == key).unwrap();
        assert_eq!(first.1.unacked(), vec![5]);
        assert_eq!(t.revive_floor(|_| 99)[2], (2, 40));
        t.ack(&key, 5);
        assert_eq!(t.open_checkpoints(), 1);
        assert_eq!(t.revive_floor(|_| 99)[2], (2, 41));
        assert_eq!(t.revive_floor(|_| 99)[0], (0, 99));
    }

    #[test]
    fn waiters_wake_on_their_topic_and_retry_topic() {
        let w = PopWaiters::default();
        let (_, mut any) = w.park("T", "g", -1).unwrap();
        let (_, mut q1) = w.park("T", "g", 1).unwrap();
        let (_, mut other) = w.park("U", "g", -1).unwrap();
        assert_eq!(w.count("T", "g", 1), 1);
        w.notify_arrival("T", 0);
        assert_eq!(any.try_recv(), Ok(Some(())));
        assert_eq!(q1.try_recv(), Ok(None));
        w.notify_arrival("%RETRY%g_T", 0);
        assert_eq!(q1.try_recv(), Ok(Some(())));
        assert_eq!(other.try_recv(), Ok(None));
        let blocked = OrderInfo {
            offsets: vec![1, 2],
            visible_at: [(1, 10), (2, 10)].into_iter().collect(),
            acked: [1].into_iter().collect(),
            ..Default::default()
        };
        assert!(blocked.blocks(9) && !blocked.blocks(10));
        assert_eq!(blocked.first_unacked(), Some(2));
    }
}
