//! Read-only views of an [`EmbeddedCluster`] for test assertions: stored messages (decoded),
//! consumer offsets and lag, retry / DLQ contents, pending transactional half messages and
//! registered clients.
//!
//! Views read the masters' stores on the runtime's blocking pool and return owned snapshots;
//! nothing here changes the cluster.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::Connection;
use rocketmq_rs_remoting::protocol::message::{decode_message, property, MessageExt};
use rocketmq_rs_remoting::rt;

use super::EmbeddedCluster;
use crate::store::{GetStatus, MessageStore};
use crate::transaction::{HALF_TOPIC, OP_TOPIC};

/// A stored message with where it is stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredMessage {
    /// Broker group (`broker-a`, ...).
    pub broker: String,
    /// The decoded message (topic, queue id, queue offset, properties, body, timestamps).
    pub message: MessageExt,
}

impl StoredMessage {
    /// The body as UTF-8 (lossy), for assertions on text bodies.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.message.body).into_owned()
    }

    /// The message keys (`KEYS` property, space separated).
    pub fn keys(&self) -> Vec<String> {
        self.message
            .property(rocketmq_rs_remoting::protocol::message::property::KEYS)
            .map(|k| {
                k.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A consumer group's position on one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueOffset {
    /// Broker group.
    pub broker: String,
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// The committed offset (next message to consume); `None` when the group never committed.
    pub committed: Option<i64>,
    /// Next offset to be written to the queue.
    pub max_offset: i64,
    /// Messages not yet consumed: `max_offset - committed` (`max_offset - min_offset` when
    /// nothing was committed).
    pub lag: i64,
}

/// A consumer group as the brokers see it (heartbeats merged over all masters).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConsumerGroupView {
    /// The group.
    pub group: String,
    /// Connected clients (id, address, language, version).
    pub clients: BTreeSet<Connection>,
    /// Topic → subscription expression (`*`, `TagA || TagB`, an SQL92 filter).
    pub subscriptions: BTreeMap<String, String>,
}

impl ConsumerGroupView {
    /// Client ids, sorted.
    pub fn client_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.clients.iter().map(|c| c.client_id.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Every message of `topic` in `store`, in (queue, offset) order, labelled with `broker`.
fn read_topic(store: &MessageStore, broker: &str, topic: &str) -> Vec<StoredMessage> {
    store
        .queue_ids(topic)
        .into_iter()
        .flat_map(|q| read_queue(store, topic, q))
        .map(|message| StoredMessage {
            broker: broker.to_string(),
            message,
        })
        .collect()
}

/// Decodes every message of `topic`/`queue_id` from the first retained offset. Blocking.
fn read_queue(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<MessageExt> {
    let mut out = Vec::new();
    let mut offset = store.min_offset(topic, queue_id);
    let max = store.max_offset(topic, queue_id);
    while offset < max {
        let r = match store.get_messages(topic, queue_id, offset, 32, 4 << 20, None) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(topic, queue_id, offset, error = %e, "inspection read failed");
                break;
            }
        };
        if r.status == GetStatus::Found {
            for raw in r.messages {
                if let Some(m) = decode(raw) {
                    out.push(m);
                }
            }
        }
        if r.next_begin_offset <= offset {
            break;
        }
        offset = r.next_begin_offset;
    }
    out
}

fn decode(mut raw: Bytes) -> Option<MessageExt> {
    match decode_message(&mut raw, true, false) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "inspection: undecodable record skipped");
            None
        }
    }
}

impl EmbeddedCluster {
    fn master_stores(&self) -> Vec<(String, MessageStore)> {
        self.masters()
            .map(|b| (b.config().broker_name.clone(), b.store().clone()))
            .collect()
    }

    /// Every stored message of `topic` on every master, in (broker, queue, offset) order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
    /// use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
    ///
    /// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    /// let cluster = EmbeddedCluster::builder().topic("T", 2).start(rt).await.unwrap();
    /// assert!(cluster.messages("T").await.is_empty());
    /// cluster.shutdown().await;
    /// # });
    /// ```
    pub async fn messages(&self, topic: &str) -> Vec<StoredMessage> {
        let stores = self.master_stores();
        let topic = topic.to_string();
        rt::run_blocking(&**self.runtime(), move || {
            stores
                .into_iter()
                .flat_map(|(broker, store)| read_topic(&store, &broker, &topic))
                .collect()
        })
        .await
    }

    /// The messages of one queue of one broker group, in offset order.
    pub async fn queue_messages(
        &self,
        broker: &str,
        topic: &str,
        queue_id: i32,
    ) -> Vec<MessageExt> {
        let Some(store) = self.broker(broker).map(|b| b.store().clone()) else {
            return Vec::new();
        };
        let topic = topic.to_string();
        rt::run_blocking(&**self.runtime(), move || {
            read_queue(&store, &topic, queue_id)
        })
        .await
    }

    /// Every stored message of `topic` on the slave of broker group `broker` (empty when it
    /// has none), in (queue, offset) order: what replication copied, to compare with
    /// [`messages`](Self::messages).
    pub async fn slave_messages(&self, broker: &str, topic: &str) -> Vec<StoredMessage> {
        let Some(store) = self.slave(broker).map(|b| b.store().clone()) else {
            return Vec::new();
        };
        let (broker, topic) = (broker.to_string(), topic.to_string());
        rt::run_blocking(&**self.runtime(), move || {
            read_topic(&store, &broker, &topic)
        })
        .await
    }

    /// Messages waiting in the retry topic of `group` (`%RETRY%group`), re-delivered after
    /// their back-off; each carries its `reconsume_times`.
    pub async fn retry_messages(&self, group: &str) -> Vec<StoredMessage> {
        self.messages(&format!("%RETRY%{group}")).await
    }

    /// Messages dead-lettered for `group` (`%DLQ%group`).
    pub async fn dlq_messages(&self, group: &str) -> Vec<StoredMessage> {
        self.messages(&format!("%DLQ%{group}")).await
    }

    /// Transactional half messages neither committed nor rolled back yet (no op record), on
    /// every master.
    pub async fn half_messages(&self) -> Vec<StoredMessage> {
        let stores = self.master_stores();
        rt::run_blocking(&**self.runtime(), move || {
            let mut out = Vec::new();
            for (broker, store) in stores {
                // An op record names the half's queue offset in its body and its
                // transaction id; a check-back re-stores an undecided half under a new
                // offset, so a decided transaction may leave copies without an op of their own.
                let ops = read_queue(&store, OP_TOPIC, 0);
                let removed: HashSet<i64> = ops
                    .iter()
                    .flat_map(|op| {
                        String::from_utf8_lossy(&op.body)
                            .split(',')
                            .filter_map(|t| t.trim().parse::<i64>().ok())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let decided: HashSet<String> = ops
                    .iter()
                    .filter_map(|op| op.property(property::TRANSACTION_ID).map(str::to_string))
                    .filter(|t| !t.is_empty())
                    .collect();
                out.extend(
                    read_queue(&store, HALF_TOPIC, 0)
                        .into_iter()
                        .filter(|m| !removed.contains(&m.queue_offset))
                        .filter(|m| {
                            m.property(property::TRANSACTION_ID)
                                .or_else(|| m.property(property::UNIQ_KEY))
                                .is_none_or(|t| !decided.contains(t))
                        })
                        .map(|message| StoredMessage {
                            broker: broker.clone(),
                            message,
                        }),
                );
            }
            out
        })
        .await
    }

    /// `group`'s committed offset and lag on every queue of `topic`, over all masters.
    pub fn consumer_offsets(&self, group: &str, topic: &str) -> Vec<QueueOffset> {
        let mut out = Vec::new();
        for b in self.masters() {
            let store = b.store();
            let mut queues = store.queue_ids(topic);
            if let Some(tc) = b.topics().get(topic) {
                queues.extend(0..tc.read_queue_nums);
            }
            queues.sort_unstable();
            queues.dedup();
            for q in queues {
                let committed = b.consumer_offsets().query(group, topic, q);
                let max_offset = store.max_offset(topic, q);
                let from = committed.unwrap_or_else(|| store.min_offset(topic, q));
                out.push(QueueOffset {
                    broker: b.config().broker_name.clone(),
                    topic: topic.to_string(),
                    queue_id: q,
                    committed,
                    max_offset,
                    lag: (max_offset - from).max(0),
                });
            }
        }
        out
    }

    /// Total messages of `topic` that `group` has not consumed (sum of [`QueueOffset::lag`]).
    pub fn lag(&self, group: &str, topic: &str) -> i64 {
        self.consumer_offsets(group, topic)
            .iter()
            .map(|q| q.lag)
            .sum()
    }

    /// The consumer group `group` as registered by heartbeats (clients and subscriptions);
    /// `None` when no master knows a client of it.
    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupView> {
        let mut view: Option<ConsumerGroupView> = None;
        for b in self.masters() {
            if let Some(c) = b.clients().consumer_connection(group) {
                let v = view.get_or_insert_with(|| ConsumerGroupView {
                    group: group.to_string(),
                    ..Default::default()
                });
                v.clients.extend(c.connection_set);
                for (topic, sub) in c.subscription_table {
                    v.subscriptions.insert(topic, sub.sub_string);
                }
            }
        }
        view
    }

    /// Consumer groups with at least one registered client on some master, sorted.
    pub fn consumer_groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .masters()
            .flat_map(|b| b.clients().consumer_groups())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Producer groups with at least one registered client on some master, sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .masters()
            .flat_map(|b| b.clients().producer_groups())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
