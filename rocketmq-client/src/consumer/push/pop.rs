//! The push consumer in POP mode (Java `DefaultMQPushConsumerImpl.popMessage`,
//! `ConsumeMessagePopConcurrentlyService`, `ConsumeMessagePopOrderlyService`;
//! docs/protocol/pop.md §10, §11).
//!
//! Which topics are popped is decided here ([`refresh`]): all of them ([`PopMode::Always`]) or
//! those the broker's QUERY_ASSIGNMENT answers with mode POP ([`PopMode::FollowBroker`]). A
//! popped topic is marked in the core, so rebalance rounds hand its owned queues over and take
//! none; instead one POP loop per assigned POP queue (usually `queueId = -1`: the whole topic on
//! one broker) pops batches and hands them to the same listener as pulled messages. A batch
//! the listener consumed is acked; `ReconsumeLater` makes each message visible again after
//! Java's POP back-off; anything else (a crash, a listener slower than the invisible time)
//! is redelivered by the broker after the invisible time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use rocketmq_rs_remoting::protocol::body::MessageRequestMode;
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::PopMessageRequestHeader;
use rocketmq_rs_remoting::protocol::message::property;
use rocketmq_rs_remoting::protocol::pop::{
    pop_retry_topic_v1, ReceiptHandle, INIT_MODE_MAX, INIT_MODE_MIN,
};
use rocketmq_rs_remoting::rt::ShutdownSignal;
use rocketmq_rs_remoting::util::{now_ms, MutexExt};

use crate::consumer::core::Subscription;
use crate::consumer::simple::{batch_ack, change_invisible};
use crate::consumer::sync::Permit;
use crate::consumer::{ConsumeFromWhere, ConsumeResult, MessageModel, MessageSelector};
use crate::consumer::{OrderlyResult, PopMode};
use crate::error::Error;
use crate::message::{MessageExt, PopStatus};
use crate::message_queue::MessageQueue;

use super::config::ListenerKind;
use super::listener::{
    call_concurrent, call_orderly, orderly_suspend_time, ConsumeContext, ConsumeOrderlyContext,
};
use super::Inner;

/// Java's POP back-off per attempt, seconds (`popDelayLevel`: 10 s 30 s 1 m 2 m ... 2 h).
const POP_DELAY_SECS: [u64; 16] = [
    10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

/// Java's long-poll time of a push consumer's POP (`BROKER_SUSPEND_MAX_TIME_MILLIS`).
const POP_POLL: Duration = Duration::from_secs(15);

/// The POP side of a push consumer: its POP queues and the kicks of the mode refresh.
pub(crate) struct PopState {
    queues: Mutex<HashMap<MessageQueue, PopQueue>>,
    kick_tx: mpsc::Sender<()>,
    kick_rx: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Default for PopState {
    fn default() -> Self {
        let (kick_tx, kick_rx) = mpsc::channel(1);
        PopState {
            queues: Mutex::default(),
            kick_tx,
            kick_rx: Mutex::new(Some(kick_rx)),
        }
    }
}

/// One POP queue's loop.
#[derive(Clone)]
struct PopQueue {
    stop: ShutdownSignal,
    /// Popped messages not yet acked or handed back (Java `PopProcessQueue.waitAckCounter`).
    in_flight: Arc<AtomicUsize>,
    /// Receipts of consumed messages, acked by the queue's ack task in batches.
    acks: mpsc::UnboundedSender<ReceiptHandle>,
    /// Wall clock of the last POP request (ms).
    last_pop_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl PopState {
    /// The POP queues being popped, sorted.
    pub(crate) fn queues(&self) -> Vec<MessageQueue> {
        let mut v: Vec<MessageQueue> = self.queues.lock_unpoisoned().keys().cloned().collect();
        v.sort();
        v
    }

    /// The POP queues as GET_CONSUMER_RUNNING_INFO's `mqPopTable` carries them (Java
    /// `PopProcessQueueInfo`), so `mqadmin consumerStatus` shows them.
    pub(crate) fn running_info(
        &self,
    ) -> std::collections::BTreeMap<MessageQueue, serde_json::Value> {
        self.queues
            .lock_unpoisoned()
            .iter()
            .map(|(mq, q)| {
                let info = serde_json::json!({
                    "waitAckCount": q.in_flight.load(Ordering::Acquire),
                    "droped": q.stop.is_triggered(),
                    "lastPopTimestamp": q.last_pop_ms.load(Ordering::Acquire),
                });
                (mq.clone(), info)
            })
            .collect()
    }

    /// Asks for a mode refresh now (coalesced).
    pub(crate) fn kick(&self) {
        let _ = self.kick_tx.clone().try_send(());
    }

    /// Stops every POP loop (shutdown).
    pub(crate) fn stop_all(&self) {
        for q in self.queues.lock_unpoisoned().drain().map(|(_, q)| q) {
            q.stop.trigger();
        }
    }

    fn stop_where(&self, keep: impl Fn(&MessageQueue) -> bool) {
        self.queues.lock_unpoisoned().retain(|mq, q| {
            let k = keep(mq);
            if !k {
                q.stop.trigger();
            }
            k
        });
    }
}

/// How one topic is to be consumed.
enum Decision {
    /// Pull owned queues.
    Pull,
    /// POP these queues.
    Pop(Vec<MessageQueue>),
    /// No trustworthy answer: leave it as it is.
    Keep,
}

/// Whether this consumer pops at all.
pub(super) fn enabled(inner: &Inner) -> bool {
    match inner.cfg.pop_mode {
        PopMode::Never => false,
        PopMode::Always => true,
        // Java rebalances orderly and broadcasting consumers itself, whatever the broker says.
        _ => !inner.is_orderly() && inner.cfg.message_model == MessageModel::Clustering,
    }
}

/// Starts the mode refresh loop among the services: every rebalance interval or kick.
pub(super) fn spawn_refresh_loop(inner: &Arc<Inner>) {
    if !enabled(inner) {
        return;
    }
    let Some(mut kicks) = inner.pop.kick_rx.lock_unpoisoned().take() else {
        return;
    };
    let me = Arc::clone(inner);
    inner.core.services.spawn(async move {
        let core = &me.core;
        loop {
            let wake = select(kicks.next(), core.rt.sleep(me.client.rebalance_interval));
            if let Either::Right(_) = select(wake, core.services.signal().wait()).await {
                return;
            }
            // Every sender clone queues its own kick (futures' mpsc): one refresh serves all
            // those queued so far.
            while kicks.try_recv().is_ok() {}
            refresh(&me).await;
        }
    });
}

/// Decides every subscribed topic's mode and starts or stops its POP loops accordingly.
pub(super) async fn refresh(inner: &Arc<Inner>) {
    if !enabled(inner) {
        return;
    }
    let topics: HashSet<String> = inner.core.topics().into_iter().collect();
    inner
        .pop
        .stop_where(|mq| topics.contains(&mq.topic) && inner.core.is_pop(&mq.topic));
    for topic in topics {
        if crate::util::namespace::is_retry_topic(&topic) || !inner.is_running() {
            continue;
        }
        match decide(inner, &topic).await {
            Decision::Pop(queues) => to_pop(inner, &topic, queues),
            Decision::Pull => to_pull(inner, &topic).await,
            Decision::Keep => {}
        }
    }
}

async fn decide(inner: &Inner, topic: &str) -> Decision {
    let backend = &inner.core.backend;
    match inner.cfg.pop_mode {
        PopMode::Always => match backend.subscribe_queues(topic).await {
            Ok(qs) => {
                let brokers: std::collections::BTreeSet<String> =
                    qs.into_iter().map(|q| q.broker_name).collect();
                Decision::Pop(
                    brokers
                        .into_iter()
                        .map(|b| MessageQueue::new(topic, b, -1))
                        .collect(),
                )
            }
            Err(e) => {
                tracing::debug!(group = %inner.core.group, topic, error = %e, "no route for POP yet");
                Decision::Keep
            }
        },
        _ => {
            let strategy = inner.core.rebalancer.strategy.name().to_owned();
            match backend
                .query_assignment(topic, &inner.core.group, &strategy, inner.cfg.message_model)
                .await
            {
                Ok(Some(list)) => {
                    let pop: Vec<MessageQueue> = list
                        .iter()
                        .filter(|a| a.mode == MessageRequestMode::Pop)
                        .filter_map(|a| a.message_queue.clone())
                        .collect();
                    if !pop.is_empty() || (list.is_empty() && inner.core.is_pop(topic)) {
                        Decision::Pop(pop)
                    } else {
                        Decision::Pull
                    }
                }
                Ok(None) => Decision::Keep,
                Err(e) if e.response_code() == Some(ResponseCode::REQUEST_CODE_NOT_SUPPORTED) => {
                    // A broker before 5.0: no POP there.
                    Decision::Pull
                }
                Err(e) => {
                    tracing::warn!(group = %inner.core.group, topic, error = %e, "QUERY_ASSIGNMENT failed; consume mode unchanged");
                    Decision::Keep
                }
            }
        }
    }
}

fn to_pop(inner: &Arc<Inner>, topic: &str, queues: Vec<MessageQueue>) {
    if inner.core.set_pop(topic, true) {
        tracing::info!(group = %inner.core.group, topic, queues = ?queues, "consuming by POP");
        // POP reads the POP retry topic by itself (as Java, which unsubscribes it here).
        let retry = pop_retry_topic_v1(topic, &inner.core.group);
        inner.core.subs().remove(&retry);
        // The next rebalance round hands the topic's owned queues over.
        inner.core.kick();
    }
    let want: HashSet<&MessageQueue> = queues.iter().collect();
    inner
        .pop
        .stop_where(|mq| mq.topic != topic || want.contains(mq));
    for mq in queues {
        let q = {
            let mut table = inner.pop.queues.lock_unpoisoned();
            if table.contains_key(&mq) || !inner.is_running() {
                continue;
            }
            let (acks, rx) = mpsc::unbounded();
            let q = PopQueue {
                stop: ShutdownSignal::new(),
                in_flight: Arc::new(AtomicUsize::new(0)),
                acks,
                last_pop_ms: Arc::default(),
            };
            // Among the listener calls: a shutdown waits for it, and it ends once the queue's
            // loop and every call holding its sender are done, so no ack is left unsent.
            let me = Arc::clone(inner);
            let topic = mq.topic.clone();
            inner
                .consumes
                .spawn(async move { ack_task(me, topic, rx).await });
            table.insert(mq.clone(), q.clone());
            q
        };
        tracing::info!(group = %inner.core.group, %mq, "POP queue assigned");
        let me = Arc::clone(inner);
        inner.core.pulls.spawn(async move { run(me, mq, q).await });
    }
}

async fn to_pull(inner: &Arc<Inner>, topic: &str) {
    if !inner.core.set_pop(topic, false) {
        return;
    }
    tracing::info!(group = %inner.core.group, topic, "consuming by pull (broker switched the group off POP)");
    inner.pop.stop_where(|mq| mq.topic != topic);
    // Messages the broker revives for the popped period land in the POP retry topic: pull it
    // too from now on (as Java does on this switch).
    let retry = pop_retry_topic_v1(topic, &inner.core.group);
    inner.core.subs().insert(
        retry,
        Subscription {
            selector: MessageSelector::all(),
            version: now_ms(),
        },
    );
    inner.core.backend.heartbeat_now().await;
    inner.core.kick();
}

/// Sleeps `d`; `false` if the queue's loop must end first.
async fn nap(inner: &Inner, q: &PopQueue, d: Duration) -> bool {
    crate::consumer::core::sleep_or(&*inner.core.rt, d, &q.stop).await && inner.is_running()
}

/// One POP queue's loop: pop, hand over to the listener, repeat (with flow control).
async fn run(inner: Arc<Inner>, mq: MessageQueue, q: PopQueue) {
    let cfg = &inner.cfg;
    let init_mode = if cfg.consume_from_where == ConsumeFromWhere::FirstOffset {
        INIT_MODE_MIN
    } else {
        INIT_MODE_MAX
    };
    let invisible_ms = i64::try_from(cfg.pop_invisible_time.as_millis()).unwrap_or(i64::MAX);
    loop {
        if q.stop.is_triggered() || !inner.is_running() {
            return;
        }
        if inner.paused.load(Ordering::Acquire) {
            if !nap(&inner, &q, cfg.pull_delay_on_suspend).await {
                return;
            }
            continue;
        }
        if q.in_flight.load(Ordering::Acquire) > cfg.pop_threshold_for_queue {
            if !nap(&inner, &q, cfg.pull_delay_on_flow_control).await {
                return;
            }
            continue;
        }
        let Some((selector, _)) = inner.selector(&mq.topic) else {
            if !nap(&inner, &q, cfg.pull_delay_on_error).await {
                return;
            }
            continue;
        };
        let mut h = PopMessageRequestHeader::new(
            inner.core.group.clone(),
            mq.topic.clone(),
            mq.queue_id,
            cfg.pop_batch_size,
            invisible_ms,
            POP_POLL.as_millis() as i64,
            now_ms(),
        );
        h.init_mode = init_mode;
        h.order = Some(inner.is_orderly());
        if !selector.is_all() {
            h.exp_type = Some(selector.expression_type().as_str().to_owned());
            h.exp = Some(selector.expression().to_owned());
        }
        h.bname = Some(mq.broker_name.clone());
        q.last_pop_ms.store(now_ms(), Ordering::Release);
        let call = inner
            .core
            .backend
            .pop(&mq.broker_name, h, POP_POLL + Duration::from_secs(10));
        let popped = match select(call, q.stop.wait()).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => return,
        };
        match popped {
            Ok(r) if r.status == PopStatus::Found => {
                let batch = receipts(&inner, &mq, &selector, r.messages).await;
                if !batch.is_empty() && !dispatch(&inner, &mq, &q, batch).await {
                    return;
                }
                if !cfg.pull_interval.is_zero() && !nap(&inner, &q, cfg.pull_interval).await {
                    return;
                }
            }
            Ok(r) if r.status == PopStatus::PollingFull => {
                if !nap(&inner, &q, cfg.pull_delay_on_error).await {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let delay = if e.response_code() == Some(ResponseCode::FLOW_CONTROL) {
                    // Java's PULL_TIME_DELAY_MILLS_WHEN_BROKER_FLOW_CONTROL.
                    Duration::from_millis(20)
                } else {
                    cfg.pull_delay_on_error
                };
                tracing::warn!(group = %inner.core.group, %mq, error = %e, "POP failed; retrying");
                if !nap(&inner, &q, delay).await {
                    return;
                }
            }
        }
    }
}

/// The popped messages with their receipts. Messages the broker's tag-hash filter let through
/// but whose tag does not match are acked and dropped (as Java's `processPopResult`).
async fn receipts(
    inner: &Inner,
    mq: &MessageQueue,
    selector: &MessageSelector,
    msgs: Vec<MessageExt>,
) -> Vec<(MessageExt, ReceiptHandle)> {
    let mut out = Vec::with_capacity(msgs.len());
    let mut unwanted = Vec::new();
    for m in msgs {
        let Some(r) = m
            .property(property::POP_CK)
            .and_then(|s| s.parse::<ReceiptHandle>().ok())
        else {
            tracing::warn!(%mq, msg_id = %m.msg_id, "popped message without a receipt handle dropped");
            continue;
        };
        if selector.matches(&m) {
            out.push((m, r));
        } else {
            unwanted.push(r);
        }
    }
    if !unwanted.is_empty() {
        let it = unwanted.iter().map(|r| (mq.topic.as_str(), r));
        if let Err(e) = batch_ack(&*inner.core.backend, &inner.core.group, it).await {
            tracing::debug!(%mq, error = %e, "ack of filtered-out messages failed; they come back and are filtered again");
        }
    }
    out
}

/// Hands a popped batch to the listener. `false` when the loop must end.
async fn dispatch(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    q: &PopQueue,
    batch: Vec<(MessageExt, ReceiptHandle)>,
) -> bool {
    match &inner.listener {
        ListenerKind::Concurrent(_) => {
            let mut it = batch.into_iter().peekable();
            while it.peek().is_some() {
                let chunk: Vec<_> = it.by_ref().take(inner.cfg.consume_batch_size).collect();
                let permit = match select(Box::pin(inner.sem.acquire()), q.stop.wait()).await {
                    Either::Left((p, _)) => p,
                    // Not handed to the listener: the broker redelivers it after the invisible time.
                    Either::Right(_) => return false,
                };
                q.in_flight.fetch_add(chunk.len(), Ordering::AcqRel);
                let (me, mq2, q2) = (Arc::clone(inner), mq.clone(), q.clone());
                if !inner.consumes.spawn(async move {
                    consume_concurrently(&me, &mq2, &q2, chunk, permit).await;
                }) {
                    return false;
                }
            }
            true
        }
        ListenerKind::Orderly(_) => {
            consume_orderly(inner, mq, batch).await;
            true
        }
    }
}

fn context_queue(inner: &Inner, mq: &MessageQueue, m: &MessageExt) -> MessageQueue {
    inner.user_queue(&MessageQueue::new(
        mq.topic.clone(),
        mq.broker_name.clone(),
        m.queue_id,
    ))
}

async fn consume_concurrently(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    q: &PopQueue,
    batch: Vec<(MessageExt, ReceiptHandle)>,
    permit: Permit,
) {
    let n = batch.len();
    let ListenerKind::Concurrent(listener) = &inner.listener else {
        return;
    };
    // Java skips a batch whose invisible time ran out while it waited: the broker is
    // delivering it again anyway.
    if batch[0].1.visible_at_ms() <= now_ms() {
        tracing::info!(%mq, "POP batch expired before consumption; the broker redelivers it");
        q.in_flight.fetch_sub(n, Ordering::AcqRel);
        return;
    }
    let user: Vec<_> = batch.iter().map(|(m, _)| inner.to_user(m)).collect();
    let ctx = ConsumeContext::with_delay_level(
        context_queue(inner, mq, &batch[0].0),
        inner.cfg.delay_level_when_next_consume,
    );
    let outcome = ctx.outcome();
    let hooked = inner.hooks_before(&ctx.queue, &user, false);
    let (result, panicked) = call_concurrent(&**listener, user, ctx).await;
    inner.hooks_after(hooked, result == ConsumeResult::Success, panicked);
    drop(permit);
    // As Java's ConsumeMessagePopConcurrentlyService: the messages up to the ack index are
    // acked, the rest come back after the back-off of the context's delay level. Level -1
    // (which Java's POP path does not handle) means what it means in pull mode: the DLQ.
    let succeeded = outcome.succeeded(result, n);
    if succeeded > 0 {
        ack_consumed(inner, mq, q, &batch[..succeeded]).await;
    }
    let level = outcome.delay_level();
    for (m, r) in &batch[succeeded..] {
        if level < 0 && dead_letter(inner, mq, m).await {
            ack_all(inner, mq, &[(m.clone(), r.clone())]).await;
            continue;
        }
        later(inner, mq, m, r, level).await;
    }
    q.in_flight.fetch_sub(n, Ordering::AcqRel);
}

/// Acks what the listener calls of one POP queue consumed: whatever has queued up since the
/// last round goes out as one BATCH_ACK_MESSAGE, so under load one round trip acks many
/// messages (Java sends one ACK_MESSAGE each) while a lone message is acked at once.
async fn ack_task(
    inner: Arc<Inner>,
    topic: String,
    mut rx: mpsc::UnboundedReceiver<ReceiptHandle>,
) {
    while let Some(first) = rx.next().await {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let it = batch.iter().map(|r| (topic.as_str(), r));
        if let Err(e) = batch_ack(&*inner.core.backend, &inner.core.group, it).await {
            tracing::warn!(group = %inner.core.group, topic, messages = batch.len(), error = %e, "POP ack failed; the messages will be delivered again after their invisible time");
        }
    }
}

/// Hands the receipts of consumed messages to the queue's ack task (acked right away when
/// that task is gone).
async fn ack_consumed(
    inner: &Inner,
    mq: &MessageQueue,
    q: &PopQueue,
    batch: &[(MessageExt, ReceiptHandle)],
) {
    let mut rest = Vec::new();
    for (m, r) in batch {
        if q.acks.unbounded_send(r.clone()).is_err() {
            rest.push((m.clone(), r.clone()));
        }
    }
    if !rest.is_empty() {
        ack_all(inner, mq, &rest).await;
    }
}

async fn ack_all(inner: &Inner, mq: &MessageQueue, batch: &[(MessageExt, ReceiptHandle)]) {
    let it = batch.iter().map(|(_, r)| (mq.topic.as_str(), r));
    if let Err(e) = batch_ack(&*inner.core.backend, &inner.core.group, it).await {
        tracing::warn!(%mq, messages = batch.len(), error = %e, "POP ack failed; the messages will be delivered again after their invisible time");
    }
}

/// `ReconsumeLater` of one message: visible again after Java's back-off for its attempt
/// (`delay_level`, the call's context setting, or the attempt count when 0 or -1). Past `max_reconsume_times`
/// Java keeps backing off by the message's age, and acks (drops) it once it is older than
/// twice the longest back-off; the broker's own retry limit moves it to the DLQ before that.
async fn later(
    inner: &Inner,
    mq: &MessageQueue,
    m: &MessageExt,
    r: &ReceiptHandle,
    delay_level: i32,
) {
    let last = POP_DELAY_SECS.len() - 1;
    let level = if m.reconsume_times >= inner.max_reconsume_times() {
        let age_ms = (now_ms() - m.born_timestamp).max(0) as u64;
        if age_ms > POP_DELAY_SECS[last] * 1000 * 2 {
            tracing::warn!(%mq, msg_id = %m.msg_id, "consumed too many times; acked and dropped (Java behaviour)");
            ack_all(inner, mq, &[(m.clone(), r.clone())]).await;
            return;
        }
        POP_DELAY_SECS
            .iter()
            .position(|s| age_ms < s * 1000)
            .unwrap_or(last)
    } else {
        match delay_level {
            l if l > 0 => l as usize,
            _ => m.reconsume_times.max(0) as usize,
        }
    };
    let delay = Duration::from_secs(POP_DELAY_SECS[level.min(last)]);
    retry_after(inner, mq, r, delay).await;
}

async fn retry_after(inner: &Inner, mq: &MessageQueue, r: &ReceiptHandle, delay: Duration) {
    if let Err(e) =
        change_invisible(&*inner.core.backend, &inner.core.group, &mq.topic, r, delay).await
    {
        tracing::warn!(%mq, error = %e, "changing the invisible time failed; the message comes back after its original invisible time");
    }
}

/// Orderly POP: each queue's messages in offset order, one listener call at a time; the
/// broker hands out the queue's next messages only once these are acked or visible again.
async fn consume_orderly(
    inner: &Arc<Inner>,
    mq: &MessageQueue,
    batch: Vec<(MessageExt, ReceiptHandle)>,
) {
    let ListenerKind::Orderly(listener) = &inner.listener else {
        return;
    };
    let mut per_queue: BTreeMap<i32, VecDeque<(MessageExt, ReceiptHandle)>> = BTreeMap::new();
    for (m, r) in batch {
        per_queue.entry(m.queue_id).or_default().push_back((m, r));
    }
    let max = inner.max_reconsume_times();
    for (_, mut rest) in per_queue {
        while !rest.is_empty() {
            if rest[0].1.visible_at_ms() <= now_ms() {
                // Came back already: the broker hands it out again, in order.
                break;
            }
            let n = inner.cfg.consume_batch_size.min(rest.len());
            let chunk: Vec<_> = rest.drain(..n).collect();
            let permit = inner.sem.acquire().await;
            let user: Vec<_> = chunk.iter().map(|(m, _)| inner.to_user(m)).collect();
            let ctx = ConsumeOrderlyContext::new(context_queue(inner, mq, &chunk[0].0));
            let suspend_ms = ctx.suspend_handle();
            let hooked = inner.hooks_before(&ctx.queue, &user, true);
            let (result, panicked) = call_orderly(&**listener, user, ctx).await;
            inner.hooks_after(hooked, result == OrderlyResult::Success, panicked);
            drop(permit);
            match result {
                OrderlyResult::Success => ack_all(inner, mq, &chunk).await,
                OrderlyResult::SuspendCurrentQueueAMoment => {
                    // Invisible times are whole seconds on the broker.
                    let delay = orderly_suspend_time(
                        suspend_ms.load(Ordering::Acquire),
                        inner.cfg.suspend_current_queue_time,
                    )
                    .max(Duration::from_secs(1));
                    for (m, r) in chunk.iter().chain(rest.iter()) {
                        if m.reconsume_times >= max && dead_letter(inner, mq, m).await {
                            ack_all(inner, mq, &[(m.clone(), r.clone())]).await;
                        } else {
                            retry_after(inner, mq, r, delay).await;
                        }
                    }
                    break;
                }
            }
        }
    }
}

/// Straight to the DLQ (CONSUMER_SEND_MSG_BACK, delay level -1): orderly messages out of
/// attempts, and concurrent ones whose listener set delay level -1.
async fn dead_letter(inner: &Inner, mq: &MessageQueue, m: &MessageExt) -> bool {
    let max = inner.max_reconsume_times();
    match inner
        .core
        .backend
        .send_back(&mq.broker_name, &inner.core.group, m, -1, max)
        .await
    {
        Ok(()) => {
            tracing::warn!(%mq, msg_id = %m.msg_id, attempts = m.reconsume_times, "POP message moved to the DLQ");
            true
        }
        Err(e) => {
            let e: Error = e;
            tracing::warn!(%mq, error = %e, "DLQ send-back failed; the message is consumed again");
            false
        }
    }
}
