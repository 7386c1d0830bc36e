//! Concurrent consumption (Java `ConsumeMessageConcurrentlyService`): batches of a queue run in
//! parallel under a global concurrency bound; the committable offset is the smallest offset still
//! in flight.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::ShutdownSignal;

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
    stop: &ShutdownSignal,
) -> bool {
    let batch = inner.cfg.consume_batch_size;
    let mut msgs = msgs.into_iter().peekable();
    while msgs.peek().is_some() {
        let chunk: Vec<MessageExt> = msgs.by_ref().take(batch).collect();
        let Some(permit) = acquire(inner, pq, stop).await else {
            return false;
        };
        spawn_consume(inner, mq.clone(), Arc::clone(pq), chunk, permit);
    }
    true
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
    msgs: Vec<MessageExt>,
    permit: Permit,
) {
    let me = Arc::clone(inner);
    inner.consumes.spawn(async move {
        consume(me, mq, pq, msgs, permit).await;
    });
}

async fn consume(
    inner: Arc<Inner>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
    permit: Permit,
) {
    let ListenerKind::Concurrent(listener) = &inner.listener else {
        return;
    };
    if !pq.begin_call() {
        // The queue is being handed over: the message stays uncommitted for the next owner.
        return;
    }
    consume_registered(&inner, &mq, &pq, msgs, permit, &**listener).await;
    pq.end_call();
}

async fn consume_registered(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
    permit: Permit,
    listener: &dyn super::listener::MessageListener,
) {
    let (inner, mq, pq) = (Arc::clone(inner), mq.clone(), Arc::clone(pq));
    let user: Vec<MessageExt> = msgs.iter().map(|m| inner.to_user(m)).collect();
    let ctx = ConsumeContext {
        queue: inner.user_queue(&mq),
    };
    let hooked = inner.hooks_before(&ctx.queue, &user, false);
    let (result, panicked) = call_concurrent(listener, user, ctx).await;
    inner.hooks_after(hooked, result == ConsumeResult::Success, panicked);
    drop(permit);
    if pq.is_dropped() {
        // The hand-over did not wait for this call (timed out); the new owner consumes the
        // batch again.
        return;
    }
    let mut retry_locally = Vec::new();
    let mut done = Vec::with_capacity(msgs.len());
    match result {
        ConsumeResult::Success => done.extend(msgs.iter().map(|m| m.queue_offset)),
        ConsumeResult::ReconsumeLater => match inner.cfg.message_model {
            MessageModel::Broadcasting => {
                for m in &msgs {
                    tracing::warn!(%mq, msg_id = %m.msg_id, "broadcasting consumption failed; the message is not retried (Java behaviour)");
                    done.push(m.queue_offset);
                }
            }
            MessageModel::Clustering => {
                let max = inner.max_reconsume_times();
                for m in msgs {
                    if inner.send_back_or_fallback(&mq, &m, max).await {
                        done.push(m.queue_offset);
                    } else {
                        let mut m = m;
                        m.reconsume_times += 1;
                        retry_locally.push(m);
                    }
                }
            }
        },
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
                spawn_consume(&me, mq.clone(), Arc::clone(&pq), chunk.to_vec(), permit);
            }
        });
    }
}
