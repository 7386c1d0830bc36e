//! POP consumption (RocketMQ 5.x) with the `SimpleConsumer`: several consumers share every
//! queue, each message is acked on its own, an unacked one comes back after its invisible
//! duration. Ends with a rough POP vs push rate on the same broker: four `SimpleConsumer`s,
//! one push consumer in POP mode, one push consumer pulling.
//!
//! `cargo run --release --example pop` (`POP_EXAMPLE_MESSAGES=20000` for a longer run)

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, PopMode, PushConsumer, SimpleConsumer,
};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;

async fn produce(producer: &Producer, topic: &str, n: usize) -> Result<(), BoxError> {
    for i in 0..n {
        producer
            .send(Message::builder(topic).body(format!("m{i}")).build()?)
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let n: usize = std::env::var("POP_EXAMPLE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_pop_pg")
        .build()?;
    producer.start().await?;

    // 1. Redelivery: receive with a 2 s invisible duration and do not ack.
    let topic = unique("PopTopic");
    cluster.create_topic(&topic, 2).await?;
    produce(&producer, &topic, 1).await?;
    let group = unique("example_pop_cg");
    let consumer = SimpleConsumer::builder()
        .client_config(cluster.client_config())
        .group(&group)
        .subscribe(topic.as_str(), "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .await_duration(Duration::from_secs(1))
        .build()?;
    consumer.start().await?;
    let mut first = Vec::new();
    while first.is_empty() {
        first = consumer.receive(8, Duration::from_secs(2)).await?;
    }
    println!("received {:?}, not acking it", first[0].message.body);
    let t = Instant::now();
    loop {
        let again = consumer.receive(8, Duration::from_secs(30)).await?;
        if let Some(m) = again.first() {
            println!(
                "back after {:.1} s, delivery attempt {}; acking",
                t.elapsed().as_secs_f64(),
                m.delivery_attempt()
            );
            consumer.ack(m).await?;
            break;
        }
    }
    consumer.shutdown().await;

    // 2. Rates: 4 POP consumers on 2 queues vs one push consumer, same broker, same load.
    let pop_topic = unique("PopRate");
    cluster.create_topic(&pop_topic, 2).await?;
    produce(&producer, &pop_topic, n).await?;
    let pop_group = unique("example_pop_rate");
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = SimpleConsumer::builder()
            .client_config(cluster.client_config())
            .group(&pop_group)
            .subscribe(pop_topic.as_str(), "*")
            .consume_from(ConsumeFromWhere::FirstOffset)
            .await_duration(Duration::from_millis(500))
            .build()?;
        c.start().await?;
        let seen = Arc::clone(&seen);
        tasks.push(tokio::spawn(async move {
            while seen.lock().unwrap().len() < n {
                let batch = c
                    .receive(32, Duration::from_secs(60))
                    .await
                    .unwrap_or_default();
                // One BATCH_ACK_MESSAGE per receive instead of one ACK_MESSAGE per message.
                if c.ack_all(&batch).await.is_ok() {
                    let mut seen = seen.lock().unwrap();
                    seen.extend(batch.into_iter().map(|m| m.message.body));
                }
            }
            c.shutdown().await;
        }));
    }
    for t in tasks {
        t.await?;
    }
    let pop_rate = n as f64 / t.elapsed().as_secs_f64();

    let push_pop_rate = push_rate(&cluster, &producer, &rt, n, PopMode::Always).await?;
    let push_rate = push_rate(&cluster, &producer, &rt, n, PopMode::Never).await?;
    println!(
        "{n} messages: POP (4 SimpleConsumers, receive 32 + batch ack) {pop_rate:.0} msg/s, \
         push consumer in POP mode {push_pop_rate:.0} msg/s, push (1 consumer, pull) \
         {push_rate:.0} msg/s"
    );
    producer.shutdown().await;
    cluster.shutdown().await;
    Ok(())
}

/// One push consumer (`mode`: POP or pull) drains `n` fresh messages: messages per second,
/// start included.
async fn push_rate(
    cluster: &Cluster,
    producer: &Producer,
    rt: &std::sync::Arc<dyn rocketmq_rs_remoting::rt::Runtime>,
    n: usize,
    mode: PopMode,
) -> Result<f64, BoxError> {
    let topic = unique("PushRate");
    cluster.create_topic(&topic, 2).await?;
    produce(producer, &topic, n).await?;
    let got = Arc::new(Mutex::new(0usize));
    let sink = Arc::clone(&got);
    let t = Instant::now();
    let push = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_push_rate"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .pop_mode(mode)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let sink = Arc::clone(&sink);
            async move {
                *sink.lock().unwrap() += msgs.len();
                ConsumeResult::Success
            }
        })
        .build()?;
    push.start().await?;
    if !wait_until(&**rt, Duration::from_secs(120), || {
        *got.lock().unwrap() >= n
    })
    .await
    {
        return Err(
            format!("the push consumer ({mode:?}) did not get every message in 120 s").into(),
        );
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    push.shutdown().await?;
    Ok(rate)
}
