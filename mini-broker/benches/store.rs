//! Store throughput: commit-log appends of 1 KiB records (async flush) and consume-queue reads.
//!
//! `cargo bench -p rocketmq-rs-mini-broker --bench store`

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::executor::block_on;
use rocketmq_rs_mini_broker::store::{MessageStore, StoreConfig};
use rocketmq_rs_remoting::protocol::message::MessageExt;

fn message(queue_id: i32, body: &Bytes) -> MessageExt {
    let mut m = MessageExt::new("BenchTopic", body.clone());
    m.queue_id = queue_id;
    m.born_host = "10.0.0.1:5555".parse().unwrap();
    m.store_host = "127.0.0.1:10911".parse().unwrap();
    m.put_property("TAGS", "TagA");
    m.put_property("UNIQ_KEY", "7F0000010001000000000000000A0001");
    m
}

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_segment_size = 256 << 20;
    c.index_slots = 500_000;
    c.index_entries_per_file = 2_000_000;
    c
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    let mut g = c.benchmark_group("commit_log_append");
    const IN_FLIGHT: u64 = 256;
    g.throughput(Throughput::Elements(IN_FLIGHT));
    g.bench_function("1KiB_async_flush_256_in_flight", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for i in 0..iters {
                let futs: Vec<_> = (0..IN_FLIGHT)
                    .map(|k| store.put_message(message(((i + k) % 8) as i32, &body)))
                    .collect();
                for r in block_on(futures::future::join_all(futs)) {
                    r.unwrap();
                }
            }
            t0.elapsed()
        })
    });
    g.finish();
    store.shutdown();
}

fn bench_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let body = Bytes::from(vec![b'y'; 1024]);
    const N: i64 = 20_000;
    let futs: Vec<_> = (0..N)
        .map(|_| store.put_message(message(0, &body)))
        .collect();
    for r in block_on(futures::future::join_all(futs)) {
        r.unwrap();
    }
    let mut g = c.benchmark_group("consume_queue_read");
    g.throughput(Throughput::Elements(32));
    let mut off = 0i64;
    g.bench_function("get_messages_32x1KiB", |b| {
        b.iter(|| {
            let r = store
                .get_messages("BenchTopic", 0, off, 32, 1 << 20, None)
                .unwrap();
            assert_eq!(r.messages.len(), 32);
            off = if r.next_begin_offset + 32 > N {
                0
            } else {
                r.next_begin_offset
            };
        })
    });
    g.finish();
    store.shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = bench_append, bench_read
}
criterion_main!(benches);
