//! An in-memory broker behind the [`ConsumerBackend`] seam, for the consumers' unit tests (the
//! real-broker tests live in `tests/`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::protocol::body::SubscriptionData;
use std::time::Duration;

use rocketmq_rs_remoting::protocol::message::{property, MessageExt};
use rocketmq_rs_remoting::rt::{BoxFuture, Runtime};

use crate::consumer::backend::{ConsumerBackend, ConsumerEvents, HeartbeatSource, PullArgs};
use crate::error::{Error, Result};
use crate::message::{PullResult, PullStatus};
use crate::message_queue::MessageQueue;

#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) queues: Mutex<HashMap<MessageQueue, Vec<MessageExt>>>,
    pub(crate) offsets: Mutex<HashMap<MessageQueue, i64>>,
    pub(crate) sent_back: Mutex<Vec<(i64, i32)>>,
    pub(crate) fail_send_back: AtomicBool,
    pub(crate) fail_fallback: AtomicBool,
    /// (queue offset, reconsume times) of messages sent through the retry-topic fallback.
    pub(crate) fallback: Mutex<Vec<(i64, i32)>>,
    pub(crate) events: Mutex<Option<Arc<dyn ConsumerEvents>>>,
    pub(crate) max_pulled: Mutex<HashMap<MessageQueue, i64>>,
    pub(crate) rt: Mutex<Option<Arc<dyn Runtime>>>,
    pub(crate) source: Mutex<Option<Arc<dyn HeartbeatSource>>>,
    pub(crate) heartbeats: AtomicUsize,
    /// The group's members as the brokers report them; `None`: this client alone.
    pub(crate) members: Mutex<Option<Vec<String>>>,
    /// UPDATE_CONSUMER_OFFSET requests received.
    pub(crate) offset_updates: AtomicUsize,
    /// UPDATE_CONSUMER_OFFSET requests under way now, and the most seen at once (each one
    /// yields once before it answers, so requests sent together overlap).
    pub(crate) offset_updates_in_flight: AtomicUsize,
    pub(crate) offset_updates_max_in_flight: AtomicUsize,
}

impl Fake {
    pub(crate) fn with_queues(
        n: i32,
        msgs_per_queue: i64,
        tag: impl Fn(i64) -> &'static str,
    ) -> Arc<Self> {
        let f = Fake::default();
        for q in 0..n {
            let mq = MessageQueue::new("T", "b", q);
            let v = (0..msgs_per_queue)
                .map(|i| {
                    let mut m = MessageExt::new("T", vec![1u8; 10]);
                    m.queue_id = q;
                    m.queue_offset = i;
                    m.commit_log_offset = i64::from(q) * 1_000_000 + i;
                    m.properties.insert(property::TAGS, tag(i));
                    m
                })
                .collect();
            f.queues.lock().unwrap().insert(mq, v);
        }
        Arc::new(f)
    }
    /// Adds `topic` with `n` queues of `per_queue` messages each.
    pub(crate) fn add_topic(&self, topic: &str, n: i32, per_queue: i64) {
        for q in 0..n {
            let v = (0..per_queue)
                .map(|i| {
                    let mut m = MessageExt::new(topic, vec![2u8; 10]);
                    m.queue_id = q;
                    m.queue_offset = i;
                    m
                })
                .collect();
            self.queues
                .lock()
                .unwrap()
                .insert(MessageQueue::new(topic, "b", q), v);
        }
    }
    pub(crate) fn subscribed(&self) -> Vec<String> {
        let src = self.source.lock().unwrap().clone().unwrap();
        src.consumer_data()
            .subscription_data_set
            .into_iter()
            .map(|s| s.topic)
            .collect()
    }
    pub(crate) fn committed_of(&self, topic: &str, q: i32) -> Option<i64> {
        self.offsets
            .lock()
            .unwrap()
            .get(&MessageQueue::new(topic, "b", q))
            .copied()
    }
    pub(crate) fn committed(&self, q: i32) -> Option<i64> {
        self.offsets
            .lock()
            .unwrap()
            .get(&MessageQueue::new("T", "b", q))
            .copied()
    }
}

impl ConsumerBackend for Fake {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.lock().unwrap().clone().unwrap()
    }
    fn client_id(&self) -> String {
        "127.0.0.1@test".into()
    }
    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn register_consumer(
        &self,
        _g: &str,
        s: Arc<dyn HeartbeatSource>,
        e: Arc<dyn ConsumerEvents>,
    ) -> bool {
        *self.source.lock().unwrap() = Some(s);
        *self.events.lock().unwrap() = Some(e);
        true
    }
    fn unregister_consumer(&self, _g: &str) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn heartbeat_now(&self) -> BoxFuture<'_, ()> {
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }
    fn heartbeat_checked(&self) -> BoxFuture<'_, Result<()>> {
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn subscribe_queues(&self, topic: &str) -> BoxFuture<'_, Result<Vec<MessageQueue>>> {
        let v: Vec<MessageQueue> = self
            .queues
            .lock()
            .unwrap()
            .keys()
            .filter(|q| q.topic == topic)
            .cloned()
            .collect();
        Box::pin(async move { Ok(v) })
    }
    fn check_client_config(&self, _g: &str, _s: SubscriptionData) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn consumer_ids(&self, _t: &str, _g: &str) -> BoxFuture<'_, Result<Vec<String>>> {
        let members = self.members.lock().unwrap().clone();
        Box::pin(async { Ok(members.unwrap_or_else(|| vec![self.client_id()])) })
    }
    fn pull(&self, a: PullArgs) -> BoxFuture<'_, Result<PullResult>> {
        Box::pin(async move {
            let found: Vec<MessageExt> = {
                let q = self.queues.lock().unwrap();
                let all = q.get(&a.mq).cloned().unwrap_or_default();
                all.into_iter()
                    .filter(|m| m.queue_offset >= a.offset)
                    .take(a.max_nums as usize)
                    .collect()
            };
            let max = self
                .queues
                .lock()
                .unwrap()
                .get(&a.mq)
                .map_or(0, |v| v.len() as i64);
            if found.is_empty() {
                self.runtime().sleep(Duration::from_millis(30)).await;
                return Ok(PullResult {
                    status: PullStatus::NoNewMsg,
                    next_begin_offset: a.offset,
                    min_offset: 0,
                    max_offset: max,
                    suggest_which_broker_id: 0,
                    messages: vec![],
                });
            }
            let next = found.last().unwrap().queue_offset + 1;
            let mut mp = self.max_pulled.lock().unwrap();
            let e = mp.entry(a.mq.clone()).or_insert(0);
            *e = (*e).max(next);
            Ok(PullResult {
                status: PullStatus::Found,
                next_begin_offset: next,
                min_offset: 0,
                max_offset: max,
                suggest_which_broker_id: 0,
                messages: found,
            })
        })
    }
    fn query_offset(&self, _g: &str, mq: &MessageQueue) -> BoxFuture<'_, Result<Option<i64>>> {
        let o = self.offsets.lock().unwrap().get(mq).copied();
        Box::pin(async move { Ok(o) })
    }
    fn update_offset(
        &self,
        _g: &str,
        mq: &MessageQueue,
        offset: i64,
        _ow: bool,
    ) -> BoxFuture<'_, Result<()>> {
        self.offset_updates.fetch_add(1, Ordering::Relaxed);
        self.offsets.lock().unwrap().insert(mq.clone(), offset);
        let now = self
            .offset_updates_in_flight
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        self.offset_updates_max_in_flight
            .fetch_max(now, Ordering::Relaxed);
        Box::pin(async move {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            self.offset_updates_in_flight
                .fetch_sub(1, Ordering::Relaxed);
            Ok(())
        })
    }
    fn max_offset(&self, mq: &MessageQueue) -> BoxFuture<'_, Result<i64>> {
        let n = self
            .queues
            .lock()
            .unwrap()
            .get(mq)
            .map_or(0, |v| v.len() as i64);
        Box::pin(async move { Ok(n) })
    }
    fn min_offset(&self, _mq: &MessageQueue) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async { Ok(0) })
    }
    fn search_offset(&self, _mq: &MessageQueue, _ts: i64) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async { Ok(0) })
    }
    fn lock_batch(
        &self,
        _b: &str,
        _g: &str,
        mqs: Vec<MessageQueue>,
    ) -> BoxFuture<'_, Result<HashSet<MessageQueue>>> {
        Box::pin(async move { Ok(mqs.into_iter().collect()) })
    }
    fn unlock_batch(
        &self,
        _b: &str,
        _g: &str,
        _m: Vec<MessageQueue>,
        _o: bool,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn send_retry_fallback(
        &self,
        _g: &str,
        msg: &MessageExt,
        _max: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let fail = self.fail_fallback.load(Ordering::Acquire);
        if !fail {
            self.fallback
                .lock()
                .unwrap()
                .push((msg.queue_offset, msg.reconsume_times));
        }
        Box::pin(async move {
            if fail {
                Err(Error::Config("fallback refused by the test".into()))
            } else {
                Ok(())
            }
        })
    }
    fn send_back(
        &self,
        _b: &str,
        _g: &str,
        msg: &MessageExt,
        delay: i32,
        _max: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let fail = self.fail_send_back.load(Ordering::Acquire);
        if !fail {
            self.sent_back
                .lock()
                .unwrap()
                .push((msg.queue_offset, delay));
        }
        Box::pin(async move {
            if fail {
                Err(Error::Config("send-back refused by the test".into()))
            } else {
                Ok(())
            }
        })
    }
}

pub(crate) fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) async fn eventually(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
