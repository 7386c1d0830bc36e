//! END_TRANSACTION commit on a SYNC_MASTER waits for the slave like a synchronous send
//! (Java puts the real message through `CommitLog.handleHA`): the commit is answered only
//! once a slave has the real message, or after `syncReplicaTimeoutMs` when none acknowledges
//! — and then still SUCCESS, as Java's `EndTransactionProcessor.sendFinalMessage` answers
//! FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE puts.

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use bytes::Bytes;
use rocketmq_rs_mini_broker::ha::BrokerRole;
use rocketmq_rs_mini_broker::{BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    EndTransactionRequestHeader, SendMessageRequestHeaderV2,
};
use rocketmq_rs_remoting::protocol::message::{
    parse_offset_msg_id, property, sys_flag, Properties,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;

const TOPIC: &str = "TxSyncTopic";
const REPLICA_TIMEOUT_MS: u64 = 1500;

fn master_cfg(dir: &std::path::Path) -> BrokerConfig {
    let mut c = BrokerConfig::for_test(dir);
    c.broker_role = BrokerRole::SyncMaster;
    c.commit_log_segment_size = 8 << 20;
    c.sync_replica_timeout_ms = REPLICA_TIMEOUT_MS;
    c
}

fn slave_cfg(dir: &std::path::Path, master: &BrokerHandle) -> BrokerConfig {
    let mut c = BrokerConfig::for_test(dir);
    c.broker_role = BrokerRole::Slave;
    c.broker_id = 1;
    c.commit_log_segment_size = 8 << 20;
    c.ha_master_address = master.ha_addr();
    c.master_addr = Some(master.advertised_addr().to_string());
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

/// Sends a half message; returns the END_TRANSACTION header that commits it.
async fn half(c: &RemotingClient, addr: &str, body: &'static [u8]) -> EndTransactionRequestHeader {
    let mut p = Properties::new();
    p.insert(property::TRANSACTION_PREPARED, "true");
    p.insert(property::PRODUCER_GROUP, "tx_pg");
    p.insert(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, body_id(body));
    let mut h = send_header(TOPIC, 0, &p);
    h.producer_group = "tx_pg".into();
    h.sys_flag = sys_flag::TRANSACTION_PREPARED_TYPE;
    let cmd = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
        .with_header(&SendMessageRequestHeaderV2::from(h))
        .with_body(Bytes::from_static(body));
    let r = c.invoke(addr, cmd, T).await.expect("half answered");
    // A half is a SYNC_MASTER send like any other: stored, replicated or not.
    assert!(
        [
            ResponseCode::SUCCESS,
            ResponseCode::FLUSH_SLAVE_TIMEOUT,
            ResponseCode::SLAVE_NOT_AVAILABLE
        ]
        .contains(&r.code),
        "{r:?}"
    );
    let msg_id = r.ext_fields.get("msgId").expect("msgId").to_string();
    let (_, commit_log_offset) = parse_offset_msg_id(&msg_id).unwrap();
    EndTransactionRequestHeader {
        topic: Some(TOPIC.into()),
        producer_group: "tx_pg".into(),
        tran_state_table_offset: ext_i64(&r, "queueOffset"),
        commit_log_offset,
        commit_or_rollback: sys_flag::TRANSACTION_COMMIT_TYPE,
        from_transaction_check: false,
        msg_id: body_id(body).into(),
        transaction_id: Some(body_id(body).into()),
        bname: None,
    }
}

fn body_id(body: &[u8]) -> &'static str {
    if body == b"tx-1" {
        "7F00000100002A9F0000000000000001"
    } else {
        "7F00000100002A9F0000000000000002"
    }
}

async fn commit(
    c: &RemotingClient,
    addr: &str,
    h: &EndTransactionRequestHeader,
) -> RemotingCommand {
    let cmd = RemotingCommand::request(RequestCode::END_TRANSACTION).with_header(h);
    c.invoke(addr, cmd, T)
        .await
        .expect("END_TRANSACTION answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_commit_waits_for_the_slave() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = start(master_cfg(d1.path())).await;
    let maddr = master.addr().to_string();
    let c = client();

    // 1. A slave that never acknowledges: the commit is answered only after the replica
    //    timeout (before the fix: at once), and with SUCCESS, as Java answers.
    let silent = broker_util::silent_slave(
        master.ha_addr().unwrap(),
        master.store().commit_log_max_offset(),
    )
    .await;
    wait_for("silent slave connects", || master.connected_slaves() == 1).await;
    let h = half(&c, &maddr, b"tx-1").await;
    let t = Instant::now();
    let r = commit(&c, &maddr, &h).await;
    let waited = t.elapsed();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert!(
        waited >= Duration::from_millis(REPLICA_TIMEOUT_MS - 100),
        "commit answered after {waited:?}, before the slave could have acknowledged"
    );
    assert_eq!(
        master.store().max_offset(TOPIC, 0),
        1,
        "committed on the master"
    );
    drop(silent);
    wait_for("silent slave gone", || master.connected_slaves() == 0).await;

    // 2. A real slave: once the commit is answered, the slave already holds the real message.
    let slave = start(slave_cfg(d2.path(), &master)).await;
    wait_for("slave connects", || master.connected_slaves() == 1).await;
    wait_for("slave catches up", || {
        slave.store().commit_log_max_offset() == master.store().commit_log_max_offset()
    })
    .await;
    let h = half(&c, &maddr, b"tx-2").await;
    let r = commit(&c, &maddr, &h).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert_eq!(master.store().max_offset(TOPIC, 0), 2);
    assert_eq!(
        slave.store().max_offset(TOPIC, 0),
        2,
        "acknowledged commit = real message on the slave"
    );
    slave.sync_metadata_now().await.unwrap();
    let r = pull(
        &c,
        &slave.addr().to_string(),
        &pull_header("g", TOPIC, 0, 1),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert_eq!(&msgs(&r)[0].body[..], b"tx-2");

    c.shutdown();
    slave.shutdown().await;
    master.shutdown().await;
}
