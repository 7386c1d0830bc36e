//! The POP [`SimpleConsumer`] against the in-process mini NameServer and mini broker:
//! consumers outnumbering queues share the load, messages abandoned by a consumer come back
//! after their invisible time, change-invisible-duration, orderly POP, and a broker restart
//! that keeps every ack. Each scenario runs on tokio; the load-sharing one on smol and
//! async-std too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, BROKER};
use rocketmq_rs_client::consumer::{ReceivedMessage, SimpleConsumer};
use rocketmq_rs_client::{ClientConfig, ConsumeFromWhere, Message, MessageQueue};
use rocketmq_rs_remoting::rt::Runtime;

async fn start(rt: &Arc<dyn Runtime>, topic: &str, queues: i32) -> Env {
    Env::start(rt, "it_pop_pg", &[(topic, queues)]).await
}

/// A POP consumer of `group` on `topic` with its own instance name and long-poll `await_ms`.
fn consumer(env: &Env, name: &str, group: &str, topic: &str, await_ms: u64) -> SimpleConsumer {
    SimpleConsumer::builder()
        .client_config(env.client_named(name))
        .group(group)
        .subscribe(topic, "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .await_duration(Duration::from_millis(await_ms))
        .build()
        .unwrap()
}

fn body(m: &ReceivedMessage) -> String {
    String::from_utf8_lossy(&m.message.body).into_owned()
}

/// Receives (and acks, if asked) until `want` distinct bodies were seen or `limit` passed.
async fn drain(
    c: &SimpleConsumer,
    want: usize,
    invisible: Duration,
    limit: Duration,
    ack: bool,
) -> Vec<ReceivedMessage> {
    let start = Instant::now();
    let mut got: Vec<ReceivedMessage> = Vec::new();
    let mut seen = BTreeSet::new();
    while seen.len() < want && start.elapsed() < limit {
        for m in c.receive(32, invisible).await.expect("receive") {
            if ack {
                c.ack(&m).await.expect("ack");
            }
            seen.insert(body(&m));
            got.push(m);
        }
    }
    got
}

mod scenarios {
    use super::*;

    /// Five consumers, two queues: every message is delivered once, and more consumers than
    /// queues get work.
    pub async fn more_consumers_than_queues(rt: Arc<dyn Runtime>) {
        let topic = "PopShare";
        let env = start(&rt, topic, 2).await;
        let sent = env.send_bodies(topic, "s", 80).await;
        let seen: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let mut consumers = Vec::new();
        for i in 0..5 {
            let c = consumer(&env, &format!("pop-share-{i}"), "it_pop_share", topic, 500);
            c.start().await.unwrap();
            consumers.push(c);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut workers = Vec::new();
        for (i, c) in consumers.iter().enumerate() {
            let (c, seen, rt, total) = (c.clone(), seen.clone(), rt.clone(), sent.len());
            let (tx, rx) = futures::channel::oneshot::channel();
            rt.clone().spawn(Box::pin(async move {
                loop {
                    let done = seen.lock().unwrap().values().map(Vec::len).sum::<usize>() >= total;
                    if done || Instant::now() > deadline {
                        break;
                    }
                    for m in c.receive(4, Duration::from_secs(20)).await.unwrap() {
                        // Some work per batch, so the others get a turn at the queues.
                        rt.sleep(Duration::from_millis(30)).await;
                        c.ack(&m).await.unwrap();
                        seen.lock()
                            .unwrap()
                            .entry(body(&m))
                            .or_default()
                            .push(format!("c{i}"));
                    }
                }
                let _ = tx.send(());
            }));
            workers.push(rx);
        }
        for w in workers {
            w.await.unwrap();
        }
        let seen = seen.lock().unwrap().clone();
        let got: BTreeSet<String> = seen.keys().cloned().collect();
        assert_eq!(got, sent, "every message delivered");
        let dups: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
        assert!(
            dups.is_empty(),
            "acked within the invisible time, yet redelivered: {dups:?}"
        );
        let busy: BTreeSet<&String> = seen.values().flatten().collect();
        assert!(
            busy.len() >= 3,
            "5 consumers on 2 queues; only {busy:?} got messages"
        );
        for c in consumers {
            c.shutdown().await;
        }
        env.stop().await;
    }

    /// A consumer that takes messages and disappears without acking: another consumer gets
    /// them after the invisible time, on their second delivery, and nothing is lost.
    pub async fn abandoned_messages_come_back(rt: Arc<dyn Runtime>) {
        let topic = "PopAbandon";
        let env = start(&rt, topic, 4).await;
        let sent = env.send_bodies(topic, "a", 12).await;
        let a = consumer(&env, "pop-a", "it_pop_abandon", topic, 500);
        a.start().await.unwrap();
        let taken = drain(
            &a,
            sent.len(),
            Duration::from_secs(2),
            Duration::from_secs(10),
            false,
        )
        .await;
        let taken_at = Instant::now();
        assert_eq!(taken.iter().map(body).collect::<BTreeSet<_>>(), sent);
        a.shutdown().await;
        drop(a);

        let b = consumer(&env, "pop-b", "it_pop_abandon", topic, 500);
        b.start().await.unwrap();
        let back = drain(
            &b,
            sent.len(),
            Duration::from_secs(30),
            Duration::from_secs(15),
            true,
        )
        .await;
        assert!(
            taken_at.elapsed() >= Duration::from_millis(1500),
            "came back before the invisible time"
        );
        assert_eq!(back.iter().map(body).collect::<BTreeSet<_>>(), sent);
        assert!(back
            .iter()
            .all(|m| m.delivery_attempt() == 2 && m.message.topic == topic));
        // All acked: nothing more.
        rt.sleep(Duration::from_millis(2500)).await;
        assert!(b
            .receive(32, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        b.shutdown().await;
        env.stop().await;
    }

    /// change_invisible_duration: the message comes back at the new time, and only the new
    /// receipt acks it.
    pub async fn change_invisible_duration(rt: Arc<dyn Runtime>) {
        let topic = "PopChange";
        let env = start(&rt, topic, 1).await;
        env.send_bodies(topic, "c", 1).await;
        let c = consumer(&env, "pop-c", "it_pop_change", topic, 500);
        c.start().await.unwrap();
        let mut got = drain(
            &c,
            1,
            Duration::from_secs(60),
            Duration::from_secs(10),
            false,
        )
        .await;
        assert_eq!(got.len(), 1);
        let old = got[0].clone();
        c.change_invisible_duration(&mut got[0], Duration::from_millis(800))
            .await
            .unwrap();
        assert_ne!(old.receipt, got[0].receipt);
        let again = drain(
            &c,
            1,
            Duration::from_secs(60),
            Duration::from_secs(10),
            false,
        )
        .await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery_attempt(), 2);
        c.ack(&again[0]).await.unwrap();
        rt.sleep(Duration::from_millis(1200)).await;
        assert!(c
            .receive(32, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty());
        c.shutdown().await;
        env.stop().await;
    }

    /// Orderly POP: a queue's next messages wait until the batch out is acked.
    pub async fn orderly_queue_waits_for_acks(rt: Arc<dyn Runtime>) {
        let topic = "PopOrder";
        let env = start(&rt, topic, 1).await;
        let mq = MessageQueue::new(topic, BROKER, 0);
        for i in 0..6 {
            env.producer
                .send_to_queue(Message::new(topic, format!("o{i}")), &mq)
                .await
                .unwrap();
        }
        let mut cfg = ClientConfig::with_name_server(&env.cluster.namesrv_addr());
        cfg.runtime = Some(rt.clone());
        let c = SimpleConsumer::builder()
            .client_config(cfg)
            .group("it_pop_order")
            .subscribe(topic, "*")
            .consume_from(ConsumeFromWhere::FirstOffset)
            .await_duration(Duration::ZERO)
            .orderly(true)
            .build()
            .unwrap();
        c.start().await.unwrap();
        let mut order = Vec::new();
        let start = Instant::now();
        while order.len() < 6 && start.elapsed() < Duration::from_secs(10) {
            let batch = c.receive(4, Duration::from_secs(30)).await.unwrap();
            if batch.is_empty() {
                rt.sleep(Duration::from_millis(50)).await;
                continue;
            }
            // Until acked, the queue gives nothing more.
            assert!(c
                .receive(4, Duration::from_secs(30))
                .await
                .unwrap()
                .is_empty());
            for m in &batch {
                order.push(body(m));
                c.ack(m).await.unwrap();
            }
        }
        assert_eq!(order, ["o0", "o1", "o2", "o3", "o4", "o5"]);
        c.shutdown().await;
        env.stop().await;
    }

    /// A broker restart keeps acks and checkpoints: acked messages stay gone, unacked ones
    /// come back once.
    pub async fn broker_restart_keeps_acks(rt: Arc<dyn Runtime>) {
        let topic = "PopRestart";
        let mut env = start(&rt, topic, 2).await;
        let sent = env.send_bodies(topic, "r", 10).await;
        let c = consumer(&env, "pop-r", "it_pop_restart", topic, 500);
        c.start().await.unwrap();
        let got = drain(
            &c,
            sent.len(),
            Duration::from_secs(3),
            Duration::from_secs(10),
            false,
        )
        .await;
        // Half acked in one BATCH_ACK_MESSAGE.
        let half: Vec<ReceivedMessage> = got.iter().step_by(2).cloned().collect();
        c.ack_all(&half).await.unwrap();
        let acked: BTreeSet<String> = half.iter().map(body).collect();
        env.cluster.stop_broker(BROKER).await.unwrap();
        env.cluster.restart_broker(BROKER).await.unwrap();
        let back = drain(
            &c,
            sent.len() - acked.len(),
            Duration::from_secs(30),
            Duration::from_secs(20),
            true,
        )
        .await;
        let back: BTreeSet<String> = back.iter().map(body).collect();
        let unacked: BTreeSet<String> = sent.difference(&acked).cloned().collect();
        assert_eq!(back, unacked, "exactly the unacked messages come back");
        rt.sleep(Duration::from_millis(3500)).await;
        assert!(c
            .receive(32, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        c.shutdown().await;
        env.stop().await;
    }
}

const SCENARIO_DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn more_consumers_than_queues_tokio() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::more_consumers_than_queues,
    )
}

#[test]
fn more_consumers_than_queues_smol() {
    common::run_smol(
        Some(SCENARIO_DEADLINE),
        scenarios::more_consumers_than_queues,
    );
}

#[test]
fn more_consumers_than_queues_async_std() {
    common::run_async_std(
        Some(SCENARIO_DEADLINE),
        scenarios::more_consumers_than_queues,
    );
}

#[test]
fn abandoned_messages_come_back() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::abandoned_messages_come_back,
    )
}

#[test]
fn change_invisible_duration() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::change_invisible_duration,
    )
}

#[test]
fn orderly_queue_waits_for_acks() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::orderly_queue_waits_for_acks,
    )
}

#[test]
fn broker_restart_keeps_acks() {
    common::run_tokio(
        Some(SCENARIO_DEADLINE),
        scenarios::broker_restart_keeps_acks,
    )
}
