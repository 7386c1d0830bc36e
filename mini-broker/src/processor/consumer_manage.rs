//! QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15) and GET_CONSUMER_LIST_BY_GROUP (38)
//! (docs/protocol/offsets.md §1, §2; docs/protocol/heartbeat.md §4).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{GetConsumerListByGroupResponseBody, JsonBody};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{
    GetConsumerListByGroupRequestHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};

use super::{header, reply, success, Wiring};
use crate::client_manager::ClientManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::store::MessageStore;

fn offset_response(offset: i64) -> RemotingCommand {
    success().with_header(&QueryConsumerOffsetResponseHeader { offset })
}

/// Consumer offsets and group membership.
pub(crate) struct ConsumerManageProcessor {
    offsets: Arc<ConsumerOffsetManager>,
    /// Queue minimum offsets (the "first message still hot" rule).
    store: MessageStore,
    clients: Arc<ClientManager>,
    rt: Arc<dyn Runtime>,
}

impl ConsumerManageProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        ConsumerManageProcessor {
            offsets: Arc::clone(w.offsets),
            store: w.store.clone(),
            clients: Arc::clone(w.clients),
            rt: Arc::clone(w.rt),
        }
    }

    /// QUERY_CONSUMER_OFFSET: the stored offset; else 0 while the queue was never truncated
    /// (Java's "first message still hot" rule), else QUERY_NOT_FOUND.
    pub(crate) fn query_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: QueryConsumerOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Some(o) = self.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
            return offset_response(o);
        }
        if h.set_zero_if_not_found != Some(false)
            && self.store.min_offset(&h.topic, h.queue_id) <= 0
        {
            return offset_response(0);
        }
        reply(
            ResponseCode::QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )
    }

    /// UPDATE_CONSUMER_OFFSET: stores the offset. A request that expects an answer is answered
    /// only once the offset is on disk; oneway updates are written by the periodic flush.
    pub(crate) async fn update_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: UpdateConsumerOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        self.offsets
            .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
        if !req.is_oneway() {
            let offsets = Arc::clone(&self.offsets);
            if let Err(e) = rt::run_blocking(&*self.rt, move || offsets.persist()).await {
                return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
            }
        }
        success()
    }

    /// GET_CONSUMER_LIST_BY_GROUP.
    pub(crate) fn consumer_list(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumerListByGroupRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let ids = self.clients.consumer_ids(&h.consumer_group);
        if ids.is_empty() {
            return reply(
                ResponseCode::SYSTEM_ERROR,
                format!("no consumer for this group, {}", h.consumer_group),
            );
        }
        success().with_body(
            GetConsumerListByGroupResponseBody {
                consumer_id_list: ids,
            }
            .to_json(),
        )
    }
}
