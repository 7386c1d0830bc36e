//! Support for the chaos, bad-input and resource tests: a history recorder with checkers
//! ([`history`]), protocol helpers ([`admin`]), a TCP fault proxy ([`proxy`]) and control of
//! the real server processes ([`procs`]). Each test crate includes this module with `#[path]`,
//! and uses part of it.
#![allow(dead_code)]

pub mod admin;
pub mod history;
pub mod procs;
pub mod proxy;

use std::time::Duration;

/// Soak length from `ROCKETMQ_CHAOS_SOAK_SECS` (unset or 0: the short CI form).
pub fn soak() -> Option<Duration> {
    std::env::var("ROCKETMQ_CHAOS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// Scenario length: the soak length, or `short` in CI.
pub fn duration(short: Duration) -> Duration {
    soak().unwrap_or(short)
}
