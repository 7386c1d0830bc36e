//! `consume` and `bench consume`: pull every queue of a topic directly (like `mqadmin
//! consumeMessage`), without joining the group's rebalance.

use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_client::message::MessageExt;
use rocketmq_rs_client::message::PullStatus;
use rocketmq_rs_remoting::protocol::header::{
    PullMessageRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::util::now_ms;

use crate::admin::{Ctx, QueueAt};
use crate::error::{CliError, Result};
use crate::produce::run_with_progress;
use crate::stats::{BenchReport, Histogram, Stats};

/// PullSysFlag bit: the subscription in the header is authoritative.
const FLAG_SUBSCRIPTION: i32 = 0x4;
/// Messages per pull.
const BATCH: i32 = 32;

/// Where to start reading each queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    /// The oldest retained message.
    First,
    /// Only messages stored from now on.
    Last,
    /// The group's committed offset (else the oldest).
    Committed,
}

/// Settings of a consume run.
#[derive(Debug, Clone)]
pub struct ConsumeOpts {
    /// Topic.
    pub topic: String,
    /// Group (used for committed offsets and `commit`).
    pub group: String,
    /// Tag expression: `*` or `tagA || tagB`.
    pub expr: String,
    /// Start position.
    pub from: StartFrom,
    /// Stop after this many messages.
    pub count: Option<u64>,
    /// Stop when nothing arrived for this long.
    pub idle_timeout: Duration,
    /// Stop after this long in total.
    pub duration: Option<Duration>,
    /// Commit the new offsets of the group when done.
    pub commit: bool,
}

/// Whether `tags` matches the expression (`*`, empty, or `a || b`).
///
/// ```
/// use rocketmq_rs_cli::consume::tag_matches;
/// assert!(tag_matches("*", None));
/// assert!(tag_matches("a || b", Some("b")));
/// assert!(!tag_matches("a || b", Some("c")));
/// assert!(!tag_matches("a", None));
/// ```
pub fn tag_matches(expr: &str, tags: Option<&str>) -> bool {
    let expr = expr.trim();
    if expr.is_empty() || expr == "*" {
        return true;
    }
    let Some(tag) = tags else { return false };
    expr.split("||").any(|t| t.trim() == tag)
}

struct Cursor {
    q: QueueAt,
    next: i64,
}

/// Pulls from every readable queue of the topic round-robin and calls `on_msg` for each
/// matching message until `count` messages, `idle_timeout` without messages, or `duration`.
/// Returns the number of messages delivered.
pub async fn consume(
    ctx: &Ctx,
    o: &ConsumeOpts,
    mut on_msg: impl FnMut(&MessageExt),
) -> Result<u64> {
    let queues = ctx.read_queues(&o.topic).await?;
    if queues.is_empty() {
        return Err(CliError::NotFound(format!(
            "topic {} has no readable queue",
            o.topic
        )));
    }
    let api = ctx.api();
    let t = ctx.timeout();
    let mut cursors = Vec::with_capacity(queues.len());
    for q in queues {
        let next = match o.from {
            StartFrom::First => api.get_min_offset(&q.addr, &q.mq, t).await?,
            StartFrom::Last => api.get_max_offset(&q.addr, &q.mq, t).await?,
            StartFrom::Committed => {
                let header =
                    rocketmq_rs_remoting::protocol::header::QueryConsumerOffsetRequestHeader {
                        consumer_group: o.group.clone(),
                        topic: o.topic.clone(),
                        queue_id: q.mq.queue_id,
                        set_zero_if_not_found: Some(false),
                        bname: Some(q.mq.broker_name.clone()),
                    };
                match api.query_consumer_offset(&q.addr, &header, t).await? {
                    Some(off) => off,
                    None => api.get_min_offset(&q.addr, &q.mq, t).await?,
                }
            }
        };
        cursors.push(Cursor { q, next });
    }
    let rt = Arc::clone(ctx.instance().runtime());
    let clock = rt.clock();
    let started = clock.stopwatch();
    let mut last_msg = clock.now();
    let mut delivered = 0u64;
    let done = |delivered: u64| o.count.is_some_and(|c| delivered >= c);
    'outer: while !done(delivered) {
        let mut found_any = false;
        for c in &mut cursors {
            let header = PullMessageRequestHeader {
                consumer_group: o.group.clone(),
                topic: o.topic.clone(),
                queue_id: c.q.mq.queue_id,
                queue_offset: c.next,
                max_msg_nums: BATCH,
                sys_flag: FLAG_SUBSCRIPTION,
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some(if o.expr.trim().is_empty() {
                    "*".into()
                } else {
                    o.expr.clone()
                }),
                sub_version: 0,
                expression_type: Some("TAG".into()),
                max_msg_bytes: None,
                request_source: None,
                proxy_froward_client_id: None,
                bname: Some(c.q.mq.broker_name.clone()),
            };
            let r = api.pull_message(&c.q.addr, &header, false, t).await?;
            match r.status {
                PullStatus::Found => {
                    c.next = r.next_begin_offset;
                    for m in &r.messages {
                        if !tag_matches(&o.expr, m.property("TAGS")) {
                            continue;
                        }
                        found_any = true;
                        on_msg(m);
                        delivered += 1;
                        if done(delivered) {
                            break 'outer;
                        }
                    }
                }
                PullStatus::NoMatchedMsg | PullStatus::OffsetIllegal => {
                    c.next = r.next_begin_offset;
                }
                PullStatus::NoNewMsg => {}
            }
        }
        if found_any {
            last_msg = clock.now();
        } else {
            if clock.since(last_msg) >= o.idle_timeout
                || o.duration.is_some_and(|d| started.elapsed() >= d)
            {
                break;
            }
            rt.sleep(Duration::from_millis(100)).await;
        }
        if o.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    if o.commit {
        for c in &cursors {
            let header = UpdateConsumerOffsetRequestHeader {
                consumer_group: o.group.clone(),
                topic: o.topic.clone(),
                queue_id: c.q.mq.queue_id,
                commit_offset: c.next,
                bname: Some(c.q.mq.broker_name.clone()),
            };
            api.update_consumer_offset(&c.q.addr, &header, t).await?;
        }
    }
    Ok(delivered)
}

/// `bench consume`: consumes and measures the end-to-end latency (born time to receipt,
/// so producer and consumer clocks must agree).
pub async fn bench_consume(ctx: &Ctx, o: &ConsumeOpts, progress: bool) -> Result<BenchReport> {
    let stats = Stats::with_clock(ctx.instance().runtime().clock());
    let mut local = Histogram::new();
    let work = consume(ctx, o, |m| {
        let e2e = (now_ms() - m.born_timestamp).max(0) as u64;
        local.record(Duration::from_millis(e2e));
        stats.ok_count(1, m.body.len() as u64);
    });
    run_with_progress(ctx, work, &stats, "consume", progress).await?;
    stats.merge(&local, 0, 0);
    Ok(stats.report("consume"))
}
