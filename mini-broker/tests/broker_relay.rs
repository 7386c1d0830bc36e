//! The broker → client relays over real TCP with a scripted client (docs/protocol/admin.md §3,
//! §4, §11, §12): what the broker forwards (fields, stored record, reset table in both body
//! forms) and that the client's answer comes back unchanged, Java's remarks when the client is
//! missing, never committed or silent.

mod broker_util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_util::*;
use bytes::Bytes;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::body::{
    ConsumeMessageDirectlyResult, GetConsumerStatusBody, JsonBody, MessageQueue, ResetOffsetBody,
    ResetOffsetBodyForC,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::decode_messages;
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand};
use rocketmq_rs_remoting::transport::RemotingClient;

const GROUP: &str = "relay_g";
const TOPIC: &str = "RelayRaw";

type Seen = Arc<Mutex<Vec<RemotingCommand>>>;

/// A consumer client `id` of [`GROUP`] that records every broker request and answers 307 with
/// a scripted refusal, 309 with CR_LATER, 221 with offset 7 on queue 0; `silent` answers
/// nothing at all.
async fn scripted_client(addr: &str, id: &'static str, silent: bool) -> (RemotingClient, Seen) {
    let c = client();
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    c.set_request_handler(Arc::new(move |_conn, req: RemotingCommand| {
        s2.lock().unwrap().push(req.clone());
        Box::pin(async move {
            if silent {
                return None;
            }
            match req.code {
                RequestCode::GET_CONSUMER_RUNNING_INFO => {
                    let mut r = RemotingCommand::response(
                        ResponseCode::SYSTEM_ERROR,
                        Some(format!("scripted refusal from {id}")),
                    );
                    r.ext_fields.insert("scripted", id);
                    Some(r)
                }
                RequestCode::CONSUME_MESSAGE_DIRECTLY => Some(
                    RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(
                        Bytes::from_static(
                            br#"{"order":false,"autoCommit":true,"consumeResult":"CR_LATER","remark":"later","spentTimeMills":3}"#,
                        ),
                    ),
                ),
                RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT => {
                    let body = GetConsumerStatusBody {
                        message_queue_table: [(MessageQueue::new(TOPIC, "broker-a", 0), 7)]
                            .into_iter()
                            .collect(),
                        ..Default::default()
                    };
                    Some(
                        RemotingCommand::response(ResponseCode::SUCCESS, None)
                            .with_body(body.to_json()),
                    )
                }
                _ => None,
            }
        })
    }));
    let hb = RemotingCommand::request(RequestCode::HEART_BEAT)
        .with_body(heartbeat_body(id, GROUP, TOPIC, "*"));
    assert_eq!(c.invoke(addr, hb, T).await.unwrap().code, 0);
    (c, seen)
}

fn seen_code(seen: &Seen, code: i32) -> Vec<RemotingCommand> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|r| r.code == code)
        .cloned()
        .collect()
}

async fn wait_seen(seen: &Seen, code: i32) -> RemotingCommand {
    let t = Instant::now();
    loop {
        if let Some(r) = seen_code(seen, code).pop() {
            return r;
        }
        assert!(t.elapsed() < T, "request {code} never reached the client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn reset_request(group: &str, topic: &str, ts: i64, force: bool) -> RemotingCommand {
    RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET).with_header(
        &ResetOffsetRequestHeader {
            group: group.into(),
            topic: topic.into(),
            queue_id: -1,
            offset: None,
            timestamp: ts,
            is_force: force,
            bname: None,
        },
    )
}

async fn create_topic(admin: &RemotingClient, addr: &str, queues: i32) {
    let create = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(
        &CreateTopicRequestHeader {
            topic: TOPIC.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: false,
            bname: None,
        },
    );
    assert_eq!(admin.invoke(addr, create, T).await.unwrap().code, 0);
}

async fn commit(admin: &RemotingClient, addr: &str, queue_id: i32, offset: i64) {
    let cmd = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(
        &UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: offset,
            bname: None,
        },
    );
    assert_eq!(admin.invoke(addr, cmd, T).await.unwrap().code, 0);
}

async fn committed(admin: &RemotingClient, addr: &str, queue_id: i32) -> i64 {
    let cmd = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
        &QueryConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            set_zero_if_not_found: Some(false),
            bname: None,
        },
    );
    let r = admin.invoke(addr, cmd, T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    r.decode_header::<QueryConsumerOffsetResponseHeader>()
        .unwrap()
        .offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_forward_and_answer_as_java() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let broker_name = b.config().broker_name.clone();
    let admin = client();
    create_topic(&admin, &addr, 2).await;
    let mut offset_ids = Vec::new();
    for body in [&b"relay 0"[..], b"relay 1", b"relay 2"] {
        let r = send(&admin, &addr, TOPIC, 0, body, &[], true).await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
        offset_ids.push(r.ext_fields.get("msgId").unwrap().to_string());
    }
    let (_c1, seen1) = scripted_client(&addr, "client-1", false).await;
    let (_c2, seen2) = scripted_client(&addr, "client-2", false).await;

    // 307: fields forwarded as the admin sent them; the client's own refusal comes back whole.
    let mut ask = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: GROUP.into(),
            client_id: "client-2".into(),
            jstack_enable: true,
        },
    );
    ask.ext_fields.insert("adminExtra", "1");
    let r = admin.invoke(&addr, ask, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(r.remark.as_deref(), Some("scripted refusal from client-2"));
    assert_eq!(r.ext_fields.get("scripted"), Some("client-2"));
    let fwd = wait_seen(&seen2, RequestCode::GET_CONSUMER_RUNNING_INFO).await;
    assert_eq!(fwd.ext_fields.get("adminExtra"), Some("1"));
    assert_eq!(fwd.ext_fields.get("jstackEnable"), Some("true"));
    assert!(seen_code(&seen1, RequestCode::GET_CONSUMER_RUNNING_INFO).is_empty());

    // 307 for a client id the group does not have.
    let ask = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: GROUP.into(),
            client_id: "client-9".into(),
            jstack_enable: false,
        },
    );
    let r = admin.invoke(&addr, ask, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <relay_g> <client-9> not online")
    );

    // 309: the stored record as body, brokerName and topicSysFlag added; result relayed.
    let cmd = RemotingCommand::request(RequestCode::CONSUME_MESSAGE_DIRECTLY).with_header(
        &ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: GROUP.into(),
            client_id: Some("client-1".into()),
            msg_id: Some(offset_ids[1].clone()),
            broker_name: None,
            topic: Some(TOPIC.into()),
            topic_sys_flag: None,
            group_sys_flag: None,
        },
    );
    let r = admin.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let result = ConsumeMessageDirectlyResult::from_json(&r.body).unwrap();
    assert_eq!(result.remark.as_deref(), Some("later"));
    let fwd = wait_seen(&seen1, RequestCode::CONSUME_MESSAGE_DIRECTLY).await;
    assert_eq!(fwd.ext_fields.get("brokerName"), Some(broker_name.as_str()));
    assert_eq!(fwd.ext_fields.get("topicSysFlag"), Some("0"));
    assert_eq!(fwd.ext_fields.get("groupSysFlag"), Some("0"));
    let msgs = decode_messages(fwd.body.clone()).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body[..], b"relay 1");
    assert_eq!(msgs[0].msg_id, offset_ids[1]);

    // 223 → 221 to each client (or only the named one), filed by client id.
    let status = |client_addr: Option<&str>| {
        RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS).with_header(
            &GetConsumerStatusRequestHeader {
                topic: TOPIC.into(),
                group: GROUP.into(),
                client_addr: client_addr.map(str::to_string),
            },
        )
    };
    let r = admin.invoke(&addr, status(None), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let body = GetConsumerStatusBody::from_json(&r.body).unwrap();
    assert_eq!(
        body.consumer_table.keys().collect::<Vec<_>>(),
        ["client-1", "client-2"]
    );
    assert_eq!(
        body.consumer_table["client-1"][&MessageQueue::new(TOPIC, "broker-a", 0)],
        7
    );
    let fwd = wait_seen(&seen1, RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT).await;
    assert_eq!(fwd.ext_fields.get("topic"), Some(TOPIC));
    let r = admin
        .invoke(&addr, status(Some("client-2")), T)
        .await
        .unwrap();
    let body = GetConsumerStatusBody::from_json(&r.body).unwrap();
    assert_eq!(body.consumer_table.keys().collect::<Vec<_>>(), ["client-2"]);

    // 222 before the group committed anything: Java's (misspelt) refusal, nothing sent.
    let r = admin
        .invoke(&addr, reset_request(GROUP, TOPIC, 0, false), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("THe consumer group <relay_g> not exist")
    );
    assert!(seen_code(&seen1, RequestCode::RESET_CONSUMER_CLIENT_OFFSET).is_empty());

    // 222, not forced, to the start: queue 0 (committed 3) moves back to 0, queue 1 stays at
    // its 0; every client gets the table; the broker records it too.
    commit(&admin, &addr, 0, 3).await;
    commit(&admin, &addr, 1, 0).await;
    let r = admin
        .invoke(&addr, reset_request(GROUP, TOPIC, 0, false), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let table = ResetOffsetBody::from_json(&r.body).unwrap().offset_table;
    let want: Vec<(MessageQueue, i64)> = vec![
        (MessageQueue::new(TOPIC, &broker_name, 0), 0),
        (MessageQueue::new(TOPIC, &broker_name, 1), 0),
    ];
    assert_eq!(table.into_iter().collect::<Vec<_>>(), want);
    for seen in [&seen1, &seen2] {
        let notice = wait_seen(seen, RequestCode::RESET_CONSUMER_CLIENT_OFFSET).await;
        assert!(notice.is_oneway());
        let h = notice.decode_header::<ResetOffsetRequestHeader>().unwrap();
        assert_eq!((h.group.as_str(), h.topic.as_str()), (GROUP, TOPIC));
        assert_eq!((h.timestamp, h.is_force, h.queue_id), (0, false, -1));
        let body = ResetOffsetBody::from_json(&notice.body).unwrap();
        assert_eq!(body.offset_table.into_iter().collect::<Vec<_>>(), want);
    }
    assert_eq!(committed(&admin, &addr, 0).await, 0);

    // Not forced, to "the end" (-1): nobody moves forward (queue 0 stays at 0); an admin
    // speaking as the C++ client gets the notice in the list form.
    let mut cpp = reset_request(GROUP, TOPIC, -1, false);
    cpp.language = LanguageCode::Cpp;
    seen1.lock().unwrap().clear();
    let r = admin.invoke(&addr, cpp, T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let notice = wait_seen(&seen1, RequestCode::RESET_CONSUMER_CLIENT_OFFSET).await;
    let list = ResetOffsetBodyForC::from_json(&notice.body).unwrap();
    assert_eq!(
        list.offset_table
            .iter()
            .map(|q| (q.queue_id, q.offset))
            .collect::<Vec<_>>(),
        [(0, 0), (1, 0)]
    );
    // Forced to the end: queue 0 jumps to 3.
    let r = admin
        .invoke(&addr, reset_request(GROUP, TOPIC, -1, true), T)
        .await
        .unwrap();
    let table = ResetOffsetBody::from_json(&r.body).unwrap().offset_table;
    assert_eq!(table[&MessageQueue::new(TOPIC, &broker_name, 0)], 3);
    assert_eq!(committed(&admin, &addr, 0).await, 3);

    // 5.x single-queue form: queue 0 to offset 1; outside the queue's range refused.
    let single = |offset: i64| {
        RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET).with_header(
            &ResetOffsetRequestHeader {
                group: GROUP.into(),
                topic: TOPIC.into(),
                queue_id: 0,
                offset: Some(offset),
                timestamp: 0,
                is_force: true,
                bname: None,
            },
        )
    };
    let r = admin.invoke(&addr, single(1), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let table = ResetOffsetBody::from_json(&r.body).unwrap().offset_table;
    assert_eq!(
        table.into_iter().collect::<Vec<_>>(),
        [(MessageQueue::new(TOPIC, &broker_name, 0), 1)]
    );
    assert_eq!(committed(&admin, &addr, 0).await, 1);
    let r = admin.invoke(&addr, single(9), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("Target offset 9 not in consume queue range [0-3]")
    );

    // Unknown topic; a group nobody is connected to.
    let r = admin
        .invoke(&addr, reset_request(GROUP, "NoSuchTopic", 0, true), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    let r = admin
        .invoke(&addr, reset_request("other_g", TOPIC, 0, true), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR, "never committed");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_times_out_and_offline_group_is_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let admin = client();
    create_topic(&admin, &addr, 1).await;
    let r = send(&admin, &addr, TOPIC, 0, b"x", &[], true).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    commit(&admin, &addr, 0, 1).await;
    let (silent, _seen) = scripted_client(&addr, "mute", true).await;

    // The broker gives up on the client after its own 10 s: CONSUME_MSG_TIMEOUT.
    let started = Instant::now();
    let ask = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: GROUP.into(),
            client_id: "mute".into(),
            jstack_enable: false,
        },
    );
    let r = admin
        .invoke(&addr, ask, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::CONSUME_MSG_TIMEOUT, "{:?}", r.remark);
    assert!(
        r.remark
            .as_deref()
            .is_some_and(|s| s.starts_with("consumer <relay_g> <mute> Timeout: ")),
        "{:?}",
        r.remark
    );
    assert!(started.elapsed() >= Duration::from_secs(9));

    // Once the client is gone, a reset is refused with CONSUMER_NOT_ONLINE and changes nothing.
    // Wait for the broker to see the disconnect through the connection list: a reset sent
    // while the client is still registered would legitimately succeed and move the offset.
    silent.shutdown();
    let t = Instant::now();
    loop {
        let ask = RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
            &GetConsumerConnectionListRequestHeader {
                consumer_group: GROUP.into(),
            },
        );
        let r = admin.invoke(&addr, ask, T).await.unwrap();
        if r.code == ResponseCode::CONSUMER_NOT_ONLINE {
            break;
        }
        assert!(t.elapsed() < T, "still online: {:?}", r.remark);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = admin
        .invoke(&addr, reset_request(GROUP, TOPIC, 0, true), T)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::CONSUMER_NOT_ONLINE, "{:?}", r.remark);
    assert_eq!(
        r.remark.as_deref(),
        Some("Consumer not online, so can not reset offset, Group: relay_g Topic: RelayRaw Timestamp: 0")
    );
    assert_eq!(committed(&admin, &addr, 0).await, 1);
    b.shutdown().await;
}
