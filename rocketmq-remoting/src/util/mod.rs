//! Small rules every crate of the workspace shares: Java-compatible string hashing and
//! ordering, wall-clock milliseconds, and locks that survive a panicking holder.

pub mod hash;
pub mod stats;
pub mod sync;

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

pub use sync::{CondvarExt, MutexExt, RwLockExt};

/// Milliseconds since the Unix epoch by the wall clock (Java `System.currentTimeMillis()`),
/// the unit of every timestamp on the wire (born/store timestamps, heartbeats, offsets'
/// update times). A clock set before 1970 reads negative, as Java's does.
///
/// This is wall time for timestamps other processes read; to measure intervals use the
/// runtime's monotonic clock ([`Runtime::now`](crate::rt::Runtime::now)).
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, with
/// wrapping 32-bit arithmetic.
///
/// ```
/// use rocketmq_rs_remoting::util::java_string_hash;
///
/// assert_eq!(java_string_hash(""), 0);
/// assert_eq!(java_string_hash("TagA"), 2598919);
/// assert_eq!(java_string_hash("TBW102"), -1826525782);
/// ```
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Compares two strings the way Java's `String.compareTo` does: lexicographically by UTF-16
/// code unit.
///
/// This differs from Rust's `str` order (UTF-8 bytes, i.e. code points) only when one string
/// has a supplementary character (U+10000 and above) where the other has a character in
/// U+E000..=U+FFFF. RocketMQ sorts client ids and queues with Java's order before allocating
/// queues, so every member of a group must use the same order to agree on the allocation.
///
/// ```
/// use rocketmq_rs_remoting::util::java_string_cmp;
/// use std::cmp::Ordering;
///
/// assert_eq!(java_string_cmp("10.0.0.1@1", "10.0.0.2@1"), Ordering::Less);
/// // U+FFFD is one UTF-16 unit 0xFFFD; U+1F600 starts with the surrogate 0xD83D.
/// assert_eq!(java_string_cmp("\u{FFFD}", "\u{1F600}"), Ordering::Greater);
/// ```
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        // For ASCII, UTF-16 order is byte order; skip the re-encoding.
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}
