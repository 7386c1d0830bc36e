//! Queue selectors for ordered sends (Java `MessageQueueSelector`).
//!
//! An ordered send puts all messages with the same key (an order id, a user id…) into the
//! same queue, so a consumer sees them in send order. The producer calls the selector with the
//! topic's writable queues (in route order, docs/protocol/route.md §2) and the caller's argument, and
//! sends to the chosen queue without retrying elsewhere.
//!
//! A selector returns an **index** into the queue slice. An index outside the slice (or `None`)
//! makes the producer fail the send rather than pick another queue, because silently changing
//! queues would break ordering.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::message_queue::MessageQueue;

/// Chooses the queue for an ordered send from the topic's writable queues and an argument.
///
/// Implemented by [`SelectByHash`], [`SelectByRoundRobin`], [`SelectByRandom`] and any closure
/// `Fn(&[MessageQueue], &A) -> Option<usize>`.
///
/// ```
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use rocketmq_rs_client::producer::selector::QueueSelector;
///
/// // Route by order id modulo the queue count.
/// let by_mod = |queues: &[MessageQueue], order_id: &u64| {
///     Some((*order_id % queues.len() as u64) as usize)
/// };
/// let queues: Vec<_> = (0..4).map(|i| MessageQueue::new("T", "b", i)).collect();
/// assert_eq!(by_mod.select(&queues, &10u64), Some(2));
/// ```
pub trait QueueSelector<A: ?Sized>: Send + Sync {
    /// Returns the index in `queues` of the queue to send to, or `None` if no queue fits.
    ///
    /// Called with a non-empty slice by the producer; implementations must still return
    /// `None` for an empty slice rather than panic.
    fn select(&self, queues: &[MessageQueue], arg: &A) -> Option<usize>;
}

impl<A, F> QueueSelector<A> for F
where
    A: ?Sized,
    F: Fn(&[MessageQueue], &A) -> Option<usize> + Send + Sync,
{
    fn select(&self, queues: &[MessageQueue], arg: &A) -> Option<usize> {
        self(queues, arg)
    }
}

/// Java's `Object.hashCode()` for the value types Java producers commonly pass as the
/// selector argument, so that Rust and Java producers route a key to the same queue.
///
/// | Rust | Java | hash |
/// |---|---|---|
/// | `str`, `String` | `String` | `s[0]*31^(n-1) + …` over UTF-16 units |
/// | `i8`, `i16`, `i32` | `Byte`, `Short`, `Integer` | the value |
/// | `i64` | `Long` | `(int)(v ^ (v >>> 32))` |
/// | `u16`, `char` | `Character` | the UTF-16 unit / code point value |
/// | `bool` | `Boolean` | 1231 / 1237 |
///
/// Unsigned integers other than `u16` have no Java counterpart and deliberately have no
/// implementation; convert to the Java type the other producers use.
///
/// ```
/// use rocketmq_rs_client::producer::selector::JavaHashCode;
/// assert_eq!("TagA".java_hash_code(), 2598919);
/// assert_eq!((-1i64).java_hash_code(), 0);
/// assert_eq!(true.java_hash_code(), 1231);
/// ```
pub trait JavaHashCode {
    /// The value Java's `hashCode()` returns for the corresponding boxed Java value.
    fn java_hash_code(&self) -> i32;
}

impl JavaHashCode for str {
    fn java_hash_code(&self) -> i32 {
        crate::util::java_string_hash(self)
    }
}

impl JavaHashCode for String {
    fn java_hash_code(&self) -> i32 {
        crate::util::java_string_hash(self)
    }
}

impl JavaHashCode for i8 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for i16 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for i32 {
    fn java_hash_code(&self) -> i32 {
        *self
    }
}

impl JavaHashCode for i64 {
    fn java_hash_code(&self) -> i32 {
        let v = *self as u64;
        (v ^ (v >> 32)) as i32
    }
}

impl JavaHashCode for u16 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for char {
    /// A BMP `char` hashes like Java's `Character`; a supplementary one (which Java cannot
    /// hold in a `char`) hashes to its code point.
    fn java_hash_code(&self) -> i32 {
        *self as i32
    }
}

impl JavaHashCode for bool {
    fn java_hash_code(&self) -> i32 {
        if *self {
            1231
        } else {
            1237
        }
    }
}

impl<T: JavaHashCode + ?Sized> JavaHashCode for &T {
    fn java_hash_code(&self) -> i32 {
        (**self).java_hash_code()
    }
}

/// `|hashCode(arg) % n|` (Java `SelectMessageQueueByHash`), with Java's `hashCode` from
/// [`JavaHashCode`].
///
/// ```
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use rocketmq_rs_client::producer::selector::{QueueSelector, SelectByHash};
///
/// let queues: Vec<_> = (0..4).map(|i| MessageQueue::new("T", "b", i)).collect();
/// // "TBW102".hashCode() = -1826525782; -1826525782 % 4 = -2 → queue 2.
/// assert_eq!(SelectByHash.select(&queues, "TBW102"), Some(2));
/// assert_eq!(SelectByHash.select(&queues, &7i32), Some(3));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SelectByHash;

impl SelectByHash {
    /// The queue index for a Java hash code among `n` queues, or `None` if `n == 0`.
    pub fn index_for_hash(hash: i32, n: usize) -> Option<usize> {
        if n == 0 {
            return None;
        }
        // Java computes `int % int`; a queue count beyond i32::MAX cannot come from a route.
        let n = i64::try_from(n).ok()?;
        Some((i64::from(hash) % n).unsigned_abs() as usize)
    }
}

impl<A: JavaHashCode + ?Sized> QueueSelector<A> for SelectByHash {
    fn select(&self, queues: &[MessageQueue], arg: &A) -> Option<usize> {
        Self::index_for_hash(arg.java_hash_code(), queues.len())
    }
}

/// Each call takes the next queue, ignoring the argument. Not an ordering selector: useful to
/// spread explicitly-targeted sends.
///
/// ```
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use rocketmq_rs_client::producer::selector::{QueueSelector, SelectByRoundRobin};
///
/// let queues: Vec<_> = (0..3).map(|i| MessageQueue::new("T", "b", i)).collect();
/// let rr = SelectByRoundRobin::new();
/// let picks: Vec<_> = (0..4).map(|_| rr.select(&queues, &()).unwrap()).collect();
/// assert_eq!(picks, [0, 1, 2, 0]);
/// ```
#[derive(Debug, Default)]
pub struct SelectByRoundRobin {
    next: AtomicUsize,
}

impl SelectByRoundRobin {
    /// A round-robin selector starting at the first queue.
    pub fn new() -> Self {
        SelectByRoundRobin::default()
    }
}

impl<A: ?Sized> QueueSelector<A> for SelectByRoundRobin {
    fn select(&self, queues: &[MessageQueue], _arg: &A) -> Option<usize> {
        if queues.is_empty() {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % queues.len())
    }
}

/// A uniformly random queue, ignoring the argument (Java `SelectMessageQueueByRandom`).
///
/// ```
/// use rocketmq_rs_client::message_queue::MessageQueue;
/// use rocketmq_rs_client::producer::selector::{QueueSelector, SelectByRandom};
///
/// let queues: Vec<_> = (0..3).map(|i| MessageQueue::new("T", "b", i)).collect();
/// assert!(SelectByRandom.select(&queues, &()).unwrap() < 3);
/// assert_eq!(SelectByRandom.select(&[], &()), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SelectByRandom;

impl<A: ?Sized> QueueSelector<A> for SelectByRandom {
    fn select(&self, queues: &[MessageQueue], _arg: &A) -> Option<usize> {
        if queues.is_empty() {
            return None;
        }
        Some(fastrand::usize(..queues.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    #[test]
    fn hash_selection_matches_java() {
        // Expected values computed by hand with Java semantics: abs(hashCode % n).
        let q = queues(8);
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("a", 1),      // 97 % 8
            ("*", 2),      // 42 % 8
            ("TagA", 7),   // 2598919 % 8
            ("TagB", 0),   // 2598920 % 8
            ("TBW102", 6), // -1826525782 % 8 = -6 in Java
        ];
        for (k, want) in cases {
            assert_eq!(SelectByHash.select(&q, *k), Some(*want), "{k}");
        }
        assert_eq!(SelectByHash.select(&q, &i32::MIN), Some(0));
        assert_eq!(SelectByHash.select(&queues(3), &i32::MIN), Some(2)); // -2147483648 % 3 = -2
        assert_eq!(SelectByHash.select(&queues(3), &-7i32), Some(1));
        // Long.hashCode(1L << 32) = 1.
        assert_eq!(SelectByHash.select(&q, &(1i64 << 32)), Some(1));
        assert_eq!(SelectByHash.select(&q, &String::from("TagA")), Some(7));
        assert_eq!(SelectByHash.select(&[], "x"), None);
    }

    #[test]
    fn round_robin_and_random_stay_in_range() {
        let q = queues(5);
        let rr = SelectByRoundRobin::new();
        let mut seen = [0usize; 5];
        for _ in 0..50 {
            seen[rr.select(&q, "ignored").unwrap()] += 1;
        }
        assert_eq!(seen, [10; 5]);
        for _ in 0..100 {
            assert!(SelectByRandom.select(&q, &1i32).unwrap() < 5);
        }
        assert_eq!(
            <SelectByRoundRobin as QueueSelector<()>>::select(&rr, &[], &()),
            None
        );
    }

    #[test]
    fn closure_and_dyn_use() {
        let sel: Box<dyn QueueSelector<str>> =
            Box::new(|qs: &[MessageQueue], key: &str| Some(key.len() % qs.len()));
        assert_eq!(sel.select(&queues(4), "hello"), Some(1));
        let dyn_hash: &dyn QueueSelector<str> = &SelectByHash;
        assert_eq!(dyn_hash.select(&queues(8), "a"), Some(1));
    }
}
