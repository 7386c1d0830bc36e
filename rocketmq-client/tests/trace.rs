//! Message trace end to end on the in-process mini NameServer and broker (`trace_topic_enable`):
//! a traced producer, transaction producer and push consumer; the trace topic read back with a
//! pull consumer and decoded with `decode_trace_data`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_client::consumer::PullConsumer;
use rocketmq_rs_client::hook::MessageType;
use rocketmq_rs_client::producer::{LocalTransactionState, TransactionProducer};
use rocketmq_rs_client::trace::{
    decode_trace_data, TraceConfig, TraceContext, TraceType, RMQ_SYS_TRACE_TOPIC,
};
use rocketmq_rs_client::{
    async_trait, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer, TransactionListener,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::default_runtime;

struct Commit;

#[async_trait]
impl TransactionListener for Commit {
    async fn execute_local(&self, _msg: &Message) -> LocalTransactionState {
        LocalTransactionState::Commit
    }
    async fn check_local(&self, _msg: &MessageExt) -> LocalTransactionState {
        LocalTransactionState::Commit
    }
}

/// Every record of the trace topic, with the keys of the message it came in.
async fn read_traces(pull: &PullConsumer, topic: &str) -> Vec<(TraceContext, String)> {
    let mut out = Vec::new();
    for mq in pull.fetch_subscribe_queues(topic).await.unwrap() {
        let mut offset = 0;
        loop {
            let r = pull.pull(&mq, "*", offset, 32).await.unwrap();
            if r.messages.is_empty() {
                break;
            }
            for m in &r.messages {
                let body = std::str::from_utf8(&m.body).expect("trace bodies are UTF-8");
                for c in decode_trace_data(body).expect("our trace records decode") {
                    out.push((c, m.keys().unwrap_or("").to_owned()));
                }
            }
            offset = r.next_begin_offset;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_written_to_the_trace_topic_and_decode() {
    let rt = default_runtime().unwrap();
    let cluster = EmbeddedCluster::builder()
        .topic("TracedTopic", 2)
        .topic("TracedTx", 1)
        .configure(|cfg| cfg.trace_topic_enable = true)
        .start(rt.clone())
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    let broker_addr = cluster.brokers()[0].addr().to_string();
    let mut tc = TraceConfig::default();
    tc.flush_interval = Duration::from_millis(20);

    let producer = Producer::builder()
        .name_server(&ns)
        .runtime(rt.clone())
        .group("trace_pg")
        .enable_trace(tc.clone())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let mut sent = Vec::new();
    for i in 0..3 {
        let msg = Message::builder("TracedTopic")
            .tag("TagT")
            .keys([format!("order-{i}")])
            .body(format!("traced {i}"))
            .build()
            .unwrap();
        sent.push(producer.send(msg).await.unwrap());
    }

    let consumed = Arc::new(AtomicUsize::new(0));
    let c2 = consumed.clone();
    let consumer = PushConsumer::builder()
        .name_server(&ns)
        .group("trace_cg")
        .subscribe("TracedTopic", "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .enable_trace(tc.clone())
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let c = c2.clone();
            async move {
                c.fetch_add(msgs.len(), Ordering::Relaxed);
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();

    let mut b = Producer::builder()
        .name_server(&ns)
        .runtime(rt.clone())
        .group("trace_tx_pg")
        .enable_trace(tc.clone());
    b = b.retry_times(0);
    let tx = TransactionProducer::new(b, Commit).unwrap();
    tx.start().await.unwrap();
    let txr = tx
        .send_in_transaction(Message::new("TracedTx", "tx body"))
        .await
        .unwrap();

    cluster
        .wait_until("3 consumed", Duration::from_secs(20), || async {
            match consumed.load(Ordering::Relaxed) {
                n if n >= 3 => Ok(()),
                n => Err(n),
            }
        })
        .await
        .unwrap();
    // Shutting down flushes what is queued.
    consumer.shutdown().await.unwrap();
    producer.shutdown().await;
    tx.shutdown().await;
    let stats = producer.trace_stats().unwrap();
    assert_eq!(stats.dropped, 0);
    assert!(stats.queued >= 3, "{stats:?}");

    let pull = PullConsumer::builder()
        .name_server(&ns)
        .group("trace_reader")
        .build()
        .unwrap();
    pull.start().await.unwrap();
    let traces = cluster
        .wait_until(
            "3 SubAfter and an EndTransaction",
            Duration::from_secs(20),
            || async {
                let traces = read_traces(&pull, RMQ_SYS_TRACE_TOPIC).await;
                let count =
                    |kind: TraceType| traces.iter().filter(|(c, _)| c.trace_type == kind).count();
                let (subs, ends) = (count(TraceType::SubAfter), count(TraceType::EndTransaction));
                if subs >= 3 && ends >= 1 {
                    Ok(traces)
                } else {
                    Err(format!("{subs} SubAfter, {ends} EndTransaction"))
                }
            },
        )
        .await
        .unwrap();

    for (i, r) in sent.iter().enumerate() {
        let of = |kind: TraceType| -> Vec<&(TraceContext, String)> {
            traces
                .iter()
                .filter(|(c, _)| c.trace_type == kind && c.bean.msg_id == r.msg_id)
                .collect()
        };
        let pubs = of(TraceType::Pub);
        assert_eq!(pubs.len(), 1, "one Pub for {}: {traces:#?}", r.msg_id);
        let (p, keys) = pubs[0];
        assert_eq!(p.group_name, "trace_pg");
        assert_eq!(p.region_id, "DefaultRegion");
        assert_eq!(p.bean.topic, "TracedTopic");
        assert_eq!(p.bean.offset_msg_id, r.offset_msg_id);
        assert_eq!(p.bean.tags.as_deref(), Some("TagT"));
        let key = format!("order-{i}");
        assert_eq!(p.bean.keys.as_deref(), Some(key.as_str()));
        assert_eq!(p.bean.store_host, broker_addr);
        assert_eq!(p.bean.body_length, format!("traced {i}").len() as i32);
        assert_eq!(p.bean.msg_type, Some(MessageType::Normal));
        assert!(p.success);
        // A query by message id or by key finds the trace message.
        let words: Vec<&str> = keys.split(' ').collect();
        assert!(words.contains(&r.msg_id.as_str()), "keys {keys:?}");
        assert!(words.contains(&key.as_str()), "keys {keys:?}");

        let before = of(TraceType::SubBefore);
        let after = of(TraceType::SubAfter);
        assert_eq!(before.len(), 1, "one SubBefore for {}", r.msg_id);
        assert_eq!(after.len(), 1, "one SubAfter for {}", r.msg_id);
        let (b, a) = (&before[0].0, &after[0].0);
        assert_eq!(b.group_name, "trace_cg");
        assert_eq!(b.bean.retry_times, 0);
        assert_eq!(b.bean.keys.as_deref(), Some(key.as_str()));
        assert_eq!(a.request_id, b.request_id);
        assert!(!a.request_id.is_empty());
        assert!(a.success);
        assert_eq!(a.context_code, 0);
        assert_eq!(a.group_name, "trace_cg");
        assert!(a.timestamp >= b.timestamp);
    }
    let ends: Vec<&TraceContext> = traces
        .iter()
        .map(|(c, _)| c)
        .filter(|c| c.trace_type == TraceType::EndTransaction)
        .collect();
    assert_eq!(ends.len(), 1, "{ends:#?}");
    assert_eq!(ends[0].bean.msg_id, txr.send_result.msg_id);
    assert_eq!(ends[0].group_name, "trace_tx_pg");
    assert_eq!(
        ends[0].bean.transaction_state,
        Some(LocalTransactionState::Commit)
    );
    assert!(!ends[0].bean.from_transaction_check);
    // The half message's Pub says it is one.
    assert!(traces.iter().any(|(c, _)| c.trace_type == TraceType::Pub
        && c.bean.msg_id == txr.send_result.msg_id
        && c.bean.msg_type == Some(MessageType::TransactionHalf)));

    eprintln!("{} trace records read back", traces.len());
    // Nothing traces the trace topic itself.
    assert!(traces
        .iter()
        .all(|(c, _)| c.bean.topic != RMQ_SYS_TRACE_TOPIC));
    pull.shutdown().await;
    cluster.shutdown().await;
}
