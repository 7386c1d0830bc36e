//! Back-pressure for async sends (Java `enableBackpressureForAsyncMode`): two fair weighted
//! semaphores, one counting the async sends in flight and one their body bytes. A send holds
//! one count permit and `body.len()` byte permits from admission until its completion has run,
//! so neither the number of send tasks nor the bodies they keep alive can grow without bound.
//!
//! Runtime-agnostic: waiting is a `futures` oneshot per waiter, the time limit a sleep of the
//! client's runtime.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::{Runtime, Stopwatch};
use rocketmq_rs_remoting::util::MutexExt;

use crate::error::{BackPressureLimit, Error};

/// A fair (FIFO) weighted semaphore: a waiter that needs more than is free blocks those behind
/// it, as Java's fair `Semaphore` does, so a large body is never starved by small ones.
#[derive(Debug, Clone)]
struct Weighted {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    free: usize,
    next_id: u64,
    waiters: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    need: usize,
    tx: oneshot::Sender<()>,
}

/// `n` permits of one [`Weighted`], given back on drop.
#[derive(Debug)]
struct Held {
    sem: Arc<Mutex<State>>,
    n: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        release(&self.sem, self.n);
    }
}

fn release(sem: &Mutex<State>, n: usize) {
    let mut st = sem.lock_unpoisoned();
    st.free += n;
    wake(&mut st);
}

/// Grants the queue's head waiters while their need fits.
fn wake(st: &mut State) {
    while st.waiters.front().is_some_and(|w| w.need <= st.free) {
        let Some(w) = st.waiters.pop_front() else {
            break;
        };
        st.free -= w.need;
        if w.tx.send(()).is_err() {
            // The waiter went away between its removal check and now: keep the permits.
            st.free += w.need;
        }
    }
}

/// Removes a waiter that gave up, or gives back what it was granted meanwhile.
struct WaitGuard {
    sem: Arc<Mutex<State>>,
    id: u64,
    need: usize,
    done: bool,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.sem.lock_unpoisoned();
        if let Some(pos) = st.waiters.iter().position(|w| w.id == self.id) {
            st.waiters.remove(pos);
            // A large waiter at the head may have held smaller ones back.
            wake(&mut st);
        } else {
            // Granted after the caller stopped waiting.
            st.free += self.need;
            wake(&mut st);
        }
    }
}

impl Weighted {
    fn new(permits: usize) -> Self {
        Weighted {
            inner: Arc::new(Mutex::new(State {
                free: permits,
                next_id: 0,
                waiters: VecDeque::new(),
            })),
        }
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.inner.lock_unpoisoned().free
    }

    /// `n` permits now, if free and nobody waits before us.
    fn try_acquire(&self, n: usize) -> Option<Held> {
        let mut st = self.inner.lock_unpoisoned();
        if st.waiters.is_empty() && st.free >= n {
            st.free -= n;
            Some(Held {
                sem: Arc::clone(&self.inner),
                n,
            })
        } else {
            None
        }
    }

    /// `n` permits, waiting at most `limit`. Cancel-safe.
    async fn acquire(&self, rt: &dyn Runtime, n: usize, limit: Duration) -> Option<Held> {
        if let Some(h) = self.try_acquire(n) {
            return Some(h);
        }
        if limit.is_zero() {
            return None;
        }
        let (rx, mut guard) = {
            let mut st = self.inner.lock_unpoisoned();
            let id = st.next_id;
            st.next_id += 1;
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(Waiter { id, need: n, tx });
            let guard = WaitGuard {
                sem: Arc::clone(&self.inner),
                id,
                need: n,
                done: false,
            };
            (rx, guard)
        };
        match select(rx, rt.sleep(limit)).await {
            Either::Left((Ok(()), _)) => {
                guard.done = true;
                Some(Held {
                    sem: Arc::clone(&self.inner),
                    n,
                })
            }
            // Timed out (or the sender vanished, which `wake` never does): the guard's drop
            // dequeues us, or hands back a grant that raced the timer.
            _ => None,
        }
    }
}

/// The admission of one async send; its permits are returned when it drops, after the send's
/// completion ran.
#[derive(Debug)]
pub(crate) struct Admission {
    _count: Held,
    _bytes: Held,
}

/// The two limits of [`ProducerConfig::async_back_pressure`](super::ProducerConfig).
#[derive(Debug, Clone)]
pub(crate) struct AsyncLimiter {
    count: Weighted,
    bytes: Weighted,
    max_count: usize,
    max_bytes: usize,
}

impl AsyncLimiter {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        AsyncLimiter {
            count: Weighted::new(max_count),
            bytes: Weighted::new(max_bytes),
            max_count,
            max_bytes,
        }
    }

    /// Byte permits a body of `len` bytes takes: at least one (as Java counts an empty body),
    /// at most the whole budget, so a body larger than the budget waits for an empty pipe
    /// instead of never being admitted.
    fn weight(&self, len: usize) -> usize {
        len.clamp(1, self.max_bytes)
    }

    fn full(&self, limit: BackPressureLimit, waited: Duration) -> Error {
        Error::AsyncBackPressure {
            limit,
            max: match limit {
                BackPressureLimit::Count => self.max_count,
                BackPressureLimit::Bytes => self.max_bytes,
            },
            waited,
        }
    }

    /// Admits a send of a `len`-byte body without waiting.
    pub(crate) fn try_admit(&self, len: usize) -> Result<Admission, Error> {
        let count = self
            .count
            .try_acquire(1)
            .ok_or_else(|| self.full(BackPressureLimit::Count, Duration::ZERO))?;
        let bytes = self
            .bytes
            .try_acquire(self.weight(len))
            .ok_or_else(|| self.full(BackPressureLimit::Bytes, Duration::ZERO))?;
        Ok(Admission {
            _count: count,
            _bytes: bytes,
        })
    }

    /// Admits a send of a `len`-byte body, waiting until `budget` has passed on `started`
    /// (Java: count first, then bytes, each with what is left of the send timeout).
    pub(crate) async fn admit(
        &self,
        rt: &dyn Runtime,
        len: usize,
        started: Stopwatch,
        budget: Duration,
    ) -> Result<Admission, Error> {
        let left = || budget.saturating_sub(started.elapsed());
        let count = self
            .count
            .acquire(rt, 1, left())
            .await
            .ok_or_else(|| self.full(BackPressureLimit::Count, started.elapsed()))?;
        let bytes = self
            .bytes
            .acquire(rt, self.weight(len), left())
            .await
            .ok_or_else(|| self.full(BackPressureLimit::Bytes, started.elapsed()))?;
        Ok(Admission {
            _count: count,
            _bytes: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    // async-io timers need no runtime context, so the futures can be polled by hand.
    use rocketmq_rs_remoting::rt::SmolRuntime;

    #[test]
    fn fifo_weighted_grants_and_cancellation() {
        let s = Weighted::new(10);
        let a = s.try_acquire(6).unwrap();
        assert!(s.try_acquire(5).is_none());
        let rt = SmolRuntime::new();
        // A big waiter at the head holds a small one back (fairness)...
        let mut big = Box::pin(s.acquire(&rt, 8, Duration::from_secs(60)));
        assert!((&mut big).now_or_never().is_none());
        assert!(s.try_acquire(1).is_none(), "a waiter is queued: no barging");
        let mut small = Box::pin(s.acquire(&rt, 2, Duration::from_secs(60)));
        assert!((&mut small).now_or_never().is_none());
        // ...until it gives up: dropping it lets the small one through.
        drop(big);
        let held = (&mut small).now_or_never().flatten().expect("granted");
        assert_eq!(s.free(), 2);
        drop(held);
        drop(a);
        assert_eq!(s.free(), 10);
    }

    #[test]
    fn grant_racing_a_dropped_waiter_is_returned() {
        let rt = SmolRuntime::new();
        let s = Weighted::new(1);
        let a = s.try_acquire(1).unwrap();
        let mut w = Box::pin(s.acquire(&rt, 1, Duration::from_secs(60)));
        assert!((&mut w).now_or_never().is_none());
        drop(a); // granted to `w`, which never looks
        drop(w);
        assert_eq!(s.free(), 1);
    }

    #[test]
    fn admit_waits_up_to_the_budget() {
        let rt = SmolRuntime::new();
        let l = AsyncLimiter::new(1, 100);
        let held = l.try_admit(1).unwrap();
        let started = rocketmq_rs_remoting::rt::Clock::system().stopwatch();
        let budget = Duration::from_millis(50);
        let e = futures::executor::block_on(l.admit(&rt, 1, started, budget)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::AsyncBackPressure { limit: BackPressureLimit::Count, waited, .. }
                    if waited >= budget
            ),
            "{e:?}"
        );
        // The timed-out waiter left the queue: the next one gets the released permit.
        drop(held);
        let started = rocketmq_rs_remoting::rt::Clock::system().stopwatch();
        assert!(futures::executor::block_on(l.admit(&rt, 1, started, budget)).is_ok());
    }

    #[test]
    fn limiter_counts_and_weighs() {
        let l = AsyncLimiter::new(2, 100);
        let a = l.try_admit(60).unwrap();
        let e = l.try_admit(60).unwrap_err();
        assert!(matches!(
            e,
            Error::AsyncBackPressure {
                limit: BackPressureLimit::Bytes,
                max: 100,
                ..
            }
        ));
        // The count permit taken before the bytes failed was given back.
        let b = l.try_admit(0).unwrap();
        let e = l.try_admit(0).unwrap_err();
        assert!(matches!(
            e,
            Error::AsyncBackPressure {
                limit: BackPressureLimit::Count,
                max: 2,
                ..
            }
        ));
        drop((a, b));
        // Larger than the whole byte budget: admitted alone.
        let big = l.try_admit(1_000).unwrap();
        assert!(l.try_admit(1).is_err());
        drop(big);
        assert!(l.try_admit(1).is_ok());
    }
}
