//! Offsets kept on the broker (clustering mode; Java `RemoteBrokerOffsetStore`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rocketmq_rs_remoting::util::MutexExt;

use crate::consumer::backend::ConsumerBackend;
use crate::error::Result;
use crate::message_queue::MessageQueue;

/// An in-memory table of "next offset to consume" per queue, committed to the broker with
/// UPDATE_CONSUMER_OFFSET.
///
/// Consumption only moves an offset forwards (`increase_only`); only explicit seeks and broker
/// corrections move it backwards. A failed broker query never changes the table.
pub(crate) struct RemoteOffsetStore {
    group: String,
    backend: Arc<dyn ConsumerBackend>,
    table: Mutex<HashMap<MessageQueue, i64>>,
}

impl RemoteOffsetStore {
    pub(crate) fn new(group: impl Into<String>, backend: Arc<dyn ConsumerBackend>) -> Self {
        RemoteOffsetStore {
            group: group.into(),
            backend,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<MessageQueue, i64>> {
        self.table.lock_unpoisoned()
    }

    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        let mut t = self.table();
        match t.get_mut(mq) {
            Some(cur) if increase_only => *cur = (*cur).max(offset),
            Some(cur) => *cur = offset,
            None => {
                t.insert(mq.clone(), offset);
            }
        }
    }

    pub(crate) fn read_memory(&self, mq: &MessageQueue) -> Option<i64> {
        self.table().get(mq).copied()
    }

    /// Asks the broker. `Ok(None)`: the broker has no offset for this group and queue.
    /// `Err`: the request failed; the in-memory table is untouched.
    pub(crate) async fn read_store(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        let got = self.backend.query_offset(&self.group, mq).await?;
        if let Some(off) = got {
            self.update(mq, off, false);
        }
        Ok(got)
    }

    /// Commits the in-memory offset of each of `mqs` (those without one are skipped). Returns
    /// the first error after trying them all.
    pub(crate) async fn persist_all(&self, mqs: &[MessageQueue], oneway: bool) -> Result<()> {
        let todo: Vec<(MessageQueue, i64)> = {
            let t = self.table();
            mqs.iter()
                .filter_map(|mq| t.get(mq).map(|o| (mq.clone(), *o)))
                .collect()
        };
        let mut first_err = None;
        for (mq, off) in todo {
            match self
                .backend
                .update_offset(&self.group, &mq, off, oneway)
                .await
            {
                Ok(()) => {
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
        self.table().clone()
    }
}
