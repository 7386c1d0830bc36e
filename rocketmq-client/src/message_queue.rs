//! [`MessageQueue`]: the `(topic, brokerName, queueId)` triple that names one queue.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::util::java_string_cmp;

/// One queue of a topic on one broker (Java `MessageQueue`).
///
/// Ordering follows Java's `compareTo`: `topic`, then `broker_name` (both in Java `String`
/// order, see [`java_string_cmp`]), then `queue_id`. Queue allocation depends on this
/// order, so sort with it (e.g. `queues.sort()`) before allocating.
///
/// [`Display`](fmt::Display) prints Java's `toString()` form, which the consistent-hash
/// allocation strategy hashes. Serde uses Java's field names (`topic`, `brokerName`,
/// `queueId`).
///
/// ```
/// use rocketmq_client::message_queue::MessageQueue;
///
/// let mq = MessageQueue::new("TopicTest", "broker-a", 3);
/// assert_eq!(mq.to_string(), "MessageQueue [topic=TopicTest, brokerName=broker-a, queueId=3]");
/// assert_eq!(
///     serde_json::to_string(&mq).unwrap(),
///     r#"{"topic":"TopicTest","brokerName":"broker-a","queueId":3}"#
/// );
/// assert!(mq < MessageQueue::new("TopicTest", "broker-b", 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    /// Topic name (including any namespace prefix).
    pub topic: String,
    /// Broker name (not address) hosting the queue.
    pub broker_name: String,
    /// Queue number within the topic on that broker.
    pub queue_id: i32,
}

impl MessageQueue {
    /// Creates a queue identifier.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        java_string_cmp(&self.topic, &other.topic)
            .then_with(|| java_string_cmp(&self.broker_name, &other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_topic_broker_queue() {
        let mut v = [
            MessageQueue::new("b", "a", 0),
            MessageQueue::new("a", "b", 0),
            MessageQueue::new("a", "a", 10),
            MessageQueue::new("a", "a", 2),
            MessageQueue::new("a", "a", -1),
        ];
        v.sort();
        let got: Vec<(&str, &str, i32)> = v
            .iter()
            .map(|m| (m.topic.as_str(), m.broker_name.as_str(), m.queue_id))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "a", -1),
                ("a", "a", 2),
                ("a", "a", 10),
                ("a", "b", 0),
                ("b", "a", 0)
            ]
        );
    }

    #[test]
    fn serde_round_trip_with_java_names() {
        let mq: MessageQueue =
            serde_json::from_str(r#"{"brokerName":"b","queueId":7,"topic":"t"}"#).unwrap();
        assert_eq!(mq, MessageQueue::new("t", "b", 7));
        let back: MessageQueue =
            serde_json::from_str(&serde_json::to_string(&mq).unwrap()).unwrap();
        assert_eq!(back, mq);
    }
}
