//! A broadcast "something changed" notification without a runtime: every listener obtained
//! before a [`Event::notify`] is woken by it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use rocketmq_rs_remoting::util::MutexExt;

pub(crate) type Listener = Shared<oneshot::Receiver<()>>;

pub(crate) struct Event {
    state: Mutex<(Option<oneshot::Sender<()>>, Listener)>,
    /// Whether a listener was handed out since the last notify: lets `notify` skip the channel
    /// swap (an allocation) on the hot path when nobody waits.
    armed: AtomicBool,
}

impl Event {
    pub(crate) fn new() -> Event {
        let (tx, rx) = oneshot::channel();
        Event {
            state: Mutex::new((Some(tx), rx.shared())),
            armed: AtomicBool::new(false),
        }
    }

    /// A future completing at the next `notify` (take it *before* checking the condition).
    pub(crate) fn listen(&self) -> Listener {
        let g = self.state.lock_unpoisoned();
        // An RMW (not a plain store) so that it reads after a concurrent `notify`'s swap and
        // thereby sees the change that notify announced.
        self.armed.swap(true, Ordering::AcqRel);
        g.1.clone()
    }

    pub(crate) fn notify(&self) {
        if !self.armed.swap(false, Ordering::AcqRel) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let old = {
            let mut g = self.state.lock_unpoisoned();
            std::mem::replace(&mut *g, (Some(tx), rx.shared()))
        };
        // Dropping the sender completes every clone of the old shared receiver.
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_earlier_listeners_only() {
        let e = Event::new();
        let a = e.listen();
        let b = e.listen();
        e.notify();
        futures::executor::block_on(async {
            let _ = a.await;
            let _ = b.await;
        });
        let mut c = e.listen();
        assert!((&mut c).now_or_never().is_none());
        e.notify();
        assert!(c.now_or_never().is_some());
    }
}
