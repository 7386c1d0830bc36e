//! Headers of the RocketMQ 5.x POP commands (docs/protocol/pop.md §2–§6).
//!
//! POP request codes are above 32767, so these commands only travel with JSON header
//! serialization: the ROCKETMQ binary header has a 16-bit code field (docs/protocol/pop.md §1).

use super::command_header;

command_header! {
    /// POP_MESSAGE (200050) request: `PopMessageRequestHeader` (docs/protocol/pop.md §2).
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::*;
    /// let h = PopMessageRequestHeader::new("g", "T", -1, 32, 60_000, 15_000, 1_700_000_000_000);
    /// let back = PopMessageRequestHeader::read_from(&h.to_ext_fields()).unwrap();
    /// assert_eq!(back, h);
    /// assert_eq!(back.order, Some(false));
    /// ```
    pub struct PopMessageRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// The original topic (never a retry topic).
        topic: String = "topic", required;
        /// Queue to read; `-1` lets the broker scan every readable queue.
        queue_id: i32 = "queueId", required;
        /// At most this many messages (1..=32).
        max_msg_nums: i32 = "maxMsgNums", required;
        /// How long popped messages stay invisible, ms.
        invisible_time: i64 = "invisibleTime", required;
        /// Long-poll budget, ms; `<= 0` answers at once.
        poll_time: i64 = "pollTime", required;
        /// Client clock when sent, ms.
        born_time: i64 = "bornTime", required;
        /// Where a group without an offset starts: 0 = min offset, 1 = max offset.
        init_mode: i32 = "initMode", required;
        /// `TAG` (absent = TAG) or `SQL92`.
        exp_type: Option<String> = "expType", optional;
        /// Filter expression (absent or empty = `*`).
        exp: Option<String> = "exp", optional;
        /// Orderly pop (docs/protocol/pop.md §7).
        order: Option<bool> = "order", optional;
        /// Orderly pops: a retry of a pop whose answer was lost carries the same id.
        attempt_id: Option<String> = "attemptId", optional;
        /// 5.x RPC header: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

impl PopMessageRequestHeader {
    /// A non-orderly pop starting new groups at the min offset, with no filter.
    pub fn new(
        consumer_group: impl Into<String>,
        topic: impl Into<String>,
        queue_id: i32,
        max_msg_nums: i32,
        invisible_time: i64,
        poll_time: i64,
        born_time: i64,
    ) -> Self {
        PopMessageRequestHeader {
            consumer_group: consumer_group.into(),
            topic: topic.into(),
            queue_id,
            max_msg_nums,
            invisible_time,
            poll_time,
            born_time,
            init_mode: 0,
            exp_type: None,
            exp: None,
            order: Some(false),
            attempt_id: None,
            bname: None,
        }
    }

    /// Whether this is an orderly pop.
    pub fn is_order(&self) -> bool {
        self.order.unwrap_or(false)
    }
}

command_header! {
    /// POP_MESSAGE response: `PopMessageResponseHeader` (docs/protocol/pop.md §3). Filled on
    /// SUCCESS, POLLING_FULL and POLLING_TIMEOUT alike.
    pub struct PopMessageResponseHeader {
        /// Broker time of this pop, part of every receipt.
        pop_time: i64 = "popTime", required;
        /// Echo of the requested invisible time, ms.
        invisible_time: i64 = "invisibleTime", required;
        /// Revive queue of this pop's checkpoints; 999 for orderly pops.
        revive_qid: i32 = "reviveQid", required;
        /// Backlog left in the queues that were read.
        rest_num: i64 = "restNum", required;
        /// `<retry> <queueId> <startOffset>` entries, `;`-separated.
        start_offset_info: Option<String> = "startOffsetInfo", optional;
        /// `<retry> <queueId> <o1>,<o2>,…` entries, `;`-separated.
        msg_offset_info: Option<String> = "msgOffsetInfo", optional;
        /// Orderly pops: consume counts per offset and per queue.
        order_count_info: Option<String> = "orderCountInfo", optional;
    }
}

command_header! {
    /// ACK_MESSAGE (200051) request: `AckMessageRequestHeader` (docs/protocol/pop.md §4).
    pub struct AckMessageRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// The real topic read: the original topic or its POP retry topic.
        topic: String = "topic", required;
        /// The queue the message was read from.
        queue_id: i32 = "queueId", required;
        /// The receipt handle (`POP_CK`), unmodified.
        extra_info: String = "extraInfo", required;
        /// The message's queue offset.
        offset: i64 = "offset", required;
        /// 5.x RPC header: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053) request: `ChangeInvisibleTimeRequestHeader`
    /// (docs/protocol/pop.md §4).
    pub struct ChangeInvisibleTimeRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// The real topic read (as for ACK).
        topic: String = "topic", required;
        /// The queue the message was read from.
        queue_id: i32 = "queueId", required;
        /// The receipt handle, unmodified.
        extra_info: String = "extraInfo", required;
        /// The message's queue offset.
        offset: i64 = "offset", required;
        /// New invisible duration counted from now, ms.
        invisible_time: i64 = "invisibleTime", required;
        /// 5.x RPC header: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME response: `ChangeInvisibleTimeResponseHeader`.
    pub struct ChangeInvisibleTimeResponseHeader {
        /// Pop time of the new receipt.
        pop_time: i64 = "popTime", required;
        /// Invisible time of the new receipt, ms.
        invisible_time: i64 = "invisibleTime", required;
        /// Revive queue of the new checkpoint (999 orderly).
        revive_qid: i32 = "reviveQid", required;
    }
}

command_header! {
    /// NOTIFICATION (200054) request: `NotificationRequestHeader` (docs/protocol/pop.md §5).
    pub struct NotificationRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue, `-1` = any.
        queue_id: i32 = "queueId", required;
        /// Long-poll budget, ms.
        poll_time: i64 = "pollTime", required;
        /// Client clock when sent, ms.
        born_time: i64 = "bornTime", required;
        /// Ask about orderly consumption (a blocked orderly queue counts as empty).
        order: Option<bool> = "order", optional;
        /// Orderly attempt id.
        attempt_id: Option<String> = "attemptId", optional;
        /// 5.x RPC header: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// NOTIFICATION response: `NotificationResponseHeader`.
    pub struct NotificationResponseHeader {
        /// Whether a pop would find something now.
        has_msg: bool = "hasMsg", required;
        /// The long-poll tables were full.
        polling_full: bool = "pollingFull", default false;
    }
}

command_header! {
    /// POLLING_INFO (200055) request: `PollingInfoRequestHeader` (docs/protocol/pop.md §5).
    pub struct PollingInfoRequestHeader {
        /// Consumer group.
        consumer_group: String = "consumerGroup", required;
        /// Topic.
        topic: String = "topic", required;
        /// Queue (`-1` counts the "any queue" waiters).
        queue_id: i32 = "queueId", required;
        /// 5.x RPC header: the broker name the request is meant for.
        bname: Option<String> = "bname", optional;
    }
}

command_header! {
    /// POLLING_INFO response: `PollingInfoResponseHeader`.
    pub struct PollingInfoResponseHeader {
        /// POP requests parked on `topic@group@queueId`.
        polling_num: i32 = "pollingNum", required;
    }
}
