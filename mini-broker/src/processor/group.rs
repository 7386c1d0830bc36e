//! Consumer-group administration and the client connection tables:
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201),
//! DELETE_SUBSCRIPTIONGROUP (207), GET_SUBSCRIPTIONGROUP_CONFIG (352),
//! GET_CONSUMER_CONNECTION_LIST (203), GET_PRODUCER_CONNECTION_LIST (204)
//! (docs/protocol/admin.md §5, §6).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{JsonBody, SubscriptionGroupConfig};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{
    DeleteSubscriptionGroupRequestHeader, GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader, GetSubscriptionGroupConfigRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;

use super::{header, reply, success, Wiring};
use crate::client_manager::ClientManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::subscription_group::SubscriptionGroups;

/// Subscription-group configs and connection lists.
pub(crate) struct GroupProcessor {
    groups: SubscriptionGroups,
    clients: Arc<ClientManager>,
    /// DELETE_SUBSCRIPTIONGROUP may drop the group's offsets.
    offsets: Arc<ConsumerOffsetManager>,
}

impl GroupProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        GroupProcessor {
            groups: w.groups.clone(),
            clients: Arc::clone(w.clients),
            offsets: Arc::clone(w.offsets),
        }
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: the body replaces the group's whole config. An
    /// empty body changes nothing and succeeds, as on Apache.
    pub(crate) async fn update_group(&self, req: &RemotingCommand) -> RemotingCommand {
        if req.body.is_empty() {
            return success();
        }
        let cfg = match SubscriptionGroupConfig::from_json(&req.body) {
            Ok(c) => c,
            Err(e) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad SubscriptionGroupConfig body: {e}"),
                )
            }
        };
        if cfg.group_name.trim().is_empty() {
            return reply(
                ResponseCode::INVALID_PARAMETER,
                "The specified group is blank.",
            );
        }
        match self.groups.upsert(cfg).await {
            Ok(()) => success(),
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the table as `subscriptionGroup.json` holds it.
    pub(crate) fn all_groups(&self) -> RemotingCommand {
        success().with_body(self.groups.table().wrapper().to_json())
    }

    /// GET_SUBSCRIPTIONGROUP_CONFIG (5.x): one group's config (created first when unknown and
    /// auto-creation is on, as Apache's lookup does).
    pub(crate) async fn get_group(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetSubscriptionGroupConfigRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        match self.groups.find(&h.group).await {
            Some(cfg) => success().with_body(cfg.to_json()),
            None => reply(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                "No group in this broker",
            ),
        }
    }

    /// DELETE_SUBSCRIPTIONGROUP: removes the config (and, with `cleanOffset`/`removeOffset`,
    /// the group's committed offsets). Succeeds for unknown groups too, as on Apache.
    pub(crate) async fn delete_group(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: DeleteSubscriptionGroupRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Err(e) = self.groups.delete(&h.group_name).await {
            return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
        }
        if h.clean_offsets() {
            self.offsets.remove_group(&h.group_name);
        }
        success()
    }

    /// GET_CONSUMER_CONNECTION_LIST: CONSUMER_NOT_ONLINE when no channel of the group is
    /// registered.
    pub(crate) fn consumer_connections(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumerConnectionListRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        match self.clients.consumer_connection(&h.consumer_group) {
            Some(c) => success().with_body(c.to_json()),
            None => reply(
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{}] not online", h.consumer_group),
            ),
        }
    }

    /// GET_PRODUCER_CONNECTION_LIST: SYSTEM_ERROR when the group has no channel, as Apache.
    pub(crate) fn producer_connections(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetProducerConnectionListRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        match self.clients.producer_connection(&h.producer_group) {
            Some(c) => success().with_body(c.to_json()),
            None => reply(
                ResponseCode::SYSTEM_ERROR,
                format!("the producer group[{}] not exist", h.producer_group),
            ),
        }
    }
}
