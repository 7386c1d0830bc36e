//! Request-reply (Java `ReplyMessageProcessor`, RocketMQ 4.6+): SEND_REPLY_MESSAGE (324) and
//! SEND_REPLY_MESSAGE_V2 (325).
//!
//! A replier sends its reply (topic `<cluster>_REPLY_TOPIC`, properties `CORRELATION_ID`,
//! `REPLY_TO_CLIENT`, `MSG_TYPE=reply`) with one of these codes. The broker pushes it at once
//! as PUSH_REPLY_MESSAGE_TO_CLIENT (326) to the connection of the requesting client, found by
//! the `REPLY_TO_CLIENT` client id among producer heartbeats, waits for the client's answer,
//! and — with [`BrokerConfig::store_reply_message_enable`](crate::BrokerConfig) (Java
//! `storeReplyMessageEnable`, default true) — also stores the reply in its topic.
//!
//! The response is SUCCESS when the push succeeded (msgId `"0"`, queue offset 0, or the stored
//! record's id and offset when stored), SYSTEM_ERROR with Java's remark otherwise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_properties, encode_properties, property, MessageExt,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::Connection;
use rocketmq_rs_remoting::util::now_ms;

use crate::client_manager::ClientManager;
use crate::processor::{header, reply, Wiring};
use crate::store::MessageStore;
use crate::topic_config::{invalid_topic_reply, TopicTable, PERM_READ, PERM_WRITE};

/// Suffix of the per-cluster reply topic (Java `MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// How long the broker waits for the requester to accept a pushed reply.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The reply topic of `cluster` (Java `MixAll.getReplyTopic`): `<cluster>_REPLY_TOPIC`.
///
/// ```
/// assert_eq!(rocketmq_rs_mini_broker::reply::reply_topic("DefaultCluster"), "DefaultCluster_REPLY_TOPIC");
/// ```
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

/// Creates the cluster's reply topic (1 queue, read + write) if missing, as Java's
/// `TopicConfigManager` does at start-up.
///
/// # Errors
///
/// The topic table cannot be persisted.
pub(crate) async fn ensure_reply_topic(topics: &TopicTable, cluster: &str) -> crate::Result<()> {
    topics
        .ensure(reply_topic(cluster), 1, PERM_READ | PERM_WRITE)
        .await
        .map(drop)
}

/// SEND_REPLY_MESSAGE and SEND_REPLY_MESSAGE_V2.
pub(crate) struct ReplyProcessor {
    /// Replies are stored too (`store_reply_message_enable`).
    store: MessageStore,
    topics: TopicTable,
    /// Where the requesters' connections are found.
    clients: Arc<ClientManager>,
    store_host: SocketAddr,
    max_message_size: usize,
    store_reply_message_enable: bool,
    region: String,
}

impl ReplyProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        ReplyProcessor {
            store: w.store.clone(),
            topics: w.topics.clone(),
            clients: Arc::clone(w.clients),
            store_host: w.store_host,
            max_message_size: w.cfg.max_message_size,
            store_reply_message_enable: w.cfg.store_reply_message_enable,
            region: w.cfg.region_id.clone(),
        }
    }

    /// SEND_REPLY_MESSAGE / SEND_REPLY_MESSAGE_V2.
    pub(crate) async fn send_reply(
        &self,
        conn: &Connection,
        req: &RemotingCommand,
    ) -> RemotingCommand {
        let h: SendMessageRequestHeader = if req.code == RequestCode::SEND_REPLY_MESSAGE_V2 {
            match header::<SendMessageRequestHeaderV2>(req) {
                Ok(h) => h.into(),
                Err(r) => return r,
            }
        } else {
            match header(req) {
                Ok(h) => h,
                Err(r) => return r,
            }
        };
        if let Some(r) = invalid_topic_reply(&h.topic) {
            return r;
        }
        if req.body.len() > self.max_message_size {
            return reply(
                ResponseCode::MESSAGE_ILLEGAL,
                format!(
                    "the message body size over max value, MAX: {}",
                    self.max_message_size
                ),
            );
        }
        let tc = match self.topics.get(&h.topic) {
            Some(t) => t,
            None => {
                let (t, d, n) = (
                    h.topic.clone(),
                    h.default_topic.clone(),
                    h.default_topic_queue_nums,
                );
                match self
                    .topics
                    .change(move |topics| topics.create_in_send(&t, &d, n, 0))
                    .await
                {
                    Ok((Some(t), _)) => t,
                    Ok((None, _)) => {
                        return reply(
                            ResponseCode::TOPIC_NOT_EXIST,
                            format!(
                                "topic[{}] not exist, apply first please!{}",
                                h.topic,
                                crate::processor::send_faq()
                            ),
                        )
                    }
                    Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
                }
            }
        };
        if tc.perm & PERM_WRITE == 0 {
            return reply(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] sending message is forbidden", h.topic),
            );
        }
        let queue_id = if h.queue_id < 0 {
            fastrand::i32(0..tc.write_queue_nums.max(1))
        } else {
            h.queue_id
        };
        let props = decode_properties(h.properties.as_deref().unwrap_or(""));

        let pushed = self.push(conn, &h, props.clone(), req).await;

        let mut resp_header = SendMessageResponseHeader {
            msg_id: "0".into(),
            queue_id,
            queue_offset: 0,
            transaction_id: None,
            batch_uniq_id: None,
            recall_handle: None,
            msg_region: Some(self.region.clone()),
            // Java `BrokerConfig.traceOn` default, as the send path answers.
            trace_on: Some(true),
        };
        if self.store_reply_message_enable {
            let msg = MessageExt {
                topic: h.topic.clone(),
                flag: h.flag,
                body: req.body.clone(),
                properties: props,
                queue_id,
                sys_flag: h.sys_flag,
                born_timestamp: h.born_timestamp,
                born_host: conn.peer_addr(),
                store_host: self.store_host,
                reconsume_times: h.reconsume_times.unwrap_or(0),
                ..Default::default()
            };
            match self.store.put_message(msg).await {
                Ok(r) => {
                    resp_header.msg_id = r.msg_id.into();
                    resp_header.queue_offset = r.queue_offset;
                }
                Err(e) => tracing::warn!(error = %e, topic = %h.topic, "storing a reply failed"),
            }
        }
        match pushed {
            Ok(()) => {
                RemotingCommand::response(ResponseCode::SUCCESS, None).with_header(&resp_header)
            }
            Err(remark) => reply(ResponseCode::SYSTEM_ERROR, remark),
        }
    }

    /// Pushes the reply to the requester; `Err` carries Java's remark.
    async fn push(
        &self,
        conn: &Connection,
        h: &SendMessageRequestHeader,
        mut props: rocketmq_rs_remoting::protocol::message::Properties,
        req: &RemotingCommand,
    ) -> Result<(), String> {
        let Some(requester) = props.get(property::REPLY_TO_CLIENT).map(str::to_string) else {
            tracing::warn!("REPLY_TO_CLIENT is null, can not reply message");
            return Err(format!(
                "reply message properties[{}] is null",
                property::REPLY_TO_CLIENT
            ));
        };
        let Some(target) = self.clients.producer_channel_by_client_id(&requester) else {
            let remark = format!("push reply message fail, channel of <{requester}> not found.");
            tracing::warn!("{remark}");
            return Err(remark);
        };
        props.insert(property::PUSH_REPLY_TIME, now_ms().to_string());
        let push_header = ReplyMessageRequestHeader {
            producer_group: h.producer_group.clone(),
            topic: h.topic.clone(),
            default_topic: h.default_topic.clone(),
            default_topic_queue_nums: h.default_topic_queue_nums,
            queue_id: h.queue_id,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            flag: h.flag,
            properties: Some(encode_properties(&props)),
            reconsume_times: h.reconsume_times,
            unit_mode: h.unit_mode.unwrap_or(false),
            born_host: conn.peer_addr().to_string(),
            store_host: self.store_host.to_string(),
            store_timestamp: now_ms(),
        };
        let cmd = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT)
            .with_header(&push_header)
            .with_body(req.body.clone());
        match target.invoke(cmd, PUSH_TIMEOUT).await {
            Ok(r) if r.code == ResponseCode::SUCCESS => Ok(()),
            Ok(r) => {
                tracing::warn!(%requester, remark = ?r.remark, "push reply message refused");
                Err(format!("push reply message to {requester}fail."))
            }
            Err(e) => {
                tracing::warn!(%requester, error = %e, "push reply message failed");
                Err(format!("push reply message to {requester}fail."))
            }
        }
    }
}
