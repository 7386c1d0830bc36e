//! Polling helpers that work under any async runtime, or none.
//!
//! The async helpers sleep with [`sleep`], a future completed by a short-lived std thread, so
//! they run under tokio, async-std, smol or `futures::executor::block_on` alike and never need
//! a runtime's timer. Inside a single-threaded runtime prefer them to the `_blocking` variants:
//! a blocking wait there would stall the very servers the condition depends on.

use rocketmq_rs_remoting::util::MutexExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::ItError;

const FIRST_INTERVAL: Duration = Duration::from_millis(5);
const MAX_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct SleepState {
    done: bool,
    waker: Option<Waker>,
}

/// A runtime-agnostic timer future; see [`sleep`].
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    dur: Duration,
    state: Option<Arc<Mutex<SleepState>>>,
}

/// A future that completes after `dur`, whatever executor polls it.
///
/// The timer is a std thread started on first poll, which suits tests (a handful of timers a
/// second), not hot paths.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// futures::executor::block_on(rocketmq_it::sleep(Duration::from_millis(20)));
/// assert!(t0.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(dur: Duration) -> Sleep {
    Sleep { dur, state: None }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.dur.is_zero() {
            return Poll::Ready(());
        }
        let dur = self.dur;
        let state = self
            .state
            .get_or_insert_with(|| {
                let state = Arc::new(Mutex::new(SleepState::default()));
                let timer = Arc::clone(&state);
                std::thread::spawn(move || {
                    std::thread::sleep(dur);
                    let mut st = timer.lock_unpoisoned();
                    st.done = true;
                    if let Some(w) = st.waker.take() {
                        w.wake();
                    }
                });
                state
            })
            .clone();
        let mut st = state.lock_unpoisoned();
        if st.done {
            Poll::Ready(())
        } else {
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// The schedule every polling helper here follows: probe at once, then after 5 ms backing
/// off to every 100 ms, and once more at the deadline.
struct Backoff {
    timeout: Duration,
    deadline: Instant,
    interval: Duration,
}

impl Backoff {
    fn new(timeout: Duration) -> Backoff {
        Backoff {
            timeout,
            deadline: Instant::now() + timeout,
            interval: FIRST_INTERVAL,
        }
    }

    /// How long to pause before the next probe, or the timeout error when the deadline passed.
    fn pause(&mut self, what: &str) -> Result<Duration, ItError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(ItError::Timeout {
                timeout: self.timeout,
                what: what.into(),
            });
        }
        let pause = self.interval.min(self.deadline - now);
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
        Ok(pause)
    }
}

/// The async polling loop: `probe` until it returns `Some`, on the [`Backoff`] schedule.
async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> Result<T, ItError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut backoff = Backoff::new(timeout);
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        sleep(backoff.pause(what)?).await;
    }
}

/// Polls `cond` until it returns `Some`, for at most `timeout`; returns the value.
///
/// Polls at 5 ms, backing off to every 100 ms; `cond` is evaluated once more at the deadline.
///
/// ```
/// use std::time::Duration;
/// let mut n = 0;
/// let v = futures::executor::block_on(rocketmq_it::eventually_some(Duration::from_secs(1), || {
///     n += 1;
///     (n == 3).then_some(n)
/// }));
/// assert_eq!(v.unwrap(), 3);
/// ```
pub async fn eventually_some<T>(
    timeout: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> Result<T, ItError> {
    poll(timeout, "condition", || std::future::ready(cond())).await
}

/// Like [`eventually_some`], with a probe that is itself async (e.g. reads from a server);
/// `what` names the wait in the timeout error.
///
/// ```
/// use std::time::Duration;
/// let mut n = 0;
/// let v = futures::executor::block_on(rocketmq_it::eventually_some_async(
///     Duration::from_secs(1),
///     "the third probe",
///     || {
///         n += 1;
///         let n = n;
///         async move { (n == 3).then_some(n) }
///     },
/// ));
/// assert_eq!(v.unwrap(), 3);
/// ```
pub async fn eventually_some_async<T, F, Fut>(
    timeout: Duration,
    what: &str,
    probe: F,
) -> Result<T, ItError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll(timeout, what, probe).await
}

/// Polls `cond` until it returns `true`, for at most `timeout`.
///
/// ```
/// use std::time::Duration;
/// let r = futures::executor::block_on(rocketmq_it::eventually(Duration::from_millis(30), || false));
/// assert!(r.is_err());
/// ```
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> Result<(), ItError> {
    eventually_some(timeout, || cond().then_some(())).await
}

/// Like [`eventually`], with a condition that is itself async (e.g. asks a server).
///
/// ```
/// use std::time::Duration;
/// let r = futures::executor::block_on(rocketmq_it::eventually_async(Duration::from_secs(1), || async { true }));
/// assert!(r.is_ok());
/// ```
pub async fn eventually_async<F, Fut>(timeout: Duration, mut cond: F) -> Result<(), ItError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll(timeout, "async condition", || {
        let holds = cond();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Blocking [`eventually_some`] for code outside any runtime (or on a dedicated thread): the
/// same schedule with the calling thread asleep in between. No executor runs here, so the
/// probe may block on one of its own.
///
/// ```
/// use std::time::Duration;
/// let mut n = 0;
/// let v = rocketmq_it::eventually_some_blocking(Duration::from_secs(1), "n = 2", || {
///     n += 1;
///     (n == 2).then_some(n)
/// });
/// assert_eq!(v.unwrap(), 2);
/// ```
pub fn eventually_some_blocking<T>(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> Option<T>,
) -> Result<T, ItError> {
    let mut backoff = Backoff::new(timeout);
    loop {
        if let Some(v) = cond() {
            return Ok(v);
        }
        std::thread::sleep(backoff.pause(what)?);
    }
}

/// Blocking [`eventually`] for code outside any runtime (or on a dedicated thread).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// assert!(rocketmq_it::eventually_blocking(Duration::from_secs(1), || t0.elapsed() > Duration::from_millis(10)).is_ok());
/// ```
pub fn eventually_blocking(
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), ItError> {
    eventually_some_blocking(timeout, "condition", || cond().then_some(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn sleep_waits_at_least_its_duration() {
        let t0 = Instant::now();
        futures::executor::block_on(sleep(Duration::from_millis(30)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        futures::executor::block_on(sleep(Duration::ZERO));
    }

    #[test]
    fn eventually_returns_once_condition_holds() {
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r = futures::executor::block_on(eventually(Duration::from_secs(5), || {
            calls.fetch_add(1, Ordering::SeqCst) >= 4
        }));
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn eventually_times_out_near_the_deadline() {
        let t0 = Instant::now();
        let r = futures::executor::block_on(eventually(Duration::from_millis(150), || false));
        let took = t0.elapsed();
        assert!(matches!(r, Err(ItError::Timeout { .. })), "{r:?}");
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn eventually_async_and_blocking_agree() {
        let n = AtomicUsize::new(0);
        let r = futures::executor::block_on(eventually_async(Duration::from_secs(2), || {
            let v = n.fetch_add(1, Ordering::SeqCst);
            async move { v == 2 }
        }));
        assert!(r.is_ok());
        assert!(eventually_blocking(Duration::from_millis(50), || false).is_err());
        let m = AtomicUsize::new(0);
        assert!(
            eventually_blocking(Duration::from_secs(2), || m.fetch_add(1, Ordering::SeqCst)
                == 3)
            .is_ok()
        );
    }

    #[test]
    fn blocking_wait_lets_the_probe_block_on_an_executor() {
        // As `apache_stored_count` does through `mqadmin`: a blocking wait must not hold an
        // executor of its own while it probes (futures' `block_on` refuses to nest).
        let mut n = 0;
        let v = eventually_some_blocking(Duration::from_secs(2), "n = 2", || {
            n += futures::executor::block_on(async { 1 });
            (n == 2).then_some(n)
        });
        assert_eq!(v.unwrap(), 2);
    }

    #[test]
    fn eventually_some_yields_value_under_tokio_current_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut n = 0u32;
        let v = rt.block_on(eventually_some(Duration::from_secs(2), || {
            n += 1;
            (n > 3).then_some(n * 10)
        }));
        assert_eq!(v.unwrap(), 40);
    }
}
