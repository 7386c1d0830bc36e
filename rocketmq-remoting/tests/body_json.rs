//! JSON bodies: captured client heartbeats and routes, fastjson quirks, round trips.

use std::path::Path;

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::*;
use rocketmq_rs_remoting::protocol::codec::decode_frame;
use rocketmq_rs_remoting::RemotingCommand;

fn load(name: &str) -> RemotingCommand {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/codec_vectors")
        .join(name);
    let hex: String = std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("tests/codec_vectors/{name}: {e}"))
        .split_whitespace()
        .collect();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    decode_frame(Bytes::from(bytes)).expect("frame")
}

#[test]
fn cpp_push_consumer_heartbeat() {
    let hb =
        HeartbeatData::from_json(&load("cpp-c2s-34-heartbeat-push-consumer.hex").body).unwrap();
    assert!(hb.client_id.ends_with("@DEFAULT"));
    assert!(hb.producer_data_set.is_empty());
    let c = &hb.consumer_data_set[0];
    assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromLastOffset
    );
    assert_eq!(c.subscription_data_set.len(), 2);
    for s in &c.subscription_data_set {
        assert_eq!(
            (s.sub_string.as_str(), s.expression_type.as_str()),
            ("*", "TAG")
        );
        assert_eq!(s.sub_version, 1_795_310_190_286);
        assert!(s.tags_set.is_empty() && s.code_set.is_empty());
    }
    // Re-encoding gives names, which every broker reads.
    let again = HeartbeatData::from_json(&hb.to_json()).unwrap();
    assert_eq!(again, hb);
    assert!(std::str::from_utf8(&hb.to_json())
        .unwrap()
        .contains("\"CONSUME_PASSIVELY\""));
}

#[test]
fn cpp_producer_and_pull_consumer_heartbeats() {
    let p = HeartbeatData::from_json(&load("cpp-c2s-34-heartbeat-producer.hex").body).unwrap();
    assert_eq!(p.producer_data_set.len(), 1);
    assert!(p.consumer_data_set.is_empty());
    let c = HeartbeatData::from_json(&load("cpp-c2s-34-heartbeat-pull-consumer.hex").body).unwrap();
    assert_eq!(
        c.consumer_data_set[0].consume_type,
        ConsumeType::ConsumeActively
    );
    assert!(c.consumer_data_set[0].subscription_data_set.is_empty());
}

#[test]
fn alions_and_rust_heartbeats() {
    let a = HeartbeatData::from_json(&load("alions-c2s-34-heartbeat-consumer.hex").body).unwrap();
    assert!(a.producer_data_set.is_empty());
    let c = &a.consumer_data_set[0];
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert_eq!(c.subscription_data_set[0].expression_type, "TAG");
    let r =
        HeartbeatData::from_json(&load("rust-c2s-34-heartbeat-push-consumer.hex").body).unwrap();
    assert!(r
        .producer_data_set
        .iter()
        .any(|p| p.group_name == "CLIENT_INNER_PRODUCER"));
    assert!(!r.without_sub);
    assert_eq!(r.heartbeat_fingerprint, 0);
    assert!(r.consumer_data_set[0]
        .subscription_data_set
        .iter()
        .all(|s| s.sub_version == 0));
}

#[test]
fn route_from_rust_namesrv_vector() {
    let route = TopicRouteData::from_json(&load("cpp-s2c-105-route-tbw102.hex").body).unwrap();
    assert_eq!(route.order_topic_conf, None);
    assert_eq!(
        route.queue_datas[0],
        QueueData {
            broker_name: "broker-a".into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 7,
            topic_sys_flag: 0
        }
    );
    assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    assert_eq!(route.broker_datas[0].zone_name, None);
    assert_eq!(TopicRouteData::from_json(&route.to_json()).unwrap(), route);
    assert_eq!(
        TopicRouteData::from_json(&route.to_json_legacy()).unwrap(),
        route
    );
}

#[test]
fn java_legacy_route_with_unquoted_keys() {
    let java = br#"{"brokerDatas":[{"brokerAddrs":{0:"192.168.1.20:10911",1:"192.168.1.21:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    let route = TopicRouteData::from_json(java).unwrap();
    let b = &route.broker_datas[0];
    assert_eq!(b.broker_addrs.len(), 2);
    assert_eq!(b.broker_addrs[&1], "192.168.1.21:10911");
    let legacy = route.to_json_legacy();
    let text = std::str::from_utf8(&legacy).unwrap();
    assert!(
        text.contains(r#""brokerAddrs":{0:"192.168.1.20:10911",1:"192.168.1.21:10911"}"#),
        "{text}"
    );
    let std_text = String::from_utf8(route.to_json().to_vec()).unwrap();
    assert!(
        std_text.contains(r#"{"0":"192.168.1.20:10911","1":"#),
        "{std_text}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(&std_text).is_ok());
}

#[test]
fn cluster_info_java_form() {
    let java = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"1.2.3.4:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    let ci = ClusterInfo::from_json(java).unwrap();
    assert_eq!(
        ci.broker_addr_table["broker-a"].master_addr(),
        Some("1.2.3.4:10911")
    );
    assert_eq!(ClusterInfo::from_json(&ci.to_json_legacy()).unwrap(), ci);
}

#[test]
fn message_queue_keyed_bodies_round_trip_in_fastjson_form() {
    let mut info = ConsumerRunningInfo::default();
    info.properties.insert(
        ConsumerRunningInfo::PROP_CONSUME_TYPE.into(),
        "CONSUME_PASSIVELY".into(),
    );
    info.mq_table.insert(
        MessageQueue::new("T", "b", 0),
        ProcessQueueInfo {
            commit_offset: 120,
            ..Default::default()
        },
    );
    info.subscription_set.push(SubscriptionData {
        topic: "T".into(),
        sub_string: "*".into(),
        ..Default::default()
    });
    let json = info.to_json();
    let text = std::str::from_utf8(&json).unwrap();
    assert!(
        text.contains(r#""mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"#),
        "{text}"
    );
    assert!(text.contains(r#""droped":false"#));
    assert_eq!(ConsumerRunningInfo::from_json(&json).unwrap(), info);

    let mut stats = ConsumeStats::default();
    stats.offset_table.insert(
        MessageQueue::new("T", "b", 2),
        OffsetWrapper {
            broker_offset: 5,
            ..Default::default()
        },
    );
    assert_eq!(ConsumeStats::from_json(&stats.to_json()).unwrap(), stats);
    let mut t = TopicStatsTable::default();
    t.offset_table.insert(
        MessageQueue::new("T", "b", 1),
        TopicOffset {
            max_offset: 9,
            ..Default::default()
        },
    );
    assert_eq!(TopicStatsTable::from_json(&t.to_json()).unwrap(), t);
}

#[test]
fn lock_and_list_bodies() {
    let req = br#"{"clientId":"10.0.0.5@1234#567","consumerGroup":"order_group","onlyThisBroker":false,"mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"},{"brokerName":"broker-a","queueId":1,"topic":"TopicTest"}]}"#;
    let body = LockBatchRequestBody::from_json(req).unwrap();
    assert_eq!(body.mq_set.len(), 2);
    assert_eq!(
        LockBatchRequestBody::from_json(&body.to_json()).unwrap(),
        body
    );
    let resp = LockBatchResponseBody {
        lock_ok_mq_set: body.mq_set.clone(),
    };
    assert!(std::str::from_utf8(&resp.to_json())
        .unwrap()
        .starts_with(r#"{"lockOKMQSet":[{"brokerName""#));
    let list =
        GetConsumerListByGroupResponseBody::from_json(&load("cpp-s2c-38-consumer-list.hex").body)
            .unwrap();
    assert!(!list.consumer_id_list.is_empty());
    let kv = KVTable::from_json(br#"{"table":{"T":"broker-a:4"}}"#).unwrap();
    assert_eq!(kv.table["T"], "broker-a:4");
    let tl = TopicList::from_json(br#"{"topicList":["A","%RETRY%g"]}"#).unwrap();
    assert_eq!(tl.topic_list.len(), 2);
    let r = ConsumeMessageDirectlyResult::from_json(br#"{"consumeResult":0,"spentTimeMills":3}"#)
        .unwrap();
    assert_eq!(
        (r.consume_result, r.auto_commit),
        (Some(CMResult::Success), true)
    );
}

#[test]
fn register_broker_body_json_and_compressed() {
    let java = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":12,"stateVersion":0,"timestamp":1717000000000},"topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}},"topicQueueMappingInfoMap":{},"topicQueueMappingDetailMap":{},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1717000000000}}}"#;
    let body = RegisterBrokerBody::decode(java, false, 1 << 20).unwrap();
    let w = &body.topic_config_serialize_wrapper;
    assert_eq!(w.data_version.counter, 12);
    assert_eq!(w.topic_config_table["TopicTest"].perm, 6);
    let z = body.encode_compressed();
    assert_eq!(z[0], 0x78);
    // 5.x brokers send compressed bodies with compressed=false: sniffed.
    let back = RegisterBrokerBody::decode(&z, false, 1 << 20).unwrap();
    assert_eq!(
        back.topic_config_serialize_wrapper.topic_config_table,
        w.topic_config_table
    );
    assert_eq!(
        back.topic_config_serialize_wrapper.data_version,
        w.data_version
    );
    // Inflation is capped; garbage is a typed error.
    assert!(RegisterBrokerBody::decode(&z, true, 16).is_err());
    assert!(RegisterBrokerBody::decode(&[0x78, 0x9c, 1, 2, 3], true, 1 << 20).is_err());
    let tc = TopicConfig::decode_text(r#"T 4 8 6 MULTI_TAG {"+a":"b"}"#).unwrap();
    assert_eq!(
        (
            tc.read_queue_nums,
            tc.write_queue_nums,
            tc.attributes["+a"].as_str()
        ),
        (4, 8, "b")
    );
    assert!(TopicConfig::decode_text("T 4").is_err());
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    for bad in [
        &b""[..],
        b"{",
        b"{0:",
        b"{'a",
        b"{{\"a\":1",
        b"[}",
        b"\"",
        b"{\"brokerDatas\":7}",
        b"\xff\xfe",
    ] {
        assert!(
            TopicRouteData::from_json(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(normalize_fastjson(b"{[[[[[[[[[[[[1]]]]]]]]]]]]:1}").is_ok());
}
