//! Request dispatch ([`BrokerProcessor`]): one handler per request code, Java's response codes
//! and remarks (docs/protocol/frame.md §12; docs/protocol/README.md §2).
//!
//! Each processor is a struct holding clones of the handles of the services it uses (the
//! store, the topic table, the consumer offsets, ...) and nothing else; [`BrokerProcessor`]
//! owns one of each and routes by request code in a single `match`. Nothing in a handler can
//! reach a service its processor was not given.
//!
//! Adding a processor (say, an admin-plane `SubscriptionGroupProcessor`):
//!
//! 1. In its own module, a struct with the handles it needs and a `new(w: &Wiring<'_>)` that
//!    clones them out of `Wiring`; its handlers are methods taking the request (and the
//!    [`Connection`] when they need the peer).
//! 2. A service the broker does not have yet (a subscription-group table, say) is built in
//!    `Services::open` in `broker.rs` from the store and the config (or later in
//!    `Broker::start` if it needs the bound address or the registrar's notifier, as the
//!    transaction service does), and lent to the processors through a new `Wiring` field.
//!    Nothing it is built from may need a processor: anything that calls back gets a narrow
//!    handle (like `TopicsChanged`) instead.
//! 3. A field of [`BrokerProcessor`], a line in `BrokerProcessor::new`, and its request
//!    codes in the `match` of `handle`.

mod admin;
mod assignment;
mod broker_config;
mod client_manage;
mod consumer_manage;
mod group;
mod inspect;
mod lock;
mod pop;
mod pull;
mod query;
mod relay;
mod send;

use std::net::SocketAddr;
use std::sync::Arc;

use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::CommandHeader;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TaskGroup};
use rocketmq_rs_remoting::transport::{Connection, RequestHandler, Response};

use crate::client_manager::ClientManager;
use crate::config::BrokerConfig;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::ha::SyncReplicas;
use crate::lock_manager::RebalanceLockManager;
use crate::long_poll::PullHoldService;
use crate::reply::ReplyProcessor;
use crate::schedule::ScheduleService;
use crate::stats::BrokerStats;
use crate::store::MessageStore;
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::TopicTable;
use crate::transaction::{EndTransactionProcessor, TransactionService};

/// Every service a processor may be given, lent to the processors' constructors only: each
/// processor clones the handles it uses and keeps nothing else. A new processor takes what it
/// needs from here (a new service is added here first).
pub(crate) struct Wiring<'a> {
    pub(crate) cfg: &'a BrokerConfig,
    /// Runs blocking file I/O off the executor; sleeps.
    pub(crate) rt: &'a Arc<dyn Runtime>,
    pub(crate) store: &'a MessageStore,
    pub(crate) topics: &'a TopicTable,
    pub(crate) offsets: &'a Arc<ConsumerOffsetManager>,
    pub(crate) clients: &'a Arc<ClientManager>,
    pub(crate) locks: &'a Arc<RebalanceLockManager>,
    pub(crate) holds: &'a Arc<PullHoldService>,
    /// Consumer-group settings.
    pub(crate) groups: &'a SubscriptionGroups,
    /// Put/get counters.
    pub(crate) stats: &'a Arc<BrokerStats>,
    pub(crate) schedule: &'a Arc<ScheduleService>,
    pub(crate) transactions: &'a Arc<TransactionService>,
    pub(crate) faults: &'a Arc<crate::faults::Faults>,
    pub(crate) replicas: &'a SyncReplicas,
    /// The broker's background tasks (held pulls run there).
    pub(crate) tasks: &'a TaskGroup,
    /// Address written into stored records and offset message ids.
    pub(crate) store_host: SocketAddr,
    /// POP checkpoints and orderly queues (crate::pop).
    pub(crate) pop_tables: &'a Arc<crate::pop::PopTables>,
    /// Parked POP / NOTIFICATION requests.
    pub(crate) pop_waiters: &'a Arc<crate::pop::PopWaiters>,
    /// Consume mode per group+topic (SET_MESSAGE_REQUEST_MODE).
    pub(crate) request_modes: &'a Arc<crate::request_mode::MessageRequestModeManager>,
}

/// The broker's [`RequestHandler`]: routes each request code to its processor. Each processor
/// holds only the services it uses.
pub struct BrokerProcessor {
    /// ACL 1.0 check run before any processing (`BrokerConfig::acl`).
    acl: Option<Arc<rocketmq_rs_remoting::acl::AclValidator>>,
    /// Slaves refuse writes ([`slave_refuses`]).
    master: bool,
    send: send::SendProcessor,
    reply: ReplyProcessor,
    end_transaction: EndTransactionProcessor,
    pull: Arc<pull::PullProcessor>,
    consumer: consumer_manage::ConsumerManageProcessor,
    client: client_manage::ClientManageProcessor,
    lock: lock::LockProcessor,
    admin: admin::AdminProcessor,
    query: query::QueryProcessor,
    relay: relay::RelayProcessor,
    group: group::GroupProcessor,
    inspect: inspect::InspectProcessor,
    pop: pop::PopProcessor,
    assignment: assignment::AssignmentProcessor,
    broker_config: broker_config::BrokerConfigProcessor,
    /// Test faults ([`crate::faults`]); inert unless switched on.
    faults: Arc<crate::faults::Faults>,
}

impl std::fmt::Debug for BrokerProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProcessor").finish_non_exhaustive()
    }
}

impl BrokerProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        BrokerProcessor {
            acl: None,
            master: w.cfg.broker_role.is_master(),
            send: send::SendProcessor::new(w),
            reply: ReplyProcessor::new(w),
            end_transaction: EndTransactionProcessor::new(w),
            pull: Arc::new(pull::PullProcessor::new(w)),
            consumer: consumer_manage::ConsumerManageProcessor::new(w),
            client: client_manage::ClientManageProcessor::new(w),
            lock: lock::LockProcessor::new(w),
            admin: admin::AdminProcessor::new(w),
            query: query::QueryProcessor::new(w),
            relay: relay::RelayProcessor::new(w),
            group: group::GroupProcessor::new(w),
            inspect: inspect::InspectProcessor::new(w),
            pop: pop::PopProcessor::new(w),
            assignment: assignment::AssignmentProcessor::new(w),
            broker_config: broker_config::BrokerConfigProcessor::new(w),
            faults: Arc::clone(w.faults),
        }
    }

    /// Checks every request against `acl` first (refusals answer `NO_PERMISSION`).
    pub(crate) fn with_acl(
        mut self,
        acl: Option<Arc<rocketmq_rs_remoting::acl::AclValidator>>,
    ) -> Self {
        self.acl = acl;
        self
    }
}

/// A response with `code` and `remark`.
pub(crate) fn reply(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(code, Some(remark.into()))
}

/// Java's FAQ suffix of some remarks.
pub(crate) fn send_faq() -> &'static str {
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
}

/// A SUCCESS response without remark.
pub(crate) fn success() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS, None)
}

/// Decodes a typed header or answers SYSTEM_ERROR as Java does for a bad custom header.
// The Err is the ready-made error response, built once per bad request and sent as is.
#[allow(clippy::result_large_err)]
pub(crate) fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, RemotingCommand> {
    req.decode_header::<H>()
        .map_err(|e| reply(ResponseCode::SYSTEM_ERROR, format!("{e}")))
}

/// A slave stores only what its master replicates: writes are refused as Java refuses them
/// (the store answers SERVICE_NOT_AVAILABLE for sends; END_TRANSACTION answers
/// SLAVE_NOT_AVAILABLE).
fn slave_refuses(code: i32) -> Option<RemotingCommand> {
    match code {
        RequestCode::SEND_MESSAGE
        | RequestCode::SEND_MESSAGE_V2
        | RequestCode::SEND_BATCH_MESSAGE
        | RequestCode::CONSUMER_SEND_MSG_BACK
        | RequestCode::SEND_REPLY_MESSAGE
        | RequestCode::SEND_REPLY_MESSAGE_V2
        // POP writes checkpoints and acks into the commit log, which on a slave is the
        // master's copy byte for byte.
        | RequestCode::POP_MESSAGE
        | RequestCode::ACK_MESSAGE
        | RequestCode::BATCH_ACK_MESSAGE
        | RequestCode::CHANGE_MESSAGE_INVISIBLETIME => Some(reply(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "service not available now. It may be caused by one of the following reasons: \
             the broker's disk is full, messages are put to the slave, message store has been \
             shut down, etc.",
        )),
        RequestCode::END_TRANSACTION => Some(reply(
            ResponseCode::SLAVE_NOT_AVAILABLE,
            "Can't commit or rollback message in slave broker",
        )),
        _ => None,
    }
}

impl RequestHandler for BrokerProcessor {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        self.respond(conn, req).await.map(Response::into_command)
    }

    async fn respond(&self, conn: &Connection, req: RemotingCommand) -> Option<Response> {
        if self.faults.is_active() {
            return match self.faults.verdict(&req).await {
                crate::faults::Verdict::Refuse(resp) => Some(resp.into()),
                crate::faults::Verdict::Process { delay, drop } => {
                    let resp = self.dispatch(conn, req).await;
                    if let Some(d) = delay {
                        self.faults.hold(d).await;
                    }
                    if drop {
                        None
                    } else {
                        resp
                    }
                }
            };
        }
        self.dispatch(conn, req).await
    }

    fn on_disconnected(&self, conn: &Connection) {
        self.client.connection_closed(conn);
    }
}

impl BrokerProcessor {
    async fn dispatch(&self, conn: &Connection, req: RemotingCommand) -> Option<Response> {
        if let Some(acl) = &self.acl {
            if let Err(denied) = acl.check(&req, conn.peer_addr().ip()) {
                tracing::debug!(code = req.code, peer = %conn.peer_addr(), remark = %denied, "ACL refused request");
                return Some(denied.to_response(&req).into());
            }
        }
        if !self.master {
            if let Some(refused) = slave_refuses(req.code) {
                return Some(refused.into());
            }
        }
        match req.code {
            // Sends answer with a typed header written straight into the frame.
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => Some(self.send.send_message(conn, &req).await),
            _ => self.dispatch_command(conn, req).await.map(Response::from),
        }
    }

    /// The requests answered with a command.
    async fn dispatch_command(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let resp = match req.code {
            RequestCode::CONSUMER_SEND_MSG_BACK => self.send.consumer_send_back(&req).await,
            RequestCode::END_TRANSACTION => {
                return self.end_transaction.end_transaction(&req).await
            }
            RequestCode::SEND_REPLY_MESSAGE | RequestCode::SEND_REPLY_MESSAGE_V2 => {
                self.reply.send_reply(conn, &req).await
            }
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
                return self.pull.pull_message(conn, req).await;
            }
            RequestCode::QUERY_CONSUMER_OFFSET => self.consumer.query_offset(&req),
            RequestCode::UPDATE_CONSUMER_OFFSET => self.consumer.update_offset(&req).await,
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => self.consumer.consumer_list(&req),
            RequestCode::HEART_BEAT => self.client.heartbeat(conn, &req).await,
            RequestCode::UNREGISTER_CLIENT => self.client.unregister(conn, &req),
            RequestCode::CHECK_CLIENT_CONFIG => self.client.check_client_config(&req),
            RequestCode::LOCK_BATCH_MQ => self.lock.lock_batch(&req),
            RequestCode::UNLOCK_BATCH_MQ => self.lock.unlock_batch(&req),
            RequestCode::UPDATE_AND_CREATE_TOPIC => self.admin.create_topic(&req).await,
            RequestCode::DELETE_TOPIC_IN_BROKER => self.admin.delete_topic(&req).await,
            RequestCode::GET_ALL_TOPIC_CONFIG => self.admin.all_topic_config(),
            RequestCode::GET_ALL_CONSUMER_OFFSET => self.admin.all_consumer_offset(),
            RequestCode::GET_ALL_DELAY_OFFSET => self.admin.all_delay_offset(),
            RequestCode::GET_MAX_OFFSET => self.admin.max_offset(&req),
            RequestCode::GET_MIN_OFFSET => self.admin.min_offset(&req),
            RequestCode::DELETE_EXPIRED_COMMITLOG => self.admin.delete_expired_commit_log(),
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP => self.admin.search_offset(&req).await,
            RequestCode::GET_EARLIEST_MSG_STORETIME => self.admin.earliest_time(&req).await,
            RequestCode::VIEW_MESSAGE_BY_ID => self.query.view_by_id(&req).await,
            RequestCode::QUERY_MESSAGE => self.query.query_message(&req).await,
            // Relays to consumer clients (processor/relay.rs).
            RequestCode::GET_CONSUMER_RUNNING_INFO => self.relay.running_info(&req).await,
            RequestCode::CONSUME_MESSAGE_DIRECTLY => self.relay.consume_directly(&req).await,
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => self.relay.reset_offset(&req).await,
            RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS => {
                self.relay.consumer_status(&req).await
            }
            // Admin plane: subscription groups and connection tables.
            RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => self.group.update_group(&req).await,
            RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => self.group.all_groups(),
            RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG => self.group.get_group(&req).await,
            RequestCode::DELETE_SUBSCRIPTIONGROUP => self.group.delete_group(&req).await,
            RequestCode::GET_CONSUMER_CONNECTION_LIST => self.group.consumer_connections(&req),
            RequestCode::GET_PRODUCER_CONNECTION_LIST => self.group.producer_connections(&req),
            // Admin plane: statistics and configs (processor/inspect.rs).
            RequestCode::GET_TOPIC_STATS_INFO => self.inspect.topic_stats(&req).await,
            RequestCode::GET_CONSUME_STATS => self.inspect.consume_stats(&req).await,
            RequestCode::QUERY_TOPIC_CONSUME_BY_WHO => self.inspect.consumed_by(&req),
            RequestCode::QUERY_TOPICS_BY_CONSUMER => self.inspect.topics_of(&req),
            RequestCode::GET_TOPIC_CONFIG => self.inspect.topic_config(&req),
            RequestCode::VIEW_BROKER_STATS_DATA => self.inspect.stats_data(&req),
            RequestCode::GET_BROKER_RUNTIME_INFO => self.inspect.runtime_info().await,
            RequestCode::GET_BROKER_CONFIG => self.broker_config.get(),
            RequestCode::UPDATE_BROKER_CONFIG => self.broker_config.update(&req).await,
            // RocketMQ 5.x POP consumption (processor/pop.rs).
            RequestCode::POP_MESSAGE => self.pop.pop(&req).await,
            RequestCode::ACK_MESSAGE => self.pop.ack(&req).await,
            RequestCode::BATCH_ACK_MESSAGE => self.pop.batch_ack(&req).await,
            RequestCode::CHANGE_MESSAGE_INVISIBLETIME => self.pop.change_invisible(&req).await,
            RequestCode::NOTIFICATION => self.pop.notification(&req).await,
            RequestCode::POLLING_INFO => self.pop.polling_info(&req).await,
            RequestCode::QUERY_ASSIGNMENT => self.assignment.query_assignment(&req),
            RequestCode::SET_MESSAGE_REQUEST_MODE => self.assignment.set_mode(&req).await,
            RequestCode::GET_ALL_MESSAGE_REQUEST_MODE => self.assignment.all_modes(),
            code => reply(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {code} not supported"),
            ),
        };
        Some(resp)
    }
}
