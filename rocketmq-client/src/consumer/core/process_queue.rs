//! Per-queue in-flight state of an owned queue (Java `ProcessQueue`), for the push and lite pull
//! consumers: the messages pulled and not yet consumed, ordered by queue offset, from which the
//! committable offset is derived.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::body::ProcessQueueInfo;
use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::rt::Clock;
use rocketmq_rs_remoting::util::MutexExt;

/// Client-side lock lifetime (Java `rocketmq.client.rebalance.lockMaxLiveTime`): an orderly queue
/// is only consumed if its broker lock was confirmed within this time.
pub(crate) const LOCK_MAX_LIVE: Duration = Duration::from_secs(30);

/// Queue offsets with a size each, in offset order: what [`BTreeMap<i64, u64>`] would be for
/// the cached messages, in a deque instead. Pulled offsets arrive in increasing order (appended)
/// and leave mostly from the front, so each operation is a push, a pop or a binary search rather
/// than a tree walk with node allocations. A removed entry inside the range stays as a tombstone
/// until the entries before it are gone; both ends are always live entries.
#[derive(Debug, Default)]
struct OffsetSizes {
    /// `(offset, size)`, offsets strictly increasing; size [`REMOVED`] marks a tombstone.
    entries: VecDeque<(i64, u64)>,
    live: usize,
}

const REMOVED: u64 = u64::MAX;

impl OffsetSizes {
    fn find(&self, offset: i64) -> Result<usize, usize> {
        let (Some(&(first, _)), Some(&(last, _))) = (self.entries.front(), self.entries.back())
        else {
            return Err(0);
        };
        if offset < first {
            return Err(0);
        }
        if offset > last {
            return Err(self.entries.len());
        }
        // A queue's offsets are mostly consecutive: try the dense position before searching.
        let guess = usize::try_from(offset.wrapping_sub(first)).unwrap_or(usize::MAX);
        if self.entries.get(guess).is_some_and(|e| e.0 == offset) {
            return Ok(guess);
        }
        self.entries.binary_search_by_key(&offset, |e| e.0)
    }

    fn contains_key(&self, offset: i64) -> bool {
        self.find(offset)
            .is_ok_and(|i| self.entries[i].1 != REMOVED)
    }

    /// Adds `offset` (replacing the size of a present one).
    fn insert(&mut self, offset: i64, size: u64) {
        // Sizes are body lengths; keep the tombstone marker out of reach.
        let size = size.min(REMOVED - 1);
        match self.entries.back() {
            Some(&(last, _)) if last >= offset => match self.find(offset) {
                Ok(i) => {
                    if self.entries[i].1 == REMOVED {
                        self.live += 1;
                    }
                    self.entries[i].1 = size;
                }
                Err(i) => {
                    self.entries.insert(i, (offset, size));
                    self.live += 1;
                }
            },
            _ => {
                self.entries.push_back((offset, size));
                self.live += 1;
            }
        }
    }

    /// Removes `offset`, returning its size if it was present.
    fn remove(&mut self, offset: i64) -> Option<u64> {
        let i = self.find(offset).ok()?;
        let size = std::mem::replace(&mut self.entries[i].1, REMOVED);
        if size == REMOVED {
            return None;
        }
        self.live -= 1;
        self.trim();
        Some(size)
    }

    /// Drops tombstones from both ends.
    fn trim(&mut self) {
        while self.entries.front().is_some_and(|e| e.1 == REMOVED) {
            self.entries.pop_front();
        }
        while self.entries.back().is_some_and(|e| e.1 == REMOVED) {
            self.entries.pop_back();
        }
    }

    fn pop_first(&mut self) -> Option<(i64, u64)> {
        let first = self.entries.pop_front()?;
        self.live -= 1;
        self.trim();
        Some(first)
    }

    fn first(&self) -> Option<i64> {
        self.entries.front().map(|e| e.0)
    }

    fn last(&self) -> Option<i64> {
        self.entries.back().map(|e| e.0)
    }

    fn len(&self) -> usize {
        self.live
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.live = 0;
    }
}

/// One owned queue's cache and flags; shared (`Arc`) by its pull loop, its consumers and the
/// rebalance that may drop it.
#[derive(Debug)]
pub(crate) struct ProcessQueue {
    state: Mutex<State>,
    dropped: AtomicBool,
    /// Being handed over (rebalance removal): no new listener call starts, running ones may
    /// still commit.
    draining: AtomicBool,
    /// Listener calls running for this queue (concurrent mode).
    calls: AtomicUsize,
    locked: AtomicBool,
    /// The runtime's clock (copied: stamped on every pull and consume).
    clock: Clock,
    /// Serialises orderly consumption of this queue, and lets rebalance wait for an in-progress
    /// batch before unlocking.
    pub(crate) consume_lock: futures::lock::Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Body size of every cached message by queue offset. Concurrent and lite consumers dispatch
    /// the pulled messages themselves, so the queue tracks only offsets and sizes: no
    /// per-message clone.
    msgs: OffsetSizes,
    /// Orderly: the cached messages themselves (same offsets as `msgs`), handed out by `take`.
    held: BTreeMap<i64, MessageExt>,
    /// Orderly: body sizes of the messages taken by the running batch (the batch itself is
    /// owned by the consume task and comes back through `reconsume` if it must run again).
    consuming_msgs: BTreeMap<i64, u64>,
    count: usize,
    size: u64,
    /// Highest queue offset ever put (Java `queueOffsetMax`).
    max_offset: i64,
    /// Highest `count` ever reached (flow-control statistics).
    max_count_seen: usize,
    /// Orderly: a consume task is scheduled for this queue.
    consuming: bool,
    last_pull: Instant,
    last_consume: Instant,
    last_lock: Option<Instant>,
}

impl State {
    fn insert(&mut self, offset: i64, len: u64, msg: Option<MessageExt>) {
        if self.msgs.contains_key(offset) || self.consuming_msgs.contains_key(&offset) {
            return;
        }
        self.size += len;
        self.count += 1;
        self.max_offset = self.max_offset.max(offset);
        self.msgs.insert(offset, len);
        if let Some(m) = msg {
            self.held.insert(offset, m);
        }
    }
}

impl Default for ProcessQueue {
    fn default() -> Self {
        ProcessQueue::new(Clock::system())
    }
}

impl ProcessQueue {
    /// An empty queue whose pull, consume and lock times are read from `clock`.
    pub(crate) fn new(clock: Clock) -> Self {
        let now = clock.now();
        ProcessQueue {
            clock,
            state: Mutex::new(State {
                msgs: OffsetSizes::default(),
                held: BTreeMap::new(),
                consuming_msgs: BTreeMap::new(),
                count: 0,
                size: 0,
                max_offset: -1,
                max_count_seen: 0,
                consuming: false,
                last_pull: now,
                last_consume: now,
                last_lock: None,
            }),
            dropped: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            locked: AtomicBool::new(false),
            consume_lock: futures::lock::Mutex::new(()),
        }
    }
}

impl ProcessQueue {
    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock_unpoisoned()
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    pub(crate) fn set_dropped(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    /// Whether the queue is being handed over (no new listener call may start).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts the hand-over: listener calls not yet started are skipped from now on.
    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Registers a listener call about to start; `false` (nothing registered) if the queue is
    /// draining or dropped. Registering before checking closes the race with
    /// [`calls_running`](Self::calls_running) in the drainer.
    pub(crate) fn begin_call(&self) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.is_draining() || self.is_dropped() {
            self.calls.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// A call registered by [`begin_call`](Self::begin_call) ended (its offset was applied).
    pub(crate) fn end_call(&self) {
        self.calls.fetch_sub(1, Ordering::SeqCst);
    }

    /// Listener calls still running.
    pub(crate) fn calls_running(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Highest number of cached messages ever reached.
    pub(crate) fn max_count_seen(&self) -> usize {
        self.st().max_count_seen
    }

    /// Lowest and highest cached offsets (`None` when empty).
    pub(crate) fn cached_range(&self) -> Option<(i64, i64)> {
        let st = self.st();
        let lo = st
            .consuming_msgs
            .keys()
            .next()
            .copied()
            .or(st.msgs.first())?;
        let hi = st
            .msgs
            .last()
            .or(st.consuming_msgs.keys().next_back().copied())?;
        Some((lo, hi))
    }

    /// Last time messages were consumed from this queue.
    pub(crate) fn last_consume(&self) -> Instant {
        self.st().last_consume
    }

    /// Last successful lock confirmation.
    pub(crate) fn last_lock(&self) -> Option<Instant> {
        self.st().last_lock
    }

    /// Tracks pulled messages that the caller dispatches itself (concurrent push, lite pull):
    /// only their offsets and sizes are kept. Duplicates by offset are ignored.
    pub(crate) fn put(&self, msgs: &[MessageExt]) {
        let mut st = self.st();
        for m in msgs {
            st.insert(m.queue_offset, m.body.len() as u64, None);
        }
        st.max_count_seen = st.max_count_seen.max(st.count);
    }

    /// Orderly: caches pulled messages until [`take`](Self::take) hands them out (duplicates
    /// by offset are ignored). Returns whether a consume task must be started (none is
    /// scheduled and there is something to consume).
    pub(crate) fn put_owned(&self, msgs: Vec<MessageExt>) -> bool {
        let mut st = self.st();
        for m in msgs {
            st.insert(m.queue_offset, m.body.len() as u64, Some(m));
        }
        st.max_count_seen = st.max_count_seen.max(st.count);
        if !st.msgs.is_empty() && !st.consuming {
            st.consuming = true;
            true
        } else {
            false
        }
    }

    /// Records that messages up to `next_offset - 1` were scanned even if none were kept (all
    /// filtered), so an empty queue commits past them.
    pub(crate) fn note_scanned(&self, next_offset: i64) {
        let mut st = self.st();
        st.max_offset = st.max_offset.max(next_offset - 1);
    }

    /// Removes consumed messages (concurrent mode) and returns the offset now safe to commit:
    /// the smallest offset still in flight, or one past the highest offset seen when nothing is
    /// left. `None` if nothing was cached.
    pub(crate) fn remove(&self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        let mut st = self.st();
        if st.msgs.is_empty() {
            return None;
        }
        for off in offsets {
            if let Some(len) = st.msgs.remove(off) {
                st.count -= 1;
                st.size = st.size.saturating_sub(len);
                if !st.held.is_empty() {
                    st.held.remove(&off);
                }
            }
        }
        st.last_consume = self.clock.now();
        Some(match st.msgs.first() {
            Some(first) => first,
            None => st.max_offset + 1,
        })
    }

    /// Number of cached messages.
    pub(crate) fn count(&self) -> usize {
        self.st().count
    }

    /// Bytes of cached bodies.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.st().size
    }

    /// Offset distance between the first and last cached message (concurrent flow control).
    pub(crate) fn max_span(&self) -> i64 {
        let st = self.st();
        match (st.msgs.first(), st.msgs.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }

    /// Orderly: moves up to `n` messages, in offset order, into the running batch. An empty
    /// result clears the "consuming" mark, ending the consume task.
    pub(crate) fn take(&self, n: usize) -> Vec<MessageExt> {
        let mut st = self.st();
        let mut out = Vec::with_capacity(n.min(st.msgs.len()));
        while out.len() < n {
            let Some((off, len)) = st.msgs.pop_first() else {
                break;
            };
            st.consuming_msgs.insert(off, len);
            // Only `put_owned` feeds an orderly queue, so every entry has its message; an entry
            // without one still commits with the batch rather than blocking the queue.
            if let Some(m) = st.held.remove(&off) {
                out.push(m);
            }
        }
        if out.is_empty() {
            st.consuming = false;
        }
        out
    }

    /// Orderly: the running batch succeeded; returns the offset to commit (one past its last
    /// message).
    pub(crate) fn commit(&self) -> Option<i64> {
        let mut st = self.st();
        let last = st.consuming_msgs.keys().next_back().copied()?;
        let batch = std::mem::take(&mut st.consuming_msgs);
        for len in batch.values() {
            st.count -= 1;
            st.size = st.size.saturating_sub(*len);
        }
        st.last_consume = self.clock.now();
        Some(last + 1)
    }

    /// Orderly: puts the running batch back to be consumed again, with the given messages'
    /// updated state (reconsume counts).
    pub(crate) fn reconsume(&self, msgs: Vec<MessageExt>) {
        let mut st = self.st();
        for m in msgs {
            let len = st
                .consuming_msgs
                .remove(&m.queue_offset)
                .unwrap_or(m.body.len() as u64);
            st.msgs.insert(m.queue_offset, len);
            st.held.insert(m.queue_offset, m);
        }
    }

    /// Orderly: ends the consume task (the next `put` starts a new one).
    pub(crate) fn stop_consuming(&self) {
        self.st().consuming = false;
    }

    /// Drops every cached message (queue removed); returns how many were dropped.
    pub(crate) fn clear(&self) -> usize {
        let mut st = self.st();
        let n = st.count;
        st.msgs.clear();
        st.held.clear();
        st.consuming_msgs.clear();
        st.count = 0;
        st.size = 0;
        n
    }

    pub(crate) fn touch_pull(&self) {
        self.st().last_pull = self.clock.now();
    }

    pub(crate) fn last_pull(&self) -> Instant {
        self.st().last_pull
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Acquire)
    }

    /// Marks the broker lock as confirmed now (or lost).
    pub(crate) fn set_locked(&self, locked: bool) {
        if locked {
            self.st().last_lock = Some(self.clock.now());
        }
        self.locked.store(locked, Ordering::Release);
    }

    /// Whether the lock was not confirmed within [`LOCK_MAX_LIVE`].
    pub(crate) fn lock_expired(&self) -> bool {
        !matches!(self.st().last_lock, Some(t) if self.clock.since(t) <= LOCK_MAX_LIVE)
    }

    /// Orderly: locked and the lock is fresh.
    pub(crate) fn can_consume_orderly(&self) -> bool {
        self.is_locked() && !self.lock_expired()
    }

    /// The queue's entry in GET_CONSUMER_RUNNING_INFO, with `commit_offset` as the consumer
    /// knows it. Instants become wall-clock milliseconds relative to `now` = `wall_ms`.
    pub(crate) fn running_info(
        &self,
        commit_offset: i64,
        now: Instant,
        wall_ms: i64,
    ) -> ProcessQueueInfo {
        let ago = |t: Instant| wall_ms - now.saturating_duration_since(t).as_millis() as i64;
        let (lo, hi) = self.cached_range().unwrap_or((0, 0));
        ProcessQueueInfo {
            commit_offset,
            cached_msg_min_offset: lo,
            cached_msg_max_offset: hi,
            cached_msg_count: i32::try_from(self.count()).unwrap_or(i32::MAX),
            cached_msg_size_in_mi_b: i32::try_from(self.size_bytes() / (1024 * 1024))
                .unwrap_or(i32::MAX),
            locked: self.is_locked(),
            last_lock_timestamp: self.last_lock().map_or(0, ago),
            dropped: self.is_dropped(),
            last_pull_timestamp: ago(self.last_pull()),
            last_consume_timestamp: ago(self.last_consume()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(off: i64, len: usize) -> MessageExt {
        let mut m = MessageExt::new("T", vec![0u8; len]);
        m.queue_offset = off;
        m
    }

    /// `OffsetSizes` behaves as the `BTreeMap<i64, u64>` it replaces, over random operations
    /// that favour what the consumers do (appending increasing offsets, removing near the front)
    /// but also insert behind, re-insert and remove what is absent.
    #[test]
    fn offset_sizes_match_a_btree_map() {
        let mut rng = fastrand::Rng::with_seed(21);
        for _ in 0..200 {
            let mut model = BTreeMap::new();
            let mut deque = OffsetSizes::default();
            let mut next = rng.i64(0..100);
            for _ in 0..300 {
                match rng.u8(0..10) {
                    0..=3 => {
                        let size = rng.u64(0..2000);
                        model.insert(next, size);
                        deque.insert(next, size);
                        next += rng.i64(1..4);
                    }
                    4 => {
                        let off = rng.i64(next - 50..next + 2);
                        let size = rng.u64(0..2000);
                        model.insert(off, size);
                        deque.insert(off, size);
                        next = next.max(off + 1);
                    }
                    5..=7 => {
                        let first = model.keys().next().copied().unwrap_or(next);
                        let off = rng.i64(first - 2..first + 8);
                        assert_eq!(deque.remove(off), model.remove(&off), "remove {off}");
                    }
                    8 => {
                        assert_eq!(deque.pop_first(), model.pop_first());
                    }
                    _ => {
                        let off = rng.i64(next - 60..next + 2);
                        assert_eq!(deque.contains_key(off), model.contains_key(&off));
                    }
                }
                assert_eq!(deque.len(), model.len());
                assert_eq!(deque.is_empty(), model.is_empty());
                assert_eq!(deque.first(), model.keys().next().copied());
                assert_eq!(deque.last(), model.keys().next_back().copied());
            }
            deque.clear();
            assert!(deque.is_empty() && deque.first().is_none());
        }
    }

    #[test]
    fn commit_offset_is_smallest_in_flight() {
        let pq = ProcessQueue::default();
        assert_eq!(pq.remove([1]), None);
        pq.put(&[msg(10, 5), msg(11, 5), msg(12, 5)]);
        pq.put(&[msg(11, 5)]); // duplicate ignored
        assert_eq!(pq.count(), 3);
        assert_eq!(pq.size_bytes(), 15);
        assert_eq!(pq.max_span(), 2);
        // 11 done while 10 is still running: commit must stay at 10.
        assert_eq!(pq.remove([11]), Some(10));
        assert_eq!(pq.remove([10]), Some(12));
        assert_eq!(pq.remove([12]), Some(13));
        assert_eq!(pq.count(), 0);
        assert_eq!(pq.size_bytes(), 0);
    }

    #[test]
    fn scanned_offsets_advance_empty_queue() {
        let pq = ProcessQueue::default();
        pq.put(&[msg(3, 1)]);
        pq.note_scanned(9);
        assert_eq!(pq.remove([3]), Some(9));
    }

    #[test]
    fn orderly_take_commit_reconsume() {
        let pq = ProcessQueue::default();
        assert!(pq.put_owned(vec![msg(0, 1), msg(1, 1), msg(2, 1)]));
        assert!(
            !pq.put_owned(vec![msg(3, 1)]),
            "a consume task is already scheduled"
        );
        let b = pq.take(2);
        assert_eq!(b.iter().map(|m| m.queue_offset).collect::<Vec<_>>(), [0, 1]);
        let mut again = b.clone();
        again[0].reconsume_times += 1;
        pq.reconsume(again);
        let b = pq.take(2);
        assert_eq!(b[0].reconsume_times, 1);
        assert_eq!(pq.commit(), Some(2));
        assert_eq!(pq.count(), 2);
        assert_eq!(pq.take(10).len(), 2);
        assert_eq!(pq.commit(), Some(4));
        assert!(pq.take(10).is_empty());
        assert!(pq.put_owned(vec![msg(4, 1)]), "consuming mark was cleared");
    }

    #[test]
    fn lock_freshness() {
        let pq = ProcessQueue::default();
        assert!(!pq.can_consume_orderly());
        pq.set_locked(true);
        assert!(pq.can_consume_orderly());
        pq.set_locked(false);
        assert!(!pq.can_consume_orderly());
    }
}
