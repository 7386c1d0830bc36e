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

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client::consumer::{ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_client::message::{Message, MessageExt};
use rocketmq_client::producer::selector::SelectByHash;
use rocketmq_client::producer::Producer;
use rocketmq_client::SendStatus;

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
