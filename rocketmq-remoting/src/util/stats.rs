//! Apache's `StatsItem` sampling windows, shared by the broker's statistics
//! (VIEW_BROKER_STATS_DATA, `mqadmin statsAll`) and the push consumer's `statusTable`
//! (`mqadmin consumerStatus`), so both report the same numbers Apache's servers and clients do.
//!
//! A counter keeps a running sum and an event count. Samples of both are taken every 10 s
//! (7 kept: the last minute), every 10 min (7: the last hour) and every hour (25: the last
//! day); a counter's first sample in a window is preceded by a zero sample one period earlier,
//! as Apache's, so activity shows from the first sample on. A window's `sum` is its newest
//! sample minus its oldest, `tps` that sum per second between the two, `avgpt` the sum per
//! event.
//!
//! Adding takes a shared read lock to find the counter (a write lock the first time a key is
//! seen) and two relaxed atomic adds: concurrent hot paths never wait for each other.
//!
//! ```
//! use rocketmq_rs_remoting::util::stats::{StatsItemSet, SampleDue};
//! let set = StatsItemSet::default();
//! set.add("TopicA", 3, 1);
//! set.sample(10_000, SampleDue::MINUTE);
//! set.add("TopicA", 2, 1);
//! set.sample(20_000, SampleDue::MINUTE);
//! let minute = set.get("TopicA").unwrap().minute();
//! // From the zero sample at 0 ms to 20 s: 5 in 20 s over 2 events.
//! assert_eq!(minute.sum, 5);
//! assert!((minute.tps - 0.25).abs() < 1e-9);
//! assert!((minute.avgpt - 2.5).abs() < 1e-9);
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::protocol::body::{BrokerStatsData, BrokerStatsItem};
use crate::util::MutexExt;

/// Period of the minute window's samples.
pub const MINUTE_PERIOD_MS: i64 = 10_000;
/// Period of the hour window's samples.
pub const HOUR_PERIOD_MS: i64 = 600_000;
/// Period of the day window's samples.
pub const DAY_PERIOD_MS: i64 = 3_600_000;

/// Which windows a call to [`StatsItem::sample`] / [`StatsItemSet::sample`] samples.
///
/// ```
/// use rocketmq_rs_remoting::util::stats::SampleDue;
/// let due = SampleDue { hour: true, ..SampleDue::MINUTE };
/// assert!(due.minute && due.hour && !due.day);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleDue {
    /// The 10 s samples of the last minute.
    pub minute: bool,
    /// The 10 min samples of the last hour.
    pub hour: bool,
    /// The hourly samples of the last day.
    pub day: bool,
}

impl SampleDue {
    /// Only the minute window.
    pub const MINUTE: SampleDue = SampleDue {
        minute: true,
        hour: false,
        day: false,
    };
    /// All three windows (the first sampling, when every schedule starts at once).
    pub const ALL: SampleDue = SampleDue {
        minute: true,
        hour: true,
        day: true,
    };

    /// Whether any window is due.
    pub fn any(self) -> bool {
        self.minute || self.hour || self.day
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    ts: i64,
    value: i64,
    times: i64,
}

#[derive(Default)]
struct Windows {
    minute: VecDeque<Sample>,
    hour: VecDeque<Sample>,
    day: VecDeque<Sample>,
}

/// Adds `s` to window `q` of `keep` samples taken every `period_ms`, after a zero sample one
/// period earlier when it is the window's first.
fn push(q: &mut VecDeque<Sample>, s: Sample, period_ms: i64, keep: usize) {
    if q.is_empty() {
        q.push_back(Sample {
            ts: s.ts - period_ms,
            value: 0,
            times: 0,
        });
    }
    q.push_back(s);
    while q.len() > keep {
        q.pop_front();
    }
}

fn snapshot(q: &VecDeque<Sample>) -> BrokerStatsItem {
    let (Some(first), Some(last)) = (q.front(), q.back()) else {
        return BrokerStatsItem::default();
    };
    let sum = last.value - first.value;
    let span = last.ts - first.ts;
    let times = last.times - first.times;
    BrokerStatsItem {
        sum,
        // Samples are a period apart; the guard keeps a clock that went backwards from
        // dividing by zero (Apache divides: NaN, written as null, read back as 0).
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

/// One counter with its three windows (Java `StatsItem`).
#[derive(Default)]
pub struct StatsItem {
    value: AtomicI64,
    times: AtomicI64,
    windows: Mutex<Windows>,
}

impl std::fmt::Debug for StatsItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsItem")
            .field("value", &self.value())
            .field("times", &self.times.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl StatsItem {
    /// Adds `value` to the running sum and `times` to the event count.
    pub fn add(&self, value: i64, times: i64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        self.times.fetch_add(times, Ordering::Relaxed);
    }

    /// The running sum since the counter was created.
    pub fn value(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Samples the running sum and count at `now_ms` into the windows `due` names.
    pub fn sample(&self, now_ms: i64, due: SampleDue) {
        let s = Sample {
            ts: now_ms,
            value: self.value.load(Ordering::Relaxed),
            times: self.times.load(Ordering::Relaxed),
        };
        let mut w = self.windows.lock_unpoisoned();
        if due.minute {
            push(&mut w.minute, s, MINUTE_PERIOD_MS, 7);
        }
        if due.hour {
            push(&mut w.hour, s, HOUR_PERIOD_MS, 7);
        }
        if due.day {
            push(&mut w.day, s, DAY_PERIOD_MS, 25);
        }
    }

    /// The last minute's window.
    pub fn minute(&self) -> BrokerStatsItem {
        snapshot(&self.windows.lock_unpoisoned().minute)
    }

    /// The last hour's window.
    pub fn hour(&self) -> BrokerStatsItem {
        snapshot(&self.windows.lock_unpoisoned().hour)
    }

    /// The last day's window.
    pub fn day(&self) -> BrokerStatsItem {
        snapshot(&self.windows.lock_unpoisoned().day)
    }

    /// All three windows (the VIEW_BROKER_STATS_DATA body).
    pub fn data(&self) -> BrokerStatsData {
        let w = self.windows.lock_unpoisoned();
        BrokerStatsData {
            stats_minute: snapshot(&w.minute),
            stats_hour: snapshot(&w.hour),
            stats_day: snapshot(&w.day),
        }
    }
}

/// Counters of one statistic by key (Java `StatsItemSet`): topic, `topic@group`, ...
#[derive(Default)]
pub struct StatsItemSet {
    items: RwLock<HashMap<String, Arc<StatsItem>>>,
}

impl std::fmt::Debug for StatsItemSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.items.read().unwrap_or_else(|p| p.into_inner()).len();
        f.debug_struct("StatsItemSet").field("keys", &keys).finish()
    }
}

impl StatsItemSet {
    /// Adds to the counter of `key`, creating it at the first use.
    pub fn add(&self, key: &str, value: i64, times: i64) {
        // Counted under the read lock: a broker adds to two sets per stored message, and
        // cloning the item out would cost two atomic reference-count updates each time.
        if let Some(i) = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            i.add(value, times);
            return;
        }
        self.items
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .add(value, times);
    }

    /// The counter of `key`, if it was ever added to.
    pub fn get(&self, key: &str) -> Option<Arc<StatsItem>> {
        self.items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Samples every counter at `now_ms` into the windows `due` names.
    pub fn sample(&self, now_ms: i64, due: SampleDue) {
        // Sampled outside the map's lock so that adds of new keys never wait for a sampling.
        let items: Vec<Arc<StatsItem>> = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for i in items {
            i.sample(now_ms, due);
        }
    }

    /// Every key with its running sum, sorted by key.
    pub fn totals(&self) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = self
            .items
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, i)| (k.clone(), i.value()))
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_their_sample_counts_and_periods() {
        let item = StatsItem::default();
        for i in 1..=30 {
            item.add(1, 1);
            item.sample(i * MINUTE_PERIOD_MS, SampleDue::ALL);
        }
        // 7 samples of the minute window span 6 periods: 6 events.
        assert_eq!(item.minute().sum, 6);
        assert!((item.minute().tps - 0.1).abs() < 1e-9);
        // 7 of the hour window (sampled here every call): also 6.
        assert_eq!(item.hour().sum, 6);
        // 25 of the day window: 24.
        assert_eq!(item.day().sum, 24);
        assert_eq!(item.value(), 30);
    }

    #[test]
    fn an_empty_window_reads_zero() {
        let item = StatsItem::default();
        item.add(5, 1);
        assert_eq!(item.minute(), BrokerStatsItem::default());
        item.sample(1_000, SampleDue::MINUTE);
        assert_eq!(item.hour(), BrokerStatsItem::default());
        assert_eq!(item.minute().sum, 5);
    }

    #[test]
    fn totals_are_sorted_by_key() {
        let set = StatsItemSet::default();
        set.add("b", 2, 1);
        set.add("a", 1, 1);
        set.add("b", 3, 1);
        assert_eq!(set.totals(), vec![("a".into(), 1), ("b".into(), 5)]);
        assert!(set.get("c").is_none());
    }
}
