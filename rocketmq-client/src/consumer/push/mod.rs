//! The push consumer (Java `DefaultMQPushConsumer`): long-polls every assigned queue and hands
//! batches to an async listener, with bounded concurrency, flow control, retries and offsets.
//! In POP mode ([`PopMode`], RocketMQ 5.x) the broker hands out the messages instead: no queue
//! is owned, each message is acked on its own, and consumers may outnumber queues.

mod concurrently;
mod config;
mod listener;
mod orderly;
mod pop;
mod pull_loop;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::body::{
    CMResult, ConsumeMessageDirectlyResult, ConsumeType, ConsumerData, ConsumerRunningInfo,
};
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::rt::{BoxFuture, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::util::{now_ms, MutexExt};

use crate::config::ClientConfig;
use crate::consumer::backend::{ConsumerEvents, HeartbeatSource};
use crate::consumer::core::{
    apply, sleep_or, ConsumerCore, CoreSettings, ProcessQueue, QueueOwner, Subscription,
};
use crate::consumer::stats::{ConsumerStats, SAMPLE_PERIOD_MS};
use crate::consumer::sync::Semaphore;
use crate::consumer::{ConsumeResult, MessageModel, MessageSelector, OrderlyResult};
use crate::error::{Error, Result};
use crate::hook::{ConsumeCall, ConsumeHooks, ConsumeReturnType, ConsumerKind};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;

pub use self::config::{PopMode, PushConsumerBuilder, PushConsumerConfig};
pub use self::listener::{ConsumeContext, ConsumeOrderlyContext, MessageListener, OrderlyListener};

use self::listener as listener_fns;

use self::config::ListenerKind;

const CREATED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const STOPPED: u8 = 3;

/// Delay before a message whose send-back failed is consumed again locally (Java 5 s).
const LOCAL_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How long a rebalance waits for the running listener calls of a queue it gives up, so their
/// offsets are committed before the next owner reads them.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

/// A push consumer. Cheap to clone; all clones share one consumer.
///
/// See [`PushConsumerBuilder`] for an example. Lifecycle: [`build`](PushConsumerBuilder::build)
/// → [`start`](Self::start) → [`shutdown`](Self::shutdown) (idempotent; a shut-down consumer
/// cannot be restarted, build a new one).
#[doc(alias = "DefaultMQPushConsumer")]
#[derive(Clone)]
pub struct PushConsumer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("group", &self.inner.core.group)
            .field("model", &self.inner.cfg.message_model)
            .field("state", &self.inner.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A listener call the consume hooks saw start.
pub(crate) struct HookedCall {
    queue: MessageQueue,
    msgs: Vec<MessageExt>,
    orderly: bool,
    call: ConsumeCall,
}

/// The push consumer's own part of an owned queue.
#[derive(Clone)]
pub(crate) struct PushQueue {
    /// The offset the queue's pull loop pulls from next.
    next_offset: Arc<AtomicI64>,
}

pub(crate) struct Inner {
    cfg: PushConsumerConfig,
    client: ClientConfig,
    listener: ListenerKind,
    /// Consume hooks; empty unless registered.
    hooks: ConsumeHooks,
    /// The message-trace dispatcher, when trace is on.
    trace: Option<Arc<crate::trace::TraceDispatcher>>,
    /// Subscriptions, owned queues, rebalance.
    core: ConsumerCore<PushQueue>,
    sem: Semaphore,
    consumes: TaskGroup,
    state: AtomicU8,
    paused: AtomicBool,
    dispatch_stopped: AtomicBool,
    last_heartbeat_kick: Mutex<Option<Instant>>,
    started_at_ms: AtomicI64,
    lifecycle: futures::lock::Mutex<()>,
    /// POP mode: the popped topics' queues.
    pop: pop::PopState,
    /// Pull and consume statistics (the running info's `statusTable`).
    stats: ConsumerStats,
}

impl PushConsumer {
    /// A builder with Java's defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    fn from_builder(b: PushConsumerBuilder) -> Result<Self> {
        b.config.validate()?;
        let listener = b
            .listener
            .ok_or_else(|| Error::Config("a listener is required".into()))?;
        if b.subscriptions.is_empty() {
            return Err(Error::Config("subscribe at least one topic".into()));
        }
        let version = now_ms();
        let core = ConsumerCore::new(CoreSettings {
            client: &b.client,
            backend: b.backend,
            group: &b.config.group,
            model: b.config.message_model,
            strategy: b.strategy,
            local_offset_dir: b.config.local_offset_dir.clone(),
            subscriptions: b.subscriptions,
            sub_version: version,
            join_grace: b.config.rebalance_join_grace,
        })?;
        if b.config.message_model == MessageModel::Clustering {
            core.subs().insert(
                crate::util::namespace::retry_topic(&core.group),
                Subscription {
                    selector: MessageSelector::all(),
                    version,
                },
            );
        }
        let mut hooks = b.hooks;
        let trace = crate::trace::consumer_trace(
            b.trace,
            &b.client,
            Arc::clone(&core.rt),
            &b.config.group,
            &mut hooks,
        )?;
        let hooks = ConsumeHooks::new(
            hooks,
            &b.config.group,
            b.client.namespace(),
            ConsumerKind::Push,
        );
        Ok(PushConsumer {
            inner: Arc::new(Inner {
                hooks,
                trace,
                sem: Semaphore::new(b.config.consume_concurrency),
                cfg: b.config,
                client: b.client,
                consumes: TaskGroup::new(Arc::clone(&core.rt)),
                listener,
                core,
                state: AtomicU8::new(CREATED),
                paused: AtomicBool::new(false),
                dispatch_stopped: AtomicBool::new(false),
                last_heartbeat_kick: Mutex::new(None),
                started_at_ms: AtomicI64::new(0),
                lifecycle: futures::lock::Mutex::new(()),
                pop: pop::PopState::default(),
                stats: ConsumerStats::default(),
            }),
        })
    }

    /// Connects, registers the group, and starts rebalancing and consuming.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if already started or shut down; [`Error::Config`] if another
    /// consumer of the same group runs in this client; network errors from the first contact;
    /// [`Error::AccessDenied`] when the brokers' ACL refuses the first heartbeat everywhere
    /// (wrong credentials, or no permission for the group or a subscribed topic), after which
    /// the consumer is shut down;
    /// [`Error::Broker`] when a broker refuses an SQL92 subscription (CHECK_CLIENT_CONFIG: no
    /// `enablePropertyFilter`, or the expression does not compile; the consumer is then shut
    /// down).
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.load(Ordering::Acquire) != CREATED {
            return Err(Error::NotRunning("the consumer was already started"));
        }
        inner.core.open(Hooks(Arc::downgrade(inner))).await?;
        if let Err(e) = inner.core.check_in_broker().await {
            inner.state.store(STOPPED, Ordering::Release);
            inner.core.close().await;
            return Err(e);
        }
        inner.state.store(RUNNING, Ordering::Release);
        inner.started_at_ms.store(now_ms(), Ordering::Relaxed);
        // The retry topic may have no route yet: it appears after the first heartbeat.
        if let Err(e) = inner.core.announce().await {
            // Refused by the brokers' ACL: no pull would be served either.
            inner.core.close().await;
            inner.state.store(STOPPED, Ordering::Release);
            return Err(e);
        }
        if let Some(t) = &inner.trace {
            t.start().await;
        }
        // Before the first rebalance round, so popped topics never own queues in between.
        pop::refresh(inner).await;
        inner.spawn_services();
        tracing::info!(group = %inner.core.group, model = ?inner.cfg.message_model, pop = ?inner.cfg.pop_mode, "push consumer started");
        Ok(())
    }

    /// Pauses pulling (cached messages are still consumed); [`resume`](Self::resume) undoes it.
    pub fn suspend(&self) {
        self.inner.paused.store(true, Ordering::Release);
    }

    /// Resumes pulling after [`suspend`](Self::suspend).
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::Release);
    }

    /// Whether the consumer is started and not shut down.
    pub fn is_running(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == RUNNING
    }

    /// The consumer group (with namespace).
    pub fn group(&self) -> &str {
        &self.inner.core.group
    }

    /// The queues currently owned.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        let mut v: Vec<_> = self.inner.core.queues().keys().cloned().collect();
        v.sort();
        v
    }

    /// The queues consumed by POP (queue id -1: the whole topic on that broker), sorted; empty
    /// unless [`PopMode`] put a topic into POP.
    pub fn pop_queues(&self) -> Vec<MessageQueue> {
        self.inner
            .pop
            .queues()
            .iter()
            .map(|mq| self.inner.user_queue(mq))
            .collect()
    }

    /// Per-queue flow-control and progress statistics of the owned queues, sorted by queue.
    pub fn queue_stats(&self) -> Vec<QueueStats> {
        let mut v: Vec<QueueStats> = self
            .inner
            .core
            .queues()
            .iter()
            .map(|(mq, e)| QueueStats {
                queue: self.inner.user_queue(mq),
                cached_count: e.pq.count(),
                cached_bytes: e.pq.size_bytes(),
                max_cached_count: e.pq.max_count_seen(),
                consume_offset: self.inner.core.store.read_memory(mq),
                locked: e.pq.is_locked(),
            })
            .collect();
        v.sort_by(|a, b| a.queue.cmp(&b.queue));
        v
    }

    /// Subscribes `topic` (with `selector`), or changes the selector of a subscribed topic. On
    /// a running consumer it takes effect at once, as in Java: the brokers get a heartbeat
    /// with the new subscription and a rebalance assigns the topic's queues; pull loops of an
    /// already subscribed topic use the new selector from their next pull.
    ///
    /// ```no_run
    /// # async fn demo(c: rocketmq_rs_client::consumer::PushConsumer) -> rocketmq_rs_client::Result<()> {
    /// c.subscribe("OrdersTopic", "paid || refunded").await?;
    /// c.unsubscribe("LegacyTopic").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] for a bad topic name; [`Error::NotRunning`] after shutdown.
    pub async fn subscribe(&self, topic: &str, selector: impl Into<MessageSelector>) -> Result<()> {
        crate::message::validate_topic(topic)?;
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.load(Ordering::Acquire) > RUNNING {
            return Err(Error::NotRunning("a shut-down consumer cannot subscribe"));
        }
        let topic = inner.client.wrap(topic);
        inner.core.subs().insert(
            topic.clone(),
            Subscription {
                selector: selector.into(),
                version: now_ms(),
            },
        );
        if !inner.is_running() {
            return Ok(());
        }
        if let Err(e) = inner.core.backend.subscribe_queues(&topic).await {
            tracing::debug!(group = %inner.core.group, %topic, error = %e, "no route yet; the rebalance retries");
        }
        inner.core.backend.heartbeat_now().await;
        inner.kick_rebalance();
        inner.pop.kick();
        tracing::info!(group = %inner.core.group, %topic, "subscribed");
        Ok(())
    }

    /// Drops the subscription of `topic`. On a running consumer its queues are handed over at
    /// once (pulls stop, running listener calls finish, offsets are committed) and the brokers
    /// get a heartbeat without the topic. The group's retry topic cannot be unsubscribed.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for the retry topic; [`Error::NotRunning`] after shutdown.
    pub async fn unsubscribe(&self, topic: &str) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.load(Ordering::Acquire) > RUNNING {
            return Err(Error::NotRunning("a shut-down consumer cannot unsubscribe"));
        }
        let user_topic = topic;
        let topic = inner.client.wrap(topic);
        if crate::util::namespace::is_retry_topic(user_topic)
            || topic == crate::util::namespace::retry_topic(&inner.core.group)
        {
            return Err(Error::Config(
                "the group's retry topic is part of the consumer; it cannot be unsubscribed".into(),
            ));
        }
        if inner.core.subs().remove(&topic).is_none() || !inner.is_running() {
            return Ok(());
        }
        apply::release_unsubscribed(inner).await;
        inner.core.backend.heartbeat_now().await;
        inner.kick_rebalance();
        tracing::info!(group = %inner.core.group, %topic, "unsubscribed");
        Ok(())
    }

    /// The subscribed topics (without namespace; the retry topic included when clustering).
    pub fn subscriptions(&self) -> Vec<String> {
        self.inner
            .core
            .subs()
            .keys()
            .map(|t| self.inner.client.unwrap(t))
            .collect()
    }

    /// Asks for a rebalance now (also done periodically and when the broker reports a
    /// membership change).
    pub fn rebalance_now(&self) {
        self.inner.kick_rebalance();
    }

    /// Stops gracefully, in this order: rebalance and new pulls stop; no new listener call
    /// starts; running listeners get up to `await_termination` to finish; every offset is
    /// committed synchronously; orderly queue locks are released; the group is unregistered
    /// from the brokers; the client closes. Idempotent.
    ///
    /// # Errors
    ///
    /// The first offset commit failure (everything else is still done).
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        match inner.state.load(Ordering::Acquire) {
            CREATED => {
                inner.state.store(STOPPED, Ordering::Release);
                return Ok(());
            }
            RUNNING => {}
            _ => return Ok(()),
        }
        inner.state.store(STOPPING, Ordering::Release);
        inner.pop.stop_all();
        inner.core.stop_pulling(Duration::from_secs(3)).await;
        // A refresh that ran meanwhile may have started a POP loop; services are stopped now.
        inner.pop.stop_all();
        inner.dispatch_stopped.store(true, Ordering::Release);
        if !inner.consumes.shutdown(inner.cfg.await_termination).await {
            tracing::warn!(group = %inner.core.group, "listeners still running after await_termination were abandoned; their messages will be redelivered");
        }
        if let Some(t) = &inner.trace {
            // The listeners are done: what their hooks queued goes out now.
            t.shutdown().await;
        }
        let mqs: Vec<MessageQueue> = inner.core.queues().keys().cloned().collect();
        let res = inner.core.store.persist_all(&mqs, false).await;
        if inner.locks_queues() {
            inner.unlock_all(&mqs).await;
        }
        inner.core.close().await;
        inner.state.store(STOPPED, Ordering::Release);
        tracing::info!(group = %inner.core.group, "push consumer shut down");
        res
    }
}

impl PushConsumer {
    /// Test fault behind [`crate::testing::kill`] and [`crate::testing::hang`]: every task of
    /// the consumer and of the client instance it owns stops at once (rebalance, pulls, lock
    /// renewal, offset persistence, heartbeats, listener dispatch); nothing is committed,
    /// unlocked or unregistered. With `close_connections` the connections close as well. The
    /// consumer counts as shut down afterwards ([`shutdown`](Self::shutdown) does nothing).
    pub(crate) fn halt(&self, close_connections: bool) {
        let inner = &self.inner;
        if inner
            .state
            .compare_exchange(RUNNING, STOPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        inner.dispatch_stopped.store(true, Ordering::Release);
        inner.pop.stop_all();
        inner.core.services.signal().trigger();
        for e in inner.core.queues().values() {
            e.stop.trigger();
        }
        inner.core.pulls.signal().trigger();
        inner.consumes.signal().trigger();
        inner.core.backend.halt(close_connections);
        tracing::info!(group = %inner.core.group, close_connections, "push consumer halted (test fault)");
    }
}

/// One owned queue's state, from [`PushConsumer::queue_stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue (without namespace).
    pub queue: MessageQueue,
    /// Messages pulled and not yet consumed.
    pub cached_count: usize,
    /// Body bytes of those messages.
    pub cached_bytes: u64,
    /// The highest `cached_count` since the queue was assigned (never above
    /// [`PushConsumerConfig::pull_threshold_for_queue`]).
    pub max_cached_count: usize,
    /// The next offset to consume as known locally (`None` before the first read).
    pub consume_offset: Option<i64>,
    /// Orderly clustering: whether the broker lock is held.
    pub locked: bool,
}

/// Weak hooks registered in the client, so the client does not keep a dropped consumer alive.
struct Hooks(Weak<Inner>);

impl HeartbeatSource for Hooks {
    fn consumer_data(&self) -> ConsumerData {
        match self.0.upgrade() {
            Some(inner) => inner.consumer_data(),
            None => ConsumerData::default(),
        }
    }
}

impl ConsumerEvents for Hooks {
    fn rebalance_now(&self) {
        if let Some(inner) = self.0.upgrade() {
            inner.kick_rebalance();
            inner.pop.kick();
        }
    }

    fn reset_offset(&self, topic: &str, offsets: Vec<(MessageQueue, i64)>) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        tracing::info!(group = %inner.core.group, topic, queues = offsets.len(), "broker asked to reset offsets");
        let me = Arc::clone(&inner);
        inner
            .core
            .services
            .spawn(async move { me.reset_offsets(offsets).await });
    }

    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        self.0.upgrade().map(|inner| inner.running_info())
    }

    fn consumer_status(&self, topic: &str) -> BTreeMap<MessageQueue, i64> {
        self.0
            .upgrade()
            .map(|inner| inner.core.store.offsets_of(topic))
            .unwrap_or_default()
    }

    fn consume_message_directly(
        &self,
        msg: MessageExt,
        broker_name: Option<String>,
    ) -> Option<BoxFuture<'static, ConsumeMessageDirectlyResult>> {
        let inner = self.0.upgrade()?;
        Some(Box::pin(async move {
            inner.consume_directly(msg, broker_name).await
        }))
    }
}

impl Inner {
    fn is_orderly(&self) -> bool {
        matches!(self.listener, ListenerKind::Orderly(_))
    }

    /// Orderly clustering: queues are owned under a broker lock.
    fn locks_queues(&self) -> bool {
        self.is_orderly() && self.cfg.message_model == MessageModel::Clustering
    }

    fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    fn max_reconsume_times(&self) -> i32 {
        match self.cfg.max_reconsume_times {
            Some(n) if n >= 0 => n,
            _ if self.is_orderly() => i32::MAX,
            _ => 16,
        }
    }

    pub(crate) fn consumer_data(&self) -> ConsumerData {
        ConsumerData {
            group_name: self.core.group.clone(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: self.cfg.message_model.wire(),
            consume_from_where: self.cfg.consume_from_where.wire(),
            subscription_data_set: self.core.subscription_data(),
            unit_mode: false,
        }
    }

    fn kick_rebalance(&self) {
        self.core.kick();
    }

    /// Sends a heartbeat soon, at most once a second (after a broker forgot our subscription).
    fn kick_heartbeat(self: &Arc<Self>) {
        {
            let mut last = self.last_heartbeat_kick.lock_unpoisoned();
            let now = self.core.rt.now();
            if last.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
                return;
            }
            *last = Some(now);
        }
        let me = Arc::clone(self);
        self.core
            .services
            .spawn(async move { me.core.backend.heartbeat_now().await });
    }

    /// RESET_CONSUMER_CLIENT_OFFSET: drops each listed owned queue (nothing more of its cache is
    /// consumed), stores and commits the new offset, then rebalances so the queue is taken
    /// again from that offset (Java `resetOffset`).
    async fn reset_offsets(self: Arc<Self>, offsets: Vec<(MessageQueue, i64)>) {
        for (mq, offset) in offsets {
            let Some(entry) = self.core.queues().remove(&mq) else {
                continue;
            };
            entry.stop.trigger();
            entry.pq.set_draining();
            entry.pq.set_dropped();
            entry.pq.clear();
            self.core.store.update(&mq, offset, false);
            self.core.hand_over(&mq, self.locks_queues()).await;
            tracing::info!(group = %self.core.group, %mq, offset, "offset reset");
        }
        self.kick_rebalance();
    }

    /// GET_CONSUMER_RUNNING_INFO body (docs/protocol/admin.md §3).
    fn running_info(&self) -> ConsumerRunningInfo {
        let mut info = ConsumerRunningInfo {
            subscription_set: self.consumer_data().subscription_data_set,
            ..Default::default()
        };
        let now = self.core.rt.now();
        let wall = now_ms();
        for (mq, e) in self.core.queues().iter() {
            info.mq_table.insert(
                mq.clone(),
                e.pq.running_info(self.core.store.read_memory(mq).unwrap_or(-1), now, wall),
            );
        }
        info.mq_pop_table = self.pop.running_info();
        // Java fills one entry per subscribed topic (the retry topic included).
        for sub in &info.subscription_set {
            info.status_table
                .insert(sub.topic.clone(), self.stats.status(&sub.topic));
        }
        let props = &mut info.properties;
        props.insert(
            ConsumerRunningInfo::PROP_CONSUME_TYPE.into(),
            "CONSUME_PASSIVELY".into(),
        );
        props.insert(
            ConsumerRunningInfo::PROP_CONSUMEORDERLY.into(),
            self.is_orderly().to_string(),
        );
        props.insert(
            ConsumerRunningInfo::PROP_THREADPOOL_CORE_SIZE.into(),
            self.cfg.consume_concurrency.to_string(),
        );
        props.insert(
            ConsumerRunningInfo::PROP_CONSUMER_START_TIMESTAMP.into(),
            self.started_at_ms.load(Ordering::Relaxed).to_string(),
        );
        props.insert(
            "messageModel".into(),
            match self.cfg.message_model {
                MessageModel::Clustering => "CLUSTERING",
                MessageModel::Broadcasting => "BROADCASTING",
            }
            .into(),
        );
        // Java's property is the enum's name (`CONSUME_FROM_FIRST_OFFSET`), as admin tools show it.
        props.insert(
            "consumeFromWhere".into(),
            self.cfg.consume_from_where.wire().java_name().into(),
        );
        props.insert(
            "maxReconsumeTimes".into(),
            self.max_reconsume_times().to_string(),
        );
        props.insert("pullBatchSize".into(), self.cfg.pull_batch_size.to_string());
        // Java's unit: minutes.
        props.insert(
            "consumeTimeout".into(),
            (self.cfg.consume_timeout.as_secs() / 60).to_string(),
        );
        props.insert(
            "pullThresholdForQueue".into(),
            self.cfg.pull_threshold_for_queue.to_string(),
        );
        props.insert(
            "consumeMessageBatchMaxSize".into(),
            self.cfg.consume_batch_size.to_string(),
        );
        info
    }

    /// CONSUME_MESSAGE_DIRECTLY: one listener call on `msg`, without offset, retry or DLQ side
    /// effects (docs/protocol/admin.md §4).
    async fn consume_directly(
        &self,
        msg: MessageExt,
        broker_name: Option<String>,
    ) -> ConsumeMessageDirectlyResult {
        let start = self.core.rt.clock().stopwatch();
        let queue = MessageQueue::new(
            self.client.unwrap(&msg.topic),
            broker_name.unwrap_or_default(),
            msg.queue_id,
        );
        let user = vec![self.to_user(&msg)];
        let (order, result) = match &self.listener {
            ListenerKind::Concurrent(l) => {
                let (r, _) =
                    listener_fns::call_concurrent(&**l, user, ConsumeContext::new(queue)).await;
                (
                    false,
                    match r {
                        ConsumeResult::Success => CMResult::Success,
                        ConsumeResult::ReconsumeLater => CMResult::Later,
                    },
                )
            }
            ListenerKind::Orderly(l) => {
                let (r, _) =
                    listener_fns::call_orderly(&**l, user, ConsumeOrderlyContext::new(queue)).await;
                (
                    true,
                    match r {
                        OrderlyResult::Success => CMResult::Success,
                        OrderlyResult::SuspendCurrentQueueAMoment => CMResult::Later,
                    },
                )
            }
        };
        ConsumeMessageDirectlyResult {
            order,
            auto_commit: true,
            consume_result: Some(result),
            remark: None,
            spent_time_mills: start.elapsed().as_millis() as i64,
        }
    }

    /// Hands a failed message back to the broker for a later retry: CONSUMER_SEND_MSG_BACK,
    /// else a copy sent to the retry topic (docs/protocol/retry.md §2). `false` when both failed: the
    /// caller must consume it again locally (a message is never dropped).
    async fn send_back_or_fallback(
        &self,
        mq: &MessageQueue,
        m: &MessageExt,
        max: i32,
        level: i32,
    ) -> bool {
        let err = match self
            .core
            .backend
            .send_back(&mq.broker_name, &self.core.group, m, level, max)
            .await
        {
            Ok(()) => return true,
            Err(e) => e,
        };
        tracing::warn!(%mq, msg_id = %m.msg_id, error = %err, "send-back failed; sending the message to the retry topic instead");
        match self
            .core
            .backend
            .send_retry_fallback(&self.core.group, m, max)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%mq, msg_id = %m.msg_id, error = %e, "retry-topic fallback failed too; the message will be consumed again locally");
                false
            }
        }
    }

    /// Runs the `before` consume hooks, when there are any, and keeps what `after` needs (a
    /// copy of the batch: the listener owns the original).
    fn hooks_before(
        &self,
        queue: &MessageQueue,
        user: &[MessageExt],
        orderly: bool,
    ) -> Option<Box<HookedCall>> {
        if self.hooks.is_empty() {
            return None;
        }
        let call = self.hooks.before(queue, user, orderly);
        Some(Box::new(HookedCall {
            queue: queue.clone(),
            msgs: user.to_vec(),
            orderly,
            call,
        }))
    }

    /// The hooks' "after" of a call dropped by `consume_timeout` (Java `TIME_OUT`).
    fn hooks_timed_out(&self, hooked: Option<Box<HookedCall>>) {
        if let Some(h) = hooked {
            self.hooks.after(
                &h.call,
                &h.queue,
                &h.msgs,
                h.orderly,
                false,
                ConsumeReturnType::TimeOut,
            );
        }
    }

    fn hooks_after(&self, hooked: Option<Box<HookedCall>>, success: bool, panicked: bool) {
        if let Some(h) = hooked {
            let return_type = match (panicked, success) {
                (true, _) => ConsumeReturnType::Exception,
                (false, true) => ConsumeReturnType::Success,
                (false, false) => ConsumeReturnType::Failed,
            };
            self.hooks
                .after(&h.call, &h.queue, &h.msgs, h.orderly, success, return_type);
        }
    }

    /// A copy of `m` as the listener sees it: retry topic restored, namespace removed.
    fn to_user(&self, m: &MessageExt) -> MessageExt {
        self.as_user(m.clone())
    }

    /// `m` as the listener sees it: retry topic restored, namespace removed.
    fn as_user(&self, mut u: MessageExt) -> MessageExt {
        if crate::util::namespace::is_retry_topic(&u.topic) {
            if let Some(orig) = u.property(property::RETRY_TOPIC) {
                u.topic = orig.to_owned();
            }
        }
        if self.client.namespace().is_some() {
            u.topic = self.client.unwrap(&u.topic);
        }
        u
    }

    fn user_queue(&self, mq: &MessageQueue) -> MessageQueue {
        let mut q = mq.clone();
        if self.client.namespace().is_some() {
            q.topic = self.client.unwrap(&q.topic);
        }
        q
    }

    fn selector(&self, topic: &str) -> Option<(MessageSelector, i64)> {
        self.core
            .subscription(topic)
            .map(|s| (s.selector, s.version))
    }

    /// Sleeps `d`, returning early (`false`) if `stop` fires.
    async fn sleep_or(&self, d: Duration, stop: &ShutdownSignal) -> bool {
        sleep_or(&*self.core.rt, d, stop).await
    }

    fn spawn_services(self: &Arc<Self>) {
        apply::spawn_loop(self);
        pop::spawn_refresh_loop(self);
        let me = Arc::clone(self);
        self.core
            .services
            .spawn(async move { me.persist_loop().await });
        let me = Arc::clone(self);
        self.core
            .services
            .spawn(async move { me.watchdog_loop().await });
        let me = Arc::clone(self);
        self.core
            .services
            .spawn(async move { me.stats_loop().await });
        if self.locks_queues() {
            let me = Arc::clone(self);
            self.core
                .services
                .spawn(async move { me.lock_loop().await });
        }
    }

    fn spawn_pull_loop(
        self: &Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        stop: ShutdownSignal,
        next: Arc<AtomicI64>,
    ) {
        let me = Arc::clone(self);
        self.core
            .pulls
            .spawn(async move { pull_loop::run(me, mq, pq, stop, next).await });
    }

    async fn persist_loop(self: Arc<Self>) {
        let stop = self.core.services.signal().clone();
        while self
            .sleep_or(self.client.persist_offset_interval, &stop)
            .await
        {
            let mqs: Vec<MessageQueue> = self.core.queues().keys().cloned().collect();
            let _ = self.core.store.persist_changed(&mqs).await;
        }
    }

    /// With the `metrics` feature: records the await time of a batch about to be consumed and
    /// returns the `rocketmq.consume` span its listener call runs in, carrying the first
    /// message's W3C `traceparent` property (see [`crate::metrics`]).
    #[cfg(feature = "metrics")]
    fn observe_call_start(
        &self,
        mq: &MessageQueue,
        msgs: &[MessageExt],
        pulled_at: Instant,
    ) -> tracing::Span {
        let waited = self.core.rt.now().saturating_duration_since(pulled_at);
        let topic = self.client.unwrap(&mq.topic);
        crate::metrics::record_await(
            &topic,
            &self.core.backend.client_id(),
            &self.core.group,
            waited.as_secs_f64() * 1000.0,
        );
        let span = tracing::info_span!(
            "rocketmq.consume",
            topic = %topic,
            group = %self.core.group,
            traceparent = tracing::field::Empty
        );
        if let Some(tp) = msgs
            .first()
            .and_then(|m| m.property(crate::metrics::TRACEPARENT))
        {
            span.record("traceparent", tp);
        }
        span
    }

    /// With the `metrics` feature: the cache gauges, per topic of the owned queues.
    #[cfg(feature = "metrics")]
    fn record_cache_gauges(&self) {
        let mut per_topic: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (mq, e) in self.core.queues().iter() {
            let t = per_topic.entry(self.client.unwrap(&mq.topic)).or_default();
            t.0 += e.pq.count() as u64;
            t.1 += e.pq.size_bytes();
        }
        let client_id = self.core.backend.client_id();
        for (topic, (msgs, bytes)) in per_topic {
            crate::metrics::record_cache(&topic, &client_id, &self.core.group, msgs, bytes);
        }
    }

    /// Samples the statistics now and every 10 s (Java's `StatsItemSet` schedule), on the
    /// monotonic clock: only differences between samples are ever read.
    async fn stats_loop(self: Arc<Self>) {
        let stop = self.core.services.signal().clone();
        let base = self.core.rt.now();
        loop {
            let now = self.core.rt.now().saturating_duration_since(base);
            self.stats.sample(now.as_millis() as i64);
            #[cfg(feature = "metrics")]
            self.record_cache_gauges();
            if !self
                .sleep_or(Duration::from_millis(SAMPLE_PERIOD_MS as u64), &stop)
                .await
            {
                return;
            }
        }
    }

    async fn watchdog_loop(self: Arc<Self>) {
        let stop = self.core.services.signal().clone();
        let period = (self.cfg.pull_watchdog_timeout / 4).max(Duration::from_millis(100));
        while self.sleep_or(period, &stop).await {
            let stale: Vec<(
                MessageQueue,
                Arc<ProcessQueue>,
                ShutdownSignal,
                Arc<AtomicI64>,
            )> = {
                let mut q = self.core.queues();
                q.iter_mut()
                    .filter(|(_, e)| {
                        !e.pq.is_dropped()
                            && self.core.rt.clock().since(e.pq.last_pull())
                                > self.cfg.pull_watchdog_timeout
                    })
                    .map(|(mq, e)| {
                        let old = std::mem::replace(&mut e.stop, ShutdownSignal::new());
                        old.trigger();
                        e.pq.touch_pull();
                        (
                            mq.clone(),
                            Arc::clone(&e.pq),
                            e.stop.clone(),
                            Arc::clone(&e.ext.next_offset),
                        )
                    })
                    .collect()
            };
            for (mq, pq, stop, next) in stale {
                tracing::warn!(group = %self.core.group, %mq, offset = next.load(Ordering::Acquire), "pull loop made no progress; restarted by the watchdog");
                self.spawn_pull_loop(mq, pq, stop, next);
            }
        }
    }

    async fn lock_loop(self: Arc<Self>) {
        let stop = self.core.services.signal().clone();
        if !self.sleep_or(Duration::from_secs(1), &stop).await {
            return;
        }
        loop {
            self.lock_all().await;
            if !self.sleep_or(self.cfg.lock_renew_interval, &stop).await {
                return;
            }
        }
    }

    /// Renews the broker locks of every owned queue; a queue missing from the answer stops
    /// consuming at once.
    async fn lock_all(&self) {
        let mut by_broker: HashMap<String, Vec<(MessageQueue, Arc<ProcessQueue>)>> = HashMap::new();
        for (mq, e) in self.core.queues().iter() {
            by_broker
                .entry(mq.broker_name.clone())
                .or_default()
                .push((mq.clone(), Arc::clone(&e.pq)));
        }
        for (broker, list) in by_broker {
            let mqs: Vec<MessageQueue> = list.iter().map(|(m, _)| m.clone()).collect();
            match self
                .core
                .backend
                .lock_batch(&broker, &self.core.group, mqs)
                .await
            {
                Ok(ok) => {
                    for (mq, pq) in list {
                        let got = ok.contains(&mq);
                        if !got && pq.is_locked() {
                            tracing::warn!(group = %self.core.group, %mq, "queue lock lost; consumption of the queue stops");
                        }
                        pq.set_locked(got);
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %self.core.group, broker, error = %e, "lock renewal failed")
                }
            }
        }
    }

    async fn unlock_all(&self, mqs: &[MessageQueue]) {
        let mut by_broker: HashMap<&str, Vec<MessageQueue>> = HashMap::new();
        for mq in mqs {
            by_broker
                .entry(&mq.broker_name)
                .or_default()
                .push(mq.clone());
        }
        for (broker, list) in by_broker {
            if let Err(e) = self
                .core
                .backend
                .unlock_batch(broker, &self.core.group, list, false)
                .await
            {
                tracing::warn!(group = %self.core.group, broker, error = %e, "unlock at shutdown failed (the broker lock expires by itself)");
            }
        }
    }
}

impl QueueOwner for Inner {
    type Ext = PushQueue;

    fn core(&self) -> &ConsumerCore<PushQueue> {
        &self.core
    }

    /// Takes over `mq` (orderly clustering: under the broker lock) and starts its pull loop.
    async fn take(self: &Arc<Self>, mq: &MessageQueue) -> Result<Option<i64>> {
        let from = self.cfg.consume_from_where;
        let next_offset = |offset| PushQueue {
            next_offset: Arc::new(AtomicI64::new(offset)),
        };
        let taken = self
            .core
            .take_over(mq, from, self.locks_queues(), true, next_offset)
            .await?;
        Ok(taken.map(|(offset, q)| {
            self.spawn_pull_loop(mq.clone(), q.pq, q.stop, q.ext.next_offset);
            offset
        }))
    }

    /// Gives up `mq` so its next owner starts exactly where this consumer stopped: stops its
    /// pull loop and new listener calls, lets the running calls finish (up to
    /// [`HANDOVER_WAIT`]; orderly: the running batch, up to 500 ms like Java) so their offsets
    /// count, then hands the offset over (synchronous commit; orderly clustering: unlock).
    /// Messages pulled but not yet handed to the listener are dropped uncommitted: the next
    /// owner pulls them again, so only calls that outlive the wait are consumed twice.
    async fn release(self: &Arc<Self>, mq: &MessageQueue) {
        let Some(entry) = self.core.queues().remove(mq) else {
            return;
        };
        entry.stop.trigger();
        entry.pq.set_draining();
        let finished = if self.is_orderly() {
            rocketmq_rs_remoting::rt::timeout(
                &*self.core.rt,
                Duration::from_millis(500),
                entry.pq.consume_lock.lock(),
            )
            .await
            .is_ok()
        } else {
            let start = self.core.rt.clock().stopwatch();
            while entry.pq.calls_running() > 0 && start.elapsed() < HANDOVER_WAIT {
                self.core.rt.sleep(Duration::from_millis(5)).await;
            }
            entry.pq.calls_running() == 0
        };
        entry.pq.set_dropped();
        if !finished {
            tracing::info!(group = %self.core.group, %mq, "listener still running at queue removal; its messages will be consumed again by the next owner");
        }
        self.core.hand_over(mq, self.locks_queues()).await;
        let dropped = entry.pq.clear();
        tracing::info!(group = %self.core.group, %mq, dropped_cached = dropped, "queue removed");
    }

    /// Heartbeats soon (rate-limited): the brokers will then list this client.
    async fn not_in_group(self: &Arc<Self>) {
        self.kick_heartbeat();
    }
}

#[cfg(test)]
mod tests;
