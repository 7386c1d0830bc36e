//! Orderly consumption (Java `ConsumeMessageOrderlyService`): one task per queue consumes its
//! messages serially in offset order, only while the broker lock of the queue is held.

use std::sync::Arc;
use std::time::Duration;

use crate::consumer::{MessageModel, OrderlyResult};
use crate::message_queue::MessageQueue;

use super::listener::{call_orderly, orderly_suspend_time, ConsumeOrderlyContext};
use super::{config::ListenerKind, Inner};
use crate::consumer::core::ProcessQueue;

/// Starts the consume task of `mq` (the caller won the process queue's "consuming" mark).
pub(super) fn spawn(inner: &Arc<Inner>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
    let me = Arc::clone(inner);
    let pq2 = Arc::clone(&pq);
    if !inner.consumes.spawn(async move { run(me, mq, pq2).await }) {
        pq.stop_consuming();
    }
}

async fn run(inner: Arc<Inner>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
    let ListenerKind::Orderly(listener) = &inner.listener else {
        return;
    };
    let stop = inner.consumes.signal().clone();
    let clustering = inner.cfg.message_model == MessageModel::Clustering;
    let max = inner.max_reconsume_times();
    loop {
        if pq.is_dropped()
            || pq.is_draining()
            || inner
                .dispatch_stopped
                .load(std::sync::atomic::Ordering::Acquire)
        {
            pq.stop_consuming();
            return;
        }
        if clustering && !pq.can_consume_orderly() {
            // Lock lost or not yet confirmed: wait for the renewal (or removal).
            if !inner.sleep_or(Duration::from_millis(100), &stop).await {
                pq.stop_consuming();
                return;
            }
            continue;
        }
        let guard = pq.consume_lock.lock().await;
        let permit = inner.sem.acquire().await;
        if pq.is_dropped() || pq.is_draining() || (clustering && !pq.can_consume_orderly()) {
            continue;
        }
        let msgs = pq.take(inner.cfg.consume_batch_size);
        if msgs.is_empty() {
            return;
        }
        let user: Vec<_> = msgs.iter().map(|m| inner.to_user(m)).collect();
        let ctx = ConsumeOrderlyContext::new(inner.user_queue(&mq));
        let suspend_ms = ctx.suspend_handle();
        let hooked = inner.hooks_before(&ctx.queue, &user, true);
        let started = inner.core.rt.clock().stopwatch();
        let (result, panicked) = call_orderly(&**listener, user, ctx).await;
        inner.hooks_after(hooked, result == OrderlyResult::Success, panicked);
        drop(permit);
        inner
            .stats
            .on_consume_rt(&mq.topic, started.elapsed().as_millis() as u64);
        if pq.is_dropped() {
            drop(guard);
            continue;
        }
        match result {
            OrderlyResult::Success => inner.stats.on_consume_ok(&mq.topic, msgs.len()),
            OrderlyResult::SuspendCurrentQueueAMoment => {
                inner.stats.on_consume_failed(&mq.topic, msgs.len())
            }
        }
        let commit = match result {
            OrderlyResult::Success => true,
            OrderlyResult::SuspendCurrentQueueAMoment => {
                let mut suspend = false;
                let mut msgs = msgs;
                for m in &mut msgs {
                    if m.reconsume_times >= max {
                        // Out of attempts: straight to the DLQ (delay level -1).
                        match inner
                            .core
                            .backend
                            .send_back(&mq.broker_name, &inner.core.group, m, -1, max)
                            .await
                        {
                            Ok(()) => {
                                tracing::warn!(%mq, msg_id = %m.msg_id, attempts = m.reconsume_times, "orderly message exceeded max reconsume times; moved to the DLQ");
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(%mq, error = %e, "DLQ send-back failed; the message is consumed again")
                            }
                        }
                    }
                    suspend = true;
                    m.reconsume_times += 1;
                }
                if suspend {
                    pq.reconsume(msgs);
                }
                !suspend
            }
        };
        if commit {
            if let Some(off) = pq.commit() {
                inner.core.store.update(&mq, off, true);
            }
            drop(guard);
        } else {
            drop(guard);
            let pause = orderly_suspend_time(
                suspend_ms.load(std::sync::atomic::Ordering::Acquire),
                inner.cfg.suspend_current_queue_time,
            );
            if !inner.sleep_or(pause, &stop).await {
                pq.stop_consuming();
                return;
            }
        }
    }
}
