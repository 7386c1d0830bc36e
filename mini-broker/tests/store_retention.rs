//! Retention on the store itself: expiry by time, the deleteWhen window and manual deletion,
//! ratio-forced deletion, the disk-full refusal and the size cap, min offsets and the data that
//! must survive (also across a restart).

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::executor::block_on;
use rocketmq_rs_mini_broker::store::{
    GetStatus, MessageStore, PutResult, RetentionConfig, StoreConfig, StoreError,
};
use rocketmq_rs_remoting::protocol::message::{decode_messages, MessageExt};

const SEG: u64 = 64 * 1024;

/// Small files everywhere so a few hundred messages span many of each; the background pass
/// is far away so only `clean_now` deletes.
fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_segment_size = SEG;
    c.consume_queue_entries_per_file = 16;
    c.index_slots = 64;
    c.index_entries_per_file = 100;
    c.max_message_size = 8 * 1024;
    c.retention.clean_resource_interval = Duration::from_secs(3600);
    c.retention.delete_commit_log_files_interval = Duration::ZERO;
    c.retention.delete_consume_queue_files_interval = Duration::ZERO;
    c.retention.delete_file_batch_max = 1000;
    c.retention.delete_when = String::new();
    c
}

fn msg(topic: &str, queue_id: i32, i: usize) -> MessageExt {
    let body = format!("{i:06}-{}", "x".repeat(1000));
    let mut m = MessageExt::new(topic, Bytes::from(body));
    m.queue_id = queue_id;
    m.born_host = "10.0.0.1:5555".parse().unwrap();
    m.store_host = "127.0.0.1:10911".parse().unwrap();
    m.put_property("KEYS", format!("k{i}"));
    m.put_property("UNIQ_KEY", format!("U{i}"));
    m
}

/// Puts messages `from..to` alternating over queues 0 and 1.
fn fill(store: &MessageStore, from: usize, to: usize) -> Vec<PutResult> {
    (from..to)
        .map(|i| block_on(store.put_message(msg("RetT", (i % 2) as i32, i))).unwrap())
        .collect()
}

fn files(dir: &Path, sub: &str) -> usize {
    walk(&dir.join(sub))
}

fn walk(p: &Path) -> usize {
    match std::fs::read_dir(p) {
        Err(_) => 0,
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { walk(&p) } else { 1 })
            .sum(),
    }
}

/// The body prefixes (message numbers) of everything readable in a queue from its minimum.
fn read_all(store: &MessageStore, q: i32) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = store.min_offset("RetT", q);
    loop {
        let r = store
            .get_messages("RetT", q, off, 32, usize::MAX, None)
            .unwrap();
        if r.status != GetStatus::Found {
            assert_eq!(r.status, GetStatus::OffsetOverflowOne, "at {off}");
            break;
        }
        for b in &r.messages {
            for m in decode_messages(b.clone()).unwrap() {
                out.push(std::str::from_utf8(&m.body[..6]).unwrap().parse().unwrap());
            }
        }
        off = r.next_begin_offset;
    }
    out
}

/// First queue offset of queue `q` whose record starts at or after `log_min`.
fn expected_min(puts: &[PutResult], q: i32, log_min: i64) -> i64 {
    puts.iter()
        .enumerate()
        .filter(|(i, _)| (*i % 2) as i32 == q)
        .map(|(_, p)| p)
        .find(|p| p.commit_log_offset >= log_min)
        .map(|p| p.queue_offset)
        .unwrap()
}

fn retention(store: &MessageStore, f: impl FnOnce(&mut RetentionConfig)) {
    let mut r = store.retention();
    f(&mut r);
    store.set_retention(r).unwrap();
}

fn utc_hour() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24
}

#[test]
fn expired_segments_go_with_their_queue_and_index_files_and_min_offsets_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.retention.file_reserved_time = Duration::from_secs(1);
    // Every hour is a deletion hour.
    cfg.retention.delete_when = (0..24).map(|h| h.to_string()).collect::<Vec<_>>().join(";");
    let store = MessageStore::open(cfg.clone()).unwrap();
    let mut puts = fill(&store, 0, 600);
    store.flush().unwrap();
    let (segs0, cqs0, idx0) = (
        files(dir.path(), "commitlog"),
        files(dir.path(), "consumequeue"),
        files(dir.path(), "index"),
    );
    assert!(
        segs0 >= 9 && cqs0 >= 30 && idx0 >= 10,
        "{segs0} {cqs0} {idx0}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    // Written after the sleep: the last segment is young (and never deleted anyway).
    puts.extend(fill(&store, 600, 620));
    store.flush().unwrap();
    let (segs0, cqs0, idx0) = (
        files(dir.path(), "commitlog"),
        files(dir.path(), "consumequeue"),
        files(dir.path(), "index"),
    );

    let r = store.clean_now().unwrap();
    assert!(r.commit_log_segments >= segs0 - 1, "{r:?}");
    assert!(r.consume_queue_files > 0 && r.index_files > 0, "{r:?}");
    assert_eq!(
        files(dir.path(), "commitlog"),
        segs0 - r.commit_log_segments
    );
    assert_eq!(
        files(dir.path(), "consumequeue"),
        cqs0 - r.consume_queue_files
    );
    assert_eq!(files(dir.path(), "index"), idx0 - r.index_files);
    let log_min = store.commit_log_min_offset();
    assert!(log_min > 0);
    for q in [0, 1] {
        let min = store.min_offset("RetT", q);
        assert_eq!(min, expected_min(&puts, q, log_min), "queue {q}");
        // A consumer at 0 is sent to the minimum.
        let r = store
            .get_messages("RetT", q, 0, 32, usize::MAX, None)
            .unwrap();
        assert_eq!(r.status, GetStatus::OffsetTooSmall);
        assert_eq!(r.next_begin_offset, min);
        // Nothing still stored is lost: every message from the first retained one on.
        let got = read_all(&store, q);
        let want: Vec<usize> = (0..620)
            .filter(|i| (i % 2) as i32 == q && puts[*i].commit_log_offset >= log_min)
            .collect();
        assert_eq!(got, want, "queue {q}");
    }
    // Keys of deleted messages are gone, kept ones still found.
    assert!(store
        .query_by_key("RetT", "k0", 4, 0, i64::MAX)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .query_by_key("RetT", "k619", 4, 0, i64::MAX)
            .unwrap()
            .len(),
        1
    );
    let earliest = store.earliest_message_time().unwrap();
    assert!(earliest.is_some());
    let (min0, min1) = (store.min_offset("RetT", 0), store.min_offset("RetT", 1));
    store.shutdown();

    // A restart finds the same minimums and the same messages; writing continues.
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.commit_log_min_offset(), log_min);
    assert_eq!(store.min_offset("RetT", 0), min0);
    assert_eq!(store.min_offset("RetT", 1), min1);
    let p = block_on(store.put_message(msg("RetT", 0, 620))).unwrap();
    assert_eq!(p.queue_offset, 310);
    assert_eq!(read_all(&store, 0).last(), Some(&620));
    store.shutdown();
}

#[test]
fn delete_when_window_and_manual_request_decide_when_expired_segments_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.retention.file_reserved_time = Duration::from_secs(1);
    cfg.retention.max_store_bytes = Some(1 << 40);
    let store = MessageStore::open(cfg).unwrap();
    fill(&store, 0, 300);
    store.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let segs = files(dir.path(), "commitlog");

    // Expired, but outside the window and with a nearly empty disk: kept.
    let other = ((utc_hour() + 12) % 24).to_string();
    retention(&store, |r| r.delete_when = other.clone());
    assert_eq!(store.clean_now().unwrap().commit_log_segments, 0);
    assert_eq!(files(dir.path(), "commitlog"), segs);

    // Inside the window: deleted (one segment per pass here).
    retention(&store, |r| {
        r.delete_when = format!("{};{}", utc_hour(), (utc_hour() + 1) % 24);
        r.delete_file_batch_max = 1;
    });
    assert_eq!(store.clean_now().unwrap().commit_log_segments, 1);

    // A manual request deletes outside the window too (Apache: the next 20 passes).
    retention(&store, |r| {
        r.delete_when = other.clone();
        r.delete_file_batch_max = 2;
    });
    assert_eq!(store.clean_now().unwrap().commit_log_segments, 0);
    store.delete_expired_files_manually();
    // The cleaner thread may run the first manual pass itself (the request wakes it); three
    // more passes of two segments each leave only the segment being written.
    for _ in 0..3 {
        store.clean_now().unwrap();
    }
    assert!(
        segs <= 8,
        "{segs} segments: the passes above would not reach the last"
    );
    assert_eq!(files(dir.path(), "commitlog"), 1);
    store.shutdown();
}

#[test]
fn forced_ratio_deletes_unexpired_segments_and_max_used_ratio_only_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = MessageStore::open(cfg).unwrap();
    let puts = fill(&store, 0, 600);
    store.flush().unwrap();
    let used = store.store_bytes();
    let segs = files(dir.path(), "commitlog");

    // 80 % used: above diskMaxUsedSpaceRatio (75), but nothing is 72 h old.
    retention(&store, |r| r.max_store_bytes = Some(used * 100 / 80));
    let r = store.clean_now().unwrap();
    assert_eq!(r.commit_log_segments, 0, "{r:?}");
    assert!(!r.disk_full);

    // 88 %: past the forced ratio (85), unexpired segments go; with forced cleaning
    // disabled they stay.
    retention(&store, |r| {
        r.max_store_bytes = Some(used * 100 / 88);
        r.clean_file_forcibly_enable = false;
    });
    assert_eq!(store.clean_now().unwrap().commit_log_segments, 0);
    retention(&store, |r| {
        r.clean_file_forcibly_enable = true;
        r.delete_file_batch_max = 3;
    });
    let r = store.clean_now().unwrap();
    assert_eq!(r.commit_log_segments, 3, "{r:?}");
    assert!(!r.disk_full, "88 % is below the warning level");
    assert_eq!(files(dir.path(), "commitlog"), segs - 3);
    let log_min = store.commit_log_min_offset();
    assert_eq!(store.min_offset("RetT", 1), expected_min(&puts, 1, log_min));
    store.shutdown();
}

#[test]
fn a_full_disk_refuses_puts_keeps_the_store_intact_and_takes_writes_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    fill(&store, 0, 200);
    store.flush().unwrap();
    let used = store.store_bytes();

    // 95 % used and nothing may be deleted: the store marks itself disk-full.
    retention(&store, |r| {
        r.max_store_bytes = Some(used * 100 / 95);
        r.clean_file_forcibly_enable = false;
    });
    let r = store.clean_now().unwrap();
    assert!(r.disk_full && store.is_disk_full(), "{r:?}");
    let e = block_on(store.put_message(msg("RetT", 0, 200))).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull { .. }), "{e}");
    assert!(e.is_disk_full());
    assert!(store.is_writable(), "a full disk is not a broken store");
    assert_eq!(read_all(&store, 0), (0..200).step_by(2).collect::<Vec<_>>());

    // Space frees up (here: a larger cap). At or below the forced ratio puts are taken again.
    retention(&store, |r| r.max_store_bytes = Some(used * 100 / 50));
    assert!(!store.clean_now().unwrap().disk_full);
    let p = block_on(store.put_message(msg("RetT", 0, 200))).unwrap();
    assert_eq!(p.queue_offset, 100, "offsets continue without a gap");
    store.shutdown();
    let store = MessageStore::open(cfg).unwrap();
    let mut want: Vec<usize> = (0..200).step_by(2).collect();
    want.push(200);
    assert_eq!(read_all(&store, 0), want);
    store.shutdown();
}

#[test]
fn the_size_cap_refuses_a_new_segment_and_nothing_half_written_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // Nothing is deleted: the cap alone stops the writes.
    cfg.retention.clean_file_forcibly_enable = false;
    cfg.retention.max_store_bytes = Some(6 * SEG);
    let store = MessageStore::open(cfg.clone()).unwrap();
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..600 {
        match block_on(store.put_message(msg("RetT", 0, i))) {
            Ok(p) => {
                assert_eq!(p.queue_offset, acked.len() as i64);
                acked.push(i);
            }
            Err(e) => {
                assert!(e.is_disk_full(), "{e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0 && !acked.is_empty(), "{refused} refused");
    assert!(store.store_bytes() <= 6 * SEG);
    assert!(store.is_writable());
    assert_eq!(read_all(&store, 0), acked);
    // Raising the cap (and a pass clearing the disk-full mark) lets writes continue.
    retention(&store, |r| r.max_store_bytes = Some(64 * SEG));
    store.clean_now().unwrap();
    let p = block_on(store.put_message(msg("RetT", 0, 999))).unwrap();
    assert_eq!(p.queue_offset, acked.len() as i64);
    acked.push(999);
    store.simulate_crash();
    drop(store);
    // After a crash, recovery finds exactly the acknowledged messages.
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(read_all(&store, 0), acked);
    store.shutdown();
}

#[test]
fn retention_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut r = store.retention();
    r.delete_when = "25".into();
    assert!(store.set_retention(r).is_err());
    let mut r = store.retention();
    r.max_store_bytes = Some(SEG - 1);
    assert!(store.set_retention(r).is_err(), "cap below one segment");
    let mut r = store.retention();
    r.delete_file_batch_max = 0;
    assert!(store.set_retention(r).is_err());
    store.shutdown();
}

#[test]
fn a_crash_between_segment_and_queue_deletion_is_repaired_at_open_and_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let puts = fill(&store, 0, 600);
    store.shutdown();
    // What a crash right after retention's first unlinks leaves: the oldest segments gone,
    // every consume-queue and index file still there, pointing into them.
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    for s in &segs[..3] {
        std::fs::remove_file(s).unwrap();
    }
    let (cqs, idx) = (
        files(dir.path(), "consumequeue"),
        files(dir.path(), "index"),
    );
    let store = MessageStore::open(cfg).unwrap();
    let log_min = 3 * SEG as i64;
    assert_eq!(store.commit_log_min_offset(), log_min);
    for q in [0, 1] {
        assert_eq!(
            store.min_offset("RetT", q),
            expected_min(&puts, q, log_min),
            "queue {q}: the minimum skips entries pointing into deleted segments"
        );
        let want: Vec<usize> = (0..600)
            .filter(|i| (i % 2) as i32 == q && puts[*i].commit_log_offset >= log_min)
            .collect();
        assert_eq!(read_all(&store, q), want);
    }
    // The next pass deletes the leftover files.
    let r = store.clean_now().unwrap();
    assert_eq!(r.commit_log_segments, 0);
    assert!(r.consume_queue_files > 0 && r.index_files > 0, "{r:?}");
    assert_eq!(
        files(dir.path(), "consumequeue"),
        cqs - r.consume_queue_files
    );
    assert_eq!(files(dir.path(), "index"), idx - r.index_files);
    assert_eq!(store.min_offset("RetT", 0), expected_min(&puts, 0, log_min));
    store.shutdown();
}
