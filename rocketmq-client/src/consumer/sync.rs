//! A runtime-agnostic async counting semaphore (the crate may not name a runtime crate, and
//! `futures` has none). Used to bound listener concurrency.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;
use rocketmq_rs_remoting::util::MutexExt;

/// A counting semaphore with FIFO hand-off; permits are returned when [`Permit`] drops.
#[derive(Debug, Clone)]
pub(crate) struct Semaphore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    permits: usize,
    waiters: VecDeque<oneshot::Sender<()>>,
}

/// One permit; released on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    inner: Arc<Inner>,
}

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Semaphore {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    permits,
                    waiters: VecDeque::new(),
                }),
            }),
        }
    }

    /// Permits free right now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.inner.state.lock_unpoisoned().permits
    }

    /// Takes a permit without waiting, if one is free and nobody is queued.
    pub(crate) fn try_acquire(&self) -> Option<Permit> {
        let mut st = self.inner.state.lock_unpoisoned();
        if st.permits > 0 {
            st.permits -= 1;
            Some(Permit {
                inner: Arc::clone(&self.inner),
            })
        } else {
            None
        }
    }

    /// Waits for a permit. Cancel-safe: a permit handed to a dropped waiter is passed on.
    pub(crate) async fn acquire(&self) -> Permit {
        let rx = {
            let mut st = self.inner.state.lock_unpoisoned();
            if st.permits > 0 {
                st.permits -= 1;
                return Permit {
                    inner: Arc::clone(&self.inner),
                };
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            rx
        };
        let mut waiting = Waiting {
            rx,
            inner: Arc::clone(&self.inner),
            done: false,
        };
        // The sender is only dropped by `release` after a successful send, so Err cannot
        // happen while the semaphore lives; treat it as a granted permit either way.
        let _ = (&mut waiting.rx).await;
        waiting.done = true;
        Permit {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Waiting {
    rx: oneshot::Receiver<()>,
    inner: Arc<Inner>,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            self.rx.close();
            if let Ok(Some(())) = self.rx.try_recv() {
                release(&self.inner);
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        release(&self.inner);
    }
}

fn release(inner: &Inner) {
    let mut st = inner.state.lock_unpoisoned();
    while let Some(tx) = st.waiters.pop_front() {
        if tx.send(()).is_ok() {
            return;
        }
    }
    st.permits += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::FutureExt;

    #[test]
    fn bounds_and_hands_off() {
        let s = Semaphore::new(2);
        let a = s.try_acquire().unwrap();
        let _b = block_on(s.acquire());
        assert!(s.try_acquire().is_none());
        let mut waiter = Box::pin(s.acquire());
        assert!((&mut waiter).now_or_never().is_none());
        drop(a);
        let c = (&mut waiter).now_or_never().expect("handed off");
        assert_eq!(s.available(), 0);
        drop(c);
        assert_eq!(s.available(), 1);
    }

    #[test]
    fn cancelled_waiter_passes_permit_on() {
        let s = Semaphore::new(1);
        let a = s.try_acquire().unwrap();
        let mut w1 = Box::pin(s.acquire());
        assert!((&mut w1).now_or_never().is_none());
        drop(a); // granted to w1, which is then dropped without polling
        drop(w1);
        assert_eq!(s.available(), 1);
    }
}
