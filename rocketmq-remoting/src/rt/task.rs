//! Stopping background loops: a one-shot [`ShutdownSignal`] and a [`TaskGroup`] that tracks
//! spawned tasks so their owner can stop them and wait for them with a deadline.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable, FusedFuture, FutureExt, Shared};

use super::{timeout, Runtime};

/// A one-shot, cloneable "stop now" flag that tasks can both check and await.
///
/// All clones share one state: [`trigger`](ShutdownSignal::trigger) on any clone wakes every
/// [`wait`](ShutdownSignal::wait)er, now and later.
///
/// ```
/// use rocketmq_remoting::rt::ShutdownSignal;
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
        WaitShutdown(self.inner.rx.clone())
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
pub struct WaitShutdown(Shared<oneshot::Receiver<()>>);

impl Future for WaitShutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.is_terminated() {
            return Poll::Ready(());
        }
        // Completes with `Err(Canceled)` when the sender is dropped: that is the trigger.
        self.0.poll_unpin(cx).map(|_| ())
    }
}

impl FusedFuture for WaitShutdown {
    fn is_terminated(&self) -> bool {
        self.0.is_terminated()
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
    m.lock().unwrap_or_else(|e| e.into_inner())
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
/// use rocketmq_remoting::rt::{Runtime, TaskGroup, TokioRuntime};
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
    state: Mutex<GroupState>,
}

struct GroupState {
    next_id: u64,
    closing: bool,
    tasks: HashMap<u64, AbortHandle>,
}

impl TaskGroup {
    /// An empty group spawning on `rt`.
    pub fn new(rt: Arc<dyn Runtime>) -> Self {
        TaskGroup {
            inner: Arc::new(GroupInner {
                rt,
                signal: ShutdownSignal::new(),
                all_done: ShutdownSignal::new(),
                state: Mutex::new(GroupState {
                    next_id: 0,
                    closing: false,
                    tasks: HashMap::new(),
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
        let (handle, registration) = AbortHandle::new_pair();
        let id = {
            let mut state = lock(&self.inner.state);
            if state.closing {
                return false;
            }
            let id = state.next_id;
            state.next_id += 1;
            state.tasks.insert(id, handle);
            id
        };
        let task = Abortable::new(fut, registration);
        let done = TaskDone {
            group: Arc::clone(&self.inner),
            id,
        };
        self.inner.rt.spawn(Box::pin(async move {
            let _done = done;
            let _ = task.await;
        }));
        true
    }

    /// Number of member tasks still running.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).tasks.len()
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
            if state.tasks.is_empty() {
                self.inner.all_done.trigger();
            }
        }
        if timeout(&*self.inner.rt, grace, self.inner.all_done.wait())
            .await
            .is_ok()
        {
            return true;
        }
        let stragglers: Vec<AbortHandle> =
            lock(&self.inner.state).tasks.values().cloned().collect();
        tracing::debug!(
            count = stragglers.len(),
            "aborting tasks that ignored shutdown"
        );
        for handle in stragglers {
            handle.abort();
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

/// Removes a task from its group when the task ends, however it ends (returned, aborted, or
/// dropped by an executor that is shutting down).
struct TaskDone {
    group: Arc<GroupInner>,
    id: u64,
}

impl Drop for TaskDone {
    fn drop(&mut self) {
        let mut state = lock(&self.group.state);
        state.tasks.remove(&self.id);
        if state.closing && state.tasks.is_empty() {
            self.group.all_done.trigger();
        }
    }
}
