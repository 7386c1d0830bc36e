//! Test logging.

use std::sync::Once;

/// Installs a `tracing` subscriber for tests, once per process; later calls do nothing.
///
/// The filter comes from `RUST_LOG` (default `warn`); output goes through the test harness's
/// capture, so it shows only for failing tests (or with `--nocapture`).
///
/// ```
/// rocketmq_it::init_tracing();
/// rocketmq_it::init_tracing(); // idempotent
/// tracing::info!("hello from a test");
/// ```
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        // try_init: another crate's test may already have set a global subscriber.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
