//! [`MessageQueue`]: the `(topic, brokerName, queueId)` triple that names one queue.
//!
//! One type serves the client API and the wire bodies; it lives in `rocketmq-remoting` with
//! Java's ordering (`topic`, then `brokerName`, then `queueId`).

pub use rocketmq_rs_remoting::protocol::body::MessageQueue;

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
