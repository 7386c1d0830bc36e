//! Small helpers shared by producers and consumers: client identity, namespaces and
//! Java-compatible string ordering and hashing.

pub mod client_id;
pub mod namespace;

use std::cmp::Ordering;

pub use client_id::{client_id, local_ip, unique_instance_name, DEFAULT_INSTANCE_NAME};
pub use namespace::{dlq_topic, retry_topic, unwrap, wrap};

/// Compares two strings the way Java's `String.compareTo` does: lexicographically by UTF-16
/// code unit.
///
/// This differs from Rust's `str` order (UTF-8 bytes, i.e. code points) only when one string
/// has a supplementary character (U+10000 and above) where the other has a character in
/// U+E000..=U+FFFF. RocketMQ sorts client ids and queues with Java's order before allocating
/// queues, so every member of a group must use the same order to agree on the allocation.
///
/// ```
/// use rocketmq_client::util::java_string_cmp;
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

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, with
/// wrapping 32-bit arithmetic.
///
/// ```
/// use rocketmq_client::util::java_string_hash;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_protocol_appendix() {
        for (s, h) in [
            ("", 0),
            ("*", 42),
            ("a", 97),
            ("TagA", 2598919),
            ("TagB", 2598920),
            ("TBW102", -1826525782),
        ] {
            assert_eq!(java_string_hash(s), h, "{s}");
        }
        // "é" is one UTF-16 unit (0xE9); "😀" is two (0xD83D 0xDE00): 0xD83D*31 + 0xDE00.
        assert_eq!(java_string_hash("é"), 0xE9);
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn java_cmp_uses_utf16_order() {
        assert_eq!(java_string_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_string_cmp("ab", "a"), Ordering::Greater);
        assert_eq!(java_string_cmp("", ""), Ordering::Equal);
        // Rust's byte order would say the opposite here.
        assert_eq!("\u{FFFD}".cmp("\u{1F600}"), Ordering::Less);
        assert_eq!(java_string_cmp("\u{FFFD}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(java_string_cmp("é", "e"), Ordering::Greater);
    }
}
