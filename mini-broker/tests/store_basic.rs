//! Store behaviour: append/read, roll-over, pull status rules, index, listener, batches,
//! group commit, replication primitives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use rocketmq_rs_mini_broker::store::{
    FlushMode, GetStatus, MessageStore, PutStatus, StoreConfig, StoreError,
};
use rocketmq_rs_remoting::protocol::message::{decode_messages, tag_hash_code, MessageExt};

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_segment_size = 64 * 1024;
    c.consume_queue_entries_per_file = 16;
    c.index_slots = 64;
    c.index_entries_per_file = 100;
    c.max_message_size = 16 * 1024;
    c
}

fn msg(
    topic: &str,
    queue_id: i32,
    body: &str,
    tag: Option<&str>,
    keys: Option<&str>,
    uniq: Option<&str>,
) -> MessageExt {
    let mut m = MessageExt::new(topic, Bytes::copy_from_slice(body.as_bytes()));
    m.queue_id = queue_id;
    m.born_timestamp = 1_700_000_000_000;
    m.born_host = "10.0.0.1:5555".parse().unwrap();
    m.store_host = "127.0.0.1:10911".parse().unwrap();
    if let Some(t) = tag {
        m.put_property("TAGS", t);
    }
    if let Some(k) = keys {
        m.put_property("KEYS", k);
    }
    if let Some(u) = uniq {
        m.put_property("UNIQ_KEY", u);
    }
    m
}

fn put(store: &MessageStore, m: MessageExt) -> rocketmq_rs_mini_broker::store::PutResult {
    block_on(store.put_message(m)).unwrap()
}

fn bodies(store: &MessageStore, topic: &str, q: i32, from: i64, n: usize) -> Vec<String> {
    let r = store
        .get_messages(topic, q, from, n, usize::MAX, None)
        .unwrap();
    r.messages
        .iter()
        .flat_map(|b| decode_messages(b.clone()).unwrap())
        .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
        .collect()
}

#[test]
fn append_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut offsets = Vec::new();
    for i in 0..10 {
        let r = put(
            &store,
            msg("T1", 1, &format!("body-{i}"), Some("TagA"), None, None),
        );
        assert_eq!(r.status, PutStatus::Ok);
        assert_eq!(r.queue_offset, i);
        offsets.push(r);
    }
    assert_eq!(store.max_offset("T1", 1), 10);
    assert_eq!(store.min_offset("T1", 1), 0);
    let got = store.get_messages("T1", 1, 3, 4, usize::MAX, None).unwrap();
    assert_eq!(got.status, GetStatus::Found);
    assert_eq!(got.next_begin_offset, 7);
    assert_eq!(got.messages.len(), 4);
    let mut concat = Vec::new();
    for b in &got.messages {
        concat.extend_from_slice(b);
    }
    assert_eq!(got.total_bytes, concat.len());
    let decoded = decode_messages(Bytes::from(concat)).unwrap();
    for (k, m) in decoded.iter().enumerate() {
        let i = 3 + k;
        assert_eq!(m.body, format!("body-{i}"));
        assert_eq!(m.queue_offset, i as i64);
        assert_eq!(m.commit_log_offset, offsets[i].commit_log_offset);
        assert_eq!(m.store_timestamp, offsets[i].store_timestamp);
        assert_eq!(m.msg_id, offsets[i].msg_id);
        assert_eq!(m.tags(), Some("TagA"));
    }
    let m = store
        .message_by_commit_offset(offsets[5].commit_log_offset)
        .unwrap();
    assert_eq!(m.body, "body-5");
    assert!(matches!(
        store.message_by_commit_offset(offsets[5].commit_log_offset + 1),
        Err(StoreError::NoSuchMessage(_))
    ));
    assert_eq!(store.topics(), vec!["T1".to_string()]);
    assert_eq!(store.queue_ids("T1"), vec![1]);
    store.shutdown();
    store.shutdown(); // idempotent
    assert!(block_on(store.put_message(msg("T1", 1, "late", None, None, None))).is_err());

    // Clean reopen: everything is there and queue offsets continue.
    let store = MessageStore::open(config(dir.path())).unwrap();
    assert_eq!(store.max_offset("T1", 1), 10);
    assert_eq!(
        put(&store, msg("T1", 1, "again", None, None, None)).queue_offset,
        10
    );
    assert_eq!(bodies(&store, "T1", 1, 9, 5), vec!["body-9", "again"]);
}

#[test]
fn segment_roll_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_segment_size = 4096;
    cfg.max_message_size = 2048;
    let store = MessageStore::open(cfg.clone()).unwrap();
    let body = "x".repeat(700);
    let mut offs = Vec::new();
    for i in 0..40 {
        let r = put(
            &store,
            msg("Roll", 0, &format!("{i}:{body}"), None, None, None),
        );
        // A record never spans segments.
        assert_eq!(
            r.commit_log_offset / 4096,
            (r.commit_log_offset + r.store_size as i64 - 1) / 4096
        );
        offs.push(r.commit_log_offset);
    }
    let segs = std::fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .count();
    assert!(segs >= 8, "expected many segments, got {segs}");
    // Consume-queue files of 16 entries roll too (once written: new entries wait in memory
    // for a page to fill or for a flush).
    store.flush().unwrap();
    let cq_files = std::fs::read_dir(dir.path().join("consumequeue/Roll/0"))
        .unwrap()
        .count();
    assert_eq!(cq_files, 3);
    let all: Vec<String> = (0..40)
        .step_by(8)
        .flat_map(|from| bodies(&store, "Roll", 0, from, 8))
        .collect();
    assert_eq!(all.len(), 40);
    for (i, b) in all.iter().enumerate() {
        assert!(b.starts_with(&format!("{i}:")));
    }
    store.shutdown();
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.max_offset("Roll", 0), 40);
    assert_eq!(bodies(&store, "Roll", 0, 39, 1), vec![format!("39:{body}")]);
    assert_eq!(
        store
            .message_by_commit_offset(offs[20])
            .unwrap()
            .queue_offset,
        20
    );
}

#[test]
fn pull_status_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let g = store
        .get_messages("Nope", 0, 5, 32, usize::MAX, None)
        .unwrap();
    assert_eq!(
        (g.status, g.next_begin_offset),
        (GetStatus::NoMatchedLogicQueue, 0)
    );
    for i in 0..20 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        put(&store, msg("S", 0, &format!("m{i}"), Some(tag), None, None));
    }
    let g = store
        .get_messages("S", 0, -1, 32, usize::MAX, None)
        .unwrap();
    assert_eq!(
        (g.status, g.next_begin_offset),
        (GetStatus::OffsetTooSmall, 0)
    );
    let g = store
        .get_messages("S", 0, 20, 32, usize::MAX, None)
        .unwrap();
    assert_eq!(
        (g.status, g.next_begin_offset, g.max_offset),
        (GetStatus::OffsetOverflowOne, 20, 20)
    );
    // Java 4.9.x+/5.x correct an overflow to maxOffset.
    let g = store
        .get_messages("S", 0, 25, 32, usize::MAX, None)
        .unwrap();
    assert_eq!(
        (g.status, g.next_begin_offset),
        (GetStatus::OffsetOverflowBadly, 20)
    );

    let a = tag_hash_code("TagA");
    let only_a = move |code: i64| code == a;
    let g = store
        .get_messages("S", 0, 0, 3, usize::MAX, Some(&only_a))
        .unwrap();
    assert_eq!(g.status, GetStatus::Found);
    assert_eq!(g.messages.len(), 3);
    // Entries 0..=4 scanned (0,2,4 matched); stops before the 4th match.
    assert_eq!(g.next_begin_offset, 5);

    let none = |_: i64| false;
    let g = store
        .get_messages("S", 0, 4, 32, usize::MAX, Some(&none))
        .unwrap();
    assert_eq!(g.status, GetStatus::NoMatchedMessage);
    assert!(g.messages.is_empty());
    // The scan stops at the end of the consume-queue file (16 entries per file).
    assert_eq!(g.next_begin_offset, 16);

    // Count cap from the store config (32) and byte cap (first message always fits).
    let g = store.get_messages("S", 0, 0, 1000, 1, None).unwrap();
    assert_eq!(g.messages.len(), 1);
    assert_eq!(g.next_begin_offset, 1);
    let one = g.total_bytes;
    let g = store.get_messages("S", 0, 0, 1000, one * 3, None).unwrap();
    assert_eq!(g.messages.len(), 3);
}

#[test]
fn index_lookups_by_key_and_uniq_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    // 150 records with two keys each overflow one 100-entry index file.
    for i in 0..150 {
        put(
            &store,
            msg(
                "Idx",
                i % 4,
                &format!("b{i}"),
                None,
                Some(&format!("order-{i} user-{}", i % 3)),
                Some(&format!("UNIQ{i:04}")),
            ),
        );
    }
    put(
        &store,
        msg(
            "Other",
            0,
            "other",
            None,
            Some("order-7"),
            Some("UNIQ-OTHER"),
        ),
    );
    let check = |store: &MessageStore| {
        let r = store
            .query_by_key("Idx", "order-7", 10, 0, i64::MAX)
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(decode_messages(r[0].clone()).unwrap()[0].body, "b7");
        let r = store
            .query_by_key("Idx", "user-1", 1000, 0, i64::MAX)
            .unwrap();
        assert_eq!(r.len(), 50);
        let r = store.query_by_key("Idx", "user-1", 5, 0, i64::MAX).unwrap();
        assert_eq!(r.len(), 5);
        let m = store.query_by_uniq_id("Idx", "UNIQ0149").unwrap().unwrap();
        assert_eq!(decode_messages(m).unwrap()[0].body, "b149");
        let m = store.query_by_uniq_id("Idx", "UNIQ0003").unwrap().unwrap();
        assert_eq!(decode_messages(m).unwrap()[0].body, "b3");
        assert!(store
            .query_by_uniq_id("Idx", "UNIQ-OTHER")
            .unwrap()
            .is_none());
        assert!(store
            .query_by_key("Idx", "order-7", 10, 0, 1000)
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .query_by_key("Other", "order-7", 10, 0, i64::MAX)
                .unwrap()
                .len(),
            1
        );
    };
    check(&store);
    store.shutdown();
    let store = MessageStore::open(config(dir.path())).unwrap();
    check(&store);
    store.simulate_crash();
    let store = MessageStore::open(config(dir.path())).unwrap();
    check(&store);
}

#[test]
fn arrival_listener_fires_after_visibility() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let st2 = store.clone();
    store.set_arrival_listener(Arc::new(move |topic: &str, q: i32, max: i64, _: &[_]| {
        // Visible by the time the listener runs.
        assert_eq!(st2.max_offset(topic, q), max);
        s2.lock().unwrap().push((topic.to_string(), q, max));
    }));
    put(&store, msg("L", 2, "a", None, None, None));
    put(&store, msg("L", 2, "b", None, None, None));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("L".to_string(), 2, 1), ("L".to_string(), 2, 2)]
    );
    // The listener holds a clone: shut down explicitly.
    store.shutdown();
}

#[test]
fn batch_put_is_consecutive_and_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    put(&store, msg("B", 0, "first", None, None, None));
    let batch: Vec<_> = (0..5)
        .map(|i| msg("B", 0, &format!("b{i}"), None, None, None))
        .collect();
    let rs = block_on(store.put_messages(batch)).unwrap();
    assert_eq!(
        rs.iter().map(|r| r.queue_offset).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for w in rs.windows(2) {
        assert_eq!(
            w[0].commit_log_offset + w[0].store_size as i64,
            w[1].commit_log_offset
        );
    }
    let mut bad: Vec<_> = (0..3)
        .map(|i| msg("B", 0, &format!("c{i}"), None, None, None))
        .collect();
    bad.push(msg("B", 0, &"y".repeat(20_000), None, None, None));
    assert!(matches!(
        block_on(store.put_messages(bad)),
        Err(StoreError::MessageIllegal(_))
    ));
    assert!(matches!(
        block_on(store.put_message(msg("../evil", 0, "x", None, None, None))),
        Err(StoreError::MessageIllegal(_))
    ));
    assert_eq!(store.max_offset("B", 0), 6);
    assert_eq!(
        put(&store, msg("B", 0, "next", None, None, None)).queue_offset,
        6
    );
}

#[test]
fn group_commit_uses_few_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_mode = FlushMode::Sync {
        timeout: Duration::from_secs(5),
    };
    let store = MessageStore::open(cfg).unwrap();
    let before = store.stats().commit_log_fsyncs;
    let futs: Vec<_> = (0..64)
        .map(|i| store.put_message(msg("G", i % 4, &format!("g{i}"), None, None, None)))
        .collect();
    let rs = block_on(futures::future::join_all(futs));
    for r in &rs {
        assert_eq!(r.as_ref().unwrap().status, PutStatus::Ok);
    }
    let used = store.stats().commit_log_fsyncs - before;
    assert!((1..=8).contains(&used), "64 sync puts took {used} fsyncs");
    assert!(
        store.stats().commit_log_flushed_offset
            >= rs.last().unwrap().as_ref().unwrap().commit_log_offset
    );

    // Also from many threads.
    let before = store.stats().commit_log_fsyncs;
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            let done = done.clone();
            s.spawn(move || {
                for i in 0..8 {
                    let r = block_on(store.put_message(msg(
                        "G",
                        t,
                        &format!("t{t}-{i}"),
                        None,
                        None,
                        None,
                    )))
                    .unwrap();
                    assert_eq!(r.status, PutStatus::Ok);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 64);
    let used = store.stats().commit_log_fsyncs - before;
    assert!(used <= 64, "{used}");
}

#[test]
fn wait_false_does_not_wait_for_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_mode = FlushMode::Sync {
        timeout: Duration::from_secs(5),
    };
    let store = MessageStore::open(cfg).unwrap();
    let mut m = msg("W", 0, "nowait", None, None, None);
    m.put_property("WAIT", "false");
    assert_eq!(put(&store, m).status, PutStatus::Ok);
}

#[test]
fn timestamps_and_delete_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    assert_eq!(store.earliest_store_time("TS", 0).unwrap(), None);
    let mut times = Vec::new();
    for i in 0..6 {
        times.push(put(&store, msg("TS", 0, &format!("t{i}"), None, None, None)).store_timestamp);
        std::thread::sleep(Duration::from_millis(3));
    }
    assert_eq!(store.earliest_store_time("TS", 0).unwrap(), Some(times[0]));
    assert_eq!(store.offset_by_timestamp("TS", 0, 0).unwrap(), 0);
    assert_eq!(store.offset_by_timestamp("TS", 0, times[3]).unwrap(), 3);
    assert_eq!(store.offset_by_timestamp("TS", 0, times[3] - 1).unwrap(), 3);
    assert_eq!(store.offset_by_timestamp("TS", 0, times[5] + 1).unwrap(), 6);

    block_on(store.delete_topic("TS")).unwrap();
    assert!(store.topics().is_empty());
    assert!(!dir.path().join("consumequeue/TS").exists());
    assert_eq!(
        put(&store, msg("TS", 0, "fresh", None, None, None)).queue_offset,
        0
    );
    assert_eq!(bodies(&store, "TS", 0, 0, 10), vec!["fresh"]);
}

#[test]
fn delayed_topic_tag_code_is_delivery_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut m = msg("SCHEDULE_TOPIC_XXXX", 2, "later", None, None, None);
    m.put_property("DELAY", "3");
    let r = put(&store, m);
    let want = r.store_timestamp + 10_000; // level 3 = 10s
    let f = move |code: i64| code == want;
    let g = store
        .get_messages("SCHEDULE_TOPIC_XXXX", 2, 0, 1, usize::MAX, Some(&f))
        .unwrap();
    assert_eq!(g.status, GetStatus::Found);
}

#[test]
fn replication_raw_read_and_append() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let mut cfg = config(mdir.path());
    cfg.commit_log_segment_size = 4096;
    cfg.max_message_size = 2048;
    let master = MessageStore::open(cfg.clone()).unwrap();
    cfg.root_dir = sdir.path().to_path_buf();
    let slave = MessageStore::open(cfg).unwrap();
    for i in 0..30 {
        put(
            &master,
            msg(
                "R",
                i % 2,
                &format!("r{i}-{}", "z".repeat(300)),
                Some("T"),
                Some(&format!("k{i}")),
                None,
            ),
        );
    }
    let mut pulls = 0;
    while slave.commit_log_max_offset() < master.commit_log_max_offset() {
        let from = slave.commit_log_max_offset();
        let chunk = master.read_commit_log(from, 1000).unwrap();
        assert!(!chunk.is_empty());
        let end = block_on(slave.append_commit_log_raw(from, chunk)).unwrap();
        assert_eq!(end, slave.commit_log_max_offset());
        pulls += 1;
    }
    assert!(pulls > 5);
    for q in 0..2 {
        assert_eq!(slave.max_offset("R", q), 15);
        let a = master
            .get_messages("R", q, 0, 32, usize::MAX, None)
            .unwrap();
        let b = slave.get_messages("R", q, 0, 32, usize::MAX, None).unwrap();
        assert_eq!(a.messages, b.messages);
    }
    assert_eq!(
        slave
            .query_by_key("R", "k12", 5, 0, i64::MAX)
            .unwrap()
            .len(),
        1
    );
    // Wrong position and corrupt bytes are refused without side effects.
    let end = slave.commit_log_max_offset();
    assert!(matches!(
        block_on(slave.append_commit_log_raw(end + 8, Bytes::from_static(b"x"))),
        Err(StoreError::OffsetMismatch { .. })
    ));
    put(&master, msg("R", 0, "tail", None, None, None));
    let mut chunk = master.read_commit_log(end, 1 << 20).unwrap().to_vec();
    let n = chunk.len();
    chunk[n - 3] ^= 0xFF;
    assert!(matches!(
        block_on(slave.append_commit_log_raw(end, Bytes::from(chunk))),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(slave.commit_log_max_offset(), end);
}

/// Regression: a raw chunk that starts a new segment and carries that segment's records *and*
/// its end-of-segment filler must be accepted (the filler used to be sized against its own
/// position plus a segment size, not against the new segment's end).
#[test]
fn replication_whole_segment_chunks() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let mut cfg = config(mdir.path());
    cfg.commit_log_segment_size = 4096;
    cfg.max_message_size = 2048;
    let master = MessageStore::open(cfg.clone()).unwrap();
    cfg.root_dir = sdir.path().to_path_buf();
    let slave = MessageStore::open(cfg).unwrap();
    for i in 0..40 {
        put(
            &master,
            msg(
                "W",
                0,
                &format!("w{i}-{}", "y".repeat(250)),
                None,
                None,
                None,
            ),
        );
    }
    assert!(master.commit_log_max_offset() > 3 * 4096);
    let mut whole_segments = 0;
    while slave.commit_log_max_offset() < master.commit_log_max_offset() {
        let from = slave.commit_log_max_offset();
        // Up to the end of `from`'s segment: records plus the closing filler in one chunk.
        let chunk = master.read_commit_log(from, 4096).unwrap();
        assert!(!chunk.is_empty());
        let end = block_on(slave.append_commit_log_raw(from, chunk)).unwrap();
        if from % 4096 == 0 && end % 4096 == 0 {
            whole_segments += 1;
        }
    }
    assert!(
        whole_segments >= 3,
        "{whole_segments} whole segments copied"
    );
    assert_eq!(
        slave.commit_log_max_offset(),
        master.commit_log_max_offset()
    );
    assert_eq!(slave.max_offset("W", 0), 40);
    let a = master
        .get_messages("W", 0, 0, 64, usize::MAX, None)
        .unwrap();
    let b = slave.get_messages("W", 0, 0, 64, usize::MAX, None).unwrap();
    assert_eq!(a.messages, b.messages);
    let mut from = 0;
    while from < master.commit_log_max_offset() {
        let x = master.read_commit_log(from, 4096).unwrap();
        let y = slave.read_commit_log(from, 4096).unwrap();
        assert_eq!(x, y, "commit log differs at {from}");
        from += x.len() as i64;
    }
}

#[test]
fn filtered_scan_is_bounded_like_java() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.consume_queue_entries_per_file = 4096;
    let store = MessageStore::open(cfg).unwrap();
    let futs: Vec<_> = (0..1000)
        .map(|i| store.put_message(msg("F", 0, &format!("f{i}"), Some("TagB"), None, None)))
        .collect();
    for r in block_on(futures::future::join_all(futs)) {
        r.unwrap();
    }
    let none = |_: i64| false;
    // max(16000, 32 * 20) bytes of consume queue = 800 entries per pull.
    let g = store
        .get_messages("F", 0, 0, 32, usize::MAX, Some(&none))
        .unwrap();
    assert_eq!(
        (g.status, g.next_begin_offset),
        (GetStatus::NoMatchedMessage, 800)
    );
    let g = store
        .get_messages("F", 0, 800, 32, usize::MAX, Some(&none))
        .unwrap();
    assert_eq!(g.next_begin_offset, 1000);
}
