//! Choosing the runtime: async-std. Enable the `runtime-async-std` feature of
//! `rocketmq-client` and pass `AsyncStdRuntime` to `.runtime(..)`; nothing else changes.
//!
//! `cargo run --example runtime_async_std`

use std::sync::Arc;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime};

fn main() -> Result<(), BoxError> {
    async_std::task::block_on(async {
        let rt: Arc<dyn Runtime> = Arc::new(AsyncStdRuntime::new());
        // The embedded servers run on the same runtime.
        let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
        let topic = unique("AsyncStdTopic");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv)
            .runtime(rt)
            .group("example_async_std_pg")
            .build()?;
        producer.start().await?;
        let r = producer
            .send(Message::new(topic.as_str(), "sent from async-std"))
            .await?;
        println!("async-std: {:?} at offset {}", r.status, r.queue_offset);
        producer.shutdown().await;
        cluster.shutdown().await;
        Ok(())
    })
}
