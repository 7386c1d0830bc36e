//! The trace dispatcher (Java `AsyncTraceDispatcher`): a bounded queue the hooks fill, and a
//! task that sends its records in batches with the dispatcher's own producer.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::future::{select, Either};
use futures::task::AtomicWaker;
use rocketmq_rs_remoting::rt::{BoxFuture, Runtime, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::util::MutexExt;

use super::{encode_trace_context, trace_keys, TraceConfig, TraceContext, GROUP_NAME_PREFIX};
use crate::config::ClientConfig;
use crate::message::Message;
use crate::producer::Producer;

/// Who the dispatcher traces (Java `TraceDispatcher.Type`), part of its producer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DispatcherKind {
    Produce,
    Consume,
}

/// Counters of a client's message tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TraceStats {
    /// Records queued.
    pub queued: u64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    /// Trace messages handed to the trace producer.
    pub messages_sent: u64,
    /// Trace messages whose send failed (their records are lost).
    pub messages_failed: u64,
}

/// Wakes the dispatcher task: set, then wake; the task clears it when it looks.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.set.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.set.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// One traced client's dispatcher.
pub(crate) struct TraceDispatcher {
    cfg: TraceConfig,
    queue: Mutex<VecDeque<TraceContext>>,
    /// The queue's length, readable without the lock.
    len: AtomicUsize,
    signal: Signal,
    producer: Producer,
    rt: Arc<dyn Runtime>,
    tasks: TaskGroup,
    started: AtomicBool,
    queued: AtomicU64,
    dropped: AtomicU64,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl std::fmt::Debug for TraceDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceDispatcher")
            .field("trace_topic", &self.cfg.trace_topic)
            .field("producer", &self.producer.group())
            .finish_non_exhaustive()
    }
}

fn next_dispatcher_number() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) + 1
}

impl TraceDispatcher {
    /// A dispatcher for the client of `group` configured by `client`, on `rt`.
    pub(crate) fn new(
        cfg: TraceConfig,
        client: &ClientConfig,
        rt: Arc<dyn Runtime>,
        group: &str,
        kind: DispatcherKind,
    ) -> crate::Result<Arc<Self>> {
        cfg.validate()?;
        let kind_name = match kind {
            DispatcherKind::Produce => "PRODUCE",
            DispatcherKind::Consume => "CONSUME",
        };
        // Java's trace producer: its own instance, no namespace, sends of up to 5 s.
        let mut tc = client.clone();
        tc.namespace = None;
        tc.instance_name = Some(format!(
            "PID_CLIENT_INNER_TRACE_PRODUCER_{}",
            std::process::id()
        ));
        tc.runtime = Some(Arc::clone(&rt));
        let trace_group = format!(
            "{GROUP_NAME_PREFIX}-{group}-{kind_name}-{}",
            next_dispatcher_number()
        );
        let pc = crate::producer::ProducerConfig {
            client: tc,
            group: trace_group,
            send_timeout: Duration::from_secs(5),
            max_message_size: cfg.max_message_size.max(1024),
            // Trace bodies are small text; never compressed so every reader decodes them.
            compress_over: usize::MAX,
            ..Default::default()
        };
        let producer = Producer::builder().config(pc).build()?;
        Ok(Arc::new(TraceDispatcher {
            queue: Mutex::new(VecDeque::with_capacity(cfg.queue_capacity.min(4096))),
            len: AtomicUsize::new(0),
            signal: Signal::default(),
            producer,
            tasks: TaskGroup::new(Arc::clone(&rt)),
            rt,
            started: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sent: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicU64::new(0)),
            cfg,
        }))
    }

    pub(crate) fn trace_topic(&self) -> &str {
        &self.cfg.trace_topic
    }

    pub(crate) fn stats(&self) -> TraceStats {
        TraceStats {
            queued: self.queued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            messages_sent: self.sent.load(Ordering::Relaxed),
            messages_failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Queues `ctx`, or drops it when the queue is full. Never blocks on I/O.
    pub(crate) fn append(&self, ctx: TraceContext) {
        let len = {
            let mut q = self.queue.lock_unpoisoned();
            if q.len() >= self.cfg.queue_capacity {
                drop(q);
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "trace queue full; trace records dropped");
                }
                return;
            }
            q.push_back(ctx);
            q.len()
        };
        self.len.store(len, Ordering::Release);
        self.queued.fetch_add(1, Ordering::Relaxed);
        // The task waits for the first record, then for a full batch or the flush interval.
        if len == 1 || len == self.cfg.batch_size {
            self.signal.notify();
        }
    }

    /// Starts the trace producer and the dispatch task. A trace producer that does not start
    /// is logged: tracing must not keep the traced client from starting.
    ///
    /// Boxed: the traced client's `start` awaits it, and it awaits a producer's `start`.
    pub(crate) fn start(self: &Arc<Self>) -> BoxFuture<'static, ()> {
        let me = Arc::clone(self);
        Box::pin(async move {
            if me.started.swap(true, Ordering::AcqRel) {
                return;
            }
            if let Err(e) = me.producer.start().await {
                tracing::warn!(error = %e, "trace producer did not start; message trace is off");
                return;
            }
            let stop = me.tasks.signal().clone();
            let task = Arc::clone(&me);
            me.tasks.spawn(async move { task.run(stop).await });
        })
    }

    async fn run(self: Arc<Self>, stop: ShutdownSignal) {
        loop {
            if self.len.load(Ordering::Acquire) == 0 {
                if stop.is_triggered() {
                    return;
                }
                match select(Box::pin(self.signal.wait()), stop.wait()).await {
                    Either::Left(_) => {}
                    Either::Right(_) => {
                        self.flush_all();
                        return;
                    }
                }
            }
            if self.len.load(Ordering::Acquire) < self.cfg.batch_size && !stop.is_triggered() {
                // Let a batch gather, unless it fills up first.
                let pause = self.rt.sleep(self.cfg.flush_interval);
                let _ = select(pause, Box::pin(self.signal.wait())).await;
            }
            self.flush_all();
        }
    }

    /// Sends everything queued now, in batches of at most `batch_size` records.
    fn flush_all(&self) {
        loop {
            let batch: Vec<TraceContext> = {
                let mut q = self.queue.lock_unpoisoned();
                let n = q.len().min(self.cfg.batch_size);
                let b: Vec<_> = q.drain(..n).collect();
                self.len.store(q.len(), Ordering::Release);
                b
            };
            if batch.is_empty() {
                return;
            }
            self.send_batch(&batch);
        }
    }

    /// Groups `batch` by traced topic (as Java), packs each group into messages of at most
    /// `max_message_size` bytes, and sends them asynchronously.
    fn send_batch(&self, batch: &[TraceContext]) {
        let mut topics: Vec<&str> = Vec::new();
        for c in batch {
            if !topics.contains(&c.bean.topic.as_str()) {
                topics.push(&c.bean.topic);
            }
        }
        for topic in topics {
            let mut body = String::with_capacity(1024);
            let mut keys: Vec<&str> = Vec::new();
            let mut seen: HashSet<&str> = HashSet::new();
            for c in batch.iter().filter(|c| c.bean.topic == topic) {
                encode_trace_context(c, &mut body);
                for k in trace_keys(c) {
                    if seen.insert(k) {
                        keys.push(k);
                    }
                }
                if body.len() >= self.cfg.max_message_size {
                    self.send_one(std::mem::take(&mut body), &keys);
                    keys.clear();
                    seen.clear();
                }
            }
            if !body.is_empty() {
                self.send_one(body, &keys);
            }
        }
    }

    fn send_one(&self, body: String, keys: &[&str]) {
        let mut msg = Message::new(self.cfg.trace_topic.clone(), body);
        // Java sets the key set joined by spaces, so that a query by any message id finds it.
        msg.properties.insert(
            rocketmq_rs_remoting::protocol::message::property::KEYS,
            keys.join(" "),
        );
        let (sent, failed) = (Arc::clone(&self.sent), Arc::clone(&self.failed));
        let r = self.producer.send_with_callback(msg, move |r| match r {
            Ok(_) => {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "trace message not sent");
            }
        });
        if let Err(e) = r {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "trace message not sent");
        }
    }

    /// Sends what is queued, stops the task and the trace producer (which waits for its
    /// in-flight sends up to the client's shutdown timeout).
    /// Boxed, as [`TraceDispatcher::start`].
    pub(crate) fn shutdown(self: &Arc<Self>) -> BoxFuture<'static, ()> {
        let me = Arc::clone(self);
        Box::pin(async move {
            if me.started.load(Ordering::Acquire) {
                let grace = me.producer.client_instance().config().shutdown_timeout;
                me.tasks.shutdown(grace).await;
                // Records queued after the task stopped (a hook racing the shutdown).
                me.flush_all();
            }
            me.producer.shutdown().await;
        })
    }
}
