//! The broker → client admin relays on the wire: this crate's push consumer registered with a
//! real (in-process) mini-broker, each relay triggered by a raw admin request as `mqadmin`
//! sends it, the client's answer checked as the admin receives it (docs/protocol/admin.md §3,
//! §4, §11, §12): GET_CONSUMER_RUNNING_INFO (307), CONSUME_MESSAGE_DIRECTLY (309),
//! INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223 → 221) and INVOKE_BROKER_TO_RESET_OFFSET (222 →
//! 220), the last while the consumer runs: it jumps back and reads everything again.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{until_async, Env as Base, BROKER};
use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, PushConsumer,
};
use rocketmq_rs_remoting::protocol::body::{
    CMResult, ConsumeMessageDirectlyResult, ConsumeStatus, ConsumerRunningInfo,
    GetConsumerListByGroupResponseBody, GetConsumerStatusBody, JsonBody, MessageQueue,
    ResetOffsetBody,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerListByGroupRequestHeader,
    GetConsumerRunningInfoRequestHeader, GetConsumerStatusRequestHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, ResetOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

const TOPIC: &str = "RelayTopic";
const GROUP: &str = "relay_cg";
const QUEUES: i32 = 4;
/// The admin's own wait, as `mqadmin`'s (5 s); the broker waits 10 s on the client.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

type Bodies = Arc<Mutex<Vec<String>>>;

/// The shared test cluster plus an admin connection to its broker.
struct Env {
    base: Base,
    admin: RemotingClient,
    broker: String,
}

impl std::ops::Deref for Env {
    type Target = Base;

    fn deref(&self) -> &Base {
        &self.base
    }
}

impl Env {
    async fn start() -> Env {
        let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().expect("inside tokio"));
        let base = Base::start(&rt, "relay_pg", &[(TOPIC, QUEUES)]).await;
        let broker = base.broker().addr().to_string();
        let admin = RemotingClient::new(rt, TransportConfig::default());
        Env {
            base,
            admin,
            broker,
        }
    }

    fn consumer(&self, bodies: Bodies) -> PushConsumer {
        let client = self.client();
        let cfg = {
            let mut c = PushConsumerConfig::default();
            c.group = GROUP.to_owned();
            c.consume_from_where = ConsumeFromWhere::FirstOffset;
            c.long_polling_timeout = Duration::from_secs(2);
            c.rebalance_join_grace = Duration::from_millis(300);
            c
        };
        PushConsumer::builder()
            .client_config(client)
            .config(cfg)
            .subscribe(TOPIC, "*")
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let bodies = bodies.clone();
                async move {
                    for m in &msgs {
                        bodies
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&m.body).into_owned());
                    }
                    ConsumeResult::Success
                }
            })
            .build()
            .unwrap()
    }

    /// Sends `n` messages; returns their offset message ids.
    async fn send(&self, prefix: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let r = self
                .producer
                .send(Message::new(TOPIC, format!("{prefix}{i}")))
                .await
                .expect("send");
            ids.push(r.offset_msg_id);
        }
        ids
    }

    async fn call(&self, cmd: RemotingCommand) -> RemotingCommand {
        self.admin
            .invoke(&self.broker, cmd, ADMIN_TIMEOUT)
            .await
            .expect("broker answers")
    }

    async fn client_ids(&self) -> Vec<String> {
        let r = self
            .call(
                RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP).with_header(
                    &GetConsumerListByGroupRequestHeader {
                        consumer_group: GROUP.into(),
                        bname: None,
                    },
                ),
            )
            .await;
        if r.code != ResponseCode::SUCCESS {
            return Vec::new();
        }
        GetConsumerListByGroupResponseBody::from_json(&r.body)
            .unwrap()
            .consumer_id_list
    }

    /// The group's committed offset of each queue on the broker (-1: none).
    async fn committed(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for q in 0..QUEUES {
            let r = self
                .call(
                    RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
                        &QueryConsumerOffsetRequestHeader {
                            consumer_group: GROUP.into(),
                            topic: TOPIC.into(),
                            queue_id: q,
                            set_zero_if_not_found: Some(false),
                            bname: None,
                        },
                    ),
                )
                .await;
            out.push(if r.code == ResponseCode::SUCCESS {
                r.decode_header::<QueryConsumerOffsetResponseHeader>()
                    .unwrap()
                    .offset
            } else {
                -1
            });
        }
        out
    }

    fn max_offsets(&self) -> Vec<i64> {
        let store = self.cluster.broker(BROKER).unwrap().store();
        (0..QUEUES).map(|q| store.max_offset(TOPIC, q)).collect()
    }

    async fn reset(
        &self,
        group: &str,
        topic: &str,
        timestamp: i64,
        force: bool,
    ) -> RemotingCommand {
        self.call(
            RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET).with_header(
                &ResetOffsetRequestHeader {
                    group: group.into(),
                    topic: topic.into(),
                    queue_id: -1,
                    offset: Some(-1),
                    timestamp,
                    is_force: force,
                    bname: None,
                },
            ),
        )
        .await
    }

    async fn stop(self) {
        self.admin.shutdown();
        self.base.stop().await;
    }
}

fn running_info_request(client_id: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: GROUP.into(),
            client_id: client_id.into(),
            jstack_enable: false,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_reach_a_running_push_consumer() {
    let env = Env::start().await;
    let first = env.send("first-", 20).await;
    let bodies: Bodies = Arc::default();
    let consumer = env.consumer(bodies.clone());
    consumer.start().await.expect("consumer starts");

    until_async(
        &env.cluster,
        "the consumer registered",
        Duration::from_secs(20),
        || {
            let ids = env.client_ids();
            async { !ids.await.is_empty() }
        },
    )
    .await;
    let client_id = env.client_ids().await.remove(0);
    let b = bodies.clone();
    until_async(
        &env.cluster,
        "20 messages consumed",
        Duration::from_secs(30),
        || {
            let n = b.lock().unwrap().len();
            async move { n >= 20 }
        },
    )
    .await;
    let max = env.max_offsets();
    until_async(
        &env.cluster,
        "offsets committed",
        Duration::from_secs(20),
        || {
            let c = env.committed();
            let max = max.clone();
            async move { c.await == max }
        },
    )
    .await;

    // 307: the client's ConsumerRunningInfo, relayed unchanged.
    let r = env.call(running_info_request(&client_id)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let info = ConsumerRunningInfo::from_json(&r.body).expect("ConsumerRunningInfo body");
    assert_eq!(
        info.properties[ConsumerRunningInfo::PROP_CONSUME_TYPE],
        "CONSUME_PASSIVELY"
    );
    assert!(info.subscription_set.iter().any(|s| s.topic == TOPIC));
    assert_eq!(
        info.properties["consumeFromWhere"],
        "CONSUME_FROM_FIRST_OFFSET"
    );
    assert_eq!(info.properties["messageModel"], "CLUSTERING");
    let owned: Vec<i32> = info
        .mq_table
        .keys()
        .filter(|mq| mq.topic == TOPIC)
        .map(|mq| mq.queue_id)
        .collect();
    assert_eq!(
        owned,
        vec![0, 1, 2, 3],
        "the only consumer owns every queue"
    );
    for (mq, pq) in &info.mq_table {
        if mq.topic == TOPIC {
            assert_eq!(pq.commit_offset, max[mq.queue_id as usize], "{mq:?}");
        }
    }

    // The statusTable (Java ConsumerStatsManager): one row per subscribed topic. The 20
    // messages were pulled and consumed OK; once a 10 s sample has been taken, the minute
    // window holds all of them over a span of 10 s times the samples taken (zero baseline
    // included, 7 samples at most), so the rates are 20 / (10 k) for some k in 1..=6.
    let found: Arc<Mutex<Option<ConsumeStatus>>> = Arc::default();
    until_async(
        &env.cluster,
        "a statusTable row with consume TPS",
        Duration::from_secs(25),
        || {
            let r = env.call(running_info_request(&client_id));
            let found = found.clone();
            async move {
                let r = r.await;
                let info = ConsumerRunningInfo::from_json(&r.body).expect("body");
                assert!(
                    info.status_table.contains_key(&format!("%RETRY%{GROUP}")),
                    "{:?}",
                    info.status_table
                );
                let row = info
                    .status_table
                    .get(TOPIC)
                    .filter(|s| s.consume_ok_tps > 0.0)
                    .cloned();
                let hit = row.is_some();
                *found.lock().unwrap() = row;
                hit
            }
        },
    )
    .await;
    let row = found.lock().unwrap().clone().expect("row");
    let twenty_over_some_span =
        |tps: f64| (1..=6).any(|k| (tps - 20.0 / (10.0 * k as f64)).abs() < 1e-9);
    assert!(twenty_over_some_span(row.consume_ok_tps), "{row:?}");
    assert!(twenty_over_some_span(row.pull_tps), "{row:?}");
    assert_eq!(row.consume_failed_tps, 0.0, "{row:?}");
    assert_eq!(row.consume_failed_msgs, 0, "{row:?}");
    assert!(row.pull_rt >= 0.0 && row.consume_rt >= 0.0, "{row:?}");

    // 307 to a client id the group does not have: Java's remark, no relay.
    let r = env.call(running_info_request("127.0.0.1@nobody")).await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <relay_cg> <127.0.0.1@nobody> not online")
    );

    // 309: the stored message goes to the listener once more; the result comes back.
    let before = bodies.lock().unwrap().len();
    let r = env
        .call(
            RemotingCommand::request(RequestCode::CONSUME_MESSAGE_DIRECTLY).with_header(
                &ConsumeMessageDirectlyResultRequestHeader {
                    consumer_group: GROUP.into(),
                    client_id: Some(client_id.clone()),
                    msg_id: Some(first[7].clone()),
                    broker_name: None,
                    topic: Some(TOPIC.into()),
                    topic_sys_flag: None,
                    group_sys_flag: None,
                },
            ),
        )
        .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let result = ConsumeMessageDirectlyResult::from_json(&r.body).unwrap();
    assert_eq!(result.consume_result, Some(CMResult::Success));
    assert!(!result.order);
    {
        let b = bodies.lock().unwrap();
        assert_eq!(b.len(), before + 1);
        assert_eq!(b.last().map(String::as_str), Some("first-7"));
    }

    // 309 with a msgId that is not an offset id: refused by the broker.
    let r = env
        .call(
            RemotingCommand::request(RequestCode::CONSUME_MESSAGE_DIRECTLY).with_header(
                &ConsumeMessageDirectlyResultRequestHeader {
                    consumer_group: GROUP.into(),
                    client_id: Some(client_id.clone()),
                    msg_id: Some("not-an-id".into()),
                    broker_name: None,
                    topic: None,
                    topic_sys_flag: None,
                    group_sys_flag: None,
                },
            ),
        )
        .await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);

    // 223 → 221: the client's in-memory offsets, by client id.
    let r = env
        .call(
            RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS)
                .with_header(&GetConsumerStatusRequestHeader {
                    topic: TOPIC.into(),
                    group: GROUP.into(),
                    client_addr: None,
                }),
        )
        .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let status = GetConsumerStatusBody::from_json(&r.body).unwrap();
    let expected: BTreeMap<MessageQueue, i64> = (0..QUEUES)
        .map(|q| (MessageQueue::new(TOPIC, BROKER, q), max[q as usize]))
        .collect();
    assert_eq!(status.consumer_table.len(), 1);
    assert_eq!(status.consumer_table[&client_id], expected);

    // 222 → 220 while the consumer runs: back to the start, everything read again.
    let r = env.reset(GROUP, TOPIC, 0, true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let table = ResetOffsetBody::from_json(&r.body).unwrap().offset_table;
    let zeros: BTreeMap<MessageQueue, i64> = (0..QUEUES)
        .map(|q| (MessageQueue::new(TOPIC, BROKER, q), 0))
        .collect();
    assert_eq!(table, zeros);
    let b = bodies.clone();
    until_async(
        &env.cluster,
        "the 20 messages read again",
        Duration::from_secs(30),
        || {
            let again = b
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.starts_with("first-"))
                .count();
            async move { again >= 20 + 1 + 20 }
        },
    )
    .await;
    until_async(
        &env.cluster,
        "offsets committed again",
        Duration::from_secs(20),
        || {
            let c = env.committed();
            let max = max.clone();
            async move { c.await == max }
        },
    )
    .await;

    // Not forced, to a time after every message: nobody moves forward past its offset.
    let r = env.reset(GROUP, TOPIC, -1, false).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let table = ResetOffsetBody::from_json(&r.body).unwrap().offset_table;
    assert_eq!(table.values().copied().collect::<Vec<_>>(), max);

    // Unknown topic: refused before anything is looked at.
    let r = env.reset(GROUP, "NoSuchRelayTopic", 0, true).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);

    consumer.shutdown().await.expect("consumer shuts down");
    // Offline group: CONSUMER_NOT_ONLINE, which sends admin tools to their offline reset;
    // the committed offsets stay.
    until_async(
        &env.cluster,
        "the consumer gone",
        Duration::from_secs(20),
        || {
            let ids = env.client_ids();
            async { ids.await.is_empty() }
        },
    )
    .await;
    let r = env.reset(GROUP, TOPIC, 0, true).await;
    assert_eq!(r.code, ResponseCode::CONSUMER_NOT_ONLINE, "{:?}", r.remark);
    assert_eq!(
        r.remark.as_deref(),
        Some("Consumer not online, so can not reset offset, Group: relay_cg Topic: RelayTopic Timestamp: 0")
    );
    assert_eq!(env.committed().await, max);
    let r = env
        .call(
            RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS)
                .with_header(&GetConsumerStatusRequestHeader {
                    topic: TOPIC.into(),
                    group: GROUP.into(),
                    client_addr: None,
                }),
        )
        .await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("No Any Consumer online in the consumer group: [relay_cg]")
    );
    env.stop().await;
}
