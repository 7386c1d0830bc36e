//! Rebalancing: how a consumer group splits the queues of its topics among its members
//! (Java `RebalanceImpl`). Applying the result (handing queues over and taking them) is the
//! consumer core's part (`consumer/core/apply.rs`), shared by the push and lite pull consumers.

pub mod strategy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::util::MutexExt;

use crate::consumer::backend::ConsumerBackend;
use crate::consumer::MessageModel;
use crate::error::Result;
use crate::message_queue::MessageQueue;

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
    /// A rebalancer for `group` (with namespace) that has seen no membership yet.
    pub(crate) fn new(
        group: String,
        model: MessageModel,
        strategy: Arc<dyn AllocateStrategy>,
        backend: Arc<dyn ConsumerBackend>,
    ) -> Self {
        Rebalancer {
            group,
            model,
            strategy,
            backend,
            last_members: Mutex::default(),
        }
    }

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
