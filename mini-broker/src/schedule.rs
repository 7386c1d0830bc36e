//! Delayed delivery ([`ScheduleService`]).
//!
//! * Delay levels (Java `ScheduleMessageService`): a message with `DELAY=n` is stored in
//!   `SCHEDULE_TOPIC_XXXX` queue `n-1`. One task per level reads its queue in order (all
//!   messages of a level have the same delay, so the head is always due first), waits until
//!   the head is due (`storeTimestamp + delay`) and writes it to `REAL_TOPIC`/`REAL_QID`.
//! * Arbitrary delivery time (5.x timer properties `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`,
//!   `TIMER_DELAY_MS`): the message waits in `rmq_sys_wheel_timer` queue 0 with its due time
//!   in `TIMER_OUT_MS`; one task keeps the pending ones in a heap ordered by due time.
//!
//! Progress (per-level next offset; timer low-water mark plus delivered offsets above it) is
//! persisted atomically in `config/delayOffset.json` after every delivery, so delivery resumes
//! after a restart (at least once). Idle tasks sleep until a message arrives for their queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::message::{decode_message, property, MessageExt};
use rocketmq_rs_remoting::rt::{self, Runtime, ShutdownSignal};
use rocketmq_rs_remoting::util::MutexExt;
use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, Result};
use crate::filter::MessageFilter;
use crate::long_poll::PullHoldService;
use crate::store::{read_optional, write_atomic, GetStatus, MessageStore, SCHEDULE_TOPIC};
use crate::topic_config::TIMER_TOPIC;

#[derive(Serialize, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct TimerProgress {
    #[serde(default)]
    low_water: i64,
    #[serde(default)]
    delivered: BTreeSet<i64>,
}

#[derive(Serialize, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ProgressFile {
    /// Delay level → next queue offset to deliver (Java `delayOffset.json` member).
    #[serde(default)]
    offset_table: BTreeMap<i32, i64>,
    #[serde(default)]
    timer_progress: TimerProgress,
}

/// The delay-level and timer delivery service.
pub struct ScheduleService {
    store: MessageStore,
    rt: Arc<dyn Runtime>,
    levels: Vec<i64>,
    path: PathBuf,
    progress: Mutex<ProgressFile>,
    /// Persisting is serialised so that an older snapshot never overwrites a newer one.
    persist_lock: Mutex<()>,
    arrivals: PullHoldService,
    shutdown: ShutdownSignal,
}

impl std::fmt::Debug for ScheduleService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduleService")
            .field("levels", &self.levels)
            .finish()
    }
}

/// Clamps a requested delay level to `1..=levels`.
pub fn clamp_level(level: i32, levels: usize) -> i32 {
    level.clamp(1, levels.max(1) as i32)
}

impl ScheduleService {
    /// Loads the progress file. Blocking.
    pub fn load(
        store: MessageStore,
        rt: Arc<dyn Runtime>,
        levels: Vec<i64>,
        path: PathBuf,
    ) -> Result<Arc<Self>> {
        let progress = match read_optional(&path)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| BrokerError::Metadata {
                path: path.clone(),
                msg: e.to_string(),
            })?,
            None => ProgressFile::default(),
        };
        Ok(Arc::new(ScheduleService {
            store,
            rt,
            levels,
            path,
            progress: Mutex::new(progress),
            persist_lock: Mutex::new(()),
            arrivals: PullHoldService::default(),
            shutdown: ShutdownSignal::new(),
        }))
    }

    /// Delay of `level` (1-based, clamped) in ms.
    pub fn delay_ms(&self, level: i32) -> i64 {
        self.levels[(clamp_level(level, self.levels.len()) - 1) as usize]
    }

    /// Number of delay levels.
    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Delay level → next offset to deliver in `SCHEDULE_TOPIC_XXXX` (GET_ALL_DELAY_OFFSET).
    pub fn delay_offsets(&self) -> BTreeMap<i32, i64> {
        self.lock().offset_table.clone()
    }

    /// Replaces the delay progress with a master's (slave metadata copy) and persists it, so
    /// that a slave promoted by hand resumes delivery where the master was. Blocking.
    pub fn replace_delay_offsets(&self, table: BTreeMap<i32, i64>) -> Result<()> {
        {
            let mut p = self.lock();
            if p.offset_table == table {
                return Ok(());
            }
            p.offset_table = table;
        }
        self.persist()
    }

    /// Forwards store arrivals for the schedule and timer topics.
    pub fn notify_arrival(&self, topic: &str, queue_id: i32, max_offset: i64) {
        if topic == SCHEDULE_TOPIC || topic == TIMER_TOPIC {
            self.arrivals.notify_arrival(topic, queue_id, max_offset);
        }
    }

    /// Spawns the delivery tasks on `spawn`.
    pub fn start(self: &Arc<Self>, spawn: impl Fn(futures::future::BoxFuture<'static, ()>)) {
        for level in 1..=self.levels.len() as i32 {
            let me = Arc::clone(self);
            spawn(Box::pin(async move { me.level_loop(level).await }));
        }
        let me = Arc::clone(self);
        spawn(Box::pin(async move { me.timer_loop().await }));
    }

    /// Stops the tasks (they finish their current delivery first) and persists the progress.
    pub fn stop(&self) {
        self.shutdown.trigger();
        self.arrivals.wake_all();
        if let Err(e) = self.persist() {
            tracing::error!(error = %e, "cannot persist delay progress");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressFile> {
        self.progress.lock_unpoisoned()
    }

    fn persist(&self) -> Result<()> {
        let _g = self.persist_lock.lock_unpoisoned();
        let snapshot = self.lock().clone();
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| BrokerError::Metadata {
            path: self.path.clone(),
            msg: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::Metadata {
                path: dir.to_path_buf(),
                msg: e.to_string(),
            })?;
        }
        write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    async fn persist_async(self: &Arc<Self>) {
        let me = Arc::clone(self);
        if let Err(e) = rt::run_blocking(&*self.rt, move || me.persist()).await {
            tracing::error!(error = %e, "cannot persist delay progress");
        }
    }

    /// Sleeps `dur` unless shut down first; returns false on shutdown.
    async fn sleep(&self, dur: Duration) -> bool {
        if self.shutdown.is_triggered() {
            return false;
        }
        match select(self.rt.sleep(dur), self.shutdown.wait()).await {
            Either::Left(_) => !self.shutdown.is_triggered(),
            Either::Right(_) => false,
        }
    }

    async fn read(
        self: &Arc<Self>,
        topic: &'static str,
        queue_id: i32,
        offset: i64,
    ) -> Option<crate::store::GetResult> {
        let store = self.store.clone();
        match rt::run_blocking(&*self.rt, move || {
            store.get_messages(topic, queue_id, offset, 32, 1 << 20, None)
        })
        .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, topic, queue_id, "schedule read failed");
                None
            }
        }
    }

    /// Waits for data beyond `offset` of the queue (or shutdown). `rx` was registered before
    /// the read that found nothing, so no arrival is missed.
    async fn wait_arrival(&self, rx: futures::channel::oneshot::Receiver<()>) {
        let _ = select(rx, self.shutdown.wait()).await;
    }

    async fn level_loop(self: Arc<Self>, level: i32) {
        let queue_id = level - 1;
        let delay = self.delay_ms(level);
        while !self.shutdown.is_triggered() {
            let offset = self.lock().offset_table.get(&level).copied().unwrap_or(0);
            let (hold_id, rx) =
                self.arrivals
                    .hold(SCHEDULE_TOPIC, queue_id, offset, MessageFilter::All);
            let Some(r) = self.read(SCHEDULE_TOPIC, queue_id, offset).await else {
                self.arrivals.cancel(SCHEDULE_TOPIC, queue_id, hold_id);
                self.sleep(Duration::from_secs(1)).await;
                continue;
            };
            match r.status {
                GetStatus::Found => {
                    self.arrivals.cancel(SCHEDULE_TOPIC, queue_id, hold_id);
                    for raw in r.messages {
                        let Some(msg) = decode(raw) else { continue };
                        let due = msg.store_timestamp.saturating_add(delay);
                        let wait = due - self.rt.clock().now_ms();
                        if wait > 0 && !self.sleep(Duration::from_millis(wait as u64)).await {
                            return;
                        }
                        let next = msg.queue_offset + 1;
                        if !self.deliver_until_ok(msg).await {
                            return;
                        }
                        self.lock().offset_table.insert(level, next);
                        self.persist_async().await;
                    }
                    // Entries skipped (undecodable, invalid) still move the level forward.
                    let mut p = self.lock();
                    let cur = p.offset_table.entry(level).or_insert(0);
                    if *cur < r.next_begin_offset {
                        *cur = r.next_begin_offset;
                    }
                }
                GetStatus::OffsetTooSmall
                | GetStatus::OffsetOverflowBadly
                | GetStatus::OffsetFoundNull
                | GetStatus::NoMatchedMessage
                | GetStatus::MessageWasRemoving
                    if r.next_begin_offset != offset =>
                {
                    self.arrivals.cancel(SCHEDULE_TOPIC, queue_id, hold_id);
                    self.lock().offset_table.insert(level, r.next_begin_offset);
                }
                _ => self.wait_arrival(rx).await,
            }
        }
    }

    async fn timer_loop(self: Arc<Self>) {
        let mut heap: BinaryHeap<Reverse<(i64, i64, i64)>> = BinaryHeap::new();
        let mut scan = self.lock().timer_progress.low_water;
        while !self.shutdown.is_triggered() {
            // Load everything stored so far into the heap; the hold registered before the
            // read that finds nothing new catches later arrivals.
            let (hold_id, rx) = self.arrivals.hold(TIMER_TOPIC, 0, scan, MessageFilter::All);
            let Some(r) = self.read(TIMER_TOPIC, 0, scan).await else {
                self.arrivals.cancel(TIMER_TOPIC, 0, hold_id);
                self.sleep(Duration::from_secs(1)).await;
                continue;
            };
            if r.status == GetStatus::Found {
                self.arrivals.cancel(TIMER_TOPIC, 0, hold_id);
                let delivered = self.lock().timer_progress.delivered.clone();
                for raw in r.messages {
                    let Some(msg) = decode(raw) else { continue };
                    if !delivered.contains(&msg.queue_offset) {
                        let due = timer_due(&msg).unwrap_or(msg.store_timestamp);
                        heap.push(Reverse((due, msg.queue_offset, msg.commit_log_offset)));
                    }
                }
                scan = r.next_begin_offset;
                continue;
            }
            if r.next_begin_offset > scan {
                scan = r.next_begin_offset;
            }
            while let Some(Reverse((due, qoff, cloff))) = heap.peek().copied() {
                if due > self.rt.clock().now_ms() {
                    break;
                }
                heap.pop();
                let store = self.store.clone();
                let raw = rt::run_blocking(&*self.rt, move || store.read_record(cloff)).await;
                let msg = match raw {
                    Ok(Some(b)) => decode(b),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "timer message unreadable");
                        None
                    }
                };
                if let Some(msg) = msg {
                    if !self.deliver_until_ok(msg).await {
                        return;
                    }
                }
                {
                    let mut p = self.lock();
                    let t = &mut p.timer_progress;
                    t.delivered.insert(qoff);
                    while t.delivered.remove(&t.low_water) {
                        t.low_water += 1;
                    }
                }
                self.persist_async().await;
            }
            let woken = select(rx, self.shutdown.wait());
            match heap.peek() {
                Some(Reverse((due, _, _))) => {
                    let wait = (due - self.rt.clock().now_ms()).max(0) as u64;
                    let _ = select(woken, self.rt.sleep(Duration::from_millis(wait))).await;
                }
                None => {
                    let _ = woken.await;
                }
            }
            self.arrivals.cancel(TIMER_TOPIC, 0, hold_id);
        }
    }

    /// Writes `msg` to its real destination, retrying store failures every second until
    /// shutdown. Returns false on shutdown.
    async fn deliver_until_ok(self: &Arc<Self>, msg: MessageExt) -> bool {
        let out = restore_real_destination(msg);
        loop {
            match self.store.put_message(out.clone()).await {
                Ok(_) => return true,
                Err(crate::store::StoreError::MessageIllegal(m)) => {
                    tracing::error!(reason = %m, "delayed message cannot be delivered; dropped");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "delayed delivery failed; retrying");
                    if !self.sleep(Duration::from_secs(1)).await {
                        return false;
                    }
                }
            }
        }
    }
}

fn decode(mut raw: Bytes) -> Option<MessageExt> {
    match decode_message(&mut raw, true, false) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "undecodable delayed record skipped");
            None
        }
    }
}

/// Due time of a waiting timer message.
fn timer_due(m: &MessageExt) -> Option<i64> {
    m.property(property::TIMER_OUT_MS)?.parse().ok()
}

/// The message to write when a delayed message is due: its real topic and queue, `DELAY` and
/// timer request properties removed, new store time and offsets assigned by the store.
fn restore_real_destination(m: MessageExt) -> MessageExt {
    let mut props = m.properties.clone();
    let topic = props
        .get(property::REAL_TOPIC)
        .map(str::to_string)
        .unwrap_or_else(|| m.topic.clone());
    let queue_id = props
        .get(property::REAL_QUEUE_ID)
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    props.remove(property::DELAY);
    props.remove(property::TIMER_DELIVER_MS);
    props.remove(property::TIMER_DELAY_SEC);
    props.remove(property::TIMER_DELAY_MS);
    props.insert(property::WAIT, "false");
    MessageExt {
        topic,
        flag: m.flag,
        body: m.body,
        properties: props,
        queue_id,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_host: m.store_host,
        reconsume_times: m.reconsume_times,
        ..Default::default()
    }
}
