//! LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42) (docs/protocol/rebalance.md §4, §5).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{JsonBody, LockBatchRequestBody, LockBatchResponseBody};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::RemotingCommand;

use super::{reply, success, Wiring};
use crate::lock_manager::RebalanceLockManager;

// The Err is the ready-made error response, built once per bad request and sent as is.
#[allow(clippy::result_large_err)]
fn body(req: &RemotingCommand) -> Result<LockBatchRequestBody, RemotingCommand> {
    LockBatchRequestBody::from_json(&req.body).map_err(|e| {
        reply(
            ResponseCode::SYSTEM_ERROR,
            format!("bad lock request body: {e}"),
        )
    })
}

/// Orderly consumption's queue locks.
pub(crate) struct LockProcessor {
    locks: Arc<RebalanceLockManager>,
}

impl LockProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        LockProcessor {
            locks: Arc::clone(w.locks),
        }
    }

    /// LOCK_BATCH_MQ: answers the queues now locked by the caller.
    pub(crate) fn lock_batch(&self, req: &RemotingCommand) -> RemotingCommand {
        let r = match body(req) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let ok = self
            .locks
            .try_lock_batch(&r.consumer_group, r.mq_set, &r.client_id);
        success().with_body(LockBatchResponseBody { lock_ok_mq_set: ok }.to_json())
    }

    /// UNLOCK_BATCH_MQ.
    pub(crate) fn unlock_batch(&self, req: &RemotingCommand) -> RemotingCommand {
        let r = match body(req) {
            Ok(r) => r,
            Err(e) => return e,
        };
        self.locks
            .unlock_batch(&r.consumer_group, &r.mq_set, &r.client_id);
        success()
    }
}
