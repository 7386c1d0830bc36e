//! The lite pull consumer (Java `DefaultLitePullConsumer`): background pulls fill a buffer that
//! the application drains with [`LitePullConsumer::poll`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use rocketmq_remoting::protocol::body::{
    ConsumeType, ConsumerData, ConsumerRunningInfo, ProcessQueueInfo,
};
use rocketmq_remoting::rt::{Runtime, ShutdownSignal, TaskGroup};
use rocketmq_remoting::util::{now_ms, MutexExt};

use crate::client::ClientInstance;
use crate::config::ClientConfig;
use crate::consumer::backend::{
    pull_flag, ConsumerBackend, ConsumerEvents, HeartbeatSource, PullArgs, PullStatus,
};
use crate::consumer::offset_store::local::{default_base_dir, LocalFileOffsetStore};
use crate::consumer::offset_store::remote::RemoteOffsetStore;
use crate::consumer::offset_store::OffsetStore;
use crate::consumer::push_internal::ProcessQueue;
use crate::consumer::rebalance::strategy::{AllocateAveragely, AllocateStrategy};
use crate::consumer::rebalance::{compute_start_offset, Rebalancer, Target};
use crate::consumer::{ConsumeFromWhere, MessageModel, MessageSelector};
use crate::error::{Error, Result};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;
use crate::util::service_state::{AtomicServiceState, ServiceState};

/// Settings of a [`LitePullConsumer`] (Java `DefaultLitePullConsumer` defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

/// Builds a [`LitePullConsumer`].
pub struct LitePullConsumerBuilder {
    client: ClientConfig,
    config: LitePullConsumerConfig,
    subscriptions: Vec<(String, MessageSelector)>,
    strategy: Arc<dyn AllocateStrategy>,
    backend: Option<Arc<dyn ConsumerBackend>>,
}

impl Default for LitePullConsumerBuilder {
    fn default() -> Self {
        LitePullConsumerBuilder {
            client: ClientConfig::default(),
            config: LitePullConsumerConfig::default(),
            subscriptions: Vec::new(),
            strategy: Arc::new(AllocateAveragely),
            backend: None,
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
    /// NameServer address list (`;`-separated).
    pub fn name_server(mut self, addrs: &str) -> Self {
        self.client.namesrv_addrs = ClientConfig::with_name_server(addrs).namesrv_addrs;
        self
    }

    /// Replaces the client configuration.
    pub fn client_config(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    /// Runs on a shared client instance (not shut down by the consumer).
    pub fn client_instance(mut self, instance: ClientInstance) -> Self {
        self.client = instance.config().clone();
        self.backend = Some(crate::consumer::client_backend::shared_backend(instance));
        self
    }

    /// Replaces the consumer configuration.
    pub fn config(mut self, config: LitePullConsumerConfig) -> Self {
        self.config = config;
        self
    }

    /// Consumer group (required).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.config.group = group.into();
        self
    }

    /// Subscribes `topic` (queues assigned by rebalance). Without any subscription, queues are
    /// given with [`LitePullConsumer::assign`].
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

    /// Automatic (default) or manual ([`LitePullConsumer::commit_sync`]) offset commits.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.config.auto_commit = on;
        self
    }

    /// Where a new group starts.
    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.config.consume_from_where = from;
        self
    }

    /// Clustering or broadcasting.
    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.config.message_model = model;
        self
    }

    /// Messages per pull.
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.config.pull_batch_size = n;
        self
    }

    /// Queue allocation strategy (subscribe mode).
    pub fn allocate_strategy(mut self, s: impl AllocateStrategy) -> Self {
        self.strategy = Arc::new(s);
        self
    }

    #[cfg(test)]
    pub(crate) fn backend(mut self, b: Arc<dyn ConsumerBackend>) -> Self {
        self.backend = Some(b);
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
        let backend = match self.backend {
            Some(b) => b,
            None => {
                self.client.validate()?;
                crate::consumer::client_backend::new_backend(&self.client)?
            }
        };
        let rt = backend.runtime();
        let group = self.client.wrap(&c.group);
        let store = match c.message_model {
            MessageModel::Clustering => {
                OffsetStore::Remote(RemoteOffsetStore::new(group.clone(), Arc::clone(&backend)))
            }
            MessageModel::Broadcasting => {
                let dir = c.local_offset_dir.clone().unwrap_or_else(default_base_dir);
                let local = LocalFileOffsetStore::new(dir, &backend.client_id(), &group)
                    .map_err(|e| Error::Config(format!("local offset store: {e}")))?;
                OffsetStore::Local {
                    store: Arc::new(local),
                    rt: Arc::clone(&rt),
                }
            }
        };
        let mut subs = BTreeMap::new();
        for (t, s) in self.subscriptions {
            crate::message::validate_topic(&t)?;
            subs.insert(self.client.wrap(&t), s);
        }
        let (tx, rx) = mpsc::unbounded();
        let (rtx, rrx) = mpsc::channel(1);
        let rebalancer = Rebalancer {
            group: group.clone(),
            model: c.message_model,
            strategy: self.strategy,
            backend: Arc::clone(&backend),
            last_members: Default::default(),
        };
        Ok(LitePullConsumer {
            inner: Arc::new(LiteInner {
                cfg: self.config,
                client: self.client,
                group,
                services: TaskGroup::new(Arc::clone(&rt)),
                pulls: TaskGroup::new(Arc::clone(&rt)),
                rt,
                backend,
                store,
                subs: Mutex::new(subs),
                assigned: Mutex::new(HashMap::new()),
                tx,
                rx: futures::lock::Mutex::new(rx),
                rebalance_tx: rtx,
                rebalance_rx: Mutex::new(Some(rrx)),
                rebalancer,
                state: AtomicServiceState::new(),
                started_at_ms: AtomicI64::new(0),
                lifecycle: futures::lock::Mutex::new(()),
            }),
        })
    }
}

/// A batch pulled from one queue, waiting in the poll buffer.
struct Fetched {
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
}

struct Assigned {
    pq: Arc<ProcessQueue>,
    stop: ShutdownSignal,
    paused: Arc<AtomicBool>,
    /// One past the last polled message: what a commit stores.
    consumed: Option<i64>,
    /// Taken by rebalance (subscribe mode), not by [`LitePullConsumer::assign`]: such queues
    /// go away with their topic's subscription.
    by_rebalance: bool,
}

struct LiteInner {
    cfg: LitePullConsumerConfig,
    client: ClientConfig,
    group: String,
    rt: Arc<dyn Runtime>,
    backend: Arc<dyn ConsumerBackend>,
    store: OffsetStore,
    subs: Mutex<BTreeMap<String, MessageSelector>>,
    assigned: Mutex<HashMap<MessageQueue, Assigned>>,
    tx: mpsc::UnboundedSender<Fetched>,
    rx: futures::lock::Mutex<mpsc::UnboundedReceiver<Fetched>>,
    services: TaskGroup,
    pulls: TaskGroup,
    rebalance_tx: mpsc::Sender<()>,
    rebalance_rx: Mutex<Option<mpsc::Receiver<()>>>,
    rebalancer: Rebalancer,
    state: AtomicServiceState,
    started_at_ms: AtomicI64,
    lifecycle: futures::lock::Mutex<()>,
}

/// A consumer you `poll()` (Java `DefaultLitePullConsumer`): queues are pulled in the
/// background (bounded per queue), [`poll`](Self::poll) returns what arrived; offsets are
/// committed automatically or with [`commit_sync`](Self::commit_sync).
///
/// ```no_run
/// # async fn demo() -> rocketmq_client::Result<()> {
/// use std::time::Duration;
/// use rocketmq_client::consumer::LitePullConsumer;
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
            .field("group", &self.inner.group)
            .finish_non_exhaustive()
    }
}

struct LiteHooks(Weak<LiteInner>);

impl HeartbeatSource for LiteHooks {
    fn consumer_data(&self) -> ConsumerData {
        let Some(inner) = self.0.upgrade() else {
            return ConsumerData::default();
        };
        let subscription_data_set = inner
            .subs()
            .iter()
            .map(|(t, s)| s.to_subscription_data(t, 0))
            .collect();
        ConsumerData {
            group_name: inner.group.clone(),
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
    /// [`Error::NotRunning`] if already started; [`Error::Config`] for a duplicate group.
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        let _g = inner.lifecycle.lock().await;
        if inner.state.get() != ServiceState::CreateJust {
            return Err(Error::NotRunning("the consumer was already started"));
        }
        inner.backend.start().await?;
        inner.store.load().await?;
        let hooks = Arc::new(LiteHooks(Arc::downgrade(inner)));
        if !inner
            .backend
            .register_consumer(&inner.group, hooks.clone(), hooks)
        {
            return Err(Error::Config(format!(
                "consumer group `{}` is already registered in this client",
                inner.group
            )));
        }
        inner.state.set(ServiceState::Running);
        inner.started_at_ms.store(now_ms(), Ordering::Relaxed);
        let topics: Vec<String> = inner.subs().keys().cloned().collect();
        for t in &topics {
            let _ = inner.backend.subscribe_queues(t).await;
        }
        inner.backend.heartbeat_now().await;
        if !topics.is_empty() {
            inner.ensure_rebalance_service();
        }
        if inner.cfg.auto_commit {
            let me = Arc::clone(inner);
            inner.services.spawn(async move {
                let stop = me.services.signal().clone();
                while sleep_or(&*me.rt, me.cfg.auto_commit_interval, &stop).await {
                    if let Err(e) = me.commit(true).await {
                        tracing::debug!(error = %e, "auto commit failed");
                    }
                }
            });
        }
        Ok(())
    }

    fn check_running(&self) -> Result<()> {
        if self.inner.state.get() == ServiceState::Running {
            Ok(())
        } else {
            Err(Error::NotRunning(
                "call start() first; a shut-down consumer cannot be used",
            ))
        }
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
    /// # async fn demo(c: rocketmq_client::consumer::LitePullConsumer) -> rocketmq_client::Result<()> {
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
        inner.subs().insert(topic.clone(), selector.into());
        if inner.state.get() != ServiceState::Running {
            return Ok(());
        }
        if let Err(e) = inner.backend.subscribe_queues(&topic).await {
            tracing::debug!(%topic, error = %e, "no route yet; the rebalance retries");
        }
        inner.backend.heartbeat_now().await;
        inner.ensure_rebalance_service();
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
        if inner.subs().remove(&topic).is_none() || inner.state.get() != ServiceState::Running {
            return Ok(());
        }
        inner.truncate_unsubscribed().await;
        inner.backend.heartbeat_now().await;
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
        let current: Vec<MessageQueue> = self.inner.assigned().keys().cloned().collect();
        for mq in current.iter().filter(|q| !wanted.contains(*q)) {
            self.inner.remove_queue(mq).await;
        }
        for mq in wanted {
            if !self.inner.assigned().contains_key(&mq) {
                self.inner.add_queue(&mq, false).await?;
            }
        }
        Ok(())
    }

    /// The queues currently assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let mut v: Vec<_> = self
            .inner
            .assigned()
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
        let mut deadline = Box::pin(inner.rt.sleep(timeout));
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
                let mut a = inner.assigned();
                match a.get_mut(&f.mq) {
                    Some(e) if Arc::ptr_eq(&e.pq, &f.pq) => {
                        if let Some(o) = offset {
                            e.consumed = Some(e.consumed.map_or(o, |c| c.max(o)));
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
        if !self.inner.assigned().contains_key(&mq) {
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
        let off = self.inner.backend.min_offset(&self.wrap_mq(mq)).await?;
        self.seek(mq, off).await
    }

    /// Seeks to the queue's max offset (only new messages).
    ///
    /// # Errors
    ///
    /// Broker errors; [`Error::Config`] if not assigned.
    pub async fn seek_to_end(&self, mq: &MessageQueue) -> Result<()> {
        let off = self.inner.backend.max_offset(&self.wrap_mq(mq)).await?;
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
            .backend
            .search_offset(&self.wrap_mq(mq), timestamp_ms)
            .await?;
        self.seek(mq, off).await
    }

    /// Stops pulling the given queues (already buffered messages are still returned).
    pub fn pause(&self, mqs: &[MessageQueue]) {
        let a = self.inner.assigned();
        for mq in mqs {
            if let Some(e) = a.get(&self.wrap_mq(mq)) {
                e.paused.store(true, Ordering::Release);
            }
        }
    }

    /// Resumes pulling the given queues.
    pub fn resume(&self, mqs: &[MessageQueue]) {
        let a = self.inner.assigned();
        for mq in mqs {
            if let Some(e) = a.get(&self.wrap_mq(mq)) {
                e.paused.store(false, Ordering::Release);
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
        self.inner.store.read_store(&self.wrap_mq(mq)).await
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
        inner.services.shutdown(Duration::from_secs(3)).await;
        for e in inner.assigned().values() {
            e.stop.trigger();
        }
        inner.pulls.shutdown(Duration::from_secs(3)).await;
        let res = if inner.cfg.auto_commit {
            inner.commit(false).await
        } else {
            Ok(())
        };
        for e in inner.assigned().values() {
            e.pq.set_dropped();
        }
        inner.backend.unregister_consumer(&inner.group).await;
        inner.backend.close().await;
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

async fn sleep_or(rt: &dyn Runtime, d: Duration, stop: &ShutdownSignal) -> bool {
    if stop.is_triggered() {
        return false;
    }
    matches!(select(rt.sleep(d), stop.wait()).await, Either::Left(_))
}

impl LiteInner {
    fn assigned(&self) -> MutexGuard<'_, HashMap<MessageQueue, Assigned>> {
        self.assigned.lock_unpoisoned()
    }

    fn subs(&self) -> MutexGuard<'_, BTreeMap<String, MessageSelector>> {
        self.subs.lock_unpoisoned()
    }

    fn kick_rebalance(&self) {
        let _ = self.rebalance_tx.clone().try_send(());
    }

    /// Starts the rebalance loop unless it runs already (it starts with the first
    /// subscription, at `start` or later).
    fn ensure_rebalance_service(self: &Arc<Self>) {
        let rx = self.rebalance_rx.lock_unpoisoned().take();
        if let Some(mut rx) = rx {
            let me = Arc::clone(self);
            self.services.spawn(async move {
                let stop = me.services.signal().clone();
                loop {
                    me.rebalance().await;
                    let wake = select(rx.next(), me.rt.sleep(me.client.rebalance_interval));
                    if let Either::Right(_) = select(wake, stop.wait()).await {
                        return;
                    }
                }
            });
        }
    }

    /// Hands over the rebalanced queues whose topic is no longer subscribed (Java
    /// `truncateMessageQueueNotMyTopic`).
    async fn truncate_unsubscribed(&self) {
        let stale: Vec<MessageQueue> = {
            // Not holding the subscription lock while taking the queue lock (the rebalance
            // takes them in the other order).
            let subs: HashSet<String> = self.subs().keys().cloned().collect();
            self.assigned()
                .iter()
                .filter(|(mq, e)| e.by_rebalance && !subs.contains(&mq.topic))
                .map(|(mq, _)| mq.clone())
                .collect()
        };
        for mq in &stale {
            self.remove_queue(mq).await;
        }
    }

    /// GET_CONSUMER_RUNNING_INFO body (Java `DefaultLitePullConsumerImpl.consumerRunningInfo`):
    /// the settings as properties, the subscriptions, and per assigned queue its consume
    /// position and buffer state.
    fn running_info(&self) -> ConsumerRunningInfo {
        let mut info = ConsumerRunningInfo {
            subscription_set: self
                .subs()
                .iter()
                .map(|(t, s)| s.to_subscription_data(t, 0))
                .collect(),
            ..Default::default()
        };
        let now = self.rt.now();
        let wall = now_ms();
        let ago =
            |t: std::time::Instant| wall - now.saturating_duration_since(t).as_millis() as i64;
        for (mq, e) in self.assigned().iter() {
            let (lo, hi) = e.pq.cached_range().unwrap_or((0, 0));
            let commit_offset = e
                .consumed
                .filter(|_| self.cfg.auto_commit)
                .or_else(|| self.store.read_memory(mq))
                .unwrap_or(-1);
            info.mq_table.insert(
                mq.clone(),
                ProcessQueueInfo {
                    commit_offset,
                    cached_msg_min_offset: lo,
                    cached_msg_max_offset: hi,
                    cached_msg_count: i32::try_from(e.pq.count()).unwrap_or(i32::MAX),
                    cached_msg_size_in_mi_b: i32::try_from(e.pq.size_bytes() / (1024 * 1024))
                        .unwrap_or(i32::MAX),
                    dropped: e.pq.is_dropped(),
                    last_pull_timestamp: ago(e.pq.last_pull()),
                    last_consume_timestamp: ago(e.pq.last_consume()),
                    ..Default::default()
                },
            );
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
            ("consumerGroup", self.group.clone()),
            ("messageModel", model_name(c.message_model).to_owned()),
            ("consumeFromWhere", format!("{:?}", c.consume_from_where)),
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
            .assigned()
            .iter()
            .filter_map(|(mq, e)| e.consumed.map(|o| (mq.clone(), o)))
            .collect();
        for (mq, o) in &todo {
            self.store.update(mq, *o, true);
        }
        let mqs: Vec<MessageQueue> = todo.into_iter().map(|(m, _)| m).collect();
        self.store.persist_all(&mqs, oneway).await
    }

    /// One rebalance round. Queues no longer ours are handed over first (pulls stop, the
    /// buffer is discarded, the consume position committed). Queues newly ours are taken only
    /// after `rebalance_join_grace` when the membership just changed, so their previous owners
    /// commit before this consumer reads the offsets (as the push consumer does).
    async fn rebalance(self: &Arc<Self>) {
        self.truncate_unsubscribed().await;
        let topics: Vec<String> = self.subs().keys().cloned().collect();
        let mut additions = Vec::new();
        let mut moving = false;
        for topic in topics {
            if self.state.get() != ServiceState::Running {
                return;
            }
            match self.rebalancer.target(&topic).await {
                Ok(Target::Queues {
                    queues,
                    members_changed,
                }) => {
                    let want: HashSet<MessageQueue> = queues.into_iter().collect();
                    let leaving: Vec<MessageQueue> = self
                        .assigned()
                        .iter()
                        .filter(|(q, e)| e.by_rebalance && q.topic == topic && !want.contains(*q))
                        .map(|(q, _)| q.clone())
                        .collect();
                    for mq in &leaving {
                        self.remove_queue(mq).await;
                        tracing::info!(group = %self.group, %mq, "queue handed over");
                    }
                    let a = self.assigned();
                    let before = additions.len();
                    additions.extend(want.into_iter().filter(|q| !a.contains_key(q)));
                    moving |= members_changed && additions.len() > before;
                }
                Ok(Target::Keep) => self.backend.heartbeat_now().await,
                Err(e) => {
                    tracing::warn!(group = %self.group, topic, error = %e, "rebalance failed")
                }
            }
        }
        if additions.is_empty() {
            return;
        }
        let grace = self.cfg.rebalance_join_grace;
        if moving && !grace.is_zero() && !sleep_or(&*self.rt, grace, self.services.signal()).await {
            return;
        }
        additions.sort();
        for mq in additions {
            if self.state.get() != ServiceState::Running {
                return;
            }
            if self.assigned().contains_key(&mq) || !self.subs().contains_key(&mq.topic) {
                continue;
            }
            match self.add_queue(&mq, true).await {
                Ok(()) => tracing::info!(group = %self.group, %mq, "queue assigned"),
                Err(e) => {
                    tracing::warn!(group = %self.group, %mq, error = %e, "cannot start the queue; retrying at the next rebalance")
                }
            }
        }
    }

    async fn add_queue(self: &Arc<Self>, mq: &MessageQueue, by_rebalance: bool) -> Result<()> {
        self.store.remove(mq);
        let offset =
            compute_start_offset(&self.store, &*self.backend, mq, self.cfg.consume_from_where)
                .await?;
        self.store.update(mq, offset, false);
        let pq = Arc::new(ProcessQueue::new(self.rt.clock()));
        let stop = ShutdownSignal::new();
        let paused = Arc::new(AtomicBool::new(false));
        {
            let mut a = self.assigned();
            if a.contains_key(mq) {
                return Ok(());
            }
            a.insert(
                mq.clone(),
                Assigned {
                    pq: Arc::clone(&pq),
                    stop: stop.clone(),
                    paused: Arc::clone(&paused),
                    consumed: None,
                    by_rebalance,
                },
            );
        }
        self.spawn_pull(mq.clone(), pq, stop, paused, offset);
        Ok(())
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
        self.pulls
            .spawn(async move { me.pull_loop(mq, pq, stop, paused, offset).await });
    }

    /// Seek: a new process queue and pull loop from `offset`; the old ones are dropped.
    fn restart_queue(self: &Arc<Self>, mq: &MessageQueue, offset: i64) {
        let (pq, stop, paused) = {
            let mut a = self.assigned();
            let Some(e) = a.get_mut(mq) else { return };
            e.stop.trigger();
            e.pq.set_dropped();
            e.pq = Arc::new(ProcessQueue::new(self.rt.clock()));
            e.stop = ShutdownSignal::new();
            e.consumed = Some(offset);
            (Arc::clone(&e.pq), e.stop.clone(), Arc::clone(&e.paused))
        };
        // An explicit seek is the one place an offset may move backwards.
        self.store.update(mq, offset, false);
        tracing::info!(%mq, offset, "seek");
        self.spawn_pull(mq.clone(), pq, stop, paused, offset);
    }

    async fn remove_queue(&self, mq: &MessageQueue) {
        let Some(e) = self.assigned().remove(mq) else {
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
            if let Some(o) = e.consumed {
                self.store.update(mq, o, true);
            }
        }
        if let Err(err) = self
            .store
            .persist_all(std::slice::from_ref(mq), false)
            .await
        {
            tracing::warn!(%mq, error = %err, "offset commit of a removed queue failed");
        }
        self.store.remove(mq);
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
                if !sleep_or(&*self.rt, d, &stop).await {
                    return;
                }
                continue;
            }
            let selector = self
                .subs()
                .get(&mq.topic)
                .cloned()
                .unwrap_or_else(MessageSelector::all);
            let args = PullArgs {
                group: self.group.clone(),
                mq: mq.clone(),
                offset,
                max_nums: cfg.pull_batch_size,
                sys_flag: pull_flag::SUSPEND | pull_flag::SUBSCRIPTION | pull_flag::LITE_PULL,
                commit_offset: 0,
                suspend_timeout: cfg.long_polling_timeout,
                subscription: Some(selector.expression().to_owned()),
                expression_type: Some(selector.expression_type().as_str().to_owned()),
                sub_version: 0,
                timeout: cfg.pull_timeout,
            };
            let r = match select(self.backend.pull(args), stop.wait()).await {
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
                            let corrected = if r.min_offset <= r.max_offset {
                                nbo.clamp(r.min_offset, r.max_offset)
                            } else {
                                nbo
                            };
                            tracing::warn!(%mq, requested = offset, corrected, min = r.min_offset, max = r.max_offset,
                                "broker reports the offset out of range; moving there");
                            offset = corrected;
                            self.store.update(&mq, corrected, false);
                            let _ = self
                                .store
                                .persist_all(std::slice::from_ref(&mq), false)
                                .await;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(%mq, offset, error = %e, "lite pull failed; retrying");
                    if !sleep_or(&*self.rt, cfg.pull_delay_on_error, &stop).await {
                        return;
                    }
                }
            }
        }
    }
}
