//! The long-polling pull loop of one assigned queue (Java `DefaultMQPushConsumerImpl.pullMessage`
//! and `PullCallback`). Exactly one loop runs per queue: it stops when the queue's stop signal
//! fires (rebalance removal, watchdog restart, shutdown).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::rt::ShutdownSignal;

use crate::consumer::backend::{pull_flag, PullArgs, PullStatus};
use crate::consumer::core::handover::compute_start_offset;
use crate::consumer::core::ProcessQueue;
use crate::consumer::MessageModel;
use crate::message::MessageExt;
use crate::message_queue::MessageQueue;

use super::{concurrently, orderly, Inner};

pub(super) async fn run(
    inner: Arc<Inner>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    stop: ShutdownSignal,
    next: Arc<AtomicI64>,
) {
    let cfg = &inner.cfg;
    let clustering = cfg.message_model == MessageModel::Clustering;
    let orderly = inner.is_orderly();
    let mut was_locked = pq.is_locked();
    let mut last_flow_log: Option<Instant> = None;
    loop {
        if stop.is_triggered() || pq.is_dropped() {
            return;
        }
        pq.touch_pull();
        if inner.paused.load(Ordering::Acquire) {
            if !inner.sleep_or(cfg.pull_delay_on_suspend, &stop).await {
                return;
            }
            continue;
        }
        // Local flow control: memory stays bounded whatever the listener's speed.
        let (count, size) = (pq.count(), pq.size_bytes());
        let span = if orderly { 0 } else { pq.max_span() };
        // `>=` plus a pull size capped by the free room keeps the cache at or below the limit
        // (Java checks `>` and may overshoot by one pull batch).
        if count >= cfg.pull_threshold_for_queue
            || size > cfg.pull_threshold_size_for_queue
            || span > cfg.consume_concurrently_max_span
        {
            let now = inner.core.rt.now();
            if !matches!(last_flow_log, Some(t) if now.saturating_duration_since(t).as_secs() < 10)
            {
                tracing::info!(%mq, count, size, span, "flow control: pulling paused until the listener catches up");
                last_flow_log = Some(now);
            }
            if !inner.sleep_or(cfg.pull_delay_on_flow_control, &stop).await {
                return;
            }
            continue;
        }
        if orderly && clustering {
            if !pq.is_locked() {
                was_locked = false;
                if !inner.sleep_or(cfg.pull_delay_on_error, &stop).await {
                    return;
                }
                continue;
            }
            if !was_locked {
                // Another client may have consumed the queue while we did not hold the lock.
                if pq.count() == 0 {
                    match compute_start_offset(
                        &inner.core.store,
                        &*inner.core.backend,
                        &mq,
                        cfg.consume_from_where,
                    )
                    .await
                    {
                        Ok(o) => {
                            next.store(o, Ordering::Release);
                            inner.core.store.update(&mq, o, false);
                        }
                        Err(e) => {
                            tracing::warn!(%mq, error = %e, "offset re-read after relock failed");
                            if !inner.sleep_or(cfg.pull_delay_on_error, &stop).await {
                                return;
                            }
                            continue;
                        }
                    }
                }
                was_locked = true;
            }
        }
        let Some((selector, sub_version)) = inner.selector(&mq.topic) else {
            if !inner.sleep_or(cfg.pull_delay_on_error, &stop).await {
                return;
            }
            continue;
        };
        let offset = next.load(Ordering::Acquire);
        let commit_offset = if clustering {
            inner.core.store.read_memory(&mq).filter(|o| *o > 0)
        } else {
            None
        };
        let mut sys_flag = pull_flag::SUSPEND;
        if commit_offset.is_some() {
            sys_flag |= pull_flag::COMMIT_OFFSET;
        }
        let post_sub = cfg.post_subscription_when_pull;
        if post_sub {
            sys_flag |= pull_flag::SUBSCRIPTION;
        }
        let args = PullArgs {
            group: inner.core.group.clone(),
            mq: mq.clone(),
            offset,
            max_nums: cfg
                .pull_batch_size
                .min(
                    i32::try_from(cfg.pull_threshold_for_queue.saturating_sub(pq.count()))
                        .unwrap_or(i32::MAX),
                )
                .max(1),
            sys_flag,
            commit_offset: commit_offset.unwrap_or(0),
            suspend_timeout: cfg.long_polling_timeout,
            subscription: Some(selector.expression().to_owned()),
            expression_type: Some(selector.expression_type().as_str().to_owned()),
            sub_version,
            timeout: cfg.pull_timeout,
        };
        let pull_started = inner.core.rt.clock().stopwatch();
        let pulled = {
            let fut = inner.core.backend.pull_with_body(args);
            match select(fut, stop.wait()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return,
            }
        };
        if pq.is_dropped() {
            return;
        }
        match pulled {
            Ok((r, body)) => {
                let nbo = r.next_begin_offset;
                match r.status {
                    PullStatus::Found => {
                        let (msgs, records) = if orderly {
                            let msgs: Vec<_> = r
                                .messages
                                .into_iter()
                                .filter(|m| selector.matches(m))
                                .collect();
                            (msgs, None)
                        } else {
                            with_records(r.messages, body, |m| selector.matches(m))
                        };
                        inner.stats.on_pull_found(
                            &mq.topic,
                            pull_started.elapsed().as_millis() as u64,
                            msgs.len(),
                        );
                        next.store(nbo, Ordering::Release);
                        if msgs.is_empty() {
                            pq.note_scanned(nbo);
                            if pq.count() == 0 {
                                inner.core.store.update(&mq, nbo, true);
                            }
                        } else {
                            if orderly {
                                let start_orderly = pq.put_owned(msgs);
                                pq.note_scanned(nbo);
                                if start_orderly {
                                    orderly::spawn(&inner, mq.clone(), Arc::clone(&pq));
                                }
                            } else {
                                pq.put(&msgs);
                                pq.note_scanned(nbo);
                                if !concurrently::dispatch(&inner, &mq, &pq, msgs, records, &stop)
                                    .await
                                {
                                    return;
                                }
                            }
                        }
                    }
                    PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                        next.store(nbo, Ordering::Release);
                        pq.note_scanned(nbo);
                        if pq.count() == 0 {
                            inner.core.store.update(&mq, nbo, true);
                        }
                    }
                    PullStatus::OffsetIllegal => {
                        let corrected = inner.core.reposition(&mq, offset, &r).await;
                        next.store(corrected, Ordering::Release);
                    }
                }
                if !cfg.pull_interval.is_zero() && !inner.sleep_or(cfg.pull_interval, &stop).await {
                    return;
                }
            }
            Err(e) => {
                let code = e.response_code();
                let delay = if code == Some(ResponseCode::FLOW_CONTROL) {
                    std::time::Duration::from_millis(20)
                } else {
                    cfg.pull_delay_on_error
                };
                if matches!(code, Some(c) if c == ResponseCode::SUBSCRIPTION_NOT_EXIST || c == ResponseCode::SUBSCRIPTION_NOT_LATEST || c == ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST)
                {
                    // The broker forgot our subscription (e.g. it restarted): heartbeat now
                    // rather than at the next periodic heartbeat.
                    inner.kick_heartbeat();
                }
                tracing::debug!(%mq, offset, error = %e, "pull failed; retrying");
                if !inner.sleep_or(delay, &stop).await {
                    return;
                }
            }
        }
    }
}

/// The messages `keep` accepts, and where `body` holds the records they were decoded from (back
/// to back, each `store_size` bytes), each one's record as a slice of it. `None` when there is
/// no body or the sizes do not add up to it (then nothing is sliced).
fn with_records(
    msgs: Vec<MessageExt>,
    body: Option<Bytes>,
    mut keep: impl FnMut(&MessageExt) -> bool,
) -> (Vec<MessageExt>, Option<Vec<Bytes>>) {
    let sizes_match = body.as_ref().is_some_and(|b| {
        let mut total = 0usize;
        msgs.iter().all(|m| {
            total = usize::try_from(m.store_size).map_or(usize::MAX, |n| total.saturating_add(n));
            total <= b.len()
        }) && total == b.len()
    });
    let Some(body) = body.filter(|_| sizes_match) else {
        return (msgs.into_iter().filter(|m| keep(m)).collect(), None);
    };
    let mut records = Vec::with_capacity(msgs.len());
    let mut start = 0usize;
    let kept = msgs
        .into_iter()
        .filter(|m| {
            // Checked above: every size is non-negative and they sum to the body's length.
            let end = start + m.store_size as usize;
            let record = start..end;
            start = end;
            let k = keep(m);
            if k {
                records.push(body.slice(record));
            }
            k
        })
        .collect();
    (kept, Some(records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketmq_rs_remoting::protocol::message::{decode_messages, encode_message};

    /// Three stored records back to back, as a pull response carries them, and their decoding.
    fn pulled() -> (Vec<MessageExt>, Bytes) {
        let mut body = bytes::BytesMut::new();
        for (i, tag) in ["a", "b", "c"].into_iter().enumerate() {
            let mut m = MessageExt {
                topic: "T".into(),
                body: Bytes::from(vec![i as u8; 10 + 100 * i]),
                queue_offset: i as i64,
                commit_log_offset: 1000 * i as i64,
                ..MessageExt::default()
            };
            m.properties.insert("TAGS", tag);
            body.extend_from_slice(&encode_message(&m).unwrap());
        }
        let body = body.freeze();
        (decode_messages(body.clone()).unwrap(), body)
    }

    #[test]
    fn each_kept_message_gets_its_own_record() {
        let (msgs, body) = pulled();
        let (kept, records) = with_records(msgs, Some(body), |m| m.tags() != Some("b"));
        let records = records.expect("the sizes add up");
        assert_eq!(kept.len(), 2);
        assert_eq!(records.len(), 2);
        for (m, rec) in kept.iter().zip(&records) {
            assert_eq!(
                &decode_messages(rec.clone()).unwrap(),
                std::slice::from_ref(m)
            );
        }
        assert_eq!(kept[1].queue_offset, 2);
    }

    #[test]
    fn no_records_without_a_matching_body() {
        let (msgs, body) = pulled();
        let (kept, records) = with_records(msgs.clone(), None, |_| true);
        assert_eq!((kept.len(), records), (3, None));
        // A body that is not these messages' records back to back is not sliced.
        let short = body.slice(..body.len() - 1);
        let (kept, records) = with_records(msgs.clone(), Some(short), |_| true);
        assert_eq!((kept.len(), records), (3, None));
        let mut bad = msgs;
        bad[1].store_size = -1;
        let (kept, records) = with_records(bad, Some(body), |_| true);
        assert_eq!((kept.len(), records), (3, None));
    }
}
