//! RocketMQ 5.x POP: our `SimpleConsumer` against Apache's broker (5.3.3 and 5.5.0; 4.9.7 has
//! no POP and must answer REQUEST_CODE_NOT_SUPPORTED, surfaced as a typed broker error).
//!
//! A plain POP_MESSAGE works on Apache 5.x without switching the group to POP mode
//! (`setConsumeMode` only steers Java push consumers' server-side assignment): receive, ack
//! half, and the unacked half comes back from Apache's `%RETRY%<group>_<topic>` after the
//! invisible time, re-encoded under the original topic with receipts that ack there.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::consumer::{ReceivedMessage, SimpleConsumer};
use rocketmq_rs_client::{ConsumeFromWhere, Error, Message, Producer, SendStatus};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::pop::RetryFlag;
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{client_cfg, cluster, create_topic, run, unique};

const INVISIBLE: Duration = Duration::from_secs(3);

async fn produce(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    topic: &str,
    n: usize,
) -> BTreeSet<String> {
    let p = Producer::builder()
        .name_server(&c.namesrv_addr().to_string())
        .group(unique("pg_pop", c.version()))
        .runtime(Arc::clone(rt))
        .route_refresh_interval(Duration::from_secs(1))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    let mut sent = BTreeSet::new();
    for i in 0..n {
        let body = format!("pop body {i}");
        let r = p
            .send(Message::new(topic, body.clone()))
            .await
            .expect("send");
        assert_eq!(r.status, SendStatus::SendOk);
        sent.insert(body);
    }
    p.shutdown().await;
    sent
}

fn body(m: &ReceivedMessage) -> String {
    String::from_utf8_lossy(&m.message.body).into_owned()
}

async fn receive_until(c: &SimpleConsumer, want: usize, limit: Duration) -> Vec<ReceivedMessage> {
    let start = Instant::now();
    let mut got: Vec<ReceivedMessage> = Vec::new();
    while got.iter().map(body).collect::<BTreeSet<_>>().len() < want && start.elapsed() < limit {
        got.extend(c.receive(32, INVISIBLE).await.expect("receive"));
    }
    got
}

fn pop_round_trip(version: &str) {
    let test = format!("pop_round_trip {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("PopPlain", version);
    let group = unique("cg_pop", version);
    let name = test.clone();
    run(&name, |rt| async move {
        create_topic(&rt, &c, &topic, 4).await;
        let sent = produce(&c, &rt, &topic, 12).await;
        let consumer = SimpleConsumer::builder()
            .client_config(client_cfg(&c, &rt))
            .group(&group)
            .subscribe(&topic, "*")
            .consume_from(ConsumeFromWhere::FirstOffset)
            .await_duration(Duration::from_secs(2))
            .build()
            .expect("simple consumer config");
        consumer.start().await.expect("start");
        if version == V4 {
            match consumer.receive(8, INVISIBLE).await {
                Err(Error::Broker { code, .. }) => {
                    assert_eq!(code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED)
                }
                other => panic!("Apache 4.9.7 has no POP, got {other:?}"),
            }
            consumer.shutdown().await;
            return;
        }
        let first = receive_until(&consumer, sent.len(), Duration::from_secs(30)).await;
        assert_eq!(first.iter().map(body).collect::<BTreeSet<_>>(), sent);
        assert_eq!(
            first.len(),
            sent.len(),
            "nothing delivered twice within the invisible time"
        );
        let mut acked = BTreeSet::new();
        for m in &first {
            assert_eq!(m.receipt.retry, RetryFlag::Normal);
            assert_eq!(m.message.topic, topic);
            assert_eq!(m.delivery_attempt(), 1);
            if acked.len() < sent.len() / 2 {
                consumer.ack(m).await.expect("ack");
                acked.insert(body(m));
            }
        }
        let unacked: BTreeSet<String> = sent.difference(&acked).cloned().collect();
        let t0 = Instant::now();
        let back = receive_until(&consumer, unacked.len(), Duration::from_secs(40)).await;
        eprintln!(
            "{test}: {} unacked came back after {:?}",
            back.len(),
            t0.elapsed()
        );
        assert_eq!(back.iter().map(body).collect::<BTreeSet<_>>(), unacked);
        for m in &back {
            assert_eq!(
                m.message.topic, topic,
                "re-encoded under the original topic"
            );
            assert_eq!(
                m.receipt.retry,
                RetryFlag::V1,
                "read from %RETRY%<group>_<topic>"
            );
            assert!(m.delivery_attempt() >= 2);
        }
        // One BATCH_ACK_MESSAGE for all of them (retry-topic receipts).
        consumer
            .ack_all(&back)
            .await
            .expect("batch ack of retried messages");
        // Acked everywhere: nothing comes back.
        rt.sleep(INVISIBLE + Duration::from_secs(3)).await;
        let rest = consumer.receive(32, INVISIBLE).await.expect("receive");
        assert!(
            rest.is_empty(),
            "acked messages came back: {:?}",
            rest.iter().map(body).collect::<Vec<_>>()
        );
        consumer.shutdown().await;
    });
}

per_version!(
    pop_round_trip,
    pop_round_trip_4_9_7,
    pop_round_trip_5_3_3,
    pop_round_trip_5_5_0
);

/// Our `PushConsumer` in POP mode against Apache's broker. 5.x: `PopMode::Always` consumes
/// everything by POP, acks it, and a `ReconsumeLater` comes back through Apache's POP retry
/// topic after the back-off; `PopMode::FollowBroker` pulls until SET_MESSAGE_REQUEST_MODE
/// (what `mqadmin setConsumeMode` sends) switches the group to POP, then pops (Apache's
/// QUERY_ASSIGNMENT answers queue -1 in mode POP). 4.9.7 knows neither: FollowBroker falls
/// back to pulling.
fn push_pop_modes(version: &str) {
    use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, PopMode, PushConsumer};
    use rocketmq_rs_client::MessageExt;
    use rocketmq_rs_remoting::protocol::body::{
        JsonBody, MessageRequestMode, SetMessageRequestModeRequestBody,
    };
    use rocketmq_rs_remoting::protocol::code::RequestCode;
    use rocketmq_rs_remoting::protocol::RemotingCommand;
    use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
    use std::sync::Mutex;

    type Log = Arc<Mutex<Vec<(String, i32)>>>;
    fn consumer(
        c: &ApacheCluster,
        rt: &Arc<dyn Runtime>,
        group: &str,
        topic: &str,
        mode: PopMode,
        log: &Log,
        fail_once: &'static str,
    ) -> PushConsumer {
        let log = Arc::clone(log);
        PushConsumer::builder()
            .client_config(client_cfg(c, rt))
            .group(group)
            .subscribe(topic, "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .pop_mode(mode)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let mut later = false;
                for m in &msgs {
                    let b = String::from_utf8_lossy(&m.body).into_owned();
                    later |= b == fail_once && m.reconsume_times == 0;
                    log.lock().unwrap().push((b, m.reconsume_times));
                }
                async move {
                    if later {
                        ConsumeResult::ReconsumeLater
                    } else {
                        ConsumeResult::Success
                    }
                }
            })
            .build()
            .expect("consumer config")
    }
    let bodies = |log: &Log| -> BTreeSet<String> {
        log.lock().unwrap().iter().map(|e| e.0.clone()).collect()
    };
    async fn until(rt: &Arc<dyn Runtime>, limit: Duration, what: &str, cond: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < limit, "timed out waiting for {what}");
            rt.sleep(Duration::from_millis(100)).await;
        }
    }

    let test = format!("push_pop_modes {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let name = test.clone();
    run(&name, |rt| async move {
        // FollowBroker: pull first (every version).
        let topic = unique("PushPopFollow", version);
        let group = unique("cg_push_pop_follow", version);
        create_topic(&rt, &c, &topic, 2).await;
        let log: Log = Arc::default();
        let follow = consumer(&c, &rt, &group, &topic, PopMode::FollowBroker, &log, "");
        follow.start().await.expect("start");
        let owns = |p: &PushConsumer| p.assigned_queues().iter().any(|q| q.topic == topic);
        until(&rt, Duration::from_secs(30), "pulled queues", || {
            owns(&follow)
        })
        .await;
        assert!(follow.pop_queues().is_empty());
        let mut sent = produce(&c, &rt, &topic, 6).await;
        until(&rt, Duration::from_secs(30), "pulled messages", || {
            bodies(&log).is_superset(&sent)
        })
        .await;
        if version == V4 {
            follow.shutdown().await.expect("shutdown");
            return;
        }
        // The switch, as mqadmin setConsumeMode sends it.
        let admin = RemotingClient::new(Arc::clone(&rt), TransportConfig::default());
        let body = SetMessageRequestModeRequestBody {
            topic: topic.clone(),
            consumer_group: group.clone(),
            mode: MessageRequestMode::Pop,
            pop_share_queue_num: 0,
        };
        let r = admin
            .invoke(
                &c.broker_addr().to_string(),
                RemotingCommand::request(RequestCode::SET_MESSAGE_REQUEST_MODE)
                    .with_body(body.to_json()),
                Duration::from_secs(5),
            )
            .await
            .expect("SET_MESSAGE_REQUEST_MODE answered");
        assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
        admin.shutdown();
        follow.rebalance_now();
        until(&rt, Duration::from_secs(30), "the switch to POP", || {
            !follow.pop_queues().is_empty() && !owns(&follow)
        })
        .await;
        assert!(follow.pop_queues().iter().all(|q| q.queue_id == -1));
        // Sent after the switch: a fresh body prefix.
        let p = Producer::builder()
            .name_server(&c.namesrv_addr().to_string())
            .group(unique("pg_push_pop", version))
            .runtime(Arc::clone(&rt))
            .build()
            .expect("producer config");
        p.start().await.expect("producer start");
        for i in 0..6 {
            let b = format!("after switch {i}");
            p.send(Message::new(&topic, b.clone())).await.expect("send");
            sent.insert(b);
        }
        p.shutdown().await;
        until(&rt, Duration::from_secs(40), "popped messages", || {
            bodies(&log).is_superset(&sent)
        })
        .await;
        follow.shutdown().await.expect("shutdown");

        // Always: everything by POP, one ReconsumeLater comes back.
        let topic = unique("PushPopAlways", version);
        let group = unique("cg_push_pop_always", version);
        create_topic(&rt, &c, &topic, 4).await;
        let sent = produce(&c, &rt, &topic, 12).await;
        let log: Log = Arc::default();
        let always = consumer(&c, &rt, &group, &topic, PopMode::Always, &log, "pop body 5");
        always.start().await.expect("start");
        assert!(always.assigned_queues().iter().all(|q| q.topic != topic));
        until(&rt, Duration::from_secs(30), "popped messages", || {
            bodies(&log).is_superset(&sent)
        })
        .await;
        let t0 = Instant::now();
        until(&rt, Duration::from_secs(60), "the retried message", || {
            log.lock()
                .unwrap()
                .iter()
                .any(|e| e.0 == "pop body 5" && e.1 >= 1)
        })
        .await;
        eprintln!("{test}: ReconsumeLater came back after {:?}", t0.elapsed());
        rt.sleep(Duration::from_secs(2)).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log.len(),
            sent.len() + 1,
            "each message once, the retried one twice: {log:?}"
        );
        always.shutdown().await.expect("shutdown");
    });
}

per_version!(
    push_pop_modes,
    push_pop_modes_4_9_7,
    push_pop_modes_5_3_3,
    push_pop_modes_5_5_0
);
