//! Master/slave replication (RocketMQ "HA"): a master streams its commit log to its slaves; each
//! slave appends the bytes to its own commit log (building its own consume queues and index
//! from them) and acknowledges how far it got.
//!
//! - [`BrokerRole`]: `ASYNC_MASTER`, `SYNC_MASTER`, `SLAVE`.
//! - [`HaMaster`]: accepts slaves on the HA port, streams commit-log data from each slave's
//!   reported offset, tracks acknowledgements; [`HaMaster::wait_for_replica`] is what a
//!   `SYNC_MASTER` send awaits.
//! - [`HaSlave`]: connects to the master, resumes from the end of its own commit log,
//!   appends what it receives, reconnects with backoff.
//! - [`MetadataSync`]: the slave's periodic copy of the master's topic configs, consumer
//!   offsets and delay offsets (Apache `SlaveSynchronize`), over ordinary remoting requests.
//!
//! The replication stream uses its own framing ([`protocol`]), not Apache's HA wire format:
//! frames are checksummed and size-bounded, and a slave always resumes at the exact end of its
//! own commit log (the store refuses an append anywhere else), so restarts of either side
//! never duplicate or skip bytes.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rocketmq_rs_mini_broker::ha::{HaConfig, HaMaster, HaSlave, ReplicaAck};
//! use rocketmq_rs_mini_broker::store::{MessageStore, StoreConfig};
//!
//! let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
//! let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! let master_store = MessageStore::open(StoreConfig::new(d1.path())).unwrap();
//! let slave_store = MessageStore::open(StoreConfig::new(d2.path())).unwrap();
//! let master = HaMaster::start(master_store.clone(), "127.0.0.1:0".parse().unwrap(),
//!     HaConfig::default(), rt.clone()).await.unwrap();
//! let slave = HaSlave::start(slave_store.clone(), Some(master.local_addr()),
//!     HaConfig::default(), rt.clone());
//! // Nothing written yet: offset 0 is trivially replicated once the slave is connected.
//! while master.connected_slaves() == 0 { rt.sleep(Duration::from_millis(5)).await; }
//! assert_eq!(master.wait_for_replica(0, Duration::from_secs(1)).await, ReplicaAck::Ok);
//! slave.shutdown().await;
//! master.shutdown().await;
//! master_store.shutdown();
//! slave_store.shutdown();
//! # });
//! ```

mod event;
pub mod master;
pub mod protocol;
pub mod role;
pub mod slave;
pub mod sync;

use std::io;
use std::time::Duration;

pub use master::{HaMaster, ReplicaAck, SlaveInfo};
pub use role::{BrokerRole, ParseRoleError};
pub use slave::{HaSlave, ReplicationGate, SlaveStats};
pub use sync::{ConsumerOffsetTable, MetadataSink, MetadataSync};

use crate::store::StoreError;

use std::pin::pin;

use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::ShutdownSignal;

/// Runs `fut` unless `a` or `b` fires first (`None` then).
pub(crate) async fn unless<F: std::future::Future>(
    fut: F,
    a: &ShutdownSignal,
    b: &ShutdownSignal,
) -> Option<F::Output> {
    let fut = pin!(fut);
    match select(fut, select(a.wait(), b.wait())).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// What a `SYNC_MASTER` write waits on before it is answered: the replication master and how
/// long to wait for a slave. Empty on every other role, so only a `SYNC_MASTER`'s writers hold
/// the replication service.
#[derive(Clone, Default)]
pub(crate) struct SyncReplicas {
    master: Option<std::sync::Arc<HaMaster>>,
    timeout: Duration,
}

impl SyncReplicas {
    pub(crate) fn new(
        role: BrokerRole,
        master: Option<&std::sync::Arc<HaMaster>>,
        timeout: Duration,
    ) -> Self {
        SyncReplicas {
            master: master.filter(|_| role == BrokerRole::SyncMaster).cloned(),
            timeout,
        }
    }

    /// Whether writes wait for a slave (`SYNC_MASTER`).
    pub(crate) fn enabled(&self) -> bool {
        self.master.is_some()
    }

    /// Waits until a slave has the commit log up to `end`; `None` when writes do not wait.
    pub(crate) async fn wait(&self, end: i64) -> Option<ReplicaAck> {
        let master = self.master.as_ref()?;
        Some(master.wait_for_replica(end, self.timeout).await)
    }
}

/// Tuning of the replication service (both sides).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HaConfig {
    /// Broker name sent by a slave in its hello and checked by the master when both are
    /// non-empty (a slave must follow a master of its own broker name).
    pub broker_name: String,
    /// About how many commit-log bytes one data frame carries (a single larger record is sent
    /// whole). Default 1 MiB.
    pub transfer_batch_bytes: usize,
    /// Largest data-frame payload accepted or sent. Must be at least the store's
    /// `max_message_size` and `transfer_batch_bytes`. Default 16 MiB.
    pub max_frame_bytes: usize,
    /// The master sends a heartbeat after this much silence; the slave acknowledges every
    /// frame. Default 1 s.
    pub heartbeat_interval: Duration,
    /// A connection whose peer sent nothing for this long is dropped. Default 5 s.
    pub idle_timeout: Duration,
    /// How often the master looks for new commit-log data when nobody called
    /// [`HaMaster::notify_data`]. Default 20 ms.
    pub poll_interval: Duration,
    /// A `SYNC_MASTER` answers SLAVE_NOT_AVAILABLE at once when the best connected slave lags
    /// more than this many bytes behind the message (Apache `haSlaveFallbehindMax`, 256 MiB).
    pub max_slave_gap: i64,
    /// Slave: first reconnect delay, doubled after each failed attempt. Default 100 ms.
    pub reconnect_backoff_min: Duration,
    /// Slave: longest reconnect delay. Default 5 s.
    pub reconnect_backoff_max: Duration,
    /// Slave: TCP connect timeout. Default 3 s.
    pub connect_timeout: Duration,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            broker_name: String::new(),
            transfer_batch_bytes: 1 << 20,
            max_frame_bytes: 16 << 20,
            heartbeat_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(20),
            max_slave_gap: 256 << 20,
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl HaConfig {
    /// Checks the values.
    ///
    /// ```
    /// let mut c = rocketmq_rs_mini_broker::ha::HaConfig::default();
    /// assert!(c.validate().is_ok());
    /// c.max_frame_bytes = 10;
    /// assert!(c.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), HaError> {
        let bad = |m: &str| Err(HaError::Config(m.to_string()));
        if self.transfer_batch_bytes == 0 || self.max_frame_bytes < self.transfer_batch_bytes {
            return bad("transfer_batch_bytes must be > 0 and <= max_frame_bytes");
        }
        if self.max_frame_bytes > (1 << 30) {
            return bad("max_frame_bytes must be <= 1 GiB");
        }
        if self.heartbeat_interval.is_zero()
            || self.idle_timeout <= self.heartbeat_interval
            || self.poll_interval.is_zero()
            || self.connect_timeout.is_zero()
            || self.reconnect_backoff_min.is_zero()
            || self.reconnect_backoff_max < self.reconnect_backoff_min
        {
            return bad(
                "intervals must be > 0, idle_timeout > heartbeat_interval, backoff max >= min",
            );
        }
        if self.max_slave_gap <= 0 {
            return bad("max_slave_gap must be > 0");
        }
        Ok(())
    }
}

/// What can go wrong in replication. Connection-level errors close the connection; the slave
/// reconnects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// Socket I/O failed.
    #[error("replication I/O: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection (possibly mid-frame).
    #[error("replication connection closed by peer")]
    Closed,
    /// A frame did not start with the magic.
    #[error("bad replication frame magic {0:#010x}")]
    BadMagic(u32),
    /// A frame of unknown kind.
    #[error("unknown replication frame kind {0}")]
    UnknownKind(u8),
    /// A frame longer than its bound.
    #[error("replication frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced payload length.
        len: usize,
        /// Bound for this kind.
        max: usize,
    },
    /// A frame's checksum did not match.
    #[error("replication frame checksum mismatch (expected {expected:#010x}, got {actual:#010x})")]
    Checksum {
        /// From the header.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// The peer broke the protocol (unexpected frame, wrong offset, wrong broker name...).
    #[error("replication protocol error: {0}")]
    Protocol(String),
    /// The peer reported an error and closed.
    #[error("replication peer reported: {0}")]
    Remote(String),
    /// The peer stayed silent longer than the idle timeout.
    #[error("replication peer silent for {0:?}")]
    Idle(Duration),
    /// The local store refused the data or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad configuration.
    #[error("invalid replication configuration: {0}")]
    Config(String),
    /// A metadata request to the master failed or was refused.
    #[error("metadata sync: {0}")]
    MetadataSync(String),
}

impl HaError {
    fn from_read(e: io::Error) -> HaError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            HaError::Closed
        } else {
            HaError::Io(e)
        }
    }
}

/// How much of a chunk from `read_commit_log` to send and how far that advances the log:
/// `(bytes to send, log advance)`. A segment-end filler covers the rest of its segment but
/// only its 8-byte header is sent (the slave's store re-creates the filler from the header).
pub(crate) fn chunk_extent(data: &[u8]) -> Result<(usize, i64), HaError> {
    let mut p = 0usize;
    let mut advance = 0i64;
    while p < data.len() {
        if data.len() - p < 8 {
            return Err(HaError::Protocol(format!(
                "truncated record header at chunk byte {p}"
            )));
        }
        let size = i32::from_be_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]);
        let magic = i32::from_be_bytes([data[p + 4], data[p + 5], data[p + 6], data[p + 7]]);
        if size <= 0 {
            return Err(HaError::Protocol(format!(
                "record size {size} at chunk byte {p}"
            )));
        }
        if magic == crate::store::BLANK_MAGIC {
            // A filler always ends its segment, hence the chunk. It travels in a frame of its
            // own (one extra 8-byte frame per segment): older stores sized a filler that
            // followed records of a not-yet-created segment against the wrong segment end and
            // refused the chunk, and a slave may run such a store while its master is updated.
            if p > 0 {
                return Ok((p, advance));
            }
            return Ok((8, size as i64));
        }
        let n = size as usize;
        if n > data.len() - p {
            return Err(HaError::Protocol(format!(
                "truncated record at chunk byte {p}"
            )));
        }
        p += n;
        advance += n as i64;
    }
    Ok((p, advance))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(size: usize) -> Vec<u8> {
        let mut v = vec![0u8; size];
        v[..4].copy_from_slice(&(size as i32).to_be_bytes());
        v[4..8].copy_from_slice(&crate::store::MAGIC_V1.to_be_bytes());
        v
    }

    #[test]
    fn extent_of_records_and_filler() {
        let mut chunk = record(100);
        chunk.extend(record(60));
        assert_eq!(chunk_extent(&chunk).unwrap(), (160, 160));
        let mut blank = vec![0u8; 300];
        blank[..4].copy_from_slice(&300i32.to_be_bytes());
        blank[4..8].copy_from_slice(&crate::store::BLANK_MAGIC.to_be_bytes());
        // Records first; the filler on its own, header only.
        chunk.extend(&blank);
        assert_eq!(chunk_extent(&chunk).unwrap(), (160, 160));
        assert_eq!(chunk_extent(&blank).unwrap(), (8, 300));
        assert!(chunk_extent(&chunk[..150]).is_err());
        assert!(chunk_extent(&[0, 0, 0]).is_err());
    }
}
