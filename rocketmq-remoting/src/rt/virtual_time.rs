//! Virtual time for tests: [`VirtualClock`] and the [`VirtualRuntime`] that runs on it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncWrite};

use super::{AsyncStream, BoxFuture, BoxRead, BoxWrite, Clock, Listener, Runtime, TimeSource};
use crate::util::MutexExt;

/// How long [`VirtualClock::settle`] waits in real time for activity to die down before it
/// gives up (and logs): a task that never idles (a busy loop) must not hang a test.
const SETTLE_CAP: Duration = Duration::from_secs(5);

/// Quiet checks in a row that count as settled. Wake-ups cross threads (a reactor delivering
/// loopback bytes, a worker picking up a task), so one quiet look is not enough.
const QUIET_ROUNDS: u32 = 3;

/// How often a waiting [`VirtualClock::settle`] looks again without being told: the safety net
/// behind the idle notifications, and how often it checks [`SETTLE_CAP`].
const SETTLE_RECHECK: Duration = Duration::from_millis(10);

/// The shared state of one virtual clock. Leaked (it lives as long as the process) so that
/// [`Clock`] stays `Copy`: a few hundred bytes per clock, one clock per test cluster.
struct Core {
    base: Instant,
    base_ms: i64,
    elapsed_ns: AtomicU64,
    /// Pending sleeps: (deadline in ns since `base`, sequence) → waker.
    timers: Mutex<BTreeMap<(u64, u64), Waker>>,
    seq: AtomicU64,
    /// Tasks queued or being polled, blocking jobs, dials and `Clock::busy` work in flight.
    active: AtomicI64,
    /// In-process connections by (client address, server address).
    conns: Mutex<HashMap<(SocketAddr, SocketAddr), Arc<Conn>>>,
    /// Addresses of the listeners bound through the virtual runtime.
    listeners: Mutex<Vec<SocketAddr>>,
    steps: AtomicU64,
    /// Deadlines are rounded up to a multiple of this (ns; 0 = exact).
    granularity_ns: AtomicU64,
    /// Settles waiting for activity to end, woken when it may have ended.
    idle_waiters: Mutex<Vec<Waker>>,
}

impl Core {
    /// One unit of activity ended; wakes the waiting settles when it was the last.
    fn end_active(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.notify_idle();
        }
    }

    /// Wakes the settles waiting for activity to end (they look again).
    fn notify_idle(&self) {
        let waiters = std::mem::take(&mut *self.idle_waiters.lock_unpoisoned());
        for w in waiters {
            w.wake();
        }
    }

    fn elapsed(&self) -> u64 {
        self.elapsed_ns.load(Ordering::SeqCst)
    }

    /// True while anything the clock waits for is in flight.
    fn busy(&self) -> bool {
        if self.active.load(Ordering::SeqCst) > 0 {
            return true;
        }
        self.conns.lock_unpoisoned().values().any(|c| {
            c.counted.load(Ordering::SeqCst)
                && !c.closed.load(Ordering::SeqCst)
                && c.net.load(Ordering::SeqCst) != 0
        })
    }

    /// Moves the clock to the earliest deadline (at most `at`) of the sleeps registered before
    /// sequence number `before`, and wakes those due then; false when there are none.
    fn fire_next(&self, at: u64, before: u64) -> bool {
        let due: Vec<Waker> = {
            let mut t = self.timers.lock_unpoisoned();
            let Some(deadline) = t
                .keys()
                .take_while(|(d, _)| *d <= at)
                .find(|(_, seq)| *seq < before)
                .map(|(d, _)| *d)
            else {
                return false;
            };
            self.elapsed_ns.fetch_max(deadline, Ordering::SeqCst);
            let keys: Vec<(u64, u64)> = t
                .range((deadline, 0)..=(deadline, u64::MAX))
                .filter(|(k, _)| k.1 < before)
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| t.remove(k)).collect()
        };
        for w in due {
            w.wake();
        }
        true
    }

    /// Wakes every sleeper due at or before `deadline`.
    fn fire_until(&self, deadline: u64) -> usize {
        let due: Vec<Waker> = {
            let mut t = self.timers.lock_unpoisoned();
            let later = t.split_off(&(deadline.saturating_add(1), 0));
            let due = std::mem::replace(&mut *t, later);
            due.into_values().collect()
        };
        let n = due.len();
        for w in due {
            w.wake();
        }
        n
    }
}

impl TimeSource for Core {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.elapsed())
    }

    fn now_ms(&self) -> i64 {
        self.base_ms
            .saturating_add(i64::try_from(self.elapsed() / 1_000_000).unwrap_or(i64::MAX))
    }

    fn begin_work(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    fn end_work(&self) {
        self.end_active();
    }
}

/// A clock for tests that moves only when told to ([`advance`](VirtualClock::advance)).
/// Cheap to copy; every copy is the same clock, which starts at the real time of its
/// creation (monotonic and wall).
///
/// A [`VirtualRuntime`] (from [`runtime`](VirtualClock::runtime)) wraps a real runtime
/// (tokio, smol, async-std). Tasks, sockets and blocking work stay real; only time is virtual: [`Runtime::sleep`] completes when the
/// virtual clock passes its deadline, and [`Runtime::clock`] reads virtual monotonic and wall
/// time. Nothing moves the clock but [`VirtualClock::advance`], which walks through the
/// pending deadlines in order: at each one it wakes the sleepers that are due and waits until
/// everything the wake-up set off has finished (tasks idle, bytes between in-process sockets
/// read, blocking jobs and [`Clock::busy`] work done) before it moves on. So a chain of
/// timers, network round trips and more timers (a retry schedule, say) plays out in order, at
/// the speed of the machine rather than the wall clock.
///
/// ```
/// # #[cfg(feature = "runtime-tokio")]
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use rocketmq_rs_remoting::rt::{default_runtime, Runtime, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let rt = clock.runtime(default_runtime().unwrap());
/// let fired = Arc::new(AtomicBool::new(false));
/// let f = fired.clone();
/// let rt2 = rt.clone();
/// rt.spawn(Box::pin(async move {
///     rt2.sleep(Duration::from_secs(3600)).await;
///     f.store(true, Ordering::SeqCst);
/// }));
/// clock.advance(Duration::from_secs(3599)).await;
/// assert!(!fired.load(Ordering::SeqCst));
/// clock.advance(Duration::from_secs(1)).await; // an hour, in microseconds of real time
/// assert!(fired.load(Ordering::SeqCst));
/// # });
/// ```
///
/// What it does not see: tasks spawned on the real runtime directly (not through the
/// `VirtualRuntime`), and peers outside the process. A connection to an outside peer works,
/// but `advance` cannot tell whether a reply is on its way; it settles on the tasks alone.
#[derive(Clone, Copy)]
pub struct VirtualClock {
    core: &'static Core,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .field("pending_timers", &self.pending_timers())
            .finish()
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock reading the current real time, frozen until advanced.
    pub fn new() -> Self {
        let core = Box::leak(Box::new(Core {
            base: Instant::now(),
            base_ms: crate::util::now_ms(),
            elapsed_ns: AtomicU64::new(0),
            timers: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            active: AtomicI64::new(0),
            conns: Mutex::new(HashMap::new()),
            listeners: Mutex::new(Vec::new()),
            steps: AtomicU64::new(0),
            granularity_ns: AtomicU64::new(0),
            idle_waiters: Mutex::new(Vec::new()),
        }));
        VirtualClock { core }
    }

    /// A runtime that runs tasks, sockets and blocking work on `inner` and time on this
    /// clock.
    pub fn runtime(&self, inner: Arc<dyn Runtime>) -> Arc<dyn Runtime> {
        Arc::new(VirtualRuntime {
            inner,
            clock: *self,
        })
    }

    /// This clock as a [`Clock`] (what [`VirtualRuntime::clock`] returns).
    pub fn clock(&self) -> Clock {
        Clock::from_source(self.core)
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.core.now()
    }

    /// The current virtual wall time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.core.now_ms()
    }

    /// Virtual time passed since the clock was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.core.elapsed())
    }

    /// The number of sleeps waiting for the clock.
    pub fn pending_timers(&self) -> usize {
        self.core.timers.lock_unpoisoned().len()
    }

    /// Deadlines the clock has stopped at so far (each a round of wake-ups and settling):
    /// a measure of how much work [`advance`](Self::advance) did.
    pub fn steps(&self) -> u64 {
        self.core.steps.load(Ordering::Relaxed)
    }

    /// Lets [`advance`](Self::advance) stop only at multiples of `g` (since the clock's
    /// creation): every sleep due within one step of `g` wakes together at its end, up to
    /// `g` late and never early. Zero (the default) stops at every deadline exactly.
    ///
    /// A broker and its clients keep several one-second tickers (statistics, POP revive,
    /// long-poll checks); advancing hours exactly stops at every second. Within a stop the
    /// sleepers due wake in deadline order, the clock at each deadline and a settle in
    /// between (a timeout never races the event due before it); sleeps started during the
    /// stop wait for the next one, so a ticker fires once per stop. With `g` of 5 minutes,
    /// seven hours take under 200 stops, each retry at most 5 minutes after its level says.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = rocketmq_rs_remoting::rt::VirtualClock::new();
    /// clock.set_granularity(Duration::from_secs(60));
    /// assert_eq!(clock.granularity(), Duration::from_secs(60));
    /// ```
    pub fn set_granularity(&self, g: Duration) {
        self.core.granularity_ns.store(
            u64::try_from(g.as_nanos()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// The step set by [`set_granularity`](Self::set_granularity).
    pub fn granularity(&self) -> Duration {
        Duration::from_nanos(self.core.granularity_ns.load(Ordering::SeqCst))
    }

    /// The earliest pending sleep deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.core
            .timers
            .lock_unpoisoned()
            .keys()
            .next()
            .map(|(ns, _)| self.core.base + Duration::from_nanos(*ns))
    }

    /// Moves the clock forward by `by`, stopping at every pending deadline on the way: wakes
    /// the sleepers due there, then [`settle`](Self::settle)s, so work a wake-up sets off
    /// (and the sleeps it starts) happens at the right virtual time before the clock moves
    /// on. Returns once the clock reads `now + by` and everything has settled.
    pub async fn advance(&self, by: Duration) {
        let target = self
            .core
            .elapsed()
            .saturating_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX));
        self.settle().await;
        loop {
            let next = self
                .core
                .timers
                .lock_unpoisoned()
                .keys()
                .next()
                .map(|k| k.0);
            match next {
                Some(deadline) if deadline <= target => {
                    let g = self.core.granularity_ns.load(Ordering::SeqCst);
                    let at = if g > 1 {
                        deadline.div_ceil(g).saturating_mul(g).min(target)
                    } else {
                        deadline
                    };
                    self.core.steps.fetch_add(1, Ordering::Relaxed);
                    // The sleepers due by `at` wake in deadline order, one deadline at a
                    // time with the clock at that deadline and a settle in between, so a
                    // timeout due later in the step never races the event due earlier that
                    // it guards. Sleeps started during the step wait for the next one: a
                    // one-second ticker fires once per step, not once per second.
                    let started = self.core.seq.load(Ordering::SeqCst);
                    while self.core.fire_next(at, started) {
                        self.settle().await;
                    }
                    self.core.elapsed_ns.fetch_max(at, Ordering::SeqCst);
                }
                _ => break,
            }
        }
        self.core.elapsed_ns.fetch_max(target, Ordering::SeqCst);
        self.core.fire_until(target);
        self.settle().await;
    }

    /// Waits (in real time) until the tasks of the virtual runtimes are idle, the bytes sent
    /// between their in-process sockets have been read, and their blocking jobs and
    /// [`Clock::busy`] work are done; at most a few seconds, for a task that never idles.
    ///
    /// While something is in flight it sleeps until the last unit of activity ends (a task's
    /// poll, a blocking job, a read that empties a connection) rather than spinning: the
    /// tasks it waits for need the machine's cores (a spinning waiter on a two-core host left
    /// async-std's two workers one core between them).
    pub async fn settle(&self) {
        let start = Instant::now();
        let mut quiet = 0;
        loop {
            if self.core.busy() {
                quiet = 0;
                if start.elapsed() > SETTLE_CAP {
                    tracing::warn!(
                        "virtual clock: activity did not settle within {SETTLE_CAP:?}; moving on"
                    );
                    return;
                }
                WaitIdle {
                    core: self.core,
                    registered: false,
                }
                .await;
            } else {
                quiet += 1;
                if quiet >= QUIET_ROUNDS {
                    return;
                }
                YieldNow(false).await;
            }
        }
    }

    /// `advance` in `step`s until `cond` holds or `limit` of virtual time has passed;
    /// returns whether `cond` held. For "advance until the message is in the DLQ".
    pub async fn advance_until(
        &self,
        step: Duration,
        limit: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> bool {
        let step = step.max(Duration::from_millis(1));
        let start = self.elapsed();
        loop {
            if cond() {
                return true;
            }
            if self.elapsed().saturating_sub(start) >= limit {
                return false;
            }
            self.advance(step).await;
        }
    }
}

/// Ready once the clock's activity may have ended (an idle notification, or
/// [`SETTLE_RECHECK`] of real time as a safety net for activity that ends unannounced).
struct WaitIdle {
    core: &'static Core,
    registered: bool,
}

impl Future for WaitIdle {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered {
            return Poll::Ready(());
        }
        self.registered = true;
        self.core
            .idle_waiters
            .lock_unpoisoned()
            .push(cx.waker().clone());
        recheck_later(cx.waker().clone());
        // Registered before looking again: activity ending from here on wakes us.
        if self.core.busy() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Wakes `w` after [`SETTLE_RECHECK`], from one timer thread shared by every clock.
fn recheck_later(w: Waker) {
    struct Ticker {
        due: Mutex<Vec<Waker>>,
        cv: std::sync::Condvar,
    }
    static TICKER: std::sync::OnceLock<&'static Ticker> = std::sync::OnceLock::new();
    let t = *TICKER.get_or_init(|| {
        let t: &'static Ticker = Box::leak(Box::new(Ticker {
            due: Mutex::new(Vec::new()),
            cv: std::sync::Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("virtual-clock-recheck".into())
            .spawn(move || loop {
                let batch = {
                    let mut due = t.due.lock_unpoisoned();
                    while due.is_empty() {
                        due = t.cv.wait(due).unwrap_or_else(|p| p.into_inner());
                    }
                    std::mem::take(&mut *due)
                };
                std::thread::sleep(SETTLE_RECHECK);
                for w in batch {
                    w.wake();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "virtual clock: no recheck thread; settles rely on notifications");
        }
        t
    });
    t.due.lock_unpoisoned().push(w);
    t.cv.notify_one();
}

/// Returns `Pending` once, waking itself at once: lets the executor run other tasks.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A [`Runtime`] whose time is a [`VirtualClock`]; make one with
/// [`VirtualClock::runtime`].
pub struct VirtualRuntime {
    inner: Arc<dyn Runtime>,
    clock: VirtualClock,
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("inner", &self.inner)
            .field("clock", &self.clock)
            .finish()
    }
}

impl VirtualRuntime {
    /// The clock driving this runtime.
    pub fn virtual_clock(&self) -> VirtualClock {
        self.clock
    }

    /// The real runtime underneath.
    pub fn inner(&self) -> &Arc<dyn Runtime> {
        &self.inner
    }
}

impl Runtime for VirtualRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.inner
            .spawn(Box::pin(Tracked::new(fut, self.clock.core)));
    }

    fn sleep(&self, dur: Duration) -> BoxFuture<'static, ()> {
        let core = self.clock.core;
        let deadline = core
            .elapsed()
            .saturating_add(u64::try_from(dur.as_nanos()).unwrap_or(u64::MAX));
        Box::pin(Sleep {
            core,
            deadline,
            key: None,
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>> {
        let core = self.clock.core;
        let work = Work::new(core);
        let dial = self.inner.connect(addr);
        Box::pin(async move {
            let stream = dial.await?;
            let counted = core.listeners.lock_unpoisoned().contains(&addr);
            let wrapped: Box<dyn AsyncStream> = match stream.local_addr() {
                Some(local) => Box::new(Counted::attach(core, stream, (local, addr), counted)),
                None => stream,
            };
            drop(work);
            Ok(wrapped)
        })
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let core = self.clock.core;
        let bind = self.inner.bind(addr);
        Box::pin(async move {
            let listener = bind.await?;
            let local = listener.local_addr()?;
            core.listeners.lock_unpoisoned().push(local);
            Ok(Box::new(VirtualListener {
                core,
                inner: listener,
                local,
            }) as Box<dyn Listener>)
        })
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        let work = Work::new(self.clock.core);
        let job = self.inner.spawn_blocking(f);
        Box::pin(async move {
            job.await;
            drop(work);
        })
    }

    fn clock(&self) -> Clock {
        self.clock.clock()
    }
}

/// Counts as activity from creation until dropped.
struct Work(&'static Core);

impl Work {
    fn new(core: &'static Core) -> Self {
        core.begin_work();
        Work(core)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.0.end_work();
    }
}

/// A virtual sleep: registered in the clock's timer map while pending.
struct Sleep {
    core: &'static Core,
    deadline: u64,
    key: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let core = self.core;
        let mut timers = core.timers.lock_unpoisoned();
        // Read under the lock: `advance` moves the clock before it takes the lock to fire,
        // so either it sees this entry or this poll sees the new time.
        if core.elapsed() >= self.deadline {
            if let Some(k) = self.key.take() {
                timers.remove(&k);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                let k = (self.deadline, core.seq.fetch_add(1, Ordering::Relaxed));
                self.key = Some(k);
                k
            }
        };
        match timers.get_mut(&key) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => *w = cx.waker().clone(),
            None => {
                timers.insert(key, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.core.timers.lock_unpoisoned().remove(&k);
        }
    }
}

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const DONE: u8 = 2;

/// Per-task bookkeeping: whether the task is queued to run, and the executor's waker.
struct TaskState {
    core: &'static Core,
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl Wake for TaskState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self
            .state
            .compare_exchange(IDLE, QUEUED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.core.active.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(w) = self.waker.lock_unpoisoned().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// A spawned task, counted as active from its wake-up to the end of the poll that follows.
struct Tracked {
    fut: BoxFuture<'static, ()>,
    state: Arc<TaskState>,
    waker: Waker,
}

impl Tracked {
    fn new(fut: BoxFuture<'static, ()>, core: &'static Core) -> Self {
        core.active.fetch_add(1, Ordering::SeqCst);
        let state = Arc::new(TaskState {
            core,
            state: AtomicU8::new(QUEUED),
            waker: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&state));
        Tracked { fut, state, waker }
    }

    fn finish(&self) {
        if self.state.state.swap(DONE, Ordering::SeqCst) == QUEUED {
            self.state.core.end_active();
        }
    }
}

impl Future for Tracked {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.state.waker.lock_unpoisoned();
            match w.as_ref() {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        let was_queued = self
            .state
            .state
            .compare_exchange(QUEUED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        let waker = self.waker.clone();
        let mut inner_cx = Context::from_waker(&waker);
        let out = self.fut.as_mut().poll(&mut inner_cx);
        if out.is_ready() {
            self.finish();
        }
        if was_queued {
            self.state.core.end_active();
        }
        out
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Byte accounting of one in-process connection: written minus read, both directions.
struct Conn {
    net: AtomicI64,
    /// Both ends are ours (the client end attached to a listener of the virtual runtime).
    counted: AtomicBool,
    closed: AtomicBool,
}

/// One end of a connection; marks it closed when the last half is dropped.
struct End {
    core: &'static Core,
    key: (SocketAddr, SocketAddr),
    conn: Arc<Conn>,
}

impl Drop for End {
    fn drop(&mut self) {
        self.conn.closed.store(true, Ordering::SeqCst);
        {
            let mut conns = self.core.conns.lock_unpoisoned();
            if conns
                .get(&self.key)
                .is_some_and(|c| Arc::ptr_eq(c, &self.conn))
            {
                conns.remove(&self.key);
            }
        }
        self.core.notify_idle();
    }
}

impl End {
    /// Adds `delta` to the bytes in flight; a connection drained may end the activity a
    /// settle waits for.
    fn count(&self, delta: i64) {
        if self.conn.net.fetch_add(delta, Ordering::SeqCst) == -delta {
            self.core.notify_idle();
        }
    }
}

/// A stream whose reads and writes update its connection's byte count.
struct Counted<S: ?Sized> {
    inner: Box<S>,
    end: Arc<End>,
}

impl Counted<dyn AsyncStream> {
    /// Wraps one end of the connection `key` = (client address, server address); `client`
    /// says this is the dialling end and the server is ours.
    fn attach(
        core: &'static Core,
        inner: Box<dyn AsyncStream>,
        key: (SocketAddr, SocketAddr),
        client_of_ours: bool,
    ) -> Self {
        let conn = {
            let mut conns = core.conns.lock_unpoisoned();
            let conn = conns
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(Conn {
                        net: AtomicI64::new(0),
                        counted: AtomicBool::new(false),
                        closed: AtomicBool::new(false),
                    })
                })
                .clone();
            if client_of_ours {
                conn.counted.store(true, Ordering::SeqCst);
            }
            conn
        };
        Counted {
            inner,
            end: Arc::new(End { core, key, conn }),
        }
    }
}

impl<S: AsyncRead + Unpin + ?Sized> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.end.count(-(n as i64));
        }
        r
    }
}

impl<S: AsyncWrite + Unpin + ?Sized> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut *self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.end.count(n as i64);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut *self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.end.count(n as i64);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_close(cx)
    }
}

impl AsyncStream for Counted<dyn AsyncStream> {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }

    fn into_split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let Counted { inner, end } = *self;
        let (r, w) = inner.into_split();
        (
            Box::new(Counted {
                inner: r,
                end: Arc::clone(&end),
            }),
            Box::new(Counted { inner: w, end }),
        )
    }
}

struct VirtualListener {
    core: &'static Core,
    inner: Box<dyn Listener>,
    local: SocketAddr,
}

impl Drop for VirtualListener {
    fn drop(&mut self) {
        self.core
            .listeners
            .lock_unpoisoned()
            .retain(|a| *a != self.local);
    }
}

impl Listener for VirtualListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn AsyncStream>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.inner.accept().await?;
            let wrapped: Box<dyn AsyncStream> = Box::new(Counted::attach(
                self.core,
                stream,
                (peer, self.local),
                false,
            ));
            Ok((wrapped, peer))
        })
    }
}

#[cfg(all(test, feature = "runtime-tokio"))]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// `settle` returns only once a blocking job started by a task is done, and it does so
    /// by being woken when the work ends (well before the 5 s cap).
    #[test]
    fn settle_waits_for_blocking_work_and_wakes_when_it_ends() {
        block_on(async {
            let clock = VirtualClock::new();
            let rt = clock.runtime(crate::rt::default_runtime().unwrap());
            let done = Arc::new(AtomicBool::new(false));
            let (d, rt2) = (done.clone(), rt.clone());
            rt.spawn(Box::pin(async move {
                crate::rt::run_blocking(&*rt2, move || {
                    std::thread::sleep(Duration::from_millis(150));
                    d.store(true, Ordering::SeqCst);
                })
                .await;
            }));
            let t = Instant::now();
            clock.settle().await;
            assert!(done.load(Ordering::SeqCst), "settled while the job ran");
            assert!(
                t.elapsed() < SETTLE_CAP,
                "woken by the job's end, not the cap"
            );
            // Idle: returns at once.
            let t = Instant::now();
            clock.settle().await;
            assert!(t.elapsed() < Duration::from_secs(1));
        });
    }

    /// A chain of sleeps and tasks plays out in order within one `advance`.
    #[test]
    fn advance_runs_a_chain_of_timers_in_order() {
        block_on(async {
            let clock = VirtualClock::new();
            let rt = clock.runtime(crate::rt::default_runtime().unwrap());
            let log = Arc::new(Mutex::new(Vec::new()));
            let (l, rt2) = (log.clone(), rt.clone());
            rt.spawn(Box::pin(async move {
                for i in 0..5u64 {
                    rt2.sleep(Duration::from_secs(60)).await;
                    let (l2, done) = (l.clone(), Arc::new(AtomicBool::new(false)));
                    let d = done.clone();
                    // Each step hands work to another task, as a request to a server would.
                    rt2.spawn(Box::pin(async move {
                        l2.lock_unpoisoned().push(i);
                        d.store(true, Ordering::SeqCst);
                    }));
                    while !done.load(Ordering::SeqCst) {
                        YieldNow(false).await;
                    }
                }
            }));
            clock.advance(Duration::from_secs(299)).await;
            assert_eq!(*log.lock_unpoisoned(), [0, 1, 2, 3]);
            clock.advance(Duration::from_secs(1)).await;
            assert_eq!(*log.lock_unpoisoned(), [0, 1, 2, 3, 4]);
            assert_eq!(clock.pending_timers(), 0);
        });
    }
}
