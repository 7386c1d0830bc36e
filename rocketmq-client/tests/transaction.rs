//! Transactional messages end to end against the in-process mini NameServer and mini broker:
//! commit, rollback, unknown-then-check-back commit / rollback, and undecided halves surviving
//! a broker restart, all on the embedded cluster's virtual time. Test bodies take an `Arc<dyn Runtime>`; each runs on tokio, and on smol /
//! async-std with the `runtime-smol` / `runtime-async-std` features.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_client::producer::{
    LocalTransactionState, TransactionListener, TransactionProducer,
};
use rocketmq_rs_client::{async_trait, Message, MessageExt, Producer, SendStatus};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::protocol::message::{property, sys_flag};
use rocketmq_rs_remoting::rt::Runtime;

const TOPIC: &str = "ItTxTopic";

/// What the listener answers, and how often it was asked.
struct Listener {
    execute: LocalTransactionState,
    /// Checks answer Unknown until this is set, then `check`.
    decided: Arc<AtomicBool>,
    check: LocalTransactionState,
    checks: Arc<AtomicUsize>,
}

#[async_trait]
impl TransactionListener for Listener {
    async fn execute_local(&self, msg: &Message) -> LocalTransactionState {
        assert_eq!(
            msg.properties.get(property::TRANSACTION_PREPARED),
            Some("true")
        );
        assert!(msg.properties.get(property::TRANSACTION_ID).is_some());
        self.execute
    }

    async fn check_local(&self, msg: &MessageExt) -> LocalTransactionState {
        assert_eq!(msg.topic, TOPIC, "checks show the real topic");
        self.checks.fetch_add(1, Ordering::SeqCst);
        if self.decided.load(Ordering::SeqCst) {
            self.check
        } else {
            LocalTransactionState::Unknown
        }
    }
}

/// A cluster on virtual time, checking undecided halves every 200 ms from 300 ms on: waits
/// that were sleeps are `advance`s, which take microseconds of real time per check round.
async fn virtual_cluster(rt: Arc<dyn Runtime>) -> EmbeddedCluster {
    EmbeddedCluster::builder()
        .virtual_time(true)
        .configure(|cfg| {
            cfg.transaction_timeout_ms = 300;
            cfg.transaction_check_interval_ms = 200;
            cfg.transaction_check_max = 15;
        })
        .start(rt)
        .await
        .unwrap()
}

/// The committed messages of `TOPIC`, decoded (the cluster's inspection view).
async fn committed(cluster: &EmbeddedCluster) -> Vec<MessageExt> {
    cluster
        .messages(TOPIC)
        .await
        .into_iter()
        .map(|m| m.message)
        .collect()
}

async fn virtual_producer(
    cluster: &EmbeddedCluster,
    group: &str,
    listener: Listener,
) -> TransactionProducer {
    let builder = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .group(group)
        .runtime(cluster.runtime().clone());
    let p = TransactionProducer::new(builder, listener).unwrap();
    p.start().await.unwrap();
    p
}

fn listener(
    execute: LocalTransactionState,
    check: LocalTransactionState,
) -> (Listener, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let checks = Arc::new(AtomicUsize::new(0));
    let decided = Arc::new(AtomicBool::new(true));
    (
        Listener {
            execute,
            decided: decided.clone(),
            check,
            checks: checks.clone(),
        },
        checks,
        decided,
    )
}

async fn commit_is_visible(rt: Arc<dyn Runtime>) {
    let cluster = virtual_cluster(rt).await;
    let (l, checks, _) = listener(
        LocalTransactionState::Commit,
        LocalTransactionState::Rollback,
    );
    let p = virtual_producer(&cluster, "it_tx_commit", l).await;
    let msg = Message::builder(TOPIC)
        .tag("TagTx")
        .body("paid")
        .build()
        .unwrap();
    let r = p.send_in_transaction(msg).await.unwrap();
    assert_eq!(r.send_result.status, SendStatus::SendOk);
    assert_eq!(r.local_state, LocalTransactionState::Commit);
    assert!(r.send_result.transaction_id.is_some());
    let visible = cluster
        .wait_for_messages(TOPIC, 1, Duration::from_secs(5))
        .await
        .unwrap();
    let m = &visible[0].message;
    assert_eq!(m.body, "paid");
    assert_eq!(m.tags(), Some("TagTx"));
    assert_eq!(m.queue_id, r.send_result.message_queue.queue_id);
    assert_eq!(
        sys_flag::transaction_type(m.sys_flag),
        sys_flag::TRANSACTION_COMMIT_TYPE
    );
    assert!(m.property(property::TRANSACTION_PREPARED).is_none());
    assert!(m.property(property::REAL_TOPIC).is_none());
    assert_eq!(m.uniq_key(), Some(r.send_result.msg_id.as_str()));
    assert!(cluster.half_messages().await.is_empty(), "decided at once");
    // A decided half is never checked: 30 virtual seconds, 150 check rounds.
    cluster.advance(Duration::from_secs(30)).await.unwrap();
    assert_eq!(checks.load(Ordering::SeqCst), 0);
    assert_eq!(committed(&cluster).await.len(), 1);
    p.shutdown().await;
    cluster.shutdown().await;
}

async fn rollback_is_discarded(rt: Arc<dyn Runtime>) {
    let cluster = virtual_cluster(rt).await;
    let (l, checks, _) = listener(
        LocalTransactionState::Rollback,
        LocalTransactionState::Commit,
    );
    let p = virtual_producer(&cluster, "it_tx_rollback", l).await;
    let r = p
        .send_in_transaction(Message::new(TOPIC, "cancelled"))
        .await
        .unwrap();
    assert_eq!(r.local_state, LocalTransactionState::Rollback);
    cluster.advance(Duration::from_secs(30)).await.unwrap();
    assert!(
        committed(&cluster).await.is_empty(),
        "a rolled back message stays invisible"
    );
    assert!(cluster.half_messages().await.is_empty());
    assert_eq!(
        checks.load(Ordering::SeqCst),
        0,
        "a rolled back half is not checked"
    );
    p.shutdown().await;
    cluster.shutdown().await;
}

async fn unknown_then_check(rt: Arc<dyn Runtime>, outcome: LocalTransactionState) {
    let cluster = virtual_cluster(rt).await;
    let (l, checks, _) = listener(LocalTransactionState::Unknown, outcome);
    let group = match outcome {
        LocalTransactionState::Commit => "it_tx_check_commit",
        _ => "it_tx_check_rollback",
    };
    let p = virtual_producer(&cluster, group, l).await;
    let r = p
        .send_in_transaction(Message::new(TOPIC, "pending"))
        .await
        .unwrap();
    assert_eq!(r.local_state, LocalTransactionState::Unknown);
    // Invisible while undecided.
    assert!(committed(&cluster).await.is_empty());
    assert_eq!(cluster.half_messages().await.len(), 1);
    cluster
        .wait_until("a transaction check", Duration::from_secs(10), || async {
            match checks.load(Ordering::SeqCst) {
                0 => Err("no check yet"),
                n => Ok(n),
            }
        })
        .await
        .unwrap();
    let expected = usize::from(outcome == LocalTransactionState::Commit);
    cluster
        .wait_until("the half decided", Duration::from_secs(5), || async {
            match cluster.half_messages().await.len() {
                0 => Ok(()),
                n => Err(format!("{n} halves pending")),
            }
        })
        .await
        .unwrap();
    assert_eq!(committed(&cluster).await.len(), expected);
    if expected == 1 {
        assert_eq!(committed(&cluster).await[0].body, "pending");
    }
    // Decided: never checked again (a check already in flight when the answer arrived may
    // still count), and visible at most once.
    cluster.advance(Duration::from_secs(1)).await.unwrap();
    let settled = checks.load(Ordering::SeqCst);
    cluster.advance(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        checks.load(Ordering::SeqCst),
        settled,
        "checked after the decision"
    );
    assert_eq!(committed(&cluster).await.len(), expected);
    p.shutdown().await;
    cluster.shutdown().await;
}

async fn undecided_halves_survive_restart(rt: Arc<dyn Runtime>) {
    let mut cluster = virtual_cluster(rt).await;
    let (l, checks, decided) = listener(
        LocalTransactionState::Unknown,
        LocalTransactionState::Commit,
    );
    decided.store(false, Ordering::SeqCst);
    // Heartbeats every 200 ms: the restarted broker knows the group (and can check back)
    // long before the 15 checks that would discard the halves.
    let builder = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .group("it_tx_restart")
        .runtime(cluster.runtime().clone())
        .route_refresh_interval(Duration::from_millis(200))
        .heartbeat_interval(Duration::from_millis(200));
    let p = TransactionProducer::new(builder, l).unwrap();
    p.start().await.unwrap();
    for i in 0..3 {
        let r = p
            .send_in_transaction(Message::new(TOPIC, format!("undecided-{i}")))
            .await
            .unwrap();
        assert_eq!(r.local_state, LocalTransactionState::Unknown);
    }
    cluster
        .wait_until(
            "checks before the restart",
            Duration::from_secs(10),
            || async {
                match checks.load(Ordering::SeqCst) {
                    n if n >= 3 => Ok(n),
                    n => Err(n),
                }
            },
        )
        .await
        .unwrap();
    // A clean stop and a start on the same store. The clock stands still in between, and
    // every check still answers Unknown: the halves are undecided after the restart.
    cluster.stop_broker("broker-a").await.unwrap();
    cluster.restart_broker("broker-a").await.unwrap();
    assert!(committed(&cluster).await.is_empty());
    // Now deciding Commit.
    decided.store(true, Ordering::SeqCst);
    cluster
        .wait_for_messages(TOPIC, 3, Duration::from_secs(15))
        .await
        .unwrap();
    let mut bodies: Vec<String> = committed(&cluster)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["undecided-0", "undecided-1", "undecided-2"]);
    // Decided: no further commits, over 5 virtual seconds (25 check rounds).
    cluster.advance(Duration::from_secs(5)).await.unwrap();
    assert_eq!(committed(&cluster).await.len(), 3);
    p.shutdown().await;
    cluster.shutdown().await;
}

macro_rules! runtime_tests {
    ($($name:ident => $body:expr;)*) => {
        mod on_tokio {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
                    ($body)(rt).await;
                }
            )*
        }
        #[cfg(feature = "runtime-smol")]
        mod on_smol {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::SmolRuntime::new());
                    futures::executor::block_on(($body)(rt));
                }
            )*
        }
        #[cfg(feature = "runtime-async-std")]
        mod on_async_std {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::AsyncStdRuntime::new());
                    futures::executor::block_on(($body)(rt));
                }
            )*
        }
    };
}

runtime_tests! {
    commit => commit_is_visible;
    rollback => rollback_is_discarded;
    unknown_then_check_commit => |rt| unknown_then_check(rt, LocalTransactionState::Commit);
    unknown_then_check_rollback => |rt| unknown_then_check(rt, LocalTransactionState::Rollback);
    broker_restart_with_undecided_halves => undecided_halves_survive_restart;
}
