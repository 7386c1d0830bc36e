//! Filtering over real TCP: held pulls stay held for messages their filter rejects, SQL92
//! subscriptions with `enablePropertyFilter` off and on, and CHECK_CLIENT_CONFIG
//! (docs/protocol/pull.md §1, §4, §5, docs/protocol/heartbeat.md §6).

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_mini_broker::{BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::body::{CheckClientRequestBody, JsonBody, SubscriptionData};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::PullMessageRequestHeader;
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;
use tokio::task::JoinHandle;

const SUSPEND: i32 = 0x2;

async fn broker(property_filter: bool) -> (tempfile::TempDir, BrokerHandle, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.enable_property_filter = property_filter;
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    (dir, b, addr)
}

fn sql_header(group: &str, topic: &str, offset: i64, sql: &str) -> PullMessageRequestHeader {
    let mut h = pull_header(group, topic, 0, offset);
    h.subscription = Some(sql.into());
    h.expression_type = Some("SQL92".into());
    h
}

/// Starts a held pull and waits until the broker holds it.
async fn held(
    b: &BrokerHandle,
    c: &RemotingClient,
    addr: &str,
    mut h: PullMessageRequestHeader,
) -> JoinHandle<RemotingCommand> {
    h.sys_flag |= SUSPEND;
    h.suspend_timeout_millis = 20_000;
    let before = b.held_pulls();
    let (c, addr) = (c.clone(), addr.to_string());
    let waiter = tokio::spawn(async move { pull(&c, &addr, &h).await });
    let t = Instant::now();
    while b.held_pulls() == before {
        assert!(t.elapsed() < Duration::from_secs(5), "pull never held");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    waiter
}

/// The pull is still held after `d` (nothing answered it).
async fn still_held(b: &BrokerHandle, waiter: &JoinHandle<RemotingCommand>, d: Duration) {
    tokio::time::sleep(d).await;
    assert!(!waiter.is_finished(), "the held pull was answered");
    assert_eq!(b.held_pulls(), 1);
}

async fn answered(waiter: JoinHandle<RemotingCommand>) -> RemotingCommand {
    tokio::time::timeout(Duration::from_secs(3), waiter)
        .await
        .expect("the held pull was not answered")
        .unwrap()
}

fn bodies(r: &RemotingCommand) -> Vec<String> {
    msgs(r)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_tag_pull_ignores_other_tags() {
    let (_dir, b, addr) = broker(false).await;
    let (c, producer) = (client(), client());
    let tag = |t: &'static str| [(property::TAGS, t)];
    let r = send(&c, &addr, "HeldTags", 0, b"warm", &tag("TagA"), true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);

    let mut h = pull_header("g", "HeldTags", 0, 1);
    h.subscription = Some("TagA".into());
    let waiter = held(&b, &c, &addr, h).await;
    let r = send(&producer, &addr, "HeldTags", 0, b"b1", &tag("TagB"), true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    // Before this fix the TagB message woke the pull: PULL_RETRY_IMMEDIATELY at once.
    still_held(&b, &waiter, Duration::from_millis(1500)).await;
    let sent = Instant::now();
    let r = send(&producer, &addr, "HeldTags", 0, b"a1", &tag("TagA"), true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let r = answered(waiter).await;
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["a1"], "only the TagA message");
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 3);
    assert_eq!(b.held_pulls(), 0);
    c.shutdown();
    producer.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_pull_past_rejected_messages_is_answered_by_the_periodic_check() {
    // Apache's hold service re-checks every 5 s whatever arrived: the pull is then answered
    // PULL_RETRY_IMMEDIATELY past the rejected messages, so the consumer's offset moves on.
    let (_dir, b, addr) = broker(false).await;
    let c = client();
    let tag = |t: &'static str| [(property::TAGS, t)];
    send(&c, &addr, "HeldCheck", 0, b"warm", &tag("TagA"), true).await;
    let mut h = pull_header("g", "HeldCheck", 0, 1);
    h.subscription = Some("TagA".into());
    let waiter = held(&b, &c, &addr, h).await;
    let t = Instant::now();
    send(&c, &addr, "HeldCheck", 0, b"b1", &tag("TagB"), true).await;
    let r = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("answered within 10 s")
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(7),
        "{took:?}"
    );
    assert_eq!(
        r.code,
        ResponseCode::PULL_RETRY_IMMEDIATELY,
        "{:?}",
        r.remark
    );
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 2);
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_refused_without_property_filter() {
    let (_dir, b, addr) = broker(false).await;
    let c = client();
    send(&c, &addr, "SqlOff", 0, b"m", &[("a", "1")], true).await;

    // Apache's PullMessageProcessor: SYSTEM_ERROR, naming the expression type.
    let r = pull(&c, &addr, &sql_header("g", "SqlOff", 0, "a = 1")).await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    let r = check(&c, &addr, "a = 1", "SQL92").await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    // Tag subscriptions pass the check.
    assert_eq!(
        check(&c, &addr, "TagA", "TAG").await.code,
        ResponseCode::SUCCESS
    );
    c.shutdown();
    b.shutdown().await;
}

async fn check(c: &RemotingClient, addr: &str, sql: &str, kind: &str) -> RemotingCommand {
    let body = CheckClientRequestBody {
        client_id: "127.0.0.1@test".into(),
        group: "g".into(),
        subscription_data: Some(SubscriptionData {
            topic: "T".into(),
            sub_string: sql.into(),
            expression_type: kind.into(),
            ..Default::default()
        }),
    };
    let cmd = RemotingCommand::request(RequestCode::CHECK_CLIENT_CONFIG).with_body(body.to_json());
    c.invoke(addr, cmd, T).await.expect("answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_filters_pulls_and_held_pulls() {
    let (_dir, b, addr) = broker(true).await;
    let (c, producer) = (client(), client());

    // CHECK_CLIENT_CONFIG: a good expression passes, a bad one gets Apache's compiler text.
    assert_eq!(
        check(&c, &addr, "a > 1", "SQL92").await.code,
        ResponseCode::SUCCESS
    );
    let r = check(&c, &addr, "a > 'x'", "SQL92").await;
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_PARSE_FAILED);
    assert_eq!(
        r.remark.as_deref(),
        Some("java.lang.RuntimeException: Value ''x'' cannot be compared.")
    );

    for (i, color) in ["red", "blue", "red", "green"].iter().enumerate() {
        let n = i.to_string();
        let props = [("n", n.as_str()), ("color", *color)];
        let body: &'static [u8] = Box::leak(format!("m{i}").into_bytes().into_boxed_slice());
        let r = send(&producer, &addr, "SqlOn", 0, body, &props, true).await;
        assert_eq!(r.code, ResponseCode::SUCCESS);
    }
    let r = pull(
        &c,
        &addr,
        &sql_header("g", "SqlOn", 0, "color = 'red' OR n >= 3"),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m0", "m2", "m3"]);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 4);
    // Nothing matching in the range: retry at once from past it (Apache NO_MATCHED_MESSAGE).
    let r = pull(&c, &addr, &sql_header("g", "SqlOn", 0, "color = 'pink'")).await;
    assert_eq!(r.code, ResponseCode::PULL_RETRY_IMMEDIATELY);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 4);

    // A held SQL pull: a message the expression rejects leaves it held.
    let waiter = held(&b, &c, &addr, sql_header("g", "SqlOn", 4, "color = 'red'")).await;
    send(
        &producer,
        &addr,
        "SqlOn",
        0,
        b"m4",
        &[("color", "blue")],
        true,
    )
    .await;
    still_held(&b, &waiter, Duration::from_millis(1500)).await;
    send(
        &producer,
        &addr,
        "SqlOn",
        0,
        b"m5",
        &[("color", "red")],
        true,
    )
    .await;
    let r = answered(waiter).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m5"]);

    // Through the heartbeat: an expression that does not compile has no filter data.
    let hb = heartbeat_sql("cid", "g-bad", "SqlOn", "color =");
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::HEART_BEAT).with_body(hb),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let mut h = pull_header("g-bad", "SqlOn", 0, 0);
    h.sys_flag = 0;
    h.sub_version = 1;
    let r = pull(&c, &addr, &h).await;
    assert_eq!(
        r.code,
        ResponseCode::FILTER_DATA_NOT_EXIST,
        "{:?}",
        r.remark
    );
    c.shutdown();
    producer.shutdown();
    b.shutdown().await;
}

fn heartbeat_sql(client_id: &str, group: &str, topic: &str, sql: &str) -> bytes::Bytes {
    use rocketmq_rs_remoting::protocol::body::HeartbeatData;
    let mut data = HeartbeatData::from_json(&heartbeat_body(client_id, group, topic, sql)).unwrap();
    data.consumer_data_set[0].subscription_data_set[0].expression_type = "SQL92".into();
    data.to_json()
}
