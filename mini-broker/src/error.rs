//! Broker error type.

use crate::store::StoreError;

/// Result alias of the broker.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

/// What can make starting or running the broker fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The configuration is unusable.
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// The storage engine failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The replication (HA) service could not start.
    #[error("replication: {0}")]
    Ha(#[from] crate::ha::HaError),
    /// A metadata file (topics, offsets, delay progress) is unreadable.
    #[error("corrupt metadata file {path}: {msg}")]
    Metadata {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        msg: String,
    },
}
