//! HEART_BEAT (34), UNREGISTER_CLIENT (35) and CHECK_CLIENT_CONFIG (46)
//! (docs/protocol/heartbeat.md §1, §3, §6).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{CheckClientRequestBody, HeartbeatData, JsonBody};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::UnregisterClientRequestHeader;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::Connection;

use super::{header, reply, success, Wiring};
use crate::client_manager::{ClientIdentity, ClientManager};
use crate::filter::{is_tag_type, Sql92Filter, SQL92};
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::{TopicTable, PERM_READ, PERM_WRITE};

/// Client registration: heartbeats, unregistration, disconnections.
pub(crate) struct ClientManageProcessor {
    clients: Arc<ClientManager>,
    /// Heartbeats create the groups' retry topics.
    topics: TopicTable,
    /// A consumer group's config: created on its first heartbeat, sizes its retry topic.
    groups: SubscriptionGroups,
    /// SQL92 subscriptions accepted (Java `enablePropertyFilter`).
    enable_property_filter: bool,
}

impl ClientManageProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        ClientManageProcessor {
            clients: Arc::clone(w.clients),
            topics: w.topics.clone(),
            groups: w.groups.clone(),
            enable_property_filter: w.cfg.enable_property_filter,
        }
    }

    /// HEART_BEAT: registers producers and consumers (creating `%RETRY%<group>`).
    pub(crate) async fn heartbeat(
        &self,
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
        let who = ClientIdentity {
            client_id: data.client_id.clone(),
            language: req.language,
            version: req.version,
        };
        for c in &data.consumer_data_set {
            if c.group_name.is_empty() {
                continue;
            }
            // As Apache: a group without a config (auto-creation off) is not registered.
            let Some(group) = self.groups.find(&c.group_name).await else {
                tracing::debug!(group = %c.group_name, "heartbeat of a group without subscription-group config ignored");
                continue;
            };
            let retry = rocketmq_rs_remoting::protocol::topic::retry_topic(&c.group_name);
            if self.topics.get(&retry).is_none() {
                let queues = group.retry_queue_nums.max(1);
                if let Err(e) = self
                    .topics
                    .ensure(retry, queues, PERM_READ | PERM_WRITE)
                    .await
                {
                    return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
                }
            }
            let keep_subs = data.heartbeat_fingerprint != 0 && data.without_sub;
            self.clients.register_consumer(
                c,
                conn,
                &who,
                keep_subs,
                group.notify_consumer_ids_changed_enable,
            );
        }
        for p in &data.producer_data_set {
            if !p.group_name.is_empty() {
                self.clients.register_producer(&p.group_name, conn, &who);
            }
        }
        success()
    }

    /// UNREGISTER_CLIENT.
    pub(crate) fn unregister(&self, conn: &Connection, req: &RemotingCommand) -> RemotingCommand {
        let h: UnregisterClientRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        self.clients.unregister(
            conn,
            h.producer_group.as_deref(),
            h.consumer_group.as_deref(),
        );
        success()
    }

    /// A connection closed: its clients are gone.
    pub(crate) fn connection_closed(&self, conn: &Connection) {
        self.clients.connection_closed(conn.id());
    }
}

impl ClientManageProcessor {
    /// CHECK_CLIENT_CONFIG (Java `ClientManageProcessor.checkClientConfig`): a consumer with a
    /// non-tag subscription asks before it starts. Tag subscriptions pass; others are refused
    /// with SYSTEM_ERROR unless property filtering is on, then must compile (an error answers
    /// SUBSCRIPTION_PARSE_FAILED with the compiler's message, and no remark for a type that
    /// has no compiler, as Apache).
    pub(crate) fn check_client_config(&self, req: &RemotingCommand) -> RemotingCommand {
        let body = match CheckClientRequestBody::from_json(&req.body) {
            Ok(b) => b,
            Err(e) => return reply(ResponseCode::SYSTEM_ERROR, format!("bad body: {e}")),
        };
        let Some(s) = body.subscription_data else {
            return success();
        };
        if is_tag_type(Some(&s.expression_type)) {
            return success();
        }
        if !self.enable_property_filter {
            return reply(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "The broker does not support consumer to filter message by {}",
                    s.expression_type
                ),
            );
        }
        if s.expression_type != SQL92 {
            return RemotingCommand::response(ResponseCode::SUBSCRIPTION_PARSE_FAILED, None);
        }
        match Sql92Filter::compile(&s.sub_string) {
            Ok(_) => success(),
            Err(e) => reply(ResponseCode::SUBSCRIPTION_PARSE_FAILED, e.message()),
        }
    }
}
