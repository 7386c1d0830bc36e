//! [`TransportConfig`]: the knobs of connections, the client pool and the server.

use std::time::Duration;

use crate::protocol::SerializeType;

/// Settings shared by [`Connection`](super::Connection), [`RemotingClient`](super::RemotingClient)
/// and [`RemotingServer`](super::RemotingServer).
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_remoting::transport::TransportConfig;
///
/// // `#[non_exhaustive]`: start from the defaults, then set what differs.
/// let mut config = TransportConfig::default();
/// config.connect_timeout = Duration::from_secs(1);
/// config.idle_timeout = Some(Duration::from_secs(120));
/// assert_eq!(config.max_frame_size, 16 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Largest frame, length prefix included, in either direction. A peer announcing a larger
    /// frame is disconnected; a larger outbound command fails with `FrameTooLarge` instead of
    /// being sent. Default 16 MiB, the Java default (`com.rocketmq.remoting.frameMaxLength`).
    pub max_frame_size: usize,
    /// How long dialling a peer may take. Default 3 s (Java `connectTimeoutMillis`).
    pub connect_timeout: Duration,
    /// Header encoding of the requests this side sends (responses always use the encoding of the
    /// request they answer). Default JSON, which every server and client understands.
    pub request_serialize_type: SerializeType,
    /// How many peer-initiated requests one connection handles concurrently. When this many
    /// handler futures are in flight the connection stops reading, which back-pressures the
    /// peer through TCP. Default 1024 (one long-polling pull per queue can sit here).
    pub max_inbound_requests: usize,
    /// The writer gathers queued frames into one buffer until it holds this many bytes, then
    /// writes it with one call. Default 64 KiB.
    pub write_coalesce_bytes: usize,
    /// After writing a frame larger than this, the write buffer's memory is released instead of
    /// being kept for reuse. Default 1 MiB.
    pub write_buffer_retain_bytes: usize,
    /// Size of each socket read. Default 64 KiB.
    pub read_chunk_bytes: usize,
    /// First delay before redialling an address whose dial failed. Later delays double up to
    /// [`reconnect_backoff_max`](Self::reconnect_backoff_max); each is jittered to between half
    /// and all of its nominal value. Default 100 ms.
    pub reconnect_backoff_initial: Duration,
    /// Cap of the redial delay. Default 5 s.
    pub reconnect_backoff_max: Duration,
    /// Close a connection that has neither read nor written anything for this long, unless
    /// requests on it are still being handled or awaiting their response. Default `None`
    /// (never). The Java client and server use 120 s.
    pub idle_timeout: Option<Duration>,
    /// How long a server's `shutdown` waits for its connection tasks to end before aborting
    /// them. Default 3 s.
    pub shutdown_grace: Duration,
    /// Server side: the most connections open at once. When this many are open the accept
    /// loop waits until one closes before accepting the next; newcomers wait in the kernel's
    /// listen backlog meanwhile (their connect succeeds, their requests are read once they are
    /// accepted). Default `None` (no cap).
    pub max_connections: Option<usize>,
    /// ACL 1.0 credentials (docs/protocol/acl.md §1). When set, every request and oneway request this
    /// side sends is signed with them ([`crate::acl::sign`]) as it is queued, after every other
    /// header field is in place. Default `None`.
    pub credentials: Option<crate::acl::AclCredentials>,
    /// TLS for the connections this side dials (feature `tls`). The handshake counts against
    /// [`connect_timeout`](Self::connect_timeout). Default `None` (plain TCP).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsClientConfig>,
    /// TLS for the connections a server accepts (feature `tls`), in the configuration's
    /// [`TlsMode`](crate::tls::TlsMode). The TLS handshake may take up to
    /// [`connect_timeout`](Self::connect_timeout) after the first byte, which is awaited for at
    /// most [`idle_timeout`](Self::idle_timeout). Default `None` (plain TCP).
    #[cfg(feature = "tls")]
    pub tls_server: Option<crate::tls::TlsServerConfig>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_frame_size: crate::protocol::codec::DEFAULT_MAX_FRAME_SIZE,
            connect_timeout: Duration::from_secs(3),
            request_serialize_type: SerializeType::Json,
            max_inbound_requests: 1024,
            write_coalesce_bytes: 64 * 1024,
            write_buffer_retain_bytes: 1024 * 1024,
            read_chunk_bytes: 64 * 1024,
            reconnect_backoff_initial: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            idle_timeout: None,
            shutdown_grace: Duration::from_secs(3),
            max_connections: None,
            credentials: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_server: None,
        }
    }
}

impl TransportConfig {
    /// The delay before redial number `failures` (1 = after the first failed dial): capped
    /// exponential growth with "equal jitter" (uniform in `[d/2, d]`), so that many clients
    /// losing the same peer do not redial in lock-step.
    pub(crate) fn backoff_delay(&self, failures: u32) -> Duration {
        let initial = self.reconnect_backoff_initial.max(Duration::from_millis(1));
        let cap = self.reconnect_backoff_max.max(initial);
        let exp = failures.saturating_sub(1).min(30);
        let nominal = initial.saturating_mul(1u32 << exp).min(cap);
        let half = nominal / 2;
        let jitter_nanos = fastrand::u64(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX));
        half + Duration::from_nanos(jitter_nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = TransportConfig {
            reconnect_backoff_initial: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(2),
            ..TransportConfig::default()
        };
        for _ in 0..100 {
            let d1 = c.backoff_delay(1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = c.backoff_delay(3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d40 = c.backoff_delay(40);
            assert!(
                d40 >= Duration::from_secs(1) && d40 <= Duration::from_secs(2),
                "{d40:?}"
            );
        }
    }

    #[test]
    fn backoff_tolerates_degenerate_settings() {
        let c = TransportConfig {
            reconnect_backoff_initial: Duration::ZERO,
            reconnect_backoff_max: Duration::ZERO,
            ..TransportConfig::default()
        };
        assert!(c.backoff_delay(u32::MAX) <= Duration::from_millis(1));
    }
}
