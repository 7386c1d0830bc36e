//! Message identifiers (docs/protocol/message.md §6): the broker-derived offset msgId and the
//! client-generated `UNIQ_KEY`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{RemotingError, Result};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const DAY_MS: i64 = 86_400_000;

/// Both hex digits of every byte value: one table load per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX_UPPER[i >> 4], HEX_UPPER[i & 0xF]];
        i += 1;
    }
    t
};

/// Appends `bytes` as uppercase hex. The digits are built in a stack buffer, a byte's two
/// digits with one table load, and appended in one `push_str`: per-`char` pushes cost a
/// capacity check and UTF-8 encoding each, which showed up in the broker's per-message profile
/// (every send formats an offset msgId), and the nibble-by-nibble loop in the push consumer's
/// (every pulled message gets one).
fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [[0u8; 2]; 32];
    for chunk in bytes.chunks(buf.len()) {
        for (o, &b) in buf.iter_mut().zip(chunk) {
            *o = HEX_PAIRS[usize::from(b)];
        }
        // Only ASCII hex digits were written, so this never takes the empty fallback.
        out.push_str(std::str::from_utf8(buf[..chunk.len()].as_flattened()).unwrap_or_default());
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into `out`, which must be exactly half as long as `s`.
fn decode_hex_into(s: &str, out: &mut [u8]) -> Option<()> {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(())
}

fn ip_octets(ip: IpAddr) -> ([u8; 16], usize) {
    let mut buf = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            (buf, 4)
        }
        IpAddr::V6(v6) => {
            buf.copy_from_slice(&v6.octets());
            (buf, 16)
        }
    }
}

/// The offset msgId of a stored message: uppercase hex of the store host's address bytes, its
/// port as i32 and the commit-log offset as i64 — 32 characters for IPv4, 56 for IPv6.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::offset_msg_id;
/// let id = offset_msg_id("192.168.1.20:10911".parse().unwrap(), 0x2A3F);
/// assert_eq!(id, "C0A8011400002A9F0000000000002A3F");
/// ```
pub fn offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let (ip, n) = ip_octets(store_host.ip());
    // Address, port and offset in one buffer: a single hex pass and a single append.
    let mut raw = [0u8; 28];
    raw[..n].copy_from_slice(&ip[..n]);
    raw[n..n + 4].copy_from_slice(&i32::from(store_host.port()).to_be_bytes());
    raw[n + 4..n + 12].copy_from_slice(&commit_log_offset.to_be_bytes());
    let mut s = String::with_capacity((n + 12) * 2);
    push_hex(&mut s, &raw[..n + 12]);
    s
}

/// Parses an offset msgId back into the store host (where VIEW_MESSAGE_BY_ID goes) and the
/// commit-log offset. 32 hex characters mean IPv4, 56 mean IPv6; either case is accepted.
///
/// Errors: [`RemotingError::Decode`] for another length, a non-hex character, or a port outside
/// 0..=65535.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::parse_offset_msg_id;
/// let (host, off) = parse_offset_msg_id("C0A8011400002A9F0000000000001000").unwrap();
/// assert_eq!(host, "192.168.1.20:10911".parse().unwrap());
/// assert_eq!(off, 0x1000);
/// assert!(parse_offset_msg_id("C0A8").is_err());
/// ```
pub fn parse_offset_msg_id(id: &str) -> Result<(SocketAddr, i64)> {
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        n => {
            return Err(RemotingError::decode(format!(
                "offset msgId must have 32 or 56 hex characters, not {n}"
            )))
        }
    };
    let mut raw = [0u8; 28];
    let raw = &mut raw[..ip_len + 12];
    decode_hex_into(id, raw)
        .ok_or_else(|| RemotingError::decode(format!("offset msgId {id:?} is not hex")))?;
    let ip = ip_from_bytes(&raw[..ip_len]);
    let port = i32::from_be_bytes(raw[ip_len..ip_len + 4].try_into().unwrap_or_default());
    let port = u16::try_from(port)
        .map_err(|_| RemotingError::decode(format!("offset msgId {id:?} has port {port}")))?;
    let offset = i64::from_be_bytes(raw[ip_len + 4..].try_into().unwrap_or_default());
    Ok((SocketAddr::new(ip, port), offset))
}

/// `bytes` is 4 or 16 long (callers guarantee it).
fn ip_from_bytes(bytes: &[u8]) -> IpAddr {
    if let Ok(b4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(b4))
    } else {
        let mut b16 = [0u8; 16];
        b16.copy_from_slice(&bytes[..16]);
        IpAddr::V6(Ipv6Addr::from(b16))
    }
}

/// Generates `UNIQ_KEY` client message ids in the layout of Java's `MessageClientIDSetter`:
/// client IP (4 or 16 bytes), process id (2 bytes), a per-generator 4-byte component (where Java
/// puts its class-loader hash code), milliseconds since the start of the current month (4 bytes)
/// and a wrapping 16-bit counter, as uppercase hex (32 characters for IPv4, 56 for IPv6).
///
/// Differences from Java that readers cannot observe in practice: the month starts at 00:00 UTC
/// (Java uses the local time zone; the field only serves as an approximate time hint), and the
/// 4-byte component is a per-process random value plus a per-generator sequence number, so two
/// generators in one process never share a prefix.
///
/// `next_id` is lock-free: one atomic increment and one atomic load per id.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{parse_uniq_id_ip, UniqIdGenerator};
/// let gen = UniqIdGenerator::new("10.0.0.7".parse().unwrap());
/// let a = gen.next_id();
/// let b = gen.next_id();
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, b);
/// assert!(a.starts_with("0A000007"));
/// assert_eq!(parse_uniq_id_ip(&a).unwrap(), "10.0.0.7".parse::<std::net::IpAddr>().unwrap());
/// ```
#[derive(Debug)]
pub struct UniqIdGenerator {
    prefix: String,
    month_start: AtomicI64,
    next_month_start: AtomicI64,
    counter: AtomicU32,
}

impl UniqIdGenerator {
    /// A generator for a client whose address is `ip` (what Java takes from `UtilAll.getIP`).
    pub fn new(ip: IpAddr) -> Self {
        static SALT: OnceLock<u32> = OnceLock::new();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let salt = *SALT.get_or_init(|| fastrand::u32(..));
        let component = salt.wrapping_add(SEQ.fetch_add(1, Ordering::Relaxed));
        Self::with_components(ip, std::process::id() as u16, component as i32)
    }

    /// A generator with an explicit process id and 4-byte component (deterministic ids for
    /// tests; otherwise use [`UniqIdGenerator::new`]).
    pub fn with_components(ip: IpAddr, pid: u16, component: i32) -> Self {
        let (ip, n) = ip_octets(ip);
        let mut prefix = String::with_capacity((n + 12) * 2);
        push_hex(&mut prefix, &ip[..n]);
        push_hex(&mut prefix, &pid.to_be_bytes());
        push_hex(&mut prefix, &component.to_be_bytes());
        let (start, next) = month_bounds(crate::util::now_ms());
        UniqIdGenerator {
            prefix,
            month_start: AtomicI64::new(start),
            next_month_start: AtomicI64::new(next),
            counter: AtomicU32::new(0),
        }
    }

    /// The fixed part of every id (IP, pid, component) in hex.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A new id.
    pub fn next_id(&self) -> String {
        self.id_at(crate::util::now_ms())
    }

    fn id_at(&self, now: i64) -> String {
        if now >= self.next_month_start.load(Ordering::Relaxed) {
            // Racing threads compute the same bounds; a reader that sees the old start for one
            // id just gets a larger time field, which is still unique (Java has the same race).
            let (start, next) = month_bounds(now);
            self.month_start.store(start, Ordering::Relaxed);
            self.next_month_start.store(next, Ordering::Relaxed);
        }
        let mut diff = (now - self.month_start.load(Ordering::Relaxed)) as i32;
        if diff < 0 && diff > -1_000_000 {
            // A clock stepped back a little (NTP) just after the month rolled over.
            diff = 0;
        }
        let seq = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        let mut raw = [0u8; 6];
        raw[..4].copy_from_slice(&diff.to_be_bytes());
        raw[4..].copy_from_slice(&seq.to_be_bytes());
        push_hex(&mut id, &raw);
        id
    }
}

fn uniq_id_bytes(id: &str) -> Result<([u8; 28], usize)> {
    let n = match id.len() {
        32 => 16,
        56 => 28,
        len => {
            return Err(RemotingError::decode(format!(
                "UNIQ_KEY must have 32 or 56 hex characters, not {len}"
            )))
        }
    };
    let mut raw = [0u8; 28];
    decode_hex_into(id, &mut raw[..n])
        .ok_or_else(|| RemotingError::decode(format!("UNIQ_KEY {id:?} is not hex")))?;
    Ok((raw, n))
}

/// The client IP inside a Java-layout `UNIQ_KEY` (Java `MessageClientIDSetter.getIPFromID`).
///
/// Errors: [`RemotingError::Decode`] unless `id` is 32 or 56 hex characters.
pub fn parse_uniq_id_ip(id: &str) -> Result<IpAddr> {
    let (raw, n) = uniq_id_bytes(id)?;
    Ok(ip_from_bytes(&raw[..n - 12]))
}

/// The approximate creation time of a Java-layout `UNIQ_KEY` (Java
/// `MessageClientIDSetter.getNearlyTimeFromID`): the time field is read as milliseconds since the
/// start of the current month, or of the previous month if that would lie in the future. Months
/// are taken in UTC, so ids from Java clients in other time zones are off by their UTC offset.
///
/// Errors: [`RemotingError::Decode`] unless `id` is 32 or 56 hex characters.
pub fn parse_uniq_id_time(id: &str) -> Result<SystemTime> {
    let ms = uniq_id_time_at(id, crate::util::now_ms())?;
    Ok(if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    })
}

fn uniq_id_time_at(id: &str, now: i64) -> Result<i64> {
    let (raw, n) = uniq_id_bytes(id)?;
    let at = n - 6;
    // Java zero-extends the field into a long.
    let span = i64::from(u32::from_be_bytes([
        raw[at],
        raw[at + 1],
        raw[at + 2],
        raw[at + 3],
    ]));
    let (mut start, _) = month_bounds(now);
    if start + span >= now {
        start = month_bounds(start - 1).0;
    }
    Ok(start + span)
}

/// Start of the UTC month containing `ms` and start of the next month, in epoch milliseconds.
fn month_bounds(ms: i64) -> (i64, i64) {
    let days = ms.div_euclid(DAY_MS);
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (
        days_from_civil(y, m, 1) * DAY_MS,
        days_from_civil(ny, nm, 1) * DAY_MS,
    )
}

// Proleptic Gregorian calendar conversions (H. Hinnant's algorithms), valid far beyond any clock.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_format_for_every_byte_and_length() {
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in [0, 1, 2, 16, 31, 32, 33, 64, 100, bytes.len()] {
            let mut out = String::from("x");
            push_hex(&mut out, &bytes[..len]);
            let expected: String = bytes[..len].iter().map(|b| format!("{b:02X}")).collect();
            assert_eq!(out, format!("x{expected}"), "{len} bytes");
        }
        let id = offset_msg_id("[2001:db8::1]:10911".parse().unwrap(), -1);
        assert_eq!(
            id,
            "20010DB800000000000000000000000100002A9FFFFFFFFFFFFFFFFF"
        );
        assert_eq!(
            parse_offset_msg_id(&id).unwrap(),
            ("[2001:db8::1]:10911".parse().unwrap(), -1)
        );
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-1_000_000, -1, 0, 1, 10_957, 19_873, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2024-05-29T16:26:40Z.
        assert_eq!(civil_from_days(1_717_000_000_000 / DAY_MS), (2024, 5, 29));
    }

    #[test]
    fn month_bounds_utc() {
        // 2024-05-29T16:26:40Z → [2024-05-01, 2024-06-01).
        assert_eq!(
            month_bounds(1_717_000_000_000),
            (1_714_521_600_000, 1_717_200_000_000)
        );
        // December rolls into the next year; an exact month start is its own month.
        let (s, n) = month_bounds(1_703_980_800_000); // 2023-12-31T00:00Z
        assert_eq!((s, n), (1_701_388_800_000, 1_704_067_200_000));
        assert_eq!(month_bounds(n).0, n);
    }

    #[test]
    fn deterministic_layout_and_time() {
        let gen = UniqIdGenerator::with_components(
            "192.168.1.10".parse().unwrap(),
            0x7A69,
            0x18B4_AAC2u32 as i32,
        );
        let now = 1_717_000_000_000;
        let (start, next) = month_bounds(now);
        gen.month_start.store(start, Ordering::Relaxed);
        gen.next_month_start.store(next, Ordering::Relaxed);
        let id = gen.id_at(now);
        let expected_diff = now - 1_714_521_600_000;
        assert_eq!(
            id,
            format!("C0A8010A7A6918B4AAC2{:08X}0000", expected_diff as u32)
        );
        assert!(gen.id_at(now).ends_with("0001"));
        assert_eq!(uniq_id_time_at(&id, now + 5).unwrap(), now);
        // Read a month later, the field still lands in the month it was written in.
        assert_eq!(uniq_id_time_at(&id, 1_717_200_000_000 + 1).unwrap(), now);
    }

    #[test]
    fn counter_wraps_at_16_bits() {
        let gen = UniqIdGenerator::with_components("::1".parse().unwrap(), 1, 2);
        gen.counter.store(0xFFFF, Ordering::Relaxed);
        assert!(gen.id_at(0).ends_with("FFFF"));
        let id = gen.id_at(0);
        assert!(id.ends_with("0000"));
        assert_eq!(id.len(), 56);
    }

    #[test]
    fn month_rollover_resets_time_field() {
        let gen = UniqIdGenerator::with_components("1.2.3.4".parse().unwrap(), 1, 2);
        gen.month_start.store(0, Ordering::Relaxed);
        gen.next_month_start.store(10, Ordering::Relaxed);
        let id = gen.id_at(1_717_200_000_000 + 7); // 2024-06-01T00:00:00.007Z
        assert_eq!(&id[20..28], "00000007");
    }

    #[test]
    fn generators_in_one_process_differ() {
        let a = UniqIdGenerator::new("1.2.3.4".parse().unwrap());
        let b = UniqIdGenerator::new("1.2.3.4".parse().unwrap());
        assert_ne!(a.prefix(), b.prefix());
    }
}
