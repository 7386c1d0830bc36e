//! Delayed delivery: a message with a delay level becomes visible to consumers only after
//! that level's delay (levels `1s 5s 10s 30s 1m ...`; level 1 = 1 s by default).
//!
//! `cargo run --example delay`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("DelayTopic");
    cluster.create_topic(&topic, 1).await?;

    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&arrivals);
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_delay_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock()
                    .unwrap()
                    .extend(msgs.iter().map(|_| Instant::now()));
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_delay_pg")
        .build()?;
    producer.start().await?;

    let sent_at = Instant::now();
    let msg = Message::builder(topic.as_str())
        .delay_level(1) // 1 s
        .body("see you in a second")
        .build()?;
    producer.send(msg).await?;
    println!("sent with delay level 1");

    let arrived = wait_until(&*rt, Duration::from_secs(20), || {
        !arrivals.lock().unwrap().is_empty()
    })
    .await;
    let after = arrivals
        .lock()
        .unwrap()
        .first()
        .map(|t| t.duration_since(sent_at));
    println!("delivered after {after:?}");

    producer.shutdown().await;
    consumer.shutdown().await?;
    cluster.shutdown().await;
    match after {
        Some(d) if arrived && d >= Duration::from_millis(900) => Ok(()),
        Some(d) => Err(format!("delivered too early: {d:?}").into()),
        None => Err("the delayed message never arrived".into()),
    }
}
