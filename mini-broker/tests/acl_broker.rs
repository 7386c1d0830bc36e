//! ACL 1.0 on the broker (`BrokerConfig::acl`): allowed, denied and badly signed sends, pulls
//! and admin requests, on every enabled runtime. A refused request gets `NO_PERMISSION` with
//! the reason as remark, and nothing is written.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
use rocketmq_rs_remoting::acl::{AclConfig, AclCredentials};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::message::decode_messages;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

const T: Duration = Duration::from_secs(10);
const TOPIC: &str = "AclTopic";

const ACL: &str = r#"{
  "accounts": [
    {"accessKey": "producer", "secretKey": "producer-secret",
     "defaultTopicPerm": "DENY", "defaultGroupPerm": "DENY", "topicPerms": ["AclTopic=PUB"]},
    {"accessKey": "consumer", "secretKey": "consumer-secret",
     "defaultTopicPerm": "DENY", "defaultGroupPerm": "DENY",
     "topicPerms": ["AclTopic=SUB"], "groupPerms": ["cg=SUB"]},
    {"accessKey": "admin", "secretKey": "admin-secret", "admin": true}
  ]
}"#;

fn client(rt: &Arc<dyn Runtime>, ak: Option<(&str, &str)>) -> RemotingClient {
    RemotingClient::new(rt.clone(), {
        let mut c = TransportConfig::default();
        c.credentials = ak.map(|(a, s)| AclCredentials::new(a, s));
        c
    })
}

fn create_topic() -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC);
    for (k, v) in [
        ("topic", TOPIC),
        ("defaultTopic", "TBW102"),
        ("readQueueNums", "1"),
        ("writeQueueNums", "1"),
        ("perm", "6"),
        ("topicFilterType", "SINGLE_TAG"),
        ("order", "false"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

fn send(body: &'static [u8]) -> RemotingCommand {
    let mut cmd =
        RemotingCommand::request(RequestCode::SEND_MESSAGE_V2).with_body(Bytes::from_static(body));
    for (k, v) in [
        ("a", "pg"),
        ("b", TOPIC),
        ("c", "TBW102"),
        ("d", "1"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "TAGS\u{1}TagA\u{2}"),
        ("j", "0"),
        ("k", "false"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

fn pull(group: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::PULL_MESSAGE);
    for (k, v) in [
        ("consumerGroup", group),
        ("topic", TOPIC),
        ("queueId", "0"),
        ("queueOffset", "0"),
        ("maxMsgNums", "32"),
        ("sysFlag", "4"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "0"),
        ("subscription", "*"),
        ("subVersion", "0"),
        ("expressionType", "TAG"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

fn assert_denied(resp: &RemotingCommand, remark: &str) {
    assert_eq!(resp.code, ResponseCode::NO_PERMISSION, "{:?}", resp.remark);
    assert_eq!(resp.remark.as_deref(), Some(remark));
}

async fn acl_scenario(rt: Arc<dyn Runtime>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.auto_create_topic_enable = false;
    cfg.acl = Some(serde_json::from_str::<AclConfig>(ACL).unwrap());
    let broker = Broker::start(cfg, rt.clone()).await.unwrap();
    let addr = broker.addr().to_string();

    let producer = client(&rt, Some(("producer", "producer-secret")));
    let consumer = client(&rt, Some(("consumer", "consumer-secret")));
    let admin = client(&rt, Some(("admin", "admin-secret")));
    let forger = client(&rt, Some(("producer", "guessed")));
    let anonymous = client(&rt, None);

    // Admin commands: only the admin account.
    let r = producer.invoke(&addr, create_topic(), T).await.unwrap();
    assert_denied(
        &r,
        "Need admin permission for request code=17, but accessKey=producer is not",
    );
    let r = forger.invoke(&addr, create_topic(), T).await.unwrap();
    assert_denied(&r, "Check signature failed for accessKey=producer");
    assert!(
        broker.topics().get(TOPIC).is_none(),
        "refused create wrote a topic"
    );
    let r = admin.invoke(&addr, create_topic(), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(broker.topics().get(TOPIC).is_some());

    // Sends: PUB needed; refusals write nothing.
    let r = producer.invoke(&addr, send(b"allowed"), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let r = consumer.invoke(&addr, send(b"sub-only"), T).await.unwrap();
    assert_denied(&r, "No permission for topic=AclTopic");
    let r = forger.invoke(&addr, send(b"forged"), T).await.unwrap();
    assert_denied(&r, "Check signature failed for accessKey=producer");
    let r = anonymous
        .invoke(&addr, send(b"anonymous"), T)
        .await
        .unwrap();
    assert_denied(&r, "No accessKey is configured");

    // Pulls: SUB on topic and group.
    let r = consumer.invoke(&addr, pull("cg"), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let bodies: Vec<Bytes> = decode_messages(r.body.clone())
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec![Bytes::from_static(b"allowed")]);
    let r = consumer.invoke(&addr, pull("other"), T).await.unwrap();
    assert_denied(&r, "No default permission for group=other");
    let r = producer.invoke(&addr, pull("cg"), T).await.unwrap();
    assert_denied(&r, "No permission for topic=AclTopic");
    let bad_consumer = client(&rt, Some(("consumer", "nope")));
    let r = bad_consumer.invoke(&addr, pull("cg"), T).await.unwrap();
    assert_denied(&r, "Check signature failed for accessKey=consumer");

    for c in [producer, consumer, admin, forger, anonymous, bad_consumer] {
        c.shutdown();
    }
    broker.shutdown().await;
}

/// An invalid ACL is a configuration error, not a broker without ACL.
async fn invalid_acl_refuses_to_start(rt: Arc<dyn Runtime>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.acl = Some(
        serde_json::from_str(
            r#"{"accounts":[{"accessKey":"a","secretKey":"s","defaultTopicPerm":"ALL"}]}"#,
        )
        .unwrap(),
    );
    assert!(Broker::start(cfg, rt).await.is_err());
}

#[cfg(feature = "runtime-tokio")]
fn run_tokio<Fut: Future<Output = ()>>(scenario: impl FnOnce(Arc<dyn Runtime>) -> Fut) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
        tokio.handle().clone(),
    ));
    tokio.block_on(scenario(rt));
}

/// smol and async-std run their tasks on their own global executors: any executor can drive
/// the test body.
#[cfg(feature = "runtime-smol")]
fn run_smol<Fut: Future<Output = ()>>(scenario: impl FnOnce(Arc<dyn Runtime>) -> Fut) {
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::SmolRuntime::new());
    futures::executor::block_on(scenario(rt));
}

#[cfg(feature = "runtime-async-std")]
fn run_async_std<Fut: Future<Output = ()>>(scenario: impl FnOnce(Arc<dyn Runtime>) -> Fut) {
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::AsyncStdRuntime::new());
    futures::executor::block_on(scenario(rt));
}

#[cfg(feature = "runtime-tokio")]
#[test]
fn tokio_acl() {
    run_tokio(acl_scenario);
    run_tokio(invalid_acl_refuses_to_start);
}

#[cfg(feature = "runtime-smol")]
#[test]
fn smol_acl() {
    run_smol(acl_scenario);
    run_smol(invalid_acl_refuses_to_start);
}

#[cfg(feature = "runtime-async-std")]
#[test]
fn async_std_acl() {
    run_async_std(acl_scenario);
    run_async_std(invalid_acl_refuses_to_start);
}
