//! Request-reply (RocketMQ 4.6+): `Producer::request` sends a message and waits for the
//! answer; the consumer answers with `create_reply` and any producer. The broker pushes the
//! reply straight to the requesting client.
//!
//! `cargo run --example request_reply`

use std::time::Duration;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::{create_reply, Producer};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("RequestTopic");
    cluster.create_topic(&topic, 1).await?;

    // The responder: a consumer that answers every request through its own producer.
    let replier = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_replier_pg")
        .build()?;
    replier.start().await?;
    let answering = replier.clone();
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_rr_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let replier = answering.clone();
            async move {
                for m in msgs {
                    let answer = format!("pong to {}", String::from_utf8_lossy(&m.body));
                    match create_reply(&m, answer) {
                        Ok(reply) => {
                            if let Err(e) = replier.send(reply).await {
                                eprintln!("reply failed: {e}");
                            }
                        }
                        Err(e) => eprintln!("not a request: {e}"),
                    }
                }
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let requester = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_requester_pg")
        .build()?;
    requester.start().await?;
    let reply = requester
        .request(
            Message::builder(topic.as_str()).body("ping").build()?,
            Duration::from_secs(15),
        )
        .await?;
    println!("reply: {}", String::from_utf8_lossy(&reply.body));

    requester.shutdown().await;
    consumer.shutdown().await?;
    replier.shutdown().await;
    cluster.shutdown().await;
    if reply.body == "pong to ping" {
        Ok(())
    } else {
        Err("unexpected reply".into())
    }
}
