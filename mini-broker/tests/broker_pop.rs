//! RocketMQ 5.x POP consumption over real TCP (docs/protocol/pop.md): invisible time, acks,
//! revive into the POP retry topic, change-invisible-time, orderly queues, long polling, the
//! DLQ after retryMaxTimes, and checkpoints/acks surviving a broker crash.

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_mini_broker::{BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::body::{
    JsonBody, MessageModel, MessageQueueAssignment, MessageRequestMode,
    MessageRequestModeSerializeWrapper, QueryAssignmentRequestBody, QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody, SubscriptionGroupConfig,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::{property, MessageExt};
use rocketmq_rs_remoting::protocol::pop::{attach_receipts, ReceiptHandle, RetryFlag};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;

fn now() -> i64 {
    rocketmq_rs_remoting::util::now_ms()
}

#[allow(clippy::too_many_arguments)]
async fn pop_req(
    c: &RemotingClient,
    addr: &str,
    group: &str,
    topic: &str,
    qid: i32,
    max: i32,
    invisible_ms: i64,
    poll_ms: i64,
    order: bool,
) -> (RemotingCommand, Vec<MessageExt>) {
    let mut h = PopMessageRequestHeader::new(group, topic, qid, max, invisible_ms, poll_ms, now());
    h.order = Some(order);
    let cmd = RemotingCommand::request(RequestCode::POP_MESSAGE).with_header(&h);
    let r = c
        .invoke(addr, cmd, Duration::from_millis(poll_ms.max(0) as u64) + T)
        .await
        .expect("pop answered");
    if r.code != ResponseCode::SUCCESS {
        return (r, Vec::new());
    }
    let hdr: PopMessageResponseHeader = r.decode_header().unwrap();
    let mut m = msgs(&r);
    attach_receipts(
        &mut m,
        "broker-a",
        hdr.pop_time,
        hdr.invisible_time,
        hdr.revive_qid,
        hdr.start_offset_info.as_deref(),
        hdr.msg_offset_info.as_deref(),
        hdr.order_count_info.as_deref(),
    )
    .unwrap();
    (r, m)
}

async fn pop(
    c: &RemotingClient,
    addr: &str,
    group: &str,
    topic: &str,
    invisible_ms: i64,
) -> Vec<MessageExt> {
    pop_req(c, addr, group, topic, -1, 32, invisible_ms, 0, false)
        .await
        .1
}

fn receipt(m: &MessageExt) -> ReceiptHandle {
    m.property(property::POP_CK).unwrap().parse().unwrap()
}

async fn ack(c: &RemotingClient, addr: &str, group: &str, m: &MessageExt) -> RemotingCommand {
    let r = receipt(m);
    let h = AckMessageRequestHeader {
        consumer_group: group.into(),
        topic: r.real_topic(&m.topic, group),
        queue_id: r.queue_id,
        extra_info: r.to_string(),
        offset: r.queue_offset,
        bname: None,
    };
    c.invoke(
        addr,
        RemotingCommand::request(RequestCode::ACK_MESSAGE).with_header(&h),
        T,
    )
    .await
    .unwrap()
}

fn bodies(m: &[MessageExt]) -> Vec<String> {
    let mut v: Vec<String> = m
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    v.sort();
    v
}

async fn produce(c: &RemotingClient, addr: &str, topic: &str, bodies: &[&'static str]) {
    for (i, b) in bodies.iter().enumerate() {
        let r = send(
            c,
            addr,
            topic,
            (i % 4) as i32,
            b.as_bytes(),
            &[(property::TAGS, "A")],
            true,
        )
        .await;
        assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    }
}

/// Pops until `n` messages came back or `within` passed.
async fn pop_until(
    c: &RemotingClient,
    addr: &str,
    group: &str,
    topic: &str,
    n: usize,
    within: Duration,
) -> Vec<MessageExt> {
    pop_until_for(c, addr, group, topic, n, within, 60_000).await
}

/// [`pop_until`] with the given invisible time.
async fn pop_until_for(
    c: &RemotingClient,
    addr: &str,
    group: &str,
    topic: &str,
    n: usize,
    within: Duration,
    invisible_ms: i64,
) -> Vec<MessageExt> {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < end {
        got.extend(
            pop_req(c, addr, group, topic, -1, 32, invisible_ms, 1000, false)
                .await
                .1,
        );
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_come_back_through_the_retry_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopT", &["m0", "m1", "m2", "m3", "m4", "m5"]).await;

    let first = pop(&c, &addr, "g", "PopT", 1500).await;
    assert_eq!(bodies(&first), ["m0", "m1", "m2", "m3", "m4", "m5"]);
    // Invisible now: nothing more to pop.
    let (r, none) = pop_req(&c, &addr, "g", "PopT", -1, 32, 1500, 0, false).await;
    assert_eq!((r.code, none.len()), (ResponseCode::POLLING_TIMEOUT, 0));
    assert_eq!(r.remark.as_deref(), Some("NO_MESSAGE_IN_QUEUE"));
    for m in first.iter().filter(|m| m.body.as_ref() < b"m3".as_ref()) {
        assert_eq!(ack(&c, &addr, "g", m).await.code, ResponseCode::SUCCESS);
    }
    // After the invisible time the three unacked ones come back from %RETRY%g_PopT.
    let again = pop_until(&c, &addr, "g", "PopT", 3, Duration::from_secs(8)).await;
    assert_eq!(bodies(&again), ["m3", "m4", "m5"]);
    for m in &again {
        assert_eq!(m.topic, "PopT");
        assert_eq!(m.reconsume_times, 1);
        let r = receipt(m);
        assert_eq!(r.retry, RetryFlag::V1);
        assert_eq!(r.real_topic("PopT", "g"), "%RETRY%g_PopT");
        assert!(m.property(property::FIRST_POP_TIME).is_some());
    }
    // A late ack of a revived receipt is accepted and changes nothing.
    let late = first.iter().find(|m| m.body.as_ref() == b"m4").unwrap();
    assert_eq!(ack(&c, &addr, "g", late).await.code, ResponseCode::SUCCESS);
    for m in &again {
        assert_eq!(ack(&c, &addr, "g", m).await.code, ResponseCode::SUCCESS);
    }
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(pop(&c, &addr, "g", "PopT", 1500).await.is_empty());

    // Another group reads everything independently.
    assert_eq!(
        pop_until(&c, &addr, "other", "PopT", 6, Duration::from_secs(5))
            .await
            .len(),
        6
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_invisible_time_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopC", &["x"]).await;
    let got = pop(&c, &addr, "g", "PopC", 60_000).await;
    assert_eq!(got.len(), 1);
    let r = receipt(&got[0]);
    let h = ChangeInvisibleTimeRequestHeader {
        consumer_group: "g".into(),
        topic: "PopC".into(),
        queue_id: r.queue_id,
        extra_info: r.to_string(),
        offset: r.queue_offset,
        invisible_time: 1000,
        bname: None,
    };
    let resp = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::CHANGE_MESSAGE_INVISIBLETIME).with_header(&h),
            T,
        )
        .await
        .unwrap();
    assert_eq!(resp.code, ResponseCode::SUCCESS, "{:?}", resp.remark);
    let ch: ChangeInvisibleTimeResponseHeader = resp.decode_header().unwrap();
    assert_eq!(ch.invisible_time, 1000);
    // The old receipt's ack no longer counts: the message comes back ~1 s later anyway.
    assert_eq!(
        ack(&c, &addr, "g", &got[0]).await.code,
        ResponseCode::SUCCESS
    );
    let back = pop_until(&c, &addr, "g", "PopC", 1, Duration::from_secs(6)).await;
    assert_eq!(bodies(&back), ["x"]);

    // Error answers as Apache's.
    let mut bad = AckMessageRequestHeader {
        consumer_group: "g".into(),
        topic: "NoSuchTopic".into(),
        queue_id: 0,
        extra_info: r.to_string(),
        offset: 0,
        bname: None,
    };
    let ack_of = |h: &AckMessageRequestHeader| {
        RemotingCommand::request(RequestCode::ACK_MESSAGE).with_header(h)
    };
    assert_eq!(
        c.invoke(&addr, ack_of(&bad), T).await.unwrap().code,
        ResponseCode::TOPIC_NOT_EXIST
    );
    bad.topic = "PopC".into();
    bad.queue_id = 99;
    assert_eq!(
        c.invoke(&addr, ack_of(&bad), T).await.unwrap().code,
        ResponseCode::MESSAGE_ILLEGAL
    );
    bad.queue_id = r.queue_id;
    bad.offset = 1000;
    let resp = c.invoke(&addr, ack_of(&bad), T).await.unwrap();
    assert_eq!(resp.code, ResponseCode::NO_MESSAGE);
    assert!(resp.remark.unwrap().starts_with("offset is illegal"));
    let (r33, _) = pop_req(&c, &addr, "g", "PopC", -1, 33, 1000, 0, false).await;
    assert_eq!(r33.code, ResponseCode::INVALID_PARAMETER);
    let (rq, _) = pop_req(&c, &addr, "g", "PopC", 9, 1, 1000, 0, false).await;
    assert_eq!(rq.code, ResponseCode::INVALID_PARAMETER);
    let (rt, _) = pop_req(&c, &addr, "g", "Nope", -1, 1, 1000, 0, false).await;
    assert_eq!(rt.code, ResponseCode::TOPIC_NOT_EXIST);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_wakes_on_arrival_and_counts_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopL", &["warm"]).await;
    assert_eq!(pop(&c, &addr, "g", "PopL", 60_000).await.len(), 1);
    let (c2, addr2) = (c.clone(), addr.clone());
    let parked = tokio::spawn(async move {
        let t = Instant::now();
        let (_, m) = pop_req(&c2, &addr2, "g", "PopL", -1, 32, 60_000, 8000, false).await;
        (t.elapsed(), m)
    });
    let info = PollingInfoRequestHeader {
        consumer_group: "g".into(),
        topic: "PopL".into(),
        queue_id: -1,
        bname: None,
    };
    let mut n = 0;
    for _ in 0..50 {
        let r = c
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::POLLING_INFO).with_header(&info),
                T,
            )
            .await
            .unwrap();
        n = ext_i64(&r, "pollingNum");
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 1, "the pop is parked");
    let nt = NotificationRequestHeader {
        consumer_group: "g".into(),
        topic: "PopL".into(),
        queue_id: -1,
        poll_time: 0,
        born_time: now(),
        order: None,
        attempt_id: None,
        bname: None,
    };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::NOTIFICATION).with_header(&nt),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.ext_fields.get("hasMsg"), Some("false"));
    produce(&c, &addr, "PopL", &["late"]).await;
    let (took, m) = parked.await.unwrap();
    assert_eq!(bodies(&m), ["late"]);
    assert!(
        took < Duration::from_secs(5),
        "woken by the arrival, took {took:?}"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_pop_blocks_the_queue_until_acked_or_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    for body in ["o1", "o2", "o3"] {
        let r = send(&c, &addr, "PopO", 0, body.as_bytes(), &[], true).await;
        assert_eq!(r.code, ResponseCode::SUCCESS);
    }
    let (r, first) = pop_req(&c, &addr, "g", "PopO", 0, 2, 1200, 0, true).await;
    assert_eq!(ext_i64(&r, "reviveQid"), 999);
    assert_eq!(bodies(&first), ["o1", "o2"]);
    assert!(receipt(&first[0]).is_order());
    // The queue is blocked while the batch is out.
    let (r, none) = pop_req(&c, &addr, "g", "PopO", 0, 2, 1200, 0, true).await;
    assert_eq!((r.code, none.len()), (ResponseCode::POLLING_TIMEOUT, 0));
    // Ack only the first: after the invisible time o2 comes back first, counted once more.
    assert_eq!(
        ack(&c, &addr, "g", &first[0]).await.code,
        ResponseCode::SUCCESS
    );
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let (_, again) = pop_req(&c, &addr, "g", "PopO", 0, 2, 60_000, 0, true).await;
    assert_eq!(
        again
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect::<Vec<_>>(),
        ["o2", "o3"]
    );
    assert_eq!(again[0].reconsume_times, 1);
    assert_eq!(again[1].reconsume_times, 0);
    for m in &again {
        assert_eq!(ack(&c, &addr, "g", m).await.code, ResponseCode::SUCCESS);
    }
    let (r, none) = pop_req(&c, &addr, "g", "PopO", 0, 2, 1200, 0, true).await;
    assert_eq!((r.code, none.len()), (ResponseCode::POLLING_TIMEOUT, 0));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_max_times_moves_to_the_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    b.subscription_groups().upsert(SubscriptionGroupConfig {
        retry_max_times: 1,
        ..SubscriptionGroupConfig::new("gd")
    });
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopD", &["poison"]).await;
    assert_eq!(pop(&c, &addr, "gd", "PopD", 1000).await.len(), 1);
    // Delivered twice (reconsume 0 and 1) without an ack: then it goes to %DLQ%gd.
    let second = pop_until_for(&c, &addr, "gd", "PopD", 1, Duration::from_secs(6), 1000).await;
    assert_eq!(second[0].reconsume_times, 1);
    let end = Instant::now() + Duration::from_secs(6);
    while b.store().max_offset("%DLQ%gd", 0) == 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.store().max_offset("%DLQ%gd", 0), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pop(&c, &addr, "gd", "PopD", 1000).await.is_empty());
    b.shutdown().await;
}

async fn restart(dir: &std::path::Path, old: BrokerHandle, crash: bool) -> BrokerHandle {
    let mut cfg = BrokerConfig::for_test(dir);
    cfg.listen_addr = old.addr();
    // A fixed listen port would put replication on port + 1, which another test's ephemeral
    // socket may hold ("Address already in use" in CI): let the OS pick it, as at first start.
    cfg.ha_listen_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    if crash {
        old.store().simulate_crash();
        drop(old);
    } else {
        old.shutdown().await;
        drop(old);
    }
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match rocketmq_rs_mini_broker::Broker::start(cfg.clone(), rt()).await {
            Ok(b) => return b,
            Err(e) if Instant::now() < end => {
                tracing::debug!(error = %e, "port not free yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("restart failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_acks_survive_a_broker_crash() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopR", &["r0", "r1", "r2", "r3"]).await;
    let got = pop(&c, &addr, "g", "PopR", 2500).await;
    assert_eq!(got.len(), 4);
    for m in got
        .iter()
        .filter(|m| m.body.as_ref() == b"r0" || m.body.as_ref() == b"r2")
    {
        assert_eq!(ack(&c, &addr, "g", m).await.code, ResponseCode::SUCCESS);
    }
    let popped_at = Instant::now();
    let b = restart(dir.path(), b, true).await;
    let c = client();
    let addr = b.addr().to_string();
    // Nothing is visible before the invisible time, even though the offsets were not flushed.
    let (r, early) = pop_req(&c, &addr, "g", "PopR", -1, 32, 60_000, 0, false).await;
    if popped_at.elapsed() < Duration::from_millis(2000) {
        assert_eq!((r.code, early.len()), (ResponseCode::POLLING_TIMEOUT, 0));
    }
    let back = pop_until(&c, &addr, "g", "PopR", 2, Duration::from_secs(8)).await;
    assert_eq!(
        bodies(&back),
        ["r1", "r3"],
        "only the unacked ones come back"
    );
    for m in &back {
        assert_eq!(ack(&c, &addr, "g", m).await.code, ResponseCode::SUCCESS);
    }
    // A clean restart after everything was acked brings nothing back.
    let b = restart(dir.path(), b, false).await;
    let c = client();
    let addr = b.addr().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(pop(&c, &addr, "g", "PopR", 2500).await.is_empty());
    b.shutdown().await;
}

async fn request_with_body(
    c: &RemotingClient,
    addr: &str,
    code: i32,
    body: bytes::Bytes,
) -> RemotingCommand {
    let cmd = RemotingCommand::request(code).with_body(body);
    c.invoke(addr, cmd, T).await.expect("answered")
}

async fn query_assignment(
    c: &RemotingClient,
    addr: &str,
    client_id: &str,
    group: &str,
    topic: &str,
) -> Option<Vec<MessageQueueAssignment>> {
    let q = QueryAssignmentRequestBody {
        topic: topic.into(),
        consumer_group: group.into(),
        client_id: client_id.into(),
        strategy_name: "AVG".into(),
        message_model: MessageModel::Clustering,
    };
    let r = request_with_body(c, addr, RequestCode::QUERY_ASSIGNMENT, q.to_json()).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    QueryAssignmentResponseBody::from_json(&r.body)
        .unwrap()
        .message_queue_assignments
}

/// QUERY_ASSIGNMENT / SET_MESSAGE_REQUEST_MODE / GET_ALL_MESSAGE_REQUEST_MODE with Apache's
/// semantics: pull shares by default, POP for the whole topic (queue -1) once set, the mode
/// persisted across a restart, and Apache's refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_mode_switch_and_server_side_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "PopMode", &["m0"]).await;
    // Two members of the group, each on its own connection (the broker keys members by
    // channel).
    let members = [client(), client()];
    for (id, m) in ["cid-a", "cid-b"].into_iter().zip(&members) {
        let hb = RemotingCommand::request(RequestCode::HEART_BEAT)
            .with_body(heartbeat_body(id, "gm", "PopMode", "*"));
        assert_eq!(
            m.invoke(&addr, hb, T).await.unwrap().code,
            ResponseCode::SUCCESS
        );
    }
    let queues = |v: &[MessageQueueAssignment]| {
        v.iter()
            .map(|a| {
                let pop = a.mode == MessageRequestMode::Pop;
                (a.message_queue.as_ref().unwrap().queue_id, pop)
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    // Default PULL: the averaged share of the topic's queues.
    let a = query_assignment(&c, &addr, "cid-a", "gm", "PopMode")
        .await
        .unwrap();
    let b_share = query_assignment(&c, &addr, "cid-b", "gm", "PopMode")
        .await
        .unwrap();
    assert!(a.iter().all(|x| x.mode == MessageRequestMode::Pull));
    // The first send created the topic with the send header's 4 queues.
    assert_eq!((a.len(), b_share.len()), (2, 2));
    assert!(queues(&a).is_disjoint(&queues(&b_share)));
    // Unknown topic: no valid answer (null set), as Apache.
    assert!(query_assignment(&c, &addr, "cid-a", "gm", "NoSuchTopic")
        .await
        .is_none());

    // Refusals.
    let set = |topic: &str, mode, share| SetMessageRequestModeRequestBody {
        topic: topic.into(),
        consumer_group: "gm".into(),
        mode,
        pop_share_queue_num: share,
    };
    let r = request_with_body(
        &c,
        &addr,
        RequestCode::SET_MESSAGE_REQUEST_MODE,
        set("%RETRY%gm", MessageRequestMode::Pop, 0).to_json(),
    )
    .await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION);
    let r = request_with_body(
        &c,
        &addr,
        RequestCode::SET_MESSAGE_REQUEST_MODE,
        set("NoSuchTopic", MessageRequestMode::Pop, 0).to_json(),
    )
    .await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);

    // POP with the default share: every member pops the whole topic (queue -1).
    let r = request_with_body(
        &c,
        &addr,
        RequestCode::SET_MESSAGE_REQUEST_MODE,
        set("PopMode", MessageRequestMode::Pop, 0).to_json(),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    for id in ["cid-a", "cid-b"] {
        let v = query_assignment(&c, &addr, id, "gm", "PopMode")
            .await
            .unwrap();
        assert_eq!(queues(&v), [(-1, true)].into());
    }
    // The group's retry topic stays PULL.
    let hb = RemotingCommand::request(RequestCode::HEART_BEAT).with_body(heartbeat_body(
        "cid-a",
        "gm",
        "%RETRY%gm",
        "*",
    ));
    c.invoke(&addr, hb, T).await.unwrap();

    // Persisted: a restart answers the same, GET_ALL_MESSAGE_REQUEST_MODE lists it.
    let b = restart(dir.path(), b, true).await;
    let addr = b.addr().to_string();
    let c = client();
    let r = request_with_body(
        &c,
        &addr,
        RequestCode::GET_ALL_MESSAGE_REQUEST_MODE,
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let all = MessageRequestModeSerializeWrapper::from_json(&r.body).unwrap();
    let e = &all.message_request_mode_map["PopMode"]["gm"];
    assert_eq!(
        (e.mode, e.pop_share_queue_num),
        (MessageRequestMode::Pop, 0)
    );
    let hb = RemotingCommand::request(RequestCode::HEART_BEAT)
        .with_body(heartbeat_body("cid-a", "gm", "PopMode", "*"));
    c.invoke(&addr, hb, T).await.unwrap();
    let v = query_assignment(&c, &addr, "cid-a", "gm", "PopMode")
        .await
        .unwrap();
    assert_eq!(queues(&v), [(-1, true)].into());
    b.shutdown().await;
}
