//! Rebalancing: how a consumer group splits the queues of its topics among its members
//! (Java `RebalanceImpl`), and where a newly assigned queue starts.

pub mod strategy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocketmq_remoting::util::MutexExt;

use crate::consumer::backend::ConsumerBackend;
use crate::consumer::offset_store::OffsetStore;
use crate::consumer::{ConsumeFromWhere, MessageModel};
use crate::error::Result;
use crate::message_queue::MessageQueue;
use crate::util::namespace::is_retry_topic;

use self::strategy::{sort_for_allocation, AllocateStrategy};

/// Computes the queues this client should own, per topic.
pub(crate) struct Rebalancer {
    pub(crate) group: String,
    pub(crate) model: MessageModel,
    pub(crate) strategy: Arc<dyn AllocateStrategy>,
    pub(crate) backend: Arc<dyn ConsumerBackend>,
    /// Topic → the member list seen by the previous rebalance (clustering).
    pub(crate) last_members: Mutex<HashMap<String, Vec<String>>>,
}

/// The outcome of computing one topic's share.
#[derive(Debug)]
pub(crate) enum Target {
    /// Own exactly these queues.
    Queues {
        queues: Vec<MessageQueue>,
        /// Clustering: the group's membership differs from the previous rebalance (for the
        /// first one: other members exist), so queues may be moving between members.
        members_changed: bool,
    },
    /// Keep what is owned now (the inputs were not trustworthy, e.g. this client is not yet in
    /// the broker's member list); the next rebalance tries again.
    Keep,
}

impl Rebalancer {
    /// The queues of `topic` this client should consume: all readable queues when
    /// broadcasting, the strategy's share when clustering.
    pub(crate) async fn target(&self, topic: &str) -> Result<Target> {
        let mut mq_all = self.backend.subscribe_queues(topic).await?;
        if self.model == MessageModel::Broadcasting {
            mq_all.sort();
            return Ok(Target::Queues {
                queues: mq_all,
                members_changed: false,
            });
        }
        let mut cid_all = self.backend.consumer_ids(topic, &self.group).await?;
        let me = self.backend.client_id();
        if !cid_all.contains(&me) {
            // Java allocates nothing here and drops every queue; until our heartbeat reached the
            // broker that only causes churn, so keep the current share instead.
            tracing::info!(group = %self.group, topic, client = %me, "client not yet in the group's member list; keeping current queues");
            return Ok(Target::Keep);
        }
        sort_for_allocation(&mut mq_all, &mut cid_all);
        let members_changed = {
            let mut last = self.last_members.lock_unpoisoned();
            let changed = match last.get(topic) {
                Some(prev) => *prev != cid_all,
                None => cid_all.len() > 1,
            };
            last.insert(topic.to_owned(), cid_all.clone());
            changed
        };
        let mine = self.strategy.allocate(&self.group, &me, &mq_all, &cid_all);
        tracing::debug!(group = %self.group, topic, consumers = cid_all.len(), queues = mq_all.len(), mine = mine.len(), "allocated");
        Ok(Target::Queues {
            queues: mine,
            members_changed,
        })
    }
}

/// Where a newly assigned queue starts (Java `computePullFromWhereWithException`): the stored
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
