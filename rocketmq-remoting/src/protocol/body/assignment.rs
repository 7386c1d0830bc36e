//! Server-side load balancing and the per group+topic consume mode (RocketMQ 5.x):
//! QUERY_ASSIGNMENT (400), SET_MESSAGE_REQUEST_MODE (401), GET_ALL_MESSAGE_REQUEST_MODE (402)
//! (docs/protocol/pop.md §10).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::heartbeat::MessageModel;
use super::{null_default, serde_json_body, MessageQueue};
use crate::protocol::header::name_enum;

name_enum! {
    /// How a group consumes a topic (Java `MessageRequestMode`).
    pub enum MessageRequestMode {
        /// Classic pull: the client owns queues and commits offsets (ordinal 0).
        Pull = "PULL",
        /// POP: the broker hands out messages, each acked on its own (ordinal 1).
        Pop = "POP",
    }
}

#[allow(clippy::derivable_impls)] // the enum comes from a macro that cannot take #[default]
impl Default for MessageRequestMode {
    fn default() -> Self {
        MessageRequestMode::Pull
    }
}

/// QUERY_ASSIGNMENT (400) request body (Java `QueryAssignmentRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAssignmentRequestBody {
    /// Topic (with namespace).
    #[serde(default, deserialize_with = "null_default")]
    pub topic: String,
    /// Consumer group.
    #[serde(default, deserialize_with = "null_default")]
    pub consumer_group: String,
    /// The asking client's id.
    #[serde(default, deserialize_with = "null_default")]
    pub client_id: String,
    /// Allocation strategy name (`AVG`, `AVG_BY_CIRCLE`).
    #[serde(default, deserialize_with = "null_default")]
    pub strategy_name: String,
    /// Clustering or broadcasting.
    #[serde(default)]
    pub message_model: MessageModel,
}

/// One assigned queue and the mode to consume it in (Java `MessageQueueAssignment`). A POP
/// assignment of the whole topic carries queue id -1.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueueAssignment {
    /// The queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_queue: Option<MessageQueue>,
    /// Pull or POP.
    #[serde(default)]
    pub mode: MessageRequestMode,
    /// Extra attributes (unused by Apache so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<BTreeMap<String, String>>,
}

/// QUERY_ASSIGNMENT response body (Java `QueryAssignmentResponseBody`). `None` (JSON null or
/// absent) means "no valid answer, keep what you have"; an empty set means "nothing for you".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAssignmentResponseBody {
    /// The assignments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_queue_assignments: Option<Vec<MessageQueueAssignment>>,
}

/// SET_MESSAGE_REQUEST_MODE (401) request body and one entry of the broker's mode table (Java
/// `SetMessageRequestModeRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMessageRequestModeRequestBody {
    /// Topic.
    #[serde(default, deserialize_with = "null_default")]
    pub topic: String,
    /// Consumer group.
    #[serde(default, deserialize_with = "null_default")]
    pub consumer_group: String,
    /// The mode (Java's default: PULL).
    #[serde(default)]
    pub mode: MessageRequestMode,
    /// POP: how many of the following consumers (in client-id order) each consumer also pops
    /// the queues of; `<= 0` or at least the group size minus one: every consumer pops every
    /// queue.
    #[serde(default)]
    pub pop_share_queue_num: i32,
}

impl Default for SetMessageRequestModeRequestBody {
    fn default() -> Self {
        SetMessageRequestModeRequestBody {
            topic: String::new(),
            consumer_group: String::new(),
            mode: MessageRequestMode::Pull,
            pop_share_queue_num: 0,
        }
    }
}

/// GET_ALL_MESSAGE_REQUEST_MODE (402) response body, also the broker's
/// `messageRequestMode.json` (Java `MessageRequestModeSerializeWrapper`): topic → group →
/// mode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequestModeSerializeWrapper {
    /// Topic → group → mode entry.
    #[serde(default, deserialize_with = "null_default")]
    pub message_request_mode_map:
        BTreeMap<String, BTreeMap<String, SetMessageRequestModeRequestBody>>,
}

serde_json_body!(
    QueryAssignmentRequestBody,
    QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
    MessageRequestModeSerializeWrapper
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::JsonBody;

    #[test]
    fn java_shapes_round_trip() {
        // As Apache 5.x's broker writes it (fastjson: enum names, null set when invalid).
        let java = br#"{"messageQueueAssignments":[{"messageQueue":{"brokerName":"b","queueId":-1,"topic":"T"},"mode":"POP"}]}"#;
        let r = QueryAssignmentResponseBody::from_json(java).unwrap();
        let a = &r.message_queue_assignments.as_ref().unwrap()[0];
        assert_eq!(a.mode, MessageRequestMode::Pop);
        assert_eq!(a.message_queue.as_ref().unwrap().queue_id, -1);
        assert!(QueryAssignmentResponseBody::from_json(b"{}")
            .unwrap()
            .message_queue_assignments
            .is_none());

        let set = br#"{"topic":"T","consumerGroup":"G","mode":"POP","popShareQueueNum":2}"#;
        let s = SetMessageRequestModeRequestBody::from_json(set).unwrap();
        assert_eq!(
            (s.mode, s.pop_share_queue_num),
            (MessageRequestMode::Pop, 2)
        );
        let back = SetMessageRequestModeRequestBody::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);

        let q = QueryAssignmentRequestBody {
            topic: "T".into(),
            consumer_group: "G".into(),
            client_id: "c".into(),
            strategy_name: "AVG".into(),
            message_model: MessageModel::Clustering,
        };
        let text = String::from_utf8(q.to_json().to_vec()).unwrap();
        assert!(text.contains(r#""messageModel":"CLUSTERING""#), "{text}");
    }
}
