//! Helpers for tests that users would otherwise write themselves: produce K keyed messages,
//! run a consumer group of N members in one process, and check that every key was consumed
//! exactly once. They pair with the embedded cluster of `rocketmq-rs-mini-broker` (its
//! `wait_until` waits on real or virtual time); see `docs/TESTING.md`.
//!
//! ```
//! use rocketmq_rs_client::testing::{DeliveryReport, KeyLedger};
//! use rocketmq_rs_client::MessageExt;
//!
//! let ledger = KeyLedger::new();
//! let mut m = MessageExt::default();
//! m.properties.insert("KEYS", "order-1");
//! ledger.record(&m);
//! ledger.record(&m);
//! let report: DeliveryReport = ledger.check_exactly_once(["order-1", "order-2"]).unwrap_err();
//! assert_eq!(report.duplicated, [("order-1".to_string(), 2)]);
//! assert_eq!(report.missing, ["order-2"]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::util::MutexExt;

use crate::consumer::{ConsumeContext, ConsumeResult, PushConsumer, PushConsumerConfig};
use crate::{ClientConfig, Error, Message, MessageExt, Producer, Result};

/// Counts deliveries per message key (the `KEYS` property; a message with several keys counts
/// for each). Share it (`Arc`) between listeners.
#[derive(Debug, Default)]
pub struct KeyLedger {
    seen: Mutex<BTreeMap<String, usize>>,
}

/// How deliveries differed from "each expected key exactly once".
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Expected keys never delivered, sorted.
    pub missing: Vec<String>,
    /// Keys delivered more than once, with their count, sorted by key.
    pub duplicated: Vec<(String, usize)>,
    /// Keys delivered that were not expected, sorted.
    pub unexpected: Vec<String>,
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not exactly once: {} missing {:?}, {} duplicated {:?}, {} unexpected {:?}",
            self.missing.len(),
            self.missing,
            self.duplicated.len(),
            self.duplicated,
            self.unexpected.len(),
            self.unexpected
        )
    }
}

impl KeyLedger {
    /// An empty ledger, shared.
    pub fn new() -> Arc<KeyLedger> {
        Arc::default()
    }

    /// Counts one delivery of `msg`'s keys (nothing for a message without keys).
    pub fn record(&self, msg: &MessageExt) {
        let Some(keys) = msg.keys() else { return };
        let mut seen = self.seen.lock_unpoisoned();
        for k in keys.split(' ').filter(|k| !k.is_empty()) {
            *seen.entry(k.to_string()).or_default() += 1;
        }
    }

    /// Deliveries counted so far (all keys).
    pub fn deliveries(&self) -> usize {
        self.seen.lock_unpoisoned().values().sum()
    }

    /// Times `key` was delivered.
    pub fn count(&self, key: &str) -> usize {
        self.seen.lock_unpoisoned().get(key).copied().unwrap_or(0)
    }

    /// The keys of `expected` not delivered yet, in order.
    pub fn missing<I, S>(&self, expected: I) -> Vec<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let seen = self.seen.lock_unpoisoned();
        expected
            .into_iter()
            .filter(|k| !seen.contains_key(k.as_ref()))
            .map(|k| k.as_ref().to_string())
            .collect()
    }

    /// `Ok` when every key of `expected` was delivered exactly once and nothing else was;
    /// otherwise what differed.
    ///
    /// # Errors
    ///
    /// The [`DeliveryReport`] of missing, duplicated and unexpected keys.
    pub fn check_exactly_once<I, S>(&self, expected: I) -> std::result::Result<(), DeliveryReport>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let expected: BTreeMap<String, ()> = expected
            .into_iter()
            .map(|k| (k.as_ref().to_string(), ()))
            .collect();
        let seen = self.seen.lock_unpoisoned();
        let report = DeliveryReport {
            missing: expected
                .keys()
                .filter(|k| !seen.contains_key(*k))
                .cloned()
                .collect(),
            duplicated: seen
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(k, n)| (k.clone(), *n))
                .collect(),
            unexpected: seen
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .cloned()
                .collect(),
        };
        if report == DeliveryReport::default() {
            Ok(())
        } else {
            Err(report)
        }
    }
}

/// Sends `k` messages to `topic`, the `i`-th with body and key `{prefix}-{i}`, one after the
/// other; returns the keys.
///
/// # Errors
///
/// The first send error.
pub async fn produce_keyed(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    k: usize,
) -> Result<Vec<String>> {
    let mut keys = Vec::with_capacity(k);
    for i in 0..k {
        let key = format!("{prefix}-{i}");
        let mut m = Message::new(topic, key.clone());
        m.set_keys([key.clone()]);
        producer.send(m).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// Crashes `consumer` as `kill -9` would: every task of the consumer and of its client
/// instance stops at once and its connections close, with nothing committed, unlocked or
/// unregistered. The brokers drop it from the group when its connections close (Apache's
/// broker does the same on a channel close), but the queue locks an orderly consumer held stay
/// until the broker's lock expiry (`rebalanceLockMaxLiveTime`, 60 s), and offsets it consumed
/// without committing are consumed again by the next owner.
///
/// The consumer counts as shut down afterwards; drop it. A consumer built on a shared client
/// instance stops its own work, but the shared instance keeps running.
///
/// ```no_run
/// # async fn demo(c: rocketmq_rs_client::PushConsumer) {
/// rocketmq_rs_client::testing::kill(&c);
/// assert!(!c.is_running());
/// # }
/// ```
pub fn kill(consumer: &PushConsumer) {
    consumer.halt(true);
}

/// Hangs `consumer` like a stopped process (SIGSTOP, a stuck VM, a host cut off without
/// closing its sockets): every task of the consumer and of its client instance stops at once
/// (heartbeats, rebalance, pulls, lock renewal, offset commits) while its connections stay
/// open. The brokers keep it in the group until its heartbeats are missed for the channel
/// expiry (`channelExpiredTimeout`, 120 s; scanned every 10 s); then the other members take
/// its queues over. On a virtual-time cluster, advance past the expiry.
///
/// The consumer counts as shut down afterwards; drop it to release its connections.
pub fn hang(consumer: &PushConsumer) {
    consumer.halt(false);
}

/// `n` push consumers of one group in this process (clustering: they split the queues), each
/// recording what it consumes in one [`KeyLedger`] and answering `Success`.
pub struct ConsumerGroup {
    members: Vec<PushConsumer>,
    ledger: Arc<KeyLedger>,
}

impl fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("members", &self.members.len())
            .field("deliveries", &self.ledger.deliveries())
            .finish()
    }
}

impl ConsumerGroup {
    /// Builds and starts `n` members with `client` and `cfg` (its `group` names the group),
    /// subscribed to `topic` with `expression` (`*`, `TagA || TagB`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for `n` = 0; a member's build or start error (members already
    /// started are shut down).
    pub async fn start(
        client: ClientConfig,
        cfg: PushConsumerConfig,
        topic: &str,
        expression: &str,
        n: usize,
    ) -> Result<ConsumerGroup> {
        if n == 0 {
            return Err(Error::Config(
                "a consumer group needs at least one member".into(),
            ));
        }
        let ledger = KeyLedger::new();
        let mut group = ConsumerGroup {
            members: Vec::with_capacity(n),
            ledger: Arc::clone(&ledger),
        };
        for _ in 0..n {
            let l = Arc::clone(&ledger);
            let built = PushConsumer::builder()
                .client_config(client.clone())
                .config(cfg.clone())
                .subscribe(topic, expression)
                .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                    for m in &msgs {
                        l.record(m);
                    }
                    async { ConsumeResult::Success }
                })
                .build();
            let started = match built {
                Ok(c) => c.start().await.map(|()| c),
                Err(e) => Err(e),
            };
            match started {
                Ok(c) => group.members.push(c),
                Err(e) => {
                    group.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(group)
    }

    /// The shared ledger of what the members consumed.
    pub fn ledger(&self) -> &Arc<KeyLedger> {
        &self.ledger
    }

    /// The members.
    pub fn members(&self) -> &[PushConsumer] {
        &self.members
    }

    /// Shuts every member down (each commits its offsets first).
    pub async fn shutdown(self) {
        for c in self.members {
            if let Err(e) = c.shutdown().await {
                tracing::warn!(error = %e, "consumer group member shutdown failed");
            }
        }
    }
}
