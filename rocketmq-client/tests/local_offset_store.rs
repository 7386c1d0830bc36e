//! Local (broadcasting) offset store: file round trips, Java file compatibility, `.bak`
//! fallback and atomic replacement.

use std::fs;
use std::sync::Arc;

use rocketmq_rs_client::consumer::offset_store::local::{
    read_offsets_file, LocalFileOffsetStore, LocalOffsetError, ReadOffsetType,
};
use rocketmq_rs_client::message_queue::MessageQueue;

fn mq(broker: &str, id: i32) -> MessageQueue {
    MessageQueue::new("TopicTest", broker, id)
}

#[test]
fn round_trip_through_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileOffsetStore::new(dir.path(), "10.0.0.1@DEFAULT", "g").unwrap();
    assert_eq!(store.load().unwrap(), 0, "missing file is fine");
    assert_eq!(
        store.path(),
        dir.path()
            .join("10.0.0.1@DEFAULT")
            .join("g")
            .join("offsets.json")
    );
    for i in 0..4 {
        store.update_offset(&mq("broker-a", i), 100 + i64::from(i), false);
    }
    store
        .persist_all([&mq("broker-a", 0), &mq("broker-a", 1)])
        .unwrap();
    store.persist(&mq("broker-a", 2)).unwrap();
    // Not in memory: skipped without touching the file.
    store.persist(&mq("broker-z", 9)).unwrap();

    let reloaded = LocalFileOffsetStore::new(dir.path(), "10.0.0.1@DEFAULT", "g").unwrap();
    assert_eq!(reloaded.load().unwrap(), 3);
    let offsets = reloaded.offsets(None);
    assert_eq!(offsets.len(), 3);
    assert_eq!(offsets[&mq("broker-a", 0)], 100);
    assert_eq!(offsets[&mq("broker-a", 2)], 102);
    assert_eq!(
        reloaded
            .read_offset(&mq("broker-a", 3), ReadOffsetType::Memory)
            .unwrap(),
        None
    );

    // The previous version is kept as .bak.
    let bak = read_offsets_file(&dir.path().join("10.0.0.1@DEFAULT/g/offsets.json.bak"))
        .unwrap()
        .unwrap();
    assert_eq!(bak.len(), 2);
    // No temp files left behind.
    let names: Vec<String> = fs::read_dir(dir.path().join("10.0.0.1@DEFAULT/g"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["offsets.json", "offsets.json.bak"]);
}

#[test]
fn persist_merges_with_entries_of_other_stores() {
    let dir = tempfile::tempdir().unwrap();
    let a = LocalFileOffsetStore::new(dir.path(), "cid", "g").unwrap();
    let b = LocalFileOffsetStore::new(dir.path(), "cid", "g").unwrap();
    a.update_offset(&mq("broker-a", 0), 5, false);
    b.update_offset(&mq("broker-b", 0), 7, false);
    a.persist(&mq("broker-a", 0)).unwrap();
    b.persist(&mq("broker-b", 0)).unwrap();
    let t = read_offsets_file(a.path()).unwrap().unwrap();
    assert_eq!(t[&mq("broker-a", 0)], 5);
    assert_eq!(t[&mq("broker-b", 0)], 7);
}

#[test]
fn reads_file_written_by_java() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offsets.json");
    // fastjson PrettyFormat output of OffsetSerializeWrapper (object keys, tab indents).
    fs::write(
        &path,
        "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":1,\n\t\t\t\"topic\":\"TopicTest\"\n\t\t}:42,{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":0,\n\t\t\t\"topic\":\"TopicTest\"\n\t\t}:17\n\t}\n}",
    )
    .unwrap();
    let store = LocalFileOffsetStore::with_path(&path);
    assert_eq!(
        store
            .read_offset(&mq("broker-a", 1), ReadOffsetType::Store)
            .unwrap(),
        Some(42)
    );
    // A store read is cached in memory.
    assert_eq!(
        store
            .read_offset(&mq("broker-a", 1), ReadOffsetType::Memory)
            .unwrap(),
        Some(42)
    );
    assert_eq!(
        store
            .read_offset(&mq("broker-a", 0), ReadOffsetType::MemoryThenStore)
            .unwrap(),
        Some(17)
    );
    assert_eq!(
        store
            .read_offset(&mq("broker-b", 0), ReadOffsetType::MemoryThenStore)
            .unwrap(),
        None
    );
}

#[test]
fn falls_back_to_bak_like_java() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileOffsetStore::new(dir.path(), "cid", "g").unwrap();
    store.update_offset(&mq("broker-a", 0), 1, false);
    store.persist(&mq("broker-a", 0)).unwrap();
    store.update_offset(&mq("broker-a", 0), 2, false);
    store.persist(&mq("broker-a", 0)).unwrap();
    let path = store.path().to_path_buf();

    // Corrupt main file: the .bak (previous version) is used.
    fs::write(&path, "{\"offsetTable\":{{garbage").unwrap();
    let s2 = LocalFileOffsetStore::with_path(&path);
    assert_eq!(s2.load().unwrap(), 1);
    assert_eq!(
        s2.read_offset(&mq("broker-a", 0), ReadOffsetType::Memory)
            .unwrap(),
        Some(1)
    );

    // Empty main file: same.
    fs::write(&path, "").unwrap();
    assert_eq!(
        read_offsets_file(&path).unwrap().unwrap()[&mq("broker-a", 0)],
        1
    );

    // Main file missing (crash between the two renames): same.
    fs::remove_file(&path).unwrap();
    assert_eq!(
        read_offsets_file(&path).unwrap().unwrap()[&mq("broker-a", 0)],
        1
    );

    // Both unusable: a typed error, and persisting replaces them with memory.
    fs::write(&path, "nope").unwrap();
    fs::write(path.with_extension("json.bak"), "nope").unwrap();
    assert!(matches!(s2.load(), Err(LocalOffsetError::Corrupt { .. })));
    s2.update_offset(&mq("broker-a", 0), 9, false);
    s2.persist(&mq("broker-a", 0)).unwrap();
    assert_eq!(
        read_offsets_file(&path).unwrap().unwrap()[&mq("broker-a", 0)],
        9
    );
}

#[test]
fn concurrent_persists_do_not_corrupt_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalFileOffsetStore::new(dir.path(), "cid", "g").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let q = mq("broker-a", t);
                for i in 0..25 {
                    store.update_offset(&q, i, true);
                    store.persist(&q).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let t = read_offsets_file(store.path()).unwrap().unwrap();
    assert_eq!(t.len(), 4);
    assert!(t.values().all(|v| *v == 24));
}

#[test]
fn unwritable_location_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the client-id directory should be.
    fs::write(dir.path().join("cid"), "x").unwrap();
    let store = LocalFileOffsetStore::new(dir.path(), "cid", "g").unwrap();
    store.update_offset(&mq("broker-a", 0), 1, false);
    assert!(matches!(
        store.persist(&mq("broker-a", 0)),
        Err(LocalOffsetError::Io { .. })
    ));
}
