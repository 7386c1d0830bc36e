//! Held (long-polling) pulls ([`PullHoldService`], Java `PullRequestHoldService`): a pull that
//! found nothing registers a waiter for its (topic, queue); the store's arrival listener wakes
//! every waiter whose offset is now below the queue's max offset. Nothing polls: a waiter sleeps
//! until it is woken or its own deadline passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::channel::oneshot;

struct Waiter {
    id: u64,
    offset: i64,
    tx: oneshot::Sender<()>,
}

/// Registry of held pulls.
///
/// ```
/// use mini_broker::long_poll::PullHoldService;
/// let s = PullHoldService::default();
/// let (_id, mut rx) = s.hold("T", 0, 5);
/// s.notify_arrival("T", 0, 5); // nothing new for offset 5
/// assert_eq!(rx.try_recv(), Ok(None));
/// s.notify_arrival("T", 0, 6);
/// assert_eq!(rx.try_recv(), Ok(Some(())));
/// ```
#[derive(Default)]
pub struct PullHoldService {
    held: Mutex<HashMap<(String, i32), Vec<Waiter>>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Vec<Waiter>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a pull waiting for data at `offset` of (topic, queue). The receiver completes
    /// when data arrives (or is cancelled with the service's [`wake_all`](Self::wake_all)).
    pub fn hold(&self, topic: &str, queue_id: i32, offset: i64) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry((topic.to_string(), queue_id))
            .or_default()
            .push(Waiter { id, offset, tx });
        (id, rx)
    }

    /// Forgets waiter `id` (its deadline passed).
    pub fn cancel(&self, topic: &str, queue_id: i32, id: u64) {
        let mut m = self.lock();
        let key = (topic.to_string(), queue_id);
        if let Some(v) = m.get_mut(&key) {
            v.retain(|w| w.id != id);
            if v.is_empty() {
                m.remove(&key);
            }
        }
    }

    /// Wakes the waiters of (topic, queue) whose offset is below `max_offset`. Called on the
    /// store's writer thread: only takes a lock and completes channels.
    pub fn notify_arrival(&self, topic: &str, queue_id: i32, max_offset: i64) {
        let mut m = self.lock();
        let key = (topic.to_string(), queue_id);
        let Some(v) = m.get_mut(&key) else { return };
        let mut i = 0;
        while i < v.len() {
            if v[i].offset < max_offset {
                let w = v.swap_remove(i);
                let _ = w.tx.send(());
            } else {
                i += 1;
            }
        }
        if v.is_empty() {
            m.remove(&key);
        }
    }

    /// Wakes every waiter (shutdown: held pulls are answered at once).
    pub fn wake_all(&self) {
        let all: Vec<Waiter> = self.lock().drain().flat_map(|(_, v)| v).collect();
        for w in all {
            let _ = w.tx.send(());
        }
    }

    /// Number of held pulls.
    pub fn held_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}
