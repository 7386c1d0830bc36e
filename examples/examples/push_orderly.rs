//! Push consumer, orderly listener: each queue is locked on the broker and consumed by one
//! task at a time, in offset order — with ordered sending (see `ordered`), per-key order.
//!
//! `cargo run --example push_orderly`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeFromWhere, ConsumeOrderlyContext, OrderlyResult, PushConsumer,
};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::MessageQueue;

const ORDERS: u64 = 4;
const STEPS: u64 = 10;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("OrderlyTopic");
    cluster.create_topic(&topic, 2).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_orderly_pg")
        .build()?;
    producer.start().await?;
    let by_key = |qs: &[MessageQueue], k: &u64| Some(*k as usize % qs.len());
    for step in 0..STEPS {
        for order in 0..ORDERS {
            let msg = Message::builder(topic.as_str())
                .body(format!("{order}:{step}"))
                .build()?;
            producer.send_with_selector(msg, &by_key, &order).await?;
        }
    }

    // order id -> steps in the order they were consumed
    let log: Arc<Mutex<BTreeMap<u64, Vec<u64>>>> = Arc::default();
    let sink = Arc::clone(&log);
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_orderly_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .orderly_listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| {
            let sink = Arc::clone(&sink);
            async move {
                let mut log = sink.lock().unwrap();
                for m in &msgs {
                    let body = String::from_utf8_lossy(&m.body);
                    let Some((o, s)) = body.split_once(':') else {
                        continue;
                    };
                    if let (Ok(o), Ok(s)) = (o.parse(), s.parse()) {
                        log.entry(o).or_default().push(s);
                    }
                }
                // `SuspendCurrentQueueAMoment` would retry this same batch later, keeping order.
                OrderlyResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let total = (ORDERS * STEPS) as usize;
    let all = wait_until(&*rt, Duration::from_secs(40), || {
        log.lock().unwrap().values().map(Vec::len).sum::<usize>() >= total
    })
    .await;

    consumer.shutdown().await?;
    producer.shutdown().await;
    cluster.shutdown().await;
    let log = log.lock().unwrap();
    for (order, steps) in log.iter() {
        println!("order {order}: {steps:?}");
        if !steps.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("order {order} consumed out of order").into());
        }
    }
    if !all {
        return Err("not every message was consumed".into());
    }
    Ok(())
}
