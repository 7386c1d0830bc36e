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

use std::sync::atomic::Ordering;

use rocketmq_rs_remoting::protocol::body::{BrokerStatsItem, ConsumeStatus};
use rocketmq_rs_remoting::util::stats::{SampleDue, StatsItemSet, MINUTE_PERIOD_MS};

/// How often the minute window is sampled.
pub(crate) const SAMPLE_PERIOD_MS: i64 = MINUTE_PERIOD_MS;
/// Minute-window ticks per hour-window sample (10 min).
const TICKS_PER_HOUR_SAMPLE: u64 = 60;
/// Minute-window ticks per day-window sample (1 h).
const TICKS_PER_DAY_SAMPLE: u64 = 360;

/// Sum, rate and average of one window (Java `StatsSnapshot`).
type Snapshot = BrokerStatsItem;

fn minute(set: &StatsItemSet, key: &str) -> Snapshot {
    set.get(key).map_or_else(Snapshot::default, |i| i.minute())
}

fn hour(set: &StatsItemSet, key: &str) -> Snapshot {
    set.get(key).map_or_else(Snapshot::default, |i| i.hour())
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
            set.sample(
                now_ms,
                SampleDue {
                    minute: true,
                    hour,
                    day,
                },
            );
        }
    }

    /// The `statusTable` entry of `topic`: RTs are averages, TPS rates over the last minute;
    /// the consume RT falls back to the last hour when the minute saw no call; failed messages
    /// are the last hour's.
    pub(crate) fn status(&self, topic: &str) -> ConsumeStatus {
        let mut consume_rt = minute(&self.consume_rt, topic);
        if consume_rt.sum == 0 {
            consume_rt = hour(&self.consume_rt, topic);
        }
        ConsumeStatus {
            pull_rt: minute(&self.pull_rt, topic).avgpt,
            pull_tps: minute(&self.pull_tps, topic).tps,
            consume_rt: consume_rt.avgpt,
            consume_ok_tps: minute(&self.consume_ok, topic).tps,
            consume_failed_tps: minute(&self.consume_failed, topic).tps,
            consume_failed_msgs: hour(&self.consume_failed, topic).sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(set: &StatsItemSet, key: &str) -> Snapshot {
        set.get(key).map_or_else(Snapshot::default, |i| i.day())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn first_sample_counts_from_a_zero_baseline() {
        let s = StatsItemSet::default();
        assert_eq!(minute(&s, "T"), Snapshot::default(), "unknown key");
        s.add("T", 30, 3);
        s.sample(100_000, SampleDue::ALL);
        let m = minute(&s, "T");
        assert_eq!(m.sum, 30);
        assert!(
            close(m.tps, 3.0),
            "30 over the 10 s before the first sample"
        );
        assert!(close(m.avgpt, 10.0));
        assert_eq!(hour(&s, "T").sum, 30);
        assert!(close(hour(&s, "T").tps, 30.0 / 600.0));
        assert!(close(day(&s, "T").tps, 30.0 / 3600.0));
    }

    #[test]
    fn minute_window_keeps_seven_samples() {
        let s = StatsItemSet::default();
        let mut now = 0;
        for _ in 0..10 {
            now += SAMPLE_PERIOD_MS;
            s.add("T", 5, 1);
            s.sample(now, SampleDue::MINUTE);
        }
        // 7 samples: 60 s, 6 periods of 5.
        let m = minute(&s, "T");
        assert_eq!(m.sum, 30);
        assert!(close(m.tps, 0.5));
        assert!(close(m.avgpt, 5.0));
        // Idle for a minute: the window empties of activity.
        for _ in 0..6 {
            now += SAMPLE_PERIOD_MS;
            s.sample(now, SampleDue::MINUTE);
        }
        assert_eq!(minute(&s, "T").sum, 0);
        assert!(close(minute(&s, "T").tps, 0.0));
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
        assert_eq!(hour(&c.consume_failed, "T"), Snapshot::default());
        c.sample(60 * SAMPLE_PERIOD_MS);
        assert_eq!(hour(&c.consume_failed, "T").sum, 7);
        assert_eq!(day(&c.consume_failed, "T"), Snapshot::default());
        for i in 61..=360 {
            c.sample(i * SAMPLE_PERIOD_MS);
        }
        assert_eq!(day(&c.consume_failed, "T").sum, 7);
    }
}
