//! The offset hand-over between the owners of a queue, from both ends: where a new owner starts
//! ([`take_over`]) and what a leaving owner leaves behind ([`hand_over`]); plus the move to the
//! broker's range when it calls an offset illegal ([`reposition`]).

use std::sync::Arc;

use crate::consumer::backend::ConsumerBackend;
use crate::consumer::offset_store::OffsetStore;
use crate::consumer::ConsumeFromWhere;
use crate::error::Result;
use crate::message::PullResult;
use crate::message_queue::MessageQueue;
use crate::util::namespace::is_retry_topic;

use super::{ConsumerCore, OwnedQueue, ProcessQueue};

impl<X: Clone + Send + 'static> ConsumerCore<X> {
    /// Takes over `mq`: when `lock` (orderly clustering) the broker lock first, then the start
    /// offset from [`compute_start_offset`], written to the store as the queue's consume
    /// position; then the queue is recorded as owned with a fresh process queue (locked if
    /// `lock`) and the consumer's part `ext` makes from the start offset. Returns the start
    /// offset and a copy of the entry, for the consumer to start the queue's pull loop with.
    ///
    /// `Ok(None)`: another client holds the lock, or the queue is owned already, or the consumer
    /// is stopping. Errors (lock or offset query failed) leave nothing behind: the caller
    /// retries at the next rebalance.
    pub(crate) async fn take_over(
        &self,
        mq: &MessageQueue,
        from: ConsumeFromWhere,
        lock: bool,
        by_rebalance: bool,
        ext: impl FnOnce(i64) -> X,
    ) -> Result<Option<(i64, OwnedQueue<X>)>> {
        let pq = Arc::new(ProcessQueue::new(self.rt.clock()));
        if lock {
            let locked = self
                .backend
                .lock_batch(&mq.broker_name, &self.group, vec![mq.clone()])
                .await?;
            if !locked.contains(mq) {
                tracing::info!(group = %self.group, %mq, "queue is locked by another client; skipped until the next rebalance");
                return Ok(None);
            }
            pq.set_locked(true);
        }
        // A position left from an earlier ownership is stale: the last owner committed since.
        self.store.remove(mq);
        let offset = compute_start_offset(&self.store, &*self.backend, mq, from).await?;
        self.store.update(mq, offset, false);
        let entry = OwnedQueue::new(pq, by_rebalance, ext(offset));
        let copy = entry.clone();
        Ok(self.adopt(mq, entry).then_some((offset, copy)))
    }
}

impl<X> ConsumerCore<X> {
    /// Gives up `mq` once its final position is in the store: commits it synchronously (the
    /// next owner reads it), forgets it, and when `unlock` (orderly clustering) releases the
    /// broker lock. A failed commit is logged; the next owner then starts at the last commit
    /// that did arrive.
    pub(crate) async fn hand_over(&self, mq: &MessageQueue, unlock: bool) {
        if let Err(e) = self
            .store
            .persist_all(std::slice::from_ref(mq), false)
            .await
        {
            tracing::warn!(group = %self.group, %mq, error = %e, "offset commit of a released queue failed");
        }
        self.store.remove(mq);
        if unlock {
            let _ = self
                .backend
                .unlock_batch(&mq.broker_name, &self.group, vec![mq.clone()], true)
                .await;
        }
    }

    /// The broker answered OFFSET_ILLEGAL for a pull at `requested`: moves the queue's consume
    /// position into the broker's range and commits it at once. Returns the offset to pull
    /// from next.
    pub(crate) async fn reposition(
        &self,
        mq: &MessageQueue,
        requested: i64,
        r: &PullResult,
    ) -> i64 {
        let nbo = r.next_begin_offset;
        let corrected = if r.min_offset <= r.max_offset {
            nbo.clamp(r.min_offset, r.max_offset)
        } else {
            nbo
        };
        if corrected < requested {
            tracing::error!(%mq, requested, corrected, min = r.min_offset, max = r.max_offset,
                "broker reports the offset out of range; REWINDING the queue (messages may be consumed again)");
        } else {
            tracing::warn!(%mq, requested, corrected, min = r.min_offset, max = r.max_offset,
                "broker reports the offset out of range; skipping ahead (messages below the queue's min offset are gone)");
        }
        self.store.update(mq, corrected, false);
        if let Err(e) = self
            .store
            .persist_all(std::slice::from_ref(mq), false)
            .await
        {
            tracing::warn!(%mq, error = %e, "persisting the corrected offset failed");
        }
        corrected
    }
}

/// Where a newly owned queue starts (Java `computePullFromWhereWithException`): the stored
/// offset if any; otherwise the [`ConsumeFromWhere`] rule (documented there). The group's retry
/// topic starts at 0. A failed query is an error (retried at the next rebalance), never a
/// reset.
pub(crate) async fn compute_start_offset(
    store: &OffsetStore,
    backend: &dyn ConsumerBackend,
    mq: &MessageQueue,
    from: ConsumeFromWhere,
) -> Result<i64> {
    if let Some(off) = store.read_store(mq).await? {
        if off >= 0 {
            return Ok(off);
        }
    }
    if is_retry_topic(&mq.topic) {
        return Ok(0);
    }
    let off = match from {
        ConsumeFromWhere::LastOffset => backend.max_offset(mq).await?,
        ConsumeFromWhere::FirstOffset => 0,
        ConsumeFromWhere::Timestamp(ts) => backend.search_offset(mq, ts).await?,
    };
    tracing::info!(%mq, offset = off, ?from, "no committed offset; starting by consume-from-where");
    Ok(off)
}
