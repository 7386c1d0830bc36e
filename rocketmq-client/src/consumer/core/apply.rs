//! Applying rebalance results (Java `RebalanceImpl.updateProcessQueueTableInRebalance`, Go
//! `defaultConsumer.updateProcessQueueTable`), the same for every [`QueueOwner`].

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::{join_all, select, Either};
use futures::StreamExt;

use crate::consumer::rebalance::Target;
use crate::message_queue::MessageQueue;

use super::{sleep_or, QueueOwner};

/// Starts the owner's rebalance loop among the core's services unless it runs already: a round
/// at once, then one per rebalance interval or [`kick`](super::ConsumerCore::kick), until the
/// services stop.
pub(crate) fn spawn_loop<O: QueueOwner>(owner: &Arc<O>) {
    let Some(mut kicks) = owner.core().take_kicks() else {
        return;
    };
    let me = Arc::clone(owner);
    owner.core().services.spawn(async move {
        let core = me.core();
        loop {
            round(&me).await;
            let wake = select(kicks.next(), core.rt.sleep(core.rebalance_interval));
            if let Either::Right(_) = select(wake, core.services.signal().wait()).await {
                return;
            }
        }
    });
}

/// One rebalance round over every subscribed topic. Queues no longer ours are handed over
/// first, in parallel (each hand-over may wait for running listeners). Queues newly ours are
/// taken only after the core's join grace when the group's membership just changed: their
/// previous owners, notified by the broker at the same moment, are then handing them over, and
/// reading the offsets before those final commits would re-deliver what the previous owners
/// consumed last.
pub(crate) async fn round<O: QueueOwner>(owner: &Arc<O>) {
    release_unsubscribed(owner).await;
    let core = owner.core();
    let group = &core.group;
    let mut additions = Vec::new();
    let mut moving = false;
    for topic in core.topics() {
        if core.is_stopping() {
            return;
        }
        match core.rebalancer.target(&topic).await {
            Ok(Target::Queues {
                queues,
                members_changed,
            }) => {
                let target: HashSet<MessageQueue> = queues.into_iter().collect();
                let leaving: Vec<MessageQueue> = core
                    .rebalanced_queues()
                    .into_iter()
                    .filter(|mq| mq.topic == topic && !target.contains(mq))
                    .collect();
                release_all(owner, &leaving).await;
                let before = additions.len();
                additions.extend(target.into_iter().filter(|mq| !core.owns(mq)));
                moving |= members_changed && additions.len() > before;
            }
            Ok(Target::Keep) => owner.not_in_group().await,
            Err(e) => {
                tracing::warn!(%group, topic, error = %e, "rebalance failed; will retry")
            }
        }
    }
    if additions.is_empty() {
        return;
    }
    let grace = core.join_grace;
    if moving && !grace.is_zero() {
        tracing::debug!(%group, queues = additions.len(), ?grace, "membership changed; waiting for the previous owners' hand-over");
        if !sleep_or(&*core.rt, grace, core.services.signal()).await {
            return;
        }
    }
    additions.sort();
    for mq in additions {
        if core.is_stopping() {
            return;
        }
        // The grace wait or an earlier take-over may have changed both.
        if core.owns(&mq) || !core.is_subscribed(&mq.topic) {
            continue;
        }
        match owner.take(&mq).await {
            Ok(Some(offset)) => tracing::info!(%group, %mq, offset, "queue assigned"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%group, %mq, error = %e, "cannot take the queue; retrying at the next rebalance")
            }
        }
    }
}

/// Hands over the rebalanced queues whose topic is no longer subscribed (Java
/// `truncateMessageQueueNotMyTopic`).
pub(crate) async fn release_unsubscribed<O: QueueOwner>(owner: &Arc<O>) {
    // Topics first, queues second: never both locks at once (the round takes them in the
    // other order).
    let core = owner.core();
    let subscribed: HashSet<String> = core.topics().into_iter().collect();
    let stale: Vec<MessageQueue> = core
        .rebalanced_queues()
        .into_iter()
        .filter(|mq| !subscribed.contains(&mq.topic))
        .collect();
    release_all(owner, &stale).await;
}

/// Hands over `mqs` in parallel.
async fn release_all<O: QueueOwner>(owner: &Arc<O>, mqs: &[MessageQueue]) {
    join_all(mqs.iter().map(|mq| owner.release(mq))).await;
}
