//! Admin plane over real TCP: subscription-group configs (create, list, get, delete, persisted,
//! honoured by pulls and send-backs) and the consumer / producer connection lists.

mod broker_util;

use broker_util::*;
use bytes::Bytes;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerConnection, ConsumerData, HeartbeatData, JsonBody,
    MessageModel, ProducerConnection, SubscriptionData, SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;
use rocketmq_rs_remoting::LanguageCode;

async fn call(c: &RemotingClient, addr: &str, cmd: RemotingCommand) -> RemotingCommand {
    c.invoke(addr, cmd, T).await.expect("answered")
}

async fn update_group(c: &RemotingClient, addr: &str, cfg: &SubscriptionGroupConfig) {
    let cmd = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(cfg.to_json());
    let r = call(c, addr, cmd).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
}

async fn all_groups(c: &RemotingClient, addr: &str) -> SubscriptionGroupWrapper {
    let r = call(
        c,
        addr,
        RemotingCommand::request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    SubscriptionGroupWrapper::from_json(&r.body).unwrap()
}

async fn max_offset(c: &RemotingClient, addr: &str, topic: &str) -> i64 {
    let cmd = RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(
        &GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id: 0,
            committed: true,
            bname: None,
        },
    );
    ext_i64(&call(c, addr, cmd).await, "offset")
}

async fn send_back(c: &RemotingClient, addr: &str, group: &str, offset: i64) -> RemotingCommand {
    let h = ConsumerSendMsgBackRequestHeader {
        offset,
        group: group.into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some("AdminT".into()),
        unit_mode: false,
        max_reconsume_times: None,
        bname: None,
    };
    call(
        c,
        addr,
        RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK).with_header(&h),
    )
    .await
}

fn heartbeat(client_id: &str, group: &str, model: MessageModel) -> RemotingCommand {
    let data = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: vec![rocketmq_rs_remoting::protocol::body::ProducerData {
            group_name: "admin_pg".into(),
        }],
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: model,
            consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
            subscription_data_set: vec![SubscriptionData {
                topic: "AdminT".into(),
                sub_string: "TagA".into(),
                sub_version: 7,
                ..Default::default()
            }],
            unit_mode: false,
        }],
        heartbeat_fingerprint: 0,
        without_sub: false,
    };
    let mut cmd = RemotingCommand::request(RequestCode::HEART_BEAT).with_body(data.to_json());
    // As a Java 4.9.8 client sends it.
    cmd.language = LanguageCode::Java;
    cmd.version = 409;
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_groups_are_managed_persisted_and_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();

    // Apache's system groups exist from the start.
    let all = all_groups(&c, &addr).await;
    assert!(all.subscription_group_table.contains_key("TOOLS_CONSUMER"));
    let v0 = all.data_version.counter;

    let r = send(
        &c,
        &addr,
        "AdminT",
        0,
        b"m",
        &[(property::TAGS, "TagA")],
        true,
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);

    // consumeEnable=false refuses pulls as Apache does.
    let mut g = SubscriptionGroupConfig::new("cg_off");
    g.consume_enable = false;
    update_group(&c, &addr, &g).await;
    let r = pull(&c, &addr, &pull_header("cg_off", "AdminT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION);
    assert_eq!(
        r.remark.as_deref(),
        Some("subscription group no permission, cg_off")
    );
    assert_eq!(r.ext_fields.get("forbiddenType"), Some("2"));
    g.consume_enable = true;
    update_group(&c, &addr, &g).await;
    let r = pull(&c, &addr, &pull_header("cg_off", "AdminT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);

    // GET_SUBSCRIPTIONGROUP_CONFIG answers what was stored; the version moved.
    let cmd = RemotingCommand::request(RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG).with_header(
        &GetSubscriptionGroupConfigRequestHeader {
            group: "cg_off".into(),
        },
    );
    let r = call(&c, &addr, cmd).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(SubscriptionGroupConfig::from_json(&r.body).unwrap(), g);
    let all = all_groups(&c, &addr).await;
    assert_eq!(all.subscription_group_table.get("cg_off"), Some(&g));
    assert!(all.data_version.counter > v0);

    // A pull by an unknown group auto-creates it with the defaults.
    let r = pull(&c, &addr, &pull_header("cg_auto", "AdminT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let all = all_groups(&c, &addr).await;
    assert_eq!(
        all.subscription_group_table.get("cg_auto"),
        Some(&SubscriptionGroupConfig::new("cg_auto"))
    );

    // retryMaxTimes = 0: the first send-back goes to the dead-letter queue.
    let m = msgs(&pull(&c, &addr, &pull_header("cg_dlq", "AdminT", 0, 0)).await).remove(0);
    let mut dlq = SubscriptionGroupConfig::new("cg_dlq");
    dlq.retry_max_times = 0;
    update_group(&c, &addr, &dlq).await;
    let r = send_back(&c, &addr, "cg_dlq", m.commit_log_offset).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(max_offset(&c, &addr, "%DLQ%cg_dlq").await, 1);
    // retryMaxTimes = 5 with 3 retry queues: retried, not dead-lettered; retry topic sized by
    // the group config.
    let mut retry = SubscriptionGroupConfig::new("cg_retry");
    retry.retry_max_times = 5;
    retry.retry_queue_nums = 3;
    update_group(&c, &addr, &retry).await;
    let r = send_back(&c, &addr, "cg_retry", m.commit_log_offset).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(b.topics().get("%DLQ%cg_retry").is_none());
    let rt = b.topics().get("%RETRY%cg_retry").unwrap();
    assert_eq!((rt.read_queue_nums, rt.write_queue_nums), (3, 3));
    // retryQueueNums = 0: sent-back messages are dropped (SUCCESS, nothing stored).
    let mut drop_all = SubscriptionGroupConfig::new("cg_drop");
    drop_all.retry_queue_nums = 0;
    update_group(&c, &addr, &drop_all).await;
    let r = send_back(&c, &addr, "cg_drop", m.commit_log_offset).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert!(b.topics().get("%RETRY%cg_drop").is_none());
    assert!(b.topics().get("%DLQ%cg_drop").is_none());

    // DELETE_SUBSCRIPTIONGROUP with 4.9's removeOffset drops the offsets too.
    let mut ph = pull_header("cg_off", "AdminT", 0, 1);
    ph.sys_flag |= 0x1;
    ph.commit_offset = 1;
    pull(&c, &addr, &ph).await;
    let offsets = || RemotingCommand::request(RequestCode::GET_ALL_CONSUMER_OFFSET);
    let has_offsets =
        |r: RemotingCommand| String::from_utf8_lossy(&r.body).contains("AdminT@cg_off");
    assert!(has_offsets(call(&c, &addr, offsets()).await));
    let mut del = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP);
    del.ext_fields.insert("groupName", "cg_off");
    del.ext_fields.insert("removeOffset", "true");
    assert_eq!(call(&c, &addr, del).await.code, ResponseCode::SUCCESS);
    assert!(!has_offsets(call(&c, &addr, offsets()).await));
    assert!(!all_groups(&c, &addr)
        .await
        .subscription_group_table
        .contains_key("cg_off"));

    // Persisted in Apache's file, reloaded on restart.
    b.shutdown().await;
    drop(b);
    let file = dir.path().join("config").join("subscriptionGroup.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"subscriptionGroupTable\""), "{text}");
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let all = all_groups(&c, &addr).await;
    assert_eq!(all.subscription_group_table.get("cg_retry"), Some(&retry));
    assert!(!all.subscription_group_table.contains_key("cg_off"));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_creation_unknown_groups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.auto_create_subscription_group = false;
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    send(&c, &addr, "AdminT", 0, b"m", &[], true).await;

    let r = pull(&c, &addr, &pull_header("cg_new", "AdminT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST);
    assert!(r
        .remark
        .unwrap()
        .starts_with("subscription group [cg_new] does not exist"));
    // Its heartbeat registers nothing.
    let r = call(
        &c,
        &addr,
        heartbeat("cid-1", "cg_new", MessageModel::Clustering),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let conn_list = || {
        RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
            &GetConsumerConnectionListRequestHeader {
                consumer_group: "cg_new".into(),
            },
        )
    };
    let r = call(&c, &addr, conn_list()).await;
    assert_eq!(r.code, ResponseCode::CONSUMER_NOT_ONLINE);
    assert_eq!(
        r.remark.as_deref(),
        Some("the consumer group[cg_new] not online")
    );
    let m = msgs(&pull(&c, &addr, &pull_header("TOOLS_CONSUMER", "AdminT", 0, 0)).await).remove(0);
    let r = send_back(&c, &addr, "cg_new", m.commit_log_offset).await;
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST);

    // Once created by an admin, the group works.
    update_group(&c, &addr, &SubscriptionGroupConfig::new("cg_new")).await;
    call(
        &c,
        &addr,
        heartbeat("cid-1", "cg_new", MessageModel::Clustering),
    )
    .await;
    assert_eq!(
        call(&c, &addr, conn_list()).await.code,
        ResponseCode::SUCCESS
    );
    let r = pull(&c, &addr, &pull_header("cg_new", "AdminT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lists_and_broadcast_permission() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    send(&c, &addr, "AdminT", 0, b"m", &[], true).await;
    let r = call(
        &c,
        &addr,
        heartbeat("cid-1", "cg_conn", MessageModel::Clustering),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);

    let cmd = RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
        &GetConsumerConnectionListRequestHeader {
            consumer_group: "cg_conn".into(),
        },
    );
    let r = call(&c, &addr, cmd).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let cc = ConsumerConnection::from_json(&r.body).unwrap();
    assert_eq!(cc.connection_set.len(), 1);
    let conn = cc.connection_set.iter().next().unwrap();
    assert_eq!(conn.client_id, "cid-1");
    assert_eq!(conn.language, "JAVA");
    assert_eq!(conn.version, 409);
    assert!(conn.client_addr.starts_with("127.0.0.1:"), "{conn:?}");
    assert_ne!(conn.client_addr, addr);
    assert_eq!(cc.subscription_table["AdminT"].sub_string, "TagA");
    assert_eq!(cc.consume_type, Some(ConsumeType::ConsumePassively));
    assert_eq!(cc.message_model, Some(MessageModel::Clustering));
    assert_eq!(
        cc.consume_from_where,
        Some(ConsumeFromWhere::ConsumeFromFirstOffset)
    );
    // Apache's spelling of the enums on the wire.
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains(r#""consumeType":"CONSUME_PASSIVELY""#),
        "{text}"
    );

    let prod = |g: &str| {
        RemotingCommand::request(RequestCode::GET_PRODUCER_CONNECTION_LIST).with_header(
            &GetProducerConnectionListRequestHeader {
                producer_group: g.into(),
            },
        )
    };
    let r = call(&c, &addr, prod("admin_pg")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let pc = ProducerConnection::from_json(&r.body).unwrap();
    assert_eq!(
        pc.connection_set
            .iter()
            .next()
            .map(|c| c.client_id.as_str()),
        Some("cid-1")
    );
    let r = call(&c, &addr, prod("nobody")).await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("the producer group[nobody] not exist")
    );

    // consumeBroadcastEnable=false: a BROADCASTING group's pulls (without their own
    // subscription) are refused.
    let mut g = SubscriptionGroupConfig::new("cg_bc");
    g.consume_broadcast_enable = false;
    update_group(&c, &addr, &g).await;
    call(
        &c,
        &addr,
        heartbeat("cid-2", "cg_bc", MessageModel::Broadcasting),
    )
    .await;
    let mut ph = pull_header("cg_bc", "AdminT", 0, 0);
    ph.sys_flag = 0;
    let r = pull(&c, &addr, &ph).await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION);
    assert_eq!(
        r.remark.as_deref(),
        Some("the consumer group[cg_bc] can not consume by broadcast way")
    );
    g.consume_broadcast_enable = true;
    update_group(&c, &addr, &g).await;
    let r = pull(&c, &addr, &ph).await;
    assert_ne!(r.code, ResponseCode::NO_PERMISSION, "{:?}", r.remark);

    // An empty UPDATE body is a no-op success, as on Apache.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(Bytes::new()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_inspection_codes() {
    use rocketmq_rs_remoting::protocol::body::{
        BrokerStatsData, ConsumeStats, GroupList, KVTable, TopicConfig, TopicList, TopicStatsTable,
    };
    let dir = tempfile::tempdir().unwrap();
    let b = start(BrokerConfig::for_test(dir.path())).await;
    let addr = b.addr().to_string();
    let c = client();
    for _ in 0..3 {
        let r = send(&c, &addr, "StatT", 0, b"abc", &[], true).await;
        assert_eq!(r.code, ResponseCode::SUCCESS);
    }
    let tc = b.topics().get("StatT").unwrap();

    // GET_TOPIC_STATS_INFO.
    let ts = |t: &str| {
        RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO)
            .with_header(&GetTopicStatsInfoRequestHeader { topic: t.into() })
    };
    let r = call(&c, &addr, ts("StatT")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    // MessageQueue keys in fastjson's object-key form, the one Java reads.
    assert!(r.body.starts_with(br#"{"offsetTable":{{"#), "{:?}", r.body);
    let table = TopicStatsTable::from_json(&r.body).unwrap();
    assert_eq!(
        table.offset_table.len() as i32,
        tc.read_queue_nums.max(tc.write_queue_nums)
    );
    let (mq, q0) = table
        .offset_table
        .iter()
        .find(|(mq, _)| mq.queue_id == 0)
        .unwrap();
    assert_eq!(mq.broker_name, "broker-a");
    assert_eq!((q0.min_offset, q0.max_offset), (0, 3));
    assert!(q0.last_update_timestamp > 1_600_000_000_000);
    let r = call(&c, &addr, ts("NoSuchT")).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    assert_eq!(r.remark.as_deref(), Some("topic[NoSuchT] not exist"));

    // A consumer commits offset 2 of queue 0.
    call(
        &c,
        &addr,
        heartbeat("cid-s", "sg", MessageModel::Clustering),
    )
    .await;
    let mut ph = pull_header("sg", "StatT", 0, 2);
    ph.sys_flag |= 0x1;
    ph.commit_offset = 2;
    assert_eq!(pull(&c, &addr, &ph).await.code, ResponseCode::SUCCESS);

    // GET_CONSUME_STATS: topic of the group (the heartbeat subscribes AdminT, not StatT, so
    // asking by topic list bypasses the subscription filter as on Apache).
    let cs = |topic: Option<&str>, list: Option<&str>| {
        RemotingCommand::request(RequestCode::GET_CONSUME_STATS).with_header(
            &GetConsumeStatsRequestHeader {
                consumer_group: "sg".into(),
                topic: topic.map(str::to_string),
                topic_list: list.map(str::to_string),
            },
        )
    };
    let r = call(&c, &addr, cs(None, Some("StatT;"))).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let stats = ConsumeStats::from_json(&r.body).unwrap();
    assert_eq!(stats.offset_table.len() as i32, tc.read_queue_nums);
    let w = stats
        .offset_table
        .iter()
        .find(|(mq, _)| mq.queue_id == 0)
        .unwrap()
        .1;
    assert_eq!((w.broker_offset, w.consumer_offset), (3, 2));
    assert!(w.last_timestamp > 1_600_000_000_000);
    // By topic: the online group does not subscribe StatT, so nothing (Apache's filter).
    let r = call(&c, &addr, cs(Some("StatT"), None)).await;
    assert!(ConsumeStats::from_json(&r.body)
        .unwrap()
        .offset_table
        .is_empty());

    // QUERY_TOPIC_CONSUME_BY_WHO: subscribers (AdminT) and offset holders (StatT).
    let who = |t: &str| {
        RemotingCommand::request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO)
            .with_header(&QueryTopicConsumeByWhoRequestHeader { topic: t.into() })
    };
    for t in ["StatT", "AdminT"] {
        let r = call(&c, &addr, who(t)).await;
        let groups = GroupList::from_json(&r.body).unwrap().group_list;
        assert!(groups.contains("sg"), "{t}: {groups:?}");
    }
    // QUERY_TOPICS_BY_CONSUMER.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::QUERY_TOPICS_BY_CONSUMER)
            .with_header(&QueryTopicsByConsumerRequestHeader { group: "sg".into() }),
    )
    .await;
    let tl = TopicList::from_json(&r.body).unwrap();
    assert!(tl.topic_list.contains("StatT"));
    assert_eq!(tl.broker_addr.as_deref(), Some(addr.as_str()));

    // GET_TOPIC_CONFIG.
    let gtc = |t: &str| {
        RemotingCommand::request(RequestCode::GET_TOPIC_CONFIG).with_header(
            &GetTopicConfigRequestHeader {
                topic: t.into(),
                lo: Some(true),
            },
        )
    };
    let r = call(&c, &addr, gtc("StatT")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    assert_eq!(serde_json::from_slice::<TopicConfig>(&r.body).unwrap(), tc);
    let r = call(&c, &addr, gtc("NoSuchT")).await;
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    assert_eq!(
        r.remark.as_deref(),
        Some("No topic in this broker. topic: NoSuchT")
    );

    // VIEW_BROKER_STATS_DATA.
    let view = |name: &str, key: &str| {
        RemotingCommand::request(RequestCode::VIEW_BROKER_STATS_DATA).with_header(
            &ViewBrokerStatsDataRequestHeader {
                stats_name: name.into(),
                stats_key: key.into(),
            },
        )
    };
    let r = call(&c, &addr, view("TOPIC_PUT_NUMS", "StatT")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    BrokerStatsData::from_json(&r.body).unwrap();
    let r = call(&c, &addr, view("GROUP_GET_NUMS", "StatT@sg")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let r = call(&c, &addr, view("TOPIC_PUT_NUMS", "NoSuchT")).await;
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The stats <TOPIC_PUT_NUMS> <NoSuchT> not exist")
    );

    // GET_BROKER_RUNTIME_INFO: the keys brokerStatus / clusterList / dashboards read.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let kv = KVTable::from_json(&r.body).unwrap().table;
    assert_eq!(kv["msgPutTotalTodayNow"], "3");
    assert_eq!(kv["msgGetTotalTodayNow"], "1");
    assert_eq!(kv["brokerActive"], "true");
    for k in [
        "putTps",
        "getTotalTps",
        "getTransferredTps",
        "getTransferedTps",
    ] {
        let toks: Vec<&str> = kv[k].split(' ').collect();
        assert_eq!(toks.len(), 3, "{k}");
        assert!(
            toks.iter().all(|t| t.parse::<f64>().is_ok()),
            "{k}: {}",
            kv[k]
        );
    }
    let ratio: f64 = kv["commitLogDiskRatio"].parse().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
    assert!(kv["earliestMessageTimeStamp"].parse::<i64>().unwrap() > 1_600_000_000_000);
    assert!(kv["bootTimestamp"].parse::<i64>().unwrap() > 1_600_000_000_000);
    assert!(
        kv["runtime"].starts_with("[ 0 days, 0 hours, "),
        "{}",
        kv["runtime"]
    );
    for k in [
        "commitLogMinOffset",
        "commitLogMaxOffset",
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "dispatchBehindBytes",
        "pageCacheLockTimeMills",
        "putMessageTimesTotal",
        "putMessageSizeTotal",
        "putMessageEntireTimeMax",
        "brokerVersion",
    ] {
        assert!(kv[k].parse::<i64>().is_ok(), "{k}: {:?}", kv.get(k));
    }
    assert_eq!(kv["brokerVersionDesc"], "V5_0_0");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_config_get_and_live_update() {
    use rocketmq_rs_mini_broker::config::parse_properties;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.json");
    let store = dir.path().join("store");
    std::fs::write(
        &file,
        serde_json::json!({
            "brokerName": "broker-cfg",
            "listenAddr": "127.0.0.1:0",
            "advertisedHost": "127.0.0.1",
            "storePath": store,
            "commitLogSegmentSize": 16777216,
        })
        .to_string(),
    )
    .unwrap();
    let cfg = BrokerConfig::from_file(&file).unwrap();
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();

    let get = || RemotingCommand::request(RequestCode::GET_BROKER_CONFIG);
    let r = call(&c, &addr, get()).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let v0: serde_json::Value =
        serde_json::from_str(r.ext_fields.get("version").expect("version header")).unwrap();
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let props = parse_properties(&text);
    assert_eq!(props["brokerName"], "broker-cfg");
    assert_eq!(props["brokerClusterName"], "DefaultCluster");
    assert_eq!(props["autoCreateSubscriptionGroup"], "true");
    assert_eq!(props["brokerRole"], "ASYNC_MASTER");
    assert!(!text.contains("secretKey"));
    // Sorted `key=value` lines, as Apache writes them.
    let keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);

    let update = |body: &str| {
        RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG)
            .with_body(Bytes::from(body.to_string()))
    };
    // Black-listed, unknown, not-live and malformed values are refused; nothing changes.
    let r = call(&c, &addr, update("brokerConfigPath=/tmp/x\n")).await;
    assert_eq!(r.code, ResponseCode::NO_PERMISSION);
    assert_eq!(
        r.remark.as_deref(),
        Some("Can not update config in black list.")
    );
    let r = call(&c, &addr, update("noSuchKey=1\n")).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    assert!(r.remark.unwrap().contains("noSuchKey"));
    let r = call(&c, &addr, update("brokerName=other\n")).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    assert!(r
        .remark
        .unwrap()
        .contains("cannot change brokerName while running"));
    let r = call(&c, &addr, update("autoCreateSubscriptionGroup=maybe\n")).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);

    // A live key: applied at once, visible in GET, persisted into the config file.
    let r = call(
        &c,
        &addr,
        update("autoCreateSubscriptionGroup=false\nretryMaxTimes=4\n"),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    send(&c, &addr, "CfgT", 0, b"m", &[], true).await;
    let r = pull(&c, &addr, &pull_header("cg_unknown", "CfgT", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST);
    let r = call(&c, &addr, get()).await;
    let props = parse_properties(std::str::from_utf8(&r.body).unwrap());
    assert_eq!(props["autoCreateSubscriptionGroup"], "false");
    assert_eq!(props["retryMaxTimes"], "4");
    let v1: serde_json::Value = serde_json::from_str(r.ext_fields.get("version").unwrap()).unwrap();
    assert_eq!(
        v1["counter"].as_i64(),
        Some(v0["counter"].as_i64().unwrap() + 1)
    );
    let saved = BrokerConfig::from_file(&file).unwrap();
    assert!(!saved.auto_create_subscription_group);
    assert_eq!(saved.retry_max_times, 4);
    assert_eq!(saved.broker_name, "broker-cfg");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_copies_the_masters_subscription_groups() {
    use rocketmq_rs_mini_broker::ha::BrokerRole;
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let mut mc = BrokerConfig::for_test(mdir.path());
    mc.broker_role = BrokerRole::SyncMaster;
    let m = start(mc).await;
    let mut sc = BrokerConfig::for_test(sdir.path());
    sc.broker_role = BrokerRole::Slave;
    sc.broker_id = 1;
    sc.ha_master_address = m.ha_addr();
    sc.master_addr = Some(m.advertised_addr().to_string());
    sc.slave_metadata_sync_interval_ms = 60_000;
    let s = start(sc).await;
    let c = client();
    let mut g = SubscriptionGroupConfig::new("cg_repl");
    g.retry_max_times = 2;
    g.consume_enable = false;
    update_group(&c, &m.addr().to_string(), &g).await;
    s.sync_metadata_now().await.expect("metadata sync");
    let all = all_groups(&c, &s.addr().to_string()).await;
    assert_eq!(all.subscription_group_table.get("cg_repl"), Some(&g));
    assert_eq!(all.data_version, m.subscription_groups().data_version());
    // Persisted on the slave too.
    let text =
        std::fs::read_to_string(sdir.path().join("config").join("subscriptionGroup.json")).unwrap();
    assert!(text.contains("cg_repl"));
    s.shutdown().await;
    m.shutdown().await;
}
