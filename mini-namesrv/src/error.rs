//! The error type of the NameServer library.

use std::io;
use std::path::PathBuf;

use rocketmq_rs_remoting::RemotingError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop the NameServer from starting or from persisting its state.
///
/// ```
/// use rocketmq_rs_mini_namesrv::Error;
/// let e = Error::Config("brokerExpiryMillis: must be > 0".into());
/// assert_eq!(e.to_string(), "invalid configuration: brokerExpiryMillis: must be > 0");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value (file, flag or UPDATE_NAMESRV_CONFIG property) is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    File {
        /// What was being done (`"read"`, `"write"`, `"rename"`, ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file exists but its content cannot be parsed; it is left untouched.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// Why parsing failed.
        reason: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// No async runtime is available (no runtime feature enabled, or not inside a tokio runtime).
    #[error("no async runtime available")]
    NoRuntime,
    /// The remoting layer failed (for example the listen address cannot be bound).
    #[error(transparent)]
    Remoting(#[from] RemotingError),
}
