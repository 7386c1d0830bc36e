//! Queue allocation strategies against Java's results.
//!
//! Averagely / AveragelyByCircle expectations are computed by hand from Java's
//! `AllocateMessageQueueAveragely(ByCircle)` (and docs/protocol/rebalance.md §3). Consistent-hash
//! expectations come from `tests/data/gen_consistent_hash.py`, an independent Python mirror of
//! Java's `AllocateMessageQueueConsistentHash` + `ConsistentHashRouter` (MD5 hash).

use std::collections::{BTreeMap, HashSet};

use rocketmq_rs_client::consumer::rebalance::strategy::{
    sort_for_allocation, AllocateAveragely, AllocateAveragelyByCircle, AllocateByConfig,
    AllocateConsistentHash, AllocateStrategy,
};
use rocketmq_rs_client::message_queue::MessageQueue;

/// Queues `TopicTest@<broker>:0..n` for each `(broker, n)`, in the given order.
fn mqs(spec: &[(&str, i32)]) -> Vec<MessageQueue> {
    spec.iter()
        .flat_map(|(b, n)| (0..*n).map(move |i| MessageQueue::new("TopicTest", *b, i)))
        .collect()
}

fn cids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Queue ids of a single-broker allocation.
fn qids(v: &[MessageQueue]) -> Vec<i32> {
    v.iter().map(|m| m.queue_id).collect()
}

/// `broker:queue` labels with the broker's last letter, e.g. `a:0`.
fn labels(v: &[MessageQueue]) -> Vec<String> {
    v.iter()
        .map(|m| {
            format!(
                "{}:{}",
                m.broker_name.trim_start_matches("broker-"),
                m.queue_id
            )
        })
        .collect()
}

fn all_of(
    strategy: &dyn AllocateStrategy,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Vec<Vec<MessageQueue>> {
    cid_all
        .iter()
        .map(|cid| strategy.allocate("g", cid, mq_all, cid_all))
        .collect()
}

#[test]
fn appendix_a4_averagely_and_by_circle() {
    let mq_all = mqs(&[("broker-a", 4), ("broker-b", 4)]);
    let cid_all = cids(&["10.0.0.1@1", "10.0.0.2@1", "10.0.0.3@1"]);
    let avg: Vec<Vec<String>> = all_of(&AllocateAveragely, &mq_all, &cid_all)
        .iter()
        .map(|v| labels(v))
        .collect();
    assert_eq!(
        avg,
        [
            vec!["a:0", "a:1", "a:2"],
            vec!["a:3", "b:0", "b:1"],
            vec!["b:2", "b:3"]
        ]
    );
    let circle: Vec<Vec<String>> = all_of(&AllocateAveragelyByCircle, &mq_all, &cid_all)
        .iter()
        .map(|v| labels(v))
        .collect();
    assert_eq!(
        circle,
        [
            vec!["a:0", "a:3", "b:2"],
            vec!["a:1", "b:0", "b:3"],
            vec!["a:2", "b:1"]
        ]
    );
}

#[test]
fn averagely_table() {
    // (queues, consumers, expected queue ids per consumer) — Java AllocateMessageQueueAveragely.
    let table: &[(i32, usize, &[&[i32]])] = &[
        (1, 1, &[&[0]]),
        (2, 3, &[&[0], &[1], &[]]), // more consumers than queues
        (3, 5, &[&[0], &[1], &[2], &[], &[]]), // more consumers than queues
        (5, 5, &[&[0], &[1], &[2], &[3], &[4]]), // one each
        (7, 2, &[&[0, 1, 2, 3], &[4, 5, 6]]), // uneven: first gets the extra
        (10, 4, &[&[0, 1, 2], &[3, 4, 5], &[6, 7], &[8, 9]]),
        (
            16,
            3,
            &[
                &[0, 1, 2, 3, 4, 5],
                &[6, 7, 8, 9, 10],
                &[11, 12, 13, 14, 15],
            ],
        ),
        (8, 1, &[&[0, 1, 2, 3, 4, 5, 6, 7]]),
    ];
    for (n, c, expected) in table {
        let mq_all = mqs(&[("broker-a", *n)]);
        let cid_all: Vec<String> = (0..*c).map(|i| format!("cid-{i:02}")).collect();
        let got: Vec<Vec<i32>> = all_of(&AllocateAveragely, &mq_all, &cid_all)
            .iter()
            .map(|v| qids(v))
            .collect();
        let want: Vec<Vec<i32>> = expected.iter().map(|v| v.to_vec()).collect();
        assert_eq!(got, want, "n={n} c={c}");
    }
}

#[test]
fn by_circle_table() {
    let table: &[(i32, usize, &[&[i32]])] = &[
        (1, 1, &[&[0]]),
        (2, 3, &[&[0], &[1], &[]]),
        (10, 4, &[&[0, 4, 8], &[1, 5, 9], &[2, 6], &[3, 7]]),
        (7, 2, &[&[0, 2, 4, 6], &[1, 3, 5]]),
        (5, 5, &[&[0], &[1], &[2], &[3], &[4]]),
    ];
    for (n, c, expected) in table {
        let mq_all = mqs(&[("broker-a", *n)]);
        let cid_all: Vec<String> = (0..*c).map(|i| format!("cid-{i:02}")).collect();
        let got: Vec<Vec<i32>> = all_of(&AllocateAveragelyByCircle, &mq_all, &cid_all)
            .iter()
            .map(|v| qids(v))
            .collect();
        let want: Vec<Vec<i32>> = expected.iter().map(|v| v.to_vec()).collect();
        assert_eq!(got, want, "n={n} c={c}");
    }
}

#[test]
fn degenerate_inputs_allocate_nothing() {
    let mq_all = mqs(&[("broker-a", 4)]);
    let cid_all = cids(&["c1", "c2"]);
    let strategies: Vec<Box<dyn AllocateStrategy>> = vec![
        Box::new(AllocateAveragely),
        Box::new(AllocateAveragelyByCircle),
        Box::new(AllocateConsistentHash::default()),
    ];
    for s in &strategies {
        assert!(
            s.allocate("g", "missing", &mq_all, &cid_all).is_empty(),
            "{}",
            s.name()
        );
        assert!(
            s.allocate("g", "", &mq_all, &cid_all).is_empty(),
            "{}",
            s.name()
        );
        assert!(
            s.allocate("g", "c1", &[], &cid_all).is_empty(),
            "{}",
            s.name()
        );
        assert!(
            s.allocate("g", "c1", &mq_all, &[]).is_empty(),
            "{}",
            s.name()
        );
    }
    assert!(AllocateConsistentHash::new(0)
        .allocate("g", "c1", &mq_all, &cid_all)
        .is_empty());
}

#[test]
fn every_queue_has_exactly_one_owner() {
    let strategies: Vec<Box<dyn AllocateStrategy>> = vec![
        Box::new(AllocateAveragely),
        Box::new(AllocateAveragelyByCircle),
        Box::new(AllocateConsistentHash::default()),
        Box::new(AllocateConsistentHash::new(1)),
    ];
    for n in 1..=24 {
        for c in 1..=9usize {
            let mq_all = mqs(&[("broker-a", n / 2), ("broker-b", n - n / 2)]);
            let cid_all: Vec<String> = (0..c).map(|i| format!("10.0.0.{i}@1")).collect();
            for s in &strategies {
                let mut owned: Vec<MessageQueue> = all_of(s.as_ref(), &mq_all, &cid_all)
                    .into_iter()
                    .flatten()
                    .collect();
                owned.sort();
                assert_eq!(owned, mq_all, "{} n={n} c={c}", s.name());
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct Expected {
    hashes: BTreeMap<String, u32>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    virtual_nodes: usize,
    mq_all: Vec<(String, String, i32)>,
    cid_all: Vec<String>,
    expected: BTreeMap<String, Vec<(String, String, i32)>>,
}

#[test]
fn consistent_hash_matches_python_mirror_of_java() {
    let data: Expected =
        serde_json::from_str(include_str!("data/consistent_hash_expected.json")).unwrap();
    for (key, h) in &data.hashes {
        assert_eq!(AllocateConsistentHash::hash(key), *h, "hash({key:?})");
    }
    assert!(data.cases.len() >= 5);
    for case in &data.cases {
        let to_mq =
            |(t, b, q): &(String, String, i32)| MessageQueue::new(t.as_str(), b.as_str(), *q);
        let mq_all: Vec<MessageQueue> = case.mq_all.iter().map(to_mq).collect();
        let strategy = AllocateConsistentHash::new(case.virtual_nodes);
        for cid in &case.cid_all {
            let want: Vec<MessageQueue> = case.expected[cid].iter().map(to_mq).collect();
            let got = strategy.allocate("g", cid, &mq_all, &case.cid_all);
            assert_eq!(got, want, "case {:?}, cid {cid}", case.name);
        }
    }
}

#[test]
fn consistent_hash_moves_few_queues_when_a_consumer_leaves() {
    let mq_all = mqs(&[("broker-a", 16), ("broker-b", 16)]);
    let five: Vec<String> = (1..=5).map(|i| format!("10.0.0.{i}@1")).collect();
    let four: Vec<String> = five[..4].to_vec();
    let s = AllocateConsistentHash::default();
    for cid in &four {
        let before: HashSet<MessageQueue> =
            s.allocate("g", cid, &mq_all, &five).into_iter().collect();
        let after: HashSet<MessageQueue> =
            s.allocate("g", cid, &mq_all, &four).into_iter().collect();
        // Survivors keep everything they had and only gain the leaver's queues.
        assert!(before.is_subset(&after), "{cid}");
    }
}

#[test]
fn names_match_java() {
    assert_eq!(AllocateAveragely.name(), "AVG");
    assert_eq!(AllocateAveragelyByCircle.name(), "AVG_BY_CIRCLE");
    assert_eq!(AllocateConsistentHash::default().name(), "CONSISTENT_HASH");
    assert_eq!(AllocateConsistentHash::default().virtual_nodes, 10);
    assert_eq!(AllocateByConfig::default().name(), "CONFIG");
}

#[test]
fn sorting_uses_java_order() {
    let mut mq_all = vec![
        MessageQueue::new("T", "broker-b", 0),
        MessageQueue::new("T", "broker-a", 10),
        MessageQueue::new("T", "broker-a", 2),
        MessageQueue::new("S", "broker-z", 0),
    ];
    let mut cid_all = cids(&["10.0.0.2@1", "10.0.0.10@1", "10.0.0.1@1"]);
    sort_for_allocation(&mut mq_all, &mut cid_all);
    assert_eq!(
        mq_all.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        [
            "MessageQueue [topic=S, brokerName=broker-z, queueId=0]",
            "MessageQueue [topic=T, brokerName=broker-a, queueId=2]",
            "MessageQueue [topic=T, brokerName=broker-a, queueId=10]",
            "MessageQueue [topic=T, brokerName=broker-b, queueId=0]",
        ]
    );
    assert_eq!(cid_all, ["10.0.0.10@1", "10.0.0.1@1", "10.0.0.2@1"]);
}
