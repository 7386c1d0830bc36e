//! Interop with Apache's official Java client, 4.9.8 and the 5.x remoting client (versions in
//! [`rocketmq_it::javaclient::VERSIONS`]), through our harness `interop/java/RmqHarness.java`:
//! every test starts its own mini NameServer and mini broker in-process on OS-chosen ports and
//! runs the shared scenarios of [`rocketmq_it::scenarios`] with the Java client as the peer.
//!
//! Also, with the real `mini-namesrv` / `mini-broker` processes: a `SYNC_MASTER` + `SLAVE`
//! pair, a Java producer, `kill -9` of the master, and the Java client reading every
//! acknowledged message from the slave (pull and push consumer).
//!
//! The client comes from Maven Central (`interop/apache/fetch-cp.sh`). Without Java or Maven
//! each test prints `SKIPPED:` and passes, unless `ROCKETMQ_IT_REQUIRE_APACHE=1`.

#[path = "chaos/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_it::bytes::{check_java_bytes_read, BatchIds};
use rocketmq_it::harness::Event;
use rocketmq_it::javaclient::{JavaClient, REQUIRE_VAR};
use rocketmq_it::scenarios::{self, args, run_test, Cluster, Peer, RUN_TIMEOUT};
use rocketmq_rs_client::{Message, Producer, SendStatus};
use support::procs::{BrokerProc, BrokerSpec, NamesrvProc};

/// The Java peer of `version`, or `None` after printing why the test is skipped.
fn java_peer(test: &str, version: &str) -> Option<Peer> {
    match JavaClient::get(version) {
        Ok(Ok(java)) => Some(Peer::new(
            format!("java-{}", version.replace('.', "")),
            Arc::new(move |what: &str, sub: &str, args: &[String]| java.run(what, sub, args)),
        )),
        Ok(Err(why)) => {
            eprintln!("SKIPPED: {test}: {why}; set {REQUIRE_VAR}=1 to make this a failure");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

macro_rules! java_tests {
    ($($version:literal => $modes:ident, $fanout:ident, $retry:ident, $request:ident;)*) => {$(
        #[test]
        fn $modes() {
            let Some(peer) = java_peer(stringify!($modes), $version) else { return };
            run_test(stringify!($modes), |rt| async move {
                let c = Cluster::start(&rt).await;
                scenarios::peer_producer_modes(&peer, &c).await;
                c.shutdown().await;
            });
        }

        #[test]
        fn $fanout() {
            let Some(peer) = java_peer(stringify!($fanout), $version) else { return };
            run_test(stringify!($fanout), |rt| async move {
                let c = Cluster::start(&rt).await;
                scenarios::rust_producer_to_peer_consumers(&peer, &c).await;
                c.shutdown().await;
            });
        }

        #[test]
        fn $retry() {
            let Some(peer) = java_peer(stringify!($retry), $version) else { return };
            run_test(stringify!($retry), |rt| async move {
                let c = Cluster::start(&rt).await;
                scenarios::retry_and_dlq(&peer, &c).await;
                c.shutdown().await;
            });
        }

        #[test]
        fn $request() {
            let Some(peer) = java_peer(stringify!($request), $version) else { return };
            run_test(stringify!($request), |rt| async move {
                let c = Cluster::start(&rt).await;
                scenarios::request_reply(&peer, &c).await;
                c.shutdown().await;
            });
        }
    )*};
}

java_tests! {
    "4.9.8" => java498_producer_modes_read_by_rust, rust_producer_to_java498_consumers,
        java498_retry_and_dlq, java498_request_reply;
    "5.5.0" => java550_producer_modes_read_by_rust, rust_producer_to_java550_consumers,
        java550_retry_and_dlq, java550_request_reply;
}

/// The Java harness's `bytes` run (one producer per `compressType`: ZLIB, ZSTD, LZ4, then a
/// batch; unicode tags, keys and properties) through mini-broker, read by our pull consumer:
/// mini-broker stores the compression bits and bodies as sent, and keeps each batch message's
/// own id.
fn java_bytes_through_mini_broker(test: &str, version: &str) {
    let Some(peer) = java_peer(test, version) else {
        return;
    };
    run_test(test, |rt| async move {
        let c = Cluster::start(&rt).await;
        let topic = format!("{}-bytes", peer.name);
        c.create_topic(&topic, 2).await;
        let run = peer.run(
            "bytes producer",
            "bytes",
            &args(&[
                ("-ns", &c.ns()),
                ("-topic", &topic),
                ("-group", &format!("{}-bytes-pg", peer.name)),
            ]),
        );
        let done = run.finish(RUN_TIMEOUT).await.expect("java bytes producer");
        done.assert_success();
        let sent = done.of("sent");
        assert_eq!(sent.len(), 8, "{}", done.describe());
        let got = c.rust_pull_all(&topic).await;
        check_java_bytes_read(&peer.name, BatchIds::Own, &sent, &got);
        c.shutdown().await;
    });
}

#[test]
fn java498_bytes_through_mini_broker() {
    java_bytes_through_mini_broker("java498_bytes_through_mini_broker", "4.9.8");
}

#[test]
fn java550_bytes_through_mini_broker() {
    java_bytes_through_mini_broker("java550_bytes_through_mini_broker", "5.5.0");
}

/// Sent events by idx, checked to be `SEND_OK`.
fn acknowledged(evs: &[&Event]) -> BTreeMap<i64, Event> {
    evs.iter()
        .map(|e| {
            assert_eq!(e.status_text(), "SEND_OK", "send to the SYNC_MASTER: {e:?}");
            (e.idx.expect("idx"), (*e).clone())
        })
        .collect()
}

/// What a consumer run received equals what the producer run sent, byte for byte.
fn same_messages(what: &str, sent: &BTreeMap<i64, Event>, got: &[&Event]) {
    let mut by_idx = BTreeMap::new();
    for g in got {
        let idx: i64 = g.prop("idx").and_then(|v| v.parse().ok()).expect("idx");
        by_idx.insert(idx, *g);
    }
    assert_eq!(
        by_idx.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>(),
        "{what}: which messages arrived"
    );
    for (idx, s) in sent {
        let g = by_idx[idx];
        assert_eq!(g.body, s.body, "{what} idx {idx}: body");
        assert_eq!(g.tags, s.tags, "{what} idx {idx}: tags");
        assert_eq!(g.keys, s.keys, "{what} idx {idx}: keys");
        assert_eq!(g.msg_id, s.msg_id, "{what} idx {idx}: message id");
        for p in ["idx", "mode", "src"] {
            assert_eq!(g.prop(p), s.prop(p), "{what} idx {idx}: property {p}");
        }
    }
}

/// SYNC_MASTER + SLAVE processes; the Java client produces, the master is killed, the Java
/// client reads everything back from the slave.
fn slave_serves_java_after_master_kill(test: &str, version: &str) {
    let Some(peer) = java_peer(test, version) else {
        return;
    };
    const N: usize = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let ns = NamesrvProc::start();
    let mut mspec = BrokerSpec::new(ns.addr, &dir.path().join("master"), "async", "broker-a");
    mspec.extra_json = Some(r#"{"brokerRole":"SYNC_MASTER","syncReplicaTimeoutMs":3000}"#.into());
    let mut master = BrokerProc::start(mspec);
    let ha = master.ha_addr().expect("the master's replication address");
    let mut sspec = BrokerSpec::new(ns.addr, &dir.path().join("slave"), "async", "broker-a");
    sspec.id = 1;
    sspec.extra_json = Some(format!(
        r#"{{"brokerRole":"SLAVE","brokerId":1,"haMasterAddress":"{ha}","masterAddr":"{}","slaveMetadataSyncIntervalMs":500}}"#,
        master.addr
    ));
    let mut slave = BrokerProc::start(sspec);
    let topic = format!("{}-ha", peer.name);
    let warmup = format!("{}-ha-warmup", peer.name);
    let nsa = ns.addr.to_string();
    run_test(test, |rt| async move {
        support::admin::create_topic(master.addr, &topic, 4, false).await;
        support::admin::create_topic(master.addr, &warmup, 1, false).await;
        // SEND_OK from a SYNC_MASTER needs the slave connected and caught up: warm up first.
        let p = Producer::builder()
            .name_server(&nsa)
            .runtime(rt)
            .group("rust-ha-warmup")
            .send_timeout(Duration::from_secs(3))
            .build()
            .expect("producer config");
        p.start().await.expect("start");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = p.send(Message::new(warmup.as_str(), "warm-up")).await;
            if matches!(&r, Ok(r) if r.status == SendStatus::SendOk) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no SEND_OK from the SYNC_MASTER: {r:?}"
            );
            rocketmq_it::sleep(Duration::from_millis(200)).await;
        }
        p.shutdown().await;

        let n = N.to_string();
        let base = |group: &str| args(&[("-ns", &nsa), ("-group", group), ("-topic", &topic)]);
        let mut a = base(&format!("{}-ha-producer", peer.name));
        a.extend(args(&[("-mode", "sync"), ("-count", &n), ("-size", "300")]));
        let out = peer
            .run("produce to the SYNC_MASTER", "produce", &a)
            .finish(RUN_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        out.assert_success();
        let sent = acknowledged(&out.of("sent"));
        assert_eq!(sent.len(), N);
        rocketmq_it::eventually_async(Duration::from_secs(30), || {
            support::admin::topic_known(slave.addr, &topic)
        })
        .await
        .expect("the slave learns the topic from its master");

        master.kill9();

        let mut a = base(&format!("{}-ha-pull", peer.name));
        a.extend(args(&[("-expect", &n)]));
        let pull = peer.run("pull from the slave", "pull", &a);
        let mut a = base(&format!("{}-ha-push", peer.name));
        a.extend(args(&[("-expect", &n)]));
        let push = peer.run("push from the slave", "push", &a);
        for (what, run) in [("pull", pull), ("push", push)] {
            let out = run
                .finish(RUN_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            out.assert_success();
            let recv = out.of("recv");
            for r in &recv {
                assert_eq!(r.broker.as_deref(), Some("broker-a"), "{what}: {r:?}");
            }
            same_messages(&format!("{what} from the slave"), &sent, &recv);
        }
        slave.stop();
    });
}

fn java_consumer_after_retention(test: &str, version: &str) {
    let Some(peer) = java_peer(test, version) else {
        return;
    };
    run_test(test, |rt| async move {
        let c = Cluster::start_with(&rt, scenarios::fast_retention).await;
        scenarios::peer_consumer_after_retention(&peer, &c).await;
        c.shutdown().await;
    });
}

#[test]
fn java498_continues_from_the_oldest_message_after_retention() {
    java_consumer_after_retention(
        "java498_continues_from_the_oldest_message_after_retention",
        "4.9.8",
    );
}

#[test]
fn java550_continues_from_the_oldest_message_after_retention() {
    java_consumer_after_retention(
        "java550_continues_from_the_oldest_message_after_retention",
        "5.5.0",
    );
}

#[test]
fn java498_reads_the_slave_after_the_master_is_killed() {
    slave_serves_java_after_master_kill(
        "java498_reads_the_slave_after_the_master_is_killed",
        "4.9.8",
    );
}

#[test]
fn java550_reads_the_slave_after_the_master_is_killed() {
    slave_serves_java_after_master_kill(
        "java550_reads_the_slave_after_the_master_is_killed",
        "5.5.0",
    );
}

/// Go → Java and Java → Go through mini-broker: each consumer gets exactly what the other
/// client sent, byte for byte (body, tags, keys, user properties, message id).
#[test]
fn go_and_java498_exchange_messages() {
    const TEST: &str = "go_and_java498_exchange_messages";
    let Some(java) = java_peer(TEST, "4.9.8") else {
        return;
    };
    let go = match rocketmq_it::goclient::GoClient::get() {
        Ok(Some(go)) => Peer::new(
            "go",
            Arc::new(move |what: &str, sub: &str, args: &[String]| go.run(what, sub, args)),
        ),
        Ok(None) => {
            eprintln!("SKIPPED: {TEST}: no Go toolchain (`go`)");
            return;
        }
        Err(e) => panic!("{TEST}: {e}"),
    };
    run_test(TEST, |rt| async move {
        let c = Cluster::start(&rt).await;
        let ns = c.ns();
        for (from, to) in [(&go, &java), (&java, &go)] {
            let topic = format!("{}-to-{}", from.name, to.name);
            c.create_topic(&topic, 4).await;
            let n = "12";
            let consumer = to
                .start(
                    &format!("consume from {}", from.name),
                    "push",
                    &args(&[
                        ("-ns", &ns),
                        ("-group", &format!("{topic}-consumer")),
                        ("-topic", &topic),
                        ("-expect", n),
                    ]),
                )
                .await;
            let out = from
                .run(
                    &format!("produce for {}", to.name),
                    "produce",
                    &args(&[
                        ("-ns", &ns),
                        ("-group", &format!("{topic}-producer")),
                        ("-topic", &topic),
                        ("-mode", "sync"),
                        ("-count", n),
                        ("-label", &topic),
                        ("-size", "5000"),
                    ]),
                )
                .finish(RUN_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{topic} producer: {e}"));
            out.assert_success();
            let sent = acknowledged(&out.of("sent"));
            let got = consumer
                .finish(RUN_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{topic} consumer: {e}"));
            got.assert_success();
            same_messages(&topic, &sent, &got.of("recv"));
        }
        c.shutdown().await;
    });
}

/// Apache's Java push consumer (5.5.0, `setClientRebalance(false)`) against mini-broker after
/// `mqadmin setConsumeMode -m POP`: the broker's QUERY_ASSIGNMENT switches it to POP (it
/// reports POP queue -1 and its messages carry POP receipts), and it shares a one-queue topic
/// with our push consumer in `PopMode::FollowBroker`: two consumers, one queue, both consume,
/// nothing is lost.
#[test]
fn java550_push_consumer_pops_from_mini_broker() {
    use rocketmq_it::mqadmin::MqadminBatch;
    use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeResult, PopMode, PushConsumer};
    use rocketmq_rs_client::{ClientConfig, ConsumeFromWhere, MessageExt};
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    const TEST: &str = "java550_push_consumer_pops_from_mini_broker";
    let Some(peer) = java_peer(TEST, "5.5.0") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut admin = match MqadminBatch::start("5.5.0", dir.path()) {
        Ok(a) => a,
        Err(e) if std::env::var(REQUIRE_VAR).as_deref() != Ok("1") => {
            eprintln!(
                "SKIPPED: {TEST}: no mqadmin ({e}); set {REQUIRE_VAR}=1 to make this a failure"
            );
            return;
        }
        Err(e) => panic!("{TEST}: mqadmin: {e}"),
    };
    run_test(TEST, |rt| async move {
        let c = Cluster::start(&rt).await;
        let (topic, group) = ("java550-pop", "java550-pop-cg");
        c.create_topic(topic, 1).await;
        let cmd: Vec<String> = [
            "setConsumeMode",
            "-b",
            &c.broker_addr(),
            "-t",
            topic,
            "-g",
            group,
            "-m",
            "POP",
            "-q",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = tokio::task::block_in_place(|| admin.run(&[cmd], Duration::from_secs(90)))
            .expect("mqadmin runs");
        assert!(
            out[0].text.contains("success"),
            "setConsumeMode: {}",
            out[0].text
        );

        let java = peer
            .start(
                "java pop consumer",
                "push",
                &args(&[
                    ("-ns", &c.ns()),
                    ("-group", group),
                    ("-topic", topic),
                    ("-client-rebalance", "false"),
                    ("-pop-batch", "2"),
                    ("-sleep", "60ms"),
                    ("-timeout", "110s"),
                ]),
            )
            .await;
        java.wait_until(Duration::from_secs(40), "the switch to POP", |evs| {
            evs.iter()
                .any(|e| e.ev == "alloc" && e.pop.as_deref() == Some(&[-1][..]))
        })
        .await
        .expect("the Java consumer pops");

        let ours: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = Arc::clone(&ours);
        let mut client = ClientConfig::with_name_server(&c.ns());
        client.runtime = Some(Arc::clone(&rt));
        client.rebalance_interval = Duration::from_secs(1);
        let rt2 = Arc::clone(&rt);
        let consumer = PushConsumer::builder()
            .client_config(client)
            .group(group)
            .subscribe(topic, "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .pop_mode(PopMode::FollowBroker)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                log.lock().unwrap().extend(
                    msgs.iter()
                        .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                );
                let rt = Arc::clone(&rt2);
                async move {
                    rt.sleep(Duration::from_millis(60)).await;
                    ConsumeResult::Success
                }
            })
            .build()
            .expect("consumer config");
        consumer.start().await.expect("consumer starts");
        let start = Instant::now();
        while consumer.pop_queues().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ours never switched to POP"
            );
            rt.sleep(Duration::from_millis(100)).await;
        }

        let p = c.rust_producer("java550-pop-pg").await;
        let mut sent = BTreeSet::new();
        for i in 0..60 {
            let body = format!("pop-{i}");
            p.send(Message::new(topic, body.clone()))
                .await
                .expect("send");
            sent.insert(body);
            rt.sleep(Duration::from_millis(20)).await;
        }
        let java_bodies = |evs: &[Event]| -> BTreeSet<String> {
            evs.iter()
                .filter(|e| e.ev == "recv")
                .map(|e| String::from_utf8(e.body_bytes().expect("hex body")).expect("utf-8"))
                .collect()
        };
        let start = Instant::now();
        loop {
            let mut all = java_bodies(&java.events());
            all.extend(ours.lock().unwrap().iter().cloned());
            if all.is_superset(&sent) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not consumed: {:?}",
                sent.difference(&all).collect::<Vec<_>>()
            );
            rt.sleep(Duration::from_millis(200)).await;
        }
        // Let the last acks go out before the Java consumer is killed.
        rt.sleep(Duration::from_secs(1)).await;
        let done = java.stop().await.expect("java consumer");
        let recv = done.of("recv");
        assert!(!recv.is_empty(), "the Java consumer got work");
        assert!(
            recv.iter().all(|e| e.props.contains_key("POP_CK")),
            "the Java consumer consumed by POP (receipt handles)"
        );
        assert!(!ours.lock().unwrap().is_empty(), "our consumer got work");
        consumer.shutdown().await.expect("shutdown");
        p.shutdown().await;
        c.shutdown().await;
    });
}
