//! Held (long-polling) pulls ([`PullHoldService`], Java `PullRequestHoldService`): a pull that
//! found nothing registers a waiter for its (topic, queue) with its filter; the store's arrival
//! listener wakes the waiters for which one of the new messages is at or past their offset and
//! passes their filter (a message for another tag or failing their SQL92 expression leaves them
//! held, docs/protocol/pull.md §1, §4). Nothing polls: a waiter sleeps until it is woken or its own
//! check time passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::channel::oneshot;
use rocketmq_rs_remoting::util::MutexExt;

use crate::filter::MessageFilter;
use crate::store::ArrivedMessage;

struct Waiter {
    id: u64,
    offset: i64,
    filter: MessageFilter,
    tx: oneshot::Sender<()>,
}

/// Registry of held pulls.
///
/// ```
/// use rocketmq_rs_mini_broker::filter::MessageFilter;
/// use rocketmq_rs_mini_broker::long_poll::PullHoldService;
/// use rocketmq_rs_mini_broker::store::ArrivedMessage;
/// let s = PullHoldService::default();
/// let (_id, mut rx) = s.hold("T", 0, 5, MessageFilter::All);
/// s.notify_arrival("T", 0, 5); // nothing new for offset 5
/// assert_eq!(rx.try_recv(), Ok(None));
/// s.notify_arrival("T", 0, 6);
/// assert_eq!(rx.try_recv(), Ok(Some(())));
///
/// // A pull for TagA stays held when a TagB message arrives.
/// let tag_a = MessageFilter::Tags(vec![rocketmq_rs_mini_broker::store::tag_hash_code("TagA") as i32].into());
/// let (_id, mut rx) = s.hold("T", 0, 6, tag_a);
/// let b = ArrivedMessage { queue_offset: 6, properties: b"TAGS\x01TagB\x02" };
/// s.notify_messages("T", 0, &[b]);
/// assert_eq!(rx.try_recv(), Ok(None));
/// let a = ArrivedMessage { queue_offset: 7, properties: b"TAGS\x01TagA\x02" };
/// s.notify_messages("T", 0, &[a]);
/// assert_eq!(rx.try_recv(), Ok(Some(())));
/// ```
#[derive(Default)]
pub struct PullHoldService {
    /// topic → queue id → waiters (nested so lookups by `&str` allocate nothing).
    held: Mutex<HashMap<String, HashMap<i32, Vec<Waiter>>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for PullHoldService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullHoldService")
            .field("held", &self.held_count())
            .finish()
    }
}

impl PullHoldService {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<i32, Vec<Waiter>>>> {
        self.held.lock_unpoisoned()
    }

    /// Registers a pull waiting for data at `offset` of (topic, queue) that `filter` accepts.
    /// The receiver completes when such data arrives (or is cancelled with the service's
    /// [`wake_all`](Self::wake_all)).
    pub fn hold(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        filter: MessageFilter,
    ) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut m = self.lock();
        let per_topic = match m.get_mut(topic) {
            Some(q) => q,
            None => m.entry(topic.to_string()).or_default(),
        };
        per_topic.entry(queue_id).or_default().push(Waiter {
            id,
            offset,
            filter,
            tx,
        });
        (id, rx)
    }

    /// Forgets waiter `id` (its deadline passed).
    pub fn cancel(&self, topic: &str, queue_id: i32, id: u64) {
        let mut m = self.lock();
        let Some(per_topic) = m.get_mut(topic) else {
            return;
        };
        if let Some(v) = per_topic.get_mut(&queue_id) {
            v.retain(|w| w.id != id);
            if v.is_empty() {
                per_topic.remove(&queue_id);
            }
        }
        if per_topic.is_empty() {
            m.remove(topic);
        }
    }

    /// Wakes the waiters of (topic, queue) whose offset is below `max_offset`, whatever their
    /// filter (Java's periodic check, which passes no tag code).
    pub fn notify_arrival(&self, topic: &str, queue_id: i32, max_offset: i64) {
        self.wake_where(topic, queue_id, |w| w.offset < max_offset);
    }

    /// Wakes the waiters of (topic, queue) for which one of `msgs` is at or past their offset
    /// and passes their filter. Called on the store's writer thread: only takes a lock,
    /// evaluates filters and completes channels.
    pub fn notify_messages(&self, topic: &str, queue_id: i32, msgs: &[ArrivedMessage<'_>]) {
        self.wake_where(topic, queue_id, |w| {
            msgs.iter()
                .any(|m| m.queue_offset >= w.offset && w.filter.matches_arrived(m.properties))
        });
    }

    fn wake_where(&self, topic: &str, queue_id: i32, wake: impl Fn(&Waiter) -> bool) {
        let mut m = self.lock();
        let Some(per_topic) = m.get_mut(topic) else {
            return;
        };
        let Some(v) = per_topic.get_mut(&queue_id) else {
            return;
        };
        let mut i = 0;
        while i < v.len() {
            if wake(&v[i]) {
                let w = v.swap_remove(i);
                let _ = w.tx.send(());
            } else {
                i += 1;
            }
        }
        if v.is_empty() {
            per_topic.remove(&queue_id);
            if per_topic.is_empty() {
                m.remove(topic);
            }
        }
    }

    /// Wakes every waiter (shutdown: held pulls are answered at once).
    pub fn wake_all(&self) {
        let all: Vec<Waiter> = self
            .lock()
            .drain()
            .flat_map(|(_, qs)| qs.into_values().flatten())
            .collect();
        for w in all {
            let _ = w.tx.send(());
        }
    }

    /// Number of held pulls.
    pub fn held_count(&self) -> usize {
        self.lock()
            .values()
            .flat_map(|qs| qs.values())
            .map(Vec::len)
            .sum()
    }
}
