//! The embedded cluster on virtual time: hours of broker and client timers in well under a
//! second of real time, on tokio, smol and async-std.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::{ConsumeOrderlyContext, OrderlyResult, PushConsumerConfig};
use rocketmq_rs_client::testing::{self, produce_keyed, ConsumerGroup, KeyLedger};
use rocketmq_rs_client::{
    ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::Runtime;

async fn producer(cluster: &EmbeddedCluster, group: &str) -> Producer {
    let p = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .runtime(cluster.runtime().clone())
        .group(group)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

/// Messages stored in `queues` of `topic` on broker-a whose body starts with `prefix`.
async fn stored(cluster: &EmbeddedCluster, topic: &str, queues: &[i32], prefix: &str) -> usize {
    let mut n = 0;
    for q in queues {
        n += cluster
            .queue_messages("broker-a", topic, *q)
            .await
            .iter()
            .filter(|m| m.body.starts_with(prefix.as_bytes()))
            .count();
    }
    n
}

/// Queue ids of `topic` that `c` owns.
fn owned(c: &PushConsumer, topic: &str) -> Vec<i32> {
    c.assigned_queues()
        .iter()
        .filter(|q| q.topic == topic)
        .map(|q| q.queue_id)
        .collect()
}

mod scenarios {
    use super::*;

    /// A listener that always answers ReconsumeLater, maxReconsumeTimes 16, Apache's default
    /// delay levels (1s 5s 10s 30s 1m ... 2h): the first delivery, 16 retries at levels 3..18
    /// (4 h 46 min 40 s of back-off in all), then the DLQ. The clock stops every 5 virtual
    /// minutes (each retry up to 5 min late, never early): 7 virtual hours in under 200 stops.
    // Config structs become #[non_exhaustive] (issue 22): built by assignment, not literals.
    #[allow(clippy::field_reassign_with_default)]
    pub async fn eighteen_level_retry_schedule_ends_in_dlq(real: Arc<dyn Runtime>) {
        const T: &str = "VtRetryTopic";
        const G: &str = "vt_retry_group";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time_granularity(Duration::from_secs(300))
            .topic(T, 1)
            .start(real)
            .await
            .expect("cluster starts");
        let rt = cluster.runtime().clone();
        let clock = cluster.virtual_clock().expect("virtual");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(rt.clone())
            .group("vt_pg")
            .build()
            .unwrap();
        producer.start().await.unwrap();

        let seen: Arc<Mutex<Vec<(i32, i64)>>> = Arc::default();
        let s = seen.clone();
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(rt.clone());
        let mut cfg = PushConsumerConfig::default();
        cfg.group = G.into();
        cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
        cfg.max_reconsume_times = Some(16);
        let clock2 = clock;
        let consumer = PushConsumer::builder()
            .client_config(client)
            .config(cfg)
            .subscribe(T, "*")
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let s = s.clone();
                let t = clock2.elapsed().as_millis() as i64;
                async move {
                    for m in &msgs {
                        s.lock().unwrap().push((m.reconsume_times, t));
                    }
                    ConsumeResult::ReconsumeLater
                }
            })
            .build()
            .unwrap();
        consumer.start().await.unwrap();
        producer
            .send(Message::new(T, "always-later"))
            .await
            .expect("send");

        let dlq = format!("%DLQ%{G}");
        let broker = cluster.broker("broker-a").unwrap();
        let advancing = Instant::now();
        cluster
            .advance(Duration::from_secs(7 * 3600))
            .await
            .unwrap();
        let advanced = advancing.elapsed();
        assert_eq!(broker.store().max_offset(&dlq, 0), 1, "one DLQ entry");
        let seen = seen.lock().unwrap().clone();
        let attempts: Vec<i32> = seen.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            attempts,
            (0..=16).collect::<Vec<_>>(),
            "first delivery + 16 retries"
        );
        // Each retry came after its delay level (10s, 30s, 1m, ... 2h), by the virtual clock.
        let levels_s = [
            10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
        ];
        for (i, w) in seen.windows(2).enumerate() {
            let gap = w[1].1 - w[0].1;
            assert!(
                gap >= levels_s[i] * 1000,
                "retry {} came {gap} ms after the previous delivery, before its {} s level",
                i + 1,
                levels_s[i]
            );
        }
        let real = wall.elapsed();
        eprintln!(
            "18-level retry schedule: {:?} virtual in {advanced:?} real ({} clock steps); \
             {real:?} with cluster and client start-up",
            clock.elapsed(),
            clock.steps()
        );
        consumer.shutdown().await.unwrap();
        producer.shutdown().await;
        cluster.shutdown().await;
    }

    /// One consumption seen by an orderly listener: (member, queue id, queue offset, virtual
    /// ms since the cluster started).
    type Seen = Arc<Mutex<Vec<(&'static str, i32, i64, u128)>>>;

    #[allow(clippy::field_reassign_with_default)]
    fn orderly_member(
        cluster: &EmbeddedCluster,
        group: &str,
        topic: &str,
        name: &'static str,
        seen: &Seen,
        ledger: &Arc<KeyLedger>,
    ) -> PushConsumer {
        let clock = cluster.virtual_clock().expect("virtual");
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(cluster.runtime().clone());
        let mut cfg = PushConsumerConfig::default();
        cfg.group = group.into();
        cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
        let (seen, ledger) = (seen.clone(), ledger.clone());
        PushConsumer::builder()
            .client_config(client)
            .config(cfg)
            .subscribe(topic, "*")
            .orderly_listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeOrderlyContext| {
                let t = clock.elapsed().as_millis();
                for m in &msgs {
                    seen.lock()
                        .unwrap()
                        .push((name, m.queue_id, m.queue_offset, t));
                    ledger.record(m);
                }
                async { OrderlyResult::Success }
            })
            .build()
            .unwrap()
    }

    /// Orderly queue-lock expiry. Members `a` and `b` of an orderly group split four queues,
    /// each holding its broker locks (LOCK_BATCH_MQ). `a` is killed (connections closed,
    /// nothing unlocked or committed): the broker drops it from the group at once and `b` is
    /// allocated all four queues, but `a`'s locks live until the broker's lock expiry
    /// (`rebalanceLockMaxLiveTime`, 60 s after `a`'s last renewal, which `a` did every 20 s),
    /// and `b` skips a queue it cannot lock. `b` takes and consumes `a`'s former queues only
    /// once their locks expired, each in offset order from where `a` committed, every key
    /// exactly once.
    pub async fn orderly_lock_expiry_hands_queues_over(real: Arc<dyn Runtime>) {
        const T: &str = "VtOrderlyTopic";
        const G: &str = "vt_orderly_group";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time(true)
            .topic(T, 4)
            .start(real)
            .await
            .expect("cluster starts");
        let clock = cluster.virtual_clock().unwrap();
        let p = producer(&cluster, "vt_orderly_pg").await;
        let seen: Seen = Arc::default();
        let ledger = KeyLedger::new();
        let a = orderly_member(&cluster, G, T, "a", &seen, &ledger);
        a.start().await.unwrap();
        let b = orderly_member(&cluster, G, T, "b", &seen, &ledger);
        b.start().await.unwrap();
        let locked = |c: &PushConsumer| {
            c.queue_stats()
                .iter()
                .filter(|q| q.queue.topic == T && q.locked)
                .count()
        };
        cluster
            .wait_until(
                "queues split 2/2, locked",
                Duration::from_secs(120),
                || async {
                    match (locked(&a), locked(&b)) {
                        (2, 2) => Ok(()),
                        other => Err(other),
                    }
                },
            )
            .await
            .unwrap();
        let mut keys = produce_keyed(&p, T, "before", 8).await.unwrap();
        cluster
            .wait_for_consumed(G, T, Duration::from_secs(60))
            .await
            .unwrap();
        let a_queues = owned(&a, T);
        assert_eq!(a_queues.len(), 2);

        let killed_at = clock.elapsed().as_millis();
        testing::kill(&a);
        keys.extend(produce_keyed(&p, T, "after", 8).await.unwrap());
        // Well inside the lock's life: `b` is alone in the group, but a's queues are still
        // locked by a, so b's rebalance skips them (as Java's does) and consumes its own.
        cluster.advance(Duration::from_secs(35)).await.unwrap();
        let alive = cluster
            .consumer_group(G)
            .map_or(0, |v| v.client_ids().len());
        assert_eq!(alive, 1, "a left the group when its connections closed");
        assert_eq!(owned(&b, T).len(), 2, "b took a locked queue");
        let early = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(who, q, _, t)| *who == "b" && a_queues.contains(q) && *t > killed_at)
            .count();
        assert_eq!(early, 0, "b consumed a locked queue");
        let waiting: i64 = cluster
            .consumer_offsets(G, T)
            .iter()
            .filter(|o| a_queues.contains(&o.queue_id))
            .map(|o| o.lag)
            .sum();
        let a_share = stored(&cluster, T, &a_queues, "after").await;
        assert!(a_share > 0);
        assert_eq!(
            waiting, a_share as i64,
            "a's share of the second batch waits for the locks"
        );

        let ledger2 = ledger.clone();
        cluster
            .wait_until(
                "b locks a's queues and consumes them",
                Duration::from_secs(120),
                || {
                    let missing = ledger2.missing(&keys);
                    async move {
                        if missing.is_empty() {
                            Ok(())
                        } else {
                            Err(missing)
                        }
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(locked(&b), 4);
        ledger.check_exactly_once(&keys).unwrap();
        let seen = seen.lock().unwrap().clone();
        let mut taken_after = u128::MAX;
        for q in &a_queues {
            let taken: Vec<(i64, u128)> = seen
                .iter()
                .filter(|(who, qq, _, t)| *who == "b" && qq == q && *t > killed_at)
                .map(|(_, _, off, t)| (*off, *t))
                .collect();
            assert_eq!(
                taken.len(),
                stored(&cluster, T, &[*q], "after").await,
                "queue {q}: {taken:?}"
            );
            assert!(
                taken.windows(2).all(|w| w[1].0 == w[0].0 + 1),
                "queue {q} out of order: {taken:?}"
            );
            let Some(first) = taken.first() else { continue };
            taken_after = taken_after.min(first.1 - killed_at);
            // a renewed its locks at most 20 s before it died; they lived 60 s from then.
            assert!(
                first.1 >= killed_at + 40_000,
                "queue {q} taken {} ms after the kill, before the lock expired",
                first.1 - killed_at
            );
        }
        let real = wall.elapsed();
        eprintln!(
            "orderly lock expiry: a's queues consumed by b {taken_after} ms after the kill; \
             {:?} virtual in {real:?} real",
            clock.elapsed()
        );
        assert!(
            real < Duration::from_secs(40),
            "the 60 s lock life was waited out on the wall clock: {real:?}"
        );
        drop(a);
        b.shutdown().await.unwrap();
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// Heartbeat expiry and rebalance. Three members split six queues; one hangs (its tasks
    /// stop, its connections stay open: no heartbeat, no unregister). The broker keeps it in
    /// the group until its channel expires (`channelExpiredTimeout`, 120 s without a
    /// heartbeat, scanned every 10 s); its queues wait meanwhile. Then the two others take
    /// its queues over: each queue owned once, every key consumed exactly once.
    #[allow(clippy::field_reassign_with_default)]
    pub async fn hung_consumer_expires_and_the_group_rebalances(real: Arc<dyn Runtime>) {
        const T: &str = "VtHangTopic";
        const G: &str = "vt_hang_group";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time(true)
            .topic(T, 6)
            .start(real)
            .await
            .expect("cluster starts");
        let clock = cluster.virtual_clock().unwrap();
        let p = producer(&cluster, "vt_hang_pg").await;
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(cluster.runtime().clone());
        let mut cfg = PushConsumerConfig::default();
        cfg.group = G.into();
        cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
        let group = ConsumerGroup::start(client, cfg, T, "*", 3).await.unwrap();
        let members = group.members();
        cluster
            .wait_until("queues split 2/2/2", Duration::from_secs(120), || async {
                let split: Vec<usize> = members.iter().map(|c| owned(c, T).len()).collect();
                if split == [2, 2, 2] {
                    Ok(())
                } else {
                    Err(split)
                }
            })
            .await
            .unwrap();
        let mut keys = produce_keyed(&p, T, "before", 12).await.unwrap();
        cluster
            .wait_for_consumed(G, T, Duration::from_secs(60))
            .await
            .unwrap();

        let hung = &members[0];
        let hung_queues = owned(hung, T);
        let hung_at = clock.elapsed();
        testing::hang(hung);
        keys.extend(produce_keyed(&p, T, "after", 12).await.unwrap());
        // Its last heartbeat is at most 30 s old (the client's interval): 85 s later it has
        // been silent for at most 115 s, under the expiry.
        cluster.advance(Duration::from_secs(85)).await.unwrap();
        let view = cluster.consumer_group(G).expect("group registered");
        assert_eq!(
            view.client_ids().len(),
            3,
            "the hung member is still registered"
        );
        let waiting: i64 = cluster
            .consumer_offsets(G, T)
            .iter()
            .filter(|o| hung_queues.contains(&o.queue_id))
            .map(|o| o.lag)
            .sum();
        let share = stored(&cluster, T, &hung_queues, "after").await;
        assert!(share > 0);
        assert_eq!(waiting, share as i64, "the hung member's queues wait");

        let ledger = group.ledger().clone();
        let live = &members[1..];
        cluster
            .wait_until("the hung member expired, its queues taken over", Duration::from_secs(120), || {
                let ids = cluster.consumer_group(G).map_or(0, |v| v.client_ids().len());
                let mut queues: Vec<i32> = live.iter().flat_map(|c| owned(c, T)).collect();
                let owned_total = queues.len();
                queues.sort_unstable();
                queues.dedup();
                let missing = ledger.missing(&keys).len();
                async move {
                    if ids == 2 && owned_total == 6 && queues.len() == 6 && missing == 0 {
                        Ok(())
                    } else {
                        Err(format!("{ids} members, {owned_total} queues owned ({} distinct), {missing} keys missing", queues.len()))
                    }
                }
            })
            .await
            .unwrap();
        let silent = clock.elapsed() - hung_at;
        assert!(
            silent >= Duration::from_secs(90),
            "expired {silent:?} after the hang: before the 120 s channel expiry"
        );
        ledger.check_exactly_once(&keys).unwrap();
        let real = wall.elapsed();
        eprintln!(
            "heartbeat expiry + rebalance: {:?} virtual in {real:?} real",
            clock.elapsed()
        );
        assert!(
            real < Duration::from_secs(60),
            "the 120 s channel expiry was waited out on the wall clock: {real:?}"
        );
        group.shutdown().await;
        p.shutdown().await;
        cluster.shutdown().await;
    }
}

common::for_each_runtime!(
    None;
    eighteen_level_retry_schedule_ends_in_dlq,
    orderly_lock_expiry_hands_queues_over,
    hung_consumer_expires_and_the_group_rebalances);
