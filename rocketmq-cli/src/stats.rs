//! Benchmark statistics: a bounded-memory latency histogram with percentiles, shared
//! counters, and the live progress line.

use rocketmq_rs_remoting::rt::{Clock, Stopwatch};
use rocketmq_rs_remoting::util::MutexExt;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Sub-buckets per power of two: values are kept with a relative error below 1/64 (~1.6 %).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// A latency histogram in microseconds, log-linear buckets (HdrHistogram-style): fixed memory
/// (< 4 000 buckets) whatever the number of samples, values up to `u64::MAX` µs.
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_cli::stats::Histogram;
///
/// let mut h = Histogram::new();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 100);
/// let p50 = h.percentile(50.0).as_secs_f64() * 1000.0;
/// assert!((49.0..=51.0).contains(&p50), "{p50}");
/// assert_eq!(h.max(), Duration::from_millis(100));
/// ```
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u128,
    max_us: u64,
    min_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("max_us", &self.max_us)
            .finish()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() - SUB_BITS + 1; // >= 1
    let sub = v >> exp; // in SUB/2..SUB
    (exp as u64 * (SUB / 2) + sub) as usize
}

/// The highest value that falls into bucket `b` (percentiles report upper bounds, so they
/// never understate a latency).
fn bucket_high(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = (b - SUB / 2) / (SUB / 2);
    let sub = b - exp * (SUB / 2);
    let high = (u128::from(sub) + 1) << exp;
    u64::try_from(high - 1).unwrap_or(u64::MAX)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; bucket_of(u64::MAX) + 1],
            total: 0,
            sum_us: 0,
            max_us: 0,
            min_us: u64::MAX,
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
        self.min_us = self.min_us.min(us);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.max_us = self.max_us.max(other.max_us);
        self.min_us = self.min_us.min(other.min_us);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest sample (exact); zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// The mean; zero when empty.
    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros((self.sum_us / u128::from(self.total)) as u64)
    }

    /// The `q`-th percentile (0–100): the smallest bucket bound with at least `q` % of the
    /// samples at or below it, capped at the exact maximum. Zero when empty.
    pub fn percentile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let q = q.clamp(0.0, 100.0);
        let rank = ((q / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(bucket_high(b).min(self.max_us).max(self.min_us));
            }
        }
        self.max()
    }

    /// The summary printed at the end of a benchmark.
    pub fn summary(&self) -> LatencySummary {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        LatencySummary {
            count: self.total,
            mean_ms: ms(self.mean()),
            p50_ms: ms(self.percentile(50.0)),
            p90_ms: ms(self.percentile(90.0)),
            p99_ms: ms(self.percentile(99.0)),
            p999_ms: ms(self.percentile(99.9)),
            max_ms: ms(self.max()),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// Counters and histogram shared by the benchmark workers.
#[derive(Debug)]
pub struct Stats {
    started: Stopwatch,
    ok: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    hist: Mutex<Histogram>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Starts the clock (the OS clock).
    pub fn new() -> Self {
        Self::with_clock(Clock::system())
    }

    /// Starts measuring by `clock` (the runtime's).
    pub fn with_clock(clock: Clock) -> Self {
        Stats {
            started: clock.stopwatch(),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            hist: Mutex::new(Histogram::new()),
        }
    }

    /// Records a success of `bytes` payload bytes that took `latency`.
    pub fn ok(&self, latency: Duration, bytes: usize) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.hist.lock_unpoisoned().record(latency);
    }

    /// Merges a worker-local histogram (cheaper than locking per sample).
    pub fn merge(&self, local: &Histogram, ok: u64, bytes: u64) {
        self.ok.fetch_add(ok, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.hist.lock_unpoisoned().merge(local);
    }

    /// Counts successes without latency (oneway sends, consumed messages).
    pub fn ok_count(&self, n: u64, bytes: u64) {
        self.ok.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records a failure.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Successes so far.
    pub fn ok_total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Failures so far.
    pub fn failed_total(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Time since [`Stats::new`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A copy of the histogram.
    pub fn histogram(&self) -> Histogram {
        self.hist.lock_unpoisoned().clone()
    }

    /// The final report.
    pub fn report(&self, what: &str) -> BenchReport {
        let elapsed = self.elapsed();
        let ok = self.ok_total();
        let secs = elapsed.as_secs_f64().max(1e-9);
        BenchReport {
            what: what.to_string(),
            elapsed_s: elapsed.as_secs_f64(),
            ok,
            failed: self.failed_total(),
            tps: ok as f64 / secs,
            mb_per_s: self.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
            latency: self.histogram().summary(),
        }
    }
}

/// The end-of-benchmark summary (printed as text, or as JSON with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// `produce` or `consume`.
    pub what: String,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub failed: u64,
    /// Successes per second.
    pub tps: f64,
    /// Payload megabytes per second.
    pub mb_per_s: f64,
    /// Latencies (empty for oneway sends and consumption).
    pub latency: LatencySummary,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} ok, {} failed in {:.2}s -> {:.0} msg/s, {:.2} MB/s",
            self.what, self.ok, self.failed, self.elapsed_s, self.tps, self.mb_per_s
        )?;
        let l = &self.latency;
        if l.count > 0 {
            write!(
                f,
                "latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
                l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            )?;
        }
        Ok(())
    }
}

/// Writes the live progress line to stderr: rewritten in place (`\r`) on a terminal, one line
/// per tick otherwise (so logs of CI runs stay readable).
#[derive(Debug)]
pub struct Progress {
    tty: bool,
    last_ok: u64,
    last_at: Instant,
    drawn: bool,
    clock: Clock,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// A progress line on stderr, timed by the OS clock.
    pub fn new() -> Self {
        Self::with_clock(Clock::system())
    }

    /// A progress line on stderr, timed by `clock` (the runtime's).
    pub fn with_clock(clock: Clock) -> Self {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            last_ok: 0,
            last_at: clock.now(),
            drawn: false,
            clock,
        }
    }

    /// Draws the line for the current state of `stats`.
    pub fn tick(&mut self, label: &str, stats: &Stats) {
        let now = self.clock.now();
        let ok = stats.ok_total();
        let dt = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let rate = (ok - self.last_ok.min(ok)) as f64 / dt;
        self.last_ok = ok;
        self.last_at = now;
        let line = format!(
            "{label} {:>6.1}s  ok={ok}  failed={}  {rate:.0}/s",
            stats.elapsed().as_secs_f64(),
            stats.failed_total()
        );
        self.draw(&line);
    }

    /// Draws an arbitrary line.
    pub fn draw(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the line (on a terminal) so the next output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.tty && self.drawn {
            let _ = writeln!(std::io::stderr());
        }
        self.drawn = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut prev = 0;
        for v in (0..10_000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= prev || v < 10_000, "bucket order at {v}");
            prev = b;
            assert!(bucket_high(b) >= v, "upper bound below value at {v}");
            // Relative error under 1/32.
            let hi = bucket_high(b) as f64;
            assert!(
                hi - v as f64 <= (v as f64 / 32.0).max(1.0),
                "loose at {v}: {hi}"
            );
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(99.0), Duration::ZERO);
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let p = |q| h.percentile(q).as_micros() as f64;
        assert!((4900.0..=5100.0).contains(&p(50.0)), "{}", p(50.0));
        assert!((9800.0..=10_000.0).contains(&p(99.0)), "{}", p(99.0));
        assert!((9900.0..=10_000.0).contains(&p(99.9)), "{}", p(99.9));
        assert_eq!(h.max(), Duration::from_micros(10_000));
        assert_eq!(h.percentile(100.0), Duration::from_micros(10_000));
        assert_eq!(h.percentile(0.0), Duration::from_micros(1));
        assert_eq!(h.mean(), Duration::from_micros(5000));
    }

    #[test]
    fn merge_and_report() {
        let stats = Stats::new();
        let mut a = Histogram::new();
        a.record(Duration::from_millis(2));
        stats.merge(&a, 1, 100);
        stats.ok(Duration::from_millis(4), 100);
        stats.failed();
        let r = stats.report("produce");
        assert_eq!((r.ok, r.failed, r.latency.count), (2, 1, 2));
        assert!(r.latency.max_ms >= 3.9 && r.latency.max_ms <= 4.01);
        let text = r.to_string();
        assert!(text.contains("2 ok, 1 failed"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["latency"]["count"], 2);
    }
}
