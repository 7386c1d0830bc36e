//! Stopping background loops: a one-shot [`ShutdownSignal`] and a [`TaskGroup`] that tracks
//! spawned tasks so their owner can stop them and wait for them with a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{FusedFuture, FutureExt, Shared};

use super::{timeout, Runtime};
use crate::util::MutexExt;

/// A one-shot, cloneable "stop now" flag that tasks can both check and await.
///
/// All clones share one state: [`trigger`](ShutdownSignal::trigger) on any clone wakes every
/// [`wait`](ShutdownSignal::wait)er, now and later.
///
/// ```
/// use rocketmq_rs_remoting::rt::ShutdownSignal;
///
/// let signal = ShutdownSignal::new();
/// let waiter = signal.wait();
/// assert!(!signal.is_triggered());
/// signal.clone().trigger();
/// futures::executor::block_on(waiter);
/// assert!(signal.is_triggered());
/// ```
#[derive(Clone)]
pub struct ShutdownSignal {
    inner: Arc<SignalInner>,
}

struct SignalInner {
    fired: AtomicBool,
    tx: Mutex<Option<oneshot::Sender<()>>>,
    rx: Shared<oneshot::Receiver<()>>,
}

impl ShutdownSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        let (tx, rx) = oneshot::channel();
        ShutdownSignal {
            inner: Arc::new(SignalInner {
                fired: AtomicBool::new(false),
                tx: Mutex::new(Some(tx)),
                rx: rx.shared(),
            }),
        }
    }

    /// Fires the signal; idempotent.
    pub fn trigger(&self) {
        self.inner.fired.store(true, Ordering::Release);
        // Dropping the sender completes the shared receiver for every waiter.
        drop(lock(&self.inner.tx).take());
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// A future that completes once the signal has fired (at once if it already has).
    pub fn wait(&self) -> WaitShutdown {
        WaitShutdown {
            rx: self.inner.rx.clone(),
            signal: Arc::clone(&self.inner),
            registered: None,
        }
    }
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

/// The future returned by [`ShutdownSignal::wait`]. It is `Unpin` and fused, so a poll loop can
/// keep one and poll it repeatedly.
#[must_use = "futures do nothing unless polled"]
pub struct WaitShutdown {
    rx: Shared<oneshot::Receiver<()>>,
    signal: Arc<SignalInner>,
    /// The waker the shared receiver holds for us. Polling `Shared` again takes its lock, so a
    /// poll loop (a connection's reader polls this once per wake-up) skips it while the signal
    /// has not fired and the waker is still the same.
    registered: Option<Waker>,
}

impl Future for WaitShutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.rx.is_terminated() {
            return Poll::Ready(());
        }
        if let Some(w) = &this.registered {
            // `trigger` sets the flag before waking the registered wakers, so a clear flag
            // means our registered waker is still due to be woken.
            if !this.signal.fired.load(Ordering::Acquire) && w.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        // Completes with `Err(Canceled)` when the sender is dropped: that is the trigger.
        match this.rx.poll_unpin(cx) {
            Poll::Ready(_) => {
                this.registered = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                this.registered = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl FusedFuture for WaitShutdown {
    fn is_terminated(&self) -> bool {
        self.rx.is_terminated()
    }
}

impl fmt::Debug for WaitShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitShutdown").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected state stays consistent even if a holder panicked: every critical section is
    // a single insert/remove/take.
    m.lock_unpoisoned()
}

/// A set of background tasks with a common [`ShutdownSignal`], stopped together.
///
/// Tasks are detached on the runtime; the group only remembers how to abort them.
/// [`shutdown`](TaskGroup::shutdown) fires the signal, waits up to a deadline for the tasks to
/// return on their own, then aborts the stragglers.
///
/// ```
/// # #[cfg(feature = "runtime-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use rocketmq_rs_remoting::rt::{Runtime, TaskGroup, TokioRuntime};
///
/// let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
/// let group = TaskGroup::new(rt.clone());
/// let stop = group.signal().wait();
/// let rt2 = rt.clone();
/// group.spawn(async move {
///     // A periodic job: tick until the group shuts down.
///     let mut stop = stop;
///     loop {
///         let tick = rt2.sleep(Duration::from_millis(10));
///         if let futures::future::Either::Right(_) = futures::future::select(tick, &mut stop).await {
///             break;
///         }
///     }
/// });
/// assert_eq!(group.len(), 1);
/// assert!(group.shutdown(Duration::from_secs(1)).await, "the loop stopped by itself");
/// assert_eq!(group.len(), 0);
/// # });
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    inner: Arc<GroupInner>,
}

struct GroupInner {
    rt: Arc<dyn Runtime>,
    signal: ShutdownSignal,
    all_done: ShutdownSignal,
    /// Set (under the state lock) when shutdown gives up waiting: members end at their next poll.
    aborting: AtomicBool,
    state: Mutex<GroupState>,
}

/// The members, as slots of a table reused through a free list, so that spawning allocates
/// nothing beyond the task itself once the table has grown (one task per async send makes this a
/// hot path). A slot holds the member's waker once it has been pending, for the abort.
struct GroupState {
    closing: bool,
    live: usize,
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl GroupState {
    fn release(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.free.push(slot);
        self.live -= 1;
    }
}

impl TaskGroup {
    /// An empty group spawning on `rt`.
    pub fn new(rt: Arc<dyn Runtime>) -> Self {
        TaskGroup {
            inner: Arc::new(GroupInner {
                rt,
                signal: ShutdownSignal::new(),
                all_done: ShutdownSignal::new(),
                aborting: AtomicBool::new(false),
                state: Mutex::new(GroupState {
                    closing: false,
                    live: 0,
                    slots: Vec::new(),
                    free: Vec::new(),
                }),
            }),
        }
    }

    /// The runtime the group spawns on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }

    /// The group's shutdown signal: long-running tasks should select on
    /// [`ShutdownSignal::wait`] and return when it fires.
    pub fn signal(&self) -> &ShutdownSignal {
        &self.inner.signal
    }

    /// Spawns `fut` as a member of the group. Returns `false`, without running `fut`, once the
    /// group is shutting down.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) -> bool {
        let slot = {
            let mut state = lock(&self.inner.state);
            if state.closing {
                return false;
            }
            state.live += 1;
            match state.free.pop() {
                Some(slot) => slot,
                None => {
                    state.slots.push(None);
                    state.slots.len() - 1
                }
            }
        };
        let mut member = Member {
            group: Arc::clone(&self.inner),
            slot,
            registered: None,
        };
        // One allocation per task: the member's future lives pinned inside the spawned one.
        self.inner.rt.spawn(Box::pin(async move {
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| member.poll(fut.as_mut(), cx)).await
        }));
        true
    }

    /// Number of member tasks still running.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).live
    }

    /// Whether no member task is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fires the signal, refuses new tasks, and waits up to `grace` for the running tasks to end;
    /// tasks still running then are aborted. Returns `true` if every task ended by itself.
    /// Idempotent; concurrent callers all wait.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.signal.trigger();
        {
            let mut state = lock(&self.inner.state);
            state.closing = true;
            if state.live == 0 {
                self.inner.all_done.trigger();
            }
        }
        if timeout(&*self.inner.rt, grace, self.inner.all_done.wait())
            .await
            .is_ok()
        {
            return true;
        }
        let stragglers: Vec<Waker> = {
            let mut state = lock(&self.inner.state);
            self.inner.aborting.store(true, Ordering::Release);
            state.slots.iter_mut().filter_map(Option::take).collect()
        };
        tracing::debug!(
            count = lock(&self.inner.state).live,
            "aborting tasks that ignored shutdown"
        );
        // A member that has never been pending yet sees the flag at its first poll; the others
        // are woken to see it now.
        for waker in stragglers {
            waker.wake();
        }
        false
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("tasks", &self.len())
            .field("signal", &self.inner.signal)
            .finish()
    }
}

/// A member task's link to its group: ends the task once the group aborts, and removes it from
/// the group when it ends, however it ends (returned, aborted, or dropped by an executor that is
/// shutting down).
struct Member {
    group: Arc<GroupInner>,
    slot: usize,
    /// The waker last stored in the slot, so that a task polled again by the same waker (the
    /// usual case) does not take the group lock.
    registered: Option<Waker>,
}

impl Member {
    fn poll<F: Future<Output = ()>>(&mut self, fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<()> {
        if self.group.aborting.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if fut.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if matches!(&self.registered, Some(w) if w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let waker = cx.waker().clone();
        let mut state = lock(&self.group.state);
        // The flag is set under this lock before the wakers are collected, so a member either
        // sees it here or has its waker collected.
        if self.group.aborting.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        state.slots[self.slot] = Some(waker.clone());
        drop(state);
        self.registered = Some(waker);
        Poll::Pending
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut state = lock(&self.group.state);
        state.release(self.slot);
        if state.closing && state.live == 0 {
            self.group.all_done.trigger();
        }
    }
}

#[cfg(all(test, feature = "runtime-tokio"))]
mod tests {
    use super::*;
    use crate::rt::TokioRuntime;
    use std::sync::atomic::AtomicUsize;

    fn group() -> TaskGroup {
        TaskGroup::new(Arc::new(TokioRuntime::try_current().unwrap()))
    }

    /// Counts drops, to see that an aborted task's future is really dropped.
    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stragglers_are_aborted_and_dropped() {
        let g = group();
        let drops = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let d = DropCount(Arc::clone(&drops));
            // Never completes and ignores the signal.
            assert!(g.spawn(async move {
                let _d = d;
                futures::future::pending::<()>().await;
            }));
        }
        // Let every member reach its pending state (its waker stored).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(g.len(), 3);
        assert!(!g.shutdown(Duration::from_millis(20)).await);
        for _ in 0..200 {
            if g.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(g.len(), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert!(!g.spawn(async {}), "closed group refuses tasks");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_are_reused_and_finished_tasks_leave() {
        let g = group();
        for round in 0..3 {
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let rx = rx.shared();
            for _ in 0..100 {
                let rx = rx.clone();
                assert!(g.spawn(async move {
                    let _ = rx.await;
                }));
            }
            assert_eq!(g.len(), 100, "round {round}");
            drop(tx);
            for _ in 0..400 {
                if g.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(g.len(), 0, "round {round}");
        }
        assert!(
            lock(&g.inner.state).slots.len() <= 100,
            "slots are reused across rounds"
        );
        assert!(g.shutdown(Duration::from_secs(1)).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawn_after_shutdown_is_refused() {
        let g = group();
        assert!(g.shutdown(Duration::from_millis(1)).await);
        assert!(!g.spawn(async { panic!("must not run") }));
    }
}
