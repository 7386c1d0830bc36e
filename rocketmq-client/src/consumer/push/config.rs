//! [`PushConsumerConfig`] and [`PushConsumerBuilder`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ClientConfig;
use crate::consumer::backend::ConsumerBackend;
use crate::consumer::rebalance::strategy::{AllocateAveragely, AllocateStrategy};
use crate::consumer::{ConsumeFromWhere, MessageModel, MessageSelector};
use crate::error::{Error, Result};

use super::listener::{MessageListener, OrderlyListener};
use super::PushConsumer;

/// Settings of a push consumer (Java `DefaultMQPushConsumer`), with Java's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PushConsumerConfig {
    /// Consumer group (required).
    pub group: String,
    /// Clustering (default) or broadcasting.
    pub message_model: MessageModel,
    /// Where a group without committed offsets starts (see [`ConsumeFromWhere`]).
    pub consume_from_where: ConsumeFromWhere,
    /// How many listener calls may run at once over all queues (Java `consumeThreadMax`, 20).
    /// When all are busy, pulled messages wait and pulling slows down; nothing is failed.
    pub consume_concurrency: usize,
    /// Max messages per listener call (Java `consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Max messages per pull request (Java `pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// Pause between two pulls of a queue (Java `pullInterval`, 0).
    #[serde(
        rename = "pull_interval_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_interval: Duration,
    /// Per-queue cached message limit before pulling pauses (Java `pullThresholdForQueue`, 1000).
    pub pull_threshold_for_queue: usize,
    /// Per-queue cached body bytes limit (Java `pullThresholdSizeForQueue`, 100 MiB).
    pub pull_threshold_size_for_queue: u64,
    /// Max offset span of cached messages of a queue, concurrent mode (Java
    /// `consumeConcurrentlyMaxSpan`, 2000).
    pub consume_concurrently_max_span: i64,
    /// Attempts before a message goes to the DLQ. `None`: 16 for concurrent listeners,
    /// unlimited for orderly ones (Java -1).
    pub max_reconsume_times: Option<i32>,
    /// Delay level for messages sent back after `ReconsumeLater`: 0 lets the broker choose
    /// (`3 + reconsumeTimes`), -1 sends straight to the DLQ. The starting value of each
    /// call's [`ConsumeContext::delay_level`](crate::consumer::ConsumeContext::delay_level),
    /// which a listener may change per call with
    /// [`ConsumeContext::set_delay_level`](crate::consumer::ConsumeContext::set_delay_level).
    pub delay_level_when_next_consume: i32,
    /// Concurrent listeners: a call still running after this long is dropped (cancelled at
    /// its pending `.await`) and its messages are sent back for redelivery with delay level 3
    /// (broadcasting: skipped) and leave the process queue, so the queue's committed offset
    /// moves past them: one stuck message cannot pin a queue (Java `consumeTimeout`, 15 min;
    /// in a file `consume_timeout_ms`). The redelivered message counts as one more reconsume
    /// attempt. Java lets the stuck call run on; here it is cancelled, which also frees its
    /// listener slot. A listener that blocks its thread instead of awaiting cannot be
    /// cancelled: keep blocking work off the async runtime. Orderly listeners have no
    /// timeout (as in Java): their queue waits for the call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rocketmq_rs_client::consumer::PushConsumerConfig;
    ///
    /// let cfg: PushConsumerConfig =
    ///     serde_json::from_str(r#"{"group": "g", "consume_timeout_ms": 60000}"#).unwrap();
    /// assert_eq!(cfg.consume_timeout, Duration::from_secs(60));
    /// assert_eq!(PushConsumerConfig::default().consume_timeout, Duration::from_secs(15 * 60));
    /// ```
    #[serde(
        rename = "consume_timeout_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub consume_timeout: Duration,
    /// Orderly: pause before a suspended batch is consumed again (Java 1 s).
    #[serde(
        rename = "suspend_current_queue_time_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub suspend_current_queue_time: Duration,
    /// How long the broker may hold a pull (Java `brokerSuspendMaxTimeMillis`, 15 s).
    #[serde(
        rename = "long_polling_timeout_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub long_polling_timeout: Duration,
    /// Client timeout of a pull request; must exceed `long_polling_timeout` (Java 30 s).
    #[serde(rename = "pull_timeout_ms", with = "crate::config::serde_impl::millis")]
    pub pull_timeout: Duration,
    /// Retry delay after a failed pull (Java 1 s).
    #[serde(
        rename = "pull_delay_on_error_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_delay_on_error: Duration,
    /// Retry delay when local flow control pauses a queue (Java 50 ms).
    #[serde(
        rename = "pull_delay_on_flow_control_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_delay_on_flow_control: Duration,
    /// Retry delay while the consumer is suspended (Java 1 s).
    #[serde(
        rename = "pull_delay_on_suspend_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_delay_on_suspend: Duration,
    /// Orderly: how often broker queue locks are renewed (Java 20 s).
    #[serde(
        rename = "lock_renew_interval_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub lock_renew_interval: Duration,
    /// Send the subscription with every pull (SUBSCRIPTION flag) instead of relying on the
    /// heartbeat (Java `postSubscriptionWhenPull`, false).
    pub post_subscription_when_pull: bool,
    /// How long `shutdown()` waits for running listeners before committing offsets.
    #[serde(
        rename = "await_termination_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub await_termination: Duration,
    /// A queue whose pull loop made no progress for this long is restarted (watchdog).
    #[serde(
        rename = "pull_watchdog_timeout_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pull_watchdog_timeout: Duration,
    /// Clustering: when the group's membership changed (a member joined or left; for a new
    /// consumer: the group already had members), queues newly allocated to this consumer are
    /// taken over only after this delay, so their previous owners (notified by the broker at
    /// the same moment) hand them over and commit their final offsets before this consumer
    /// reads them. Queues leaving this consumer are handed over at once. Zero = Java behaviour
    /// (both sides race; the new owner may start from an older offset and duplicate
    /// messages). Default 1 s.
    #[serde(
        rename = "rebalance_join_grace_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub rebalance_join_grace: Duration,
    /// Broadcasting: base directory of the local offset files (default
    /// `~/.rocketmq_offsets`).
    pub local_offset_dir: Option<PathBuf>,
    /// Whether subscribed topics are consumed by POP (RocketMQ 5.x) instead of pulling owned
    /// queues: never (default, as Java's default `clientRebalance = true`), always, or as the
    /// broker's consume mode for the group and topic says (Java `setClientRebalance(false)`,
    /// switched with `mqadmin setConsumeMode`). See [`PopMode`].
    pub pop_mode: PopMode,
    /// POP: how long a popped message stays invisible to other consumers unless acked (Java
    /// `popInvisibleTime`, 60 s; 5 s..=300 s). A listener call must finish within it, or the
    /// message is delivered again.
    #[serde(
        rename = "pop_invisible_time_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub pop_invisible_time: Duration,
    /// POP: max messages per POP request (Java `popBatchNums`, 32; 1..=32).
    pub pop_batch_size: i32,
    /// POP: popped messages of one POP queue not yet acked before popping pauses (Java
    /// `popThresholdForQueue`, 96).
    pub pop_threshold_for_queue: usize,
}

/// How a [`PushConsumer`] consumes its topics (RocketMQ 5.x).
///
/// In POP mode the **broker** hands out each topic's messages to whichever consumer pops
/// first: consumers may outnumber queues, one slow consumer holds nothing back, each message is
/// acked on its own after the listener returns `Success`, and `ReconsumeLater` makes it
/// visible again after a back-off (10 s, 30 s, 1 min, ... as Java). A message whose listener
/// call does not finish within [`PushConsumerConfig::pop_invisible_time`] (or whose consumer
/// dies) is delivered again to any consumer. Orderly listeners pop in order: the broker hands
/// out a queue's next messages only after the previous ones were acked (or came back). POP
/// needs a RocketMQ 5.x broker (or mini-broker); it applies to clustering consumers only.
///
/// ```
/// use rocketmq_rs_client::consumer::{PopMode, PushConsumerConfig};
/// let mut cfg = PushConsumerConfig::default();
/// assert_eq!(cfg.pop_mode, PopMode::Never);
/// cfg.pop_mode = PopMode::FollowBroker; // switch when `mqadmin setConsumeMode -m POP` says so
/// let from_file: PopMode = serde_json::from_str("\"always\"").unwrap();
/// assert_eq!(from_file, PopMode::Always);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PopMode {
    /// Pull owned queues (client rebalance), as Java's default.
    #[default]
    Never,
    /// POP every subscribed topic from every broker serving it (queue id -1).
    Always,
    /// Ask a broker of each topic every rebalance (QUERY_ASSIGNMENT) and consume as it says:
    /// POP the queues it assigns when the group's mode for the topic is POP, else pull owned
    /// queues. Orderly listeners stay on pull here, as Java's (which always rebalances
    /// orderly consumers itself); use [`Always`](Self::Always) for orderly POP.
    FollowBroker,
}

impl Default for PushConsumerConfig {
    fn default() -> Self {
        PushConsumerConfig {
            group: String::new(),
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            consume_concurrency: 20,
            consume_batch_size: 1,
            pull_batch_size: 32,
            pull_interval: Duration::ZERO,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            consume_concurrently_max_span: 2000,
            max_reconsume_times: None,
            delay_level_when_next_consume: 0,
            consume_timeout: Duration::from_secs(15 * 60),
            suspend_current_queue_time: Duration::from_secs(1),
            long_polling_timeout: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            pull_delay_on_error: Duration::from_secs(1),
            pull_delay_on_flow_control: Duration::from_millis(50),
            pull_delay_on_suspend: Duration::from_secs(1),
            lock_renew_interval: Duration::from_secs(20),
            post_subscription_when_pull: false,
            await_termination: Duration::from_secs(10),
            pull_watchdog_timeout: Duration::from_secs(120),
            rebalance_join_grace: Duration::from_secs(1),
            local_offset_dir: None,
            pop_mode: PopMode::Never,
            pop_invisible_time: Duration::from_secs(60),
            pop_batch_size: 32,
            pop_threshold_for_queue: 96,
        }
    }
}

impl PushConsumerConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.group.trim().is_empty() {
            return bad("consumer group must not be empty");
        }
        if self.group.len() > 120 {
            return bad("consumer group is longer than 120 characters");
        }
        if self.consume_concurrency == 0 {
            return bad("consume_concurrency must be at least 1");
        }
        if self.consume_batch_size == 0 || self.consume_batch_size > 1024 {
            return bad("consume_batch_size must be in 1..=1024");
        }
        if self.pull_batch_size <= 0 || self.pull_batch_size > 1024 {
            return bad("pull_batch_size must be in 1..=1024");
        }
        if self.pull_threshold_for_queue == 0 || self.pull_threshold_size_for_queue == 0 {
            return bad("pull thresholds must be positive");
        }
        if self.consume_concurrently_max_span <= 0 {
            return bad("consume_concurrently_max_span must be positive");
        }
        if self.pull_timeout <= self.long_polling_timeout {
            return bad("pull_timeout must exceed long_polling_timeout");
        }
        if self.pull_watchdog_timeout <= self.pull_timeout {
            return bad("pull_watchdog_timeout must exceed pull_timeout");
        }
        if self.consume_timeout.is_zero() {
            return bad("consume_timeout must be positive");
        }
        if self.lock_renew_interval.is_zero() {
            return bad("lock_renew_interval must be positive");
        }
        if self.pop_mode != PopMode::Never {
            if !(Duration::from_secs(5)..=Duration::from_secs(300))
                .contains(&self.pop_invisible_time)
            {
                return bad("pop_invisible_time must be in 5 s..=300 s (Java's range)");
            }
            if !(1..=32).contains(&self.pop_batch_size) {
                return bad("pop_batch_size must be in 1..=32");
            }
            if self.pop_threshold_for_queue == 0 {
                return bad("pop_threshold_for_queue must be positive");
            }
            if self.pop_mode == PopMode::Always && self.message_model == MessageModel::Broadcasting
            {
                return bad("POP consumes a topic once per group: it cannot broadcast");
            }
        }
        Ok(())
    }
}

pub(crate) enum ListenerKind {
    Concurrent(Arc<dyn MessageListener>),
    Orderly(Arc<dyn OrderlyListener>),
}

/// Builds a [`PushConsumer`].
///
/// ```no_run
/// # async fn demo() -> rocketmq_rs_client::Result<()> {
/// use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, PushConsumer};
/// use rocketmq_rs_client::message::MessageExt;
///
/// let consumer = PushConsumer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("example_cg")
///     .subscribe("TopicTest", "TagA || TagB")
///     .listener(|msgs: Vec<MessageExt>, _ctx: ConsumeContext| async move {
///         println!("got {} messages", msgs.len());
///         ConsumeResult::Success
///     })
///     .build()?;
/// consumer.start().await?;
/// // ...
/// consumer.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct PushConsumerBuilder {
    pub(crate) client: ClientConfig,
    pub(crate) config: PushConsumerConfig,
    pub(crate) subscriptions: Vec<(String, MessageSelector)>,
    pub(crate) listener: Option<ListenerKind>,
    pub(crate) strategy: Arc<dyn AllocateStrategy>,
    pub(crate) backend: Option<Arc<dyn ConsumerBackend>>,
    pub(crate) hooks: Vec<Arc<dyn crate::hook::ConsumeHook>>,
    pub(crate) trace: Option<crate::trace::TraceConfig>,
}

impl Default for PushConsumerBuilder {
    fn default() -> Self {
        PushConsumerBuilder {
            client: ClientConfig::default(),
            config: PushConsumerConfig::default(),
            subscriptions: Vec::new(),
            listener: None,
            strategy: Arc::new(AllocateAveragely),
            backend: None,
            hooks: Vec::new(),
            trace: None,
        }
    }
}

impl std::fmt::Debug for PushConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumerBuilder")
            .field("client", &self.client)
            .field("config", &self.config)
            .field("subscriptions", &self.subscriptions)
            .field("strategy", &self.strategy.name())
            .finish_non_exhaustive()
    }
}

impl PushConsumerBuilder {
    crate::consumer::builder::client_setters!();
    crate::consumer::builder::subscription_setters!();
    crate::consumer::builder::hook_setter!();
    crate::consumer::builder::trace_setter!();

    /// Replaces the whole consumer configuration.
    pub fn config(mut self, config: PushConsumerConfig) -> Self {
        self.config = config;
        self
    }

    /// Listener concurrency bound.
    pub fn consume_concurrency(mut self, n: usize) -> Self {
        self.config.consume_concurrency = n;
        self
    }

    /// Max messages per listener call.
    pub fn consume_batch_size(mut self, n: usize) -> Self {
        self.config.consume_batch_size = n;
        self
    }

    /// Consume by POP: always, never, or as the broker says (see [`PopMode`]).
    pub fn pop_mode(mut self, mode: PopMode) -> Self {
        self.config.pop_mode = mode;
        self
    }

    /// POP invisible time (5 s..=300 s, default 60 s).
    pub fn pop_invisible_time(mut self, d: Duration) -> Self {
        self.config.pop_invisible_time = d;
        self
    }

    /// Attempts before the DLQ.
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.config.max_reconsume_times = Some(n);
        self
    }

    /// How long a concurrent listener call may run before its messages are sent back for
    /// redelivery (see [`PushConsumerConfig::consume_timeout`]; 15 min).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, PushConsumer};
    /// use rocketmq_rs_client::message::MessageExt;
    ///
    /// let consumer = PushConsumer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("billing_cg")
    ///     .subscribe("Invoices", "*")
    ///     .consume_timeout(Duration::from_secs(60))
    ///     .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| async {
    ///         ConsumeResult::Success
    ///     })
    ///     .build();
    /// assert!(consumer.is_ok());
    /// ```
    pub fn consume_timeout(mut self, timeout: Duration) -> Self {
        self.config.consume_timeout = timeout;
        self
    }

    /// A concurrent listener (replaces any listener set before).
    pub fn listener(mut self, l: impl MessageListener) -> Self {
        self.listener = Some(ListenerKind::Concurrent(Arc::new(l)));
        self
    }

    /// An orderly listener (replaces any listener set before).
    pub fn orderly_listener(mut self, l: impl OrderlyListener) -> Self {
        self.listener = Some(ListenerKind::Orderly(Arc::new(l)));
        self
    }

    /// Validates the settings and creates the consumer (nothing is connected until
    /// [`PushConsumer::start`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a missing group, listener or subscription, or a bad setting.
    pub fn build(self) -> Result<PushConsumer> {
        PushConsumer::from_builder(self)
    }
}
