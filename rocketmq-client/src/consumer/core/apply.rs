//! Applying rebalance results (Java `RebalanceImpl.updateProcessQueueTableInRebalance`, Go
//! `defaultConsumer.updateProcessQueueTable`), the same for every [`QueueOwner`].

use std::collections::{HashMap, HashSet};
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
            core.kicks_served(&mut kicks);
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
    // One pass over the owned queues per round, not one per topic: with thousands of topics
    // and queues a per-topic scan made each round cost topics × queues.
    let mut owned_by_topic: HashMap<String, Vec<MessageQueue>> = HashMap::new();
    for mq in core.rebalanced_queues() {
        match owned_by_topic.get_mut(mq.topic.as_str()) {
            Some(v) => v.push(mq),
            None => {
                owned_by_topic.insert(mq.topic.clone(), vec![mq]);
            }
        }
    }
    let mut additions = Vec::new();
    let mut moving = false;
    for topic in core.topics() {
        if core.is_stopping() {
            return;
        }
        // Queues of this topic are only taken after the loop, and one released meanwhile by
        // other means makes `release` a no-op: the snapshot stays good for the whole round.
        let owned = owned_by_topic.remove(&topic).unwrap_or_default();
        if core.is_pop(&topic) {
            // The broker hands the topic's messages out: no queue of it is owned.
            release_all(owner, &owned).await;
            continue;
        }
        match core.rebalancer.target(&topic).await {
            Ok(Target::Queues {
                queues,
                members_changed,
            }) => {
                let target: HashSet<MessageQueue> = queues.into_iter().collect();
                let leaving: Vec<MessageQueue> = owned
                    .into_iter()
                    .filter(|mq| !target.contains(mq))
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
        // The grace wait or an earlier take-over may have changed these.
        if core.owns(&mq) || !core.is_subscribed(&mq.topic) || core.is_pop(&mq.topic) {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use rocketmq_rs_remoting::rt::TokioRuntime;

    use super::*;
    use crate::config::ClientConfig;
    use crate::consumer::core::{ConsumerCore, CoreSettings, OwnedQueue};
    use crate::consumer::fake_backend::{tokio_rt, Fake};
    use crate::consumer::rebalance::strategy::AllocateAveragely;
    use crate::consumer::MessageModel;
    use crate::error::Result;

    /// An owner that only records what the rounds ask of it.
    struct Recorder {
        core: ConsumerCore<()>,
        log: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn own(&self, topic: &str, queue_id: i32, by_rebalance: bool) {
            let entry = OwnedQueue::new(Arc::default(), by_rebalance, ());
            self.core
                .queues()
                .insert(MessageQueue::new(topic, "b", queue_id), entry);
        }
        fn owned(&self) -> Vec<String> {
            let mut v: Vec<String> = self.core.queues().keys().map(name).collect();
            v.sort();
            v
        }
        fn log(&self) -> Vec<String> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    fn name(mq: &MessageQueue) -> String {
        format!("{}:{}", mq.topic, mq.queue_id)
    }

    impl QueueOwner for Recorder {
        type Ext = ();

        fn core(&self) -> &ConsumerCore<()> {
            &self.core
        }

        async fn take(self: &Arc<Self>, mq: &MessageQueue) -> Result<Option<i64>> {
            self.log.lock().unwrap().push(format!("take {}", name(mq)));
            self.own(&mq.topic, mq.queue_id, true);
            Ok(Some(0))
        }

        async fn release(self: &Arc<Self>, mq: &MessageQueue) {
            self.log
                .lock()
                .unwrap()
                .push(format!("release {}", name(mq)));
            self.core.queues().remove(mq);
        }

        async fn not_in_group(self: &Arc<Self>) {
            self.log.lock().unwrap().push("not in group".into());
        }
    }

    /// A clustering owner of topic `T` (three queues, all allocated to it while it is the
    /// group's only member).
    fn recorder(fake: &Arc<Fake>) -> Arc<Recorder> {
        *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
        let core = ConsumerCore::new(CoreSettings {
            client: &ClientConfig::with_name_server("127.0.0.1:9876"),
            backend: Some(fake.clone()),
            group: "g",
            model: MessageModel::Clustering,
            strategy: Arc::new(AllocateAveragely),
            local_offset_dir: None,
            subscriptions: vec![("T".into(), "*".into())],
            sub_version: 0,
            join_grace: Duration::ZERO,
        })
        .unwrap();
        Arc::new(Recorder {
            core,
            log: Mutex::default(),
        })
    }

    /// One round: queues of unsubscribed topics and queues allocated elsewhere are released
    /// (queues given by hand stay), newly allocated ones are taken in order, owned ones kept.
    #[test]
    fn a_round_applies_the_difference() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(3, 0, |_| "A");
            let r = recorder(&fake);
            r.own("X", 0, true);
            r.own("T", 1, true);
            r.own("T", 8, true);
            r.own("T", 9, false);
            round(&r).await;
            assert_eq!(
                r.log(),
                ["release X:0", "release T:8", "take T:0", "take T:2"]
            );
            assert_eq!(r.owned(), ["T:0", "T:1", "T:2", "T:9"]);
            round(&r).await;
            assert!(r.log().is_empty(), "nothing changed, nothing done");
        });
    }

    /// Not yet in the brokers' member list: the owner is told, and keeps what it owns.
    #[test]
    fn a_round_keeps_the_queues_while_not_in_the_group() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(3, 0, |_| "A");
            *fake.members.lock().unwrap() = Some(vec!["127.0.0.2@other".into()]);
            let r = recorder(&fake);
            r.own("T", 0, true);
            round(&r).await;
            assert_eq!(r.log(), ["not in group"]);
            assert_eq!(r.owned(), ["T:0"]);
        });
    }

    /// Kicks coalesce: a thousand before a round starts queue one round, and a kick after
    /// the round started queues the next.
    #[test]
    fn kicks_coalesce_into_one_round() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(3, 0, |_| "A");
            let r = recorder(&fake);
            let mut kicks = r.core.take_kicks().unwrap();
            let queued = |k: &mut futures::channel::mpsc::Receiver<()>| {
                std::iter::from_fn(|| k.try_recv().ok()).count()
            };
            for _ in 0..1000 {
                r.core.kick();
            }
            assert_eq!(queued(&mut kicks), 1);
            r.core.kick();
            assert_eq!(
                queued(&mut kicks),
                0,
                "still pending: its round has not started"
            );
            r.core.kicks_served(&mut kicks);
            r.core.kick();
            r.core.kick();
            assert_eq!(queued(&mut kicks), 1);
        });
    }

    /// Once the services stop (shutdown), a round takes nothing.
    #[test]
    fn a_round_after_shutdown_takes_nothing() {
        tokio_rt().block_on(async {
            let fake = Fake::with_queues(3, 0, |_| "A");
            let r = recorder(&fake);
            r.core.services.shutdown(Duration::from_millis(10)).await;
            round(&r).await;
            assert!(r.log().is_empty());
            assert!(r.owned().is_empty());
        });
    }
}
