//! Async message listeners of the push consumer.
//!
//! A listener receives an owned batch (bodies are `Bytes`, so the copy kept for a retry is
//! cheap) and returns a `'static` future, so closures need no higher-ranked lifetimes.
//! A panicking listener counts as [`ConsumeResult::ReconsumeLater`] /
//! [`OrderlyResult::SuspendCurrentQueueAMoment`], as a Java exception does.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use rocketmq_rs_remoting::rt::BoxFuture;

use crate::consumer::{ConsumeResult, OrderlyResult};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;

/// What a concurrent listener learns about its batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeContext {
    /// The queue the batch came from (topic without namespace).
    pub queue: MessageQueue,
}

/// What an orderly listener learns about its batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeOrderlyContext {
    /// The queue the batch came from (topic without namespace).
    pub queue: MessageQueue,
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
