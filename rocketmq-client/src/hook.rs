//! Send and consume hooks: the client's extension point for tracing, metrics and your own
//! instrumentation (Java `SendMessageHook`, `ConsumeMessageHook`, `EndTransactionHook`).
//!
//! - A [`SendHook`] registered with [`ProducerBuilder::send_hook`](crate::ProducerBuilder::send_hook)
//!   sees every send *attempt* (as Java's hook does: a retried send calls it once per broker
//!   tried): [`before_send`](SendHook::before_send) once the broker is chosen,
//!   [`after_send`](SendHook::after_send) with the result or the error, and
//!   [`end_transaction`](SendHook::end_transaction) for each END_TRANSACTION of a
//!   [`TransactionProducer`](crate::TransactionProducer).
//! - A [`ConsumeHook`] registered on a consumer builder (`consume_hook`) sees every batch handed
//!   to the application: around each listener call of a
//!   [`PushConsumer`](crate::PushConsumer), and for every batch a
//!   [`PullConsumer`](crate::PullConsumer) pulls or a
//!   [`LitePullConsumer`](crate::LitePullConsumer) polls (there the application consumes after
//!   the call returns, so, as in Java, `before` and `after` run back to back with success).
//!
//! Hooks are synchronous and run on the sending / consuming task: keep them short (count,
//! enqueue, log) and never block. A panicking hook is caught and logged; it never fails a send
//! or a consumption. With no hook registered the client builds no context and reads no clock:
//! the cost is one emptiness check per send attempt or listener call.
//!
//! The contexts are `#[non_exhaustive]`: fields may be added in minor releases.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use rocketmq_rs_client::hook::{SendHook, SendHookContext, SendHookOutcome};
//! use rocketmq_rs_client::Producer;
//!
//! #[derive(Default)]
//! struct CountFailures(AtomicU64);
//!
//! impl SendHook for CountFailures {
//!     fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
//!         if outcome.result.is_err() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!             eprintln!("send of {} to {} failed", ctx.msg_id, ctx.broker_addr);
//!         }
//!     }
//! }
//!
//! let failures = Arc::new(CountFailures::default());
//! let producer = Producer::builder()
//!     .name_server("127.0.0.1:9876")
//!     .group("pg")
//!     .send_hook(failures.clone())
//!     .build()
//!     .unwrap();
//! # drop(producer);
//! ```

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::util::now_ms;

use crate::error::Error;
use crate::message::{MessageExt, SendResult};
use crate::message_queue::MessageQueue;
use crate::producer::LocalTransactionState;

/// Observes send attempts and transaction ends of a producer. Every method has a no-op
/// default; implement the ones you need.
pub trait SendHook: Send + Sync + 'static {
    /// A send attempt is about to go to `ctx.broker_addr`.
    fn before_send(&self, ctx: &SendHookContext<'_>) {
        let _ = ctx;
    }

    /// A send attempt finished: stored (the broker's result), sent oneway (`Ok(None)`) or
    /// failed. Not called when the attempt never reached the wire (no broker address, deadline
    /// already passed); then [`before_send`](Self::before_send) was not called either.
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        let _ = (ctx, outcome);
    }

    /// An END_TRANSACTION is being sent (after a local transaction, or answering a broker's
    /// check); as in Java, called just before the (oneway) request goes out.
    fn end_transaction(&self, ctx: &EndTransactionHookContext<'_>) {
        let _ = ctx;
    }
}

impl<T: SendHook + ?Sized> SendHook for Arc<T> {
    fn before_send(&self, ctx: &SendHookContext<'_>) {
        (**self).before_send(ctx);
    }
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        (**self).after_send(ctx, outcome);
    }
    fn end_transaction(&self, ctx: &EndTransactionHookContext<'_>) {
        (**self).end_transaction(ctx);
    }
}

/// Observes the batches a consumer hands to the application. Both methods have no-op
/// defaults.
pub trait ConsumeHook: Send + Sync + 'static {
    /// A batch is about to be consumed.
    fn before_consume(&self, ctx: &ConsumeHookContext<'_>) {
        let _ = ctx;
    }

    /// A batch was consumed, with `outcome`. Gets the same `ctx` (same
    /// [`call_id`](ConsumeHookContext::call_id)) as the matching `before_consume`.
    fn after_consume(&self, ctx: &ConsumeHookContext<'_>, outcome: &ConsumeHookOutcome) {
        let _ = (ctx, outcome);
    }
}

impl<T: ConsumeHook + ?Sized> ConsumeHook for Arc<T> {
    fn before_consume(&self, ctx: &ConsumeHookContext<'_>) {
        (**self).before_consume(ctx);
    }
    fn after_consume(&self, ctx: &ConsumeHookContext<'_>, outcome: &ConsumeHookOutcome) {
        (**self).after_consume(ctx, outcome);
    }
}

/// How a send attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendMode {
    /// The caller waits for the broker's answer.
    Sync,
    /// `send_async` / `send_with_callback`.
    Async,
    /// No answer is awaited.
    Oneway,
}

/// What kind of message is sent (Java `MessageType`; [`ordinal`](Self::ordinal) is its wire
/// number in trace records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// An ordinary message (Java `Normal_Msg`).
    Normal,
    /// A transactional half message (`Trans_Msg_Half`).
    TransactionHalf,
    /// A transaction's commit (`Trans_msg_Commit`), as recorded for END_TRANSACTION.
    TransactionCommit,
    /// A delayed or timed message (`Delay_Msg`).
    Delay,
    /// An ordered message (`Order_Msg`, Java 5.x only; Java's own producer never reports it).
    Order,
}

impl MessageType {
    /// Java's `MessageType.ordinal()`.
    pub fn ordinal(self) -> u8 {
        match self {
            MessageType::Normal => 0,
            MessageType::TransactionHalf => 1,
            MessageType::TransactionCommit => 2,
            MessageType::Delay => 3,
            MessageType::Order => 4,
        }
    }

    /// The type of Java ordinal `n`.
    pub fn from_ordinal(n: u8) -> Option<Self> {
        Some(match n {
            0 => MessageType::Normal,
            1 => MessageType::TransactionHalf,
            2 => MessageType::TransactionCommit,
            3 => MessageType::Delay,
            4 => MessageType::Order,
            _ => return None,
        })
    }
}

/// One send attempt, as [`SendHook`]s see it. Topic and group are without namespace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SendHookContext<'a> {
    /// The producer group.
    pub group: &'a str,
    /// The client's namespace, if any.
    pub namespace: Option<&'a str>,
    /// The message's topic.
    pub topic: &'a str,
    /// The message id (`UNIQ_KEY`); for a batch, the inner ids comma-separated.
    pub msg_id: &'a str,
    /// The body length on the wire (after compression; for a batch, the encoded batch).
    pub body_len: usize,
    /// Whether this is a batch (then [`tags`](Self::tags) and [`keys`](Self::keys) are `None`).
    pub batch: bool,
    /// The broker the attempt goes to.
    pub broker_name: &'a str,
    /// Its address.
    pub broker_addr: &'a str,
    /// The queue id.
    pub queue_id: i32,
    /// Sync, async or oneway.
    pub mode: SendMode,
    /// 0 for the first attempt of a send, 1 for the first retry, ...
    pub attempt: u32,
    /// Wall clock when the attempt started, epoch milliseconds.
    pub begin_timestamp_ms: i64,
    /// The encoded properties (`name \x01 value \x02` pairs).
    properties: &'a str,
}

impl<'a> SendHookContext<'a> {
    /// The value of property `name` of the message (for a batch: of the batch wrapper).
    pub fn property(&self, name: &str) -> Option<&'a str> {
        find_property(self.properties, name)
    }

    /// The tag.
    pub fn tags(&self) -> Option<&'a str> {
        self.property(property::TAGS)
    }

    /// The keys, space-separated.
    pub fn keys(&self) -> Option<&'a str> {
        self.property(property::KEYS)
    }

    /// The message type as Java's send hook reports it: delayed / timed, else transactional
    /// half, else normal (selector sends included: Java never reports `Order`).
    pub fn msg_type(&self) -> MessageType {
        // Java looks at DELAY and `__STARTDELIVERTIME`; 5.x timer properties are delays too.
        let mut half = false;
        for (k, v) in pairs(self.properties) {
            match k {
                property::DELAY
                | "__STARTDELIVERTIME"
                | property::TIMER_DELIVER_MS
                | property::TIMER_DELAY_MS
                | property::TIMER_DELAY_SEC => return MessageType::Delay,
                property::TRANSACTION_PREPARED => half = v == "true",
                _ => {}
            }
        }
        if half {
            MessageType::TransactionHalf
        } else {
            MessageType::Normal
        }
    }
}

/// The `(name, value)` pairs of encoded properties, in order, by byte search (a `str::split`
/// per pair costs several times more in this hot path).
fn pairs(encoded: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = encoded;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = rest.bytes().position(|c| c == 2).unwrap_or(rest.len());
        let pair = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        // Both separators are ASCII, so these byte offsets are char boundaries.
        if let Some(sep) = pair.bytes().position(|c| c == 1) {
            return Some((&pair[..sep], &pair[sep + 1..]));
        }
    })
}

/// `name`'s value in encoded properties, scanning without allocating.
fn find_property<'a>(encoded: &'a str, name: &str) -> Option<&'a str> {
    pairs(encoded).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The end of a send attempt.
#[derive(Debug)]
#[non_exhaustive]
pub struct SendHookOutcome<'a> {
    /// The broker's result (`Ok(None)` for oneway), or the attempt's error.
    pub result: std::result::Result<Option<&'a SendResult>, &'a Error>,
    /// Time from [`before_send`](SendHook::before_send) to the outcome.
    pub elapsed: Duration,
}

/// One END_TRANSACTION, as [`SendHook::end_transaction`] sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndTransactionHookContext<'a> {
    /// The producer group (without namespace).
    pub group: &'a str,
    /// The half message's topic (without namespace).
    pub topic: &'a str,
    /// The message id (`UNIQ_KEY`).
    pub msg_id: &'a str,
    /// The transaction id, when the broker gave one.
    pub transaction_id: Option<&'a str>,
    /// The broker the END_TRANSACTION went to.
    pub broker_addr: &'a str,
    /// The decision reported.
    pub state: LocalTransactionState,
    /// Whether it answers a broker's check (else it follows `send_in_transaction`).
    pub from_transaction_check: bool,
    /// The tag of the message, if known.
    pub tags: Option<&'a str>,
    /// The keys of the message, if known.
    pub keys: Option<&'a str>,
    /// The message's `MSG_REGION` property, if any.
    pub region_id: Option<&'a str>,
}

/// Which consumer calls a [`ConsumeHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConsumerKind {
    /// [`PushConsumer`](crate::PushConsumer).
    Push,
    /// [`PullConsumer`](crate::PullConsumer).
    Pull,
    /// [`LitePullConsumer`](crate::LitePullConsumer).
    LitePull,
}

/// One batch handed to the application, as [`ConsumeHook`]s see it. Topics and group are
/// without namespace; retry-topic messages show their original topic, as the listener sees
/// them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeHookContext<'a> {
    /// The consumer group.
    pub group: &'a str,
    /// The client's namespace, if any.
    pub namespace: Option<&'a str>,
    /// The queue the batch came from.
    pub queue: &'a MessageQueue,
    /// The messages, as the application gets them.
    pub msgs: &'a [MessageExt],
    /// The kind of consumer.
    pub consumer: ConsumerKind,
    /// Whether the push consumer consumes orderly.
    pub orderly: bool,
    /// Unique per batch within the process: pairs a `before_consume` with its `after_consume`.
    pub call_id: u64,
    /// Wall clock when consumption started, epoch milliseconds.
    pub begin_timestamp_ms: i64,
}

/// How the application's consumption ended (Java `ConsumeReturnType`; [`ordinal`](Self::ordinal)
/// is the "context code" of trace records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConsumeReturnType {
    /// Consumed.
    Success,
    /// Took longer than the consume timeout (Java `TIME_OUT`).
    TimeOut,
    /// The listener panicked (Java `EXCEPTION`).
    Exception,
    /// The listener returned nothing (Java `RETURNNULL`; a Rust listener always returns).
    ReturnNull,
    /// The listener asked for a retry (reconsume later / suspend).
    Failed,
}

impl ConsumeReturnType {
    /// Java's `ConsumeReturnType.ordinal()`.
    pub fn ordinal(self) -> u8 {
        match self {
            ConsumeReturnType::Success => 0,
            ConsumeReturnType::TimeOut => 1,
            ConsumeReturnType::Exception => 2,
            ConsumeReturnType::ReturnNull => 3,
            ConsumeReturnType::Failed => 4,
        }
    }
}

/// The end of a consumption.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeHookOutcome {
    /// Whether the batch counts as consumed (its offsets advance).
    pub success: bool,
    /// How the listener ended.
    pub return_type: ConsumeReturnType,
    /// Time the application took (zero for pull and lite-pull consumers, which hand the batch
    /// over and return).
    pub elapsed: Duration,
}

fn call_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f`, logging instead of propagating a panic: a hook must never fail the client.
fn guarded(what: &'static str, f: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::warn!("a {what} hook panicked; ignored");
    }
}

/// The send hooks of a producer.
#[derive(Clone, Default)]
pub(crate) struct SendHooks {
    list: Vec<Arc<dyn SendHook>>,
}

impl SendHooks {
    pub(crate) fn push(&mut self, h: Arc<dyn SendHook>) {
        self.list.push(h);
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn before(&self, ctx: &SendHookContext<'_>) {
        for h in &self.list {
            guarded("send", || h.before_send(ctx));
        }
    }

    pub(crate) fn after(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        for h in &self.list {
            guarded("send", || h.after_send(ctx, outcome));
        }
    }

    pub(crate) fn end_transaction(&self, ctx: &EndTransactionHookContext<'_>) {
        for h in &self.list {
            guarded("end-transaction", || h.end_transaction(ctx));
        }
    }
}

/// What [`SendHookContext`]'s private part is built from.
pub(crate) struct SendAttempt<'a> {
    pub(crate) group: &'a str,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) topic: &'a str,
    pub(crate) msg_id: &'a str,
    pub(crate) properties: &'a str,
    pub(crate) body_len: usize,
    pub(crate) batch: bool,
    pub(crate) broker_name: &'a str,
    pub(crate) broker_addr: &'a str,
    pub(crate) queue_id: i32,
    pub(crate) mode: SendMode,
    pub(crate) attempt: u32,
}

impl<'a> SendAttempt<'a> {
    pub(crate) fn context(self) -> SendHookContext<'a> {
        SendHookContext {
            group: self.group,
            namespace: self.namespace,
            topic: self.topic,
            msg_id: self.msg_id,
            body_len: self.body_len,
            batch: self.batch,
            broker_name: self.broker_name,
            broker_addr: self.broker_addr,
            queue_id: self.queue_id,
            mode: self.mode,
            attempt: self.attempt,
            begin_timestamp_ms: now_ms(),
            properties: self.properties,
        }
    }
}

/// The consume hooks of a consumer, with what every context repeats.
#[derive(Clone)]
pub(crate) struct ConsumeHooks {
    list: Vec<Arc<dyn ConsumeHook>>,
    group: String,
    namespace: Option<String>,
    consumer: ConsumerKind,
}

/// A started consumption: [`ConsumeHooks::before`] to [`ConsumeHooks::after`].
pub(crate) struct ConsumeCall {
    call_id: u64,
    begin_timestamp_ms: i64,
    started: Instant,
}

impl ConsumeHooks {
    pub(crate) fn new(
        list: Vec<Arc<dyn ConsumeHook>>,
        group: &str,
        namespace: Option<&str>,
        consumer: ConsumerKind,
    ) -> Self {
        ConsumeHooks {
            list,
            group: group.to_owned(),
            namespace: namespace.map(str::to_owned),
            consumer,
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn context<'a>(
        &'a self,
        call: &ConsumeCall,
        queue: &'a MessageQueue,
        msgs: &'a [MessageExt],
        orderly: bool,
    ) -> ConsumeHookContext<'a> {
        ConsumeHookContext {
            group: &self.group,
            namespace: self.namespace.as_deref(),
            queue,
            msgs,
            consumer: self.consumer,
            orderly,
            call_id: call.call_id,
            begin_timestamp_ms: call.begin_timestamp_ms,
        }
    }

    pub(crate) fn before(
        &self,
        queue: &MessageQueue,
        msgs: &[MessageExt],
        orderly: bool,
    ) -> ConsumeCall {
        let call = ConsumeCall {
            call_id: call_id(),
            begin_timestamp_ms: now_ms(),
            started: Instant::now(),
        };
        let ctx = self.context(&call, queue, msgs, orderly);
        for h in &self.list {
            guarded("consume", || h.before_consume(&ctx));
        }
        call
    }

    pub(crate) fn after(
        &self,
        call: &ConsumeCall,
        queue: &MessageQueue,
        msgs: &[MessageExt],
        orderly: bool,
        success: bool,
        return_type: ConsumeReturnType,
    ) {
        let ctx = self.context(call, queue, msgs, orderly);
        let outcome = ConsumeHookOutcome {
            success,
            return_type,
            elapsed: call.started.elapsed(),
        };
        for h in &self.list {
            guarded("consume", || h.after_consume(&ctx, &outcome));
        }
    }

    /// Both ends at once, for pull consumers: the batch is handed over as the call returns.
    pub(crate) fn handed_over(&self, queue: &MessageQueue, msgs: &[MessageExt]) {
        if msgs.is_empty() {
            return;
        }
        let call = self.before(queue, msgs, false);
        let ctx = self.context(&call, queue, msgs, false);
        let outcome = ConsumeHookOutcome {
            success: true,
            return_type: ConsumeReturnType::Success,
            elapsed: Duration::ZERO,
        };
        for h in &self.list {
            guarded("consume", || h.after_consume(&ctx, &outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_found_in_the_encoded_form() {
        let enc = "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}UNIQ_KEY\u{1}ABC\u{2}";
        assert_eq!(find_property(enc, "TAGS"), Some("TagA"));
        assert_eq!(find_property(enc, "KEYS"), Some("k1 k2"));
        assert_eq!(find_property(enc, "UNIQ_KEY"), Some("ABC"));
        assert_eq!(find_property(enc, "TAG"), None);
        assert_eq!(find_property("", "TAGS"), None);
        assert_eq!(find_property("A\u{1}\u{2}B\u{1}b", "B"), Some("b"));
        assert_eq!(find_property("junk\u{2}A\u{1}x\u{2}", "A"), Some("x"));
    }

    #[test]
    fn ordinals_round_trip() {
        for n in 0..5 {
            assert_eq!(
                MessageType::from_ordinal(n).map(MessageType::ordinal),
                Some(n)
            );
        }
        assert_eq!(MessageType::from_ordinal(5), None);
        assert_eq!(ConsumeReturnType::Failed.ordinal(), 4);
    }

    #[test]
    fn a_panicking_hook_is_contained() {
        struct Boom;
        impl ConsumeHook for Boom {
            fn before_consume(&self, _: &ConsumeHookContext<'_>) {
                panic!("boom");
            }
        }
        let hooks = ConsumeHooks::new(vec![Arc::new(Boom)], "g", None, ConsumerKind::Pull);
        let mq = MessageQueue::new("T", "b", 0);
        hooks.handed_over(&mq, &[MessageExt::new("T", "x")]);
    }
}
