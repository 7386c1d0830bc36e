//! Request and response codes (docs/protocol/frame.md §10; docs/protocol/README.md §2), as Apache RocketMQ's `RequestCode`,
//! `RemotingSysResponseCode` and `ResponseCode` define them.
//!
//! The codes are plain `i32` constants (not enums) because the wire carries any `i32` and peers
//! must cope with codes they do not know (answer `REQUEST_CODE_NOT_SUPPORTED`).

/// Request codes: the `code` of a request frame.
///
/// Every code of Apache RocketMQ's `RequestCode` (5.x), so that logs can name whatever a peer sends;
/// the toolkit implements the subset in docs/protocol/README.md §2.
///
/// ```
/// use rocketmq_rs_remoting::protocol::code::RequestCode;
/// assert_eq!(RequestCode::SEND_MESSAGE_V2, 310);
/// assert_eq!(RequestCode::name(105), Some("GET_ROUTEINFO_BY_TOPIC"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestCode;

impl RequestCode {
    /// `SEND_MESSAGE` (10).
    pub const SEND_MESSAGE: i32 = 10;
    /// `PULL_MESSAGE` (11).
    pub const PULL_MESSAGE: i32 = 11;
    /// `QUERY_MESSAGE` (12).
    pub const QUERY_MESSAGE: i32 = 12;
    /// `QUERY_BROKER_OFFSET` (13).
    pub const QUERY_BROKER_OFFSET: i32 = 13;
    /// `QUERY_CONSUMER_OFFSET` (14).
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    /// `UPDATE_CONSUMER_OFFSET` (15).
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    /// `UPDATE_AND_CREATE_TOPIC` (17).
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    /// `UPDATE_AND_CREATE_TOPIC_LIST` (18).
    pub const UPDATE_AND_CREATE_TOPIC_LIST: i32 = 18;
    /// `GET_ALL_TOPIC_CONFIG` (21).
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    /// `GET_TOPIC_CONFIG_LIST` (22).
    pub const GET_TOPIC_CONFIG_LIST: i32 = 22;
    /// `GET_TOPIC_NAME_LIST` (23).
    pub const GET_TOPIC_NAME_LIST: i32 = 23;
    /// `UPDATE_BROKER_CONFIG` (25).
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    /// `GET_BROKER_CONFIG` (26).
    pub const GET_BROKER_CONFIG: i32 = 26;
    /// `TRIGGER_DELETE_FILES` (27).
    pub const TRIGGER_DELETE_FILES: i32 = 27;
    /// `GET_BROKER_RUNTIME_INFO` (28).
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    /// `SEARCH_OFFSET_BY_TIMESTAMP` (29).
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    /// `GET_MAX_OFFSET` (30).
    pub const GET_MAX_OFFSET: i32 = 30;
    /// `GET_MIN_OFFSET` (31).
    pub const GET_MIN_OFFSET: i32 = 31;
    /// `GET_EARLIEST_MSG_STORETIME` (32).
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    /// `VIEW_MESSAGE_BY_ID` (33).
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    /// `HEART_BEAT` (34).
    pub const HEART_BEAT: i32 = 34;
    /// `UNREGISTER_CLIENT` (35).
    pub const UNREGISTER_CLIENT: i32 = 35;
    /// `CONSUMER_SEND_MSG_BACK` (36).
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    /// `END_TRANSACTION` (37).
    pub const END_TRANSACTION: i32 = 37;
    /// `GET_CONSUMER_LIST_BY_GROUP` (38).
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    /// `CHECK_TRANSACTION_STATE` (39).
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    /// `NOTIFY_CONSUMER_IDS_CHANGED` (40).
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    /// `LOCK_BATCH_MQ` (41).
    pub const LOCK_BATCH_MQ: i32 = 41;
    /// `UNLOCK_BATCH_MQ` (42).
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    /// `GET_ALL_CONSUMER_OFFSET` (43).
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    /// `GET_ALL_DELAY_OFFSET` (45).
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    /// `CHECK_CLIENT_CONFIG` (46).
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    /// `GET_CLIENT_CONFIG` (47).
    pub const GET_CLIENT_CONFIG: i32 = 47;
    /// `GET_TIMER_CHECK_POINT` (60).
    pub const GET_TIMER_CHECK_POINT: i32 = 60;
    /// `GET_TIMER_METRICS` (61).
    pub const GET_TIMER_METRICS: i32 = 61;
    /// `POP_MESSAGE` (200050).
    pub const POP_MESSAGE: i32 = 200050;
    /// `ACK_MESSAGE` (200051).
    pub const ACK_MESSAGE: i32 = 200051;
    /// `BATCH_ACK_MESSAGE` (200151).
    pub const BATCH_ACK_MESSAGE: i32 = 200151;
    /// `PEEK_MESSAGE` (200052).
    pub const PEEK_MESSAGE: i32 = 200052;
    /// `CHANGE_MESSAGE_INVISIBLETIME` (200053).
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    /// `NOTIFICATION` (200054).
    pub const NOTIFICATION: i32 = 200054;
    /// `POLLING_INFO` (200055).
    pub const POLLING_INFO: i32 = 200055;
    /// `POP_ROLLBACK` (200056).
    pub const POP_ROLLBACK: i32 = 200056;
    /// `PUT_KV_CONFIG` (100).
    pub const PUT_KV_CONFIG: i32 = 100;
    /// `GET_KV_CONFIG` (101).
    pub const GET_KV_CONFIG: i32 = 101;
    /// `DELETE_KV_CONFIG` (102).
    pub const DELETE_KV_CONFIG: i32 = 102;
    /// `REGISTER_BROKER` (103).
    pub const REGISTER_BROKER: i32 = 103;
    /// `UNREGISTER_BROKER` (104).
    pub const UNREGISTER_BROKER: i32 = 104;
    /// `GET_ROUTEINFO_BY_TOPIC` (105).
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    /// `GET_BROKER_CLUSTER_INFO` (106).
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    /// `UPDATE_AND_CREATE_SUBSCRIPTIONGROUP` (200).
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    /// `GET_ALL_SUBSCRIPTIONGROUP_CONFIG` (201).
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    /// `GET_TOPIC_STATS_INFO` (202).
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    /// `GET_CONSUMER_CONNECTION_LIST` (203).
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    /// `GET_PRODUCER_CONNECTION_LIST` (204).
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    /// `WIPE_WRITE_PERM_OF_BROKER` (205).
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    /// `GET_ALL_TOPIC_LIST_FROM_NAMESERVER` (206).
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    /// `DELETE_SUBSCRIPTIONGROUP` (207).
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    /// `GET_CONSUME_STATS` (208).
    pub const GET_CONSUME_STATS: i32 = 208;
    /// `SUSPEND_CONSUMER` (209).
    pub const SUSPEND_CONSUMER: i32 = 209;
    /// `RESUME_CONSUMER` (210).
    pub const RESUME_CONSUMER: i32 = 210;
    /// `RESET_CONSUMER_OFFSET_IN_CONSUMER` (211).
    pub const RESET_CONSUMER_OFFSET_IN_CONSUMER: i32 = 211;
    /// `RESET_CONSUMER_OFFSET_IN_BROKER` (212).
    pub const RESET_CONSUMER_OFFSET_IN_BROKER: i32 = 212;
    /// `ADJUST_CONSUMER_THREAD_POOL` (213).
    pub const ADJUST_CONSUMER_THREAD_POOL: i32 = 213;
    /// `WHO_CONSUME_THE_MESSAGE` (214).
    pub const WHO_CONSUME_THE_MESSAGE: i32 = 214;
    /// `DELETE_TOPIC_IN_BROKER` (215).
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    /// `DELETE_TOPIC_IN_NAMESRV` (216).
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    /// `REGISTER_TOPIC_IN_NAMESRV` (217).
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    /// `GET_KVLIST_BY_NAMESPACE` (219).
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    /// `RESET_CONSUMER_CLIENT_OFFSET` (220).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    /// `GET_CONSUMER_STATUS_FROM_CLIENT` (221).
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    /// `INVOKE_BROKER_TO_RESET_OFFSET` (222).
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    /// `INVOKE_BROKER_TO_GET_CONSUMER_STATUS` (223).
    pub const INVOKE_BROKER_TO_GET_CONSUMER_STATUS: i32 = 223;
    /// `QUERY_TOPIC_CONSUME_BY_WHO` (300).
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    /// `GET_TOPICS_BY_CLUSTER` (224).
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    /// `UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST` (225).
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST: i32 = 225;
    /// `QUERY_TOPICS_BY_CONSUMER` (343).
    pub const QUERY_TOPICS_BY_CONSUMER: i32 = 343;
    /// `QUERY_SUBSCRIPTION_BY_CONSUMER` (345).
    pub const QUERY_SUBSCRIPTION_BY_CONSUMER: i32 = 345;
    /// `REGISTER_FILTER_SERVER` (301).
    pub const REGISTER_FILTER_SERVER: i32 = 301;
    /// `REGISTER_MESSAGE_FILTER_CLASS` (302).
    pub const REGISTER_MESSAGE_FILTER_CLASS: i32 = 302;
    /// `QUERY_CONSUME_TIME_SPAN` (303).
    pub const QUERY_CONSUME_TIME_SPAN: i32 = 303;
    /// `GET_SYSTEM_TOPIC_LIST_FROM_NS` (304).
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    /// `GET_SYSTEM_TOPIC_LIST_FROM_BROKER` (305).
    pub const GET_SYSTEM_TOPIC_LIST_FROM_BROKER: i32 = 305;
    /// `CLEAN_EXPIRED_CONSUMEQUEUE` (306).
    pub const CLEAN_EXPIRED_CONSUMEQUEUE: i32 = 306;
    /// `GET_CONSUMER_RUNNING_INFO` (307).
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    /// `QUERY_CORRECTION_OFFSET` (308).
    pub const QUERY_CORRECTION_OFFSET: i32 = 308;
    /// `CONSUME_MESSAGE_DIRECTLY` (309).
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    /// `SEND_MESSAGE_V2` (310).
    pub const SEND_MESSAGE_V2: i32 = 310;
    /// `GET_UNIT_TOPIC_LIST` (311).
    pub const GET_UNIT_TOPIC_LIST: i32 = 311;
    /// `GET_HAS_UNIT_SUB_TOPIC_LIST` (312).
    pub const GET_HAS_UNIT_SUB_TOPIC_LIST: i32 = 312;
    /// `GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST` (313).
    pub const GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: i32 = 313;
    /// `CLONE_GROUP_OFFSET` (314).
    pub const CLONE_GROUP_OFFSET: i32 = 314;
    /// `VIEW_BROKER_STATS_DATA` (315).
    pub const VIEW_BROKER_STATS_DATA: i32 = 315;
    /// `CLEAN_UNUSED_TOPIC` (316).
    pub const CLEAN_UNUSED_TOPIC: i32 = 316;
    /// `GET_BROKER_CONSUME_STATS` (317).
    pub const GET_BROKER_CONSUME_STATS: i32 = 317;
    /// `UPDATE_NAMESRV_CONFIG` (318).
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    /// `GET_NAMESRV_CONFIG` (319).
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    /// `SEND_BATCH_MESSAGE` (320).
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    /// `QUERY_CONSUME_QUEUE` (321).
    pub const QUERY_CONSUME_QUEUE: i32 = 321;
    /// `QUERY_DATA_VERSION` (322).
    pub const QUERY_DATA_VERSION: i32 = 322;
    /// `RESUME_CHECK_HALF_MESSAGE` (323).
    pub const RESUME_CHECK_HALF_MESSAGE: i32 = 323;
    /// `SEND_REPLY_MESSAGE` (324).
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    /// `SEND_REPLY_MESSAGE_V2` (325).
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    /// `PUSH_REPLY_MESSAGE_TO_CLIENT` (326).
    pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;
    /// `ADD_WRITE_PERM_OF_BROKER` (327).
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    /// `GET_ALL_PRODUCER_INFO` (328).
    pub const GET_ALL_PRODUCER_INFO: i32 = 328;
    /// `DELETE_EXPIRED_COMMITLOG` (329).
    pub const DELETE_EXPIRED_COMMITLOG: i32 = 329;
    /// `GET_TOPIC_CONFIG` (351).
    pub const GET_TOPIC_CONFIG: i32 = 351;
    /// `GET_SUBSCRIPTIONGROUP_CONFIG` (352).
    pub const GET_SUBSCRIPTIONGROUP_CONFIG: i32 = 352;
    /// `UPDATE_AND_GET_GROUP_FORBIDDEN` (353).
    pub const UPDATE_AND_GET_GROUP_FORBIDDEN: i32 = 353;
    /// `CHECK_ROCKSDB_CQ_WRITE_PROGRESS` (354).
    pub const CHECK_ROCKSDB_CQ_WRITE_PROGRESS: i32 = 354;
    /// `EXPORT_ROCKSDB_CONFIG_TO_JSON` (355).
    pub const EXPORT_ROCKSDB_CONFIG_TO_JSON: i32 = 355;
    /// `LITE_PULL_MESSAGE` (361).
    pub const LITE_PULL_MESSAGE: i32 = 361;
    /// `RECALL_MESSAGE` (370).
    pub const RECALL_MESSAGE: i32 = 370;
    /// `QUERY_ASSIGNMENT` (400).
    pub const QUERY_ASSIGNMENT: i32 = 400;
    /// `SET_MESSAGE_REQUEST_MODE` (401).
    pub const SET_MESSAGE_REQUEST_MODE: i32 = 401;
    /// `GET_ALL_MESSAGE_REQUEST_MODE` (402).
    pub const GET_ALL_MESSAGE_REQUEST_MODE: i32 = 402;
    /// `UPDATE_AND_CREATE_STATIC_TOPIC` (513).
    pub const UPDATE_AND_CREATE_STATIC_TOPIC: i32 = 513;
    /// `GET_BROKER_MEMBER_GROUP` (901).
    pub const GET_BROKER_MEMBER_GROUP: i32 = 901;
    /// `ADD_BROKER` (902).
    pub const ADD_BROKER: i32 = 902;
    /// `REMOVE_BROKER` (903).
    pub const REMOVE_BROKER: i32 = 903;
    /// `BROKER_HEARTBEAT` (904).
    pub const BROKER_HEARTBEAT: i32 = 904;
    /// `NOTIFY_MIN_BROKER_ID_CHANGE` (905).
    pub const NOTIFY_MIN_BROKER_ID_CHANGE: i32 = 905;
    /// `EXCHANGE_BROKER_HA_INFO` (906).
    pub const EXCHANGE_BROKER_HA_INFO: i32 = 906;
    /// `GET_BROKER_HA_STATUS` (907).
    pub const GET_BROKER_HA_STATUS: i32 = 907;
    /// `RESET_MASTER_FLUSH_OFFSET` (908).
    pub const RESET_MASTER_FLUSH_OFFSET: i32 = 908;
    /// `CONTROLLER_ALTER_SYNC_STATE_SET` (1001).
    pub const CONTROLLER_ALTER_SYNC_STATE_SET: i32 = 1001;
    /// `CONTROLLER_ELECT_MASTER` (1002).
    pub const CONTROLLER_ELECT_MASTER: i32 = 1002;
    /// `CONTROLLER_REGISTER_BROKER` (1003).
    pub const CONTROLLER_REGISTER_BROKER: i32 = 1003;
    /// `CONTROLLER_GET_REPLICA_INFO` (1004).
    pub const CONTROLLER_GET_REPLICA_INFO: i32 = 1004;
    /// `CONTROLLER_GET_METADATA_INFO` (1005).
    pub const CONTROLLER_GET_METADATA_INFO: i32 = 1005;
    /// `CONTROLLER_GET_SYNC_STATE_DATA` (1006).
    pub const CONTROLLER_GET_SYNC_STATE_DATA: i32 = 1006;
    /// `GET_BROKER_EPOCH_CACHE` (1007).
    pub const GET_BROKER_EPOCH_CACHE: i32 = 1007;
    /// `NOTIFY_BROKER_ROLE_CHANGED` (1008).
    pub const NOTIFY_BROKER_ROLE_CHANGED: i32 = 1008;
    /// `UPDATE_CONTROLLER_CONFIG` (1009).
    pub const UPDATE_CONTROLLER_CONFIG: i32 = 1009;
    /// `GET_CONTROLLER_CONFIG` (1010).
    pub const GET_CONTROLLER_CONFIG: i32 = 1010;
    /// `CLEAN_BROKER_DATA` (1011).
    pub const CLEAN_BROKER_DATA: i32 = 1011;
    /// `CONTROLLER_GET_NEXT_BROKER_ID` (1012).
    pub const CONTROLLER_GET_NEXT_BROKER_ID: i32 = 1012;
    /// `CONTROLLER_APPLY_BROKER_ID` (1013).
    pub const CONTROLLER_APPLY_BROKER_ID: i32 = 1013;
    /// `UPDATE_COLD_DATA_FLOW_CTR_CONFIG` (2001).
    pub const UPDATE_COLD_DATA_FLOW_CTR_CONFIG: i32 = 2001;
    /// `REMOVE_COLD_DATA_FLOW_CTR_CONFIG` (2002).
    pub const REMOVE_COLD_DATA_FLOW_CTR_CONFIG: i32 = 2002;
    /// `GET_COLD_DATA_FLOW_CTR_INFO` (2003).
    pub const GET_COLD_DATA_FLOW_CTR_INFO: i32 = 2003;
    /// `SET_COMMITLOG_READ_MODE` (2004).
    pub const SET_COMMITLOG_READ_MODE: i32 = 2004;
    /// `AUTH_CREATE_USER` (3001).
    pub const AUTH_CREATE_USER: i32 = 3001;
    /// `AUTH_UPDATE_USER` (3002).
    pub const AUTH_UPDATE_USER: i32 = 3002;
    /// `AUTH_DELETE_USER` (3003).
    pub const AUTH_DELETE_USER: i32 = 3003;
    /// `AUTH_GET_USER` (3004).
    pub const AUTH_GET_USER: i32 = 3004;
    /// `AUTH_LIST_USER` (3005).
    pub const AUTH_LIST_USER: i32 = 3005;
    /// `AUTH_CREATE_ACL` (3006).
    pub const AUTH_CREATE_ACL: i32 = 3006;
    /// `AUTH_UPDATE_ACL` (3007).
    pub const AUTH_UPDATE_ACL: i32 = 3007;
    /// `AUTH_DELETE_ACL` (3008).
    pub const AUTH_DELETE_ACL: i32 = 3008;
    /// `AUTH_GET_ACL` (3009).
    pub const AUTH_GET_ACL: i32 = 3009;
    /// `AUTH_LIST_ACL` (3010).
    pub const AUTH_LIST_ACL: i32 = 3010;

    const NAMES: &'static [(i32, &'static str)] = &[
        (10, "SEND_MESSAGE"),
        (11, "PULL_MESSAGE"),
        (12, "QUERY_MESSAGE"),
        (13, "QUERY_BROKER_OFFSET"),
        (14, "QUERY_CONSUMER_OFFSET"),
        (15, "UPDATE_CONSUMER_OFFSET"),
        (17, "UPDATE_AND_CREATE_TOPIC"),
        (18, "UPDATE_AND_CREATE_TOPIC_LIST"),
        (21, "GET_ALL_TOPIC_CONFIG"),
        (22, "GET_TOPIC_CONFIG_LIST"),
        (23, "GET_TOPIC_NAME_LIST"),
        (25, "UPDATE_BROKER_CONFIG"),
        (26, "GET_BROKER_CONFIG"),
        (27, "TRIGGER_DELETE_FILES"),
        (28, "GET_BROKER_RUNTIME_INFO"),
        (29, "SEARCH_OFFSET_BY_TIMESTAMP"),
        (30, "GET_MAX_OFFSET"),
        (31, "GET_MIN_OFFSET"),
        (32, "GET_EARLIEST_MSG_STORETIME"),
        (33, "VIEW_MESSAGE_BY_ID"),
        (34, "HEART_BEAT"),
        (35, "UNREGISTER_CLIENT"),
        (36, "CONSUMER_SEND_MSG_BACK"),
        (37, "END_TRANSACTION"),
        (38, "GET_CONSUMER_LIST_BY_GROUP"),
        (39, "CHECK_TRANSACTION_STATE"),
        (40, "NOTIFY_CONSUMER_IDS_CHANGED"),
        (41, "LOCK_BATCH_MQ"),
        (42, "UNLOCK_BATCH_MQ"),
        (43, "GET_ALL_CONSUMER_OFFSET"),
        (45, "GET_ALL_DELAY_OFFSET"),
        (46, "CHECK_CLIENT_CONFIG"),
        (47, "GET_CLIENT_CONFIG"),
        (60, "GET_TIMER_CHECK_POINT"),
        (61, "GET_TIMER_METRICS"),
        (100, "PUT_KV_CONFIG"),
        (101, "GET_KV_CONFIG"),
        (102, "DELETE_KV_CONFIG"),
        (103, "REGISTER_BROKER"),
        (104, "UNREGISTER_BROKER"),
        (105, "GET_ROUTEINFO_BY_TOPIC"),
        (106, "GET_BROKER_CLUSTER_INFO"),
        (200, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP"),
        (201, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG"),
        (202, "GET_TOPIC_STATS_INFO"),
        (203, "GET_CONSUMER_CONNECTION_LIST"),
        (204, "GET_PRODUCER_CONNECTION_LIST"),
        (205, "WIPE_WRITE_PERM_OF_BROKER"),
        (206, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER"),
        (207, "DELETE_SUBSCRIPTIONGROUP"),
        (208, "GET_CONSUME_STATS"),
        (209, "SUSPEND_CONSUMER"),
        (210, "RESUME_CONSUMER"),
        (211, "RESET_CONSUMER_OFFSET_IN_CONSUMER"),
        (212, "RESET_CONSUMER_OFFSET_IN_BROKER"),
        (213, "ADJUST_CONSUMER_THREAD_POOL"),
        (214, "WHO_CONSUME_THE_MESSAGE"),
        (215, "DELETE_TOPIC_IN_BROKER"),
        (216, "DELETE_TOPIC_IN_NAMESRV"),
        (217, "REGISTER_TOPIC_IN_NAMESRV"),
        (219, "GET_KVLIST_BY_NAMESPACE"),
        (220, "RESET_CONSUMER_CLIENT_OFFSET"),
        (221, "GET_CONSUMER_STATUS_FROM_CLIENT"),
        (222, "INVOKE_BROKER_TO_RESET_OFFSET"),
        (223, "INVOKE_BROKER_TO_GET_CONSUMER_STATUS"),
        (224, "GET_TOPICS_BY_CLUSTER"),
        (225, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST"),
        (300, "QUERY_TOPIC_CONSUME_BY_WHO"),
        (301, "REGISTER_FILTER_SERVER"),
        (302, "REGISTER_MESSAGE_FILTER_CLASS"),
        (303, "QUERY_CONSUME_TIME_SPAN"),
        (304, "GET_SYSTEM_TOPIC_LIST_FROM_NS"),
        (305, "GET_SYSTEM_TOPIC_LIST_FROM_BROKER"),
        (306, "CLEAN_EXPIRED_CONSUMEQUEUE"),
        (307, "GET_CONSUMER_RUNNING_INFO"),
        (308, "QUERY_CORRECTION_OFFSET"),
        (309, "CONSUME_MESSAGE_DIRECTLY"),
        (310, "SEND_MESSAGE_V2"),
        (311, "GET_UNIT_TOPIC_LIST"),
        (312, "GET_HAS_UNIT_SUB_TOPIC_LIST"),
        (313, "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST"),
        (314, "CLONE_GROUP_OFFSET"),
        (315, "VIEW_BROKER_STATS_DATA"),
        (316, "CLEAN_UNUSED_TOPIC"),
        (317, "GET_BROKER_CONSUME_STATS"),
        (318, "UPDATE_NAMESRV_CONFIG"),
        (319, "GET_NAMESRV_CONFIG"),
        (320, "SEND_BATCH_MESSAGE"),
        (321, "QUERY_CONSUME_QUEUE"),
        (322, "QUERY_DATA_VERSION"),
        (323, "RESUME_CHECK_HALF_MESSAGE"),
        (324, "SEND_REPLY_MESSAGE"),
        (325, "SEND_REPLY_MESSAGE_V2"),
        (326, "PUSH_REPLY_MESSAGE_TO_CLIENT"),
        (327, "ADD_WRITE_PERM_OF_BROKER"),
        (328, "GET_ALL_PRODUCER_INFO"),
        (329, "DELETE_EXPIRED_COMMITLOG"),
        (343, "QUERY_TOPICS_BY_CONSUMER"),
        (345, "QUERY_SUBSCRIPTION_BY_CONSUMER"),
        (351, "GET_TOPIC_CONFIG"),
        (352, "GET_SUBSCRIPTIONGROUP_CONFIG"),
        (353, "UPDATE_AND_GET_GROUP_FORBIDDEN"),
        (354, "CHECK_ROCKSDB_CQ_WRITE_PROGRESS"),
        (355, "EXPORT_ROCKSDB_CONFIG_TO_JSON"),
        (361, "LITE_PULL_MESSAGE"),
        (370, "RECALL_MESSAGE"),
        (400, "QUERY_ASSIGNMENT"),
        (401, "SET_MESSAGE_REQUEST_MODE"),
        (402, "GET_ALL_MESSAGE_REQUEST_MODE"),
        (513, "UPDATE_AND_CREATE_STATIC_TOPIC"),
        (901, "GET_BROKER_MEMBER_GROUP"),
        (902, "ADD_BROKER"),
        (903, "REMOVE_BROKER"),
        (904, "BROKER_HEARTBEAT"),
        (905, "NOTIFY_MIN_BROKER_ID_CHANGE"),
        (906, "EXCHANGE_BROKER_HA_INFO"),
        (907, "GET_BROKER_HA_STATUS"),
        (908, "RESET_MASTER_FLUSH_OFFSET"),
        (1001, "CONTROLLER_ALTER_SYNC_STATE_SET"),
        (1002, "CONTROLLER_ELECT_MASTER"),
        (1003, "CONTROLLER_REGISTER_BROKER"),
        (1004, "CONTROLLER_GET_REPLICA_INFO"),
        (1005, "CONTROLLER_GET_METADATA_INFO"),
        (1006, "CONTROLLER_GET_SYNC_STATE_DATA"),
        (1007, "GET_BROKER_EPOCH_CACHE"),
        (1008, "NOTIFY_BROKER_ROLE_CHANGED"),
        (1009, "UPDATE_CONTROLLER_CONFIG"),
        (1010, "GET_CONTROLLER_CONFIG"),
        (1011, "CLEAN_BROKER_DATA"),
        (1012, "CONTROLLER_GET_NEXT_BROKER_ID"),
        (1013, "CONTROLLER_APPLY_BROKER_ID"),
        (2001, "UPDATE_COLD_DATA_FLOW_CTR_CONFIG"),
        (2002, "REMOVE_COLD_DATA_FLOW_CTR_CONFIG"),
        (2003, "GET_COLD_DATA_FLOW_CTR_INFO"),
        (2004, "SET_COMMITLOG_READ_MODE"),
        (3001, "AUTH_CREATE_USER"),
        (3002, "AUTH_UPDATE_USER"),
        (3003, "AUTH_DELETE_USER"),
        (3004, "AUTH_GET_USER"),
        (3005, "AUTH_LIST_USER"),
        (3006, "AUTH_CREATE_ACL"),
        (3007, "AUTH_UPDATE_ACL"),
        (3008, "AUTH_DELETE_ACL"),
        (3009, "AUTH_GET_ACL"),
        (3010, "AUTH_LIST_ACL"),
        (200050, "POP_MESSAGE"),
        (200051, "ACK_MESSAGE"),
        (200052, "PEEK_MESSAGE"),
        (200053, "CHANGE_MESSAGE_INVISIBLETIME"),
        (200054, "NOTIFICATION"),
        (200055, "POLLING_INFO"),
        (200056, "POP_ROLLBACK"),
        (200151, "BATCH_ACK_MESSAGE"),
    ];

    /// The Java constant name of `code`, for logs and tracing; `None` for unknown codes.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::code::RequestCode;
    /// assert_eq!(RequestCode::name(RequestCode::HEART_BEAT), Some("HEART_BEAT"));
    /// assert_eq!(RequestCode::name(-5), None);
    /// ```
    pub fn name(code: i32) -> Option<&'static str> {
        Self::NAMES
            .binary_search_by_key(&code, |e| e.0)
            .ok()
            .map(|i| Self::NAMES[i].1)
    }
}

/// Response codes: the `code` of a response frame (system codes 0–4 and business codes).
///
/// ```
/// use rocketmq_rs_remoting::protocol::code::ResponseCode;
/// assert_eq!(ResponseCode::PULL_NOT_FOUND, 19);
/// assert_eq!(ResponseCode::name(17), Some("TOPIC_NOT_EXIST"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ResponseCode;

impl ResponseCode {
    /// `SUCCESS` (0).
    pub const SUCCESS: i32 = 0;
    /// `SYSTEM_ERROR` (1).
    pub const SYSTEM_ERROR: i32 = 1;
    /// `SYSTEM_BUSY` (2).
    pub const SYSTEM_BUSY: i32 = 2;
    /// `REQUEST_CODE_NOT_SUPPORTED` (3).
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    /// `TRANSACTION_FAILED` (4).
    pub const TRANSACTION_FAILED: i32 = 4;
    /// `FLUSH_DISK_TIMEOUT` (10).
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    /// `SLAVE_NOT_AVAILABLE` (11).
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    /// `FLUSH_SLAVE_TIMEOUT` (12).
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    /// `MESSAGE_ILLEGAL` (13).
    pub const MESSAGE_ILLEGAL: i32 = 13;
    /// `SERVICE_NOT_AVAILABLE` (14).
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    /// `VERSION_NOT_SUPPORTED` (15).
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    /// `NO_PERMISSION` (16).
    pub const NO_PERMISSION: i32 = 16;
    /// `TOPIC_NOT_EXIST` (17).
    pub const TOPIC_NOT_EXIST: i32 = 17;
    /// `TOPIC_EXIST_ALREADY` (18).
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    /// `PULL_NOT_FOUND` (19).
    pub const PULL_NOT_FOUND: i32 = 19;
    /// `PULL_RETRY_IMMEDIATELY` (20).
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    /// `PULL_OFFSET_MOVED` (21).
    pub const PULL_OFFSET_MOVED: i32 = 21;
    /// `QUERY_NOT_FOUND` (22).
    pub const QUERY_NOT_FOUND: i32 = 22;
    /// `SUBSCRIPTION_PARSE_FAILED` (23).
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    /// `SUBSCRIPTION_NOT_EXIST` (24).
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    /// `SUBSCRIPTION_NOT_LATEST` (25).
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    /// `SUBSCRIPTION_GROUP_NOT_EXIST` (26).
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    /// `FILTER_DATA_NOT_EXIST` (27).
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    /// `FILTER_DATA_NOT_LATEST` (28).
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    /// `INVALID_PARAMETER` (29).
    pub const INVALID_PARAMETER: i32 = 29;
    /// `TRANSACTION_SHOULD_COMMIT` (200).
    pub const TRANSACTION_SHOULD_COMMIT: i32 = 200;
    /// `TRANSACTION_SHOULD_ROLLBACK` (201).
    pub const TRANSACTION_SHOULD_ROLLBACK: i32 = 201;
    /// `TRANSACTION_STATE_UNKNOW` (202).
    pub const TRANSACTION_STATE_UNKNOW: i32 = 202;
    /// `TRANSACTION_STATE_GROUP_WRONG` (203).
    pub const TRANSACTION_STATE_GROUP_WRONG: i32 = 203;
    /// `NO_BUYER_ID` (204).
    pub const NO_BUYER_ID: i32 = 204;
    /// `NOT_IN_CURRENT_UNIT` (205).
    pub const NOT_IN_CURRENT_UNIT: i32 = 205;
    /// `CONSUMER_NOT_ONLINE` (206).
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    /// `CONSUME_MSG_TIMEOUT` (207).
    pub const CONSUME_MSG_TIMEOUT: i32 = 207;
    /// `NO_MESSAGE` (208).
    pub const NO_MESSAGE: i32 = 208;
    /// `POLLING_FULL` (209).
    pub const POLLING_FULL: i32 = 209;
    /// `POLLING_TIMEOUT` (210).
    pub const POLLING_TIMEOUT: i32 = 210;
    /// `BROKER_NOT_EXIST` (211).
    pub const BROKER_NOT_EXIST: i32 = 211;
    /// `BROKER_DISPATCH_NOT_COMPLETE` (212).
    pub const BROKER_DISPATCH_NOT_COMPLETE: i32 = 212;
    /// `BROADCAST_CONSUMPTION` (213).
    pub const BROADCAST_CONSUMPTION: i32 = 213;
    /// `FLOW_CONTROL` (215).
    pub const FLOW_CONTROL: i32 = 215;
    /// `NOT_LEADER_FOR_QUEUE` (501).
    pub const NOT_LEADER_FOR_QUEUE: i32 = 501;
    /// `ILLEGAL_OPERATION` (604).
    pub const ILLEGAL_OPERATION: i32 = 604;
    /// `RPC_UNKNOWN` (-1000).
    pub const RPC_UNKNOWN: i32 = -1000;
    /// `RPC_ADDR_IS_NULL` (-1002).
    pub const RPC_ADDR_IS_NULL: i32 = -1002;
    /// `RPC_SEND_TO_CHANNEL_FAILED` (-1004).
    pub const RPC_SEND_TO_CHANNEL_FAILED: i32 = -1004;
    /// `RPC_TIME_OUT` (-1006).
    pub const RPC_TIME_OUT: i32 = -1006;
    /// `GO_AWAY` (1500).
    pub const GO_AWAY: i32 = 1500;
    /// `CONTROLLER_FENCED_MASTER_EPOCH` (2000).
    pub const CONTROLLER_FENCED_MASTER_EPOCH: i32 = 2000;
    /// `CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH` (2001).
    pub const CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH: i32 = 2001;
    /// `CONTROLLER_INVALID_MASTER` (2002).
    pub const CONTROLLER_INVALID_MASTER: i32 = 2002;
    /// `CONTROLLER_INVALID_REPLICAS` (2003).
    pub const CONTROLLER_INVALID_REPLICAS: i32 = 2003;
    /// `CONTROLLER_MASTER_NOT_AVAILABLE` (2004).
    pub const CONTROLLER_MASTER_NOT_AVAILABLE: i32 = 2004;
    /// `CONTROLLER_INVALID_REQUEST` (2005).
    pub const CONTROLLER_INVALID_REQUEST: i32 = 2005;
    /// `CONTROLLER_BROKER_NOT_ALIVE` (2006).
    pub const CONTROLLER_BROKER_NOT_ALIVE: i32 = 2006;
    /// `CONTROLLER_NOT_LEADER` (2007).
    pub const CONTROLLER_NOT_LEADER: i32 = 2007;
    /// `CONTROLLER_BROKER_METADATA_NOT_EXIST` (2008).
    pub const CONTROLLER_BROKER_METADATA_NOT_EXIST: i32 = 2008;
    /// `CONTROLLER_INVALID_CLEAN_BROKER_METADATA` (2009).
    pub const CONTROLLER_INVALID_CLEAN_BROKER_METADATA: i32 = 2009;
    /// `CONTROLLER_BROKER_NEED_TO_BE_REGISTERED` (2010).
    pub const CONTROLLER_BROKER_NEED_TO_BE_REGISTERED: i32 = 2010;
    /// `CONTROLLER_MASTER_STILL_EXIST` (2011).
    pub const CONTROLLER_MASTER_STILL_EXIST: i32 = 2011;
    /// `CONTROLLER_ELECT_MASTER_FAILED` (2012).
    pub const CONTROLLER_ELECT_MASTER_FAILED: i32 = 2012;
    /// `CONTROLLER_ALTER_SYNC_STATE_SET_FAILED` (2013).
    pub const CONTROLLER_ALTER_SYNC_STATE_SET_FAILED: i32 = 2013;
    /// `CONTROLLER_BROKER_ID_INVALID` (2014).
    pub const CONTROLLER_BROKER_ID_INVALID: i32 = 2014;
    /// `CONTROLLER_JRAFT_INTERNAL_ERROR` (2015).
    pub const CONTROLLER_JRAFT_INTERNAL_ERROR: i32 = 2015;
    /// `CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS` (2016).
    pub const CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS: i32 = 2016;
    /// `USER_NOT_EXIST` (3001).
    pub const USER_NOT_EXIST: i32 = 3001;
    /// `POLICY_NOT_EXIST` (3002).
    pub const POLICY_NOT_EXIST: i32 = 3002;

    const NAMES: &'static [(i32, &'static str)] = &[
        (-1006, "RPC_TIME_OUT"),
        (-1004, "RPC_SEND_TO_CHANNEL_FAILED"),
        (-1002, "RPC_ADDR_IS_NULL"),
        (-1000, "RPC_UNKNOWN"),
        (0, "SUCCESS"),
        (1, "SYSTEM_ERROR"),
        (2, "SYSTEM_BUSY"),
        (3, "REQUEST_CODE_NOT_SUPPORTED"),
        (4, "TRANSACTION_FAILED"),
        (10, "FLUSH_DISK_TIMEOUT"),
        (11, "SLAVE_NOT_AVAILABLE"),
        (12, "FLUSH_SLAVE_TIMEOUT"),
        (13, "MESSAGE_ILLEGAL"),
        (14, "SERVICE_NOT_AVAILABLE"),
        (15, "VERSION_NOT_SUPPORTED"),
        (16, "NO_PERMISSION"),
        (17, "TOPIC_NOT_EXIST"),
        (18, "TOPIC_EXIST_ALREADY"),
        (19, "PULL_NOT_FOUND"),
        (20, "PULL_RETRY_IMMEDIATELY"),
        (21, "PULL_OFFSET_MOVED"),
        (22, "QUERY_NOT_FOUND"),
        (23, "SUBSCRIPTION_PARSE_FAILED"),
        (24, "SUBSCRIPTION_NOT_EXIST"),
        (25, "SUBSCRIPTION_NOT_LATEST"),
        (26, "SUBSCRIPTION_GROUP_NOT_EXIST"),
        (27, "FILTER_DATA_NOT_EXIST"),
        (28, "FILTER_DATA_NOT_LATEST"),
        (29, "INVALID_PARAMETER"),
        (200, "TRANSACTION_SHOULD_COMMIT"),
        (201, "TRANSACTION_SHOULD_ROLLBACK"),
        (202, "TRANSACTION_STATE_UNKNOW"),
        (203, "TRANSACTION_STATE_GROUP_WRONG"),
        (204, "NO_BUYER_ID"),
        (205, "NOT_IN_CURRENT_UNIT"),
        (206, "CONSUMER_NOT_ONLINE"),
        (207, "CONSUME_MSG_TIMEOUT"),
        (208, "NO_MESSAGE"),
        (209, "POLLING_FULL"),
        (210, "POLLING_TIMEOUT"),
        (211, "BROKER_NOT_EXIST"),
        (212, "BROKER_DISPATCH_NOT_COMPLETE"),
        (213, "BROADCAST_CONSUMPTION"),
        (215, "FLOW_CONTROL"),
        (501, "NOT_LEADER_FOR_QUEUE"),
        (604, "ILLEGAL_OPERATION"),
        (1500, "GO_AWAY"),
        (2000, "CONTROLLER_FENCED_MASTER_EPOCH"),
        (2001, "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH"),
        (2002, "CONTROLLER_INVALID_MASTER"),
        (2003, "CONTROLLER_INVALID_REPLICAS"),
        (2004, "CONTROLLER_MASTER_NOT_AVAILABLE"),
        (2005, "CONTROLLER_INVALID_REQUEST"),
        (2006, "CONTROLLER_BROKER_NOT_ALIVE"),
        (2007, "CONTROLLER_NOT_LEADER"),
        (2008, "CONTROLLER_BROKER_METADATA_NOT_EXIST"),
        (2009, "CONTROLLER_INVALID_CLEAN_BROKER_METADATA"),
        (2010, "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED"),
        (2011, "CONTROLLER_MASTER_STILL_EXIST"),
        (2012, "CONTROLLER_ELECT_MASTER_FAILED"),
        (2013, "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED"),
        (2014, "CONTROLLER_BROKER_ID_INVALID"),
        (2015, "CONTROLLER_JRAFT_INTERNAL_ERROR"),
        (2016, "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS"),
        (3001, "USER_NOT_EXIST"),
        (3002, "POLICY_NOT_EXIST"),
    ];

    /// The Java constant name of `code`, for logs and tracing; `None` for unknown codes.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::code::ResponseCode;
    /// assert_eq!(ResponseCode::name(ResponseCode::SUCCESS), Some("SUCCESS"));
    /// assert_eq!(ResponseCode::name(99_999), None);
    /// ```
    pub fn name(code: i32) -> Option<&'static str> {
        Self::NAMES
            .binary_search_by_key(&code, |e| e.0)
            .ok()
            .map(|i| Self::NAMES[i].1)
    }
}
