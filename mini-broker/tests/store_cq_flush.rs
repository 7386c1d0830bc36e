//! Lazy consume-queue flushing (Apache `flushConsumeQueueLeastPages` /
//! `flushConsumeQueueThoroughInterval`): which queues a periodic flush fsyncs, where the
//! checkpoint stays meanwhile, and (feature `fault-injection`) that a power cut after lazy
//! flushes loses no acknowledged message: recovery rebuilds every entry the cut took.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use rocketmq_rs_mini_broker::store::{Checkpoint, MessageStore, PutResult, PutStatus, StoreConfig};
use rocketmq_rs_remoting::protocol::message::MessageExt;

fn config(dir: &Path, least_pages: u32, thorough: Duration) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_segment_size = 1 << 20;
    // 20 KiB files: five pages, so the least-pages rule decides before a file fills up.
    c.consume_queue_entries_per_file = 1024;
    c.index_slots = 1024;
    c.index_entries_per_file = 200_000;
    c.max_message_size = 4096;
    c.logic_flush_interval = Duration::from_millis(10);
    c.consume_queue_flush_least_pages = least_pages;
    c.consume_queue_thorough_flush_interval = thorough;
    c
}

fn msg(topic: &str, q: i32, body: String) -> MessageExt {
    // Indexed, as client messages are: recovery starts at the lower of the checkpoint and the
    // index's durable end, so without an index it would replay the whole log and hide a
    // checkpoint that claims too much.
    let mut m = MessageExt::new(topic, Bytes::from(body.clone()));
    m.put_property("UNIQ_KEY", body);
    m.queue_id = q;
    m.born_host = "10.0.0.1:5555".parse().unwrap();
    m.store_host = "127.0.0.1:10911".parse().unwrap();
    m
}

/// Puts every `(topic, queue, body)` concurrently; all must be stored.
fn put_all(store: &MessageStore, msgs: &[(String, i32, String)]) -> Vec<PutResult> {
    let futs: Vec<_> = msgs
        .iter()
        .map(|(t, q, b)| store.put_message(msg(t, *q, b.clone())))
        .collect();
    block_on(futures::future::join_all(futs))
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status, PutStatus::Ok);
            r
        })
        .collect()
}

fn checkpoint(dir: &Path) -> Checkpoint {
    Checkpoint::load(&dir.join("checkpoint")).unwrap().unwrap()
}

/// Waits up to 5 s for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(5), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn periodic_flush_skips_queues_under_least_pages_and_the_checkpoint_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), 2, Duration::from_secs(3600))).unwrap();
    // One message in each of 100 queues: none reaches two pages.
    let wide: Vec<_> = (0..25)
        .flat_map(|t| (0..4).map(move |q| (format!("Wide{t}"), q, format!("w{t}-{q}"))))
        .collect();
    let first = put_all(&store, &wide);
    let lowest = first.iter().map(|r| r.commit_log_offset).min().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // dozens of periodic flushes
    let st = store.stats();
    assert_eq!(st.consume_queue_fsyncs, 0, "{st:?}");
    assert_eq!(st.consume_queue_dir_fsyncs, 0, "{st:?}");
    assert_eq!(checkpoint(dir.path()).logic_offset, lowest);

    // 500 entries (10 000 bytes) in one queue pass two pages: that queue alone is fsynced,
    // once, with its directory, its topic's and the root.
    let hot: Vec<_> = (0..500)
        .map(|i| ("Hot".to_string(), 0, format!("h{i}")))
        .collect();
    put_all(&store, &hot);
    wait_for("the hot queue's fsync", || {
        store.stats().consume_queue_fsyncs == 1
    });
    std::thread::sleep(Duration::from_millis(100));
    let st = store.stats();
    assert_eq!(st.consume_queue_fsyncs, 1, "{st:?}");
    assert_eq!(st.consume_queue_dir_fsyncs, 3, "{st:?}");
    assert_eq!(
        checkpoint(dir.path()).logic_offset,
        lowest,
        "the wide queues' entries are still not durable"
    );

    // An explicit flush is thorough: every queue, every directory once.
    store.flush().unwrap();
    let st = store.stats();
    assert_eq!(st.consume_queue_fsyncs, 101, "{st:?}");
    assert_eq!(st.consume_queue_dir_fsyncs, 3 + 100 + 25 + 1, "{st:?}");
    assert_eq!(
        checkpoint(dir.path()).logic_offset,
        store.commit_log_max_offset()
    );
    store.shutdown();
}

#[test]
fn thorough_interval_makes_every_queue_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), 2, Duration::from_millis(200))).unwrap();
    let wide: Vec<_> = (0..10)
        .flat_map(|t| (0..4).map(move |q| (format!("T{t}"), q, format!("m{t}-{q}"))))
        .collect();
    put_all(&store, &wide);
    let end = store.commit_log_max_offset();
    wait_for("a thorough flush", || {
        store.stats().consume_queue_fsyncs >= 40 && checkpoint(dir.path()).logic_offset == end
    });
    store.shutdown();
}

#[test]
fn least_pages_zero_flushes_every_queue_with_a_new_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), 0, Duration::from_secs(3600))).unwrap();
    let wide: Vec<_> = (0..5)
        .flat_map(|t| (0..4).map(move |q| (format!("Z{t}"), q, format!("z{t}-{q}"))))
        .collect();
    put_all(&store, &wide);
    let end = store.commit_log_max_offset();
    wait_for("every queue's fsync", || {
        store.stats().consume_queue_fsyncs >= 20 && checkpoint(dir.path()).logic_offset == end
    });
    store.shutdown();
}

/// Power cuts emulated by the `fault-injection` feature's consume-queue shadow.
#[cfg(feature = "fault-injection")]
mod power_cut {
    use std::collections::BTreeMap;

    use rocketmq_rs_mini_broker::store::{power_loss, FlushMode, GetStatus};
    use rocketmq_rs_remoting::protocol::message::decode_messages;

    use super::*;

    /// What a queue must hold after recovery: its bodies in queue-offset order.
    type Expected = BTreeMap<(String, i32), Vec<String>>;

    fn check_queues(store: &MessageStore, want: &Expected) {
        for ((topic, q), bodies) in want {
            let mut off = 0i64;
            let mut got = Vec::new();
            loop {
                let r = store
                    .get_messages(topic, *q, off, 32, usize::MAX, None)
                    .unwrap();
                if r.status != GetStatus::Found {
                    break;
                }
                for b in &r.messages {
                    for m in decode_messages(b.clone()).unwrap() {
                        assert_eq!(m.queue_offset, off, "{topic}/{q}: offsets must be dense");
                        off += 1;
                        got.push(String::from_utf8(m.body.to_vec()).unwrap());
                    }
                }
                assert_eq!(r.next_begin_offset, off);
            }
            assert_eq!(
                store.max_offset(topic, *q),
                bodies.len() as i64,
                "{topic}/{q}: no entry lost or duplicated"
            );
            assert_eq!(&got, bodies, "{topic}/{q}");
        }
    }

    /// Puts `msgs` and records each body under its queue; offsets must continue `want`.
    fn put_recorded(store: &MessageStore, want: &mut Expected, msgs: &[(String, i32, String)]) {
        for ((t, q, b), r) in msgs.iter().zip(put_all(store, msgs)) {
            let v = want.entry((t.clone(), *q)).or_default();
            assert_eq!(r.queue_offset, v.len() as i64);
            v.push(b.clone());
        }
    }

    fn many(topic: &str, n: usize, tag: &str) -> Vec<(String, i32, String)> {
        (0..n)
            .map(|i| (topic.to_string(), 0, format!("{tag}-{i}")))
            .collect()
    }

    /// After a crash the store opens without fsyncing every queue (the logic flusher's first
    /// pass does that in the background): until then the checkpoint stays where recovery
    /// started, so a second power cut right after the restart, before any flush, loses
    /// nothing either.
    #[test]
    fn a_power_cut_before_the_first_flush_after_a_restart_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 2, Duration::from_secs(3600));
        cfg.flush_mode = FlushMode::Sync {
            timeout: Duration::from_secs(10),
        };
        let store = MessageStore::open(cfg.clone()).unwrap();
        let mut want: Expected = BTreeMap::new();
        let wide: Vec<_> = (0..10)
            .flat_map(|t| (0..4).map(move |q| (format!("R{t}"), q, format!("r{t}-{q}"))))
            .collect();
        put_recorded(&store, &mut want, &wide);
        put_recorded(&store, &mut want, &many("RHot", 300, "h"));
        store.simulate_crash();
        power_loss::consume_queues(dir.path()).unwrap();
        let before = checkpoint(dir.path());

        // No periodic flush during this run.
        cfg.logic_flush_interval = Duration::from_secs(3600);
        let store = MessageStore::open(cfg.clone()).unwrap();
        assert_eq!(
            checkpoint(dir.path()),
            before,
            "no checkpoint before the queues are durable again"
        );
        check_queues(&store, &want);
        put_recorded(&store, &mut want, &many("R3", 5, "after"));
        store.simulate_crash();
        let rb = power_loss::consume_queues(dir.path()).unwrap();
        assert!(
            rb.removed > 0,
            "the restart's queue files were never fsynced: {rb:?}"
        );

        let store = MessageStore::open(cfg).unwrap();
        check_queues(&store, &want);
        store.shutdown();
    }

    /// A power cut (page cache lost) after many queues were written, some fsynced by the
    /// least-pages rule and most not, some created after the last checkpoint, some with
    /// entries only in memory (a queue's tail goes to its file once it holds a page) and some
    /// with a page the writer wrote out but nothing fsynced: every acknowledged message is
    /// readable again at its offset.
    #[test]
    fn power_loss_after_lazy_flushes_loses_no_acknowledged_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 2, Duration::from_secs(3600));
        // Sync flush: an acknowledged message is in the fsynced commit log.
        cfg.flush_mode = FlushMode::Sync {
            timeout: Duration::from_secs(10),
        };
        let store = MessageStore::open(cfg.clone()).unwrap();
        let mut want: Expected = BTreeMap::new();
        // A queue made durable by a thorough flush; more pages come at the end.
        put_recorded(&store, &mut want, &many("PTail", 300, "a"));
        store.flush().unwrap();
        let mut n = 0usize;
        let mut wave = |store: &MessageStore, topics: std::ops::Range<usize>, hot: usize| {
            let mut msgs = Vec::new();
            for round in 0..3 {
                for t in topics.clone() {
                    for q in 0..4 {
                        msgs.push((format!("P{t}"), q, format!("p{t}-{q}-{round}-{n}")));
                        n += 1;
                    }
                }
            }
            // Hot queues pass two pages and get fsynced by periodic flushes.
            for i in 0..hot {
                msgs.push(("PHot".to_string(), (i % 2) as i32, format!("hot-{i}-{n}")));
                n += 1;
            }
            put_recorded(store, &mut want, &msgs);
        };
        wave(&store, 0..40, 1000);
        std::thread::sleep(Duration::from_millis(100));
        // Queues created after checkpoints were written, and more entries in the old ones.
        wave(&store, 20..60, 1000);
        std::thread::sleep(Duration::from_millis(50));
        // A few more in the flushed hot queues, under a page: in memory only.
        wave(&store, 0..0, 20);
        // Past a page, under two: the writer writes a page out, no fsync covers it (in a file
        // fsynced before, and in a new file of a new queue whose directories no fsync covered
        // either); the rest stays in memory.
        put_recorded(&store, &mut want, &many("PTail", 250, "b"));
        put_recorded(&store, &mut want, &many("PNew", 250, "c"));
        let cp = checkpoint(dir.path());
        let end = store.commit_log_max_offset();
        assert!(
            store.stats().consume_queue_fsyncs >= 2,
            "the hot queues were flushed"
        );
        assert!(
            cp.logic_offset < end,
            "unflushed queues hold the checkpoint back ({} of {end})",
            cp.logic_offset
        );
        store.simulate_crash();
        let rb = power_loss::consume_queues(dir.path()).unwrap();
        assert!(
            rb.removed > 0 && rb.rewound > 0,
            "the cut must take entries for the test to mean anything: {rb:?}"
        );
        assert!(
            !dir.path().join("consumequeue/PNew").exists(),
            "the new queue's directory was never fsynced: {rb:?}"
        );

        let store = MessageStore::open(cfg.clone()).unwrap();
        check_queues(&store, &want);
        // Offsets go on where the recovered queues end.
        let r = block_on(store.put_message(msg("P59", 3, "after".into()))).unwrap();
        assert_eq!(r.queue_offset, want[&("P59".to_string(), 3)].len() as i64);
        // What recovery rebuilt was fsynced before the new checkpoint claimed it: a second cut
        // right after the restart loses nothing either.
        store.simulate_crash();
        power_loss::consume_queues(dir.path()).unwrap();
        want.get_mut(&("P59".to_string(), 3))
            .unwrap()
            .push("after".into());
        let store = MessageStore::open(cfg).unwrap();
        check_queues(&store, &want);
        store.shutdown();
    }
}
