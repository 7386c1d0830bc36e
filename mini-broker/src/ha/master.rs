//! The master side of replication ([`HaMaster`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::{self, BoxRead, BoxWrite, Runtime, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::util::MutexExt;

use super::event::Event;
use super::protocol::{read_frame, write_frame, Frame, FrameKind};
use super::{chunk_extent, unless, HaConfig, HaError};
use crate::faults::HoldGate;
use crate::store::MessageStore;

/// Outcome of [`HaMaster::wait_for_replica`], mapped by a `SYNC_MASTER` send to its response
/// code: `Ok` → SUCCESS (0), `Timeout` → FLUSH_SLAVE_TIMEOUT (12), `NotAvailable` →
/// SLAVE_NOT_AVAILABLE (11). The message is stored on the master in all three cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaAck {
    /// A slave acknowledged the commit log up to (at least) the offset.
    Ok,
    /// A slave is connected but did not acknowledge within the timeout.
    Timeout,
    /// No slave is connected, or the best one lags more than
    /// [`max_slave_gap`](HaConfig::max_slave_gap) behind the offset, or the service stopped.
    NotAvailable,
}

/// A connected slave as the master sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveInfo {
    /// The slave's address (its end of the replication connection).
    pub addr: SocketAddr,
    /// The slave's commit log is known to end here.
    pub acked_offset: i64,
}

struct AckState {
    /// Highest offset any slave ever acknowledged in this master's life (Apache
    /// `push2SlaveMaxOffset`): data below it is on at least one slave.
    acked: i64,
    slaves: HashMap<u64, SlaveInfo>,
    /// Waiting sends by the offset they need; one acknowledgement releases every satisfied
    /// waiter at once (group wake-up, no polling).
    waiters: BTreeMap<i64, Vec<oneshot::Sender<()>>>,
}

struct MasterInner {
    store: MessageStore,
    cfg: HaConfig,
    rt: Arc<dyn Runtime>,
    addr: SocketAddr,
    tasks: TaskGroup,
    data: Event,
    acks: Mutex<AckState>,
    next_id: AtomicU64,
    /// Closed while the broker is frozen: nothing is sent and nothing acted on.
    hold: Arc<HoldGate>,
}

/// The master's replication service: listens on the HA address, streams the commit log to
/// every connected slave from the offset the slave reports, and tracks acknowledgements.
///
/// Dropping it without [`shutdown`](Self::shutdown) stops its tasks in the background.
pub struct HaMaster {
    inner: Arc<MasterInner>,
}

impl std::fmt::Debug for HaMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaMaster")
            .field("addr", &self.inner.addr)
            .field("slaves", &self.slaves())
            .finish()
    }
}

impl Drop for HaMaster {
    fn drop(&mut self) {
        self.inner.tasks.signal().trigger();
    }
}

impl HaMaster {
    /// Binds `listen` (port 0: OS-chosen, see [`local_addr`](Self::local_addr)) and starts
    /// accepting slaves.
    pub async fn start(
        store: MessageStore,
        listen: SocketAddr,
        cfg: HaConfig,
        rt: Arc<dyn Runtime>,
    ) -> Result<HaMaster, HaError> {
        cfg.validate()?;
        let listener = rt.bind(listen).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(MasterInner {
            store,
            cfg,
            tasks: TaskGroup::new(Arc::clone(&rt)),
            rt,
            addr,
            data: Event::new(),
            acks: Mutex::new(AckState {
                acked: 0,
                slaves: HashMap::new(),
                waiters: BTreeMap::new(),
            }),
            next_id: AtomicU64::new(1),
            hold: Arc::default(),
        });
        let me = Arc::clone(&inner);
        inner.tasks.spawn(accept_loop(me, listener));
        tracing::info!(%addr, "replication master listening");
        Ok(HaMaster { inner })
    }

    /// The bound HA address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The gate a broker freeze closes ([`crate::faults::Faults::freeze`]): while closed
    /// the master sends its slaves nothing (no data, no heartbeats) and acts on nothing they
    /// send, so their sessions end by idle timeout, as with a stopped process.
    pub fn hold_gate(&self) -> Arc<HoldGate> {
        Arc::clone(&self.inner.hold)
    }

    /// Tells the transfer tasks that the commit log grew. Cheap (no allocation when no
    /// transfer is idle-waiting); call it after every put (e.g. from the store's arrival
    /// listener). Without it new data is still found within
    /// [`poll_interval`](HaConfig::poll_interval).
    pub fn notify_data(&self) {
        self.inner.data.notify();
    }

    /// Waits until a slave has the commit log up to `offset` (the end of the message just
    /// stored: `commit_log_offset + store_size`), at most `timeout`. Answers
    /// [`ReplicaAck::NotAvailable`] at once when no slave is connected or the best connected
    /// slave lags more than [`max_slave_gap`](HaConfig::max_slave_gap) behind `offset`.
    pub async fn wait_for_replica(&self, offset: i64, timeout: Duration) -> ReplicaAck {
        let rx = {
            let mut st = self.inner.acks.lock_unpoisoned();
            if st.acked >= offset {
                return ReplicaAck::Ok;
            }
            if !slave_ok(&st, offset, self.inner.cfg.max_slave_gap) {
                return ReplicaAck::NotAvailable;
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.entry(offset).or_default().push(tx);
            rx
        };
        self.notify_data();
        match rt::timeout(&*self.inner.rt, timeout, rx).await {
            Ok(Ok(())) => ReplicaAck::Ok,
            // Sender dropped: the service shut down.
            Ok(Err(_)) => ReplicaAck::NotAvailable,
            Err(_) => {
                let mut st = self.inner.acks.lock_unpoisoned();
                if let Some(v) = st.waiters.get_mut(&offset) {
                    v.retain(|s| !s.is_canceled());
                    if v.is_empty() {
                        st.waiters.remove(&offset);
                    }
                }
                // An acknowledgement may have raced with the deadline.
                if st.acked >= offset {
                    ReplicaAck::Ok
                } else {
                    ReplicaAck::Timeout
                }
            }
        }
    }

    /// Apache `HAService.isSlaveOK`: a slave is connected and the best one is less than
    /// [`max_slave_gap`](HaConfig::max_slave_gap) bytes behind `offset`.
    pub fn is_slave_ok(&self, offset: i64) -> bool {
        slave_ok(
            &self.inner.acks.lock_unpoisoned(),
            offset,
            self.inner.cfg.max_slave_gap,
        )
    }

    /// Highest offset any slave acknowledged since this master started.
    pub fn acked_offset(&self) -> i64 {
        self.inner.acks.lock_unpoisoned().acked
    }

    /// Bytes the best connected slave is behind the master's commit log; `None` when no slave
    /// is connected.
    pub fn replication_lag(&self) -> Option<i64> {
        let best = self
            .inner
            .acks
            .lock_unpoisoned()
            .slaves
            .values()
            .map(|s| s.acked_offset)
            .max()?;
        Some((self.inner.store.commit_log_max_offset() - best).max(0))
    }

    /// Number of connected slaves.
    pub fn connected_slaves(&self) -> usize {
        self.inner.acks.lock_unpoisoned().slaves.len()
    }

    /// The connected slaves.
    pub fn slaves(&self) -> Vec<SlaveInfo> {
        self.inner
            .acks
            .lock_unpoisoned()
            .slaves
            .values()
            .cloned()
            .collect()
    }

    /// Tells the service to stop without waiting (as dropping it does): its tasks end in the
    /// background. Use [`shutdown`](Self::shutdown) to wait for them.
    pub fn close(&self) {
        self.inner.tasks.signal().trigger();
    }

    /// Stops accepting, closes every slave connection and releases waiting sends (they get
    /// [`ReplicaAck::NotAvailable`]). Idempotent.
    pub async fn shutdown(&self) {
        self.inner.tasks.shutdown(Duration::from_secs(3)).await;
        let waiters = std::mem::take(&mut self.inner.acks.lock_unpoisoned().waiters);
        drop(waiters);
    }
}

fn slave_ok(st: &AckState, offset: i64, gap: i64) -> bool {
    st.slaves
        .values()
        .map(|s| s.acked_offset)
        .max()
        .is_some_and(|best| offset - best < gap)
}

impl MasterInner {
    fn register(&self, addr: SocketAddr, offset: i64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.acks.lock_unpoisoned().slaves.insert(
            id,
            SlaveInfo {
                addr,
                acked_offset: offset,
            },
        );
        self.on_ack(id, offset);
        id
    }

    fn unregister(&self, id: u64) {
        self.acks.lock_unpoisoned().slaves.remove(&id);
    }

    fn on_ack(&self, id: u64, offset: i64) {
        let released = {
            let mut st = self.acks.lock_unpoisoned();
            if let Some(s) = st.slaves.get_mut(&id) {
                s.acked_offset = s.acked_offset.max(offset);
            }
            if offset <= st.acked {
                return;
            }
            st.acked = offset;
            let rest = st.waiters.split_off(&(offset + 1));
            std::mem::replace(&mut st.waiters, rest)
        };
        for tx in released.into_values().flatten() {
            let _ = tx.send(());
        }
    }
}

async fn accept_loop(inner: Arc<MasterInner>, mut listener: Box<dyn rt::Listener>) {
    let stop = inner.tasks.signal().clone();
    loop {
        let accepted = {
            let acc = listener.accept();
            match select(acc, stop.wait()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return,
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                let me = Arc::clone(&inner);
                inner.tasks.spawn(async move {
                    let (r, w) = stream.into_split();
                    match serve(&me, r, w, peer).await {
                        Ok(()) => tracing::info!(%peer, "replication slave disconnected"),
                        Err(e) => tracing::warn!(%peer, error = %e, "replication slave dropped"),
                    }
                });
            }
            Err(e) => {
                // Typically out of file descriptors: do not spin.
                tracing::warn!(error = %e, "replication accept failed");
                if unless(inner.rt.sleep(Duration::from_millis(100)), &stop, &stop)
                    .await
                    .is_none()
                {
                    return;
                }
            }
        }
    }
}

async fn send(
    w: &mut BoxWrite,
    f: &Frame,
    idle: Duration,
    rt: &dyn Runtime,
    closed: &ShutdownSignal,
    stop: &ShutdownSignal,
) -> Result<bool, HaError> {
    match unless(rt::timeout(rt, idle, write_frame(w, f)), closed, stop).await {
        None => Ok(false),
        Some(Err(_)) => Err(HaError::Idle(idle)),
        Some(Ok(r)) => r.map(|()| true),
    }
}

async fn serve(
    inner: &Arc<MasterInner>,
    mut r: BoxRead,
    mut w: BoxWrite,
    peer: SocketAddr,
) -> Result<(), HaError> {
    let cfg = &inner.cfg;
    let stop = inner.tasks.signal().clone();
    let rt = &*inner.rt;
    let hello = match unless(
        rt::timeout(rt, cfg.idle_timeout, read_frame(&mut r, 0)),
        &stop,
        &stop,
    )
    .await
    {
        None => return Ok(()),
        Some(Err(_)) => return Err(HaError::Idle(cfg.idle_timeout)),
        Some(Ok(f)) => f?,
    };
    // Frozen: the hello was read (a stopped process's kernel buffers it), nothing answers.
    if unless(inner.hold.opened(), &stop, &stop).await.is_none() {
        return Ok(());
    }
    if hello.kind != FrameKind::Hello {
        return Err(HaError::Protocol(format!(
            "expected hello, got {:?}",
            hello.kind
        )));
    }
    let name = hello.text();
    let (min, max) = (
        inner.store.commit_log_min_offset(),
        inner.store.commit_log_max_offset(),
    );
    let refusal = if !cfg.broker_name.is_empty() && !name.is_empty() && name != cfg.broker_name {
        Some(format!(
            "slave of broker {name:?} connected to master of broker {:?}",
            cfg.broker_name
        ))
    } else if hello.offset > max {
        Some(format!(
            "slave commit log ends at {} beyond the master's end {max}: the slave holds data this master does not have",
            hello.offset
        ))
    } else if hello.offset < min {
        Some(format!(
            "slave commit log ends at {} below the master's oldest retained offset {min}",
            hello.offset
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        let never = ShutdownSignal::new();
        let _ = send(
            &mut w,
            &Frame::error(&reason),
            cfg.idle_timeout,
            rt,
            &never,
            &stop,
        )
        .await;
        return Err(HaError::Protocol(reason));
    }
    let id = inner.register(peer, hello.offset);
    tracing::info!(%peer, offset = hello.offset, master_offset = max, "replication slave connected");
    let closed = ShutdownSignal::new();
    {
        let me = Arc::clone(inner);
        let closed = closed.clone();
        inner.tasks.spawn(async move {
            let res = read_acks(&me, id, &mut r, &closed).await;
            if let Err(e) = res {
                tracing::warn!(%peer, error = %e, "replication slave connection failed");
            }
            closed.trigger();
        });
    }
    let res = transfer(inner, &mut w, hello.offset, &closed).await;
    closed.trigger();
    inner.unregister(id);
    res
}

async fn read_acks(
    inner: &MasterInner,
    id: u64,
    r: &mut BoxRead,
    closed: &ShutdownSignal,
) -> Result<(), HaError> {
    let idle = inner.cfg.idle_timeout;
    let stop = inner.tasks.signal();
    loop {
        let f = match unless(
            rt::timeout(&*inner.rt, idle, read_frame(r, 0)),
            closed,
            stop,
        )
        .await
        {
            None => return Ok(()),
            Some(Err(_)) => return Err(HaError::Idle(idle)),
            Some(Ok(f)) => f?,
        };
        if inner.hold.is_closed() && unless(inner.hold.opened(), closed, stop).await.is_none() {
            return Ok(());
        }
        match f.kind {
            FrameKind::Ack => {
                let max = inner.store.commit_log_max_offset();
                if f.offset > max {
                    return Err(HaError::Protocol(format!(
                        "slave acknowledged offset {} beyond the master's end {max}",
                        f.offset
                    )));
                }
                inner.on_ack(id, f.offset);
            }
            FrameKind::Error => return Err(HaError::Remote(f.text())),
            k => {
                return Err(HaError::Protocol(format!(
                    "unexpected {k:?} frame from slave"
                )))
            }
        }
    }
}

async fn transfer(
    inner: &MasterInner,
    w: &mut BoxWrite,
    from: i64,
    closed: &ShutdownSignal,
) -> Result<(), HaError> {
    let cfg = &inner.cfg;
    let rt = &*inner.rt;
    let stop = inner.tasks.signal();
    let mut next = from;
    let mut last_sent = rt.now();
    loop {
        if closed.is_triggered() || stop.is_triggered() {
            return Ok(());
        }
        if inner.hold.is_closed() && unless(inner.hold.opened(), closed, stop).await.is_none() {
            return Ok(());
        }
        // Listen before looking, so a put between the look and the wait is not missed.
        let wake = inner.data.listen();
        let max = inner.store.commit_log_max_offset();
        if max > next {
            let store = inner.store.clone();
            let batch = cfg.transfer_batch_bytes;
            let data = rt::run_blocking(rt, move || store.read_commit_log(next, batch)).await?;
            if !data.is_empty() {
                let (n, advance) = chunk_extent(&data)?;
                if n > cfg.max_frame_bytes {
                    return Err(HaError::Config(format!(
                        "a {n}-byte chunk exceeds max_frame_bytes {}",
                        cfg.max_frame_bytes
                    )));
                }
                let f = Frame {
                    kind: FrameKind::Data,
                    offset: next,
                    payload: data.slice(..n),
                };
                if !send(w, &f, cfg.idle_timeout, rt, closed, stop).await? {
                    return Ok(());
                }
                next += advance;
                last_sent = rt.now();
                continue;
            }
        }
        let since = rt.now().saturating_duration_since(last_sent);
        if since >= cfg.heartbeat_interval {
            let f = Frame::control(FrameKind::Heartbeat, max);
            if !send(w, &f, cfg.idle_timeout, rt, closed, stop).await? {
                return Ok(());
            }
            last_sent = rt.now();
            continue;
        }
        let nap = cfg.poll_interval.min(cfg.heartbeat_interval - since);
        let timer = rt.sleep(nap);
        if unless(select(wake, timer), closed, stop).await.is_none() {
            return Ok(());
        }
    }
}
