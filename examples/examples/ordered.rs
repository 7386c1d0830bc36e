//! Ordered sending: all messages of one order go to the same queue (chosen from the order id
//! by a selector), so a consumer reading that queue sees them in send order.
//!
//! `cargo run --example ordered` — see `push_orderly` for the consuming side.

use std::collections::BTreeMap;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::consumer::PullConsumer;
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::MessageQueue;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("OrderedTopic");
    cluster.create_topic(&topic, 4).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group("example_ordered_pg")
        .build()?;
    producer.start().await?;

    // The selector: same order id -> same queue (any closure `Fn(&[MessageQueue], &A)` works;
    // `SelectByHash` does the same with Java's hashCode for Java interop).
    let by_order =
        |queues: &[MessageQueue], order_id: &u64| Some(*order_id as usize % queues.len());
    let steps = ["created", "paid", "shipped", "delivered"];
    let mut queue_of = BTreeMap::new();
    for step in steps {
        for order_id in 0..6u64 {
            let msg = Message::builder(topic.as_str())
                .keys([format!("order-{order_id}")])
                .body(format!("order {order_id}: {step}"))
                .build()?;
            let r = producer
                .send_with_selector(msg, &by_order, &order_id)
                .await?;
            queue_of.insert(order_id, r.message_queue.queue_id);
        }
    }
    println!("queue per order: {queue_of:?}");

    // Check: reading each queue in offset order gives each order's steps in order.
    let reader = PullConsumer::builder()
        .client_config(cluster.client_config())
        .group("example_ordered_check")
        .build()?;
    reader.start().await?;
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for mq in reader.fetch_subscribe_queues(&topic).await? {
        let r = reader.pull(&mq, "*", 0, 64).await?;
        for m in r.messages {
            let body = String::from_utf8_lossy(&m.body).into_owned();
            let (order, step) = body.split_once(": ").ok_or("bad body")?;
            let id: u64 = order.trim_start_matches("order ").parse()?;
            if queue_of[&id] != m.queue_id {
                return Err(format!("order {id} found on two queues").into());
            }
            seen.entry(id).or_default().push(step.to_string());
        }
    }
    for (id, got) in &seen {
        println!("order {id}: {}", got.join(" -> "));
        if got.as_slice() != steps {
            return Err(format!("order {id} out of order: {got:?}").into());
        }
    }
    if seen.len() != 6 {
        return Err(format!("expected 6 orders, saw {}", seen.len()).into());
    }

    reader.shutdown().await;
    producer.shutdown().await;
    cluster.shutdown().await;
    Ok(())
}
