//! Scenario 6 of the Apache interop matrix: an Apache `SYNC_MASTER` + `SLAVE` pair; our
//! producer's acknowledged sends, the master killed with SIGKILL, and our consumer reading
//! every acknowledged message from the slave (4.9.7, 5.3.3, 5.5.0).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rocketmq_it::apache::{apache_or_skip, ApacheCluster, ClusterOptions, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::{Message, Producer, SendStatus};

use crate::common::{
    broker_knows_topic, create_topic, default_options, max_offsets, pull_all, run, unique,
    wait_route_with,
};

const TOPIC_QUEUES: i32 = 2;

fn sync_master_failover(version: &str) {
    let test = format!("sync_master_failover {version}");
    rocketmq_it::init_tracing();
    if !apache_or_skip(&test) {
        return;
    }
    let mut opts = ClusterOptions {
        with_slave: true,
        ..default_options()
    };
    // A 5.x SLAVE refuses every pull with SYSTEM_BUSY ("[REJECTREQUEST]system busy, start flow
    // control for a while") unless slaveReadEnable=true: PullMessageProcessor.rejectRequest
    // (broker/.../processor/PullMessageProcessor.java, 5.3.3 and 5.5.0; 4.9.7 never rejects).
    // So after a master failure, consumers of any client read nothing from a default slave.
    opts.broker_props
        .push(("slaveReadEnable".into(), "true".into()));
    let mut c = ApacheCluster::start(version, &opts)
        .unwrap_or_else(|e| panic!("{test}: Apache master + slave: {e}"));
    let slave = c.slave_addr().expect("slave address");
    let topic = unique("HaTopic", version);
    let acked = run(&test, |rt| {
        let (c, topic) = (&c, topic.clone());
        async move {
            create_topic(&rt, c, &topic, TOPIC_QUEUES).await;
            // The slave copies the master's topics on its own schedule and then registers
            // them: wait until the route lists it, so readers can find it later.
            wait_route_with(&rt, c, &topic, &slave.to_string()).await;
            let p = Producer::builder()
                .name_server(&c.namesrv_addr().to_string())
                .group(unique("pg_ha", c.version()))
                .send_timeout(Duration::from_secs(10))
                .runtime(rt.clone())
                .build()
                .expect("producer config");
            p.start().await.expect("producer start");
            // SYNC_MASTER answers SLAVE_NOT_AVAILABLE until the slave's HA connection is up:
            // send until the first SEND_OK, then 30 more; keep the keys acknowledged OK.
            let mut acked = BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut i = 0;
            while acked.len() < 31 {
                assert!(Instant::now() < deadline, "only {} SEND_OK", acked.len());
                let key = format!("ha{i}");
                i += 1;
                let mut m = Message::new(&topic, format!("ha body {key}"));
                m.set_keys([key.as_str()]);
                match p.send(m).await {
                    Ok(r) if r.status == SendStatus::SendOk => {
                        acked.insert(key);
                    }
                    r if acked.is_empty() => {
                        // SLAVE_NOT_AVAILABLE, or on a loaded machine a route without the
                        // master for a moment (a 5.x master's NameServer channel can time out
                        // and be closed, which unregisters it until its next registration).
                        tracing::debug!("before the first SEND_OK: {r:?}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    r => panic!("{key}: {r:?} after the slave was in sync"),
                }
            }
            p.shutdown().await;
            // SEND_OK means the slave has the commit log; its consume queues (and, before the
            // first sync, the topic itself) follow asynchronously: wait until the slave
            // serves what the master serves, or the readers below could miss data that is
            // there.
            // A slave also copies the master's topic table only every few seconds
            // (SlaveSynchronize); until then it answers pulls with TOPIC_NOT_EXIST, and after
            // the master is gone it never learns the topic (seen on 5.3.3 and 5.5.0).
            let master = max_offsets(&rt, c.broker_addr(), &topic, TOPIC_QUEUES).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let on_slave = max_offsets(&rt, slave, &topic, TOPIC_QUEUES).await;
                if on_slave == master && broker_knows_topic(&rt, slave, &topic).await {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "slave max offsets {on_slave:?}, master {master:?}, or the slave lacks {topic}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            acked
        }
    });
    c.kill_broker();
    let got = run(&test, |rt| {
        let (c, topic) = (&c, topic.clone());
        let want = acked.len();
        async move { pull_all(c, &rt, &topic, want, Duration::from_secs(90)).await }
    });
    let got: BTreeSet<String> = got
        .iter()
        .map(|m| m.keys().unwrap_or("-").to_string())
        .collect();
    let missing: Vec<&String> = acked.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "read {} from the slave {slave}; missing acknowledged {missing:?}",
        got.len()
    );
}

#[test]
fn sync_master_failover_4_9_7() {
    sync_master_failover(V4);
}

#[test]
fn sync_master_failover_5_3_3() {
    sync_master_failover(V5_3);
}

#[test]
fn sync_master_failover_5_5_0() {
    sync_master_failover(V5_NEWEST);
}
