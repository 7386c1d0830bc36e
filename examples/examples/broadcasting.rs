//! Broadcasting: every consumer of the group gets every message (offsets are kept per
//! consumer, locally), unlike clustering where each message goes to one member.
//!
//! `cargo run --example broadcasting`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, MessageModel, PushConsumer,
};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;

const N: usize = 20;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("BroadcastTopic");
    cluster.create_topic(&topic, 2).await?;
    let group = unique("example_broadcast_cg");

    // Two members of one group, each with its own client instance (as two processes would be).
    let mut consumers = Vec::new();
    let mut counters = Vec::new();
    for member in 0..2 {
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        let mut cfg = cluster.client_config();
        cfg.instance_name = Some(format!("member-{member}-{}", std::process::id()));
        let consumer = PushConsumer::builder()
            .client_config(cfg)
            .group(group.clone())
            .subscribe(topic.as_str(), "*")
            .message_model(MessageModel::Broadcasting)
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let c = Arc::clone(&c);
                async move {
                    c.fetch_add(msgs.len(), Ordering::Relaxed);
                    ConsumeResult::Success
                }
            })
            .build()?;
        consumer.start().await?;
        consumers.push(consumer);
        counters.push(count);
    }

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_broadcast_pg")
        .build()?;
    producer.start().await?;
    for i in 0..N {
        producer
            .send(
                Message::builder(topic.as_str())
                    .body(format!("news {i}"))
                    .build()?,
            )
            .await?;
    }

    let all = wait_until(&*rt, Duration::from_secs(40), || {
        counters.iter().all(|c| c.load(Ordering::Relaxed) >= N)
    })
    .await;
    for (i, c) in counters.iter().enumerate() {
        println!("member {i} received {}", c.load(Ordering::Relaxed));
    }

    for c in consumers {
        c.shutdown().await?;
    }
    producer.shutdown().await;
    cluster.shutdown().await;
    if !all {
        return Err("a member missed messages".into());
    }
    Ok(())
}
