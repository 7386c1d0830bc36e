//! Our client against an Apache-compatible broker that no one here wrote: the rocketmq-rust 1.0
//! NameServer and broker from crates.io (`cargo install rocketmq-namesrv rocketmq-broker`).
//!
//! Ignored by default. Start the peer pair (its NameServer dials the host's non-loopback address
//! at start, so run it inside `unshare --net` with only `lo` up, and run this test in the same
//! namespace), then:
//!
//! ```text
//! ROCKETMQ_IT_PEER_NAMESRV=127.0.0.1:9876 cargo test -p rocketmq-it --test peer_rocketmq_rust -- --ignored --nocapture
//! ```
//!
//! `tests/peer/run.sh` does all of it (namespace, peer servers, this test); with `NAMESRV=mini`
//! the peer broker registers with our mini-namesrv instead of its own NameServer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::collections::{BTreeMap, HashMap};

use rocketmq_rs_client::consumer::{
    ConsumeFromWhere, ConsumeOrderlyContext, ConsumeResult, LitePullConsumer, MessageModel,
    OrderlyResult, PushConsumer,
};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::selector::SelectByHash;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::{MessageQueue, SendStatus};

fn peer_namesrv() -> String {
    std::env::var("ROCKETMQ_IT_PEER_NAMESRV")
        .expect("set ROCKETMQ_IT_PEER_NAMESRV to the peer NameServer address")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}", nanos % 1_000_000_000)
}

fn msg(topic: &str, i: usize) -> Message {
    Message::builder(topic)
        .tag(if i.is_multiple_of(2) { "TagA" } else { "TagB" })
        .keys([format!("k{i}")])
        .body(format!("peer message {i}"))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn send_modes_then_consume_against_rocketmq_rust() {
    rocketmq_it::init_tracing();
    let ns = peer_namesrv();
    let topic = unique("PeerTopic");
    let producer = Producer::builder()
        .name_server(&ns)
        .group(unique("peer_pg"))
        .send_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    producer.start().await.unwrap();

    let mut sent = HashSet::new();
    let mut i = 0;
    // Sync sends (the first one auto-creates the topic through TBW102).
    for _ in 0..10 {
        let t0 = Instant::now();
        let r = producer.send(msg(&topic, i)).await.unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        println!("sync send {i}: {:?} in {:?}", r.message_queue, t0.elapsed());
        sent.insert(format!("peer message {i}"));
        i += 1;
    }
    // Async sends.
    let futs: Vec<_> = (0..10)
        .map(|k| producer.send_async(msg(&topic, i + k)))
        .collect();
    for (k, f) in futs.into_iter().enumerate() {
        f.await.unwrap();
        sent.insert(format!("peer message {}", i + k));
    }
    i += 10;
    // Oneway sends.
    for _ in 0..5 {
        producer.send_oneway(msg(&topic, i)).await.unwrap();
        sent.insert(format!("peer message {i}"));
        i += 1;
    }
    // Ordered sends by key.
    for _ in 0..5 {
        let key = format!("order-{}", i % 2);
        producer
            .send_with_selector(msg(&topic, i), &SelectByHash, key.as_str())
            .await
            .unwrap();
        sent.insert(format!("peer message {i}"));
        i += 1;
    }
    // Batch.
    let batch: Vec<_> = (0..5).map(|k| msg(&topic, i + k)).collect();
    producer.send_batch(batch).await.unwrap();
    for k in 0..5 {
        sent.insert(format!("peer message {}", i + k));
    }
    // A body over the compression threshold (4 KiB by default) goes out zlib-compressed and
    // must come back intact.
    let big: String = (0..20_000)
        .map(|k| char::from(b'a' + (k % 26) as u8))
        .collect();
    let r = producer
        .send(
            Message::builder(topic.as_str())
                .body(big.clone())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    sent.insert(big);
    println!("sent {} messages to {topic} via {ns}", sent.len());

    let got = Arc::new(Mutex::new(HashSet::new()));
    let sink = Arc::clone(&got);
    let consumer = PushConsumer::builder()
        .name_server(&ns)
        .group(unique("peer_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx| {
            let sink = Arc::clone(&sink);
            async move {
                let mut g = sink.lock().unwrap();
                for m in msgs {
                    g.insert(String::from_utf8_lossy(&m.body).into_owned());
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap();
    let t0 = Instant::now();
    consumer.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.lock().unwrap().len() < sent.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = got.lock().unwrap().clone();
    println!(
        "consumed {} of {} in {:?}",
        got.len(),
        sent.len(),
        t0.elapsed()
    );
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    let missing: Vec<_> = sent.difference(&got).collect();
    assert!(missing.is_empty(), "not consumed: {missing:?}");
}

/// Tracing, the peer NameServer's address, a fresh topic name and a started producer.
async fn peer_setup(topic_prefix: &str) -> (String, String, Producer) {
    rocketmq_it::init_tracing();
    let ns = peer_namesrv();
    let topic = unique(topic_prefix);
    let producer = started_producer(&ns).await;
    (ns, topic, producer)
}

async fn started_producer(ns: &str) -> Producer {
    let producer = Producer::builder()
        .name_server(ns)
        .group(unique("peer_pg"))
        .send_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// Sends `n` messages with bodies `<tag>-<i>`; the first send auto-creates the topic.
async fn send_n(producer: &Producer, topic: &str, tag: &str, n: usize) -> HashSet<String> {
    let mut sent = HashSet::new();
    for i in 0..n {
        let body = format!("{tag}-{i}");
        let m = Message::builder(topic).body(body.clone()).build().unwrap();
        let r = producer.send(m).await.unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        sent.insert(body);
    }
    sent
}

async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t0.elapsed()
}

type Receipts = Arc<Mutex<Vec<(String, i32, i32)>>>; // (body, queue id, reconsume times)
/// Per body: (reconsumeTimes, arrival) of each delivery.
type Attempts = Arc<Mutex<HashMap<String, Vec<(i32, Instant)>>>>;

fn recording_consumer(
    ns: &str,
    group: &str,
    topic: &str,
    model: MessageModel,
    log: &Receipts,
) -> PushConsumer {
    let sink = Arc::clone(log);
    PushConsumer::builder()
        .name_server(ns)
        .group(group)
        .subscribe(topic, "*")
        .message_model(model)
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx| {
            let sink = Arc::clone(&sink);
            async move {
                let mut g = sink.lock().unwrap();
                for m in msgs {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    g.push((body, m.queue_id, m.reconsume_times));
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap()
}

/// Two push consumers of one clustering group divide the topic's queues between them: every
/// message is consumed, and each queue is consumed by one member only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn clustering_group_divides_queues_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerCluster").await;
    // Create the topic first so both consumers see its queues at start.
    let mut sent = send_n(&producer, &topic, "warm", 1).await;
    let group = unique("peer_cluster_cg");
    let (log_a, log_b): (Receipts, Receipts) = (Arc::default(), Arc::default());
    let a = recording_consumer(&ns, &group, &topic, MessageModel::Clustering, &log_a);
    let b = recording_consumer(&ns, &group, &topic, MessageModel::Clustering, &log_b);
    a.start().await.unwrap();
    b.start().await.unwrap();
    // Let both members heartbeat and rebalance before the measured traffic.
    let settle = wait_for("both members to own queues", 60, || {
        !a.assigned_queues().is_empty() && !b.assigned_queues().is_empty()
    })
    .await;
    println!(
        "rebalanced in {settle:?}: a={:?} b={:?}",
        a.assigned_queues(),
        b.assigned_queues()
    );
    log_a.lock().unwrap().clear();
    log_b.lock().unwrap().clear();
    sent.extend(send_n(&producer, &topic, "c", 40).await);
    sent.remove("warm-0");
    let took = wait_for("all 40 messages", 60, || {
        let got: HashSet<String> = log_a
            .lock()
            .unwrap()
            .iter()
            .chain(log_b.lock().unwrap().iter())
            .map(|r| r.0.clone())
            .collect();
        sent.is_subset(&got)
    })
    .await;
    let qa: HashSet<i32> = log_a.lock().unwrap().iter().map(|r| r.1).collect();
    let qb: HashSet<i32> = log_b.lock().unwrap().iter().map(|r| r.1).collect();
    println!(
        "clustering: consumed 40 in {took:?}; member a got {} on queues {qa:?}, member b got {} on queues {qb:?}",
        log_a.lock().unwrap().len(),
        log_b.lock().unwrap().len()
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    producer.shutdown().await;
    assert!(
        qa.is_disjoint(&qb),
        "a queue was consumed by both members: {qa:?} / {qb:?}"
    );
    assert!(!qa.is_empty() && !qb.is_empty(), "one member got nothing");
}

/// Broadcasting: every member gets every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn broadcasting_reaches_every_member_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerBroadcast").await;
    let sent = send_n(&producer, &topic, "b", 20).await;
    let group = unique("peer_bcast_cg");
    let (log_a, log_b): (Receipts, Receipts) = (Arc::default(), Arc::default());
    let a = recording_consumer(&ns, &group, &topic, MessageModel::Broadcasting, &log_a);
    let b = recording_consumer(&ns, &group, &topic, MessageModel::Broadcasting, &log_b);
    a.start().await.unwrap();
    b.start().await.unwrap();
    let bodies = |l: &Receipts| -> HashSet<String> {
        l.lock().unwrap().iter().map(|r| r.0.clone()).collect()
    };
    let took = wait_for("both members to get all 20", 60, || {
        sent.is_subset(&bodies(&log_a)) && sent.is_subset(&bodies(&log_b))
    })
    .await;
    println!("broadcasting: both members got all 20 in {took:?}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    producer.shutdown().await;
}

/// Orderly listener over keyed sends: per key, steps arrive in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn orderly_consumption_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerOrderly").await;
    const KEYS: usize = 4;
    const STEPS: usize = 15;
    let by_key = |qs: &[MessageQueue], k: &usize| Some(*k % qs.len());
    for step in 0..STEPS {
        for key in 0..KEYS {
            let m = Message::builder(topic.as_str())
                .body(format!("{key}:{step}"))
                .build()
                .unwrap();
            producer.send_with_selector(m, &by_key, &key).await.unwrap();
        }
    }
    let log: Arc<Mutex<BTreeMap<usize, Vec<usize>>>> = Arc::default();
    let sink = Arc::clone(&log);
    let consumer = PushConsumer::builder()
        .name_server(&ns)
        .group(unique("peer_orderly_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .orderly_listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| {
            let sink = Arc::clone(&sink);
            async move {
                let mut g = sink.lock().unwrap();
                for m in msgs {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    if let Some((k, s)) = body.split_once(':') {
                        g.entry(k.parse().unwrap())
                            .or_default()
                            .push(s.parse().unwrap());
                    }
                }
                OrderlyResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    let took = wait_for("all orderly messages", 60, || {
        log.lock().unwrap().values().map(Vec::len).sum::<usize>() >= KEYS * STEPS
    })
    .await;
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    let log = log.lock().unwrap().clone();
    println!(
        "orderly: {} messages over {KEYS} keys in {took:?}",
        KEYS * STEPS
    );
    for (k, steps) in &log {
        assert_eq!(
            steps,
            &(0..STEPS).collect::<Vec<_>>(),
            "key {k} out of order"
        );
    }
}

/// A listener that asks for a retry gets the message back through the retry topic with
/// reconsumeTimes raised (the broker's CONSUMER_SEND_MSG_BACK and delay levels at work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn retry_after_reconsume_later_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerRetry").await;
    let sent = send_n(&producer, &topic, "r", 3).await;
    let attempts: Attempts = Arc::default();
    let sink = Arc::clone(&attempts);
    let consumer = PushConsumer::builder()
        .name_server(&ns)
        .group(unique("peer_retry_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .consume_batch_size(1)
        .listener(move |msgs: Vec<MessageExt>, _ctx| {
            let sink = Arc::clone(&sink);
            async move {
                let mut g = sink.lock().unwrap();
                let mut first_time = false;
                for m in msgs {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    let seen = g.entry(body).or_default();
                    first_time |= seen.is_empty();
                    seen.push((m.reconsume_times, Instant::now()));
                }
                if first_time {
                    ConsumeResult::ReconsumeLater
                } else {
                    ConsumeResult::Success
                }
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    // First retry is delay level 3 (10 s) in Apache's schedule.
    let took = wait_for("every message redelivered once", 90, || {
        let g = attempts.lock().unwrap();
        sent.iter().all(|b| g.get(b).is_some_and(|v| v.len() >= 2))
    })
    .await;
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    let g = attempts.lock().unwrap();
    for (body, tries) in g.iter() {
        let gap = tries[1].1 - tries[0].1;
        println!(
            "retry: {body}: reconsumeTimes {} then {} after {gap:?}",
            tries[0].0, tries[1].0
        );
        assert_eq!(tries[0].0, 0);
        assert!(
            tries[1].0 >= 1,
            "redelivery of {body} kept reconsumeTimes {}",
            tries[1].0
        );
    }
    println!("retry: all redelivered within {took:?}");
}

/// A delay-level message is delivered no earlier than its level's delay (level 2 = 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn delay_level_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerDelay").await;
    send_n(&producer, &topic, "warm", 1).await;
    let log: Receipts = Arc::default();
    let consumer = recording_consumer(
        &ns,
        &unique("peer_delay_cg"),
        &topic,
        MessageModel::Clustering,
        &log,
    );
    consumer.start().await.unwrap();
    wait_for("the warm-up message", 60, || {
        !log.lock().unwrap().is_empty()
    })
    .await;
    let m = Message::builder(topic.as_str())
        .body("delayed")
        .delay_level(2)
        .build()
        .unwrap();
    let t0 = Instant::now();
    producer.send(m).await.unwrap();
    wait_for("the delayed message", 60, || {
        log.lock().unwrap().iter().any(|r| r.0 == "delayed")
    })
    .await;
    let late = t0.elapsed();
    println!("delay level 2: delivered after {late:?}");
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    assert!(
        late >= Duration::from_millis(4500),
        "delivered after only {late:?}"
    );
}

/// Lite pull: assigned queues, poll, manual commit, committed offsets read back, seek back to
/// the beginning re-reads the same messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running rocketmq-rust NameServer + broker: set ROCKETMQ_IT_PEER_NAMESRV"]
async fn lite_pull_commit_and_seek_against_rocketmq_rust() {
    let (ns, topic, producer) = peer_setup("PeerLite").await;
    let sent = send_n(&producer, &topic, "l", 24).await;
    let consumer = LitePullConsumer::builder()
        .name_server(&ns)
        .group(unique("peer_lite_cg"))
        .auto_commit(false)
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    let mqs = consumer.fetch_message_queues(&topic).await.unwrap();
    consumer.assign(mqs.clone()).await.unwrap();
    for mq in &mqs {
        consumer.seek_to_begin(mq).await.unwrap();
    }
    let mut got: Vec<MessageExt> = Vec::new();
    let t0 = Instant::now();
    while got.len() < sent.len() && t0.elapsed() < Duration::from_secs(60) {
        got.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    let bodies: HashSet<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    assert_eq!(bodies, sent, "lite pull read a different set");
    consumer.commit_sync().await.unwrap();
    let mut per_queue: HashMap<i32, i64> = HashMap::new();
    for m in &got {
        let e = per_queue.entry(m.queue_id).or_insert(0);
        *e = (*e).max(m.queue_offset + 1);
    }
    for mq in &mqs {
        let committed = consumer.committed(mq).await.unwrap();
        let expect = per_queue.get(&mq.queue_id).copied();
        println!(
            "lite: queue {} committed {committed:?} (next offset after reads {expect:?})",
            mq.queue_id
        );
        if let Some(expect) = expect {
            assert_eq!(
                committed,
                Some(expect),
                "queue {} committed offset",
                mq.queue_id
            );
        }
    }
    // Seek one non-empty queue back to its start: the same messages come again.
    let (qid, _) = per_queue.iter().next().map(|(q, o)| (*q, *o)).unwrap();
    let mq = mqs.iter().find(|m| m.queue_id == qid).unwrap().clone();
    let first_pass: HashSet<String> = got
        .iter()
        .filter(|m| m.queue_id == qid)
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    consumer.seek(&mq, 0).await.unwrap();
    let mut again = HashSet::new();
    let t0 = Instant::now();
    while again.len() < first_pass.len() && t0.elapsed() < Duration::from_secs(30) {
        for m in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            assert_eq!(
                m.queue_id, qid,
                "after seek only the sought queue has new data"
            );
            again.insert(String::from_utf8_lossy(&m.body).into_owned());
        }
    }
    println!(
        "lite: {} messages polled, commit ok, seek to 0 re-read {} of queue {qid}",
        got.len(),
        again.len()
    );
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    assert_eq!(again, first_pass);
}
