//! A history of sends and deliveries, and the checkers run over it after a scenario.
//!
//! Every send logs (key, sharding key, outcome, queue, offset, start/end time); every delivery
//! logs (key, queue, offset, reconsume times, consumer, time). The checkers then count lost
//! acknowledged messages, duplicates, unknown-outcome messages that were delivered, per-key
//! order, queue-offset uniqueness and recovery times after faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocketmq_rs_client::Error;

/// How a send ended, as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Acknowledged (SEND_OK or another status with a result).
    Ok,
    /// Definitely not stored: refused before or by the broker.
    Failed,
    /// Maybe stored: a timeout or a connection lost after the request left.
    Unknown,
}

/// Classifies a send error: did the request possibly reach a broker that stored it?
pub fn classify(err: &Error) -> Outcome {
    use rocketmq_rs_client::Stage;
    use rocketmq_rs_remoting::RemotingError as R;
    match err {
        Error::Network { stage, source, .. } => match (stage, source) {
            (Stage::Route | Stage::Connect, _) => Outcome::Failed,
            (_, R::Connect { .. }) => Outcome::Failed,
            _ => Outcome::Unknown,
        },
        Error::Timeout { .. } => Outcome::Unknown,
        Error::Remoting(R::Connect { .. }) => Outcome::Failed,
        Error::Remoting(_) => Outcome::Unknown,
        // The producer retries: an earlier attempt may have timed out after storing, so a final
        // broker refusal is only "failed" for the last attempt. Reported as unknown to be safe.
        Error::Broker { .. } => Outcome::Unknown,
        _ => Outcome::Failed,
    }
}

/// One send.
#[derive(Debug, Clone)]
pub struct SendRecord {
    /// Unique message key.
    pub key: String,
    /// Ordering key, if the send was orderly.
    pub sharding: Option<String>,
    /// Result as seen by the application.
    pub outcome: Outcome,
    /// `broker:queueId` of an acknowledged send.
    pub queue: Option<String>,
    /// Queue offset of an acknowledged send.
    pub offset: Option<i64>,
    /// When the call started.
    pub start: Instant,
    /// When it returned.
    pub end: Instant,
    /// The error text of a failed send.
    pub error: Option<String>,
    /// The send status of an acknowledged send (`SendOk`, `FlushDiskTimeout`...).
    pub status: Option<rocketmq_rs_client::SendStatus>,
    /// The broker's response code of a send that ended with a broker error.
    pub broker_code: Option<i32>,
}

/// One delivery to a listener.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Message key.
    pub key: String,
    /// `broker:queueId`.
    pub queue: String,
    /// Queue offset.
    pub offset: i64,
    /// Redelivery count the broker reported.
    pub reconsume_times: i32,
    /// Which consumer got it.
    pub consumer: String,
    /// When.
    pub at: Instant,
}

/// The recorder: cheap to share (`Arc<History>`), thread-safe.
pub struct History {
    /// Time zero of the scenario.
    pub t0: Instant,
    sends: Mutex<Vec<SendRecord>>,
    deliveries: Mutex<Vec<DeliveryRecord>>,
    faults: Mutex<Vec<(Instant, String)>>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

/// Queue label used in records.
pub fn queue_label(broker: &str, queue_id: i32) -> String {
    format!("{broker}:{queue_id}")
}

impl History {
    /// An empty history starting now.
    pub fn new() -> Self {
        History {
            t0: Instant::now(),
            sends: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        }
    }

    /// Logs a send result.
    pub fn record_send(
        &self,
        key: &str,
        sharding: Option<&str>,
        start: Instant,
        result: &Result<rocketmq_rs_client::SendResult, Error>,
    ) {
        let end = Instant::now();
        let rec = match result {
            Ok(r) => SendRecord {
                key: key.into(),
                sharding: sharding.map(Into::into),
                outcome: Outcome::Ok,
                queue: Some(queue_label(
                    &r.message_queue.broker_name,
                    r.message_queue.queue_id,
                )),
                offset: Some(r.queue_offset),
                start,
                end,
                error: None,
                status: Some(r.status),
                broker_code: None,
            },
            Err(e) => SendRecord {
                key: key.into(),
                sharding: sharding.map(Into::into),
                outcome: classify(e),
                queue: None,
                offset: None,
                start,
                end,
                error: Some(e.to_string()),
                status: None,
                broker_code: match e {
                    Error::Broker { code, .. } => Some(*code),
                    _ => None,
                },
            },
        };
        self.sends.lock().unwrap().push(rec);
    }

    /// Logs a delivered message.
    pub fn record_delivery(
        &self,
        msg: &rocketmq_rs_client::MessageExt,
        broker: &str,
        consumer: &str,
    ) {
        let key = msg.keys().unwrap_or("").to_string();
        self.deliveries.lock().unwrap().push(DeliveryRecord {
            key,
            queue: queue_label(broker, msg.queue_id),
            offset: msg.queue_offset,
            reconsume_times: msg.reconsume_times,
            consumer: consumer.into(),
            at: Instant::now(),
        });
    }

    /// Logs a delivery reported by a consumer process (see `chaos/bin/consumer.rs`).
    pub fn record_delivery_parts(
        &self,
        key: &str,
        queue: String,
        offset: i64,
        reconsume_times: i32,
        consumer: &str,
    ) {
        self.deliveries.lock().unwrap().push(DeliveryRecord {
            key: key.into(),
            queue,
            offset,
            reconsume_times,
            consumer: consumer.into(),
            at: Instant::now(),
        });
    }

    /// Marks the moment a fault was injected.
    pub fn fault(&self, what: &str) -> Instant {
        let now = Instant::now();
        self.faults.lock().unwrap().push((now, what.into()));
        now
    }

    /// A copy of the sends.
    pub fn sends(&self) -> Vec<SendRecord> {
        self.sends.lock().unwrap().clone()
    }

    /// A copy of the deliveries.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Number of distinct keys delivered so far.
    pub fn delivered_keys(&self) -> usize {
        let d = self.deliveries.lock().unwrap();
        d.iter()
            .map(|r| r.key.as_str())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Whether every acknowledged key has been delivered.
    pub fn all_acked_delivered(&self) -> bool {
        let delivered: HashSet<String> = self
            .deliveries
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.key.clone())
            .collect();
        self.sends
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.outcome == Outcome::Ok)
            .all(|s| delivered.contains(&s.key))
    }

    /// Whether some send recorded so far matches `pred` (without copying the history).
    pub fn any_send(&self, pred: impl Fn(&SendRecord) -> bool) -> bool {
        self.sends.lock().unwrap().iter().any(pred)
    }

    /// Runs every checker.
    pub fn check(&self) -> Report {
        let sends = self.sends();
        let deliveries = self.deliveries();
        let faults = self.faults.lock().unwrap().clone();
        let mut r = Report {
            sent: sends.len(),
            ..Report::default()
        };
        let mut per_key: HashMap<&str, usize> = HashMap::new();
        for d in &deliveries {
            *per_key.entry(d.key.as_str()).or_default() += 1;
        }
        let mut ack_keys = HashSet::new();
        for s in &sends {
            let delivered = per_key.contains_key(s.key.as_str());
            match s.outcome {
                Outcome::Ok => {
                    r.acknowledged += 1;
                    ack_keys.insert(s.key.as_str());
                    if !delivered {
                        r.lost += 1;
                        if r.lost_examples.len() < 10 {
                            r.lost_examples
                                .push(format!("{} ({:?}@{:?})", s.key, s.queue, s.offset));
                        }
                    }
                }
                Outcome::Failed => {
                    r.failed += 1;
                    if delivered {
                        r.failed_but_delivered += 1;
                        if r.failed_delivered_examples.len() < 5 {
                            r.failed_delivered_examples
                                .push(format!("{}: {:?}", s.key, s.error));
                        }
                    }
                }
                Outcome::Unknown => {
                    r.unknown += 1;
                    if delivered {
                        r.unknown_delivered += 1;
                    }
                }
            }
        }
        r.deliveries = deliveries.len();
        for (&k, &n) in &per_key {
            if n > 1 {
                r.duplicated_keys += 1;
                r.duplicate_deliveries += n - 1;
            }
            if !sends.iter().any(|s| s.key == k) {
                r.unknown_keys_delivered += 1;
            }
        }
        // A key acknowledged twice (the application never resends, so this is a client bug).
        let mut acked_twice = HashMap::new();
        for s in sends.iter().filter(|s| s.outcome == Outcome::Ok) {
            *acked_twice.entry(s.key.as_str()).or_insert(0usize) += 1;
        }
        r.acked_more_than_once = acked_twice.values().filter(|&&n| n > 1).count();

        // Offset uniqueness, from both sides: one (queue, offset) holds one message.
        let mut slot: HashMap<(String, i64), HashSet<&str>> = HashMap::new();
        for s in sends.iter().filter(|s| s.outcome == Outcome::Ok) {
            if let (Some(q), Some(o)) = (&s.queue, s.offset) {
                slot.entry((q.clone(), o)).or_default().insert(&s.key);
            }
        }
        for d in &deliveries {
            slot.entry((d.queue.clone(), d.offset))
                .or_default()
                .insert(&d.key);
        }
        for ((q, o), keys) in &slot {
            if keys.len() > 1 {
                r.offset_conflicts += 1;
                if r.offset_conflict_examples.len() < 10 {
                    r.offset_conflict_examples
                        .push(format!("{q}@{o}: {keys:?}"));
                }
            }
        }

        // Order: per sharding key, acknowledged sends (in send order) must be a subsequence of
        // the deliveries, and their first deliveries must come in that order.
        let mut acked_by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut shard_of: HashMap<&str, &str> = HashMap::new();
        for s in &sends {
            if let Some(sk) = &s.sharding {
                shard_of.insert(&s.key, sk);
                if s.outcome == Outcome::Ok {
                    acked_by_shard.entry(sk).or_default().push(&s.key);
                }
            }
        }
        let mut delivered_by_shard: HashMap<&str, Vec<&str>> = HashMap::new();
        for d in &deliveries {
            if let Some(sk) = shard_of.get(d.key.as_str()) {
                delivered_by_shard.entry(sk).or_default().push(&d.key);
            }
        }
        for (sk, acked) in &acked_by_shard {
            let got = delivered_by_shard.get(sk).cloned().unwrap_or_default();
            let mut it = got.iter();
            let subsequence = acked.iter().all(|k| it.any(|g| g == k));
            let first: HashMap<&str, usize> =
                got.iter().enumerate().rev().map(|(i, k)| (*k, i)).collect();
            let mut last = None;
            let mut monotonic = true;
            for k in acked {
                if let Some(&p) = first.get(k) {
                    if last.is_some_and(|l| p < l) {
                        monotonic = false;
                    }
                    last = Some(p);
                }
            }
            if !subsequence || !monotonic {
                r.order_violations += 1;
                if r.order_examples.len() < 5 {
                    r.order_examples.push(format!(
                        "{sk}: acked {:?} delivered {:?}",
                        &acked[..acked.len().min(20)],
                        &got[..got.len().min(40)]
                    ));
                }
            }
        }
        r.sharding_keys = acked_by_shard.len();

        // Recovery: first failed send after each fault, then the first acknowledged send that
        // started after that failure.
        let mut by_start: Vec<&SendRecord> = sends.iter().collect();
        by_start.sort_by_key(|s| s.start);
        // A failure belongs to the latest fault before it: faults that come in sequence
        // (disk errors, then a restart) are not charged for each other's failures.
        let mut faults = faults;
        faults.sort_by_key(|(at, _)| *at);
        for (i, (at, what)) in faults.iter().enumerate() {
            let next = faults.get(i + 1).map(|(t, _)| *t);
            let first_fail = by_start
                .iter()
                .filter(|s| {
                    s.end >= *at && next.is_none_or(|n| s.end < n) && s.outcome != Outcome::Ok
                })
                .map(|s| s.end)
                .min();
            let rec = first_fail.and_then(|f| {
                by_start
                    .iter()
                    .filter(|s| s.outcome == Outcome::Ok && s.start >= f)
                    .map(|s| s.end)
                    .min()
                    .map(|ok| ok.saturating_duration_since(f))
            });
            r.recoveries.push((what.clone(), first_fail.is_some(), rec));
        }
        r
    }
}

/// What the checkers found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Send calls.
    pub sent: usize,
    /// Sends that returned a result.
    pub acknowledged: usize,
    /// Sends refused for sure.
    pub failed: usize,
    /// Sends that may or may not have been stored.
    pub unknown: usize,
    /// Acknowledged but never delivered.
    pub lost: usize,
    /// A few lost keys.
    pub lost_examples: Vec<String>,
    /// Deliveries in all.
    pub deliveries: usize,
    /// Keys delivered more than once.
    pub duplicated_keys: usize,
    /// Deliveries beyond the first of each key.
    pub duplicate_deliveries: usize,
    /// Unknown-outcome sends that were delivered.
    pub unknown_delivered: usize,
    /// "Failed" sends that were delivered anyway (would mean misclassification).
    pub failed_but_delivered: usize,
    /// A few of them, with the error the application saw.
    pub failed_delivered_examples: Vec<String>,
    /// Delivered keys that no send produced.
    pub unknown_keys_delivered: usize,
    /// Keys acknowledged more than once.
    pub acked_more_than_once: usize,
    /// (queue, offset) slots that held more than one key.
    pub offset_conflicts: usize,
    /// A few of them.
    pub offset_conflict_examples: Vec<String>,
    /// Sharding keys checked for order.
    pub sharding_keys: usize,
    /// Sharding keys whose order broke.
    pub order_violations: usize,
    /// A few of them.
    pub order_examples: Vec<String>,
    /// Per fault: (what, did a send fail after it, time from first failure to next success).
    pub recoveries: Vec<(String, bool, Option<Duration>)>,
}

impl Report {
    /// The longest recovery among faults that caused failures (`None` when one never
    /// recovered).
    pub fn max_recovery(&self) -> Option<Duration> {
        let mut max = Duration::ZERO;
        for (_, failed, rec) in &self.recoveries {
            if *failed {
                max = max.max((*rec)?);
            }
        }
        Some(max)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} acked={} failed={} unknown={} lost={} deliveries={} dup_keys={} dup_deliveries={} \
             unknown_delivered={} failed_but_delivered={} stray={} acked_twice={} offset_conflicts={} \
             order_keys={} order_violations={} recoveries=[",
            self.sent,
            self.acknowledged,
            self.failed,
            self.unknown,
            self.lost,
            self.deliveries,
            self.duplicated_keys,
            self.duplicate_deliveries,
            self.unknown_delivered,
            self.failed_but_delivered,
            self.unknown_keys_delivered,
            self.acked_more_than_once,
            self.offset_conflicts,
            self.sharding_keys,
            self.order_violations,
        )?;
        for (what, failed, rec) in &self.recoveries {
            match (failed, rec) {
                (false, _) => write!(f, " {what}: no failure;")?,
                (true, Some(d)) => write!(f, " {what}: {:.2}s;", d.as_secs_f64())?,
                (true, None) => write!(f, " {what}: NOT RECOVERED;")?,
            }
        }
        write!(f, " ]")?;
        if !self.lost_examples.is_empty() {
            write!(f, " lost e.g. {:?}", self.lost_examples)?;
        }
        if !self.failed_delivered_examples.is_empty() {
            write!(
                f,
                " failed-but-delivered e.g. {:?}",
                self.failed_delivered_examples
            )?;
        }
        if !self.offset_conflict_examples.is_empty() {
            write!(f, " conflicts e.g. {:?}", self.offset_conflict_examples)?;
        }
        if !self.order_examples.is_empty() {
            write!(f, " order e.g. {:?}", self.order_examples)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(h: &History, key: &str, sk: Option<&str>, outcome: Outcome, q: &str, off: i64) {
        let now = Instant::now();
        h.sends.lock().unwrap().push(SendRecord {
            key: key.into(),
            sharding: sk.map(Into::into),
            outcome,
            queue: (outcome == Outcome::Ok).then(|| q.into()),
            offset: (outcome == Outcome::Ok).then_some(off),
            start: now,
            end: now,
            error: None,
            status: None,
            broker_code: None,
        });
    }

    fn deliver(h: &History, key: &str, q: &str, off: i64) {
        h.deliveries.lock().unwrap().push(DeliveryRecord {
            key: key.into(),
            queue: q.into(),
            offset: off,
            reconsume_times: 0,
            consumer: "c".into(),
            at: Instant::now(),
        });
    }

    #[test]
    fn checkers_find_loss_duplicates_conflicts_and_disorder() {
        let h = History::new();
        send(&h, "a", Some("s"), Outcome::Ok, "b:0", 0);
        send(&h, "b", Some("s"), Outcome::Ok, "b:0", 1);
        send(&h, "c", Some("s"), Outcome::Ok, "b:0", 2);
        send(&h, "u", None, Outcome::Unknown, "", 0);
        send(&h, "lost", None, Outcome::Ok, "b:1", 0);
        deliver(&h, "a", "b:0", 0);
        deliver(&h, "c", "b:0", 2);
        deliver(&h, "b", "b:0", 1);
        deliver(&h, "c", "b:0", 2);
        deliver(&h, "u", "b:0", 1); // same slot as "b": a conflict
        let r = h.check();
        assert_eq!(r.sent, 5);
        assert_eq!(r.acknowledged, 4);
        assert_eq!(r.lost, 1);
        assert_eq!(r.duplicated_keys, 1);
        assert_eq!(r.duplicate_deliveries, 1);
        assert_eq!(r.unknown_delivered, 1);
        assert_eq!(r.offset_conflicts, 1);
        assert_eq!(r.order_violations, 1, "{r}");
    }

    #[test]
    fn redelivery_rewind_keeps_order() {
        let h = History::new();
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            send(&h, k, Some("s"), Outcome::Ok, "b:0", i as i64);
        }
        for (k, o) in [("a", 0), ("b", 1), ("c", 2), ("b", 1), ("c", 2), ("d", 3)] {
            deliver(&h, k, "b:0", o);
        }
        let r = h.check();
        assert_eq!(r.order_violations, 0, "{r}");
        assert_eq!(r.lost, 0);
        assert_eq!(r.duplicate_deliveries, 2);
    }

    #[test]
    fn recovery_is_measured_from_first_failure() {
        let h = History::new();
        let at = h.fault("kill");
        let t = Instant::now();
        h.sends.lock().unwrap().push(SendRecord {
            key: "f".into(),
            sharding: None,
            outcome: Outcome::Failed,
            queue: None,
            offset: None,
            start: t,
            end: t + Duration::from_millis(100),
            error: None,
            status: None,
            broker_code: None,
        });
        h.sends.lock().unwrap().push(SendRecord {
            key: "ok".into(),
            sharding: None,
            outcome: Outcome::Ok,
            queue: Some("b:0".into()),
            offset: Some(0),
            start: t + Duration::from_millis(200),
            end: t + Duration::from_millis(600),
            error: None,
            status: None,
            broker_code: None,
        });
        let r = h.check();
        assert!(at <= t);
        assert_eq!(r.recoveries.len(), 1);
        assert_eq!(r.max_recovery(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn a_failure_is_charged_to_the_latest_fault_before_it() {
        let h = History::new();
        h.fault("harmless");
        std::thread::sleep(Duration::from_millis(5));
        let kill = h.fault("kill");
        let rec = |key: &str, outcome, start: Duration, end: Duration| SendRecord {
            key: key.into(),
            sharding: None,
            outcome,
            queue: None,
            offset: None,
            start: kill + start,
            end: kill + end,
            error: None,
            status: None,
            broker_code: None,
        };
        h.sends.lock().unwrap().extend([
            rec("f", Outcome::Failed, ms(0), ms(100)),
            rec("ok", Outcome::Ok, ms(200), ms(300)),
        ]);
        let r = h.check();
        assert_eq!(r.recoveries[0].0, "harmless");
        assert!(!r.recoveries[0].1, "{r}");
        assert_eq!(r.recoveries[1].0, "kill");
        assert_eq!(r.recoveries[1].2, Some(ms(200)));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
}
