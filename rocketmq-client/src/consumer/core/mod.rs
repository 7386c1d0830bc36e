//! The consumer core: what the push, pull and lite pull consumers share, in one place (the Go
//! client's `defaultConsumer`, Java's `RebalanceImpl` with its process-queue table).
//!
//! - [`ProcessQueue`]: the per-queue cache of pulled, not yet consumed messages, from which the
//!   committable offset is derived.
//! - [`apply`]: applying a rebalance result. One round diffs the owned queues against the
//!   allocation ([`Rebalancer::target`]), hands over the queues that leave, waits out the join
//!   grace and takes over the queues that arrive. Push and lite pull run the same rounds; they
//!   differ only in what owning a queue means, which they say by implementing [`QueueOwner`].
//! - [`handover`]: the offset hand-over at both ends of owning a queue: taking one (orderly
//!   lock, start offset) and giving one up (final synchronous commit, forget, unlock).
//! - [`sleep_or`]: the interruptible sleep every consumer loop waits with.
//!
//! Allocation itself (who gets which queue) lives in [`rebalance`](super::rebalance); the offset
//! stores in [`offset_store`](super::offset_store); the broker calls behind the
//! [`ConsumerBackend`](super::backend::ConsumerBackend) test seam.

pub(crate) mod apply;
pub(crate) mod handover;
mod process_queue;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use rocketmq_remoting::rt::{Runtime, ShutdownSignal, TaskGroup};

use crate::consumer::rebalance::Rebalancer;
use crate::error::Result;
use crate::message_queue::MessageQueue;

pub(crate) use self::process_queue::ProcessQueue;

/// A consumer whose queues are assigned by rebalance (push, and lite pull in subscribe mode):
/// what the shared rebalance round in [`apply`] needs to know and to do. Everything else about
/// a queue (its pull loop, its consume position, how long its hand-over may wait) stays with
/// the consumer.
pub(crate) trait QueueOwner: Send + Sync + Sized + 'static {
    /// Computes this client's share of a topic.
    fn rebalancer(&self) -> &Rebalancer;

    /// The consumer's background tasks: the rebalance loop runs among them and ends with their
    /// shutdown signal.
    fn services(&self) -> &TaskGroup;

    /// The rebalance loop's wake-ups and its period.
    fn kick(&self) -> &RebalanceKick;

    /// Time between two periodic rebalance rounds.
    fn rebalance_interval(&self) -> Duration;

    /// How long newly allocated queues wait when the membership changed (see
    /// [`apply::round`]).
    fn join_grace(&self) -> Duration;

    /// Whether the consumer is started and not stopping: a round stops as soon as this is false.
    fn is_running(&self) -> bool;

    /// The subscribed topics (with namespace), in a stable order.
    fn subscribed_topics(&self) -> Vec<String>;

    /// Whether `topic` (with namespace) is subscribed.
    fn is_subscribed(&self, topic: &str) -> bool;

    /// The owned queues that rebalance may take away (queues given by hand are not among them).
    fn rebalanced_queues(&self) -> Vec<MessageQueue>;

    /// Whether `mq` is owned, however it was given.
    fn owns(&self, mq: &MessageQueue) -> bool;

    /// Takes over `mq` (usually with [`handover::take_over`]) and starts pulling it. `Ok(Some)`
    /// is the start offset; `Ok(None)` means not now (e.g. another client holds its lock); an
    /// error is retried at the next round.
    fn take(
        self: &Arc<Self>,
        mq: &MessageQueue,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Gives `mq` up so its next owner starts where this consumer stopped (usually ending with
    /// [`handover::hand_over`]). Nothing to do if it is not owned.
    fn release(self: &Arc<Self>, mq: &MessageQueue) -> impl Future<Output = ()> + Send;

    /// The brokers do not list this client in the group yet: its heartbeat has not arrived.
    fn not_in_group(self: &Arc<Self>) -> impl Future<Output = ()> + Send;
}

/// Wakes a consumer's rebalance loop ahead of its period (subscription change, broker notice).
/// Kicks coalesce: one pending kick is enough for the next round to see every change.
pub(crate) struct RebalanceKick {
    tx: mpsc::Sender<()>,
    /// Taken by the loop when it starts, so only one loop ever runs.
    rx: Mutex<Option<mpsc::Receiver<()>>>,
}

impl RebalanceKick {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(1);
        RebalanceKick {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Asks for a round now.
    pub(crate) fn kick(&self) {
        let _ = self.tx.clone().try_send(());
    }

    /// The receiving end, the first time only.
    fn take_receiver(&self) -> Option<mpsc::Receiver<()>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Sleeps `d`; `false` (early) if `stop` fires first.
pub(crate) async fn sleep_or(rt: &dyn Runtime, d: Duration, stop: &ShutdownSignal) -> bool {
    if stop.is_triggered() {
        return false;
    }
    matches!(select(rt.sleep(d), stop.wait()).await, Either::Left(_))
}
