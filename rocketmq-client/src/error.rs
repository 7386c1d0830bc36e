//! The client's error type.

use std::time::Duration;

/// Result alias of the client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a request's life an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Looking up the topic route on the NameServers.
    Route,
    /// Dialling a broker or NameServer.
    Connect,
    /// Sending the request or waiting for its answer.
    Send,
    /// The overall deadline passed.
    Timeout,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Route => "route lookup",
            Stage::Connect => "connect",
            Stage::Send => "send",
            Stage::Timeout => "timeout",
        })
    }
}

/// Everything a client call can fail with. Each message says what to check or do.
///
/// ```
/// use rocketmq_client::Error;
/// let e = Error::Config("group must not be empty".into());
/// assert!(!e.is_retryable());
/// assert_eq!(e.to_string(), "invalid configuration: group must not be empty");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder was given an invalid setting; fix the setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The message breaks a protocol limit (empty body, too large, bad topic); fix the message.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The producer or consumer has not been started (call `start().await`) or is shut down.
    #[error("client is not running: {0}")]
    NotRunning(&'static str),
    /// No NameServer knows the topic; create it, or enable auto-creation on the broker.
    #[error("no route for topic `{topic}`: create the topic or check the NameServer addresses ({detail})")]
    RouteNotFound {
        /// The topic.
        topic: String,
        /// What the NameServers said.
        detail: String,
    },
    /// None of the configured NameServers answered; check they are running and reachable.
    #[error("no NameServer reachable ({addrs}): {last_error}")]
    NameServerUnreachable {
        /// The addresses tried.
        addrs: String,
        /// The last failure.
        last_error: String,
    },
    /// A broker answered with an error code.
    #[error("broker {addr} answered code {code} ({name}) after {elapsed:?}: {remark}")]
    Broker {
        /// The response code.
        code: i32,
        /// The response code's name.
        name: &'static str,
        /// The broker's remark.
        remark: String,
        /// The broker address.
        addr: String,
        /// Time from sending the request to the broker's answer.
        elapsed: Duration,
    },
    /// The network failed at the given stage.
    #[error("{stage} to {addr} failed after {elapsed:?}: {source}")]
    Network {
        /// Where it failed.
        stage: Stage,
        /// The peer.
        addr: String,
        /// Time since the call started.
        elapsed: Duration,
        /// The transport error.
        #[source]
        source: rocketmq_remoting::RemotingError,
    },
    /// The call's deadline passed; consider a longer timeout or check broker health.
    #[error("{op} timed out after {timeout:?} ({detail})")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The deadline.
        timeout: Duration,
        /// What was happening when it passed.
        detail: String,
    },
    /// A transport-level error outside a call (e.g. a malformed answer).
    #[error(transparent)]
    Remoting(#[from] rocketmq_remoting::RemotingError),
    /// The client has been shut down.
    #[error("client has been shut down")]
    Shutdown,
}

impl Error {
    /// Whether retrying the call (possibly on another broker) may succeed. Mirrors the Java
    /// producer's retry rules: network errors, timeouts and the broker codes Java retries.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Timeout { .. } => true,
            Error::Broker { code, .. } => matches!(code, 1 | 2 | 14 | 16 | 17 | 204 | 205 | 1500),
            Error::Remoting(e) => matches!(
                e,
                rocketmq_remoting::RemotingError::Io(_)
                    | rocketmq_remoting::RemotingError::Connect { .. }
                    | rocketmq_remoting::RemotingError::Timeout { .. }
                    | rocketmq_remoting::RemotingError::ConnectionClosed { .. }
            ),
            _ => false,
        }
    }

    /// The broker's response code, when the error is a broker answer.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}
