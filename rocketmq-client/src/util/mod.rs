//! Small helpers shared by producers and consumers: client identity, namespaces and
//! Java-compatible string ordering and hashing.

pub mod client_id;
pub mod namespace;
pub mod service_state;

pub use client_id::{client_id, local_ip, unique_instance_name, DEFAULT_INSTANCE_NAME};
pub use namespace::{dlq_topic, retry_topic, unwrap, wrap};
pub use service_state::ServiceState;

/// Java `String.compareTo` and `String.hashCode`, shared with the broker and the wire bodies.
pub use rocketmq_rs_remoting::util::{java_string_cmp, java_string_hash};

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

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
