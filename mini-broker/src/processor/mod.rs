//! Request dispatch ([`BrokerProcessor`]): one handler per request code, Java's response codes
//! and remarks (docs/protocol/frame.md §12; docs/protocol/README.md §2).

mod admin;
mod client_manage;
mod consumer_manage;
mod lock;
mod pull;
mod query;
mod send;

use std::sync::{Arc, OnceLock};

use rocketmq_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_remoting::protocol::header::CommandHeader;
use rocketmq_remoting::protocol::RemotingCommand;
use rocketmq_remoting::transport::{Connection, RequestHandler};

use crate::broker::BrokerInner;

/// The broker's [`RequestHandler`]: routes each request code to its processor.
pub struct BrokerProcessor {
    inner: Arc<OnceLock<Arc<BrokerInner>>>,
    /// ACL 1.0 check run before any processing (`BrokerConfig::acl`).
    acl: Option<Arc<rocketmq_remoting::acl::AclValidator>>,
}

impl std::fmt::Debug for BrokerProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProcessor").finish_non_exhaustive()
    }
}

impl BrokerProcessor {
    pub(crate) fn new(inner: Arc<OnceLock<Arc<BrokerInner>>>) -> Self {
        BrokerProcessor { inner, acl: None }
    }

    /// Checks every request against `acl` first (refusals answer `NO_PERMISSION`).
    pub(crate) fn with_acl(
        mut self,
        acl: Option<Arc<rocketmq_remoting::acl::AclValidator>>,
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
        | RequestCode::SEND_REPLY_MESSAGE_V2 => Some(reply(
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
        if let Some(acl) = &self.acl {
            if let Err(denied) = acl.check(&req, conn.peer_addr().ip()) {
                tracing::debug!(code = req.code, peer = %conn.peer_addr(), remark = %denied, "ACL refused request");
                return Some(denied.to_response(&req));
            }
        }
        let Some(b) = self.inner.get() else {
            return Some(reply(
                ResponseCode::SYSTEM_BUSY,
                "[REJECTREQUEST]system busy, start flow control for a while",
            ));
        };
        if !b.cfg.broker_role.is_master() {
            if let Some(refused) = slave_refuses(req.code) {
                return Some(refused);
            }
        }
        let resp = match req.code {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => send::send_message(b, conn, &req).await,
            RequestCode::CONSUMER_SEND_MSG_BACK => send::consumer_send_back(b, conn, &req).await,
            RequestCode::END_TRANSACTION => {
                return crate::transaction::end_transaction(b, conn, &req).await;
            }
            RequestCode::SEND_REPLY_MESSAGE | RequestCode::SEND_REPLY_MESSAGE_V2 => {
                crate::reply::send_reply(b, conn, &req).await
            }
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
                return pull::pull_message(b, conn, req).await;
            }
            RequestCode::QUERY_CONSUMER_OFFSET => consumer_manage::query_offset(b, &req).await,
            RequestCode::UPDATE_CONSUMER_OFFSET => consumer_manage::update_offset(b, &req).await,
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => consumer_manage::consumer_list(b, &req),
            RequestCode::HEART_BEAT => client_manage::heartbeat(b, conn, &req).await,
            RequestCode::UNREGISTER_CLIENT => client_manage::unregister(b, conn, &req),
            RequestCode::CHECK_CLIENT_CONFIG => client_manage::check_client_config(&req),
            RequestCode::LOCK_BATCH_MQ => lock::lock_batch(b, &req),
            RequestCode::UNLOCK_BATCH_MQ => lock::unlock_batch(b, &req),
            RequestCode::UPDATE_AND_CREATE_TOPIC => admin::create_topic(b, &req).await,
            RequestCode::DELETE_TOPIC_IN_BROKER => admin::delete_topic(b, &req).await,
            RequestCode::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(b),
            RequestCode::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offset(b),
            RequestCode::GET_ALL_DELAY_OFFSET => admin::all_delay_offset(b),
            RequestCode::GET_MAX_OFFSET => admin::max_offset(b, &req),
            RequestCode::GET_MIN_OFFSET => admin::min_offset(b, &req),
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP => admin::search_offset(b, &req).await,
            RequestCode::GET_EARLIEST_MSG_STORETIME => admin::earliest_time(b, &req).await,
            RequestCode::GET_BROKER_RUNTIME_INFO => admin::runtime_info(b),
            RequestCode::VIEW_MESSAGE_BY_ID => query::view_by_id(b, &req).await,
            RequestCode::QUERY_MESSAGE => query::query_message(b, &req).await,
            code => reply(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {code} not supported"),
            ),
        };
        Some(resp)
    }

    fn on_disconnected(&self, conn: &Connection) {
        if let Some(b) = self.inner.get() {
            b.clients.connection_closed(conn.id());
        }
    }
}
