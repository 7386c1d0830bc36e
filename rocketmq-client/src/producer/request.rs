//! Request-reply (RocketMQ 4.6+): [`Producer::request`] sends a message and waits for its
//! reply; [`create_reply`] builds the reply a consumer sends back with any producer.
//!
//! # How it works (Java `DefaultMQProducerImpl.request`, `RequestFutureHolder`)
//!
//! 1. `request` tags the message with `CORRELATION_ID` (a fresh random id), `REPLY_TO_CLIENT`
//!    (this client's id) and `TTL` (the timeout in ms), registers a waiter under the
//!    correlation id in its [`ClientInstance`](crate::ClientInstance), makes sure the brokers know this client (a
//!    heartbeat when the topic's route was not cached yet) and sends the message.
//! 2. The broker stamps the request with its `CLUSTER`. A consumer receives it and calls
//!    [`create_reply`]: topic `<CLUSTER>_REPLY_TOPIC`, `MSG_TYPE=reply`, the same
//!    `CORRELATION_ID`, `REPLY_TO_CLIENT` and `TTL`, and sends it with any producer — the
//!    producer uses SEND_REPLY_MESSAGE_V2 (325) for replies.
//! 3. The broker pushes the reply to the requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT,
//!    326); the client instance completes the waiter, which `request` returns.
//!
//! A waiter is removed however `request` ends (reply, timeout, error, cancellation), so an
//! abandoned request leaves nothing behind; a late reply is logged and dropped.
//!
//! ```no_run
//! # async fn demo(requester: rocketmq_rs_client::Producer, replier: rocketmq_rs_client::Producer,
//! #               received: rocketmq_rs_client::MessageExt) -> rocketmq_rs_client::Result<()> {
//! use std::time::Duration;
//! use rocketmq_rs_client::Message;
//! use rocketmq_rs_client::producer::create_reply;
//!
//! // Requesting side:
//! let msg = Message::builder("RequestTopic").body("ping").build()?;
//! let reply = requester.request(msg, Duration::from_secs(3)).await?;
//! println!("reply: {:?}", reply.body);
//!
//! // Replying side, inside a message listener that received `received`:
//! let answer = create_reply(&received, "pong")?;
//! replier.send(answer).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::ReplyMessageRequestHeader;
use rocketmq_rs_remoting::protocol::message::{
    decode_properties, decompress_for_flag, property, sys_flag, CompressionError, UndecodableBody,
    DEFAULT_MAX_DECOMPRESSED_LEN,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::timeout;
use rocketmq_rs_remoting::util::{now_ms, MutexExt};
use rocketmq_rs_remoting::RemotingError;

use super::Producer;
use crate::error::{Error, Result};
use crate::message::{Message, MessageExt};

/// `MSG_TYPE` value of replies (Java `MixAll.REPLY_MESSAGE_FLAG`).
pub const REPLY_MESSAGE_FLAG: &str = "reply";
/// Suffix of the per-cluster reply topic (Java `MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// The reply topic of `cluster`: `<cluster>_REPLY_TOPIC`.
///
/// ```
/// assert_eq!(rocketmq_rs_client::producer::reply_topic("DefaultCluster"), "DefaultCluster_REPLY_TOPIC");
/// ```
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

/// Builds the reply to `request` (Java `MessageUtil.createReplyMessage`): topic
/// `<CLUSTER>_REPLY_TOPIC`, `MSG_TYPE=reply` and the request's `CORRELATION_ID`,
/// `REPLY_TO_CLIENT` and `TTL`. Send it with any started [`Producer`].
///
/// ```
/// use rocketmq_rs_client::MessageExt;
/// use rocketmq_rs_client::producer::create_reply;
///
/// let mut req = MessageExt::new("RequestTopic", "ping");
/// req.put_property("CLUSTER", "DefaultCluster");
/// req.put_property("CORRELATION_ID", "c-1");
/// req.put_property("REPLY_TO_CLIENT", "10.0.0.1@1234");
/// let reply = create_reply(&req, "pong").unwrap();
/// assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
/// assert_eq!(reply.properties.get("CORRELATION_ID"), Some("c-1"));
/// assert_eq!(reply.properties.get("MSG_TYPE"), Some("reply"));
/// ```
///
/// # Errors
///
/// [`Error::InvalidMessage`] when `request` has no `CLUSTER` property (it did not come from
/// a broker) or no `REPLY_TO_CLIENT` (it was not sent with [`Producer::request`]).
pub fn create_reply(request: &MessageExt, body: impl Into<Bytes>) -> Result<Message> {
    let cluster = request
        .property(property::CLUSTER)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::InvalidMessage(format!(
                "create reply message fail, requestMessage error, property[{}] is null.",
                property::CLUSTER
            ))
        })?;
    let reply_to = request
        .property(property::REPLY_TO_CLIENT)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::InvalidMessage(format!(
                "the request has no {} property: it was not sent with request()",
                property::REPLY_TO_CLIENT
            ))
        })?;
    let mut reply = Message {
        topic: reply_topic(cluster),
        body: body.into(),
        flag: 0,
        properties: Default::default(),
    };
    reply
        .properties
        .insert(property::MESSAGE_TYPE, REPLY_MESSAGE_FLAG);
    reply.properties.insert(property::REPLY_TO_CLIENT, reply_to);
    for key in [property::CORRELATION_ID, property::TTL] {
        if let Some(v) = request.property(key) {
            reply.properties.insert(key, v);
        }
    }
    Ok(reply)
}

/// Pending requests of one client instance, by correlation id.
#[derive(Default)]
pub(crate) struct ReplyWaiters {
    table: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
}

/// A reply as it reaches its requester: the message, or why its body could not be read.
type Reply = std::result::Result<MessageExt, RemotingError>;

impl std::fmt::Debug for ReplyWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyWaiters")
            .field("pending", &self.len())
            .finish()
    }
}

impl ReplyWaiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
        self.table.lock_unpoisoned()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn register(&self, id: String) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        rx
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Handles PUSH_REPLY_MESSAGE_TO_CLIENT (Java `ClientRemotingProcessor.receiveReplyMessage`)
    /// and returns the answer for the broker.
    #[cfg(test)]
    pub(crate) fn on_push(&self, req: &RemotingCommand) -> RemotingCommand {
        let mut answer = None;
        self.on_push_answering_first(req, |r| answer = Some(r));
        answer.unwrap_or_else(|| RemotingCommand::response(ResponseCode::SUCCESS, None))
    }

    /// Handles PUSH_REPLY_MESSAGE_TO_CLIENT: hands the broker's answer to `answer` *before*
    /// the waiting [`Producer::request`] is woken. A woken requester may shut its client down
    /// at once, closing the connection and dropping an answer still queued behind this
    /// handler; the broker then reports the push as failed (SYSTEM_ERROR to the replier, whose
    /// retries push and store the reply again and find the requester gone).
    pub(crate) fn on_push_answering_first(
        &self,
        req: &RemotingCommand,
        answer: impl FnOnce(RemotingCommand),
    ) {
        let received = now_ms();
        let h: ReplyMessageRequestHeader = match req.decode_header() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "bad PUSH_REPLY_MESSAGE_TO_CLIENT");
                answer(RemotingCommand::response(
                    ResponseCode::SYSTEM_ERROR,
                    Some("process reply message fail".into()),
                ));
                return;
            }
        };
        let mut body = req.body.clone();
        let mut flag = h.sys_flag;
        // Java decompresses by the type bits too. A stream that does not inflate is handed on
        // as received, flag kept, as Java's ClientRemotingProcessor does (it logs and goes on):
        // the Go client's replier sends uncompressed replies with the flag of the compressed
        // request. Where Java would drop the reply (an unknown type) or we cannot decode it
        // (feature off, a bomb), the requester gets a typed error instead of a timeout.
        let undecodable = match decompress_for_flag(flag, &body, DEFAULT_MAX_DECOMPRESSED_LEN) {
            Ok(Some(b)) => {
                body = Bytes::from(b);
                flag = sys_flag::clear_compressed(flag);
                None
            }
            Ok(None) => None,
            Err(source @ CompressionError::Corrupt { .. }) => {
                tracing::warn!(error = %source, topic = %h.topic, "reply body does not inflate; handed on as received");
                None
            }
            Err(source) => {
                tracing::warn!(error = %source, topic = %h.topic, "cannot decompress a reply");
                Some(source)
            }
        };
        let mut msg = MessageExt::new(h.topic, body);
        msg.queue_id = h.queue_id;
        msg.store_timestamp = h.store_timestamp;
        msg.born_timestamp = h.born_timestamp;
        msg.flag = h.flag;
        msg.sys_flag = flag;
        msg.reconsume_times = h.reconsume_times.unwrap_or(0);
        if let Some(a) = parse_host(&h.born_host) {
            msg.born_host = a;
        }
        if let Some(a) = parse_host(&h.store_host) {
            msg.store_host = a;
        }
        msg.properties = decode_properties(h.properties.as_deref().unwrap_or(""));
        msg.put_property(property::REPLY_MESSAGE_ARRIVE_TIME, received.to_string());
        let id = msg
            .property(property::CORRELATION_ID)
            .unwrap_or_default()
            .to_owned();
        let waiter = self.lock().remove(&id);
        let reply = match undecodable {
            None => {
                answer(RemotingCommand::response(ResponseCode::SUCCESS, None));
                Ok(msg)
            }
            Some(source) => {
                answer(RemotingCommand::response(
                    ResponseCode::SYSTEM_ERROR,
                    Some("process reply message fail".into()),
                ));
                Err(RemotingError::MessageBody(Box::new(UndecodableBody {
                    topic: msg.topic,
                    queue_id: msg.queue_id,
                    queue_offset: msg.queue_offset,
                    commit_log_offset: msg.commit_log_offset,
                    source,
                })))
            }
        };
        match waiter {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => tracing::warn!(
                correlation_id = %id,
                from = %h.born_host,
                "reply matches no pending request (timed out or unknown)"
            ),
        }
    }
}

/// Java writes `InetSocketAddress.toString()`, possibly `host/ip:port` or `/ip:port`.
fn parse_host(s: &str) -> Option<SocketAddr> {
    let s = s.rsplit('/').next().unwrap_or(s);
    s.parse().ok()
}

/// A random UUID (v4) string, as Java's `CorrelationIdUtil.createCorrelationId`.
fn correlation_id() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    let hi = (hi & !0xF000) | 0x4000; // version 4
    let lo = (lo & !(0xC << 60)) | (0x8 << 60); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// Removes the waiter however `request` ends.
struct WaiterGuard<'a> {
    waiters: &'a ReplyWaiters,
    id: &'a str,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.waiters.remove(self.id);
    }
}

impl Producer {
    /// Sends `msg` as a request and waits up to `timeout` (send included) for its reply
    /// (Java `DefaultMQProducer.request`). See the [module docs](self).
    ///
    /// # Errors
    ///
    /// The send's errors; [`Error::Timeout`] (op `"request"`) when no reply arrived in time;
    /// [`Error::Config`] for a zero timeout.
    pub async fn request(&self, mut msg: Message, timeout_after: Duration) -> Result<MessageExt> {
        if timeout_after.is_zero() {
            return Err(Error::Config(
                "request timeout must be greater than zero".into(),
            ));
        }
        let instance = self.client_instance().clone();
        let started = instance.runtime().clock().stopwatch();
        let id = correlation_id();
        msg.properties.insert(property::CORRELATION_ID, id.clone());
        msg.properties
            .insert(property::REPLY_TO_CLIENT, instance.client_id());
        msg.properties
            .insert(property::TTL, timeout_after.as_millis().to_string());
        let waiters = instance.reply_waiters();
        let rx = waiters.register(id.clone());
        let _guard = WaiterGuard { waiters, id: &id };
        let rt = Arc::clone(instance.runtime());
        let exchange = async {
            let wrapped = instance.config().wrap(&msg.topic);
            if instance.routes().route(&wrapped).is_none() {
                // The broker pushes the reply over a connection it knows from a producer
                // heartbeat: make sure it has one before the request can be answered.
                instance
                    .topic_publish_info(&wrapped, self.config().default_topic_queue_nums)
                    .await?;
                instance.send_heartbeat_to_all_brokers().await;
            }
            self.send(msg).await?;
            rx.await
                .map_err(|_| Error::Shutdown)?
                .map_err(Error::Remoting)
        };
        match timeout(&*rt, timeout_after, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                op: "request",
                timeout: timeout_after,
                detail: format!(
                    "no reply with correlation id {id} after {:?}",
                    started.elapsed()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_uuid_shaped_and_unique() {
        let a = correlation_id();
        let b = correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn reply_needs_cluster_and_requester() {
        let mut req = MessageExt::new("T", "x");
        assert!(create_reply(&req, "y").is_err());
        req.put_property(property::CLUSTER, "C");
        assert!(create_reply(&req, "y").is_err());
        req.put_property(property::REPLY_TO_CLIENT, "me");
        req.put_property(property::TTL, "3000");
        let r = create_reply(&req, "y").unwrap();
        assert_eq!(r.topic, "C_REPLY_TOPIC");
        assert_eq!(r.properties.get(property::TTL), Some("3000"));
        assert_eq!(r.properties.get(property::CORRELATION_ID), None);
    }

    #[test]
    fn push_completes_the_waiter_once() {
        let w = ReplyWaiters::default();
        let mut rx = w.register("c1".into());
        let h = ReplyMessageRequestHeader {
            producer_group: "g".into(),
            topic: "C_REPLY_TOPIC".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1,
            flag: 0,
            properties: Some("CORRELATION_ID\u{1}c1\u{2}".into()),
            reconsume_times: None,
            unit_mode: false,
            born_host: "/127.0.0.1:1000".into(),
            store_host: "127.0.0.1:10911".into(),
            store_timestamp: 2,
        };
        let req = RemotingCommand::request(
            rocketmq_rs_remoting::protocol::code::RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT,
        )
        .with_header(&h)
        .with_body("pong");
        assert_eq!(w.on_push(&req).code, ResponseCode::SUCCESS);
        let got = rx.try_recv().unwrap().unwrap().unwrap();
        assert_eq!(got.body, "pong");
        assert_eq!(got.born_host, "127.0.0.1:1000".parse().unwrap());
        assert!(got.property(property::REPLY_MESSAGE_ARRIVE_TIME).is_some());
        assert_eq!(w.len(), 0);
        // A second (late) reply finds nothing and is still acknowledged.
        assert_eq!(w.on_push(&req).code, ResponseCode::SUCCESS);
    }

    fn reply_header(sys_flag: i32, id: &str) -> ReplyMessageRequestHeader {
        ReplyMessageRequestHeader {
            producer_group: "g".into(),
            topic: "C_REPLY_TOPIC".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag,
            born_timestamp: 1,
            flag: 0,
            properties: Some(format!("CORRELATION_ID\u{1}{id}\u{2}")),
            reconsume_times: None,
            unit_mode: false,
            born_host: "/127.0.0.1:1000".into(),
            store_host: "127.0.0.1:10911".into(),
            store_timestamp: 2,
        }
    }

    fn push(w: &ReplyWaiters, h: &ReplyMessageRequestHeader, body: Vec<u8>) -> i32 {
        let req = RemotingCommand::request(
            rocketmq_rs_remoting::protocol::code::RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT,
        )
        .with_header(h)
        .with_body(body);
        w.on_push(&req).code
    }

    #[test]
    fn compressed_replies_of_every_type_are_decompressed() {
        use rocketmq_rs_remoting::protocol::message::CompressionType;
        let w = ReplyWaiters::default();
        let plain = "reply ✓ ".repeat(1000);
        for kind in CompressionType::ALL
            .into_iter()
            .filter(|k| k.is_available())
        {
            let id = format!("c-{kind}");
            let mut rx = w.register(id.clone());
            let h = reply_header(kind.compressed_sys_flag(), &id);
            let z = kind.compress(plain.as_bytes(), 5).unwrap();
            assert_eq!(push(&w, &h, z), ResponseCode::SUCCESS);
            let got = rx.try_recv().unwrap().unwrap().unwrap();
            assert_eq!(got.body, plain.as_bytes(), "{kind}");
            assert_eq!(got.sys_flag, kind.sys_flag(), "{kind}");
        }
    }

    #[test]
    fn a_reply_flagged_compressed_that_does_not_inflate_is_handed_on_as_java_does() {
        let w = ReplyWaiters::default();
        let mut rx = w.register("raw".into());
        let h = reply_header(sys_flag::COMPRESSED, "raw");
        assert_eq!(
            push(&w, &h, b"reply:plain bytes".to_vec()),
            ResponseCode::SUCCESS
        );
        let got = rx.try_recv().unwrap().unwrap().unwrap();
        assert_eq!(&got.body[..], b"reply:plain bytes");
        assert_eq!(got.sys_flag, sys_flag::COMPRESSED);
    }

    #[test]
    fn an_undecodable_reply_fails_its_request_with_a_typed_error() {
        let w = ReplyWaiters::default();
        let mut rx = w.register("bad".into());
        let h = reply_header(sys_flag::COMPRESSED | (6 << 8), "bad");
        assert_eq!(push(&w, &h, b"x".to_vec()), ResponseCode::SYSTEM_ERROR);
        match rx.try_recv().unwrap().unwrap() {
            Err(RemotingError::MessageBody(b)) => {
                assert_eq!(b.source, CompressionError::UnknownType(6));
                assert_eq!(b.topic, "C_REPLY_TOPIC");
            }
            other => panic!("{other:?}"),
        }
    }
}
