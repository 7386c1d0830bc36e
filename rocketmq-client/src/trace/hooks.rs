//! The trace hooks (Java `SendMessageTraceHookImpl`, `ConsumeMessageTraceHookImpl`,
//! `EndTransactionTraceHookImpl`): they turn hook contexts into trace records and queue them.

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::message::property;

use super::{TraceContext, TraceDispatcher, TraceType, DEFAULT_TRACE_REGION_ID};
use crate::hook::{
    ConsumeHook, ConsumeHookContext, ConsumeHookOutcome, EndTransactionHookContext, MessageType,
    SendHook, SendHookContext, SendHookOutcome,
};
use crate::message::SendStatus;

fn millis(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Records Pub and EndTransaction.
pub(crate) struct SendTraceHook(pub(crate) Arc<TraceDispatcher>);

impl SendHook for SendTraceHook {
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        // No broker result (error, oneway): nothing to record, as in Java.
        let Ok(Some(sr)) = outcome.result else {
            return;
        };
        if ctx.topic.starts_with(self.0.trace_topic()) {
            return;
        }
        let Some(region) = sr.region_id.as_deref() else {
            return;
        };
        if !sr.trace_on {
            return;
        }
        let mut c = TraceContext::new(TraceType::Pub);
        c.timestamp = ctx.begin_timestamp_ms;
        c.region_id = region.to_owned();
        c.group_name = ctx.group.to_owned();
        c.cost_time = millis(outcome.elapsed);
        c.success = sr.status == SendStatus::SendOk;
        let b = &mut c.bean;
        b.topic = ctx.topic.to_owned();
        b.msg_id.clone_from(&sr.msg_id);
        b.offset_msg_id.clone_from(&sr.offset_msg_id);
        b.tags = ctx.tags().map(str::to_owned);
        b.keys = ctx.keys().map(str::to_owned);
        b.store_host = ctx.broker_addr.to_owned();
        b.body_length = i32::try_from(ctx.body_len).unwrap_or(i32::MAX);
        b.msg_type = Some(ctx.msg_type());
        self.0.append(c);
    }

    fn end_transaction(&self, ctx: &EndTransactionHookContext<'_>) {
        if ctx.topic.starts_with(self.0.trace_topic()) {
            return;
        }
        let mut c = TraceContext::new(TraceType::EndTransaction);
        c.timestamp = rocketmq_rs_remoting::util::now_ms();
        c.region_id = ctx
            .region_id
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_TRACE_REGION_ID)
            .to_owned();
        c.group_name = ctx.group.to_owned();
        let b = &mut c.bean;
        b.topic = ctx.topic.to_owned();
        b.msg_id = ctx.msg_id.to_owned();
        b.tags = ctx.tags.map(str::to_owned);
        b.keys = ctx.keys.map(str::to_owned);
        b.store_host = ctx.broker_addr.to_owned();
        b.msg_type = Some(MessageType::TransactionCommit);
        b.transaction_id = ctx.transaction_id.map(str::to_owned);
        b.transaction_state = Some(ctx.state);
        b.from_transaction_check = ctx.from_transaction_check;
        self.0.append(c);
    }
}

/// Records SubBefore and SubAfter.
pub(crate) struct ConsumeTraceHook {
    pub(crate) dispatcher: Arc<TraceDispatcher>,
    /// Request ids are this prefix and the call id: the same for a call's two records, unique
    /// across processes like Java's `createUniqID`.
    pub(crate) request_prefix: String,
}

impl ConsumeTraceHook {
    pub(crate) fn new(dispatcher: Arc<TraceDispatcher>) -> Self {
        let pid = std::process::id();
        let now = rocketmq_rs_remoting::util::now_ms();
        ConsumeTraceHook {
            dispatcher,
            request_prefix: format!("{pid:08X}{:08X}", now as u32),
        }
    }

    fn request_id(&self, ctx: &ConsumeHookContext<'_>) -> String {
        format!("{}{:016X}", self.request_prefix, ctx.call_id)
    }
}

/// Whether the broker stored `m` with tracing off (`TRACE_ON=false`).
fn untraced(m: &crate::message::MessageExt) -> bool {
    m.property(property::TRACE_SWITCH) == Some("false")
}

impl ConsumeHook for ConsumeTraceHook {
    fn before_consume(&self, ctx: &ConsumeHookContext<'_>) {
        let request_id = self.request_id(ctx);
        for m in ctx.msgs.iter().filter(|m| !untraced(m)) {
            let mut c = TraceContext::new(TraceType::SubBefore);
            c.timestamp = ctx.begin_timestamp_ms;
            c.region_id = m
                .property(property::MSG_REGION)
                .unwrap_or(DEFAULT_TRACE_REGION_ID)
                .to_owned();
            c.group_name = ctx.group.to_owned();
            c.request_id.clone_from(&request_id);
            let b = &mut c.bean;
            b.topic.clone_from(&m.topic);
            b.msg_id = m.client_msg_id().to_owned();
            b.tags = m.tags().map(str::to_owned);
            b.keys = m.keys().map(str::to_owned);
            b.body_length = m.store_size;
            b.retry_times = m.reconsume_times;
            self.dispatcher.append(c);
        }
    }

    fn after_consume(&self, ctx: &ConsumeHookContext<'_>, outcome: &ConsumeHookOutcome) {
        if ctx.msgs.is_empty() {
            return;
        }
        let request_id = self.request_id(ctx);
        // Java divides the call's time by the batch size.
        let n = u32::try_from(ctx.msgs.len()).unwrap_or(u32::MAX);
        let cost = millis(outcome.elapsed / n);
        let now = ctx.begin_timestamp_ms + i64::try_from(outcome.elapsed.as_millis()).unwrap_or(0);
        for m in ctx.msgs.iter().filter(|m| !untraced(m)) {
            let mut c = TraceContext::new(TraceType::SubAfter);
            c.timestamp = now;
            c.region_id = m
                .property(property::MSG_REGION)
                .unwrap_or(DEFAULT_TRACE_REGION_ID)
                .to_owned();
            c.group_name = ctx.group.to_owned();
            c.request_id.clone_from(&request_id);
            c.cost_time = cost;
            c.success = outcome.success;
            c.context_code = i32::from(outcome.return_type.ordinal());
            let b = &mut c.bean;
            b.topic.clone_from(&m.topic);
            b.msg_id = m.client_msg_id().to_owned();
            b.keys = m.keys().map(str::to_owned);
            self.dispatcher.append(c);
        }
    }
}
