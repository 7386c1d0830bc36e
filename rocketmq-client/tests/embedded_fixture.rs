//! The embedded cluster as a test fixture: inspection and `wait_until`, faults on demand,
//! crash and restart, virtual time for timer messages and transaction check-backs. Every
//! scenario runs on tokio, smol and async-std.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::producer::{
    LocalTransactionState, TransactionListener, TransactionProducer,
};
use rocketmq_rs_client::testing::{produce_keyed, ConsumerGroup};
use rocketmq_rs_client::{
    async_trait, ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message,
    MessageExt, Producer, PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::{EmbeddedCluster, EmbeddedError};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::rt::Runtime;

async fn producer(cluster: &EmbeddedCluster, group: &str, send_timeout: Duration) -> Producer {
    let p = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .runtime(cluster.runtime().clone())
        .group(group)
        .heartbeat_interval(Duration::from_millis(100))
        .send_timeout(send_timeout)
        .retry_times(0)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

#[allow(clippy::field_reassign_with_default)]
fn consumer(cluster: &EmbeddedCluster, group: &str, topic: &str) -> PushConsumer {
    let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
    client.runtime = Some(cluster.runtime().clone());
    client.persist_offset_interval = Duration::from_millis(100);
    let mut cfg = PushConsumerConfig::default();
    cfg.group = group.into();
    cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
    PushConsumer::builder()
        .client_config(client)
        .config(cfg)
        .subscribe(topic, "*")
        .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| async { ConsumeResult::Success })
        .build()
        .unwrap()
}

mod scenarios {
    use super::*;

    /// Stored messages decoded with their keys, the consumer group's clients and
    /// subscription, offsets and lag; a wait that fails names what it saw.
    pub async fn inspection_and_wait_until(rt: Arc<dyn Runtime>) {
        const T: &str = "FxInspectTopic";
        let cluster = EmbeddedCluster::builder()
            .topic(T, 2)
            .start(rt)
            .await
            .unwrap();
        let p = producer(&cluster, "fx_pg", Duration::from_secs(3)).await;
        for i in 0..6 {
            let mut m = Message::new(T, format!("body-{i}"));
            m.set_keys([format!("k{i}")]);
            p.send(m).await.unwrap();
        }
        let stored = cluster
            .wait_for_messages(T, 6, Duration::from_secs(5))
            .await
            .unwrap();
        let mut keys: Vec<String> = stored.iter().flat_map(|m| m.keys()).collect();
        keys.sort();
        assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4", "k5"]);
        assert!(stored
            .iter()
            .all(|m| m.broker == "broker-a" && m.message.topic == T));
        assert_eq!(
            cluster.queue_messages("broker-a", T, 0).await.len()
                + cluster.queue_messages("broker-a", T, 1).await.len(),
            6
        );
        assert_eq!(cluster.lag("fx_cg", T), 6, "nothing consumed yet");

        let c = consumer(&cluster, "fx_cg", T);
        c.start().await.unwrap();
        let group = cluster
            .wait_for_consumers("fx_cg", 1, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(group.subscriptions.get(T).map(String::as_str), Some("*"));
        assert!(cluster.consumer_groups().contains(&"fx_cg".to_string()));
        // Producers register by heartbeat (this one every 100 ms).
        cluster
            .wait_until("fx_pg registered", Duration::from_secs(10), || async {
                let groups = cluster.producer_groups();
                if groups.iter().any(|g| g == "fx_pg") {
                    Ok(())
                } else {
                    Err(groups)
                }
            })
            .await
            .unwrap();
        cluster
            .wait_for_consumed("fx_cg", T, Duration::from_secs(10))
            .await
            .unwrap();
        let offsets = cluster.consumer_offsets("fx_cg", T);
        assert_eq!(offsets.len(), 2);
        assert_eq!(offsets.iter().map(|q| q.committed.unwrap()).sum::<i64>(), 6);

        let err = cluster
            .wait_for_dlq("fx_cg", 1, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, EmbeddedError::Timeout { .. }));
        let text = err.to_string();
        assert!(text.contains("0 in %DLQ%fx_cg"), "{text}");
        c.shutdown().await.unwrap();
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// Refused sends, dropped and delayed responses, a freeze and a full disk, each switched
    /// on and off on a running broker.
    pub async fn faults_on_demand(rt: Arc<dyn Runtime>) {
        const T: &str = "FxFaultTopic";
        let cluster = EmbeddedCluster::builder()
            .topic(T, 1)
            .start(rt.clone())
            .await
            .unwrap();
        let p = producer(&cluster, "fx_fault_pg", Duration::from_millis(500)).await;
        p.send(Message::new(T, "ok")).await.unwrap();
        let faults = cluster.broker("broker-a").unwrap().faults();

        faults.refuse_sends(ResponseCode::SYSTEM_BUSY);
        let e = p.send(Message::new(T, "busy")).await.unwrap_err();
        assert_eq!(e.response_code(), Some(ResponseCode::SYSTEM_BUSY), "{e}");
        faults.accept_sends();
        p.send(Message::new(T, "ok")).await.unwrap();

        faults.drop_responses(100, 7);
        assert!(
            p.send(Message::new(T, "dropped")).await.is_err(),
            "no answer: timeout"
        );
        faults.drop_responses(0, 0);
        // The dropped send was stored nonetheless: the broker processed it.
        let bodies: Vec<String> = cluster
            .messages(T)
            .await
            .iter()
            .map(|m| m.body_str())
            .collect();
        assert_eq!(bodies, ["ok", "ok", "dropped"]);

        faults.delay_responses(Duration::from_millis(150));
        let t = Instant::now();
        p.send(Message::new(T, "slow")).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));
        faults.delay_responses(Duration::ZERO);

        faults.freeze();
        assert!(
            p.send(Message::new(T, "frozen")).await.is_err(),
            "no answer while frozen"
        );
        faults.thaw();
        p.send(Message::new(T, "thawed")).await.unwrap();

        faults.fill_disk();
        let e = p.send(Message::new(T, "full")).await.unwrap_err();
        assert!(e.response_code().is_some(), "refused by the broker: {e}");
        faults.free_disk();
        p.send(Message::new(T, "room")).await.unwrap();
        faults.clear();
        assert!(!faults.is_active());
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// A killed broker loses nothing acknowledged and comes back on its store and port; a
    /// killed NameServer comes back with every broker registered.
    pub async fn kill_and_restart(rt: Arc<dyn Runtime>) {
        const T: &str = "FxCrashTopic";
        let mut cluster = EmbeddedCluster::builder()
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let p = producer(&cluster, "fx_crash_pg", Duration::from_millis(800)).await;
        for i in 0..3 {
            p.send(Message::new(T, format!("before-{i}")))
                .await
                .unwrap();
        }
        let addr = cluster.broker("broker-a").unwrap().addr();
        cluster.kill_broker("broker-a").await.unwrap();
        assert!(cluster.broker("broker-a").is_none());
        assert!(p.send(Message::new(T, "while-dead")).await.is_err());
        assert!(matches!(
            cluster.kill_broker("broker-a").await,
            Err(EmbeddedError::NotFound(_))
        ));
        let b = cluster.restart_broker("broker-a").await.unwrap();
        assert_eq!(b.addr(), addr, "same port");
        let again = cluster
            .wait_until(
                "a send after the restart",
                Duration::from_secs(10),
                || async {
                    p.send(Message::new(T, "after"))
                        .await
                        .map_err(|e| e.to_string())
                },
            )
            .await
            .unwrap();
        assert_eq!(
            again.queue_offset, 3,
            "the three acknowledged messages survived"
        );

        const T2: &str = "FxCrashTopic2";
        cluster.create_topic(T2, 1).await.unwrap();
        let fresh = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(cluster.runtime().clone())
            .group("fx_crash_pg2")
            .send_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        fresh.start().await.unwrap();
        cluster.kill_namesrv().await.unwrap();
        assert!(
            fresh.send(Message::new(T2, "no-route")).await.is_err(),
            "no name server to route T2"
        );
        cluster.restart_namesrv().await.unwrap();
        // The client waits out its dial back-off before it asks the NameServer again.
        cluster
            .wait_until("T2 routed again", Duration::from_secs(10), || async {
                fresh
                    .send(Message::new(T2, "routed"))
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap();
        fresh.shutdown().await;
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// A slave held back by `fall_behind` misses what its master stores meanwhile and catches
    /// up when let go.
    pub async fn slave_falls_behind(rt: Arc<dyn Runtime>) {
        const T: &str = "FxSlaveTopic";
        let cluster = EmbeddedCluster::builder()
            .with_slaves(true)
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let master = cluster.broker("broker-a").unwrap();
        let slave = cluster.slave("broker-a").unwrap();
        let in_step = || async {
            let (m, s) = (
                master.store().commit_log_max_offset(),
                slave.store().commit_log_max_offset(),
            );
            if m == s {
                Ok(m)
            } else {
                Err((m, s))
            }
        };
        let p = producer(&cluster, "fx_slave_pg", Duration::from_secs(3)).await;
        p.send(Message::new(T, "replicated")).await.unwrap();
        cluster
            .wait_until("the slave in step", Duration::from_secs(10), in_step)
            .await
            .unwrap();
        assert!(
            !master.faults().fall_behind(),
            "a master has no replication to hold"
        );
        assert!(slave.faults().fall_behind());
        for i in 0..3 {
            p.send(Message::new(T, format!("missed-{i}")))
                .await
                .unwrap();
        }
        let held = cluster
            .wait_until(
                "the slave to stay behind",
                Duration::from_millis(300),
                || async {
                    Err::<(), _>((
                        master.store().commit_log_max_offset(),
                        slave.store().commit_log_max_offset(),
                    ))
                },
            )
            .await
            .unwrap_err();
        let behind = slave.store().commit_log_max_offset();
        assert!(
            behind < master.store().commit_log_max_offset(),
            "slave at {behind} after {held}"
        );
        slave.faults().catch_up();
        cluster
            .wait_until("the slave caught up", Duration::from_secs(10), in_step)
            .await
            .unwrap();
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// A killed slave comes back on its store and port and catches up with what its master
    /// took meanwhile; inspection reads the same messages on both.
    pub async fn slave_kill_and_restart(rt: Arc<dyn Runtime>) {
        const T: &str = "FxSlaveCrashTopic";
        let mut cluster = EmbeddedCluster::builder()
            .with_slaves(true)
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let p = producer(&cluster, "fx_slave_crash_pg", Duration::from_secs(3)).await;
        for i in 0..3 {
            p.send(Message::new(T, format!("before-{i}")))
                .await
                .unwrap();
        }
        let in_step = |cluster: &EmbeddedCluster| {
            let m = cluster
                .broker("broker-a")
                .map(|b| b.store().commit_log_max_offset());
            let s = cluster
                .slave("broker-a")
                .map(|b| b.store().commit_log_max_offset());
            match (m, s) {
                (Some(m), Some(s)) if m == s => Ok(m),
                other => Err(other),
            }
        };
        cluster
            .wait_until("the slave in step", Duration::from_secs(10), || async {
                in_step(&cluster)
            })
            .await
            .unwrap();
        let port = cluster.slave("broker-a").unwrap().addr();
        cluster.kill_slave("broker-a").await.unwrap();
        assert!(cluster.slave("broker-a").is_none());
        assert!(matches!(
            cluster.kill_slave("broker-a").await,
            Err(EmbeddedError::NotFound(_))
        ));
        assert!(
            matches!(
                cluster.restart_broker("broker-a").await,
                Err(EmbeddedError::NotFound(_))
            ),
            "the master was not killed"
        );
        // The master takes writes on its own (ASYNC_MASTER).
        for i in 0..3 {
            p.send(Message::new(T, format!("while-down-{i}")))
                .await
                .unwrap();
        }
        let slave = cluster.restart_slave("broker-a").await.unwrap();
        assert_eq!(slave.addr(), port, "same port");
        let end = cluster
            .wait_until(
                "the restarted slave caught up",
                Duration::from_secs(20),
                || async { in_step(&cluster) },
            )
            .await
            .unwrap();
        assert!(end > 0);
        let bodies = |v: Vec<rocketmq_rs_mini_broker::embedded::StoredMessage>| {
            v.iter().map(|m| m.body_str()).collect::<Vec<_>>()
        };
        let on_master = bodies(cluster.messages(T).await);
        assert_eq!(on_master.len(), 6);
        assert_eq!(
            bodies(cluster.slave_messages("broker-a", T).await),
            on_master
        );
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// On virtual time: a frozen slave stops registering and replicating; past the
    /// NameServer's 120 s broker expiry its route entry is gone and the master has lost it;
    /// thawed, it registers again and catches up.
    pub async fn virtual_freeze_expires_the_route(rt: Arc<dyn Runtime>) {
        const T: &str = "FxFreezeTopic";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time(true)
            .with_slaves(true)
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let members = || {
            cluster
                .namesrv()
                .unwrap()
                .processor()
                .route_info()
                .pickup_topic_route(T)
                .and_then(|r| {
                    r.broker_datas
                        .into_iter()
                        .find(|b| b.broker_name == "broker-a")
                })
                .map(|b| b.broker_addrs.keys().copied().collect::<Vec<i64>>())
                .unwrap_or_default()
        };
        let master = cluster.broker("broker-a").unwrap();
        let slave = cluster.slave("broker-a").unwrap();
        cluster
            .wait_until("the slave connected", Duration::from_secs(30), || async {
                match master.connected_slaves() {
                    1 => Ok(()),
                    n => Err(n),
                }
            })
            .await
            .unwrap();
        assert_eq!(members(), [0, 1]);
        let p = producer(&cluster, "fx_freeze_pg", Duration::from_secs(3)).await;
        slave.faults().freeze();
        assert!(slave.faults().is_frozen());
        for i in 0..3 {
            p.send(Message::new(T, format!("m{i}"))).await.unwrap();
        }
        cluster.advance(Duration::from_secs(100)).await.unwrap();
        assert_eq!(members(), [0, 1], "within the broker expiry");
        cluster.advance(Duration::from_secs(40)).await.unwrap();
        assert_eq!(members(), [0], "the frozen slave expired from the route");
        assert_eq!(
            master.connected_slaves(),
            0,
            "replication session timed out"
        );
        assert!(slave.store().commit_log_max_offset() < master.store().commit_log_max_offset());
        slave.faults().thaw();
        cluster
            .wait_until(
                "the slave back and in step",
                Duration::from_secs(60),
                || async {
                    let (m, s) = (
                        master.store().commit_log_max_offset(),
                        slave.store().commit_log_max_offset(),
                    );
                    let ids = members();
                    if ids == [0, 1] && m == s {
                        Ok(())
                    } else {
                        Err((ids, m, s))
                    }
                },
            )
            .await
            .unwrap();
        assert!(
            wall.elapsed() < Duration::from_secs(60),
            "a 120 s expiry waited out on the virtual clock, not the wall clock: {:?}",
            wall.elapsed()
        );
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// On virtual time: retention follows the clock. Small commit-log segments, deletion
    /// allowed at every hour (`deleteWhen`), a store cap far away (no disk pressure): at
    /// 71 h nothing is deleted, at 73 h every full segment older than the 72 h
    /// `fileReservedTime` is gone and the topic's first offset has moved; a message written
    /// afterwards is young and stays.
    pub async fn virtual_retention_deletes_expired_segments(rt: Arc<dyn Runtime>) {
        const T: &str = "FxRetentionTopic";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time_granularity(Duration::from_secs(600))
            .topic(T, 1)
            .configure(|cfg| {
                cfg.commit_log_segment_size = 32 * 1024;
                cfg.max_message_size = 8 * 1024;
                cfg.delete_when = (0..24)
                    .map(|h| format!("{h:02}"))
                    .collect::<Vec<_>>()
                    .join(";");
                cfg.max_store_bytes = Some(1 << 30);
                cfg.delete_commit_log_files_interval = 0;
            })
            .start(rt)
            .await
            .unwrap();
        let p = producer(&cluster, "fx_retention_pg", Duration::from_secs(3)).await;
        let body = "x".repeat(1024);
        for _ in 0..100 {
            p.send(Message::new(T, body.clone())).await.unwrap();
        }
        let store = cluster.broker("broker-a").unwrap().store().clone();
        {
            let store = store.clone();
            rocketmq_rs_remoting::rt::run_blocking(&**cluster.runtime(), move || store.flush())
                .await
                .unwrap();
        }
        assert_eq!(store.commit_log_min_offset(), 0);
        assert!(
            store.commit_log_max_offset() > 3 * 32 * 1024,
            "several segments written"
        );
        cluster
            .advance(Duration::from_secs(71 * 3600))
            .await
            .unwrap();
        assert_eq!(store.commit_log_min_offset(), 0, "nothing expired at 71 h");
        assert_eq!(cluster.messages(T).await.len(), 100);
        cluster
            .advance(Duration::from_secs(2 * 3600))
            .await
            .unwrap();
        let first = store.commit_log_min_offset();
        assert!(
            first >= 3 * 32 * 1024,
            "expired segments deleted, first offset {first}"
        );
        let left = cluster.messages(T).await.len();
        assert!(left < 100, "{left} messages left");
        assert!(store.min_offset(T, 0) > 0, "the queue's first offset moved");
        p.send(Message::new(T, "young")).await.unwrap();
        cluster.advance(Duration::from_secs(3600)).await.unwrap();
        let after = cluster.messages(T).await;
        assert_eq!(after.last().map(|m| m.body_str()).as_deref(), Some("young"));
        assert!(
            wall.elapsed() < Duration::from_secs(60),
            "73 virtual hours in {:?}",
            wall.elapsed()
        );
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// Scenario helpers: a group of three consumers in this process, 30 keyed messages, each
    /// key consumed exactly once.
    #[allow(clippy::field_reassign_with_default)]
    pub async fn consumer_group_consumes_each_key_once(rt: Arc<dyn Runtime>) {
        const T: &str = "FxGroupTopic";
        let cluster = EmbeddedCluster::builder()
            .topic(T, 6)
            .start(rt)
            .await
            .unwrap();
        let p = producer(&cluster, "fx_group_pg", Duration::from_secs(3)).await;
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(cluster.runtime().clone());
        let mut cfg = PushConsumerConfig::default();
        cfg.group = "fx_group_cg".into();
        cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
        let group = ConsumerGroup::start(client, cfg, T, "*", 3).await.unwrap();
        let view = cluster
            .wait_for_consumers("fx_group_cg", 3, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(view.client_ids().len(), 3);
        // Queues handed over while messages flow may be consumed twice (at least once);
        // produce once the rebalance has settled: two queues per member.
        cluster
            .wait_until("queues split 2/2/2", Duration::from_secs(20), || async {
                let split: Vec<usize> = group
                    .members()
                    .iter()
                    .map(|c| c.assigned_queues().iter().filter(|q| q.topic == T).count())
                    .collect();
                if split == [2, 2, 2] {
                    Ok(())
                } else {
                    Err(split)
                }
            })
            .await
            .unwrap();
        let keys = produce_keyed(&p, T, "order", 30).await.unwrap();
        let ledger = group.ledger().clone();
        cluster
            .wait_until("every key consumed", Duration::from_secs(20), || async {
                match ledger.missing(&keys) {
                    m if m.is_empty() => Ok(()),
                    m => Err(m),
                }
            })
            .await
            .unwrap();
        ledger.check_exactly_once(&keys).unwrap();
        group.shutdown().await;
        p.shutdown().await;
        cluster.shutdown().await;
    }

    /// On virtual time: a consumer whose heartbeats the broker refuses expires after the
    /// broker's 120 s channel timeout (scanned every 10 s), and registers again once
    /// heartbeats are accepted (the client sends one every 30 s).
    pub async fn virtual_heartbeat_expiry(rt: Arc<dyn Runtime>) {
        const T: &str = "FxExpiryTopic";
        let cluster = EmbeddedCluster::builder()
            .virtual_time(true)
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let c = consumer(&cluster, "fx_expiry_cg", T);
        c.start().await.unwrap();
        cluster
            .wait_for_consumers("fx_expiry_cg", 1, Duration::from_secs(60))
            .await
            .unwrap();
        let faults = cluster.broker("broker-a").unwrap().faults();
        faults.refuse(RequestCode::HEART_BEAT, ResponseCode::SYSTEM_ERROR);
        cluster.advance(Duration::from_secs(100)).await.unwrap();
        assert!(
            cluster.consumer_group("fx_expiry_cg").is_some(),
            "within the channel timeout"
        );
        cluster.advance(Duration::from_secs(40)).await.unwrap();
        assert_eq!(
            cluster.consumer_group("fx_expiry_cg"),
            None,
            "expired after 120 s without a heartbeat"
        );
        faults.clear();
        cluster
            .wait_for_consumers("fx_expiry_cg", 1, Duration::from_secs(60))
            .await
            .unwrap();
        c.shutdown().await.unwrap();
        cluster.shutdown().await;
    }

    struct CheckLater(Arc<AtomicUsize>);

    #[async_trait]
    impl TransactionListener for CheckLater {
        async fn execute_local(&self, _msg: &Message) -> LocalTransactionState {
            LocalTransactionState::Unknown
        }
        async fn check_local(&self, _msg: &MessageExt) -> LocalTransactionState {
            self.0.fetch_add(1, Ordering::SeqCst);
            LocalTransactionState::Commit
        }
    }

    /// On virtual time: a 5.x timer message an hour out, and a transaction check-back at the
    /// broker's default 30 s check interval, each when due (within the 10 s granularity).
    pub async fn virtual_timer_message_and_check_back(rt: Arc<dyn Runtime>) {
        const T: &str = "FxVirtualTopic";
        let wall = Instant::now();
        // Stops every 10 virtual seconds: an hour is 360 steps; timers fire up to 10 s late.
        let cluster = EmbeddedCluster::builder()
            .virtual_time_granularity(Duration::from_secs(10))
            .topic(T, 1)
            .start(rt)
            .await
            .unwrap();
        let clock = cluster.virtual_clock().unwrap();
        let p = producer(&cluster, "fx_vt_pg", Duration::from_secs(3)).await;
        let mut m = Message::new(T, "in-an-hour");
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(clock.now_ms() as u64);
        m.set_deliver_time(now + Duration::from_secs(3600));
        p.send(m).await.unwrap();
        cluster.advance(Duration::from_secs(3590)).await.unwrap();
        assert!(cluster.messages(T).await.is_empty(), "not due yet");
        cluster.advance(Duration::from_secs(20)).await.unwrap();
        let due = cluster.messages(T).await;
        assert_eq!(due.len(), 1);
        let stored_at = due[0].message.store_timestamp;
        assert!(
            (now_ms(&now) + 3_600_000..=now_ms(&now) + 3_611_000).contains(&stored_at),
            "delivered at its time"
        );

        let checks = Arc::new(AtomicUsize::new(0));
        let builder = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(cluster.runtime().clone())
            .group("fx_vt_tx");
        let tx = TransactionProducer::new(builder, CheckLater(checks.clone())).unwrap();
        tx.start().await.unwrap();
        tx.send_in_transaction(Message::new(T, "undecided"))
            .await
            .unwrap();
        let halves = cluster.half_messages().await;
        assert_eq!(halves.len(), 1);
        assert_eq!(halves[0].body_str(), "undecided");
        cluster
            .wait_until(
                "the check-back commit",
                Duration::from_secs(600),
                || async {
                    let n = cluster.messages(T).await.len();
                    if n == 2 {
                        Ok(())
                    } else {
                        Err((n, checks.load(Ordering::SeqCst)))
                    }
                },
            )
            .await
            .unwrap();
        assert!(checks.load(Ordering::SeqCst) >= 1);
        assert!(cluster.half_messages().await.is_empty());
        assert!(
            wall.elapsed() < Duration::from_secs(30),
            "virtual hours, real seconds"
        );
        tx.shutdown().await;
        p.shutdown().await;
        cluster.shutdown().await;
    }

    fn now_ms(t: &SystemTime) -> i64 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}

common::for_each_runtime!(
    None;
    inspection_and_wait_until,
    faults_on_demand,
    kill_and_restart,
    slave_falls_behind,
    consumer_group_consumes_each_key_once,
    slave_kill_and_restart,
    virtual_freeze_expires_the_route,
    virtual_retention_deletes_expired_segments,
    virtual_heartbeat_expiry,
    virtual_timer_message_and_check_back,
);
