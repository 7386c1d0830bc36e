//! Push consumer logic against the in-memory broker (the real-broker tests live in `tests/`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketmq_rs_remoting::protocol::body::ConsumerData;
use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::rt::TokioRuntime;

use super::*;
use crate::consumer::fake_backend::{eventually, tokio_rt, Fake};
use crate::consumer::{ConsumeResult, OrderlyResult};

fn builder(fake: &Arc<Fake>) -> PushConsumerBuilder {
    *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
    let mut client = ClientConfig::with_name_server("127.0.0.1:9876");
    client.persist_offset_interval = Duration::from_millis(100);
    client.rebalance_interval = Duration::from_millis(200);
    PushConsumer::builder()
        .client_config(client)
        .group("g")
        .subscribe("T", "*")
        .consume_from_where(crate::consumer::ConsumeFromWhere::FirstOffset)
        .backend(fake.clone())
}

#[test]
fn clustering_consumes_everything_and_commits_on_shutdown() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(3, 100, |_| "A");
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let s2 = seen.clone();
        let c = builder(&fake)
            .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
                let s = s2.clone();
                async move {
                    for m in msgs {
                        assert!(
                            s.lock()
                                .unwrap()
                                .insert((ctx.queue.queue_id, m.queue_offset)),
                            "duplicate"
                        );
                    }
                    ConsumeResult::Success
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("all messages", Duration::from_secs(10), || {
            seen.lock().unwrap().len() == 300
        })
        .await;
        let data: ConsumerData = fake
            .source
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .consumer_data();
        assert!(data
            .subscription_data_set
            .iter()
            .any(|s| s.topic == "%RETRY%g"));
        c.shutdown().await.unwrap();
        c.shutdown().await.unwrap(); // idempotent
        for q in 0..3 {
            assert_eq!(fake.committed(q), Some(100));
        }
    });
}

#[test]
fn reconsume_later_sends_back_and_tag_filter_applies() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 20, |i| if i % 2 == 0 { "A" } else { "B" });
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let c = builder(&fake)
            .subscribe("T", "A")
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let calls = c2.clone();
                async move {
                    assert!(msgs.iter().all(|m| m.tags() == Some("A")), "tag filter");
                    calls.fetch_add(msgs.len(), Ordering::SeqCst);
                    ConsumeResult::ReconsumeLater
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("send-backs", Duration::from_secs(10), || {
            fake.sent_back.lock().unwrap().len() == 10
        })
        .await;
        eventually("commit", Duration::from_secs(5), || {
            fake.committed(0) == Some(20)
        })
        .await;
        c.shutdown().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn failed_send_back_is_consumed_again_locally_never_dropped() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 1, |_| "A");
        fake.fail_send_back.store(true, Ordering::Release);
        fake.fail_fallback.store(true, Ordering::Release);
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let a2 = attempts.clone();
        let c = builder(&fake)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let a = a2.clone();
                async move {
                    let mut a = a.lock().unwrap();
                    a.push(msgs[0].reconsume_times);
                    if a.len() == 1 {
                        ConsumeResult::ReconsumeLater
                    } else {
                        ConsumeResult::Success
                    }
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            fake.committed(0).unwrap_or(0),
            0,
            "not committed while failed"
        );
        eventually("local retry", Duration::from_secs(8), || {
            attempts.lock().unwrap().len() == 2
        })
        .await;
        assert_eq!(*attempts.lock().unwrap(), [0, 1]);
        eventually("commit", Duration::from_secs(5), || {
            fake.committed(0) == Some(1)
        })
        .await;
        c.shutdown().await.unwrap();
    });
}

#[test]
fn slow_listener_keeps_cache_bounded_and_busy_pool_never_fails() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 5000, |_| "A");
        let gate = Arc::new(AtomicBool::new(false));
        let consumed = Arc::new(AtomicUsize::new(0));
        let (g2, c2) = (gate.clone(), consumed.clone());
        let mut cfg = PushConsumerConfig {
            group: "g".into(),
            consume_from_where: crate::consumer::ConsumeFromWhere::FirstOffset,
            pull_threshold_for_queue: 100,
            consume_concurrency: 2,
            ..PushConsumerConfig::default()
        };
        cfg.pull_batch_size = 32;
        let c = builder(&fake)
            .config(cfg)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let (g, n) = (g2.clone(), c2.clone());
                async move {
                    while !g.load(Ordering::Acquire) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    n.fetch_add(msgs.len(), Ordering::SeqCst);
                    ConsumeResult::Success
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mq = MessageQueue::new("T", "b", 0);
        let pulled = fake
            .max_pulled
            .lock()
            .unwrap()
            .get(&mq)
            .copied()
            .unwrap_or(0);
        // Pull sizes are capped by the free room: never more than the threshold cached.
        assert!(pulled <= 100, "pulled {pulled} with a stuck listener");
        assert!(c.queue_stats().iter().all(|s| s.max_cached_count <= 100));
        gate.store(true, Ordering::Release);
        eventually("all consumed", Duration::from_secs(20), || {
            consumed.load(Ordering::SeqCst) == 5000
        })
        .await;
        assert!(
            fake.sent_back.lock().unwrap().is_empty(),
            "busy pool must not fail messages"
        );
        c.shutdown().await.unwrap();
        assert_eq!(fake.committed(0), Some(5000));
    });
}

#[test]
fn orderly_consumes_each_queue_in_order_and_suspends_on_failure() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(2, 50, |_| "A");
        let seen: Arc<Mutex<HashMap<i32, Vec<i64>>>> = Arc::default();
        let failed_once = Arc::new(AtomicBool::new(false));
        let (s2, f2) = (seen.clone(), failed_once.clone());
        let c = builder(&fake)
            .orderly_listener(move |msgs: Vec<MessageExt>, ctx: ConsumeOrderlyContext| {
                let (s, f) = (s2.clone(), f2.clone());
                async move {
                    if msgs[0].queue_offset == 10
                        && ctx.queue.queue_id == 0
                        && !f.swap(true, Ordering::SeqCst)
                    {
                        return OrderlyResult::SuspendCurrentQueueAMoment;
                    }
                    let mut s = s.lock().unwrap();
                    for m in msgs {
                        s.entry(ctx.queue.queue_id)
                            .or_default()
                            .push(m.queue_offset);
                    }
                    OrderlyResult::Success
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("all consumed", Duration::from_secs(10), || {
            let s = seen.lock().unwrap();
            s.get(&0).map_or(0, Vec::len) == 50 && s.get(&1).map_or(0, Vec::len) == 50
        })
        .await;
        c.shutdown().await.unwrap();
        let s = seen.lock().unwrap();
        for q in 0..2 {
            assert_eq!(
                s[&q],
                (0..50).collect::<Vec<i64>>(),
                "queue {q} in order, no gaps"
            );
            assert_eq!(fake.committed(q), Some(50));
        }
        assert!(failed_once.load(Ordering::SeqCst));
    });
}

/// `ConsumeOrderlyContext::set_suspend_current_queue_time` (Java
/// `setSuspendCurrentQueueTimeMillis`) replaces the consumer's pause for that call: the
/// suspended batch runs again after 50 ms, not after the configured 5 s.
#[test]
fn orderly_listener_sets_its_suspend_time() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 3, |_| "A");
        let calls: Arc<Mutex<Vec<(i64, std::time::Instant)>>> = Arc::default();
        let c2 = calls.clone();
        let cfg = PushConsumerConfig {
            group: "g".into(),
            suspend_current_queue_time: Duration::from_secs(5),
            consume_from_where: crate::consumer::ConsumeFromWhere::FirstOffset,
            ..Default::default()
        };
        let c = builder(&fake)
            .config(cfg)
            .orderly_listener(move |msgs: Vec<MessageExt>, ctx: ConsumeOrderlyContext| {
                let c = c2.clone();
                async move {
                    let first = {
                        let mut c = c.lock().unwrap();
                        c.push((msgs[0].queue_offset, std::time::Instant::now()));
                        c.len() == 1
                    };
                    if first {
                        ctx.set_suspend_current_queue_time(Duration::from_millis(50));
                        return OrderlyResult::SuspendCurrentQueueAMoment;
                    }
                    OrderlyResult::Success
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("all consumed", Duration::from_secs(4), || {
            fake.committed(0) == Some(3)
        })
        .await;
        c.shutdown().await.unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(calls[0].0, calls[1].0, "the suspended batch ran again");
        let pause = calls[1].1 - calls[0].1;
        assert!(
            pause >= Duration::from_millis(50) && pause < Duration::from_secs(2),
            "pause {pause:?}"
        );
    });
}

#[test]
fn orderly_suspend_time_is_clamped_as_java() {
    use super::listener::orderly_suspend_time;
    let d = Duration::from_secs(1);
    assert_eq!(orderly_suspend_time(-1, d), d, "unset: the consumer's");
    assert_eq!(orderly_suspend_time(200, d), Duration::from_millis(200));
    assert_eq!(orderly_suspend_time(0, d), Duration::from_millis(10));
    assert_eq!(orderly_suspend_time(60_000, d), Duration::from_secs(30));
}

/// The context's ack index and delay level decide which messages of a call succeed and how
/// the others are sent back.
#[test]
fn context_outcome_counts_acknowledged_messages() {
    let ctx = ConsumeContext::with_delay_level(crate::MessageQueue::new("T", "b", 0), 2);
    let out = ctx.outcome();
    assert_eq!(out.delay_level(), 2);
    assert_eq!(out.succeeded(ConsumeResult::Success, 4), 4, "default: all");
    ctx.set_ack_index(1);
    ctx.clone().set_delay_level(-1);
    assert_eq!(out.succeeded(ConsumeResult::Success, 4), 2);
    assert_eq!(out.succeeded(ConsumeResult::ReconsumeLater, 4), 0);
    assert_eq!(out.delay_level(), -1, "clones share the settings");
    ctx.set_ack_index(9);
    assert_eq!(
        out.succeeded(ConsumeResult::Success, 4),
        4,
        "past the batch: all"
    );
}

#[test]
fn failed_send_back_falls_back_to_the_retry_topic() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 3, |_| "A");
        fake.fail_send_back.store(true, Ordering::Release);
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let c = builder(&fake)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                c2.fetch_add(msgs.len(), Ordering::SeqCst);
                async { ConsumeResult::ReconsumeLater }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("fallback sends", Duration::from_secs(10), || {
            fake.fallback.lock().unwrap().len() == 3
        })
        .await;
        // Handed over to the retry topic, so committed and not consumed again locally.
        eventually("commit", Duration::from_secs(5), || {
            fake.committed(0) == Some(3)
        })
        .await;
        assert!(fake.sent_back.lock().unwrap().is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        c.shutdown().await.unwrap();
    });
}

#[test]
fn admin_requests_running_info_consume_directly_and_reset_offset() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(2, 10, |_| "A");
        let seen: Arc<Mutex<Vec<(i32, i64)>>> = Arc::default();
        let s2 = seen.clone();
        let c = builder(&fake)
            .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
                let s = s2.clone();
                async move {
                    let later = msgs.iter().any(|m| m.body.as_ref() == b"later");
                    for m in msgs {
                        s.lock().unwrap().push((ctx.queue.queue_id, m.queue_offset));
                    }
                    if later {
                        ConsumeResult::ReconsumeLater
                    } else {
                        ConsumeResult::Success
                    }
                }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        eventually("all consumed", Duration::from_secs(10), || {
            seen.lock().unwrap().len() == 20
        })
        .await;
        let events = fake.events.lock().unwrap().clone().unwrap();

        let info = events.running_info().expect("push consumers answer");
        assert_eq!(info.properties["PROP_CONSUME_TYPE"], "CONSUME_PASSIVELY");
        assert_eq!(info.properties["PROP_CONSUMEORDERLY"], "false");
        assert!(info.subscription_set.iter().any(|s| s.topic == "T"));
        let t_queues: Vec<_> = info
            .mq_table
            .iter()
            .filter(|(q, _)| q.topic == "T")
            .collect();
        assert_eq!(t_queues.len(), 2);
        eventually("offsets in memory", Duration::from_secs(5), || {
            events
                .running_info()
                .unwrap()
                .mq_table
                .iter()
                .filter(|(q, _)| q.topic == "T")
                .all(|(_, p)| p.commit_offset == 10)
        })
        .await;

        // CONSUME_MESSAGE_DIRECTLY: one listener call, result reported, no side effects.
        let mut m = MessageExt::new("T", "later");
        m.queue_id = 1;
        m.queue_offset = 99;
        let r = events
            .consume_message_directly(m, Some("b".into()))
            .expect("supported")
            .await;
        assert_eq!(
            r.consume_result,
            Some(rocketmq_rs_remoting::protocol::body::CMResult::Later)
        );
        assert!(!r.order);
        assert!(seen.lock().unwrap().contains(&(1, 99)));
        assert!(fake.sent_back.lock().unwrap().is_empty(), "no send-back");

        // RESET_CONSUMER_CLIENT_OFFSET: queue 0 restarts at 4, queue 1 is untouched.
        let before = seen.lock().unwrap().len();
        events.reset_offset("T", vec![(MessageQueue::new("T", "b", 0), 4)]);
        eventually(
            "queue 0 consumed again from 4",
            Duration::from_secs(10),
            || seen.lock().unwrap().len() == before + 6,
        )
        .await;
        let again: Vec<(i32, i64)> = seen.lock().unwrap()[before..].to_vec();
        let mut offs: Vec<i64> = again
            .iter()
            .map(|(q, o)| {
                assert_eq!(*q, 0);
                *o
            })
            .collect();
        offs.sort_unstable();
        assert_eq!(offs, (4..10).collect::<Vec<_>>());
        c.shutdown().await.unwrap();
        assert_eq!(fake.committed(0), Some(10));
    });
}

/// Subscribing and unsubscribing a running push consumer takes effect at once: a heartbeat
/// carries the new subscription set and a rebalance (not the 60 s periodic one) takes or
/// hands over the topic's queues.
#[test]
fn push_subscribe_and_unsubscribe_after_start() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 5, |_| "A");
        fake.add_topic("U", 2, 7);
        let seen: Arc<Mutex<Vec<(String, i32, i64)>>> = Arc::default();
        let s2 = seen.clone();
        let mut b = builder(&fake).listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
            let s = s2.clone();
            async move {
                for m in msgs {
                    s.lock()
                        .unwrap()
                        .push((m.topic.clone(), ctx.queue.queue_id, m.queue_offset));
                }
                ConsumeResult::Success
            }
        });
        b.client.rebalance_interval = Duration::from_secs(60);
        let c = b.build().unwrap();
        c.start().await.unwrap();
        eventually("T consumed", Duration::from_secs(5), || {
            seen.lock().unwrap().len() == 5
        })
        .await;
        assert!(!fake.subscribed().contains(&"U".to_string()));
        let beats = fake.heartbeats.load(Ordering::SeqCst);

        c.subscribe("U", "*").await.unwrap();
        assert!(fake.subscribed().contains(&"U".to_string()));
        assert!(c.subscriptions().contains(&"U".to_string()));
        assert!(
            fake.heartbeats.load(Ordering::SeqCst) > beats,
            "heartbeat sent at once"
        );
        eventually("U consumed", Duration::from_secs(5), || {
            seen.lock().unwrap().iter().filter(|x| x.0 == "U").count() == 14
        })
        .await;
        assert_eq!(
            c.assigned_queues()
                .iter()
                .filter(|q| q.topic == "U")
                .count(),
            2
        );

        let beats = fake.heartbeats.load(Ordering::SeqCst);
        c.unsubscribe("U").await.unwrap();
        assert!(!fake.subscribed().contains(&"U".to_string()));
        assert!(fake.heartbeats.load(Ordering::SeqCst) > beats);
        assert!(
            c.assigned_queues().iter().all(|q| q.topic != "U"),
            "U's queues handed over"
        );
        assert_eq!(
            fake.committed_of("U", 0),
            Some(7),
            "offset committed at hand-over"
        );
        assert_eq!(fake.committed_of("U", 1), Some(7));
        assert!(
            c.unsubscribe("%RETRY%g").await.is_err(),
            "retry topic stays"
        );
        c.shutdown().await.unwrap();
        assert!(c.subscribe("U", "*").await.is_err());
    });
}

#[test]
fn pop_mode_owns_no_queue_and_reports_pop_queues() {
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(2, 10, |_| "A");
        let c = builder(&fake)
            .pop_mode(PopMode::Always)
            .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| async {
                ConsumeResult::Success
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        // The whole topic on its one broker is popped; no queue of it is owned (the group's
        // retry topic still is pulled).
        assert_eq!(c.pop_queues(), [MessageQueue::new("T", "b", -1)]);
        c.rebalance_now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(c.assigned_queues().iter().all(|q| q.topic != "T"));
        let events = fake.events.lock().unwrap().clone().unwrap();
        let info = events.running_info().expect("push consumers answer");
        let pop = &info.mq_pop_table[&MessageQueue::new("T", "b", -1)];
        assert_eq!(pop["waitAckCount"], 0);
        assert_eq!(pop["droped"], false);
        assert!(info.mq_table.keys().all(|q| q.topic != "T"));
        c.shutdown().await.unwrap();
        assert!(c.pop_queues().is_empty());
    });
}
