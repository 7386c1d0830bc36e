//! QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15) and GET_CONSUMER_LIST_BY_GROUP (38)
//! (docs/protocol/offsets.md §1, §2; docs/protocol/heartbeat.md §4).

use std::sync::Arc;

use rocketmq_remoting::protocol::body::{GetConsumerListByGroupResponseBody, JsonBody};
use rocketmq_remoting::protocol::code::ResponseCode;
use rocketmq_remoting::protocol::header::{
    GetConsumerListByGroupRequestHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_remoting::protocol::RemotingCommand;

use super::{header, reply, success};
use crate::broker::BrokerInner;

fn offset_response(offset: i64) -> RemotingCommand {
    success().with_header(&QueryConsumerOffsetResponseHeader { offset })
}

/// QUERY_CONSUMER_OFFSET: the stored offset; else 0 while the queue was never truncated
/// (Java's "first message still hot" rule), else QUERY_NOT_FOUND.
pub(crate) async fn query_offset(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: QueryConsumerOffsetRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if let Some(o) = b.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
        return offset_response(o);
    }
    if h.set_zero_if_not_found != Some(false) && b.store.min_offset(&h.topic, h.queue_id) <= 0 {
        return offset_response(0);
    }
    reply(
        ResponseCode::QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    )
}

/// UPDATE_CONSUMER_OFFSET: stores the offset. A request that expects an answer is answered
/// only once the offset is on disk; oneway updates are written by the periodic flush.
pub(crate) async fn update_offset(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: UpdateConsumerOffsetRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    b.offsets
        .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    if !req.is_oneway() {
        let offsets = Arc::clone(&b.offsets);
        if let Err(e) = b.blocking(move || offsets.persist()).await {
            return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
        }
    }
    success()
}

/// GET_CONSUMER_LIST_BY_GROUP.
pub(crate) fn consumer_list(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerListByGroupRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let ids = b.clients.consumer_ids(&h.consumer_group);
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
