//! HEART_BEAT (34), UNREGISTER_CLIENT (35) and CHECK_CLIENT_CONFIG (46)
//! (docs/protocol/heartbeat.md §1, §3, §6).

use std::sync::Arc;

use rocketmq_remoting::protocol::body::{HeartbeatData, JsonBody, SubscriptionData};
use rocketmq_remoting::protocol::code::ResponseCode;
use rocketmq_remoting::protocol::header::UnregisterClientRequestHeader;
use rocketmq_remoting::protocol::RemotingCommand;
use rocketmq_remoting::transport::Connection;
use serde::Deserialize;

use super::{header, reply, success};
use crate::broker::BrokerInner;
use crate::topic_config::{PERM_READ, PERM_WRITE};

/// HEART_BEAT: registers producers and consumers (creating `%RETRY%<group>`).
pub(crate) async fn heartbeat(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    req: &RemotingCommand,
) -> RemotingCommand {
    let data = match HeartbeatData::from_json(&req.body) {
        Ok(d) => d,
        Err(e) => {
            return reply(
                ResponseCode::SYSTEM_ERROR,
                format!("bad heartbeat body: {e}"),
            )
        }
    };
    for c in &data.consumer_data_set {
        if c.group_name.is_empty() {
            continue;
        }
        let retry = rocketmq_remoting::protocol::topic::retry_topic(&c.group_name);
        if b.topics.get(&retry).is_none() {
            let topics = Arc::clone(&b.topics);
            match b
                .blocking(move || topics.ensure(&retry, 1, PERM_READ | PERM_WRITE))
                .await
            {
                Ok((_, true)) => b.topics_changed(),
                Ok(_) => {}
                Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
            }
        }
        let keep_subs = data.heartbeat_fingerprint != 0 && data.without_sub;
        b.clients
            .register_consumer(c, conn, &data.client_id, keep_subs);
    }
    for p in &data.producer_data_set {
        if !p.group_name.is_empty() {
            b.clients
                .register_producer(&p.group_name, conn, &data.client_id);
        }
    }
    success()
}

/// UNREGISTER_CLIENT.
pub(crate) fn unregister(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: UnregisterClientRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    b.clients.unregister(
        conn,
        h.producer_group.as_deref(),
        h.consumer_group.as_deref(),
    );
    success()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckClientConfigBody {
    #[serde(default)]
    subscription_data: Option<SubscriptionData>,
}

/// CHECK_CLIENT_CONFIG: TAG subscriptions are fine; SQL92 is not supported.
pub(crate) fn check_client_config(req: &RemotingCommand) -> RemotingCommand {
    let body: CheckClientConfigBody = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return reply(ResponseCode::SYSTEM_ERROR, format!("bad body: {e}")),
    };
    match body.subscription_data {
        Some(s) if !s.expression_type.eq_ignore_ascii_case("TAG") => reply(
            ResponseCode::SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92",
        ),
        _ => success(),
    }
}
