//! Push consumer, concurrent listener: batches of different queues are processed in
//! parallel; returning `ReconsumeLater` redelivers a batch later (via the retry topic).
//!
//! `cargo run --example push_concurrent`

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, MessageModel, PushConsumer,
};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;

const N: usize = 50;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("PushTopic");
    cluster.create_topic(&topic, 4).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_push_pg")
        .build()?;
    producer.start().await?;
    for i in 0..N {
        let tag = if i % 5 == 0 { "TagB" } else { "TagA" };
        producer
            .send(
                Message::builder(topic.as_str())
                    .tag(tag)
                    .body(format!("msg {i}"))
                    .build()?,
            )
            .await?;
    }

    let bodies = Arc::new(Mutex::new(HashSet::new()));
    let failed_once = Arc::new(AtomicBool::new(false));
    let (sink, fail) = (Arc::clone(&bodies), Arc::clone(&failed_once));
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_push_cg"))
        .subscribe(topic.as_str(), "TagA || TagB") // tag filter: both tags
        .message_model(MessageModel::Clustering) // the default: each message to one member
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .consume_concurrency(4)
        .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
            let (sink, fail) = (Arc::clone(&sink), Arc::clone(&fail));
            async move {
                // Fail the first batch once to show redelivery.
                if !fail.swap(true, Ordering::Relaxed) {
                    println!(
                        "queue {}: asking for redelivery of {} message(s)",
                        ctx.queue.queue_id,
                        msgs.len()
                    );
                    return ConsumeResult::ReconsumeLater;
                }
                let mut seen = sink.lock().unwrap();
                for m in &msgs {
                    seen.insert(String::from_utf8_lossy(&m.body).into_owned());
                }
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let all = wait_until(&*rt, Duration::from_secs(40), || {
        bodies.lock().unwrap().len() >= N
    })
    .await;
    println!(
        "consumed {} distinct messages",
        bodies.lock().unwrap().len()
    );

    consumer.shutdown().await?;
    producer.shutdown().await;
    cluster.shutdown().await;
    if !all {
        return Err("not every message was consumed".into());
    }
    Ok(())
}
