//! Regression: topics are path components of the store. A fuzzed DELETE_TOPIC_IN_BROKER with a
//! `../` topic once removed a directory outside the store; puts could likewise create
//! directories anywhere. Both must be refused without touching the file system.

use bytes::Bytes;
use futures::executor::block_on;
use rocketmq_rs_mini_broker::store::{is_safe_topic_dir, MessageStore, StoreConfig, StoreError};
use rocketmq_rs_remoting::protocol::message::MessageExt;

const EVIL: &[&str] = &[
    "..",
    ".",
    "../victim",
    "../../victim",
    "a/../../victim",
    "/tmp/victim",
    "victim/..",
    "",
    "a\0b",
    "a b",
];

#[test]
fn unsafe_topics_are_refused_and_nothing_outside_the_store_is_touched() {
    let root = tempfile::tempdir().unwrap();
    let store_dir = root.path().join("store");
    let victim = root.path().join("victim");
    std::fs::create_dir_all(victim.join("keep")).unwrap();
    let store = MessageStore::open(StoreConfig::new(&store_dir)).unwrap();
    for topic in EVIL {
        assert!(!is_safe_topic_dir(topic), "{topic:?} must be unsafe");
        let err = block_on(store.delete_topic(topic)).unwrap_err();
        assert!(
            matches!(err, StoreError::MessageIllegal(_)),
            "{topic:?}: {err}"
        );
        let mut m = MessageExt::new(*topic, Bytes::from_static(b"x"));
        m.born_host = "127.0.0.1:1".parse().unwrap();
        m.store_host = "127.0.0.1:2".parse().unwrap();
        let err = block_on(store.put_message(m)).unwrap_err();
        assert!(
            matches!(err, StoreError::MessageIllegal(_)),
            "{topic:?}: {err}"
        );
    }
    assert!(
        victim.join("keep").is_dir(),
        "a directory outside the store was removed"
    );
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside.len(),
        2,
        "unexpected entries next to the store: {outside:?}"
    );
    // Legal names still work.
    assert!(is_safe_topic_dir("TopicTest"));
    assert!(is_safe_topic_dir("%RETRY%group-1"));
    assert!(is_safe_topic_dir("SCHEDULE_TOPIC_XXXX"));
    store.shutdown();
}
