//! Push consumers against the in-process mini NameServer and mini broker. The test bodies take
//! an `Arc<dyn Runtime>` so smol / async-std instances can be added next to the tokio one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mini_broker::{Broker, BrokerConfig};
use mini_namesrv::{NameServer, NamesrvConfig};
use rocketmq_client::client::{CreateTopicOptions, TopicTarget};
use rocketmq_client::{
    ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_remoting::rt::Runtime;

async fn eventually(rt: &dyn Runtime, what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        rt.sleep(Duration::from_millis(50)).await;
    }
}

/// Every delivery in order: (consumer, queue id, queue offset).
type Receipts = Arc<Mutex<Vec<(String, i32, i64)>>>;

fn consumer(ns: &str, rt: &Arc<dyn Runtime>, name: &str, receipts: Receipts) -> PushConsumer {
    let mut client = ClientConfig::with_name_server(ns);
    client.runtime = Some(rt.clone());
    client.rebalance_interval = Duration::from_millis(500);
    client.persist_offset_interval = Duration::from_millis(200);
    client.heartbeat_interval = Duration::from_millis(500);
    let name = name.to_owned();
    PushConsumer::builder()
        .client_config(client)
        .group("it_cluster_group")
        .subscribe("ItConsumeTopic", "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
            let r = receipts.clone();
            let name = name.clone();
            async move {
                let mut r = r.lock().unwrap();
                for m in msgs {
                    r.push((name.clone(), ctx.queue.queue_id, m.queue_offset));
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap()
}

async fn clustering_three_consumers_one_killed(rt: Arc<dyn Runtime>) {
    let ns = NameServer::start(
        NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap()),
        rt.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.namesrv_addrs = vec![ns.addr().to_string()];
    cfg.register_name_server_period_ms = 200;
    let broker = Broker::start(cfg, rt.clone()).await.unwrap();
    let ns_addr = ns.addr().to_string();

    let producer = Producer::builder()
        .name_server(&ns_addr)
        .runtime(rt.clone())
        .group("it_cluster_pg")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let opts = CreateTopicOptions {
        read_queue_nums: 6,
        write_queue_nums: 6,
        ..Default::default()
    };
    producer
        .client_instance()
        .create_topic(
            "ItConsumeTopic",
            TopicTarget::Broker(broker.addr().to_string()),
            &opts,
        )
        .await
        .unwrap();
    let mut sent = HashSet::new();
    let t = Instant::now();
    while sent.len() < 300 {
        match producer
            .send(Message::new("ItConsumeTopic", format!("m{}", sent.len())))
            .await
        {
            Ok(r) => {
                sent.insert((r.message_queue.queue_id, r.queue_offset));
            }
            Err(e) => {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "send never worked: {e}"
                );
                rt.sleep(Duration::from_millis(100)).await;
            }
        }
    }

    let receipts: Receipts = Arc::default();
    let cs: Vec<PushConsumer> = (0..3)
        .map(|i| consumer(&ns_addr, &rt, &format!("c{i}"), receipts.clone()))
        .collect();
    for c in &cs {
        c.start().await.unwrap();
    }
    let union = |r: &[(String, i32, i64)]| -> HashSet<(i32, i64)> {
        r.iter().map(|(_, q, o)| (*q, *o)).collect()
    };
    eventually(&*rt, "first 300 consumed", Duration::from_secs(30), || {
        union(&receipts.lock().unwrap()) == sent
    })
    .await;
    // Every consumer got a share once the group settled.
    eventually(
        &*rt,
        "queues split three ways",
        Duration::from_secs(10),
        || {
            cs.iter().all(|c| {
                c.assigned_queues()
                    .iter()
                    .filter(|q| q.topic == "ItConsumeTopic")
                    .count()
                    == 2
            })
        },
    )
    .await;
    // Start-up overlap: a queue may be consumed by its first owner and, before that owner's
    // commit reached the broker, by the next one. Only moved queues, and at most their content.
    let settled = receipts.lock().unwrap().len();
    let startup_dups = settled - sent.len();
    assert!(startup_dups <= 300, "{startup_dups} start-up duplicates");
    let before: HashSet<(i32, i64)> = union(&receipts.lock().unwrap());
    let killed_queues: HashSet<i32> = cs[2]
        .assigned_queues()
        .iter()
        .filter(|q| q.topic == "ItConsumeTopic")
        .map(|q| q.queue_id)
        .collect();
    cs[2].shutdown().await.unwrap();
    for i in 0..120 {
        let r = producer
            .send(Message::new("ItConsumeTopic", format!("n{i}")))
            .await
            .unwrap();
        sent.insert((r.message_queue.queue_id, r.queue_offset));
    }
    eventually(
        &*rt,
        "everything consumed after the kill",
        Duration::from_secs(30),
        || union(&receipts.lock().unwrap()) == sent,
    )
    .await;
    // After a graceful shutdown (everything committed synchronously) the moved queues must not
    // be re-delivered at all.
    let after: Vec<(String, i32, i64)> = receipts.lock().unwrap()[settled..].to_vec();
    let mut fresh = HashSet::new();
    let dups: Vec<_> = after
        .iter()
        .filter(|(_, q, o)| before.contains(&(*q, *o)) || !fresh.insert((*q, *o)))
        .collect();
    assert!(
        dups.is_empty(),
        "re-deliveries after a graceful shutdown: {dups:?}"
    );
    assert_eq!(killed_queues.len(), 2);
    assert!(
        after.iter().all(|(c, _, _)| c != "c2"),
        "a shut-down consumer consumed"
    );
    for c in &cs[..2] {
        c.shutdown().await.unwrap();
    }
    producer.shutdown().await;
    broker.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clustering_three_consumers_one_killed_tokio() {
    let rt = rocketmq_remoting::rt::default_runtime().unwrap();
    clustering_three_consumers_one_killed(rt).await;
}
