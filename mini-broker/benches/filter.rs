//! SQL92 filter cost: compiling an expression, and deciding one message (decoding its raw
//! properties section and evaluating), as a pull or a held pull does per candidate message.
//!
//! `cargo bench -p rocketmq-rs-mini-broker --bench filter`

use criterion::{criterion_group, criterion_main, Criterion};
use rocketmq_rs_mini_broker::filter::{MessageFilter, Sql92Filter};
use std::hint::black_box;
use std::sync::Arc;

const SQL: &str =
    "TAGS = 'TagA' AND price BETWEEN 10 AND 100 AND region IN ('eu', 'us') OR vip IS NOT NULL";

/// A typical section: the client's system properties plus three user properties.
const PROPS: &[u8] = b"KEYS\x01order-123456\x02TAGS\x01TagA\x02UNIQ_KEY\x017F0000010001000000000000000A0001\x02WAIT\x01true\x02CLUSTER\x01DefaultCluster\x02price\x0142\x02region\x01us\x02color\x01red\x02";

fn bench(c: &mut Criterion) {
    c.bench_function("sql92_compile", |b| {
        b.iter(|| Sql92Filter::compile(black_box(SQL)).unwrap())
    });
    let f = MessageFilter::Sql(Arc::new(Sql92Filter::compile(SQL).unwrap()));
    assert!(f.matches_properties(PROPS));
    c.bench_function("sql92_decide_one_message", |b| {
        b.iter(|| f.matches_properties(black_box(PROPS)))
    });
    let tags = MessageFilter::Tags(vec![2598919].into());
    c.bench_function("tag_decide_one_arrived_message", |b| {
        b.iter(|| tags.matches_arrived(black_box(PROPS)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
