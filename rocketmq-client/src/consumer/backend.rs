//! The seam between the consumers and the client core: every broker/NameServer call a consumer
//! makes goes through [`ConsumerBackend`], so the consumer logic (pull loops, rebalance, offset
//! store) can be exercised against an in-memory broker in unit tests.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::{
    ConsumeMessageDirectlyResult, ConsumerData, ConsumerRunningInfo, SubscriptionData,
};
use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::rt::{BoxFuture, Runtime};

use rocketmq_rs_remoting::protocol::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader,
};

use crate::error::{Error, Result};
pub use crate::message::{PopResult, PullResult, PullStatus};
use crate::message_queue::MessageQueue;

/// PullSysFlag bits (docs/protocol/pull.md §1).
pub(crate) mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const LITE_PULL: i32 = 0x10;
}

/// Arguments of one PULL_MESSAGE / LITE_PULL_MESSAGE.
#[derive(Debug, Clone)]
pub(crate) struct PullArgs {
    pub group: String,
    pub mq: MessageQueue,
    pub offset: i64,
    pub max_nums: i32,
    pub sys_flag: i32,
    pub commit_offset: i64,
    pub suspend_timeout: Duration,
    pub subscription: Option<String>,
    pub expression_type: Option<String>,
    pub sub_version: i64,
    /// Client-side deadline for the whole call (must exceed the suspend time).
    pub timeout: Duration,
}

/// A consumer group as registered in the client's heartbeat.
pub(crate) trait HeartbeatSource: Send + Sync + 'static {
    /// The group's current heartbeat entry.
    fn consumer_data(&self) -> ConsumerData;
}

/// Broker-initiated events routed to a consumer group.
pub(crate) trait ConsumerEvents: Send + Sync + 'static {
    /// NOTIFY_CONSUMER_IDS_CHANGED: rebalance now.
    fn rebalance_now(&self);

    /// RESET_CONSUMER_CLIENT_OFFSET: restart the listed owned queues of `topic` at the given
    /// offsets (queues not owned are ignored).
    fn reset_offset(&self, _topic: &str, _offsets: Vec<(MessageQueue, i64)>) {}

    /// GET_CONSUMER_RUNNING_INFO; `None` = not supported by this consumer kind.
    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        None
    }

    /// GET_CONSUMER_STATUS_FROM_CLIENT: this consumer's in-memory offsets of `topic` (empty
    /// for consumer kinds that do not answer it, as Java's lite pull consumer).
    fn consumer_status(&self, _topic: &str) -> BTreeMap<MessageQueue, i64> {
        BTreeMap::new()
    }

    /// CONSUME_MESSAGE_DIRECTLY; `None` = not supported by this consumer kind.
    fn consume_message_directly(
        &self,
        _msg: MessageExt,
        _broker_name: Option<String>,
    ) -> Option<BoxFuture<'static, ConsumeMessageDirectlyResult>> {
        None
    }
}

/// Every remote call the consumers make.
pub(crate) trait ConsumerBackend: Send + Sync + 'static {
    fn runtime(&self) -> Arc<dyn Runtime>;
    fn client_id(&self) -> String;
    /// Starts the shared client (connections, route refresh, heartbeat) if not running.
    fn start(&self) -> BoxFuture<'_, Result<()>>;
    /// Registers a consumer group for heartbeats and broker events; `false` if the group is
    /// already registered in this client.
    fn register_consumer(
        &self,
        group: &str,
        source: Arc<dyn HeartbeatSource>,
        events: Arc<dyn ConsumerEvents>,
    ) -> bool;
    /// Removes the group and sends UNREGISTER_CLIENT for it to every broker.
    fn unregister_consumer(&self, group: &str) -> BoxFuture<'_, ()>;
    /// Sends a heartbeat to every broker now.
    fn heartbeat_now(&self) -> BoxFuture<'_, ()>;
    /// Sends a heartbeat to every broker now; `Err(Error::AccessDenied)` when every broker
    /// reached refused it, one of them by its ACL.
    fn heartbeat_checked(&self) -> BoxFuture<'_, Result<()>>;
    /// Closes the shared client if nothing else uses it.
    fn close(&self) -> BoxFuture<'_, ()>;
    /// Test fault: stops the client's own background work (heartbeats, route refreshes) at
    /// once, unregistering nothing; with `close_connections` also drops every connection, as
    /// a killed process would. Only a client this consumer owns is touched.
    fn halt(&self, _close_connections: bool) {}
    /// Readable queues of a topic (from the route; refreshes it).
    fn subscribe_queues(&self, topic: &str) -> BoxFuture<'_, Result<Vec<MessageQueue>>>;
    /// CHECK_CLIENT_CONFIG of `group`'s subscription to `topic` on some broker of the topic
    /// (none known: nothing to check, as in Java).
    fn check_client_config(
        &self,
        group: &str,
        subscription: SubscriptionData,
    ) -> BoxFuture<'_, Result<()>>;
    /// GET_CONSUMER_LIST_BY_GROUP on some broker of `topic`.
    fn consumer_ids(&self, topic: &str, group: &str) -> BoxFuture<'_, Result<Vec<String>>>;
    fn pull(&self, args: PullArgs) -> BoxFuture<'_, Result<PullResult>>;
    /// [`pull`](Self::pull), also giving the response body the messages were decoded from (their
    /// stored records back to back), where the backend has one: the push consumer then slices
    /// each message's record out of it instead of copying the message for a possible retry.
    fn pull_with_body(&self, args: PullArgs) -> BoxFuture<'_, Result<(PullResult, Option<Bytes>)>> {
        Box::pin(async move { self.pull(args).await.map(|r| (r, None)) })
    }
    /// QUERY_CONSUMER_OFFSET: `Ok(None)` = the broker has no offset (QUERY_NOT_FOUND).
    fn query_offset(&self, group: &str, mq: &MessageQueue) -> BoxFuture<'_, Result<Option<i64>>>;
    /// UPDATE_CONSUMER_OFFSET, oneway or acknowledged.
    fn update_offset(
        &self,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
        oneway: bool,
    ) -> BoxFuture<'_, Result<()>>;
    fn max_offset(&self, mq: &MessageQueue) -> BoxFuture<'_, Result<i64>>;
    fn min_offset(&self, mq: &MessageQueue) -> BoxFuture<'_, Result<i64>>;
    fn search_offset(&self, mq: &MessageQueue, timestamp_ms: i64) -> BoxFuture<'_, Result<i64>>;
    /// LOCK_BATCH_MQ on the master of `broker_name`: the subset now locked by this client.
    fn lock_batch(
        &self,
        broker_name: &str,
        group: &str,
        mqs: Vec<MessageQueue>,
    ) -> BoxFuture<'_, Result<HashSet<MessageQueue>>>;
    fn unlock_batch(
        &self,
        broker_name: &str,
        group: &str,
        mqs: Vec<MessageQueue>,
        oneway: bool,
    ) -> BoxFuture<'_, Result<()>>;
    /// The fallback when CONSUMER_SEND_MSG_BACK failed (docs/protocol/retry.md §2): sends a copy of `msg`
    /// to `%RETRY%<group>` through an inner producer, with `RETRY_TOPIC`, `ORIGIN_MESSAGE_ID`,
    /// `RECONSUME_TIME`, `MAX_RECONSUME_TIMES` and `DELAY` set.
    fn send_retry_fallback(
        &self,
        group: &str,
        msg: &MessageExt,
        max_reconsume_times: i32,
    ) -> BoxFuture<'_, Result<()>>;
    /// POP_MESSAGE to the master of `broker_name` (`timeout` covers the long poll).
    fn pop(
        &self,
        broker_name: &str,
        header: PopMessageRequestHeader,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<PopResult>> {
        let _ = (broker_name, header, timeout);
        Box::pin(async { Err(Error::Config("this backend cannot POP".into())) })
    }
    /// ACK_MESSAGE to the master of `broker_name`.
    fn ack(&self, broker_name: &str, header: AckMessageRequestHeader) -> BoxFuture<'_, Result<()>> {
        let _ = (broker_name, header);
        Box::pin(async { Err(Error::Config("this backend cannot POP".into())) })
    }
    /// BATCH_ACK_MESSAGE to the master of `broker_name` (`topic` finds its route).
    fn batch_ack(
        &self,
        broker_name: &str,
        topic: &str,
        body: rocketmq_rs_remoting::protocol::pop::BatchAckMessageRequestBody,
    ) -> BoxFuture<'_, Result<()>> {
        let _ = (broker_name, topic, body);
        Box::pin(async { Err(Error::Config("this backend cannot POP".into())) })
    }
    /// CHANGE_MESSAGE_INVISIBLETIME to the master of `broker_name`.
    fn change_invisible(
        &self,
        broker_name: &str,
        header: ChangeInvisibleTimeRequestHeader,
    ) -> BoxFuture<'_, Result<ChangeInvisibleTimeResponseHeader>> {
        let _ = (broker_name, header);
        Box::pin(async { Err(Error::Config("this backend cannot POP".into())) })
    }
    /// QUERY_ASSIGNMENT on some broker of `topic`: this client's queues and their consume
    /// mode; `Ok(None)` when the broker has no valid answer.
    fn query_assignment(
        &self,
        topic: &str,
        group: &str,
        strategy: &str,
        model: crate::consumer::MessageModel,
    ) -> BoxFuture<
        '_,
        Result<Option<Vec<rocketmq_rs_remoting::protocol::body::MessageQueueAssignment>>>,
    > {
        let _ = (topic, group, strategy, model);
        Box::pin(async {
            Err(Error::Config(
                "this backend cannot query assignments".into(),
            ))
        })
    }
    /// CONSUMER_SEND_MSG_BACK to the master of `broker_name`.
    fn send_back(
        &self,
        broker_name: &str,
        group: &str,
        msg: &MessageExt,
        delay_level: i32,
        max_reconsume_times: i32,
    ) -> BoxFuture<'_, Result<()>>;
}
