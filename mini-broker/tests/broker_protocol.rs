//! Protocol tests over real TCP: send/pull, long polling, status codes, offsets, heartbeats,
//! locks, auto-creation, error handling and NameServer registration.

mod broker_util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_util::*;
use bytes::Bytes;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::body::{
    GetConsumerListByGroupResponseBody, JsonBody, LockBatchRequestBody, LockBatchResponseBody,
    MessageQueue, TopicRouteData,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::{encode_batch, property, BatchMessage};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_v1_v2_batch_and_pull_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();

    let r = send(
        &c,
        &addr,
        "RoundTrip",
        0,
        b"one",
        &[(property::TAGS, "TagA")],
        false,
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(ext_i64(&r, "queueOffset"), 0);
    assert!(r.ext_fields.get("msgId").is_some_and(|m| m.len() == 32));
    assert_eq!(r.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
    assert!(r.ext_fields.get("transactionId").is_some());
    let r = send(
        &c,
        &addr,
        "RoundTrip",
        0,
        b"two",
        &[(property::TAGS, "TagB")],
        true,
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(ext_i64(&r, "queueOffset"), 1);

    // Batch: V2 header with m=true.
    let batch = encode_batch(&[BatchMessage::new("b1"), BatchMessage::new("b2")]).unwrap();
    let mut h = SendMessageRequestHeaderV2::from(send_header("RoundTrip", 0, &Default::default()));
    h.m = Some(true);
    let cmd = RemotingCommand::request(RequestCode::SEND_BATCH_MESSAGE)
        .with_header(&h)
        .with_body(batch);
    let r = c.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(ext_i64(&r, "queueOffset"), 2);
    assert_eq!(r.ext_fields.get("msgId").unwrap().split(',').count(), 2);

    let r = pull(&c, &addr, &pull_header("g", "RoundTrip", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let m = msgs(&r);
    let bodies: Vec<&[u8]> = m.iter().map(|m| &m.body[..]).collect();
    assert_eq!(bodies, vec![&b"one"[..], b"two", b"b1", b"b2"]);
    assert_eq!(m[0].property(property::CLUSTER), Some("DefaultCluster"));
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 4);
    assert_eq!(ext_i64(&r, "maxOffset"), 4);

    // Tag filter with blanks: only TagB.
    let mut ph = pull_header("g", "RoundTrip", 0, 0);
    ph.subscription = Some("TagB || TagC ".into());
    let r = pull(&c, &addr, &ph).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let m = msgs(&r);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].tags(), Some("TagB"));

    // LITE_PULL_MESSAGE is PULL_MESSAGE.
    let cmd = RemotingCommand::request(RequestCode::LITE_PULL_MESSAGE).with_header(&pull_header(
        "g",
        "RoundTrip",
        0,
        3,
    ));
    let r = c.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(msgs(&r).len(), 1);

    // VIEW_MESSAGE_BY_ID and QUERY_MESSAGE by UNIQ_KEY.
    let first = &msgs(&pull(&c, &addr, &pull_header("g", "RoundTrip", 0, 0)).await)[0];
    let cmd = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID).with_header(
        &ViewMessageRequestHeader {
            topic: None,
            offset: first.commit_log_offset,
        },
    );
    let r = c.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(&msgs(&r)[0].body[..], b"one");
    let cmd = RemotingCommand::request(RequestCode::QUERY_MESSAGE).with_header(
        &QueryMessageRequestHeader {
            topic: "RoundTrip".into(),
            key: first.uniq_key().unwrap().into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(true),
            bname: None,
        },
    );
    let r = c.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(&msgs(&r)[0].body[..], b"one");

    // Offsets / times.
    let cmd = RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(
        &GetMaxOffsetRequestHeader {
            topic: "RoundTrip".into(),
            queue_id: 0,
            committed: true,
            bname: None,
        },
    );
    assert_eq!(
        ext_i64(&c.invoke(&addr, cmd, T).await.unwrap(), "offset"),
        4
    );
    let cmd = RemotingCommand::request(RequestCode::GET_EARLIEST_MSG_STORETIME).with_header(
        &GetEarliestMsgStoretimeRequestHeader {
            topic: "RoundTrip".into(),
            queue_id: 0,
            bname: None,
        },
    );
    let t0 = ext_i64(&c.invoke(&addr, cmd, T).await.unwrap(), "timestamp");
    assert_eq!(t0, first.store_timestamp);
    let cmd = RemotingCommand::request(RequestCode::SEARCH_OFFSET_BY_TIMESTAMP).with_header(
        &SearchOffsetRequestHeader {
            topic: "RoundTrip".into(),
            queue_id: 0,
            timestamp: i64::MAX / 2,
            boundary_type: None,
            bname: None,
        },
    );
    assert_eq!(
        ext_i64(&c.invoke(&addr, cmd, T).await.unwrap(), "offset"),
        4
    );

    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    assert_eq!(
        send(&c, &addr, "Codes", 1, b"x", &[(property::TAGS, "A")], true)
            .await
            .code,
        0
    );

    // Unknown topic.
    let r = pull(&c, &addr, &pull_header("g", "NoSuchTopic", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    // Empty queue at 0 → NOT_FOUND (19), at 5 → OFFSET_MOVED (21) with next 0.
    let r = pull(&c, &addr, &pull_header("g", "Codes", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::PULL_NOT_FOUND);
    let r = pull(&c, &addr, &pull_header("g", "Codes", 0, 5)).await;
    assert_eq!(r.code, ResponseCode::PULL_OFFSET_MOVED);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 0);
    // offset == max → 19; offset > max → 21 with max.
    let r = pull(&c, &addr, &pull_header("g", "Codes", 1, 1)).await;
    assert_eq!(r.code, ResponseCode::PULL_NOT_FOUND);
    assert_eq!(ext_i64(&r, "suggestWhichBrokerId"), 0);
    let r = pull(&c, &addr, &pull_header("g", "Codes", 1, 9)).await;
    assert_eq!(r.code, ResponseCode::PULL_OFFSET_MOVED);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 1);
    // No match → PULL_RETRY_IMMEDIATELY (20) with the scanned offset.
    let mut h = pull_header("g", "Codes", 1, 0);
    h.subscription = Some("B".into());
    let r = pull(&c, &addr, &h).await;
    assert_eq!(r.code, ResponseCode::PULL_RETRY_IMMEDIATELY);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 1);
    // Bad queue id.
    let r = pull(&c, &addr, &pull_header("g", "Codes", 99, 0)).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    // Without subscription flag and without heartbeat.
    let mut h = pull_header("nogroup", "Codes", 1, 0);
    h.sys_flag = 0;
    assert_eq!(
        pull(&c, &addr, &h).await.code,
        ResponseCode::SUBSCRIPTION_NOT_EXIST
    );
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_wakes_on_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    let producer = client();
    assert_eq!(
        send(&c, &addr, "LongPoll", 0, b"warm", &[], true)
            .await
            .code,
        0
    );

    let mut worst = Duration::ZERO;
    for i in 0..5i64 {
        let mut h = pull_header("g", "LongPoll", 0, 1 + i);
        h.sys_flag |= 0x2; // SUSPEND
        h.suspend_timeout_millis = 15_000;
        let (c2, addr2) = (c.clone(), addr.clone());
        let waiter = tokio::spawn(async move {
            let r = pull(&c2, &addr2, &h).await;
            (r, Instant::now())
        });
        // Wait until the pull is held.
        let t = Instant::now();
        while b.held_pulls() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "pull never held");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let sent_at = Instant::now();
        assert_eq!(
            send(&producer, &addr, "LongPoll", 0, b"new", &[], true)
                .await
                .code,
            0
        );
        let (r, got_at) = waiter.await.unwrap();
        assert_eq!(r.code, ResponseCode::SUCCESS);
        assert_eq!(&msgs(&r)[0].body[..], b"new");
        let lat = got_at.duration_since(sent_at);
        worst = worst.max(lat);
    }
    println!("long-poll wake latency (send start → pull answer), worst of 5: {worst:?}");
    assert!(worst < Duration::from_millis(50), "latency {worst:?}");

    // A held pull with nothing arriving is answered NOT_FOUND after its timeout.
    let mut h = pull_header("g", "LongPoll", 0, 6);
    h.sys_flag |= 0x2;
    h.suspend_timeout_millis = 300;
    let t = Instant::now();
    let r = pull(&c, &addr, &h).await;
    assert_eq!(r.code, ResponseCode::PULL_NOT_FOUND);
    assert!(t.elapsed() >= Duration::from_millis(290) && t.elapsed() < Duration::from_secs(3));
    c.shutdown();
    producer.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_persist_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    {
        let b = start(BrokerConfig::for_test(dir.path())).await;
        let addr = b.addr().to_string();
        assert_eq!(send(&c, &addr, "Offs", 0, b"x", &[], true).await.code, 0);
        // Brand-new group on a never-truncated queue: 0.
        let q = QueryConsumerOffsetRequestHeader {
            consumer_group: "g".into(),
            topic: "Offs".into(),
            queue_id: 0,
            set_zero_if_not_found: None,
            bname: None,
        };
        let r = c
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(&q),
                T,
            )
            .await
            .unwrap();
        assert_eq!((r.code, ext_i64(&r, "offset")), (0, 0));
        let mut q2 = q.clone();
        q2.set_zero_if_not_found = Some(false);
        let r = c
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(&q2),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, ResponseCode::QUERY_NOT_FOUND);
        let u = UpdateConsumerOffsetRequestHeader {
            consumer_group: "g".into(),
            topic: "Offs".into(),
            queue_id: 0,
            commit_offset: 1,
            bname: None,
        };
        let r = c
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(&u),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, 0);
        // A oneway update is kept by the clean shutdown.
        let mut u2 = u.clone();
        u2.queue_id = 1;
        u2.commit_offset = 7;
        c.invoke_oneway(
            &addr,
            RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(&u2),
            T,
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.close(&addr);
        b.shutdown().await;
    }
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    for (qid, want) in [(0, 1), (1, 7)] {
        let q = QueryConsumerOffsetRequestHeader {
            consumer_group: "g".into(),
            topic: "Offs".into(),
            queue_id: qid,
            set_zero_if_not_found: Some(false),
            bname: None,
        };
        let r = c
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(&q),
                T,
            )
            .await
            .unwrap();
        assert_eq!((r.code, ext_i64(&r, "offset")), (0, want));
    }
    // The message survived too.
    let r = pull(&c, &addr, &pull_header("g", "Offs", 0, 0)).await;
    assert_eq!(msgs(&r).len(), 1);
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_consumer_list_and_notify() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c1 = client();
    let notified = Arc::new(AtomicUsize::new(0));
    let n2 = Arc::clone(&notified);
    c1.set_request_handler(Arc::new(move |_conn, req: RemotingCommand| {
        let n2 = Arc::clone(&n2);
        Box::pin(async move {
            if req.code == RequestCode::NOTIFY_CONSUMER_IDS_CHANGED
                && req.ext_fields.get("consumerGroup") == Some("cg")
            {
                n2.fetch_add(1, Ordering::SeqCst);
            }
            None
        })
    }));
    let c2 = client();
    let hb = |id: &str| {
        RemotingCommand::request(RequestCode::HEART_BEAT).with_body(heartbeat_body(
            id,
            "cg",
            "HbTopic",
            "TagA || TagB",
        ))
    };
    assert_eq!(c1.invoke(&addr, hb("client-1"), T).await.unwrap().code, 0);
    assert_eq!(c2.invoke(&addr, hb("client-2"), T).await.unwrap().code, 0);
    // C++-style heartbeat: ordinals, string subVersion, missing fields.
    let cpp = br#"{"clientID":"cpp-1","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"cppg","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1717","topic":"HbTopic"}]}],"producerDataSet":[]}"#;
    let r = c2
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::HEART_BEAT).with_body(Bytes::from_static(cpp)),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);

    let t = Instant::now();
    while notified.load(Ordering::SeqCst) < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "client 1 not notified of client 2 joining"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let list = |c: rocketmq_rs_remoting::transport::RemotingClient, addr: String| async move {
        let cmd = RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP).with_header(
            &GetConsumerListByGroupRequestHeader {
                consumer_group: "cg".into(),
                bname: None,
            },
        );
        c.invoke(&addr, cmd, T).await.unwrap()
    };
    let r = list(c1.clone(), addr.clone()).await;
    let body = GetConsumerListByGroupResponseBody::from_json(&r.body).unwrap();
    assert_eq!(
        body.consumer_id_list,
        vec!["client-1".to_string(), "client-2".into()]
    );
    // The retry topic was created.
    assert!(b.topics().get("%RETRY%cg").is_some());
    // Pull without SUBSCRIPTION uses the heartbeat subscription (TagA || TagB).
    assert_eq!(
        send(
            &c1,
            &addr,
            "HbTopic",
            0,
            b"a",
            &[(property::TAGS, "TagC")],
            true
        )
        .await
        .code,
        0
    );
    assert_eq!(
        send(
            &c1,
            &addr,
            "HbTopic",
            0,
            b"b",
            &[(property::TAGS, "TagB")],
            true
        )
        .await
        .code,
        0
    );
    let mut h = pull_header("cg", "HbTopic", 0, 0);
    h.sys_flag = 0;
    h.subscription = None;
    let r = pull(&c1, &addr, &h).await;
    assert_eq!(r.code, 0);
    assert_eq!(msgs(&r).len(), 1);
    assert_eq!(ext_i64(&r, "nextBeginOffset"), 2);

    // Client 2 leaves (connection closed): client 1 notified again, list shrinks.
    let before = notified.load(Ordering::SeqCst);
    c2.shutdown();
    let t = Instant::now();
    while notified.load(Ordering::SeqCst) == before {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no notification on leave"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = list(c1.clone(), addr.clone()).await;
    let body = GetConsumerListByGroupResponseBody::from_json(&r.body).unwrap();
    assert_eq!(body.consumer_id_list, vec!["client-1".to_string()]);
    // Unregister: group empty → SYSTEM_ERROR.
    let cmd = RemotingCommand::request(RequestCode::UNREGISTER_CLIENT).with_header(
        &UnregisterClientRequestHeader {
            client_id: "client-1".into(),
            producer_group: Some(String::new()),
            consumer_group: Some("cg".into()),
            bname: None,
        },
    );
    assert_eq!(c1.invoke(&addr, cmd, T).await.unwrap().code, 0);
    assert_eq!(
        list(c1.clone(), addr.clone()).await.code,
        ResponseCode::SYSTEM_ERROR
    );
    c1.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_locks() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    let req = |code: i32, client: &str, qids: &[i32]| {
        let body = LockBatchRequestBody {
            consumer_group: "og".into(),
            client_id: client.into(),
            only_this_broker: false,
            mq_set: qids
                .iter()
                .map(|q| MessageQueue::new("OrderT", "broker-a", *q))
                .collect(),
        };
        RemotingCommand::request(code).with_body(body.to_json())
    };
    let r = c
        .invoke(&addr, req(RequestCode::LOCK_BATCH_MQ, "c1", &[0, 1]), T)
        .await
        .unwrap();
    assert_eq!(
        LockBatchResponseBody::from_json(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        2
    );
    let r = c
        .invoke(&addr, req(RequestCode::LOCK_BATCH_MQ, "c2", &[1, 2]), T)
        .await
        .unwrap();
    let ok = LockBatchResponseBody::from_json(&r.body)
        .unwrap()
        .lock_ok_mq_set;
    assert_eq!(
        ok.into_iter().map(|q| q.queue_id).collect::<Vec<_>>(),
        vec![2]
    );
    let r = c
        .invoke(&addr, req(RequestCode::UNLOCK_BATCH_MQ, "c1", &[1]), T)
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    let r = c
        .invoke(&addr, req(RequestCode::LOCK_BATCH_MQ, "c2", &[1]), T)
        .await
        .unwrap();
    assert_eq!(
        LockBatchResponseBody::from_json(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        1
    );
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_race_unknown_code_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.max_message_size = 64 * 1024;
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c1 = client();
    let c2 = client();
    // Two first sends racing to auto-create one topic: both succeed.
    let (r1, r2) = tokio::join!(
        send(&c1, &addr, "RaceTopic", 0, b"1", &[], true),
        send(&c2, &addr, "RaceTopic", 0, b"2", &[], false)
    );
    assert_eq!(
        (r1.code, r2.code),
        (0, 0),
        "{:?} {:?}",
        r1.remark,
        r2.remark
    );
    assert_eq!(b.topics().get("RaceTopic").unwrap().write_queue_nums, 4);
    // Auto-create off → TOPIC_NOT_EXIST; bad name → INVALID_PARAMETER; system topic → 16.
    let r = send(&c1, &addr, "bad topic", 0, b"x", &[], true).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    let r = send(&c1, &addr, "SCHEDULE_TOPIC_XXXX", 0, b"x", &[], true).await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION);
    // Over the max size → MESSAGE_ILLEGAL.
    static BIG: [u8; 70 * 1024] = [7u8; 70 * 1024];
    let r = send(&c1, &addr, "RaceTopic", 0, &BIG, &[], true).await;
    assert_eq!(r.code, ResponseCode::MESSAGE_ILLEGAL);
    // Unknown code.
    let r = c1
        .invoke(&addr, RemotingCommand::request(9999), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        r.remark.as_deref(),
        Some(" request type 9999 not supported")
    );

    // A malformed frame closes only that connection.
    let mut raw = tokio::net::TcpStream::connect(b.addr()).await.unwrap();
    raw.write_all(&[0, 0, 0, 8, 0, 0x7f, 0xff, 0xff, 1, 2, 3, 4])
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "connection not closed: {n:?}");
    assert_eq!(
        send(&c1, &addr, "RaceTopic", 0, b"still", &[], true)
            .await
            .code,
        0
    );

    // Topics: create and delete.
    let h = CreateTopicRequestHeader {
        topic: "Made".into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: None,
        order: false,
        attributes: None,
        force: false,
        bname: None,
    };
    let r = c1
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(&h),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    assert_eq!(b.topics().get("Made").unwrap().read_queue_nums, 2);
    let r = c1
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER).with_header(
                &DeleteTopicRequestHeader {
                    topic: "RaceTopic".into(),
                    bname: None,
                },
            ),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    assert!(b.topics().get("RaceTopic").is_none());
    c1.shutdown();
    c2.shutdown();
    b.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.auto_create_topic_enable = false;
    let b = start(cfg).await;
    let c = client();
    let r = send(&c, &b.addr().to_string(), "NotThere", 0, b"x", &[], true).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_namesrv() {
    let ns = rocketmq_rs_mini_namesrv::NameServer::start(
        rocketmq_rs_mini_namesrv::NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap()),
        rt(),
    )
    .await
    .unwrap();
    let ns_addr = ns.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.namesrv_addrs = vec![ns_addr.clone()];
    let b = start(cfg).await;
    let c = client();
    let route = |topic: &'static str| {
        let c = c.clone();
        let ns_addr = ns_addr.clone();
        async move {
            let cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
                .with_header(&GetRouteInfoRequestHeader::new(topic));
            c.invoke(&ns_addr, cmd, T).await.unwrap()
        }
    };
    let t = Instant::now();
    loop {
        let r = route("TBW102").await;
        if r.code == 0 {
            let rd = TopicRouteData::from_json(&r.body).unwrap();
            assert_eq!(
                rd.broker_datas[0].broker_addrs.get(&0).map(String::as_str),
                Some(&*b.advertised_addr().to_string())
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "TBW102 never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An auto-created topic is announced at once.
    assert_eq!(
        send(&c, &b.addr().to_string(), "Announced", 0, b"x", &[], true)
            .await
            .code,
        0
    );
    let t = Instant::now();
    while route("Announced").await.code != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "new topic never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Clean shutdown unregisters.
    b.shutdown().await;
    let t = Instant::now();
    while route("Announced").await.code == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "not unregistered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.shutdown();
    ns.shutdown().await;
}
