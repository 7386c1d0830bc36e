//! Replication wired into the broker, in-process: SYNC_MASTER answers, a slave refusing
//! writes, metadata copy, pull suggestions and ASYNC_MASTER lag. Process-level scenarios
//! (kill -9, restarts, two broker groups with real clients) are in the workspace's
//! `tests/cluster.rs`.

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_mini_broker::ha::BrokerRole;
use rocketmq_rs_mini_broker::{BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    PopMessageRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;

fn master_cfg(dir: &std::path::Path, role: BrokerRole) -> BrokerConfig {
    let mut c = BrokerConfig::for_test(dir);
    c.broker_role = role;
    c.commit_log_segment_size = 1 << 20;
    c.max_message_size = 256 * 1024;
    c.sync_replica_timeout_ms = 2000;
    c
}

fn slave_cfg(dir: &std::path::Path, master: &BrokerHandle) -> BrokerConfig {
    let mut c = BrokerConfig::for_test(dir);
    c.broker_role = BrokerRole::Slave;
    c.broker_id = 1;
    c.commit_log_segment_size = 1 << 20;
    c.max_message_size = 256 * 1024;
    c.ha_master_address = master.ha_addr();
    c.master_addr = Some(master.advertised_addr().to_string());
    c.slave_metadata_sync_interval_ms = 200;
    c
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn config_rules_for_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = BrokerConfig::for_test(dir.path());
    c.broker_role = BrokerRole::Slave;
    assert!(c.validate().is_err(), "slave with id 0");
    c.broker_id = 1;
    assert!(c.validate().is_err(), "slave without haMasterAddress");
    c.ha_master_address = Some("127.0.0.1:10912".parse().unwrap());
    assert!(c.validate().is_ok());
    c.broker_role = BrokerRole::SyncMaster;
    assert!(c.validate().is_err(), "master with id 1");
    let j: BrokerConfig = serde_json::from_str(
        r#"{"brokerRole":"SLAVE","brokerId":1,"haMasterAddress":"127.0.0.1:5","masterAddr":"127.0.0.1:4"}"#,
    )
    .unwrap();
    assert_eq!(j.broker_role, BrokerRole::Slave);
    assert!(j.validate().is_ok());
    let d = BrokerConfig::default();
    assert_eq!(d.ha_listen().port(), 10912);
    assert_eq!(BrokerConfig::for_test(dir.path()).ha_listen().port(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_slave_refusal_metadata_and_suggestion() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = master_cfg(d1.path(), BrokerRole::SyncMaster);
    mc.slave_read_enable = true;
    mc.slave_suggest_lag_bytes = 1;
    let master = start(mc).await;
    let maddr = master.addr().to_string();
    let c = client();

    // No slave: stored, but answered SLAVE_NOT_AVAILABLE (11) with the send header.
    let r = send(&c, &maddr, "HaT", 0, b"lonely", &[], true).await;
    assert_eq!(r.code, ResponseCode::SLAVE_NOT_AVAILABLE, "{r:?}");
    assert!(r.ext_fields.contains_key("msgId"), "{r:?}");
    assert_eq!(master.store().max_offset("HaT", 0), 1);
    // WAIT=false: not waited for.
    let r = send(&c, &maddr, "HaT", 0, b"nowait", &[("WAIT", "false")], true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");

    let slave = start(slave_cfg(d2.path(), &master)).await;
    let saddr = slave.addr().to_string();
    wait_for("slave connects", || master.connected_slaves() == 1).await;
    let r = send(&c, &maddr, "HaT", 0, b"replicated", &[], true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert_eq!(
        slave.store().max_offset("HaT", 0),
        3,
        "acknowledged = on the slave"
    );
    assert_eq!(
        slave.store().commit_log_max_offset(),
        master.store().commit_log_max_offset()
    );

    // The slave refuses writes with SERVICE_NOT_AVAILABLE (14).
    let r = send(&c, &saddr, "HaT", 0, b"to-slave", &[], true).await;
    assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE, "{r:?}");
    assert!(r
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("messages are put to the slave"));
    // POP writes checkpoints into the commit log: refused on the slave too, which stays the
    // master's byte-for-byte copy.
    let pop = RemotingCommand::request(RequestCode::POP_MESSAGE).with_header(
        &PopMessageRequestHeader::new("g1", "HaT", -1, 1, 60_000, 0, 0),
    );
    let r = c.invoke(&saddr, pop, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE, "{r:?}");

    // Metadata copy: topic and committed offsets reach the slave.
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: "g1".into(),
        topic: "HaT".into(),
        queue_id: 0,
        commit_offset: 2,
        bname: None,
    };
    let r = c
        .invoke(
            &maddr,
            RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(&h),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let r = c
        .invoke(
            &maddr,
            RemotingCommand::request(RequestCode::GET_ALL_CONSUMER_OFFSET),
            T,
        )
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["offsetTable"]["HaT@g1"]["0"], 2, "{body}");
    let r = c
        .invoke(
            &maddr,
            RemotingCommand::request(RequestCode::GET_ALL_DELAY_OFFSET),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["offsetTable"].is_object()
    );
    slave.sync_metadata_now().await.unwrap();
    assert!(slave.topics().get("HaT").is_some());
    let r = c
        .invoke(
            &saddr,
            RemotingCommand::request(RequestCode::GET_ALL_CONSUMER_OFFSET),
            T,
        )
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["offsetTable"]["HaT@g1"]["0"], 2, "{body}");

    // Pull from the master: the consumer is "far behind" (threshold 1 byte) → slave (1).
    let r = pull(&c, &maddr, &pull_header("g1", "HaT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(ext_i64(&r, "suggestWhichBrokerId"), 1);
    // The slave serves the same bytes, never takes a committed offset, and answers an
    // offset beyond its queue with PULL_RETRY_IMMEDIATELY (20), not OFFSET_MOVED.
    let mut h = pull_header("g1", "HaT", 0, 0);
    h.sys_flag |= 0x1;
    h.commit_offset = 3;
    let r = pull(&c, &saddr, &h).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let bodies: Vec<_> = msgs(&r).iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(&bodies[2][..], b"replicated");
    assert_eq!(ext_i64(&r, "suggestWhichBrokerId"), 0);
    let r = pull(&c, &saddr, &pull_header("g1", "HaT", 0, 50)).await;
    assert_eq!(r.code, ResponseCode::PULL_RETRY_IMMEDIATELY, "{r:?}");
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 50);
    let r = pull(&c, &maddr, &pull_header("g1", "HaT", 0, 50)).await;
    assert_eq!(r.code, ResponseCode::PULL_OFFSET_MOVED, "{r:?}");

    // Slave gone: the next send times out or finds no slave.
    slave.shutdown().await;
    wait_for("slave disconnects", || master.connected_slaves() == 0).await;
    let r = send(&c, &maddr, "HaT", 0, b"alone-again", &[], true).await;
    assert_eq!(r.code, ResponseCode::SLAVE_NOT_AVAILABLE, "{r:?}");
    c.shutdown();
    master.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_master_lag_is_bounded_and_catches_up() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = start(master_cfg(d1.path(), BrokerRole::AsyncMaster)).await;
    let slave = start(slave_cfg(d2.path(), &master)).await;
    wait_for("slave connects", || master.connected_slaves() == 1).await;
    let maddr = master.addr().to_string();
    let c = client();
    const N: usize = 2000;
    let body: &'static [u8] = &[b'x'; 512];
    let start_t = Instant::now();
    let mut max_lag = 0i64;
    let mut samples = 0;
    for _ in 0..(N / 50) {
        let futs = (0..50).map(|i| send(&c, &maddr, "LagT", i % 4, body, &[], true));
        for r in futures::future::join_all(futs).await {
            assert_eq!(
                r.code,
                ResponseCode::SUCCESS,
                "ASYNC_MASTER never waits: {r:?}"
            );
        }
        if let Some(l) = master.replication_lag() {
            max_lag = max_lag.max(l);
            samples += 1;
        }
    }
    let send_time = start_t.elapsed();
    let end = master.store().commit_log_max_offset();
    let t = Instant::now();
    wait_for("slave catches up", || {
        slave.store().commit_log_max_offset() == end
    })
    .await;
    let catch_up = t.elapsed();
    println!(
        "ASYNC_MASTER lag: {N} x 512 B sends in {send_time:?}, max observed lag {max_lag} bytes \
         over {samples} samples, slave caught up {catch_up:?} after the last ack, log end {end}"
    );
    // The slave's consume queues are built by its dispatcher after the
    // bytes land in its commit log, so they trail the log by a moment.
    for q in 0..4 {
        let want = master.store().max_offset("LagT", q);
        wait_for("slave consume queue catches up", || {
            slave.store().max_offset("LagT", q) == want
        })
        .await;
    }
    wait_for("acknowledged", || master.replication_lag() == Some(0)).await;
    c.shutdown();
    slave.shutdown().await;
    master.shutdown().await;
}
