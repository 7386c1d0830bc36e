//! Pull consumers: the classic [`PullConsumer`] (you pick queue and offset) and the
//! [`LitePullConsumer`] (`poll()` with rebalance or manual assignment).

mod lite;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rocketmq_rs_remoting::protocol::body::{
    ConsumeType, ConsumerData, ConsumerRunningInfo, ProcessQueueInfo,
};

use crate::config::ClientConfig;
use crate::consumer::backend::{
    pull_flag, ConsumerBackend, ConsumerEvents, HeartbeatSource, PullArgs, PullResult,
};
use crate::consumer::offset_store::remote::RemoteOffsetStore;
use crate::consumer::{MessageModel, MessageSelector};
use crate::error::{Error, Result};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;
use crate::util::service_state::{AtomicServiceState, ServiceState};

pub use self::lite::{LitePullConsumer, LitePullConsumerBuilder, LitePullConsumerConfig};

/// Client timeout of a non-blocking pull (Java 10 s).
const PULL_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`PullConsumer`].
#[derive(Default)]
pub struct PullConsumerBuilder {
    client: ClientConfig,
    group: String,
    backend: Option<Arc<dyn ConsumerBackend>>,
    hooks: Vec<Arc<dyn crate::hook::ConsumeHook>>,
    trace: Option<crate::trace::TraceConfig>,
}

impl std::fmt::Debug for PullConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumerBuilder")
            .field("client", &self.client)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl PullConsumerBuilder {
    crate::consumer::builder::client_setters!();
    crate::consumer::builder::hook_setter!();
    crate::consumer::builder::trace_setter!();

    /// Consumer group (required).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Creates the consumer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty group or a bad client configuration.
    pub fn build(self) -> Result<PullConsumer> {
        if self.group.trim().is_empty() {
            return Err(Error::Config("consumer group must not be empty".into()));
        }
        let backend = crate::consumer::client_backend::given_or_new(self.backend, &self.client)?;
        let group = self.client.wrap(&self.group);
        let mut hooks = self.hooks;
        let trace = crate::trace::consumer_trace(
            self.trace,
            &self.client,
            backend.runtime(),
            &self.group,
            &mut hooks,
        )?;
        let hooks = crate::hook::ConsumeHooks::new(
            hooks,
            &self.group,
            self.client.namespace(),
            crate::hook::ConsumerKind::Pull,
        );
        Ok(PullConsumer {
            inner: Arc::new(PullInner {
                hooks,
                trace,
                store: RemoteOffsetStore::new(group.clone(), Arc::clone(&backend)),
                client: self.client,
                group,
                backend,
                state: AtomicServiceState::new(),
                started_at_ms: AtomicI64::new(0),
            }),
        })
    }
}

/// The classic pull consumer (Java `DefaultMQPullConsumer`): pull a given queue from a given
/// offset and manage offsets yourself.
///
/// ```no_run
/// # async fn demo() -> rocketmq_rs_client::Result<()> {
/// use rocketmq_rs_client::consumer::PullConsumer;
///
/// let pc = PullConsumer::builder().name_server("127.0.0.1:9876").group("g").build()?;
/// pc.start().await?;
/// for mq in pc.fetch_subscribe_queues("TopicTest").await? {
///     let offset = pc.fetch_consume_offset(&mq).await?.unwrap_or(0);
///     let res = pc.pull(&mq, "*", offset, 32).await?;
///     pc.update_consume_offset(&mq, res.next_begin_offset);
/// }
/// pc.persist_offsets().await?;
/// pc.shutdown().await;
/// # Ok(()) }
/// ```
#[doc(alias = "DefaultMQPullConsumer")]
#[derive(Clone)]
pub struct PullConsumer {
    inner: Arc<PullInner>,
}

impl std::fmt::Debug for PullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumer")
            .field("group", &self.inner.group)
            .finish_non_exhaustive()
    }
}

struct PullInner {
    /// Consume hooks: see every batch `pull` returns.
    hooks: crate::hook::ConsumeHooks,
    /// The message-trace dispatcher, when trace is on.
    trace: Option<Arc<crate::trace::TraceDispatcher>>,
    client: ClientConfig,
    group: String,
    backend: Arc<dyn ConsumerBackend>,
    store: RemoteOffsetStore,
    state: AtomicServiceState,
    started_at_ms: AtomicI64,
}

/// Weak, so the client's registry does not keep a dropped consumer alive.
struct PullHooks(Weak<PullInner>);

impl HeartbeatSource for PullHooks {
    fn consumer_data(&self) -> ConsumerData {
        let Some(inner) = self.0.upgrade() else {
            return ConsumerData::default();
        };
        ConsumerData {
            group_name: inner.group.clone(),
            consume_type: ConsumeType::ConsumeActively,
            message_model: MessageModel::Clustering.wire(),
            ..ConsumerData::default()
        }
    }
}

impl ConsumerEvents for PullHooks {
    fn rebalance_now(&self) {}

    /// Java `DefaultMQPullConsumerImpl`'s offset store, as for the push consumer.
    fn consumer_status(&self, topic: &str) -> BTreeMap<MessageQueue, i64> {
        self.0
            .upgrade()
            .map(|inner| {
                inner
                    .store
                    .snapshot()
                    .into_iter()
                    .filter(|(mq, _)| mq.topic == topic)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Java `DefaultMQPullConsumerImpl.consumerRunningInfo`: the consumer type and settings,
    /// and the in-memory offset of every queue this consumer has set one for (the classic
    /// pull consumer has no subscriptions or buffers of its own).
    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        let inner = self.0.upgrade()?;
        let mut info = ConsumerRunningInfo::default();
        for (mq, offset) in inner.store.snapshot() {
            info.mq_table.insert(
                mq,
                ProcessQueueInfo {
                    commit_offset: offset,
                    ..Default::default()
                },
            );
        }
        let props = [
            (
                ConsumerRunningInfo::PROP_CONSUME_TYPE,
                "CONSUME_ACTIVELY".to_owned(),
            ),
            (
                ConsumerRunningInfo::PROP_CONSUMER_START_TIMESTAMP,
                inner.started_at_ms.load(Ordering::Relaxed).to_string(),
            ),
            ("consumerGroup", inner.group.clone()),
            (
                "messageModel",
                lite::model_name(MessageModel::Clustering).to_owned(),
            ),
            (
                "consumerPullTimeoutMillis",
                PULL_TIMEOUT.as_millis().to_string(),
            ),
            (
                "unitName",
                inner.client.unit_name.clone().unwrap_or_default(),
            ),
        ];
        for (k, v) in props {
            info.properties.insert(k.to_owned(), v);
        }
        Some(info)
    }
}

impl PullConsumer {
    /// A builder.
    pub fn builder() -> PullConsumerBuilder {
        PullConsumerBuilder::default()
    }

    fn check_running(&self) -> Result<()> {
        self.inner.state.ensure_consumer_running()
    }

    /// Starts the client and registers the group.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if already started; [`Error::Config`] for a duplicate group.
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
        self.inner
            .started_at_ms
            .store(rocketmq_rs_remoting::util::now_ms(), Ordering::Relaxed);
        let hooks = Arc::new(PullHooks(Arc::downgrade(&self.inner)));
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
        if let Some(t) = &self.inner.trace {
            t.start().await;
        }
        Ok(())
    }

    fn wrap_mq(&self, mq: &MessageQueue) -> MessageQueue {
        let mut q = mq.clone();
        q.topic = self.inner.client.wrap(&q.topic);
        q
    }

    /// The readable queues of `topic`.
    ///
    /// # Errors
    ///
    /// [`Error::RouteNotFound`] and NameServer errors.
    pub async fn fetch_subscribe_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        self.check_running()?;
        let mut qs = self
            .inner
            .backend
            .subscribe_queues(&self.inner.client.wrap(topic))
            .await?;
        for q in &mut qs {
            q.topic = self.inner.client.unwrap(&q.topic);
        }
        Ok(qs)
    }

    /// Pulls up to `max_nums` messages of `mq` from `offset` without waiting for new ones.
    /// Messages are tag-filtered client-side and decompressed.
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn pull(
        &self,
        mq: &MessageQueue,
        selector: impl Into<MessageSelector>,
        offset: i64,
        max_nums: i32,
    ) -> Result<PullResult> {
        self.pull_inner(mq, selector.into(), offset, max_nums, None)
            .await
    }

    /// Like [`pull`](Self::pull), but the broker holds the request up to `suspend` when
    /// nothing is available (long polling).
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn pull_blocking(
        &self,
        mq: &MessageQueue,
        selector: impl Into<MessageSelector>,
        offset: i64,
        max_nums: i32,
        suspend: Duration,
    ) -> Result<PullResult> {
        self.pull_inner(mq, selector.into(), offset, max_nums, Some(suspend))
            .await
    }

    async fn pull_inner(
        &self,
        mq: &MessageQueue,
        selector: MessageSelector,
        offset: i64,
        max_nums: i32,
        suspend: Option<Duration>,
    ) -> Result<PullResult> {
        self.check_running()?;
        if offset < 0 || max_nums <= 0 {
            return Err(Error::Config("offset must be >= 0 and max_nums > 0".into()));
        }
        let wire = self.wrap_mq(mq);
        let mut sys_flag = pull_flag::SUBSCRIPTION;
        if suspend.is_some() {
            sys_flag |= pull_flag::SUSPEND;
        }
        let suspend_timeout = suspend.unwrap_or(Duration::ZERO);
        let args = PullArgs {
            group: self.inner.group.clone(),
            mq: wire,
            offset,
            max_nums,
            sys_flag,
            commit_offset: 0,
            suspend_timeout,
            subscription: Some(selector.expression().to_owned()),
            expression_type: Some(selector.expression_type().as_str().to_owned()),
            sub_version: 0,
            timeout: PULL_TIMEOUT + suspend_timeout,
        };
        let mut r = self.inner.backend.pull(args).await?;
        r.messages.retain(|m| selector.matches(m));
        if self.inner.client.namespace().is_some() {
            for m in &mut r.messages {
                m.topic = self.inner.client.unwrap(&m.topic);
            }
        }
        if !self.inner.hooks.is_empty() {
            // As Java's pull consumer: the batch is handed over, so consumed as far as hooks
            // can tell.
            self.inner.hooks.handed_over(mq, &r.messages);
        }
        Ok(r)
    }

    /// The offset stored on the broker for `mq` (`None`: the group has none).
    ///
    /// # Errors
    ///
    /// Broker and network errors (never mistaken for "no offset").
    pub async fn fetch_consume_offset(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        self.check_running()?;
        self.inner.store.read_store(&self.wrap_mq(mq)).await
    }

    /// Sets the in-memory offset of `mq` (committed by [`persist_offsets`](Self::persist_offsets)
    /// or at shutdown). May move backwards: this is an explicit seek.
    pub fn update_consume_offset(&self, mq: &MessageQueue, offset: i64) {
        self.inner.store.update(&self.wrap_mq(mq), offset, false);
    }

    /// Commits every in-memory offset to the brokers, waiting for the answers.
    ///
    /// # Errors
    ///
    /// The first failed commit.
    pub async fn persist_offsets(&self) -> Result<()> {
        let mqs: Vec<MessageQueue> = self.inner.store.snapshot().into_keys().collect();
        self.inner.store.persist_all(&mqs, false).await
    }

    /// The queue's max offset (one past the last message).
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn max_offset(&self, mq: &MessageQueue) -> Result<i64> {
        self.check_running()?;
        self.inner.backend.max_offset(&self.wrap_mq(mq)).await
    }

    /// The queue's min offset.
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn min_offset(&self, mq: &MessageQueue) -> Result<i64> {
        self.check_running()?;
        self.inner.backend.min_offset(&self.wrap_mq(mq)).await
    }

    /// The first offset stored at or after `timestamp_ms`.
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn search_offset(&self, mq: &MessageQueue, timestamp_ms: i64) -> Result<i64> {
        self.check_running()?;
        self.inner
            .backend
            .search_offset(&self.wrap_mq(mq), timestamp_ms)
            .await
    }

    /// Sends a consumed message back for a later retry (CONSUMER_SEND_MSG_BACK): `delay_level`
    /// 0 lets the broker choose, -1 sends it to the DLQ. `broker_name` is the broker it was
    /// pulled from.
    ///
    /// # Errors
    ///
    /// Broker and network errors.
    pub async fn send_message_back(
        &self,
        msg: &MessageExt,
        broker_name: &str,
        delay_level: i32,
        max_reconsume_times: i32,
    ) -> Result<()> {
        self.check_running()?;
        let mut m = msg.clone();
        m.topic = self.inner.client.wrap(&m.topic);
        self.inner
            .backend
            .send_back(
                broker_name,
                &self.inner.group,
                &m,
                delay_level,
                max_reconsume_times,
            )
            .await
    }

    /// Commits offsets, unregisters and closes. Idempotent.
    pub async fn shutdown(&self) {
        if self.inner.state.replace(ServiceState::ShutdownAlready) != ServiceState::Running {
            return;
        }
        if let Err(e) = self.persist_offsets_inner().await {
            tracing::warn!(error = %e, "offset commit at shutdown failed");
        }
        if let Some(t) = &self.inner.trace {
            t.shutdown().await;
        }
        self.inner
            .backend
            .unregister_consumer(&self.inner.group)
            .await;
        self.inner.backend.close().await;
    }

    async fn persist_offsets_inner(&self) -> Result<()> {
        let mqs: Vec<MessageQueue> = self.inner.store.snapshot().into_keys().collect();
        self.inner.store.persist_all(&mqs, false).await
    }
}
