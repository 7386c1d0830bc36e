//! The [`PushConsumer`] in POP mode against the in-process mini NameServer and mini broker:
//! six consumers share a two-queue topic, `PopMode::FollowBroker` switches between pull and
//! POP when the broker's consume mode for the group changes (SET_MESSAGE_REQUEST_MODE) and
//! loses nothing across the switches, `ReconsumeLater` brings a message back after Java's POP
//! back-off, the listener's ack index and delay level -1 are honoured, and orderly POP keeps
//! each queue's order across a suspended batch.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{check, cluster_builder, Env, BROKER};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeOrderlyContext, ConsumeResult, OrderlyResult, PopMode, PushConsumer,
    PushConsumerConfig,
};
use rocketmq_rs_client::{ConsumeFromWhere, Message, MessageExt, MessageQueue};
use rocketmq_rs_remoting::protocol::body::{
    JsonBody, MessageRequestMode, SetMessageRequestModeRequestBody,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

/// (consumer name, body, reconsume times) of every listener call, in call order.
type Log = Arc<Mutex<Vec<(String, String, i32)>>>;

async fn start(rt: &Arc<dyn Runtime>, topic: &str, queues: i32) -> Env {
    Env::start(rt, "it_push_pop_pg", &[(topic, queues)]).await
}

/// [`start`] on virtual time: the POP back-off (10 s) and invisible times pass at once.
async fn start_virtual(rt: &Arc<dyn Runtime>, topic: &str, queues: i32) -> Env {
    let b = cluster_builder(|_| {}).virtual_time(true);
    Env::start_with(rt, "it_push_pop_pg", &[(topic, queues)], b).await
}

// Field by field: the config struct is to become #[non_exhaustive].
#[allow(clippy::field_reassign_with_default)]
fn config(group: &str, mode: PopMode) -> PushConsumerConfig {
    let mut cfg = PushConsumerConfig::default();
    cfg.group = group.to_owned();
    cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
    cfg.pop_mode = mode;
    cfg.pop_invisible_time = Duration::from_secs(20);
    cfg
}

/// A concurrent consumer that logs every call and sleeps `work` in it; `fail_once` bodies
/// answer `ReconsumeLater` on their first delivery.
fn consumer(
    env: &Env,
    name: &str,
    topic: &str,
    cfg: PushConsumerConfig,
    log: &Log,
    work: Duration,
    fail_once: &[&str],
) -> PushConsumer {
    let (log, me) = (Arc::clone(log), name.to_owned());
    let fail: BTreeSet<String> = fail_once.iter().map(|s| s.to_string()).collect();
    let rt = env.rt.clone();
    PushConsumer::builder()
        .client_config(env.client_named(name))
        .config(cfg)
        .subscribe(topic, "*")
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let mut later = false;
            for m in &msgs {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                later |= m.reconsume_times == 0 && fail.contains(&body);
                log.lock()
                    .unwrap()
                    .push((me.clone(), body, m.reconsume_times));
            }
            let rt = rt.clone();
            async move {
                if !work.is_zero() {
                    rt.sleep(work).await;
                }
                if later {
                    ConsumeResult::ReconsumeLater
                } else {
                    ConsumeResult::Success
                }
            }
        })
        .build()
        .unwrap()
}

/// SET_MESSAGE_REQUEST_MODE straight to the broker (what `mqadmin setConsumeMode` sends).
async fn set_mode(env: &Env, topic: &str, group: &str, mode: MessageRequestMode) {
    let c = RemotingClient::new(env.rt.clone(), TransportConfig::default());
    let body = SetMessageRequestModeRequestBody {
        topic: topic.into(),
        consumer_group: group.into(),
        mode,
        pop_share_queue_num: 0,
    };
    let addr = env.cluster.broker(BROKER).unwrap().addr().to_string();
    let cmd =
        RemotingCommand::request(RequestCode::SET_MESSAGE_REQUEST_MODE).with_body(body.to_json());
    let r = c
        .invoke(&addr, cmd, Duration::from_secs(5))
        .await
        .expect("answered");
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    c.shutdown();
}

fn bodies(log: &Log) -> BTreeSet<String> {
    log.lock().unwrap().iter().map(|e| e.1.clone()).collect()
}

mod scenarios {
    use super::*;

    /// Six POP consumers on a two-queue topic: all of them get work, nothing is lost, nothing
    /// is consumed twice.
    pub async fn more_consumers_than_queues(rt: Arc<dyn Runtime>) {
        let topic = "PushPopShare";
        let group = "it_push_pop_share";
        let env = start(&rt, topic, 2).await;
        let log: Log = Arc::default();
        let mut consumers = Vec::new();
        for i in 0..6 {
            let mut cfg = config(group, PopMode::Always);
            // Small batches and little in flight per consumer, so one consumer cannot take
            // everything at once.
            cfg.pop_batch_size = 2;
            cfg.pop_threshold_for_queue = 2;
            let c = consumer(
                &env,
                &format!("c{i}"),
                topic,
                cfg,
                &log,
                Duration::from_millis(40),
                &[],
            );
            c.start().await.unwrap();
            assert!(c.assigned_queues().iter().all(|q| q.topic != topic));
            assert_eq!(
                c.pop_queues(),
                [MessageQueue::new(topic, BROKER, -1)],
                "the whole topic is popped"
            );
            consumers.push(c);
        }
        let sent = env.send_bodies(topic, "s", 120).await;
        env.until("every message", Duration::from_secs(40), || {
            let n = bodies(&log).len();
            check(n == sent.len(), || n)
        })
        .await;
        rt.sleep(Duration::from_millis(500)).await;
        let entries = log.lock().unwrap().clone();
        assert_eq!(entries.len(), sent.len(), "no message consumed twice");
        let per: BTreeMap<String, usize> = entries.iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.0.clone()).or_default() += 1;
            m
        });
        assert_eq!(per.len(), 6, "every consumer got work: {per:?}");
        for c in consumers {
            c.shutdown().await.unwrap();
        }
        env.stop().await;
    }

    /// FollowBroker: pull by default, POP once the broker's mode says so, pull again after;
    /// nothing sent around the switches is lost.
    pub async fn follow_broker_switches_modes(rt: Arc<dyn Runtime>) {
        let topic = "PushPopSwitch";
        let group = "it_push_pop_switch";
        let env = start(&rt, topic, 2).await;
        let log: Log = Arc::default();
        let c = consumer(
            &env,
            "sw",
            topic,
            config(group, PopMode::FollowBroker),
            &log,
            Duration::ZERO,
            &[],
        );
        c.start().await.unwrap();
        let owns = |c: &PushConsumer| c.assigned_queues().iter().any(|q| q.topic == topic);
        env.until("pulled queues", Duration::from_secs(10), || {
            check(owns(&c), || c.assigned_queues())
        })
        .await;
        assert!(c.pop_queues().is_empty());
        let mut sent = env.send_bodies(topic, "pull", 20).await;
        env.until("pulled messages", Duration::from_secs(20), || {
            let got = bodies(&log);
            check(got.is_superset(&sent), || {
                sent.difference(&got).cloned().collect::<Vec<_>>()
            })
        })
        .await;

        set_mode(&env, topic, group, MessageRequestMode::Pop).await;
        c.rebalance_now();
        env.until("the switch to POP", Duration::from_secs(10), || {
            let popped = c.pop_queues() == [MessageQueue::new(topic, BROKER, -1)];
            check(popped && !owns(&c), || {
                (c.pop_queues(), c.assigned_queues())
            })
        })
        .await;
        sent.extend(env.send_bodies(topic, "pop", 20).await);
        env.until("popped messages", Duration::from_secs(20), || {
            let got = bodies(&log);
            check(got.is_superset(&sent), || {
                sent.difference(&got).cloned().collect::<Vec<_>>()
            })
        })
        .await;

        set_mode(&env, topic, group, MessageRequestMode::Pull).await;
        c.rebalance_now();
        env.until("the switch back to pull", Duration::from_secs(10), || {
            let pulled = c.pop_queues().is_empty() && owns(&c);
            check(pulled, || (c.pop_queues(), c.assigned_queues()))
        })
        .await;
        sent.extend(env.send_bodies(topic, "back", 20).await);
        env.until("pulled messages again", Duration::from_secs(20), || {
            let got = bodies(&log);
            check(got.is_superset(&sent), || {
                sent.difference(&got).cloned().collect::<Vec<_>>()
            })
        })
        .await;
        assert_eq!(bodies(&log), sent);
        c.shutdown().await.unwrap();
        env.stop().await;
    }

    /// `ReconsumeLater` acks nothing: the message comes back (reconsume times 1) after Java's
    /// first POP back-off of 10 s, the others are consumed once.
    pub async fn reconsume_later_comes_back(rt: Arc<dyn Runtime>) {
        let topic = "PushPopLater";
        // Virtual time: the clock stands still between the pop and the consumer's
        // change-invisible-time, so this also checks that a checkpoint changed in the
        // millisecond of its pop still revives (mini-broker once gave the new checkpoint the
        // old one's key and the old receipt's ack closed it: the message never came back).
        let env = start_virtual(&rt, topic, 2).await;
        let log: Log = Arc::default();
        let c = consumer(
            &env,
            "later",
            topic,
            config("it_push_pop_later", PopMode::Always),
            &log,
            Duration::ZERO,
            &["l3"],
        );
        c.start().await.unwrap();
        let sent = env.send_bodies(topic, "l", 6).await;
        let first = env.rt.clock().now_ms();
        env.until("the retried message", Duration::from_secs(30), || {
            let log = log.lock().unwrap();
            check(log.iter().any(|e| e.1 == "l3" && e.2 == 1), || log.clone())
        })
        .await;
        let waited = env.rt.clock().now_ms() - first;
        assert!(
            waited >= 9_000,
            "redelivered after the back-off, not at once ({waited} ms)"
        );
        // Another back-off's worth: nothing else comes again.
        env.cluster.advance(Duration::from_secs(15)).await.unwrap();
        let entries = log.lock().unwrap().clone();
        assert_eq!(bodies(&log), sent);
        assert_eq!(entries.len(), sent.len() + 1, "{entries:?}");
        c.shutdown().await.unwrap();
        env.stop().await;
    }

    /// The per-call context in POP mode (as Java's ConsumeMessagePopConcurrentlyService): ack
    /// index 1 on a batch of four acks the first two, the other two come back (reconsume
    /// times 1) after the POP back-off; delay level -1 sends a message to the DLQ at once.
    pub async fn context_ack_index_and_dead_letter(rt: Arc<dyn Runtime>) {
        let topic = "PushPopContext";
        let group = "it_push_pop_context";
        let env = start_virtual(&rt, topic, 1).await;
        for body in ["b0", "b1", "b2", "b3", "poison"] {
            env.producer
                .send(Message::new(topic, body))
                .await
                .expect("send");
        }
        let log: Log = Arc::default();
        let partial = Arc::new(Mutex::new(0));
        let (log2, partial2) = (Arc::clone(&log), Arc::clone(&partial));
        let mut cfg = config(group, PopMode::Always);
        cfg.consume_batch_size = 4;
        let c = PushConsumer::builder()
            .client_config(env.client_named("ctx"))
            .config(cfg)
            .subscribe(topic, "*")
            .listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
                let mut poison = false;
                for m in &msgs {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    poison |= body == "poison";
                    log2.lock()
                        .unwrap()
                        .push(("ctx".into(), body, m.reconsume_times));
                }
                let result = if msgs.len() == 4 {
                    *partial2.lock().unwrap() += 1;
                    ctx.set_ack_index(1);
                    ConsumeResult::Success
                } else if poison {
                    ctx.set_delay_level(-1);
                    ConsumeResult::ReconsumeLater
                } else {
                    ConsumeResult::Success
                };
                async move { result }
            })
            .build()
            .unwrap();
        c.start().await.unwrap();
        let dlq = format!("%DLQ%{group}");
        let broker = env.cluster.broker(BROKER).unwrap();
        let times = |body: &str| -> Vec<i32> {
            log.lock()
                .unwrap()
                .iter()
                .filter(|e| e.1 == body)
                .map(|e| e.2)
                .collect()
        };
        env.until(
            "b2, b3 back and the DLQ entry",
            Duration::from_secs(40),
            || {
                check(
                    times("b2") == [0, 1]
                        && times("b3") == [0, 1]
                        && broker.store().max_offset(&dlq, 0) == 1,
                    || log.lock().unwrap().clone(),
                )
            },
        )
        .await;
        env.cluster.advance(Duration::from_secs(15)).await.unwrap();
        assert_eq!(*partial.lock().unwrap(), 1, "the four came as one batch");
        assert_eq!((times("b0"), times("b1")), (vec![0], vec![0]), "acked");
        assert_eq!(times("poison"), [0], "delay level -1: no redelivery");
        assert_eq!(broker.store().max_offset(&dlq, 0), 1);
        c.shutdown().await.unwrap();
        env.stop().await;
    }

    /// Orderly POP on a one-queue topic: a suspended message is consumed again before any
    /// later one, so the successful calls are in send order.
    pub async fn orderly_pop_keeps_order(rt: Arc<dyn Runtime>) {
        let topic = "PushPopOrder";
        let env = start(&rt, topic, 1).await;
        let calls: Log = Arc::default();
        let ok: Arc<Mutex<Vec<String>>> = Arc::default();
        let (calls2, ok2) = (Arc::clone(&calls), Arc::clone(&ok));
        let mut cfg = config("it_push_pop_order", PopMode::Always);
        cfg.suspend_current_queue_time = Duration::from_millis(1000);
        let c = PushConsumer::builder()
            .client_config(env.client_named("order"))
            .config(cfg)
            .subscribe(topic, "*")
            .orderly_listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| {
                let mut suspend = false;
                for m in &msgs {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    suspend |= body == "o3" && m.reconsume_times == 0;
                    calls2
                        .lock()
                        .unwrap()
                        .push(("order".into(), body, m.reconsume_times));
                }
                if !suspend {
                    ok2.lock().unwrap().extend(
                        msgs.iter()
                            .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                    );
                }
                async move {
                    if suspend {
                        OrderlyResult::SuspendCurrentQueueAMoment
                    } else {
                        OrderlyResult::Success
                    }
                }
            })
            .build()
            .unwrap();
        let sent: Vec<String> = (0..10).map(|i| format!("o{i}")).collect();
        for b in &sent {
            env.producer
                .send(Message::new(topic, b.clone()))
                .await
                .unwrap();
        }
        c.start().await.unwrap();
        env.until("every message in order", Duration::from_secs(30), || {
            let ok = ok.lock().unwrap();
            check(ok.len() >= sent.len(), || ok.clone())
        })
        .await;
        assert_eq!(*ok.lock().unwrap(), sent, "successful calls in send order");
        assert!(calls
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.1 == "o3" && e.2 == 0));
        c.shutdown().await.unwrap();
        env.stop().await;
    }
}

const SCENARIO_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn push_pop_more_consumers_than_queues_tokio() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::more_consumers_than_queues,
    )
}

#[test]
fn push_pop_more_consumers_than_queues_smol() {
    common::run_smol(
        Some(SCENARIO_DEADLINE),
        scenarios::more_consumers_than_queues,
    );
}

#[test]
fn push_pop_follow_broker_switches_modes() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::follow_broker_switches_modes,
    )
}

#[test]
fn push_pop_reconsume_later_comes_back() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::reconsume_later_comes_back,
    )
}

#[test]
fn push_pop_context_ack_index_and_dead_letter() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::context_ack_index_and_dead_letter,
    )
}

#[test]
fn push_pop_orderly_keeps_order() {
    common::run_tokio(Some(SCENARIO_DEADLINE), scenarios::orderly_pop_keeps_order)
}
