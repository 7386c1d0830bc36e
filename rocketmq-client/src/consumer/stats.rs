//! A push consumer's pull and consume statistics, the `statusTable` of GET_CONSUMER_RUNNING_INFO
//! (Java `ConsumerStatsManager`; docs/protocol/admin.md §3) that `mqadmin consumerStatus` and
//! dashboards show per topic: pull RT and TPS, consume RT, consume OK / failed TPS and the
//! failed messages of the last hour.
//!
//! Each statistic is a set of counters keyed by topic, each counter a running sum plus an event
//! count, sampled as Java's `StatsItem` samples: every 10 s (7 samples kept: the last minute),
//! every 10 min (7: the last hour) and every hour (25: the last day). A counter's first sample
//! in a window is preceded by a zero sample one period earlier, so activity shows from the
//! first sample on. A window's `sum` is its newest sample minus its oldest, `tps` that sum per
//! second between the two, `avgpt` the sum per event.
//!
//! The hot paths only take a read lock to find the counter (a write lock the first time a topic
//! is seen) and add to two atomics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rocketmq_rs_remoting::protocol::body::ConsumeStatus;
use rocketmq_rs_remoting::util::MutexExt;

/// How often the minute window is sampled.
pub(crate) const SAMPLE_PERIOD_MS: i64 = 10_000;
/// Minute-window ticks per hour-window sample (10 min).
const TICKS_PER_HOUR_SAMPLE: u64 = 60;
/// Minute-window ticks per day-window sample (1 h).
const TICKS_PER_DAY_SAMPLE: u64 = 360;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    ts: i64,
    times: i64,
    value: i64,
}

/// Sum, rate and average of one window (Java `StatsSnapshot`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) sum: i64,
    pub(crate) tps: f64,
    pub(crate) avgpt: f64,
}

#[derive(Default)]
struct Windows {
    minute: VecDeque<Sample>,
    hour: VecDeque<Sample>,
    day: VecDeque<Sample>,
}

#[derive(Default)]
struct Item {
    value: AtomicI64,
    times: AtomicI64,
    windows: Mutex<Windows>,
}

fn push(q: &mut VecDeque<Sample>, s: Sample, period_ms: i64, keep: usize) {
    if q.is_empty() {
        q.push_back(Sample {
            ts: s.ts - period_ms,
            times: 0,
            value: 0,
        });
    }
    q.push_back(s);
    while q.len() > keep {
        q.pop_front();
    }
}

fn snapshot(q: &VecDeque<Sample>) -> Snapshot {
    let (Some(first), Some(last)) = (q.front(), q.back()) else {
        return Snapshot::default();
    };
    let sum = last.value - first.value;
    let span = last.ts - first.ts;
    let times = last.times - first.times;
    Snapshot {
        sum,
        // Two samples are at least one period apart; the guard only keeps a clock that went
        // backwards from dividing by zero.
        tps: if span > 0 {
            sum as f64 * 1000.0 / span as f64
        } else {
            0.0
        },
        avgpt: if times > 0 {
            sum as f64 / times as f64
        } else {
            0.0
        },
    }
}

impl Item {
    fn sample(&self, now_ms: i64, hour: bool, day: bool) {
        let s = Sample {
            ts: now_ms,
            times: self.times.load(Ordering::Relaxed),
            value: self.value.load(Ordering::Relaxed),
        };
        let mut w = self.windows.lock_unpoisoned();
        push(&mut w.minute, s, SAMPLE_PERIOD_MS, 7);
        if hour {
            push(&mut w.hour, s, SAMPLE_PERIOD_MS * 60, 7);
        }
        if day {
            push(&mut w.day, s, SAMPLE_PERIOD_MS * 360, 25);
        }
    }
}

/// Counters of one statistic, keyed by topic (Java `StatsItemSet`).
#[derive(Default)]
pub(crate) struct StatsItemSet {
    items: RwLock<HashMap<String, Arc<Item>>>,
}

impl StatsItemSet {
    pub(crate) fn add(&self, key: &str, value: i64, times: i64) {
        let found = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned();
        let item = match found {
            Some(i) => i,
            None => Arc::clone(
                self.items
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(key.to_owned())
                    .or_default(),
            ),
        };
        item.value.fetch_add(value, Ordering::Relaxed);
        item.times.fetch_add(times, Ordering::Relaxed);
    }

    fn sample(&self, now_ms: i64, hour: bool, day: bool) {
        let items: Vec<Arc<Item>> = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for i in items {
            i.sample(now_ms, hour, day);
        }
    }

    fn window(&self, key: &str, pick: impl Fn(&Windows) -> Snapshot) -> Snapshot {
        let item = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned();
        item.map_or_else(Snapshot::default, |i| pick(&i.windows.lock_unpoisoned()))
    }

    pub(crate) fn minute(&self, key: &str) -> Snapshot {
        self.window(key, |w| snapshot(&w.minute))
    }

    pub(crate) fn hour(&self, key: &str) -> Snapshot {
        self.window(key, |w| snapshot(&w.hour))
    }

    #[cfg(test)]
    pub(crate) fn day(&self, key: &str) -> Snapshot {
        self.window(key, |w| snapshot(&w.day))
    }
}

/// The five statistics of a push consumer (Java `ConsumerStatsManager`, whose keys are
/// `topic@group`; one consumer has one group, so ours are the topic).
#[derive(Default)]
pub(crate) struct ConsumerStats {
    pull_rt: StatsItemSet,
    pull_tps: StatsItemSet,
    consume_rt: StatsItemSet,
    consume_ok: StatsItemSet,
    consume_failed: StatsItemSet,
    /// Minute-window samples taken so far (drives the 10 min and 1 h samples).
    ticks: std::sync::atomic::AtomicU64,
}

impl ConsumerStats {
    /// A pull of `topic` that found messages, `rt_ms` after it was sent (Java counts the round
    /// trip of FOUND responses only).
    pub(crate) fn on_pull_found(&self, topic: &str, rt_ms: u64, msgs: usize) {
        self.pull_rt.add(topic, rt_ms as i64, 1);
        self.pull_tps.add(topic, msgs as i64, 1);
    }

    /// One listener call on messages of `topic` that took `rt_ms`.
    pub(crate) fn on_consume_rt(&self, topic: &str, rt_ms: u64) {
        self.consume_rt.add(topic, rt_ms as i64, 1);
    }

    /// The outcome of one listener call: `ok` messages consumed, `failed` to be retried (Java
    /// adds both, so a call counts as an event of each even with 0).
    pub(crate) fn on_consume_result(&self, topic: &str, ok: usize, failed: usize) {
        self.consume_ok.add(topic, ok as i64, 1);
        self.consume_failed.add(topic, failed as i64, 1);
    }

    /// Only the failed count of an outcome (Java's orderly service on a suspended queue).
    pub(crate) fn on_consume_failed(&self, topic: &str, failed: usize) {
        self.consume_failed.add(topic, failed as i64, 1);
    }

    /// Only the OK count of an outcome (Java's orderly service on a committed batch).
    pub(crate) fn on_consume_ok(&self, topic: &str, ok: usize) {
        self.consume_ok.add(topic, ok as i64, 1);
    }

    /// Takes the samples due at `now_ms`; call every [`SAMPLE_PERIOD_MS`]. The first call also
    /// samples the hour and day windows, as Java's schedules all start at once.
    pub(crate) fn sample(&self, now_ms: i64) {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        let hour = tick.is_multiple_of(TICKS_PER_HOUR_SAMPLE);
        let day = tick.is_multiple_of(TICKS_PER_DAY_SAMPLE);
        for set in [
            &self.pull_rt,
            &self.pull_tps,
            &self.consume_rt,
            &self.consume_ok,
            &self.consume_failed,
        ] {
            set.sample(now_ms, hour, day);
        }
    }

    /// The `statusTable` entry of `topic`: RTs are averages, TPS rates over the last minute;
    /// the consume RT falls back to the last hour when the minute saw no call; failed messages
    /// are the last hour's.
    pub(crate) fn status(&self, topic: &str) -> ConsumeStatus {
        let mut consume_rt = self.consume_rt.minute(topic);
        if consume_rt.sum == 0 {
            consume_rt = self.consume_rt.hour(topic);
        }
        ConsumeStatus {
            pull_rt: self.pull_rt.minute(topic).avgpt,
            pull_tps: self.pull_tps.minute(topic).tps,
            consume_rt: consume_rt.avgpt,
            consume_ok_tps: self.consume_ok.minute(topic).tps,
            consume_failed_tps: self.consume_failed.minute(topic).tps,
            consume_failed_msgs: self.consume_failed.hour(topic).sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn first_sample_counts_from_a_zero_baseline() {
        let s = StatsItemSet::default();
        assert_eq!(s.minute("T"), Snapshot::default(), "unknown key");
        s.add("T", 30, 3);
        s.sample(100_000, true, true);
        let m = s.minute("T");
        assert_eq!(m.sum, 30);
        assert!(
            close(m.tps, 3.0),
            "30 over the 10 s before the first sample"
        );
        assert!(close(m.avgpt, 10.0));
        assert_eq!(s.hour("T").sum, 30);
        assert!(close(s.hour("T").tps, 30.0 / 600.0));
        assert!(close(s.day("T").tps, 30.0 / 3600.0));
    }

    #[test]
    fn minute_window_keeps_seven_samples() {
        let s = StatsItemSet::default();
        let mut now = 0;
        for _ in 0..10 {
            now += SAMPLE_PERIOD_MS;
            s.add("T", 5, 1);
            s.sample(now, false, false);
        }
        // 7 samples: 60 s, 6 periods of 5.
        let m = s.minute("T");
        assert_eq!(m.sum, 30);
        assert!(close(m.tps, 0.5));
        assert!(close(m.avgpt, 5.0));
        // Idle for a minute: the window empties of activity.
        for _ in 0..6 {
            now += SAMPLE_PERIOD_MS;
            s.sample(now, false, false);
        }
        assert_eq!(s.minute("T").sum, 0);
        assert!(close(s.minute("T").tps, 0.0));
    }

    #[test]
    fn consumer_status_follows_java() {
        let c = ConsumerStats::default();
        c.on_pull_found("T", 4, 10);
        c.on_pull_found("T", 6, 10);
        c.on_consume_rt("T", 8);
        c.on_consume_result("T", 10, 0);
        c.on_consume_rt("T", 2);
        c.on_consume_result("T", 0, 10);
        c.on_consume_failed("T", 2);
        c.sample(10_000);
        let st = c.status("T");
        assert!(close(st.pull_rt, 5.0));
        assert!(close(st.pull_tps, 2.0));
        assert!(close(st.consume_rt, 5.0));
        assert!(close(st.consume_ok_tps, 1.0));
        assert!(close(st.consume_failed_tps, 1.2));
        assert_eq!(
            st.consume_failed_msgs, 12,
            "the first tick samples the hour too"
        );
        // A minute later without calls: the consume RT comes from the hour window.
        for i in 2..=8 {
            c.sample(i * 10_000);
        }
        let st = c.status("T");
        assert!(close(st.pull_tps, 0.0));
        assert!(close(st.consume_rt, 5.0));
        assert_eq!(st.consume_failed_msgs, 12);
        assert_eq!(c.status("other"), ConsumeStatus::default());
    }

    #[test]
    fn hour_and_day_windows_tick_every_10_min_and_hour() {
        let c = ConsumerStats::default();
        c.sample(0);
        c.on_consume_failed("T", 7);
        // 59 ticks later nothing new in the hour window; the 60th (10 min) samples it.
        for i in 1..60 {
            c.sample(i * SAMPLE_PERIOD_MS);
        }
        assert_eq!(c.consume_failed.hour("T"), Snapshot::default());
        c.sample(60 * SAMPLE_PERIOD_MS);
        assert_eq!(c.consume_failed.hour("T").sum, 7);
        assert_eq!(c.consume_failed.day("T"), Snapshot::default());
        for i in 61..=360 {
            c.sample(i * SAMPLE_PERIOD_MS);
        }
        assert_eq!(c.consume_failed.day("T").sum, 7);
    }
}
