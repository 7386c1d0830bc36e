//! Broker statistics ([`BrokerStats`]): the counters `mqadmin statsAll`, `brokerStatus`,
//! `clusterList`, `topicStatus` and `consumerProgress` read (docs/protocol/admin.md §8, §9).
//!
//! * Keyed counters, as Apache's `BrokerStatsManager` keeps them: `TOPIC_PUT_NUMS` /
//!   `TOPIC_PUT_SIZE` by topic, `GROUP_GET_NUMS` / `GROUP_GET_SIZE` by `topic@group`,
//!   `SNDBCK_PUT_NUMS` by `topic@group`. Each keeps a running sum and an event count; samples
//!   of both are taken every 10 s (7 kept: the last minute), every 10 min (7: the last hour)
//!   and every hour (25: the last day), a counter's first one preceded by a zero sample one
//!   period earlier (as Apache's `StatsItem`). A window's `sum` is the newest sample minus the oldest,
//!   `tps` that sum per second between them, `avgpt` the sum per event (VIEW_BROKER_STATS_DATA).
//! * Broker totals for GET_BROKER_RUNTIME_INFO: puts, gets, pull hits and misses, put latency
//!   buckets, TPS over the last 10 s / 1 min / 10 min (sampled every second) and the totals at
//!   the last two midnights (UTC) for the "today"/"yesterday" counts.
//!
//! The hot paths (send, pull) only take a shared read lock to find a counter (a write lock the
//! first time a key is seen) and add to atomics: concurrent sends and pulls never wait for
//! each other here. Sampling runs in one background task ([`BrokerStats::sample`] every
//! second).
//!
//! ```
//! use rocketmq_rs_mini_broker::stats::{BrokerStats, TOPIC_PUT_NUMS};
//! let s = BrokerStats::new(0);
//! s.on_put("T", 1, 100, std::time::Duration::from_millis(2));
//! s.sample(10_000);
//! s.on_put("T", 2, 200, std::time::Duration::from_millis(2));
//! s.sample(20_000);
//! let w = s.stats_data(TOPIC_PUT_NUMS, "T").unwrap();
//! // From the zero sample before the first one (at 0 ms) to 20 s: 3 messages.
//! assert_eq!(w.stats_minute.sum, 3);
//! assert!((w.stats_minute.tps - 0.15).abs() < 1e-9);
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rocketmq_rs_remoting::protocol::body::BrokerStatsData;
use rocketmq_rs_remoting::util::stats::{SampleDue, StatsItemSet};
use rocketmq_rs_remoting::util::MutexExt;

/// Messages stored, by topic.
pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
/// Bytes stored, by topic.
pub const TOPIC_PUT_SIZE: &str = "TOPIC_PUT_SIZE";
/// Messages pulled, by `topic@group`.
pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";
/// Bytes pulled, by `topic@group`.
pub const GROUP_GET_SIZE: &str = "GROUP_GET_SIZE";
/// Messages sent back by consumers, by `originTopic@group`.
pub const SNDBCK_PUT_NUMS: &str = "SNDBCK_PUT_NUMS";

const FAMILIES: [&str; 5] = [
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    SNDBCK_PUT_NUMS,
];

/// Upper bounds (ms, exclusive) of the put-latency buckets, Apache's
/// `putMessageDistributeTime` labels; the last bucket is open.
const LATENCY_BOUNDS_MS: [u64; 12] = [
    1, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10000,
];
const LATENCY_LABELS: [&str; 13] = [
    "<=0ms",
    "0~10ms",
    "10~50ms",
    "50~100ms",
    "100~200ms",
    "200~500ms",
    "500ms~1s",
    "1~2s",
    "2~3s",
    "3~4s",
    "4~5s",
    "5~10s",
    "10s~",
];

type Family = StatsItemSet;

/// Broker totals at one second.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    ts: i64,
    put: u64,
    get_found: u64,
    get_miss: u64,
    get_transferred: u64,
}

impl Totals {
    fn get_total(&self) -> u64 {
        self.get_found + self.get_miss
    }
}

#[derive(Default)]
struct Daily {
    /// UTC day (days since the epoch) of the last sample.
    day: i64,
    put_today_morning: u64,
    put_yesterday_morning: u64,
    get_today_morning: u64,
    get_yesterday_morning: u64,
}

#[derive(Default)]
struct Ticks {
    ten_s: i64,
    ten_min: i64,
    hour: i64,
}

/// The broker's statistics: see the module docs.
pub struct BrokerStats {
    families: [Family; 5],
    boot_ms: i64,
    put_msgs: AtomicU64,
    put_bytes: AtomicU64,
    put_times: AtomicU64,
    put_failed: AtomicU64,
    put_time_max_ms: AtomicU64,
    put_latency: [AtomicU64; 13],
    get_found: AtomicU64,
    get_miss: AtomicU64,
    get_transferred: AtomicU64,
    /// One sample per second, 601 kept (10 minutes).
    seconds: Mutex<VecDeque<Totals>>,
    daily: Mutex<Daily>,
    ticks: Mutex<Ticks>,
}

impl std::fmt::Debug for BrokerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerStats")
            .field("boot_ms", &self.boot_ms)
            .finish_non_exhaustive()
    }
}

const DAY_MS: i64 = 86_400_000;

/// Apache's `MixAll.humanReadableByteCount(bytes, false)`: `512 B`, `1.5 KiB`, `98.3 GiB`.
///
/// ```
/// assert_eq!(rocketmq_rs_mini_broker::stats::human_bytes(512), "512 B");
/// assert_eq!(rocketmq_rs_mini_broker::stats::human_bytes(1536), "1.5 KiB");
/// ```
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let unit = ["K", "M", "G", "T", "P", "E"][(exp as usize - 1).min(5)];
    format!("{:.1} {unit}iB", bytes as f64 / 1024f64.powi(exp))
}

impl BrokerStats {
    /// Statistics of a broker started at `boot_ms` (epoch ms).
    pub fn new(boot_ms: i64) -> Self {
        BrokerStats {
            families: Default::default(),
            boot_ms,
            put_msgs: AtomicU64::new(0),
            put_bytes: AtomicU64::new(0),
            put_times: AtomicU64::new(0),
            put_failed: AtomicU64::new(0),
            put_time_max_ms: AtomicU64::new(0),
            put_latency: Default::default(),
            get_found: AtomicU64::new(0),
            get_miss: AtomicU64::new(0),
            get_transferred: AtomicU64::new(0),
            seconds: Mutex::new(VecDeque::with_capacity(602)),
            daily: Mutex::new(Daily {
                day: boot_ms.div_euclid(DAY_MS),
                ..Default::default()
            }),
            ticks: Mutex::new(Ticks {
                ten_s: boot_ms.div_euclid(10_000),
                ten_min: boot_ms.div_euclid(600_000),
                hour: boot_ms.div_euclid(3_600_000),
            }),
        }
    }

    /// Broker start time, epoch ms.
    pub fn boot_ms(&self) -> i64 {
        self.boot_ms
    }

    fn family(&self, name: &str) -> Option<&Family> {
        FAMILIES
            .iter()
            .position(|f| *f == name)
            .map(|i| &self.families[i])
    }

    fn add(&self, name: &'static str, key: &str, value: i64, times: i64) {
        if let Some(fam) = self.family(name) {
            fam.add(key, value, times);
        }
    }

    /// A successful put of `msgs` messages (`bytes` of bodies and properties) into `topic`,
    /// which took `took`.
    pub fn on_put(&self, topic: &str, msgs: u64, bytes: u64, took: Duration) {
        self.add(TOPIC_PUT_NUMS, topic, msgs as i64, 1);
        self.add(TOPIC_PUT_SIZE, topic, bytes as i64, 1);
        self.put_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.put_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.put_times.fetch_add(1, Ordering::Relaxed);
        let ms = took.as_millis() as u64;
        self.put_time_max_ms.fetch_max(ms, Ordering::Relaxed);
        let bucket = if took.is_zero() {
            0
        } else {
            LATENCY_BOUNDS_MS
                .iter()
                .position(|b| ms < *b)
                .map_or(LATENCY_BOUNDS_MS.len(), |i| i.max(1))
        };
        self.put_latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// A put the store refused.
    pub fn on_put_failed(&self) {
        self.put_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A pull of `group` on `topic` that returned `msgs` messages of `bytes` bytes in total.
    pub fn on_get_found(&self, group: &str, topic: &str, msgs: u64, bytes: u64) {
        let key = format!("{topic}@{group}");
        self.add(GROUP_GET_NUMS, &key, msgs as i64, 1);
        self.add(GROUP_GET_SIZE, &key, bytes as i64, 1);
        self.get_found.fetch_add(1, Ordering::Relaxed);
        self.get_transferred.fetch_add(msgs, Ordering::Relaxed);
    }

    /// A pull that found nothing to return.
    pub fn on_get_miss(&self) {
        self.get_miss.fetch_add(1, Ordering::Relaxed);
    }

    /// A consumer sent a message of `origin_topic` back for `group`.
    pub fn on_send_back(&self, group: &str, origin_topic: &str) {
        self.add(SNDBCK_PUT_NUMS, &format!("{origin_topic}@{group}"), 1, 1);
    }

    /// VIEW_BROKER_STATS_DATA: the windows of counter `name` / `key`; `None` when it was never
    /// counted.
    pub fn stats_data(&self, name: &str, key: &str) -> Option<BrokerStatsData> {
        Some(self.family(name)?.get(key)?.data())
    }

    /// Every key of counter `name` with its running sum since the broker started (the
    /// Prometheus counters of [`crate::metrics`]); empty for an unknown name.
    pub fn key_totals(&self, name: &str) -> Vec<(String, i64)> {
        self.family(name)
            .map_or_else(Vec::new, StatsItemSet::totals)
    }

    /// Events per second of `name` / `key` over the last minute (0 when unknown): a topic's
    /// put TPS, a group's consume TPS.
    pub fn minute_tps(&self, name: &str, key: &str) -> f64 {
        self.stats_data(name, key)
            .map_or(0.0, |d| d.stats_minute.tps)
    }

    fn totals(&self, ts: i64) -> Totals {
        Totals {
            ts,
            put: self.put_msgs.load(Ordering::Relaxed),
            get_found: self.get_found.load(Ordering::Relaxed),
            get_miss: self.get_miss.load(Ordering::Relaxed),
            get_transferred: self.get_transferred.load(Ordering::Relaxed),
        }
    }

    /// Takes the samples due at `now_ms`: broker totals every call (call it once a second),
    /// keyed counters on each 10 s / 10 min / hour boundary crossed, the midnight totals on a
    /// UTC day change.
    pub fn sample(&self, now_ms: i64) {
        let now = self.totals(now_ms);
        {
            let mut q = self.seconds.lock_unpoisoned();
            q.push_back(now);
            while q.len() > 601 {
                q.pop_front();
            }
        }
        {
            let mut d = self.daily.lock_unpoisoned();
            let day = now_ms.div_euclid(DAY_MS);
            if day > d.day {
                d.day = day;
                d.put_yesterday_morning = d.put_today_morning;
                d.get_yesterday_morning = d.get_today_morning;
                d.put_today_morning = now.put;
                d.get_today_morning = now.get_transferred;
            }
        }
        let (minute, hour, day) = {
            let mut t = self.ticks.lock_unpoisoned();
            let (a, b, c) = (
                now_ms.div_euclid(10_000),
                now_ms.div_euclid(600_000),
                now_ms.div_euclid(3_600_000),
            );
            let due = (a > t.ten_s, b > t.ten_min, c > t.hour);
            (t.ten_s, t.ten_min, t.hour) = (a.max(t.ten_s), b.max(t.ten_min), c.max(t.hour));
            due
        };
        if !(minute || hour || day) {
            return;
        }
        let due = SampleDue { minute, hour, day };
        for fam in &self.families {
            fam.sample(now_ms, due);
        }
    }

    /// Rates over the last 10 s, 60 s and 600 s as Apache writes them (`"a b c"`, each with
    /// two decimals), from `f` of the per-second totals. Windows not yet covered use the
    /// oldest sample there is.
    fn tps(&self, f: impl Fn(&Totals) -> u64) -> String {
        let q = self.seconds.lock_unpoisoned();
        let Some(last) = q.back() else {
            return "0.00 0.00 0.00".into();
        };
        let rate = |secs: usize| {
            let idx = q.len().saturating_sub(secs + 1);
            let first = &q[idx];
            let span = last.ts - first.ts;
            if span <= 0 {
                0.0
            } else {
                f(last).saturating_sub(f(first)) as f64 * 1000.0 / span as f64
            }
        };
        format!("{:.2} {:.2} {:.2}", rate(10), rate(60), rate(600))
    }

    /// The GET_BROKER_RUNTIME_INFO entries this module knows (totals, TPS, put latency,
    /// today/yesterday counts, boot time and uptime), as Apache names and formats them.
    pub fn runtime_entries(&self, now_ms: i64) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::with_capacity(32);
        let mut put = |k: &str, val: String| v.push((k.to_string(), val));
        put("bootTimestamp", self.boot_ms.to_string());
        let up = (now_ms - self.boot_ms).max(0) / 1000;
        put(
            "runtime",
            format!(
                "[ {} days, {} hours, {} minutes, {} seconds ]",
                up / 86_400,
                up % 86_400 / 3600,
                up % 3600 / 60,
                up % 60
            ),
        );
        let times = self.put_times.load(Ordering::Relaxed);
        let bytes = self.put_bytes.load(Ordering::Relaxed);
        put("putMessageTimesTotal", times.max(1).to_string());
        put("putMessageSizeTotal", bytes.to_string());
        put(
            "putMessageFailedTimes",
            self.put_failed.load(Ordering::Relaxed).to_string(),
        );
        put(
            "putMessageAverageSize",
            format!("{:?}", bytes as f64 / times.max(1) as f64),
        );
        put(
            "putMessageEntireTimeMax",
            self.put_time_max_ms.load(Ordering::Relaxed).to_string(),
        );
        let buckets: Vec<u64> = self
            .put_latency
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let mut dist = String::new();
        for (label, n) in LATENCY_LABELS.iter().zip(&buckets) {
            dist.push_str(&format!("[{label}]:{n} "));
        }
        put("putMessageDistributeTime", dist);
        put("putLatency99", format!("{:.2}", percentile(&buckets, 0.99)));
        put(
            "putLatency999",
            format!("{:.2}", percentile(&buckets, 0.999)),
        );
        put("putTps", self.tps(|t| t.put));
        put("getFoundTps", self.tps(|t| t.get_found));
        put("getMissTps", self.tps(|t| t.get_miss));
        put("getTotalTps", self.tps(Totals::get_total));
        let transferred = self.tps(|t| t.get_transferred);
        // 5.x spelling, and 4.9's for 4.9 tools and dashboards that read only that one.
        put("getTransferredTps", transferred.clone());
        put("getTransferedTps", transferred);
        let d = self.daily.lock_unpoisoned();
        put(
            "msgPutTotalYesterdayMorning",
            d.put_yesterday_morning.to_string(),
        );
        put("msgPutTotalTodayMorning", d.put_today_morning.to_string());
        put(
            "msgPutTotalTodayNow",
            self.put_msgs.load(Ordering::Relaxed).to_string(),
        );
        put(
            "msgGetTotalYesterdayMorning",
            d.get_yesterday_morning.to_string(),
        );
        put("msgGetTotalTodayMorning", d.get_today_morning.to_string());
        put(
            "msgGetTotalTodayNow",
            self.get_transferred.load(Ordering::Relaxed).to_string(),
        );
        v
    }
}

/// Upper bound (ms) of the latency bucket holding quantile `q`; 0 without puts.
fn percentile(buckets: &[u64], q: f64) -> f64 {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let want = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= want {
            // Bucket i (1..=11) holds latencies below LATENCY_BOUNDS_MS[i]; 0 is exactly 0,
            // the last one is open (reported as its lower bound).
            return LATENCY_BOUNDS_MS.get(i).map_or(
                10_000.0,
                |b| {
                    if i == 0 {
                        0.0
                    } else {
                        *b as f64
                    }
                },
            );
        }
    }
    10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn windows_follow_apache_maths() {
        let s = BrokerStats::new(0);
        assert!(s.stats_data(TOPIC_PUT_NUMS, "T").is_none());
        s.on_put("T", 4, 400, Duration::from_millis(3));
        // The first sample counts from a zero sample one period earlier (Apache's StatsItem).
        s.sample(10_000);
        let d = s.stats_data(TOPIC_PUT_NUMS, "T").unwrap();
        assert_eq!(d.stats_minute.sum, 4);
        assert!((d.stats_minute.tps - 0.4).abs() < 1e-9);
        assert!((d.stats_minute.avgpt - 4.0).abs() < 1e-9);
        for i in 2..=9 {
            s.on_put("T", 1, 100, Duration::ZERO);
            s.sample(i * 10_000);
        }
        let d = s.stats_data(TOPIC_PUT_NUMS, "T").unwrap();
        // 7 samples kept: 60 s, 6 puts of one message.
        assert_eq!(d.stats_minute.sum, 6);
        assert!((d.stats_minute.tps - 0.1).abs() < 1e-9);
        assert!((d.stats_minute.avgpt - 1.0).abs() < 1e-9);
        let size = s.stats_data(TOPIC_PUT_SIZE, "T").unwrap();
        assert_eq!(size.stats_minute.sum, 600);
        // No 10-minute boundary crossed yet: the hour window is empty.
        assert_eq!(d.stats_hour.sum, 0);
        s.sample(600_000);
        let d = s.stats_data(TOPIC_PUT_NUMS, "T").unwrap();
        assert_eq!(d.stats_hour.sum, 12, "first 10-minute sample, from zero");
        s.on_put("T", 5, 1, Duration::ZERO);
        s.sample(1_200_000);
        let d = s.stats_data(TOPIC_PUT_NUMS, "T").unwrap();
        assert_eq!(d.stats_hour.sum, 17);
        assert!((d.stats_hour.tps - 17.0 / 1_200.0).abs() < 1e-9);
        assert!(s.stats_data("NOPE", "T").is_none());
    }

    #[test]
    fn group_gets_and_runtime_entries() {
        let s = BrokerStats::new(0);
        s.on_get_found("g", "T", 3, 30);
        s.on_get_miss();
        s.on_put("T", 2, 20, Duration::from_millis(12));
        for t in 1..=11 {
            s.sample(t * 1000);
        }
        s.on_get_found("g", "T", 10, 100);
        for t in 12..=21 {
            s.sample(t * 1000);
        }
        assert_eq!(
            s.stats_data(GROUP_GET_NUMS, "T@g")
                .unwrap()
                .stats_minute
                .sum,
            13,
            "both gets, counted from the zero sample at 0 s"
        );
        let e: HashMap<String, String> = s.runtime_entries(90_061_000).into_iter().collect();
        assert_eq!(e["runtime"], "[ 1 days, 1 hours, 1 minutes, 1 seconds ]");
        assert_eq!(e["msgPutTotalTodayNow"], "2");
        assert_eq!(e["msgGetTotalTodayNow"], "13");
        assert_eq!(e["putMessageEntireTimeMax"], "12");
        assert_eq!(e["putMessageAverageSize"], "20.0");
        assert!(e["putMessageDistributeTime"].starts_with("[<=0ms]:0 [0~10ms]:0 [10~50ms]:1 "));
        assert_eq!(e["putLatency99"], "50.00");
        // Last 10 s: 10 messages transferred in 10 s.
        assert!(e["getTransferredTps"].starts_with("1.00 "), "{e:?}");
        assert_eq!(e["getTransferredTps"], e["getTransferedTps"]);
        for k in ["putTps", "getTotalTps", "getFoundTps", "getMissTps"] {
            assert!(
                e[k].split(' ').all(|t| t.parse::<f64>().is_ok()) && e[k].split(' ').count() == 3,
                "{k}: {}",
                e[k]
            );
        }
        // A day later the morning counts move.
        s.sample(DAY_MS + 1);
        let e: HashMap<String, String> = s.runtime_entries(DAY_MS + 1).into_iter().collect();
        assert_eq!(e["msgPutTotalTodayMorning"], "2");
        assert_eq!(e["msgPutTotalYesterdayMorning"], "0");
        assert_eq!(e["msgGetTotalTodayMorning"], "13");
    }

    #[test]
    fn human_readable_bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1024 * 1024 * 3 / 2), "1.5 MiB");
    }
}
