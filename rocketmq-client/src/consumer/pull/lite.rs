//! The lite pull consumer (Java `DefaultLitePullConsumer`): background pulls fill a buffer that
//! the application drains with [`LitePullConsumer::poll`].

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use rocketmq_rs_remoting::protocol::body::{ConsumeType, ConsumerData, ConsumerRunningInfo};
use rocketmq_rs_remoting::rt::ShutdownSignal;
use rocketmq_rs_remoting::util::now_ms;

use crate::config::ClientConfig;
use crate::consumer::backend::{
    pull_flag, ConsumerBackend, ConsumerEvents, HeartbeatSource, PullArgs, PullStatus,
};
use crate::consumer::core::{
    apply, sleep_or, ConsumerCore, CoreSettings, ProcessQueue, QueueOwner, Subscription,
};
use crate::consumer::rebalance::strategy::{AllocateAveragely, AllocateStrategy};
use crate::consumer::{ConsumeFromWhere, MessageModel, MessageSelector};
use crate::error::{Error, Result};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;
use crate::util::service_state::{AtomicServiceState, ServiceState};

/// Settings of a [`LitePullConsumer`] (Java `DefaultLitePullConsumer` defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LitePullConsumerConfig {
    /// Consumer group (required).
    pub group: String,
    /// Clustering (default) or broadcasting (subscribe mode only).
    pub message_model: MessageModel,
    /// Where a group without committed offsets starts.
    pub consume_from_where: ConsumeFromWhere,
    /// Commit consumed offsets automatically every `auto_commit_interval` (default true).
    pub auto_commit: bool,
    /// Auto-commit period (Java 5 s).
    #[serde(
        rename = "auto_commit_interval_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub auto_commit_interval: Duration,
    /// Messages per pull (Java 10).
    pub pull_batch_size: i32,
    /// Cached messages per queue before its pulls pause (Java 1000).
    pub pull_threshold_for_queue: usize,
    /// Cached body bytes per queue before its pulls pause (100 MiB).
    pub pull_threshold_size_for_queue: u64,
    /// How long the broker may hold a pull (Java 20 s).
    #[serde(
        rename = "long_polling_timeout_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub long_polling_timeout: Duration,
    /// Client timeout of a pull (Java 30 s).
    #[serde(rename = "pull_timeout_ms", with = "crate::config::serde_impl::millis")]
    pub pull_timeout: Duration,
    /// Retry delay after a failed pull (1 s).
    #[serde(
        rename = "pull_delay_on_error_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_delay_on_error: Duration,
    /// Broadcasting: base directory of the local offset files.
    pub local_offset_dir: Option<PathBuf>,
    /// Clustering: when the group's membership changed, queues newly allocated to this
    /// consumer are taken only after this delay, so their previous owners hand them over and
    /// commit first (see [`PushConsumerConfig::rebalance_join_grace`]). Zero = Java behaviour
    /// (both sides race; the new owner may re-read messages). Default 1 s.
    ///
    /// [`PushConsumerConfig::rebalance_join_grace`]: crate::consumer::PushConsumerConfig::rebalance_join_grace
    #[serde(
        rename = "rebalance_join_grace_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub rebalance_join_grace: Duration,
}

impl Default for LitePullConsumerConfig {
    fn default() -> Self {
        LitePullConsumerConfig {
            group: String::new(),
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            pull_batch_size: 10,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            long_polling_timeout: Duration::from_secs(20),
            pull_timeout: Duration::from_secs(30),
            pull_delay_on_error: Duration::from_secs(1),
            local_offset_dir: None,
            rebalance_join_grace: Duration::from_secs(1),
        }
    }
}

/// Builds a [`LitePullConsumer`]. Subscribed topics get their queues by rebalance; without
/// any subscription, queues are given with [`LitePullConsumer::assign`].
pub struct LitePullConsumerBuilder {
    client: ClientConfig,
    config: LitePullConsumerConfig,
    subscriptions: Vec<(String, MessageSelector)>,
    strategy: Arc<dyn AllocateStrategy>,
    backend: Option<Arc<dyn ConsumerBackend>>,
    hooks: Vec<Arc<dyn crate::hook::ConsumeHook>>,
    trace: Option<crate::trace::TraceConfig>,
}

impl Default for LitePullConsumerBuilder {
    fn default() -> Self {
        LitePullConsumerBuilder {
            client: ClientConfig::default(),
            config: LitePullConsumerConfig::default(),
            subscriptions: Vec::new(),
            strategy: Arc::new(AllocateAveragely),
            backend: None,
            hooks: Vec::new(),
            trace: None,
        }
    }
}

impl std::fmt::Debug for LitePullConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePullConsumerBuilder")
            .field("client", &self.client)
            .field("config", &self.config)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl LitePullConsumerBuilder {
    crate::consumer::builder::client_setters!();
    crate::consumer::builder::subscription_setters!();
    crate::consumer::builder::hook_setter!();
    crate::consumer::builder::trace_setter!();

    /// Replaces the consumer configuration.
    pub fn config(mut self, config: LitePullConsumerConfig) -> Self {
        self.config = config;
        self
    }

    /// Automatic (default) or manual ([`LitePullConsumer::commit_sync`]) offset commits.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.config.auto_commit = on;
        self
    }

    /// Creates the consumer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad setting.
    pub fn build(self) -> Result<LitePullConsumer> {
        let c = &self.config;
        if c.group.trim().is_empty() {
            return Err(Error::Config("consumer group must not be empty".into()));
        }
        if c.pull_batch_size <= 0 || c.pull_batch_size > 1024 {
            return Err(Error::Config("pull_batch_size must be in 1..=1024".into()));
        }
        if c.pull_timeout <= c.long_polling_timeout {
            return Err(Error::Config(
                "pull_timeout must exceed long_polling_timeout".into(),
            ));
        }
        if c.auto_commit_interval.is_zero() || c.pull_threshold_for_queue == 0 {
            return Err(Error::Config(
                "auto_commit_interval and thresholds must be positive".into(),
            ));
        }
        let core = ConsumerCore::new(CoreSettings {
            client: &self.client,
            backend: self.backend,
            group: &c.group,
            model: c.message_model,
            strategy: self.strategy,
            local_offset_dir: c.local_offset_dir.clone(),
            subscriptions: self.subscriptions,
            sub_version: SUB_VERSION,
            join_grace: c.rebalance_join_grace,
        })?;
        let (tx, rx) = mpsc::unbounded();
        let mut hooks = self.hooks;
        let trace = crate::trace::consumer_trace(
            self.trace,
            &self.client,
            Arc::clone(&core.rt),
            &c.group,
            &mut hooks,
        )?;
        let hooks = crate::hook::ConsumeHooks::new(
            hooks,
            &c.group,
            self.client.namespace(),
            crate::hook::ConsumerKind::LitePull,
        );
        Ok(LitePullConsumer {
            inner: Arc::new(LiteInner {
                hooks,
                trace,
                cfg: self.config,
                client: self.client,
                core,
                tx,
                rx: futures::lock::Mutex::new(rx),
                state: AtomicServiceState::new(),
                started_at_ms: AtomicI64::new(0),
                lifecycle: futures::lock::Mutex::new(()),
            }),
        })
    }
}

/// The subscription version the lite consumer reports in heartbeats and pulls with (fixed).
const SUB_VERSION: i64 = 0;

/// A batch pulled from one queue, waiting in the poll buffer.
struct Fetched {
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
}

/// The lite consumer's own part of an owned queue.
#[derive(Clone)]
struct LiteQueue {
    paused: Arc<AtomicBool>,
    /// One past the last polled message: what a commit stores.
    consumed: Option<i64>,
}

struct LiteInner {
    /// Consume hooks: see every batch `poll` returns.
    hooks: crate::hook::ConsumeHooks,
    /// The message-trace dispatcher, when trace is on.
    trace: Option<Arc<crate::trace::TraceDispatcher>>,
    cfg: LitePullConsumerConfig,
    client: ClientConfig,
    /// Subscriptions, assigned queues (by rebalance or by hand), rebalance.
    core: ConsumerCore<LiteQueue>,
    tx: mpsc::UnboundedSender<Fetched>,
    rx: futures::lock::Mutex<mpsc::UnboundedReceiver<Fetched>>,
    state: AtomicServiceState,
    started_at_ms: AtomicI64,
    lifecycle: futures::lock::Mutex<()>,
}

/// A consumer you `poll()` (Java `DefaultLitePullConsumer`): queues are pulled in the
/// background (bounded per queue), [`poll`](Self::poll) returns what arrived; offsets are
/// committed automatically or with [`commit_sync`](Self::commit_sync).
///
/// ```no_run
/// # async fn demo() -> rocketmq_rs_client::Result<()> {
/// use std::time::Duration;
/// use rocketmq_rs_client::consumer::LitePullConsumer;
///
/// let c = LitePullConsumer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("lite_group")
///     .subscribe("TopicTest", "*")
///     .auto_commit(false)
///     .build()?;
/// c.start().await?;
/// let msgs = c.poll(Duration::from_secs(5)).await?;
/// println!("{} messages", msgs.len());
/// c.commit_sync().await?;
/// c.shutdown().await?;
/// # Ok(()) }
/// ```
#[doc(alias = "DefaultLitePullConsumer")]
#[derive(Clone)]
pub struct LitePullConsumer {
    inner: Arc<LiteInner>,
}

impl std::fmt::Debug for LitePullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePullConsumer")
            .field("group", &self.inner.core.group)
            .finish_non_exhaustive()
    }
}

struct LiteHooks(Weak<LiteInner>);

impl HeartbeatSource for LiteHooks {
    fn consumer_data(&self) -> ConsumerData {
        let Some(inner) = self.0.upgrade() else {
            return ConsumerData::default();
        };
        let subscription_data_set = inner.core.subscription_data();
        ConsumerData {
            group_name: inner.core.group.clone(),
            consume_type: ConsumeType::ConsumeActively,
            message_model: inner.cfg.message_model.wire(),
            consume_from_where: inner.cfg.consume_from_where.wire(),
            subscription_data_set,
            unit_mode: false,
        }
    }
}

impl ConsumerEvents for LiteHooks {
    fn rebalance_now(&self) {
        if let Some(inner) = self.0.upgrade() {
            inner.kick_rebalance();
        }
    }

    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        self.0.upgrade().map(|inner| inner.running_info())
    }
}

impl LitePullConsumer {
    /// A builder.
    pub fn builder() -> LitePullConsumerBuilder {
        LitePullConsumerBuilder::default()
    }

    /// Starts the client, registers the group and (subscribe mode) starts rebalancing.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if already started; [`Error::Config`] for a duplicate group;
    /// [`Error::AccessDenied`] when the brokers' ACL refuses the first heartbeat everywhere,
    /// after which the consumer is shut down;
    /// [`Error::Broker`] when a broker refuses an SQL92 subscription (CHECK_CLIENT_CONFIG; the
    /// consumer is then shut down).
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.get() != ServiceState::CreateJust {
            return Err(Error::NotRunning("the consumer was already started"));
        }
        inner.core.open(LiteHooks(Arc::downgrade(inner))).await?;
        if let Err(e) = inner.core.check_in_broker().await {
            inner.state.set(ServiceState::ShutdownAlready);
            inner.core.close().await;
            return Err(e);
        }
        inner.state.set(ServiceState::Running);
        inner.started_at_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(t) = &inner.trace {
            t.start().await;
        }
        if let Err(e) = inner.core.announce().await {
            // Refused by the brokers' ACL: no pull would be served either.
            inner.core.close().await;
            inner.state.set(ServiceState::ShutdownAlready);
            return Err(e);
        }
        if !inner.core.topics().is_empty() {
            apply::spawn_loop(inner);
        }
        if inner.cfg.auto_commit {
            let me = Arc::clone(inner);
            inner.core.services.spawn(async move {
                let stop = me.core.services.signal().clone();
                while sleep_or(&*me.core.rt, me.cfg.auto_commit_interval, &stop).await {
                    if let Err(e) = me.commit(true).await {
                        tracing::debug!(error = %e, "auto commit failed");
                    }
                }
            });
        }
        Ok(())
    }

    fn check_running(&self) -> Result<()> {
        self.inner.state.ensure_consumer_running()
    }

    fn wrap_mq(&self, mq: &MessageQueue) -> MessageQueue {
        let mut q = mq.clone();
        q.topic = self.inner.client.wrap(&q.topic);
        q
    }

    fn unwrap_mq(&self, mq: &MessageQueue) -> MessageQueue {
        let mut q = mq.clone();
        q.topic = self.inner.client.unwrap(&q.topic);
        q
    }

    /// Subscribes `topic` (with `selector`) or changes its selector. Before
    /// [`start`](Self::start) this is the builder's
    /// [`subscribe`](LitePullConsumerBuilder::subscribe); on a running consumer it takes effect
    /// at once (Java allows both): the brokers get a heartbeat with the new subscription and a
    /// rebalance assigns the topic's queues.
    ///
    /// ```no_run
    /// # async fn demo(c: rocketmq_rs_client::consumer::LitePullConsumer) -> rocketmq_rs_client::Result<()> {
    /// c.subscribe("OrdersTopic", "paid || refunded").await?;
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
        if inner.state.get() == ServiceState::ShutdownAlready {
            return Err(Error::NotRunning("a shut-down consumer cannot subscribe"));
        }
        let topic = inner.client.wrap(topic);
        inner.core.subs().insert(
            topic.clone(),
            Subscription {
                selector: selector.into(),
                version: SUB_VERSION,
            },
        );
        if inner.state.get() != ServiceState::Running {
            return Ok(());
        }
        if let Err(e) = inner.core.backend.subscribe_queues(&topic).await {
            tracing::debug!(%topic, error = %e, "no route yet; the rebalance retries");
        }
        inner.core.backend.heartbeat_now().await;
        // The loop starts with the first subscription, at `start` or now.
        apply::spawn_loop(inner);
        inner.kick_rebalance();
        Ok(())
    }

    /// Drops the subscription of `topic`. On a running consumer its rebalanced queues are
    /// handed over at once (pulls stop, buffered messages are discarded, offsets committed)
    /// and the brokers get a heartbeat without the topic. Queues given with
    /// [`assign`](Self::assign) stay.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] after shutdown.
    pub async fn unsubscribe(&self, topic: &str) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.get() == ServiceState::ShutdownAlready {
            return Err(Error::NotRunning("a shut-down consumer cannot unsubscribe"));
        }
        let topic = inner.client.wrap(topic);
        if inner.core.subs().remove(&topic).is_none() || inner.state.get() != ServiceState::Running
        {
            return Ok(());
        }
        apply::release_unsubscribed(inner).await;
        inner.core.backend.heartbeat_now().await;
        inner.kick_rebalance();
        Ok(())
    }

    /// The readable queues of `topic` (for [`assign`](Self::assign)).
    ///
    /// # Errors
    ///
    /// Route errors.
    pub async fn fetch_message_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        self.check_running()?;
        let qs = self
            .inner
            .core
            .backend
            .subscribe_queues(&self.inner.client.wrap(topic))
            .await?;
        Ok(qs.iter().map(|q| self.unwrap_mq(q)).collect())
    }

    /// Consumes exactly `mqs` (manual assignment, no rebalance), pulling every message of
    /// their topics (`*`) unless the topic is also subscribed with an expression.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`]; offset lookup errors (the queue is then not assigned).
    pub async fn assign(&self, mqs: Vec<MessageQueue>) -> Result<()> {
        self.check_running()?;
        let wanted: HashSet<MessageQueue> = mqs.iter().map(|q| self.wrap_mq(q)).collect();
        let current: Vec<MessageQueue> = self.inner.core.queues().keys().cloned().collect();
        for mq in current.iter().filter(|q| !wanted.contains(*q)) {
            self.inner.remove_queue(mq).await;
        }
        for mq in wanted {
            if !self.inner.core.queues().contains_key(&mq) {
                self.inner.add_queue(&mq, false).await?;
            }
        }
        Ok(())
    }

    /// The queues currently assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let mut v: Vec<_> = self
            .inner
            .core
            .queues()
            .keys()
            .map(|q| self.unwrap_mq(q))
            .collect();
        v.sort();
        v
    }

    /// Waits up to `timeout` for pulled messages and returns one batch (possibly empty). The
    /// returned messages count as consumed: the next commit stores the offset after them.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`].
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>> {
        self.check_running()?;
        let inner = &self.inner;
        let mut deadline = Box::pin(inner.core.rt.sleep(timeout));
        let mut rx = match select(inner.rx.lock(), deadline.as_mut()).await {
            Either::Left((g, _)) => g,
            Either::Right(_) => return Ok(Vec::new()),
        };
        loop {
            let f = match select(rx.next(), deadline.as_mut()).await {
                Either::Left((Some(f), _)) => f,
                _ => return Ok(Vec::new()),
            };
            if f.pq.is_dropped() {
                continue; // the queue was re-seeked or removed: stale batch
            }
            let offset = f.pq.remove(f.msgs.iter().map(|m| m.queue_offset));
            {
                let mut a = inner.core.queues();
                match a.get_mut(&f.mq) {
                    Some(e) if Arc::ptr_eq(&e.pq, &f.pq) => {
                        if let Some(o) = offset {
                            e.ext.consumed = Some(e.ext.consumed.map_or(o, |c| c.max(o)));
                        }
                    }
                    _ => continue,
                }
            }
            let mut msgs = f.msgs;
            if inner.client.namespace().is_some() {
                for m in &mut msgs {
                    m.topic = inner.client.unwrap(&m.topic);
                }
            }
            if !inner.hooks.is_empty() {
                // As Java's lite pull consumer: polled means consumed for hooks.
                inner.hooks.handed_over(&self.unwrap_mq(&f.mq), &msgs);
            }
            return Ok(msgs);
        }
    }

    /// Moves the queue to `offset`: cached messages are dropped and pulling restarts there. The
    /// consume position moves too (a seek is the one way to go backwards).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the queue is not assigned.
    pub async fn seek(&self, mq: &MessageQueue, offset: i64) -> Result<()> {
        self.check_running()?;
        let mq = self.wrap_mq(mq);
        if !self.inner.core.queues().contains_key(&mq) {
            return Err(Error::Config(format!(
                "{mq} is not assigned to this consumer"
            )));
        }
        self.inner.restart_queue(&mq, offset);
        Ok(())
    }

    /// Seeks to the queue's min offset.
    ///
    /// # Errors
    ///
    /// Broker errors; [`Error::Config`] if not assigned.
    pub async fn seek_to_begin(&self, mq: &MessageQueue) -> Result<()> {
        let off = self
            .inner
            .core
            .backend
            .min_offset(&self.wrap_mq(mq))
            .await?;
        self.seek(mq, off).await
    }

    /// Seeks to the queue's max offset (only new messages).
    ///
    /// # Errors
    ///
    /// Broker errors; [`Error::Config`] if not assigned.
    pub async fn seek_to_end(&self, mq: &MessageQueue) -> Result<()> {
        let off = self
            .inner
            .core
            .backend
            .max_offset(&self.wrap_mq(mq))
            .await?;
        self.seek(mq, off).await
    }

    /// Seeks to the first message stored at or after `timestamp_ms`.
    ///
    /// # Errors
    ///
    /// Broker errors; [`Error::Config`] if not assigned.
    pub async fn seek_to_timestamp(&self, mq: &MessageQueue, timestamp_ms: i64) -> Result<()> {
        let off = self
            .inner
            .core
            .backend
            .search_offset(&self.wrap_mq(mq), timestamp_ms)
            .await?;
        self.seek(mq, off).await
    }

    /// Stops pulling the given queues (already buffered messages are still returned).
    pub fn pause(&self, mqs: &[MessageQueue]) {
        let a = self.inner.core.queues();
        for mq in mqs {
            if let Some(e) = a.get(&self.wrap_mq(mq)) {
                e.ext.paused.store(true, Ordering::Release);
            }
        }
    }

    /// Resumes pulling the given queues.
    pub fn resume(&self, mqs: &[MessageQueue]) {
        let a = self.inner.core.queues();
        for mq in mqs {
            if let Some(e) = a.get(&self.wrap_mq(mq)) {
                e.ext.paused.store(false, Ordering::Release);
            }
        }
    }

    /// Commits the consume position of every assigned queue, waiting for the brokers.
    ///
    /// # Errors
    ///
    /// The first failed commit.
    pub async fn commit_sync(&self) -> Result<()> {
        self.check_running()?;
        self.inner.commit(false).await
    }

    /// The committed offset of `mq` on the broker (`None`: none yet).
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn committed(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        self.check_running()?;
        self.inner.core.store.read_store(&self.wrap_mq(mq)).await
    }

    /// Stops pulls, commits (auto-commit mode), unregisters and closes. Idempotent.
    ///
    /// # Errors
    ///
    /// The first failed commit (everything else is still done).
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.replace(ServiceState::ShutdownAlready) != ServiceState::Running {
            return Ok(());
        }
        inner.core.stop_pulling(Duration::from_secs(3)).await;
        if let Some(t) = &inner.trace {
            t.shutdown().await;
        }
        let res = if inner.cfg.auto_commit {
            inner.commit(false).await
        } else {
            Ok(())
        };
        inner.core.close().await;
        res
    }
}

/// Java's `MessageModel` names, as in the running-info properties.
pub(super) fn model_name(m: MessageModel) -> &'static str {
    match m {
        MessageModel::Clustering => "CLUSTERING",
        MessageModel::Broadcasting => "BROADCASTING",
    }
}

impl LiteInner {
    fn kick_rebalance(&self) {
        self.core.kick();
    }

    /// GET_CONSUMER_RUNNING_INFO body (Java `DefaultLitePullConsumerImpl.consumerRunningInfo`):
    /// the settings as properties, the subscriptions, and per assigned queue its consume
    /// position and buffer state.
    fn running_info(&self) -> ConsumerRunningInfo {
        let mut info = ConsumerRunningInfo {
            subscription_set: self.core.subscription_data(),
            ..Default::default()
        };
        let now = self.core.rt.now();
        let wall = now_ms();
        for (mq, e) in self.core.queues().iter() {
            let commit_offset = e
                .ext
                .consumed
                .filter(|_| self.cfg.auto_commit)
                .or_else(|| self.core.store.read_memory(mq))
                .unwrap_or(-1);
            info.mq_table
                .insert(mq.clone(), e.pq.running_info(commit_offset, now, wall));
        }
        let c = &self.cfg;
        let props = [
            (
                ConsumerRunningInfo::PROP_CONSUME_TYPE,
                "CONSUME_ACTIVELY".to_owned(),
            ),
            (ConsumerRunningInfo::PROP_CONSUMEORDERLY, "false".to_owned()),
            (
                ConsumerRunningInfo::PROP_CONSUMER_START_TIMESTAMP,
                self.started_at_ms.load(Ordering::Relaxed).to_string(),
            ),
            ("consumerGroup", self.core.group.clone()),
            ("messageModel", model_name(c.message_model).to_owned()),
            (
                "consumeFromWhere",
                c.consume_from_where.wire().java_name().to_owned(),
            ),
            ("autoCommit", c.auto_commit.to_string()),
            (
                "autoCommitIntervalMillis",
                c.auto_commit_interval.as_millis().to_string(),
            ),
            ("pullBatchSize", c.pull_batch_size.to_string()),
            (
                "pullThresholdForQueue",
                c.pull_threshold_for_queue.to_string(),
            ),
            (
                "pullThresholdSizeForQueue",
                (c.pull_threshold_size_for_queue / (1024 * 1024)).to_string(),
            ),
            (
                "brokerSuspendMaxTimeMillis",
                c.long_polling_timeout.as_millis().to_string(),
            ),
            (
                "consumerTimeoutMillisWhenSuspend",
                c.pull_timeout.as_millis().to_string(),
            ),
            (
                "unitName",
                self.client.unit_name.clone().unwrap_or_default(),
            ),
        ];
        for (k, v) in props {
            info.properties.insert(k.to_owned(), v);
        }
        info
    }

    async fn commit(&self, oneway: bool) -> Result<()> {
        let todo: Vec<(MessageQueue, i64)> = self
            .core
            .queues()
            .iter()
            .filter_map(|(mq, e)| e.ext.consumed.map(|o| (mq.clone(), o)))
            .collect();
        for (mq, o) in &todo {
            self.core.store.update(mq, *o, true);
        }
        let mqs: Vec<MessageQueue> = todo.into_iter().map(|(m, _)| m).collect();
        if oneway {
            // The periodic auto commit: offsets the broker has already are not sent again.
            self.core.store.persist_changed(&mqs).await
        } else {
            self.core.store.persist_all(&mqs, false).await
        }
    }

    /// Takes over `mq` and starts pulling it; `Ok(None)` if it is owned already.
    async fn add_queue(
        self: &Arc<Self>,
        mq: &MessageQueue,
        by_rebalance: bool,
    ) -> Result<Option<i64>> {
        let from = self.cfg.consume_from_where;
        let fresh = |_| LiteQueue {
            paused: Arc::default(),
            consumed: None,
        };
        let taken = self
            .core
            .take_over(mq, from, false, by_rebalance, fresh)
            .await?;
        Ok(taken.map(|(offset, q)| {
            self.spawn_pull(mq.clone(), q.pq, q.stop, q.ext.paused, offset);
            offset
        }))
    }

    fn spawn_pull(
        self: &Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        stop: ShutdownSignal,
        paused: Arc<AtomicBool>,
        offset: i64,
    ) {
        let me = Arc::clone(self);
        self.core
            .pulls
            .spawn(async move { me.pull_loop(mq, pq, stop, paused, offset).await });
    }

    /// Seek: a new process queue and pull loop from `offset`; the old ones are dropped.
    fn restart_queue(self: &Arc<Self>, mq: &MessageQueue, offset: i64) {
        let (pq, stop, paused) = {
            let mut a = self.core.queues();
            let Some(e) = a.get_mut(mq) else { return };
            e.stop.trigger();
            e.pq.set_dropped();
            e.pq = Arc::new(ProcessQueue::new(self.core.rt.clock()));
            e.stop = ShutdownSignal::new();
            e.ext.consumed = Some(offset);
            (Arc::clone(&e.pq), e.stop.clone(), Arc::clone(&e.ext.paused))
        };
        // An explicit seek is the one place an offset may move backwards.
        self.core.store.update(mq, offset, false);
        tracing::info!(%mq, offset, "seek");
        self.spawn_pull(mq.clone(), pq, stop, paused, offset);
    }

    /// Gives up `mq`: pulls stop, its buffered batches are discarded, and the consume position
    /// is handed over.
    async fn remove_queue(&self, mq: &MessageQueue) {
        let Some(e) = self.core.queues().remove(mq) else {
            return;
        };
        e.stop.trigger();
        e.pq.set_dropped();
        // Batches of the queue still in the poll buffer are skipped by `poll` (dropped queue);
        // the next owner pulls them again from the committed offset.
        e.pq.clear();
        // Manual commit: only what the application committed is handed over, so polled but
        // uncommitted messages are redelivered to the next owner rather than lost.
        if self.cfg.auto_commit {
            if let Some(o) = e.ext.consumed {
                self.core.store.update(mq, o, true);
            }
        }
        self.core.hand_over(mq, false).await;
    }

    async fn pull_loop(
        self: Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        stop: ShutdownSignal,
        paused: Arc<AtomicBool>,
        mut offset: i64,
    ) {
        let cfg = &self.cfg;
        loop {
            if stop.is_triggered() || pq.is_dropped() {
                return;
            }
            let delay = if paused.load(Ordering::Acquire) {
                Some(Duration::from_secs(1))
            } else if pq.count() > cfg.pull_threshold_for_queue
                || pq.size_bytes() > cfg.pull_threshold_size_for_queue
            {
                Some(Duration::from_millis(50))
            } else {
                None
            };
            if let Some(d) = delay {
                if !sleep_or(&*self.core.rt, d, &stop).await {
                    return;
                }
                continue;
            }
            let selector = self
                .core
                .subscription(&mq.topic)
                .map_or_else(MessageSelector::all, |s| s.selector);
            let args = PullArgs {
                group: self.core.group.clone(),
                mq: mq.clone(),
                offset,
                max_nums: cfg.pull_batch_size,
                sys_flag: pull_flag::SUSPEND | pull_flag::SUBSCRIPTION | pull_flag::LITE_PULL,
                commit_offset: 0,
                suspend_timeout: cfg.long_polling_timeout,
                subscription: Some(selector.expression().to_owned()),
                expression_type: Some(selector.expression_type().as_str().to_owned()),
                sub_version: SUB_VERSION,
                timeout: cfg.pull_timeout,
            };
            let r = match select(self.core.backend.pull(args), stop.wait()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return,
            };
            if pq.is_dropped() {
                return;
            }
            match r {
                Ok(r) => {
                    pq.touch_pull();
                    let nbo = r.next_begin_offset;
                    match r.status {
                        PullStatus::Found => {
                            let msgs: Vec<MessageExt> = r
                                .messages
                                .into_iter()
                                .filter(|m| selector.matches(m))
                                .collect();
                            offset = nbo;
                            if !msgs.is_empty() {
                                pq.put(&msgs);
                                pq.note_scanned(nbo);
                                let _ = self.tx.unbounded_send(Fetched {
                                    mq: mq.clone(),
                                    pq: Arc::clone(&pq),
                                    msgs,
                                });
                            }
                        }
                        PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => offset = nbo,
                        PullStatus::OffsetIllegal => {
                            offset = self.core.reposition(&mq, offset, &r).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(%mq, offset, error = %e, "lite pull failed; retrying");
                    if !sleep_or(&*self.core.rt, cfg.pull_delay_on_error, &stop).await {
                        return;
                    }
                }
            }
        }
    }
}

impl QueueOwner for LiteInner {
    type Ext = LiteQueue;

    fn core(&self) -> &ConsumerCore<LiteQueue> {
        &self.core
    }

    async fn take(self: &Arc<Self>, mq: &MessageQueue) -> Result<Option<i64>> {
        self.add_queue(mq, true).await
    }

    async fn release(self: &Arc<Self>, mq: &MessageQueue) {
        self.remove_queue(mq).await;
        tracing::info!(group = %self.core.group, %mq, "queue handed over");
    }

    /// Heartbeats now: the brokers will then list this client.
    async fn not_in_group(self: &Arc<Self>) {
        self.core.backend.heartbeat_now().await;
    }
}
