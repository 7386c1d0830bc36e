//! Transactional messages: a half message becomes visible only when the local transaction
//! commits; a rollback discards it. Undecided (`Unknown`) transactions are resolved later by
//! the broker asking `check_local` (every `transactionCheckInterval`, 30 s by default).
//!
//! `cargo run --example transaction`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::{
    LocalTransactionState, TransactionListener, TransactionProducer,
};
use rocketmq_rs_client::{async_trait, Producer};

/// Commits orders whose body ends in an even digit, rolls back the others.
struct Orders;

#[async_trait]
impl TransactionListener for Orders {
    async fn execute_local(&self, msg: &Message) -> LocalTransactionState {
        let even = matches!(msg.body.last(), Some(b'0' | b'2' | b'4' | b'6' | b'8'));
        if even {
            LocalTransactionState::Commit
        } else {
            LocalTransactionState::Rollback
        }
    }

    async fn check_local(&self, msg: &MessageExt) -> LocalTransactionState {
        // A real application looks the transaction up (by msg.uniq_key()) in its database.
        println!("broker asks about {:?}", msg.uniq_key());
        LocalTransactionState::Commit
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("TxOrderTopic");
    cluster.create_topic(&topic, 2).await?;

    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&received);
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_tx_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let sink = Arc::clone(&sink);
            async move {
                let mut s = sink.lock().unwrap();
                s.extend(
                    msgs.iter()
                        .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                );
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let producer = TransactionProducer::new(
        Producer::builder()
            .name_server(&cluster.namesrv)
            .runtime(rt.clone())
            .group("example_tx_pg"),
        Orders,
    )?;
    producer.start().await?;
    for i in 0..4 {
        let msg = Message::builder(topic.as_str())
            .body(format!("order-{i}"))
            .build()?;
        let r = producer.send_in_transaction(msg).await?;
        println!(
            "order-{i}: half {} -> {:?}",
            r.send_result.msg_id, r.local_state
        );
    }

    let ok = wait_until(&*rt, Duration::from_secs(20), || {
        received.lock().unwrap().len() >= 2
    })
    .await;
    // Give rolled-back orders a moment to (not) show up.
    rt.sleep(Duration::from_millis(500)).await;
    let mut got = received.lock().unwrap().clone();
    got.sort();
    println!("consumed: {got:?}");

    producer.shutdown().await;
    consumer.shutdown().await?;
    cluster.shutdown().await;
    if ok && got == ["order-0", "order-2"] {
        Ok(())
    } else {
        Err(format!("expected the two committed orders, got {got:?}").into())
    }
}
