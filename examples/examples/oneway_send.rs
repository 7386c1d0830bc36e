//! Oneway send: no answer from the broker (fastest, no delivery guarantee) — for logs and
//! metrics where losing a message is acceptable.
//!
//! `cargo run --example oneway_send`

use std::time::Duration;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::consumer::PullConsumer;
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("OnewayTopic");
    cluster.create_topic(&topic, 1).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_oneway_pg")
        .build()?;
    producer.start().await?;
    for i in 0..10 {
        // Returns once the request is written to the socket.
        producer
            .send_oneway(
                Message::builder(topic.as_str())
                    .body(format!("log line {i}"))
                    .build()?,
            )
            .await?;
    }
    println!("10 oneway messages written");

    // Check they arrived: the queue's max offset reaches 10.
    let reader = PullConsumer::builder()
        .client_config(cluster.client_config())
        .group("example_oneway_check")
        .build()?;
    reader.start().await?;
    let mq = reader.fetch_subscribe_queues(&topic).await?.remove(0);
    let mut stored = 0;
    for _ in 0..100 {
        stored = reader.max_offset(&mq).await?;
        if stored >= 10 {
            break;
        }
        rt.sleep(Duration::from_millis(50)).await;
    }
    println!("broker stored {stored}");

    reader.shutdown().await;
    producer.shutdown().await;
    cluster.shutdown().await;
    if stored < 10 {
        return Err(format!("only {stored} of 10 oneway messages stored").into());
    }
    Ok(())
}
