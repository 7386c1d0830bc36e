//! VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12) (docs/protocol/query.md §1, §2).

use std::sync::Arc;

use bytes::BytesMut;
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::util::now_ms;

use super::{header, reply, success, Wiring};
use crate::store::MessageStore;

/// Java `defaultQueryMaxNum`.
const MAX_QUERY: usize = 32;

/// Message lookups by commit-log offset and by key.
pub(crate) struct QueryProcessor {
    store: MessageStore,
    rt: Arc<dyn Runtime>,
}

impl QueryProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        QueryProcessor {
            store: w.store.clone(),
            rt: Arc::clone(w.rt),
        }
    }

    /// VIEW_MESSAGE_BY_ID: the stored record at a commit-log offset.
    pub(crate) async fn view_by_id(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ViewMessageRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let store = self.store.clone();
        let offset = h.offset;
        match rt::run_blocking(&*self.rt, move || store.read_record(offset)).await {
            Ok(Some(rec)) => success().with_body(rec),
            _ => reply(
                ResponseCode::SYSTEM_ERROR,
                format!("can not find message by the offset, {}", h.offset),
            ),
        }
    }

    /// QUERY_MESSAGE: records whose KEYS contain `key` (or whose UNIQ_KEY is `key`).
    pub(crate) async fn query_message(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: QueryMessageRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let store = self.store.clone();
        let uniq = h.unique_key_query == Some(true);
        let max = if uniq {
            MAX_QUERY
        } else {
            (h.max_num.max(1) as usize).min(64 * MAX_QUERY)
        };
        let (topic, key, begin, end) = (
            h.topic.clone(),
            h.key.clone(),
            h.begin_timestamp,
            h.end_timestamp,
        );
        let r = rt::run_blocking(&*self.rt, move || {
            store.query_by_key(&topic, &key, max, begin, end)
        })
        .await;
        let records = match r {
            Ok(v) => v,
            Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        if records.is_empty() {
            return reply(
                ResponseCode::QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
            );
        }
        let mut body = BytesMut::with_capacity(records.iter().map(|r| r.len()).sum());
        for r in &records {
            body.extend_from_slice(r);
        }
        success()
            .with_header(&QueryMessageResponseHeader {
                index_last_update_timestamp: now_ms(),
                index_last_update_phyoffset: self.store.commit_log_max_offset(),
            })
            .with_body(body.freeze())
    }
}
