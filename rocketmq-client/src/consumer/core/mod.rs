//! The consumer core: what the push and lite pull consumers share, in one place (the Go
//! client's `defaultConsumer`; Java spreads it over `RebalanceImpl`, `ProcessQueue` and the
//! consumer impls).
//!
//! - [`ConsumerCore`] (this file): a consumer's group, backend, offset store and task groups,
//!   its subscription table and its table of owned queues, and the rebalancer.
//! - [`ProcessQueue`]: the per-queue cache of pulled, not yet consumed messages, from which the
//!   committable offset is derived.
//! - [`apply`]: applying a rebalance result. One round diffs the owned queues against the
//!   allocation ([`Rebalancer::target`]), hands over the queues that leave, waits out the join
//!   grace and takes over the queues that arrive. Push and lite pull run the same rounds; they
//!   differ only in what owning a queue means, which they say by implementing [`QueueOwner`].
//! - [`handover`]: the offset hand-over at both ends of owning a queue: taking one (orderly
//!   lock, start offset) and giving one up (final synchronous commit, forget, unlock).
//! - [`lifecycle`]: opening the consumer's side of the client and closing it again.
//!
//! Allocation itself (who gets which queue) lives in [`rebalance`](super::rebalance); the offset
//! stores in [`offset_store`](super::offset_store); the broker calls behind the
//! [`ConsumerBackend`](super::backend::ConsumerBackend) test seam. The classic pull consumer
//! owns no queues and has no core: it shares the backend plumbing and the builder setters.

pub(crate) mod apply;
pub(crate) mod handover;
pub(crate) mod lifecycle;
mod process_queue;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::body::SubscriptionData;
use rocketmq_rs_remoting::rt::{Runtime, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::util::MutexExt;

use crate::config::ClientConfig;
use crate::consumer::backend::ConsumerBackend;
use crate::consumer::offset_store::OffsetStore;
use crate::consumer::rebalance::strategy::AllocateStrategy;
use crate::consumer::rebalance::Rebalancer;
use crate::consumer::{MessageModel, MessageSelector};
use crate::error::Result;
use crate::message_queue::MessageQueue;

pub(crate) use self::process_queue::ProcessQueue;

/// A consumer whose queues rebalance assigns (push, and lite pull in subscribe mode): what the
/// shared rounds in [`apply`] need beyond its [`ConsumerCore`]. Everything else about a queue
/// (its pull loop, its consume position, how long its hand-over may wait) stays with the
/// consumer.
pub(crate) trait QueueOwner: Send + Sync + Sized + 'static {
    /// The consumer's own part of an owned queue's entry.
    type Ext: Send + 'static;

    /// Subscriptions, owned queues, rebalancer.
    fn core(&self) -> &ConsumerCore<Self::Ext>;

    /// Takes over `mq` (usually with [`ConsumerCore::take_over`]) and starts pulling it.
    /// `Ok(Some)` is the start offset; `Ok(None)` means not now (e.g. another client holds its
    /// lock); an error is retried at the next round.
    fn take(
        self: &Arc<Self>,
        mq: &MessageQueue,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Gives `mq` up so its next owner starts where this consumer stopped (usually ending with
    /// [`ConsumerCore::hand_over`]). Nothing to do if it is not owned.
    fn release(self: &Arc<Self>, mq: &MessageQueue) -> impl Future<Output = ()> + Send;

    /// The brokers do not list this client in the group yet: its heartbeat has not arrived.
    fn not_in_group(self: &Arc<Self>) -> impl Future<Output = ()> + Send;
}

/// One owned queue: what the core works with, and the consumer's own part `X`.
#[derive(Clone)]
pub(crate) struct OwnedQueue<X> {
    /// The queue's cache.
    pub(crate) pq: Arc<ProcessQueue>,
    /// Stops the queue's pull loop.
    pub(crate) stop: ShutdownSignal,
    /// Taken by rebalance, which may then take it away (queues given by hand are the
    /// application's).
    pub(crate) by_rebalance: bool,
    /// What the consumer keeps besides.
    pub(crate) ext: X,
}

impl<X> OwnedQueue<X> {
    /// A freshly taken queue, its pull loop still to start.
    pub(crate) fn new(pq: Arc<ProcessQueue>, by_rebalance: bool, ext: X) -> Self {
        OwnedQueue {
            pq,
            stop: ShutdownSignal::new(),
            by_rebalance,
            ext,
        }
    }
}

/// One subscribed topic.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) selector: MessageSelector,
    /// The version the brokers see (Java `subVersion`).
    pub(crate) version: i64,
}

/// What every queue-owning consumer holds (Go `defaultConsumer`): its group, broker access and
/// offset store, what is subscribed, which queues are owned, and how they are reallocated. `X`
/// is the consumer's own part of an owned queue's entry. More methods: the offset hand-over in
/// [`handover`], opening and closing in [`lifecycle`].
pub(crate) struct ConsumerCore<X> {
    /// Group with namespace.
    pub(crate) group: String,
    pub(crate) backend: Arc<dyn ConsumerBackend>,
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) store: OffsetStore,
    /// The consumer's background services (the rebalance loop among them); their shutdown
    /// signal ends the rebalance rounds.
    pub(crate) services: TaskGroup,
    /// The pull loops of the owned queues.
    pub(crate) pulls: TaskGroup,
    /// Computes this client's share of a topic.
    pub(crate) rebalancer: Rebalancer,
    /// Topic (with namespace) → subscription.
    subs: Mutex<BTreeMap<String, Subscription>>,
    queues: Mutex<HashMap<MessageQueue, OwnedQueue<X>>>,
    /// Topics (with namespace) consumed by POP: rebalance gives them no owned queues.
    pop_topics: Mutex<HashSet<String>>,
    kick_tx: mpsc::Sender<()>,
    /// A kick is queued and its round has not started: later kicks add nothing.
    kick_pending: AtomicBool,
    /// Taken by the rebalance loop when it starts, so only one loop ever runs.
    kick_rx: Mutex<Option<mpsc::Receiver<()>>>,
    rebalance_interval: Duration,
    join_grace: Duration,
}

/// What a consumer's builder settled, for [`ConsumerCore::new`].
pub(crate) struct CoreSettings<'a> {
    pub(crate) client: &'a ClientConfig,
    /// A shared instance's or a test's backend; `None` = a new client instance.
    pub(crate) backend: Option<Arc<dyn ConsumerBackend>>,
    /// Group without namespace.
    pub(crate) group: &'a str,
    pub(crate) model: MessageModel,
    pub(crate) strategy: Arc<dyn AllocateStrategy>,
    /// Broadcasting: where the offset file goes (default: the standard directory).
    pub(crate) local_offset_dir: Option<PathBuf>,
    /// Topics (without namespace) and selectors.
    pub(crate) subscriptions: Vec<(String, MessageSelector)>,
    /// The version every subscription starts with.
    pub(crate) sub_version: i64,
    pub(crate) join_grace: Duration,
}

impl<X: Send + 'static> ConsumerCore<X> {
    /// A core owning nothing yet: the backend (given or new), the group and topics with the
    /// client's namespace, the offset store the message model calls for.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a bad client configuration or local offset
    /// store; [`Error::InvalidMessage`](crate::Error::InvalidMessage) for a bad topic name.
    pub(crate) fn new(s: CoreSettings<'_>) -> Result<Self> {
        let backend = crate::consumer::client_backend::given_or_new(s.backend, s.client)?;
        let rt = backend.runtime();
        let group = s.client.wrap(s.group);
        let store = OffsetStore::for_model(s.model, &group, &backend, s.local_offset_dir)?;
        let mut subs = BTreeMap::new();
        for (topic, selector) in s.subscriptions {
            crate::message::validate_topic(&topic)?;
            let version = s.sub_version;
            subs.insert(s.client.wrap(&topic), Subscription { selector, version });
        }
        let (kick_tx, kick_rx) = mpsc::channel(1);
        Ok(ConsumerCore {
            rebalancer: Rebalancer::new(group.clone(), s.model, s.strategy, Arc::clone(&backend)),
            group,
            backend,
            services: TaskGroup::new(Arc::clone(&rt)),
            pulls: TaskGroup::new(Arc::clone(&rt)),
            rt,
            store,
            subs: Mutex::new(subs),
            queues: Mutex::new(HashMap::new()),
            pop_topics: Mutex::default(),
            kick_tx,
            kick_pending: AtomicBool::new(false),
            kick_rx: Mutex::new(Some(kick_rx)),
            rebalance_interval: s.client.rebalance_interval,
            join_grace: s.join_grace,
        })
    }

    /// The subscription table.
    pub(crate) fn subs(&self) -> MutexGuard<'_, BTreeMap<String, Subscription>> {
        self.subs.lock_unpoisoned()
    }

    /// The owned queues.
    pub(crate) fn queues(&self) -> MutexGuard<'_, HashMap<MessageQueue, OwnedQueue<X>>> {
        self.queues.lock_unpoisoned()
    }

    /// The subscribed topics (with namespace), in order.
    pub(crate) fn topics(&self) -> Vec<String> {
        self.subs().keys().cloned().collect()
    }

    /// Whether `topic` (with namespace) is subscribed.
    pub(crate) fn is_subscribed(&self, topic: &str) -> bool {
        self.subs().contains_key(topic)
    }

    /// The subscription of `topic` (with namespace).
    pub(crate) fn subscription(&self, topic: &str) -> Option<Subscription> {
        self.subs().get(topic).cloned()
    }

    /// The subscriptions as the heartbeat and the running info carry them.
    pub(crate) fn subscription_data(&self) -> Vec<SubscriptionData> {
        self.subs()
            .iter()
            .map(|(t, s)| s.selector.to_subscription_data(t, s.version))
            .collect()
    }

    /// Marks `topic` (with namespace) as consumed by POP (`on`) or by owned queues; `true` when
    /// that changed. Rebalance rounds then give a POP topic no queues.
    pub(crate) fn set_pop(&self, topic: &str, on: bool) -> bool {
        let mut t = self.pop_topics.lock_unpoisoned();
        if on {
            t.insert(topic.to_owned())
        } else {
            t.remove(topic)
        }
    }

    /// Whether `topic` (with namespace) is consumed by POP.
    pub(crate) fn is_pop(&self, topic: &str) -> bool {
        self.pop_topics.lock_unpoisoned().contains(topic)
    }

    /// Records `mq` as owned by `entry`; `false` (nothing recorded) if it is owned already or
    /// the consumer is stopping.
    fn adopt(&self, mq: &MessageQueue, entry: OwnedQueue<X>) -> bool {
        let mut queues = self.queues();
        if queues.contains_key(mq) || self.is_stopping() {
            return false;
        }
        queues.insert(mq.clone(), entry);
        true
    }

    /// Whether `mq` is owned, however it was given.
    pub(crate) fn owns(&self, mq: &MessageQueue) -> bool {
        self.queues().contains_key(mq)
    }

    /// The owned queues that rebalance may take away.
    pub(crate) fn rebalanced_queues(&self) -> Vec<MessageQueue> {
        self.queues()
            .iter()
            .filter(|(_, e)| e.by_rebalance)
            .map(|(mq, _)| mq.clone())
            .collect()
    }

    /// Whether the consumer's services are stopping (shutdown began): rebalance rounds stop
    /// taking and giving queues then, the shutdown settles what is owned.
    pub(crate) fn is_stopping(&self) -> bool {
        self.services.signal().is_triggered()
    }

    /// Asks for a rebalance round now. Kicks coalesce: one pending kick is enough for the next
    /// round to see every change.
    pub(crate) fn kick(&self) {
        // The flag does the coalescing: futures' mpsc gives every `Sender` clone a slot of its
        // own, so `try_send` on a fresh clone always queues, and each kick (one per topic whose
        // route was first fetched, say) used to queue a round of its own.
        if !self.kick_pending.swap(true, Ordering::AcqRel) {
            let _ = self.kick_tx.clone().try_send(());
        }
    }

    /// A round is starting: every kick so far is served by it; later ones ask for another.
    fn kicks_served(&self, kicks: &mut mpsc::Receiver<()>) {
        while kicks.try_recv().is_ok() {}
        self.kick_pending.store(false, Ordering::Release);
    }

    /// The receiving end of the kicks, the first time only.
    fn take_kicks(&self) -> Option<mpsc::Receiver<()>> {
        self.kick_rx.lock_unpoisoned().take()
    }
}

/// Sleeps `d`; `false` (early) if `stop` fires first.
pub(crate) async fn sleep_or(rt: &dyn Runtime, d: Duration, stop: &ShutdownSignal) -> bool {
    if stop.is_triggered() {
        return false;
    }
    matches!(select(rt.sleep(d), stop.wait()).await, Either::Left(_))
}
