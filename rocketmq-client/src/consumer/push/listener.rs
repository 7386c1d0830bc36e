//! Async message listeners of the push consumer.
//!
//! A listener receives an owned batch (bodies are `Bytes`, so the copy kept for a retry is
//! cheap) and returns a `'static` future, so closures need no higher-ranked lifetimes.
//! A panicking listener counts as [`ConsumeResult::ReconsumeLater`] /
//! [`OrderlyResult::SuspendCurrentQueueAMoment`], as a Java exception does.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rocketmq_rs_remoting::rt::BoxFuture;

use crate::consumer::{ConsumeResult, OrderlyResult};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;

/// What a concurrent listener learns about its batch, and how it may tune the outcome of its
/// call (Java `ConsumeConcurrentlyContext`): the delay level of the messages it sends back,
/// and on [`ConsumeResult::Success`] how many of the batch actually succeeded.
///
/// The setters take `&self` so the context can be used from the listener's future as it is;
/// clones share the settings. They are read when the call returns.
///
/// ```
/// use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, MessageListener};
/// use rocketmq_rs_client::message::MessageExt;
///
/// fn assert_listener(_: impl MessageListener) {}
/// assert_listener(|msgs: Vec<MessageExt>, ctx: ConsumeContext| async move {
///     // Stop at the first message that fails: the ones before it are consumed, it and the
///     // rest go back to the broker for a retry...
///     if let Some(bad) = msgs.iter().position(|m| m.body.is_empty()) {
///         if bad == 0 {
///             // ...after delay level 5 (1 minute on a default broker) rather than the
///             // broker's choice,
///             ctx.set_delay_level(5);
///             return ConsumeResult::ReconsumeLater;
///         }
///         ctx.set_ack_index(bad - 1);
///     }
///     ConsumeResult::Success
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeContext {
    /// The queue the batch came from (topic without namespace).
    pub queue: MessageQueue,
    outcome: Arc<ConsumeOutcome>,
}

/// The settings a concurrent listener left in its context.
#[derive(Debug)]
pub(crate) struct ConsumeOutcome {
    delay_level: AtomicI32,
    /// `usize::MAX`: every message of a successful batch succeeded (Java `Integer.MAX_VALUE`).
    ack_index: AtomicUsize,
}

impl ConsumeOutcome {
    pub(crate) fn delay_level(&self) -> i32 {
        self.delay_level.load(Ordering::Acquire)
    }

    /// How many messages of a batch of `len` succeeded with `result`.
    pub(crate) fn succeeded(&self, result: ConsumeResult, len: usize) -> usize {
        match result {
            ConsumeResult::Success => self
                .ack_index
                .load(Ordering::Acquire)
                .saturating_add(1)
                .min(len),
            ConsumeResult::ReconsumeLater => 0,
        }
    }
}

impl ConsumeContext {
    /// A context for a batch of `queue`, with the defaults a push consumer starts from
    /// (delay level 0, every message acknowledged); for calling a listener in a unit test.
    ///
    /// ```
    /// use rocketmq_rs_client::consumer::ConsumeContext;
    /// use rocketmq_rs_client::MessageQueue;
    ///
    /// let ctx = ConsumeContext::new(MessageQueue::new("TopicTest", "broker-a", 0));
    /// assert_eq!(ctx.delay_level(), 0);
    /// assert_eq!(ctx.ack_index(), None);
    /// ```
    pub fn new(queue: MessageQueue) -> Self {
        ConsumeContext::with_delay_level(queue, 0)
    }

    pub(crate) fn with_delay_level(queue: MessageQueue, level: i32) -> Self {
        ConsumeContext {
            queue,
            outcome: Arc::new(ConsumeOutcome {
                delay_level: AtomicI32::new(level),
                ack_index: AtomicUsize::new(usize::MAX),
            }),
        }
    }

    pub(crate) fn outcome(&self) -> Arc<ConsumeOutcome> {
        Arc::clone(&self.outcome)
    }

    /// The delay level of the messages this call sends back (set, or the consumer's
    /// [`delay_level_when_next_consume`](super::PushConsumerConfig::delay_level_when_next_consume)).
    pub fn delay_level(&self) -> i32 {
        self.outcome.delay_level()
    }

    /// Sets the delay level of the messages this call sends back (on
    /// [`ConsumeResult::ReconsumeLater`], or past the [ack index](Self::set_ack_index)), in
    /// clustering mode (Java `setDelayLevelWhenNextConsume`):
    ///
    /// - `0`: the broker decides (`3 + reconsume times`, so the wait grows per attempt);
    /// - `-1`: straight to the group's dead-letter queue `%DLQ%<group>`, no more retries;
    /// - `n > 0`: delay level `n` of the broker's `messageDelayLevel` table (1 s, 5 s, 10 s,
    ///   30 s, 1 min, ... by default; the broker clamps `n` to its highest level).
    ///
    /// A message that has used up `max_reconsume_times` goes to the DLQ whatever the level.
    /// In POP mode ([`PopMode`](crate::consumer::PopMode)) `n > 0` picks Java's POP back-off
    /// step `n` (10 s, 30 s, 1 min, ...) for the invisible time instead, and -1 still means the
    /// DLQ.
    pub fn set_delay_level(&self, level: i32) {
        self.outcome.delay_level.store(level, Ordering::Release);
    }

    /// The index set by [`set_ack_index`](Self::set_ack_index), `None` if not set.
    pub fn ack_index(&self) -> Option<usize> {
        match self.outcome.ack_index.load(Ordering::Acquire) {
            usize::MAX => None,
            i => Some(i),
        }
    }

    /// On [`ConsumeResult::Success`], only the messages `0..=index` of the batch succeeded;
    /// the rest are failed as with [`ConsumeResult::ReconsumeLater`] (sent back for a retry
    /// in clustering mode, logged and skipped in broadcasting mode) — Java `setAckIndex`. An
    /// index past the batch acknowledges it all (the default); to fail the whole batch return
    /// `ReconsumeLater`. Ignored on `ReconsumeLater`.
    pub fn set_ack_index(&self, index: usize) {
        self.outcome.ack_index.store(index, Ordering::Release);
    }
}

/// What an orderly listener learns about its batch (Java `ConsumeOrderlyContext`), and how
/// long the queue pauses after [`OrderlyResult::SuspendCurrentQueueAMoment`].
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_client::consumer::{ConsumeOrderlyContext, OrderlyListener, OrderlyResult};
/// use rocketmq_rs_client::message::MessageExt;
///
/// fn assert_listener(_: impl OrderlyListener) {}
/// assert_listener(|_msgs: Vec<MessageExt>, ctx: ConsumeOrderlyContext| async move {
///     // A downstream service is down: retry this batch in 5 s instead of the default 1 s.
///     ctx.set_suspend_current_queue_time(Duration::from_secs(5));
///     OrderlyResult::SuspendCurrentQueueAMoment
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeOrderlyContext {
    /// The queue the batch came from (topic without namespace).
    pub queue: MessageQueue,
    /// Milliseconds, -1 when not set (Java's `suspendCurrentQueueTimeMillis`).
    suspend_ms: Arc<AtomicI64>,
}

impl ConsumeOrderlyContext {
    /// A context for a batch of `queue` with nothing set; for calling a listener in a unit
    /// test.
    ///
    /// ```
    /// use rocketmq_rs_client::consumer::ConsumeOrderlyContext;
    /// use rocketmq_rs_client::MessageQueue;
    ///
    /// let ctx = ConsumeOrderlyContext::new(MessageQueue::new("TopicTest", "broker-a", 0));
    /// assert_eq!(ctx.suspend_current_queue_time(), None);
    /// ```
    pub fn new(queue: MessageQueue) -> Self {
        ConsumeOrderlyContext {
            queue,
            suspend_ms: Arc::new(AtomicI64::new(-1)),
        }
    }

    pub(crate) fn suspend_handle(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.suspend_ms)
    }

    /// The pause set by [`set_suspend_current_queue_time`](Self::set_suspend_current_queue_time).
    pub fn suspend_current_queue_time(&self) -> Option<Duration> {
        u64::try_from(self.suspend_ms.load(Ordering::Acquire))
            .ok()
            .map(Duration::from_millis)
    }

    /// How long the queue pauses before the batch is consumed again after
    /// [`OrderlyResult::SuspendCurrentQueueAMoment`], instead of the consumer's
    /// [`suspend_current_queue_time`](super::PushConsumerConfig::suspend_current_queue_time)
    /// (Java `setSuspendCurrentQueueTimeMillis`; kept within 10 ms..=30 s, as Java does).
    pub fn set_suspend_current_queue_time(&self, pause: Duration) {
        let ms = i64::try_from(pause.as_millis()).unwrap_or(i64::MAX);
        self.suspend_ms.store(ms, Ordering::Release);
    }
}

/// The pause after a suspended orderly batch: the listener's choice (`set_ms`, -1 when none)
/// or the consumer's default, clamped to 10 ms..=30 s as Java's
/// `ConsumeMessageOrderlyService.submitConsumeRequestLater`.
pub(crate) fn orderly_suspend_time(set_ms: i64, default: Duration) -> Duration {
    let pause = match u64::try_from(set_ms) {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => default,
    };
    pause.clamp(Duration::from_millis(10), Duration::from_secs(30))
}

/// Consumes batches concurrently (Java `MessageListenerConcurrently`).
///
/// Implemented for every `Fn(Vec<MessageExt>, ConsumeContext) -> impl Future<Output =
/// ConsumeResult>`:
///
/// ```
/// use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, MessageListener};
/// use rocketmq_rs_client::message::MessageExt;
///
/// fn assert_listener(_: impl MessageListener) {}
/// assert_listener(|msgs: Vec<MessageExt>, _ctx: ConsumeContext| async move {
///     for m in &msgs {
///         println!("{} {:?}", m.msg_id, m.body);
///     }
///     ConsumeResult::Success
/// });
/// ```
#[doc(alias = "MessageListenerConcurrently")]
pub trait MessageListener: Send + Sync + 'static {
    /// Consumes `msgs` (at most `consume_batch_size` messages of one queue).
    fn consume(
        &self,
        msgs: Vec<MessageExt>,
        ctx: ConsumeContext,
    ) -> BoxFuture<'static, ConsumeResult>;
}

impl<F, Fut> MessageListener for F
where
    F: Fn(Vec<MessageExt>, ConsumeContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ConsumeResult> + Send + 'static,
{
    fn consume(
        &self,
        msgs: Vec<MessageExt>,
        ctx: ConsumeContext,
    ) -> BoxFuture<'static, ConsumeResult> {
        Box::pin(self(msgs, ctx))
    }
}

/// Consumes each queue serially, in offset order (Java `MessageListenerOrderly`).
///
/// ```
/// use rocketmq_rs_client::consumer::{ConsumeOrderlyContext, OrderlyListener, OrderlyResult};
/// use rocketmq_rs_client::message::MessageExt;
///
/// fn assert_listener(_: impl OrderlyListener) {}
/// assert_listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| async {
///     OrderlyResult::Success
/// });
/// ```
#[doc(alias = "MessageListenerOrderly")]
pub trait OrderlyListener: Send + Sync + 'static {
    /// Consumes `msgs`, the next messages of one queue in offset order.
    fn consume(
        &self,
        msgs: Vec<MessageExt>,
        ctx: ConsumeOrderlyContext,
    ) -> BoxFuture<'static, OrderlyResult>;
}

impl<F, Fut> OrderlyListener for F
where
    F: Fn(Vec<MessageExt>, ConsumeOrderlyContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OrderlyResult> + Send + 'static,
{
    fn consume(
        &self,
        msgs: Vec<MessageExt>,
        ctx: ConsumeOrderlyContext,
    ) -> BoxFuture<'static, OrderlyResult> {
        Box::pin(self(msgs, ctx))
    }
}

/// Runs a concurrent listener, turning a panic into `ReconsumeLater`; the flag says it
/// panicked (consume hooks report it as an exception).
pub(crate) async fn call_concurrent(
    l: &dyn MessageListener,
    msgs: Vec<MessageExt>,
    ctx: ConsumeContext,
) -> (ConsumeResult, bool) {
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| l.consume(msgs, ctx))) {
        Ok(f) => f,
        Err(_) => {
            tracing::warn!("message listener panicked; the batch will be reconsumed later");
            return (ConsumeResult::ReconsumeLater, true);
        }
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => (r, false),
        Err(_) => {
            tracing::warn!("message listener panicked; the batch will be reconsumed later");
            (ConsumeResult::ReconsumeLater, true)
        }
    }
}

/// Runs an orderly listener, turning a panic into `SuspendCurrentQueueAMoment`; the flag says
/// it panicked.
pub(crate) async fn call_orderly(
    l: &dyn OrderlyListener,
    msgs: Vec<MessageExt>,
    ctx: ConsumeOrderlyContext,
) -> (OrderlyResult, bool) {
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| l.consume(msgs, ctx))) {
        Ok(f) => f,
        Err(_) => {
            tracing::warn!("orderly listener panicked; the queue is suspended a moment");
            return (OrderlyResult::SuspendCurrentQueueAMoment, true);
        }
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => (r, false),
        Err(_) => {
            tracing::warn!("orderly listener panicked; the queue is suspended a moment");
            (OrderlyResult::SuspendCurrentQueueAMoment, true)
        }
    }
}
