//! [`ConsumerBackend`] over the real client core ([`ClientInstance`] and its RPCs).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::{
    CheckClientRequestBody, ConsumeMessageDirectlyResult, ConsumerData, ConsumerRunningInfo,
    SubscriptionData,
};
use rocketmq_rs_remoting::protocol::header::{
    AckMessageRequestHeader, BoundaryType, ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader, ConsumerSendMsgBackRequestHeader, PopMessageRequestHeader,
    PullMessageRequestHeader, QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::rt::{BoxFuture, Runtime};
use rocketmq_rs_remoting::util::MutexExt;

use crate::client::{ClientInstance, ConsumerHandle};
use crate::config::ClientConfig;
use crate::consumer::backend::{
    pull_flag, ConsumerBackend, ConsumerEvents, HeartbeatSource, PopResult, PullArgs, PullResult,
};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::message_queue::MessageQueue;
use crate::producer::Producer;
use crate::util::namespace::retry_topic;

/// Java's timeouts for offset calls and send-back (docs/protocol/heartbeat.md §7).
const OFFSET_TIMEOUT: Duration = Duration::from_secs(5);
const SEND_BACK_TIMEOUT: Duration = Duration::from_secs(5);
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// Java's timeout of ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME (3 s).
const POP_ACK_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) struct ClientBackend {
    instance: ClientInstance,
    /// Whether this consumer created the instance (and so shuts it down).
    owned: bool,
    /// The inner producer of the send-back fallback, started on first use.
    retry_producer: futures::lock::Mutex<Option<Producer>>,
    /// Broker id each queue's broker suggested pulling from next (Java
    /// `pullFromWhichNodeTable`); absent = master.
    pull_from: std::sync::Mutex<std::collections::HashMap<MessageQueue, i64>>,
}

/// Java's producer group for client-internal sends (send-back fallback).
const INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";

/// A backend on a new client instance owned by the consumer.
pub(crate) fn new_backend(cfg: &ClientConfig) -> Result<Arc<dyn ConsumerBackend>> {
    Ok(Arc::new(ClientBackend {
        instance: ClientInstance::new(cfg.clone())?,
        owned: true,
        retry_producer: futures::lock::Mutex::new(None),
        pull_from: Default::default(),
    }))
}

/// What a consumer builder ends with: the backend it was given (a shared client instance, a test
/// fake), else one on a new client instance for `cfg`, validated first.
pub(crate) fn given_or_new(
    given: Option<Arc<dyn ConsumerBackend>>,
    cfg: &ClientConfig,
) -> Result<Arc<dyn ConsumerBackend>> {
    match given {
        Some(backend) => Ok(backend),
        None => {
            cfg.validate()?;
            new_backend(cfg)
        }
    }
}

/// A backend on a shared client instance (not shut down by the consumer).
pub(crate) fn shared_backend(instance: ClientInstance) -> Arc<dyn ConsumerBackend> {
    Arc::new(ClientBackend {
        instance,
        owned: false,
        retry_producer: futures::lock::Mutex::new(None),
        pull_from: Default::default(),
    })
}

struct Handle {
    group: String,
    source: Arc<dyn HeartbeatSource>,
    events: Arc<dyn ConsumerEvents>,
}

impl ConsumerHandle for Handle {
    fn group(&self) -> &str {
        &self.group
    }

    fn consumer_data(&self) -> ConsumerData {
        self.source.consumer_data()
    }

    fn on_consumer_ids_changed(&self) {
        self.events.rebalance_now();
    }

    fn on_route_changed(&self, _topic: &str) {
        self.events.rebalance_now();
    }

    fn reset_offset(&self, topic: &str, offsets: Vec<(MessageQueue, i64)>) {
        self.events.reset_offset(topic, offsets);
    }

    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        self.events.running_info()
    }

    fn consumer_status(&self, topic: &str) -> BTreeMap<MessageQueue, i64> {
        self.events.consumer_status(topic)
    }

    fn consume_message_directly(
        &self,
        msg: MessageExt,
        broker_name: Option<String>,
    ) -> Option<BoxFuture<'static, ConsumeMessageDirectlyResult>> {
        self.events.consume_message_directly(msg, broker_name)
    }
}

impl ClientBackend {
    async fn master(&self, broker_name: &str, topic: &str) -> Result<String> {
        self.instance.master_addr_or_fetch(broker_name, topic).await
    }

    /// Java `findBrokerAddressInSubscribe`: broker `id` of `broker_name`, else its master,
    /// else (after one route refresh) any broker of that name — a slave while the master is
    /// down, which serves pulls and offset queries from its copy. `(address, is_slave)`.
    async fn subscribe_addr(
        &self,
        broker_name: &str,
        id: i64,
        topic: &str,
    ) -> Result<(String, bool)> {
        if let Some(found) = self.instance.broker_addr(broker_name, id) {
            return Ok(found);
        }
        self.instance.update_topic_route(topic).await?;
        self.instance
            .broker_addr(broker_name, id)
            .ok_or_else(|| Error::RouteNotFound {
                topic: topic.to_owned(),
                detail: format!("broker {broker_name:?} has no address"),
            })
    }

    fn rpc_timeout(&self) -> Duration {
        self.instance.config().rpc_timeout
    }

    /// The started inner producer. Its group is Java's `CLIENT_INNER_PRODUCER`, or a numbered
    /// variant when another consumer of this client instance registered that name first.
    async fn retry_producer(&self) -> Result<Producer> {
        let mut slot = self.retry_producer.lock().await;
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let mut last_err = None;
        for i in 0..8 {
            let group = if i == 0 {
                INNER_PRODUCER_GROUP.to_owned()
            } else {
                format!("{INNER_PRODUCER_GROUP}_{i}")
            };
            let p = Producer::builder()
                .client_instance(self.instance.clone())
                .group(group)
                .build()?;
            match p.start().await {
                Ok(()) => {
                    *slot = Some(p.clone());
                    return Ok(p);
                }
                Err(e @ Error::Config(_)) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Config("no inner producer group available".into())))
    }
}

impl ConsumerBackend for ClientBackend {
    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::clone(self.instance.runtime())
    }

    fn client_id(&self) -> String {
        self.instance.client_id().to_owned()
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.instance.start() })
    }

    fn register_consumer(
        &self,
        group: &str,
        source: Arc<dyn HeartbeatSource>,
        events: Arc<dyn ConsumerEvents>,
    ) -> bool {
        self.instance
            .register_consumer(Arc::new(Handle {
                group: group.to_owned(),
                source,
                events,
            }))
            .is_ok()
    }

    fn unregister_consumer(&self, group: &str) -> BoxFuture<'_, ()> {
        let group = group.to_owned();
        Box::pin(async move { self.instance.unregister_consumer(&group).await })
    }

    fn heartbeat_now(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.instance.send_heartbeat_to_all_brokers().await;
        })
    }

    fn heartbeat_checked(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.instance.heartbeat_checked().await.map(drop) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(p) = self.retry_producer.lock().await.take() {
                p.shutdown().await;
            }
            if self.owned {
                self.instance.shutdown().await;
            }
        })
    }

    fn halt(&self, close_connections: bool) {
        if self.owned {
            self.instance.halt(close_connections);
        }
    }

    fn subscribe_queues(&self, topic: &str) -> BoxFuture<'_, Result<Vec<MessageQueue>>> {
        let topic = topic.to_owned();
        Box::pin(async move {
            Ok(self
                .instance
                .subscribe_queues(&topic)
                .await?
                .as_ref()
                .clone())
        })
    }

    fn check_client_config(
        &self,
        group: &str,
        subscription: SubscriptionData,
    ) -> BoxFuture<'_, Result<()>> {
        let group = group.to_owned();
        Box::pin(async move {
            let topic = subscription.topic.clone();
            if self.instance.any_master_of_topic(&topic).is_none() {
                // No route yet is not a refusal: Java skips the check then.
                let _ = self.instance.update_topic_route(&topic).await;
            }
            let Some(addr) = self.instance.any_master_of_topic(&topic) else {
                return Ok(());
            };
            let body = CheckClientRequestBody {
                client_id: self.client_id(),
                group,
                subscription_data: Some(subscription),
            };
            self.instance
                .api()
                .check_client_config(&addr, &body, self.rpc_timeout())
                .await
        })
    }

    fn consumer_ids(&self, topic: &str, group: &str) -> BoxFuture<'_, Result<Vec<String>>> {
        let (topic, group) = (topic.to_owned(), group.to_owned());
        Box::pin(async move {
            let addr = match self.instance.any_master_of_topic(&topic) {
                Some(a) => a,
                None => {
                    self.instance.update_topic_route(&topic).await?;
                    self.instance.any_master_of_topic(&topic).ok_or_else(|| {
                        Error::RouteNotFound {
                            topic: topic.clone(),
                            detail: "no broker in the route".into(),
                        }
                    })?
                }
            };
            self.instance
                .api()
                .get_consumer_id_list(&addr, &group, self.rpc_timeout())
                .await
        })
    }

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
        let body = rocketmq_rs_remoting::protocol::body::QueryAssignmentRequestBody {
            topic: topic.to_owned(),
            consumer_group: group.to_owned(),
            client_id: self.client_id(),
            strategy_name: strategy.to_owned(),
            message_model: model.wire(),
        };
        Box::pin(async move {
            let addr = match self.instance.any_master_of_topic(&body.topic) {
                Some(a) => a,
                None => {
                    self.instance.update_topic_route(&body.topic).await?;
                    self.instance
                        .any_master_of_topic(&body.topic)
                        .ok_or_else(|| Error::RouteNotFound {
                            topic: body.topic.clone(),
                            detail: "no broker in the route".into(),
                        })?
                }
            };
            self.instance
                .api()
                .query_assignment(&addr, &body, self.rpc_timeout())
                .await
        })
    }

    fn pull(&self, a: PullArgs) -> BoxFuture<'_, Result<PullResult>> {
        Box::pin(async move { self.pull_with_body(a).await.map(|(r, _)| r) })
    }

    fn pull_with_body(&self, a: PullArgs) -> BoxFuture<'_, Result<(PullResult, Option<Bytes>)>> {
        Box::pin(async move {
            let id = self
                .pull_from
                .lock_unpoisoned()
                .get(&a.mq)
                .copied()
                .unwrap_or(0);
            let (addr, is_slave) = self
                .subscribe_addr(&a.mq.broker_name, id, &a.mq.topic)
                .await?;
            // A slave does not take committed offsets (Java clears the flag too).
            let sys_flag = if is_slave {
                a.sys_flag & !pull_flag::COMMIT_OFFSET
            } else {
                a.sys_flag
            };
            let header = PullMessageRequestHeader {
                consumer_group: a.group,
                topic: a.mq.topic.clone(),
                queue_id: a.mq.queue_id,
                queue_offset: a.offset,
                max_msg_nums: a.max_nums,
                sys_flag,
                commit_offset: a.commit_offset,
                suspend_timeout_millis: a.suspend_timeout.as_millis() as i64,
                subscription: a.subscription,
                sub_version: a.sub_version,
                expression_type: a.expression_type,
                max_msg_bytes: None,
                request_source: None,
                proxy_froward_client_id: None,
                bname: Some(a.mq.broker_name.clone()),
            };
            let lite = a.sys_flag & pull_flag::LITE_PULL != 0;
            let r = match self
                .instance
                .api()
                .pull_message_with_body(&addr, &header, lite, a.timeout)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    // Back to the master (or whatever is left) next time.
                    self.pull_from.lock_unpoisoned().remove(&a.mq);
                    return Err(e);
                }
            };
            let (r, body) = r;
            {
                let mut t = self.pull_from.lock_unpoisoned();
                if r.suggest_which_broker_id == 0 {
                    t.remove(&a.mq);
                } else {
                    t.insert(a.mq.clone(), r.suggest_which_broker_id);
                }
            }
            Ok((r, Some(body)))
        })
    }

    fn query_offset(&self, group: &str, mq: &MessageQueue) -> BoxFuture<'_, Result<Option<i64>>> {
        let (group, mq) = (group.to_owned(), mq.clone());
        Box::pin(async move {
            let addr = self.subscribe_addr(&mq.broker_name, 0, &mq.topic).await?.0;
            let header = QueryConsumerOffsetRequestHeader {
                consumer_group: group,
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                set_zero_if_not_found: None,
                bname: Some(mq.broker_name.clone()),
            };
            self.instance
                .api()
                .query_consumer_offset(&addr, &header, OFFSET_TIMEOUT)
                .await
        })
    }

    fn update_offset(
        &self,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
        oneway: bool,
    ) -> BoxFuture<'_, Result<()>> {
        let (group, mq) = (group.to_owned(), mq.clone());
        Box::pin(async move {
            let addr = self.subscribe_addr(&mq.broker_name, 0, &mq.topic).await?.0;
            let header = UpdateConsumerOffsetRequestHeader {
                consumer_group: group,
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                commit_offset: offset,
                bname: Some(mq.broker_name.clone()),
            };
            let api = self.instance.api();
            if oneway {
                api.update_consumer_offset_oneway(&addr, &header, OFFSET_TIMEOUT)
                    .await
            } else {
                api.update_consumer_offset(&addr, &header, OFFSET_TIMEOUT)
                    .await
            }
        })
    }

    fn max_offset(&self, mq: &MessageQueue) -> BoxFuture<'_, Result<i64>> {
        let mq = mq.clone();
        Box::pin(async move {
            let addr = self.master(&mq.broker_name, &mq.topic).await?;
            self.instance
                .api()
                .get_max_offset(&addr, &mq, self.rpc_timeout())
                .await
        })
    }

    fn min_offset(&self, mq: &MessageQueue) -> BoxFuture<'_, Result<i64>> {
        let mq = mq.clone();
        Box::pin(async move {
            let addr = self.master(&mq.broker_name, &mq.topic).await?;
            self.instance
                .api()
                .get_min_offset(&addr, &mq, self.rpc_timeout())
                .await
        })
    }

    fn search_offset(&self, mq: &MessageQueue, timestamp_ms: i64) -> BoxFuture<'_, Result<i64>> {
        let mq = mq.clone();
        Box::pin(async move {
            let addr = self.master(&mq.broker_name, &mq.topic).await?;
            self.instance
                .api()
                .search_offset_by_timestamp(
                    &addr,
                    &mq,
                    timestamp_ms,
                    BoundaryType::Lower,
                    self.rpc_timeout(),
                )
                .await
        })
    }

    fn lock_batch(
        &self,
        broker_name: &str,
        group: &str,
        mqs: Vec<MessageQueue>,
    ) -> BoxFuture<'_, Result<HashSet<MessageQueue>>> {
        let (broker_name, group) = (broker_name.to_owned(), group.to_owned());
        Box::pin(async move {
            let Some(first) = mqs.first() else {
                return Ok(HashSet::new());
            };
            let addr = self.master(&broker_name, &first.topic).await?;
            let got = self
                .instance
                .api()
                .lock_batch_mq(&addr, &group, self.instance.client_id(), &mqs, LOCK_TIMEOUT)
                .await?;
            Ok(got.into_iter().collect())
        })
    }

    fn unlock_batch(
        &self,
        broker_name: &str,
        group: &str,
        mqs: Vec<MessageQueue>,
        oneway: bool,
    ) -> BoxFuture<'_, Result<()>> {
        let (broker_name, group) = (broker_name.to_owned(), group.to_owned());
        Box::pin(async move {
            let Some(first) = mqs.first() else {
                return Ok(());
            };
            let addr = self.master(&broker_name, &first.topic).await?;
            self.instance
                .api()
                .unlock_batch_mq(
                    &addr,
                    &group,
                    self.instance.client_id(),
                    &mqs,
                    oneway,
                    LOCK_TIMEOUT,
                )
                .await
        })
    }

    fn send_retry_fallback(
        &self,
        group: &str,
        msg: &MessageExt,
        max_reconsume_times: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let mut copy = Message::new(retry_topic(group), msg.body.clone());
        copy.flag = msg.flag;
        copy.properties = msg.properties.clone();
        let origin_topic = msg.retry_topic().unwrap_or(&msg.topic).to_owned();
        copy.properties.insert(property::RETRY_TOPIC, origin_topic);
        let origin_id = msg
            .property(property::ORIGIN_MESSAGE_ID)
            .map(str::to_owned)
            .unwrap_or_else(|| msg.msg_id.clone());
        copy.properties
            .insert(property::ORIGIN_MESSAGE_ID, origin_id);
        copy.properties.remove(property::TRANSACTION_PREPARED);
        copy.properties.insert(
            property::RECONSUME_TIME,
            (msg.reconsume_times + 1).to_string(),
        );
        copy.properties.insert(
            property::MAX_RECONSUME_TIMES,
            max_reconsume_times.to_string(),
        );
        copy.properties
            .insert(property::DELAY, (3 + msg.reconsume_times).to_string());
        Box::pin(async move {
            let producer = self.retry_producer().await?;
            producer.send(copy).await.map(|_| ())
        })
    }

    fn pop(
        &self,
        broker_name: &str,
        header: PopMessageRequestHeader,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<PopResult>> {
        let broker_name = broker_name.to_owned();
        Box::pin(async move {
            let addr = self.master(&broker_name, &header.topic).await?;
            self.instance
                .api()
                .pop_message(&addr, &broker_name, &header, timeout)
                .await
        })
    }

    fn ack(&self, broker_name: &str, header: AckMessageRequestHeader) -> BoxFuture<'_, Result<()>> {
        let broker_name = broker_name.to_owned();
        Box::pin(async move {
            let addr = self.master(&broker_name, &header.topic).await?;
            self.instance
                .api()
                .ack_message(&addr, &header, POP_ACK_TIMEOUT)
                .await
        })
    }

    fn batch_ack(
        &self,
        broker_name: &str,
        topic: &str,
        body: rocketmq_rs_remoting::protocol::pop::BatchAckMessageRequestBody,
    ) -> BoxFuture<'_, Result<()>> {
        let (broker_name, topic) = (broker_name.to_owned(), topic.to_owned());
        Box::pin(async move {
            let addr = self.master(&broker_name, &topic).await?;
            self.instance
                .api()
                .batch_ack_message(&addr, &body, POP_ACK_TIMEOUT)
                .await
        })
    }

    fn change_invisible(
        &self,
        broker_name: &str,
        header: ChangeInvisibleTimeRequestHeader,
    ) -> BoxFuture<'_, Result<ChangeInvisibleTimeResponseHeader>> {
        let broker_name = broker_name.to_owned();
        Box::pin(async move {
            let addr = self.master(&broker_name, &header.topic).await?;
            self.instance
                .api()
                .change_invisible_time(&addr, &header, POP_ACK_TIMEOUT)
                .await
        })
    }

    fn send_back(
        &self,
        broker_name: &str,
        group: &str,
        msg: &MessageExt,
        delay_level: i32,
        max_reconsume_times: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let broker_name = broker_name.to_owned();
        let header = ConsumerSendMsgBackRequestHeader {
            offset: msg.commit_log_offset,
            group: group.to_owned(),
            delay_level,
            origin_msg_id: Some(msg.client_msg_id().to_owned()),
            origin_topic: Some(msg.retry_topic().unwrap_or(&msg.topic).to_owned()),
            unit_mode: false,
            max_reconsume_times: Some(max_reconsume_times),
            bname: Some(broker_name.clone()),
        };
        let (topic, store_host) = (msg.topic.clone(), msg.store_host);
        Box::pin(async move {
            // Java: the master of the broker the message came from, else its store host.
            let addr = match self.master(&broker_name, &topic).await {
                Ok(a) => a,
                Err(_) => store_host.to_string(),
            };
            self.instance
                .api()
                .consumer_send_msg_back(&addr, &header, SEND_BACK_TIMEOUT)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::PullConsumer;
    use rocketmq_rs_remoting::rt::TokioRuntime;

    /// The send-back fallback against the mini broker: the copy lands in `%RETRY%<group>`
    /// (after the `DELAY` level) with the retry properties, and goes to `%DLQ%<group>` once
    /// its reconsume count passes the maximum.
    #[test]
    fn retry_fallback_reaches_retry_topic_then_dlq() {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        tokio.block_on(async {
            let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
            let cluster = rocketmq_rs_mini_broker::embedded::EmbeddedCluster::builder()
                .configure(|c| c.message_delay_level = "50ms 50ms 50ms 50ms 50ms 50ms".into())
                .topic("FbTopic", 1)
                // As a consumer's first heartbeat (or send-back) would have created it.
                .topic("%RETRY%fb_group", 1)
                .start(rt.clone())
                .await
                .unwrap();
            let mut cfg = ClientConfig::with_name_server(&cluster.namesrv_addr());
            cfg.runtime = Some(rt.clone());
            let instance = ClientInstance::new(cfg.clone()).unwrap();
            instance.start().unwrap();
            let backend = shared_backend(instance.clone());

            let mut m = MessageExt::new("FbTopic", "payload");
            m.msg_id = "0A0000000000000000000000000000AB".into();
            m.properties
                .insert(property::UNIQ_KEY, "0A00000000000000000000000000CAFE");
            backend
                .send_retry_fallback("fb_group", &m, 2)
                .await
                .unwrap();

            let puller = PullConsumer::builder()
                .client_instance(instance.clone())
                .group("fb_reader")
                .build()
                .unwrap();
            puller.start().await.unwrap();
            let retry = MessageQueue::new("%RETRY%fb_group", "broker-a", 0);
            let start = std::time::Instant::now();
            let mut last;
            let got = loop {
                match puller.pull(&retry, "*", 0, 8).await {
                    Ok(r) => {
                        if let Some(m) = r.messages.into_iter().next() {
                            break m;
                        }
                        last = format!("{:?}", r.status);
                    }
                    Err(e) => last = e.to_string(),
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "no retry message: {last}"
                );
                rt.sleep(Duration::from_millis(50)).await;
            };
            assert_eq!(got.reconsume_times, 1);
            assert_eq!(got.property(property::RETRY_TOPIC), Some("FbTopic"));
            assert_eq!(
                got.property(property::ORIGIN_MESSAGE_ID),
                Some("0A0000000000000000000000000000AB")
            );
            assert_eq!(
                got.property(property::UNIQ_KEY),
                Some("0A00000000000000000000000000CAFE"),
                "the message keeps its id"
            );
            assert_eq!(&got.body[..], b"payload");

            // Out of attempts: the broker routes the copy to the DLQ.
            let mut last = got.clone();
            last.reconsume_times = 2;
            backend
                .send_retry_fallback("fb_group", &last, 2)
                .await
                .unwrap();
            let dlq = MessageQueue::new("%DLQ%fb_group", "broker-a", 0);
            let start = std::time::Instant::now();
            loop {
                if let Ok(r) = puller.pull(&dlq, "*", 0, 8).await {
                    if !r.messages.is_empty() {
                        break;
                    }
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "nothing in the DLQ"
                );
                rt.sleep(Duration::from_millis(50)).await;
            }
            puller.shutdown().await;
            backend.close().await;
            instance.shutdown().await;
            cluster.shutdown().await;
        });
    }
}
