//! Producer-side broker fault tolerance and round-robin queue choice (Java `MQFaultStrategy`,
//! `LatencyFaultToleranceImpl`; docs/protocol/send.md §4).
//!
//! Each send outcome reports the broker's latency (or an isolating failure). With fault
//! tolerance enabled, a slow or failing broker is put out of rotation for a while, chosen from
//! a latency → penalty table. [`select_queue`] then walks the topic's queues round robin,
//! preferring available brokers and avoiding the broker the previous attempt of the same send
//! failed on.
//!
//! Like Java, fault tolerance is **disabled by default** ([`FaultConfig::default`]): then
//! updates are ignored, every broker counts as available, and [`select_queue`] only avoids the
//! last failed broker. Do not enable it for ordered sends, which must not change queues.

use rocketmq_rs_remoting::rt::Clock;
use rocketmq_rs_remoting::util::RwLockExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::message_queue::MessageQueue;

/// Latency → penalty table and switches for [`FaultTolerance`].
///
/// ```
/// use rocketmq_rs_client::producer::fault::FaultConfig;
/// use std::time::Duration;
///
/// let cfg = FaultConfig::default();
/// assert!(!cfg.enabled);
/// assert_eq!(cfg.penalty_for(Duration::from_millis(40)), Duration::ZERO);
/// assert_eq!(cfg.penalty_for(Duration::from_millis(600)), Duration::from_secs(30));
/// assert_eq!(cfg.penalty_for(Duration::from_secs(20)), Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Whether latencies are tracked and brokers isolated (Java `sendLatencyFaultEnable`,
    /// default `false`).
    pub enabled: bool,
    /// `(latency at least, broker unavailable for)` steps: a latency maps to the penalty of the
    /// largest threshold it reaches; below every threshold there is no penalty. Java's
    /// `latencyMax` / `notAvailableDuration` arrays, zipped.
    pub penalties: Vec<(Duration, Duration)>,
    /// The latency assumed for an attempt that failed with an isolating error (network error,
    /// broker error), before looking up the penalty: 30 s in Java 4.x, 10 s in 5.x.
    pub isolation_latency: Duration,
}

impl FaultConfig {
    /// Java 4.x tables: latency `{50, 100, 550, 1000, 2000, 3000, 15000}` ms →
    /// `{0, 0, 30, 60, 120, 180, 600}` s; isolation counts as 30 000 ms. Disabled.
    pub fn java_4x() -> Self {
        FaultConfig {
            enabled: false,
            penalties: steps(
                &[50, 100, 550, 1000, 2000, 3000, 15000],
                &[0, 0, 30000, 60000, 120000, 180000, 600000],
            ),
            isolation_latency: Duration::from_millis(30000),
        }
    }

    /// Java 5.x tables: latency `{50, 100, 550, 1800, 3000, 5000, 15000}` ms →
    /// `{0, 0, 2000, 5000, 6000, 10000, 30000}` ms; isolation counts as 10 000 ms. Disabled.
    pub fn java_5x() -> Self {
        FaultConfig {
            enabled: false,
            penalties: steps(
                &[50, 100, 550, 1800, 3000, 5000, 15000],
                &[0, 0, 2000, 5000, 6000, 10000, 30000],
            ),
            isolation_latency: Duration::from_millis(10000),
        }
    }

    /// Returns this configuration with `enabled` set.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The time a broker is put out of rotation after an attempt took `latency`.
    pub fn penalty_for(&self, latency: Duration) -> Duration {
        self.penalties
            .iter()
            .filter(|(threshold, _)| latency >= *threshold)
            .max_by_key(|(threshold, _)| *threshold)
            .map_or(Duration::ZERO, |(_, penalty)| *penalty)
    }
}

impl Default for FaultConfig {
    /// [`FaultConfig::java_4x`] (disabled).
    fn default() -> Self {
        FaultConfig::java_4x()
    }
}

fn steps(latency_ms: &[u64], penalty_ms: &[u64]) -> Vec<(Duration, Duration)> {
    latency_ms
        .iter()
        .zip(penalty_ms)
        .map(|(l, p)| (Duration::from_millis(*l), Duration::from_millis(*p)))
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct FaultItem {
    latency: Duration,
    available_at: Instant,
    reachable: bool,
}

/// Per-broker "not available until" bookkeeping (Java `LatencyFaultToleranceImpl`).
///
/// Thread-safe and cheap: a read lock per availability check, nothing at all when disabled.
/// Share one per producer (e.g. in an `Arc`).
///
/// ```
/// use rocketmq_rs_client::producer::fault::{FaultConfig, FaultTolerance};
/// use std::time::Duration;
///
/// let ft = FaultTolerance::new(FaultConfig::default().with_enabled(true));
/// ft.update("broker-a", Duration::from_millis(20), false);
/// assert!(ft.is_available("broker-a"));
/// ft.update("broker-b", Duration::from_millis(100), true); // isolating failure
/// assert!(!ft.is_available("broker-b"));
/// assert!(!ft.is_reachable("broker-b"));
/// assert!(ft.is_available("never-seen"));
/// ```
#[derive(Debug, Default)]
pub struct FaultTolerance {
    config: FaultConfig,
    items: RwLock<HashMap<String, FaultItem>>,
    clock: Clock,
}

impl FaultTolerance {
    /// A tracker using `config`.
    pub fn new(config: FaultConfig) -> Self {
        FaultTolerance {
            config,
            items: RwLock::new(HashMap::new()),
            clock: Clock::system(),
        }
    }

    /// Times penalties by `clock` (the runtime's) instead of the OS clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Whether fault tolerance is enabled.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// Records the outcome of a send attempt to `broker` (Java `updateFaultItem`).
    ///
    /// `latency` is the attempt's duration. `isolation` is `true` when the attempt failed with
    /// an error that should isolate the broker (network error, broker error): the penalty is
    /// then computed from [`FaultConfig::isolation_latency`] and the broker is marked
    /// unreachable until a later attempt succeeds. A penalty only ever extends the current
    /// one. Ignored when disabled.
    pub fn update(&self, broker: &str, latency: Duration, isolation: bool) {
        if self.config.enabled {
            self.update_at(broker, latency, isolation, self.clock.now());
        }
    }

    fn update_at(&self, broker: &str, latency: Duration, isolation: bool, now: Instant) {
        let penalty = self.config.penalty_for(if isolation {
            self.config.isolation_latency
        } else {
            latency
        });
        let until = now.checked_add(penalty).unwrap_or(now);
        let mut items = self.items.write_unpoisoned();
        let item = match items.get_mut(broker) {
            Some(item) => item,
            None => items.entry(broker.to_string()).or_insert(FaultItem {
                latency,
                available_at: now,
                reachable: true,
            }),
        };
        item.latency = latency;
        item.reachable = !isolation;
        if penalty > Duration::ZERO && until > item.available_at {
            item.available_at = until;
        }
    }

    /// Whether `broker` is out of its penalty period (always `true` when disabled or unknown).
    pub fn is_available(&self, broker: &str) -> bool {
        self.is_available_at(broker, self.clock.now())
    }

    fn is_available_at(&self, broker: &str, now: Instant) -> bool {
        if !self.config.enabled {
            return true;
        }
        let items = self.items.read_unpoisoned();
        items.get(broker).is_none_or(|i| now >= i.available_at)
    }

    /// Whether the last attempt to `broker` did not fail with an isolating error (always
    /// `true` when disabled or unknown).
    pub fn is_reachable(&self, broker: &str) -> bool {
        if !self.config.enabled {
            return true;
        }
        let items = self.items.read_unpoisoned();
        items.get(broker).is_none_or(|i| i.reachable)
    }

    /// The least bad tracked broker, for when every queue's broker is penalised: the reachable
    /// broker whose penalty ends first (ties: lower latency, then name), else any tracked
    /// broker by the same order; `None` if nothing is tracked.
    ///
    /// Java picks at random among reachable brokers (5.x) or among the better half (4.x); a
    /// deterministic "soonest back" choice converges faster and is easier to test.
    pub fn pick_one_at_least(&self) -> Option<String> {
        let items = self.items.read_unpoisoned();
        items
            .iter()
            .min_by(|(an, a), (bn, b)| {
                b.reachable
                    .cmp(&a.reachable)
                    .then(a.available_at.cmp(&b.available_at))
                    .then(a.latency.cmp(&b.latency))
                    .then(an.cmp(bn))
            })
            .map(|(name, _)| name.clone())
    }

    /// Forgets `broker` (e.g. it left every route).
    pub fn remove(&self, broker: &str) {
        self.items.write_unpoisoned().remove(broker);
    }

    /// Keeps only the brokers for which `keep` returns `true`.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.items.write_unpoisoned().retain(|name, _| keep(name));
    }
}

/// A send-queue counter starting at a random position, so that producers started together do
/// not all begin on the same queue (Java's `ThreadLocalIndex` starts at a random value).
pub fn random_start_index() -> AtomicUsize {
    AtomicUsize::new(fastrand::usize(..))
}

/// Picks the next queue for a (non-ordered) send attempt, round robin over `queues`
/// (Java `MQFaultStrategy.selectOneMessageQueue`, 5.x logic).
///
/// `last_broker` is the broker the previous attempt of *this* send used (`None` on the first
/// attempt). Tiers, each scanning at most `queues.len()` positions from the counter:
/// 1. enabled only: a queue whose broker is available and is not `last_broker`;
/// 2. a queue whose broker is reachable (always true when disabled) and not `last_broker`;
/// 3. the next queue, unconditionally.
///
/// Returns `None` only for an empty slice.
///
/// ```
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use rocketmq_rs_client::producer::fault::{select_queue, FaultTolerance};
/// use std::sync::atomic::AtomicUsize;
///
/// let queues = vec![
///     MessageQueue::new("T", "broker-a", 0),
///     MessageQueue::new("T", "broker-a", 1),
///     MessageQueue::new("T", "broker-b", 0),
/// ];
/// let ft = FaultTolerance::default();
/// let counter = AtomicUsize::new(0);
/// // A retry after broker-a failed goes to broker-b.
/// let mq = select_queue(&queues, Some("broker-a"), &ft, &counter).unwrap();
/// assert_eq!(mq.broker_name, "broker-b");
/// ```
pub fn select_queue<'q>(
    queues: &'q [MessageQueue],
    last_broker: Option<&str>,
    fault: &FaultTolerance,
    counter: &AtomicUsize,
) -> Option<&'q MessageQueue> {
    let n = queues.len();
    if n == 0 {
        return None;
    }
    let next = || &queues[counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1) % n];
    let not_last = |mq: &MessageQueue| last_broker != Some(mq.broker_name.as_str());
    if fault.is_enabled() {
        for _ in 0..n {
            let mq = next();
            if not_last(mq) && fault.is_available(&mq.broker_name) {
                return Some(mq);
            }
        }
    }
    if last_broker.is_some() || fault.is_enabled() {
        for _ in 0..n {
            let mq = next();
            if not_last(mq) && fault.is_reachable(&mq.broker_name) {
                return Some(mq);
            }
        }
    }
    Some(next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> FaultTolerance {
        FaultTolerance::new(FaultConfig::default().with_enabled(true))
    }

    /// The penalty runs out by the runtime's clock: a paused tokio clock moved past it frees
    /// the broker without any real waiting.
    #[tokio::test(start_paused = true)]
    async fn penalty_expires_by_the_runtime_clock() {
        let rt = rocketmq_rs_remoting::rt::TokioRuntime::try_current().unwrap();
        let ft = enabled().with_clock(rocketmq_rs_remoting::rt::Runtime::clock(&rt));
        ft.update("b", Duration::from_millis(100), true);
        assert!(!ft.is_available("b"));
        let penalty = ft.config().penalty_for(ft.config().isolation_latency);
        tokio::time::advance(penalty - Duration::from_millis(1)).await;
        assert!(!ft.is_available("b"));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(ft.is_available("b"));
    }

    fn qs(spec: &[(&str, i32)]) -> Vec<MessageQueue> {
        spec.iter()
            .flat_map(|(b, n)| (0..*n).map(move |i| MessageQueue::new("T", *b, i)))
            .collect()
    }

    #[test]
    fn penalty_tables_match_java() {
        let ms = Duration::from_millis;
        let v4 = FaultConfig::java_4x();
        for (lat, pen) in [
            (0, 0),
            (49, 0),
            (50, 0),
            (549, 0),
            (550, 30000),
            (999, 30000),
            (1000, 60000),
            (2000, 120000),
            (3000, 180000),
            (14999, 180000),
            (15000, 600000),
            (u64::MAX / 2, 600000),
        ] {
            assert_eq!(v4.penalty_for(ms(lat)), ms(pen), "4.x latency {lat}");
        }
        assert_eq!(v4.penalty_for(v4.isolation_latency), ms(600000));
        let v5 = FaultConfig::java_5x();
        for (lat, pen) in [
            (549, 0),
            (550, 2000),
            (1800, 5000),
            (3000, 6000),
            (5000, 10000),
            (15000, 30000),
        ] {
            assert_eq!(v5.penalty_for(ms(lat)), ms(pen), "5.x latency {lat}");
        }
        assert_eq!(v5.penalty_for(v5.isolation_latency), ms(10000));
        assert_eq!(
            FaultConfig {
                penalties: vec![],
                ..v5
            }
            .penalty_for(ms(99999)),
            Duration::ZERO
        );
    }

    #[test]
    fn penalties_expire_and_only_extend() {
        let ft = enabled();
        let t0 = Instant::now();
        ft.update_at("a", Duration::from_millis(600), false, t0); // 30 s
        assert!(!ft.is_available_at("a", t0));
        assert!(!ft.is_available_at("a", t0 + Duration::from_millis(29999)));
        assert!(ft.is_available_at("a", t0 + Duration::from_secs(30)));
        // A fast success does not shorten the running penalty.
        ft.update_at(
            "a",
            Duration::from_millis(10),
            false,
            t0 + Duration::from_secs(1),
        );
        assert!(!ft.is_available_at("a", t0 + Duration::from_secs(2)));
        assert!(ft.is_reachable("a"));
        // A longer one extends it.
        ft.update_at(
            "a",
            Duration::from_millis(1000),
            false,
            t0 + Duration::from_secs(1),
        );
        assert!(!ft.is_available_at("a", t0 + Duration::from_secs(60)));
        assert!(ft.is_available_at("a", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn disabled_tracks_nothing() {
        let ft = FaultTolerance::default();
        ft.update("a", Duration::from_secs(20), true);
        assert!(ft.is_available("a"));
        assert!(ft.is_reachable("a"));
        assert_eq!(ft.pick_one_at_least(), None);
    }

    #[test]
    fn pick_one_at_least_prefers_reachable_then_soonest() {
        let ft = enabled();
        let t0 = Instant::now();
        assert_eq!(ft.pick_one_at_least(), None);
        ft.update_at("iso", Duration::from_millis(1), true, t0); // unreachable, 10 min
        assert_eq!(ft.pick_one_at_least().as_deref(), Some("iso"));
        ft.update_at("slow", Duration::from_millis(3000), false, t0); // 180 s
        ft.update_at("slower", Duration::from_millis(15000), false, t0); // 600 s
        assert_eq!(ft.pick_one_at_least().as_deref(), Some("slow"));
        ft.remove("slow");
        assert_eq!(ft.pick_one_at_least().as_deref(), Some("slower"));
        ft.retain(|b| b == "iso");
        assert_eq!(ft.pick_one_at_least().as_deref(), Some("iso"));
    }

    #[test]
    fn default_selection_round_robins_and_avoids_last_broker() {
        let queues = qs(&[("a", 2), ("b", 2)]);
        let ft = FaultTolerance::default();
        let c = AtomicUsize::new(usize::MAX); // wraps to 0 on the first pick
        let picks: Vec<i32> = (0..5)
            .map(|_| {
                let mq = select_queue(&queues, None, &ft, &c).unwrap();
                queues.iter().position(|q| q == mq).unwrap() as i32
            })
            .collect();
        assert_eq!(picks, [0, 1, 2, 3, 0]);
        for _ in 0..8 {
            assert_eq!(
                select_queue(&queues, Some("a"), &ft, &c)
                    .unwrap()
                    .broker_name,
                "b"
            );
        }
        // Only one broker: falls back to it.
        let single = qs(&[("a", 3)]);
        assert_eq!(
            select_queue(&single, Some("a"), &ft, &c)
                .unwrap()
                .broker_name,
            "a"
        );
        assert_eq!(select_queue(&[], None, &ft, &c), None);
    }

    #[test]
    fn enabled_selection_skips_unavailable_then_unreachable() {
        let queues = qs(&[("a", 2), ("b", 2), ("c", 2)]);
        let ft = enabled();
        let c = AtomicUsize::new(0);
        ft.update("a", Duration::from_millis(600), false); // slow: unavailable but reachable
        ft.update("b", Duration::from_millis(1), true); // failed: unavailable and unreachable
        for _ in 0..10 {
            assert_eq!(
                select_queue(&queues, None, &ft, &c).unwrap().broker_name,
                "c"
            );
        }
        // Retry after c failed: nothing available except c; reachable and not c → a.
        for _ in 0..10 {
            assert_eq!(
                select_queue(&queues, Some("c"), &ft, &c)
                    .unwrap()
                    .broker_name,
                "a"
            );
        }
        // Everything penalised and unreachable: still returns some queue.
        ft.update("a", Duration::from_millis(1), true);
        ft.update("c", Duration::from_millis(1), true);
        assert!(select_queue(&queues, Some("c"), &ft, &c).is_some());
    }

    #[test]
    fn shared_across_threads() {
        let ft = std::sync::Arc::new(enabled());
        let queues = std::sync::Arc::new(qs(&[("a", 4), ("b", 4)]));
        let c = std::sync::Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (ft, queues, c) = (ft.clone(), queues.clone(), c.clone());
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        ft.update(
                            if t % 2 == 0 { "a" } else { "b" },
                            Duration::from_millis(i % 60),
                            false,
                        );
                        assert!(select_queue(&queues, None, &ft, &c).is_some());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(ft.is_available("a") && ft.is_available("b"));
    }
}
