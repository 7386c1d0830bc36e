//! Scenario 4 of the Apache interop matrix: requests an Apache broker sends to our running
//! push consumer, driven by Apache's own `mqadmin` (4.9.7, 5.3.3, 5.5.0; see
//! `interop/apache/`): consumerConnection (our client, language, version), consumerStatus
//! (GET_CONSUMER_RUNNING_INFO), queryMsgById -d (CONSUME_MESSAGE_DIRECTLY) and
//! resetOffsetByTime (RESET_CONSUMER_CLIENT_OFFSET) while the consumer runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::{
    ClientInstance, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt,
    MessageSelector, Producer, PushConsumer, SendStatus,
};

use crate::common::{client_cfg, cluster, create_topic, unique};

const TIMEOUT: Duration = Duration::from_secs(60);

fn mqadmin(c: &ApacheCluster, args: &[&str]) -> String {
    c.mqadmin(args)
        .unwrap_or_else(|e| panic!("mqadmin {args:?}: {e}"))
}

/// How often each key was delivered.
fn counts(rec: &Mutex<Vec<MessageExt>>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for msg in rec.lock().unwrap().iter() {
        *m.entry(msg.keys().unwrap_or("-").to_string()).or_insert(0) += 1;
    }
    m
}

fn broker_initiated(version: &str) {
    let test = format!("broker_initiated {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("AdminT", version);
    let group = unique("cg_admin", version);
    let rec: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The consumer keeps running on this runtime while the blocking mqadmin calls below run
    // on the test thread.
    let (consumer, client_id, offset_ids) = tokio_rt.block_on({
        let (c, topic, group, rec) = (Arc::clone(&c), topic.clone(), group.clone(), rec.clone());
        async move {
            let rt: Arc<dyn rocketmq_rs_remoting::rt::Runtime> =
                Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::try_current().expect("in tokio"));
            create_topic(&rt, &c, &topic, 2).await;
            let instance = ClientInstance::new(client_cfg(&c, &rt)).expect("client instance");
            let client_id = instance.client_id().to_string();
            let r2 = Arc::clone(&rec);
            let consumer = PushConsumer::builder()
                .client_instance(instance)
                .group(&group)
                .subscribe(&topic, MessageSelector::all())
                .consume_from_where(ConsumeFromWhere::FirstOffset)
                .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                    r2.lock().unwrap().extend(msgs);
                    std::future::ready(ConsumeResult::Success)
                })
                .build()
                .expect("consumer config");
            consumer.start().await.expect("consumer start");
            let p = Producer::builder()
                .name_server(&c.namesrv_addr().to_string())
                .group(unique("pg_admin", c.version()))
                .runtime(Arc::clone(&rt))
                .build()
                .expect("producer config");
            p.start().await.expect("producer start");
            let mut ids = Vec::new();
            for i in 0..6 {
                let mut m = Message::new(&topic, format!("admin body {i}"));
                m.set_keys([format!("a{i}")]);
                let r = p.send(m).await.expect("send");
                assert_eq!(r.status, SendStatus::SendOk);
                ids.push(r.offset_msg_id.clone());
            }
            p.shutdown().await;
            let deadline = Instant::now() + TIMEOUT;
            while counts(&rec).len() < 6 {
                assert!(Instant::now() < deadline, "got {:?}", counts(&rec));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (consumer, client_id, ids)
        }
    });

    // consumerConnection: the broker's view of our client from its heartbeats.
    let out = mqadmin(&c, &["consumerConnection", "-g", &group]);
    let row = out
        .lines()
        .find(|l| l.contains(&client_id))
        .unwrap_or_else(|| panic!("{client_id} not in consumerConnection:\n{out}"));
    assert!(row.contains("RUST"), "language column: {row}\n{out}");
    assert!(out.contains("CONSUME_PASSIVELY"), "{out}");
    assert!(out.contains("CLUSTERING"), "{out}");
    assert!(out.contains(&topic), "subscription table: {out}");

    // consumerStatus: the broker asks our client for its running info.
    let out = mqadmin(&c, &["consumerStatus", "-g", &group, "-i", &client_id]);
    for want in [
        "#Consumer Subscription#",
        "PROP_CONSUME_TYPE                       : CONSUME_PASSIVELY",
        "messageModel                            : CLUSTERING",
        "#Consumer MQ Detail#",
    ] {
        assert!(out.contains(want), "consumerStatus lacks {want:?}:\n{out}");
    }
    let sub = format!("Topic: {topic}");
    assert!(out.contains(&sub), "consumerStatus lacks {sub}:\n{out}");

    // queryMsgById -d: the broker hands one stored message to our listener directly.
    let before = counts(&rec).get("a0").copied().unwrap_or(0);
    let mut args = vec![
        "queryMsgById",
        "-i",
        &offset_ids[0],
        "-g",
        &group,
        "-d",
        &client_id,
    ];
    // 5.x's queryMsgById requires the topic; 4.9.7's has no -t option.
    if !c.version().starts_with("4.") {
        args.extend(["-t", topic.as_str()]);
    }
    let out = mqadmin(&c, &args);
    assert!(out.contains("CR_SUCCESS"), "consume directly:\n{out}");
    assert_eq!(
        counts(&rec).get("a0").copied().unwrap_or(0),
        before + 1,
        "listener did not see the direct consume"
    );

    // resetOffsetByTime to before the first send while the consumer runs: everything again.
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        - 120_000;
    let before = counts(&rec);
    let out = mqadmin(
        &c,
        &[
            "resetOffsetByTime",
            "-g",
            &group,
            "-t",
            &topic,
            "-s",
            &at.to_string(),
        ],
    );
    assert!(!out.contains("Exception"), "resetOffsetByTime:\n{out}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = counts(&rec);
        if before
            .iter()
            .all(|(k, n)| now.get(k).copied().unwrap_or(0) > *n)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after resetOffsetByTime: before {before:?}, now {now:?}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tokio_rt.block_on(async { consumer.shutdown().await.expect("shutdown") });
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn broker_initiated_4_9_7() {
    broker_initiated(V4);
}

#[test]
fn broker_initiated_5_3_3() {
    broker_initiated(V5_3);
}

#[test]
fn broker_initiated_5_5_0() {
    broker_initiated(V5_NEWEST);
}
