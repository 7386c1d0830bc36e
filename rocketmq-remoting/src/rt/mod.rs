//! The pluggable async runtime.
//!
//! Everything in this crate that needs an executor, a timer or a socket goes through the
//! object-safe [`Runtime`] trait, so public types stay non-generic (`RemotingClient`, not
//! `RemotingClient<R>`) and the runtime is chosen by value, not by `cfg`. Implementations:
//!
//! - `TokioRuntime` (feature `runtime-tokio`, the default),
//! - `SmolRuntime` (feature `runtime-smol`),
//! - `AsyncStdRuntime` (feature `runtime-async-std`).
//!
//! The features are additive: several may be enabled at once, and [`default_runtime`] picks one.
//! Only cold operations (spawning, dialling, binding, timers) return boxed futures; socket reads
//! and writes go through `futures::io` traits on a boxed stream and never allocate.
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # {
//! use std::time::Duration;
//! use rocketmq_rs_remoting::rt::{self, default_runtime};
//!
//! let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! tokio.block_on(async {
//!     let runtime = default_runtime().expect("a tokio runtime is current");
//!     let r = rt::timeout(&*runtime, Duration::from_millis(5), futures::future::pending::<()>()).await;
//!     assert!(r.is_err());
//!     assert_eq!(rt::run_blocking(&*runtime, || 40 + 2).await, 42);
//! });
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite};

#[cfg(any(feature = "runtime-smol", feature = "runtime-async-std"))]
mod async_io;
mod task;
#[cfg(feature = "runtime-tokio")]
mod tokio;
mod virtual_time;

#[cfg(feature = "runtime-async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-async-std")))]
pub use self::async_io::AsyncStdRuntime;
#[cfg(feature = "runtime-smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-smol")))]
pub use self::async_io::SmolRuntime;
pub use self::task::{ShutdownSignal, TaskGroup, WaitShutdown};
#[cfg(feature = "runtime-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-tokio")))]
pub use self::tokio::TokioRuntime;
pub use self::virtual_time::{VirtualClock, VirtualRuntime};

/// A boxed, `Send` future: what the [`Runtime`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The read half of a split [`AsyncStream`].
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;

/// The write half of a split [`AsyncStream`].
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The read half of a split [`AsyncStream`] as the connection reader drives it (see
/// [`AsyncStream::into_split_buf`]).
pub type BoxReadBuf = Box<dyn AsyncReadBuf>;

/// A read half that appends what it reads to the caller's buffer.
///
/// The connection reader keeps one [`BytesMut`] per connection and splits every complete frame
/// off its front as `Bytes`; a reader that fills the buffer's spare capacity directly (tokio's
/// does) saves copying every received byte out of a scratch buffer. Implementations for other
/// streams come for free through the default [`AsyncStream::into_split_buf`].
pub trait AsyncReadBuf: Send + Unpin {
    /// Reads at most `limit` bytes (`limit > 0`) and appends them to `buf`, whose spare
    /// capacity the caller made at least `limit` bytes. Returns how many bytes were appended;
    /// `Ok(0)` means end of stream. Nothing is appended on error or while pending.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<io::Result<usize>>;
}

/// The most a [`CopyingRead`] reads in one call (the size its scratch buffer grows to).
const COPYING_READ_MAX: usize = 64 * 1024;

/// [`AsyncReadBuf`] over any [`AsyncRead`]: reads into a scratch buffer, then appends. `AsyncRead`
/// wants initialised memory, and without `unsafe` the spare capacity of a `BytesMut` is not,
/// so streams that can only read into `&mut [u8]` pay one copy per byte.
struct CopyingRead {
    inner: BoxRead,
    scratch: Vec<u8>,
}

impl AsyncReadBuf for CopyingRead {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<io::Result<usize>> {
        let limit = limit.clamp(1, COPYING_READ_MAX);
        if self.scratch.len() < limit {
            self.scratch.resize(limit, 0);
        }
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut self.scratch[..limit]))?;
        buf.extend_from_slice(&self.scratch[..n]);
        Poll::Ready(Ok(n))
    }
}

/// A connected byte stream (a TCP socket, or a wrapper around one such as TLS).
///
/// The connection layer splits every stream into a read half and a write half driven by two
/// different tasks. The default [`AsyncStream::into_split`] uses `futures::io::split`, which
/// works for any stream but takes a lock on every read and write; plain TCP implementations
/// override it with lock-free halves.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The local address of the socket, where the implementation knows it (plain TCP does).
    /// [`VirtualRuntime`] pairs the two ends of an in-process connection with it.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Splits the stream into independently usable halves.
    fn into_split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (r, w) = AsyncReadExt::split(self);
        (Box::new(r), Box::new(w))
    }

    /// Splits the stream like [`into_split`](AsyncStream::into_split), with a read half that
    /// appends to a [`BytesMut`]: what the connection reader uses. The default reads through
    /// [`into_split`](AsyncStream::into_split)'s half into a scratch buffer and copies; tokio's
    /// streams read straight into the buffer's spare capacity.
    fn into_split_buf(self: Box<Self>) -> (BoxReadBuf, BoxWrite) {
        let (r, w) = self.into_split();
        let read = CopyingRead {
            inner: r,
            scratch: Vec::new(),
        };
        (Box::new(read), w)
    }
}

/// A bound TCP listener.
pub trait Listener: Send + 'static {
    /// The address the listener is bound to (with the OS-chosen port when bound to port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Waits for the next inbound connection and returns it with the peer's address.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn AsyncStream>, SocketAddr)>>;
}

/// An async runtime: executor, timer and TCP sockets.
///
/// The trait is object safe; the crate passes runtimes around as `Arc<dyn Runtime>`. Every method
/// is a cold operation (per connection or per task), so boxing the returned futures costs
/// nothing measurable.
///
/// Implementing it for another executor takes a handful of lines; see the tokio, smol and
/// async-std implementations in this module.
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// Runs `fut` to completion in the background. The task is detached: stop it with a
    /// [`ShutdownSignal`] or track it in a [`TaskGroup`].
    fn spawn(&self, fut: BoxFuture<'static, ()>);

    /// A future that completes after `dur`.
    fn sleep(&self, dur: Duration) -> BoxFuture<'static, ()>;

    /// Opens a TCP connection to `addr` with `TCP_NODELAY` set (RocketMQ frames are small and
    /// latency bound, as in the Java client).
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>>;

    /// Binds a TCP listener to `addr`.
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;

    /// Runs the blocking closure `f` where it cannot stall the async executor, and completes when
    /// it returns. Prefer the typed helper [`run_blocking`].
    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()>;

    /// The runtime's monotonic clock. Library code reads time only through it (or
    /// [`now`](Runtime::now)), so a runtime with a paused or virtual clock drives every
    /// timeout, heartbeat and expiry of the client and the broker. The default is the OS clock.
    fn clock(&self) -> Clock {
        Clock::system()
    }

    /// The current instant by [`clock`](Runtime::clock).
    fn now(&self) -> Instant {
        self.clock().now()
    }
}

/// A copyable handle to a runtime's clock: a plain function pointer, or a reference to a
/// shared [`TimeSource`] (a [`VirtualClock`]), so hot paths that keep one read the time
/// without a virtual call through the runtime or any allocation.
///
/// Get one from [`Runtime::clock`] where a component is built and keep it next to the state
/// it times. Besides the monotonic [`now`](Clock::now) it reads wall time in epoch
/// milliseconds ([`now_ms`](Clock::now_ms)), the unit of the timestamps the broker compares
/// (store time plus delay level, timer messages, transaction check-backs).
///
/// ```
/// use rocketmq_rs_remoting::rt::Clock;
///
/// let clock = Clock::system();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// assert!(clock.now_ms() > 1_600_000_000_000);
/// ```
#[derive(Clone, Copy)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Copy)]
enum Source {
    Fn(fn() -> Instant),
    Shared(&'static dyn TimeSource),
}

/// A clock with state of its own that a [`Clock`] can read: what [`VirtualClock`] implements.
///
/// The source lives as long as the process (`&'static`) so that [`Clock`] stays `Copy`.
pub trait TimeSource: Send + Sync + 'static {
    /// The current monotonic instant.
    fn now(&self) -> Instant;

    /// Milliseconds since the Unix epoch by this source's wall clock.
    fn now_ms(&self) -> i64;

    /// Work outside the runtime's tasks started (a storage thread writing, for example); a
    /// virtual clock does not move on until [`end_work`](TimeSource::end_work) is called.
    /// Use [`Clock::busy`] rather than calling this directly.
    fn begin_work(&self) {}

    /// The work announced by [`begin_work`](TimeSource::begin_work) finished.
    fn end_work(&self) {}
}

impl Clock {
    /// A clock that reads the time with `now`. A virtual clock keeps its state where a plain
    /// function finds it (tokio's paused clock lives in its runtime context, for example).
    /// Its wall time ([`now_ms`](Clock::now_ms)) is the OS wall clock.
    pub const fn new(now: fn() -> Instant) -> Self {
        Clock {
            source: Source::Fn(now),
        }
    }

    /// A clock that reads `source` (monotonic and wall time).
    pub const fn from_source(source: &'static dyn TimeSource) -> Self {
        Clock {
            source: Source::Shared(source),
        }
    }

    /// The operating system's monotonic clock.
    pub const fn system() -> Self {
        // The one place library code names the OS clock: everything else asks a `Clock`.
        Clock::new(Instant::now)
    }

    /// The current instant.
    #[inline]
    pub fn now(&self) -> Instant {
        match self.source {
            Source::Fn(f) => f(),
            Source::Shared(s) => s.now(),
        }
    }

    /// Milliseconds since the Unix epoch by this clock's wall time (Java
    /// `System.currentTimeMillis()`): [`crate::util::now_ms`] unless the clock is virtual.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        match self.source {
            Source::Fn(_) => crate::util::now_ms(),
            Source::Shared(s) => s.now_ms(),
        }
    }

    /// Announces work that runs outside the runtime's tasks (an OS thread the caller waits
    /// for) until the guard is dropped, so a virtual clock does not jump ahead while it is in
    /// flight. Free for the system clock.
    #[inline]
    pub fn busy(&self) -> BusyGuard {
        if let Source::Shared(s) = self.source {
            s.begin_work();
            BusyGuard { source: Some(s) }
        } else {
            BusyGuard { source: None }
        }
    }

    /// Whether the clock reads a [`TimeSource`] of its own (a [`VirtualClock`]) rather than
    /// a function such as the OS clock. Work that OS threads time with real timeouts does not
    /// follow such a clock; its owner drives that work from the runtime's timers instead.
    ///
    /// ```
    /// use rocketmq_rs_remoting::rt::{Clock, VirtualClock};
    /// assert!(!Clock::system().is_virtual());
    /// assert!(VirtualClock::new().clock().is_virtual());
    /// ```
    #[inline]
    pub fn is_virtual(&self) -> bool {
        matches!(self.source, Source::Shared(_))
    }

    /// Time since `earlier` by this clock (zero if `earlier` is in the future): what
    /// `earlier.elapsed()` would say by the OS clock.
    #[inline]
    pub fn since(&self, earlier: Instant) -> Duration {
        self.now().saturating_duration_since(earlier)
    }

    /// Starts measuring from now.
    #[inline]
    pub fn stopwatch(&self) -> Stopwatch {
        Stopwatch {
            clock: *self,
            start: self.now(),
        }
    }
}

/// Work in flight for a virtual clock; from [`Clock::busy`]. Ends when dropped.
#[must_use = "the work ends when the guard is dropped"]
pub struct BusyGuard {
    source: Option<&'static dyn TimeSource>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if let Some(s) = self.source {
            s.end_work();
        }
    }
}

impl fmt::Debug for BusyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BusyGuard")
    }
}

/// A start instant with the [`Clock`] it was read from, so that
/// [`elapsed`](Stopwatch::elapsed) measures by that same clock.
///
/// ```
/// use rocketmq_rs_remoting::rt::Clock;
///
/// let sw = Clock::system().stopwatch();
/// assert!(sw.elapsed() < std::time::Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    clock: Clock,
    start: Instant,
}

impl Stopwatch {
    /// Time since the start.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        self.clock.since(self.start)
    }

    /// When it started.
    pub fn started_at(&self) -> Instant {
        self.start
    }

    /// The clock it measures by.
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The error of [`timeout`]: the deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "deadline elapsed")
    }
}

/// Runs `fut` for at most `dur`; the future is dropped (cancelled) when the deadline passes.
///
/// ```
/// # #[cfg(feature = "runtime-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use rocketmq_rs_remoting::rt::{timeout, TokioRuntime};
///
/// let rt = TokioRuntime::try_current().unwrap();
/// assert_eq!(timeout(&rt, Duration::from_secs(1), async { 7 }).await, Ok(7));
/// assert!(timeout(&rt, Duration::from_millis(1), futures::future::pending::<()>()).await.is_err());
/// # });
/// ```
pub async fn timeout<F: Future>(
    rt: &dyn Runtime,
    dur: Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    let fut = std::pin::pin!(fut);
    match select(fut, rt.sleep(dur)).await {
        Either::Left((out, _)) => Ok(out),
        Either::Right(((), _)) => Err(Elapsed(())),
    }
}

/// Runs the blocking closure `f` on the runtime's blocking pool and returns its result.
///
/// A panic in `f` is propagated to the caller, as if `f` had been called directly.
///
/// ```
/// # #[cfg(feature = "runtime-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rocketmq_rs_remoting::rt::{run_blocking, TokioRuntime};
///
/// let rt = TokioRuntime::try_current().unwrap();
/// let n = run_blocking(&rt, || std::env::temp_dir().exists()).await;
/// assert!(n);
/// # });
/// ```
pub async fn run_blocking<T: Send + 'static>(
    rt: &dyn Runtime,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = futures::channel::oneshot::channel();
    rt.spawn_blocking(Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out);
    }))
    .await;
    match rx.await {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // The closure was dropped without running: only possible if the runtime is shutting down
        // and discarded queued blocking work, a state in which nothing can continue anyway.
        Err(_) => {
            panic!("the runtime dropped a blocking task before running it (runtime shut down?)")
        }
    }
}

/// The runtime to use when the caller did not pick one, chosen among the enabled features:
/// tokio if a tokio runtime is current on this thread, else smol, else async-std; `None` when no
/// suitable runtime is available (for example only `runtime-tokio` is enabled and the caller is
/// not inside a tokio runtime).
///
/// ```
/// # #[cfg(feature = "runtime-tokio")]
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let rt = rocketmq_rs_remoting::rt::default_runtime();
/// assert!(rt.is_some());
/// # });
/// ```
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "runtime-tokio")]
    if let Some(rt) = TokioRuntime::try_current() {
        return Some(Arc::new(rt));
    }
    #[cfg(feature = "runtime-smol")]
    let fallback: Option<Arc<dyn Runtime>> = Some(Arc::new(SmolRuntime::new()));
    #[cfg(all(feature = "runtime-async-std", not(feature = "runtime-smol")))]
    let fallback: Option<Arc<dyn Runtime>> = Some(Arc::new(AsyncStdRuntime::new()));
    #[cfg(not(any(feature = "runtime-smol", feature = "runtime-async-std")))]
    let fallback: Option<Arc<dyn Runtime>> = None;
    fallback
}
