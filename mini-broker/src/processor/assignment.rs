//! Server-side load balancing and the per group+topic consume mode: QUERY_ASSIGNMENT (400),
//! SET_MESSAGE_REQUEST_MODE (401), GET_ALL_MESSAGE_REQUEST_MODE (402) (docs/protocol/pop.md §10).
//!
//! A push consumer that lets the broker decide (Java `setClientRebalance(false)`) asks
//! QUERY_ASSIGNMENT per topic each rebalance; the answer's mode switches it between pulling
//! its share of queues and POP. The queues are this broker's own queues of the topic (Apache
//! takes them from the NameServer route, which for one broker is the same set).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{
    JsonBody, MessageModel, MessageQueue, MessageQueueAssignment, MessageRequestMode,
    QueryAssignmentRequestBody, QueryAssignmentResponseBody, SetMessageRequestModeRequestBody,
};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::topic::is_retry_topic;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};

use super::{reply, success, Wiring};
use crate::client_manager::ClientManager;
use crate::request_mode::MessageRequestModeManager;
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::{TopicTable, PERM_READ};

/// QUERY_ASSIGNMENT and the consume-mode table.
pub(crate) struct AssignmentProcessor {
    broker_name: String,
    default_mode: MessageRequestMode,
    default_share: i32,
    balance: bool,
    rt: Arc<dyn Runtime>,
    topics: TopicTable,
    groups: SubscriptionGroups,
    clients: Arc<ClientManager>,
    modes: Arc<MessageRequestModeManager>,
}

impl AssignmentProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        AssignmentProcessor {
            broker_name: w.cfg.broker_name.clone(),
            default_mode: w.cfg.default_message_request_mode,
            default_share: w.cfg.default_pop_share_queue_num,
            balance: w.cfg.server_load_balancer_enable,
            rt: Arc::clone(w.rt),
            topics: w.topics.clone(),
            groups: w.groups.clone(),
            clients: Arc::clone(w.clients),
            modes: Arc::clone(w.request_modes),
        }
    }

    /// QUERY_ASSIGNMENT: the caller's queues of the topic and the mode to consume them in.
    /// A body without assignments (JSON `{}`) tells the client to keep what it has: unknown
    /// topic, no live member, unknown strategy (as Apache).
    pub(crate) fn query_assignment(&self, req: &RemotingCommand) -> RemotingCommand {
        let q = match QueryAssignmentRequestBody::from_json(&req.body) {
            Ok(q) => q,
            Err(e) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad QueryAssignmentRequestBody: {e}"),
                )
            }
        };
        let mode = self
            .modes
            .get(&q.topic, &q.consumer_group)
            .unwrap_or_else(|| {
                let mut m = SetMessageRequestModeRequestBody {
                    topic: q.topic.clone(),
                    consumer_group: q.consumer_group.clone(),
                    ..Default::default()
                };
                // A retry topic is always pulled.
                if !is_retry_topic(&q.topic) {
                    m.mode = self.default_mode;
                }
                if m.mode == MessageRequestMode::Pop {
                    m.pop_share_queue_num = self.default_share;
                }
                m
            });
        let assignments = self.assign(&q, &mode).map(|queues| {
            queues
                .into_iter()
                .map(|mq| MessageQueueAssignment {
                    message_queue: Some(mq),
                    mode: mode.mode,
                    attachments: None,
                })
                .collect()
        });
        let body = QueryAssignmentResponseBody {
            message_queue_assignments: assignments,
        };
        success().with_body(body.to_json())
    }

    /// Apache `doLoadBalance`: `None` = no valid answer.
    fn assign(
        &self,
        q: &QueryAssignmentRequestBody,
        mode: &SetMessageRequestModeRequestBody,
    ) -> Option<Vec<MessageQueue>> {
        let cfg = self.topics.get(&q.topic)?;
        if cfg.perm & PERM_READ == 0 {
            return None;
        }
        let mut mq_all: Vec<MessageQueue> = (0..cfg.read_queue_nums)
            .map(|i| MessageQueue::new(q.topic.clone(), self.broker_name.clone(), i))
            .collect();
        if q.message_model == MessageModel::Broadcasting || !self.balance {
            return Some(mq_all);
        }
        let cid_all = self.clients.consumer_ids(&q.consumer_group);
        if cid_all.is_empty() || mq_all.is_empty() {
            return None;
        }
        mq_all.sort();
        let strategy = Strategy::by_name(&q.strategy_name)?;
        if mode.mode == MessageRequestMode::Pop {
            Some(allocate_for_pop(
                strategy,
                &q.client_id,
                &mq_all,
                &cid_all,
                mode.pop_share_queue_num,
            ))
        } else {
            Some(strategy.allocate(&q.client_id, &mq_all, &cid_all))
        }
    }

    /// SET_MESSAGE_REQUEST_MODE: records and persists the group's mode for a topic.
    pub(crate) async fn set_mode(&self, req: &RemotingCommand) -> RemotingCommand {
        let body = match SetMessageRequestModeRequestBody::from_json(&req.body) {
            Ok(b) => b,
            Err(e) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad SetMessageRequestModeRequestBody: {e}"),
                )
            }
        };
        if is_retry_topic(&body.topic) {
            return reply(
                ResponseCode::NO_PERMISSION,
                "retry topic is not allowed to set mode",
            );
        }
        if self.topics.get(&body.topic).is_none() {
            return reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist", body.topic),
            );
        }
        if self.groups.find(&body.consumer_group).await.is_none() {
            return reply(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                "subscription group does not exist",
            );
        }
        tracing::info!(topic = %body.topic, group = %body.consumer_group, mode = ?body.mode, share = body.pop_share_queue_num, "consume mode set");
        self.modes.set(body);
        let modes = Arc::clone(&self.modes);
        match rt::run_blocking(&*self.rt, move || modes.persist()).await {
            Ok(()) => success(),
            Err(e) => reply(
                ResponseCode::SYSTEM_ERROR,
                format!("cannot persist the consume mode: {e}"),
            ),
        }
    }

    /// GET_ALL_MESSAGE_REQUEST_MODE: the whole table.
    pub(crate) fn all_modes(&self) -> RemotingCommand {
        success().with_body(self.modes.wrapper().to_json())
    }
}

/// The allocation strategies Apache's broker knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// `AVG`: consecutive blocks.
    Averagely,
    /// `AVG_BY_CIRCLE`: every n-th queue.
    ByCircle,
}

impl Strategy {
    fn by_name(name: &str) -> Option<Self> {
        match name {
            "AVG" => Some(Strategy::Averagely),
            "AVG_BY_CIRCLE" => Some(Strategy::ByCircle),
            _ => None,
        }
    }

    /// `client`'s share of the sorted `mq_all` among the sorted `cid_all` (empty when the
    /// client is not a member).
    fn allocate(
        self,
        client: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(index) = cid_all.iter().position(|c| c == client) else {
            return Vec::new();
        };
        let (n, m) = (mq_all.len(), cid_all.len());
        match self {
            Strategy::Averagely => {
                let rem = n % m;
                let size = if n <= m {
                    1
                } else if rem > 0 && index < rem {
                    n / m + 1
                } else {
                    n / m
                };
                let start = if rem > 0 && index < rem {
                    index * size
                } else {
                    index * size + rem
                };
                let range = size.min(n.saturating_sub(start));
                (0..range)
                    .map(|i| mq_all[(start + i) % n].clone())
                    .collect()
            }
            Strategy::ByCircle => (index..n).step_by(m).map(|i| mq_all[i].clone()).collect(),
        }
    }
}

/// Apache `allocate4Pop`: with `share <= 0` or at least the group size minus one, every
/// consumer pops the whole topic on each broker (queue id -1); otherwise each consumer pops
/// its own share plus the shares of the `share` consumers after it, and when the consumers
/// outnumber the queues each gets one queue, round robin, so none is left idle.
fn allocate_for_pop(
    strategy: Strategy,
    client: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
    share: i32,
) -> Vec<MessageQueue> {
    let m = cid_all.len();
    if share <= 0 || share as usize >= m.saturating_sub(1) {
        let mut out: Vec<MessageQueue> = mq_all
            .iter()
            .map(|q| MessageQueue::new(q.topic.clone(), q.broker_name.clone(), -1))
            .collect();
        out.dedup();
        return out;
    }
    let Some(index) = cid_all.iter().position(|c| c == client) else {
        return Vec::new();
    };
    if m <= mq_all.len() {
        let mut out = strategy.allocate(client, mq_all, cid_all);
        for i in 1..=share as usize {
            out.extend(strategy.allocate(&cid_all[(index + i) % m], mq_all, cid_all));
        }
        out
    } else {
        vec![mq_all[index % mq_all.len()].clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    fn cids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn strategies_match_apache() {
        let (q, c) = (mqs(5), cids(2));
        let ids = |v: Vec<MessageQueue>| v.into_iter().map(|q| q.queue_id).collect::<Vec<_>>();
        assert_eq!(ids(Strategy::Averagely.allocate("c0", &q, &c)), [0, 1, 2]);
        assert_eq!(ids(Strategy::Averagely.allocate("c1", &q, &c)), [3, 4]);
        assert_eq!(ids(Strategy::ByCircle.allocate("c1", &q, &c)), [1, 3]);
        assert!(Strategy::Averagely.allocate("x", &q, &c).is_empty());
        // More consumers than queues: the extra ones get nothing.
        assert!(Strategy::Averagely
            .allocate("c2", &mqs(2), &cids(3))
            .is_empty());
    }

    #[test]
    fn pop_allocation() {
        let ids = |v: Vec<MessageQueue>| v.into_iter().map(|q| q.queue_id).collect::<Vec<_>>();
        // Default share (-1): the whole topic, queue id -1, for everyone.
        assert_eq!(
            ids(allocate_for_pop(
                Strategy::Averagely,
                "c1",
                &mqs(4),
                &cids(6),
                -1
            )),
            [-1]
        );
        // Share 1 of 4 consumers over 4 queues: own queue plus the next consumer's.
        assert_eq!(
            ids(allocate_for_pop(
                Strategy::Averagely,
                "c3",
                &mqs(4),
                &cids(4),
                1
            )),
            [3, 0]
        );
        // Six consumers, two queues, share 1: each gets one queue, round robin.
        assert_eq!(
            ids(allocate_for_pop(
                Strategy::Averagely,
                "c5",
                &mqs(2),
                &cids(6),
                1
            )),
            [1]
        );
    }
}
