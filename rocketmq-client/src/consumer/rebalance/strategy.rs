//! Queue allocation strategies: which of a topic's queues this consumer takes (docs/protocol/rebalance.md §2).
//!
//! Every member of a group computes its own share from the same inputs, so the results must be
//! exactly those of the Java client, or a mixed Rust/Java group would leave queues unconsumed or
//! consume them twice. All strategies here reproduce Java's `AllocateMessageQueue*` results.
//!
//! **Inputs must be sorted by the caller**, as Java's `RebalanceImpl` does: `mq_all` by
//! [`MessageQueue`]'s order and `cid_all` by Java `String` order. The strategies do not sort
//! (that would cost an allocation per call and hide caller bugs); use
//! [`sort_for_allocation`] to prepare both lists.
//!
//! Where Java throws `IllegalArgumentException` (empty `current_cid`, `mq_all` or `cid_all`),
//! these strategies return an empty allocation instead. A `current_cid` missing from `cid_all`
//! also yields an empty allocation, like Java.

use std::collections::{BTreeMap, HashSet};

use md5::{Digest, Md5};

use crate::message_queue::MessageQueue;
use crate::util::java_string_cmp;

/// Decides which queues of a topic the consumer `current_cid` takes (Java
/// `AllocateMessageQueueStrategy`).
///
/// Implemented by the strategies in this module and by any closure
/// `Fn(&str, &str, &[MessageQueue], &[String]) -> Vec<MessageQueue>` (whose
/// [`name`](AllocateStrategy::name) is `"CUSTOM"`).
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::AllocateStrategy;
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// // Take every queue of broker-a, whatever the other consumers do.
/// let only_a = |_group: &str, _cid: &str, mqs: &[MessageQueue], _cids: &[String]| {
///     mqs.iter().filter(|m| m.broker_name == "broker-a").cloned().collect::<Vec<_>>()
/// };
/// let mqs = [MessageQueue::new("T", "broker-a", 0), MessageQueue::new("T", "broker-b", 0)];
/// let got = only_a.allocate("g", "c1", &mqs, &["c1".to_string()]);
/// assert_eq!(got, vec![MessageQueue::new("T", "broker-a", 0)]);
/// assert_eq!(only_a.name(), "CUSTOM");
/// ```
pub trait AllocateStrategy: Send + Sync + 'static {
    /// The strategy name reported in consumer running info (Java `getName()`, e.g. `"AVG"`).
    fn name(&self) -> &str;

    /// Returns the queues from `mq_all` that `current_cid` should consume, in `mq_all` order.
    ///
    /// `mq_all` and `cid_all` must be sorted (see the [module docs](self)).
    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue>;
}

impl<F> AllocateStrategy for F
where
    F: Fn(&str, &str, &[MessageQueue], &[String]) -> Vec<MessageQueue> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        "CUSTOM"
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        self(group, current_cid, mq_all, cid_all)
    }
}

/// Sorts allocation inputs the way Java's `RebalanceImpl` does before calling a strategy.
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::sort_for_allocation;
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let mut mqs = vec![MessageQueue::new("T", "b", 0), MessageQueue::new("T", "a", 1)];
/// let mut cids = vec!["10.0.0.2@1".to_string(), "10.0.0.1@1".to_string()];
/// sort_for_allocation(&mut mqs, &mut cids);
/// assert_eq!(mqs[0].broker_name, "a");
/// assert_eq!(cids[0], "10.0.0.1@1");
/// ```
pub fn sort_for_allocation(mq_all: &mut [MessageQueue], cid_all: &mut [String]) {
    mq_all.sort();
    cid_all.sort_by(|a, b| java_string_cmp(a, b));
}

/// Java's `AbstractAllocateMessageQueueStrategy.check` plus `indexOf`: the position of
/// `current_cid`, or `None` when nothing should be allocated.
fn current_index(
    group: &str,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Option<usize> {
    if current_cid.is_empty() || mq_all.is_empty() || cid_all.is_empty() {
        return None;
    }
    let index = cid_all.iter().position(|c| c == current_cid);
    if index.is_none() {
        tracing::info!(
            group,
            current_cid,
            ?cid_all,
            "[BUG] consumer id not in the group's consumer list; allocating nothing"
        );
    }
    index
}

/// Contiguous blocks, larger blocks first (Java `AllocateMessageQueueAveragely`, name `"AVG"`,
/// the default).
///
/// With 8 queues and 3 consumers: consumer 0 gets queues 0..3, consumer 1 gets 3..6,
/// consumer 2 gets 6..8 (docs/protocol/rebalance.md §3).
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::{AllocateAveragely, AllocateStrategy};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let mqs: Vec<_> = (0..8).map(|i| MessageQueue::new("T", "b", i)).collect();
/// let cids: Vec<String> = ["c0", "c1", "c2"].iter().map(|s| s.to_string()).collect();
/// let mine = AllocateAveragely.allocate("g", "c2", &mqs, &cids);
/// assert_eq!(mine, mqs[6..8].to_vec());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocateAveragely;

impl AllocateStrategy for AllocateAveragely {
    fn name(&self) -> &str {
        "AVG"
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(index) = current_index(group, current_cid, mq_all, cid_all) else {
            return Vec::new();
        };
        let (n, c) = (mq_all.len(), cid_all.len());
        let rem = n % c;
        let gets_extra = rem > 0 && index < rem;
        let average = if n <= c {
            1
        } else if gets_extra {
            n / c + 1
        } else {
            n / c
        };
        let start = if gets_extra {
            index * average
        } else {
            index * average + rem
        };
        if start >= n {
            return Vec::new();
        }
        let end = start + average.min(n - start);
        mq_all[start..end].to_vec()
    }
}

/// Round robin: consumer `i` takes queues `i, i + c, i + 2c, …` (Java
/// `AllocateMessageQueueAveragelyByCircle`, name `"AVG_BY_CIRCLE"`).
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::{AllocateAveragelyByCircle, AllocateStrategy};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let mqs: Vec<_> = (0..8).map(|i| MessageQueue::new("T", "b", i)).collect();
/// let cids: Vec<String> = ["c0", "c1", "c2"].iter().map(|s| s.to_string()).collect();
/// let ids: Vec<i32> = AllocateAveragelyByCircle
///     .allocate("g", "c0", &mqs, &cids)
///     .iter()
///     .map(|m| m.queue_id)
///     .collect();
/// assert_eq!(ids, [0, 3, 6]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocateAveragelyByCircle;

impl AllocateStrategy for AllocateAveragelyByCircle {
    fn name(&self) -> &str {
        "AVG_BY_CIRCLE"
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(index) = current_index(group, current_cid, mq_all, cid_all) else {
            return Vec::new();
        };
        mq_all
            .iter()
            .skip(index)
            .step_by(cid_all.len())
            .cloned()
            .collect()
    }
}

/// Consistent hashing over an MD5 ring (Java `AllocateMessageQueueConsistentHash` with
/// `ConsistentHashRouter`'s default `MD5Hash`, name `"CONSISTENT_HASH"`).
///
/// Each consumer id `cid` puts `virtual_nodes` points on a ring at `hash(cid + "-" + i)`; a
/// queue belongs to the first point at or after `hash(queue.to_string())`, wrapping around.
/// `hash(s)` is the first 4 bytes of MD5(UTF-8 `s`) as an unsigned big-endian integer. Adding
/// or removing a consumer moves only the queues next to its points.
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::{AllocateConsistentHash, AllocateStrategy};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let mqs: Vec<_> = (0..4).map(|i| MessageQueue::new("T", "b", i)).collect();
/// let cids = vec!["only".to_string()];
/// assert_eq!(AllocateConsistentHash::default().allocate("g", "only", &mqs, &cids), mqs);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocateConsistentHash {
    /// Points per consumer on the ring (Java `virtualNodeCnt`, default 10). With 0 points the
    /// ring is empty and nothing is allocated, like Java.
    pub virtual_nodes: usize,
}

impl Default for AllocateConsistentHash {
    fn default() -> Self {
        AllocateConsistentHash { virtual_nodes: 10 }
    }
}

impl AllocateConsistentHash {
    /// A strategy with `virtual_nodes` points per consumer.
    pub fn new(virtual_nodes: usize) -> Self {
        AllocateConsistentHash { virtual_nodes }
    }

    /// The ring position of `key`: the first 4 bytes of its MD5 digest, big-endian.
    ///
    /// ```
    /// use rocketmq_rs_client::consumer::rebalance::strategy::AllocateConsistentHash;
    /// // MD5("") = d41d8cd98f00b204e9800998ecf8427e
    /// assert_eq!(AllocateConsistentHash::hash(""), 0xd41d8cd9);
    /// ```
    pub fn hash(key: &str) -> u32 {
        let digest = Md5::digest(key.as_bytes());
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl AllocateStrategy for AllocateConsistentHash {
    fn name(&self) -> &str {
        "CONSISTENT_HASH"
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        if current_index(group, current_cid, mq_all, cid_all).is_none() {
            return Vec::new();
        }
        // Ring position -> index into cid_all. A later insert at an equal position replaces
        // the earlier one, as Java's TreeMap.put does.
        let mut ring: BTreeMap<u32, usize> = BTreeMap::new();
        let mut seen: HashSet<&str> = HashSet::with_capacity(cid_all.len());
        let mut key = String::new();
        for (ci, cid) in cid_all.iter().enumerate() {
            // Java numbers a repeated node's replicas after those already on the ring.
            let existing = if seen.insert(cid.as_str()) {
                0
            } else {
                ring.values().filter(|&&i| cid_all[i] == *cid).count()
            };
            for i in 0..self.virtual_nodes {
                key.clear();
                key.push_str(cid);
                key.push('-');
                key.push_str(&(i + existing).to_string());
                ring.insert(Self::hash(&key), ci);
            }
        }
        let Some((_, &first)) = ring.iter().next() else {
            return Vec::new();
        };
        mq_all
            .iter()
            .filter(|mq| {
                let h = Self::hash(&mq.to_string());
                let owner = ring.range(h..).next().map_or(first, |(_, &ci)| ci);
                cid_all[owner] == current_cid
            })
            .cloned()
            .collect()
    }
}

/// A fixed list of queues, whatever the group looks like (Java `AllocateMessageQueueByConfig`,
/// name `"CONFIG"`).
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::{AllocateByConfig, AllocateStrategy};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let fixed = AllocateByConfig(vec![MessageQueue::new("T", "b", 1)]);
/// assert_eq!(fixed.allocate("g", "c", &[], &[]), fixed.0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateByConfig(pub Vec<MessageQueue>);

impl AllocateStrategy for AllocateByConfig {
    fn name(&self) -> &str {
        "CONFIG"
    }

    fn allocate(&self, _: &str, _: &str, _: &[MessageQueue], _: &[String]) -> Vec<MessageQueue> {
        self.0.clone()
    }
}

/// Queues of brokers named `<idc>@<name>` whose `idc` is in `consumer_idcs`, split in blocks
/// (Java `AllocateMessageQueueByMachineRoom`, name `"MACHINE_ROOM"`).
///
/// The eligible queues are split into `len / c` queues per consumer, and the first
/// `len % c` consumers each get one of the leftover queues at the end.
///
/// ```
/// use rocketmq_rs_client::consumer::rebalance::strategy::{AllocateByMachineRoom, AllocateStrategy};
/// use rocketmq_rs_client::message_queue::MessageQueue;
///
/// let s = AllocateByMachineRoom::new(["room1"]);
/// let mqs = vec![
///     MessageQueue::new("T", "room1@broker-a", 0),
///     MessageQueue::new("T", "room2@broker-b", 0),
/// ];
/// let got = s.allocate("g", "c", &mqs, &["c".to_string()]);
/// assert_eq!(got, vec![mqs[0].clone()]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateByMachineRoom {
    /// Machine rooms (IDCs) this group consumes from.
    pub consumer_idcs: HashSet<String>,
}

impl AllocateByMachineRoom {
    /// A strategy consuming from the given machine rooms.
    pub fn new<I, S>(consumer_idcs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AllocateByMachineRoom {
            consumer_idcs: consumer_idcs.into_iter().map(Into::into).collect(),
        }
    }

    /// Java `brokerName.split("@")` yields exactly two parts (trailing empty parts dropped)
    /// and the first is one of our rooms.
    fn eligible(&self, broker_name: &str) -> bool {
        let mut parts: Vec<&str> = broker_name.split('@').collect();
        while parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        parts.len() == 2 && self.consumer_idcs.contains(parts[0])
    }
}

impl AllocateStrategy for AllocateByMachineRoom {
    fn name(&self) -> &str {
        "MACHINE_ROOM"
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(index) = current_index(group, current_cid, mq_all, cid_all) else {
            return Vec::new();
        };
        let pre: Vec<&MessageQueue> = mq_all
            .iter()
            .filter(|mq| self.eligible(&mq.broker_name))
            .collect();
        let c = cid_all.len();
        let per = pre.len() / c;
        let rem = pre.len() % c;
        let mut out: Vec<MessageQueue> = pre[per * index..per * index + per]
            .iter()
            .map(|m| (*m).clone())
            .collect();
        if rem > index {
            out.push(pre[index + per * c].clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(spec: &[(&str, i32)]) -> Vec<MessageQueue> {
        spec.iter()
            .flat_map(|(b, n)| (0..*n).map(move |i| MessageQueue::new("TopicTest", *b, i)))
            .collect()
    }

    fn cids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("10.0.0.{i}@1")).collect()
    }

    fn ids(v: &[MessageQueue]) -> Vec<(String, i32)> {
        v.iter()
            .map(|m| (m.broker_name.clone(), m.queue_id))
            .collect()
    }

    #[test]
    fn machine_room_split_matches_java() {
        let s = AllocateByMachineRoom::new(["r1"]);
        let all = mqs(&[("r1@a", 5), ("r2@b", 3), ("r1@", 1), ("r1@c@", 1), ("x", 1)]);
        // Eligible: r1@a:0..4 (5) and "r1@c@" (split gives ["r1","c"]) = 6 queues; "r1@" splits
        // to ["r1"] (one part), so it is not eligible.
        let c = cids(4);
        let got: Vec<Vec<(String, i32)>> = c
            .iter()
            .map(|cid| ids(&s.allocate("g", cid, &all, &c)))
            .collect();
        let q = |b: &str, i: i32| (b.to_string(), i);
        assert_eq!(got[0], vec![q("r1@a", 0), q("r1@a", 4)]);
        assert_eq!(got[1], vec![q("r1@a", 1), q("r1@c@", 0)]);
        assert_eq!(got[2], vec![q("r1@a", 2)]);
        assert_eq!(got[3], vec![q("r1@a", 3)]);
    }
}
