//! Zero-copy inspection of stored message records (docs/protocol/message.md §3).
//!
//! The store parses records itself (rather than fully decoding them) because recovery,
//! dispatch and replication only need a handful of fields and must validate untrusted bytes
//! without allocating.

/// Magic code of a v1 record (one-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of a v2 record (two-byte topic length).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of the filler that pads the end of a commit-log segment.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Smallest possible record: v1, IPv4 hosts, empty body/topic/properties.
pub const MIN_RECORD_SIZE: usize = 91;
/// A segment must keep room for a blank filler header (size + magic) after the last record.
pub const END_FILE_MIN_BLANK: usize = 8;

const SYS_FLAG_BORN_V6: i32 = 0x10;
const SYS_FLAG_STORE_V6: i32 = 0x20;
/// Transaction type bits of `sysFlag`.
pub(crate) const TX_MASK: i32 = 0x0C;
/// Transaction type bits of a half (prepared) message.
pub const TX_PREPARED: i32 = 0x04;
/// Transaction type bits of a rolled-back message.
pub const TX_ROLLBACK: i32 = 0x0C;

/// Fields of one record the store needs, borrowed from the record bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    pub total_size: i32,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub store_timestamp: i64,
    pub topic: &'a str,
    pub properties: &'a [u8],
    /// Where `topic` starts in the record.
    pub topic_at: usize,
    /// Where `properties` start in the record.
    pub properties_at: usize,
}

impl<'a> RecordView<'a> {
    /// Value of property `key`, if present and UTF-8.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        property(self.properties, key)
    }

    /// Whether the record gets a consume-queue entry (Java skips prepared and rolled-back
    /// transaction records).
    pub fn is_dispatched_to_queue(&self) -> bool {
        !matches!(self.sys_flag & TX_MASK, TX_PREPARED | TX_ROLLBACK)
    }
}

/// What sits at a position of the commit log.
#[derive(Debug)]
pub(crate) enum Slot<'a> {
    /// A complete, valid record.
    Record(RecordView<'a>),
    /// End-of-segment filler of the given size.
    Blank(usize),
    /// Zeros: nothing was ever written here.
    Empty,
    /// The bytes do not form a valid record (torn write or garbage).
    Invalid(&'static str),
    /// The buffer ends before the record does; read more and retry.
    NeedMore(usize),
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The record's body CRC as its i32 field holds it.
pub(crate) fn body_crc(body: &[u8]) -> i32 {
    rocketmq_rs_remoting::protocol::message::body_crc(body) as i32
}

/// Inspects the bytes at the start of `buf`. `remaining_in_segment` bounds the record size
/// (a record never spans segments); `max_size` is the largest accepted record.
pub(crate) fn inspect(
    buf: &[u8],
    remaining_in_segment: usize,
    max_size: usize,
    verify_crc: bool,
) -> Slot<'_> {
    if buf.len() < 8 {
        return if remaining_in_segment < 8 || buf.len() >= remaining_in_segment {
            // A tail shorter than a blank header cannot hold anything.
            if buf.iter().all(|b| *b == 0) {
                Slot::Empty
            } else {
                Slot::Invalid("short garbage at segment end")
            }
        } else {
            Slot::NeedMore(8)
        };
    }
    let total = be_i32(buf, 0);
    let magic = be_i32(buf, 4);
    if total == 0 && magic == 0 {
        return Slot::Empty;
    }
    if magic == BLANK_MAGIC {
        return if total > 0 && total as usize == remaining_in_segment {
            Slot::Blank(total as usize)
        } else {
            Slot::Invalid("blank filler does not end the segment")
        };
    }
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Slot::Invalid("bad magic code");
    }
    if total < MIN_RECORD_SIZE as i32
        || total as usize > max_size
        || total as usize + END_FILE_MIN_BLANK > remaining_in_segment
    {
        return Slot::Invalid("record size out of bounds");
    }
    let total_u = total as usize;
    if buf.len() < total_u {
        return Slot::NeedMore(total_u);
    }
    match parse_fields(&buf[..total_u], magic, verify_crc) {
        Ok(v) => Slot::Record(v),
        Err(e) => Slot::Invalid(e),
    }
}

/// Parses a record of exactly `rec.len()` bytes whose size and magic were checked.
fn parse_fields(rec: &[u8], magic: i32, verify_crc: bool) -> Result<RecordView<'_>, &'static str> {
    let n = rec.len();
    let sys_flag = be_i32(rec, 36);
    let born_len = if sys_flag & SYS_FLAG_BORN_V6 != 0 {
        20
    } else {
        8
    };
    let store_len = if sys_flag & SYS_FLAG_STORE_V6 != 0 {
        20
    } else {
        8
    };
    let store_ts_at = 48 + born_len;
    let body_len_at = store_ts_at + 8 + store_len + 4 + 8;
    if body_len_at + 4 > n {
        return Err("record header truncated");
    }
    let body_len = be_i32(rec, body_len_at);
    if body_len < 0 || body_len as usize > n {
        return Err("bad body length");
    }
    let body_at = body_len_at + 4;
    let mut p = body_at + body_len as usize;
    let (topic_len, tl_size) = if magic == MAGIC_V2 {
        if p + 2 > n {
            return Err("record truncated at topic length");
        }
        (i16::from_be_bytes([rec[p], rec[p + 1]]) as i32, 2)
    } else {
        if p + 1 > n {
            return Err("record truncated at topic length");
        }
        (rec[p] as i8 as i32, 1)
    };
    if topic_len < 0 {
        return Err("negative topic length");
    }
    p += tl_size;
    let topic_end = p + topic_len as usize;
    if topic_end + 2 > n {
        return Err("record truncated in topic");
    }
    let topic = std::str::from_utf8(&rec[p..topic_end]).map_err(|_| "topic not UTF-8")?;
    let props_len = i16::from_be_bytes([rec[topic_end], rec[topic_end + 1]]);
    if props_len < 0 {
        return Err("negative properties length");
    }
    let props_at = topic_end + 2;
    if props_at + props_len as usize != n {
        return Err("record size does not match its fields");
    }
    if verify_crc && body_crc(&rec[body_at..body_at + body_len as usize]) != be_i32(rec, 8) {
        return Err("body CRC mismatch");
    }
    Ok(RecordView {
        total_size: n as i32,
        queue_id: be_i32(rec, 12),
        queue_offset: be_i64(rec, 20),
        physical_offset: be_i64(rec, 28),
        sys_flag,
        store_timestamp: be_i64(rec, store_ts_at),
        topic,
        properties: &rec[props_at..],
        topic_at: p,
        properties_at: props_at,
    })
}

/// Byte position of `storeTimestamp` inside a record with the given sysFlag.
pub(crate) fn store_timestamp_pos(sys_flag: i32) -> usize {
    48 + if sys_flag & SYS_FLAG_BORN_V6 != 0 {
        20
    } else {
        8
    }
}

/// Position of `physicalOffset` inside a record.
pub(crate) const PHYSICAL_OFFSET_POS: usize = 28;

/// Position of the first `needle` in `hay`, eight bytes a step: the property strings the send
/// and dispatch paths scan are tens to hundreds of bytes, and a byte loop costs several
/// instructions a byte.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ pattern;
        // A zero byte of `x` is a match. The lowest flagged byte is always a real one (a
        // false flag can only follow a real zero byte), and little-endian puts it first.
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    // The tail as one more word, padded with bytes that cannot match.
    let rest = chunks.remainder();
    let mut w = [!needle; 8];
    for (o, b) in w.iter_mut().zip(rest) {
        *o = *b;
    }
    let x = u64::from_le_bytes(w) ^ pattern;
    let zero = x.wrapping_sub(LO) & !x & HI;
    (zero != 0).then(|| at + (zero.trailing_zeros() / 8) as usize)
}

/// The `name 0x01 value` pairs of a properties string, in order (empty pieces included, as
/// `split(0x02)` yields them).
fn pairs(props: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(props);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_byte(r, 2) {
            Some(end) => {
                rest = Some(&r[end + 1..]);
                Some(&r[..end])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Looks up `key` in a properties string (`k\x01v\x02k\x01v\x02...`, docs/protocol/message.md §1).
pub(crate) fn property<'a>(props: &'a [u8], key: &str) -> Option<&'a str> {
    let key = key.as_bytes();
    pairs(props).find_map(|pair| {
        // `name 0x01` as a prefix: no separator search in the other pairs.
        if pair.len() > key.len() && pair[key.len()] == 1 && pair.starts_with(key) {
            std::str::from_utf8(&pair[key.len() + 1..]).ok()
        } else {
            None
        }
    })
}

/// The properties dispatch reads, found in one pass over a record's properties (first
/// occurrence of each name wins, as in [`property`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HotProps<'a> {
    pub tags: Option<&'a str>,
    pub keys: Option<&'a str>,
    pub uniq_key: Option<&'a str>,
    pub delay: Option<&'a str>,
}

impl<'a> HotProps<'a> {
    /// Scans `props` once.
    pub fn scan(props: &'a [u8]) -> HotProps<'a> {
        let mut h = HotProps::default();
        for pair in pairs(props) {
            // Compare whole `name\x01` prefixes: no scan for the separator of other pairs.
            let (slot, at) = if pair.starts_with(b"TAGS\x01") {
                (&mut h.tags, 5)
            } else if pair.starts_with(b"KEYS\x01") {
                (&mut h.keys, 5)
            } else if pair.starts_with(b"UNIQ_KEY\x01") {
                (&mut h.uniq_key, 9)
            } else if pair.starts_with(b"DELAY\x01") {
                (&mut h.delay, 6)
            } else {
                continue;
            };
            if slot.is_none() {
                // Non-UTF-8 values are skipped, so a later valid duplicate may still win
                // (same as `property`, which looks for the first UTF-8 match).
                *slot = std::str::from_utf8(&pair[at..]).ok();
            }
        }
        h
    }
}

pub use rocketmq_rs_remoting::protocol::message::tag_hash_code;

/// The 8-byte blank filler header for `len` bytes of segment tail.
pub(crate) fn blank_header(len: usize) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&(len as i32).to_be_bytes());
    h[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_hashes_match_java() {
        assert_eq!(tag_hash_code("TagA"), 2598919);
        assert_eq!(tag_hash_code("*"), 42);
        assert_eq!(tag_hash_code(""), 0);
        assert_eq!(tag_hash_code("TBW102"), -1826525782);
    }

    #[test]
    fn property_lookup() {
        let p = b"KEYS\x01a b\x02TAGS\x01T\x02";
        assert_eq!(property(p, "KEYS"), Some("a b"));
        assert_eq!(property(p, "TAGS"), Some("T"));
        assert_eq!(property(p, "UNIQ_KEY"), None);
    }

    #[test]
    fn hot_props_match_property_lookup() {
        let cases: [&[u8]; 7] = [
            b"KEYS\x01a b\x02TAGS\x01T\x02UNIQ_KEY\x01U\x02DELAY\x013\x02",
            b"UNIQ_KEY\x017F0000010001000000000000000A0000\x02WAIT\x01true\x02TAGS\x01x",
            b"TAGS\x02TAGS\x01\x02TAGSX\x01no\x02TAGS\x01yes",
            b"TAGS\x01first\x02TAGS\x01second\x02",
            b"TAGS\x01\xff\x02TAGS\x01ok\x02",
            b"\x01x\x02KEYS\x02=\x01y\x02",
            b"",
        ];
        for p in cases {
            let h = HotProps::scan(p);
            assert_eq!(h.tags, property(p, "TAGS"));
            assert_eq!(h.keys, property(p, "KEYS"));
            assert_eq!(h.uniq_key, property(p, "UNIQ_KEY"));
            assert_eq!(h.delay, property(p, "DELAY"));
        }
    }

    /// `property` as a plain split would answer it.
    fn property_by_split<'a>(props: &'a [u8], key: &str) -> Option<&'a str> {
        props.split(|b| *b == 2).find_map(|pair| {
            let sep = pair.iter().position(|b| *b == 1)?;
            (&pair[..sep] == key.as_bytes())
                .then(|| std::str::from_utf8(&pair[sep + 1..]).ok())
                .flatten()
        })
    }

    #[test]
    fn property_matches_a_plain_split() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet: [&[u8]; 7] = [b"\x01", b"\x02", b"TAGS", b"T", b"v", b"\xff", b"WAIT"];
        for _ in 0..20_000 {
            let p: Vec<u8> = (0..rng.usize(0..10))
                .flat_map(|_| alphabet[rng.usize(..alphabet.len())].iter().copied())
                .collect();
            for key in ["TAGS", "T", "WAIT", "KEYS"] {
                assert_eq!(property(&p, key), property_by_split(&p, key), "{p:?} {key}");
            }
            let h = HotProps::scan(&p);
            assert_eq!(h.tags, property_by_split(&p, "TAGS"), "{p:?}");
        }
    }

    #[test]
    fn find_byte_matches_position() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5000 {
            let hay: Vec<u8> = (0..rng.usize(0..40)).map(|_| rng.u8(0..4)).collect();
            for needle in 0..4 {
                assert_eq!(
                    find_byte(&hay, needle),
                    hay.iter().position(|b| *b == needle),
                    "{hay:?} {needle}"
                );
            }
        }
        assert_eq!(find_byte(&[0x82, 0x80, 0x02], 2), Some(2));
        assert_eq!(find_byte(&[0xff; 9], 0xff), Some(0));
    }

    #[test]
    fn pairs_split_like_slice_split() {
        let cases: [&[u8]; 6] = [
            b"",
            b"\x02",
            b"a\x01b\x02",
            b"a\x01b",
            b"\x02\x02x\x02",
            b"0123456789abcdef\x02z",
        ];
        for p in cases {
            let want: Vec<&[u8]> = p.split(|b| *b == 2).collect();
            assert_eq!(pairs(p).collect::<Vec<_>>(), want, "{p:?}");
        }
    }

    #[test]
    fn garbage_is_invalid_not_panic() {
        for len in 0..200 {
            let buf: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = inspect(&buf, 4096, 4096, true);
        }
        assert!(matches!(inspect(&[0u8; 16], 4096, 4096, true), Slot::Empty));
    }
}
