//! Send and consume hooks against the in-process mini NameServer and broker: what each hook
//! sees for sync / async / oneway / batch sends, a failed attempt, and the batches of the
//! push, pull and lite-pull consumers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::{LitePullConsumer, PullConsumer};
use rocketmq_rs_client::hook::{
    ConsumeHook, ConsumeHookContext, ConsumeHookOutcome, ConsumeReturnType, ConsumerKind,
    MessageType, SendHook, SendHookContext, SendHookOutcome, SendMode,
};
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageQueue, Producer,
    PushConsumer, SendStatus,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::default_runtime;

/// What a send hook saw: (before or after, msg id, mode, tags, keys, broker addr, outcome).
#[derive(Debug, Clone)]
struct SendSeen {
    after: bool,
    msg_id: String,
    topic: String,
    mode: SendMode,
    tags: Option<String>,
    keys: Option<String>,
    broker_addr: String,
    batch: bool,
    msg_type: MessageType,
    begin: i64,
    /// After only: Ok(status) / Ok(None) for oneway / Err(text).
    outcome: Option<Result<Option<SendStatus>, String>>,
    result_msg_id: Option<String>,
}

#[derive(Default)]
struct RecordSends(Mutex<Vec<SendSeen>>);

impl RecordSends {
    fn seen(&self, ctx: &SendHookContext<'_>, outcome: Option<&SendHookOutcome<'_>>) -> SendSeen {
        SendSeen {
            after: outcome.is_some(),
            msg_id: ctx.msg_id.to_owned(),
            topic: ctx.topic.to_owned(),
            mode: ctx.mode,
            tags: ctx.tags().map(str::to_owned),
            keys: ctx.keys().map(str::to_owned),
            broker_addr: ctx.broker_addr.to_owned(),
            batch: ctx.batch,
            msg_type: ctx.msg_type(),
            begin: ctx.begin_timestamp_ms,
            outcome: outcome.map(|o| match o.result {
                Ok(r) => Ok(r.map(|r| r.status)),
                Err(e) => Err(e.to_string()),
            }),
            result_msg_id: outcome.and_then(|o| o.result.ok().flatten().map(|r| r.msg_id.clone())),
        }
    }
}

impl SendHook for RecordSends {
    fn before_send(&self, ctx: &SendHookContext<'_>) {
        let s = self.seen(ctx, None);
        self.0.lock().unwrap().push(s);
    }
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        let s = self.seen(ctx, Some(outcome));
        self.0.lock().unwrap().push(s);
    }
}

/// (after?, call id, kind, queue, offsets, success, return type).
type ConsumeSeen = (
    bool,
    u64,
    ConsumerKind,
    MessageQueue,
    Vec<i64>,
    Option<(bool, ConsumeReturnType)>,
);

#[derive(Default)]
struct RecordConsumes(Mutex<Vec<ConsumeSeen>>);

impl RecordConsumes {
    fn push(&self, ctx: &ConsumeHookContext<'_>, outcome: Option<&ConsumeHookOutcome>) {
        assert!(ctx.begin_timestamp_ms > 0);
        assert_eq!(ctx.group, "hook_cg");
        self.0.lock().unwrap().push((
            outcome.is_some(),
            ctx.call_id,
            ctx.consumer,
            ctx.queue.clone(),
            ctx.msgs.iter().map(|m| m.queue_offset).collect(),
            outcome.map(|o| (o.success, o.return_type)),
        ));
    }
}

impl ConsumeHook for RecordConsumes {
    fn before_consume(&self, ctx: &ConsumeHookContext<'_>) {
        self.push(ctx, None);
    }
    fn after_consume(&self, ctx: &ConsumeHookContext<'_>, outcome: &ConsumeHookOutcome) {
        self.push(ctx, Some(outcome));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_hooks_see_every_attempt() {
    let rt = default_runtime().unwrap();
    let cluster = EmbeddedCluster::builder()
        .topic("HookTopic", 2)
        .start(rt.clone())
        .await
        .unwrap();
    let rec = Arc::new(RecordSends::default());
    let producer = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .runtime(rt.clone())
        .group("hook_pg")
        .send_hook(rec.clone())
        .retry_times(0)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let broker_addr = cluster.brokers()[0].addr().to_string();

    let msg = Message::builder("HookTopic")
        .tag("TagA")
        .keys(["k1", "k2"])
        .body("sync")
        .build()
        .unwrap();
    let r = producer.send(msg).await.unwrap();
    let seen = std::mem::take(&mut *rec.0.lock().unwrap());
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (b, a) = (&seen[0], &seen[1]);
    assert!(!b.after && a.after);
    assert_eq!(b.msg_id, r.msg_id);
    assert_eq!(b.topic, "HookTopic");
    assert_eq!(b.mode, SendMode::Sync);
    assert_eq!(b.tags.as_deref(), Some("TagA"));
    assert_eq!(b.keys.as_deref(), Some("k1 k2"));
    assert_eq!(b.broker_addr, broker_addr);
    assert_eq!(b.msg_type, MessageType::Normal);
    assert!(!b.batch);
    assert_eq!(a.begin, b.begin, "after sees the attempt's start");
    assert_eq!(a.outcome, Some(Ok(Some(SendStatus::SendOk))));
    assert_eq!(a.result_msg_id.as_deref(), Some(r.msg_id.as_str()));

    producer
        .send_async(Message::new("HookTopic", "async"))
        .await
        .unwrap();
    producer
        .send_oneway(
            Message::builder("HookTopic")
                .body("oneway")
                .delay_level(1)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    producer
        .send_batch(vec![
            Message::new("HookTopic", "b1"),
            Message::new("HookTopic", "b2"),
        ])
        .await
        .unwrap();
    let seen = std::mem::take(&mut *rec.0.lock().unwrap());
    let after: Vec<&SendSeen> = seen.iter().filter(|s| s.after).collect();
    assert_eq!(after.len(), 3, "{seen:?}");
    assert_eq!(after[0].mode, SendMode::Async);
    assert_eq!(after[1].mode, SendMode::Oneway);
    assert_eq!(after[1].outcome, Some(Ok(None)));
    assert_eq!(after[1].msg_type, MessageType::Delay);
    assert!(after[2].batch);
    assert_eq!(after[2].msg_id.split(',').count(), 2);

    // A queue the broker does not have: the attempt fails, and the hook sees the error.
    let bad = MessageQueue::new("HookTopic", "broker-a", 77);
    assert!(producer
        .send_to_queue(Message::new("HookTopic", "bad"), &bad)
        .await
        .is_err());
    let seen = std::mem::take(&mut *rec.0.lock().unwrap());
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(matches!(seen[1].outcome, Some(Err(_))), "{seen:?}");

    producer.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_hooks_see_push_pull_and_lite_pull_batches() {
    let rt = default_runtime().unwrap();
    let cluster = EmbeddedCluster::builder()
        .topic("HookConsume", 1)
        .start(rt.clone())
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    let producer = Producer::builder()
        .name_server(&ns)
        .runtime(rt.clone())
        .group("hook_pg2")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for i in 0..4 {
        producer
            .send(Message::new("HookConsume", format!("m{i}")))
            .await
            .unwrap();
    }

    // Push: messages 0 and 2 succeed, 1 asks for a retry, 3 panics.
    let push_rec = Arc::new(RecordConsumes::default());
    let push = PushConsumer::builder()
        .name_server(&ns)
        .group("hook_cg")
        .subscribe("HookConsume", "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .consume_hook(push_rec.clone())
        .listener(|msgs: Vec<MessageExt>, _ctx: ConsumeContext| async move {
            match (msgs[0].reconsume_times, msgs[0].queue_offset) {
                (0, 1) => ConsumeResult::ReconsumeLater,
                (0, 3) => panic!("listener fails"),
                _ => ConsumeResult::Success,
            }
        })
        .build()
        .unwrap();
    push.start().await.unwrap();
    cluster
        .wait_until(
            "4 first-delivery afters",
            Duration::from_secs(20),
            || async {
                match push_rec.0.lock().unwrap().iter().filter(|s| s.0).count() {
                    n if n >= 4 => Ok(()),
                    n => Err(n),
                }
            },
        )
        .await
        .unwrap();
    push.shutdown().await.unwrap();
    let seen = push_rec.0.lock().unwrap().clone();
    for (after, id, kind, q, offsets, outcome) in seen.iter().filter(|s| s.0) {
        assert!(after);
        assert_eq!(*kind, ConsumerKind::Push);
        assert!(
            seen.iter().any(|s| !s.0 && s.1 == *id && s.4 == *offsets),
            "a before with call id {id}"
        );
        if q.topic != "HookConsume" {
            continue; // a redelivery from the retry topic shows its own queue
        }
        let want = match offsets[0] {
            1 => (false, ConsumeReturnType::Failed),
            3 => (false, ConsumeReturnType::Exception),
            _ => (true, ConsumeReturnType::Success),
        };
        assert_eq!(*outcome, Some(want), "offset {}", offsets[0]);
    }

    // Pull: before and after at once, on the batch returned.
    let pull_rec = Arc::new(RecordConsumes::default());
    let pull = PullConsumer::builder()
        .name_server(&ns)
        .group("hook_cg")
        .consume_hook(pull_rec.clone())
        .build()
        .unwrap();
    pull.start().await.unwrap();
    let mq = MessageQueue::new("HookConsume", "broker-a", 0);
    let r = pull.pull(&mq, "*", 0, 32).await.unwrap();
    assert_eq!(r.messages.len(), 4);
    let seen = pull_rec.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, seen[1].1);
    assert_eq!(seen[1].2, ConsumerKind::Pull);
    assert_eq!(seen[1].3, mq);
    assert_eq!(seen[1].4, vec![0, 1, 2, 3]);
    assert_eq!(seen[1].5, Some((true, ConsumeReturnType::Success)));
    pull.shutdown().await;

    // Lite pull: every polled batch.
    let lite_rec = Arc::new(RecordConsumes::default());
    let lite = LitePullConsumer::builder()
        .name_server(&ns)
        .group("hook_cg")
        .consume_hook(lite_rec.clone())
        .build()
        .unwrap();
    lite.start().await.unwrap();
    lite.assign(vec![mq.clone()]).await.unwrap();
    lite.seek(&mq, 0).await.unwrap();
    let mut got = 0;
    let t = Instant::now();
    while got < 4 && t.elapsed() < Duration::from_secs(20) {
        got += lite.poll(Duration::from_millis(500)).await.unwrap().len();
    }
    assert_eq!(got, 4);
    let seen = lite_rec.0.lock().unwrap().clone();
    let polled: usize = seen.iter().filter(|s| s.0).map(|s| s.4.len()).sum();
    assert_eq!(polled, 4);
    assert!(seen
        .iter()
        .all(|s| s.2 == ConsumerKind::LitePull && s.3 == mq));
    lite.shutdown().await.unwrap();

    producer.shutdown().await;
    cluster.shutdown().await;
}
