//! Admin requests the broker answers by asking its consumer clients (Java
//! `AdminBrokerProcessor.callConsumer` and `Broker2Client`; docs/protocol/admin.md §3, §4, §11,
//! §12): GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309), relayed to one
//! client; INVOKE_BROKER_TO_RESET_OFFSET (222), which sends RESET_CONSUMER_CLIENT_OFFSET (220)
//! to every client of the group; INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223), which gathers
//! GET_CONSUMER_STATUS_FROM_CLIENT (221) answers.
//!
//! Clients are found in the broker's [`ClientManager`] by group and exact client id, whichever
//! listener their connection came in on. A relay never holds the admin's request longer than the
//! broker's own wait on the client (10 s, 5 s for 221).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::error::RemotingError;
use rocketmq_rs_remoting::protocol::body::{
    GetConsumerStatusBody, JsonBody, MessageQueue, ResetOffsetBody, ResetOffsetBodyForC,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader, ResetOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::message::parse_offset_msg_id;
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand};
use rocketmq_rs_remoting::rt::{self, Runtime};

use super::{header, reply, success, Wiring};
use crate::client_manager::ClientManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::store::MessageStore;
use crate::subscription_group::SubscriptionGroups;
use crate::topic_config::TopicTable;

/// How long the broker waits for a client's answer to 307 / 309 (Java `callClient`).
const CALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the broker waits for each client's answer to 221 (Java `getConsumeStatus`).
const CONSUMER_STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// The relays from admin tools to consumer clients.
pub(crate) struct RelayProcessor {
    /// Finds the clients' connections.
    clients: Arc<ClientManager>,
    /// Loads the record for 309; queue offsets for 222.
    store: MessageStore,
    /// Topic existence, queue counts and sys flags.
    topics: TopicTable,
    /// The group's committed offsets (read and written by 222).
    offsets: Arc<ConsumerOffsetManager>,
    /// The group's sys flag for 309.
    groups: SubscriptionGroups,
    rt: Arc<dyn Runtime>,
    broker_name: String,
}

impl RelayProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        RelayProcessor {
            clients: Arc::clone(w.clients),
            store: w.store.clone(),
            topics: w.topics.clone(),
            offsets: Arc::clone(w.offsets),
            groups: w.groups.clone(),
            rt: Arc::clone(w.rt),
            broker_name: w.cfg.broker_name.clone(),
        }
    }

    /// GET_CONSUMER_RUNNING_INFO: relayed to the client as is.
    pub(crate) async fn running_info(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumerRunningInfoRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        self.call_consumer(
            RequestCode::GET_CONSUMER_RUNNING_INFO,
            req,
            req.body.clone(),
            &h.consumer_group,
            &h.client_id,
        )
        .await
    }

    /// CONSUME_MESSAGE_DIRECTLY: the stored record named by the offset id `msgId` goes to the
    /// client as body, with this broker's name and the topic's and group's sys flags added to
    /// the fields (the group lookup creates the group's config when auto-creation is on, as
    /// Java's does).
    pub(crate) async fn consume_directly(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ConsumeMessageDirectlyResultRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let msg_id = h.msg_id.clone().unwrap_or_default();
        let offset = match parse_offset_msg_id(&msg_id) {
            Ok((_, offset)) => offset,
            Err(e) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("msgId {msg_id:?} is not an offset message id: {e}"),
                )
            }
        };
        let store = self.store.clone();
        let record = match rt::run_blocking(&*self.rt, move || store.read_record(offset)).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("can not find message by the offset id {msg_id}, offset {offset}"),
                )
            }
            Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        let mut forwarded = req.clone();
        forwarded
            .ext_fields
            .insert("brokerName", self.broker_name.clone());
        if let Some(cfg) = h
            .topic
            .as_deref()
            .filter(|t| !t.is_empty())
            .and_then(|t| self.topics.get(t))
        {
            forwarded
                .ext_fields
                .insert("topicSysFlag", cfg.topic_sys_flag.to_string());
        }
        if !h.consumer_group.is_empty() {
            if let Some(g) = self.groups.find(&h.consumer_group).await {
                forwarded
                    .ext_fields
                    .insert("groupSysFlag", g.group_sys_flag.to_string());
            }
        }
        self.call_consumer(
            RequestCode::CONSUME_MESSAGE_DIRECTLY,
            &forwarded,
            record,
            &h.consumer_group,
            h.client_id.as_deref().unwrap_or_default(),
        )
        .await
    }

    /// Sends a new request with `code`, `req`'s fields and `body` to the client `client_id` of
    /// `group`, and answers with the client's response unchanged (Java `callConsumer`).
    async fn call_consumer(
        &self,
        code: i32,
        req: &RemotingCommand,
        body: bytes::Bytes,
        group: &str,
        client_id: &str,
    ) -> RemotingCommand {
        let Some(conn) = self.clients.consumer_channel(group, client_id) else {
            return reply(
                ResponseCode::SYSTEM_ERROR,
                format!("The Consumer <{group}> <{client_id}> not online"),
            );
        };
        let mut call = RemotingCommand::request(code).with_body(body);
        call.ext_fields = req.ext_fields.clone();
        match conn.invoke(call, CALL_CLIENT_TIMEOUT).await {
            Ok(answer) => answer,
            Err(e @ RemotingError::Timeout { .. }) => reply(
                ResponseCode::CONSUME_MSG_TIMEOUT,
                format!("consumer <{group}> <{client_id}> Timeout: {e}"),
            ),
            Err(e) => reply(
                ResponseCode::SYSTEM_ERROR,
                format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
            ),
        }
    }

    /// INVOKE_BROKER_TO_RESET_OFFSET: computes the group's new offset for every queue of the
    /// topic, records them, tells every online consumer of the group (oneway
    /// RESET_CONSUMER_CLIENT_OFFSET) and answers the table. As Java's client-side reset, an
    /// offline group gets CONSUMER_NOT_ONLINE (admin tools then reset offline, through
    /// UPDATE_CONSUMER_OFFSET) and nothing changes.
    pub(crate) async fn reset_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ResetOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let Some(topic_cfg) = self.topics.get(&h.topic) else {
            return reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                    h.topic
                ),
            );
        };
        let table = match self.reset_table(&h, topic_cfg.write_queue_nums).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let targets = self.clients.consumer_channels(&h.group);
        if targets.is_empty() {
            return reply(
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!(
                    "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
                    h.group, h.topic, h.timestamp
                ),
            );
        }
        // Recorded here too, so queues no consumer owns right now restart there as well; the
        // owners commit the same offsets once they have reset.
        for (mq, &offset) in &table {
            self.offsets.commit(&h.group, &h.topic, mq.queue_id, offset);
        }
        let body = if req.language == LanguageCode::Cpp {
            ResetOffsetBodyForC::from_table(&table).to_json()
        } else {
            ResetOffsetBody {
                offset_table: table.clone(),
            }
            .to_json()
        };
        let notice = RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET)
            .with_header(&ResetOffsetRequestHeader {
                group: h.group.clone(),
                topic: h.topic.clone(),
                queue_id: -1,
                offset: None,
                timestamp: h.timestamp,
                is_force: false,
                bname: None,
            })
            .with_body(body);
        for (_, conn) in targets {
            if let Err(e) = conn.send_oneway(notice.clone()) {
                tracing::warn!(group = %h.group, topic = %h.topic, peer = %conn.peer_addr(), error = %e, "reset offset notice not sent");
            }
        }
        success().with_body(
            ResetOffsetBody {
                offset_table: table,
            }
            .to_json(),
        )
    }

    /// The new offset of each queue (Java `Broker2Client.resetOffset`): the queue's max offset
    /// for timestamp -1, else the first offset stored at or after the timestamp; kept only when
    /// forced or below the committed offset. A queue the group never committed fails the whole
    /// reset. The 5.x fields narrow it to one queue (`queueId` ≥ 0), optionally to an explicit
    /// `offset` within the queue's range.
    // The Err is the ready-made error response.
    #[allow(clippy::result_large_err)]
    async fn reset_table(
        &self,
        h: &ResetOffsetRequestHeader,
        write_queue_nums: i32,
    ) -> Result<BTreeMap<MessageQueue, i64>, RemotingCommand> {
        let explicit = h.offset.filter(|&o| o != -1 && h.queue_id >= 0);
        let queues: Vec<i32> = if h.queue_id >= 0 {
            vec![h.queue_id]
        } else {
            (0..write_queue_nums.max(0)).collect()
        };
        let mut table = BTreeMap::new();
        for qid in queues {
            let mq = MessageQueue::new(&h.topic, &self.broker_name, qid);
            if let Some(offset) = explicit {
                let (min, max) = (
                    self.store.min_offset(&h.topic, qid),
                    self.store.max_offset(&h.topic, qid),
                );
                // Java's bound: one past the next offset to be written still passes.
                if offset < min || offset > max + 1 {
                    return Err(reply(
                        ResponseCode::SYSTEM_ERROR,
                        format!("Target offset {offset} not in consume queue range [{min}-{max}]"),
                    ));
                }
                table.insert(mq, offset);
                continue;
            }
            let Some(committed) = self
                .offsets
                .query(&h.group, &h.topic, qid)
                .filter(|&o| o >= 0)
            else {
                return Err(reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("THe consumer group <{}> not exist", h.group),
                ));
            };
            let target = if h.timestamp == -1 {
                self.store.max_offset(&h.topic, qid)
            } else {
                let (store, topic, ts) = (self.store.clone(), h.topic.clone(), h.timestamp);
                rt::run_blocking(&*self.rt, move || {
                    store.offset_by_timestamp(&topic, qid, ts)
                })
                .await
                .map_err(|e| reply(ResponseCode::SYSTEM_ERROR, e.to_string()))?
                .max(0)
            };
            table.insert(
                mq,
                if h.is_force || target < committed {
                    target
                } else {
                    committed
                },
            );
        }
        Ok(table)
    }

    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS: asks the group's clients (only `clientAddr` when
    /// given) for their offsets of the topic and answers them by client id. A client that fails
    /// or does not answer in 5 s is left out.
    pub(crate) async fn consumer_status(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumerStatusRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let channels = self.clients.consumer_channels(&h.group);
        if channels.is_empty() {
            return reply(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "No Any Consumer online in the consumer group: [{}]",
                    h.group
                ),
            );
        }
        let wanted = h.client_addr.as_deref().map(str::trim).unwrap_or_default();
        let ask = RemotingCommand::request(RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT)
            .with_header(&GetConsumerStatusRequestHeader {
                topic: h.topic.clone(),
                group: h.group.clone(),
                client_addr: None,
            });
        let calls = channels
            .into_iter()
            .filter(|(client_id, _)| wanted.is_empty() || client_id == wanted)
            .map(|(client_id, conn)| {
                let ask = ask.clone();
                async move {
                    match conn.invoke(ask, CONSUMER_STATUS_TIMEOUT).await {
                        Ok(r) if r.code == ResponseCode::SUCCESS && !r.body.is_empty() => {
                            match GetConsumerStatusBody::from_json(&r.body) {
                                Ok(b) => Some((client_id, b.message_queue_table)),
                                Err(e) => {
                                    tracing::debug!(%client_id, error = %e, "bad consumer status body");
                                    None
                                }
                            }
                        }
                        Ok(r) => {
                            tracing::debug!(%client_id, code = r.code, remark = ?r.remark, "consumer status refused");
                            None
                        }
                        Err(e) => {
                            tracing::debug!(%client_id, error = %e, "consumer status call failed");
                            None
                        }
                    }
                }
            });
        let consumer_table = futures::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect();
        success().with_body(
            GetConsumerStatusBody {
                message_queue_table: BTreeMap::new(),
                consumer_table,
            }
            .to_json(),
        )
    }
}
