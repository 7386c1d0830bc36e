//! The slave side of replication ([`HaSlave`]).

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::{self, BoxRead, BoxWrite, Runtime, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::util::MutexExt;

use super::protocol::{read_frame, write_frame, Frame, FrameKind};
use super::{unless, HaConfig, HaError};
use crate::store::{MessageStore, StoreError};

/// Counters of a [`HaSlave`], for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaveStats {
    /// Whether a replication session with the master is up.
    pub connected: bool,
    /// Sessions established (hello sent) since start.
    pub sessions: u64,
    /// Sessions or connection attempts that ended in an error.
    pub errors: u64,
    /// Commit-log bytes appended from the master.
    pub bytes_replicated: u64,
    /// End of the local commit log.
    pub local_offset: i64,
    /// Latest known end of the master's commit log (from data and heartbeats).
    pub master_offset: i64,
}

struct SlaveInner {
    store: MessageStore,
    cfg: HaConfig,
    rt: Arc<dyn Runtime>,
    tasks: TaskGroup,
    master: Mutex<Option<SocketAddr>>,
    connected: AtomicBool,
    sessions: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    master_offset: AtomicI64,
    /// Fired to drop the current session (master address changed).
    reset: Mutex<ShutdownSignal>,
    last_error: Mutex<Option<String>>,
    gate: Arc<ReplicationGate>,
    /// Closed while the broker is frozen: no session is opened, frames are read (a stopped
    /// process's kernel still buffers them) but neither appended nor acknowledged.
    hold: Arc<crate::faults::HoldGate>,
}

/// Holds a slave's replication still (for fault tests): while closed, the slave appends
/// nothing more and acknowledges nothing, so it falls behind its master; opened again, it
/// catches up from where it stopped. The same gate a broker freeze closes.
pub type ReplicationGate = crate::faults::HoldGate;

/// Waits while `gate` is closed; false when `stop` or `reset` fired first.
async fn pass(gate: &ReplicationGate, stop: &ShutdownSignal, reset: &ShutdownSignal) -> bool {
    if !gate.is_closed() {
        return true;
    }
    unless(gate.opened(), stop, reset).await.is_some()
}

/// The slave's replication client: keeps a session with the master's HA port, appends the
/// commit-log data it receives to the local store and acknowledges it.
///
/// Each session starts with the local commit-log end, and the store appends only at exactly
/// that end, so restarts of either side and dropped connections never duplicate or skip bytes.
/// Failed attempts are retried with exponential backoff
/// ([`reconnect_backoff_min`](HaConfig::reconnect_backoff_min) ..
/// [`reconnect_backoff_max`](HaConfig::reconnect_backoff_max)).
///
/// Dropping it without [`shutdown`](Self::shutdown) stops its task in the background.
pub struct HaSlave {
    inner: Arc<SlaveInner>,
}

impl std::fmt::Debug for HaSlave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaSlave")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for HaSlave {
    fn drop(&mut self) {
        self.inner.tasks.signal().trigger();
    }
}

impl HaSlave {
    /// Starts replicating from `master` (the master's HA address; `None`: wait for
    /// [`set_master_addr`](Self::set_master_addr)). An invalid `cfg` is logged and the
    /// defaults are used instead.
    pub fn start(
        store: MessageStore,
        master: Option<SocketAddr>,
        cfg: HaConfig,
        rt: Arc<dyn Runtime>,
    ) -> HaSlave {
        let cfg = match cfg.validate() {
            Ok(()) => cfg,
            Err(e) => {
                tracing::error!(error = %e, "bad replication config; using defaults");
                HaConfig {
                    broker_name: cfg.broker_name,
                    ..HaConfig::default()
                }
            }
        };
        let inner = Arc::new(SlaveInner {
            store,
            cfg,
            tasks: TaskGroup::new(Arc::clone(&rt)),
            rt,
            master: Mutex::new(master),
            connected: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            master_offset: AtomicI64::new(0),
            reset: Mutex::new(ShutdownSignal::new()),
            last_error: Mutex::new(None),
            gate: Arc::default(),
            hold: Arc::default(),
        });
        let me = Arc::clone(&inner);
        inner.tasks.spawn(run(me));
        HaSlave { inner }
    }

    /// The gate that holds replication still (fault tests).
    pub fn gate(&self) -> Arc<ReplicationGate> {
        Arc::clone(&self.inner.gate)
    }

    /// The gate a broker freeze closes ([`crate::faults::Faults::freeze`]): while closed the
    /// slave connects to nobody and appends and acknowledges nothing, so the master ends the
    /// session by idle timeout; opened, it reconnects and catches up.
    pub fn hold_gate(&self) -> Arc<crate::faults::HoldGate> {
        Arc::clone(&self.inner.hold)
    }

    /// Changes the master to follow (e.g. the `haServerAddr` a NameServer returned at
    /// registration); the current session, if any, is dropped when the address changes.
    pub fn set_master_addr(&self, addr: Option<SocketAddr>) {
        let mut m = self.inner.master.lock_unpoisoned();
        if *m != addr {
            *m = addr;
            self.inner.reset.lock_unpoisoned().trigger();
        }
    }

    /// The master currently followed.
    pub fn master_addr(&self) -> Option<SocketAddr> {
        *self.inner.master.lock_unpoisoned()
    }

    /// Current counters.
    pub fn stats(&self) -> SlaveStats {
        let i = &self.inner;
        SlaveStats {
            connected: i.connected.load(Ordering::Acquire),
            sessions: i.sessions.load(Ordering::Relaxed),
            errors: i.errors.load(Ordering::Relaxed),
            bytes_replicated: i.bytes.load(Ordering::Relaxed),
            local_offset: i.store.commit_log_max_offset(),
            master_offset: i.master_offset.load(Ordering::Acquire),
        }
    }

    /// The error that ended the latest failed session, if any.
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock_unpoisoned().clone()
    }

    /// Stops replicating and waits for the session to end. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.tasks.shutdown(Duration::from_secs(3)).await;
        self.inner.connected.store(false, Ordering::Release);
    }
}

async fn run(inner: Arc<SlaveInner>) {
    let stop = inner.tasks.signal().clone();
    let cfg = &inner.cfg;
    let mut backoff = cfg.reconnect_backoff_min;
    loop {
        if stop.is_triggered() {
            return;
        }
        let reset = {
            let mut r = inner.reset.lock_unpoisoned();
            if r.is_triggered() {
                *r = ShutdownSignal::new();
            }
            r.clone()
        };
        if inner.hold.is_closed() && unless(inner.hold.opened(), &stop, &stop).await.is_none() {
            return;
        }
        let master = *inner.master.lock_unpoisoned();
        let mut productive = false;
        if let Some(addr) = master {
            match session(&inner, addr, &stop, &reset, &mut productive).await {
                Ok(()) => {}
                Err(e) => {
                    inner.errors.fetch_add(1, Ordering::Relaxed);
                    *inner.last_error.lock_unpoisoned() = Some(e.to_string());
                    tracing::warn!(master = %addr, error = %e, "replication session ended");
                }
            }
            inner.connected.store(false, Ordering::Release);
            if !inner.store.is_writable() {
                tracing::error!("local store is no longer writable; replication stopped");
                return;
            }
        }
        if productive {
            backoff = cfg.reconnect_backoff_min;
        }
        let nap = pin!(inner.rt.sleep(backoff));
        match select(nap, select(stop.wait(), reset.wait())).await {
            Either::Left(_) => {}
            Either::Right((Either::Left(_), _)) => return,
            Either::Right((Either::Right(_), _)) => {
                backoff = cfg.reconnect_backoff_min;
                continue;
            }
        }
        if !productive {
            backoff = (backoff * 2).min(cfg.reconnect_backoff_max);
        }
    }
}

async fn session(
    inner: &SlaveInner,
    addr: SocketAddr,
    stop: &ShutdownSignal,
    reset: &ShutdownSignal,
    productive: &mut bool,
) -> Result<(), HaError> {
    let cfg = &inner.cfg;
    let rt = &*inner.rt;
    let stream = match unless(
        rt::timeout(rt, cfg.connect_timeout, rt.connect(addr)),
        stop,
        reset,
    )
    .await
    {
        None => return Ok(()),
        Some(Err(_)) => {
            return Err(HaError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            )))
        }
        Some(Ok(s)) => s?,
    };
    let (mut r, mut w): (BoxRead, BoxWrite) = stream.into_split();
    let mut offset = inner.store.commit_log_max_offset();
    let hello = Frame {
        kind: FrameKind::Hello,
        offset,
        payload: Bytes::copy_from_slice(cfg.broker_name.as_bytes()),
    };
    send(inner, &mut w, &hello, stop, reset).await?;
    inner.sessions.fetch_add(1, Ordering::Relaxed);
    inner.connected.store(true, Ordering::Release);
    tracing::info!(master = %addr, offset, "replication session started");
    loop {
        let f = match unless(
            rt::timeout(
                rt,
                cfg.idle_timeout,
                read_frame(&mut r, cfg.max_frame_bytes),
            ),
            stop,
            reset,
        )
        .await
        {
            None => return Ok(()),
            Some(Err(_)) => return Err(HaError::Idle(cfg.idle_timeout)),
            Some(Ok(f)) => f?,
        };
        if inner.hold.is_closed() {
            // Frozen: read and dropped; the session dies by the master's idle timeout, or on
            // the first frame after the thaw (its offset is past ours), and the next one
            // resumes at the end of the local commit log.
            continue;
        }
        *productive = true;
        match f.kind {
            FrameKind::Data => {
                if f.offset != offset {
                    return Err(HaError::Protocol(format!(
                        "data frame at offset {} but the local commit log ends at {offset}",
                        f.offset
                    )));
                }
                if !pass(&inner.gate, stop, reset).await {
                    return Ok(());
                }
                let n = f.payload.len() as u64;
                let end = match inner.store.append_commit_log_raw(offset, f.payload).await {
                    Ok(end) => end,
                    Err(e @ StoreError::NotAvailable(_)) => return Err(e.into()),
                    Err(e) => {
                        let _ =
                            send(inner, &mut w, &Frame::error(&e.to_string()), stop, reset).await;
                        return Err(e.into());
                    }
                };
                offset = end;
                inner.bytes.fetch_add(n, Ordering::Relaxed);
                inner.master_offset.fetch_max(end, Ordering::AcqRel);
            }
            FrameKind::Heartbeat => {
                inner.master_offset.store(f.offset, Ordering::Release);
            }
            FrameKind::Error => return Err(HaError::Remote(f.text())),
            k => {
                return Err(HaError::Protocol(format!(
                    "unexpected {k:?} frame from master"
                )))
            }
        }
        send(
            inner,
            &mut w,
            &Frame::control(FrameKind::Ack, offset),
            stop,
            reset,
        )
        .await?;
    }
}

async fn send(
    inner: &SlaveInner,
    w: &mut BoxWrite,
    f: &Frame,
    stop: &ShutdownSignal,
    reset: &ShutdownSignal,
) -> Result<(), HaError> {
    let idle = inner.cfg.idle_timeout;
    match unless(
        rt::timeout(&*inner.rt, idle, write_frame(w, f)),
        stop,
        reset,
    )
    .await
    {
        None => Ok(()),
        Some(Err(_)) => Err(HaError::Idle(idle)),
        Some(Ok(r)) => r,
    }
}
