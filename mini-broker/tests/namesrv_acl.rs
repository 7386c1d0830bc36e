//! A broker registering with an ACL-enabled NameServer (`NamesrvConfig::acl`): it signs
//! REGISTER_BROKER / UNREGISTER_BROKER with its own credentials (`BrokerConfig::access_key` /
//! `secret_key`). With the right ones it is routed and clients with credentials send and pull
//! through it; with wrong or missing ones the registration is refused, an error naming the
//! reason is logged, and the broker is absent from every route.
#![cfg(feature = "cli")] // tracing-subscriber (log capture) comes with the `cli` feature.

mod broker_util;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_mini_namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use rocketmq_rs_remoting::acl::{AclConfig, AclCredentials};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

const TOPIC: &str = "NsAclTopic";

/// One ACL for the NameServer and the broker: the broker's own account, an application account
/// that may publish and subscribe `NsAclTopic` in group `g1`, and an admin for topic creation.
const ACL: &str = r#"{
  "accounts": [
    {"accessKey": "broker", "secretKey": "broker-secret"},
    {"accessKey": "app", "secretKey": "app-secret",
     "defaultTopicPerm": "DENY", "defaultGroupPerm": "DENY",
     "topicPerms": ["NsAclTopic=PUB|SUB"], "groupPerms": ["g1=SUB"]},
    {"accessKey": "admin", "secretKey": "admin-secret", "admin": true}
  ]
}"#;

/// Log lines of this test binary (every test shares the global subscriber).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        buf
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn signed(ak: &str, sk: &str) -> RemotingClient {
    RemotingClient::new(rt(), {
        let mut c = TransportConfig::default();
        c.credentials = Some(AclCredentials::new(ak, sk));
        c
    })
}

async fn namesrv() -> NameServerHandle {
    let mut cfg = NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap());
    cfg.acl = Some(serde_json::from_str::<AclConfig>(ACL).unwrap());
    NameServer::start(cfg, rt()).await.expect("namesrv starts")
}

fn broker_cfg(
    dir: &std::path::Path,
    name: &str,
    ns: &NameServerHandle,
    creds: Option<(&str, &str)>,
) -> BrokerConfig {
    let mut c = BrokerConfig::for_test(dir);
    c.broker_name = name.into();
    c.namesrv_addrs = vec![ns.addr().to_string()];
    c.acl = Some(serde_json::from_str(ACL).unwrap());
    c.commit_log_segment_size = 8 << 20;
    if let Some((ak, sk)) = creds {
        c.access_key = Some(ak.into());
        c.secret_key = Some(sk.into());
    }
    c
}

async fn route(c: &RemotingClient, ns: &str, topic: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
    cmd.ext_fields.insert("topic", topic);
    c.invoke(ns, cmd, T).await.expect("route answered")
}

async fn wait_log(needle: &str) {
    let start = Instant::now();
    while !log_text().contains(needle) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no log line containing {needle:?} in:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_signs_its_registration_and_clients_route_through_it() {
    logs();
    let ns = namesrv().await;
    let nsaddr = ns.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(broker_cfg(
        dir.path(),
        "broker-ok",
        &ns,
        Some(("broker", "broker-secret")),
    ))
    .await;
    assert_eq!(
        broker.register_now().await,
        1,
        "signed registration accepted"
    );

    // Topic creation (admin) re-registers; the application then finds the route.
    let admin = signed("admin", "admin-secret");
    let mut create = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC);
    for (k, v) in [
        ("topic", TOPIC),
        ("defaultTopic", "TBW102"),
        ("readQueueNums", "1"),
        ("writeQueueNums", "1"),
        ("perm", "6"),
        ("topicFilterType", "SINGLE_TAG"),
        ("order", "false"),
    ] {
        create.ext_fields.insert(k, v);
    }
    let r = admin
        .invoke(&broker.addr().to_string(), create, T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert_eq!(broker.register_now().await, 1);

    let app = signed("app", "app-secret");
    let r = route(&app, &nsaddr, TOPIC).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let baddr = body["brokerDatas"][0]["brokerAddrs"]["0"]
        .as_str()
        .unwrap_or_else(|| panic!("no broker in {body}"))
        .to_string();
    assert_eq!(baddr, broker.advertised_addr().to_string());
    // Unsigned route queries are refused by the NameServer itself.
    let r = route(&client(), &nsaddr, TOPIC).await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION, "{r:?}");

    // Producer and consumer with credentials, through the routed address.
    let r = send(&app, &baddr, TOPIC, 0, b"through-acl", &[], true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    let r = pull(&app, &baddr, &pull_header("g1", TOPIC, 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    assert_eq!(&msgs(&r)[0].body[..], b"through-acl");

    // A clean shutdown's signed UNREGISTER_BROKER is accepted: the route disappears at once.
    broker.shutdown().await;
    let r = route(&app, &nsaddr, TOPIC).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST, "{r:?}");
    // (Tests run in parallel and share the log: look at this NameServer's lines only.)
    let mine = format!("namesrv={nsaddr}");
    assert!(
        !log_text()
            .lines()
            .any(|l| l.contains("refused") && l.contains(&mine)),
        "{}",
        log_text()
    );
    app.shutdown();
    admin.shutdown();
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_broker_credentials_are_refused_and_logged() {
    logs();
    let ns = namesrv().await;
    let nsaddr = ns.addr().to_string();
    let app = signed("app", "app-secret");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let wrong = start(broker_cfg(
        d1.path(),
        "broker-wrong",
        &ns,
        Some(("broker", "not-the-secret")),
    ))
    .await;
    assert_eq!(wrong.register_now().await, 0);
    wait_log("register broker refused by the NameServer's ACL: Check signature failed for accessKey=broker").await;
    assert!(log_text().contains("check the broker's accessKey/secretKey"));

    let missing = start(broker_cfg(d2.path(), "broker-missing", &ns, None)).await;
    assert_eq!(missing.register_now().await, 0);
    wait_log("register broker refused by the NameServer's ACL: No accessKey is configured").await;
    assert!(log_text().contains("set the broker's accessKey/secretKey"));

    // Neither broker is routed: not for its topics, not in the cluster table.
    for b in [&wrong, &missing] {
        let topic = b.config().broker_name.clone(); // every broker routes its own name
        let r = route(&app, &nsaddr, &topic).await;
        assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST, "{r:?}");
    }
    let r = app
        .invoke(
            &nsaddr,
            RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{r:?}");
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        info["brokerAddrTable"]
            .as_object()
            .is_none_or(|t| t.is_empty()),
        "{info}"
    );
    assert!(
        !log_text().contains("not-the-secret"),
        "the secret must never be logged"
    );
    wrong.shutdown().await;
    missing.shutdown().await;
    app.shutdown();
    ns.shutdown().await;
}

#[test]
fn credentials_config_keys_and_validation() {
    let c: BrokerConfig = serde_json::from_str(
        r#"{"accessKey":"broker","secretKey":"broker-secret","securityToken":"tok"}"#,
    )
    .unwrap();
    let creds = c.namesrv_credentials().unwrap().unwrap();
    assert_eq!(creds.access_key, "broker");
    assert_eq!(creds.secret_key, "broker-secret");
    assert_eq!(creds.security_token.as_deref(), Some("tok"));
    assert!(!format!("{c:?}").contains("broker-secret"));
    assert!(!format!("{c:?}").contains("tok\""));
    let j: BrokerConfig = serde_json::from_str(
        r#"{"innerClientAuthenticationCredentials":"{\"accessKey\":\"broker\",\"secretKey\":\"broker-secret\"}"}"#,
    )
    .unwrap();
    assert_eq!(
        j.namesrv_credentials().unwrap(),
        Some(AclCredentials::new("broker", "broker-secret"))
    );
    assert!(BrokerConfig::default()
        .namesrv_credentials()
        .unwrap()
        .is_none());
    for bad in [
        r#"{"secretKey":"x"}"#,
        r#"{"accessKey":"","secretKey":"x"}"#,
        r#"{"securityToken":"t"}"#,
        r#"{"innerClientAuthenticationCredentials":"not json"}"#,
        r#"{"accessKey":"a","secretKey":"b","innerClientAuthenticationCredentials":"{\"accessKey\":\"a\",\"secretKey\":\"c\"}"}"#,
    ] {
        let c: BrokerConfig = serde_json::from_str(bad).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(!e.contains("\"b\"") && !e.contains("\"c\""), "{e}");
    }
}
