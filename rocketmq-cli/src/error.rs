//! [`CliError`] and the documented exit codes.

use rocketmq_rs_client::Error as ClientError;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation failed (broker error, some messages not sent, fewer messages
/// consumed than asked).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad command line (also what `clap` uses for usage errors).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: a NameServer or broker could not be reached (or did not answer in time).
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: the topic, message or consumer group does not exist.
pub const EXIT_NOT_FOUND: i32 = 4;

/// An error of a CLI command; [`CliError::exit_code`] maps it to the documented exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An argument is invalid.
    #[error("{0}")]
    Usage(String),
    /// A topic, message or group does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A NameServer or broker is unreachable.
    #[error("{0}")]
    Unreachable(String),
    /// The operation failed.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Unreachable(_) => EXIT_UNREACHABLE,
            CliError::Failed(_) => EXIT_FAILED,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::NameServerUnreachable { .. }
            | ClientError::Network { .. }
            | ClientError::Timeout { .. } => CliError::Unreachable(e.to_string()),
            ClientError::RouteNotFound { topic, .. } => {
                CliError::NotFound(format!("topic {topic} does not exist"))
            }
            ClientError::Config(_) | ClientError::InvalidMessage(_) => {
                CliError::Usage(e.to_string())
            }
            _ => CliError::Failed(e.to_string()),
        }
    }
}

/// Result alias of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
