//! Concurrent consumption (Java `ConsumeMessageConcurrentlyService`): batches of a queue run in
//! parallel under a global concurrency bound; the committable offset is the smallest offset still
//! in flight.
//!
//! A call's outcome: the messages up to the context's ack index succeeded (all on `Success`
//! unless the listener set one, none on `ReconsumeLater`); the rest are sent back with the
//! context's delay level (clustering) or skipped (broadcasting). A call that outlives
//! `consume_timeout` is dropped and its whole batch sent back with delay level 3, as Java's
//! expired-message cleaner does. Either way the batch leaves the process queue, so the
//! committable offset moves on.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::message::{decode_message_with, DecodeOptions};
use rocketmq_rs_remoting::rt::{Runtime, ShutdownSignal};

use crate::consumer::sync::Permit;
use crate::consumer::{ConsumeResult, MessageModel};
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;

use super::listener::{call_concurrent, ConsumeContext};
use super::{config::ListenerKind, Inner, LOCAL_RETRY_DELAY};
use crate::consumer::core::ProcessQueue;

/// Hands `msgs` (already in the process queue) to the listener in batches. Waits for free
/// listener slots (back-pressure: the pull loop pauses meanwhile); a busy pool never fails a
/// message. Returns `false` if `stop` fired first (undispatched messages stay uncommitted and are
/// pulled again by the next owner).
pub(super) async fn dispatch(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
    records: Option<Vec<Bytes>>,
    stop: &ShutdownSignal,
) -> bool {
    let batch = inner.cfg.consume_batch_size.max(1);
    // When the batch arrived: the await time ends when its listener call starts.
    let pulled_at = inner.core.rt.now();
    let mut records = records
        .filter(|r| r.len() == msgs.len())
        .map(Vec::into_iter);
    let mut msgs = msgs.into_iter().peekable();
    while msgs.peek().is_some() {
        let chunk: Vec<MessageExt> = msgs.by_ref().take(batch).collect();
        let chunk_records = records.as_mut().and_then(|r| {
            if chunk.len() == 1 {
                r.next().map(Records::One)
            } else {
                Some(Records::Many(r.by_ref().take(chunk.len()).collect()))
            }
        });
        let Some(permit) = acquire(inner, pq, stop).await else {
            return false;
        };
        let batch = Batch {
            msgs: chunk,
            records: chunk_records,
        };
        spawn_consume(inner, mq.clone(), Arc::clone(pq), batch, permit, pulled_at);
    }
    true
}

/// One listener call's messages, with the stored record each was decoded from when known (slices
/// of the pull response, same order). With the records the listener gets the messages
/// themselves and a failed one is decoded again from its record; without them each message is
/// copied before the call, the copy kept for a send-back.
struct Batch {
    msgs: Vec<MessageExt>,
    records: Option<Records>,
}

/// The stored records of one call's messages. The default batch is one message, whose record
/// needs no `Vec` of its own (an allocation and a free per message).
enum Records {
    One(Bytes),
    Many(Vec<Bytes>),
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::One(_) => 1,
            Records::Many(v) => v.len(),
        }
    }
}

/// What a call keeps of its batch for afterwards (the listener owns the messages it was given).
enum Kept {
    Records(Records),
    Messages(Vec<MessageExt>),
}

/// A pulled message decoded again from its stored record, as the pull decoded it.
fn redecode(rec: Bytes) -> Option<MessageExt> {
    let mut rec = rec;
    decode_message_with(&mut rec, &DecodeOptions::default())
        .map_err(|e| {
            tracing::warn!(error = %e, "a pulled record no longer decodes; its message is not retried");
        })
        .ok()
}

impl Kept {
    /// The batch's messages from index `from` on, as they were pulled. A record that no longer
    /// decodes (it decoded once, and `Bytes` are immutable, so this does not happen) is logged
    /// and left out.
    fn messages_from(self, from: usize) -> Vec<MessageExt> {
        match self {
            Kept::Messages(msgs) => msgs.into_iter().skip(from).collect(),
            Kept::Records(records) => {
                let records = match records {
                    Records::One(rec) => vec![rec],
                    Records::Many(recs) => recs,
                };
                records
                    .into_iter()
                    .skip(from)
                    .filter_map(redecode)
                    .collect()
            }
        }
    }
}

/// Waits for a listener slot, keeping the queue marked alive for the watchdog.
async fn acquire(inner: &Inner, pq: &ProcessQueue, stop: &ShutdownSignal) -> Option<Permit> {
    if let Some(p) = inner.sem.try_acquire() {
        return Some(p);
    }
    let mut acq = Box::pin(inner.sem.acquire());
    loop {
        if stop.is_triggered() || pq.is_dropped() {
            return None;
        }
        let tick = select(inner.core.rt.sleep(Duration::from_secs(1)), stop.wait());
        match select(acq.as_mut(), tick).await {
            Either::Left((p, _)) => return Some(p),
            Either::Right(_) => pq.touch_pull(),
        }
    }
}

fn spawn_consume(
    inner: &Arc<Inner>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    batch: Batch,
    permit: Permit,
    pulled_at: Instant,
) {
    let me = Arc::clone(inner);
    inner.consumes.spawn(async move {
        consume(me, mq, pq, batch, permit, pulled_at).await;
    });
}

async fn consume(
    inner: Arc<Inner>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    batch: Batch,
    permit: Permit,
    pulled_at: Instant,
) {
    let ListenerKind::Concurrent(listener) = &inner.listener else {
        return;
    };
    if !pq.begin_call() {
        // The queue is being handed over: the message stays uncommitted for the next owner.
        return;
    }
    consume_registered(&inner, &mq, &pq, batch, permit, &**listener, pulled_at).await;
    pq.end_call();
}

/// `fut`, or `None` once `limit` passed. The timer is created only if `fut` does not finish
/// on its first poll: most listener calls do, and then cost no timer.
async fn within<F: Future>(rt: &dyn Runtime, limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timer = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        let timer = timer.get_or_insert_with(|| rt.sleep(limit));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Delay level of messages whose listener call outlived `consume_timeout` (Java's
/// `ProcessQueue.cleanExpiredMsg` sends them back with level 3).
const CONSUME_TIMEOUT_DELAY_LEVEL: i32 = 3;

async fn consume_registered(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    batch: Batch,
    permit: Permit,
    listener: &dyn super::listener::MessageListener,
    pulled_at: Instant,
) {
    let (inner, mq, pq) = (Arc::clone(inner), mq.clone(), Arc::clone(pq));
    let Batch { msgs, records } = batch;
    #[cfg(feature = "metrics")]
    let span = inner.observe_call_start(&mq, &msgs, pulled_at);
    #[cfg(not(feature = "metrics"))]
    let _ = pulled_at;
    let count = msgs.len();
    // Offsets of the whole batch; cut to the acknowledged ones after the call.
    let mut done: Vec<i64> = msgs.iter().map(|m| m.queue_offset).collect();
    let (user, kept) = match records {
        Some(records) if records.len() == count => {
            let user: Vec<MessageExt> = msgs.into_iter().map(|m| inner.as_user(m)).collect();
            (user, Kept::Records(records))
        }
        _ => {
            let user: Vec<MessageExt> = msgs.iter().map(|m| inner.to_user(m)).collect();
            (user, Kept::Messages(msgs))
        }
    };
    let ctx = ConsumeContext::with_delay_level(
        inner.user_queue(&mq),
        inner.cfg.delay_level_when_next_consume,
    );
    let outcome = ctx.outcome();
    let hooked = inner.hooks_before(&ctx.queue, &user, false);
    let timeout = inner.cfg.consume_timeout;
    let started = inner.core.rt.clock().stopwatch();
    let call = call_concurrent(listener, user, ctx);
    #[cfg(feature = "metrics")]
    let call = tracing::Instrument::instrument(call, span);
    let call = within(&*inner.core.rt, timeout, call).await;
    match call {
        Some((result, panicked)) => {
            inner.hooks_after(hooked, result == ConsumeResult::Success, panicked)
        }
        None => inner.hooks_timed_out(hooked),
    }
    drop(permit);
    inner
        .stats
        .on_consume_rt(&mq.topic, started.elapsed().as_millis() as u64);
    if pq.is_dropped() {
        // The hand-over did not wait for this call (timed out); the new owner consumes the
        // batch again.
        return;
    }
    // How many messages, from the front of the batch, succeeded; and the delay level of the
    // ones sent back.
    let (succeeded, level) = match call {
        Some((result, _)) => (outcome.succeeded(result, count), outcome.delay_level()),
        None => {
            // The call was dropped (cancelled at its pending await): the messages go back to
            // the broker and leave the process queue, so one stuck message cannot hold the
            // queue's offset (Java `consumeTimeout`).
            tracing::warn!(%mq, ?timeout, first_offset = done.first().copied(), count, "listener call exceeded consume_timeout; its messages are sent back for redelivery");
            (0, CONSUME_TIMEOUT_DELAY_LEVEL)
        }
    };
    // Java: a successful call counts its acknowledged messages as OK and the rest as failed;
    // a retry (or a timed-out call) counts the whole batch as failed.
    match call {
        Some((ConsumeResult::Success, _)) => {
            inner
                .stats
                .on_consume_result(&mq.topic, succeeded, count - succeeded)
        }
        _ => inner.stats.on_consume_failed(&mq.topic, count),
    }
    let mut retry_locally = Vec::new();
    done.truncate(succeeded);
    let failed = if succeeded < count {
        kept.messages_from(succeeded)
    } else {
        Vec::new()
    };
    match inner.cfg.message_model {
        MessageModel::Broadcasting => {
            for m in failed {
                tracing::warn!(%mq, msg_id = %m.msg_id, "broadcasting consumption failed; the message is not retried (Java behaviour)");
                done.push(m.queue_offset);
            }
        }
        MessageModel::Clustering => {
            let max = inner.max_reconsume_times();
            for m in failed {
                if inner.send_back_or_fallback(&mq, &m, max, level).await {
                    done.push(m.queue_offset);
                } else {
                    let mut m = m;
                    m.reconsume_times += 1;
                    retry_locally.push(m);
                }
            }
        }
    }
    if let Some(offset) = pq.remove(done) {
        inner.core.store.update(&mq, offset, true);
    }
    if !retry_locally.is_empty() {
        let me = Arc::clone(&inner);
        inner.consumes.spawn(async move {
            let stop = me.consumes.signal().clone();
            if !me.sleep_or(LOCAL_RETRY_DELAY, &stop).await || pq.is_dropped() {
                // Still in the process queue, so uncommitted: redelivered after a restart.
                return;
            }
            for chunk in retry_locally.chunks(me.cfg.consume_batch_size) {
                let Some(permit) = acquire(&me, &pq, &stop).await else {
                    return;
                };
                let now = me.core.rt.now();
                let batch = Batch {
                    msgs: chunk.to_vec(),
                    records: None,
                };
                spawn_consume(&me, mq.clone(), Arc::clone(&pq), batch, permit, now);
            }
        });
    }
}
