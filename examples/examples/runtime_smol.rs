//! Choosing the runtime: smol. Enable the `runtime-smol` feature of `rocketmq-client` and
//! pass `SmolRuntime` to `.runtime(..)`; nothing else changes.
//!
//! `cargo run --example runtime_smol`

use std::sync::Arc;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_remoting::rt::{Runtime, SmolRuntime};

fn main() -> Result<(), BoxError> {
    smol::block_on(async {
        let rt: Arc<dyn Runtime> = Arc::new(SmolRuntime::new());
        let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
        let topic = unique("SmolTopic");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv)
            .runtime(rt)
            .group("example_smol_pg")
            .build()?;
        producer.start().await?;
        let r = producer
            .send(Message::new(topic.as_str(), "sent from smol"))
            .await?;
        println!("smol: {:?} at offset {}", r.status, r.queue_offset);
        producer.shutdown().await;
        cluster.shutdown().await;
        Ok(())
    })
}
