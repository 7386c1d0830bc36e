//! write_to → read_from round trips and error cases for the typed headers.

use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::{ExtFields, RemotingError};

fn rt<H: CommandHeader + PartialEq + std::fmt::Debug>(h: H) {
    let ext = h.to_ext_fields();
    assert_eq!(H::read_from(&ext).unwrap(), h);
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn round_trips() {
    let send = SendMessageRequestHeader {
        producer_group: s("pg"),
        topic: s("T"),
        default_topic: s("TBW102"),
        default_topic_queue_nums: 4,
        queue_id: -1,
        sys_flag: 769,
        born_timestamp: i64::MAX,
        flag: -7,
        properties: Some(s("TAGS\u{1}a\u{2}")),
        reconsume_times: Some(3),
        unit_mode: Some(false),
        batch: Some(true),
        max_reconsume_times: Some(16),
        bname: Some(s("broker-a")),
    };
    rt(send.clone());
    let v2 = SendMessageRequestHeaderV2::from(send.clone());
    assert_eq!(v2.n.as_deref(), Some("broker-a"));
    let ext = v2.to_ext_fields();
    assert_eq!(ext.get("g"), Some(i64::MAX.to_string().as_str()));
    assert_eq!(ext.get("m"), Some("true"));
    rt(v2.clone());
    assert_eq!(SendMessageRequestHeader::from(v2), send);
    rt(SendMessageResponseHeader {
        msg_id: s("AB"),
        queue_id: 1,
        queue_offset: 9,
        transaction_id: Some(s("U")),
        batch_uniq_id: None,
        recall_handle: None,
        msg_region: Some(s("DefaultRegion")),
        trace_on: Some(true),
    });
    rt(PullMessageRequestHeader {
        consumer_group: s("g"),
        topic: s("T"),
        queue_id: 0,
        queue_offset: 5,
        max_msg_nums: 32,
        sys_flag: 6,
        commit_offset: 0,
        suspend_timeout_millis: 15000,
        subscription: Some(s("*")),
        sub_version: 1,
        expression_type: Some(s("TAG")),
        max_msg_bytes: None,
        request_source: None,
        proxy_froward_client_id: None,
        bname: None,
    });
    rt(PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 1,
        min_offset: 0,
        max_offset: 2,
        offset_delta: None,
        topic_sys_flag: Some(0),
        group_sys_flag: None,
        forbidden_type: None,
    });
    rt(QueryMessageRequestHeader {
        topic: s("T"),
        key: s("k"),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: 1,
        unique_key_query: Some(true),
        bname: None,
    });
    rt(QueryMessageResponseHeader {
        index_last_update_timestamp: 1,
        index_last_update_phyoffset: 2,
    });
    rt(QueryConsumerOffsetRequestHeader {
        consumer_group: s("g"),
        topic: s("T"),
        queue_id: 1,
        set_zero_if_not_found: Some(false),
        bname: None,
    });
    rt(QueryConsumerOffsetResponseHeader { offset: 7 });
    rt(UpdateConsumerOffsetRequestHeader {
        consumer_group: s("g"),
        topic: s("T"),
        queue_id: 1,
        commit_offset: 8,
        bname: None,
    });
    rt(CreateTopicRequestHeader {
        topic: s("T"),
        default_topic: s("TBW102"),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: 6,
        topic_filter_type: TopicFilterType::MultiTag,
        topic_sys_flag: None,
        order: true,
        attributes: Some(s("+message.type=NORMAL")),
        force: false,
        bname: None,
    });
    rt(DeleteTopicRequestHeader {
        topic: s("T"),
        bname: None,
    });
    rt(SearchOffsetRequestHeader {
        topic: s("T"),
        queue_id: 0,
        timestamp: 5,
        boundary_type: Some(BoundaryType::Upper),
        bname: None,
    });
    rt(SearchOffsetResponseHeader { offset: 3 });
    rt(GetMaxOffsetRequestHeader {
        topic: s("T"),
        queue_id: 0,
        committed: true,
        bname: None,
    });
    rt(GetMaxOffsetResponseHeader { offset: 3 });
    rt(GetMinOffsetRequestHeader {
        topic: s("T"),
        queue_id: 0,
        bname: None,
    });
    rt(GetMinOffsetResponseHeader { offset: 0 });
    rt(GetEarliestMsgStoretimeRequestHeader {
        topic: s("T"),
        queue_id: 0,
        bname: None,
    });
    rt(GetEarliestMsgStoretimeResponseHeader { timestamp: -1 });
    rt(ViewMessageRequestHeader {
        topic: None,
        offset: 123,
    });
    rt(HeartbeatRequestHeader::default());
    rt(HeartbeatResponseHeader {
        is_support_heart_beat_v2: Some(false),
        is_sub_change: Some(true),
    });
    rt(UnregisterClientRequestHeader {
        client_id: s("c"),
        producer_group: Some(s("pg")),
        consumer_group: None,
        bname: None,
    });
    rt(ConsumerSendMsgBackRequestHeader {
        offset: 1,
        group: s("g"),
        delay_level: -1,
        origin_msg_id: Some(s("m")),
        origin_topic: Some(s("T")),
        unit_mode: false,
        max_reconsume_times: Some(16),
        bname: None,
    });
    rt(EndTransactionRequestHeader {
        topic: None,
        producer_group: s("pg"),
        tran_state_table_offset: 1,
        commit_log_offset: 2,
        commit_or_rollback: 8,
        from_transaction_check: true,
        msg_id: s("U"),
        transaction_id: Some(s("U")),
        bname: Some(s("b")),
    });
    rt(CheckTransactionStateRequestHeader {
        topic: Some(s("T")),
        tran_state_table_offset: 1,
        commit_log_offset: 2,
        msg_id: Some(s("U")),
        transaction_id: Some(s("U")),
        offset_msg_id: Some(s("O")),
        bname: None,
    });
    rt(GetConsumerListByGroupRequestHeader {
        consumer_group: s("g"),
        bname: None,
    });
    rt(NotifyConsumerIdsChangedRequestHeader {
        consumer_group: s("g"),
        bname: None,
    });
    rt(LockBatchMqRequestHeader::default());
    rt(UnlockBatchMqRequestHeader {
        bname: Some(s("b")),
    });
    rt(ResetOffsetRequestHeader {
        group: s("g"),
        topic: s("T"),
        queue_id: -1,
        offset: None,
        timestamp: 5,
        is_force: true,
        bname: None,
    });
    rt(GetConsumerStatusRequestHeader {
        topic: s("T"),
        group: s("g"),
        client_addr: None,
    });
    rt(GetConsumerRunningInfoRequestHeader {
        consumer_group: s("g"),
        client_id: s("c"),
        jstack_enable: false,
    });
    rt(ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: s("g"),
        client_id: Some(s("c")),
        msg_id: Some(s("m")),
        broker_name: Some(s("b")),
        topic: None,
        topic_sys_flag: Some(0),
        group_sys_flag: None,
    });
    rt(GetTopicStatsInfoRequestHeader { topic: s("T") });
    rt(GetConsumeStatsRequestHeader {
        consumer_group: s("g"),
        topic: Some(s("T")),
        topic_list: None,
    });
    rt(GetConsumerConnectionListRequestHeader {
        consumer_group: s("g"),
    });
    rt(QueryConsumeTimeSpanRequestHeader {
        topic: s("T"),
        group: s("g"),
    });
    rt(QueryTopicConsumeByWhoRequestHeader { topic: s("T") });
    rt(GetRouteInfoRequestHeader {
        topic: s("T"),
        accept_standard_json_only: Some(true),
    });
    rt(RegisterBrokerRequestHeader {
        broker_name: s("b"),
        broker_addr: s("1.2.3.4:10911"),
        cluster_name: s("c"),
        ha_server_addr: s("1.2.3.4:10912"),
        broker_id: 0,
        heartbeat_timeout_millis: None,
        enable_acting_master: Some(false),
        compressed: false,
        body_crc32: 12345,
        zone_name: None,
    });
    rt(RegisterBrokerResponseHeader::default());
    rt(UnRegisterBrokerRequestHeader {
        broker_name: s("b"),
        broker_addr: s("a"),
        cluster_name: s("c"),
        broker_id: 1,
    });
    rt(QueryDataVersionRequestHeader {
        broker_name: s("b"),
        broker_addr: s("a"),
        cluster_name: s("c"),
        broker_id: 0,
    });
    rt(QueryDataVersionResponseHeader { changed: true });
    rt(BrokerHeartbeatRequestHeader {
        cluster_name: s("c"),
        broker_addr: s("a"),
        broker_name: s("b"),
        broker_id: Some(0),
        epoch: None,
        max_offset: Some(1),
        confirm_offset: None,
        heartbeat_timeout_mills: None,
        election_priority: None,
    });
    rt(PutKVConfigRequestHeader {
        namespace: s("ORDER_TOPIC_CONFIG"),
        key: s("T"),
        value: s("b:4"),
    });
    rt(GetKVConfigRequestHeader {
        namespace: s("n"),
        key: s("k"),
    });
    rt(GetKVConfigResponseHeader {
        value: Some(s("v")),
    });
    rt(DeleteKVConfigRequestHeader {
        namespace: s("n"),
        key: s("k"),
    });
    rt(GetKVListByNamespaceRequestHeader { namespace: s("n") });
    rt(DeleteTopicFromNamesrvRequestHeader {
        topic: s("T"),
        cluster_name: None,
    });
}

fn ext(pairs: &[(&str, &str)]) -> ExtFields {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

#[test]
fn missing_required_field_names_the_wire_key() {
    let e = UpdateConsumerOffsetRequestHeader::read_from(&ext(&[
        ("consumerGroup", "g"),
        ("topic", "T"),
        ("queueId", "1"),
    ]))
    .unwrap_err();
    assert!(
        matches!(
            e,
            RemotingError::MissingField {
                field: "commitOffset"
            }
        ),
        "{e}"
    );
    let e = SendMessageRequestHeaderV2::read_from(&ext(&[("a", "pg")])).unwrap_err();
    assert!(
        matches!(e, RemotingError::MissingField { field: "b" }),
        "{e}"
    );
    let e = UnregisterClientRequestHeader::read_from(&ExtFields::new()).unwrap_err();
    assert!(
        matches!(e, RemotingError::MissingField { field: "clientID" }),
        "{e}"
    );
}

#[test]
fn invalid_required_number_is_invalid_field() {
    let e = QueryConsumerOffsetRequestHeader::read_from(&ext(&[
        ("consumerGroup", "g"),
        ("topic", "T"),
        ("queueId", "x1"),
    ]))
    .unwrap_err();
    match e {
        RemotingError::InvalidField { field, value } => {
            assert_eq!((field, value.as_str()), ("queueId", "x1"))
        }
        other => panic!("{other}"),
    }
    let e = GetMaxOffsetResponseHeader::read_from(&ext(&[("offset", "99999999999999999999")]))
        .unwrap_err();
    assert!(matches!(
        e,
        RemotingError::InvalidField {
            field: "offset",
            ..
        }
    ));
}

#[test]
fn lenient_values_like_java() {
    // Optional fields that do not parse count as absent; defaults apply when absent.
    let h = ResetOffsetRequestHeader::read_from(&ext(&[
        ("group", "g"),
        ("topic", "T"),
        ("timestamp", " 5 "),
        ("isForce", "TRUE"),
        ("offset", "abc"),
    ]))
    .unwrap();
    assert_eq!(
        (h.queue_id, h.offset, h.timestamp, h.is_force),
        (-1, None, 5, true)
    );
    let h =
        GetMaxOffsetRequestHeader::read_from(&ext(&[("topic", "T"), ("queueId", "+3")])).unwrap();
    assert!(h.committed);
    assert_eq!(h.queue_id, 3);
    let h = SearchOffsetRequestHeader::read_from(&ext(&[
        ("topic", "T"),
        ("queueId", "0"),
        ("timestamp", "1"),
        ("boundaryType", "upper"),
    ]))
    .unwrap();
    assert_eq!(h.boundary_type, Some(BoundaryType::Upper));
    for (text, want) in [
        ("true", true),
        ("True", true),
        ("1", true),
        ("0", false),
        ("false", false),
        ("yes", false),
    ] {
        let h = QueryDataVersionResponseHeader::read_from(&ext(&[("changed", text)])).unwrap();
        assert_eq!(h.changed, want, "{text}");
    }
    // Unknown ext fields (ACL from C++) are ignored.
    let h = GetRouteInfoRequestHeader::read_from(&ext(&[
        ("topic", "T"),
        ("AccessKey", ""),
        ("Signature", "x"),
    ]))
    .unwrap();
    assert_eq!(h, GetRouteInfoRequestHeader::new("T"));
}
