//! Choosing the runtime: tokio. Inside a tokio runtime nothing needs to be configured —
//! clients pick the current tokio runtime. To be explicit (or to use another tokio runtime
//! than the current one), pass `TokioRuntime::from_handle(handle)` to `.runtime(..)`.
//!
//! `cargo run --example runtime_tokio`

use std::sync::Arc;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};

fn main() -> Result<(), BoxError> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let rt: Arc<dyn Runtime> =
            Arc::new(TokioRuntime::from_handle(tokio::runtime::Handle::current()));
        let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
        let topic = unique("TokioTopic");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv)
            .runtime(rt) // explicit; omitting it picks the current tokio runtime
            .group("example_tokio_pg")
            .build()?;
        producer.start().await?;
        let r = producer
            .send(Message::new(topic.as_str(), "sent from tokio"))
            .await?;
        println!("tokio: {:?} at offset {}", r.status, r.queue_offset);
        producer.shutdown().await;
        cluster.shutdown().await;
        Ok(())
    })
}
