//! [`SimpleConsumer`]: RocketMQ 5.x POP consumption over remoting, in the shape of the 5.x
//! `SimpleConsumer` — you `receive`, then `ack` or `change_invisible_duration` each message
//! (docs/protocol/pop.md).
//!
//! # POP or push?
//!
//! With a [`PushConsumer`](crate::consumer::PushConsumer) (or a pull consumer) each queue
//! belongs to one consumer of the group at a time: the clients rebalance, offsets are
//! committed per queue, and one slow consumer holds its queues back. With POP the **broker**
//! hands out messages: any number of consumers — more than there are queues — share every
//! queue, there is no client rebalance, and each message is acked on its own. A message that
//! is not acked within its *invisible duration* is delivered again (to any consumer), with
//! `reconsume_times` counting the deliveries.
//!
//! Choose POP when consumers come and go often (autoscaling), when they outnumber the queues,
//! when processing time varies a lot per message, or when you want per-message retry control.
//! Choose push when you need per-queue ordering with the highest throughput, broadcasting, or
//! Apache brokers older than 5.0 (which have no POP). POP needs a RocketMQ 5.x broker or
//! mini-broker.
//!
//! To consume by POP with a listener instead of driving `receive` / `ack` yourself, use the
//! push consumer in POP mode ([`PopMode`](crate::consumer::PopMode)): same listeners, acks on
//! `Success`, Java's POP back-off on `ReconsumeLater`, and it can follow the broker's consume
//! mode for the group (`mqadmin setConsumeMode`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rocketmq_rs_remoting::protocol::body::{ConsumeType, ConsumerData};
use rocketmq_rs_remoting::protocol::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, PopMessageRequestHeader,
};
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::protocol::pop::{
    ReceiptHandle, INIT_MODE_MAX, INIT_MODE_MIN, MAX_POP_NUMS,
};
use rocketmq_rs_remoting::util::MutexExt;

use crate::config::ClientConfig;
use crate::consumer::backend::{ConsumerBackend, ConsumerEvents, HeartbeatSource};
use crate::consumer::{ConsumeFromWhere, MessageModel, MessageSelector};
use crate::error::{Error, Result};
use crate::message::{MessageExt, PopStatus};
use crate::util::service_state::{AtomicServiceState, ServiceState};

/// Java's long-poll time of a POP (`pollTime`, 15 s) and the RPC margin on top (10 s).
const DEFAULT_AWAIT: Duration = Duration::from_secs(15);
const RPC_MARGIN: Duration = Duration::from_secs(10);
/// How long `receive` waits before answering empty when the broker's poll tables are full.
const POLLING_FULL_BACKOFF: Duration = Duration::from_secs(1);

/// A message received by a [`SimpleConsumer`], with the receipt handle that acks it.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The message (topic without namespace). `reconsume_times` counts earlier deliveries.
    pub message: MessageExt,
    /// The receipt handle (also in property `POP_CK`); changed by
    /// [`SimpleConsumer::change_invisible_duration`].
    pub receipt: ReceiptHandle,
    /// The topic as sent on the wire (with namespace).
    wire_topic: String,
}

impl ReceivedMessage {
    /// Which delivery this is: 1 for the first.
    pub fn delivery_attempt(&self) -> i32 {
        self.message.reconsume_times + 1
    }

    /// When the message becomes visible to other consumers again unless acked (broker clock,
    /// ms since the epoch).
    pub fn invisible_until_ms(&self) -> i64 {
        self.receipt.visible_at_ms()
    }
}

/// Builds a [`SimpleConsumer`].
pub struct SimpleConsumerBuilder {
    client: ClientConfig,
    group: String,
    subscriptions: Vec<(String, MessageSelector)>,
    await_duration: Duration,
    consume_from: ConsumeFromWhere,
    orderly: bool,
    backend: Option<Arc<dyn ConsumerBackend>>,
}

impl Default for SimpleConsumerBuilder {
    fn default() -> Self {
        SimpleConsumerBuilder {
            client: ClientConfig::default(),
            group: String::new(),
            subscriptions: Vec::new(),
            await_duration: DEFAULT_AWAIT,
            consume_from: ConsumeFromWhere::default(),
            orderly: false,
            backend: None,
        }
    }
}

impl std::fmt::Debug for SimpleConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleConsumerBuilder")
            .field("group", &self.group)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl SimpleConsumerBuilder {
    crate::consumer::builder::client_setters!();

    /// Consumer group (required).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Subscribes `topic` with a tag expression (`"*"`, `"TagA || TagB"`). Subscribing a topic
    /// twice keeps the last selector.
    pub fn subscribe(
        mut self,
        topic: impl Into<String>,
        selector: impl Into<MessageSelector>,
    ) -> Self {
        let topic = topic.into();
        self.subscriptions.retain(|(t, _)| *t != topic);
        self.subscriptions.push((topic, selector.into()));
        self
    }

    /// How long one [`receive`](SimpleConsumer::receive) waits on the broker for messages
    /// (long polling; default 15 s as Java; zero answers at once).
    pub fn await_duration(mut self, d: Duration) -> Self {
        self.await_duration = d;
        self
    }

    /// Where a group without an offset starts: `FirstOffset` pops from the oldest message,
    /// anything else from the last one (Apache's POP `initMode`; brokers that still hold the
    /// whole queue in memory start at 0 anyway).
    pub fn consume_from(mut self, w: ConsumeFromWhere) -> Self {
        self.consume_from = w;
        self
    }

    /// Orderly POP: the broker hands out a queue's messages only after the previous batch of
    /// that queue was acked or became visible again (docs/protocol/pop.md §7).
    pub fn orderly(mut self, on: bool) -> Self {
        self.orderly = on;
        self
    }

    /// Creates the consumer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty group, no subscription, or a bad client configuration.
    pub fn build(self) -> Result<SimpleConsumer> {
        if self.group.trim().is_empty() {
            return Err(Error::Config("consumer group must not be empty".into()));
        }
        if self.subscriptions.is_empty() {
            return Err(Error::Config(
                "subscribe at least one topic before build()".into(),
            ));
        }
        if let Some((t, _)) = self
            .subscriptions
            .iter()
            .find(|(_, s)| s.expression_type() != crate::consumer::ExpressionType::Tag)
        {
            return Err(Error::Config(format!(
                "topic {t}: the simple consumer filters by tag only"
            )));
        }
        let backend = crate::consumer::client_backend::given_or_new(self.backend, &self.client)?;
        let group = self.client.wrap(&self.group);
        let subs = self
            .subscriptions
            .into_iter()
            .map(|(t, s)| (self.client.wrap(&t), s))
            .collect();
        Ok(SimpleConsumer {
            inner: Arc::new(SimpleInner {
                init_mode: if self.consume_from == ConsumeFromWhere::FirstOffset {
                    INIT_MODE_MIN
                } else {
                    INIT_MODE_MAX
                },
                client: self.client,
                group,
                subs: Mutex::new(subs),
                backend,
                state: AtomicServiceState::new(),
                cursor: AtomicUsize::new(fastrand::usize(..1024)),
                await_duration: self.await_duration,
                orderly: self.orderly,
            }),
        })
    }
}

/// A POP consumer with the 5.x `SimpleConsumer` API: [`receive`](Self::receive) a batch,
/// then [`ack`](Self::ack) each message you processed or
/// [`change_invisible_duration`](Self::change_invisible_duration) to retry it later. Messages
/// neither acked nor changed come back after their invisible duration. See the
/// [module docs](self) for when to choose POP over push.
///
/// ```no_run
/// # async fn demo() -> rocketmq_rs_client::Result<()> {
/// use std::time::Duration;
/// use rocketmq_rs_client::consumer::SimpleConsumer;
///
/// let c = SimpleConsumer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("pop-group")
///     .subscribe("TopicTest", "*")
///     .build()?;
/// c.start().await?;
/// for m in c.receive(16, Duration::from_secs(30)).await? {
///     println!("{:?}", m.message.body);
///     c.ack(&m).await?;
/// }
/// c.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SimpleConsumer {
    inner: Arc<SimpleInner>,
}

impl std::fmt::Debug for SimpleConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleConsumer")
            .field("group", &self.inner.group)
            .finish_non_exhaustive()
    }
}

struct SimpleInner {
    client: ClientConfig,
    group: String,
    /// Wire topic → selector.
    subs: Mutex<Vec<(String, MessageSelector)>>,
    backend: Arc<dyn ConsumerBackend>,
    state: AtomicServiceState,
    /// Round robin over (topic, broker) pairs.
    cursor: AtomicUsize,
    await_duration: Duration,
    init_mode: i32,
    orderly: bool,
}

/// Weak, so the client's registry does not keep a dropped consumer alive.
struct SimpleHooks(Weak<SimpleInner>);

impl HeartbeatSource for SimpleHooks {
    fn consumer_data(&self) -> ConsumerData {
        let Some(inner) = self.0.upgrade() else {
            return ConsumerData::default();
        };
        let subscription_data_set = inner
            .subs
            .lock_unpoisoned()
            .iter()
            .map(|(t, s)| s.to_subscription_data(t, 0))
            .collect();
        ConsumerData {
            group_name: inner.group.clone(),
            consume_type: ConsumeType::ConsumePop,
            message_model: MessageModel::Clustering.wire(),
            subscription_data_set,
            ..ConsumerData::default()
        }
    }
}

impl ConsumerEvents for SimpleHooks {
    // The broker assigns messages: there is nothing to rebalance.
    fn rebalance_now(&self) {}
}

impl SimpleConsumer {
    /// A builder.
    pub fn builder() -> SimpleConsumerBuilder {
        SimpleConsumerBuilder::default()
    }

    fn check_running(&self) -> Result<()> {
        self.inner.state.ensure_consumer_running()
    }

    /// Starts the client, registers the group and sends a first heartbeat.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if already started; [`Error::Config`] for a group already
    /// registered in this client.
    pub async fn start(&self) -> Result<()> {
        if self
            .inner
            .state
            .advance(ServiceState::CreateJust, ServiceState::Running)
            .is_err()
        {
            return Err(Error::NotRunning("the consumer was already started"));
        }
        self.inner.backend.start().await?;
        let hooks = Arc::new(SimpleHooks(Arc::downgrade(&self.inner)));
        if !self
            .inner
            .backend
            .register_consumer(&self.inner.group, hooks.clone(), hooks)
        {
            self.inner.state.set(ServiceState::ShutdownAlready);
            return Err(Error::Config(format!(
                "consumer group `{}` is already registered in this client",
                self.inner.group
            )));
        }
        self.inner.backend.heartbeat_now().await;
        Ok(())
    }

    /// Adds or replaces a subscription at run time.
    pub fn subscribe(&self, topic: &str, selector: impl Into<MessageSelector>) {
        let wire = self.inner.client.wrap(topic);
        let mut subs = self.inner.subs.lock_unpoisoned();
        subs.retain(|(t, _)| *t != wire);
        subs.push((wire, selector.into()));
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, topic: &str) {
        let wire = self.inner.client.wrap(topic);
        self.inner
            .subs
            .lock_unpoisoned()
            .retain(|(t, _)| *t != wire);
    }

    /// The (topic, selector, broker) to pop next: round robin over every broker of every
    /// subscribed topic, so one receive asks one broker (as the 5.x proxy does).
    async fn next_target(&self) -> Result<(String, MessageSelector, String)> {
        let subs = self.inner.subs.lock_unpoisoned().clone();
        let mut targets = Vec::new();
        let mut last_err = None;
        for (topic, sel) in subs {
            match self.inner.backend.subscribe_queues(&topic).await {
                Ok(qs) => {
                    let mut brokers: Vec<String> = qs.into_iter().map(|q| q.broker_name).collect();
                    brokers.sort();
                    brokers.dedup();
                    targets.extend(brokers.into_iter().map(|b| (topic.clone(), sel.clone(), b)));
                }
                Err(e) => last_err = Some(e),
            }
        }
        if targets.is_empty() {
            return Err(last_err.unwrap_or_else(|| Error::Config("no subscription".into())));
        }
        let i = self.inner.cursor.fetch_add(1, Ordering::Relaxed) % targets.len();
        Ok(targets.swap_remove(i))
    }

    /// Pops up to `max` (1..=32) messages from one broker, waiting up to the await duration for
    /// some to arrive. Each stays invisible to other consumers for `invisible_duration` unless
    /// acked first. An empty result means nothing arrived in time.
    ///
    /// Messages the broker's tag-hash filter let through but whose tag does not match the
    /// subscription are acked and dropped here, as Apache's client does.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for `max` outside 1..=32 or a zero duration; route, network and
    /// broker errors (e.g. `TOPIC_NOT_EXIST`; Apache 4.x brokers answer
    /// `REQUEST_CODE_NOT_SUPPORTED`).
    pub async fn receive(
        &self,
        max: i32,
        invisible_duration: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        self.check_running()?;
        if !(1..=MAX_POP_NUMS).contains(&max) {
            return Err(Error::Config(format!("max must be 1..=32, got {max}")));
        }
        let invisible_ms = i64::try_from(invisible_duration.as_millis()).unwrap_or(i64::MAX);
        if invisible_ms <= 0 {
            return Err(Error::Config(
                "invisible_duration must be at least 1 ms".into(),
            ));
        }
        let (topic, selector, broker) = self.next_target().await?;
        let poll_ms = i64::try_from(self.inner.await_duration.as_millis()).unwrap_or(i64::MAX);
        let mut h = PopMessageRequestHeader::new(
            self.inner.group.clone(),
            topic.clone(),
            -1,
            max,
            invisible_ms,
            poll_ms,
            self.inner.backend.runtime().clock().now_ms(),
        );
        h.init_mode = self.inner.init_mode;
        h.order = Some(self.inner.orderly);
        if !selector.is_all() {
            h.exp_type = Some(selector.expression_type().as_str().to_owned());
            h.exp = Some(selector.expression().to_owned());
        }
        h.bname = Some(broker.clone());
        let r = self
            .inner
            .backend
            .pop(&broker, h, self.inner.await_duration + RPC_MARGIN)
            .await?;
        if r.status == PopStatus::PollingFull {
            tracing::debug!(broker, topic, "broker POP polling tables full; backing off");
            self.inner
                .backend
                .runtime()
                .sleep(POLLING_FULL_BACKOFF)
                .await;
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(r.messages.len());
        for mut m in r.messages {
            let Some(receipt) = m
                .property(property::POP_CK)
                .and_then(|s| s.parse::<ReceiptHandle>().ok())
            else {
                tracing::warn!(
                    broker,
                    topic,
                    "popped message without a receipt handle dropped"
                );
                continue;
            };
            let matches = selector.matches(&m);
            m.topic = self.inner.client.unwrap(&m.topic);
            let rm = ReceivedMessage {
                message: m,
                receipt,
                wire_topic: topic.clone(),
            };
            if matches {
                out.push(rm);
            } else if let Err(e) = self.ack(&rm).await {
                tracing::debug!(error = %e, "ack of a filtered-out message failed; it will come back and be filtered again");
            }
        }
        Ok(out)
    }

    /// Acks a received message: it will not be delivered again. Acking after the invisible
    /// duration passed succeeds but does not stop the redelivery already under way.
    ///
    /// # Errors
    ///
    /// Network and broker errors.
    pub async fn ack(&self, m: &ReceivedMessage) -> Result<()> {
        self.check_running()?;
        ack(
            &*self.inner.backend,
            &self.inner.group,
            &m.wire_topic,
            &m.receipt,
        )
        .await
    }

    /// Acks many received messages with one BATCH_ACK_MESSAGE per broker (receipts of the
    /// same pop and queue share one bit set), as Apache's `batchAckMessageAsync` does: far
    /// fewer round trips than one [`ack`](Self::ack) each.
    ///
    /// # Errors
    ///
    /// The first network or broker error; acks for other brokers are still sent.
    pub async fn ack_all(&self, msgs: &[ReceivedMessage]) -> Result<()> {
        self.check_running()?;
        batch_ack(
            &*self.inner.backend,
            &self.inner.group,
            msgs.iter().map(|m| (m.wire_topic.as_str(), &m.receipt)),
        )
        .await
    }

    /// Makes a received message visible again `duration` from now (zero: at once) — "retry
    /// later". The message's receipt is replaced by the broker's new one; the old receipt no
    /// longer acks it.
    ///
    /// # Errors
    ///
    /// Network and broker errors (`NO_MESSAGE` when the queue no longer holds the offset).
    pub async fn change_invisible_duration(
        &self,
        m: &mut ReceivedMessage,
        duration: Duration,
    ) -> Result<()> {
        self.check_running()?;
        let receipt = change_invisible(
            &*self.inner.backend,
            &self.inner.group,
            &m.wire_topic,
            &m.receipt,
            duration,
        )
        .await?;
        m.message
            .put_property(property::POP_CK, receipt.to_string());
        m.receipt = receipt;
        Ok(())
    }

    /// Unregisters the group and closes the client (if this consumer owns it). Messages
    /// received and not acked come back after their invisible duration. Idempotent.
    pub async fn shutdown(&self) {
        if self.inner.state.replace(ServiceState::ShutdownAlready) != ServiceState::Running {
            return;
        }
        self.inner
            .backend
            .unregister_consumer(&self.inner.group)
            .await;
        self.inner.backend.close().await;
    }
}

/// ACK_MESSAGE of one receipt (`wire_topic`: the topic popped, with namespace).
pub(crate) async fn ack(
    backend: &dyn ConsumerBackend,
    group: &str,
    wire_topic: &str,
    r: &ReceiptHandle,
) -> Result<()> {
    let h = AckMessageRequestHeader {
        consumer_group: group.to_owned(),
        topic: r.real_topic(wire_topic, group),
        queue_id: r.queue_id,
        extra_info: r.to_string(),
        offset: r.queue_offset,
        bname: Some(r.broker_name.clone()),
    };
    backend.ack(&r.broker_name, h).await
}

/// Acks many receipts with one BATCH_ACK_MESSAGE per broker (receipts of the same pop and
/// queue share one bit set), as Apache's `batchAckMessageAsync` does; a single receipt goes
/// as ACK_MESSAGE. The first error is returned; acks for other brokers are still sent.
pub(crate) async fn batch_ack<'a>(
    backend: &dyn ConsumerBackend,
    group: &str,
    receipts: impl Iterator<Item = (&'a str, &'a ReceiptHandle)>,
) -> Result<()> {
    use rocketmq_rs_remoting::protocol::pop::{BatchAck, BatchAckMessageRequestBody};
    use std::collections::BTreeMap;
    // broker → (retry, queue, ck offset, pop time) → (entry, offsets).
    type Key = (&'static str, i32, i64, i64);
    type Entries = BTreeMap<Key, (BatchAck, Vec<i64>)>;
    let receipts: Vec<(&str, &ReceiptHandle)> = receipts.collect();
    if let [(topic, r)] = receipts[..] {
        return ack(backend, group, topic, r).await;
    }
    let mut per_broker: BTreeMap<&str, (String, Entries)> = BTreeMap::new();
    for (wire_topic, r) in receipts {
        let (_, entries) = per_broker
            .entry(r.broker_name.as_str())
            .or_insert_with(|| (wire_topic.to_owned(), BTreeMap::new()));
        let key = (r.retry.as_str(), r.queue_id, r.ck_queue_offset, r.pop_time);
        let (_, offsets) = entries.entry(key).or_insert_with(|| {
            (
                BatchAck {
                    consumer_group: group.to_owned(),
                    topic: wire_topic.to_owned(),
                    retry: r.retry.as_str().to_owned(),
                    start_offset: r.ck_queue_offset,
                    queue_id: r.queue_id,
                    revive_queue_id: r.revive_qid,
                    pop_time: r.pop_time,
                    invisible_time: r.invisible_time,
                    bit_set: String::new(),
                },
                Vec::new(),
            )
        });
        offsets.push(r.queue_offset);
    }
    let mut first_err = None;
    for (broker, (topic, entries)) in per_broker {
        let acks = entries
            .into_values()
            .map(|(mut a, offsets)| {
                a.set_offsets(&offsets);
                a
            })
            .collect();
        let body = BatchAckMessageRequestBody {
            broker_name: broker.to_owned(),
            acks,
        };
        if let Err(e) = backend.batch_ack(broker, &topic, body).await {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// CHANGE_MESSAGE_INVISIBLETIME: the message becomes visible again `duration` from now; the
/// answer is its new receipt (the old one no longer acks it).
pub(crate) async fn change_invisible(
    backend: &dyn ConsumerBackend,
    group: &str,
    wire_topic: &str,
    r: &ReceiptHandle,
    duration: Duration,
) -> Result<ReceiptHandle> {
    let h = ChangeInvisibleTimeRequestHeader {
        consumer_group: group.to_owned(),
        topic: r.real_topic(wire_topic, group),
        queue_id: r.queue_id,
        extra_info: r.to_string(),
        offset: r.queue_offset,
        invisible_time: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        bname: Some(r.broker_name.clone()),
    };
    let resp = backend.change_invisible(&r.broker_name, h).await?;
    Ok(ReceiptHandle {
        // Apache rebuilds the receipt around the message's own offset: the new checkpoint
        // starts there.
        ck_queue_offset: r.queue_offset,
        pop_time: resp.pop_time,
        invisible_time: resp.invisible_time,
        revive_qid: resp.revive_qid,
        ..r.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::fake_backend::{tokio_rt, Fake};

    #[test]
    fn builder_and_argument_checks() {
        let fake = Fake::with_queues(2, 0, |_| "A");
        assert!(matches!(
            SimpleConsumer::builder()
                .group("g")
                .backend(fake.clone())
                .build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            SimpleConsumer::builder()
                .group("g")
                .subscribe("T", MessageSelector::sql92("a > 1"))
                .backend(fake.clone())
                .build(),
            Err(Error::Config(_))
        ));
        let c = SimpleConsumer::builder()
            .group("g")
            .subscribe("T", "*")
            .backend(fake.clone())
            .build()
            .unwrap();
        tokio_rt().block_on(async {
            assert!(matches!(
                c.receive(1, Duration::from_secs(1)).await,
                Err(Error::NotRunning(_))
            ));
            c.start().await.unwrap();
            // The heartbeat announces a POP consumer with its subscription.
            let data = fake
                .source
                .lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .consumer_data();
            assert_eq!(data.consume_type, ConsumeType::ConsumePop);
            assert_eq!(data.subscription_data_set[0].topic, "T");
            for (max, inv) in [(0, 1000), (33, 1000), (1, 0)] {
                assert!(matches!(
                    c.receive(max, Duration::from_millis(inv)).await,
                    Err(Error::Config(_))
                ));
            }
            c.shutdown().await;
        });
    }
}
