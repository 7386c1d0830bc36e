//! Synchronous send: `send(msg).await` returns once the broker stored the message.
//!
//! `cargo run --example sync_send` (embedded cluster, or `NAMESRV_ADDR=host:port`).

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::message::{Message, SendStatus};
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("SyncTopic");
    cluster.create_topic(&topic, 4).await?;

    // One producer per application and group; it is cheap to clone and share.
    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group("example_sync_pg")
        .build()?;
    producer.start().await?;

    for i in 0..5 {
        let msg = Message::builder(topic.as_str())
            .tag("TagA")
            .keys([format!("order-{i}")]) // indexed: findable with `rocketmq-cli message query-key`
            .property("source", "sync_send") // user property
            .body(format!("sync message {i}"))
            .build()?;
        let r = producer.send(msg).await?;
        // SendOk means stored; FlushDiskTimeout / SlaveNotAvailable are stored too, with a warning.
        println!(
            "{:?} msgId={} queue={} offset={}",
            r.status, r.msg_id, r.message_queue.queue_id, r.queue_offset
        );
        if r.status != SendStatus::SendOk {
            return Err(format!("unexpected status {:?}", r.status).into());
        }
    }

    producer.shutdown().await;
    cluster.shutdown().await;
    Ok(())
}
