//! Scenario 2 of the Apache interop matrix: our push consumer against real Apache RocketMQ
//! NameServer + Broker (4.9.7, 5.3.3, 5.5.0 from Maven Central; see `interop/apache/`).
//!
//! Concurrent with a tag filter, orderly, clustering (two members split the queues, one
//! leaves, the other takes over), broadcasting, SQL92 (`enablePropertyFilter=true`), and
//! retry through `%RETRY%` with growing reconsume times and then the DLQ (counted by Apache's
//! `mqadmin topicStatus`). One cluster per version is shared by this binary's tests; each
//! test has its own topics and groups.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeOrderlyContext, ConsumeResult, Message, MessageExt,
    MessageModel, MessageQueue, MessageSelector, OrderlyResult, Producer, PushConsumer, SendStatus,
};
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{apache_stored_count, client_cfg, cluster, create_topic, run, unique};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

async fn producer(c: &ApacheCluster, rt: &Arc<dyn Runtime>, group: &str) -> Producer {
    let p = Producer::builder()
        .name_server(&c.namesrv_addr().to_string())
        .group(group)
        .send_timeout(SEND_TIMEOUT)
        .runtime(Arc::clone(rt))
        .route_refresh_interval(Duration::from_secs(1))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    p
}

async fn send_ok(p: &Producer, m: Message) {
    let r = p.send(m).await.expect("send");
    assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
}

fn msg(topic: &str, key: &str, tag: &str) -> Message {
    let mut m = Message::new(topic, format!("body of {key}"));
    m.set_keys([key]);
    m.set_tags(tag);
    m
}

/// Keys received, in arrival order (duplicates kept).
type Received = Arc<Mutex<Vec<MessageExt>>>;

fn recorder(
    rec: &Received,
) -> impl Fn(Vec<MessageExt>, ConsumeContext) -> std::future::Ready<ConsumeResult> + Send + Sync + 'static
{
    let rec = Arc::clone(rec);
    move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
        rec.lock().unwrap().extend(msgs);
        std::future::ready(ConsumeResult::Success)
    }
}

fn keys(rec: &Received) -> BTreeSet<String> {
    rec.lock()
        .unwrap()
        .iter()
        .map(|m| m.keys().unwrap_or("-").to_string())
        .collect()
}

/// The shared polling helper, failing the test with `what` on timeout.
async fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    rocketmq_it::eventually(timeout, cond)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {timeout:?}"));
}

/// Waits until Apache's `%DLQ%` topic `dlq` holds exactly one message (the DLQ topic is
/// write-only, as Apache creates it with PERM_WRITE: `mqadmin` counts it).
fn wait_one_dead_letter(c: &ApacheCluster, dlq: &str) {
    let mut n = 0;
    rocketmq_it::eventually_blocking(Duration::from_secs(30), || {
        n = apache_stored_count(c, dlq);
        n == 1
    })
    .unwrap_or_else(|_| panic!("{dlq} holds {n} messages, want 1"));
}

/// The consumer's queues of `topic` (its assignment also holds its `%RETRY%` queue).
fn queues_of(consumer: &PushConsumer, topic: &str) -> BTreeSet<i32> {
    consumer
        .assigned_queues()
        .iter()
        .filter(|q| q.topic == topic)
        .map(|q| q.queue_id)
        .collect()
}

async fn wait_assigned(consumer: &PushConsumer, topic: &str, n: usize, what: &str) {
    wait_for(what, DELIVERY_TIMEOUT, || {
        queues_of(consumer, topic).len() == n
    })
    .await;
}

/// A new topic of `queues` queues and a started recording consumer of `group` with
/// `selector` owning all of them: the set-up of the filter tests.
async fn filtering_consumer(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    topic: &str,
    queues: i32,
    group: &str,
    selector: MessageSelector,
) -> (PushConsumer, Received) {
    create_topic(rt, c, topic, queues).await;
    let rec: Received = Arc::default();
    let consumer = push_builder(c, rt, group, topic, selector)
        .listener(recorder(&rec))
        .build()
        .expect("consumer config");
    consumer.start().await.expect("consumer start");
    let what = format!("{queues} queues assigned");
    wait_assigned(&consumer, topic, queues as usize, &what).await;
    (consumer, rec)
}

/// Waits for `want.len()` deliveries, then two seconds more for one the filter should have
/// kept back (it would have come with the others), and checks the keys are exactly `want`.
async fn received_exactly(rec: &Received, want: &BTreeSet<String>, what: &str) {
    wait_for(what, DELIVERY_TIMEOUT, || keys(rec).len() >= want.len()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(keys(rec), *want);
}

fn push_builder(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    group: &str,
    topic: &str,
    selector: MessageSelector,
) -> rocketmq_rs_client::consumer::PushConsumerBuilder {
    PushConsumer::builder()
        .client_config(client_cfg(c, rt))
        .group(group)
        .subscribe(topic, selector)
        .consume_from_where(ConsumeFromWhere::FirstOffset)
}

/// Concurrent consumer with `TagA || TagB`: gets the A and B messages, never C.
fn tag_filter(version: &str) {
    let test = format!("tag_filter {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushTags", c.version());
        let group = unique("cg_tags", c.version());
        let selector = MessageSelector::tag("TagA || TagB");
        let (consumer, rec) = filtering_consumer(&c, &rt, &topic, 4, &group, selector).await;
        let p = producer(&c, &rt, &unique("pg_tags", c.version())).await;
        let mut want = BTreeSet::new();
        for i in 0..30 {
            let tag = ["TagA", "TagB", "TagC"][i % 3];
            let key = format!("{tag}-{i}");
            if tag != "TagC" {
                want.insert(key.clone());
            }
            send_ok(&p, msg(&topic, &key, tag)).await;
        }
        // TagC would have arrived with the others (same queues, earlier offsets).
        received_exactly(&rec, &want, "20 TagA/TagB messages").await;
        consumer.shutdown().await.expect("shutdown");
        p.shutdown().await;
    });
}

/// Orderly consumer: each order id's messages arrive in send order.
fn orderly(version: &str) {
    let test = format!("orderly {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushOrderly", c.version());
        create_topic(&rt, &c, &topic, 4).await;
        let seen: Arc<Mutex<BTreeMap<u32, Vec<u32>>>> = Arc::default();
        let s2 = Arc::clone(&seen);
        let consumer = push_builder(
            &c,
            &rt,
            &unique("cg_orderly", c.version()),
            &topic,
            MessageSelector::all(),
        )
        .orderly_listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| {
            let mut s = s2.lock().unwrap();
            for m in msgs {
                let order: u32 = m
                    .property("order")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(99);
                let seq: u32 = m.property("seq").and_then(|v| v.parse().ok()).unwrap_or(99);
                s.entry(order).or_default().push(seq);
            }
            std::future::ready(OrderlyResult::Success)
        })
        .build()
        .expect("consumer config");
        consumer.start().await.expect("consumer start");
        wait_assigned(&consumer, &topic, 4, "4 queues assigned").await;
        let p = producer(&c, &rt, &unique("pg_orderly", c.version())).await;
        let pick = |qs: &[MessageQueue], order: &u32| Some(*order as usize % qs.len());
        for seq in 0..10u32 {
            for order in 0..3u32 {
                let mut m = msg(&topic, &format!("o{order}-{seq}"), "TagA");
                m.put_user_property("order", order.to_string()).unwrap();
                m.put_user_property("seq", seq.to_string()).unwrap();
                let r = p
                    .send_with_selector(m, &pick, &order)
                    .await
                    .expect("ordered send");
                assert_eq!(r.status, SendStatus::SendOk);
            }
        }
        wait_for("30 ordered messages", DELIVERY_TIMEOUT, || {
            seen.lock().unwrap().values().map(Vec::len).sum::<usize>() >= 30
        })
        .await;
        let seen = seen.lock().unwrap().clone();
        for order in 0..3u32 {
            assert_eq!(
                seen.get(&order),
                Some(&(0..10).collect::<Vec<u32>>()),
                "order {order}: {seen:?}"
            );
        }
        consumer.shutdown().await.expect("shutdown");
        p.shutdown().await;
    });
}

/// Two clustering members split 4 queues 2/2; together they get every message; when one
/// shuts down, the other takes all 4 queues and gets the rest.
fn clustering_rebalance(version: &str) {
    let test = format!("clustering_rebalance {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushCluster", c.version());
        let group = unique("cg_cluster", c.version());
        create_topic(&rt, &c, &topic, 4).await;
        let rec1: Received = Arc::default();
        let rec2: Received = Arc::default();
        let c1 = push_builder(&c, &rt, &group, &topic, MessageSelector::all())
            .listener(recorder(&rec1))
            .build()
            .expect("consumer config");
        let mut cfg2 = client_cfg(&c, &rt);
        cfg2.instance_name = Some("second".into());
        let c2 = push_builder(&c, &rt, &group, &topic, MessageSelector::all())
            .client_config(cfg2)
            .listener(recorder(&rec2))
            .build()
            .expect("consumer config");
        c1.start().await.expect("c1 start");
        c2.start().await.expect("c2 start");
        wait_for("2 + 2 queues", DELIVERY_TIMEOUT, || {
            queues_of(&c1, &topic).len() == 2 && queues_of(&c2, &topic).len() == 2
        })
        .await;
        let q1 = queues_of(&c1, &topic);
        let q2 = queues_of(&c2, &topic);
        assert!(q1.is_disjoint(&q2), "{q1:?} / {q2:?}");
        let p = producer(&c, &rt, &unique("pg_cluster", c.version())).await;
        let mut want = BTreeSet::new();
        for i in 0..40 {
            let key = format!("first-{i}");
            send_ok(&p, msg(&topic, &key, "TagA")).await;
            want.insert(key);
        }
        wait_for("40 messages between both members", DELIVERY_TIMEOUT, || {
            keys(&rec1).union(&keys(&rec2)).count() >= 40
        })
        .await;
        assert!(!keys(&rec1).is_empty() && !keys(&rec2).is_empty());
        for (rec, qs) in [(&rec1, &q1), (&rec2, &q2)] {
            for m in rec.lock().unwrap().iter() {
                assert!(
                    qs.contains(&m.queue_id),
                    "message from a queue not assigned"
                );
            }
        }
        c2.shutdown().await.expect("c2 shutdown");
        wait_assigned(&c1, &topic, 4, "c1 takes all 4 queues").await;
        for i in 0..20 {
            let key = format!("second-{i}");
            send_ok(&p, msg(&topic, &key, "TagA")).await;
            want.insert(key);
        }
        wait_for("the 20 later messages at c1", DELIVERY_TIMEOUT, || {
            let k = keys(&rec1);
            (0..20).all(|i| k.contains(&format!("second-{i}")))
        })
        .await;
        let all: BTreeSet<String> = keys(&rec1).union(&keys(&rec2)).cloned().collect();
        assert_eq!(all, want);
        c1.shutdown().await.expect("c1 shutdown");
        p.shutdown().await;
    });
}

/// Two broadcasting consumers of one group each get every message.
fn broadcasting(version: &str) {
    let test = format!("broadcasting {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushBroadcast", c.version());
        let group = unique("cg_bcast", c.version());
        create_topic(&rt, &c, &topic, 4).await;
        let offsets = tempfile::tempdir().expect("offset dir");
        let mut consumers = Vec::new();
        let mut recs = Vec::new();
        for i in 0..2 {
            let rec: Received = Arc::default();
            let mut cfg = client_cfg(&c, &rt);
            cfg.instance_name = Some(format!("bcast{i}"));
            let pc = PushConsumer::builder()
                .config({
                    let mut conf = PushConsumerConfig::default();
                    conf.local_offset_dir = Some(offsets.path().join(format!("c{i}")));
                    conf
                })
                .client_config(cfg)
                .group(&group)
                .subscribe(&topic, MessageSelector::all())
                .message_model(MessageModel::Broadcasting)
                .consume_from_where(ConsumeFromWhere::FirstOffset)
                .listener(recorder(&rec))
                .build()
                .expect("consumer config");
            pc.start().await.expect("consumer start");
            consumers.push(pc);
            recs.push(rec);
        }
        for pc in &consumers {
            wait_assigned(pc, &topic, 4, "all 4 queues (broadcasting)").await;
        }
        let p = producer(&c, &rt, &unique("pg_bcast", c.version())).await;
        let want: BTreeSet<String> = (0..10).map(|i| format!("b-{i}")).collect();
        for k in &want {
            send_ok(&p, msg(&topic, k, "TagA")).await;
        }
        for rec in &recs {
            wait_for("every message at every consumer", DELIVERY_TIMEOUT, || {
                keys(rec).len() >= want.len()
            })
            .await;
            assert_eq!(keys(rec), want);
        }
        for pc in consumers {
            pc.shutdown().await.expect("shutdown");
        }
        p.shutdown().await;
    });
}

/// SQL92 selector (the broker runs with enablePropertyFilter=true).
fn sql92(version: &str) {
    let test = format!("sql92 {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushSql", c.version());
        let group = unique("cg_sql", c.version());
        let selector = MessageSelector::sql92("a BETWEEN 6 AND 9 AND color = 'red'");
        let (consumer, rec) = filtering_consumer(&c, &rt, &topic, 2, &group, selector).await;
        let p = producer(&c, &rt, &unique("pg_sql", c.version())).await;
        let mut want = BTreeSet::new();
        for i in 0..12 {
            let color = if i % 4 == 3 { "blue" } else { "red" };
            let key = format!("sql-{i}-{color}");
            let mut m = msg(&topic, &key, "TagA");
            m.put_user_property("a", i.to_string()).unwrap();
            m.put_user_property("color", color).unwrap();
            if (6..=9).contains(&i) && color == "red" {
                want.insert(key);
            }
            send_ok(&p, m).await;
        }
        received_exactly(&rec, &want, "the matching messages").await;
        consumer.shutdown().await.expect("shutdown");
        p.shutdown().await;
    });
}

/// SQL92 expressions the broker does not compile fail our consumer's start (Java's
/// `checkClientInBroker`: CHECK_CLIENT_CONFIG) with SUBSCRIPTION_PARSE_FAILED and the
/// compiler's message, word for word what mini-broker's SQL92 compiler says (5.x; 4.x syntax
/// errors list one token fewer).
fn sql92_refused(version: &str) {
    let test = format!("sql92_refused {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let topic = unique("PushSqlBad", c.version());
        create_topic(&rt, &c, &topic, 1).await;
        for (i, sql) in ["a > 'x'", "a BETWEEN 5 AND 1", "a = 1 AND", "a IN ()"]
            .into_iter()
            .enumerate()
        {
            let consumer = push_builder(
                &c,
                &rt,
                &unique(&format!("cg_sqlbad{i}"), c.version()),
                &topic,
                MessageSelector::sql92(sql),
            )
            .listener(recorder(&Received::default()))
            .build()
            .expect("consumer config");
            let err = consumer.start().await.expect_err("start refused");
            let ours = rocketmq_rs_mini_broker::filter::Sql92Filter::compile(sql)
                .expect_err("ours refuses");
            match err {
                rocketmq_rs_client::Error::Broker { code, remark, .. } => {
                    assert_eq!(code, 23, "{sql}: SUBSCRIPTION_PARSE_FAILED");
                    if c.version().starts_with("4.") {
                        // 4.x's generated parser does not list "+" among the expected tokens
                        // of a syntax error; the rest of its messages are 5.x's.
                        let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
                        assert_eq!(first(&remark), first(ours.message()), "{sql}: first line");
                    } else {
                        assert_eq!(remark, ours.message(), "{sql}: Apache's text vs ours");
                    }
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
    });
}

/// A message the listener always rejects comes back through `%RETRY%<group>` with
/// reconsume times 0, 1, 2, then goes to `%DLQ%<group>` (max_reconsume_times = 2).
fn retry_then_dlq(version: &str) {
    let test = format!("retry_then_dlq {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let group = unique("cg_retry", version);
    run(&test, |rt| {
        let c = Arc::clone(&c);
        let group = group.clone();
        async move {
            let topic = unique("PushRetry", c.version());
            create_topic(&rt, &c, &topic, 2).await;
            let times: Arc<Mutex<Vec<(String, i32)>>> = Arc::default();
            let t2 = Arc::clone(&times);
            let consumer = push_builder(&c, &rt, &group, &topic, MessageSelector::all())
                .max_reconsume_times(2)
                .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                    let mut t = t2.lock().unwrap();
                    let mut reject = false;
                    for m in &msgs {
                        let key = m.keys().unwrap_or("-").to_string();
                        reject |= key == "doomed";
                        t.push((key, m.reconsume_times));
                    }
                    std::future::ready(if reject {
                        ConsumeResult::ReconsumeLater
                    } else {
                        ConsumeResult::Success
                    })
                })
                .build()
                .expect("consumer config");
            consumer.start().await.expect("consumer start");
            wait_assigned(&consumer, &topic, 2, "2 queues assigned").await;
            let p = producer(&c, &rt, &unique("pg_retry", c.version())).await;
            send_ok(&p, msg(&topic, "doomed", "TagA")).await;
            send_ok(&p, msg(&topic, "fine", "TagA")).await;
            wait_for(
                "3 deliveries of the rejected message",
                DELIVERY_TIMEOUT,
                || {
                    times
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(k, _)| k == "doomed")
                        .count()
                        >= 3
                },
            )
            .await;
            // Past the last retry (2 s levels): no fourth delivery.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let doomed: Vec<i32> = times
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _)| k == "doomed")
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(doomed, [0, 1, 2], "reconsume times of the rejected message");
            let fine = times
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _)| k == "fine")
                .count();
            assert_eq!(fine, 1);
            consumer.shutdown().await.expect("shutdown");
            p.shutdown().await;
        }
    });
    wait_one_dead_letter(&c, &format!("%DLQ%{group}"));
}

/// The per-call listener context and `consume_timeout` against Apache's broker: a batch of
/// four acknowledged up to index 1 has its last two come back through `%RETRY%` (reconsume
/// times 1); a message failed with delay level -1 goes to `%DLQ%<group>` without a retry; a
/// listener call stuck for longer than `consume_timeout` (2 s) is dropped, its message comes
/// back once, and the queue's offset moves past everything.
fn context_and_consume_timeout(version: &str) {
    let test = format!("context_and_consume_timeout {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let group = unique("cg_ctx", version);
    run(&test, |rt| {
        let c = Arc::clone(&c);
        let group = group.clone();
        async move {
            let topic = unique("PushCtx", c.version());
            create_topic(&rt, &c, &topic, 1).await;
            let p = producer(&c, &rt, &unique("pg_ctx", c.version())).await;
            for k in ["b0", "b1", "b2", "b3"] {
                send_ok(&p, msg(&topic, k, "TagA")).await;
            }
            let times: Arc<Mutex<Vec<(String, i32)>>> = Arc::default();
            let t2 = Arc::clone(&times);
            let consumer = push_builder(&c, &rt, &group, &topic, MessageSelector::all())
                .consume_batch_size(4)
                .consume_timeout(Duration::from_secs(2))
                .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
                    let keys: Vec<(String, i32)> = msgs
                        .iter()
                        .map(|m| (m.keys().unwrap_or("-").to_string(), m.reconsume_times))
                        .collect();
                    t2.lock().unwrap().extend(keys.iter().cloned());
                    async move {
                        if keys.len() == 4 {
                            ctx.set_ack_index(1);
                        } else if keys.iter().any(|(k, _)| k == "poison") {
                            ctx.set_delay_level(-1);
                            return ConsumeResult::ReconsumeLater;
                        } else if keys.iter().any(|(k, n)| k == "stuck" && *n == 0) {
                            std::future::pending::<()>().await;
                        }
                        ConsumeResult::Success
                    }
                })
                .build()
                .expect("consumer config");
            consumer.start().await.expect("consumer start");
            let of = |key: &str| -> Vec<i32> {
                times
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, n)| *n)
                    .collect()
            };
            wait_for("b2 and b3 back", DELIVERY_TIMEOUT, || {
                of("b2") == [0, 1] && of("b3") == [0, 1]
            })
            .await;
            // One at a time, so each is a batch of its own.
            send_ok(&p, msg(&topic, "poison", "TagA")).await;
            wait_for("poison delivered", DELIVERY_TIMEOUT, || {
                !of("poison").is_empty()
            })
            .await;
            send_ok(&p, msg(&topic, "stuck", "TagA")).await;
            let t0 = Instant::now();
            wait_for("stuck redelivered", DELIVERY_TIMEOUT, || {
                of("stuck") == [0, 1]
            })
            .await;
            assert!(t0.elapsed() >= Duration::from_secs(2), "before the timeout");
            wait_for("offset past all six", DELIVERY_TIMEOUT, || {
                consumer
                    .queue_stats()
                    .iter()
                    .any(|s| s.queue.topic == topic && s.consume_offset == Some(6))
            })
            .await;
            // Past the retry delays: nothing more comes.
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert_eq!((of("b0"), of("b1")), (vec![0], vec![0]), "acknowledged");
            assert_eq!(of("poison"), [0], "delay level -1: no retry");
            assert_eq!(of("stuck"), [0, 1]);
            consumer.shutdown().await.expect("shutdown");
            p.shutdown().await;
        }
    });
    wait_one_dead_letter(&c, &format!("%DLQ%{group}"));
}

per_version!(
    tag_filter,
    tag_filter_4_9_7,
    tag_filter_5_3_3,
    tag_filter_5_5_0
);
per_version!(orderly, orderly_4_9_7, orderly_5_3_3, orderly_5_5_0);
per_version!(
    clustering_rebalance,
    clustering_rebalance_4_9_7,
    clustering_rebalance_5_3_3,
    clustering_rebalance_5_5_0
);
per_version!(
    broadcasting,
    broadcasting_4_9_7,
    broadcasting_5_3_3,
    broadcasting_5_5_0
);
per_version!(sql92, sql92_4_9_7, sql92_5_3_3, sql92_5_5_0);
per_version!(
    sql92_refused,
    sql92_refused_4_9_7,
    sql92_refused_5_3_3,
    sql92_refused_5_5_0
);
per_version!(
    retry_then_dlq,
    retry_then_dlq_4_9_7,
    retry_then_dlq_5_3_3,
    retry_then_dlq_5_5_0
);
per_version!(
    context_and_consume_timeout,
    context_and_consume_timeout_4_9_7,
    context_and_consume_timeout_5_3_3,
    context_and_consume_timeout_5_5_0
);
