//! Headers of client ↔ broker commands (docs/protocol/ (send.md, pull.md, query.md, offsets.md, admin.md, heartbeat.md, retry.md, transaction.md, rebalance.md)).

use super::{command_header, BoundaryType, TopicFilterType};

command_header! {
    /// SEND_MESSAGE (10) request: `SendMessageRequestHeader` (docs/protocol/send.md §1).
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::*;
    /// let mut ext = rocketmq_rs_remoting::ExtFields::new();
    /// for (k, v) in [("producerGroup", "pg"), ("topic", "T"), ("defaultTopic", "TBW102"),
    ///     ("defaultTopicQueueNums", "4"), ("queueId", "1"), ("sysFlag", "0"),
    ///     ("bornTimestamp", "1700000000000"), ("flag", "0"), ("batch", "1")] {
    ///     ext.insert(k, v);
    /// }
    /// let h = SendMessageRequestHeader::read_from(&ext).unwrap();
    /// assert_eq!(h.batch, Some(true)); // C++ sends "0"/"1"
    /// let v2: SendMessageRequestHeaderV2 = h.clone().into();
    /// assert_eq!(v2.b, "T");
    /// assert_eq!(SendMessageRequestHeader::from(v2), h);
    /// ```
    pub struct SendMessageRequestHeader {
        /// Producer group.
        producer_group: String = "producerGroup", required;
        /// Target topic.
        topic: String = "topic", required;
        /// Auto-create template topic, normally `TBW102`.
        default_topic: String = "defaultTopic", required;
        /// Queues to create when auto-creating (Java default 4).
        default_topic_queue_nums: i32 = "defaultTopicQueueNums", required;
        /// Target queue; `< 0` lets the broker choose.
        queue_id: i32 = "queueId", required;
        /// Message sysFlag (compression, transaction bits).
        sys_flag: i32 = "sysFlag", required;
        /// Producer-side birth time, ms since the epoch.
        born_timestamp: i64 = "bornTimestamp", required;
        /// User `Message.flag`.
        flag: i32 = "flag", required;
        /// Properties string (docs/protocol/message.md §1).
        properties: Option<String> = "properties", optional;
        /// Reconsume count, for sends to `%RETRY%` topics.
        reconsume_times: Option<i32> = "reconsumeTimes", optional;
        /// Unit mode.
        unit_mode: Option<bool> = "unitMode", optional;
        /// The body is a batch (docs/protocol/send.md §3); the broker dispatches on this flag.
        batch: Option<bool> = "batch", optional;
        /// Max reconsume times, for sends to `%RETRY%` topics.
        max_reconsume_times: Option<i32> = "maxReconsumeTimes", optional;
        /// 5.x: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320) request: `SendMessageRequestHeaderV2`, the
    /// single-letter form of [`SendMessageRequestHeader`] (docs/protocol/send.md §2). Convert with
    /// `From`/`Into`.
    pub struct SendMessageRequestHeaderV2 {
        /// producerGroup.
        a: String = "a", required;
        /// topic.
        b: String = "b", required;
        /// defaultTopic.
        c: String = "c", required;
        /// defaultTopicQueueNums.
        d: i32 = "d", required;
        /// queueId.
        e: i32 = "e", required;
        /// sysFlag.
        f: i32 = "f", required;
        /// bornTimestamp.
        g: i64 = "g", required;
        /// flag.
        h: i32 = "h", required;
        /// properties.
        i: Option<String> = "i", optional;
        /// reconsumeTimes.
        j: Option<i32> = "j", optional;
        /// unitMode.
        k: Option<bool> = "k", optional;
        /// maxReconsumeTimes ("consumeRetryTimes").
        l: Option<i32> = "l", optional;
        /// batch.
        m: Option<bool> = "m", optional;
        /// brokerName (5.x).
        n: Option<String> = "n", optional;
        /// 5.x base-class broker name (Java fills `n` instead).
        bname: Option<String> = "bname", optional;
    }
}

/// A borrowed [`SendMessageRequestHeaderV2`], for senders that keep the header's strings
/// elsewhere (the producer group, the `TBW102` constant, the broker name of a route): writing
/// it copies each string once into the command's ext fields, with no `String` per field.
///
/// [`SendMessageRequestHeaderV2Ref::write_to`] writes exactly what
/// [`SendMessageRequestHeaderV2`]'s [`write_to`](super::CommandHeader::write_to) writes for the
/// same values.
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::*;
/// use rocketmq_rs_remoting::ExtFields;
/// let owned = SendMessageRequestHeaderV2 {
///     a: "pg".into(), b: "T".into(), c: "TBW102".into(), d: 4, e: 1, f: 0, g: 1_700_000_000_000,
///     h: 0, i: Some("TAGS\u{1}a\u{2}".into()), j: Some(0), k: Some(false), l: None,
///     m: Some(false), n: Some("broker-a".into()), bname: None,
/// };
/// let (mut x, mut y) = (ExtFields::new(), ExtFields::new());
/// owned.write_to(&mut x);
/// owned.borrowed().write_to(&mut y);
/// assert_eq!(x, y);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMessageRequestHeaderV2Ref<'a> {
    /// producerGroup.
    pub a: &'a str,
    /// topic.
    pub b: &'a str,
    /// defaultTopic.
    pub c: &'a str,
    /// defaultTopicQueueNums.
    pub d: i32,
    /// queueId.
    pub e: i32,
    /// sysFlag.
    pub f: i32,
    /// bornTimestamp.
    pub g: i64,
    /// flag.
    pub h: i32,
    /// properties.
    pub i: Option<&'a str>,
    /// reconsumeTimes.
    pub j: Option<i32>,
    /// unitMode.
    pub k: Option<bool>,
    /// maxReconsumeTimes ("consumeRetryTimes").
    pub l: Option<i32>,
    /// batch.
    pub m: Option<bool>,
    /// brokerName (5.x).
    pub n: Option<&'a str>,
    /// 5.x base-class broker name.
    pub bname: Option<&'a str>,
}

impl SendMessageRequestHeaderV2Ref<'_> {
    /// Writes every present field into `ext`, in the order and form of
    /// [`SendMessageRequestHeaderV2`]'s [`write_to`](super::CommandHeader::write_to).
    pub fn write_to(&self, ext: &mut crate::protocol::ExtFields) {
        let (fields, text) = super::WriteFields::size_hint(self);
        // One reservation for the whole header; the keys are static, only values are copied.
        ext.reserve(fields, text);
        super::WriteFields::write_fields(self, ext);
    }
}

/// The fields in [`SendMessageRequestHeaderV2`]'s order and form, straight into a frame on the
/// producer's send path (no field map in between).
impl super::WriteFields for SendMessageRequestHeaderV2Ref<'_> {
    #[inline]
    fn write_fields<S: super::FieldSink + ?Sized>(&self, sink: &mut S) {
        sink.str_field("a", self.a);
        sink.str_field("b", self.b);
        sink.str_field("c", self.c);
        sink.i64_field("d", self.d.into());
        sink.i64_field("e", self.e.into());
        sink.i64_field("f", self.f.into());
        sink.i64_field("g", self.g);
        sink.i64_field("h", self.h.into());
        if let Some(v) = self.i {
            sink.str_field("i", v);
        }
        if let Some(v) = self.j {
            sink.i64_field("j", v.into());
        }
        if let Some(v) = self.k {
            sink.bool_field("k", v);
        }
        if let Some(v) = self.l {
            sink.i64_field("l", v.into());
        }
        if let Some(v) = self.m {
            sink.bool_field("m", v);
        }
        if let Some(v) = self.n {
            sink.str_field("n", v);
        }
        if let Some(v) = self.bname {
            sink.str_field("bname", v);
        }
    }

    fn size_hint(&self) -> (usize, usize) {
        let opt_len = |s: Option<&str>| s.map_or(0, str::len);
        // Seven numbers of at most 20 digits is generous; strings are copied as they are.
        let text = self.a.len()
            + self.b.len()
            + self.c.len()
            + opt_len(self.i)
            + opt_len(self.n)
            + opt_len(self.bname)
            + 7 * 20;
        (15, text)
    }
}

impl SendMessageRequestHeaderV2 {
    /// The header borrowed (see [`SendMessageRequestHeaderV2Ref`]).
    pub fn borrowed(&self) -> SendMessageRequestHeaderV2Ref<'_> {
        SendMessageRequestHeaderV2Ref {
            a: &self.a,
            b: &self.b,
            c: &self.c,
            d: self.d,
            e: self.e,
            f: self.f,
            g: self.g,
            h: self.h,
            i: self.i.as_deref(),
            j: self.j,
            k: self.k,
            l: self.l,
            m: self.m,
            n: self.n.as_deref(),
            bname: self.bname.as_deref(),
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            // Java's conversion carries the base-class broker name in `n`.
            n: v1.bname,
            bname: None,
        }
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            bname: v2.n.or(v2.bname),
        }
    }
}

command_header! {
    /// Response to SEND_MESSAGE / SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE: `SendMessageResponseHeader`
    /// plus the ext fields the broker adds (docs/protocol/send.md §1). A broker must fill `msgId`,
    /// `queueId`, `queueOffset` and should fill `MSG_REGION` and `TRACE_ON`.
    pub struct SendMessageResponseHeader {
        /// Offset message id (comma-joined for batches).
        msg_id: String = "msgId", required;
        /// Queue actually used.
        queue_id: i32 = "queueId", required;
        /// Logical offset in that queue (first message for batches).
        queue_offset: i64 = "queueOffset", required;
        /// The message's `UNIQ_KEY`.
        transaction_id: Option<String> = "transactionId", optional;
        /// 5.x inner-batch id.
        batch_uniq_id: Option<String> = "batchUniqId", optional;
        /// 5.x timer-message recall handle.
        recall_handle: Option<String> = "recallHandle", optional;
        /// Broker region (`DefaultRegion`).
        msg_region: Option<String> = "MSG_REGION", optional;
        /// Whether the broker has tracing on.
        trace_on: Option<bool> = "TRACE_ON", optional;
    }
}

command_header! {
    /// PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request: `PullMessageRequestHeader`
    /// (docs/protocol/pull.md §1).
    pub struct PullMessageRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// First logical offset to read.
        queue_offset: i64 = "queueOffset", required;
        /// Max messages.
        max_msg_nums: i32 = "maxMsgNums", required;
        /// PullSysFlag bits (commit offset, suspend, subscription, class filter, lite pull).
        sys_flag: i32 = "sysFlag", required;
        /// Consumer's current offset (committed if sysFlag bit 0).
        commit_offset: i64 = "commitOffset", required;
        /// Long-poll hold time (ms) if sysFlag bit 1.
        suspend_timeout_millis: i64 = "suspendTimeoutMillis", required;
        /// Subscription expression (authoritative with sysFlag bit 2).
        subscription: Option<String> = "subscription", optional;
        /// Subscription version.
        sub_version: i64 = "subVersion", required;
        /// `TAG` (default) or `SQL92`.
        expression_type: Option<String> = "expressionType", optional;
        /// 5.x max bytes.
        max_msg_bytes: Option<i32> = "maxMsgBytes", optional;
        /// Proxy only.
        request_source: Option<i32> = "requestSource", optional;
        /// Proxy only (Java's spelling).
        proxy_froward_client_id: Option<String> = "proxyFrowardClientId", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to PULL_MESSAGE: `PullMessageResponseHeader` (docs/protocol/pull.md §1); the four offsets
    /// are needed on codes 0, 19, 20 and 21.
    pub struct PullMessageResponseHeader {
        /// Broker id to pull from next (0 = master).
        suggest_which_broker_id: i64 = "suggestWhichBrokerId", required;
        /// Offset for the next pull.
        next_begin_offset: i64 = "nextBeginOffset", required;
        /// Queue min offset.
        min_offset: i64 = "minOffset", required;
        /// Queue max offset.
        max_offset: i64 = "maxOffset", required;
        /// Static topics only.
        offset_delta: Option<i64> = "offsetDelta", optional;
        /// Topic sysFlag.
        topic_sys_flag: Option<i32> = "topicSysFlag", optional;
        /// Group sysFlag.
        group_sys_flag: Option<i32> = "groupSysFlag", optional;
        /// Reason for NO_PERMISSION.
        forbidden_type: Option<i32> = "forbiddenType", optional;
    }
}

command_header! {
    /// QUERY_MESSAGE (12) request: `QueryMessageRequestHeader` (docs/protocol/query.md §1).
    pub struct QueryMessageRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// A `KEYS` value or a `UNIQ_KEY`.
        key: String = "key", required;
        /// Max messages.
        max_num: i32 = "maxNum", required;
        /// Store-time window start (ms).
        begin_timestamp: i64 = "beginTimestamp", required;
        /// Store-time window end (ms).
        end_timestamp: i64 = "endTimestamp", required;
        /// Extra ext field: `key` is a UNIQ_KEY.
        unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to QUERY_MESSAGE: `QueryMessageResponseHeader`.
    pub struct QueryMessageResponseHeader {
        /// Index last update time.
        index_last_update_timestamp: i64 = "indexLastUpdateTimestamp", required;
        /// Index last update physical offset.
        index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset", required;
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET (14) request (docs/protocol/offsets.md §1).
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// 5.x: `false` → never synthesise offset 0.
        set_zero_if_not_found: Option<bool> = "setZeroIfNotFound", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to QUERY_CONSUMER_OFFSET.
    pub struct QueryConsumerOffsetResponseHeader {
        /// Stored offset (next to consume).
        offset: i64 = "offset", required;
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15) request (docs/protocol/offsets.md §2).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// Next offset to consume.
        commit_offset: i64 = "commitOffset", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17) request: `CreateTopicRequestHeader` (docs/protocol/admin.md §1).
    pub struct CreateTopicRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Template topic (ignored by the broker).
        default_topic: String = "defaultTopic", required;
        /// Read queues.
        read_queue_nums: i32 = "readQueueNums", required;
        /// Write queues.
        write_queue_nums: i32 = "writeQueueNums", required;
        /// Permission bits.
        perm: i32 = "perm", required;
        /// Tag filter type.
        topic_filter_type: TopicFilterType = "topicFilterType", required;
        /// Topic sysFlag.
        topic_sys_flag: Option<i32> = "topicSysFlag", optional;
        /// Ordered topic.
        order: bool = "order", required;
        /// 5.x attributes, e.g. `+message.type=NORMAL`.
        attributes: Option<String> = "attributes", optional;
        /// 5.x force flag (Java default false).
        force: bool = "force", default false;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215) request: `DeleteTopicRequestHeader`.
    pub struct DeleteTopicRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29) request (docs/protocol/offsets.md §3).
    pub struct SearchOffsetRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// Store time (ms).
        timestamp: i64 = "timestamp", required;
        /// LOWER (default) or UPPER.
        boundary_type: Option<BoundaryType> = "boundaryType", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to SEARCH_OFFSET_BY_TIMESTAMP.
    pub struct SearchOffsetResponseHeader {
        /// Found offset.
        offset: i64 = "offset", required;
    }
}

command_header! {
    /// GET_MAX_OFFSET (30) request.
    pub struct GetMaxOffsetRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// 5.x: only committed data (Java default true; older brokers ignore it).
        committed: bool = "committed", default true;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to GET_MAX_OFFSET.
    pub struct GetMaxOffsetResponseHeader {
        /// Next offset to be written.
        offset: i64 = "offset", required;
    }
}

command_header! {
    /// GET_MIN_OFFSET (31) request.
    pub struct GetMinOffsetRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to GET_MIN_OFFSET.
    pub struct GetMinOffsetResponseHeader {
        /// First retained offset.
        offset: i64 = "offset", required;
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32) request.
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Queue id.
        queue_id: i32 = "queueId", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to GET_EARLIEST_MSG_STORETIME.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of the first retained message; -1 if none.
        timestamp: i64 = "timestamp", required;
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33) request (docs/protocol/query.md §2).
    pub struct ViewMessageRequestHeader {
        /// Topic (optional).
        topic: Option<String> = "topic", optional;
        /// Commit-log physical offset.
        offset: i64 = "offset", required;
    }
}

command_header! {
    /// HEART_BEAT (34) request: `HeartbeatRequestHeader` (no own fields; 5.x may carry `bname`).
    #[derive(Default)]
    pub struct HeartbeatRequestHeader {
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// Response to HEART_BEAT: the ext fields a 5.x broker adds (docs/protocol/heartbeat.md §1). A broker
    /// without heartbeat v2 omits both.
    #[derive(Default)]
    pub struct HeartbeatResponseHeader {
        /// `IS_SUPPORT_HEART_BEAT_V2`.
        is_support_heart_beat_v2: Option<bool> = "IS_SUPPORT_HEART_BEAT_V2", optional;
        /// `IS_SUB_CHANGE`.
        is_sub_change: Option<bool> = "IS_SUB_CHANGE", optional;
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35) request (docs/protocol/heartbeat.md §3). The C++ client sends the group it is
    /// *not* unregistering as `""`; that reads as `Some("")` (treat empty as absent).
    pub struct UnregisterClientRequestHeader {
        /// Client id.
        client_id: String = "clientID", required;
        /// Producer group being shut down.
        producer_group: Option<String> = "producerGroup", optional;
        /// Consumer group being shut down.
        consumer_group: Option<String> = "consumerGroup", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36) request (docs/protocol/retry.md §1).
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the consumed message.
        offset: i64 = "offset", required;
        /// Consumer group.
        group: String = "group", required;
        /// 0 = broker chooses, -1 = DLQ, n > 0 explicit.
        delay_level: i32 = "delayLevel", required;
        /// Message id as seen by the client.
        origin_msg_id: Option<String> = "originMsgId", optional;
        /// Original topic.
        origin_topic: Option<String> = "originTopic", optional;
        /// Unit mode (Java default false).
        unit_mode: bool = "unitMode", default false;
        /// Client's max reconsume times.
        max_reconsume_times: Option<i32> = "maxReconsumeTimes", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// END_TRANSACTION (37) request (docs/protocol/transaction.md §1).
    pub struct EndTransactionRequestHeader {
        /// Original topic.
        topic: Option<String> = "topic", optional;
        /// Producer group.
        producer_group: String = "producerGroup", required;
        /// Queue offset of the half message.
        tran_state_table_offset: i64 = "tranStateTableOffset", required;
        /// Commit-log offset of the half message.
        commit_log_offset: i64 = "commitLogOffset", required;
        /// 0 unknown, 8 commit, 12 rollback.
        commit_or_rollback: i32 = "commitOrRollback", required;
        /// True when answering CHECK_TRANSACTION_STATE (Java default false).
        from_transaction_check: bool = "fromTransactionCheck", default false;
        /// `UNIQ_KEY`.
        msg_id: String = "msgId", required;
        /// `SendResult.transactionId`.
        transaction_id: Option<String> = "transactionId", optional;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39) broker → client request (docs/protocol/transaction.md §2).
    pub struct CheckTransactionStateRequestHeader {
        /// Half-message topic (5.x).
        topic: Option<String> = "topic", optional;
        /// Queue offset of the half message.
        tran_state_table_offset: i64 = "tranStateTableOffset", required;
        /// Commit-log offset of the half message.
        commit_log_offset: i64 = "commitLogOffset", required;
        /// `UNIQ_KEY`.
        msg_id: Option<String> = "msgId", optional;
        /// = `msgId`.
        transaction_id: Option<String> = "transactionId", optional;
        /// Offset msg id of the half message.
        offset_msg_id: Option<String> = "offsetMsgId", optional;
        /// Broker name (5.x).
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38) request.
    pub struct GetConsumerListByGroupRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40) broker → client request (docs/protocol/heartbeat.md §5).
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// LOCK_BATCH_MQ (41) request: `LockBatchMqRequestHeader` (body carries the data).
    #[derive(Default)]
    pub struct LockBatchMqRequestHeader {
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// UNLOCK_BATCH_MQ (42) request: `UnlockBatchMqRequestHeader` (body carries the data).
    #[derive(Default)]
    pub struct UnlockBatchMqRequestHeader {
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// RESET_CONSUMER_CLIENT_OFFSET (220) broker → client request (docs/protocol/admin.md §2).
    pub struct ResetOffsetRequestHeader {
        /// Consumer group.
        group: String = "group", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue id (Java default -1 = all queues).
        queue_id: i32 = "queueId", default -1;
        /// Target offset (5.x).
        offset: Option<i64> = "offset", optional;
        /// Reset to this store time.
        timestamp: i64 = "timestamp", required;
        /// Force the reset.
        is_force: bool = "isForce", required;
        /// 5.x broker name.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// GET_CONSUMER_STATUS_FROM_CLIENT (221) broker → client request (deprecated).
    pub struct GetConsumerStatusRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Consumer group.
        group: String = "group", required;
        /// Client address.
        client_addr: Option<String> = "clientAddr", optional;
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307) request (docs/protocol/admin.md §3).
    pub struct GetConsumerRunningInfoRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Client id.
        client_id: String = "clientId", required;
        /// Include a thread dump (Java default false).
        jstack_enable: bool = "jstackEnable", default false;
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309) request: `ConsumeMessageDirectlyResultRequestHeader`
    /// (docs/protocol/admin.md §4).
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Client id.
        client_id: Option<String> = "clientId", optional;
        /// Offset msg id.
        msg_id: Option<String> = "msgId", optional;
        /// Broker name.
        broker_name: Option<String> = "brokerName", optional;
        /// Topic.
        topic: Option<String> = "topic", optional;
        /// Topic sysFlag.
        topic_sys_flag: Option<i32> = "topicSysFlag", optional;
        /// Group sysFlag.
        group_sys_flag: Option<i32> = "groupSysFlag", optional;
    }
}

command_header! {
    /// GET_TOPIC_STATS_INFO (202) request.
    pub struct GetTopicStatsInfoRequestHeader {
        /// Topic.
        topic: String = "topic", required;
    }
}

command_header! {
    /// GET_CONSUME_STATS (208) request.
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic (all topics of the group if absent).
        topic: Option<String> = "topic", optional;
        /// 5.x: `;`-separated topic list.
        topic_list: Option<String> = "topicList", optional;
    }
}

command_header! {
    /// GET_CONSUMER_CONNECTION_LIST (203) request.
    pub struct GetConsumerConnectionListRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
    }
}

command_header! {
    /// QUERY_CONSUME_TIME_SPAN (303) request.
    pub struct QueryConsumeTimeSpanRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Consumer group.
        group: String = "group", required;
    }
}

command_header! {
    /// QUERY_TOPIC_CONSUME_BY_WHO (300) request.
    pub struct QueryTopicConsumeByWhoRequestHeader {
        /// Topic.
        topic: String = "topic", required;
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326) broker → client request: `ReplyMessageRequestHeader`.
    /// The body is the reply's body (as sent: possibly compressed, see `sys_flag`).
    pub struct ReplyMessageRequestHeader {
        /// Producer group of the replier.
        producer_group: String = "producerGroup", required;
        /// Reply topic (`<cluster>_REPLY_TOPIC`).
        topic: String = "topic", required;
        /// Auto-create template topic.
        default_topic: String = "defaultTopic", required;
        /// Auto-create queue count.
        default_topic_queue_nums: i32 = "defaultTopicQueueNums", required;
        /// Queue id of the reply send.
        queue_id: i32 = "queueId", required;
        /// sysFlag of the reply send.
        sys_flag: i32 = "sysFlag", required;
        /// Replier-side birth time, ms.
        born_timestamp: i64 = "bornTimestamp", required;
        /// User flag.
        flag: i32 = "flag", required;
        /// Properties string (with `CORRELATION_ID`, `PUSH_REPLY_TIME`, ...).
        properties: Option<String> = "properties", optional;
        /// Reconsume times.
        reconsume_times: Option<i32> = "reconsumeTimes", optional;
        /// Unit mode (Java default false).
        unit_mode: bool = "unitMode", default false;
        /// The replier's address as the broker saw it (`host:port`, Java may prefix `/`).
        born_host: String = "bornHost", required;
        /// The broker's address.
        store_host: String = "storeHost", required;
        /// Broker clock when the reply arrived, ms.
        store_timestamp: i64 = "storeTimestamp", required;
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207) request (docs/protocol/admin.md §5). 5.x tools send
    /// `cleanOffset`, 4.9 tools `removeOffset`; either drops the group's committed offsets.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::*;
    /// let mut ext = rocketmq_rs_remoting::ExtFields::new();
    /// ext.insert("groupName", "g");
    /// ext.insert("removeOffset", "true");
    /// let h = DeleteSubscriptionGroupRequestHeader::read_from(&ext).unwrap();
    /// assert!(h.clean_offsets());
    /// ```
    pub struct DeleteSubscriptionGroupRequestHeader {
        /// Consumer group.
        group_name: String = "groupName", required;
        /// 5.x: also delete the group's offsets.
        clean_offset: bool = "cleanOffset", default false;
        /// 4.9: also delete the group's offsets.
        remove_offset: bool = "removeOffset", default false;
    }
}

impl DeleteSubscriptionGroupRequestHeader {
    /// Whether the group's offsets go too (either spelling).
    pub fn clean_offsets(&self) -> bool {
        self.clean_offset || self.remove_offset
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204) request.
    pub struct GetProducerConnectionListRequestHeader {
        /// Producer group.
        producer_group: String = "producerGroup", required;
    }
}

command_header! {
    /// GET_SUBSCRIPTIONGROUP_CONFIG (352, 5.x) request.
    pub struct GetSubscriptionGroupConfigRequestHeader {
        /// Consumer group.
        group: String = "group", required;
    }
}

command_header! {
    /// GET_TOPIC_CONFIG (351, 5.x) request.
    pub struct GetTopicConfigRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Logical-queue (static topic) mapping wanted too.
        lo: Option<bool> = "lo", optional;
    }
}

command_header! {
    /// QUERY_TOPICS_BY_CONSUMER (343) request.
    pub struct QueryTopicsByConsumerRequestHeader {
        /// Consumer group.
        group: String = "group", required;
    }
}

command_header! {
    /// VIEW_BROKER_STATS_DATA (315) request (docs/protocol/admin.md §8).
    pub struct ViewBrokerStatsDataRequestHeader {
        /// Counter family, e.g. `TOPIC_PUT_NUMS`.
        stats_name: String = "statsName", required;
        /// Counter key, e.g. a topic or `topic@group`.
        stats_key: String = "statsKey", required;
    }
}

command_header! {
    /// GET_BROKER_CONFIG (26) response header: the config's data version as JSON.
    pub struct GetBrokerConfigResponseHeader {
        /// `DataVersion` JSON.
        version: String = "version", required;
    }
}
