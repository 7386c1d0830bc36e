//! Scenario 1 of the Apache interop matrix: our producer against real Apache RocketMQ
//! NameServer + Broker (4.9.7, 5.3.3, 5.5.0 from Maven Central; see `interop/apache/`): sync,
//! async, oneway, batch, ordered, zlib, delay level, 5.x deliver time, TBW102 auto-create,
//! transactions (commit, rollback, check-back), request-reply, and a missing topic with
//! auto-create off (its own cluster per version).
//!
//! One cluster per version is shared by the tests of this binary (each test has its own
//! topics and groups). What Apache stored is read back with our pull consumer and, for the
//! counts, with Apache's own `mqadmin topicStatus`. Without `java`/`mvn` every test prints
//! `SKIPPED: ...` and passes, unless `ROCKETMQ_IT_REQUIRE_APACHE=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicUsize, Ordering};

use rocketmq_it::apache::{ApacheCluster, ClusterOptions, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::producer::create_reply;
use rocketmq_rs_client::{
    async_trait, ConsumeContext, ConsumeFromWhere, ConsumeResult, Error, LocalTransactionState,
    Message, MessageExt, MessageQueue, Producer, PushConsumer, SendStatus, TransactionListener,
    TransactionProducer,
};
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{
    apache_stored_count, client_cfg, cluster, cluster_with, create_topic, default_options,
    pull_all, run, unique,
};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

async fn producer(c: &ApacheCluster, rt: &Arc<dyn Runtime>, group: &str) -> Producer {
    let cfg = client_cfg(c, rt);
    let p = Producer::builder()
        .name_server(&cfg.namesrv_addrs.join(";"))
        .group(group)
        .send_timeout(SEND_TIMEOUT)
        .runtime(Arc::clone(rt))
        .route_refresh_interval(Duration::from_secs(1))
        .compress_over(1024)
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    p
}

fn keyed(topic: &str, key: &str, body: impl Into<bytes::Bytes>) -> Message {
    let mut m = Message::new(topic, body);
    m.set_keys([key]);
    m.set_tags("TagA");
    m
}

/// Sync, async, oneway, batch, ordered-by-selector and a zlib-compressed body on one topic;
/// everything is read back intact and Apache's own count agrees.
fn send_modes(version: &str) {
    let test = format!("send_modes {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("SendModes", version);
    let stored = run(&test, |rt| {
        let c = Arc::clone(&c);
        let topic = topic.clone();
        async move {
            create_topic(&rt, &c, &topic, 4).await;
            let p = producer(&c, &rt, &unique("pg_modes", c.version())).await;
            let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();

            let r = p
                .send(keyed(&topic, "sync", "sync body"))
                .await
                .expect("sync send");
            assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
            assert!(!r.msg_id.is_empty() && !r.offset_msg_id.is_empty(), "{r:?}");
            want.insert("sync".into(), b"sync body".to_vec());

            let r = p
                .send_async(keyed(&topic, "async", "async body"))
                .await
                .expect("async send");
            assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
            want.insert("async".into(), b"async body".to_vec());

            p.send_oneway(keyed(&topic, "oneway", "oneway body"))
                .await
                .expect("oneway send");
            want.insert("oneway".into(), b"oneway body".to_vec());

            let batch: Vec<Message> = (0..3)
                .map(|i| keyed(&topic, &format!("batch{i}"), format!("batch body {i}")))
                .collect();
            let r = p.send_batch(batch).await.expect("batch send");
            assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
            assert_eq!(r.msg_id.split(',').count(), 3, "batch ids: {r:?}");
            for i in 0..3 {
                want.insert(format!("batch{i}"), format!("batch body {i}").into_bytes());
            }

            // Ordered: every message of one order id lands on the queue the selector picks.
            let pick = |qs: &[MessageQueue], id: &u32| Some(*id as usize % qs.len());
            let mut queues = BTreeSet::new();
            for i in 0..4 {
                let key = format!("ordered{i}");
                let r = p
                    .send_with_selector(keyed(&topic, &key, format!("ordered {i}")), &pick, &3u32)
                    .await
                    .expect("ordered send");
                assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
                queues.insert(r.message_queue.queue_id);
                want.insert(key, format!("ordered {i}").into_bytes());
            }
            assert_eq!(queues.len(), 1, "ordered sends spread over {queues:?}");
            let ordered_queue = *queues.iter().next().expect("one queue");

            // Over compress_over: sent zlib-compressed, must come back as the original bytes.
            let big: Vec<u8> = (0..16 * 1024).map(|i| b"rocketmq-"[i % 9]).collect();
            let r = p
                .send(keyed(&topic, "zlib", big.clone()))
                .await
                .expect("compressed send");
            assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
            want.insert("zlib".into(), big);
            p.shutdown().await;

            let got = pull_all(&c, &rt, &topic, want.len(), READ_TIMEOUT).await;
            let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let mut ordered_offsets = Vec::new();
            for m in &got {
                let key = m.keys().unwrap_or("-").to_string();
                assert_eq!(m.tags(), Some("TagA"), "{key}: tag");
                if key.starts_with("ordered") {
                    assert_eq!(m.queue_id, ordered_queue, "{key} on another queue");
                    ordered_offsets.push((key.clone(), m.queue_offset));
                }
                if key == "zlib" {
                    // Apache stored what we sent, compressed: its stored record is far
                    // smaller than the 16 KiB body our decoder handed back inflated.
                    assert!(
                        m.store_size < 2048 && m.body.len() == 16 * 1024,
                        "zlib message: store size {}, body {}",
                        m.store_size,
                        m.body.len()
                    );
                }
                assert!(
                    seen.insert(key.clone(), m.body.to_vec()).is_none(),
                    "{key} twice"
                );
            }
            assert_eq!(
                seen.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            );
            for (k, body) in &want {
                assert!(seen[k] == *body, "{k}: body differs");
            }
            ordered_offsets.sort_by_key(|(_, off)| *off);
            let order: Vec<&str> = ordered_offsets.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(order, ["ordered0", "ordered1", "ordered2", "ordered3"]);
            want.len()
        }
    });
    assert_eq!(
        apache_stored_count(&c, &topic),
        stored as i64,
        "mqadmin topicStatus of {topic}"
    );
}

/// Delay level 2 (5 s by Apache's default `messageDelayLevel`): the message is on the topic
/// no earlier than ~5 s after the send, and then intact.
fn delay_level(version: &str) {
    let test = format!("delay_level {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("DelayLevel", c.version());
        create_topic(&rt, &c, &topic, 2).await;
        let p = producer(&c, &rt, &unique("pg_delay", c.version())).await;
        let mut m = keyed(&topic, "delayed", "delayed body");
        m.set_delay_level(2);
        let sent = Instant::now();
        let r = p.send(m).await.expect("delayed send");
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
        p.shutdown().await;
        let got = pull_all(&c, &rt, &topic, 1, READ_TIMEOUT).await;
        let took = sent.elapsed();
        assert_eq!(got.len(), 1, "delayed message not delivered");
        let m = &got[0];
        assert_eq!(m.body.as_ref(), b"delayed body");
        assert_eq!(m.property("DELAY"), Some("2"), "{:?}", m.properties);
        // Re-stored by the schedule service: stored no earlier than the level's 5 s.
        let stored_after = m.store_timestamp - m.born_timestamp;
        assert!(
            stored_after >= 4_500,
            "stored {stored_after} ms after birth (level 2 = 5 s); read after {took:?}"
        );
    });
}

/// 5.x timer messages (`__STARTDELIVERTIME`): not visible before the delivery time.
fn deliver_time(version: &str) {
    let test = format!("deliver_time {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("DeliverTime", c.version());
        create_topic(&rt, &c, &topic, 2).await;
        let p = producer(&c, &rt, &unique("pg_timer", c.version())).await;
        let mut m = keyed(&topic, "timer", "timer body");
        let at = SystemTime::now() + Duration::from_secs(4);
        m.set_deliver_time(at);
        let r = p.send(m).await.expect("timer send");
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
        p.shutdown().await;
        let got = pull_all(&c, &rt, &topic, 1, READ_TIMEOUT).await;
        assert_eq!(got.len(), 1, "timer message not delivered");
        let m = &got[0];
        assert_eq!(m.body.as_ref(), b"timer body");
        let at_ms = at.duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
        // The timer wheel's precision is 1 s (timerPrecisionMs): allow that much early.
        assert!(
            m.store_timestamp >= at_ms - 1_000,
            "stored at {} for delivery at {at_ms}",
            m.store_timestamp
        );
    });
}

/// A send to a topic nobody created: the client falls back to the `TBW102` route and the
/// broker (autoCreateTopicEnable=true) creates the topic.
fn auto_create(version: &str) {
    let test = format!("auto_create {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("AutoCreated", c.version());
        let p = producer(&c, &rt, &unique("pg_auto", c.version())).await;
        let r = p
            .send(keyed(&topic, "auto", "auto body"))
            .await
            .expect("send to an auto-created topic");
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
        assert_eq!(r.message_queue.topic, topic);
        p.shutdown().await;
        let got = pull_all(&c, &rt, &topic, 1, READ_TIMEOUT).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body.as_ref(), b"auto body");
    });
}

/// Decides by key: `commit`, `rollback`, and `unknown` (committed when the broker checks).
struct KeyedTx {
    checks: Arc<AtomicUsize>,
}

#[async_trait]
impl TransactionListener for KeyedTx {
    async fn execute_local(&self, msg: &Message) -> LocalTransactionState {
        match msg.keys() {
            Some("commit") => LocalTransactionState::Commit,
            Some("rollback") => LocalTransactionState::Rollback,
            _ => LocalTransactionState::Unknown,
        }
    }

    async fn check_local(&self, msg: &MessageExt) -> LocalTransactionState {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if msg.keys() == Some("unknown") {
            LocalTransactionState::Commit
        } else {
            LocalTransactionState::Rollback
        }
    }
}

/// Transactional messages: commit is visible at once, rollback never, unknown after the
/// broker's check-back (transactionCheckInterval 5 s, transactionTimeOut 3 s in the tests).
fn transactions(version: &str) {
    let test = format!("transactions {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("TxTopic", c.version());
        create_topic(&rt, &c, &topic, 2).await;
        let checks = Arc::new(AtomicUsize::new(0));
        let builder = Producer::builder()
            .name_server(&c.namesrv_addr().to_string())
            .group(unique("pg_tx", c.version()))
            .send_timeout(SEND_TIMEOUT)
            .runtime(Arc::clone(&rt));
        let tp = TransactionProducer::new(
            builder,
            KeyedTx {
                checks: Arc::clone(&checks),
            },
        )
        .expect("transaction producer");
        tp.start().await.expect("start");
        for key in ["commit", "rollback", "unknown"] {
            let r = tp
                .send_in_transaction(keyed(&topic, key, format!("tx {key}")))
                .await
                .expect("half send");
            assert_eq!(r.send_result.status, SendStatus::SendOk, "{key}: {r:?}");
            // Only 5.x brokers return a transactionId in the half send's response header
            // (Apache 4.9.7 leaves it out).
            if !c.version().starts_with("4.") {
                assert!(r.send_result.transaction_id.is_some(), "{key}: {r:?}");
            }
        }
        let got = pull_all(&c, &rt, &topic, 2, Duration::from_secs(90)).await;
        let keys: BTreeSet<&str> = got.iter().filter_map(|m| m.keys()).collect();
        assert_eq!(keys, BTreeSet::from(["commit", "unknown"]));
        assert!(checks.load(Ordering::SeqCst) >= 1, "no check-back arrived");
        tp.shutdown().await;
    });
}

/// Request-reply: our requester, our replier (a push consumer answering with create_reply);
/// the Apache broker routes the reply back (SEND_REPLY_MESSAGE_V2 → PUSH_REPLY_MESSAGE_TO_CLIENT).
fn request_reply(version: &str) {
    let test = format!("request_reply {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("RequestT", c.version());
        create_topic(&rt, &c, &topic, 2).await;
        let replier = producer(&c, &rt, &unique("pg_replier", c.version())).await;
        let r2 = replier.clone();
        let consumer = PushConsumer::builder()
            .client_config(client_cfg(&c, &rt))
            .group(unique("cg_replier", c.version()))
            .subscribe(&topic, "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let replier = r2.clone();
                async move {
                    for m in msgs {
                        let mut body = b"pong:".to_vec();
                        body.extend_from_slice(&m.body);
                        let reply = create_reply(&m, body).expect("reply");
                        replier.send(reply).await.expect("send reply");
                    }
                    ConsumeResult::Success
                }
            })
            .build()
            .expect("consumer config");
        consumer.start().await.expect("consumer start");
        let requester = producer(&c, &rt, &unique("pg_requester", c.version())).await;
        for i in 0..3 {
            let reply = requester
                .request(
                    keyed(&topic, &format!("req{i}"), format!("ping{i}")),
                    Duration::from_secs(30),
                )
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(reply.body.as_ref(), format!("pong:ping{i}").as_bytes());
        }
        consumer.shutdown().await.expect("shutdown");
        requester.shutdown().await;
        replier.shutdown().await;
    });
}

/// autoCreateTopicEnable=false: a send to a missing topic fails with a clear route error
/// (the broker registers no TBW102 route).
fn missing_topic(version: &str) {
    let test = format!("missing_topic {version}");
    let opts = ClusterOptions {
        auto_create_topic: false,
        ..default_options()
    };
    let Some(c) = cluster_with(&test, version, &opts) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("Missing", c.version());
        let p = producer(&c, &rt, &unique("pg_missing", c.version())).await;
        let err = p
            .send(keyed(&topic, "missing", "never stored"))
            .await
            .expect_err("a send to a missing topic must fail");
        match &err {
            Error::RouteNotFound { topic: t, .. } => assert_eq!(t, &topic),
            other => panic!("want RouteNotFound, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&topic), "{text}");
        p.shutdown().await;
    });
}

per_version!(
    send_modes,
    send_modes_4_9_7,
    send_modes_5_3_3,
    send_modes_5_5_0
);
per_version!(
    delay_level,
    delay_level_4_9_7,
    delay_level_5_3_3,
    delay_level_5_5_0
);
per_version!(
    auto_create,
    auto_create_4_9_7,
    auto_create_5_3_3,
    auto_create_5_5_0
);

// 4.9 has no timer wheel: __STARTDELIVERTIME is an ordinary property there.
#[test]
fn deliver_time_5_3_3() {
    deliver_time(V5_3);
}

#[test]
fn deliver_time_5_5_0() {
    deliver_time(V5_NEWEST);
}

per_version!(
    transactions,
    transactions_4_9_7,
    transactions_5_3_3,
    transactions_5_5_0
);
per_version!(
    request_reply,
    request_reply_4_9_7,
    request_reply_5_3_3,
    request_reply_5_5_0
);
per_version!(
    missing_topic,
    missing_topic_4_9_7,
    missing_topic_5_3_3,
    missing_topic_5_5_0
);
