//! The error type of every helper in this crate.

use std::time::Duration;

/// What went wrong in a test helper: setting up the C++ client, running a child process,
/// waiting for a condition.
#[derive(Debug, thiserror::Error)]
pub enum ItError {
    /// An I/O operation failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Python environment with the C++ client could not be prepared or is unusable.
    #[error("C++ client environment: {0}")]
    Setup(String),
    /// A condition did not come true in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// How long was waited.
        timeout: Duration,
        /// What was waited for.
        what: String,
    },
    /// The driver process ended before the awaited condition came true.
    #[error("driver exited (code {exit_code:?}) before {what}; errors: {errors}; stderr tail:\n{stderr}")]
    Exited {
        /// Its exit code (`None` when killed by a signal).
        exit_code: Option<i32>,
        /// What was waited for.
        what: String,
        /// The `error` lines it printed, one per line.
        errors: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// The driver finished but did not do everything it was asked to.
    #[error("driver failed (code {exit_code:?}, reason {reason}); errors: {errors}; stderr tail:\n{stderr}")]
    Failed {
        /// Its exit code (`None` when killed by a signal).
        exit_code: Option<i32>,
        /// The `reason` of its summary line (`none` when it printed none).
        reason: String,
        /// The `error` lines it printed, one per line.
        errors: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A line or field the driver printed could not be decoded.
    #[error("bad driver output: {0}")]
    Decode(String),
}

impl ItError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ItError::Io {
            what: what.into(),
            source,
        }
    }
}
