//! Offsets kept on the broker (clustering mode; Java `RemoteBrokerOffsetStore`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rocketmq_rs_remoting::util::MutexExt;

use crate::consumer::backend::ConsumerBackend;
use crate::error::Result;
use crate::message_queue::MessageQueue;

/// Periodic persists ([`RemoteOffsetStore::persist_changed`]) an unchanged offset is skipped
/// before it is sent again anyway (about a minute at the default 5 s interval): the broker may
/// have lost it (a restart before its own flush) while no pull carried it there, e.g. a
/// suspended consumer.
const REFRESH_ROUNDS: u32 = 12;

/// Offset commits a persist keeps under way at once.
const COMMITS_IN_FLIGHT: usize = 32;

/// An in-memory table of "next offset to consume" per queue, committed to the broker with
/// UPDATE_CONSUMER_OFFSET.
///
/// Consumption only moves an offset forwards (`increase_only`); only explicit seeks and broker
/// corrections move it backwards. A failed broker query never changes the table.
pub(crate) struct RemoteOffsetStore {
    group: String,
    backend: Arc<dyn ConsumerBackend>,
    table: Mutex<HashMap<MessageQueue, Slot>>,
    /// Held by a persist from its snapshot to its last answer. Two persists that overlapped
    /// (the periodic one, oneway, and an application's `commit_sync`) could put one queue's
    /// older offset on the wire after its newer one: Apache 5.5.0 then kept the older
    /// (apache_pull's lite_subscribe saw a queue back at 0 once in CI).
    persisting: futures::lock::Mutex<()>,
}

/// One queue's offset and what the broker was last told of it.
struct Slot {
    offset: i64,
    /// The offset last sent to (or read from) the broker; `None` before that.
    committed: Option<i64>,
    /// Periodic persists that skipped this queue since `committed` was last sent.
    skipped: u32,
}

impl RemoteOffsetStore {
    pub(crate) fn new(group: impl Into<String>, backend: Arc<dyn ConsumerBackend>) -> Self {
        RemoteOffsetStore {
            group: group.into(),
            backend,
            table: Mutex::new(HashMap::new()),
            persisting: futures::lock::Mutex::new(()),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<MessageQueue, Slot>> {
        self.table.lock_unpoisoned()
    }

    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        let mut t = self.table();
        match t.get_mut(mq) {
            Some(cur) if increase_only => cur.offset = cur.offset.max(offset),
            Some(cur) => cur.offset = offset,
            None => {
                t.insert(
                    mq.clone(),
                    Slot {
                        offset,
                        committed: None,
                        skipped: 0,
                    },
                );
            }
        }
    }

    pub(crate) fn read_memory(&self, mq: &MessageQueue) -> Option<i64> {
        self.table().get(mq).map(|s| s.offset)
    }

    /// Asks the broker. `Ok(None)`: the broker has no offset for this group and queue.
    /// `Err`: the request failed; the in-memory table is untouched.
    pub(crate) async fn read_store(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        let got = self.backend.query_offset(&self.group, mq).await?;
        if let Some(off) = got {
            self.update(mq, off, false);
            // A 0 may be the broker's "nothing stored, start at 0" answer (Apache 4.9 gives it
            // for an empty queue, mini-broker while the queue was never truncated), which stores
            // nothing: sent once, the group's offset exists on the broker, as with Java's
            // persist, and admin tools list the queue (consumerProgress).
            if off > 0 {
                self.mark_committed(mq, off);
            }
        }
        Ok(got)
    }

    /// Records that the broker holds `offset` for `mq`.
    fn mark_committed(&self, mq: &MessageQueue, offset: i64) {
        if let Some(s) = self.table().get_mut(mq) {
            s.committed = Some(offset);
            s.skipped = 0;
        }
    }

    /// Commits the in-memory offset of each of `mqs` (those without one are skipped). Returns
    /// the first error after trying them all.
    pub(crate) async fn persist_all(&self, mqs: &[MessageQueue], oneway: bool) -> Result<()> {
        let _one_at_a_time = self.persisting.lock().await;
        let todo: Vec<(MessageQueue, i64)> = {
            let t = self.table();
            mqs.iter()
                .filter_map(|mq| t.get(mq).map(|s| (mq.clone(), s.offset)))
                .collect()
        };
        self.send(todo, oneway).await
    }

    /// The periodic persist: like [`persist_all`](Self::persist_all) (oneway), but skips the
    /// queues whose offset the broker was already sent, unless that was [`REFRESH_ROUNDS`]
    /// calls ago. Java re-sends every queue's offset every time; an idle consumer holding many
    /// queues then sends thousands of identical commits a second, which only repeat what its
    /// pulls already carry (their commit-offset flag).
    pub(crate) async fn persist_changed(&self, mqs: &[MessageQueue]) -> Result<()> {
        let _one_at_a_time = self.persisting.lock().await;
        let todo: Vec<(MessageQueue, i64)> = {
            let mut t = self.table();
            mqs.iter()
                .filter_map(|mq| {
                    let s = t.get_mut(mq)?;
                    if s.committed == Some(s.offset) && s.skipped + 1 < REFRESH_ROUNDS {
                        s.skipped += 1;
                        return None;
                    }
                    Some((mq.clone(), s.offset))
                })
                .collect()
        };
        self.send(todo, true).await
    }

    /// Sends the commits, up to [`COMMITS_IN_FLIGHT`] at a time: one after another, a consumer
    /// shutting down with thousands of queues waited a round trip each (and on a broker that
    /// answers only once the offset is on disk, one table write each; sent together, one
    /// write covers many).
    async fn send(&self, todo: Vec<(MessageQueue, i64)>, oneway: bool) -> Result<()> {
        use futures::stream::{self, StreamExt};
        let backend = &self.backend;
        let group = self.group.as_str();
        let mut results = stream::iter(todo)
            .map(|(mq, off)| async move {
                let r = backend.update_offset(group, &mq, off, oneway).await;
                (mq, off, r)
            })
            .buffer_unordered(COMMITS_IN_FLIGHT);
        let mut first_err = None;
        while let Some((mq, off, r)) = results.next().await {
            match r {
                Ok(()) => {
                    self.mark_committed(&mq, off);
                    tracing::debug!(group = %self.group, %mq, offset = off, "offset committed")
                }
                Err(e) => {
                    tracing::warn!(group = %self.group, %mq, offset = off, error = %e, "offset commit failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub(crate) fn remove(&self, mq: &MessageQueue) {
        self.table().remove(mq);
    }

    pub(crate) fn snapshot(&self) -> HashMap<MessageQueue, i64> {
        self.table()
            .iter()
            .map(|(mq, s)| (mq.clone(), s.offset))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::consumer::fake_backend::{tokio_rt, Fake};

    fn sent(fake: &Fake) -> usize {
        fake.offset_updates.swap(0, Ordering::Relaxed)
    }

    /// The periodic persist sends an offset once, then only when it moved or every
    /// REFRESH_ROUNDS calls; the explicit persist always sends.
    #[test]
    fn periodic_persist_skips_offsets_the_broker_has() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(2, 0, |_| "A");
            let store = RemoteOffsetStore::new("g", fake.clone());
            let (q0, q1) = (
                MessageQueue::new("T", "b", 0),
                MessageQueue::new("T", "b", 1),
            );
            let mqs = [q0.clone(), q1.clone()];
            store.update(&q0, 5, true);
            store.update(&q1, 7, true);
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 2, "new offsets go out");
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 0, "nothing moved, nothing sent");
            store.update(&q0, 6, true);
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 1, "only the queue that moved");
            assert_eq!(fake.committed(0), Some(6));
            // A seek backwards is a change too.
            store.update(&q1, 3, false);
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 1);
            assert_eq!(fake.committed(1), Some(3));
            store.persist_all(&mqs, false).await.unwrap();
            assert_eq!(sent(&fake), 2, "an explicit persist sends everything");
            // Unchanged offsets are re-sent after REFRESH_ROUNDS periodic calls.
            for _ in 1..REFRESH_ROUNDS {
                store.persist_changed(&mqs).await.unwrap();
                assert_eq!(sent(&fake), 0);
            }
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 2, "the refresh");
            store.persist_changed(&mqs).await.unwrap();
            assert_eq!(sent(&fake), 0);
        });
    }

    /// A persist of many queues keeps several commits under way at once, and each queue's
    /// offset arrives.
    #[test]
    fn persist_sends_commits_together() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(0, 0, |_| "A");
            let store = RemoteOffsetStore::new("g", fake.clone());
            let mqs: Vec<MessageQueue> = (0..100).map(|q| MessageQueue::new("T", "b", q)).collect();
            for (i, mq) in mqs.iter().enumerate() {
                store.update(mq, i as i64 + 1, true);
            }
            store.persist_all(&mqs, false).await.unwrap();
            assert_eq!(sent(&fake), 100);
            assert_eq!(
                fake.offset_updates_max_in_flight.load(Ordering::Relaxed),
                COMMITS_IN_FLIGHT
            );
            for (i, mq) in mqs.iter().enumerate() {
                assert_eq!(fake.offsets.lock().unwrap().get(mq), Some(&(i as i64 + 1)));
            }
        });
    }

    /// An offset read from the broker is not sent back to it; one the broker lacks, or a 0 it
    /// may only have defaulted to, is.
    #[test]
    fn an_offset_read_from_the_broker_counts_as_committed() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(2, 0, |_| "A");
            let (q0, q1) = (
                MessageQueue::new("T", "b", 0),
                MessageQueue::new("T", "b", 1),
            );
            let q2 = MessageQueue::new("T", "b", 2);
            fake.offsets.lock().unwrap().insert(q0.clone(), 42);
            fake.offsets.lock().unwrap().insert(q2.clone(), 0);
            let store = RemoteOffsetStore::new("g", fake.clone());
            assert_eq!(store.read_store(&q0).await.unwrap(), Some(42));
            assert_eq!(store.read_store(&q1).await.unwrap(), None);
            // A 0 read back may be the broker's default for a queue it stores nothing for.
            assert_eq!(store.read_store(&q2).await.unwrap(), Some(0));
            store.update(&q1, 0, false);
            let all = [q0.clone(), q1.clone(), q2.clone()];
            store.persist_changed(&all).await.unwrap();
            assert_eq!(sent(&fake), 2, "q1 (never stored) and q2 (a 0 read back)");
            assert_eq!(fake.committed(1), Some(0));
            store.update(&q0, 43, true);
            store.persist_changed(&all).await.unwrap();
            assert_eq!(sent(&fake), 1);
            assert_eq!(fake.committed(0), Some(43));
        });
    }
}
