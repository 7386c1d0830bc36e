//! Queue locks of orderly consumers ([`RebalanceLockManager`], Java semantics: a lock is held
//! by one client id per (group, queue) and expires 60 s after its last renewal).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::body::MessageQueue;
use rocketmq_rs_remoting::rt::Clock;
use rocketmq_rs_remoting::util::MutexExt;

struct LockEntry {
    client_id: String,
    last_update: Instant,
}

/// The lock table.
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_mini_broker::lock_manager::RebalanceLockManager;
/// use rocketmq_rs_remoting::protocol::body::MessageQueue;
/// let m = RebalanceLockManager::new(Duration::from_secs(60));
/// let q = MessageQueue::new("T", "broker-a", 0);
/// assert_eq!(m.try_lock_batch("g", [q.clone()].into(), "c1").len(), 1);
/// assert!(m.try_lock_batch("g", [q.clone()].into(), "c2").is_empty());
/// m.unlock_batch("g", &[q.clone()].into(), "c1");
/// assert_eq!(m.try_lock_batch("g", [q].into(), "c2").len(), 1);
/// ```
pub struct RebalanceLockManager {
    table: Mutex<HashMap<String, HashMap<MessageQueue, LockEntry>>>,
    max_live: Duration,
    clock: Clock,
}

impl std::fmt::Debug for RebalanceLockManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebalanceLockManager")
            .field("max_live", &self.max_live)
            .finish()
    }
}

impl RebalanceLockManager {
    /// A lock table whose locks expire `max_live` after their last renewal.
    pub fn new(max_live: Duration) -> Self {
        RebalanceLockManager {
            table: Mutex::new(HashMap::new()),
            max_live,
            clock: Clock::system(),
        }
    }

    /// Times lock expiry by `clock` (the broker's runtime clock) instead of the OS clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Locks (or renews) every queue of `mqs` that is free, expired or already owned by
    /// `client_id`; returns the queues now held by `client_id`.
    pub fn try_lock_batch(
        &self,
        group: &str,
        mqs: BTreeSet<MessageQueue>,
        client_id: &str,
    ) -> BTreeSet<MessageQueue> {
        let now = self.clock.now();
        let mut t = self.table.lock_unpoisoned();
        let g = t.entry(group.to_string()).or_default();
        let mut ok = BTreeSet::new();
        for mq in mqs {
            let free = match g.get(&mq) {
                None => true,
                Some(e) => {
                    e.client_id == client_id || now.duration_since(e.last_update) > self.max_live
                }
            };
            if free {
                g.insert(
                    mq.clone(),
                    LockEntry {
                        client_id: client_id.to_string(),
                        last_update: now,
                    },
                );
                ok.insert(mq);
            }
        }
        ok
    }

    /// Releases the queues of `mqs` owned by `client_id`.
    pub fn unlock_batch(&self, group: &str, mqs: &BTreeSet<MessageQueue>, client_id: &str) {
        let mut t = self.table.lock_unpoisoned();
        if let Some(g) = t.get_mut(group) {
            for mq in mqs {
                if g.get(mq).is_some_and(|e| e.client_id == client_id) {
                    g.remove(mq);
                }
            }
            if g.is_empty() {
                t.remove(group);
            }
        }
    }

    /// Whether `group` holds any live lock (used to route retries of orderly groups).
    pub fn group_holds_locks(&self, group: &str) -> bool {
        let now = self.clock.now();
        let t = self.table.lock_unpoisoned();
        t.get(group).is_some_and(|g| {
            g.values()
                .any(|e| now.duration_since(e.last_update) <= self.max_live)
        })
    }
}
