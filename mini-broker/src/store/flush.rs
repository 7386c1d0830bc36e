//! Flushing: the group-commit queue for synchronous flush, the flusher thread body, the logic
//! flusher's loop and the flush-timeout watchdog.
//!
//! In sync mode the writer hands each appended batch's waiters to [`GroupCommit`]; the flusher
//! takes the highest end offset waiting, issues one fsync for it and answers every waiter it
//! covers. A watchdog answers waiters whose deadline passes first with `FlushDiskTimeout` (their
//! data is stored; only durability is unconfirmed), so a stuck disk cannot hold senders past
//! the timeout.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use rocketmq_rs_remoting::util::{CondvarExt, MutexExt};

use super::config::FlushMode;
use super::error::Result;
use super::{PutResult, PutStatus, STORE_CLOCK};

/// Reply channel of a put.
pub(crate) type PutReply = oneshot::Sender<Result<Vec<PutResult>>>;

/// A put waiting for its data to be fsynced.
pub(crate) struct Waiter {
    /// Commit-log offset just past the put's last record.
    pub end: i64,
    pub deadline: Instant,
    pub results: Vec<PutResult>,
    pub reply: PutReply,
}

impl Waiter {
    fn answer(mut self, status: PutStatus) {
        if status != PutStatus::Ok {
            for r in &mut self.results {
                r.status = status;
            }
        }
        // The caller may have dropped its future; nothing to do then.
        let _ = self.reply.send(Ok(self.results));
    }
}

#[derive(Default)]
struct State {
    waiters: VecDeque<Waiter>,
    shutdown: bool,
    crashed: bool,
}

/// Shared state between the writer, the flusher and the watchdog.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    flusher_cv: Condvar,
    watchdog_cv: Condvar,
    logic_cv: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock_unpoisoned()
    }

    /// Queues waiters (in append order) for the next fsync.
    pub fn push(&self, ws: impl IntoIterator<Item = Waiter>) {
        let mut st = self.lock();
        let before = st.waiters.len();
        st.waiters.extend(ws);
        if st.waiters.len() != before {
            self.flusher_cv.notify_one();
            // Deadlines grow in push order, so the watchdog's next deadline changes only when
            // the queue was empty: waking it for every batch would cost a context switch each.
            if before == 0 {
                self.watchdog_cv.notify_one();
            }
        }
    }

    /// Asks the flusher and watchdog to finish.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.flusher_cv.notify_all();
        self.watchdog_cv.notify_all();
        self.logic_cv.notify_all();
    }

    /// Stops the flusher and watchdog at once, without a final flush (crash simulation).
    /// Waiting puts are dropped (their callers see the store as unavailable).
    pub fn crash(&self) {
        let mut st = self.lock();
        st.shutdown = true;
        st.crashed = true;
        st.waiters.clear();
        drop(st);
        self.flusher_cv.notify_all();
        self.watchdog_cv.notify_all();
        self.logic_cv.notify_all();
    }

    /// Answers every waiter covered by `flushed`.
    fn complete(&self, flushed: i64) {
        let mut done = Vec::new();
        {
            let mut st = self.lock();
            while st.waiters.front().is_some_and(|w| w.end <= flushed) {
                done.extend(st.waiters.pop_front());
            }
        }
        for w in done {
            w.answer(PutStatus::Ok);
        }
    }

    /// Fails every waiting put with `status` (fsync error).
    fn fail_all(&self, status: PutStatus) {
        let all: Vec<Waiter> = self.lock().waiters.drain(..).collect();
        for w in all {
            w.answer(status);
        }
    }

    /// Watchdog body: answers overdue waiters with `FlushDiskTimeout`. Returns at shutdown.
    pub fn run_watchdog(&self) {
        let mut st = self.lock();
        loop {
            if st.crashed || (st.shutdown && st.waiters.is_empty()) {
                return;
            }
            let now = STORE_CLOCK.now();
            match st.waiters.front().map(|w| w.deadline) {
                Some(d) if d <= now => {
                    let mut overdue = Vec::new();
                    while st.waiters.front().is_some_and(|w| w.deadline <= now) {
                        overdue.extend(st.waiters.pop_front());
                    }
                    drop(st);
                    for w in overdue {
                        w.answer(PutStatus::FlushDiskTimeout);
                    }
                    st = self.lock();
                }
                Some(d) => {
                    st = self.watchdog_cv.wait_timeout_unpoisoned(st, d - now).0;
                }
                None if st.shutdown => return,
                None => {
                    st = self.watchdog_cv.wait_unpoisoned(st);
                }
            }
        }
    }

    /// Logic flusher body: runs `logic` every `interval` until shutdown or crash (the final
    /// logic flush at shutdown is the flusher's, after its last commit-log fsync).
    pub fn run_logic_flusher(&self, interval: Duration, mut logic: impl FnMut()) {
        let mut next = STORE_CLOCK.now() + interval;
        loop {
            {
                let mut st = self.lock();
                loop {
                    if st.shutdown {
                        return;
                    }
                    let now = STORE_CLOCK.now();
                    if next <= now {
                        break;
                    }
                    st = self.logic_cv.wait_timeout_unpoisoned(st, next - now).0;
                }
            }
            logic();
            next = STORE_CLOCK.now() + interval;
        }
    }

    /// Flusher body. `flush_log(target)` fsyncs the commit log up to `target` (`None` = all
    /// written data) and returns the flushed offset; `final_logic` flushes consume queues,
    /// index and checkpoint once at shutdown, after the last commit-log fsync. Returns after
    /// that final flush.
    pub fn run_flusher(
        &self,
        mode: FlushMode,
        mut flush_log: impl FnMut(Option<i64>) -> Result<i64>,
        final_logic: impl FnOnce(),
    ) {
        let mut next_log = match mode {
            FlushMode::Async { interval } => Some(STORE_CLOCK.now() + interval),
            FlushMode::Sync { .. } => None,
        };
        loop {
            let (target, shutdown) = {
                let mut st = self.lock();
                loop {
                    let now = STORE_CLOCK.now();
                    let due = next_log.is_some_and(|t| t <= now);
                    if st.shutdown || !st.waiters.is_empty() || due {
                        break;
                    }
                    st = match next_log {
                        Some(wake) => self.flusher_cv.wait_timeout_unpoisoned(st, wake - now).0,
                        None => self.flusher_cv.wait_unpoisoned(st),
                    };
                }
                if st.crashed {
                    return;
                }
                (st.waiters.back().map(|w| w.end), st.shutdown)
            };
            let now = STORE_CLOCK.now();
            let log_due = shutdown || target.is_some() || next_log.is_some_and(|t| t <= now);
            if log_due {
                match flush_log(if shutdown { None } else { target }) {
                    Ok(flushed) => self.complete(flushed),
                    Err(e) => {
                        tracing::error!(error = %e, "commit-log fsync failed");
                        self.fail_all(PutStatus::FlushDiskTimeout);
                    }
                }
                if let (FlushMode::Async { interval }, Some(t)) = (mode, next_log.as_mut()) {
                    *t = STORE_CLOCK.now() + interval;
                }
            }
            if shutdown {
                final_logic();
                // Anything still queued was appended after the final flush target.
                if let Ok(flushed) = flush_log(None) {
                    self.complete(flushed);
                }
                self.fail_all(PutStatus::FlushDiskTimeout);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::sync::Arc;

    fn waiter(end: i64, timeout: Duration) -> (Waiter, oneshot::Receiver<Result<Vec<PutResult>>>) {
        let (tx, rx) = oneshot::channel();
        let r = PutResult {
            status: PutStatus::Ok,
            commit_log_offset: end - 10,
            queue_offset: 0,
            store_size: 10,
            msg_id: crate::store::OffsetMsgId::new(([127, 0, 0, 1], 10911).into(), end - 10),
            store_timestamp: 0,
        };
        (
            Waiter {
                end,
                deadline: STORE_CLOCK.now() + timeout,
                results: vec![r],
                reply: tx,
            },
            rx,
        )
    }

    fn start(
        gc: &Arc<GroupCommit>,
        fsync_delay: Duration,
        written: Arc<AtomicI64>,
        fsyncs: Arc<AtomicUsize>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let g1 = gc.clone();
        let g2 = gc.clone();
        vec![
            std::thread::spawn(move || g1.run_watchdog()),
            std::thread::spawn(move || {
                g2.run_flusher(
                    FlushMode::Sync {
                        timeout: Duration::from_secs(5),
                    },
                    |_| {
                        std::thread::sleep(fsync_delay);
                        fsyncs.fetch_add(1, Ordering::SeqCst);
                        Ok(written.load(Ordering::SeqCst))
                    },
                    || {},
                )
            }),
        ]
    }

    #[test]
    fn slow_fsync_answers_flush_disk_timeout_at_the_deadline() {
        let gc = Arc::new(GroupCommit::default());
        let written = Arc::new(AtomicI64::new(100));
        let threads = start(&gc, Duration::from_millis(700), written, Default::default());
        let (w, rx) = waiter(100, Duration::from_millis(100));
        let t0 = STORE_CLOCK.now();
        gc.push([w]);
        let res = futures::executor::block_on(rx).unwrap().unwrap();
        assert_eq!(res[0].status, PutStatus::FlushDiskTimeout);
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "answered at the deadline, not after the fsync"
        );
        gc.shutdown();
        threads.into_iter().for_each(|t| t.join().unwrap());
    }

    #[test]
    fn one_fsync_answers_all_queued_waiters() {
        let gc = Arc::new(GroupCommit::default());
        let written = Arc::new(AtomicI64::new(1000));
        let fsyncs = Arc::new(AtomicUsize::new(0));
        let threads = start(&gc, Duration::from_millis(50), written, fsyncs.clone());
        let mut rxs = Vec::new();
        let mut ws = Vec::new();
        for i in 1..=50 {
            let (w, rx) = waiter(i * 10, Duration::from_secs(5));
            ws.push(w);
            rxs.push(rx);
        }
        gc.push(ws);
        for rx in rxs {
            let r = futures::executor::block_on(rx).unwrap().unwrap();
            assert_eq!(r[0].status, PutStatus::Ok);
        }
        assert!(fsyncs.load(Ordering::SeqCst) <= 2);
        gc.shutdown();
        threads.into_iter().for_each(|t| t.join().unwrap());
    }
}
