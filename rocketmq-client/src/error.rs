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
/// use rocketmq_rs_client::Error;
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
    /// The broker refused the request's ACL credentials or what they allow (docs/protocol/acl.md
    /// §3). `reason` says which, and the message says what to check.
    ///
    /// ```
    /// use rocketmq_rs_client::{AccessDenied, Error};
    /// let remark = "org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=ak";
    /// let e = Error::access_denied(1, remark, "127.0.0.1:10911", std::time::Duration::ZERO).unwrap();
    /// assert!(matches!(e, Error::AccessDenied { reason: AccessDenied::BadSignature, .. }));
    /// assert!(e.to_string().contains("check the secret key"));
    /// ```
    #[error("broker {addr} denied access ({reason:?}, code {code}) after {elapsed:?}: {remark}; {}", reason.hint())]
    AccessDenied {
        /// Why access was denied.
        reason: AccessDenied,
        /// The response code: `NO_PERMISSION` (16), or `SYSTEM_ERROR` (1) from 4.x brokers,
        /// which answer ACL failures with the exception text.
        code: i32,
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
        source: rocketmq_rs_remoting::RemotingError,
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
    Remoting(#[from] rocketmq_rs_remoting::RemotingError),
    /// The producer's async back-pressure bound was reached
    /// ([`ProducerConfig::async_back_pressure`](crate::producer::ProducerConfig::async_back_pressure)):
    /// too many async sends, or too many body bytes, are in flight. `waited` is zero when the
    /// call did not wait (fail-fast mode, or `send_async` / `send_with_callback`, which
    /// cannot wait); else the send timeout passed while waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rocketmq_rs_client::error::{BackPressureLimit, Error};
    /// let e = Error::AsyncBackPressure {
    ///     limit: BackPressureLimit::Count,
    ///     max: 10_000,
    ///     waited: Duration::ZERO,
    /// };
    /// assert!(e.to_string().contains("async_max_in_flight"));
    /// ```
    #[error(
        "too many async sends in flight: the {limit} bound ({max}) was reached after waiting \
         {waited:?}; await earlier sends before starting more, raise {}, or use \
         Producer::submit_async / submit_with_callback to wait for room",
        limit.setting()
    )]
    AsyncBackPressure {
        /// Which bound was reached.
        limit: BackPressureLimit,
        /// Its configured value.
        max: usize,
        /// How long the call waited for room.
        waited: Duration,
    },
    /// The client has been shut down.
    #[error("client has been shut down")]
    Shutdown,
}

/// Which async back-pressure bound refused a send (see [`Error::AsyncBackPressure`]).
///
/// ```
/// use rocketmq_rs_client::BackPressureLimit;
/// assert_eq!(BackPressureLimit::Bytes.setting(), "ProducerConfig::async_max_in_flight_bytes");
/// assert_eq!(BackPressureLimit::Count.to_string(), "in-flight count");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackPressureLimit {
    /// The number of async sends in flight
    /// ([`ProducerConfig::async_max_in_flight`](crate::producer::ProducerConfig::async_max_in_flight)).
    Count,
    /// The body bytes of the async sends in flight
    /// ([`ProducerConfig::async_max_in_flight_bytes`](crate::producer::ProducerConfig::async_max_in_flight_bytes)).
    Bytes,
}

impl BackPressureLimit {
    /// The producer setting of this bound.
    pub fn setting(self) -> &'static str {
        match self {
            BackPressureLimit::Count => "ProducerConfig::async_max_in_flight",
            BackPressureLimit::Bytes => "ProducerConfig::async_max_in_flight_bytes",
        }
    }
}

impl std::fmt::Display for BackPressureLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackPressureLimit::Count => "in-flight count",
            BackPressureLimit::Bytes => "in-flight bytes",
        })
    }
}

/// Why a broker refused a request's ACL credentials (see [`Error::AccessDenied`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessDenied {
    /// The signature does not match: the secret key is wrong for this access key.
    BadSignature,
    /// The broker has no account for the access key.
    UnknownAccessKey,
    /// The request carried no credentials and the broker requires them.
    MissingCredentials,
    /// The account exists but may not do this (topic, group or admin permission).
    NoPermission,
    /// The account exists but is disabled (5.x).
    Disabled,
    /// Another ACL refusal; the remark has the details.
    Other,
}

impl AccessDenied {
    /// What to check, in a sentence.
    pub fn hint(self) -> &'static str {
        match self {
            AccessDenied::BadSignature => {
                "check the secret key given with the access key (ClientConfig::with_credentials)"
            }
            AccessDenied::UnknownAccessKey => {
                "check the access key, or add an account for it on the broker (plain_acl.yml \
                 on 4.x, an ACL 2.0 user on 5.x)"
            }
            AccessDenied::MissingCredentials => {
                "the broker requires ACL credentials: set them with ClientConfig::with_credentials"
            }
            AccessDenied::NoPermission => {
                "grant the account this topic or group on the broker (topicPerms/groupPerms in \
                 plain_acl.yml on 4.x, an ACL 2.0 policy on 5.x), or use another account"
            }
            AccessDenied::Disabled => "the account is disabled on the broker: enable it",
            AccessDenied::Other => "check the broker's ACL configuration and the remark",
        }
    }

    /// Classifies a broker answer by its code and remark; `None` when it is no ACL refusal.
    /// 4.x brokers answer `SYSTEM_ERROR` with the `AclException` text, 5.x `NO_PERMISSION` with
    /// the authentication or authorization message (docs/protocol/acl.md §3).
    pub fn classify(code: i32, remark: &str) -> Option<AccessDenied> {
        use rocketmq_rs_remoting::protocol::code::ResponseCode;
        if code != ResponseCode::NO_PERMISSION && code != ResponseCode::SYSTEM_ERROR {
            return None;
        }
        let r = remark.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| r.contains(n));
        let reason = if has(&["check signature failed"]) {
            AccessDenied::BadSignature
        } else if has(&["no acl config for", "no plainaccessresource for"])
            || (r.contains("user:") && r.contains("not found"))
        {
            AccessDenied::UnknownAccessKey
        } else if has(&["no accesskey is configured", "username cannot be null"]) {
            AccessDenied::MissingCredentials
        } else if has(&[
            "no default permission for",
            "no permission for",
            "need admin permission",
            "has no permission to access",
        ]) {
            AccessDenied::NoPermission
        } else if r.contains("user:") && r.contains("is disabled") {
            AccessDenied::Disabled
        } else if has(&[
            "aclexception",
            "authenticationexception",
            "authorizationexception",
        ]) {
            AccessDenied::Other
        } else {
            return None;
        };
        Some(reason)
    }
}

impl Error {
    /// [`Error::AccessDenied`] when a broker answer with `code` and `remark` is an ACL refusal
    /// (see [`AccessDenied::classify`]), else `None`.
    pub fn access_denied(code: i32, remark: &str, addr: &str, elapsed: Duration) -> Option<Error> {
        AccessDenied::classify(code, remark).map(|reason| Error::AccessDenied {
            reason,
            code,
            remark: remark.to_owned(),
            addr: addr.to_owned(),
            elapsed,
        })
    }

    /// Whether retrying the call (possibly on another broker) may succeed. Mirrors the Java
    /// producer's retry rules: network errors, timeouts and the broker codes Java retries.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Timeout { .. } => true,
            // Java retries these codes on another broker, whose ACL may differ.
            Error::Broker { code, .. } | Error::AccessDenied { code, .. } => {
                matches!(code, 1 | 2 | 14 | 16 | 17 | 204 | 205 | 1500)
            }
            Error::Remoting(e) => matches!(
                e,
                rocketmq_rs_remoting::RemotingError::Io(_)
                    | rocketmq_rs_remoting::RemotingError::Connect { .. }
                    | rocketmq_rs_remoting::RemotingError::Timeout { .. }
                    | rocketmq_rs_remoting::RemotingError::ConnectionClosed { .. }
            ),
            _ => false,
        }
    }

    /// The broker's response code, when the error is a broker answer.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            Error::Broker { code, .. } | Error::AccessDenied { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod access_denied_tests {
    use super::AccessDenied::{self, *};

    /// Remarks as Apache 4.9.7 (SYSTEM_ERROR) and 5.3.3 / 5.5.0 (NO_PERMISSION) sent them in
    /// `tests/apache_security.rs`, and mini-broker's.
    #[test]
    fn classifies_what_apache_answers() {
        let v4 = |m: &str| {
            format!(
                "org.apache.rocketmq.acl.common.AclException: {m}, org.apache.rocketmq.acl.plain.\
                 PlainPermissionManager.validate(PlainPermissionManager.java:683)"
            )
        };
        let cases: [(i32, String, Option<AccessDenied>); 12] = [
            (
                1,
                v4("Check signature failed for accessKey=ak"),
                Some(BadSignature),
            ),
            (1, v4("No acl config for nobodyKey"), Some(UnknownAccessKey)),
            (
                1,
                v4("No accessKey is configured"),
                Some(MissingCredentials),
            ),
            (
                1,
                v4("No default permission for topic:T"),
                Some(NoPermission),
            ),
            (16, "check signature failed.".into(), Some(BadSignature)),
            (
                16,
                "User:nobodyKey is not found.".into(),
                Some(UnknownAccessKey),
            ),
            (
                16,
                "username cannot be null.".into(),
                Some(MissingCredentials),
            ),
            (16, "User:ak is disabled.".into(), Some(Disabled)),
            (
                16,
                "User:ak has no permission to access Topic:T from 127.0.0.1, the decision is deny."
                    .into(),
                Some(NoPermission),
            ),
            (16, "No permission for topic=T".into(), Some(NoPermission)),
            // Not ACL: a topic without write permission, and an unrelated system error.
            (16, "the topic[T] sending message is forbidden".into(), None),
            (1, "disk is full".into(), None),
        ];
        for (code, remark, want) in cases {
            assert_eq!(
                AccessDenied::classify(code, &remark),
                want,
                "{code} {remark}"
            );
        }
        // Other codes are never ACL refusals, whatever the remark.
        assert_eq!(AccessDenied::classify(17, "check signature failed."), None);
    }
}
