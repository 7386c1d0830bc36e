//! Request-level faults a test switches on and off on a running broker
//! ([`BrokerHandle::faults`](crate::BrokerHandle::faults)): refuse requests with a chosen
//! response code, delay or drop responses (seeded, so a run repeats), freeze (stop answering
//! until thawed), a full disk ([`Faults::fill_disk`]) and, on a slave, replication held
//! back ([`Faults::fall_behind`]).
//!
//! Nothing is active by default; the request path then pays one atomic load.
//!
//! ```
//! # // The cluster needs the `embedded` feature; without it the example compiles to nothing.
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! # #[cfg(feature = "embedded")]
//! # fn main() {
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
//! use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
//! use rocketmq_rs_remoting::protocol::code::ResponseCode;
//!
//! let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
//! let cluster = EmbeddedCluster::start(rt).await.unwrap();
//! let faults = cluster.broker("broker-a").unwrap().faults();
//! faults.refuse_sends(ResponseCode::SYSTEM_BUSY);
//! assert!(faults.is_active());
//! faults.clear();
//! assert!(!faults.is_active());
//! cluster.shutdown().await;
//! # });
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketmq_rs_remoting::protocol::code::RequestCode;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, ShutdownSignal};
use rocketmq_rs_remoting::util::MutexExt;

use crate::store::MessageStore;

/// Response dropping: each response is dropped with `percent` % probability, drawn from a
/// generator seeded with `seed`.
struct Dropper {
    percent: u8,
    rng: fastrand::Rng,
    only: Option<Vec<i32>>,
}

#[derive(Default)]
struct State {
    /// Request code → (response code, remark).
    refuse: HashMap<i32, (i32, String)>,
    delay: Option<Duration>,
    drop: Option<Dropper>,
    /// Set while frozen; triggered (and cleared) by `thaw`.
    frozen: Option<ShutdownSignal>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.refuse.is_empty()
            && self.delay.is_none()
            && self.drop.is_none()
            && self.frozen.is_none()
    }
}

/// Holds a piece of background work (NameServer registration, replication) still while
/// closed: what [`Faults::freeze`] closes besides the request path. Open by default.
#[derive(Debug, Default)]
pub struct HoldGate {
    closed: Mutex<Option<ShutdownSignal>>,
}

impl HoldGate {
    /// Holds the work at its next check.
    pub fn close(&self) {
        self.closed
            .lock_unpoisoned()
            .get_or_insert_with(ShutdownSignal::new);
    }

    /// Lets the held work go on.
    pub fn open(&self) {
        if let Some(sig) = self.closed.lock_unpoisoned().take() {
            sig.trigger();
        }
    }

    /// Whether the work is held.
    pub fn is_closed(&self) -> bool {
        self.closed.lock_unpoisoned().is_some()
    }

    /// Returns once the gate is open (at once when it is).
    pub async fn opened(&self) {
        let wait = self
            .closed
            .lock_unpoisoned()
            .as_ref()
            .map(ShutdownSignal::wait);
        if let Some(w) = wait {
            w.await;
        }
    }
}

/// The faults of one broker; see the [module docs](self).
pub struct Faults {
    active: AtomicBool,
    state: Mutex<State>,
    rt: Arc<dyn Runtime>,
    store: MessageStore,
    /// The replication gate when this broker is a slave.
    replication: Option<Arc<crate::ha::ReplicationGate>>,
    /// Background work a freeze holds still: registration, replication.
    holds: Vec<Arc<HoldGate>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock_unpoisoned();
        f.debug_struct("Faults")
            .field("refuse", &s.refuse)
            .field("delay", &s.delay)
            .field("drop_percent", &s.drop.as_ref().map(|d| d.percent))
            .field("frozen", &s.frozen.is_some())
            .field("disk_full", &self.store.is_disk_full())
            .finish()
    }
}

/// What the request path does with one request.
pub(crate) enum Verdict {
    /// Answer this instead of processing.
    Refuse(RemotingCommand),
    /// Process, then delay the response and/or drop it.
    Process { delay: Option<Duration>, drop: bool },
}

const SEND_CODES: [i32; 3] = [
    RequestCode::SEND_MESSAGE,
    RequestCode::SEND_MESSAGE_V2,
    RequestCode::SEND_BATCH_MESSAGE,
];

impl Faults {
    pub(crate) fn new(
        rt: Arc<dyn Runtime>,
        store: MessageStore,
        replication: Option<Arc<crate::ha::ReplicationGate>>,
        holds: Vec<Arc<HoldGate>>,
    ) -> Self {
        Faults {
            active: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            rt,
            store,
            replication,
            holds,
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock_unpoisoned();
        f(&mut s);
        self.active.store(!s.is_empty(), Ordering::Release);
    }

    /// Whether any request fault is on (the disk fault aside).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Answers every send (SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE) with
    /// `response_code` (a [`ResponseCode`](rocketmq_rs_remoting::protocol::code::ResponseCode)
    /// such as `SYSTEM_BUSY`) without storing anything.
    pub fn refuse_sends(&self, response_code: i32) {
        for code in SEND_CODES {
            self.refuse(code, response_code);
        }
    }

    /// Answers every request with `request_code` with `response_code` without processing it.
    pub fn refuse(&self, request_code: i32, response_code: i32) {
        self.update(|s| {
            s.refuse.insert(
                request_code,
                (
                    response_code,
                    format!("[fault] request {request_code} refused"),
                ),
            );
        });
    }

    /// Stops refusing sends.
    pub fn accept_sends(&self) {
        self.update(|s| {
            for code in SEND_CODES {
                s.refuse.remove(&code);
            }
        });
    }

    /// Holds every response `d` (by the broker's clock: virtual time on a virtual cluster)
    /// after processing; `Duration::ZERO` switches it off.
    pub fn delay_responses(&self, d: Duration) {
        self.update(|s| s.delay = (!d.is_zero()).then_some(d));
    }

    /// Processes every request but drops `percent` % of the responses (the client's request
    /// times out), chosen by a generator seeded with `seed`: the same requests in the same
    /// order lose the same responses. `percent` 0 switches it off; above 100 counts as 100.
    pub fn drop_responses(&self, percent: u8, seed: u64) {
        self.drop_responses_of(percent, seed, None);
    }

    /// [`drop_responses`](Self::drop_responses) for the listed request codes only.
    pub fn drop_responses_of(&self, percent: u8, seed: u64, request_codes: Option<&[i32]>) {
        self.update(|s| {
            s.drop = (percent > 0).then(|| Dropper {
                percent: percent.min(100),
                rng: fastrand::Rng::with_seed(seed),
                only: request_codes.map(<[i32]>::to_vec),
            });
        });
    }

    /// Freezes the broker as SIGSTOP would, with its connections left open: requests
    /// arriving from now on wait until [`thaw`](Self::thaw), NameServer registration stops
    /// (the NameServer drops the broker from its routes after its broker expiry, 120 s), and
    /// replication stops on both ends (a master sends nothing more, a slave reads and
    /// acknowledges nothing; the peer's replication idle timeout ends the session). Work
    /// driven by the broker's own timers (delay delivery, transaction checks, client expiry)
    /// goes on.
    pub fn freeze(&self) {
        self.update(|s| {
            s.frozen.get_or_insert_with(ShutdownSignal::new);
        });
        for g in &self.holds {
            g.close();
        }
    }

    /// Ends [`freeze`](Self::freeze): the waiting requests are processed, the broker
    /// registers with the NameServer at once and replication resumes (a slave catches up from
    /// where it stopped).
    pub fn thaw(&self) {
        self.update(|s| {
            if let Some(sig) = s.frozen.take() {
                sig.trigger();
            }
        });
        for g in &self.holds {
            g.open();
        }
    }

    /// Whether the broker is frozen.
    pub fn is_frozen(&self) -> bool {
        self.state.lock_unpoisoned().frozen.is_some()
    }

    /// Refuses every put as on a full disk (senders get Apache's disk-full answer) until
    /// [`free_disk`](Self::free_disk).
    pub fn fill_disk(&self) {
        self.store.simulate_disk_full(true);
    }

    /// Ends [`fill_disk`](Self::fill_disk).
    pub fn free_disk(&self) {
        self.store.simulate_disk_full(false);
    }

    /// On a slave: stops replicating (nothing more appended or acknowledged), so the slave
    /// falls behind its master until [`catch_up`](Self::catch_up). Returns false on a
    /// master, which has nothing to hold.
    pub fn fall_behind(&self) -> bool {
        match &self.replication {
            Some(g) => {
                g.close();
                true
            }
            None => false,
        }
    }

    /// Ends [`fall_behind`](Self::fall_behind): the slave replicates what it missed.
    pub fn catch_up(&self) {
        if let Some(g) = &self.replication {
            g.open();
        }
    }

    /// Switches every fault off (thawing a freeze, freeing the disk, resuming replication).
    pub fn clear(&self) {
        self.update(|s| {
            if let Some(sig) = s.frozen.take() {
                sig.trigger();
            }
            *s = State::default();
        });
        for g in &self.holds {
            g.open();
        }
        self.free_disk();
        self.catch_up();
    }

    /// The request path: what to do with `req`. Waits while frozen.
    pub(crate) async fn verdict(&self, req: &RemotingCommand) -> Verdict {
        let frozen = self
            .state
            .lock_unpoisoned()
            .frozen
            .as_ref()
            .map(|s| s.wait());
        if let Some(thawed) = frozen {
            thawed.await;
        }
        let mut s = self.state.lock_unpoisoned();
        if let Some((code, remark)) = s.refuse.get(&req.code) {
            return Verdict::Refuse(RemotingCommand::response(*code, Some(remark.clone())));
        }
        let drop = match &mut s.drop {
            Some(d) if d.only.as_ref().is_none_or(|c| c.contains(&req.code)) => {
                d.rng.u8(0..100) < d.percent
            }
            _ => false,
        };
        Verdict::Process {
            delay: s.delay,
            drop,
        }
    }

    /// Sleeps `d` on the broker's runtime.
    pub(crate) async fn hold(&self, d: Duration) {
        self.rt.sleep(d).await;
    }
}
