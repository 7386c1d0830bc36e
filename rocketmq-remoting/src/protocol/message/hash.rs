//! Checksums and hash codes the broker stores alongside messages.

/// The body CRC of a stored record as the broker writes it: CRC-32 (IEEE) of the body bytes as
/// stored (compressed if compressed), with the top bit cleared (Java `UtilAll.crc32`).
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::body_crc;
/// assert_eq!(body_crc(b"Hello"), 0x77D1_8982);
/// ```
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

/// The tag hash code the broker stores in the consume queue (`tagsCode`): Java
/// `String.hashCode()` over the UTF-16 code units of `tag`, sign-extended to i64.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::tag_hash_code;
/// assert_eq!(tag_hash_code("TagA"), 2598919);
/// assert_eq!(tag_hash_code("TBW102"), -1826525782);
/// assert_eq!(tag_hash_code(""), 0);
/// ```
pub fn tag_hash_code(tag: &str) -> i64 {
    crate::util::java_string_hash(tag) as i64
}
