//! [`Producer`]: sync, async, callback, oneway, to-queue, selector and batch sends.
//!
//! # Send algorithm (Java `DefaultMQProducerImpl.sendDefaultImpl`)
//!
//! 1. Validate the message; set its `UNIQ_KEY` once (kept across retries); compress bodies of
//!    at least `compress_over` bytes (zlib, sysFlag `0x301`); encode the properties once.
//! 2. Look up the publish queues (cache, NameServer, `TBW102` fallback) — inside the send
//!    budget.
//! 3. Attempt up to `1 + retry_times` (sync), `1 + retry_times_async` (async) or 1 (oneway):
//!    pick the next queue round-robin, avoiding the broker of the previous failed attempt
//!    (and, with latency fault tolerance, penalised brokers); send with the remaining budget.
//!    Only retriable errors ([`Error::is_retryable`]) are retried, after a short back-off
//!    that never crosses the deadline.
//! 4. Selector and explicit-queue sends make exactly one attempt on the chosen queue: they are
//!    never rerouted, because that would break ordering.
//!
//! `send()` never overruns `send_timeout` by more than scheduling jitter: every await (route
//! lookup, dial, exchange, back-off) is bounded by the remaining budget.
//!
//! Async sends run as tasks of the producer; each completes exactly once — with the result,
//! or with [`Error::Shutdown`] if the task is dropped (runtime gone, shutdown grace exceeded).
//! With [`ProducerConfig::async_back_pressure`] each holds count and byte permits from its
//! admission until its completion ran; their send budget counts from the call, waiting
//! included (as Java's).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;
use rocketmq_rs_remoting::protocol::header::SendMessageRequestHeaderV2Ref;
use rocketmq_rs_remoting::protocol::message::{
    encode_batch, encode_properties, property, sys_flag, BatchMessage, Properties,
};
use rocketmq_rs_remoting::rt::{BoxFuture, Clock, Runtime, Stopwatch, TaskGroup};

use super::back_pressure::{Admission, AsyncLimiter};
use super::batch::check_batch;
use super::config::{ProducerBuilder, ProducerConfig, TransactionCheckHandler};
use super::fault::{random_start_index, select_queue, FaultTolerance};
use super::selector::QueueSelector;
use crate::client::route::DEFAULT_TOPIC;
use crate::client::{ClientInstance, ProducerHandle, TransactionCheck};
use crate::error::{Error, Result};
use crate::hook::{SendAttempt, SendHookOutcome, SendHooks, SendMode};
use crate::message::{Message, SendResult, SendStatus};
use crate::message_queue::MessageQueue;

const CREATED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const STOPPED: u8 = 3;

/// A RocketMQ producer (Java `DefaultMQProducer`). Cheap to clone (clones share one
/// producer); every method takes `&self` and returns `Send` futures.
///
/// ```no_run
/// # async fn demo() -> rocketmq_rs_client::Result<()> {
/// use rocketmq_rs_client::{Message, Producer};
/// use rocketmq_rs_client::producer::selector::SelectByHash;
///
/// let producer = Producer::builder().name_server("127.0.0.1:9876").group("pg").build()?;
/// producer.start().await?;
/// let msg = Message::builder("TopicTest").tag("TagA").body("hello").build()?;
/// let r = producer.send(msg.clone()).await?;
/// println!("{} stored at {}#{}", r.msg_id, r.message_queue, r.queue_offset);
/// producer.send_with_selector(msg.clone(), &SelectByHash, "order-42").await?;
/// producer.send_oneway(msg).await?;
/// producer.shutdown().await;
/// # Ok(()) }
/// ```
#[doc(alias = "DefaultMQProducer")]
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProducerConfig,
    /// The group with namespace.
    group: String,
    instance: ClientInstance,
    owns_instance: bool,
    state: AtomicU8,
    fault: FaultTolerance,
    /// The runtime's clock, copied so that timing each send costs no virtual call.
    clock: Clock,
    counter: AtomicUsize,
    tasks: TaskGroup,
    check: Option<TransactionCheckHandler>,
    /// The async back-pressure bounds, when on.
    limiter: Option<AsyncLimiter>,
    /// Send hooks; empty unless registered (then no hook context is ever built).
    hooks: SendHooks,
    /// The message-trace dispatcher, when trace is on.
    trace: Option<Arc<crate::trace::TraceDispatcher>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("group", &self.inner.group)
            .field("client_id", &self.inner.instance.client_id())
            .field("state", &self.inner.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Registered with the client instance; kept separate from `Inner` so the instance does not
/// keep the producer alive.
struct Registration {
    group: String,
    check: Option<TransactionCheckHandler>,
}

impl ProducerHandle for Registration {
    fn group(&self) -> &str {
        &self.group
    }

    fn check_transaction_state(&self, check: TransactionCheck) {
        match &self.check {
            Some(f) => f(check),
            None => {
                tracing::warn!(group = %self.group, "transaction check ignored: no handler set")
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Sync,
    Async,
    Oneway,
}

/// A message ready for the wire: encoded once (properties, compression), reused by every
/// attempt. Each attempt writes its request header from these parts and the producer's own
/// strings (group, `TBW102`, the route's broker name), borrowed: no string is cloned per send.
struct Prepared {
    /// The topic with namespace, when a namespace is configured (else `user_topic` is it).
    wrapped_topic: Option<String>,
    /// The topic as the user gave it (reported in the result's queue).
    user_topic: String,
    sys_flag: i32,
    flag: i32,
    properties: String,
    batch: bool,
    reconsume_times: Option<i32>,
    max_reconsume_times: Option<i32>,
    body: Bytes,
    msg_id: String,
}

impl Prepared {
    /// The topic with namespace.
    fn topic(&self) -> &str {
        self.wrapped_topic.as_deref().unwrap_or(&self.user_topic)
    }

    /// Completes a result of [`Inner::attempt`] (which leaves its message id and queue topic
    /// empty) with this message's, moving them: the message is done with once its result is
    /// final.
    fn finish(&mut self, mut r: SendResult) -> SendResult {
        r.msg_id = std::mem::take(&mut self.msg_id);
        r.message_queue.topic = std::mem::take(&mut self.user_topic);
        r
    }

    /// As [`Prepared::finish`], copying: for a result that may still be superseded by a
    /// later attempt.
    fn finish_copy(&self, mut r: SendResult) -> SendResult {
        r.msg_id.clone_from(&self.msg_id);
        r.message_queue.topic.clone_from(&self.user_topic);
        r
    }
}

/// `props` with `UNIQ_KEY` = `id` inserted (as a new, hence last, pair), encoded: the same text
/// as inserting it and calling `encode_properties`, without copying the map.
fn encode_with_uniq_key(props: &Properties, id: &str) -> String {
    let extra = property::UNIQ_KEY.len() + id.len() + 2;
    let mut s = String::with_capacity(props.encoded_len() + extra);
    for (k, v) in props.iter().chain([(property::UNIQ_KEY, id)]) {
        s.push_str(k);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    }
    s
}

/// The deadline of [`within`] passed.
struct Elapsed;

/// `fut` bounded by `limit`, with the timer created only if `fut` does not complete on its
/// first poll: cached route and address lookups, the common case, then cost no timer.
async fn within<F: Future>(
    rt: &dyn Runtime,
    limit: Duration,
    fut: F,
) -> std::result::Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut timer = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let timer = timer.get_or_insert_with(|| rt.sleep(limit));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

fn deadline_error(
    op: &'static str,
    budget: Duration,
    started: Stopwatch,
    last: Option<&Error>,
) -> Error {
    Error::Timeout {
        op,
        timeout: budget,
        detail: match last {
            Some(e) => format!("after {:?}; last error: {e}", started.elapsed()),
            None => format!("after {:?}", started.elapsed()),
        },
    }
}

impl Producer {
    /// A builder.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    pub(crate) fn from_parts(
        config: ProducerConfig,
        instance: ClientInstance,
        owns_instance: bool,
        check: Option<TransactionCheckHandler>,
        hooks: SendHooks,
        trace: Option<Arc<crate::trace::TraceDispatcher>>,
    ) -> Self {
        let group = instance.config().wrap(&config.group);
        let limiter = config.async_back_pressure.then(|| {
            AsyncLimiter::new(config.async_max_in_flight, config.async_max_in_flight_bytes)
        });
        Producer {
            inner: Arc::new(Inner {
                fault: FaultTolerance::new(config.fault.clone())
                    .with_clock(instance.runtime().clock()),
                counter: random_start_index(),
                tasks: TaskGroup::new(Arc::clone(instance.runtime())),
                clock: instance.runtime().clock(),
                group,
                config,
                instance,
                owns_instance,
                state: AtomicU8::new(CREATED),
                check,
                limiter,
                hooks,
                trace,
            }),
        }
    }

    /// The producer group (as configured, without namespace).
    pub fn group(&self) -> &str {
        &self.inner.config.group
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The client instance.
    pub fn client_instance(&self) -> &ClientInstance {
        &self.inner.instance
    }

    /// Message-trace counters, when trace is on ([`ProducerBuilder::enable_trace`]).
    pub fn trace_stats(&self) -> Option<crate::trace::TraceStats> {
        self.inner.trace.as_ref().map(|t| t.stats())
    }

    /// The registered send hooks (for END_TRANSACTION, reported by the transaction producer).
    pub(crate) fn send_hooks(&self) -> &SendHooks {
        &self.inner.hooks
    }

    /// Starts the producer (and its client instance). Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] after shutdown; [`Error::Config`] if the group is already used on
    /// the shared client instance.
    pub async fn start(&self) -> Result<()> {
        match self.inner.state.compare_exchange(
            CREATED,
            RUNNING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(RUNNING) => return Ok(()),
            Err(_) => return Err(Error::Shutdown),
        }
        let reg = Registration {
            group: self.inner.group.clone(),
            check: self.inner.check.clone(),
        };
        let started = self
            .inner
            .instance
            .register_producer(Arc::new(reg))
            .and_then(|()| self.inner.instance.start());
        if let Err(e) = started {
            self.inner.state.store(CREATED, Ordering::Release);
            return Err(e);
        }
        if let Some(t) = &self.inner.trace {
            t.start().await;
        }
        tracing::info!(group = %self.inner.group, client_id = %self.inner.instance.client_id(), "producer started");
        Ok(())
    }

    /// Stops accepting sends, waits for in-flight async sends (up to the client's
    /// `shutdown_timeout`; the rest complete with [`Error::Shutdown`]), unregisters the group
    /// from every broker and, if the producer created its client instance, shuts it down.
    /// Idempotent.
    pub async fn shutdown(&self) {
        let prev = self.inner.state.swap(STOPPING, Ordering::AcqRel);
        if prev == STOPPING || prev == STOPPED {
            self.inner.state.store(prev, Ordering::Release);
            return;
        }
        let grace = self.inner.instance.config().shutdown_timeout;
        if !self.inner.tasks.shutdown(grace).await {
            tracing::warn!(group = %self.inner.group, "async sends still running after {grace:?} were cancelled");
        }
        if let Some(t) = &self.inner.trace {
            // After the last send's hooks ran: what they queued goes out now.
            t.shutdown().await;
        }
        if prev == RUNNING {
            self.inner
                .instance
                .unregister_producer(&self.inner.group)
                .await;
        }
        if self.inner.owns_instance {
            self.inner.instance.shutdown().await;
        }
        self.inner.state.store(STOPPED, Ordering::Release);
        tracing::info!(group = %self.inner.group, "producer shut down");
    }

    fn check_running(&self) -> Result<()> {
        match self.inner.state.load(Ordering::Acquire) {
            RUNNING => Ok(()),
            CREATED => Err(Error::NotRunning(
                "call Producer::start().await before sending",
            )),
            _ => Err(Error::Shutdown),
        }
    }

    /// The writable queues of `topic` (Java `fetchPublishMessageQueues`), topic names without
    /// namespace.
    ///
    /// # Errors
    ///
    /// Route errors.
    pub async fn fetch_publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        self.check_running()?;
        let wrapped = self.inner.instance.config().wrap(topic);
        let info = self
            .inner
            .instance
            .topic_publish_info(&wrapped, self.inner.config.default_topic_queue_nums)
            .await?;
        Ok(info
            .queues
            .iter()
            .map(|q| MessageQueue::new(topic, q.broker_name.clone(), q.queue_id))
            .collect())
    }

    /// Sends `msg` and waits for the broker's answer, retrying on other brokers within
    /// `send_timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`], [`Error::RouteNotFound`], [`Error::Broker`],
    /// [`Error::Network`], [`Error::Timeout`], [`Error::NotRunning`] / [`Error::Shutdown`].
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        self.check_running()?;
        let mut p = self.inner.prepare(msg)?;
        let r = self
            .inner
            .send_default(&mut p, Mode::Sync, self.inner.clock.stopwatch())
            .await?;
        r.ok_or_else(|| {
            Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                "no send result",
            ))
        })
    }

    /// Sends `msg` without waiting for an answer (one attempt). Returns once the request is
    /// queued on the connection.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), minus broker answers.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        self.check_running()?;
        let mut p = self.inner.prepare(msg)?;
        self.inner
            .send_default(&mut p, Mode::Oneway, self.inner.clock.stopwatch())
            .await
            .map(drop)
    }

    /// Starts an async send (with `retry_times_async` retries) and returns a future of its
    /// result. The send proceeds even if the future is dropped.
    ///
    /// Under [`ProducerConfig::async_back_pressure`] this call cannot wait for room: past the
    /// bound the future resolves to [`Error::AsyncBackPressure`] at once. Use
    /// [`submit_async`](Self::submit_async) to wait instead.
    ///
    /// ```no_run
    /// # async fn demo(producer: rocketmq_rs_client::Producer, msg: rocketmq_rs_client::Message) {
    /// let pending = producer.send_async(msg);
    /// // ... do other work ...
    /// let result = pending.await;
    /// # }
    /// ```
    pub fn send_async(&self, msg: Message) -> SendFuture {
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.send_with_callback(msg, move |r| {
            let _ = tx.send(r);
        }) {
            return SendFuture(SendFutureInner::Ready(Some(Err(e))));
        }
        SendFuture(SendFutureInner::Pending(rx))
    }

    /// Starts an async send; `callback` runs exactly once with the result (on a runtime
    /// task). Returns an error — and never calls `callback` — when the producer is not
    /// running or the message is invalid.
    ///
    /// Under [`ProducerConfig::async_back_pressure`] this call cannot wait for room: past the
    /// bound it returns [`Error::AsyncBackPressure`] at once. Use
    /// [`submit_with_callback`](Self::submit_with_callback) to wait instead.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`], [`Error::Shutdown`], [`Error::InvalidMessage`],
    /// [`Error::AsyncBackPressure`].
    pub fn send_with_callback<F>(&self, msg: Message, callback: F) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        self.check_running()?;
        let started = self.inner.clock.stopwatch();
        let p = self.inner.prepare(msg)?;
        let admission = match &self.inner.limiter {
            Some(l) => Some(l.try_admit(p.body.len())?),
            None => None,
        };
        self.spawn_async(p, started, admission, callback);
        Ok(())
    }

    /// Starts an async send like [`send_async`](Self::send_async), first waiting for room
    /// under [`ProducerConfig::async_back_pressure`] (up to `send_timeout`, which then also
    /// bounds the send: Java's `send(msg, callback)` with back-pressure). The first `.await`
    /// is the admission, the returned future the send's result; without back-pressure the
    /// admission is immediate.
    ///
    /// ```no_run
    /// # async fn demo(producer: rocketmq_rs_client::Producer) -> rocketmq_rs_client::Result<()> {
    /// use rocketmq_rs_client::Message;
    ///
    /// let mut pending = Vec::new();
    /// for i in 0..100_000 {
    ///     // Never more than `async_max_in_flight` sends (and their bodies) in memory.
    ///     pending.push(producer.submit_async(Message::new("TopicTest", format!("m{i}"))).await);
    ///     if pending.len() == 1_000 {
    ///         for p in pending.drain(..) {
    ///             p.await?;
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn submit_async(&self, msg: Message) -> SendFuture {
        let (tx, rx) = oneshot::channel();
        let submitted = self
            .submit_with_callback(msg, move |r| {
                let _ = tx.send(r);
            })
            .await;
        match submitted {
            Ok(()) => SendFuture(SendFutureInner::Pending(rx)),
            Err(e) => SendFuture(SendFutureInner::Ready(Some(Err(e)))),
        }
    }

    /// Starts an async send like [`send_with_callback`](Self::send_with_callback), first
    /// waiting for room under [`ProducerConfig::async_back_pressure`] (up to `send_timeout`;
    /// with [`ProducerConfig::async_back_pressure_fail_fast`], not at all).
    ///
    /// ```no_run
    /// # async fn demo(producer: rocketmq_rs_client::Producer) -> rocketmq_rs_client::Result<()> {
    /// use rocketmq_rs_client::Message;
    ///
    /// for i in 0..100_000 {
    ///     let msg = Message::new("MetricsTopic", format!("sample {i}"));
    ///     // Waits here while the back-pressure bound is reached.
    ///     producer
    ///         .submit_with_callback(msg, |r| {
    ///             if let Err(e) = r {
    ///                 eprintln!("lost a sample: {e}");
    ///             }
    ///         })
    ///         .await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`], [`Error::Shutdown`], [`Error::InvalidMessage`];
    /// [`Error::AsyncBackPressure`] when no room was made in time (`callback` is then not
    /// called).
    pub async fn submit_with_callback<F>(&self, msg: Message, callback: F) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        self.check_running()?;
        let started = self.inner.clock.stopwatch();
        let p = self.inner.prepare(msg)?;
        let admission = match &self.inner.limiter {
            Some(l) if self.inner.config.async_back_pressure_fail_fast => {
                Some(l.try_admit(p.body.len())?)
            }
            Some(l) => Some(
                l.admit(
                    &**self.inner.instance.runtime(),
                    p.body.len(),
                    started,
                    self.inner.config.send_timeout,
                )
                .await?,
            ),
            None => None,
        };
        // Shut down while waiting: the admission goes back, nothing is sent.
        self.check_running()?;
        self.spawn_async(p, started, admission, callback);
        Ok(())
    }

    /// Runs the async send of `p` as a task of the producer. The admission is held until the
    /// callback has run, so a caller that starts a new send from its callback finds the
    /// permits of the finished one still taken: the bound holds for what the caller sees.
    fn spawn_async<F>(
        &self,
        mut p: Prepared,
        started: Stopwatch,
        admission: Option<Admission>,
        callback: F,
    ) where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let guard = Completion(Some(callback));
        // Boxed right here, so that the (large) send state machine is written once into its
        // final place instead of being moved through the task wrappers; no span per message.
        let task = Box::pin(async move {
            let mut guard = guard;
            let admission = admission;
            let r = inner
                .send_default(&mut p, Mode::Async, started)
                .await
                .and_then(|r| {
                    r.ok_or_else(|| {
                        Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                            "no send result",
                        ))
                    })
                });
            guard.complete(r);
            drop(admission);
        });
        // A refused spawn drops the task, and with it the guard, which reports Shutdown.
        self.inner.tasks.spawn(task);
    }

    /// Sends `msg` to `mq` (one attempt, no reroute).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::InvalidMessage`] if `mq.topic` differs from the
    /// message's topic.
    pub async fn send_to_queue(&self, msg: Message, mq: &MessageQueue) -> Result<SendResult> {
        self.check_running()?;
        if mq.topic != msg.topic {
            return Err(Error::InvalidMessage(format!(
                "queue topic {:?} differs from the message topic {:?}",
                mq.topic, msg.topic
            )));
        }
        let mut p = self.inner.prepare(msg)?;
        let started = self.inner.clock.stopwatch();
        let budget = self.inner.config.send_timeout;
        let r = self
            .inner
            .attempt(
                &p,
                &mq.broker_name,
                mq.queue_id,
                Mode::Sync,
                0,
                budget,
                started,
            )
            .await?
            .map(|sr| p.finish(sr));
        r.ok_or_else(|| {
            Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                "no send result",
            ))
        })
    }

    /// Sends `msg` to the queue `selector` picks among the topic's writable queues for `arg`
    /// (ordered messages). One attempt, never rerouted.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::InvalidMessage`] if the selector returns no valid
    /// index.
    pub async fn send_with_selector<A, S>(
        &self,
        msg: Message,
        selector: &S,
        arg: &A,
    ) -> Result<SendResult>
    where
        A: ?Sized + Sync,
        S: QueueSelector<A> + ?Sized,
    {
        self.check_running()?;
        let mut p = self.inner.prepare(msg)?;
        let started = self.inner.clock.stopwatch();
        let budget = self.inner.config.send_timeout;
        let info = self
            .inner
            .publish_info(p.topic(), budget, started, None)
            .await?;
        let user_queues: Vec<MessageQueue> = info
            .queues
            .iter()
            .map(|q| MessageQueue::new(p.user_topic.clone(), q.broker_name.clone(), q.queue_id))
            .collect();
        let idx = selector
            .select(&user_queues, arg)
            .filter(|i| *i < user_queues.len())
            .ok_or_else(|| {
                Error::InvalidMessage(format!(
                    "the queue selector chose no valid queue among {} queues",
                    user_queues.len()
                ))
            })?;
        let mq = &user_queues[idx];
        let left = budget.saturating_sub(started.elapsed());
        let r = self
            .inner
            .attempt(
                &p,
                &mq.broker_name,
                mq.queue_id,
                Mode::Sync,
                0,
                left,
                started,
            )
            .await?
            .map(|sr| p.finish(sr));
        r.ok_or_else(|| {
            Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                "no send result",
            ))
        })
    }

    /// Sends `msgs` as one batch (SEND_BATCH_MESSAGE) with the sync retry rules. All messages
    /// must share the topic; the encoded batch must fit `max_message_size` (see
    /// [`split_batch`](super::batch::split_batch)). The result's `msg_id` lists the inner
    /// `UNIQ_KEY`s comma-separated.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult> {
        self.check_running()?;
        let mut p = self.inner.prepare_batch(msgs)?;
        let r = self
            .inner
            .send_default(&mut p, Mode::Sync, self.inner.clock.stopwatch())
            .await?;
        r.ok_or_else(|| {
            Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                "no send result",
            ))
        })
    }

    /// Sends `msgs` as one batch to `mq` (one attempt, no reroute).
    ///
    /// # Errors
    ///
    /// As [`send_batch`](Self::send_batch).
    pub async fn send_batch_to_queue(
        &self,
        msgs: Vec<Message>,
        mq: &MessageQueue,
    ) -> Result<SendResult> {
        self.check_running()?;
        if msgs.first().is_some_and(|m| m.topic != mq.topic) {
            return Err(Error::InvalidMessage(
                "queue topic differs from the batch topic".into(),
            ));
        }
        let mut p = self.inner.prepare_batch(msgs)?;
        let started = self.inner.clock.stopwatch();
        let r = self
            .inner
            .attempt(
                &p,
                &mq.broker_name,
                mq.queue_id,
                Mode::Sync,
                0,
                self.inner.config.send_timeout,
                started,
            )
            .await?
            .map(|sr| p.finish(sr));
        r.ok_or_else(|| {
            Error::Remoting(rocketmq_rs_remoting::RemotingError::decode(
                "no send result",
            ))
        })
    }
}

/// Calls the completion exactly once: with the result, or with [`Error::Shutdown`] if dropped
/// before completing.
struct Completion<F: FnOnce(Result<SendResult>)>(Option<F>);

impl<F: FnOnce(Result<SendResult>)> Completion<F> {
    fn complete(&mut self, r: Result<SendResult>) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }
}

impl<F: FnOnce(Result<SendResult>)> Drop for Completion<F> {
    fn drop(&mut self) {
        self.complete(Err(Error::Shutdown));
    }
}

/// The result of [`Producer::send_async`].
#[must_use = "the send proceeds anyway; await the future to learn its result"]
pub struct SendFuture(SendFutureInner);

enum SendFutureInner {
    Ready(Option<Result<SendResult>>),
    Pending(oneshot::Receiver<Result<SendResult>>),
}

impl std::fmt::Debug for SendFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendFuture")
    }
}

impl Future for SendFuture {
    type Output = Result<SendResult>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            SendFutureInner::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(Error::Shutdown))),
            SendFutureInner::Pending(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(Error::Shutdown))),
        }
    }
}

impl Inner {
    fn prepare(&self, mut msg: Message) -> Result<Prepared> {
        msg.validate(self.config.max_message_size)?;
        let client = self.instance.config();
        let wrapped_topic = client
            .namespace()
            .map(|ns| crate::util::wrap(ns, &msg.topic));
        let topic = wrapped_topic.as_deref().unwrap_or(&msg.topic);
        // A message without a UNIQ_KEY gets one appended to its encoded properties, which is
        // what inserting it (a new key goes last) and encoding would give, minus a copy.
        let (msg_id, new_uniq_key) = match msg.uniq_key() {
            Some(id) => (id.to_owned(), false),
            None => (self.instance.next_uniq_id(), true),
        };
        let mut sys_flag = 0;
        let mut body = msg.body;
        if body.len() >= self.config.compress_over {
            let kind = self.config.compress_type;
            // The config was validated (level in range, algorithm compiled in), so this cannot
            // fail; if it ever did, sending the body uncompressed is what Java does too.
            match kind.compress(&body, self.config.compress_level) {
                Ok(z) => {
                    body = Bytes::from(z);
                    sys_flag |= kind.compressed_sys_flag();
                }
                Err(e) => tracing::warn!(error = %e, "body sent uncompressed"),
            }
        }
        if msg.properties.get(property::TRANSACTION_PREPARED) == Some("true") {
            sys_flag |= sys_flag::TRANSACTION_PREPARED_TYPE;
        }
        let (mut reconsume_times, mut max_reconsume_times) = (None, None);
        if topic.starts_with(crate::util::namespace::RETRY_GROUP_TOPIC_PREFIX) {
            // Java moves these into the header for retry-topic sends.
            reconsume_times = msg
                .properties
                .remove(property::RECONSUME_TIME)
                .and_then(|v| v.parse().ok());
            max_reconsume_times = msg
                .properties
                .remove(property::MAX_RECONSUME_TIMES)
                .and_then(|v| v.parse().ok());
        }
        let properties = if new_uniq_key {
            encode_with_uniq_key(&msg.properties, &msg_id)
        } else {
            encode_properties(&msg.properties)
        };
        Ok(Prepared {
            wrapped_topic,
            user_topic: msg.topic,
            sys_flag,
            flag: msg.flag,
            properties,
            batch: false,
            reconsume_times,
            max_reconsume_times,
            body,
            msg_id,
        })
    }

    fn prepare_batch(&self, msgs: Vec<Message>) -> Result<Prepared> {
        check_batch(&msgs, self.config.max_message_size)?;
        let user_topic = msgs[0].topic.clone();
        let wait = msgs[0].wait_store_msg_ok();
        let mut ids = Vec::with_capacity(msgs.len());
        let entries: Vec<BatchMessage> = msgs
            .into_iter()
            .map(|mut m| {
                if m.uniq_key().is_none() {
                    m.properties
                        .insert(property::UNIQ_KEY, self.instance.next_uniq_id());
                }
                ids.push(m.uniq_key().unwrap_or_default().to_owned());
                BatchMessage {
                    flag: m.flag,
                    body: m.body,
                    properties: m.properties,
                }
            })
            .collect();
        let body = encode_batch(&entries).map_err(|e| Error::InvalidMessage(e.to_string()))?;
        if body.len() > self.config.max_message_size {
            return Err(Error::InvalidMessage(format!(
                "the batch encodes to {} bytes, more than max_message_size ({}); split it with \
                 producer::batch::split_batch",
                body.len(),
                self.config.max_message_size
            )));
        }
        // No batch-level UNIQ_KEY (as Java 4.9.x; 5.x adds one): Apache brokers before 5.4
        // (4.9.7's CommitLog, 5.3.3's MessageExtEncoder.encodeBatch; apache/rocketmq#9416)
        // append the header properties to every message of the batch, and the appended
        // UNIQ_KEY then wins over each message's own, so all of them would be consumed under
        // one id. Only 5.x BatchCQ topics use it, to store the batch as one inner-batch
        // record; without it they store the messages one by one, as for a 4.9.x producer.
        let mut wrapper = Properties::new();
        wrapper.insert(property::WAIT, if wait { "true" } else { "false" });
        Ok(Prepared {
            wrapped_topic: self
                .instance
                .config()
                .namespace()
                .map(|ns| crate::util::wrap(ns, &user_topic)),
            user_topic,
            sys_flag: 0,
            flag: 0,
            properties: encode_properties(&wrapper),
            batch: true,
            reconsume_times: None,
            max_reconsume_times: None,
            body,
            msg_id: ids.join(","),
        })
    }

    /// The request header of an attempt of `p` to `broker`/`queue_id`, born now.
    fn header<'a>(
        &'a self,
        p: &'a Prepared,
        broker: &'a str,
        queue_id: i32,
    ) -> SendMessageRequestHeaderV2Ref<'a> {
        SendMessageRequestHeaderV2Ref {
            a: &self.group,
            b: p.topic(),
            c: DEFAULT_TOPIC,
            d: self.config.default_topic_queue_nums,
            e: queue_id,
            f: p.sys_flag,
            g: self.clock.now_ms(),
            h: p.flag,
            i: Some(&p.properties),
            j: Some(p.reconsume_times.unwrap_or(0)),
            k: Some(false),
            l: p.max_reconsume_times,
            m: Some(p.batch),
            n: Some(broker),
            bname: None,
        }
    }

    async fn publish_info(
        &self,
        topic: &str,
        budget: Duration,
        started: Stopwatch,
        last: Option<&Error>,
    ) -> Result<Arc<crate::client::TopicPublishInfo>> {
        // The cached route, without building the lookup future: that future carries the whole
        // NameServer exchange and would make every send's state machine (and task) large.
        if let Some(info) = self
            .instance
            .routes()
            .publish_info(topic)
            .filter(|i| i.is_ok())
        {
            return Ok(info);
        }
        let left = budget.saturating_sub(started.elapsed());
        let rt = self.instance.runtime();
        let lookup: BoxFuture<'_, Result<Arc<crate::client::TopicPublishInfo>>> = Box::pin(
            self.instance
                .topic_publish_info(topic, self.config.default_topic_queue_nums),
        );
        match within(&**rt, left, lookup).await {
            Ok(r) => r,
            Err(_) => Err(deadline_error("send (route lookup)", budget, started, last)),
        }
    }

    /// Sends `p` with the retry rules of `mode`, within `send_timeout` counted from `started`.
    async fn send_default(
        &self,
        p: &mut Prepared,
        mode: Mode,
        started: Stopwatch,
    ) -> Result<Option<SendResult>> {
        let budget = self.config.send_timeout;
        let info = self.publish_info(p.topic(), budget, started, None).await?;
        let attempts = match mode {
            Mode::Sync => 1 + self.config.retry_times,
            Mode::Async => 1 + self.config.retry_times_async,
            Mode::Oneway => 1,
        };
        let mut last_broker: Option<&str> = None;
        let mut last_err: Option<Error> = None;
        let mut not_ok: Option<SendResult> = None;
        for attempt in 0..attempts {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let Some(mq) = select_queue(&info.queues, last_broker, &self.fault, &self.counter)
            else {
                return Err(Error::RouteNotFound {
                    topic: p.user_topic.clone(),
                    detail: "no writable queue".into(),
                });
            };
            let broker: &str = &mq.broker_name;
            let queue_id = mq.queue_id;
            let t0 = self.clock.stopwatch();
            let r = self
                .attempt(p, broker, queue_id, mode, attempt, left, started)
                .await;
            match r {
                Ok(Some(sr))
                    if sr.status != SendStatus::SendOk
                        && self.config.retry_another_broker_when_not_store_ok
                        && attempt + 1 < attempts =>
                {
                    self.fault.update(broker, t0.elapsed(), false);
                    tracing::debug!(%broker, status = ?sr.status, "stored but not OK; trying another broker");
                    last_broker = Some(broker);
                    not_ok = Some(p.finish_copy(sr));
                }
                Ok(r) => {
                    self.fault.update(broker, t0.elapsed(), false);
                    return Ok(r.map(|sr| p.finish(sr)));
                }
                Err(e) => {
                    self.fault.update(broker, t0.elapsed(), true);
                    if !e.is_retryable() || matches!(e, Error::Shutdown) {
                        return Err(e);
                    }
                    tracing::debug!(%broker, attempt, error = %e, "send attempt failed");
                    last_broker = Some(broker);
                    last_err = Some(e);
                    if attempt + 1 < attempts {
                        let pause = self
                            .config
                            .retry_backoff
                            .saturating_mul(1 << attempt.min(16))
                            .min(Duration::from_secs(1));
                        let left = budget.saturating_sub(started.elapsed());
                        if pause >= left {
                            break;
                        }
                        if !pause.is_zero() {
                            self.instance.runtime().sleep(pause).await;
                        }
                    }
                }
            }
        }
        if let Some(sr) = not_ok {
            return Ok(Some(sr));
        }
        if budget.saturating_sub(started.elapsed()).is_zero() || last_err.is_none() {
            return Err(deadline_error("send", budget, started, last_err.as_ref()));
        }
        Err(last_err.unwrap_or(Error::Shutdown))
    }

    /// One attempt to `broker`/`queue_id` within `left`. The result's message id and queue
    /// topic are left empty for [`Prepared::finish`] to fill.
    ///
    /// One timer per request: the address lookup is bounded only when it has to go to the
    /// NameServer, and the exchange by the transport's own request timeout (which covers
    /// dialling too), not by a second timer around the whole attempt.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        p: &Prepared,
        broker: &str,
        queue_id: i32,
        mode: Mode,
        attempt: u32,
        left: Duration,
        started: Stopwatch,
    ) -> Result<Option<SendResult>> {
        // Only a lookup that leaves the cache takes time worth reading the clock for.
        let (addr, remaining) = match self.instance.master_addr(broker) {
            Some(addr) => (addr, left),
            None => {
                let t0 = self.clock.stopwatch();
                // Rare (a broker not in the cached route): boxed, as in `publish_info`.
                let lookup: BoxFuture<'_, Result<String>> =
                    Box::pin(self.instance.master_addr_or_fetch(broker, p.topic()));
                match within(&**self.instance.runtime(), left, lookup).await {
                    Ok(addr) => (Arc::from(addr?), left.saturating_sub(t0.elapsed())),
                    Err(Elapsed) => {
                        return Err(deadline_error(
                            "send",
                            self.config.send_timeout,
                            started,
                            None,
                        ))
                    }
                }
            }
        };
        if remaining.is_zero() {
            return Err(deadline_error(
                "send",
                self.config.send_timeout,
                started,
                None,
            ));
        }
        if !self.hooks.is_empty() {
            return self
                .hooked_exchange(p, broker, queue_id, mode, attempt, &addr, remaining)
                .await;
        }
        self.exchange(p, broker, queue_id, mode, &addr, remaining)
            .await
    }

    /// [`Inner::exchange`] between the send hooks. The hooks see the result with its message
    /// id and topic filled in (copied: [`Prepared::finish`] moves them in later anyway).
    #[allow(clippy::too_many_arguments)]
    async fn hooked_exchange(
        &self,
        p: &Prepared,
        broker: &str,
        queue_id: i32,
        mode: Mode,
        attempt: u32,
        addr: &str,
        remaining: Duration,
    ) -> Result<Option<SendResult>> {
        let describe = || SendAttempt {
            group: &self.config.group,
            namespace: self.instance.config().namespace(),
            topic: &p.user_topic,
            msg_id: &p.msg_id,
            properties: &p.properties,
            body_len: p.body.len(),
            batch: p.batch,
            broker_name: broker,
            broker_addr: addr,
            queue_id,
            mode: match mode {
                Mode::Sync => SendMode::Sync,
                Mode::Async => SendMode::Async,
                Mode::Oneway => SendMode::Oneway,
            },
            attempt,
        };
        let ctx = describe().context();
        self.hooks.before(&ctx);
        let begin = ctx.begin_timestamp_ms;
        let t0 = std::time::Instant::now();
        let mut r = self
            .exchange(p, broker, queue_id, mode, addr, remaining)
            .await;
        if let Ok(Some(sr)) = &mut r {
            sr.msg_id.clone_from(&p.msg_id);
            sr.message_queue.topic.clone_from(&p.user_topic);
        }
        let mut ctx = describe().context();
        ctx.begin_timestamp_ms = begin;
        let outcome = SendHookOutcome {
            result: r.as_ref().map(Option::as_ref),
            elapsed: t0.elapsed(),
        };
        self.hooks.after(&ctx, &outcome);
        r
    }

    /// The request/response (or oneway request) of one attempt.
    async fn exchange(
        &self,
        p: &Prepared,
        broker: &str,
        queue_id: i32,
        mode: Mode,
        addr: &str,
        remaining: Duration,
    ) -> Result<Option<SendResult>> {
        let api = self.instance.api();
        let header = self.header(p, broker, queue_id);
        match mode {
            Mode::Oneway => {
                api.send_message_oneway_ref(addr, header, p.body.clone(), remaining)
                    .await?;
                Ok(None)
            }
            _ => {
                // Message id and topic are left empty: the caller moves them in once the
                // result is final (`Prepared::finish`).
                let mq = MessageQueue::new(String::new(), broker, queue_id);
                api.send_message_ref(addr, mq, header, p.body.clone(), String::new(), remaining)
                    .await
                    .map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_uniq_key_encodes_as_an_inserted_one() {
        for pairs in [&[][..], &[("TAGS", "a"), ("KEYS", "k1 k2")][..]] {
            let mut props: Properties = pairs.iter().copied().collect();
            let appended = encode_with_uniq_key(&props, "0A0B0C");
            props.insert(property::UNIQ_KEY, "0A0B0C");
            let encoded = encode_properties(&props);
            assert_eq!(appended, encoded);
            assert_eq!(appended.len(), appended.capacity());
        }
    }
}
