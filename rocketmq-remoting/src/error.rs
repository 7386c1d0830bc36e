//! Errors of the remoting layer.

use std::io;
use std::time::Duration;

/// Result alias for the remoting layer.
pub type Result<T, E = RemotingError> = std::result::Result<T, E>;

/// Everything that can go wrong while encoding, decoding or exchanging remoting commands.
///
/// ```
/// use rocketmq_rs_remoting::RemotingError;
/// let e = RemotingError::MissingField { field: "topic" };
/// assert_eq!(e.to_string(), "required header field `topic` is missing");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemotingError {
    /// An I/O error on an established connection.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Dialling a peer failed; check that the address is right and the peer is running.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address that was dialled.
        addr: String,
        /// Why the connect failed.
        #[source]
        source: io::Error,
    },
    /// No response arrived before the deadline.
    #[error("request (code {code}, opaque {opaque}) to {addr} timed out after {timeout:?}")]
    Timeout {
        /// The peer address.
        addr: String,
        /// The request code.
        code: i32,
        /// The request's opaque.
        opaque: i32,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The connection closed while the request was pending or before it could be sent.
    #[error("connection to {addr} closed{hint}")]
    ConnectionClosed {
        /// The peer address.
        addr: String,
        /// Empty, or (starting with `: `) what the way it closed suggests checking: a plain
        /// connection the peer closed before sending a single byte is what a server that
        /// enforces TLS does to a client without TLS.
        hint: &'static str,
    },
    /// The bytes received are not a valid frame, header or body; the connection is closed.
    #[error("malformed input: {0}")]
    Decode(String),
    /// A frame's declared length exceeds the configured maximum; the connection is closed.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The declared frame length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A required custom-header field is absent from `extFields`.
    #[error("required header field `{field}` is missing")]
    MissingField {
        /// The field name as it appears on the wire.
        field: &'static str,
    },
    /// A custom-header field is present but its value cannot be parsed.
    #[error("header field `{field}` has an invalid value {value:?}")]
    InvalidField {
        /// The field name as it appears on the wire.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// The component was shut down.
    #[error("shut down")]
    Shutdown,
    /// A body could not be compressed or decompressed (see
    /// [`crate::protocol::message::CompressionError`]).
    #[error(transparent)]
    Compression(#[from] crate::protocol::message::CompressionError),
    /// One message of a pulled, queried or pushed body is compressed with an algorithm this
    /// build cannot read, or its compressed bytes are corrupt; the message is named so that it
    /// can be inspected (e.g. `queryMsgByOffset`) or skipped. Boxed to keep this enum small.
    #[error(transparent)]
    MessageBody(Box<crate::protocol::message::UndecodableBody>),
}

impl RemotingError {
    /// Shorthand for a [`RemotingError::Decode`] error.
    pub fn decode(msg: impl Into<String>) -> Self {
        RemotingError::Decode(msg.into())
    }
}
